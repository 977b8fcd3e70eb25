/* Integration suite "upgrade": this build on lock files it did not write.
 *
 * - tests/fixtures/format-1.0/: files a 1.0 build wrote (a crashed group
 *   and a paused one). This build reads them, joins them as primary and
 *   backup, and leaves them readable by the 1.0 rules: the header as it
 *   was (minor 0), every record sealed, no byte a 1.0 node interprets
 *   given a meaning it does not know, except slot byte 18.
 * - files of another major version (2.0, 0.x): every command refuses them
 *   (exit 65; is-live: 2, "cannot tell") with a message naming both
 *   versions, and leaves them byte for byte as they were.
 * - a file of a newer minor (1.7) with bytes this build does not know set
 *   in the header, in bytes 20-31, in a slot and in the live record: it is
 *   read and joined, and no byte of the header, of bytes 20-31 or of
 *   another node's record changes; only records this build's nodes own
 *   are rewritten.
 *
 * - the history (format 1.3) a node of this build begins in a 1.0 file: one
 *   entry past byte 8703, and the file ends there.
 *
 * The mixed-version test with real 1.0 and 1.2 binaries is tests/upgrade/.
 *
 * Needs UNDERSTUDY_BIN, WITNESS_BIN and UNDERSTUDY_FIXTURES. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"
#include "understudy/lockfile.h"

#define BOUND_MS 10000 /* "it happens", whatever the machine's load */
#define MAX_NODES 8

static struct {
	const char *bin, *witness, *fixtures;
	char *dir, *lock, *log, *wlock;
	pid_t nodes[MAX_NODES];
	int nnodes;
	pid_t holder; /* a lock holder standing in for a node of another build */
} T;

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void setup(void)
{
	T.bin = getenv("UNDERSTUDY_BIN");
	T.witness = getenv("WITNESS_BIN");
	T.fixtures = getenv("UNDERSTUDY_FIXTURES");
	cr_assert(T.bin && access(T.bin, X_OK) == 0, "UNDERSTUDY_BIN is not set or not executable");
	cr_assert(T.witness && access(T.witness, X_OK) == 0, "WITNESS_BIN is not set or not executable");
	cr_assert(T.fixtures && *T.fixtures, "UNDERSTUDY_FIXTURES is not set");
	/* Workloads of killed managers are re-parented here and reaped. */
	cr_assert(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
	T.dir = th_tmpdir();
	T.lock = th_path(T.dir, "group.lock");
	T.log = th_path(T.dir, "log");
	T.wlock = th_path(T.dir, "witness.lock");
}

static void teardown(void)
{
	for (int i = 0; i < T.nnodes; i++)
		kill(T.nodes[i], SIGKILL);
	if (T.holder > 0)
		th_kill(T.holder);
	/* The workloads die with their managers (PDEATHSIG): reap all. */
	int64_t dl = th_now_ns() + 3000000000LL;
	while (th_now_ns() < dl && (waitpid(-1, NULL, WNOHANG) >= 0 || errno != ECHILD))
		sleep_ms(10);
	th_rmtree(T.dir);
	free(T.dir), free(T.lock), free(T.log), free(T.wlock);
	memset(&T, 0, sizeof T);
}

TestSuite(upgrade, .init = setup, .fini = teardown);

/* --- the file ---------------------------------------------------------------- */

static void load_fixture(const char *name, uint8_t img[LF_SIZE])
{
	char *path = NULL;
	cr_assert(asprintf(&path, "%s/format-1.0/%s", T.fixtures, name) > 0);
	uint8_t *buf;
	size_t len;
	cr_assert_eq(th_read_file(path, &buf, &len), 0, "%s: cannot read", path);
	cr_assert_eq(len, (size_t)LF_SIZE, "%s: %zu bytes", path, len);
	memcpy(img, buf, LF_SIZE);
	free(buf), free(path);
}

/* The records: the first 8704 bytes, all an older node reads. A node of
 * this build may have lengthened a file of an older format with its
 * history (1.3), never beyond it. */
static void read_lock(uint8_t img[LF_SIZE])
{
	uint8_t *buf;
	size_t len;
	cr_assert_eq(th_read_file(T.lock, &buf, &len), 0);
	cr_assert(len >= (size_t)LF_SIZE && len <= (size_t)LF_FILE_SIZE, "the lock file is %zu bytes", len);
	memcpy(img, buf, LF_SIZE);
	free(buf);
}

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8); }

