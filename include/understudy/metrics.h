/* What a node has done and how its storage answers, for Prometheus.
 *
 * The loop thread is the only writer; the health endpoint's thread and
 * the metrics file's writer read at any time. Every figure is a relaxed
 * atomic: a scrape may see one counter a step ahead of another, never a
 * torn value, and the loop never waits on a reader. */
#ifndef UNDERSTUDY_METRICS_H
#define UNDERSTUDY_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "understudy/node.h"
#include "understudy/worker.h"

/* How a workload's run ended, as its exit is counted. */
enum metrics_exit {
	METRICS_EXIT_OK,      /* exit status 0 */
	METRICS_EXIT_FAILED,  /* a non-zero exit status */
	METRICS_EXIT_KILLED,  /* a signal it did not ask for */
	METRICS_EXIT_STOPPED, /* stopped by this node: a hand-over, a shutdown, a fence */
	METRICS_NEXITS
};

enum metrics_request { METRICS_REQ_FAILBACK, METRICS_REQ_SWITCHOVER, METRICS_NREQUESTS };

/* Upper bounds of the storage-call histogram, in microseconds: a local
 * disk answers in tens, a network file system in hundreds to thousands,
 * and the last bounds reach the io timeout's scale. */
#define METRICS_BUCKETS 12
extern const int64_t metrics_bucket_us[METRICS_BUCKETS];

#define METRICS_NOPS (WORKER_REPAIR + 1)

struct metrics_histogram {
	_Atomic uint64_t bucket[METRICS_BUCKETS + 1]; /* the last is +Inf */
	_Atomic uint64_t count;
	_Atomic uint64_t sum_us;
};

struct metrics {
	_Atomic int state;  /* enum node_state */
	_Atomic bool ready; /* live with its workload ready */
	_Atomic uint64_t epoch;
	_Atomic int64_t heartbeat_age_ms;                         /* as this node last read it; -1: no live record */
	_Atomic uint64_t transitions[NODE_NSTATES][NODE_NSTATES]; /* [from][to] */
	_Atomic uint64_t starts, restarts, spawn_failures;
	_Atomic uint64_t exits[METRICS_NEXITS];
	_Atomic uint64_t fences;
	_Atomic uint64_t requests[METRICS_NREQUESTS];
	_Atomic uint64_t storage_errors;
	struct metrics_histogram storage[METRICS_NOPS]; /* lock waits excluded: they wait on purpose */
	/* +1 and a futex wake on each transition: the metrics file's writer
	 * sleeps on it, so a transition reaches the file at once. */
	_Atomic uint32_t generation;
	/* The writer's own memory of the heartbeat, for its age: not figures. */
	bool hb_have;
	uint64_t hb_value, hb_epoch;
	int64_t hb_changed_ms;
};

/* Who the figures are about: labels on every series. */
struct metrics_labels {
	const char *group; /* the lock file's path */
	const char *node;
	const char *role; /* "primary" or "backup" */
};

/* All zero, heartbeat age unknown, state joining. */
void metrics_init(struct metrics *m);
/* One storage call of op took us microseconds (from submit to answer). */
void metrics_storage_call(struct metrics *m, enum worker_op op, int64_t us);
/* A read of the file: the live record's heartbeat, to age it. */
void metrics_seen(struct metrics *m, const struct lf_view *v, int64_t now_ms);
/* The node went from one state to another; epoch: the highest it knows. */
void metrics_transition(struct metrics *m, enum node_state from, enum node_state to, uint64_t epoch);
/* The figures in the Prometheus text format (version 0.0.4); a malloc'd
 * string, or NULL without memory. Label values are escaped as the
 * format requires: a name from the file cannot end a label or a line. */
char *metrics_render(const struct metrics *m, const struct metrics_labels *lb);
/* Write the rendered figures to path for node_exporter's textfile
 * collector: a temporary file in the same directory, renamed over path,
 * so a scrape never reads half a file. 0 or -errno. */
int metrics_write_file(const struct metrics *m, const struct metrics_labels *lb, const char *path);
/* Keeping the metrics file up to date from a thread of its own, so that
 * the loop never waits on a disk: written at each transition, every
 * interval between them, and once more when stopped. A failure is logged once, and again when it mends. */
struct metrics_writer;
#define METRICS_FILE_INTERVAL_MS 5000
int metrics_writer_start(struct metrics_writer **out, struct metrics *m, const struct metrics_labels *lb,
			 const char *path, int64_t interval_ms);
void metrics_writer_stop(struct metrics_writer *w);

#endif
