#!/usr/bin/env bash
# seSparse snapshots (ESXi 6.5+ on VMFS6), which qemu-img cannot make:
# written by vmdk-mksesparse.py with every kind of grain directory and
# grain table entry, alone and over parents made by qemu-img (hosted
# sparse, flat, and another seSparse snapshot).  What vmdkx serves must
# equal the generator's own expectation byte for byte, and qemu's
# decoding; its extents must equal the expected map, which the generator
# builds from the parent's extents as qemu-img map reports them (or, for
# a snapshot's parent snapshot, as the generator made them): never from
# vmdkx's own map.
source "$srcdir/functions.sh"
source "$srcdir/vmdk-functions.sh"
set -e -x -o pipefail

requires_plugin vmdkx
requires_plugin diskx
requires python3 --version
requires qemu-img --version
requires qemu-io --version
requires nbdcopy --version
requires nbdinfo --version
requires jq --version
make_tmpdir
cd "$tmp"
gen="python3 $srcdir/vmdk-mksesparse.py"

# "start length type" lines on stdin with neighbours of one type merged
# (nbdinfo may split a run over several replies, qemu-img map too).
merge_runs ()
{
  awk '{ s = $1; l = $2; t = $3
         if (n && t == lt && ls + ll == s) { ll += l; next }
         if (n) print ls, ll, lt
         ls = s; ll = l; lt = t; n = 1 }
       END { if (n) print ls, ll, lt }'
}

# The extents vmdkx serves for IMG, in that form.
served_map ()
{
  nbdkit -U - -r "$(plugin vmdkx)" file="$1" --run 'nbdinfo --map "$uri"' |
    merge_runs
}

# The extents of a qemu-made IMG as qemu-img map reports them, in the
# same form: what reads as zeros as type 3 (hole,zero), the rest 0.
qemu_map ()
{
  qemu-img map -f vmdk --output=json "$1" |
    jq -r '.[] | "\(.start) \(.length) \(if .zero then 3 else 0 end)"' |
    merge_runs
}

# check DESC EXPECT.raw EXPECT.map: served bytes, qemu's bytes, extents.
check ()
{
  local desc=$1 raw=$2 map=$3
  serve_to_raw vmdkx "$desc" served.raw
  cmp served.raw "$raw"
  qemu-img convert -f vmdk -O raw "$desc" qemu.raw
  cmp qemu.raw "$raw"
  served_map "$desc" > served.map
  diff -u "$map" served.map
  compare_map_with_qemu vmdkx "$desc" vmdk
}

# Alone: unallocated grains read as zeros.
$gen --seed 1 alone.vmdk alone-sesparse.vmdk alone.raw alone.map
check alone.vmdk alone.raw alone.map
grep -q ' 2$' alone.map         # zero / unmapped grains
grep -q ' 3$' alone.map         # unallocated
# The bare extent is a disk by itself.
serve_to_raw vmdkx alone-sesparse.vmdk bare.raw
cmp bare.raw alone.raw
nbdkit -U - -r "$(plugin vmdkx)" file=alone.vmdk \
  --run 'nbdinfo "$uri"' | grep 'SESPARSE, 4 KiB grains'
nbdkit "$(plugin vmdkx)" --dump-plugin | grep '^vmdkx_sesparse=yes$'

# A capacity that is not a whole number of grains.
$gen --seed 2 --capacity 100005 odd.vmdk odd-sesparse.vmdk odd.raw odd.map
[ "$(stat -c %s odd.raw)" -eq $(( 100005 * 512 )) ]
check odd.vmdk odd.raw odd.map

# Over a hosted sparse parent made by qemu-img: unallocated grains read
# the parent, zero and unmapped ones hide it.
size=$(( 131072 * 512 ))
qemu-img create -q -f vmdk base.vmdk $size
vmdk_io base.vmdk 'write -P 0x61 0 8M' 'write -P 0x62 20M 12M' \
  'write -P 0x63 60M 4M'
qemu-img convert -f vmdk -O raw base.vmdk base.raw
qemu_map base.vmdk > base.map
$gen --seed 3 --parent base.vmdk --parent-raw base.raw --parent-map base.map \
  snap1.vmdk snap1-sesparse.vmdk snap1.raw snap1.map
grep -q parentFileNameHint snap1.vmdk
check snap1.vmdk snap1.raw snap1.map
# diskx detects the snapshot as a VMDK.
serve_to_raw diskx snap1.vmdk diskx.raw
cmp diskx.raw snap1.raw
# ... and a second snapshot over the first (a chain of three), over the
# first's extents as the generator made them.
$gen --seed 4 --parent snap1.vmdk --parent-raw snap1.raw \
  --parent-map snap1.map snap2.vmdk snap2-sesparse.vmdk snap2.raw \
  snap2.map
check snap2.vmdk snap2.raw snap2.map
nbdkit -U - -r "$(plugin vmdkx)" file=snap2.vmdk \
  --run 'nbdinfo "$uri"' | grep 'chain depth 3'

# Over a flat parent (the usual ESXi base disk).
qemu-img create -q -f vmdk -o subformat=monolithicFlat flat.vmdk $size
vmdk_io flat.vmdk 'write -P 0x71 4M 16M' 'write -P 0x72 40M 1M'
qemu-img convert -f vmdk -O raw flat.vmdk flat.raw
qemu_map flat.vmdk > flat.map
$gen --seed 5 --parent flat.vmdk --parent-raw flat.raw --parent-map flat.map \
  snapf.vmdk snapf-sesparse.vmdk snapf.raw snapf.map
serve_to_raw vmdkx snapf.vmdk served.raw
cmp served.raw snapf.raw
qemu-img convert -f vmdk -O raw snapf.vmdk qemu.raw
cmp qemu.raw snapf.raw
served_map snapf.vmdk > served.map
diff -u snapf.map served.map

# A parentCID that does not match the parent's CID is refused.
sed 's/^parentCID=.*/parentCID=12345678/' snap1.vmdk > mismatch.vmdk
vmdk_expect_open_error mismatch.vmdk 'parentCID 12345678'
