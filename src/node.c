/* The node state machine. One table, actions[state][event], of small
 * functions; a NULL entry is an event that state ignores. Nothing here
 * makes a system call: facts come in with the event, actions go out in
 * order, and the loop (loop.c) carries them out. doc/protocol.md says
 * the same in prose and tables; change both together. */
#include "understudy/node.h"

#include <string.h>
#include <sys/wait.h>

typedef void action_fn(struct node *, const struct node_event_data *, struct node_out *);

static void emit(struct node_out *out, enum node_action_kind kind, int64_t arg)
{
	/* The table never emits more than NODE_MAX_ACTIONS for one event; the
	 * tests feed every event to every state to hold it to that. */
	if (out->n < NODE_MAX_ACTIONS)
		out->a[out->n++] = (struct node_action){ .kind = kind, .arg = arg };
}

/* An action that also writes an entry of the group's history saying why
 * the live role moves (format 1.3): the reason is decided here, with the
 * transition, never guessed by the executor. */
static void emit_noted(struct node_out *out, enum node_action_kind kind, int64_t arg, enum lf_event_reason why)
{
	int before = out->n;
	emit(out, kind, arg);
	if (out->n > before)
		out->a[out->n - 1].note = (uint8_t)why;
}

/* Move to a state and tell the group, through our slot, when what we
 * publish changes. */
static int64_t published(enum node_state s) { return node_slot_state(s) | (int64_t)node_slot_flags(s) << 8; }

/* A call on the lock file, unless the storage is lost: a node whose call
 * hangs (or whose rounds stopped) asks the storage for nothing more, so
 * nothing it still has to do (a kill, its exit) waits behind that call. */
static void emit_io(const struct node *n, struct node_out *out, enum node_action_kind kind, int64_t arg)
{
	if (!n->storage_lost)
		emit(out, kind, arg);
}

/* Both: a history-writing call, unless the storage is lost. */
static void emit_io_noted(const struct node *n, struct node_out *out, enum node_action_kind kind, int64_t arg,
			  enum lf_event_reason why)
{
	if (!n->storage_lost)
		emit_noted(out, kind, arg, why);
}

static void enter(struct node *n, enum node_state s, struct node_out *out)
{
	int64_t before = published(n->state);
	n->state = s;
	if (s != NODE_DONE && published(s) != before)
		emit_io(n, out, NODE_A_SLOT_STATE, published(s));
}

static void leave(struct node *n, int code, struct node_out *out)
{
	n->exit_code = code;
	n->state = NODE_DONE;
	emit(out, NODE_A_EXIT, code);
}

static bool alive_waiter(uint8_t state) { return state == LF_SLOT_QUEUED || state == LF_SLOT_WAITING; }

/* Major 1 has four status letters; any other byte is damage (a new letter
 * nodes must act on needs a new major, doc/protocol.md §2.6). */
static bool known_status(char s) { return s == LF_NEW || s == LF_LIVE || s == LF_PAUSED || s == LF_FAILBACK; }

/* A status that may mean the live node is gone without a clean stop: L,
 * or a byte too damaged to say it was not L. */
static bool crashed(char s) { return s == LF_LIVE || !known_status(s); }

/* Damage a read found that the holder of the live lock mends (doc/protocol.md
 * §5.10): a short file, a broken header, a live record that reads BAD or
 * EMPTY, bytes 3-18 that are not its id, a status byte that is neither L
 * nor F, our slot not ours. */
static bool damaged_for_live(const struct node_event_data *ev)
{
	const struct lf_view *v = ev->view;
	return (v->damage & (LF_DMG_SHORT | LF_DMG_HEADER)) || v->live_rec != LF_REC_OK ||
	       memcmp(v->node_id, v->live.id, LF_ID_SIZE) != 0 || (v->status != LF_LIVE && v->status != LF_FAILBACK) ||
	       ev->own_slot_bad;
}

/* Damage a waiting node sees: it decides as the bytes say (a lost record
 * reads EMPTY) and waits for the live node to mend the rest. */
static bool damaged_for_waiter(const struct lf_view *v) { return v->damage || !known_status(v->status); }

/* The highest epoch the file shows: the live record's, and the copies in
 * the slots (format 1.2), which survive a live record gone BAD. */
static uint64_t epoch_seen(const struct lf_view *v)
{
	uint64_t e = v->live_rec == LF_REC_OK && v->live.epoch <= LF_EPOCH_MAX ? v->live.epoch : 0;
	for (int i = 0; i < LF_SLOTS; i++)
		if (v->slot_rec[i] == LF_REC_OK && v->slots[i].epoch > e && v->slots[i].epoch <= LF_EPOCH_MAX)
			e = v->slots[i].epoch;
	return e;
}

enum node_verdict node_decide(const struct node *n, const struct node_event_data *ev)
{
	const struct lf_view *v = ev->view;
	switch (v->status) {
	case LF_LIVE:
		/* The live is gone (we hold its lock) without a clean stop. */
		return NODE_BECOME_LIVE;
	case LF_NEW:
	case LF_PAUSED:
		/* Nobody has been live, or the live stopped on purpose: only the
		 * primary starts the group. */
		return n->cfg.role == LF_ROLE_PRIMARY ? NODE_BECOME_LIVE : NODE_STAND_BY;
	case LF_FAILBACK:
		/* A request we cannot read is no request: treat F as L, so a torn
		 * or foreign write never leaves the group without a live node. */
		if (v->request_rec != LF_REC_OK)
			return NODE_BECOME_LIVE;
		/* The node that handed over for a request to anyone waits for
		 * the live lock too (a primary) and could win it back: it lets
		 * the request pass while a backup is there to take it. */
		if (v->request.target_slot == LF_TARGET_ANY && n->handed_over && v->request.seq == n->handed_seq &&
		    ev->backup_waiting)
			return NODE_YIELD;
		if (v->request.target_slot == LF_TARGET_ANY || v->request.target_slot == n->slot)
			return NODE_BECOME_LIVE;
		/* A request for a node that is gone is stale: a primary that died
		 * during failback must not leave the group without a live node. */
		if (!ev->target_alive)
			return NODE_BECOME_LIVE;
		return NODE_YIELD;
	default:
		/* A damaged status byte: it may have said L, N or P. The primary
		 * starts the group for each of these (after the takeover delay,
		 * as for L); a backup would start only for L, so it stands by. */
		return n->cfg.role == LF_ROLE_PRIMARY ? NODE_BECOME_LIVE : NODE_STAND_BY;
	}
}

