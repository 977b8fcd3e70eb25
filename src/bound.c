/* Bounded storage calls: one watchdog thread per process, over every
 * bound of the process. */
#include "understudy/bound.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

struct bound {
	struct bound *next; /* on the watchdog's list */
	bound_expired *expired;
	void *arg;
	int64_t ms, deadline; /* deadline 0: no call in progress */
	int64_t call_ms;      /* this call's bound: ms, more for a wait */
	const char *what;     /* a string that outlives the call */
	char path[4096];      /* the bound's file: a copy, the caller's may be freed */
	char on[4096];        /* the call's file: path, or bound_doing_on's */
};

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;   /* the watchdog's: a new deadline; on CLOCK_MONOTONIC */
	pthread_cond_t done; /* bound_free's: the watchdog left an expired() */
	bool running;        /* the watchdog runs in this process */
	bool atfork;
	struct bound *list;
	struct bound *process; /* bound_start's: threads with none of their own */
	struct bound *firing;  /* the one whose expired() runs now */
	const char *cmd;       /* bound_start's */
	int status;
	bool quiet;
} B = { .mu = PTHREAD_MUTEX_INITIALIZER, .done = PTHREAD_COND_INITIALIZER };

static _Thread_local struct bound *mine;

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *watchdog(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&B.mu);
	for (;;) {
		struct bound *first = NULL;
		for (struct bound *b = B.list; b; b = b->next)
			if (b->deadline && (!first || b->deadline < first->deadline))
				first = b;
		if (!first) {
			pthread_cond_wait(&B.cv, &B.mu);
			continue;
		}
		int64_t left = first->deadline - now_ms();
		if (left > 0) {
			struct timespec until;
			clock_gettime(CLOCK_MONOTONIC, &until);
			until.tv_sec += left / 1000;
			until.tv_nsec += (left % 1000) * 1000000L;
			if (until.tv_nsec >= 1000000000L)
				until.tv_sec++, until.tv_nsec -= 1000000000L;
			pthread_cond_timedwait(&B.cv, &B.mu, &until);
			continue;
		}
		/* Once per call: the next bound_doing arms it again. */
		first->deadline = 0;
		char on[sizeof(first->on)], msg[sizeof(first->on) + 512];
		snprintf(on, sizeof(on), "%s", first->on);
		struct bound_expiry e = { .path = on, .what = first->what, .ms = first->call_ms, .msg = msg };
		snprintf(msg, sizeof(msg), "%s: no answer from the storage within %lld ms (%s)", on, (long long)e.ms,
			 e.what);
		B.firing = first;
		pthread_mutex_unlock(&B.mu);
		first->expired(first->arg, &e);
		pthread_mutex_lock(&B.mu);
		B.firing = NULL;
		pthread_cond_broadcast(&B.done);
	}
	return NULL;
}

/* A child of a fork has no watchdog (only the forking thread goes on):
 * its bounds are the parent's business, so it has none. The lock is
 * held across the fork so that the child never inherits it taken. */
static void fork_prepare(void) { pthread_mutex_lock(&B.mu); }
static void fork_parent(void) { pthread_mutex_unlock(&B.mu); }
static void fork_child(void)
{
	B.running = false;
	B.list = B.process = B.firing = NULL;
	mine = NULL;
	pthread_mutex_unlock(&B.mu);
}

/* B.mu held. 0 or -errno. */
static int watchdog_start(void)
{
	if (B.running)
		return 0;
	if (!B.atfork) {
		pthread_condattr_t ca;
		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&B.cv, &ca);
		pthread_condattr_destroy(&ca);
		int r = pthread_atfork(fork_prepare, fork_parent, fork_child);
		if (r != 0)
			return -r;
		B.atfork = true;
	}
	/* Signals stay the other threads': the watchdog must never be the
	 * one a signal's handler runs on. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	pthread_t t;
	int r = pthread_create(&t, NULL, watchdog, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0)
		return -r;
	pthread_detach(t);
	B.running = true;
	return 0;
}

static struct bound *add(const char *path, int64_t ms, bound_expired *expired, void *arg, int *err)
{
	struct bound *b = calloc(1, sizeof(*b));
	if (!b) {
		*err = -ENOMEM;
		return NULL;
	}
	snprintf(b->path, sizeof(b->path), "%s", path);
	b->ms = ms, b->expired = expired, b->arg = arg, b->what = "";
	pthread_mutex_lock(&B.mu);
	*err = watchdog_start();
	if (*err == 0) {
		b->next = B.list;
		B.list = b;
	}
	pthread_mutex_unlock(&B.mu);
	if (*err < 0) {
		free(b);
		return NULL;
	}
	return b;
}

static void command_expired(void *arg, const struct bound_expiry *e)
{
	(void)arg;
	/* The main thread is inside a storage call and will not come back
	 * to stdio meanwhile: what it printed before goes out first. */
	fflush(stdout);
	if (!B.quiet)
		fprintf(stderr, "understudy %s: %s\n", B.cmd, e->msg);
	/* The call never returned, so nothing below main can unwind: this is
	 * the one exit outside main, with the command's documented status. A
	 * thread stuck in the kernel may still hold the process until the
	 * call ends; its status is decided here. */
	_exit(B.status);
}

int bound_start(const char *cmd, const char *path, int64_t ms, int status, bool quiet)
{
	B.cmd = cmd, B.status = status, B.quiet = quiet;
	int err;
	struct bound *b = add(path, ms, command_expired, NULL, &err);
	if (!b)
		return err;
	pthread_mutex_lock(&B.mu);
	B.process = b;
	pthread_mutex_unlock(&B.mu);
	return 0;
}

struct bound *bound_new(const char *path, int64_t ms, bound_expired *expired, void *arg)
{
	int err;
	return add(path, ms, expired, arg, &err);
}

void bound_attach(struct bound *b) { mine = b; }

void bound_free(struct bound *b)
{
	if (!b)
		return;
	pthread_mutex_lock(&B.mu);
	for (struct bound **p = &B.list; *p; p = &(*p)->next)
		if (*p == b) {
			*p = b->next;
			break;
		}
	while (B.firing == b)
		pthread_cond_wait(&B.done, &B.mu);
	if (B.process == b)
		B.process = NULL;
	pthread_mutex_unlock(&B.mu);
	if (mine == b)
		mine = NULL;
	free(b);
}

void bound_waiting_on(const char *path, const char *what, int64_t ms)
{
	pthread_mutex_lock(&B.mu);
	struct bound *b = mine ? mine : B.process;
	if (b) {
		b->what = what;
		snprintf(b->on, sizeof(b->on), "%s", path ? path : b->path);
		b->call_ms = b->ms + ms;
		b->deadline = now_ms() + b->call_ms;
		pthread_cond_signal(&B.cv);
	}
	pthread_mutex_unlock(&B.mu);
}

void bound_doing_on(const char *path, const char *what) { bound_waiting_on(path, what, 0); }

void bound_doing(const char *what) { bound_waiting_on(NULL, what, 0); }

void bound_idle(void)
{
	pthread_mutex_lock(&B.mu);
	struct bound *b = mine ? mine : B.process;
	if (b)
		b->deadline = 0;
	pthread_mutex_unlock(&B.mu);
}
