/* xdisk: the OVF descriptor of an OVA being created (see xd-ovf-write.h).
 *
 * The descriptor follows ../shared/docs/appliance-targets.md §2.2 (the
 * element outline and the rules behind it) and the checklist of §7:
 * OVF 1.x namespaces only, each declared (§2.1); every Section and the
 * VirtualSystem with an Info; the children of every Item in the
 * alphabetical order of the RASD schema's sequence, each Item with an
 * ElementName and an InstanceID; memory in MiB with "byte * 2^20";
 * disks on one controller of the chosen bus (two for IDE, as VMware
 * writes them), named by HostResource ovf:/disk/<diskId> with Parent
 * the controller's InstanceID; the firmware as vmw:Config for EFI only.
 *
 * Nothing in the output depends on time or chance: the same machine
 * and disks always give the same bytes, and a rendering's length grows
 * only with the digits of its numbers, so the OVA writer can reserve
 * the room of a rendering with every size at UINT64_MAX.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "appliance/xd-ovf-write.h"
#include "archive/xd-xml-write.h"
#include "include/xd-report.h"

#define MiB (UINT64_C (1) << 20)

#define NS_OVF "http://schemas.dmtf.org/ovf/envelope/1"
#define NS_RASD \
  "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/" \
  "CIM_ResourceAllocationSettingData"
#define NS_VSSD \
  "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/" \
  "CIM_VirtualSystemSettingData"
#define NS_VMW "http://www.vmware.com/schema/ovf"

/* CIM ResourceType numbers (§2.2). */
enum {
  RT_CPU = 3, RT_MEMORY = 4, RT_IDE = 5, RT_SCSI = 6, RT_ETHERNET = 10,
  RT_DISK = 17, RT_OTHER_STORAGE = 20,
};

/* capacity × units must equal the VMDK's size exactly (§2.2
 * Capacity), in "byte * 2^N" units, the only form Proxmox reads: MiB
 * for a whole number of MiB (every disk xdisk creates: vmdesc.c rounds
 * them up), else bytes as "byte * 2^0".  A MiB count has at least six
 * digits fewer than its byte count and its units two characters more,
 * so the longest capacity is UINT64_MAX's.
 */
static void
put_capacity (FILE *fp, const char *pfx, uint64_t bytes)
{
  if (bytes % MiB == 0)
    fprintf (fp, " %scapacity=\"%" PRIu64 "\" %scapacityAllocationUnits="
             "\"byte * 2^20\"", pfx, bytes / MiB, pfx);
  else
    fprintf (fp, " %scapacity=\"%" PRIu64 "\" %scapacityAllocationUnits="
             "\"byte * 2^0\"", pfx, bytes, pfx);
}

void
xd_ovf_put_disk_attrs (FILE *fp, const char *pfx, const char *file_id,
                       const struct xd_ovf_disk_out *d)
{
  put_capacity (fp, pfx, d->capacity);
  fprintf (fp, " %sfileRef=\"", pfx);
  xd_xml_put_escaped (fp, file_id);
  fprintf (fp, "\" %sformat=\"%s\" %spopulatedSize=\"%" PRIu64 "\"",
           pfx, XD_OVF_STREAM_URI, pfx, d->populated);
}

void
xd_ovf_put_file (FILE *fp, const char *epfx, const char *pfx,
                 const char *file_id, const struct xd_ovf_disk_out *d)
{
  fprintf (fp, "<%sFile %shref=\"", epfx, pfx);
  xd_xml_put_escaped (fp, d->href);
  fprintf (fp, "\" %sid=\"", pfx);
  xd_xml_put_escaped (fp, file_id);
  fprintf (fp, "\" %ssize=\"%" PRIu64 "\"/>", pfx, d->file_size);
}

/* ---- the parts of the envelope ---- */

static void
put_references (FILE *fp, const struct xd_ovf_disk_out *disks, size_t nr)
{
  char id[32];
  size_t i;

  fputs ("  <References>\n", fp);
  for (i = 0; i < nr; i++) {
    snprintf (id, sizeof id, "file%zu", i + 1);
    fputs ("    ", fp);
    xd_ovf_put_file (fp, "", "ovf:", id, &disks[i]);
    fputc ('\n', fp);
  }
  fputs ("  </References>\n", fp);
}

