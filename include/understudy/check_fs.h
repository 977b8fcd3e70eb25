/* check-storage's look at the file system: what it is (the lock-file
 * layer's names for statfs types, mount(8)'s for the mount) and what
 * doc/fencing.md asks of that kind, where the mount options show it. */
#ifndef UNDERSTUDY_CHECK_FS_H
#define UNDERSTUDY_CHECK_FS_H

#include "understudy/check.h"
#include "understudy/lockfile.h"

/* Report the file system holding a (INFO: its type, and what the
 * takeover delay auto becomes on it), and FAIL or WARN what is known to
 * break a group there: NFS local_lock, NFS version 3, FUSE without
 * direct I/O. Each call on the storage is bounded (check.h). */
void check_fs_run(const struct check_opts *o, struct lockfile *a);

#endif
