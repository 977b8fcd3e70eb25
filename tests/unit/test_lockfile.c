/* The lock file: its format, what it refuses, its locks against real other
 * processes and its records. Every test runs on a real file in a fresh
 * temporary directory; lock holders are real forked processes. */
#include "helpers.h"

#include <understudy/lockfile.h>

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- fixture ---------------------------------------------------------- */

static char *g_dir;
static char *g_path; /* g_dir/group.lock, not yet created */

#define MAX_HOLDERS 80
static pid_t g_holders[MAX_HOLDERS];
static int g_nholders;

static void setup(void)
{
	g_dir = th_tmpdir();
	g_path = th_path(g_dir, "group.lock");
	g_nholders = 0;
}

static void teardown(void)
{
	for (int i = 0; i < g_nholders; i++)
		th_kill(g_holders[i]);
	g_nholders = 0;
	th_rmtree(g_dir);
	free(g_path);
	free(g_dir);
}

TestSuite(lockfile, .init = setup, .fini = teardown, .timeout = 30);

/* Another process holds the lock on this byte of g_path until release(). */
static pid_t hold(int offset)
{
	cr_assert_lt(g_nholders, MAX_HOLDERS);
	pid_t pid = th_hold_lock(g_path, offset);
	g_holders[g_nholders++] = pid;
	return pid;
}

static void release(pid_t pid)
{
	for (int i = 0; i < g_nholders; i++)
		if (g_holders[i] == pid) {
			g_holders[i] = g_holders[--g_nholders];
			break;
		}
	th_kill(pid);
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ---- little-endian fields and images ---------------------------------- */

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8); }

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

