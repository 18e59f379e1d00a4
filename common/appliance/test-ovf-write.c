/* Unit tests for the machine description (vmdesc.c), the OVF
 * descriptor writer (ovf-write.c) and the create-ovf= template filler
 * (ovf-template.c).  Renderings are read back with the project's own
 * OVF reader (xd_ovf_parse) and the XML tree reader, and reparsed by
 * expat with namespace processing (which refuses an undeclared
 * prefix).
 *
 * "test-ovf-write --dump DIR" writes a set of renderings into DIR for
 * tests/test-ovf-check.sh, which checks them with tests/ovf-check.py.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <expat.h>

#include "appliance/ova.h"
#include "appliance/xd-ovf-write.h"
#include "appliance/xd-vmdesc.h"
#include "archive/xd-xml.h"
#include "unittest/xd-test.h"

#define MiB (UINT64_C (1) << 20)
#define GiB (UINT64_C (1) << 30)

static const uint64_t default_sizes[] = { 20 * GiB, 100 * GiB, 1 * GiB,
                                          3 * MiB, 7 * MiB };

static void
opts_init (struct xd_create_opts *c, size_t nr_sizes)
{
  memset (c, 0, sizeof *c);
  c->size = default_sizes[0];
  c->sizes = nr_sizes ? default_sizes : NULL;
  c->nr_sizes = nr_sizes;
}

static void
desc_ok (struct xd_vmdesc *d, const struct xd_create_opts *c,
         const char *kind)
{
  ck_assert_msg (xd_vmdesc_init (d, c, "/tmp/dir/my.app.ova", kind) == 0,
                 "vmdesc_init: %s", last_error);
}

/* ---- the machine description ---- */

START_TEST (test_vmdesc_defaults)
{
  struct xd_create_opts c;
  struct xd_vmdesc d;

  opts_init (&c, 0);
  c.size = 1000000;             /* not a whole MiB: rounded up */
  desc_ok (&d, &c, "OVA");
  ck_assert_str_eq (d.name, "my.app");
  ck_assert_uint_eq (d.cpus, 1);
  ck_assert_uint_eq (d.memory, GiB);
  ck_assert_int_eq (d.firmware, XD_FIRMWARE_BIOS);
  ck_assert_str_eq (d.os->name, "other64");
  ck_assert_uint_eq (d.os->cim_id, 102);
  ck_assert_int_eq (d.nic, XD_NIC_E1000);
  ck_assert_str_eq (d.network, "VM Network");
  ck_assert_int_eq (d.bus, XD_BUS_SCSI);
  ck_assert_uint_eq (d.hwversion, 13);
  ck_assert_int_eq (d.manifest, XD_MANIFEST_SHA256);
  ck_assert_int_eq (d.checksum, XD_CHUNK_SHA1);
  ck_assert_ptr_null (d.ovf_template);
  ck_assert_uint_eq (d.nr_disks, 1);
  ck_assert_uint_eq (d.sizes[0], MiB);
  xd_vmdesc_free (&d);

  /* Every parameter given. */
  opts_init (&c, 3);
  c.hwversion = "vmx-19";
  c.vm.name = "web \xc3\xa9\xe2\x82\xac\xf0\x9f\x92\xbe";
  c.vm.cpus = 4;
  c.vm.memory = 2 * GiB;
  c.vm.firmware = "efi";
  c.vm.os = "debian12-64";
  c.vm.nic = "vmxnet3";
  c.vm.network = "LAN";
  c.vm.disk_bus = "sata";
  c.vm.manifest = "sha1";
  desc_ok (&d, &c, "OVA");
  ck_assert_str_eq (d.name, "web \xc3\xa9\xe2\x82\xac\xf0\x9f\x92\xbe");
  ck_assert_uint_eq (d.cpus, 4);
  ck_assert_uint_eq (d.memory, 2 * GiB);
  ck_assert_int_eq (d.firmware, XD_FIRMWARE_EFI);
  ck_assert_str_eq (d.os->vmw_os_type, "debian12_64Guest");
  ck_assert_int_eq (d.nic, XD_NIC_VMXNET3);
  ck_assert_str_eq (d.network, "LAN");
  ck_assert_int_eq (d.bus, XD_BUS_SATA);
  ck_assert_uint_eq (d.hwversion, 19);
  ck_assert_int_eq (d.manifest, XD_MANIFEST_SHA1);
  ck_assert_uint_eq (d.nr_disks, 3);
  ck_assert_uint_eq (d.sizes[1], 100 * GiB);
  xd_vmdesc_free (&d);

  /* XVA: create-checksum=; "NN" hardware versions. */
  opts_init (&c, 0);
  c.vm.checksum = "xxhash";
  c.hwversion = "11";
  desc_ok (&d, &c, "XVA");
  ck_assert_int_eq (d.checksum, XD_CHUNK_XXHASH);
  ck_assert_uint_eq (d.hwversion, 11);
  xd_vmdesc_free (&d);

  /* create-ovf= without sizes: the template gives them. */
  opts_init (&c, 0);
  c.size = 0;
  c.vm.ovf = "/tmp/t.ovf";
  desc_ok (&d, &c, "OVA");
  ck_assert_uint_eq (d.nr_disks, 0);
  ck_assert_str_eq (d.ovf_template, "/tmp/t.ovf");
  xd_vmdesc_free (&d);

  /* Every guest OS has every id. */
  {
    const char *names = xd_guest_os_names ();
    char *copy = strdup (names), *save = NULL, *tok;
    size_t n = 0;
    for (tok = strtok_r (copy, ", ", &save); tok;
         tok = strtok_r (NULL, ", ", &save), n++) {
      const struct xd_guest_os *os = xd_guest_os_by_name (tok);
      ck_assert_msg (os != NULL, "%s", tok);
      ck_assert_uint_gt (os->cim_id, 0);
      ck_assert_ptr_nonnull (strstr (os->vmw_os_type, "Guest"));
      ck_assert_uint_gt (strlen (os->xen_template), 0);
      ck_assert_int_eq (os->windows, strncmp (tok, "windows", 7) == 0);
    }
    ck_assert_uint_ge (n, 11);
    free (copy);
  }
}
END_TEST

/* One refusal: MUTATE changes the default options. */
struct refusal {
  const char *what;
  const char *kind;
  const char *word;             /* in the message */
};

static void
refused (struct xd_create_opts *c, const struct refusal *r)
{
  struct xd_vmdesc d;

  memset (&d, 0xa5, sizeof d);
  ck_fails_with (xd_vmdesc_init (&d, c, "/tmp/dir/my.app.ova", r->kind),
                 EINVAL, r->word);
  ck_error_has ("my.app.ova");
  /* Nothing is left to free. */
  ck_assert_ptr_null (d.name);
  ck_assert_ptr_null (d.sizes);
}

