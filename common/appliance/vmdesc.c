/* xdisk: the machine an appliance being created describes (see
 * xd-vmdesc.h).
 *
 * Every create-* machine parameter is checked here, once, for both
 * appliance kinds, so that the OVF and XVA writers only spell what is
 * already known to be valid.  Rules come from
 * ../shared/docs/appliance-targets.md (cited by section).
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "appliance/xd-vmdesc.h"
#include "include/xd-math.h"
#include "include/xd-report.h"

#define MiB (UINT64_C (1) << 20)

/* The guest OSes create-os= knows.
 *
 * cim_id: the DMTF CIM_OperatingSystem OSType value map, as VirtualBox
 * copies it (src/VBox/Main/include/ovfreader.h, enum CIMOSType_T,
 * "covers up to CIM 2.52.0"): 80 Red Hat Enterprise Linux 64-Bit, 94
 * Ubuntu 64-Bit, 96 Debian 64-Bit, 101 Linux 64-Bit, 102 Other 64-Bit,
 * 118 Microsoft Windows Server 2016, 120 Microsoft Windows 10 64-Bit.
 * That map has no value for Windows Server 2019/2022 or Windows 11:
 * they get their NT 10.0 family's value (118, 120); the exact OS is in
 * vmw:osType.  OVF exports of Debian 12 VMs carry ovf:id="96" with
 * debian12_64Guest, as here.
 *
 * vmw_os_type: VMware's guestId (vSphere API VirtualMachineGuestOsIdentifier):
 * "other4xLinux64Guest" is the example of appliance-targets.md §2.2;
 * Windows 10 is "windows9_64Guest" and Windows Server 2022
 * "windows2019srvNext_64Guest" in VMware's own naming.  An ESXi older
 * than the guestId falls back to a generic OS, which still boots.
 *
 * xen_template: the XenServer/XCP-ng 8 template name recorded as
 * other_config:base_template_name (appliance-targets.md §5.5 uses
 * "Other install media" for anything without its own template).  xapi
 * does not need the template to exist to import the VM.
 */
static const struct xd_guest_os guest_oses[] = {
  { "other64", 102, "otherGuest64", "Other install media", false },
  { "linux64", 101, "other4xLinux64Guest", "Other install media", false },
  { "debian12-64", 96, "debian12_64Guest", "Debian Bookworm 12", false },
  { "debian11-64", 96, "debian11_64Guest", "Debian Bullseye 11", false },
  { "rhel9-64", 80, "rhel9_64Guest", "Red Hat Enterprise Linux 9", false },
  { "rhel8-64", 80, "rhel8_64Guest", "Red Hat Enterprise Linux 8", false },
  { "ubuntu64", 94, "ubuntu64Guest", "Other install media", false },
  { "windows2019srv-64", 118, "windows2019srv_64Guest",
    "Windows Server 2019 (64-bit)", true },
  { "windows2022srv-64", 118, "windows2019srvNext_64Guest",
    "Windows Server 2022 (64-bit)", true },
  { "windows10-64", 120, "windows9_64Guest", "Windows 10 (64-bit)", true },
  { "windows11-64", 120, "windows11_64Guest", "Windows 11", true },
};
#define NR_GUEST_OSES (sizeof guest_oses / sizeof guest_oses[0])

const struct xd_guest_os *
xd_guest_os_by_name (const char *name)
{
  size_t i;

  for (i = 0; i < NR_GUEST_OSES; i++)
    if (strcmp (guest_oses[i].name, name) == 0)
      return &guest_oses[i];
  return NULL;
}

const char *
xd_guest_os_names (void)
{
  return "other64, linux64, debian12-64, debian11-64, rhel9-64, rhel8-64, "
         "ubuntu64, windows2019srv-64, windows2022srv-64, windows10-64, "
         "windows11-64";
}

/* The hardware versions accepted: vmx-07 (ESX 4.0) to vmx-22 (ESXi
 * 9.0); every vSphere and Workstation of the last decade (ESXi 6.5 and
 * later, Workstation 12 and later) can run vmx-07 to vmx-13, and the
 * newer ones are for users who know their hosts (appliance-targets.md
 * §2.2 VirtualSystemType: ESXi 6.0 stops at vmx-11, 7.0.3 refuses
 * vmx-20).  The default, vmx-13 (ESXi 6.5), is in the range §2.2
 * recommends (vmx-11 to vmx-14).
 */
#define HWVERSION_MIN 7
#define HWVERSION_MAX 22
#define HWVERSION_DEFAULT 13
/* SATA controllers came with vmx-10 (ESXi 5.5). */
#define HWVERSION_SATA 10

