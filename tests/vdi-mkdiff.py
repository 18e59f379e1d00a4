#!/usr/bin/env python3
# vdi-mkdiff: writes VDI images the way VirtualBox lays them out, for
# the vdix tests.  qemu-img makes only base images with 1 MiB blocks and
# refuses differencing images, so the tests make those here.
#
#   vdi-mkdiff.py create IMG SIZE [--block-size B] [--extra E]
#       [--type dynamic|fixed|undo|diff] [--parent PARENT.vdi]
#       [--flavour vbox|qemu|v10|v0] [--uuid U] [--banner TEXT]
#     A new image, every block free (fixed: every block allocated, zero).
#     vbox: version 1.1, 400-byte header, map and data aligned to 1 MiB;
#     qemu: version 1.1, 384-byte header, map at 512, data aligned to 512;
#     v10: version 1.0 with a 384-byte header; v0: version 0.0 header,
#     the map right after it and the data right after the map.  --parent
#     makes a differencing image of PARENT: its parent UUID is PARENT's
#     creation UUID, its parent modification UUID PARENT's modification
#     UUID.
#   vdi-mkdiff.py write IMG OFF LEN BYTE [--fill-from RAW]
#     Store LEN bytes of value BYTE at OFF.  A block written for the first
#     time is appended to the data area (as VirtualBox does) and its other
#     bytes come from RAW (the parent's contents), else zeros.
#   vdi-mkdiff.py zero IMG BLOCK    mark BLOCK as a zero block
#   vdi-mkdiff.py free IMG BLOCK    mark BLOCK as free
#   vdi-mkdiff.py point IMG BLOCK N set BLOCK's map entry to N
#   vdi-mkdiff.py poke IMG OFFSET u32|u64|uuid VALUE   patch a field
#   vdi-mkdiff.py uuid IMG [create|modify|parent|parent-modify]
#   vdi-mkdiff.py vbox FILE.vbox IMG...
#     A VirtualBox machine file whose media registry holds IMG... as a
#     chain (base first, each nested in its parent), with locations
#     relative to FILE.vbox's directory.

import os
import struct
import sys
import uuid as uuidlib

SIG = 0xbeda107f
BANNER = b"<<< Oracle VM VirtualBox Disk Image >>>\n"
FREE, ZERO = 0xffffffff, 0xfffffffe
TYPES = {"dynamic": 1, "fixed": 2, "undo": 3, "diff": 4}

# Field offsets in the file (version 1.x, and 0.x where different).
V1 = dict(header_size=0x48, type=0x4c, flags=0x50, comment=0x54,
          blocks_offset=0x154, data_offset=0x158, geometry=0x15c,
          disk_size=0x170, block_size=0x178, block_extra=0x17c,
          blocks=0x180, allocated=0x184, create=0x188, modify=0x198,
          parent=0x1a8, parent_modify=0x1b8, lchs=0x1c8)
V0 = dict(type=0x48, flags=0x4c, comment=0x50, geometry=0x150,
          disk_size=0x160, block_size=0x168, blocks=0x16c, allocated=0x170,
          create=0x174, modify=0x184, parent=0x194)


def align(v, a):
    return (v + a - 1) // a * a


def uuid_bytes(text):
    return uuidlib.UUID(text).bytes_le


def uuid_text(raw):
    return str(uuidlib.UUID(bytes_le=bytes(raw)))


