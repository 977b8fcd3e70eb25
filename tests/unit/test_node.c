/* The node state machine, driven event by event.
 *
 * node_step() makes no system call, so every test here builds the facts
 * the loop would have gathered (a struct lf_view, the time, whether the
 * request's target is alive), feeds one event and checks the state and the
 * ordered list of actions. The tests read like the protocol rules of the
 * design notes: join, decide, hand over, shut down, restart.
 *
 * Where the rules leave the exact order of actions open, the tests check
 * only the order that matters for safety: a workload is never started
 * before status L is written, the live lock is never released while a
 * workload may still run, a hand-over never writes P. */
#include <criterion/criterion.h>
#include <errno.h>

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "helpers.h"
#include "understudy/lockfile.h"
#include "understudy/node.h"

#ifndef W_EXITCODE
#define W_EXITCODE(ret, sig) ((ret) << 8 | (sig))
#endif

/* Slots used by the tests: ours, another node's that is alive, and one
 * whose lock is free (its node died). */
enum { ME = 5, OTHER = 9, DEAD = 12 };

#define OLD_EPOCH 41u

/* What a node publishes in its slot (NODE_A_SLOT_STATE's arg): live, the
 * workload not ready yet (format 1.1 flag), and live and ready. */
#define SLOT_STARTING ((int64_t)LF_SLOT_LIVE | (int64_t)LF_SLOT_F_STARTING << 8)
#define SLOT_READY ((int64_t)LF_SLOT_LIVE)

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

static const char *kind_name(enum node_action_kind k)
{
	switch (k) {
	case NODE_A_CLAIM_SLOT: return "CLAIM_SLOT";
	case NODE_A_SLOT_STATE: return "SLOT_STATE";
	case NODE_A_TRY_LIVE: return "TRY_LIVE";
	case NODE_A_WAIT_LIVE: return "WAIT_LIVE";
	case NODE_A_WAIT_BACKUP: return "WAIT_BACKUP";
	case NODE_A_RELEASE_LIVE: return "RELEASE_LIVE";
	case NODE_A_RELEASE_BACKUP: return "RELEASE_BACKUP";
	case NODE_A_WRITE_LIVE: return "WRITE_LIVE";
	case NODE_A_WRITE_STATUS: return "WRITE_STATUS";
	case NODE_A_REFUSE: return "REFUSE";
	case NODE_A_READ: return "READ";
	case NODE_A_REPAIR: return "REPAIR";
	case NODE_A_REQUEST_FAILBACK: return "REQUEST_FAILBACK";
	case NODE_A_SPAWN: return "SPAWN";
	case NODE_A_STOP: return "STOP";
	case NODE_A_FENCE_HOOK: return "FENCE_HOOK";
	case NODE_A_TIMER: return "TIMER";
	case NODE_A_EXIT: return "EXIT";
	}
	return "?";
}

static const char *state_str(enum node_state s) { return node_state_name(s); }

/* "[SLOT_STATE(3) WAIT_LIVE(0)]" for failure messages. */
static const char *fmt_actions(const struct node_action *a, int n, char *buf, size_t len)
{
	size_t used = 0;
	buf[0] = 0;
	used += (size_t)snprintf(buf + used, len - used, "[");
	for (int i = 0; i < n && i < NODE_MAX_ACTIONS && used < len; i++) {
		int64_t arg = a[i].arg;
		if (a[i].kind == NODE_A_WRITE_STATUS && arg >= 32 && arg < 127)
			used += (size_t)snprintf(buf + used, len - used, "%s%s('%c')", i ? " " : "",
						 kind_name(a[i].kind), (char)arg);
		else
			used += (size_t)snprintf(buf + used, len - used, "%s%s(%lld)", i ? " " : "",
						 kind_name(a[i].kind), (long long)arg);
	}
	if (used < len)
		snprintf(buf + used, len - used, "]");
	return buf;
}

#define FMT_OUT(o) fmt_actions((o)->a, (o)->n, (char[512]){ 0 }, 512)

static struct node_config config(enum lf_role role)
{
	return (struct node_config){
		.role = role,
		.allow_failback = false,
		.failover_on_shutdown = false,
		.restart = NODE_RESTART_ON_FAILURE,
		.max_restarts = 5,
		.restart_window_ms = 60000,
		.backoff_ms = 100,
		.backoff_max_ms = 5000,
		.poll_ms = 500,
	};
}

/* A view of the file as one read saw it. target is a slot index or
 * LF_TARGET_ANY; it only matters with status F. */
static struct lf_view view(char status, int32_t target, enum lf_rec request_rec)
{
	struct lf_view v;
	memset(&v, 0, sizeof v);
	v.status = status;
	v.major = LF_VERSION_MAJOR;
	v.minor = LF_VERSION_MINOR;
	v.live_rec = status == LF_NEW ? LF_REC_EMPTY : LF_REC_OK;
	v.live.epoch = status == LF_NEW ? 0 : OLD_EPOCH;
	v.live.heartbeat = 1234;
	v.live.slot = OTHER;
	v.live.heartbeat_ms = 1000;
	snprintf(v.live.name, sizeof v.live.name, "other");
	if (status == LF_FAILBACK) {
		v.request_rec = request_rec;
		v.request.seq = 7;
		v.request.kind = target == ME ? LF_REQ_FAILBACK : LF_REQ_SWITCHOVER;
		v.request.target_slot = target;
		snprintf(v.request.requester, sizeof v.request.requester, "test");
	}
	v.slot_rec[ME] = LF_REC_OK;
	v.slots[ME].role = LF_ROLE_PRIMARY;
	v.slots[ME].state = LF_SLOT_JOINING;
	snprintf(v.slots[ME].name, sizeof v.slots[ME].name, "me");
	v.slot_rec[OTHER] = LF_REC_OK;
	v.slots[OTHER].role = LF_ROLE_BACKUP;
	v.slots[OTHER].state = LF_SLOT_WAITING;
	snprintf(v.slots[OTHER].name, sizeof v.slots[OTHER].name, "other");
	return v;
}

static struct node_out out;
static int64_t now_ms = 1000000;

static struct node_event_data ev(enum node_event type)
{
	return (struct node_event_data){ .type = type, .now_ms = now_ms };
}

/* Feed one event and check the bounds every answer must keep. */
static void step_ev(struct node *n, const struct node_event_data *e)
{
	memset(&out, 0, sizeof out);
	node_step(n, e, &out);
	cr_assert(out.n >= 0 && out.n <= NODE_MAX_ACTIONS, "%s in %s: %d actions", node_event_name(e->type),
		  state_str(n->state), out.n);
	cr_assert((unsigned)n->state < NODE_NSTATES, "state %d out of range", (int)n->state);
	/* A history note rides only on the writes that carry one (1.3). */
	for (int i = 0; i < out.n; i++)
		cr_assert(!out.a[i].note ||
				  ((out.a[i].kind == NODE_A_WRITE_LIVE || out.a[i].kind == NODE_A_WRITE_STATUS ||
				    out.a[i].kind == NODE_A_RELEASE_LIVE) &&
				   out.a[i].note <= LF_EV_LAST),
			  "note %u on %s: %s", out.a[i].note, kind_name(out.a[i].kind), FMT_OUT(&out));
}

/* The common cases: an event with or without a view. */
static void step(struct node *n, enum node_event type, const struct lf_view *v)
{
	struct node_event_data e = ev(type);
	e.view = v;
	step_ev(n, &e);
}

/* The timer the last answer armed fires: the clock moves on by its
 * length (the takeover delay ends with the time, not with the event). */
static void fire_timer(struct node *n)
{
	int i = out.n;
	while (i > 0 && out.a[i - 1].kind != NODE_A_TIMER)
		i--;
	cr_assert(i > 0, "no TIMER armed: %s", FMT_OUT(&out));
	now_ms += out.a[i - 1].arg;
	step(n, NODE_EV_TIMER, NULL);
}

static void step_exited(struct node *n, int wstatus)
{
	struct node_event_data e = ev(NODE_EV_EXITED);
	e.wstatus = wstatus;
	step_ev(n, &e);
}

static int index_of(const struct node_out *o, enum node_action_kind k)
{
	for (int i = 0; i < o->n; i++)
		if (o->a[i].kind == k)
			return i;
	return -1;
}

static int index_of_arg(const struct node_out *o, enum node_action_kind k, int64_t arg)
{
	for (int i = 0; i < o->n; i++)
		if (o->a[i].kind == k && o->a[i].arg == arg)
			return i;
	return -1;
}

static int count_of(const struct node_out *o, enum node_action_kind k)
{
	int c = 0;
	for (int i = 0; i < o->n; i++)
		c += o->a[i].kind == k;
	return c;
}

static void expect_seq_at(const struct node_out *o, const struct node_action *want, int nwant, const char *file,
			  int line)
{
	char got[512], exp[512];
	fmt_actions(o->a, o->n, got, sizeof got);
	fmt_actions(want, nwant, exp, sizeof exp);
	bool same = o->n == nwant;
	for (int i = 0; same && i < nwant; i++)
		same = o->a[i].kind == want[i].kind && o->a[i].arg == want[i].arg;
	cr_assert(same, "%s:%d: actions %s, expected %s", file, line, got, exp);
}

#define ACT(k, v_) ((struct node_action){ .kind = (k), .arg = (v_) })
#define ACTS(...) ((const struct node_action[]){ __VA_ARGS__ })
#define NACTS(...) ((int)(sizeof(ACTS(__VA_ARGS__)) / sizeof(struct node_action)))
/* The out list is exactly this sequence of (kind, arg). */
#define EXPECT(...) expect_seq_at(&out, ACTS(__VA_ARGS__), NACTS(__VA_ARGS__), __FILE__, __LINE__)
#define EXPECT_NONE() expect_seq_at(&out, NULL, 0, __FILE__, __LINE__)

#define HAS(k) cr_assert(index_of(&out, (k)) >= 0, "no %s in %s", kind_name(k), FMT_OUT(&out))
#define HAS_ARG(k, v_)                                                                                                 \
	cr_assert(index_of_arg(&out, (k), (v_)) >= 0, "no %s(%lld) in %s", kind_name(k), (long long)(v_), FMT_OUT(&out))
#define HAS_NO(k) cr_assert(index_of(&out, (k)) < 0, "unexpected %s in %s", kind_name(k), FMT_OUT(&out))
#define HAS_NO_ARG(k, v_)                                                                                              \
	cr_assert(index_of_arg(&out, (k), (v_)) < 0, "unexpected %s(%lld) in %s", kind_name(k), (long long)(v_),       \
		  FMT_OUT(&out))
/* Both present, a strictly before b. */
#define BEFORE(a, b)                                                                                                   \
	do {                                                                                                           \
		int ia_ = index_of(&out, (a)), ib_ = index_of(&out, (b));                                              \
		cr_assert(ia_ >= 0 && ib_ >= 0 && ia_ < ib_, "%s must come before %s in %s", kind_name(a),             \
			  kind_name(b), FMT_OUT(&out));                                                                \
	} while (0)
/* The takeover's fork follows the write of L and our record at once: no
 * other storage call delays the workload. */
/* The note on the action of kind k in the last answer, or -1 without one. */
static int note_of(enum node_action_kind k)
{
	int i = index_of(&out, k);
	return i < 0 ? -1 : out.a[i].note;
}

#define NOTE_IS(k, want)                                                                                               \
	cr_assert_eq(note_of(k), (want), "%s carries note %d (%s), want %d (%s): %s", kind_name(k), note_of(k),        \
		     lockfile_event_name((uint8_t)note_of(k)), (int)(want), lockfile_event_name((uint8_t)(want)),      \
		     FMT_OUT(&out))

#define SPAWN_RIGHT_AFTER_WRITE_LIVE()                                                                                 \
	do {                                                                                                           \
		int iw_ = index_of(&out, NODE_A_WRITE_LIVE);                                                           \
		cr_assert(iw_ >= 0 && iw_ + 1 < (int)out.n && out.a[iw_ + 1].kind == NODE_A_SPAWN,                     \
			  "SPAWN must follow WRITE_LIVE at once: %s", FMT_OUT(&out));                                  \
	} while (0)
#define LAST_IS(k, v_)                                                                                                 \
	cr_assert(out.n > 0 && out.a[out.n - 1].kind == (k) && out.a[out.n - 1].arg == (v_),                           \
		  "last action must be %s(%lld): %s", kind_name(k), (long long)(v_), FMT_OUT(&out))
#define LAST_KIND(k)                                                                                                   \
	cr_assert(out.n > 0 && out.a[out.n - 1].kind == (k), "last action must be %s: %s", kind_name(k), FMT_OUT(&out))
#define STATE(n, s) cr_assert_eq((n)->state, (s), "state %s, expected %s", state_str((n)->state), state_str(s))
/* Every SLOT_STATE in the list publishes this state. */
#define SLOT_STATES_ARE(st)                                                                                            \
	do {                                                                                                           \
		for (int i_ = 0; i_ < out.n; i_++)                                                                     \
			cr_assert(out.a[i_].kind != NODE_A_SLOT_STATE || out.a[i_].arg == (st),                        \
				  "slot state must be %d: %s", (int)(st), FMT_OUT(&out));                              \
	} while (0)

/* ------------------------------------------------------------------ */
/* Getting a node to a state the way the loop would                   */
/* ------------------------------------------------------------------ */

/* The loop claimed (and wrote) slot ME and tells the node. */
static void join(struct node *n)
{
	struct node_event_data e = ev(NODE_EV_JOINED);
	e.slot = ME;
	step_ev(n, &e);
	cr_assert_eq(n->slot, ME, "JOINED did not record the slot");
}

static void start(struct node *n, const struct node_config *cfg)
{
	memset(n, 0, sizeof *n);
	memset(&out, 0, sizeof out);
	node_init(n, cfg, &out);
	cr_assert(out.n >= 1 && out.n <= NODE_MAX_ACTIONS);
	cr_assert_eq(out.a[0].kind, NODE_A_CLAIM_SLOT);
	join(n);
}

/* The workload said it is ready: STARTING -> LIVE, and the slot says
 * live without the starting flag, and nothing else happens. */
static void make_ready(struct node *n)
{
	STATE(n, NODE_STARTING);
	step(n, NODE_EV_READY, NULL);
	STATE(n, NODE_LIVE);
	EXPECT(ACT(NODE_A_SLOT_STATE, SLOT_READY));
}

/* A primary that took the role on status lv and whose workload started,
 * not ready yet. */
static void starting_primary(struct node *n, const struct node_config *cfg, char lv)
{
	start(n, cfg);
	cr_assert_eq(index_of(&out, NODE_A_TRY_LIVE), out.n - 1);
	struct lf_view v = view(lv, LF_TARGET_ANY, LF_REC_OK);
	step(n, NODE_EV_LOCKED, &v);
	STATE(n, NODE_STARTING);
	HAS(NODE_A_SPAWN);
	HAS_ARG(NODE_A_SLOT_STATE, SLOT_STARTING);
	step(n, NODE_EV_STARTED, NULL);
	STATE(n, NODE_STARTING);
	HAS_NO(NODE_A_SPAWN);
	HAS_NO(NODE_A_RELEASE_LIVE);
}

/* A primary that went live on status lv and whose workload is ready. */
static void live_primary(struct node *n, const struct node_config *cfg, char lv)
{
	starting_primary(n, cfg, lv);
	make_ready(n);
}

static void starting_default(struct node *n)
{
	struct node_config cfg = config(LF_ROLE_PRIMARY);
	starting_primary(n, &cfg, LF_PAUSED);
}

static void live_default(struct node *n)
{
	struct node_config cfg = config(LF_ROLE_PRIMARY);
	live_primary(n, &cfg, LF_PAUSED);
}

static void queued_backup(struct node *n, const struct node_config *cfg)
{
	start(n, cfg);
	STATE(n, NODE_QUEUED);
}

/* A backup that holds the backup lock and waits for the live lock. */
static void backup_waiting(struct node *n, const struct node_config *cfg)
{
	queued_backup(n, cfg);
	struct lf_view v = view(LF_LIVE, LF_TARGET_ANY, LF_REC_OK);
	step(n, NODE_EV_LOCKED, &v);
	STATE(n, NODE_BACKUP);
}

static void backup_default(struct node *n)
{
	struct node_config cfg = config(LF_ROLE_BACKUP);
	backup_waiting(n, &cfg);
}

/* A primary with --allow-failback that found a live and asked for it. */
static void claiming_primary(struct node *n)
{
	struct node_config cfg = config(LF_ROLE_PRIMARY);
	cfg.allow_failback = true;
	start(n, &cfg);
	step(n, NODE_EV_BUSY, NULL);
	STATE(n, NODE_CLAIMING);
}

/* The bound the loop gives the one wait in out: -1 if there is none. */
static int64_t wait_bound(const struct node *n)
{
	for (int i = 0; i < out.n; i++)
		if (out.a[i].kind == NODE_A_WAIT_LIVE || out.a[i].kind == NODE_A_WAIT_BACKUP)
			return node_wait_bound(n, &out.a[i]);
	return -1;
}

/* ------------------------------------------------------------------ */
/* Join                                                                */
/* ------------------------------------------------------------------ */

Test(node, init_claims_a_slot)
{
	struct node n;
	struct node_config cfg = config(LF_ROLE_PRIMARY);
	memset(&n, 0, sizeof n);
	memset(&out, 0, sizeof out);
	node_init(&n, &cfg, &out);
	STATE(&n, NODE_JOINING);
	cr_assert(out.n >= 1, "node_init gave no action");
	cr_assert_eq(out.a[0].kind, NODE_A_CLAIM_SLOT, "first action %s", FMT_OUT(&out));
	cr_assert_eq(n.stop, NODE_STOP_NONE);
	cr_assert(!n.workload_running && !n.holds_backup && !n.shutdown);

	cfg = config(LF_ROLE_BACKUP);
	memset(&out, 0, sizeof out);
	node_init(&n, &cfg, &out);
	STATE(&n, NODE_JOINING);
	cr_assert(out.n >= 1 && out.a[0].kind == NODE_A_CLAIM_SLOT, "backup: %s", FMT_OUT(&out));
}

Test(node, primary_joins_and_tries_the_live_lock)
{
	struct node n;
	struct node_config cfg = config(LF_ROLE_PRIMARY);
	memset(&n, 0, sizeof n);
	node_init(&n, &cfg, &out);
	join(&n);
	STATE(&n, NODE_JOINING);
	/* CLAIM_SLOT already wrote the slot (JOINING); publishing it again is
	 * allowed, anything else is not. */
	LAST_IS(NODE_A_TRY_LIVE, 0);
	SLOT_STATES_ARE(LF_SLOT_JOINING);
	HAS_NO(NODE_A_WAIT_BACKUP);
	HAS_NO(NODE_A_WAIT_LIVE);
}

static void check_primary_becomes_live(char status)
{
	struct node n;
	struct node_config cfg = config(LF_ROLE_PRIMARY);
	start(&n, &cfg);
	struct lf_view v = view(status, LF_TARGET_ANY, LF_REC_OK);
	step(&n, NODE_EV_LOCKED, &v);
	STATE(&n, NODE_STARTING);
	HAS(NODE_A_WRITE_LIVE);
	/* Live, but the workload is not ready yet: the slot says so. */
	HAS_ARG(NODE_A_SLOT_STATE, SLOT_STARTING);
	HAS_NO_ARG(NODE_A_SLOT_STATE, SLOT_READY);
	cr_assert_eq(count_of(&out, NODE_A_SPAWN), 1, "%s", FMT_OUT(&out));
	/* A workload is never started before L is written, and nothing
	 * else waits between that write and its fork. */
	SPAWN_RIGHT_AFTER_WRITE_LIVE();
	HAS_NO(NODE_A_RELEASE_LIVE);
	HAS_NO(NODE_A_EXIT);
	cr_assert_eq(n.epoch, v.live.epoch + 1, "status %c: epoch %llu, expected %llu", status,
		     (unsigned long long)n.epoch, (unsigned long long)v.live.epoch + 1);
}

Test(node, primary_locked_on_new_file_becomes_live) { check_primary_becomes_live(LF_NEW); }

Test(node, primary_locked_on_paused_becomes_live) { check_primary_becomes_live(LF_PAUSED); }

Test(node, primary_locked_on_live_fails_over) { check_primary_becomes_live(LF_LIVE); }

/* A primary never queues behind the backup lock: a backup standing by in
 * a paused group keeps that lock for good. It waits for the live lock. */
Test(node, primary_busy_without_failback_waits_for_the_live_lock)
{
	struct node n;
	struct node_config cfg = config(LF_ROLE_PRIMARY);
	start(&n, &cfg);
	step(&n, NODE_EV_BUSY, NULL);
	STATE(&n, NODE_CLAIMING);
	LAST_IS(NODE_A_WAIT_LIVE, 0);
	HAS_NO(NODE_A_REQUEST_FAILBACK);
	HAS_NO(NODE_A_WAIT_BACKUP);
	SLOT_STATES_ARE(LF_SLOT_WAITING);
	cr_assert(!n.want_failback);
	/* It never asks for failback, whatever the file says. */
	struct lf_view v = view(LF_LIVE, LF_TARGET_ANY, LF_REC_OK);
	step(&n, NODE_EV_BUSY, &v);
	STATE(&n, NODE_CLAIMING);
	EXPECT(ACT(NODE_A_WAIT_LIVE, 0));
}

/* The bug this rule closes: in a paused group a backup stands by holding
 * the backup lock and peeks at the live lock every poll interval. A
 * primary whose try lands on a peek must still start the group. */
Test(node, primary_starts_a_paused_group_past_a_backup_standing_by)
{
	struct node b, p;
	struct node_config pc = config(LF_ROLE_PRIMARY);
	backup_default(&b);
	struct lf_view paused = view(LF_PAUSED, LF_TARGET_ANY, LF_REC_OK);
	step(&b, NODE_EV_LOCKED, &paused);
	STATE(&b, NODE_BACKUP); /* standing by, still holding the backup lock */
	cr_assert(b.holds_backup);

	start(&p, &pc);
	step(&p, NODE_EV_BUSY, NULL); /* the try met the backup's peek */
	STATE(&p, NODE_CLAIMING);
	HAS_NO(NODE_A_WAIT_BACKUP); /* never behind the backup lock */
	LAST_IS(NODE_A_WAIT_LIVE, 0);
	step(&p, NODE_EV_LOCKED, &paused);
	STATE(&p, NODE_STARTING);
	BEFORE(NODE_A_WRITE_LIVE, NODE_A_SPAWN);
}

Test(node, primary_busy_with_failback_claims)
{
	struct node n;
	struct node_config cfg = config(LF_ROLE_PRIMARY);
	cfg.allow_failback = true;
	start(&n, &cfg);
	step(&n, NODE_EV_BUSY, NULL);
	STATE(&n, NODE_CLAIMING);
	BEFORE(NODE_A_REQUEST_FAILBACK, NODE_A_WAIT_LIVE);
	/* 1: read the file when the wait times out, to keep the request. */
	LAST_IS(NODE_A_WAIT_LIVE, 1);
	HAS_NO(NODE_A_WAIT_BACKUP);
	SLOT_STATES_ARE(LF_SLOT_WAITING);
}

