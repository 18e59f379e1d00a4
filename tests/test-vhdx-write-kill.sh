#!/usr/bin/env bash
# The SIGKILL crash test (crash-functions.sh) for VHDX: nbdkit killed at
# random moments during random writes, zeros and flushes into dynamic
# (1 MiB blocks: many allocations), fixed and differencing images, each
# with 512- or 4096-byte sectors; after every kill the image opens
# (replaying its log), every sector holds what was written before the
# last completed flush or later, and the check op finds nothing.  Then
# four clients at once over multi-conn.  At the end, a write and flush
# leave the log empty and qemu-img check agrees.
source "$srcdir/functions.sh"
set -e -x
source "$srcdir/vhdx-write-functions.sh"
source "$srcdir/crash-functions.sh"
requires_crash_client

kills=0
run ()
{
  local img=$1 iters=$2
  crash_kill_test vhdx "$img" $iters "$xdisk_check"
  kills=$(( kills + crash_kills ))
  crash_concurrent_test vhdx "$img" 4 "$xdisk_check"
  nbdkit -U - "$P" file="$img" \
    --run "qemu-io -f raw -c 'write -P 3 0 512' \$uri" >/dev/null
  test "$(info "$img" log_guid)" = 00000000-0000-0000-0000-000000000000
}

nbdkit -U - "$P" file="$tmp/dyn.vhdx" create=true create-size=64M \
  create-block-size=1M --run true
run "$tmp/dyn.vhdx" 6
qemu-img check -f vhdx "$tmp/dyn.vhdx"

nbdkit -U - "$P" file="$tmp/fixed.vhdx" create=true create-size=32M \
  create-type=fixed create-sector-size=4096 --run true
run "$tmp/fixed.vhdx" 3

# The parent must not hold crash-client data: the verifier would take
# data of the same seeds for misplaced writes.
RANDOM=50
make_raw "$tmp/parent.raw" $(( 64 * M ))
nbdcopy -- "$tmp/parent.raw" [ nbdkit "$P" file="$tmp/parent.vhdx" \
  create=true create-size=$(( 64 * M )) ]
nbdkit -U - "$P" file="$tmp/child.vhdx" create=true \
  create-parent="$tmp/parent.vhdx" create-block-size=1M --run true
run "$tmp/child.vhdx" 6

echo "$0: $kills kills"