/* Make a record's CRC right again after changing its bytes. */
static void reseal(uint8_t *rec, size_t size)
{
	uint32_t c = lockfile_crc32c(rec, size - 4);
	for (int i = 0; i < 4; i++)
		rec[size - 4 + (size_t)i] = (uint8_t)(c >> (8 * i));
}

static void set_version(uint8_t img[LF_SIZE], uint16_t major, uint16_t minor)
{
	put16(img + LF_OFF_HEADER + 8, major);
	put16(img + LF_OFF_HEADER + 10, minor);
	reseal(img + LF_OFF_HEADER, LF_HEADER_SIZE);
}

static uint8_t *slot_rec(uint8_t img[LF_SIZE], int i) { return img + LF_OFF_SLOTS + (size_t)i * LF_SLOT_SIZE; }

static bool zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* What a 1.0 node needs of the file: its header, every record sealed, the
 * padding of 1.0 records zero but where a later minor gives it a meaning
 * (slot byte 18, set only as 1.1 defines it; live record bytes 172-183,
 * the file's identity of 1.2, which no 1.0 or 1.1 node reads; slot bytes
 * 96-103, 1.2's epoch of the node's last term as live, no higher than
 * the live record's epoch; slot bytes 104-119, 1.2's host id). */
static void assert_readable_by_1_0(uint8_t img[LF_SIZE])
{
	uint16_t major, minor;
	cr_assert_eq(lockfile_check_header(img + LF_OFF_HEADER, &major, &minor), LF_OK);
	cr_assert_eq(major, 1);
	struct lf_view v;
	lockfile_decode(img, &v);
	cr_assert_eq(v.live_rec, LF_REC_OK, "the live record is not sealed");
	cr_assert(zero(img + LF_OFF_LIVE + 184, 4), "live record padding is not zero");
	cr_assert_neq(v.request_rec, LF_REC_BAD, "the request record is not sealed");
	for (int i = 0; i < LF_SLOTS; i++) {
		uint8_t *s = slot_rec(img, i);
		cr_assert_neq(v.slot_rec[i], LF_REC_BAD, "slot %d is not sealed", i);
		if (v.slot_rec[i] != LF_REC_OK)
			continue;
		cr_assert(s[19] == 0 && zero(s + 120, 4), "slot %d: padding is not zero", i);
		cr_assert(v.slots[i].epoch <= v.live.epoch, "slot %d: epoch %llu above the live record's %llu", i,
			  (unsigned long long)v.slots[i].epoch, (unsigned long long)v.live.epoch);
		cr_assert(s[18] == 0 || (s[18] == LF_SLOT_F_STARTING && s[17] == LF_SLOT_LIVE),
			  "slot %d: flags 0x%02x with state %u", i, s[18], s[17]);
	}
	cr_assert(zero(img + LF_OFF_SLOT_LOCKS, LF_SLOTS), "a slot lock byte was written");
}

/* --- processes ---------------------------------------------------------------- */

static void exec_to(char **argv, const char *out, const char *err)
{
	prctl(PR_SET_CHILD_SUBREAPER, 0);
	int in = open("/dev/null", O_RDONLY), o = open(out, O_WRONLY | O_CREAT | O_APPEND, 0644),
	    e = open(err, O_WRONLY | O_CREAT | O_APPEND, 0644);
	if (in < 0 || o < 0 || e < 0)
		_exit(126);
	dup2(in, 0), dup2(o, 1), dup2(e, 2);
	execv(argv[0], argv);
	_exit(127);
}

struct cmd {
	int code; /* exit status, 128 + signal */
	char *out, *err;
};

/* Run `understudy ARGS...` to its end (killed after 30 s: a hang fails). */
__attribute__((sentinel)) static struct cmd run_cmd(const char *first, ...)
{
	char *argv[32];
	int n = 0;
	argv[n++] = (char *)T.bin;
	va_list ap;
	va_start(ap, first);
	for (const char *a = first; a; a = va_arg(ap, const char *))
		argv[n++] = (char *)a;
	va_end(ap);
	argv[n] = NULL;
	char *out = th_path(T.dir, "cmd.out"), *err = th_path(T.dir, "cmd.err");
	unlink(out), unlink(err);
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0)
		exec_to(argv, out, err);
	int st = 0;
	int64_t dl = th_now_ns() + 30000000000LL;
	while (waitpid(pid, &st, WNOHANG) == 0) {
		if (th_now_ns() > dl) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			cr_assert(0, "%s %s did not end within 30 s", T.bin, first);
		}
		sleep_ms(5);
	}
	struct cmd c = { WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), th_read_text(out), th_read_text(err) };
	free(out), free(err);
	return c;
}

