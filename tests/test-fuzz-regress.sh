#!/usr/bin/env bash
# Replay what the fuzzers found: every input kept in
# fuzz/regress/TARGET/ (one per bug fixed, or a few inputs that reach the
# target's code), then the seed corpus, through each fuzz target built
# by the normal compiler with fuzz/run-inputs.c.  Every target must have
# regression inputs and every one must run: a target left out fails.
# The seeds are made once by fuzz/make-seeds (it needs qemu-img; without
# it only the regression inputs run) and kept in the build directory;
# 'make fuzz-seeds' makes them again.
source "$srcdir/functions.sh"
set -e

fuzz=$top_builddir/tests/fuzz
seeds=$fuzz/seeds
targets="fuzz-vmdk-descriptor fuzz-vmdk-sparse fuzz-vhd fuzz-vhdx
         fuzz-vmdk-disk fuzz-vhd-disk fuzz-tar fuzz-appliance-meta fuzz-gzip
         fuzz-appliance-disk"
targets="$targets fuzz-vdi fuzz-vdi-disk fuzz-qcow2 fuzz-qcow2-disk"
targets="$targets fuzz-write-vmdk fuzz-write-vhd fuzz-write-vhdx fuzz-write-vdi"
targets="$targets fuzz-ovf-template"
targets="$targets fuzz-url fuzz-vmx"

if [ ! -d "$seeds" ] && qemu-img --version >/dev/null 2>&1; then
  make_tmpdir
  "$srcdir/fuzz/make-seeds" --pack "$fuzz/fuzz-pack" \
    --mkdiff "$top_builddir/tests/vhd-mkdiff" --shared "$XDISK_SHARED" \
    --mkimage "$fuzz/fuzz-mkimage" \
    "$tmp/seeds"
  mv "$tmp/seeds" "$seeds" || :  # another make check may have won
fi

failed=0
for t in $targets; do
  regress=$srcdir/fuzz/regress/$t
  if [ -z "$(ls -A "$regress" 2>/dev/null)" ]; then
    echo "$0: $t has no regression inputs in $regress" >&2
    failed=1
    continue
  fi
  inputs=("$regress")
  [ -d "$seeds/$t" ] && inputs+=("$seeds/$t")
  "$fuzz/run-$t" "${inputs[@]}"
done
exit $failed