/* Most virtual CPUs: a sanity bound, not any product's.  It is the
 * largest count a legacy xAPIC machine can number (8-bit APIC ids), so
 * a BIOS machine of any importer can address them all; every product
 * caps lower for some hardware versions (VirtualBox 64, ESXi 6.5 128)
 * and says so at import.
 */
#define CPUS_MAX 255
/* Least memory: less does not boot any current OS, and VirtualBox's
 * smallest machine is 4 MiB.
 */
#define MEMORY_MIN (4 * MiB)
/* Most memory: xapi's records hold signed 64-bit numbers. */
#define MEMORY_MAX ((uint64_t) INT64_MAX & ~(MiB - 1))
/* Most disks per controller kind: IDE has two channels of two devices
 * (two controllers in the OVF, as VMware writes them), lsilogic SCSI
 * 16 targets less the controller's own (7), AHCI 30 ports.
 */
#define IDE_MAX_DISKS 4
#define SCSI_MAX_DISKS 15
#define SATA_MAX_DISKS 30

struct choice {
  const char *name;
  int value;
};

/* Look VALUE up in CHOICES (N of them); PARAM names the parameter in
 * the error, which lists ACCEPTED.
 */
static int
pick (const char *path, const char *param, const char *value,
      const struct choice *choices, size_t n, const char *accepted,
      int *out)
{
  size_t i;

  for (i = 0; i < n; i++)
    if (strcasecmp (value, choices[i].name) == 0) {
      *out = choices[i].value;
      return 0;
    }
  xd_error ("%s: %s=%s: not known (accepted: %s)", path, param, value,
            accepted);
  errno = EINVAL;
  return -1;
}

#define PICK(path, param, value, table, accepted, out)                   \
  pick ((path), (param), (value), (table),                               \
        sizeof (table) / sizeof (table)[0], (accepted), (out))

/* The file name of PATH without directory and extension. */
static char *
base_name (const char *path)
{
  const char *slash = strrchr (path, '/');
  const char *start = slash ? slash + 1 : path;
  const char *dot = strrchr (start, '.');
  size_t len = dot && dot != start ? (size_t) (dot - start) : strlen (start);

  return strndup (start, len);
}

/* Whether S is text both descriptors can carry: UTF-8 (no overlong
 * form, no surrogate, nothing past U+10FFFF) without control
 * characters, which XML 1.0 cannot hold even as references.
 */
static bool
xml_text_ok (const char *s)
{
  const unsigned char *p = (const unsigned char *) s;

  while (*p) {
    unsigned c = *p, n, cp, i;
    if (c < 0x20 || c == 0x7f)
      return false;
    if (c < 0x80) {
      p++;
      continue;
    }
    if (c >= 0xc2 && c <= 0xdf)
      n = 1, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
      n = 2, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
      n = 3, cp = c & 0x07;
    else
      return false;
    for (i = 1; i <= n; i++) {
      if ((p[i] & 0xc0) != 0x80)
        return false;
      cp = cp << 6 | (p[i] & 0x3f);
    }
    if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
        (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff ||
        (cp >= 0x80 && cp < 0xa0) || cp == 0xfffe || cp == 0xffff)
      return false;
    p += n + 1;
  }
  return true;
}

static int
check_text (const char *path, const char *param, const char *value)
{
  if (value == NULL)
    return 0;
  if (*value == '\0') {
    xd_error ("%s: %s is empty", path, param);
    errno = EINVAL;
    return -1;
  }
  if (!xml_text_ok (value)) {
    xd_error ("%s: %s: not UTF-8 text without control characters", path,
              param);
    errno = EINVAL;
    return -1;
  }
  return 0;
}

static int
set_strings (struct xd_vmdesc *desc, const struct xd_vm_params *vm,
             const char *path)
{
  const char *network = vm->network ? vm->network : "VM Network";

  if (check_text (path, "create-name=", vm->name) == -1 ||
      check_text (path, "create-network=", vm->network) == -1)
    return -1;
  desc->name = vm->name ? strdup (vm->name) : base_name (path);
  desc->network = strdup (network);
  desc->ovf_template = vm->ovf ? strdup (vm->ovf) : NULL;
  if (desc->name == NULL || desc->network == NULL ||
      (vm->ovf && desc->ovf_template == NULL)) {
    xd_error ("%s: strdup: %m", path);
    return -1;
  }
  if (*desc->name == '\0' || !xml_text_ok (desc->name)) {
    xd_error ("%s: the file name gives no machine name (empty, or not "
              "UTF-8 text): set create-name=", path);
    errno = EINVAL;
    return -1;
  }
  return 0;
}

