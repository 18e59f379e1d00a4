/* xdisk: what the plugin glue (xd-glue.h) and the filter glue
 * (xd-filter-glue.h) share.  Includers define NBDKIT_API_VERSION and
 * include nbdkit-plugin.h or nbdkit-filter.h first.
 */
#ifndef XDISK_GLUE_COMMON_H
#define XDISK_GLUE_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/xd-format.h"

/* Set by XD_REGISTER_PLUGIN / XD_REGISTER_FILTER: the formats served
 * (NULL-terminated), the plugin's or filter's name, and which it is
 * ("plugin" or "filter", for hints).
 */
extern const struct xd_format *const *const xd_glue_formats;
extern const char *const xd_glue_name;
extern const char *const xd_glue_kind;

/* The options the formats are opened with, filled in by the parameters;
 * a plugin may set more from a constructor (its debug flags).
 */
extern struct xd_open_opts xd_glue_opts;

/* The served table of the format FORMAT is (the same name), or NULL.
 * The registry and the detector hand out each format's reader; a
 * plugin serves the table that composes the reader with its writer.
 */
extern const struct xd_format *xd_glue_served (const struct xd_format *format);

/* The format given by format=, or NULL. */
extern const struct xd_format *xd_glue_pinned_format (void);

/* cache=, format= and the formats' own parameters: 0 if taken, 1 if
 * KEY is not one of them, -1 on a bad value (reported).
 */
extern int xd_glue_config_common (const char *key, const char *value);

/* The format to open IO as (see glue-common.c); NULL after reporting. */
extern const struct xd_format *xd_glue_choose_format (struct xd_io *io);

/* The export description: takes a malloc'd TEXT (or NULL). */
extern void xd_glue_set_description (char *text);
extern const char *xd_glue_description (void);
extern void xd_glue_forget_description (void);

extern void xd_glue_block_sizes (struct xd_image *img, uint32_t *minimum,
                                 uint32_t *preferred, uint32_t *maximum);
extern void xd_glue_dump (void);
extern int xd_glue_add_extent (void *opaque, uint64_t offset,
                               uint64_t length, uint32_t type);

/* The decoded disk of IMG behind read-ahead (xd-readahead.h): cache=
 * bytes (2 to 64 chunks of CHUNK_SIZE) shared between the streams,
 * loaded by THREADS threads.  NULL after reporting.
 */
extern struct xd_io *xd_glue_open_readahead (struct xd_image *img,
                                             const char *name,
                                             size_t chunk_size,
                                             size_t threads);

#endif /* XDISK_GLUE_COMMON_H */
