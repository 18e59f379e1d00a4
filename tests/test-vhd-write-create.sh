#!/usr/bin/env bash
# Creating VHDs: the structure of the files (footer at the end and its
# copy, current size exactly as asked, the specification's CHS geometry,
# creator, BAT length exactly the size, parent locators and identity),
# qemu-img reading the exact size, big sparse fixed VHDs, and bad input:
# an existing file, sizes VHD cannot hold, bad block sizes and types, a
# parent that is not a VHD, a full file system (ulimit -f), a read-only
# image.
source "$srcdir/functions.sh"
source "$srcdir/vhd-write-functions.sh"
set -e -x

requires_plugin vhdx
requires qemu-img --version
requires qemu-io --version
requires nbdcopy --version
requires nbdinfo --version
make_tmpdir

p=$(plugin vhdx)
check="$top_builddir/tests/xdisk-check -f vhd"

qemu_size ()
{
  qemu-img info -f vpc --output=json "$1" |
    sed -n 's/.*"virtual-size": \([0-9]*\).*/\1/p'
}
create ()
{
  nbdkit -U - "$p" file="$1" create=true "${@:2}" --run 'nbdinfo --size $uri'
}

# ---- dynamic, neither CHS-exact nor whole MiB ----
size=$(( 30 * 1048576 + 7 * 512 ))
img=$tmp/d.vhd
test "$(create "$img" create-size=$size)" = $size
$check "$img"
fsize=$(stat -c %s "$img")
test "$(field "$img" $(( fsize - 512 )) 8)" = conectix    # footer at end
cmp <(field "$img" 0 512) <(field "$img" $(( fsize - 512 )) 512)
test "$(field "$img" 28 4)" = "win "                      # creator
test "$(be "$img" 60 4)" = 3                               # dynamic
test "$(be "$img" 48 8)" = $size                           # current size
test "$(be "$img" 40 8)" = $size                           # original size
test "$(be "$img" 56 2)/$(be "$img" 58 1)/$(be "$img" 59 1)" = 903/4/17
test "$(field "$img" 512 8)" = cxsparse
test "$(be "$img" $(( 512 + 16 )) 8)" = 1536               # BAT offset
test "$(be "$img" $(( 512 + 28 )) 4)" = 16                 # BAT entries
test "$(be "$img" $(( 512 + 32 )) 4)" = 2097152            # block size
test $fsize = $(( 1536 + 512 + 512 ))                      # empty
test "$(qemu_size "$img")" = $size

# 512K blocks: the BAT covers the size exactly, no spare entry.
create "$img" create-size=$size create-block-size=512K create-overwrite=true
test "$(be "$img" $(( 512 + 28 )) 4)" = $(( (size + 524287) / 524288 ))
test "$(be "$img" $(( 512 + 32 )) 4)" = 524288
$check "$img"

# ---- a CHS-exact size gets the specification's geometry ----
size=$(( 963 * 4 * 17 * 512 ))
create "$img" create-size=$size create-overwrite=true
test "$(be "$img" 56 2)/$(be "$img" 58 1)/$(be "$img" 59 1)" = 963/4/17
test "$(qemu_size "$img")" = $size
$check "$img"

# ---- fixed: the data and the footer, sparse ----
img=$tmp/f.vhd
size=$(( 100 * 1048576 ))
test "$(create "$img" create-size=100M create-type=fixed)" = $size
test "$(stat -c %s "$img")" = $(( size + 512 ))
test "$(field "$img" $size 8)" = conectix          # the footer only
test "$(be "$img" $(( size + 60 )) 4)" = 2
test "$(be "$img" $(( size + 48 )) 8)" = $size
test "$(be "$img" $(( size + 16 )) 4)" = 4294967295    # no data offset
test "$(du -k "$img" | cut -f1)" -lt 1024
test "$(qemu_size "$img")" = $size
$check "$img"

# Larger than qemu's 2040 GiB: cheap (sparse), served, written at its end.
img=$tmp/big.vhd
if truncate -s 3T "$tmp/probe" 2>/dev/null; then
  rm -f "$tmp/probe"
  size=$(( 3 * 1024 * 1024 * 1048576 ))
  nbdkit -U - "$p" file="$img" create=true create-size=3T create-type=fixed \
    --run 'qemu-io -f raw -c "write -P 0x77 $(( '$size' - 4096 )) 4096" \
             "nbd+unix:///?socket=$unixsocket"' | grep -q wrote
  test "$(stat -c %s "$img")" = $(( size + 512 ))
  test "$(du -k "$img" | cut -f1)" -lt 1024
  $check "$img"
  nbdkit -r -U - "$p" file="$img" \
    --run 'qemu-io -r -f raw -c "read -P 0x77 $(( '$size' - 4096 )) 4096" \
             "nbd+unix:///?socket=$unixsocket"' | grep -q "read 4096"
  # (qemu-img 7.2 cannot open it: "File too large", its 2040 GiB limit.)
  rm -f "$img"
