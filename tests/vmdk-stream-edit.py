#!/usr/bin/env python3
# Rewrite a qemu-made streamOptimized VMDK for the stream tests.
#
#   vmdk-stream-edit.py gd-at-end IN OUT
#       header gdOffset := GD_AT_END (0xffffffffffffffff); a footer
#       marker, a footer (a copy of the header holding the real
#       gdOffset) and an end-of-stream marker are appended, as VMware's
#       tools write them (Virtual Disk Format 1.1, "Stream-Optimized
#       Compressed Sparse Extents").
#   vmdk-stream-edit.py short-grain IN OUT
#       the first compressed grain is replaced by a valid deflate stream
#       of only 1000 bytes (it inflates, but not to a whole grain).
#   vmdk-stream-edit.py grain-offsets IN
#       print the file offset of every grain marker and the offset just
#       after its (sector-padded) data.
import struct
import sys
import zlib

SECTOR = 512
GD_AT_END = 0xffffffffffffffff
MARKER_EOS, MARKER_GT, MARKER_GD, MARKER_FOOTER = 0, 1, 2, 3


def header_fields(data):
    if data[0:4] != b"KDMV":
        sys.exit("not a sparse VMDK")
    (overhead,) = struct.unpack_from("<Q", data, 64)
    return overhead


def grain_markers(data):
    """Yield (offset, lba, size) for each grain marker, walking from
    the end of the metadata (overHead) to the end-of-stream marker."""
    pos = header_fields(data) * SECTOR
    while pos + 16 <= len(data):
        lba, size = struct.unpack_from("<QI", data, pos)
        if size:
            yield pos, lba, size
            pos += (12 + size + SECTOR - 1) // SECTOR * SECTOR
            continue
        (mtype,) = struct.unpack_from("<I", data, pos + 12)
        if mtype == MARKER_EOS:
            return
        pos += SECTOR + lba * SECTOR      # metadata marker + its sectors


def gd_at_end(data):
    data = bytearray(data)
    (gd_offset,) = struct.unpack_from("<Q", data, 56)
    footer = bytearray(data[0:SECTOR])
    struct.pack_into("<Q", data, 56, GD_AT_END)
    # Drop a trailing end-of-stream marker (all zero sector), if any.
    while len(data) >= SECTOR and not any(data[-SECTOR:]):
        del data[-SECTOR:]
    if len(data) % SECTOR:
        data += bytes(SECTOR - len(data) % SECTOR)
    marker = bytearray(SECTOR)
    struct.pack_into("<QII", marker, 0, 1, 0, MARKER_FOOTER)
    struct.pack_into("<Q", footer, 56, gd_offset)
    return bytes(data + marker + footer + bytes(SECTOR))


def short_grain(data):
    data = bytearray(data)
    pos, lba, size = next(grain_markers(data))
    payload = zlib.compress(b"\x5a" * 1000)
    if len(payload) > size:
        sys.exit("cannot fit the short grain")
    struct.pack_into("<QI", data, pos, lba, len(payload))
    data[pos + 12:pos + 12 + size] = payload + bytes(size - len(payload))
    return bytes(data)


def main():
    op, src = sys.argv[1], sys.argv[2]
    with open(src, "rb") as f:
        data = f.read()
    if op == "grain-offsets":
        for pos, _, size in grain_markers(data):
            print(pos, (pos + 12 + size + SECTOR - 1) // SECTOR * SECTOR)
        return
    out = {"gd-at-end": gd_at_end, "short-grain": short_grain}[op](data)
    with open(sys.argv[3], "wb") as f:
        f.write(out)


main()
