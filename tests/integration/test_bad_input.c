/* Integration suite "bad-input": the real understudy binary against every
 * bad input of the README's "Bad input" table that no other suite covers.
 *
 * For each: the exit status the README documents, a message that names
 * the path and what is wrong, the workload never started (it would create
 * a marker file), and a lock file that was not ours byte-for-byte as it
 * was, its modification time included. The inputs are real: a FIFO, a
 * directory, a symlink, another user (nobody) without permission, a tmpfs
 * mounted read-only, a tmpfs with one page free.
 *
 * Needs UNDERSTUDY_BIN. The mounts and the other user need root; those
 * tests skip without it. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
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

#define LIMIT_S 20 /* longer is a hang: the child is killed by its alarm */
#define NOBODY 65534

static struct {
	const char *bin;
	char *dir;    /* the lock file's directory */
	char *out;    /* writable by everyone: the marker and stderr */
	char *lock;   /* DIR/g.lock */
	char *marker; /* created by the workload, if it ever runs */
	char *mnt;    /* a tmpfs mounted by the test */
} T;

static void setup(void)
{
	T.bin = getenv("UNDERSTUDY_BIN");
	cr_assert(T.bin && access(T.bin, X_OK) == 0, "UNDERSTUDY_BIN is not set or not executable");
	T.dir = th_tmpdir();
	/* Another user must reach the files to be refused by them. */
	cr_assert_eq(chmod(T.dir, 0755), 0);
	T.out = th_path(T.dir, "out");
	cr_assert_eq(mkdir(T.out, 0777), 0);
	cr_assert_eq(chmod(T.out, 0777), 0);
	T.lock = th_path(T.dir, "g.lock");
	T.marker = th_path(T.out, "workload-ran");
	T.mnt = NULL;
}

static void teardown(void)
{
	if (T.mnt)
		umount2(T.mnt, MNT_DETACH);
	th_rmtree(T.dir);
	free(T.dir), free(T.out), free(T.lock), free(T.marker), free(T.mnt);
}

TestSuite(bad_input, .init = setup, .fini = teardown, .timeout = 120);

/* --- running understudy --------------------------------------------------- */

struct outcome {
	int code; /* exit status, or 128 + signal */
	char err[4096];
	double ms;
};

/* understudy ARGS... as uid (-1: as we are); stdout is dropped. */
static struct outcome understudy_as(uid_t uid, const char *const *args)
{
	struct outcome o = { 0 };
	char *errpath = th_path(T.out, "stderr");
	int64_t t0 = th_now_ns();
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		int e = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0666), n = open("/dev/null", O_WRONLY);
		if (e < 0 || n < 0 || dup2(n, 1) < 0 || dup2(e, 2) < 0)
			_exit(120);
		if (uid != (uid_t)-1 && (setgroups(0, NULL) < 0 || setgid(uid) < 0 || setuid(uid) < 0))
			_exit(121);
		alarm(LIMIT_S);
		const char *argv[32] = { T.bin };
		for (int i = 0; args[i] && i < 30; i++)
			argv[i + 1] = args[i];
		execv(T.bin, (char *const *)argv);
		_exit(127);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	o.ms = (double)(th_now_ns() - t0) / 1e6;
	o.code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	uint8_t *buf;
	size_t len;
	if (th_read_file(errpath, &buf, &len) == 0) {
		len = len < sizeof(o.err) - 1 ? len : sizeof(o.err) - 1;
		memcpy(o.err, buf, len);
		free(buf);
	}
	unlink(errpath);
	free(errpath);
	cr_log_info("understudy %s ... exited %d after %.0f ms: %s", args[0], o.code, o.ms, o.err);
	return o;
}

static struct outcome understudy(const char *const *args) { return understudy_as((uid_t)-1, args); }

/* `run` as a primary on path whose workload would leave the marker. */
static struct outcome run_node(uid_t uid, const char *path)
{
	return understudy_as(uid, (const char *[]){ "run", "--lock", path, "--role", "primary", "--name", "node-a",
						    "--restart", "never", "--", "/usr/bin/touch", T.marker, NULL });
}

static void expect_no_workload(const char *what)
{
	cr_expect(access(T.marker, F_OK) < 0 && errno == ENOENT, "%s: the workload ran", what);
}

