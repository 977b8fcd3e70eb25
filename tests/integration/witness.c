/* witness: the workload the integration tests run under understudy.
 *
 * usage: witness LOG WITNESS_LOCKFILE [--exit-after MS] [--exit-code N]
 *                [--ignore-term] [--spawn-child] [--tick-dir DIR]
 *
 * It records its life in LOG, one line per event, each line one O_APPEND
 * write(2) so that lines of concurrent witnesses never interleave:
 *
 *   start NAME PID T ROLE     started (NAME, ROLE from UNDERSTUDY_NODE/_ROLE)
 *   overlap NAME T PID        another witness still held the witness lock
 *   child NAME PID T          the --spawn-child grandchild started
 *   signal NAME HUP|USR1|USR2 T
 *   stop NAME PID T           SIGTERM (or SIGINT) received: exits 0
 *   exit NAME PID T CODE      --exit-after elapsed: exits with --exit-code
 *
 * T is CLOCK_MONOTONIC in nanoseconds: one clock for the whole system, so
 * the lines of different processes compare.
 *
 * A witness killed with SIGKILL writes no last line. With --tick-dir it
 * overwrites DIR/PID with the current T (20 digits) every millisecond, so
 * the end of a killed witness is known to within a tick: the chaos test
 * measures gaps between workloads from these files.
 *
 * Two witnesses running at once is seen, not assumed: each takes an OFD
 * write lock on byte 0 of WITNESS_LOCKFILE without waiting. The lock lives
 * as long as any process holding the open file description does (so also
 * the --spawn-child grandchild), and is released by the kernel however the
 * witness dies, SIGKILL included. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int log_fd = -1;
static int tick_fd = -1;
static const char *node = "?";

#define TICK_NS 1000000LL

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* One line, one write(2): O_APPEND makes it atomic with respect to the
 * other witnesses appending to the same file. */
__attribute__((format(printf, 1, 2))) static void logline(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof buf - 2)
		n = (int)sizeof buf - 2;
	buf[n++] = '\n';
	ssize_t w;
	do
		w = write(log_fd, buf, (size_t)n);
	while (w < 0 && errno == EINTR);
}

static void usage(void)
{
	fprintf(stderr, "usage: witness LOG WITNESS_LOCKFILE [--exit-after MS] [--exit-code N] "
			"[--ignore-term] [--spawn-child] [--tick-dir DIR]\n");
	exit(64);
}

static long parse_num(const char *s)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 0)
		usage();
	return v;
}

/* Fixed width and offset 0: a reader never sees a shorter, stale tail. */
static void tick(void)
{
	if (tick_fd < 0)
		return;
	char buf[32];
	int n = snprintf(buf, sizeof buf, "%020lld\n", now_ns());
	if (pwrite(tick_fd, buf, (size_t)n, 0) < 0)
		return;
}

/* The grandchild: holds the inherited descriptors (the witness lock and
 * whatever the manager passed down) and sleeps until killed. */
static void grandchild(void)
{
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	logline("child %s %ld %lld", node, (long)getpid(), now_ns());
	for (;;)
		pause();
}

int main(int argc, char **argv)
{
	if (argc < 3)
		usage();
	const char *log_path = argv[1], *lock_path = argv[2];
	long exit_after = -1, exit_code = 0;
	bool ignore_term = false, spawn_child = false;
	const char *tick_dir = NULL;
	for (int i = 3; i < argc; i++) {
		if (!strcmp(argv[i], "--exit-after") && i + 1 < argc)
			exit_after = parse_num(argv[++i]);
		else if (!strcmp(argv[i], "--exit-code") && i + 1 < argc)
			exit_code = parse_num(argv[++i]);
		else if (!strcmp(argv[i], "--ignore-term"))
			ignore_term = true;
		else if (!strcmp(argv[i], "--spawn-child"))
			spawn_child = true;
		else if (!strcmp(argv[i], "--tick-dir") && i + 1 < argc)
			tick_dir = argv[++i];
		else
			usage();
	}
	const char *e = getenv("UNDERSTUDY_NODE");
	if (e && *e)
		node = e;
	const char *role = getenv("UNDERSTUDY_ROLE");
	if (!role || !*role)
		role = "?";

	log_fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (log_fd < 0) {
		fprintf(stderr, "witness: %s: %s\n", log_path, strerror(errno));
		return 71;
	}
	int lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (lock_fd < 0) {
		fprintf(stderr, "witness: %s: %s\n", lock_path, strerror(errno));
		return 71;
	}

	/* Signals are taken synchronously with sigtimedwait: block them first. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	sigaddset(&set, SIGINT);
	if (ignore_term)
		signal(SIGTERM, SIG_IGN);
	else
		sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, NULL);

	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1 };
	if (fcntl(lock_fd, F_OFD_SETLK, &fl) < 0)
		logline("overlap %s %lld %ld", node, now_ns(), (long)getpid());

	if (tick_dir) {
		char path[4096];
		snprintf(path, sizeof path, "%s/%ld", tick_dir, (long)getpid());
		/* O_TRUNC: a pid reused within one run starts a fresh file. */
		tick_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (tick_fd < 0)
			fprintf(stderr, "witness: %s: %s\n", path, strerror(errno));
	}
	long long t0 = now_ns();
	tick();
	logline("start %s %ld %lld %s", node, (long)getpid(), t0, role);

	if (spawn_child) {
		pid_t pid = fork();
		if (pid < 0)
			fprintf(stderr, "witness: fork: %s\n", strerror(errno));
		else if (pid == 0)
			grandchild();
	}

	long long deadline = exit_after >= 0 ? t0 + (long long)exit_after * 1000000LL : -1;
	for (;;) {
		siginfo_t si;
		int sig;
		long long now = now_ns();
		if (deadline >= 0 && deadline - now <= 0)
			break;
		if (deadline >= 0 || tick_fd >= 0) {
			long long left = deadline >= 0 ? deadline - now : TICK_NS;
			if (tick_fd >= 0 && left > TICK_NS)
				left = TICK_NS;
			struct timespec ts = { .tv_sec = (time_t)(left / 1000000000LL),
					       .tv_nsec = (long)(left % 1000000000LL) };
			sig = sigtimedwait(&set, &si, &ts);
			tick();
		} else {
			sig = sigwaitinfo(&set, &si);
		}
		if (sig < 0)
			continue; /* EAGAIN (deadline checked above) or EINTR */
		switch (sig) {
		case SIGTERM:
		case SIGINT: logline("stop %s %ld %lld", node, (long)getpid(), now_ns()); return 0;
		case SIGHUP: logline("signal %s HUP %lld", node, now_ns()); break;
		case SIGUSR1: logline("signal %s USR1 %lld", node, now_ns()); break;
		case SIGUSR2: logline("signal %s USR2 %lld", node, now_ns()); break;
		default: break;
		}
	}
	logline("exit %s %ld %lld %ld", node, (long)getpid(), now_ns(), exit_code);
	return (int)exit_code;
}
