/* The node's event loop. Everything arrives on one io_uring and goes to
 * node_step(); its actions are carried out here, storage ones on the
 * worker thread, one at a time and in order. */
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
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/vfs.h>
#include <sys/wait.h>

#include "understudy/hook.h"
#include "understudy/host.h"
#include "understudy/log.h"
#include "understudy/notify.h"
#include "understudy/supervise.h"
#include "understudy/text.h"
#include "understudy/timeline.h"
#include "understudy/worker.h"

extern char **environ;

enum { TAG_SIGNAL = 1, TAG_WORKER = 2, TAG_PIDFD = 3, TAG_NOTIFY = 4, TAG_READY_FD = 5, TAG_TCP = 6 };
#define TAG(kind, gen) ((uint64_t)(kind) | (uint64_t)(gen) << 8)
#define QUEUE_LEN 8

struct pending {
	struct node_event_data ev;
	unsigned timer_gen; /* TIMER: which arming it answers */
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
	bool job_pending, job_is_tick, storage_hung;
	bool list_failed; /* a storage action of the current list failed */
	bool fenced;      /* the fence deadline passed; checked once */
	bool fence_hook_ran;
	bool handing_back;     /* stopping for a failback request */
	bool live_by_failback; /* on-failback too when ready */
	bool ready_once;       /* on-live ran for this term as live */
	int64_t took_role_at, spawned_at;
	char wl_status[160]; /* the workload's own STATUS=, escaped */
	/* Readiness: the workload's notify socket, its ready pipe, a probe. */
	int notify_fd;
	struct msghdr nmsg;
	struct iovec niov;
	char nbuf[4096];
	_Alignas(struct cmsghdr) char ncmsg[CMSG_SPACE(sizeof(struct ucred))];
	char notify_env[128], watchdog_env[64];
	bool reloading, notify_stray_said;
	bool ready_pushed, unhealthy_pushed; /* once per workload each */
	int64_t wl_watchdog_at;              /* the workload asked for a watchdog: pet by then */
	int ready_r;                         /* read end of the ready pipe, -1 when none */
	char ready_buf[64];
	unsigned ready_gen;
	int tcp_fd;
	unsigned tcp_gen;
	struct __kernel_timespec tcp_timeout;
	pid_t probe_pid;
	int64_t probe_at, probe_kill_at;
	struct hooks hooks;
	/* The live node as this node last read it, for STATUS= and hooks. */
	char live_name[LF_NAME_MAX + 1], live_address[LF_ADDR_MAX + 1];
	time_t live_since; /* wall clock, for people: when we became live */
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
	/* Deadlines on CLOCK_MONOTONIC in ms; 0 when not set. */
	int64_t timer_at, tick_at, kill_at, interrupt_at, job_deadline, heartbeat_at;
	int64_t last_round; /* the last heartbeat round that completed */
	int64_t watchdog_ms, watchdog_at, last_pet_round;
	struct node_config node_cfg; /* with the takeover delay resolved */
	uint8_t id[LF_ID_SIZE];
	uint8_t host[LF_ID_SIZE]; /* this host's machine id, zero if unknown (host.h) */
	int name_slot;            /* JOINED: the alive slot with our name, or -1 */
	uint32_t repair_size;     /* the file's length as the check before a repair read it */
	uint32_t name_pid;
	uint64_t heartbeat, slot_seq;
	char *exe;
	char **envp;
	char **hook_envp; /* PATH and the UNDERSTUDY_ variables only */
	bool done, ready_sent, stopping_sent;
	/* SIGTERM or SIGINT came, whatever the node did with it: one that
	 * lands after a fence has ended the node (DONE ignores it) must
	 * still keep the manager from rejoining. */
	bool leave_asked;
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

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
	return p;
}

static void push_job_event(struct loop *l, enum node_event type)
{
	struct pending *p = push(l, type);
	if (l->job.have_view) {
		p->has_view = true;
		p->view = l->job.view;
		p->ev.target_alive = l->job.target_alive;
		p->ev.target_state = l->job.target_state;
		p->ev.backup_waiting = l->job.backup_waiting;
		p->ev.foreign_record = !l->job.live_here;
	}
	p->ev.own_slot_bad = l->job.own_slot_bad;
}

static bool standing_by(enum node_state s) { return s == NODE_QUEUED || s == NODE_BACKUP || s == NODE_CLAIMING; }

static bool holds_role(enum node_state s) { return s == NODE_STARTING || s == NODE_LIVE || s == NODE_STOPPING; }

static void publish(struct loop *l)
{
	enum node_state s = l->node.state;
	enum loop_health h = s == NODE_LIVE && l->wl_active ? LOOP_SERVING
			     : s == NODE_STARTING           ? LOOP_STARTING
			     : standing_by(s)               ? LOOP_STANDING_BY
							    : LOOP_DOWN;
	if (l->cfg->health)
		*l->cfg->health = (int)h;
}

/* The one line systemctl status shows: what this node is doing, and for
 * whom it waits. The live node's name is read from the file, where anyone
 * who can write it put it: escaped, a newline in it cannot add a line
 * (READY=1, MAINPID=) to the datagram, nor an ESC reach a terminal. */
