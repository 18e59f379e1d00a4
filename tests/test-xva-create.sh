#!/usr/bin/env bash
# Creating XenServer / XCP-ng XVA exports through xvax (create=true):
# disks of real files (an ext4 of the host's libraries, bench/mkfsimg)
# copied in with nbdcopy (several connections, out of order), one disk
# and two, SHA-1 and XXH64 checksums, BIOS and EFI.  Checked by an
# independent reading: GNU tar (ova.xml first, member order, names,
# sizes), sha1sum / xxhsum -H64 of every chunk against its checksum
# member, Python's xml.etree on ova.xml (the fields of
# appliance-targets.md section 5.5, every ref resolving), and xvax
# reading each disk back with verify=true.  Then bad input, disks
# written out of order, a client that disconnects early, SIGKILL during
# creation and a full file system: an interrupted export is refused by
# tar and by xvax.
shim=$top_builddir/tests/.libs/enospc-shim.so
if [ -f "$shim" ]; then
  XDISK_NBDKIT_PRELOAD=${XDISK_NBDKIT_PRELOAD:+$XDISK_NBDKIT_PRELOAD:}$shim
fi
source "$srcdir/functions.sh"
set -e -x

requires_plugin xvax
requires nbdcopy --version
requires nbdinfo --version
requires qemu-io --version
requires python3 --version
requires tar --version
requires sha1sum --version
requires xxhsum --version
requires mkfs.ext4 -V
make_tmpdir
cd "$tmp"
so="$(plugin xvax)"
M=$(( 1 << 20 ))

# disk0.raw: an ext4 of real files, a range of pseudo-random data beyond
# the writer's window of 64 MiB (nbdcopy's connections write far apart,
# and wait), holes and a last MiB with data in its middle.  disk1.raw:
# data, a hole, data.
FS_FILL=50 "$srcdir/../bench/mkfsimg" fs.img 20
truncate -s 96M disk0.raw
dd if=fs.img of=disk0.raw conv=notrunc status=none
rm fs.img
random_bytes 3 3M | dd of=disk0.raw bs=1M seek=80 conv=notrunc status=none
random_bytes 4 5000 | dd of=disk0.raw bs=1 seek=$(( 95 * M + 4096 )) \
  conv=notrunc status=none
truncate -s 12M disk1.raw
random_bytes 5 2M | dd of=disk1.raw bs=1M conv=notrunc status=none
random_bytes 6 1M | dd of=disk1.raw bs=1M seek=9 conv=notrunc status=none

