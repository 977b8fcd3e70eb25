/* The supervisor against real processes: exec errors, inherited lock,
 * process trees that try to escape, and death with the manager. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "understudy/spawn.h"
#include "understudy/supervise.h"

static char *dir;
static char **env;
extern char **environ;

static void setup(void)
{
	dir = th_tmpdir();
	env = environ;
	cr_assert_eq(supervise_init(), 0);
}

static void teardown(void)
{
	th_rmtree(dir);
	free(dir);
}

TestSuite(supervise, .init = setup, .fini = teardown, .timeout = 30);

/* Start and wait for the exec's outcome, as the loop does on its ring:
 * 0 once the exec succeeded, or -errno with the failed child reaped. */
static int spawn(struct workload *w, const char *path, char *const argv[], int keep_fd)
{
	int fd = -1, r = supervise_start(w, path, argv, env, keep_fd, NULL, &fd);
	if (r < 0)
		return r;
	int err = 0;
	ssize_t n;
	while ((n = read(fd, &err, sizeof(err))) < 0 && errno == EINTR)
		;
	close(fd);
	int e = supervise_exec_outcome((int)n, err);
	if (!e)
		return 0;
	/* The failed child exits by itself: the loop reaps it with the
	 * others; here, at once. */
	while (waitpid(w->pid, NULL, 0) < 0 && errno == EINTR)
		;
	close(w->pidfd);
	*w = (struct workload){ .pid = 0, .pidfd = -1, .main_gone = true };
	return -e;
}

static int spawn_sh(struct workload *w, const char *script, int keep_fd)
{
	char *argv[] = { "sh", "-c", (char *)script, NULL };
	return spawn(w, "/bin/sh", argv, keep_fd);
}

/* Reap until the whole tree is gone; false if it outlives the bound.
 * While a stop signal is set, send it again each round, as the loop does
 * on every SIGCHLD: a grandchild becomes our child only when its parent
 * dies, which may be after the first scan for children. */
static bool reap_all(struct workload *w, int ms)
{
	for (int i = 0; i < ms / 10; i++) {
		if (supervise_reap(w, NULL, NULL))
			return true;
		if (w->stop_sig)
			supervise_kill_tree(w, w->stop_sig);
		usleep(10000);
	}
	return false;
}

static pid_t read_pid(const char *path, int ms)
{
	for (int i = 0; i < ms / 10; i++) {
		FILE *f = fopen(path, "r");
		int pid = 0;
		if (f) {
			int n = fscanf(f, "%d", &pid);
			fclose(f);
			if (n == 1 && pid > 0)
				return pid;
		}
		usleep(10000);
	}
	return -1;
}

static bool gone_within(pid_t pid, int ms)
{
	for (int i = 0; i < ms / 10; i++) {
		/* We are a subreaper: a killed orphan lands here as a zombie,
		 * which kill(pid, 0) still finds until it is reaped. */
		waitpid(pid, NULL, WNOHANG);
		if (kill(pid, 0) < 0 && errno == ESRCH)
			return true;
		usleep(10000);
	}
	return false;
}

Test(supervise, a_missing_binary_is_an_error_not_a_start)
{
	struct workload w;
	char *argv[] = { "nope", NULL };
	int r = spawn(&w, "/nonexistent/bin/nope", argv, -1);
	cr_expect_eq(r, -ENOENT, "spawn returned %d (%s)", r, strerror(-r));
	cr_expect_eq(w.pid, 0, "no process is reported for a failed exec");
	cr_expect(supervise_reap(&w, NULL, NULL), "the failed child was reaped already");
}

Test(supervise, exec_success_reports_the_pid)
{
	struct workload w;
	cr_assert_eq(spawn_sh(&w, "exit 7", -1), 0);
	cr_expect_gt(w.pid, 0);
	cr_expect_geq(w.pidfd, 0);
	cr_assert(reap_all(&w, 5000));
	cr_expect(w.main_gone);
	cr_expect(WIFEXITED(w.wstatus) && WEXITSTATUS(w.wstatus) == 7, "status 0x%x", w.wstatus);
}

static void on_usr1(int sig) { (void)sig; }