static void announce(struct loop *l)
{
	publish(l);
	char status[512], since[16] = "?", live[TEXT_ESCAPED_SIZE(LF_NAME_MAX)];
	text_escape(l->live_name, live, sizeof(live), TEXT_WORD);
	enum node_state s = l->node.state;
	struct tm tm;
	if (l->live_since && localtime_r(&l->live_since, &tm))
		strftime(since, sizeof(since), "%H:%M:%S", &tm);
	if (s == NODE_LIVE && l->wl_active)
		snprintf(status, sizeof(status), "STATUS=live since %s, workload pid %d%s%.160s", since, (int)l->wl.pid,
			 l->wl_status[0] ? ": " : "", l->wl_status);
	else if (s == NODE_STARTING && l->wl_active)
		snprintf(status, sizeof(status), "STATUS=starting: workload pid %d, waiting for it to be ready%s%.160s",
			 (int)l->wl.pid, l->wl_status[0] ? ": " : "", l->wl_status);
	else if (s == NODE_STARTING || s == NODE_LIVE)
		/* No workload spawned since this node took the role: its first. */
		snprintf(status, sizeof(status), "STATUS=live, %s",
			 l->spawned_at >= l->took_role_at ? "workload restarting" : "starting the workload");
	else if (standing_by(s) && l->live_name[0] && strcmp(l->live_name, l->cfg->name) != 0)
		/* Its own name is what it was as live (a switchover moved it):
		 * not whom it waits for. */
		snprintf(status, sizeof(status), "STATUS=%s, waiting behind %s",
			 l->cfg->node.role == LF_ROLE_PRIMARY ? "primary" : "backup", live);
	else if (standing_by(s))
		snprintf(status, sizeof(status), "STATUS=%s, waiting for the live lock",
			 l->cfg->node.role == LF_ROLE_PRIMARY ? "primary" : "backup");
	else if (s == NODE_VERIFYING && l->node.new_file)
		snprintf(status, sizeof(status),
			 "STATUS=the lock file is new or was replaced: waiting for any live node of an earlier file "
			 "to fence");
	else if (s == NODE_VERIFYING)
		snprintf(status, sizeof(status), "STATUS=taking over from %s: waiting out the takeover delay",
			 l->live_name[0] ? live : "a crashed node");
	else if (s == NODE_STOPPING)
		snprintf(status, sizeof(status), "STATUS=stopping the workload (pid %d)", (int)l->wl.pid);
	else
		snprintf(status, sizeof(status), "STATUS=%s", node_state_name(s));
	notify_send(status);
	if (!l->ready_sent && (s == NODE_LIVE || s == NODE_BACKUP || s == NODE_QUEUED || s == NODE_CLAIMING)) {
		notify_send("READY=1");
		l->ready_sent = true;
	}
}

/* Start the hook for e with what this node knows now. */
static void run_hook(struct loop *l, enum hook_event e)
{
	char state[64], node[96], addr[96], pid[48];
	snprintf(state, sizeof(state), "UNDERSTUDY_STATE=%s", node_state_name(l->node.state));
	snprintf(node, sizeof(node), "UNDERSTUDY_LIVE_NODE=%s", l->live_name);
	snprintf(addr, sizeof(addr), "UNDERSTUDY_LIVE_ADDRESS=%s", l->live_address);
	snprintf(pid, sizeof(pid), "UNDERSTUDY_WORKLOAD_PID=%d", l->wl_active ? (int)l->wl.pid : 0);
	char *extra[] = { state, node, addr, pid, NULL };
	hook_start(&l->hooks, e, l->hook_envp, extra, now_ms());
}

static void remember_live(struct loop *l, const struct lf_view *v)
{
	if (!v || v->live_rec != LF_REC_OK || (v->status != LF_LIVE && v->status != LF_FAILBACK))
		return;
	snprintf(l->live_name, sizeof(l->live_name), "%s", v->live.name);
	snprintf(l->live_address, sizeof(l->live_address), "%s", v->live.address);
}

/* Hooks follow the node's transitions; the state machine knows nothing
 * of them. on-live waits for the workload to be ready, so that a virtual
 * IP moves to a node that serves. */
static void transition_hooks(struct loop *l, enum node_state before)
{
	enum node_state now = l->node.state;
	const struct lf_view *v = l->current.ev.view;
	bool was_live = holds_role(before), is_live = holds_role(now);
	if (is_live && !was_live) {
		l->took_role_at = now_ms();
		snprintf(l->live_name, sizeof(l->live_name), "%s", l->cfg->name);
		snprintf(l->live_address, sizeof(l->live_address), "%s", l->cfg->address ? l->cfg->address : "");
		l->live_by_failback = v && v->status == LF_FAILBACK && v->request_rec == LF_REC_OK &&
				      v->request.kind == LF_REQ_FAILBACK;
	}
	if (now == NODE_LIVE && before == NODE_STARTING) {
		int64_t t = now_ms();
		l->live_since = time(NULL);
		log_info("workload ready %lld ms after its exec, %lld ms after this node took the live lock",
			 (long long)(t - l->spawned_at), (long long)(t - l->took_role_at));
		if (!l->ready_once) {
			l->ready_once = true;
			run_hook(l, HOOK_LIVE);
			if (l->live_by_failback)
				run_hook(l, HOOK_FAILBACK);
		}
	}
	if ((before == NODE_LIVE || before == NODE_STARTING) && now == NODE_STOPPING &&
	    l->node.stop == NODE_STOP_HANDOVER)
		l->handing_back = v && v->request_rec == LF_REC_OK && v->request.kind == LF_REQ_FAILBACK;
	if (was_live && !is_live) {
		l->ready_once = false;
		if (!l->fence_hook_ran) /* a fenced node says so with on-fence */
			run_hook(l, HOOK_STOP);
		if (l->handing_back)
			run_hook(l, HOOK_FAILBACK);
		l->handing_back = false;
	}
	if (standing_by(now) && !standing_by(before))
		run_hook(l, HOOK_BACKUP);
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
	ev->now_ms = now_ms();
	remember_live(l, ev->view);
	enum node_state before = l->node.state;
	node_step(&l->node, ev, &l->out);
	l->cursor = 0;
	l->list_failed = false;
	/* A timer belongs to the state that asked for it: a restart back-off
	 * must not fire into the state a hand-over moved to. A new state's
	 * own TIMER action comes after this, in l->out. */
	if (before != l->node.state) {
		l->timer_at = 0;
		l->timer_gen++;
	}
	enum log_level level = l->out.loud ? LOGL_WARN : LOGL_INFO;
	if (ev->type == NODE_EV_JOINED && ev->name_taken && l->node.state == NODE_DONE) {
		/* The node refused; only the loop knows whom it met. */
		log_error("%s: the name '%s' is taken: the node in slot %d (pid %u on its host) has it and is "
			  "alive in this group; two nodes of one name would both answer is-live. Refusing to join: "
			  "give this node another name",
			  l->lf.path, l->cfg->name, l->name_slot, (unsigned)l->name_pid);
		announce(l);
		return;
	}
	if (before != l->node.state) {
		log_msg(level, "%s -> %s: %s", node_state_name(before), node_state_name(l->node.state),
			l->out.why ? l->out.why : node_event_name(ev->type));
		transition_hooks(l, before);
		announce(l);
	} else if (l->out.why) {
		log_msg(level, "%s: %s", node_state_name(before), l->out.why);
	}
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
	s->epoch = l->node.epoch;
	memcpy(s->host, l->host, LF_ID_SIZE);
}

