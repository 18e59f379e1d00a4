#!/usr/bin/env bash
# Writing into real VHDs from ../shared/corpus (skips without it):
# Windows 10 fixed and dynamic, Hyper-V 2012 R2, Virtual PC and Disk2vhd
# images take random partial writes, zeroes and trims through the
# plugin, and then read back (through the plugin and qemu-img) exactly
# as a raw copy given the same requests; the structure checks clean
# before and after.
source "$srcdir/functions.sh"
source "$srcdir/vhd-write-functions.sh"
set -e -x

requires_plugin vhdx
requires qemu-img --version
requires qemu-io --version
requires nbdcopy --version
requires test -x "$top_builddir/tests/xdisk-check"
requires_corpus vhd
make_tmpdir

p=$(plugin vhdx)
check="$top_builddir/tests/xdisk-check -f vhd"

seed=30
for rel in vhd/win10-fixed.vhd.gz vhd/win10-dynamic.vhd.gz \
           vhd/hyperv2012r2-dynamic.vhd.bz2 vhd/virtualpc-dynamic.vhd.bz2 \
           vhd/d2v-zerofilled.vhd.bz2; do
  img=$tmp/$(basename "${rel%.*}")
  corpus_file "$rel" "$img"
  $check "$img"
  plugin_read "$img" "$tmp/model.raw"
  seed=$(( seed + 1 ))
  write_and_compare "$img" "$tmp/model.raw" $seed 40 1 qemu
  rm -f "$img" "$tmp/model.raw"
done
