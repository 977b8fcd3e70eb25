/* Every timeout of a node, derived in one place from the settings, and the
 * relations between them that keep one workload live.
 *
 * What the defaults give, second by second (C check interval 500 ms, H
 * heartbeat interval 1 s, poll interval 500 ms, F fence timeout 10 s, D
 * the takeover delay, auto: 0 on a local file system, F + 2H = 12 s on a
 * networked one). L is how long the storage takes to give a silent host's
 * lock away (NFSv4: the lease, 90 s; GlusterFS: the brick's TCP timeouts;
 * CephFS: the eviction, 300 s), P how long its client takes to give up
 * I/O that cannot reach the server (GlusterFS: network.ping-timeout).
 * Neither is a setting of understudy: doc/fencing.md has them per storage.
 *
 * A crash: the live host loses power, on networked storage.
 *
 *   0 s              the host stops, its workload with it; the live node's
 *                    heartbeat stands still from here.
 *   L                the server gives the live lock away.
 *   L + 0.5 s        at the latest: a waiting backup's next try (its lock
 *                    wait is cut and tried again every poll interval) gets
 *                    the lock, reads status L and the heartbeat, and holds
 *                    the lock in VERIFYING.
 *   L + 12 s         at the earliest, L + 12.5 s at the latest: the
 *                    heartbeat stood still for D = 12 s, longer than a
 *                    live node leaves it (H + C = 1.5 s); the backup
 *                    starts the workload.
 *
 *   + 5 s            at the latest, a node queued behind the backup (a
 *                    third node) holds the backup lock the takeover freed:
 *                    it is not next in line, and tries every queue try
 *                    (10 polls) once it has waited a while.
 *
 *   No workload for L + 12 s to L + 12.5 s. The new live node crashing
 *   before the queued node is in line is taken over up to the queue try
 *   (5 s) later than that. A manager killed alone
 *   (SIGKILL) is the same with L = 0: its workload dies with it and the
 *   lock is free once the last process has closed the file. On a local
 *   file system the kernel frees the lock then too, the backup's lock
 *   wait returns at once and D is 0: the gap is the time to start.
 *
 * A partition: the live host is cut off from the storage and keeps
 * running.
 *
 *   -1.5 s .. 0 s    its last heartbeat round completes: one every H, on
 *                    the first check at or after it, so at most H + C
 *                    apart.
 *   0.5 s            at the latest, its next check (every C) hangs, or
 *                    fails: a failure fences at once.
 *   8.5 s .. 10 s    no round has completed for F: SIGKILL to the
 *                    workload's whole tree, then the on-fence hook. A
 *                    unit's watchdog (WatchdogSec=, 15 s in ours) got its
 *                    last pet after the last round; it must exceed F, or
 *                    systemd kills the node first, without the hook.
 *   10 s + P         at the latest, the workload is gone: a dying process
 *                    flushes its open files, which waits until the client
 *                    gives up.
 *   L                the server gives the lock away; a backup holds it by
 *                    L + 0.5 s.
 *   L + 12 s         at the earliest, the backup starts.
 *
 *   Safe when L + D > F + P: L + 12 s > 10 s + P, a margin of L - P + 2 s,
 *   so with auto any storage whose server waits at least as long as its
 *   client (L >= P). The group is without a workload from the fence (8.5
 *   to 10 s after the cut) until L + 12 s .. L + 12.5 s.
 *
 * A stalled manager (SIGSTOP, a debugger) whose workload runs: its storage
 * process, which the stop does not reach, kills the workload's tree when
 * no round has completed for F + C = 10.5 s (C after the loop's own fence,
 * so a loop that runs fences first), or when the loop has not looked at
 * the path for 2C = 1 s and the path names another file, or none
 * (doc/fencing.md, "A stalled manager").
 *
 * Other figures at the defaults: a node that starts on a file not written
 * on as this one waits the new-file wait max(3C, D), 1.5 s on a local file
 * system (2C for the old live, or its storage process, to look, C for the
 * kill) and 12 s on a networked one (protocol.md §5.8); a storage call
 * that is not a lock wait and takes longer than the io timeout (30 s)
 * means hung storage; a workload asked to stop gets SIGKILL after the stop
 * timeout (10 s); the manager pets a unit's watchdog every half
 * WatchdogSec=, while live only for a new completed round.
 *
 * Nothing here reads a clock or makes a system call; timeline_print
 * only writes to the stream it is given. */
#ifndef UNDERSTUDY_TIMELINE_H
#define UNDERSTUDY_TIMELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* A waiting node on a local file system looks at its own slot record and
 * the path at least this often (struct timeline, idle_look_ms). */
#define TIMELINE_IDLE_LOOK_MS 60000
/* Off a local file system, a node queued behind the backup tries the
 * backup lock at least every this many poll intervals, and looks at its
 * slot and the path every TIMELINE_QUEUE_LOOKS (struct timeline). */
