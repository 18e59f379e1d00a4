#!/usr/bin/env bash
# VDI layouts qemu-img cannot make or read: block sizes from 512 bytes to
# 256 MiB, extra block data, headers 1.0 and 0.0, disk sizes that are
# not a multiple of the block size (or of 512), zero blocks, fixed
# images, undo images.  Made by vdi-mkdiff.py; every byte compared with
# an expectation written alongside with dd.
source "$srcdir/functions.sh"
source "$srcdir/vdi-functions.sh"
set -e -x

requires_plugin vdix
requires nbdcopy --version
requires nbdinfo --version
requires python3 --version
requires jq --version
make_tmpdir

# make FLAVOUR BLOCK_SIZE EXTRA SIZE TYPE: an image with data at block
# edges, a zero block and a free block; checked against $raw.
make ()
{
  local flavour=$1 bs=$2 extra=$3 size=$4 type=$5
  img=$tmp/t-$flavour-$bs-$extra-$size-$type.vdi
  raw=$tmp/expect.raw
  $mkdiff create "$img" $size --flavour $flavour --block-size $bs \
    --extra $extra --type $type
  truncate -s 0 "$raw"; truncate -s $size "$raw"
  put "$img" "$raw" 0 100 0x11
  put "$img" "$raw" $(( bs - 10 )) 20 0x22
  if (( 4 * bs + bs / 2 <= size )); then
    put "$img" "$raw" $(( 3 * bs + bs / 2 )) $(( bs )) 0x33
  fi
  put "$img" "$raw" $(( size - 7 )) 7 0x44
  # Block 1 was written: make it a zero block.  Block 2 stays free.
  zero_block "$img" "$raw" 1 $bs
  expect_raw "$img" "$raw"
}

for bs in 512 4096 65536 $(( 1 << 20 )) $(( 2 << 20 )); do
  make vbox $bs 0 $(( 8 * bs + 1000 )) dynamic
done
make vbox $(( 256 << 20 )) 0 $(( 600 << 20 )) dynamic
make vbox 4096 512 $(( 40 * 4096 )) dynamic
make vbox 65536 65536 $(( 7 * 65536 - 512 )) dynamic
make qemu 4096 0 $(( 10 * 4096 + 1 )) dynamic
make v10 65536 4096 $(( 10 * 65536 )) dynamic
make v0 4096 0 $(( 10 * 4096 + 512 )) dynamic
make v0 $(( 1 << 20 )) 0 $(( 5 << 20 )) undo
make vbox 4096 0 $(( 12 * 4096 )) fixed
make qemu 65536 1024 $(( 6 * 65536 + 3 )) fixed

# The map: zero and free blocks are holes; block size is preferred.
img=$tmp/map.vdi
$mkdiff create "$img" $(( 8 << 20 )) --block-size $(( 1 << 20 ))
$mkdiff write "$img" $(( 2 << 20 )) $(( 2 << 20 )) 0x55
$mkdiff zero "$img" 5
nbdkit -U - -r "$(plugin vdix)" file="$img" \
  --run 'nbdinfo --map "$uri"' > "$tmp/map"
cat "$tmp/map"
grep -Eq '^ *0 +2097152 +3 +hole,zero' "$tmp/map"
grep -Eq '^ *2097152 +2097152 +0 +data' "$tmp/map"
grep -Eq '^ *4194304 +4194304 +3 +hole,zero' "$tmp/map"

# A big sparse disk with small blocks: its 4 MiB block map is paged
# through a small cache (cache=), and reads still agree.
img=$tmp/big.vdi
raw=$tmp/big.raw
size=$(( 512 << 20 ))
$mkdiff create "$img" $size --block-size 512
truncate -s $size "$raw"
for off in 0 $(( 100 << 20 )) $(( 300 << 20 )) $(( size - 4096 )); do
  put "$img" "$raw" $off 4096 0x66
done
expect_raw "$img" "$raw" cache=64K
expect_raw "$img" "$raw"

# The description names the type, block size, UUIDs.
uuid=$($mkdiff uuid "$tmp/map.vdi")
nbdkit -U - -r "$(plugin vdix)" file="$tmp/map.vdi" \
  --run 'nbdinfo --json "$uri"' | jq -r '.exports[0].description' \
  > "$tmp/desc"
cat "$tmp/desc"
grep -q "VDI dynamic" "$tmp/desc"
grep -q "1 MiB blocks" "$tmp/desc"
grep -q "$uuid" "$tmp/desc"
