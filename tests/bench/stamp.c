/* stamp: the workload the benchmarks run under each HA manager.
 *
 * usage: stamp LOG [NAME]
 *
 * It appends "start NAME PID T" to LOG as the first thing after exec, then
 * sleeps until a signal. On SIGTERM or SIGINT it appends "stop NAME PID T"
 * and exits 0 at once, so a hand-over measures the manager and not the
 * workload; the stop line lets the harness subtract what stopping cost all
 * the same. T is CLOCK_MONOTONIC in nanoseconds: one clock for every process
 * on the machine, network namespaces included, so the harness compares it
 * with the moment it sent SIGKILL or a request.
 *
 * NAME defaults to $UNDERSTUDY_NODE, then to "-": the flock(1) and etcdctl
 * baselines set no variable, and the harness passes a name instead. Each line
 * is one O_APPEND write(2), so lines of two stamps never interleave. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int stamp(int fd, const char *what, const char *name, long long t)
{
	char buf[160];
	int n = snprintf(buf, sizeof buf, "%s %s %ld %lld\n", what, name, (long)getpid(), t);
	if (n < 0 || (size_t)n >= sizeof buf)
		return -EOVERFLOW;
	ssize_t w;
	do
		w = write(fd, buf, (size_t)n);
	while (w < 0 && errno == EINTR);
	return w == n ? 0 : -EIO;
}

int main(int argc, char **argv)
{
	/* Read the clock before anything else: the figure is "exec to here",
	 * and opening the log must not be charged to the manager. */
	long long t0 = now_ns();
	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: stamp LOG [NAME]\n");
		return 64;
	}
	const char *name = argc == 3 ? argv[2] : getenv("UNDERSTUDY_NODE");
	if (!name || !*name)
		name = "-";

	/* Signals are taken synchronously: block them before the start line,
	 * so a SIGTERM that follows it at once is still seen as a stop. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);

	int fd = open(argv[1], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		fprintf(stderr, "stamp: %s: %s\n", argv[1], strerror(errno));
		return 71;
	}
	if (stamp(fd, "start", name, t0) < 0)
		return 74;
	for (;;) {
		int sig = sigwaitinfo(&set, NULL);
		if (sig == SIGTERM || sig == SIGINT)
			break;
	}
	return stamp(fd, "stop", name, now_ns()) < 0 ? 74 : 0;
}
