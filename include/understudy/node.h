/* The node state machine: every decision a node makes, and nothing else.
 *
 * node_step() takes one event with the facts the loop gathered for it (a
 * view of the lock file, whether the hand-over target is alive, the time)
 * and answers with an ordered list of actions for the loop to carry out.
 * It makes no system call, so the tests drive it event by event, and the
 * one table in node.c is what doc/protocol.md describes. */
#ifndef UNDERSTUDY_NODE_H
#define UNDERSTUDY_NODE_H

#include <stdbool.h>
#include <stdint.h>

#include "understudy/lockfile.h"

enum node_state {
	NODE_JOINING,   /* claiming a slot; a primary then tries the live lock */
	NODE_QUEUED,    /* waiting for the backup lock */
	NODE_BACKUP,    /* holds the backup lock, waiting for the live lock */
	NODE_CLAIMING,  /* primary waiting for the live lock itself (maybe asking for failback) */
	NODE_VERIFYING, /* holds the live lock after a crash; waits out the takeover delay */
	NODE_STARTING,  /* holds the live lock; the workload starts (or restarts), not ready yet */
	NODE_LIVE,      /* holds the live lock; the workload is ready */
	NODE_STOPPING,  /* holds the live lock; the workload is being stopped */
	NODE_DONE,      /* exit code decided */
	NODE_NSTATES
};

enum node_event {
	NODE_EV_JOINED,       /* the slot is ours */
	NODE_EV_LOCKED,       /* the lock this state waits for is ours (view: file) */
	NODE_EV_BUSY,         /* not yet: a try failed or a wait timed out */
	NODE_EV_TICK,         /* periodic check while live, or a READ done (view: file) */
	NODE_EV_TIMER,        /* the timer the node asked for expired */
	NODE_EV_STARTED,      /* the workload's exec succeeded (SPAWN only forked it) */
	NODE_EV_SPAWN_FAILED, /* the workload could not be started at all: its fork or exec failed,
			       * and nothing of it is left */
	NODE_EV_EXITED,       /* the workload and every process of it are gone */
	NODE_EV_SHUTDOWN,     /* SIGTERM or SIGINT */
	NODE_EV_STORAGE_ERROR,
	NODE_EV_READY,        /* the workload said it serves (or its probe did), or it exec'd */
	NODE_EV_UNHEALTHY,    /* the workload stopped petting the watchdog it asked for */
	NODE_EV_REPLACED,     /* the lock file's path no longer names our file: deleted, renamed, replaced */
	NODE_EV_FENCE,        /* holding the live lock, no round completed within the fence timeout
			       * (a heartbeat; in VERIFYING a read): the storage may give the lock
			       * away (doc/fencing.md) */
	NODE_EV_STORAGE_HUNG, /* a storage call outlived --io-timeout, or the storage process died:
			       * no further call on the lock file can run */
	NODE_NEVENTS
};

enum node_action_kind {
	NODE_A_CLAIM_SLOT,  /* claim a slot, then NODE_EV_JOINED */
	NODE_A_SLOT_STATE,  /* arg: enum lf_slot_state | LF_SLOT_F_* << 8, written to our slot */
	NODE_A_TRY_LIVE,    /* take the live lock without waiting: LOCKED or BUSY */
	NODE_A_WAIT_LIVE,   /* wait for it, at most node_wait_bound: LOCKED or BUSY;
			     * arg 1: read the file if the wait times out */
	NODE_A_WAIT_BACKUP, /* wait for the backup lock, at most node_wait_bound, its tries
			     * paced by node_wait_pace; arg 1: the wait goes on after a
			     * cut, 0: the node has just joined the queue */
	NODE_A_RELEASE_LIVE,
	NODE_A_RELEASE_BACKUP,
	NODE_A_WRITE_LIVE,       /* status L and our live record (epoch node->epoch) */
	NODE_A_WRITE_STATUS,     /* arg: the status byte */
	NODE_A_REFUSE,           /* arg: a request's seq; write L unless a newer request came */
	NODE_A_REQUEST_FAILBACK, /* write a failback request naming us, and F */
	NODE_A_SPAWN,            /* fork the workload; its exec's outcome comes later: STARTED, or
				  * SPAWN_FAILED once its child is gone; EXITED whenever its tree is */
	NODE_A_STOP,             /* stop the workload's whole tree: EXITED (or SPAWN_FAILED);
				  * arg 1: SIGKILL at once (fenced, a second
				  * shutdown, or its exec still pending), else
				  * SIGTERM and SIGKILL after the stop timeout */
	NODE_A_FENCE_HOOK,       /* start the on-fence hook: after the SIGKILL, never before */
	NODE_A_READ,             /* read the file: TICK; arg 1: its completion is a round of
				  * the fence clock (VERIFYING, where the node writes nothing) */
	NODE_A_REPAIR,           /* mend what the live node owns in a damaged file (lockfile_repair) */
	NODE_A_TIMER,            /* arg: milliseconds until NODE_EV_TIMER */
	NODE_A_EXIT,             /* arg: the manager's exit status */
};

