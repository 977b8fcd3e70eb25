/* understudy check-storage: before a group is put on a shared directory,
 * find out whether the directory does what understudy relies on. Every
 * check is a real lock or write through two opens, the second one in
 * another process; with --peer, in a process on another host.
 *
 * The storage calls run in a child process, the runner, which reports one
 * line per step on a pipe. The command itself never touches the storage:
 * it bounds each step the runner announces, so a dead file server makes
 * a check fail ("no answer within N s") instead of hanging the command. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "understudy/cmd.h"
#include "understudy/config.h"
#include "understudy/lockfile.h"
#include "understudy/log.h"
#include "understudy/options.h"
#include "understudy/text.h"
#include "understudy/timeline.h"

enum { CHECK_FAILED = 1 };
enum { WAKE_ROUNDS = 20, DEATH_ROUNDS = 5, WRITE_ROUNDS = 20, PEER_ROUNDS = 10, PEER_DEATH_ROUNDS = 3 };

static const char usage[] = "usage: understudy check-storage DIR [--peer [--peer-timeout DUR]] [--timeout DUR]\n"
			    "\n"
			    "Check that DIR can hold a group's lock file: byte-range OFD locks exclusive\n"
			    "between two opens, a blocked waiter woken on release, a dead holder's lock\n"
			    "released, a write under the lock seen by another open, and the file system\n"
			    "type with what the takeover delay 'auto' becomes on it. Prints one line per check\n"
			    "(PASS, WARN, FAIL or INFO). Touches nothing in DIR but its own scratch files.\n"
			    "\n"
			    "  --peer              also run each check across hosts, with the same command\n"
			    "                      started on another host against the same directory\n"
			    "  --peer-timeout DUR  how long to wait for that peer (default 60s)\n"
			    "  --timeout DUR       how long one check may take before it fails (default 10s)\n"
			    "\n"
			    "exit status: 0 every check passed (WARN included), 1 a check failed,\n"
			    "64 bad command line, 66 DIR is missing or not a directory, 73 DIR is on a\n"
			    "read-only file system or full, 75 no peer came within --peer-timeout,\n"
			    "77 DIR is not writable, 71 a system call failed.\n";

struct opts {
	const char *dir;
	bool peer;
	int64_t timeout_ms, peer_timeout_ms;
	const char *host;
	char scratch[PATH_MAX], meet[PATH_MAX];
};

static int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_ms(int64_t ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* Median and maximum of n samples, sorting them in place. */
static void median_max(int64_t *v, int n, int64_t *median, int64_t *max)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_i64);
	*median = v[n / 2];
	*max = v[n - 1];
}

static double ms_of_ns(int64_t ns) { return (double)ns / 1e6; }

/* --- the runner's reports ------------------------------------------------- */

/* The runner's end of the pipe. Each line goes out in one write, shorter
 * than PIPE_BUF, so lines of the runner and its helpers never mix. */
static int report_fd = -1;

static void report_line(const char *line)
{
	size_t n = strlen(line);
	if (write(report_fd, line, n) != (ssize_t)n)
		_exit(EX_OSERR); /* the command is gone: nobody to report to */
}

/* Announce the next step and how long it may take: the command fails it
 * as "no answer" if the runner says nothing more within bound_ms. */
static void report_step(int64_t bound_ms, const char *fmt, ...)
{
	char what[400], line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(line, sizeof(line), "?%lld %s\n", (long long)bound_ms, what);
	report_line(line);
}

/* One verdict: PASS, WARN, FAIL or INFO, then the text. */
static void report(const char *kind, const char *fmt, ...)
{
	char text[400], line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	snprintf(line, sizeof(line), "%s  %s\n", kind, text);
	report_line(line);
}

/* --- locks and waits with a bound --------------------------------------------- */

static void on_alarm(int sig) { (void)sig; }

/* A blocking lock wait cut after ms by SIGALRM (installed without
 * SA_RESTART): -ETIMEDOUT then. */
static int lock_within(struct lockfile *lf, enum lf_lock which, int64_t ms)
{
	struct itimerval it = { .it_value = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 } };
	struct itimerval off = { 0 };
	setitimer(ITIMER_REAL, &it, NULL);
	int r = lockfile_lock(lf, which, true);
	setitimer(ITIMER_REAL, &off, NULL);
	return r == -EINTR ? -ETIMEDOUT : r;
}

/* Plain OFD lock calls for what the lock-file layer has no call for:
 * shared locks and arbitrary bytes. 0, -EAGAIN when held, or -errno. */
static int ofd(int fd, short type, int offset)
{
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = offset, .l_len = 1 };
	if (fcntl(fd, F_OFD_SETLK, &fl) == 0)
		return 0;
	return errno == EACCES ? -EAGAIN : -errno;
}

/* --- helper processes ------------------------------------------------------- */

/* A helper is the "other open" or the "holder": a forked process with its
 * own open of the file, driven by one-letter messages over two pipes. */
struct helper {
	pid_t pid;
	int to, from;
};

struct msg {
	char tag;
	int64_t value;
};

static int msg_send(int fd, char tag, int64_t value)
{
	struct msg m = { .tag = tag, .value = value };
	return write(fd, &m, sizeof(m)) == (ssize_t)sizeof(m) ? 0 : -EPIPE;
}

/* 0 with the message, -ETIMEDOUT, or -EPIPE when the other end is gone. */
static int msg_recv(int fd, int64_t timeout_ms, struct msg *m)
{
	int64_t end = mono_ns() + timeout_ms * 1000000;
	for (;;) {
		int64_t left = (end - mono_ns()) / 1000000;
		if (left < 0)
			return -ETIMEDOUT;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int r = poll(&p, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0)
			return -ETIMEDOUT;
		if (r < 0)
			return -errno;
		ssize_t n = read(fd, m, sizeof(*m));
		if (n < 0 && errno == EINTR)
			continue;
		return n == (ssize_t)sizeof(*m) ? 0 : -EPIPE;
	}
}

typedef void helper_body(const char *path, int in, int out);

