#!/usr/bin/env bash
# Real VMDK images from ../shared/corpus (skipped without it): each
# served with the SHA-256 that SOURCES.md gives, and the bad ones
# refused cleanly with the file and the problem named.
source "$srcdir/functions.sh"
source "$srcdir/vmdk-functions.sh"
set -e -x

requires_plugin vmdkx
requires nbdcopy --version
requires qemu-img --version
requires jq --version
requires_corpus SOURCES.md
make_tmpdir
sources="$XDISK_SHARED/corpus/SOURCES.md"

same=a3bcf05f07a1c06a3380eeca8571f0efb2b85afafa1e21662b8cad436d1f7727
vmfs=8d43c795d24bce01b49f92744f934c1072210dcac170bb1c83a5aa56df46ab7d
markers=92c0f8b4280377437056f57c51ef51a5f8aeb1462ac630ef0633febcbfc3db4e
v3=0859bb3397bc1d30fa979c80a289ce98bfd6c1141a64594d6f3cc8cd68218faf
sesparse=3afa48010241335528fe402f083fc9f3a1013a49485221443a78d9a8604e2f90
# The digests above are SOURCES.md's.
for h in $same $vmfs $markers $v3 $sesparse; do
  grep -q "$h" "$sources"
done

# check_sha IMG SHA256
check_sha ()
{
  local got
  got=$(served_sha256 vmdkx "$1")
  if [ "$got" != "$2" ]; then
    echo "$0: $1: served SHA-256 $got, expected $2"
    return 1
  fi
}

# Images are decompressed under the names their embedded descriptors
# give (as they were made); renamed images are tested in
# test-vmdk-subformats.sh.
corpus_file vmdk/vdiskmanager-monolithicSparse.vmdk.gz "$tmp/monolithicSparse.vmdk"
check_sha "$tmp/monolithicSparse.vmdk" $same
compare_map_with_qemu vmdkx "$tmp/monolithicSparse.vmdk" vmdk

corpus_file vmdk/vdiskmanager-streamOptimized.vmdk.gz "$tmp/streamOptimized.vmdk"
check_sha "$tmp/streamOptimized.vmdk" $same

mkdir "$tmp/two"
corpus_file vmdk/vdiskmanager-twoGbMaxExtentSparse/twoGbMaxExtentSparse.vmdk \
  "$tmp/two/twoGbMaxExtentSparse.vmdk"
corpus_file vmdk/vdiskmanager-twoGbMaxExtentSparse/twoGbMaxExtentSparse-s001.vmdk.gz \
  "$tmp/two/twoGbMaxExtentSparse-s001.vmdk"
check_sha "$tmp/two/twoGbMaxExtentSparse.vmdk" $same
compare_map_with_qemu vmdkx "$tmp/two/twoGbMaxExtentSparse.vmdk" vmdk

mkdir "$tmp/vmfs"
corpus_file vmdk/esxi-vmfs-thick/vmfs_thick.vmdk "$tmp/vmfs/vmfs_thick.vmdk"
corpus_file vmdk/esxi-vmfs-thick/vmfs_thick-flat.vmdk.gz \
  "$tmp/vmfs/vmfs_thick-flat.vmdk"
check_sha "$tmp/vmfs/vmfs_thick.vmdk" $vmfs
# The ESXi snapshot whose COWD delta extent is absent: refused, the
# missing file named.
corpus_file vmdk/esxi-vmfs-thick/vmfs_thick-000001.vmdk \
  "$tmp/vmfs/vmfs_thick-000001.vmdk"
vmdk_expect_open_error "$tmp/vmfs/vmfs_thick-000001.vmdk" \
  'not found' 'vmfs_thick-000001-delta\.vmdk'

corpus_file vmdk/streamconverter-streamOptimized-markers.vmdk.gz "$tmp/call-me-stream.vmdk"
check_sha "$tmp/call-me-stream.vmdk" $markers

# 16 GiB virtual, almost all unallocated: compare with qemu (block
# status makes this fast) and the map; the full SHA-256 means hashing
# 16 GiB, so only with XDISK_SLOW_TESTS=1.
corpus_file vmdk/iotest-version3.vmdk.bz2 "$tmp/generated-stream.vmdk"
size=$(nbdkit -U - -r "$(plugin vmdkx)" file="$tmp/generated-stream.vmdk" \
         --run 'nbdinfo --size "$uri"')
[ "$size" -eq 17179869184 ]
compare_with_qemu vmdkx "$tmp/generated-stream.vmdk" vmdk
compare_map_with_qemu vmdkx "$tmp/generated-stream.vmdk" vmdk
if [ "${XDISK_SLOW_TESTS-}" = 1 ]; then
  check_sha "$tmp/generated-stream.vmdk" $v3
fi

# seSparse (an ESXi extent; the descriptor is hand-written): served to
# its digest, through the descriptor and bare, byte for byte as qemu
# decodes it, with qemu's map.
mkdir "$tmp/se"
corpus_file vmdk/esxi-sesparse/sesparse.vmdk.gz "$tmp/se/sesparse.vmdk"
corpus_file vmdk/esxi-sesparse/descriptor-handwritten.vmdk \
  "$tmp/se/descriptor-handwritten.vmdk"
check_sha "$tmp/se/descriptor-handwritten.vmdk" $sesparse
check_sha "$tmp/se/sesparse.vmdk" $sesparse
# The bytes are checked by the SHA-256 above (SOURCES.md's, of what
# qemu-img decodes); qemu-img compare would decode this seSparse disk
# again at 75 s a run here, so only the maps are compared with qemu's.
compare_map_with_qemu vmdkx "$tmp/se/descriptor-handwritten.vmdk" vmdk

# Fuzzed and broken images: refused cleanly, the file named.
corpus_file bad/afl9.vmdk.bz2 "$tmp/afl9.vmdk"
vmdk_expect_open_error "$tmp/afl9.vmdk" 'afl9\.vmdk'
corpus_file bad/no-extent-description.vmdk.gz "$tmp/noext.vmdk"
vmdk_expect_open_error "$tmp/noext.vmdk" 'noext\.vmdk' 'descriptor|extent'
