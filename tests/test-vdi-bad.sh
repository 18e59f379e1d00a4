#!/usr/bin/env bash
# Damaged VDI images: each is refused with an error naming the file and
# the field, or, for a block map entry pointing beyond the end of the
# file, served until a read reaches that block, which fails with EIO.
source "$srcdir/functions.sh"
source "$srcdir/vdi-functions.sh"
set -e -x

requires_plugin vdix
requires nbdcopy --version
requires qemu-io --version
requires python3 --version
make_tmpdir
M=$(( 1 << 20 ))

good=$tmp/good.vdi
$mkdiff create "$good" $(( 4 * M ))
$mkdiff write "$good" 0 $(( 2 * M )) 0x5a
qemu_good=$tmp/qemu.vdi
qemu-img create -q -f vdi "$qemu_good" 4M

# damage NAME WHAT PATTERN [poke arguments]: a copy of the good image
# with one field changed must be refused with an error matching PATTERN.
damage ()
{
  local name=$1 src=$2 pattern=$3
  shift 3
  cp "$src" "$tmp/$name.vdi"
  $mkdiff poke "$tmp/$name.vdi" "$@"
  expect_open_error vdix "$tmp/$name.vdi" "$pattern"
  grep -q "$tmp/$name.vdi" "$tmp/err"
}

# Not a VDI at all, or truncated.
head -c 300 "$good" > "$tmp/short.vdi"
expect_open_error vdix "$tmp/short.vdi" "VDI header is truncated"
: > "$tmp/empty.vdi"
expect_open_error vdix "$tmp/empty.vdi" "VDI|raw"
damage badsig "$good" "not a VDI|no signature|raw" 0x40 u32 0xbeda107e
damage version "$good" "unsupported VDI header version 2.0" 0x44 u32 0x00020000
damage hdrsize "$good" "header size 383" 0x48 u32 383
damage hdrbig "$qemu_good" "block map offset 512 is inside the header" \
  0x48 u32 1000
damage type0 "$good" "image type 0" 0x4c u32 0
damage type9 "$good" "image type 9" 0x4c u32 9
damage mapoff "$good" "block map offset 100 is inside the header" \
  0x154 u32 100
damage dataoff "$qemu_good" "data offset 512 is inside the block map" \
  0x158 u32 512
damage bs3 "$good" "block size 3 is not a power of 2" 0x178 u32 3
damage bs256 "$good" "block size 256" 0x178 u32 256
damage bshuge "$good" "block size 2147483648" 0x178 u32 0x80000000
damage extra "$good" "block extra data size 1000" 0x17c u32 1000
damage blocks0 "$good" "block count is 0" 0x180 u32 0
damage blocksfew "$good" "block count 3 is too small" 0x180 u32 3
damage blocksmany "$good" "data offset .* is inside the block map" \
  0x180 u32 0xffffffff
damage allocated "$good" "allocated block count 5" 0x184 u32 5
damage size0 "$good" "disk size is 0" 0x170 u64 0
damage sizehuge "$good" "block count 4 is too small" 0x170 u64 0xffffffffffffffff
damage noparent "$good" "parent UUID is null in a differencing image" \
  0x4c u32 4

# The block map beyond the end of the file.
cp "$qemu_good" "$tmp/mapeof.vdi"
$mkdiff poke "$tmp/mapeof.vdi" 0x154 u32 $(( 64 * M ))
$mkdiff poke "$tmp/mapeof.vdi" 0x158 u32 $(( 65 * M ))
expect_open_error vdix "$tmp/mapeof.vdi" "block map .* is beyond the end of the file"
cp "$good" "$tmp/maptrunc.vdi"
truncate -s $(( M + 8 )) "$tmp/maptrunc.vdi"
expect_open_error vdix "$tmp/maptrunc.vdi" "block map .* is beyond the end of the file"

# An entry beyond the end of the file: the image opens, the read of
# that block fails with EIO and names the block; other blocks read.
for entry in 2 1000 0xfffffffd; do
  cp "$good" "$tmp/entry.vdi"
  $mkdiff point "$tmp/entry.vdi" 3 $entry
  expect_failure "$tmp/err" nbdkit -U - -r "$(plugin vdix)" file="$tmp/entry.vdi" \
    --run 'qemu-io -r -f raw "$uri" -c "read -P 0x5a 0 1M" -c "read 3M 4k"' \
    > "$tmp/out"
  cat "$tmp/out"
  grep -q "read 1048576/1048576 bytes" "$tmp/out"
  grep -q "Input/output error" "$tmp/out" "$tmp/err"
  grep -q "VDI block map entry $(( entry )) for block 3 points beyond the end of the file" "$tmp/err"
done
# A file cut inside the data area, as a failed copy leaves it.
cp "$good" "$tmp/cut.vdi"
truncate -s $(( 3 * M + 100 )) "$tmp/cut.vdi"
if nbdkit -U - -r "$(plugin vdix)" file="$tmp/cut.vdi" \
     --run 'nbdcopy "$uri" null:' 2> "$tmp/err"; then
  echo "reading a cut file succeeded"; exit 1
fi
grep -q "block 1 points beyond the end of the file" "$tmp/err"

# A file of another format is refused with a hint.
qemu-img create -q -f qcow2 "$tmp/x.qcow2" 1M
qemu-img create -q -f vpc "$tmp/x.vhd" 1M
expect_open_error vdix "$tmp/x.vhd" "vhdx"
