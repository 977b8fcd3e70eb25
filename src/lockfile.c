/* The shared lock file: format, locks and records. No policy lives here. */
#include "understudy/lockfile.h"
#include "understudy/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

/* --- little-endian fields ------------------------------------------------ */

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
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

/* A string field of n bytes: at most n-1 characters, NUL padded. */
static void put_str(uint8_t *p, size_t n, const char *s)
{
	memset(p, 0, n);
	size_t len = strnlen(s, n - 1);
	memcpy(p, s, len);
}

/* The field must hold its NUL: a full field is not a record of ours. */
static bool get_str(char *dst, const uint8_t *p, size_t n)
{
	size_t len = strnlen((const char *)p, n);
	if (len == n)
		return false;
	memcpy(dst, p, len + 1); /* len < n: p[len] is the NUL */
	return true;
}

/* CRC-32C (Castagnoli, reflected, polynomial 0x82F63B78), eight bytes a
 * step ("slicing by 8"): table k holds the CRC of a byte followed by k
 * zero bytes, so the eight bytes of a step are looked up independently
 * and combined. Every read checks each record it uses, the live node's
 * rounds included: a byte at a time cost a takeover some 20 us (perf,
 * doc/benchmarks). The bytes are combined in the file's order, so the
 * result does not depend on the host's byte order. */
static uint32_t crc_table[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
		crc_table[0][i] = c;
	}
	for (int k = 1; k < 8; k++)
		for (int i = 0; i < 256; i++)
			crc_table[k][i] = (crc_table[k - 1][i] >> 8) ^ crc_table[0][crc_table[k - 1][i] & 0xFF];
}

uint32_t lockfile_crc32c(const void *data, size_t n)
{
	pthread_once(&crc_once, crc_init);
	uint32_t(*t)[256] = crc_table;
	const uint8_t *p = data;
	uint32_t crc = 0xFFFFFFFFu;
	for (; n >= 8; n -= 8, p += 8) {
		uint32_t lo =
			crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
		crc = t[7][lo & 0xFF] ^ t[6][(lo >> 8) & 0xFF] ^ t[5][(lo >> 16) & 0xFF] ^ t[4][lo >> 24] ^ t[3][p[4]] ^
		      t[2][p[5]] ^ t[1][p[6]] ^ t[0][p[7]];
	}
	while (n--)
		crc = t[0][(crc ^ *p++) & 0xFF] ^ (crc >> 8);
	return crc ^ 0xFFFFFFFFu;
}

/* Each byte equals the one after it and the first is zero: one memcmp,
 * which libc vectorises, instead of a compare per byte (most of a file's
 * 8 KiB are empty slots, read every round and by every status). */
static bool all_zero(const uint8_t *p, size_t n) { return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0); }

/* Every record ends in the CRC-32C of the bytes before it. */
static void seal(uint8_t *rec, size_t size) { put32(rec + size - 4, lockfile_crc32c(rec, size - 4)); }

static enum lf_rec check(const uint8_t *rec, size_t size)
{
	if (all_zero(rec, size))
		return LF_REC_EMPTY;
	return get32(rec + size - 4) == lockfile_crc32c(rec, size - 4) ? LF_REC_OK : LF_REC_BAD;
}

/* --- records ------------------------------------------------------------- */

/* Header: magic 0-7, major 8, minor 10, slots 12, slot size 14,
 * file size 16, flags 20, reserved 24, crc 28. */
/* Eight bytes in the file, no terminating NUL: the array is exactly
 * the size of LF_MAGIC's characters. */
static const uint8_t magic[8] = LF_MAGIC;

void lockfile_encode_header(uint8_t out[LF_HEADER_SIZE])
{
	memset(out, 0, LF_HEADER_SIZE);
	memcpy(out, magic, sizeof(magic));
	put16(out + 8, LF_VERSION_MAJOR);
	put16(out + 10, LF_VERSION_MINOR);
	put16(out + 12, LF_SLOTS);
	put16(out + 14, LF_SLOT_SIZE);
	put32(out + 16, LF_SIZE);
	seal(out, LF_HEADER_SIZE);
}

enum lf_err lockfile_check_header(const uint8_t in[LF_HEADER_SIZE], uint16_t *major, uint16_t *minor)
{
	if (memcmp(in, magic, sizeof(magic)) != 0)
		return LF_E_MAGIC;
	if (check(in, LF_HEADER_SIZE) != LF_REC_OK)
		return LF_E_HEADER;
	*major = get16(in + 8);
	*minor = get16(in + 10);
	/* Minor versions only add meaning to bytes that older nodes keep at
	 * zero, within the same layout; a new major may change anything. */
	if (*major != LF_VERSION_MAJOR || get16(in + 12) != LF_SLOTS || get16(in + 14) != LF_SLOT_SIZE ||
	    get32(in + 16) != LF_SIZE)
		return LF_E_VERSION;
	return LF_OK;
}

/* Live: epoch 0, heartbeat 8, id 16, slot 32, pid 36, heartbeat_ms 40,
 * name 44 (64), address 108 (64), file id 172 and path hash 180 (1.2),
 * zero to 188, crc 188. */
void lockfile_encode_live(uint8_t out[LF_LIVE_SIZE], const struct lf_live *l)
{
	memset(out, 0, LF_LIVE_SIZE);
	put64(out, l->epoch);
	put64(out + 8, l->heartbeat);
	memcpy(out + 16, l->id, LF_ID_SIZE);
	put32(out + 32, (uint32_t)l->slot);
	put32(out + 36, l->pid);
	put32(out + 40, l->heartbeat_ms);
	put_str(out + 44, 64, l->name);
	put_str(out + 108, 64, l->address);
	put64(out + 172, l->file_id);
	put32(out + 180, l->path_hash);
	seal(out, LF_LIVE_SIZE);
}

enum lf_rec lockfile_decode_live(const uint8_t in[LF_LIVE_SIZE], struct lf_live *l)
{
	memset(l, 0, sizeof(*l));
	enum lf_rec r = check(in, LF_LIVE_SIZE);
	if (r != LF_REC_OK)
		return r;
	l->epoch = get64(in);
	l->heartbeat = get64(in + 8);
	memcpy(l->id, in + 16, LF_ID_SIZE);
	l->slot = (int32_t)get32(in + 32);
	l->pid = get32(in + 36);
	l->heartbeat_ms = get32(in + 40);
	l->file_id = get64(in + 172);
	l->path_hash = get32(in + 180);
	if (!get_str(l->name, in + 44, 64) || !get_str(l->address, in + 108, 64) || l->slot < -1 || l->slot >= LF_SLOTS)
		return LF_REC_BAD;
	return LF_REC_OK;
}

/* Request: seq 0, kind 8, target slot 12, target id 16, target name 32
 * (64), requester 96 (64), requester pid 160, zero to 188, crc 188. */
void lockfile_encode_request(uint8_t out[LF_REQUEST_SIZE], const struct lf_request *r)
{
	memset(out, 0, LF_REQUEST_SIZE);
	put64(out, r->seq);
	out[8] = r->kind;
	put32(out + 12, (uint32_t)r->target_slot);
	memcpy(out + 16, r->target_id, LF_ID_SIZE);
	put_str(out + 32, 64, r->target_name);
	put_str(out + 96, 64, r->requester);
	put32(out + 160, r->requester_pid);
	seal(out, LF_REQUEST_SIZE);
}

enum lf_rec lockfile_decode_request(const uint8_t in[LF_REQUEST_SIZE], struct lf_request *r)
{
	memset(r, 0, sizeof(*r));
	enum lf_rec c = check(in, LF_REQUEST_SIZE);
	if (c != LF_REC_OK)
		return c;
	r->seq = get64(in);
	r->kind = in[8];
	r->target_slot = (int32_t)get32(in + 12);
	memcpy(r->target_id, in + 16, LF_ID_SIZE);
	r->requester_pid = get32(in + 160);
	if (!get_str(r->target_name, in + 32, 64) || !get_str(r->requester, in + 96, 64) ||
	    (r->kind != LF_REQ_FAILBACK && r->kind != LF_REQ_SWITCHOVER) || r->seq > (uint64_t)INT64_MAX ||
	    r->target_slot < LF_TARGET_ANY || r->target_slot >= LF_SLOTS)
		return LF_REC_BAD;
	return LF_REC_OK;
}

