#!/usr/bin/env python3
# The rules of blktap's "vhd-util check" (XenServer / XCP-ng storage;
# xapi-project/blktap vhd/lib/vhd-util-check.c and libvhd.c), written
# again from their description as an independent checker of the VHDs
# xdisk creates.  Debian ships no blktap, so the tests run this instead.
#
#   vhd-util-check.py [-b] [-g] [-t] FILE
#
# -b also checks the block bitmaps against the data (vhd-util check -b:
# "sector has data where bitmap is clear"); -t ignores the time stamps
# (-t); -g, not a vhd-util rule, wants the footer's geometry to be
# exactly the specification's for the size, as Hyper-V writes it.  Prints "FILE is valid" and exits 0, or prints the rule that
# failed, in vhd-util's words, on stderr and exits 1.
#
# What is checked, in vhd-util's order:
#  footer  the one at the end (or a 511-byte one) and, for dynamic and
#          differencing disks, its copy at 0, identical: cookie,
#          checksum, features (reserved bit set, nothing but
#          "temporary" besides), file format 1.0, data offset (all ones
#          unless dynamic/differencing), time stamp at most 30 minutes
#          ahead, tap creator version, "geometry too large" (the stored
#          geometry, as the 32-bit number cylinders<<16|heads<<8|
#          sectors, at most the one the specification's CHS algorithm
#          gives for the current size), type, saved and hidden flags,
#          reserved bytes zero, unique id not null;
#  header  cookie, checksum, version 1.0, data offset all ones, BAT
#          offset (a multiple of 512, the BAT before the footer), block
#          size a power of 2, reserved bytes zero;
#  parent  for a differencing disk a parent time stamp not in the future
#          and a name that decodes (UTF-16BE to ASCII); for the others
#          no parent name, locators, UUID or time stamp;
#  BAT     the current size in 2 MiB blocks (libvhd's VHD_BLOCK_SHIFT,
#          whatever the block size) not more than the BAT entries;
#          every present block after the metadata, before the footer,
#          and overlapping no other;
#  batmap  blktap's own extension, expected from creator "tap" 1.2 on:
#          not implemented here (refused, xdisk never writes "tap");
#  locators (differencing) a known platform code, an empty entry all
#          zero, offset, space and length set, the data before the
#          footer, reserved zero, no code twice; each MacX, W2ru and W2ku
#          path decodes to ASCII, its file name is the header's parent
#          name, it resolves (absolute, or relative to the child's
#          directory) to a file whose footer's unique id is the header's
#          parent UUID; at least one does.

import os
import sys
import time

SECTOR = 512
VHD_EPOCH = 946684800           # 2000-01-01 00:00:00 (vhd_time, in UTC)
TIMESTAMP_MAX_SLACK = 1800
BLOCK_SHIFT = 21                # libvhd's VHD_BLOCK_SHIFT
TYPE_FIXED, TYPE_DYNAMIC, TYPE_DIFF = 2, 3, 4
FEAT_TEMPORARY, FEAT_RESERVED = 1, 2
FF_VERSION = 0x00010000
TAP_CURRENT_VERSION = 0x00010003
UNUSED = 0xFFFFFFFF
PLATFORM_CODES = {b"\0\0\0\0", b"Wi2r", b"Wi2k", b"W2ru", b"W2ku",
                  b"Mac ", b"MacX"}


class Invalid(Exception):
    pass


def be(buf, off, n):
    return int.from_bytes(buf[off:off + n], "big")


def checksum(buf, field):
    total = sum(buf[:field]) + sum(buf[field + 4:])
    return ~total & 0xFFFFFFFF


