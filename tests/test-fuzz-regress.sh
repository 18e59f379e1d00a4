#!/usr/bin/env bash
# Replay what the fuzzers found: every input kept in
# fuzz/regress/TARGET/ (one per bug fixed), then the seed corpus, through
# each fuzz target built by the normal compiler with fuzz/run-inputs.c.
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

if [ ! -d "$seeds" ] && qemu-img --version >/dev/null 2>&1; then
  make_tmpdir
  "$srcdir/fuzz/make-seeds" --pack "$fuzz/fuzz-pack" \
    --mkdiff "$top_builddir/tests/vhd-mkdiff" --shared "$XDISK_SHARED" \
    "$tmp/seeds"
  mv "$tmp/seeds" "$seeds" || :  # another make check may have won
fi

for t in $targets; do
  inputs=()
  [ -d "$srcdir/fuzz/regress/$t" ] && inputs+=("$srcdir/fuzz/regress/$t")
  [ -d "$seeds/$t" ] && inputs+=("$seeds/$t")
  if [ ${#inputs[@]} -eq 0 ]; then
    echo "$t: no inputs"
    continue
  fi
  "$fuzz/run-$t" "${inputs[@]}"
done