/* Start the workload: it exists from now on (the loop forks it and its
 * tree is killed and reaped like any), but its exec may not return for
 * as long as its program's file system does not answer (STARTED ends the
 * wait). */
static void spawn(struct node *n, struct node_out *out)
{
	emit(out, NODE_A_SPAWN, 0);
	n->workload_running = true;
	n->exec_pending = true;
	n->killed = false;
}

/* How to stop the workload: SIGTERM with the stop timeout's grace, or at
 * once with SIGKILL when its exec is still pending. A process that has not
 * become its program yet has nothing to shut down cleanly, and its exec
 * may wait in the kernel on storage that may never answer: only a kill
 * ends that wait (and a SIGTERM would end it the same way, without the
 * stop timeout's bound being needed). */
static int64_t stop_arg(struct node *n)
{
	if (!n->exec_pending)
		return 0;
	n->killed = true;
	return 1;
}

/* Why this node takes the role, as the read it decided on shows it. */
static enum lf_event_reason takeover_reason(const struct node_event_data *ev)
{
	const struct lf_view *v = ev->view;
	switch (v->status) {
	case LF_NEW: return LF_EV_START;
	case LF_PAUSED: return LF_EV_RESUME;
	case LF_FAILBACK:
		if (v->request_rec != LF_REC_OK)
			return LF_EV_FAILOVER; /* read as L */
		return v->request.kind == LF_REQ_FAILBACK ? LF_EV_FAILBACK : LF_EV_SWITCHOVER;
	case LF_LIVE:
		/* A record of another file names one: an older node's record
		 * names none (file_id 0) and is an ordinary failover. */
		if (ev->foreign_record && v->live_rec == LF_REC_OK && v->live.file_id != 0)
			return LF_EV_NEW_FILE;
		return LF_EV_FAILOVER;
	default: return LF_EV_DAMAGED;
	}
}

static void take_over(struct node *n, const struct node_event_data *ev, enum lf_event_reason why, struct node_out *out)
{
	const struct lf_view *v = ev->view;
	/* Higher than any epoch this node has read, whatever the live record
	 * says now: a BAD one must not start the count again at 1. */
	uint64_t seen = epoch_seen(v);
	n->epoch = (seen > n->max_epoch ? seen : n->max_epoch) + 1;
	n->max_epoch = n->epoch;
	n->nrestarts = 0;
	n->stop = NODE_STOP_NONE;
	n->want_failback = false;
	n->handed_over = false;
	/* L and our record are on storage before the workload exists: a
	 * workload never runs under a status that would stop a failover. The
	 * fork comes right after that write: the backup lock and our slot's
	 * state are news for the other nodes, no condition of the start, and
	 * each is a storage call the group would otherwise wait on. */
	emit_noted(out, NODE_A_WRITE_LIVE, (int64_t)n->epoch, why);
	spawn(n, out);
	if (n->holds_backup) {
		emit(out, NODE_A_RELEASE_BACKUP, 0);
		n->holds_backup = false;
	}
	enter(n, NODE_STARTING, out);
	n->workload_failed = false; /* a mark of an earlier term's workload */
	if (n->cfg.ready_timeout_ms)
		emit(out, NODE_A_TIMER, n->cfg.ready_timeout_ms);
	out->why = v->status == LF_LIVE       ? "the live node is gone: taking over"
		   : v->status == LF_FAILBACK ? "hand-over for this node"
		   : v->status == LF_PAUSED   ? "group was paused: primary starts it"
		   : v->status == LF_NEW      ? "new group: primary starts it"
					 : "the status byte is damaged and nobody is live: primary starts the group";
}

/* The takeover noted as the read shows it: a hand-over for a request (F)
 * takes the request with it (the executor clears F for it); any other
 * leaves a request in the file for the new live node's first check. */
static void become_live(struct node *n, const struct node_event_data *ev, struct node_out *out)
{
	take_over(n, ev, takeover_reason(ev), out);
}

/* VERIFYING reads the file every verify_read_ms, counted from when the
 * last read was asked for, as the live node's rounds are: the fence clock
 * the loop runs meanwhile needs completed reads, and the wait's end needs
 * one read asked for after it. */
static void verify_next_read(struct node *n, int64_t now, struct node_out *out)
{
	int64_t at = n->verify_until;
	if (n->cfg.verify_read_ms > 0 && n->verify_read_at + n->cfg.verify_read_ms < at)
		at = n->verify_read_at + n->cfg.verify_read_ms;
	emit(out, NODE_A_TIMER, at > now ? at - now : 0);
}

/* We hold the live lock: take the role, stand by, or let another pass.
 * waited: this hold of the lock has already waited in VERIFYING. */