static void fill_live(struct loop *l, struct lf_live *v)
{
	memset(v, 0, sizeof(*v));
	v->epoch = l->node.epoch;
	v->heartbeat = ++l->heartbeat;
	memcpy(v->id, l->id, LF_ID_SIZE);
	v->slot = l->node.slot;
	v->pid = (uint32_t)getpid();
	v->heartbeat_ms = (uint32_t)l->cfg->heartbeat_ms;
	snprintf(v->name, sizeof(v->name), "%s", l->cfg->name);
	snprintf(v->address, sizeof(v->address), "%s", l->cfg->address ? l->cfg->address : "");
}

static bool is_wait(enum worker_op op) { return op == WORKER_WAIT_LIVE || op == WORKER_WAIT_BACKUP; }

static struct worker_job *job(struct loop *l, enum worker_op op)
{
	struct worker_job *j = &l->job;
	memset(j, 0, offsetof(struct worker_job, view));
	j->op = op;
	j->my_slot = l->node.slot;
	memcpy(j->my_id, l->id, LF_ID_SIZE);
	return j;
}

static void submit(struct loop *l, bool tick)
{
	int64_t now = now_ms();
	l->job_pending = true;
	l->job_is_tick = tick;
	l->interrupt_at = is_wait(l->job.op) ? now + l->cfg->node.poll_ms : 0;
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

static void storage_failed(struct loop *l, int err)
{
	/* The rest of this list still runs, less what needs the storage and
	 * SPAWN: a STOP or EXIT after a failed write must not be lost. */
	l->list_failed = true;
	if (l->node.state == NODE_DONE)
		return; /* leaving anyway */
	push(l, NODE_EV_STORAGE_ERROR)->ev.err = err;
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
	l->interrupt_at = l->job_deadline = 0;
	struct worker_job *j = &l->job;
	int r = j->res;
	if (j->replaced && (r >= 0 || r == -EAGAIN || r == -EINTR)) {
		if (l->job_is_tick && r == 0 && j->op == WORKER_HEARTBEAT)
			l->last_round = now_ms();
		log_warn("%s no longer names the file this node has open: it was deleted, renamed or replaced",
			 l->lf.path);
		push(l, NODE_EV_REPLACED);
		return;
	}
	if (l->job_is_tick) {
		if (r == 0 && j->op == WORKER_HEARTBEAT)
			l->last_round = now_ms();
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
				remember_live(l, &j->view);
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

/* At most three requests are ever outstanding on a ring of 32, so the
 * queue has room; if it ever had not, submitting frees it. */
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

static void arm_ready_fd(struct loop *l)
{
	struct io_uring_sqe *sqe = sqe_get(l);
	io_uring_prep_read(sqe, l->ready_r, l->ready_buf, sizeof(l->ready_buf), 0);
	io_uring_sqe_set_data64(sqe, TAG(TAG_READY_FD, l->ready_gen));
}

static void close_ready_fd(struct loop *l)
{
	if (l->ready_r >= 0)
		close(l->ready_r);
	l->ready_r = -1;
	l->ready_gen++; /* a read still in flight answers nobody */
}

/* Readiness is over for this workload: it is ready, or gone. */
static void readiness_done(struct loop *l)
{
	close_ready_fd(l);
	l->probe_at = 0;
}

static void ready(struct loop *l, const char *how)
{
	/* Once per workload: repeated READY=1 must not fill the queue. */
	if (l->node.state != NODE_STARTING || !l->wl_active || l->ready_pushed)
		return;
	l->ready_pushed = true;
	log_debug("workload ready: %s", how);
	readiness_done(l);
	push(l, NODE_EV_READY);
}

static void unhealthy(struct loop *l)
{
	if (l->unhealthy_pushed)
		return;
	l->unhealthy_pushed = true;
	push(l, NODE_EV_UNHEALTHY);
}

static void spawn(struct loop *l)
{
	char *const *argv = l->cfg->argv;
	struct supervise_as as = l->cfg->workload_as;
	int p[2] = { -1, -1 };
	if (l->cfg->ready == LOOP_READY_FD) {
		if (pipe2(p, O_CLOEXEC) < 0) {
			log_error("workload %s: the ready pipe: %s", argv[0], strerror(errno));
			push(l, NODE_EV_SPAWN_FAILED)->ev.err = errno;
			return;
		}
		as.pass_fd = p[1];
		as.pass_fd_as = l->cfg->ready_fd;
	}
	int r = supervise_spawn(&l->wl, l->exe, argv, l->envp, l->lf.fd, &as);
	if (p[1] >= 0)
		close(p[1]); /* the workload's alone: its exit is our EOF */
	if (r < 0) {
		if (p[0] >= 0)
			close(p[0]);
		log_error("workload %s: %s", argv[0], strerror(-r));
		push(l, NODE_EV_SPAWN_FAILED)->ev.err = -r;
		return;
	}
	l->wl_active = true;
	l->spawned_at = now_ms();
	l->wl_status[0] = '\0';
	l->wl_watchdog_at = 0;
	l->reloading = l->notify_stray_said = l->ready_pushed = l->unhealthy_pushed = false;
	arm_pidfd(l);
	log_info("workload %s started, pid %d", argv[0], (int)l->wl.pid);
	push(l, NODE_EV_STARTED);
	switch (l->cfg->ready) {
	case LOOP_READY_EXEC: push(l, NODE_EV_READY); break;
	case LOOP_READY_FD:
		close_ready_fd(l);
		l->ready_r = p[0];
		arm_ready_fd(l);
		break;
	case LOOP_READY_TCP:
	case LOOP_READY_COMMAND: l->probe_at = l->spawned_at + l->cfg->ready_interval_ms; break;
	case LOOP_READY_NOTIFY: break;
	}
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
	l->kill_at = now_ms() + l->cfg->stop_timeout_ms;
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

/* After the SIGKILL, never before it: the hook must not delay the fence. */
static void fence_hook(struct loop *l)
{
	if (l->fence_hook_ran)
		return;
	l->fence_hook_ran = true;
	run_hook(l, HOOK_FENCE);
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
		l->storage_hung = true;
		l->job_pending = false;
		l->interrupt_at = l->job_deadline = 0;
		if (l->wl_active) {
			supervise_kill_tree(&l->wl, SIGKILL); /* never run blind */
			fence_hook(l);
		}
		storage_failed(l, EIO);
		return;
	}
	if (pid != l->probe_pid || !pid) {
		hook_reaped(&l->hooks, pid, wstatus);
		return;
	}
	l->probe_pid = 0;
	l->probe_kill_at = 0;
	if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0)
		ready(l, "the ready command exited 0");
}

/* A child changed state. The workload counts as gone only when its main
 * process and every other process of its tree have been reaped. */
static void on_child(struct loop *l)
{
	bool none = supervise_reap(&l->wl, reaped_other, l);
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
			l->kill_at = now_ms() + l->cfg->stop_timeout_ms;
		} else {
			supervise_kill_tree(&l->wl, l->wl.stop_sig);
		}
		return;
	}
	char how[96];
	describe_exit(l->wl.wstatus, how, sizeof(how));
	log_info("workload %s", how);
	l->wl_active = false;
	l->wl_watchdog_at = 0;
	readiness_done(l);
	publish(l);
	l->kill_at = 0;
	push(l, NODE_EV_EXITED)->ev.wstatus = l->wl.wstatus;
}

