/* The storage worker: one process that makes every call on the shared
 * file, one job at a time, on the manager's own open of it (passed over
 * a socket: the same open file description, so the same OFD locks),
 * and wakes the event loop through an eventfd when a job is done. A lock
 * wait or a hung server then blocks that process, never the loop, which
 * bounds every job with its own timers. A process and not a thread: a
 * thread of the manager inside a FUSE call is interrupted by any fatal
 * signal or stop of the manager, and by its exit or exec, which GlusterFS's
 * client can deadlock on, after which the manager can never finish
 * exiting (doc/fencing.md). Nothing signals this process but the manager,
 * and only in a lock wait's pause, and the kernel at the manager's death;
 * it leads a process group of its own, so a signal to the manager's group
 * misses it. The manager can exit, or be killed, whatever the process is
 * waiting for; the process then SIGKILLs a workload its manager left
 * running and lets go of the file: on a local file system a thread of its
 * own does both as the manager's main thread begins to exit (a robust
 * mutex the kernel hands on), whatever call the process is in; the
 * socket's end does it again later, and is the only way elsewhere.
 *
 * It runs the live node's rounds too (struct worker_rounds), on its own
 * clock, and wakes the loop only for what the loop has not seen.
 *
 * Since a stop of the manager (SIGSTOP, a debugger, a stall) does not stop
 * this process, it also keeps the live node's two promises when the loop
 * cannot (the guard, doc/fencing.md "A stalled manager"): while the loop
 * has it armed, it SIGKILLs the workload's whole tree when no heartbeat
 * round has completed, or the loop has not run when it was due (or when a
 * round's news waited for it), for the fence timeout plus a check
 * interval; or when the rounds have not looked at the lock file's path for
 * two check intervals and the path names another file, or none. Neither
 * costs a wake-up while the rounds run and the loop runs when due. A
 * process stuck in a call cannot act; the loop's own io-timeout fence
 * covers that, unless the manager is stopped too. */
#ifndef UNDERSTUDY_WORKER_H
#define UNDERSTUDY_WORKER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "understudy/lockfile.h"

enum worker_op {
	WORKER_CLAIM_SLOT,  /* claim a free slot and write slot (res: index) */
	WORKER_WRITE_SLOT,  /* write slot at my_slot */
	WORKER_TRY_LIVE,    /* take the live lock now, or -EAGAIN */
	WORKER_WAIT_LIVE,   /* wait for the live lock; -EINTR when interrupted */
	WORKER_WAIT_BACKUP, /* wait for the backup lock; -EINTR when interrupted */
	WORKER_RELEASE_LIVE,
	WORKER_RELEASE_BACKUP,
	WORKER_WRITE_LIVE, /* status and live record; then the history entry, if noted */
	WORKER_WRITE_STATUS,
	WORKER_WRITE_REQUEST, /* request record and F */
	WORKER_CLEAR_REQUEST, /* L, if the request is still seq */
	WORKER_READ,          /* just read the view */
	WORKER_HEARTBEAT,     /* advance live's heartbeat if the record is still ours */
	WORKER_REPAIR,        /* mend what the live node owns (res: LF_FIX_* or -errno) */
};