# check_xva XVA SUFFIX FIRMWARE NIC RAW...: the layout, checksums and
# ova.xml of XVA (checksum members .SUFFIX, HVM firmware FIRMWARE, a
# VIF if NIC is yes), whose disks hold RAW... in order.
check_xva ()
{
  local xva=$1 suffix=$2 firmware=$3 nic=$4 f want got n=0
  shift 4
  # GNU tar: it reads the archive, ova.xml first.
  tar tvf "$xva" > list
  head -1 list | grep -q ' ova\.xml$'
  python3 - "$xva" "$suffix" "$firmware" "$nic" "$@" <<'EOF'
import re, sys, tarfile, xml.etree.ElementTree as ET
xva, suffix, firmware, nic, raws = sys.argv[1], sys.argv[2], sys.argv[3], \
    sys.argv[4] == "yes", sys.argv[5:]
MIB = 1 << 20
data = open(xva, 'rb').read()
assert data[-1024:] == bytes(1024), "no two zero blocks at the end"
t = tarfile.open(xva)
ms = t.getmembers()
assert ms[0].name == 'ova.xml' and ms[0].isfile()
# Chunks: Ref:NNN/%08d then its checksum, ascending, VDIs in order.
chunks, last = {}, None
for i in range(1, len(ms), 2):
    c, s = ms[i], ms[i + 1]
    assert c.isfile() and s.isfile(), "a directory entry"
    m = re.fullmatch(r'(Ref:\d{3})/(\d{8})', c.name)
    assert m, c.name
    assert s.name == c.name + '.' + suffix, (c.name, s.name)
    assert c.size == MIB, (c.name, c.size)
    assert s.size == (40 if suffix == 'checksum' else 16)
    key = (m.group(1), m.group(2))
    assert last is None or key > last, "out of order: %s after %s" % (key, last)
    last = key
    chunks.setdefault(m.group(1), []).append(int(m.group(2)))
    text = t.extractfile(s).read().decode()
    assert re.fullmatch('[0-9a-f]{40}' if suffix == 'checksum'
                        else '[0-9A-F]{16}', text), text
# ova.xml
root = ET.fromstring(t.extractfile(ms[0]).read())
def value(v):
    s = v.find('struct')
    if s is not None:
        return {m.find('name').text: value(m.find('value'))
                for m in s.findall('member')}
    a = v.find('array')
    if a is not None:
        return [value(x) for x in a.find('data').findall('value')]
    b = v.find('boolean')
    if b is not None:
        return b.text == '1'
    return v.text or ''
top = value(root)
ver = top['version']
for k in ('hostname', 'date', 'product_version', 'product_brand',
          'build_number', 'xapi_major', 'xapi_minor', 'export_vsn'):
    assert k in ver, k
assert ver['export_vsn'] == '2' and ver['xapi_major'] == '1'
assert int(ver['xapi_minor']) <= 20
objs = {o['id']: o for o in top['objects']}
assert len(objs) == len(top['objects']), "ids not unique"
byclass = {}
for o in top['objects']:
    byclass.setdefault(o['class'], []).append(o)
need = {
 'VM': 'uuid name_label name_description power_state user_version is_a_template is_default_template is_control_domain is_a_snapshot snapshot_of parent suspend_VDI suspend_SR metrics guest_metrics resident_on affinity snapshot_time snapshots children tags consoles crash_dumps VGPUs VTPMs VUSBs attached_PCIs allowed_operations VBDs VIFs current_operations blocked_operations blobs snapshot_info VCPUs_params xenstore_data last_boot_CPU_flags NVRAM memory_static_min memory_dynamic_min memory_dynamic_max memory_static_max memory_target memory_overhead VCPUs_max VCPUs_at_startup actions_after_shutdown actions_after_reboot actions_after_crash domain_type HVM_boot_policy HVM_boot_params HVM_shadow_multiplier platform PV_args PV_bootloader PV_bootloader_args PV_kernel PV_ramdisk PV_legacy_args PCI_bus domarch generation_id last_booted_record recommendations snapshot_metadata transportable_snapshot_id ha_restart_priority domid ha_always_run has_vendor_device hardware_platform_version order shutdown_delay start_delay version requires_reboot reference_label other_config is_snapshot_from_vmpp is_vmss_snapshot',
 'VBD': 'uuid VM VDI userdevice device bootable mode type empty unpluggable storage_lock currently_attached status_code status_detail metrics allowed_operations qos_supported_algorithms current_operations other_config qos_algorithm_params runtime_properties qos_algorithm_type',
 'VDI': 'uuid name_label name_description SR virtual_size physical_utilisation type sharable read_only storage_lock missing is_a_snapshot allow_caching cbt_enabled managed on_boot parent snapshot_of metrics snapshots tags other_config xenstore_data',
 'SR': 'uuid name_label name_description allowed_operations current_operations VDIs PBDs virtual_allocation physical_utilisation physical_size type content_type shared other_config tags sm_config blobs',
 'VIF': 'uuid VM network device MAC MAC_autogenerated MTU locking_mode ipv4_allowed ipv6_allowed ipv4_addresses ipv6_addresses allowed_operations qos_supported_algorithms ipv4_configuration_mode ipv6_configuration_mode ipv4_gateway ipv6_gateway status_detail qos_algorithm_type currently_attached status_code metrics current_operations other_config qos_algorithm_params runtime_properties',
 'network': 'uuid name_label name_description bridge VIFs PIFs allowed_operations current_operations other_config blobs tags',
}
for cls, fields in need.items():
    for o in byclass.get(cls, []):
        missing = [f for f in fields.split() if f not in o['snapshot']]
        assert not missing, (cls, missing)
assert len(byclass['VM']) == 1 and len(byclass['SR']) == 1
assert len(byclass.get('VIF', [])) == (1 if nic else 0)
assert len(byclass.get('network', [])) == (1 if nic else 0)
vm = byclass['VM'][0]['snapshot']
def resolves(ref, cls):
    assert ref in objs and objs[ref]['class'] == cls, (ref, cls)
mem = {vm[k] for k in ('memory_static_min', 'memory_dynamic_min',
                       'memory_dynamic_max', 'memory_static_max')}
assert len(mem) == 1, mem
assert vm['VCPUs_max'] == vm['VCPUs_at_startup'] and int(vm['VCPUs_max']) >= 1
assert vm['HVM_boot_params']['firmware'] == firmware
assert vm['HVM_shadow_multiplier'] == '1'
assert vm['parent'] == 'OpaqueRef:NULL'
for r in vm['VIFs']:
    resolves(r, 'VIF')
vdis = sorted(o['id'] for o in byclass['VDI'])
assert len(vdis) == len(raws) == len(vm['VBDs'])
for i, r in enumerate(vm['VBDs']):
    resolves(r, 'VBD')
    vbd = objs[r]['snapshot']
    resolves(vbd['VM'], 'VM')
    resolves(vbd['VDI'], 'VDI')
    assert vbd['VDI'] == vdis[int(vbd['userdevice'])]
    assert vbd['type'] == 'Disk'
sr = byclass['SR'][0]
assert sr['snapshot']['content_type'] == 'user'
assert sorted(sr['snapshot']['VDIs']) == vdis
for o in byclass.get('VIF', []):
    resolves(o['snapshot']['VM'], 'VM')
    resolves(o['snapshot']['network'], 'network')
# Each VDI's chunks: every non-zero MiB of its raw disk, the first and
# the last always; in disk order.
assert sorted(chunks) == vdis, (sorted(chunks), vdis)
for ref, raw in zip(vdis, raws):
    d = open(raw, 'rb').read()
    vdi = objs[ref]['snapshot']
    size = int(vdi['virtual_size'])
    resolves(vdi['SR'], 'SR')
    assert size == len(d) and size % MIB == 0
    n = size // MIB
    want = [k for k in range(n) if k in (0, n - 1)
            or d[k * MIB:(k + 1) * MIB].count(0) != MIB]
    assert chunks[ref] == want, (ref, chunks[ref], want)
print(sum(len(c) for c in chunks.values()))
EOF
  # Every chunk against its checksum member, by sha1sum or xxhsum.
  rm -rf x && mkdir x && tar xf "$xva" -C x
  for f in x/Ref:*/????????; do
    want=$(cat "$f.$suffix")
    if [ "$suffix" = checksum ]; then
      got=$(sha1sum < "$f" | cut -d' ' -f1)
    else
      got=$(xxhsum -H64 < "$f" | cut -d' ' -f1 | tr a-f A-F)
    fi
    [ "$got" = "$want" ] || { echo "$f: $got, stored $want"; return 1; }
    n=$(( n + 1 ))
  done
  [ $n -gt 0 ]
  rm -rf x
  # xdisk reads every disk back, checking the checksums.
  n=0
  for f in "$@"; do
    rm -f back.raw
    serve_to_raw xvax "$xva" back.raw disk=$n verify=true
    cmp "$f" back.raw
    n=$(( n + 1 ))
  done
  rm -f back.raw
}