/* --- actions out ------------------------------------------------------------- */

static void run_action(struct loop *l, const struct node_action *a)
{
	struct worker_job *j;
	int64_t now = now_ms();
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
		submit(l, false);
		return;
	case NODE_A_WAIT_BACKUP:
		job(l, WORKER_WAIT_BACKUP);
		submit(l, false);
		return;
	case NODE_A_RELEASE_LIVE:
		l->tick_at = 0;
		job(l, WORKER_RELEASE_LIVE);
		submit(l, false);
		return;
	case NODE_A_RELEASE_BACKUP:
		job(l, WORKER_RELEASE_BACKUP);
		submit(l, false);
		return;
	case NODE_A_WRITE_LIVE: {
		j = job(l, WORKER_WRITE_LIVE);
		j->status = LF_LIVE;
		/* The request the decision to become live saw, if any: a newer
		 * one that lands before this write must survive it. */
		const struct lf_view *v = l->current.has_view ? &l->current.view : NULL;
		j->seq = v && v->status == LF_FAILBACK && v->request_rec == LF_REC_OK ? (int64_t)v->request.seq : -1;
		l->heartbeat = 0; /* each epoch counts from 1 */
		fill_live(l, &j->live);
		l->tick_at = now + l->cfg->check_ms;
		l->heartbeat_at = now + l->cfg->heartbeat_ms;
		l->last_round = now; /* the fence clock starts with the role */
		submit(l, false);
		return;
	}
	case NODE_A_WRITE_STATUS:
		j = job(l, WORKER_WRITE_STATUS);
		j->status = (char)a->arg;
		submit(l, false);
		return;
	case NODE_A_REFUSE:
		job(l, WORKER_CLEAR_REQUEST)->seq = a->arg;
		submit(l, false);
		return;
	case NODE_A_REQUEST_FAILBACK:
		j = job(l, WORKER_WRITE_REQUEST);
		j->request.kind = LF_REQ_FAILBACK;
		j->request.target_slot = l->node.slot;
		memcpy(j->request.target_id, l->id, LF_ID_SIZE);
		snprintf(j->request.target_name, sizeof(j->request.target_name), "%s", l->cfg->name);
		snprintf(j->request.requester, sizeof(j->request.requester), "%s", l->cfg->name);
		j->request.requester_pid = (uint32_t)getpid();
		submit(l, false);
		return;
	case NODE_A_SPAWN: spawn(l); return;
	case NODE_A_STOP:
		if (a->arg && l->wl_active) {
			log_warn("fencing: SIGKILL to the workload's whole tree");
			supervise_kill_tree(&l->wl, SIGKILL);
		}
		if (a->arg)
			fence_hook(l);
		stop(l);
		return;
	case NODE_A_REPAIR:
		/* Our records as we would write them now: the live record at our
		 * epoch and the next heartbeat, our slot as we publish it. */
		j = job(l, WORKER_REPAIR);
		l->repair_size = l->current.has_view ? l->current.view.size : 0;
		fill_live(l, &j->live);
		fill_slot(l, &j->slot,
			  (int64_t)node_slot_state(l->node.state) | (int64_t)node_slot_flags(l->node.state) << 8);
		submit(l, false);
		return;
	case NODE_A_READ:
		j = job(l, WORKER_READ);
		j->want_view = true;
		submit(l, true);
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
			/* A node with no workload leaves at once on a signal, even
			 * while its storage call hangs: exiting releases its locks. */
			if (l->qlen && l->queue[l->qhead].ev.type == NODE_EV_SHUTDOWN && !l->wl_active &&
			    l->cursor >= l->out.n)
				dispatch(l);
			if (!(l->done && l->cursor >= l->out.n && !l->wl_active))
				return;
		}
		if (l->cursor < l->out.n) {
			const struct node_action *a = &l->out.a[l->cursor++];
			if ((l->storage_hung || l->list_failed) && a->kind != NODE_A_STOP && a->kind != NODE_A_TIMER &&
			    a->kind != NODE_A_EXIT)
				continue; /* nothing more reaches a failed or hung storage */
			run_action(l, a);
			continue;
		}
		if (l->qlen == 0)
			return;
		dispatch(l);
	}
}

