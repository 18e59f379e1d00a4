#!/usr/bin/env bash
# A VMware VM given by its .vmx: a folder with a 3-deep snapshot chain
# (scsi0:0, the .vmx naming the newest delta), a second disk (scsi0:1),
# a CD-ROM and an absent disk that must not be listed.  vmdkx and diskx
# serve each disk as an export named by its device key, disk= picks
# the default export; each reads as qemu-img reads its newest delta.
# Bad .vmx files: names outside the VM folder (the path policy), a huge
# line, no disks, disk= naming no disk.
source "$srcdir/functions.sh"
source "$srcdir/vmdk-functions.sh"
set -e -x

requires_plugin vmdkx
requires_plugin diskx
requires qemu-img --version
requires qemu-io --version
requires nbdcopy --version
requires nbdinfo --version
requires sha256sum --version
make_tmpdir

vm="$tmp/My VM"
mkdir "$vm" "$tmp/outside"
qemu-img create -q -f vmdk "$vm/disk.vmdk" 4M
vmdk_io "$vm/disk.vmdk" 'write -P 0xb0 0 1M' 'write -P 0xb1 3M 1M'
qemu-img create -q -f vmdk -b disk.vmdk -F vmdk "$vm/disk-000001.vmdk"
vmdk_io "$vm/disk-000001.vmdk" 'write -P 0xc0 512k 1M'
qemu-img create -q -f vmdk -b disk-000001.vmdk -F vmdk "$vm/disk-000002.vmdk"
vmdk_io "$vm/disk-000002.vmdk" 'write -P 0xd0 768k 64k' 'write -P 0xd1 2M 100k'
qemu-img create -q -f vmdk -o subformat=monolithicFlat "$vm/data.vmdk" 2M
vmdk_io "$vm/data.vmdk" 'write -P 0xe0 4k 1M'
cp "$vm/data.vmdk" "$tmp/outside/secret.vmdk"
cp "$vm/data-flat.vmdk" "$tmp/outside/"
truncate -s 1M "$vm/install.iso"

# What qemu-img reads from each disk's newest file.
qemu_sha ()
{
  qemu-img convert -f vmdk -O raw "$1" "$tmp/raw"
  sha256sum < "$tmp/raw" | cut -d' ' -f1
  rm "$tmp/raw"
}
want0=$(qemu_sha "$vm/disk-000002.vmdk")
want1=$(qemu_sha "$vm/data.vmdk")
[ "$want0" != "$want1" ]

# The VM as VMware writes it: |22 in a value, lowercase keys, a CD-ROM,
# an absent disk, an ISO, and the disks listed out of order.
cat > "$vm/vm.vmx" <<'VMX'
.encoding = "UTF-8"
config.version = "8"
virtualHW.version = "19"
displayName = "My |22test|22 VM"
scsi0.present = "TRUE"
scsi0.virtualDev = "pvscsi"
scsi0:1.fileName = "data.vmdk"
scsi0:1.present = "TRUE"
scsi0:0.fileName = "disk-000002.vmdk"
scsi0:0.present = "TRUE"
scsi0:0.deviceType = "scsi-hardDisk"
sata0:0.deviceType = "cdrom-image"
sata0:0.fileName = "install.iso"
sata0:0.present = "TRUE"
ide0:0.deviceType = "cdrom-raw"
ide0:0.fileName = "disk.vmdk"
ide0:1.fileName = "disk.vmdk"
ide0:1.present = "FALSE"
VMX