static void take_role(struct node *n, const struct node_event_data *ev, struct node_out *out, bool waited)
{
	/* A file another format's program has taken over is no group to
	 * start: wait, as for a paused one, and say so once. */
	bool other_format = ev->view->damage & LF_DMG_FOREIGN;
	enum node_verdict verdict = other_format ? NODE_STAND_BY : node_decide(n, ev);
	bool was_standing_by = n->standing_by;
	n->standing_by = verdict == NODE_STAND_BY;
	switch (verdict) {
	case NODE_BECOME_LIVE: {
		const struct lf_view *v = ev->view;
		/* After a crash on shared storage the old live may only be cut
		 * off, not dead: wait until it must have fenced itself. */
		bool crash = crashed(v->status) && n->cfg.takeover_delay_ms > 0;
		/* A live record not written on this very file: the file is new,
		 * or was copied, restored or moved in. A live node of the file
		 * that was at the path before may still run; its next check
		 * finds the path names another file and it fences. Wait for
		 * that, as for a crash. */
		bool foreign = ev->foreign_record && n->cfg.new_file_wait_ms > 0;
		if (!waited && (crash || foreign)) {
			n->seen_ok = v->live_rec == LF_REC_OK;
			n->seen_heartbeat = v->live.heartbeat;
			n->seen_epoch = v->live.epoch;
			n->new_file = foreign;
			int64_t delay = crash ? n->cfg.takeover_delay_ms : 0;
			if (foreign && n->cfg.new_file_wait_ms > delay)
				delay = n->cfg.new_file_wait_ms;
			/* The read that came with the lock is the first of
			 * the wait's reads: the next one is due a period on. */
			n->verify_until = ev->now_ms + delay;
			n->verify_read_at = ev->now_ms;
			enter(n, NODE_VERIFYING, out);
			verify_next_read(n, ev->now_ms, out);
			out->why = foreign ? "the lock file is new, or its live record was written on another file: "
					     "waiting for any live node of an earlier file at this path to fence"
					   : "the live node is gone: waiting out the takeover delay before starting";
			return;
		}
		become_live(n, ev, out);
		return;
	}
	case NODE_STAND_BY:
		emit(out, NODE_A_RELEASE_LIVE, 0);
		/* A primary waits for the live lock itself, never behind a
		 * backup that may stand by forever in a paused group. */
		if (n->cfg.role == LF_ROLE_PRIMARY)
			enter(n, NODE_CLAIMING, out);
		emit(out, NODE_A_TIMER, n->cfg.poll_ms);
		if (damaged_for_waiter(ev->view)) {
			if (!n->damage_said)
				out->why = other_format ? "the lock file has another format's header now: standing by"
							: "the lock file is damaged: standing by for the live node to "
							  "repair it";
			out->loud = !n->damage_said;
			n->damage_said = true;
		} else if (!was_standing_by) { /* once, not every poll interval */
			out->why = "group is paused or new: standing by";
		}
		return;
	case NODE_YIELD:
		if (waited) {
			/* This node held the live lock through the whole takeover
			 * delay or new-file wait, and a request for another node
			 * came meanwhile. Letting it pass would throw the wait away:
			 * the node it names finds the same file and must wait all
			 * over again, the group without a workload twice as long
			 * (found by the soak test on the GlusterFS rig: 3 s more,
			 * 12 s at the defaults). Start instead, the request left in
			 * the file: the first check hands over to that node, which
			 * then takes a clean hand-over without a wait. */
			take_over(n, ev, n->new_file ? LF_EV_NEW_FILE : LF_EV_FAILOVER, out);
			out->why =
				"waited out the delay, and a hand-over to another node came meanwhile: starting, and "
				"handing over at the first check";
			return;
		}
		emit(out, NODE_A_RELEASE_LIVE, 0);
		if (n->holds_backup) {
			emit(out, NODE_A_RELEASE_BACKUP, 0);
			n->holds_backup = false;
		}
		enter(n, n->cfg.role == LF_ROLE_PRIMARY ? NODE_CLAIMING : NODE_QUEUED, out);
		emit(out, NODE_A_TIMER, n->cfg.poll_ms);
		out->why = "hand-over names another node: letting it pass";
		return;
	}
}

static void on_live_lock(struct node *n, const struct node_event_data *ev, struct node_out *out)
{
	take_role(n, ev, out, false);
}

/* Wait for the live role: a primary for the live lock itself, a backup
 * in line for the backup lock first. */
static void wait_again(struct node *n, struct node_out *out)
{
	if (n->cfg.role == LF_ROLE_PRIMARY) {
		enter(n, NODE_CLAIMING, out);
		emit(out, NODE_A_WAIT_LIVE, n->want_failback);
	} else {
		enter(n, NODE_QUEUED, out);
		emit(out, NODE_A_WAIT_BACKUP, 0);
	}
}

/* Stopping is over, or there was nothing to stop: finish by reason. */
static void finish_stop(struct node *n, struct node_out *out)
{
	enum node_stop_reason why = n->stop;
	n->stop = NODE_STOP_NONE;
	switch (why) {
	case NODE_STOP_SHUTDOWN:
		if (!n->cfg.failover_on_shutdown)
			emit_io_noted(n, out, NODE_A_WRITE_STATUS, LF_PAUSED, LF_EV_PAUSE);
		emit_io_noted(n, out, NODE_A_RELEASE_LIVE, 0,
			      n->cfg.failover_on_shutdown ? LF_EV_SHUTDOWN : LF_EV_NONE);
		out->why = n->cfg.failover_on_shutdown ? "shut down, left L for a backup" : "shut down, group paused";
		leave(n, NODE_EXIT_OK, out);
		return;
	case NODE_STOP_FINISHED:
		emit_io_noted(n, out, NODE_A_WRITE_STATUS, LF_PAUSED, LF_EV_FINISHED);
		emit_io(n, out, NODE_A_RELEASE_LIVE, 0);
		out->why = "workload finished: group paused";
		leave(n, NODE_EXIT_OK, out);
		return;
	case NODE_STOP_GIVEUP:
	case NODE_STOP_NONE:
		/* Status stays L: a backup takes over. A node fenced by an
		 * error says so if the storage still takes the write; with the
		 * storage lost the exit releases the lock, whenever the storage
		 * lets it. */
		emit_io_noted(n, out, NODE_A_RELEASE_LIVE, 0,
			      n->exit_code == NODE_EXIT_IO ? LF_EV_FENCED : LF_EV_GIVE_UP);
		leave(n, n->exit_code ? n->exit_code : NODE_EXIT_WORKLOAD, out);
		return;
	case NODE_STOP_HANDOVER:
		/* Status stays F, so that the node it names takes the role. */
		emit_io_noted(n, out, NODE_A_RELEASE_LIVE, 0, LF_EV_HAND_OVER);
		if (n->shutdown) {
			out->why = "handed over and shut down";
			leave(n, NODE_EXIT_OK, out);
			return;
		}
		/* Back to waiting, without asking for the role again: that
		 * would undo the switchover that just moved it away. */
		wait_again(n, out);
		out->why = "handed over: waiting again";
		return;
	}
}

static void stop_workload(struct node *n, enum node_stop_reason why, struct node_out *out)
{
	n->stop = why;
	if (!n->workload_running) {
		finish_stop(n, out);
		return;
	}
	enter(n, NODE_STOPPING, out);
	emit(out, NODE_A_STOP, stop_arg(n));
}

/* --- JOINING -------------------------------------------------------------- */

static void joining_joined(struct node *n, const struct node_event_data *ev, struct node_out *out)
{
	n->slot = ev->slot;
	/* Two nodes of one name would both answer is-live for it. The check
	 * comes after our own record is written, so of two nodes of one name
	 * joining at once the later reader always sees the earlier: at least
	 * one refuses (both may). */
	if (ev->name_taken) {
		out->why = "another node alive in the group has this node's name: refusing to join";
		out->loud = true;
		leave(n, NODE_EXIT_CONFIG, out);
		return;
	}
	if (n->cfg.role == LF_ROLE_PRIMARY) {
		emit(out, NODE_A_TRY_LIVE, 0);
		out->why = "primary: trying the live lock";
		return;
	}
	enter(n, NODE_QUEUED, out);
	emit(out, NODE_A_WAIT_BACKUP, 0);
	out->why = "backup: queuing for the backup lock";
}