Test(node, claiming_rewrites_a_lost_request)
{
	struct node n;
	claiming_primary(&n);
	/* A new live wrote L over our F: ask again. */
	struct lf_view v = view(LF_LIVE, LF_TARGET_ANY, LF_REC_OK);
	step(&n, NODE_EV_BUSY, &v);
	STATE(&n, NODE_CLAIMING);
	BEFORE(NODE_A_REQUEST_FAILBACK, NODE_A_WAIT_LIVE);
	LAST_IS(NODE_A_WAIT_LIVE, 1);
	/* Again: still lost (P now). */
	v = view(LF_PAUSED, LF_TARGET_ANY, LF_REC_OK);
	step(&n, NODE_EV_BUSY, &v);
	STATE(&n, NODE_CLAIMING);
	BEFORE(NODE_A_REQUEST_FAILBACK, NODE_A_WAIT_LIVE);
}

Test(node, claiming_keeps_waiting_while_the_request_stands)
{
	struct node n;
	claiming_primary(&n);
	struct lf_view v = view(LF_FAILBACK, ME, LF_REC_OK);
	step(&n, NODE_EV_BUSY, &v);
	STATE(&n, NODE_CLAIMING);
	EXPECT(ACT(NODE_A_WAIT_LIVE, 1));
}

Test(node, claiming_gets_the_lock_and_goes_live)
{
	struct node n;
	claiming_primary(&n);
	struct lf_view v = view(LF_FAILBACK, ME, LF_REC_OK);
	step(&n, NODE_EV_LOCKED, &v);
	STATE(&n, NODE_STARTING);
	BEFORE(NODE_A_WRITE_LIVE, NODE_A_SPAWN);
	HAS_ARG(NODE_A_SLOT_STATE, SLOT_STARTING);
	cr_assert_eq(n.epoch, OLD_EPOCH + 1);
}

/* ------------------------------------------------------------------ */
/* Backup                                                              */
/* ------------------------------------------------------------------ */

Test(node, backup_joins_and_queues)
{
	struct node n;
	struct node_config cfg = config(LF_ROLE_BACKUP);
	start(&n, &cfg);
	STATE(&n, NODE_QUEUED);
	LAST_IS(NODE_A_WAIT_BACKUP, 0);
	HAS_NO(NODE_A_TRY_LIVE);
	HAS_NO(NODE_A_WAIT_LIVE);
	SLOT_STATES_ARE(LF_SLOT_QUEUED);
}

Test(node, backup_lock_makes_the_backup)
{
	struct node n;
	struct node_config cfg = config(LF_ROLE_BACKUP);
	queued_backup(&n, &cfg);
	struct lf_view v = view(LF_LIVE, LF_TARGET_ANY, LF_REC_OK);
	step(&n, NODE_EV_LOCKED, &v);
	STATE(&n, NODE_BACKUP);
	EXPECT(ACT(NODE_A_SLOT_STATE, LF_SLOT_WAITING), ACT(NODE_A_WAIT_LIVE, 0));
	cr_assert(n.holds_backup);
}

Test(node, queued_busy_waits_again)
{
	struct node n;
	struct node_config cfg = config(LF_ROLE_BACKUP);
	queued_backup(&n, &cfg);
	EXPECT(ACT(NODE_A_SLOT_STATE, LF_SLOT_QUEUED), ACT(NODE_A_WAIT_BACKUP, 0));
	for (int i = 0; i < 3; i++) {
		step(&n, NODE_EV_BUSY, NULL);
		STATE(&n, NODE_QUEUED);
		/* The wait goes on, at the queue's pace (node_wait_pace). */
		EXPECT(ACT(NODE_A_WAIT_BACKUP, 1));
	}
}

Test(node, backup_busy_waits_again)
{
	struct node n;
	backup_default(&n);
	step(&n, NODE_EV_BUSY, NULL);
	STATE(&n, NODE_BACKUP);
	EXPECT(ACT(NODE_A_WAIT_LIVE, 0));
}

static void check_backup_takes_over(const struct lf_view *v, const char *what)
{
	struct node n;
	backup_default(&n);
	struct node_event_data e = ev(NODE_EV_LOCKED);
	e.view = v;
	e.target_alive = false;
	step_ev(&n, &e);
	cr_assert_eq(n.state, NODE_STARTING, "%s: state %s %s", what, state_str(n.state), FMT_OUT(&out));
	SPAWN_RIGHT_AFTER_WRITE_LIVE();
	/* Next in line no more: the lock goes, after the fork. */
	BEFORE(NODE_A_SPAWN, NODE_A_RELEASE_BACKUP);
	HAS_ARG(NODE_A_SLOT_STATE, SLOT_STARTING);
	HAS_NO(NODE_A_RELEASE_LIVE);
	cr_assert_eq(count_of(&out, NODE_A_SPAWN), 1);
	cr_assert_eq(n.epoch, v->live.epoch + 1, "%s: epoch %llu", what, (unsigned long long)n.epoch);
}

Test(node, backup_fails_over_on_live)
{
	struct lf_view v = view(LF_LIVE, LF_TARGET_ANY, LF_REC_OK);
	check_backup_takes_over(&v, "L");
}

static void check_backup_stands_by(char status)
{
	struct node n;
	struct node_config cfg = config(LF_ROLE_BACKUP);
	cfg.poll_ms = 321;
	backup_waiting(&n, &cfg);
	struct lf_view v = view(status, LF_TARGET_ANY, LF_REC_OK);
	step(&n, NODE_EV_LOCKED, &v);
	STATE(&n, NODE_BACKUP);
	EXPECT(ACT(NODE_A_RELEASE_LIVE, 0), ACT(NODE_A_TIMER, 321));
	cr_assert(n.holds_backup, "a standing-by backup keeps the backup lock");
	step(&n, NODE_EV_TIMER, NULL);
	STATE(&n, NODE_BACKUP);
	EXPECT(ACT(NODE_A_WAIT_LIVE, 0));
}

Test(node, backup_stands_by_on_paused) { check_backup_stands_by(LF_PAUSED); }

Test(node, backup_stands_by_on_new) { check_backup_stands_by(LF_NEW); }

Test(node, backup_yields_to_the_named_target)
{
	struct node n;
	struct node_config cfg = config(LF_ROLE_BACKUP);
	cfg.poll_ms = 250;
	backup_waiting(&n, &cfg);
	struct lf_view v = view(LF_FAILBACK, OTHER, LF_REC_OK);
	struct node_event_data e = ev(NODE_EV_LOCKED);
	e.view = &v;
	e.target_alive = true;
	e.target_state = LF_SLOT_QUEUED;
	step_ev(&n, &e);
	STATE(&n, NODE_QUEUED);
	HAS(NODE_A_RELEASE_LIVE);
	HAS(NODE_A_RELEASE_BACKUP);
	BEFORE(NODE_A_RELEASE_LIVE, NODE_A_TIMER);
	BEFORE(NODE_A_RELEASE_BACKUP, NODE_A_TIMER);
	LAST_IS(NODE_A_TIMER, 250);
	HAS_NO(NODE_A_SPAWN);
	HAS_NO(NODE_A_WRITE_LIVE);
	HAS_NO(NODE_A_WRITE_STATUS);
	HAS_NO(NODE_A_WAIT_BACKUP);
	SLOT_STATES_ARE(LF_SLOT_QUEUED);
	cr_assert(!n.holds_backup);
	step(&n, NODE_EV_TIMER, NULL);
	STATE(&n, NODE_QUEUED);
	LAST_IS(NODE_A_WAIT_BACKUP, 0);
}

Test(node, backup_takes_a_failback_for_itself)
{
	struct lf_view v = view(LF_FAILBACK, ME, LF_REC_OK);
	check_backup_takes_over(&v, "F for us");
}

Test(node, backup_takes_a_failback_for_anyone)
{
	struct lf_view v = view(LF_FAILBACK, LF_TARGET_ANY, LF_REC_OK);
	check_backup_takes_over(&v, "F for any");
}

Test(node, backup_treats_a_stale_request_as_live)
{
	/* check_backup_takes_over feeds target_alive = false. */
	struct lf_view v = view(LF_FAILBACK, DEAD, LF_REC_OK);
	check_backup_takes_over(&v, "F for a dead slot");
}

Test(node, backup_treats_a_bad_request_as_live)
{
	struct node n;
	backup_default(&n);
	struct lf_view v = view(LF_FAILBACK, OTHER, LF_REC_BAD);
	struct node_event_data e = ev(NODE_EV_LOCKED);
	e.view = &v;
	/* Even if the loop looked up the unreadable target and found it held. */
	e.target_alive = true;
	e.target_state = LF_SLOT_WAITING;
	step_ev(&n, &e);
	STATE(&n, NODE_STARTING);
	SPAWN_RIGHT_AFTER_WRITE_LIVE();
	BEFORE(NODE_A_SPAWN, NODE_A_RELEASE_BACKUP);
}

/* A status byte major 1 does not define is damage (a new letter needs a
 * new major): it may have said L, N or P. A backup never starts on it,
 * and never gets stuck holding or waiting for nothing: whatever it asks
 * for next, it reacts to the answer. A primary, which starts the group
 * for each of L, N and P, takes over; after the takeover delay, as for
 * L, since it cannot tell a crash. */
Test(node, unknown_status_backup_waits_primary_takes_over)
{
	static const char odd[] = { 0, 'X' };
	for (int h = 0; h < 3; h++) {
		for (size_t i = 0; i < sizeof odd; i++) {
			struct node n;
			if (h == 0) {
				struct node_config cfg = config(LF_ROLE_PRIMARY);
				start(&n, &cfg);
			} else if (h == 1) {
				claiming_primary(&n);
			} else {
				backup_default(&n);
			}
			const char *who = h == 0 ? "primary" : h == 1 ? "claiming primary" : "backup";
			struct lf_view v = view(LF_LIVE, LF_TARGET_ANY, LF_REC_OK);
			v.status = odd[i];
			step(&n, NODE_EV_LOCKED, &v);
			if (h < 2) {
				STATE(&n, NODE_STARTING);
				BEFORE(NODE_A_WRITE_LIVE, NODE_A_SPAWN);
				cr_expect(n.epoch == OLD_EPOCH + 1, "%s, status 0x%02x: epoch %llu", who,
					  (unsigned char)odd[i], (unsigned long long)n.epoch);
				continue;
			}
			cr_expect(index_of(&out, NODE_A_SPAWN) < 0 && index_of(&out, NODE_A_WRITE_LIVE) < 0,
				  "%s, status 0x%02x: started: %s", who, (unsigned char)odd[i], FMT_OUT(&out));
			cr_expect(out.loud && out.why && strstr(out.why, "damaged"),
				  "%s, status 0x%02x: standing by on a damaged status is not said loudly", who,
				  (unsigned char)odd[i]);
			if (index_of(&out, NODE_A_TIMER) < 0)
				continue;
			enum node_state was = n.state;
			step(&n, NODE_EV_TIMER, NULL);
			cr_expect(index_of(&out, NODE_A_TRY_LIVE) >= 0 || index_of(&out, NODE_A_WAIT_LIVE) >= 0 ||
					  index_of(&out, NODE_A_WAIT_BACKUP) >= 0 || index_of(&out, NODE_A_EXIT) >= 0,
				  "%s, status 0x%02x: released the live lock and asked for a timer, but TIMER in %s "
				  "does nothing: %s (stuck)",
				  who, (unsigned char)odd[i], state_str(was), FMT_OUT(&out));
			/* Said once, not every poll interval. */
			step(&n, NODE_EV_LOCKED, &v);
			cr_expect(!out.why, "backup: said again: %s", out.why ? out.why : "");
		}
	}
}

Test(node, unknown_status_primary_waits_out_the_takeover_delay)
{
	struct node n;
	struct node_config cfg = config(LF_ROLE_PRIMARY);
	cfg.takeover_delay_ms = 1500;
	start(&n, &cfg);
	struct lf_view v = view(LF_LIVE, LF_TARGET_ANY, LF_REC_OK);
	v.status = 'X';
	step(&n, NODE_EV_LOCKED, &v);
	STATE(&n, NODE_VERIFYING);
	EXPECT(ACT(NODE_A_SLOT_STATE, LF_SLOT_WAITING), ACT(NODE_A_TIMER, 1500));
	fire_timer(&n);
	EXPECT(ACT(NODE_A_READ, 1));
	step(&n, NODE_EV_TICK, &v); /* still damaged, the heartbeat still */
	STATE(&n, NODE_STARTING);
	BEFORE(NODE_A_WRITE_LIVE, NODE_A_SPAWN);
}

/* ------------------------------------------------------------------ */
/* node_decide, as one table                                           */
/* ------------------------------------------------------------------ */

enum req { R_ME, R_ANY, R_OTHER_ALIVE, R_OTHER_DEAD, R_BAD, R_N };
static const char *req_name[R_N] = { "me", "any", "other-alive", "other-dead", "bad" };

/* Who holds the live lock when it decides. */
enum holder { H_PRIMARY_JOINING, H_PRIMARY_CLAIMING, H_BACKUP, H_N };
static const char *holder_name[H_N] = { "primary", "claiming primary", "backup" };

static void make_holder(struct node *n, enum holder h)
{
	struct node_config cfg;
	switch (h) {
	case H_PRIMARY_JOINING:
		cfg = config(LF_ROLE_PRIMARY);
		start(n, &cfg);
		STATE(n, NODE_JOINING);
		break;
	case H_PRIMARY_CLAIMING: claiming_primary(n); break;
	case H_BACKUP:
	default: backup_default(n); break;
	}
}

static struct node_event_data decide_event(enum req r, char status, struct lf_view *v)
{
	static const int32_t target[R_N] = { ME, LF_TARGET_ANY, OTHER, DEAD, OTHER };
	*v = view(status, target[r], r == R_BAD ? LF_REC_BAD : LF_REC_OK);
	if (status != LF_FAILBACK && r == R_BAD)
		v->request_rec = LF_REC_BAD; /* an unreadable leftover request */
	if (status != LF_FAILBACK && r != R_BAD) {
		/* A leftover request from an earlier F, now cleared by L. */
		v->request_rec = LF_REC_OK;
		v->request.seq = 3;
		v->request.kind = LF_REQ_SWITCHOVER;
		v->request.target_slot = target[r];
	}
	struct node_event_data e = ev(NODE_EV_LOCKED);
	e.view = v;
	e.target_alive = r == R_OTHER_ALIVE || r == R_BAD || r == R_ME;
	e.target_state = LF_SLOT_WAITING;
	e.backup_waiting = true;
	return e;
}

static enum node_verdict expected_verdict(enum holder h, char status, enum req r)
{
	switch (status) {
	case LF_LIVE: return NODE_BECOME_LIVE;
	case LF_NEW:
	case LF_PAUSED: return h == H_BACKUP ? NODE_STAND_BY : NODE_BECOME_LIVE;
	case LF_FAILBACK:
	default: return r == R_OTHER_ALIVE ? NODE_YIELD : NODE_BECOME_LIVE;
	}
}

static const char *verdict_name(enum node_verdict v)
{
	switch (v) {
	case NODE_BECOME_LIVE: return "BECOME_LIVE";
	case NODE_STAND_BY: return "STAND_BY";
	case NODE_YIELD: return "YIELD";
	}
	return "?";
}

Test(node, decide_table)
{
	static const char statuses[] = { LF_NEW, LF_LIVE, LF_PAUSED, LF_FAILBACK };
	int rows = 0;
	for (int h = 0; h < H_N; h++) {
		for (size_t s = 0; s < sizeof statuses; s++) {
			for (int r = 0; r < R_N; r++) {
				struct node n;
				make_holder(&n, (enum holder)h);
				struct lf_view v;
				struct node_event_data e = decide_event((enum req)r, statuses[s], &v);
				enum node_verdict want = expected_verdict((enum holder)h, statuses[s], (enum req)r);
				enum node_verdict got = node_decide(&n, &e);
				cr_expect_eq(got, want, "%s, status %c, request %s: %s, expected %s", holder_name[h],
					     statuses[s], req_name[r], verdict_name(got), verdict_name(want));
				rows++;
			}
		}
	}
	cr_assert_eq(rows, 3 * 4 * 5);
}

#define ROW_FMT "%s, status %c, request %s: state %s, actions %s"

/* node_step does what node_decide says, for every row of the table. */
Test(node, decide_table_drives_step)
{
	static const char statuses[] = { LF_NEW, LF_LIVE, LF_PAUSED, LF_FAILBACK };
	for (int h = 0; h < H_N; h++) {
		for (size_t s = 0; s < sizeof statuses; s++) {
			for (int r = 0; r < R_N; r++) {
				struct node n;
				make_holder(&n, (enum holder)h);
				struct lf_view v;
				struct node_event_data e = decide_event((enum req)r, statuses[s], &v);
				enum node_verdict want = expected_verdict((enum holder)h, statuses[s], (enum req)r);
				step_ev(&n, &e);
				switch (want) {
				case NODE_BECOME_LIVE:
					cr_expect(n.state == NODE_STARTING && index_of(&out, NODE_A_WRITE_LIVE) >= 0 &&
							  index_of(&out, NODE_A_WRITE_LIVE) <
								  index_of(&out, NODE_A_SPAWN) &&
							  index_of(&out, NODE_A_RELEASE_LIVE) < 0,
						  ROW_FMT, holder_name[h], statuses[s], req_name[r], state_str(n.state),
						  FMT_OUT(&out));
					break;
				case NODE_STAND_BY:
					/* A primary stands by waiting for the live lock itself. */
					cr_expect(n.state == (h == H_BACKUP ? NODE_BACKUP : NODE_CLAIMING) &&
							  index_of(&out, NODE_A_RELEASE_LIVE) >= 0 &&
							  index_of(&out, NODE_A_RELEASE_BACKUP) < 0 &&
							  index_of(&out, NODE_A_SPAWN) < 0 &&
							  index_of(&out, NODE_A_WRITE_LIVE) < 0,
						  ROW_FMT, holder_name[h], statuses[s], req_name[r], state_str(n.state),
						  FMT_OUT(&out));
					break;
				case NODE_YIELD:
					cr_expect(n.state == (h == H_BACKUP ? NODE_QUEUED : NODE_CLAIMING) &&
							  index_of(&out, NODE_A_RELEASE_LIVE) >= 0 &&
							  index_of(&out, NODE_A_TIMER) >= 0 &&
							  index_of(&out, NODE_A_SPAWN) < 0 &&
							  index_of(&out, NODE_A_WRITE_LIVE) < 0 &&
							  index_of(&out, NODE_A_WRITE_STATUS) < 0,
						  ROW_FMT, holder_name[h], statuses[s], req_name[r], state_str(n.state),
						  FMT_OUT(&out));
					break;
				}
			}
		}
	}
}

/* ------------------------------------------------------------------ */
/* Live: checks, hand-over                                             */
/* ------------------------------------------------------------------ */

/* A check by the live node: the file as v says, with the live record the
 * node's own (a record of another is the fencing case, tested apart). */
static void tick(struct node *n, const struct lf_view *v, bool alive, uint8_t tstate, bool backup)
{
	static struct lf_view mine;
	mine = *v;
	mine.live_rec = LF_REC_OK;
	mine.live.epoch = n->epoch;
	mine.live.slot = n->slot;
	struct node_event_data e = ev(NODE_EV_TICK);
	e.view = &mine;
	e.target_alive = alive;
	e.target_state = tstate;
	e.backup_waiting = backup;
	step_ev(n, &e);
}

Test(node, live_tick_on_live_does_nothing)
{
	struct node n;
	live_default(&n);
	struct lf_view v = view(LF_LIVE, LF_TARGET_ANY, LF_REC_OK);
	v.live.slot = ME;
	v.live.epoch = n.epoch;
	for (int i = 0; i < 3; i++) {
		now_ms += 500;
		tick(&n, &v, false, 0, true);
		STATE(&n, NODE_LIVE);
		EXPECT_NONE();
	}
}

static void check_handover_started(struct node *n)
{
	STATE(n, NODE_STOPPING);
	HAS(NODE_A_STOP);
	/* The workload still runs: the lock stays, and F stays (no L, no P). */
	HAS_NO(NODE_A_RELEASE_LIVE);
	HAS_NO(NODE_A_WRITE_STATUS);
	HAS_NO(NODE_A_EXIT);
	HAS_NO(NODE_A_SPAWN);
	cr_assert_eq(n->stop, NODE_STOP_HANDOVER);
}

/* A refusal writes L only if the request is still the one read (seq 7,
 * see view()): REFUSE carries its seq, so a newer request survives. */
static void check_refused(struct node *n)
{
	STATE(n, NODE_LIVE);
	EXPECT(ACT(NODE_A_REFUSE, 7));
	HAS_NO(NODE_A_WRITE_STATUS);
	HAS_NO(NODE_A_STOP);
	HAS_NO(NODE_A_RELEASE_LIVE);
	HAS_NO(NODE_A_SPAWN);
	HAS_NO(NODE_A_EXIT);
}

Test(node, live_hands_over_to_any_waiting_backup)
{
	struct node n;
	live_default(&n);
	struct lf_view v = view(LF_FAILBACK, LF_TARGET_ANY, LF_REC_OK);
	tick(&n, &v, false, 0, true);
	check_handover_started(&n);
}

Test(node, live_refuses_any_without_a_backup)
{
	struct node n;
	live_default(&n);
	struct lf_view v = view(LF_FAILBACK, LF_TARGET_ANY, LF_REC_OK);
	tick(&n, &v, false, 0, false);
	check_refused(&n);
}

Test(node, live_hands_over_to_a_waiting_target)
{
	struct node n;
	live_default(&n);
	struct lf_view v = view(LF_FAILBACK, OTHER, LF_REC_OK);
	tick(&n, &v, true, LF_SLOT_WAITING, false);
	check_handover_started(&n);
}

Test(node, live_hands_over_to_a_queued_target)
{
	struct node n;
	live_default(&n);
	struct lf_view v = view(LF_FAILBACK, OTHER, LF_REC_OK);
	tick(&n, &v, true, LF_SLOT_QUEUED, true);
	check_handover_started(&n);
}

Test(node, live_refuses_a_target_that_is_not_waiting)
{
	static const uint8_t states[] = { LF_SLOT_JOINING, LF_SLOT_LIVE, LF_SLOT_STOPPING };
	for (size_t i = 0; i < sizeof states; i++) {
		struct node n;
		live_default(&n);
		struct lf_view v = view(LF_FAILBACK, OTHER, LF_REC_OK);
		tick(&n, &v, true, states[i], true);
		check_refused(&n);
	}
}

Test(node, live_refuses_a_dead_target)
{
	struct node n;
	live_default(&n);
	struct lf_view v = view(LF_FAILBACK, DEAD, LF_REC_OK);
	tick(&n, &v, false, 0, true);
	check_refused(&n);
}

Test(node, live_clears_a_request_for_itself)
{
	/* Our own slot reads as held with state LIVE, or (lockfile_held
	 * never counts our own locks) as free: either way, clear it.
	 * Whatever the facts say about that slot, we never hand over to us. */
	static const uint8_t states[] = { LF_SLOT_LIVE, LF_SLOT_WAITING, LF_SLOT_QUEUED };
	for (int alive = 0; alive < 2; alive++) {
		for (size_t i = 0; i < sizeof states; i++) {
			struct node n;
			live_default(&n);
			struct lf_view v = view(LF_FAILBACK, ME, LF_REC_OK);
			tick(&n, &v, alive, states[i], true);
			check_refused(&n);
		}
	}
}