for p in vmdkx diskx; do
  # The exports: the two disks, nothing else.
  nbdkit -U - -r "$(plugin $p)" file="$vm/vm.vmx" \
    --run 'nbdinfo --list --json "$uri"' > "$tmp/list.json"
  names=$(python3 -c 'import json,sys
print(" ".join(e["export-name"] for e in json.load(open(sys.argv[1]))["exports"]))' \
    "$tmp/list.json")
  [ "$names" = "scsi0:0 scsi0:1" ]

  # The default export is the first disk, each export its disk.
  got=$(nbdkit -U - -r "$(plugin $p)" file="$vm/vm.vmx" \
          --run 'nbdcopy "$uri" - | sha256sum' | cut -d' ' -f1)
  [ "$got" = "$want0" ]
  got=$(nbdkit -U - -r "$(plugin $p)" file="$vm/vm.vmx" \
          --run 'nbdcopy "nbd+unix:///scsi0:1?socket=$unixsocket" - |
                 sha256sum' | cut -d' ' -f1)
  [ "$got" = "$want1" ]
  got=$(nbdkit -U - -r "$(plugin $p)" file="$vm/vm.vmx" \
          --run 'nbdcopy "nbd+unix:///scsi0:0?socket=$unixsocket" - |
                 sha256sum' | cut -d' ' -f1)
  [ "$got" = "$want0" ]

  # disk= chooses the default export (device keys are case-insensitive).
  got=$(nbdkit -U - -r "$(plugin $p)" file="$vm/vm.vmx" disk=SCSI0:1 \
          --run 'nbdcopy "$uri" - | sha256sum' | cut -d' ' -f1)
  [ "$got" = "$want1" ]

  # The export description names the VM's disk and its chain.
  nbdkit -U - -r "$(plugin $p)" file="$vm/vm.vmx" \
    --run 'nbdinfo --json "nbd+unix:///scsi0:1?socket=$unixsocket"' \
    > "$tmp/info.json"
  grep -q 'disk scsi0:1 of 2' "$tmp/info.json"
done

# Served read-only, saying why, even when the files could be written.
nbdkit -U - "$(plugin vmdkx)" file="$vm/vm.vmx" \
  --run 'nbdinfo --json "$uri"' > "$tmp/info.json" 2> "$tmp/err"
grep -q "served read-only" "$tmp/err"
python3 -c 'import json,sys
assert json.load(open(sys.argv[1]))["exports"][0]["is_read_only"]' "$tmp/info.json"

# disk= naming no disk: the error lists the VM's disks.
expect_open_error vmdkx "$vm/vm.vmx" 'nvme9:9.*scsi0:0, scsi0:1' disk=nvme9:9

# Another format's plugin refuses the .vmx, naming the right one.
expect_open_error vdix "$vm/vm.vmx" 'vmdkx'

bad_vmx ()
{
  { echo 'config.version = "8"'; cat; } > "$vm/bad.vmx"
}

# Names outside the VM folder: refused by the path policy, naming them.
echo 'scsi0:0.fileName = "../outside/secret.vmdk"' | bad_vmx
expect_open_error vmdkx "$vm/bad.vmx" 'outside/secret\.vmdk'
expect_open_error vmdkx "$vm/bad.vmx" 'allow-external-files'
echo "scsi0:0.fileName = \"$tmp/outside/secret.vmdk\"" | bad_vmx
expect_open_error vmdkx "$vm/bad.vmx" 'outside/secret\.vmdk'
echo 'scsi0:0.fileName = "../../../../../../etc/passwd.vmdk"' | bad_vmx
expect_open_error vmdkx "$vm/bad.vmx" 'etc/passwd\.vmdk'
# A name that is no .vmdk is never opened: the VM then has no disk.
for f in /etc/passwd ../../etc/passwd; do
  echo "scsi0:0.fileName = \"$f\"" | bad_vmx
  expect_open_error vmdkx "$vm/bad.vmx" 'no hard disk'
done
# ... and allowed when the user allows that directory.
echo "scsi0:0.fileName = \"$tmp/outside/secret.vmdk\"" | bad_vmx
got=$(nbdkit -U - -r "$(plugin vmdkx)" file="$vm/bad.vmx" \
        allow-external-files="$tmp/outside" \
        --run 'nbdcopy "$uri" - | sha256sum' | cut -d' ' -f1)
[ "$got" = "$want1" ]

# A missing disk file.
echo 'scsi0:0.fileName = "nosuch.vmdk"' | bad_vmx
expect_open_error vmdkx "$vm/bad.vmx" 'nosuch\.vmdk'

# A disk that is not a VMDK: refused by vmdkx, naming the device.
echo 'scsi0:0.fileName = "iso.vmdk"' | bad_vmx
cp "$vm/install.iso" "$vm/iso.vmdk"
expect_open_error vmdkx "$vm/bad.vmx" 'scsi0:0'

# No disks at all (a CD-ROM only).
printf 'sata0:0.deviceType = "cdrom-image"\nsata0:0.fileName = "x.vmdk"\n' |
  bad_vmx
expect_open_error vmdkx "$vm/bad.vmx" 'no hard disk'

# A huge line, a bad escape, an unterminated quote.
{ printf 'displayName = "'; head -c 100000 /dev/zero | tr '\0' x; echo '"'; } |
  bad_vmx
expect_open_error vmdkx "$vm/bad.vmx" 'line 2: longer than'
echo 'displayName = "a |zz b"' | bad_vmx
expect_open_error vmdkx "$vm/bad.vmx" 'line 2:.*hex digits'
echo 'scsi0:0.fileName = "disk.vmdk' | bad_vmx
expect_open_error vmdkx "$vm/bad.vmx" 'line 2:.*closing quote'
