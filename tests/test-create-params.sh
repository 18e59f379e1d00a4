#!/usr/bin/env bash
# create=true and the create-* parameters as every plugin takes them
# (common/glue-create.c), and how a plugin opens an image for writing:
# - create-* without create=true, create=true without a size, a format
#   the plugin cannot create, an unclear file name: clear errors;
# - an existing file is never overwritten without create-overwrite=true
#   (its bytes are unchanged), and is with it;
# - a create that fails (a size the format cannot hold) leaves no file;
# - the format comes from create-format=, else the file's extension;
# - a file that cannot be written is served read-only; nbdkit -r leaves
#   the file untouched (not one byte, not its time stamp).
source "$srcdir/functions.sh"
set -e -x

requires_plugin vhdx
requires_plugin diskx
requires qemu-img --version
make_tmpdir

create_error ()                 # PLUGIN FILE PATTERN PARAMS...
{
  local p=$1 f=$2 pattern=$3
  shift 3
  expect_failure "$tmp/err" \
    nbdkit -U - "$(plugin "$p")" file="$f" "$@" --run true
  grep -Eq -- "$pattern" "$tmp/err"
}

create_error vhdx "$tmp/a.vhd" 'needs create-size' create=true
create_error vhdx "$tmp/a.vhd" 'without create=true' create-size=1M
create_error vhdx "$tmp/a.vhd" 'create-format=qcow2: vhdx cannot create' \
  create=true create-size=1M create-format=qcow2
create_error diskx "$tmp/a.img" 'give create-format=NAME' \
  create=true create-size=1M
create_error vhdx "$tmp/a.ova" 'reads OVA files but cannot create them' \
  create=true create-size=1M
create_error vhdx "$tmp/a.vhd" 'holds one disk' create=true create-size=1M,2M
create_error vhdx "$tmp/a.vhd" 'describe an appliance' create=true \
  create-size=1M create-cpus=2
# (Not in the sanitizer build: nbdkit 1.32 hangs at exit there after an
# error message made with %m, as realpath's is; see functions.sh.)
if [ -z "${XDISK_NBDKIT_PRELOAD-}" ]; then
  create_error vhdx "$tmp/a.vhd" 'create-parent|nosuch' \
    create=true create-parent="$tmp/nosuch.vhd"
fi
test ! -e "$tmp/a.vhd"
test ! -e "$tmp/a.img"
test ! -e "$tmp/a.ova"

# Never over an existing file without create-overwrite=true.
qemu-img create -q -f vpc "$tmp/old.vhd" 8M
sum=$(sha256sum < "$tmp/old.vhd")
create_error vhdx "$tmp/old.vhd" 'old.vhd: the file exists.*create-overwrite=true' \
  create=true create-size=16M
test "$(sha256sum < "$tmp/old.vhd")" = "$sum"
nbdkit -U - "$(plugin vhdx)" file="$tmp/old.vhd" create=true \
  create-size=16M create-overwrite=true --run 'nbdinfo --size "$uri"' |
  grep -qx 16777216

# A size the format cannot hold: an error, and no file left behind.
create_error vhdx "$tmp/huge.vhd" 'huge.vhd' create=true create-size=1E
test ! -e "$tmp/huge.vhd"

# The format from the extension, or create-format=.
nbdkit -U - "$(plugin vhdx)" file="$tmp/b.vhdx" create=true create-size=8M \
  --run 'nbdinfo "$uri"' | grep -q 'description: VHDX'
nbdkit -U - "$(plugin vhdx)" file="$tmp/c.img" create=true create-size=8M \
  create-format=vhd --run 'nbdinfo "$uri"' | grep -q 'description: VHD '
nbdkit -U - "$(plugin diskx)" file="$tmp/d.vdi" create=true create-size=8M \
  --run 'nbdinfo "$uri"' | grep -q 'description: VDI'

# -r: the file is not touched, neither bytes nor modification time.
touch -d '2020-01-01 00:00' "$tmp/old.vhd"
stamp=$(stat -c %Y "$tmp/old.vhd")
sum=$(sha256sum < "$tmp/old.vhd")
nbdkit -U - -r "$(plugin vhdx)" file="$tmp/old.vhd" \
  --run 'nbdinfo "$uri" | grep -q "is_read_only: true"'
test "$(stat -c %Y "$tmp/old.vhd")" = "$stamp"
test "$(sha256sum < "$tmp/old.vhd")" = "$sum"

# A file that cannot be written is served read-only (not as root, who
# may write anything).
if [ "$(id -u)" -ne 0 ]; then
  chmod a-w "$tmp/old.vhd"
  nbdkit -U - "$(plugin vhdx)" file="$tmp/old.vhd" \
    --run 'nbdinfo "$uri" | grep -q "is_read_only: true"'
  chmod u+w "$tmp/old.vhd"
fi

# Served writable: nbdinfo sees write, flush, FUA, zero and multi-conn.
nbdkit -U - "$(plugin vhdx)" file="$tmp/old.vhd" --run 'nbdinfo "$uri"' \
  > "$tmp/info"
grep -q 'is_read_only: false' "$tmp/info"
grep -q 'can_flush: true' "$tmp/info"
grep -q 'can_fua: true' "$tmp/info"
grep -q 'can_zero: true' "$tmp/info"
grep -q 'can_multi_conn: true' "$tmp/info"
