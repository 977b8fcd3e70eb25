/* The node's event loop. Everything arrives on one io_uring and goes to
 * node_step(); its actions are carried out here, in order, storage ones
 * in the storage process (worker.h), one at a time. The loop measures
 * deadlines and reports them as events; it decides nothing the node's
 * table could (node.h). What the workload says of its readiness is
 * readiness.c's to hear, what people see of the node observe.c's. */
#include "understudy/loop.h"

#include <errno.h>
#include <liburing.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>
#include <poll.h>
#include <sys/vfs.h>
#include <sys/wait.h>

#include "understudy/clock.h"
#include "understudy/hook.h"
#include "understudy/host.h"
#include "understudy/log.h"
#include "understudy/notify.h"
#include "understudy/observe.h"
#include "understudy/readiness.h"
#include "understudy/spawn.h"
#include "understudy/supervise.h"
#include "understudy/sysexit.h"
#include "understudy/timeline.h"
#include "understudy/watch.h"
#include "understudy/worker.h"

extern char **environ;

/* The low byte of a ring request's user data; readiness has its own. */
enum { TAG_SIGNAL = 1, TAG_WORKER = 2, TAG_PIDFD = 3, TAG_EXEC = 4, TAG_WATCH = 5 };
#define TAG(kind, gen) ((uint64_t)(kind) | (uint64_t)(gen) << 8)
#define QUEUE_LEN 16

struct pending {
	struct node_event_data ev;
	unsigned timer_gen; /* TIMER: which arming it answers */
	int64_t granted_ms; /* LOCKED of the live lock: when it was granted */
	bool has_view;
	struct lf_view view;
};

struct loop {
	const struct loop_config *cfg;
	struct io_uring ring;
	int sfd;
	struct signalfd_siginfo si;
	uint64_t efd_count;
	struct lockfile lf;
	struct worker worker;
	struct worker_job job;
	bool job_pending, job_is_tick;
	bool job_is_round; /* its completion is a round of the fence clock */
	bool storage_hung; /* a job was given up on (or the storage process died): none can run */
	bool fenced;       /* the fence deadline passed; told once */
	bool shutdown_fed; /* the node has had a SHUTDOWN: a next one is answered at once */
	int64_t spawned_at;
	struct readiness rd;
	struct observe obs;
	struct metrics own_metrics, *metrics; /* cfg's, or our own when nobody reads them */
	int64_t job_submitted_ns;
	unsigned timer_gen;
	struct node node;
	struct node_out out;
	int cursor;
	struct pending queue[QUEUE_LEN];
	int qhead, qlen;
	struct pending current;
	struct workload wl;
	bool wl_active;
	unsigned pidfd_gen;
	/* The workload's exec, between its fork and the outcome on its pipe
	 * (supervise.h): it may never return, so it is waited for on the
	 * ring, never here. */
	int exec_fd;     /* the pipe's read end, -1 when no exec is pending */
	int exec_err;    /* what the ring read from it */
	int exec_failed; /* the errno of a failed exec, told once the child is reaped */
	bool exec_gone;  /* the tree was reaped before the outcome came */
	unsigned exec_gen;
	/* Deadlines on CLOCK_MONOTONIC in ms; 0 when not set. */
	int64_t timer_at, kill_at, interrupt_at, job_deadline;
	int64_t exec_slow_at;                  /* the workload's exec is pending: say so by then */
	int64_t last_round;                    /* the last round that completed: a heartbeat; in VERIFYING a read */
	int64_t guard_fence_ms, guard_look_ms; /* the storage process's guard (worker.h, timeline.h) */
	int64_t watchdog_ms, watchdog_at, last_pet_round;
	struct node_config node_cfg; /* with the takeover delay resolved */
	int local;                   /* lockfile_is_local at start: 1 local, else networked or unknown */
	struct watch watch;          /* the path, on a local file system (watch.h); fd -1 without */
	int64_t wait_ms;             /* the lock wait in progress is cut after this (node_wait_bound) */
	uint8_t id[LF_ID_SIZE];
	uint8_t host[LF_ID_SIZE]; /* this host's machine id, zero if unknown (host.h) */
	int name_slot;            /* JOINED: the alive slot with our name, or -1 */
	uint32_t repair_size;     /* the file's length as the check before a repair read it */
	uint32_t name_pid;
	uint64_t slot_seq;
	/* The live node's rounds, which the storage process runs (worker.h):
	 * on while the node holds the role and the loop has nothing under
	 * way; a report is taken only from rounds of the current turn. */
	bool rounds_on;
	unsigned rounds_gen;
	struct worker_job round;
	char *exe;
	char **envp;
	char **hook_envp; /* PATH and the UNDERSTUDY_ variables only */
	bool done, stopping_sent;
	/* SIGTERM or SIGINT came, whatever the node did with it: one that
	 * lands after a fence has ended the node (DONE ignores it) must
	 * still keep the manager from rejoining. */
	bool leave_asked;
};

/* --- events in ---------------------------------------------------------- */

static struct pending *push(struct loop *l, enum node_event type)
{
	/* The loop makes at most one storage job, one child and one signal
	 * event between two dispatches; the queue is far deeper than that. */
	if (l->qlen == QUEUE_LEN) {
		log_error("internal: event queue full, dropping %s", node_event_name(type));
		return &l->current; /* scratch, never dispatched */
	}
	struct pending *p = &l->queue[(l->qhead + l->qlen++) % QUEUE_LEN];
	memset(&p->ev, 0, sizeof(p->ev));
	p->ev.type = type;
	p->has_view = false;
	p->granted_ms = 0;
	return p;
}

/* An event the node must have before any other: the storage failed or
 * hangs under the list being carried out. That list ends here; what of it
 * did not run goes with the event, and the node's table decides what
 * follows (node.h). */
static struct pending *push_cut(struct loop *l, enum node_event type)
{
	uint32_t unrun = 0;
	if (type == NODE_EV_STORAGE_ERROR || type == NODE_EV_STORAGE_HUNG)
		atomic_fetch_add_explicit(&l->metrics->storage_errors, 1, memory_order_relaxed);
	for (; l->cursor < l->out.n; l->cursor++)
		unrun |= NODE_ACTION_BIT(l->out.a[l->cursor].kind);
	if (l->qlen == QUEUE_LEN) {
		log_error("internal: event queue full, dropping %s", node_event_name(type));
		return &l->current;
	}
	l->qhead = (l->qhead + QUEUE_LEN - 1) % QUEUE_LEN;
	l->qlen++;
	struct pending *p = &l->queue[l->qhead];
	memset(p, 0, sizeof(*p));
	p->ev.type = type;
	p->ev.unrun = unrun;
	return p;
}

/* An event with what job j found: a job's, or a round's. */
static void push_found(struct loop *l, enum node_event type, const struct worker_job *j)
{
	struct pending *p = push(l, type);
	p->granted_ms = j->op == WORKER_TRY_LIVE || j->op == WORKER_WAIT_LIVE ? j->granted_ms : 0;
	if (j->have_view) {
		p->has_view = true;
		p->view = j->view;
		p->ev.target_alive = j->target_alive;
		p->ev.target_state = j->target_state;
		p->ev.backup_waiting = j->backup_waiting;
		p->ev.foreign_record = !j->live_here;
	}
	p->ev.own_slot_bad = j->own_slot_bad;
}

static void push_job_event(struct loop *l, enum node_event type) { push_found(l, type, &l->job); }

static bool holds_role(enum node_state s) { return s == NODE_STARTING || s == NODE_LIVE || s == NODE_STOPPING; }

/* Holding the role: heartbeats and checks run. */
static bool ticking(const struct loop *l) { return holds_role(node_current(&l->node)); }

/* The workload as the observers are to see it now. */
static struct observe_workload wl_now(const struct loop *l)
{
	return (struct observe_workload){ .active = l->wl_active,
					  .exec_slow = l->exec_fd >= 0 && !l->exec_slow_at,
					  .pid = l->wl.pid,
					  .spawned_at = l->spawned_at,
					  .status = readiness_status(&l->rd) };
}

static void announce(struct loop *l)
{
	struct observe_workload w = wl_now(l);
	observe_announce(&l->obs, &l->node, &w);
}

static void run_hook(struct loop *l, enum hook_event e)
{
	struct observe_workload w = wl_now(l);
	observe_hook(&l->obs, e, &l->node, &w);
}

static void dispatch(struct loop *l)
{
	l->current = l->queue[l->qhead];
	l->qhead = (l->qhead + 1) % QUEUE_LEN;
	l->qlen--;
	struct node_event_data *ev = &l->current.ev;
	/* A timer armed in a state the node has left, or re-armed since, is
	 * no longer the node's: acting on it could start a second wait. */
	if (ev->type == NODE_EV_TIMER && l->current.timer_gen != l->timer_gen)
		return;
	ev->view = l->current.has_view ? &l->current.view : NULL;
	ev->now_ms = clock_ms();
	observe_read(&l->obs, ev->view);
	enum node_state before = node_current(&l->node);
	if (ev->type == NODE_EV_SHUTDOWN)
		l->shutdown_fed = true;
	bool clock_ran = node_fence_clock(&l->node);
	node_step(&l->node, ev, &l->out);
	/* The fence clock starts with the live lock (VERIFYING, or the role
	 * at once): the storage may give the lock away from the grant on, so
	 * the read that came with it, bounded only by --io-timeout, is no
	 * round: a grant older than the fence timeout fences at once. */
	if (!clock_ran && node_fence_clock(&l->node))
		l->last_round = l->current.granted_ms ? l->current.granted_ms : ev->now_ms;
	l->cursor = 0;
	/* A timer belongs to the state that asked for it: a restart back-off
	 * must not fire into the state a hand-over moved to. A new state's
	 * own TIMER action comes after this, in l->out. */
	if (before != node_current(&l->node)) {
		l->timer_at = 0;
		l->timer_gen++;
		/* The node decides anew in its new state: its next round is
		 * reported even if the file is as it was. */
		if (l->worker.sh)
			l->worker.sh->rounds.report = true;
	}
	if (ev->type == NODE_EV_JOINED && ev->name_taken && node_current(&l->node) == NODE_DONE) {
		/* The node refused; only the loop knows whom it met. */
		log_error("%s: the name '%s' is taken: the node in slot %d (pid %u on its host) has it and is "
			  "alive in this group; two nodes of one name would both answer is-live. Refusing to join: "
			  "give this node another name",
			  l->lf.path, l->cfg->name, l->name_slot, (unsigned)l->name_pid);
		announce(l);
		return;
	}
	struct observe_workload w = wl_now(l);
	observe_step(&l->obs, &l->node, before, ev, &l->out, &w);
}

