#!/usr/bin/env bash
# Creating every kind of VMDK (create=true): raw -> nbdcopy into vmdkx
# -> the new image; qemu-img decodes it as the raw (convert and
# compare) and libvmdk (when installed) decode it as the raw, vmdkx
# reads its own output back identically, and both qemu-img check and
# the format's check op find nothing wrong.  The
# extent files are named as VMware names them.
source "$srcdir/functions.sh"
source "$srcdir/vmdk-write-functions.sh"
set -e -x

requires_plugin vmdkx
requires qemu-img --version
requires nbdcopy --version
requires test -x "$xdisk_check"
make_tmpdir

raw=$tmp/in.raw
vmdkw_make_raw "$raw" $(( 9 * 1024 * 1024 + 512 ))

# create TYPE FILES...: create d.vmdk as TYPE, expect exactly FILES.
create ()
{
  local type=$1 img=$tmp/d.vmdk
  shift
  rm -f "$tmp"/d*.vmdk "$tmp/out.raw"
  nbdkit -U - "$(plugin vmdkx)" file="$img" create=true \
    create-size=$(stat -c %s "$raw") create-type="$type" \
    --run "nbdcopy '$raw' \"\$uri\""
  [ "$(cd "$tmp" && echo d*.vmdk)" = "$*" ]
  qemu-img convert -f vmdk -O raw "$img" "$tmp/out.raw"
  cmp "$raw" "$tmp/out.raw"
  serve_to_raw vmdkx "$img" "$tmp/back.raw"
  cmp "$raw" "$tmp/back.raw"
  qemu-img check -q -f vmdk "$img"
  vmdkw_libvmdk "$img" "$raw"
}

for t in monolithic-sparse monolithicSparse; do
  create $t d.vmdk
  "$xdisk_check" -f vmdk "$tmp/d.vmdk"
done
for t in split-sparse twoGbMaxExtentSparse; do
  create $t d-s001.vmdk d.vmdk
  "$xdisk_check" -f vmdk "$tmp/d.vmdk"
done
for t in monolithic-flat monolithicFlat vmfs-flat vmfs vmfs-thin vmfsThin; do
  create $t d-flat.vmdk d.vmdk
done
for t in split-flat twoGbMaxExtentFlat; do
  create $t d-f001.vmdk d.vmdk
done
for t in stream-optimized streamOptimized; do
  create $t d.vmdk
done

# The default is monolithicSparse.
rm -f "$tmp"/d*.vmdk
nbdkit -U - "$(plugin vmdkx)" file="$tmp/d.vmdk" create=true create-size=1M \
  --run 'nbdinfo --size "$uri"' | grep -qx 1048576
grep -aq 'createType="monolithicSparse"' "$tmp/d.vmdk"

# Split kinds across their 2047 MiB extents: data on both sides of the
# boundaries (sparse files: nothing large is written).
big=$tmp/big.raw
rm -f "$big"
truncate -s $(( 4500 * 1024 * 1024 )) "$big"
for mib in 0 2046 2047 4094 4095 4499; do
  random_bytes $mib 1048576 |
    dd of="$big" bs=1M seek=$mib conv=notrunc status=none
done
for t in split-sparse:s split-flat:f; do
  rm -f "$tmp"/d*.vmdk
  nbdkit -U - "$(plugin vmdkx)" file="$tmp/d.vmdk" create=true \
    create-size=$(stat -c %s "$big") create-type=${t%:*} \
    --run "nbdcopy '$big' \"\$uri\""
  x=${t#*:}
  [ "$(cd "$tmp" && echo d*.vmdk)" = "d-${x}001.vmdk d-${x}002.vmdk d-${x}003.vmdk d.vmdk" ]
  grep -a "^RW " "$tmp/d.vmdk" > "$tmp/extents"
  cat "$tmp/extents"
  [ "$(awk '{ print $2 }' "$tmp/extents" | tr '\n' ' ')" = "4192256 4192256 831488 " ]
  qemu-img compare -q -f vmdk -F raw "$tmp/d.vmdk" "$big"
  compare_with_qemu vmdkx "$tmp/d.vmdk" vmdk
  qemu-img check -q -f vmdk "$tmp/d.vmdk"
done
"$xdisk_check" -f vmdk "$tmp/d.vmdk"