static int
set_cpus_memory (struct xd_vmdesc *desc, const struct xd_vm_params *vm,
                 const char *path)
{
  desc->cpus = vm->cpus ? vm->cpus : 1;
  if (desc->cpus > CPUS_MAX) {
    xd_error ("%s: create-cpus=%u: at most %u", path, vm->cpus, CPUS_MAX);
    errno = EINVAL;
    return -1;
  }
  desc->memory = vm->memory ? vm->memory : UINT64_C (1) << 30;
  if (desc->memory % MiB != 0 || desc->memory < MEMORY_MIN ||
      desc->memory > MEMORY_MAX) {
    xd_error ("%s: create-memory=%" PRIu64 ": must be a whole number of MiB "
              "from 4M to %" PRIu64 "M", path, desc->memory,
              MEMORY_MAX / MiB);
    errno = EINVAL;
    return -1;
  }
  return 0;
}

/* create-hwversion=: "NN" or "vmx-NN". */
static int
set_hwversion (struct xd_vmdesc *desc, const char *s, const char *path)
{
  const char *digits = s;
  unsigned long v;
  char *end = NULL;

  desc->hwversion = HWVERSION_DEFAULT;
  if (s == NULL)
    return 0;
  if (strncasecmp (s, "vmx-", 4) == 0)
    digits += 4;
  errno = 0;
  v = *digits >= '0' && *digits <= '9' ? strtoul (digits, &end, 10) : 0;
  if (errno || v < HWVERSION_MIN || v > HWVERSION_MAX || *end != '\0') {
    xd_error ("%s: create-hwversion=%s: an appliance takes vmx-NN (or NN) "
              "with NN from %d to %d (default %d)", path, s, HWVERSION_MIN,
              HWVERSION_MAX, HWVERSION_DEFAULT);
    errno = EINVAL;
    return -1;
  }
  desc->hwversion = (unsigned) v;
  return 0;
}

static const struct choice firmwares[] = {
  { "bios", XD_FIRMWARE_BIOS }, { "efi", XD_FIRMWARE_EFI },
  { "uefi", XD_FIRMWARE_EFI },
};
static const struct choice nics[] = {
  { "none", XD_NIC_NONE }, { "e1000", XD_NIC_E1000 },
  { "e1000e", XD_NIC_E1000E }, { "vmxnet3", XD_NIC_VMXNET3 },
};
static const struct choice buses[] = {
  { "scsi", XD_BUS_SCSI }, { "sata", XD_BUS_SATA }, { "ide", XD_BUS_IDE },
};
static const struct choice manifests[] = {
  { "sha256", XD_MANIFEST_SHA256 }, { "sha1", XD_MANIFEST_SHA1 },
  { "none", XD_MANIFEST_NONE },
};
static const struct choice checksums[] = {
  { "sha1", XD_CHUNK_SHA1 }, { "xxhash", XD_CHUNK_XXHASH },
};

/* The parameters that name one of a few values. */
static int
set_choices (struct xd_vmdesc *desc, const struct xd_vm_params *vm,
             const char *path)
{
  int v;

  if (vm->firmware) {
    if (PICK (path, "create-firmware", vm->firmware, firmwares,
              "bios, efi", &v) == -1)
      return -1;
    desc->firmware = v;
  }
  if (vm->nic) {
    if (PICK (path, "create-nic", vm->nic, nics,
              "none, e1000, e1000e, vmxnet3", &v) == -1)
      return -1;
    desc->nic = v;
  }
  if (vm->disk_bus) {
    if (PICK (path, "create-disk-bus", vm->disk_bus, buses,
              "scsi, sata, ide", &v) == -1)
      return -1;
    desc->bus = v;
  }
  if (vm->manifest) {
    if (PICK (path, "create-manifest", vm->manifest, manifests,
              "sha256, sha1, none", &v) == -1)
      return -1;
    desc->manifest = v;
  }
  if (vm->checksum) {
    if (PICK (path, "create-checksum", vm->checksum, checksums,
              "sha1, xxhash", &v) == -1)
      return -1;
    desc->checksum = v;
  }
  return 0;
}

static int
set_os (struct xd_vmdesc *desc, const char *name, const char *path)
{
  desc->os = xd_guest_os_by_name (name ? name : "other64");
  if (desc->os == NULL) {
    xd_error ("%s: create-os=%s: not known (accepted: %s)", path, name,
              xd_guest_os_names ());
    errno = EINVAL;
    return -1;
  }
  return 0;
}

/* Parameters that belong to the other kind of appliance. */
static int
check_kind (const struct xd_vm_params *vm, const char *path,
            const char *kind)
{
  bool ova = strcasecmp (kind, "OVA") == 0;
  const char *wrong = NULL;

  if (vm->manifest && !ova)
    wrong = "create-manifest= (OVA only)";
  else if (vm->ovf && !ova)
    wrong = "create-ovf= (OVA only)";
  else if (vm->checksum && strcasecmp (kind, "XVA") != 0)
    wrong = "create-checksum= (XVA only)";
  if (wrong == NULL)
    return 0;
  xd_error ("%s: %s does not apply to an %s", path, wrong, kind);
  errno = EINVAL;
  return -1;
}

