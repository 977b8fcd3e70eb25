/* The one way a command bounds the calls it makes on the shared storage.
 *
 * A call on a file server that stopped answering may never return, and
 * no signal ends it for sure (NFS hard mounts, FUSE), so nothing on the
 * calling thread can bound it. A command (status, is-live, failback,
 * switchover) names each call before it makes it; a watchdog thread
 * that sees a call outlive the bound says which call on which file got
 * no answer, and ends the command with its documented status. The node
 * itself never uses this: its storage calls run on the worker thread,
 * and its loop acts without them (loop.c). */
#ifndef UNDERSTUDY_BOUND_H
#define UNDERSTUDY_BOUND_H

#include <stdbool.h>
#include <stdint.h>

/* Bound every storage call of command cmd on path to ms from here on;
 * past it, print "understudy CMD: PATH: no answer from the storage
 * within MS ms (WHAT)" (unless quiet) and end the process with status.
 * 0 or -errno. */
int bound_start(const char *cmd, const char *path, int64_t ms, int status, bool quiet);
/* A storage call begins (what: "reading the file", "taking the record
 * lock"...): the bound runs from now. A no-op unless bound_start ran, so
 * code shared with the node (group.c) may say it too. */
void bound_doing(const char *what);
/* No storage call in progress (a pause between reads, output). */
void bound_idle(void);

#endif
