/* Counting a node's life for Prometheus: see include/understudy/metrics.h. */
#include "understudy/metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "understudy/clock.h"
#include "understudy/log.h"

const int64_t metrics_bucket_us[METRICS_BUCKETS] = {
	50, 100, 250, 500, 1000, 2500, 5000, 10000, 50000, 250000, 1000000, 10000000,
};

/* Series names stay stable: dashboards and alerts are written against
 * them. Label values for ops and states are ours, plain words. */
static const char *const op_names[METRICS_NOPS] = {
	[WORKER_CLAIM_SLOT] = "claim_slot",
	[WORKER_WRITE_SLOT] = "write_slot",
	[WORKER_TRY_LIVE] = "try_live",
	[WORKER_WAIT_LIVE] = "wait_live",
	[WORKER_WAIT_BACKUP] = "wait_backup",
	[WORKER_RELEASE_LIVE] = "release_live",
	[WORKER_RELEASE_BACKUP] = "release_backup",
	[WORKER_WRITE_LIVE] = "write_live",
	[WORKER_WRITE_STATUS] = "write_status",
	[WORKER_WRITE_REQUEST] = "write_request",
	[WORKER_CLEAR_REQUEST] = "clear_request",
	[WORKER_READ] = "read",
	[WORKER_HEARTBEAT] = "heartbeat",
	[WORKER_REPAIR] = "repair",
};

static const char *const exit_names[METRICS_NEXITS] = {
	[METRICS_EXIT_OK] = "ok",
	[METRICS_EXIT_FAILED] = "failed",
	[METRICS_EXIT_KILLED] = "killed",
	[METRICS_EXIT_STOPPED] = "stopped",
};

static const char *const request_names[METRICS_NREQUESTS] = {
	[METRICS_REQ_FAILBACK] = "failback",
	[METRICS_REQ_SWITCHOVER] = "switchover",
};

void metrics_init(struct metrics *m)
{
	memset(m, 0, sizeof(*m));
	atomic_store(&m->state, NODE_JOINING);
	atomic_store(&m->heartbeat_age_ms, -1);
}