static void cmd_free(struct cmd *c) { free(c->out), free(c->err); }

/* Start a node of this build on T.lock with the witness as its workload. */
static pid_t start_node(const char *role, const char *name, const char *address)
{
	cr_assert(T.nnodes < MAX_NODES);
	char *argv[] = { (char *)T.bin,
			 "run",
			 "--lock",
			 T.lock,
			 "--role",
			 (char *)role,
			 "--name",
			 (char *)name,
			 "--address",
			 (char *)address,
			 "--check-interval",
			 "100ms",
			 "--poll-interval",
			 "100ms",
			 "--stop-timeout",
			 "2s",
			 "--",
			 (char *)T.witness,
			 T.log,
			 T.wlock,
			 NULL };
	char *err = NULL;
	cr_assert(asprintf(&err, "%s/%s.stderr", T.dir, name) > 0);
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0)
		exec_to(argv, "/dev/null", err);
	free(err);
	return T.nodes[T.nnodes++] = pid;
}

/* Lines "start NAME ..." in the witness log: workloads NAME started. */
static int starts(const char *name)
{
	FILE *f = fopen(T.log, "r");
	if (!f)
		return 0;
	char line[512], kind[32], who[128];
	int n = 0;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "%31s %127s", kind, who) == 2 && !strcmp(kind, "start") && !strcmp(who, name))
			n++;
	fclose(f);
	return n;
}

static int overlaps(void)
{
	char *log = th_read_text(T.log);
	int n = 0;
	for (char *p = log; (p = strstr(p, "overlap ")); p++)
		n++;
	free(log);
	return n;
}

/* The slot NAME holds while alive, or -1. */
static int alive_slot(const struct lf_view *v, const char *name)
{
	for (int i = 0; i < LF_SLOTS; i++)
		if (v->slot_rec[i] == LF_REC_OK && !strcmp(v->slots[i].name, name) &&
		    th_is_locked(T.lock, lockfile_slot_lock_offset(i)) == 1)
			return i;
	return -1;
}

/* Wait until NAME is alive in slot state `state` and, for the live state,
 * the live node at epoch `epoch` (the file as this build decodes it). */
static void wait_state(const char *name, uint8_t state, uint64_t epoch, uint8_t img[LF_SIZE])
{
	int64_t dl = th_now_ns() + (int64_t)BOUND_MS * 1000000;
	struct lf_view v;
	for (;;) {
		read_lock(img);
		lockfile_decode(img, &v);
		int s = alive_slot(&v, name);
		bool live_ok = state != LF_SLOT_LIVE || (v.status == LF_LIVE && v.live_rec == LF_REC_OK &&
							 v.live.epoch == epoch && !strcmp(v.live.name, name));
		if (s >= 0 && v.slots[s].state == state && live_ok)
			return;
		if (th_now_ns() > dl) {
			char *err = th_path(T.dir, "node-a.stderr"), *text = th_read_text(err);
			cr_log_error("node-a's stderr:\n%s", text);
			free(err), free(text);
			cr_assert(0, "%s not %s (epoch %llu) within %d ms: status %c, live %s epoch %llu", name,
				  lockfile_slot_state_name(state), (unsigned long long)epoch, BOUND_MS, v.status,
				  v.live.name, (unsigned long long)v.live.epoch);
		}
		sleep_ms(20);
	}
}

/* --- 1.0 files ---------------------------------------------------------------- */

static void assert_json_has(const struct cmd *c, const char *want)
{
	cr_assert(strstr(c->out, want), "status --json does not say %s:\n%s", want, c->out);
}

