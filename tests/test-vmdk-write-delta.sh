#!/usr/bin/env bash
# Delta disks: create-parent= makes a monolithicSparse (or
# twoGbMaxExtentSparse) child with parentCID and parentFileNameHint;
# writes go to the child (partial grains read-modify-write from the
# parent), the parent is never modified, and qemu-img reads the child
# with its chain as vmdkx does.  Zeros in the child hide the parent.
source "$srcdir/functions.sh"
source "$srcdir/vmdk-write-functions.sh"
set -e -x

requires_plugin vmdkx
requires qemu-img --version
requires qemu-io --version
requires nbdinfo --version
requires test -x "$xdisk_check"
make_tmpdir

raw=$tmp/in.raw
vmdkw_make_raw "$raw" $(( 5 * 1024 * 1024 ))
qemu-img convert -f raw -O vmdk "$raw" "$tmp/p.vmdk"
psum=$(md5sum < "$tmp/p.vmdk")
pcid=$(printf '%08x' 0x$(grep -a '^CID=' "$tmp/p.vmdk" | cut -d= -f2))

# A child, written at random (zeros included) against a raw copy.
nbdkit -U - "$(plugin vmdkx)" file="$tmp/c.vmdk" create=true \
  create-parent="$tmp/p.vmdk" --run 'nbdinfo --size "$uri"' | grep -qx 5242880
grep -a "^parentCID=$pcid\$" "$tmp/c.vmdk"
grep -a '^parentFileNameHint="p.vmdk"$' "$tmp/c.vmdk"
grep -a '^createType="monolithicSparse"$' "$tmp/c.vmdk"
qemu-img info "$tmp/c.vmdk" | grep -q '^backing file: p.vmdk'
cp "$raw" "$tmp/copy.raw"
vmdkw_random_writes "$tmp/c.vmdk" "$tmp/copy.raw" 7 150
[ "$(md5sum < "$tmp/p.vmdk")" = "$psum" ]
vmdkw_check "$tmp/c.vmdk"
compare_map_loosely vmdkx "$tmp/c.vmdk" vmdk

# Zeros over the parent's data: whole grains and pieces.
nbdkit -U - "$(plugin vmdkx)" file="$tmp/c.vmdk" \
  --run 'qemu-io -f raw -c "write -z 65536 131072" -c "write -z 70000 3000" -c "write -z 1200000 100" "$uri"' >/dev/null
python3 - "$tmp/copy.raw" <<'PY'
import sys
with open(sys.argv[1], "r+b") as f:
    for off, n in ((65536, 131072), (70000, 3000), (1200000, 100)):
        f.seek(off); f.write(b"\0" * n)
PY
qemu-img compare -q -f vmdk -F raw "$tmp/c.vmdk" "$tmp/copy.raw"
compare_with_qemu vmdkx "$tmp/c.vmdk" vmdk
[ "$(md5sum < "$tmp/p.vmdk")" = "$psum" ]

# A grandchild (split sparse) over the child, which stays unchanged.
csum=$(md5sum < "$tmp/c.vmdk")
nbdkit -U - "$(plugin vmdkx)" file="$tmp/g.vmdk" create=true \
  create-type=split-sparse create-parent="$tmp/c.vmdk" \
  --run "python3 '$srcdir/vmdk-randwrite.py' \"\$uri\" '$tmp/copy.raw' 8 60"
qemu-img compare -q -f vmdk -F raw "$tmp/g.vmdk" "$tmp/copy.raw"
compare_with_qemu vmdkx "$tmp/g.vmdk" vmdk
[ "$(md5sum < "$tmp/c.vmdk")" = "$csum" ]
[ "$(md5sum < "$tmp/p.vmdk")" = "$psum" ]
vmdkw_check "$tmp/g.vmdk"

# A child of a flat parent made by vmdkx; nbdcopy fills it.
nbdkit -U - "$(plugin vmdkx)" file="$tmp/f.vmdk" create=true \
  create-size=5M create-type=monolithicFlat --run "nbdcopy '$raw' \"\$uri\""
nbdkit -U - "$(plugin vmdkx)" file="$tmp/fc.vmdk" create=true \
  create-parent="$tmp/f.vmdk" --run "nbdcopy '$tmp/copy.raw' \"\$uri\""
qemu-img compare -q -f vmdk -F raw "$tmp/fc.vmdk" "$tmp/copy.raw"
vmdkw_check "$tmp/fc.vmdk"

# A child's size is its parent's; a flat or stream child is refused.
for bad in "create-size=1M" "create-type=monolithicFlat" \
           "create-type=streamOptimized"; do
  rm -f "$tmp/x.vmdk"
  expect_open_error vmdkx "$tmp/x.vmdk" 'size of the parent|sparse VMDK|cannot have a parent' \
    create=true create-parent="$tmp/p.vmdk" $bad
  [ ! -e "$tmp/x.vmdk" ]
done