static void expect_says(const struct outcome *o, int code, const char *path, const char *says, const char *what)
{
	cr_expect_eq(o->code, code, "%s: exit %d, want %d: %s", what, o->code, code, o->err);
	if (path)
		cr_expect(strstr(o->err, path), "%s: the message does not name %s: %s", what, path, o->err);
	cr_expect(strstr(o->err, says), "%s: the message lacks '%s': %s", what, says, o->err);
}

/* --- "left untouched" ------------------------------------------------------- */

struct snapshot {
	uint8_t *bytes;
	size_t len;
	struct stat st;
};

static struct snapshot snap(const char *path)
{
	struct snapshot s = { 0 };
	cr_assert_eq(lstat(path, &s.st), 0, "%s: %s", path, strerror(errno));
	if (S_ISREG(s.st.st_mode))
		cr_assert_eq(th_read_file(path, &s.bytes, &s.len), 0);
	return s;
}

static void expect_unchanged(const char *path, struct snapshot *before, const char *what)
{
	struct snapshot now = snap(path);
	cr_expect_eq(now.st.st_mode, before->st.st_mode, "%s: %s changed its type or mode", what, path);
	cr_expect_eq(now.st.st_ino, before->st.st_ino, "%s: %s was replaced", what, path);
	cr_expect(now.st.st_mtim.tv_sec == before->st.st_mtim.tv_sec &&
			  now.st.st_mtim.tv_nsec == before->st.st_mtim.tv_nsec,
		  "%s: %s was written to", what, path);
	cr_expect(now.len == before->len && (!now.len || !memcmp(now.bytes, before->bytes, now.len)),
		  "%s: %s is not byte-for-byte as it was (%zu bytes, was %zu)", what, path, now.len, before->len);
	free(now.bytes);
}

/* --- lock files that are not ours ------------------------------------------ */

/* A file this build formatted, with a live record: the base of the
 * damaged ones, so each differs from a good file only by its damage. */
static void good_image(uint8_t img[LF_SIZE])
{
	char *p = th_path(T.out, "base.lock");
	struct lockfile lf;
	cr_assert_eq(lockfile_open(&lf, p, LF_OPEN_CREATE), 0);
	struct lf_live live = { .epoch = 3, .heartbeat = 9, .slot = 0, .pid = 42, .heartbeat_ms = 1000 };
	strcpy(live.name, "node-z");
	cr_assert_eq(lockfile_write_live(&lf, LF_LIVE, &live), 0);
	lockfile_close(&lf);
	uint8_t *b;
	size_t n;
	cr_assert_eq(th_read_file(p, &b, &n), 0);
	cr_assert_eq(n, (size_t)LF_SIZE);
	memcpy(img, b, LF_SIZE);
	free(b);
	unlink(p);
	free(p);
}

static size_t make_truncated(uint8_t *img) { return good_image(img), LF_SIZE / 2; }
static size_t make_zeroed(uint8_t *img) { return memset(img, 0, LF_SIZE), LF_SIZE; }
static size_t make_random(uint8_t *img)
{
	uint32_t x = 0x9e3779b9u;
	for (size_t i = 0; i < LF_SIZE; i++) {
		x ^= x << 13, x ^= x >> 17, x ^= x << 5;
		img[i] = (uint8_t)x;
	}
	return LF_SIZE;
}
static size_t make_wrong_magic(uint8_t *img) { return good_image(img), img[LF_OFF_HEADER + 7] = 'X', LF_SIZE; }
/* A header a version 2 would write: its checksum right. */
static size_t make_major_2(uint8_t *img)
{
	good_image(img);
	uint8_t *h = img + LF_OFF_HEADER;
	h[8] = 2, h[9] = 0;
	uint32_t crc = lockfile_crc32c(h, LF_HEADER_SIZE - 4);
	for (int i = 0; i < 4; i++)
		h[LF_HEADER_SIZE - 4 + i] = (uint8_t)(crc >> (8 * i));
	return LF_SIZE;
}
static size_t make_bad_crc(uint8_t *img) { return good_image(img), img[LF_OFF_HEADER + 29] ^= 0x10, LF_SIZE; }