/* --- storage jobs --------------------------------------------------------- */

/* published: an lf_slot_state, with LF_SLOT_F_* flags << 8. */
static void fill_slot(struct loop *l, struct lf_slot *s, int64_t published)
{
	memset(s, 0, sizeof(*s));
	memcpy(s->id, l->id, LF_ID_SIZE);
	s->role = (uint8_t)l->cfg->node.role;
	s->state = (uint8_t)(published & 0xff);
	s->flags = (uint8_t)(published >> 8);
	s->pid = (uint32_t)getpid();
	s->seq = ++l->slot_seq;
	snprintf(s->name, sizeof(s->name), "%s", l->cfg->name);
	/* A copy of our live record's epoch: the next live node learns the
	 * epoch from it when the live record is unreadable. */
	s->epoch = node_epoch(&l->node);
	memcpy(s->host, l->host, LF_ID_SIZE);
}

/* Our live record; count: with the next heartbeat (one count for the
 * rounds' heartbeats and the loop's writes), else 0 (the round takes it). */
static void fill_live(struct loop *l, struct lf_live *v, bool count)
{
	memset(v, 0, sizeof(*v));
	v->epoch = node_epoch(&l->node);
	v->heartbeat = count ? atomic_fetch_add(&l->worker.sh->rounds.heartbeat, 1) + 1 : 0;
	memcpy(v->id, l->id, LF_ID_SIZE);
	v->slot = node_slot(&l->node);
	v->pid = (uint32_t)getpid();
	v->heartbeat_ms = (uint32_t)l->cfg->heartbeat_ms;
	snprintf(v->name, sizeof(v->name), "%s", l->cfg->name);
	snprintf(v->address, sizeof(v->address), "%s", l->cfg->address ? l->cfg->address : "");
}

/* The history entry of an action the node noted (node_action.note): this
 * node's side of the move, and for a takeover the node it takes over
 * from, as the read it decided on shows it. */
static void fill_event(struct loop *l, struct worker_job *j, const struct node_action *a)
{
	struct lf_event *e = &j->event;
	j->note = a->note;
	memset(e, 0, sizeof(*e));
	if (!a->note)
		return;
	const struct lf_view *v = l->current.has_view ? &l->current.view : NULL;
	bool taking = a->kind == NODE_A_WRITE_LIVE;
	e->reason = a->note;
	e->writer = taking ? LF_EV_BY_TO : LF_EV_BY_FROM;
	e->epoch = l->node.epoch;
	e->pid = (uint32_t)getpid();
	memcpy(e->host, l->host, LF_ID_SIZE);
	e->from_slot = e->to_slot = -1;
	if (!taking) {
		e->from_slot = l->node.slot;
		snprintf(e->from, sizeof(e->from), "%s", l->cfg->name);
		return;
	}
	e->to_slot = l->node.slot;
	snprintf(e->to, sizeof(e->to), "%s", l->cfg->name);
	if (v && v->live_rec == LF_REC_OK) {
		e->from_slot = v->live.slot;
		memcpy(e->from, v->live.name, sizeof(e->from));
	}
}

static bool is_wait(enum worker_op op) { return op == WORKER_WAIT_LIVE || op == WORKER_WAIT_BACKUP; }

static struct worker_job *job(struct loop *l, enum worker_op op)
{
	struct worker_job *j = &l->job;
	memset(j, 0, offsetof(struct worker_job, view));
	j->op = op;
	j->my_slot = node_slot(&l->node);
	memcpy(j->my_id, l->id, LF_ID_SIZE);
	return j;
}

static void submit(struct loop *l, bool tick)
{
	/* No round may come between what the node decided and this job (a
	 * heartbeat after the live lock's release): every round either ended
	 * before the job runs or starts only once the loop has settled. */
	worker_rounds_off(&l->worker);
	l->rounds_on = false;
	int64_t now = clock_ms();
	l->job_pending = true;
	l->job_is_tick = tick;
	l->job_is_round = false;
	l->job_submitted_ns = clock_ns();
	l->interrupt_at = is_wait(l->job.op) ? now + l->wait_ms : 0;
	/* A lock wait is meant to block; any other call that takes this long
	 * means the storage is hung, and the loop must act without it. */
	l->job_deadline = is_wait(l->job.op) ? 0 : now + l->cfg->io_timeout_ms;
	worker_submit(&l->worker, &l->job);
}

static const char *op_name(enum worker_op op)
{
	static const char *const names[] = {
		[WORKER_CLAIM_SLOT] = "claiming a slot",
		[WORKER_WRITE_SLOT] = "writing our slot",
		[WORKER_TRY_LIVE] = "trying the live lock",
		[WORKER_WAIT_LIVE] = "waiting for the live lock",
		[WORKER_WAIT_BACKUP] = "waiting for the backup lock",
		[WORKER_RELEASE_LIVE] = "releasing the live lock",
		[WORKER_RELEASE_BACKUP] = "releasing the backup lock",
		[WORKER_WRITE_LIVE] = "writing the live record",
		[WORKER_WRITE_STATUS] = "writing the status",
		[WORKER_WRITE_REQUEST] = "writing a request",
		[WORKER_CLEAR_REQUEST] = "refusing a request",
		[WORKER_READ] = "reading the lock file",
		[WORKER_HEARTBEAT] = "advancing the heartbeat",
		[WORKER_REPAIR] = "repairing the lock file",
	};
	return names[op];
}

static void storage_failed(struct loop *l, int err) { push_cut(l, NODE_EV_STORAGE_ERROR)->ev.err = err; }

/* The job in the storage process will not be waited for: it stays there,
 * and no other can be given (worker.h). */
static void give_up_job(struct loop *l)
{
	l->storage_hung = true;
	l->job_pending = false;
	l->interrupt_at = l->job_deadline = 0;
}

/* What a repair wrote, loudly: damage to the shared file is news for
 * whoever looks after the storage. */
static void log_repair(struct loop *l, int fixed)
{
	if (!fixed) {
		log_info("%s: already mended when the repair read it", l->lf.path);
		return;
	}
	static const struct {
		int bit;
		const char *what;
	} parts[] = {
		{ LF_FIX_LENGTH, "length" },   { LF_FIX_HEADER, "header" }, { LF_FIX_LIVE, "live record" },
		{ LF_FIX_NODE_ID, "node id" }, { LF_FIX_SLOT, "own slot" }, { LF_FIX_STATUS, "status byte (L)" },
	};
	char what[160] = "";
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		if (fixed & parts[i].bit)
			snprintf(what + strlen(what), sizeof(what) - strlen(what), "%s%s", what[0] ? ", " : "",
				 parts[i].what);
	if (fixed & LF_FIX_LENGTH)
		log_warn("%s: damaged lock file repaired: %s (it was %u bytes long, the format's %d)", l->lf.path, what,
			 (unsigned)l->repair_size, LF_SIZE);
	else
		log_warn("%s: damaged lock file repaired: %s", l->lf.path, what);
}

static void on_job_done(struct loop *l)
{
	worker_collect(&l->worker, &l->job);
	l->job_pending = false;
	metrics_storage_call(l->metrics, l->job.op, (clock_ns() - l->job_submitted_ns) / 1000);
	l->interrupt_at = l->job_deadline = 0;
	struct worker_job *j = &l->job;
	int r = j->res;
	if (j->note && j->note_res < 0) /* news, not state: said, and nothing else */
		log_warn("%s: could not add to the group's history: %s", l->lf.path, log_strerror(-j->note_res));
	if (j->replaced && (r >= 0 || r == -EAGAIN || r == -EINTR)) {
		if (l->job_is_round && r == 0)
			l->last_round = clock_ms();
		log_warn("%s no longer names the file this node has open: it was deleted, renamed or replaced",
			 l->lf.path);
		push(l, NODE_EV_REPLACED);
		return;
	}
	if (l->job_is_tick) {
		/* A heartbeat round's time is the storage process's, taken before
		 * it looked at the path (a loop stopped before it came here must
		 * not count the round from when it runs again). */
		if (l->job_is_round && r == 0)
			l->last_round = j->round_ms ? j->round_ms : clock_ms();
		if (r < 0) {
			log_error("%s: %s: %s", l->lf.path, op_name(j->op), log_strerror(-r));
			storage_failed(l, -r);
		} else {
			push_job_event(l, NODE_EV_TICK);
		}
		return;
	}
	switch (j->op) {
	case WORKER_CLAIM_SLOT:
		if (r >= 0) {
			if (j->have_view)
				observe_read(&l->obs, &j->view);
			struct pending *p = push(l, NODE_EV_JOINED);
			p->ev.slot = r;
			p->ev.name_taken = j->name_slot >= 0;
			l->name_slot = j->name_slot;
			l->name_pid = j->name_pid;
			return;
		}
		if (r == -ENOSPC)
			log_error("%s: all %d slots are held: the group is full", l->lf.path, LF_SLOTS);
		break;
	case WORKER_TRY_LIVE:
	case WORKER_WAIT_LIVE:
	case WORKER_WAIT_BACKUP:
		if (r == 0) {
			push_job_event(l, NODE_EV_LOCKED);
			return;
		}
		if (r == -EAGAIN || r == -EINTR) {
			push_job_event(l, NODE_EV_BUSY);
			return;
		}
		break;
	case WORKER_REPAIR:
		if (r >= 0) {
			log_repair(l, r);
			return;
		}
		if (r == -ESTALE || r == -EBADMSG) {
			/* Nothing written; the next check reads why and fences. */
			log_warn("%s: not repaired: %s", l->lf.path,
				 r == -ESTALE ? "the live record is another node's now"
					      : "the header is another format's now");
			return;
		}
		break;
	default:
		if (r >= 0)
			return;
	}
	if (r != -ENOSPC)
		log_error("%s: %s: %s", l->lf.path, op_name(j->op), log_strerror(-r));
	storage_failed(l, -r);
}