fi

# ---- differencing: identity and parent locators ----
parent=$tmp/parent.vhd
qemu-img create -q -f vpc -o subformat=dynamic,force_size=on "$parent" 8M
child=$tmp/child.vhd
test "$(create "$child" create-parent="$parent")" = 8388608
$check "$child"
test "$(be "$child" 60 4)" = 4                                 # differencing
cmp <(field "$child" $(( 512 + 40 )) 16) <(field "$parent" 68 16)  # UUID
cmp <(field "$child" $(( 512 + 56 )) 4) <(field "$parent" 24 4)   # time
test "$(field "$child" $(( 512 + 64 )) 20 | tr -d '\0')" = parent.vhd
test "$(field "$child" $(( 512 + 576 )) 4)" = W2ru
test "$(field "$child" $(( 512 + 600 )) 4)" = W2ku
off=$(be "$child" $(( 512 + 576 + 16 )) 8)
len=$(be "$child" $(( 512 + 576 + 8 )) 4)
test "$(field "$child" $off $len | tr -d '\0')" = '.\parent.vhd'
# Served from a different working directory: the locators resolve.
(cd / && nbdkit -r -U - "$p" file="$child" --run 'nbdinfo --size $uri') |
  grep -qx 8388608

# ---- bad input ----
err=$tmp/err

# An existing file is not overwritten without create-overwrite=true.
sum=$(md5sum < "$parent")
expect_failure "$err" create "$parent" create-size=1M
grep -i "exist" "$err"
test "$(md5sum < "$parent")" = "$sum"

expect_fail ()
{
  local want=$1
  shift
  rm -f "$tmp/bad.vhd"
  expect_failure "$err" create "$tmp/bad.vhd" "$@"
  grep -i -- "$want" "$err"
  test ! -e "$tmp/bad.vhd"
}
expect_fail "too big" create-size=2041G
expect_fail "too big" create-size=9223372036854775296 create-type=fixed
expect_fail "512-byte" create-size=1000001
expect_fail "power of 2" create-size=1M create-block-size=256K
expect_fail "power of 2" create-size=1M create-block-size=3M
expect_fail "power of 2" create-size=1M create-block-size=512M
expect_fail "types are fixed and dynamic" create-size=1M create-type=sparse
qemu-img create -q -f qcow2 "$tmp/p.qcow2" 1M
expect_fail "must be a VHD" create-parent="$tmp/p.qcow2"
expect_fail "parent's size" create-parent="$parent" create-size=4M
# Exactly 2040 GiB is fine (and cheap: an empty BAT).
create "$tmp/max.vhd" create-size=2040G | grep -qx $(( 2040 << 30 ))
$check "$tmp/max.vhd"
rm -f "$tmp/max.vhd"

# A full file system: ulimit -f makes writes past 8 MiB + 100 KiB fail
# (EFBIG);
# every acknowledged write reads back.
img=$tmp/full.vhd
random_bytes 17 24M > "$tmp/rnd.raw"
create "$img" create-size=24M
# (Not in the sanitizer build: nbdkit 1.32 under ASan can hang at exit
# after the failed requests, see functions.sh.)
if [ -z "${XDISK_NBDKIT_PRELOAD-}" ]; then
  write_past_full vhdx "$img" 8292 24
  grep "$img" "$tmp/full.err"
fi
$check "$img"
nbdkit -r -U - "$p" file="$img" --run 'nbdinfo --size $uri' | grep -qx 25165824
# ... and it can be written again once there is room.
nbdkit -U - "$p" file="$img" --run "nbdcopy $tmp/rnd.raw \$uri"
$check "$img"
qemu-img convert -f vpc -O raw "$img" "$tmp/out.raw"
cmp "$tmp/rnd.raw" "$tmp/out.raw"

# Served read-only (-r): writes are refused, the file is untouched.
sum=$(md5sum < "$img")
expect_failure "$err" nbdkit -r -U - "$p" file="$img" \
  --run 'qemu-io -f raw -c "write 0 512" "nbd+unix:///?socket=$unixsocket" >&2'
grep -Eqi 'read-only|not permitted|permission denied' "$err"
refute_grep wrote "$err"
test "$(md5sum < "$img")" = "$sum"

# A damaged footer at the end: served from the copy at offset 0, but
# read-only, with the reason given to a client that writes.
cp "$img" "$tmp/dmg.vhd"
fsize=$(stat -c %s "$tmp/dmg.vhd")
printf '\xff' | dd of="$tmp/dmg.vhd" bs=1 seek=$(( fsize - 100 )) \
  conv=notrunc status=none
expect_failure "$err" nbdkit -U - "$p" file="$tmp/dmg.vhd" \
  --run 'qemu-io -f raw -c "write 0 512" "nbd+unix:///?socket=$unixsocket" >&2'
grep "serving read-only" "$err"
grep "footer at the end" "$err"
refute_grep wrote "$err"
