/* The observers of a node: what people and other programs see of it. The
 * log line of each transition, the hooks (on-live once the workload is
 * ready, on-backup, on-stop, on-fence, on-failback), the STATUS= and
 * READY=1 systemd shows, and the health the HTTP endpoint serves. Nothing
 * here decides: the observers follow the node (node.h) and the workload. */
#ifndef UNDERSTUDY_OBSERVE_H
#define UNDERSTUDY_OBSERVE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "understudy/hook.h"
#include "understudy/lockfile.h"
#include "understudy/loop.h"
#include "understudy/metrics.h"
#include "understudy/node.h"

/* The workload as the loop knows it at the moment. */
struct observe_workload {
	bool active;        /* spawned and not yet reaped whole */
	pid_t pid;          /* its main process, the last one if gone */
	int64_t spawned_at; /* CLOCK_MONOTONIC ms of its exec */
	const char *status; /* its own STATUS=, escaped, or "" */
};

struct observe {
	const struct loop_config *cfg;
	struct metrics *metrics; /* counted here, read by /metrics and the metrics file */
	struct hooks hooks;
	char **hook_envp; /* PATH and the UNDERSTUDY_ variables only (hook.h) */
	/* The live node as this node last read it. */
	char live_name[LF_NAME_MAX + 1], live_address[LF_ADDR_MAX + 1];
	time_t live_since;     /* wall clock, for people: when we became live */
	int64_t took_role_at;  /* CLOCK_MONOTONIC ms */
	bool handing_back;     /* stopping for a failback request */
	bool live_by_failback; /* on-failback too when ready */
	bool ready_once;       /* on-live ran for this term as live */
	bool ready_sent;       /* READY=1 went to systemd (once in the process's life) */
	bool started_in_term;  /* a workload started in this term as live: the next is a restart */
};

/* Set up for cfg; hooks run with hook_envp (kept, not copied); figures
 * are counted into m. */
void observe_init(struct observe *o, const struct loop_config *cfg, char **hook_envp, struct metrics *m);
/* A reload's settings: the hooks and their timeout for the next hook
 * started (one running keeps the deadline it was given). */
void observe_reconfigure(struct observe *o, const struct loop_config *cfg);
/* A read of the file: remember who is live there, for STATUS= and the hooks. */
void observe_read(struct observe *o, const struct lf_view *v);
/* The node just took ev and answered out; before is its state before. Logs
 * the line (a warning when out->loud), runs the hooks its transition calls
 * for and updates STATUS= and the health. */
void observe_step(struct observe *o, const struct node *n, enum node_state before, const struct node_event_data *ev,
		  const struct node_out *out, const struct observe_workload *w);
/* Tell systemd and the health endpoint what the node does now. */
void observe_announce(struct observe *o, const struct node *n, const struct observe_workload *w);
/* The health endpoint only: the workload came or went. */
void observe_health(const struct observe *o, const struct node *n, const struct observe_workload *w);
/* Start the hook for e now (FENCE_HOOK: after the kill). */
void observe_hook(struct observe *o, enum hook_event e, const struct node *n, const struct observe_workload *w);
/* A child ended: true when it was a hook (its failure is logged). */
bool observe_reaped(struct observe *o, pid_t pid, int wstatus);
/* The earliest hook timeout, 0 if none; and kill the hooks past theirs. */
int64_t observe_deadline(const struct observe *o);
void observe_expire(struct observe *o, int64_t now_ms);

#endif