/* Slot: id 0, role 16, state 17, flags 18 (1.1), pid 20, seq 24, name 32
 * (64), epoch 96 (1.2), zero to 124, crc 124. */
void lockfile_encode_slot(uint8_t out[LF_SLOT_SIZE], const struct lf_slot *s)
{
	memset(out, 0, LF_SLOT_SIZE);
	memcpy(out, s->id, LF_ID_SIZE);
	out[16] = s->role;
	out[17] = s->state;
	out[18] = s->flags;
	put32(out + 20, s->pid);
	put64(out + 24, s->seq);
	put_str(out + 32, 64, s->name);
	put64(out + 96, s->epoch);
	memcpy(out + 104, s->host, LF_ID_SIZE);
	seal(out, LF_SLOT_SIZE);
}

enum lf_rec lockfile_decode_slot(const uint8_t in[LF_SLOT_SIZE], struct lf_slot *s)
{
	memset(s, 0, sizeof(*s));
	enum lf_rec c = check(in, LF_SLOT_SIZE);
	if (c != LF_REC_OK)
		return c;
	memcpy(s->id, in, LF_ID_SIZE);
	s->role = in[16];
	s->state = in[17];
	s->flags = in[18];
	s->pid = get32(in + 20);
	s->seq = get64(in + 24);
	s->epoch = get64(in + 96);
	memcpy(s->host, in + 104, LF_ID_SIZE);
	if (!get_str(s->name, in + 32, 64))
		return LF_REC_BAD;
	return LF_REC_OK;
}

/* History entry (1.3): seq 0, time 8, epoch 16, reason 24, writer 25,
 * zero to 28, from slot 28, to slot 32, pid 36, from 40 (64), to 104 (64),
 * host 168, zero to 188, crc 188. */
void lockfile_encode_event(uint8_t out[LF_EVENT_SIZE], const struct lf_event *e)
{
	memset(out, 0, LF_EVENT_SIZE);
	put64(out, e->seq);
	put64(out + 8, (uint64_t)e->time_us);
	put64(out + 16, e->epoch);
	out[24] = e->reason;
	out[25] = e->writer;
	put32(out + 28, (uint32_t)e->from_slot);
	put32(out + 32, (uint32_t)e->to_slot);
	put32(out + 36, e->pid);
	put_str(out + 40, 64, e->from);
	put_str(out + 104, 64, e->to);
	memcpy(out + 168, e->host, LF_ID_SIZE);
	seal(out, LF_EVENT_SIZE);
}

static bool slot_or_none(int32_t slot) { return slot >= -1 && slot < LF_SLOTS; }

enum lf_rec lockfile_decode_event(const uint8_t in[LF_EVENT_SIZE], int pos, struct lf_event *e)
{
	memset(e, 0, sizeof(*e));
	enum lf_rec c = check(in, LF_EVENT_SIZE);
	if (c != LF_REC_OK)
		return c;
	e->seq = get64(in);
	e->time_us = (int64_t)get64(in + 8);
	e->epoch = get64(in + 16);
	e->reason = in[24];
	e->writer = in[25];
	e->from_slot = (int32_t)get32(in + 28);
	e->to_slot = (int32_t)get32(in + 32);
	e->pid = get32(in + 36);
	memcpy(e->host, in + 168, LF_ID_SIZE);
	/* An entry is where its seq puts it: one copied elsewhere in the
	 * ring (or made up) would show twice, or out of order. */
	if (!get_str(e->from, in + 40, 64) || !get_str(e->to, in + 104, 64) || e->seq == 0 ||
	    e->seq > (uint64_t)INT64_MAX || (e->seq - 1) % LF_EVENTS != (uint64_t)pos ||
	    (e->writer != LF_EV_BY_FROM && e->writer != LF_EV_BY_TO) || !slot_or_none(e->from_slot) ||
	    !slot_or_none(e->to_slot))
		return LF_REC_BAD;
	return LF_REC_OK;
}

void lockfile_decode_history(const uint8_t *region, struct lf_history *h)
{
	memset(h, 0, sizeof(*h));
	for (int i = 0; i < LF_EVENTS; i++) {
		struct lf_event e;
		enum lf_rec r = lockfile_decode_event(region + (size_t)i * LF_EVENT_SIZE, i, &e);
		if (r == LF_REC_BAD)
			h->bad++;
		if (r != LF_REC_OK)
			continue;
		/* Oldest first: insert by seq (seqs are unique, one per place). */
		int k = h->n++;
		while (k > 0 && h->ev[k - 1].seq > e.seq) {
			h->ev[k] = h->ev[k - 1];
			k--;
		}
		h->ev[k] = e;
	}
}

void lockfile_decode(const uint8_t *image, struct lf_view *v)
{
	memset(v, 0, sizeof(*v));
	v->size = LF_SIZE;
	v->status = (char)image[LF_OFF_STATUS];
	memcpy(v->node_id, image + LF_OFF_NODE_ID, LF_ID_SIZE);
	v->major = get16(image + LF_OFF_HEADER + 8);
	v->minor = get16(image + LF_OFF_HEADER + 10);
	v->live_rec = lockfile_decode_live(image + LF_OFF_LIVE, &v->live);
	v->request_rec = lockfile_decode_request(image + LF_OFF_REQUEST, &v->request);
	for (int i = 0; i < LF_SLOTS; i++)
		v->slot_rec[i] = lockfile_decode_slot(image + LF_OFF_SLOTS + (size_t)i * LF_SLOT_SIZE, &v->slots[i]);
}

/* --- locks ---------------------------------------------------------------- */

/* OFD locks belong to the open file description, not the process: they
 * survive fork into the workload and are released only when the last
 * descriptor of this open is closed. That is what ties the live lock to
 * the workload's life. */
static int ofd_lock(int fd, short type, int offset, int len, bool wait)
{
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = offset, .l_len = len };
	if (fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl) == 0)
		return 0;
	return errno == EACCES ? -EAGAIN : -errno;
}

/* A lock wait as tries, pausing first_us and doubling up to max_us. On
 * a networked file system a blocking wait is not safe: a FUSE request
 * the daemon queued (GlusterFS keeps a blocked lock at the brick until
 * its holder goes) waits uninterruptibly once sent, through SIGKILL too,
 * and the process then keeps every lock it has (found by the chaos test:
 * zombies holding the backup lock for good). A try is always answered at
 * once. A signal ends the wait with -EINTR, as it does a blocking one, but
 * only in a pause: every signal is blocked for the try itself. A signal
 * during a FUSE call makes the kernel send the daemon an interrupt, and
 * GlusterFS's client (10.x) can deadlock handling one for a lock call
 * while its connection to the brick drops: that call, and then every
 * call on the mount, is never answered (issue 15, doc/fencing.md). A
 * signal that arrives during a try stays pending and ends the pause that
 * follows at once. */
static int64_t mono_us(void) { return clock_ns() / 1000; }

/* With a deadline (until_us, on CLOCK_MONOTONIC; 0: none), -ETIMEDOUT
 * once it passed with the lock still held. */
static int poll_lock_until(int fd, short type, int offset, long first_us, long max_us, int64_t until_us)
{
	sigset_t all, caller;
	sigfillset(&all);
	long pause = first_us;
	for (;;) {
		pthread_sigmask(SIG_BLOCK, &all, &caller);
		int r = ofd_lock(fd, type, offset, 1, false);
		if (r != -EAGAIN) {
			pthread_sigmask(SIG_SETMASK, &caller, NULL);
			return r;
		}
		if (until_us) {
			int64_t left = until_us - mono_us();
			if (left <= 0) {
				pthread_sigmask(SIG_SETMASK, &caller, NULL);
				return -ETIMEDOUT;
			}
			if (pause > left)
				pause = (long)left;
		}
		struct timespec ts = { pause / 1000000, (pause % 1000000) * 1000 };
		/* ppoll sets the caller's mask for the pause only, atomically:
		 * no signal slips in between the try and the pause. */
		int e = ppoll(NULL, 0, &ts, &caller) < 0 ? errno : 0;
		pthread_sigmask(SIG_SETMASK, &caller, NULL);
		if (e == EINTR)
			return -EINTR;
		pause = pause * 2 < max_us ? pause * 2 : max_us;
	}
}