void metrics_storage_call(struct metrics *m, enum worker_op op, int64_t us)
{
	if ((unsigned)op >= METRICS_NOPS || op == WORKER_WAIT_LIVE || op == WORKER_WAIT_BACKUP)
		return;
	if (us < 0)
		us = 0;
	struct metrics_histogram *h = &m->storage[op];
	int b = 0;
	while (b < METRICS_BUCKETS && us > metrics_bucket_us[b])
		b++;
	/* Buckets are stored apart and summed when rendered: one increment
	 * a call, and a reader never sees a bucket above its successor. */
	atomic_fetch_add_explicit(&h->bucket[b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum_us, (uint64_t)us, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
}

void metrics_seen(struct metrics *m, const struct lf_view *v, int64_t now_ms)
{
	if (!v || v->live_rec != LF_REC_OK) {
		m->hb_have = false;
		atomic_store_explicit(&m->heartbeat_age_ms, -1, memory_order_relaxed);
		return;
	}
	/* Aged from the first read that showed this value: a heartbeat that
	 * advances between reads is seen at age 0. */
	if (!m->hb_have || v->live.heartbeat != m->hb_value || v->live.epoch != m->hb_epoch) {
		m->hb_have = true;
		m->hb_value = v->live.heartbeat;
		m->hb_epoch = v->live.epoch;
		m->hb_changed_ms = now_ms;
	}
	atomic_store_explicit(&m->heartbeat_age_ms, now_ms - m->hb_changed_ms, memory_order_relaxed);
	if (v->live.epoch <= LF_EPOCH_MAX && v->live.epoch > atomic_load_explicit(&m->epoch, memory_order_relaxed))
		atomic_store_explicit(&m->epoch, v->live.epoch, memory_order_relaxed);
}

void metrics_transition(struct metrics *m, enum node_state from, enum node_state to, uint64_t epoch)
{
	if ((unsigned)from >= NODE_NSTATES || (unsigned)to >= NODE_NSTATES)
		return;
	atomic_fetch_add_explicit(&m->transitions[from][to], 1, memory_order_relaxed);
	atomic_store_explicit(&m->state, (int)to, memory_order_relaxed);
	if (epoch > atomic_load_explicit(&m->epoch, memory_order_relaxed))
		atomic_store_explicit(&m->epoch, epoch, memory_order_relaxed);
	/* Release: the writer that sees the new generation sees the figures. */
	atomic_fetch_add_explicit(&m->generation, 1, memory_order_release);
	syscall(SYS_futex, &m->generation, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static uint64_t get(const _Atomic uint64_t *v) { return atomic_load_explicit(v, memory_order_relaxed); }

/* A label value as the text format wants it: backslash, double quote and
 * newline escaped; other bytes pass (the format is UTF-8, and a name is
 * whatever the operator gave). */
static void put_value(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		if (*s == '\\')
			fputs("\\\\", f);
		else if (*s == '"')
			fputs("\\\"", f);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

/* {group="...",node="..."[,extra]} */
static void put_labels(FILE *f, const struct metrics_labels *lb, const char *extra)
{
	fputs("{group=\"", f);
	put_value(f, lb->group);
	fputs("\",node=\"", f);
	put_value(f, lb->node);
	fputc('"', f);
	if (extra) {
		fputc(',', f);
		fputs(extra, f);
	}
	fputc('}', f);
}

static void head(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void sample(FILE *f, const char *name, const struct metrics_labels *lb, const char *extra, double v)
{
	fputs(name, f);
	put_labels(f, lb, extra);
	fprintf(f, " %.17g\n", v);
}

static void counter(FILE *f, const char *name, const char *help, const struct metrics_labels *lb, uint64_t v)
{
	head(f, name, "counter", help);
	sample(f, name, lb, NULL, (double)v);
}

char *metrics_render(const struct metrics *m, const struct metrics_labels *lb)
{
	char *buf = NULL, extra[160];
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return NULL;
	int state = atomic_load_explicit(&m->state, memory_order_relaxed);

	head(f, "understudy_node_info", "gauge", "The node, its group and its role; always 1.");
	fputs("understudy_node_info", f);
	fputs("{group=\"", f);
	put_value(f, lb->group);
	fputs("\",node=\"", f);
	put_value(f, lb->node);
	fputs("\",role=\"", f);
	put_value(f, lb->role);
	fputs("\"} 1\n", f);

	head(f, "understudy_node_state", "gauge", "1 for the state the node is in, 0 for the others.");
	for (int s = 0; s < NODE_NSTATES; s++) {
		snprintf(extra, sizeof(extra), "state=\"%s\"", node_state_name((enum node_state)s));
		sample(f, "understudy_node_state", lb, extra, s == state);
	}
	bool live = state == NODE_STARTING || state == NODE_LIVE || state == NODE_STOPPING;
	head(f, "understudy_live", "gauge", "1 while this node holds the live role.");
	sample(f, "understudy_live", lb, NULL, live);
	head(f, "understudy_ready", "gauge", "1 while this node is live and its workload ready.");
	sample(f, "understudy_ready", lb, NULL, atomic_load_explicit(&m->ready, memory_order_relaxed));
	head(f, "understudy_epoch", "gauge", "The highest epoch this node has read or written.");
	sample(f, "understudy_epoch", lb, NULL, (double)get(&m->epoch));
	int64_t age = atomic_load_explicit(&m->heartbeat_age_ms, memory_order_relaxed);
	head(f, "understudy_heartbeat_age_seconds", "gauge",
	     "How long the live record's heartbeat had stood still when this node last read it; -1 without one.");
	sample(f, "understudy_heartbeat_age_seconds", lb, NULL, age < 0 ? -1.0 : (double)age / 1000.0);

	head(f, "understudy_transitions_total", "counter",
	     "State changes of this node, by the states left and entered.");
	for (int a = 0; a < NODE_NSTATES; a++)
		for (int b = 0; b < NODE_NSTATES; b++) {
			uint64_t v = get(&m->transitions[a][b]);
			if (!v)
				continue; /* most pairs never happen: an absent series is a zero */
			snprintf(extra, sizeof(extra), "from=\"%s\",to=\"%s\"", node_state_name((enum node_state)a),
				 node_state_name((enum node_state)b));
			sample(f, "understudy_transitions_total", lb, extra, (double)v);
		}
	counter(f, "understudy_workload_starts_total", "Workloads this node started (exec succeeded).", lb,
		get(&m->starts));
	counter(f, "understudy_workload_restarts_total", "Of those, restarts in place after an exit.", lb,
		get(&m->restarts));
	counter(f, "understudy_workload_spawn_failures_total", "Workloads that could not be started at all.", lb,
		get(&m->spawn_failures));
	head(f, "understudy_workload_exits_total", "counter", "Workload exits, by how they ended.");
	for (int e = 0; e < METRICS_NEXITS; e++) {
		snprintf(extra, sizeof(extra), "how=\"%s\"", exit_names[e]);
		sample(f, "understudy_workload_exits_total", lb, extra, (double)get(&m->exits[e]));
	}
	counter(f, "understudy_fences_total", "Times this node killed its workload because it lost the storage.", lb,
		get(&m->fences));
	head(f, "understudy_handover_requests_total", "counter",
	     "Failback and switchover requests this node acted on while live.");
	for (int r = 0; r < METRICS_NREQUESTS; r++) {
		snprintf(extra, sizeof(extra), "kind=\"%s\"", request_names[r]);
		sample(f, "understudy_handover_requests_total", lb, extra, (double)get(&m->requests[r]));
	}
	counter(f, "understudy_storage_errors_total", "Storage calls that failed or outlived the io timeout.", lb,
		get(&m->storage_errors));

	head(f, "understudy_storage_call_seconds", "histogram",
	     "Time from a storage call's submission to its answer, lock waits excluded.");
	for (int op = 0; op < METRICS_NOPS; op++) {
		const struct metrics_histogram *h = &m->storage[op];
		if (op == WORKER_WAIT_LIVE || op == WORKER_WAIT_BACKUP)
			continue;
		uint64_t cum = 0;
		for (int b = 0; b <= METRICS_BUCKETS; b++) {
			cum += get(&h->bucket[b]);
			if (b < METRICS_BUCKETS)
				snprintf(extra, sizeof(extra), "op=\"%s\",le=\"%g\"", op_names[op],
					 (double)metrics_bucket_us[b] / 1e6);
			else
				snprintf(extra, sizeof(extra), "op=\"%s\",le=\"+Inf\"", op_names[op]);
			sample(f, "understudy_storage_call_seconds_bucket", lb, extra, (double)cum);
		}
		snprintf(extra, sizeof(extra), "op=\"%s\"", op_names[op]);
		sample(f, "understudy_storage_call_seconds_sum", lb, extra, (double)get(&h->sum_us) / 1e6);
		/* The count is the +Inf bucket: the same figure, never one
		 * behind it as a separate counter could be. */
		sample(f, "understudy_storage_call_seconds_count", lb, extra, (double)cum);
	}
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

int metrics_write_file(const struct metrics *m, const struct metrics_labels *lb, const char *path)
{
	char *text = metrics_render(m, lb), *tmp = NULL;
	int fd = -1, r = 0;
	if (!text || asprintf(&tmp, "%s.%d.tmp", path, (int)getpid()) < 0) {
		tmp = NULL;
		r = -ENOMEM;
		goto out;
	}
	/* A file left at our name by an earlier run of this pid goes; then
	 * O_EXCL: never through a name someone placed since (a link is
	 * removed above, not followed). 0644: the collector may run as its
	 * own user. */
	if (unlink(tmp) < 0 && errno != ENOENT) {
		r = -errno;
		goto out;
	}
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644)) < 0) {
		r = -errno;
		goto out;
	}
	size_t len = strlen(text), done = 0;
	while (done < len) {
		ssize_t w = write(fd, text + done, len - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			r = -errno;
			goto out;
		}
		done += (size_t)w;
	}
	if (close(fd) < 0) {
		fd = -1;
		r = -errno;
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) < 0)
		r = -errno;
out:
	if (fd >= 0)
		close(fd);
	if (r < 0 && tmp)
		unlink(tmp);
	free(tmp);
	free(text);
	return r;
}

struct metrics_writer {
	struct metrics *m; /* read, and its generation waited on */
	struct metrics_labels lb;
	char *path;
	int64_t interval_ms;
	pthread_t thread;
	pthread_mutex_t mu;
	bool stopping;
	int last_err; /* the last write's result, to log a change once */
};

static void writer_write(struct metrics_writer *w)
{
	int r = metrics_write_file(w->m, &w->lb, w->path);
	if (r < 0 && r != w->last_err)
		log_warn("metrics file %s: %s (it is written again every %lld ms)", w->path, strerror(-r),
			 (long long)w->interval_ms);
	else if (r == 0 && w->last_err < 0)
		log_info("metrics file %s written again", w->path);
	w->last_err = r;
}

static void *writer_main(void *arg)
{
	struct metrics_writer *w = arg;
	struct metrics *m = w->m;
	for (;;) {
		/* Stopping is read before the write, so that the write after a
		 * stop holds every figure from before it: the node's end. */
		pthread_mutex_lock(&w->mu);
		bool stopping = w->stopping;
		pthread_mutex_unlock(&w->mu);
		uint32_t seen = atomic_load_explicit(&m->generation, memory_order_acquire);
		writer_write(w);
		if (stopping)
			break;
		/* Until a transition, the interval, or the stop (which bumps
		 * the word too): whichever comes first. */
		struct timespec ts = { .tv_sec = w->interval_ms / 1000, .tv_nsec = (w->interval_ms % 1000) * 1000000 };
		syscall(SYS_futex, &m->generation, FUTEX_WAIT_PRIVATE, seen, &ts, NULL, 0);
	}
	return NULL;
}

static void writer_free(struct metrics_writer *w)
{
	pthread_mutex_destroy(&w->mu);
	free((char *)w->lb.group), free((char *)w->lb.node), free((char *)w->lb.role), free(w->path);
	free(w);
}

int metrics_writer_start(struct metrics_writer **out, struct metrics *m, const struct metrics_labels *lb,
			 const char *path, int64_t interval_ms)
{
	struct metrics_writer *w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	pthread_mutex_init(&w->mu, NULL);
	w->m = m;
	w->interval_ms = interval_ms;
	w->lb.group = strdup(lb->group ? lb->group : "");
	w->lb.node = strdup(lb->node ? lb->node : "");
	w->lb.role = strdup(lb->role ? lb->role : "");
	w->path = strdup(path);
	if (!w->lb.group || !w->lb.node || !w->lb.role || !w->path) {
		writer_free(w);
		return -ENOMEM;
	}
	/* Signals belong to the loop's signalfd, never to this thread. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	int r = -pthread_create(&w->thread, NULL, writer_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r < 0) {
		writer_free(w);
		return r;
	}
	*out = w;
	return 0;
}

void metrics_writer_stop(struct metrics_writer *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	w->stopping = true;
	pthread_mutex_unlock(&w->mu);
	struct metrics *m = w->m;
	atomic_fetch_add_explicit(&m->generation, 1, memory_order_release);
	syscall(SYS_futex, &m->generation, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	/* A write to a disk that stopped answering must not keep the node
	 * from exiting: past a bound the thread is left to the exit. */
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts); /* pthread_timedjoin_np's clock; a bound, not a decision */
	ts.tv_sec += 2;
	if (pthread_timedjoin_np(w->thread, NULL, &ts) != 0) {
		log_warn("metrics file %s: the last write has not returned in 2 s; leaving it", w->path);
		pthread_detach(w->thread);
		return;
	}
	writer_free(w);
}
