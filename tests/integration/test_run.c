/* Integration suite "run": real understudy managers, real processes, one
 * shared lock file in a temporary directory.
 *
 * Every node wraps tests/integration/witness.c, which appends its life to
 * DIR/log on CLOCK_MONOTONIC and holds an OFD lock on DIR/witness.lock, so
 * "two workloads never run at once" is observed (an "overlap" line, or two
 * start..stop intervals that intersect), not assumed. Each test says who
 * runs the workload and checks no_overlap().
 *
 * Needs UNDERSTUDY_BIN and WITNESS_BIN. Set UNDERSTUDY_TEST_KEEP=1 to keep
 * the temporary directories (their log and NAME.stderr files).
 *
 * Speed is reported with cr_log_info, and only asserted against generous
 * bounds: CI machines are noisy. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"
#include "understudy/lockfile.h"

#define BOUND_MS 5000 /* "it happens", whatever the machine's load */
#define MAX_PROCS 64
#define MAX_ARGS 64
#define MAX_EVENTS 2048

/* --- the fixture ---------------------------------------------------------- */

struct proc {
	pid_t pid;
	char name[64];
	bool done;
	int wstatus;
};

static struct {
	char *dir, *lock, *log, *wlock;
	const char *bin, *witness;
	struct proc procs[MAX_PROCS];
	int nprocs;
} T;

static void dump_diag(void);

/* cr_assert, but the log and every node's stderr are printed first. */
#define ensure(cond, ...)                                                                                              \
	do {                                                                                                           \
		if (!(cond)) {                                                                                         \
			dump_diag();                                                                                   \
			cr_assert(0, __VA_ARGS__);                                                                     \
		}                                                                                                      \
	} while (0)

static double ms_since(int64_t t0) { return (double)(th_now_ns() - t0) / 1e6; }

static void sleep_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* The test process is a subreaper: workloads and grandchildren orphaned by
 * a SIGKILLed manager land here, so they are reaped (never left as zombies
 * that kill(pid, 0) would still find) and killed at the end. */
static void reap_all(void)
{
	int st;
	pid_t p;
	while ((p = waitpid(-1, &st, WNOHANG)) > 0) {
		for (int i = 0; i < T.nprocs; i++)
			if (T.procs[i].pid == p && !T.procs[i].done) {
				T.procs[i].done = true;
				T.procs[i].wstatus = st;
			}
	}
}

/* Alive and not a zombie. */
static bool pid_alive(pid_t pid)
{
	reap_all();
	if (pid <= 0 || kill(pid, 0) < 0)
		return false;
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return false;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *rp = strrchr(buf, ')');
	if (!rp || rp[1] != ' ')
		return true;
	return rp[2] != 'Z' && rp[2] != 'X';
}

static bool is_witness(pid_t pid)
{
	char path[64], buf[4096];
	snprintf(path, sizeof path, "/proc/%ld/cmdline", (long)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return false;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	return strstr(buf, "witness") != NULL;
}

static void setup(void)
{
	T.bin = getenv("UNDERSTUDY_BIN");
	T.witness = getenv("WITNESS_BIN");
	cr_assert(T.bin && *T.bin, "UNDERSTUDY_BIN is not set");
	cr_assert(T.witness && *T.witness, "WITNESS_BIN is not set");
	cr_assert(access(T.bin, X_OK) == 0, "%s: %s", T.bin, strerror(errno));
	cr_assert(access(T.witness, X_OK) == 0, "%s: %s", T.witness, strerror(errno));
	cr_assert(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
	T.dir = th_tmpdir();
	T.lock = th_path(T.dir, "group.lock");
	T.log = th_path(T.dir, "log");
	T.wlock = th_path(T.dir, "witness.lock");
	T.nprocs = 0;
}

struct ev;
static int load_log(void);
static struct ev *EV;

static void teardown(void)
{
	for (int i = 0; i < T.nprocs; i++)
		if (!T.procs[i].done) {
			kill(T.procs[i].pid, SIGCONT);
			kill(T.procs[i].pid, SIGKILL);
		}
	int64_t dl = th_now_ns() + 3000000000LL;
	for (;;) {
		reap_all();
		bool all = true;
		for (int i = 0; i < T.nprocs; i++)
			all = all && T.procs[i].done;
		if (all || th_now_ns() > dl)
			break;
		sleep_ms(10);
	}
	/* Workloads die with their manager (PDEATHSIG); grandchildren do not. */
	FILE *f = T.log ? fopen(T.log, "r") : NULL;
	if (f) {
		char line[512], kind[32], name[128];
		long pid;
		while (fgets(line, sizeof line, f))
			if (sscanf(line, "%31s %127s %ld", kind, name, &pid) == 3 &&
			    (!strcmp(kind, "start") || !strcmp(kind, "child")) && pid_alive((pid_t)pid) &&
			    is_witness((pid_t)pid))
				kill((pid_t)pid, SIGKILL);
		fclose(f);
	}
	dl = th_now_ns() + 500000000LL;
	while (th_now_ns() < dl) {
		reap_all();
		sleep_ms(10);
	}
	if (T.dir && !getenv("UNDERSTUDY_TEST_KEEP"))
		th_rmtree(T.dir);
	else if (T.dir)
		cr_log_info("kept %s", T.dir);
	free(T.dir), free(T.lock), free(T.log), free(T.wlock);
	free(EV);
	EV = NULL;
	memset(&T, 0, sizeof T);
}

static int add_proc(pid_t pid, const char *name)
{
	cr_assert(T.nprocs < MAX_PROCS);
	struct proc *p = &T.procs[T.nprocs];
	memset(p, 0, sizeof *p);
	p->pid = pid;
	snprintf(p->name, sizeof p->name, "%s", name);
	return T.nprocs++;
}

/* In a forked child: a clean signal state, then exec. */
static void exec_child(char **argv, const char *out, const char *err, bool append)
{
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int s = 1; s < NSIG; s++)
		if (s != SIGKILL && s != SIGSTOP)
			signal(s, SIG_DFL);
	prctl(PR_SET_CHILD_SUBREAPER, 0);
	int in = open("/dev/null", O_RDONLY);
	int flags = O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC);
	int o = open(out, flags, 0644), e = open(err, flags, 0644);
	if (in < 0 || o < 0 || e < 0)
		_exit(126);
	dup2(in, 0), dup2(o, 1), dup2(e, 2);
	close(in), close(o), close(e);
	execv(argv[0], argv);
	fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

static bool has_arg(char **v, int n, const char *opt)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(v[i], opt))
			return true;
	return false;
}

/* Start a manager with exactly argv; its output goes to DIR/NAME.stdout
 * and DIR/NAME.stderr. Returns its index. */
static int spawn_manager(const char *name, char **argv)
{
	char *out = NULL, *err = NULL;
	cr_assert(asprintf(&out, "%s/%s.stdout", T.dir, name) > 0);
	cr_assert(asprintf(&err, "%s/%s.stderr", T.dir, name) > 0);
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0)
		exec_child(argv, out, err, true);
	free(out), free(err);
	return add_proc(pid, name);
}

/* Start a manager: start_node("primary", "node-a", RUN-ARGS..., "--",
 * WITNESS-ARGS..., NULL). Arguments before a "--" go to understudy run
 * (they replace the default --check-interval 100ms / --stop-timeout 2s),
 * those after it to the witness. Returns the manager's index. */
__attribute__((sentinel)) static int start_node(const char *role, const char *name, ...)
{
	char *run_args[MAX_ARGS], *wit_args[MAX_ARGS];
	int nrun = 0, nwit = 0;
	bool to_witness = false;
	va_list ap;
	va_start(ap, name);
	for (const char *a; (a = va_arg(ap, const char *));) {
		if (!to_witness && !strcmp(a, "--"))
			to_witness = true;
		else if (to_witness)
			wit_args[nwit++] = (char *)a;
		else
			run_args[nrun++] = (char *)a;
		cr_assert(nrun < MAX_ARGS / 2 && nwit < MAX_ARGS / 2);
	}
	va_end(ap);

	char *argv[3 * MAX_ARGS];
	int n = 0;
	argv[n++] = (char *)T.bin;
	argv[n++] = "run";
	argv[n++] = "--lock";
	argv[n++] = T.lock;
	argv[n++] = "--role";
	argv[n++] = (char *)role;
	argv[n++] = "--name";
	argv[n++] = (char *)name;
	if (!has_arg(run_args, nrun, "--check-interval"))
		argv[n++] = "--check-interval", argv[n++] = "100ms";
	if (!has_arg(run_args, nrun, "--stop-timeout"))
		argv[n++] = "--stop-timeout", argv[n++] = "2s";
	for (int i = 0; i < nrun; i++)
		argv[n++] = run_args[i];
	argv[n++] = "--";
	argv[n++] = (char *)T.witness;
	argv[n++] = T.log;
	argv[n++] = T.wlock;
	for (int i = 0; i < nwit; i++)
		argv[n++] = wit_args[i];
	argv[n] = NULL;

	return spawn_manager(name, argv);
}

static bool proc_alive(int i)
{
	reap_all();
	return !T.procs[i].done;
}

static bool wait_exit(int i, int timeout_ms)
{
	int64_t dl = th_now_ns() + (int64_t)timeout_ms * 1000000;
	while (proc_alive(i)) {
		if (th_now_ns() > dl)
			return false;
		sleep_ms(5);
	}
	return true;
}

/* Exit code, or 128+signal when killed. */
static int exit_code(int i)
{
	int st = T.procs[i].wstatus;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* --- one-shot commands ---------------------------------------------------- */

struct cmd {
	int code;  /* exit code, 128+signal, or -1 when it timed out */
	double ms; /* how long it ran */
	char *out, *err;
};

/* Run $UNDERSTUDY_BIN ARGS... (NULL-terminated), capture its output. */
__attribute__((sentinel)) static struct cmd run_cmd(int timeout_ms, ...)
{
	char *argv[MAX_ARGS];
	int n = 0;
	argv[n++] = (char *)T.bin;
	va_list ap;
	va_start(ap, timeout_ms);
	for (const char *a; (a = va_arg(ap, const char *));) {
		argv[n++] = (char *)a;
		cr_assert(n < MAX_ARGS - 1);
	}
	va_end(ap);
	argv[n] = NULL;

	char *out = th_path(T.dir, "cmd.stdout"), *err = th_path(T.dir, "cmd.stderr");
	int64_t t0 = th_now_ns();
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0)
		exec_child(argv, out, err, false);
	int i = add_proc(pid, argv[1] ? argv[1] : "cmd");
	struct cmd c = { 0 };
	if (!wait_exit(i, timeout_ms)) {
		kill(pid, SIGKILL);
		wait_exit(i, 2000);
		c.code = -1;
	} else {
		c.code = exit_code(i);
	}
	c.ms = ms_since(t0);
	c.out = th_read_text(out);
	c.err = th_read_text(err);
	free(out), free(err);
	return c;
}

static void cmd_free(struct cmd *c)
{
	free(c->out), free(c->err);
	c->out = c->err = NULL;
}

/* --- the witness log ------------------------------------------------------- */

enum ev_kind { EV_START, EV_STOP, EV_EXIT, EV_SIGNAL, EV_OVERLAP, EV_CHILD, EV_READY, EV_OTHER };

struct ev {
	enum ev_kind kind;
	char name[64];
	long pid; /* start, stop, exit, child, overlap */
	int64_t t;
	char extra[64]; /* start: role; signal: HUP|USR1|USR2; exit: code */
};

static int NEV;

/* Parse DIR/log into EV[0..NEV). */
static int load_log(void)
{
	if (!EV)
		EV = calloc(MAX_EVENTS, sizeof *EV);
	cr_assert(EV);
	NEV = 0;
	FILE *f = fopen(T.log, "r");
	if (!f)
		return 0;
	char line[512], kind[32], a[64], b[64], c[64], d[64];
	while (NEV < MAX_EVENTS && fgets(line, sizeof line, f)) {
		struct ev *e = &EV[NEV];
		memset(e, 0, sizeof *e);
		a[0] = b[0] = c[0] = d[0] = '\0';
		int k = sscanf(line, "%31s %63s %63s %63s %63s", kind, a, b, c, d);
		if (k < 3)
			continue;
		snprintf(e->name, sizeof e->name, "%s", a);
		if (!strcmp(kind, "start") || !strcmp(kind, "stop") || !strcmp(kind, "exit") ||
		    !strcmp(kind, "child") || !strcmp(kind, "ready")) {
			e->kind = !strcmp(kind, "start")   ? EV_START
				  : !strcmp(kind, "stop")  ? EV_STOP
				  : !strcmp(kind, "exit")  ? EV_EXIT
				  : !strcmp(kind, "ready") ? EV_READY
							   : EV_CHILD;
			e->pid = atol(b);
			e->t = atoll(c);
			snprintf(e->extra, sizeof e->extra, "%s", d);
		} else if (!strcmp(kind, "signal")) {
			e->kind = EV_SIGNAL;
			snprintf(e->extra, sizeof e->extra, "%s", b);
			e->t = atoll(c);
		} else if (!strcmp(kind, "overlap")) {
			e->kind = EV_OVERLAP;
			e->t = atoll(b);
			e->pid = atol(c);
		} else {
			e->kind = EV_OTHER;
		}
		NEV++;
	}
	fclose(f);
	return NEV;
}

/* How many events of a kind (by a node, or by anyone with name NULL). */
static int count(enum ev_kind k, const char *name)
{
	load_log();
	int n = 0;
	for (int i = 0; i < NEV; i++)
		if (EV[i].kind == k && (!name || !strcmp(EV[i].name, name)))
			n++;
	return n;
}

/* The n-th (0-based) event of a kind by a node; a copy, zeroed if none. */
static struct ev nth(enum ev_kind k, const char *name, int n)
{
	load_log();
	for (int i = 0; i < NEV; i++)
		if (EV[i].kind == k && (!name || !strcmp(EV[i].name, name)) && n-- == 0)
			return EV[i];
	struct ev none;
	memset(&none, 0, sizeof none);
	return none;
}

static struct ev last(enum ev_kind k, const char *name)
{
	int n = count(k, name);
	return n ? nth(k, name, n - 1) : nth(k, name, 0);
}

/* Any witness process still running (not a zombie). */
static int witnesses_alive(long *which)
{
	load_log();
	int n = 0;
	for (int i = 0; i < NEV; i++)
		if ((EV[i].kind == EV_START || EV[i].kind == EV_CHILD) && EV[i].pid > 0 &&
		    pid_alive((pid_t)EV[i].pid)) {
			if (which)
				*which = EV[i].pid;
			n++;
		}
	return n;
}