#define TIMELINE_QUEUE_TRIES 10
#define TIMELINE_QUEUE_LOOKS 60
/* On a local file system a write to the lock file by another process of
 * the host (a request) brings the live node's next read forward, to this
 * long after its last round at the earliest: a hand-over waits for the
 * write and not for the check interval, and a process that writes without
 * pause costs the live node one read this often, 100 a second, at most. */
#define TIMELINE_WRITE_LOOK_GAP_MS 10
/* A storage process whose manager is gone lets go of the lock file at
 * once and exits this much later: its exit's teardown of its memory (a
 * quarter of a millisecond, not preempted in the kernel) then does not
 * hold up a CPU while the next live node on this host takes over, which
 * takes about a millisecond. */
#define TIMELINE_LET_GO_EXIT_MS 20
/* The storage process hands the manager a copy of the open, for a
 * workload's start, from a thread that makes no other call: it answers at
 * once, and one that has not in this long is stopped or gone. The start
 * then fails, and the restart policy takes it. */
#define TIMELINE_LEND_MS 100
/* What the storage process's watch on the manager's death asks of the
 * scheduler (sched_setattr's slice, in microseconds): a thread with a
 * slice shorter than the one running on its CPU preempts it when it wakes
 * (Linux 6.12 and later), and the manager's own exit, tearing down its
 * memory, would otherwise hold that CPU for a quarter of a millisecond
 * before the watch could let go of the open. */
#define TIMELINE_DEATH_SLICE_US 100

/* The settings a timeline is derived from, in milliseconds. */
enum timeline_setting {
	TIMELINE_CHECK,
	TIMELINE_HEARTBEAT,
	TIMELINE_POLL,
	TIMELINE_IO,
	TIMELINE_FENCE,
	TIMELINE_STOP,
	TIMELINE_TAKEOVER,
	TIMELINE_WATCHDOG, /* the service manager's (WatchdogSec=), not the workload's */
	TIMELINE_NSETTINGS
};

struct timeline_settings {
	int64_t check_ms;          /* C: the live node reads the file */
	int64_t heartbeat_ms;      /* H: the live node advances its heartbeat */
	int64_t poll_ms;           /* a waiting node looks again; a lock wait is cut */
	int64_t io_timeout_ms;     /* a storage call, not a lock wait, taking longer: hung */
	int64_t fence_timeout_ms;  /* F: no completed round for this long: fence */
	int64_t stop_timeout_ms;   /* SIGTERM to SIGKILL */
	int64_t takeover_delay_ms; /* D; -1: auto */
	int64_t watchdog_ms;       /* WatchdogSec= of the unit; 0: none or unknown */
	int64_t lease_ms;          /* L, from the storage; -1: unknown */
	int64_t giveup_ms;         /* P, from the storage's client; -1: unknown */
};

/* What the lock file is on: the takeover delay auto depends on it. */
enum timeline_fs { TIMELINE_LOCAL, TIMELINE_NETWORKED, TIMELINE_FS_UNKNOWN };

/* Every figure a node runs by, in milliseconds. Where a figure depends on
 * the file system, [TIMELINE_LOCAL] and [TIMELINE_NETWORKED]. */
