/* Every timeout of a node from its settings: the header has the timeline
 * of a crash and of a partition at the defaults. */
#include "understudy/timeline.h"

#include <string.h>

void timeline_defaults(struct timeline_settings *s)
{
	*s = (struct timeline_settings){
		.check_ms = 500,
		.heartbeat_ms = 1000,
		.poll_ms = 500,
		.io_timeout_ms = 30000,
		.fence_timeout_ms = 10000,
		.stop_timeout_ms = 10000,
		.takeover_delay_ms = -1,
		.watchdog_ms = 0,
		.lease_ms = -1,
		.giveup_ms = -1,
	};
}

static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

/* auto: a backup waits until the old heartbeat has stood still for longer
 * than the fence timeout, plus two heartbeats: one for the longest a live
 * node leaves it still (H + C, C <= H), one so that a node still writing
 * cannot be missed by a read just before its write. */
static int64_t auto_networked(const struct timeline_settings *s) { return s->fence_timeout_ms + 2 * s->heartbeat_ms; }

void timeline_derive(const struct timeline_settings *s, struct timeline *t)
{
	memset(t, 0, sizeof(*t));
	t->in = *s;
	t->lock_wait_cut_ms = s->poll_ms;
	t->idle_look_ms[TIMELINE_LOCAL] = max64(TIMELINE_IDLE_LOOK_MS, s->poll_ms);
	t->idle_look_ms[TIMELINE_NETWORKED] = s->poll_ms;
	/* A queued node is two failures from the live role: each of its
	 * tries and looks is a call to the server, paid by every node past
	 * the second while nothing happens. */
	t->queue_try_ms = TIMELINE_QUEUE_TRIES * s->poll_ms;
	t->queue_look_ms[TIMELINE_LOCAL] = t->idle_look_ms[TIMELINE_LOCAL];
	t->queue_look_ms[TIMELINE_NETWORKED] = TIMELINE_QUEUE_LOOKS * s->poll_ms;
	t->io_bound_ms = s->io_timeout_ms;
	t->fence_ms = s->fence_timeout_ms;
	t->stop_kill_ms = s->stop_timeout_ms;
	/* A heartbeat goes with the first check at or after its time. */
	t->heartbeat_still_ms = s->heartbeat_ms + s->check_ms;
	/* On a local file system the lock is free only once every process
	 * of the old node is gone: nothing is left to wait for. */
	t->takeover_delay_ms[TIMELINE_LOCAL] = s->takeover_delay_ms < 0 ? 0 : s->takeover_delay_ms;
	t->takeover_delay_ms[TIMELINE_NETWORKED] = s->takeover_delay_ms < 0 ? auto_networked(s) : s->takeover_delay_ms;
	/* A stalled manager's storage process (worker.h): it fences one
	 * check interval after the loop would have (a loop that runs always
	 * fences first, and runs its hook), and looks at the path itself when
	 * the loop has not for two check intervals (one more than a loop that
	 * runs ever leaves between two looks). */
	t->stall_fence_ms = s->fence_timeout_ms + s->check_ms;
	t->stall_look_ms = 2 * s->check_ms;
	for (int fs = TIMELINE_LOCAL; fs <= TIMELINE_NETWORKED; fs++) {
		/* The old live node looks within a check interval, or, stalled,
		 * its storage process within two; one more for the kill. Where
		 * a look may hang, the takeover delay (protocol.md §5.8). */
		t->new_file_wait_ms[fs] = max64(t->stall_look_ms + s->check_ms, t->takeover_delay_ms[fs]);
		/* From the moment the lock is free: a local lock wait returns
		 * at once; a networked one is cut and tried again every poll
		 * interval. */
		t->crash_start_min_ms[fs] = t->takeover_delay_ms[fs];
		t->crash_start_max_ms[fs] = t->takeover_delay_ms[fs] + (fs == TIMELINE_LOCAL ? 0 : s->poll_ms);
	}
	/* Half the interval, at least 1 ms: 0 would spin. */
	t->watchdog_pet_ms = s->watchdog_ms > 0 ? max64(s->watchdog_ms, 2) / 2 : 0;
	t->watchdog_above_ms = s->fence_timeout_ms;
	int64_t d = t->takeover_delay_ms[TIMELINE_NETWORKED];
	t->partition_fence_min_ms = max64(s->fence_timeout_ms - t->heartbeat_still_ms, 0);
	t->partition_gone_ms = s->giveup_ms >= 0 ? s->fence_timeout_ms + s->giveup_ms : -1;
	t->partition_start_ms = s->lease_ms >= 0 ? s->lease_ms + d : -1;
	t->margin_known = s->lease_ms >= 0 && s->giveup_ms >= 0;
	t->margin_ms = d - s->fence_timeout_ms + (t->margin_known ? s->lease_ms - s->giveup_ms : 0);
}

