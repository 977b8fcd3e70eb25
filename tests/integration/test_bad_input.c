/* Integration suite "bad-input": the real understudy binary against every
 * bad input of the README's "Bad input" table that no other suite covers.
 *
 * For each: the exit status the README documents, a message that names
 * the path and what is wrong, the workload never started (it would create
 * a marker file), and a lock file that was not ours byte-for-byte as it
 * was, its modification time included. The inputs are real: a FIFO, a
 * directory, a symlink, another user (nobody) without permission, a tmpfs
 * mounted read-only, a tmpfs with one page free; and for what other users
 * could change (the lock file, hooks, probes, configuration files), a
 * real user made with useradd for the test, its files made by its own
 * processes.
 *
 * And what a careless operator or a hostile local user can do (issue 14):
 * a relative lock path, names and addresses carrying control characters,
 * a lock file whose names were written by someone else, the workload's
 * notify socket name taken by another user.
 *
 * Needs UNDERSTUDY_BIN and WITNESS_BIN. The mounts and the other users
 * need root; those tests skip without it. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <stddef.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"
#include "understudy/lockfile.h"

#define LIMIT_S 20 /* longer is a hang: the child is killed by its alarm */
#define NOBODY 65534

static struct {
	const char *bin, *witness;
	char *dir;       /* the lock file's directory */
	char *out;       /* writable by everyone: the marker and stderr */
	char *lock;      /* DIR/g.lock */
	char *marker;    /* created by the workload, if it ever runs */
	char *mnt;       /* a tmpfs mounted by the test */
	char *other_bin; /* a copy another user can reach, made when needed */
	char *cwd;       /* where understudy runs: an empty directory */
	char user[32];   /* a user made for the test with useradd, or "" */
	uid_t uid;
	gid_t gid;
} T;

static void setup(void)
{
	T.bin = getenv("UNDERSTUDY_BIN");
	cr_assert(T.bin && access(T.bin, X_OK) == 0, "UNDERSTUDY_BIN is not set or not executable");
	T.witness = getenv("WITNESS_BIN");
	cr_assert(T.witness && access(T.witness, X_OK) == 0, "WITNESS_BIN is not set or not executable");
	T.dir = th_tmpdir();
	/* Another user must reach the files to be refused by them. */
	cr_assert_eq(chmod(T.dir, 0755), 0);
	T.out = th_path(T.dir, "out");
	cr_assert_eq(mkdir(T.out, 0777), 0);
	cr_assert_eq(chmod(T.out, 0777), 0);
	T.lock = th_path(T.dir, "g.lock");
	T.marker = th_path(T.out, "workload-ran");
	T.mnt = NULL;
	T.other_bin = NULL;
	/* A relative path would land here: the test sees it. */
	T.cwd = th_path(T.dir, "cwd");
	cr_assert_eq(mkdir(T.cwd, 0755), 0);
	T.user[0] = '\0';
}

static int run_tool(const char *const *argv)
{
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		int n = open("/dev/null", O_WRONLY);
		if (n >= 0)
			dup2(n, 1), dup2(n, 2);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void teardown(void)
{
	if (T.mnt)
		umount2(T.mnt, MNT_DETACH);
	/* Its group, made with it, goes with it. */
	if (T.user[0])
		run_tool((const char *[]){ "/usr/sbin/userdel", T.user, NULL });
	th_rmtree(T.dir);
	free(T.dir), free(T.out), free(T.lock), free(T.marker), free(T.mnt), free(T.other_bin), free(T.cwd);
}

TestSuite(bad_input, .init = setup, .fini = teardown, .timeout = 120);

/* --- running understudy --------------------------------------------------- */

struct outcome {
	int code; /* exit status, or 128 + signal */
	char err[4096];
	char out[8192];
	double ms;
};

/* At most size - 1 bytes of path into buf, NUL-terminated; the file removed. */
static void slurp(const char *path, char *buf, size_t size)
{
	uint8_t *b;
	size_t len;
	buf[0] = '\0';
	if (th_read_file(path, &b, &len) == 0) {
		len = len < size - 1 ? len : size - 1;
		memcpy(buf, b, len);
		buf[len] = '\0';
		free(b);
	}
	unlink(path);
}

/* In a child: stdout and stderr to these files, the working directory
 * T.cwd. */
static void redirect(const char *outpath, const char *errpath)
{
	int e = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0666),
	    o = open(outpath, O_WRONLY | O_CREAT | O_TRUNC, 0666);
	if (e < 0 || o < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0 || chdir(T.cwd) < 0)
		_exit(120);
}

/* The understudy binary uid runs (-1: as we are): another user runs a
 * copy it can reach, wherever the checkout is. */
static const char *bin_for(uid_t uid)
{
	if (uid == (uid_t)-1)
		return T.bin;
	if (!T.other_bin)
		T.other_bin = th_exec_copy(T.bin, T.dir);
	return T.other_bin;
}

/* In a child: become uid (-1: stay), with the test user's group for it
 * and uid's own number as group for any other. */
static void become(uid_t uid)
{
	gid_t gid = uid == T.uid && T.user[0] ? T.gid : uid;
	if (uid != (uid_t)-1 && (setgroups(0, NULL) < 0 || setgid(gid) < 0 || setuid(uid) < 0))
		_exit(121);
}

