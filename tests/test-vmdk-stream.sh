#!/usr/bin/env bash
# streamOptimized edge cases: GD_AT_END with a footer, a damaged or
# cut-off footer (vmdkx must index the stream by walking its markers),
# and compressed grains that do not inflate to a grain (EIO, "inflate").
source "$srcdir/functions.sh"
source "$srcdir/vmdk-functions.sh"
set -e -x

requires_plugin vmdkx
requires qemu-img --version
requires qemu-io --version
requires nbdcopy --version
requires jq --version
requires python3 --version
make_tmpdir
cd "$tmp"
edit="python3 $srcdir/vmdk-stream-edit.py"

size=$(( 4 * 1024 * 1024 ))
qemu-img create -q -f vmdk s.vmdk $size
vmdk_io s.vmdk 'write -P 0x5a 0 1M' 'write -P 0x11 3M 64k' \
  'write -P 0x12 2000000 70000' "write -P 0x13 $(( size - 512 )) 512"
qemu-img convert -f vmdk -O vmdk -o subformat=streamOptimized s.vmdk stream.vmdk
qemu-img convert -f vmdk -O raw stream.vmdk expected.raw

# Each variant lives in its own directory under the name its embedded
# descriptor gives ("stream.vmdk"), so that a reader following the
# extent name still reads the damaged copy, not the original.
# variant NAME: prints NAME/stream.vmdk (a copy of stream.vmdk).
variant ()
{
  mkdir -p "$1"
  cp stream.vmdk "$1/stream.vmdk"
  echo "$1/stream.vmdk"
}

# check_raw IMG: vmdkx serves IMG as expected.raw.
check_raw ()
{
  rm -f served.raw
  serve_to_raw vmdkx "$1" served.raw
  cmp served.raw expected.raw
}

# The plain qemu stream, and the same with a GD_AT_END header + footer
# (qemu-img 7.2 writes the real gdOffset in the header and no footer,
# so vmdk-stream-edit.py makes the VMware layout from its output; qemu
# reads both, which checks the edit).
vmdk_check_qemu stream.vmdk
mkdir end
$edit gd-at-end stream.vmdk end/stream.vmdk
end=end/stream.vmdk
[ "$(vmdk_get64 $end 56)" = 18446744073709551615 ]
vmdk_check_qemu $end
check_raw $end

# endcopy NAME: a copy of the GD_AT_END image as NAME/stream.vmdk.
endcopy ()
{
  mkdir -p "$1"
  cp $end "$1/stream.vmdk"
  echo "$1/stream.vmdk"
}

# Footer magic overwritten: index by walking the markers.
footer=$(( $(stat -c %s $end) - 1024 ))
f=$(endcopy badfooter)
vmdk_patch $f $footer 'XXXX'
check_raw $f

# Footer's gdOffset pointing nowhere useful (past the end).
f=$(endcopy badfootergd)
vmdk_patch $f $(( footer + 56 )) "$(vmdk_le64 0x7fffffff)"
check_raw $f || {
  # refusing it cleanly is acceptable too, walking is better
  vmdk_expect_open_error $f 'grain directory|footer'
}

# Footer cut off: the file ends before the footer marker.
f=$(endcopy cut)
truncate -s $(( footer - 512 )) $f
check_raw $f
# ... and cut right after the last grain: no metadata, no end-of-stream
# marker; the end of the file ends the stream.
last=$($edit grain-offsets $end | tail -n1 | cut -d' ' -f2)
f=$(endcopy grainsonly)
truncate -s "$last" $f
check_raw $f

# A footer-less stream over several grain tables (512 grains of 64K,
# 32 MiB each): the index keeps where each table's run of markers
# starts and rebuilds the tables from the runs.  Data in four of the
# ranges, one range empty, and grains at the edges of ranges.
mkdir multi
big=$(( 160 * 1024 * 1024 ))
qemu-img create -q -f vmdk multi/s.vmdk $big
vmdk_io multi/s.vmdk 'write -P 0x21 0 1M' 'write -P 0x22 32704k 128k' \
  'write -P 0x23 70M 3M' "write -P 0x24 $(( big - 65536 )) 65536"
qemu-img convert -f vmdk -O vmdk -o subformat=streamOptimized \
  multi/s.vmdk multi/m.vmdk
qemu-img convert -f vmdk -O raw multi/m.vmdk multi/expected.raw
mkdir multi/cut
$edit gd-at-end multi/m.vmdk multi/cut/m.vmdk
mfooter=$(( $(stat -c %s multi/cut/m.vmdk) - 1024 ))
truncate -s $(( mfooter - 512 )) multi/cut/m.vmdk
rm -f served.raw
serve_to_raw vmdkx multi/cut/m.vmdk served.raw
cmp served.raw multi/expected.raw
rm -rf multi served.raw

# Corrupted compressed grain (zlib header destroyed): the open works,
# the read fails with EIO naming inflate.
first=$($edit grain-offsets stream.vmdk | head -n1 | cut -d" " -f1)
f=$(variant corrupt)
vmdk_patch $f $(( first + 12 )) '\x00\x00\x00\x00'
vmdk_expect_read_error $f 'inflate' 'Input/output error|EIO'
# The undamaged grains of the same image still read correctly.
nbdkit -U - -r "$(plugin vmdkx)" file=$f --run '
  qemu-img convert -O raw --image-opts \
    "driver=raw,offset=3145728,size=65536,file.driver=nbd,file.server.type=unix,file.server.path=$unixsocket" \
    part.raw'
cmp part.raw <(dd if=expected.raw bs=64k skip=48 count=1 status=none)

# A grain that inflates to fewer bytes than a grain.
mkdir short
$edit short-grain stream.vmdk short/stream.vmdk
vmdk_expect_read_error short/stream.vmdk 'inflate|grain'

# A grain marker whose size is absurd (larger than the file).
f=$(variant hugemarker)
vmdk_patch $f $(( first + 8 )) "$(vmdk_le32 0x7ffffff0)"
status=0
nbdkit -U - -r "$(plugin vmdkx)" file=$f \
  --run 'nbdcopy --synchronous "$uri" null:' 2> "$tmp/err" || status=$?
cat "$tmp/err"
[ $status -ne 0 ]
[ $status -lt 128 ]
grep -Eq 'grain|marker|beyond the end|inflate' "$tmp/err"
