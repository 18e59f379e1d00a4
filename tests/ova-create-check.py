#!/usr/bin/env python3
"""Independent checks of an OVA xdisk created (tests/test-ova-create*.sh).

  ova-create-check.py tar OVA
      Walk the archive's 512-byte headers without a tar library and
      print one line per member, "NAME SIZE OFFSET" (OFFSET: of its data).
      Fails unless every header is ustar ("ustar\\0" "00"), a regular
      file (typeflag '0'), flat (no '/', no './', empty prefix field),
      named [A-Za-z0-9._-] in at most 99 bytes, its checksum right; the
      data padded to 512 bytes with zeros; and the archive ends with
      exactly two zero blocks after the last member
      (../shared/docs/appliance-targets.md section 1.1, checklist 7).

  ova-create-check.py vmdk FILE
      A streamOptimized VMDK as an OVA holds it (section 4): header
      version 3, compressed grains with LBA markers in strictly
      ascending LBA, a descriptor with createType="streamOptimized" and
      one extent line with single spaces, and the file ends right after
      the end-of-stream marker.  Prints the capacity in bytes.

  ova-create-check.py ovf OVF MEMBERS KEY=VALUE...
      The descriptor's records against the archive: MEMBERS is the
      output of "tar" above.  Every File's href is a disk member in
      order and its ovf:size the member's size; every Disk names its
      File, and its capacity (in its allocation units) is the expected
      size.  KEY=VALUE are the expectations from the create-*
      parameters: sizes=B1,B2 (bytes), name=, cpus=, memory= (MiB),
      firmware=bios|efi, bus=scsi|sata|ide, ostype= (vmw:osType),
      nic=none|e1000|e1000e|vmxnet3, network=, hw=vmx-NN.
"""

import re
import sys
import xml.etree.ElementTree as ET

OVF = "http://schemas.dmtf.org/ovf/envelope/1"
RASD = ("http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/"
        "CIM_ResourceAllocationSettingData")
VSSD = ("http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/"
        "CIM_VirtualSystemSettingData")
VMW = "http://www.vmware.com/schema/ovf"
STREAM_URI = ("http://www.vmware.com/interfaces/specifications/"
              "vmdk.html#streamOptimized")
NAME_RE = re.compile(r"^[A-Za-z0-9._-]{1,99}$")


def fail(msg):
    sys.exit("ova-create-check: " + msg)


def octal(field, what):
    text = field.rstrip(b"\0 ").decode("ascii", "replace")
    if not re.fullmatch(r"[0-7]+", text):
        fail("%s: %r is not an octal number" % (what, field))
    return int(text, 8)


def check_tar(path):
    data = open(path, "rb").read()
    if len(data) % 512:
        fail("%s: %d bytes, not whole 512-byte blocks" % (path, len(data)))
    pos, out = 0, []
    while True:
        if pos + 512 > len(data):
            fail("%s: no end-of-archive blocks" % path)
        h = data[pos:pos + 512]
        if h == bytes(512):
            break
        name = h[0:100].split(b"\0")[0].decode("ascii", "replace")
        where = "%s: member %d (%s) at %d" % (path, len(out), name, pos)
        if h[257:265] != b"ustar\x0000":
            fail("%s: magic/version %r, not ustar" % (where, h[257:265]))
        if h[156:157] != b"0":
            fail("%s: typeflag %r, not a regular file" % (where, h[156:157]))
        if h[345:500] != bytes(155):
            fail("%s: the prefix field is used" % where)
        if not NAME_RE.match(name) or name.startswith("."):
            fail("%s: name outside [A-Za-z0-9._-], or too long" % where)
        want = octal(h[148:156], where + " checksum")
        got = sum(h[:148]) + 8 * 32 + sum(h[156:])
        if want != got:
            fail("%s: header checksum %d, computed %d" % (where, want, got))
        size = octal(h[124:136], where + " size")
        start = pos + 512
        end = start + size
        padded = start + (size + 511) // 512 * 512
        if padded > len(data):
            fail("%s: data runs past the end of the file" % where)
        if data[end:padded] != bytes(padded - end):
            fail("%s: padding is not zeros" % where)
        out.append((name, size, start))
        pos = padded
    if data[pos:] != bytes(1024):
        fail("%s: %d bytes after the last member, not two zero blocks"
             % (path, len(data) - pos))
    for name, size, start in out:
        print(name, size, start)


