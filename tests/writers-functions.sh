# Shell functions of the tests that drive every writer at once (VHD and
# VHDX through vhdx, VDI, VMDK), sourced after functions.sh and
# "set -e -x": skips the test without the plugins and tools they need;
# sets $tmp, $xdisk_check (runs the check op), $M (1 MiB) and $size
# (their disks' size, 16 MiB).

requires_plugin vhdx
requires_plugin vdix
requires_plugin vmdkx
requires qemu-img --version
requires qemu-io --version
requires nbdcopy --version
xdisk_check=$top_builddir/tests/xdisk-check
requires test -x "$xdisk_check"
make_tmpdir

M=$(( 1 << 20 ))
size=$(( 16 * M ))