static int poll_lock(int fd, short type, int offset, long first_us, long max_us)
{
	return poll_lock_until(fd, type, offset, first_us, max_us, 0);
}

static int lock_offset(enum lf_lock which) { return which == LF_LOCK_LIVE ? LF_OFF_LIVE_LOCK : LF_OFF_BACKUP_LOCK; }

int lockfile_lock(struct lockfile *lf, enum lf_lock which, bool wait)
{
	if (wait)
		return lockfile_lock_paced(lf, which, LF_LOCK_RETRY_MS, LF_LOCK_RETRY_MS);
	return ofd_lock(lf->fd, F_WRLCK, lock_offset(which), 1, false);
}

int lockfile_lock_paced(struct lockfile *lf, enum lf_lock which, int64_t first_ms, int64_t max_ms)
{
	if (!lf->poll)
		return ofd_lock(lf->fd, F_WRLCK, lock_offset(which), 1, true);
	/* At least a millisecond: a pause of 0 would spin on the server. */
	long first = first_ms < 1 ? 1000L : (long)first_ms * 1000L;
	long max = max_ms < first_ms ? first : (long)max_ms * 1000L;
	return poll_lock(lf->fd, F_WRLCK, lock_offset(which), first, max);
}

int lockfile_lock_within(struct lockfile *lf, enum lf_lock which, int64_t ms)
{
	/* Tries, never a blocking wait that only a signal could cut: 50 us
	 * apart at first, so that a release is seen within a fraction of a
	 * millisecond on a local disk, then no further apart than a
	 * waiting node tries on this file system. */
	long max_us = lf->poll ? LF_LOCK_RETRY_MS * 1000L : 1000L;
	return poll_lock_until(lf->fd, F_WRLCK, lock_offset(which), 50, max_us, mono_us() + ms * 1000);
}

int lockfile_read_lock(struct lockfile *lf) { return ofd_lock(lf->fd, F_RDLCK, LF_OFF_RECORD_LOCK, 1, false); }

int lockfile_read_unlock(struct lockfile *lf) { return ofd_lock(lf->fd, F_UNLCK, LF_OFF_RECORD_LOCK, 1, false); }

int lockfile_unlock(struct lockfile *lf, enum lf_lock which)
{
	return ofd_lock(lf->fd, F_UNLCK, lock_offset(which), 1, false);
}

int lockfile_lock_slot(struct lockfile *lf, int slot)
{
	if (slot < 0 || slot >= LF_SLOTS)
		return -EINVAL;
	return ofd_lock(lf->fd, F_WRLCK, lockfile_slot_lock_offset(slot), 1, false);
}

int lockfile_claim_slot(struct lockfile *lf)
{
	for (int i = 0; i < LF_SLOTS; i++) {
		int r = lockfile_lock_slot(lf, i);
		if (r == 0)
			return i;
		if (r != -EAGAIN)
			return r;
	}
	return -ENOSPC;
}

int lockfile_held(struct lockfile *lf, int offset)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = offset, .l_len = 1 };
	if (fcntl(lf->fd, F_OFD_GETLK, &fl) < 0)
		return -errno;
	return fl.l_type != F_UNLCK;
}

/* --- reads and writes under the record lock ------------------------------- */

/* Every read and write of a record happens between a lock and an unlock
 * of the record lock byte: on NFS that is what makes another client's
 * write visible (the client revalidates its cache on lock and flushes on
 * unlock), and everywhere it keeps a reader from seeing half a write.
 * A FUSE client revalidates nothing on a lock: GlusterFS with
 * direct-io-mode=enable gives direct I/O only to the descriptor that
 * created the file, and a later open of it on the same host reads through
 * this host's page cache, where another host's writes never show (seen on
 * the rig: a status F written from host b read as L on host a, for good,
 * under the lock too; doc/fencing.md). So off a local file system the
 * locked section starts by dropping this host's cached pages of the file:
 * no call to the server, and its reads go to the storage. */
static int record_lock(struct lockfile *lf, short type)
{
	/* Writers hold it for one write: tries a fraction of a millisecond
	 * apart, then a few milliseconds. */
	if (!lf->poll)
		return ofd_lock(lf->fd, type, LF_OFF_RECORD_LOCK, 1, true);
	int r = poll_lock(lf->fd, type, LF_OFF_RECORD_LOCK, 100, 5000);
	if (r == 0)
		(void)posix_fadvise(lf->fd, 0, 0, POSIX_FADV_DONTNEED);
	return r;
}

/* A record as it is now: bytes past the end of a file damaged by a
 * truncation read as zero (EMPTY), like a record never written, so a
 * writer that checks what is there before it writes decides on that
 * instead of failing. */
static int pread_zero(int fd, void *buf, size_t n, off_t off, size_t *got)
{
	size_t done = 0;
	while (done < n) {
		ssize_t r = pread(fd, (uint8_t *)buf + done, n - done, off + (off_t)done);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			break;
		/* Never more than asked; said, so that the compiler knows too. */
		if ((size_t)r > n - done)
			return -EIO;
		done += (size_t)r;
	}
	if (done < n)
		memset((uint8_t *)buf + done, 0, n - done);
	if (got)
		*got = done;
	return 0;
}

/* Exactly n bytes at off, or -ENODATA where the file ends first. */
static int full_pread(int fd, void *buf, size_t n, off_t off)
{
	size_t got = 0;
	int r = pread_zero(fd, buf, n, off, &got);
	return r < 0 ? r : got < n ? -ENODATA : 0;
}

static int full_pwrite(int fd, const void *buf, size_t n, off_t off)
{
	size_t done = 0;
	while (done < n) {
		ssize_t r = pwrite(fd, (const uint8_t *)buf + done, n - done, off + (off_t)done);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		done += (size_t)r;
	}
	return 0;
}

/* One write of several pieces, all under one hold of the record lock. */
struct piece {
	const void *buf;
	size_t len;
	off_t off;
};

/* 1 when the file is now shorter than the format, 0 when not. */
static int is_short(struct lockfile *lf)
{
	struct stat st;
	if (fstat(lf->fd, &st) < 0)
		return -errno;
	return st.st_size < LF_SIZE;
}

/* With keep_length, a file that has become shorter than the format gets
 * nothing (1): a write past its end would make it longer but still
 * short, refused by every open, and only the live node's repair may
 * give it its length back. */
static int locked_write(struct lockfile *lf, const struct piece *p, int n, bool keep_length)
{
	if (lf->readonly)
		return -EBADF;
	int r = record_lock(lf, F_WRLCK);
	if (r < 0)
		return r;
	if (keep_length)
		r = is_short(lf);
	for (int i = 0; i < n && r == 0; i++)
		r = full_pwrite(lf->fd, p[i].buf, p[i].len, p[i].off);
	int u = ofd_lock(lf->fd, F_UNLCK, LF_OFF_RECORD_LOCK, 1, false);
	return r < 0 ? r : u < 0 ? u : r;
}

/* How often a locked reader reads a live record torn by a heartbeat
 * again, and how long it lets that write finish first (microseconds). */
enum { TORN_TRIES = 3, TORN_PAUSE_US = 200 };

static bool live_bad(const uint8_t image[LF_SIZE])
{
	struct lf_live l;
	return lockfile_decode_live(image + LF_OFF_LIVE, &l) == LF_REC_BAD;
}

/* The whole image as it is now, under the read lock; what is missing
 * reads as zero and *size says how much was there. On a local file system
 * the live node writes its heartbeat without the record lock
 * (lockfile_heartbeat): a read that met that write has a live record whose
 * checksum fails, read again after a pause (the write is one copy of
 * 192 bytes into a page). One that still fails is damage, and reads so. */
