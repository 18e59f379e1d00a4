/* xdisk: VMware .vmx configuration files, and the VM's disks they name.
 *
 * A .vmx is text: one `key = "value"` per line, `#` comments, keys
 * case-insensitive, values quoted, with the characters a value cannot
 * hold written as `|XX` (two hex digits: `|22` is `"`, `|7C` is `|`),
 * as VMware writes them.  Disks are `<bus><N>:<M>.fileName` entries for
 * bus scsi, ide, sata or nvme (remote-sources.md §1.4); the fileName
 * names the newest snapshot delta, relative to the .vmx's directory or
 * absolute.
 *
 * The text is untrusted: its size, line length and number of entries
 * are bounded, and a malformed line is an error naming its number.
 */
#ifndef XDISK_VMX_H
#define XDISK_VMX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VMX_MAX_SIZE (1u << 20)         /* bytes of a whole .vmx */
#define VMX_MAX_LINE 8192               /* bytes of one line */
#define VMX_MAX_ENTRIES 20000           /* key = value lines */
#define VMX_MAX_DISKS 256               /* disks one VM may have */
#define VMX_MAX_UNIT 999                /* the largest N and M in scsiN:M */
#define VMX_DISK_KEY_MAX 16             /* "nvme999:999" and a NUL */

struct vmx_entry {
  char *key;                    /* as written */
  char *value;                  /* unquoted, |XX decoded */
};

struct vmx_config {
  struct vmx_entry *entries;
  size_t len, cap;
};

/* One disk of the VM, in the .vmx's terms. */
struct vmx_disk_ref {
  char key[VMX_DISK_KEY_MAX];   /* the device key, lowercase: "scsi0:1" */
  unsigned bus;                 /* index in the bus order: scsi ide sata nvme */
  unsigned controller, unit;    /* N and M */
  const char *file;             /* its fileName (in the vmx_config) */
};

/* True if the LEN bytes of HEAD look like a .vmx: text (no NUL) with a
 * `config.version`, `virtualHW.version` or `<bus>N:M.fileName` key and
 * no VMDK descriptor keyword.  Never reports.
 */
extern bool vmx_looks_like (const uint8_t *head, size_t len);

/* Parse LEN bytes of TEXT (need not be NUL-terminated) from the file
 * named FILE into *CFG.  0, or -1 after reporting an error naming FILE
 * and the line, with errno EIO (or ENOMEM).
 */
extern int vmx_parse (const char *text, size_t len, const char *file,
                      struct vmx_config *cfg);
extern void vmx_config_free (struct vmx_config *cfg);

/* The value of KEY (case-insensitive; the last one if repeated), or
 * NULL.
 */
extern const char *vmx_get (const struct vmx_config *cfg, const char *key);

/* The disks CFG names, in the order bus (scsi, ide, sata, nvme), N, M:
 * devices present, not CD-ROMs or floppies, with a fileName ending in
 * .vmdk.  *DISKS (malloc'd, may be NULL when *N is 0) points into CFG.
 * 0, or -1 after reporting (FILE names the .vmx).
 */
extern int vmx_find_disks (const struct vmx_config *cfg, const char *file,
                           struct vmx_disk_ref **disks, size_t *n);

#endif /* XDISK_VMX_H */