/* Hand over from a live node of either role: stop, then release the live
 * lock without writing P (F stays, so the target passes), then wait again:
 * a backup in line for the backup lock, a primary for the live lock itself,
 * and a primary never asks for failback after it handed the role away. */
static void check_handover(struct node *n)
{
	struct lf_view v = view(LF_FAILBACK, OTHER, LF_REC_OK);
	tick(n, &v, true, LF_SLOT_WAITING, true);
	check_handover_started(n);
	/* A tick while stopping never releases the lock early. */
	tick(n, &v, true, LF_SLOT_WAITING, true);
	STATE(n, NODE_STOPPING);
	HAS_NO(NODE_A_RELEASE_LIVE);
	HAS_NO(NODE_A_SPAWN);
	HAS_NO_ARG(NODE_A_WRITE_STATUS, LF_PAUSED);

	step_exited(n, W_EXITCODE(0, SIGTERM));
	HAS(NODE_A_RELEASE_LIVE);
	/* No P: the status stays F so the target can pass. */
	HAS_NO(NODE_A_WRITE_STATUS);
	HAS_NO(NODE_A_WRITE_LIVE);
	HAS_NO(NODE_A_SPAWN);
	HAS_NO(NODE_A_EXIT);
	HAS_NO(NODE_A_REQUEST_FAILBACK);
	cr_assert(!n->workload_running);
	if (n->cfg.role == LF_ROLE_BACKUP) {
		STATE(n, NODE_QUEUED);
		HAS_ARG(NODE_A_SLOT_STATE, LF_SLOT_QUEUED);
		BEFORE(NODE_A_RELEASE_LIVE, NODE_A_WAIT_BACKUP);
		LAST_IS(NODE_A_WAIT_BACKUP, 0);
		/* And it is a backup in line again: backup lock, then live lock. */
		struct lf_view l = view(LF_LIVE, LF_TARGET_ANY, LF_REC_OK);
		step(n, NODE_EV_LOCKED, &l);
		STATE(n, NODE_BACKUP);
		LAST_IS(NODE_A_WAIT_LIVE, 0);
	} else {
		STATE(n, NODE_CLAIMING);
		HAS_ARG(NODE_A_SLOT_STATE, LF_SLOT_WAITING);
		BEFORE(NODE_A_RELEASE_LIVE, NODE_A_WAIT_LIVE);
		LAST_IS(NODE_A_WAIT_LIVE, 0);
		cr_assert(!n->want_failback);
		/* The new live overwrote F with L: no request, just the wait. */
		struct lf_view l = view(LF_LIVE, LF_TARGET_ANY, LF_REC_OK);
		step(n, NODE_EV_BUSY, &l);
		EXPECT(ACT(NODE_A_WAIT_LIVE, 0));
	}
}

/* A primary that handed over for a switchover to anyone waits on the live
 * lock itself and can win it before the backup does: it must let its own
 * request pass while a backup waits, and take it only if nobody does. */
static void primary_after_switchover(struct node *n, struct lf_view *any)
{
	struct node_config cfg = config(LF_ROLE_PRIMARY);
	live_primary(n, &cfg, LF_PAUSED);
	*any = view(LF_FAILBACK, LF_TARGET_ANY, LF_REC_OK);
	tick(n, any, false, 0, true);
	STATE(n, NODE_STOPPING);
	step_exited(n, W_EXITCODE(0, SIGTERM));
	STATE(n, NODE_CLAIMING);
}

Test(node, switchover_to_any_is_not_taken_back_while_a_backup_waits)
{
	struct node n;
	struct lf_view any;
	primary_after_switchover(&n, &any);
	struct node_event_data e = { .type = NODE_EV_LOCKED, .view = &any, .backup_waiting = true };
	step_ev(&n, &e);
	STATE(&n, NODE_CLAIMING);
	HAS(NODE_A_RELEASE_LIVE);
	HAS(NODE_A_TIMER);
	HAS_NO(NODE_A_SPAWN);
	HAS_NO(NODE_A_WRITE_LIVE);
	/* A later request to anyone is a new wish: it may take that one. */
	struct lf_view later = any;
	later.request.seq = any.request.seq + 1;
	e.view = &later;
	step(&n, NODE_EV_TIMER, NULL);
	step_ev(&n, &e);
	STATE(&n, NODE_STARTING);
}

Test(node, switchover_to_any_is_taken_back_when_nobody_else_waits)
{
	struct node n;
	struct lf_view any;
	primary_after_switchover(&n, &any);
	struct node_event_data e = { .type = NODE_EV_LOCKED, .view = &any, .backup_waiting = false };
	step_ev(&n, &e);
	STATE(&n, NODE_STARTING); /* never leave the group without a live node */
	BEFORE(NODE_A_WRITE_LIVE, NODE_A_SPAWN);
}

Test(node, handover_from_a_live_backup_queues_again)
{
	struct node n;
	backup_default(&n);
	struct lf_view l = view(LF_LIVE, LF_TARGET_ANY, LF_REC_OK);
	step(&n, NODE_EV_LOCKED, &l);
	STATE(&n, NODE_STARTING);
	step(&n, NODE_EV_STARTED, NULL);
	make_ready(&n);
	check_handover(&n);
}

Test(node, handover_from_a_live_primary_waits_without_asking_back)
{
	struct node n;
	struct node_config cfg = config(LF_ROLE_PRIMARY);
	cfg.allow_failback = true;
	live_primary(&n, &cfg, LF_PAUSED);
	check_handover(&n);
}

/* ------------------------------------------------------------------ */
/* Shutdown                                                            */
/* ------------------------------------------------------------------ */

static void check_exits_at_once(struct node *n, const char *where)
{
	step(n, NODE_EV_SHUTDOWN, NULL);
	cr_assert_eq(n->state, NODE_DONE, "%s: state %s", where, state_str(n->state));
	LAST_IS(NODE_A_EXIT, NODE_EXIT_OK);
	HAS_NO(NODE_A_WRITE_STATUS);
	HAS_NO(NODE_A_WRITE_LIVE);
	HAS_NO(NODE_A_SPAWN);
	HAS_NO(NODE_A_STOP);
	cr_assert_eq(count_of(&out, NODE_A_EXIT), 1);
}

Test(node, shutdown_before_joining_exits)
{
	struct node n;
	struct node_config cfg = config(LF_ROLE_PRIMARY);
	memset(&n, 0, sizeof n);
	node_init(&n, &cfg, &out);
	check_exits_at_once(&n, "JOINING before JOINED");
}

Test(node, shutdown_while_joining_exits)
{
	struct node n;
	struct node_config cfg = config(LF_ROLE_PRIMARY);
	start(&n, &cfg);
	check_exits_at_once(&n, "JOINING");
}

Test(node, shutdown_while_queued_exits)
{
	struct node n;
	struct node_config cfg = config(LF_ROLE_BACKUP);
	queued_backup(&n, &cfg);
	check_exits_at_once(&n, "QUEUED");
}

Test(node, shutdown_while_backup_exits)
{
	struct node n;
	backup_default(&n);
	check_exits_at_once(&n, "BACKUP");
}

Test(node, shutdown_while_standing_by_exits)
{
	struct node n;
	backup_default(&n);
	struct lf_view v = view(LF_PAUSED, LF_TARGET_ANY, LF_REC_OK);
	step(&n, NODE_EV_LOCKED, &v);
	EXPECT(ACT(NODE_A_RELEASE_LIVE, 0), ACT(NODE_A_TIMER, 500));
	check_exits_at_once(&n, "BACKUP standing by");
}

Test(node, shutdown_while_claiming_exits)
{
	struct node n;
	claiming_primary(&n);
	check_exits_at_once(&n, "CLAIMING");
}

Test(node, shutdown_while_live_stops_pauses_releases_exits)
{
	struct node n;
	live_default(&n);
	step(&n, NODE_EV_SHUTDOWN, NULL);
	STATE(&n, NODE_STOPPING);
	HAS(NODE_A_STOP);
	HAS_NO(NODE_A_RELEASE_LIVE);
	HAS_NO(NODE_A_EXIT);
	HAS_NO(NODE_A_WRITE_STATUS);
	cr_assert_eq(n.stop, NODE_STOP_SHUTDOWN);

	step_exited(&n, W_EXITCODE(0, SIGTERM));
	STATE(&n, NODE_DONE);
	BEFORE(NODE_A_WRITE_STATUS, NODE_A_RELEASE_LIVE);
	BEFORE(NODE_A_RELEASE_LIVE, NODE_A_EXIT);
	HAS_ARG(NODE_A_WRITE_STATUS, LF_PAUSED);
	cr_assert_eq(index_of(&out, NODE_A_WRITE_STATUS), index_of_arg(&out, NODE_A_WRITE_STATUS, LF_PAUSED));
	LAST_IS(NODE_A_EXIT, NODE_EXIT_OK);
	HAS_NO(NODE_A_SPAWN);
}

Test(node, shutdown_with_failover_leaves_live)
{
	struct node n;
	struct node_config cfg = config(LF_ROLE_PRIMARY);
	cfg.failover_on_shutdown = true;
	live_primary(&n, &cfg, LF_NEW);
	step(&n, NODE_EV_SHUTDOWN, NULL);
	STATE(&n, NODE_STOPPING);
	HAS(NODE_A_STOP);
	HAS_NO(NODE_A_RELEASE_LIVE);
	step_exited(&n, W_EXITCODE(0, SIGTERM));
	STATE(&n, NODE_DONE);
	HAS_NO_ARG(NODE_A_WRITE_STATUS, LF_PAUSED);
	BEFORE(NODE_A_RELEASE_LIVE, NODE_A_EXIT);
	LAST_IS(NODE_A_EXIT, NODE_EXIT_OK);
}

/* The operator who signals again will not wait out the stop timeout: the
 * tree gets SIGKILL at once, and the stop ends as a shutdown still. */
Test(node, shutdown_twice_while_stopping_kills_the_tree)
{
	struct node n;
	live_default(&n);
	step(&n, NODE_EV_SHUTDOWN, NULL);
	STATE(&n, NODE_STOPPING);
	EXPECT(ACT(NODE_A_SLOT_STATE, LF_SLOT_STOPPING), ACT(NODE_A_STOP, 0));
	step(&n, NODE_EV_SHUTDOWN, NULL);
	STATE(&n, NODE_STOPPING);
	EXPECT(ACT(NODE_A_STOP, 1));
	cr_assert(out.loud);
	step(&n, NODE_EV_SHUTDOWN, NULL); /* killed already */
	EXPECT_NONE();
	step_exited(&n, W_EXITCODE(0, SIGKILL));
	STATE(&n, NODE_DONE);
	BEFORE(NODE_A_RELEASE_LIVE, NODE_A_EXIT);
	LAST_IS(NODE_A_EXIT, NODE_EXIT_OK);
}

/* A primary that took the role on a paused group: the workload forked,
 * its exec not returned yet (STARTED not fed). */
static void exec_pending_primary(struct node *n)
{
	struct node_config cfg = config(LF_ROLE_PRIMARY);
	start(n, &cfg);
	struct lf_view v = view(LF_PAUSED, LF_TARGET_ANY, LF_REC_OK);
	step(n, NODE_EV_LOCKED, &v);
	STATE(n, NODE_STARTING);
	HAS(NODE_A_SPAWN);
}

/* A workload whose exec hangs (its program on storage that stopped
 * answering) is a process of the tree all the same: a shutdown kills it at
 * once, with nothing to give grace to, and the node leaves as after any
 * stop once its tree is reaped (§5.4). */
Test(node, a_shutdown_while_the_exec_is_pending_kills_at_once)
{
	struct node n;
	exec_pending_primary(&n);
	step(&n, NODE_EV_SHUTDOWN, NULL);
	STATE(&n, NODE_STOPPING);
	EXPECT(ACT(NODE_A_SLOT_STATE, LF_SLOT_STOPPING), ACT(NODE_A_STOP, 1));
	step(&n, NODE_EV_SHUTDOWN, NULL); /* killed already */
	EXPECT_NONE();
	step_exited(&n, W_EXITCODE(0, SIGKILL));
	STATE(&n, NODE_DONE);
	HAS_ARG(NODE_A_WRITE_STATUS, LF_PAUSED);
	BEFORE(NODE_A_RELEASE_LIVE, NODE_A_EXIT);
	LAST_IS(NODE_A_EXIT, NODE_EXIT_OK);
}

/* Once the exec returned, a stop gives the program its grace again. */
Test(node, a_shutdown_after_the_exec_returned_gives_grace)
{
	struct node n;
	exec_pending_primary(&n);
	step(&n, NODE_EV_STARTED, NULL);
	STATE(&n, NODE_STARTING);
	EXPECT_NONE();
	step(&n, NODE_EV_SHUTDOWN, NULL);
	EXPECT(ACT(NODE_A_SLOT_STATE, LF_SLOT_STOPPING), ACT(NODE_A_STOP, 0));
}

/* The fence deadline while the exec hangs: SIGKILL first, on-fence, no call
 * on the storage, and 74 once the tree is reaped. */
Test(node, a_fence_while_the_exec_is_pending_kills_first)
{
	struct node n;
	exec_pending_primary(&n);
	step(&n, NODE_EV_FENCE, NULL);
	STATE(&n, NODE_STOPPING);
	EXPECT(ACT(NODE_A_STOP, 1), ACT(NODE_A_FENCE_HOOK, 0));
	step(&n, NODE_EV_STARTED, NULL); /* the exec returned into its SIGKILL */
	EXPECT_NONE();
	step_exited(&n, W_EXITCODE(0, SIGKILL));
	STATE(&n, NODE_DONE);
	EXPECT(ACT(NODE_A_EXIT, NODE_EXIT_IO));
}

/* --ready-timeout covers the exec too: one that never returns is a start
 * that failed, killed at once, and the restart policy follows. */
Test(node, the_ready_timeout_kills_a_pending_exec)
{
	struct node n;
	struct node_config cfg = config(LF_ROLE_PRIMARY);
	cfg.ready_timeout_ms = 5000;
	start(&n, &cfg);
	struct lf_view v = view(LF_PAUSED, LF_TARGET_ANY, LF_REC_OK);
	step(&n, NODE_EV_LOCKED, &v);
	HAS_ARG(NODE_A_TIMER, 5000);
	step(&n, NODE_EV_TIMER, NULL);
	STATE(&n, NODE_STARTING);
	EXPECT(ACT(NODE_A_STOP, 1));
	step_exited(&n, W_EXITCODE(0, SIGKILL));
	STATE(&n, NODE_STARTING);
	HAS(NODE_A_TIMER); /* the back-off before the next try */
}

/* A failed exec is heard once its child is gone: nothing of it runs, and
 * the node gives up as for a failed fork; while stopping, it ends the stop. */
Test(node, a_failed_exec_gives_up_and_ends_a_stop)
{
	struct node n;
	exec_pending_primary(&n);
	struct node_event_data e = { .type = NODE_EV_SPAWN_FAILED, .err = ENOENT };
	step_ev(&n, &e);
	STATE(&n, NODE_DONE);
	BEFORE(NODE_A_RELEASE_LIVE, NODE_A_EXIT);
	LAST_IS(NODE_A_EXIT, NODE_EXIT_WORKLOAD);

	exec_pending_primary(&n);
	step(&n, NODE_EV_SHUTDOWN, NULL);
	STATE(&n, NODE_STOPPING);
	step_ev(&n, &e);
	STATE(&n, NODE_DONE);
	LAST_IS(NODE_A_EXIT, NODE_EXIT_OK);
}

/* A hand-over's stop: the first signal turns it into an exit, the second
 * kills. */
Test(node, a_second_signal_during_a_handover_kills_the_tree)
{
	struct node n;
	live_default(&n);
	struct lf_view v = view(LF_FAILBACK, LF_TARGET_ANY, LF_REC_OK);
	tick(&n, &v, false, 0, true);
	STATE(&n, NODE_STOPPING);
	step(&n, NODE_EV_SHUTDOWN, NULL);
	EXPECT_NONE();
	step(&n, NODE_EV_SHUTDOWN, NULL);
	EXPECT(ACT(NODE_A_STOP, 1));
	step_exited(&n, W_EXITCODE(0, SIGKILL));
	STATE(&n, NODE_DONE);
	HAS_NO(NODE_A_WRITE_STATUS); /* F stays for the target */
	LAST_IS(NODE_A_EXIT, NODE_EXIT_OK);
}

Test(node, shutdown_during_backoff_exits_without_stop)
{
	struct node n;
	live_default(&n);
	step_exited(&n, W_EXITCODE(1, 0));
	STATE(&n, NODE_STARTING);
	EXPECT(ACT(NODE_A_SLOT_STATE, SLOT_STARTING), ACT(NODE_A_TIMER, 100));
	/* The workload is gone; the back-off timer has not fired yet. */
	step(&n, NODE_EV_SHUTDOWN, NULL);
	STATE(&n, NODE_DONE);
	HAS_NO(NODE_A_STOP);
	HAS_NO(NODE_A_SPAWN);
	HAS_ARG(NODE_A_WRITE_STATUS, LF_PAUSED);
	BEFORE(NODE_A_WRITE_STATUS, NODE_A_RELEASE_LIVE);
	BEFORE(NODE_A_RELEASE_LIVE, NODE_A_EXIT);
	LAST_IS(NODE_A_EXIT, NODE_EXIT_OK);
}

/* ------------------------------------------------------------------ */
/* Restarts                                                            */
/* ------------------------------------------------------------------ */

static void check_gives_up(const char *what)
{
	cr_assert(index_of(&out, NODE_A_RELEASE_LIVE) >= 0, "%s: %s", what, FMT_OUT(&out));
	BEFORE(NODE_A_RELEASE_LIVE, NODE_A_EXIT);
	LAST_IS(NODE_A_EXIT, NODE_EXIT_WORKLOAD);
	/* Leaving the workload to a backup is a failure operators must see
	 * among the warnings. */
	cr_assert(out.loud, "%s: giving up must be said loudly", what);
	/* Status stays L so a backup takes over. */
	HAS_NO(NODE_A_WRITE_STATUS);
	HAS_NO(NODE_A_SPAWN);
	HAS_NO(NODE_A_TIMER);
}

/* A failure of a ready workload: EXITED with exit code 1 -> STARTING and
 * TIMER(backoff) -> SPAWN -> STARTED -> READY -> LIVE. */
static void fail_and_restart(struct node *n, int64_t backoff)
{
	STATE(n, NODE_LIVE);
	step_exited(n, W_EXITCODE(1, 0));
	STATE(n, NODE_STARTING);
	EXPECT(ACT(NODE_A_SLOT_STATE, SLOT_STARTING), ACT(NODE_A_TIMER, backoff));
	cr_assert(out.loud, "a failed workload's restart must be said loudly");
	now_ms += backoff;
	step(n, NODE_EV_TIMER, NULL);
	STATE(n, NODE_STARTING);
	EXPECT(ACT(NODE_A_SPAWN, 0));
	step(n, NODE_EV_STARTED, NULL);
	STATE(n, NODE_STARTING);
	HAS_NO(NODE_A_SPAWN);
	HAS_NO(NODE_A_RELEASE_LIVE);
	make_ready(n);
}

Test(node, restarts_exhaust_within_the_window)
{
	struct node n;
	struct node_config cfg = config(LF_ROLE_PRIMARY);
	cfg.max_restarts = 3;
	cfg.restart_window_ms = 60000;
	cfg.backoff_ms = 100;
	cfg.backoff_max_ms = 5000;
	live_primary(&n, &cfg, LF_PAUSED);
	fail_and_restart(&n, 100);
	now_ms += 1000;
	fail_and_restart(&n, 200);
	now_ms += 1000;
	fail_and_restart(&n, 400);
	now_ms += 1000;
	step_exited(&n, W_EXITCODE(1, 0));
	STATE(&n, NODE_DONE);
	check_gives_up("4th failure in the window");
}

Test(node, restarts_spaced_apart_never_exhaust)
{
	struct node n;
	struct node_config cfg = config(LF_ROLE_PRIMARY);
	cfg.max_restarts = 3;
	cfg.restart_window_ms = 60000;
	live_primary(&n, &cfg, LF_PAUSED);
	for (int i = 0; i < 12; i++) {
		now_ms += 61000;
		step_exited(&n, W_EXITCODE(1, 0));
		STATE(&n, NODE_STARTING);
		cr_assert_eq(out.n, 2, "failure %d: %s", i + 1, FMT_OUT(&out));
		cr_assert(out.a[0].kind == NODE_A_SLOT_STATE && out.a[0].arg == SLOT_STARTING, "%s", FMT_OUT(&out));
		LAST_KIND(NODE_A_TIMER);
		cr_assert(out.a[1].arg >= cfg.backoff_ms && out.a[1].arg <= cfg.backoff_max_ms, "%s", FMT_OUT(&out));
		now_ms += out.a[1].arg;
		step(&n, NODE_EV_TIMER, NULL);
		EXPECT(ACT(NODE_A_SPAWN, 0));
		step(&n, NODE_EV_STARTED, NULL);
		make_ready(&n);
	}
}

Test(node, backoff_doubles_up_to_the_cap)
{
	struct node n;
	struct node_config cfg = config(LF_ROLE_PRIMARY);
	cfg.max_restarts = 10;
	cfg.restart_window_ms = 600000;
	cfg.backoff_ms = 100;
	cfg.backoff_max_ms = 1000;
	live_primary(&n, &cfg, LF_PAUSED);
	static const int64_t want[] = { 100, 200, 400, 800, 1000, 1000, 1000 };
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		now_ms += 10;
		fail_and_restart(&n, want[i]);
	}
}

Test(node, restart_never_gives_up_at_once)
{
	struct node n;
	struct node_config cfg = config(LF_ROLE_PRIMARY);
	cfg.restart = NODE_RESTART_NEVER;
	live_primary(&n, &cfg, LF_PAUSED);
	step_exited(&n, W_EXITCODE(1, 0));
	STATE(&n, NODE_DONE);
	check_gives_up("never + failure");
}

Test(node, restart_never_gives_up_on_a_signal)
{
	struct node n;
	struct node_config cfg = config(LF_ROLE_PRIMARY);
	cfg.restart = NODE_RESTART_NEVER;
	live_primary(&n, &cfg, LF_PAUSED);
	step_exited(&n, W_EXITCODE(0, SIGSEGV));
	STATE(&n, NODE_DONE);
	check_gives_up("never + SIGSEGV");
}

Test(node, on_failure_restarts_after_a_signal)
{
	struct node n;
	live_default(&n);
	step_exited(&n, W_EXITCODE(0, SIGKILL));
	STATE(&n, NODE_STARTING);
	EXPECT(ACT(NODE_A_SLOT_STATE, SLOT_STARTING), ACT(NODE_A_TIMER, 100));
}

static void check_finished(void)
{
	BEFORE(NODE_A_WRITE_STATUS, NODE_A_RELEASE_LIVE);
	HAS_ARG(NODE_A_WRITE_STATUS, LF_PAUSED);
	BEFORE(NODE_A_RELEASE_LIVE, NODE_A_EXIT);
	LAST_IS(NODE_A_EXIT, NODE_EXIT_OK);
	HAS_NO(NODE_A_SPAWN);
	HAS_NO(NODE_A_TIMER);
	cr_assert(!out.loud, "a workload's exit 0 is no failure");
}

