#!/usr/bin/env bash
# A VirtualBox VM given by its .vbox: a machine folder whose current
# state attaches a 3-deep VDI snapshot chain (SATA:0:0, the newest
# differencing image in Snapshots/) and a second disk (SATA:1:0), with
# a DVD that must not be listed.  vdix and diskx serve each disk as an
# export named controller:port:device, disk= picks the default export;
# the chain reads as vdi-mkdiff.py wrote it, the second disk as
# qemu-img reads it.  The parent is found through the .vbox even where
# no directory search would find it.  Bad .vbox files: an image not in
# the registry, no hard disk, a location outside the machine folder, a
# disk= naming no disk.
source "$srcdir/functions.sh"
source "$srcdir/vdi-functions.sh"
set -e -x

requires_plugin vdix
requires_plugin diskx
requires python3 --version
requires qemu-img --version
requires qemu-io --version
requires nbdcopy --version
requires nbdinfo --version
requires jq --version
make_tmpdir
M=$(( 1 << 20 ))
size=$(( 4 * M ))

# base.vdi <- s1 <- s2, the snapshots named {uuid}.vdi in Snapshots/
# as VirtualBox names them; $tmp/*.raw what each level reads.
m="$tmp/My Machine"
mkdir -p "$m/Snapshots" "$tmp/outside"
$mkdiff create "$m/base.vdi" $size
truncate -s $size "$tmp/base.raw"
put "$m/base.vdi" "$tmp/base.raw" 0 $(( 3 * M )) 0x10
cp "$tmp/base.raw" "$tmp/s1.raw"
$mkdiff create "$tmp/s1.vdi" $size --parent "$m/base.vdi"
put "$tmp/s1.vdi" "$tmp/s1.raw" 1000 5000 0x21
zero_block "$tmp/s1.vdi" "$tmp/s1.raw" 2 $M
cp "$tmp/s1.raw" "$tmp/s2.raw"
$mkdiff create "$tmp/s2.vdi" $size --parent "$tmp/s1.vdi"
put "$tmp/s2.vdi" "$tmp/s2.raw" $(( 2 * M - 7 )) 14 0x31
put "$tmp/s2.vdi" "$tmp/s2.raw" $(( 3 * M )) 512 0x32
s1="$m/Snapshots/{$($mkdiff uuid "$tmp/s1.vdi")}.vdi"
s2="$m/Snapshots/{$($mkdiff uuid "$tmp/s2.vdi")}.vdi"
mv "$tmp/s1.vdi" "$s1"
mv "$tmp/s2.vdi" "$s2"

# A second disk, which qemu-img reads.
qemu-img create -q -f vdi "$m/data.vdi" 2M
qemu-io -f vdi -c 'write -P 0xe0 4k 1M' "$m/data.vdi" >/dev/null
qemu-img convert -f vdi -O raw "$m/data.vdi" "$tmp/data.raw"
data_uuid=$($mkdiff uuid "$m/data.vdi")

# The .vbox: the chain's registry from vdi-mkdiff.py, the second disk
# and a DVD added to it, and the current state's StorageControllers
# (attached: the chain's newest image, the data disk, the DVD).
write_vbox ()
{
  local out=$1 top_uuid=$2
  $mkdiff vbox "$out" "$m/base.vdi" "$s1" "$s2"
  python3 - "$out" "$top_uuid" "$data_uuid" <<'PY'
import sys
path, top, data = sys.argv[1:]
text = open(path).read()
text = text.replace("      </HardDisks>",
    f'        <HardDisk uuid="{{{data}}}" location="data.vdi" format="VDI"/>\n'
    "      </HardDisks>\n"
    '      <DVDImages><Image uuid="{11111111-2222-3333-4444-555555555555}"'
    ' location="install.iso"/></DVDImages>')
text = text.replace("    <Hardware/>", f"""    <Hardware/>
    <StorageControllers>
      <StorageController name="SATA" type="AHCI" PortCount="2">
        <AttachedDevice type="DVD" port="0" device="1">
          <Image uuid="{{11111111-2222-3333-4444-555555555555}}"/>
        </AttachedDevice>
        <AttachedDevice type="HardDisk" hotpluggable="false" port="1" device="0">
          <Image uuid="{{{data}}}"/>
        </AttachedDevice>
        <AttachedDevice type="HardDisk" hotpluggable="false" port="0" device="0">
          <Image uuid="{{{top}}}"/>
        </AttachedDevice>
      </StorageController>
    </StorageControllers>""")
open(path, "w").write(text)
PY
}
vbox="$m/My Machine.vbox"
write_vbox "$vbox" "$($mkdiff uuid "$s2")"
cat "$vbox"

