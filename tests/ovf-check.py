#!/usr/bin/env python3
# An independent checker of an OVF descriptor against every rule of
# ../shared/docs/appliance-targets.md §7 (with §2.1 and §2.2 behind
# them) that concerns the descriptor.  Written with Python's
# xml.etree, sharing nothing with xdisk's C code.
#
#   ovf-check.py FILE.ovf [--disks N] [--firmware efi|bios]
#                [--capacity BYTES,...] [--nics N]
#
# Prints one line per broken rule and exits 1; exits 0 when every rule
# holds.  Tests run it on every OVF xdisk renders (tests/test-ovf-check.sh)
# and on every OVA xdisk creates.

import argparse
import re
import sys
import xml.etree.ElementTree as ET

OVF = "http://schemas.dmtf.org/ovf/envelope/1"
OVF2 = "http://schemas.dmtf.org/ovf/envelope/2"
RASD = ("http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/"
        "CIM_ResourceAllocationSettingData")
VSSD = ("http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/"
        "CIM_VirtualSystemSettingData")
VMW = "http://www.vmware.com/schema/ovf"
VBOX = "http://www.virtualbox.org/ovf/machine"
# §2.1: the prefixes importers hard-code, and what they must mean.
PREFIXES = {
    "ovf": OVF, "rasd": RASD, "vssd": VSSD, "vmw": VMW,
    "cim": "http://schemas.dmtf.org/wbem/wscim/1/common",
    "xsi": "http://www.w3.org/2001/XMLSchema-instance",
}
STREAM_URI = ("http://www.vmware.com/interfaces/specifications/"
              "vmdk.html#streamOptimized")
# §2.2 ResourceType numbers VirtualBox knows; others need
# ovf:required="false".
KNOWN_TYPES = {3, 4, 5, 6, 10, 14, 15, 17, 20, 23, 35}
CONTROLLER_TYPES = {5, 6, 20}
SCSI_SUBTYPES = {"lsilogic", "lsilogicsas", "buslogic", "VirtualSCSI"}
SATA_SUBTYPES = {"vmware.sata.ahci", "vmware.nvme.controller"}
# §7: flat member names.
MEMBER_NAME = re.compile(r"^[A-Za-z0-9._-]{1,99}$")
UNITS = re.compile(r"^byte \* 2\^(\d+)$")


def q(ns, local):
    return "{%s}%s" % (ns, local)


def split(tag):
    if tag.startswith("{"):
        ns, local = tag[1:].split("}", 1)
        return ns, local
    return None, tag


