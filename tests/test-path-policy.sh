#!/usr/bin/env bash
# The path policy for names stored in images (VMDK extents and parents,
# VHD and VHDX parents), for both plugins: by default only files inside
# the directory of the image (after symlinks are resolved) may be
# opened; anything else is expect_confined with an error naming the path and
# allow-external-files, which lifts it (=true, or =DIR[:DIR...]).
# Cases: an absolute path outside, ../../x, a symlink in the directory
# that points out of it, the image reached through a symlink, and an
# image that names itself as its extent or parent.
source "$srcdir/functions.sh"
set -e -x

requires_plugin vmdkx
requires_plugin vhdx
requires qemu-img --version
requires qemu-io --version
requires nbdcopy --version
requires python3 --version
make_tmpdir
mkdiff=$top_builddir/tests/vhd-mkdiff
requires test -x "$mkdiff"

# $vm is the images' directory; ../../ from it is $top; $out is a
# sibling directory outside.
top=$tmp/top
vm=$top/mid/vm
out=$tmp/out
mkdir -p "$vm" "$out"


# serves PLUGIN IMG RAW [PARAM...]: IMG is served and reads as RAW.
serves ()
{
  local p=$1 img=$2 raw=$3
  shift 3
  rm -f "$tmp/served.raw"
  serve_to_raw "$p" "$img" "$tmp/served.raw" "$@"
  cmp "$tmp/served.raw" "$raw"
}

descriptor ()                   # descriptor EXTENT-LINE [PARENT-LINES]
{
  printf '# Disk DescriptorFile\nversion=1\nCID=0badcafe\n'
  if [ -n "${2-}" ]; then printf '%s\n' "$2"; else printf 'parentCID=ffffffff\n'; fi
  printf 'createType="monolithicFlat"\n%s\n' "$1"
}

# Data files: one inside $vm, one outside, one two levels up.
random_bytes 1 8192 > "$vm/in.bin"
random_bytes 2 8192 > "$out/x.bin"
random_bytes 3 8192 > "$top/x.bin"

# ---- vmdkx: extents -------------------------------------------------

# An absolute path outside.
descriptor 'RW 1 FLAT "/etc/passwd" 0' > "$vm/passwd.vmdk"
expect_confined vmdkx "$vm/passwd.vmdk" /etc/passwd
serves vmdkx "$vm/passwd.vmdk" <(head -c 512 /etc/passwd) \
  allow-external-files=true
serves vmdkx "$vm/passwd.vmdk" <(head -c 512 /etc/passwd) \
  allow-external-files=/etc
expect_confined vmdkx "$vm/passwd.vmdk" /etc/passwd allow-external-files=false
expect_confined vmdkx "$vm/passwd.vmdk" /etc/passwd allow-external-files="$out"

# ../../x
descriptor 'RW 16 FLAT "../../x.bin" 0' > "$vm/up.vmdk"
expect_confined vmdkx "$vm/up.vmdk" ../../x.bin
grep -qF "$top/x.bin" "$tmp/err"
serves vmdkx "$vm/up.vmdk" "$top/x.bin" allow-external-files=true
serves vmdkx "$vm/up.vmdk" "$top/x.bin" allow-external-files="$top"
serves vmdkx "$vm/up.vmdk" "$top/x.bin" allow-external-files="$out:$top"
expect_confined vmdkx "$vm/up.vmdk" "$top/x.bin" allow-external-files="$out"
# A directory that does not exist is an error of its own.  (Not in the
# sanitizer build: there nbdkit 1.32 hangs in exit, in p11-kit's
# destructor, after any error message with %m once an ASan-instrumented
# plugin was loaded -- file=/nosuch does it too, with no xdisk code
# involved: glibc's locale lock is left with a negative reader count.)
if [ -z "${XDISK_NBDKIT_PRELOAD-}" ]; then
  expect_open_error vmdkx "$vm/up.vmdk" "allow-external-files.*$tmp/nosuch" \
    allow-external-files="$tmp/nosuch"
fi

# A symlink inside the directory pointing out of it: refused, naming
# where it leads.  One pointing inside is fine.
ln -s "$out/x.bin" "$vm/link.bin"
descriptor 'RW 16 FLAT "link.bin" 0' > "$vm/link.vmdk"
expect_confined vmdkx "$vm/link.vmdk" "$out/x.bin"
serves vmdkx "$vm/link.vmdk" "$out/x.bin" allow-external-files="$out"
ln -s in.bin "$vm/inlink.bin"
descriptor 'RW 16 FLAT "inlink.bin" 0' > "$vm/inlink.vmdk"
serves vmdkx "$vm/inlink.vmdk" "$vm/in.bin"
# ... and a symlinked directory on the way.
ln -s "$out" "$vm/outdir"
descriptor 'RW 16 FLAT "outdir/x.bin" 0' > "$vm/outdir.vmdk"
expect_confined vmdkx "$vm/outdir.vmdk" "$out/x.bin"