/* --- the workload ---------------------------------------------------------- */

/* A few requests are outstanding on a ring of 32 (the signal, the storage,
 * the pidfd, the exec pipe, readiness's), so the queue has room; if it ever
 * had not, submitting frees it. */
static struct io_uring_sqe *sqe_get(struct loop *l)
{
	struct io_uring_sqe *sqe;
	while (!(sqe = io_uring_get_sqe(&l->ring)))
		io_uring_submit(&l->ring);
	return sqe;
}

static void arm_pidfd(struct loop *l)
{
	struct io_uring_sqe *sqe = sqe_get(l);
	io_uring_prep_poll_add(sqe, l->wl.pidfd, POLLIN);
	io_uring_sqe_set_data64(sqe, TAG(TAG_PIDFD, ++l->pidfd_gen));
}

/* What readiness needs to know of the moment. */
static struct readiness_now rd_now(const struct loop *l)
{
	enum node_state s = node_current(&l->node);
	return (struct readiness_now){
		.wl = &l->wl, .active = l->wl_active, .starting = s == NODE_STARTING, .live = s == NODE_LIVE
	};
}

/* Readiness's news become the node's events; a new STATUS= is shown. */
static void heed(struct loop *l, unsigned news)
{
	if (news & READINESS_READY)
		push(l, NODE_EV_READY);
	if (news & READINESS_UNHEALTHY)
		push(l, NODE_EV_UNHEALTHY);
	enum node_state s = node_current(&l->node);
	if ((news & READINESS_STATUS) && (s == NODE_STARTING || s == NODE_LIVE))
		announce(l);
}

/* An exec that takes this long waits on storage, most likely: said once,
 * in the log and in STATUS=. */
#define EXEC_SLOW_MS 1000

static void arm_exec(struct loop *l)
{
	struct io_uring_sqe *sqe = sqe_get(l);
	io_uring_prep_read(sqe, l->exec_fd, &l->exec_err, sizeof(l->exec_err), 0);
	io_uring_sqe_set_data64(sqe, TAG(TAG_EXEC, l->exec_gen));
}

/* The workload's tree is gone and its exec's outcome is known: what the
 * node hears. A failed exec is SPAWN_FAILED, after its child was reaped,
 * so that the node never hears of a workload it could still be running. */
static void workload_over(struct loop *l)
{
	if (l->exec_failed) {
		push(l, NODE_EV_SPAWN_FAILED)->ev.err = l->exec_failed;
		l->exec_failed = 0;
		return;
	}
	push(l, NODE_EV_EXITED)->ev.wstatus = l->wl.wstatus;
}

static void spawn(struct loop *l)
{
	char *const *argv = l->cfg->argv;
	struct supervise_as as = l->cfg->workload_as;
	as.pass_fd = -1;
	/* The workload must hold a copy of the open (protocol.md §8). On a
	 * local file system the manager's own goes once the child has it (a
	 * copy of ours would hold the live lock after our death for as long
	 * as our exit takes: worker_lend), and a later start gets one the
	 * storage process lends. Elsewhere a close is a call on the storage
	 * (an NFS flush, a FUSE FLUSH) that could hang the loop, which makes
	 * none: the manager keeps its copy there, and where the storage
	 * process has no thread to lend one. */
	bool lend = worker_lends(&l->worker);
	int fd = l->lf.fd;
	if (lend)
		l->lf.fd = -1;
	if (fd < 0 && (fd = worker_lend(&l->worker, TIMELINE_LEND_MS)) < 0) {
		log_error("workload %s: no copy of the lock file's open from the storage process: %s", argv[0],
			  strerror(-fd));
		push(l, NODE_EV_SPAWN_FAILED)->ev.err = -fd;
		return;
	}
	int r = readiness_spawning(&l->rd, &as);
	if (r < 0) {
		if (lend)
			close(fd);
		log_error("workload %s: the ready pipe: %s", argv[0], strerror(-r));
		push(l, NODE_EV_SPAWN_FAILED)->ev.err = -r;
		return;
	}
	r = supervise_start(&l->wl, l->exe, argv, l->envp, fd, &as, &l->exec_fd);
	if (lend)
		close(fd);
	if (as.pass_fd >= 0)
		close(as.pass_fd); /* the workload's alone: its exit is our EOF */
	if (r < 0) {
		l->exec_fd = -1;
		readiness_unspawned(&l->rd);
		log_error("workload %s: %s", argv[0], strerror(-r));
		push(l, NODE_EV_SPAWN_FAILED)->ev.err = -r;
		return;
	}
	/* The tree exists from the fork: a stop, a fence or a shutdown kills
	 * and reaps it like any workload, whether or not its exec returned. */
	l->wl_active = true;
	worker_workload(&l->worker, l->wl.pid);
	l->exec_failed = 0;
	l->exec_gone = false;
	l->spawned_at = clock_ms();
	l->exec_slow_at = l->spawned_at + EXEC_SLOW_MS;
	arm_pidfd(l);
	arm_exec(l);
	log_debug("workload %s: pid %d forked, its exec under way", argv[0], (int)l->wl.pid);
	announce(l);
}

/* The outcome of the workload's exec came: EOF once it succeeded (the pipe
 * is close-on-exec), its errno if it failed. */
static void on_exec(struct loop *l, int res)
{
	char *const *argv = l->cfg->argv;
	int e = supervise_exec_outcome(res, l->exec_err);
	close(l->exec_fd);
	l->exec_fd = -1;
	l->exec_gen++;
	l->exec_slow_at = 0;
	if (e) {
		log_error("workload %s: %s", argv[0], strerror(e));
		readiness_unspawned(&l->rd);
		l->exec_failed = e;
		if (l->exec_gone) /* reaped already: the node hears now */
			workload_over(l);
		return;
	}
	if (l->exec_gone) {
		/* It ended before its outcome was read: an exit like any. */
		push(l, NODE_EV_EXITED)->ev.wstatus = l->wl.wstatus;
		return;
	}
	int64_t forked = l->spawned_at;
	l->spawned_at = clock_ms();
	log_info("workload %s started, pid %d (exec took %lld ms)", argv[0], (int)l->wl.pid,
		 (long long)(l->spawned_at - forked));
	push(l, NODE_EV_STARTED);
	heed(l, readiness_started(&l->rd, l->spawned_at));
	announce(l);
}

static void stop(struct loop *l)
{
	if (!l->wl_active) {
		push(l, NODE_EV_EXITED)->ev.wstatus = l->wl.wstatus;
		return;
	}
	if (l->wl.stop_sig == SIGKILL)
		return; /* fenced: killed already, no grace to give */
	log_info("stopping the workload (pid %d): SIGTERM, SIGKILL after %lld ms", (int)l->wl.pid,
		 (long long)l->cfg->stop_timeout_ms);
	supervise_kill_tree(&l->wl, SIGTERM);
	l->kill_at = clock_ms() + l->cfg->stop_timeout_ms;
}

