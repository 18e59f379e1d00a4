#!/usr/bin/env bash
# Parallel reads: nbdcopy with several connections and many requests in
# flight, on a streamOptimized and a sparse image (and a chain), compared
# with qemu-img's decoding.  Small request sizes split grains, so the
# same grain is inflated/read by several threads at once.
source "$srcdir/functions.sh"
source "$srcdir/vmdk-functions.sh"
set -e -x

requires_plugin vmdkx
requires qemu-img --version
requires qemu-io --version
requires nbdcopy --version
make_tmpdir
cd "$tmp"

size=$(( 24 * 1024 * 1024 ))
qemu-img create -q -f vmdk sparse.vmdk $size
# Every other grain written, with different data per 4 KiB, so a wrong
# grain or a mixed-up buffer shows.
cmds=()
for (( i = 0; i < 24 * 16; i += 2 )); do
  cmds+=("write -P $(( (i * 7 + 1) % 255 + 1 )) $(( i * 65536 + (i % 5) * 4096 )) 40000")
done
vmdk_io sparse.vmdk "${cmds[@]}"
qemu-img convert -f vmdk -O raw sparse.vmdk expected.raw
qemu-img convert -f vmdk -O vmdk -o subformat=streamOptimized sparse.vmdk stream.vmdk
qemu-img create -q -f vmdk -b sparse.vmdk -F vmdk child.vmdk
vmdk_io child.vmdk 'write -P 0xee 100k 5M'
qemu-img convert -f vmdk -O raw child.vmdk expected-child.raw

# parallel_copy IMG EXPECTED: several runs, with varied request sizes.
parallel_copy ()
{
  local img=$1 expected=$2 rs
  for rs in 4096 65536 1048576; do
    rm -f out.raw
    nbdkit -U - -r "$(plugin vmdkx)" file="$img" --run "
      nbdcopy -C 4 --requests 64 --request-size $rs \"\$uri\" out.raw"
    cmp out.raw "$expected"
  done
  # Through qemu-img too (its own parallelism, block status used).
  compare_with_qemu vmdkx "$img" vmdk
}

parallel_copy stream.vmdk expected.raw
parallel_copy sparse.vmdk expected.raw
parallel_copy child.vmdk expected-child.raw

# A tiny cache budget forces evictions under concurrency.
rm -f out.raw
nbdkit -U - -r "$(plugin vmdkx)" file=stream.vmdk cache=64K --run '
  nbdcopy -C 4 --requests 64 --request-size 4096 "$uri" out.raw'
cmp out.raw expected.raw
rm -f out.raw
nbdkit -U - -r "$(plugin vmdkx)" file=child.vmdk cache=64K --run '
  nbdcopy -C 4 --requests 64 --request-size 4096 "$uri" out.raw'
cmp out.raw expected-child.raw