def check_vmdk(path):
    import struct
    import zlib
    f = open(path, "rb").read()
    if len(f) % 512:
        fail("%s: not whole sectors" % path)
    (magic, ver, flags, cap, grain, doff, dsz, ngte, rgd, gd, over) = \
        struct.unpack_from("<4sIIQQQQIQQQ", f)
    if magic != b"KDMV" or ver != 3:
        fail("%s: magic %r version %d (want KDMV 3)" % (path, magic, ver))
    # Bits 16 (compressed grains) and 17 (markers) must be set.
    if flags & 0x30000 != 0x30000:
        fail("%s: flags %#x without compressed grains and markers"
             % (path, flags))
    desc = f[doff * 512:(doff + dsz) * 512].rstrip(b"\0").decode()
    if 'createType="streamOptimized"' not in desc.split("\n"):
        fail("%s: descriptor without createType=\"streamOptimized\"" % path)
    extents = [l for l in desc.split("\n")
               if re.match(r"(RW|RDONLY|NOACCESS) ", l)]
    if len(extents) != 1 or not re.fullmatch(r'RW \d+ SPARSE "[^"]+"',
                                             extents[0]):
        fail("%s: extent lines %r" % (path, extents))
    if int(extents[0].split(" ")[1]) != cap:
        fail("%s: the extent's sectors are not the header's capacity" % path)
    s, last = over, -1
    while True:
        if (s + 1) * 512 > len(f):
            fail("%s: no end-of-stream marker" % path)
        lba, size, typ = struct.unpack_from("<QII", f, s * 512)
        if size:
            if lba <= last or lba % grain:
                fail("%s: grain at LBA %d after %d" % (path, lba, last))
            if len(zlib.decompress(f[s * 512 + 12:s * 512 + 12 + size])) \
                    > grain * 512:
                fail("%s: grain at LBA %d too big" % (path, lba))
            last = lba
            s += (12 + size + 511) // 512
        elif typ == 0:
            if lba != 0 or f[s * 512:(s + 1) * 512] != bytes(512):
                fail("%s: bad end-of-stream marker at sector %d" % (path, s))
            if (s + 1) * 512 != len(f):
                fail("%s: %d bytes after the end-of-stream marker"
                     % (path, len(f) - (s + 1) * 512))
            break
        elif typ in (1, 2, 3):
            s += 1 + lba
        else:
            fail("%s: unknown marker %d at sector %d" % (path, typ, s))
    print(cap * 512)


def q(ns, tag):
    return "{%s}%s" % (ns, tag)


def rasd(item, tag):
    e = item.find(q(RASD, tag))
    return None if e is None or e.text is None else e.text.strip()


def units_factor(units, what):
    if units is None or units.strip() == "byte":
        return 1
    m = re.fullmatch(r"\s*byte\s*\*\s*(\d+)\s*\^\s*(\d+)\s*", units)
    if not m:
        fail("%s: capacityAllocationUnits %r" % (what, units))
    return int(m.group(1)) ** int(m.group(2))