static void describe_exit(int st, char *buf, size_t n)
{
	if (WIFEXITED(st))
		snprintf(buf, n, "exited with status %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(buf, n, "killed by signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
	else
		snprintf(buf, n, "ended (status 0x%x)", st);
}

static void reaped_other(pid_t pid, int wstatus, void *arg)
{
	struct loop *l = arg;
	if (l->worker.started && pid == l->worker.pid) {
		/* Killed by someone else (the process never ends on its own
		 * while we live): no more storage calls. Handled like a hung
		 * storage: the workload dies, the node leaves and rejoins. */
		worker_reaped(&l->worker);
		log_error("%s: the storage process %d ended (status %#x): the storage is lost", l->lf.path, (int)pid,
			  (unsigned)wstatus);
		give_up_job(l);
		push_cut(l, NODE_EV_STORAGE_HUNG)->ev.err = EIO;
		return;
	}
	unsigned news = 0;
	struct readiness_now now = rd_now(l);
	if (readiness_reaped(&l->rd, pid, wstatus, &now, &news))
		heed(l, news);
	else
		observe_reaped(&l->obs, pid, wstatus);
}

/* A child changed state. The workload counts as gone only when its main
 * process and every other process of its tree have been reaped. */
static void on_child(struct loop *l)
{
	/* Withdrawn while the reap may free its pid (worker.h). */
	worker_workload(&l->worker, 0);
	bool none = supervise_reap(&l->wl, reaped_other, l);
	if (l->wl_active && !l->wl.main_gone)
		worker_workload(&l->worker, l->wl.pid);
	if (!l->wl_active)
		return;
	if (!l->wl.main_gone) {
		if (l->wl.stop_sig)
			supervise_kill_tree(&l->wl, l->wl.stop_sig); /* orphans that just arrived */
		return;
	}
	if (!none) {
		if (!l->wl.stop_sig) {
			log_info("workload main process ended; stopping the rest of its tree");
			supervise_kill_tree(&l->wl, SIGTERM);
			l->kill_at = clock_ms() + l->cfg->stop_timeout_ms;
		} else {
			supervise_kill_tree(&l->wl, l->wl.stop_sig);
		}
		return;
	}
	char how[96];
	describe_exit(l->wl.wstatus, how, sizeof(how));
	/* An end the manager asked for (a shutdown, a hand-over, a failed
	 * workload already reported) or a clean exit is no failure; any other
	 * end of the main process is, even when the manager then stopped
	 * what it left behind. */
	int st = l->wl.wstatus;
	bool clean = WIFEXITED(st) && WEXITSTATUS(st) == 0;
	struct log_fields f = { .workload_pid = l->wl.pid };
	log_fields(l->wl.stopped || clean ? LOGL_INFO : LOGL_WARN, &f, "workload %s", how);
	l->wl_active = false;
	readiness_gone(&l->rd);
	struct observe_workload w = wl_now(l);
	observe_health(&l->obs, &l->node, &w);
	l->kill_at = 0;
	if (l->exec_fd >= 0) {
		/* Its end of the pipe closed with it, so the outcome is on its
		 * way on the ring: the node hears of both together, in order. */
		l->exec_gone = true;
		l->exec_slow_at = 0;
		return;
	}
	workload_over(l);
}

/* --- actions out ------------------------------------------------------------- */

static void run_action(struct loop *l, const struct node_action *a)
{
	struct worker_job *j;
	int64_t now = clock_ms();
	if ((l->storage_hung || l->fenced) && node_action_is_storage(a->kind)) {
		/* The node asks for no call once the storage is lost (node.c):
		 * one that it did would fail, never wait. */
		log_error("internal: a call on the lock file after the storage was lost");
		storage_failed(l, EIO);
		return;
	}
	switch (a->kind) {
	case NODE_A_CLAIM_SLOT:
		j = job(l, WORKER_CLAIM_SLOT);
		j->want_view = true; /* who is live, for STATUS= and hooks; and the name check */
		if (l->cfg->previous_id) {
			j->has_prev_id = true;
			memcpy(j->prev_id, l->cfg->previous_id, LF_ID_SIZE);
		}
		fill_slot(l, &j->slot, LF_SLOT_JOINING);
		submit(l, false);
		return;
	case NODE_A_SLOT_STATE:
		j = job(l, WORKER_WRITE_SLOT);
		fill_slot(l, &j->slot, a->arg);
		submit(l, false);
		return;
	case NODE_A_TRY_LIVE:
		job(l, WORKER_TRY_LIVE);
		submit(l, false);
		return;
	case NODE_A_WAIT_LIVE:
		j = job(l, WORKER_WAIT_LIVE);
		j->want_view = a->arg != 0;
		node_wait_pace(&l->node, a, &j->pace_first_ms, &j->pace_max_ms);
		l->wait_ms = node_wait_bound(&l->node, a);
		submit(l, false);
		return;
	case NODE_A_WAIT_BACKUP:
		j = job(l, WORKER_WAIT_BACKUP);
		node_wait_pace(&l->node, a, &j->pace_first_ms, &j->pace_max_ms);
		l->wait_ms = node_wait_bound(&l->node, a);
		submit(l, false);
		return;
	case NODE_A_RELEASE_LIVE:
		fill_event(l, job(l, WORKER_RELEASE_LIVE), a);
		submit(l, false);
		return;
	case NODE_A_RELEASE_BACKUP:
		job(l, WORKER_RELEASE_BACKUP);
		submit(l, false);
		return;
	case NODE_A_WRITE_LIVE: {
		j = job(l, WORKER_WRITE_LIVE);
		j->status = LF_LIVE;
		fill_event(l, j, a);
		/* The request the decision to become live saw, if the takeover
		 * is the hand-over it asks for: a newer one that lands before
		 * this write must survive it, and so must one for another node
		 * (a takeover after a served wait, node.c take_role), which the
		 * new live node's first check acts on. */
		const struct lf_view *v = l->current.has_view ? &l->current.view : NULL;
		bool handover = a->note == LF_EV_FAILBACK || a->note == LF_EV_SWITCHOVER;
		j->seq = handover && v && v->status == LF_FAILBACK && v->request_rec == LF_REC_OK
				 ? (int64_t)v->request.seq
				 : -1;
		struct worker_rounds *rd = &l->worker.sh->rounds;
		rd->heartbeat = 0; /* each epoch counts from 1 */
		fill_live(l, &j->live, true);
		rd->check_at = now + l->cfg->check_ms;
		rd->heartbeat_at = now + l->cfg->heartbeat_ms;
		rd->round_ms = 0;
		l->last_round = now; /* the fence clock starts with the role */
		/* Before the workload exists: from here a stalled loop is fenced
		 * by the storage process (worker.h). */
		worker_guard_arm(&l->worker, l->guard_fence_ms, l->guard_look_ms);
		submit(l, false);
		return;
	}
	case NODE_A_WRITE_STATUS:
		j = job(l, WORKER_WRITE_STATUS);
		j->status = (char)a->arg;
		fill_event(l, j, a);
		submit(l, false);
		return;
	case NODE_A_REFUSE:
		job(l, WORKER_CLEAR_REQUEST)->seq = a->arg;
		submit(l, false);
		return;
	case NODE_A_REQUEST_FAILBACK:
		j = job(l, WORKER_WRITE_REQUEST);
		j->request.kind = LF_REQ_FAILBACK;
		j->request.target_slot = node_slot(&l->node);
		memcpy(j->request.target_id, l->id, LF_ID_SIZE);
		snprintf(j->request.target_name, sizeof(j->request.target_name), "%s", l->cfg->name);
		snprintf(j->request.requester, sizeof(j->request.requester), "%s", l->cfg->name);
		j->request.requester_pid = (uint32_t)getpid();
		submit(l, false);
		return;
	case NODE_A_SPAWN: spawn(l); return;
	case NODE_A_STOP:
		if (a->arg && l->wl_active) {
			log_warn("SIGKILL to the workload's whole tree");
			supervise_kill_tree(&l->wl, SIGKILL);
			l->kill_at = 0;
		}
		stop(l);
		return;
	case NODE_A_FENCE_HOOK: run_hook(l, HOOK_FENCE); return;
	case NODE_A_REPAIR:
		/* Our records as we would write them now: the live record at our
		 * epoch and the next heartbeat, our slot as we publish it. */
		j = job(l, WORKER_REPAIR);
		l->repair_size = l->current.has_view ? l->current.view.size : 0;
		fill_live(l, &j->live, true);
		fill_slot(l, &j->slot,
			  (int64_t)node_slot_state(node_current(&l->node)) |
				  (int64_t)node_slot_flags(node_current(&l->node)) << 8);
		submit(l, false);
		return;
	case NODE_A_READ:
		j = job(l, WORKER_READ);
		j->want_view = true;
		submit(l, true);
		l->job_is_round = a->arg != 0;
		return;
	case NODE_A_TIMER:
		l->timer_at = now + a->arg;
		l->timer_gen++;
		return;
	case NODE_A_EXIT: l->done = true; return;
	}
}

/* Carry out actions and dispatch events until something must be waited
 * for: a storage job, a child, a signal or a timer. */
static void settle(struct loop *l)
{
	for (;;) {
		if (l->job_pending) {
			/* A signal is answered while a storage call is in progress,
			 * once the list before it is done, when the node has no
			 * workload or was asked to stop already: leaving (exiting
			 * releases the locks) or a second signal's SIGKILL must not
			 * wait for the storage. What of the answer needs the
			 * storage waits behind the call, in order. */
			if (l->qlen && l->queue[l->qhead].ev.type == NODE_EV_SHUTDOWN && l->cursor >= l->out.n &&
			    (!l->wl_active || l->shutdown_fed)) {
				dispatch(l);
				while (l->cursor < l->out.n && !node_action_is_storage(l->out.a[l->cursor].kind))
					run_action(l, &l->out.a[l->cursor++]);
			}
			if (!(l->done && l->cursor >= l->out.n && !l->wl_active))
				return;
		}
		if (l->cursor < l->out.n) {
			run_action(l, &l->out.a[l->cursor++]);
			continue;
		}
		if (l->qlen == 0)
			return;
		dispatch(l);
	}
}

static void count_round_call(void *ctx, enum worker_op op, int64_t us) { metrics_storage_call(ctx, op, us); }

/* A round the storage process ran for the live node, which found news
 * (worker.h): as a tick of the loop's own was. */
static void on_round_done(struct loop *l, const struct worker_job *j)
{
	int r = j->res;
	if (j->op == WORKER_HEARTBEAT && r == 0 && j->round_ms > l->last_round)
		l->last_round = j->round_ms;
	if (j->replaced && r >= 0) {
		log_warn("%s no longer names the file this node has open: it was deleted, renamed or replaced",
			 l->lf.path);
		push(l, NODE_EV_REPLACED);
		return;
	}
	if (r < 0) {
		log_error("%s: %s: %s", l->lf.path, op_name(j->op), log_strerror(-r));
		storage_failed(l, -r);
		return;
	}
	push_found(l, NODE_EV_TICK, j);
}

/* What the rounds have for the loop: a call past --io-timeout (the
 * storage hung, as for a job's call), or a round with news. A round of an
 * earlier turn is stale: the loop has acted since, and the first round
 * of the new turn reports whatever it finds. */
static void on_rounds(struct loop *l)
{
	struct worker_rounds *rd = &l->worker.sh->rounds;
	if (rd->hung && !l->storage_hung) {
		log_error("%s: a round's call on the lock file has not returned in %lld ms: the storage is hung",
			  l->lf.path, (long long)l->cfg->io_timeout_ms);
		worker_rounds_off(&l->worker);
		l->rounds_on = false;
		give_up_job(l);
		push_cut(l, NODE_EV_STORAGE_HUNG)->ev.err = ETIMEDOUT;
		return;
	}
	unsigned gen;
	if (!worker_round_take(&l->worker, &l->round, &gen))
		return;
	if (gen == l->rounds_gen && l->rounds_on && !l->storage_hung && !l->fenced)
		on_round_done(l, &l->round);
}

/* Turn the rounds on once the loop has settled holding the role (nothing
 * under way: no job, no action, no event), off otherwise; submit turns
 * them off before every job. Each turn's first round is reported. */
static void settle_rounds(struct loop *l)
{
	bool want = ticking(l) && !l->job_pending && l->cursor >= l->out.n && l->qlen == 0 && !l->storage_hung &&
		    !l->fenced && l->worker.started;
	if (l->worker.started)
		l->worker.sh->rounds.holding = ticking(l);
	if (want == l->rounds_on)
		return;
	l->rounds_on = want;
	if (!want) {
		worker_rounds_off(&l->worker);
		return;
	}
	struct worker_rounds *rd = &l->worker.sh->rounds;
	struct worker_job *t = &rd->tmpl;
	atomic_fetch_add(&rd->tmpl_seq, 1); /* odd: being written (run_round) */
	memset(t, 0, sizeof(*t));
	t->my_slot = node_slot(&l->node);
	memcpy(t->my_id, l->id, LF_ID_SIZE);
	fill_live(l, &t->live, false);
	atomic_fetch_add(&rd->tmpl_seq, 1);
	rd->check_ms = l->cfg->check_ms;
	rd->heartbeat_ms = l->cfg->heartbeat_ms;
	rd->io_timeout_ms = l->cfg->io_timeout_ms;
	l->rounds_gen = worker_rounds_on(&l->worker, true);
}

/* --- timers -------------------------------------------------------------------- */

/* Holding the live lock (VERIFYING too): the fence deadline runs. */
static bool fence_clock(const struct loop *l) { return node_fence_clock(&l->node) && !l->storage_hung && !l->fenced; }

/* The rounds the storage process completed count for the fence clock as
 * the loop's own do: the loop reads their time when it wakes, which at the
 * latest is the fence deadline they moved on. */
static void refresh_round(struct loop *l)
{
	if (!l->worker.sh)
		return;
	int64_t r = l->worker.sh->rounds.round_ms;
	if (l->rounds_on && r > l->last_round)
		l->last_round = r;
}

static int64_t next_deadline(const struct loop *l)
{
	int64_t d[] = { l->timer_at,
			l->kill_at,
			l->interrupt_at,
			l->job_deadline,
			fence_clock(l) ? l->last_round + l->cfg->fence_timeout_ms + 1 : 0,
			l->watchdog_at,
			l->exec_slow_at,
			observe_deadline(&l->obs),
			readiness_deadline(&l->rd) };
	int64_t m = 0;
	for (size_t i = 0; i < sizeof(d) / sizeof(d[0]); i++)
		if (d[i] && (!m || d[i] < m))
			m = d[i];
	return m;
}

static void fire_timers(struct loop *l)
{
	int64_t now = clock_ms();
	/* This loop runs: the storage process's guard counts a stall from
	 * here until it waits again (worker.h), and the rounds' time counts
	 * for the fence. */
	worker_guard_loop_due(&l->worker, now);
	refresh_round(l);
	if (l->timer_at && now >= l->timer_at) {
		l->timer_at = 0;
		push(l, NODE_EV_TIMER)->timer_gen = l->timer_gen;
	}
	if (l->kill_at && now >= l->kill_at) {
		l->kill_at = 0;
		log_warn("workload did not stop within %lld ms: SIGKILL to its whole tree",
			 (long long)l->cfg->stop_timeout_ms);
		supervise_kill_tree(&l->wl, SIGKILL);
	}
	if (l->interrupt_at && now >= l->interrupt_at && worker_granted(&l->worker)) {
		/* The lock is ours and the read after it is a storage call like
		 * any other: bound it, and stop interrupting. */
		l->interrupt_at = 0;
		l->job_deadline = now + l->cfg->io_timeout_ms;
	}
	if (l->interrupt_at && now >= l->interrupt_at) {
		/* Bound every lock wait: on storage whose lock grants come late
		 * (or never), the node still looks again each poll interval;
		 * on a local one, after the idle look. Cut again as long as the
		 * wait goes on: a cut that lands in a try is only held. */
		worker_interrupt(&l->worker);
		l->interrupt_at = now + l->cfg->node.poll_ms;
	}
	if (l->job_deadline && now >= l->job_deadline) {
		/* The storage process keeps the call; the node goes on without
		 * it, and its table kills the workload first (never run blind). */
		log_error("%s: %s has not returned in %lld ms: the storage is hung", l->lf.path, op_name(l->job.op),
			  (long long)l->cfg->io_timeout_ms);
		give_up_job(l);
		push_cut(l, NODE_EV_STORAGE_HUNG)->ev.err = ETIMEDOUT;
	}
	bool guard_fired = worker_guard_fired(&l->worker);
	if (fence_clock(l) && (now - l->last_round > l->cfg->fence_timeout_ms || guard_fired)) {
		/* The storage answers too slowly, or not at all: the server may
		 * give our lock away, so the workload must die before it can
		 * (the node's table orders the SIGKILL, before anything else),
		 * and a node in its takeover delay must not start. Or this loop
		 * was stopped and the storage process killed the workload for
		 * it: never a crash to restart, a fence. */
		l->fenced = true;
		worker_guard_disarm(&l->worker);
		if (guard_fired)
			log_error("%s: %s, and the storage process killed the workload %lld ms after the last %s: "
				  "fencing",
				  l->lf.path,
				  l->job_pending || atomic_load(&l->worker.sh->rounds.started_ms)
					  ? "a call on the lock file has not returned"
					  : "this manager was stalled",
				  (long long)atomic_load(&l->worker.sh->guard.fired_after),
				  atomic_load(&l->worker.sh->guard.fired_replaced)
					  ? "look at the lock file's path (it names another file now)"
					  : "heartbeat round");
		else if (node_current(&l->node) == NODE_VERIFYING)
			log_error("%s: no read completed in %lld ms during the takeover delay", l->lf.path,
				  (long long)(now - l->last_round));
		else
			log_error("%s: no heartbeat round completed in %lld ms: fencing", l->lf.path,
				  (long long)(now - l->last_round));
		if (l->job_pending)
			give_up_job(l);
		push_cut(l, NODE_EV_FENCE)->ev.err = ETIMEDOUT;
	}
	if (l->exec_slow_at && now >= l->exec_slow_at) {
		l->exec_slow_at = 0;
		log_warn("workload %s (pid %d): its exec has not returned in %lld ms: its program, interpreter or a "
			 "library may sit on a file system that does not answer. It counts as starting: a stop, a "
			 "fence or --ready-timeout kills it",
			 l->cfg->argv[0], (int)l->wl.pid, (long long)(now - l->spawned_at));
		announce(l);
	}
	observe_expire(&l->obs, now);
	heed(l, readiness_expire(&l->rd, now));
	if (l->watchdog_ms && now >= l->watchdog_at) {
		/* Live: pet only for a new completed round, so a node whose
		 * storage hangs is also stopped by systemd's watchdog. */
		l->watchdog_at = now + l->watchdog_ms / 2;
		if (!ticking(l) || l->last_round != l->last_pet_round) {
			l->last_pet_round = l->last_round;
			notify_send("WATCHDOG=1");
		}
	}
}

/* --- the ring -------------------------------------------------------------------- */

static void arm_signal(struct loop *l)
{
	struct io_uring_sqe *sqe = sqe_get(l);
	io_uring_prep_read(sqe, l->sfd, &l->si, sizeof(l->si), 0);
	io_uring_sqe_set_data64(sqe, TAG(TAG_SIGNAL, 0));
}

/* The path's events come as reads of the inotify descriptor, a whole
 * number of events each. */
static void arm_watch(struct loop *l)
{
	struct io_uring_sqe *sqe = sqe_get(l);
	io_uring_prep_poll_add(sqe, l->watch.fd, POLLIN);
	io_uring_sqe_set_data64(sqe, TAG(TAG_WATCH, 0));
}

/* The path may name another file: a waiting node looks now, rather than
 * at the end of its idle look (the look is the storage process's, after
 * the cut, and what it finds goes to the node as REPLACED). A node that
 * holds the live lock looks every check interval anyway. */
static void on_watch(struct loop *l, int res)
{
	int changed = res < 0 ? res : watch_read(&l->watch);
	if (changed < 0) {
		log_warn("%s: watching its path: %s; a waiting node looks every %lld ms instead", l->lf.path,
			 strerror(-changed), (long long)l->cfg->node.poll_ms);
		watch_close(&l->watch);
		l->node_cfg.idle_look_ms = l->node_cfg.queue_look_ms = l->cfg->node.poll_ms;
		node_reconfigure(&l->node, &l->node_cfg);
		return;
	}
	if (changed && l->job_pending && is_wait(l->job.op) && !worker_granted(&l->worker)) {
		log_debug("%s: its path changed: looking", l->lf.path);
		worker_interrupt(&l->worker);
		l->interrupt_at = clock_ms() + l->cfg->node.poll_ms;
	}
	arm_watch(l);
}

static void arm_worker(struct loop *l)
{
	struct io_uring_sqe *sqe = sqe_get(l);
	io_uring_prep_read(sqe, l->worker.efd, &l->efd_count, sizeof(l->efd_count), 0);
	io_uring_sqe_set_data64(sqe, TAG(TAG_WORKER, 0));
}

static void reload(struct loop *l);

static void on_signal(struct loop *l)
{
	int sig = (int)l->si.ssi_signo;
	switch (sig) {
	case SIGTERM:
	case SIGINT:
		/* One not yet fed to the node is the same request: a signal to
		 * the group and the process comes twice. A later one is the
		 * node's to answer (a second one while stopping: SIGKILL). */
		l->leave_asked = true;
		for (int i = 0; i < l->qlen; i++)
			if (l->queue[(l->qhead + i) % QUEUE_LEN].ev.type == NODE_EV_SHUTDOWN)
				return;
		if (l->stopping_sent) {
			log_info("%s again", strsignal(sig));
		} else {
			log_info("%s: leaving the group", strsignal(sig));
			notify_send("STOPPING=1");
			l->stopping_sent = true;
		}
		push(l, NODE_EV_SHUTDOWN);
		return;
	case SIGHUP:
	case SIGUSR1:
	case SIGUSR2:
		/* The manager's own settings first, then the workload's
		 * reload as ever, whether ours took or not; but not to a child
		 * whose exec is pending: without its program's handlers yet,
		 * the signal would kill it. */
		if (sig == SIGHUP)
			reload(l);
		if (l->wl_active && !l->wl.main_gone && l->exec_fd < 0)
			supervise_signal(&l->wl, sig);
		else if (l->wl_active && l->exec_fd >= 0)
			log_warn("%s not passed on: the workload's exec has not returned", strsignal(sig));
		return;
	case SIGCHLD: on_child(l); return;
	default: return;
	}
}

static void on_cqe(struct loop *l, struct io_uring_cqe *cqe)
{
	uint64_t tag = io_uring_cqe_get_data64(cqe);
	switch (tag & 0xff) {
	case TAG_SIGNAL:
		if (cqe->res == (int)sizeof(l->si))
			on_signal(l);
		arm_signal(l);
		return;
	case TAG_WORKER:
		if (cqe->res == (int)sizeof(l->efd_count)) {
			/* Written once a job is done, and by a round the loop is
			 * to hear of: the two are told apart by the page. */
			if (l->job_pending && !l->worker.sh->running)
				on_job_done(l);
			on_rounds(l);
		}
		arm_worker(l);
		return;
	case TAG_WATCH: on_watch(l, cqe->res); return;
	case TAG_PIDFD:
		if ((unsigned)(tag >> 8) == l->pidfd_gen)
			on_child(l);
		return;
	case TAG_EXEC:
		if ((unsigned)(tag >> 8) == l->exec_gen && l->exec_fd >= 0)
			on_exec(l, cqe->res);
		return;
	case READINESS_TAG_NOTIFY:
	case READINESS_TAG_READY_FD:
	case READINESS_TAG_TCP: {
		struct readiness_now now = rd_now(l);
		heed(l, readiness_complete(&l->rd, tag, cqe->res, &now));
		return;
	}
	default: return; /* liburing's own timeouts */
	}
}

static int64_t wait_events(struct loop *l)
{
	refresh_round(l);
	int64_t when = next_deadline(l);
	/* Sleeping until then is no stall; not running by then is. */
	worker_guard_loop_due(&l->worker, when ? when : clock_ms());
	struct __kernel_timespec ts, *tsp = NULL;
	if (when) {
		int64_t d = when - clock_ms();
		if (d < 0)
			d = 0;
		ts.tv_sec = d / 1000;
		ts.tv_nsec = (d % 1000) * 1000000;
		tsp = &ts;
	}
	struct io_uring_cqe *cqe;
	int r = io_uring_submit_and_wait_timeout(&l->ring, &cqe, 1, tsp, NULL);
	if (r < 0 && r != -ETIME && r != -EINTR)
		return r;
	unsigned head, n = 0;
	io_uring_for_each_cqe(&l->ring, head, cqe)
	{
		on_cqe(l, cqe);
		n++;
	}
	io_uring_cq_advance(&l->ring, n);
	return 0;
}

/* --- set-up ------------------------------------------------------------------------ */

static char **build_env(const struct loop_config *cfg, char *const extra[])
{
	const char *keys[] = { "UNDERSTUDY_ROLE", "UNDERSTUDY_NODE", "UNDERSTUDY_LOCK", "UNDERSTUDY_ADDRESS" };
	const char *vals[] = { lockfile_role_name((uint8_t)cfg->node.role), cfg->name, cfg->lock_path,
			       cfg->address ? cfg->address : "" };
	size_t n = 0;
	while (environ[n])
		n++;
	size_t m = 0;
	while (extra[m])
		m++;
	char **env = calloc(n + m + 5, sizeof(char *));
	if (!env)
		return NULL;
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "UNDERSTUDY_", 11) != 0 && strncmp(environ[i], "NOTIFY_SOCKET=", 14) != 0 &&
		    strncmp(environ[i], "WATCHDOG_", 9) != 0)
			env[k++] = environ[i];
	for (size_t i = 0; i < 4; i++) {
		if (asprintf(&env[k], "%s=%s", keys[i], vals[i]) < 0) {
			while (i-- > 0)
				free(env[--k]);
			free(env);
			return NULL;
		}
		k++;
	}
	for (size_t i = 0; i < m; i++)
		env[k++] = extra[i];
	return env;
}