/* understudy ARGS... as uid (-1: as we are). */
static struct outcome understudy_as(uid_t uid, const char *const *args)
{
	static struct outcome o;
	memset(&o, 0, sizeof(o));
	char *errpath = th_path(T.out, "stderr"), *outpath = th_path(T.out, "stdout");
	const char *bin = bin_for(uid);
	int64_t t0 = th_now_ns();
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		redirect(outpath, errpath);
		become(uid);
		alarm(LIMIT_S);
		const char *argv[32] = { bin };
		for (int i = 0; args[i] && i < 30; i++)
			argv[i + 1] = args[i];
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	o.ms = (double)(th_now_ns() - t0) / 1e6;
	o.code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	slurp(errpath, o.err, sizeof(o.err));
	slurp(outpath, o.out, sizeof(o.out));
	free(errpath), free(outpath);
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
	cr_assert_eq(n, (size_t)LF_FILE_SIZE);
	memcpy(img, b, LF_SIZE); /* the records: the history (1.3) is not needed here */
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

/* An ActiveMQ Artemis shared-store server.lock as a live broker leaves it:
 * 'L', the two '0' bytes it was created with, its 16-byte node id. */
static size_t make_artemis(uint8_t *img)
{
	static const uint8_t id[16] = { 0x6c, 0x1b, 0x2f, 0x5e, 0x0a, 0x3d, 0x11, 0xef,
					0x9b, 0x21, 0x02, 0x42, 0xac, 0x11, 0x00, 0x02 };
	img[0] = 'L', img[1] = '0', img[2] = '0';
	memcpy(img + 3, id, sizeof(id));
	return LF_ARTEMIS_SIZE;
}
/* Our own file cut to the same 19 bytes is no Artemis file. */
static size_t make_truncated_to_19(uint8_t *img) { return good_image(img), LF_ARTEMIS_SIZE; }

static const struct {
	const char *name;
	size_t (*make)(uint8_t *img);
	const char *says;
} damaged[] = {
	{ "an Artemis server.lock", make_artemis,
	  "an ActiveMQ Artemis shared-store server.lock (status 'L', live; node id "
	  "6c1b2f5e-0a3d-11ef-9b21-0242ac110002), not an understudy lock file: left untouched" },
	{ "truncated to 19 bytes", make_truncated_to_19, "shorter than an understudy lock file" },
	{ "truncated to 4352 bytes", make_truncated, "shorter than an understudy lock file" },
	{ "all zero", make_zeroed, "not an understudy lock file (wrong magic)" },
	{ "random bytes", make_random, "not an understudy lock file (wrong magic)" },
	{ "wrong magic", make_wrong_magic, "not an understudy lock file (wrong magic)" },
	{ "major version 2", make_major_2, "lock file format 2.3 is newer than this build speaks (1.x, up to 1.3)" },
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
	/* mode: a tmpfs root is 1777 by default, where anyone could create
	 * the group's lock file first, and every command refuses it. */
	char opts[48];
	snprintf(opts, sizeof(opts), "size=%s,mode=0755", size);
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

/* One page free: the format's 17920 bytes do not fit. The file must not
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
	cr_expect_eq(st.st_size, LF_FILE_SIZE, "the file is %lld bytes after a good format", (long long)st.st_size);
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

/* Comments are whole lines (issue 19): a ';' inside a quoted command is
 * the command's, and what looks like a trailing comment is refused rather
 * than kept in a path or cut off. */
Test(bad_input, comments_are_whole_lines_and_trailing_ones_are_refused)
{
	char *text = NULL, *want = NULL;
	cr_assert(asprintf(&text,
			   "# the group\n[group]\nlock = %s\n[node]\nrole = primary\nname = node-a\n"
			   "; the workload\n[workload]\ncommand = /bin/sh -c \"echo a ; /usr/bin/touch %s\"\n"
			   "restart = never\n",
			   T.lock, T.marker) > 0);
	char *conf = conf_file("app.conf", 0640, text);
	struct outcome o = understudy((const char *[]){ "run", "--config", conf, "--check", NULL });
	cr_expect_eq(o.code, 0, "exit %d: %s", o.code, o.err);
	cr_assert(asprintf(&want, "workload.command = /bin/sh -c 'echo a ; /usr/bin/touch %s'\n", T.marker) > 0);
	cr_expect(strstr(o.out, want), "--check printed: %s", o.out);
	free(text), free(conf), free(want);
	cr_assert(asprintf(&text,
			   "[group]\nlock = %s  # the group's file\n[node]\nrole = primary\nname = node-a\n"
			   "[workload]\ncommand = /usr/bin/touch %s\n",
			   T.lock, T.marker) > 0);
	conf = conf_file("app.conf", 0640, text);
	cr_assert(asprintf(&want,
			   "%s:2: [group] lock: '%s  # the group's file': a '#' after a blank is no comment here", conf,
			   T.lock) > 0);
	o = understudy((const char *[]){ "run", "--config", conf, NULL });
	expect_says(&o, 78, NULL, want, "a trailing comment");
	expect_no_workload("a trailing comment");
	cr_expect(access(T.lock, F_OK) < 0, "the lock file was created");
	free(text), free(conf), free(want);
}

/* Secrets (issue 19): a password in an environment-file reaches the
 * workload and nothing else: not the command line ps shows, not the log,
 * not --check. The file is held to the configuration's trust rules. */
Test(bad_input, an_environment_file_reaches_the_workload_and_nothing_else)
{
	static const char secret[] = "hunter2-5f3a";
	char *text = NULL, *env = NULL, *want = NULL, *seen = th_path(T.dir, "seen");
	cr_assert(asprintf(&env, "# the database\nDB_PASSWORD='%s'\n", secret) > 0);
	char *envf = conf_file("app.env", 0600, env);
	cr_assert(asprintf(&text,
			   "[group]\nlock = %s\n[node]\nrole = primary\nname = node-a\n[workload]\n"
			   "command = /bin/sh -c 'printf %%s \"$DB_PASSWORD\" > %s'\nenvironment-file = %s\n",
			   T.lock, seen, envf) > 0);
	char *conf = conf_file("app.conf", 0600, text);
	struct outcome o = understudy((const char *[]){ "run", "--config", conf, "--check", NULL });
	cr_expect_eq(o.code, 0, "--check: exit %d: %s", o.code, o.err);
	cr_assert(asprintf(&want, "workload.environment-file = %s\n", envf) > 0);
	cr_expect(strstr(o.out, want), "--check does not name the file: %s", o.out);
	cr_expect(!strstr(o.out, secret) && !strstr(o.err, secret), "--check showed the secret: %s%s", o.out, o.err);
	o = understudy((const char *[]){ "run", "--config", conf, "--log-level", "debug", NULL });
	cr_expect_eq(o.code, 0, "run: exit %d: %s", o.code, o.err);
	size_t len = 0;
	uint8_t *got = NULL;
	cr_expect_eq(th_read_file(seen, &got, &len), 0, "the workload wrote nothing");
	cr_expect(got && len == strlen(secret) && !memcmp(got, secret, len), "the workload saw '%.*s'", (int)len,
		  got ? (char *)got : "");
	cr_expect(!strstr(o.out, secret) && !strstr(o.err, secret), "the log showed the secret: %s", o.err);
	free(got);
	/* Others may write it: refused like the configuration, nothing run. */
	unlink(seen);
	unlink(T.lock);
	cr_assert_eq(chmod(envf, 0666), 0);
	o = understudy((const char *[]){ "run", "--config", conf, NULL });
	free(want);
	cr_assert(asprintf(&want, "%s:8: [workload] environment-file: %s: writable by every user", conf, envf) > 0);
	expect_says(&o, 78, NULL, want, "an environment file every user may write");
	cr_expect(access(seen, F_OK) < 0, "the workload ran with an environment file every user may write");
	cr_expect(access(T.lock, F_OK) < 0, "the lock file was created");
	cr_expect(!strstr(o.err, secret), "the refusal showed the secret: %s", o.err);
	free(text), free(env), free(envf), free(conf), free(want), free(seen);
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
	cr_assert(asprintf(&want,
			   "%s:9: [hooks] on-live: '%s' is writable by every user (owner root, group root, mode 0777)",
			   conf, hook) > 0);
	struct outcome o = understudy((const char *[]){ "run", "--config", conf, NULL });
	expect_says(&o, 78, NULL, want, "world-writable hook");
	expect_no_workload("world-writable hook");
	cr_expect(access(T.lock, F_OK) < 0, "the lock file was created");
	/* The same hook on the command line: the system's configuration is
	 * at fault, not the command line: 78 too. */
	o = understudy((const char *[]){ "run", "--lock", T.lock, "--role", "primary", "--on-live", hook, "--",
					 "/usr/bin/touch", T.marker, NULL });
	expect_says(&o, 78, hook, "is writable by every user", "world-writable hook, --on-live");
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

/* Durations (issue 19): "1m30s" is one, and one out of range says what
 * the range is, from every command, rather than "is not a duration". */
Test(bad_input, durations_name_their_range)
{
	static const struct {
		const char *a[8], *says;
	} bad[] = {
		{ { "run", "--stop-timeout", "0" },
		  "--stop-timeout: '0' is out of range: a duration is from 1ms to 24h" },
		{ { "run", "--fence-timeout", "25h" },
		  "--fence-timeout: '25h' is out of range: a duration is from 1ms to 24h" },
		{ { "run", "--stop-timeout", "30s1m" },
		  "--stop-timeout: '30s1m' is not a duration (like 500ms, 10s, 2m, 1m30s)" },
		{ { "run", "--stop-timeout", "1m30" }, "'1m30' is not a duration" },
		{ { "status", "--timeout", "0" }, "--timeout: '0' is out of range: a duration is from 1ms to 24h" },
		{ { "is-live", "--timeout", "0s" }, "--timeout: '0s' is out of range" },
		{ { "failback", "--timeout", "0.5ms" }, "--timeout: '0.5ms' is out of range" },
		{ { "check-storage", "--timeout", "0" }, "--timeout: '0' is out of range" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *args[16] = { NULL };
		int n = 0;
		for (int k = 0; k < 8 && bad[i].a[k]; k++)
			args[n++] = bad[i].a[k];
		if (!strcmp(args[0], "check-storage")) {
			args[n++] = T.dir;
		} else {
			args[n++] = "--lock";
			args[n++] = T.lock;
		}
		if (!strcmp(args[0], "run")) {
			args[n++] = "--role";
			args[n++] = "primary";
			args[n++] = "--";
			args[n++] = "/usr/bin/touch";
			args[n++] = T.marker;
		}
		args[n] = NULL;
		struct outcome o = understudy(args);
		expect_says(&o, 64, NULL, bad[i].says, bad[i].says);
		expect_no_workload(bad[i].says);
		cr_expect(access(T.lock, F_OK) < 0, "%s: the lock file was created", bad[i].says);
	}
	struct outcome o =
		understudy((const char *[]){ "run", "--lock", T.lock, "--role", "primary", "--stop-timeout", "1m30s",
					     "--restart-window", "1h30m", "--check", "--", "/usr/bin/true", NULL });
	cr_expect_eq(o.code, 0, "1m30s refused: %s", o.err);
	cr_expect(strstr(o.out, "workload.stop-timeout = 90s\n"), "1m30s is not 90 s: %s", o.out);
	cr_expect(strstr(o.out, "workload.restart-window = 5400s\n"), "1h30m is not 5400 s: %s", o.out);
}

/* --- a careless operator: a relative lock path ------------------------------ */

/* Under systemd the working directory is /: a relative path names a file
 * of each host's own, and every host runs the workload. */
static void expect_cwd_empty(const char *what)
{
	DIR *d = opendir(T.cwd);
	cr_assert_not_null(d);
	for (struct dirent *e; (e = readdir(d));)
		cr_expect(!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."),
			  "%s: '%s' was created in the working directory", what, e->d_name);
	closedir(d);
}

Test(bad_input, a_relative_lock_path_is_78_for_every_command)
{
	static const char *const cmds[] = { "status", "is-live", "failback", "switchover" };
	char label[96];
	struct outcome o = run_node((uid_t)-1, "g.lock");
	expect_says(&o, 78, NULL, "--lock: 'g.lock' is not an absolute path", "run --lock g.lock");
	expect_no_workload("run --lock g.lock");
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		snprintf(label, sizeof(label), "%s --lock g.lock", cmds[i]);
		o = understudy((const char *[]){ cmds[i], "--lock", "g.lock", NULL });
		expect_says(&o, 78, NULL, "--lock: 'g.lock' is not an absolute path", label);
	}
	/* The same from a file: its line named. */
	char *conf = conf_file("app.conf", 0640,
			       "[group]\nlock = g.lock\n[node]\nrole = primary\nname = node-a\n"
			       "[workload]\ncommand = /usr/bin/true\n"),
	     *want = NULL;
	cr_assert(asprintf(&want, "%s:2: [group] lock: 'g.lock' is not an absolute path", conf) > 0);
	o = understudy((const char *[]){ "run", "--config", conf, "--check", NULL });
	expect_says(&o, 78, NULL, want, "run --check, lock = g.lock");
	cr_expect(!strstr(o.out, "g.lock"), "run --check printed the settings: %s", o.out);
	o = understudy((const char *[]){ "run", "--config", conf, NULL });
	expect_says(&o, 78, NULL, want, "run, lock = g.lock");
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		snprintf(label, sizeof(label), "%s, lock = g.lock", cmds[i]);
		o = understudy((const char *[]){ cmds[i], "--config", conf, NULL });
		expect_says(&o, 78, NULL, want, label);
	}
	/* A path with a control character would forge every message that
	 * names it. */
	o = run_node((uid_t)-1, "/tmp/g\n.lock");
	expect_says(&o, 78, NULL, "--lock: '/tmp/g\\x0a.lock': \\x0a (byte 7) is not allowed in a lock path",
		    "--lock with a newline");
	expect_no_workload("--lock with a newline");
	expect_cwd_empty("a relative lock path");
	free(conf), free(want);
}

/* --- names and addresses: control characters refused where they enter ------ */

/* Only printable ASCII and line ends: nothing a terminal would act on. */
static void expect_clean(const char *text, const char *what)
{
	for (const unsigned char *p = (const unsigned char *)text; *p; p++)
		if (*p != '\n' && (*p < 0x20 || *p >= 0x7f)) {
			cr_expect(0, "%s: byte 0x%02x printed raw at %zu: %s", what, *p,
				  (size_t)(p - (const unsigned char *)text), text);
			return;
		}
}

static int count_lines(const char *text)
{
	int n = 0;
	for (; *text; text++)
		n += *text == '\n';
	return n;
}

Test(bad_input, control_characters_in_names_and_addresses_are_refused)
{
	static const struct {
		const char *opt, *value, *says;
	} bad[] = {
		{ "--address", "10.0.0.1:5672\n\033[2J", "--address: '10.0.0.1:5672\\x0a\\x1b[2J': \\x0a (byte 14)" },
		{ "--address", "\033]0;owned\007", "--address: '\\x1b]0;owned\\x07': \\x1b (byte 1)" },
		{ "--address", "h\xc3\xa9:80", "--address: 'h\\xc3\\xa9:80': \\xc3 (byte 2)" },
		{ "--address", "a b:80", "--address: 'a b:80': ' ' (byte 2)" },
		{ "--name", "node\nlive: forged", "--name: 'node\\x0alive: forged': \\x0a (byte 5)" },
		{ "--name", "a\033[2J", "--name: 'a\\x1b[2J': \\x1b (byte 2)" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *args[] = { "run",   "--lock",   T.lock,       "--role", "primary",        "--restart",
				       "never", bad[i].opt, bad[i].value, "--",     "/usr/bin/touch", T.marker,
				       NULL };
		struct outcome o = understudy(args);
		expect_says(&o, 64, NULL, bad[i].says, bad[i].says);
		expect_clean(o.err, bad[i].says);
		cr_expect_eq(count_lines(o.err), 2, "%s: %d lines: %s", bad[i].says, count_lines(o.err), o.err);
		expect_no_workload(bad[i].says);
		cr_expect(access(T.lock, F_OK) < 0, "%s: the lock file was created", bad[i].says);
	}
	/* The other commands that take a name. */
	struct outcome o = understudy((const char *[]){ "is-live", "--lock", T.lock, "--name", "a\033[2J", NULL });
	expect_says(&o, 64, NULL, "--name: 'a\\x1b[2J': \\x1b (byte 2) is not allowed in a node name",
		    "is-live --name");
	expect_clean(o.err, "is-live --name");
	o = understudy((const char *[]){ "switchover", "--lock", T.lock, "--to", "b\r\n", NULL });
	expect_says(&o, 64, NULL, "--to: 'b\\x0d\\x0a': \\x0d (byte 2)", "switchover --to");
	expect_clean(o.err, "switchover --to");
	/* From a file: 78, its line and key named. A value cannot hold a
	 * newline there, but ESC, a tab or UTF-8 it can. */
	static const struct {
		const char *line, *says;
	} in_file[] = {
		{ "address = 10.0.0.1\033[2J", ":6: [node] address: '10.0.0.1\\x1b[2J': \\x1b (byte 9)" },
		{ "address = a\tb", ":6: [node] address: 'a\\x09b': \\x09 (byte 2)" },
		{ "address = \xe2\x80\xae"
		  "08:0.0.01",
		  ":6: [node] address: '\\xe2\\x80\\xae08:0.0.01': \\xe2 (byte 1)" },
		{ "name = a\033]0;t\007", ":6: [node] name: 'a\\x1b]0;t\\x07': \\x1b (byte 2)" },
	};
	for (size_t i = 0; i < sizeof(in_file) / sizeof(in_file[0]); i++) {
		char *text = NULL;
		cr_assert(asprintf(&text,
				   "[group]\nlock = %s\n[node]\nrole = primary\nname = node-a\n%s\n"
				   "[workload]\ncommand = /usr/bin/touch %s\nrestart = never\n",
				   T.lock, in_file[i].line, T.marker) > 0);
		if (!strncmp(in_file[i].line, "name", 4)) /* the second name would be a key given twice */
			memcpy(strstr(text, "name = node-a"), "#ame", 4);
		char *conf = conf_file("bad.conf", 0640, text);
		o = understudy((const char *[]){ "run", "--config", conf, NULL });
		expect_says(&o, 78, conf, in_file[i].says, in_file[i].says);
		expect_clean(o.err, in_file[i].says);
		expect_no_workload(in_file[i].says);
		cr_expect(access(T.lock, F_OK) < 0, "%s: the lock file was created", in_file[i].says);
		free(text), free(conf);
	}
}

/* --- a hostile lock file: what others wrote is printed escaped ------------- */

/* Anyone who can write the file (a newer node, a hostile one) can put any
 * bytes in a name with a checksum that holds. */
#define EVIL_LIVE "evil\nMAINPID=1\n\033[2Jlive: forged"
#define EVIL_ADDR "\033]0;owned\007\r\nnodes:"
#define EVIL_SLOT "b\033[31m\nfake-node  primary  live  alive"
#define EVIL_REQ                                                                                                       \
	"\x9b"                                                                                                         \
	"2J\xe2\x80\xae"                                                                                               \
	"x"
#define EVIL_TARGET "t\r\n"

static void put_record(int fd, off_t at, const uint8_t *rec, size_t len)
{
	cr_assert_eq(pwrite(fd, rec, len, at), (ssize_t)len, "pwrite: %s", strerror(errno));
}

/* A group whose status is F: a live node (slot 0, the primary), a waiting
 * backup (slot 1) and a request, every name hostile; locks held by other
 * processes, as a live node and a backup would hold them. */
static void hostile_file(pid_t holders[5])
{
	static uint8_t img[LF_SIZE];
	good_image(img);
	th_write_file(T.lock, img, LF_SIZE);
	int fd = open(T.lock, O_RDWR | O_CLOEXEC);
	cr_assert(fd >= 0);
	struct lf_live live = { .epoch = 5, .heartbeat = 9, .slot = 0, .pid = 42, .heartbeat_ms = 1000 };
	strcpy(live.name, EVIL_LIVE);
	strcpy(live.address, EVIL_ADDR);
	uint8_t rec[LF_LIVE_SIZE];
	lockfile_encode_live(rec, &live);
	put_record(fd, LF_OFF_LIVE, rec, LF_LIVE_SIZE);
	struct lf_slot s = { .role = LF_ROLE_PRIMARY, .state = LF_SLOT_LIVE, .pid = 42, .seq = 1 };
	strcpy(s.name, EVIL_LIVE);
	uint8_t srec[LF_SLOT_SIZE];
	lockfile_encode_slot(srec, &s);
	put_record(fd, LF_OFF_SLOTS, srec, LF_SLOT_SIZE);
	s = (struct lf_slot){ .role = LF_ROLE_BACKUP, .state = LF_SLOT_WAITING, .pid = 43, .seq = 1, .id = { 1 } };
	strcpy(s.name, EVIL_SLOT);
	lockfile_encode_slot(srec, &s);
	put_record(fd, LF_OFF_SLOTS + LF_SLOT_SIZE, srec, LF_SLOT_SIZE);
	struct lf_request req = { .seq = 1, .kind = LF_REQ_SWITCHOVER, .target_slot = 1, .requester_pid = 7 };
	strcpy(req.target_name, EVIL_TARGET);
	strcpy(req.requester, EVIL_REQ);
	uint8_t rrec[LF_REQUEST_SIZE];
	lockfile_encode_request(rrec, &req);
	put_record(fd, LF_OFF_REQUEST, rrec, LF_REQUEST_SIZE);
	put_record(fd, LF_OFF_STATUS, (const uint8_t *)"F", 1);
	close(fd);
	holders[0] = th_hold_lock(T.lock, LF_OFF_LIVE_LOCK);
	holders[1] = th_hold_lock(T.lock, LF_OFF_BACKUP_LOCK);
	holders[2] = th_hold_lock(T.lock, lockfile_slot_lock_offset(0));
	holders[3] = th_hold_lock(T.lock, lockfile_slot_lock_offset(1));
	holders[4] = 0;
}

static void release(pid_t *holders, int n)
{
	for (int i = 0; i < n; i++)
		th_kill(holders[i]);
}

/* Every line of a status --watch starts with its time: none was forged. */
static void expect_watch_lines(const char *text, const char *what)
{
	int n = 0;
	for (const char *line = text; *line; n++) {
		cr_expect(strlen(line) > 24 && line[4] == '-' && line[10] == 'T' && line[19] == '.',
			  "%s: line %d does not start with a time: %.80s", what, n + 1, line);
		const char *nl = strchr(line, '\n');
		if (!nl)
			break;
		line = nl + 1;
	}
}

Test(bad_input, names_in_a_hostile_lock_file_are_printed_escaped)
{
	pid_t holders[5];
	hostile_file(holders);
	struct outcome o = understudy((const char *[]){ "status", "--lock", T.lock, NULL });
	cr_expect_eq(o.code, 0, "status: exit %d: %s", o.code, o.err);
	expect_clean(o.out, "status");
	/* group, live, request, nodes:, two nodes */
	cr_expect_eq(count_lines(o.out), 6, "status printed %d lines, want 6: %s", count_lines(o.out), o.out);
	cr_expect(strstr(o.out, "live: evil\\x0aMAINPID=1\\x0a\\x1b[2Jlive:\\x20forged at "
				"\\x1b]0;owned\\x07\\x0d\\x0anodes:, pid 42"),
		  "status: the live node is not shown escaped: %s", o.out);
	cr_expect(strstr(o.out, "request: switchover to t\\x0d\\x0a, asked by \\x9b2J\\xe2\\x80\\xaex"),
		  "status: the request is not shown escaped: %s", o.out);
	o = understudy((const char *[]){ "status", "--lock", T.lock, "--json", NULL });
	cr_expect_eq(o.code, 0, "status --json: exit %d: %s", o.code, o.err);
	expect_clean(o.out, "status --json");
	cr_expect(strstr(o.out, "\"requester\":\"\\u009b2J\\u00e2\\u0080\\u00aex\""),
		  "status --json: the requester's bytes are not escaped: %s", o.out);
	cr_expect_eq(count_lines(o.out), 1, "status --json printed %d lines: %s", count_lines(o.out), o.out);

	o = understudy((const char *[]){ "is-live", "--lock", T.lock, "--name", "node-a", NULL });
	cr_expect_eq(o.code, 1, "is-live: exit %d: %s", o.code, o.err);
	expect_clean(o.err, "is-live");
	cr_expect(strstr(o.err, "evil\\x0aMAINPID=1\\x0a\\x1b[2Jlive:\\x20forged is the live node, not node-a"),
		  "is-live: %s", o.err);
	cr_expect_eq(count_lines(o.err), 1, "is-live: %d lines: %s", count_lines(o.err), o.err);

	/* The primary is the live node: failback names it. */
	o = understudy((const char *[]){ "failback", "--lock", T.lock, NULL });
	cr_expect_eq(o.code, 0, "failback: exit %d: %s", o.code, o.err);
	expect_clean(o.err, "failback");
	cr_expect(strstr(o.err, "evil\\x0aMAINPID=1\\x0a\\x1b[2Jlive:\\x20forged is already the live node"),
		  "failback: %s", o.err);
	cr_expect_eq(count_lines(o.err), 1, "failback: %d lines: %s", count_lines(o.err), o.err);

	/* A backup waits (the backup lock is held): switchover asks, and
	 * names the live node. Last: it writes a request. */
	o = understudy((const char *[]){ "switchover", "--lock", T.lock, NULL });
	cr_expect_eq(o.code, 0, "switchover: exit %d: %s", o.code, o.err);
	expect_clean(o.out, "switchover");
	cr_expect(strstr(o.out, "switchover requested: evil\\x0aMAINPID=1\\x0a\\x1b[2Jlive:\\x20forged hands over to "
				"the waiting backup"),
		  "switchover: %s", o.out);
	cr_expect_eq(count_lines(o.out), 1, "switchover: %d lines: %s", count_lines(o.out), o.out);
	release(holders, 4);
}

/* The history (format 1.3) comes from whoever could write the file, like
 * every record: its names are escaped, an entry torn, damaged or out of
 * place is skipped and counted, and reading it writes nothing. */
Test(bad_input, a_hostile_or_damaged_history_is_shown_escaped_and_skipped)
{
	static uint8_t img[LF_FILE_SIZE];
	good_image(img);
	static const char *const from[] = { EVIL_LIVE, EVIL_SLOT, "node-a" };
	static const char *const to[] = { EVIL_ADDR, "", EVIL_REQ };
	for (int i = 0; i < 5; i++) {
		struct lf_event e = { .seq = (uint64_t)i + 1,
				      .time_us = 1795000000000000 + i * 1000000LL,
				      .epoch = (uint64_t)i + 1,
				      .reason = (uint8_t)(i < 3 ? LF_EV_FAILOVER : LF_EV_PAUSE),
				      .writer = LF_EV_BY_TO,
				      .from_slot = 0,
				      .to_slot = 1,
				      .pid = 42 };
		strcpy(e.from, from[i % 3]);
		strcpy(e.to, to[i % 3]);
		lockfile_encode_event(img + LF_OFF_HISTORY + i * LF_EVENT_SIZE, &e);
	}
	img[LF_OFF_HISTORY + 3 * LF_EVENT_SIZE + 77] ^= 0x40; /* entry 4 torn */
	/* entry 5 copied into the place of entry 7, sealed: out of place */
	memcpy(img + LF_OFF_HISTORY + 6 * LF_EVENT_SIZE, img + LF_OFF_HISTORY + 4 * LF_EVENT_SIZE, LF_EVENT_SIZE);
	memset(img + LF_OFF_HISTORY + 4 * LF_EVENT_SIZE, 0, LF_EVENT_SIZE);
	th_write_file(T.lock, img, LF_FILE_SIZE);
	struct snapshot before = snap(T.lock);

	struct outcome o = understudy((const char *[]){ "status", "--lock", T.lock, "--history", NULL });
	cr_expect_eq(o.code, 0, "status --history: exit %d: %s", o.code, o.err);
	expect_clean(o.out, "status --history");
	/* three entries and the count of the skipped ones, no line more */
	cr_expect_eq(count_lines(o.out), 4, "status --history printed %d lines, want 4: %s", count_lines(o.out), o.out);
	cr_expect(strstr(o.out, " failover seq=1 epoch=1 from=evil\\x0aMAINPID=1\\x0a\\x1b[2Jlive:\\x20forged "
				"to=\\x1b]0;owned\\x07\\x0d\\x0anodes: by=\\x1b]0;owned\\x07\\x0d\\x0anodes: pid=42\n"),
		  "status --history: entry 1 is not shown escaped: %s", o.out);
	cr_expect(strstr(o.out, " failover seq=2 epoch=2 from=b\\x1b[31m\\x0afake-node\\x20\\x20primary"),
		  "status --history: entry 2 is not shown escaped: %s", o.out);
	cr_expect(strstr(o.out, "(2 damaged entries skipped)\n"), "the damaged entries are not counted: %s", o.out);
	cr_expect(!strstr(o.out, "seq=4") && !strstr(o.out, "seq=5"), "a damaged entry was shown: %s", o.out);

	o = understudy((const char *[]){ "status", "--lock", T.lock, "--history", "--json", NULL });
	cr_expect_eq(o.code, 0, "status --history --json: exit %d: %s", o.code, o.err);
	expect_clean(o.out, "status --history --json");
	cr_expect_eq(count_lines(o.out), 1, "status --history --json printed %d lines: %s", count_lines(o.out), o.out);
	cr_expect(strstr(o.out, "\"to\":\"\\u009b2J\\u00e2\\u0080\\u00aex\""),
		  "status --history --json: a name's bytes are not escaped: %s", o.out);
	cr_expect(strstr(o.out, "\"from\":\"evil\\u000aMAINPID=1\\u000a\\u001b[2Jlive: forged\""),
		  "status --history --json: a name's bytes are not escaped: %s", o.out);
	expect_unchanged(T.lock, &before, "status --history");

	/* With --watch it makes no sense: 64, nothing read. */
	o = understudy((const char *[]){ "status", "--lock", T.lock, "--history", "--watch", NULL });
	expect_says(&o, 64, NULL, "--history and --watch do not go together", "status --history --watch");
	expect_unchanged(T.lock, &before, "status --history --watch");
	free(before.bytes);
}

/* understudy in the background as uid (-1: as we are), stdout and stderr
 * into files of T.out. */
static pid_t spawn_as(uid_t uid, const char *tag, const char *const *args, const char *notify)
{
	char *outpath = NULL, *errpath = NULL;
	cr_assert(asprintf(&outpath, "%s/%s.out", T.out, tag) > 0 && asprintf(&errpath, "%s/%s.err", T.out, tag) > 0);
	const char *bin = bin_for(uid);
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		redirect(outpath, errpath);
		if (notify)
			setenv("NOTIFY_SOCKET", notify, 1);
		else
			unsetenv("NOTIFY_SOCKET");
		become(uid);
		alarm(LIMIT_S);
		const char *argv[40] = { bin };
		for (int i = 0; args[i] && i < 38; i++)
			argv[i + 1] = args[i];
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	free(outpath), free(errpath);
	return pid;
}

static pid_t spawn(const char *tag, const char *const *args, const char *notify)
{
	return spawn_as((uid_t)-1, tag, args, notify);
}

/* SIGTERM, reaped; what it printed. */
static int finish(pid_t pid, const char *tag, char *out, size_t nout, char *err, size_t nerr)
{
	kill(pid, SIGTERM);
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	char *outpath = NULL, *errpath = NULL;
	cr_assert(asprintf(&outpath, "%s/%s.out", T.out, tag) > 0 && asprintf(&errpath, "%s/%s.err", T.out, tag) > 0);
	slurp(outpath, out, nout);
	slurp(errpath, err, nerr);
	free(outpath), free(errpath);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

Test(bad_input, status_watch_prints_hostile_names_escaped)
{
	pid_t holders[5];
	hostile_file(holders);
	pid_t w = spawn("watch", (const char *[]){ "status", "--lock", T.lock, "--watch", "--interval", "20ms", NULL },
			NULL);
	sleep_ms(400);
	/* A new live node and a node joining, both named by someone else. */
	int fd = open(T.lock, O_RDWR | O_CLOEXEC);
	cr_assert(fd >= 0);
	struct lf_live live = { .epoch = 6, .heartbeat = 1, .slot = 2, .pid = 44, .heartbeat_ms = 1000 };
	strcpy(live.name, EVIL_SLOT);
	strcpy(live.address, EVIL_ADDR);
	uint8_t rec[LF_LIVE_SIZE];
	lockfile_encode_live(rec, &live);
	struct lf_slot s = { .role = LF_ROLE_BACKUP, .state = LF_SLOT_LIVE, .pid = 44, .seq = 1, .id = { 2 } };
	strcpy(s.name, EVIL_SLOT);
	uint8_t srec[LF_SLOT_SIZE];
	lockfile_encode_slot(srec, &s);
	put_record(fd, LF_OFF_SLOTS + 2 * LF_SLOT_SIZE, srec, LF_SLOT_SIZE);
	holders[4] = th_hold_lock(T.lock, lockfile_slot_lock_offset(2));
	put_record(fd, LF_OFF_LIVE, rec, LF_LIVE_SIZE);
	put_record(fd, LF_OFF_STATUS, (const uint8_t *)"L", 1);
	close(fd);
	sleep_ms(600);
	static char out[8192], err[4096];
	finish(w, "watch", out, sizeof(out), err, sizeof(err));
	cr_log_info("status --watch printed: %s", out);
	expect_clean(out, "status --watch");
	expect_clean(err, "status --watch, stderr");
	/* The first look (6 lines), then one event per line. */
	const char *events = out;
	for (int i = 0; i < 6 && events; i++)
		events = strchr(events, '\n') ? strchr(events, '\n') + 1 : NULL;
	cr_expect(events && *events, "status --watch printed no event: %s", out);
	if (!events)
		events = "";
	expect_watch_lines(events, "status --watch");
	cr_expect(strstr(events, " live node=b\\x1b[31m\\x0afake-node\\x20\\x20primary\\x20\\x20live\\x20\\x20alive "
				 "address=\\x1b]0;owned\\x07\\x0d\\x0anodes: epoch=6"),
		  "status --watch: the live event is not escaped: %s", events);
	cr_expect(strstr(events, " join node=b\\x1b[31m\\x0afake-node"), "status --watch: no escaped join event: %s",
		  events);
	release(holders, 5);
}

/* A datagram socket standing in for systemd's NOTIFY_SOCKET. */
static int notify_listener(const char *path)
{
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	cr_assert(fd >= 0 && strlen(path) < sizeof(sa.sun_path));
	strcpy(sa.sun_path, path);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "bind %s: %s", path, strerror(errno));
	return fd;
}

/* Every datagram for up to ms, or until one contains want; each must be
 * clean, and each of its lines one the manager writes. Returns whether
 * want was seen. */
static bool notes_until(int fd, const char *want, int ms, const char *what)
{
	bool seen = false;
	int64_t until = th_now_ns() + (int64_t)ms * 1000000;
	while (!seen && th_now_ns() < until) {
		char buf[4096];
		struct timeval tv = { 0, 100000 };
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		cr_log_info("%s: notify: %s", what, buf);
		expect_clean(buf, what);
		for (char *save, *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			cr_expect(!strncmp(line, "STATUS=", 7) || !strcmp(line, "READY=1") ||
					  !strcmp(line, "STOPPING=1") || !strcmp(line, "WATCHDOG=1"),
				  "%s: a line the manager never writes reached systemd: %s", what, line);
			seen = seen || strstr(line, want);
		}
	}
	return seen;
}

/* The STATUS= line systemd shows carries the live node's name from the
 * file and the workload's own STATUS=: neither may add a line to the
 * datagram (MAINPID=, READY=1) or reach `systemctl status` raw. */
Test(bad_input, status_sent_to_systemd_is_escaped)
{
	pid_t holders[5];
	hostile_file(holders);
	char *sock = th_path(T.out, "notify.sock");
	int fd = notify_listener(sock);
	pid_t b = spawn("backup",
			(const char *[]){ "run", "--lock", T.lock, "--role", "backup", "--name", "node-b", "--",
					  "/usr/bin/touch", T.marker, NULL },
			sock);
	bool seen = notes_until(fd, "waiting behind evil\\x0aMAINPID=1\\x0a\\x1b[2Jlive:\\x20forged", 8000,
				"a backup behind a hostile live");
	static char out[8192], err[8192];
	finish(b, "backup", out, sizeof(out), err, sizeof(err));
	cr_expect(seen, "the backup never said whom it waits behind, escaped: %s", err);
	expect_no_workload("a backup behind a hostile live");
	release(holders, 4);

	/* A workload's STATUS= with an escape sequence and UTF-8. */
	char *lock = th_path(T.dir, "w.lock"), *wlog = th_path(T.out, "witness.log"),
	     *wlock = th_path(T.out, "witness.lock");
	pid_t a = spawn("primary",
			(const char *[]){ "run", "--lock", lock, "--role", "primary", "--name", "node-a", "--ready",
					  "notify", "--", T.witness, wlog, wlock, "--ready-notify", "--status",
					  "\033[2J\033]0;owned\007serving \xc3\xa9\x9b", NULL },
			sock);
	seen = notes_until(fd, "workload pid", 8000, "a workload's STATUS=");
	cr_expect(seen, "the primary never said it is live");
	seen = notes_until(fd, "\\x1b[2J\\x1b]0;owned\\x07serving \\xc3\\xa9\\x9b", 3000, "a workload's STATUS=");
	finish(a, "primary", out, sizeof(out), err, sizeof(err));
	cr_expect(seen, "the workload's STATUS= did not reach systemd escaped: %s", err);
	close(fd);
	free(sock), free(lock), free(wlog), free(wlock);
}

/* --- a hostile local user: the notify socket ------------------------------- */

#define GUESSES 3000 /* pids the other user binds names for */

/* A process of uid and gid with room for files more descriptors, gone
 * with the test: it runs fn(arg, said), tells the test said, and holds
 * on to what it made. Returns its pid once it has told. */
static pid_t holder_as(uid_t uid, gid_t gid, long files, void (*fn)(const void *arg, long said[2]), const void *arg,
		       long said[2])
{
	int pfd[2];
	cr_assert(pipe(pfd) == 0);
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		close(pfd[0]);
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* gone with the test, whatever happens */
		struct rlimit rl = { (rlim_t)files + 64, (rlim_t)files + 64 };
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0 || setgroups(0, NULL) < 0 || setgid(gid) < 0 || setuid(uid) < 0)
			_exit(1);
		long out[2] = { 0, 0 };
		fn(arg, out);
		if (write(pfd[1], out, sizeof(out)) != (ssize_t)sizeof(out))
			_exit(1);
		for (;;)
			pause();
	}
	close(pfd[1]);
	cr_assert_eq(read(pfd[0], said, 2 * sizeof(long)), (ssize_t)(2 * sizeof(long)), "the other user did not start");
	close(pfd[0]);
	return pid;
}

/* said[0]: how many of the GUESSES names from range[0] (range[1]: pid_max)
 * it bound. */
static void bind_names(const void *arg, long said[2])
{
	const long *range = arg;
	for (long i = 0; i < GUESSES; i++) {
		/* Past the last pid the kernel goes on from 300. */
		long p = range[0] + i >= range[1] ? 300 + (range[0] + i - range[1]) : range[0] + i;
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		int n = snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1, "understudy/%ld/notify", p);
		int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
		if (fd >= 0 && bind(fd, (struct sockaddr *)&sa,
				    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n)) == 0)
			said[0]++;
	}
}

