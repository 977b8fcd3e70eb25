/* check-storage: the checks between opens on this host. */
#include "understudy/check_local.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "understudy/check_helper.h"
#include "understudy/clock.h"
#include "understudy/timeline.h"

/* Names of the calls, for the bound's message. */
#define TAKING "taking a lock byte"
#define RELEASING "releasing a lock byte"
#define TESTING "testing a lock byte (F_OFD_GETLK)"
#define OPENING "opening the scratch file"
#define CLOSING "closing the scratch file"

/* Exclusion, byte ranges and shared read locks between two opens of one
 * process and an open of another process. With classic POSIX locks the
 * two opens of one process would not exclude each other. */
static void holder_probe(const char *path, int in, int out)
{
	struct lockfile lf;
	check_helper_open(&lf, path, out);
	struct check_msg m = { 0 };
	while (check_msg_recv(in, INT32_MAX, &m) == 0) {
		int r = m.tag == 'l' ? lockfile_lock(&lf, LF_LOCK_LIVE, false) : lockfile_unlock(&lf, LF_LOCK_LIVE);
		check_msg_send(out, 'r', r);
	}
	_exit(0);
}

static void check_exclusive(const struct check_opts *o, struct lockfile *a)
{
	check_step("exclusive byte-range locks between two opens");
	struct lockfile b = { .fd = -1 };
	struct check_helper h = { 0 };
	const char *bad = NULL, *p = o->scratch;
	int n = 0;
	int64_t v = 0;
	if (CHECK_CALL(p, OPENING, lockfile_open(&b, p, LF_OPEN_WRITE)) < 0) {
		check_report("FAIL", "exclusive byte-range locks between two opens (second open: %s)",
			     strerror(b.errno_value));
		CHECK_CALL(p, CLOSING, (lockfile_close(&b), 0));
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
	CASE(CHECK_CALL(p, TAKING, lockfile_lock(a, LF_LOCK_LIVE, false)) == 0,
	     "the first open could not lock a free byte");
	CASE(CHECK_CALL(p, TAKING, lockfile_lock(&b, LF_LOCK_LIVE, false)) == -EAGAIN,
	     "a second open got a byte the first one holds");
	CASE(CHECK_CALL(p, TESTING, lockfile_held(&b, LF_OFF_LIVE_LOCK)) == 1 &&
		     CHECK_CALL(p, TESTING, lockfile_held(a, LF_OFF_LIVE_LOCK)) == 0,
	     "F_OFD_GETLK does not tell another open's lock from one's own");
	CASE(CHECK_CALL(p, TAKING, lockfile_lock(&b, LF_LOCK_BACKUP, false)) == 0,
	     "a lock on one byte blocked the next byte: not byte-range");
	CASE(CHECK_CALL(p, "taking the record lock shared", lockfile_read_lock(a)) == 0 &&
		     CHECK_CALL(p, "taking the record lock shared", lockfile_read_lock(&b)) == 0,
	     "two read locks on one byte excluded each other");
	CASE(check_helper_start(&h, holder_probe, p) == 0 && check_helper_ask(&h, 'l', o->timeout_ms, &v) == 0 &&
		     v == -EAGAIN,
	     "another process got a byte this one holds");
	CASE(CHECK_CALL(p, RELEASING, lockfile_unlock(a, LF_LOCK_LIVE)) == 0 &&
		     check_helper_ask(&h, 'l', o->timeout_ms, &v) == 0 && v == 0,
	     "another process could not lock a byte once it was released");
#undef CASE
out:
	check_helper_stop(&h);
	CHECK_CALL(p, CLOSING, (lockfile_close(&b), 0)); /* releases b's locks */
	CHECK_CALL(p, RELEASING, lockfile_unlock(a, LF_LOCK_LIVE));
	CHECK_CALL(p, "releasing the record lock", lockfile_read_unlock(a));
	if (bad)
		check_report("FAIL", "exclusive byte-range locks between two opens (%s; %d cases passed before)", bad,
			     n);
	else
		check_report("PASS", "exclusive byte-range locks between two opens (%d of %d cases)", n, n);
}

/* A waiter blocks on the live byte; on 'w' it waits again. It stamps
 * CLOCK_MONOTONIC the moment its wait returns, and releases before it
 * answers so the runner can take the byte back at once. */
static void waiter(const char *path, int in, int out)
{
	struct lockfile lf;
	check_helper_open(&lf, path, out);
	struct check_msg m = { 0 };
	while (check_msg_recv(in, INT32_MAX, &m) == 0) {
		check_msg_send(out, 'r', 0);
		int r = lockfile_lock(&lf, LF_LOCK_LIVE, true);
		int64_t t = clock_ns();
		lockfile_unlock(&lf, LF_LOCK_LIVE);
		check_msg_send(out, r == 0 ? 't' : 'e', r == 0 ? t : -r);
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
			check_sleep_ms(20); /* cannot tell: give it time to get there */
			return;
		}
		if (r == 1)
			return;
		check_sleep_ms(1);
	}
}

