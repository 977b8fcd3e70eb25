/* The node's event loop: one io_uring on which every event arrives (a
 * signal, the workload's exit, a finished storage job, a timer), handed
 * to the state machine, whose actions it then carries out. Handlers are
 * short and never block: storage calls run on the worker thread, and the
 * workload's stop is a sequence of timers. */
#ifndef UNDERSTUDY_LOOP_H
#define UNDERSTUDY_LOOP_H

#include <stdint.h>
#include <sys/socket.h>

#include "understudy/hook.h"
#include "understudy/metrics.h"
#include "understudy/node.h"
#include "understudy/supervise.h"
#include "understudy/trust.h"

/* What the node is doing, as other threads of the process (the health
 * endpoint) may read it at any time. */
enum loop_health {
	LOOP_DOWN,        /* joining, stopping or gone */
	LOOP_STANDING_BY, /* waiting to take over */
	LOOP_STARTING,    /* live, the workload started but not ready */
	LOOP_SERVING,     /* live, the workload ready */
};

/* How the workload says it is ready to serve. */
enum loop_ready {
	LOOP_READY_EXEC,    /* its exec succeeded */
	LOOP_READY_NOTIFY,  /* READY=1 on the NOTIFY_SOCKET the manager gives it */
	LOOP_READY_FD,      /* a newline on the descriptor ready_fd it inherits */
	LOOP_READY_TCP,     /* a TCP connect to ready_addr succeeds */
	LOOP_READY_COMMAND, /* ready_argv exits 0 */
};

struct loop_config {
	struct node_config node;
	const char *lock_path;
	struct trust_who trust; /* who may own, write and read the lock file */
	const char *name;
	const char *address;
	char *const *argv;               /* the workload, NULL-terminated */
	int64_t stop_timeout_ms;         /* SIGTERM to SIGKILL */
	int64_t check_ms;                /* how often the live reads the file */
	int64_t heartbeat_ms;            /* how often the live advances its heartbeat */
	int64_t io_timeout_ms;           /* a storage call taking longer is a failure */
	int64_t fence_timeout_ms;        /* live: no full heartbeat round for this long: fence */
	int64_t takeover_delay_ms;       /* -1: auto (0 on a local file system) */
	const char *hooks[HOOK_NEVENTS]; /* absolute paths, or NULL */
	int64_t hook_timeout_ms;         /* a hook still running then is killed */
	struct supervise_as workload_as; /* the workload's directory and ids */
	bool rejoin;                     /* after-fence: join again (true) or exit, once fenced */
	bool wait_for_storage;           /* rejoining: an open failing like lost storage is retried */
	const uint8_t *previous_id;      /* rejoining: the id this process had, or NULL; its slot
					  * may linger and is not another node of our name */
	uint8_t *id_out;                 /* where loop_run leaves this node's id (LF_ID_SIZE), or NULL */
	long joined_fs_type;             /* rejoining: the statfs type the file was on when this node
					  * joined, 0 unknown; on another, the file is never created */
	long *fs_type_out;               /* where loop_run leaves the lock file's statfs type, or NULL */
	_Atomic int *health;             /* where the loop publishes enum loop_health, or NULL */
	int notify_fd;                   /* a supervisor's readiness pipe (s6's notification-fd): a
					  * newline when the node is ready, then closed; -1: none */
	struct metrics *metrics;         /* where the loop counts what it does (metrics_init'd by
					  * the caller), or NULL; mapped MAP_SHARED before
					  * loop_prepare, since the storage process counts the
					  * live node's rounds in it too */
	enum loop_ready ready;
	int ready_fd;                       /* LOOP_READY_FD: its number in the workload */
	struct sockaddr_storage ready_addr; /* LOOP_READY_TCP */
	socklen_t ready_addrlen;
	char **ready_argv;         /* LOOP_READY_COMMAND, argv[0] an absolute path */
	int64_t ready_interval_ms; /* between probes (TCP, command) */
	int64_t watchdog_ms;       /* LOOP_READY_NOTIFY: once it sent WATCHDOG=1, it must again within this */
	/* SIGHUP: read the settings again (NULL: there is nothing to read,
	 * no configuration file). Returns 0 with *next pointing at the
	 * settings to run with from now on, which differ from these only
	 * where a reload may change them and keep their relations; or
	 * -errno, refused, having said why, and *next left alone. The
	 * caller keeps *next, and these, alive until the loop ends or the
	 * next reload has returned. */
	int (*reload)(void *ctx, const struct loop_config **next);
	void *reload_ctx;
};

/* Whether SIGTERM or SIGINT is pending (blocked, not yet taken): a
 * request to leave that came while no loop took signals, which must end a
 * rejoin rather than be carried into it. */
bool loop_leave_pending(void);
/* Fork the storage process (worker.h) now, while this process has one
 * thread: call it before anything starts a thread (the health endpoint,
 * the metrics file's writer). loop_run hands it the lock file once open;
 * without it, loop_run forks the process itself. Returns 0 or -errno. */
int loop_prepare(void);
/* Run a node until it leaves the group; returns the process exit status
 * (sysexits.h). Errors are logged where they are found. *lost_storage is
 * set when the node left because the lock file failed it while in the
 * group (fenced, or an error while waiting): its workload, if it had one,
 * is gone, and a new node may join once the storage answers again. */
int loop_run(const struct loop_config *cfg, bool *lost_storage);

#endif