def chs(size):
    """The specification's CHS algorithm, encoded as vhd-util compares."""
    # vhd_chs keeps the sector count in 32 bits: from 2 TiB on it wraps
    # (blktap's VHDs stop at 2 TiB), as here.
    secs = max((size + SECTOR - 1) // SECTOR, 1) & 0xFFFFFFFF
    secs = min(secs, 65535 * 16 * 255)
    if secs >= 65535 * 16 * 63:
        spt, heads = 255, 16
        cth = secs // spt
    else:
        spt = 17
        cth = secs // spt
        heads = max((cth + 1023) // 1024, 4)
        if cth >= heads * 1024 or heads > 16:
            spt, heads = 31, 16
            cth = secs // spt
        if cth >= heads * 1024:
            spt, heads = 63, 16
            cth = secs // spt
    return ((cth // heads) << 16) | (heads << 8) | spt


class Footer:
    def __init__(self, raw):
        self.raw = raw
        self.cookie = raw[0:8]
        self.features = be(raw, 8, 4)
        self.ff_version = be(raw, 12, 4)
        self.data_offset = be(raw, 16, 8)
        self.timestamp = be(raw, 24, 4)
        self.crtr_app = raw[28:32]
        self.crtr_ver = be(raw, 32, 4)
        self.curr_size = be(raw, 48, 8)
        self.geometry = be(raw, 56, 4)
        self.type = be(raw, 60, 4)
        self.checksum = be(raw, 64, 4)
        self.uuid = raw[68:84]
        self.saved = raw[84]
        self.hidden = raw[85]
        self.reserved = raw[86:512]

    def is_tap(self):
        return self.crtr_app[:3] == b"tap"

    def hidden_quirk(self):
        """tapdisk 0.1 and 1.1 left "hidden" out of the checksum and
        out of the copy at 0."""
        return self.hidden and self.is_tap() and \
            self.crtr_ver in (0x1, 0x00010001)

    def unhidden(self):
        raw = bytearray(self.raw)
        raw[85] = 0
        return bytes(raw)


def now_vhd():
    return int(time.time()) - VHD_EPOCH


def validate_footer(f, opts):
    if f.cookie != b"conectix":
        return "invalid cookie"
    if checksum(f.raw, 64) != f.checksum and \
       not (f.hidden_quirk() and checksum(f.unhidden(), 64) == f.checksum):
        return "invalid checksum"
    if not f.features & FEAT_RESERVED:
        return "invalid 'reserved' feature"
    if f.features & ~(FEAT_TEMPORARY | FEAT_RESERVED):
        return "invalid extra features"
    if f.ff_version != FF_VERSION:
        return "invalid file format version"
    if f.type not in (TYPE_DYNAMIC, TYPE_DIFF) and \
       f.data_offset != 0xFFFFFFFFFFFFFFFF:
        return "invalid data offset"
    if not opts["t"] and f.timestamp > now_vhd() + TIMESTAMP_MAX_SLACK:
        return "creation time in future"
    if f.is_tap() and f.crtr_ver > TAP_CURRENT_VERSION:
        return "unsupported tap creator version"
    if chs(f.curr_size) < f.geometry:
        return "geometry too large"
    if f.type not in (TYPE_FIXED, TYPE_DYNAMIC, TYPE_DIFF):
        return "invalid type"
    if f.saved not in (0, 1):
        return "invalid 'saved' state"
    if f.hidden not in (0, 1):
        return "invalid 'hidden' state"
    if any(f.reserved):
        return "invalid 'reserved' bits"
    if not any(f.uuid):
        return "invalid (NULL) uuid"
    if opts["g"] and chs(f.curr_size) != f.geometry:
        return "geometry is not the specification's for the size (-g)"
    return None


def read_at(fd, off, n, what):
    if off < 0:
        raise Invalid("error reading %s: offset %d" % (what, off))
    data = os.pread(fd, n, off)
    if len(data) != n:
        raise Invalid("error reading %s: short read at %d" % (what, off))
    return data


def check_footer(fd, eof, opts):
    size = 511 if eof % SECTOR else SECTOR
    if eof < size:
        raise Invalid("error reading primary footer: file of %d bytes" % eof)
    raw = read_at(fd, eof - size, size, "primary footer")
    primary = Footer(raw + b"\0" * (SECTOR - size))
    msg = validate_footer(primary, opts)
    if msg:
        raise Invalid("primary footer invalid: " + msg)
    if primary.type == TYPE_FIXED:
        return primary
    backup = Footer(read_at(fd, 0, SECTOR, "backup footer"))
    msg = validate_footer(backup, opts)
    if msg:
        raise Invalid("backup footer invalid: " + msg)
    if primary.raw != backup.raw and \
       not (backup.hidden_quirk() and backup.unhidden() == primary.raw):
        raise Invalid("primary and backup footers do not match")
    return primary


class Header:
    def __init__(self, raw):
        self.raw = raw
        self.cookie = raw[0:8]
        self.data_offset = be(raw, 8, 8)
        self.table_offset = be(raw, 16, 8)
        self.hdr_ver = be(raw, 24, 4)
        self.max_bat_size = be(raw, 28, 4)
        self.block_size = be(raw, 32, 4)
        self.checksum = be(raw, 36, 4)
        self.prt_uuid = raw[40:56]
        self.prt_ts = be(raw, 56, 4)
        self.res1 = be(raw, 60, 4)
        self.prt_name = raw[64:576]
        self.loc = [raw[576 + 24 * i:600 + 24 * i] for i in range(8)]
        self.res2 = raw[768:1024]


def check_header(fd, eof, footer):
    h = Header(read_at(fd, footer.data_offset, 1024, "header"))
    msg = None
    if h.cookie != b"cxsparse":
        msg = "invalid cookie"
    elif checksum(h.raw, 36) != h.checksum:
        msg = "invalid checksum"
    elif h.hdr_ver != 0x00010000:
        msg = "invalid header version"
    elif h.data_offset != 0xFFFFFFFFFFFFFFFF:
        msg = "invalid data offset"
    elif h.table_offset <= 0 or h.table_offset % SECTOR or \
            h.table_offset + h.max_bat_size * 4 > eof - SECTOR:
        msg = "invalid table offset"
    elif bin(h.block_size).count("1") != 1:
        msg = "invalid block size"
    elif h.res1 or any(h.res2):
        msg = "invalid reserved bits"
    if msg:
        raise Invalid("header is invalid: " + msg)
    return h


def decode_path(raw, encoding):
    """libvhd's decoding of a path to ASCII; None if it does not decode."""
    try:
        text = raw.decode(encoding)
        text.encode("ascii")
    except (UnicodeDecodeError, UnicodeEncodeError):
        return None
    return text


def parent_name(footer, h):
    enc = "utf-16" if footer.is_tap() and footer.crtr_ver == 0x1 \
        else "utf-16-be"
    name = decode_path(h.prt_name, enc)
    if name is None:
        return None
    return name.split("\0")[0].replace("\\", "/")


def check_differencing_header(footer, h, opts):
    if footer.type == TYPE_DIFF:
        if not opts["t"] and h.prt_ts > now_vhd() + TIMESTAMP_MAX_SLACK:
            msg = "parent creation time in future"
        elif parent_name(footer, h) is None:
            msg = "invalid parent name"
        else:
            msg = None
    elif any(h.prt_name):
        msg = "invalid non-null parent name"
    elif any(b"".join(h.loc)):
        msg = "invalid non-null parent locators"
    elif any(h.prt_uuid):
        msg = "invalid non-null parent uuid"
    elif h.prt_ts:
        msg = "invalid non-zero parent timestamp"
    else:
        msg = None
    if msg:
        raise Invalid("differencing header is invalid: " + msg)


def locator_size(loc):
    """vhd_parent_locator_size: the space in sectors, or in bytes."""
    space = be(loc, 4, 4)
    if space < SECTOR:
        return space * SECTOR
    return space if space % SECTOR == 0 else 0


def end_of_headers(footer, h):
    eom = max(footer.data_offset + 1024,
              h.table_offset + -(-h.max_bat_size * 4 // SECTOR) * SECTOR)
    for loc in h.loc:
        if loc[0:4] != b"\0\0\0\0":
            eom = max(eom, be(loc, 16, 8) + locator_size(loc))
    return eom


def read_bat(fd, h):
    size = -(-h.max_bat_size * 4 // SECTOR) * SECTOR
    raw = read_at(fd, h.table_offset, size, "bat")
    return [be(raw, 4 * i, 4) for i in range(h.max_bat_size)]


def bitmap_secs(h):
    spb = h.block_size // SECTOR
    return max(-(-spb // 8 // SECTOR), 1), spb


def check_bitmap(fd, h, block, off):
    bm_secs, spb = bitmap_secs(h)
    bitmap = read_at(fd, off * SECTOR, bm_secs * SECTOR, "bitmap")
    data = read_at(fd, (off + bm_secs) * SECTOR, spb * SECTOR, "data block")
    for i in range(spb):
        mapped = (bitmap[i >> 3] << (i & 7)) & 0x80
        if not mapped and any(data[i * SECTOR:(i + 1) * SECTOR]):
            raise Invalid("sector 0x%x of block 0x%x has data where "
                          "bitmap is clear" % (i, block))


def check_bat(fd, eof, footer, h, opts):
    if eof % SECTOR:
        if eof % SECTOR != 511:
            raise Invalid("invalid file size: 0x%x" % eof)
        eof += 1
    bat = read_bat(fd, h)
    eoh = end_of_headers(footer, h) >> 9
    end = (eof - SECTOR) >> 9
    bm_secs, spb = bitmap_secs(h)
    block_secs = spb + bm_secs
    blocks = footer.curr_size >> BLOCK_SHIFT
    if blocks > h.max_bat_size:
        raise Invalid("VHD size (%d blocks) exceeds BAT size (%d)"
                      % (blocks, h.max_bat_size))
    present = []
    for i in range(blocks):
        off = bat[i]
        if off == UNUSED:
            continue
        if off < eoh:
            raise Invalid("block %d (offset 0x%x) clobbers headers"
                          % (i, off))
        if off + block_secs > end:
            raise Invalid("block %d (offset 0x%x) clobbers footer"
                          % (i, off))
        present.append((off, i))
    # Blocks of one size overlap when they start less than a block apart.
    present.sort()
    for (a, i), (b, j) in zip(present, present[1:]):
        if b - a < block_secs:
            raise Invalid("block %d (offset 0x%x) clobbers block %d "
                          "(offset 0x%x)" % (j, b, i, a))
    if opts["b"]:
        for off, i in present:
            check_bitmap(fd, h, i, off)


def has_batmap(footer):
    return footer.type in (TYPE_DYNAMIC, TYPE_DIFF) and footer.is_tap() \
        and footer.crtr_ver > 0x1


def locator_path(fd, loc):
    code = loc[0:4]
    size = locator_size(loc)
    if size <= 0:
        return None
    raw = read_at(fd, be(loc, 16, 8), size, "parent locator")
    raw = raw[:be(loc, 8, 4)]
    if code == b"MacX":
        path = decode_path(raw, "utf-8")
        if path is None or not path.startswith("file://"):
            return None
        return path[len("file://"):]
    path = decode_path(raw, "utf-16-le")
    if path is None:
        return None
    path = path.split("\0")[0].replace("\\", "/")
    if path[:2] in ("C:", "c:"):
        path = path[2:]
    return path


def find_parent(child, path):
    if path.startswith("/") and os.access(path, os.R_OK):
        return path
    loc = os.path.join(os.path.dirname(os.path.realpath(child)), path)
    if os.access(loc, os.R_OK):
        return os.path.realpath(loc)
    return None


def parent_uuid(path):
    """The unique id of the VHD at PATH (libvhd opens it), or None."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            eof = f.tell()
            f.seek(eof - SECTOR)
            footer = Footer(f.read(SECTOR))
    except OSError:
        return None
    if footer.cookie != b"conectix" or \
       checksum(footer.raw, 64) != footer.checksum:
        return None
    return footer.uuid


def check_locator_entry(loc, eof):
    if loc[0:4] not in PLATFORM_CODES:
        return "invalid platform code"
    if loc[0:4] == b"\0\0\0\0":
        return "non-zero locator" if any(loc) else None
    if not be(loc, 16, 8):
        return "invalid data offset"
    if not be(loc, 4, 4):
        return "invalid data space"
    if not be(loc, 8, 4):
        return "invalid data length"
    if be(loc, 16, 8) + locator_size(loc) > eof - SECTOR:
        return "invalid size"
    if be(loc, 12, 4):
        return "invalid reserved bits"
    return None


def check_parent_locators(name, fd, eof, footer, h):
    pname = parent_name(footer, h)
    seen = set()
    found = 0
    for i, loc in enumerate(h.loc):
        msg = check_locator_entry(loc, eof)
        if msg:
            raise Invalid("invalid parent locator %d: %s" % (i, msg))
        code = loc[0:4]
        if code == b"\0\0\0\0":
            continue
        if code in seen:
            raise Invalid("duplicate platform code in locator %d: %r"
                          % (i, code))
        seen.add(code)
        if code not in (b"MacX", b"W2ru", b"W2ku"):
            continue
        path = locator_path(fd, loc)
        if path is None:
            raise Invalid("error reading parent locator %d" % i)
        base = os.path.basename(path.rstrip("/")) or path
        if base != pname:
            raise Invalid("parent locator %d name (%s) does not match "
                          "header name (%s)" % (i, base, pname))
        location = find_parent(name, path)
        if location is None:
            raise Invalid("error resolving %s" % path)
        if any(h.prt_uuid):
            uuid = parent_uuid(location)
            if uuid is None:
                raise Invalid("invalid parent %s: error opening parent"
                              % location)
            if uuid != h.prt_uuid:
                raise Invalid("invalid parent %s: invalid parent uuid"
                              % location)
        found += 1
    if not found:
        raise Invalid("could not find parent %s" % pname)


def check(name, opts):
    fd = os.open(name, os.O_RDONLY)
    try:
        eof = os.fstat(fd).st_size
        footer = check_footer(fd, eof, opts)
        if footer.type not in (TYPE_DYNAMIC, TYPE_DIFF):
            return
        h = check_header(fd, eof, footer)
        check_differencing_header(footer, h, opts)
        check_bat(fd, eof, footer, h, opts)
        if has_batmap(footer):
            raise Invalid("batmap expected (creator tap %d.%d): not checked "
                          "by this checker" % (footer.crtr_ver >> 16,
                                               footer.crtr_ver & 0xFFFF))
        if footer.type == TYPE_DIFF:
            check_parent_locators(name, fd, eof, footer, h)
    finally:
        os.close(fd)


def main(argv):
    opts = {"b": False, "g": False, "t": False}
    args = []
    for a in argv[1:]:
        if a in ("-b", "-g", "-t"):
            opts[a[1]] = True
        else:
            args.append(a)
    if len(args) != 1:
        sys.stderr.write("usage: vhd-util-check.py [-b] [-g] [-t] FILE\n")
        return 2
    try:
        check(args[0], opts)
    except Invalid as e:
        sys.stderr.write("%s: %s\n%s appears invalid\n"
                         % (args[0], e, args[0]))
        return 1
    print("%s is valid" % args[0])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