class Checker:
    def __init__(self, path):
        self.path = path
        self.problems = []

    def bad(self, rule, what):
        self.problems.append("%s: %s: %s" % (self.path, rule, what))

    def attr(self, e, name):
        """An ovf: attribute (the form §2.2 writes)."""
        return e.get(q(OVF, name))

    def text(self, item, name):
        c = item.find(q(RASD, name))
        return None if c is None else (c.text or "").strip()

    # --- §2.1 namespaces ---
    def namespaces(self, data):
        try:
            for event, (prefix, uri) in ET.iterparse(
                    _bytes_io(data), events=("start-ns",)):
                if uri == OVF2:
                    self.bad("§2.1 namespaces", "OVF 2.0 namespace %s "
                             "declared (envelope/1 only)" % uri)
                want = PREFIXES.get(prefix)
                if want is not None and uri != want:
                    self.bad("§2.1 namespaces", "prefix %s is %s, not %s"
                             % (prefix, uri, want))
                if prefix == "" and uri != OVF:
                    self.bad("§2.1 namespaces", "the default namespace is "
                             "%s, not %s" % (uri, OVF))
        except ET.ParseError as e:
            # An undeclared prefix is a parse error (ESXi 6.7:
            # "Undeclared namespace prefix").
            self.bad("§2.1 every prefix declared / well-formed", str(e))
            return False
        return True

    # --- §7 Info everywhere ---
    def infos(self, root):
        for e in root.iter():
            ns, local = split(e.tag)
            if ns == OVF and (local.endswith("Section") or
                              local == "VirtualSystem"):
                if e.find(q(OVF, "Info")) is None:
                    self.bad("§7 Info", "%s has no Info" % local)

    # --- §7 File and Disk ---
    def files(self, root):
        refs = root.findall(q(OVF, "References"))
        if len(refs) != 1:
            self.bad("§7 References", "%d References elements" % len(refs))
            return {}
        files = {}
        for f in refs[0].findall(q(OVF, "File")):
            fid, href, size = (self.attr(f, "id"), self.attr(f, "href"),
                               self.attr(f, "size"))
            if not fid or not href:
                self.bad("§7 File", "a File lacks ovf:id or ovf:href")
                continue
            if fid in files:
                self.bad("§7 File", "two Files have ovf:id %s" % fid)
            if not MEMBER_NAME.match(href):
                self.bad("§7 File", "ovf:href %r is not a flat member name"
                         % href)
            if href.endswith(".nvram"):
                self.bad("§7 no NVRAM", "File %s is an NVRAM file" % href)
            if size is None or not size.isdigit():
                self.bad("§7 File", "File %s: ovf:size %r is not the member's"
                         " byte count" % (fid, size))
            files[fid] = f
        return files

    def disks(self, root, files):
        sections = root.findall(q(OVF, "DiskSection"))
        if len(sections) != 1:
            self.bad("§7 DiskSection", "%d DiskSections" % len(sections))
            return []
        disks = []
        for d in sections[0].findall(q(OVF, "Disk")):
            did = self.attr(d, "diskId")
            if not did:
                self.bad("§7 Disk", "a Disk has no ovf:diskId")
                continue
            if not re.match(r"^[A-Za-z0-9._~-]+$", did):
                self.bad("§2.2 HostResource", "diskId %r is not RFC 3986 "
                         "unreserved characters" % did)
            ref = self.attr(d, "fileRef")
            if ref not in files:
                self.bad("§7 Disk", "Disk %s: ovf:fileRef %r names no File"
                         % (did, ref))
            cap = self.attr(d, "capacity")
            units = self.attr(d, "capacityAllocationUnits")
            m = UNITS.match(units or "")
            if cap is None or not cap.isdigit() or not m:
                self.bad("§7 Disk", "Disk %s: capacity %r with units %r is "
                         "not N with \"byte * 2^N\"" % (did, cap, units))
                size = None
            else:
                size = int(cap) << int(m.group(1))
            if self.attr(d, "format") != STREAM_URI:
                self.bad("§7 Disk", "Disk %s: ovf:format %r is not the "
                         "streamOptimized URI" % (did, self.attr(d, "format")))
            pop = self.attr(d, "populatedSize")
            if pop is not None and not pop.isdigit():
                self.bad("§7 Disk", "Disk %s: ovf:populatedSize %r" % (did, pop))
            disks.append((did, size))
        return disks

    # --- §7 VirtualSystem, OS, System ---
    def virtual_system(self, root):
        systems = list(root.iter(q(OVF, "VirtualSystem")))
        if len(systems) != 1:
            self.bad("§7 VirtualSystem", "%d VirtualSystems, not one"
                     % len(systems))
            return None
        vs = systems[0]
        if not self.attr(vs, "id"):
            self.bad("§7 VirtualSystem", "no ovf:id")
        if vs.find(q(OVF, "Name")) is None:
            self.bad("§7 VirtualSystem", "no Name")
        oss = vs.find(q(OVF, "OperatingSystemSection"))
        if oss is None:
            self.bad("§7 OperatingSystemSection", "missing")
        else:
            osid = self.attr(oss, "id")
            if osid is None or not osid.isdigit() or int(osid) > 65535:
                self.bad("§7 OperatingSystemSection", "ovf:id %r is not a "
                         "numeric CIM id" % osid)
            if not oss.get(q(VMW, "osType")):
                self.bad("§7 OperatingSystemSection", "no vmw:osType")
        return vs

    def system(self, hw):
        s = hw.find(q(OVF, "System"))
        if s is None:
            self.bad("§7 System", "VirtualHardwareSection has no System")
            return
        for name in ("ElementName", "InstanceID", "VirtualSystemIdentifier",
                     "VirtualSystemType"):
            if s.find(q(VSSD, name)) is None:
                self.bad("§7 System", "no vssd:%s" % name)
        t = s.find(q(VSSD, "VirtualSystemType"))
        if t is not None and not re.match(r"^vmx-\d\d$", (t.text or "").strip()):
            self.bad("§7 System", "VirtualSystemType %r is not one vmx-NN"
                     % t.text)

    # --- §7 Items ---
    def item_order(self, item, n):
        names = [split(c.tag) for c in item]
        rasd = [local for ns, local in names if ns == RASD]
        if rasd != sorted(rasd) or len(set(rasd)) != len(rasd):
            self.bad("§2.2 RASD order", "Item %d: children %s are not in "
                     "alphabetical order" % (n, ", ".join(rasd)))
        seen_other = False
        for ns, local in names:
            if ns != RASD:
                seen_other = True
            elif seen_other:
                self.bad("§2.2 RASD order", "Item %d: rasd:%s after a "
                         "non-RASD child" % (n, local))

    def items(self, hw, disks, networks, args):
        items = hw.findall(q(OVF, "Item"))
        by_id = {}
        counts = {}
        for n, item in enumerate(items, 1):
            self.item_order(item, n)
            iid, name = self.text(item, "InstanceID"), self.text(item,
                                                                "ElementName")
            if not iid or name is None:
                self.bad("§7 Item", "Item %d lacks ElementName or InstanceID"
                         % n)
            if iid in by_id:
                self.bad("§7 Item", "two Items have InstanceID %s" % iid)
            by_id[iid] = item
            rt = self.text(item, "ResourceType")
            if rt is None or not rt.isdigit():
                self.bad("§7 Item", "Item %d: ResourceType %r" % (n, rt))
                continue
            rt = int(rt)
            counts[rt] = counts.get(rt, 0) + 1
            if rt not in KNOWN_TYPES and item.get(q(OVF, "required")) != "false":
                self.bad("§7 Item", "Item %d: ResourceType %d needs "
                         "ovf:required=\"false\"" % (n, rt))
        for rt, what in ((3, "CPU"), (4, "memory")):
            if counts.get(rt, 0) != 1:
                self.bad("§7 Item", "%d %s Items, not one"
                         % (counts.get(rt, 0), what))
        for item in items:
            rt = self.text(item, "ResourceType")
            if rt == "4":
                self.memory(item)
            elif rt in ("5", "6", "20"):
                self.controller(item, int(rt))
            elif rt == "17":
                self.disk_item(item, by_id, disks)
            elif rt == "10":
                self.nic(item, networks)
        named = [self.text(i, "HostResource") for i in items
                 if self.text(i, "ResourceType") == "17"]
        for did, _ in disks:
            k = named.count("ovf:/disk/" + did)
            if k != 1:
                self.bad("§1.4 multi-disk", "Disk %s is named by %d disk "
                         "Items, not one" % (did, k))
        if args.nics is not None and counts.get(10, 0) != args.nics:
            self.bad("--nics", "%d NIC Items, expected %d"
                     % (counts.get(10, 0), args.nics))
        if 32768 in counts:
            self.bad("§7 no NVRAM", "an NVRAM Item (type 32768)")

    def memory(self, item):
        if self.text(item, "AllocationUnits") != "byte * 2^20":
            self.bad("§7 memory", "AllocationUnits %r, not \"byte * 2^20\""
                     % self.text(item, "AllocationUnits"))
        vq = self.text(item, "VirtualQuantity")
        if vq is None or not vq.isdigit() or int(vq) == 0:
            self.bad("§7 memory", "VirtualQuantity %r is not MiB" % vq)

    def controller(self, item, rt):
        sub = self.text(item, "ResourceSubType")
        if rt == 6 and sub not in SCSI_SUBTYPES:
            self.bad("§2.2 controllers", "SCSI ResourceSubType %r" % sub)
        if rt == 20 and sub not in SATA_SUBTYPES:
            self.bad("§2.2 controllers", "type 20 ResourceSubType %r" % sub)

    def disk_item(self, item, by_id, disks):
        host = self.text(item, "HostResource")
        ids = [did for did, _ in disks]
        if host is None or not host.startswith("ovf:/disk/") or \
                host[len("ovf:/disk/"):] not in ids:
            self.bad("§7 disk Item", "HostResource %r names no Disk" % host)
        parent = by_id.get(self.text(item, "Parent"))
        if parent is None or self.text(parent, "ResourceType") not in \
                ("5", "6", "20"):
            self.bad("§7 disk Item", "%s: Parent %r is not a controller's "
                     "InstanceID" % (host, self.text(item, "Parent")))
        a = self.text(item, "AddressOnParent")
        if a is None or not a.isdigit():
            self.bad("§7 disk Item", "%s: AddressOnParent %r" % (host, a))

    def nic(self, item, networks):
        if self.text(item, "AutomaticAllocation") != "true":
            self.bad("§7 NIC", "AutomaticAllocation is not true")
        conn = self.text(item, "Connection")
        if conn not in networks:
            self.bad("§7 NIC", "Connection %r names no NetworkSection/Network"
                     % conn)
        if not self.text(item, "ResourceSubType"):
            self.bad("§7 NIC", "no ResourceSubType")

    # --- §7 firmware, no vbox:Machine ---
    def firmware(self, root, hw, args):
        configs = [c for c in root.iter(q(VMW, "Config"))]
        efi = False
        for c in configs:
            key, value = c.get(q(VMW, "key")), c.get(q(VMW, "value"))
            if key != "firmware":
                # Older vSphere fails on keys it does not know (§2.2).
                self.bad("§7 firmware", "vmw:Config key %r (no vmw:Config "
                         "but firmware by default)" % key)
                continue
            if value != "efi":
                self.bad("§7 firmware", "vmw:Config firmware=%r (only efi is "
                         "written)" % value)
            else:
                efi = True
            if c.get(q(OVF, "required")) != "false":
                self.bad("§7 firmware", "vmw:Config firmware without "
                         "ovf:required=\"false\"")
            if c not in list(hw):
                self.bad("§7 firmware", "vmw:Config firmware is not a child "
                         "of VirtualHardwareSection")
        if args.firmware == "efi" and not efi:
            self.bad("§7 firmware", "EFI machine without vmw:Config "
                     "firmware=efi")
        if args.firmware == "bios" and configs:
            self.bad("§7 firmware", "BIOS machine with a vmw:Config")
        for e in root.iter(q(VBOX, "Machine")):
            self.bad("§7 no vbox:Machine", "a vbox:Machine section")

    def networks(self, root):
        names = set()
        for s in root.findall(q(OVF, "NetworkSection")):
            for n in s.findall(q(OVF, "Network")):
                names.add(self.attr(n, "name"))
        return names

    def run(self, data, args):
        if not self.namespaces(data):
            return
        root = ET.fromstring(data)
        if root.tag != q(OVF, "Envelope"):
            self.bad("§2.1 envelope", "the root is %s, not an OVF 1.x "
                     "Envelope" % root.tag)
            return
        for e in root.iter():
            if split(e.tag)[0] == OVF2:
                self.bad("§2.1 envelope", "an OVF 2.0 element %s" % e.tag)
                break
        self.infos(root)
        files = self.files(root)
        disks = self.disks(root, files)
        if args.disks is not None and (len(disks) != args.disks or
                                       len(files) != args.disks):
            self.bad("--disks", "%d Files and %d Disks, expected %d"
                     % (len(files), len(disks), args.disks))
        if args.capacity is not None:
            want = [int(x) for x in args.capacity.split(",")]
            got = [size for _, size in disks]
            if got != want:
                self.bad("§7 capacity", "capacities %s bytes, expected %s"
                         % (got, want))
        vs = self.virtual_system(root)
        if vs is None:
            return
        hw = vs.find(q(OVF, "VirtualHardwareSection"))
        if hw is None:
            self.bad("§7 VirtualHardwareSection", "missing")
            return
        self.system(hw)
        self.items(hw, disks, self.networks(root), args)
        self.firmware(root, hw, args)


def _bytes_io(data):
    import io
    return io.BytesIO(data)


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("ovf")
    p.add_argument("--disks", type=int)
    p.add_argument("--firmware", choices=("efi", "bios"))
    p.add_argument("--capacity", help="comma-separated bytes per disk")
    p.add_argument("--nics", type=int)
    args = p.parse_args()
    with open(args.ovf, "rb") as f:
        data = f.read()
    c = Checker(args.ovf)
    c.run(data, args)
    for line in c.problems:
        print(line)
    sys.exit(1 if c.problems else 0)


if __name__ == "__main__":
    main()
