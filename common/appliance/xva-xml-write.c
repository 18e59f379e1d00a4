/* xdisk: ova.xml of an XVA being created; see xva-write.h.
 *
 * An XML-RPC value (../shared/docs/appliance-targets.md §5.4): a struct
 * with the export's "version" and the "objects" array, each object
 * {class, id, snapshot}.  Every record carries the full field set of
 * §5.5, so that import never stops at a field an older xapi has no
 * default for.  The objects: one VDI and one VBD per disk, the VM, an
 * SR (only its content_type matters on import), and a network and its
 * VIF unless create-nic=none.
 *
 * Ids are "Ref:NNN" of one width: VDIs 0 .. n-1, VBDs n .. 2n-1, then
 * the VM, the SR, the network and the VIF, so that the VDIs' chunk
 * directories sort in disk order (§5.1).
 */

#include <config.h>

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "appliance/xd-vmdesc.h"
#include "appliance/xva-write.h"
#include "archive/xd-xml-write.h"
#include "core/xd-guid.h"
#include "include/xd-report.h"

/* The objects beyond the disks' VDIs and VBDs. */
enum { OBJ_VM, OBJ_SR, OBJ_NETWORK, OBJ_VIF, OBJ_EXTRA };
_Static_assert (2 * XD_XVA_MAX_DISKS + OBJ_EXTRA < 1000,
                "the ids of ova.xml's objects fit \"Ref:NNN\"");

#define NULL_REF "OpaqueRef:NULL"
#define EPOCH "19700101T00:00:00Z"

/* Ids stay below 1000 (at most 2 * XD_XVA_MAX_DISKS + OBJ_EXTRA
 * objects): the modulo only tells the compiler that "Ref:NNN" fits.
 */
static void
ref_of (size_t id, char ref[XD_XVA_REF_SIZE])
{
  snprintf (ref, XD_XVA_REF_SIZE, "Ref:%03u", (unsigned) (id % 1000));
}

void
xd_xva_vdi_ref (size_t i, char ref[XD_XVA_REF_SIZE])
{
  ref_of (i, ref);
}

/* What the records of one export need: every id and uuid. */
struct xml_ctx {
  FILE *fp;
  const struct xd_vmdesc *vm;
  const uint64_t *sizes;
  size_t n;                             /* disks */
  char (*uuids)[XD_GUID_TEXT];          /* per id, and the MAC seed */
};

static char *
uuid_of (struct xml_ctx *c, size_t id)
{
  return c->uuids[id];
}

static size_t
vdi_id (size_t i)
{
  return i;
}

static size_t
vbd_id (const struct xml_ctx *c, size_t i)
{
  return c->n + i;
}

static size_t
extra_id (const struct xml_ctx *c, int which)
{
  return 2 * c->n + which;
}

/* ---- XML-RPC values ---- */

/* A member whose value is the string S (bare, as xapi writes them). */
static void
m_str (FILE *fp, const char *name, const char *s)
{
  fprintf (fp, "<member><name>%s</name><value>", name);
  xd_xml_put_escaped (fp, s);
  fputs ("</value></member>", fp);
}

static void
m_int (FILE *fp, const char *name, int64_t v)
{
  fprintf (fp, "<member><name>%s</name><value>%" PRId64 "</value></member>",
           name, v);
}

static void
m_bool (FILE *fp, const char *name, bool v)
{
  fprintf (fp, "<member><name>%s</name><value><boolean>%d</boolean></value>"
           "</member>", name, v);
}

/* A date: the epoch, for the never-taken snapshot of a new VM. */
static void
m_epoch (FILE *fp, const char *name)
{
  fprintf (fp, "<member><name>%s</name><value><dateTime.iso8601>" EPOCH
           "</dateTime.iso8601></value></member>", name);
}

/* A set of refs: REFS[0 .. N-1]. */
static void
m_refs (FILE *fp, const char *name, const size_t *ids, size_t n)
{
  char ref[XD_XVA_REF_SIZE];
  size_t i;

  fprintf (fp, "<member><name>%s</name><value><array><data>", name);
  for (i = 0; i < n; i++) {
    ref_of (ids[i], ref);
    fprintf (fp, "<value>%s</value>", ref);
  }
  fputs ("</data></array></value></member>", fp);
}

