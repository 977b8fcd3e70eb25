/* check-storage's other processes: the "other open" each check needs, a
 * forked process with an open of its own, driven by one-letter messages
 * over two pipes. Every wait for a helper is bounded, and a helper dies
 * with the runner (a runner ended for a hung call leaves none behind). */
#ifndef UNDERSTUDY_CHECK_HELPER_H
#define UNDERSTUDY_CHECK_HELPER_H

#include <stdint.h>
#include <sys/types.h>

#include "understudy/lockfile.h"

struct check_helper {
	pid_t pid;
	int to, from;
	const char *path; /* the file it opened: for the bound while it dies */
};

struct check_msg {
	char tag;
	int64_t value;
};

/* What a helper runs, in the child: its own open of path, messages on in,
 * answers on out. */
typedef void check_helper_body(const char *path, int in, int out);

/* Fork a helper running body on path. 0 or -errno. */
int check_helper_start(struct check_helper *h, check_helper_body *body, const char *path);
/* SIGKILL it and reap it; the reaping is a bounded storage call, since a
 * helper stuck in one does not die until the call ends. No-op when none. */
void check_helper_stop(struct check_helper *h);
/* One message each way: 0, -ETIMEDOUT, or -EPIPE when the other end is
 * gone. */
int check_msg_send(int fd, char tag, int64_t value);
int check_msg_recv(int fd, int64_t timeout_ms, struct check_msg *m);
/* Send tag, wait up to timeout_ms for the answer's value. */
int check_helper_ask(struct check_helper *h, char tag, int64_t timeout_ms, int64_t *value);

/* In a helper: open path as another node would (its own open, never
 * creating); on failure tell the runner ('e', errno) and exit. */
void check_helper_open(struct lockfile *lf, const char *path, int out);
/* A helper body: takes the live byte through its own open, answers 'h'
 * (or 'e' with the errno), and waits to be killed. */
void check_helper_holder(const char *path, int in, int out);
/* SIGKILL a holder at t0 and wait up to timeout_ms until a's open gets
 * take: 0 with the time in *ns, -ETIMEDOUT while it is still held. */
int check_kill_and_take(struct lockfile *a, pid_t pid, enum lf_lock take, int64_t timeout_ms, int64_t *ns);

#endif
