#!/usr/bin/env bash
# VHD writes killed with SIGKILL at random moments (tests/crash-
# functions.sh): a dynamic VHD created by the plugin (small blocks: many
# allocations, reserves and commits), a fixed and a dynamic VHD made by
# qemu-img, and a differencing child.  After each kill the image opens,
# every sector acknowledged before the last completed flush reads back,
# and the structure checks clean (qemu-img has no VHD check: ours, and
# qemu-img reading every byte as the plugin does).  Then several clients
# write at once over multi-conn.
source "$srcdir/functions.sh"
source "$srcdir/crash-functions.sh"
set -e -x

requires_plugin vhdx
requires_crash_client
requires test -x "$xdisk_check"
requires qemu-img --version
requires nbdcopy --version
make_tmpdir
M=$(( 1 << 20 ))
vhdx=$(plugin vhdx)

# Our verifier, and qemu-img's decoding equal to the plugin's.
vhd_check ()
{
  "$xdisk_check" -f vhd "$1"
  qemu-img convert -f vpc -O raw "$1" "$tmp/q.raw"
  nbdkit -r -U - "$vhdx" file="$1" --run "nbdcopy \$uri $tmp/p.raw"
  cmp "$tmp/q.raw" "$tmp/p.raw"
  rm -f "$tmp/q.raw" "$tmp/p.raw"
}

# qemu cannot open differencing VHDs: our verifier only.
diff_check ()
{
  "$xdisk_check" -f vhd "$1"
}

nbdkit -U - "$vhdx" file="$tmp/dyn.vhd" create=true \
  create-size=$(( 48 * M )) create-block-size=512K --run true
qemu-img create -q -f vpc -o subformat=fixed,force_size=on \
  "$tmp/fixed.vhd" $(( 32 * M ))
qemu-img create -q -f vpc -o subformat=dynamic "$tmp/qdyn.vhd" $(( 32 * M ))
nbdkit -U - "$vhdx" file="$tmp/parent.vhd" create=true \
  create-size=$(( 32 * M )) \
  --run "qemu-io -f raw -c 'write -P 0x42 0 $(( 20 * M ))' \"\$uri\"" \
  >/dev/null
psum=$(md5sum < "$tmp/parent.vhd")
nbdkit -U - "$vhdx" file="$tmp/child.vhd" create=true \
  create-parent="$tmp/parent.vhd" create-block-size=512K --run true

crash_kill_test vhdx "$tmp/dyn.vhd" 7 vhd_check
kills=$crash_kills
crash_kill_test vhdx "$tmp/fixed.vhd" 2 vhd_check
kills=$(( kills + crash_kills ))
crash_kill_test vhdx "$tmp/qdyn.vhd" 3 vhd_check
kills=$(( kills + crash_kills ))
crash_kill_test vhdx "$tmp/child.vhd" 5 diff_check
kills=$(( kills + crash_kills ))
test "$(md5sum < "$tmp/parent.vhd")" = "$psum"

crash_concurrent_test vhdx "$tmp/dyn.vhd" 8 vhd_check
crash_concurrent_test vhdx "$tmp/child.vhd" 4 diff_check
test "$(md5sum < "$tmp/parent.vhd")" = "$psum"
echo "VHD SIGKILL test: $kills kills"
