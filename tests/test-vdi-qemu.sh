#!/usr/bin/env bash
# VDI base images made by qemu-img (version 1.1, 384-byte header, no
# alignment), dynamic and static, and VirtualBox-style ones from
# vdi-mkdiff.py (400-byte header, map and data aligned to 1 MiB) or
# qemu-img images patched to VirtualBox's banner: every byte and the
# map compared with qemu-img's decoding.
source "$srcdir/functions.sh"
set -e -x

requires_plugin vdix
requires qemu-img --version
requires qemu-io --version
requires nbdcopy --version
requires jq --version
requires python3 --version
make_tmpdir
mkdiff="python3 $srcdir/vdi-mkdiff.py"
M=$(( 1 << 20 ))

# Patterns at block, sector and odd boundaries, and zeros written over
# data, in an image of SIZE bytes.
write_patterns ()
{
  local img=$1 size=$2
  qemu-io -f vdi \
    -c "write -P 0x11 0 512" \
    -c "write -P 0x22 $(( M - 512 )) 1024" \
    -c "write -P 0x33 $(( 3 * M + 4096 )) 3000" \
    -c "write -P 0x44 $(( size - 512 )) 512" \
    -c "write -z $(( M - 256 )) 512" \
    "$img" >/dev/null
}

check ()
{
  compare_with_qemu vdix "$1" vdi
  compare_map_with_qemu vdix "$1" vdi
  served=$(nbdkit -U - -r "$(plugin vdix)" file="$1" \
             --run 'nbdinfo --size "$uri"')
  test "$served" -eq "$(qemu-img info -f vdi --output=json "$1" |
                        jq '."virtual-size"')"
}

# qemu-img: dynamic and static; sizes a multiple of the block size and
# not (the last block only partly inside the disk).
for size in 16M 10000384 $(( 5 * M + 512 )); do
  for static in off on; do
    img=$tmp/q-$size-$static.vdi
    qemu-img create -q -f vdi -o static=$static "$img" $size
    real=$(qemu-img info -f vdi --output=json "$img" | jq '."virtual-size"')
    write_patterns "$img" $real
    check "$img"
  done
done

# An untouched dynamic image: all holes.
qemu-img create -q -f vdi "$tmp/empty.vdi" 100M
check "$tmp/empty.vdi"
nbdkit -U - -r "$(plugin vdix)" file="$tmp/empty.vdi" \
  --run 'nbdinfo --map "$uri"' | grep -q '104857600 *3 *hole,zero'

# VirtualBox's layout, which qemu reads too: 1.1, 400 bytes, aligned.
for size in 16M 10000384; do
  img=$tmp/vbox-$size.vdi
  bytes=$(numfmt --from=iec $size)
  $mkdiff create "$img" $bytes
  write_patterns "$img" $bytes
  test "$(od -An -tu4 -j 72 -N 4 "$img" | tr -d ' ')" -eq 400
  check "$img"
done

# The banner is never looked at: VirtualBox 7's, an old one, garbage.
for banner in "<<< Oracle VirtualBox Disk Image >>>" \
              "<<< innotek VirtualBox Disk Image >>>" "xxxxxxxx"; do
  cp "$tmp/vbox-16M.vdi" "$tmp/banner.vdi"
  head -c 64 /dev/zero | dd of="$tmp/banner.vdi" conv=notrunc status=none
  printf '%s\n' "$banner" | dd of="$tmp/banner.vdi" conv=notrunc status=none
  compare_with_qemu vdix "$tmp/banner.vdi" vdi
done

# Detection by signature, not by name.
cp "$tmp/q-16M-off.vdi" "$tmp/renamed.img"
compare_with_qemu vdix "$tmp/renamed.img" vdi

# The other plugins refuse a VDI, naming vdix; diskx serves it.
expect_open_error vmdkx "$tmp/renamed.img" \
  'renamed.img: this is a VDI file, not VMDK: use the vdix plugin'
if [ -f "$(plugin diskx)" ]; then
  compare_with_qemu diskx "$tmp/q-16M-on.vdi" vdi
  compare_map_with_qemu diskx "$tmp/vbox-16M.vdi" vdi
fi