/* The primary's try at start failed: another node holds the live lock.
 * It waits for that lock itself, asking for it back with failback. */
static void joining_busy(struct node *n, const struct node_event_data *ev, struct node_out *out)
{
	(void)ev;
	enter(n, NODE_CLAIMING, out);
	if (n->cfg.allow_failback) {
		n->want_failback = true;
		emit(out, NODE_A_REQUEST_FAILBACK, 0);
		out->why = "another node is live: asking for failback";
	} else {
		out->why = "another node is live: waiting for the live lock";
	}
	emit(out, NODE_A_WAIT_LIVE, n->want_failback);
}

/* --- QUEUED, BACKUP, CLAIMING ---------------------------------------------- */

/* A waiting node whose slot record was lost to damage (the live node
 * mended the file's length, but only its own records) writes it again:
 * a node missing from the slots is no hand-over target and its name is
 * free for a duplicate. */
static void rewrite_own_slot(struct node *n, const struct node_event_data *ev, struct node_out *out)
{
	if (!ev->own_slot_bad)
		return;
	emit(out, NODE_A_SLOT_STATE, published(n->state));
	out->why = "this node's slot record was damaged: writing it again";
	out->loud = true;
}

/* The queue's wait again: after a cut, at the slow pace it had reached
 * (the backup lock was not free all that time); after a timer (a failed
 * call's pause), from the start. */
static void wait_backup(struct node *n, const struct node_event_data *ev, struct node_out *out)
{
	rewrite_own_slot(n, ev, out);
	emit(out, NODE_A_WAIT_BACKUP, ev->type == NODE_EV_BUSY);
}

static void queued_locked(struct node *n, const struct node_event_data *ev, struct node_out *out)
{
	(void)ev;
	n->holds_backup = true;
	enter(n, NODE_BACKUP, out);
	emit(out, NODE_A_WAIT_LIVE, 0);
	out->why = "holding the backup lock: next in line";
}

static void wait_live(struct node *n, const struct node_event_data *ev, struct node_out *out)
{
	rewrite_own_slot(n, ev, out);
	emit(out, NODE_A_WAIT_LIVE, n->want_failback);
}

/* A primary asking for failback keeps its request in the file: a new live
 * writes L over it, so it writes the request again until it is served. */
static void claiming_busy(struct node *n, const struct node_event_data *ev, struct node_out *out)
{
	const struct lf_view *v = ev->view;
	bool ours = v && v->status == LF_FAILBACK && v->request_rec == LF_REC_OK && v->request.target_slot == n->slot;
	rewrite_own_slot(n, ev, out);
	/* A request needs a group with a live node (status L or F): a status
	 * byte lost to damage is mended by the live node first. */
	if (n->want_failback && v && !ours && known_status(v->status)) {
		emit(out, NODE_A_REQUEST_FAILBACK, 0);
		out->why = "failback request was overwritten: asking again";
	}
	emit(out, NODE_A_WAIT_LIVE, n->want_failback);
}

static void leave_now(struct node *n, const struct node_event_data *ev, struct node_out *out)
{
	(void)ev;
	out->why = "shut down while not live";
	leave(n, NODE_EXIT_OK, out);
}

static void storage_failed(struct node *n, const struct node_event_data *ev, struct node_out *out)
{
	(void)ev;
	out->why = "the lock file failed";
	out->loud = true;
	leave(n, NODE_EXIT_IO, out);
}

/* A waiting node has no workload to kill: it leaves, asking the storage
 * for nothing more (its exit releases the locks once the call returns). The
 * loop measures the fence deadline only while the node holds the live lock,
 * so a FENCE here is one it sent just before the node let go: left likewise. */
static void storage_lost_waiting(struct node *n, const struct node_event_data *ev, struct node_out *out)
{
	n->storage_lost = true;
	out->why = ev->type == NODE_EV_FENCE ? "no heartbeat round completed within the fence timeout: leaving"
					     : "a call on the lock file hangs: leaving";
	out->loud = true;
	leave(n, NODE_EXIT_IO, out);
}

/* --- VERIFYING ------------------------------------------------------------- */

/* A read of the wait, or the one after it: its completion is a round of
 * the fence clock, which runs from the lock grant (no write to count). */
static void verifying_timer(struct node *n, const struct node_event_data *ev, struct node_out *out)
{
	n->verify_read_at = ev->now_ms;
	emit(out, NODE_A_READ, 1);
}

/* Every read of the wait: the old live's record must stand still, and the
 * wait ends with a read asked for after it. A record that changed while
 * this node held the live lock was written by a node that thinks it is
 * live: never start beside it. */
static void verifying_tick(struct node *n, const struct node_event_data *ev, struct node_out *out)
{
	const struct lf_view *v = ev->view;
	bool ok = v->live_rec == LF_REC_OK;
	bool moved =
		ok != n->seen_ok || (ok && (v->live.heartbeat != n->seen_heartbeat || v->live.epoch != n->seen_epoch));
	if (moved) {
		/* It writes, so it runs: its storage gave its lock away while
		 * it could still reach the file. Never start a second copy. */
		emit(out, NODE_A_RELEASE_LIVE, 0);
		enter(n, n->holds_backup ? NODE_BACKUP : NODE_CLAIMING, out);
		emit(out, NODE_A_TIMER, n->cfg.poll_ms);
		out->why = "the old live node's heartbeat advanced: it still runs without its lock; not taking over";
		out->loud = true;
		return;
	}
	if (n->verify_read_at < n->verify_until) {
		verify_next_read(n, ev->now_ms, out);
		return;
	}
	if (!crashed(v->status) || (v->damage & LF_DMG_FOREIGN)) {
		/* A request came meanwhile: decide again, as from the state that
		 * waited for the lock (standing by keeps that state). */
		n->state = n->holds_backup ? NODE_BACKUP : NODE_CLAIMING;
		take_role(n, ev, out, true);
		return;
	}
	become_live(n, ev, out);
}

/* No read of the wait completed within the fence timeout, or one hangs:
 * the storage may give the live lock away unseen, and a read that lands
 * later would find the old record unchanged and start beside the node that
 * got the lock (doc/fencing.md, "What the timed model showed"). Give the
 * takeover up: leave, asking the storage for nothing (the exit releases
 * the locks), and join again as a waiting node. */
