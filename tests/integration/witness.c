/* witness: the workload the integration tests run under understudy.
 *
 * usage: witness LOG WITNESS_LOCKFILE [--exit-after MS] [--exit-code N]
 *                [--ignore-term] [--spawn-child] [--tick-dir DIR]
 *                [--ready-notify | --ready-fd FD | --ready-listen PORT]
 *                [--ready-after MS] [--from-grandchild] [--watchdog-pets N]
 *                [--status TEXT] [--hold-files N] [--no-parent-death]
 *
 * It records its life in LOG, one line per event, each line one O_APPEND
 * write(2) so that lines of concurrent witnesses never interleave:
 *
 *   start NAME PID T ROLE     started (NAME, ROLE from UNDERSTUDY_NODE/_ROLE)
 *   overlap NAME T PID HOLDERS another witness still held the witness lock;
 *                             HOLDERS: PID:STATE:E|R of every other witness
 *                             with this WITNESS_LOCKFILE open
 *   child NAME PID T          the --spawn-child grandchild started
 *   signal NAME HUP|USR1|USR2 T
 *   stop NAME PID T           SIGTERM (or SIGINT) received: exits 0
 *   exit NAME PID T CODE      --exit-after elapsed: exits with --exit-code
 *   ready NAME PID T          it said it is ready (--ready-*), MS after start
 *
 * T is CLOCK_MONOTONIC in nanoseconds: one clock for the whole system, so
 * the lines of different processes compare.
 *
 * Readiness, as a service would say it: READY=1 (with a STATUS=) on
 * $NOTIFY_SOCKET, a newline on an inherited descriptor, or listening on
 * 127.0.0.1:PORT (--status TEXT replaces the STATUS= text, "serving");
 * --from-grandchild sends the READY=1 from a grandchild
 * of the witness; --watchdog-pets N then sends WATCHDOG=1 N times, every
 * half $WATCHDOG_USEC, and stops.
 *
 * With --hold-files N it opens N more files (/dev/null each time) after
 * taking the witness lock, so at numbers above it: a process's exit
 * releases its files from the highest descriptor down, so a SIGKILLed
 * witness holding them keeps its witness lock through N releases, the
 * window in which the test of a late release starts the next witness.
 *
 * With --no-parent-death it clears its parent-death signal first, as the
 * exec of a set-user-ID program (su, sudo) clears a workload's: its
 * manager's death must then still end it.
 *
 * A witness killed with SIGKILL writes no last line. With --tick-dir it
 * overwrites DIR/PID.T0 (T0 the time of its start line) with the current
 * T (20 digits) every millisecond, so
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
#include <dirent.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

static int log_fd = -1;
static int tick_fd = -1;
static const char *node = "?";
static const char *status_text = "serving";

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
			"[--ignore-term] [--spawn-child] [--tick-dir DIR] [--hold-files N] [--no-parent-death]\n");
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

/* Whether process PID has the file of LOCK_FD open: a witness of another
 * group (the soak test runs many at once, each group with its own witness
 * lock file) is no holder of this one. A process that shows no descriptor
 * at all is one whose exit has already taken its descriptor table apart:
 * the kernel releases the files' locks only after that (the last close of
 * each file runs when the table is gone), so exactly the exiting holder of
 * a late release looks like this, and it is listed. */
static bool has_open(long pid, int lock_fd)
{
	struct stat mine, st;
	if (fstat(lock_fd, &mine) < 0)
		return true; /* cannot tell: list it */
	char path[64];
	snprintf(path, sizeof path, "/proc/%ld/fd", pid);
	DIR *d = opendir(path);
	if (!d)
		return true;
	bool found = false;
	int fds = 0;
	struct dirent *de;
	while (!found && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		fds++;
		if (fstatat(dirfd(d), de->d_name, &st, 0) == 0)
			found = st.st_dev == mine.st_dev && st.st_ino == mine.st_ino;
	}
	closedir(d);
	return found || fds == 0;
}