/* Another user binds the notify socket names of the next GUESSES pids, as
 * understudy once named them, and waits. Returns its pid once bound. */
static pid_t squatter(long first, long pid_max)
{
	long range[2] = { first, pid_max }, said[2];
	pid_t pid = holder_as(NOBODY, NOBODY, GUESSES, bind_names, range, said);
	cr_log_info("the other user bound %ld notify socket names of %d", said[0], GUESSES);
	cr_assert_gt(said[0], GUESSES - 50, "the other user bound only %ld names", said[0]);
	return pid;
}

static long read_long(const char *path)
{
	char *text = th_read_text(path);
	long v = atol(text);
	free(text);
	return v;
}

Test(bad_input, a_notify_socket_name_taken_by_another_user_does_not_stop_run)
{
	if (!have_root())
		return;
	long first = read_long("/proc/sys/kernel/ns_last_pid") + 1, pid_max = read_long("/proc/sys/kernel/pid_max");
	cr_assert(first > 1 && pid_max > 1000);
	pid_t other = squatter(first, pid_max);
	char *wlog = th_path(T.out, "witness.log"), *wlock = th_path(T.out, "witness.lock");
	pid_t a = spawn("primary",
			(const char *[]){ "run", "--lock", T.lock, "--role", "primary", "--name", "node-a", "--ready",
					  "notify", "--ready-timeout", "10s", "--", T.witness, wlog, wlock,
					  "--ready-notify", NULL },
			NULL);
	/* Only a manager whose pid the other user guessed shows anything. */
	long offset = a >= first ? a - first : a - 300 + pid_max - first;
	cr_assert(offset >= 0 && offset < GUESSES, "the manager's pid %ld fell outside the %d names bound from %ld",
		  (long)a, GUESSES, first);
	int code = -1;
	int64_t t0 = th_now_ns();
	bool ready = false, exited = false;
	while (!ready && !exited && th_now_ns() - t0 < 10 * 1000000000LL) {
		int st;
		if (waitpid(a, &st, WNOHANG) == a) {
			exited = true;
			code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
			break;
		}
		struct outcome o = understudy(
			(const char *[]){ "is-live", "--lock", T.lock, "--name", "node-a", "--quiet", NULL });
		ready = o.code == 0;
		if (!ready)
			sleep_ms(50);
	}
	double ms = (double)(th_now_ns() - t0) / 1e6;
	static char out[4096], err[8192];
	if (!exited) {
		code = finish(a, "primary", out, sizeof(out), err, sizeof(err));
	} else {
		char *errpath = th_path(T.out, "primary.err");
		slurp(errpath, err, sizeof(err));
		free(errpath);
	}
	th_kill(other);
	cr_log_info("run --ready notify (pid %ld, its old socket name taken): %s after %.0f ms", (long)a,
		    ready    ? "ready"
		    : exited ? "exited"
			     : "not ready",
		    ms);
	cr_expect(!exited, "run --ready notify exited %d: %s", code, err);
	cr_expect(ready, "the workload never became ready: %s", err);
	char *log = th_read_text(wlog);
	cr_expect(strstr(log, "ready node-a"), "the witness never said ready: %s", log);
	free(log), free(wlog), free(wlock);
}