static void verifying_storage_lost(struct node *n, const struct node_event_data *ev, struct node_out *out)
{
	n->storage_lost = true;
	out->why = ev->type == NODE_EV_FENCE
			   ? "no read of the lock file completed within the fence timeout during the "
			     "takeover delay: giving up the takeover"
			   : "a call on the lock file hangs during the takeover delay: giving up the takeover";
	out->loud = true;
	leave(n, NODE_EXIT_IO, out);
}

/* --- LIVE ------------------------------------------------------------------ */

/* The live record must be the one we wrote: if another epoch or slot is
 * there, another node became live (the storage gave our lock away). */
static bool record_ours(const struct node *n, const struct lf_view *v)
{
	return v->live_rec == LF_REC_OK && v->live.epoch == n->epoch && v->live.slot == n->slot;
}

/* SIGKILL to the running workload's whole tree, once. */
static void kill_now(struct node *n, struct node_out *out)
{
	if (!n->workload_running || n->killed)
		return;
	n->killed = true;
	emit(out, NODE_A_STOP, 1);
}

/* Kill the workload at once, never to start it again in this life. The
 * kill first: the hook after it and the slot write after that may take
 * time or hang on the storage that caused the fence, and nothing may wait
 * for either. Then the node leaves with 74 once the tree is gone. */
static void fence(struct node *n, const char *why, struct node_out *out)
{
	n->exit_code = NODE_EXIT_IO;
	n->stop = NODE_STOP_GIVEUP;
	out->why = why;
	out->loud = true;
	kill_now(n, out);
	if (!n->fenced) {
		n->fenced = true;
		emit(out, NODE_A_FENCE_HOOK, 0);
	}
	if (!n->workload_running) {
		finish_stop(n, out);
		return;
	}
	enter(n, NODE_STOPPING, out);
}

/* The storage cannot be asked any more: a call on it hangs, or no
 * heartbeat round completed within the fence timeout (the storage may give
 * our lock away any moment). Fence without a call on the storage. */
static void live_storage_lost(struct node *n, const struct node_event_data *ev, struct node_out *out)
{
	n->storage_lost = true;
	fence(n,
	      ev->type == NODE_EV_FENCE
		      ? "fenced: no heartbeat round completed within the fence timeout; killing the workload"
		      : "fenced: a call on the lock file hangs; killing the workload",
	      out);
}

static void stopping_storage_lost(struct node *n, const struct node_event_data *ev, struct node_out *out)
{
	n->storage_lost = true;
	fence(n,
	      ev->type == NODE_EV_FENCE
		      ? "fenced: no heartbeat round completed within the fence timeout, while stopping"
		      : "fenced: a call on the lock file hangs, while stopping",
	      out);
}

/* Damage the live node finds is mended, not fenced for (doc/protocol.md
 * §5.10): fencing left L nowhere and wrote our slot into a truncated
 * file, which every node then refused as not ours. What it never mends
 * is another node's good live record (that node took the role: fence) or
 * a file another format's program has taken over. */
static void live_tick(struct node *n, const struct node_event_data *ev, struct node_out *out)
{
	const struct lf_view *v = ev->view;
	if (v->damage & LF_DMG_FOREIGN) {
		fence(n, "fenced: the lock file has another format's header now; killing the workload", out);
		return;
	}
	if (v->live_rec == LF_REC_OK && !record_ours(n, v)) {
		fence(n, "fenced: the live record is another node's; killing the workload", out);
		return;
	}
	if (damaged_for_live(ev)) {
		emit(out, NODE_A_REPAIR, (int64_t)n->epoch);
		out->why = "the lock file is damaged: repairing what the live node owns";
		out->loud = true;
		return;
	}
	if (v->status != LF_FAILBACK)
		return;
	const struct lf_request *r = &v->request;
	bool go;
	if (v->request_rec != LF_REC_OK || r->target_slot == n->slot)
		go = false;
	else if (r->target_slot == LF_TARGET_ANY)
		go = ev->backup_waiting;
	else
		go = ev->target_alive && alive_waiter(ev->target_state);
	if (!go) {
		/* Never stop the live when nobody can take over: refuse by
		 * writing L back, which the requester sees; only this request
		 * is refused, not one that arrived since the read. */
		emit(out, NODE_A_REFUSE, v->request_rec == LF_REC_OK ? (int64_t)r->seq : -1);
		out->why = v->request_rec == LF_REC_OK && r->target_slot == n->slot
				   ? "request names this node, already live: cleared"
				   : "hand-over refused: no such node is waiting";
		return;
	}
	out->why =
		r->kind == LF_REQ_FAILBACK ? "failback requested: handing over" : "switchover requested: handing over";
	n->handed_over = true;
	n->handed_seq = r->seq;
	stop_workload(n, NODE_STOP_HANDOVER, out);
}

static int64_t backoff(const struct node *n, int k)
{
	int64_t d = n->cfg.backoff_ms;
	while (k-- > 0 && d < n->cfg.backoff_max_ms)
		d *= 2;
	return d < n->cfg.backoff_max_ms ? d : n->cfg.backoff_max_ms;
}

static void live_exited(struct node *n, const struct node_event_data *ev, struct node_out *out)
{
	n->workload_running = false;
	n->exec_pending = false;
	/* One stopped for not becoming ready, or for a silent watchdog,
	 * failed however it exited. */
	bool clean = WIFEXITED(ev->wstatus) && WEXITSTATUS(ev->wstatus) == 0 && !n->workload_failed;
	n->workload_failed = false;
	if (clean && n->cfg.restart != NODE_RESTART_ALWAYS) {
		out->why = "workload exited 0";
		n->stop = NODE_STOP_FINISHED;
		finish_stop(n, out);
		return;
	}
	if (n->cfg.restart == NODE_RESTART_NEVER) {
		out->why = "workload failed and --restart is never: leaving it to a backup";
		out->loud = true;
		n->stop = NODE_STOP_GIVEUP;
		finish_stop(n, out);
		return;
	}
	/* Keep only the restarts within the window, oldest first. */
	int kept = 0;
	for (int i = 0; i < n->nrestarts; i++)
		if (ev->now_ms - n->restart_at[i] < n->cfg.restart_window_ms)
			n->restart_at[kept++] = n->restart_at[i];
	n->nrestarts = kept;
	if (n->nrestarts >= n->cfg.max_restarts || n->nrestarts >= NODE_RESTART_HISTORY) {
		out->why = "workload failed, restarts exhausted: leaving it to a backup";
		out->loud = true;
		n->stop = NODE_STOP_GIVEUP;
		finish_stop(n, out);
		return;
	}
	/* Not ready again until the new one says so. */
	enter(n, NODE_STARTING, out);
	emit(out, NODE_A_TIMER, backoff(n, n->nrestarts));
	n->restart_at[n->nrestarts++] = ev->now_ms;
	out->why = clean ? "workload exited 0: restarting after back-off (--restart always)"
			 : "workload failed: restarting after back-off";
	/* A failure is news for whoever watches warnings; an exit 0 under
	 * --restart always is the policy working. */
	out->loud = !clean;
}

