#!/usr/bin/env bash
# qemu-made VHD (vpc) and VHDX images, dynamic and fixed, with patterns
# at block and sector boundaries: every byte and the map compared with
# qemu-img's decoding.  Also: detection by magic, not by file name.
source "$srcdir/functions.sh"
set -e -x

requires_plugin vhdx
requires qemu-img --version
requires qemu-io --version
requires nbdcopy --version
requires jq --version
make_tmpdir

# Patterns at block, sector and odd boundaries for an image of SIZE
# with blocks of BLOCK bytes.
write_patterns ()
{
  local fmt=$1 img=$2 block=$3 size=$4
  qemu-io -f "$fmt" \
    -c "write -P 0x11 0 512" \
    -c "write -P 0x22 $(( block - 512 )) 1024" \
    -c "write -P 0x33 $(( block + 4096 )) 3000" \
    -c "write -P 0x44 $(( size - 512 )) 512" \
    -c "write -z $(( block - 256 )) 512" \
    "$img" >/dev/null
}

check ()
{
  local fmt=$1 img=$2
  compare_with_qemu vhdx "$img" "$fmt"
  compare_map_loosely vhdx "$img" "$fmt"
}

# VHD: dynamic and fixed; sizes that are (64M: qemu rounds it to the
# CHS geometry) and are not (10000000 with force_size=on) CHS-exact, with and without
# force_size.  qemu 7.2 serves the CHS size for its own creator 'qemu'
# unless force_size=on, and so does the plugin (rule for creator qemu).
for size in 64M 10000000; do
  for sub in dynamic fixed; do
    for force in off on; do
      img=$tmp/vpc-$sub-$size-$force.vhd
      qemu-img create -q -f vpc -o subformat=$sub,force_size=$force \
        "$img" $size
      real=$(qemu-img info -f vpc --output=json "$img" | jq '."virtual-size"')
      write_patterns vpc "$img" $(( 2 << 20 )) $real
      check vpc "$img"
      served=$(nbdkit -U - -r "$(plugin vhdx)" file="$img" \
                 --run 'nbdinfo --size "$uri"')
      test "$served" -eq "$real"
    done
  done
done

# VHDX: block sizes 1M, 8M, 32M and 256M (small disk), dynamic and
# fixed, block_state_zero on/off, a non-default log size.
for bs in 1M 8M 32M 256M; do
  for sub in dynamic fixed; do
    for bsz in on off; do
      [ $sub = fixed ] && [ $bsz = off ] && continue
      img=$tmp/t-$bs-$sub-$bsz.vhdx
      size=64M
      [ $bs = 256M ] && size=300M
      qemu-img create -q -f vhdx \
        -o subformat=$sub,block_size=$bs,block_state_zero=$bsz \
        "$img" $size
      bsb=$(numfmt --from=iec $bs)
      write_patterns vhdx "$img" $bsb $(numfmt --from=iec $size)
      check vhdx "$img"
      [ $sub = fixed ] && rm -f "$img"
    done
  done
done

img=$tmp/log.vhdx
qemu-img create -q -f vhdx -o log_size=8M,block_size=1M "$img" 20M
qemu-io -f vhdx -c 'write -P 0x5a 1M 3M' -c 'write -P 0xa5 4095 2' "$img" \
  >/dev/null
check vhdx "$img"

# Detection by magic: a VHDX named .vhd and a VHD named .vhdx.
cp "$img" "$tmp/renamed.vhd"
compare_with_qemu vhdx "$tmp/renamed.vhd" vhdx
cp "$tmp/vpc-dynamic-64M-on.vhd" "$tmp/renamed.vhdx"
compare_with_qemu vhdx "$tmp/renamed.vhdx" vpc