served_sha ()
{
  local p=$1 export=$2
  shift 2
  nbdkit -U - -r "$(plugin $p)" file="$vbox" "$@" \
    --run "nbdcopy \"nbd+unix:///$export?socket=\$unixsocket\" - | sha256sum" |
    cut -d' ' -f1
}
sha_of () { sha256sum < "$1" | cut -d' ' -f1; }
want0=$(sha_of "$tmp/s2.raw")
want1=$(sha_of "$tmp/data.raw")
[ "$want0" != "$want1" ]

for p in vdix diskx; do
  nbdkit -U - -r "$(plugin $p)" file="$vbox" \
    --run 'nbdinfo --list --json "$uri"' > "$tmp/list.json"
  [ "$(jq -r '[.exports[]."export-name"] | join(" ")' "$tmp/list.json")" = \
    "SATA:0:0 SATA:1:0" ]
  [ "$(served_sha $p '')" = "$want0" ]
  [ "$(served_sha $p SATA:0:0)" = "$want0" ]
  [ "$(served_sha $p SATA:1:0)" = "$want1" ]
  [ "$(served_sha $p '' disk=sata:1:0)" = "$want1" ]
done

# The description names the VM's disk and the chain below it.
nbdkit -U - -r "$(plugin vdix)" file="$vbox" \
  --run 'nbdinfo --json "$uri"' | jq -r '.exports[0].description' |
  tee "$tmp/desc"
grep -q 'VirtualBox VM My Machine.vbox, disk SATA:0:0 of 2' "$tmp/desc"
grep -q 'parent chain depth 2' "$tmp/desc"

# The parent found through the .vbox only: the snapshots two levels
# down, where the VDI driver's directory search (the image's directory
# and the one above) never sees base.vdi.
mkdir -p "$m/deep/er"
mv "$s1" "$s2" "$m/deep/er/"
s1="$m/deep/er/$(basename "$s1")"
s2="$m/deep/er/$(basename "$s2")"
write_vbox "$vbox" "$($mkdiff uuid "$s2")"
expect_open_error vdix "$s2" 'not found'
[ "$(served_sha vdix SATA:0:0)" = "$want0" ]
nbdkit -U - -r "$(plugin vdix)" file="$vbox" \
  --run 'nbdinfo --json "$uri"' | jq -r '.exports[0].description' |
  grep -q "found by the VM's .vbox media registry"

# disk= naming no disk lists the disks.
expect_open_error vdix "$vbox" 'disk=IDE:0:0.*SATA:0:0, SATA:1:0' disk=IDE:0:0
# vmdkx refuses the .vbox, naming vdix.
expect_open_error vmdkx "$vbox" 'vdix'

# An attached image the registry does not hold.
sed 's/<Image uuid="{'"$data_uuid"'}"/<Image uuid="{99999999-2222-3333-4444-555555555555}"/' \
  "$vbox" > "$m/bad.vbox"
expect_open_error vdix "$m/bad.vbox" 'SATA:1:0.*not in the media registry'
# No hard disk attached.
python3 -c 'import re,sys
t = open(sys.argv[1]).read()
open(sys.argv[2], "w").write(re.sub(r"<AttachedDevice type=\"HardDisk\".*?</AttachedDevice>", "", t, flags=re.S))' \
  "$vbox" "$m/bad.vbox"
expect_open_error vdix "$m/bad.vbox" 'no hard disk'
# A location outside the machine folder: refused by the path policy.
cp "$m/data.vdi" "$tmp/outside/data.vdi"
sed 's|location="data.vdi"|location="../outside/data.vdi"|' "$vbox" > "$m/bad.vbox"
expect_open_error vdix "$m/bad.vbox" 'outside/data\.vdi.*allow-external-files'
sed 's|location="data.vdi"|location="/etc/passwd"|' "$vbox" > "$m/bad.vbox"
expect_open_error vdix "$m/bad.vbox" '/etc/passwd'
# A disk of a format vdix does not serve (VirtualBox keeps VMDKs too):
# refused by vdix, served by diskx.
qemu-img create -q -f vmdk "$m/other.vmdk" 2M
sed 's|location="data.vdi" format="VDI"|location="other.vmdk" format="VMDK"|' \
  "$vbox" > "$m/other.vbox"
expect_open_error vdix "$m/other.vbox" 'SATA:1:0.*VMDK.*diskx'
nbdkit -U - -r "$(plugin diskx)" file="$m/other.vbox" \
  --run 'nbdinfo --size "nbd+unix:///SATA:1:0?socket=$unixsocket"' |
  grep -qx $(( 2 * M ))