/* --- readiness -------------------------------------------------------------- */

static void arm_notify(struct loop *l)
{
	l->niov = (struct iovec){ l->nbuf, sizeof(l->nbuf) - 1 };
	l->nmsg = (struct msghdr){
		.msg_iov = &l->niov, .msg_iovlen = 1, .msg_control = l->ncmsg, .msg_controllen = sizeof(l->ncmsg)
	};
	struct io_uring_sqe *sqe = sqe_get(l);
	io_uring_prep_recvmsg(sqe, l->notify_fd, &l->nmsg, 0);
	io_uring_sqe_set_data64(sqe, TAG(TAG_NOTIFY, 0));
}

/* One datagram from the workload's side of the notify protocol. Only the
 * workload's own processes are heard: a stray sender must not make it
 * ready. What systemd should know is passed up. */
static void on_notify(struct loop *l, int len)
{
	struct cmsghdr *c = CMSG_FIRSTHDR(&l->nmsg);
	struct ucred cred = { 0 };
	bool have_cred = false;
	for (; c; c = CMSG_NXTHDR(&l->nmsg, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
			memcpy(&cred, CMSG_DATA(c), sizeof(cred));
			have_cred = true;
		}
	/* A sender that has exited already (a short-lived helper, as with
	 * systemd-notify) cannot be placed in the tree any more, and the
	 * kernel may report its pid as 0: it is taken at its word when it ran
	 * as the workload's user or as root, the users that can start
	 * processes in the tree anyway. */
	bool in_tree = have_cred && cred.pid > 0 && supervise_in_tree(&l->wl, cred.pid);
	/* Asked after the walk: a sender reaped during it is gone now. */
	bool gone = !in_tree && (cred.pid <= 0 || (kill(cred.pid, 0) < 0 && errno == ESRCH));
	bool ours = in_tree || (have_cred && gone && (cred.uid == 0 || cred.uid == l->cfg->workload_as.uid));
	if (!l->wl_active || !ours) {
		/* Once per workload: a stray sender should be seen, not flood. */
		if (!l->notify_stray_said)
			log_warn("notify message from pid %d (uid %d%s), not the workload's: ignored", (int)cred.pid,
				 (int)cred.uid, have_cred ? "" : ", no credentials");
		l->notify_stray_said = true;
		return;
	}
	l->nbuf[len] = '\0';
	bool changed = false;
	for (char *save, *line = strtok_r(l->nbuf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!strcmp(line, "READY=1")) {
			if (l->reloading && l->node.state == NODE_LIVE)
				notify_send("READY=1");
			l->reloading = false;
			ready(l, "READY=1");
		} else if (!strncmp(line, "STATUS=", 7)) {
			/* Shown by systemctl status: its bytes are the workload's. */
			text_escape(line + 7, l->wl_status, sizeof(l->wl_status), 0);
			changed = true;
		} else if (!strcmp(line, "RELOADING=1")) {
			log_info("workload (pid %d) reloading", (int)cred.pid);
			l->reloading = true;
			if (l->node.state == NODE_LIVE)
				notify_send("RELOADING=1");
		} else if (!strcmp(line, "STOPPING=1")) {
			log_info("workload (pid %d) says it is stopping", (int)cred.pid);
		} else if (!strcmp(line, "WATCHDOG=1") && l->cfg->watchdog_ms) {
			l->wl_watchdog_at = now_ms() + l->cfg->watchdog_ms;
		} else if (!strcmp(line, "WATCHDOG=trigger")) {
			log_warn("workload (pid %d) triggered its watchdog", (int)cred.pid);
			unhealthy(l);
		}
	}
	if (changed && (l->node.state == NODE_STARTING || l->node.state == NODE_LIVE))
		announce(l);
}

static void on_ready_fd(struct loop *l, int res)
{
	if (res > 0 && memchr(l->ready_buf, '\n', (size_t)res)) {
		ready(l, "a newline on the ready descriptor");
		return;
	}
	if (res > 0) {
		arm_ready_fd(l); /* not a line yet */
		return;
	}
	/* Closed without a newline: it will not say so this way. */
	close_ready_fd(l);
}

static void tcp_probe(struct loop *l)
{
	if (l->tcp_fd >= 0)
		return; /* the last try is still under way */
	l->tcp_fd = socket(l->cfg->ready_addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l->tcp_fd < 0) {
		log_warn("ready probe: socket: %s", strerror(errno));
		return;
	}
	/* A try lasts at most half an interval: a filtered port never
	 * answers, and the next try needs the socket. */
	int64_t t = l->cfg->ready_interval_ms / 2 ? l->cfg->ready_interval_ms / 2 : 1;
	l->tcp_timeout = (struct __kernel_timespec){ t / 1000, (t % 1000) * 1000000 };
	struct io_uring_sqe *sqe = sqe_get(l);
	io_uring_prep_connect(sqe, l->tcp_fd, (const struct sockaddr *)&l->cfg->ready_addr, l->cfg->ready_addrlen);
	io_uring_sqe_set_data64(sqe, TAG(TAG_TCP, ++l->tcp_gen));
	sqe->flags |= IOSQE_IO_LINK;
	sqe = sqe_get(l);
	io_uring_prep_link_timeout(sqe, &l->tcp_timeout, 0);
	io_uring_sqe_set_data64(sqe, 0);
}

static void on_tcp(struct loop *l, int res)
{
	close(l->tcp_fd);
	l->tcp_fd = -1;
	if (res == 0)
		ready(l, "the ready address accepted a connection");
}

static void command_probe(struct loop *l, int64_t now)
{
	if (l->probe_pid)
		return; /* still running: killed at its deadline */
	pid_t pid = hook_spawn(l->cfg->ready_argv, l->hook_envp);
	if (pid < 0) {
		log_warn("ready command %s: %s", l->cfg->ready_argv[0], strerror(-pid));
		return;
	}
	l->probe_pid = pid;
	l->probe_kill_at = now + l->cfg->ready_interval_ms;
}

/* --- timers -------------------------------------------------------------------- */

/* Holding the live lock: heartbeats, checks and the fence deadline run. */
static bool ticking(const struct loop *l) { return holds_role(l->node.state); }

static int64_t next_deadline(const struct loop *l)
{
	bool live = ticking(l) && !l->storage_hung;
	int64_t d[] = { l->timer_at,           l->kill_at,
			l->interrupt_at,       l->job_deadline,
			live ? l->tick_at : 0, live && !l->fenced ? l->last_round + l->cfg->fence_timeout_ms + 1 : 0,
			l->watchdog_at,        hook_deadline(&l->hooks),
			l->probe_at,           l->probe_kill_at,
			l->wl_watchdog_at };
	int64_t m = 0;
	for (size_t i = 0; i < sizeof(d) / sizeof(d[0]); i++)
		if (d[i] && (!m || d[i] < m))
			m = d[i];
	return m;
}

static void fire_timers(struct loop *l)
{
	int64_t now = now_ms();
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
		 * (or never), the node still looks again each poll interval. */
		worker_interrupt(&l->worker);
		l->interrupt_at = now + l->cfg->node.poll_ms;
	}
	if (l->job_deadline && now >= l->job_deadline) {
		l->job_deadline = 0;
		log_error("%s: %s has not returned in %lld ms: the storage is hung", l->lf.path, op_name(l->job.op),
			  (long long)l->cfg->io_timeout_ms);
		l->storage_hung = true;
		l->job_pending = false; /* the worker keeps it; we go on without */
		if (l->wl_active) {
			supervise_kill_tree(&l->wl, SIGKILL); /* never run blind */
			fence_hook(l);
		}
		storage_failed(l, ETIMEDOUT);
	}
	if (ticking(l) && !l->storage_hung && !l->fenced && now - l->last_round > l->cfg->fence_timeout_ms) {
		l->fenced = true;
		/* The storage answers too slowly, or not at all: the server may
		 * give our lock away, so the workload dies before it can. */
		log_error("%s: no heartbeat round completed in %lld ms: fencing", l->lf.path,
			  (long long)(now - l->last_round));
		if (l->wl_active)
			supervise_kill_tree(&l->wl, SIGKILL);
		fence_hook(l);
		if (l->job_pending) {
			l->storage_hung = true;
			l->job_pending = false;
			l->job_deadline = 0;
		}
		storage_failed(l, ETIMEDOUT);
	}
	hook_expire(&l->hooks, now);
	if (l->probe_at && now >= l->probe_at) {
		l->probe_at = now + l->cfg->ready_interval_ms;
		if (l->cfg->ready == LOOP_READY_TCP)
			tcp_probe(l);
		else
			command_probe(l, now);
	}
	if (l->probe_kill_at && now >= l->probe_kill_at) {
		l->probe_kill_at = 0;
		kill(-l->probe_pid, SIGKILL); /* not reaped yet: still its group */
	}
	if (l->wl_watchdog_at && now >= l->wl_watchdog_at) {
		l->wl_watchdog_at = 0;
		log_warn("the workload did not pet its watchdog within %lld ms", (long long)l->cfg->watchdog_ms);
		unhealthy(l);
	}
	if (l->watchdog_ms && now >= l->watchdog_at) {
		/* Live: pet only for a new completed round, so a node whose
		 * storage hangs is also stopped by systemd's watchdog. */
		l->watchdog_at = now + l->watchdog_ms / 2;
		if (!ticking(l) || l->last_round != l->last_pet_round) {
			l->last_pet_round = l->last_round;
			notify_send("WATCHDOG=1");
		}
	}
	if (ticking(l) && l->tick_at && now >= l->tick_at && !l->job_pending && !l->storage_hung &&
	    l->cursor >= l->out.n && l->qlen == 0) {
		l->tick_at = now + l->cfg->check_ms;
		struct worker_job *j;
		if (now >= l->heartbeat_at) {
			l->heartbeat_at = now + l->cfg->heartbeat_ms;
			/* A heartbeat leaves the status (a pending F must survive)
			 * and writes only over our own record. */
			j = job(l, WORKER_HEARTBEAT);
			fill_live(l, &j->live);
		} else {
			j = job(l, WORKER_READ);
		}
		j->want_view = true;
		submit(l, true);
	}
}

