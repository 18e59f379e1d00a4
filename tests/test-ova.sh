#!/usr/bin/env bash
# OVA appliances read in place: tar in ustar, GNU and pax form, long
# names, several disks of several formats, chunked and gzip members,
# manifests.  Every served disk is compared byte for byte with the
# inner image served on its own and with qemu-img's decoding.
source "$srcdir/functions.sh"
source "$srcdir/ova-functions.sh"
set -e -x

requires_plugin diskx
requires_plugin vmdkx
requires_plugin vhdx
requires qemu-img --version
requires qemu-io --version
requires nbdinfo --version
requires nbdcopy --version
requires tar --version
make_tmpdir
cd "$tmp"

raw=disk.raw
truncate -s 40M $raw
qemu-io -f raw -c 'write -P 0x61 0 3M' -c 'write -P 0x62 20M 65k' \
  -c 'write -P 0x63 39M 1M' $raw >/dev/null
qemu-img convert -q -f raw -O vmdk -o subformat=streamOptimized $raw stream.vmdk
qemu-img convert -q -f raw -O vpc -o subformat=dynamic,force_size=on $raw dyn.vhd
qemu-img convert -q -f raw -O vhdx $raw disk.vhdx
long=a-disk-name-longer-than-the-hundred-bytes-of-a-tar-header-name-field-$(printf 'x%.0s' {1..60}).vmdk
cp stream.vmdk "$long"
want=$(sha256sum < $raw | cut -d' ' -f1)

check_disk ()                   # PLUGIN OVA QEMUFMT INNER [PARAMS...]
{
  local p=$1 ova=$2 fmt=$3 inner=$4
  shift 4
  test "$(served_sha256 $p $ova "$@")" = "$want"
  compare_with_qemu_ova $p $ova $fmt $inner "$@"
  # Extents: as the inner image's own plugin reports them, but for
  # what the inner file's own holes add (a tar member has none); every
  # range reported as zero reads as zero.
  nbdkit -U - -r "$(plugin $p)" file=$ova "$@" \
    --run 'nbdinfo --map "$uri"' > map.ova
  if [ $fmt = vmdk ]; then
    nbdkit -U - -r "$(plugin diskx)" file=$inner \
      --run 'nbdinfo --map "$uri"' > map.inner
    cmp map.ova map.inner
  fi
  local start length type
  while read start length type rest; do
    [ $((type & 2)) = 2 ] || continue
    dd if=$raw iflag=skip_bytes,count_bytes skip=$start count=$length \
      status=none | cmp -s - <(head -c $length /dev/zero)
  done < map.ova
}
compare_with_qemu_ova ()
{
  local p=$1 ova=$2 fmt=$3 inner=$4
  shift 4
  nbdkit -U - -r "$(plugin $p)" file=$ova "$@" \
    --run "qemu-img compare -q -f $fmt -F raw $inner \"\$uri\""
}

for form in ustar gnu pax oldgnu; do
  make_ovf app.ovf 41943040 stream.vmdk dyn.vhd disk.vhdx $raw
  tar --format=$form -cf $form.ova app.ovf stream.vmdk dyn.vhd disk.vhdx $raw
  check_disk vmdkx $form.ova vmdk stream.vmdk
  check_disk diskx $form.ova vmdk stream.vmdk disk=0
  check_disk vhdx $form.ova vpc dyn.vhd disk=1
  check_disk vhdx $form.ova vhdx disk.vhdx disk=disk.vhdx
  check_disk diskx $form.ova raw $raw disk=3
  # The description names the VM, product, vendor and disk.
  nbdkit -U - -r "$(plugin diskx)" file=$form.ova disk=1 \
    --run 'nbdinfo "$uri"' | grep description > desc
  grep -F 'OVA appliance "test <vm>", product Widget (vendor ACME), disk 1 of 4 (vmdisk1, file dyn.vhd): VHD' desc
done

# A plugin refuses an inner disk of another format, with a hint.
expect_open_error vmdkx ustar.ova 'is a VHD file: use the vhdx plugin' disk=1
expect_open_error vmdkx ustar.ova 'is a raw file: use the diskx plugin' disk=3
# An unknown disk= lists what the archive holds.
expect_open_error diskx ustar.ova 'no such disk; the OVA holds: 0 \(vmdisk0, file stream.vmdk\), 1 \(vmdisk1, file dyn.vhd\)' disk=9
expect_open_error diskx ustar.ova 'no such disk' disk=nosuch.vmdk

# Long names: GNU 'L' members and pax path records.
for form in gnu pax; do
  make_ovf long.ovf 41943040 "$long"
  tar --format=$form -cf long-$form.ova long.ovf "$long"
  check_disk vmdkx long-$form.ova vmdk "$long"
done

# Chunked and gzip members, with manifests in both styles.
gzip -c stream.vmdk > stream.vmdk.gz
gzip -c dyn.vhd > dyn.vhd.gz
split -b 1000000 -d -a 9 dyn.vhd dyn.vhd.
make_ovf packed.ovf 41943040 'stream.vmdk.gz:ovf:compression="gzip"' \
  'dyn.vhd:ovf:chunkSize="1000000"' 'dyn.vhd.gz:ovf:compression="gzip"'
make_mf_ovftool stream.vmdk.gz dyn.vhd.0* dyn.vhd.gz > packed.mf
echo 'SHA256(left-out.vmdk)= 0123456789012345678901234567890123456789012345678901234567890123' >> packed.mf
# ovftool pads its manifest with spaces.
printf '%*s' 300 '' >> packed.mf
tar --format=gnu -cf packed.ova packed.ovf packed.mf stream.vmdk.gz dyn.vhd.0* dyn.vhd.gz
check_disk vmdkx packed.ova vmdk stream.vmdk verify=true
check_disk diskx packed.ova vpc dyn.vhd disk=1 verify=true
check_disk vhdx packed.ova vpc dyn.vhd disk=2 verify=true
make_mf_vbox stream.vmdk.gz dyn.vhd.0* dyn.vhd.gz > packed.mf
tar --format=pax -cf packed-vbox.ova packed.ovf packed.mf stream.vmdk.gz dyn.vhd.0* dyn.vhd.gz
check_disk vmdkx packed-vbox.ova vmdk stream.vmdk verify=true
check_disk diskx packed-vbox.ova vpc dyn.vhd disk=1 verify=true

# A wrong digest: refused with verify=true, served without it.
make_mf_ovftool stream.vmdk.gz dyn.vhd.0* > packed.mf
# Change the first hex digit of the first digest, whatever it is.
perl -i -pe 'if ($. == 1) { s/= ([0-9a-f])/"= " . ($1 eq "0" ? "1" : "0")/e }' \
  packed.mf
tar --format=ustar -cf wrong.ova packed.ovf packed.mf stream.vmdk.gz dyn.vhd.0* dyn.vhd.gz
expect_open_error vmdkx wrong.ova 'stream.vmdk.gz" does not match the manifest' verify=true
check_disk vmdkx wrong.ova vmdk stream.vmdk
# A disk the manifest does not cover.
expect_open_error diskx wrong.ova 'manifest has no digest for "dyn.vhd.gz"' disk=2 verify=true

# The OVF's capacity disagrees: served at the disk's size, with a warning.
make_ovf cap.ovf 1073741824 stream.vmdk
tar -cf cap.ova cap.ovf stream.vmdk
test "$(served_sha256 vmdkx cap.ova)" = "$want"
nbdkit -U - -r "$(plugin vmdkx)" file=cap.ova --run 'nbdinfo "$uri"' |
  grep 'warning: the OVF gives its capacity as 1073741824 bytes, the disk has 41943040'
