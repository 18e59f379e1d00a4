#!/usr/bin/env bash
# Four NBD connections allocating the same blocks at once, for each
# writer (VHD, VHDX, VDI, VMDK, and a VHD differencing child): each
# client has every request in flight at once (qemu-io aio_write), and
# all go through the same unallocated blocks in the same order, writing
# interleaved 4 KiB stripes and, in each block, 1000 bytes that share a
# 512-byte sector with another client's.  Whatever the interleaving,
# every byte must then read back as the same writes applied to a raw
# file (through the plugin and through qemu), and the image must pass
# the check op.  (Races are not forced: a correct writer always passes,
# a racy one is caught when the interleaving exposes it.)
source "$srcdir/functions.sh"
set -e -x

source "$srcdir/writers-functions.sh"

# client_ops C BLOCK: the qemu-io commands of client C (of 4), block
# size BLOCK, over every block of the disk: the clients' 4 KiB stripes
# interleave in the first 48 KiB of each block, their 1000-byte pieces
# at 50000 (4000 bytes, the smallest block being a 64 KiB VMDK grain).
clients=4
client_ops ()
{
  local c=$1 bs=$2 b j
  for (( b = 0; b < size / bs; b++ )); do
    for (( j = 0; j < 3; j++ )); do
      echo "aio_write -P $(( 0x10 + c * 0x30 + b % 32 + j )) $(( b * bs + (clients * j + c) * 4096 )) 4096"
    done
    echo "aio_write -P $(( 0xc0 + c * 0x10 + b % 16 )) $(( b * bs + 50000 + c * 1000 )) 1000"
  done
  echo aio_flush
}

# race PLUGIN IMG QEMUFMT BLOCK RAW: all clients at once into IMG (which
# reads as RAW now), then compare.
race ()
{
  local p=$1 img=$2 fmt=$3 bs=$4 raw=$5 c run=
  for (( c = 0; c < clients; c++ )); do
    client_ops $c $bs > "$tmp/ops$c"
    qemu-io -f raw "$raw" < "$tmp/ops$c" > /dev/null
    run+="qemu-io -f raw \"\$uri\" < '$tmp/ops$c' > '$tmp/out$c' 2>&1 & p$c=\$!; "
  done
  for (( c = 0; c < clients; c++ )); do
    run+="wait \$p$c || exit 1; "
  done
  nbdkit -U - "$(plugin $p)" file="$img" --run "$run"
  for (( c = 0; c < clients; c++ )); do
    if grep -Ei 'fail|error' "$tmp/out$c"; then exit 1; fi
    test "$(grep -o 'wrote [0-9]*/[0-9]* bytes' "$tmp/out$c" | wc -l)" = \
      $(( size / bs * 4 ))
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
# of each block come from the parent while the clients fill it.
qemu-img create -q -f vpc -o subformat=dynamic,force_size=on "$tmp/parent.vhd" $size
qemu-io -f vpc -c "write -P 0x33 0 $size" "$tmp/parent.vhd" >/dev/null
qemu-img convert -f vpc -O raw "$tmp/parent.vhd" "$tmp/raw"
nbdkit -U - "$(plugin vhdx)" file="$tmp/child.vhd" create=true \
  create-parent="$tmp/parent.vhd" --run true
race vhdx "$tmp/child.vhd" none $(( 2 * M )) "$tmp/raw"