static int read_image(struct lockfile *lf, uint8_t image[LF_SIZE], size_t *size)
{
	int r = record_lock(lf, F_RDLCK);
	if (r < 0)
		return r;
	r = pread_zero(lf->fd, image, LF_SIZE, 0, size);
	for (int i = 0; r == 0 && !lf->poll && i < TORN_TRIES && live_bad(image); i++) {
		struct timespec ts = { 0, TORN_PAUSE_US * 1000L };
		nanosleep(&ts, NULL);
		r = pread_zero(lf->fd, image + LF_OFF_LIVE, LF_LIVE_SIZE, LF_OFF_LIVE, NULL);
	}
	int u = ofd_lock(lf->fd, F_UNLCK, LF_OFF_RECORD_LOCK, 1, false);
	return r < 0 ? r : u;
}

/* A view read without the record lock, by the live lock's holder on a
 * local file system, that it may take as it is: nothing damaged, every
 * record whole, and status L (nothing asked). Writers hold the record
 * lock for a sequence of writes, status last; a reader without it may
 * see part of one. A part of one that asks for nothing (a request record
 * whose F is not written yet) only delays what it asks by a round; a
 * torn record fails its checksum; anything else is read again under the
 * lock. */
static bool settled(const struct lf_view *v)
{
	if (v->damage || v->status != LF_LIVE || v->live_rec == LF_REC_BAD || v->request_rec == LF_REC_BAD)
		return false;
	for (int i = 0; i < LF_SLOTS; i++)
		if (v->slot_rec[i] == LF_REC_BAD)
			return false;
	return true;
}

/* What is wrong with an image of size bytes beyond its records. */
static unsigned damage_of(const uint8_t image[LF_SIZE], size_t size)
{
	uint16_t major, minor;
	unsigned d = size < LF_SIZE ? LF_DMG_SHORT : 0;
	switch (lockfile_check_header(image + LF_OFF_HEADER, &major, &minor)) {
	case LF_OK: break;
	case LF_E_VERSION: d |= LF_DMG_FOREIGN; break;
	default: d |= LF_DMG_HEADER; break;
	}
	return d;
}

int lockfile_read(struct lockfile *lf, struct lf_view *v)
{
	uint8_t image[LF_SIZE];
	size_t size = 0;
	int r = read_image(lf, image, &size);
	if (r < 0)
		return r;
	if (size < LF_SIZE)
		return -ENODATA;
	/* The header was checked at open; a file rewritten since is not ours
	 * to report on. */
	if (damage_of(image, size))
		return -EBADMSG;
	lockfile_decode(image, v);
	return 0;
}

/* An image of size bytes as lockfile_read_any reports it: damaged or not. */
static void view_any(const uint8_t image[LF_SIZE], size_t size, struct lf_view *v)
{
	lockfile_decode(image, v);
	v->damage = damage_of(image, size);
	v->size = (uint32_t)size;
}

int lockfile_read_any(struct lockfile *lf, struct lf_view *v)
{
	uint8_t image[LF_SIZE];
	size_t size = 0;
	int r = read_image(lf, image, &size);
	if (r < 0)
		return r;
	view_any(image, size, v);
	return 0;
}

int lockfile_read_held(struct lockfile *lf, struct lf_view *v)
{
	if (lf->poll)
		return lockfile_read_any(lf, v);
	uint8_t image[LF_SIZE];
	size_t size = 0;
	int r = pread_zero(lf->fd, image, LF_SIZE, 0, &size);
	if (r < 0)
		return r;
	view_any(image, size, v);
	return settled(v) ? 0 : lockfile_read_any(lf, v);
}

/* A live record says which file it was written on: the one this open
 * holds, whatever the caller filled in. */
static void encode_live_here(const struct lockfile *lf, uint8_t rec[LF_LIVE_SIZE], const struct lf_live *live)
{
	struct lf_live l = *live;
	l.file_id = lf->file_id;
	l.path_hash = lf->path_hash;
	lockfile_encode_live(rec, &l);
}

int lockfile_repair(struct lockfile *lf, const struct lf_live *live, int slot, const struct lf_slot *s)
{
	if (lf->readonly)
		return -EBADF;
	if (slot < 0 || slot >= LF_SLOTS)
		return -EINVAL;
	uint8_t image[LF_SIZE];
	size_t size = 0;
	int r = record_lock(lf, F_WRLCK);
	if (r < 0)
		return r;
	r = pread_zero(lf->fd, image, sizeof(image), 0, &size);
	unsigned damage = 0;
	struct lf_live now;
	enum lf_rec live_rec = LF_REC_EMPTY;
	if (r == 0) {
		damage = damage_of(image, size);
		live_rec = lockfile_decode_live(image + LF_OFF_LIVE, &now);
	}
	/* Never over another node's good record: that is what a node that
	 * took the role looks like, and this one must fence, not fight. Nor
	 * into a file another format's program has taken over. */
	if (r == 0 && live_rec == LF_REC_OK && (now.epoch != live->epoch || memcmp(now.id, live->id, LF_ID_SIZE) != 0))
		r = -ESTALE;
	if (r == 0 && (damage & LF_DMG_FOREIGN))
		r = -EBADMSG;
	int fixed = 0;
	if (r == 0 && size < LF_SIZE) {
		/* Zeros are what a record never written reads as: EMPTY. */
		static const uint8_t zeros[LF_SIZE];
		r = full_pwrite(lf->fd, zeros, LF_SIZE - size, (off_t)size);
		fixed |= LF_FIX_LENGTH;
	}
	if (r == 0 && (damage & LF_DMG_HEADER)) {
		uint8_t head[LF_HEADER_SIZE];
		lockfile_encode_header(head);
		r = full_pwrite(lf->fd, head, sizeof(head), LF_OFF_HEADER);
		fixed |= LF_FIX_HEADER;
	}
	if (r == 0 && live_rec != LF_REC_OK) {
		uint8_t rec[LF_LIVE_SIZE];
		encode_live_here(lf, rec, live);
		r = full_pwrite(lf->fd, rec, sizeof(rec), LF_OFF_LIVE);
		fixed |= LF_FIX_LIVE;
	}
	if (r == 0 && memcmp(image + LF_OFF_NODE_ID, live->id, LF_ID_SIZE) != 0) {
		r = full_pwrite(lf->fd, live->id, LF_ID_SIZE, LF_OFF_NODE_ID);
		fixed |= LF_FIX_NODE_ID;
	}
	struct lf_slot mine;
	const uint8_t *at = image + LF_OFF_SLOTS + (size_t)slot * LF_SLOT_SIZE;
	if (r == 0 && (lockfile_decode_slot(at, &mine) != LF_REC_OK || memcmp(mine.id, s->id, LF_ID_SIZE) != 0)) {
		uint8_t rec[LF_SLOT_SIZE];
		lockfile_encode_slot(rec, s);
		r = full_pwrite(lf->fd, rec, sizeof(rec), LF_OFF_SLOTS + (off_t)slot * LF_SLOT_SIZE);
		fixed |= LF_FIX_SLOT;
	}
	/* Status last, as in every write: a reader that sees L sees whose.
	 * F stays: a request is for the live node's check to answer. */
	uint8_t status = image[LF_OFF_STATUS];
	if (r == 0 && status != LF_LIVE && status != LF_FAILBACK) {
		uint8_t b = LF_LIVE;
		r = full_pwrite(lf->fd, &b, 1, LF_OFF_STATUS);
		fixed |= LF_FIX_STATUS;
	}
	/* A mended length means every slot record was lost with it, and the
	 * waiting nodes, which on a local file system sleep in their lock
	 * waits, write theirs again only when they look: a change of the
	 * file's times is the event their watch wakes for (protocol.md §4.3;
	 * a heartbeat's write is not). A hint only: its failure is no
	 * failure of the repair. */
	if (r == 0 && (fixed & LF_FIX_LENGTH))
		(void)futimens(lf->fd, NULL);
	int u = ofd_lock(lf->fd, F_UNLCK, LF_OFF_RECORD_LOCK, 1, false);
	return r < 0 ? r : u < 0 ? u : fixed;
}