# The image reached through a symlink from elsewhere: the directory
# that counts is the real one, so its relative extents are inside and
# a file next to the symlink is outside.
descriptor 'RW 16 FLAT "in.bin" 0' > "$vm/plain.vmdk"
ln -s "$vm/plain.vmdk" "$out/plain-link.vmdk"
serves vmdkx "$out/plain-link.vmdk" "$vm/in.bin"
descriptor "RW 16 FLAT \"$out/x.bin\" 0" > "$vm/abs.vmdk"
ln -s "$vm/abs.vmdk" "$out/abs-link.vmdk"
expect_confined vmdkx "$out/abs-link.vmdk" "$out/x.bin"

# An extent that is the image itself: a text descriptor naming itself
# as a FLAT or a SPARSE extent, directly, as ./NAME or through a
# symlink, is expect_confined whatever allow-external-files says.
descriptor 'RW 1 FLAT "self.vmdk" 0' > "$vm/self.vmdk"
expect_open_error vmdkx "$vm/self.vmdk" 'itself'
grep -qF self.vmdk "$tmp/err"
expect_open_error vmdkx "$vm/self.vmdk" 'itself' allow-external-files=true
descriptor 'RW 1 FLAT "./self2.vmdk" 0' > "$vm/self2.vmdk"
expect_open_error vmdkx "$vm/self2.vmdk" 'itself'
ln -s self3.vmdk "$vm/me.vmdk"
descriptor 'RW 1 FLAT "me.vmdk" 0' > "$vm/self3.vmdk"
expect_open_error vmdkx "$vm/self3.vmdk" 'itself'
expect_open_error vmdkx "$vm/me.vmdk" 'itself'
descriptor 'RW 2048 SPARSE "selfs.vmdk"' > "$vm/selfs.vmdk"
expect_open_error vmdkx "$vm/selfs.vmdk" 'itself'
# ... or as its own parent.
descriptor 'RW 16 FLAT "in.bin" 0' \
  "$(printf 'parentCID=0badcafe\nparentFileNameHint="selfp.vmdk"')" \
  > "$vm/selfp.vmdk"
expect_open_error vmdkx "$vm/selfp.vmdk" 'loop'
grep -qF selfp.vmdk "$tmp/err"
expect_open_error vmdkx "$vm/selfp.vmdk" 'loop' ignore-parent-mismatch=true

# A monolithicSparse file names itself in its embedded descriptor, under
# the name it was created with: that stays fine after a rename, and
# through a symlink from elsewhere.
qemu-img create -q -f vmdk "$vm/made-as.vmdk" 4M
qemu-io -f vmdk -c 'write -P 0x5a 64k 1M' "$vm/made-as.vmdk" >/dev/null
mv "$vm/made-as.vmdk" "$vm/renamed.vmdk"
qemu-img convert -f vmdk -O raw "$vm/renamed.vmdk" "$tmp/renamed.raw"
serves vmdkx "$vm/renamed.vmdk" "$tmp/renamed.raw"
ln -s "$vm/renamed.vmdk" "$out/renamed-link.vmdk"
serves vmdkx "$out/renamed-link.vmdk" "$tmp/renamed.raw"
# ... but an embedded descriptor making a FLAT extent of its own file
# (the extent line rewritten in place, same length) is refused.
cp "$vm/renamed.vmdk" "$vm/flatsel.vmdk"
python3 - "$vm/flatsel.vmdk" <<'EOF'
import sys
with open(sys.argv[1], 'r+b') as f:
    data = f.read(65536)
    old = b'RW 8192 SPARSE "made-as.vmdk"'
    new = b'RW 8192 FLAT "flatsel.vmdk" 0'
    assert len(new) == len(old)
    at = data.index(old)
    f.seek(at)
    f.write(new)
EOF
expect_open_error vmdkx "$vm/flatsel.vmdk" 'itself'

# ---- vmdkx: parents -------------------------------------------------

qemu-img create -q -f vmdk "$out/base.vmdk" 4M
qemu-io -f vmdk -c 'write -P 0x77 0 1M' "$out/base.vmdk" >/dev/null
qemu-img convert -f vmdk -O raw "$out/base.vmdk" "$tmp/base-vmdk.raw"
cp "$out/base.vmdk" "$top/base.vmdk"
# An absolute parent outside.
qemu-img create -q -f vmdk -b "$out/base.vmdk" -F vmdk "$vm/child-abs.vmdk"
expect_confined vmdkx "$vm/child-abs.vmdk" "$out/base.vmdk"
serves vmdkx "$vm/child-abs.vmdk" "$tmp/base-vmdk.raw" allow-external-files="$out"
# ../../base.vmdk
qemu-img create -q -f vmdk -b ../../base.vmdk -F vmdk "$vm/child-up.vmdk"
expect_confined vmdkx "$vm/child-up.vmdk" ../../base.vmdk
serves vmdkx "$vm/child-up.vmdk" "$tmp/base-vmdk.raw" allow-external-files=true
# A symlink to the parent, pointing outside.
ln -s "$out/base.vmdk" "$vm/base-link.vmdk"
qemu-img create -q -f vmdk -b base-link.vmdk -F vmdk "$vm/child-link.vmdk"
expect_confined vmdkx "$vm/child-link.vmdk" "$out/base.vmdk"
serves vmdkx "$vm/child-link.vmdk" "$tmp/base-vmdk.raw" allow-external-files="$out"

