/* xdisk: turning a list of formats (xd-format.h) into an nbdkit plugin.
 *
 * A plugin file does:
 *
 *   static const struct xd_format *const vhdx_formats[] = {
 *     &xd_format_vhd, &xd_format_vhdx, NULL
 *   };
 *   XD_REGISTER_PLUGIN ("vhdx", "Microsoft VHD and VHDX virtual disk plugin",
 *                       vhdx_formats, HELP)
 *
 * The glue handles the parameters every plugin has (file=,
 * allow-external-files=, cache=, format=, create=true and create-*) and
 * passes the others to the
 * formats' own config functions; it opens the image once in .get_ready,
 * detecting its format from its contents, refuses a file of a format the
 * plugin does not serve with a hint naming the plugin that does, and
 * maps nbdkit's callbacks onto the opened image.
 */
#ifndef XDISK_GLUE_H
#define XDISK_GLUE_H

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include "glue/xd-glue-common.h"
#include "glue/xd-glue-create.h"
#include "glue/xd-glue-remote.h"

#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL

extern void xd_glue_load (void);
extern void xd_glue_unload (void);
extern int xd_glue_config (const char *key, const char *value);
extern int xd_glue_config_complete (void);
extern int xd_glue_get_ready (void);
extern void xd_glue_cleanup (void);
extern void xd_glue_dump_plugin (void);
extern void *xd_glue_open (int readonly);
extern int64_t xd_glue_get_size (void *handle);
extern int xd_glue_block_size (void *handle, uint32_t *minimum,
                               uint32_t *preferred, uint32_t *maximum);
extern int xd_glue_can_multi_conn (void *handle);
extern int xd_glue_can_extents (void *handle);
extern int xd_glue_pread (void *handle, void *buf, uint32_t count,
                          uint64_t offset, uint32_t flags);
extern int xd_glue_extents (void *handle, uint32_t count, uint64_t offset,
                            uint32_t flags, struct nbdkit_extents *extents);
extern void xd_glue_close (void *handle);
extern int xd_glue_can_write (void *handle);
extern int xd_glue_can_flush (void *handle);
extern int xd_glue_can_fua (void *handle);
extern int xd_glue_can_zero (void *handle);
extern int xd_glue_can_fast_zero (void *handle);
extern int xd_glue_can_trim (void *handle);
extern int xd_glue_pwrite (void *handle, const void *buf, uint32_t count,
                           uint64_t offset, uint32_t flags);
extern int xd_glue_zero (void *handle, uint32_t count, uint64_t offset,
                         uint32_t flags);
extern int xd_glue_trim (void *handle, uint32_t count, uint64_t offset,
                         uint32_t flags);
extern int xd_glue_flush (void *handle, uint32_t flags);
extern const char *xd_glue_export_description (void *handle);
extern int xd_glue_list_exports (int readonly, int is_tls,
                                 struct nbdkit_exports *exports);
extern const char *xd_glue_default_export (int readonly, int is_tls);

#define XD_GLUE_CONFIG_HELP \
  "file=<FILENAME>     The disk image to serve (or url=, below).\n" \
  "allow-external-files=false|true|DIR[:DIR...]\n" \
  "                    Files the image may refer to outside its directory.\n" \
  "cache=<SIZE>        Memory for cached metadata tables (default 32M).\n" \
  "format=<NAME>       Open the file as this format, not the detected one.\n" \
  XD_GLUE_REMOTE_HELP \
  XD_GLUE_CREATE_HELP

#define XD_REGISTER_PLUGIN(NAME, LONGNAME, FORMATS, HELP)               \
  const struct xd_format *const *const xd_glue_formats = (FORMATS);     \
  const char *const xd_glue_name = NAME;                                \
  static struct nbdkit_plugin plugin = {                                \
    .name               = NAME,                                         \
    .longname           = LONGNAME,                                     \
    .version            = PACKAGE_VERSION,                              \
    .load               = xd_glue_load,                                 \
    .unload             = xd_glue_unload,                               \
    .config             = xd_glue_config,                               \
    .config_complete    = xd_glue_config_complete,                      \
    .config_help        = XD_GLUE_CONFIG_HELP HELP,                     \
    .magic_config_key   = "file",                                       \
    .get_ready          = xd_glue_get_ready,                            \
    .cleanup            = xd_glue_cleanup,                              \
    .dump_plugin        = xd_glue_dump_plugin,                          \
    .list_exports       = xd_glue_list_exports,                         \
    .default_export     = xd_glue_default_export,                       \
    .open               = xd_glue_open,                                 \
    .get_size           = xd_glue_get_size,                             \
    .block_size         = xd_glue_block_size,                           \
    .can_multi_conn     = xd_glue_can_multi_conn,                       \
    .can_extents        = xd_glue_can_extents,                          \
    .pread              = xd_glue_pread,                                \
    .extents            = xd_glue_extents,                              \
    .close              = xd_glue_close,                                \
    .can_write          = xd_glue_can_write,                            \
    .can_flush          = xd_glue_can_flush,                            \
    .can_fua            = xd_glue_can_fua,                              \
    .can_zero           = xd_glue_can_zero,                             \
    .can_fast_zero      = xd_glue_can_fast_zero,                        \
    .can_trim           = xd_glue_can_trim,                             \
    .pwrite             = xd_glue_pwrite,                               \
    .zero               = xd_glue_zero,                                 \
    .trim               = xd_glue_trim,                                 \
    .flush              = xd_glue_flush,                                \
    .export_description = xd_glue_export_description,                   \
    .errno_is_preserved = 1,                                            \
  };                                                                    \
  NBDKIT_REGISTER_PLUGIN (plugin)

#endif /* XDISK_GLUE_H */