/* The workload runs but fails: stop it (SIGTERM, then SIGKILL after the
 * stop timeout); its exit then goes through the restart policy. */
static void fail_workload(struct node *n, const char *why, struct node_out *out)
{
	if (!n->workload_running || n->workload_failed)
		return;
	n->workload_failed = true;
	emit(out, NODE_A_STOP, stop_arg(n));
	out->why = why;
	out->loud = true;
}

static void live_unhealthy(struct node *n, const struct node_event_data *ev, struct node_out *out)
{
	(void)ev;
	fail_workload(n, "the workload stopped petting its watchdog: stopping it as failed", out);
}

/* --- STARTING -------------------------------------------------------------- */

/* The back-off after an exit is over, or the ready timeout ran out. */
static void starting_timer(struct node *n, const struct node_event_data *ev, struct node_out *out)
{
	(void)ev;
	if (n->workload_running) {
		fail_workload(n, "the workload did not become ready in time: stopping it as failed", out);
		return;
	}
	spawn(n, out);
	if (n->cfg.ready_timeout_ms)
		emit(out, NODE_A_TIMER, n->cfg.ready_timeout_ms);
	out->why = "restarting the workload";
}

static void starting_ready(struct node *n, const struct node_event_data *ev, struct node_out *out)
{
	(void)ev;
	if (!n->workload_running || n->workload_failed)
		return; /* a late word from a workload on its way out */
	enter(n, NODE_LIVE, out);
	out->why = "the workload is ready";
}

/* The exec returned: the workload is its program now, and a stop gives
 * it the stop timeout's grace. */
static void exec_done(struct node *n, const struct node_event_data *ev, struct node_out *out)
{
	(void)ev, (void)out;
	n->exec_pending = false;
}

static void live_spawn_failed(struct node *n, const struct node_event_data *ev, struct node_out *out)
{
	(void)ev;
	n->workload_running = false;
	n->exec_pending = false;
	n->stop = NODE_STOP_GIVEUP;
	n->exit_code = NODE_EXIT_WORKLOAD;
	out->why = "workload could not be started";
	out->loud = true;
	finish_stop(n, out);
}

static void live_shutdown(struct node *n, const struct node_event_data *ev, struct node_out *out)
{
	(void)ev;
	n->shutdown = true;
	out->why = "signal: stopping the workload";
	stop_workload(n, NODE_STOP_SHUTDOWN, out);
}

static void live_storage_error(struct node *n, const struct node_event_data *ev, struct node_out *out)
{
	(void)ev;
	fence(n, "fenced: the lock file failed; killing the workload", out);
}

/* --- the path names another file ----------------------------------------------- */

/* Deleted, renamed away or replaced: nodes that start now find another
 * file, or none, and never this one. A node that waits leaves it and
 * joins again on whatever the path names (with --after-fence rejoin). */
static void replaced_waiting(struct node *n, const struct node_event_data *ev, struct node_out *out)
{
	(void)ev;
	out->why = "the lock file's path names another file now (deleted, renamed or replaced): leaving this one";
	out->loud = true;
	leave(n, NODE_EXIT_IO, out);
}

/* The live node must not go on as live on a file nobody else can find: a
 * node that starts on the new one waits for this (protocol.md §5.8). */
static void live_replaced(struct node *n, const struct node_event_data *ev, struct node_out *out)
{
	(void)ev;
	fence(n,
	      "fenced: the lock file was deleted, renamed or replaced (its path names another file now); "
	      "killing the workload",
	      out);
}

/* --- STOPPING -------------------------------------------------------------- */

static void stopping_exited(struct node *n, const struct node_event_data *ev, struct node_out *out)
{
	(void)ev;
	n->workload_running = false;
	n->exec_pending = false;
	n->workload_failed = false;
	n->killed = false;
	finish_stop(n, out);
}

/* The first signal while stopping (for a hand-over, or a fence) is
 * remembered: a hand-over in progress then exits, not requeues. A second
 * one, the first having asked for the stop already, is the operator who
 * will not wait out the stop timeout: SIGKILL to the tree now. */
static void stopping_shutdown(struct node *n, const struct node_event_data *ev, struct node_out *out)
{
	(void)ev;
	if (!n->shutdown) {
		n->shutdown = true;
		return;
	}
	if (!n->workload_running || n->killed)
		return;
	kill_now(n, out);
	out->why = "signal again: SIGKILL to the workload's whole tree now";
	out->loud = true;
}

/* No more grace: kill what is left, and say so with on-fence. */
static void stopping_storage_error(struct node *n, const struct node_event_data *ev, struct node_out *out)
{
	(void)ev;
	fence(n, "fenced: the lock file failed while stopping", out);
}

/* Stopping for a hand-over or shutdown still holds the role; if another
 * node has it, what is left of the workload dies now. */
static void stopping_tick(struct node *n, const struct node_event_data *ev, struct node_out *out)
{
	const struct lf_view *v = ev->view;
	if (n->stop == NODE_STOP_GIVEUP)
		return; /* fenced already: it writes nothing more */
	bool foreign = v->damage & LF_DMG_FOREIGN;
	if (foreign || (v->live_rec == LF_REC_OK && !record_ours(n, v))) {
		stopping_storage_error(n, ev, out);
		out->why = foreign ? "fenced: the lock file has another format's header now, while stopping"
				   : "fenced: the live record is another node's while stopping";
		return;
	}
	if (damaged_for_live(ev)) {
		emit(out, NODE_A_REPAIR, (int64_t)n->epoch);
		out->why = "the lock file is damaged: repairing what the live node owns while stopping";
		out->loud = true;
	}
}

static void stopping_replaced(struct node *n, const struct node_event_data *ev, struct node_out *out)
{
	if (n->stop == NODE_STOP_GIVEUP)
		return; /* killed already */
	stopping_storage_error(n, ev, out);
	out->why = "fenced: the lock file's path names another file now, while stopping";
}