static int open_error(struct lockfile *lf)
{
	char msg[512];
	if (lf->err == LF_E_SYS && lf->errno_value == ESHUTDOWN)
		log_error("%s: %s", lf->path, log_strerror(ESHUTDOWN));
	else
		log_error("%s", lockfile_strerror(lf, msg, sizeof(msg)));
	if (lf->err != LF_E_SYS)
		return EX_DATAERR;
	return sysexit_errno(lf->errno_value, SYSEXIT_CREATE, EX_IOERR);
}

/* A FUSE mount without direct I/O serves the lock file from this host's
 * page cache, where another host's writes never show. The lock file layer
 * drops the cached pages at the start of every locked section off a local
 * file system, so this node reads the storage all the same; other programs
 * that read the file may not, and the mount is worth fixing. Said, not
 * refused. */
static void warn_page_cache(struct loop *l)
{
	struct statfs st;
	if (fstatfs(l->lf.fd, &st) < 0 || st.f_type != LF_FS_FUSE || lockfile_page_cached(&l->lf) != 1)
		return;
	log_warn("%s: this FUSE mount keeps the file in the page cache (no direct I/O for this open), where "
		 "another host's writes never show: this node drops the cached pages before each read, other "
		 "programs reading the file do not. Mount with direct I/O: GlusterFS direct-io-mode=enable "
		 "(GlusterFS 10 does not give it to a later open on the host that created the file), ceph-fuse "
		 "fuse_disable_pagecache=true (doc/fencing.md)",
		 l->cfg->lock_path);
}