/* --- a user out of inotify instances ------------------------------------------ */

static bool other_user(void);

/* said: how many inotify instances it took before the kernel refused
 * one, and the errno of the refusal. */
static void take_instances(const void *arg, long said[2])
{
	(void)arg;
	while (inotify_init1(IN_CLOEXEC) >= 0)
		said[0]++;
	said[1] = errno;
}

/* As the other user: inotify instances until the kernel refuses one (its
 * fs.inotify.max_user_instances, 128 by default), held. Returns its pid
 * once it holds them; *n: how many. */
static pid_t instance_hog(long max, long *n)
{
	long said[2];
	pid_t pid = holder_as(T.uid, T.gid, max, take_instances, NULL, said);
	cr_assert_eq(said[1], EMFILE, "the other user's inotify_init1 failed with %s, not EMFILE",
		     strerror((int)said[1]));
	*n = said[0];
	return pid;
}

/* Whether tag's stderr (T.out/TAG.err) has what, within ms. */
static bool err_has(const char *tag, const char *what, int ms)
{
	char *path = NULL;
	cr_assert(asprintf(&path, "%s/%s.err", T.out, tag) > 0);
	int64_t until = th_now_ns() + (int64_t)ms * 1000000;
	bool found = false;
	for (;;) {
		char *text = th_read_text(path); /* not slurp: the file stays */
		found = strstr(text, what) != NULL;
		free(text);
		if (found || th_now_ns() > until)
			break;
		sleep_ms(20);
	}
	free(path);
	return found;
}

