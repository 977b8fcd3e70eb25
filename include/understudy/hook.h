/* Hooks: an executable the operator names for a transition (move a
 * virtual IP, tell a load balancer), run directly, never through a shell,
 * with the transition in its environment. A hook never holds up the
 * node: it is started and left to run, its end is logged when it failed,
 * and it is killed if it outlives its timeout. */
#ifndef UNDERSTUDY_HOOK_H
#define UNDERSTUDY_HOOK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

enum hook_event {
	HOOK_LIVE,     /* this node is live and its workload ready */
	HOOK_BACKUP,   /* this node stands by to take over */
	HOOK_STOP,     /* this node's workload stopped and it left live */
	HOOK_FENCE,    /* this node lost the storage and killed its workload */
	HOOK_FAILBACK, /* a failback moved the workload to or from this node */
	HOOK_NEVENTS
};

#define HOOK_MAX_RUNNING 8

struct hook_run {
	pid_t pid; /* 0: free; until reaped, the pid cannot be reused */
	enum hook_event event;
	int64_t kill_at; /* CLOCK_MONOTONIC ms */
	int exec_fd;     /* its exec error pipe until the outcome was read, else -1 */
};

struct hooks {
	const char *const *paths; /* by enum hook_event; NULL: none */
	int64_t timeout_ms;
	struct hook_run run[HOOK_MAX_RUNNING];
};

/* Start argv[0] (an absolute path) with envp in a session of its own,
 * outside the workload's tree, as hooks and readiness probes run. It runs
 * with the manager's rights, so argv[0] is checked first as trust.h says;
 * the check and the exec happen in the child, since either may wait on
 * storage that never answers and the manager's loop must not. Returns
 * its pid once forked, with *exec_fd the read end of its exec error pipe
 * for hook_exec_result, or -errno of a failed fork. */
pid_t hook_spawn(char *const argv[], char *const envp[], int *exec_fd);
/* The outcome of hook_spawn's child for path, from its pipe (closed
 * here): 0 when it exec'd, -EPERM when the check refused it (logged with
 * why), or -errno of its exec. Blocks until the child exec'd or ended:
 * call it once the child was reaped, or the pipe polled readable. */
int hook_exec_result(int fd, const char *path);
/* The environment hooks and probes run with: a fixed PATH of root's
 * directories and the UNDERSTUDY_ variables of envp, nothing of the
 * workload's (its --environment could name a user's PATH). A malloc'd
 * vector whose strings are envp's (and one static); NULL when out of
 * memory. */
char **hook_environment(char *const envp[]);
/* "live", "backup", "stop", "fence", "failback". */
const char *hook_event_name(enum hook_event e);
/* Start the hook for e, if there is one: argv[1] is the event's name,
 * the environment envp plus UNDERSTUDY_EVENT and extra (NULL-terminated,
 * may be NULL). Logs a failed start. Returns its pid, 0 when e has no
 * hook, or -errno. */
pid_t hook_start(struct hooks *h, enum hook_event e, char *const envp[], char *const extra[], int64_t now_ms);
/* A child of ours ended: if it was a hook, log how when it failed, and
 * forget it. Returns true when pid was a hook. */
bool hook_reaped(struct hooks *h, pid_t pid, int wstatus);
/* The earliest timeout of a running hook, 0 if none. */
int64_t hook_deadline(const struct hooks *h);
/* Kill the hooks whose timeout has passed. */
void hook_expire(struct hooks *h, int64_t now_ms);
/* The manager is leaving: wait up to bound_ms for the exec of the hooks
 * still starting (one that ended or exec'd answers at once), so that a
 * hook refused or failed as the node exits is said; never longer, since
 * an exec may hang on its storage. */
void hook_settle(struct hooks *h, int64_t bound_ms);

#endif