static void
put_disk_section (FILE *fp, const struct xd_ovf_disk_out *disks, size_t nr)
{
  char id[32];
  size_t i;

  fputs ("  <DiskSection>\n"
         "    <Info>Virtual disk information</Info>\n", fp);
  for (i = 0; i < nr; i++) {
    snprintf (id, sizeof id, "file%zu", i + 1);
    fprintf (fp, "    <Disk ovf:diskId=\"vmdisk%zu\"", i + 1);
    xd_ovf_put_disk_attrs (fp, "ovf:", id, &disks[i]);
    fputs ("/>\n", fp);
  }
  fputs ("  </DiskSection>\n", fp);
}

static void
put_network_section (FILE *fp, const struct xd_vmdesc *desc)
{
  if (desc->nic == XD_NIC_NONE)
    return;
  fputs ("  <NetworkSection>\n"
         "    <Info>The list of logical networks</Info>\n"
         "    <Network ovf:name=\"", fp);
  xd_xml_put_escaped (fp, desc->network);
  fputs ("\">\n      <Description>The ", fp);
  xd_xml_put_escaped (fp, desc->network);
  fputs (" network</Description>\n"
         "    </Network>\n"
         "  </NetworkSection>\n", fp);
}

static void
put_os_section (FILE *fp, const struct xd_vmdesc *desc)
{
  fprintf (fp, "    <OperatingSystemSection ovf:id=\"%u\" "
           "vmw:osType=\"%s\">\n"
           "      <Info>The kind of installed guest operating system</Info>\n"
           "    </OperatingSystemSection>\n",
           desc->os->cim_id, desc->os->vmw_os_type);
}

static void
put_system (FILE *fp, const struct xd_vmdesc *desc)
{
  fputs ("      <System>\n"
         "        <vssd:ElementName>Virtual Hardware Family"
         "</vssd:ElementName>\n"
         "        <vssd:InstanceID>0</vssd:InstanceID>\n"
         "        <vssd:VirtualSystemIdentifier>", fp);
  xd_xml_put_escaped (fp, desc->name);
  fprintf (fp, "</vssd:VirtualSystemIdentifier>\n"
           "        <vssd:VirtualSystemType>vmx-%02u"
           "</vssd:VirtualSystemType>\n"
           "      </System>\n", desc->hwversion);
}

/* One RASD child: <rasd:NAME>VALUE</rasd:NAME>.  Each Item below
 * calls these in alphabetical order of NAME (the schema's sequence,
 * §2.2: ESXi refuses another order).
 */
static void
rasd (FILE *fp, const char *name, const char *value)
{
  fprintf (fp, "        <rasd:%s>", name);
  xd_xml_put_escaped (fp, value);
  fprintf (fp, "</rasd:%s>\n", name);
}

static void
rasd_u64 (FILE *fp, const char *name, uint64_t value)
{
  fprintf (fp, "        <rasd:%s>%" PRIu64 "</rasd:%s>\n", name, value,
           name);
}

static void
put_cpu_memory (FILE *fp, const struct xd_vmdesc *desc)
{
  char text[64];

  fputs ("      <Item>\n", fp);
  rasd (fp, "AllocationUnits", "hertz * 10^6");
  rasd (fp, "Description", "Number of Virtual CPUs");
  snprintf (text, sizeof text, "%u virtual CPU(s)", desc->cpus);
  rasd (fp, "ElementName", text);
  rasd_u64 (fp, "InstanceID", 1);
  rasd_u64 (fp, "ResourceType", RT_CPU);
  rasd_u64 (fp, "VirtualQuantity", desc->cpus);
  fputs ("      </Item>\n      <Item>\n", fp);
  rasd (fp, "AllocationUnits", "byte * 2^20");
  rasd (fp, "Description", "Memory Size");
  snprintf (text, sizeof text, "%" PRIu64 "MB of memory",
            desc->memory / MiB);
  rasd (fp, "ElementName", text);
  rasd_u64 (fp, "InstanceID", 2);
  rasd_u64 (fp, "ResourceType", RT_MEMORY);
  rasd_u64 (fp, "VirtualQuantity", desc->memory / MiB);
  fputs ("      </Item>\n", fp);
}