Test(upgrade, reads_the_files_a_1_0_build_wrote)
{
	uint8_t img[LF_SIZE];
	load_fixture("crashed.lock", img);
	th_write_file(T.lock, img, LF_SIZE);
	struct cmd c = run_cmd("status", "--json", "--lock", T.lock, NULL);
	cr_assert_eq(c.code, 0, "status: %d %s", c.code, c.err);
	assert_json_has(&c, "\"state\":\"live\",\"version\":\"1.0\"");
	assert_json_has(&c, "\"live\":{\"name\":\"node-a\",\"address\":\"10.0.0.1:5672\",\"alive\":false");
	assert_json_has(&c, "\"epoch\":1,");
	assert_json_has(&c, "{\"name\":\"node-a\",\"role\":\"primary\",\"state\":\"gone\",\"alive\":false");
	assert_json_has(&c, "{\"name\":\"node-b\",\"role\":\"backup\",\"state\":\"gone\",\"alive\":false");
	cmd_free(&c);

	load_fixture("paused.lock", img);
	th_write_file(T.lock, img, LF_SIZE);
	c = run_cmd("status", "--json", "--lock", T.lock, NULL);
	cr_assert_eq(c.code, 0, "status: %d %s", c.code, c.err);
	assert_json_has(&c, "\"state\":\"paused\",\"version\":\"1.0\",\"live\":null");
	assert_json_has(&c, "{\"name\":\"node-a\",\"role\":\"primary\",\"state\":\"gone\"");
	assert_json_has(&c, "{\"name\":\"node-b\",\"role\":\"backup\",\"state\":\"gone\"");
	cmd_free(&c);
	uint8_t now[LF_SIZE];
	read_lock(now);
	cr_assert_eq(memcmp(now, img, LF_SIZE), 0, "status wrote to the file");
}

/* The history this build's node began in a file a 1.0 node formatted
 * (format 1.3): one entry, its takeover, and nothing else past byte 8703:
 * the file ends where that entry does. */
static void expect_one_entry(const char *want)
{
	struct stat st;
	cr_assert_eq(stat(T.lock, &st), 0);
	cr_assert_eq(st.st_size, LF_OFF_HISTORY + LF_EVENT_SIZE, "the file is %lld bytes, want %d: 8704 and one entry",
		     (long long)st.st_size, LF_OFF_HISTORY + LF_EVENT_SIZE);
	struct cmd c = run_cmd("status", "--history", "--json", "--lock", T.lock, NULL);
	cr_assert_eq(c.code, 0, "status --history: %d %s", c.code, c.err);
	cr_assert(!strncmp(c.out, "[{\"seq\":1,", 9) && !strstr(c.out, "\"seq\":2"), "not one entry: %s", c.out);
	assert_json_has(&c, want);
	cmd_free(&c);
}

/* A 1.0 file joined by this build's primary (upgraded node-a) and backup:
 * the primary becomes live at `epoch`, the backup waits, and the file is
 * still one a 1.0 node reads. */
static void join_1_0_file(const char *fixture, uint64_t epoch)
{
	uint8_t before[LF_SIZE], img[LF_SIZE];
	load_fixture(fixture, before);
	th_write_file(T.lock, before, LF_SIZE);

	int64_t t0 = th_now_ns();
	start_node("primary", "node-a", "10.0.0.1:5672");
	wait_state("node-a", LF_SLOT_LIVE, epoch, img);
	cr_log_info("%s: node-a live at epoch %llu %.1f ms after its start", fixture, (unsigned long long)epoch,
		    (double)(th_now_ns() - t0) / 1e6);
	start_node("backup", "node-b", "10.0.0.2:5672");
	wait_state("node-b", LF_SLOT_WAITING, 0, img);
	sleep_ms(500); /* five check intervals: long enough for a wrong start to show */
	read_lock(img);

	cr_assert_eq(starts("node-a"), 1, "node-a's workload started %d times", starts("node-a"));
	cr_assert_eq(starts("node-b"), 0, "the waiting backup started its workload");
	cr_assert_eq(overlaps(), 0);
	/* Nobody rewrites the header: it still says 1.0, byte for byte. */
	cr_assert_eq(memcmp(img + 19, before + 19, LF_OFF_LIVE - 19), 0, "bytes 19-63 changed");
	uint16_t major = 0, minor = 9;
	cr_assert_eq(lockfile_check_header(img + LF_OFF_HEADER, &major, &minor), LF_OK);
	cr_assert(major == 1 && minor == 0, "the header now says %u.%u", major, minor);
	cr_assert_eq(memcmp(img + LF_OFF_REQUEST, before + LF_OFF_REQUEST, LF_REQUEST_SIZE), 0,
		     "the request record changed");
	assert_readable_by_1_0(img);

	struct cmd c = run_cmd("status", "--json", "--lock", T.lock, NULL);
	cr_assert_eq(c.code, 0);
	assert_json_has(&c, "\"state\":\"live\",\"version\":\"1.0\"");
	assert_json_has(&c, "{\"name\":\"node-a\",\"role\":\"primary\",\"state\":\"live\",\"alive\":true");
	assert_json_has(&c, "{\"name\":\"node-b\",\"role\":\"backup\",\"state\":\"waiting\",\"alive\":true");
	cmd_free(&c);
}