struct node_action {
	enum node_action_kind kind;
	int64_t arg;
	/* With WRITE_LIVE, WRITE_STATUS and RELEASE_LIVE: why the live role
	 * moves, for the group's history (enum lf_event_reason; 0: no entry).
	 * The executor writes the entry with the action, in the same job. */
	uint8_t note;
};

/* A bit per action kind, for node_event_data.unrun. */
#define NODE_ACTION_BIT(k) (1u << (unsigned)(k))

#define NODE_MAX_ACTIONS 8

struct node_out {
	struct node_action a[NODE_MAX_ACTIONS];
	int n;
	const char *why; /* the reason for the transition, for the log */
	bool loud;       /* a warning, not news */
};

enum node_restart { NODE_RESTART_ON_FAILURE, NODE_RESTART_ALWAYS, NODE_RESTART_NEVER };

enum node_stop_reason {
	NODE_STOP_NONE,
	NODE_STOP_SHUTDOWN, /* signal: pause the group (or fail over) and exit */
	NODE_STOP_HANDOVER, /* failback or switchover: release and queue again */
	NODE_STOP_GIVEUP,   /* restarts exhausted: leave L and exit non-zero */
	NODE_STOP_FINISHED, /* the workload exited 0 and should not be rerun */
};

struct node_config {
	enum lf_role role;
	bool allow_failback;
	bool failover_on_shutdown;
	enum node_restart restart;
	int max_restarts; /* within restart_window_ms */
	int64_t restart_window_ms;
	int64_t backoff_ms; /* first restart delay, doubled each time */
	int64_t backoff_max_ms;
	int64_t poll_ms;           /* re-check interval while standing by; the bound of a lock wait
				    * that watches the file (a primary asking for failback) */
	int64_t idle_look_ms;      /* the bound of a lock wait that watches nothing: a backup in
				    * line, a primary not asking (timeline.h: idle_look_ms) */
	int64_t queue_look_ms;     /* the bound of a wait for the backup lock (timeline.h:
				    * queue_look_ms) */
	int64_t queue_try_ms;      /* where lock waits are tries: the most a queued node's tries of
				    * the backup lock come apart (timeline.h: queue_try_ms) */
	int64_t takeover_delay_ms; /* after a crash, how long the old heartbeat must stay still */
	int64_t verify_read_ms;    /* VERIFYING: read the file this often (the heartbeat interval), so
				    * that the fence clock has rounds to count; 0: only after the wait */
	int64_t new_file_wait_ms;  /* before starting on a file whose live record was not written on it:
				    * time for a live node of a file that was at the path before to
				    * notice and fence (protocol.md §5.8) */
	int64_t ready_timeout_ms;  /* a workload not ready by then failed its start; 0: no limit */
};

/* Exit statuses the manager reports (sysexits.h). */
enum {
	NODE_EXIT_OK = 0,
	NODE_EXIT_WORKLOAD = 69, /* EX_UNAVAILABLE: workload failed for good */
	NODE_EXIT_IO = 74,       /* EX_IOERR: the shared file failed us */
	NODE_EXIT_CONFIG = 78,   /* EX_CONFIG: another alive node of the group has our name */
};

#define NODE_RESTART_HISTORY 64

struct node {
	struct node_config cfg;
	enum node_state state;
	enum node_stop_reason stop;
	int slot;
	bool holds_backup;
	bool shutdown;       /* a signal asked us to leave */
	bool want_failback;  /* a primary that found another live at start */
	bool handed_over;    /* handed the role over for handed_seq ... */
	uint64_t handed_seq; /* ... so it does not take that request back */
	bool standing_by;    /* said so once; quiet while it goes on */
	bool new_file;       /* VERIFYING (also) for a file the live record was not written on */
	bool seen_ok;        /* VERIFYING: the old live record as first read */
	uint64_t seen_heartbeat, seen_epoch;
	int64_t verify_until;                     /* VERIFYING: monotonic ms the wait ends */
	int64_t verify_read_at;                   /* VERIFYING: when the last READ was asked for */
	bool workload_running;                    /* spawned and not yet reported gone */
	bool exec_pending;                        /* spawned, and its exec has not returned yet */
	bool workload_failed;                     /* being stopped as failed: its exit is a failure */
	uint64_t epoch;                           /* ours while live */
	uint64_t max_epoch;                       /* the highest epoch any read has shown */
	bool damage_said;                         /* said once that the file is damaged */
	bool storage_lost;                        /* a call hangs, or the fence deadline passed: no
						   * storage action is ever emitted again */
	bool killed;                              /* STOP 1 went to the running workload */
	bool fenced;                              /* the on-fence hook was asked for: once a life */
	int64_t restart_at[NODE_RESTART_HISTORY]; /* monotonic ms of restarts */
	int nrestarts;
	int exit_code;
};

