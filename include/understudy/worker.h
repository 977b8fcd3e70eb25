/* The storage worker: one thread that makes every call on the shared
 * file, one job at a time, and wakes the event loop through an eventfd
 * when a job is done. A lock wait or a hung NFS server then blocks this
 * thread, never the loop, which bounds every job with its own timers. */
#ifndef UNDERSTUDY_WORKER_H
#define UNDERSTUDY_WORKER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "understudy/lockfile.h"

enum worker_op {
	WORKER_CLAIM_SLOT,  /* claim a free slot and write slot (res: index) */
	WORKER_WRITE_SLOT,  /* write slot at my_slot */
	WORKER_TRY_LIVE,    /* take the live lock now, or -EAGAIN */
	WORKER_WAIT_LIVE,   /* wait for the live lock; -EINTR when interrupted */
	WORKER_WAIT_BACKUP, /* wait for the backup lock; -EINTR when interrupted */
	WORKER_RELEASE_LIVE,
	WORKER_RELEASE_BACKUP,
	WORKER_WRITE_LIVE, /* status and live record */
	WORKER_WRITE_STATUS,
	WORKER_WRITE_REQUEST, /* request record and F */
	WORKER_CLEAR_REQUEST, /* L, if the request is still seq */
	WORKER_READ,          /* just read the view */
	WORKER_HEARTBEAT,     /* advance live's heartbeat if the record is still ours */
};

struct worker_job {
	enum worker_op op;
	/* in */
	int my_slot;
	char status;
	int64_t seq;    /* WORKER_CLEAR_REQUEST; WORKER_WRITE_LIVE: the request the decision saw, or -1 */
	bool want_view; /* read the view after a lock, a timed-out wait, a write */
	struct lf_live live;
	struct lf_slot slot;
	struct lf_request request;
	/* out */
	int res;
	bool have_view;
	struct lf_view view;
	bool target_alive;    /* the request's target slot is held (or is ours) */
	uint8_t target_state; /* and what it says it does */
	bool backup_waiting;  /* another open holds the backup lock */
};

struct worker {
	struct lockfile *lf;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct worker_job *job; /* submitted, not yet taken */
	bool running;           /* a job is being worked on */
	bool quit;
	int efd; /* written once per finished job */
	bool started;
	_Atomic bool granted; /* the current job's lock wait succeeded */
};

/* Start the thread. The caller keeps every signal blocked in its threads
 * (signalfd); the worker unblocks its wake-up signal only inside a wait. */
int worker_start(struct worker *w, struct lockfile *lf);
/* Hand a job over; the job stays the caller's memory and must not be
 * touched until the eventfd says it is done. */
void worker_submit(struct worker *w, struct worker_job *job);
/* Interrupt a lock wait in progress (it returns -EINTR); harmless at any
 * other time. The caller repeats it until the job is done, since a signal
 * that lands just before the wait is taken in vain. */
void worker_interrupt(struct worker *w);
/* Whether the current job's lock wait has been granted: what follows (a
 * read under the lock) is an ordinary storage call, to be bounded. */
bool worker_granted(struct worker *w);
/* Wait up to ms for the job in progress to end, cutting a lock wait:
 * true once the thread is idle. An exit or an exec kills a thread that is
 * still inside a call, and on FUSE that kill sends the daemon an
 * interrupt, which GlusterFS's client can deadlock on (doc/fencing.md); a
 * call left to return by itself sends none. */
bool worker_wait_idle(struct worker *w, int64_t ms);
/* Stop the thread if it is idle; a thread stuck on storage is left to die
 * with the process. */
void worker_stop(struct worker *w);

#endif