/* --- the ring -------------------------------------------------------------------- */

static void arm_signal(struct loop *l)
{
	struct io_uring_sqe *sqe = sqe_get(l);
	io_uring_prep_read(sqe, l->sfd, &l->si, sizeof(l->si), 0);
	io_uring_sqe_set_data64(sqe, TAG(TAG_SIGNAL, 0));
}

static void arm_worker(struct loop *l)
{
	struct io_uring_sqe *sqe = sqe_get(l);
	io_uring_prep_read(sqe, l->worker.efd, &l->efd_count, sizeof(l->efd_count), 0);
	io_uring_sqe_set_data64(sqe, TAG(TAG_WORKER, 0));
}

static void on_signal(struct loop *l)
{
	int sig = (int)l->si.ssi_signo;
	switch (sig) {
	case SIGTERM:
	case SIGINT:
		if (l->node.state == NODE_STOPPING && l->node.shutdown && l->wl.stop_sig == SIGTERM) {
			log_warn("%s again: SIGKILL to the workload now", strsignal(sig));
			l->kill_at = 0;
			supervise_kill_tree(&l->wl, SIGKILL);
			return;
		}
		log_info("%s: leaving the group", strsignal(sig));
		l->leave_asked = true;
		if (!l->stopping_sent) /* a signal to the group and the process comes twice */
			notify_send("STOPPING=1");
		l->stopping_sent = true;
		push(l, NODE_EV_SHUTDOWN);
		return;
	case SIGHUP:
	case SIGUSR1:
	case SIGUSR2:
		if (l->wl_active && !l->wl.main_gone)
			supervise_signal(&l->wl, sig);
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
		if (cqe->res == (int)sizeof(l->efd_count) && l->job_pending)
			on_job_done(l);
		arm_worker(l);
		return;
	case TAG_PIDFD:
		if ((unsigned)(tag >> 8) == l->pidfd_gen)
			on_child(l);
		return;
	case TAG_NOTIFY:
		if (cqe->res >= 0)
			on_notify(l, cqe->res);
		arm_notify(l);
		return;
	case TAG_READY_FD:
		if ((unsigned)(tag >> 8) == l->ready_gen)
			on_ready_fd(l, cqe->res);
		return;
	case TAG_TCP:
		if ((unsigned)(tag >> 8) == l->tcp_gen)
			on_tcp(l, cqe->res);
		return;
	default: return; /* liburing's own timeouts */
	}
}