/* Operators who run many groups under one user run out of inotify
 * instances (fs.inotify.max_user_instances): a live node then cannot
 * watch its lock file for writes, nor a node its path. Nothing else
 * depends on them: the node says so once, takes and keeps the role, and a
 * switchover waits for the live node's next check instead of being seen
 * when it is written. The user's instances all held by another of its
 * processes here. */
Test(bad_input, a_user_out_of_inotify_instances_still_hands_over_at_the_check)
{
	if (!other_user())
		return;
	long max = read_long("/proc/sys/fs/inotify/max_user_instances");
	if (max > 65536) {
		cr_log_info("fs.inotify.max_user_instances is %ld: too many to use up here; skipped", max);
		return;
	}
	char *dir = th_path(T.dir, "theirs");
	cr_assert_eq(mkdir(dir, 0755), 0);
	cr_assert_eq(chown(dir, T.uid, T.gid), 0);
	char *lock = th_path(dir, "g.lock");
	long held = 0;
	pid_t hog = instance_hog(max, &held);
	cr_log_info("the other user holds %ld inotify instances (fs.inotify.max_user_instances %ld)", held, max);
	const char *run[] = { "run",    "--lock",           lock, "--role", "primary",    "--name",
			      "node-a", "--check-interval", "1s", "--",     "/bin/sleep", "1000",
			      NULL };
	pid_t a = spawn_as(T.uid, "node-a", run, NULL);
	cr_expect(err_has("node-a", "starting -> live", 10000), "node-a did not become live");
	run[4] = "backup", run[6] = "node-b";
	pid_t b = spawn_as(T.uid, "node-b", run, NULL);
	cr_expect(err_has("node-b", "holding the backup lock", 10000), "node-b does not wait as the backup");
	cr_expect(err_has("node-a", "watching the file for writes", 2000) &&
			  err_has("node-a", "fs.inotify.max_user_instances", 0),
		  "node-a did not say it cannot watch the file for writes, nor which limit");
	int64_t t0 = th_now_ns();
	struct outcome o = understudy_as(T.uid, (const char *[]){ "switchover", "--lock", lock, NULL });
	cr_expect_eq(o.code, 0, "switchover exited %d: %s", o.code, o.err);
	bool moved = err_has("node-b", "backup -> starting", 1000 + 5000);
	double ms = (double)(th_now_ns() - t0) / 1e6;
	cr_log_info("switchover without the watch on writes: node-b took over %.0f ms after the request "
		    "(--check-interval 1s)",
		    ms);
	cr_expect(moved, "node-b did not take over within the check interval and the bound");
	static char out[4096], err[16384];
	int ca = finish(a, "node-a", out, sizeof(out), err, sizeof(err));
	cr_log_info("node-a's stderr: %s", err);
	cr_expect(ca == 0, "node-a exited %d", ca);
	int cb = finish(b, "node-b", out, sizeof(out), err, sizeof(err));
	cr_log_info("node-b's stderr: %s", err);
	cr_expect(cb == 0, "node-b exited %d", cb);
	th_kill(hog);
	free(lock), free(dir);
}

