/* Whether the lock file's path may name another file now, told by the
 * kernel (inotify) rather than asked every poll interval.
 *
 * On a local file system a waiting node blocks in its lock wait until
 * the kernel hands it the lock; nothing else needs its attention but a
 * change of the path (the file deleted, renamed, or another renamed over
 * it), which it must see to join the file that is there now. The watch
 * covers the file itself (deleted, renamed away, its attributes changed)
 * and its directory (an entry of the lock file's name created, deleted or
 * renamed in or out). An event only says "look": the storage process's
 * look at the path (lockfile_still_at_path) decides. The kernel may lose
 * events (a queue overflow): that also says look. Only on a local file
 * system: off one, a path lookup can hang, and a change made by another
 * host raises no event here. */
#ifndef UNDERSTUDY_WATCH_H
#define UNDERSTUDY_WATCH_H

#include <stdbool.h>
#include <stddef.h>

struct watch {
	int fd; /* the inotify descriptor, -1 when none */
	int file_wd, dir_wd;
	char name[256]; /* the lock file's name in its directory */
	/* Where a read of fd lands (a whole number of events). */
	_Alignas(8) unsigned char buf[4096];
};

/* Watch path, whose open file is fd (the watch on the file is on that
 * very file, found through /proc/self/fd, not on what the path names
 * by then). 0, or -errno with nothing left open. */
int watch_open(struct watch *w, const char *path, int fd);
/* Read every event queued on fd (it never blocks): 1 if one of them may
 * mean the path names another file now, 0 if none, -errno. Polled, not
 * read, by the event loop: a read of an inotify descriptor cannot be
 * tried without blocking by io_uring, which would park it in a kernel
 * worker thread of the manager's, one more thread to wake and, at the
 * manager's death, to cancel before its workload is told to die. */
int watch_read(struct watch *w);
void watch_close(struct watch *w);

/* Writes to the open file fd, by any process of this host (inotify
 * IN_MODIFY on that very file, found through /proc/self/fd): how the live
 * node's storage process on a local file system learns of a request, or
 * a node joining, when it is written rather than at its next check. Our
 * own writes raise the event too, so the caller drains it after each.
 * The inotify descriptor (close-on-exec, non-blocking), or -errno. */
int watch_writes(int fd);
/* Read every event queued on the descriptor of watch_writes: whether
 * there was one. */
bool watch_drain(int in);

#endif