Test(node, on_failure_exit_zero_finishes)
{
	struct node n;
	live_default(&n);
	step_exited(&n, W_EXITCODE(0, 0));
	STATE(&n, NODE_DONE);
	check_finished();
}

Test(node, never_exit_zero_finishes)
{
	struct node n;
	struct node_config cfg = config(LF_ROLE_PRIMARY);
	cfg.restart = NODE_RESTART_NEVER;
	live_primary(&n, &cfg, LF_PAUSED);
	step_exited(&n, W_EXITCODE(0, 0));
	STATE(&n, NODE_DONE);
	check_finished();
}

Test(node, always_restarts_after_exit_zero)
{
	struct node n;
	struct node_config cfg = config(LF_ROLE_PRIMARY);
	cfg.restart = NODE_RESTART_ALWAYS;
	live_primary(&n, &cfg, LF_PAUSED);
	step_exited(&n, W_EXITCODE(0, 0));
	STATE(&n, NODE_STARTING);
	EXPECT(ACT(NODE_A_SLOT_STATE, SLOT_STARTING), ACT(NODE_A_TIMER, 100));
	cr_assert(!out.loud, "restart always after an exit 0 is the policy working, no failure");
	step(&n, NODE_EV_TIMER, NULL);
	EXPECT(ACT(NODE_A_SPAWN, 0));
	step(&n, NODE_EV_STARTED, NULL);
	STATE(&n, NODE_STARTING);
	/* An exit before it was ready restarts too, staying STARTING. */
	step_exited(&n, W_EXITCODE(1, 0));
	STATE(&n, NODE_STARTING);
	EXPECT(ACT(NODE_A_TIMER, 200));
	step(&n, NODE_EV_TIMER, NULL);
	EXPECT(ACT(NODE_A_SPAWN, 0));
	step(&n, NODE_EV_STARTED, NULL);
	make_ready(&n);
	step_exited(&n, W_EXITCODE(1, 0));
	STATE(&n, NODE_STARTING);
	LAST_KIND(NODE_A_TIMER);
}

Test(node, tick_during_backoff_keeps_waiting)
{
	struct node n;
	live_default(&n);
	step_exited(&n, W_EXITCODE(1, 0));
	EXPECT(ACT(NODE_A_SLOT_STATE, SLOT_STARTING), ACT(NODE_A_TIMER, 100));
	struct lf_view v = view(LF_LIVE, LF_TARGET_ANY, LF_REC_OK);
	tick(&n, &v, false, 0, true);
	STATE(&n, NODE_STARTING);
	EXPECT_NONE();
	HAS_NO(NODE_A_SPAWN);
	HAS_NO(NODE_A_RELEASE_LIVE);
	HAS_NO(NODE_A_EXIT);
	step(&n, NODE_EV_TIMER, NULL);
	EXPECT(ACT(NODE_A_SPAWN, 0));
}

/* Never two workloads: a TIMER that arrives while the workload runs (a
 * stale one, or a confused loop) must not start a second. LIVE ignores
 * it; in STARTING it is the ready timeout (tested apart), never a SPAWN. */
Test(node, timer_while_running_never_spawns)
{
	struct node n;
	live_default(&n);
	step(&n, NODE_EV_TIMER, NULL);
	EXPECT_NONE();
	cr_assert(n.state == NODE_LIVE);
	starting_default(&n);
	step(&n, NODE_EV_TIMER, NULL);
	HAS_NO(NODE_A_SPAWN);
	HAS_NO(NODE_A_RELEASE_LIVE);
	STATE(&n, NODE_STARTING);
}

/* ------------------------------------------------------------------ */
/* Readiness: STARTING, READY, UNHEALTHY, the ready timeout            */
/* ------------------------------------------------------------------ */

static void check_fenced(struct node *n); /* with the fencing tests below */

/* Taking the role publishes "live, not ready" (LF_SLOT_LIVE with the 1.1
 * flag at byte 18); READY publishes plain LF_SLOT_LIVE, which is also what
 * a 1.0 node writes for a live node. */
Test(node, starting_publishes_the_flag_and_ready_clears_it)
{
	struct node n;
	struct node_config cfg = config(LF_ROLE_PRIMARY);
	start(&n, &cfg);
	struct lf_view v = view(LF_NEW, LF_TARGET_ANY, LF_REC_OK);
	step(&n, NODE_EV_LOCKED, &v);
	STATE(&n, NODE_STARTING);
	EXPECT(ACT(NODE_A_WRITE_LIVE, 1), ACT(NODE_A_SPAWN, 0), ACT(NODE_A_SLOT_STATE, SLOT_STARTING));
	int64_t arg = out.a[2].arg;
	cr_assert_eq(arg & 0xff, LF_SLOT_LIVE, "state byte %lld", (long long)(arg & 0xff));
	cr_assert_eq(arg >> 8, LF_SLOT_F_STARTING, "flags %lld", (long long)(arg >> 8));
	step(&n, NODE_EV_STARTED, NULL);
	STATE(&n, NODE_STARTING);
	EXPECT_NONE();
	step(&n, NODE_EV_READY, NULL);
	STATE(&n, NODE_LIVE);
	EXPECT(ACT(NODE_A_SLOT_STATE, SLOT_READY));
	cr_assert_eq(out.a[0].arg >> 8, 0, "a ready live slot carries no flag");
	cr_assert(n.workload_running);
}

Test(node, ready_timeout_arms_a_timer_after_each_spawn)
{
	struct node n;
	struct node_config cfg = config(LF_ROLE_PRIMARY);
	cfg.ready_timeout_ms = 3000;
	start(&n, &cfg);
	struct lf_view v = view(LF_PAUSED, LF_TARGET_ANY, LF_REC_OK);
	step(&n, NODE_EV_LOCKED, &v);
	STATE(&n, NODE_STARTING);
	EXPECT(ACT(NODE_A_WRITE_LIVE, OLD_EPOCH + 1), ACT(NODE_A_SPAWN, 0), ACT(NODE_A_SLOT_STATE, SLOT_STARTING),
	       ACT(NODE_A_TIMER, 3000));
	step(&n, NODE_EV_STARTED, NULL);
	make_ready(&n);
	/* After a restart the new workload gets its own ready timeout. */
	step_exited(&n, W_EXITCODE(1, 0));
	EXPECT(ACT(NODE_A_SLOT_STATE, SLOT_STARTING), ACT(NODE_A_TIMER, 100));
	step(&n, NODE_EV_TIMER, NULL);
	STATE(&n, NODE_STARTING);
	EXPECT(ACT(NODE_A_SPAWN, 0), ACT(NODE_A_TIMER, 3000));
}

Test(node, ready_timeout_of_zero_arms_no_timer)
{
	struct node n;
	struct node_config cfg = config(LF_ROLE_PRIMARY);
	cfg.ready_timeout_ms = 0;
	start(&n, &cfg);
	struct lf_view v = view(LF_PAUSED, LF_TARGET_ANY, LF_REC_OK);
	step(&n, NODE_EV_LOCKED, &v);
	STATE(&n, NODE_STARTING);
	HAS_NO(NODE_A_TIMER);
	SPAWN_RIGHT_AFTER_WRITE_LIVE();
	step(&n, NODE_EV_STARTED, NULL);
	EXPECT_NONE();
	/* Nor on a restart: the back-off timer gives a SPAWN and nothing more. */
	step_exited(&n, W_EXITCODE(1, 0));
	STATE(&n, NODE_STARTING);
	EXPECT(ACT(NODE_A_TIMER, 100));
	step(&n, NODE_EV_TIMER, NULL);
	EXPECT(ACT(NODE_A_SPAWN, 0));
}

/* The workload runs but did not say it is ready in time: it is stopped
 * (SIGTERM first) and its exit, even 0, is a failure. */
static void ready_times_out(struct node *n, enum node_restart restart)
{
	struct node_config cfg = config(LF_ROLE_PRIMARY);
	cfg.ready_timeout_ms = 3000;
	cfg.restart = restart;
	starting_primary(n, &cfg, LF_PAUSED);
	now_ms += 3000;
	step(n, NODE_EV_TIMER, NULL);
	STATE(n, NODE_STARTING);
	EXPECT(ACT(NODE_A_STOP, 0));
	cr_assert(out.loud, "a ready timeout must be said loudly");
	cr_assert(n->workload_running, "still running until EXITED");
	/* The timer again (a confused loop): it is already being stopped. */
	step(n, NODE_EV_TIMER, NULL);
	STATE(n, NODE_STARTING);
	EXPECT_NONE();
	/* A late READY from the workload on its way out changes nothing. */
	step(n, NODE_EV_READY, NULL);
	STATE(n, NODE_STARTING);
	EXPECT_NONE();
	step_exited(n, W_EXITCODE(0, 0));
}

Test(node, ready_timeout_fails_the_workload_and_on_failure_restarts_it)
{
	struct node n;
	ready_times_out(&n, NODE_RESTART_ON_FAILURE);
	/* Exit 0, but it failed: restart, not "workload finished". */
	STATE(&n, NODE_STARTING);
	EXPECT(ACT(NODE_A_TIMER, 100));
	cr_assert(!n.workload_failed, "the failure mark belongs to the workload that exited");
	step(&n, NODE_EV_TIMER, NULL);
	EXPECT(ACT(NODE_A_SPAWN, 0), ACT(NODE_A_TIMER, 3000));
	step(&n, NODE_EV_STARTED, NULL);
	/* The new workload is not failed: its READY counts. */
	make_ready(&n);
}

Test(node, ready_timeout_with_restart_never_gives_up)
{
	struct node n;
	ready_times_out(&n, NODE_RESTART_NEVER);
	STATE(&n, NODE_DONE);
	check_gives_up("ready timeout, never, exit 0");
}

Test(node, ready_timeout_failure_counts_towards_the_restart_limit)
{
	struct node n;
	struct node_config cfg = config(LF_ROLE_PRIMARY);
	cfg.ready_timeout_ms = 3000;
	cfg.max_restarts = 1;
	starting_primary(&n, &cfg, LF_PAUSED);
	step(&n, NODE_EV_TIMER, NULL);
	EXPECT(ACT(NODE_A_STOP, 0));
	step_exited(&n, W_EXITCODE(0, 0));
	EXPECT(ACT(NODE_A_TIMER, 100));
	step(&n, NODE_EV_TIMER, NULL);
	EXPECT(ACT(NODE_A_SPAWN, 0), ACT(NODE_A_TIMER, 3000));
	step(&n, NODE_EV_STARTED, NULL);
	step(&n, NODE_EV_TIMER, NULL);
	EXPECT(ACT(NODE_A_STOP, 0));
	step_exited(&n, W_EXITCODE(0, 0));
	STATE(&n, NODE_DONE);
	check_gives_up("second ready timeout, max_restarts 1");
}

Test(node, ready_in_live_does_nothing)
{
	struct node n;
	live_default(&n);
	for (int i = 0; i < 2; i++) {
		step(&n, NODE_EV_READY, NULL);
		STATE(&n, NODE_LIVE);
		EXPECT_NONE();
	}
}

Test(node, ready_after_the_workload_was_marked_failed_does_nothing)
{
	struct node n;
	starting_default(&n);
	step(&n, NODE_EV_UNHEALTHY, NULL);
	STATE(&n, NODE_STARTING);
	EXPECT(ACT(NODE_A_STOP, 0));
	step(&n, NODE_EV_READY, NULL);
	STATE(&n, NODE_STARTING);
	EXPECT_NONE();
}

Test(node, ready_during_the_backoff_does_nothing)
{
	struct node n;
	live_default(&n);
	step_exited(&n, W_EXITCODE(1, 0));
	STATE(&n, NODE_STARTING);
	/* A late word from the workload that exited: nothing runs. */
	step(&n, NODE_EV_READY, NULL);
	STATE(&n, NODE_STARTING);
	EXPECT_NONE();
	step(&n, NODE_EV_UNHEALTHY, NULL);
	STATE(&n, NODE_STARTING);
	EXPECT_NONE();
	step(&n, NODE_EV_TIMER, NULL);
	EXPECT(ACT(NODE_A_SPAWN, 0));
}

static void unhealthy_in_live(struct node *n, enum node_restart restart)
{
	struct node_config cfg = config(LF_ROLE_PRIMARY);
	cfg.restart = restart;
	live_primary(n, &cfg, LF_PAUSED);
	step(n, NODE_EV_UNHEALTHY, NULL);
	STATE(n, NODE_LIVE);
	EXPECT(ACT(NODE_A_STOP, 0));
	cr_assert(out.loud, "a silent watchdog must be said loudly");
	/* Once: a second UNHEALTHY while it stops emits nothing. */
	step(n, NODE_EV_UNHEALTHY, NULL);
	STATE(n, NODE_LIVE);
	EXPECT_NONE();
	step_exited(n, W_EXITCODE(0, 0));
}

Test(node, unhealthy_in_live_fails_the_workload_once)
{
	struct node n;
	unhealthy_in_live(&n, NODE_RESTART_ON_FAILURE);
	/* Exit 0 after a silent watchdog is a failure: restart, not finished. */
	STATE(&n, NODE_STARTING);
	EXPECT(ACT(NODE_A_SLOT_STATE, SLOT_STARTING), ACT(NODE_A_TIMER, 100));
	step(&n, NODE_EV_TIMER, NULL);
	EXPECT(ACT(NODE_A_SPAWN, 0));
	step(&n, NODE_EV_STARTED, NULL);
	make_ready(&n);
	/* The new workload can fail on its own watchdog again. */
	step(&n, NODE_EV_UNHEALTHY, NULL);
	EXPECT(ACT(NODE_A_STOP, 0));
}

Test(node, unhealthy_with_restart_never_gives_up)
{
	struct node n;
	unhealthy_in_live(&n, NODE_RESTART_NEVER);
	STATE(&n, NODE_DONE);
	check_gives_up("UNHEALTHY, never, exit 0");
}

Test(node, unhealthy_outside_a_running_workload_does_nothing)
{
	struct node n;
	backup_default(&n);
	step(&n, NODE_EV_UNHEALTHY, NULL);
	STATE(&n, NODE_BACKUP);
	EXPECT_NONE();
	live_default(&n);
	step(&n, NODE_EV_SHUTDOWN, NULL);
	STATE(&n, NODE_STOPPING);
	step(&n, NODE_EV_UNHEALTHY, NULL);
	STATE(&n, NODE_STOPPING);
	EXPECT_NONE();
}

/* A hand-over request while the workload is not ready yet is served as in
 * LIVE: a node that is starting is the live node. */
Test(node, handover_while_starting_hands_over_like_live)
{
	struct node n;
	struct node_config cfg = config(LF_ROLE_PRIMARY);
	cfg.allow_failback = true;
	starting_primary(&n, &cfg, LF_PAUSED);
	check_handover(&n);

	backup_default(&n);
	struct lf_view l = view(LF_LIVE, LF_TARGET_ANY, LF_REC_OK);
	step(&n, NODE_EV_LOCKED, &l);
	STATE(&n, NODE_STARTING);
	step(&n, NODE_EV_STARTED, NULL);
	check_handover(&n);
}

Test(node, handover_while_starting_refuses_like_live)
{
	struct node n;
	starting_default(&n);
	struct lf_view v = view(LF_FAILBACK, LF_TARGET_ANY, LF_REC_OK);
	tick(&n, &v, false, 0, false);
	STATE(&n, NODE_STARTING);
	EXPECT(ACT(NODE_A_REFUSE, 7));
}

Test(node, handover_during_the_backoff_releases_at_once)
{
	struct node n;
	live_default(&n);
	step_exited(&n, W_EXITCODE(1, 0));
	STATE(&n, NODE_STARTING);
	struct lf_view v = view(LF_FAILBACK, OTHER, LF_REC_OK);
	tick(&n, &v, true, LF_SLOT_WAITING, true);
	/* Nothing runs: no STOP, the lock goes, no P, and no restart. */
	STATE(&n, NODE_CLAIMING);
	HAS_NO(NODE_A_STOP);
	HAS_NO(NODE_A_SPAWN);
	HAS_NO(NODE_A_WRITE_STATUS);
	BEFORE(NODE_A_RELEASE_LIVE, NODE_A_WAIT_LIVE);
}

Test(node, shutdown_while_starting_stops_the_workload)
{
	struct node n;
	starting_default(&n);
	step(&n, NODE_EV_SHUTDOWN, NULL);
	STATE(&n, NODE_STOPPING);
	EXPECT(ACT(NODE_A_SLOT_STATE, LF_SLOT_STOPPING), ACT(NODE_A_STOP, 0));
	cr_assert_eq(n.stop, NODE_STOP_SHUTDOWN);
	step_exited(&n, W_EXITCODE(0, SIGTERM));
	STATE(&n, NODE_DONE);
	EXPECT(ACT(NODE_A_WRITE_STATUS, LF_PAUSED), ACT(NODE_A_RELEASE_LIVE, 0), ACT(NODE_A_EXIT, NODE_EXIT_OK));
}

Test(node, a_live_record_of_another_node_fences_while_starting)
{
	struct node n;
	starting_default(&n);
	struct lf_view v = view(LF_LIVE, LF_TARGET_ANY, LF_REC_OK);
	v.live.epoch = n.epoch;
	v.live.slot = OTHER; /* same epoch, another slot */
	struct node_event_data e = ev(NODE_EV_TICK);
	e.view = &v;
	step_ev(&n, &e);
	check_fenced(&n);
}

Test(node, a_storage_error_while_starting_fences_at_once)
{
	struct node n;
	starting_default(&n);
	step(&n, NODE_EV_STORAGE_ERROR, NULL);
	check_fenced(&n);
}

/* After a restart the node says "starting" until the new workload says it
 * is ready: checks and a late READY of the old one do not make it live. */
Test(node, after_a_restart_starting_until_ready)
{
	struct node n;
	live_default(&n);
	step_exited(&n, W_EXITCODE(0, SIGSEGV));
	STATE(&n, NODE_STARTING);
	EXPECT(ACT(NODE_A_SLOT_STATE, SLOT_STARTING), ACT(NODE_A_TIMER, 100));
	step(&n, NODE_EV_TIMER, NULL);
	STATE(&n, NODE_STARTING);
	EXPECT(ACT(NODE_A_SPAWN, 0));
	step(&n, NODE_EV_STARTED, NULL);
	struct lf_view v = view(LF_LIVE, LF_TARGET_ANY, LF_REC_OK);
	for (int i = 0; i < 3; i++) {
		now_ms += 500;
		tick(&n, &v, false, 0, true);
		STATE(&n, NODE_STARTING);
		EXPECT_NONE();
	}
	make_ready(&n);
}

/* A workload stopped as failed whose node then hands over: its failure
 * mark must not outlive it. When the role comes back, the new workload's
 * READY makes the node live. */
Test(node, a_failure_mark_does_not_outlive_a_handover)
{
	struct node n;
	struct node_config cfg = config(LF_ROLE_PRIMARY);
	live_primary(&n, &cfg, LF_PAUSED);
	step(&n, NODE_EV_UNHEALTHY, NULL);
	EXPECT(ACT(NODE_A_STOP, 0));
	struct lf_view f = view(LF_FAILBACK, OTHER, LF_REC_OK);
	tick(&n, &f, true, LF_SLOT_WAITING, true);
	STATE(&n, NODE_STOPPING);
	step_exited(&n, W_EXITCODE(0, SIGTERM));
	STATE(&n, NODE_CLAIMING);
	struct lf_view l = view(LF_LIVE, LF_TARGET_ANY, LF_REC_OK);
	step(&n, NODE_EV_LOCKED, &l);
	STATE(&n, NODE_STARTING);
	HAS(NODE_A_SPAWN);
	step(&n, NODE_EV_STARTED, NULL);
	step(&n, NODE_EV_READY, NULL);
	STATE(&n, NODE_LIVE);
	EXPECT(ACT(NODE_A_SLOT_STATE, SLOT_READY));
}

/* ------------------------------------------------------------------ */
/* Failures                                                            */
/* ------------------------------------------------------------------ */

Test(node, spawn_failed_gives_up)
{
	struct node n;
	struct node_config cfg = config(LF_ROLE_PRIMARY);
	start(&n, &cfg);
	struct lf_view v = view(LF_PAUSED, LF_TARGET_ANY, LF_REC_OK);
	step(&n, NODE_EV_LOCKED, &v);
	STATE(&n, NODE_STARTING);
	struct node_event_data e = ev(NODE_EV_SPAWN_FAILED);
	e.err = 2; /* ENOENT */
	step_ev(&n, &e);
	STATE(&n, NODE_DONE);
	check_gives_up("SPAWN_FAILED");
}

Test(node, spawn_failed_on_a_restart_gives_up)
{
	struct node n;
	live_default(&n);
	step_exited(&n, W_EXITCODE(1, 0));
	STATE(&n, NODE_STARTING);
	step(&n, NODE_EV_TIMER, NULL);
	EXPECT(ACT(NODE_A_SPAWN, 0));
	struct node_event_data e = ev(NODE_EV_SPAWN_FAILED);
	e.err = 13; /* EACCES */
	step_ev(&n, &e);
	STATE(&n, NODE_DONE);
	check_gives_up("SPAWN_FAILED on restart");
}

Test(node, storage_error_while_live_stops_then_exits)
{
	struct node n;
	live_default(&n);
	struct node_event_data e = ev(NODE_EV_STORAGE_ERROR);
	e.err = 5; /* EIO */
	step_ev(&n, &e);
	STATE(&n, NODE_STOPPING);
	HAS(NODE_A_STOP);
	HAS_NO(NODE_A_EXIT);
	HAS_NO(NODE_A_RELEASE_LIVE);
	step_exited(&n, W_EXITCODE(0, SIGTERM));
	STATE(&n, NODE_DONE);
	LAST_IS(NODE_A_EXIT, NODE_EXIT_IO);
	HAS_NO(NODE_A_SPAWN);
	HAS_NO(NODE_A_STOP);
}

Test(node, storage_error_during_backoff_exits)
{
	struct node n;
	live_default(&n);
	step_exited(&n, W_EXITCODE(1, 0));
	struct node_event_data e = ev(NODE_EV_STORAGE_ERROR);
	e.err = 5;
	step_ev(&n, &e);
	STATE(&n, NODE_DONE);
	LAST_IS(NODE_A_EXIT, NODE_EXIT_IO);
	HAS_NO(NODE_A_STOP);
	HAS_NO(NODE_A_SPAWN);
}

Test(node, storage_error_while_backup_exits)
{
	struct node n;
	backup_default(&n);
	struct node_event_data e = ev(NODE_EV_STORAGE_ERROR);
	e.err = 5;
	step_ev(&n, &e);
	STATE(&n, NODE_DONE);
	LAST_IS(NODE_A_EXIT, NODE_EXIT_IO);
	HAS_NO(NODE_A_STOP);
	HAS_NO(NODE_A_SPAWN);
	HAS_NO(NODE_A_WRITE_STATUS);
}

Test(node, storage_error_while_queued_exits)
{
	struct node n;
	struct node_config cfg = config(LF_ROLE_BACKUP);
	queued_backup(&n, &cfg);
	struct node_event_data e = ev(NODE_EV_STORAGE_ERROR);
	e.err = 5;
	step_ev(&n, &e);
	STATE(&n, NODE_DONE);
	LAST_IS(NODE_A_EXIT, NODE_EXIT_IO);
}