/* --- what other users could change ------------------------------------------- *
 *
 * The manager runs as root; a lock file, hook, probe or configuration
 * file that another user could write, replace or (a lock file) read is
 * refused, before anything touches it. The other user is real: made
 * with useradd for the test, its files made by its own processes. */

/* A user of our own for the test (removed by the fixture), with its own
 * group; needs root. */
static bool other_user(void)
{
	if (!have_root())
		return false;
	snprintf(T.user, sizeof(T.user), "ustrust%d", (int)getpid());
	int r = run_tool((const char *[]){ "/usr/sbin/useradd", "--system", "--user-group", "--no-create-home",
					   "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", T.user,
					   NULL });
	if (r != 0) {
		T.user[0] = '\0';
		cr_assert_fail("useradd exited %d", r);
	}
	struct passwd *pw = getpwnam(T.user);
	cr_assert_not_null(pw, "useradd made no %s", T.user);
	T.uid = pw->pw_uid;
	T.gid = pw->pw_gid;
	cr_assert_neq(T.uid, 0);
	return true;
}

/* Run fn(arg) as the other user, in a process of its own; it must
 * return 0. */
static void as_other(int (*fn)(void *), void *arg)
{
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		umask(0);
		if (setgroups(0, NULL) < 0 || setgid(T.gid) < 0 || setuid(T.uid) < 0)
			_exit(121);
		_exit(fn(arg) == 0 ? 0 : 1);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "as %s: failed (%d)", T.user, st);
}

static int create_0666(void *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0666);
	return fd >= 0 ? close(fd) : -1;
}

/* A good lock file at path, mode and owner as given. */
static void lock_file(const char *path, mode_t mode, uid_t uid, gid_t gid)
{
	static uint8_t img[LF_SIZE];
	good_image(img);
	th_write_file(path, img, LF_SIZE);
	cr_assert_eq(chmod(path, mode), 0);
	cr_assert_eq(chown(path, uid, gid), 0);
}

static void expect_all_refuse(const char *path, const char *says, const char *what)
{
	refused_by_every_command(path, NULL, 77, says, what);
}

/* Issue 14's first finding. In a sticky directory every user may write
 * (like /tmp), another user made the group's file first: empty, mode
 * 0666. A node used to format it and adopt it, and that user could then
 * write the status byte at will. Refused now, byte for byte untouched;
 * and since anyone could take the name first, the directory is refused
 * for a lock file even when the file is root's own. */