struct interval {
	int64_t from, to; /* to = INT64_MAX: no stop line (killed, or running) */
	long pid;
	char name[64];
};

static int cmp_interval(const void *a, const void *b)
{
	const struct interval *x = a, *y = b;
	return (x->from > y->from) - (x->from < y->from);
}

/* Never two workloads: no witness found the witness lock taken, no two
 * start..stop intervals intersect, and at most one workload (with its
 * grandchild) is alive now. A SIGKILLed workload writes no stop line: its
 * interval is open-ended, and it is the witness lock that proves the next
 * start came after it died. */
static void no_overlap(void)
{
	load_log();
	for (int i = 0; i < NEV; i++)
		ensure(EV[i].kind != EV_OVERLAP, "%s's workload started while another still ran (t=%lld)", EV[i].name,
		       (long long)EV[i].t);
	struct interval *iv = calloc((size_t)NEV + 1, sizeof *iv);
	cr_assert(iv);
	int n = 0;
	for (int i = 0; i < NEV; i++) {
		if (EV[i].kind != EV_START)
			continue;
		struct interval *v = &iv[n++];
		v->from = EV[i].t;
		v->to = INT64_MAX;
		v->pid = EV[i].pid;
		snprintf(v->name, sizeof v->name, "%s", EV[i].name);
		for (int j = i + 1; j < NEV; j++)
			if ((EV[j].kind == EV_STOP || EV[j].kind == EV_EXIT) && EV[j].pid == EV[i].pid) {
				v->to = EV[j].t;
				break;
			}
	}
	qsort(iv, (size_t)n, sizeof *iv, cmp_interval);
	for (int i = 0; i < n; i++)
		for (int j = i + 1; j < n; j++)
			ensure(iv[i].to == INT64_MAX || iv[j].from >= iv[i].to,
			       "workloads overlap: %s pid %ld [%lld, %lld] and %s pid %ld from %lld", iv[i].name,
			       iv[i].pid, (long long)iv[i].from, (long long)iv[i].to, iv[j].name, iv[j].pid,
			       (long long)iv[j].from);
	free(iv);
	/* Starts and grandchildren of one tree count once: count the trees. */
	int trees = 0;
	for (int i = 0; i < NEV; i++) {
		if (EV[i].kind != EV_START)
			continue;
		bool alive = pid_alive((pid_t)EV[i].pid);
		for (int j = i + 1; !alive && j < NEV && EV[j].kind != EV_START; j++)
			if (EV[j].kind == EV_CHILD && !strcmp(EV[j].name, EV[i].name))
				alive = pid_alive((pid_t)EV[j].pid);
		trees += alive;
	}
	ensure(trees <= 1, "%d workloads are running at once", trees);
}

/* --- the lock file, as the tests see it ------------------------------------ */

static bool read_view(struct lf_view *v)
{
	struct lockfile lf;
	bool ok = lockfile_open(&lf, T.lock, false) == 0 && lockfile_read(&lf, v) == 0;
	lockfile_close(&lf);
	return ok;
}

static char status_byte(void)
{
	struct lf_view v;
	return read_view(&v) ? v.status : 0;
}

/* The name of the live node: the live lock is held and the live record
 * names it; "" when none. */
static const char *live_name(void)
{
	static char name[LF_NAME_MAX + 1];
	struct lf_view v;
	name[0] = '\0';
	if (read_view(&v) && (v.status == LF_LIVE || v.status == LF_FAILBACK) && v.live_rec == LF_REC_OK &&
	    th_is_locked(T.lock, LF_OFF_LIVE_LOCK) == 1)
		snprintf(name, sizeof name, "%s", v.live.name);
	return name;
}

static bool is_live(const char *name) { return !strcmp(live_name(), name); }

/* The slot state a running node publishes (its slot lock is held), with
 * its flags << 8; 0 when no running node has that name. */
static int node_state_flags(const char *name)
{
	struct lf_view v;
	if (!read_view(&v))
		return 0;
	for (int i = 0; i < LF_SLOTS; i++)
		if (v.slot_rec[i] == LF_REC_OK && !strcmp(v.slots[i].name, name) &&
		    th_is_locked(T.lock, lockfile_slot_lock_offset(i)) == 1)
			return v.slots[i].state | v.slots[i].flags << 8;
	return 0;
}

static int node_state(const char *name) { return node_state_flags(name) & 0xff; }

/* --- waiting ---------------------------------------------------------------- */

/* Poll pred every 10 ms until it holds or timeout_ms pass. */
static bool wait_for(bool (*pred)(const void *), const void *arg, int timeout_ms)
{
	int64_t dl = th_now_ns() + (int64_t)timeout_ms * 1000000;
	for (;;) {
		reap_all();
		if (pred(arg))
			return true;
		if (th_now_ns() > dl)
			return false;
		sleep_ms(10);
	}
}

struct want {
	enum ev_kind kind;
	const char *name;
	int n;
	int state;
	char status;
};

static bool p_count(const void *a)
{
	const struct want *w = a;
	return count(w->kind, w->name) >= w->n;
}
static bool p_live(const void *a) { return is_live(a); }
static bool p_state(const void *a)
{
	const struct want *w = a;
	return node_state(w->name) == w->state;
}
static bool p_status(const void *a)
{
	const struct want *w = a;
	return status_byte() == w->status;
}

/* Wait for the n-th start by a node; returns that event. */
static struct ev wait_start(const char *name, int n, int timeout_ms)
{
	struct want w = { .kind = EV_START, .name = name, .n = n };
	ensure(wait_for(p_count, &w, timeout_ms), "%s did not start its workload (start #%d) within %d ms", name, n,
	       timeout_ms);
	return nth(EV_START, name, n - 1);
}

static void wait_state(const char *name, int state, int timeout_ms)
{
	struct want w = { .name = name, .state = state };
	ensure(wait_for(p_state, &w, timeout_ms), "%s did not reach slot state %s within %d ms (it is %s)", name,
	       lockfile_slot_state_name((uint8_t)state), timeout_ms,
	       lockfile_slot_state_name((uint8_t)node_state(name)));
}

static void wait_live(const char *name, int timeout_ms)
{
	ensure(wait_for(p_live, name, timeout_ms), "%s is not live within %d ms (live: \"%s\")", name, timeout_ms,
	       live_name());
}

/* A primary becomes live, then a backup waits on it. */
static void primary_and_backup(int *a, int *b)
{
	*a = start_node("primary", "node-a", NULL);
	wait_start("node-a", 1, BOUND_MS);
	wait_live("node-a", BOUND_MS);
	*b = start_node("backup", "node-b", NULL);
	wait_state("node-b", LF_SLOT_WAITING, BOUND_MS);
}

/* --- JSON, just enough for status --json ---------------------------------- */

/* Copy without whitespace outside strings. */
static char *json_compact(const char *s)
{
	char *o = malloc(strlen(s) + 1), *p = o;
	cr_assert(o);
	bool str = false;
	for (; *s; s++) {
		if (str) {
			*p++ = *s;
			if (*s == '\\' && s[1])
				*p++ = *++s;
			else if (*s == '"')
				str = false;
		} else if (*s == '"') {
			str = true;
			*p++ = *s;
		} else if (!strchr(" \t\r\n", *s)) {
			*p++ = *s;
		}
	}
	*p = '\0';
	return o;
}

static const char *json_skip(const char *p)
{
	if (*p == '"') {
		for (p++; *p && *p != '"'; p++)
			if (*p == '\\' && p[1])
				p++;
		return *p ? p + 1 : p;
	}
	if (*p == '{' || *p == '[') {
		int depth = 0;
		do {
			if (*p == '"') {
				p = json_skip(p);
				continue;
			}
			if (*p == '{' || *p == '[')
				depth++;
			else if (*p == '}' || *p == ']')
				depth--;
			p++;
		} while (*p && depth > 0);
		return p;
	}
	while (*p && !strchr(",}]", *p))
		p++;
	return p;
}

/* The value of a member of the compact object at obj, or NULL; *len its
 * length. */
static const char *json_get(const char *obj, const char *key, size_t *len)
{
	if (!obj || *obj != '{')
		return NULL;
	const char *p = obj + 1;
	size_t klen = strlen(key);
	while (*p == '"') {
		const char *k = p + 1, *ke = json_skip(p);
		if (*ke != ':')
			return NULL;
		const char *v = ke + 1, *ve = json_skip(v);
		if ((size_t)(ke - 1 - k) == klen && !strncmp(k, key, klen)) {
			*len = (size_t)(ve - v);
			return v;
		}
		p = *ve == ',' ? ve + 1 : ve;
	}
	return NULL;
}

static bool json_is(const char *obj, const char *key, const char *want)
{
	size_t len;
	const char *v = json_get(obj, key, &len);
	return v && len == strlen(want) && !strncmp(v, want, len);
}

static int json_array_len(const char *v)
{
	if (!v || *v != '[')
		return -1;
	if (v[1] == ']')
		return 0;
	int n = 0;
	const char *p = v + 1;
	for (;;) {
		p = json_skip(p);
		n++;
		if (*p != ',')
			return n;
		p++;
	}
}

/* --- diagnostics ------------------------------------------------------------ */

static void dump_file(const char *label, const char *path)
{
	char *s = th_read_text(path);
	size_t len = strlen(s);
	cr_log_error("---- %s%s\n%s", label, len > 6000 ? " (last 6000 bytes)" : "", len > 6000 ? s + len - 6000 : s);
	free(s);
}

static void dump_diag(void)
{
	if (!T.dir)
		return;
	dump_file("witness log", T.log);
	DIR *d = opendir(T.dir);
	if (!d)
		return;
	for (struct dirent *e; (e = readdir(d));) {
		size_t n = strlen(e->d_name);
		if (n > 7 && !strcmp(e->d_name + n - 7, ".stderr")) {
			char *p = th_path(T.dir, e->d_name);
			dump_file(e->d_name, p);
			free(p);
		}
	}
	closedir(d);
	struct lf_view v;
	if (read_view(&v))
		cr_log_error("lock file: status %c, live %s", v.status ? v.status : '0',
			     v.live_rec == LF_REC_OK ? v.live.name : "(none)");
}

TestSuite(run, .init = setup, .fini = teardown, .timeout = 90);

/* --- who runs the workload -------------------------------------------------- */

Test(run, primary_alone_becomes_live)
{
	int64_t t0 = th_now_ns();
	start_node("primary", "node-a", NULL);
	struct ev s = wait_start("node-a", 1, BOUND_MS);
	cr_log_info("primary alone: workload started %.1f ms after launch", (double)(s.t - t0) / 1e6);
	ensure(!strcmp(s.extra, "primary"), "UNDERSTUDY_ROLE is \"%s\", not primary", s.extra);
	wait_live("node-a", BOUND_MS);
	sleep_ms(300);
	ensure(count(EV_START, NULL) == 1, "%d starts, want 1", count(EV_START, NULL));
	ensure(status_byte() == LF_LIVE, "status byte '%c', want L", status_byte());
	no_overlap();
}

Test(run, backup_waits)
{
	int a, b;
	primary_and_backup(&a, &b);
	sleep_ms(500);
	ensure(count(EV_START, "node-b") == 0, "the backup started a workload while the primary is live");
	ensure(count(EV_START, "node-a") == 1, "node-a started %d times", count(EV_START, "node-a"));

	struct cmd c = run_cmd(BOUND_MS, "status", "--lock", T.lock, "--json", NULL);
	ensure(c.code == 0, "status --json exited %d: %s", c.code, c.err);
	char *j = json_compact(c.out);
	ensure(json_is(j, "state", "\"live\""), "status --json: state is not \"live\": %s", c.out);
	size_t len;
	const char *live = json_get(j, "live", &len);
	ensure(live && json_is(live, "name", "\"node-a\""), "status --json: live is not node-a: %s", c.out);
	const char *nodes = json_get(j, "nodes", &len);
	ensure(json_array_len(nodes) == 2, "status --json: %d nodes, want 2: %s", json_array_len(nodes), c.out);
	free(j);
	cmd_free(&c);

	c = run_cmd(BOUND_MS, "status", "--lock", T.lock, NULL);
	ensure(c.code == 0 && strstr(c.out, "node-a") && strstr(c.out, "node-b"),
	       "status (text) exited %d and should name both nodes: %s%s", c.code, c.out, c.err);
	cr_log_info("status:\n%s", c.out);
	cmd_free(&c);
	ensure(proc_alive(a) && proc_alive(b), "a manager exited");
	no_overlap();
}

/* --- failover ---------------------------------------------------------------- */

Test(run, failover_after_sigkill_of_live_manager)
{
	int a, b;
	primary_and_backup(&a, &b);
	long wpid = nth(EV_START, "node-a", 0).pid;
	int64_t t0 = th_now_ns();
	kill(T.procs[a].pid, SIGKILL);
	struct ev s = wait_start("node-b", 1, BOUND_MS);
	double ms = (double)(s.t - t0) / 1e6;
	cr_log_info("failover latency, SIGKILL of the live manager -> backup's workload starts: %.1f ms", ms);
	ensure(!strcmp(s.extra, "backup"), "UNDERSTUDY_ROLE of node-b is \"%s\"", s.extra);
	ensure(!pid_alive((pid_t)wpid), "node-a's workload survived its manager's SIGKILL");
	wait_live("node-b", BOUND_MS);
	ensure(proc_alive(b), "node-b's manager exited");
	no_overlap();
}

Test(run, failover_after_sigkill_of_workload_restart_never)
{
	int a = start_node("primary", "node-a", "--restart", "never", NULL);
	wait_start("node-a", 1, BOUND_MS);
	wait_live("node-a", BOUND_MS);
	int b = start_node("backup", "node-b", NULL);
	wait_state("node-b", LF_SLOT_WAITING, BOUND_MS);
	int64_t t0 = th_now_ns();
	kill((pid_t)nth(EV_START, "node-a", 0).pid, SIGKILL);
	ensure(wait_exit(a, BOUND_MS), "node-a's manager did not give up");
	ensure(exit_code(a) == 69, "node-a's manager exited %d, want 69", exit_code(a));
	struct ev s = wait_start("node-b", 1, BOUND_MS);
	cr_log_info("failover latency, SIGKILL of the workload (--restart never) -> backup starts: %.1f ms",
		    (double)(s.t - t0) / 1e6);
	ensure(count(EV_START, "node-a") == 1, "node-a restarted its workload under --restart never");
	ensure(proc_alive(b), "node-b's manager exited");
	no_overlap();
}