struct worker_job {
	enum worker_op op;
	/* in */
	int my_slot;
	char status;
	int64_t seq;    /* WORKER_CLEAR_REQUEST; WORKER_WRITE_LIVE: the request the decision saw, or -1 */
	bool want_view; /* read the view after a lock, a timed-out wait, a write */
	bool holder;    /* WORKER_READ: a round of the live lock's holder (lockfile_read_held) */
	struct lf_live live;
	struct lf_slot slot;
	struct lf_request request;
	uint8_t my_id[LF_ID_SIZE];   /* WAIT_*, and every read: to know our slot */
	int64_t pace_first_ms;       /* WAIT_*: the pace of tries where waits are tries */
	int64_t pace_max_ms;         /* (lockfile_lock_paced; node_wait_pace) */
	bool has_prev_id;            /* WORKER_CLAIM_SLOT: the node this process was */
	uint8_t prev_id[LF_ID_SIZE]; /* before a rejoin, whose slot may linger */
	/* WRITE_LIVE, WRITE_STATUS, RELEASE_LIVE: an entry of the group's
	 * history to add with the write (enum lf_event_reason; 0: none). A
	 * hand-over's entry gets its target from the request in the file. */
	uint8_t note;
	struct lf_event event;
	/* out */
	int res;
	int note_res;  /* how the history entry's write went: 0, 1 not written (a damaged file), -errno */
	bool replaced; /* the path no longer names our file (lockfile_still_at_path) */
	/* WORKER_HEARTBEAT written and the path still ours: CLOCK_MONOTONIC
	 * ms just before the path was looked at, 0 otherwise. The round's
	 * time for the loop's fence and for the guard alike, taken before the
	 * look, so that a file replaced after it is never covered by it. */
	int64_t round_ms;
	bool have_view;
	struct lf_view view;
	bool live_here;       /* the view's live record was written on this very file */
	bool target_alive;    /* the request's target slot is held (or is ours) */
	uint8_t target_state; /* and what it says it does */
	bool backup_waiting;  /* another open holds the backup lock */
	bool own_slot_bad;    /* our slot's record is not ours (a file of full length) */
	int64_t granted_ms;   /* TRY_LIVE, WAIT_LIVE: when the live lock was granted (clock_ms, one
			       * clock for both processes), else 0: the fence clock starts there */
	int name_slot;        /* WORKER_CLAIM_SLOT: an alive slot with our name, or -1 */
	uint32_t name_pid;    /* and the pid its record gives */
};

/* The guard: the fence of a stalled manager, carried out by the storage
 * process. The loop arms it when the node takes the role, before the
 * workload exists, and disarms it when the node leaves the role or fences
 * by itself; the storage process moves round_ms on each completed round
 * and fires at most once per arming. */
struct worker_guard {
	_Atomic bool armed;
	_Atomic bool fired;          /* the storage process killed the tree */
	_Atomic int64_t round_ms;    /* the last completed round, or the last look before the role */
	_Atomic int64_t loop_due_ms; /* the loop runs again by then (worker_guard_loop_due) */
	_Atomic int64_t looked_ms;   /* the last look at the path that found our file (before it) */
	_Atomic int64_t fence_ms;    /* no round for this long: kill (F + C) */
	_Atomic int64_t look_ms;     /* no look for this long: look, and kill if replaced (2C) */
	_Atomic int64_t fired_after; /* how long after the round or the look it fired */
	_Atomic bool fired_replaced; /* fired for the path, not for the fence */
};

/* The live node's rounds (protocol.md §5.3), which the storage process
 * runs on its own clock while the loop has them on: a heartbeat every
 * heartbeat interval and a read every check interval, each with its look
 * at the path, between jobs. A round wakes the loop only when it found
 * something the loop has not seen: a failed call, the path replaced, or
 * anything in the view or its facts but our own heartbeat; and after the
 * loop asked (report), whatever it found. The node then decides on every
 * change and never twice on one, and a healthy live node wakes nobody but
 * this process, once a round. The loop turns rounds off before any job
 * that must not have a round before it (the live lock's release), and
 * takes a report only from rounds of the current turn (gen). */
