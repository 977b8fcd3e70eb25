/* Readiness: how the manager learns that its workload serves, or stopped
 * being healthy. The workload's own notify socket (READY=1, STATUS=,
 * RELOADING=1, WATCHDOG=1 and =trigger, heard only from the workload's
 * processes), the ready descriptor it inherits, the TCP or command probe,
 * and the watchdog the workload asks for. It reports news to the loop,
 * which makes node events of them (READY, UNHEALTHY); it decides nothing
 * about the node. Its requests go on the loop's io_uring, tagged below. */
#ifndef UNDERSTUDY_READINESS_H
#define UNDERSTUDY_READINESS_H

#include <liburing.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "understudy/loop.h"
#include "understudy/supervise.h"

/* News for the loop, or'ed. */
enum readiness_news {
	READINESS_READY = 1,     /* the workload is ready: at most once per workload */
	READINESS_UNHEALTHY = 2, /* its watchdog went silent or it triggered it: once per workload */
	READINESS_STATUS = 4,    /* its own STATUS= changed (readiness_status) */
};

/* The low byte of the user data of readiness's ring requests: the loop
 * hands every completion with one of these to readiness_complete(). */
enum { READINESS_TAG_NOTIFY = 0x10, READINESS_TAG_READY_FD = 0x11, READINESS_TAG_TCP = 0x12 };

/* The workload and the node as the loop knows them at the moment. */
struct readiness_now {
	const struct workload *wl;
	bool active;   /* spawned and not yet reaped whole */
	bool starting; /* the node waits for READY (STARTING): only then is it reported */
	bool live;     /* the node is LIVE: a reload is passed on to systemd */
};

struct readiness {
	const struct loop_config *cfg;
	struct io_uring *ring;
	char *const *probe_envp; /* the ready command's environment (hook.h) */
	/* The workload's notify socket. */
	int notify_fd;
	struct msghdr nmsg;
	struct iovec niov;
	char nbuf[4096];
	_Alignas(struct cmsghdr) char ncmsg[CMSG_SPACE(sizeof(struct ucred))];
	char notify_env[128], watchdog_env[64];
	char status[160]; /* the workload's own STATUS=, escaped */
	bool reloading, stray_said;
	bool ready_said, unhealthy_said; /* once per workload each */
	int64_t watchdog_at;             /* it asked for a watchdog: pet by then */
	/* The ready descriptor: the read end of its pipe, -1 when none. */
	int ready_r;
	char ready_buf[64];
	unsigned ready_gen;
	/* The probes. */
	int tcp_fd;
	unsigned tcp_gen;
	struct __kernel_timespec tcp_timeout;
	pid_t probe_pid;
	int probe_exec_fd; /* its exec error pipe (hook.h), -1 when none */
	int64_t probe_at, probe_kill_at;
};

/* Set up for cfg on ring: with --ready notify, bind the workload's notify
 * socket (an abstract name no one can guess). 0, or -errno. */
int readiness_open(struct readiness *r, const struct loop_config *cfg, struct io_uring *ring);
/* The workload's environment for it: NOTIFY_SOCKET= and WATCHDOG_USEC=,
 * each NULL when not given. */
void readiness_env(const struct readiness *r, char *env[2]);
/* Start listening, once the ring is up; probes run with probe_envp. */
void readiness_listen(struct readiness *r, char *const *probe_envp);
/* Before a spawn: the ready descriptor's pipe, passed through as. 0, or -errno. */
int readiness_spawning(struct readiness *r, struct supervise_as *as);
/* The spawn failed: nothing to watch. */
void readiness_unspawned(struct readiness *r);
/* A new workload started at now (ms): watch it. READINESS_READY at once
 * with --ready exec. */
unsigned readiness_started(struct readiness *r, int64_t now);
/* Readiness is over for this workload: it is ready, or gone. */
void readiness_over(struct readiness *r);
/* The workload is gone: no readiness, no watchdog. */
void readiness_gone(struct readiness *r);
/* A completion tagged READINESS_TAG_*, with its result. */
unsigned readiness_complete(struct readiness *r, uint64_t tag, int res, const struct readiness_now *now);
/* A child ended: true when it was the ready command, with its news. */
bool readiness_reaped(struct readiness *r, pid_t pid, int wstatus, const struct readiness_now *now, unsigned *news);
/* The earliest deadline (a probe, the watchdog), 0 if none; and what is due. */
int64_t readiness_deadline(const struct readiness *r);
unsigned readiness_expire(struct readiness *r, int64_t now);
/* The workload's own STATUS= text, escaped, "" if none. */
const char *readiness_status(const struct readiness *r);

#endif