Test(upgrade, joins_a_crashed_1_0_group_and_takes_over)
{
	join_1_0_file("crashed.lock", 2);
	expect_one_entry("\"reason\":\"failover\",\"epoch\":2,\"from\":\"node-a\",\"from_slot\":0,"
			 "\"to\":\"node-a\",\"to_slot\":0,\"by\":\"to\"");
}

Test(upgrade, joins_a_paused_1_0_group_and_starts_it)
{
	join_1_0_file("paused.lock", 3);
	expect_one_entry("\"reason\":\"resume\",\"epoch\":3,\"from\":\"node-a\",\"from_slot\":0,"
			 "\"to\":\"node-a\",\"to_slot\":0,\"by\":\"to\"");
}

/* --- another major ------------------------------------------------------------- */

/* Every command on a file of version major.minor: refused, the message
 * naming both versions, the file unchanged (bytes and mtime). */
static void assert_every_command_refuses(uint16_t major, uint16_t minor, const char *want)
{
	uint8_t img[LF_SIZE], now[LF_SIZE];
	load_fixture("crashed.lock", img);
	set_version(img, major, minor);
	th_write_file(T.lock, img, LF_SIZE);
	struct stat st0, st1;
	cr_assert_eq(stat(T.lock, &st0), 0);
	sleep_ms(20); /* so that a write would show in the mtime too */

	static const struct {
		const char *args[6];
		int code;
	} cmds[] = {
		{ { "run", "--role", "primary", "--name", "node-a" }, 65 },
		{ { "run", "--role", "backup", "--name", "node-b" }, 65 },
		{ { "status" }, 65 },
		{ { "status", "--json" }, 65 },
		{ { "failback" }, 65 },
		{ { "switchover", "--to", "node-b" }, 65 },
		{ { "is-live", "--name", "node-a" }, 2 }, /* its own third answer: cannot tell */
	};
	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
		const char *const *a = cmds[i].args;
		struct cmd c = !strcmp(a[0], "run")
				       ? run_cmd(a[0], "--lock", T.lock, a[1], a[2], a[3], a[4], "--", T.witness, T.log,
						 T.wlock, NULL)
				       : run_cmd(a[0], "--lock", T.lock, a[1], a[2], a[3], a[4], a[5], NULL);
		cr_assert_eq(c.code, cmds[i].code, "%s on a %u.%u file: exit %d, not %d: %s", a[0], major, minor,
			     c.code, cmds[i].code, c.err);
		cr_assert(strstr(c.err, want), "%s on a %u.%u file does not say \"%s\": %s", a[0], major, minor, want,
			  c.err);
		cr_log_info("%s %s: exit %d: %s", a[0], a[1] ? a[1] : "", c.code, c.err);
		cmd_free(&c);
	}
	read_lock(now);
	cr_assert_eq(memcmp(now, img, LF_SIZE), 0, "a refused %u.%u file was written to", major, minor);
	cr_assert_eq(stat(T.lock, &st1), 0);
	cr_assert(st0.st_mtim.tv_sec == st1.st_mtim.tv_sec && st0.st_mtim.tv_nsec == st1.st_mtim.tv_nsec &&
			  st0.st_size == st1.st_size,
		  "the refused file's mtime or size changed");
	cr_assert_eq(starts("node-a") + starts("node-b"), 0, "a workload started on a refused file");
}

Test(upgrade, refuses_a_newer_major_and_says_which_versions_it_speaks)
{
	assert_every_command_refuses(2, 0, "lock file format 2.0 is newer than this build speaks (1.x, up to 1.3)");
}

