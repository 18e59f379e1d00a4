#!/usr/bin/env python3
# vhdx-mklog.py: write pending entries into the log of a VHDX image, as a
# writer that crashed before emptying its log leaves them, written from
# the VHDX specification alone (not from this project's code), for
# test-vhdx-log.sh.
#
#   vhdx-mklog.py bat IMG
#       print "INDEX FILE-OFFSET" for every BAT entry that is present
#   vhdx-mklog.py log IMG [--expect RAW --apply I,J,...] ENTRY...
#       ENTRY is AT:SEQ:TAIL:OP[,OP...]: an entry at offset AT of the
#       log (it may run past the log's end and wrap to its start), with
#       sequence number SEQ and tail TAIL.  OP is
#         dOFF=B   a data descriptor: the 4 KiB at file offset OFF become
#                  B, but for their first 8 bytes (B^1, kept in the
#                  descriptor's LeadingBytes) and last 4 (B^2, in
#                  TrailingBytes)
#         zOFF=LEN a zero descriptor: LEN bytes at OFF become zeros
#         bIDX=OFF BAT entry IDX becomes FULLY_PRESENT at OFF (a data
#                  descriptor of the BAT's sector)
#       The header then names the entries' LogGuid (written to the
#       other header slot with the next sequence number).  With
#       --expect, the entries numbered I, J, ... (from 0, in argument
#       order) are applied to RAW, the disk's expected contents (payload
#       blocks found through the BAT as the entries change it).
import struct
import sys
import uuid

K4 = 4096
MB = 1 << 20
BAT_GUID = uuid.UUID("2DC27766-F623-4200-9D64-115E9BFD4A08").bytes_le
META_GUID = uuid.UUID("8B7CA206-4790-4B9A-B8FE-575F050F886E").bytes_le
FILE_PARAMS = uuid.UUID("CAA16737-FA36-4D43-B3B6-33F0AA44E76B").bytes_le
LOG_GUID = uuid.UUID("0badcafe-1234-4567-89ab-cdef01234567").bytes_le


def crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


TABLE = crc32c_table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def with_crc(buf, at=4):
    buf[at:at + 4] = b"\0\0\0\0"
    buf[at:at + 4] = struct.pack("<I", crc32c(buf))
    return buf


def read(f, off, n):
    f.seek(off)
    return f.read(n)


def headers(f):
    """The current header: (slot offset, bytes), and the other slot."""
    h = [(off, bytearray(read(f, off, K4))) for off in (64 * 1024, 128 * 1024)]
    valid = [x for x in h if x[1][:4] == b"head" and
             struct.unpack_from("<I", x[1], 4)[0] == crc32c(
                 x[1][:4] + b"\0\0\0\0" + x[1][8:])]
    cur = max(valid, key=lambda x: struct.unpack_from("<Q", x[1], 8)[0])
    other = h[1] if cur is h[0] else h[0]
    return cur, other


def region(f, guid):
    t = read(f, 192 * 1024, 64 * 1024)
    for i in range(struct.unpack_from("<I", t, 8)[0]):
        e = t[16 + 32 * i:48 + 32 * i]
        if e[:16] == guid:
            return struct.unpack_from("<QI", e, 16)
    sys.exit("vhdx-mklog: region not found")


def block_size(f):
    moff, mlen = region(f, META_GUID)
    m = read(f, moff, mlen)
    for i in range(struct.unpack_from("<H", m, 10)[0]):
        e = m[32 + 32 * i:64 + 32 * i]
        if e[:16] == FILE_PARAMS:
            return struct.unpack_from("<I", m, struct.unpack_from("<I", e, 16)[0])[0]
    sys.exit("vhdx-mklog: no file parameters")


def sector_of(b):
    s = bytearray([b]) * K4
    s[0:8] = bytes([b ^ 1]) * 8
    s[4092:4096] = bytes([b ^ 2]) * 4
    return bytes(s)


def parse_entry(arg):
    at, seq, tail, ops = arg.split(":")
    out = []
    for op in ops.split(","):
        key, val = op[1:].split("=")
        out.append((op[0], int(key, 0), int(val, 0)))
    return int(at, 0), int(seq, 0), int(tail, 0), out


