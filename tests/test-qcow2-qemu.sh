#!/usr/bin/env bash
# qemu-made qcow2 images: compat 0.10 and 1.1, cluster sizes from 512 B
# to 2 MiB, lazy refcounts, preallocation, extended L2 entries,
# compressed clusters (zlib and, when built with libzstd, zstd), an
# external data file and internal snapshots: every byte and the map
# compared with qemu-img's decoding.
source "$srcdir/functions.sh"
source "$srcdir/qcow2-functions.sh"
set -e -x

requires_plugin qcow2x
requires qemu-img --version
requires qemu-io --version
requires nbdcopy --version
requires jq --version
make_tmpdir

# Versions and cluster sizes.
for compat in 0.10 1.1; do
  for cs in 512 4096 65536 2097152; do
    size=$(( 64 * cs ))
    [ $size -lt $(( 8 << 20 )) ] && size=$(( 8 << 20 ))
    img=$tmp/c-$compat-$cs.qcow2
    qemu-img create -q -f qcow2 -o compat=$compat,cluster_size=$cs \
      "$img" $size
    qcow2_patterns "$img" $cs $size
    qcow2_check "$img"
    rm -f "$img"
  done
done

# Lazy refcounts (the dirty bit stays set while qemu-io runs; set it
# afterwards with the header patch below), refcount widths, and
# metadata preallocation (allocated zero clusters).
img=$tmp/lazy.qcow2
qemu-img create -q -f qcow2 -o lazy_refcounts=on,refcount_bits=1 "$img" 16M
qcow2_patterns "$img" 65536 $(( 16 << 20 ))
qcow2_check "$img"
# Set the dirty bit (incompatible feature bit 0): it does not matter.
printf '\x01' | dd of="$img" bs=1 seek=79 conv=notrunc status=none
qcow2_check "$img"
for bits in 8 64; do
  img=$tmp/rc$bits.qcow2
  qemu-img create -q -f qcow2 -o refcount_bits=$bits "$img" 16M
  qcow2_patterns "$img" 65536 $(( 16 << 20 ))
  qcow2_check "$img"
done
img=$tmp/prealloc.qcow2
qemu-img create -q -f qcow2 -o preallocation=metadata "$img" 16M
qcow2_io "$img" 'write -P 0x66 1M 70k' 'write -z 4M 128k'
qcow2_check "$img"

# Extended L2 entries: subclusters allocated, zero and unallocated in
# one cluster, with and without a backing file.
for cs in 16384 65536 2097152; do
  img=$tmp/ext-$cs.qcow2
  qemu-img create -q -f qcow2 -o extended_l2=on,cluster_size=$cs "$img" 16M
  sc=$(( cs / 32 ))
  qcow2_io "$img" "write -P 0x11 0 $sc" "write -P 0x22 $(( 3 * sc )) $(( 2 * sc + 100 ))" \
    "write -z $(( 7 * sc )) $sc" "write -P 0x33 $(( cs + 5 * sc )) $sc" \
    "write -z $(( 4 * cs )) $(( 2 * sc ))"
  qcow2_check "$img"
done
qemu-img create -q -f qcow2 "$tmp/ext-base.qcow2" 4M
qcow2_io "$tmp/ext-base.qcow2" 'write -P 0xaa 0 4M'
img=$tmp/ext-top.qcow2
qemu-img create -q -f qcow2 -o extended_l2=on -b ext-base.qcow2 -F qcow2 \
  "$img" 4M
qcow2_io "$img" 'write -P 0x11 0 2k' 'write -P 0x22 6k 2k' 'write -z 10k 4k' \
  'write -P 0x33 64k 64k' 'write -z 192k 2k' 'discard 2M 64k'
qcow2_check "$img"

# Compressed clusters.
raw=$tmp/src.raw
truncate -s 24M "$raw"
for i in 0 1 2 3 4 5 6 7 8 9 10 11; do
  # A mix of compressible text, incompressible data and zeros.
  seq $(( i * 1000 )) $(( i * 1000 + 20000 )) |
    dd of="$raw" bs=64k seek=$(( i * 30 )) conv=notrunc status=none
  random_bytes $i 100000 |
    dd of="$raw" bs=1 seek=$(( i * 2000000 + 7 )) conv=notrunc status=none
done
types=zlib
if nbdkit "$(plugin qcow2x)" --dump-plugin | grep -q '^qcow2x_compression=.*zstd'
then
  types="zlib zstd"