/* The statfs type of the directory that holds path, 0 if it cannot be had. */
static long dir_fs_type(const char *path)
{
	char dir[4096];
	const char *slash = strrchr(path, '/');
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash == path ? 1 : slash - path), path);
	struct statfs st;
	return statfs(dir, &st) == 0 ? (long)st.f_type : 0;
}

/* The timing settings a node runs by, for the timeline to derive from:
 * at start, and again at a reload. */
static void timeline_of(const struct loop_config *cfg, struct timeline_settings *ts)
{
	timeline_defaults(ts);
	ts->check_ms = cfg->check_ms;
	ts->heartbeat_ms = cfg->heartbeat_ms;
	ts->poll_ms = cfg->node.poll_ms;
	ts->io_timeout_ms = cfg->io_timeout_ms;
	ts->fence_timeout_ms = cfg->fence_timeout_ms;
	ts->stop_timeout_ms = cfg->stop_timeout_ms;
	ts->takeover_delay_ms = cfg->takeover_delay_ms;
}

/* loop_prepare's storage process, until setup takes it. */
static struct worker prepared;

int loop_prepare(void)
{
	int r = worker_spawn(&prepared);
	if (r < 0)
		prepared.sh = NULL;
	return r;
}

/* setup's answer for a node asked to leave before it joined: exit 0, and
 * nothing of the node run (0 is "set up, run it"). */
#define SETUP_LEFT (-1)

/* How long a waiting node's lock wait runs before it looks
 * (node_wait_bound), and a queued node's pace of tries: the timeline's
 * figures for the file system found at start, but every poll interval on
 * a local one without its watch, where nothing else would tell a waiter
 * that the path changed (as a node next in line looks off a local one). */
static void set_waits(const struct loop *l, const struct timeline *tl, int64_t poll_ms, struct node_config *nc)
{
	bool local = l->local == 1;
	nc->idle_look_ms = timeline_idle_look(tl, local);
	nc->queue_look_ms = timeline_queue_look(tl, local);
	nc->queue_try_ms = tl->queue_try_ms;
	if (local && l->watch.fd < 0)
		nc->idle_look_ms = nc->queue_look_ms = poll_ms;
}

