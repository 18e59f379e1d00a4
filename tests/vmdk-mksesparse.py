#!/usr/bin/env python3
# Write an ESXi seSparse snapshot (qemu-img cannot make one) and, computed
# independently of any reader, the bytes and extents it must serve.
#
#   vmdk-mksesparse.py [options] DESC EXTENT EXPECT.raw EXPECT.map
#
# DESC is the snapshot's text descriptor (createType "seSparse", one
# SESPARSE extent line naming EXTENT, and with --parent a
# parentFileNameHint and parentCID), EXTENT the seSparse file laid out as
# ESXi lays it out (constant header, volatile header, journal, grain
# directory, grain tables, free bitmap, back map, grains; the areas'
# places as in a real ESXi extent).  Grain tables and grains are given
# out in a shuffled order, and grain slots above 4095, so that both
# halves of an allocated entry's slot number are used.  Every kind of
# entry occurs: grain directory entries 0 (a whole unallocated table)
# and allocated; grain table entries unallocated, unmapped (SCSI UNMAP),
# zero and allocated (also with all-zero data).
#
# EXPECT.raw is the disk as ESXi presents it: the parent's bytes (or
# zeros) under unallocated grains, zeros under zero and unmapped ones.
# EXPECT.map is its extents as "start length type" lines (nbdinfo --map
# types: 0 data, 2 zero, 3 hole,zero), neighbours of one type merged;
# under unallocated grains the parent's types from --parent-map (an
# nbdinfo --map of the parent), else 3.
#
# Options:
#   --capacity SECTORS   virtual size (default 131072 = 64 MiB)
#   --seed N             the pseudo-random layout (default 1)
#   --parent VMDK        the parent disk (its CID is read from it)
#   --parent-raw RAW     the parent's bytes
#   --parent-map MAP     the parent's extents
#   --corrupt KIND       damage the extent (see CORRUPTIONS below)
import argparse
import os
import random
import re
import struct

SECTOR = 512
GRAIN = 8                       # sectors
GRAIN_BYTES = GRAIN * SECTOR
GT_SECTORS = 64
GTES = GT_SECTORS * SECTOR // 8  # 4096
AREA = 2048                     # sectors: ESXi's smallest area size

UNMAPPED = 0x1000000000000000
ZERO = 0x2000000000000000

CORRUPTIONS = [
    "truncated-header", "version", "grain-size", "gt-size", "flags",
    "reserved", "padding", "volatile-magic", "journal", "gd-beyond-file",
    "gd-too-small", "areas-overlap", "gd-entry-type", "gd-entry-index",
    "gt-beyond-file", "gte-type", "gte-unallocated-bits", "grain-slot",
    "grain-beyond-file",
]


def round_up(v, m):
    return (v + m - 1) // m * m


def choose_states(rng, nr_grains):
    """Per grain: 'U'nallocated, 'Z'ero, 'M' (unmapped), 'D'ata, '0' (data
    that is all zeros); whole grain tables left out entirely ('-')."""
    states = []
    for g in range(nr_grains):
        if g % GTES == 0:
            table_absent = rng.random() < 0.3 and g != 0
        if table_absent:
            states.append("-")
            continue
        r = rng.random()
        states.append("U" if r < 0.35 else "Z" if r < 0.45 else
                      "M" if r < 0.55 else "0" if r < 0.57 else "D")
    # Make sure every kind occurs in the first table.
    for i, s in enumerate("UZMD0"):
        if i < nr_grains:
            states[i] = s
    return states