int64_t timeline_takeover_delay(const struct timeline *t, bool local)
{
	return t->takeover_delay_ms[local ? TIMELINE_LOCAL : TIMELINE_NETWORKED];
}

int64_t timeline_new_file_wait(const struct timeline *t, bool local)
{
	return t->new_file_wait_ms[local ? TIMELINE_LOCAL : TIMELINE_NETWORKED];
}

int64_t timeline_idle_look(const struct timeline *t, bool local)
{
	return t->idle_look_ms[local ? TIMELINE_LOCAL : TIMELINE_NETWORKED];
}

int64_t timeline_queue_look(const struct timeline *t, bool local)
{
	return t->queue_look_ms[local ? TIMELINE_LOCAL : TIMELINE_NETWORKED];
}

int64_t timeline_still_seen_ms(int64_t heartbeat_ms) { return 2 * heartbeat_ms; }

/* Shorter than timeline_still_seen_ms, so that status answers in 1.5 s at
 * the defaults: there a heartbeat is written every 1 to 1.5 s, and a watch
 * that sees none says only that it did not see one move (a check interval
 * raised to the heartbeat's can leave it still for up to 2H). */
int64_t timeline_watch_ms(int64_t heartbeat_ms)
{
	return heartbeat_ms > 10000 ? 15000 : heartbeat_ms + heartbeat_ms / 2;
}

enum timeline_relation timeline_check(const struct timeline_settings *s, struct timeline_fault *f)
{
	*f = (struct timeline_fault){ TIMELINE_OK, TIMELINE_CHECK, TIMELINE_CHECK };
	/* The heartbeat is written on a check, so it can go no faster. */
	if (s->check_ms > s->heartbeat_ms)
		*f = (struct timeline_fault){ TIMELINE_CHECK_OVER_HEARTBEAT, TIMELINE_CHECK, TIMELINE_HEARTBEAT };
	/* A healthy live node completes a round every heartbeat (at most
	 * H + C apart): one slow round must not fence it. */
	else if (s->fence_timeout_ms < 2 * s->heartbeat_ms)
		*f = (struct timeline_fault){ TIMELINE_FENCE_UNDER_TWO_HEARTBEATS, TIMELINE_FENCE, TIMELINE_HEARTBEAT };
	return f->rel;
}

size_t timeline_warnings(const struct timeline_settings *s, enum timeline_fs fs, struct timeline_fault *out, size_t max)
{
	struct timeline t;
	size_t n = 0;
	timeline_derive(s, &t);
	/* A delay given by hand, shorter than auto's: safe on a local file
	 * system, elsewhere only if the storage gives a lock away late
	 * enough (L + D > F + P), which only the site knows. */
	bool networked = fs != TIMELINE_LOCAL;
	if (n < max && networked && s->takeover_delay_ms >= 0 && s->takeover_delay_ms < auto_networked(s))
		out[n++] = (struct timeline_fault){ TIMELINE_TAKEOVER_SHORT, TIMELINE_TAKEOVER, TIMELINE_FENCE };
	if (n < max && networked && t.margin_known && t.margin_ms <= 0)
		out[n++] = (struct timeline_fault){ TIMELINE_MARGIN_NEGATIVE, TIMELINE_TAKEOVER, TIMELINE_FENCE };
	/* The unit's watchdog gets its last pet after the last round: it
	 * must outlast the fence, or it ends the node first, hook unrun.
	 * Longer than F also keeps healthy pets (one per round, at most
	 * H + half the watchdog apart) inside it, since F >= 2H. */
	if (n < max && s->watchdog_ms > 0 && s->watchdog_ms <= t.watchdog_above_ms)
		out[n++] = (struct timeline_fault){ TIMELINE_WATCHDOG_SHORT, TIMELINE_WATCHDOG, TIMELINE_FENCE };
	return n;
}

static const char *const long_names[TIMELINE_NSETTINGS] = {
	[TIMELINE_CHECK] = "--check-interval",    [TIMELINE_HEARTBEAT] = "--heartbeat-interval",
	[TIMELINE_POLL] = "--poll-interval",      [TIMELINE_IO] = "--io-timeout",
	[TIMELINE_FENCE] = "--fence-timeout",     [TIMELINE_STOP] = "--stop-timeout",
	[TIMELINE_TAKEOVER] = "--takeover-delay", [TIMELINE_WATCHDOG] = "the unit's WatchdogSec=",
};