/* --- DONE --------------------------------------------------------------- */

/* The decision to leave stands when a call before its EXIT failed or hung:
 * the EXIT that call cut short comes again, and nothing else. */
static void done_cut_short(struct node *n, const struct node_event_data *ev, struct node_out *out)
{
	if (ev->type != NODE_EV_STORAGE_ERROR)
		n->storage_lost = true;
	if (ev->unrun & NODE_ACTION_BIT(NODE_A_EXIT))
		emit(out, NODE_A_EXIT, n->exit_code);
}

/* --- the table --------------------------------------------------------------- */

static action_fn *const actions[NODE_NSTATES][NODE_NEVENTS] = {
	[NODE_JOINING] = {
		[NODE_EV_JOINED] = joining_joined,
		[NODE_EV_LOCKED] = on_live_lock,
		[NODE_EV_BUSY] = joining_busy,
		[NODE_EV_SHUTDOWN] = leave_now,
		[NODE_EV_STORAGE_ERROR] = storage_failed,
		[NODE_EV_REPLACED] = replaced_waiting,
		[NODE_EV_FENCE] = storage_lost_waiting,
		[NODE_EV_STORAGE_HUNG] = storage_lost_waiting,
	},
	[NODE_QUEUED] = {
		[NODE_EV_LOCKED] = queued_locked,
		[NODE_EV_BUSY] = wait_backup,
		[NODE_EV_TIMER] = wait_backup,
		[NODE_EV_SHUTDOWN] = leave_now,
		[NODE_EV_STORAGE_ERROR] = storage_failed,
		[NODE_EV_REPLACED] = replaced_waiting,
		[NODE_EV_FENCE] = storage_lost_waiting,
		[NODE_EV_STORAGE_HUNG] = storage_lost_waiting,
	},
	[NODE_BACKUP] = {
		[NODE_EV_LOCKED] = on_live_lock,
		[NODE_EV_BUSY] = wait_live,
		[NODE_EV_TIMER] = wait_live,
		[NODE_EV_SHUTDOWN] = leave_now,
		[NODE_EV_STORAGE_ERROR] = storage_failed,
		[NODE_EV_REPLACED] = replaced_waiting,
		[NODE_EV_FENCE] = storage_lost_waiting,
		[NODE_EV_STORAGE_HUNG] = storage_lost_waiting,
	},
	[NODE_CLAIMING] = {
		[NODE_EV_LOCKED] = on_live_lock,
		[NODE_EV_BUSY] = claiming_busy,
		[NODE_EV_TIMER] = wait_live,
		[NODE_EV_SHUTDOWN] = leave_now,
		[NODE_EV_STORAGE_ERROR] = storage_failed,
		[NODE_EV_REPLACED] = replaced_waiting,
		[NODE_EV_FENCE] = storage_lost_waiting,
		[NODE_EV_STORAGE_HUNG] = storage_lost_waiting,
	},
	[NODE_VERIFYING] = {
		[NODE_EV_TIMER] = verifying_timer,
		[NODE_EV_TICK] = verifying_tick,
		[NODE_EV_SHUTDOWN] = leave_now,
		[NODE_EV_STORAGE_ERROR] = storage_failed,
		[NODE_EV_REPLACED] = replaced_waiting,
		[NODE_EV_FENCE] = verifying_storage_lost,
		[NODE_EV_STORAGE_HUNG] = verifying_storage_lost,
	},
	[NODE_STARTING] = {
		[NODE_EV_TICK] = live_tick,
		[NODE_EV_TIMER] = starting_timer,
		[NODE_EV_STARTED] = exec_done,
		[NODE_EV_READY] = starting_ready,
		[NODE_EV_EXITED] = live_exited,
		[NODE_EV_SPAWN_FAILED] = live_spawn_failed,
		[NODE_EV_SHUTDOWN] = live_shutdown,
		[NODE_EV_STORAGE_ERROR] = live_storage_error,
		[NODE_EV_UNHEALTHY] = live_unhealthy,
		[NODE_EV_REPLACED] = live_replaced,
		[NODE_EV_FENCE] = live_storage_lost,
		[NODE_EV_STORAGE_HUNG] = live_storage_lost,
	},
	[NODE_LIVE] = {
		[NODE_EV_TICK] = live_tick,
		[NODE_EV_EXITED] = live_exited,
		[NODE_EV_SHUTDOWN] = live_shutdown,
		[NODE_EV_STORAGE_ERROR] = live_storage_error,
		[NODE_EV_UNHEALTHY] = live_unhealthy,
		[NODE_EV_REPLACED] = live_replaced,
		[NODE_EV_FENCE] = live_storage_lost,
		[NODE_EV_STORAGE_HUNG] = live_storage_lost,
	},
	[NODE_STOPPING] = {
		[NODE_EV_STARTED] = exec_done,
		[NODE_EV_EXITED] = stopping_exited,
		[NODE_EV_SPAWN_FAILED] = stopping_exited,
		[NODE_EV_TICK] = stopping_tick,
		[NODE_EV_SHUTDOWN] = stopping_shutdown,
		[NODE_EV_STORAGE_ERROR] = stopping_storage_error,
		[NODE_EV_REPLACED] = stopping_replaced,
		[NODE_EV_FENCE] = stopping_storage_lost,
		[NODE_EV_STORAGE_HUNG] = stopping_storage_lost,
	},
	[NODE_DONE] = {
		[NODE_EV_STORAGE_ERROR] = done_cut_short,
		[NODE_EV_FENCE] = done_cut_short,
		[NODE_EV_STORAGE_HUNG] = done_cut_short,
	},
};

void node_init(struct node *n, const struct node_config *cfg, struct node_out *out)
{
	memset(n, 0, sizeof(*n));
	n->cfg = *cfg;
	n->state = NODE_JOINING;
	n->slot = -1;
	memset(out, 0, sizeof(*out));
	emit(out, NODE_A_CLAIM_SLOT, 0);
	out->why = "joining the group";
}

void node_reconfigure(struct node *n, const struct node_config *cfg)
{
	/* The role and failback are what the node joined with: the group
	 * knows it by them, and they decided its way in. */
	enum lf_role role = n->cfg.role;
	bool allow_failback = n->cfg.allow_failback;
	n->cfg = *cfg;
	n->cfg.role = role;
	n->cfg.allow_failback = allow_failback;
}