static uint32_t get32(const uint8_t *p)
{
	uint32_t v = 0;
	for (int i = 3; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* Patch a header's version and make its crc right again. */
static void header_set_version(uint8_t *h, uint16_t major, uint16_t minor)
{
	put16(h + 8, major);
	put16(h + 10, minor);
	put32(h + 28, lockfile_crc32c(h, 28));
}

/* A freshly formatted file of the given version, built from the codec. */
static void make_image(uint8_t *img, uint16_t major, uint16_t minor)
{
	memset(img, 0, LF_SIZE);
	img[LF_OFF_STATUS] = LF_NEW;
	lockfile_encode_header(img + LF_OFF_HEADER);
	header_set_version(img + LF_OFF_HEADER, major, minor);
}

static uint8_t *read_image(const char *path, size_t *len)
{
	uint8_t *buf = NULL;
	cr_assert_eq(th_read_file(path, &buf, len), 0, "cannot read %s", path);
	return buf;
}

static off_t file_size(const char *path)
{
	struct stat st;
	cr_assert_eq(stat(path, &st), 0, "stat %s: %s", path, strerror(errno));
	return st.st_size;
}

/* ---- snapshots: "the file is byte-for-byte and mtime unchanged" -------- */

struct snap {
	uint8_t *bytes;
	size_t len;
	struct stat st;
};

/* Back-date the file so that any write moves its mtime, then record it. */
static void snap_take(const char *path, struct snap *s)
{
	const struct timespec old[2] = { { 978307200, 0 }, { 978307200, 0 } }; /* 2001-01-01 */
	cr_assert_eq(utimensat(AT_FDCWD, path, old, AT_SYMLINK_NOFOLLOW), 0, "utimensat %s: %s", path, strerror(errno));
	sleep_ms(20); /* so a change of ctime is a different tick */
	cr_assert_eq(lstat(path, &s->st), 0);
	s->bytes = NULL;
	s->len = 0;
	if (S_ISREG(s->st.st_mode))
		s->bytes = read_image(path, &s->len);
}

static void snap_check(const char *path, struct snap *s, const char *what)
{
	struct stat st;
	cr_assert_eq(lstat(path, &st), 0, "%s: %s vanished", what, path);
	cr_assert_eq(st.st_mode, s->st.st_mode, "%s: mode %o became %o", what, (unsigned)s->st.st_mode,
		     (unsigned)st.st_mode);
	cr_assert_eq(st.st_size, s->st.st_size, "%s: size %lld became %lld", what, (long long)s->st.st_size,
		     (long long)st.st_size);
	cr_assert(st.st_mtim.tv_sec == s->st.st_mtim.tv_sec && st.st_mtim.tv_nsec == s->st.st_mtim.tv_nsec,
		  "%s: mtime changed (%lld -> %lld)", what, (long long)s->st.st_mtim.tv_sec,
		  (long long)st.st_mtim.tv_sec);
	cr_assert(st.st_ctim.tv_sec == s->st.st_ctim.tv_sec && st.st_ctim.tv_nsec == s->st.st_ctim.tv_nsec,
		  "%s: ctime changed: the file was written or its attributes changed", what);
	if (s->bytes) {
		size_t len;
		uint8_t *now = read_image(path, &len);
		cr_assert_eq(len, s->len, "%s: length %zu became %zu", what, s->len, len);
		for (size_t i = 0; i < len; i++)
			cr_assert_eq(now[i], s->bytes[i], "%s: byte %zu changed 0x%02x -> 0x%02x", what, i, s->bytes[i],
				     now[i]);
		free(now);
	}
	free(s->bytes);
	s->bytes = NULL;
}

/* ---- opening ---------------------------------------------------------- */

static const char *mode_name(enum lf_open mode)
{
	return mode == LF_OPEN_CREATE  ? "CREATE"
	       : mode == LF_OPEN_WRITE ? "WRITE"
	       : mode == LF_OPEN_READ  ? "READ"
				       : "?";
}

static const enum lf_open all_modes[] = { LF_OPEN_CREATE, LF_OPEN_WRITE, LF_OPEN_READ };

static void open_ok(struct lockfile *lf, const char *path, enum lf_open mode)
{
	memset(lf, 0, sizeof *lf);
	lf->fd = -1;
	int r = lockfile_open(lf, path, mode);
	if (r != 0) {
		char buf[512];
		cr_assert_fail("lockfile_open(%s, %s) = %d, err %d errno %d: %s", path, mode_name(mode), r, lf->err,
			       lf->errno_value, lockfile_strerror(lf, buf, sizeof buf));
	}
}

/* Open must fail with `want`, name the path, and write nothing, in every
 * mode. */
static void assert_refused(const char *path, enum lf_err want, const char *what)
{
	for (size_t m = 0; m < 3; m++) {
		enum lf_open mode = all_modes[m];
		struct snap s;
		snap_take(path, &s);
		struct lockfile lf;
		memset(&lf, 0, sizeof lf);
		lf.fd = -1;
		int r = lockfile_open(&lf, path, mode);
		if (r == 0) {
			lockfile_close(&lf);
			cr_assert_fail("%s (%s): lockfile_open accepted the file", what, mode_name(mode));
		}
		char buf[512];
		const char *msg = lockfile_strerror(&lf, buf, sizeof buf);
		cr_assert_eq(r, -1, "%s (%s): returned %d", what, mode_name(mode), r);
		cr_assert_eq(lf.err, want, "%s (%s): err %d, want %d (%s)", what, mode_name(mode), lf.err, want,
			     msg ? msg : "(null)");
		cr_assert_not_null(msg, "%s: lockfile_strerror returned NULL", what);
		cr_assert_not_null(strstr(msg, path), "%s: message \"%s\" does not name %s", what, msg, path);
		lockfile_close(&lf);
		snap_check(path, &s, what);
	}
}

/* ---- sample records --------------------------------------------------- */

static struct lf_live sample_live(void)
{
	struct lf_live l;
	memset(&l, 0, sizeof l);
	l.epoch = 0x0102030405060708ULL;
	l.heartbeat = 0x1112131415161718ULL;
	for (int i = 0; i < LF_ID_SIZE; i++)
		l.id[i] = (uint8_t)(0xA0 + i);
	l.slot = 7;
	l.pid = 0x21222324;
	l.heartbeat_ms = 1000;
	strcpy(l.name, "alpha");
	strcpy(l.address, "10.0.0.1:5672");
	l.file_id = 0x3132333435363738ULL;
	l.path_hash = 0x41424344;
	return l;
}

static struct lf_request sample_request(void)
{
	struct lf_request r;
	memset(&r, 0, sizeof r);
	r.seq = 0x3132333435363738ULL;
	r.kind = LF_REQ_SWITCHOVER;
	r.target_slot = 5;
	for (int i = 0; i < LF_ID_SIZE; i++)
		r.target_id[i] = (uint8_t)(0xB0 + i);
	strcpy(r.target_name, "bravo");
	strcpy(r.requester, "operator@ctl");
	r.requester_pid = 0x41424344;
	return r;
}

static struct lf_slot sample_slot(void)
{
	struct lf_slot s;
	memset(&s, 0, sizeof s);
	for (int i = 0; i < LF_ID_SIZE; i++)
		s.id[i] = (uint8_t)(0xC0 + i);
	s.role = LF_ROLE_BACKUP;
	s.state = LF_SLOT_WAITING;
	s.pid = 0x51525354;
	s.seq = 0x6162636465666768ULL;
	strcpy(s.name, "charlie");
	s.epoch = 0x0102030405060708ULL;
	return s;
}

/* lockfile_write_live, leaving in live what is now on the file: the
 * record as given, stamped with the identity of the open it went
 * through (format 1.2; tested on its own below). */
static int write_live(struct lockfile *lf, char status, struct lf_live *live)
{
	live->file_id = lf->file_id;
	live->path_hash = lf->path_hash;
	return lockfile_write_live(lf, status, live);
}

static void assert_live_eq(const struct lf_live *a, const struct lf_live *b)
{
	cr_assert_eq(a->epoch, b->epoch, "epoch %llu != %llu", (unsigned long long)a->epoch,
		     (unsigned long long)b->epoch);
	cr_assert_eq(a->heartbeat, b->heartbeat);
	cr_assert_arr_eq(a->id, b->id, LF_ID_SIZE);
	cr_assert_eq(a->slot, b->slot, "slot %d != %d", a->slot, b->slot);
	cr_assert_eq(a->pid, b->pid);
	cr_assert_eq(a->heartbeat_ms, b->heartbeat_ms);
	cr_assert_str_eq(a->name, b->name);
	cr_assert_str_eq(a->address, b->address);
	cr_assert_eq(a->file_id, b->file_id, "file id %llu != %llu", (unsigned long long)a->file_id,
		     (unsigned long long)b->file_id);
	cr_assert_eq(a->path_hash, b->path_hash, "path hash %08x != %08x", a->path_hash, b->path_hash);
}

static void assert_request_eq(const struct lf_request *a, const struct lf_request *b)
{
	cr_assert_eq(a->seq, b->seq);
	cr_assert_eq(a->kind, b->kind, "kind %d != %d", a->kind, b->kind);
	cr_assert_eq(a->target_slot, b->target_slot, "target_slot %d != %d", a->target_slot, b->target_slot);
	cr_assert_arr_eq(a->target_id, b->target_id, LF_ID_SIZE);
	cr_assert_str_eq(a->target_name, b->target_name);
	cr_assert_str_eq(a->requester, b->requester);
	cr_assert_eq(a->requester_pid, b->requester_pid);
}

static void assert_slot_eq(const struct lf_slot *a, const struct lf_slot *b)
{
	cr_assert_arr_eq(a->id, b->id, LF_ID_SIZE);
	cr_assert_eq(a->role, b->role, "role %d != %d", a->role, b->role);
	cr_assert_eq(a->state, b->state, "state %d != %d", a->state, b->state);
	cr_assert_eq(a->pid, b->pid);
	cr_assert_eq(a->seq, b->seq);
	cr_assert_str_eq(a->name, b->name);
	cr_assert_eq(a->epoch, b->epoch, "epoch %llu != %llu", (unsigned long long)a->epoch,
		     (unsigned long long)b->epoch);
}

/* ---- a call run on another thread, so the test can watch it block ------ */

struct bg {
	pthread_t thread;
	int (*fn)(struct bg *);
	struct lockfile *lf;
	const char *path;
	struct lf_view *view;
	atomic_int started, done;
	int result;
	int64_t t_done;
};

static void *bg_main(void *p)
{
	struct bg *b = p;
	atomic_store(&b->started, 1);
	int r = b->fn(b);
	b->t_done = th_now_ns();
	b->result = r;
	atomic_store(&b->done, 1);
	return NULL;
}

static void bg_start(struct bg *b)
{
	atomic_store(&b->started, 0);
	atomic_store(&b->done, 0);
	cr_assert_eq(pthread_create(&b->thread, NULL, bg_main, b), 0);
	while (!atomic_load(&b->started))
		sleep_ms(1);
}

/* true when the thread finished within ms and was joined */
static bool bg_join(struct bg *b, int ms)
{
	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += ms / 1000;
	deadline.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L)
		deadline.tv_sec++, deadline.tv_nsec -= 1000000000L;
	return pthread_timedjoin_np(b->thread, NULL, &deadline) == 0;
}

static int bg_lock_live_wait(struct bg *b) { return lockfile_lock(b->lf, LF_LOCK_LIVE, true); }

static int bg_write_status_paused(struct bg *b) { return lockfile_write_status(b->lf, LF_PAUSED); }

static int bg_read(struct bg *b) { return lockfile_read(b->lf, b->view); }

static int bg_open_create(struct bg *b) { return lockfile_open(b->lf, b->path, LF_OPEN_CREATE); }

/* ====================================================================== */
/* Creating and adopting                                                  */
/* ====================================================================== */

/* A node creates its file shared only with the group it names (given to
 * the file when the owner may), else private: the file must pass the
 * node's own check of who may read it (trust.h). Even with umask 0. */
Test(lockfile, create_as_shares_only_with_the_group_asked_for)
{
	mode_t old = umask(0);
	struct lockfile lf;
	struct stat st;
	cr_assert_eq(lockfile_open_as(&lf, g_path, LF_OPEN_CREATE, getegid()), 0);
	lockfile_close(&lf);
	cr_assert_eq(stat(g_path, &st), 0);
	cr_expect_eq(st.st_mode & 07777, 0660, "our group: mode %o", (unsigned)(st.st_mode & 07777));
	cr_expect_eq(st.st_gid, getegid());
	unlink(g_path);
	cr_assert_eq(lockfile_open_as(&lf, g_path, LF_OPEN_CREATE, (gid_t)-1), 0);
	lockfile_close(&lf);
	cr_assert_eq(stat(g_path, &st), 0);
	cr_expect_eq(st.st_mode & 07777, 0600, "no group: mode %o", (unsigned)(st.st_mode & 07777));
	unlink(g_path);
	/* Another group: root may give the file to it; anyone else keeps it
	 * private rather than share it with a group not asked for. */
	cr_assert_eq(lockfile_open_as(&lf, g_path, LF_OPEN_CREATE, 65534), 0);
	lockfile_close(&lf);
	cr_assert_eq(stat(g_path, &st), 0);
	umask(old);
	if (geteuid() == 0) {
		cr_expect_eq(st.st_gid, 65534);
		cr_expect_eq(st.st_mode & 07777, 0660, "given to group 65534: mode %o", (unsigned)(st.st_mode & 07777));
	} else {
		cr_expect_eq(st.st_mode & 07777, 0600, "group 65534 not ours: mode %o", (unsigned)(st.st_mode & 07777));
	}
	/* An existing file keeps its mode and group. */
	cr_assert_eq(chmod(g_path, 0640), 0);
	cr_assert_eq(lockfile_open_as(&lf, g_path, LF_OPEN_CREATE, getegid()), 0);
	lockfile_close(&lf);
	cr_assert_eq(stat(g_path, &st), 0);
	cr_expect_eq(st.st_mode & 07777, 0640);
}

Test(lockfile, create_new_path_formats_file_0660_17920_bytes_status_N_version_1_3)
{
	mode_t old = umask(0);
	struct lockfile lf;
	open_ok(&lf, g_path, LF_OPEN_CREATE);
	umask(old);

	struct stat st;
	cr_assert_eq(stat(g_path, &st), 0);
	cr_assert(S_ISREG(st.st_mode));
	cr_assert_eq(st.st_mode & 0777, 0660, "created with mode %o, want 0660", (unsigned)(st.st_mode & 0777));
	cr_assert_eq(st.st_size, LF_FILE_SIZE, "size %lld, want %d", (long long)st.st_size, LF_FILE_SIZE);
	cr_assert_eq(LF_SIZE, 8704);
	cr_assert_eq(LF_FILE_SIZE, 8704 + 48 * 192, "the records, then 48 history entries of 192 bytes");
	cr_assert_not(lf.readonly);
	cr_assert_eq(lf.major, 1);
	cr_assert_eq(lf.minor, LF_VERSION_MINOR);
	cr_assert_eq(lf.err, LF_OK);
	cr_assert_not_null(lf.path);
	cr_assert_str_eq(lf.path, g_path);
	int fdflags = fcntl(lf.fd, F_GETFD);
	cr_assert(fdflags >= 0 && (fdflags & FD_CLOEXEC), "lock file descriptor is not close-on-exec");
	lockfile_close(&lf);

	size_t len;
	uint8_t *img = read_image(g_path, &len);
	cr_assert_eq(len, LF_FILE_SIZE);
	cr_assert_eq(img[LF_OFF_STATUS], 'N', "status byte 0x%02x, want 'N'", img[0]);
	const uint8_t *h = img + LF_OFF_HEADER;
	cr_assert_eq(memcmp(h, "UNDRSTDY", 8), 0, "no magic at offset 32");
	cr_assert_eq(get16(h + 8), 1, "major %u", get16(h + 8));
	cr_assert_eq(get16(h + 10), 3, "minor %u", get16(h + 10));
	cr_assert_eq(get16(h + 12), 64, "slots %u", get16(h + 12));
	cr_assert_eq(get16(h + 14), 128, "slot size %u", get16(h + 14));
	/* The records' size, as every 1.x node checks it: the history after
	 * them is not in it (format 1.3). */
	cr_assert_eq(get32(h + 16), 8704, "file size %u", get32(h + 16));
	cr_assert_eq(get32(h + 20), 0, "flags");
	cr_assert_eq(get32(h + 24), 0, "reserved");
	cr_assert_eq(get32(h + 28), lockfile_crc32c(h, 28), "header crc");
	uint8_t want[LF_HEADER_SIZE];
	lockfile_encode_header(want);
	cr_assert_arr_eq(h, want, LF_HEADER_SIZE, "file header differs from lockfile_encode_header");
	/* Everything but the status byte and the header is zero: no lock byte
	 * was written, no record exists, the history is empty. */
	for (size_t i = 1; i < LF_FILE_SIZE; i++)
		if (i < LF_OFF_HEADER || i >= LF_OFF_HEADER + LF_HEADER_SIZE)
			cr_assert_eq(img[i], 0, "byte %zu is 0x%02x, want 0", i, img[i]);
	free(img);
}

Test(lockfile, new_file_reads_as_status_N_with_every_record_empty)
{
	struct lockfile lf;
	open_ok(&lf, g_path, LF_OPEN_CREATE);
	struct lf_view v;
	memset(&v, 0xEE, sizeof v);
	cr_assert_eq(lockfile_read(&lf, &v), 0);
	cr_assert_eq(v.status, 'N');
	cr_assert_eq(v.major, 1);
	cr_assert_eq(v.minor, LF_VERSION_MINOR);
	cr_assert_eq(v.live_rec, LF_REC_EMPTY);
	cr_assert_eq(v.request_rec, LF_REC_EMPTY);
	for (int i = 0; i < LF_SLOTS; i++)
		cr_assert_eq(v.slot_rec[i], LF_REC_EMPTY, "slot %d: %d", i, v.slot_rec[i]);
	for (int i = 0; i < LF_ID_SIZE; i++)
		cr_assert_eq(v.node_id[i], 0);
	lockfile_close(&lf);
}

Test(lockfile, existing_empty_file_is_adopted_and_formatted)
{
	th_write_file(g_path, "", 0);
	cr_assert_eq(file_size(g_path), 0);
	struct lockfile lf;
	open_ok(&lf, g_path, LF_OPEN_CREATE);
	lockfile_close(&lf);

	size_t len;
	uint8_t *img = read_image(g_path, &len);
	cr_assert_eq(len, LF_FILE_SIZE, "adopted file is %zu bytes, want %d", len, LF_FILE_SIZE);
	cr_assert_eq(img[0], 'N');
	uint16_t major = 0, minor = 0;
	cr_assert_eq(lockfile_check_header(img + LF_OFF_HEADER, &major, &minor), LF_OK);
	cr_assert_eq(major, 1);
	cr_assert_eq(minor, LF_VERSION_MINOR);
	free(img);
}

Test(lockfile, empty_file_is_formatted_under_the_record_lock)
{
	th_write_file(g_path, "", 0);
	pid_t writer = hold(LF_OFF_RECORD_LOCK); /* another node is formatting */
	struct lockfile lf;
	memset(&lf, 0, sizeof lf);
	lf.fd = -1;
	struct bg b = { .fn = bg_open_create, .lf = &lf, .path = g_path };
	bg_start(&b);
	sleep_ms(300);
	cr_assert_not(atomic_load(&b.done), "open formatted while another held the record lock (returned %d)",
		      b.result);
	cr_assert_eq(file_size(g_path), 0, "file written while another held the record lock");
	release(writer);
	cr_assert(bg_join(&b, 3000), "open still blocked 3 s after the record lock was freed");
	cr_assert_eq(b.result, 0);
	cr_assert_eq(file_size(g_path), LF_FILE_SIZE);
	lockfile_close(&lf);
}

Test(lockfile, two_opens_of_one_new_path_share_one_format)
{
	struct lockfile a, b;
	open_ok(&a, g_path, LF_OPEN_CREATE);
	open_ok(&b, g_path, LF_OPEN_CREATE);
	struct lf_live live = sample_live();
	cr_assert_eq(lockfile_lock(&a, LF_LOCK_LIVE, false), 0);
	cr_assert_eq(write_live(&a, LF_LIVE, &live), 0);

	struct lf_view v;
	cr_assert_eq(lockfile_read(&b, &v), 0);
	cr_assert_eq(v.status, 'L');
	cr_assert_eq(v.live_rec, LF_REC_OK);
	assert_live_eq(&v.live, &live);

	/* A third open of the now formatted file must not format it again. */
	struct lockfile c;
	open_ok(&c, g_path, LF_OPEN_CREATE);
	cr_assert_eq(lockfile_read(&c, &v), 0);
	cr_assert_eq(v.status, 'L', "a later open reformatted the file");
	cr_assert_eq(v.live_rec, LF_REC_OK);
	lockfile_close(&c);
	lockfile_close(&b);
	lockfile_close(&a);
}

Test(lockfile, opening_a_formatted_file_writes_nothing)
{
	struct lockfile lf;
	open_ok(&lf, g_path, LF_OPEN_CREATE);
	struct lf_live live = sample_live();
	cr_assert_eq(write_live(&lf, LF_LIVE, &live), 0);
	lockfile_close(&lf);

	struct snap s;
	snap_take(g_path, &s);
	open_ok(&lf, g_path, LF_OPEN_CREATE);
	lockfile_close(&lf);
	snap_check(g_path, &s, "reopen with create");
}

/* ====================================================================== */
/* Refusing files that are not ours, without writing a byte               */
/* ====================================================================== */

Test(lockfile, refuses_short_files)
{
	uint8_t img[LF_SIZE];
	make_image(img, 1, 0);
	th_write_file(g_path, img, 100); /* a valid beginning, but 100 bytes */
	assert_refused(g_path, LF_E_SHORT, "100-byte file");
	th_write_file(g_path, "x", 1);
	assert_refused(g_path, LF_E_SHORT, "1-byte file");
	th_write_file(g_path, img, LF_SIZE - 1);
	assert_refused(g_path, LF_E_SHORT, "file one byte short");
}

/* An ActiveMQ Artemis shared-store server.lock (doc/protocol.md §2): said
 * to be one, with what the broker last wrote, and left as it is. Every
 * Artemis version writes "000" at its creation, a status letter at byte
 * 0 and its node id at 3 to 18; our own file cut that short has zeros at
 * bytes 1 and 2 and is only short. */
Test(lockfile, recognises_an_artemis_server_lock)
{
	uint8_t art[LF_ARTEMIS_SIZE] = { 'P', '0', '0' };
	for (int i = 0; i < 16; i++)
		art[3 + i] = (uint8_t)(0xa0 + i);
	th_write_file(g_path, art, sizeof(art));
	assert_refused(g_path, LF_E_ARTEMIS, "an Artemis server.lock");
	struct lockfile lf;
	cr_assert_eq(lockfile_open(&lf, g_path, LF_OPEN_READ), -1);
	char buf[512], want[512];
	snprintf(want, sizeof(want),
		 "%s: an ActiveMQ Artemis shared-store server.lock (status 'P', paused; node id "
		 "a0a1a2a3-a4a5-a6a7-a8a9-aaabacadaeaf), not an understudy lock file: left untouched",
		 g_path);
	cr_expect_str_eq(lockfile_strerror(&lf, buf, sizeof(buf)), want);
	lockfile_close(&lf);
	/* Created, the id not yet written. */
	th_write_file(g_path, "000", 3);
	assert_refused(g_path, LF_E_ARTEMIS, "a new Artemis server.lock");
	cr_assert_eq(lockfile_open(&lf, g_path, LF_OPEN_READ), -1);
	cr_expect(strstr(lockfile_strerror(&lf, buf, sizeof(buf)), "(status '0', never started; node id not written "
								   "yet)"),
		  "%s", buf);
	lockfile_close(&lf);
	/* Ours, cut to 19 or 3 bytes; another letter; another length. */
	uint8_t img[LF_SIZE];
	make_image(img, 1, 0);
	th_write_file(g_path, img, LF_ARTEMIS_SIZE);
	assert_refused(g_path, LF_E_SHORT, "ours cut to 19 bytes");
	th_write_file(g_path, img, 3);
	assert_refused(g_path, LF_E_SHORT, "ours cut to 3 bytes");
	art[0] = 'X';
	th_write_file(g_path, art, sizeof(art));
	assert_refused(g_path, LF_E_SHORT, "status X");
	art[0] = 'L';
	th_write_file(g_path, art, sizeof(art) - 1);
	assert_refused(g_path, LF_E_SHORT, "18 bytes");
}

Test(lockfile, refuses_wrong_magic)
{
	uint8_t img[LF_SIZE];
	make_image(img, 1, 0);
	img[LF_OFF_HEADER + 7] = 'Z'; /* UNDRSTDZ, crc made right again */
	header_set_version(img + LF_OFF_HEADER, 1, 0);
	th_write_file(g_path, img, LF_SIZE);
	assert_refused(g_path, LF_E_MAGIC, "wrong magic");
}

Test(lockfile, refuses_unknown_major_version)
{
	uint8_t img[LF_SIZE];
	make_image(img, 2, 0);
	th_write_file(g_path, img, LF_SIZE);
	assert_refused(g_path, LF_E_VERSION, "major 2");
	make_image(img, 0, 0);
	th_write_file(g_path, img, LF_SIZE);
	assert_refused(g_path, LF_E_VERSION, "major 0");
}

Test(lockfile, refuses_bad_header_crc)
{
	uint8_t img[LF_SIZE];
	make_image(img, 1, 0);
	img[LF_OFF_HEADER + 28] ^= 0x01; /* the crc itself */
	th_write_file(g_path, img, LF_SIZE);
	assert_refused(g_path, LF_E_HEADER, "crc bit flipped");

	make_image(img, 1, 0);
	img[LF_OFF_HEADER + 20] = 0x80; /* flags, crc left as it was */
	th_write_file(g_path, img, LF_SIZE);
	assert_refused(g_path, LF_E_HEADER, "flags changed under the crc");
}

Test(lockfile, refuses_random_bytes)
{
	uint8_t img[LF_SIZE];
	uint32_t x = 0x9E3779B9u;
	for (size_t i = 0; i < LF_SIZE; i++) {
		x ^= x << 13, x ^= x >> 17, x ^= x << 5;
		img[i] = (uint8_t)x;
	}
	cr_assert_neq(memcmp(img + LF_OFF_HEADER, LF_MAGIC, 8), 0);
	th_write_file(g_path, img, LF_SIZE);
	assert_refused(g_path, LF_E_MAGIC, "random bytes");
}

Test(lockfile, refuses_all_zero_file_of_full_size)
{
	uint8_t img[LF_SIZE];
	memset(img, 0, sizeof img);
	th_write_file(g_path, img, LF_SIZE);
	assert_refused(g_path, LF_E_MAGIC, "8704 zero bytes");
}

Test(lockfile, strerror_names_the_path_and_respects_the_buffer)
{
	uint8_t img[LF_SIZE];
	make_image(img, 2, 0);
	th_write_file(g_path, img, LF_SIZE);
	struct lockfile lf;
	memset(&lf, 0, sizeof lf);
	lf.fd = -1;
	cr_assert_eq(lockfile_open(&lf, g_path, LF_OPEN_CREATE), -1);
	char buf[512];
	const char *msg = lockfile_strerror(&lf, buf, sizeof buf);
	cr_assert_not_null(msg);
	cr_assert_not_null(strstr(msg, g_path), "\"%s\" does not name the path", msg);
	cr_assert_gt(strlen(msg), strlen(g_path) + 2, "\"%s\" says nothing about what is wrong", msg);

	char small[16];
	memset(small, '#', sizeof small);
	const char *cut = lockfile_strerror(&lf, small, 8);
	cr_assert_not_null(cut);
	if (cut == small)
		cr_assert_lt(strnlen(small, 8), 8, "message not terminated within n=8");
	for (size_t i = 8; i < sizeof small; i++)
		cr_assert_eq(small[i], '#', "lockfile_strerror wrote byte %zu of an 8-byte buffer", i);
	lockfile_close(&lf);
}

Test(lockfile, newer_minor_version_is_accepted_and_never_downgraded)
{
	uint8_t img[LF_SIZE];
	make_image(img, 1, 7);
	th_write_file(g_path, img, LF_SIZE);

	struct lockfile lf;
	open_ok(&lf, g_path, LF_OPEN_CREATE);
	cr_assert_eq(lf.major, 1);
	cr_assert_eq(lf.minor, 7, "minor %u, want 7", lf.minor);
	struct lf_view v;
	cr_assert_eq(lockfile_read(&lf, &v), 0);
	cr_assert_eq(v.major, 1);
	cr_assert_eq(v.minor, 7);

	int slot = lockfile_claim_slot(&lf);
	cr_assert_geq(slot, 0);
	struct lf_slot s = sample_slot();
	cr_assert_eq(lockfile_write_slot(&lf, slot, &s), 0);
	cr_assert_eq(lockfile_lock(&lf, LF_LOCK_LIVE, false), 0);
	struct lf_live live = sample_live();
	cr_assert_eq(write_live(&lf, LF_LIVE, &live), 0);
	struct lf_request req = sample_request();
	cr_assert_eq(lockfile_write_request(&lf, &req), 0);
	cr_assert_eq(lockfile_write_status(&lf, LF_PAUSED), 0);
	lockfile_close(&lf);

	open_ok(&lf, g_path, LF_OPEN_CREATE);
	cr_assert_eq(lf.minor, 7);
	lockfile_close(&lf);

	size_t len;
	uint8_t *now = read_image(g_path, &len);
	cr_assert_eq(len, LF_SIZE);
	cr_assert_arr_eq(now + LF_OFF_HEADER, img + LF_OFF_HEADER, LF_HEADER_SIZE,
			 "header of a 1.7 file was rewritten");
	cr_assert_eq(get16(now + LF_OFF_HEADER + 10), 7);
	free(now);
}

/* ====================================================================== */
/* Not a regular file                                                     */
/* ====================================================================== */

Test(lockfile, refuses_a_directory)
{
	cr_assert_eq(mkdir(g_path, 0755), 0);
	assert_refused(g_path, LF_E_NOTFILE, "directory");
	struct stat st;
	cr_assert_eq(lstat(g_path, &st), 0);
	cr_assert(S_ISDIR(st.st_mode));
}

Test(lockfile, refuses_a_fifo_without_blocking, .timeout = 10)
{
	cr_assert_eq(mkfifo(g_path, 0660), 0);
	assert_refused(g_path, LF_E_NOTFILE, "FIFO");
	struct stat st;
	cr_assert_eq(lstat(g_path, &st), 0);
	cr_assert(S_ISFIFO(st.st_mode));
}

Test(lockfile, refuses_a_device)
{
	struct lockfile lf;
	for (size_t m = 0; m < 3; m++) {
		enum lf_open mode = all_modes[m];
		memset(&lf, 0, sizeof lf);
		lf.fd = -1;
		int r = lockfile_open(&lf, "/dev/null", mode);
		if (r == 0) {
			lockfile_close(&lf);
			cr_assert_fail("/dev/null accepted (%s)", mode_name(mode));
		}
		cr_assert_eq(r, -1);
		cr_assert_eq(lf.err, LF_E_NOTFILE, "/dev/null (%s): err %d", mode_name(mode), lf.err);
		lockfile_close(&lf);
	}
}

static void assert_symlink_refused(const char *what)
{
	for (size_t m = 0; m < 3; m++) {
		enum lf_open mode = all_modes[m];
		struct lockfile lf;
		memset(&lf, 0, sizeof lf);
		lf.fd = -1;
		int r = lockfile_open(&lf, g_path, mode);
		if (r == 0) {
			lockfile_close(&lf);
			cr_assert_fail("%s (%s): followed the symlink", what, mode_name(mode));
		}
		cr_assert_eq(r, -1);
		cr_assert(lf.err == LF_E_NOTFILE || (lf.err == LF_E_SYS && lf.errno_value == ELOOP),
			  "%s (%s): err %d errno %d, want NOTFILE or SYS/ELOOP", what, mode_name(mode), lf.err,
			  lf.errno_value);
		char buf[512];
		cr_assert_not_null(strstr(lockfile_strerror(&lf, buf, sizeof buf), g_path));
		lockfile_close(&lf);
	}
}

Test(lockfile, refuses_a_symlink_to_a_valid_lock_file)
{
	char *target = th_path(g_dir, "real.lock");
	uint8_t img[LF_SIZE];
	make_image(img, 1, 0);
	th_write_file(target, img, LF_SIZE);
	cr_assert_eq(symlink(target, g_path), 0);
	struct snap s;
	snap_take(target, &s);
	assert_symlink_refused("symlink to a valid file");
	snap_check(target, &s, "symlink target");
	struct stat st;
	cr_assert_eq(lstat(g_path, &st), 0);
	cr_assert(S_ISLNK(st.st_mode));
	free(target);
}

Test(lockfile, refuses_a_dangling_symlink_and_creates_nothing)
{
	char *target = th_path(g_dir, "nowhere.lock");
	cr_assert_eq(symlink(target, g_path), 0);
	assert_symlink_refused("dangling symlink");
	struct stat st;
	cr_assert_eq(lstat(target, &st), -1, "open created the symlink's target");
	cr_assert_eq(errno, ENOENT);
	free(target);
}

Test(lockfile, missing_file_is_enoent_for_read_and_write_and_not_created)
{
	static const enum lf_open modes[] = { LF_OPEN_READ, LF_OPEN_WRITE };
	for (size_t m = 0; m < 2; m++) {
		struct lockfile lf;
		memset(&lf, 0, sizeof lf);
		lf.fd = -1;
		cr_assert_eq(lockfile_open(&lf, g_path, modes[m]), -1, "%s open of a missing file",
			     mode_name(modes[m]));
		cr_assert_eq(lf.err, LF_E_SYS, "%s: err %d", mode_name(modes[m]), lf.err);
		cr_assert_eq(lf.errno_value, ENOENT, "%s: errno_value %d", mode_name(modes[m]), lf.errno_value);
		char buf[512];
		cr_assert_not_null(strstr(lockfile_strerror(&lf, buf, sizeof buf), g_path));
		lockfile_close(&lf);
		struct stat st;
		cr_assert_eq(lstat(g_path, &st), -1, "a %s open created the file", mode_name(modes[m]));
	}
}

Test(lockfile, create_in_missing_directory_is_enoent)
{
	char *p = th_path(g_dir, "no/such/dir.lock");
	struct lockfile lf;
	memset(&lf, 0, sizeof lf);
	lf.fd = -1;
	cr_assert_eq(lockfile_open(&lf, p, LF_OPEN_CREATE), -1);
	cr_assert_eq(lf.err, LF_E_SYS);
	cr_assert_eq(lf.errno_value, ENOENT, "errno_value %d", lf.errno_value);
	lockfile_close(&lf);
	free(p);
}

/* ====================================================================== */
/* Read-only opens                                                        */
/* ====================================================================== */

Test(lockfile, readonly_open_reads_sees_locks_and_changes_nothing)
{
	struct lockfile w;
	open_ok(&w, g_path, LF_OPEN_CREATE);
	int slot = lockfile_claim_slot(&w);
	cr_assert_eq(slot, 0);
	struct lf_slot s = sample_slot();
	cr_assert_eq(lockfile_write_slot(&w, slot, &s), 0);
	struct lf_live live = sample_live();
	cr_assert_eq(write_live(&w, LF_LIVE, &live), 0);
	lockfile_close(&w);

	hold(LF_OFF_LIVE_LOCK);
	struct snap sn;
	snap_take(g_path, &sn);

	struct lockfile ro;
	open_ok(&ro, g_path, LF_OPEN_READ);
	cr_assert(ro.readonly);
	cr_assert_eq(ro.major, 1);
	cr_assert_eq(ro.minor, LF_VERSION_MINOR);
	struct lf_view v;
	cr_assert_eq(lockfile_read(&ro, &v), 0);
	cr_assert_eq(v.status, 'L');
	cr_assert_eq(v.live_rec, LF_REC_OK);
	assert_live_eq(&v.live, &live);
	cr_assert_eq(v.slot_rec[0], LF_REC_OK);
	assert_slot_eq(&v.slots[0], &s);
	cr_assert_eq(lockfile_held(&ro, LF_OFF_LIVE_LOCK), 1);
	cr_assert_eq(lockfile_held(&ro, LF_OFF_BACKUP_LOCK), 0);
	cr_assert_eq(lockfile_held(&ro, lockfile_slot_lock_offset(0)), 0, "slot 0's holder closed");
	cr_assert_lt(lockfile_write_status(&ro, LF_PAUSED), 0, "a read-only open wrote the status");
	lockfile_close(&ro);
	snap_check(g_path, &sn, "read-only open");
}

Test(lockfile, readonly_open_of_empty_file_leaves_it_empty)
{
	th_write_file(g_path, "", 0);
	struct lockfile lf;
	memset(&lf, 0, sizeof lf);
	lf.fd = -1;
	int r = lockfile_open(&lf, g_path, LF_OPEN_READ);
	lockfile_close(&lf);
	cr_assert_eq(file_size(g_path), 0, "read-only open (returned %d) formatted the file", r);
}

/* ====================================================================== */
/* Write opens (requesters)                                               */
/* ====================================================================== */

Test(lockfile, write_open_of_a_formatted_file_writes_nothing_until_asked)
{
	struct lockfile node;
	open_ok(&node, g_path, LF_OPEN_CREATE);
	lockfile_close(&node);

	struct snap s;
	snap_take(g_path, &s);
	struct lockfile w;
	open_ok(&w, g_path, LF_OPEN_WRITE);
	cr_assert_not(w.readonly, "a WRITE open is read-only");
	cr_assert_eq(w.major, 1);
	cr_assert_eq(w.minor, LF_VERSION_MINOR);
	lockfile_close(&w);
	snap_check(g_path, &s, "WRITE open");

	open_ok(&w, g_path, LF_OPEN_WRITE);
	struct lf_request req = sample_request();
	/* A new group: nobody live to ask, and F there would let a backup
	 * start it. Refused in the same hold as the write, nothing written. */
	cr_assert_eq(lockfile_write_request(&w, &req), -EAGAIN);
	snap_check(g_path, &s, "a request into a new group");
	open_ok(&node, g_path, LF_OPEN_CREATE);
	struct lf_live live = sample_live();
	cr_assert_eq(write_live(&node, LF_LIVE, &live), 0);
	lockfile_close(&node);
	cr_assert_eq(lockfile_write_request(&w, &req), 0);
	struct lf_view v;
	cr_assert_eq(lockfile_read(&w, &v), 0);
	cr_assert_eq(v.status, 'F');
	cr_assert_eq(v.request_rec, LF_REC_OK);
	assert_request_eq(&v.request, &req);
	lockfile_close(&w);
}

/* An empty file is a group no node has formatted yet. A requester must
 * not turn it into a short file, which every node would then refuse as
 * not ours (LF_E_SHORT, exit 65) for ever. */
Test(lockfile, write_open_of_an_empty_file_never_leaves_a_short_file)
{
	th_write_file(g_path, "", 0);
	struct lockfile w;
	memset(&w, 0, sizeof w);
	w.fd = -1;
	int r = lockfile_open(&w, g_path, LF_OPEN_WRITE);
	int wr = 0;
	if (r == 0) {
		struct lf_request req = sample_request();
		wr = lockfile_write_request(&w, &req);
	}
	lockfile_close(&w);
	off_t size = file_size(g_path);
	cr_assert_eq(size, 0, "WRITE open of an empty file (open %d, write_request %d) left it %lld bytes long", r, wr,
		     (long long)size);
	cr_assert_eq(r, -1, "a request must not be written into a group no node has joined");
	cr_assert_eq(w.err, LF_E_EMPTY);

	/* whatever happened, the first node can still start the group */
	struct lockfile node;
	open_ok(&node, g_path, LF_OPEN_CREATE);
	lockfile_close(&node);
}

/* ====================================================================== */
/* Codecs                                                                 */
/* ====================================================================== */

Test(lockfile, crc32c_known_answers)
{
	cr_assert_eq(lockfile_crc32c("123456789", 9), 0xE3069283u, "got 0x%08x", lockfile_crc32c("123456789", 9));
	cr_assert_eq(lockfile_crc32c("", 0), 0u);
	uint8_t b[32];
	memset(b, 0, sizeof b);
	cr_assert_eq(lockfile_crc32c(b, 32), 0x8A9136AAu, "32 zeroes: 0x%08x", lockfile_crc32c(b, 32));
	memset(b, 0xFF, sizeof b);
	cr_assert_eq(lockfile_crc32c(b, 32), 0x62A8AB43u, "32 x 0xFF: 0x%08x", lockfile_crc32c(b, 32));
}

/* The definition, a bit at a time: what the table-driven code must equal. */
static uint32_t crc32c_bitwise(const uint8_t *p, size_t n)
{
	uint32_t crc = 0xFFFFFFFFu;
	while (n--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = crc & 1 ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
	}
	return ~crc;
}

/* Every length up to a whole file past a step of eight, at every offset
 * from an aligned start, over bytes no pattern would mask: the eight-byte
 * steps and the tail agree with the definition. */
Test(lockfile, crc32c_agrees_with_the_definition_at_every_length_and_offset)
{
	static uint8_t b[LF_SIZE + 16];
	uint32_t x = 2463534242u;
	for (size_t i = 0; i < sizeof b; i++) {
		x ^= x << 13, x ^= x >> 17, x ^= x << 5;
		b[i] = (uint8_t)x;
	}
	for (size_t off = 0; off < 8; off++)
		for (size_t n = 0; n <= 600; n++)
			cr_assert_eq(lockfile_crc32c(b + off, n), crc32c_bitwise(b + off, n), "offset %zu, length %zu",
				     off, n);
	cr_assert_eq(lockfile_crc32c(b, LF_SIZE), crc32c_bitwise(b, LF_SIZE), "a whole file's length");
}

Test(lockfile, header_encodes_and_checks)
{
	uint8_t h[LF_HEADER_SIZE + 8];
	memset(h, 0xAA, sizeof h);
	lockfile_encode_header(h);
	for (size_t i = LF_HEADER_SIZE; i < sizeof h; i++)
		cr_assert_eq(h[i], 0xAA, "encode_header wrote past 32 bytes (byte %zu)", i);
	uint16_t major = 99, minor = 99;
	cr_assert_eq(lockfile_check_header(h, &major, &minor), LF_OK);
	cr_assert_eq(major, 1);
	cr_assert_eq(minor, LF_VERSION_MINOR);

	uint8_t x[LF_HEADER_SIZE];
	memcpy(x, h, sizeof x);
	header_set_version(x, 1, 7);
	cr_assert_eq(lockfile_check_header(x, &major, &minor), LF_OK);
	cr_assert_eq(minor, 7);
	header_set_version(x, 2, 0);
	cr_assert_eq(lockfile_check_header(x, &major, &minor), LF_E_VERSION);
	memcpy(x, h, sizeof x);
	x[0] = 'u';
	header_set_version(x, 1, 0);
	cr_assert_eq(lockfile_check_header(x, &major, &minor), LF_E_MAGIC);
	memcpy(x, h, sizeof x);
	x[29] ^= 0x10;
	cr_assert_eq(lockfile_check_header(x, &major, &minor), LF_E_HEADER);
	for (int i = 8; i < 28; i++) { /* any field changed under the crc */
		memcpy(x, h, sizeof x);
		x[i] ^= 0x04;
		enum lf_err e = lockfile_check_header(x, &major, &minor);
		cr_assert(e == LF_E_HEADER, "header byte %d changed: %d, want LF_E_HEADER", i, e);
	}
}

Test(lockfile, live_record_round_trip_and_layout)
{
	struct lf_live in = sample_live(), out;
	uint8_t rec[LF_LIVE_SIZE];
	lockfile_encode_live(rec, &in);
	memset(&out, 0x55, sizeof out);
	cr_assert_eq(lockfile_decode_live(rec, &out), LF_REC_OK);
	assert_live_eq(&out, &in);

	/* the layout the spec gives, little-endian */
	cr_assert_eq(get64(rec + 0), in.epoch);
	cr_assert_eq(get64(rec + 8), in.heartbeat);
	cr_assert_arr_eq(rec + 16, in.id, LF_ID_SIZE);
	cr_assert_eq(get32(rec + 32), (uint32_t)in.slot);
	cr_assert_eq(get32(rec + 36), in.pid);
	cr_assert_eq(get32(rec + 40), in.heartbeat_ms);
	cr_assert_str_eq((const char *)rec + 44, "alpha");
	cr_assert_str_eq((const char *)rec + 108, "10.0.0.1:5672");
	for (int i = 44 + 5; i < 108; i++)
		cr_assert_eq(rec[i], 0, "name padding byte %d", i);
	cr_assert_eq(get64(rec + 172), in.file_id, "file id at 172 (format 1.2)");
	cr_assert_eq(get32(rec + 180), in.path_hash, "path hash at 180 (format 1.2)");
	for (int i = 184; i < 188; i++)
		cr_assert_eq(rec[i], 0, "pad byte %d", i);
	cr_assert_eq(get32(rec + 188), lockfile_crc32c(rec, 188), "crc at 188 is not crc32c of bytes 0..187");

	/* names of the full 63 bytes survive */
	memset(in.name, 'n', LF_NAME_MAX);
	in.name[LF_NAME_MAX] = 0;
	memset(in.address, 'a', LF_ADDR_MAX);
	in.address[LF_ADDR_MAX] = 0;
	in.slot = -1;
	in.epoch = UINT64_MAX;
	lockfile_encode_live(rec, &in);
	cr_assert_eq(lockfile_decode_live(rec, &out), LF_REC_OK);
	assert_live_eq(&out, &in);
}

Test(lockfile, request_record_round_trip_and_layout)
{
	struct lf_request in = sample_request(), out;
	uint8_t rec[LF_REQUEST_SIZE];
	lockfile_encode_request(rec, &in);
	memset(&out, 0x55, sizeof out);
	cr_assert_eq(lockfile_decode_request(rec, &out), LF_REC_OK);
	assert_request_eq(&out, &in);

	cr_assert_eq(get64(rec + 0), in.seq);
	cr_assert_eq(rec[8], LF_REQ_SWITCHOVER);
	cr_assert(rec[9] == 0 && rec[10] == 0 && rec[11] == 0, "pad after kind");
	cr_assert_eq(get32(rec + 12), 5u);
	cr_assert_arr_eq(rec + 16, in.target_id, LF_ID_SIZE);
	cr_assert_str_eq((const char *)rec + 32, "bravo");
	cr_assert_str_eq((const char *)rec + 96, "operator@ctl");
	cr_assert_eq(get32(rec + 160), in.requester_pid);
	for (int i = 164; i < 188; i++)
		cr_assert_eq(rec[i], 0, "pad byte %d", i);
	cr_assert_eq(get32(rec + 188), lockfile_crc32c(rec, 188));

	in.kind = LF_REQ_FAILBACK;
	in.target_slot = LF_TARGET_ANY;
	memset(in.target_name, 't', LF_NAME_MAX);
	in.target_name[LF_NAME_MAX] = 0;
	memset(in.requester, 'r', LF_NAME_MAX);
	in.requester[LF_NAME_MAX] = 0;
	lockfile_encode_request(rec, &in);
	cr_assert_eq(get32(rec + 12), 0xFFFFFFFFu, "target any is -1");
	cr_assert_eq(lockfile_decode_request(rec, &out), LF_REC_OK);
	assert_request_eq(&out, &in);
	cr_assert_eq(out.target_slot, -1);
}

Test(lockfile, slot_record_round_trip_and_layout)
{
	struct lf_slot in = sample_slot(), out;
	uint8_t rec[LF_SLOT_SIZE];
	lockfile_encode_slot(rec, &in);
	memset(&out, 0x55, sizeof out);
	cr_assert_eq(lockfile_decode_slot(rec, &out), LF_REC_OK);
	assert_slot_eq(&out, &in);

	/* id[16], role u8 at 16, state u8 at 17, pad u16, pid u32 at 20,
	 * seq u64 at 24, name[64] at 32, epoch u64 at 96 (1.2), zero to 124,
	 * crc at 124 */
	cr_assert_arr_eq(rec + 0, in.id, LF_ID_SIZE);
	cr_assert_eq(rec[16], LF_ROLE_BACKUP);
	cr_assert_eq(rec[17], LF_SLOT_WAITING);
	cr_assert_eq(get16(rec + 18), 0);
	cr_assert_eq(get32(rec + 20), in.pid);
	cr_assert_eq(get64(rec + 24), in.seq, "seq u64 at 24");
	cr_assert_str_eq((const char *)rec + 32, "charlie", "name at 32");
	cr_assert_eq(get64(rec + 96), in.epoch, "epoch u64 at 96");
	for (int i = 104; i < 124; i++)
		cr_assert_eq(rec[i], 0, "pad byte %d", i);
	cr_assert_eq(get32(rec + 124), lockfile_crc32c(rec, 124), "crc at 124 is not crc32c of bytes 0..123");

	memset(in.name, 's', LF_NAME_MAX);
	in.name[LF_NAME_MAX] = 0;
	in.role = LF_ROLE_PRIMARY;
	in.state = LF_SLOT_STOPPING;
	lockfile_encode_slot(rec, &in);
	cr_assert_eq(lockfile_decode_slot(rec, &out), LF_REC_OK);
	assert_slot_eq(&out, &in);
}

Test(lockfile, all_zero_records_are_empty)
{
	uint8_t z[LF_LIVE_SIZE];
	memset(z, 0, sizeof z);
	struct lf_live l;
	struct lf_request r;
	struct lf_slot s;
	cr_assert_eq(lockfile_decode_live(z, &l), LF_REC_EMPTY);
	cr_assert_eq(lockfile_decode_request(z, &r), LF_REC_EMPTY);
	cr_assert_eq(lockfile_decode_slot(z, &s), LF_REC_EMPTY);
}

Test(lockfile, any_single_byte_change_makes_a_record_bad)
{
	static const uint8_t masks[] = { 0x01, 0x80, 0xFF };
	uint8_t rec[LF_LIVE_SIZE], x[LF_LIVE_SIZE];
	struct lf_live l = sample_live(), lo;
	struct lf_request r = sample_request(), ro;
	struct lf_slot s = sample_slot(), so;

	lockfile_encode_live(rec, &l);
	for (size_t i = 0; i < LF_LIVE_SIZE; i++)
		for (size_t m = 0; m < sizeof masks; m++) {
			memcpy(x, rec, LF_LIVE_SIZE);
			x[i] ^= masks[m];
			enum lf_rec e = lockfile_decode_live(x, &lo);
			cr_assert_eq(e, LF_REC_BAD, "live byte %zu ^ 0x%02x decodes as %d", i, masks[m], e);
		}
	lockfile_encode_request(rec, &r);
	for (size_t i = 0; i < LF_REQUEST_SIZE; i++)
		for (size_t m = 0; m < sizeof masks; m++) {
			memcpy(x, rec, LF_REQUEST_SIZE);
			x[i] ^= masks[m];
			enum lf_rec e = lockfile_decode_request(x, &ro);
			cr_assert_eq(e, LF_REC_BAD, "request byte %zu ^ 0x%02x decodes as %d", i, masks[m], e);
		}
	lockfile_encode_slot(rec, &s);
	for (size_t i = 0; i < LF_SLOT_SIZE; i++)
		for (size_t m = 0; m < sizeof masks; m++) {
			memcpy(x, rec, LF_SLOT_SIZE);
			x[i] ^= masks[m];
			enum lf_rec e = lockfile_decode_slot(x, &so);
			cr_assert_eq(e, LF_REC_BAD, "slot byte %zu ^ 0x%02x decodes as %d", i, masks[m], e);
		}
}

/* Fill the 64-byte field that starts where `marker` was encoded with
 * non-NUL bytes, fix the crc, and return the field's offset. */
static size_t fill_field(uint8_t *rec, size_t size, const char *marker, size_t crc_at)
{
	uint8_t *p = memmem(rec, size, marker, strlen(marker));
	cr_assert_not_null(p, "marker %s not found in the encoded record", marker);
	size_t off = (size_t)(p - rec);
	cr_assert_leq(off + 64, crc_at);
	memset(p, 'x', 64);
	put32(rec + crc_at, lockfile_crc32c(rec, crc_at));
	return off;
}

Test(lockfile, full_name_fields_never_overflow_on_decode)
{
	uint8_t rec[LF_LIVE_SIZE];
	enum lf_rec e;

	struct lf_live l = sample_live(), lo;
	strcpy(l.name, "MARK-NAME");
	lockfile_encode_live(rec, &l);
	fill_field(rec, LF_LIVE_SIZE, "MARK-NAME", 188);
	memset(&lo, 0, sizeof lo);
	e = lockfile_decode_live(rec, &lo);
	cr_assert(e == LF_REC_OK || e == LF_REC_BAD, "decode: %d", e);
	cr_assert_leq(strnlen(lo.name, sizeof lo.name), LF_NAME_MAX, "live name not terminated");

	l = sample_live();
	strcpy(l.address, "MARK-ADDR");
	lockfile_encode_live(rec, &l);
	fill_field(rec, LF_LIVE_SIZE, "MARK-ADDR", 188);
	memset(&lo, 0, sizeof lo);
	e = lockfile_decode_live(rec, &lo);
	cr_assert(e == LF_REC_OK || e == LF_REC_BAD);
	cr_assert_leq(strnlen(lo.address, sizeof lo.address), LF_ADDR_MAX, "live address not terminated");

	struct lf_request r = sample_request(), ro;
	strcpy(r.target_name, "MARK-TARGET");
	strcpy(r.requester, "MARK-REQUESTER");
	lockfile_encode_request(rec, &r);
	fill_field(rec, LF_REQUEST_SIZE, "MARK-TARGET", 188);
	fill_field(rec, LF_REQUEST_SIZE, "MARK-REQUESTER", 188);
	memset(&ro, 0, sizeof ro);
	e = lockfile_decode_request(rec, &ro);
	cr_assert(e == LF_REC_OK || e == LF_REC_BAD);
	cr_assert_leq(strnlen(ro.target_name, sizeof ro.target_name), LF_NAME_MAX, "target name not terminated");
	cr_assert_leq(strnlen(ro.requester, sizeof ro.requester), LF_NAME_MAX, "requester not terminated");

	struct lf_slot s = sample_slot(), so;
	strcpy(s.name, "MARK-SLOT");
	lockfile_encode_slot(rec, &s);
	fill_field(rec, LF_SLOT_SIZE, "MARK-SLOT", 124);
	memset(&so, 0, sizeof so);
	e = lockfile_decode_slot(rec, &so);
	cr_assert(e == LF_REC_OK || e == LF_REC_BAD);
	cr_assert_leq(strnlen(so.name, sizeof so.name), LF_NAME_MAX, "slot name not terminated");
}

Test(lockfile, encoders_write_exactly_the_record_and_zero_their_padding)
{
	uint8_t a[LF_LIVE_SIZE + 16], b[LF_LIVE_SIZE + 16];
	struct lf_live l = sample_live();
	struct lf_request r = sample_request();
	struct lf_slot s = sample_slot();
	static const struct {
		size_t size;
		int kind;
	} recs[] = { { LF_LIVE_SIZE, 0 }, { LF_REQUEST_SIZE, 1 }, { LF_SLOT_SIZE, 2 } };
	for (size_t k = 0; k < 3; k++) {
		memset(a, 0x00, sizeof a);
		memset(b, 0xFF, sizeof b);
		if (recs[k].kind == 0)
			lockfile_encode_live(a, &l), lockfile_encode_live(b, &l);
		else if (recs[k].kind == 1)
			lockfile_encode_request(a, &r), lockfile_encode_request(b, &r);
		else
			lockfile_encode_slot(a, &s), lockfile_encode_slot(b, &s);
		cr_assert_arr_eq(a, b, recs[k].size, "record kind %d depends on the buffer's old content",
				 recs[k].kind);
		for (size_t i = recs[k].size; i < sizeof a; i++)
			cr_assert(a[i] == 0x00 && b[i] == 0xFF, "record kind %d wrote byte %zu past its size %zu",
				  recs[k].kind, i, recs[k].size);
	}
}

Test(lockfile, decode_whole_image)
{
	static uint8_t img[LF_SIZE];
	make_image(img, 1, 3);
	struct lf_live l = sample_live();
	struct lf_request r = sample_request();
	struct lf_slot s = sample_slot();
	img[0] = 'F';
	memcpy(img + LF_OFF_NODE_ID, l.id, LF_ID_SIZE);
	lockfile_encode_live(img + LF_OFF_LIVE, &l);
	lockfile_encode_request(img + LF_OFF_REQUEST, &r);
	lockfile_encode_slot(img + LF_OFF_SLOTS + 3 * LF_SLOT_SIZE, &s);
	lockfile_encode_slot(img + LF_OFF_SLOTS + 63 * LF_SLOT_SIZE, &s);
	lockfile_encode_slot(img + LF_OFF_SLOTS + 5 * LF_SLOT_SIZE, &s);
	img[LF_OFF_SLOTS + 5 * LF_SLOT_SIZE + 40] ^= 1; /* torn */

	struct lf_view v;
	memset(&v, 0xEE, sizeof v);
	lockfile_decode(img, &v);
	cr_assert_eq(v.status, 'F');
	cr_assert_eq(v.major, 1);
	cr_assert_eq(v.minor, 3);
	cr_assert_arr_eq(v.node_id, l.id, LF_ID_SIZE);
	cr_assert_eq(v.live_rec, LF_REC_OK);
	assert_live_eq(&v.live, &l);
	cr_assert_eq(v.request_rec, LF_REC_OK);
	assert_request_eq(&v.request, &r);
	for (int i = 0; i < LF_SLOTS; i++) {
		enum lf_rec want = (i == 3 || i == 63) ? LF_REC_OK : i == 5 ? LF_REC_BAD : LF_REC_EMPTY;
		cr_assert_eq(v.slot_rec[i], want, "slot %d: %d, want %d", i, v.slot_rec[i], want);
	}
	assert_slot_eq(&v.slots[3], &s);
	assert_slot_eq(&v.slots[63], &s);
}

/* ====================================================================== */
/* Locks against real other processes                                     */
/* ====================================================================== */

static void lock_held_by_other_process(enum lf_lock which, int offset)
{
	struct lockfile lf;
	open_ok(&lf, g_path, LF_OPEN_CREATE);
	cr_assert_eq(lockfile_held(&lf, offset), 0);
	pid_t holder = hold(offset);
	cr_assert_eq(lockfile_held(&lf, offset), 1);
	int r = lockfile_lock(&lf, which, false);
	cr_assert_eq(r, -EAGAIN, "lock while another process holds it: %d, want -EAGAIN", r);
	release(holder);
	cr_assert_eq(lockfile_held(&lf, offset), 0);
	cr_assert_eq(lockfile_lock(&lf, which, false), 0);
	cr_assert_eq(th_is_locked(g_path, offset), 1, "lock byte %d not locked after lockfile_lock", offset);
	cr_assert_eq(lockfile_held(&lf, offset), 0, "our own lock counted as held");
	cr_assert_eq(lockfile_unlock(&lf, which), 0);
	cr_assert_eq(th_is_locked(g_path, offset), 0, "lock byte %d still locked after unlock", offset);
	lockfile_close(&lf);
}

Test(lockfile, live_lock_held_by_another_process) { lock_held_by_other_process(LF_LOCK_LIVE, LF_OFF_LIVE_LOCK); }

Test(lockfile, backup_lock_held_by_another_process) { lock_held_by_other_process(LF_LOCK_BACKUP, LF_OFF_BACKUP_LOCK); }

Test(lockfile, each_lock_covers_exactly_its_byte)
{
	struct lockfile lf;
	open_ok(&lf, g_path, LF_OPEN_CREATE);
	cr_assert_eq(lockfile_lock(&lf, LF_LOCK_LIVE, false), 0);
	for (int off = 0; off < 32; off++)
		cr_assert_eq(th_is_locked(g_path, off), off == LF_OFF_LIVE_LOCK, "byte %d", off);
	cr_assert_eq(lockfile_lock(&lf, LF_LOCK_BACKUP, false), 0);
	for (int off = 0; off < 32; off++)
		cr_assert_eq(th_is_locked(g_path, off), off == LF_OFF_LIVE_LOCK || off == LF_OFF_BACKUP_LOCK, "byte %d",
			     off);
	cr_assert_eq(lockfile_unlock(&lf, LF_LOCK_LIVE), 0);
	cr_assert_eq(th_is_locked(g_path, LF_OFF_LIVE_LOCK), 0);
	cr_assert_eq(th_is_locked(g_path, LF_OFF_BACKUP_LOCK), 1, "unlocking live released backup");
	cr_assert_eq(lockfile_lock_slot(&lf, 9), 0);
	for (int off = LF_OFF_SLOT_LOCKS; off < LF_OFF_SLOTS; off++)
		cr_assert_eq(th_is_locked(g_path, off), off == LF_OFF_SLOT_LOCKS + 9, "byte %d", off);
	cr_assert_eq(th_is_locked(g_path, LF_OFF_RECORD_LOCK), 0, "record lock left held");
	lockfile_close(&lf);
}

Test(lockfile, two_opens_in_one_process_conflict)
{
	struct lockfile a, b;
	open_ok(&a, g_path, LF_OPEN_CREATE);
	open_ok(&b, g_path, LF_OPEN_CREATE);
	cr_assert_eq(lockfile_lock(&a, LF_LOCK_LIVE, false), 0);
	cr_assert_eq(lockfile_held(&a, LF_OFF_LIVE_LOCK), 0);
	cr_assert_eq(lockfile_held(&b, LF_OFF_LIVE_LOCK), 1, "same-process open not seen as holder");
	cr_assert_eq(lockfile_lock(&b, LF_LOCK_LIVE, false), -EAGAIN);
	cr_assert_eq(lockfile_unlock(&a, LF_LOCK_LIVE), 0);
	cr_assert_eq(lockfile_lock(&b, LF_LOCK_LIVE, false), 0);
	cr_assert_eq(lockfile_lock(&a, LF_LOCK_LIVE, false), -EAGAIN);

	cr_assert_eq(lockfile_lock(&a, LF_LOCK_BACKUP, false), 0);
	cr_assert_eq(lockfile_lock(&b, LF_LOCK_BACKUP, false), -EAGAIN);
	lockfile_close(&a); /* closing releases every lock of that open */
	cr_assert_eq(lockfile_lock(&b, LF_LOCK_BACKUP, false), 0);
	lockfile_close(&b);
	cr_assert_eq(th_is_locked(g_path, LF_OFF_LIVE_LOCK), 0);
	cr_assert_eq(th_is_locked(g_path, LF_OFF_BACKUP_LOCK), 0);
}

Test(lockfile, wait_on_a_free_lock_returns_at_once)
{
	struct lockfile lf;
	open_ok(&lf, g_path, LF_OPEN_CREATE);
	int64_t t0 = th_now_ns();
	cr_assert_eq(lockfile_lock(&lf, LF_LOCK_LIVE, true), 0);
	int64_t ms = (th_now_ns() - t0) / 1000000;
	cr_assert_lt(ms, 200, "took %lld ms", (long long)ms);
	cr_assert_eq(th_is_locked(g_path, LF_OFF_LIVE_LOCK), 1);
	lockfile_close(&lf);
}

Test(lockfile, waiter_wakes_within_a_second_of_the_holder_dying)
{
	struct lockfile lf;
	open_ok(&lf, g_path, LF_OPEN_CREATE);
	pid_t holder = hold(LF_OFF_LIVE_LOCK);
	struct bg b = { .fn = bg_lock_live_wait, .lf = &lf };
	bg_start(&b);
	sleep_ms(200);
	cr_assert_not(atomic_load(&b.done), "wait returned %d while another process held the lock", b.result);
	int64_t t_kill = th_now_ns();
	release(holder);
	cr_assert(bg_join(&b, 5000), "waiter still blocked 5 s after the holder died");
	cr_assert_eq(b.result, 0, "wait returned %d", b.result);
	double ms = (double)(b.t_done - t_kill) / 1e6;
	cr_log_info("live lock wake-up latency after holder death: %.3f ms", ms);
	cr_assert_lt(ms, 1000.0, "woke %.1f ms after the holder died", ms);
	cr_assert_eq(th_is_locked(g_path, LF_OFF_LIVE_LOCK), 1);
	lockfile_close(&lf);
}

static atomic_int g_signals;

static void on_signal(int sig)
{
	(void)sig;
	atomic_fetch_add(&g_signals, 1);
}

Test(lockfile, blocked_wait_returns_eintr_on_a_signal)
{
	struct sigaction sa, old;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0; /* no SA_RESTART */
	cr_assert_eq(sigaction(SIGUSR1, &sa, &old), 0);
	atomic_store(&g_signals, 0);

	struct lockfile lf;
	open_ok(&lf, g_path, LF_OPEN_CREATE);
	hold(LF_OFF_LIVE_LOCK);
	struct bg b = { .fn = bg_lock_live_wait, .lf = &lf };
	bg_start(&b);
	sleep_ms(100);
	/* Signal until it returns: a signal caught just before the thread
	 * enters the wait is not a test of the wait. */
	int64_t deadline = th_now_ns() + 3000000000LL;
	while (!atomic_load(&b.done) && th_now_ns() < deadline) {
		pthread_kill(b.thread, SIGUSR1);
		sleep_ms(50);
	}
	cr_assert(atomic_load(&b.done), "wait not interrupted by %d signals in 3 s", atomic_load(&g_signals));
	cr_assert(bg_join(&b, 1000));
	cr_assert_geq(atomic_load(&g_signals), 1);
	cr_assert_eq(b.result, -EINTR, "interrupted wait returned %d, want -EINTR", b.result);
	cr_assert_eq(lockfile_held(&lf, LF_OFF_LIVE_LOCK), 1, "the other process still holds it");
	lockfile_close(&lf);
	sigaction(SIGUSR1, &old, NULL);
}

/* Every fcntl of this test binary goes through here (-Wl,--wrap, see
 * tests/meson.build). Each lock call on g_watch_fd by a thread that set
 * t_watched is counted, and counted apart if that thread could take
 * SIGUSR1 during it: on FUSE a signal inside a call sends the file system
 * an interrupt, which GlusterFS's client can deadlock on (issue 15). */
static _Atomic int g_watch_fd = -1;
static _Thread_local bool t_watched;
static atomic_int g_lock_calls, g_lock_calls_signalable;

int __real_fcntl64(int fd, int cmd, ...);
int __wrap_fcntl64(int fd, int cmd, ...);
int __wrap_fcntl64(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	if (t_watched && fd == atomic_load(&g_watch_fd) &&
	    (cmd == F_OFD_SETLK || cmd == F_OFD_SETLKW || cmd == F_OFD_GETLK)) {
		sigset_t cur;
		pthread_sigmask(SIG_BLOCK, NULL, &cur);
		atomic_fetch_add(&g_lock_calls, 1);
		if (!sigismember(&cur, SIGUSR1))
			atomic_fetch_add(&g_lock_calls_signalable, 1);
	}
	return __real_fcntl64(fd, cmd, arg);
}

static atomic_int g_usr1_after; /* SIGUSR1 still deliverable after the wait */

static int bg_lock_live_wait_mask(struct bg *b)
{
	t_watched = true;
	int r = lockfile_lock(b->lf, LF_LOCK_LIVE, true);
	sigset_t cur;
	pthread_sigmask(SIG_BLOCK, NULL, &cur);
	atomic_store(&g_usr1_after, !sigismember(&cur, SIGUSR1));
	return r;
}

Test(lockfile, tries_off_a_local_file_system_never_take_a_signal)
{
	struct sigaction sa, old;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	cr_assert_eq(sigaction(SIGUSR1, &sa, &old), 0);
	atomic_store(&g_signals, 0);

	struct lockfile lf;
	open_ok(&lf, g_path, LF_OPEN_CREATE);
	lf.poll = true; /* as on a networked file system: waits are tries */
	hold(LF_OFF_LIVE_LOCK);
	atomic_store(&g_lock_calls, 0);
	atomic_store(&g_lock_calls_signalable, 0);
	atomic_store(&g_watch_fd, lf.fd);
	struct bg b = { .fn = bg_lock_live_wait_mask, .lf = &lf };
	bg_start(&b);
	/* A few tries, then signals as fast as they go: one of them ends the
	 * wait, in the pause after the try it arrived during, if not before. */
	sleep_ms(350);
	cr_assert_not(atomic_load(&b.done), "the wait returned %d while another process held the lock", b.result);
	int64_t deadline = th_now_ns() + 3000000000LL;
	while (!atomic_load(&b.done) && th_now_ns() < deadline)
		pthread_kill(b.thread, SIGUSR1);
	cr_assert(bg_join(&b, 1000), "the wait was not cut by a signal in 3 s");
	atomic_store(&g_watch_fd, -1);
	cr_log_info("%d lock calls, %d signals caught", atomic_load(&g_lock_calls), atomic_load(&g_signals));
	cr_assert_eq(b.result, -EINTR, "the wait returned %d, want -EINTR", b.result);
	cr_assert_geq(atomic_load(&g_lock_calls), 3);
	cr_assert_eq(atomic_load(&g_lock_calls_signalable), 0, "%d of %d lock calls could take the signal",
		     atomic_load(&g_lock_calls_signalable), atomic_load(&g_lock_calls));
	cr_assert(atomic_load(&g_usr1_after), "the caller's signal mask was not given back");
	lockfile_close(&lf);
	sigaction(SIGUSR1, &old, NULL);
}

/* ====================================================================== */
/* Slots                                                                  */
/* ====================================================================== */

Test(lockfile, claim_takes_the_first_free_slot)
{
	struct lockfile a, b, c;
	open_ok(&a, g_path, LF_OPEN_CREATE);
	open_ok(&b, g_path, LF_OPEN_CREATE);
	cr_assert_eq(lockfile_claim_slot(&a), 0);
	cr_assert_eq(th_is_locked(g_path, lockfile_slot_lock_offset(0)), 1);
	cr_assert_eq(lockfile_claim_slot(&b), 1, "second open did not get slot 1 while slot 0 is held");
	cr_assert_eq(lockfile_held(&b, lockfile_slot_lock_offset(0)), 1);
	cr_assert_eq(lockfile_held(&a, lockfile_slot_lock_offset(1)), 1);
	lockfile_close(&a);
	open_ok(&c, g_path, LF_OPEN_CREATE);
	cr_assert_eq(lockfile_claim_slot(&c), 0, "slot 0 not free after its holder closed");
	lockfile_close(&c);
	lockfile_close(&b);
}

Test(lockfile, claim_skips_slots_held_by_other_processes)
{
	struct lockfile lf;
	open_ok(&lf, g_path, LF_OPEN_CREATE);
	hold(lockfile_slot_lock_offset(0));
	hold(lockfile_slot_lock_offset(1));
	hold(lockfile_slot_lock_offset(3));
	cr_assert_eq(lockfile_claim_slot(&lf), 2);
	lockfile_close(&lf);
}

Test(lockfile, claim_when_all_64_slots_are_held_is_enospc, .timeout = 60)
{
	struct lockfile lf;
	open_ok(&lf, g_path, LF_OPEN_CREATE);
	pid_t holders[LF_SLOTS];
	for (int i = 0; i < LF_SLOTS; i++)
		holders[i] = hold(lockfile_slot_lock_offset(i));
	int r = lockfile_claim_slot(&lf);
	cr_assert_eq(r, -ENOSPC, "claim with 64 slots held: %d, want -ENOSPC", r);
	for (int i = 0; i < LF_SLOTS; i++)
		cr_assert_eq(th_is_locked(g_path, lockfile_slot_lock_offset(i)), 1);
	release(holders[63]);
	cr_assert_eq(lockfile_claim_slot(&lf), 63, "the last slot freed is not found");
	release(holders[37]);
	cr_assert_eq(lockfile_lock_slot(&lf, 37), 0);
	lockfile_close(&lf);
}

Test(lockfile, lock_slot_fails_while_another_holds_it)
{
	struct lockfile lf;
	open_ok(&lf, g_path, LF_OPEN_CREATE);
	pid_t holder = hold(lockfile_slot_lock_offset(12));
	cr_assert_eq(lockfile_lock_slot(&lf, 12), -EAGAIN);
	cr_assert_eq(lockfile_held(&lf, lockfile_slot_lock_offset(12)), 1);
	release(holder);
	cr_assert_eq(lockfile_lock_slot(&lf, 12), 0);
	cr_assert_eq(th_is_locked(g_path, lockfile_slot_lock_offset(12)), 1);
	lockfile_close(&lf);
}

Test(lockfile, write_slot_then_read_round_trip)
{
	struct lockfile a, b;
	open_ok(&a, g_path, LF_OPEN_CREATE);
	open_ok(&b, g_path, LF_OPEN_CREATE);
	cr_assert_eq(lockfile_claim_slot(&b), 0);
	int slot = lockfile_claim_slot(&a);
	cr_assert_eq(slot, 1);
	struct lf_slot s = sample_slot();
	cr_assert_eq(lockfile_write_slot(&a, slot, &s), 0);
	s.state = LF_SLOT_LIVE;
	s.seq++;
	cr_assert_eq(lockfile_write_slot(&a, slot, &s), 0);

	struct lf_view v;
	cr_assert_eq(lockfile_read(&b, &v), 0);
	cr_assert_eq(v.slot_rec[slot], LF_REC_OK);
	assert_slot_eq(&v.slots[slot], &s);
	for (int i = 0; i < LF_SLOTS; i++)
		if (i != slot)
			cr_assert_eq(v.slot_rec[i], LF_REC_EMPTY, "slot %d", i);

	size_t len;
	uint8_t *img = read_image(g_path, &len);
	uint8_t want[LF_SLOT_SIZE];
	lockfile_encode_slot(want, &s);
	cr_assert_arr_eq(img + LF_OFF_SLOTS + slot * LF_SLOT_SIZE, want, LF_SLOT_SIZE);
	cr_assert_eq(img[0], 'N', "writing a slot changed the status");
	free(img);
	lockfile_close(&b);
	lockfile_close(&a);
}

/* ====================================================================== */
/* Records                                                                */
/* ====================================================================== */

/* Bytes that differ between two images must all lie in the given ranges. */
static void assert_changed_only(const uint8_t *before, const uint8_t *after, const int (*ranges)[2], int n,
				const char *what)
{
	for (int i = 0; i < LF_SIZE; i++) {
		if (before[i] == after[i])
			continue;
		bool ok = false;
		for (int k = 0; k < n; k++)
			if (i >= ranges[k][0] && i < ranges[k][1])
				ok = true;
		cr_assert(ok, "%s changed byte %d (0x%02x -> 0x%02x)", what, i, before[i], after[i]);
	}
}

Test(lockfile, write_live_sets_status_node_id_and_live_record)
{
	struct lockfile lf, other;
	open_ok(&lf, g_path, LF_OPEN_CREATE);
	open_ok(&other, g_path, LF_OPEN_CREATE);
	cr_assert_eq(lockfile_claim_slot(&lf), 0);
	struct lf_slot s = sample_slot();
	cr_assert_eq(lockfile_write_slot(&lf, 0, &s), 0);
	cr_assert_eq(lockfile_lock(&lf, LF_LOCK_LIVE, false), 0);
	size_t len;
	uint8_t *before = read_image(g_path, &len);

	struct lf_live live = sample_live();
	live.slot = 0;
	cr_assert_eq(write_live(&lf, LF_LIVE, &live), 0);

	struct lf_view v;
	cr_assert_eq(lockfile_read(&other, &v), 0);
	cr_assert_eq(v.status, 'L', "status '%c'", v.status);
	cr_assert_arr_eq(v.node_id, live.id, LF_ID_SIZE, "node id at offset 3 is not live.id");
	cr_assert_eq(v.live_rec, LF_REC_OK);
	assert_live_eq(&v.live, &live);
	cr_assert_eq(v.request_rec, LF_REC_EMPTY);
	cr_assert_eq(v.slot_rec[0], LF_REC_OK);

	uint8_t *after = read_image(g_path, &len);
	cr_assert_eq(len, LF_FILE_SIZE);
	cr_assert_eq(after[0], 'L');
	cr_assert_arr_eq(after + LF_OFF_NODE_ID, live.id, LF_ID_SIZE);
	uint8_t want[LF_LIVE_SIZE];
	lockfile_encode_live(want, &live);
	cr_assert_arr_eq(after + LF_OFF_LIVE, want, LF_LIVE_SIZE);
	static const int ranges[][2] = { { 0, 1 },
					 { LF_OFF_NODE_ID, LF_OFF_NODE_ID + LF_ID_SIZE },
					 { LF_OFF_LIVE, LF_OFF_LIVE + LF_LIVE_SIZE } };
	assert_changed_only(before, after, ranges, 3, "write_live");

	/* a heartbeat is one more write of the same record */
	live.heartbeat++;
	cr_assert_eq(write_live(&lf, LF_LIVE, &live), 0);
	cr_assert_eq(lockfile_read(&other, &v), 0);
	cr_assert_eq(v.live.heartbeat, live.heartbeat);
	free(before);
	free(after);
	lockfile_close(&other);
	lockfile_close(&lf);
}

Test(lockfile, write_request_sets_status_F_and_the_request)
{
	struct lockfile live_lf, req_lf;
	open_ok(&live_lf, g_path, LF_OPEN_CREATE);
	open_ok(&req_lf, g_path, LF_OPEN_CREATE);
	cr_assert_eq(lockfile_lock(&live_lf, LF_LOCK_LIVE, false), 0);
	struct lf_live live = sample_live();
	cr_assert_eq(write_live(&live_lf, LF_LIVE, &live), 0);
	size_t len;
	uint8_t *before = read_image(g_path, &len);

	struct lf_request req = sample_request();
	cr_assert_eq(lockfile_write_request(&req_lf, &req), 0);
	struct lf_view v;
	cr_assert_eq(lockfile_read(&live_lf, &v), 0);
	cr_assert_eq(v.status, 'F', "status '%c'", v.status);
	cr_assert_eq(v.request_rec, LF_REC_OK);
	assert_request_eq(&v.request, &req);
	cr_assert_eq(v.live_rec, LF_REC_OK, "the live record was disturbed");
	assert_live_eq(&v.live, &live);

	uint8_t *after = read_image(g_path, &len);
	uint8_t want[LF_REQUEST_SIZE];
	lockfile_encode_request(want, &req);
	cr_assert_arr_eq(after + LF_OFF_REQUEST, want, LF_REQUEST_SIZE);
	static const int ranges[][2] = { { 0, 1 }, { LF_OFF_REQUEST, LF_OFF_REQUEST + LF_REQUEST_SIZE } };
	assert_changed_only(before, after, ranges, 2, "write_request");

	/* the live answers by writing L: the request stays as it was */
	cr_assert_eq(lockfile_write_status(&live_lf, LF_LIVE), 0);
	cr_assert_eq(lockfile_read(&req_lf, &v), 0);
	cr_assert_eq(v.status, 'L');
	cr_assert_eq(v.request_rec, LF_REC_OK);
	free(before);
	free(after);
	lockfile_close(&req_lf);
	lockfile_close(&live_lf);
}

Test(lockfile, heartbeat_write_live_with_status_0_keeps_a_pending_F)
{
	struct lockfile live_lf, req_lf;
	open_ok(&live_lf, g_path, LF_OPEN_CREATE);
	open_ok(&req_lf, g_path, LF_OPEN_WRITE);
	cr_assert_eq(lockfile_lock(&live_lf, LF_LOCK_LIVE, false), 0);
	struct lf_live live = sample_live();
	cr_assert_eq(write_live(&live_lf, LF_LIVE, &live), 0);
	struct lf_request req = sample_request();
	cr_assert_eq(lockfile_write_request(&req_lf, &req), 0);
	size_t len;
	uint8_t *before = read_image(g_path, &len);

	live.heartbeat += 1;
	cr_assert_eq(write_live(&live_lf, 0, &live), 0);
	struct lf_view v;
	cr_assert_eq(lockfile_read(&req_lf, &v), 0);
	cr_assert_eq(v.status, 'F', "a heartbeat overwrote the pending request's F with '%c'", v.status);
	cr_assert_eq(v.request_rec, LF_REC_OK);
	assert_request_eq(&v.request, &req);
	cr_assert_eq(v.live_rec, LF_REC_OK);
	cr_assert_eq(v.live.heartbeat, live.heartbeat, "heartbeat %llu, want %llu",
		     (unsigned long long)v.live.heartbeat, (unsigned long long)live.heartbeat);

	uint8_t *after = read_image(g_path, &len);
	static const int ranges[][2] = { { LF_OFF_NODE_ID, LF_OFF_NODE_ID + LF_ID_SIZE },
					 { LF_OFF_LIVE, LF_OFF_LIVE + LF_LIVE_SIZE } };
	assert_changed_only(before, after, ranges, 2, "heartbeat");
	free(before);
	free(after);
	lockfile_close(&req_lf);
	lockfile_close(&live_lf);
}

Test(lockfile, clear_request_writes_L_only_for_the_request_it_names)
{
	struct lockfile live_lf, req_lf;
	open_ok(&live_lf, g_path, LF_OPEN_CREATE);
	open_ok(&req_lf, g_path, LF_OPEN_WRITE);
	cr_assert_eq(lockfile_lock(&live_lf, LF_LOCK_LIVE, false), 0);
	struct lf_live live = sample_live();
	cr_assert_eq(write_live(&live_lf, LF_LIVE, &live), 0);

	/* no request pending: nothing to clear, nothing written */
	size_t len;
	uint8_t *before = read_image(g_path, &len);
	cr_assert_eq(lockfile_clear_request(&live_lf, 5), 0);
	cr_assert_eq(lockfile_clear_request(&live_lf, -1), 0, "cleared with status L");
	uint8_t *after = read_image(g_path, &len);
	cr_assert_arr_eq(before, after, LF_SIZE, "clear_request wrote with no request pending");
	free(before);
	free(after);

	struct lf_request req = sample_request();
	cr_assert_eq(lockfile_write_request(&req_lf, &req), 0);
	int64_t seen = (int64_t)req.seq;
	/* a newer request replaced the one the live saw; the file numbers it */
	cr_assert_eq(lockfile_write_request(&req_lf, &req), 0);
	int64_t newer = (int64_t)req.seq;
	cr_assert_eq(newer, seen + 1, "seq is the previous request's + 1");
	before = read_image(g_path, &len);
	cr_assert_eq(lockfile_clear_request(&live_lf, seen), 0, "cleared a request that was replaced");
	cr_assert_eq(lockfile_clear_request(&live_lf, -1), 0, "'unreadable' clear erased a readable request");
	after = read_image(g_path, &len);
	cr_assert_arr_eq(before, after, LF_SIZE, "a refused clear wrote");
	free(before);
	free(after);

	cr_assert_eq(lockfile_clear_request(&live_lf, newer), 1);
	struct lf_view v;
	cr_assert_eq(lockfile_read(&req_lf, &v), 0);
	cr_assert_eq(v.status, 'L');
	cr_assert_eq(v.request_rec, LF_REC_OK, "the request record is kept, only the status changes");
	cr_assert_eq((int64_t)v.request.seq, newer);
	cr_assert_eq(lockfile_clear_request(&live_lf, newer), 0, "cleared twice");

	/* a torn request is cleared with seq < 0 */
	cr_assert_eq(lockfile_write_request(&req_lf, &req), 0);
	uint8_t *img = read_image(g_path, &len);
	img[LF_OFF_REQUEST + 10] ^= 0x40;
	th_write_file(g_path, img, len);
	free(img);
	cr_assert_eq(lockfile_clear_request(&live_lf, (int64_t)req.seq), 0, "cleared a torn request by seq");
	cr_assert_eq(lockfile_clear_request(&live_lf, -1), 1);
	cr_assert_eq(lockfile_read(&req_lf, &v), 0);
	cr_assert_eq(v.status, 'L');
	cr_assert_eq(th_is_locked(g_path, LF_OFF_RECORD_LOCK), 0, "record lock kept after clear_request");
	lockfile_close(&req_lf);
	lockfile_close(&live_lf);
}

Test(lockfile, write_status_changes_only_the_status_byte)
{
	struct lockfile lf;
	open_ok(&lf, g_path, LF_OPEN_CREATE);
	cr_assert_eq(lockfile_lock(&lf, LF_LOCK_LIVE, false), 0);
	struct lf_live live = sample_live();
	cr_assert_eq(write_live(&lf, LF_LIVE, &live), 0);
	size_t len;
	uint8_t *before = read_image(g_path, &len);
	cr_assert_eq(lockfile_write_status(&lf, LF_PAUSED), 0);
	uint8_t *after = read_image(g_path, &len);
	cr_assert_eq(after[0], 'P');
	static const int ranges[][2] = { { 0, 1 } };
	assert_changed_only(before, after, ranges, 1, "write_status");
	struct lf_view v;
	cr_assert_eq(lockfile_read(&lf, &v), 0);
	cr_assert_eq(v.status, 'P');
	cr_assert_eq(v.live_rec, LF_REC_OK);
	free(before);
	free(after);
	lockfile_close(&lf);
}

Test(lockfile, writes_wait_for_the_record_lock)
{
	struct lockfile lf;
	open_ok(&lf, g_path, LF_OPEN_CREATE);
	pid_t writer = hold(LF_OFF_RECORD_LOCK);
	struct bg b = { .fn = bg_write_status_paused, .lf = &lf };
	bg_start(&b);
	sleep_ms(300);
	cr_assert_not(atomic_load(&b.done), "write_status returned %d while another held the record lock", b.result);
	size_t len;
	uint8_t *img = read_image(g_path, &len);
	cr_assert_eq(img[0], 'N', "status written while another held the record lock");
	free(img);
	release(writer);
	cr_assert(bg_join(&b, 3000), "write still blocked after the record lock was freed");
	cr_assert_eq(b.result, 0);
	img = read_image(g_path, &len);
	cr_assert_eq(img[0], 'P');
	free(img);
	cr_assert_eq(th_is_locked(g_path, LF_OFF_RECORD_LOCK), 0, "record lock kept after the write");
	lockfile_close(&lf);
}

Test(lockfile, reads_wait_for_a_writer_of_the_record_lock)
{
	struct lockfile lf;
	open_ok(&lf, g_path, LF_OPEN_CREATE);
	pid_t writer = hold(LF_OFF_RECORD_LOCK);
	struct lf_view v;
	struct bg b = { .fn = bg_read, .lf = &lf, .view = &v };
	bg_start(&b);
	sleep_ms(300);
	cr_assert_not(atomic_load(&b.done), "read returned %d while a writer held the record lock", b.result);
	release(writer);
	cr_assert(bg_join(&b, 3000), "read still blocked after the record lock was freed");
	cr_assert_eq(b.result, 0);
	cr_assert_eq(v.status, 'N');
	cr_assert_eq(th_is_locked(g_path, LF_OFF_RECORD_LOCK), 0, "record lock kept after the read");
	lockfile_close(&lf);
}

Test(lockfile, torn_records_in_the_file_read_as_bad)
{
	struct lockfile lf;
	open_ok(&lf, g_path, LF_OPEN_CREATE);
	struct lf_live live = sample_live();
	struct lf_request req = sample_request();
	cr_assert_eq(write_live(&lf, LF_LIVE, &live), 0);
	cr_assert_eq(lockfile_write_request(&lf, &req), 0);
	size_t len;
	uint8_t *img = read_image(g_path, &len);
	img[LF_OFF_LIVE + 50] ^= 0x20;
	img[LF_OFF_REQUEST + 100] ^= 0x20;
	th_write_file(g_path, img, len);
	free(img);
	struct lf_view v;
	cr_assert_eq(lockfile_read(&lf, &v), 0);
	cr_assert_eq(v.status, 'F');
	cr_assert_eq(v.live_rec, LF_REC_BAD);
	cr_assert_eq(v.request_rec, LF_REC_BAD);
	lockfile_close(&lf);
}

/* ====================================================================== */
/* Names                                                                  */
/* ====================================================================== */

Test(lockfile, names_exist_for_every_value_and_for_garbage)
{
	for (int c = -128; c < 128; c++) {
		const char *n = lockfile_status_name((char)c);
		cr_assert_not_null(n, "status name of %d", c);
		cr_assert_gt(strlen(n), 0, "empty status name for %d", c);
	}
	for (int i = 0; i < 256; i++) {
		const char *s = lockfile_slot_state_name((uint8_t)i);
		const char *r = lockfile_role_name((uint8_t)i);
		cr_assert_not_null(s, "slot state name of %d", i);
		cr_assert_not_null(r, "role name of %d", i);
		cr_assert_gt(strlen(s), 0);
		cr_assert_gt(strlen(r), 0);
	}
	const char st[] = { 'N', 'L', 'P', 'F' };
	for (int i = 0; i < 4; i++)
		for (int j = i + 1; j < 4; j++)
			cr_assert_str_neq(lockfile_status_name(st[i]), lockfile_status_name(st[j]));
	for (int i = 1; i <= 5; i++)
		for (int j = i + 1; j <= 5; j++)
			cr_assert_str_neq(lockfile_slot_state_name((uint8_t)i), lockfile_slot_state_name((uint8_t)j));
	cr_assert_str_neq(lockfile_role_name(LF_ROLE_PRIMARY), lockfile_role_name(LF_ROLE_BACKUP));
}

/* ====================================================================== */
/* Fencing support                                                        */
/* ====================================================================== */

/* Another node's live record (a new live, after the server gave our lock
 * away): a heartbeat writes nothing over it and reports -ESTALE; with a
 * view, the view shows the record that is there. */
static void heartbeat_spares_anothers_record(struct lockfile *lf, struct lf_live *me, struct lf_view *v)
{
	struct lf_live other = *me;
	other.epoch += 1;
	other.id[0] ^= 0xff;
	cr_assert_eq(write_live(lf, 0, &other), 0);
	size_t len;
	uint8_t *before = read_image(g_path, &len);
	me->heartbeat += 1;
	cr_assert_eq(lockfile_heartbeat(lf, me, v), -ESTALE);
	uint8_t *after = read_image(g_path, &len);
	cr_assert_arr_eq(before, after, LF_SIZE, "a heartbeat wrote over another node's record");
	if (v) {
		cr_expect_eq(v->live_rec, LF_REC_OK);
		cr_expect_eq(v->live.epoch, other.epoch, "the view shows the record that is there");
	}
	free(before);
	free(after);
}

/* A heartbeat writes only over our own record: a live whose lock was given
 * away must never overwrite the new live's. */
Test(lockfile, heartbeat_writes_only_over_our_own_record)
{
	struct lockfile lf;
	open_ok(&lf, g_path, LF_OPEN_CREATE);
	struct lf_live me = sample_live();
	cr_assert_eq(write_live(&lf, LF_LIVE, &me), 0);
	me.heartbeat += 1;
	cr_assert_eq(lockfile_heartbeat(&lf, &me, NULL), 0);
	struct lf_view v;
	cr_assert_eq(lockfile_read(&lf, &v), 0);
	cr_assert_eq(v.live.heartbeat, me.heartbeat);
	cr_assert_eq(v.status, LF_LIVE);

	heartbeat_spares_anothers_record(&lf, &me, NULL);
	lockfile_close(&lf);
}

/* For the background calls of the live lock's holder below. */
static struct lf_live g_me;

static int bg_heartbeat_view(struct bg *b) { return lockfile_heartbeat(b->lf, &g_me, b->view); }

static int bg_read_held(struct bg *b) { return lockfile_read_held(b->lf, b->view); }

/* On a local file system the live node's rounds take no record lock: one
 * kernel holds the file's only copy, and nobody else writes the live
 * record while the live lock is held. Another local user who holds the
 * record lock (a reader may) cannot stall them any more. A round that
 * finds something asked (status F) reads again under the lock, and waits
 * for it like any reader. */
Test(lockfile, the_live_holders_rounds_on_a_local_file_system_take_no_record_lock)
{
	struct lockfile lf;
	open_ok(&lf, g_path, LF_OPEN_CREATE);
	cr_assert_not(lf.poll, "%s is not on a local file system: this test needs one", g_path);
	g_me = sample_live();
	cr_assert_eq(write_live(&lf, LF_LIVE, &g_me), 0);
	pid_t other = hold(LF_OFF_RECORD_LOCK);

	struct lf_view v;
	g_me.heartbeat += 1;
	struct bg b = { .fn = bg_heartbeat_view, .lf = &lf, .view = &v };
	bg_start(&b);
	cr_assert(bg_join(&b, 2000), "a heartbeat waited for the record lock another process holds");
	cr_assert_eq(b.result, 0);
	cr_assert_eq(v.status, LF_LIVE);
	cr_assert_eq(v.live.heartbeat, g_me.heartbeat, "the view says heartbeat %llu, want %llu",
		     (unsigned long long)v.live.heartbeat, (unsigned long long)g_me.heartbeat);
	size_t len;
	uint8_t *img = read_image(g_path, &len);
	cr_assert_eq(get64(img + LF_OFF_LIVE + 8), g_me.heartbeat, "the heartbeat was not written");
	free(img);
	b = (struct bg){ .fn = bg_read_held, .lf = &lf, .view = &v };
	bg_start(&b);
	cr_assert(bg_join(&b, 2000), "a round's read waited for the record lock another process holds");
	cr_assert_eq(b.result, 0);
	cr_assert_eq(v.live.heartbeat, g_me.heartbeat);
	release(other);

	/* Asked for something: the round's read is made again under the lock. */
	struct lf_request req = sample_request();
	cr_assert_eq(lockfile_write_request(&lf, &req), 0);
	other = hold(LF_OFF_RECORD_LOCK);
	b = (struct bg){ .fn = bg_read_held, .lf = &lf, .view = &v };
	bg_start(&b);
	sleep_ms(300);
	cr_assert_not(atomic_load(&b.done), "a round that found F did not read it again under the lock");
	g_me.heartbeat += 1;
	struct lf_view hv;
	struct bg h = { .fn = bg_heartbeat_view, .lf = &lf, .view = &hv };
	bg_start(&h);
	sleep_ms(300);
	img = read_image(g_path, &len);
	cr_assert_eq(get64(img + LF_OFF_LIVE + 8), g_me.heartbeat, "a heartbeat that found F did not write first");
	cr_assert_eq(img[LF_OFF_STATUS], LF_FAILBACK, "the heartbeat wrote over the pending F");
	free(img);
	cr_assert_not(atomic_load(&h.done), "a heartbeat that found F took its view without the lock");
	release(other);
	cr_assert(bg_join(&b, 3000) && bg_join(&h, 3000), "a round still waits after the record lock was freed");
	cr_assert_eq(b.result, 0);
	cr_assert_eq(h.result, 0);
	cr_assert_eq(v.status, LF_FAILBACK);
	cr_assert_eq(hv.status, LF_FAILBACK);
	cr_assert_eq(hv.request_rec, LF_REC_OK);
	cr_assert_eq(hv.live.heartbeat, g_me.heartbeat);
	lockfile_close(&lf);
}

/* The heartbeat written without the record lock may meet a reader that
 * holds it: that reader reads a torn live record again rather than report
 * damage. Another process heartbeats as fast as it can while this one
 * reads under the lock; raw reads beside them count how often a read met a
 * write. */
Test(lockfile, a_locked_read_never_reports_a_live_record_torn_by_a_heartbeat)
{
	struct lockfile lf;
	open_ok(&lf, g_path, LF_OPEN_CREATE);
	cr_assert_not(lf.poll, "%s is not on a local file system: this test needs one", g_path);
	struct lf_live me = sample_live();
	cr_assert_eq(write_live(&lf, LF_LIVE, &me), 0);
	pid_t writer = fork();
	cr_assert_geq(writer, 0);
	if (writer == 0) {
		struct lockfile w;
		if (lockfile_open(&w, g_path, LF_OPEN_WRITE) < 0)
			_exit(1);
		int64_t end = th_now_ns() + 2000000000LL;
		while (th_now_ns() < end) {
			me.heartbeat++;
			if (lockfile_heartbeat(&w, &me, NULL) < 0)
				_exit(2);
		}
		_exit(0);
	}
	int fd = open(g_path, O_RDONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	int reads = 0, bad = 0, raw = 0, raw_torn = 0;
	uint64_t last = 0;
	int64_t end = th_now_ns() + 1500000000LL;
	while (th_now_ns() < end) {
		struct lf_view v;
		cr_assert_eq(lockfile_read_any(&lf, &v), 0);
		reads++;
		bad += v.live_rec != LF_REC_OK;
		last = v.live.heartbeat;
		uint8_t rec[LF_LIVE_SIZE];
		struct lf_live l;
		if (pread(fd, rec, sizeof(rec), LF_OFF_LIVE) == (ssize_t)sizeof(rec)) {
			raw++;
			raw_torn += lockfile_decode_live(rec, &l) != LF_REC_OK;
		}
	}
	close(fd);
	int st = 0;
	cr_assert_eq(waitpid(writer, &st, 0), writer);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the heartbeating process failed (%#x)", st);
	cr_log_info("%d locked reads, %d raw reads of which %d torn, heartbeat %llu at the last read", reads, raw,
		    raw_torn, (unsigned long long)last);
	cr_assert_gt(last, sample_live().heartbeat + 1000, "the heartbeats did not run beside the reads");
	cr_assert_eq(bad, 0, "%d of %d locked reads reported a torn live record as damaged", bad, reads);
	lockfile_close(&lf);
}

/* A heartbeat round that wants the file reads it in the same hold as its
 * write: the view it returns is the file as the hold left it, the same as a
 * read after it; and one that found another's record wrote nothing and
 * still shows the file as it is. */
Test(lockfile, a_heartbeat_with_a_view_reads_the_file_as_its_write_left_it)
{
	struct lockfile lf;
	open_ok(&lf, g_path, LF_OPEN_CREATE);
	struct lf_live me = sample_live();
	cr_assert_eq(write_live(&lf, LF_LIVE, &me), 0);
	struct lf_slot s = { .state = LF_SLOT_LIVE, .pid = 4242, .seq = 9 };
	memcpy(s.id, me.id, LF_ID_SIZE);
	snprintf(s.name, sizeof(s.name), "node-a");
	cr_assert_eq(lockfile_write_slot(&lf, 2, &s), 0);
	me.heartbeat += 1;
	struct lf_view hv, rv;
	memset(&hv, 0xa5, sizeof(hv));
	cr_assert_eq(lockfile_heartbeat(&lf, &me, &hv), 0);
	cr_assert_eq(lockfile_read_any(&lf, &rv), 0);
	cr_expect_eq(hv.live_rec, LF_REC_OK);
	cr_expect_eq(hv.live.heartbeat, me.heartbeat, "the view shows heartbeat %llu, written %llu",
		     (unsigned long long)hv.live.heartbeat, (unsigned long long)me.heartbeat);
	cr_expect_eq(hv.status, rv.status);
	cr_expect_eq(hv.damage, rv.damage);
	cr_expect_eq(hv.size, rv.size);
	cr_expect_eq(hv.live.epoch, rv.live.epoch);
	cr_expect_eq(hv.live.heartbeat, rv.live.heartbeat);
	cr_expect_arr_eq(hv.node_id, rv.node_id, LF_ID_SIZE);
	for (int i = 0; i < LF_SLOTS; i++)
		cr_expect_eq(hv.slot_rec[i], rv.slot_rec[i], "slot %d", i);
	cr_expect_eq(hv.slots[2].pid, 4242);
	cr_expect_str_eq(hv.slots[2].name, "node-a");

	heartbeat_spares_anothers_record(&lf, &me, &hv);
	lockfile_close(&lf);
}

Test(lockfile, file_system_types_local_or_networked)
{
	static const long local[] = { 0xEF53, 0x58465342, 0x9123683E, 0x01021994 };
	static const long networked[] = {
		0x6969,     /* NFS */
		0x65735546, /* FUSE: GlusterFS, CephFS (fuse), sshfs */
		0x00C36400, /* CephFS (kernel) */
		0x01161970, /* GFS2 */
		0xFF534D42, /* CIFS */
		0,          /* unknown */
	};
	for (size_t i = 0; i < sizeof(local) / sizeof(local[0]); i++)
		cr_expect(lockfile_fs_is_local(local[i]), "0x%lx should be local", local[i]);
	for (size_t i = 0; i < sizeof(networked) / sizeof(networked[0]); i++)
		cr_expect(!lockfile_fs_is_local(networked[i]), "0x%lx should be networked", networked[i]);
	struct lockfile lf;
	open_ok(&lf, g_path, LF_OPEN_CREATE);
	int r = lockfile_is_local(&lf);
	cr_expect(r == 0 || r == 1, "statfs of the test directory: %d", r);
	lockfile_close(&lf);
}

/* One table names the types and says which are local: check-storage's
 * report and the node's decisions cannot disagree. */
Test(lockfile, file_system_names_come_from_the_same_table)
{
	static const struct {
		long type;
		const char *name;
		bool local;
	} known[] = {
		{ 0xEF53, "ext4", true },      { 0x01021994, "tmpfs", true }, { LF_FS_NFS, "nfs", false },
		{ LF_FS_FUSE, "fuse", false }, { LF_FS_CEPH, "ceph", false },
	};
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		const char *name = lockfile_fs_name(known[i].type);
		cr_expect(name && !strcmp(name, known[i].name), "0x%lx: %s, want %s", known[i].type,
			  name ? name : "NULL", known[i].name);
		cr_expect_eq(lockfile_fs_is_local(known[i].type), known[i].local, "0x%lx", known[i].type);
	}
	cr_expect_null(lockfile_fs_name(0x12345678), "an unknown type has a name");
	cr_expect(!lockfile_fs_is_local(0x12345678), "an unknown type is local");
}

/* lockfile_lock_within: a wait of tries that ends by itself while
 * another process holds the byte, and gets it once that one is gone;
 * every try with every signal blocked, as the node's tries. */
Test(lockfile, lock_within_gives_up_while_held_and_takes_once_free)
{
	struct lockfile lf;
	open_ok(&lf, g_path, LF_OPEN_CREATE);
	pid_t other = hold(LF_OFF_LIVE_LOCK);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int r = lockfile_lock_within(&lf, LF_LOCK_LIVE, 200);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	cr_expect_eq(r, -ETIMEDOUT, "held by another process: %d", r);
	cr_expect_geq(ms, 200, "gave up after %.1f ms, before its 200", ms);
	release(other);
	cr_expect_eq(lockfile_lock_within(&lf, LF_LOCK_LIVE, 5000), 0, "free: not taken");
	cr_expect_eq(lockfile_held(&lf, LF_OFF_LIVE_LOCK), 0, "our own lock counts as held");
	lockfile_close(&lf);
}

/* Readers share the record lock; a writer's hold excludes them. */
Test(lockfile, read_locks_share_the_record_byte)
{
	struct lockfile a, b;
	open_ok(&a, g_path, LF_OPEN_CREATE);
	open_ok(&b, g_path, LF_OPEN_WRITE);
	cr_expect_eq(lockfile_read_lock(&a), 0);
	cr_expect_eq(lockfile_read_lock(&b), 0, "two readers excluded each other");
	cr_expect_eq(lockfile_read_unlock(&a), 0);
	cr_expect_eq(lockfile_read_unlock(&b), 0);
	pid_t writer = hold(LF_OFF_RECORD_LOCK);
	cr_expect_eq(lockfile_read_lock(&a), -EAGAIN, "a reader got the byte a writer holds");
	release(writer);
	lockfile_close(&a);
	lockfile_close(&b);
}

/* The test directory is on a local file system, whose reads go through
 * the page cache: the probe must say so (a probe that always said "no
 * cache" would hide the FUSE mounts it is there to find; the case of a
 * FUSE mount with direct I/O, 0, is tests/cluster/test_ceph.sh's). */
Test(lockfile, page_cache_probe_sees_a_local_file_cached)
{
	struct lockfile lf;
	open_ok(&lf, g_path, LF_OPEN_CREATE);
	cr_assert_eq(lockfile_page_cached(&lf), 1);
	lockfile_close(&lf);
}

/* Format 1.1 gives slot byte 18 a meaning: flags, where a 1.0 node writes
 * zero. A live slot from a 1.0 node therefore reads as ready. */
Test(lockfile, slot_flags_at_byte_18_and_a_1_0_slot_reads_ready)
{
	struct lf_slot s = { .role = LF_ROLE_BACKUP, .state = LF_SLOT_LIVE, .flags = LF_SLOT_F_STARTING, .seq = 3 };
	snprintf(s.name, sizeof(s.name), "node-b");
	uint8_t rec[LF_SLOT_SIZE];
	lockfile_encode_slot(rec, &s);
	cr_assert_eq(rec[17], LF_SLOT_LIVE);
	cr_assert_eq(rec[18], LF_SLOT_F_STARTING, "flags at byte 18: 0x%02x", rec[18]);
	struct lf_slot back;
	cr_assert_eq(lockfile_decode_slot(rec, &back), LF_REC_OK);
	cr_assert_eq(back.flags, LF_SLOT_F_STARTING);
	cr_assert_str_eq(lockfile_slot_describe(&back), "starting");
	s.flags = 0; /* what a 1.0 node writes */
	lockfile_encode_slot(rec, &s);
	cr_assert_eq(rec[18], 0);
	cr_assert_eq(lockfile_decode_slot(rec, &back), LF_REC_OK);
	cr_assert_str_eq(lockfile_slot_describe(&back), "live");
}

/* A request into a paused group is refused: checked in the same hold of
 * the record lock as the write (a pause between a requester's read and
 * its write must not leave F behind). */
Test(lockfile, a_request_into_a_paused_group_is_refused_and_changes_nothing)
{
	struct lockfile lf;
	open_ok(&lf, g_path, LF_OPEN_CREATE);
	struct lf_live live = sample_live();
	cr_assert_eq(write_live(&lf, LF_LIVE, &live), 0);
	cr_assert_eq(lockfile_write_status(&lf, LF_PAUSED), 0);
	struct snap s;
	snap_take(g_path, &s);
	struct lf_request req = sample_request();
	cr_assert_eq(lockfile_write_request(&lf, &req), -EAGAIN);
	snap_check(g_path, &s, "a request into a paused group");
	lockfile_close(&lf);
}

/* Taking the role clears the F the decision saw, but not one written
 * after it: that request is the new live node's to act on (found by the
 * model: a failback requested during a failover was erased). */
Test(lockfile, take_live_keeps_a_request_that_came_after_the_decision)
{
	struct lockfile lf;
	open_ok(&lf, g_path, LF_OPEN_CREATE);
	struct lf_live live = sample_live();
	cr_assert_eq(write_live(&lf, LF_LIVE, &live), 0);
	struct lf_request req = sample_request();
	cr_assert_eq(lockfile_write_request(&lf, &req), 0);
	struct lf_view v;
	/* Decided on L (seq -1): the F is newer, so it stays. */
	live.epoch++;
	cr_assert_eq(lockfile_take_live(&lf, &live, -1, NULL, NULL), 1);
	cr_assert_eq(lockfile_read(&lf, &v), 0);
	cr_assert_eq(v.status, LF_FAILBACK, "a request newer than the decision was erased");
	cr_assert_eq(v.live_rec, LF_REC_OK);
	cr_assert_eq(v.live.epoch, live.epoch, "the live record was not written");
	/* Decided on this very request (it names us): cleared to L. */
	live.epoch++;
	cr_assert_eq(lockfile_take_live(&lf, &live, (int64_t)req.seq, NULL, NULL), 0);
	cr_assert_eq(lockfile_read(&lf, &v), 0);
	cr_assert_eq(v.status, LF_LIVE);
	/* A newer request than the one decided on stays too. */
	struct lf_request again = sample_request();
	cr_assert_eq(lockfile_write_request(&lf, &again), 0);
	cr_assert_eq(lockfile_take_live(&lf, &live, (int64_t)req.seq, NULL, NULL), 1);
	cr_assert_eq(lockfile_read(&lf, &v), 0);
	cr_assert_eq(v.status, LF_FAILBACK);
	cr_assert_eq(v.request.seq, again.seq);
	lockfile_close(&lf);
}

/* ====================================================================== */
/* The path and the open file (format 1.2)                                 */
/* ====================================================================== */

/* A cleanup job, a restore or a redeploy can take the file from under its
 * nodes: the path then names another file, or none, and a node must know. */
Test(lockfile, the_path_names_the_open_file_until_it_is_deleted)
{
	struct lockfile lf;
	open_ok(&lf, g_path, LF_OPEN_CREATE);
	cr_assert_eq(lockfile_still_at_path(&lf), 1);
	cr_assert_eq(unlink(g_path), 0);
	cr_assert_eq(lockfile_still_at_path(&lf), 0, "a deleted file is still taken for the one at the path");
	/* and a new file at the path is another file */
	struct lockfile fresh;
	open_ok(&fresh, g_path, LF_OPEN_CREATE);
	cr_assert_eq(lockfile_still_at_path(&lf), 0);
	cr_assert_eq(lockfile_still_at_path(&fresh), 1);
	lockfile_close(&fresh);
	lockfile_close(&lf);
}

Test(lockfile, a_file_renamed_away_is_not_at_the_path_until_it_is_back)
{
	struct lockfile lf;
	open_ok(&lf, g_path, LF_OPEN_CREATE);
	char *away = th_path(g_dir, "group.lock.old");
	cr_assert_eq(rename(g_path, away), 0);
	cr_assert_eq(lockfile_still_at_path(&lf), 0);
	/* a new file at the path while ours lives on under the other name:
	 * its link count says nothing, the inode does */
	struct lockfile fresh;
	open_ok(&fresh, g_path, LF_OPEN_CREATE);
	cr_assert_eq(lockfile_still_at_path(&lf), 0, "another file at the path is taken for ours");
	lockfile_close(&fresh);
	cr_assert_eq(rename(away, g_path), 0);
	cr_assert_eq(lockfile_still_at_path(&lf), 1, "renamed back, it is the file at the path again");
	lockfile_close(&lf);
	free(away);
}

Test(lockfile, another_file_moved_or_copied_over_the_path_is_not_ours)
{
	struct lockfile lf;
	open_ok(&lf, g_path, LF_OPEN_CREATE);
	/* mv -f of another group's file */
	char *other = th_path(g_dir, "other.lock");
	struct lockfile o;
	open_ok(&o, other, LF_OPEN_CREATE);
	lockfile_close(&o);
	cr_assert_eq(rename(other, g_path), 0);
	cr_assert_eq(lockfile_still_at_path(&lf), 0, "a file moved over the path is taken for ours");
	lockfile_close(&lf);
	/* cp --remove-destination: the same bytes, a new file */
	open_ok(&lf, g_path, LF_OPEN_CREATE);
	size_t len;
	uint8_t *img = read_image(g_path, &len);
	cr_assert_eq(unlink(g_path), 0);
	th_write_file(g_path, img, len);
	cr_assert_eq(lockfile_still_at_path(&lf), 0, "a copy at the path is taken for the open file");
	/* a symbolic link at the path, even to our own file, is not it: no
	 * node opens through one (O_NOFOLLOW) */
	cr_assert_eq(unlink(g_path), 0);
	char self[64];
	snprintf(self, sizeof self, "/proc/self/fd/%d", lf.fd);
	cr_assert_eq(symlink(self, g_path), 0);
	cr_assert_eq(lockfile_still_at_path(&lf), 0, "a symlink at the path is taken for the file");
	lockfile_close(&lf);
	free(img);
	free(other);
}

Test(lockfile, a_directory_of_the_path_replaced_is_seen)
{
	char *dir = th_path(g_dir, "d"), *path = th_path(dir, "group.lock"), *away = th_path(g_dir, "d.old");
	cr_assert_eq(mkdir(dir, 0755), 0);
	struct lockfile lf;
	open_ok(&lf, path, LF_OPEN_CREATE);
	cr_assert_eq(rename(dir, away), 0);
	th_write_file(dir, "x", 1); /* d is a plain file now: ENOTDIR */
	cr_assert_eq(lockfile_still_at_path(&lf), 0);
	cr_assert_eq(unlink(dir), 0);
	cr_assert_eq(symlink("d", dir), 0); /* d -> d: the path cannot be looked at */
	cr_assert_eq(lockfile_still_at_path(&lf), -ELOOP, "a path that cannot be resolved is an error, not ours");
	lockfile_close(&lf);
	free(dir), free(path), free(away);
}

/* Every live record says which file it was written on, whatever the
 * caller filled in; a reader through another open of the same file at the
 * same path knows it as written here, a copy or a moved file does not. */
Test(lockfile, a_live_record_knows_the_file_it_was_written_on)
{
	struct lockfile a, b;
	open_ok(&a, g_path, LF_OPEN_CREATE);
	open_ok(&b, g_path, LF_OPEN_CREATE);
	struct stat st;
	cr_assert_eq(stat(g_path, &st), 0);
	cr_assert_eq(a.file_id, (uint64_t)st.st_ino);
	cr_assert(a.file_id == b.file_id && a.path_hash == b.path_hash, "two opens of one path differ");
	struct lf_live live = sample_live(); /* file_id and path_hash not a's */
	cr_assert_eq(lockfile_lock(&a, LF_LOCK_LIVE, false), 0);
	cr_assert_eq(lockfile_write_live(&a, LF_LIVE, &live), 0);
	struct lf_view v;
	cr_assert_eq(lockfile_read(&b, &v), 0);
	cr_assert_eq(v.live.file_id, a.file_id, "the record does not carry the file it was written on");
	cr_assert_eq(v.live.path_hash, a.path_hash);
	cr_assert(lockfile_live_here(&b, &v.live));
	/* the heartbeat and the take-over stamp it too */
	live.heartbeat++;
	cr_assert_eq(lockfile_heartbeat(&a, &live, NULL), 0);
	cr_assert_eq(lockfile_take_live(&a, &live, -1, NULL, NULL), 0);
	cr_assert_eq(lockfile_read(&b, &v), 0);
	cr_assert(lockfile_live_here(&b, &v.live));
	lockfile_close(&b);

	/* a copy: a new inode */
	size_t len;
	uint8_t *img = read_image(g_path, &len);
	char *copy = th_path(g_dir, "copy.lock"), *moved = th_path(g_dir, "moved.lock");
	th_write_file(copy, img, len);
	struct lockfile c;
	open_ok(&c, copy, LF_OPEN_CREATE);
	cr_assert_eq(lockfile_read(&c, &v), 0);
	cr_assert_not(lockfile_live_here(&c, &v.live), "a copy's record is taken for one written on it");
	lockfile_close(&c);
	/* the copy restored over the path: the path, not the file */
	cr_assert_eq(rename(copy, g_path), 0);
	open_ok(&c, g_path, LF_OPEN_CREATE);
	cr_assert_eq(lockfile_read(&c, &v), 0);
	cr_assert_not(lockfile_live_here(&c, &v.live), "a restored copy's record is taken for one written on it");
	lockfile_close(&c);
	lockfile_close(&a);

	/* the file moved: the same inode at another path */
	open_ok(&a, g_path, LF_OPEN_CREATE);
	cr_assert_eq(lockfile_lock(&a, LF_LOCK_LIVE, false), 0);
	cr_assert_eq(lockfile_write_live(&a, LF_LIVE, &live), 0);
	lockfile_close(&a);
	cr_assert_eq(rename(g_path, moved), 0);
	open_ok(&c, moved, LF_OPEN_CREATE);
	cr_assert_eq(lockfile_read(&c, &v), 0);
	cr_assert_not(lockfile_live_here(&c, &v.live), "a moved file's record is taken for one written at its path");
	lockfile_close(&c);
	/* and back where it was written: its own again */
	cr_assert_eq(rename(moved, g_path), 0);
	open_ok(&c, g_path, LF_OPEN_CREATE);
	cr_assert_eq(lockfile_read(&c, &v), 0);
	cr_assert(lockfile_live_here(&c, &v.live));
	/* a record of an older node carries no identity: unknown, not here */
	struct lf_live old = v.live;
	old.file_id = 0, old.path_hash = 0;
	cr_assert_not(lockfile_live_here(&c, &old));
	old.path_hash = c.path_hash;
	cr_assert_not(lockfile_live_here(&c, &old));
	lockfile_close(&c);
	free(img), free(copy), free(moved);
}

/* The path that counts is the one within the file system, so that hosts
 * mounting one share at different places agree: a tmpfs seen at two
 * mount points gives one identity at both. */
Test(lockfile, the_path_hash_is_the_path_within_the_file_system)
{
	if (geteuid() != 0)
		cr_skip_test("needs root (mounts)");
	char *m1 = th_path(g_dir, "m1"), *m2 = th_path(g_dir, "deeper");
	char *m2b = th_path(m2, "m2");
	cr_assert_eq(mkdir(m1, 0755), 0);
	cr_assert_eq(mkdir(m2, 0755), 0);
	cr_assert_eq(mkdir(m2b, 0755), 0);
	if (mount("tmpfs", m1, "tmpfs", 0, "size=1m") < 0)
		cr_skip_test("mount tmpfs: %s", strerror(errno));
	cr_assert_eq(mount(m1, m2b, NULL, MS_BIND, NULL), 0, "bind mount: %s", strerror(errno));
	char *p1 = th_path(m1, "group.lock"), *p2 = th_path(m2b, "group.lock");
	struct lockfile a, b;
	open_ok(&a, p1, LF_OPEN_CREATE);
	open_ok(&b, p2, LF_OPEN_CREATE);
	cr_assert_eq(a.file_id, b.file_id);
	cr_assert_eq(a.path_hash, b.path_hash, "one file, two mount points: two identities");
	cr_assert_eq(a.path_hash, lockfile_crc32c("/group.lock", 11));
	cr_assert_eq(lockfile_lock(&a, LF_LOCK_LIVE, false), 0);
	struct lf_live live = sample_live();
	cr_assert_eq(lockfile_write_live(&a, LF_LIVE, &live), 0);
	struct lf_view v;
	cr_assert_eq(lockfile_read(&b, &v), 0);
	cr_assert(lockfile_live_here(&b, &v.live));
	lockfile_close(&a);
	lockfile_close(&b);
	/* on the file system of g_dir the whole path counts */
	struct lockfile c;
	open_ok(&c, g_path, LF_OPEN_CREATE);
	cr_assert_neq(c.path_hash, lockfile_crc32c("/group.lock", 11));
	lockfile_close(&c);
	umount2(m2b, MNT_DETACH);
	umount2(m1, MNT_DETACH);
	free(m1), free(m2), free(m2b), free(p1), free(p2);
}

/* ---- damage to a file that was ours: seen, mended by its owner ---------- */

/* A running group as the live node in slot 0 sees it: its slot, another
 * node's slot 1 (through a second open), the live lock, L and its live
 * record, and a request that was refused (status back to L). */
struct group {
	struct lockfile live, other;
	struct lf_live rec;
	struct lf_slot mine, theirs;
};

static void group_up(struct group *g)
{
	open_ok(&g->live, g_path, LF_OPEN_CREATE);
	open_ok(&g->other, g_path, LF_OPEN_CREATE);
	cr_assert_eq(lockfile_claim_slot(&g->live), 0);
	cr_assert_eq(lockfile_claim_slot(&g->other), 1);
	g->mine = sample_slot();
	g->mine.state = LF_SLOT_LIVE;
	g->mine.epoch = 3;
	g->theirs = sample_slot();
	g->theirs.id[0] ^= 0xff;
	strcpy(g->theirs.name, "delta");
	cr_assert_eq(lockfile_write_slot(&g->live, 0, &g->mine), 0);
	cr_assert_eq(lockfile_write_slot(&g->other, 1, &g->theirs), 0);
	cr_assert_eq(lockfile_lock(&g->live, LF_LOCK_LIVE, false), 0);
	g->rec = sample_live();
	g->rec.epoch = 3;
	g->rec.slot = 0;
	cr_assert_eq(lockfile_write_live(&g->live, LF_LIVE, &g->rec), 0);
	struct lf_request req = sample_request();
	cr_assert_eq(lockfile_write_request(&g->other, &req), 0);
	cr_assert_eq(lockfile_clear_request(&g->live, (int64_t)req.seq), 1);
}

static void group_down(struct group *g)
{
	lockfile_close(&g->other);
	lockfile_close(&g->live);
}

static void truncate_to(off_t len) { cr_assert_eq(truncate(g_path, len), 0, "truncate: %s", strerror(errno)); }

static void poke(off_t off, uint8_t byte)
{
	int fd = open(g_path, O_WRONLY | O_CLOEXEC);
	cr_assert(fd >= 0);
	cr_assert_eq(pwrite(fd, &byte, 1, off), 1);
	close(fd);
}

Test(lockfile, read_any_reports_damage_that_read_refuses)
{
	struct group g;
	group_up(&g);
	struct lf_view v;
	cr_assert_eq(lockfile_read_any(&g.other, &v), 0);
	cr_assert_eq(v.damage, 0u);
	cr_assert_eq(v.size, (uint32_t)LF_SIZE);

	truncate_to(0);
	cr_assert_eq(lockfile_read(&g.other, &v), -ENODATA);
	cr_assert_eq(lockfile_read_any(&g.other, &v), 0);
	cr_assert_eq(v.damage, (unsigned)(LF_DMG_SHORT | LF_DMG_HEADER), "damage %#x", v.damage);
	cr_assert_eq(v.size, 0u);
	cr_assert_eq(v.status, 0);
	cr_assert_eq(v.live_rec, LF_REC_EMPTY);
	cr_assert_eq(v.slot_rec[0], LF_REC_EMPTY);

	group_down(&g);
	cr_assert_eq(unlink(g_path), 0);
	group_up(&g);
	poke(LF_OFF_HEADER + 28, 0x5a); /* the header's checksum */
	cr_assert_eq(lockfile_read(&g.other, &v), -EBADMSG);
	cr_assert_eq(lockfile_read_any(&g.other, &v), 0);
	cr_assert_eq(v.damage, (unsigned)LF_DMG_HEADER);
	cr_assert_eq(v.live_rec, LF_REC_OK, "the records still read");

	uint8_t head[LF_HEADER_SIZE];
	lockfile_encode_header(head);
	header_set_version(head, 2, 0);
	int fd = open(g_path, O_WRONLY | O_CLOEXEC);
	cr_assert_eq(pwrite(fd, head, sizeof head, LF_OFF_HEADER), (ssize_t)sizeof head);
	close(fd);
	cr_assert_eq(lockfile_read(&g.other, &v), -EBADMSG);
	cr_assert_eq(lockfile_read_any(&g.other, &v), 0);
	cr_assert_eq(v.damage, (unsigned)LF_DMG_FOREIGN, "a sound header of major 2 is another format's");
	group_down(&g);
}

/* truncate -s 0 under a running group: the live node gives the file its
 * length, header, status, live record and its own slot back; the other
 * node's slot is not its to write and stays EMPTY until that node writes
 * it. Before, the live node fenced and the file was refused for good. */
Test(lockfile, repair_mends_a_truncated_file)
{
	struct group g;
	group_up(&g);
	truncate_to(0);
	g.rec.heartbeat++;
	int r = lockfile_repair(&g.live, &g.rec, 0, &g.mine);
	cr_assert_eq(r, LF_FIX_LENGTH | LF_FIX_HEADER | LF_FIX_LIVE | LF_FIX_NODE_ID | LF_FIX_SLOT | LF_FIX_STATUS,
		     "repair returned %#x", r);
	cr_assert_eq(file_size(g_path), LF_SIZE);
	struct lf_view v;
	cr_assert_eq(lockfile_read(&g.other, &v), 0, "the repaired file does not read");
	cr_assert_eq(v.status, LF_LIVE);
	cr_assert_eq(v.live_rec, LF_REC_OK);
	/* The mended record says which file it was written on, as every
	 * live record does: a crash right after the repair is no new file. */
	g.rec.file_id = g.live.file_id;
	g.rec.path_hash = g.live.path_hash;
	assert_live_eq(&v.live, &g.rec);
	cr_assert_arr_eq(v.node_id, g.rec.id, LF_ID_SIZE);
	cr_assert_eq(v.slot_rec[0], LF_REC_OK);
	assert_slot_eq(&v.slots[0], &g.mine);
	cr_assert_eq(v.slot_rec[1], LF_REC_EMPTY, "the other node's slot was written by the live node");
	cr_assert_eq(v.request_rec, LF_REC_EMPTY);
	/* Every open accepts it again, and a second repair has nothing to do. */
	struct lockfile ro;
	open_ok(&ro, g_path, LF_OPEN_READ);
	lockfile_close(&ro);
	cr_assert_eq(lockfile_repair(&g.live, &g.rec, 0, &g.mine), 0);
	/* The other node writes its own record again. */
	cr_assert_eq(lockfile_slot_is(&g.other, 1, g.theirs.id), 0);
	cr_assert_eq(lockfile_write_slot(&g.other, 1, &g.theirs), 0);
	cr_assert_eq(lockfile_slot_is(&g.other, 1, g.theirs.id), 1);
	group_down(&g);
}

Test(lockfile, repair_of_a_half_file_writes_only_the_missing_length)
{
	struct group g;
	group_up(&g);
	size_t len;
	uint8_t *before = read_image(g_path, &len);
	truncate_to(LF_SIZE / 2);
	int r = lockfile_repair(&g.live, &g.rec, 0, &g.mine);
	cr_assert_eq(r, LF_FIX_LENGTH, "repair returned %#x", r);
	uint8_t *after = read_image(g_path, &len);
	cr_assert_eq(len, LF_SIZE);
	cr_assert_arr_eq(after, before, LF_SIZE / 2, "bytes that were there changed");
	for (size_t i = LF_SIZE / 2; i < LF_SIZE; i++)
		cr_assert_eq(after[i], 0, "byte %zu of the lost half is not zero", i);
	free(before);
	free(after);
	group_down(&g);
}

/* Only what the live node owns, and only what is damaged: the other
 * node's slot and the request stay as they were. */
Test(lockfile, repair_mends_header_live_record_status_and_own_slot_only)
{
	struct group g;
	group_up(&g);
	poke(LF_OFF_HEADER + 3, 'x');   /* magic */
	poke(LF_OFF_LIVE + 50, 0xee);   /* live record */
	poke(LF_OFF_STATUS, 'Z');       /* status */
	poke(LF_OFF_NODE_ID + 2, 0x77); /* node id */
	poke(LF_OFF_SLOTS + 40, 0xee);  /* our slot */
	size_t len;
	uint8_t *before = read_image(g_path, &len);
	int r = lockfile_repair(&g.live, &g.rec, 0, &g.mine);
	cr_assert_eq(r, LF_FIX_HEADER | LF_FIX_LIVE | LF_FIX_NODE_ID | LF_FIX_SLOT | LF_FIX_STATUS, "repair %#x", r);
	uint8_t *after = read_image(g_path, &len);
	static const int ranges[][2] = { { 0, 1 },
					 { LF_OFF_NODE_ID, LF_OFF_NODE_ID + LF_ID_SIZE },
					 { LF_OFF_HEADER, LF_OFF_HEADER + LF_HEADER_SIZE },
					 { LF_OFF_LIVE, LF_OFF_LIVE + LF_LIVE_SIZE },
					 { LF_OFF_SLOTS, LF_OFF_SLOTS + LF_SLOT_SIZE } };
	assert_changed_only(before, after, ranges, 5, "repair");
	struct lf_view v;
	cr_assert_eq(lockfile_read(&g.other, &v), 0);
	cr_assert_eq(v.status, LF_LIVE);
	/* The mended record says which file it was written on, as every
	 * live record does: a crash right after the repair is no new file. */
	g.rec.file_id = g.live.file_id;
	g.rec.path_hash = g.live.path_hash;
	assert_live_eq(&v.live, &g.rec);
	assert_slot_eq(&v.slots[0], &g.mine);
	assert_slot_eq(&v.slots[1], &g.theirs);
	cr_assert_eq(v.request_rec, LF_REC_OK, "the request record was touched");
	free(before);
	free(after);
	group_down(&g);
}

/* A request pending (F) is the live node's check to answer, not the
 * repair's: F stays. */
Test(lockfile, repair_keeps_a_pending_request)
{
	struct group g;
	group_up(&g);
	struct lf_request req = sample_request();
	cr_assert_eq(lockfile_write_request(&g.other, &req), 0);
	poke(LF_OFF_LIVE + 10, 0xee);
	cr_assert_eq(lockfile_repair(&g.live, &g.rec, 0, &g.mine), LF_FIX_LIVE);
	struct lf_view v;
	cr_assert_eq(lockfile_read(&g.other, &v), 0);
	cr_assert_eq(v.status, LF_FAILBACK);
	cr_assert_eq(v.request.seq, req.seq);
	group_down(&g);
}

/* Another node's good record is what a node that took the role writes:
 * the repair writes nothing (the caller fences); nor does it touch a
 * file with another format's sound header. */
Test(lockfile, repair_never_writes_over_another_live_record_or_a_foreign_header)
{
	struct group g;
	group_up(&g);
	struct lf_live other = g.rec;
	other.epoch++;
	other.id[0] ^= 0xff;
	cr_assert_eq(lockfile_write_live(&g.other, 0, &other), 0);
	poke(LF_OFF_STATUS, 'Z');
	truncate_to(LF_SIZE - 1);
	struct snap s;
	snap_take(g_path, &s);
	cr_assert_eq(lockfile_repair(&g.live, &g.rec, 0, &g.mine), -ESTALE);
	snap_check(g_path, &s, "a repair over another node's live record");
	group_down(&g);

	cr_assert_eq(unlink(g_path), 0);
	group_up(&g);
	uint8_t head[LF_HEADER_SIZE];
	lockfile_encode_header(head);
	header_set_version(head, 2, 0);
	int fd = open(g_path, O_WRONLY | O_CLOEXEC);
	cr_assert_eq(pwrite(fd, head, sizeof head, LF_OFF_HEADER), (ssize_t)sizeof head);
	close(fd);
	poke(LF_OFF_LIVE + 10, 0xee);
	snap_take(g_path, &s);
	cr_assert_eq(lockfile_repair(&g.live, &g.rec, 0, &g.mine), -EBADMSG);
	snap_check(g_path, &s, "a repair of a file with a major-2 header");
	group_down(&g);
}

/* Only the repair gives a short file its length back: a slot or status
 * write into it writes nothing. A slot write once made a truncated file
 * 640 bytes long, which every open then refused as not ours. */
Test(lockfile, writes_into_a_short_file_leave_it_as_it_is)
{
	static const off_t lens[] = { 0, 100, LF_SIZE - 1 };
	for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
		struct group g;
		group_up(&g);
		truncate_to(lens[i]);
		struct snap s;
		snap_take(g_path, &s);
		cr_assert_eq(lockfile_write_slot(&g.other, 1, &g.theirs), 1, "length %lld", (long long)lens[i]);
		cr_assert_eq(lockfile_write_status(&g.live, LF_PAUSED), 1);
		cr_assert_eq(lockfile_slot_is(&g.other, 1, g.theirs.id), -ENODATA);
		/* Writers that read first see zeros past the end: no error,
		 * and nothing written. */
		struct lf_live hb = g.rec;
		hb.heartbeat++;
		if (lens[i] < LF_OFF_LIVE + LF_LIVE_SIZE) /* the live record is gone */
			cr_assert_eq(lockfile_heartbeat(&g.live, &hb, NULL), -ESTALE);
		cr_assert_eq(lockfile_clear_request(&g.live, -1), 0);
		struct lf_request req = sample_request();
		cr_assert_eq(lockfile_write_request(&g.other, &req), -EAGAIN);
		snap_check(g_path, &s, "writes into a short file");
		group_down(&g);
		cr_assert_eq(unlink(g_path), 0);
	}
}

Test(lockfile, slot_is_tells_our_record_from_a_lost_one)
{
	struct group g;
	group_up(&g);
	cr_assert_eq(lockfile_slot_is(&g.other, 1, g.theirs.id), 1);
	cr_assert_eq(lockfile_slot_is(&g.other, 1, g.mine.id), 0, "another id");
	poke(LF_OFF_SLOTS + LF_SLOT_SIZE + 40, 0xee);
	cr_assert_eq(lockfile_slot_is(&g.other, 1, g.theirs.id), 0, "a BAD record");
	cr_assert_eq(lockfile_slot_is(&g.other, 2, g.theirs.id), 0, "an EMPTY record");
	group_down(&g);
}

/* ---------------------------------------------------------------------- */
/* The group's history (format 1.3)                                        */
/* ---------------------------------------------------------------------- */

static struct lf_event sample_event(uint8_t reason)
{
	struct lf_event e;
	memset(&e, 0, sizeof e);
	e.reason = reason;
	e.writer = LF_EV_BY_TO;
	e.epoch = 41;
	e.from_slot = 3;
	e.to_slot = 63;
	e.pid = 4242;
	snprintf(e.from, sizeof e.from, "node-a");
	snprintf(e.to, sizeof e.to, "node-b.example:1");
	for (int i = 0; i < LF_ID_SIZE; i++)
		e.host[i] = (uint8_t)(0xA0 + i);
	return e;
}

static void assert_event_eq(const struct lf_event *a, const struct lf_event *b)
{
	cr_assert_eq(a->seq, b->seq, "seq %llu, want %llu", (unsigned long long)a->seq, (unsigned long long)b->seq);
	cr_assert_eq(a->time_us, b->time_us);
	cr_assert_eq(a->epoch, b->epoch);
	cr_assert_eq(a->reason, b->reason);
	cr_assert_eq(a->writer, b->writer);
	cr_assert_eq(a->from_slot, b->from_slot);
	cr_assert_eq(a->to_slot, b->to_slot);
	cr_assert_eq(a->pid, b->pid);
	cr_assert_str_eq(a->from, b->from);
	cr_assert_str_eq(a->to, b->to);
	cr_assert_arr_eq(a->host, b->host, LF_ID_SIZE);
}

static int64_t realtime_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

Test(lockfile, event_codec_has_the_documented_layout_and_checks)
{
	struct lf_event in = sample_event(LF_EV_FAILOVER), out;
	in.seq = 50; /* (50 - 1) % 48 = 1: its place in the ring */
	in.time_us = 1795000000123456;
	uint8_t rec[LF_EVENT_SIZE];
	lockfile_encode_event(rec, &in);
	/* seq 0, time 8, epoch 16, reason 24, writer 25, from slot 28, to slot
	 * 32, pid 36, from 40, to 104, host 168, zero to 188, crc 188. */
	cr_assert_eq(get64(rec), 50);
	cr_assert_eq(get64(rec + 8), 1795000000123456);
	cr_assert_eq(get64(rec + 16), 41);
	cr_assert_eq(rec[24], LF_EV_FAILOVER);
	cr_assert_eq(rec[25], LF_EV_BY_TO);
	cr_assert_eq(rec[26] | rec[27], 0);
	cr_assert_eq(get32(rec + 28), 3);
	cr_assert_eq(get32(rec + 32), 63);
	cr_assert_eq(get32(rec + 36), 4242);
	cr_assert_str_eq((const char *)rec + 40, "node-a");
	cr_assert_str_eq((const char *)rec + 104, "node-b.example:1");
	cr_assert_arr_eq(rec + 168, in.host, LF_ID_SIZE);
	for (int i = 184; i < 188; i++)
		cr_assert_eq(rec[i], 0, "padding byte %d", i);
	cr_assert_eq(get32(rec + 188), lockfile_crc32c(rec, 188));
	cr_assert_eq(lockfile_decode_event(rec, 1, &out), LF_REC_OK);
	assert_event_eq(&out, &in);

	/* An entry somewhere its seq does not put it is not trusted. */
	cr_assert_eq(lockfile_decode_event(rec, 2, &out), LF_REC_BAD);
	/* No slot: -1 both ways. */
	in.from_slot = -1;
	lockfile_encode_event(rec, &in);
	cr_assert_eq(lockfile_decode_event(rec, 1, &out), LF_REC_OK);
	cr_assert_eq(out.from_slot, -1);
	/* A reason this build does not know reads OK and has no name. */
	in.reason = 200;
	lockfile_encode_event(rec, &in);
	cr_assert_eq(lockfile_decode_event(rec, 1, &out), LF_REC_OK);
	cr_assert_str_eq(lockfile_event_name(out.reason), "unknown");
	cr_assert_str_eq(lockfile_event_name(LF_EV_HAND_OVER), "hand-over");
	cr_assert_str_eq(lockfile_event_name(0), "unknown");

	uint8_t zero[LF_EVENT_SIZE] = { 0 };
	cr_assert_eq(lockfile_decode_event(zero, 0, &out), LF_REC_EMPTY);
	/* Each broken in one way, sealed again: BAD. */
	struct lf_event e = sample_event(LF_EV_PAUSE);
	e.seq = 0;
	lockfile_encode_event(rec, &e);
	cr_assert_eq(lockfile_decode_event(rec, 0, &out), LF_REC_BAD, "seq 0");
	e.seq = (uint64_t)INT64_MAX + 1;
	lockfile_encode_event(rec, &e);
	cr_assert_eq(lockfile_decode_event(rec, (int)(((uint64_t)INT64_MAX) % LF_EVENTS), &out), LF_REC_BAD,
		     "seq above 2^63 - 1");
	e = sample_event(LF_EV_PAUSE);
	e.seq = 1;
	e.writer = 3;
	lockfile_encode_event(rec, &e);
	cr_assert_eq(lockfile_decode_event(rec, 0, &out), LF_REC_BAD, "writer 3");
	e.writer = LF_EV_BY_FROM;
	e.to_slot = 64;
	lockfile_encode_event(rec, &e);
	cr_assert_eq(lockfile_decode_event(rec, 0, &out), LF_REC_BAD, "to slot 64");
	e.to_slot = -2;
	lockfile_encode_event(rec, &e);
	cr_assert_eq(lockfile_decode_event(rec, 0, &out), LF_REC_BAD, "to slot -2");
	e.to_slot = -1;
	lockfile_encode_event(rec, &e);
	cr_assert_eq(lockfile_decode_event(rec, 0, &out), LF_REC_OK);
	memset(rec + 40, 'x', 64); /* a name with no NUL */
	put32(rec + 188, lockfile_crc32c(rec, 188));
	cr_assert_eq(lockfile_decode_event(rec, 0, &out), LF_REC_BAD, "name without its NUL");
	lockfile_encode_event(rec, &e);
	rec[100] ^= 1; /* torn */
	cr_assert_eq(lockfile_decode_event(rec, 0, &out), LF_REC_BAD, "crc");
}

Test(lockfile, history_entries_round_trip_through_the_file_oldest_first)
{
	struct lockfile a, b;
	open_ok(&a, g_path, LF_OPEN_CREATE);
	open_ok(&b, g_path, LF_OPEN_READ);
	struct lf_history h;
	cr_assert_eq(lockfile_read_history(&b, &h), 0);
	cr_assert_eq(h.n, 0, "a new file has %d entries", h.n);
	cr_assert_eq(h.bad, 0);

	static const uint8_t reasons[] = { LF_EV_START, LF_EV_HAND_OVER, LF_EV_SWITCHOVER };
	struct lf_event wrote[3];
	for (int i = 0; i < 3; i++) {
		wrote[i] = sample_event(reasons[i]);
		wrote[i].epoch = (uint64_t)i + 1;
		int64_t before = realtime_us();
		cr_assert_eq(lockfile_add_event(&a, &wrote[i], false), 0);
		int64_t after = realtime_us();
		cr_assert_eq(wrote[i].seq, (uint64_t)i + 1, "entry %d got seq %llu", i,
			     (unsigned long long)wrote[i].seq);
		cr_assert(wrote[i].time_us >= before && wrote[i].time_us <= after, "time stamped at the write");
	}
	cr_assert_eq(file_size(g_path), LF_FILE_SIZE, "the history made the file longer");
	cr_assert_eq(lockfile_read_history(&b, &h), 0);
	cr_assert_eq(h.n, 3);
	for (int i = 0; i < 3; i++)
		assert_event_eq(&h.ev[i], &wrote[i]);
	/* The records are not the history's: a read of them is as before. */
	struct lf_view v;
	cr_assert_eq(lockfile_read(&b, &v), 0);
	cr_assert_eq(v.status, LF_NEW);
	cr_assert_eq(v.live_rec, LF_REC_EMPTY);
	/* A reader cannot write one. */
	struct lf_event e = sample_event(LF_EV_PAUSE);
	cr_assert_eq(lockfile_add_event(&b, &e, false), -EBADF);
	lockfile_close(&a);
	lockfile_close(&b);
}

Test(lockfile, history_ring_wraps_and_keeps_the_newest_entries)
{
	struct lockfile lf;
	open_ok(&lf, g_path, LF_OPEN_CREATE);
	const int total = LF_EVENTS + 10;
	for (int i = 1; i <= total; i++) {
		struct lf_event e = sample_event(LF_EV_FAILOVER);
		e.epoch = (uint64_t)i;
		cr_assert_eq(lockfile_add_event(&lf, &e, false), 0);
		cr_assert_eq(e.seq, (uint64_t)i);
	}
	cr_assert_eq(file_size(g_path), LF_FILE_SIZE, "the ring wrote past its end");
	struct lf_history h;
	cr_assert_eq(lockfile_read_history(&lf, &h), 0);
	cr_assert_eq(h.n, LF_EVENTS);
	cr_assert_eq(h.bad, 0);
	for (int i = 0; i < LF_EVENTS; i++) {
		uint64_t want = (uint64_t)(total - LF_EVENTS + 1 + i);
		cr_assert_eq(h.ev[i].seq, want, "entry %d: seq %llu, want %llu", i, (unsigned long long)h.ev[i].seq,
			     (unsigned long long)want);
		cr_assert_eq(h.ev[i].epoch, want);
	}
	/* Seq 58 sits where seq 10 was: position (58 - 1) % 48 = 9. */
	size_t len;
	uint8_t *img = read_image(g_path, &len);
	cr_assert_eq(get64(img + LF_OFF_HISTORY + 9 * LF_EVENT_SIZE), (uint64_t)total);
	free(img);
	lockfile_close(&lf);
}

Test(lockfile, a_damaged_history_entry_is_skipped_and_the_newest_is_overwritten)
{
	struct lockfile lf;
	open_ok(&lf, g_path, LF_OPEN_CREATE);
	for (int i = 1; i <= 5; i++) {
		struct lf_event e = sample_event(LF_EV_FAILOVER);
		e.epoch = (uint64_t)i;
		cr_assert_eq(lockfile_add_event(&lf, &e, false), 0);
	}
	/* Entry 2 damaged on the storage, entry 5 torn by a writer that died
	 * in its write. */
	int fd = open(g_path, O_RDWR);
	cr_assert_geq(fd, 0);
	uint8_t b = 0x5A;
	cr_assert_eq(pwrite(fd, &b, 1, LF_OFF_HISTORY + 1 * LF_EVENT_SIZE + 50), 1);
	cr_assert_eq(pwrite(fd, &b, 1, LF_OFF_HISTORY + 4 * LF_EVENT_SIZE + 120), 1);
	close(fd);
	struct lf_history h;
	cr_assert_eq(lockfile_read_history(&lf, &h), 0);
	cr_assert_eq(h.n, 3, "%d entries read", h.n);
	cr_assert_eq(h.bad, 2);
	cr_assert(h.ev[0].seq == 1 && h.ev[1].seq == 3 && h.ev[2].seq == 4, "the readable ones, oldest first");
	/* The next writer goes after the newest readable entry: over the torn
	 * one, with its seq. */
	struct lf_event e = sample_event(LF_EV_PAUSE);
	cr_assert_eq(lockfile_add_event(&lf, &e, false), 0);
	cr_assert_eq(e.seq, 5);
	cr_assert_eq(lockfile_read_history(&lf, &h), 0);
	cr_assert_eq(h.n, 4);
	cr_assert_eq(h.bad, 1, "the damaged older entry stays until the ring comes round");
	cr_assert_eq(h.ev[3].seq, 5);
	cr_assert_eq(h.ev[3].reason, LF_EV_PAUSE);
	lockfile_close(&lf);
}

/* A file a 1.2 node formatted and used: 8704 bytes, header minor 2. */
static void write_1_2_file(uint8_t img[LF_SIZE])
{
	make_image(img, 1, 2);
	struct lf_live l = sample_live();
	struct lf_slot s = sample_slot();
	img[0] = 'L';
	memcpy(img + LF_OFF_NODE_ID, l.id, LF_ID_SIZE);
	lockfile_encode_live(img + LF_OFF_LIVE, &l);
	lockfile_encode_slot(img + LF_OFF_SLOTS + 2 * LF_SLOT_SIZE, &s);
	th_write_file(g_path, img, LF_SIZE);
}

Test(lockfile, an_older_format_file_gets_a_history_and_nothing_else_changes)
{
	static uint8_t img[LF_SIZE];
	write_1_2_file(img);
	struct lockfile lf;
	open_ok(&lf, g_path, LF_OPEN_CREATE);
	cr_assert_eq(lf.minor, 2);
	cr_assert_eq(file_size(g_path), LF_SIZE, "adopting the file changed its length");
	struct lf_history h;
	cr_assert_eq(lockfile_read_history(&lf, &h), 0);
	cr_assert_eq(h.n, 0, "a 1.2 file has no history: %d entries", h.n);
	cr_assert_eq(h.bad, 0, "the missing region reads as never written");

	struct lf_event e = sample_event(LF_EV_FAILOVER);
	cr_assert_eq(lockfile_add_event(&lf, &e, false), 0);
	cr_assert_eq(e.seq, 1);
	/* The first entry lengthens the file to the end of its place; every
	 * byte a 1.2 node reads is as it was, the header's minor included. */
	size_t len;
	uint8_t *now = read_image(g_path, &len);
	cr_assert_eq(len, (size_t)LF_OFF_HISTORY + LF_EVENT_SIZE, "%zu bytes", len);
	for (size_t i = 0; i < LF_SIZE; i++)
		cr_assert_eq(now[i], img[i], "byte %zu changed 0x%02x -> 0x%02x", i, img[i], now[i]);
	free(now);
	/* And the file reads as it did, for this build and for the header
	 * check every 1.x build makes. */
	struct lf_view v;
	cr_assert_eq(lockfile_read(&lf, &v), 0);
	cr_assert_eq(v.minor, 2);
	cr_assert_eq(v.live_rec, LF_REC_OK);
	cr_assert_eq(v.slot_rec[2], LF_REC_OK);
	cr_assert_eq(lockfile_read_history(&lf, &h), 0);
	cr_assert_eq(h.n, 1);
	assert_event_eq(&h.ev[0], &e);

	/* An entry further round the ring lengthens it again, the bytes in
	 * between reading as never written. */
	for (int i = 0; i < 4; i++) {
		e = sample_event(LF_EV_FAILOVER);
		cr_assert_eq(lockfile_add_event(&lf, &e, false), 0);
	}
	cr_assert_eq(file_size(g_path), LF_OFF_HISTORY + 5 * LF_EVENT_SIZE);
	cr_assert_eq(lockfile_read_history(&lf, &h), 0);
	cr_assert(h.n == 5 && h.bad == 0, "%d entries, %d bad", h.n, h.bad);
	lockfile_close(&lf);
}

Test(lockfile, history_is_never_written_into_a_damaged_file)
{
	struct lockfile lf;
	open_ok(&lf, g_path, LF_OPEN_CREATE);
	struct snap s;

	/* Shorter than the format: only the live node's repair lengthens it. */
	cr_assert_eq(truncate(g_path, 4000), 0);
	snap_take(g_path, &s);
	struct lf_event e = sample_event(LF_EV_PAUSE);
	cr_assert_eq(lockfile_add_event(&lf, &e, false), 1);
	snap_check(g_path, &s, "an entry into a short file");
	struct lf_history h;
	cr_assert_eq(lockfile_read_history(&lf, &h), -ENODATA);

	/* Full length, but the header is not ours any more. */
	static uint8_t img[LF_FILE_SIZE];
	make_image(img, 1, 3);
	img[LF_OFF_HEADER + 3] ^= 0x20;
	th_write_file(g_path, img, LF_FILE_SIZE);
	snap_take(g_path, &s);
	cr_assert_eq(lockfile_add_event(&lf, &e, false), 1);
	snap_check(g_path, &s, "an entry into a file whose header does not check");
	cr_assert_eq(lockfile_read_history(&lf, &h), -EBADMSG);
	lockfile_close(&lf);
}

static struct lf_event *g_bg_event;
static int bg_add_event(struct bg *b) { return lockfile_add_event(b->lf, g_bg_event, false); }

Test(lockfile, a_history_entry_is_written_under_the_record_lock)
{
	struct lockfile lf;
	open_ok(&lf, g_path, LF_OPEN_CREATE);
	pid_t reader = hold(LF_OFF_RECORD_LOCK); /* another process is reading or writing records */
	struct lf_event e = sample_event(LF_EV_FAILBACK);
	g_bg_event = &e;
	struct bg b = { .fn = bg_add_event, .lf = &lf };
	bg_start(&b);
	sleep_ms(300);
	cr_assert_not(atomic_load(&b.done), "an entry was written while another held the record lock");
	size_t len;
	uint8_t *img = read_image(g_path, &len);
	for (size_t i = LF_OFF_HISTORY; i < len; i++)
		cr_assert_eq(img[i], 0, "history byte %zu written under another's record lock", i);
	free(img);
	release(reader);
	cr_assert(bg_join(&b, 3000), "still blocked 3 s after the record lock was freed");
	cr_assert_eq(b.result, 0);
	struct lf_history h;
	cr_assert_eq(lockfile_read_history(&lf, &h), 0);
	cr_assert_eq(h.n, 1);
	lockfile_close(&lf);
}

Test(lockfile, take_live_writes_its_history_entry_in_the_same_hold)
{
	struct lockfile lf, other;
	open_ok(&lf, g_path, LF_OPEN_CREATE);
	open_ok(&other, g_path, LF_OPEN_READ);
	struct lf_live live = sample_live();
	struct lf_event e = sample_event(LF_EV_START);
	int res = 99;
	cr_assert_eq(lockfile_take_live(&lf, &live, -1, &e, &res), 0);
	cr_assert_eq(res, 0);
	cr_assert_eq(e.seq, 1);
	struct lf_view v;
	cr_assert_eq(lockfile_read(&other, &v), 0);
	cr_assert(v.status == LF_LIVE && v.live_rec == LF_REC_OK, "the takeover itself");
	struct lf_history h;
	cr_assert_eq(lockfile_read_history(&other, &h), 0);
	cr_assert_eq(h.n, 1);
	assert_event_eq(&h.ev[0], &e);

	/* An entry that cannot be written fails nothing: the takeover is
	 * made, and the caller learns why there is no entry. A file damaged
	 * short gets none (and the takeover writes what it always did). */
	e = sample_event(LF_EV_FAILOVER);
	live.epoch++;
	cr_assert_eq(truncate(g_path, LF_SIZE - 1), 0);
	res = 99;
	cr_assert_eq(lockfile_take_live(&lf, &live, -1, &e, &res), 0);
	cr_assert_eq(res, 1, "an entry went into a short file");
	cr_assert_eq(file_size(g_path), LF_SIZE - 1, "the history lengthened a file damaged short");
	lockfile_close(&lf);
	lockfile_close(&other);
}

Test(lockfile, a_hand_over_entry_names_the_target_of_the_request_in_the_file)
{
	struct lockfile lf;
	open_ok(&lf, g_path, LF_OPEN_CREATE);
	struct lf_live live = sample_live();
	cr_assert_eq(write_live(&lf, LF_LIVE, &live), 0);
	struct lf_request req = sample_request(); /* a switchover, made to name slot 7, "node-c" */
	req.target_slot = 7;
	snprintf(req.target_name, sizeof req.target_name, "node-c");
	cr_assert_eq(lockfile_write_request(&lf, &req), 0);
	struct lf_event e = sample_event(LF_EV_HAND_OVER);
	e.writer = LF_EV_BY_FROM;
	e.to_slot = -1;
	e.to[0] = '\0';
	cr_assert_eq(lockfile_add_event(&lf, &e, true), 0);
	cr_assert_eq(e.to_slot, 7);
	cr_assert_str_eq(e.to, "node-c");
	/* A request to any waiting node names nobody. */
	req.target_slot = LF_TARGET_ANY;
	req.target_name[0] = '\0';
	cr_assert_eq(lockfile_write_request(&lf, &req), 0);
	e = sample_event(LF_EV_HAND_OVER);
	e.to_slot = -1;
	e.to[0] = '\0';
	cr_assert_eq(lockfile_add_event(&lf, &e, true), 0);
	cr_assert(e.to_slot == -1 && !e.to[0], "a hand-over to any names %s", e.to);
	/* Nor does a request no longer pending (status L). */
	cr_assert_eq(lockfile_write_status(&lf, LF_LIVE), 0);
	e = sample_event(LF_EV_HAND_OVER);
	e.to_slot = -1;
	e.to[0] = '\0';
	cr_assert_eq(lockfile_add_event(&lf, &e, true), 0);
	cr_assert(e.to_slot == -1 && !e.to[0], "an answered request still named %s", e.to);
	struct lf_history h;
	cr_assert_eq(lockfile_read_history(&lf, &h), 0);
	cr_assert_eq(h.n, 3);
	cr_assert_str_eq(h.ev[0].to, "node-c");
	lockfile_close(&lf);
}