int lockfile_slot_is(struct lockfile *lf, int slot, const uint8_t id[LF_ID_SIZE])
{
	if (slot < 0 || slot >= LF_SLOTS)
		return -EINVAL;
	uint8_t rec[LF_SLOT_SIZE];
	int r = record_lock(lf, F_RDLCK);
	if (r < 0)
		return r;
	int sh = is_short(lf);
	r = sh < 0 ? sh
	    : sh   ? -ENODATA
		   : pread_zero(lf->fd, rec, sizeof(rec), LF_OFF_SLOTS + (off_t)slot * LF_SLOT_SIZE, NULL);
	int u = ofd_lock(lf->fd, F_UNLCK, LF_OFF_RECORD_LOCK, 1, false);
	if (r < 0)
		return r;
	if (u < 0)
		return u;
	struct lf_slot s;
	return lockfile_decode_slot(rec, &s) == LF_REC_OK && memcmp(s.id, id, LF_ID_SIZE) == 0;
}

int lockfile_write_status(struct lockfile *lf, char status)
{
	uint8_t b = (uint8_t)status;
	struct piece p = { &b, 1, LF_OFF_STATUS };
	return locked_write(lf, &p, 1, true);
}

int lockfile_write_live(struct lockfile *lf, char status, const struct lf_live *live)
{
	uint8_t rec[LF_LIVE_SIZE], b = (uint8_t)status;
	encode_live_here(lf, rec, live);
	/* Record first, status last: a reader that sees L sees whose it is. */
	struct piece p[] = {
		{ rec, sizeof(rec), LF_OFF_LIVE },
		{ live->id, LF_ID_SIZE, LF_OFF_NODE_ID },
		{ &b, 1, LF_OFF_STATUS },
	};
	return locked_write(lf, p, status ? 3 : 2, false);
}

/* Under the record lock's write lock: read the ring, give the entry the
 * seq after the newest readable one, the time, and write it at its place.
 * 1, nothing written, into a file shorter than the format (a write past
 * its end would give it a length no node mends) or whose header is not
 * ours. */
static int put_event(struct lockfile *lf, struct lf_event *ev)
{
	uint8_t head[LF_HEADER_SIZE], region[LF_EVENTS * LF_EVENT_SIZE];
	uint16_t major, minor;
	int r = is_short(lf);
	if (r == 0)
		r = pread_zero(lf->fd, head, sizeof(head), LF_OFF_HEADER, NULL);
	if (r == 0 && lockfile_check_header(head, &major, &minor) != LF_OK)
		r = 1;
	/* A file of an older format ends at byte 8703: its history reads as
	 * never written, and the first entry lengthens it. */
	if (r == 0)
		r = pread_zero(lf->fd, region, sizeof(region), LF_OFF_HISTORY, NULL);
	if (r != 0)
		return r;
	uint64_t last = 0;
	for (int i = 0; i < LF_EVENTS; i++) {
		struct lf_event e;
		if (lockfile_decode_event(region + (size_t)i * LF_EVENT_SIZE, i, &e) == LF_REC_OK && e.seq > last)
			last = e.seq;
	}
	ev->seq = last >= (uint64_t)INT64_MAX ? 1 : last + 1;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts); /* for people only: no decision reads it */
	ev->time_us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
	uint8_t rec[LF_EVENT_SIZE];
	lockfile_encode_event(rec, ev);
	return full_pwrite(lf->fd, rec, sizeof(rec),
			   LF_OFF_HISTORY + (off_t)((ev->seq - 1) % LF_EVENTS) * LF_EVENT_SIZE);
}

int lockfile_take_live(struct lockfile *lf, const struct lf_live *live, int64_t decided_seq, struct lf_event *ev,
		       int *ev_res)
{
	if (lf->readonly)
		return -EBADF;
	int r = record_lock(lf, F_WRLCK);
	if (r < 0)
		return r;
	uint8_t status = 0, rec[LF_REQUEST_SIZE];
	struct lf_request req;
	bool keep_f = false;
	r = pread_zero(lf->fd, &status, 1, LF_OFF_STATUS, NULL);
	if (r == 0 && status == LF_FAILBACK) {
		r = pread_zero(lf->fd, rec, sizeof(rec), LF_OFF_REQUEST, NULL);
		/* F for the request the decision saw is ours to clear; F for
		 * one that came since is the new live node's to act on. */
		keep_f =
			r == 0 && !(lockfile_decode_request(rec, &req) == LF_REC_OK && (int64_t)req.seq == decided_seq);
	}
	if (r == 0) {
		uint8_t lrec[LF_LIVE_SIZE], b = LF_LIVE;
		encode_live_here(lf, lrec, live);
		r = full_pwrite(lf->fd, lrec, sizeof(lrec), LF_OFF_LIVE);
		if (r == 0)
			r = full_pwrite(lf->fd, live->id, LF_ID_SIZE, LF_OFF_NODE_ID);
		if (r == 0 && !keep_f)
			r = full_pwrite(lf->fd, &b, 1, LF_OFF_STATUS);
	}
	/* The history entry last, in the same hold (no more round trips to
	 * the server before the workload starts); news, not state: how it
	 * went is the caller's to log, never a failure of the takeover. */
	if (ev)
		*ev_res = r == 0 ? put_event(lf, ev) : 1;
	int u = ofd_lock(lf->fd, F_UNLCK, LF_OFF_RECORD_LOCK, 1, false);
	return r < 0 ? r : u < 0 ? u : keep_f;
}

/* The heartbeat's compare and write: read the live record (the whole file
 * into image with a view wanted, *size saying how much was there) and write
 * live over it only if its id and epoch are still ours. 0, -ESTALE when it
 * is another's (nothing written), or -errno; image then holds the file as
 * the write left it. */
static int advance_heartbeat(struct lockfile *lf, const struct lf_live *live, uint8_t image[LF_SIZE], bool whole,
			     size_t *size)
{
	uint8_t *rec = image + LF_OFF_LIVE;
	int r = whole ? pread_zero(lf->fd, image, LF_SIZE, 0, size)
		      : pread_zero(lf->fd, rec, LF_LIVE_SIZE, LF_OFF_LIVE, NULL);
	if (r < 0)
		return r;
	struct lf_live now;
	if (lockfile_decode_live(rec, &now) != LF_REC_OK || now.epoch != live->epoch ||
	    memcmp(now.id, live->id, LF_ID_SIZE) != 0)
		return -ESTALE;
	encode_live_here(lf, rec, live);
	return full_pwrite(lf->fd, rec, LF_LIVE_SIZE, LF_OFF_LIVE);
}

/* lockfile_heartbeat where one kernel arbitrates the locks and holds the
 * file's only copy, its page cache: no record lock. While this open holds
 * the live lock nobody else may write the live record (every other writer
 * of it takes the live lock first, and none can have it), so the compare
 * and the write need no section around them; the record lock would only
 * make readers wait for the write, and they read a torn record again
 * instead (read_image). Another local user who may lock the file can then
 * no longer stall the live node's rounds by holding the record lock. The
 * view is taken from the same read when it is settled; otherwise it is
 * read again under the lock, after the write. */
static int heartbeat_unlocked(struct lockfile *lf, const struct lf_live *live, struct lf_view *v)
{
	uint8_t image[LF_SIZE];
	size_t size = 0;
	int r = advance_heartbeat(lf, live, image, v != NULL, &size);
	if (v && (r == 0 || r == -ESTALE)) {
		view_any(image, size, v);
		if (r != 0 || !settled(v)) {
			int e = lockfile_read_any(lf, v);
			if (e < 0)
				return e;
		}
	}
	return r;
}

