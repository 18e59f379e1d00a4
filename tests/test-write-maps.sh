#!/usr/bin/env bash
# The extents the writers report for what they wrote, compared with an
# independent reader's: qemu-img map of the same VHD, VHDX, VDI and VMDK
# images after seeded writes, zeros and trims through the plugin (and
# of an OVA's inner disk, against the map the OVA plugin serves).
# compare_map_loosely: whatever qemu reads as zero the plugin reports as
# zero, and whatever the plugin reports as zero reads as zeros.  Every
# byte is compared with the same requests applied to a raw file.
source "$srcdir/functions.sh"
source "$srcdir/vhd-write-functions.sh"
set -e -x -o pipefail
source "$srcdir/writers-functions.sh"
requires jq --version

# written PLUGIN QEMUFMT OPTS SEED: a qemu-made image with data in
# places, then seeded writes and zeros (unmapping) through PLUGIN; bytes
# and map compared.
written ()
{
  local p=$1 fmt=$2 img=$tmp/img.$2 ops=$tmp/ops
  rm -f "$img" "$tmp/raw"
  truncate -s $size "$tmp/raw"
  qemu-io -f raw -c "write -P 0x21 0 3M" -c "write -P 0x22 9M 2M" \
    "$tmp/raw" >/dev/null
  qemu-img convert -f raw -O $fmt -o "$3" "$tmp/raw" "$img"
  echo "seed $4" >&2
  gen_ops "$4" $size $M 50 0 > "$ops"
  # Whole blocks zeroed and trimmed too, so that blocks come and go (a
  # trimmed whole block reads as zeros in every format; part of one may
  # keep its data).
  printf 'write -z %d %d\ndiscard %d %d\n' $M $M $(( 9 * M )) $M >> "$ops"
  nbdkit -U - "$(plugin $p)" file="$img" \
    --run "qemu-io -f raw \"\$uri\" < $ops > $ops.out 2>&1"
  if grep -Ei "fail|error" "$ops.out"; then exit 1; fi
  apply_ops "$tmp/raw" raw "$ops"
  "$xdisk_check" "$img"
  qemu-img compare -q -f raw -F $fmt "$tmp/raw" "$img"
  compare_map_loosely $p "$img" $fmt
  # A map that is not empty and covers the disk.
  awk '{ n += $2 } END { exit n != '$size' }' "$tmp/map.plugin"
}

written vhdx vpc subformat=dynamic,force_size=on 51
written vhdx vhdx block_size=1M 52
written vdix vdi static=off 53
written vmdkx vmdk subformat=monolithicSparse 54

# An OVA's disk: the map diskx serves against qemu's map of the inner
# streamOptimized disk.
requires_plugin diskx
requires tar --version
source "$srcdir/ova-functions.sh"
qemu-img convert -f raw -O vmdk -o subformat=streamOptimized "$tmp/raw" \
  "$tmp/disk.vmdk"
make_ovf "$tmp/app.ovf" $size disk.vmdk
tar -C "$tmp" -cf "$tmp/app.ova" app.ovf disk.vmdk
qemu-img map -f vmdk --output=json "$tmp/disk.vmdk" | jq -r "$_merge_map" \
  > "$tmp/map.qemu"
nbdkit -U - -r "$(plugin diskx)" file="$tmp/app.ova" \
  --run 'qemu-img map -f raw --output=json "$uri"' | jq -r "$_merge_map" \
  > "$tmp/map.ova"
diff -u "$tmp/map.qemu" "$tmp/map.ova"
serve_to_raw diskx "$tmp/app.ova" "$tmp/back"
cmp "$tmp/raw" "$tmp/back"