class Image:
    """An image file opened for update."""

    def __init__(self, path):
        self.path = path
        self.f = open(path, "r+b")
        head = self.f.read(512)
        if struct.unpack_from("<I", head, 0x40)[0] != SIG:
            sys.exit(f"{path}: not a VDI")
        self.v0 = struct.unpack_from("<I", head, 0x44)[0] >> 16 == 0
        self.off = V0 if self.v0 else V1
        u32 = lambda k: struct.unpack_from("<I", head, self.off[k])[0]
        self.block_size = u32("block_size")
        self.blocks = u32("blocks")
        self.allocated = u32("allocated")
        self.disk_size = struct.unpack_from("<Q", head,
                                            self.off["disk_size"])[0]
        if self.v0:
            self.extra = 0
            self.blocks_offset = 72 + 348
            self.data_offset = self.blocks_offset + 4 * self.blocks
        else:
            self.extra = u32("block_extra")
            self.blocks_offset = u32("blocks_offset")
            self.data_offset = u32("data_offset")
        self.head = head

    def uuid(self, which):
        return self.head[self.off[which]:self.off[which] + 16]

    def entry(self, block):
        self.f.seek(self.blocks_offset + 4 * block)
        return struct.unpack("<I", self.f.read(4))[0]

    def set_entry(self, block, value):
        self.f.seek(self.blocks_offset + 4 * block)
        self.f.write(struct.pack("<I", value))

    def block_data_offset(self, entry):
        return (self.data_offset + entry * (self.block_size + self.extra)
                + self.extra)

    def allocate(self, block, fill):
        """Append BLOCK to the data area; its bytes come from FILL."""
        n = self.allocated
        base = self.data_offset + n * (self.block_size + self.extra)
        self.f.seek(base)
        self.f.write(b"\xee" * self.extra)     # the extra data is not disk
        data = b""
        if fill:
            with open(fill, "rb") as r:
                r.seek(block * self.block_size)
                data = r.read(self.block_size)
        self.f.write(data + bytes(self.block_size - len(data)))
        self.set_entry(block, n)
        self.allocated = n + 1
        self.f.seek(self.off["allocated"])
        self.f.write(struct.pack("<I", self.allocated))
        return n

    def write(self, off, length, byte, fill):
        end = off + length
        while off < end:
            block, inb = divmod(off, self.block_size)
            n = min(end - off, self.block_size - inb)
            e = self.entry(block)
            if e >= ZERO:
                e = self.allocate(block, fill if e == FREE else None)
            self.f.seek(self.block_data_offset(e) + inb)
            self.f.write(bytes([byte]) * n)
            off += n


def create(path, size, block_size=1 << 20, extra=0, type_="dynamic",
           parent=None, flavour="vbox", uuid=None, banner=None):
    blocks = (size + block_size - 1) // block_size
    v0 = flavour == "v0"
    off = V0 if v0 else V1
    if flavour == "vbox":
        header_size, blocks_offset, al = 400, 1 << 20, 1 << 20
    else:
        header_size, blocks_offset, al = 384, 512, 512
    if v0:
        blocks_offset = 72 + 348
        data_offset = blocks_offset + 4 * blocks
    else:
        data_offset = align(blocks_offset + 4 * blocks, al)
    head = bytearray(max(512, blocks_offset))
    text = banner.encode() + b"\n" if banner else BANNER
    head[0:len(text)] = text
    version = {"v0": 0, "v10": 0x00010000}.get(flavour, 0x00010001)
    struct.pack_into("<II", head, 0x40, SIG, version)
    put32 = lambda k, v: struct.pack_into("<I", head, off[k], v)
    if not v0:
        put32("header_size", header_size)
        put32("blocks_offset", blocks_offset)
        put32("data_offset", data_offset)
        put32("block_extra", extra)
    if flavour == "vbox":
        struct.pack_into("<IIII", head, off["lchs"], 0, 0, 0, 512)
    struct.pack_into("<IIII", head, off["geometry"], 0, 0, 0, 512)
    put32("type", TYPES[type_])
    struct.pack_into("<Q", head, off["disk_size"], size)
    put32("block_size", block_size)
    put32("blocks", blocks)
    head[off["create"]:off["create"] + 16] = \
        uuid_bytes(uuid) if uuid else uuidlib.uuid4().bytes_le
    head[off["modify"]:off["modify"] + 16] = uuidlib.uuid4().bytes_le
    if parent:
        p = Image(parent)
        head[off["parent"]:off["parent"] + 16] = p.uuid("create")
        if not v0:
            head[off["parent_modify"]:off["parent_modify"] + 16] = \
                p.uuid("modify")
    fixed = type_ == "fixed"
    entries = range(blocks) if fixed else [FREE] * blocks
    bmap = b"".join(struct.pack("<I", e) for e in entries)
    if fixed:
        put32("allocated", blocks)
    with open(path, "wb") as f:
        f.write(head)
        f.seek(blocks_offset)
        f.write(bmap)
        f.truncate(data_offset + (blocks * (block_size + extra)
                                  if fixed else 0))
    if fixed and extra:
        img = Image(path)
        for b in range(blocks):
            img.f.seek(img.data_offset + b * (block_size + extra))
            img.f.write(b"\xee" * extra)


