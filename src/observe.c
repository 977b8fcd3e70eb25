/* The observers of a node (observe.h): log lines, hooks, STATUS=, health. */
#include "understudy/observe.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>

#include "understudy/clock.h"
#include "understudy/log.h"
#include "understudy/notify.h"
#include "understudy/text.h"

static bool standing_by(enum node_state s) { return s == NODE_QUEUED || s == NODE_BACKUP || s == NODE_CLAIMING; }

static bool holds_role(enum node_state s) { return s == NODE_STARTING || s == NODE_LIVE || s == NODE_STOPPING; }

void observe_init(struct observe *o, const struct loop_config *cfg, char **hook_envp, struct metrics *m)
{
	memset(o, 0, sizeof(*o));
	o->cfg = cfg;
	o->metrics = m;
	o->hooks.paths = cfg->hooks;
	o->hooks.timeout_ms = cfg->hook_timeout_ms;
	o->hook_envp = hook_envp;
	/* The time zone read now: the first "live since" comes right after a
	 * takeover's exec, and reading the zone file then competes with the
	 * workload's start for a CPU. */
	tzset();
}

void observe_reconfigure(struct observe *o, const struct loop_config *cfg)
{
	o->cfg = cfg;
	o->hooks.paths = cfg->hooks;
	o->hooks.timeout_ms = cfg->hook_timeout_ms;
}

void observe_health(const struct observe *o, const struct node *n, const struct observe_workload *w)
{
	enum node_state s = node_current(n);
	enum loop_health h = s == NODE_LIVE && w->active ? LOOP_SERVING
			     : s == NODE_STARTING        ? LOOP_STARTING
			     : standing_by(s)            ? LOOP_STANDING_BY
							 : LOOP_DOWN;
	if (o->cfg->health)
		*o->cfg->health = (int)h;
	atomic_store_explicit(&o->metrics->ready, h == LOOP_SERVING, memory_order_relaxed);
}

/* The one line systemctl status shows: what this node is doing, and for
 * whom it waits. The live node's name is read from the file, where anyone
 * who can write it put it: escaped, a newline in it cannot add a line
 * (READY=1, MAINPID=) to the datagram, nor an ESC reach a terminal. */
void observe_announce(struct observe *o, const struct node *n, const struct observe_workload *w)
{
	observe_health(o, n, w);
	char status[512], since[16] = "?", live[TEXT_ESCAPED_SIZE(LF_NAME_MAX)];
	text_escape(o->live_name, live, sizeof(live), TEXT_WORD);
	enum node_state s = node_current(n);
	struct tm tm;
	if (o->live_since && localtime_r(&o->live_since, &tm))
		strftime(since, sizeof(since), "%H:%M:%S", &tm);
	if (s == NODE_LIVE && w->active)
		snprintf(status, sizeof(status), "STATUS=live since %s, workload pid %d%s%.160s", since, (int)w->pid,
			 w->status[0] ? ": " : "", w->status);
	else if (s == NODE_STARTING && w->active && w->exec_slow)
		/* Its program, interpreter or a library sits on a file system
		 * that does not answer (or answers slowly): worth seeing. */
		snprintf(status, sizeof(status),
			 "STATUS=starting: workload pid %d, its exec has not returned after %lld ms (does the file "
			 "system of its program answer?)",
			 (int)w->pid, (long long)(clock_ms() - w->spawned_at));
	else if (s == NODE_STARTING && w->active)
		snprintf(status, sizeof(status), "STATUS=starting: workload pid %d, waiting for it to be ready%s%.160s",
			 (int)w->pid, w->status[0] ? ": " : "", w->status);
	else if (s == NODE_STARTING || s == NODE_LIVE)
		/* No workload spawned since this node took the role: its first. */
		snprintf(status, sizeof(status), "STATUS=live, %s",
			 w->spawned_at >= o->took_role_at ? "workload restarting" : "starting the workload");
	else if (standing_by(s) && o->live_name[0] && strcmp(o->live_name, o->cfg->name) != 0)
		/* Its own name is what it was as live (a switchover moved it):
		 * not whom it waits for. */
		snprintf(status, sizeof(status), "STATUS=%s, waiting behind %s",
			 o->cfg->node.role == LF_ROLE_PRIMARY ? "primary" : "backup", live);
	else if (standing_by(s))
		snprintf(status, sizeof(status), "STATUS=%s, waiting for the live lock",
			 o->cfg->node.role == LF_ROLE_PRIMARY ? "primary" : "backup");
	else if (s == NODE_VERIFYING && node_new_file(n))
		snprintf(status, sizeof(status),
			 "STATUS=the lock file is new or was replaced: waiting for any live node of an earlier file "
			 "to fence");
	else if (s == NODE_VERIFYING)
		snprintf(status, sizeof(status), "STATUS=taking over from %s: waiting out the takeover delay",
			 o->live_name[0] ? live : "a crashed node");
	else if (s == NODE_STOPPING)
		snprintf(status, sizeof(status), "STATUS=stopping the workload (pid %d)", (int)w->pid);
	else
		snprintf(status, sizeof(status), "STATUS=%s", node_state_name(s));
	notify_send(status);
	if (!o->ready_sent && (s == NODE_LIVE || s == NODE_BACKUP || s == NODE_QUEUED || s == NODE_CLAIMING)) {
		notify_send("READY=1");
		o->ready_sent = true;
		if (o->cfg->notify_fd >= 0) {
			int e = notify_fd_ready(o->cfg->notify_fd);
			if (e < 0)
				log_warn("--notify-fd %d: %s", o->cfg->notify_fd, strerror(-e));
		}
	}
}

