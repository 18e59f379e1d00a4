#!/usr/bin/env bash
# The registry's content detector as the plugins use it: each plugin
# refuses a file of another format with a hint naming the plugin that
# serves it, detects by content and never by the file name, gives a file
# with no signature to its own parser (whose error says what is wrong),
# and takes format= to pin one of its formats.
source "$srcdir/functions.sh"
set -e -x

requires_plugin vmdkx
requires_plugin vhdx
requires qemu-img --version
make_tmpdir

qemu-img create -q -f vhdx "$tmp/disk.vhdx" 64M
qemu-img create -q -f vmdk "$tmp/disk.vmdk" 64M
qemu-img create -q -f vpc -o subformat=fixed,force_size=on "$tmp/fixed.vhd" 8M
truncate -s 8M "$tmp/raw.img"

expect_open_error vmdkx "$tmp/disk.vhdx" \
  'disk.vhdx: this is a VHDX file, not VMDK: use the vhdx plugin'
expect_open_error vmdkx "$tmp/fixed.vhd" \
  'fixed.vhd: this is a VHD file, not VMDK: use the vhdx plugin'
expect_open_error vhdx "$tmp/disk.vmdk" \
  'disk.vmdk: this is a VMDK file, not VHDX: use the vmdkx plugin'

# Names do not matter: a VMDK called .vhdx is still a VMDK.
cp "$tmp/disk.vmdk" "$tmp/misnamed.vhdx"
nbdkit -U - -r "$(plugin vmdkx)" file="$tmp/misnamed.vhdx" \
  --run 'nbdinfo --size "$uri"' | grep -qx 67108864

# No signature at all: the plugin's own parser explains.
expect_open_error vmdkx "$tmp/raw.img" 'raw.img: .*not a VMDK'
expect_open_error vhdx "$tmp/raw.img" 'raw.img: not a VHD or VHDX file'

# format= pins one of the plugin's formats, and only those.
nbdkit -U - -r "$(plugin vhdx)" file="$tmp/fixed.vhd" format=vhd \
  --run 'nbdinfo --size "$uri"' | grep -qx 8388608
expect_open_error vhdx "$tmp/fixed.vhd" 'format=qcow2: vhdx does not serve' \
  format=qcow2
expect_open_error vhdx "$tmp/fixed.vhd" 'format=floppy: vhdx does not serve' \
  format=floppy