/* ------------------------------------------------------------------ */
/* Names                                                               */
/* ------------------------------------------------------------------ */

Test(node, every_state_and_event_has_a_name)
{
	for (int s = 0; s < NODE_NSTATES; s++) {
		const char *a = node_state_name((enum node_state)s);
		cr_assert(a && *a, "state %d has no name", s);
		for (int t = 0; t < s; t++)
			cr_assert_str_neq(a, node_state_name((enum node_state)t), "states %d and %d share a name", s,
					  t);
	}
	for (int e = 0; e < NODE_NEVENTS; e++) {
		const char *a = node_event_name((enum node_event)e);
		cr_assert(a && *a, "event %d has no name", e);
		for (int t = 0; t < e; t++)
			cr_assert_str_neq(a, node_event_name((enum node_event)t), "events %d and %d share a name", e,
					  t);
	}
}

Test(node, slot_state_of_each_machine_state)
{
	cr_assert_eq(node_slot_state(NODE_LIVE), LF_SLOT_LIVE);
	cr_assert_eq(node_slot_state(NODE_STARTING), LF_SLOT_LIVE);
	cr_assert_eq(node_slot_state(NODE_VERIFYING), LF_SLOT_WAITING);
	cr_assert_eq(node_slot_state(NODE_BACKUP), LF_SLOT_WAITING);
	cr_assert_eq(node_slot_state(NODE_CLAIMING), LF_SLOT_WAITING);
	cr_assert_eq(node_slot_state(NODE_QUEUED), LF_SLOT_QUEUED);
	cr_assert_eq(node_slot_state(NODE_JOINING), LF_SLOT_JOINING);
	cr_assert_eq(node_slot_state(NODE_STOPPING), LF_SLOT_STOPPING);
	/* Only STARTING carries a flag: a live slot without one is ready. */
	for (int s = 0; s < NODE_NSTATES; s++)
		cr_assert_eq(node_slot_flags((enum node_state)s), s == NODE_STARTING ? LF_SLOT_F_STARTING : 0,
			     "%s: flags %d", state_str((enum node_state)s), node_slot_flags((enum node_state)s));
}

/* ------------------------------------------------------------------ */
/* Robustness                                                          */
/* ------------------------------------------------------------------ */

enum setup {
	S_FRESH,           /* node_init only */
	S_PRIMARY_JOINING, /* JOINED, TRY_LIVE pending */
	S_QUEUED,
	S_BACKUP,
	S_STANDING_BY,
	S_CLAIMING,
	S_VERIFYING,         /* a backup with a takeover delay that got the lock on L */
	S_VERIFYING_READING, /* the same, a read of the delay asked for, mid-delay */
	S_VERIFYING_OVER,    /* the same, its read asked for after the delay ended */
	S_VERIFYING_NEW,     /* a primary that got the lock on a new file (format 1.2) */
	S_STARTING_SPAWNING, /* SPAWN issued, no STARTED yet */
	S_STARTING,          /* started, not ready, a ready timeout armed */
	S_STARTING_FAILED,   /* not ready and stopped as failed (UNHEALTHY) */
	S_LIVE,
	S_LIVE_FAILED, /* ready, then stopped as failed (UNHEALTHY) */
	S_BACKOFF,     /* the ready workload exited: STARTING, back-off armed */
	S_STOPPING_SHUTDOWN,
	S_STOPPING_HANDOVER,
	S_STOPPING_FENCED, /* another node's record: killed, on-fence asked */
	S_STOPPING_LOST,   /* a hung call while stopping for a shutdown */
	S_DONE,
	S_N
};

static void setup(struct node *n, enum setup s)
{
	struct node_config cfg = config(LF_ROLE_PRIMARY);
	struct lf_view v;
	switch (s) {
	case S_FRESH:
		memset(n, 0, sizeof *n);
		node_init(n, &cfg, &out);
		break;
	case S_PRIMARY_JOINING: start(n, &cfg); break;
	case S_QUEUED:
		cfg = config(LF_ROLE_BACKUP);
		queued_backup(n, &cfg);
		break;
	case S_BACKUP: backup_default(n); break;
	case S_STANDING_BY:
		backup_default(n);
		v = view(LF_PAUSED, LF_TARGET_ANY, LF_REC_OK);
		step(n, NODE_EV_LOCKED, &v);
		break;
	case S_CLAIMING: claiming_primary(n); break;
	case S_VERIFYING:
	case S_VERIFYING_READING:
	case S_VERIFYING_OVER: {
		cfg = config(LF_ROLE_BACKUP);
		cfg.takeover_delay_ms = 1000;
		cfg.verify_read_ms = 250;
		backup_waiting(n, &cfg);
		v = view(LF_LIVE, LF_TARGET_ANY, LF_REC_OK);
		step(n, NODE_EV_LOCKED, &v);
		/* The events fed next come at now_ms: the read was asked for
		 * 10 ms before, mid-delay, or after the delay ended. */
		struct node_event_data e = ev(NODE_EV_TIMER);
		e.now_ms = s == S_VERIFYING_OVER ? now_ms + 1000 : now_ms - 10;
		if (s != S_VERIFYING)
			step_ev(n, &e);
		break;
	}
	case S_VERIFYING_NEW: {
		cfg.new_file_wait_ms = 1000;
		start(n, &cfg);
		v = view(LF_NEW, LF_TARGET_ANY, LF_REC_OK);
		struct node_event_data e = ev(NODE_EV_LOCKED);
		e.view = &v;
		e.foreign_record = true;
		step_ev(n, &e);
		break;
	}
	case S_STARTING_SPAWNING:
		start(n, &cfg);
		v = view(LF_PAUSED, LF_TARGET_ANY, LF_REC_OK);
		step(n, NODE_EV_LOCKED, &v);
		break;
	case S_STARTING:
		cfg.ready_timeout_ms = 2000;
		starting_primary(n, &cfg, LF_PAUSED);
		break;
	case S_STARTING_FAILED:
		starting_default(n);
		step(n, NODE_EV_UNHEALTHY, NULL);
		break;
	case S_LIVE: live_default(n); break;
	case S_LIVE_FAILED:
		live_default(n);
		step(n, NODE_EV_UNHEALTHY, NULL);
		break;
	case S_BACKOFF:
		live_default(n);
		step_exited(n, W_EXITCODE(1, 0));
		break;
	case S_STOPPING_SHUTDOWN:
		live_default(n);
		step(n, NODE_EV_SHUTDOWN, NULL);
		break;
	case S_STOPPING_HANDOVER:
		live_default(n);
		v = view(LF_FAILBACK, LF_TARGET_ANY, LF_REC_OK);
		tick(n, &v, false, 0, true);
		break;
	case S_STOPPING_FENCED:
		live_default(n);
		v = view(LF_LIVE, LF_TARGET_ANY, LF_REC_OK);
		v.live.epoch = n->epoch + 1;
		tick(n, &v, false, 0, true);
		break;
	case S_STOPPING_LOST:
		live_default(n);
		step(n, NODE_EV_SHUTDOWN, NULL);
		step(n, NODE_EV_STORAGE_HUNG, NULL);
		break;
	case S_DONE:
	default:
		cfg = config(LF_ROLE_BACKUP);
		queued_backup(n, &cfg);
		step(n, NODE_EV_SHUTDOWN, NULL);
		break;
	}
}

/* What READY and UNHEALTHY may do, in any state: READY at most moves
 * STARTING to LIVE (and says so in the slot), UNHEALTHY at most stops the
 * workload (STOP 0, SIGTERM first; STOP 1 while its exec is pending) and
 * stays put. Neither starts, writes
 * the file's status, lets go of a lock or exits. */
static void check_readiness_event(const struct node *n, enum node_state was, enum node_event e)
{
	if (e == NODE_EV_READY) {
		if (was == NODE_STARTING && n->state == NODE_LIVE) {
			EXPECT(ACT(NODE_A_SLOT_STATE, SLOT_READY));
			return;
		}
		cr_assert_eq(n->state, was, "READY moved %s to %s", state_str(was), state_str(n->state));
		EXPECT_NONE();
	} else if (e == NODE_EV_UNHEALTHY) {
		cr_assert_eq(n->state, was, "UNHEALTHY moved %s to %s", state_str(was), state_str(n->state));
		if (out.n)
			EXPECT(ACT(NODE_A_STOP, n->exec_pending ? 1 : 0));
		cr_assert(out.n == 0 || was == NODE_STARTING || was == NODE_LIVE, "UNHEALTHY in %s: %s", state_str(was),
			  FMT_OUT(&out));
	}
}

/* The rows of fencing (§5.4): on FENCE and STORAGE_HUNG, in any state, no
 * call on the storage; a running workload not yet killed gets STOP 1 as the
 * very first action; a holder of the role asks for on-fence once, after that
 * kill; the node ends in STOPPING (the tree still to reap) or DONE, with 74.
 * A SHUTDOWN while stopping after an earlier one kills what runs at once.
 * Any list cut short before a SPAWN leaves no workload to stop, and one cut
 * before an EXIT gets that EXIT again. */
static void check_fence_event(const struct node *n, const struct node *was_n, const struct node_event_data *d)
{
	enum node_state was = was_n->state;
	bool cut_spawn = d->unrun & NODE_ACTION_BIT(NODE_A_SPAWN);
	bool cut = d->type == NODE_EV_FENCE || d->type == NODE_EV_STORAGE_HUNG || d->type == NODE_EV_STORAGE_ERROR;
	bool running = was_n->workload_running && !(cut && cut_spawn);
	bool role = was == NODE_STARTING || was == NODE_LIVE || was == NODE_STOPPING;
	const char *e = node_event_name(d->type);
	int stops = count_of(&out, NODE_A_STOP), hooks = count_of(&out, NODE_A_FENCE_HOOK);
	cr_assert(hooks <= 1 && (!hooks || !was_n->fenced), "%s in %s: on-fence again: %s", e, state_str(was),
		  FMT_OUT(&out));
	if (hooks && running)
		cr_assert(index_of_arg(&out, NODE_A_STOP, 1) == 0 || was_n->killed,
			  "%s in %s: on-fence before the SIGKILL: %s", e, state_str(was), FMT_OUT(&out));
	if (cut && cut_spawn)
		cr_assert(index_of(&out, NODE_A_STOP) < 0, "%s in %s: a STOP for a workload never spawned: %s", e,
			  state_str(was), FMT_OUT(&out));
	if (cut && was == NODE_DONE)
		cr_assert(out.n == ((d->unrun & NODE_ACTION_BIT(NODE_A_EXIT)) ? 1 : 0) &&
				  (!out.n || (out.a[0].kind == NODE_A_EXIT && out.a[0].arg == was_n->exit_code)),
			  "%s in DONE cut short before %s EXIT: %s", e,
			  d->unrun & NODE_ACTION_BIT(NODE_A_EXIT) ? "an" : "no", FMT_OUT(&out));
	if (d->type == NODE_EV_SHUTDOWN && was == NODE_STOPPING && was_n->shutdown) {
		if (running && !was_n->killed)
			EXPECT(ACT(NODE_A_STOP, 1));
		else
			EXPECT_NONE();
	}
	if (d->type != NODE_EV_FENCE && d->type != NODE_EV_STORAGE_HUNG)
		return;
	for (int i = 0; i < out.n; i++)
		cr_assert(!node_action_is_storage(out.a[i].kind), "%s in %s: a call on a lost storage: %s", e,
			  state_str(was), FMT_OUT(&out));
	cr_assert(n->storage_lost, "%s in %s: the storage is not marked lost", e, state_str(was));
	if (was == NODE_DONE)
		return;
	if (running && !was_n->killed)
		cr_assert(out.n > 0 && out.a[0].kind == NODE_A_STOP && out.a[0].arg == 1,
			  "%s in %s: the first action is not STOP 1: %s", e, state_str(was), FMT_OUT(&out));
	cr_assert(stops <= 1 && index_of_arg(&out, NODE_A_STOP, 0) < 0, "%s in %s: %s", e, state_str(was),
		  FMT_OUT(&out));
	cr_assert(hooks == (role && !was_n->fenced), "%s in %s: on-fence %s: %s", e, state_str(was),
		  hooks ? "for a node that held no role" : "missing", FMT_OUT(&out));
	cr_assert(n->exit_code == NODE_EXIT_IO, "%s in %s: exit code %d", e, state_str(was), n->exit_code);
	if (running)
		cr_assert(n->state == NODE_STOPPING && index_of(&out, NODE_A_EXIT) < 0,
			  "%s in %s: not stopping with the tree to reap: %s", e, state_str(was), FMT_OUT(&out));
	else
		cr_assert(n->state == NODE_DONE && out.n > 0 && out.a[out.n - 1].kind == NODE_A_EXIT &&
				  out.a[out.n - 1].arg == NODE_EXIT_IO,
			  "%s in %s: no EXIT 74 with nothing to reap: %s", e, state_str(was), FMT_OUT(&out));
}

/* VERIFYING (doc/protocol.md §5.8): a TIMER asks for a read that is a
 * round of the fence clock, and nothing else; a TICK whose record moved
 * releases the live lock at once, mid-delay or not; a TICK mid-delay with
 * the record still asks for the next read, within a heartbeat interval;
 * nothing starts but on a read asked for after the delay; FENCE and
 * STORAGE_HUNG give the takeover up: EXIT 74 and nothing else. */
static void check_verifying_event(const struct node *n, const struct node *was_n, const struct node_event_data *d)
{
	if (was_n->state != NODE_VERIFYING)
		return;
	const char *e = node_event_name(d->type);
	bool over = was_n->verify_read_at >= was_n->verify_until;
	bool starts = index_of(&out, NODE_A_SPAWN) >= 0 || index_of(&out, NODE_A_WRITE_LIVE) >= 0;
	cr_assert(!starts || (d->type == NODE_EV_TICK && over), "%s in VERIFYING started %s: %s", e,
		  over ? "" : "before the delay ended", FMT_OUT(&out));
	switch (d->type) {
	case NODE_EV_TIMER:
		EXPECT(ACT(NODE_A_READ, 1));
		cr_assert_eq(n->state, NODE_VERIFYING);
		break;
	case NODE_EV_TICK: {
		const struct lf_view *v = d->view;
		bool ok = v->live_rec == LF_REC_OK;
		bool moved = ok != was_n->seen_ok ||
			     (ok && (v->live.heartbeat != was_n->seen_heartbeat || v->live.epoch != was_n->seen_epoch));
		if (moved) {
			cr_assert(out.n > 0 && out.a[0].kind == NODE_A_RELEASE_LIVE && !node_fence_clock(n),
				  "a moved record in VERIFYING did not end the takeover at once: %s", FMT_OUT(&out));
		} else if (!over) {
			cr_assert(n->state == NODE_VERIFYING && out.n == 1 && out.a[0].kind == NODE_A_TIMER &&
					  out.a[0].arg >= 0 &&
					  (!was_n->cfg.verify_read_ms || out.a[0].arg <= was_n->cfg.verify_read_ms),
				  "a still record mid-delay: not the next read within H: %s", FMT_OUT(&out));
		}
		break;
	}
	case NODE_EV_FENCE:
	case NODE_EV_STORAGE_HUNG:
		EXPECT(ACT(NODE_A_EXIT, NODE_EXIT_IO));
		cr_assert(n->state == NODE_DONE && out.loud, "%s in VERIFYING: not a loud give-up", e);
		break;
	default: break;
	}
}

/* Lists a failing or hanging call may cut short: nothing, a start, an exit. */
static uint32_t unrun_of(size_t k)
{
	switch (k % 4) {
	case 1:
		return NODE_ACTION_BIT(NODE_A_SLOT_STATE) | NODE_ACTION_BIT(NODE_A_SPAWN) |
		       NODE_ACTION_BIT(NODE_A_TIMER);
	case 2: return NODE_ACTION_BIT(NODE_A_RELEASE_LIVE) | NODE_ACTION_BIT(NODE_A_EXIT);
	case 3: return NODE_ACTION_BIT(NODE_A_WAIT_LIVE);
	default: return 0;
	}
}

/* The damage dimension of the exhaustive test: none, truncate -s 0, a
 * file with another format's header, a garbage status byte, our slot
 * record lost, and (with JOINED) our name held by another alive node. */
enum { DM_NONE, DM_TRUNCATED, DM_FOREIGN, DM_STATUS, DM_SLOT, DM_NAME, DM_N };

static void damage_event(struct node_event_data *d, struct lf_view *v, int dm)
{
	switch (dm) {
	case DM_TRUNCATED:
		memset(v, 0, sizeof *v);
		v->damage = LF_DMG_SHORT | LF_DMG_HEADER;
		break;
	case DM_FOREIGN: v->damage = LF_DMG_FOREIGN; break;
	case DM_STATUS: v->status = 'X'; break;
	case DM_SLOT: d->own_slot_bad = true; break;
	case DM_NAME: d->name_taken = true; break;
	default: break;
	}
}

/* Whatever the damage: only the holder of the live role mends, nothing
 * starts in a file another format has taken over, and only a node
 * joining into a name already held leaves with 78. */
static void check_damage_event(const struct node *n, enum node_state was, const struct node_event_data *d, int dm)
{
	bool holds_role = was == NODE_STARTING || was == NODE_LIVE || was == NODE_STOPPING;
	cr_assert(index_of(&out, NODE_A_REPAIR) < 0 || (holds_role && d->type == NODE_EV_TICK),
		  "REPAIR in %s on %s: %s", state_str(was), node_event_name(d->type), FMT_OUT(&out));
	bool read = d->type == NODE_EV_LOCKED || d->type == NODE_EV_TICK || d->type == NODE_EV_BUSY;
	if (dm == DM_FOREIGN && read)
		cr_assert(index_of(&out, NODE_A_SPAWN) < 0 && index_of(&out, NODE_A_WRITE_LIVE) < 0 &&
				  index_of(&out, NODE_A_REPAIR) < 0,
			  "%s on %s wrote or started in a foreign file: %s", state_str(was), node_event_name(d->type),
			  FMT_OUT(&out));
	bool refused = index_of_arg(&out, NODE_A_EXIT, NODE_EXIT_CONFIG) >= 0;
	cr_assert(refused == (was == NODE_JOINING && d->type == NODE_EV_JOINED && dm == DM_NAME),
		  "%s on %s (damage %d): exit 78 is %s: %s", state_str(was), node_event_name(d->type), dm,
		  refused ? "given" : "missing", FMT_OUT(&out));
	(void)n;
}

Test(node, every_event_in_every_state)
{
	static const char statuses[] = { LF_NEW, LF_LIVE, LF_PAUSED, LF_FAILBACK };
	static const int32_t targets[] = { ME, LF_TARGET_ANY, OTHER, DEAD };
	bool seen[NODE_NSTATES] = { 0 };
	for (int s = 0; s < S_N; s++) {
		for (int e = 0; e < NODE_NEVENTS; e++) {
			for (size_t st = 0; st < sizeof statuses; st++) {
				for (size_t t = 0; t < sizeof targets / sizeof targets[0]; t++) {
					for (int bad = 0; bad < 2; bad++) {
						for (int dm = 0; dm < DM_N; dm++) {
							struct node n;
							setup(&n, (enum setup)s);
							seen[n.state] = true;
							struct lf_view v = view(statuses[st], targets[t],
										bad ? LF_REC_BAD : LF_REC_OK);
							struct node_event_data d = ev((enum node_event)e);
							d.view = &v;
							d.target_alive = targets[t] == OTHER || targets[t] == ME;
							d.target_state = (uint8_t)(1 + (t + st) % 5);
							d.backup_waiting = (t + (size_t)bad) % 2;
							d.foreign_record = (st + (size_t)bad) % 2;
							d.wstatus =
								bad ? W_EXITCODE(0, SIGKILL) : W_EXITCODE((int)st, 0);
							d.err = 5;
							d.slot = ME;
							d.unrun = unrun_of(st + t + (size_t)dm);
							damage_event(&d, &v, dm);
							struct node before = n;
							enum node_state was = n.state;
							step_ev(&n, &d);
							check_readiness_event(&n, was, (enum node_event)e);
							check_damage_event(&n, was, &d, dm);
							check_fence_event(&n, &before, &d);
							check_verifying_event(&n, &before, &d);
							/* And once more, so a confused state is exercised too. */
							before = n;
							was = n.state;
							step_ev(&n, &d);
							check_readiness_event(&n, was, (enum node_event)e);
							check_damage_event(&n, was, &d, dm);
							check_fence_event(&n, &before, &d);
							check_verifying_event(&n, &before, &d);
						}
					}
				}
			}
			/* Events the loop sends without a view. */
			if (e != NODE_EV_LOCKED && e != NODE_EV_TICK) {
				struct node n;
				setup(&n, (enum setup)s);
				if (e == NODE_EV_BUSY && n.state == NODE_CLAIMING)
					continue;
				struct node_event_data d = ev((enum node_event)e);
				struct node before = n;
				enum node_state was = n.state;
				step_ev(&n, &d);
				check_readiness_event(&n, was, (enum node_event)e);
				check_fence_event(&n, &before, &d);
				check_verifying_event(&n, &before, &d);
			}
		}
	}
	for (int s = 0; s < NODE_NSTATES; s++)
		cr_assert(seen[s], "the robustness loop never reached %s", state_str((enum node_state)s));
}

/* A random walk, the loop modelled: every event is one the loop could
 * send for the actions so far, and every action list is checked against
 * the safety rules. */
struct model {
	bool live, backup;     /* locks held */
	bool wrote_live;       /* status L written since the live lock was taken */
	bool running;          /* a workload process may exist */
	bool claim_p, spawn_p; /* synchronous replies due */
	bool try_p;            /* TRY_LIVE: LOCKED or BUSY, synchronous */
	int wait_p;            /* 0, 1 live, 2 backup: a wait is pending */
	bool timer_p, stop_p;
	bool read_p; /* READ: a TICK is due */
	bool done;
	bool ready;         /* the workload running now said it is ready */
	bool failed;        /* it was stopped as failed (ready timeout, watchdog) */
	bool lost;          /* FENCE or STORAGE_HUNG came: no call on the storage ever again */
	bool killed;        /* STOP 1 went to the workload running now */
	bool hooked;        /* FENCE_HOOK came */
	bool asked;         /* a shutdown had been asked before this event */
	int64_t published;  /* the last SLOT_STATE arg (CLAIM_SLOT writes JOINING) */
	enum node_event ev; /* the event just fed */
	enum node_state before;
};

static uint64_t rng_state;

static uint32_t rnd(uint32_t n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state % n);
}