/* InstanceIDs: CPU 1, memory 2, the controllers from 3, then the
 * disks, then the NIC.
 */
#define FIRST_CONTROLLER 3

/* Controllers of the bus, and where disk I sits on them.  lsilogic
 * SCSI keeps target 7 for itself; an IDE controller (a channel) holds
 * two devices, so disks 3 and 4 go on a second one, as VMware writes
 * them.
 */
static size_t
nr_controllers (const struct xd_vmdesc *desc)
{
  return desc->bus == XD_BUS_IDE && desc->nr_disks > 2 ? 2 : 1;
}

static void
disk_place (const struct xd_vmdesc *desc, size_t i, size_t *controller,
            size_t *address)
{
  *controller = 0;
  *address = i;
  if (desc->bus == XD_BUS_SCSI && i >= 7)
    *address = i + 1;
  else if (desc->bus == XD_BUS_IDE) {
    *controller = i / 2;
    *address = i % 2;
  }
}

/* The controller of each bus (§2.2 Controllers): what VMware writes,
 * and what VirtualBox, Proxmox and virt-v2v map (IDE has no subtype).
 */
static const struct {
  const char *kind;             /* "SCSI": Description, ElementName */
  const char *subtype;          /* ResourceSubType, or NULL */
  unsigned type;                /* ResourceType */
} controllers[] = {
  [XD_BUS_SCSI] = { "SCSI", "lsilogic", RT_SCSI },
  [XD_BUS_SATA] = { "SATA", "vmware.sata.ahci", RT_OTHER_STORAGE },
  [XD_BUS_IDE] = { "IDE", NULL, RT_IDE },
};

static void
put_controllers (FILE *fp, const struct xd_vmdesc *desc)
{
  size_t c;
  char text[64];

  for (c = 0; c < nr_controllers (desc); c++) {
    fputs ("      <Item>\n", fp);
    rasd_u64 (fp, "Address", c);
    snprintf (text, sizeof text, "%s Controller", controllers[desc->bus].kind);
    rasd (fp, "Description", text);
    snprintf (text, sizeof text, "%s Controller %zu",
              controllers[desc->bus].kind, c);
    rasd (fp, "ElementName", text);
    rasd_u64 (fp, "InstanceID", FIRST_CONTROLLER + c);
    if (controllers[desc->bus].subtype)
      rasd (fp, "ResourceSubType", controllers[desc->bus].subtype);
    rasd_u64 (fp, "ResourceType", controllers[desc->bus].type);
    fputs ("      </Item>\n", fp);
  }
}

static void
put_disks (FILE *fp, const struct xd_vmdesc *desc)
{
  size_t i, controller, address;
  size_t first = FIRST_CONTROLLER + nr_controllers (desc);
  char text[64];

  for (i = 0; i < desc->nr_disks; i++) {
    disk_place (desc, i, &controller, &address);
    fputs ("      <Item>\n", fp);
    rasd_u64 (fp, "AddressOnParent", address);
    snprintf (text, sizeof text, "Hard Disk %zu", i + 1);
    rasd (fp, "ElementName", text);
    snprintf (text, sizeof text, "ovf:/disk/vmdisk%zu", i + 1);
    rasd (fp, "HostResource", text);
    rasd_u64 (fp, "InstanceID", first + i);
    rasd_u64 (fp, "Parent", FIRST_CONTROLLER + controller);
    rasd_u64 (fp, "ResourceType", RT_DISK);
    fputs ("      </Item>\n", fp);
  }
}

/* The NIC subtypes as VMware writes them (§2.2 NIC: E1000 is the
 * portable one).
 */
static const char *
nic_subtype (enum xd_nic nic)
{
  switch (nic) {
  case XD_NIC_E1000: return "E1000";
  case XD_NIC_E1000E: return "E1000e";
  case XD_NIC_VMXNET3: return "VmxNet3";
  case XD_NIC_NONE: break;
  }
  return NULL;
}