Test(run, workload_sigkill_restarts_in_place)
{
	int a, b;
	primary_and_backup(&a, &b);
	int64_t t0 = th_now_ns();
	kill((pid_t)nth(EV_START, "node-a", 0).pid, SIGKILL);
	struct ev s = wait_start("node-a", 2, BOUND_MS);
	cr_log_info("restart in place after SIGKILL of the workload: %.1f ms", (double)(s.t - t0) / 1e6);
	sleep_ms(500);
	ensure(count(EV_START, "node-b") == 0, "the backup took over although node-a restarts in place");
	ensure(count(EV_START, "node-a") == 2, "node-a started %d times, want 2", count(EV_START, "node-a"));
	ensure(proc_alive(a) && proc_alive(b), "a manager exited");
	ensure(is_live("node-a"), "node-a is not live");
	no_overlap();
}

Test(run, failover_after_sigkill_of_manager_and_workload)
{
	int a, b;
	primary_and_backup(&a, &b);
	pid_t w = (pid_t)nth(EV_START, "node-a", 0).pid;
	int64_t t0 = th_now_ns();
	kill(w, SIGKILL);
	kill(T.procs[a].pid, SIGKILL);
	struct ev s = wait_start("node-b", 1, BOUND_MS);
	cr_log_info("failover latency, SIGKILL of manager and workload: %.1f ms", (double)(s.t - t0) / 1e6);
	wait_live("node-b", BOUND_MS);
	ensure(proc_alive(b), "node-b's manager exited");
	no_overlap();
}

/* --- clean stops ---------------------------------------------------------------- */

Test(run, sigterm_pauses_the_group)
{
	int a, b;
	primary_and_backup(&a, &b);
	long wpid = nth(EV_START, "node-a", 0).pid;
	int64_t t0 = th_now_ns();
	kill(T.procs[a].pid, SIGTERM);
	ensure(wait_exit(a, BOUND_MS), "node-a's manager did not exit on SIGTERM");
	cr_log_info("clean stop of the live node: %.1f ms", ms_since(t0));
	ensure(exit_code(a) == 0, "node-a's manager exited %d, want 0", exit_code(a));
	struct ev stop = last(EV_STOP, "node-a");
	ensure(stop.pid == wpid, "node-a's workload got no SIGTERM (no stop line)");
	sleep_ms(2000);
	ensure(count(EV_START, "node-b") == 0, "the backup started after a clean stop (should pause)");
	ensure(proc_alive(b), "node-b's manager exited");

	struct cmd c = run_cmd(BOUND_MS, "status", "--lock", T.lock, "--json", NULL);
	char *j = json_compact(c.out);
	ensure(c.code == 0 && json_is(j, "state", "\"paused\""), "status --json exited %d, want state paused: %s%s",
	       c.code, c.out, c.err);
	free(j);
	cmd_free(&c);

	start_node("primary", "node-a", NULL);
	wait_start("node-a", 2, BOUND_MS);
	wait_live("node-a", BOUND_MS);
	ensure(count(EV_START, "node-b") == 0, "the backup started");
	no_overlap();
}

Test(run, failover_on_shutdown)
{
	int a = start_node("primary", "node-a", "--failover-on-shutdown", NULL);
	wait_start("node-a", 1, BOUND_MS);
	wait_live("node-a", BOUND_MS);
	int b = start_node("backup", "node-b", NULL);
	wait_state("node-b", LF_SLOT_WAITING, BOUND_MS);
	int64_t t0 = th_now_ns();
	kill(T.procs[a].pid, SIGTERM);
	struct ev s = wait_start("node-b", 1, BOUND_MS);
	cr_log_info("--failover-on-shutdown: SIGTERM -> backup starts: %.1f ms", (double)(s.t - t0) / 1e6);
	ensure(wait_exit(a, BOUND_MS) && exit_code(a) == 0, "node-a's manager: exit %d, want 0",
	       T.procs[a].done ? exit_code(a) : -1);
	ensure(count(EV_STOP, "node-a") == 1, "node-a's workload was not stopped with SIGTERM");
	wait_live("node-b", BOUND_MS);
	ensure(proc_alive(b), "node-b's manager exited");
	no_overlap();
}

Test(run, restarts_exhausted_fails_over)
{
	int a = start_node("primary", "node-a", "--max-restarts", "2", "--", "--exit-after", "50", "--exit-code", "3",
			   NULL);
	wait_start("node-a", 1, BOUND_MS);
	int b = start_node("backup", "node-b", NULL);
	ensure(wait_exit(a, 3 * BOUND_MS), "node-a's manager did not give up");
	ensure(exit_code(a) == 69, "node-a's manager exited %d, want 69", exit_code(a));
	wait_start("node-b", 1, BOUND_MS);
	wait_live("node-b", BOUND_MS);
	int na = count(EV_START, "node-a"), ne = count(EV_EXIT, "node-a");
	cr_log_info("node-a ran its failing workload %d times before giving up", na);
	ensure(na == 3, "--max-restarts 2: node-a started its workload %d times, want 3 (1 + 2 restarts)", na);
	ensure(ne == na, "%d exits for %d starts", ne, na);
	ensure(proc_alive(b), "node-b's manager exited");
	no_overlap();
}

Test(run, stop_escalates_to_sigkill)
{
	int a = start_node("primary", "node-a", "--stop-timeout", "500ms", "--", "--ignore-term", NULL);
	struct ev s = wait_start("node-a", 1, BOUND_MS);
	wait_live("node-a", BOUND_MS);
	int64_t t0 = th_now_ns();
	kill(T.procs[a].pid, SIGTERM);
	ensure(wait_exit(a, BOUND_MS), "node-a's manager did not exit");
	double ms = ms_since(t0);
	cr_log_info("stop with a workload that ignores SIGTERM (--stop-timeout 500ms): %.1f ms", ms);
	ensure(exit_code(a) == 0, "node-a's manager exited %d, want 0", exit_code(a));
	ensure(!pid_alive((pid_t)s.pid), "the workload survived");
	ensure(count(EV_STOP, "node-a") == 0, "the workload logged a stop although it ignores SIGTERM");
	ensure(ms >= 400 && ms < 3000, "stop took %.1f ms; want about 500 ms (SIGKILL after --stop-timeout)", ms);
	no_overlap();
}

/* --- the whole process tree ---------------------------------------------------- */

Test(run, whole_tree_holds_the_lock)
{
	int a = start_node("primary", "node-a", "--", "--spawn-child", NULL);
	wait_start("node-a", 1, BOUND_MS);
	struct want w = { .kind = EV_CHILD, .name = "node-a", .n = 1 };
	ensure(wait_for(p_count, &w, BOUND_MS), "the witness grandchild did not start");
	pid_t gc = (pid_t)nth(EV_CHILD, "node-a", 0).pid;
	wait_live("node-a", BOUND_MS);
	int b = start_node("backup", "node-b", NULL);
	wait_state("node-b", LF_SLOT_WAITING, BOUND_MS);

	kill(T.procs[a].pid, SIGKILL);
	sleep_ms(1500);
	ensure(count(EV_START, "node-b") == 0,
	       "the backup started while the old workload's grandchild (pid %ld) still ran", (long)gc);
	ensure(pid_alive(gc), "the grandchild died with the manager: nothing left to test");
	ensure(th_is_locked(T.lock, LF_OFF_LIVE_LOCK) == 1, "the live lock is free although the grandchild holds it");

	int64_t t0 = th_now_ns();
	kill(gc, SIGKILL);
	struct ev s = wait_start("node-b", 1, BOUND_MS);
	cr_log_info("failover once the last process of the tree died: %.1f ms", (double)(s.t - t0) / 1e6);
	reap_all();
	ensure(kill(gc, 0) < 0, "grandchild %ld is still there", (long)gc);
	ensure(proc_alive(b), "node-b's manager exited");
	no_overlap();
}

Test(run, whole_tree_stopped_on_shutdown)
{
	int a = start_node("primary", "node-a", "--failover-on-shutdown", "--", "--spawn-child", NULL);
	wait_start("node-a", 1, BOUND_MS);
	struct want w = { .kind = EV_CHILD, .name = "node-a", .n = 1 };
	ensure(wait_for(p_count, &w, BOUND_MS), "the witness grandchild did not start");
	pid_t gc = (pid_t)nth(EV_CHILD, "node-a", 0).pid;
	wait_live("node-a", BOUND_MS);
	int b = start_node("backup", "node-b", NULL);
	wait_state("node-b", LF_SLOT_WAITING, BOUND_MS);
	kill(T.procs[a].pid, SIGTERM);
	ensure(wait_exit(a, BOUND_MS) && exit_code(a) == 0, "node-a's manager did not exit 0");
	ensure(!pid_alive(gc), "the grandchild %ld outlived its manager's clean stop", (long)gc);
	wait_start("node-b", 1, BOUND_MS);
	ensure(proc_alive(b), "node-b's manager exited");
	no_overlap();
}

/* --- failback and switchover ----------------------------------------------------- */

/* A live, B waiting; A's manager SIGKILLed; B live. */
static void fail_over_to_b(int *a, int *b)
{
	primary_and_backup(a, b);
	kill(T.procs[*a].pid, SIGKILL);
	wait_start("node-b", 1, BOUND_MS);
	wait_live("node-b", BOUND_MS);
}

Test(run, automatic_failback)
{
	int a, b;
	fail_over_to_b(&a, &b);
	int64_t t0 = th_now_ns();
	int a2 = start_node("primary", "node-a", "--allow-failback", NULL);
	struct ev s = wait_start("node-a", 2, BOUND_MS);
	cr_log_info("automatic failback: primary restarted -> its workload starts: %.1f ms", (double)(s.t - t0) / 1e6);
	wait_live("node-a", BOUND_MS);
	struct ev stop = last(EV_STOP, "node-b");
	ensure(stop.pid == nth(EV_START, "node-b", 0).pid, "node-b's workload was not stopped with SIGTERM");
	ensure(stop.t <= s.t, "node-b's workload stopped after node-a's started");
	wait_state("node-b", LF_SLOT_WAITING, BOUND_MS);
	ensure(proc_alive(b) && proc_alive(a2), "a manager exited");
	ensure(count(EV_START, "node-b") == 1, "node-b started again");
	no_overlap();
}

Test(run, commanded_failback)
{
	int a, b;
	fail_over_to_b(&a, &b);
	int a2 = start_node("primary", "node-a", NULL);
	wait_state("node-a", LF_SLOT_WAITING, BOUND_MS);
	sleep_ms(500);
	ensure(count(EV_START, "node-a") == 1, "the primary took over without --allow-failback");
	ensure(is_live("node-b"), "node-b is no longer live");

	struct cmd c = run_cmd(15000, "failback", "--lock", T.lock, "--wait", "--timeout", "10s", NULL);
	cr_log_info("failback --wait took %.1f ms", c.ms);
	ensure(c.code == 0, "failback --wait exited %d: %s%s", c.code, c.out, c.err);
	cmd_free(&c);
	wait_start("node-a", 2, BOUND_MS);
	wait_live("node-a", BOUND_MS);
	ensure(count(EV_STOP, "node-b") == 1, "node-b's workload was not stopped with SIGTERM");
	wait_state("node-b", LF_SLOT_WAITING, BOUND_MS);
	ensure(proc_alive(b) && proc_alive(a2), "a manager exited");
	no_overlap();
}

Test(run, switchover)
{
	int a, b;
	primary_and_backup(&a, &b);
	struct cmd c = run_cmd(15000, "switchover", "--lock", T.lock, "--wait", "--timeout", "10s", NULL);
	cr_log_info("switchover --wait took %.1f ms", c.ms);
	ensure(c.code == 0, "switchover --wait exited %d: %s%s", c.code, c.out, c.err);
	cmd_free(&c);
	wait_start("node-b", 1, BOUND_MS);
	wait_live("node-b", BOUND_MS);
	ensure(count(EV_STOP, "node-a") == 1, "node-a's workload was not stopped with SIGTERM");
	ensure(proc_alive(a), "node-a's manager exited; it should stay as a backup");
	wait_state("node-a", LF_SLOT_WAITING, BOUND_MS);
	ensure(proc_alive(b), "node-b's manager exited");
	no_overlap();
}

Test(run, switchover_to_unknown_node)
{
	int a, b;
	primary_and_backup(&a, &b);
	struct cmd c =
		run_cmd(15000, "switchover", "--lock", T.lock, "--to", "NOSUCH", "--wait", "--timeout", "10s", NULL);
	ensure(c.code == 69, "switchover --to NOSUCH exited %d, want 69: %s%s", c.code, c.out, c.err);
	cmd_free(&c);
	sleep_ms(500);
	ensure(is_live("node-a"), "node-a is no longer live");
	ensure(count(EV_START, NULL) == 1 && count(EV_STOP, NULL) == 0, "the workload was stopped or moved");
	ensure(proc_alive(a) && proc_alive(b), "a manager exited");
	no_overlap();
}

Test(run, switchover_without_backup)
{
	int a = start_node("primary", "node-a", NULL);
	wait_start("node-a", 1, BOUND_MS);
	wait_live("node-a", BOUND_MS);
	struct cmd c = run_cmd(15000, "switchover", "--lock", T.lock, "--wait", "--timeout", "10s", NULL);
	ensure(c.code == 69, "switchover with no backup exited %d, want 69: %s%s", c.code, c.out, c.err);
	cmd_free(&c);
	sleep_ms(500);
	ensure(is_live("node-a"), "node-a is no longer live");
	ensure(count(EV_START, NULL) == 1 && count(EV_STOP, NULL) == 0, "the workload was stopped");
	ensure(proc_alive(a), "node-a's manager exited");
	no_overlap();
}

/* node-a asks node-b (live) for failback and is SIGKILLed with its request
 * in the file: node-b or node-c (waiting) runs the workload and stays
 * live, and the stale request is cleared. during_handover: node-b's
 * workload ignores SIGTERM, so node-a dies while node-b is stopping it;
 * otherwise node-b checks only every second and node-a dies before node-b
 * even saw the request. */