int lockfile_heartbeat(struct lockfile *lf, const struct lf_live *live, struct lf_view *v)
{
	if (lf->readonly)
		return -EBADF;
	if (!lf->poll)
		return heartbeat_unlocked(lf, live, v);
	int r = record_lock(lf, F_WRLCK);
	if (r < 0)
		return r;
	/* With a view wanted, the whole file in the same hold: the round's
	 * read and its write are one section, and the view is the file as
	 * the unlock leaves it (our new record in it). */
	uint8_t image[LF_SIZE];
	size_t size = 0;
	r = advance_heartbeat(lf, live, image, v != NULL, &size);
	if (v && (r == 0 || r == -ESTALE))
		view_any(image, size, v);
	int u = ofd_lock(lf->fd, F_UNLCK, LF_OFF_RECORD_LOCK, 1, false);
	return r < 0 ? r : u;
}

int lockfile_add_event(struct lockfile *lf, struct lf_event *ev, bool to_target)
{
	if (lf->readonly)
		return -EBADF;
	int r = record_lock(lf, F_WRLCK);
	if (r < 0)
		return r;
	if (to_target) {
		/* The request a hand-over answers stays in the file (F) for
		 * the next live node: its target is where the role goes. */
		uint8_t status = 0, rec[LF_REQUEST_SIZE];
		struct lf_request req;
		r = pread_zero(lf->fd, &status, 1, LF_OFF_STATUS, NULL);
		if (r == 0)
			r = pread_zero(lf->fd, rec, sizeof(rec), LF_OFF_REQUEST, NULL);
		if (r == 0 && status == LF_FAILBACK && lockfile_decode_request(rec, &req) == LF_REC_OK &&
		    req.target_slot != LF_TARGET_ANY) {
			ev->to_slot = req.target_slot;
			memcpy(ev->to, req.target_name, sizeof(ev->to));
		}
	}
	if (r == 0)
		r = put_event(lf, ev);
	int u = ofd_lock(lf->fd, F_UNLCK, LF_OFF_RECORD_LOCK, 1, false);
	return r < 0 ? r : u < 0 ? u : r;
}

int lockfile_read_history(struct lockfile *lf, struct lf_history *h)
{
	uint8_t image[LF_FILE_SIZE];
	size_t size = 0;
	int r = record_lock(lf, F_RDLCK);
	if (r < 0)
		return r;
	r = pread_zero(lf->fd, image, sizeof(image), 0, &size);
	int u = ofd_lock(lf->fd, F_UNLCK, LF_OFF_RECORD_LOCK, 1, false);
	if (r < 0)
		return r;
	if (u < 0)
		return u;
	if (size < LF_SIZE)
		return -ENODATA;
	if (damage_of(image, size))
		return -EBADMSG;
	lockfile_decode_history(image + LF_OFF_HISTORY, h);
	return 0;
}

int lockfile_still_at_path(struct lockfile *lf)
{
	/* One call: the identity of the file we hold was taken at open, and
	 * cannot go to another file while we hold it (a deleted one keeps
	 * its inode until its last close). Each call here is a round trip on
	 * a networked file system, made by every node every interval. Not
	 * followed, as every open of the path is O_NOFOLLOW: a link put there
	 * is not our file either. */
	struct stat named;
	if (lstat(lf->path, &named) < 0)
		return errno == ENOENT || errno == ENOTDIR ? 0 : -errno;
	return named.st_dev == lf->dev && named.st_ino == lf->ino;
}

bool lockfile_live_here(const struct lockfile *lf, const struct lf_live *live)
{
	return live->file_id != 0 && live->file_id == lf->file_id && live->path_hash == lf->path_hash;
}

/* The file systems understudy knows by their statfs type. Local: only
 * those whose locks one kernel arbitrates alone; anything not marked so
 * (or not named here) is treated as networked, the safe side. */
static const struct {
	long type;
	const char *name;
	bool local;
} file_systems[] = {
	{ 0xEF53, "ext4", true }, /* ext2, ext3 too */
	{ 0x58465342, "xfs", true },      { 0x9123683E, "btrfs", true }, { 0x01021994, "tmpfs", true },
	{ 0x794C7630, "overlay", true },  { 0x2FC12FC1, "zfs", true },   { 0xF2F52010, "f2fs", true },
	{ 0x4D44, "vfat", true },         { 0x5346544E, "ntfs", true },  { 0x3153464A, "jfs", true },
	{ 0x52654973, "reiserfs", true }, { 0x858458F6, "ramfs", true }, { LF_FS_NFS, "nfs", false },
	{ LF_FS_FUSE, "fuse", false },    { LF_FS_CEPH, "ceph", false }, { 0x01161970, "gfs2", false },
	{ 0xFE534D42, "smb2", false },    { 0xFF534D42, "cifs", false }, { 0x7461636F, "ocfs2", false },
	{ 0x0BD00BD0, "lustre", false },  { 0x01021997, "9p", false },
};

const char *lockfile_fs_name(long f_type)
{
	for (size_t i = 0; i < sizeof(file_systems) / sizeof(file_systems[0]); i++)
		if (file_systems[i].type == f_type)
			return file_systems[i].name;
	return NULL;
}

bool lockfile_fs_is_local(long f_type)
{
	for (size_t i = 0; i < sizeof(file_systems) / sizeof(file_systems[0]); i++)
		if (file_systems[i].type == f_type)
			return file_systems[i].local;
	return false;
}

int lockfile_is_local(struct lockfile *lf)
{
	struct statfs st;
	if (fstatfs(lf->fd, &st) < 0)
		return -errno;
	return lockfile_fs_is_local((long)st.f_type);
}

int lockfile_page_cached(struct lockfile *lf)
{
	/* A read through the page cache leaves its page resident; a direct
	 * read (FUSE's FOPEN_DIRECT_IO) does not, and such a file refuses a
	 * shared mapping (ENODEV) unless its server allows one, which then
	 * drops the cached pages: either way mincore sees no page. */
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	char buf[64];
	if (pread(lf->fd, buf, sizeof(buf), 0) < 0)
		return -errno;
	void *m = mmap(NULL, page, PROT_READ, MAP_SHARED, lf->fd, 0);
	if (m == MAP_FAILED)
		return errno == ENODEV ? 0 : -errno;
	unsigned char vec = 0;
	int r = mincore(m, page, &vec) < 0 ? -errno : (vec & 1);
	munmap(m, page);
	return r;
}

int lockfile_clear_request(struct lockfile *lf, int64_t seq)
{
	if (lf->readonly)
		return -EBADF;
	int r = record_lock(lf, F_WRLCK);
	if (r < 0)
		return r;
	uint8_t status, rec[LF_REQUEST_SIZE];
	struct lf_request req;
	r = pread_zero(lf->fd, &status, 1, LF_OFF_STATUS, NULL);
	if (r == 0)
		r = pread_zero(lf->fd, rec, sizeof(rec), LF_OFF_REQUEST, NULL);
	if (r == 0) {
		bool ok = lockfile_decode_request(rec, &req) == LF_REC_OK;
		bool same = seq < 0 ? !ok : ok && req.seq == (uint64_t)seq;
		if (status == LF_FAILBACK && same) {
			uint8_t b = LF_LIVE;
			r = full_pwrite(lf->fd, &b, 1, LF_OFF_STATUS);
			if (r == 0)
				r = 1;
		}
	}
	int u = ofd_lock(lf->fd, F_UNLCK, LF_OFF_RECORD_LOCK, 1, false);
	return r < 0 ? r : u < 0 ? u : r;
}

int lockfile_write_request(struct lockfile *lf, struct lf_request *req)
{
	if (lf->readonly)
		return -EBADF;
	int r = record_lock(lf, F_WRLCK);
	if (r < 0)
		return r;
	uint8_t rec[LF_REQUEST_SIZE], b = LF_FAILBACK, status = 0;
	struct lf_request prev;
	r = pread_zero(lf->fd, &status, 1, LF_OFF_STATUS, NULL);
	/* Only into a live group, checked in the same hold as the write: F
	 * in a paused or new group would let a backup start it (found by the
	 * model: a pause between a requester's read and its write). Nor into
	 * a file damaged shorter than the format: the live node mends it. */
	if (r == 0 && status != LF_LIVE && status != LF_FAILBACK)
		r = -EAGAIN;
	if (r == 0 && (r = is_short(lf)) == 1)
		r = -EAGAIN;
	if (r == 0)
		r = pread_zero(lf->fd, rec, sizeof(rec), LF_OFF_REQUEST, NULL);
	if (r == 0) {
		uint64_t last = lockfile_decode_request(rec, &prev) == LF_REC_OK ? prev.seq : 0;
		req->seq = last + 1 > (uint64_t)INT64_MAX ? 1 : last + 1;
		lockfile_encode_request(rec, req);
		/* Record first, status last: a reader that sees F sees which. */
		r = full_pwrite(lf->fd, rec, sizeof(rec), LF_OFF_REQUEST);
		if (r == 0)
			r = full_pwrite(lf->fd, &b, 1, LF_OFF_STATUS);
	}
	int u = ofd_lock(lf->fd, F_UNLCK, LF_OFF_RECORD_LOCK, 1, false);
	return r < 0 ? r : u;
}

