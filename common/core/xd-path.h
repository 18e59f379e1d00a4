/* xdisk: resolving file names stored inside images.
 *
 * VMDK descriptors name their extent files and parents, VHD and VHDX
 * name their parents.  Those names come from the image, so they are
 * untrusted: by default they may only resolve to files inside the
 * directory of the image the user gave (after symlinks are resolved).
 * The user can lift that with allow-external-files=true or a list of
 * extra directories.
 *
 * Names written on Windows (C:\VMs\base.vhd, .\base.vhd) are tried with
 * '\' read as '/', and, when that path does not exist here, as the same
 * file name in the referencing image's directory.
 */
#ifndef XDISK_PATH_H
#define XDISK_PATH_H

#include <stdbool.h>
#include <stddef.h>

struct xd_path_policy {
  char *root_dir;               /* realpath of the given image's directory */
  bool allow_external;          /* any readable file may be referenced */
  char **allowed_dirs;          /* realpaths of more permitted dirs */
  size_t nr_allowed_dirs;
};

/* Set up POLICY for the top-level image IMAGE_PATH (must exist).
 * ALLOW is the value of allow-external-files: NULL or "false" (only the
 * image's directory), "true" (anything), or a ':'-separated list of
 * directories.  Returns 0 or -1 after reporting an error.
 */
extern int xd_path_policy_init (struct xd_path_policy *policy,
                                const char *image_path, const char *allow);
extern void xd_path_policy_free (struct xd_path_policy *policy);

/* Permit the files of DIR too (a parent the user named on the command
 * line with create-parent=).  0 or -1 after reporting.
 */
extern int xd_path_policy_allow_dir (struct xd_path_policy *policy,
                                     const char *dir);

/* Resolve NAME, stored in the file FROM (itself a resolved path), to the
 * real path of an existing file that POLICY permits.  WHAT says what the
 * name is for ("extent file", "parent").  Returns a malloc'd path, or
 * NULL after reporting an error that lists the names tried, or names the
 * policy and the option that would allow the file.
 */
extern char *xd_resolve_ref (const struct xd_path_policy *policy,
                             const char *from, const char *name,
                             const char *what);

/* Like xd_resolve_ref, but reports nothing: NULL with errno ENOENT (no
 * candidate exists), EPERM (the policy refuses it) or EINVAL (empty
 * name).  For callers that try several names and report once.
 */
extern char *xd_try_resolve_ref (const struct xd_path_policy *policy,
                                 const char *from, const char *name);

/* True if PATH (a real path) is inside DIR (a real path). */
extern bool xd_path_is_inside (const char *path, const char *dir);

#endif /* XDISK_PATH_H */
