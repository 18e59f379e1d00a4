/* xdisk vmdkx: the composed open and close of a VMDK disk (see
 * vmdk-write.h), below both the format table (vmdk-format.c) and the
 * creator (vmdk-create.c), which open disks through them.
 *
 * Open opens with the reader and, when writable, attaches the writer
 * (vmdk-write.c); close releases the writer first (a stream being
 * created, the grain tables in memory), then closes with the reader.
 */

#include <config.h>

#include <stdlib.h>

#include "vmdk/vmdk-write.h"
#include "vmdk/vmdk-stream.h"

struct vmdk_disk *
vmdk_disk_open (struct xd_io *io, const struct xd_resolver *res,
                const struct xd_open_opts *opts)
{
  struct vmdk_disk *d = vmdk_reader_open (io, res, opts);

  /* Only the top of the chain is written; its parents never are. */
  if (d && opts->writable && vmdk_write_prepare (d) == -1) {
    vmdk_disk_close (d);
    return NULL;
  }
  return d;
}

void
vmdk_disk_close (struct vmdk_disk *d)
{
  if (d == NULL)
    return;
  if (d->stream)
    vmdk_stream_close (d->stream);
  d->stream = NULL;
  vmdk_write_release (d);
  vmdk_reader_close (d);
}
