/* Integration suite "check-storage": the real understudy binary against
 * real directories (the temporary directory's file system, a tmpfs, a
 * read-only tmpfs), with real peers (a second check-storage process on
 * the same directory: the same code path as a second host) and a real
 * hang (another process holding the meeting file's record lock).
 *
 * Needs UNDERSTUDY_BIN. The mounts and the unprivileged user need root;
 * those tests skip without it. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "understudy/lockfile.h"

#define RUN_LIMIT_S 60 /* a run that takes longer is killed: a hang is a failure */

static struct {
	const char *bin;
	char *dir;  /* the directory under check */
	char *work; /* outputs, outside the checked directory */
	char *mnt;  /* a mount point, when a test mounted one */
} T;

static void setup(void)
{
	T.bin = getenv("UNDERSTUDY_BIN");
	cr_assert(T.bin && access(T.bin, X_OK) == 0, "UNDERSTUDY_BIN is not set or not executable");
	T.dir = th_tmpdir();
	T.work = th_tmpdir();
	T.mnt = NULL;
}

static void teardown(void)
{
	if (T.mnt)
		umount2(T.mnt, MNT_DETACH);
	th_rmtree(T.dir);
	th_rmtree(T.work);
	free(T.dir);
	free(T.work);
	free(T.mnt);
}

TestSuite(check_storage, .init = setup, .fini = teardown);

struct run {
	pid_t pid;
	int status; /* exit code, or 128 + signal */
	char *out, *err;
	double ms;
	int64_t t0;
};

/* Start `understudy check-storage ARGS...` with stdout and stderr in files
 * named after tag; uid >= 0 runs it as that user. */
static void start(struct run *r, const char *tag, uid_t uid, const char *const *args)
{
	char *out = th_path(T.work, tag), *err;
	cr_assert(asprintf(&err, "%s.err", out) > 0);
	*r = (struct run){ .out = out, .err = err, .t0 = th_now_ns() };
	/* Another user runs a copy it can reach, wherever the checkout is:
	 * the refusal must be check-storage's, not exec's. */
	char *copy = NULL;
	if (uid != (uid_t)-1) {
		cr_assert_eq(chmod(T.work, 0755), 0);
		copy = th_exec_copy(T.bin, T.work);
	}
	const char *bin = copy ? copy : T.bin;
	r->pid = fork();
	cr_assert(r->pid >= 0);
	if (r->pid == 0) {
		int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644),
		    e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
			_exit(120);
		if (uid != (uid_t)-1 && (setgid(uid) < 0 || setuid(uid) < 0))
			_exit(121);
		alarm(RUN_LIMIT_S);
		const char *argv[16] = { bin, "check-storage" };
		int n = 2;
		for (; args[n - 2] && n < 15; n++)
			argv[n] = args[n - 2];
		argv[n] = NULL;
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	free(copy);
}

static void finish(struct run *r)
{
	int st;
	while (waitpid(r->pid, &st, 0) < 0 && errno == EINTR)
		;
	r->ms = (double)(th_now_ns() - r->t0) / 1e6;
	r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	uint8_t *buf;
	size_t len;
	char *files[] = { r->out, r->err };
	for (int i = 0; i < 2; i++) {
		cr_assert(th_read_file(files[i], &buf, &len) == 0);
		buf = realloc(buf, len + 1);
		buf[len] = '\0';
		free(files[i]);
		files[i] = (char *)buf;
	}
	r->out = files[0];
	r->err = files[1];
	cr_log_info("check-storage exited %d after %.0f ms\n%s%s", r->status, r->ms, r->out, r->err);
}

static void run(struct run *r, uid_t uid, const char *const *args)
{
	start(r, "solo", uid, args);
	finish(r);
}

static void run_free(struct run *r)
{
	free(r->out);
	free(r->err);
}