int lockfile_write_slot(struct lockfile *lf, int slot, const struct lf_slot *s)
{
	if (slot < 0 || slot >= LF_SLOTS)
		return -EINVAL;
	uint8_t rec[LF_SLOT_SIZE];
	lockfile_encode_slot(rec, s);
	struct piece p = { rec, sizeof(rec), LF_OFF_SLOTS + (off_t)slot * LF_SLOT_SIZE };
	return locked_write(lf, &p, 1, true);
}

/* --- open, create, refuse ---------------------------------------------------- */

/* A file shorter than ours: 2 when it is an ActiveMQ Artemis shared-store
 * server.lock (kept in lf->artemis for the message), -EMSGSIZE for any
 * other. Artemis (every version so far) creates it with "000", writes a
 * status letter at byte 0 and its node id at bytes 3 to 18, and never
 * writes bytes 1 and 2 again; a file of ours cut short has zeros there. */
static int artemis_file(struct lockfile *lf, size_t size)
{
	if (size != 3 && size != LF_ARTEMIS_SIZE)
		return -EMSGSIZE;
	int r = full_pread(lf->fd, lf->artemis, size, 0);
	if (r < 0)
		return r;
	if (!strchr("0NLPF", lf->artemis[0]) || lf->artemis[0] == '\0' || lf->artemis[1] != '0' ||
	    lf->artemis[2] != '0')
		return -EMSGSIZE;
	lf->artemis_len = size;
	return 2;
}

static int fail(struct lockfile *lf, enum lf_err err, int errno_value)
{
	lf->err = err;
	lf->errno_value = errno_value;
	if (lf->fd >= 0)
		close(lf->fd);
	lf->fd = -1;
	return -1; /* path is kept for lockfile_strerror; lockfile_close frees it */
}

/* Who the open file is, for the live records written through it: its
 * inode number, which a copy or a restore does not keep, and a hash of
 * its path, which a file moved in from elsewhere does not share. The path
 * is taken within the file system (from the highest directory on the
 * file's device), so that hosts mounting one share at different places
 * agree; a path that cannot be resolved gives a hash no other node has,
 * which only costs a wait (protocol.md §5.8), never safety. */
static void identify(struct lockfile *lf, const struct stat *st)
{
	lf->file_id = (uint64_t)st->st_ino;
	lf->path_hash = 0;
	char *canon = realpath(lf->path, NULL);
	char *slash = canon ? strrchr(canon, '/') : NULL;
	if (!slash) {
		free(canon);
		return;
	}
	size_t root = (size_t)(slash - canon);
	for (size_t len = root;;) {
		char c = canon[len];
		canon[len] = '\0';
		struct stat ds;
		bool same = stat(len ? canon : "/", &ds) == 0 && ds.st_dev == st->st_dev;
		canon[len] = c;
		if (!same)
			break;
		root = len;
		if (len == 0)
			break;
		while (len > 0 && canon[--len] != '/')
			;
	}
	lf->path_hash = lockfile_crc32c(canon + root, strlen(canon + root));
	free(canon);
}

/* Format an empty file. Two nodes may race here: the write lock on the
 * record byte orders them, and the loser sees a formatted file. */
static int format_if_empty(struct lockfile *lf)
{
	int r = record_lock(lf, F_WRLCK);
	if (r < 0)
		return r;
	struct stat st;
	if (fstat(lf->fd, &st) < 0)
		r = -errno;
	else if (st.st_size == 0) {
		/* The records and an empty history (format 1.3). */
		uint8_t image[LF_FILE_SIZE] = { 0 };
		image[LF_OFF_STATUS] = LF_NEW;
		lockfile_encode_header(image + LF_OFF_HEADER);
		r = full_pwrite(lf->fd, image, sizeof(image), 0);
		if (r == 0 && fsync(lf->fd) < 0)
			r = -errno;
		/* A full disk can take part of the image: left so, the file
		 * is too short, refused by every node as not ours even once
		 * there is room again. Empty, it is still a new group. */
		if (r < 0 && ftruncate(lf->fd, 0) < 0) {
			/* Nothing more to do; r names the cause. */
		}
	}
	int u = ofd_lock(lf->fd, F_UNLCK, LF_OFF_RECORD_LOCK, 1, false);
	return r < 0 ? r : u;
}

int lockfile_open(struct lockfile *lf, const char *path, enum lf_open mode)
{
	return lockfile_open_as(lf, path, mode, LF_GROUP_ANY);
}

/* The mode of a file this open created: shared with its group only when
 * that group is the one asked for (set here when the file system lets
 * us), else private to its owner, so that it passes the node's own check
 * of who may read or write it (trust.h). */
static int share(int fd, gid_t group)
{
	struct stat st;
	mode_t m = 0660;
	if (group != LF_GROUP_ANY) {
		if (fstat(fd, &st) < 0)
			return -errno;
		if (group == (gid_t)-1 || (st.st_gid != group && fchown(fd, (uid_t)-1, group) < 0))
			m = 0600;
	}
	return fchmod(fd, m) < 0 ? -errno : 0;
}