def build_entry(seq, tail, ops, bat_sectors, bat_off, flushed, last):
    """The bytes of one entry; BAT_SECTORS holds the BAT's sectors as
    the entries so far made them."""
    descs, datas = [], []
    for kind, a, b in ops:
        if kind == "z":
            descs.append(b"zero" + b"\0" * 4 + struct.pack("<QQQ", b, a, seq))
            continue
        if kind == "d":
            off, sector = a, sector_of(b)
        else:
            off = bat_off + a * 8 // K4 * K4
            s = bytearray(bat_sectors.get(off) or bat_sectors["file"](off))
            struct.pack_into("<Q", s, a * 8 % K4, 6 | b)
            bat_sectors[off] = sector = bytes(s)
        descs.append(b"desc" + sector[4092:4096] + sector[0:8] +
                     struct.pack("<QQ", off, seq))
        datas.append(b"data" + struct.pack("<I", seq >> 32) +
                     sector[8:4092] + struct.pack("<I", seq & 0xFFFFFFFF))
    nhead = (64 + 32 * len(descs) + K4 - 1) // K4
    length = (nhead + len(datas)) * K4
    head = bytearray(nhead * K4)
    head[0:64] = (b"loge" + b"\0" * 4 +
                  struct.pack("<IIQII", length, tail, seq, len(descs), 0) +
                  LOG_GUID + struct.pack("<QQ", flushed, last))
    for i, d in enumerate(descs):
        head[64 + 32 * i:96 + 32 * i] = d
    return with_crc(bytearray(head + b"".join(datas)))


def apply(raw, bs, bat, ops):
    """Apply OPS (file offsets) to RAW (the disk) through BAT."""
    where = {off: idx for idx, off in bat.items()}
    for kind, a, b in ops:
        if kind == "b":
            bat[a] = b
            where[b] = a
            continue
        length = K4 if kind == "d" else b
        data = sector_of(b) if kind == "d" else bytes(length)
        block = a // MB * MB
        while block not in where:
            block -= MB
        virt = where[block] * bs + (a - block)
        raw.seek(virt)
        raw.write(data)


def main():
    cmd, img = sys.argv[1], sys.argv[2]
    with open(img, "r+b") as f:
        bat_off, bat_len = region(f, BAT_GUID)
        table = read(f, bat_off, bat_len)
        bat = {}
        for i in range(bat_len // 8):
            e = struct.unpack_from("<Q", table, 8 * i)[0]
            if e & 7 in (6, 7):
                bat[i] = e & ~(MB - 1)
        if cmd == "bat":
            for i in sorted(bat):
                print(i, bat[i])
            return
        args = sys.argv[3:]
        expect, apply_list = None, []
        if args[0] == "--expect":
            expect, apply_list = args[1], [int(x) for x in args[3].split(",")]
            args = args[4:]
        (cur_off, cur), (oth_off, _) = headers(f)
        log_len, log_off = struct.unpack_from("<IQ", cur, 68)
        f.seek(0, 2)
        size = f.tell()
        entries = [parse_entry(a) for a in args]
        last = max([size] + [b + MB if k == "b" else a + (K4 if k == "d" else b)
                             for _, _, _, ops in entries for k, a, b in ops])
        sectors = {"file": lambda off: read(f, off, K4)}
        used = set()
        for at, seq, tail, ops in entries:
            e = build_entry(seq, tail, ops, sectors, bat_off, size, last)
            slots = {(at + i) % log_len for i in range(0, len(e), K4)}
            if used & slots:
                sys.exit("vhdx-mklog: the entry at %d overlaps another" % at)
            used |= slots
            for i in range(0, len(e), K4):
                f.seek(log_off + (at + i) % log_len)
                f.write(e[i:i + K4])
        h = bytearray(cur)
        struct.pack_into("<Q", h, 8, struct.unpack_from("<Q", cur, 8)[0] + 1)
        h[48:64] = LOG_GUID
        f.seek(oth_off)
        f.write(with_crc(h))
        if expect:
            bs = block_size(f)
            with open(expect, "r+b") as raw:
                for i in apply_list:
                    apply(raw, bs, bat, entries[i][3])


main()
