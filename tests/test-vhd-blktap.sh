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
# Seeded random writes, zeroes and trims on one: still valid.
check="$top_builddir/tests/xdisk-check -f vhd"    # for write_and_compare
img=$tmp/d-33527808.vhd
write_and_compare "$img" "$tmp/d-33527808.raw" 19 60 1 qemu
$vhdutil -b -g "$img"

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
write_and_compare "$tmp/c-31460864.vhd" "$tmp/d-31460864.raw" 20 60 0
$vhdutil -b -g "$tmp/c-31460864.vhd"

# ---- the checker refuses what blktap refuses ----
err=$tmp/err
# poke IMG WHERE OFFSET HEX: write the bytes HEX at OFFSET of the footer
# at the end ("end"), of its copy at 0 ("start"), of both ("footers"),
# of the dynamic header ("header"), each with its checksum fixed, or at
# OFFSET of the file ("at").
poke ()
{
  python3 - "$@" <<'PY'
import sys
name, where, off, data = sys.argv[1], sys.argv[2], int(sys.argv[3]), \
    bytes.fromhex(sys.argv[4])
def fix(buf, field):
    buf[field:field + 4] = bytes(4)
    buf[field:field + 4] = (~sum(buf) & 0xFFFFFFFF).to_bytes(4, "big")
with open(name, "r+b") as f:
    end = f.seek(0, 2) - 512
    places = {"end": [(end, 512, 64)], "start": [(0, 512, 64)],
              "footers": [(end, 512, 64), (0, 512, 64)],
              "header": [(512, 1024, 36)], "at": [(0, None, None)]}
    for base, size, field in places[where]:
        f.seek(base)
        buf = bytearray(f.read(size if size else off + len(data)))
        buf[off:off + len(data)] = data
        if field is not None:
            fix(buf, field)
        f.seek(base)
        f.write(buf)
PY
}
refused ()                      # IMG MESSAGE [checker options]
{
  expect_failure "$err" $vhdutil "${@:3}" "$1"
  grep -F -- "$2" "$err"
}
hex () { printf %s "$1" | od -An -tx1 | tr -d ' \n'; }

# The old layout: creator "xdsk", 65535/16/255 for a size that is not
# whole cylinders.  qemu read it at its size; blktap refuses it.
img=$tmp/d-31460864.vhd
cp "$img" "$tmp/keep.vhd"
poke "$img" footers 28 "$(hex xdsk)"
poke "$img" footers 56 ffff10ff
test "$(qemu_size "$img")" = 31460864
refused "$img" "primary footer invalid: geometry too large"
# One cylinder more than the specification's (903/4/17) is too large.
poke "$img" footers 56 03880411
refused "$img" "geometry too large"
poke "$img" footers 56 03870411
$vhdutil "$img"
if [ -n "$big" ]; then
  # At 127 GiB too; from 65535 x 16 x 255 sectors on, 65535/16/255 is
  # the specification's own geometry and passes.
  poke "$tmp/d-$(( 127 * G )).vhd" footers 56 ffff10ff
  refused "$tmp/d-$(( 127 * G )).vhd" "geometry too large"
  poke "$tmp/d-$(( 200 * G )).vhd" footers 56 ffff10ff
  $vhdutil "$tmp/d-$(( 200 * G )).vhd"
fi

# The other rules, each broken once in a copy of a good image (blocks
# 0, 4, 5 and 9 present).
bad=$tmp/bad.vhd
fresh () { cp "$tmp/d-20971520.vhd" "$bad"; }
fresh; poke "$bad" at $(( $(stat -c %s "$bad") - 1 )) ff
refused "$bad" "primary footer invalid: invalid checksum"
fresh; poke "$bad" footers 24 ffffff00
refused "$bad" "creation time in future"
fresh; poke "$bad" footers 100 01
refused "$bad" "invalid 'reserved' bits"
fresh; poke "$bad" footers 8 00000000
refused "$bad" "invalid 'reserved' feature"
fresh; poke "$bad" footers 60 00000005
refused "$bad" "invalid data offset"
fresh; poke "$bad" start 36 "$(hex 'Mac ')"
refused "$bad" "primary and backup footers do not match"
fresh; poke "$bad" header 24 00020000
refused "$bad" "header is invalid: invalid header version"
fresh; poke "$bad" header 32 00300000
refused "$bad" "header is invalid: invalid block size"
fresh; poke "$bad" header 576 "$(hex W2ku)"
refused "$bad" "invalid non-null parent locators"
e0=$(be "$bad" 1536 4)
fresh; poke "$bad" at 1536 00000002
refused "$bad" "block 0 (offset 0x2) clobbers headers"
fresh; poke "$bad" at 1540 "$(printf %08x $(( e0 + 1 )))"
refused "$bad" "clobbers block"
fresh; poke "$bad" at 1536 "$(printf %08x $(( $(stat -c %s "$bad") / 512 - 4000 )))"
refused "$bad" "clobbers footer"
# The sector bitmap: sector 0 of block 0 holds data; clear its bit.
fresh; poke "$bad" at $(( e0 * 512 )) 7f
$vhdutil "$bad"
refused "$bad" "sector 0x0 of block 0x0 has data where bitmap is clear" -b

# A differencing child: another parent UUID; a parent name that is not
# the locators' file name; its parent gone.
child=$tmp/c-31460864.vhd
mv "$tmp/keep.vhd" "$tmp/d-31460864.vhd"
$vhdutil "$child"
cp "$child" "$bad"
poke "$bad" header 40 00
refused "$bad" "invalid parent uuid"
cp "$child" "$bad"
poke "$bad" header 64 0058
refused "$bad" "does not match header name"
mv "$tmp/d-31460864.vhd" "$tmp/gone.vhd"
refused "$child" "error resolving"

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