static int64_t wait_events(struct loop *l)
{
	int64_t when = next_deadline(l);
	struct __kernel_timespec ts, *tsp = NULL;
	if (when) {
		int64_t d = when - now_ms();
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
	switch (lf->errno_value) {
	case ENOENT: return EX_NOINPUT;
	case EACCES:
	case EPERM: return EX_NOPERM;
	case EROFS:
	case ENOSPC: /* formatting a new file: it stays empty, a new group */
	case EDQUOT: return EX_CANTCREAT;
	default: return EX_IOERR;
	}
}

/* The workload's own notify socket: an abstract one, so there is no file
 * to leave behind, and none a workload run as another user would need
 * leave to reach. An abstract name has no owner and no mode, though: any
 * local user may bind it first, and a name made of our pid alone (as it
 * once was) can be bound before we start, failing every `run --ready
 * notify` with 71. So the name carries 128 bits from getrandom(2), which
 * nobody can guess in advance; a name taken all the same is drawn again.
 * Once bound, the name shows in /proc/net/unix and anyone may send to it:
 * on_notify hears only the workload's own processes. */
static int notify_socket(struct loop *l)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int one = 1, n = 0;
	l->notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (l->notify_fd < 0 || setsockopt(l->notify_fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0)
		return -errno;
	for (int tries = 0;; tries++) {
		uint8_t r[16];
		char hex[2 * sizeof(r) + 1];
		if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
			return errno ? -errno : -EIO;
		for (size_t i = 0; i < sizeof(r); i++)
			snprintf(hex + 2 * i, 3, "%02x", r[i]);
		n = snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1, "understudy/%d/notify-%s", (int)getpid(), hex);
		if (bind(l->notify_fd, (struct sockaddr *)&sa,
			 (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n)) == 0)
			break;
		if (errno != EADDRINUSE || tries == 3)
			return -errno;
	}
	snprintf(l->notify_env, sizeof(l->notify_env), "NOTIFY_SOCKET=@%s", sa.sun_path + 1);
	snprintf(l->watchdog_env, sizeof(l->watchdog_env), "WATCHDOG_USEC=%lld", (long long)l->cfg->watchdog_ms * 1000);
	return 0;
}

