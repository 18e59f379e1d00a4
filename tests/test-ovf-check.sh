#!/usr/bin/env bash
# The OVF descriptors xdisk renders (common/appliance/ovf-write.c, and a
# create-ovf= template filled by ovf-template.c), checked by the
# independent checker tests/ovf-check.py against every descriptor rule
# of ../shared/docs/appliance-targets.md §7; then the checker's own
# mutant test: each rule broken once in a good rendering must be
# caught.
source "$srcdir/functions.sh"
set -e

requires python3 --version
dump=$top_builddir/common/appliance/test-ovf-write
[ -x "$dump" ] || requires false   # built with libcheck only
check=$srcdir/ovf-check.py
make_tmpdir

"$dump" --dump "$tmp"
n=0
for f in "$tmp"/*.ovf; do
    b=$(basename "$f" .ovf)
    firmware=${b%%-*}
    disks=${b##*-}
    python3 "$check" "$f" --disks "$disks" --firmware "$firmware"
    n=$((n + 1))
done
[ "$n" -eq 6 ]
python3 "$check" "$tmp/efi-template-ovftool-2.ovf" --disks 2 \
    --capacity $((1 << 30)),$((2 << 30))
python3 "$check" "$tmp/efi-scsi-vmxnet3-3.ovf" --nics 1 \
    --capacity $((20 << 30)),$((100 << 30)),$((1 << 30))

# mutant NAME EXPECTED-WORD PYTHON-EXPR [CHECKER-ARGS...]: the good
# rendering efi-scsi-vmxnet3-3.ovf with the text transformed by
# PYTHON-EXPR (on the string s) must fail the checker with a message
# containing EXPECTED-WORD.
good=$tmp/efi-scsi-vmxnet3-3.ovf
mutant ()
{
    local name=$1 word=$2 expr=$3 out
    shift 3
    python3 -c "import sys; s = open(sys.argv[1]).read(); \
s2 = $expr; assert s2 != s, 'mutation $name changed nothing'; \
open(sys.argv[2], 'w').write(s2)" "$good" "$tmp/m.ovf"
    if out=$(python3 "$check" "$tmp/m.ovf" "$@"); then
        echo "$0: mutant $name passed the checker"
        exit 1
    fi
    if ! grep -qF -- "$word" <<<"$out"; then
        echo "$0: mutant $name: message lacks '$word':"
        echo "$out"
        exit 1
    fi
}

# RASD children out of order (ESXi: "Unsupported element 'Connection'").
mutant order "RASD order" "s.replace('''<rasd:AutomaticAllocation>true</rasd:AutomaticAllocation>
        <rasd:Connection>VM Network</rasd:Connection>''', '''<rasd:Connection>VM Network</rasd:Connection>
        <rasd:AutomaticAllocation>true</rasd:AutomaticAllocation>''')"
mutant no-parent "Parent" "s.replace('<rasd:Parent>3</rasd:Parent>', '', 1)"
mutant bad-parent "Parent" "s.replace('<rasd:Parent>3</rasd:Parent>', '<rasd:Parent>1</rasd:Parent>', 1)"
mutant no-elementname "ElementName" "s.replace('<rasd:ElementName>Hard Disk 2</rasd:ElementName>', '')"
mutant host "HostResource" "s.replace('ovf:/disk/vmdisk2', 'ovf:/disk/vmdisk9')"
mutant envelope2 "envelope/2" "s.replace('ovf/envelope/1', 'ovf/envelope/2')"
mutant undeclared "prefix" "s.replace(' xmlns:vmw=\"http://www.vmware.com/schema/ovf\"', '')"
mutant wrong-uri "prefix rasd" "s.replace('cim-schema/2/CIM_ResourceAllocationSettingData', 'cim-schema/2/RASD')"
mutant no-info "Info" "s.replace('<Info>Virtual disk information</Info>', '')"
mutant file-size "ovf:size" "s.replace(' ovf:size=\"70001\"', '')"
mutant file-ref "fileRef" "s.replace('ovf:fileRef=\"file2\"', 'ovf:fileRef=\"file7\"')"
mutant units "capacity" "s.replace('byte * 2^20\" ovf:fileRef=\"file1\"', 'byte\" ovf:fileRef=\"file1\"')"
mutant format "streamOptimized" "s.replace('#streamOptimized', '#monolithicSparse', 1)"
mutant connection "Connection" "s.replace('<rasd:Connection>VM Network', '<rasd:Connection>LAN')"
mutant no-network "Connection" "s.replace('<Network ovf:name=\"VM Network\">', '<Network ovf:name=\"LAN\">')"
mutant autoalloc "AutomaticAllocation" "s.replace('<rasd:AutomaticAllocation>true', '<rasd:AutomaticAllocation>false')"
mutant memory-units "byte * 2^20" "s.replace('<rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits>', '<rasd:AllocationUnits>byte * 2^30</rasd:AllocationUnits>')"
mutant vmx "vmx-NN" "s.replace('vmx-13', 'vmx-13 vmx-14')"
mutant family "vmx-NN" "s.replace('vmx-13', 'virtualbox-2.2')"
mutant os-type "osType" "s.replace(' vmw:osType=\"debian12_64Guest\"', '')"
mutant os-id "numeric CIM id" "s.replace('OperatingSystemSection ovf:id=\"96\"', 'OperatingSystemSection ovf:id=\"debian\"')"
mutant no-name "Name" "s.replace('<Name>app &amp; &lt;co&gt;</Name>', '')"
mutant two-vs "VirtualSystems" "s.replace('</VirtualSystem>', '</VirtualSystem><VirtualSystem ovf:id=\"b\"><Info>x</Info></VirtualSystem>')"
mutant no-identifier "VirtualSystemIdentifier" "s.replace('<vssd:VirtualSystemIdentifier>app &amp; &lt;co&gt;</vssd:VirtualSystemIdentifier>', '')"
mutant subtype "SCSI ResourceSubType" "s.replace('>lsilogic<', '>pvscsi<')"
mutant unknown-type "required" "s.replace('<rasd:ResourceType>10</rasd:ResourceType>', '<rasd:ResourceType>24</rasd:ResourceType>')"
mutant nvram "NVRAM" "s.replace('<rasd:ResourceType>10</rasd:ResourceType>', '<rasd:ResourceType>32768</rasd:ResourceType>')"
mutant config-key "firmware" "s.replace('vmw:key=\"firmware\"', 'vmw:key=\"flags.vvtdEnabled\"')"
mutant config-required "required" "s.replace('<vmw:Config ovf:required=\"false\" ', '<vmw:Config ')"
mutant no-efi "EFI machine" "s.replace('<vmw:Config ovf:required=\"false\" vmw:key=\"firmware\" vmw:value=\"efi\"/>', '')" --firmware efi
mutant vbox "vbox:Machine" "s.replace('</VirtualSystem>', '<vbox:Machine xmlns:vbox=\"http://www.virtualbox.org/ovf/machine\"/></VirtualSystem>')"
mutant member-name "flat member name" "s.replace('app-disk1.vmdk', './app-disk1.vmdk')"
mutant disks "expected 4" "s + ' '" --disks 4
mutant capacity "capacities" "s + ' '" --capacity 1,2,3
# Real ovftool exports (VirtualBox's test appliances in ../shared/corpus,
# when present) keep every rule but the one xdisk adds for itself (no
# vmw:Config other than firmware): the checker is not stricter than
# vSphere's own output.
for xz in "$XDISK_SHARED"/corpus/ova/tdAppliance1-t*.ova.xz; do
    [ -f "$xz" ] || continue
    requires xz --version
    b=$(basename "$xz" .ova.xz)
    xz -dc "$xz" > "$tmp/$b.ova"
    tar -xOf "$tmp/$b.ova" --wildcards '*.ovf' > "$tmp/$b.ovf"
    out=$(python3 "$check" "$tmp/$b.ovf") && :
    if grep -v 'no vmw:Config but firmware' <<<"$out" | grep .; then
        echo "$0: $b: the checker refuses ovftool's own OVF"
        exit 1
    fi
done

# The EFI rendering is not a BIOS machine.
if python3 "$check" "$good" --firmware bios; then
    echo "$0: an EFI rendering passed as BIOS"; exit 1
fi
echo "$0: OK"
