#!/usr/bin/env bash
# The path policy (see test-path-policy.sh) for the names the qcow2x
# and vdix plugins find in images: qcow2 external data files and
# backing files given as absolute paths, as ../x, or through a symlink
# (to a file or a directory) that leads out of the image's directory;
# VDI parents, which are searched for by UUID, found through a symlink
# that leads out, or in the directory above.  Each is expect_confined with an
# error naming the file and allow-external-files, and served, every
# byte as qemu reads it (or as the chain was built), once allowed.
source "$srcdir/functions.sh"
source "$srcdir/vdi-functions.sh"
set -e -x

requires_plugin qcow2x
requires_plugin vdix
requires qemu-img --version
requires qemu-io --version
requires nbdcopy --version
make_tmpdir

vm=$tmp/top/vm
out=$tmp/out
mkdir -p "$vm" "$out"
size=$(( 4 << 20 ))


# ---- qcow2: external data files ----
# qemu-img writes through the data file, so every escape is made with
# qemu first and then compared with qemu's reading.
qcow2_data ()                   # qcow2_data IMG DATA-FILE-NAME
{
  ( cd "$(dirname "$1")" &&
    qemu-img create -q -f qcow2 -o data_file="$2" "$(basename "$1")" $size &&
    qemu-io -f qcow2 -c 'write -P 0x5c 64k 1M' -c 'write -P 0x5d 3M 4096' \
      "$(basename "$1")" >/dev/null )
}
qcow2_data "$vm/abs.qcow2" "$out/abs.raw"
expect_confined qcow2x "$vm/abs.qcow2" "$out/abs.raw"
compare_with_qemu qcow2x "$vm/abs.qcow2" qcow2 allow-external-files="$out"
expect_confined qcow2x "$vm/abs.qcow2" "$out/abs.raw" allow-external-files="$tmp/top"

qcow2_data "$vm/up.qcow2" ../../out/up.raw
expect_confined qcow2x "$vm/up.qcow2" ../../out/up.raw
# (qemu 7.2 opens a relative data file name from its working directory.)
( cd "$vm" && compare_with_qemu qcow2x up.qcow2 qcow2 allow-external-files=true )

ln -s "$out/link.raw" "$vm/link.raw"
qcow2_data "$vm/link.qcow2" link.raw
test -f "$out/link.raw"
expect_confined qcow2x "$vm/link.qcow2" "$out/link.raw"
( cd "$vm" &&
  compare_with_qemu qcow2x link.qcow2 qcow2 allow-external-files="$out" )

ln -s "$out" "$vm/outdir"
qcow2_data "$vm/dir.qcow2" outdir/dir.raw
expect_confined qcow2x "$vm/dir.qcow2" "$out/dir.raw"

# Inside, and the image reached through a symlink from elsewhere: the
# directory that counts is the image's real one.
qcow2_data "$vm/in.qcow2" in.raw
( cd "$vm" && compare_with_qemu qcow2x in.qcow2 qcow2 )
ln -s "$vm/in.qcow2" "$out/in-link.qcow2"
( cd "$vm" && compare_with_qemu qcow2x "$out/in-link.qcow2" qcow2 )

# ---- qcow2: backing files ----
qemu-img create -q -f qcow2 "$out/base.qcow2" $size
qemu-io -f qcow2 -c 'write -P 0x71 0 2M' "$out/base.qcow2" >/dev/null
backed ()                       # backed IMG BACKING-NAME
{
  ( cd "$(dirname "$1")" &&
    qemu-img create -q -f qcow2 -b "$2" -F qcow2 "$(basename "$1")" &&
    qemu-io -f qcow2 -c 'write -P 0x72 1M 4096' "$(basename "$1")" >/dev/null )
}
backed "$vm/b-abs.qcow2" "$out/base.qcow2"
expect_confined qcow2x "$vm/b-abs.qcow2" "$out/base.qcow2"
compare_with_qemu qcow2x "$vm/b-abs.qcow2" qcow2 allow-external-files="$out"
ln -s "$out/base.qcow2" "$vm/base-link.qcow2"
backed "$vm/b-link.qcow2" base-link.qcow2
expect_confined qcow2x "$vm/b-link.qcow2" "$out/base.qcow2"
compare_with_qemu qcow2x "$vm/b-link.qcow2" qcow2 allow-external-files="$out"
backed "$vm/b-dir.qcow2" outdir/base.qcow2
expect_confined qcow2x "$vm/b-dir.qcow2" "$out/base.qcow2"
# A backing file whose own backing file escapes: allowed for the first
# step only, the second is still refused.
cp "$out/base.qcow2" "$tmp/top/base2.qcow2"
backed "$out/mid.qcow2" ../top/base2.qcow2
backed "$vm/b-deep.qcow2" "$out/mid.qcow2"
expect_confined qcow2x "$vm/b-deep.qcow2" "$tmp/top/base2.qcow2" allow-external-files="$out"
compare_with_qemu qcow2x "$vm/b-deep.qcow2" qcow2 \
  allow-external-files="$out:$tmp/top"

