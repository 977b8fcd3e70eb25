/* The storage process against real processes and real OFD locks: the
 * copies of the open it lends the manager, and how it lets go of the open
 * when the manager's main thread ends. The test process plays the
 * manager: it spawns the storage process, hands it a real open of a lock
 * file in a fresh temporary directory, and runs jobs on it. */
#include "helpers.h"

#include <understudy/lockfile.h>
#include <understudy/timeline.h>
#include <understudy/worker.h>

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char *g_dir;
static char *g_path;
static struct lockfile g_lf;
static struct worker g_w;

static void setup(void)
{
	g_dir = th_tmpdir();
	g_path = th_path(g_dir, "group.lock");
	memset(&g_w, 0, sizeof(g_w));
	memset(&g_lf, 0, sizeof(g_lf));
	g_lf.fd = -1;
}

static void teardown(void)
{
	if (g_w.pid > 0) {
		kill(g_w.pid, SIGKILL);
		while (waitpid(g_w.pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	lockfile_close(&g_lf);
	th_rmtree(g_dir);
	free(g_path);
	free(g_dir);
}

TestSuite(worker, .init = setup, .fini = teardown, .timeout = 30);

/* Hand the spawned process a fresh open of the lock file, then close ours:
 * from here the storage process's copy is the only one the test made. */
static void attach(void)
{
	cr_assert_eq(lockfile_open(&g_lf, g_path, LF_OPEN_CREATE), 0, "open %s", g_path);
	cr_assert_eq(worker_attach(&g_w, &g_lf), 0);
	close(g_lf.fd);
	g_lf.fd = -1;
}

/* Run one job to its end, as the loop does: submit, wait for the eventfd,
 * collect. */
static int run_job(enum worker_op op)
{
	struct worker_job j;
	memset(&j, 0, sizeof(j));
	j.op = op;
	j.my_slot = -1;
	worker_submit(&g_w, &j);
	uint64_t n;
	ssize_t r;
	while ((r = read(g_w.efd, &n, sizeof(n))) < 0 && errno == EINTR)
		;
	cr_assert_eq(r, (ssize_t)sizeof(n), "the eventfd: %s", strerror(errno));
	worker_collect(&g_w, &j);
	return j.res;
}

static bool wait_unlocked(int64_t ms)
{
	int64_t t0 = th_now_ns();
	while ((th_now_ns() - t0) / 1000000 < ms) {
		if (th_is_locked(g_path, LF_OFF_LIVE_LOCK) == 0)
			return true;
		usleep(1000);
	}
	return false;
}

/* A lent copy is the storage process's own open, not another: its lock
 * does not conflict with itself through the copy, and does with any other
 * open of the file. Closing the copy leaves the lock held. */
Test(worker, a_lent_copy_is_the_same_open_and_closing_it_keeps_the_lock)
{
	cr_assert_eq(worker_spawn(&g_w), 0);
	attach();
	cr_assert_eq(run_job(WORKER_TRY_LIVE), 0, "the storage process could not take the live lock");
	cr_assert_eq(th_is_locked(g_path, LF_OFF_LIVE_LOCK), 1, "another open does not see the live lock");

	int fd = worker_lend(&g_w, TIMELINE_LEND_MS);
	cr_assert_geq(fd, 0, "worker_lend: %s", strerror(-fd));
	struct stat a, b;
	cr_assert_eq(fstat(fd, &a), 0);
	cr_assert_eq(stat(g_path, &b), 0);
	cr_expect(a.st_dev == b.st_dev && a.st_ino == b.st_ino, "the lent copy is of another file");
	cr_expect_eq(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC, "the lent copy is not close-on-exec");
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = LF_OFF_LIVE_LOCK, .l_len = 1 };
	cr_assert_eq(fcntl(fd, F_OFD_GETLK, &fl), 0);
	cr_expect_eq(fl.l_type, F_UNLCK, "the lent copy conflicts with the storage process's lock: another open");
	close(fd);
	cr_expect_eq(th_is_locked(g_path, LF_OFF_LIVE_LOCK), 1, "closing the lent copy released the live lock");

	/* Twice more: one request, one copy, nothing left queued. */
	for (int i = 0; i < 2; i++) {
		fd = worker_lend(&g_w, TIMELINE_LEND_MS);
		cr_assert_geq(fd, 0, "worker_lend, again: %s", strerror(-fd));
		close(fd);
	}
}

/* The nice value (field 19 of stat) of thread tid of pid, or -100. */
static int thread_nice(pid_t pid, const char *tid)
{
	char path[320];
	snprintf(path, sizeof path, "/proc/%d/task/%s/stat", (int)pid, tid);
	char *text = th_read_text(path), *p = strrchr(text, ')');
	int nice = -100;
	/* After the command's ")": state, then fields 4 to 19. */
	for (int field = 2; p && field < 19; field++)
		p = strchr(p + 1, ' ');
	if (p)
		nice = atoi(p + 1);
	free(text);
	return nice;
}

/* The scheduler's slice of a thread, in ns, where the kernel shows it
 * (/proc/PID/task/TID/sched, CONFIG_SCHED_DEBUG), or -1. */
static long thread_slice(pid_t pid, const char *tid)
{
	char path[320];
	snprintf(path, sizeof path, "/proc/%d/task/%s/sched", (int)pid, tid);
	char *text = th_read_text(path), *p = strstr(text, "se.slice");
	long slice = -1;
	if (p && (p = strchr(p, ':')))
		slice = atol(p + 1);
	free(text);
	return slice;
}

/* The death watch asks for its short slice in the class and at the
 * niceness it has: a manager started with nice 5 (an operator's
 * Nice=5) has a storage process whose every thread is still at 5. */
Test(worker, the_death_watch_keeps_the_niceness_it_was_started_with)
{
	cr_assert_eq(setpriority(PRIO_PROCESS, 0, 5), 0, "setpriority: %s", strerror(errno));
	cr_assert_eq(worker_spawn(&g_w), 0);
	attach();
	cr_assert_eq(run_job(WORKER_TRY_LIVE), 0); /* past its threads' start */
	char dir[64];
	snprintf(dir, sizeof dir, "/proc/%d/task", (int)g_w.pid);
	DIR *d = opendir(dir);
	cr_assert_not_null(d);
	int threads = 0, short_slices = 0, slices_shown = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		threads++;
		int nice = thread_nice(g_w.pid, e->d_name);
		cr_expect_eq(nice, 5, "thread %s of the storage process runs at nice %d, not 5", e->d_name, nice);
		long slice = thread_slice(g_w.pid, e->d_name);
		slices_shown += slice >= 0;
		short_slices += slice == (long)TIMELINE_DEATH_SLICE_US * 1000;
	}
	closedir(d);
	cr_expect_geq(threads, 3, "the storage process has %d threads: no watch or no lender", threads);
	if (slices_shown)
		cr_expect_eq(short_slices, 1, "%d threads of the storage process have the watch's short slice",
			     short_slices);
	cr_log_info("%d threads, all at nice 5; %d with a %d us slice (%s)", threads, short_slices,
		    TIMELINE_DEATH_SLICE_US, slices_shown ? "shown by the kernel" : "not shown by this kernel");
}

/* A storage process that cannot answer (stopped by someone) or is gone
 * makes worker_lend fail, bounded, never wait for ever. */
Test(worker, lending_fails_when_the_storage_process_is_stopped_or_gone)
{
	cr_assert_eq(worker_spawn(&g_w), 0);
	attach();
	cr_assert_eq(run_job(WORKER_READ), 0); /* past its threads' start */
	cr_assert_eq(kill(g_w.pid, SIGSTOP), 0);
	int st; /* the stop is whole once the parent hears of it */
	cr_assert_eq(waitpid(g_w.pid, &st, WUNTRACED), g_w.pid);
	cr_assert(WIFSTOPPED(st));
	int64_t t0 = th_now_ns();
	int fd = worker_lend(&g_w, TIMELINE_LEND_MS);
	double ms = (double)(th_now_ns() - t0) / 1e6;
	cr_expect_eq(fd, -ETIMEDOUT, "worker_lend from a stopped process gave %d, not -ETIMEDOUT", fd);
	cr_expect_geq(ms, TIMELINE_LEND_MS - 1, "worker_lend gave up after %.1f ms", ms);
	cr_log_info("worker_lend from a stopped storage process: %s after %.1f ms", strerror(-fd), ms);
	kill(g_w.pid, SIGKILL);
	kill(g_w.pid, SIGCONT);
	while (waitpid(g_w.pid, NULL, 0) < 0 && errno == EINTR)
		;
	pid_t gone = g_w.pid;
	g_w.pid = 0;
	fd = worker_lend(&g_w, TIMELINE_LEND_MS);
	cr_expect_lt(fd, 0, "worker_lend gave a descriptor from process %d, which is gone", (int)gone);
	if (fd >= 0)
		close(fd);
}

/* The thread that spawns the storage process stands for the manager's
 * main thread: it holds `alive` until it ends. */
struct main_thread {
	sem_t spawned, end;
	int r;
};

static void *main_thread(void *arg)
{
	struct main_thread *m = arg;
	m->r = worker_spawn(&g_w);
	sem_post(&m->spawned);
	while (sem_wait(&m->end) < 0 && errno == EINTR)
		;
	return NULL;
}

/* The manager's main thread ends while the rest of the manager lives on
 * (here the test process, which keeps its end of the job socket open, so
 * the socket's end cannot be what tells the storage process): the storage
 * process SIGKILLs the published workload, and lets go of the open, so
 * the live lock is free as soon as the workload is gone. The workload
 * holds no copy here; a real one does, and the lock then waits for it
 * (protocol.md §8). */
Test(worker, the_storage_process_lets_go_when_the_managers_main_thread_ends)
{
	struct main_thread m = { .r = -1 };
	cr_assert_eq(sem_init(&m.spawned, 0, 0), 0);
	cr_assert_eq(sem_init(&m.end, 0, 0), 0);
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, main_thread, &m), 0);
	while (sem_wait(&m.spawned) < 0 && errno == EINTR)
		;
	cr_assert_eq(m.r, 0, "worker_spawn: %s", strerror(-m.r));
	attach();
	cr_assert_eq(run_job(WORKER_TRY_LIVE), 0, "the storage process could not take the live lock");

	pid_t wl = fork();
	cr_assert_geq(wl, 0);
	if (wl == 0) {
		for (;;)
			pause();
	}
	worker_workload(&g_w, wl);
	usleep(50 * 1000);
	cr_assert_eq(th_is_locked(g_path, LF_OFF_LIVE_LOCK), 1, "the live lock is free before the thread ended");
	cr_assert_eq(waitpid(wl, NULL, WNOHANG), 0, "the workload ended before the thread did");

	int64_t t0 = th_now_ns();
	sem_post(&m.end);
	pthread_join(t, NULL);
	bool freed = wait_unlocked(5000);
	double ms = (double)(th_now_ns() - t0) / 1e6;
	/* The kill was sent before the let-go; its delivery may come after. */
	int st = 0;
	pid_t got = 0;
	for (int i = 0; i < 5000 && (got = waitpid(wl, &st, WNOHANG)) == 0; i++)
		usleep(1000);
	if (got == 0) {
		kill(wl, SIGKILL);
		waitpid(wl, &st, 0);
	}
	cr_expect(freed, "the storage process still holds the live lock 5 s after the manager's main thread ended");
	cr_expect(got == wl && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
		  "the published workload was not SIGKILLed when the manager's main thread ended");
	cr_expect(kill(g_w.pid, 0) == 0, "the storage process ended without the socket's end");
	cr_log_info("live lock free %.2f ms after the manager's main thread ended", ms);
}
