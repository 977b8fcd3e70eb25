/* Integration suite "journal": real managers under a stand-in for
 * systemd's logging. Each manager's stderr is a file that JOURNAL_STREAM
 * names, as systemd sets it for a unit, and UNDERSTUDY_TEST_JOURNAL_SOCKET
 * points it at a real datagram socket of the test's in place of journald's.
 * What a transition, a failure and a planned hand-over send is asserted
 * field by field: the journalctl matches operators use (UNDERSTUDY_GROUP=,
 * UNDERSTUDY_TO=, PRIORITY=) find exactly these.
 *
 * Needs UNDERSTUDY_BIN. tests/systemd/test_nspawn.sh does the same under a
 * real systemd and journald. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"

#define BOUND_MS 10000 /* "it happens", whatever the machine's load */
#define MAX_DGRAMS 512

static struct {
	char *dir, *lock, *sock_path;
	const char *bin;
	int sock;
	pid_t pids[4];
	int npids;
	char *d[MAX_DGRAMS];
	size_t len[MAX_DGRAMS];
	int n;
} T;

static void setup(void)
{
	T.bin = getenv("UNDERSTUDY_BIN");
	cr_assert(T.bin && *T.bin, "UNDERSTUDY_BIN is not set");
	T.dir = th_tmpdir();
	T.lock = th_path(T.dir, "group.lock");
	T.sock_path = th_path(T.dir, "journal.sock");
	T.sock = th_journal_socket(T.sock_path);
	cr_assert(T.sock >= 0, "%s: %s", T.sock_path, strerror(errno));
}

static void teardown(void)
{
	for (int i = 0; i < T.npids; i++) {
		kill(T.pids[i], SIGKILL);
		waitpid(T.pids[i], NULL, 0);
	}
	for (int i = 0; i < T.n; i++)
		free(T.d[i]);
	close(T.sock);
	th_rmtree(T.dir);
	free(T.dir), free(T.lock), free(T.sock_path);
	memset(&T, 0, sizeof(T));
}

TestSuite(journal, .init = setup, .fini = teardown, .timeout = 60);

/* A manager with its stderr on DIR/NAME.stderr, the stream JOURNAL_STREAM
 * names, and argv after the binary. */
static pid_t start(const char *name, char *const argv[])
{
	char *err = th_path(T.dir, name);
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		int fd = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		struct stat st;
		char js[64];
		if (fd < 0 || dup2(fd, STDERR_FILENO) < 0 || fstat(STDERR_FILENO, &st) < 0)
			_exit(127);
		snprintf(js, sizeof(js), "%lu:%lu", (unsigned long)st.st_dev, (unsigned long)st.st_ino);
		setenv("JOURNAL_STREAM", js, 1);
		setenv("UNDERSTUDY_TEST_JOURNAL_SOCKET", T.sock_path, 1);
		execv(T.bin, argv);
		_exit(127);
	}
	free(err);
	T.pids[T.npids++] = pid;
	return pid;
}

static const char *field(int i, const char *name)
{
	static char v[4][2048];
	static int k;
	k = (k + 1) % 4;
	if (th_journal_field(T.d[i], T.len[i], name, v[k], sizeof(v[k])) < 0)
		return NULL;
	return v[k];
}

static bool is(int i, const char *name, const char *value)
{
	const char *v = field(i, name);
	return v && strcmp(v, value) == 0;
}

/* Receive datagrams until one of node has fname=fvalue, or the bound;
 * the index of that one, or -1. */
static int wait_for(const char *node, const char *fname, const char *fvalue)
{
	int64_t end = th_now_ns() + (int64_t)BOUND_MS * 1000000;
	for (int i = 0;; i++) {
		for (; i < T.n; i++)
			if (is(i, "UNDERSTUDY_NODE", node) && is(i, fname, fvalue))
				return i;
		int64_t left = (end - th_now_ns()) / 1000000;
		if (left <= 0 || T.n == MAX_DGRAMS)
			return -1;
		struct pollfd p = { .fd = T.sock, .events = POLLIN };
		if (poll(&p, 1, (int)left) <= 0)
			continue;
		char buf[8192];
		ssize_t r = recv(T.sock, buf, sizeof(buf), 0);
		if (r <= 0)
			continue;
		T.d[T.n] = malloc((size_t)r);
		memcpy(T.d[T.n], buf, (size_t)r);
		T.len[T.n++] = (size_t)r;
		i--; /* look at the new one */
	}
}