# ---- vhdx: VHD parents ----------------------------------------------

qemu-img create -q -f vpc -o force_size=on "$out/base.vhd" 4M
qemu-io -f vpc -c 'write -P 0x31 0 1M' "$out/base.vhd" >/dev/null
qemu-img convert -f vpc -O raw "$out/base.vhd" "$tmp/base-vhd.raw"
cp "$out/base.vhd" "$top/base.vhd"
# An absolute path outside: a Mac OS X file:// URL, and a POSIX path in
# the W2ku locator.
"$mkdiff" vhd "$vm/c-macx.vhd" "$out/base.vhd" --locator macx
expect_confined vhdx "$vm/c-macx.vhd" "$out/base.vhd"
serves vhdx "$vm/c-macx.vhd" "$tmp/base-vhd.raw" allow-external-files="$out"
"$mkdiff" vhd "$vm/c-w2ku.vhd" "$out/base.vhd" --locator w2ku \
  --parent-name "$out/base.vhd"
expect_confined vhdx "$vm/c-w2ku.vhd" "$out/base.vhd"
serves vhdx "$vm/c-w2ku.vhd" "$tmp/base-vhd.raw" allow-external-files=true
"$mkdiff" vhd "$vm/c-passwd.vhd" "$out/base.vhd" --locator w2ku \
  --parent-name /etc/passwd
expect_confined vhdx "$vm/c-passwd.vhd" /etc/passwd
# ../../x (the same parent, copied two levels up)
"$mkdiff" vhd "$vm/c-up.vhd" "$top/base.vhd" --locator w2ru \
  --parent-name '..\..\base.vhd'
expect_confined vhdx "$vm/c-up.vhd" "$top/base.vhd"
grep -qF '..\..\base.vhd' "$tmp/err"
serves vhdx "$vm/c-up.vhd" "$tmp/base-vhd.raw" allow-external-files="$top"
# A symlink in the directory pointing out of it.
ln -s "$out/base.vhd" "$vm/base-link.vhd"
"$mkdiff" vhd "$vm/c-link.vhd" "$out/base.vhd" --locator w2ru \
  --parent-name base-link.vhd
expect_confined vhdx "$vm/c-link.vhd" "$out/base.vhd"
serves vhdx "$vm/c-link.vhd" "$tmp/base-vhd.raw" allow-external-files="$out"
# A Windows absolute path falls back to the same name in the image's
# directory, never to anywhere else.
cp "$out/base.vhd" "$vm/base.vhd"
"$mkdiff" vhd "$vm/c-win.vhd" "$vm/base.vhd" --locator w2ku \
  --parent-name 'D:\elsewhere\base.vhd'
serves vhdx "$vm/c-win.vhd" "$tmp/base-vhd.raw"
# Its own parent.
"$mkdiff" vhd "$vm/c-self.vhd" "$out/base.vhd" --locator w2ru \
  --parent-name c-self.vhd
expect_open_error vhdx "$vm/c-self.vhd" 'loop' ignore-parent-mismatch=true

# ---- vhdx: VHDX parents ---------------------------------------------

qemu-img create -q -f vhdx "$out/base.vhdx" 8M
qemu-io -f vhdx -c 'write -P 0x41 0 1M' "$out/base.vhdx" >/dev/null
qemu-img convert -f vhdx -O raw "$out/base.vhdx" "$tmp/base-vhdx.raw"
cp "$out/base.vhdx" "$top/base.vhdx"
# ../../x: relative_path is ".\..\..\base.vhdx".
"$mkdiff" vhdx "$vm/c-up.vhdx" "$top/base.vhdx" --parent-name '..\..\base.vhdx'
expect_confined vhdx "$vm/c-up.vhdx" "$top/base.vhdx"
serves vhdx "$vm/c-up.vhdx" "$tmp/base-vhdx.raw" allow-external-files="$top"
# A symlink in the directory pointing out of it.
ln -s "$out/base.vhdx" "$vm/base-link.vhdx"
"$mkdiff" vhdx "$vm/c-link.vhdx" "$out/base.vhdx" --parent-name base-link.vhdx
expect_confined vhdx "$vm/c-link.vhdx" "$out/base.vhdx"
serves vhdx "$vm/c-link.vhdx" "$tmp/base-vhdx.raw" allow-external-files="$out"
serves vhdx "$vm/c-link.vhdx" "$tmp/base-vhdx.raw" allow-external-files=true
# An absolute path outside, through a directory symlink.
ln -s "$out" "$vm/outdir2"
"$mkdiff" vhdx "$vm/c-dir.vhdx" "$out/base.vhdx" --parent-name 'outdir2\base.vhdx'
expect_confined vhdx "$vm/c-dir.vhdx" "$out/base.vhdx"
# Its own parent.
"$mkdiff" vhdx "$vm/c-self.vhdx" "$out/base.vhdx" --parent-name c-self.vhdx
expect_open_error vhdx "$vm/c-self.vhdx" 'loop' ignore-parent-mismatch=true