static const struct {
	const char *name;
	size_t (*make)(uint8_t *img);
	const char *says;
} damaged[] = {
	{ "truncated to 4352 bytes", make_truncated, "shorter than an understudy lock file" },
	{ "all zero", make_zeroed, "not an understudy lock file (wrong magic)" },
	{ "random bytes", make_random, "not an understudy lock file (wrong magic)" },
	{ "wrong magic", make_wrong_magic, "not an understudy lock file (wrong magic)" },
	{ "major version 2", make_major_2, "lock file format 2.2 is newer than this build speaks (1.x, up to 1.2)" },
	{ "header checksum wrong", make_bad_crc, "lock file header checksum failed" },
};

/* run, status, failback, switchover and is-live on the file at path:
 * each refuses with code (is-live: 2, "cannot tell"), says so, and
 * leaves it (and target, what a symlink points to) untouched. */
static void refused_by_every_command(const char *path, const char *target, int code, const char *says, const char *what)
{
	struct snapshot before = snap(path), tbefore = { 0 };
	if (target)
		tbefore = snap(target);
	char label[160];
	snprintf(label, sizeof(label), "%s: run", what);
	struct outcome o = run_node((uid_t)-1, path);
	expect_says(&o, code, path, says, label);
	expect_no_workload(label);
	static const char *const cmds[] = { "status", "failback", "switchover" };
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		snprintf(label, sizeof(label), "%s: %s", what, cmds[i]);
		o = understudy((const char *[]){ cmds[i], "--lock", path, NULL });
		expect_says(&o, code, path, says, label);
	}
	snprintf(label, sizeof(label), "%s: is-live", what);
	o = understudy((const char *[]){ "is-live", "--lock", path, "--name", "node-z", NULL });
	cr_expect_eq(o.code, 2, "%s: exit %d, want 2 (cannot tell): %s", label, o.code, o.err);
	expect_unchanged(path, &before, what);
	if (target)
		expect_unchanged(target, &tbefore, what);
	free(before.bytes), free(tbefore.bytes);
}

Test(bad_input, damaged_lock_files_are_refused_and_left_untouched)
{
	static uint8_t img[LF_SIZE];
	for (size_t i = 0; i < sizeof(damaged) / sizeof(damaged[0]); i++) {
		size_t n = damaged[i].make(img);
		th_write_file(T.lock, img, n);
		refused_by_every_command(T.lock, NULL, 65, damaged[i].says, damaged[i].name);
		unlink(T.lock);
	}
}

Test(bad_input, a_directory_is_refused)
{
	cr_assert_eq(mkdir(T.lock, 0755), 0);
	refused_by_every_command(T.lock, NULL, 65, "a directory, not a regular file", "a directory");
}

/* O_NOFOLLOW: a link could point a root-run node at any file. Refused
 * even when it points to a good lock file, which stays as it was. */
Test(bad_input, a_symlink_is_refused_and_its_target_untouched)
{
	static uint8_t img[LF_SIZE];
	good_image(img);
	char *real = th_path(T.dir, "real.lock");
	th_write_file(real, img, LF_SIZE);
	cr_assert_eq(symlink(real, T.lock), 0);
	refused_by_every_command(T.lock, real, 65, "a symbolic link, not a regular file", "a symlink");
	free(real);
}

/* A FIFO without a writer blocks a plain open for ever. */
Test(bad_input, a_fifo_is_refused_without_hanging)
{
	cr_assert_eq(mkfifo(T.lock, 0660), 0);
	int64_t t0 = th_now_ns();
	refused_by_every_command(T.lock, NULL, 65, "a FIFO, not a regular file", "a FIFO");
	double ms = (double)(th_now_ns() - t0) / 1e6;
	cr_log_info("five commands on a FIFO took %.0f ms", ms);
	cr_expect_lt(ms, 10000, "the commands on a FIFO took %.0f ms: something waited on it", ms);
}

/* --- what the system refuses ------------------------------------------------ */

static bool have_root(void)
{
	if (geteuid() == 0)
		return true;
	cr_skip_test("needs root (mounts, another user)");
	return false;
}