static void apply(struct model *m, const struct node *n, uint64_t seed, int stepno)
{
	char buf[512];
	const char *acts = fmt_actions(out.a, out.n, buf, sizeof buf);
#define WALK_ASSERT(cond, what)                                                                                        \
	cr_assert((cond), "seed %llu step %d (%s): %s: %s", (unsigned long long)seed, stepno, state_str(n->state),     \
		  what, acts)
	bool waits = false;
	for (int i = 0; i < out.n; i++) {
		const struct node_action *a = &out.a[i];
		WALK_ASSERT(!m->done, "action after EXIT");
		WALK_ASSERT(!m->lost || !node_action_is_storage(a->kind), "a call on the storage after it was lost");
		switch (a->kind) {
		case NODE_A_CLAIM_SLOT:
			m->claim_p = true;
			m->published = LF_SLOT_JOINING;
			break;
		case NODE_A_SLOT_STATE:
			WALK_ASSERT((a->arg & 0xff) >= LF_SLOT_JOINING && (a->arg & 0xff) <= LF_SLOT_STOPPING,
				    "bad slot state");
			WALK_ASSERT(a->arg >> 8 == 0 ||
					    (a->arg >> 8 == LF_SLOT_F_STARTING && (a->arg & 0xff) == LF_SLOT_LIVE),
				    "bad slot flags");
			m->published = a->arg;
			break;
		case NODE_A_TRY_LIVE:
			WALK_ASSERT(!m->live, "TRY_LIVE while holding the live lock");
			m->try_p = true;
			waits = true;
			break;
		case NODE_A_WAIT_LIVE:
			WALK_ASSERT(!m->live, "WAIT_LIVE while holding the live lock");
			m->wait_p = 1;
			waits = true;
			break;
		case NODE_A_WAIT_BACKUP:
			WALK_ASSERT(!m->live, "WAIT_BACKUP while holding the live lock");
			WALK_ASSERT(!m->backup, "WAIT_BACKUP while holding the backup lock");
			m->wait_p = 2;
			waits = true;
			break;
		case NODE_A_RELEASE_LIVE:
			WALK_ASSERT(!m->running && !m->spawn_p, "RELEASE_LIVE while a workload may run");
			m->live = false;
			m->wrote_live = false;
			break;
		case NODE_A_RELEASE_BACKUP: m->backup = false; break;
		case NODE_A_WRITE_LIVE:
			WALK_ASSERT(m->live, "WRITE_LIVE without the live lock");
			m->wrote_live = true;
			break;
		case NODE_A_WRITE_STATUS:
			WALK_ASSERT(m->live, "WRITE_STATUS without the live lock");
			WALK_ASSERT(a->arg == LF_LIVE || a->arg == LF_PAUSED, "status other than L or P");
			break;
		case NODE_A_REFUSE: WALK_ASSERT(m->live, "REFUSE without the live lock"); break;
		case NODE_A_READ:
			WALK_ASSERT(m->live, "READ outside VERIFYING, which holds the live lock");
			m->read_p = true;
			break;
		case NODE_A_REPAIR:
			/* Only the holder of the live lock mends the file, and only
			 * once L and its record are on storage. */
			WALK_ASSERT(m->live && m->wrote_live, "REPAIR without the live lock and L");
			break;
		case NODE_A_REQUEST_FAILBACK: WALK_ASSERT(!m->live, "REQUEST_FAILBACK while live"); break;
		case NODE_A_SPAWN:
			WALK_ASSERT(m->live && m->wrote_live, "SPAWN before L is written under the live lock");
			WALK_ASSERT(!m->running && !m->spawn_p, "SPAWN while a workload may run: two workloads");
			WALK_ASSERT(n->state == NODE_STARTING, "SPAWN outside STARTING");
			m->spawn_p = true;
			m->ready = false;
			m->failed = false;
			m->killed = false;
			break;
		case NODE_A_STOP:
			WALK_ASSERT(m->running, "STOP with no workload");
			/* Stopped as failed: STOP 0 without leaving STARTING or LIVE. */
			if (n->state == m->before && (n->state == NODE_STARTING || n->state == NODE_LIVE)) {
				WALK_ASSERT(a->arg == 0, "a failed workload gets SIGTERM first");
				WALK_ASSERT(!m->failed, "a failed workload stopped twice");
				WALK_ASSERT(m->ev == NODE_EV_UNHEALTHY ||
						    (m->ev == NODE_EV_TIMER && n->state == NODE_STARTING),
					    "stopped as failed on neither UNHEALTHY nor a ready timeout");
				m->failed = true;
			}
			if (a->arg == 1)
				m->killed = true;
			m->stop_p = true;
			break;
		case NODE_A_FENCE_HOOK:
			WALK_ASSERT(!m->hooked, "on-fence twice");
			WALK_ASSERT(!m->running || m->killed, "on-fence before the SIGKILL");
			m->hooked = true;
			break;
		case NODE_A_TIMER:
			WALK_ASSERT(a->arg >= 0, "negative timer");
			m->timer_p = true;
			break;
		case NODE_A_EXIT:
			WALK_ASSERT(i == out.n - 1, "EXIT is not the last action");
			WALK_ASSERT(!m->running && !m->spawn_p, "EXIT while a workload may run");
			WALK_ASSERT(n->state == NODE_DONE, "EXIT without DONE");
			m->done = true;
			break;
		}
	}
	(void)waits;
	/* The slot always says what the node is: live and ready only in LIVE. */
	if (n->state != NODE_DONE && !m->lost)
		WALK_ASSERT(m->published ==
				    ((int64_t)node_slot_state(n->state) | (int64_t)node_slot_flags(n->state) << 8),
			    "the slot does not say the node's state");
	if (n->state == NODE_STARTING || n->state == NODE_LIVE)
		WALK_ASSERT(m->live && m->wrote_live, "STARTING or LIVE without the live lock and L");
	if (n->state == NODE_LIVE)
		WALK_ASSERT(m->running && m->ready, "LIVE without a running workload that said it is ready");
	/* READY from a running workload not stopped as failed makes the node
	 * live; from one stopped as failed it does nothing. */
	if (m->ev == NODE_EV_READY && m->before == NODE_STARTING) {
		if (m->running && !m->failed && !m->stop_p)
			WALK_ASSERT(n->state == NODE_LIVE, "READY in STARTING did not make the node live");
		else
			WALK_ASSERT(n->state == NODE_STARTING && out.n == 0, "READY from a failed or gone workload");
	}
	/* Watchdog: a running workload not yet failed is stopped as failed. */
	if (m->ev == NODE_EV_UNHEALTHY && (m->before == NODE_STARTING || m->before == NODE_LIVE) && m->running &&
	    !m->stop_p)
		WALK_ASSERT(m->failed && count_of(&out, NODE_A_STOP) == 1, "UNHEALTHY did not fail the workload");
	if (n->state == NODE_DONE)
		WALK_ASSERT(m->done, "DONE without EXIT");
	else
		WALK_ASSERT(m->claim_p || m->try_p || m->wait_p || m->timer_p || m->spawn_p || m->running || m->read_p,
			    "stuck: nothing pending and no workload");
	if (m->running || m->spawn_p)
		WALK_ASSERT(m->live, "a workload without the live lock");
	/* A file nobody else can find: never a workload started on it, the
	 * running one killed at once, and the node leaves it with 74. */
	if (m->ev == NODE_EV_REPLACED && m->before != NODE_DONE) {
		WALK_ASSERT(index_of(&out, NODE_A_SPAWN) < 0, "SPAWN on a replaced file");
		WALK_ASSERT(n->state == NODE_DONE || n->state == NODE_STOPPING,
			    "still in the group of a replaced file");
		if (m->running && out.n)
			WALK_ASSERT(out.a[0].kind == NODE_A_STOP && out.a[0].arg == 1, "not killed at once");
		WALK_ASSERT(n->exit_code == NODE_EXIT_IO, "leaving a replaced file without 74");
	}
	/* A lost storage: the running workload is killed first, before the
	 * hook or anything else, and the node leaves with 74. */
	if ((m->ev == NODE_EV_FENCE || m->ev == NODE_EV_STORAGE_HUNG) && m->before != NODE_DONE) {
		if (m->running && out.n)
			WALK_ASSERT(out.a[0].kind == NODE_A_STOP && out.a[0].arg == 1, "not killed at once");
		WALK_ASSERT(!m->running || m->killed, "a lost storage left the workload running");
		WALK_ASSERT(n->state == NODE_DONE || n->state == NODE_STOPPING, "still in the group on a lost storage");
		WALK_ASSERT(n->exit_code == NODE_EXIT_IO, "leaving a lost storage without 74");
		bool role = m->before == NODE_STARTING || m->before == NODE_LIVE || m->before == NODE_STOPPING;
		WALK_ASSERT(!role || m->hooked, "fenced without on-fence");
	}
	/* A takeover after a wait starts only on a read asked for after it. */
	if (m->before == NODE_VERIFYING && index_of(&out, NODE_A_SPAWN) >= 0)
		WALK_ASSERT(n->verify_read_at >= n->verify_until, "started on a read asked for before the wait ended");
	/* A second signal while stopping for one kills what is left at once. */
	if (m->ev == NODE_EV_SHUTDOWN && m->before == NODE_STOPPING && m->asked && m->running)
		WALK_ASSERT(m->killed, "the workload outlived a second signal");
#undef WALK_ASSERT
}

static struct lf_view random_view(struct node_event_data *d)
{
	static const char statuses[] = { LF_NEW, LF_LIVE, LF_PAUSED, LF_FAILBACK, LF_FAILBACK, LF_LIVE };
	static const int32_t targets[] = { ME, LF_TARGET_ANY, OTHER, DEAD };
	int32_t t = targets[rnd(4)];
	struct lf_view v = view(statuses[rnd(sizeof statuses)], t, rnd(8) ? LF_REC_OK : LF_REC_BAD);
	d->target_alive = t == ME || (t == OTHER && rnd(4));
	d->target_state = (uint8_t)(1 + rnd(5));
	d->backup_waiting = rnd(2);
	d->foreign_record = rnd(4) == 0;
	/* Now and then a damaged file, as any read may find it. */
	if (rnd(12) == 0)
		damage_event(d, &v, (int)(1 + rnd(DM_NAME - 1)));
	return v;
}

Test(node, random_walks_keep_the_safety_rules)
{
	for (uint64_t seed = 1; seed <= 3000; seed++) {
		rng_state = seed * 0x9E3779B97F4A7C15ull | 1;
		struct node_config cfg = config(rnd(2) ? LF_ROLE_PRIMARY : LF_ROLE_BACKUP);
		cfg.allow_failback = rnd(2);
		cfg.failover_on_shutdown = rnd(2);
		cfg.restart = (enum node_restart)rnd(3);
		cfg.max_restarts = (int)rnd(5);
		cfg.restart_window_ms = 1000 + rnd(5000);
		cfg.takeover_delay_ms = rnd(2) ? 0 : 1000;
		cfg.verify_read_ms = rnd(2) ? 0 : 300;
		cfg.new_file_wait_ms = rnd(2) ? 0 : 200;
		cfg.ready_timeout_ms = rnd(2) ? 0 : 1 + rnd(5000);
		struct node n;
		struct model m = { 0 };
		memset(&n, 0, sizeof n);
		memset(&out, 0, sizeof out);
		node_init(&n, &cfg, &out);
		apply(&m, &n, seed, 0);
		int64_t t = 1000;
		for (int stepno = 1; stepno < 300 && !m.done; stepno++) {
			struct node_event_data d = { .now_ms = (t += rnd(3000)) };
			struct lf_view v = random_view(&d);
			d.view = &v;
			/* Synchronous replies come first, and only them. */
			if (m.claim_p) {
				m.claim_p = false;
				d.slot = ME;
				d.type = NODE_EV_JOINED;
				d.name_taken = rnd(40) == 0;
			} else if (m.spawn_p) {
				m.spawn_p = false;
				if (rnd(10)) {
					d.type = NODE_EV_STARTED;
					m.running = true;
				} else {
					d.type = NODE_EV_SPAWN_FAILED;
					d.err = 2;
				}
			} else if (m.try_p) {
				m.try_p = false;
				d.type = rnd(2) ? NODE_EV_LOCKED : NODE_EV_BUSY;
				if (d.type == NODE_EV_LOCKED)
					m.live = true;
			} else {
				/* Anything the loop could report now. */
				enum node_event cand[16];
				int nc = 0;
				if (m.wait_p)
					cand[nc++] = NODE_EV_LOCKED, cand[nc++] = NODE_EV_BUSY;
				if (m.timer_p)
					cand[nc++] = NODE_EV_TIMER;
				if (m.running)
					cand[nc++] = NODE_EV_EXITED;
				/* The workload's word, and rarely a late one from a
				 * workload already gone. */
				if (m.running || rnd(30) == 0)
					cand[nc++] = NODE_EV_READY, cand[nc++] = NODE_EV_READY;
				if ((m.running && rnd(2) == 0) || rnd(60) == 0)
					cand[nc++] = NODE_EV_UNHEALTHY;
				if (m.live)
					cand[nc++] = NODE_EV_TICK, cand[nc++] = NODE_EV_TICK;
				if (rnd(20) == 0)
					cand[nc++] = NODE_EV_SHUTDOWN;
				if (rnd(60) == 0)
					cand[nc++] = NODE_EV_STORAGE_ERROR;
				if (rnd(60) == 0)
					cand[nc++] = NODE_EV_REPLACED;
				if (m.live && rnd(60) == 0)
					cand[nc++] = NODE_EV_FENCE;
				if (rnd(80) == 0)
					cand[nc++] = NODE_EV_STORAGE_HUNG;
				if (nc == 0)
					break; /* apply() already failed on a stuck node */
				d.type = cand[rnd((uint32_t)nc)];
				switch (d.type) {
				case NODE_EV_LOCKED:
					if (m.wait_p == 1)
						m.live = true;
					else
						m.backup = true;
					m.wait_p = 0;
					break;
				case NODE_EV_BUSY: m.wait_p = 0; break;
				case NODE_EV_TIMER: m.timer_p = false; break;
				case NODE_EV_TICK:
					m.read_p = false;
					/* Mostly the live record is the one we wrote (a
					 * check, maybe a hand-over); else we are fenced. */
					if (n.epoch && rnd(4)) {
						v.live_rec = LF_REC_OK;
						v.live.epoch = n.epoch;
						v.live.slot = n.slot;
					}
					break;
				case NODE_EV_EXITED:
					m.running = false;
					m.stop_p = false;
					d.wstatus = rnd(3) ? W_EXITCODE((int)rnd(3), 0) : W_EXITCODE(0, SIGKILL);
					break;
				case NODE_EV_READY:
					if (m.running && !m.stop_p && !m.failed)
						m.ready = true;
					break;
				case NODE_EV_STORAGE_ERROR: d.err = 5; break;
				case NODE_EV_FENCE:
				case NODE_EV_STORAGE_HUNG:
					d.err = 110;
					m.lost = true;
					break;
				default: break;
				}
			}
			enum node_state before = n.state;
			bool was_failed = m.failed;
			m.ev = d.type;
			m.before = before;
			m.asked = n.shutdown;
			step_ev(&n, &d);
			/* A workload stopped as failed counts as failed, whatever
			 * it exited with: never "finished", never a P. */
			if (d.type == NODE_EV_EXITED && was_failed && (before == NODE_STARTING || before == NODE_LIVE))
				cr_assert(index_of(&out, NODE_A_WRITE_STATUS) < 0,
					  "seed %llu step %d: a failed workload's exit %d finished the group: %s",
					  (unsigned long long)seed, stepno, d.wstatus, FMT_OUT(&out));
			if (d.type == NODE_EV_EXITED)
				m.failed = false;
			/* The loop cancels a wait or a timer the node left behind by
			 * changing state without asking for it again. */
			if (n.state != before) {
				if (index_of(&out, NODE_A_TIMER) < 0)
					m.timer_p = false;
				if (index_of(&out, NODE_A_WAIT_LIVE) < 0 && index_of(&out, NODE_A_WAIT_BACKUP) < 0)
					m.wait_p = 0;
			}
			apply(&m, &n, seed, stepno);
		}
	}
}

/* ------------------------------------------------------------------ */
/* Fencing and the takeover delay                                      */
/* ------------------------------------------------------------------ */

static void verifying_backup(struct node *n, struct lf_view *crashed)
{
	struct node_config cfg = config(LF_ROLE_BACKUP);
	cfg.takeover_delay_ms = 1500;
	backup_waiting(n, &cfg);
	*crashed = view(LF_LIVE, LF_TARGET_ANY, LF_REC_OK);
	crashed->live.heartbeat = 40;
	crashed->live.epoch = 3;
	step(n, NODE_EV_LOCKED, crashed);
	STATE(n, NODE_VERIFYING);
	EXPECT(ACT(NODE_A_TIMER, 1500));
	HAS_NO(NODE_A_SPAWN);
	HAS_NO(NODE_A_WRITE_LIVE);
	fire_timer(n);
	EXPECT(ACT(NODE_A_READ, 1));
}

Test(node, takeover_after_the_delay_when_the_old_heartbeat_stood_still)
{
	struct node n;
	struct lf_view v;
	verifying_backup(&n, &v);
	step(&n, NODE_EV_TICK, &v);
	STATE(&n, NODE_STARTING);
	HAS_ARG(NODE_A_SLOT_STATE, SLOT_STARTING);
	BEFORE(NODE_A_WRITE_LIVE, NODE_A_SPAWN);
	/* Higher than any epoch it read: its join saw OLD_EPOCH. */
	cr_assert_eq(n.epoch, OLD_EPOCH + 1);
}

Test(node, no_takeover_while_the_old_heartbeat_advances)
{
	struct node n;
	struct lf_view v;
	verifying_backup(&n, &v);
	v.live.heartbeat++;
	step(&n, NODE_EV_TICK, &v);
	STATE(&n, NODE_BACKUP);
	HAS(NODE_A_RELEASE_LIVE);
	HAS_NO(NODE_A_SPAWN);
	HAS_NO(NODE_A_WRITE_LIVE);
	HAS_NO(NODE_A_RELEASE_BACKUP); /* it keeps its place in line */
	cr_assert(out.loud, "holding back must be said loudly");
	EXPECT(ACT(NODE_A_RELEASE_LIVE, 0), ACT(NODE_A_TIMER, 500));
}

/* The fence clock in VERIFYING (doc/protocol.md §5.8): a backup with a
 * takeover delay of 1000 ms that reads every 300 ms (its heartbeat
 * interval), from the moment it got the lock on L. */
static void verifying_reader(struct node *n, struct lf_view *crashed)
{
	struct node_config cfg = config(LF_ROLE_BACKUP);
	cfg.takeover_delay_ms = 1000;
	cfg.verify_read_ms = 300;
	backup_waiting(n, &cfg);
	*crashed = view(LF_LIVE, LF_TARGET_ANY, LF_REC_OK);
	crashed->live.heartbeat = 40;
	step(n, NODE_EV_LOCKED, crashed);
	STATE(n, NODE_VERIFYING);
	EXPECT(ACT(NODE_A_TIMER, 300));
	cr_assert(node_fence_clock(n), "no fence clock while holding the live lock in VERIFYING");
}

/* Reads every H during the delay, each a round of the fence clock (READ 1),
 * paced from when it was asked for; the wait ends with a read asked for
 * after it, and only then does the node start. */
Test(node, verifying_reads_every_heartbeat_interval)
{
	struct node n;
	struct lf_view v;
	int64_t t0 = now_ms;
	verifying_reader(&n, &v);
	for (int k = 1; k <= 3; k++) {
		fire_timer(&n);
		cr_assert_eq(now_ms, t0 + 300 * k);
		EXPECT(ACT(NODE_A_READ, 1));
		now_ms += 10; /* the read takes 10 ms */
		step(&n, NODE_EV_TICK, &v);
		STATE(&n, NODE_VERIFYING);
		/* the next at 300 ms after this one was asked for, at most at the
		 * end of the wait */
		EXPECT(ACT(NODE_A_TIMER, k < 3 ? 290 : 1000 - 910));
	}
	fire_timer(&n);
	cr_assert_eq(now_ms, t0 + 1000);
	EXPECT(ACT(NODE_A_READ, 1));
	step(&n, NODE_EV_TICK, &v);
	STATE(&n, NODE_STARTING);
	BEFORE(NODE_A_WRITE_LIVE, NODE_A_SPAWN);
}

/* A read asked for before the wait ended and done after it does not end
 * it: what it saw may be from before the end. One more read, at once. */
Test(node, verifying_ends_only_with_a_read_asked_for_after_the_wait)
{
	struct node n;
	struct lf_view v;
	verifying_reader(&n, &v);
	fire_timer(&n);
	step(&n, NODE_EV_TICK, &v);
	fire_timer(&n);
	step(&n, NODE_EV_TICK, &v);
	fire_timer(&n); /* at 900 */
	EXPECT(ACT(NODE_A_READ, 1));
	now_ms += 400; /* a slow read: done at 1300 */
	step(&n, NODE_EV_TICK, &v);
	STATE(&n, NODE_VERIFYING);
	EXPECT(ACT(NODE_A_TIMER, 0));
	HAS_NO(NODE_A_SPAWN);
	fire_timer(&n);
	EXPECT(ACT(NODE_A_READ, 1));
	step(&n, NODE_EV_TICK, &v);
	STATE(&n, NODE_STARTING);
}

/* No read completed within the fence timeout during the delay (FENCE), or
 * one hangs (STORAGE_HUNG): the lock may be given away unseen. The node
 * gives the takeover up: no start, no call on the storage (the exit
 * releases the locks), exit 74, and it says so. */
Test(node, a_fence_in_the_takeover_delay_gives_it_up_without_starting)
{
	static const enum node_event lost[] = { NODE_EV_FENCE, NODE_EV_STORAGE_HUNG };
	for (size_t i = 0; i < 2; i++) {
		struct node n;
		struct lf_view v;
		verifying_reader(&n, &v);
		fire_timer(&n);
		EXPECT(ACT(NODE_A_READ, 1)); /* and it hangs */
		struct node_event_data e = ev(lost[i]);
		e.unrun = 0;
		step_ev(&n, &e);
		STATE(&n, NODE_DONE);
		EXPECT(ACT(NODE_A_EXIT, NODE_EXIT_IO));
		cr_assert(n.storage_lost && out.loud, "%s: not a loud give-up", node_event_name(lost[i]));
		cr_assert(out.why && strstr(out.why, "giving up the takeover"), "%s: said \"%s\"",
			  node_event_name(lost[i]), out.why ? out.why : "");
		cr_assert(!node_fenced(&n), "a node that never ran the workload has no on-fence");
		/* The timer of the wait may still fire, a late TICK come: nothing. */
		step(&n, NODE_EV_TIMER, NULL);
		EXPECT_NONE();
		step(&n, NODE_EV_TICK, &v);
		EXPECT_NONE();
	}
}

/* A read during the delay that finds the old record moved ends the
 * takeover at once, not at the end of the delay. */
Test(node, the_old_heartbeat_moving_mid_delay_aborts_the_takeover_at_once)
{
	struct node n;
	struct lf_view v;
	verifying_reader(&n, &v);
	fire_timer(&n); /* 300 ms into a 1000 ms delay */
	v.live.heartbeat++;
	step(&n, NODE_EV_TICK, &v);
	STATE(&n, NODE_BACKUP);
	EXPECT(ACT(NODE_A_RELEASE_LIVE, 0), ACT(NODE_A_TIMER, 500));
	cr_assert(out.loud, "holding back must be said loudly");
	cr_assert(!node_fence_clock(&n), "a fence clock after the live lock was let go");
	/* The epoch, or the record's readability, count as moves too. */
	verifying_reader(&n, &v);
	fire_timer(&n);
	v.live.epoch++;
	step(&n, NODE_EV_TICK, &v);
	STATE(&n, NODE_BACKUP);
	HAS(NODE_A_RELEASE_LIVE);
	verifying_reader(&n, &v);
	fire_timer(&n);
	v.live_rec = LF_REC_BAD;
	step(&n, NODE_EV_TICK, &v);
	STATE(&n, NODE_BACKUP);
	HAS(NODE_A_RELEASE_LIVE);
	HAS_NO(NODE_A_SPAWN);
}