static void
put_nic (FILE *fp, const struct xd_vmdesc *desc)
{
  size_t id = FIRST_CONTROLLER + nr_controllers (desc) + desc->nr_disks;

  if (desc->nic == XD_NIC_NONE)
    return;
  fputs ("      <Item>\n", fp);
  rasd (fp, "AutomaticAllocation", "true");
  rasd (fp, "Connection", desc->network);
  fprintf (fp, "        <rasd:Description>%s ethernet adapter on &quot;",
           nic_subtype (desc->nic));
  xd_xml_put_escaped (fp, desc->network);
  fputs ("&quot;</rasd:Description>\n", fp);
  rasd (fp, "ElementName", "Network adapter 1");
  rasd_u64 (fp, "InstanceID", id);
  rasd (fp, "ResourceSubType", nic_subtype (desc->nic));
  rasd_u64 (fp, "ResourceType", RT_ETHERNET);
  fputs ("      </Item>\n", fp);
}

static void
put_hardware (FILE *fp, const struct xd_vmdesc *desc)
{
  fputs ("    <VirtualHardwareSection>\n"
         "      <Info>Virtual hardware requirements</Info>\n", fp);
  put_system (fp, desc);
  put_cpu_memory (fp, desc);
  put_controllers (fp, desc);
  put_disks (fp, desc);
  put_nic (fp, desc);
  /* §2.2 Firmware: only this key, only for EFI (older vSphere fails on
   * keys it does not know).
   */
  if (desc->firmware == XD_FIRMWARE_EFI)
    fputs ("      <vmw:Config ovf:required=\"false\" vmw:key=\"firmware\" "
           "vmw:value=\"efi\"/>\n", fp);
  fputs ("    </VirtualHardwareSection>\n", fp);
}

static void
put_virtual_system (FILE *fp, const struct xd_vmdesc *desc)
{
  fputs ("  <VirtualSystem ovf:id=\"", fp);
  xd_xml_put_escaped (fp, desc->name);
  fputs ("\">\n    <Info>A virtual machine</Info>\n    <Name>", fp);
  xd_xml_put_escaped (fp, desc->name);
  fputs ("</Name>\n", fp);
  put_os_section (fp, desc);
  put_hardware (fp, desc);
  fputs ("  </VirtualSystem>\n", fp);
}

/* Close FP (an open_memstream of *OUT) and check that every write
 * went through.
 */
int
xd_ovf_close_output (FILE *fp, char **out, size_t *len)
{
  bool failed = ferror (fp) != 0;

  if (fclose (fp) == EOF || failed) {
    xd_error ("OVF descriptor: writing to memory: %m");
    free (*out);
    *out = NULL;
    *len = 0;
    return -1;
  }
  return 0;
}

int
xd_ovf_render (const struct xd_vmdesc *desc,
               const struct xd_ovf_disk_out *disks, size_t nr,
               char **out, size_t *len)
{
  FILE *fp;

  *out = NULL;
  *len = 0;
  if (nr != desc->nr_disks || nr == 0) {
    xd_error ("OVF descriptor: %zu disks given for a machine of %zu", nr,
              desc->nr_disks);
    errno = EINVAL;
    return -1;
  }
  fp = open_memstream (out, len);
  if (fp == NULL) {
    xd_error ("OVF descriptor: open_memstream: %m");
    return -1;
  }
  fputs ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
         "<Envelope xmlns=\"" NS_OVF "\" xmlns:ovf=\"" NS_OVF "\""
         " xmlns:rasd=\"" NS_RASD "\" xmlns:vmw=\"" NS_VMW "\""
         " xmlns:vssd=\"" NS_VSSD "\">\n", fp);
  put_references (fp, disks, nr);
  put_disk_section (fp, disks, nr);
  put_network_section (fp, desc);
  put_virtual_system (fp, desc);
  fputs ("</Envelope>\n", fp);
  return xd_ovf_close_output (fp, out, len);
}