Test(bad_input, no_permission_is_77_and_the_file_untouched)
{
	if (!have_root())
		return;
	static uint8_t img[LF_SIZE];
	good_image(img);
	th_write_file(T.lock, img, LF_SIZE);
	cr_assert_eq(chmod(T.lock, 0600), 0);
	struct snapshot before = snap(T.lock);
	struct outcome o = run_node(NOBODY, T.lock);
	expect_says(&o, 77, T.lock, "Permission denied", "run as nobody");
	expect_no_workload("run as nobody");
	o = understudy_as(NOBODY, (const char *[]){ "status", "--lock", T.lock, NULL });
	expect_says(&o, 77, T.lock, "Permission denied", "status as nobody");
	o = understudy_as(NOBODY, (const char *[]){ "failback", "--lock", T.lock, NULL });
	expect_says(&o, 77, T.lock, "Permission denied", "failback as nobody");
	expect_unchanged(T.lock, &before, "no permission");
	/* A directory nobody may write: the file cannot be created. */
	char *inner = th_path(T.dir, "closed"), *path = th_path(inner, "g.lock");
	cr_assert_eq(mkdir(inner, 0755), 0);
	o = run_node(NOBODY, path);
	expect_says(&o, 77, path, "Permission denied", "run as nobody, creating");
	cr_expect(access(path, F_OK) < 0, "a lock file appeared in a directory nobody may write");
	free(before.bytes), free(inner), free(path);
}

static void mount_tmpfs(const char *size)
{
	T.mnt = th_path(T.dir, "mnt");
	cr_assert_eq(mkdir(T.mnt, 0755), 0);
	char opts[32];
	snprintf(opts, sizeof(opts), "size=%s", size);
	cr_assert_eq(mount("tmpfs", T.mnt, "tmpfs", 0, opts), 0, "mount tmpfs: %s", strerror(errno));
}

Test(bad_input, a_read_only_file_system_is_73_and_the_file_untouched)
{
	if (!have_root())
		return;
	mount_tmpfs("1m");
	static uint8_t img[LF_SIZE];
	good_image(img);
	char *path = th_path(T.mnt, "g.lock"), *missing = th_path(T.mnt, "new.lock");
	th_write_file(path, img, LF_SIZE);
	cr_assert_eq(mount(NULL, T.mnt, NULL, MS_REMOUNT | MS_RDONLY, NULL), 0, "remount: %s", strerror(errno));
	struct snapshot before = snap(path);
	struct outcome o = run_node((uid_t)-1, path);
	expect_says(&o, 73, path, "Read-only file system", "run, read-only");
	expect_no_workload("run, read-only");
	o = run_node((uid_t)-1, missing);
	expect_says(&o, 73, missing, "Read-only file system", "run creating, read-only");
	expect_no_workload("run creating, read-only");
	/* Looking needs no writing: status still shows the group. */
	o = understudy((const char *[]){ "status", "--lock", path, NULL });
	cr_expect_eq(o.code, 0, "status on a read-only file system: exit %d: %s", o.code, o.err);
	o = understudy((const char *[]){ "failback", "--lock", path, NULL });
	expect_says(&o, 74, path, "Read-only file system", "failback, read-only");
	expect_unchanged(path, &before, "read-only file system");
	free(before.bytes), free(path), free(missing);
}

/* One page free: the format's 8704 bytes do not fit. The file must not
 * stay half written (every node would refuse it as too short, for good):
 * it is left empty, and once there is room a node formats it and runs. */
Test(bad_input, a_full_disk_is_73_and_leaves_a_file_that_still_works)
{
	if (!have_root())
		return;
	mount_tmpfs("64k");
	char *fill = th_path(T.mnt, "fill"), *path = th_path(T.mnt, "g.lock");
	static uint8_t zeros[60 * 1024];
	th_write_file(fill, zeros, sizeof(zeros));
	struct outcome o = run_node((uid_t)-1, path);
	expect_says(&o, 73, path, "No space left on device", "run, full disk");
	expect_no_workload("run, full disk");
	struct stat st;
	cr_assert_eq(stat(path, &st), 0, "the lock file is gone: %s", strerror(errno));
	cr_expect_eq(st.st_size, 0, "a failed format left %lld bytes", (long long)st.st_size);
	o = understudy((const char *[]){ "status", "--lock", path, NULL });
	cr_expect_eq(o.code, 0, "status of the empty file: exit %d: %s", o.code, o.err);
	cr_assert_eq(unlink(fill), 0);
	o = run_node((uid_t)-1, path);
	cr_expect_eq(o.code, 0, "run with room again: exit %d: %s", o.code, o.err);
	cr_expect_eq(access(T.marker, F_OK), 0, "with room again the workload did not run");
	cr_assert_eq(stat(path, &st), 0);
	cr_expect_eq(st.st_size, LF_SIZE, "the file is %lld bytes after a good format", (long long)st.st_size);
	free(fill), free(path);
}