static void failback_requester_dies(bool during_handover)
{
	int a = start_node("primary", "node-a", NULL);
	wait_start("node-a", 1, BOUND_MS);
	wait_live("node-a", BOUND_MS);
	int b = during_handover
			? start_node("backup", "node-b", "--stop-timeout", "1500ms", "--", "--ignore-term", NULL)
			: start_node("backup", "node-b", "--check-interval", "1s", NULL);
	wait_state("node-b", LF_SLOT_WAITING, BOUND_MS);
	int c = start_node("backup", "node-c", NULL);
	wait_state("node-c", LF_SLOT_QUEUED, BOUND_MS);
	kill(T.procs[a].pid, SIGKILL);
	wait_start("node-b", 1, BOUND_MS);
	wait_live("node-b", BOUND_MS);
	wait_state("node-c", LF_SLOT_WAITING, BOUND_MS);

	int a2 = start_node("primary", "node-a", "--allow-failback", NULL);
	struct want f = { .status = LF_FAILBACK };
	ensure(wait_for(p_status, &f, BOUND_MS), "node-a (--allow-failback) never asked for failback (status %c)",
	       status_byte());
	if (during_handover)
		wait_state("node-b", LF_SLOT_STOPPING, BOUND_MS);
	kill(T.procs[a2].pid, SIGKILL);
	int64_t t0 = th_now_ns();
	ensure(during_handover || node_state("node-b") == LF_SLOT_LIVE,
	       "node-b already began the hand-over: the test did not test what it says");
	ensure(count(EV_START, "node-a") == 1, "node-a took over before it was killed: the test did not test "
					       "what it says");

	/* Watch for 3 s: the longest stretch without a running workload. */
	int64_t gap = 0, since = -1;
	while (ms_since(t0) < 3000) {
		bool running = witnesses_alive(NULL) > 0;
		int64_t now = th_now_ns();
		if (!running && since < 0)
			since = now;
		if (running && since >= 0) {
			gap = now - since > gap ? now - since : gap;
			since = -1;
		}
		sleep_ms(10);
	}
	if (since >= 0)
		gap = th_now_ns() - since > gap ? th_now_ns() - since : gap;
	cr_log_info("requester died%s: longest time without a running workload: %.1f ms",
		    during_handover ? " during the hand-over" : "", (double)gap / 1e6);
	ensure(gap < (int64_t)BOUND_MS * 1000000, "no workload ran for %.1f ms", (double)gap / 1e6);
	struct want l = { .status = LF_LIVE };
	ensure(wait_for(p_status, &l, BOUND_MS), "the stale failback request was never cleared (status %c)",
	       status_byte());

	const char *live = live_name();
	ensure(!strcmp(live, "node-b") || !strcmp(live, "node-c"), "live is \"%s\", want node-b or node-c", live);
	cr_log_info("%s is live after the requester died", live);
	int starts = count(EV_START, NULL);
	sleep_ms(1500);
	ensure(count(EV_START, NULL) == starts && !strcmp(live_name(), live), "%s did not stay live", live);
	ensure(witnesses_alive(NULL) == 1, "%d workloads run, want 1", witnesses_alive(NULL));
	ensure(proc_alive(b) && proc_alive(c), "a backup's manager exited");
	no_overlap();
}

Test(run, primary_dies_during_failback) { failback_requester_dies(false); }

Test(run, primary_dies_during_handover) { failback_requester_dies(true); }

/* --- robustness --------------------------------------------------------------- */

/* --- fencing ---------------------------------------------------------------- */

static bool wait_dead(pid_t pid, int timeout_ms)
{
	int64_t dl = th_now_ns() + (int64_t)timeout_ms * 1000000;
	while (pid_alive(pid)) {
		if (th_now_ns() > dl)
			return false;
		sleep_ms(5);
	}
	return true;
}

/* Storage that stops answering: another process holds the record lock, so
 * the live's heartbeat round blocks, as on a hung NFS server. The live must
 * kill its workload within the fence timeout, without waiting on storage. */
Test(run, hung_storage_fences_the_live)
{
	/* The on-fence hook records what it was told. */
	char *hook = th_path(T.dir, "on-fence.sh"), *marker = th_path(T.dir, "fence.marker");
	FILE *f = fopen(hook, "w");
	cr_assert_not_null(f);
	fprintf(f, "#!/bin/sh\necho \"$1 $UNDERSTUDY_EVENT $UNDERSTUDY_NODE\" > %s\n", marker);
	fclose(f);
	chmod(hook, 0755);
	int a = start_node("primary", "node-a", "--heartbeat-interval", "200ms", "--fence-timeout", "1s",
			   "--after-fence", "exit", "--on-fence", hook, NULL);
	long wpid = wait_start("node-a", 1, BOUND_MS).pid;
	wait_live("node-a", BOUND_MS);
	int b = start_node("backup", "node-b", NULL);
	wait_state("node-b", LF_SLOT_WAITING, BOUND_MS);
	int64_t t0 = th_now_ns();
	pid_t hang = th_hold_lock(T.lock, LF_OFF_RECORD_LOCK);
	add_proc(hang, "storage-hang"); /* killed by the fixture if a check fails first */
	ensure(wait_dead((pid_t)wpid, BOUND_MS), "the workload outlived its manager's hung storage");
	double ms = ms_since(t0);
	cr_log_info("fenced: the workload died %.0f ms after the storage hung (fence timeout 1000 ms)", ms);
	ensure(ms >= 700, "fenced after %.0f ms, before the fence timeout could pass", ms);
	ensure(wait_exit(a, BOUND_MS), "node-a's manager did not exit on hung storage");
	ensure(exit_code(a) == 74, "node-a exited %d, want 74 (EX_IOERR)", exit_code(a));
	for (int i = 0; i < 200 && access(marker, F_OK) < 0; i++)
		sleep_ms(10);
	char *said = th_read_text(marker);
	ensure(said && !strcmp(said, "fence fence node-a\n"), "the on-fence hook said \"%s\"",
	       said ? said : "(nothing)");
	free(said);
	free(hook);
	free(marker);
	ensure(count(EV_START, "node-b") == 0, "node-b started while the storage was hung");
	th_kill(hang); /* the storage answers again: the backup takes over */
	wait_start("node-b", 1, BOUND_MS);
	ensure(proc_alive(b), "node-b's manager exited");
	no_overlap();
}

/* A node asked to leave whose storage fails on the way out (it cannot
 * write P) exits 74; it does not rejoin as after a fence, which would
 * ignore the request. */
Test(run, a_node_stopped_while_its_storage_fails_exits)
{
	int a = start_node("primary", "node-a", "--heartbeat-interval", "200ms", "--fence-timeout", "1s", NULL);
	wait_start("node-a", 1, BOUND_MS);
	wait_live("node-a", BOUND_MS);
	pid_t hang = th_hold_lock(T.lock, LF_OFF_RECORD_LOCK);
	add_proc(hang, "storage-hang");
	kill(T.procs[a].pid, SIGTERM);
	ensure(wait_exit(a, BOUND_MS), "node-a's manager did not exit on SIGTERM with its storage hung");
	ensure(exit_code(a) == 74, "node-a exited %d, want 74 (EX_IOERR)", exit_code(a));
	th_kill(hang);
}

/* The manager's child that is still the understudy binary (no exec): its
 * storage process. 0 if none. */
static pid_t storage_process(pid_t manager)
{
	char path[96], comm[32];
	snprintf(path, sizeof path, "/proc/%ld/task/%ld/children", (long)manager, (long)manager);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	long c, found = 0;
	while (!found && fscanf(f, "%ld", &c) == 1) {
		snprintf(path, sizeof path, "/proc/%ld/comm", c);
		FILE *g = fopen(path, "r");
		if (g && fgets(comm, sizeof comm, g) && !strcmp(comm, "understudy\n"))
			found = c;
		if (g)
			fclose(g);
	}
	fclose(f);
	return (pid_t)found;
}

/* Every call on the lock file runs in a storage process, not in the
 * manager: a SIGKILL of the manager (or its exit, or a stop) then never
 * lands inside a call, which on FUSE would send the daemon an interrupt
 * that GlusterFS's client can deadlock on, leaving the manager unable to
 * finish exiting (issue 15). The manager ends at once; its storage process
 * finishes its call, then ends by itself. */
Test(run, a_killed_manager_leaves_its_storage_call_to_end_by_itself)
{
	int a = start_node("primary", "node-a", "--heartbeat-interval", "200ms", "--fence-timeout", "10s",
			   "--io-timeout", "60s", NULL);
	wait_start("node-a", 1, BOUND_MS);
	wait_live("node-a", BOUND_MS);
	pid_t sp = storage_process(T.procs[a].pid);
	ensure(sp > 0, "the manager %ld has no storage process", (long)T.procs[a].pid);
	pid_t hang = th_hold_lock(T.lock, LF_OFF_RECORD_LOCK);
	add_proc(hang, "storage-hang");
	sleep_ms(600); /* a heartbeat round now waits for the record lock */
	int64_t t0 = th_now_ns();
	kill(T.procs[a].pid, SIGKILL);
	ensure(wait_exit(a, BOUND_MS), "the manager did not end on SIGKILL");
	cr_log_info("the manager ended %.0f ms after SIGKILL, its storage call still waiting", ms_since(t0));
	sleep_ms(300);
	ensure(pid_alive(sp), "the storage process died with its manager, inside its call");
	th_kill(hang); /* the call returns */
	ensure(wait_dead(sp, BOUND_MS), "the storage process outlived its call and its manager");
}

/* The default after a fence: the node stays in the group. Once the storage
 * answers it joins again as a new node, and since another node is live by
 * then it waits; it never starts the workload again on its own. */
Test(run, a_fenced_node_rejoins_as_a_waiting_node)
{
	int a = start_node("primary", "node-a", "--heartbeat-interval", "200ms", "--fence-timeout", "1s", NULL);
	long wpid = wait_start("node-a", 1, BOUND_MS).pid;
	wait_live("node-a", BOUND_MS);
	start_node("backup", "node-b", NULL);
	wait_state("node-b", LF_SLOT_WAITING, BOUND_MS);
	pid_t hang = th_hold_lock(T.lock, LF_OFF_RECORD_LOCK);
	add_proc(hang, "storage-hang");
	ensure(wait_dead((pid_t)wpid, BOUND_MS), "the workload outlived the hung storage");
	sleep_ms(300);
	ensure(proc_alive(a), "node-a's manager left instead of rejoining (exit %d)", exit_code(a));
	th_kill(hang); /* the storage answers again */
	wait_start("node-b", 1, BOUND_MS);
	wait_live("node-b", BOUND_MS);
	wait_state("node-a", LF_SLOT_WAITING, BOUND_MS);
	sleep_ms(500);
	ensure(count(EV_START, "node-a") == 1, "node-a started its workload again after the fence");
	ensure(proc_alive(a), "node-a's manager is gone");
	no_overlap();
}

/* A backup with a takeover delay starts no sooner than the delay after the
 * live's crash: time for a live cut off from the storage to fence itself. */
Test(run, takeover_delay_holds_back_the_backup)
{
	int a = start_node("primary", "node-a", NULL);
	wait_start("node-a", 1, BOUND_MS);
	wait_live("node-a", BOUND_MS);
	start_node("backup", "node-b", "--takeover-delay", "1500ms", NULL);
	wait_state("node-b", LF_SLOT_WAITING, BOUND_MS);
	int64_t t0 = th_now_ns();
	kill(T.procs[a].pid, SIGKILL);
	struct ev s = wait_start("node-b", 1, BOUND_MS);
	double ms = (double)(s.t - t0) / 1e6;
	cr_log_info("failover with --takeover-delay 1500ms: backup started after %.0f ms", ms);
	ensure(ms >= 1500, "the backup started %.0f ms after the crash, inside its takeover delay", ms);
	no_overlap();
}

/* Write the live record over as the old live would if its lock had been
 * given away while it could still reach the file. */
static void advance_heartbeat(int ms, int every_ms)
{
	struct lockfile lf;
	cr_assert_eq(lockfile_open(&lf, T.lock, LF_OPEN_WRITE), 0);
	struct lf_view v;
	cr_assert_eq(lockfile_read(&lf, &v), 0);
	cr_assert_eq(v.live_rec, LF_REC_OK);
	struct lf_live live = v.live;
	for (int64_t end = th_now_ns() + (int64_t)ms * 1000000; th_now_ns() < end;) {
		live.heartbeat++;
		cr_assert_eq(lockfile_write_live(&lf, 0, &live), 0);
		sleep_ms(every_ms);
	}
	lockfile_close(&lf);
}

Test(run, takeover_refused_while_the_old_heartbeat_advances)
{
	int a = start_node("primary", "node-a", NULL);
	wait_start("node-a", 1, BOUND_MS);
	wait_live("node-a", BOUND_MS);
	int b = start_node("backup", "node-b", "--takeover-delay", "500ms", "--poll-interval", "100ms", NULL);
	wait_state("node-b", LF_SLOT_WAITING, BOUND_MS);
	kill(T.procs[a].pid, SIGKILL);
	advance_heartbeat(2500, 50); /* "node-a" still writes: it still runs */
	int64_t quiet = th_now_ns();
	ensure(count(EV_START, "node-b") == 0, "node-b started while the old live's heartbeat advanced");
	struct ev s = wait_start("node-b", 1, BOUND_MS);
	ensure(s.t >= quiet, "node-b started before the old heartbeat stood still");
	char *path = th_path(T.dir, "node-b.stderr"), *err = th_read_text(path);
	ensure(err && strstr(err, "heartbeat advanced"), "node-b did not say why it held back");
	free(err);
	free(path);
	(void)b;
	no_overlap();
}

/* Another node's record where ours should be: we are not live any more.
 * The live kills its workload and never writes over that record. */
Test(run, a_live_record_not_ours_fences_the_live)
{
	int a = start_node("primary", "node-a", "--after-fence", "exit", NULL);
	long wpid = wait_start("node-a", 1, BOUND_MS).pid;
	wait_live("node-a", BOUND_MS);
	struct lockfile lf;
	cr_assert_eq(lockfile_open(&lf, T.lock, LF_OPEN_WRITE), 0);
	struct lf_view v;
	cr_assert_eq(lockfile_read(&lf, &v), 0);
	struct lf_live other = v.live;
	other.epoch += 7;
	other.slot = 9;
	snprintf(other.name, sizeof(other.name), "intruder");
	cr_assert_eq(lockfile_write_live(&lf, 0, &other), 0);
	ensure(wait_dead((pid_t)wpid, BOUND_MS), "the workload runs on under another node's record");
	ensure(wait_exit(a, BOUND_MS), "node-a's manager did not leave");
	ensure(exit_code(a) == 74, "node-a exited %d, want 74", exit_code(a));
	cr_assert_eq(lockfile_read(&lf, &v), 0);
	ensure(v.live_rec == LF_REC_OK && v.live.epoch == other.epoch && !strcmp(v.live.name, "intruder"),
	       "node-a wrote over another node's live record");
	lockfile_close(&lf);
	no_overlap();
}