def check_ovf(path, members_file, expect):
    members = [l.split() for l in open(members_file) if l.strip()]
    disks_m = [(n, int(s)) for n, s, _ in members if n.endswith(".vmdk")]
    root = ET.parse(path).getroot()
    if root.tag != q(OVF, "Envelope"):
        fail("%s: root %s, not an OVF 1.x Envelope" % (path, root.tag))
    files = root.findall(q(OVF, "References") + "/" + q(OVF, "File"))
    got = [(f.get(q(OVF, "href")), f.get(q(OVF, "size"))) for f in files]
    want = [(n, str(s)) for n, s in disks_m]
    if got != want:
        fail("%s: References (href, size) %r, the archive's disks %r"
             % (path, got, want))
    ids = [f.get(q(OVF, "id")) for f in files]
    if None in ids or len(set(ids)) != len(ids):
        fail("%s: File ids %r" % (path, ids))
    dsec = root.find(q(OVF, "DiskSection"))
    if dsec is None or dsec.find(q(OVF, "Info")) is None:
        fail("%s: no DiskSection with an Info" % path)
    disks = dsec.findall(q(OVF, "Disk"))
    if [d.get(q(OVF, "fileRef")) for d in disks] != ids:
        fail("%s: the Disks' fileRefs %r, the Files %r"
             % (path, [d.get(q(OVF, "fileRef")) for d in disks], ids))
    sizes = [int(x) for x in expect["sizes"].split(",")]
    for d, size in zip(disks, sizes):
        what = "%s: Disk %s" % (path, d.get(q(OVF, "diskId")))
        cap = int(d.get(q(OVF, "capacity"))) * \
            units_factor(d.get(q(OVF, "capacityAllocationUnits")), what)
        if cap != size:
            fail("%s: capacity %d bytes, want %d" % (what, cap, size))
        if d.get(q(OVF, "format")) != STREAM_URI:
            fail("%s: format %r" % (what, d.get(q(OVF, "format"))))
        pop = d.get(q(OVF, "populatedSize"))
        if pop is not None and not 0 < int(pop) <= size:
            fail("%s: populatedSize %s" % (what, pop))
    if len(disks) != len(sizes):
        fail("%s: %d Disks, want %d" % (path, len(disks), len(sizes)))
    systems = root.findall(q(OVF, "VirtualSystem"))
    if len(systems) != 1:
        fail("%s: %d VirtualSystems" % (path, len(systems)))
    vs = systems[0]
    items = vs.findall(q(OVF, "VirtualHardwareSection") + "/" +
                       q(OVF, "Item"))
    by_id = {rasd(i, "InstanceID"): i for i in items}
    if "name" in expect:
        name = vs.findtext(q(OVF, "Name"))
        if name != expect["name"]:
            fail("%s: VirtualSystem Name %r, want %r"
                 % (path, name, expect["name"]))
    # One disk Item per Disk, in order, on one controller of the bus.
    bus = {"scsi": ("6", "lsilogic"), "sata": ("20", "vmware.sata.ahci"),
           "ide": ("5", None)}[expect.get("bus", "scsi")]
    ditems = [i for i in items if rasd(i, "ResourceType") == "17"]
    hrefs = [rasd(i, "HostResource") for i in ditems]
    want = ["ovf:/disk/" + d.get(q(OVF, "diskId")) for d in disks]
    if hrefs != want:
        fail("%s: disk Items' HostResource %r, want %r" % (path, hrefs, want))
    for i in ditems:
        parent = by_id.get(rasd(i, "Parent"))
        if parent is None:
            fail("%s: disk Item %s: Parent %r names no Item"
                 % (path, rasd(i, "InstanceID"), rasd(i, "Parent")))
        if rasd(parent, "ResourceType") != bus[0] or \
           (bus[1] and rasd(parent, "ResourceSubType") != bus[1]):
            fail("%s: disk Item %s on controller type %s/%s, want %s/%s"
                 % (path, rasd(i, "InstanceID"), rasd(parent, "ResourceType"),
                    rasd(parent, "ResourceSubType"), bus[0], bus[1]))
        if rasd(i, "AddressOnParent") is None:
            fail("%s: disk Item without AddressOnParent" % path)

    def one(rtype):
        found = [i for i in items if rasd(i, "ResourceType") == rtype]
        if len(found) != 1:
            fail("%s: %d Items of ResourceType %s" % (path, len(found), rtype))
        return found[0]
    if "cpus" in expect and rasd(one("3"), "VirtualQuantity") != expect["cpus"]:
        fail("%s: CPUs %r, want %s"
             % (path, rasd(one("3"), "VirtualQuantity"), expect["cpus"]))
    if "memory" in expect:
        m = one("4")
        if rasd(m, "VirtualQuantity") != expect["memory"] or \
           rasd(m, "AllocationUnits") != "byte * 2^20":
            fail("%s: memory %r %r, want %s MiB" % (
                path, rasd(m, "VirtualQuantity"), rasd(m, "AllocationUnits"),
                expect["memory"]))
    vhs = vs.find(q(OVF, "VirtualHardwareSection"))
    fw = [c.get(q(VMW, "value")) for c in vhs.findall(q(VMW, "Config"))
          if c.get(q(VMW, "key")) == "firmware"]
    if expect.get("firmware") == "efi" and fw != ["efi"]:
        fail("%s: firmware Config %r, want efi" % (path, fw))
    if expect.get("firmware") == "bios" and fw not in ([], ["bios"]):
        fail("%s: firmware Config %r on a BIOS machine" % (path, fw))
    if "ostype" in expect:
        os_ = vs.find(q(OVF, "OperatingSystemSection"))
        if os_ is None or os_.get(q(VMW, "osType")) != expect["ostype"]:
            fail("%s: vmw:osType %r, want %s" % (
                path, None if os_ is None else os_.get(q(VMW, "osType")),
                expect["ostype"]))
    if "hw" in expect:
        t = vhs.findtext(q(OVF, "System") + "/" +
                         q(VSSD, "VirtualSystemType"))
        if t != expect["hw"]:
            fail("%s: VirtualSystemType %r, want %s" % (path, t, expect["hw"]))
    nics = [i for i in items if rasd(i, "ResourceType") == "10"]
    if expect.get("nic") == "none":
        if nics:
            fail("%s: a NIC Item with create-nic=none" % path)
    elif "nic" in expect:
        if len(nics) != 1 or \
           (rasd(nics[0], "ResourceSubType") or "").lower() != expect["nic"]:
            fail("%s: NIC subtypes %r, want %s" % (
                path, [rasd(n, "ResourceSubType") for n in nics],
                expect["nic"]))
        conn = rasd(nics[0], "Connection")
        nets = [n.get(q(OVF, "name")) for n in root.findall(
            q(OVF, "NetworkSection") + "/" + q(OVF, "Network"))]
        if conn not in nets:
            fail("%s: NIC Connection %r not in NetworkSection %r"
                 % (path, conn, nets))
        if "network" in expect and conn != expect["network"]:
            fail("%s: NIC Connection %r, want %r"
                 % (path, conn, expect["network"]))


def main(argv):
    if len(argv) == 3 and argv[1] == "tar":
        check_tar(argv[2])
    elif len(argv) == 3 and argv[1] == "vmdk":
        check_vmdk(argv[2])
    elif len(argv) >= 4 and argv[1] == "ovf":
        expect = dict(a.split("=", 1) for a in argv[4:])
        check_ovf(argv[2], argv[3], expect)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