/* A FUSE mount without direct I/O serves the lock file from this host's
 * page cache: another host's records and heartbeats are never seen, so a
 * backup would take a live node that still runs for a dead one. Said, not
 * refused: the locks themselves still arbitrate. */
static void warn_page_cache(struct loop *l)
{
	struct statfs st;
	if (fstatfs(l->lf.fd, &st) < 0 || st.f_type != 0x65735546 /* FUSE */ || lockfile_page_cached(&l->lf) != 1)
		return;
	log_warn("%s: this FUSE mount keeps the file in the page cache (no direct I/O): another host's writes "
		 "to it are never seen here. Mount with direct I/O: GlusterFS direct-io-mode=enable, ceph-fuse "
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
		struct timespec second = { 1, 0 };
		nanosleep(&second, NULL);
	}
	char *extra[3] = { NULL };
	if (cfg->ready == LOOP_READY_NOTIFY) {
		if ((r = notify_socket(l)) < 0) {
			log_error("the workload's notify socket: %s", strerror(-r));
			return EX_OSERR;
		}
		extra[0] = l->notify_env;
		extra[1] = cfg->watchdog_ms ? l->watchdog_env : NULL;
	}
	if (!(l->envp = build_env(cfg, extra)) || !(l->hook_envp = hook_environment(l->envp)) ||
	    getrandom(l->id, sizeof(l->id), 0) != (ssize_t)sizeof(l->id)) {
		log_error("setting up: %s", strerror(errno));
		return EX_OSERR;
	}
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
	timeline_defaults(&ts);
	ts.check_ms = cfg->check_ms;
	ts.heartbeat_ms = cfg->heartbeat_ms;
	ts.poll_ms = cfg->node.poll_ms;
	ts.io_timeout_ms = cfg->io_timeout_ms;
	ts.fence_timeout_ms = cfg->fence_timeout_ms;
	ts.stop_timeout_ms = cfg->stop_timeout_ms;
	ts.takeover_delay_ms = cfg->takeover_delay_ms;
	const char *wd = getenv("WATCHDOG_USEC"), *wd_pid = getenv("WATCHDOG_PID");
	if (wd && (!wd_pid || atol(wd_pid) == (long)getpid()) && atoll(wd) > 0)
		ts.watchdog_ms = atoll(wd) / 1000 < 1 ? 1 : atoll(wd) / 1000;
	struct timeline tl;
	timeline_derive(&ts, &tl);
	l->node_cfg.takeover_delay_ms = timeline_takeover_delay(&tl, local == 1);
	l->node_cfg.new_file_wait_ms = timeline_new_file_wait(&tl, local == 1);
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
	if ((r = worker_start(&l->worker, &l->lf)) < 0) {
		log_error("starting the storage process: %s", strerror(-r));
		return EX_OSERR;
	}
	supervise_not_workload(l->worker.pid); /* never killed with the workload's tree */
	if ((r = io_uring_queue_init(32, &l->ring, 0)) < 0) {
		log_error("io_uring: %s", strerror(-r));
		return EX_OSERR;
	}
	arm_signal(l);
	arm_worker(l);
	if (l->notify_fd >= 0)
		arm_notify(l);
	return 0;
}

/* A loop whose storage call never returned, kept for the process exit
 * (reachable, so not a leak). */
static struct loop *volatile left_to_exit;

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
	l->notify_fd = l->ready_r = l->tcp_fd = -1;
	l->hooks.paths = cfg->hooks;
	l->hooks.timeout_ms = cfg->hook_timeout_ms;
	int code = setup(l);
	if (code)
		goto out;
	node_init(&l->node, &l->node_cfg, &l->out);
	log_info("joining %s as %s", cfg->lock_path, lockfile_role_name((uint8_t)cfg->node.role));
	for (;;) {
		settle(l);
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
	code = l->node.exit_code;
	/* A node asked to leave leaves, even if the storage failed it on the
	 * way out: rejoining would ignore the request (found by the chaos
	 * test once managers no longer hung on GlusterFS), and when the
	 * request came after the fence had ended the node (found by the
	 * soak test: SIGCONT to a live manager frozen past its fence
	 * timeout, then SIGTERM, and it joined again and ran on). */
	*lost_storage = code == NODE_EXIT_IO && !l->node.shutdown && !l->leave_asked;
out:
	/* A rejoin re-executes this process: what it leaves behind must be an
	 * idle storage process, which ends at once, not one still waiting
	 * for a lock that would hold our slot and the backup lock against
	 * the new node. A lock wait is cut at its pause; any other call is
	 * given up to --io-timeout. (On an exit the wait is cut by our death
	 * and the process ends after its call: nothing to wait for here; on
	 * a local file system worker_stop kills it, which costs nothing.) */
	if (*lost_storage && l->lf.poll && l->worker.started && !worker_wait_idle(&l->worker, cfg->io_timeout_ms))
		log_warn("%s: a storage call has not returned in %lld ms more: leaving it", cfg->lock_path,
			 (long long)cfg->io_timeout_ms);
	if (l->job_pending || l->storage_hung) {
		/* Closing the file could wait for the storage as long as the
		 * call in progress: leave it, and the rest, to the process exit
		 * (kept reachable: it is not a leak). */
		left_to_exit = l;
		worker_stop(&l->worker, !l->lf.poll);
		return code;
	}
	if (l->worker.started)
		worker_stop(&l->worker, !l->lf.poll);
	if (l->ring.ring_fd > 0)
		io_uring_queue_exit(&l->ring);
	if (l->sfd >= 0)
		close(l->sfd);
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
