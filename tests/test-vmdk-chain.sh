#!/usr/bin/env bash
# Delta chains: a three-deep chain of sparse images (embedded and text
# descriptors), a child larger than its parent, and the chain errors:
# parentCID mismatch (refused unless ignore-parent-mismatch=true), a
# missing parent and parent loops.
source "$srcdir/functions.sh"
source "$srcdir/vmdk-functions.sh"
set -e -x

requires_plugin vmdkx
requires qemu-img --version
requires qemu-io --version
requires nbdcopy --version
requires jq --version
make_tmpdir

size=$(( 4 * 1024 * 1024 ))

# make_chain DIR SUBFORMAT: base.vmdk <- mid.vmdk <- top.vmdk, with
# patterns written at each level (each before its child is created, so
# that the CIDs stay consistent), overlapping one another.
make_chain ()
{
  local d=$1 sub=$2
  mkdir -p "$d"
  qemu-img create -q -f vmdk -o subformat=$sub "$d/base.vmdk" $size
  vmdk_io "$d/base.vmdk" 'write -P 0xb0 0 1M' 'write -P 0xb1 3M 1M'
  qemu-img create -q -f vmdk -o subformat=$sub \
    -b base.vmdk -F vmdk "$d/mid.vmdk"
  vmdk_io "$d/mid.vmdk" 'write -P 0xc0 512k 1M' 'write -P 0xc1 65000 2000' \
    "write -P 0xc2 $(( size - 512 )) 512"
  qemu-img create -q -f vmdk -o subformat=$sub \
    -b mid.vmdk -F vmdk "$d/top.vmdk"
  vmdk_io "$d/top.vmdk" 'write -P 0xd0 768k 64k' 'write -P 0xd1 131071 3' \
    'write -P 0xd2 2M 100k'
}

for sub in monolithicSparse twoGbMaxExtentSparse streamOptimized; do
  d="$tmp/$sub"
  # qemu-img cannot make a streamOptimized child (it is append-only);
  # a streamOptimized base with sparse children is what it allows.
  if [ $sub = streamOptimized ]; then
    mkdir -p "$d"
    qemu-img create -q -f vmdk -o subformat=streamOptimized "$d/base.vmdk" $size
    vmdk_io "$d/base.vmdk" 'write -P 0xb0 0 1M' 'write -P 0xb1 3M 1M'
    qemu-img create -q -f vmdk -b base.vmdk -F vmdk "$d/mid.vmdk"
    vmdk_io "$d/mid.vmdk" 'write -P 0xc0 512k 1M'
    qemu-img create -q -f vmdk -b mid.vmdk -F vmdk "$d/top.vmdk"
    vmdk_io "$d/top.vmdk" 'write -P 0xd0 768k 64k' 'write -P 0xd1 131071 3'
  else
    make_chain "$d" $sub
  fi
  # Each level of the chain, including the middle.
  for f in top mid base; do
    vmdk_check_qemu "$d/$f.vmdk"
  done
done

# Opened from another directory with a relative file= path.
(cd "$tmp" && compare_with_qemu vmdkx monolithicSparse/top.vmdk vmdk)

# A child larger than its parent: beyond the parent's end it reads zero.
d="$tmp/grow"
mkdir "$d"
qemu-img create -q -f vmdk "$d/small.vmdk" 1M
vmdk_io "$d/small.vmdk" 'write -P 0x5a 0 1M'
qemu-img create -q -f vmdk -b small.vmdk -F vmdk "$d/large.vmdk" 3M
vmdk_io "$d/large.vmdk" 'write -P 0x5b 2M 4k'
vmdk_check_qemu "$d/large.vmdk"

# A missing parent.
cp -r "$tmp/monolithicSparse" "$tmp/noparent"
rm "$tmp/noparent/mid.vmdk"
vmdk_expect_open_error "$tmp/noparent/top.vmdk" 'not found' 'mid\.vmdk'

# Byte offset of the first occurrence of the text STRING in FILE.
offset_of ()
{
  grep -boaF -- "$2" "$1" | head -n1 | cut -d: -f1
}

