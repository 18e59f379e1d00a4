#!/usr/bin/env bash
# Writing and creating VDI images with the vdix plugin:
# - round trips: raw -> nbdcopy into a new static or dynamic VDI ->
#   qemu-img convert -> the same raw; the plugin reads it back; qemu-img
#   check finds no errors;
# - the layout VirtualBox writes (banner, header 1.1 of 400 bytes, map
#   and data on 1 MiB boundaries, UUIDs, geometry, static map i = i);
# - random partial, unaligned writes, zeros and trims into images made
#   by qemu-img, compared with the same operations on a raw copy.
source "$srcdir/functions.sh"
set -e -x

requires_plugin vdix
requires qemu-img --version
requires qemu-io --version
requires nbdcopy --version
requires python3 --version
make_tmpdir
M=$(( 1 << 20 ))
vdix=$(plugin vdix)

# The layout checks: TYPE is dynamic or static.
check_layout ()
{
  python3 - "$1" "$2" <<'EOF'
import os, struct, sys
path, kind = sys.argv[1], sys.argv[2]
f = open(path, "rb")
h = f.read(512)
u32 = lambda o: struct.unpack_from("<I", h, o)[0]
assert h[:40] == b"<<< Oracle VM VirtualBox Disk Image >>>\n", h[:64]
assert h[40:64] == bytes(24)
assert u32(0x40) == 0xbeda107f and u32(0x44) == 0x00010001
assert u32(0x48) == 400, u32(0x48)
assert u32(0x4c) == {"dynamic": 1, "static": 2, "fixed": 2, "diff": 4}[kind]
assert u32(0x50) == 0
blocks_off, data_off = u32(0x154), u32(0x158)
assert blocks_off == 1 << 20 and data_off % (1 << 20) == 0
assert struct.unpack_from("<4I", h, 0x15c) == (0, 0, 0, 512)
disk = struct.unpack_from("<Q", h, 0x170)[0]
bs, extra, blocks, alloc = struct.unpack_from("<4I", h, 0x178)
assert extra == 0 and blocks == -(-disk // bs)
assert data_off == -(-(blocks_off + 4 * blocks) // (1 << 20)) * (1 << 20)
for o in (0x188, 0x198):
    assert h[o:o + 16] != bytes(16), hex(o)
assert h[0x188:0x198] != h[0x198:0x1a8]
if kind != "diff":
    assert h[0x1a8:0x1c8] == bytes(32)
assert struct.unpack_from("<4I", h, 0x1c8) == (0, 0, 0, 512)
f.seek(blocks_off)
m = struct.unpack("<%dI" % blocks, f.read(4 * blocks))
used = [e for e in m if e < 0xfffffffe]
assert alloc == len(used), (alloc, len(used))
assert sorted(used) == list(range(len(used)))
size = os.path.getsize(path)
if kind in ("static", "fixed"):
    assert list(m) == list(range(blocks))
    assert size == data_off + blocks * bs
else:
    assert size >= data_off + len(used) * bs
EOF
}

# A raw disk of SIZE bytes: random data, holes, zeros written, a last
# piece smaller than a block.
make_raw ()
{
  local raw=$1 size=$2
  truncate -s $size "$raw"
  python3 - "$raw" <<'EOF'
import random, sys
r = random.Random(1234)
with open(sys.argv[1], "r+b") as f:
    size = f.seek(0, 2)
    for off, n in ((0, 4096), (3 * 2**20 - 100, 300000), (7 * 2**20, 2**20),
                   (size - 1000, 1000), (5 * 2**20 + 7, 513)):
        if off + n <= size:
            f.seek(off)
            f.write(bytes(r.getrandbits(8) for _ in range(n)))
EOF
}

round_trip ()
{
  local kind=$1 size=$2
  local raw=$tmp/rt-$kind-$size.raw img=$tmp/rt-$kind-$size.vdi
  shift 2
  make_raw "$raw" $size
  nbdkit -U - "$vdix" file="$img" create=true create-size=$size \
    create-type=$kind "$@" --run "nbdcopy \"$raw\" \"\$uri\""
  check_layout "$img" $kind
  qemu-img check -f vdi "$img"
  qemu-img compare -f raw -F vdi "$raw" "$img"
  qemu-img convert -f vdi -O raw "$img" "$tmp/back.raw"
  cmp "$raw" "$tmp/back.raw"
  serve_to_raw vdix "$img" "$tmp/served.raw"
  cmp "$raw" "$tmp/served.raw"
  compare_map_loosely vdix "$img" vdi
  rm -f "$tmp/back.raw" "$tmp/served.raw"
}

round_trip dynamic $(( 12 * M ))
round_trip static $(( 12 * M ))
round_trip dynamic $(( 9 * M + 512 ))         # a last block partly used
round_trip static $(( 9 * M + 512 ))
round_trip fixed $(( 4 * M ))
# A dynamic image takes only the blocks written.
test $(stat -c %s "$tmp/rt-dynamic-$(( 12 * M )).vdi") -lt $(( 12 * M ))

# Other block sizes (qemu reads only 1 MiB blocks: the plugin reads
# them back).
for bs in 512K 4M; do
  raw=$tmp/bs.raw
  make_raw "$raw" $(( 10 * M ))
  nbdkit -U - "$vdix" file="$tmp/bs-$bs.vdi" create=true \
    create-size=$(( 10 * M )) create-block-size=$bs \
    --run "nbdcopy \"$raw\" \"\$uri\""
  check_layout "$tmp/bs-$bs.vdi" dynamic
  serve_to_raw vdix "$tmp/bs-$bs.vdi" "$tmp/served.raw"
  cmp "$raw" "$tmp/served.raw"
  rm "$tmp/served.raw"
done

# Random writes (partial, unaligned, across blocks), zeros and trims,
# the same on the image (through the plugin) and on a raw copy.
ops ()
{
  python3 - "$1" "$2" <<'EOF'
import random, sys
size, seed = int(sys.argv[1]), sys.argv[2]
r = random.Random(seed)
for i in range(60):
    n = r.choice([1, 511, 512, 4096, 65536, 2**20, 2**20 + 3, 3 * 2**20])
    n = min(n, size)
    off = r.randrange(0, size - n + 1)
    if r.random() < 0.2:
        off -= off % 512
    k = r.random()
    if k < 0.65:
        print("-c 'write -P %d %d %d'" % (r.randrange(1, 256), off, n))
    elif k < 0.85:
        print("-c 'write -z %d %d'" % (off, n))
    else:
        print("-c 'discard %d %d'" % (off, n))
EOF
}

# qemu-io on the raw copy: a discard there must read as zeros, as
# trimmed VDI blocks do (the plugin punches holes in their data).
write_both ()
{
  local img=$1 raw=$2 seed=$3 size cmds
  size=$(stat -c %s "$raw")
  cmds=$(ops $size $seed)
  cmds=${cmds//$'\n'/ }
  eval "qemu-io -f raw $cmds \"\$raw\"" >/dev/null
  nbdkit -U - "$vdix" file="$img" \
    --run "qemu-io -f raw $cmds \"\$uri\" >/dev/null"
}

for static in off on; do
  img=$tmp/q-$static.vdi
  raw=$tmp/q-$static.raw
  qemu-img create -q -f vdi -o static=$static "$img" $(( 16 * M ))
  qemu-io -f vdi -c "write -P 0x11 0 $(( 5 * M + 17 ))" \
    -c "write -P 0x22 $(( 9 * M )) 4096" "$img" >/dev/null
  qemu-img convert -f vdi -O raw "$img" "$raw"
  modify=$(python3 "$srcdir/vdi-mkdiff.py" uuid "$img" modify)
  for seed in 1 2 3; do
    write_both "$img" "$raw" $seed$static
    qemu-img check -f vdi "$img"
    qemu-img compare -f raw -F vdi "$raw" "$img"
    serve_to_raw vdix "$img" "$tmp/served.raw"
    cmp "$raw" "$tmp/served.raw"
  done
  # The first write gave the image a new modification UUID.
  test "$(python3 "$srcdir/vdi-mkdiff.py" uuid "$img" modify)" != "$modify"
done

# Served read-only (-r) or without writes, the file is not modified.
sum=$(md5sum < "$tmp/q-off.vdi")
nbdkit -U - -r "$vdix" file="$tmp/q-off.vdi" --run 'nbdcopy "$uri" /dev/null'
nbdkit -U - "$vdix" file="$tmp/q-off.vdi" --run 'nbdcopy "$uri" /dev/null'
test "$(md5sum < "$tmp/q-off.vdi")" = "$sum"

# A counter left ahead of the map (a power cut between the two flushes
# of an allocation: qemu-img check calls it a mismatch) or behind it
# (another writer's crash) is set right by the next write session, and
# new blocks go to the first unused place.
for delta in 2 -1; do
  img=$tmp/counter.vdi
  rm -f "$img"
  qemu-img create -q -f vdi "$img" $(( 8 * M ))
  qemu-io -f vdi -c "write -P 0x11 0 $(( 3 * M ))" "$img" >/dev/null
  python3 "$srcdir/vdi-mkdiff.py" poke "$img" $(( 0x184 )) u32 $(( 3 + delta ))
  expect_failure "$tmp/qcheck.err" qemu-img check -f vdi "$img"
  nbdkit -U - "$vdix" file="$img" \
    --run "qemu-io -f raw -c 'write -P 0x22 $(( 5 * M )) 512' \"\$uri\"" \
    >/dev/null
  qemu-img check -f vdi "$img"
  test $(stat -c %s "$img") -eq $(( $(python3 -c "
import struct; h = open('$img', 'rb').read(512)
print(struct.unpack_from('<I', h, 0x158)[0])") + 4 * M ))
  qemu-io -f vdi -c "read -P 0x11 0 $(( 3 * M ))" \
    -c "read -P 0x22 $(( 5 * M )) 512" "$img" >/dev/null
done

# Turns with qemu: blocks we add and blocks qemu adds after us (at
# cBlocksAllocated, as VirtualBox does too) never overlap.
img=$tmp/turns.vdi
raw=$tmp/turns.raw
nbdkit -U - "$vdix" file="$img" create=true create-size=$(( 16 * M )) \
  --run true
truncate -s $(( 16 * M )) "$raw"
for turn in 1 2 3; do
  write_both "$img" "$raw" turn$turn
  off=$(( (turn * 4 + 1) * M + turn * 1000 ))
  qemu-io -f vdi -c "write -P $(( 0x60 + turn )) $off $(( M + 77 ))" \
    "$img" >/dev/null
  qemu-io -f raw -c "write -P $(( 0x60 + turn )) $off $(( M + 77 ))" \
    "$raw" >/dev/null
  qemu-img check -f vdi "$img"
  qemu-img compare -f raw -F vdi "$raw" "$img"
done
serve_to_raw vdix "$img" "$tmp/served.raw"
cmp "$raw" "$tmp/served.raw"