/* A manager started with signals ignored (nohup's SIGHUP, a shell's
 * SIGPIPE), one caught and two blocked starts its workload with none of
 * them: every disposition the default, an empty mask. Run in a child of
 * the test, whose own signals stay as they were. */
Test(supervise, the_workload_starts_with_default_signals_and_an_empty_mask)
{
	char *out = th_path(dir, "status");
	pid_t m = fork();
	cr_assert_geq(m, 0);
	if (m == 0) {
		signal(SIGHUP, SIG_IGN);
		signal(SIGPIPE, SIG_IGN);
		signal(SIGUSR2, SIG_IGN);
		signal(SIGUSR1, on_usr1);
		sigset_t block;
		sigemptyset(&block);
		sigaddset(&block, SIGTERM);
		sigaddset(&block, SIGINT);
		sigprocmask(SIG_BLOCK, &block, NULL);
		if (supervise_init() < 0)
			_exit(2);
		char script[512];
		snprintf(script, sizeof(script), "exec grep -E '^Sig(Ign|Blk):' /proc/self/status > '%s'", out);
		struct workload w;
		if (spawn_sh(&w, script, -1) < 0 || !reap_all(&w, 5000))
			_exit(3);
		_exit(WIFEXITED(w.wstatus) ? WEXITSTATUS(w.wstatus) : 4);
	}
	int st;
	cr_assert_eq(waitpid(m, &st, 0), m);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the manager's child: status 0x%x", st);
	char *text = th_read_text(out);
	cr_assert_not_null(text);
	cr_expect_not_null(strstr(text, "SigIgn:\t0000000000000000\n"), "ignored signals passed on:\n%s", text);
	cr_expect_not_null(strstr(text, "SigBlk:\t0000000000000000\n"), "blocked signals passed on:\n%s", text);
	free(text);
	free(out);
}

/* The workload holds the lock file open at the highest descriptor its
 * limit allows, so that its exit closes (and flushes) every other file
 * before it drops the copy, and nothing else of the manager's. */
Test(supervise, the_lock_descriptor_is_inherited_last_and_others_are_not)
{
	char *lock = th_path(dir, "lock");
	int keep = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	int other = open(lock, O_RDWR | O_CLOEXEC);
	cr_assert(keep >= 0 && other >= 0);
	struct rlimit rl;
	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	int top = rl.rlim_cur > 4096 ? 4095 : (int)rl.rlim_cur - 1;
	cr_assert_gt(top, other, "the descriptor limit leaves no room above the test's own");
	char script[512];
	snprintf(script, sizeof(script),
		 "test \"$(readlink /proc/self/fd/%d)\" = %s || exit 1; test -e /proc/self/fd/%d && exit 2; "
		 "test -e /proc/self/fd/%d && exit 3; exec 9<%s; exit 0",
		 top, lock, keep, other, lock);
	struct workload w;
	cr_assert_eq(spawn_sh(&w, script, keep), 0);
	cr_assert(reap_all(&w, 5000));
	cr_expect_eq(
		WEXITSTATUS(w.wstatus), 0,
		"1: the lock file is not at fd %d, 2: its first number leaked (fd %d), 3: another fd leaked; got %d",
		top, keep, WEXITSTATUS(w.wstatus));
	int flags = fcntl(keep, F_GETFD);
	cr_expect(flags & FD_CLOEXEC, "the manager's own descriptor keeps close-on-exec");
	close(keep);
	close(other);
	free(lock);
}

/* Whether another open holds a write lock on byte 0 of the file of fd. */
static bool held(int fd)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1 };
	return fcntl(fd, F_OFD_GETLK, &fl) == 0 && fl.l_type != F_UNLCK;
}

/* The order doc/protocol.md §8's late release comes from, on the kernel
 * the tests run on: a process that dies releases its files' OFD locks
 * from its highest descriptor down. A child holds OFD locks on two files,
 * one at descriptor 3 and one at 1000, and is SIGKILLed while this process
 * watches both: the low one must never be free while the high one is
 * still held. On Linux 6.18 the high one was seen free first in about 60 %
 * of the tries, the low one never. The workload's copy of the lock file
 * stays high all the same (supervise.c, keep_last): a low one is where a
 * shell's own descriptors go, and an overwritten copy is a live lock no
 * survivor of the tree holds. */