# ---- VDI: parents found by UUID ----
# A chain built with vdi-mkdiff.py in $out; the child in $vm.
$mkdiff create "$out/base.vdi" $size
truncate -s $size "$tmp/chain.raw"
put "$out/base.vdi" "$tmp/chain.raw" 0 $(( 1 << 20 )) 0x31
$mkdiff create "$vm/snap.vdi" $size --parent "$out/base.vdi"
put "$vm/snap.vdi" "$tmp/chain.raw" 5000 3000 0x32
# Not found at all: the message says where it looked.
expect_open_error vdix "$vm/snap.vdi" 'not found'
# A symlink in the image's directory leading to the parent outside: the
# search skips it and says so.
ln -s "$out/base.vdi" "$vm/base.vdi"
expect_open_error vdix "$vm/snap.vdi" 'not found'
grep -qF 'outside the directories the path policy permits' "$tmp/err"
grep -qF 'allow-external-files' "$tmp/err"
grep -qF "$vm/base.vdi" "$tmp/err"
expect_raw "$vm/snap.vdi" "$tmp/chain.raw" allow-external-files="$out"
rm "$vm/base.vdi"
# The parent in the directory above (not a machine folder): searched,
# but outside; allowed by a list naming that directory.
mv "$out/base.vdi" "$tmp/top/base.vdi"
expect_open_error vdix "$vm/snap.vdi" 'path policy permits'
expect_raw "$vm/snap.vdi" "$tmp/chain.raw" allow-external-files="$tmp/top"
# ... and a symlinked directory above leads out too.
mkdir -p "$tmp/m2/real"
mv "$vm/snap.vdi" "$tmp/m2/real/snap.vdi"
mv "$tmp/top/base.vdi" "$out/base.vdi"
ln -s "$out/base.vdi" "$tmp/m2/base.vdi"
expect_open_error vdix "$tmp/m2/real/snap.vdi" 'path policy permits'
expect_raw "$tmp/m2/real/snap.vdi" "$tmp/chain.raw" allow-external-files=true
# A .vbox media registry next to the child naming the parent outside.
mkdir -p "$tmp/m3"
cp "$tmp/m2/real/snap.vdi" "$tmp/m3/snap.vdi"
$mkdiff vbox "$tmp/m3/m.vbox" "$out/base.vdi" "$tmp/m3/snap.vdi"
expect_confined vdix "$tmp/m3/snap.vdi" "$out/base.vdi"
expect_raw "$tmp/m3/snap.vdi" "$tmp/chain.raw" allow-external-files="$out"
# A machine folder widens the policy to itself (Snapshots/ and the base
# next to the .vbox), but not to where a symlink in it leads.
mkdir -p "$tmp/mf/Snapshots"
cp "$tmp/m3/snap.vdi" "$tmp/mf/Snapshots/snap.vdi"
ln -s "$out/base.vdi" "$tmp/mf/base.vdi"
$mkdiff vbox "$tmp/mf/mf.vbox" "$tmp/mf/base.vdi" "$tmp/mf/Snapshots/snap.vdi"
expect_confined vdix "$tmp/mf/Snapshots/snap.vdi" "$out/base.vdi"
rm "$tmp/mf/base.vdi"
cp "$out/base.vdi" "$tmp/mf/base.vdi"
expect_raw "$tmp/mf/Snapshots/snap.vdi" "$tmp/chain.raw"