/* --- configuration and command line ---------------------------------------- */

static char *conf_file(const char *name, mode_t mode, const char *text)
{
	char *path = th_path(T.dir, name);
	th_write_file(path, text, strlen(text));
	cr_assert_eq(chmod(path, mode), 0);
	return path;
}

Test(bad_input, a_file_without_a_command_is_78)
{
	char *text = NULL;
	cr_assert(asprintf(&text, "[group]\nlock = %s\n[node]\nrole = primary\nname = node-a\n", T.lock) > 0);
	char *conf = conf_file("app.conf", 0640, text);
	struct outcome o = understudy((const char *[]){ "run", "--config", conf, NULL });
	expect_says(&o, 78, NULL, "no workload: give [workload] command, or the command after --", "no command");
	cr_expect(access(T.lock, F_OK) < 0, "the lock file was created");
	free(text), free(conf);
}

/* Root runs hooks: one that anyone may rewrite runs anyone's code. */
Test(bad_input, a_world_writable_hook_is_78)
{
	char *hook = conf_file("hook.sh", 0777, "#!/bin/sh\ntouch \"$0.ran\"\n");
	char *text = NULL;
	cr_assert(asprintf(&text,
			   "[group]\nlock = %s\n[node]\nrole = primary\nname = node-a\n[workload]\n"
			   "command = /usr/bin/touch %s\n[hooks]\non-live = %s\n",
			   T.lock, T.marker, hook) > 0);
	char *conf = conf_file("app.conf", 0640, text), *want = NULL;
	cr_assert(asprintf(&want, "%s:9: [hooks] on-live: '%s' is writable by every user", conf, hook) > 0);
	struct outcome o = understudy((const char *[]){ "run", "--config", conf, NULL });
	expect_says(&o, 78, NULL, want, "world-writable hook");
	expect_no_workload("world-writable hook");
	cr_expect(access(T.lock, F_OK) < 0, "the lock file was created");
	/* The same hook on the command line: the command line's fault. */
	o = understudy((const char *[]){ "run", "--lock", T.lock, "--role", "primary", "--on-live", hook, "--",
					 "/usr/bin/touch", T.marker, NULL });
	expect_says(&o, 64, hook, "is writable by every user", "world-writable hook, --on-live");
	expect_no_workload("world-writable hook, --on-live");
	free(hook), free(text), free(conf), free(want);
}

/* Options that cannot go together: 64, both named, nothing started. */
Test(bad_input, conflicting_options_are_64)
{
	static const struct {
		const char *a[4], *says;
	} bad[] = {
		{ { "--role", "backup", "--allow-failback", NULL }, "--allow-failback is for the primary" },
		{ { "--check-interval", "2s", "--role", "primary" },
		  "--check-interval (2000 ms) must not exceed --heartbeat-interval (1000 ms)" },
		{ { "--watchdog-timeout", "5s", "--role", "primary" },
		  "--watchdog-timeout is for a workload that speaks the notify protocol" },
		{ { "--fence-timeout", "1s", "--role", "primary" },
		  "--fence-timeout (1000 ms) must be at least twice --heartbeat-interval (1000 ms)" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *args[16] = { "run", "--lock", T.lock, "--name", "node-a" };
		int n = 5;
		for (int k = 0; k < 4 && bad[i].a[k]; k++)
			args[n++] = bad[i].a[k];
		args[n++] = "--";
		args[n++] = "/usr/bin/touch";
		args[n++] = T.marker;
		struct outcome o = understudy(args);
		expect_says(&o, 64, NULL, bad[i].says, bad[i].says);
		expect_no_workload(bad[i].says);
		cr_expect(access(T.lock, F_OK) < 0, "%s: the lock file was created", bad[i].says);
	}
}