struct timeline {
	struct timeline_settings in;
	int64_t lock_wait_cut_ms; /* a lock wait that watches the file is cut and tried again after
				   * this: the poll interval */
	/* A wait that watches nothing (a backup in line, a primary not asking
	 * for failback) is cut after this unless something cut it before:
	 * on a local file system TIMELINE_IDLE_LOOK_MS (the kernel wakes the
	 * waiter when the lock is free, and inotify cuts the wait when the
	 * path changes: the cut is only a net for its own slot record and a
	 * missed event); on a networked one the poll interval (a server may
	 * never wake a waiter, protocol.md §4.3). */
	int64_t idle_look_ms[2];
	/* A node queued for the backup lock (a second backup and beyond) is
	 * not the next to take over: only the node holding the backup lock
	 * watches the live lock closely. Off a local file system its tries
	 * of the backup lock come LF_LOCK_RETRY_MS apart when it joins the
	 * queue, doubling up to queue_try_ms (TIMELINE_QUEUE_TRIES polls),
	 * and its wait is cut to look at its slot and the path every
	 * queue_look_ms[NETWORKED] (TIMELINE_QUEUE_LOOKS polls); on a local
	 * one the wait blocks and the look is the idle look. What it costs:
	 * after the backup took over, the next backup holds the backup lock
	 * up to queue_try_ms later, and a live node that dies within that
	 * time is taken over that much later. */
	int64_t queue_try_ms;
	int64_t queue_look_ms[2];
	int64_t io_bound_ms;        /* a storage call that is no lock wait: hung after this */
	int64_t fence_ms;           /* after the last completed round, SIGKILL by then */
	int64_t stall_fence_ms;     /* the loop stalled: its storage process SIGKILLs after this (F + C) */
	int64_t stall_look_ms;      /* the loop stalled: its storage process looks at the path after this (2C) */
	int64_t stop_kill_ms;       /* after SIGTERM, SIGKILL to the workload's tree */
	int64_t heartbeat_still_ms; /* the longest a live node's heartbeat stands still: H + C */
	int64_t takeover_delay_ms[2];
	int64_t new_file_wait_ms[2];
	int64_t watchdog_pet_ms;   /* half the unit's watchdog; 0: none */
	int64_t watchdog_above_ms; /* the unit's watchdog must exceed this: F */
	/* A crash: from the moment the lock is free (L after the crash on
	 * networked storage, at once on a local one), the backup starts
	 * between start_min and start_max later. */
	int64_t crash_start_min_ms[2];
	int64_t crash_start_max_ms[2];
	/* A partition, from the cut: the fence comes between fence_min and
	 * F; the workload is gone by F + P; the backup starts no sooner than
	 * L + D. margin = L + D - F - P, which must be above 0; with L or P
	 * unknown, margin_known is false and margin_ms is D - F, the margin
	 * when L = P. */
	int64_t partition_fence_min_ms;
	int64_t partition_gone_ms;  /* -1: P unknown */
	int64_t partition_start_ms; /* -1: L unknown */
	int64_t margin_ms;
	bool margin_known;
};

/* The relations a timeline must keep (refused) or should keep (said). */
enum timeline_relation {
	TIMELINE_OK,
	/* refused */
	TIMELINE_CHECK_OVER_HEARTBEAT, /* C > H */
	TIMELINE_FENCE_UNDER_TWO_HEARTBEATS,
	/* said, not refused: a site may know better */
	TIMELINE_TAKEOVER_SHORT,  /* networked, given D < F + 2H */
	TIMELINE_WATCHDOG_SHORT,  /* WatchdogSec= <= F */
	TIMELINE_MARGIN_NEGATIVE, /* L + D <= F + P, both known */
};

struct timeline_fault {
	enum timeline_relation rel;
	enum timeline_setting a, b; /* the settings it names, first the one to change */
};

/* The defaults of the settings above, one table for config, check-storage
 * and the docs' figures: L and P unknown, no watchdog. */
void timeline_defaults(struct timeline_settings *s);
/* Every figure from the settings; the settings need not keep their
 * relations (a caller checks first), but must be at least 1 ms where they
 * are durations. */
void timeline_derive(const struct timeline_settings *s, struct timeline *t);
/* The takeover delay and the new-file wait the node runs with on this
 * file system: what auto resolves to, or what was given. */
int64_t timeline_takeover_delay(const struct timeline *t, bool local);
int64_t timeline_new_file_wait(const struct timeline *t, bool local);
int64_t timeline_idle_look(const struct timeline *t, bool local);
/* How long a node queued for the backup lock lets its wait run before it
 * looks at its slot and the path. */
int64_t timeline_queue_look(const struct timeline *t, bool local);
/* Seen from another process, which knows only the heartbeat interval a
 * live record carries (not its node's check interval): the longest a
 * healthy live node leaves its heartbeat still, H + C with C <= H, so 2H.
 * status and the health endpoint call a heartbeat stale past it. */
int64_t timeline_still_seen_ms(int64_t heartbeat_ms);
/* How long `status` watches a heartbeat to see it move: one and a half
 * intervals (H + C at the defaults), at most 15 s. */
int64_t timeline_watch_ms(int64_t heartbeat_ms);
/* The first relation the settings break that is refused; TIMELINE_OK
 * (0) when none. */
enum timeline_relation timeline_check(const struct timeline_settings *s, struct timeline_fault *f);
/* The relations kept only by a site's own knowledge (a short takeover
 * delay on storage that gives locks away late), into out[max]: how many.
 * fs: TIMELINE_FS_UNKNOWN when not known
 * (as --check, which opens nothing). */
size_t timeline_warnings(const struct timeline_settings *s, enum timeline_fs fs, struct timeline_fault *out,
			 size_t max);
/* The message for a fault, naming each setting by names[setting] (how
 * the operator gave it: "--fence-timeout", "FILE:9: [fencing]
 * fence-timeout"); a NULL names, or a NULL entry, is its long option. */
void timeline_explain(const struct timeline_fault *f, const struct timeline_settings *s, const char *const *names,
		      char *why, size_t n);
/* The derived figures, one "derived.NAME = VALUE" line each, as `run
 * --check` prints them after the settings (understudy(8)). */
void timeline_print(const struct timeline *t, FILE *f);

#endif
