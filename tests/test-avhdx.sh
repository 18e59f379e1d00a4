#!/usr/bin/env bash
# A Hyper-V checkpoint chain given by its newest file: "Virtual Hard
# Disks/Generation 1.vhdx" <- two .avhdx checkpoints named as Hyper-V
# names them (base name, '_', GUID), each recording its parent as a
# Windows relative path (".\Generation 1_….avhdx", remote-sources.md
# §4.4).  vhdx and diskx follow the parent locators down to the base;
# what they serve must equal qemu-img's decoding of the base with the
# checkpoints' writes applied by dd.  (qemu-img itself cannot open a
# differencing VHDX.)
source "$srcdir/functions.sh"
set -e -x

requires_plugin vhdx
requires_plugin diskx
requires qemu-img --version
requires qemu-io --version
requires nbdcopy --version
make_tmpdir
mkdiff=$top_builddir/tests/vhd-mkdiff
requires test -x "$mkdiff"
M=$(( 1 << 20 ))

d="$tmp/Virtual Hard Disks"
mkdir "$d"
cd "$d"
base="Generation 1.vhdx"
c1="Generation 1_49C4BAF3-6B2A-4B48-9A35-000000000001.avhdx"
c2="Generation 1_49C4BAF3-6B2A-4B48-9A35-000000000002.avhdx"
qemu-img create -q -f vhdx "$base" 8M
qemu-io -f vhdx -c 'write -P 0x11 0 3M' "$base" >/dev/null
qemu-img convert -f vhdx -O raw "$base" "$tmp/want.raw"

# apply CHILD OFFSET LENGTH BYTE: the write in the image and in the
# expectation.
apply ()
{
  "$mkdiff" write "$1" "$2" "$3" "$4" >/dev/null
  head -c "$3" /dev/zero | tr '\0' "\\$(printf %03o "$4")" |
    dd of="$tmp/want.raw" bs=64K oflag=seek_bytes seek="$2" conv=notrunc \
       status=none
}

"$mkdiff" vhdx "$c1" "$base" --parent-name ".\\$base"
apply "$c1" $(( M + 512 )) 4096 0x22
"$mkdiff" vhdx "$c2" "$c1" --parent-name ".\\$c1"
apply "$c2" $(( 2 * M )) 100352 0x33
apply "$c2" $(( 7 * M - 512 )) 512 0x34

for p in vhdx diskx; do
  serve_to_raw $p "$d/$c2" "$tmp/served.raw"
  cmp "$tmp/served.raw" "$tmp/want.raw"
  rm "$tmp/served.raw"
done
nbdkit -U - -r "$(plugin vhdx)" file="$d/$c2" --run 'nbdinfo "$uri"' |
  grep -q 'parent chain depth 2'

# Without its parent the newest checkpoint is refused, naming it.
mv "$c1" "$tmp/"
expect_open_error vhdx "$d/$c2" 'not found'
grep -q "Generation 1_49C4BAF3-6B2A-4B48-9A35-000000000001" "$tmp/err"
