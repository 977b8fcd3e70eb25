/* Bounded storage calls for the commands: a watchdog thread. */
#include "understudy/bound.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "understudy/clock.h"

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv; /* on CLOCK_MONOTONIC */
	bool started;
	const char *cmd, *what;
	char path[4096];      /* a copy: the caller's may be freed meanwhile */
	int64_t ms, deadline; /* deadline 0: no call in progress */
	int status;
	bool quiet;
} B = { .mu = PTHREAD_MUTEX_INITIALIZER };

static void *watchdog(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&B.mu);
	for (;;) {
		if (!B.deadline) {
			pthread_cond_wait(&B.cv, &B.mu);
			continue;
		}
		int64_t left = B.deadline - clock_ms();
		if (left <= 0)
			break;
		/* The condition variable waits on CLOCK_MONOTONIC too. */
		struct timespec until = { .tv_sec = B.deadline / 1000,
					  .tv_nsec = (long)(B.deadline % 1000) * 1000000L };
		pthread_cond_timedwait(&B.cv, &B.mu, &until);
	}
	/* The main thread is inside a storage call and will not come back
	 * to stdio meanwhile: what it printed before goes out first. */
	fflush(stdout);
	if (!B.quiet)
		fprintf(stderr, "understudy %s: %s: no answer from the storage within %lld ms (%s)\n", B.cmd, B.path,
			(long long)B.ms, B.what);
	/* The call never returned, so nothing below main can unwind: this is
	 * the one exit outside main, with the command's documented status. A
	 * thread stuck in the kernel may still hold the process until the
	 * call ends; its status is decided here. */
	_exit(B.status);
}

int bound_start(const char *cmd, const char *path, int64_t ms, int status, bool quiet)
{
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&B.cv, &ca);
	pthread_condattr_destroy(&ca);
	snprintf(B.path, sizeof(B.path), "%s", path);
	B.cmd = cmd, B.ms = ms, B.status = status, B.quiet = quiet, B.what = "", B.deadline = 0;
	/* Signals stay the main thread's. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	pthread_t t;
	int r = pthread_create(&t, NULL, watchdog, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0)
		return -r;
	pthread_detach(t);
	B.started = true;
	return 0;
}

void bound_doing(const char *what)
{
	if (!B.started)
		return;
	pthread_mutex_lock(&B.mu);
	B.what = what;
	B.deadline = clock_ms() + B.ms;
	pthread_cond_signal(&B.cv);
	pthread_mutex_unlock(&B.mu);
}

void bound_idle(void)
{
	if (!B.started)
		return;
	pthread_mutex_lock(&B.mu);
	B.deadline = 0;
	pthread_mutex_unlock(&B.mu);
}
