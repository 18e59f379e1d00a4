#!/usr/bin/env bash
# VHDX writer failures: a writer that dies before its flush leaves the
# log in use; the next open replays it (in memory when read-only, into
# the file at the first write), even when the in-place BAT update never
# reached the file.  nbdkit killed (SIGKILL) during random writes: the
# image opens and checks clean every time.  Bad input: writing with -r,
# creating over an existing file, sizes and parameters VHDX cannot
# hold, a full disk (RLIMIT_FSIZE: EFBIG) -- clear errors, and the image
# still opens afterwards.
source "$srcdir/functions.sh"
set -e -x
source "$srcdir/vhdx-write-functions.sh"
RANDOM=40
zero_guid=00000000-0000-0000-0000-000000000000

# ---- a dirty log ----
img=$tmp/dirty.vhdx
nbdkit -U - "$P" file="$img" create=true create-size=16M create-block-size=1M \
  --run true
truncate -s 16M "$tmp/expect.raw"
"$tool" crash "$img" $(( 5 * M + 1000 )) 3000 0x5a
head -c 3000 /dev/zero | tr '\0' '\132' |
  dd of="$tmp/expect.raw" bs=4K oflag=seek_bytes seek=$(( 5 * M + 1000 )) \
     conv=notrunc status=none
test "$(info "$img" log_guid)" != $zero_guid
test "$(info "$img" log_entries)" -ge 1
# As if the in-place update of the BAT never reached the disk: only the
# log knows the new block.
dd if=/dev/zero of="$img" bs=4K seek=$(( 3 * M / 4096 )) count=1 \
   conv=notrunc status=none
cp "$img" "$tmp/dirty.copy"
serve_to_raw vhdx "$img" "$tmp/back.raw"
cmp "$tmp/expect.raw" "$tmp/back.raw"
cmp "$img" "$tmp/dirty.copy"              # a read-only open changes nothing
# qemu refuses to open a dirty log read-only ...
expect_fail qemu-img check -f vhdx "$img"
# ... a writable open does not touch the file either, until a write.
nbdkit -U - "$P" file="$img" --run 'nbdinfo "$uri" >/dev/null'
cmp "$img" "$tmp/dirty.copy"
nbdkit -U - "$P" file="$img" \
  --run "qemu-io -f raw -c 'write -P 7 $(( 9 * M )) 512' \$uri" >/dev/null
qemu-io -f raw -c "write -P 7 $(( 9 * M )) 512" "$tmp/expect.raw" >/dev/null
test "$(info "$img" log_guid)" = $zero_guid
test "$(info "$img" log_entries)" = 0
qemu-img check -f vhdx "$img"
"$xdisk_check" "$img"
qemu-img compare -f vhdx -F raw "$img" "$tmp/expect.raw"

# ---- SIGKILL during random writes ----
img=$tmp/kill.vhdx
size=$(( 64 * M ))
for round in 1 2 3 4 5 6; do
  rm -f "$img"
  case $round in
    1|2) make=(create-block-size=1M) ;;
    3|4) make=(create-type=fixed create-block-size=1M) ;;
    *) make=(create-parent="$tmp/dirty.vhdx") ;;
  esac
  if [ $round -ge 5 ]; then
    size=$(( 16 * M ))
  fi
  nbdkit -U - "$P" file="$img" create=true create-size=$size "${make[@]}" \
    --run true
  args=()
  for i in $(seq 300); do
    args+=(-c "write -P $(( i % 250 + 1 )) $(( (RANDOM * 32768 + RANDOM) % (size - 70000) )) $(( RANDOM + 1 ))")
    if [ $(( i % 50 )) = 0 ]; then args+=(-c flush); fi
  done
  nbdkit -f -U "$tmp/sock" -P "$tmp/pid" "$P" file="$img" &
  for i in $(seq 100); do test -S "$tmp/sock" && break; sleep 0.1; done
  qemu-io -f raw "${args[@]}" "nbd+unix:///?socket=$tmp/sock" >/dev/null 2>&1 &
  client=$!
  sleep 0.$(( RANDOM % 8 + 1 ))
  kill -9 "$(cat "$tmp/pid")"
  wait "$client" || :
  wait || :
  rm -f "$tmp/sock" "$tmp/pid"
  "$xdisk_check" "$img"
  serve_to_raw vhdx "$img" "$tmp/back.raw"
  # A write replays whatever log was left; then qemu agrees.
  nbdkit -U - "$P" file="$img" \
    --run "qemu-io -f raw -c 'write -P 1 0 512' \$uri" >/dev/null
  "$xdisk_check" "$img"
  test "$(info "$img" log_guid)" = $zero_guid
  if [ $round -le 4 ]; then
    qemu-img check -f vhdx "$img"
  fi
done

# ---- bad input ----
img=$tmp/bad.vhdx
qemu-img create -q -f vhdx "$img" 8M
cp "$img" "$tmp/bad.copy"
# -r: writes refused, the file untouched.
expect_fail nbdkit -U - -r "$P" file="$img" \
  --run "qemu-io -f raw -c 'write 0 512' \$uri"
cmp "$img" "$tmp/bad.copy"
# An existing file is not overwritten without create-overwrite=true.
expect_fail nbdkit -U - "$P" file="$img" create=true create-size=1M --run true
cmp "$img" "$tmp/bad.copy"
nbdkit -U - "$P" file="$img" create=true create-size=1M create-overwrite=true \
  --run true
test "$(info "$img" size)" = $M
for bad in create-size=65T create-size=1000 "create-size=1M create-type=sparse" \
           "create-size=1M create-block-size=3M" \
           "create-size=1M create-block-size=512M" \
           "create-size=1M create-sector-size=1024" \
           "create-size=1234944 create-sector-size=4096"; do
  expect_fail nbdkit -U - "$P" file="$tmp/new.vhdx" create=true $bad --run true
  test ! -e "$tmp/new.vhdx"
done
# A full disk: the file may not grow past 12 MiB.
nbdkit -U - "$P" file="$img" create=true create-size=64M create-overwrite=true \
  create-block-size=1M --run true
( trap '' XFSZ
  ulimit -f $(( 12 * 1024 ))
  expect_fail nbdkit -U - "$P" file="$img" \
    --run "nbdcopy --synchronous $tmp/kill.vhdx \$uri" ) 2> "$tmp/err"
grep -E "File too large|No space" "$tmp/err"
"$xdisk_check" "$img"
qemu-img check -f vhdx "$img"