static int count_lines(const char *text, const char *prefix)
{
	int n = 0;
	size_t k = strlen(prefix);
	for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		n += strncmp(p, prefix, k) == 0;
	return n;
}

/* The number after `before` in text, or -1. */
static double figure(const char *text, const char *before)
{
	const char *p = strstr(text, before);
	return p ? strtod(p + strlen(before), NULL) : -1;
}

/* Entries of dir other than those the test put there itself. */
static int leftovers(const char *dir, const char *keep)
{
	DIR *d = opendir(dir);
	cr_assert(d, "%s: %s", dir, strerror(errno));
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && (!keep || strcmp(e->d_name, keep))) {
			cr_log_error("left in %s: %s", dir, e->d_name);
			n++;
		}
	closedir(d);
	return n;
}

static void expect_all_pass(const struct run *r, const char *dir)
{
	cr_expect_eq(r->status, 0, "exit %d, stderr: %s", r->status, r->err);
	cr_expect_eq(count_lines(r->out, "FAIL"), 0);
	cr_expect_eq(count_lines(r->out, "PASS"), 5, "five local checks:\n%s", r->out);
	cr_expect(strstr(r->out, "INFO  file system: "), "no file system line:\n%s", r->out);
	/* Generous bounds: on a local disk both are well under a millisecond. */
	double wake = figure(r->out, "a blocked waiter woke "), dead = figure(r->out, "lock was free ");
	cr_expect(wake >= 0 && wake < 500, "wake-up %.3f ms", wake);
	cr_expect(dead >= 0 && dead < 1000, "dead holder's lock free after %.3f ms", dead);
	cr_expect_eq(leftovers(dir, NULL), 0, "scratch files left behind");
}

Test(check_storage, temporary_directory_passes_every_check)
{
	struct run r;
	run(&r, -1, (const char *[]){ T.dir, NULL });
	expect_all_pass(&r, T.dir);
	cr_expect(strstr(r.out, "(local, statfs type"), "the temporary directory is on a local file system");
	run_free(&r);
}

static bool mount_tmpfs(const char *opts)
{
	T.mnt = th_path(T.dir, "mnt");
	cr_assert(mkdir(T.mnt, 0755) == 0);
	if (mount("tmpfs", T.mnt, "tmpfs", 0, "size=1m") < 0) {
		free(T.mnt);
		T.mnt = NULL;
		return false;
	}
	if (opts && mount(NULL, T.mnt, NULL, MS_REMOUNT | MS_RDONLY, opts) < 0)
		cr_assert_fail("remount read-only: %s", strerror(errno));
	return true;
}

Test(check_storage, tmpfs_passes_and_is_local)
{
	if (!mount_tmpfs(NULL))
		cr_skip_test("cannot mount a tmpfs (not root)");
	struct run r;
	run(&r, -1, (const char *[]){ T.mnt, NULL });
	expect_all_pass(&r, T.mnt);
	cr_expect(strstr(r.out, "INFO  file system: tmpfs (local"), "%s", r.out);
	cr_expect(strstr(r.out, "takeover-delay auto = 0"), "%s", r.out);
	run_free(&r);
}

Test(check_storage, missing_directory_is_66)
{
	char *missing = th_path(T.dir, "nope");
	struct run r;
	run(&r, -1, (const char *[]){ missing, NULL });
	cr_expect_eq(r.status, 66);
	cr_expect(strstr(r.err, "nope: no such directory"), "%s", r.err);
	cr_expect_eq(count_lines(r.out, "PASS"), 0);
	run_free(&r);
	free(missing);
}

Test(check_storage, file_instead_of_directory_is_66)
{
	char *file = th_path(T.dir, "plain");
	th_write_file(file, "x", 1);
	struct run r;
	run(&r, -1, (const char *[]){ file, NULL });
	cr_expect_eq(r.status, 66);
	cr_expect(strstr(r.err, "plain: not a directory"), "%s", r.err);
	cr_expect_eq(leftovers(T.dir, "plain"), 0);
	run_free(&r);
	free(file);
}

