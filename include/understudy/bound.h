/* The one way understudy bounds a call on the shared storage that runs
 * outside the node's own loop: the commands' (status, is-live, failback,
 * switchover, check-storage) and the manager's /status reader.
 *
 * A call on a file server that stopped answering may never return, and
 * no signal ends it for sure (NFS hard mounts, FUSE), so nothing on the
 * calling thread can bound it. The caller names each call before it
 * makes it; a watchdog thread that sees a call outlive the bound says,
 * in one message, which call on which file got no answer:
 *
 *   PATH: no answer from the storage within MS ms (WHAT)
 *
 * What happens then is the bound's: a command prints it and ends with its
 * documented status (bound_start); a long-lived thread hands it to a
 * function that answers for it while the call goes on (bound_new). A
 * process in such a call may not even die: a FUSE request that reached
 * its server waits for the answer through SIGKILL. So a command's calls
 * run in a child and its first process only watches: the exit its caller
 * waits for is the watcher's, never held by the call. The
 * node itself never uses this: its storage calls run on the worker
 * thread and in the storage process, and its loop acts without them
 * (loop.c). */
#ifndef UNDERSTUDY_BOUND_H
#define UNDERSTUDY_BOUND_H

#include <stdbool.h>
#include <stdint.h>

/* A call that outlived its bound, as the watchdog saw it. */
struct bound_expiry {
	const char *path; /* the file the call was on */
	const char *what; /* the call: "reading the file under the record lock" */
	int64_t ms;       /* the bound */
	const char *msg;  /* "PATH: no answer from the storage within MS ms (WHAT)" */
};

/* Called on the watchdog thread, once per call that outlives the bound,
 * with no lock of bound.c held. The call itself goes on. */
typedef void bound_expired(void *arg, const struct bound_expiry *e);

struct bound;

/* Commands: bound every storage call of command cmd on path to ms from
 * here on. Forks: the command goes on in the child (0 returned there);
 * the parent never returns: it exits with the child's status when the
 * child ends, or, once a call outlives ms, prints "understudy CMD: " and
 * the message (unless quiet) and exits with status at once; the child
 * then ends with that status, saying nothing, as its call returns. Signals
 * sent to the parent are passed to the child, which takes them between
 * its calls, never inside one (a signal in a FUSE call interrupts the
 * daemon). -errno when it cannot fork (nothing forked then). */
int bound_start(const char *cmd, const char *path, int64_t ms, int status, bool quiet);
/* A bound of its own for a thread or a process that must outlive a call
 * that hangs (the manager's /status reader, check-storage's runner):
 * past ms, expired(arg, ...) is called. NULL when out of memory or no
 * watchdog could be started. */
struct bound *bound_new(const char *path, int64_t ms, bound_expired *expired, void *arg);
/* The calling thread's storage calls are under b from now on (NULL: the
 * process's, if any). */
void bound_attach(struct bound *b);
/* Stop watching b and free it; waits for its expired() to return if the
 * watchdog is in it. Never while a call under b may still be running. */
void bound_free(struct bound *b);

/* A storage call begins (what: "reading the file", "taking the record
 * lock"...): the bound runs from now. A no-op on a thread under no bound
 * (and in a child forked from a bounded process: its watchdog is not
 * there), so code shared with the node (group.c) may say it too. */
void bound_doing(const char *what);
/* The same for a call on another file than the bound's (check-storage
 * works on scratch files of the directory it was given). */
void bound_doing_on(const char *path, const char *what);
/* The same for a wait made of calls that may rightly last up to ms (a
 * lock taken with tries): bounded by ms plus the bound. */
void bound_waiting_on(const char *path, const char *what, int64_t ms);
/* No storage call in progress (a pause between reads, output). */
void bound_idle(void);

#endif