Test(supervise, a_dying_process_releases_its_lowest_descriptor_last)
{
	char *low_path = th_path(dir, "low"), *high_path = th_path(dir, "high");
	int low = open(low_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	int high = open(high_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	cr_assert(low >= 0 && high >= 0);
	int wrong = 0, seen = 0;
	for (int i = 0; i < 200; i++) {
		int p[2];
		cr_assert_eq(pipe(p), 0);
		pid_t c = fork();
		cr_assert_geq(c, 0);
		if (c == 0) {
			struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1 };
			int a = open(low_path, O_RDWR), b = open(high_path, O_RDWR);
			if (a < 0 || b < 0 || dup2(a, 3) != 3 || dup2(b, 1000) != 1000)
				_exit(1);
			if (a != 3)
				close(a);
			close(b);
			/* Files in between, as a workload has. */
			for (int k = 0; k < 8; k++)
				open("/dev/null", O_RDONLY);
			if (fcntl(3, F_OFD_SETLK, &fl) < 0 || fcntl(1000, F_OFD_SETLK, &fl) < 0)
				_exit(1);
			if (write(p[1], "x", 1) != 1)
				_exit(1);
			for (;;)
				pause();
		}
		char x;
		cr_assert_eq(read(p[0], &x, 1), 1, "the child could not take its locks");
		close(p[0]);
		close(p[1]);
		kill(c, SIGKILL);
		for (long k = 0; k < 50000000; k++) {
			bool l = held(low), h = held(high);
			if (!l && h) {
				wrong++;
				break;
			}
			if (l && !h) {
				seen++;
				break;
			}
			if (!l && !h)
				break;
		}
		waitpid(c, NULL, 0);
	}
	cr_expect_eq(wrong, 0, "the low descriptor's lock was released first %d times in 200 (the other way %d)", wrong,
		     seen);
	close(low);
	close(high);
	free(low_path);
	free(high_path);
}

Test(supervise, signals_reach_the_process_group)
{
	char *mark = th_path(dir, "hup");
	char script[256];
	snprintf(script, sizeof(script), "trap 'echo hup > %s; exit 0' HUP; while :; do sleep 0.05; done", mark);
	struct workload w;
	cr_assert_eq(spawn_sh(&w, script, -1), 0);
	usleep(200000);
	cr_expect_eq(supervise_signal(&w, SIGHUP), 0);
	cr_assert(reap_all(&w, 5000), "the workload did not exit on SIGHUP");
	cr_expect_eq(access(mark, F_OK), 0, "the trap did not run");
	free(mark);
}

Test(supervise, kill_tree_reaches_a_grandchild_that_left_the_group)
{
	char *pidfile = th_path(dir, "escaped");
	char script[256];
	/* setsid: the grandchild leaves our process group, as daemons do. */
	snprintf(script, sizeof(script), "setsid sh -c 'echo $$ > %s; exec sleep 100' & exec sleep 100", pidfile);
	struct workload w;
	cr_assert_eq(spawn_sh(&w, script, -1), 0);
	pid_t escaped = read_pid(pidfile, 5000);
	cr_assert_gt(escaped, 0);
	supervise_kill_tree(&w, SIGKILL);
	cr_expect(reap_all(&w, 5000), "children remain after SIGKILL to the tree");
	cr_expect(gone_within(escaped, 2000), "the escaped grandchild %d is alive", (int)escaped);
	free(pidfile);
}

Test(supervise, orphans_of_the_tree_become_our_children)
{
	char *pidfile = th_path(dir, "orphan");
	char script[256];
	/* The main process exits at once, leaving a child behind. */
	snprintf(script, sizeof(script), "sh -c 'echo $$ > %s; exec sleep 100' & exit 0", pidfile);
	struct workload w;
	cr_assert_eq(spawn_sh(&w, script, -1), 0);
	pid_t orphan = read_pid(pidfile, 5000);
	cr_assert_gt(orphan, 0);
	usleep(100000);
	cr_expect_not(supervise_reap(&w, NULL, NULL), "the orphan must count as part of the tree");
	cr_expect(w.main_gone);
	supervise_kill_tree(&w, SIGTERM);
	cr_expect(reap_all(&w, 5000));
	cr_expect(gone_within(orphan, 2000));
	free(pidfile);
}

Test(supervise, the_workload_dies_with_its_manager)
{
	char *pidfile = th_path(dir, "child");
	int p[2];
	cr_assert_eq(pipe(p), 0);
	pid_t manager = fork();
	cr_assert_geq(manager, 0);
	if (manager == 0) {
		struct workload w;
		char *argv[] = { "sleep", "100", NULL };
		if (spawn(&w, "/bin/sleep", argv, -1) < 0)
			_exit(1);
		dprintf(p[1], "%d\n", (int)w.pid);
		pause();
		_exit(0);
	}
	close(p[1]);
	char buf[32] = { 0 };
	cr_assert_gt(read(p[0], buf, sizeof(buf) - 1), 0);
	close(p[0]);
	pid_t child = atoi(buf);
	cr_assert_gt(child, 0);
	th_kill(manager);
	cr_expect(gone_within(child, 2000), "the workload %d outlived its manager", (int)child);
	free(pidfile);
}

Test(supervise, resolve_searches_path_like_execvp)
{
	char *path = NULL;
	cr_assert_eq(supervise_resolve("sh", &path), 0);
	cr_expect_eq(access(path, X_OK), 0, "%s is not executable", path);
	free(path);
	path = NULL;
	cr_expect_eq(supervise_resolve("no-such-command-understudy", &path), -ENOENT);
	cr_expect_eq(supervise_resolve("/nonexistent/x", &path), -ENOENT);
	cr_expect_eq(supervise_resolve(dir, &path), -EISDIR);
	cr_expect_eq(supervise_resolve("", &path), -ENOENT);
	cr_expect_null(path);
}

/* A child we had before any workload (a logger left by the shell that
 * exec'd us) is not part of the workload: never killed, never waited for. */
Test(supervise, a_child_from_before_the_workload_is_not_the_workload)
{
	pid_t logger = fork();
	cr_assert_geq(logger, 0);
	if (logger == 0) {
		execl("/bin/sleep", "sleep", "100", (char *)NULL);
		_exit(127);
	}
	cr_assert_eq(supervise_init(), 0);
	struct workload w;
	cr_assert_eq(spawn_sh(&w, "exec sleep 100", -1), 0);
	supervise_kill_tree(&w, SIGKILL);
	cr_expect(reap_all(&w, 5000), "the tree never counted as gone while the logger lives");
	cr_expect(w.main_gone);
	cr_expect_eq(kill(logger, 0), 0, "the logger was killed with the workload");
	th_kill(logger);
}

/* Who counts as the workload's, for its notify messages: its main process,
 * a grandchild (also once the parent between them has exited and we
 * adopted it), never a child of ours from before, nor an unrelated
 * process. */
Test(supervise, in_tree_follows_the_workload_and_its_adopted_orphans)
{
	pid_t logger = fork();
	cr_assert_geq(logger, 0);
	if (logger == 0) {
		execl("/bin/sleep", "sleep", "100", (char *)NULL);
		_exit(127);
	}
	cr_assert_eq(supervise_init(), 0);
	char *deep = th_path(dir, "deep"), *orphan = th_path(dir, "orphan");
	char script[512];
	/* A grandchild under a living subshell, and one whose subshell exits. */
	snprintf(script, sizeof(script),
		 "sh -c 'sh -c \"echo \\$\\$ > %s; exec sleep 100\"; sleep 100' & "
		 "sh -c 'echo $$ > %s; exec sleep 100' & exec sleep 100",
		 deep, orphan);
	struct workload w;
	cr_assert_eq(spawn_sh(&w, script, -1), 0);
	pid_t d = read_pid(deep, 5000), o = read_pid(orphan, 5000);
	cr_assert(d > 0 && o > 0);
	cr_expect(supervise_in_tree(&w, w.pid), "the main process");
	cr_expect(supervise_in_tree(&w, d), "a grandchild two levels down");
	cr_expect(supervise_in_tree(&w, o), "a child of the workload");
	cr_expect_not(supervise_in_tree(&w, logger), "a child of ours from before the workload");
	cr_expect_not(supervise_in_tree(&w, getppid()), "an unrelated process");
	cr_expect_not(supervise_in_tree(&w, 999999), "no such process");
	supervise_kill_tree(&w, SIGKILL);
	cr_expect(reap_all(&w, 5000));
	th_kill(logger);
	free(deep), free(orphan);
}

/* The storage process's kill of a stalled manager's tree (worker.h): from
 * another process, forked after supervise_init, it reaches the workload's
 * group and a grandchild that left it (adopted by the manager as its parent
 * dies), and spares what the manager marked as no part of the workload,
 * even when marked after that process was forked (the list is shared). */
Test(supervise, another_process_kills_the_tree_and_spares_what_is_not_the_workload)
{
	char *pidfile = th_path(dir, "escaped");
	char script[256];
	snprintf(script, sizeof(script), "setsid sh -c 'echo $$ > %s; exec sleep 100' & exec sleep 100", pidfile);
	struct workload w;
	cr_assert_eq(spawn_sh(&w, script, -1), 0);
	pid_t escaped = read_pid(pidfile, 5000);
	cr_assert_gt(escaped, 0);
	int go[2];
	cr_assert_eq(pipe(go), 0);
	pid_t killer = fork();
	cr_assert_geq(killer, 0);
	if (killer == 0) {
		char c;
		close(go[1]);
		if (read(go[0], &c, 1) != 1)
			_exit(2);
		_exit(supervise_kill_tree_of(getppid(), SIGKILL) >= 1 ? 0 : 1);
	}
	close(go[0]);
	supervise_not_workload(killer);
	pid_t hook = fork();
	cr_assert_geq(hook, 0);
	if (hook == 0) {
		setsid();
		execl("/bin/sleep", "sleep", "100", (char *)NULL);
		_exit(127);
	}
	supervise_not_workload(hook); /* after the killer's fork: seen through the shared list */
	cr_assert_eq(write(go[1], "k", 1), 1);
	close(go[1]);
	int st = 0;
	cr_assert_eq(waitpid(killer, &st, 0), killer);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the killer ended with %#x", (unsigned)st);
	cr_expect(gone_within(escaped, 2000), "the grandchild %d that left the group is alive", (int)escaped);
	cr_expect(reap_all(&w, 5000), "the workload's tree outlived the kill");
	cr_expect_eq(kill(hook, 0), 0, "the hook was killed with the workload");
	th_kill(hook);
	free(pidfile);
}

/* Holds the spawner: a child that waits on a pipe before its exec, as one
 * whose program sits on a file system that stopped answering. */
static int held_gate[2];

SPAWN_CHILD static void wait_at_gate(void *arg)
{
	(void)arg;
	close(held_gate[1]); /* EOF, should the test die first */
	char c;
	while (read(held_gate[0], &c, 1) < 0 && errno == EINTR)
		;
	_exit(0);
}

/* While an earlier child's exec has not returned, a workload still starts,
 * forked, with everything a workload gets: its exec succeeds, its mask is
 * empty and it dies with its manager's group as any other. */
Test(supervise, a_workload_starts_while_an_earlier_childs_exec_has_not_returned)
{
	cr_assert_eq(pipe(held_gate), 0);
	pid_t held = spawn_shared(wait_at_gate, NULL);
	cr_assert_gt(held, 0, "spawn_shared: %d", (int)held);
	cr_assert(spawn_busy());
	supervise_not_workload(held); /* ours, but no part of the tree */
	char *out = th_path(dir, "status");
	char script[512];
	snprintf(script, sizeof(script), "exec grep -E '^SigBlk:' /proc/self/status > '%s'", out);
	struct workload w;
	cr_assert_eq(spawn_sh(&w, script, -1), 0, "no workload while the spawner is held");
	cr_assert(reap_all(&w, 5000));
	cr_expect(WIFEXITED(w.wstatus) && WEXITSTATUS(w.wstatus) == 0, "status 0x%x", w.wstatus);
	char *text = th_read_text(out);
	cr_assert_not_null(text);
	cr_expect_not_null(strstr(text, "SigBlk:\t0000000000000000\n"), "blocked signals passed on:\n%s", text);
	free(text);
	cr_expect(spawn_busy(), "the held child was let go");
	cr_assert_eq(write(held_gate[1], "x", 1), 1);
	int st;
	cr_expect_eq(waitpid(held, &st, 0), held);
	close(held_gate[0]);
	close(held_gate[1]);
	free(out);
}