void node_step(struct node *n, const struct node_event_data *ev, struct node_out *out)
{
	memset(out, 0, sizeof(*out));
	if ((unsigned)n->state >= NODE_NSTATES || (unsigned)ev->type >= NODE_NEVENTS)
		return;
	/* Facts that need a view are useless without one. */
	if (!ev->view && (ev->type == NODE_EV_LOCKED || ev->type == NODE_EV_TICK) && n->state != NODE_QUEUED)
		return;
	if (ev->view) {
		/* Remember the highest epoch read, for the next term as live;
		 * and a file read whole again ends an episode of damage. */
		uint64_t e = epoch_seen(ev->view);
		if (e > n->max_epoch)
			n->max_epoch = e;
		if (!damaged_for_waiter(ev->view))
			n->damage_said = false;
	}
	/* A call that failed or hung cut its list short: a SPAWN in the rest
	 * never ran, so no workload of it can be running. */
	if ((ev->type == NODE_EV_STORAGE_ERROR || ev->type == NODE_EV_STORAGE_HUNG || ev->type == NODE_EV_FENCE) &&
	    (ev->unrun & NODE_ACTION_BIT(NODE_A_SPAWN)))
		n->workload_running = n->exec_pending = false;
	action_fn *f = actions[n->state][ev->type];
	if (f)
		f(n, ev, out);
}

const char *node_state_name(enum node_state s)
{
	static const char *const names[] = {
		[NODE_JOINING] = "joining",   [NODE_QUEUED] = "queued",       [NODE_BACKUP] = "backup",
		[NODE_CLAIMING] = "claiming", [NODE_VERIFYING] = "verifying", [NODE_STARTING] = "starting",
		[NODE_LIVE] = "live",         [NODE_STOPPING] = "stopping",   [NODE_DONE] = "done",
	};
	return (unsigned)s < NODE_NSTATES ? names[s] : "unknown";
}

const char *node_event_name(enum node_event e)
{
	static const char *const names[] = {
		[NODE_EV_JOINED] = "joined",
		[NODE_EV_LOCKED] = "locked",
		[NODE_EV_BUSY] = "busy",
		[NODE_EV_TICK] = "tick",
		[NODE_EV_TIMER] = "timer",
		[NODE_EV_STARTED] = "started",
		[NODE_EV_SPAWN_FAILED] = "spawn-failed",
		[NODE_EV_EXITED] = "exited",
		[NODE_EV_SHUTDOWN] = "shutdown",
		[NODE_EV_STORAGE_ERROR] = "storage-error",
		[NODE_EV_READY] = "ready",
		[NODE_EV_UNHEALTHY] = "unhealthy",
		[NODE_EV_REPLACED] = "replaced",
		[NODE_EV_FENCE] = "fence",
		[NODE_EV_STORAGE_HUNG] = "storage-hung",
	};
	return (unsigned)e < NODE_NEVENTS ? names[e] : "unknown";
}

enum node_state node_current(const struct node *n) { return n->state; }
int node_slot(const struct node *n) { return n->slot; }
uint64_t node_epoch(const struct node *n) { return n->epoch; }

uint64_t node_epoch_seen(const struct node *n) { return n->epoch > n->max_epoch ? n->epoch : n->max_epoch; }
bool node_new_file(const struct node *n) { return n->state == NODE_VERIFYING && n->new_file; }
bool node_fence_clock(const struct node *n)
{
	return n->state == NODE_VERIFYING || n->state == NODE_STARTING || n->state == NODE_LIVE ||
	       n->state == NODE_STOPPING;
}
bool node_handing_over(const struct node *n) { return n->stop == NODE_STOP_HANDOVER; }
bool node_fenced(const struct node *n) { return n->fenced; }
int node_exit_code(const struct node *n) { return n->exit_code; }
bool node_asked_to_leave(const struct node *n) { return n->shutdown; }

int64_t node_wait_bound(const struct node *n, const struct node_action *a)
{
	/* A wait that watches the file is cut every poll interval, any other
	 * after its look; none sooner (a look of 0 or shorter: every poll
	 * interval). */
	int64_t look = a->kind == NODE_A_WAIT_BACKUP                ? n->cfg.queue_look_ms
		       : a->kind == NODE_A_WAIT_LIVE && a->arg != 0 ? 0 /* watches the file */
								    : n->cfg.idle_look_ms;
	return look > n->cfg.poll_ms ? look : n->cfg.poll_ms;
}

void node_wait_pace(const struct node *n, const struct node_action *a, int64_t *first_ms, int64_t *max_ms)
{
	*first_ms = *max_ms = LF_LOCK_RETRY_MS;
	if (a->kind != NODE_A_WAIT_BACKUP || n->cfg.queue_try_ms <= LF_LOCK_RETRY_MS)
		return;
	*max_ms = n->cfg.queue_try_ms;
	if (a->arg)
		*first_ms = n->cfg.queue_try_ms;
}

bool node_action_is_storage(enum node_action_kind k)
{
	switch (k) {
	case NODE_A_CLAIM_SLOT:
	case NODE_A_SLOT_STATE:
	case NODE_A_TRY_LIVE:
	case NODE_A_WAIT_LIVE:
	case NODE_A_WAIT_BACKUP:
	case NODE_A_RELEASE_LIVE:
	case NODE_A_RELEASE_BACKUP:
	case NODE_A_WRITE_LIVE:
	case NODE_A_WRITE_STATUS:
	case NODE_A_REFUSE:
	case NODE_A_REQUEST_FAILBACK:
	case NODE_A_READ:
	case NODE_A_REPAIR: return true;
	case NODE_A_SPAWN:
	case NODE_A_STOP:
	case NODE_A_FENCE_HOOK:
	case NODE_A_TIMER:
	case NODE_A_EXIT: break;
	}
	return false;
}

uint8_t node_slot_flags(enum node_state s) { return s == NODE_STARTING ? LF_SLOT_F_STARTING : 0; }

enum lf_slot_state node_slot_state(enum node_state s)
{
	switch (s) {
	case NODE_JOINING: return LF_SLOT_JOINING;
	case NODE_QUEUED: return LF_SLOT_QUEUED;
	case NODE_BACKUP:
	case NODE_CLAIMING:
	case NODE_VERIFYING: return LF_SLOT_WAITING;
	case NODE_STARTING:
	case NODE_LIVE: return LF_SLOT_LIVE;
	case NODE_STOPPING:
	case NODE_DONE:
	case NODE_NSTATES: break;
	}
	return LF_SLOT_STOPPING;
}