/* The systemd notify protocol against a real socket: READY=1 once the node
 * has a place in the group, and WATCHDOG=1 while live only for completed
 * heartbeat rounds, so systemd's watchdog backs the fence. */
struct notes {
	int fd;
	int ready, pets, stopping;
	int64_t pet_at[512];
	char status[8][160]; /* the STATUS= lines, the latest last */
	int nstatus;
};

/* Read what arrived, for ms (as systemd would: it never lets it pile up). */
static void notes_collect(struct notes *n, int ms)
{
	int64_t end = th_now_ns() + (int64_t)ms * 1000000;
	do {
		char buf[512];
		ssize_t r;
		while ((r = recv(n->fd, buf, sizeof(buf) - 1, MSG_DONTWAIT)) > 0) {
			buf[r] = '\0';
			for (char *save, *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
				if (!strcmp(line, "READY=1"))
					n->ready++;
				if (!strcmp(line, "WATCHDOG=1") && n->pets < 512)
					n->pet_at[n->pets++] = th_now_ns();
				if (!strcmp(line, "STOPPING=1"))
					n->stopping++;
				if (!strncmp(line, "STATUS=", 7)) {
					if (n->nstatus == 8)
						memmove(n->status, n->status[1], sizeof(n->status[0]) * 7),
							n->nstatus--;
					snprintf(n->status[n->nstatus++], sizeof(n->status[0]), "%s", line + 7);
				}
			}
		}
		sleep_ms(5);
	} while (th_now_ns() < end);
}

/* A datagram socket bound at DIR/name, as systemd's notify socket is;
 * returns its path. */
static char *notify_socket(struct notes *n, const char *name)
{
	char *sock = th_path(T.dir, name);
	n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	cr_assert_eq(bind(n->fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "bind %s: %s", sock, strerror(errno));
	return sock;
}

Test(run, watchdog_is_petted_only_while_rounds_complete)
{
	struct notes n = { 0 };
	char *sock = notify_socket(&n, "notify.sock");
	setenv("NOTIFY_SOCKET", sock, 1);
	setenv("WATCHDOG_USEC", "200000", 1);
	int a = start_node("primary", "node-a", "--heartbeat-interval", "200ms", "--fence-timeout", "1s",
			   "--after-fence", "exit", NULL);
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	long wpid = wait_start("node-a", 1, BOUND_MS).pid;
	wait_live("node-a", BOUND_MS);
	notes_collect(&n, 1000);
	ensure(n.ready == 1, "READY=1 sent %d times, want once", n.ready);
	int healthy = n.pets;
	cr_log_info("WATCHDOG=1 while healthy: %d in 1 s (every 100 ms when a new round completed)", healthy);
	ensure(healthy >= 3, "only %d pets in a healthy second", healthy);
	pid_t hang = th_hold_lock(T.lock, LF_OFF_RECORD_LOCK);
	add_proc(hang, "storage-hang");
	int64_t t_hang = th_now_ns();
	while (pid_alive((pid_t)wpid) && th_now_ns() - t_hang < (int64_t)BOUND_MS * 1000000)
		notes_collect(&n, 20);
	int64_t t_dead = th_now_ns();
	ensure(!pid_alive((pid_t)wpid), "the workload outlived the hung storage");
	int late = 0;
	/* A round already under way when the hold began may still complete:
	 * allow one round (200 ms) and a check (100 ms) after it. */
	for (int i = healthy; i < n.pets; i++)
		if (n.pet_at[i] > t_hang + 300 * 1000000LL && n.pet_at[i] < t_dead)
			late++;
	cr_log_info("storage hung: workload dead after %.0f ms; pets between then and 300 ms after the hang: %d",
		    (double)(t_dead - t_hang) / 1e6, late);
	ensure(late == 0, "%d pets while no round completed: the watchdog would never fire", late);
	ensure(wait_exit(a, BOUND_MS), "node-a did not exit");
	th_kill(hang);
	close(n.fd);
	free(sock);
}

/* STATUS= tells an operator what each node does and for whom it waits;
 * STOPPING=1 comes with the signal that ends the node. */
Test(run, notify_status_says_who_is_live)
{
	struct notes na = { 0 }, nb = { 0 };
	char *sa = notify_socket(&na, "a.sock"), *sb = notify_socket(&nb, "b.sock");
	setenv("NOTIFY_SOCKET", sa, 1);
	int a = start_node("primary", "node-a", NULL);
	setenv("NOTIFY_SOCKET", sb, 1);
	long wpid = wait_start("node-a", 1, BOUND_MS).pid;
	int b = start_node("backup", "node-b", NULL);
	unsetenv("NOTIFY_SOCKET");
	wait_state("node-b", LF_SLOT_WAITING, BOUND_MS);
	notes_collect(&na, 300);
	notes_collect(&nb, 300);
	char want[64];
	snprintf(want, sizeof(want), ", workload pid %ld", wpid);
	const char *la = na.nstatus ? na.status[na.nstatus - 1] : "", *lb = nb.nstatus ? nb.status[nb.nstatus - 1] : "";
	cr_log_info("node-a: STATUS=%s; node-b: STATUS=%s", la, lb);
	ensure(!strncmp(la, "live since ", 11) && strstr(la, want), "node-a's STATUS=%s", la);
	ensure(!strcmp(lb, "backup, waiting behind node-a"), "node-b's STATUS=%s", lb);
	ensure(na.ready == 1 && nb.ready == 1, "READY=1 %d and %d times, want once each", na.ready, nb.ready);
	ensure(na.stopping == 0, "STOPPING=1 before any signal");
	kill(T.procs[a].pid, SIGTERM);
	ensure(wait_exit(a, BOUND_MS), "node-a did not leave");
	notes_collect(&na, 50);
	ensure(na.stopping == 1, "STOPPING=1 sent %d times on SIGTERM, want once", na.stopping);
	kill(T.procs[b].pid, SIGTERM);
	ensure(wait_exit(b, BOUND_MS), "node-b did not leave");
	close(na.fd), close(nb.fd);
	free(sa), free(sb);
}

Test(run, frozen_live_is_not_replaced)
{
	int a, b;
	primary_and_backup(&a, &b);
	kill(T.procs[a].pid, SIGSTOP);
	sleep_ms(2000);
	ensure(count(EV_START, "node-b") == 0, "the backup took over from a frozen (SIGSTOPped) live manager");
	kill(T.procs[a].pid, SIGCONT);
	sleep_ms(500);
	ensure(is_live("node-a"), "node-a is not live after SIGCONT");
	ensure(count(EV_START, NULL) == 1, "%d starts, want 1", count(EV_START, NULL));
	ensure(proc_alive(a) && proc_alive(b), "a manager exited");
	no_overlap();
}

Test(run, signals_forwarded)
{
	int a = start_node("primary", "node-a", NULL);
	wait_start("node-a", 1, BOUND_MS);
	wait_live("node-a", BOUND_MS);
	struct want w = { .kind = EV_SIGNAL, .name = "node-a", .n = 1 };
	kill(T.procs[a].pid, SIGHUP);
	ensure(wait_for(p_count, &w, BOUND_MS), "SIGHUP was not forwarded to the workload");
	ensure(!strcmp(last(EV_SIGNAL, "node-a").extra, "HUP"), "the workload got %s, not HUP",
	       last(EV_SIGNAL, "node-a").extra);
	w.n = 2;
	kill(T.procs[a].pid, SIGUSR1);
	ensure(wait_for(p_count, &w, BOUND_MS), "SIGUSR1 was not forwarded to the workload");
	ensure(!strcmp(last(EV_SIGNAL, "node-a").extra, "USR1"), "the workload got %s, not USR1",
	       last(EV_SIGNAL, "node-a").extra);
	sleep_ms(200);
	ensure(proc_alive(a), "the manager exited on a forwarded signal");
	ensure(count(EV_START, NULL) == 1 && count(EV_STOP, NULL) == 0, "the workload was restarted");
	no_overlap();
}

/* --- bad input ----------------------------------------------------------------- */

Test(run, run_without_lock_is_usage_error)
{
	struct cmd c = run_cmd(BOUND_MS, "run", "--role", "primary", "--name", "node-a", "--", T.witness, T.log,
			       T.wlock, NULL);
	ensure(c.code == 64, "run without --lock exited %d, want 64: %s", c.code, c.err);
	ensure(strstr(c.err, "--lock"), "the message does not name --lock: %s", c.err);
	ensure(count(EV_START, NULL) == 0, "a workload ran");
	cmd_free(&c);
}

Test(run, unknown_option_is_usage_error)
{
	struct cmd c = run_cmd(BOUND_MS, "run", "--lock", T.lock, "--role", "primary", "--name", "node-a",
			       "--no-such-option", "--", T.witness, T.log, T.wlock, NULL);
	ensure(c.code == 64, "run --no-such-option exited %d, want 64: %s", c.code, c.err);
	ensure(count(EV_START, NULL) == 0, "a workload ran");
	cmd_free(&c);
	c = run_cmd(BOUND_MS, "status", "--lock", T.lock, "--no-such-option", NULL);
	ensure(c.code == 64, "status --no-such-option exited %d, want 64: %s", c.code, c.err);
	cmd_free(&c);
	c = run_cmd(BOUND_MS, "run", "--lock", T.lock, "--role", "leader", "--name", "node-a", "--", T.witness, T.log,
		    T.wlock, NULL);
	ensure(c.code == 64, "run --role leader exited %d, want 64: %s", c.code, c.err);
	cmd_free(&c);
}

Test(run, status_of_missing_file)
{
	char *p = th_path(T.dir, "nosuch.lock");
	struct cmd c = run_cmd(BOUND_MS, "status", "--lock", p, NULL);
	ensure(c.code == 66, "status on a missing file exited %d, want 66: %s", c.code, c.err);
	ensure(strstr(c.err, p), "the message does not name %s: %s", p, c.err);
	ensure(access(p, F_OK) < 0, "status created the file");
	cmd_free(&c);
	free(p);
}

static void write_garbage(const char *path, size_t n)
{
	uint8_t *b = malloc(n);
	cr_assert(b);
	uint32_t x = 0x12345678u;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13, x ^= x >> 17, x ^= x << 5;
		b[i] = (uint8_t)x;
	}
	th_write_file(path, b, n);
	free(b);
}

static void assert_unchanged(const char *path, const uint8_t *before, size_t len)
{
	uint8_t *after;
	size_t alen;
	ensure(th_read_file(path, &after, &alen) == 0, "%s is gone", path);
	ensure(alen == len && !memcmp(before, after, len), "%s was changed", path);
	free(after);
}

Test(run, foreign_file_is_refused_and_left_alone)
{
	write_garbage(T.lock, LF_SIZE);
	uint8_t *before;
	size_t len;
	cr_assert(th_read_file(T.lock, &before, &len) == 0);

	struct cmd c = run_cmd(BOUND_MS, "status", "--lock", T.lock, NULL);
	ensure(c.code == 65, "status on random bytes exited %d, want 65: %s", c.code, c.err);
	cmd_free(&c);
	assert_unchanged(T.lock, before, len);

	c = run_cmd(BOUND_MS, "run", "--lock", T.lock, "--role", "primary", "--name", "node-a", "--", T.witness, T.log,
		    T.wlock, NULL);
	ensure(c.code == 65, "run on random bytes exited %d, want 65: %s", c.code, c.err);
	ensure(count(EV_START, NULL) == 0, "a workload ran on a foreign lock file");
	cmd_free(&c);
	assert_unchanged(T.lock, before, len);
	free(before);

	/* Short and not empty: refused too. */
	th_write_file(T.lock, "hello\n", 6);
	c = run_cmd(BOUND_MS, "status", "--lock", T.lock, NULL);
	ensure(c.code == 65, "status on a 6-byte file exited %d, want 65: %s", c.code, c.err);
	cmd_free(&c);
	assert_unchanged(T.lock, (const uint8_t *)"hello\n", 6);
}

Test(run, missing_workload_gives_up_at_once)
{
	struct cmd c = run_cmd(3 * BOUND_MS, "run", "--lock", T.lock, "--role", "primary", "--name", "node-a", "--",
			       "/nonexistent/bin", NULL);
	cr_log_info("run with a missing workload exited %d after %.1f ms", c.code, c.ms);
	ensure(c.code == 69, "run with a missing workload exited %d, want 69: %s", c.code, c.err);
	ensure(strstr(c.err, "/nonexistent/bin"), "the message does not name the workload: %s", c.err);
	/* A restart loop would back off 100+200+400+800+1600 ms before giving up. */
	ensure(c.ms < 2500, "took %.1f ms: looks like a restart loop", c.ms);
	cmd_free(&c);
}

/* --- configuration files and hooks ------------------------------------------ */

/* Write DIR/name with the text and mode; returns the path (malloc'd). */
static char *write_file(const char *name, mode_t mode, const char *text)
{
	char *path = th_path(T.dir, name);
	th_write_file(path, text, strlen(text));
	cr_assert_eq(chmod(path, mode), 0);
	return path;
}

/* A hook that appends "EVENT NODE STATE LIVE_NODE WORKLOAD_PID" to
 * DIR/hooks.log, one write per line. */
static char *hook_script(void)
{
	char *text = NULL;
	cr_assert(asprintf(&text,
			   "#!/bin/sh\n"
			   "echo \"$1 $UNDERSTUDY_EVENT $UNDERSTUDY_NODE $UNDERSTUDY_STATE live=$UNDERSTUDY_LIVE_NODE "
			   "pid=$UNDERSTUDY_WORKLOAD_PID\" >> %s/hooks.log\n",
			   T.dir) > 0);
	char *path = write_file("hook.sh", 0755, text);
	free(text);
	return path;
}

