#!/usr/bin/env bash
# Crash safety through nbdkit (tests/crash-functions.sh): nbdkit is
# killed with SIGKILL at random moments during random writes, zeros and
# flushes; each time the image must open, every sector acknowledged
# before the last completed flush must read back (and nothing else but
# later writes), and qemu-img check and the check op must pass.  Kinds:
# a new monolithicSparse (every grain allocated at the end), one whose
# grain directory is empty (new grain tables), a twoGbMaxExtentSparse,
# a monolithicFlat and a delta child.  Then several clients at once
# over multi-conn.  (Power loss, which SIGKILL does not simulate, is
# tested in common/test-vmdk-write.c.)
source "$srcdir/functions.sh"
source "$srcdir/crash-functions.sh"
source "$srcdir/vmdk-write-functions.sh"
set -e -x

requires_plugin vmdkx
requires_crash_client
requires qemu-img --version
requires test -x "$xdisk_check"
make_tmpdir

total=0
run ()                          # IMG ITERATIONS
{
  crash_kill_test vmdkx "$1" "$2" vmdkw_check
  total=$(( total + crash_kills ))
}

nbdkit -U - "$(plugin vmdkx)" file="$tmp/a.vmdk" create=true \
  create-size=64M --run true
run "$tmp/a.vmdk" 6

# Empty both grain directories of a new image (tables left unused):
# every grain table must be allocated by the writes.
nbdkit -U - "$(plugin vmdkx)" file="$tmp/t.vmdk" create=true \
  create-size=96M --run true
python3 - "$tmp/t.vmdk" <<'PY'
import struct, sys
with open(sys.argv[1], "r+b") as f:
    h = f.read(512)
    rgd, gd = struct.unpack_from("<QQ", h, 48)
    for s in (gd, rgd):
        f.seek(s * 512); f.write(b"\0" * 12)
PY
vmdkw_check "$tmp/t.vmdk"
run "$tmp/t.vmdk" 4

nbdkit -U - "$(plugin vmdkx)" file="$tmp/s.vmdk" create=true \
  create-size=64M create-type=split-sparse --run true
run "$tmp/s.vmdk" 3

nbdkit -U - "$(plugin vmdkx)" file="$tmp/f.vmdk" create=true \
  create-size=64M create-type=monolithicFlat --run true
crash_kill_test vmdkx "$tmp/f.vmdk" 2 true
total=$(( total + crash_kills ))

qemu-img create -q -f vmdk "$tmp/p.vmdk" 64M
qemu-io -f vmdk -c 'write -P 0x33 0 64M' "$tmp/p.vmdk" >/dev/null
psum=$(md5sum < "$tmp/p.vmdk")
nbdkit -U - "$(plugin vmdkx)" file="$tmp/c.vmdk" create=true \
  create-parent="$tmp/p.vmdk" --run true
run "$tmp/c.vmdk" 3
[ "$(md5sum < "$tmp/p.vmdk")" = "$psum" ]

echo "$0: $total kills"

rm -f "$tmp/m.vmdk"
nbdkit -U - "$(plugin vmdkx)" file="$tmp/m.vmdk" create=true \
  create-size=64M --run true
crash_concurrent_test vmdkx "$tmp/m.vmdk" 4 vmdkw_check
