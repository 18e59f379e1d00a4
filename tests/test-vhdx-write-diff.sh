#!/usr/bin/env bash
# Differencing VHDX children created with create-parent= (qemu cannot
# create them, nor open them: qemu 7.2 refuses differencing VHDX, so the
# expectation is the parent's data with the same writes applied by
# qemu-io to a raw copy).  Children of a qemu-made dynamic parent and of
# a plugin-made fixed parent with 4096-byte sectors, a child of a child;
# unaligned writes (sectors filled from the parent), zeros and trims
# that must never expose the parent, the parent never modified, the
# parent locator naming the parent's DataWriteGuid and path, and a
# parent written after the child was made no longer matching it.
source "$srcdir/functions.sh"
set -e -x
source "$srcdir/vhdx-write-functions.sh"
RANDOM=30

size=$(( 24 * M ))
make_raw "$tmp/disk.raw" $size

random_ops 80 $size

# child PARENT CHILD EXPECT [create-*...]: create CHILD over PARENT,
# apply the writes to it and to EXPECT, and compare.
child ()
{
  local parent=$1 img=$2 expect=$3 sum
  shift 3
  sum=$(md5sum < "$parent")
  nbdkit -U - "$P" file="$img" create=true create-parent="$parent" "$@" \
    --run "qemu-io -f raw $(printf '%q ' "${ops[@]}") \$uri" >/dev/null
  qemu-io -f raw "${ops[@]}" "$expect" >/dev/null
  test "$(md5sum < "$parent")" = "$sum"
  "$xdisk_check" "$img"
  test "$(info "$img" has_parent)" = 1
  test "$(info "$img" log_guid)" = 00000000-0000-0000-0000-000000000000
  test "$(info "$img" parent_linkage)" = "{$(info "$parent" data_write_guid)}"
  test "$(info "$img" relative_path)" = ".\\$(basename "$parent")"
  serve_to_raw vhdx "$img" "$tmp/back.raw"
  cmp "$expect" "$tmp/back.raw"
}

# A qemu-made dynamic parent, 512-byte sectors.
qemu-img convert -f raw -O vhdx -o block_size=8M "$tmp/disk.raw" "$tmp/base.vhdx"
cp "$tmp/disk.raw" "$tmp/expect.raw"
child "$tmp/base.vhdx" "$tmp/c1.vhdx" "$tmp/expect.raw"
test "$(info "$tmp/c1.vhdx" block_size)" = $(( 2 * M ))
test "$(info "$tmp/c1.vhdx" size)" = $size
# ... and a child of that child, with 1 MiB blocks.
child "$tmp/c1.vhdx" "$tmp/c2.vhdx" "$tmp/expect.raw" create-block-size=1M

# Trims: whole blocks read as zeros (never the parent), parts unchanged.
nbdkit -U - "$P" file="$tmp/c2.vhdx" \
  --run "qemu-io -f raw -c 'discard $(( 4 * M )) $(( 2 * M ))' \
                        -c 'discard $(( 9 * M + 512 )) 4096' \$uri" >/dev/null
qemu-io -f raw -c "write -z $(( 4 * M )) $(( 2 * M ))" "$tmp/expect.raw" >/dev/null
serve_to_raw vhdx "$tmp/c2.vhdx" "$tmp/back.raw"
cmp "$tmp/expect.raw" "$tmp/back.raw"
"$xdisk_check" "$tmp/c2.vhdx"

# A plugin-made fixed parent with 4096-byte sectors: unaligned writes
# read-modify-write whole 4 KiB sectors from the parent.
nbdcopy -- "$tmp/disk.raw" [ nbdkit "$P" file="$tmp/base4k.vhdx" create=true \
  create-size=$size create-type=fixed create-sector-size=4096 ]
cp "$tmp/disk.raw" "$tmp/expect4k.raw"
child "$tmp/base4k.vhdx" "$tmp/c4k.vhdx" "$tmp/expect4k.raw"
test "$(info "$tmp/c4k.vhdx" logical_sector_size)" = 4096
# A child must have its parent's sector size and virtual size.
expect_fail nbdkit -U - "$P" file="$tmp/bad.vhdx" create=true \
  create-parent="$tmp/base4k.vhdx" create-sector-size=512 --run true
expect_fail nbdkit -U - "$P" file="$tmp/bad.vhdx" create=true \
  create-parent="$tmp/base4k.vhdx" create-size=1G --run true
test ! -e "$tmp/bad.vhdx"

# Writing to the parent gives it a new DataWriteGuid: its child no
# longer matches it.
nbdkit -U - "$P" file="$tmp/base4k.vhdx" \
  --run "qemu-io -f raw -c 'write 0 4096' \$uri" >/dev/null
expect_fail serve_to_raw vhdx "$tmp/c4k.vhdx" "$tmp/back.raw"
serve_to_raw vhdx "$tmp/c4k.vhdx" "$tmp/back.raw" ignore-parent-mismatch=true
