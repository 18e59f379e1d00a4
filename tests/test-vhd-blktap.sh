#!/usr/bin/env bash
# VHDs that XenServer and XCP-ng accept: every VHD the plugin creates
# (fixed, dynamic, differencing; sizes that are whole CHS cylinders and
# sizes that are not; below and above the 136.9 GB where the CHS
# geometry tops out) passes the rules of blktap's "vhd-util check"
# (tests/vhd-util-check.py, an independent implementation of them),
# and qemu-img 7.2 still reads it at its exact size and byte for byte.
# The footer is Hyper-V's layout: creator "win ", the specification's
# geometry.  The old layout (65535/16/255 below 136.9 GB) is refused
# ("geometry too large"), as blktap refuses it.
source "$srcdir/functions.sh"
source "$srcdir/vhd-write-functions.sh"
set -e -x

requires_plugin vhdx
requires python3 --version
requires qemu-img --version
requires qemu-io --version
requires nbdcopy --version
make_tmpdir

p=$(plugin vhdx)
vhdutil="python3 $srcdir/vhd-util-check.py"
G=$(( 1024 * 1048576 ))

qemu_size ()
{
  qemu-img info -f vpc --output=json "$1" |
    sed -n 's/.*"virtual-size": \([0-9]*\).*/\1/p'
}
# write_both IMG RAW SIZE CREATE-OPTIONS...: the same writes into RAW
# and, through the plugin, into IMG created with the options: the
# start, an unaligned run across a 2 MiB block boundary in the middle,
# the last 4 KiB.
write_both ()
{
  local img=$1 raw=$2 size=$3 mid=$(( $3 / 2 / 2097152 * 2097152 - 1000 ))
  shift 3
  printf '%s\n' "write -P 0x11 0 65536" "write -P 0x22 $mid 70000" \
    "write -P 0x33 $(( size - 4096 )) 4096" > "$tmp/ops"
  truncate -s "$size" "$raw"
  qemu-io -f raw "$raw" < "$tmp/ops" > "$tmp/ops.out"
  nbdkit -U - "$p" file="$img" create=true "$@" \
    --run "qemu-io -f raw \"\$uri\" < $tmp/ops" >> "$tmp/ops.out"
  test "$(grep -c wrote "$tmp/ops.out")" = 6
}
# Every check on IMG of SIZE, a copy of RAW.
check_vhd ()                    # IMG RAW SIZE
{
  local img=$1 raw=$2 size=$3 fsize foot
  # qemu 7.2 serves the exact size only for the creators it knows.
  test "$(qemu_size "$img")" = "$size"
  qemu-img compare -q -f raw "$raw" -F vpc "$img"
  $vhdutil -b -g "$img"                     # -g: the spec's geometry
  fsize=$(stat -c %s "$img")
  foot=$(( fsize - 512 ))
  test "$(field "$img" $(( foot + 28 )) 4)" = "win "        # creator
  test "$(be "$img" $(( foot + 48 )) 8)" = "$size"          # current size
  $top_builddir/tests/xdisk-check -f vhd "$img"
}

small="20971520 33527808 31460864"      # whole MiB; 963/4/17; neither
big=
if truncate -s 200G "$tmp/probe" 2>/dev/null; then
  # Hyper-V's default 127 GiB (where 65535/16/255 fails blktap), the
  # largest CHS size exactly, and past it.
  big="$(( 127 * G )) 136899993600 $(( 200 * G ))"
fi
rm -f "$tmp/probe"

# ---- fixed: the data and the footer (Azure: size + 512) ----
for size in $small $big; do
  img=$tmp/f-$size.vhd raw=$tmp/f-$size.raw
  write_both "$img" "$raw" "$size" create-type=fixed create-size="$size"
  test "$(stat -c %s "$img")" = $(( size + 512 ))
  check_vhd "$img" "$raw" "$size"
  rm -f "$img" "$raw"
done

# ---- dynamic ----
for size in $small $big; do
  img=$tmp/d-$size.vhd raw=$tmp/d-$size.raw
  write_both "$img" "$raw" "$size" create-size="$size"
  check_vhd "$img" "$raw" "$size"
  cmp <(field "$img" 0 512) <(field "$img" $(( $(stat -c %s "$img") - 512 )) 512)
done

