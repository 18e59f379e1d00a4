#!/usr/bin/env bash
# Creating OVA appliances (issue 19) when something is wrong:
# - bad create-* parameters (an unknown create-os= lists the names it
#   knows; a size over the VMDK limit; a create-ovf= without a
#   VirtualSystem; appliance parameters given to a plain VMDK): a clear
#   error naming the parameter, and no file left behind;
# - an existing file is never overwritten without create-overwrite=true,
#   nor under -r;
# - the filesystem fills up mid-way (tests/enospc-shim.so) and nbdkit is
#   killed with SIGKILL mid-way: the file left is refused by GNU tar, by
#   xdisk and by virt-v2v, never a valid-looking archive with a
#   truncated disk;
# - a client that disconnects before writing the whole disk: the disk is
#   finished with what was written (the rest reads as zeros), and once
#   the last disk is finished the archive is complete and valid;
# - disk 2 written while disk 1 still has a client: refused with an
#   error naming disk 1, accepted once disk 1 is finished.
# nbdkit gets the ENOSPC shim through the dynamic loader's --preload (see
# test-enospc.sh); it acts only on the file XDISK_ENOSPC_FILE names.
shim=$top_builddir/tests/.libs/enospc-shim.so
XDISK_NBDKIT_PRELOAD=${XDISK_NBDKIT_PRELOAD:+$XDISK_NBDKIT_PRELOAD:}$shim
source "$srcdir/functions.sh"
set -e -x
requires test -f "$shim"
source "$srcdir/ova-create-functions.sh"
# A client writing to a fifo whose reader is gone gets EPIPE, not a
# signal that would end the test.
trap '' PIPE

# create_error FILE PATTERN PARAM...: creating FILE fails cleanly with
# an error matching PATTERN, and leaves no FILE.
create_error ()
{
  local f=$1 pattern=$2
  shift 2
  expect_failure "$tmp/err" nbdkit -U - "$so" file="$f" create=true "$@" \
    --run true
  grep -Eq -- "$pattern" "$tmp/err" ||
    { echo "$0: expected an error matching: $pattern"; return 1; }
  test ! -e "$f"
}

# ---- bad parameters ----

create_error a.ova 'create-os=plan9' create-size=1M create-os=plan9
# The error lists the names create-os= knows.
for os in linux64 debian12-64 rhel9-64 windows2019srv-64 other64; do
  grep -qF -- "$os" err
done
create_error a.ova 'create-firmware' create-size=1M create-firmware=pxe
create_error a.ova 'create-disk-bus' create-size=1M create-disk-bus=nvme
create_error a.ova 'create-manifest' create-size=1M create-manifest=md5
create_error a.ova 'create-nic' create-size=1M create-nic=rtl8139
create_error a.ova 'create-hwversion' create-size=1M create-hwversion=vmx-x
create_error a.ova 'create-cpus' create-size=1M create-cpus=0
# An XVA parameter is not an OVA one.
create_error a.ova 'create-checksum' create-size=1M create-checksum=xxhash
# Over what a VMDK holds (2 TiB), for disk 2 of 2.
create_error a.ova 'create-size|2 TiB' create-size=1M,4T
# Appliance parameters given to a plain VMDK.
create_error a.vmdk 'create-size' create-size=1M,2M
create_error a.vmdk 'create-name' create-size=1M create-name=x

# create-ovf= without a VirtualSystem.
cat > novs.ovf <<'EOF'
<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1"
    xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1">
  <References>
    <File ovf:href="disk1.vmdk" ovf:id="file1" ovf:size="1"/>
  </References>
  <DiskSection>
    <Info>Virtual disk information</Info>
    <Disk ovf:capacity="1" ovf:capacityAllocationUnits="byte * 2^20"
      ovf:diskId="vmdisk1" ovf:fileRef="file1"/>
  </DiskSection>