Test(check_storage, read_only_file_system_is_73)
{
	if (!mount_tmpfs("size=1m"))
		cr_skip_test("cannot mount a tmpfs (not root)");
	struct run r;
	run(&r, -1, (const char *[]){ T.mnt, NULL });
	cr_expect_eq(r.status, 73);
	cr_expect(strstr(r.err, "read-only file system"), "%s", r.err);
	run_free(&r);
}

Test(check_storage, directory_not_writable_is_77)
{
	if (geteuid() != 0)
		cr_skip_test("needs root to run the check as another user");
	/* Root may write anywhere; nobody may not write a root-owned 0755
	 * directory, but may reach it. */
	cr_assert(chmod(T.dir, 0755) == 0);
	struct run r;
	run(&r, 65534, (const char *[]){ T.dir, NULL });
	cr_expect_eq(r.status, 77, "exit %d: %s", r.status, r.err);
	cr_expect(strstr(r.err, "Permission denied"), "%s", r.err);
	cr_expect_eq(leftovers(T.dir, NULL), 0);
	run_free(&r);
}

Test(check_storage, bad_command_lines_are_64)
{
	const char *const *cases[] = {
		(const char *[]){ NULL },
		(const char *[]){ T.dir, "--timeout", "soon", NULL },
		(const char *[]){ T.dir, T.dir, NULL },
		(const char *[]){ T.dir, "--bogus", NULL },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct run r;
		run(&r, -1, cases[i]);
		cr_expect_eq(r.status, 64, "case %zu: exit %d", i, r.status);
		run_free(&r);
	}
	cr_expect_eq(leftovers(T.dir, NULL), 0);
}

/* Two processes on one directory meet exactly as two hosts do: through
 * the meeting file, with nothing shared but the file system. */
Test(check_storage, two_peers_pass_every_cross_check)
{
	struct run a, b;
	start(&a, "a", -1, (const char *[]){ T.dir, "--peer", "--peer-timeout", "20s", NULL });
	start(&b, "b", -1, (const char *[]){ T.dir, "--peer", "--peer-timeout", "20s", NULL });
	finish(&a);
	finish(&b);
	struct run *both[] = { &a, &b };
	int as = 0;
	for (int i = 0; i < 2; i++) {
		struct run *r = both[i];
		cr_expect_eq(r->status, 0, "peer %d exit %d: %s", i, r->status, r->err);
		cr_expect_eq(count_lines(r->out, "FAIL"), 0, "%s", r->out);
		cr_expect_eq(count_lines(r->out, "PASS"), 9, "five local and four cross checks:\n%s", r->out);
		as += strstr(r->out, "this host is A") != NULL;
		double rt = figure(r->out, "round trip through two waits ");
		cr_expect(rt >= 0 && rt < 1000, "wake round trip %.3f ms", rt);
		cr_expect(strstr(r->out, "(10 of 10 rounds, both ways)"), "%s", r->out);
	}
	cr_expect_eq(as, 1, "exactly one peer is A");
	/* Both report A's figures: the same line on both sides. */
	const char *la = strstr(a.out, "round trip from the SIGKILL"),
		   *lb = strstr(b.out, "round trip from the SIGKILL");
	cr_expect(la && lb && strncmp(la, lb, strcspn(la, "\n")) == 0, "the peers disagree on A's figure");
	cr_expect_eq(leftovers(T.dir, NULL), 0, "the meeting file or a scratch file was left");
	run_free(&a);
	run_free(&b);
}

