#!/usr/bin/env bash
# Backing chains mixing formats: qcow2 over qcow2 over VHD, qcow2 over a
# VMDK delta over a VMDK, qcow2 over VHDX, over VDI (when the pack reads
# VDI), over raw, a backing file shorter than its child, and a backing
# file whose format is not recorded (detected from its contents).  Each
# compared, every byte and the map, with qemu-img's decoding of the
# whole chain.
source "$srcdir/functions.sh"
source "$srcdir/qcow2-functions.sh"
set -e -x

requires_plugin qcow2x
requires qemu-img --version
requires qemu-io --version
requires nbdcopy --version
requires jq --version
make_tmpdir
cd "$tmp"

size=$(( 8 << 20 ))

# base_image FMT FILE [OPTS]: a base of format FMT with patterns.
base_image ()
{
  local fmt=$1 f=$2
  shift 2
  qemu-img create -q -f "$fmt" "$@" "$f" $size
  qemu-io -f "$fmt" -c 'write -P 0xb0 0 1M' -c 'write -P 0xb1 3M 1M' \
    -c "write -P 0xb2 $(( size - 4096 )) 4096" "$f" >/dev/null
}

# child FILE BACKING BACKING_FMT: a qcow2 over BACKING with patterns
# overlapping the base's (BACKING_FMT empty: not recorded).
child ()
{
  local f=$1 b=$2 bf=$3
  qemu-img create -q -f qcow2 -u -b "$b" -F "${bf:-raw}" "$f" $size
  if [ -z "$bf" ]; then
    qcow2_drop_backing_format "$f"
    qemu-img info "$f" > "$f.info"
    refute_grep 'backing file format' "$f.info"
  fi
  qcow2_io "$f" 'write -P 0xc0 512k 1M' 'write -P 0xc1 65000 2000' \
    'write -z 3M 64k' 'discard 3200k 64k'
}

# Every backing format the plugin reads.
base_image raw base.raw
child over-raw.qcow2 base.raw raw
qcow2_check over-raw.qcow2

base_image vpc base.vhd -o subformat=dynamic,force_size=on
child mid-over-vhd.qcow2 base.vhd vpc
child top-over-qcow2.qcow2 mid-over-vhd.qcow2 qcow2
qcow2_check_loosely mid-over-vhd.qcow2
qcow2_check_loosely top-over-qcow2.qcow2
nbdkit -U - -r "$(plugin qcow2x)" file=top-over-qcow2.qcow2 \
  --run 'nbdinfo "$uri"' > info
grep 'backing file mid-over-vhd.qcow2 (qcow2):.*backing file base.vhd (vhd)' info

base_image vmdk base.vmdk
qemu-img create -q -f vmdk -b base.vmdk -F vmdk delta.vmdk
qemu-io -f vmdk -c 'write -P 0xd0 2M 1M' delta.vmdk >/dev/null
child over-vmdk.qcow2 delta.vmdk vmdk
qcow2_check over-vmdk.qcow2

base_image vhdx base.vhdx
child over-vhdx.qcow2 base.vhdx vhdx
qcow2_check_loosely over-vhdx.qcow2

if grep -q xd_reader_vdi "$top_srcdir/common/core/registry.c"; then
  base_image vdi base.vdi
  child over-vdi.qcow2 base.vdi vdi
  qcow2_check over-vdi.qcow2
fi

# Formats not recorded in the image (no backing format extension):
# the plugin detects each from its contents.  qemu would probe too, but
# refuses to probe raw for safety, so compare with the recorded twin.
for b in base.vhd base.vmdk base.vhdx mid-over-vhd.qcow2; do
  child "unrec-$b.qcow2" "$b" ""
  compare_with_qemu qcow2x "unrec-$b.qcow2" qcow2
done
child unrec-raw.qcow2 base.raw ""
test "$(served_sha256 qcow2x unrec-raw.qcow2)" = \
  "$(served_sha256 qcow2x over-raw.qcow2)"

# A backing file shorter than its child: zeros beyond its end.
qemu-img create -q -f qcow2 short.qcow2 3M
qcow2_io short.qcow2 'write -P 0xe0 0 3M'
qemu-img create -q -f qcow2 -b short.qcow2 -F qcow2 long.qcow2 8M
qcow2_io long.qcow2 'write -P 0xe1 2M 64k' 'write -P 0xe2 6M 64k'
qcow2_check long.qcow2

# A deeper chain: 6 qcow2 levels over a VMDK.
prev=base.vmdk prevfmt=vmdk
for i in 1 2 3 4 5 6; do
  qemu-img create -q -f qcow2 -b "$prev" -F $prevfmt "deep$i.qcow2" $size
  qcow2_io "deep$i.qcow2" "write -P 0x$i$i $(( i * 1000000 )) 70000"
  prev=deep$i.qcow2 prevfmt=qcow2
done
qcow2_check deep6.qcow2

# Wrong or unknown recorded formats, missing and looping backing files.
qemu-img create -q -f qcow2 -u -b base.vhdx -F vmdk wrongfmt.qcow2 $size
expect_open_error qcow2x wrongfmt.qcow2 'base.vhdx'
qemu-img create -q -f qcow2 -u -b base.raw -F parallels unknownfmt.qcow2 $size
expect_open_error qcow2x unknownfmt.qcow2 'parallels'
qemu-img create -q -f qcow2 -u -b nosuch.qcow2 -F qcow2 missing.qcow2 $size
expect_open_error qcow2x missing.qcow2 'nosuch.qcow2'
qemu-img create -q -f qcow2 -u -b loop2.qcow2 -F qcow2 loop1.qcow2 $size
qemu-img create -q -f qcow2 -u -b loop1.qcow2 -F qcow2 loop2.qcow2 $size
expect_open_error qcow2x loop1.qcow2 'deep|loop|chain'

# Backing files outside the image's directory follow the path policy.
mkdir sub
qemu-img create -q -f qcow2 -u -b ../base.raw -F raw sub/escape.qcow2 $size
expect_open_error qcow2x sub/escape.qcow2 'allow-external-files'
compare_with_qemu qcow2x sub/escape.qcow2 qcow2 allow-external-files=true