static void check_wake(const struct check_opts *o, struct lockfile *a)
{
	check_step("a blocked waiter wakes on release");
	struct check_helper h = { 0 };
	int64_t lat[CHECK_WAKE_ROUNDS] = { 0 }, median, max;
	const char *bad = NULL, *p = o->scratch;
	int r = check_helper_start(&h, waiter, p), i = 0;
	for (; r == 0 && i < CHECK_WAKE_ROUNDS; i++) {
		struct check_msg m = { 0 };
		if (CHECK_CALL(p, TAKING, lockfile_lock(a, LF_LOCK_LIVE, false)) < 0) {
			bad = "could not take the byte back after the waiter released it";
			break;
		}
		if (check_msg_send(h.to, 'w', 0) < 0 || check_msg_recv(h.from, o->timeout_ms, &m) < 0 || m.tag != 'r') {
			bad = "the waiter could not open the file";
			break;
		}
		wait_blocked(h.pid);
		int64_t t0 = clock_ns();
		CHECK_CALL(p, RELEASING, lockfile_unlock(a, LF_LOCK_LIVE));
		r = check_msg_recv(h.from, o->timeout_ms, &m);
		if (r == -ETIMEDOUT) {
			check_report("FAIL", "a blocked waiter did not wake within %lld ms of the release",
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
		check_report("FAIL", "a blocked waiter wakes on release (%s)", bad ? bad : strerror(-r));
		goto out;
	}
	check_median_max(lat, CHECK_WAKE_ROUNDS, &median, &max);
	struct timeline_settings ts;
	struct timeline t;
	timeline_defaults(&ts);
	timeline_derive(&ts, &t);
	/* understudy's waiters re-check every poll interval anyway (their
	 * lock wait is cut then): a slower wake only costs failover time, it
	 * is not wrong. */
	bool slow = median / 1000000 > t.lock_wait_cut_ms;
	check_report(slow ? "WARN" : "PASS",
		     "a blocked waiter woke %.3f ms after the release (median of %d, max %.3f ms)%s", check_ms(median),
		     CHECK_WAKE_ROUNDS, check_ms(max),
		     slow ? ": slower than --poll-interval's default, which then bounds failover" : "");
out:
	CHECK_CALL(p, RELEASING, lockfile_unlock(a, LF_LOCK_LIVE));
	check_helper_stop(&h);
}

static void check_death(const struct check_opts *o, struct lockfile *a)
{
	check_step("a dead holder's lock is released");
	int64_t lat[CHECK_DEATH_ROUNDS] = { 0 }, median, max;
	const char *p = o->scratch;
	for (int i = 0; i < CHECK_DEATH_ROUNDS; i++) {
		struct check_helper h = { 0 };
		struct check_msg m = { 0 };
		int r = check_helper_start(&h, check_helper_holder, p);
		if (r == 0)
			r = check_msg_recv(h.from, o->timeout_ms, &m);
		if (r == 0 && m.tag != 'h')
			r = -(int)m.value;
		if (r == 0 && CHECK_CALL(p, TESTING, lockfile_held(a, LF_OFF_LIVE_LOCK)) != 1)
			r = -ENOLCK;
		if (r < 0) {
			check_helper_stop(&h);
			check_report("FAIL", "a dead holder's lock is released (the holder could not take it: %s)",
				     strerror(-r));
			return;
		}
		r = check_kill_and_take(a, h.pid, LF_LOCK_LIVE, o->timeout_ms, &lat[i]);
		check_helper_stop(&h);
		CHECK_CALL(p, RELEASING, lockfile_unlock(a, LF_LOCK_LIVE));
		if (r < 0) {
			check_report("FAIL", "a killed holder's lock was still held %lld ms after its SIGKILL",
				     (long long)(lat[i] / 1000000));
			return;
		}
	}
	check_median_max(lat, CHECK_DEATH_ROUNDS, &median, &max);
	check_report("PASS", "a dead holder's lock was free %.3f ms after its SIGKILL (median of %d, max %.3f ms)",
		     check_ms(median), CHECK_DEATH_ROUNDS, check_ms(max));
}

/* The other open keeps the file open from the first round to the last,
 * as nodes do: a client that serves reads from a cache it never
 * revalidates passes a test that opens afresh, and fails this one. */
static void reader_writer(const char *path, int in, int out)
{
	struct lockfile lf;
	check_helper_open(&lf, path, out);
	uint64_t seen = 0;
	check_read_nonce(&lf, 0, 0, &seen); /* fill whatever cache there is */
	check_msg_send(out, 'r', 0);
	struct check_msg m = { 0 };
	while (check_msg_recv(in, INT32_MAX, &m) == 0) {
		int round = (int)m.value;
		int r = m.tag == 'W' ? check_write_nonce(&lf, (uint64_t)getppid(), round, "helper")
				     : check_read_nonce(&lf, (uint64_t)getppid(), round, &seen);
		check_msg_send(out, r < 0 ? 'e' : 'd', r < 0 ? -r : m.tag == 'W' ? 1 : (int64_t)seen);
	}
	_exit(0);
}

static void check_write(const struct check_opts *o, struct lockfile *a)
{
	check_step("a write under the lock is seen by another open");
	struct check_helper h = { 0 };
	struct check_msg m = { 0 };
	uint64_t seed = (uint64_t)getpid(), seen = 0;
	int r = check_helper_start(&h, reader_writer, o->scratch), i = 0;
	if (r == 0)
		r = check_msg_recv(h.from, o->timeout_ms, &m);
	if (r == 0 && m.tag == 'e')
		r = -(int)m.value;
	for (; r == 0 && i < CHECK_WRITE_ROUNDS; i++) {
		/* Even rounds this open writes and the other reads; odd rounds
		 * the other way round. */
		bool we_write = i % 2 == 0;
		if (we_write && (r = check_write_nonce(a, seed, i, "runner")) < 0)
			break;
		r = check_msg_send(h.to, we_write ? 'R' : 'W', i);
		if (r == 0)
			r = check_msg_recv(h.from, o->timeout_ms, &m);
		if (r == 0 && m.tag == 'e')
			r = -(int)m.value;
		if (r < 0)
			break;
		if (we_write)
			seen = (uint64_t)m.value, r = seen == check_nonce(seed, i) ? 0 : 1;
		else
			r = check_read_nonce(a, seed, i, &seen) == 1 ? 0 : 1;
		if (r == 1) {
			check_report("FAIL",
				     "a write under the lock is seen by another open (round %d: wrote heartbeat %llu, "
				     "the %s read %llu)",
				     i + 1, (unsigned long long)check_nonce(seed, i),
				     we_write ? "other open" : "runner", (unsigned long long)seen);
			goto out;
		}
	}
	if (r < 0)
		check_report("FAIL", "a write under the lock is seen by another open (round %d: %s)", i + 1,
			     strerror(-r));
	else
		check_report("PASS", "a write under the lock is seen by another open (%d of %d rounds, both ways)", i,
			     CHECK_WRITE_ROUNDS);
out:
	check_helper_stop(&h);
}

/* The workload inherits the manager's open: the live lock must stay while
 * any process holding that open lives, and go when the last one exits. */
static void check_inherit(const struct check_opts *o)
{
	check_step("a lock stays with its open while an inheriting process lives");
	struct lockfile c = { .fd = -1 }, probe = { .fd = -1 };
	const char *p = o->scratch;
	if (CHECK_CALL(p, OPENING, lockfile_open(&c, p, LF_OPEN_WRITE)) < 0 ||
	    CHECK_CALL(p, OPENING, lockfile_open(&probe, p, LF_OPEN_WRITE)) < 0) {
		check_report("FAIL", "a lock stays with its open (cannot open the file: %s)",
			     strerror(c.errno_value ? c.errno_value : probe.errno_value));
		CHECK_CALL(p, CLOSING, (lockfile_close(&c), 0));
		CHECK_CALL(p, CLOSING, (lockfile_close(&probe), 0));
		return;
	}
	const char *bad = NULL;
	int64_t ns = 0;
	pid_t kid = -1;
	if (CHECK_CALL(p, TAKING, lockfile_lock(&c, LF_LOCK_BACKUP, false)) < 0) {
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
	CHECK_CALL(p, CLOSING, (lockfile_close(&c), 0));
	if (CHECK_CALL(p, TESTING, lockfile_held(&probe, LF_OFF_BACKUP_LOCK)) != 1) {
		bad = "the lock went when the taker closed its descriptor, while a child still had the open";
		goto out;
	}
	if (check_kill_and_take(&probe, kid, LF_LOCK_BACKUP, o->timeout_ms, &ns) < 0)
		bad = "the lock stayed after the last process with the open died";
out:
	if (kid > 0) {
		kill(kid, SIGKILL);
		while (waitpid(kid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	CHECK_CALL(p, CLOSING, (lockfile_close(&c), 0));
	CHECK_CALL(p, CLOSING, (lockfile_close(&probe), 0));
	if (bad)
		check_report("FAIL", "a lock stays with its open while an inheriting process lives (%s)", bad);
	else
		check_report("PASS",
			     "a lock stays with its open while a process that inherited it lives, and is free %.3f ms "
			     "after the last one dies",
			     check_ms(ns));
}

void check_local_run(const struct check_opts *o, struct lockfile *a)
{
	check_exclusive(o, a);
	check_wake(o, a);
	check_death(o, a);
	check_write(o, a);
	check_inherit(o);
}