Test(check_storage, no_peer_is_75_and_leaves_nothing)
{
	struct run r;
	run(&r, -1, (const char *[]){ T.dir, "--peer", "--peer-timeout", "300ms", NULL });
	cr_expect_eq(r.status, 75, "exit %d", r.status);
	cr_expect(strstr(r.err, "no peer came within 300 ms"), "%s", r.err);
	cr_expect_eq(count_lines(r.out, "PASS"), 5, "the local checks still ran:\n%s", r.out);
	cr_expect(r.ms < 300 + 5000, "took %.0f ms", r.ms);
	cr_expect_eq(leftovers(T.dir, NULL), 0);
	run_free(&r);
}

/* A storage call that never returns: another process holds the meeting
 * file's record lock, so the checker's open of it waits forever, as on
 * a dead server. The runner's bound (bound.h, as every command's) ends
 * it after --timeout: a FAIL line for the check, a message naming the
 * file and the call, exit 74; and the scratch files are removed: the
 * meeting file too, since no peer is in it (no slot lock is held). */
Test(check_storage, hung_storage_call_fails_within_the_timeout)
{
	char *meet = th_path(T.dir, ".understudy-check-peer");
	struct lockfile lf;
	cr_assert(lockfile_open(&lf, meet, LF_OPEN_CREATE) == 0);
	lockfile_close(&lf);
	pid_t holder = th_hold_lock(meet, LF_OFF_RECORD_LOCK);
	struct run r;
	run(&r, -1, (const char *[]){ T.dir, "--peer", "--timeout", "1s", NULL });
	th_kill(holder);
	cr_log_info("check-storage on a meeting file whose record lock another process holds: exit %d after %.0f ms: "
		    "%s",
		    r.status, r.ms, r.err);
	char want[4200];
	snprintf(want, sizeof(want),
		 "understudy check-storage: %s: no answer from the storage within 1000 ms (opening the meeting file, "
		 "creating it if need be)\n",
		 meet);
	cr_expect_eq(r.status, 74, "exit %d", r.status);
	cr_expect(strstr(r.err, want), "stderr does not name the file and the call: %s", r.err);
	cr_expect(strstr(r.out, "FAIL  meeting the peer in "), "%s", r.out);
	cr_expect(strstr(r.out, "(a call on the storage got no answer within --timeout)"), "%s", r.out);
	cr_expect_eq(count_lines(r.out, "FAIL"), 1, "%s", r.out);
	cr_expect_eq(count_lines(r.out, "PASS"), 5, "%s", r.out);
	/* The local checks (well under a second here), the bound, and at most
	 * the clean-up's grace (250 ms). */
	cr_expect(r.ms >= 1000 && r.ms < 1000 + 1000 + 250, "took %.0f ms", r.ms);
	cr_expect_eq(leftovers(T.dir, NULL), 0);
	run_free(&r);
	free(meet);
}

/* A peer whose lock is seen but whose writes never are, as on a FUSE
 * mount without direct I/O: another process holds slot 0's lock byte in
 * the meeting file and writes nothing. That is a failed write check
 * (exit 1), not a missing peer (75). */
Test(check_storage, peer_seen_only_by_its_lock_fails_the_write_check)
{
	char *meet = th_path(T.dir, ".understudy-check-peer");
	struct lockfile lf;
	cr_assert(lockfile_open(&lf, meet, LF_OPEN_CREATE) == 0);
	lockfile_close(&lf);
	pid_t peer = th_hold_lock(meet, lockfile_slot_lock_offset(0));
	struct run r;
	run(&r, -1, (const char *[]){ T.dir, "--peer", "--peer-timeout", "500ms", NULL });
	cr_expect_eq(r.status, 1, "exit %d", r.status);
	cr_expect(strstr(r.out, "FAIL  a write under the lock on one host is seen by the other (a peer holds"), "%s",
		  r.out);
	cr_expect_eq(count_lines(r.out, "FAIL"), 1, "%s", r.out);
	/* The peer still holds its slot: the meeting file stays for it. */
	cr_expect_eq(leftovers(T.dir, ".understudy-check-peer"), 0);
	th_kill(peer);
	run_free(&r);
	free(meet);
}