def vbox(path, images):
    home = os.path.dirname(os.path.abspath(path))
    out = ['<?xml version="1.0"?>',
           '<!-- Written by vdi-mkdiff.py, laid out like VirtualBox 7 -->',
           '<VirtualBox xmlns="http://www.virtualbox.org/" '
           'version="1.19-linux">',
           f'  <Machine uuid="{{{uuidlib.uuid4()}}}" name="Machine" '
           'OSType="Other_64" snapshotFolder="Snapshots">',
           '    <MediaRegistry>', '      <HardDisks>']
    indent = 8
    for i, img in enumerate(images):
        u = uuid_text(Image(img).uuid("create"))
        loc = os.path.relpath(os.path.abspath(img), home)
        kind = ' type="Normal"' if i == 0 else ""
        close = "/>" if i == len(images) - 1 else ">"
        out.append(" " * indent + f'<HardDisk uuid="{{{u}}}" '
                   f'location="{loc}" format="VDI"{kind}{close}')
        indent += 2
    for i in range(len(images) - 1):
        indent -= 2
        out.append(" " * (indent - 2) + "</HardDisk>")
    out += ['      </HardDisks>', '    </MediaRegistry>',
            '    <Hardware/>', '  </Machine>', '</VirtualBox>']
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def options(args, known):
    opts, rest = {}, []
    i = 0
    while i < len(args):
        if args[i].startswith("--") and args[i][2:] in known:
            opts[args[i][2:].replace("-", "_")] = args[i + 1]
            i += 2
        else:
            rest.append(args[i])
            i += 1
    return opts, rest


def main(argv):
    cmd, args = argv[1], argv[2:]
    if cmd == "create":
        o, rest = options(args, ["block-size", "extra", "type", "parent",
                                 "flavour", "uuid", "banner"])
        type_ = o.get("type", "diff" if "parent" in o else "dynamic")
        create(rest[0], int(rest[1]), int(o.get("block_size", 1 << 20)),
               int(o.get("extra", 0)), type_, o.get("parent"),
               o.get("flavour", "vbox"), o.get("uuid"), o.get("banner"))
    elif cmd == "write":
        o, rest = options(args, ["fill-from"])
        Image(rest[0]).write(int(rest[1]), int(rest[2]), int(rest[3], 0),
                             o.get("fill_from"))
    elif cmd in ("zero", "free"):
        Image(args[0]).set_entry(int(args[1]), ZERO if cmd == "zero"
                                 else FREE)
    elif cmd == "point":
        Image(args[0]).set_entry(int(args[1]), int(args[2], 0))
    elif cmd == "poke":
        with open(args[0], "r+b") as f:
            f.seek(int(args[1], 0))
            if args[2] == "uuid":
                f.write(uuid_bytes(args[3]))
            else:
                f.write(struct.pack("<I" if args[2] == "u32" else "<Q",
                                    int(args[3], 0)))
    elif cmd == "uuid":
        which = (args[1] if len(args) > 1 else "create").replace("-", "_")
        print(uuid_text(Image(args[0]).uuid(which)))
    elif cmd == "vbox":
        vbox(args[0], args[1:])
    else:
        sys.exit(f"vdi-mkdiff: unknown command {cmd}")


if __name__ == "__main__":
    main(sys.argv)