Test(bad_input, a_lock_file_another_user_made_in_a_sticky_directory_is_refused_untouched)
{
	if (!other_user())
		return;
	char *sticky = th_path(T.dir, "shared"), *path = th_path(sticky, "app.lock");
	cr_assert_eq(mkdir(sticky, 0755), 0);
	cr_assert_eq(chmod(sticky, 01777), 0);
	as_other(create_0666, path);
	char *says = NULL;
	cr_assert(asprintf(&says, "owned by %s (group %s, mode 0666)", T.user, T.user) > 0);
	expect_all_refuse(path, says, "another user's empty 0666 file in a sticky directory");
	struct stat st;
	cr_assert_eq(stat(path, &st), 0);
	cr_expect_eq(st.st_size, 0, "the file was formatted: %lld bytes", (long long)st.st_size);
	/* Root's own file there: the directory is what is wrong. */
	char *own = th_path(sticky, "root.lock");
	lock_file(own, 0600, 0, 0);
	expect_all_refuse(own, "could create the group's lock file before the first node does", "root's file, sticky");
	free(sticky), free(path), free(says), free(own);
}

/* Read access is enough: another user's OFD read lock on the record-lock
 * byte fences the live node, one on the live-lock byte holds off every
 * takeover. The test shows the lock is granted to that user, then that
 * every command refuses the file. */
static int read_lock_record_byte(void *path)
{
	int fd = open(path, O_RDONLY);
	struct flock fl = { .l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = LF_OFF_RECORD_LOCK, .l_len = 1 };
	return fd >= 0 && fcntl(fd, F_OFD_SETLK, &fl) == 0 ? 0 : -1;
}

Test(bad_input, a_lock_file_others_may_read_is_refused_with_the_reason)
{
	if (!other_user())
		return;
	lock_file(T.lock, 0644, 0, 0);
	as_other(read_lock_record_byte, T.lock);
	expect_all_refuse(T.lock,
			  "every user may read the group's lock file, and a read lock is enough to stop the group",
			  "a 0644 lock file");
	struct outcome o = run_node((uid_t)-1, T.lock);
	expect_says(&o, 77, T.lock, "one on the record-lock byte fences the live node", "0644: run");
	expect_says(&o, 77, T.lock, "mode 0644 (owner root, group root)", "0644: run");
}

/* Group access is for the group's designated group only: the manager's
 * group, or the one lock-owner names. */
Test(bad_input, a_lock_file_writable_by_a_group_not_designated_is_refused)
{
	if (!other_user())
		return;
	lock_file(T.lock, 0660, 0, T.gid);
	char *says = NULL, *owner = NULL;
	cr_assert(asprintf(&says, "the members of group %s may write the group's lock file", T.user) > 0);
	expect_all_refuse(T.lock, says, "group-writable by another group");
	/* Named as the designated group, it is the operator's choice. */
	cr_assert(asprintf(&owner, "root:%s", T.user) > 0);
	struct outcome o = understudy((const char *[]){ "status", "--lock", T.lock, "--lock-owner", owner, NULL });
	cr_expect_eq(o.code, 0, "status --lock-owner %s: %d: %s", owner, o.code, o.err);
	free(says), free(owner);
}

/* A directory others may write (not sticky): anyone could mv -f their own
 * file over the group's. Refused, as is one writable by a group that is
 * not the designated one. */
static int replace_lock(void *path)
{
	char mine[512];
	snprintf(mine, sizeof(mine), "%s.mine", (const char *)path);
	return create_0666(mine) == 0 && rename(mine, path) == 0 ? 0 : -1;
}

Test(bad_input, a_directory_others_may_write_is_refused)
{
	if (!other_user())
		return;
	char *open_dir = th_path(T.dir, "open"), *path = th_path(open_dir, "g.lock");
	cr_assert_eq(mkdir(open_dir, 0755), 0);
	cr_assert_eq(chmod(open_dir, 0777), 0);
	lock_file(path, 0600, 0, 0);
	expect_all_refuse(path, "lets every user replace the lock file (mv -f over it)", "a 0777 directory");
	/* What that means: the other user can replace the file. */
	as_other(replace_lock, path);
	struct stat st;
	cr_assert_eq(stat(path, &st), 0);
	cr_expect_eq(st.st_uid, T.uid, "the other user could not replace the file");
	unlink(path);
	lock_file(path, 0600, 0, 0);
	cr_assert_eq(chmod(open_dir, 0770), 0);
	cr_assert_eq(chown(open_dir, 0, T.gid), 0);
	char *says = NULL;
	cr_assert(asprintf(&says, "lets the members of group %s replace the lock file", T.user) > 0);
	expect_all_refuse(path, says, "a directory writable by another group");
	free(open_dir), free(path), free(says);
}

/* Storage that maps root to another user (NFS root squash): the file and
 * its directory are that user's. Refused without a word from the
 * operator, with a message that says how to give one; accepted with
 * lock-owner. */
Test(bad_input, lock_owner_accepts_a_file_that_user_owns)
{
	if (!other_user())
		return;
	char *dir = th_path(T.dir, "squashed"), *path = th_path(dir, "g.lock");
	cr_assert_eq(mkdir(dir, 0755), 0);
	cr_assert_eq(chown(dir, T.uid, T.gid), 0);
	lock_file(path, 0660, T.uid, T.gid);
	char *says = NULL;
	cr_assert(asprintf(&says, "owned by %s (group %s, mode 0660)", T.user, T.user) > 0);
	struct outcome o = run_node((uid_t)-1, path);
	expect_says(&o, 77, path, says, "squashed, no lock-owner");
	expect_says(&o, 77, path, "name that user with lock-owner = USER[:GROUP]", "squashed, no lock-owner");
	expect_no_workload("squashed, no lock-owner");
	o = understudy_as((uid_t)-1, (const char *[]){ "run", "--lock", path, "--lock-owner", T.user, "--role",
						       "primary", "--name", "node-a", "--restart", "never", "--",
						       "/usr/bin/touch", T.marker, NULL });
	cr_expect_eq(o.code, 0, "run --lock-owner %s: exit %d: %s", T.user, o.code, o.err);
	cr_expect_eq(access(T.marker, F_OK), 0, "with lock-owner the workload did not run");
	o = understudy((const char *[]){ "status", "--lock", path, "--lock-owner", T.user, NULL });
	cr_expect_eq(o.code, 0, "status --lock-owner: %d: %s", o.code, o.err);
	o = understudy((const char *[]){ "is-live", "--lock", path, "--lock-owner", T.user, "--name", "node-a", NULL });
	cr_expect_eq(o.code, 1, "is-live --lock-owner of a paused group: %d: %s", o.code, o.err);
	o = understudy((const char *[]){ "is-live", "--lock", path, "--name", "node-a", NULL });
	cr_expect_eq(o.code, 2, "is-live without lock-owner: %d, want 2 (cannot tell): %s", o.code, o.err);
	struct stat st;
	cr_assert_eq(stat(path, &st), 0);
	cr_expect(st.st_uid == T.uid && (st.st_mode & 07777) == 0660, "the file changed hands or mode");
	free(dir), free(path), free(says);
}

static int write_script(void *arg)
{
	const char *const *a = arg; /* path, text */
	FILE *f = fopen(a[0], "w");
	if (!f || fputs(a[1], f) < 0 || fclose(f) != 0)
		return -1;
	return chmod(a[0], 0755);
}