int lockfile_open_as(struct lockfile *lf, const char *path, enum lf_open mode, gid_t group)
{
	bool create = mode == LF_OPEN_CREATE;
	memset(lf, 0, sizeof(*lf));
	lf->fd = -1;
	lf->readonly = mode == LF_OPEN_READ;
	lf->path = strdup(path);
	if (!lf->path)
		return fail(lf, LF_E_SYS, ENOMEM);

	/* Look before opening for real: opening a device can act on it (a
	 * tape rewinds), so anything but a regular file is refused here. */
	struct stat st;
	int probe = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (probe >= 0) {
		int e = fstat(probe, &st) < 0 ? errno : 0;
		close(probe);
		if (e)
			return fail(lf, LF_E_SYS, e);
		if (!S_ISREG(st.st_mode)) {
			lf->file_type = st.st_mode & S_IFMT;
			return fail(lf, LF_E_NOTFILE, S_ISLNK(st.st_mode) ? ELOOP : 0);
		}
	} else if (errno != ENOENT || !create) {
		return fail(lf, LF_E_SYS, errno);
	}
	/* O_NONBLOCK so that opening a FIFO does not hang; it is refused below. */
	int flags = (lf->readonly ? O_RDONLY : O_RDWR) | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK;
	bool created = false;
	if (create) {
		lf->fd = open(path, flags | O_CREAT | O_EXCL, group == LF_GROUP_ANY ? 0660 : 0600);
		created = lf->fd >= 0;
	}
	if (lf->fd < 0 && (!create || errno == EEXIST))
		lf->fd = open(path, flags);
	/* ELOOP: a symlink (O_NOFOLLOW); EISDIR: a directory opened for
	 * writing; ENXIO: a socket or a FIFO without a reader. */
	if (lf->fd < 0) {
		int e = errno;
		lf->file_type = e == ELOOP ? S_IFLNK : e == EISDIR ? S_IFDIR : 0;
		return fail(lf, e == ELOOP || e == EISDIR || e == ENXIO ? LF_E_NOTFILE : LF_E_SYS, e);
	}
	/* Nodes of other hosts may run as other users of one group: the file
	 * is group-writable whatever this process's umask. */
	int sr = created ? share(lf->fd, group) : 0;
	if (sr < 0)
		return fail(lf, LF_E_SYS, -sr);
	if (fstat(lf->fd, &st) < 0)
		return fail(lf, LF_E_SYS, errno);
	lf->dev = st.st_dev;
	lf->ino = st.st_ino;
	if (!S_ISREG(st.st_mode)) {
		lf->file_type = st.st_mode & S_IFMT;
		return fail(lf, LF_E_NOTFILE, 0);
	}
	int fl = fcntl(lf->fd, F_GETFL);
	if (fl < 0 || fcntl(lf->fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
		return fail(lf, LF_E_SYS, errno);
	lf->poll = lockfile_is_local(lf) != 1;

	/* An empty file is a new group (Artemis creates them empty too). */
	if (st.st_size == 0 && create) {
		int r = format_if_empty(lf);
		if (r < 0)
			return fail(lf, LF_E_SYS, -r);
	}
	uint8_t head[LF_OFF_HEADER + LF_HEADER_SIZE] = { 0 };
	int r = record_lock(lf, F_RDLCK);
	if (r == 0) {
		if (fstat(lf->fd, &st) < 0)
			r = -errno;
		else if (st.st_size == 0)
			r = 1; /* read-only look at a group nobody has formatted */
		else if (st.st_size < LF_SIZE)
			r = artemis_file(lf, (size_t)st.st_size);
		else
			r = full_pread(lf->fd, head, sizeof(head), 0);
		ofd_lock(lf->fd, F_UNLCK, LF_OFF_RECORD_LOCK, 1, false);
	}
	/* Only a node formats a file. A request written into an empty one
	 * would leave it shorter than the format, refused by every node. */
	if (r == 1 && mode == LF_OPEN_WRITE)
		return fail(lf, LF_E_EMPTY, 0);
	if (r == 1) {
		lf->major = LF_VERSION_MAJOR;
		lf->minor = LF_VERSION_MINOR;
		return 0;
	}
	if (r == -EMSGSIZE)
		return fail(lf, LF_E_SHORT, 0);
	if (r == 2)
		return fail(lf, LF_E_ARTEMIS, 0);
	if (r < 0)
		return fail(lf, LF_E_SYS, -r);
	enum lf_err e = lockfile_check_header(head + LF_OFF_HEADER, &lf->major, &lf->minor);
	if (e != LF_OK)
		return fail(lf, e, 0);
	identify(lf, &st);
	return 0;
}

void lockfile_close(struct lockfile *lf)
{
	if (lf->fd >= 0)
		close(lf->fd);
	lf->fd = -1;
	free(lf->path);
	lf->path = NULL;
}

const char *lockfile_strerror(const struct lockfile *lf, char *buf, size_t n)
{
	const char *what = "unknown error";
	char version[224];
	switch (lf->err) {
	case LF_OK: what = "no error"; break;
	case LF_E_SHORT: what = "shorter than an understudy lock file: not ours, left untouched"; break;
	case LF_E_MAGIC: what = "not an understudy lock file (wrong magic): left untouched"; break;
	case LF_E_VERSION:
		/* The operator in the middle of an upgrade needs both versions:
		 * which one the file is, and which ones this binary can join. */
		if (lf->major != LF_VERSION_MAJOR)
			snprintf(version, sizeof(version),
				 "lock file format %u.%u is %s than this build speaks (%d.x, up to %d.%d): left "
				 "untouched",
				 lf->major, lf->minor, lf->major > LF_VERSION_MAJOR ? "newer" : "older",
				 LF_VERSION_MAJOR, LF_VERSION_MAJOR, LF_VERSION_MINOR);
		else
			snprintf(version, sizeof(version),
				 "lock file format %u.%u with a layout no %d.x has (slots, slot size or file size): "
				 "corrupt or foreign, left untouched",
				 lf->major, lf->minor, LF_VERSION_MAJOR);
		what = version;
		break;
	case LF_E_HEADER: what = "lock file header checksum failed: corrupt, left untouched"; break;
	case LF_E_NOTFILE:
		/* Say what is there: a link or a directory where the file
		 * should be is a mistake in a path, a FIFO is something else. */
		switch (lf->file_type) {
		case S_IFDIR: what = "a directory, not a regular file: refused"; break;
		case S_IFLNK: what = "a symbolic link, not a regular file: refused (links are not followed)"; break;
		case S_IFIFO: what = "a FIFO, not a regular file: refused, never opened for reading"; break;
		case S_IFCHR: what = "a character device, not a regular file: refused, never opened"; break;
		case S_IFBLK: what = "a block device, not a regular file: refused, never opened"; break;
		case S_IFSOCK: what = "a socket, not a regular file: refused"; break;
		default: what = "not a regular file (directory, FIFO, device or symlink)"; break;
		}
		break;
	case LF_E_SYS: what = strerror(lf->errno_value); break;
	case LF_E_EMPTY: what = "empty: no node has joined this group yet"; break;
	case LF_E_ARTEMIS: {
		/* The operator pointed a node at a broker's journal directory:
		 * say whose file it is, and what the broker last wrote in it. */
		static const struct {
			uint8_t letter;
			const char *means;
		} states[] = { { '0', "never started" },
			       { 'N', "not started" },
			       { 'L', "live" },
			       { 'P', "paused" },
			       { 'F', "failing back" } };
		const char *means = "";
		for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++)
			if (states[i].letter == lf->artemis[0])
				means = states[i].means;
		const uint8_t *id = lf->artemis + 3;
		char node[64] = "not written yet";
		if (lf->artemis_len == LF_ARTEMIS_SIZE)
			snprintf(node, sizeof(node),
				 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", id[0], id[1],
				 id[2], id[3], id[4], id[5], id[6], id[7], id[8], id[9], id[10], id[11], id[12], id[13],
				 id[14], id[15]);
		snprintf(version, sizeof(version),
			 "an ActiveMQ Artemis shared-store server.lock (status '%c', %s; node id %s), not an "
			 "understudy lock file: left untouched",
			 lf->artemis[0], means, node);
		what = version;
		break;
	}
	}
	snprintf(buf, n, "%s: %s", lf->path ? lf->path : "lock file", what);
	return buf;
}

const char *lockfile_status_name(char status)
{
	switch (status) {
	case LF_NEW: return "new";
	case LF_LIVE: return "live";
	case LF_PAUSED: return "paused";
	case LF_FAILBACK: return "failback";
	default: return "unknown";
	}
}

const char *lockfile_slot_state_name(uint8_t state)
{
	switch (state) {
	case LF_SLOT_JOINING: return "joining";
	case LF_SLOT_QUEUED: return "queued";
	case LF_SLOT_WAITING: return "waiting";
	case LF_SLOT_LIVE: return "live";
	case LF_SLOT_STOPPING: return "stopping";
	default: return "unknown";
	}
}

const char *lockfile_slot_describe(const struct lf_slot *s)
{
	if (s->state == LF_SLOT_LIVE && (s->flags & LF_SLOT_F_STARTING))
		return "starting";
	return lockfile_slot_state_name(s->state);
}

const char *lockfile_event_name(uint8_t reason)
{
	static const char *const names[] = {
		[LF_EV_START] = "start",
		[LF_EV_RESUME] = "resume",
		[LF_EV_FAILOVER] = "failover",
		[LF_EV_FAILBACK] = "failback",
		[LF_EV_SWITCHOVER] = "switchover",
		[LF_EV_NEW_FILE] = "new-file",
		[LF_EV_DAMAGED] = "damaged-status",
		[LF_EV_PAUSE] = "pause",
		[LF_EV_FINISHED] = "finished",
		[LF_EV_GIVE_UP] = "give-up",
		[LF_EV_SHUTDOWN] = "shutdown",
		[LF_EV_HAND_OVER] = "hand-over",
		[LF_EV_FENCED] = "fenced",
	};
	return reason >= LF_EV_START && reason <= LF_EV_LAST ? names[reason] : "unknown";
}

const char *lockfile_role_name(uint8_t role)
{
	switch (role) {
	case LF_ROLE_PRIMARY: return "primary";
	case LF_ROLE_BACKUP: return "backup";
	default: return "unknown";
	}
}
