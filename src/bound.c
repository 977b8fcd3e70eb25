/* Bounded storage calls: for a command, a watching parent process; for a
 * long-lived thread, one watchdog thread per process over every bound. */
#include "understudy/bound.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "understudy/clock.h"

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
	struct bound *firing; /* the one whose expired() runs now */
} B = { .mu = PTHREAD_MUTEX_INITIALIZER, .done = PTHREAD_COND_INITIALIZER };

/* bound_start's: the call in progress, written by the command (the child)
 * and read by its watcher (the parent), in memory both share. what and on
 * are written under a sequence count (odd while being written), so the
 * watcher never prints half of one call's name and half of another's. */
struct shared {
	_Atomic int64_t deadline; /* CLOCK_MONOTONIC ms; 0: no call in progress */
	_Atomic int64_t call_ms;
	_Atomic unsigned seq;
	_Atomic bool abandoned; /* the watcher answered for the command: it ends at its next call's end */
	int status;             /* with that status, saying nothing more */
	bool fuse;              /* the file is on a FUSE mount: no signal may reach a call */
	char what[256];
	char on[4096];
};
static struct shared *S;
static int64_t S_ms;
static char S_path[4096];
/* The command's signal mask outside its calls: every signal is blocked
 * inside one. A signal that lands in a call on a FUSE mount makes the
 * kernel send the daemon an interrupt, which GlusterFS's client can
 * deadlock on while its connection drops (doc/protocol.md §4.3), leaving
 * the whole mount of the host without answer; a pending one is taken at
 * the call's end. */
static sigset_t S_mask;
static bool S_blocked;

static _Thread_local struct bound *mine;

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
		int64_t left = first->deadline - clock_ms();
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
	B.list = B.firing = NULL;
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

/* --- bound_start: the command runs in a child, its parent watches ------- */

static volatile sig_atomic_t child_pid;

/* A signal for the command (^C, a service manager's SIGTERM, timeout(1))
 * reaches the watcher first when sent to its pid: the command decides
 * what it does with it. */
static void forward(int sig)
{
	if (child_pid > 0)
		kill(child_pid, sig);
}

/* The watcher's whole life: until the command exits, pass its status on;
 * once a call outlives its bound, print which and exit with status at
 * once, leaving the command to die (SIGKILL) whenever its call lets it.
 * Never returns. */
__attribute__((noreturn)) static void watch(pid_t child, int alive, const char *cmd, int status, bool quiet)
{
	static const int forwarded[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };
	struct sigaction sa = { .sa_handler = forward, .sa_flags = SA_RESTART };
	child_pid = child;
	for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
		sigaction(forwarded[i], &sa, NULL);
	for (;;) {
		int64_t deadline = atomic_load(&S->deadline), now = clock_ms();
		if (deadline && now >= deadline)
			break;
		/* Idle, sleep one bound: a call that begins meanwhile ends its
		 * bound no sooner than that, so it is never seen late. */
		int64_t left = deadline ? deadline - now : S_ms;
		struct pollfd p = { .fd = alive, .events = POLLIN };
		int r = poll(&p, 1, (int)(left > 60000 ? 60000 : left));
		if (r <= 0)
			continue;
		/* The end of the pipe the command held is closed: it exited. */
		int st = 0;
		while (waitpid(child, &st, 0) < 0 && errno == EINTR)
			;
		if (WIFEXITED(st))
			_exit(WEXITSTATUS(st));
		signal(WTERMSIG(st), SIG_DFL);
		raise(WTERMSIG(st));
		_exit(128 + WTERMSIG(st));
	}
	char what[sizeof(S->what)], on[sizeof(S->on)];
	int64_t ms;
	unsigned q;
	/* A few tries at most: the command is in its call, not writing. */
	int tries = 1000;
	do {
		q = atomic_load(&S->seq);
		snprintf(what, sizeof(what), "%s", S->what);
		snprintf(on, sizeof(on), "%s", S->on);
		ms = atomic_load(&S->call_ms);
	} while (((q & 1) || q != atomic_load(&S->seq)) && --tries > 0);
	if (!quiet)
		fprintf(stderr, "understudy %s: %s: no answer from the storage within %lld ms (%s)\n", cmd, on,
			(long long)ms, what);
	/* The call never returned. The command ends, silently, as soon as
	 * its call returns (bound_idle); its caller has the answer now. Off
	 * FUSE a SIGKILL ends it at once (a lock wait, an NFS call: the
	 * kernel's waits there end on it), so that nothing of it holds the
	 * caller's output open. On FUSE no signal: a call that reached the
	 * daemon waits for the answer through SIGKILL anyway, and the signal
	 * would send the daemon an interrupt (above). */
	atomic_store(&S->abandoned, true);
	if (!S->fuse)
		kill(child, SIGKILL);
	_exit(status);
}

