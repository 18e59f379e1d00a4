#!/usr/bin/env bash
# VDI writes killed with SIGKILL at random moments (tests/crash-
# functions.sh): a dynamic image created by the plugin, a static image
# made by qemu-img and a differencing child.  After each kill the image
# opens, every sector acknowledged before the last completed flush reads
# back, and the structure checks clean; then several clients write at
# once over multi-conn.
source "$srcdir/functions.sh"
source "$srcdir/crash-functions.sh"
set -e -x

requires_plugin vdix
requires_crash_client
# Under ASan, nbdkit 1.32 hangs in exit after the kills here (glibc's
# locale lock in p11-kit's destructor, see functions.sh), and timeout's
# TERM does not end it; the power-loss unit tests run there instead.
if [ -n "${XDISK_NBDKIT_PRELOAD-}" ]; then
  skip_allowed "the sanitizer build (nbdkit 1.32 hangs at exit)"
fi
requires test -x "$xdisk_check"
requires qemu-img --version
make_tmpdir
M=$(( 1 << 20 ))
vdix=$(plugin vdix)

# Our verifier, and qemu-img check.  A kill between the flush's header
# write and its map write leaves cBlocksAllocated ahead of the map (the
# blocks being allocated are leaked, nothing points at them): qemu-img
# check calls that "allocated blocks mismatch, is MAP, should be
# HEADER", with HEADER > MAP, and it is the only thing it may report
# (exit status 2: corruptions found).  Never the counter behind the map,
# never any other line.
leaks=0
vdi_check ()
{
  local status=0 line is should
  "$xdisk_check" -f vdi "$1"
  qemu-img check -f vdi "$1" > "$tmp/qcheck" 2>&1 || status=$?
  cat "$tmp/qcheck"
  [ $status -ne 0 ] || return 0
  test $status -eq 2
  # One ERROR line (several would not match), and it is this one.
  line=$(grep '^ERROR' "$tmp/qcheck")
  [[ $line =~ ^ERROR:\ allocated\ blocks\ mismatch,\ is\ ([0-9]+),\ should\ be\ ([0-9]+)$ ]]
  is=${BASH_REMATCH[1]} should=${BASH_REMATCH[2]}
  test "$should" -gt "$is"
  refute_grep 'leaked|warning' "$tmp/qcheck"
  leaks=$(( leaks + 1 ))
}

# qemu cannot open differencing VDIs: our verifier only.
diff_check ()
{
  "$xdisk_check" -f vdi "$1"
}

qemu-img create -q -f vdi -o static=on "$tmp/static.vdi" $(( 32 * M ))
nbdkit -U - "$vdix" file="$tmp/dyn.vdi" create=true \
  create-size=$(( 48 * M )) --run true
nbdkit -U - "$vdix" file="$tmp/parent.vdi" create=true \
  create-size=$(( 32 * M )) \
  --run "qemu-io -f raw -c 'write -P 0x42 0 $(( 20 * M ))' \"\$uri\"" \
  >/dev/null
psum=$(md5sum < "$tmp/parent.vdi")
nbdkit -U - "$vdix" file="$tmp/child.vdi" create=true \
  create-parent="$tmp/parent.vdi" --run true

crash_kill_test vdix "$tmp/dyn.vdi" 7 vdi_check
kills=$crash_kills
crash_kill_test vdix "$tmp/static.vdi" 3 vdi_check
kills=$(( kills + crash_kills ))
crash_kill_test vdix "$tmp/child.vdi" 5 diff_check
kills=$(( kills + crash_kills ))
test "$(md5sum < "$tmp/parent.vdi")" = "$psum"

crash_concurrent_test vdix "$tmp/dyn.vdi" 8 vdi_check
crash_concurrent_test vdix "$tmp/child.vdi" 4 diff_check
test "$(md5sum < "$tmp/parent.vdi")" = "$psum"
echo "VDI SIGKILL test: $kills kills, $leaks left leaked blocks (base images)"
