#!/usr/bin/env bash
# Two NBD connections allocating the same blocks at once, for each
# writer (VHD, VHDX, VDI, VMDK, and a VHD differencing child): each
# client has every request in flight at once (qemu-io aio_write), and
# both go through the same unallocated blocks in the same order, writing
# interleaved 4 KiB stripes and, in each block, 1000 bytes that share a
# 512-byte sector with the other client's.  Whatever the interleaving,
# every byte must then read back as the same writes applied to a raw
# file (through the plugin and through qemu), and the image must pass
# the check op.  (Races are not forced: a correct writer always passes,
# a racy one is caught when the interleaving exposes it.)
source "$srcdir/functions.sh"
set -e -x

source "$srcdir/writers-functions.sh"

# client_ops C BLOCK: the qemu-io commands of client C (0 or 1), block
# size BLOCK, over every block of the disk.
client_ops ()
{
  local c=$1 bs=$2 b j
  for (( b = 0; b < size / bs; b++ )); do
    for (( j = 0; j < 4; j++ )); do
      echo "aio_write -P $(( 0x10 + c * 0x40 + b % 32 + j )) $(( b * bs + (2 * j + c) * 4096 )) 4096"
    done
    echo "aio_write -P $(( 0xc0 + c * 0x10 + b % 16 )) $(( b * bs + 40000 + c * 1000 )) 1000"
  done
  echo aio_flush
}

# race PLUGIN IMG QEMUFMT BLOCK RAW: both clients at once into IMG (which
# reads as RAW now), then compare.
race ()
{
  local p=$1 img=$2 fmt=$3 bs=$4 raw=$5 c
  for c in 0 1; do
    client_ops $c $bs > "$tmp/ops$c"
    qemu-io -f raw "$raw" < "$tmp/ops$c" > /dev/null
  done
  nbdkit -U - "$(plugin $p)" file="$img" --run "
    qemu-io -f raw \"\$uri\" < '$tmp/ops0' > '$tmp/out0' 2>&1 & a=\$!
    qemu-io -f raw \"\$uri\" < '$tmp/ops1' > '$tmp/out1' 2>&1 & b=\$!
    wait \$a && wait \$b"
  for c in 0 1; do
    if grep -Ei 'fail|error' "$tmp/out$c"; then exit 1; fi
    test "$(grep -o 'wrote [0-9]*/[0-9]* bytes' "$tmp/out$c" | wc -l)" = \
      $(( size / bs * 5 ))
  done
  "$xdisk_check" "$img"
  serve_to_raw $p "$img" "$tmp/back"
  cmp "$raw" "$tmp/back"
  [ "$fmt" = none ] || qemu-img compare -q -f raw -F $fmt "$raw" "$img"
}

# new QEMUFMT OPTS: an empty qemu-made image and an all-zero raw.
new ()
{
  rm -f "$tmp/img.$1" "$tmp/raw"
  qemu-img create -q -f $1 -o "$2" "$tmp/img.$1" $size
  truncate -s $size "$tmp/raw"
}

new vpc subformat=dynamic,force_size=on
race vhdx "$tmp/img.vpc" vpc $(( 2 * M )) "$tmp/raw"
new vhdx block_size=1M
race vhdx "$tmp/img.vhdx" vhdx $M "$tmp/raw"
new vdi static=off
race vdix "$tmp/img.vdi" vdi $M "$tmp/raw"
new vmdk subformat=monolithicSparse
race vmdkx "$tmp/img.vmdk" vmdk $(( 64 * 1024 )) "$tmp/raw"

# A VHD child over a parent with data everywhere: the unwritten sectors
# of each block come from the parent while both clients fill it.
qemu-img create -q -f vpc -o subformat=dynamic,force_size=on "$tmp/parent.vhd" $size
qemu-io -f vpc -c "write -P 0x33 0 $size" "$tmp/parent.vhd" >/dev/null
qemu-img convert -f vpc -O raw "$tmp/parent.vhd" "$tmp/raw"
nbdkit -U - "$(plugin vhdx)" file="$tmp/child.vhd" create=true \
  create-parent="$tmp/parent.vhd" --run true
race vhdx "$tmp/child.vhd" none $(( 2 * M )) "$tmp/raw"