/* The witness lock is taken: say who else is a witness with this witness
 * lock file open now and whether it is exiting (PF_EXITING: SIGKILLed, its
 * code no longer runs, but the kernel has not yet closed its files, so its
 * lock stays; closing a FUSE file in exit can wait for the storage).
 * "holders" lists PID:STATE:E for exiting, :R for still running its code. */
static void overlap(int lock_fd)
{
	char holders[256] = "", *p = holders;
	DIR *d = opendir("/proc");
	struct dirent *de;
	while (d && (de = readdir(d))) {
		long pid = atol(de->d_name);
		if (pid <= 0 || pid == (long)getpid())
			continue;
		char path[64], comm[32] = "", stat[512];
		snprintf(path, sizeof path, "/proc/%ld/comm", pid);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		bool ours = fgets(comm, sizeof comm, f) && !strcmp(comm, "witness\n");
		fclose(f);
		snprintf(path, sizeof path, "/proc/%ld/stat", pid);
		if (!ours || !has_open(pid, lock_fd) || !(f = fopen(path, "r")))
			continue;
		size_t n = fread(stat, 1, sizeof stat - 1, f);
		fclose(f);
		stat[n] = '\0';
		/* After "(comm)": state, ppid, pgrp, session, tty, tpgid, flags. */
		char *rp = strrchr(stat, ')'), state = '?';
		unsigned long flags = 0;
		if (rp)
			sscanf(rp + 1, " %c %*d %*d %*d %*d %*d %lu", &state, &flags);
		p += snprintf(p, (size_t)(holders + sizeof holders - p), "%s%ld:%c:%c", p == holders ? "" : ",", pid,
			      state, flags & 0x4 ? 'E' : 'R');
		if (p >= holders + sizeof holders - 32)
			break;
	}
	if (d)
		closedir(d);
	logline("overlap %s %lld %ld %s", node, now_ns(), (long)getpid(), *holders ? holders : "-");
}

/* --hold-files: as many as the descriptor limit allows, raised first (a
 * root witness may raise the hard limit too). */
static void hold(long n)
{
	struct rlimit rl = { .rlim_cur = (rlim_t)n + 64, .rlim_max = (rlim_t)n + 64 };
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0 && getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	long i = 0;
	while (i < n && open("/dev/null", O_RDONLY | O_CLOEXEC) >= 0) /* held until exit */
		i++;
	if (i < n)
		fprintf(stderr, "witness: --hold-files: %ld of %ld: %s\n", i, n, strerror(errno));
}

static void notify(const char *msg)
{
	const char *path = getenv("NOTIFY_SOCKET");
	if (!path || !*path)
		return;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = '\0';
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
	if (sendto(fd, msg, strlen(msg), 0, (struct sockaddr *)&sa, len) < 0)
		fprintf(stderr, "witness: notify %s: %s\n", path, strerror(errno));
	close(fd);
}

enum ready_how { READY_NONE, READY_NOTIFY, READY_FD, READY_LISTEN };