# parentCID mismatch, embedded descriptor: change the middle image's
# CID in place (same length), so top's parentCID no longer matches.
cp -r "$tmp/monolithicSparse" "$tmp/cid"
cid=$(grep -a '^CID=' "$tmp/cid/mid.vmdk" | head -n1 | cut -d= -f2 | tr -d '\r')
# qemu writes the CID without leading zeros: keep its length.
newcid=$(printf '%0*x' ${#cid} $(( 0x$cid ^ 1 )))
vmdk_patch "$tmp/cid/mid.vmdk" $(( $(offset_of "$tmp/cid/mid.vmdk" "CID=$cid") + 4 )) \
  "$newcid"
grep -aq "^CID=$newcid" "$tmp/cid/mid.vmdk"
vmdk_expect_open_error "$tmp/cid/top.vmdk" 'parentCID'
# ... accepted with ignore-parent-mismatch=true, and then the data is
# still the chain's data (qemu-img refuses to read it, so compare with
# the unpatched chain).
qemu-img convert -f vmdk -O raw "$tmp/monolithicSparse/top.vmdk" "$tmp/top.raw"
serve_to_raw vmdkx "$tmp/cid/top.vmdk" "$tmp/cid.raw" ignore-parent-mismatch=true
cmp "$tmp/cid.raw" "$tmp/top.raw"

# parentCID mismatch in a text descriptor (twoGbMaxExtentSparse).
cp -r "$tmp/twoGbMaxExtentSparse" "$tmp/cidtext"
sed -i -e 's/^parentCID=.*/parentCID=12345678/' "$tmp/cidtext/top.vmdk"
vmdk_expect_open_error "$tmp/cidtext/top.vmdk" 'parentCID'
qemu-img convert -f vmdk -O raw "$tmp/twoGbMaxExtentSparse/top.vmdk" "$tmp/top2.raw"
serve_to_raw vmdkx "$tmp/cidtext/top.vmdk" "$tmp/cidtext.raw" ignore-parent-mismatch=true
cmp "$tmp/cidtext.raw" "$tmp/top2.raw"

# A parent loop in text descriptors: mid's parent becomes top, whose
# parent is mid.
cp -r "$tmp/twoGbMaxExtentSparse" "$tmp/looptext"
sed -i -e 's/^parentFileNameHint=.*/parentFileNameHint="top.vmdk"/' \
  "$tmp/looptext/mid.vmdk"
vmdk_expect_open_error "$tmp/looptext/top.vmdk" 'loop' -- \
  ignore-parent-mismatch=true
# A descriptor that is its own parent.
sed -i -e 's/^parentFileNameHint=.*/parentFileNameHint="top.vmdk"/' \
  "$tmp/looptext/top.vmdk"
vmdk_expect_open_error "$tmp/looptext/top.vmdk" 'loop' -- \
  ignore-parent-mismatch=true

# A parent loop in embedded descriptors: names of equal length, so
# mid's parentFileNameHint="b0.vmdk" is patched in place to "t0.vmdk"
# (top's parent is mid: a loop).
d="$tmp/loop"
mkdir "$d"
qemu-img create -q -f vmdk "$d/b0.vmdk" $size
qemu-img create -q -f vmdk -b b0.vmdk -F vmdk "$d/m0.vmdk"
qemu-img create -q -f vmdk -b m0.vmdk -F vmdk "$d/t0.vmdk"
vmdk_io "$d/t0.vmdk" 'write -P 0xe0 0 64k'
off=$(offset_of "$d/m0.vmdk" 'parentFileNameHint="b0.vmdk"')
[ -n "$off" ]
vmdk_patch "$d/m0.vmdk" $(( off + 20 )) 't0.vmdk'
grep -aq 'parentFileNameHint="t0.vmdk"' "$d/m0.vmdk"
vmdk_expect_open_error "$d/t0.vmdk" 'loop' -- ignore-parent-mismatch=true
vmdk_expect_open_error "$d/m0.vmdk" 'loop' -- ignore-parent-mismatch=true
