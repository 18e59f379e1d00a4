#!/usr/bin/env bash
# Bad input: qemu-made images patched with dd/printf, and hand-written
# descriptors.  Each must be refused with one clear error containing the
# words from the plugin's bad-input table, never a crash.
source "$srcdir/functions.sh"
source "$srcdir/vmdk-functions.sh"
set -e -x

requires_plugin vmdkx
requires qemu-img --version
requires qemu-io --version
requires nbdcopy --version
make_tmpdir
cd "$tmp"

size=$(( 4 * 1024 * 1024 ))
qemu-img create -q -f vmdk good.vmdk $size
vmdk_io good.vmdk 'write -P 0x5a 0 1M' 'write -P 0x5b 3M 64k'
qemu-img convert -f vmdk -O raw good.vmdk good.raw
gd=$(( $(vmdk_get64 good.vmdk 56) * 512 ))
rgd=$(( $(vmdk_get64 good.vmdk 48) * 512 ))
[ $gd -gt 0 ] && [ $rgd -gt 0 ]
gt0=$(( $(vmdk_get32 good.vmdk $gd) * 512 ))
overhead=$(( $(vmdk_get64 good.vmdk 64) * 512 ))

# bad OFFSET DATA [OFFSET DATA...]: a copy of good.vmdk with each DATA
# written at its OFFSET.  Prints its name.  Each copy keeps the name
# good.vmdk (in its own directory), the name its embedded descriptor
# gives, so a reader that follows that name still reads the copy.
bad ()
{
  local dir
  dir=bad-$(printf '%s|' "$@" | md5sum | cut -c1-8)
  mkdir -p "$dir"
  cp good.vmdk "$dir/good.vmdk"
  while [ $# -gt 0 ]; do
    vmdk_patch "$dir/good.vmdk" "$1" "$2"
    shift 2
  done
  echo "$dir/good.vmdk"
}

# The unpatched image is fine (else every case below proves nothing).
compare_with_qemu vmdkx good.vmdk vmdk

# Wrong magic; not a VMDK at all.
vmdk_expect_open_error "$(bad 0 'XDMV')" 'magic|not a VMDK' 'bad-[0-9a-f]+/good\.vmdk'
head -c 100000 /dev/zero > zeros.img
vmdk_expect_open_error zeros.img 'magic|not a VMDK|descriptor' 'zeros\.img'
# An unsupported sparse version.
vmdk_expect_open_error "$(bad 4 "$(vmdk_le32 99)")" 'version'

# Truncated file: in the header, and after the metadata but before the
# grains (the grains are beyond the end).
b=$(bad 0 'KDMV')
truncate -s 40 $b
vmdk_expect_open_error $b 'beyond the end of the file|truncated'
b=$(bad 1 'DMV')
truncate -s $(( overhead + 65536 )) $b
vmdk_expect_read_error $b 'beyond the end of the file|truncated'

# Grain directory past the end of the file (both copies).
vmdk_expect_open_error "$(bad 56 "$(vmdk_le64 0x1000000)" 48 "$(vmdk_le64 0x1000000)")" \
  'grain directory' 'beyond the end of the file'
# Only the primary broken: the redundant grain directory is used.
b=$(bad 56 "$(vmdk_le64 0x1000000)")
serve_to_raw vmdkx "$b" served.raw
cmp served.raw good.raw

# Grain table past the end of the file (GD entry 0, both copies).
b=$(bad $gd "$(vmdk_le32 0x1000000)" $rgd "$(vmdk_le32 0x1000000)")
vmdk_expect_read_error "$b" 'grain table' 'beyond the end of the file'
# Grain table pointing into the header (sector 1).
b=$(bad $gd "$(vmdk_le32 1)" $rgd "$(vmdk_le32 1)")
vmdk_expect_read_error "$b" 'overlaps'
# A grain pointing into the header / metadata (sector 2: in the
# embedded descriptor; 1 would mean a zeroed grain).
rgt0=$(( $(vmdk_get32 good.vmdk $rgd) * 512 ))
b=$(bad $gt0 "$(vmdk_le32 2)" $rgt0 "$(vmdk_le32 2)")
vmdk_expect_read_error "$b" 'overlaps'
# ... and sector 1 when the header lacks the zeroed-grain flag (bit 2),
# so a GTE of 1 is not a zeroed grain but a grain inside the header.
[ $(( $(vmdk_get32 good.vmdk 8) & 4 )) -eq 0 ]
b=$(bad $gt0 "$(vmdk_le32 1)" $rgt0 "$(vmdk_le32 1)")
vmdk_expect_read_error "$b" 'overlaps'
# A grain past the end of the file.
b=$(bad $gt0 "$(vmdk_le32 0x1000000)" $rgt0 "$(vmdk_le32 0x1000000)")
vmdk_expect_read_error "$b" 'beyond the end of the file'

# Grain size 0, 3 (not a power of 2), absurdly large.
for g in 0 3 0x40000000; do
  vmdk_expect_open_error "$(bad 20 "$(vmdk_le64 $g)")" 'grain size'
done

# Capacity overflowing when multiplied out.
for c in 0xffffffffffffffff 0x0080000000000001; do
  vmdk_expect_open_error "$(bad 12 "$(vmdk_le64 $c)")" 'capacity'
done

# numGTEsPerGT 0 or absurd.
for g in 0 0x80000000; do
  vmdk_expect_open_error "$(bad 44 "$(vmdk_le32 $g)")" \
    'numGTEsPerGT|grain table|GTE'
done

# Newline-detection characters damaged (an ASCII-mode transfer).
vmdk_expect_open_error "$(bad 73 '\n\n\r\n')" 'newline|ASCII|corrupt'

# Absurd embedded descriptor size / offset.
vmdk_expect_open_error "$(bad 36 "$(vmdk_le64 0x7fffffffffff)")" 'descriptor'
vmdk_expect_open_error "$(bad 28 "$(vmdk_le64 0x7fffffffffff)")" \
  'descriptor' 'beyond the end of the file|truncated'

# --- Text descriptors ---
random_bytes 1 1M > flat.bin
descriptor ()
{
  printf '# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\n'
  printf 'createType="monolithicFlat"\n'
  cat
  printf '\n#DDB\nddb.adapterType = "ide"\n'
}
# A missing extent file.
descriptor > missing.vmdk <<'EOT'
RW 2048 FLAT "flat.bin" 0
RW 2048 FLAT "no-such-file.bin" 0
EOT
vmdk_expect_open_error missing.vmdk 'not found' 'no-such-file\.bin'
# An extent file shorter than its sector count (or sector count +
# offset).
descriptor > short.vmdk <<'EOT'
RW 4096 FLAT "flat.bin" 0
EOT
vmdk_expect_open_error short.vmdk 'shorter than' 'flat\.bin'
descriptor > short2.vmdk <<'EOT'
RW 2048 FLAT "flat.bin" 1
EOT
vmdk_expect_open_error short2.vmdk 'shorter than' 'flat\.bin'
# monolithicFlat made by qemu, its flat file truncated.
qemu-img create -q -f vmdk -o subformat=monolithicFlat mf.vmdk $size
truncate -s 1M mf-flat.vmdk
vmdk_expect_open_error mf.vmdk 'shorter than' 'mf-flat\.vmdk'
# A syntax error: the line number is named (line 6 here).
descriptor > syntax.vmdk <<'EOT'
RW two-thousand FLAT "flat.bin" 0
EOT
vmdk_expect_open_error syntax.vmdk 'descriptor' '6'
descriptor > syntax2.vmdk <<'EOT'
RW 2048 FLAT "flat.bin 0
EOT
vmdk_expect_open_error syntax2.vmdk 'descriptor' '6'
descriptor > syntax3.vmdk <<'EOT'
RW 2048 BOGUS "flat.bin" 0
EOT
vmdk_expect_open_error syntax3.vmdk 'descriptor|BOGUS'
# No extents at all.
descriptor > noextents.vmdk < /dev/null
vmdk_expect_open_error noextents.vmdk 'descriptor|extent'
# An extent of 0 sectors; offsets that overflow.
descriptor > zero.vmdk <<'EOT'
RW 0 FLAT "flat.bin" 0
EOT
vmdk_expect_open_error zero.vmdk 'descriptor|sector|extent'
descriptor > ovf.vmdk <<'EOT'
RW 2048 FLAT "flat.bin" 18446744073709551615
EOT
vmdk_expect_open_error ovf.vmdk 'descriptor|offset|shorter than|overflow'
descriptor > ovf2.vmdk <<'EOT'
RW 18446744073709551615 ZERO
RW 2048 FLAT "flat.bin" 0
EOT
vmdk_expect_open_error ovf2.vmdk 'descriptor|capacity|size|overflow|sector'
# A text descriptor naming itself as its flat extent.
descriptor > self.vmdk <<'EOT'
RW 1 FLAT "self.vmdk" 0
EOT
vmdk_expect_open_error self.vmdk 'loop|overlap|itself|descriptor'
# A text descriptor that is its own parent (a loop).
{ printf '# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=fffffffe\n'
  printf 'createType="monolithicSparse"\nparentFileNameHint="selfparent.vmdk"\n'
  printf 'RW 8192 SPARSE "good.vmdk"\n'; } > selfparent.vmdk
vmdk_expect_open_error selfparent.vmdk 'loop' -- ignore-parent-mismatch=true
# Binary garbage in place of a descriptor (bounded, refused).
random_bytes 2 3000 | tr -d '\000' > garbage.vmdk
vmdk_expect_open_error garbage.vmdk 'magic|not a VMDK|descriptor'