/* The fence clock runs exactly while the live lock is held. */
Test(node, the_fence_clock_runs_while_the_live_lock_is_held)
{
	struct node n;
	backup_default(&n);
	cr_assert(!node_fence_clock(&n), "a fence clock in BACKUP");
	struct lf_view v;
	verifying_reader(&n, &v);
	live_default(&n);
	cr_assert(node_fence_clock(&n), "no fence clock while live");
	step(&n, NODE_EV_SHUTDOWN, NULL);
	STATE(&n, NODE_STOPPING);
	cr_assert(node_fence_clock(&n), "no fence clock while stopping");
}

Test(node, a_request_during_the_delay_is_decided_as_from_backup)
{
	struct node n;
	struct lf_view v;
	verifying_backup(&n, &v);
	/* the group was paused meanwhile: a backup stands by, in BACKUP */
	v.status = LF_PAUSED;
	step(&n, NODE_EV_TICK, &v);
	STATE(&n, NODE_BACKUP);
	EXPECT(ACT(NODE_A_RELEASE_LIVE, 0), ACT(NODE_A_TIMER, 500));
	step(&n, NODE_EV_TIMER, NULL);
	EXPECT(ACT(NODE_A_WAIT_LIVE, 0));
}

Test(node, no_delay_without_a_crash_or_without_a_delay)
{
	struct node n;
	struct node_config cfg = config(LF_ROLE_BACKUP);
	cfg.takeover_delay_ms = 1500;
	backup_waiting(&n, &cfg);
	struct lf_view v = view(LF_FAILBACK, LF_TARGET_ANY, LF_REC_OK); /* a hand-over, not a crash */
	step(&n, NODE_EV_LOCKED, &v);
	STATE(&n, NODE_STARTING);
	backup_default(&n); /* takeover_delay_ms 0: a local file system */
	v = view(LF_LIVE, LF_TARGET_ANY, LF_REC_OK);
	step(&n, NODE_EV_LOCKED, &v);
	STATE(&n, NODE_STARTING);
}

static void check_fenced(struct node *n)
{
	STATE(n, NODE_STOPPING);
	/* the kill before anything else: the hook, then what touches the storage */
	EXPECT(ACT(NODE_A_STOP, 1), ACT(NODE_A_FENCE_HOOK, 0), ACT(NODE_A_SLOT_STATE, LF_SLOT_STOPPING));
	cr_assert(out.loud);
	HAS_NO(NODE_A_REQUEST_FAILBACK);
	step_exited(n, W_EXITCODE(0, SIGKILL));
	STATE(n, NODE_DONE);
	HAS_NO(NODE_A_WRITE_STATUS); /* never a P: a backup must take over */
	HAS_NO(NODE_A_SPAWN);
	LAST_IS(NODE_A_EXIT, NODE_EXIT_IO);
}

Test(node, a_live_record_of_another_node_fences)
{
	struct node n;
	live_default(&n);
	struct lf_view v = view(LF_LIVE, LF_TARGET_ANY, LF_REC_OK);
	v.live.epoch = n.epoch + 1; /* someone became live after us */
	v.live.slot = n.slot;
	struct node_event_data e = ev(NODE_EV_TICK);
	e.view = &v;
	step_ev(&n, &e);
	check_fenced(&n);
}

Test(node, a_storage_error_while_live_fences_at_once)
{
	struct node n;
	live_default(&n);
	step(&n, NODE_EV_STORAGE_ERROR, NULL);
	check_fenced(&n);
}

/* ------------------------------------------------------------------ */
/* The lock file deleted, renamed or replaced (format 1.2)            */
/* ------------------------------------------------------------------ */

/* A waiting node whose path names another file leaves this one at once,
 * writing nothing, with 74: the manager joins again on the new file. */
static void check_leaves_the_old_file(struct node *n, const char *where)
{
	step(n, NODE_EV_REPLACED, NULL);
	cr_assert_eq(n->state, NODE_DONE, "%s: state %s", where, state_str(n->state));
	EXPECT(ACT(NODE_A_EXIT, NODE_EXIT_IO));
	cr_assert(out.loud, "%s: leaving a replaced file must be said loudly", where);
}

static struct lf_view own_view(const struct node *n);
static void tick_with(struct node *n, const struct lf_view *v, bool own_slot_bad);

/* No heartbeat round within the fence timeout: SIGKILL first, then the
 * hook, and not one call on the storage after (it may hang with the rest). */
Test(node, a_fence_deadline_kills_first_and_asks_the_storage_nothing_more)
{
	enum node_event evs[] = { NODE_EV_FENCE, NODE_EV_STORAGE_HUNG };
	for (size_t i = 0; i < 2; i++) {
		struct node n;
		live_default(&n);
		step(&n, evs[i], NULL);
		STATE(&n, NODE_STOPPING);
		EXPECT(ACT(NODE_A_STOP, 1), ACT(NODE_A_FENCE_HOOK, 0));
		cr_assert(out.loud);
		struct lf_view v = own_view(&n);
		v.live.epoch++;
		tick_with(&n, &v, false); /* late news changes nothing */
		EXPECT_NONE();
		step(&n, NODE_EV_SHUTDOWN, NULL); /* asked to leave now: no rejoin */
		EXPECT_NONE();
		cr_assert(n.shutdown);
		step_exited(&n, W_EXITCODE(0, SIGKILL));
		STATE(&n, NODE_DONE);
		EXPECT(ACT(NODE_A_EXIT, NODE_EXIT_IO));
	}
}

Test(node, a_hung_call_between_restarts_fences_and_leaves)
{
	struct node n;
	live_default(&n);
	step_exited(&n, W_EXITCODE(1, 0)); /* back-off: no workload */
	step(&n, NODE_EV_STORAGE_HUNG, NULL);
	STATE(&n, NODE_DONE);
	EXPECT(ACT(NODE_A_FENCE_HOOK, 0), ACT(NODE_A_EXIT, NODE_EXIT_IO));
}

Test(node, a_hung_call_while_waiting_leaves_without_a_hook)
{
	struct node n;
	backup_default(&n);
	step(&n, NODE_EV_STORAGE_HUNG, NULL);
	STATE(&n, NODE_DONE);
	EXPECT(ACT(NODE_A_EXIT, NODE_EXIT_IO));
	cr_assert(n.storage_lost);
}

/* WRITE_LIVE failed: the loop ran nothing after it, SPAWN included, and
 * says so. Nothing to stop; the node fences and leaves L for a backup. */
Test(node, a_list_cut_short_before_its_spawn_has_no_workload_to_stop)
{
	struct node n;
	struct node_config cfg = config(LF_ROLE_PRIMARY);
	start(&n, &cfg);
	struct lf_view v = view(LF_PAUSED, LF_TARGET_ANY, LF_REC_OK);
	step(&n, NODE_EV_LOCKED, &v);
	STATE(&n, NODE_STARTING);
	struct node_event_data e = ev(NODE_EV_STORAGE_ERROR);
	e.err = 5;
	e.unrun = NODE_ACTION_BIT(NODE_A_SLOT_STATE) | NODE_ACTION_BIT(NODE_A_SPAWN);
	step_ev(&n, &e);
	STATE(&n, NODE_DONE);
	EXPECT(ACT(NODE_A_FENCE_HOOK, 0), ACT(NODE_A_RELEASE_LIVE, 0), ACT(NODE_A_EXIT, NODE_EXIT_IO));
}

/* P could not be written on the way out: the EXIT after it comes again,
 * with the status the node decided. */
Test(node, an_exit_cut_short_comes_again)
{
	struct node n;
	live_default(&n);
	step_exited(&n, W_EXITCODE(1, 0));
	step(&n, NODE_EV_SHUTDOWN, NULL);
	STATE(&n, NODE_DONE);
	EXPECT(ACT(NODE_A_WRITE_STATUS, LF_PAUSED), ACT(NODE_A_RELEASE_LIVE, 0), ACT(NODE_A_EXIT, NODE_EXIT_OK));
	struct node_event_data e = ev(NODE_EV_STORAGE_HUNG);
	e.unrun = NODE_ACTION_BIT(NODE_A_RELEASE_LIVE) | NODE_ACTION_BIT(NODE_A_EXIT);
	step_ev(&n, &e);
	EXPECT(ACT(NODE_A_EXIT, NODE_EXIT_OK));
	e.unrun = 0;
	step_ev(&n, &e);
	EXPECT_NONE();
}

Test(node, a_waiting_node_whose_file_was_replaced_leaves_it)
{
	struct node n;
	struct node_config p = config(LF_ROLE_PRIMARY), b = config(LF_ROLE_BACKUP);
	start(&n, &p);
	check_leaves_the_old_file(&n, "JOINING");
	queued_backup(&n, &b);
	check_leaves_the_old_file(&n, "QUEUED");
	backup_default(&n);
	check_leaves_the_old_file(&n, "BACKUP");
	claiming_primary(&n);
	check_leaves_the_old_file(&n, "CLAIMING");
	struct lf_view v;
	verifying_backup(&n, &v);
	check_leaves_the_old_file(&n, "VERIFYING");
}

/* The live node never goes on as live on a file nobody else can find: it
 * fences exactly as when its record is another's. */
Test(node, a_live_node_whose_file_was_replaced_fences)
{
	struct node n;
	live_default(&n);
	step(&n, NODE_EV_REPLACED, NULL);
	check_fenced(&n);
	starting_default(&n);
	step(&n, NODE_EV_REPLACED, NULL);
	check_fenced(&n);
}

Test(node, a_live_node_between_restarts_whose_file_was_replaced_leaves)
{
	struct node n;
	live_default(&n);
	step_exited(&n, W_EXITCODE(1, 0)); /* back-off: no workload */
	STATE(&n, NODE_STARTING);
	step(&n, NODE_EV_REPLACED, NULL);
	STATE(&n, NODE_DONE);
	/* Fenced with nothing to kill: on-fence all the same. */
	EXPECT(ACT(NODE_A_FENCE_HOOK, 0), ACT(NODE_A_RELEASE_LIVE, 0), ACT(NODE_A_EXIT, NODE_EXIT_IO));
}

Test(node, a_replaced_file_while_stopping_kills_what_is_left)
{
	struct node n;
	live_default(&n);
	step(&n, NODE_EV_SHUTDOWN, NULL); /* SIGTERM, a grace period */
	STATE(&n, NODE_STOPPING);
	step(&n, NODE_EV_REPLACED, NULL);
	STATE(&n, NODE_STOPPING);
	EXPECT(ACT(NODE_A_STOP, 1), ACT(NODE_A_FENCE_HOOK, 0));
	step(&n, NODE_EV_REPLACED, NULL); /* killed already: nothing more */
	EXPECT_NONE();
	step_exited(&n, W_EXITCODE(0, SIGKILL));
	STATE(&n, NODE_DONE);
	HAS_NO(NODE_A_WRITE_STATUS); /* not P: the group is the new file's */
	LAST_IS(NODE_A_EXIT, NODE_EXIT_IO);
}

/* Taking the role on a file whose live record was not written on it: a
 * live node of a file that was at the path before may still run. */
static struct node_event_data foreign(const struct lf_view *v)
{
	struct node_event_data e = ev(NODE_EV_LOCKED);
	e.view = v;
	e.foreign_record = true;
	return e;
}

static void check_new_file_wait(struct node *n, struct lf_view *v, int64_t want_ms)
{
	struct node_event_data e = foreign(v);
	step_ev(n, &e);
	STATE(n, NODE_VERIFYING);
	cr_assert(n->new_file, "the wait is not marked as one for a new file");
	HAS_ARG(NODE_A_TIMER, want_ms);
	HAS_NO(NODE_A_WRITE_LIVE);
	HAS_NO(NODE_A_SPAWN);
	HAS_NO(NODE_A_RELEASE_LIVE);
	fire_timer(n);
	EXPECT(ACT(NODE_A_READ, 1));
	/* the file as it was: now the role, at once (no second wait) */
	e.type = NODE_EV_TICK;
	step_ev(n, &e);
	STATE(n, NODE_STARTING);
	BEFORE(NODE_A_WRITE_LIVE, NODE_A_SPAWN);
}

Test(node, a_primary_waits_before_starting_on_a_new_or_foreign_file)
{
	static const char statuses[] = { LF_NEW, LF_PAUSED, LF_LIVE, LF_FAILBACK };
	for (size_t i = 0; i < sizeof statuses; i++) {
		struct node n;
		struct node_config cfg = config(LF_ROLE_PRIMARY);
		cfg.new_file_wait_ms = 1000;
		start(&n, &cfg);
		struct lf_view v = view(statuses[i], ME, LF_REC_OK);
		check_new_file_wait(&n, &v, 1000);
	}
}

Test(node, a_backup_waits_before_taking_over_a_foreign_record)
{
	struct node n;
	struct node_config cfg = config(LF_ROLE_BACKUP);
	cfg.new_file_wait_ms = 1000;
	backup_waiting(&n, &cfg);
	struct lf_view v = view(LF_LIVE, LF_TARGET_ANY, LF_REC_OK);
	check_new_file_wait(&n, &v, 1000);
	HAS(NODE_A_RELEASE_BACKUP);
}

/* Both reasons at once (a crash on networked storage, a record of another
 * file): one wait, the longer. */
Test(node, the_longer_of_the_takeover_delay_and_the_new_file_wait)
{
	struct node n;
	struct node_config cfg = config(LF_ROLE_BACKUP);
	cfg.new_file_wait_ms = 1000;
	cfg.takeover_delay_ms = 1500;
	backup_waiting(&n, &cfg);
	struct lf_view v = view(LF_LIVE, LF_TARGET_ANY, LF_REC_OK);
	check_new_file_wait(&n, &v, 1500);
	cfg.takeover_delay_ms = 400;
	backup_waiting(&n, &cfg);
	check_new_file_wait(&n, &v, 1000);
}

/* What keeps a plain crash failover fast: a record written on this very
 * file by a node now dead is taken over at once on a local file system,
 * and a hand-over or a paused group's restart never waits. */
Test(node, no_wait_for_a_record_written_on_this_file)
{
	struct node n;
	struct node_config cfg = config(LF_ROLE_BACKUP);
	cfg.new_file_wait_ms = 1000;
	backup_waiting(&n, &cfg);
	struct lf_view v = view(LF_LIVE, LF_TARGET_ANY, LF_REC_OK);
	step(&n, NODE_EV_LOCKED, &v); /* foreign_record false */
	STATE(&n, NODE_STARTING);
	HAS_NO(NODE_A_TIMER);
	BEFORE(NODE_A_WRITE_LIVE, NODE_A_SPAWN);
	static const char statuses[] = { LF_PAUSED, LF_FAILBACK };
	for (size_t i = 0; i < sizeof statuses; i++) {
		struct node_config pc = config(LF_ROLE_PRIMARY);
		pc.new_file_wait_ms = 1000;
		start(&n, &pc);
		v = view(statuses[i], ME, LF_REC_OK);
		step(&n, NODE_EV_LOCKED, &v);
		STATE(&n, NODE_STARTING);
	}
}

/* A backup on a new group stands by as ever: nothing to wait for, since
 * it starts nothing. */
Test(node, a_backup_on_a_new_foreign_file_stands_by_without_waiting)
{
	struct node n;
	struct node_config cfg = config(LF_ROLE_BACKUP);
	cfg.new_file_wait_ms = 1000;
	backup_waiting(&n, &cfg);
	struct lf_view v = view(LF_NEW, LF_TARGET_ANY, LF_REC_OK);
	struct node_event_data e = foreign(&v);
	step_ev(&n, &e);
	STATE(&n, NODE_BACKUP);
	EXPECT(ACT(NODE_A_RELEASE_LIVE, 0), ACT(NODE_A_TIMER, 500));
}

/* While it waits, the record is written: a node that thinks it is live
 * writes it. Never start beside it. */
Test(node, a_record_written_during_the_new_file_wait_holds_back)
{
	struct node n;
	struct node_config cfg = config(LF_ROLE_PRIMARY);
	cfg.new_file_wait_ms = 1000;
	start(&n, &cfg);
	struct lf_view v = view(LF_LIVE, LF_TARGET_ANY, LF_REC_OK);
	struct node_event_data e = foreign(&v);
	step_ev(&n, &e);
	STATE(&n, NODE_VERIFYING);
	step(&n, NODE_EV_TIMER, NULL);
	v.live.heartbeat++;
	e.type = NODE_EV_TICK;
	step_ev(&n, &e);
	STATE(&n, NODE_CLAIMING);
	EXPECT(ACT(NODE_A_RELEASE_LIVE, 0), ACT(NODE_A_TIMER, 500)); /* it said waiting on entering the wait */
	cr_assert(out.loud);
}

/* A request that came during the wait is decided, without waiting again:
 * one this node may serve starts it; one for another, alive node starts it
 * too, the request left in the file (noted as the takeover it is, never
 * as the hand-over), and the first check hands over to that node, which
 * then needs no wait of its own. Letting it pass at once threw the wait
 * away: the node it named found the same file and waited again. */
Test(node, a_request_during_the_new_file_wait_is_decided_without_a_second_wait)
{
	struct node n;
	struct node_config cfg = config(LF_ROLE_BACKUP);
	cfg.new_file_wait_ms = 1000;
	backup_waiting(&n, &cfg);
	struct lf_view v = view(LF_LIVE, LF_TARGET_ANY, LF_REC_OK);
	struct node_event_data e = foreign(&v);
	step_ev(&n, &e);
	fire_timer(&n);
	v.status = LF_FAILBACK; /* for anyone */
	v.request_rec = LF_REC_OK;
	v.request.seq = 3;
	v.request.kind = LF_REQ_SWITCHOVER;
	v.request.target_slot = LF_TARGET_ANY;
	e.type = NODE_EV_TICK;
	step_ev(&n, &e);
	STATE(&n, NODE_STARTING);
	HAS_NO(NODE_A_TIMER);
	/* and one for another, alive node: start, keep the request */
	backup_waiting(&n, &cfg);
	e = foreign(&v);
	v.status = LF_LIVE;
	step_ev(&n, &e);
	fire_timer(&n);
	v.status = LF_FAILBACK;
	v.request.target_slot = OTHER;
	e.type = NODE_EV_TICK;
	e.target_alive = true;
	e.target_state = LF_SLOT_WAITING;
	step_ev(&n, &e);
	STATE(&n, NODE_STARTING);
	SPAWN_RIGHT_AFTER_WRITE_LIVE();
	NOTE_IS(NODE_A_WRITE_LIVE, LF_EV_NEW_FILE);
	HAS_NO(NODE_A_RELEASE_LIVE);
	/* Its first check: the request is still there, for a node that waits. */
	struct lf_view mine = own_view(&n);
	mine.status = LF_FAILBACK;
	mine.request_rec = LF_REC_OK;
	mine.request = v.request;
	e = ev(NODE_EV_TICK);
	e.view = &mine;
	e.target_alive = true;
	e.target_state = LF_SLOT_WAITING;
	step_ev(&n, &e);
	STATE(&n, NODE_STOPPING);
	HAS(NODE_A_STOP);
	HAS_NO(NODE_A_REFUSE);
	/* After the takeover delay likewise, noted as the failover it is. */
	struct lf_view c;
	verifying_backup(&n, &c);
	c.status = LF_FAILBACK;
	c.request_rec = LF_REC_OK;
	c.request.seq = 4;
	c.request.kind = LF_REQ_FAILBACK;
	c.request.target_slot = OTHER;
	e = ev(NODE_EV_TICK);
	e.view = &c;
	e.target_alive = true;
	step_ev(&n, &e);
	STATE(&n, NODE_STARTING);
	NOTE_IS(NODE_A_WRITE_LIVE, LF_EV_FAILOVER);
}

/* ------------------------------------------------------------------ */
/* A damaged file, and names (doc/protocol.md §5.10, §5.11)            */
/* ------------------------------------------------------------------ */

/* The file as the live node's own check reads it: its record, its slot. */
static struct lf_view own_view(const struct node *n)
{
	struct lf_view v = view(LF_LIVE, LF_TARGET_ANY, LF_REC_OK);
	v.live.epoch = n->epoch;
	v.live.slot = n->slot;
	return v;
}

static void tick_with(struct node *n, const struct lf_view *v, bool own_slot_bad)
{
	struct node_event_data e = ev(NODE_EV_TICK);
	e.view = v;
	e.own_slot_bad = own_slot_bad;
	step_ev(n, &e);
}

enum damage {
	D_TRUNCATED,
	D_HEADER,
	D_LIVE_BAD,
	D_LIVE_EMPTY,
	D_NODE_ID,
	D_STATUS_GARBAGE,
	D_STATUS_ZERO,
	D_PAUSED,
	D_SLOT,
	D_N
};
static const char *damage_name[D_N] = { "truncated", "header",   "live BAD", "live EMPTY", "node id",
					"status X",  "status 0", "status P", "own slot" };

static bool damage(struct lf_view *v, enum damage d)
{
	switch (d) {
	case D_TRUNCATED:
		/* truncate -s 0: every byte reads zero */
		memset(v, 0, sizeof *v);
		v->damage = LF_DMG_SHORT | LF_DMG_HEADER;
		return true;
	case D_HEADER: v->damage = LF_DMG_HEADER; return false;
	case D_LIVE_BAD: v->live_rec = LF_REC_BAD; return false;
	case D_LIVE_EMPTY:
		v->live_rec = LF_REC_EMPTY;
		memset(&v->live, 0, sizeof v->live);
		return false;
	case D_NODE_ID: v->node_id[0] ^= 1; return false;
	case D_STATUS_GARBAGE: v->status = 'X'; return false;
	case D_STATUS_ZERO: v->status = 0; return false;
	case D_PAUSED: v->status = LF_PAUSED; return false; /* a live node never wrote P */
	case D_SLOT: return true;
	case D_N: break;
	}
	return false;
}

/* The live node mends damage instead of fencing for it: before, it
 * killed its workload and left the group to a file every node refused. */
Test(node, a_damaged_file_is_repaired_by_the_live_node_not_fenced)
{
	for (int starting = 0; starting < 2; starting++) {
		for (int d = 0; d < D_N; d++) {
			struct node n;
			if (starting)
				starting_default(&n);
			else
				live_default(&n);
			enum node_state was = n.state;
			struct lf_view v = own_view(&n);
			bool slot_bad = damage(&v, (enum damage)d);
			tick_with(&n, &v, slot_bad);
			cr_assert_eq(n.state, was, "%s: %s -> %s", damage_name[d], state_str(was), state_str(n.state));
			EXPECT(ACT(NODE_A_REPAIR, (int64_t)n.epoch));
			cr_assert(out.loud, "%s: a repair is not news to keep quiet", damage_name[d]);
			cr_assert(n.workload_running, "%s: the workload was stopped", damage_name[d]);
			/* Mended, the next check reads the file whole: nothing to do. */
			struct lf_view ok = own_view(&n);
			tick_with(&n, &ok, false);
			EXPECT_NONE();
		}
	}
}

/* What the live node never mends: another node's good live record (that
 * node took the role), and a file with another format's header. */
