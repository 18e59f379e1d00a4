#!/usr/bin/env bash
# Creating OVA appliances (issue 19): nbdkit vmdkx file=NAME.ova
# create=true create-size=S1[,S2] with the machine parameters; raw
# disks holding filesystems of real files written with nbdcopy (its
# default parallel connections and requests: out of order), one disk
# and two (the second through its export name), BIOS and EFI, SHA-256,
# SHA-1 and no manifest, SCSI, SATA and IDE.  Each OVA is checked by
# independent readers (ova_check in ova-create-functions.sh: GNU tar,
# sha256sum/sha1sum, xml.etree and ovf-check.py, qemu-img), read back
# by xdisk with verify=true, and parsed by virt-v2v -i ova.
source "$srcdir/functions.sh"
set -e -x
source "$srcdir/ova-create-functions.sh"

fs_disk d1.raw 64 "$libdir"
fs_disk d2.raw 32 /usr/share
cmp -s d1.raw d2.raw && exit 1

# One disk, every default: a BIOS machine on SCSI, a SHA-256 manifest,
# named after the file.
ova_create app.ova 'nbdcopy d1.raw "$uri"' create-size=64M
ova_check app.ova app sha256 bios scsi \
  "name=app cpus=1 memory=1024 nic=e1000 'network=VM Network' hw=vmx-13" \
  d1.raw
grep -Fx '       firmware: bios' v2v.out
grep -Fx '         memory: 1073741824 (bytes)' v2v.out
grep -Fx '       nr vCPUs: 1' v2v.out
grep -Fx "$(printf '\t0 [scsi]')" v2v.out
grep -Fx "$(printf '\tBridge "VM Network" [e1000]')" v2v.out

# Two disks, EFI, SATA, SHA-1, every machine parameter.  The exports are
# listed first, in order, with their sizes (listing finishes no disk);
# then, as the man page shows, disk 1 through the default export and
# disk 2 through its name, both with nbdcopy; then disk 1, finished
# (disk 2 took writes), reads back while nbdkit runs.  (Disk 2's first write
# waits for the server to have closed disk 1's connections.)
ova_create two.ova \
  "nbdinfo --list --json \"\$uri\" > list.json &&
   nbdcopy d1.raw \"\$uri\" &&
   nbdcopy d2.raw \"$(disk_uri web01-disk2.vmdk)\" &&
   nbdcopy \"\$uri\" back1.raw && cmp d1.raw back1.raw" \
  create-size=64M,32M create-name=web01 create-cpus=2 create-memory=1536M \
  create-firmware=efi create-os=debian12-64 create-nic=vmxnet3 \
  create-network=LAN create-disk-bus=sata create-hwversion=vmx-15 \
  create-manifest=sha1
jq -r '.exports[] | "\(.["export-name"]) \(.["export-size"])"' list.json |
  diff -u - <(printf '%s\n' "web01-disk1.vmdk $(( 64 * M ))" \
                            "web01-disk2.vmdk $(( 32 * M ))")
ova_check two.ova web01 sha1 efi sata \
  "name=web01 cpus=2 memory=1536 nic=vmxnet3 network=LAN hw=vmx-15 \
   ostype=debian12_64Guest" \
  d1.raw d2.raw
grep -Fx '       firmware: uefi' v2v.out
grep -Fx '         memory: 1610612736 (bytes)' v2v.out
grep -Fx '       nr vCPUs: 2' v2v.out
grep -Fx "$(printf '\t0 [sata]')" v2v.out
grep -Fx "$(printf '\t1 [sata]')" v2v.out
grep -Fx "$(printf '\tBridge "LAN" [vmxnet3]')" v2v.out

# One disk written through its export name, EFI, IDE, no manifest, no
# NIC.
ova_create efi-none.ova "nbdcopy d2.raw \"$(disk_uri efi-none-disk1.vmdk)\"" \
  create-size=32M create-firmware=efi create-disk-bus=ide \
  create-manifest=none create-nic=none
ova_check efi-none.ova efi-none none efi ide "name=efi-none nic=none" d2.raw
grep -Fx '       firmware: uefi' v2v.out
grep -Fx "$(printf '\t0 [ide]')" v2v.out

# A name outside [A-Za-z0-9._-] is sanitised for the members: every
# member is BASE.ovf, BASE.mf, BASE-disk1.vmdk for one BASE in that set.
head -c $M d1.raw > small.raw
ova_create odd.ova 'nbdcopy small.raw "$uri"' create-size=1M \
  "create-name=Web server: #1/é (test)"
python3 "$check_py" tar odd.ova > odd.members
base=$(head -n1 odd.members | cut -d' ' -f1)
base=${base%.ovf}
[[ $base =~ ^[A-Za-z0-9._-]+$ ]]
[[ $base == *Web* ]]
cut -d' ' -f1 odd.members |
  diff -u - <(printf '%s\n' "$base.ovf" "$base.mf" "$base-disk1.vmdk")

# The archive is completed however soon nbdkit exits after the client:
# nbdkit 1.32 may run the plugin's cleanup before the close of the last
# connection when the --run command ends (a small disk, written fast,
# makes that likely), and the appliance must still be complete.  Several
# rounds, since a wrong order shows only sometimes; on right code every
# round passes.
for i in 1 2 3 4 5; do
  ova_create quick.ova 'nbdcopy small.raw "$uri"' create-size=1M \
    create-overwrite=true
  tar tf quick.ova | diff -u - <(printf '%s\n' quick.ovf quick.mf \
                                               quick-disk1.vmdk)
done