class Layout:
    def __init__(self, capacity, nr_grains, nr_tables):
        nr_gd = -(-nr_grains // GTES)
        self.vh = (1, 1)
        self.journal_header = (2, 2)
        self.journal = (AREA, AREA)
        gd_size = round_up(max(1, nr_gd * 8 // SECTOR + 1), AREA)
        self.gd = (2 * AREA, gd_size)
        gt_size = round_up(max(1, nr_tables) * GT_SECTORS, AREA)
        self.gt = (self.gd[0] + gd_size, gt_size)
        self.bitmap = (self.gt[0] + gt_size, AREA)
        self.backmap = (self.bitmap[0] + AREA, AREA)
        self.grains = (self.backmap[0] + AREA, round_up(capacity, GRAIN))


def const_header(capacity, lay):
    fields = [0xcafebabe, 0x200000001, capacity, GRAIN, GT_SECTORS, 0,
              0, 0, 0, 0]
    for area in (lay.vh, lay.journal_header, lay.journal, lay.gd, lay.gt,
                 lay.bitmap, lay.backmap, lay.grains):
        fields += list(area)
    h = struct.pack("<26Q", *fields)
    return h + bytes(SECTOR - len(h))


def volatile_header():
    # magic, freeGTNumber, nextTxnSeqNumber, replayJournal
    v = struct.pack("<4Q", 0xcafecafe, 1, 0x24, 0)
    return v + bytes(SECTOR - len(v))


def encode_slot(slot):
    """An allocated grain table entry: type 3, the slot's low 12 bits in
    bits 48..59, its other bits in bits 0..47."""
    return (3 << 60) | ((slot & 0xfff) << 48) | (slot >> 12)


def grain_data(seed, g, state):
    if state == "0":
        return bytes(GRAIN_BYTES)
    rng = random.Random(seed * 1000003 + g)
    return struct.pack("<Q", g) + rng.randbytes(GRAIN_BYTES - 8)


def parent_cid(path):
    with open(path, "rb") as f:
        m = re.search(rb"\nCID=([0-9a-fA-F]{1,8})\s", f.read(1 << 20))
    if not m:
        raise SystemExit("%s: no CID found" % path)
    return m.group(1).decode()


def write_descriptor(path, extent, capacity, parent):
    lines = ["# Disk DescriptorFile", "version=1", 'encoding="UTF-8"',
             "CID=5e5e5e5e"]
    if parent:
        lines += ["parentCID=" + parent_cid(parent),
                  'isNativeSnapshot="no"', 'createType="seSparse"',
                  'parentFileNameHint="%s"' % os.path.basename(parent)]
    else:
        lines += ["parentCID=ffffffff", 'createType="seSparse"']
    lines += ["", "# Extent description",
              'RW %d SESPARSE "%s"' % (capacity, os.path.basename(extent)),
              "", "# The Disk Data Base", "#DDB", "",
              'ddb.adapterType = "lsilogic"', 'ddb.grain = "8"',
              'ddb.virtualHWVersion = "14"', ""]
    with open(path, "w") as f:
        f.write("\n".join(lines))


def read_parent_map(path, size):
    runs = []
    if path:
        with open(path) as f:
            for line in f:
                start, length, typ = (int(x) for x in line.split()[:3])
                runs.append((start, length, typ))
    else:
        runs.append((0, size, 3))
    return runs


def parent_types(runs, start, length):
    out = []
    for s, l, t in runs:
        a, b = max(s, start), min(s + l, start + length)
        if a < b:
            out.append((a, b - a, t))
    return out


def expected_map(states, capacity, pmap):
    size = capacity * SECTOR
    runs = []
    for g, st in enumerate(states):
        start = g * GRAIN_BYTES
        length = min(GRAIN_BYTES, size - start)
        if st in "D0":
            runs.append((start, length, 0))
        elif st in "ZM":
            runs.append((start, length, 2))
        else:
            runs += parent_types(pmap, start, length)
    merged = []
    for s, l, t in runs:
        if merged and merged[-1][2] == t and merged[-1][0] + merged[-1][1] == s:
            merged[-1] = (merged[-1][0], merged[-1][1] + l, t)
        else:
            merged.append((s, l, t))
    return merged


def build(args):
    rng = random.Random(args.seed)
    capacity = args.capacity
    nr_grains = -(-capacity // GRAIN)
    states = choose_states(rng, nr_grains)
    nr_gd = -(-nr_grains // GTES)
    present = [t for t in range(nr_gd)
               if any(s != "-" for s in states[t * GTES:(t + 1) * GTES])]
    table_index = list(range(len(present)))
    rng.shuffle(table_index)
    data_grains = [g for g, s in enumerate(states) if s in "D0"]
    # Slots spread over twice as many as needed, above 4095 too.
    slots = rng.sample(range(max(2 * len(data_grains), 5000)),
                       len(data_grains))
    lay = Layout(capacity, nr_grains, len(present))
    return states, present, table_index, dict(zip(data_grains, slots)), lay


def write_extent(args, states, present, table_index, slot_of, lay):
    capacity = args.capacity
    size = capacity * SECTOR
    gd = bytearray(lay.gd[1] * SECTOR)
    tables = {}
    for t, idx in zip(present, table_index):
        struct.pack_into("<Q", gd, t * 8, 0x1000000000000000 | idx)
        gt = bytearray(GT_SECTORS * SECTOR)
        for i in range(GTES):
            g = t * GTES + i
            if g >= len(states):
                break
            s = states[g]
            v = (0 if s in "U-" else ZERO if s == "Z" else
                 UNMAPPED if s == "M" else encode_slot(slot_of[g]))
            struct.pack_into("<Q", gt, i * 8, v)
        tables[idx] = gt
    with open(args.extent, "wb") as f:
        f.write(const_header(capacity, lay))
        f.write(volatile_header())
        f.seek(lay.gd[0] * SECTOR)
        f.write(gd)
        for idx, gt in tables.items():
            f.seek((lay.gt[0] + idx * GT_SECTORS) * SECTOR)
            f.write(gt)
        f.seek((lay.backmap[0] + lay.backmap[1]) * SECTOR - 1)
        f.write(b"\0")
        for g, slot in slot_of.items():
            f.seek((lay.grains[0] + slot * GRAIN) * SECTOR)
            data = grain_data(args.seed, g, states[g])
            f.write(data[:min(GRAIN_BYTES, size - g * GRAIN_BYTES)])


def write_expected(args, states, slot_of):
    capacity = args.capacity
    size = capacity * SECTOR
    parent = None
    if args.parent_raw:
        with open(args.parent_raw, "rb") as f:
            parent = f.read()
    with open(args.expect_raw, "wb") as out:
        for g, s in enumerate(states):
            n = min(GRAIN_BYTES, size - g * GRAIN_BYTES)
            if s in "D0":
                out.write(grain_data(args.seed, g, s)[:n])
            elif s in "ZM" or parent is None:
                out.write(bytes(n))
            else:
                chunk = parent[g * GRAIN_BYTES:g * GRAIN_BYTES + n]
                out.write(chunk + bytes(n - len(chunk)))
    pmap = read_parent_map(args.parent_map, size)
    with open(args.expect_map, "w") as out:
        for s, l, t in expected_map(states, capacity, pmap):
            out.write("%d %d %d\n" % (s, l, t))


def patch(path, off, fmt, *vals):
    with open(path, "r+b") as f:
        f.seek(off)
        f.write(struct.pack(fmt, *vals))


def first_table(present, table_index, lay):
    """Byte offset of the grain table of the first grain directory entry."""
    return (lay.gt[0] + table_index[0] * GT_SECTORS) * SECTOR


def corrupt(kind, path, states, present, table_index, slot_of, lay):
    gt0 = first_table(present, table_index, lay)
    first_data = states.index("D")
    if kind == "truncated-header":
        os.truncate(path, 300)
    elif kind == "version":
        patch(path, 8, "<Q", 0x200000002)
    elif kind == "grain-size":
        patch(path, 24, "<Q", 16)
    elif kind == "gt-size":
        patch(path, 32, "<Q", 128)
    elif kind == "flags":
        patch(path, 40, "<Q", 1)
    elif kind == "reserved":
        patch(path, 64, "<Q", 7)
    elif kind == "padding":
        patch(path, 400, "<B", 1)
    elif kind == "volatile-magic":
        patch(path, lay.vh[0] * SECTOR, "<Q", 0xcafebabe)
    elif kind == "journal":
        patch(path, lay.vh[0] * SECTOR + 24, "<Q", 1)
    elif kind == "gd-beyond-file":
        # After the grains area (which reaches past the end of the file).
        patch(path, 128, "<Q", lay.grains[0] + lay.grains[1] + 10)
    elif kind == "gd-too-small":
        patch(path, 136, "<Q", 0)
    elif kind == "areas-overlap":
        patch(path, 144, "<Q", lay.gd[0] + 1)
    elif kind == "gd-entry-type":
        patch(path, lay.gd[0] * SECTOR, "<Q", 0x2000000000000000)
    elif kind == "gd-entry-index":
        patch(path, lay.gd[0] * SECTOR, "<Q",
              0x1000000000000000 | (lay.gt[1] // GT_SECTORS))
    elif kind == "gt-beyond-file":
        # A grain tables area reaching far past the end of the file (the
        # grains area moved after it) and a table in it, past the end.
        end = os.path.getsize(path) // SECTOR
        patch(path, 152, "<Q", 1 << 40)
        patch(path, 192, "<Q", lay.gt[0] + (1 << 40))
        patch(path, lay.gd[0] * SECTOR, "<Q",
              0x1000000000000000 | ((end - lay.gt[0]) // GT_SECTORS + 1))
    elif kind == "gte-type":
        patch(path, gt0 + first_data * 8, "<Q", 0x5000000000000000)
    elif kind == "gte-unallocated-bits":
        patch(path, gt0 + states.index("U") * 8, "<Q", 0x0000000000000100)
    elif kind == "grain-slot":
        patch(path, gt0 + first_data * 8, "<Q",
              encode_slot(lay.grains[1] // GRAIN))
    elif kind == "grain-beyond-file":
        patch(path, gt0 + first_data * 8, "<Q",
              encode_slot(lay.grains[1] // GRAIN - 1))
    else:
        raise SystemExit("unknown corruption " + kind)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--capacity", type=int, default=131072)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--parent")
    p.add_argument("--parent-raw")
    p.add_argument("--parent-map")
    p.add_argument("--corrupt", choices=CORRUPTIONS)
    p.add_argument("desc")
    p.add_argument("extent")
    p.add_argument("expect_raw")
    p.add_argument("expect_map")
    args = p.parse_args()
    states, present, table_index, slot_of, lay = build(args)
    write_descriptor(args.desc, args.extent, args.capacity, args.parent)
    write_extent(args, states, present, table_index, slot_of, lay)
    write_expected(args, states, slot_of)
    if args.corrupt:
        corrupt(args.corrupt, args.extent, states, present, table_index,
                slot_of, lay)


if __name__ == "__main__":
    main()