/* Returns 0, ready to run; SETUP_LEFT; or the exit status (sysexits.h). */
static int setup(struct loop *l)
{
	const struct loop_config *cfg = l->cfg;
	int r = supervise_resolve(cfg->argv[0], &l->exe);
	if (r < 0) {
		log_error("workload %s: %s", cfg->argv[0], strerror(-r));
		return EX_UNAVAILABLE;
	}
	int said = 0; /* the reason last said: an errno, or -1 for damage */
	char why[1024];
	for (;;) {
		/* Before anything touches the file: one that a user we do
		 * not trust could write, replace or lock is refused as it is
		 * (trust.h). Checked again on each try: a rejoining node
		 * looks as a new one does. */
		if (trust_check(cfg->lock_path, TRUST_LOCK, &cfg->trust, why, sizeof(why)) == -EPERM) {
			log_error("%s", why);
			return EX_NOPERM;
		}
		/* A node rejoining after the storage failed it creates the
		 * file again (it was deleted: a new group) only on the file
		 * system it joined on. On another, the storage is not mounted
		 * (yet, or again: an evicted CephFS client's mount between its
		 * unmount and its mount), and a file created there would be a
		 * group of its own on the local disk, with this node live in it. */
		long now_fs = cfg->wait_for_storage && cfg->joined_fs_type ? dir_fs_type(cfg->lock_path) : 0;
		bool elsewhere = now_fs != 0 && now_fs != cfg->joined_fs_type;
		if (lockfile_open_as(&l->lf, cfg->lock_path, elsewhere ? LF_OPEN_WRITE : LF_OPEN_CREATE,
				     cfg->trust.group) == 0)
			break;
		int e = l->lf.errno_value;
		bool lost = l->lf.err == LF_E_SYS &&
			    (e == ENOTCONN || e == EIO || e == ESTALE || e == ETIMEDOUT || e == EHOSTDOWN ||
			     e == ENOLCK || e == EAGAIN || e == ESHUTDOWN || e == ENOENT);
		/* The file was ours when this node last had it open: damage
		 * since (short, a broken header) is the live node's to mend. */
		bool damaged = l->lf.err == LF_E_SHORT || l->lf.err == LF_E_MAGIC || l->lf.err == LF_E_HEADER;
		if (!cfg->wait_for_storage || !(lost || damaged))
			return open_error(&l->lf);
		/* Rejoining after the storage failed us: it may not answer yet
		 * (a FUSE client reports ENOTCONN until it reconnects; an evicted
		 * CephFS client ESHUTDOWN until someone mounts it again). Said
		 * again whenever the reason changes. */
		int reason = damaged ? -1 : elsewhere && e == ENOENT ? -2 : e;
		if (reason != said && reason == -2)
			log_warn(
				"%s: its directory is on another file system (statfs type 0x%lx) than this node joined "
				"(0x%lx): the storage is not mounted; waiting for it, never creating the file here",
				cfg->lock_path, (unsigned long)now_fs, (unsigned long)cfg->joined_fs_type);
		else if (reason != said && damaged)
			log_warn("%s: damaged since this node last had it open (%s): waiting for the live node to "
				 "repair it",
				 cfg->lock_path,
				 l->lf.err == LF_E_SHORT   ? "shorter than the format"
				 : l->lf.err == LF_E_MAGIC ? "its magic is gone"
							   : "its header checksum fails");
		else if (reason != said)
			log_warn("%s: %s; waiting for the storage to answer", cfg->lock_path, log_strerror(e));
		said = reason;
		lockfile_close(&l->lf);
		/* Signals are blocked here (a rejoin inherits its old loop's
		 * mask) and the signalfd not yet made: a request to leave waits
		 * as pending, and is looked for each time, or the node would
		 * leave only once the storage answers: sigtimedwait takes one
		 * already pending at once, and ends the pause on a new one. */
		sigset_t leave;
		sigemptyset(&leave);
		sigaddset(&leave, SIGTERM);
		sigaddset(&leave, SIGINT);
		struct timespec second = { 1, 0 };
		if (sigtimedwait(&leave, NULL, &second) > 0) {
			log_info("asked to leave while waiting for the storage: leaving");
			return SETUP_LEFT;
		}
	}
	char *extra[3] = { NULL };
	if ((r = readiness_open(&l->rd, cfg, &l->ring)) < 0) {
		log_error("the workload's notify socket: %s", strerror(-r));
		return EX_OSERR;
	}
	readiness_env(&l->rd, extra);
	if (!(l->envp = build_env(cfg, extra)) || !(l->hook_envp = hook_environment(l->envp)) ||
	    getrandom(l->id, sizeof(l->id), 0) != (ssize_t)sizeof(l->id)) {
		log_error("setting up: %s", strerror(errno));
		return EX_OSERR;
	}
	l->metrics = cfg->metrics ? cfg->metrics : &l->own_metrics;
	if (!cfg->metrics)
		metrics_init(l->metrics);
	observe_init(&l->obs, cfg, l->hook_envp, l->metrics);
	if (cfg->id_out)
		memcpy(cfg->id_out, l->id, LF_ID_SIZE);
	/* Unknown (zero) is allowed: is-live then cannot tell this host's
	 * node from another's of the same name, as before 1.2. */
	if (host_id(l->host) < 0)
		log_warn(
			"neither /etc/machine-id nor the boot id reads: is-live on this host cannot tell its own node");
	l->node_cfg = cfg->node;
	/* statfs can hang like any call on the storage; at start, before
	 * any workload, that only delays joining. */
	int local = lockfile_is_local(&l->lf);
	l->local = local;
	warn_page_cache(l);
	struct statfs fs;
	if (cfg->fs_type_out && fstatfs(l->lf.fd, &fs) == 0)
		*cfg->fs_type_out = (long)fs.f_type;
	/* Every delay from one derivation (timeline.h has the timeline of a
	 * crash and of a partition). The new-file wait: a live node of the
	 * file that was at the path before notices within a check interval
	 * and kills its workload, or on networked storage fences within the
	 * fence timeout, which the takeover delay covers (protocol.md §5.8).
	 * Every node of a group is to use the same check interval. */
	struct timeline_settings ts;
	timeline_of(cfg, &ts);
	const char *wd = getenv("WATCHDOG_USEC"), *wd_pid = getenv("WATCHDOG_PID");
	if (wd && (!wd_pid || atol(wd_pid) == (long)getpid()) && atoll(wd) > 0)
		ts.watchdog_ms = atoll(wd) / 1000 < 1 ? 1 : atoll(wd) / 1000;
	struct timeline tl;
	timeline_derive(&ts, &tl);
	l->node_cfg.takeover_delay_ms = timeline_takeover_delay(&tl, local == 1);
	l->node_cfg.new_file_wait_ms = timeline_new_file_wait(&tl, local == 1);
	/* Where one kernel arbitrates, a waiting node blocks until it is
	 * handed the lock, and the path's changes come to it (watch.h). */
	if (local == 1 && (r = watch_open(&l->watch, l->lf.path, l->lf.fd)) < 0)
		log_warn("%s: cannot watch its path (%s): a waiting node looks every %lld ms", l->lf.path, strerror(-r),
			 (long long)cfg->node.poll_ms);
	set_waits(l, &tl, cfg->node.poll_ms, &l->node_cfg);
	/* VERIFYING reads at the live node's pace: the fence timeout is set
	 * against rounds every heartbeat interval (F >= 2H, timeline.c). */
	l->node_cfg.verify_read_ms = cfg->heartbeat_ms;
	l->guard_fence_ms = tl.stall_fence_ms;
	l->guard_look_ms = tl.stall_look_ms;
	if (cfg->takeover_delay_ms < 0)
		log_info("takeover delay %lld ms: %s", (long long)l->node_cfg.takeover_delay_ms,
			 local == 1 ? "local file system, one kernel arbitrates every lock"
				    : "networked file system: fence timeout plus two heartbeats");
	struct timeline_fault warn[4];
	size_t nwarn = timeline_warnings(&ts, local == 1 ? TIMELINE_LOCAL : TIMELINE_NETWORKED, warn, 4);
	for (size_t i = 0; i < nwarn; i++) {
		char msg[768];
		timeline_explain(&warn[i], &ts, NULL, msg, sizeof(msg));
		log_warn("%s", msg);
	}
	if (tl.watchdog_pet_ms) {
		l->watchdog_ms = 2 * tl.watchdog_pet_ms; /* petted every half of it */
		l->watchdog_at = 1;                      /* pet at once */
	}
	if ((r = supervise_init()) < 0) {
		log_error("cannot become a child subreaper: %s", strerror(-r));
		return EX_OSERR;
	}
	sigset_t mask;
	sigemptyset(&mask);
	int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2, SIGCHLD, SIGPIPE, SIGRTMIN + 2 };
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaddset(&mask, sigs[i]);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0 || (l->sfd = signalfd(-1, &mask, SFD_CLOEXEC)) < 0) {
		log_error("signalfd: %s", strerror(errno));
		return EX_OSERR;
	}
	if (!prepared.sh && (r = worker_spawn(&prepared)) < 0) {
		log_error("starting the storage process: %s", strerror(-r));
		return EX_OSERR;
	}
	/* The workloads' spawner (spawn.h): after the storage process, which
	 * is forked while this process has one thread. Without it, workloads
	 * are forked: slower to start, no less safe. */
	if ((r = spawn_init()) < 0)
		log_warn("no thread to start workloads from (%s): they will be forked", strerror(-r));
	l->worker = prepared;
	prepared.sh = NULL;
	if ((r = worker_attach(&l->worker, &l->lf)) < 0) {
		log_error("starting the storage process: %s", strerror(-r));
		return EX_OSERR;
	}
	supervise_not_workload(l->worker.pid); /* never killed with the workload's tree */
	/* The rounds' calls are counted by the storage process, in the
	 * caller's metrics, which it maps shared before the process is
	 * forked (loop.h); our own are not there to count in. */
	if (cfg->metrics) {
		l->worker.sh->rounds.count_call = count_round_call;
		l->worker.sh->rounds.count_ctx = cfg->metrics;
	}
	if ((r = io_uring_queue_init(32, &l->ring, 0)) < 0) {
		log_error("io_uring: %s", strerror(-r));
		return EX_OSERR;
	}
	arm_signal(l);
	arm_worker(l);
	if (l->watch.fd >= 0)
		arm_watch(l);
	readiness_listen(&l->rd, l->hook_envp);
	return 0;
}

/* --- reload ----------------------------------------------------------------------- */

/* A reload's settings in force: the node's (the takeover delay and the
 * new-file wait derived again for the file system found at start, which
 * is not asked again: statfs can hang on storage that does), the hooks',
 * and the loop's own deadlines. Nothing here can fail: the settings were
 * checked against the timeline's relations before they came. */