Test(node, another_live_record_or_a_foreign_header_still_fences)
{
	for (int k = 0; k < 3; k++) {
		struct node n;
		live_default(&n);
		struct lf_view v = own_view(&n);
		if (k == 0)
			v.live.epoch = n.epoch + 1;
		else if (k == 1)
			v.live.slot = OTHER;
		else
			v.damage = LF_DMG_FOREIGN;
		/* Damage besides does not turn a fence into a repair. */
		v.status = 'X';
		tick_with(&n, &v, true);
		HAS_NO(NODE_A_REPAIR);
		check_fenced(&n);
	}
}

Test(node, a_node_stopping_repairs_too_unless_it_was_fenced)
{
	for (int d = 0; d < D_N; d++) {
		struct node n;
		live_default(&n);
		step(&n, NODE_EV_SHUTDOWN, NULL);
		STATE(&n, NODE_STOPPING);
		struct lf_view v = own_view(&n);
		bool slot_bad = damage(&v, (enum damage)d);
		tick_with(&n, &v, slot_bad);
		STATE(&n, NODE_STOPPING);
		EXPECT(ACT(NODE_A_REPAIR, (int64_t)n.epoch));
	}
	/* Fenced, it writes nothing more. */
	struct node n;
	live_default(&n);
	step(&n, NODE_EV_STORAGE_ERROR, NULL);
	STATE(&n, NODE_STOPPING);
	struct lf_view v = own_view(&n);
	damage(&v, D_TRUNCATED);
	tick_with(&n, &v, true);
	EXPECT_NONE();
	/* Another node's record while stopping: kill what is left (s3). */
	live_default(&n);
	step(&n, NODE_EV_SHUTDOWN, NULL);
	v = own_view(&n);
	v.live.epoch++;
	tick_with(&n, &v, false);
	EXPECT(ACT(NODE_A_STOP, 1), ACT(NODE_A_FENCE_HOOK, 0));
}

/* A new live node takes an epoch above every one it has read: a live
 * record gone BAD no longer starts the count at 1. The slots keep a copy
 * (format 1.2) and the node remembers what it read. */
Test(node, the_next_epoch_is_above_every_epoch_seen)
{
	struct node n;
	struct node_config cfg = config(LF_ROLE_BACKUP);
	queued_backup(&n, &cfg);
	struct lf_view v = view(LF_LIVE, LF_TARGET_ANY, LF_REC_BAD);
	v.live_rec = LF_REC_BAD;
	v.slot_rec[OTHER] = LF_REC_OK;
	v.slots[OTHER].state = LF_SLOT_LIVE;
	v.slots[OTHER].epoch = 77;      /* the dead live node's copy */
	step(&n, NODE_EV_LOCKED, NULL); /* the backup lock */
	step(&n, NODE_EV_LOCKED, &v);   /* the live lock, the record BAD */
	STATE(&n, NODE_STARTING);
	cr_assert_eq(n.epoch, 78, "epoch %llu: the slot's copy was not used", (unsigned long long)n.epoch);

	/* Nothing in the file, but the node read 41 when it joined. */
	queued_backup(&n, &cfg);
	struct lf_view seen = view(LF_LIVE, LF_TARGET_ANY, LF_REC_OK);
	struct node_event_data e = ev(NODE_EV_BUSY);
	e.view = &seen; /* any view counts */
	step_ev(&n, &e);
	step(&n, NODE_EV_LOCKED, NULL);
	struct lf_view lost;
	memset(&lost, 0, sizeof lost);
	lost.status = LF_LIVE;
	lost.damage = LF_DMG_SHORT | LF_DMG_HEADER;
	step(&n, NODE_EV_LOCKED, &lost);
	STATE(&n, NODE_STARTING);
	cr_assert_eq(n.epoch, OLD_EPOCH + 1, "epoch %llu after a read of %u", (unsigned long long)n.epoch, OLD_EPOCH);
	/* An epoch beyond 2^63 is no guide (it is not one a node writes). */
	queued_backup(&n, &cfg);
	v = view(LF_LIVE, LF_TARGET_ANY, LF_REC_OK);
	v.live.epoch = UINT64_MAX;
	v.slots[OTHER].epoch = (uint64_t)INT64_MAX + 5;
	step(&n, NODE_EV_LOCKED, NULL);
	step(&n, NODE_EV_LOCKED, &v);
	cr_assert(n.epoch >= 1 && n.epoch <= LF_EPOCH_MAX, "epoch %llu", (unsigned long long)n.epoch);
}

/* Waiting nodes wait on a damaged file; they do not leave. A backup that
 * gets the live lock decides on the bytes as they are (a lost record
 * reads EMPTY) and stands by, said once, where the status is unreadable;
 * a file with another format's header is no group to start for anyone. */
Test(node, waiting_nodes_wait_on_a_damaged_file_and_say_it_once)
{
	for (int primary = 0; primary < 2; primary++) {
		struct node n;
		if (primary)
			claiming_primary(&n);
		else
			backup_default(&n);
		enum node_state was = n.state;
		struct lf_view v = view(LF_LIVE, LF_TARGET_ANY, LF_REC_OK);
		v.damage = LF_DMG_FOREIGN;
		for (int i = 0; i < 3; i++) {
			step(&n, NODE_EV_LOCKED, &v);
			STATE(&n, was);
			EXPECT(ACT(NODE_A_RELEASE_LIVE, 0), ACT(NODE_A_TIMER, 500));
			cr_assert(i == 0 ? out.why && out.loud : !out.why, "%s, read %d: said %s",
				  primary ? "primary" : "backup", i, out.why ? out.why : "nothing");
			step(&n, NODE_EV_TIMER, NULL);
			HAS(NODE_A_WAIT_LIVE);
		}
		/* Whole again: a later damage is said again. */
		struct lf_view ok = view(LF_PAUSED, LF_TARGET_ANY, LF_REC_OK);
		if (!primary) {
			step(&n, NODE_EV_LOCKED, &ok);
			step(&n, NODE_EV_TIMER, NULL);
			step(&n, NODE_EV_LOCKED, &v);
			cr_assert(out.why && out.loud, "a new damage was not said");
		}
	}
	/* truncate -s 0 read by a backup: the status is gone with the rest. */
	struct node n;
	backup_default(&n);
	struct lf_view t;
	memset(&t, 0, sizeof t);
	t.damage = LF_DMG_SHORT | LF_DMG_HEADER;
	step(&n, NODE_EV_LOCKED, &t);
	STATE(&n, NODE_BACKUP);
	EXPECT(ACT(NODE_A_RELEASE_LIVE, 0), ACT(NODE_A_TIMER, 500));
	cr_assert(out.loud && out.why && strstr(out.why, "damaged"));
	/* A damaged header with a readable L is still a crash: fail over. */
	backup_default(&n);
	struct lf_view h = view(LF_LIVE, LF_TARGET_ANY, LF_REC_OK);
	h.damage = LF_DMG_HEADER;
	step(&n, NODE_EV_LOCKED, &h);
	STATE(&n, NODE_STARTING);
	cr_assert_eq(n.epoch, OLD_EPOCH + 1);
}

/* A waiting node whose slot record was lost writes it again, then waits:
 * a node missing from the slots is no hand-over target, and its name
 * would look free to a second node of that name. */
Test(node, a_waiting_node_writes_its_lost_slot_record_again)
{
	for (int k = 0; k < 3; k++) {
		struct node n;
		struct node_config cfg = config(LF_ROLE_BACKUP);
		if (k == 0)
			queued_backup(&n, &cfg);
		else if (k == 1)
			backup_default(&n);
		else
			claiming_primary(&n);
		enum node_state was = n.state;
		int64_t pub = (int64_t)node_slot_state(was);
		struct node_event_data e = ev(NODE_EV_BUSY);
		struct lf_view v = view(LF_LIVE, ME, LF_REC_OK);
		v.status = LF_FAILBACK; /* a claiming primary's request still there */
		e.view = k == 2 ? &v : NULL;
		e.own_slot_bad = true;
		step_ev(&n, &e);
		STATE(&n, was);
		cr_assert(out.n >= 2 && out.a[0].kind == NODE_A_SLOT_STATE && out.a[0].arg == pub, "%s: %s",
			  state_str(was), FMT_OUT(&out));
		LAST_KIND(k == 0 ? NODE_A_WAIT_BACKUP : NODE_A_WAIT_LIVE);
		cr_assert(out.loud);
		e.own_slot_bad = false;
		step_ev(&n, &e);
		HAS_NO(NODE_A_SLOT_STATE);
	}
}

/* A claiming primary does not ask for failback in a file whose status
 * byte is damaged: a request needs a live group, and the live node mends
 * the status first. */
Test(node, no_failback_request_into_a_damaged_status)
{
	struct node n;
	claiming_primary(&n);
	struct lf_view v = view(LF_LIVE, LF_TARGET_ANY, LF_REC_OK);
	v.status = 0;
	struct node_event_data e = ev(NODE_EV_BUSY);
	e.view = &v;
	step_ev(&n, &e);
	HAS_NO(NODE_A_REQUEST_FAILBACK);
	EXPECT(ACT(NODE_A_WAIT_LIVE, 1));
	v.status = LF_LIVE;
	step_ev(&n, &e);
	HAS(NODE_A_REQUEST_FAILBACK);
}

/* Two nodes of one name would both answer is-live for it: the second to
 * join leaves with 78 (EX_CONFIG), having tried no lock. */
Test(node, a_name_taken_by_an_alive_node_refuses_to_join)
{
	for (int primary = 0; primary < 2; primary++) {
		struct node n;
		struct node_config cfg = config(primary ? LF_ROLE_PRIMARY : LF_ROLE_BACKUP);
		memset(&n, 0, sizeof n);
		node_init(&n, &cfg, &out);
		struct node_event_data e = ev(NODE_EV_JOINED);
		e.slot = ME;
		e.name_taken = true;
		step_ev(&n, &e);
		STATE(&n, NODE_DONE);
		EXPECT(ACT(NODE_A_EXIT, NODE_EXIT_CONFIG));
		cr_assert_eq(NODE_EXIT_CONFIG, 78);
		cr_assert(out.loud && out.why && strstr(out.why, "name"));
	}
}

/* ------------------------------------------------------------------ */
/* The group's history: why the role moves (format 1.3)               */
/* ------------------------------------------------------------------ */

/* A primary that gets the live lock on v takes the role with WRITE_LIVE
 * noted with why, read from what it decided on. */
static void check_takeover_note(const struct lf_view *v, bool foreign, enum lf_event_reason want)
{
	struct node n;
	struct node_config cfg = config(LF_ROLE_PRIMARY);
	start(&n, &cfg);
	struct node_event_data e = ev(NODE_EV_LOCKED);
	e.view = v;
	e.foreign_record = foreign;
	e.target_alive = true;
	e.target_state = LF_SLOT_WAITING;
	step_ev(&n, &e);
	STATE(&n, NODE_STARTING);
	NOTE_IS(NODE_A_WRITE_LIVE, want);
	/* Nothing else of the takeover is noted: one entry per move. */
	for (int i = 0; i < out.n; i++)
		cr_assert(out.a[i].kind == NODE_A_WRITE_LIVE || !out.a[i].note, "%s", FMT_OUT(&out));
}

Test(node, a_takeover_notes_why_from_the_read_it_decided_on)
{
	struct lf_view v = view(LF_NEW, LF_TARGET_ANY, LF_REC_OK);
	check_takeover_note(&v, true, LF_EV_START); /* a new file's empty record is "foreign" too */
	v = view(LF_PAUSED, LF_TARGET_ANY, LF_REC_OK);
	check_takeover_note(&v, false, LF_EV_RESUME);
	v = view(LF_LIVE, LF_TARGET_ANY, LF_REC_OK);
	check_takeover_note(&v, false, LF_EV_FAILOVER);
	v = view(LF_FAILBACK, ME, LF_REC_OK);
	check_takeover_note(&v, false, LF_EV_FAILBACK);
	v = view(LF_FAILBACK, LF_TARGET_ANY, LF_REC_OK);
	check_takeover_note(&v, false, LF_EV_SWITCHOVER);
	v = view(LF_FAILBACK, OTHER, LF_REC_BAD);
	check_takeover_note(&v, false, LF_EV_FAILOVER); /* F unreadable is L */
	v = view('X', LF_TARGET_ANY, LF_REC_OK);
	check_takeover_note(&v, false, LF_EV_DAMAGED);
	/* A record written on another file: copied, restored or moved in. */
	v = view(LF_LIVE, LF_TARGET_ANY, LF_REC_OK);
	v.live.file_id = 77;
	check_takeover_note(&v, true, LF_EV_NEW_FILE);
	/* An older node's record names no file: an ordinary failover. */
	v.live.file_id = 0;
	check_takeover_note(&v, true, LF_EV_FAILOVER);
}

Test(node, a_takeover_after_the_takeover_delay_notes_the_read_after_the_wait)
{
	struct node n;
	struct node_config cfg = config(LF_ROLE_BACKUP);
	cfg.takeover_delay_ms = 3000;
	backup_waiting(&n, &cfg);
	struct lf_view v = view(LF_LIVE, LF_TARGET_ANY, LF_REC_OK);
	step(&n, NODE_EV_LOCKED, &v);
	STATE(&n, NODE_VERIFYING);
	HAS_NO(NODE_A_WRITE_LIVE);
	fire_timer(&n);
	step(&n, NODE_EV_TICK, &v);
	STATE(&n, NODE_STARTING);
	NOTE_IS(NODE_A_WRITE_LIVE, LF_EV_FAILOVER);
}

/* The live node's way out, each noted on the write it makes last while it
 * holds the role. */
Test(node, a_live_node_notes_why_it_leaves)
{
	struct node n;
	/* Shut down: P, noted pause. */
	live_default(&n);
	step(&n, NODE_EV_SHUTDOWN, NULL);
	step_exited(&n, W_EXITCODE(0, SIGTERM));
	NOTE_IS(NODE_A_WRITE_STATUS, LF_EV_PAUSE);
	NOTE_IS(NODE_A_RELEASE_LIVE, 0);

	/* Shut down with --failover-on-shutdown: no P, the release noted. */
	struct node_config cfg = config(LF_ROLE_PRIMARY);
	cfg.failover_on_shutdown = true;
	live_primary(&n, &cfg, LF_PAUSED);
	step(&n, NODE_EV_SHUTDOWN, NULL);
	step_exited(&n, W_EXITCODE(0, SIGTERM));
	HAS_NO(NODE_A_WRITE_STATUS);
	NOTE_IS(NODE_A_RELEASE_LIVE, LF_EV_SHUTDOWN);

	/* The workload finished. */
	live_default(&n);
	step_exited(&n, W_EXITCODE(0, 0));
	NOTE_IS(NODE_A_WRITE_STATUS, LF_EV_FINISHED);

	/* Gave up: --restart never, and restarts exhausted. */
	cfg = config(LF_ROLE_PRIMARY);
	cfg.restart = NODE_RESTART_NEVER;
	live_primary(&n, &cfg, LF_PAUSED);
	step_exited(&n, W_EXITCODE(1, 0));
	STATE(&n, NODE_DONE);
	NOTE_IS(NODE_A_RELEASE_LIVE, LF_EV_GIVE_UP);
	cfg = config(LF_ROLE_PRIMARY);
	cfg.max_restarts = 0;
	live_primary(&n, &cfg, LF_PAUSED);
	step_exited(&n, W_EXITCODE(1, 0));
	STATE(&n, NODE_DONE);
	NOTE_IS(NODE_A_RELEASE_LIVE, LF_EV_GIVE_UP);

	/* Handed over: the release noted, F left as it is. */
	live_default(&n);
	struct lf_view v = view(LF_FAILBACK, OTHER, LF_REC_OK);
	tick(&n, &v, true, LF_SLOT_WAITING, false);
	check_handover_started(&n);
	step_exited(&n, W_EXITCODE(0, SIGTERM));
	NOTE_IS(NODE_A_RELEASE_LIVE, LF_EV_HAND_OVER);

	/* Fenced: another node's record. The release, if the storage takes
	 * it, says so. */
	live_default(&n);
	v = view(LF_LIVE, LF_TARGET_ANY, LF_REC_OK);
	v.live.epoch = n.epoch + 1;
	v.live.slot = OTHER;
	step(&n, NODE_EV_TICK, &v);
	STATE(&n, NODE_STOPPING);
	step_exited(&n, W_EXITCODE(0, SIGKILL));
	STATE(&n, NODE_DONE);
	NOTE_IS(NODE_A_RELEASE_LIVE, LF_EV_FENCED);
}

/* A node that only waits never notes anything: it has no role to move. */
Test(node, a_waiting_node_notes_nothing)
{
	struct node n;
	backup_default(&n);
	struct lf_view v = view(LF_PAUSED, LF_TARGET_ANY, LF_REC_OK);
	step(&n, NODE_EV_LOCKED, &v); /* stands by */
	STATE(&n, NODE_BACKUP);
	NOTE_IS(NODE_A_RELEASE_LIVE, 0);
	step(&n, NODE_EV_SHUTDOWN, NULL);
	STATE(&n, NODE_DONE);
	for (int i = 0; i < out.n; i++)
		cr_assert(!out.a[i].note, "%s", FMT_OUT(&out));
}

/* A reload's settings take over the next decision (here the restart
 * policy), and the role and failback the node joined with stay: the group
 * knows it by them. */
Test(node, reconfigure_applies_the_next_decision_and_keeps_the_role)
{
	struct node n;
	struct node_config cfg = config(LF_ROLE_PRIMARY);
	live_primary(&n, &cfg, LF_PAUSED);
	struct node_config next = config(LF_ROLE_BACKUP);
	next.restart = NODE_RESTART_NEVER;
	next.allow_failback = true;
	next.poll_ms = 250;
	node_reconfigure(&n, &next);
	STATE(&n, NODE_LIVE);
	cr_expect_eq(n.cfg.role, LF_ROLE_PRIMARY, "the role changed");
	cr_expect(!n.cfg.allow_failback, "allow_failback changed");
	cr_expect_eq(n.cfg.poll_ms, 250);
	step_exited(&n, W_EXITCODE(1, 0));
	STATE(&n, NODE_DONE);
	check_gives_up("restart never, by reload");
}

/* On a local file system the kernel hands a freed lock to its waiter at
 * once: a wait that watches nothing is cut only after the idle look (a net
 * for the node's slot record; the path's watch cuts it on a change), while
 * a primary keeping its failback request in the file reads it every poll
 * interval (protocol.md §4.3). Without an idle look (0, or shorter than
 * the poll interval), every wait is cut every poll interval. */
Test(node, only_a_wait_that_watches_the_file_is_cut_every_poll_interval)
{
	struct node n;
	struct node_config cfg = config(LF_ROLE_BACKUP);
	cfg.idle_look_ms = cfg.queue_look_ms = 60000;
	queued_backup(&n, &cfg);
	cr_expect_eq(wait_bound(&n), 60000, "a backup in line for the backup lock");
	struct lf_view v = view(LF_LIVE, LF_TARGET_ANY, LF_REC_OK);
	step(&n, NODE_EV_LOCKED, &v);
	STATE(&n, NODE_BACKUP);
	cr_expect_eq(wait_bound(&n), 60000, "the backup next in line");
	step(&n, NODE_EV_BUSY, NULL);
	cr_expect_eq(wait_bound(&n), 60000, "again after a cut");

	struct node_config pc = config(LF_ROLE_PRIMARY);
	pc.idle_look_ms = 60000;
	pc.allow_failback = true;
	start(&n, &pc);
	step(&n, NODE_EV_BUSY, NULL);
	STATE(&n, NODE_CLAIMING);
	cr_expect_eq(wait_bound(&n), 500, "a primary asking for failback watches the file");
	pc.allow_failback = false;
	start(&n, &pc);
	step(&n, NODE_EV_BUSY, NULL);
	STATE(&n, NODE_CLAIMING);
	cr_expect_eq(wait_bound(&n), 60000, "a primary that only waits");

	cfg.idle_look_ms = cfg.queue_look_ms = 0;
	queued_backup(&n, &cfg);
	cr_expect_eq(wait_bound(&n), 500, "no idle look: the poll interval");
}

/* The pace of the one wait in out, as the loop gives it to the storage
 * process: first and max in ms; false if out has no wait. */
static bool wait_pace(const struct node *n, int64_t *first, int64_t *max)
{
	for (int i = 0; i < out.n; i++)
		if (out.a[i].kind == NODE_A_WAIT_LIVE || out.a[i].kind == NODE_A_WAIT_BACKUP) {
			node_wait_pace(n, &out.a[i], first, max);
			return true;
		}
	return false;
}

/* Off a local file system every try of a lock is a call to the server,
 * paid while nothing happens. Only the node next in line (holding the
 * backup lock, or a primary claiming) tries the live lock every
 * LF_LOCK_RETRY_MS; a node queued behind it starts as fast, so that it is
 * in line soon after a hand-over or a takeover frees the backup lock,
 * then backs off to queue_try_ms, and after a cut (the lock was not free
 * for a whole look) goes on at that pace; its wait is cut only every
 * queue look (timeline.h: queue_try_ms, queue_look_ms). */
Test(node, only_the_node_next_in_line_tries_the_lock_closely)
{
	struct node n;
	struct node_config cfg = config(LF_ROLE_BACKUP);
	cfg.idle_look_ms = 500;
	cfg.queue_look_ms = 30000;
	cfg.queue_try_ms = 5000;
	int64_t first = 0, max = 0;
	queued_backup(&n, &cfg);
	cr_assert(wait_pace(&n, &first, &max));
	cr_expect_eq(first, LF_LOCK_RETRY_MS, "just queued: the first pause is the close pace");
	cr_expect_eq(max, 5000, "backing off to the queue's pace");
	cr_expect_eq(wait_bound(&n), 30000, "a queued node looks every queue look");

	step(&n, NODE_EV_BUSY, NULL);
	STATE(&n, NODE_QUEUED);
	cr_assert(wait_pace(&n, &first, &max));
	cr_expect_eq(first, 5000, "after a cut the wait goes on at the queue's pace");
	cr_expect_eq(max, 5000);

	/* Next in line: the live lock, closely, whatever the queue's pace. */
	struct lf_view v = view(LF_LIVE, LF_TARGET_ANY, LF_REC_OK);
	step(&n, NODE_EV_LOCKED, &v);
	STATE(&n, NODE_BACKUP);
	cr_assert(wait_pace(&n, &first, &max));
	cr_expect_eq(first, LF_LOCK_RETRY_MS);
	cr_expect_eq(max, LF_LOCK_RETRY_MS);
	cr_expect_eq(wait_bound(&n), 500, "the backup next in line looks every idle look");
	step(&n, NODE_EV_BUSY, NULL);
	cr_assert(wait_pace(&n, &first, &max));
	cr_expect_eq(max, LF_LOCK_RETRY_MS, "and stays close after a cut");

	struct node_config pc = config(LF_ROLE_PRIMARY);
	pc.queue_try_ms = 5000;
	start(&n, &pc);
	step(&n, NODE_EV_BUSY, NULL);
	STATE(&n, NODE_CLAIMING);
	cr_assert(wait_pace(&n, &first, &max));
	cr_expect_eq(max, LF_LOCK_RETRY_MS, "a primary claiming the live lock is next in line too");

	/* A queue pace no slower than the close one changes nothing. */
	cfg.queue_try_ms = 50;
	queued_backup(&n, &cfg);
	cr_assert(wait_pace(&n, &first, &max));
	cr_expect_eq(first, LF_LOCK_RETRY_MS);
	cr_expect_eq(max, LF_LOCK_RETRY_MS);
}