static void
m_ref (FILE *fp, const char *name, size_t id)
{
  char ref[XD_XVA_REF_SIZE];

  ref_of (id, ref);
  m_str (fp, name, ref);
}

/* A map of strings: KV holds key, value, ..., NULL. */
static void
m_map (FILE *fp, const char *name, const char *const *kv)
{
  fprintf (fp, "<member><name>%s</name><value><struct>", name);
  for (; kv[0]; kv += 2)
    m_str (fp, kv[0], kv[1]);
  fputs ("</struct></value></member>", fp);
}

/* Fields that take one constant each, NULL-terminated lists. */
static void
m_each (FILE *fp, const char *const *names, const char *fmt)
{
  for (; *names; names++)
    fprintf (fp, fmt, *names);
}

#define EMPTY_SETS(fp, ...) m_each (fp, (const char *const []) \
  { __VA_ARGS__, NULL }, \
  "<member><name>%s</name><value><array><data></data></array></value>" \
  "</member>")
#define EMPTY_MAPS(fp, ...) m_each (fp, (const char *const []) \
  { __VA_ARGS__, NULL }, \
  "<member><name>%s</name><value><struct></struct></value></member>")
#define NULL_REFS(fp, ...) m_each (fp, (const char *const []) \
  { __VA_ARGS__, NULL }, \
  "<member><name>%s</name><value>" NULL_REF "</value></member>")
#define EMPTY_STRINGS(fp, ...) m_each (fp, (const char *const []) \
  { __VA_ARGS__, NULL }, \
  "<member><name>%s</name><value></value></member>")
#define FALSES(fp, ...) m_each (fp, (const char *const []) \
  { __VA_ARGS__, NULL }, \
  "<member><name>%s</name><value><boolean>0</boolean></value></member>")

static void
begin_object (struct xml_ctx *c, const char *cls, size_t id)
{
  fputs ("<value><struct>", c->fp);
  m_str (c->fp, "class", cls);
  m_ref (c->fp, "id", id);
  fputs ("<member><name>snapshot</name><value><struct>", c->fp);
  m_str (c->fp, "uuid", uuid_of (c, id));
}

static void
end_object (struct xml_ctx *c)
{
  fputs ("</struct></value></member></struct></value>\n", c->fp);
}

/* ---- the records ---- */

static void
put_vdi (struct xml_ctx *c, size_t i)
{
  FILE *fp = c->fp;
  char *label = NULL;

  begin_object (c, "VDI", vdi_id (i));
  if (asprintf (&label, "%s-disk%zu", c->vm->name, i) == -1)
    label = NULL;
  m_str (fp, "name_label", label ? label : c->vm->name);
  free (label);
  m_str (fp, "name_description", "Created by xdisk");
  m_ref (fp, "SR", extra_id (c, OBJ_SR));
  m_int (fp, "virtual_size", (int64_t) c->sizes[i]);
  m_int (fp, "physical_utilisation", (int64_t) c->sizes[i]);
  m_str (fp, "type", "user");
  FALSES (fp, "sharable", "read_only", "storage_lock", "missing",
          "is_a_snapshot", "allow_caching", "cbt_enabled");
  m_bool (fp, "managed", true);
  m_str (fp, "on_boot", "persist");
  m_str (fp, "location", uuid_of (c, vdi_id (i)));
  m_epoch (fp, "snapshot_time");
  NULL_REFS (fp, "parent", "snapshot_of", "metrics");
  m_refs (fp, "VBDs", (size_t []) { vbd_id (c, i) }, 1);
  EMPTY_SETS (fp, "snapshots", "tags", "crash_dumps", "allowed_operations");
  EMPTY_MAPS (fp, "other_config", "xenstore_data", "sm_config",
              "current_operations");
  end_object (c);
}