/* How many lines of DIR/hooks.log start with "EVENT EVENT NODE ". */
static int hook_count(const char *event, const char *node)
{
	char *path = th_path(T.dir, "hooks.log"), *text = th_read_text(path), *pfx = NULL;
	cr_assert(asprintf(&pfx, "%s %s %s ", event, event, node) > 0);
	int n = 0;
	for (char *save, *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		n += !strncmp(line, pfx, strlen(pfx));
	free(path), free(text), free(pfx);
	return n;
}

struct hook_want {
	const char *event, *node;
	int n;
};

static bool p_hook(const void *a)
{
	const struct hook_want *w = a;
	return hook_count(w->event, w->node) >= w->n;
}

static void wait_hook(const char *event, const char *node, int n)
{
	struct hook_want w = { event, node, n };
	ensure(wait_for(p_hook, &w, BOUND_MS), "on-%s of %s ran %d times, want %d", event, node,
	       hook_count(event, node), n);
}

/* A node from a file alone: lock, role, name, command, environment,
 * working directory and timing all come from it. */
Test(run, a_configuration_file_alone_runs_a_node)
{
	char *text = NULL;
	cr_assert(asprintf(&text,
			   "# the group\n[group]\nlock = %s\n\n[node]\nname = node-a\nrole = primary\n"
			   "[workload]\ncommand = %s %s %s\nenvironment = APP_MODE=ha\n"
			   "environment = APP_NOTE=two words\nworking-directory = %s\n"
			   "[fencing]\ncheck-interval = 100ms\n",
			   T.lock, T.witness, T.log, T.wlock, T.dir) > 0);
	char *conf = write_file("app.conf", 0640, text);
	char *argv[] = { (char *)T.bin, "run", "--config", conf, NULL };
	int a = spawn_manager("node-a", argv);
	long wpid = wait_start("node-a", 1, BOUND_MS).pid;
	wait_live("node-a", BOUND_MS);
	char path[64], cwd[PATH_MAX] = "";
	snprintf(path, sizeof(path), "/proc/%ld/cwd", wpid);
	ssize_t n = readlink(path, cwd, sizeof(cwd) - 1);
	cr_assert(n > 0);
	cwd[n] = '\0';
	ensure(!strcmp(cwd, T.dir), "the workload runs in %s, want %s", cwd, T.dir);
	snprintf(path, sizeof(path), "/proc/%ld/environ", wpid);
	uint8_t *env;
	size_t len;
	cr_assert_eq(th_read_file(path, &env, &len), 0);
	bool mode = false, note = false;
	for (size_t i = 0; i < len; i += strlen((char *)env + i) + 1) {
		mode = mode || !strcmp((char *)env + i, "APP_MODE=ha");
		note = note || !strcmp((char *)env + i, "APP_NOTE=two words");
	}
	ensure(mode && note, "the workload's environment lacks APP_MODE=ha or APP_NOTE");
	free(env);
	/* The other commands find the group through the same file. */
	struct cmd st = run_cmd(BOUND_MS, "status", "--config", conf, "--json", NULL);
	ensure(st.code == 0 && strstr(st.out, "\"name\":\"node-a\""), "status --config: %d %s%s", st.code, st.out,
	       st.err);
	cmd_free(&st);
	kill(T.procs[a].pid, SIGTERM);
	ensure(wait_exit(a, BOUND_MS) && exit_code(a) == 0, "node-a did not leave cleanly");
	free(text), free(conf);
}

/* --check reads everything and starts nothing: no lock file appears, no
 * workload runs, and what the node would run with is printed. */
Test(run, check_validates_without_starting)
{
	char *text = NULL;
	cr_assert(asprintf(&text,
			   "[group]\nlock = %s\n[node]\nrole = backup\nname = node-b\n"
			   "[workload]\ncommand = %s %s %s\nstop-timeout = 2m\n",
			   T.lock, T.witness, T.log, T.wlock) > 0);
	char *conf = write_file("app.conf", 0600, text);
	struct cmd c = run_cmd(BOUND_MS, "run", "--config", conf, "--check", "--stop-timeout", "3s", NULL);
	ensure(c.code == 0, "--check exited %d: %s", c.code, c.err);
	ensure(strstr(c.out, "node.role = backup\n") && strstr(c.out, "workload.stop-timeout = 3s\n"),
	       "--check printed:\n%s", c.out);
	ensure(access(T.lock, F_OK) < 0 && errno == ENOENT, "--check created the lock file");
	ensure(count(EV_START, NULL) == 0, "--check started the workload");
	cmd_free(&c);
	free(text), free(conf);
}

/* A bad file: the message names file, line, section and key, exit 78,
 * and nothing else happens; the same mistake on the command line is 64. */
Test(run, a_bad_configuration_is_refused_with_its_line)
{
	static const struct {
		const char *text, *want;
	} bad[] = {
		{ "[node]\nrole = primary\nrolee = backup\n", ":3: [node] rolee: unknown key" },
		{ "[nodes]\nrole = primary\n", ":1: [nodes]: unknown section" },
		{ "[node]\nrole = primary\n[fencing]\nfence-timeout = 10 s\n",
		  ":4: [fencing] fence-timeout: '10 s' is not a duration" },
		{ "[node]\nrole = leader\n", ":2: [node] role: 'leader' is neither primary nor backup" },
		{ "[node]\nrole = primary\nrole = backup\n", ":3: [node] role: given twice (first on line 4)" },
		{ "[node]\nrole primary\n", ":2: neither [section] nor key = value" },
		{ "[node]\nrole = backup\nallow-failback = yes\n", ":3: [node] allow-failback is for the primary" },
		{ "[workload]\ncommand = /bin/true 'x\n", ":2: [workload] command: unterminated ' quote" },
		{ "[hooks]\non-live = hooks/up\n", ":2: [hooks] on-live: 'hooks/up' is not an absolute path" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *text = NULL;
		cr_assert(asprintf(&text, "[group]\nlock = %s\n%s", T.lock, bad[i].text) > 0);
		char *conf = write_file("bad.conf", 0644, text);
		struct cmd c = run_cmd(BOUND_MS, "run", "--config", conf, "--", T.witness, T.log, T.wlock, NULL);
		char *want = NULL;
		/* The cases count lines from their own text; two lines of [group]
		 * come first (a "first on line" above counts them already). */
		int line = atoi(strchr(bad[i].want, ':') + 1) + 2;
		cr_assert(asprintf(&want, "%s:%d%s", conf, line, strchr(bad[i].want + 1, ':')) > 0);
		ensure(c.code == 78, "case %zu: exit %d, want 78: %s", i, c.code, c.err);
		ensure(strstr(c.err, want), "case %zu: the message\n  %s\nlacks\n  %s", i, c.err, want);
		ensure(access(T.lock, F_OK) < 0, "case %zu: the lock file was created", i);
		cmd_free(&c);
		free(text), free(conf), free(want);
	}
	struct cmd c = run_cmd(BOUND_MS, "run", "--lock", T.lock, "--role", "leader", "--", T.witness, NULL);
	ensure(c.code == 64 && strstr(c.err, "--role: 'leader' is neither primary nor backup"), "exit %d: %s", c.code,
	       c.err);
	cmd_free(&c);
	/* Anyone could make root run anything through this file. */
	char *conf = write_file("open.conf", 0666, "[node]\nrole = primary\n");
	c = run_cmd(BOUND_MS, "run", "--config", conf, "--check", NULL);
	ensure(c.code == 78 && strstr(c.err, "writable by every user"), "exit %d: %s", c.code, c.err);
	cmd_free(&c);
	free(conf);
}

/* Every hook at its transition, with the transition in its environment:
 * live and backup at start, stop + failback + backup on the backup that
 * hands back, live + failback on the primary that takes over again. */
Test(run, hooks_follow_the_transitions)
{
	char *hook = hook_script();
	const char *const hooks[] = {
		"--on-live", hook, "--on-backup", hook, "--on-stop", hook, "--on-failback", hook
	};
#define HOOKS hooks[0], hooks[1], hooks[2], hooks[3], hooks[4], hooks[5], hooks[6], hooks[7]
	int a = start_node("primary", "node-a", "--allow-failback", HOOKS, NULL);
	wait_live("node-a", BOUND_MS);
	int b = start_node("backup", "node-b", HOOKS, NULL);
	wait_hook("live", "node-a", 1);
	wait_hook("backup", "node-b", 1);
	kill(T.procs[a].pid, SIGKILL);
	wait_live("node-b", BOUND_MS);
	wait_hook("live", "node-b", 1);
	ensure(hook_count("stop", "node-a") == 0, "on-stop ran for a node that was SIGKILLed");
	a = start_node("primary", "node-a", "--allow-failback", HOOKS, NULL);
	wait_start("node-a", 2, BOUND_MS);
	wait_hook("stop", "node-b", 1);
	wait_hook("failback", "node-b", 1);
	wait_hook("backup", "node-b", 2);
	wait_hook("live", "node-a", 2);
	wait_hook("failback", "node-a", 1);
#undef HOOKS
	char *path = th_path(T.dir, "hooks.log"), *log = th_read_text(path);
	cr_log_info("hooks:\n%s", log);
	/* The primary's on-live names its own workload. */
	long wpid = last(EV_START, "node-a").pid;
	char want[64];
	snprintf(want, sizeof(want), "live live node-a live live=node-a pid=%ld", wpid);
	ensure(strstr(log, want), "no line '%s' in the hook log", want);
	ensure(hook_count("fence", "node-a") + hook_count("fence", "node-b") == 0, "on-fence ran without a fence");
	kill(T.procs[a].pid, SIGTERM);
	wait_hook("stop", "node-a", 1);
	ensure(wait_exit(a, BOUND_MS), "node-a did not leave");
	kill(T.procs[b].pid, SIGTERM);
	ensure(wait_exit(b, BOUND_MS), "node-b did not leave");
	no_overlap();
	free(hook), free(path), free(log);
}

/* A hook that fails is logged; one that hangs is killed at its timeout;
 * neither holds up the node. */
Test(run, a_failing_or_hanging_hook_never_blocks)
{
	char *fails = write_file("fails.sh", 0755, "#!/bin/sh\nexit 3\n");
	char *hangs = write_file("hangs.sh", 0755, "#!/bin/sh\nexec sleep 100\n");
	int64_t t0 = th_now_ns();
	int a = start_node("primary", "node-a", "--on-live", hangs, "--on-backup", fails, "--hook-timeout", "300ms",
			   NULL);
	struct ev st = wait_start("node-a", 1, BOUND_MS);
	double start_ms = (double)(st.t - t0) / 1e6;
	int b = start_node("backup", "node-b", "--on-backup", fails, NULL);
	char *err_a = th_path(T.dir, "node-a.stderr"), *err_b = th_path(T.dir, "node-b.stderr");
	int64_t dl = th_now_ns() + (int64_t)BOUND_MS * 1000000;
	char *ta = NULL, *tb = NULL;
	for (;;) {
		free(ta), free(tb);
		ta = th_read_text(err_a), tb = th_read_text(err_b);
		if ((strstr(ta, "did not finish within 300 ms") && strstr(tb, "failed: exit status 3")) ||
		    th_now_ns() > dl)
			break;
		sleep_ms(20);
	}
	ensure(strstr(ta, "on-live hook") && strstr(ta, "did not finish within 300 ms: killing it"),
	       "the hanging hook was not killed:\n%s", ta);
	ensure(strstr(tb, "on-backup hook") && strstr(tb, "failed: exit status 3"), "the failure was not logged:\n%s",
	       tb);
	cr_log_info("the workload started %.0f ms after the manager, its on-live hook hanging", start_ms);
	kill(T.procs[a].pid, SIGKILL);
	wait_live("node-b", BOUND_MS);
	ensure(proc_alive(b), "node-b exited");
	no_overlap();
	free(fails), free(hangs), free(err_a), free(err_b), free(ta), free(tb);
}

/* --- watching and asking ------------------------------------------------------ */

static long proc_reads(pid_t pid)
{
	char path[64], *text;
	snprintf(path, sizeof(path), "/proc/%d/io", (int)pid);
	text = th_read_text(path);
	char *p = strstr(text, "syscr: ");
	long n = p ? atol(p + 7) : -1;
	free(text);
	return n;
}

/* status --watch: the group once, then one JSON object per change, at
 * one read of the file per interval. */
Test(run, status_watch_prints_each_change)
{
	int a, b;
	primary_and_backup(&a, &b);
	char *argv[] = { (char *)T.bin, "status", "--lock", T.lock, "--watch", "--json", "--interval", "100ms", NULL };
	int w = spawn_manager("watch", argv);
	/* The first look watches the heartbeat closely; the watch proper
	 * starts once it printed the group. */
	char *path = th_path(T.dir, "watch.stdout");
	struct stat st = { 0 };
	for (int i = 0; i < BOUND_MS / 10 && (stat(path, &st) < 0 || st.st_size == 0); i++)
		sleep_ms(10);
	ensure(st.st_size > 0, "status --watch printed nothing");
	long r0 = proc_reads(T.procs[w].pid);
	int64_t t0 = th_now_ns();
	sleep_ms(2000);
	long r1 = proc_reads(T.procs[w].pid);
	double secs = ms_since(t0) / 1000;
	cr_log_info("status --watch --interval 100ms: %ld read calls in %.1f s", r1 - r0, secs);
	ensure(r0 >= 0 && r1 - r0 <= (long)(secs * 10) + 2, "%ld reads in %.1f s at one per 100 ms", r1 - r0, secs);
	kill(T.procs[a].pid, SIGKILL);
	wait_live("node-b", BOUND_MS);
	sleep_ms(400);
	kill(T.procs[w].pid, SIGTERM);
	wait_exit(w, BOUND_MS);
	char *out = th_read_text(path);
	cr_log_info("watch printed:\n%s", out);
	int lines = 0;
	bool first = false, live_b = false, leave_a = false;
	for (char *save, *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save), lines++) {
		ensure(line[0] == '{' && line[strlen(line) - 1] == '}', "not one JSON object per line: %s", line);
		first = first || (lines == 0 && strstr(line, "\"state\":\"live\""));
		live_b = live_b || (strstr(line, "\"event\":\"live\"") && strstr(line, "\"node\":\"node-b\""));
		leave_a = leave_a || (strstr(line, "\"event\":\"leave\"") && strstr(line, "\"node\":\"node-a\""));
	}
	ensure(first, "the first line is not the group's status");
	ensure(live_b && leave_a, "the failover was not reported (live node-b, leave node-a)");
	free(path), free(out);
}

/* is-live: 0, 1 or 2, and never a hang on a storage that does not answer. */
Test(run, is_live_answers_for_health_checks)
{
	struct cmd c = run_cmd(BOUND_MS, "is-live", "--lock", T.lock, "--name", "node-a", NULL);
	ensure(c.code == 2 && strstr(c.err, "group.lock"), "no lock file: exit %d, want 2: %s", c.code, c.err);
	cmd_free(&c);
	int a, b;
	primary_and_backup(&a, &b);
	c = run_cmd(BOUND_MS, "is-live", "--lock", T.lock, "--name", "node-a", NULL);
	ensure(c.code == 0 && strstr(c.out, "node-a is live"), "the live node: exit %d: %s%s", c.code, c.out, c.err);
	cmd_free(&c);
	c = run_cmd(BOUND_MS, "is-live", "--lock", T.lock, "--name", "node-b", "--quiet", NULL);
	ensure(c.code == 1 && !*c.out && !*c.err, "the backup: exit %d, want 1, quietly: %s%s", c.code, c.out, c.err);
	cmd_free(&c);
	/* A storage that hangs: the read waits on the record lock forever. */
	pid_t hang = th_hold_lock(T.lock, LF_OFF_RECORD_LOCK);
	add_proc(hang, "storage-hang");
	c = run_cmd(BOUND_MS, "is-live", "--lock", T.lock, "--name", "node-a", "--timeout", "300ms", NULL);
	cr_log_info("is-live on a hung storage: exit %d after %.0f ms", c.code, c.ms);
	ensure(c.code == 2 && strstr(c.err, "no answer from the storage within 300 ms"), "exit %d: %s", c.code, c.err);
	cmd_free(&c);
	th_kill(hang);
	kill(T.procs[a].pid, SIGKILL);
	wait_live("node-b", BOUND_MS);
	c = run_cmd(BOUND_MS, "is-live", "--lock", T.lock, "--name", "node-a", NULL);
	ensure(c.code == 1 && strstr(c.err, "node-b is the live node, not node-a"), "after the failover: exit %d: %s",
	       c.code, c.err);
	cmd_free(&c);
}

/* --- readiness ------------------------------------------------------------------- */

/* A node counts as live only once its workload is ready: until then its
 * slot says starting, is-live says no, systemd hears no READY=1 and the
 * on-live hook waits. Here READY=1 comes from a grandchild of the
 * workload, 600 ms after its exec. */
Test(run, notify_readiness_from_a_grandchild)
{
	struct notes n = { 0 };
	char *sock = notify_socket(&n, "a.sock"), *hook = hook_script();
	setenv("NOTIFY_SOCKET", sock, 1);
	int a = start_node("primary", "node-a", "--ready", "notify", "--on-live", hook, "--log-level", "debug", "--",
			   "--ready-notify", "--ready-after", "600", "--from-grandchild", NULL);
	unsetenv("NOTIFY_SOCKET");
	struct ev st = wait_start("node-a", 1, BOUND_MS);
	sleep_ms(200);
	notes_collect(&n, 50);
	int sf = node_state_flags("node-a");
	ensure(sf == (LF_SLOT_LIVE | LF_SLOT_F_STARTING << 8), "before ready the slot says 0x%x, want starting", sf);
	struct cmd c = run_cmd(BOUND_MS, "is-live", "--lock", T.lock, "--name", "node-a", NULL);
	ensure(c.code == 1 && strstr(c.err, "node-a is starting"), "is-live before ready: %d %s", c.code, c.err);
	cmd_free(&c);
	ensure(n.ready == 0, "READY=1 reached systemd before the workload was ready");
	ensure(hook_count("live", "node-a") == 0, "on-live ran before the workload was ready");
	int64_t dl = th_now_ns() + (int64_t)BOUND_MS * 1000000;
	while (node_state_flags("node-a") != LF_SLOT_LIVE && th_now_ns() < dl)
		sleep_ms(10);
	int64_t t_live = th_now_ns();
	ensure(node_state_flags("node-a") == LF_SLOT_LIVE, "never ready");
	struct ev rd = last(EV_READY, "node-a");
	cr_log_info("ready said %.0f ms after exec, seen in the slot %.0f ms after that", (double)(rd.t - st.t) / 1e6,
		    (double)(t_live - rd.t) / 1e6);
	ensure(rd.t - st.t >= 590 * 1000000LL, "ready after %.0f ms, want 600", (double)(rd.t - st.t) / 1e6);
	c = run_cmd(BOUND_MS, "is-live", "--lock", T.lock, "--name", "node-a", NULL);
	ensure(c.code == 0, "is-live once ready: %d %s", c.code, c.err);
	cmd_free(&c);
	wait_hook("live", "node-a", 1);
	notes_collect(&n, 100);
	ensure(n.ready == 1, "READY=1 sent %d times once ready, want 1", n.ready);
	const char *last_status = n.nstatus ? n.status[n.nstatus - 1] : "";
	ensure(strstr(last_status, "live since") && strstr(last_status, ": serving"),
	       "STATUS= does not pass the workload's own on: %s", last_status);
	kill(T.procs[a].pid, SIGTERM);
	ensure(wait_exit(a, BOUND_MS), "node-a did not leave");
	close(n.fd);
	free(sock), free(hook);
}

/* s6's convention: a newline on a descriptor the workload inherits. */
Test(run, fd_readiness)
{
	int a = start_node("primary", "node-a", "--ready", "fd:7", "--", "--ready-fd", "7", "--ready-after", "300",
			   NULL);
	struct ev st = wait_start("node-a", 1, BOUND_MS);
	ensure(node_state_flags("node-a") == (LF_SLOT_LIVE | LF_SLOT_F_STARTING << 8), "not starting first");
	int64_t dl = th_now_ns() + (int64_t)BOUND_MS * 1000000;
	while (node_state_flags("node-a") != LF_SLOT_LIVE && th_now_ns() < dl)
		sleep_ms(5);
	ensure(node_state_flags("node-a") == LF_SLOT_LIVE, "a newline on fd 7 did not make it ready");
	cr_log_info("fd readiness: ready %.0f ms after exec", (double)(th_now_ns() - st.t) / 1e6);
	ensure(proc_alive(a), "node-a exited");
}

/* A probe: a TCP connect to where the workload will listen, and a
 * command that succeeds once a file exists. */
Test(run, probe_readiness_tcp_and_command)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in in = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof in;
	cr_assert_eq(bind(s, (struct sockaddr *)&in, sizeof in), 0);
	cr_assert_eq(getsockname(s, (struct sockaddr *)&in, &len), 0);
	close(s); /* a port free a moment ago: the workload takes it */
	char port[16], ready[64];
	snprintf(port, sizeof port, "%d", ntohs(in.sin_port));
	snprintf(ready, sizeof ready, "tcp:127.0.0.1:%s", port);
	int a = start_node("primary", "node-a", "--ready", ready, "--ready-interval", "100ms", "--", "--ready-listen",
			   port, "--ready-after", "400", NULL);
	wait_start("node-a", 1, BOUND_MS);
	sleep_ms(200);
	ensure(node_state_flags("node-a") & (LF_SLOT_F_STARTING << 8), "ready before anything listened");
	int64_t dl = th_now_ns() + (int64_t)BOUND_MS * 1000000;
	while (node_state_flags("node-a") != LF_SLOT_LIVE && th_now_ns() < dl)
		sleep_ms(10);
	ensure(node_state_flags("node-a") == LF_SLOT_LIVE, "the TCP probe never found it ready");
	kill(T.procs[a].pid, SIGTERM);
	ensure(wait_exit(a, BOUND_MS), "node-a did not leave");

	char *flag = th_path(T.dir, "ready-flag"), *cmd = NULL;
	cr_assert(asprintf(&cmd, "command:/bin/sh -c 'test -e %s'", flag) > 0);
	a = start_node("primary", "node-a", "--ready", cmd, "--ready-interval", "100ms", NULL);
	wait_start("node-a", 2, BOUND_MS);
	sleep_ms(400);
	ensure(node_state_flags("node-a") & (LF_SLOT_F_STARTING << 8), "ready before the probe could succeed");
	th_write_file(flag, "", 0);
	dl = th_now_ns() + (int64_t)BOUND_MS * 1000000;
	while (node_state_flags("node-a") != LF_SLOT_LIVE && th_now_ns() < dl)
		sleep_ms(10);
	ensure(node_state_flags("node-a") == LF_SLOT_LIVE, "the command probe never found it ready");
	free(flag), free(cmd);
}

