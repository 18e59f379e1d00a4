/* xdisk: turning a list of formats (xd-format.h) into an nbdkit filter.
 *
 * A filter file does:
 *
 *   static const struct xd_format *const vmdkx_formats[] = {
 *     &xd_format_vmdk, NULL
 *   };
 *   XD_REGISTER_FILTER ("vmdkx", "VMware VMDK decoding filter",
 *                       vmdkx_formats, HELP)
 *
 * The filter decodes the image that the layer below it serves (a web
 * server through the curl plugin, an ssh host, another NBD server, a
 * local file), with the same format code as the plugins.  It is
 * read-only.  The image lives in one stream, so names it holds (extent
 * files, parents, backing files) are refused: the plugins serve those.
 * See filter-glue.c for how it reads the layer below.
 */
#ifndef XDISK_FILTER_GLUE_H
#define XDISK_FILTER_GLUE_H

#include <nbdkit-filter.h>

#include "glue/xd-glue-common.h"

#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL

extern int xd_filter_config (nbdkit_next_config *next, nbdkit_backend *nxdata,
                             const char *key, const char *value);
extern int xd_filter_get_ready (int thread_model);
extern int xd_filter_after_fork (nbdkit_backend *backend);
extern void xd_filter_cleanup (nbdkit_backend *backend);
extern void xd_filter_unload (void);
extern void xd_filter_load (void);
extern void *xd_filter_open (nbdkit_next_open *next, nbdkit_context *context,
                             int readonly, const char *exportname,
                             int is_tls);
extern int xd_filter_prepare (nbdkit_next *next, void *handle, int readonly);
extern int64_t xd_filter_get_size (nbdkit_next *next, void *handle);
extern const char *xd_filter_export_description (nbdkit_next *next,
                                                 void *handle);
extern int xd_filter_block_size (nbdkit_next *next, void *handle,
                                 uint32_t *minimum, uint32_t *preferred,
                                 uint32_t *maximum);
/* 0 and 1, for the can_* callbacks that answer the same to every
 * client (see XD_REGISTER_FILTER).
 */
extern int xd_filter_never (nbdkit_next *next, void *handle);
extern int xd_filter_always (nbdkit_next *next, void *handle);
extern int xd_filter_can_fua (nbdkit_next *next, void *handle);
extern int xd_filter_can_cache (nbdkit_next *next, void *handle);
extern int xd_filter_pread (nbdkit_next *next, void *handle, void *buf,
                            uint32_t count, uint64_t offset, uint32_t flags,
                            int *err);
extern int xd_filter_extents (nbdkit_next *next, void *handle,
                              uint32_t count, uint64_t offset, uint32_t flags,
                              struct nbdkit_extents *extents, int *err);

#define XD_FILTER_CONFIG_HELP \
  "cache=<SIZE>        Memory for cached tables and blocks (default 32M).\n" \
  "format=<NAME>       Decode as this format, not the detected one."

#define XD_REGISTER_FILTER(NAME, LONGNAME, FORMATS, HELP)               \
  const struct xd_format *const *const xd_glue_formats = (FORMATS);     \
  const char *const xd_glue_name = NAME;                                \
  static struct nbdkit_filter filter = {                                \
    .name               = NAME,                                         \
    .longname           = LONGNAME,                                     \
    .load               = xd_filter_load,                               \
    .unload             = xd_filter_unload,                             \
    .config             = xd_filter_config,                             \
    .config_help        = XD_FILTER_CONFIG_HELP HELP,                   \
    .get_ready          = xd_filter_get_ready,                          \
    .after_fork         = xd_filter_after_fork,                         \
    .cleanup            = xd_filter_cleanup,                            \
    .open               = xd_filter_open,                               \
    .prepare            = xd_filter_prepare,                            \
    .get_size           = xd_filter_get_size,                           \
    .export_description = xd_filter_export_description,                 \
    .block_size         = xd_filter_block_size,                         \
    .can_write          = xd_filter_never,                              \
    .can_flush          = xd_filter_never,                              \
    .can_trim           = xd_filter_never,                              \
    .can_zero           = xd_filter_never,                              \
    .can_fast_zero      = xd_filter_never,                              \
    .can_extents        = xd_filter_always,                             \
    .can_fua            = xd_filter_can_fua,                            \
    .can_multi_conn     = xd_filter_always,                             \
    .can_cache          = xd_filter_can_cache,                          \
    .pread              = xd_filter_pread,                              \
    .extents            = xd_filter_extents,                            \
  };                                                                    \
  NBDKIT_REGISTER_FILTER (filter)

#endif /* XDISK_FILTER_GLUE_H */