static void
put_vbd (struct xml_ctx *c, size_t i)
{
  FILE *fp = c->fp;

  begin_object (c, "VBD", vbd_id (c, i));
  m_ref (fp, "VM", extra_id (c, OBJ_VM));
  m_ref (fp, "VDI", vdi_id (i));
  m_int (fp, "userdevice", (int64_t) i);   /* the boot disk is 0 (§5.5) */
  EMPTY_STRINGS (fp, "device", "status_detail", "qos_algorithm_type");
  m_bool (fp, "bootable", i == 0);
  m_str (fp, "mode", "RW");
  m_str (fp, "type", "Disk");
  FALSES (fp, "empty", "unpluggable", "storage_lock", "currently_attached");
  m_int (fp, "status_code", 0);
  NULL_REFS (fp, "metrics");
  EMPTY_SETS (fp, "allowed_operations", "qos_supported_algorithms");
  EMPTY_MAPS (fp, "current_operations", "other_config",
              "qos_algorithm_params", "runtime_properties");
  end_object (c);
}

/* Platform flags: XenServer's HVM defaults; Viridian (Hyper-V
 * enlightenments) for Windows only, as XenServer's own templates do.
 */
static void
put_platform (struct xml_ctx *c)
{
  static const char *const others[] = {
    "timeoffset", "0", "device-model", "qemu-upstream-compat",
    "secureboot", "false", "hpet", "true", "nx", "true", "pae", "true",
    "apic", "true", "acpi", "1", "viridian", "false", NULL
  };
  static const char *const windows[] = {
    "timeoffset", "0", "device-model", "qemu-upstream-compat",
    "secureboot", "false", "hpet", "true", "nx", "true", "pae", "true",
    "apic", "true", "acpi", "1", "viridian", "true",
    "viridian_time_ref_count", "true", "viridian_reference_tsc", "true",
    NULL
  };

  m_map (c->fp, "platform", c->vm->os->windows ? windows : others);
}

static void
put_vm (struct xml_ctx *c)
{
  FILE *fp = c->fp;
  const struct xd_vmdesc *vm = c->vm;
  size_t vbds[XD_XVA_MAX_DISKS], vif = extra_id (c, OBJ_VIF), i;
  int64_t mem = (int64_t) vm->memory;

  begin_object (c, "VM", extra_id (c, OBJ_VM));
  m_str (fp, "name_label", vm->name);
  m_str (fp, "name_description", "Created by xdisk");
  m_str (fp, "power_state", "Halted");
  m_int (fp, "user_version", 1);
  FALSES (fp, "is_a_template", "is_default_template", "is_control_domain",
          "is_a_snapshot", "is_snapshot_from_vmpp", "is_vmss_snapshot",
          "ha_always_run", "has_vendor_device", "requires_reboot");
  /* "parent" present, even null: without it xapi takes the VM for one
   * exported before dynamic memory control and resets its memory (§5.5).
   */
  NULL_REFS (fp, "snapshot_of", "parent", "suspend_VDI", "suspend_SR",
             "metrics", "guest_metrics", "resident_on", "affinity",
             "scheduled_to_be_resident_on", "protection_policy",
             "snapshot_schedule", "appliance");
  m_epoch (fp, "snapshot_time");
  EMPTY_SETS (fp, "snapshots", "children", "tags", "consoles",
              "crash_dumps", "VGPUs", "VTPMs", "VUSBs", "attached_PCIs",
              "allowed_operations");
  for (i = 0; i < c->n; i++)
    vbds[i] = vbd_id (c, i);
  m_refs (fp, "VBDs", vbds, c->n);
  m_refs (fp, "VIFs", &vif, vm->nic == XD_NIC_NONE ? 0 : 1);
  EMPTY_MAPS (fp, "current_operations", "blocked_operations", "blobs",
              "snapshot_info", "VCPUs_params", "xenstore_data",
              "last_boot_CPU_flags", "NVRAM", "bios_strings");
  /* Static and dynamic limits equal: no ballooning to go wrong. */
  m_int (fp, "memory_static_min", mem);
  m_int (fp, "memory_dynamic_min", mem);
  m_int (fp, "memory_dynamic_max", mem);
  m_int (fp, "memory_static_max", mem);
  m_int (fp, "memory_target", 0);
  m_int (fp, "memory_overhead", 11534336);
  m_int (fp, "VCPUs_max", vm->cpus);
  m_int (fp, "VCPUs_at_startup", vm->cpus);
  m_str (fp, "actions_after_shutdown", "destroy");
  m_str (fp, "actions_after_reboot", "restart");
  m_str (fp, "actions_after_crash", "restart");
  m_str (fp, "domain_type", "hvm");
  m_str (fp, "HVM_boot_policy", "BIOS order");
  m_map (fp, "HVM_boot_params", (const char *const []) {
      "order", "dcn",
      "firmware", vm->firmware == XD_FIRMWARE_EFI ? "uefi" : "bios", NULL });
  m_int (fp, "HVM_shadow_multiplier", 1);
  put_platform (c);
  EMPTY_STRINGS (fp, "PV_args", "PV_bootloader", "PV_bootloader_args",
                 "PV_kernel", "PV_ramdisk", "PV_legacy_args", "PCI_bus",
                 "domarch", "generation_id", "last_booted_record",
                 "recommendations", "snapshot_metadata",
                 "transportable_snapshot_id", "ha_restart_priority");
  m_int (fp, "domid", -1);
  m_int (fp, "hardware_platform_version", 0);
  m_int (fp, "order", 0);
  m_int (fp, "shutdown_delay", 0);
  m_int (fp, "start_delay", 0);
  m_int (fp, "version", 0);
  m_str (fp, "reference_label", "other-install-media");
  m_map (fp, "other_config", (const char *const []) {
      "base_template_name", vm->os->xen_template,
      "install-methods", "cdrom",
      "mac_seed", uuid_of (c, extra_id (c, OBJ_EXTRA)), NULL });
  end_object (c);
}