static void apply_settings(struct loop *l, const struct loop_config *next)
{
	struct timeline_settings ts;
	timeline_of(next, &ts);
	ts.watchdog_ms = l->watchdog_ms;
	struct timeline tl;
	timeline_derive(&ts, &tl);
	struct node_config nc = next->node;
	nc.takeover_delay_ms = timeline_takeover_delay(&tl, l->local == 1);
	nc.new_file_wait_ms = timeline_new_file_wait(&tl, l->local == 1);
	set_waits(l, &tl, next->node.poll_ms, &nc);
	nc.verify_read_ms = next->heartbeat_ms; /* as at start: VERIFYING's rounds */
	node_reconfigure(&l->node, &nc);
	/* The storage process's guard takes the new bounds at its next
	 * arming, with the role. */
	l->guard_fence_ms = tl.stall_fence_ms;
	l->guard_look_ms = tl.stall_look_ms;
	l->node_cfg = nc;
	l->cfg = next;
	observe_reconfigure(&l->obs, next);
	/* A deadline already set comes at the earlier of the old and the new
	 * interval: a shorter one takes effect now, a longer one from the
	 * next arming. The fence deadline is counted from the last round
	 * with the fence timeout as it now is; a storage call in progress,
	 * a stop under way and a hook running keep the bound they began
	 * with. */
	int64_t now = clock_ms();
	if (l->worker.sh) {
		struct worker_rounds *rd = &l->worker.sh->rounds;
		rd->check_ms = next->check_ms;
		rd->heartbeat_ms = next->heartbeat_ms;
		rd->io_timeout_ms = next->io_timeout_ms;
		if (rd->check_at > now + next->check_ms)
			rd->check_at = now + next->check_ms;
		if (rd->heartbeat_at > now + next->heartbeat_ms)
			rd->heartbeat_at = now + next->heartbeat_ms;
		if (l->rounds_on)
			worker_interrupt(&l->worker); /* its wait looks at the new schedule */
	}
	if (l->interrupt_at && l->interrupt_at > now + next->node.poll_ms)
		l->interrupt_at = now + next->node.poll_ms;
	struct timeline_fault warn[4];
	size_t nwarn = timeline_warnings(&ts, l->local == 1 ? TIMELINE_LOCAL : TIMELINE_NETWORKED, warn, 4);
	for (size_t i = 0; i < nwarn; i++) {
		char msg[768];
		timeline_explain(&warn[i], &ts, NULL, msg, sizeof(msg));
		log_warn("%s", msg);
	}
}

/* SIGHUP: the settings read again where there is a file to read. */
static void reload(struct loop *l)
{
	if (!l->cfg->reload) {
		log_info("SIGHUP: no configuration file to read again (no --config)%s",
			 l->wl_active && !l->wl.main_gone && l->exec_fd < 0 ? "; passing it to the workload"
									    : "; no workload here to pass it to");
		return;
	}
	/* The unit shows "reloading" between the two (systemd 252 takes
	 * RELOADING=1 from a Type=notify service; later ones also want the
	 * time). Before the first READY=1 they are not sent: a READY=1 here
	 * would end the unit's start before the node has joined. */
	bool tell = l->obs.ready_sent;
	if (tell) {
		char msg[64];
		snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%lld", (long long)clock_ms() * 1000);
		notify_send(msg);
	}
	const struct loop_config *next = NULL;
	if (l->cfg->reload(l->cfg->reload_ctx, &next) == 0 && next)
		apply_settings(l, next);
	if (tell)
		notify_send("READY=1");
}

/* How long an exit waits to hear whether its last hooks could start. */
#define HOOK_SETTLE_MS 1000

/* A loop whose storage call never returned, kept for the process exit
 * (reachable, so not a leak). */
bool loop_leave_pending(void)
{
	sigset_t pending;
	return sigpending(&pending) == 0 && (sigismember(&pending, SIGTERM) == 1 || sigismember(&pending, SIGINT) == 1);
}

/* SIGTERM or SIGINT came after the loop stopped taking events (while it
 * waited for a hung call to end, or in the pause before a rejoin): the
 * ring's armed read of the signalfd may have taken it already, and that
 * completion would be lost with the exec of a rejoin; or it is still
 * pending. Either way the node was asked to leave, and must not join
 * again and run on (found by the soak test on the GlusterFS rig: a
 * backup that gave up its takeover was sent SIGTERM while its storage
 * process's call hung, rejoined, and was still running 20 s later). The
 * read is cancelled first, so that a signal after this look stays
 * pending through the exec, for the next process's signalfd. */
static bool asked_to_leave_late(struct loop *l)
{
	bool asked = false;
	struct io_uring_sqe *sqe = l->ring.ring_fd > 0 ? io_uring_get_sqe(&l->ring) : NULL;
	if (sqe) {
		io_uring_prep_cancel64(sqe, TAG(TAG_SIGNAL, 0), 0);
		io_uring_sqe_set_data64(sqe, 0);
		io_uring_submit(&l->ring);
		struct __kernel_timespec ts = { 0, 100 * 1000000L };
		struct io_uring_cqe *cqe;
		/* Every completion already there, and the cancel's own. */
		while (io_uring_wait_cqe_timeout(&l->ring, &cqe, &ts) == 0) {
			uint64_t tag = io_uring_cqe_get_data64(cqe);
			if ((tag & 0xff) == TAG_SIGNAL && cqe->res == (int)sizeof(l->si) &&
			    (l->si.ssi_signo == SIGTERM || l->si.ssi_signo == SIGINT))
				asked = true;
			io_uring_cqe_seen(&l->ring, cqe);
			if (tag == 0)
				break;
		}
	}
	return asked || loop_leave_pending();
}

static struct loop *volatile left_to_exit;

/* How often the wait for a hung call before a rejoin looks for a request
 * to leave: what a SIGTERM then waits at most. */
#define WAIT_IDLE_TICK_MS 50

int loop_run(const struct loop_config *cfg, bool *lost_storage)
{
	*lost_storage = false;
	struct loop *l = calloc(1, sizeof(*l));
	if (!l) {
		log_error("out of memory");
		return EX_OSERR;
	}
	l->cfg = cfg;
	l->sfd = -1;
	l->lf.fd = -1;
	l->wl.pidfd = -1;
	l->exec_fd = -1;
	l->watch.fd = -1;
	int code = setup(l);
	if (code) {
		/* Found by the soak test on the GlusterFS rig: SETUP_LEFT was
		 * EX_OK, and a node asked to leave while it waited for the
		 * storage ran on a file it had never opened, into SIGSEGV. */
		if (code == SETUP_LEFT)
			code = EX_OK;
		goto out;
	}
	node_init(&l->node, &l->node_cfg, &l->out);
	log_info("joining %s as %s", cfg->lock_path, lockfile_role_name((uint8_t)cfg->node.role));
	for (;;) {
		settle(l);
		/* The guard stands down as the node leaves the role, before the
		 * loop waits: a node no longer live has nothing it may kill. */
		if (!ticking(l) || l->fenced || l->storage_hung)
			worker_guard_disarm(&l->worker);
		settle_rounds(l);
		if (l->done && l->cursor >= l->out.n && (!l->job_pending || !l->wl_active))
			break;
		int r = (int)wait_events(l);
		if (r < 0) {
			log_error("io_uring wait: %s", strerror(-r));
			if (l->wl_active)
				supervise_kill_tree(&l->wl, SIGKILL);
			code = EX_OSERR;
			goto out;
		}
		fire_timers(l);
	}
	code = node_exit_code(&l->node);
	/* A hook started on the way out (on-stop, on-fence) that was refused
	 * or could not exec is said, within a bound: its exec may hang. */
	observe_settle(&l->obs, HOOK_SETTLE_MS);
	/* A node asked to leave leaves, even if the storage failed it on the
	 * way out: rejoining would ignore the request (found by the chaos
	 * test once managers no longer hung on GlusterFS), and when the
	 * request came after the fence had ended the node (found by the
	 * soak test: SIGCONT to a live manager frozen past its fence
	 * timeout, then SIGTERM, and it joined again and ran on). */
	*lost_storage = code == NODE_EXIT_IO && !node_asked_to_leave(&l->node) && !l->leave_asked;
out:
	/* A rejoin re-executes this process: what it leaves behind must be an
	 * idle storage process, which ends at once, not one still waiting
	 * for a lock that would hold our slot and the backup lock against
	 * the new node. A lock wait is cut at its pause; any other call is
	 * given up to --io-timeout. (On an exit the wait is cut by our death
	 * and the process ends after its call: nothing to wait for here; on
	 * a local file system worker_stop kills it, which costs nothing.) */
	if (*lost_storage && l->cfg->rejoin) {
		/* Only a rejoin needs that wait (--after-fence exit leaves at
		 * once): a request to leave, before it or during it, ends it
		 * (checked every tick, as the wait itself cuts a lock wait). */
		bool asked = asked_to_leave_late(l), idle = true;
		int64_t t0 = clock_ms();
		if (l->lf.poll && l->worker.started)
			while (!asked && !(idle = worker_wait_idle(&l->worker, WAIT_IDLE_TICK_MS)) &&
			       clock_ms() - t0 < cfg->io_timeout_ms)
				asked = loop_leave_pending();
		if (!idle && !asked)
			log_warn("%s: a storage call has not returned in %lld ms more: leaving it", cfg->lock_path,
				 (long long)cfg->io_timeout_ms);
		if (asked) {
			log_info("asked to leave while the storage failed us: leaving, not joining again");
			*lost_storage = false;
		}
	}
	if (l->job_pending || l->storage_hung || l->fenced) {
		/* Closing the file could wait for the storage as long as the
		 * call in progress, or (fenced: no round completed) as long as
		 * the storage does not answer: leave it, and the rest, to the
		 * process exit (kept reachable: it is not a leak). */
		left_to_exit = l;
		worker_stop(&l->worker, !l->lf.poll);
		return code;
	}
	if (l->worker.sh)
		worker_stop(&l->worker, !l->lf.poll);
	else if (prepared.sh)
		worker_stop(&prepared, false); /* setup failed before it took it */
	if (l->ring.ring_fd > 0)
		io_uring_queue_exit(&l->ring);
	if (l->sfd >= 0)
		close(l->sfd);
	watch_close(&l->watch);
	lockfile_close(&l->lf);
	free(l->exe);
	free(l->hook_envp);
	if (l->envp) {
		for (size_t i = 0; l->envp[i]; i++)
			if (strncmp(l->envp[i], "UNDERSTUDY_", 11) == 0)
				free(l->envp[i]);
		free(l->envp);
	}
	free(l);
	return code;
}