/* A hook of another user's: run as root, it would run that user's code. */
Test(bad_input, hooks_probes_and_configuration_files_others_could_change_are_78)
{
	if (!other_user())
		return;
	char *theirs = th_path(T.out, "theirs.sh");
	as_other(write_script, (const char *[]){ theirs, "#!/bin/sh\nid -u > \"$0.ran\"\n" });
	char *open_dir = th_path(T.dir, "open"), *in_open = th_path(open_dir, "hook.sh");
	cr_assert_eq(mkdir(open_dir, 0755), 0);
	cr_assert_eq(chmod(open_dir, 0777), 0);
	char *hook_text = "#!/bin/sh\nid -u > \"$0.ran\"\n";
	char *grp = conf_file("group.sh", 0775, hook_text);
	cr_assert_eq(chown(grp, 0, T.gid), 0);
	th_write_file(in_open, hook_text, strlen(hook_text));
	cr_assert_eq(chmod(in_open, 0755), 0);
	char *owned = NULL, *group_w = NULL, *dir_w = NULL, *probe = NULL;
	cr_assert(asprintf(&owned, "'%s' is owned by %s (group %s, mode 0755), not by root", theirs, T.user, T.user) >
		  0);
	cr_assert(asprintf(&group_w, "'%s' is writable by the members of group %s", grp, T.user) > 0);
	cr_assert(asprintf(&dir_w, "'%s': the directory %s is writable by every user", in_open, open_dir) > 0);
	cr_assert(asprintf(&probe, "command:%s", theirs) > 0);
	const struct {
		const char *opt, *value, *says;
	} bad[] = {
		{ "--on-live", theirs, owned },
		{ "--on-stop", grp, group_w },
		{ "--on-fence", in_open, dir_w },
		{ "--ready", probe, owned },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct outcome o =
			understudy((const char *[]){ "run", "--lock", T.lock, "--role", "primary", bad[i].opt,
						     bad[i].value, "--", "/usr/bin/touch", T.marker, NULL });
		expect_says(&o, 78, NULL, bad[i].says, bad[i].opt);
		expect_no_workload(bad[i].opt);
		cr_expect(access(T.lock, F_OK) < 0, "%s: the lock file was created", bad[i].opt);
	}
	/* From a file: its line named. */
	char *text = NULL, *conf = NULL, *want = NULL;
	cr_assert(asprintf(&text,
			   "[group]\nlock = %s\n[node]\nrole = primary\n[workload]\ncommand = /usr/bin/touch %s\n"
			   "[hooks]\non-backup = %s\n",
			   T.lock, T.marker, theirs) > 0);
	conf = conf_file("hooks.conf", 0600, text);
	cr_assert(asprintf(&want, "%s:8: [hooks] on-backup: %s", conf, owned) > 0);
	struct outcome o = understudy((const char *[]){ "run", "--config", conf, NULL });
	expect_says(&o, 78, NULL, want, "another user's hook in a file");
	/* Configuration files: another user's (even 0600), group-writable, in
	 * a directory every user may write. */
	free(want);
	char *good = NULL;
	cr_assert(asprintf(&good,
			   "[group]\nlock = %s\n[node]\nrole = primary\n[workload]\ncommand = /usr/bin/touch %s\n",
			   T.lock, T.marker) > 0);
	char *their_conf = conf_file("theirs.conf", 0600, good);
	cr_assert_eq(chown(their_conf, T.uid, T.gid), 0);
	char *group_conf = conf_file("group.conf", 0660, good);
	char *open_conf = th_path(open_dir, "app.conf");
	th_write_file(open_conf, good, strlen(good));
	const char *confs[] = { their_conf, group_conf, open_conf };
	char *c0 = NULL, *c1 = NULL, *c2 = NULL;
	cr_assert(asprintf(&c0, "%s: owned by %s (group %s, mode 0600), not by root: refusing to use it", their_conf,
			   T.user, T.user) > 0);
	cr_assert(asprintf(&c1, "%s: writable by the members of group root (owner root, group root, mode 0660)",
			   group_conf) > 0);
	cr_assert(asprintf(&c2, "%s: the directory %s is writable by every user", open_conf, open_dir) > 0);
	const char *csays[] = { c0, c1, c2 };
	for (size_t i = 0; i < sizeof(confs) / sizeof(confs[0]); i++) {
		o = understudy((const char *[]){ "run", "--config", confs[i], NULL });
		expect_says(&o, 78, NULL, csays[i], confs[i]);
		expect_no_workload(confs[i]);
		o = understudy((const char *[]){ "status", "--config", confs[i], NULL });
		expect_says(&o, 78, NULL, csays[i], "status --config");
	}
	cr_expect(access(T.lock, F_OK) < 0, "the lock file was created");
	char *ran = NULL;
	cr_assert(asprintf(&ran, "%s.ran", theirs) > 0);
	cr_expect(access(ran, F_OK) < 0, "another user's hook ran");
	free(theirs), free(open_dir), free(in_open), free(grp), free(owned), free(group_w), free(dir_w), free(probe);
	free(text), free(conf), free(good), free(their_conf), free(group_conf), free(open_conf), free(c0), free(c1);
	free(c2), free(ran);
}

/* Checked at each run, not only at the start: a hook whose directory
 * became writable by others after the start, and that another user then
 * swapped for their own, is not run. */
static int swap_hook(void *arg)
{
	const char *const *a = arg; /* hook path, their script's path */
	return write_script((void *)(const char *[]){ a[1], "#!/bin/sh\nid -u > \"$0.ran\"\n" }) == 0 &&
			       rename(a[1], a[0]) == 0
		       ? 0
		       : -1;
}

Test(bad_input, a_hook_swapped_after_the_start_is_not_run)
{
	if (!other_user())
		return;
	char *dir = th_path(T.dir, "hooks"), *hook = th_path(dir, "on-stop"), *ran = NULL;
	cr_assert_eq(mkdir(dir, 0755), 0);
	char *body = "#!/bin/sh\nexit 0\n";
	th_write_file(hook, body, strlen(body));
	cr_assert_eq(chmod(hook, 0755), 0);
	cr_assert(asprintf(&ran, "%s.ran", hook) > 0);
	/* The workload says it runs, then waits for the word to stop. */
	char *ready = th_path(T.out, "ready"), *go = th_path(T.out, "go"), *script = NULL;
	cr_assert(asprintf(&script, "touch %s; while [ ! -e %s ]; do sleep 0.05; done", ready, go) > 0);
	char *errpath = th_path(T.out, "node.err");
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		int e = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (e < 0 || dup2(e, 2) < 0)
			_exit(120);
		alarm(LIMIT_S);
		execl(T.bin, T.bin, "run", "--lock", T.lock, "--role", "primary", "--name", "node-a", "--restart",
		      "never", "--on-stop", hook, "--", "/bin/sh", "-c", script, (char *)NULL);
		_exit(127);
	}
	int64_t dl = th_now_ns() + (int64_t)LIMIT_S * 1000000000;
	while (access(ready, F_OK) < 0 && th_now_ns() < dl)
		usleep(10000);
	cr_assert_eq(access(ready, F_OK), 0, "the workload never started");
	/* Now the directory is everyone's, and the other user swaps the hook. */
	cr_assert_eq(chmod(dir, 0777), 0);
	char *their = th_path(dir, "theirs");
	as_other(swap_hook, (const char *[]){ hook, their });
	th_write_file(go, "", 0);
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	cr_expect(WIFEXITED(st), "the node did not exit by itself: %d", st);
	/* A hook is not waited for: give a swapped one that did start time
	 * to leave its mark. */
	for (int i = 0; i < 100 && access(ran, F_OK) < 0; i++)
		usleep(10000);
	char *err = th_read_text(errpath);
	usleep(100000); /* its id -u may still be on its way */
	char *uid = th_read_text(ran);
	cr_expect(access(ran, F_OK) < 0, "the swapped hook ran (as uid %s)", uid);
	free(uid);
	char *says = NULL;
	cr_assert(asprintf(&says, "'%s' is owned by %s (group %s, mode 0755), not by root: refusing to run it", hook,
			   T.user, T.user) > 0);
	cr_expect(strstr(err, says) && strstr(err, "on-stop hook"), "the refusal is not in the log: %s", err);
	free(says);
	free(dir), free(hook), free(ran), free(ready), free(go), free(script), free(errpath), free(their), free(err);
}

/* A hook's environment: a fixed PATH and understudy's variables, nothing
 * of the workload's --environment (a PATH naming a user's directory would
 * choose what runs as root) nor of the manager's own. */
Test(bad_input, a_hooks_environment_is_the_fixed_path_and_understudys_variables)
{
	char *envfile = th_path(T.out, "hook.env"), *text = NULL;
	cr_assert(asprintf(&text, "#!/bin/sh\n/usr/bin/env > %s\n", envfile) > 0);
	char *hook = conf_file("env-hook.sh", 0755, text);
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		int n = open("/dev/null", O_WRONLY);
		if (n < 0 || dup2(n, 1) < 0 || dup2(n, 2) < 0)
			_exit(120);
		setenv("UNDERSTUDY_TEST_MANAGER_ONLY", "1", 1);
		setenv("MANAGER_ONLY", "1", 1);
		alarm(LIMIT_S);
		execl(T.bin, T.bin, "run", "--lock", T.lock, "--role", "primary", "--name", "node-a", "--restart",
		      "never", "--environment", "PATH=/home/someone/bin", "--environment", "APP_SECRET=s3cret",
		      "--on-live", hook, "--", "/bin/sleep", "0.3", (char *)NULL);
		_exit(127);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the node: %d", st);
	char *env = NULL;
	for (int i = 0; i < 200; i++) {
		free(env);
		env = th_read_text(envfile);
		if (strstr(env, "UNDERSTUDY_EVENT=live\n"))
			break;
		usleep(10000);
	}
	cr_log_info("the on-live hook's environment:\n%s", env);
	cr_expect(strstr(env, "UNDERSTUDY_EVENT=live\n"), "the hook did not run or lacks UNDERSTUDY_EVENT: %s", env);
	cr_expect(strstr(env, "\nPATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n") ||
			  !strncmp(env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n", 66),
		  "not the fixed PATH: %s", env);
	cr_expect(!strstr(env, "/home/someone/bin"), "the workload's PATH reached the hook: %s", env);
	cr_expect(!strstr(env, "APP_SECRET"), "the workload's --environment reached the hook: %s", env);
	cr_expect(!strstr(env, "MANAGER_ONLY"), "the manager's environment reached the hook: %s", env);
	static const char *const want[] = {
		"UNDERSTUDY_ROLE=primary", "UNDERSTUDY_NODE=node-a",      "UNDERSTUDY_LOCK=",
		"UNDERSTUDY_STATE=live",   "UNDERSTUDY_LIVE_NODE=node-a", "UNDERSTUDY_WORKLOAD_PID="
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		cr_expect(strstr(env, want[i]), "%s missing: %s", want[i], env);
	free(envfile), free(text), free(hook), free(env);
}