static void
put_sr (struct xml_ctx *c)
{
  FILE *fp = c->fp;
  size_t vdis[XD_XVA_MAX_DISKS], i;

  begin_object (c, "SR", extra_id (c, OBJ_SR));
  m_str (fp, "name_label", "xdisk export");
  m_str (fp, "name_description", "The storage of the exported disks");
  for (i = 0; i < c->n; i++)
    vdis[i] = vdi_id (i);
  m_refs (fp, "VDIs", vdis, c->n);
  EMPTY_SETS (fp, "allowed_operations", "PBDs", "tags");
  EMPTY_MAPS (fp, "current_operations", "other_config", "sm_config",
              "blobs");
  m_int (fp, "virtual_allocation", 0);
  m_int (fp, "physical_utilisation", 0);
  m_int (fp, "physical_size", 0);
  m_str (fp, "type", "lvm");
  m_str (fp, "content_type", "user");        /* not "iso": streamed */
  m_bool (fp, "shared", false);
  end_object (c);
}

static void
put_network (struct xml_ctx *c)
{
  FILE *fp = c->fp;
  size_t vif = extra_id (c, OBJ_VIF);

  /* Matched to a host's network by name_label, then by bridge. */
  begin_object (c, "network", extra_id (c, OBJ_NETWORK));
  m_str (fp, "name_label", c->vm->network);
  m_str (fp, "name_description", "");
  m_str (fp, "bridge", "xenbr0");
  m_int (fp, "MTU", 1500);
  m_refs (fp, "VIFs", &vif, 1);
  EMPTY_SETS (fp, "PIFs", "allowed_operations", "tags");
  EMPTY_MAPS (fp, "current_operations", "other_config", "blobs");
  end_object (c);
}

