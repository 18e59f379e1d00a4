#!/usr/bin/env bash
# A filesystem that fills up under the writers (not only EFBIG from
# ulimit -f): tests/enospc-shim.so, preloaded into nbdkit, fails with
# ENOSPC every write to the image that needs new space once a byte
# budget is spent.  Into VHD (dynamic, and fixed with holes), VHDX, VDI
# and VMDK images, in place, a series of writes each to an unallocated
# block: the client must see ENOSPC for some and success for the first;
# writes to allocated space still succeed after the refusals; the image
# then opens, passes the check op and qemu-img check, and reads back,
# through the plugin and qemu, exactly the acknowledged writes.
# nbdkit gets the shim through the dynamic loader's --preload (after the
# ASan runtime in a sanitizer build; see functions.sh), set before
# functions.sh reads it.
shim=$top_builddir/tests/.libs/enospc-shim.so
XDISK_NBDKIT_PRELOAD=${XDISK_NBDKIT_PRELOAD:+$XDISK_NBDKIT_PRELOAD:}$shim
source "$srcdir/functions.sh"
set -e -x
requires test -f "$shim"

source "$srcdir/writers-functions.sh"

# case PLUGIN QEMUFMT BLOCK BUDGET CREATE-OPTS: a qemu-made image with
# data in its first block; then through PLUGIN with BUDGET bytes free,
# 3000 bytes into each of the next blocks (of BLOCK bytes, up to 14),
# then an overwrite of the first block's data.
case_ ()
{
  local p=$1 fmt=$2 block=$3 budget=$4 opts=$5 img=$tmp/img.$2 k cmds=() status=0
  rm -f "$img" "$tmp/raw"
  truncate -s $size "$tmp/raw"
  qemu-io -f raw -c "write -P 0x11 0 5000" "$tmp/raw" >/dev/null
  qemu-img convert -f raw -O $fmt -o "$opts" "$tmp/raw" "$img"
  for (( k = 1; k < 15 && k < size / block; k++ )); do
    cmds+=(-c "write -P $(( k + 0x20 )) $(( k * block + 1000 )) 3000")
  done
  cmds+=(-c "write -P 0x77 100 4000" -c flush)
  XDISK_ENOSPC_FILE=$(realpath "$img") XDISK_ENOSPC_BUDGET=$budget \
    nbdkit -U - "$(plugin $p)" file="$img" \
      --run "qemu-io -f raw $(printf '%q ' "${cmds[@]}") \"\$uri\"" \
      > "$tmp/out" 2> "$tmp/err" || status=$?
  cat "$tmp/out" "$tmp/err"
  # qemu-io's status says little (failed writes are expected), but a
  # signal in nbdkit or the client is a crash.
  check_not_crashed "$status" "nbdkit with $p" "$tmp/err"
  grep -q '^enospc-shim: no space left' "$tmp/err"
  # qemu-io reports each write: "wrote N/N bytes at offset OFF" or
  # "write failed: No space left on device".  Some of each, no other
  # failure, and the last overwrite of allocated space accepted.
  grep -c '^wrote 3000/3000 bytes' "$tmp/out"
  grep -q '^write failed: No space left on device' "$tmp/out"
  if grep -v 'No space left' "$tmp/out" "$tmp/err" | grep -Ei 'fail|error'; then
    exit 1
  fi
  grep -qx 'wrote 4000/4000 bytes at offset 100' "$tmp/out"
  # The expectation: the acknowledged writes applied to the raw copy.
  local off
  for off in $(sed -n 's/^wrote [0-9]*\/[0-9]* bytes at offset \([0-9]*\)$/\1/p' "$tmp/out"); do
    for (( k = 0; k < ${#cmds[@]}; k++ )); do
      case ${cmds[k]} in
        "write -P "*" $off "*) qemu-io -f raw -c "${cmds[k]}" "$tmp/raw" >/dev/null ;;
      esac
    done
  done
  "$xdisk_check" "$img"
  # (qemu-img check has no VHD check.)
  [ $fmt = vpc ] || qemu-img check -q -f $fmt "$img"
  serve_to_raw $p "$img" "$tmp/back"
  cmp "$tmp/raw" "$tmp/back"
  qemu-img compare -q -f raw -F $fmt "$tmp/raw" "$img"
}

case_ vhdx vpc $(( 2 * M )) 12000 subformat=dynamic,force_size=on
case_ vhdx vpc $M 12000 subformat=fixed,force_size=on
case_ vhdx vhdx $M 30000 block_size=1M
case_ vdix vdi $M 30000 static=off
case_ vmdkx vmdk 65536 200000 subformat=monolithicSparse