/* A workload that never becomes ready is a failed start: restarted, and
 * once the restarts are spent, the group fails over. It never hangs. */
Test(run, never_ready_fails_over)
{
	int64_t t0 = th_now_ns();
	int a = start_node("primary", "node-a", "--ready", "notify", "--ready-timeout", "400ms", "--max-restarts", "1",
			   NULL);
	wait_start("node-a", 1, BOUND_MS);
	int b = start_node("backup", "node-b", NULL);
	wait_start("node-b", 1, BOUND_MS * 2);
	double ms = ms_since(t0);
	ensure(count(EV_START, "node-a") == 2, "node-a started %d times, want 2 (one restart)",
	       count(EV_START, "node-a"));
	ensure(wait_exit(a, BOUND_MS) && exit_code(a) == 69, "node-a exited %d, want 69", exit_code(a));
	cr_log_info("never ready: node-b took over %.0f ms after node-a's first start", ms);
	ensure(proc_alive(b), "node-b exited");
	no_overlap();
}

/* A workload that asked for a watchdog (WATCHDOG=1) and stops petting it
 * has failed: stopped and restarted. */
Test(run, a_silent_workload_watchdog_restarts_it)
{
	int a = start_node("primary", "node-a", "--ready", "notify", "--watchdog-timeout", "300ms", "--",
			   "--ready-notify", "--watchdog-pets", "3", NULL);
	wait_start("node-a", 1, BOUND_MS);
	struct ev second = wait_start("node-a", 2, BOUND_MS);
	struct ev first = nth(EV_START, "node-a", 0);
	cr_log_info("restarted %.0f ms after the first start (3 pets every 150 ms, then 300 ms of silence)",
		    (double)(second.t - first.t) / 1e6);
	ensure(second.t - first.t >= 600 * 1000000LL, "restarted after %.0f ms: before the pets stopped",
	       (double)(second.t - first.t) / 1e6);
	char *err = th_path(T.dir, "node-a.stderr"), *text = th_read_text(err);
	ensure(strstr(text, "did not pet its watchdog within 300 ms"), "no watchdog message:\n%s", text);
	ensure(proc_alive(a), "node-a exited");
	free(err), free(text);
}

/* failback --wait returns when the primary's workload is ready, not at
 * its exec. */
Test(run, failback_wait_returns_when_ready)
{
	int a, b;
	primary_and_backup(&a, &b);
	kill(T.procs[a].pid, SIGKILL);
	wait_live("node-b", BOUND_MS);
	a = start_node("primary", "node-a", "--ready", "notify", "--", "--ready-notify", "--ready-after", "700", NULL);
	wait_state("node-a", LF_SLOT_WAITING, BOUND_MS);
	struct cmd c = run_cmd(BOUND_MS * 2, "failback", "--lock", T.lock, "--wait", NULL);
	ensure(c.code == 0, "failback --wait: %d %s", c.code, c.err);
	struct ev st = last(EV_START, "node-a"), rd = last(EV_READY, "node-a");
	ensure(st.pid && rd.pid == st.pid, "node-a's workload never said ready");
	ensure(node_state_flags("node-a") == LF_SLOT_LIVE, "failback --wait returned before node-a was ready");
	cr_log_info("failback --wait took %.0f ms; node-a's workload was ready %.0f ms after its exec", c.ms,
		    (double)(rd.t - st.t) / 1e6);
	cmd_free(&c);
	no_overlap();
}

/* --- the health endpoint (run --http) ---------------------------------------- */

/* A port nobody listens on now: the kernel's choice for port 0. */
static int free_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert(fd >= 0);
	cr_assert(bind(fd, (struct sockaddr *)&sa, len) == 0 && getsockname(fd, (struct sockaddr *)&sa, &len) == 0);
	close(fd);
	return ntohs(sa.sin_port);
}

static char *http_addr(int port)
{
	char *s = NULL;
	cr_assert(asprintf(&s, "127.0.0.1:%d", port) > 0);
	return s;
}

/* A connection to 127.0.0.1:port, with a receive timeout; -1 if refused. */
static int http_connect(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval tv = { .tv_sec = 10 };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static bool send_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w <= 0)
			return false;
		p += w, n -= (size_t)w;
	}
	return true;
}

struct reply {
	int code; /* the status code; -1: refused or closed without an answer */
	char *head, *body;
	double ms;
};

/* The reply on fd, read to the end (every request says Connection: close). */
static struct reply http_read(int fd, int64_t t0)
{
	struct reply r = { .code = -1 };
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);
	cr_assert(buf);
	for (;;) {
		if (len + 1024 > cap)
			cr_assert(buf = realloc(buf, cap *= 2));
		ssize_t n = recv(fd, buf + len, cap - len - 1, 0);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	close(fd);
	r.ms = ms_since(t0);
	char *end = strstr(buf, "\r\n\r\n");
	if (sscanf(buf, "HTTP/1.1 %d ", &r.code) != 1 || !end) {
		r.code = -1;
		free(buf);
		return r;
	}
	*end = '\0';
	r.head = buf;
	cr_assert(r.body = strdup(end + 4));
	return r;
}

/* Send a whole request as written (the test's own client, no library). */
static struct reply http_raw(int port, const char *request)
{
	int64_t t0 = th_now_ns();
	int fd = http_connect(port);
	if (fd < 0 || !send_all(fd, request, strlen(request))) {
		if (fd >= 0)
			close(fd);
		return (struct reply){ .code = -1, .ms = ms_since(t0) };
	}
	return http_read(fd, t0);
}

static struct reply http_req(int port, const char *method, const char *path)
{
	char req[256];
	snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", method, path);
	return http_raw(port, req);
}

static void reply_free(struct reply *r)
{
	free(r->head);
	free(r->body);
	r->head = r->body = NULL;
}

/* A header of the reply, case-insensitively; "" when missing. */
static const char *header(const struct reply *r, const char *name, char *out, size_t n)
{
	*out = '\0';
	for (const char *p = r->head ? strstr(r->head, "\r\n") : NULL; p; p = strstr(p + 2, "\r\n")) {
		size_t k = strlen(name);
		if (!strncasecmp(p + 2, name, k) && p[2 + k] == ':') {
			const char *v = p + 3 + k + strspn(p + 3 + k, " ");
			snprintf(out, n, "%.*s", (int)strcspn(v, "\r"), v);
			break;
		}
	}
	return out;
}

/* Wait until GET /health on port answers code; returns how long it took. */
static double wait_health(int port, int code, int timeout_ms)
{
	int64_t t0 = th_now_ns();
	int last = -1;
	while (ms_since(t0) < timeout_ms) {
		struct reply r = http_req(port, "GET", "/health");
		last = r.code;
		reply_free(&r);
		if (last == code)
			return ms_since(t0);
		sleep_ms(10);
	}
	ensure(0, "/health on port %d answered %d, not %d, for %d ms", port, last, code, timeout_ms);
	return -1;
}