</Envelope>
EOF
create_error a.ova 'VirtualSystem' create-size=1M create-ovf=novs.ovf
# With a VirtualSystem whose disk Item names the Disk, it is a template
# (vs.ovf); without that Item, the Disk is not used and it is refused;
# the same in the OVF 2.0 namespace, which virt-v2v and Proxmox cannot
# read, is refused.
item='<Item><rasd:ElementName>disk</rasd:ElementName><rasd:HostResource>ovf:/disk/vmdisk1</rasd:HostResource><rasd:InstanceID>2</rasd:InstanceID><rasd:Parent>1</rasd:Parent><rasd:ResourceType>17</rasd:ResourceType></Item>'
vs='<VirtualSystem ovf:id="vm"><Info>A VM</Info><Name>vm</Name><VirtualHardwareSection><Info>hardware</Info><Item><rasd:ElementName>scsi</rasd:ElementName><rasd:InstanceID>1</rasd:InstanceID><rasd:ResourceSubType>lsilogic</rasd:ResourceSubType><rasd:ResourceType>6</rasd:ResourceType></Item>ITEM</VirtualHardwareSection></VirtualSystem>'
rasd=http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData
sed -e "s|</DiskSection>|&${vs/ITEM/$item}|" \
    -e "s|xmlns:ovf=|xmlns:rasd=\"$rasd\" &|" novs.ovf > vs.ovf
sed -e "s|</DiskSection>|&${vs/ITEM/}|" \
    -e "s|xmlns:ovf=|xmlns:rasd=\"$rasd\" &|" novs.ovf > noitem.ovf
create_error a.ova 'vmdisk1' create-size=1M create-ovf=noitem.ovf
sed 's|ovf/envelope/1|ovf/envelope/2|g' vs.ovf > ovf2.ovf
create_error a.ova 'envelope/2|OVF 2' create-size=1M create-ovf=ovf2.ovf
# create-size= giving another number of disks than the OVF has.
create_error a.ova 'create-size' create-size=1M,1M create-ovf=vs.ovf

# ---- an existing file ----

fs_disk d1.raw 64 "$libdir"
head -c $M d1.raw > small.raw
# (vs.ovf above is a template that works.)
ova_create vs.ova 'nbdcopy small.raw "$uri"' create-ovf=vs.ovf
tar tf vs.ova | diff -u - <(printf '%s\n' vs.ovf vs.mf vs-disk1.vmdk)
ova_create old.ova 'nbdcopy small.raw "$uri"' create-size=1M
touch -d '2020-01-01 00:00' old.ova
stamp=$(stat -c %Y old.ova)
sum=$(sha256sum < old.ova)
expect_failure err nbdkit -U - "$so" file=old.ova create=true create-size=1M \
  --run true
grep -Eq 'old\.ova.*exists.*create-overwrite=true' err
expect_failure err nbdkit -U - -r "$so" file=old.ova create=true \
  create-size=1M --run true
grep -Eq 'old\.ova.*exists.*create-overwrite=true' err
test "$(stat -c %Y old.ova)" = "$stamp"
test "$(sha256sum < old.ova)" = "$sum"
# With create-overwrite=true it is replaced.
ova_create old.ova 'nbdcopy small.raw "$uri"' create-size=1M \
  create-overwrite=true create-manifest=sha1
tar xOf old.ova old.mf | grep -q '^SHA1(old.ovf)= '

# ---- a full filesystem mid-way ----

# The writes nbdcopy makes are acknowledged before their grains are
# compressed and written: the flush at the end (--flush) is where it
# learns that they could not be.  (--synchronous: see the full file
# system case of test-xva-create.sh, an nbdkit 1.32.5 abort.)

status=0
XDISK_ENOSPC_FILE=$(realpath "$tmp")/full.ova XDISK_ENOSPC_BUDGET=4000000 \
  nbdkit -U - "$so" file=full.ova create=true create-size=64M \
  --run 'nbdcopy --synchronous --flush d1.raw "$uri"' > full.out 2> full.err || status=$?
cat full.out full.err
check_not_crashed $status "nbdkit with the ENOSPC shim" full.err
[ $status -ne 0 ]
grep -q '^enospc-shim: no space left' full.err
grep -q 'No space left' full.err
test "$(stat -c %s full.ova)" -gt $M