static int64_t value(const struct timeline_settings *s, enum timeline_setting k)
{
	switch (k) {
	case TIMELINE_CHECK: return s->check_ms;
	case TIMELINE_HEARTBEAT: return s->heartbeat_ms;
	case TIMELINE_POLL: return s->poll_ms;
	case TIMELINE_IO: return s->io_timeout_ms;
	case TIMELINE_FENCE: return s->fence_timeout_ms;
	case TIMELINE_STOP: return s->stop_timeout_ms;
	case TIMELINE_TAKEOVER: return s->takeover_delay_ms;
	case TIMELINE_WATCHDOG: return s->watchdog_ms;
	case TIMELINE_NSETTINGS: break;
	}
	return 0;
}

void timeline_explain(const struct timeline_fault *f, const struct timeline_settings *s, const char *const *names,
		      char *why, size_t n)
{
	const char *a = names && names[f->a] ? names[f->a] : long_names[f->a];
	const char *b = names && names[f->b] ? names[f->b] : long_names[f->b];
	const char *h = names && names[TIMELINE_HEARTBEAT] ? names[TIMELINE_HEARTBEAT] : long_names[TIMELINE_HEARTBEAT];
	long long va = (long long)value(s, f->a), vb = (long long)value(s, f->b);
	struct timeline t;
	timeline_derive(s, &t);
	switch (f->rel) {
	case TIMELINE_OK: snprintf(why, n, "the timeouts keep their relations"); break;
	case TIMELINE_CHECK_OVER_HEARTBEAT:
		snprintf(why, n, "%s (%lld ms) must not exceed %s (%lld ms): the heartbeat is written on a check", a,
			 va, b, vb);
		break;
	case TIMELINE_FENCE_UNDER_TWO_HEARTBEATS:
		snprintf(why, n,
			 "%s (%lld ms) must be at least twice %s (%lld ms): one late heartbeat round must not fence a "
			 "healthy live node",
			 a, va, b, vb);
		break;
	case TIMELINE_TAKEOVER_SHORT: {
		/* L + D > F + P: how much later than its client the storage
		 * must give a lock away. */
		long long late = (long long)(s->fence_timeout_ms - va);
		char need[96];
		if (late >= 0)
			snprintf(need, sizeof(need), "more than %lld ms later than", late);
		else
			snprintf(need, sizeof(need), "less than %lld ms sooner than", -late);
		snprintf(why, n,
			 "%s (%lld ms) is shorter than %s plus twice %s (%lld ms): on networked storage it keeps one "
			 "workload only if the storage gives a cut-off host's lock away %s its client gives up its I/O "
			 "(doc/fencing.md)%s",
			 a, va, b, h, (long long)auto_networked(s), need,
			 va <= t.heartbeat_still_ms ? "; and it is too short to see a live node's heartbeat move" : "");
		break;
	}
	case TIMELINE_MARGIN_NEGATIVE: {
		int64_t d = t.takeover_delay_ms[TIMELINE_NETWORKED], ld = s->lease_ms + d,
			fp = s->fence_timeout_ms + s->giveup_ms, short_by = 1 - t.margin_ms;
		snprintf(
			why, n,
			"%s (%lld ms) is too short for this storage: it gives a lock away after %lld ms and its client "
			"gives up after %lld ms, and the lock given away plus the delay (%lld ms) must exceed %s plus "
			"the client's give-up (%lld ms); raise it by %lld ms (doc/fencing.md)",
			a, (long long)d, (long long)s->lease_ms, (long long)s->giveup_ms, (long long)ld, b,
			(long long)fp, (long long)short_by);
		break;
	}
	case TIMELINE_WATCHDOG_SHORT:
		snprintf(why, n,
			 "%s (%lld ms) is not longer than %s (%lld ms): in a storage stall the service manager would "
			 "kill the node before it fences, without its on-fence hook",
			 a, va, b, vb);
		break;
	}
}

/* As config prints a duration: 500ms, 12s, 0. */
static const char *dur(int64_t ms, char *buf, size_t n)
{
	if (ms == 0)
		snprintf(buf, n, "0");
	else if (ms % 1000)
		snprintf(buf, n, "%lldms", (long long)ms);
	else
		snprintf(buf, n, "%llds", (long long)(ms / 1000));
	return buf;
}

/* "L + 12s", "10s + P", "L - P + 2s": a figure that waits on the storage's
 * own timeouts, which understudy does not know. */
