#!/usr/bin/env bash
# Writing VHDs through the plugin: round trips raw -> nbdcopy -> new VHD
# -> qemu-img convert -> raw; random partial writes, zeroes and trims
# into qemu-made fixed and dynamic VHDs and into differencing children,
# each compared with the same requests applied to a raw copy; parallel
# writers over multi-conn.  xdisk-check verifies every image written.
source "$srcdir/functions.sh"
source "$srcdir/vhd-functions.sh"
source "$srcdir/vhd-write-functions.sh"
set -e -x

requires_plugin vhdx
requires qemu-img --version
requires qemu-io --version
requires nbdcopy --version
make_tmpdir

p=$(plugin vhdx)
check="$top_builddir/tests/xdisk-check -f vhd"
mkdiff=$top_builddir/tests/vhd-mkdiff

# A raw disk of SIZE bytes: random data with zero stretches.
make_raw ()
{
  local out=$1 size=$2
  random_bytes 1 "$size" > "$out"
  dd if=/dev/zero of="$out" bs=1M seek=3 count=3 conv=notrunc status=none
  truncate -s "$size" "$out"
}

# A dynamic VHD IMG ends with its last block and the footer: its size is
# the metadata, the present blocks (bitmap and data) and the footer.
tight ()
{
  local img=$1 entries bs bm used
  entries=$(be "$img" $(( 512 + 28 )) 4)
  bs=$(be "$img" $(( 512 + 32 )) 4)
  bm=$(( (bs / 4096 + 511) / 512 * 512 ))
  used=$(od -An -v -tx1 -w4 -j 1536 -N $(( entries * 4 )) "$img" |
         grep -vc 'ff ff ff ff' || :)
  test "$(stat -c %s "$img")" = \
    $(( 1536 + (entries * 4 + 511) / 512 * 512 + used * (bm + bs) + 512 ))
}

# ---- round trips: raw -> nbdcopy -> new VHD -> qemu-img -> raw ----
size=$(( 30 * 1048576 + 7 * 512 ))      # not CHS-exact, not whole MiB
make_raw "$tmp/in.raw" $size
for args in "create-type=dynamic" "create-type=fixed" \
            "create-block-size=512K" "create-block-size=4M"; do
  img=$tmp/rt.vhd
  nbdkit -U - "$p" file="$img" create=true create-size=$size $args \
    --run "nbdcopy $tmp/in.raw \$uri"
  $check "$img"
  [ "$(field "$img" 0 8)" != conectix ] || tight "$img"
  test "$(qemu-img info -f vpc --output=json "$img" |
          sed -n 's/.*"virtual-size": \([0-9]*\).*/\1/p')" = $size
  qemu-img convert -f vpc -O raw "$img" "$tmp/out.raw"
  cmp "$tmp/in.raw" "$tmp/out.raw"
  plugin_read "$img" "$tmp/out.raw"
  cmp "$tmp/in.raw" "$tmp/out.raw"
  rm -f "$img" "$tmp/out.raw"
done

# ---- writes into qemu-made VHDs ----
for sub in dynamic fixed "dynamic,force_size=on" "fixed,force_size=on"; do
  img=$tmp/q.vhd
  qemu-img create -q -f vpc -o subformat=$sub "$img" 40M
  qemu-io -f vpc -c "write -P 0x5a 1M 5M" -c "write -P 0x6b 20M 1000K" \
    "$img" >/dev/null
  qemu-img convert -f vpc -O raw "$img" "$tmp/q.raw"
  write_and_compare "$img" "$tmp/q.raw" 17 60 1 qemu
  # The plugin again, on what it wrote: still sound, more writes.
  write_and_compare "$img" "$tmp/q.raw" 18 30 1 qemu
  rm -f "$img" "$tmp/q.raw"
done

# ---- differencing children ----
parent=$tmp/parent.vhd
qemu-img create -q -f vpc -o subformat=dynamic,force_size=on "$parent" 24M
qemu-io -f vpc -c "write -P 0x11 0 3M" -c "write -P 0x22 10M 5M" \
  -c "write -P 0x33 $(( 24 * 1048576 - 4096 )) 4096" "$parent" >/dev/null
qemu-img convert -f vpc -O raw "$parent" "$tmp/parent.raw"
sum=$(md5sum < "$parent")

# A child made by the plugin (create-parent=), then written.
child=$tmp/child.vhd
nbdkit -U - "$p" file="$child" create=true create-parent="$parent" \
  --run 'nbdinfo --size $uri' | grep -qx $(( 24 * 1048576 ))
$check "$child"
cp "$tmp/parent.raw" "$tmp/child.raw"
write_and_compare "$child" "$tmp/child.raw" 21 80 0
write_and_compare "$child" "$tmp/child.raw" 22 40 0
test "$(md5sum < "$parent")" = "$sum"

# Trims in a child change nothing (they would expose the parent).
nbdkit -U - "$p" file="$child" \
  --run 'qemu-io -f raw -c "discard 0 24M" "nbd+unix:///?socket=$unixsocket"' \
  >/dev/null
plugin_read "$child" "$tmp/back.raw"
cmp "$tmp/child.raw" "$tmp/back.raw"

# A child made by vhd-mkdiff (sector bitmaps set per sector), written.
child2=$tmp/child2.vhd
"$mkdiff" vhd "$child2" "$parent" --block-size 524288
cp "$tmp/parent.raw" "$tmp/child2.raw"
put "$child2" "$tmp/child2.raw" 1000 700 68
put "$child2" "$tmp/child2.raw" 600000 5000 69
write_and_compare "$child2" "$tmp/child2.raw" 23 60 0
test "$(md5sum < "$parent")" = "$sum"

# ---- several clients at once, disjoint ranges (multi-conn) ----
img=$tmp/mc.vhd
nbdkit -U - "$p" file="$img" create=true create-size=32M \
  create-block-size=512K --run '
    for i in 0 1 2 3; do
      qemu-io -f raw \
        -c "write -P $(( i + 1 )) $(( i * 8388608 + 1000 )) 3000000" \
        -c "write -P $(( i + 11 )) $(( i * 8388608 + 5000000 )) 777" \
        -c "write -P $(( i + 21 )) $(( i * 8388608 + 6291456 - 100 )) 200000" \
        "nbd+unix:///?socket=$unixsocket" >/dev/null &
    done
    wait'
truncate -s 32M "$tmp/mc.raw"
for i in 0 1 2 3; do
  qemu-io -f raw \
    -c "write -P $(( i + 1 )) $(( i * 8388608 + 1000 )) 3000000" \
    -c "write -P $(( i + 11 )) $(( i * 8388608 + 5000000 )) 777" \
    -c "write -P $(( i + 21 )) $(( i * 8388608 + 6291456 - 100 )) 200000" \
    "$tmp/mc.raw" >/dev/null
done
$check "$img"
qemu-img convert -f vpc -O raw "$img" "$tmp/out.raw"
cmp "$tmp/mc.raw" "$tmp/out.raw"