struct worker_rounds {
	_Atomic bool on;
	_Atomic unsigned gen; /* +1 each time the loop turns them on */
	_Atomic bool report;  /* the next round goes to the loop, whatever it finds */
	/* The node holds the role (set by the loop as it settles): only then
	 * does the storage process watch the file for writes, so that an
	 * inotify instance (fs.inotify.max_user_instances, 128 a user by
	 * default) is spent on it only by live nodes. */
	_Atomic bool holding;
	_Atomic int64_t check_at, heartbeat_at; /* when the next read and heartbeat are due */
	_Atomic int64_t check_ms, heartbeat_ms, io_timeout_ms;
	_Atomic uint64_t heartbeat; /* the heartbeat last written or being written: both
				     * processes take the next with a fetch-add */
	struct worker_job tmpl;     /* the round's job: my_slot, my_id, live (set while off) */
	_Atomic unsigned tmpl_seq;  /* odd while the loop writes tmpl: a copy that saw it change is not used */
	_Atomic int64_t round_ms;   /* the last completed heartbeat round (job.round_ms) */
	_Atomic int64_t started_ms; /* a round's calls are in progress since then; 0: none */
	_Atomic bool hung;          /* a round's call outlived io_timeout_ms (said to the loop) */
	_Atomic bool news;          /* `done` holds a round for the loop (cleared by it) */
	_Atomic int64_t news_ms;    /* since when */
	struct worker_job done;
	unsigned done_gen;
	/* Where the process counts the rounds' calls (the loop's metrics,
	 * shared when the caller mapped them so), or NULL. */
	void (*count_call)(void *ctx, enum worker_op op, int64_t us);
	void *count_ctx;
};

/* Shared between the manager and the storage process. */
struct worker_shared {
	struct worker_job job; /* the job in progress: the process's copy */
	_Atomic bool running;  /* submitted and not done */
	_Atomic bool granted;  /* the current job's lock wait succeeded */
	struct worker_guard guard;
	struct worker_rounds rounds;
	/* The workload's main process, or 0 (worker_workload). */
	_Atomic pid_t workload;
	/* Robust and shared, held by the manager's main thread for its whole
	 * life (worker_spawn): the storage process's watch on its death. */
	pthread_mutex_t alive;
	bool alive_ok; /* set up and held */
	/* The storage process's lender runs (worker_lends), set before its
	 * first job. */
	_Atomic bool lending;
	/* The manager's open of the file, as worker_attach hands it over
	 * (the descriptor itself comes on the socket), and its path. */
	struct lockfile lf;
	char path[4096];
};

struct worker {
	struct lockfile *lf;
	pid_t pid;     /* the storage process, once spawned */
	int req;       /* a socket: the file first, then one byte per job; closed, the process ends */
	int lend;      /* a socket: a copy of the open back for each request (worker_lend) */
	int efd;       /* written once per finished job */
	pid_t manager; /* whose children the guard kills */
	bool started;  /* spawned and given the file: jobs may come */
	struct worker_shared *sh;
};

/* Fork the storage process, which waits for its file. Call it from the
 * main thread, which must live as long as the manager (its end is the
 * manager's death to the storage process), while the manager has one
 * thread: the process goes on to allocate, log and start
 * a thread, and a process forked from a threaded one inherits every lock
 * (an allocator's, stdio's) that another thread held at that moment, held
 * forever. (Found in the sanitize build: a node with --http whose storage
 * process hung in its first allocation, before its first job.) The
 * process unblocks its wake-up signal only in the pause of a lock wait. */
int worker_spawn(struct worker *w);
/* Hand the spawned process the manager's open of the file (the same open
 * file description, so the same OFD locks): jobs may come from now on.
 * The caller keeps every signal blocked in its threads (signalfd). */
int worker_attach(struct worker *w, struct lockfile *lf);
/* Hand a job over (copied); its results come back with worker_collect
 * once the eventfd says it is done. */
void worker_submit(struct worker *w, struct worker_job *job);
/* A copy of the open (a descriptor, close-on-exec) from the storage
 * process, or -errno (-ETIMEDOUT after ms); on a local file system only
 * (-ENOTCONN elsewhere, where a close is a call on the storage and the
 * manager keeps its copy). The manager holds none of its own there while
 * a workload runs: its exit closes files only after tearing
 * down its memory, and a copy of ours would hold the live lock that much
 * after our death. So it closes its copy once a workload's start has one,
 * and asks for one here before the next start. A thread of the storage
 * process that makes no call on the file answers, at once. */