static const char *plus(const char *pre, int64_t ms, char *buf, size_t n)
{
	char d[32];
	if (ms == 0)
		snprintf(buf, n, "%s", pre);
	else
		snprintf(buf, n, "%s %c %s", pre, ms < 0 ? '-' : '+', dur(ms < 0 ? -ms : ms, d, sizeof(d)));
	return buf;
}

void timeline_print(const struct timeline *t, FILE *f)
{
	char a[48], b[48];
	const char *fs[2] = { "local", "networked" };
	fprintf(f, "derived.lock-wait-cut = %s\n", dur(t->lock_wait_cut_ms, a, sizeof(a)));
	for (int i = 0; i < 2; i++)
		fprintf(f, "derived.idle-look.%s = %s\n", fs[i], dur(t->idle_look_ms[i], a, sizeof(a)));
	fprintf(f, "derived.queue-try.networked = %s\n", dur(t->queue_try_ms, a, sizeof(a)));
	for (int i = 0; i < 2; i++)
		fprintf(f, "derived.queue-look.%s = %s\n", fs[i], dur(t->queue_look_ms[i], a, sizeof(a)));
	fprintf(f, "derived.io-bound = %s\n", dur(t->io_bound_ms, a, sizeof(a)));
	fprintf(f, "derived.fence = %s\n", dur(t->fence_ms, a, sizeof(a)));
	fprintf(f, "derived.stall-fence = %s\n", dur(t->stall_fence_ms, a, sizeof(a)));
	fprintf(f, "derived.stall-look = %s\n", dur(t->stall_look_ms, a, sizeof(a)));
	fprintf(f, "derived.stop-kill = %s\n", dur(t->stop_kill_ms, a, sizeof(a)));
	fprintf(f, "derived.heartbeat-still = %s\n", dur(t->heartbeat_still_ms, a, sizeof(a)));
	for (int i = 0; i < 2; i++)
		fprintf(f, "derived.takeover-delay.%s = %s\n", fs[i], dur(t->takeover_delay_ms[i], a, sizeof(a)));
	for (int i = 0; i < 2; i++)
		fprintf(f, "derived.new-file-wait.%s = %s\n", fs[i], dur(t->new_file_wait_ms[i], a, sizeof(a)));
	fprintf(f, "derived.watchdog-above = %s\n", dur(t->watchdog_above_ms, a, sizeof(a)));
	fprintf(f, "derived.watchdog-pet = %s\n", t->watchdog_pet_ms ? dur(t->watchdog_pet_ms, a, sizeof(a)) : "");
	fprintf(f, "derived.crash-start.local = %s\n", dur(t->crash_start_max_ms[TIMELINE_LOCAL], a, sizeof(a)));
	if (t->in.lease_ms >= 0)
		fprintf(f, "derived.crash-start.networked = %s .. %s\n",
			dur(t->in.lease_ms + t->crash_start_min_ms[TIMELINE_NETWORKED], a, sizeof(a)),
			dur(t->in.lease_ms + t->crash_start_max_ms[TIMELINE_NETWORKED], b, sizeof(b)));
	else
		fprintf(f, "derived.crash-start.networked = %s .. %s\n",
			plus("L", t->crash_start_min_ms[TIMELINE_NETWORKED], a, sizeof(a)),
			plus("L", t->crash_start_max_ms[TIMELINE_NETWORKED], b, sizeof(b)));
	fprintf(f, "derived.partition-fence = %s .. %s\n", dur(t->partition_fence_min_ms, a, sizeof(a)),
		dur(t->fence_ms, b, sizeof(b)));
	if (t->partition_gone_ms >= 0)
		fprintf(f, "derived.partition-gone = %s\n", dur(t->partition_gone_ms, a, sizeof(a)));
	else
		fprintf(f, "derived.partition-gone = %s + P\n", dur(t->fence_ms, a, sizeof(a)));
	if (t->partition_start_ms >= 0)
		fprintf(f, "derived.partition-start = %s\n", dur(t->partition_start_ms, a, sizeof(a)));
	else
		fprintf(f, "derived.partition-start = %s\n",
			plus("L", t->takeover_delay_ms[TIMELINE_NETWORKED], a, sizeof(a)));
	if (t->margin_known) {
		/* May be below 0: a margin that is not one. */
		if (t->margin_ms < 0)
			fprintf(f, "derived.partition-margin = -%s\n", dur(-t->margin_ms, a, sizeof(a)));
		else
			fprintf(f, "derived.partition-margin = %s\n", dur(t->margin_ms, a, sizeof(a)));
	} else {
		fprintf(f, "derived.partition-margin = %s\n", plus("L - P", t->margin_ms, a, sizeof(a)));
	}
}