# ---- differencing: children of two of those, written over ----
for size in 31460864 ${big:+$(( 127 * G ))}; do
  parent=$tmp/d-$size.vhd
  child=$tmp/c-$size.vhd raw=$tmp/d-$size.raw
  # Over a part of a block the parent has, and a block it has not.
  printf '%s\n' "write -P 0x44 4096 8192" \
    "write -P 0x55 $(( size - 3 * 1048576 )) 1048576" > "$tmp/ops"
  qemu-io -f raw "$raw" < "$tmp/ops" > "$tmp/ops.out"
  nbdkit -U - "$p" file="$child" create=true create-parent="$parent" \
    --run "qemu-io -f raw \"\$uri\" < $tmp/ops" >> "$tmp/ops.out"
  test "$(grep -c wrote "$tmp/ops.out")" = 4
  $vhdutil -b -g "$child"
  test "$(field "$child" 28 4)" = "win "
  test "$(qemu_size "$child")" = "$size"
  # qemu reads no VHD parents: the chain is compared through the plugin.
  nbdkit -r -U - "$p" file="$child" \
    --run "qemu-img compare -q -f raw \"$raw\" -F raw \"\$uri\""
done

# ---- the checker refuses what blktap refuses ----
err=$tmp/err
# set_footer IMG C H S [CREATOR]: patch the footer (and its copy at 0
# when there is one) and fix the checksums.
set_footer ()
{
  python3 - "$@" <<'EOF'
import struct, sys
name, c, h, s = sys.argv[1], *map(int, sys.argv[2:5])
creator = sys.argv[5].encode() if len(sys.argv) > 5 else None
with open(name, "r+b") as f:
    f.seek(0, 2)
    end = f.tell() - 512
    f.seek(0)
    copies = [end] + ([0] if f.read(8) == b"conectix" else [])
    for off in copies:
        f.seek(off)
        ft = bytearray(f.read(512))
        ft[56:60] = struct.pack(">HBB", c, h, s)
        if creator:
            ft[28:32] = creator
        ft[64:68] = b"\0\0\0\0"
        ft[64:68] = struct.pack(">I", ~sum(ft) & 0xFFFFFFFF)
        f.seek(off)
        f.write(ft)
EOF
}
# The old layout: creator "xdsk", 65535/16/255 for a size that is not
# whole cylinders.  qemu read it at its size; blktap refuses it.
img=$tmp/d-31460864.vhd
set_footer "$img" 65535 16 255 xdsk
test "$(qemu_size "$img")" = 31460864
expect_failure "$err" $vhdutil "$img"
grep "primary footer invalid: geometry too large" "$err"
# One cylinder more than the specification's is too large already.
set_footer "$img" 904 4 17 "win "
expect_failure "$err" $vhdutil "$img"
grep "geometry too large" "$err"
set_footer "$img" 903 4 17
$vhdutil "$img"
if [ -n "$big" ]; then
  # At 127 GiB too; from 65535 x 16 x 255 sectors on, 65535/16/255 is
  # the specification's own geometry and passes.
  set_footer "$tmp/d-$(( 127 * G )).vhd" 65535 16 255 xdsk
  expect_failure "$err" $vhdutil "$tmp/d-$(( 127 * G )).vhd"
  grep "geometry too large" "$err"
  set_footer "$tmp/d-$(( 200 * G )).vhd" 65535 16 255 xdsk
  $vhdutil "$tmp/d-$(( 200 * G )).vhd"
fi

# A differencing child whose parent has gone: its locators resolve to
# nothing.
mv "$tmp/d-31460864.vhd" "$tmp/gone.vhd"
expect_failure "$err" $vhdutil "$tmp/c-31460864.vhd"
grep "error resolving" "$err"

# vhd-util counts the disk in 2 MiB blocks whatever the block size: a
# VHD of larger blocks has "more blocks than its BAT".  XenServer makes
# 2 MiB blocks only: keep the default.
img=$tmp/b4.vhd
nbdkit -U - "$p" file="$img" create=true create-size=20M \
  create-block-size=4M --run true
expect_failure "$err" $vhdutil "$img"
grep "exceeds BAT size" "$err"
nbdkit -U - "$p" file="$img" create=true create-size=20M \
  create-block-size=512K create-overwrite=true --run true
$vhdutil "$img"