# One disk, the defaults (SHA-1, BIOS, a VIF); nbdcopy's default
# connections and threads write out of order.
nbdkit -U - "$so" file=one.xva create=true create-size=96M \
  --run 'nbdcopy disk0.raw "$uri"'
check_xva one.xva checksum bios yes disk0.raw

# Two disks, XXH64, EFI, no NIC: each disk its own export, listed in
# order; a probe of both (nbdinfo --list) finishes neither.
nbdkit -U - "$so" file=two.xva create=true create-size=96M,12M \
  create-checksum=xxhash create-firmware=efi create-nic=none \
  create-name='web & db' create-cpus=2 create-memory=2G \
  create-os=windows2019srv-64 \
  --run 'nbdinfo --list --json "$uri" > exports.json &&
         nbdcopy disk0.raw "nbd+unix:///Ref:000?socket=$unixsocket" &&
         nbdcopy disk1.raw "nbd+unix:///Ref:001?socket=$unixsocket"'
python3 -c '
import json
e = json.load(open("exports.json"))["exports"]
assert [x["export-name"] for x in e] == ["Ref:000", "Ref:001"], e
assert [x["export-size"] for x in e] == [96 << 20, 12 << 20], e'
check_xva two.xva xxhash uefi no disk0.raw disk1.raw
tar xOf two.xva ova.xml > two.xml
grep -q '<name>name_label</name><value>web &amp; db</value>' two.xml
grep -q '<name>VCPUs_max</name><value>2</value>' two.xml
grep -q '<name>memory_static_max</name><value>2147483648</value>' two.xml
grep -q '<name>viridian</name><value>true</value>' two.xml
grep -q '<name>name_label</name><value>web &amp; db-disk1</value>' two.xml