static int helper_start(struct helper *h, helper_body *body, const char *path)
{
	int to[2], from[2];
	if (pipe2(to, O_CLOEXEC) < 0)
		return -errno;
	if (pipe2(from, O_CLOEXEC) < 0) {
		int e = errno;
		close(to[0]);
		close(to[1]);
		return -e;
	}
	pid_t parent = getpid();
	h->pid = fork();
	if (h->pid < 0) {
		int e = errno;
		close(to[0]), close(to[1]), close(from[0]), close(from[1]);
		return -e;
	}
	if (h->pid == 0) {
		/* A helper outlives nothing: if the runner dies (killed for
		 * hanging), its helpers go with it. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(0);
		close(to[1]);
		close(from[0]);
		body(path, to[0], from[1]);
		_exit(0);
	}
	close(to[0]);
	close(from[1]);
	h->to = to[1];
	h->from = from[0];
	return 0;
}

static void helper_stop(struct helper *h)
{
	if (h->pid <= 0)
		return;
	kill(h->pid, SIGKILL);
	while (waitpid(h->pid, NULL, 0) < 0 && errno == EINTR)
		;
	close(h->to);
	close(h->from);
	h->pid = 0;
}

/* Open the scratch file as another node would: its own open description,
 * never creating. Any failure ends the helper, which the runner sees as
 * a closed pipe. */
static void helper_open(struct lockfile *lf, const char *path, int out)
{
	if (lockfile_open(lf, path, LF_OPEN_WRITE) < 0) {
		msg_send(out, 'e', lf->errno_value ? lf->errno_value : EIO);
		_exit(1);
	}
}

/* --- local checks -------------------------------------------------------------- */

/* Exclusion, byte ranges and shared read locks between two opens of one
 * process and an open of another process. With classic POSIX locks the
 * two opens of one process would not exclude each other. */
static void holder_probe(const char *path, int in, int out)
{
	struct lockfile lf;
	helper_open(&lf, path, out);
	struct msg m = { 0 };
	while (msg_recv(in, INT32_MAX, &m) == 0) {
		int r = m.tag == 'l' ? lockfile_lock(&lf, LF_LOCK_LIVE, false) : ofd(lf.fd, F_UNLCK, LF_OFF_LIVE_LOCK);
		msg_send(out, 'r', r);
	}
	_exit(0);
}

static int ask(struct helper *h, char tag, int64_t timeout_ms, int64_t *value)
{
	struct msg m = { 0 };
	int r = msg_send(h->to, tag, 0);
	if (r == 0)
		r = msg_recv(h->from, timeout_ms, &m);
	if (r == 0)
		*value = m.value;
	return r;
}

static void check_exclusive(const struct opts *o, struct lockfile *a)
{
	report_step(o->timeout_ms, "exclusive byte-range locks between two opens");
	struct lockfile b;
	struct helper h = { 0 };
	const char *bad = NULL;
	int n = 0;
	int64_t v = 0;
	if (lockfile_open(&b, o->scratch, LF_OPEN_WRITE) < 0) {
		report("FAIL", "exclusive byte-range locks between two opens (second open: %s)",
		       strerror(b.errno_value));
		return;
	}
	/* Each case: what must hold, and how to name it when it does not. */
#define CASE(cond, what)                                                                                               \
	do {                                                                                                           \
		if (!(cond)) {                                                                                         \
			bad = what;                                                                                    \
			goto out;                                                                                      \
		}                                                                                                      \
		n++;                                                                                                   \
	} while (0)
	CASE(lockfile_lock(a, LF_LOCK_LIVE, false) == 0, "the first open could not lock a free byte");
	CASE(lockfile_lock(&b, LF_LOCK_LIVE, false) == -EAGAIN, "a second open got a byte the first one holds");
	CASE(lockfile_held(&b, LF_OFF_LIVE_LOCK) == 1 && lockfile_held(a, LF_OFF_LIVE_LOCK) == 0,
	     "F_OFD_GETLK does not tell another open's lock from one's own");
	CASE(lockfile_lock(&b, LF_LOCK_BACKUP, false) == 0, "a lock on one byte blocked the next byte: not byte-range");
	CASE(ofd(a->fd, F_RDLCK, LF_OFF_RECORD_LOCK) == 0 && ofd(b.fd, F_RDLCK, LF_OFF_RECORD_LOCK) == 0,
	     "two read locks on one byte excluded each other");
	CASE(helper_start(&h, holder_probe, o->scratch) == 0 && ask(&h, 'l', o->timeout_ms, &v) == 0 && v == -EAGAIN,
	     "another process got a byte this one holds");
	CASE(lockfile_unlock(a, LF_LOCK_LIVE) == 0 && ask(&h, 'l', o->timeout_ms, &v) == 0 && v == 0,
	     "another process could not lock a byte once it was released");
#undef CASE
out:
	helper_stop(&h);
	lockfile_close(&b); /* releases b's locks */
	lockfile_unlock(a, LF_LOCK_LIVE);
	ofd(a->fd, F_UNLCK, LF_OFF_RECORD_LOCK);
	if (bad)
		report("FAIL", "exclusive byte-range locks between two opens (%s; %d cases passed before)", bad, n);
	else
		report("PASS", "exclusive byte-range locks between two opens (%d of %d cases)", n, n);
}

/* A waiter blocks on the live byte; on 'w' it waits again. It stamps
 * CLOCK_MONOTONIC the moment its wait returns, and releases before it
 * answers so the runner can take the byte back at once. */
static void waiter(const char *path, int in, int out)
{
	struct lockfile lf;
	helper_open(&lf, path, out);
	struct msg m = { 0 };
	while (msg_recv(in, INT32_MAX, &m) == 0) {
		msg_send(out, 'r', 0);
		int r = lockfile_lock(&lf, LF_LOCK_LIVE, true);
		int64_t t = mono_ns();
		lockfile_unlock(&lf, LF_LOCK_LIVE);
		msg_send(out, r == 0 ? 't' : 'e', r == 0 ? t : -r);
	}
	_exit(0);
}

/* Whether pid sits in fcntl(2) now: /proc/PID/syscall names the call a
 * blocked process is in. Releasing before the waiter is in its wait would
 * measure nothing. -1 when the kernel does not say. */
static int in_fcntl(pid_t pid)
{
	char path[64], buf[128];
	snprintf(path, sizeof(path), "/proc/%ld/syscall", (long)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	char *end;
	long nr = strtol(buf, &end, 10);
	return end != buf && nr == SYS_fcntl;
}

static void wait_blocked(pid_t pid)
{
	for (int i = 0; i < 1000; i++) {
		int r = in_fcntl(pid);
		if (r < 0) {
			sleep_ms(20); /* cannot tell: give it time to get there */
			return;
		}
		if (r == 1)
			return;
		sleep_ms(1);
	}
}

static void check_wake(const struct opts *o, struct lockfile *a)
{
	report_step(o->timeout_ms * 2, "a blocked waiter wakes on release");
	struct helper h = { 0 };
	int64_t lat[WAKE_ROUNDS] = { 0 }, median, max;
	const char *bad = NULL;
	int r = helper_start(&h, waiter, o->scratch), i = 0;
	for (; r == 0 && i < WAKE_ROUNDS; i++) {
		struct msg m = { 0 };
		if (lockfile_lock(a, LF_LOCK_LIVE, false) < 0) {
			bad = "could not take the byte back after the waiter released it";
			break;
		}
		if (msg_send(h.to, 'w', 0) < 0 || msg_recv(h.from, o->timeout_ms, &m) < 0 || m.tag != 'r') {
			bad = "the waiter could not open the file";
			break;
		}
		wait_blocked(h.pid);
		int64_t t0 = mono_ns();
		lockfile_unlock(a, LF_LOCK_LIVE);
		r = msg_recv(h.from, o->timeout_ms, &m);
		if (r == -ETIMEDOUT) {
			report("FAIL", "a blocked waiter did not wake within %lld ms of the release",
			       (long long)o->timeout_ms);
			goto out;
		}
		if (r < 0 || m.tag != 't') {
			bad = "the waiter's wait failed";
			break;
		}
		lat[i] = m.value - t0;
	}
	if (r < 0 || bad) {
		report("FAIL", "a blocked waiter wakes on release (%s)", bad ? bad : strerror(-r));
		goto out;
	}
	median_max(lat, WAKE_ROUNDS, &median, &max);
	struct timeline_settings ts;
	struct timeline t;
	timeline_defaults(&ts);
	timeline_derive(&ts, &t);
	/* understudy's waiters re-check every poll interval anyway (their
	 * lock wait is cut then): a slower wake only costs failover time, it
	 * is not wrong. */
	bool slow = median / 1000000 > t.lock_wait_cut_ms;
	report(slow ? "WARN" : "PASS", "a blocked waiter woke %.3f ms after the release (median of %d, max %.3f ms)%s",
	       ms_of_ns(median), WAKE_ROUNDS, ms_of_ns(max),
	       slow ? ": slower than --poll-interval's default, which then bounds failover" : "");
out:
	lockfile_unlock(a, LF_LOCK_LIVE);
	helper_stop(&h);
}

/* Takes the live byte through its own open, says so, and waits to die. */
static void holder(const char *path, int in, int out)
{
	struct lockfile lf;
	helper_open(&lf, path, out);
	int r = lockfile_lock(&lf, LF_LOCK_LIVE, false);
	msg_send(out, r == 0 ? 'h' : 'e', -r);
	for (;;)
		pause();
}

/* SIGKILL a holder at t0 and measure until this open gets its byte. */
static int kill_and_take(struct lockfile *a, pid_t pid, enum lf_lock take, int64_t timeout_ms, int64_t *ns)
{
	int64_t t0 = mono_ns();
	kill(pid, SIGKILL);
	int r = lock_within(a, take, timeout_ms);
	*ns = mono_ns() - t0;
	return r;
}

static void check_death(const struct opts *o, struct lockfile *a)
{
	report_step(o->timeout_ms * 2, "a dead holder's lock is released");
	int64_t lat[DEATH_ROUNDS] = { 0 }, median, max;
	for (int i = 0; i < DEATH_ROUNDS; i++) {
		struct helper h = { 0 };
		struct msg m = { 0 };
		int r = helper_start(&h, holder, o->scratch);
		if (r == 0)
			r = msg_recv(h.from, o->timeout_ms, &m);
		if (r == 0 && m.tag != 'h')
			r = -(int)m.value;
		if (r == 0 && lockfile_held(a, LF_OFF_LIVE_LOCK) != 1)
			r = -ENOLCK;
		if (r < 0) {
			helper_stop(&h);
			report("FAIL", "a dead holder's lock is released (the holder could not take it: %s)",
			       strerror(-r));
			return;
		}
		r = kill_and_take(a, h.pid, LF_LOCK_LIVE, o->timeout_ms, &lat[i]);
		helper_stop(&h);
		lockfile_unlock(a, LF_LOCK_LIVE);
		if (r < 0) {
			report("FAIL", "a killed holder's lock was still held %lld ms after its SIGKILL",
			       (long long)(lat[i] / 1000000));
			return;
		}
	}
	median_max(lat, DEATH_ROUNDS, &median, &max);
	report("PASS", "a dead holder's lock was free %.3f ms after its SIGKILL (median of %d, max %.3f ms)",
	       ms_of_ns(median), DEATH_ROUNDS, ms_of_ns(max));
}

/* A value both sides can compute for round i of a writer, so a reader
 * knows what it should see without being told through the file. */
static uint64_t nonce(uint64_t seed, int round)
{
	uint8_t b[12];
	memcpy(b, &seed, 8);
	memcpy(b + 8, &round, 4);
	return (uint64_t)lockfile_crc32c(b, sizeof(b)) << 32 | (uint32_t)round;
}

static int write_nonce(struct lockfile *lf, uint64_t seed, int round, const char *name)
{
	struct lf_live l = { .epoch = (uint64_t)round + 1, .heartbeat = nonce(seed, round), .slot = -1 };
	snprintf(l.name, sizeof(l.name), "%s", name);
	/* Status 0: only the record and the node id, as a heartbeat writes. */
	return lockfile_write_live(lf, 0, &l);
}

/* 1 when the file's live record is round's, 0 when it is not, -errno. */
static int read_nonce(struct lockfile *lf, uint64_t seed, int round, uint64_t *seen)
{
	static struct lf_view v;
	int r = lockfile_read(lf, &v);
	if (r < 0)
		return r;
	*seen = v.live_rec == LF_REC_OK ? v.live.heartbeat : 0;
	return v.live_rec == LF_REC_OK && v.live.epoch == (uint64_t)round + 1 && v.live.heartbeat == nonce(seed, round);
}

/* The other open keeps the file open from the first round to the last,
 * as nodes do: a client that serves reads from a cache it never
 * revalidates passes a test that opens afresh, and fails this one. */
static void reader_writer(const char *path, int in, int out)
{
	struct lockfile lf;
	helper_open(&lf, path, out);
	uint64_t seen = 0;
	read_nonce(&lf, 0, 0, &seen); /* fill whatever cache there is */
	msg_send(out, 'r', 0);
	struct msg m = { 0 };
	while (msg_recv(in, INT32_MAX, &m) == 0) {
		int round = (int)m.value;
		int r = m.tag == 'W' ? write_nonce(&lf, (uint64_t)getppid(), round, "helper")
				     : read_nonce(&lf, (uint64_t)getppid(), round, &seen);
		msg_send(out, r < 0 ? 'e' : 'd', r < 0 ? -r : m.tag == 'W' ? 1 : (int64_t)seen);
	}
	_exit(0);
}

static void check_write(const struct opts *o, struct lockfile *a)
{
	report_step(o->timeout_ms * 2, "a write under the lock is seen by another open");
	struct helper h = { 0 };
	struct msg m = { 0 };
	uint64_t seed = (uint64_t)getpid(), seen = 0;
	int r = helper_start(&h, reader_writer, o->scratch), i = 0;
	if (r == 0)
		r = msg_recv(h.from, o->timeout_ms, &m);
	if (r == 0 && m.tag == 'e')
		r = -(int)m.value;
	for (; r == 0 && i < WRITE_ROUNDS; i++) {
		/* Even rounds this open writes and the other reads; odd rounds
		 * the other way round. */
		bool we_write = i % 2 == 0;
		if (we_write && (r = write_nonce(a, seed, i, "runner")) < 0)
			break;
		r = msg_send(h.to, we_write ? 'R' : 'W', i);
		if (r == 0)
			r = msg_recv(h.from, o->timeout_ms, &m);
		if (r == 0 && m.tag == 'e')
			r = -(int)m.value;
		if (r < 0)
			break;
		if (we_write)
			seen = (uint64_t)m.value, r = seen == nonce(seed, i) ? 0 : 1;
		else
			r = read_nonce(a, seed, i, &seen) == 1 ? 0 : 1;
		if (r == 1) {
			report("FAIL",
			       "a write under the lock is seen by another open (round %d: wrote heartbeat %llu, the %s "
			       "read %llu)",
			       i + 1, (unsigned long long)nonce(seed, i), we_write ? "other open" : "runner",
			       (unsigned long long)seen);
			goto out;
		}
	}
	if (r < 0)
		report("FAIL", "a write under the lock is seen by another open (round %d: %s)", i + 1, strerror(-r));
	else
		report("PASS", "a write under the lock is seen by another open (%d of %d rounds, both ways)", i,
		       WRITE_ROUNDS);
out:
	helper_stop(&h);
}

/* The workload inherits the manager's open: the live lock must stay while
 * any process holding that open lives, and go when the last one exits. */
static void check_inherit(const struct opts *o)
{
	report_step(o->timeout_ms, "a lock stays with its open while an inheriting process lives");
	struct lockfile c = { .fd = -1 }, probe = { .fd = -1 };
	if (lockfile_open(&c, o->scratch, LF_OPEN_WRITE) < 0 || lockfile_open(&probe, o->scratch, LF_OPEN_WRITE) < 0) {
		report("FAIL", "a lock stays with its open (cannot open the file: %s)",
		       strerror(c.errno_value ? c.errno_value : probe.errno_value));
		lockfile_close(&c);
		return;
	}
	const char *bad = NULL;
	int64_t ns = 0;
	pid_t kid = -1;
	if (lockfile_lock(&c, LF_LOCK_BACKUP, false) < 0) {
		bad = "could not lock a free byte";
		goto out;
	}
	kid = fork();
	if (kid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		for (;;)
			pause(); /* holds c's descriptor, inherited */
	}
	if (kid < 0) {
		bad = strerror(errno);
		goto out;
	}
	lockfile_close(&c);
	if (lockfile_held(&probe, LF_OFF_BACKUP_LOCK) != 1) {
		bad = "the lock went when the taker closed its descriptor, while a child still had the open";
		goto out;
	}
	if (kill_and_take(&probe, kid, LF_LOCK_BACKUP, o->timeout_ms, &ns) < 0)
		bad = "the lock stayed after the last process with the open died";
out:
	if (kid > 0) {
		kill(kid, SIGKILL);
		while (waitpid(kid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	lockfile_close(&c);
	lockfile_close(&probe);
	if (bad)
		report("FAIL", "a lock stays with its open while an inheriting process lives (%s)", bad);
	else
		report("PASS",
		       "a lock stays with its open while a process that inherited it lives, and is free %.3f ms after "
		       "the last one dies",
		       ms_of_ns(ns));
}

/* --- the file system ----------------------------------------------------------- */

static const char *fs_name(long type)
{
	static const struct {
		long type;
		const char *name;
	} names[] = {
		{ 0xEF53, "ext4" },        { 0x58465342, "xfs" },  { 0x9123683E, "btrfs" },    { 0x01021994, "tmpfs" },
		{ 0x794C7630, "overlay" }, { 0x2FC12FC1, "zfs" },  { 0xF2F52010, "f2fs" },     { 0x4D44, "vfat" },
		{ 0x5346544E, "ntfs" },    { 0x3153464A, "jfs" },  { 0x52654973, "reiserfs" }, { 0x858458F6, "ramfs" },
		{ 0x6969, "nfs" },         { 0x65735546, "fuse" }, { 0x00C36400, "ceph" },     { 0x01161970, "gfs2" },
		{ 0xFE534D42, "smb2" },    { 0xFF534D42, "cifs" }, { 0x7461636F, "ocfs2" },    { 0x0BD00BD0, "lustre" },
		{ 0x01021997, "9p" },
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].type == type)
			return names[i].name;
	return NULL;
}

/* The mount holding dir, from /proc/self/mountinfo: its type as mount(8)
 * names it (nfs4, fuse.glusterfs) and its options. 0 or -ENOENT. */
static int mount_of(const char *dir, char *type, size_t ntype, char *mopts, size_t nopts)
{
	struct stat st;
	if (stat(dir, &st) < 0)
		return -errno;
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return -errno;
	char line[4096];
	int r = -ENOENT;
	while (r < 0 && fgets(line, sizeof(line), f)) {
		unsigned maj, min;
		char opts[1024], fstype[256], source[1024], super[2048];
		char *sep = strstr(line, " - ");
		if (!sep || sscanf(line, "%*d %*d %u:%u %*s %*s %1023s", &maj, &min, opts) != 3 ||
		    sscanf(sep + 3, "%255s %1023s %2047s", fstype, source, super) != 3)
			continue;
		if (makedev(maj, min) != st.st_dev)
			continue;
		snprintf(type, ntype, "%s", fstype);
		snprintf(mopts, nopts, "%s,%s", opts, super);
		r = 0;
	}
	fclose(f);
	return r;
}

/* The value of key= in a comma-separated option list, or NULL. */
static const char *mount_opt(const char *opts, const char *key, char *buf, size_t n)
{
	size_t k = strlen(key);
	for (const char *p = opts; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL) {
		if (strncmp(p, key, k) == 0 && p[k] == '=') {
			size_t len = strcspn(p + k + 1, ",");
			snprintf(buf, n, "%.*s", (int)len, p + k + 1);
			return buf;
		}
	}
	return NULL;
}

/* FUSE caches file contents in the page cache unless the mount asks for
 * direct I/O, and then another host's writes are never seen by a reader
 * that keeps the file open: the lock is no help, FUSE does not revalidate
 * on it. The --peer check shows it across hosts; this one sees it here. */
static void check_fuse_cache(const char *type, struct lockfile *a)
{
	const char *fix = strcmp(type, "fuse.ceph-fuse") == 0   ? "ceph-fuse: fuse_disable_pagecache = true"
			  : strcmp(type, "fuse.glusterfs") == 0 ? "GlusterFS: direct-io-mode=enable"
								: "GlusterFS: direct-io-mode=enable, ceph-fuse: "
								  "fuse_disable_pagecache = true";
	int r = lockfile_page_cached(a);
	if (r == 1)
		report("FAIL",
		       "FUSE without direct I/O: this host's page cache keeps the lock file, another host's writes "
		       "are never seen here; mount with direct I/O (%s)",
		       fix);
	else if (r == 0)
		report("PASS",
		       "FUSE with direct I/O: reads of the lock file go to the file system, not the page cache");
	else
		report("WARN", "FUSE: cannot tell whether the page cache keeps the file (%s); run with --peer",
		       strerror(-r));
}

static void check_fs(const struct opts *o, struct lockfile *a)
{
	report_step(o->timeout_ms, "the file system");
	struct statfs sf;
	if (fstatfs(a->fd, &sf) < 0) {
		report("FAIL", "file system: statfs: %s", strerror(errno));
		return;
	}
	char type[256] = "", mopts[3200] = "", val[64];
	const char *name = fs_name((long)sf.f_type);
	if (mount_of(o->dir, type, sizeof(type), mopts, sizeof(mopts)) < 0) {
		snprintf(type, sizeof(type), "%s", name ? name : "unknown");
		mopts[0] = '\0';
	}
	if (!name)
		name = type;
	bool local = lockfile_fs_is_local((long)sf.f_type);
	struct timeline_settings ts;
	struct timeline t;
	timeline_defaults(&ts);
	timeline_derive(&ts, &t);
	int64_t delay = timeline_takeover_delay(&t, false);
	if (local)
		report("INFO",
		       "file system: %s (local, statfs type 0x%lx): takeover-delay auto = 0, a backup starts as "
		       "soon as it holds the live lock",
		       type, (unsigned long)sf.f_type);
	else
		report("INFO",
		       "file system: %s (networked, statfs type 0x%lx): takeover-delay auto = fence-timeout + 2 "
		       "heartbeats = %lld s with the defaults",
		       type, (unsigned long)sf.f_type, (long long)(delay / 1000));
	/* What doc/fencing.md asks of each networked kind, where the mount
	 * options show it. */
	if (strcmp(name, "nfs") == 0) {
		const char *ll = mount_opt(mopts, "local_lock", val, sizeof(val));
		if (ll && strcmp(ll, "none") != 0)
			report("FAIL",
			       "NFS mounted with local_lock=%s: locks stay on this host, other hosts never see "
			       "them",
			       ll);
		const char *vers = mount_opt(mopts, "vers", val, sizeof(val));
		if (vers && vers[0] < '4')
			report("WARN",
			       "NFS version %s: locks go through NLM without leases; mount version 4 "
			       "(doc/fencing.md)",
			       vers);
	} else if (strcmp(name, "fuse") == 0 && !local) {
		check_fuse_cache(type, a);
	}
	/* Where CephFS gives a cut-off host's locks away, which no check can
	 * measure from here (doc/fencing.md has the figures). */
	if (strcmp(name, "ceph") == 0 || strcmp(type, "fuse.ceph-fuse") == 0)
		report("INFO", "CephFS: a host cut off from the MDS keeps its locks until the MDS evicts it "
			       "(about session_autoclose after the cut, default 300 s; at once with `ceph tell mds.* "
			       "client evict`); its mount then fails with ESHUTDOWN until it is mounted again");
}

/* --- across hosts -------------------------------------------------------------- */

/* The two peers meet in one file, DIR/.understudy-check-peer, formatted
 * like a group's lock file by the lock-file layer (so its creation is
 * race-free) but never used as one. Each peer claims a slot: slot 0 is
 * A, slot 1 is B. A peer's slot record is its mailbox: id (random, this
 * run's), name (host), seq (the step it reached) and pid (a value for
 * that step). Steps only grow, so waiting for the peer is waiting for its
 * seq to reach a number. */
struct meet {
	struct lockfile lf;
	int me, peer; /* slots */
	struct lf_slot mine;
	uint8_t peer_id[LF_ID_SIZE];
	char peer_name[TEXT_ESCAPED_SIZE(LF_NAME_MAX)]; /* escaped: the peer wrote it */
	int64_t timeout_ms;
};

static int meet_publish(struct meet *m, uint64_t step, uint32_t value)
{
	m->mine.seq = step;
	m->mine.pid = value;
	return lockfile_write_slot(&m->lf, m->me, &m->mine);
}

/* Wait until the peer's step reaches step: 0 with its value, -EPIPE when
 * the peer left (its slot lock is free), -ETIMEDOUT. Only a record with
 * the peer's id counts. */
static int meet_wait(struct meet *m, uint64_t step, int64_t timeout_ms, uint32_t *value)
{
	static struct lf_view v;
	int64_t end = mono_ns() + timeout_ms * 1000000;
	for (;;) {
		int r = lockfile_read(&m->lf, &v);
		if (r < 0)
			return r;
		const struct lf_slot *s = &v.slots[m->peer];
		if (v.slot_rec[m->peer] == LF_REC_OK && s->seq >= step && memcmp(s->id, m->peer_id, LF_ID_SIZE) == 0) {
			if (value)
				*value = s->pid;
			return 0;
		}
		if (lockfile_held(&m->lf, lockfile_slot_lock_offset(m->peer)) != 1)
			return -EPIPE;
		if (mono_ns() > end)
			return -ETIMEDOUT;
		sleep_ms(2);
	}
}

/* Both peers reach step, exchanging one value each way. A record holds
 * one step: a peer that passed the barrier may already have published
 * the next one over it. So a barrier is two raw steps, 2*step and
 * 2*step+1, carrying the same value; a peer is never more than one raw
 * step ahead of a reader, so the value read is always this barrier's. */
static int meet_barrier(struct meet *m, uint64_t step, uint32_t mine, uint32_t *theirs)
{
	int r = meet_publish(m, 2 * step, mine);
	if (r == 0)
		r = meet_wait(m, 2 * step, m->timeout_ms, theirs);
	if (r == 0)
		r = meet_publish(m, 2 * step + 1, mine);
	return r < 0 ? r : meet_wait(m, 2 * step + 1, m->timeout_ms, NULL);
}

static uint32_t id_echo(const uint8_t id[LF_ID_SIZE]) { return lockfile_crc32c(id, LF_ID_SIZE) | 1; }

/* Remove the meeting file unless another peer still has it open. B goes
 * first and leaves it to A; A waits for B to close, so the last one out
 * removes it. */
static void meet_cleanup(struct lockfile *lf, int me, const char *path)
{
	for (int i = 0; i < LF_SLOTS; i++)
		if (i != me && lockfile_held(lf, lockfile_slot_lock_offset(i)) == 1)
			return;
	unlink(path);
}

/* The handshake. A slot record can be a previous run's, so each side
 * echoes the id it read, and a side counts as met only when the other
 * echoed its own id: 1 up, 2 A echoes B, 3 B echoes A, 4 A saw that. B
 * stays at 3 until A's 4: a later step would overwrite its echo. */
static int meet_peer(const struct opts *o, struct meet *m)
{
	int64_t end = mono_ns() + o->peer_timeout_ms * 1000000;
	static struct lf_view v;
	bool a = m->me == 0, locked = false;
	int r = meet_publish(m, 1, 0);
	if (r < 0)
		return r;
	for (;;) {
		if ((r = lockfile_read(&m->lf, &v)) < 0)
			return r;
		const struct lf_slot *s = &v.slots[m->peer];
		bool held = lockfile_held(&m->lf, lockfile_slot_lock_offset(m->peer)) == 1;
		bool there = v.slot_rec[m->peer] == LF_REC_OK && held;
		locked |= held;
		if (there && a && s->seq >= 1) {
			if (s->seq >= 3 && s->pid == id_echo(m->mine.id) &&
			    memcmp(s->id, m->peer_id, LF_ID_SIZE) == 0) {
				r = meet_publish(m, 4, 0);
				break;
			}
			if (m->mine.seq < 2 || memcmp(s->id, m->peer_id, LF_ID_SIZE) != 0) {
				memcpy(m->peer_id, s->id, LF_ID_SIZE);
				if ((r = meet_publish(m, 2, id_echo(s->id))) < 0)
					return r;
			}
		}
		if (there && !a && s->seq >= 2 && s->pid == id_echo(m->mine.id)) {
			memcpy(m->peer_id, s->id, LF_ID_SIZE);
			if ((r = meet_publish(m, 3, id_echo(s->id))) == 0)
				r = meet_wait(m, 4, o->timeout_ms, NULL);
			break;
		}
		/* A peer whose lock is seen but whose writes never are: the
		 * file system does not carry writes between hosts. */
		if (mono_ns() > end)
			return locked ? -ENODATA : -ETIMEDOUT;
		sleep_ms(5);
	}
	/* Whoever ran the other side chose it, and it travels in the report
	 * lines: shown escaped, it can neither end one nor reach a terminal. */
	text_escape(v.slots[m->peer].name, m->peer_name, sizeof(m->peer_name), TEXT_WORD);
	return r;
}

/* Each cross-host check announces its step, runs its rounds between
 * barriers numbered from base, and ends with both sides knowing the
 * outcome: A measures, B tries, and the figure travels as a value. */
static void peer_fail(const struct meet *m, const char *what, int r)
{
	report("FAIL", "%s with %s (%s)", what, m->peer_name,
	       r == -ETIMEDOUT ? "the peer stopped answering"
	       : r == -EPIPE   ? "the peer left"
			       : strerror(-r));
}

/* A holds the live byte; B must not get it, must see it held, must get
 * the next byte; then, once A released, must get it. */
static int peer_exclusive(struct meet *m, uint64_t base)
{
	struct lockfile *lf = &m->lf;
	bool a = m->me == 0;
	uint32_t cases = 0, theirs = 0;
	int r;
	if (a && lockfile_lock(lf, LF_LOCK_LIVE, false) < 0)
		cases |= 0x100; /* A could not even lock */
	if ((r = meet_barrier(m, base, cases, &theirs)) < 0)
		return r;
	if (!a) {
		cases |= theirs;
		cases |= (lockfile_lock(lf, LF_LOCK_LIVE, false) == -EAGAIN) << 0;
		cases |= (lockfile_held(lf, LF_OFF_LIVE_LOCK) == 1) << 1;
		cases |= (lockfile_lock(lf, LF_LOCK_BACKUP, false) == 0) << 2;
		lockfile_unlock(lf, LF_LOCK_BACKUP);
	}
	if ((r = meet_barrier(m, base + 1, 0, NULL)) < 0)
		return r;
	if (a)
		lockfile_unlock(lf, LF_LOCK_LIVE);
	if ((r = meet_barrier(m, base + 2, 0, NULL)) < 0)
		return r;
	if (!a) {
		cases |= (lockfile_lock(lf, LF_LOCK_LIVE, false) == 0) << 3;
		lockfile_unlock(lf, LF_LOCK_LIVE);
	}
	if ((r = meet_barrier(m, base + 3, cases, &theirs)) < 0)
		return r;
	if (a)
		cases = theirs;
	static const char *const what[] = {
		"the other host got a byte this host holds",
		"F_OFD_GETLK on the other host did not see this host's lock",
		"a lock on one byte blocked the next byte on the other host: not byte-range",
		"the other host could not lock a byte once it was released",
	};
	for (int i = 0; i < 4; i++)
		if ((cases & 0x100) || !(cases & (1u << i))) {
			report("FAIL", "exclusive byte-range locks between this host and %s (%s)", m->peer_name,
			       cases & 0x100 ? "could not lock a free byte" : what[i]);
			return 0;
		}
	report("PASS", "exclusive byte-range locks between this host and %s (4 of 4 cases)", m->peer_name);
	return 0;
}

/* Round trips through two waits, timed on A's clock alone (hosts' clocks
 * are not compared): A holds X (live byte), B holds Y (backup byte) and
 * waits on X. A releases X and waits on Y; B wakes, releases Y; A wakes.
 * With a holder (death), A's helper holds X and A kills it instead. */
static int peer_round_trips(struct meet *m, const struct opts *o, uint64_t base, int rounds, bool death,
			    uint32_t *median_us)
{
	struct lockfile *lf = &m->lf;
	bool a = m->me == 0;
	int64_t lat[PEER_ROUNDS] = { 0 };
	uint32_t failed = 0;
	int r;
	for (int i = 0; i < rounds; i++) {
		uint64_t s = base + (uint64_t)i * 4;
		struct helper h = { 0 };
		struct msg msg;
		int got = 0;
		if (a && death) {
			got = helper_start(&h, holder, m->lf.path);
			if (got == 0)
				got = msg_recv(h.from, o->timeout_ms, &msg);
			if (got == 0 && msg.tag != 'h')
				got = -EIO;
		} else if (a) {
			got = lockfile_lock(lf, LF_LOCK_LIVE, false);
		} else {
			got = lockfile_lock(lf, LF_LOCK_BACKUP, false);
		}
		if ((r = meet_barrier(m, s, got < 0, &failed)) < 0 || failed || got < 0) {
			helper_stop(&h);
			return r < 0 ? r : -ENOLCK;
		}
		if (!a) {
			/* Say so, then wait: A gives us time to be in the wait. */
			if ((r = meet_publish(m, 2 * (s + 1), 0)) < 0)
				return r;
			got = lock_within(lf, LF_LOCK_LIVE, o->timeout_ms);
			lockfile_unlock(lf, LF_LOCK_BACKUP);
			lockfile_unlock(lf, LF_LOCK_LIVE);
		} else {
			if ((r = meet_wait(m, 2 * (s + 1), o->timeout_ms, NULL)) < 0) {
				helper_stop(&h);
				return r;
			}
			sleep_ms(20);
			if (death) {
				got = kill_and_take(lf, h.pid, LF_LOCK_BACKUP, o->timeout_ms, &lat[i]);
			} else {
				int64_t t0 = mono_ns();
				lockfile_unlock(lf, LF_LOCK_LIVE);
				got = lock_within(lf, LF_LOCK_BACKUP, o->timeout_ms);
				lat[i] = mono_ns() - t0;
			}
			helper_stop(&h);
			lockfile_unlock(lf, LF_LOCK_BACKUP);
		}
		if ((r = meet_barrier(m, s + 2, got < 0, &failed)) < 0)
			return r;
		if (failed || got < 0)
			return -ETIMEDOUT;
	}
	uint32_t mine = 0;
	if (a) {
		int64_t median, max;
		median_max(lat, rounds, &median, &max);
		mine = (uint32_t)(median / 1000);
	}
	r = meet_barrier(m, base + (uint64_t)rounds * 4, mine, median_us);
	if (a)
		*median_us = mine;
	return r;
}

static int peer_write(struct meet *m, uint64_t base, int *ok)
{
	bool a = m->me == 0;
	uint64_t my_seed, peer_seed, seen;
	uint32_t theirs = 0;
	int r;
	memcpy(&my_seed, m->mine.id, 8);
	memcpy(&peer_seed, m->peer_id, 8);
	*ok = 0;
	for (int i = 0; i < PEER_ROUNDS; i++) {
		bool we_write = (i % 2 == 0) == a;
		if (we_write && (r = write_nonce(&m->lf, my_seed, i, m->mine.name)) < 0)
			return r;
		if ((r = meet_barrier(m, base + (uint64_t)i * 2, 0, NULL)) < 0)
			return r;
		uint32_t good = 1;
		if (!we_write) {
			r = read_nonce(&m->lf, peer_seed, i, &seen);
			if (r < 0)
				return r;
			good = r == 1;
		}
		if ((r = meet_barrier(m, base + (uint64_t)i * 2 + 1, good, &theirs)) < 0)
			return r;
		if (good && theirs)
			++*ok;
	}
	return 0;
}

/* The two timed checks across hosts: a waiter woken by a release, and
 * by a holder's death. -errno (reported) when the pair lost each other. */
static int peer_timed(struct meet *m, const struct opts *o, bool death)
{
	int rounds = death ? PEER_DEATH_ROUNDS : PEER_ROUNDS;
	const char *what = death ? "a dead holder's lock is released" : "a blocked waiter wakes on release";
	uint32_t us = 0;
	report_step(o->timeout_ms * 2 + (int64_t)rounds * 100, "%s on %s", what, m->peer_name);
	int r = peer_round_trips(m, o, death ? 200 : 100, rounds, death, &us);
	if (r < 0)
		peer_fail(m, what, r);
	else if (death)
		report("PASS",
		       "a lock of a process killed on A was taken on B: round trip from the SIGKILL %.3f ms, "
		       "median of %d (A's clock)",
		       us / 1000.0, rounds);
	else
		report("PASS",
		       "a blocked waiter on one host woke on a release on the other: round trip through two "
		       "waits %.3f ms, median of %d (A's clock)",
		       us / 1000.0, rounds);
	return r;
}

static void run_peer(const struct opts *o, int *code)
{
	static struct meet m;
	m = (struct meet){ .timeout_ms = o->timeout_ms };
	report_step(o->timeout_ms, "meeting the peer in %s", o->meet);
	if (lockfile_open(&m.lf, o->meet, LF_OPEN_CREATE) < 0) {
		char why[512];
		report("FAIL", "meeting the peer: %s", lockfile_strerror(&m.lf, why, sizeof(why)));
		lockfile_close(&m.lf);
		return;
	}
	m.me = lockfile_claim_slot(&m.lf);
	if (m.me < 0 || m.me > 1) {
		report("FAIL", "meeting the peer: two peers are already checking %s", o->dir);
		goto out;
	}
	m.peer = 1 - m.me;
	m.mine.role = LF_ROLE_NONE;
	snprintf(m.mine.name, sizeof(m.mine.name), "%s", o->host);
	if (getrandom(m.mine.id, LF_ID_SIZE, 0) != LF_ID_SIZE) {
		report("FAIL", "meeting the peer: getrandom: %s", strerror(errno));
		goto out;
	}
	report_step(o->peer_timeout_ms + o->timeout_ms, "waiting up to %lld s for a peer (this host is %s)",
		    (long long)(o->peer_timeout_ms / 1000), m.me == 0 ? "A" : "B");
	int r = meet_peer(o, &m);
	if (r == -ETIMEDOUT) {
		fprintf(stderr, "understudy check-storage: no peer came within %lld ms\n",
			(long long)o->peer_timeout_ms);
		*code = EX_TEMPFAIL;
		goto out;
	}
	if (r == -ENODATA) {
		report("FAIL",
		       "a write under the lock on one host is seen by the other (a peer holds its slot lock in the "
		       "meeting file, but none of its writes showed here within %lld s; mount with direct I/O on "
		       "both: GlusterFS direct-io-mode=enable, ceph-fuse fuse_disable_pagecache = true)",
		       (long long)(o->peer_timeout_ms / 1000));
		goto out;
	}
	if (r < 0) {
		report("FAIL", "meeting the peer: %s", strerror(-r));
		goto out;
	}
	report("INFO", "peer: %s, this host is %s (%s)", m.peer_name, m.me == 0 ? "A" : "B",
	       m.me == 0 ? "holds and measures" : "waits and takes");
	report_step(o->timeout_ms * 2, "exclusive byte-range locks with %s", m.peer_name);
	if ((r = peer_exclusive(&m, 10)) < 0) {
		peer_fail(&m, "exclusive byte-range locks", r);
		goto out;
	}
	if (peer_timed(&m, o, false) < 0 || peer_timed(&m, o, true) < 0)
		goto out;
	report_step(o->timeout_ms * 2, "a write under the lock is seen on %s", m.peer_name);
	int ok;
	if ((r = peer_write(&m, 300, &ok)) < 0) {
		peer_fail(&m, "a write under the lock", r);
		goto out;
	}
	report(ok == PEER_ROUNDS ? "PASS" : "FAIL",
	       "a write under the lock on one host is seen by the other (%d of %d rounds, both ways)", ok, PEER_ROUNDS);
	report_step(o->timeout_ms * 2, "leaving the meeting file");
	if ((r = meet_barrier(&m, 1000, 0, NULL)) < 0) {
		peer_fail(&m, "leaving", r);
		goto out;
	}
	if (m.me == 0) {
		/* B closes first; the last one out removes the file. */
		int64_t end = mono_ns() + o->timeout_ms * 1000000;
		while (lockfile_held(&m.lf, lockfile_slot_lock_offset(1)) == 1 && mono_ns() < end)
			sleep_ms(2);
	}
out:
	meet_cleanup(&m.lf, m.me, o->meet);
	lockfile_close(&m.lf);
}

/* --- the runner ------------------------------------------------------------------- */

static int creation_error(int e)
{
	switch (e) {
	case EROFS:
	case ENOSPC:
	case EDQUOT: return EX_CANTCREAT;
	case EACCES:
	case EPERM: return EX_NOPERM;
	default: return EX_OSERR;
	}
}

static int runner(const struct opts *o)
{
	report_step(o->timeout_ms, "looking at %s", o->dir);
	struct sigaction sa = { .sa_handler = on_alarm };
	sigaction(SIGALRM, &sa, NULL); /* no SA_RESTART: it cuts lock waits */
	struct stat st;
	if (stat(o->dir, &st) < 0) {
		int e = errno;
		fprintf(stderr, "understudy check-storage: %s: %s\n", o->dir,
			e == ENOENT || e == ENOTDIR ? "no such directory" : strerror(e));
		return e == ENOENT || e == ENOTDIR ? EX_NOINPUT : e == EACCES ? EX_NOPERM : EX_OSERR;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "understudy check-storage: %s: not a directory\n", o->dir);
		return EX_NOINPUT;
	}
	struct statvfs sv;
	if (statvfs(o->dir, &sv) == 0 && (sv.f_flag & ST_RDONLY)) {
		fprintf(stderr, "understudy check-storage: %s: read-only file system: a lock file cannot be created\n",
			o->dir);
		return EX_CANTCREAT;
	}
	/* Whatever is at the scratch name is not ours to overwrite or remove:
	 * from here on, the file at that name is one this run created. */
	if (lstat(o->scratch, &st) == 0) {
		fprintf(stderr, "understudy check-storage: %s exists: not ours, left alone\n", o->scratch);
		return EX_CANTCREAT;
	}
	struct lockfile a;
	if (lockfile_open(&a, o->scratch, LF_OPEN_CREATE) < 0) {
		int e = a.err == LF_E_SYS ? a.errno_value : EIO;
		fprintf(stderr, "understudy check-storage: %s: cannot create a file: %s\n", o->dir, log_strerror(e));
		lockfile_close(&a);
		unlink(o->scratch); /* created but not formatted */
		return creation_error(e);
	}
	int code = 0;
	check_fs(o, &a);
	check_exclusive(o, &a);
	check_wake(o, &a);
	check_death(o, &a);
	check_write(o, &a);
	check_inherit(o);
	lockfile_close(&a);
	unlink(o->scratch);
	if (o->peer)
		run_peer(o, &code);
	report_step(o->timeout_ms, "done");
	return code;
}

/* --- the command: start the runner and bound it --------------------------------------- */

static volatile sig_atomic_t interrupted;
static void on_signal(int sig) { interrupted = sig; }

/* After the runner was killed: remove what it left, in a child of its
 * own, since the storage may still hang. */
static void cleanup_after_kill(const struct opts *o, int64_t bound_ms)
{
	pid_t p = fork();
	if (p == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		unlink(o->scratch);
		/* Only F_OFD_GETLK on the slot bytes: lockfile_open would wait
		 * for the record lock, which a hung peer may hold. */
		struct lockfile lf = { .fd = -1 };
		if (o->peer && (lf.fd = open(o->meet, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)) >= 0)
			meet_cleanup(&lf, -1, o->meet);
		lockfile_close(&lf);
		_exit(0);
	}
	for (int64_t end = mono_ns() + bound_ms * 1000000; p > 0 && mono_ns() < end; sleep_ms(10))
		if (waitpid(p, NULL, WNOHANG) == p)
			return;
	if (p > 0)
		fprintf(stderr, "understudy check-storage: %s: could not remove (the storage does not answer)\n",
			o->scratch);
}

static int supervise(const struct opts *o, pid_t pid, int fd)
{
	char buf[8192], what[400] = "starting";
	size_t len = 0;
	int64_t bound_ms = o->timeout_ms, deadline = mono_ns() + bound_ms * 1000000;
	int failed = 0, status = 0;
	bool hung = false;
	for (;;) {
		int64_t left = (deadline - mono_ns()) / 1000000;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int r = left <= 0 ? 0 : poll(&p, 1, (int)(left > INT32_MAX ? INT32_MAX : left));
		if (interrupted) {
			fprintf(stderr, "understudy check-storage: interrupted\n");
			hung = true;
			failed++;
			break;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0) {
			printf("FAIL  %s (no answer within %.1f s)\n", what, (double)bound_ms / 1000);
			hung = true;
			failed++;
			break;
		}
		ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
		char *line = buf, *nl;
		while ((nl = strchr(line, '\n'))) {
			*nl = '\0';
			if (line[0] == '?') {
				char *rest;
				bound_ms = strtoll(line + 1, &rest, 10);
				snprintf(what, sizeof(what), "%s", *rest ? rest + 1 : rest);
				deadline = mono_ns() + bound_ms * 1000000;
			} else {
				printf("%s\n", line);
				failed += strncmp(line, "FAIL", 4) == 0;
			}
			line = nl + 1;
		}
		len = strlen(line);
		memmove(buf, line, len + 1);
		fflush(stdout);
	}
	fflush(stdout);
	close(fd);
	if (hung) {
		/* A runner stuck in a storage call may not die at once (an NFS
		 * hard mount): never wait for it. */
		kill(pid, SIGKILL);
		cleanup_after_kill(o, 2000);
		return CHECK_FAILED;
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
		return WEXITSTATUS(status);
	if (!WIFEXITED(status)) {
		fprintf(stderr, "understudy check-storage: the checks died (signal %d)\n", WTERMSIG(status));
		cleanup_after_kill(o, 2000);
		return EX_SOFTWARE;
	}
	return failed ? CHECK_FAILED : 0;
}

int cmd_check_storage(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "peer", no_argument, NULL, 'p' },
		{ "peer-timeout", required_argument, NULL, 'P' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	static struct opts o;
	o = (struct opts){ .timeout_ms = 10000, .peer_timeout_ms = 60000 };
	int opt;
	int64_t *dur;
	char why[160];
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		switch (opt) {
		case 'p': o.peer = true; break;
		case 'P':
		case 't':
			dur = opt == 'P' ? &o.peer_timeout_ms : &o.timeout_ms;
			if (options_duration_why(optarg, dur, why, sizeof(why)) < 0) {
				fprintf(stderr, "understudy check-storage: %s: %s\n",
					opt == 'P' ? "--peer-timeout" : "--timeout", why);
				return EX_USAGE;
			}
			break;
		case 'h': fputs(usage, stdout); return 0;
		case ':':
			fprintf(stderr, "understudy check-storage: %s needs a value\n", argv[optind - 1]);
			return EX_USAGE;
		default:
			fprintf(stderr,
				"understudy check-storage: unknown option '%s'\nTry 'understudy check-storage "
				"--help'.\n",
				argv[optind - 1]);
			return EX_USAGE;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "understudy check-storage: %s\nTry 'understudy check-storage --help'.\n",
			optind == argc ? "DIR is required" : "one DIR only");
		return EX_USAGE;
	}
	o.dir = argv[optind];
	o.host = config_host_name();
	if (!o.host)
		o.host = "host";
	if ((size_t)snprintf(o.scratch, sizeof(o.scratch), "%s/.understudy-check-%s-%ld", o.dir, o.host,
			     (long)getpid()) >= sizeof(o.scratch) ||
	    (size_t)snprintf(o.meet, sizeof(o.meet), "%s/.understudy-check-peer", o.dir) >= sizeof(o.meet)) {
		fprintf(stderr, "understudy check-storage: %s: path too long\n", o.dir);
		return EX_USAGE;
	}
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	int rep[2];
	if (pipe2(rep, O_CLOEXEC) < 0) {
		fprintf(stderr, "understudy check-storage: pipe: %s\n", strerror(errno));
		return EX_OSERR;
	}
	fflush(stdout);
	fflush(stderr);
	pid_t parent = getpid(), pid = fork();
	if (pid < 0) {
		fprintf(stderr, "understudy check-storage: fork: %s\n", strerror(errno));
		close(rep[0]);
		close(rep[1]);
		return EX_OSERR;
	}
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(EX_OSERR);
		signal(SIGINT, SIG_IGN); /* the command decides what a ^C ends */
		signal(SIGTERM, SIG_DFL);
		close(rep[0]);
		report_fd = rep[1];
		_exit(runner(&o));
	}
	close(rep[1]);
	return supervise(&o, pid, rep[0]);
}