/* Facts the loop gathered for one event. */
struct node_event_data {
	enum node_event type;
	int64_t now_ms;             /* CLOCK_MONOTONIC */
	const struct lf_view *view; /* with LOCKED, TICK and (CLAIMING) BUSY */
	bool target_alive;          /* the request's target slot is held */
	uint8_t target_state;       /* that slot's state, if alive */
	bool backup_waiting;        /* another node holds the backup lock */
	bool foreign_record;        /* with the view: its live record was not written on this very file
				     * (none yet, a copy, a file moved in, an older node's: not
				     * lockfile_live_here) */
	int slot;                   /* with JOINED: the slot we claimed */
	bool name_taken;            /* with JOINED: another alive slot has our name */
	bool own_slot_bad;          /* our slot's record is not the one we wrote
				     * (with TICK, and BUSY while waiting) */
	int wstatus;                /* with EXITED: waitpid status of the main process */
	int err;                    /* with STORAGE_ERROR, STORAGE_HUNG and SPAWN_FAILED: errno */
	uint32_t unrun;             /* with STORAGE_ERROR, STORAGE_HUNG and FENCE: the actions of the
				     * list that the failing or hanging call cut short, never run
				     * (NODE_ACTION_BIT of each kind) */
};

/* Start a node in NODE_JOINING: the first action is to claim a slot. */
void node_init(struct node *n, const struct node_config *cfg, struct node_out *out);
/* New settings from a reload, in force from the next decision that reads
 * them (a timer already asked for runs out as asked); the role and
 * allow_failback stay as the node joined. No action: nothing in the state
 * changes, so nothing needs doing. */
void node_reconfigure(struct node *n, const struct node_config *cfg);
/* Feed one event; out receives the actions in the order to run them. */
void node_step(struct node *n, const struct node_event_data *ev, struct node_out *out);

/* What a live node does about the file as it now reads. Exposed for the
 * tests: the hand-over rules read best as a function of the view. */
enum node_verdict {
	NODE_BECOME_LIVE, /* take over: L, P for a primary, F for us or anyone, stale F */
	NODE_STAND_BY,    /* release the live lock, keep our place, look again later */
	NODE_YIELD,       /* release both locks and queue again: F names someone else */
};
enum node_verdict node_decide(const struct node *n, const struct node_event_data *ev);

/* Whether an action is a call on the lock file (the storage process
 * runs it), as opposed to one on processes, timers or the exit: after a
 * failed call the rest of its list is not run, and after a hung one the
 * node asks for none again. */
bool node_action_is_storage(enum node_action_kind k);

/* How long the loop lets a lock wait (WAIT_LIVE, WAIT_BACKUP) block
 * before it cuts it and the node hears BUSY: a node that watches the
 * file for something (its failback request) looks every poll interval; a
 * node that only waits needs no look while the storage wakes it, and is
 * cut after the idle look. */
int64_t node_wait_bound(const struct node *n, const struct node_action *a);
/* Where lock waits are tries (off a local file system): the pause before
 * the second try, doubled after each until it reaches *max_ms. Only the
 * node next in line watches the live lock closely; one queued behind it
 * backs off, from the moment it joins the queue, to queue_try_ms, and a
 * wait that goes on after a cut starts there. */
void node_wait_pace(const struct node *n, const struct node_action *a, int64_t *first_ms, int64_t *max_ms);

/* What the loop may know of a node, and nothing more: it never reads the
 * struct's fields, so the table alone decides what they mean. */
/* The state now: for the log line, the hooks, STATUS= and the health. */
enum node_state node_current(const struct node *n);
/* The slot claimed (-1 before JOINED): the records the loop writes name it. */
int node_slot(const struct node *n);
/* This term's epoch (0 before the first): the live record and the slot's copy. */
uint64_t node_epoch(const struct node *n);
/* Its own term's epoch while live, else the highest any read showed. */
uint64_t node_epoch_seen(const struct node *n);
/* VERIFYING for a file whose live record was not written on it (§5.8):
 * STATUS= says what the wait is for. */
bool node_new_file(const struct node *n);
/* Stopping for a failback or switchover, not a shutdown or fence: on-failback. */
bool node_handing_over(const struct node *n);
/* The node fenced in this life: it says so with on-fence, not on-stop. */
bool node_fenced(const struct node *n);
/* The loop runs the fence clock (doc/fencing.md): the node holds the live
 * lock, in VERIFYING too, where the storage could give it away unseen
 * while the node waits; a FENCE is then the node's to answer. */
bool node_fence_clock(const struct node *n);
/* DONE: the manager's exit status. */
int node_exit_code(const struct node *n);
/* A signal asked it to leave: a node that then loses its storage exits, it
 * does not join again. */
bool node_asked_to_leave(const struct node *n);

const char *node_state_name(enum node_state s);
const char *node_event_name(enum node_event e);
/* The state a node publishes in its slot for a machine state, and its
 * flags (LF_SLOT_F_*). */
enum lf_slot_state node_slot_state(enum node_state s);
uint8_t node_slot_flags(enum node_state s);

#endif