/* The disk sizes: create-size=A,B,... (or create-size=A), each rounded
 * up to a whole MiB.  The OVF records capacities in MiB ("byte * 2^20",
 * appliance-targets.md §2.2: "round the disk up"), and capacity × units
 * must equal the VMDK's size exactly; XVA chunks are 1 MiB (§8).  So
 * an appliance's disks are always whole MiB, and a size that is not
 * grows to the next MiB (create-size=20G and the like already are).
 * With create-ovf= and no create-size=, there are no sizes yet: the
 * template gives them (xd_ovf_template_capacity).
 */
static int
set_sizes (struct xd_vmdesc *desc, const struct xd_create_opts *copts,
           const char *path)
{
  const uint64_t *sizes = copts->nr_sizes ? copts->sizes : &copts->size;
  size_t i, n = copts->nr_sizes ? copts->nr_sizes : copts->size ? 1 : 0;

  if (n == 0) {
    if (copts->vm.ovf)
      return 0;
    xd_error ("%s: an appliance needs create-size=SIZE[,SIZE...]", path);
    errno = EINVAL;
    return -1;
  }
  desc->sizes = calloc (n, sizeof *desc->sizes);
  if (desc->sizes == NULL) {
    xd_error ("%s: calloc: %m", path);
    return -1;
  }
  for (i = 0; i < n; i++) {
    if (sizes[i] == 0 || xd_round_up_overflow (sizes[i], MiB,
                                               &desc->sizes[i])) {
      xd_error ("%s: create-size=: disk %zu: %" PRIu64 " bytes is not a "
                "disk size", path, i + 1, sizes[i]);
      errno = EINVAL;
      return -1;
    }
    if (desc->sizes[i] != sizes[i])
      xd_debug ("%s: disk %zu: %" PRIu64 " bytes rounded up to %" PRIu64
                " (a whole MiB)", path, i + 1, sizes[i], desc->sizes[i]);
  }
  desc->nr_disks = n;
  return 0;
}

/* What the chosen bus and hardware version allow in an OVF (an XVA
 * has no controllers: its writer checks its own device count).
 */
static int
check_bus (const struct xd_vmdesc *desc, const char *path)
{
  static const char *const names[] = { "scsi", "sata", "ide" };
  static const size_t most[] = { SCSI_MAX_DISKS, SATA_MAX_DISKS,
                                 IDE_MAX_DISKS };

  if (desc->nr_disks > most[desc->bus]) {
    xd_error ("%s: create-disk-bus=%s holds at most %zu disks, not %zu",
              path, names[desc->bus], most[desc->bus], desc->nr_disks);
    errno = EINVAL;
    return -1;
  }
  if (desc->bus == XD_BUS_SATA && desc->hwversion < HWVERSION_SATA) {
    xd_error ("%s: create-disk-bus=sata needs create-hwversion=vmx-%d or "
              "later", path, HWVERSION_SATA);
    errno = EINVAL;
    return -1;
  }
  return 0;
}

int
xd_vmdesc_init (struct xd_vmdesc *desc, const struct xd_create_opts *copts,
                const char *path, const char *kind)
{
  const struct xd_vm_params *vm = &copts->vm;

  memset (desc, 0, sizeof *desc);
  desc->firmware = XD_FIRMWARE_BIOS;
  desc->nic = XD_NIC_E1000;
  desc->bus = XD_BUS_SCSI;
  desc->manifest = XD_MANIFEST_SHA256;
  desc->checksum = XD_CHUNK_SHA1;
  if (check_kind (vm, path, kind) == -1 ||
      set_strings (desc, vm, path) == -1 ||
      set_cpus_memory (desc, vm, path) == -1 ||
      set_hwversion (desc, copts->hwversion, path) == -1 ||
      set_choices (desc, vm, path) == -1 ||
      set_os (desc, vm->os, path) == -1 ||
      set_sizes (desc, copts, path) == -1 ||
      (strcasecmp (kind, "OVA") == 0 && check_bus (desc, path) == -1)) {
    int saved = errno;
    xd_vmdesc_free (desc);
    errno = saved;
    return -1;
  }
  return 0;
}

void
xd_vmdesc_free (struct xd_vmdesc *desc)
{
  free (desc->name);
  free (desc->network);
  free (desc->ovf_template);
  free (desc->sizes);
  memset (desc, 0, sizeof *desc);
}