/* A field's value, or "-" where the datagram has none: printed, never
 * passed to printf as a null pointer. */
static const char *shown(int i, const char *name)
{
	const char *v = field(i, name);
	return v ? v : "-";
}

static void dump(void)
{
	for (int i = 0; i < T.n; i++)
		cr_log_info("%s/%s: %s", shown(i, "UNDERSTUDY_NODE"), shown(i, "PRIORITY"), shown(i, "MESSAGE"));
}

static int wait_exit(pid_t pid)
{
	int st;
	int64_t end = th_now_ns() + (int64_t)BOUND_MS * 1000000;
	while (waitpid(pid, &st, WNOHANG) == 0) {
		cr_assert(th_now_ns() < end, "manager %d did not exit", (int)pid);
		struct timespec ts = { 0, 20000000 };
		nanosleep(&ts, NULL);
	}
	for (int i = 0; i < T.npids; i++)
		if (T.pids[i] == pid)
			T.pids[i] = T.pids[--T.npids];
	return st;
}

static void write_conf(const char *path, const char *name, const char *role, const char *command)
{
	char text[1024];
	int n = snprintf(text, sizeof(text),
			 "[group]\nlock = %s\n[node]\nname = %s\nrole = %s\n[workload]\ncommand = %s\n"
			 "restart = never\n",
			 T.lock, name, role, command);
	th_write_file(path, text, (size_t)n);
}

/* The transition to live carries every field, the group named after the
 * configuration file; the workload pid is the workload's. A shutdown's
 * stop of the workload is no failure: nothing above info. */
Test(journal, transition_fields_and_quiet_shutdown)
{
	char *conf = th_path(T.dir, "app.conf");
	write_conf(conf, "node-a", "primary", "/bin/sleep 60");
	char *argv[] = { "understudy", "run", "--config", conf, NULL };
	pid_t a = start("a.stderr", argv);
	int i = wait_for("node-a", "UNDERSTUDY_TO", "live");
	if (i < 0)
		dump();
	cr_assert(i >= 0, "no transition to live reached the journal");
	cr_expect(is(i, "UNDERSTUDY_GROUP", "app"), "group '%s', want app", field(i, "UNDERSTUDY_GROUP"));
	cr_expect(is(i, "UNDERSTUDY_FROM", "starting"));
	cr_expect(is(i, "UNDERSTUDY_REASON", "the workload is ready"));
	cr_expect(is(i, "MESSAGE", "starting -> live: the workload is ready"));
	cr_expect(is(i, "PRIORITY", "6"));
	cr_expect(is(i, "SYSLOG_IDENTIFIER", "understudy"));
	const char *epoch = field(i, "UNDERSTUDY_EPOCH");
	cr_expect(epoch && strtoull(epoch, NULL, 10) >= 1, "epoch '%s'", epoch ? epoch : "(none)");
	char wp[32];
	cr_assert(field(i, "UNDERSTUDY_WORKLOAD_PID"), "no UNDERSTUDY_WORKLOAD_PID");
	snprintf(wp, sizeof(wp), "%s", field(i, "UNDERSTUDY_WORKLOAD_PID"));
	char path[64], cmd[256] = "";
	snprintf(path, sizeof(path), "/proc/%s/cmdline", wp);
	FILE *f = fopen(path, "r");
	if (f) {
		size_t n = fread(cmd, 1, sizeof(cmd) - 1, f);
		cmd[n] = '\0';
		fclose(f);
	}
	cr_expect(strstr(cmd, "sleep") != NULL, "UNDERSTUDY_WORKLOAD_PID %s is not the workload: '%s'", wp, cmd);

	int mark = T.n;
	kill(a, SIGTERM);
	cr_assert(WIFEXITED(wait_exit(a)));
	int ex = wait_for("node-a", "UNDERSTUDY_TO", "done");
	cr_assert(ex >= 0, "no transition to done");
	int wl = -1;
	for (int k = mark; k < T.n; k++) {
		const char *pr = field(k, "PRIORITY");
		cr_expect(pr && atoi(pr) >= 6, "a shutdown said at priority %s: %s", pr, field(k, "MESSAGE"));
		const char *m = field(k, "MESSAGE");
		if (m && strncmp(m, "workload killed by signal 15", 28) == 0)
			wl = k;
	}
	cr_expect(wl >= 0, "no line for the workload's planned end");
	if (wl >= 0)
		cr_expect(is(wl, "UNDERSTUDY_WORKLOAD_PID", wp));
	/* Everything went to the journal: the stream stayed empty. */
	char *errp = th_path(T.dir, "a.stderr"), *err = th_read_text(errp);
	cr_expect_str_empty(err, "lines on stderr although the journal took them: %s", err);
	free(err), free(errp), free(conf);
}

