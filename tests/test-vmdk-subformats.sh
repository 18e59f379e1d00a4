#!/usr/bin/env bash
# Every VMDK subformat qemu-img can make (and the variants of its
# options), with data written at awkward places, served by vmdkx
# byte for byte as qemu-img decodes it, with the same zero/data map.
source "$srcdir/functions.sh"
source "$srcdir/vmdk-functions.sh"
set -e -x

requires_plugin vmdkx
requires qemu-img --version
requires qemu-io --version
requires nbdcopy --version
requires jq --version
make_tmpdir

size=$(( 8 * 1024 * 1024 ))     # 128 grains of 64 KiB

# Patterns at grain boundaries, partial grains, whole grains and the
# last sector.
write_patterns ()
{
  vmdk_io "$1" \
    'write -P 0x11 0 512' \
    'write -P 0x22 65024 1024' \
    'write -P 0x33 200001 3000' \
    'write -P 0x44 1M 128k' \
    'write -P 0x55 3000000 70000' \
    "write -P 0x66 $(( size - 512 )) 512"
}

qemu-img create -q -f vmdk "$tmp/patterns.vmdk" "$size"
write_patterns "$tmp/patterns.vmdk"

n=0
make_and_check ()
{
  local img="$tmp/img$n.vmdk"
  n=$(( n + 1 ))
  case "$*" in
    *streamOptimized*)
      # qemu writes streams only sequentially: convert a sparse image.
      qemu-img convert -f vmdk -O vmdk "$@" "$tmp/patterns.vmdk" "$img" ;;
    *)
      qemu-img create -q -f vmdk "$@" "$img" "$size"
      write_patterns "$img" ;;
  esac
  vmdk_check_qemu "$img"
}

for sub in monolithicSparse monolithicFlat twoGbMaxExtentSparse \
           twoGbMaxExtentFlat streamOptimized; do
  make_and_check -o subformat=$sub
done
for adapter in ide buslogic lsilogic legacyESX; do
  make_and_check -o adapter_type=$adapter
done
make_and_check -o compat6=on
make_and_check -o compat6=on,subformat=monolithicFlat
make_and_check -o hwversion=4
make_and_check -o hwversion=10,subformat=streamOptimized
make_and_check -o subformat=monolithicFlat,preallocation=full

# Zeroed grains (grain table entry 1) and a never-written neighbour.
img="$tmp/zeroed.vmdk"
qemu-img create -q -f vmdk -o zeroed_grain=on "$img" "$size"
vmdk_io "$img" 'write -P 0x77 0 1M' 'write -z 64k 128k' \
  'write -z 2M 64k' 'write -P 0x78 4M 64k' 'write -z 4M 64k'
# qemu-img must agree that these grains are zero "allocated" ones, or
# the test would not be testing zeroed grains.
qemu-img map -f vmdk --output=json "$img" |
  jq -e '[.[] | select(.present and .zero and (.data|not))] | length > 0'
vmdk_check_qemu "$img"

# A capacity that is not a multiple of the grain size.
img="$tmp/odd.vmdk"
qemu-img create -q -f vmdk "$img" $(( size + 3 * 512 ))
vmdk_io "$img" "write -P 0x99 $(( size - 512 )) 2048"
vmdk_check_qemu "$img"

# vmfs (flat): createType "vmfs" with a VMFS extent, made by editing
# the descriptor of a monolithicFlat image (qemu-img cannot create it).
img="$tmp/flat.vmdk"
qemu-img create -q -f vmdk -o subformat=monolithicFlat "$img" "$size"
write_patterns "$img"
sed -i -e 's/^createType=.*/createType="vmfs"/' \
  -e 's/^RW \([0-9]*\) FLAT \(".*"\) 0/RW \1 VMFS \2/' "$img"
grep -q '^RW [0-9]* VMFS "flat-flat.vmdk"$' "$img"
vmdk_check_qemu "$img"

# The split types across their 2 GiB extent boundaries, in a sparse
# virtual disk larger than 4 GiB.
big=$(( 5 * 1024 * 1024 * 1024 ))
for sub in twoGbMaxExtentSparse twoGbMaxExtentFlat; do
  img="$tmp/big-$sub.vmdk"
  qemu-img create -q -f vmdk -o subformat=$sub "$img" "$big"
  vmdk_io "$img" \
    'write -P 0x21 0 4096' \
    "write -P 0x22 $(( 2 * 1024 * 1024 * 1024 - 1024 )) 4096" \
    "write -P 0x23 $(( 4 * 1024 * 1024 * 1024 - 512 )) 1024" \
    "write -P 0x24 $(( big - 512 )) 512"
  [ "$(grep -c '^RW ' "$img")" -ge 3 ]
  vmdk_check_qemu "$img"
done

# A monolithicSparse and a streamOptimized image renamed (and moved):
# their embedded descriptor still names the old file, but the extent is
# the file itself; the old name must not be opened (here it does not
# exist; a stale file of that name must not be read either).
mkdir "$tmp/renamed"
cp "$tmp/img0.vmdk" "$tmp/renamed/other-name.vmdk"
vmdk_check_qemu "$tmp/renamed/other-name.vmdk"
cp "$tmp/img4.vmdk" "$tmp/renamed/stream-renamed.vmdk"
vmdk_check_qemu "$tmp/renamed/stream-renamed.vmdk"
# A stale different file under the old name next to it.
qemu-img create -q -f vmdk "$tmp/renamed/img0.vmdk" "$size"
vmdk_io "$tmp/renamed/img0.vmdk" 'write -P 0xf0 0 1M'
cp "$tmp/img0.vmdk" "$tmp/renamed/copy.vmdk"
vmdk_check_qemu "$tmp/renamed/copy.vmdk"