# refused_everywhere OVA: GNU tar, xdisk and virt-v2v all refuse OVA,
# each with a non-zero exit and no crash; vmdkx and diskx say that the
# appliance was never finished (block 0 says so): diskx, which serves
# a file it does not recognise as raw bytes, must not serve it.
refused_everywhere ()
{
  local ova=$1 status=0
  expect_failure tar.err tar tf "$ova"
  rm -rf xr
  mkdir xr
  expect_failure tar.err tar xf "$ova" -C xr
  expect_open_error vmdkx "$ova" "${ova//./\\.}.*never finished"
  expect_open_error diskx "$ova" "${ova//./\\.}.*never finished"
  if command -v virt-v2v > /dev/null && v2v_env; then
    LIBGUESTFS_BACKEND=direct virt-v2v -i ova "$ova" -o null \
      --print-source > v2v.out 2>&1 || status=$?
    cat v2v.out
    check_not_crashed $status virt-v2v
    [ $status -ne 0 ]
    grep -q 'virt-v2v: error: ' v2v.out
  elif ! command -v virt-v2v > /dev/null; then
    missing "virt-v2v is not installed"
  fi
}
refused_everywhere full.ova

# ---- a disk never written ----

# nbdkit exits with disk 2 never written: it says so, and the file is
# refused.
ova_create never.ova 'nbdcopy small.raw "$uri"' create-size=1M,1M 2> never.err
cat never.err
grep -q 'never-disk2\.vmdk was never written' never.err
refused_everywhere never.ova

# ---- SIGKILL mid-way ----

serve_bg kill.ova create-size=64M
client_open a kill-disk1.vmdk
client_do a 'write -s d1.raw 0 16M'
grep -q 'wrote 16777216/16777216 bytes at offset 0' a.out
kill -KILL "$srv_pid"
wait "$srv" || :
client_close a
cat a.out srv.err
test "$(stat -c %s kill.ova)" -gt $M
refused_everywhere kill.ova

# ---- a client that disconnects before writing the whole disk ----

# Disk 1 gets 3 MiB of data at 0 and 1 MiB at 5 MiB of its 8 MiB, then
# its client goes; disk 2 is then written whole.
random_bytes 19 3M > part.bin
random_bytes 20 8M > e2.raw
truncate -s 8M e1.raw
dd if=part.bin of=e1.raw conv=notrunc status=none
qemu-io -f raw -c 'write -P 0x5a 5M 1M' e1.raw > /dev/null
serve_bg part.ova create-size=8M,8M
client_open a part-disk1.vmdk
client_open b part-disk2.vmdk
client_do a 'write -s part.bin 0 3M'
client_do a 'write -P 0x5a 5M 1M'
client_close a
refute_grep 'write failed' a.out
# Disk 1 is finished (its client has gone): disk 2 takes writes.
client_do b 'write -s e2.raw 0 8M'
grep -q 'wrote 8388608/8388608 bytes at offset 0' b.out
client_close b
# The archive is completed when its last disk is finished, before the
# server ends.
wait_for 60 "part.ova to be completed" tar_ok part.ova
stop_bg
ova_check part.ova part sha256 bios scsi name=part e1.raw e2.raw

# ---- disk 2 while disk 1 still has a client ----

# Disk 1 has a client that has written nothing yet: a write to disk 2 is
# refused at once, the error naming both disks.  Once disk 1 is being
# written, a write to disk 2 waits for it to be finished: sent before
# disk 1's client goes, it is accepted after.
truncate -s 4M s1.raw s2.raw
qemu-io -f raw -c 'write -P 0x11 0 1M' s1.raw > /dev/null
qemu-io -f raw -c 'write -P 0x22 64k 64k' s2.raw > /dev/null
serve_bg seq.ova create-size=4M,4M
client_open a seq-disk1.vmdk
client_open b seq-disk2.vmdk
client_do b 'write -P 0x22 64k 64k'
grep -q 'write failed' b.out
cat srv.err
grep -Eq 'seq-disk2\.vmdk.*seq-disk1\.vmdk' srv.err
client_do a 'write -P 0x11 0 1M'
client_send b 'write -P 0x22 64k 64k'
client_close a
client_wait b
grep -q 'wrote 65536/65536 bytes at offset 65536' b.out
client_close b
wait_for 60 "seq.ova to be completed" tar_ok seq.ova
stop_bg
ova_check seq.ova seq sha256 bios scsi name=seq s1.raw s2.raw