static void
put_vif (struct xml_ctx *c)
{
  FILE *fp = c->fp;

  begin_object (c, "VIF", extra_id (c, OBJ_VIF));
  m_ref (fp, "VM", extra_id (c, OBJ_VM));
  m_ref (fp, "network", extra_id (c, OBJ_NETWORK));
  m_str (fp, "device", "0");
  m_str (fp, "MAC", "");                 /* regenerated on import */
  m_bool (fp, "MAC_autogenerated", true);
  m_int (fp, "MTU", 1500);
  m_str (fp, "locking_mode", "network_default");
  EMPTY_SETS (fp, "ipv4_allowed", "ipv6_allowed", "ipv4_addresses",
              "ipv6_addresses", "allowed_operations",
              "qos_supported_algorithms");
  m_str (fp, "ipv4_configuration_mode", "None");
  m_str (fp, "ipv6_configuration_mode", "None");
  EMPTY_STRINGS (fp, "ipv4_gateway", "ipv6_gateway", "status_detail",
                 "qos_algorithm_type");
  m_bool (fp, "currently_attached", false);
  m_int (fp, "status_code", 0);
  NULL_REFS (fp, "metrics");
  EMPTY_MAPS (fp, "current_operations", "other_config",
              "qos_algorithm_params", "runtime_properties");
  end_object (c);
}

/* The version header: export_vsn 2 (inline checksums, no table at the
 * end) and a low xapi version, which every host takes for one not newer
 * than itself (§5.3; Xen Orchestra writes 1.20).
 */
static void
put_version (FILE *fp)
{
  char date[16];
  time_t now = time (NULL);
  struct tm tm;

  gmtime_r (&now, &tm);
  strftime (date, sizeof date, "%Y-%m-%d", &tm);
  fputs ("<member><name>version</name><value><struct>", fp);
  m_str (fp, "hostname", "xdisk");
  m_str (fp, "date", date);
  m_str (fp, "product_version", PACKAGE_VERSION);
  m_str (fp, "product_brand", "xdisk");
  m_str (fp, "build_number", PACKAGE_VERSION);
  m_int (fp, "xapi_major", 1);
  m_int (fp, "xapi_minor", 20);
  m_int (fp, "export_vsn", 2);
  fputs ("</struct></value></member>\n", fp);
}

static int
make_uuids (struct xml_ctx *c, size_t count)
{
  uint8_t g[16];
  size_t i;

  for (i = 0; i < count; i++) {
    if (xd_guid_generate (g) == -1)
      return -1;
    xd_guid_format (g, c->uuids[i]);
  }
  return 0;
}

char *
xd_xva_make_ova_xml (const struct xd_vmdesc *vm, const uint64_t *sizes,
                     const char *file, size_t *len)
{
  struct xml_ctx c = { .vm = vm, .sizes = sizes, .n = vm->nr_disks };
  size_t ids = 2 * c.n + OBJ_EXTRA + 1, i;  /* + 1: the MAC seed */
  char *text = NULL;

  if (c.n == 0 || c.n > XD_XVA_MAX_DISKS) {
    xd_error ("%s: an XVA holds 1 to %d disks (asked %zu)", file,
              XD_XVA_MAX_DISKS, c.n);
    return NULL;
  }
  c.uuids = calloc (ids, sizeof *c.uuids);
  if (c.uuids == NULL || make_uuids (&c, ids) == -1 ||
      (c.fp = open_memstream (&text, len)) == NULL) {
    xd_error ("%s: out of memory for ova.xml", file);
    free (c.uuids);
    return NULL;
  }
  fputs ("<value><struct>", c.fp);
  put_version (c.fp);
  fputs ("<member><name>objects</name><value><array><data>\n", c.fp);
  for (i = 0; i < c.n; i++)
    put_vdi (&c, i);
  for (i = 0; i < c.n; i++)
    put_vbd (&c, i);
  put_vm (&c);
  put_sr (&c);
  if (vm->nic != XD_NIC_NONE) {
    put_network (&c);
    put_vif (&c);
  }
  fputs ("</data></array></value></member></struct></value>\n", c.fp);
  free (c.uuids);
  if (fclose (c.fp) != 0 || text == NULL) {
    xd_error ("%s: out of memory for ova.xml", file);
    free (text);
    return NULL;
  }
  return text;
}