else
  # Built without libzstd: reading a zstd cluster fails, saying why.
  qemu-img convert -q -c -f raw -O qcow2 -o compression_type=zstd \
    "$raw" "$tmp/zstd.qcow2"
  expect_failure "$tmp/err" \
    nbdkit -U - -r "$(plugin qcow2x)" file="$tmp/zstd.qcow2" \
      --run 'nbdcopy --synchronous "$uri" null:'
  grep 'built without libzstd' "$tmp/err"
fi
for type in $types; do
  for cs in 512 65536 2097152; do
    img=$tmp/z-$type-$cs.qcow2
    qemu-img convert -q -c -f raw -O qcow2 \
      -o compression_type=$type,cluster_size=$cs "$raw" "$img"
    qcow2_check "$img"
    # Reads smaller than a cluster and not aligned to one go through
    # the cache of inflated clusters.
    nbdkit -U - -r "$(plugin qcow2x)" file="$img" --run '
      qemu-io -r -f raw -c "read -v 1000 3000" "$uri" > '"$tmp"'/p.plugin'
    qemu-io -r -f qcow2 -c "read -v 1000 3000" "$img" > "$tmp/p.qemu"
    diff <(grep '^0' "$tmp/p.qemu") <(grep '^0' "$tmp/p.plugin")
    rm -f "$img"
  done
done
# compat 0.10 compressed (zlib only).
img=$tmp/z-v2.qcow2
qemu-img convert -q -c -f raw -O qcow2 -o compat=0.10 "$raw" "$img"
qcow2_check "$img"

# An external data file.  qemu 7.2 creates and opens a relative data
# file name relative to its working directory, the plugin relative to
# the image's directory: run qemu from there.
cd "$tmp"
img=$tmp/df.qcow2
qemu-img create -q -f qcow2 -o data_file=df.raw "$img" 16M
qcow2_patterns "$img" 65536 $(( 16 << 20 ))
qcow2_check "$img"
nbdkit -U - -r "$(plugin qcow2x)" file="$img" --run 'nbdinfo "$uri"' |
  grep -q 'data file df.raw'
img=$tmp/dfraw.qcow2
qemu-img create -q -f qcow2 -o data_file=dfraw.raw,data_file_raw=on "$img" 16M
qcow2_patterns "$img" 65536 $(( 16 << 20 ))
# qemu maps the unallocated clusters of a raw data file as data.
compare_with_qemu qcow2x "$img" qcow2
compare_map_loosely qcow2x "$img" qcow2
cd - >/dev/null

# Internal snapshots: the active disk and each snapshot, by id and by
# name, one of them taken before the disk grew.
img=$tmp/snap.qcow2
qemu-img create -q -f qcow2 "$img" 8M
qcow2_io "$img" 'write -P 0x11 0 1M'
qemu-img snapshot -c first "$img"
qcow2_io "$img" 'write -P 0x22 512k 1M' 'write -z 3M 64k'
qemu-img snapshot -c "second one" "$img"
qemu-img resize -q "$img" 12M
qcow2_io "$img" 'write -P 0x33 0 64k' 'write -P 0x44 11M 1M'
qcow2_check "$img"
nbdkit -U - -r "$(plugin qcow2x)" file="$img" --run 'nbdinfo "$uri"' \
  > "$tmp/info"
grep 'description:.*2 internal snapshots: 1 "first" (8388608 bytes), 2 "second one"' \
  "$tmp/info"
# The reference is qemu-img snapshot -a on a copy (reverting to the
# snapshot, its disk size included; convert -l keeps today's size).
for s in 1:first first:first 2:"second one" "second one":"second one"; do
  key=${s%%:*} name=${s#*:}
  cp "$img" "$tmp/copy.qcow2"
  qemu-img snapshot -a "$name" "$tmp/copy.qcow2"
  qemu-img convert -f qcow2 -O raw "$tmp/copy.qcow2" "$tmp/s.raw"
  test "$(served_sha256 qcow2x "$img" snapshot="$key")" = \
    "$(sha256sum < "$tmp/s.raw" | cut -d' ' -f1)"
  test "$(nbdkit -U - -r "$(plugin qcow2x)" file="$img" snapshot="$key" \
            --run 'nbdinfo --size "$uri"')" -eq "$(stat -c %s "$tmp/s.raw")"
done
expect_open_error qcow2x "$img" 'snapshot=nosuch: no internal snapshot' \
  snapshot=nosuch

# A virtual size that is not a multiple of the cluster size.
img=$tmp/odd.qcow2
qemu-img create -q -f qcow2 -o cluster_size=65536 "$img" 1000448
qcow2_io "$img" 'write -P 0x77 983040 17408'
qcow2_check "$img"

# Detection by magic, not by name.
cp "$img" "$tmp/odd.vhd"
compare_with_qemu qcow2x "$tmp/odd.vhd" qcow2