START_TEST (test_vmdesc_refusals)
{
  static const uint64_t five[] = { GiB, GiB, GiB, GiB, GiB };
  static const uint64_t zero_second[] = { GiB, 0 };
  static const uint64_t huge[] = { UINT64_MAX };
  struct xd_create_opts c;

#define REFUSE(field, value, kind, word) do {                           \
    opts_init (&c, 0);                                                  \
    c.field = value;                                                    \
    refused (&c, &(struct refusal) { #field, kind, word });            \
  } while (0)

  REFUSE (vm.cpus, 256, "OVA", "create-cpus=256");
  REFUSE (vm.memory, 3 * MiB, "OVA", "create-memory");
  REFUSE (vm.memory, 5 * MiB + 1, "OVA", "whole number of MiB");
  REFUSE (vm.memory, UINT64_MAX & ~(MiB - 1), "OVA", "create-memory");
  REFUSE (hwversion, "vmx-6", "OVA", "from 7 to 22");
  REFUSE (hwversion, "23", "OVA", "create-hwversion=23");
  REFUSE (hwversion, "vmx-", "OVA", "create-hwversion");
  REFUSE (hwversion, "13x", "OVA", "create-hwversion");
  REFUSE (hwversion, "-13", "OVA", "create-hwversion");
  REFUSE (hwversion, "workstation5", "OVA", "vmx-NN");
  REFUSE (vm.os, "plan9", "OVA", "debian12-64");
  REFUSE (vm.os, "plan9", "XVA", "windows2019srv-64");
  REFUSE (vm.nic, "rtl8139", "OVA", "vmxnet3");
  REFUSE (vm.disk_bus, "nvme", "OVA", "scsi, sata, ide");
  REFUSE (vm.firmware, "coreboot", "OVA", "bios, efi");
  REFUSE (vm.manifest, "md5", "OVA", "sha256, sha1, none");
  REFUSE (vm.checksum, "md5", "XVA", "sha1, xxhash");
  REFUSE (vm.checksum, "sha1", "OVA", "create-checksum= (XVA only)");
  REFUSE (vm.manifest, "sha1", "XVA", "create-manifest= (OVA only)");
  REFUSE (vm.ovf, "/t.ovf", "XVA", "create-ovf= (OVA only)");
  REFUSE (vm.name, "", "OVA", "create-name= is empty");
  REFUSE (vm.network, "", "OVA", "create-network= is empty");
  REFUSE (vm.name, "a\tb", "OVA", "create-name=: not UTF-8");
  REFUSE (vm.name, "a\x7f", "OVA", "control characters");
  REFUSE (vm.name, "caf\xe9", "OVA", "not UTF-8");
  REFUSE (vm.name, "\xc0\xaf", "OVA", "not UTF-8");        /* overlong */
  REFUSE (vm.name, "\xed\xa0\x80", "XVA", "not UTF-8");   /* surrogate */
  REFUSE (vm.name, "\xf4\x90\x80\x80", "OVA", "not UTF-8");
  REFUSE (vm.name, "\xe2\x82", "OVA", "not UTF-8");        /* cut short */
  REFUSE (vm.name, "\xef\xbf\xbf", "OVA", "not UTF-8");    /* U+FFFF */
  REFUSE (vm.network, "lan\n", "OVA", "create-network=");
  REFUSE (size, 0, "OVA", "create-size=");
  opts_init (&c, 0);
  c.sizes = huge;
  c.nr_sizes = 1;
  refused (&c, &(struct refusal) { "huge", "OVA", "not a disk size" });

  /* IDE: two channels of two. */
  opts_init (&c, 0);
  c.sizes = five;
  c.nr_sizes = 5;
  c.vm.disk_bus = "ide";
  refused (&c, &(struct refusal) { "ide", "OVA", "at most 4 disks" });
  c.nr_sizes = 4;
  {
    struct xd_vmdesc d;
    desc_ok (&d, &c, "OVA");
    xd_vmdesc_free (&d);
  }
  /* A zero size among several. */
  opts_init (&c, 0);
  c.sizes = zero_second;
  c.nr_sizes = 2;
  refused (&c, &(struct refusal) { "size", "OVA", "disk 2" });
  /* An XVA has no controllers to fill. */
  opts_init (&c, 0);
  c.sizes = five;
  c.nr_sizes = 5;
  c.vm.disk_bus = "ide";
  {
    struct xd_vmdesc d;
    desc_ok (&d, &c, "XVA");
    xd_vmdesc_free (&d);
  }
  /* SATA needs vmx-10. */
  opts_init (&c, 0);
  c.vm.disk_bus = "sata";
  c.hwversion = "vmx-09";
  refused (&c, &(struct refusal) { "sata", "OVA", "vmx-10" });
  /* A file name that gives no machine name. */
  opts_init (&c, 0);
  {
    struct xd_vmdesc d;
    ck_fails_with (xd_vmdesc_init (&d, &c, "/tmp/dir/", "OVA"), EINVAL,
                   "create-name=");
  }
#undef REFUSE
}
END_TEST

/* ---- rendering ---- */

/* The disks of DESC with every number set to V (or realistic numbers
 * when V is 0).
 */
static struct xd_ovf_disk_out *
disks_for (const struct xd_vmdesc *desc, uint64_t v)
{
  static char names[16][48];
  struct xd_ovf_disk_out *out = calloc (desc->nr_disks, sizeof *out);
  size_t i;

  ck_assert_ptr_nonnull (out);
  for (i = 0; i < desc->nr_disks; i++) {
    snprintf (names[i % 16], sizeof names[0], "my.app-disk%zu.vmdk", i + 1);
    out[i].href = names[i % 16];
    out[i].capacity = v ? v : desc->sizes[i];
    out[i].file_size = v ? v : 70000 + i;
    out[i].populated = v ? v : 65536 * (i + 1);
  }
  return out;
}

static char *
render (const struct xd_vmdesc *desc, uint64_t v, size_t *len)
{
  struct xd_ovf_disk_out *disks = disks_for (desc, v);
  char *out;

  ck_assert_msg (xd_ovf_render (desc, disks, desc->nr_disks, &out, len)
                 == 0, "render: %s", last_error);
  ck_assert_uint_eq (strlen (out), *len);
  free (disks);
  return out;
}

/* expat with namespaces: fails on an undeclared prefix. */
static void
ck_namespaces (const char *buf, size_t len)
{
  XML_Parser xp = XML_ParserCreateNS (NULL, '|');
  enum XML_Status st = XML_Parse (xp, buf, (int) len, XML_TRUE);

  ck_assert_msg (st == XML_STATUS_OK, "expat (namespaces): line %lu: %s",
                 (unsigned long) XML_GetCurrentLineNumber (xp),
                 XML_ErrorString (XML_GetErrorCode (xp)));
  XML_ParserFree (xp);
}

static const char *
child_text (const struct xd_xml *e, const char *name)
{
  const struct xd_xml *c = xd_xml_child (e, name, NULL);
  return c ? c->text : NULL;
}

/* Every Item: children in strictly ascending code-point order, an
 * ElementName and an InstanceID; count them by ResourceType.
 */
static void
ck_items (const struct xd_xml *root, size_t counts[32])
{
  const struct xd_xml *item = NULL, *c;

  memset (counts, 0, 32 * sizeof counts[0]);
  while ((item = xd_xml_next (root, item, "Item")) != NULL) {
    const char *type = child_text (item, "ResourceType");
    for (c = item->child; c && c->next; c = c->next)
      ck_assert_msg (strcmp (c->name, c->next->name) < 0,
                     "Item: %s before %s", c->name, c->next->name);
    ck_assert_ptr_nonnull (child_text (item, "ElementName"));
    ck_assert_ptr_nonnull (child_text (item, "InstanceID"));
    ck_assert_ptr_nonnull (type);
    ck_assert_int_lt (atoi (type), 32);
    counts[atoi (type)]++;
  }
}

/* The Item whose InstanceID is ID. */
static const struct xd_xml *
item_by_id (const struct xd_xml *root, const char *id)
{
  const struct xd_xml *item = NULL;

  while ((item = xd_xml_next (root, item, "Item")) != NULL)
    if (strcmp (child_text (item, "InstanceID"), id) == 0)
      return item;
  return NULL;
}

/* Each disk Item names a Disk and sits on a controller. */
static void
ck_disk_items (const struct xd_xml *root, const struct xd_vmdesc *desc)
{
  static const char *const types[] = { "6", "20", "5" };
  const struct xd_xml *item = NULL;
  size_t n = 0;
  char want[64];

  while ((item = xd_xml_next (root, item, "Item")) != NULL) {
    const struct xd_xml *parent;
    if (strcmp (child_text (item, "ResourceType"), "17") != 0)
      continue;
    snprintf (want, sizeof want, "ovf:/disk/vmdisk%zu", ++n);
    ck_assert_str_eq (child_text (item, "HostResource"), want);
    ck_assert_ptr_nonnull (child_text (item, "AddressOnParent"));
    parent = item_by_id (root, child_text (item, "Parent"));
    ck_assert_ptr_nonnull (parent);
    ck_assert_str_eq (child_text (parent, "ResourceType"), types[desc->bus]);
  }
  ck_assert_uint_eq (n, desc->nr_disks);
}

/* Read a rendering of DESC back and check it. */
static void
ck_rendering (const struct xd_vmdesc *desc, const char *buf, size_t len)
{
  struct xd_ovf ovf;
  struct xd_xml *root;
  size_t i, counts[32];
  const struct xd_xml *e;

  ck_namespaces (buf, len);
  ck_assert_msg (xd_ovf_parse (buf, len, "test.ovf", &ovf) == 0, "%s",
                 last_error);
  ck_assert_uint_eq (ovf.nfiles, desc->nr_disks);
  ck_assert_uint_eq (ovf.ndisks, desc->nr_disks);
  for (i = 0; i < desc->nr_disks; i++) {
    char href[64];
    snprintf (href, sizeof href, "my.app-disk%zu.vmdk", i + 1);
    ck_assert_str_eq (ovf.files[i].href, href);
    ck_assert (ovf.files[i].has_size);
    ck_assert_uint_eq (ovf.files[i].size, 70000 + i);
    ck_assert (ovf.disks[i].has_capacity);
    ck_assert_uint_eq (ovf.disks[i].capacity, desc->sizes[i]);
    ck_assert_ptr_eq (ovf.disks[i].file, &ovf.files[i]);
  }
  ck_assert_str_eq (ovf.vm_name, desc->name);
  ck_assert_str_eq (ovf.vm_id, desc->name);
  xd_ovf_free (&ovf);

  root = xd_xml_parse (buf, len, "test.ovf");
  ck_assert_ptr_nonnull (root);
  ck_items (root, counts);
  ck_assert_uint_eq (counts[3], 1);
  ck_assert_uint_eq (counts[4], 1);
  ck_assert_uint_eq (counts[17], desc->nr_disks);
  ck_assert_uint_eq (counts[10], desc->nic != XD_NIC_NONE);
  ck_disk_items (root, desc);
  e = item_by_id (root, "2");
  ck_assert_str_eq (child_text (e, "AllocationUnits"), "byte * 2^20");
  ck_assert_uint_eq (strtoull (child_text (e, "VirtualQuantity"), NULL, 10),
                     desc->memory / MiB);
  ck_assert_int_eq (xd_xml_next (root, NULL, "NetworkSection") != NULL,
                    desc->nic != XD_NIC_NONE);
  ck_assert_int_eq (xd_xml_next (root, NULL, "Config") != NULL,
                    desc->firmware == XD_FIRMWARE_EFI);
  e = xd_xml_next (root, NULL, "VirtualSystemType");
  ck_assert_uint_eq (strtoul (e->text + 4, NULL, 10), desc->hwversion);
  xd_xml_free (root);
}

START_TEST (test_render_matrix)
{
  static const char *const buses[] = { "scsi", "sata", "ide" };
  static const char *const nics[] = { "none", "e1000", "e1000e", "vmxnet3" };
  static const char *const firmwares[] = { "bios", "efi" };
  static const size_t nr_disks[] = { 1, 3 };
  size_t b, n, f, k;

  for (b = 0; b < 3; b++)
    for (n = 0; n < 4; n++)
      for (f = 0; f < 2; f++)
        for (k = 0; k < 2; k++) {
          struct xd_create_opts c;
          struct xd_vmdesc d;
          char *out, *again;
          size_t len, len2;

          opts_init (&c, nr_disks[k]);
          c.vm.disk_bus = buses[b];
          c.vm.nic = nics[n];
          c.vm.firmware = firmwares[f];
          desc_ok (&d, &c, "OVA");
          out = render (&d, 0, &len);
          ck_rendering (&d, out, len);
          /* Deterministic. */
          again = render (&d, 0, &len2);
          ck_assert_uint_eq (len, len2);
          ck_assert_mem_eq (out, again, len);
          free (out);
          free (again);
          xd_vmdesc_free (&d);
        }
}
END_TEST

/* What VMware spells, where it must be. */
START_TEST (test_render_spelling)
{
  struct xd_create_opts c;
  struct xd_vmdesc d;
  char *out;
  size_t len;

  opts_init (&c, 0);
  c.vm.nic = "vmxnet3";
  c.vm.firmware = "efi";
  c.vm.os = "windows2019srv-64";
  desc_ok (&d, &c, "OVA");
  out = render (&d, 0, &len);
  ck_assert_ptr_nonnull (strstr (out, "<rasd:ResourceSubType>VmxNet3<"));
  ck_assert_ptr_nonnull (strstr (out, "<rasd:ResourceSubType>lsilogic<"));
  ck_assert_ptr_nonnull (strstr (out, "<rasd:AutomaticAllocation>true<"));
  ck_assert_ptr_nonnull (strstr (out, "<rasd:Connection>VM Network<"));
  ck_assert_ptr_nonnull (strstr (out, "<vmw:Config ovf:required=\"false\" "
                                 "vmw:key=\"firmware\" vmw:value=\"efi\"/>"));
  ck_assert_ptr_nonnull (strstr (out, "ovf:id=\"118\" vmw:osType=\"windows"
                                 "2019srv_64Guest\""));
  ck_assert_ptr_nonnull (strstr (out, "ovf:capacity=\"20480\" "
                                 "ovf:capacityAllocationUnits=\"byte * "
                                 "2^20\""));
  ck_assert_ptr_nonnull (strstr (out, "ovf:format=\"" XD_OVF_STREAM_URI));
  ck_assert_ptr_nonnull (strstr (out, "<vssd:VirtualSystemType>vmx-13<"));
  ck_assert_ptr_null (strstr (out, "envelope/2"));
  /* The vmw:Config comes after the Items (§2.2). */
  ck_assert_ptr_null (strstr (strstr (out, "<vmw:Config"), "<Item>"));
  free (out);
  xd_vmdesc_free (&d);

  /* IDE: disks 3 and 4 on a second controller; SCSI skips target 7. */
  {
    static const uint64_t sizes[9] = { MiB, MiB, MiB, MiB, MiB, MiB, MiB,
                                       MiB, MiB };
    struct xd_xml *root;
    const struct xd_xml *e;

    opts_init (&c, 0);
    c.sizes = sizes;
    c.nr_sizes = 4;
    c.vm.disk_bus = "ide";
    desc_ok (&d, &c, "OVA");
    out = render (&d, 0, &len);
    root = xd_xml_parse (out, len, "t.ovf");
    e = item_by_id (root, "8");           /* disk 4: after 2 controllers */
    ck_assert_str_eq (child_text (e, "HostResource"), "ovf:/disk/vmdisk4");
    ck_assert_str_eq (child_text (e, "Parent"), "4");
    ck_assert_str_eq (child_text (e, "AddressOnParent"), "1");
    xd_xml_free (root);
    free (out);
    xd_vmdesc_free (&d);

    c.nr_sizes = 9;
    c.vm.disk_bus = NULL;
    desc_ok (&d, &c, "OVA");
    out = render (&d, 0, &len);
    root = xd_xml_parse (out, len, "t.ovf");
    e = item_by_id (root, "11");          /* disk 8 */
    ck_assert_str_eq (child_text (e, "HostResource"), "ovf:/disk/vmdisk8");
    ck_assert_str_eq (child_text (e, "AddressOnParent"), "8");
    ck_assert_str_eq (child_text (e, "Parent"), "3");
    xd_xml_free (root);
    free (out);
    xd_vmdesc_free (&d);
  }
}
END_TEST

/* Names and networks with XML's special characters survive. */
START_TEST (test_render_escape)
{
  struct xd_create_opts c;
  struct xd_vmdesc d;
  struct xd_ovf ovf;
  struct xd_xml *root;
  char *out;
  size_t len;

  opts_init (&c, 0);
  c.vm.name = "a<b>&\"c'";
  c.vm.network = "net \"<&>'";
  desc_ok (&d, &c, "OVA");
  out = render (&d, 0, &len);
  ck_namespaces (out, len);
  ck_assert_int_eq (xd_ovf_parse (out, len, "t.ovf", &ovf), 0);
  ck_assert_str_eq (ovf.vm_name, "a<b>&\"c'");
  ck_assert_str_eq (ovf.vm_id, "a<b>&\"c'");
  xd_ovf_free (&ovf);
  root = xd_xml_parse (out, len, "t.ovf");
  ck_assert_str_eq (xd_xml_attr (xd_xml_next (root, NULL, "Network"),
                                 "name"), "net \"<&>'");
  ck_assert_str_eq (xd_xml_next (root, NULL, "Connection")->text,
                    "net \"<&>'");
  xd_xml_free (root);
  free (out);
  xd_vmdesc_free (&d);
}
END_TEST

/* Set the numbers of DISKS (NR of them) for round I: every one at
 * UINT64_MAX but some, so that a field rendered longer than at
 * UINT64_MAX shows even when the others are shorter.  The first rounds
 * put each edge value in each field alone; then random subsets.
 */
static uint64_t number (unsigned *seed, unsigned i);

static void
numbers (struct xd_ovf_disk_out *disks, size_t nr, unsigned *seed,
         unsigned i)
{
  size_t j, nr_edges = 9, field;

  for (j = 0; j < nr; j++)
    disks[j].capacity = disks[j].file_size = disks[j].populated =
      UINT64_MAX;
  if (i < nr_edges * nr * 3) {
    field = i / nr_edges;
    if (field % 3 == 0)
      disks[field / 3].capacity = number (seed, i % nr_edges);
    else if (field % 3 == 1)
      disks[field / 3].file_size = number (seed, i % nr_edges);
    else
      disks[field / 3].populated = number (seed, i % nr_edges);
    return;
  }
  for (j = 0; j < nr; j++) {
    if (rand_r (seed) % 2)
      disks[j].capacity = number (seed, UINT_MAX);
    if (rand_r (seed) % 2)
      disks[j].file_size = number (seed, UINT_MAX);
    if (rand_r (seed) % 2)
      disks[j].populated = number (seed, UINT_MAX);
  }
}

/* Numbers that make renderings of every length up to the most. */
static uint64_t
number (unsigned *seed, unsigned i)
{
  static const uint64_t edges[] = { 0, 1, 511, MiB - 1, MiB, MiB + 1,
                                    999999999999, UINT64_MAX - 1,
                                    UINT64_MAX & ~(MiB - 1) };
  uint64_t v;

  if (i < sizeof edges / sizeof edges[0])
    return edges[i];
  v = ((uint64_t) rand_r (seed) << 33) ^ ((uint64_t) rand_r (seed) << 11) ^
      (uint64_t) rand_r (seed);
  v >>= rand_r (seed) % 64;
  return rand_r (seed) % 2 ? v & ~(MiB - 1) : v;
}

START_TEST (test_render_max_longest)
{
  static const uint64_t sizes[] = { MiB, 2 * MiB, 3 * MiB };
  struct xd_create_opts c;
  struct xd_vmdesc d;
  struct xd_ovf_disk_out *disks;
  unsigned seed = 19, i;
  size_t max_len, len;
  char *out;

  opts_init (&c, 0);
  c.sizes = sizes;
  c.nr_sizes = 3;
  desc_ok (&d, &c, "OVA");
  free (render (&d, UINT64_MAX, &max_len));
  disks = disks_for (&d, 0);
  for (i = 0; i < 2000; i++) {
    numbers (disks, 3, &seed, i);
    ck_assert_int_eq (xd_ovf_render (&d, disks, 3, &out, &len), 0);
    ck_assert_msg (len <= max_len, "%zu > %zu", len, max_len);
    free (out);
  }
  /* The wrong number of disks. */
  ck_fails_with (xd_ovf_render (&d, disks, 2, &out, &len), EINVAL, "2 disks");
  ck_assert_ptr_null (out);
  free (disks);
  xd_vmdesc_free (&d);
}
END_TEST

/* Capacities that are not a whole MiB are still exact. */
START_TEST (test_render_capacity_bytes)
{
  struct xd_create_opts c;
  struct xd_vmdesc d;
  struct xd_ovf_disk_out *disks;
  struct xd_ovf ovf;
  char *out;
  size_t len;

  opts_init (&c, 0);
  desc_ok (&d, &c, "OVA");
  disks = disks_for (&d, 0);
  disks[0].capacity = 1000000 * 512 + 512;
  ck_assert_int_eq (xd_ovf_render (&d, disks, 1, &out, &len), 0);
  ck_assert_ptr_nonnull (strstr (out, "\"byte * 2^0\""));
  ck_assert_int_eq (xd_ovf_parse (out, len, "t.ovf", &ovf), 0);
  ck_assert_uint_eq (ovf.disks[0].capacity, 1000000 * 512 + 512);
  xd_ovf_free (&ovf);
  free (out);
  free (disks);
  xd_vmdesc_free (&d);
}
END_TEST

/* ---- templates ---- */

/* As ovftool exports a VM (ovf: prefixed attributes, default
 * namespace elements, a ProductSection, two disks, an ISO-less CD).
 */
static const char ovftool_ovf[] =
  "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
  "<!--Generated by VMware ovftool 4.4.0, UTC time: 2024-01-01T00:00:00Z-->\n"
  "<Envelope vmw:buildId=\"build-123\" xmlns=\"http://schemas.dmtf.org/ovf/envelope/1\" "
  "xmlns:cim=\"http://schemas.dmtf.org/wbem/wscim/1/common\" "
  "xmlns:ovf=\"http://schemas.dmtf.org/ovf/envelope/1\" "
  "xmlns:rasd=\"http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData\" "
  "xmlns:vmw=\"http://www.vmware.com/schema/ovf\" "
  "xmlns:vssd=\"http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData\" "
  "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\n"
  "  <References>\n"
  "    <File ovf:href=\"old-disk1.vmdk\" ovf:id=\"file1\" ovf:size=\"123\"/>\n"
  "    <File ovf:href=\"old-disk2.vmdk\" ovf:id=\"file2\" ovf:size=\"456\"/>\n"
  "  </References>\n"
  "  <DiskSection>\n"
  "    <Info>Virtual disk information</Info>\n"
  "    <Disk ovf:capacity=\"20\" ovf:capacityAllocationUnits=\"byte * 2^30\" ovf:diskId=\"vmdisk1\" ovf:fileRef=\"file1\" ovf:format=\"http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized\" ovf:populatedSize=\"1\"/>\n"
  "    <Disk ovf:capacity=\"${disk2.size}\" ovf:diskId=\"data\" ovf:fileRef=\"file2\" ovf:format=\"http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized\"></Disk>\n"
  "  </DiskSection>\n"
  "  <NetworkSection>\n"
  "    <Info>The list of logical networks</Info>\n"
  "    <Network ovf:name=\"VM Network\">\n"
  "      <Description>The VM Network network</Description>\n"
  "    </Network>\n"
  "  </NetworkSection>\n"
  "  <VirtualSystem ovf:id=\"appliance\">\n"
  "    <Info>A virtual machine</Info>\n"
  "    <Name>appliance</Name>\n"
  "    <OperatingSystemSection ovf:id=\"96\" vmw:osType=\"debian12_64Guest\">\n"
  "      <Info>The kind of installed guest operating system</Info>\n"
  "    </OperatingSystemSection>\n"
  "    <VirtualHardwareSection>\n"
  "      <Info>Virtual hardware requirements</Info>\n"
  "      <System>\n"
  "        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>\n"
  "        <vssd:InstanceID>0</vssd:InstanceID>\n"
  "        <vssd:VirtualSystemIdentifier>appliance</vssd:VirtualSystemIdentifier>\n"
  "        <vssd:VirtualSystemType>vmx-14</vssd:VirtualSystemType>\n"
  "      </System>\n"
  "      <Item>\n"
  "        <rasd:AllocationUnits>hertz * 10^6</rasd:AllocationUnits>\n"
  "        <rasd:Description>Number of Virtual CPUs</rasd:Description>\n"
  "        <rasd:ElementName>2 virtual CPU(s)</rasd:ElementName>\n"
  "        <rasd:InstanceID>1</rasd:InstanceID>\n"
  "        <rasd:ResourceType>3</rasd:ResourceType>\n"
  "        <rasd:VirtualQuantity>2</rasd:VirtualQuantity>\n"
  "        <vmw:CoresPerSocket ovf:required=\"false\">2</vmw:CoresPerSocket>\n"
  "      </Item>\n"
  "      <Item>\n"
  "        <rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits>\n"
  "        <rasd:Description>Memory Size</rasd:Description>\n"
  "        <rasd:ElementName>2048MB of memory</rasd:ElementName>\n"
  "        <rasd:InstanceID>2</rasd:InstanceID>\n"
  "        <rasd:ResourceType>4</rasd:ResourceType>\n"
  "        <rasd:VirtualQuantity>2048</rasd:VirtualQuantity>\n"
  "      </Item>\n"
  "      <Item>\n"
  "        <rasd:Address>0</rasd:Address>\n"
  "        <rasd:ElementName>SCSI controller 0</rasd:ElementName>\n"
  "        <rasd:InstanceID>3</rasd:InstanceID>\n"
  "        <rasd:ResourceSubType>lsilogic</rasd:ResourceSubType>\n"
  "        <rasd:ResourceType>6</rasd:ResourceType>\n"
  "      </Item>\n"
  "      <Item>\n"
  "        <rasd:AddressOnParent>0</rasd:AddressOnParent>\n"
  "        <rasd:ElementName>Hard disk 1</rasd:ElementName>\n"
  "        <rasd:HostResource>ovf:/disk/vmdisk1</rasd:HostResource>\n"
  "        <rasd:InstanceID>5</rasd:InstanceID>\n"
  "        <rasd:Parent>3</rasd:Parent>\n"
  "        <rasd:ResourceType>17</rasd:ResourceType>\n"
  "      </Item>\n"
  "      <Item>\n"
  "        <rasd:AddressOnParent>1</rasd:AddressOnParent>\n"
  "        <rasd:ElementName>Hard disk 2</rasd:ElementName>\n"
  "        <rasd:HostResource> ovf:/disk/data </rasd:HostResource>\n"
  "        <rasd:InstanceID>6</rasd:InstanceID>\n"
  "        <rasd:Parent>3</rasd:Parent>\n"
  "        <rasd:ResourceType>17</rasd:ResourceType>\n"
  "      </Item>\n"
  "      <vmw:Config ovf:required=\"false\" vmw:key=\"firmware\" vmw:value=\"efi\"/>\n"
  "    </VirtualHardwareSection>\n"
  "    <ProductSection>\n"
  "      <Info>Information about the installed software</Info>\n"
  "      <Product>Appliance &amp; Co</Product>\n"
  "      <Vendor>Example</Vendor>\n"
  "    </ProductSection>\n"
  "  </VirtualSystem>\n"
  "</Envelope>\n";

/* As VirtualBox 7 exports a VM: prefixed vbox attributes, no ovf:size,
 * HostResource "/disk/vmdisk1", a vbox:Machine section.
 */
static const char vbox_ovf[] =
  "<?xml version=\"1.0\"?>\n"
  "<Envelope ovf:version=\"1.0\" xml:lang=\"en-US\" xmlns=\"http://schemas.dmtf.org/ovf/envelope/1\" xmlns:ovf=\"http://schemas.dmtf.org/ovf/envelope/1\" xmlns:rasd=\"http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData\" xmlns:vssd=\"http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns:vbox=\"http://www.virtualbox.org/ovf/machine\">\n"
  "  <References>\n"
  "    <File ovf:id=\"file1\" ovf:href=\"box-disk001.vmdk\"/>\n"
  "  </References>\n"
  "  <DiskSection>\n"
  "    <Info>List of the virtual disks used in the package</Info>\n"
  "    <Disk ovf:capacity=\"10737418240\" ovf:diskId=\"vmdisk1\" ovf:fileRef=\"file1\" ovf:format=\"http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized\" vbox:uuid=\"5c8f1a7e-0000-4000-8000-000000000001\"/>\n"
  "  </DiskSection>\n"
  "  <NetworkSection>\n"
  "    <Info>Logical networks used in the package</Info>\n"
  "    <Network ovf:name=\"NAT\">\n"
  "      <Description>Logical network used by this appliance.</Description>\n"
  "    </Network>\n"
  "  </NetworkSection>\n"
  "  <VirtualSystem ovf:id=\"box\">\n"
  "    <Info>A virtual machine</Info>\n"
  "    <OperatingSystemSection ovf:id=\"96\">\n"
  "      <Info>The kind of installed guest operating system</Info>\n"
  "      <Description>Debian_64</Description>\n"
  "      <vbox:OSType ovf:required=\"false\">Debian_64</vbox:OSType>\n"
  "    </OperatingSystemSection>\n"
  "    <VirtualHardwareSection>\n"
  "      <Info>Virtual hardware requirements for a virtual machine</Info>\n"
  "      <System>\n"
  "        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>\n"
  "        <vssd:InstanceID>0</vssd:InstanceID>\n"
  "        <vssd:VirtualSystemIdentifier>box</vssd:VirtualSystemIdentifier>\n"
  "        <vssd:VirtualSystemType>virtualbox-2.2</vssd:VirtualSystemType>\n"
  "      </System>\n"
  "      <Item>\n"
  "        <rasd:Address>0</rasd:Address>\n"
  "        <rasd:Caption>sataController0</rasd:Caption>\n"
  "        <rasd:Description>SATA Controller</rasd:Description>\n"
  "        <rasd:ElementName>sataController0</rasd:ElementName>\n"
  "        <rasd:InstanceID>5</rasd:InstanceID>\n"
  "        <rasd:ResourceSubType>AHCI</rasd:ResourceSubType>\n"
  "        <rasd:ResourceType>20</rasd:ResourceType>\n"
  "      </Item>\n"
  "      <Item>\n"
  "        <rasd:AddressOnParent>0</rasd:AddressOnParent>\n"
  "        <rasd:Caption>disk1</rasd:Caption>\n"
  "        <rasd:Description>Disk Image</rasd:Description>\n"
  "        <rasd:ElementName>disk1</rasd:ElementName>\n"
  "        <rasd:HostResource>/disk/vmdisk1</rasd:HostResource>\n"
  "        <rasd:InstanceID>8</rasd:InstanceID>\n"
  "        <rasd:Parent>5</rasd:Parent>\n"
  "        <rasd:ResourceType>17</rasd:ResourceType>\n"
  "      </Item>\n"
  "    </VirtualHardwareSection>\n"
  "    <vbox:Machine ovf:required=\"false\" version=\"1.19-linux\" uuid=\"{x}\" name=\"box\">\n"
  "      <ovf:Info>Complete VirtualBox machine configuration in VirtualBox format</ovf:Info>\n"
  "    </vbox:Machine>\n"
  "  </VirtualSystem>\n"
  "</Envelope>\n";

static struct xd_ovf_template *
template_ok (const char *text)
{
  struct xd_ovf_template *t = xd_ovf_template_parse (text, strlen (text),
                                                      "user.ovf");
  ck_assert_msg (t != NULL, "template: %s", last_error);
  return t;
}

static char *
fill (const struct xd_ovf_template *t, uint64_t v, size_t *len)
{
  static char names[4][48];
  struct xd_ovf_disk_out disks[4];
  size_t i, n = xd_ovf_template_disks (t);
  char *out;

  ck_assert_uint_le (n, 4);
  for (i = 0; i < n; i++) {
    snprintf (names[i], sizeof names[i], "new-disk%zu.vmdk", i + 1);
    disks[i].href = names[i];
    disks[i].capacity = v ? v : (i + 1) * GiB;
    disks[i].file_size = v ? v : 80000 + i;
    disks[i].populated = v ? v : 4096 * (i + 1);
  }
  ck_assert_msg (xd_ovf_template_render (t, disks, n, &out, len) == 0,
                 "render: %s", last_error);
  ck_assert_uint_eq (strlen (out), *len);
  return out;
}

/* A filled template reads back with the new files and capacities. */
static void
ck_filled (const char *out, size_t len, size_t n)
{
  struct xd_ovf ovf;
  size_t i;

  ck_namespaces (out, len);
  ck_assert_msg (xd_ovf_parse (out, len, "filled.ovf", &ovf) == 0, "%s",
                 last_error);
  ck_assert_uint_eq (ovf.nfiles, n);
  ck_assert_uint_eq (ovf.ndisks, n);
  for (i = 0; i < n; i++) {
    char href[32];
    snprintf (href, sizeof href, "new-disk%zu.vmdk", i + 1);
    ck_assert_str_eq (ovf.files[i].href, href);
    ck_assert_uint_eq (ovf.files[i].size, 80000 + i);
    ck_assert_uint_eq (ovf.disks[i].capacity, (i + 1) * GiB);
    ck_assert_ptr_eq (ovf.disks[i].file, &ovf.files[i]);
  }
  xd_ovf_free (&ovf);
  ck_assert_ptr_null (strstr (out, "old-disk"));
}

START_TEST (test_template_ovftool)
{
  struct xd_ovf_template *t = template_ok (ovftool_ovf);
  struct xd_ovf ovf;
  char *out;
  size_t len;

  ck_assert_uint_eq (xd_ovf_template_disks (t), 2);
  ck_assert_uint_eq (xd_ovf_template_capacity (t, 0), 20 * GiB);
  ck_assert_uint_eq (xd_ovf_template_capacity (t, 1), 0);   /* ${...} */
  ck_assert_uint_eq (xd_ovf_template_capacity (t, 2), 0);
  out = fill (t, 0, &len);
  ck_filled (out, len, 2);
  /* Everything else as the user wrote it. */
  ck_assert_ptr_nonnull (strstr (out, "<!--Generated by VMware ovftool"));
  ck_assert_ptr_nonnull (strstr (out, "<Product>Appliance &amp; Co</Product>"));
  ck_assert_ptr_nonnull (strstr (out, "<rasd:HostResource> ovf:/disk/data "));
  ck_assert_ptr_nonnull (strstr (out, "vmw:value=\"efi\"/>\n    </Virtual"));
  ck_assert_ptr_nonnull (strstr (out, "<Disk ovf:diskId=\"data\""));
  ck_assert_ptr_nonnull (strstr (out, "  <References>\n    <File ovf:href="
                                 "\"new-disk1.vmdk\" ovf:id=\"file1\" "
                                 "ovf:size=\"80000\"/>\n"));
  ck_assert_ptr_nonnull (strstr (out, "\n  </References>\n  <DiskSection>"));
  ck_assert_int_eq (xd_ovf_parse (out, len, "f.ovf", &ovf), 0);
  ck_assert_str_eq (ovf.product, "Appliance & Co");
  ck_assert_str_eq (ovf.disks[1].disk_id, "data");
  xd_ovf_free (&ovf);
  /* Only the References and Disks changed. */
  ck_assert_mem_eq (out, ovftool_ovf, strstr (ovftool_ovf, "<References>")
                    - ovftool_ovf);
  ck_assert_str_eq (strstr (out, "\n  <NetworkSection>"),
                    strstr (ovftool_ovf, "\n  <NetworkSection>"));
  free (out);
  xd_ovf_template_free (t);
}
END_TEST

START_TEST (test_template_vbox)
{
  struct xd_ovf_template *t = template_ok (vbox_ovf);
  char *out;
  size_t len;

  ck_assert_uint_eq (xd_ovf_template_disks (t), 1);
  ck_assert_uint_eq (xd_ovf_template_capacity (t, 0), 10 * GiB);
  out = fill (t, 0, &len);
  ck_filled (out, len, 1);
  ck_assert_ptr_nonnull (strstr (out, "<vbox:Machine ovf:required"));
  ck_assert_ptr_nonnull (strstr (out, "<rasd:HostResource>/disk/vmdisk1<"));
  free (out);
  xd_ovf_template_free (t);
}
END_TEST

/* Other spellings: ovf: prefixed elements, the OVF namespace only as
 * the default one (xmlns:ovf must then be declared where xdisk writes
 * ovf: attributes), no References at all, References after the
 * DiskSection, a self-closing References.
 */
START_TEST (test_template_forms)
{
  static const char *const forms[] = {
    "<ovf:Envelope xmlns:ovf='http://schemas.dmtf.org/ovf/envelope/1' "
    "xmlns:rasd='r'><ovf:References><ovf:File ovf:href='x' ovf:id='f'/>"
    "</ovf:References><ovf:DiskSection><ovf:Info>d</ovf:Info>"
    "<ovf:Disk ovf:diskId='d1'/></ovf:DiskSection>"
    "<ovf:VirtualSystem ovf:id='v'><ovf:Info>i</ovf:Info><ovf:Item>"
    "<rasd:HostResource>ovf:/disk/d1</rasd:HostResource></ovf:Item>"
    "</ovf:VirtualSystem></ovf:Envelope>",

    "<Envelope xmlns='http://schemas.dmtf.org/ovf/envelope/1'>"
    "<DiskSection><Info>d</Info><Disk diskId='d1' capacity='2' "
    "capacityAllocationUnits='byte * 2^30'/></DiskSection>"
    "<VirtualSystem id='v'><Info>i</Info><Item><HostResource>/disk/d1"
    "</HostResource></Item></VirtualSystem></Envelope>",

    "<o:Envelope xmlns:o='http://schemas.dmtf.org/ovf/envelope/1'>"
    "<o:DiskSection><o:Info>d</o:Info><o:Disk o:diskId='d1'></o:Disk>"
    "</o:DiskSection><o:References/>"
    "<o:VirtualSystem o:id='v'><o:Info>i</o:Info><o:Item><x:HostResource "
    "xmlns:x='r'>ovf://disk/d1</x:HostResource></o:Item></o:VirtualSystem>"
    "</o:Envelope>",

    /* "ovf" bound elsewhere; a Disk declaring its own prefix. */
    "<Envelope xmlns='http://schemas.dmtf.org/ovf/envelope/1' "
    "xmlns:ovf='urn:other'><DiskSection><Info>d</Info><q:Disk "
    "xmlns:q='http://schemas.dmtf.org/ovf/envelope/1' q:diskId='d1'/>"
    "</DiskSection><VirtualSystem><Info>i</Info><Item><HostResource>"
    "ovf:/disk/d1</HostResource></Item></VirtualSystem></Envelope>",

    /* A UTF-8 byte order mark: offsets count its bytes. */
    "\xef\xbb\xbf<Envelope xmlns='http://schemas.dmtf.org/ovf/envelope/1' "
    "xmlns:ovf='http://schemas.dmtf.org/ovf/envelope/1'><References>"
    "<File ovf:href='\xc3\xa9' ovf:id='f'/></References><DiskSection><Info>"
    "\xe2\x82\xac</Info><Disk ovf:diskId='d1'/></DiskSection><VirtualSystem>"
    "<Info>i</Info><Item><HostResource>ovf:/disk/d1</HostResource></Item>"
    "</VirtualSystem></Envelope>",

    /* A Disk rebinding "ovf" itself. */
    "<Envelope xmlns='http://schemas.dmtf.org/ovf/envelope/1'><References>"
    "</References><DiskSection><Info>d</Info><Disk xmlns:ovf='urn:x' "
    "diskId='d1'/></DiskSection><VirtualSystem><Info>i</Info><Item>"
    "<HostResource>ovf:/disk/d1</HostResource></Item></VirtualSystem>"
    "</Envelope>",
  };
  size_t i;

  for (i = 0; i < sizeof forms / sizeof forms[0]; i++) {
    struct xd_ovf_template *t = template_ok (forms[i]);
    char *out;
    size_t len;

    ck_assert_uint_eq (xd_ovf_template_disks (t), 1);
    out = fill (t, 0, &len);
    ck_filled (out, len, 1);
    /* The filled template is a template again, with the same disks. */
    xd_ovf_template_free (t);
    t = template_ok (out);
    ck_assert_uint_eq (xd_ovf_template_disks (t), 1);
    ck_assert_uint_eq (xd_ovf_template_capacity (t, 0), GiB);
    free (out);
    xd_ovf_template_free (t);
  }
}
END_TEST

START_TEST (test_template_max_longest)
{
  struct xd_ovf_template *t = template_ok (ovftool_ovf);
  struct xd_ovf_disk_out disks[2] = {
    { .href = "new-disk1.vmdk" }, { .href = "new-disk2.vmdk" },
  };
  unsigned seed = 7, i;
  size_t max_len, len;
  char *out;

  free (fill (t, UINT64_MAX, &max_len));
  for (i = 0; i < 2000; i++) {
    numbers (disks, 2, &seed, i);
    ck_assert_int_eq (xd_ovf_template_render (t, disks, 2, &out, &len), 0);
    ck_assert_msg (len <= max_len, "%zu > %zu", len, max_len);
    free (out);
  }
  ck_fails_with (xd_ovf_template_render (t, disks, 1, &out, &len), EINVAL,
                 "template of 2");
  xd_ovf_template_free (t);
}
END_TEST

/* OVF text with FROM replaced by TO (the first occurrence). */
static char *
edited (const char *from, const char *to)
{
  const char *at = strstr (ovftool_ovf, from);
  char *s;

  ck_assert_msg (at != NULL, "%s", from);
  ck_assert_int_ne (asprintf (&s, "%.*s%s%s", (int) (at - ovftool_ovf),
                              ovftool_ovf, to, at + strlen (from)), -1);
  return s;
}

static void
template_refused (const char *text, size_t len, int err, const char *word)
{
  struct xd_ovf_template *t;

  last_error[0] = '\0';
  errno = 0;
  t = xd_ovf_template_parse (text, len ? len : strlen (text), "user.ovf");
  ck_assert_msg (t == NULL, "template accepted; wanted \"%s\"", word);
  ck_assert_int_eq (errno, err);
  ck_error_has (word);
  ck_error_has ("user.ovf");
}

START_TEST (test_template_refusals)
{
  static const struct { const char *from, *to, *word; } edits[] = {
    { "ovf/envelope/1\" xmlns:cim", "ovf/envelope/2\" xmlns:cim",
      "OVF 2.0" },
    { "<Envelope ", "<Envelop ", "not an OVF 1.x Envelope" },
    { "<VirtualSystem ovf:id=\"appliance\">", "<VirtualSystem ovf:id=\"a\">"
      "<Info>x</Info></VirtualSystem><VirtualSystem ovf:id=\"b\">",
      "several VirtualSystems" },
    { "<DiskSection>", "<DiskSectio>", "mismatched tag" },
    { "ovf:/disk/data", "ovf:/disk/dat", "Disk \"data\"" },
    { "ovf:diskId=\"data\"", "ovf:diskId=\"vmdisk1\"", "same ovf:diskId" },
    { "ovf:diskId=\"data\"", "ovf:diskI=\"data\"", "no ovf:diskId" },
    { "encoding=\"UTF-8\"", "encoding=\"ISO-8859-1\"", "UTF-8" },
    { "<Envelope ", "<!DOCTYPE Envelope [<!ENTITY a \"b\">]><Envelope ",
      "DOCTYPE" },
    { "<Product>", "<Product>&a;", "undefined entity" },
    { "ovf:/disk/data", "ovf:/file/file2</rasd:HostResource><rasd:"
      "HostResource>ovf:/disk/data", "names a File" },
    { "<rasd:ResourceType>17", "<x:ResourceType>17", "unbound prefix" },
    /* What References or a Disk holds is replaced: it names nothing. */
    { "<rasd:HostResource> ovf:/disk/data </rasd:HostResource>", "",
      "Disk \"data\"" },

  };
  size_t i;
  char *s;

  for (i = 0; i < sizeof edits / sizeof edits[0]; i++) {
    s = edited (edits[i].from, edits[i].to);
    template_refused (s, strlen (s), EINVAL, edits[i].word);
    free (s);
  }
  /* The only HostResource naming a disk inside References. */
  {
    char *s2;
    s = edited ("<rasd:HostResource> ovf:/disk/data </rasd:HostResource>",
                "");
    ck_assert_int_ne (asprintf (&s2, "%.*s<x><rasd:HostResource>ovf:/disk/"
                                "data</rasd:HostResource></x>%s",
                                (int) (strstr (s, "<File") - s), s,
                                strstr (s, "<File")), -1);
    template_refused (s2, 0, EINVAL, "Disk \"data\"");
    free (s2);
    free (s);
  }
  /* No VirtualSystem, no DiskSection, no Disk. */
  template_refused ("<Envelope xmlns='http://schemas.dmtf.org/ovf/envelope/1'>"
                    "<DiskSection><Disk diskId='a'/></DiskSection>"
                    "</Envelope>", 0, EINVAL, "no VirtualSystem");
  s = strdup ("<Envelope xmlns='http://schemas.dmtf.org/ovf/envelope/1'>"
              "<VirtualSystem/></Envelope>");
  template_refused (s, strlen (s), EINVAL, "no DiskSection");
  free (s);
  s = strdup ("<Envelope xmlns='http://schemas.dmtf.org/ovf/envelope/1'>"
              "<DiskSection/><VirtualSystem/></Envelope>");
  template_refused (s, strlen (s), EINVAL, "declares no Disk");
  free (s);
  /* A NUL (UTF-16, say). */
  template_refused ("<\0E\0", 4, EINVAL, "NUL");
  /* Too big. */
  s = malloc (XD_OVF_MAX_SIZE + 1);
  ck_assert_ptr_nonnull (s);
  memset (s, ' ', XD_OVF_MAX_SIZE + 1);
  template_refused (s, XD_OVF_MAX_SIZE + 1, EFBIG, "more than");
  free (s);
  /* Nested too deep. */
  {
    char deep[4096] = "<Envelope xmlns='http://schemas.dmtf.org/ovf/"
                      "envelope/1'>";
    int d;
    for (d = 0; d < 100; d++)
      strcat (deep, "<a>");
    template_refused (deep, strlen (deep), EINVAL, "nested too deeply");
  }
}
END_TEST

/* ---- --dump DIR: renderings for tests/test-ovf-check.sh ---- */

static int
write_file (const char *dir, const char *name, const char *buf, size_t len)
{
  char path[4096];
  FILE *fp;

  snprintf (path, sizeof path, "%s/%s", dir, name);
  fp = fopen (path, "w");
  if (fp == NULL || fwrite (buf, 1, len, fp) != len || fclose (fp) != 0) {
    perror (path);
    return -1;
  }
  return 0;
}

/* Outside a test: no ck_assert here (libcheck refuses them). */
static int
dump_render (const char *dir, const char *name, const struct xd_vmdesc *d)
{
  struct xd_ovf_disk_out disks[8];
  char hrefs[8][48], *out;
  size_t i, len;
  int r;

  if (d->nr_disks > 8)
    return -1;
  for (i = 0; i < d->nr_disks; i++) {
    snprintf (hrefs[i], sizeof hrefs[i], "app-disk%zu.vmdk", i + 1);
    disks[i] = (struct xd_ovf_disk_out) {
      .href = hrefs[i], .capacity = d->sizes[i], .file_size = 70000 + i,
      .populated = 65536 * (i + 1),
    };
  }
  if (xd_ovf_render (d, disks, d->nr_disks, &out, &len) == -1) {
    fprintf (stderr, "%s: %s\n", name, last_error);
    return -1;
  }
  r = write_file (dir, name, out, len);
  free (out);
  return r;
}

/* NAME encodes the machine: FIRMWARE-BUS-NIC-DISKS.ovf. */
static int
dump_one (const char *dir, const char *firmware, const char *bus,
          const char *nic, size_t nr)
{
  struct xd_create_opts c;
  struct xd_vmdesc d;
  char name[128];
  int r;

  opts_init (&c, nr);
  c.vm.firmware = firmware;
  c.vm.disk_bus = bus;
  c.vm.nic = nic;
  c.vm.os = "debian12-64";
  c.vm.name = "app & <co>";
  if (xd_vmdesc_init (&d, &c, "/x/app.ova", "OVA") == -1) {
    fprintf (stderr, "%s\n", last_error);
    return -1;
  }
  snprintf (name, sizeof name, "%s-%s-%s-%zu.ovf", firmware, bus, nic, nr);
  r = dump_render (dir, name, &d);
  xd_vmdesc_free (&d);
  return r;
}

static int
dump_template (const char *dir)
{
  struct xd_ovf_template *t;
  struct xd_ovf_disk_out disks[2] = {
    { "app-disk1.vmdk", GiB, 70000, 4096 },
    { "app-disk2.vmdk", 2 * GiB, 70001, 8192 },
  };
  char *out;
  size_t len;
  int r;

  t = xd_ovf_template_parse (ovftool_ovf, strlen (ovftool_ovf), "t.ovf");
  if (t == NULL || xd_ovf_template_render (t, disks, 2, &out, &len) == -1) {
    fprintf (stderr, "%s\n", last_error);
    xd_ovf_template_free (t);
    return -1;
  }
  r = write_file (dir, "efi-template-ovftool-2.ovf", out, len);
  free (out);
  xd_ovf_template_free (t);
  return r;
}

static int
dump (const char *dir)
{
  int r = 0;

  r |= dump_one (dir, "bios", "scsi", "e1000", 1);
  r |= dump_one (dir, "efi", "scsi", "vmxnet3", 3);
  r |= dump_one (dir, "bios", "sata", "e1000e", 3);
  r |= dump_one (dir, "efi", "ide", "none", 4);
  r |= dump_one (dir, "bios", "scsi", "none", 5);
  r |= dump_template (dir);
  return r ? 1 : 0;
}

static Suite *
ovf_write_suite (void)
{
  Suite *s = suite_create ("ovf-write");
  TCase *tc = tcase_create ("core");

  tcase_set_timeout (tc, 60);
  tcase_add_checked_fixture (tc, setup, NULL);
  tcase_add_test (tc, test_vmdesc_defaults);
  tcase_add_test (tc, test_vmdesc_refusals);
  tcase_add_test (tc, test_render_matrix);
  tcase_add_test (tc, test_render_spelling);
  tcase_add_test (tc, test_render_escape);
  tcase_add_test (tc, test_render_max_longest);
  tcase_add_test (tc, test_render_capacity_bytes);
  tcase_add_test (tc, test_template_ovftool);
  tcase_add_test (tc, test_template_vbox);
  tcase_add_test (tc, test_template_forms);
  tcase_add_test (tc, test_template_max_longest);
  tcase_add_test (tc, test_template_refusals);
  suite_add_tcase (s, tc);
  return s;
}

int
main (int argc, char *argv[])
{
  SRunner *sr;
  int failed;

  if (argc == 3 && strcmp (argv[1], "--dump") == 0) {
    setup ();
    return dump (argv[2]);
  }
  sr = srunner_create (ovf_write_suite ());
  srunner_run_all (sr, CK_NORMAL);
  failed = srunner_ntests_failed (sr);
  srunner_free (sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