/* Start the hook for e with what this node knows now. */
void observe_hook(struct observe *o, enum hook_event e, const struct node *n, const struct observe_workload *w)
{
	char state[64], node[96], addr[96], pid[48];
	snprintf(state, sizeof(state), "UNDERSTUDY_STATE=%s", node_state_name(node_current(n)));
	snprintf(node, sizeof(node), "UNDERSTUDY_LIVE_NODE=%s", o->live_name);
	snprintf(addr, sizeof(addr), "UNDERSTUDY_LIVE_ADDRESS=%s", o->live_address);
	snprintf(pid, sizeof(pid), "UNDERSTUDY_WORKLOAD_PID=%d", w->active ? (int)w->pid : 0);
	char *extra[] = { state, node, addr, pid, NULL };
	if (e == HOOK_FENCE) /* run once per fence, after the kill, hook or none */
		atomic_fetch_add_explicit(&o->metrics->fences, 1, memory_order_relaxed);
	hook_start(&o->hooks, e, o->hook_envp, extra, clock_ms());
}

void observe_read(struct observe *o, const struct lf_view *v)
{
	if (v)
		metrics_seen(o->metrics, v, clock_ms());
	if (!v || v->live_rec != LF_REC_OK || (v->status != LF_LIVE && v->status != LF_FAILBACK))
		return;
	snprintf(o->live_name, sizeof(o->live_name), "%s", v->live.name);
	snprintf(o->live_address, sizeof(o->live_address), "%s", v->live.address);
}

/* Hooks follow the node's transitions; the state machine knows nothing
 * of them. on-live waits for the workload to be ready, so that a virtual
 * IP moves to a node that serves. */
