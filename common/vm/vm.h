/* xdisk: a VM given by its configuration file (a VMware .vmx, a
 * VirtualBox .vbox), served as its disks.
 *
 * Both formats' handles are a struct vm: the configuration's io and
 * the disks it names, each opened through the resolver from the
 * configuration's own name (so a disk is wherever the configuration
 * is: a local folder or a URL), each served as an NBD export named by
 * its device key (xd_format.disks), and the one disk= names (the first
 * by default) served by the handle's own read ops.  Read-only.
 */
#ifndef XDISK_VM_H
#define XDISK_VM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/xd-format.h"

#define VM_MAX_DISKS 256                /* disks one VM may have */

struct vm;

/* A disk as the plugin serves it: the opened chain (IMG), wrapped in
 * an image of its own (AS_SERVED) whose description says which disk of
 * which VM it is.
 */
struct vm_disk {
  char *key;                    /* device key: "scsi0:0", "SATA:0:0" */
  char *file;                   /* the name the configuration gives */
  struct xd_image *img;
  struct xd_image as_served;
  const struct vm *vm;
};

struct vm {
  struct xd_io *io;             /* the configuration file */
  const char *kind;             /* "VMware VM" */
  struct vm_disk *disks;
  size_t nr_disks, cap;
  size_t selected;              /* the disk disk= names */
  void *priv;                   /* the format's own, freed with free() */
};

/* A VM for the configuration IO (ownership taken), or NULL after
 * reporting (IO closed).
 */
extern struct vm *vm_new (struct xd_io *io, const char *kind);
extern void vm_free (struct vm *vm);

/* Open FILE, named by the configuration as the disk KEY, through RES,
 * as a disk the plugin serves (OPTS->served), and add it.  OPTS are
 * the configuration's; the disk opens one level deeper, read-only.
 * 0, or -1 after reporting.
 */
extern int vm_add_disk (struct vm *vm, const char *key, const char *file,
                        const struct xd_resolver *res,
                        const struct xd_open_opts *opts);

/* Select the disk WANT (a device key, case-insensitive; NULL: the
 * first).  An error lists the VM's keys.  0, or -1 after reporting.
 */
extern int vm_select (struct vm *vm, const char *want);

/* The format ops every VM format shares (H is a struct vm). */
extern void vm_close (void *h);
extern uint64_t vm_size (void *h);
extern uint32_t vm_preferred_block (void *h);
extern int vm_pread (void *h, void *buf, uint32_t count, uint64_t offset);
extern int vm_extents (void *h, uint32_t count, uint64_t offset,
                       bool req_one, xd_extent_fn add, void *opaque);
extern char *vm_describe (void *h);
extern bool vm_can_write (void *h, const char **why);
extern size_t vm_disks (void *h);
extern const char *vm_disk_name (void *h, size_t i);
extern struct xd_image *vm_disk (void *h, size_t i);

#define VM_FORMAT_FIELDS                        \
  .close = vm_close,                            \
  .size = vm_size,                              \
  .preferred_block = vm_preferred_block,        \
  .pread = vm_pread,                            \
  .extents = vm_extents,                        \
  .describe = vm_describe,                      \
  .can_write = vm_can_write,                    \
  .disks = vm_disks,                            \
  .disk_name = vm_disk_name,                    \
  .disk = vm_disk

/* Read the whole configuration file IO (at most MAX bytes, else an
 * error naming WHAT) into a NUL-terminated malloc'd buffer; *LEN its
 * length.  NULL after reporting.
 */
extern char *vm_read_text (struct xd_io *io, size_t max, const char *what,
                           size_t *len);

#endif /* XDISK_VM_H */