Test(upgrade, refuses_an_older_major_and_says_which_versions_it_speaks)
{
	assert_every_command_refuses(0, 9, "lock file format 0.9 is older than this build speaks (1.x, up to 1.3)");
}

/* --- a newer minor -------------------------------------------------------------- */

Test(upgrade, joins_a_newer_minor_without_touching_bytes_it_does_not_know)
{
	/* A paused group written by a "1.7" build: bytes 1.2 keeps at zero
	 * are set where a later minor could give them a meaning. */
	uint8_t img[LF_SIZE], now[LF_SIZE];
	load_fixture("paused.lock", img);
	memset(img + 20, 0xEE, 12);                /* reserved file bytes 20-31 */
	put16(img + LF_OFF_HEADER + 20, 0x5A5A);   /* header flags */
	memset(img + LF_OFF_HEADER + 24, 0xA5, 4); /* header reserved */
	set_version(img, 1, 7);                    /* and the crc */
	memset(img + LF_OFF_LIVE + 172, 0x44, 16); /* live record padding */
	reseal(img + LF_OFF_LIVE, LF_LIVE_SIZE);
	uint8_t *b = slot_rec(img, 1); /* node-b, a 1.7 backup */
	b[18] |= 0x80, b[19] = 0x77, memset(b + 104, 0x33, 20);
	b[96] = 2; /* the epoch of its last term, as 1.2 defines it */
	reseal(b, LF_SLOT_SIZE);
	th_write_file(T.lock, img, LF_SIZE);

	struct cmd c = run_cmd("status", "--json", "--lock", T.lock, NULL);
	cr_assert_eq(c.code, 0, "status on a 1.7 file: exit %d: %s", c.code, c.err);
	assert_json_has(&c, "\"state\":\"paused\",\"version\":\"1.7\"");
	assert_json_has(&c, "{\"name\":\"node-b\",\"role\":\"backup\",\"state\":\"gone\"");
	cmd_free(&c);

	/* node-b of the 1.7 build is alive: its slot lock is held. */
	T.holder = th_hold_lock(T.lock, lockfile_slot_lock_offset(1));
	c = run_cmd("status", "--json", "--lock", T.lock, NULL);
	assert_json_has(&c, "{\"name\":\"node-b\",\"role\":\"backup\",\"state\":\"waiting\",\"alive\":true");
	cmd_free(&c);

	start_node("primary", "node-a", "10.0.0.1:5672");
	wait_state("node-a", LF_SLOT_LIVE, 3, now);
	start_node("backup", "node-c", "10.0.0.3:5672");
	wait_state("node-c", LF_SLOT_WAITING, 0, now);
	/* A hand-over rewrites the request record and the live record. */
	c = run_cmd("switchover", "--lock", T.lock, "--to", "node-c", "--wait", "--timeout", "10s", NULL);
	cr_assert_eq(c.code, 0, "switchover on a 1.7 file: exit %d: %s", c.code, c.err);
	cmd_free(&c);
	wait_state("node-c", LF_SLOT_LIVE, 4, now);
	wait_state("node-a", LF_SLOT_WAITING, 0, now);

	cr_assert_eq(memcmp(now + 19, img + 19, LF_OFF_LIVE - 19), 0, "the header or bytes 19-31 changed");
	cr_assert_eq(memcmp(slot_rec(now, 1), slot_rec(img, 1), LF_SLOT_SIZE), 0,
		     "node-b's record, written by a 1.7 node, changed");
	cr_assert(zero(now + LF_OFF_SLOT_LOCKS, LF_SLOTS), "a slot lock byte was written");
	/* The live record is node-c's own now, written whole by this build's
	 * rules: the 1.7 bytes in it are gone, and bytes 172-183 say which
	 * file it was written on (1.2), the rest zero. */
	struct lf_view v;
	lockfile_decode(now, &v);
	cr_assert(v.live_rec == LF_REC_OK && !strcmp(v.live.name, "node-c"));
	struct stat st;
	cr_assert_eq(stat(T.lock, &st), 0);
	cr_assert_eq(v.live.file_id, (uint64_t)st.st_ino, "the live record does not name its file");
	cr_assert(zero(now + LF_OFF_LIVE + 184, 4));
	cr_assert_eq(starts("node-a"), 1);
	cr_assert_eq(starts("node-c"), 1);
	cr_assert_eq(overlaps(), 0);
}