static void transition_hooks(struct observe *o, const struct node *n, enum node_state before, const struct lf_view *v,
			     const struct observe_workload *w)
{
	enum node_state now = node_current(n);
	bool was_live = holds_role(before), is_live = holds_role(now);
	if (is_live && !was_live) {
		o->took_role_at = clock_ms();
		snprintf(o->live_name, sizeof(o->live_name), "%s", o->cfg->name);
		snprintf(o->live_address, sizeof(o->live_address), "%s", o->cfg->address ? o->cfg->address : "");
		o->live_by_failback = v && v->status == LF_FAILBACK && v->request_rec == LF_REC_OK &&
				      v->request.kind == LF_REQ_FAILBACK;
	}
	if (now == NODE_LIVE && before == NODE_STARTING) {
		int64_t t = clock_ms();
		o->live_since = time(NULL);
		log_info("workload ready %lld ms after its exec, %lld ms after this node took the live lock",
			 (long long)(t - w->spawned_at), (long long)(t - o->took_role_at));
		if (!o->ready_once) {
			o->ready_once = true;
			observe_hook(o, HOOK_LIVE, n, w);
			if (o->live_by_failback)
				observe_hook(o, HOOK_FAILBACK, n, w);
		}
	}
	if ((before == NODE_LIVE || before == NODE_STARTING) && now == NODE_STOPPING && node_handing_over(n)) {
		o->handing_back = v && v->request_rec == LF_REC_OK && v->request.kind == LF_REQ_FAILBACK;
		if (v && v->request_rec == LF_REC_OK)
			atomic_fetch_add_explicit(
				&o->metrics->requests[v->request.kind == LF_REQ_FAILBACK ? METRICS_REQ_FAILBACK
											 : METRICS_REQ_SWITCHOVER],
				1, memory_order_relaxed);
	}
	if (was_live && !is_live) {
		o->ready_once = false;
		o->started_in_term = false;
		if (!node_fenced(n)) /* a fenced node says so with on-fence */
			observe_hook(o, HOOK_STOP, n, w);
		if (o->handing_back)
			observe_hook(o, HOOK_FAILBACK, n, w);
		o->handing_back = false;
	}
	if (standing_by(now) && !standing_by(before))
		observe_hook(o, HOOK_BACKUP, n, w);
}

/* The workload's life, counted: a start is an exec that succeeded, an
 * exit is told by how it ended and whether this node was stopping it. */
static void count_workload(struct observe *o, enum node_state before, const struct node_event_data *ev)
{
	struct metrics *m = o->metrics;
	switch (ev->type) {
	case NODE_EV_STARTED:
		atomic_fetch_add_explicit(&m->starts, 1, memory_order_relaxed);
		if (o->started_in_term)
			atomic_fetch_add_explicit(&m->restarts, 1, memory_order_relaxed);
		o->started_in_term = true;
		break;
	case NODE_EV_SPAWN_FAILED: atomic_fetch_add_explicit(&m->spawn_failures, 1, memory_order_relaxed); break;
	case NODE_EV_EXITED: {
		int st = ev->wstatus;
		enum metrics_exit how = before == NODE_STOPPING                 ? METRICS_EXIT_STOPPED
					: WIFEXITED(st) && WEXITSTATUS(st) == 0 ? METRICS_EXIT_OK
					: WIFEXITED(st)                         ? METRICS_EXIT_FAILED
										: METRICS_EXIT_KILLED;
		atomic_fetch_add_explicit(&m->exits[how], 1, memory_order_relaxed);
		break;
	}
	default: break;
	}
}

void observe_step(struct observe *o, const struct node *n, enum node_state before, const struct node_event_data *ev,
		  const struct node_out *out, const struct observe_workload *w)
{
	enum log_level level = out->loud ? LOGL_WARN : LOGL_INFO;
	enum node_state now = node_current(n);
	count_workload(o, before, ev);
	if (before != now) {
		metrics_transition(o->metrics, before, now, node_epoch(n));
		/* The journal gets each part of a transition as its own field. */
		struct log_fields f = {
			.from = node_state_name(before),
			.to = node_state_name(now),
			.reason = out->why ? out->why : node_event_name(ev->type),
			.epoch = node_epoch_seen(n),
			.workload_pid = w->active ? w->pid : 0,
		};
		log_fields(level, &f, "%s -> %s: %s", f.from, f.to, f.reason);
		transition_hooks(o, n, before, ev->view, w);
		observe_announce(o, n, w);
	} else if (out->why) {
		log_msg(level, "%s: %s", node_state_name(before), out->why);
	}
}

bool observe_reaped(struct observe *o, pid_t pid, int wstatus) { return hook_reaped(&o->hooks, pid, wstatus); }

int64_t observe_deadline(const struct observe *o) { return hook_deadline(&o->hooks); }

void observe_expire(struct observe *o, int64_t now_ms) { hook_expire(&o->hooks, now_ms); }

void observe_settle(struct observe *o, int64_t bound_ms) { hook_settle(&o->hooks, bound_ms); }
