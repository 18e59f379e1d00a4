#!/usr/bin/env bash
# What the vhdx and vmdkx plugins write, read back by another reader:
# libyal's libvhdi (VHD and VHDX, 4096-byte sectors and differencing
# chains included) and libvmdk (VMDK deltas), through their Python
# bindings for /usr/bin/python3.  Each image is written with the same
# seeded qemu-io requests that are applied to a raw copy, and every
# byte libyal reads is compared with that copy.  (VDI children have no
# reader here: qemu refuses differencing VDIs and libyal has no VDI.)
source "$srcdir/functions.sh"
source "$srcdir/vhd-write-functions.sh"
set -e -x

requires_plugin vhdx
requires_plugin vmdkx
requires qemu-img --version
requires qemu-io --version
requires nbdcopy --version
requires /usr/bin/python3 -c 'import pyvhdi, pyvmdk'
make_tmpdir

M=$(( 1 << 20 ))
size=$(( 12 * M ))
compare="/usr/bin/python3 $srcdir/libyal-compare.py"

# A raw disk: patterns in some places, zeros elsewhere.
truncate -s $size "$tmp/disk.raw"
qemu-io -f raw -c "write -P 0x61 0 1500K" -c "write -P 0x62 $(( 5 * M - 700 )) 2M" \
  -c "write -P 0x63 $(( size - 4096 )) 4096" "$tmp/disk.raw" >/dev/null

# writes PLUGIN IMG RAW SEED N TRIMS [ALIGN]: the same N seeded requests
# through PLUGIN into IMG and into RAW (their offsets and lengths
# rounded to multiples of ALIGN, if given).
writes ()
{
  local p=$1 img=$2 raw=$3 ops=$tmp/ops.$4 size
  size=$(stat -c %s "$raw")
  echo "seed $4" >&2
  gen_ops "$4" $size $(( 2 * M )) "$5" "$6" |
    awk -v a="${7:-1}" -v size=$size '{
      off = int($(NF - 1) / a) * a; end = int(($(NF - 1) + $NF + a - 1) / a) * a
      if (end > size) end = size
      $(NF - 1) = off; $NF = end - off; print }' > "$ops"
  nbdkit -U - "$(plugin "$p")" file="$img" \
    --run "qemu-io -f raw \"\$uri\" < $ops > $ops.out 2>&1"
  if grep -Ei "fail|error" "$ops.out"; then exit 1; fi
  apply_ops "$raw" raw "$ops"
}

# create PLUGIN IMG RAW [create-*...]: IMG made by PLUGIN holding RAW.
create ()
{
  local p=$1 img=$2 raw=$3
  shift 3
  nbdkit -U - "$(plugin "$p")" file="$img" create=true \
    create-size="$(stat -c %s "$raw")" "$@" \
    --run "nbdcopy --synchronous '$raw' \"\$uri\""
}

# child PLUGIN IMG PARENT [create-*...]: a differencing child of PARENT.
child ()
{
  local p=$1 img=$2 parent=$3
  shift 3
  nbdkit -U - "$(plugin "$p")" file="$img" create=true \
    create-parent="$parent" "$@" --run true
}

# ---- VHDX with 4096-byte sectors (qemu reads only 512) ----
for type in fixed dynamic; do
  cp "$tmp/disk.raw" "$tmp/4k-$type.raw"
  create vhdx "$tmp/4k-$type.vhdx" "$tmp/4k-$type.raw" create-type=$type \
    create-sector-size=4096 create-block-size=1M
  writes vhdx "$tmp/4k-$type.vhdx" "$tmp/4k-$type.raw" 41 40 1
  $compare "$tmp/4k-$type.raw" "$tmp/4k-$type.vhdx"
done

# ---- VHDX children: of a qemu-made parent, of a child, of a 4k parent ----
qemu-img convert -f raw -O vhdx -o block_size=4M "$tmp/disk.raw" "$tmp/base.vhdx"
cp "$tmp/disk.raw" "$tmp/c1.raw"
child vhdx "$tmp/c1.vhdx" "$tmp/base.vhdx"
writes vhdx "$tmp/c1.vhdx" "$tmp/c1.raw" 42 40 0
$compare "$tmp/c1.raw" "$tmp/c1.vhdx" "$tmp/base.vhdx"
cp "$tmp/c1.raw" "$tmp/c2.raw"
child vhdx "$tmp/c2.vhdx" "$tmp/c1.vhdx" create-block-size=1M
writes vhdx "$tmp/c2.vhdx" "$tmp/c2.raw" 43 40 0
$compare "$tmp/c2.raw" "$tmp/c2.vhdx" "$tmp/c1.vhdx" "$tmp/base.vhdx"
cp "$tmp/4k-fixed.raw" "$tmp/c4k.raw"
child vhdx "$tmp/c4k.vhdx" "$tmp/4k-fixed.vhdx"
writes vhdx "$tmp/c4k.vhdx" "$tmp/c4k.raw" 44 40 0
$compare "$tmp/c4k.raw" "$tmp/c4k.vhdx" "$tmp/4k-fixed.vhdx"

# ---- VHD children: of a qemu-made dynamic parent, of a child ----
# Written in whole 4 KiB: libvhdi 20210425 reads the sectors after the
# last set bit of a partly set sector-bitmap byte as zeros instead of
# from the parent (seen with a bitmap byte 0x60 over a parent of 'a's:
# sector 0 'a', 1-2 the child's, 3-7 zeros).  Unaligned writes go to a
# child of an empty parent, where that reads right.
qemu-img convert -f raw -O vpc -o subformat=dynamic,force_size=on \
  "$tmp/disk.raw" "$tmp/base.vhd"
cp "$tmp/disk.raw" "$tmp/v1.raw"
child vhdx "$tmp/v1.vhd" "$tmp/base.vhd"
writes vhdx "$tmp/v1.vhd" "$tmp/v1.raw" 45 40 0 4096
$compare "$tmp/v1.raw" "$tmp/v1.vhd" "$tmp/base.vhd"
cp "$tmp/v1.raw" "$tmp/v2.raw"
child vhdx "$tmp/v2.vhd" "$tmp/v1.vhd"
writes vhdx "$tmp/v2.vhd" "$tmp/v2.raw" 46 40 0 4096
$compare "$tmp/v2.raw" "$tmp/v2.vhd" "$tmp/v1.vhd" "$tmp/base.vhd"
qemu-img create -q -f vpc -o subformat=dynamic,force_size=on "$tmp/empty.vhd" $size
truncate -s $size "$tmp/w1.raw"
child vhdx "$tmp/w1.vhd" "$tmp/empty.vhd"
writes vhdx "$tmp/w1.vhd" "$tmp/w1.raw" 48 60 0
$compare "$tmp/w1.raw" "$tmp/w1.vhd" "$tmp/empty.vhd"

# ---- VMDK deltas (qemu reads them too: test-vmdk-write-delta.sh) ----
qemu-img convert -f raw -O vmdk "$tmp/disk.raw" "$tmp/base.vmdk"
cp "$tmp/disk.raw" "$tmp/d1.raw"
child vmdkx "$tmp/d1.vmdk" "$tmp/base.vmdk"
writes vmdkx "$tmp/d1.vmdk" "$tmp/d1.raw" 47 40 0
$compare "$tmp/d1.raw" "$tmp/d1.vmdk" "$tmp/base.vmdk"
qemu-img compare -q -f vmdk -F raw "$tmp/d1.vmdk" "$tmp/d1.raw"