/* A workload that fails, with no restart: its exit and giving up are
 * warnings (PRIORITY=4), so `journalctl -p warning` shows them. */
static void failure_is_a_warning(const char *script)
{
	char *argv[] = { "understudy", "run",   "--lock", T.lock,    "--role", "primary",      "--name", "node-a",
			 "--restart",  "never", "--",     "/bin/sh", "-c",     (char *)script, NULL };
	pid_t a = start("a.stderr", argv);
	int i = wait_for("node-a", "MESSAGE", "workload exited with status 3");
	if (i < 0)
		dump();
	cr_assert(i >= 0, "no line for the workload's exit");
	cr_expect(is(i, "PRIORITY", "4"), "a failed workload said at priority %s", field(i, "PRIORITY"));
	cr_expect(field(i, "UNDERSTUDY_WORKLOAD_PID") != NULL);
	int g = wait_for("node-a", "UNDERSTUDY_REASON",
			 "workload failed and --restart is never: leaving it to a backup");
	cr_assert(g >= 0, "no transition for giving up");
	cr_expect(is(g, "PRIORITY", "4"), "giving up said at priority %s", field(g, "PRIORITY"));
	cr_expect(is(g, "UNDERSTUDY_FROM", "live"));
	/* The group's name without a configuration file: the lock's path. */
	cr_expect(is(g, "UNDERSTUDY_GROUP", T.lock), "group '%s'", field(g, "UNDERSTUDY_GROUP"));
	wait_exit(a);
}

Test(journal, failure_is_a_warning) { failure_is_a_warning("sleep 0.3; exit 3"); }

/* The main process fails and leaves a child behind, which the manager then
 * stops: still the workload's failure, not an end the manager asked for. */
Test(journal, failure_leaving_a_child_is_a_warning) { failure_is_a_warning("sleep 0.3; sleep 100 & exit 3"); }

/* A switchover: the old live node stops its workload as planned. None of
 * that reads like an error (all at info), and the new live node's
 * transition names it. */
Test(journal, handover_stop_is_no_error)
{
	char *pa[] = { "understudy", "run",    "--lock", T.lock,       "--role", "primary",
		       "--name",     "node-a", "--",     "/bin/sleep", "60",     NULL };
	char *pb[] = { "understudy", "run",    "--lock", T.lock,       "--role", "backup",
		       "--name",     "node-b", "--",     "/bin/sleep", "60",     NULL };
	start("a.stderr", pa);
	cr_assert(wait_for("node-a", "UNDERSTUDY_TO", "live") >= 0, "node-a never live");
	start("b.stderr", pb);
	cr_assert(wait_for("node-b", "UNDERSTUDY_TO", "backup") >= 0, "node-b never a waiting backup");
	int mark = T.n;
	pid_t sw = fork();
	cr_assert(sw >= 0);
	if (sw == 0) {
		execl(T.bin, "understudy", "switchover", "--lock", T.lock, "--wait", (char *)NULL);
		_exit(127);
	}
	int st;
	cr_assert(waitpid(sw, &st, 0) == sw);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "switchover exited 0x%x", st);
	int b = wait_for("node-b", "UNDERSTUDY_TO", "live");
	cr_assert(b >= 0, "node-b never live");
	int a = wait_for("node-a", "UNDERSTUDY_REASON", "handed over: waiting again");
	if (a < 0)
		dump();
	cr_assert(a >= 0, "node-a did not go back to waiting");
	bool stopped = false;
	for (int k = mark; k < T.n; k++) {
		if (!is(k, "UNDERSTUDY_NODE", "node-a"))
			continue;
		const char *pr = field(k, "PRIORITY");
		cr_expect(pr && atoi(pr) >= 6, "the hand-over said at priority %s: %s", pr, field(k, "MESSAGE"));
		const char *m = field(k, "MESSAGE");
		stopped = stopped || (m && strncmp(m, "workload killed by signal 15", 28) == 0);
	}
	cr_expect(stopped, "no line for node-a's workload stopping");
	const char *e = field(b, "UNDERSTUDY_EPOCH");
	cr_expect(e && strtoull(e, NULL, 10) >= 2, "the new term's epoch is %s", e ? e : "(none)");
}