int worker_lend(struct worker *w, int64_t ms);
/* Whether worker_lend can give copies: a local file system, and the
 * storage process's lender thread runs. Without it the manager keeps its
 * own copy, as it does elsewhere. */
bool worker_lends(const struct worker *w);
/* Copy the finished job, with its results, back into job. */
void worker_collect(struct worker *w, struct worker_job *job);
/* Interrupt a lock wait in progress (it returns -EINTR); harmless at any
 * other time. The caller repeats it until the job is done, since a signal
 * that lands just before the wait is taken in vain. */
void worker_interrupt(struct worker *w);
/* Whether the current job's lock wait has been granted: what follows (a
 * read under the lock) is an ordinary storage call, to be bounded. */
bool worker_granted(struct worker *w);
/* Wait up to ms for the job in progress to end, cutting a lock wait:
 * true once the process is idle. Used before an exit or an exec, so that
 * what the manager leaves behind is an idle process, which ends on its
 * own at once, not one in a wait that would hold its locks. */
bool worker_wait_idle(struct worker *w, int64_t ms);
/* Arm the guard as the node takes the live role (no job may be running):
 * its first round counts from the last look at the path that found our
 * file, at most now. fence_ms: F + C; look_ms: 2C (timeline.h). */
void worker_guard_arm(struct worker *w, int64_t fence_ms, int64_t look_ms);
/* The loop runs again by due at the latest: now, as it wakes, or its next
 * deadline, as it goes to wait. The rounds run in the storage process and
 * go on while the loop is stopped, so the guard's fence counts from the
 * oldest of the last round, this, and a round's news the loop has not
 * taken: a loop that sleeps with nothing to do is no stall, one that does
 * not run when it is due, or when news waits for it, is. */
void worker_guard_loop_due(struct worker *w, int64_t due);
/* The node left the role, or fences by itself: the guard stands down. */
void worker_guard_disarm(struct worker *w);
/* Whether the storage process killed the workload's tree since the guard
 * was armed: the loop, running again, must fence (never restart it). */
bool worker_guard_fired(const struct worker *w);
/* Turn the live node's rounds on (no job may be running a round's
 * release): what they write and read is in sh->rounds.tmpl and the
 * schedule in check_at and heartbeat_at; report: the first round goes to
 * the loop whatever it finds. Returns the turn's gen. */
unsigned worker_rounds_on(struct worker *w, bool report);
/* Turn them off: no round starts after this returns, though one that
 * started may still finish and report (with the old gen). */
void worker_rounds_off(struct worker *w);
/* A round the loop is to see: copied into job, true; false if none. */
bool worker_round_take(struct worker *w, struct worker_job *job, unsigned *gen);

/* The workload's main process (0: none, or about to be reaped): the
 * storage process SIGKILLs it when the manager dies, at the first of the
 * manager's threads to end, as PR_SET_PDEATHSIG does at the spawner's.
 * Withdraw a pid before reaping (supervise_reap), so that it never names
 * a process that is gone: the storage process takes a pid only while it
 * is still published once it has a pidfd for it. */
void worker_workload(struct worker *w, pid_t pid);

/* The storage process was reaped (it died): nothing runs any more. */
void worker_reaped(struct worker *w);
/* Let the storage process go (one spawned and never given the file too):
 * once its call in progress returns, or at once if idle, it closes its
 * copy of the open and ends (TIMELINE_LET_GO_EXIT_MS later). may_kill
 * (a local file system, where killing a call costs nothing) ends it at
 * once, whatever it is doing: waiting for a lock, in a round's call, or
 * stopped by someone, holding our open's locks. */
void worker_stop(struct worker *w, bool may_kill);

#endif
