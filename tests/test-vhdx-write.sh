#!/usr/bin/env bash
# Creating VHDX with the vhdx plugin: raw -> nbdcopy into the plugin
# (create=true) -> the image -> qemu-img convert -O raw must give the raw
# back, and the plugin must read its own output back; qemu-img check
# finds nothing, nor does the plugin's own check.  Fixed and dynamic,
# 512- and 4096-byte logical sectors (qemu 7.2 opens only 512-byte ones:
# the 4096 ones are read back by the plugin alone), several block sizes.
# Structure: regions and blocks on 1 MiB boundaries, BAT entries
# NOT_PRESENT unless written, a fixed VHDX fully present in place with
# LeaveBlockAllocated, the log empty after the plugin exits.
source "$srcdir/functions.sh"
set -e -x
source "$srcdir/vhdx-write-functions.sh"
RANDOM=10

make_raw "$tmp/disk.raw" $(( 100 * M + 4096 ))

for type in dynamic fixed; do
  for sector in 512 4096; do
    for bs in "" 1 8; do
      img=$tmp/$type-$sector-$bs.vhdx
      nbdcopy -- "$tmp/disk.raw" \
        [ nbdkit "$P" file="$img" create=true create-size=$(( 100 * M + 4096 )) \
          create-type=$type create-sector-size=$sector \
          ${bs:+create-block-size=${bs}M} ]
      check_structure "$img" $type
      test "$(info "$img" logical_sector_size)" = $sector
      test "$(info "$img" physical_sector_size)" = 4096
      test "$(info "$img" block_size)" = $(( ${bs:-32} * M ))
      serve_to_raw vhdx "$img" "$tmp/back.raw"
      cmp "$tmp/disk.raw" "$tmp/back.raw"
      if [ $sector = 512 ]; then
        qemu-img check -f vhdx "$img"
        qemu-img convert -f vhdx -O raw "$img" "$tmp/qemu.raw"
        cmp "$tmp/disk.raw" "$tmp/qemu.raw"
      fi
      rm -f "$img"
    done
  done
done

# A dynamic image with nothing written: every BAT entry NOT_PRESENT
# (0), so vhdx-tool info lists none; the default block size is 32 MiB.
img=$tmp/empty.vhdx
nbdkit -U - "$P" file="$img" create=true create-size=1G --run true
test -z "$("$tool" info "$img" | awk '$1 == "bat" && NF == 4')"
test "$(info "$img" block_size)" = $(( 32 * M ))
test "$(info "$img" bat)" = "$(( 3 * M )) $M"
test "$(info "$img" log)" = "$M $M"
test "$(info "$img" metadata)" = "$(( 2 * M )) $M"
qemu-img check -f vhdx "$img"
# Zero and trim keep an unwritten image empty.
truncate -s 1G "$tmp/zero.raw"
nbdkit -U - "$P" file="$img" \
  --run "nbdcopy --synchronous $tmp/zero.raw \$uri &&
         qemu-io -f raw -c 'write -z 0 1G' -c 'discard 0 1G' \$uri"
rm "$tmp/zero.raw"
test -z "$("$tool" info "$img" | awk '$1 == "bat" && NF == 4')"
# A fixed one is sparse: creating 1 GiB writes a few MiB.
img=$tmp/fixed.vhdx
nbdkit -U - "$P" file="$img" create=true create-size=1G create-type=fixed \
  --run true
test "$(stat -c %s "$img")" -ge $(( 1024 * M ))
test "$(du -k "$img" | cut -f1)" -lt 16384
check_structure "$img" fixed
qemu-img check -f vhdx "$img"
