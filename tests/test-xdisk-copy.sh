#!/usr/bin/env bash
# contrib/container/xdisk-copy on the host, with the build tree's
# plugin and filter (XDISK_PLUGIN, XDISK_FILTER): what it copies is
# what qemu-img decodes, to a new file, over a larger one and to an NBD
# server; an nbd:// source goes through the diskx filter; --disk and
# --param reach the plugin; --progress prints lines a log collector
# can read, ending at 100%; passwords are taken from files only and
# never printed; usage errors exit 2, failed copies 1.
# (tests/test-container.sh runs it in the image.)
source "$srcdir/functions.sh"
source "$srcdir/ova-functions.sh"
set -e -x -o pipefail

requires_plugin diskx
requires test -f "$top_builddir/filters/diskx/.libs/nbdkit-diskx-filter.so"
requires qemu-img --version
requires nbdcopy --version
requires nbdinfo --version
requires tar --version
make_tmpdir
cd "$tmp"

copy=$top_srcdir/contrib/container/xdisk-copy
export XDISK_PLUGIN=$(plugin diskx)
export XDISK_FILTER=$top_builddir/filters/diskx/.libs/nbdkit-diskx-filter.so
# Under the sanitizer build nbdkit is a function of functions.sh (ASan
# preloaded): xdisk-copy runs it through a wrapper that sources it.
if [ -n "${XDISK_NBDKIT_PRELOAD-}" ]; then
  cat > nbdkit-wrapper <<EOF
#!/usr/bin/env bash
srcdir='$srcdir' XDISK_NBDKIT_PRELOAD='$XDISK_NBDKIT_PRELOAD'
source "\$srcdir/functions.sh"
trap - EXIT INT TERM
nbdkit "\$@"
EOF
  chmod +x nbdkit-wrapper
  export XDISK_NBDKIT=$tmp/nbdkit-wrapper
fi

# expect_status N ERR COMMAND...: COMMAND exits with status N, its
# stderr in file ERR (this shell's trace stays out of it).
expect_status ()
{
  local want=$1 err=$2 got=0
  shift 2
  "$@" 2> "$err" || got=$?
  cat "$err"
  test "$got" = "$want"
}

random_bytes 201 3M > a.raw
truncate -s 24M a.raw
qemu-img convert -f raw -O vmdk -o subformat=streamOptimized a.raw a.vmdk
qemu-img convert -f vmdk -O raw a.vmdk expected.raw

# A new file, then over a larger one (truncated to the disk's size).
"$copy" a.vmdk out.raw
cmp expected.raw out.raw
truncate -s 40M out.raw
"$copy" a.vmdk out.raw
cmp expected.raw out.raw

# --progress: "xdisk-copy: progress N% (DONE of TOTAL, S s)" lines, N
# rising in steps of at least 5, the last at 100%.
"$copy" --progress a.vmdk p.raw 2> progress.err
cat progress.err
cmp expected.raw p.raw
grep '^xdisk-copy: progress ' progress.err > lines
grep -qx 'xdisk-copy: progress 100% (24.00 MiB of 24.00 MiB, [0-9]* s)' lines
test "$(grep -vc '^xdisk-copy: progress [0-9]*% ([0-9.]* [MG]iB of 24.00 MiB, [0-9]* s)$' lines)" = 0
sed 's/^xdisk-copy: progress \([0-9]*\)%.*/\1/' lines |
  awk 'NR > 1 && $1 < prev + 5 && $1 != 100 { exit 1 } { prev = $1 }'

# To an NBD server (nbdkit's memory plugin), read back with nbdcopy.
# ("command nbdkit": nbdkit's own plugins run without the sanitizer
# build's wrapper of functions.sh, which would report their leaks.)
command nbdkit -U - memory 24M --run "\"$copy\" a.vmdk \"\$uri\" &&
  nbdcopy \"\$uri\" nbd.raw"
cmp expected.raw nbd.raw

# An nbd:// source: another server's bytes, decoded by the diskx filter.
command nbdkit -U - -r file a.vmdk --run "\"$copy\" \"\$uri\" filter.raw" 2> filter.err
cat filter.err
cmp expected.raw filter.raw
refute_grep 'error' filter.err

# --disk and --param reach the plugin: --disk picks an OVA's disk; a
# disk that is not there, and a parameter the plugin refuses, fail the
# copy (status 1) with the plugin's own error.
random_bytes 202 2M > b.raw
truncate -s 8M b.raw
qemu-img convert -f raw -O vmdk -o subformat=streamOptimized b.raw b.vmdk
make_ovf app.ovf $(( 24 << 20 )) a.vmdk b.vmdk
tar --format=ustar -cf app.ova app.ovf a.vmdk b.vmdk
"$copy" --disk b.vmdk app.ova b.out
cmp b.raw b.out
expect_status 1 disk.err "$copy" --disk nosuch app.ova d.raw
grep -q 'disk=nosuch: no such disk' disk.err
expect_status 1 param.err "$copy" --param cache=lots a.vmdk c.raw
grep -q 'could not parse size string (lots)' param.err
grep -q '^xdisk-copy: copying a.vmdk failed' param.err

# Passwords: from a file, passed by its name, never printed.
printf 'S3cret-xdisk-copy' > pw
"$copy" --dry-run --password-file pw --user root \
  'https://u@host.example/ds/a.vmdk?sig=abc' out.raw > dry
cat dry
grep -q 'password=+pw' dry
refute_grep 'S3cret' dry
expect_status 2 e1 "$copy" --password S3cret a.vmdk x.raw
expect_status 2 e2 "$copy" --param password=S3cret a.vmdk x.raw
expect_status 2 e3 "$copy" 'https://root:S3cret@host.example/a.vmdk' x.raw
refute_grep 'S3cret' e1 e2 e3
# The URL as messages show it: no user, no query (it may be signed).
expect_status 1 e4 "$copy" --connections 1 'http://u@127.0.0.1:1/ds/a.vmdk?sig=abc' x.raw
grep -q 'copying http://127.0.0.1:1/ds/a.vmdk?\.\.\. failed' e4
refute_grep 'sig=abc' e4

# Usage errors: status 2; a missing source or target directory: 1.
expect_status 2 usage.err "$copy" a.vmdk
expect_status 2 usage.err "$copy" --connections 0 a.vmdk x.raw
expect_status 2 usage.err "$copy" --bogus a.vmdk x.raw
expect_status 2 usage.err "$copy" ftp://host/a.vmdk x.raw
expect_status 1 usage.err "$copy" nosuch.vmdk x.raw
expect_status 1 usage.err "$copy" a.vmdk nosuchdir/x.raw
expect_status 1 usage.err "$copy" --password-file nosuch a.vmdk x.raw
"$copy" --help | grep -q '^Usage: xdisk-copy'