# diskx creates the same with create-format=xva (here a name without
# the extension).
if [ -f "$(plugin diskx)" ]; then
  nbdkit -U - "$(plugin diskx)" file=viadiskx.img create=true \
    create-format=xva create-size=12M \
    --run 'nbdcopy disk1.raw "$uri"'
  check_xva viadiskx.img checksum bios yes disk1.raw
fi

# The export is complete however soon nbdkit exits after its client:
# nbdkit 1.32 may run the plugin's cleanup before the close of a client
# that has just gone (a small disk written fast makes that likely), and
# the disk being written is finished then.  Several rounds: a wrong
# order shows only sometimes.
for i in 1 2 3 4 5; do
  rm -f quick.xva
  nbdkit -U - "$so" file=quick.xva create=true create-size=1M \
    --run 'qemu-io -f raw -c "write -P 9 0 1M" "$uri" > /dev/null'
  tar tf quick.xva | tr '\n' ' ' |
    grep -qx 'ova.xml Ref:000/00000000 Ref:000/00000000.checksum '
done

# The failed requests below are not run in the sanitizer build (nbdkit
# 1.32 hangs at exit after a failed request, see functions.sh).
if [ -n "${XDISK_NBDKIT_PRELOAD-}" ] && [ "$XDISK_NBDKIT_PRELOAD" != "$shim" ]
then
  skip_allowed "sanitizer build: the failure part not run"
fi

# Bad input: each refused with the parameter named.
bad ()
{
  local pattern=$1
  shift
  rm -f bad.xva
  expect_failure bad.err nbdkit -U - "$so" file=bad.xva create=true "$@" \
    --run true
  grep -Eq -- "$pattern" bad.err
}
bad 'create-os' create-size=1M create-os=plan9
bad '2040 GiB' create-size=2041G
bad 'create-manifest' create-size=1M create-manifest=sha1
bad 'create-checksum' create-size=1M create-checksum=md5

# Disks out of order: the second disk refused while the first is
# unfinished, with the reason; then the first, then the second.
nbdkit -U - "$so" file=order.xva create=true create-size=2M,2M \
  --run 'qemu-io -f raw -c "write -P 1 0 1M" \
           "nbd+unix:///Ref:001?socket=$unixsocket";
         qemu-io -f raw -c "write -P 2 0 2M" \
           "nbd+unix:///Ref:000?socket=$unixsocket" &&
         qemu-io -f raw -c "write -P 3 1M 1M" \
           "nbd+unix:///Ref:001?socket=$unixsocket"' > order.out 2>&1 ||
  { cat order.out; exit 1; }
