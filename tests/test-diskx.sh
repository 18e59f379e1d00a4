#!/usr/bin/env bash
# diskx: every format detected by content and served with the same code
# as its own plugin (same bytes, same extents, same description), raw
# only when no signature matches, format= to pin one, and the path
# policy still confining a header a guest wrote into a raw disk.
source "$srcdir/functions.sh"
set -e -x

requires_plugin diskx
requires_plugin vmdkx
requires_plugin vhdx
requires qemu-img --version
requires qemu-io --version
requires nbdinfo --version
requires nbdcopy --version
make_tmpdir

# The same content in every format: data, a zero run and holes.
raw=$tmp/disk.raw
truncate -s 48M "$raw"
qemu-io -f raw -c 'write -P 0x61 0 3M' -c 'write -P 0 8M 1M' \
  -c 'write -P 0x62 20M 65k' -c 'write -P 0x63 47M 1M' "$raw" >/dev/null

declare -A own
make_image ()
{
  local name=$1 plugin=$2 fmt=$3 opts=$4
  qemu-img convert -q -f raw -O "$fmt" ${opts:+-o "$opts"} "$raw" "$tmp/$name"
  own[$name]=$plugin
}
make_image sparse.vmdk vmdkx vmdk subformat=monolithicSparse
make_image flat.vmdk vmdkx vmdk subformat=monolithicFlat
make_image stream.vmdk vmdkx vmdk subformat=streamOptimized
make_image dynamic.vhd vhdx vpc subformat=dynamic,force_size=on
make_image fixed.vhd vhdx vpc subformat=fixed,force_size=on
make_image dynamic.vhdx vhdx vhdx subformat=dynamic
# Named to mislead: diskx must not look at names.
cp "$tmp/dynamic.vhdx" "$tmp/looks-like.vmdk"
own[looks-like.vmdk]=vhdx

want=$(sha256sum < "$raw" | cut -d' ' -f1)
for name in "${!own[@]}"; do
  img=$tmp/$name
  got=$(served_sha256 diskx "$img")
  test "$got" = "$want"
  nbdkit -U - -r "$(plugin diskx)" file="$img" \
    --run 'nbdinfo --map "$uri"' > "$tmp/map.diskx"
  nbdkit -U - -r "$(plugin "${own[$name]}")" file="$img" \
    --run 'nbdinfo --map "$uri"' > "$tmp/map.own"
  cmp "$tmp/map.diskx" "$tmp/map.own"
  nbdkit -U - -r "$(plugin diskx)" file="$img" \
    --run 'nbdinfo "$uri"' > "$tmp/info.diskx"
  nbdkit -U - -r "$(plugin "${own[$name]}")" file="$img" \
    --run 'nbdinfo "$uri"' > "$tmp/info.own"
  grep description "$tmp/info.own"
  diff <(grep description "$tmp/info.diskx") <(grep description "$tmp/info.own")
done

# A raw disk is served as it is, holes included.
test "$(served_sha256 diskx "$raw")" = "$want"
nbdkit -U - -r "$(plugin diskx)" file="$raw" --run 'nbdinfo "$uri"' |
  grep -q 'description: raw'
nbdkit -U - -r "$(plugin diskx)" file="$raw" --run 'nbdinfo --map "$uri"' |
  grep -q 'hole,zero'

# format=raw serves the image file itself, unprobed.
test "$(served_sha256 diskx "$tmp/sparse.vmdk" format=raw)" = \
     "$(sha256sum < "$tmp/sparse.vmdk" | cut -d' ' -f1)"
# format= of a format that does not match the content: that parser's error.
expect_open_error diskx "$raw" 'not a VHD or VHDX file' format=vhd

# A guest wrote a descriptor naming a host file into its raw disk.
guest=$tmp/guest.img
printf '# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType="monolithicFlat"\nRW 8 FLAT "/etc/passwd" 0\n' > "$guest"
truncate -s 1M "$guest"
expect_open_error diskx "$guest" 'outside the image.s directory'
# ... as the user says it is raw, it is served raw.
test "$(served_sha256 diskx "$guest" format=raw)" = \
     "$(sha256sum < "$guest" | cut -d' ' -f1)"

nbdkit "$(plugin diskx)" --dump-plugin > "$tmp/dump"
grep -q '^diskx_format=.*VMDK' "$tmp/dump"
grep -q '^diskx_format=.*raw' "$tmp/dump"