static void say_ready(enum ready_how how, long arg, bool from_grandchild)
{
	logline("ready %s %ld %lld", node, (long)getpid(), now_ns());
	if (how == READY_FD) {
		if (write((int)arg, "\n", 1) < 0)
			fprintf(stderr, "witness: ready fd %ld: %s\n", arg, strerror(errno));
	} else if (how == READY_LISTEN) {
		int s = socket(AF_INET, SOCK_STREAM, 0); /* kept open: it serves */
		int one = 1;
		setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		struct sockaddr_in in = { .sin_family = AF_INET,
					  .sin_port = htons((uint16_t)arg),
					  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		if (bind(s, (struct sockaddr *)&in, sizeof in) < 0 || listen(s, 8) < 0)
			fprintf(stderr, "witness: listen %ld: %s\n", arg, strerror(errno));
	} else if (how == READY_NOTIFY && !from_grandchild) {
		char msg[512];
		snprintf(msg, sizeof msg, "STATUS=%s\nREADY=1", status_text);
		notify(msg);
	} else if (how == READY_NOTIFY) {
		/* A child whose child says it: the sender is a grandchild,
		 * as in a service whose worker process reports. */
		pid_t c = fork();
		if (c == 0) {
			if (fork() == 0) {
				notify("STATUS=serving\nREADY=1");
				_exit(0);
			}
			wait(NULL);
			_exit(0);
		}
		if (c > 0)
			waitpid(c, NULL, 0);
	}
}

int main(int argc, char **argv)
{
	if (argc < 3)
		usage();
	const char *log_path = argv[1], *lock_path = argv[2];
	long exit_after = -1, exit_code = 0;
	bool ignore_term = false, spawn_child = false;
	const char *tick_dir = NULL;
	enum ready_how ready_how = READY_NONE;
	long ready_arg = 0, ready_after = 0, pets = 0, hold_files = 0;
	bool from_grandchild = false;
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
		else if (!strcmp(argv[i], "--ready-notify"))
			ready_how = READY_NOTIFY;
		else if (!strcmp(argv[i], "--ready-fd") && i + 1 < argc)
			ready_how = READY_FD, ready_arg = parse_num(argv[++i]);
		else if (!strcmp(argv[i], "--ready-listen") && i + 1 < argc)
			ready_how = READY_LISTEN, ready_arg = parse_num(argv[++i]);
		else if (!strcmp(argv[i], "--ready-after") && i + 1 < argc)
			ready_after = parse_num(argv[++i]);
		else if (!strcmp(argv[i], "--from-grandchild"))
			from_grandchild = true;
		else if (!strcmp(argv[i], "--watchdog-pets") && i + 1 < argc)
			pets = parse_num(argv[++i]);
		else if (!strcmp(argv[i], "--hold-files") && i + 1 < argc)
			hold_files = parse_num(argv[++i]);
		else if (!strcmp(argv[i], "--status") && i + 1 < argc)
			status_text = argv[++i];
		else if (!strcmp(argv[i], "--no-parent-death"))
			prctl(PR_SET_PDEATHSIG, 0);
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
		overlap(lock_fd);
	if (hold_files > 0)
		hold(hold_files);

	long long t0 = now_ns();
	if (tick_dir) {
		/* PID.T, T the start line's time: a pid used again in a long run
		 * (the soak test) must not write over the last tick of a killed
		 * witness that had it before. */
		char path[4096];
		snprintf(path, sizeof path, "%s/%ld.%lld", tick_dir, (long)getpid(), t0);
		tick_fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (tick_fd < 0)
			fprintf(stderr, "witness: %s: %s\n", path, strerror(errno));
	}
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
	long long ready_at = ready_how != READY_NONE ? t0 + (long long)ready_after * 1000000LL : -1;
	const char *wd = getenv("WATCHDOG_USEC");
	long long pet_every = wd ? atoll(wd) * 1000LL / 2 : 0, pet_at = -1;
	for (;;) {
		siginfo_t si;
		int sig;
		long long now = now_ns();
		if (deadline >= 0 && deadline - now <= 0)
			break;
		if (ready_at >= 0 && now >= ready_at) {
			say_ready(ready_how, ready_arg, from_grandchild);
			ready_at = -1;
			pet_at = pets > 0 && pet_every > 0 ? now : -1;
		}
		if (pet_at >= 0 && now >= pet_at) {
			notify("WATCHDOG=1");
			pet_at = --pets > 0 ? now + pet_every : -1;
		}
		/* The nearest of the deadlines this loop keeps. */
		long long next = deadline;
		if (ready_at >= 0 && (next < 0 || ready_at < next))
			next = ready_at;
		if (pet_at >= 0 && (next < 0 || pet_at < next))
			next = pet_at;
		if (next >= 0 || tick_fd >= 0) {
			long long left = next >= 0 ? next - now : TICK_NS;
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