cat order.out
grep -q 'disk 1 (Ref:001) cannot be written yet: the disks of an XVA are stored one after another and must be written in order' order.out
grep -q 'write failed' order.out
nbdkit -U - -r "$so" file=order.xva disk=1 verify=true \
  --run 'qemu-io -r -f raw -c "read -P 0 0 1M" -c "read -P 3 1M 1M" "$uri"' |
  grep -c '^read 1048576/1048576' | grep -qx 2

# A client that disconnects early: the disk is finished with what was
# written, the rest zeros; the export complete and readable.
nbdkit -U - "$so" file=early.xva create=true create-size=8M \
  --run 'qemu-io -f raw -c "write -P 5 0 2M" "$uri"'
tar tf early.xva | tr '\n' ' ' | grep -qx 'ova.xml Ref:000/00000000 Ref:000/00000000.checksum Ref:000/00000001 Ref:000/00000001.checksum Ref:000/00000007 Ref:000/00000007.checksum '
nbdkit -U - -r "$so" file=early.xva verify=true \
  --run 'qemu-io -r -f raw -c "read -P 5 0 2M" -c "read -P 0 2M 6M" "$uri"' |
  grep -c '^read ' | grep -qx 2

# refused XVA: GNU tar and xvax refuse the file of an interrupted
# creation.
refused ()
{
  local status=0
  tar tf "$1" > /dev/null 2> tar.err || status=$?
  cat tar.err
  [ $status -ne 0 ]
  grep -q 'does not look like a tar archive' tar.err
  expect_open_error xvax "$1" 'never finished|not an XVA|not a tar|ova\.xml'
}

# SIGKILL during creation, with chunks already appended: refused.
dir=$(mktemp -d "$tmp/sock.XXXXXX")
"${nbdkit_cmd[@]}" -f -U "$dir/sock" -P "$dir/pid" "$so" file=killed.xva \
  create=true create-size=16M &
server=$!
wait_for 30 "the server's socket" test -S "$dir/sock" -a -s "$dir/pid"
qemu-io -f raw -c "write -P 7 0 3M" -c "sleep 60000" \
  "nbd+unix:///?socket=$dir/sock" > killed.out 2>&1 &
client=$!
# Three chunks in the file (1 MiB and its members each).
size_at_least () { [ "$(stat -c %s "$1")" -ge "$2" ]; }
wait_for 30 "chunks appended" \
  size_at_least killed.xva $(( 3 * M + 3 * 1536 )) ||
  { cat killed.out; exit 1; }
kill -KILL "$(cat "$dir/pid")"
wait "$server" || :
kill "$client" 2>/dev/null || :
wait "$client" || :
refused killed.xva

# A full file system (the ENOSPC shim): the copy fails, every later
# request too, and the file is refused.  nbdcopy --synchronous: nbdkit
# 1.32.5 can abort (raw_send_socket: Assertion 'sock >= 0') when a
# client hangs up with requests in flight, as nbdcopy does on an error;
# fixed in 1.33.10 (../shared/docs/nbdkit-plugin-notes.md).
if [ -f "$shim" ]; then
  rm -f full.xva
  status=0
  XDISK_ENOSPC_FILE="$tmp/full.xva" XDISK_ENOSPC_BUDGET=$(( 5 * M )) \
    nbdkit -U - "$so" file=full.xva create=true create-size=96M \
      --run 'nbdcopy --synchronous --flush disk0.raw "$uri"' 2> full.err || status=$?
  cat full.err
  check_not_crashed "$status" "nbdkit creating full.xva" full.err
  [ $status -ne 0 ]
  grep -q 'No space left on device' full.err
  grep -q 'full.xva: the XVA export is incomplete and unusable' full.err
  refused full.xva
fi
