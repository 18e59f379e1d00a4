#!/usr/bin/env bash
# Writing into VMDKs made by qemu-img: monolithicSparse,
# twoGbMaxExtentSparse (hosted sparse, with and without zeroed-grain
# entries), monolithicFlat and twoGbMaxExtentFlat.  Random writes and
# zeros, unaligned and across grain boundaries, go to the image and to
# a raw copy; the image must then read as the raw, for qemu-img and for
# vmdkx, and pass qemu-img check and the check op.  Discards punch
# holes in allocated grains (reading as zeros) and allocate nothing.  The first write
# gives the disk a new CID; nbdkit -r leaves the file untouched.
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
vmdkw_make_raw "$raw" $(( 6 * 1024 * 1024 + 512 * 3 ))

cid ()
{
  grep -a '^CID=' "$1" | head -1
}

seed=1
for opts in subformat=monolithicSparse \
            subformat=monolithicSparse,zeroed_grain=on \
            subformat=twoGbMaxExtentSparse \
            subformat=monolithicFlat \
            subformat=twoGbMaxExtentFlat; do
  rm -f "$tmp"/q*.vmdk
  qemu-img convert -f raw -O vmdk -o "$opts" "$raw" "$tmp/q.vmdk"
  cp "$raw" "$tmp/copy.raw"
  before=$(cid "$tmp/q.vmdk")

  # Served read-only: not one byte changes.
  sum=$(cat "$tmp"/q*.vmdk | md5sum)
  serve_to_raw vmdkx "$tmp/q.vmdk" "$tmp/ro.raw"
  [ "$(cat "$tmp"/q*.vmdk | md5sum)" = "$sum" ]

  TRIM=trim vmdkw_random_writes "$tmp/q.vmdk" "$tmp/copy.raw" $seed 150
  [ "$(cid "$tmp/q.vmdk")" != "$before" ]
  vmdkw_check "$tmp/q.vmdk"
  # Again, in a second session: the CID stays until the next one.
  vmdkw_random_writes "$tmp/q.vmdk" "$tmp/copy.raw" $(( seed + 100 )) 50
  vmdkw_check "$tmp/q.vmdk"
  seed=$(( seed + 1 ))
done

# An empty image made by qemu-img create: every grain is new.
rm -f "$tmp"/q*.vmdk
qemu-img create -q -f vmdk "$tmp/q.vmdk" 5M
truncate -s 0 "$tmp/copy.raw"
truncate -s 5M "$tmp/copy.raw"
vmdkw_random_writes "$tmp/q.vmdk" "$tmp/copy.raw" 99 100
vmdkw_check "$tmp/q.vmdk"

# Zeros over allocated grains read as zeros and allocate nothing new.
size=$(stat -c %s "$tmp/q.vmdk")
nbdkit -U - "$(plugin vmdkx)" file="$tmp/q.vmdk" \
  --run 'qemu-io -f raw -c "write -z 0 5M" "$uri"' >/dev/null
[ "$(stat -c %s "$tmp/q.vmdk")" = "$size" ]
truncate -s 0 "$tmp/copy.raw"
truncate -s 5M "$tmp/copy.raw"
qemu-img compare -q -f vmdk -F raw "$tmp/q.vmdk" "$tmp/copy.raw"

# Zeros into unallocated grains of an image without a parent allocate
# nothing either.
rm -f "$tmp/q.vmdk"
qemu-img create -q -f vmdk "$tmp/q.vmdk" 5M
size=$(stat -c %s "$tmp/q.vmdk")
nbdkit -U - "$(plugin vmdkx)" file="$tmp/q.vmdk" \
  --run 'qemu-io -f raw -c "write -z 1000 3M" "$uri"' >/dev/null
[ "$(stat -c %s "$tmp/q.vmdk")" = "$size" ]
vmdkw_check "$tmp/q.vmdk"

# Several clients at once (multi-conn), disjoint ranges, then verified.
rm -f "$tmp/q.vmdk"
qemu-img create -q -f vmdk "$tmp/q.vmdk" 8M
nbdkit -U - "$(plugin vmdkx)" file="$tmp/q.vmdk" --run '
  for i in 0 1 2 3 4 5 6 7; do
    qemu-io -f raw -c "write -P $((i + 1)) $((i * 1048576 + 100)) 1000000" "$uri" >/dev/null &
  done
  wait'
for i in 0 1 2 3 4 5 6 7; do
  qemu-io -f vmdk -r -c "read -P $((i + 1)) $((i * 1048576 + 100)) 1000000" \
    "$tmp/q.vmdk" > "$tmp/io.out"
  refute_grep 'verification failed' "$tmp/io.out"
done
vmdkw_check "$tmp/q.vmdk"
