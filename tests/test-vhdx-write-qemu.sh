#!/usr/bin/env bash
# Writing into VHDX images made by qemu-img (dynamic and fixed, 1 and
# 32 MiB blocks): random partial, unaligned writes, writes across block
# boundaries, zeros and trims, through the plugin (with qemu-io as the
# NBD client) and the same on a raw copy with qemu-io; the results must
# be identical (qemu-img convert and the plugin's own reads), qemu-img
# check and the plugin's check clean, the log empty at the end.
# Then several clients at once over multi-conn on disjoint ranges.
source "$srcdir/functions.sh"
set -e -x
source "$srcdir/vhdx-write-functions.sh"
RANDOM=20

size=$(( 80 * M ))
make_raw "$tmp/disk.raw" $size

random_ops 40 $size

for type in dynamic fixed; do
  for bs in 1 32; do
    img=$tmp/q.vhdx
    rm -f "$img"
    qemu-img convert -f raw -O vhdx -o subformat=$type,block_size=${bs}M \
      "$tmp/disk.raw" "$img"
    cp "$tmp/disk.raw" "$tmp/expect.raw"
    qemu-io -f raw "${ops[@]}" "$tmp/expect.raw" >/dev/null
    nbdkit -U - "$P" file="$img" \
      --run "qemu-io -f raw $(printf '%q ' "${ops[@]}") \$uri" >/dev/null
    qemu-img check -f vhdx "$img"
    "$xdisk_check" "$img"
    test "$(info "$img" log_guid)" = 00000000-0000-0000-0000-000000000000
    qemu-img convert -f vhdx -O raw "$img" "$tmp/qemu.raw"
    cmp "$tmp/expect.raw" "$tmp/qemu.raw"
    serve_to_raw vhdx "$img" "$tmp/back.raw"
    cmp "$tmp/expect.raw" "$tmp/back.raw"
    # Trim: whole blocks of a dynamic image become unmapped (zeros); a
    # fixed image keeps its blocks and data, as do parts of blocks.
    nbdkit -U - "$P" file="$img" \
      --run "qemu-io -f raw -c 'discard 0 $(( 32 * M ))' \
                            -c 'discard $(( 40 * M + 512 )) $(( M - 1024 ))' \
                            \$uri" >/dev/null
    if [ $type = dynamic ]; then
      qemu-io -f raw -c "write -z 0 $(( 32 * M ))" "$tmp/expect.raw" >/dev/null
    fi
    qemu-img compare -f vhdx -F raw "$img" "$tmp/expect.raw"
    qemu-img check -f vhdx "$img"
    "$xdisk_check" "$img"
  done
done

# Four clients at once, each writing its own quarter in 64 KiB pieces in
# a random order, into a fresh dynamic image (allocations race).
img=$tmp/mc.vhdx
rm -f "$img"
qemu-img create -q -f vhdx -o block_size=1M "$img" $size
cp /dev/null "$tmp/expect.raw"
truncate -s $size "$tmp/expect.raw"
for q in 0 1 2 3; do
  args=()
  for piece in $(shuf -i 0-$(( size / 4 / 65536 - 1 )) --random-source=<(yes $q)); do
    args+=(-c "write -P $(( q + 1 )) $(( q * size / 4 + piece * 65536 )) 65536")
  done
  printf '%q ' "${args[@]}" > "$tmp/ops$q"
  head -c $(( size / 4 )) /dev/zero | tr '\0' "\\$(printf %03o $(( q + 1 )))" |
    dd of="$tmp/expect.raw" bs=1M oflag=seek_bytes seek=$(( q * size / 4 )) \
       conv=notrunc status=none
done
nbdkit -U - "$P" file="$img" --run "
  for q in 0 1 2 3; do
    eval qemu-io -f raw \$(cat $tmp/ops\$q) \\\$uri >/dev/null &
  done
  wait"
qemu-img check -f vhdx "$img"
"$xdisk_check" "$img"
qemu-img compare -f vhdx -F raw "$img" "$tmp/expect.raw"