/* Whether path is on a FUSE mount, from the mount table alone (never a
 * call on the storage, which may not answer): the longest mount point
 * that is a prefix of the path as given, made absolute. A symbolic link
 * into a FUSE mount is not seen through. */
static bool on_fuse(const char *path)
{
	char abs[8192], cwd[4096];
	if (path[0] == '/')
		snprintf(abs, sizeof(abs), "%s", path);
	else if (getcwd(cwd, sizeof(cwd)))
		snprintf(abs, sizeof(abs), "%s/%s", cwd, path);
	else
		return false;
	FILE *f = fopen("/proc/self/mounts", "re");
	if (!f)
		return false;
	char line[8192], dir[4096], type[256];
	size_t best = 0;
	bool fuse = false;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%*s %4095s %255s", dir, type) != 2)
			continue;
		size_t n = strlen(dir);
		bool prefix =
			strncmp(abs, dir, n) == 0 && (abs[n] == '/' || abs[n] == '\0' || (n == 1 && dir[0] == '/'));
		if (prefix && n >= best) {
			best = n;
			fuse = strncmp(type, "fuse", 4) == 0;
		}
	}
	fclose(f);
	return fuse;
}

int bound_start(const char *cmd, const char *path, int64_t ms, int status, bool quiet)
{
	struct shared *s = mmap(NULL, sizeof(*s), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (s == MAP_FAILED)
		return -errno;
	int alive[2];
	if (pipe2(alive, O_CLOEXEC) < 0) {
		int e = errno;
		munmap(s, sizeof(*s));
		return -e;
	}
	S = s;
	S->status = status;
	S->fuse = on_fuse(path);
	S_ms = ms;
	snprintf(S_path, sizeof(S_path), "%s", path);
	/* Nothing printed twice: the child gets the buffers empty. */
	fflush(NULL);
	pid_t child = fork();
	if (child < 0) {
		int e = errno;
		close(alive[0]);
		close(alive[1]);
		munmap(s, sizeof(*s));
		S = NULL;
		return -e;
	}
	if (child == 0) {
		/* The command goes on here. It keeps alive[1] open until it
		 * ends, and its watcher ends with it. */
		close(alive[0]);
		return 0;
	}
	close(alive[1]);
	watch(child, alive[0], cmd, status, quiet);
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
	pthread_mutex_unlock(&B.mu);
	if (mine == b)
		mine = NULL;
	free(b);
}

/* The command's call, for its watcher. */
static void shared_doing(const char *path, const char *what, int64_t ms)
{
	/* What the command printed goes out before a call that may never
	 * return: the watcher cannot flush the command's buffers. */
	fflush(stdout);
	if (atomic_load(&S->abandoned))
		_exit(S->status);
	if (S->fuse && !S_blocked) {
		sigset_t all;
		sigfillset(&all);
		pthread_sigmask(SIG_BLOCK, &all, &S_mask);
		S_blocked = true;
	}
	unsigned q = atomic_load(&S->seq);
	atomic_store(&S->seq, q + 1);
	snprintf(S->what, sizeof(S->what), "%s", what);
	snprintf(S->on, sizeof(S->on), "%s", path ? path : S_path);
	atomic_store(&S->call_ms, S_ms + ms);
	atomic_store(&S->seq, q + 2);
	atomic_store(&S->deadline, clock_ms() + S_ms + ms);
}

void bound_waiting_on(const char *path, const char *what, int64_t ms)
{
	if (!mine) {
		if (S)
			shared_doing(path, what, ms);
		return;
	}
	pthread_mutex_lock(&B.mu);
	struct bound *b = mine;
	if (b) {
		b->what = what;
		snprintf(b->on, sizeof(b->on), "%s", path ? path : b->path);
		b->call_ms = b->ms + ms;
		b->deadline = clock_ms() + b->call_ms;
		pthread_cond_signal(&B.cv);
	}
	pthread_mutex_unlock(&B.mu);
}

void bound_doing_on(const char *path, const char *what) { bound_waiting_on(path, what, 0); }

void bound_doing(const char *what) { bound_waiting_on(NULL, what, 0); }

void bound_idle(void)
{
	if (!mine) {
		if (!S)
			return;
		atomic_store(&S->deadline, 0);
		/* Answered for already: nothing more of this command may come
		 * out, and nothing more of it may run. */
		if (atomic_load(&S->abandoned))
			_exit(S->status);
		if (S_blocked) {
			S_blocked = false;
			pthread_sigmask(SIG_SETMASK, &S_mask, NULL);
		}
		return;
	}
	pthread_mutex_lock(&B.mu);
	mine->deadline = 0;
	pthread_mutex_unlock(&B.mu);
}