/* Node-a primary, node-b backup, each with its own endpoint. */
static void http_pair(int *a, int *b, int *pa, int *pb)
{
	*pa = free_port(), *pb = free_port();
	char *aa = http_addr(*pa), *ab = http_addr(*pb);
	*a = start_node("primary", "node-a", "--http", aa, NULL);
	wait_start("node-a", 1, BOUND_MS);
	wait_live("node-a", BOUND_MS);
	*b = start_node("backup", "node-b", "--http", ab, NULL);
	wait_state("node-b", LF_SLOT_WAITING, BOUND_MS);
	free(aa), free(ab);
}

/* 200 on the live node only, 503 on the backup; a failover swaps them. */
Test(run, http_health_follows_the_live_node)
{
	int a, b, pa, pb;
	http_pair(&a, &b, &pa, &pb);
	wait_health(pa, 200, BOUND_MS);
	struct reply r = http_req(pa, "GET", "/health");
	char h[128];
	ensure(r.code == 200 && !strcmp(r.body, "live\n"), "live: %d %s", r.code, r.body);
	ensure(!strcmp(header(&r, "Content-Type", h, sizeof(h)), "text/plain"), "live: Content-Type %s", h);
	cr_log_info("GET /health on the live node: %.2f ms", r.ms);
	reply_free(&r);
	r = http_req(pb, "GET", "/health");
	ensure(r.code == 503 && !strcmp(r.body, "standby\n"), "backup: %d %s", r.code, r.body);
	reply_free(&r);
	r = http_req(pa, "HEAD", "/health");
	ensure(r.code == 200 && !*r.body, "HEAD: %d, body \"%s\"", r.code, r.body ? r.body : "");
	reply_free(&r);

	int64_t t0 = th_now_ns();
	kill(T.procs[a].pid, SIGKILL);
	double ms = wait_health(pb, 200, BOUND_MS);
	cr_log_info("SIGKILL of the live manager -> /health 200 on the backup: %.1f ms (%.1f ms after the kill)", ms,
		    ms_since(t0));
	r = http_req(pa, "GET", "/health");
	ensure(r.code == -1, "the dead node's endpoint answered %d", r.code);
	reply_free(&r);
	/* node-a comes back: it waits behind node-b, and says so. */
	char *aa = http_addr(pa);
	a = start_node("primary", "node-a", "--http", aa, NULL);
	free(aa);
	wait_state("node-a", LF_SLOT_WAITING, BOUND_MS);
	wait_health(pa, 503, BOUND_MS);
	r = http_req(pb, "GET", "/health");
	ensure(r.code == 200, "node-b after node-a's return: %d", r.code);
	reply_free(&r);
	no_overlap();
}

/* Drop "heartbeat" and "heartbeat_advancing": they move between reads. */
static char *without_heartbeat(const char *json)
{
	static const char *const keys[] = { ",\"heartbeat\":", ",\"heartbeat_advancing\":" };
	char *s = json_compact(json);
	for (size_t i = 0; i < 2; i++) {
		char *p = strstr(s, keys[i]);
		if (p) {
			const char *e = json_skip(p + strlen(keys[i]));
			memmove(p, e, strlen(e) + 1);
		}
	}
	return s;
}

/* /status is status --json: the same object, field for field. */
Test(run, http_status_is_status_json)
{
	int a, b, pa, pb;
	http_pair(&a, &b, &pa, &pb);
	struct reply r = http_req(pb, "GET", "/status");
	char h[128];
	ensure(r.code == 200, "/status: %d", r.code);
	ensure(!strcmp(header(&r, "Content-Type", h, sizeof(h)), "application/json"), "Content-Type %s", h);
	ensure(!strcmp(header(&r, "Cache-Control", h, sizeof(h)), "no-store"), "Cache-Control %s", h);
	cr_log_info("GET /status on the backup: %.2f ms", r.ms);
	char *body = json_compact(r.body);
	size_t len;
	const char *live = json_get(body, "live", &len);
	/* Not yet seen to move: one look cannot tell. */
	ensure(live && json_is(live, "heartbeat_advancing", "false"), "first look: %s", body);
	struct cmd c = run_cmd(BOUND_MS, "status", "--lock", T.lock, "--json", NULL);
	ensure(c.code == 0, "status --json: exit %d %s", c.code, c.err);
	char *x = without_heartbeat(r.body), *y = without_heartbeat(c.out);
	ensure(!strcmp(x, y), "/status and status --json differ:\n%s\n%s", x, y);
	ensure(json_array_len(json_get(x, "nodes", &len)) == 2, "two nodes: %s", x);
	free(x), free(y), free(body);
	cmd_free(&c);
	reply_free(&r);
	/* One heartbeat later the next look sees it moved. */
	sleep_ms(1300);
	r = http_req(pb, "GET", "/status");
	body = json_compact(r.body);
	live = json_get(body, "live", &len);
	ensure(r.code == 200 && live && json_is(live, "heartbeat_advancing", "true"), "second look: %d %s", r.code,
	       body);
	free(body);
	reply_free(&r);
}

/* Only GET and HEAD of /health and /status; no body; a bounded request.
 * None of it disturbs the node. */
Test(run, http_refuses_what_it_does_not_serve)
{
	int a, b, pa, pb;
	http_pair(&a, &b, &pa, &pb);
	wait_health(pa, 200, BOUND_MS);
	struct reply r = http_req(pa, "GET", "/other");
	ensure(r.code == 404, "/other: %d", r.code);
	reply_free(&r);
	r = http_req(pa, "GET", "/health/");
	ensure(r.code == 404, "/health/: %d", r.code);
	reply_free(&r);
	char h[128];
	r = http_req(pa, "POST", "/health");
	ensure(r.code == 405 && !strcmp(header(&r, "Allow", h, sizeof(h)), "GET, HEAD"), "POST: %d, Allow %s", r.code,
	       h);
	reply_free(&r);
	r = http_raw(pa, "GET /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello");
	ensure(r.code == 413, "a body: %d", r.code);
	reply_free(&r);
	/* 64 KiB of header: far beyond the request's memory. */
	size_t big = 64 * 1024;
	char *req = malloc(big + 128), *p = req;
	cr_assert(req);
	p += sprintf(p, "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Big: ");
	memset(p, 'a', big);
	strcpy(p + big, "\r\n\r\n");
	r = http_raw(pa, req);
	cr_log_info("a 64 KiB header: answered %d", r.code);
	ensure(r.code == -1 || r.code == 431 || r.code == 400 || r.code == 413 || r.code == 414, "a 64 KiB header: %d",
	       r.code);
	reply_free(&r);
	free(req);
	r = http_req(pa, "GET", "/health");
	ensure(r.code == 200, "/health after the refusals: %d", r.code);
	reply_free(&r);
	ensure(count(EV_START, NULL) == 1 && count(EV_STOP, NULL) == 0 && proc_alive(a) && proc_alive(b),
	       "the node was disturbed: %d starts, %d stops", count(EV_START, NULL), count(EV_STOP, NULL));
}

static uint64_t heartbeat_now(void)
{
	struct lf_view v;
	return read_view(&v) ? v.live.heartbeat : 0;
}

/* More connections than the limit, each holding its slot with half a
 * request: the extra ones are refused, the node goes on and still fails
 * over. */
Test(run, http_connection_flood_leaves_the_node_alone)
{
	int a, b, pa, pb;
	http_pair(&a, &b, &pa, &pb);
	wait_health(pa, 200, BOUND_MS);
	enum { FLOOD = 40 };
	int fds[FLOOD], open_ = 0;
	for (int i = 0; i < FLOOD; i++) {
		fds[i] = http_connect(pa);
		if (fds[i] >= 0 && !send_all(fds[i], "GET /health HTTP/1.1\r\n", 22)) {
			close(fds[i]);
			fds[i] = -1;
		}
	}
	uint64_t beat0 = heartbeat_now();
	sleep_ms(1500);
	/* A connection the server closed reads as end of file at once. */
	for (int i = 0; i < FLOOD; i++) {
		char c;
		if (fds[i] >= 0 && recv(fds[i], &c, 1, MSG_DONTWAIT) < 0 && errno == EAGAIN)
			open_++;
	}
	uint64_t beat1 = heartbeat_now();
	cr_log_info("%d connections with half a request: %d held open by the server; heartbeat %llu -> %llu in 1.5 s",
		    FLOOD, open_, (unsigned long long)beat0, (unsigned long long)beat1);
	/* All from 127.0.0.1: the per-address limit (8) is the one that bites. */
	ensure(open_ >= 1 && open_ <= 8, "%d of %d connections held open: the limit did not hold", open_, FLOOD);
	ensure(beat1 > beat0, "the live's heartbeat stood still under the flood");
	ensure(count(EV_START, NULL) == 1 && count(EV_STOP, NULL) == 0, "the workload was disturbed");
	/* The node still fails over with its endpoint flooded. */
	int64_t t0 = th_now_ns();
	kill(T.procs[a].pid, SIGKILL);
	wait_live("node-b", BOUND_MS);
	cr_log_info("failover with the endpoint flooded: node-b live after %.1f ms", ms_since(t0));
	for (int i = 0; i < FLOOD; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	wait_health(pb, 200, BOUND_MS);
	no_overlap();
}

/* A storage that hangs holds /status back until it gives up (504), never
 * /health. */
Test(run, http_hung_storage_holds_only_status)
{
	int a, b, pa, pb;
	http_pair(&a, &b, &pa, &pb);
	wait_health(pa, 200, BOUND_MS);
	pid_t hang = th_hold_lock(T.lock, LF_OFF_RECORD_LOCK);
	add_proc(hang, "storage-hang");
	int64_t t0 = th_now_ns();
	int fd = http_connect(pa);
	ensure(fd >= 0, "connect");
	const char *req = "GET /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	ensure(send_all(fd, req, strlen(req)), "send");
	sleep_ms(200);
	struct reply h = http_req(pa, "GET", "/health");
	struct reply s = http_read(fd, t0);
	cr_log_info("hung storage: /health %d in %.1f ms, /status %d after %.0f ms", h.code, h.ms, s.code, s.ms);
	th_kill(hang);
	ensure(h.code == 200 && h.ms < 1000, "/health waited for the storage: %d after %.0f ms", h.code, h.ms);
	ensure(s.code == 504 && s.ms >= 2900 && s.ms < BOUND_MS, "/status: %d after %.0f ms", s.code, s.ms);
	reply_free(&h);
	reply_free(&s);
	struct reply r = http_req(pa, "GET", "/status");
	ensure(r.code == 200, "/status once the storage answers: %d", r.code);
	reply_free(&r);
}

/* The address must be one this node can listen on, and numeric. */
Test(run, http_address_is_checked_at_start)
{
	int port = free_port();
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int busy = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert(busy >= 0 && bind(busy, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(busy, 1) == 0);
	char *addr = http_addr(port), *want = NULL;
	cr_assert(asprintf(&want, "--http %s: cannot listen: Address already in use", addr) > 0);
	struct cmd c = run_cmd(BOUND_MS, "run", "--lock", T.lock, "--role", "primary", "--name", "node-a", "--http",
			       addr, "--", T.witness, T.log, T.wlock, NULL);
	ensure(c.code == 71 && strstr(c.err, want), "busy port: exit %d: %s", c.code, c.err);
	ensure(count(EV_START, NULL) == 0 && access(T.lock, F_OK) < 0, "the node ran with its port busy");
	cmd_free(&c);
	close(busy);
	free(want), free(addr);
	static const char *const bad[] = { "localhost:8080", "127.0.0.1", "::1:8080", "127.0.0.1:0", "[::1]8080" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		c = run_cmd(BOUND_MS, "run", "--lock", T.lock, "--role", "primary", "--http", bad[i], "--", T.witness,
			    T.log, T.wlock, NULL);
		ensure(c.code == 64 && strstr(c.err, "--http: '"), "--http %s: exit %d: %s", bad[i], c.code, c.err);
		cmd_free(&c);
	}
	char *text = NULL;
	cr_assert(asprintf(&text, "[group]\nlock = %s\n[node]\nrole = primary\nhttp = localhost:8080\n", T.lock) > 0);
	char *conf = write_file("http.conf", 0644, text);
	c = run_cmd(BOUND_MS, "run", "--config", conf, "--", T.witness, T.log, T.wlock, NULL);
	ensure(c.code == 78 && strstr(c.err, ":5: [node] http: 'localhost:8080'"), "in a file: exit %d: %s", c.code,
	       c.err);
	cmd_free(&c);
	free(text), free(conf);
}

/* A fenced node stops serving 200 at once, and its endpoint comes back
 * with the node that rejoins (the same port, bound again after the
 * re-exec), even with a /status stuck on the storage meanwhile. */
Test(run, http_follows_a_fenced_node_that_rejoins)
{
	int pa = free_port();
	char *aa = http_addr(pa);
	int a = start_node("primary", "node-a", "--heartbeat-interval", "200ms", "--fence-timeout", "1s", "--http", aa,
			   NULL);
	free(aa);
	long wpid = wait_start("node-a", 1, BOUND_MS).pid;
	wait_live("node-a", BOUND_MS);
	start_node("backup", "node-b", NULL);
	wait_state("node-b", LF_SLOT_WAITING, BOUND_MS);
	wait_health(pa, 200, BOUND_MS);
	/* Nothing that reads the lock file (the diagnostics do) until the
	 * storage answers again: the checks come after th_kill. */
	pid_t hang = th_hold_lock(T.lock, LF_OFF_RECORD_LOCK);
	add_proc(hang, "storage-hang");
	/* Its reader stays in the hung call; the node fences meanwhile, so
	 * the answer is 504 or a connection closed by the stopping server. */
	struct reply s = http_req(pa, "GET", "/status");
	bool killed = wait_dead((pid_t)wpid, BOUND_MS);
	struct reply h = http_req(pa, "GET", "/health");
	th_kill(hang);
	ensure(s.code == 504 || s.code == -1, "/status on a hung storage: %d", s.code);
	ensure(killed, "the workload outlived the hung storage");
	ensure(h.code != 200, "/health said 200 with the workload killed");
	cr_log_info("hung storage: /status %d after %.0f ms, /health %d after the fence", s.code, s.ms, h.code);
	reply_free(&s);
	reply_free(&h);
	wait_live("node-b", BOUND_MS);
	wait_state("node-a", LF_SLOT_WAITING, BOUND_MS);
	double ms = wait_health(pa, 503, BOUND_MS);
	h = http_req(pa, "GET", "/health");
	ensure(h.code == 503 && !strcmp(h.body, "standby\n"), "the rejoined node: %d %s", h.code, h.body);
	reply_free(&h);
	cr_log_info("the rejoined node's endpoint answered 503 standby after %.0f ms", ms);
	ensure(proc_alive(a), "node-a's manager is gone");
	no_overlap();
}
