/* check-storage --peer: the checks across hosts, through a meeting file
 * both hosts open. */
#include "understudy/check_peer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sysexits.h>
#include <unistd.h>

#include "understudy/check_helper.h"
#include "understudy/clock.h"
#include "understudy/text.h"

enum { CHECK_PEER_ROUNDS = 10, CHECK_PEER_DEATH_ROUNDS = 3 };

/* Names of the calls, for the bound's message. */
#define TAKING "taking a lock byte"
#define RELEASING "releasing a lock byte"
#define WAITING "waiting for a lock byte the peer releases, with tries"
#define TESTING "testing a lock byte (F_OFD_GETLK)"
#define READING "reading the meeting file under the record lock"
#define WRITING_SLOT "writing this peer's slot record under the record lock"
#define CLOSING "closing the meeting file"

/* The two peers meet in one file, DIR/.understudy-check-peer, formatted
 * like a group's lock file by the lock-file layer (so its creation is
 * race-free) but never used as one. Each peer claims a slot: slot 0 is
 * A, slot 1 is B. A peer's slot record is its mailbox: id (random, this
 * run's), name (host), seq (the step it reached) and pid (a value for
 * that step). Steps only grow, so waiting for the peer is waiting for its
 * seq to reach a number. */
struct meet {
	struct lockfile lf;
	int me, peer; /* slots */
	struct lf_slot mine;
	uint8_t peer_id[LF_ID_SIZE];
	char peer_name[TEXT_ESCAPED_SIZE(LF_NAME_MAX)]; /* escaped: the peer wrote it */
	int64_t timeout_ms;
};

static int meet_publish(struct meet *m, uint64_t step, uint32_t value)
{
	m->mine.seq = step;
	m->mine.pid = value;
	return CHECK_CALL(m->lf.path, WRITING_SLOT, lockfile_write_slot(&m->lf, m->me, &m->mine));
}

/* Wait until the peer's step reaches step: 0 with its value, -EPIPE when
 * the peer left (its slot lock is free), -ETIMEDOUT. Only a record with
 * the peer's id counts. */
static int meet_wait(struct meet *m, uint64_t step, int64_t timeout_ms, uint32_t *value)
{
	static struct lf_view v;
	int64_t end = clock_ns() + timeout_ms * 1000000;
	for (;;) {
		int r = CHECK_CALL(m->lf.path, READING, lockfile_read(&m->lf, &v));
		if (r < 0)
			return r;
		const struct lf_slot *s = &v.slots[m->peer];
		if (v.slot_rec[m->peer] == LF_REC_OK && s->seq >= step && memcmp(s->id, m->peer_id, LF_ID_SIZE) == 0) {
			if (value)
				*value = s->pid;
			return 0;
		}
		if (CHECK_CALL(m->lf.path, TESTING, lockfile_held(&m->lf, lockfile_slot_lock_offset(m->peer))) != 1)
			return -EPIPE;
		if (clock_ns() > end)
			return -ETIMEDOUT;
		check_sleep_ms(2);
	}
}

/* Both peers reach step, exchanging one value each way. A record holds
 * one step: a peer that passed the barrier may already have published
 * the next one over it. So a barrier is two raw steps, 2*step and
 * 2*step+1, carrying the same value; a peer is never more than one raw
 * step ahead of a reader, so the value read is always this barrier's. */
static int meet_barrier(struct meet *m, uint64_t step, uint32_t mine, uint32_t *theirs)
{
	int r = meet_publish(m, 2 * step, mine);
	if (r == 0)
		r = meet_wait(m, 2 * step, m->timeout_ms, theirs);
	if (r == 0)
		r = meet_publish(m, 2 * step + 1, mine);
	return r < 0 ? r : meet_wait(m, 2 * step + 1, m->timeout_ms, NULL);
}

static uint32_t id_echo(const uint8_t id[LF_ID_SIZE]) { return lockfile_crc32c(id, LF_ID_SIZE) | 1; }

/* Remove the meeting file unless another peer still has it open. B goes
 * first and leaves it to A; A waits for B to close, so the last one out
 * removes it. */
static void meet_cleanup(struct lockfile *lf, int me, const char *path)
{
	for (int i = 0; i < LF_SLOTS; i++)
		if (i != me && CHECK_CALL(path, TESTING, lockfile_held(lf, lockfile_slot_lock_offset(i))) == 1)
			return;
	CHECK_CALL(path, "removing the meeting file", unlink(path));
}

/* The handshake. A slot record can be a previous run's, so each side
 * echoes the id it read, and a side counts as met only when the other
 * echoed its own id: 1 up, 2 A echoes B, 3 B echoes A, 4 A saw that. B
 * stays at 3 until A's 4: a later step would overwrite its echo. */
static int meet_peer(const struct check_opts *o, struct meet *m)
{
	int64_t end = clock_ns() + o->peer_timeout_ms * 1000000;
	static struct lf_view v;
	bool a = m->me == 0, locked = false;
	int r = meet_publish(m, 1, 0);
	if (r < 0)
		return r;
	for (;;) {
		if ((r = CHECK_CALL(m->lf.path, READING, lockfile_read(&m->lf, &v))) < 0)
			return r;
		const struct lf_slot *s = &v.slots[m->peer];
		bool held =
			CHECK_CALL(m->lf.path, TESTING, lockfile_held(&m->lf, lockfile_slot_lock_offset(m->peer))) == 1;
		bool there = v.slot_rec[m->peer] == LF_REC_OK && held;
		locked |= held;
		if (there && a && s->seq >= 1) {
			if (s->seq >= 3 && s->pid == id_echo(m->mine.id) &&
			    memcmp(s->id, m->peer_id, LF_ID_SIZE) == 0) {
				r = meet_publish(m, 4, 0);
				break;
			}
			if (m->mine.seq < 2 || memcmp(s->id, m->peer_id, LF_ID_SIZE) != 0) {
				memcpy(m->peer_id, s->id, LF_ID_SIZE);
				if ((r = meet_publish(m, 2, id_echo(s->id))) < 0)
					return r;
			}
		}
		if (there && !a && s->seq >= 2 && s->pid == id_echo(m->mine.id)) {
			memcpy(m->peer_id, s->id, LF_ID_SIZE);
			if ((r = meet_publish(m, 3, id_echo(s->id))) == 0)
				r = meet_wait(m, 4, o->timeout_ms, NULL);
			break;
		}
		/* A peer whose lock is seen but whose writes never are: the
		 * file system does not carry writes between hosts. */
		if (clock_ns() > end)
			return locked ? -ENODATA : -ETIMEDOUT;
		check_sleep_ms(5);
	}
	/* Whoever ran the other side chose it, and it travels in the report
	 * lines: shown escaped, it can neither end one nor reach a terminal. */
	text_escape(v.slots[m->peer].name, m->peer_name, sizeof(m->peer_name), TEXT_WORD);
	return r;
}

/* Each cross-host check announces its step, runs its rounds between
 * barriers numbered from base, and ends with both sides knowing the
 * outcome: A measures, B tries, and the figure travels as a value. */
static void peer_fail(const struct meet *m, const char *what, int r)
{
	check_report("FAIL", "%s with %s (%s)", what, m->peer_name,
		     r == -ETIMEDOUT ? "the peer stopped answering"
		     : r == -EPIPE   ? "the peer left"
				     : strerror(-r));
}

/* A holds the live byte; B must not get it, must see it held, must get
 * the next byte; then, once A released, must get it. */
static int peer_exclusive(struct meet *m, uint64_t base)
{
	struct lockfile *lf = &m->lf;
	bool a = m->me == 0;
	uint32_t cases = 0, theirs = 0;
	int r;
	if (a && CHECK_CALL(lf->path, TAKING, lockfile_lock(lf, LF_LOCK_LIVE, false)) < 0)
		cases |= 0x100; /* A could not even lock */
	if ((r = meet_barrier(m, base, cases, &theirs)) < 0)
		return r;
	if (!a) {
		cases |= theirs;
		cases |= (CHECK_CALL(lf->path, TAKING, lockfile_lock(lf, LF_LOCK_LIVE, false)) == -EAGAIN) << 0;
		cases |= (CHECK_CALL(lf->path, TESTING, lockfile_held(lf, LF_OFF_LIVE_LOCK)) == 1) << 1;
		cases |= (CHECK_CALL(lf->path, TAKING, lockfile_lock(lf, LF_LOCK_BACKUP, false)) == 0) << 2;
		CHECK_CALL(lf->path, RELEASING, lockfile_unlock(lf, LF_LOCK_BACKUP));
	}
	if ((r = meet_barrier(m, base + 1, 0, NULL)) < 0)
		return r;
	if (a)
		CHECK_CALL(lf->path, RELEASING, lockfile_unlock(lf, LF_LOCK_LIVE));
	if ((r = meet_barrier(m, base + 2, 0, NULL)) < 0)
		return r;
	if (!a) {
		cases |= (CHECK_CALL(lf->path, TAKING, lockfile_lock(lf, LF_LOCK_LIVE, false)) == 0) << 3;
		CHECK_CALL(lf->path, RELEASING, lockfile_unlock(lf, LF_LOCK_LIVE));
	}
	if ((r = meet_barrier(m, base + 3, cases, &theirs)) < 0)
		return r;
	if (a)
		cases = theirs;
	static const char *const what[] = {
		"the other host got a byte this host holds",
		"F_OFD_GETLK on the other host did not see this host's lock",
		"a lock on one byte blocked the next byte on the other host: not byte-range",
		"the other host could not lock a byte once it was released",
	};
	for (int i = 0; i < 4; i++)
		if ((cases & 0x100) || !(cases & (1u << i))) {
			check_report("FAIL", "exclusive byte-range locks between this host and %s (%s)", m->peer_name,
				     cases & 0x100 ? "could not lock a free byte" : what[i]);
			return 0;
		}
	check_report("PASS", "exclusive byte-range locks between this host and %s (4 of 4 cases)", m->peer_name);
	return 0;
}

/* Round trips through two waits, timed on A's clock alone (hosts' clocks
 * are not compared): A holds X (live byte), B holds Y (backup byte) and
 * waits on X. A releases X and waits on Y; B wakes, releases Y; A wakes.
 * With a holder (death), A's helper holds X and A kills it instead. */
static int peer_round_trips(struct meet *m, const struct check_opts *o, uint64_t base, int rounds, bool death,
			    uint32_t *median_us)
{
	struct lockfile *lf = &m->lf;
	bool a = m->me == 0;
	int64_t lat[CHECK_PEER_ROUNDS] = { 0 };
	uint32_t failed = 0;
	int r;
	for (int i = 0; i < rounds; i++) {
		uint64_t s = base + (uint64_t)i * 4;
		struct check_helper h = { 0 };
		struct check_msg msg;
		int got = 0;
		if (a && death) {
			got = check_helper_start(&h, check_helper_holder, m->lf.path);
			if (got == 0)
				got = check_msg_recv(h.from, o->timeout_ms, &msg);
			if (got == 0 && msg.tag != 'h')
				got = -EIO;
		} else if (a) {
			got = CHECK_CALL(lf->path, TAKING, lockfile_lock(lf, LF_LOCK_LIVE, false));
		} else {
			got = CHECK_CALL(lf->path, TAKING, lockfile_lock(lf, LF_LOCK_BACKUP, false));
		}
		if ((r = meet_barrier(m, s, got < 0, &failed)) < 0 || failed || got < 0) {
			check_helper_stop(&h);
			return r < 0 ? r : -ENOLCK;
		}
		if (!a) {
			/* Say so, then wait: A gives us time to be in the wait. */
			if ((r = meet_publish(m, 2 * (s + 1), 0)) < 0)
				return r;
			got = CHECK_WAIT(lf->path, WAITING, o->timeout_ms,
					 lockfile_lock_within(lf, LF_LOCK_LIVE, o->timeout_ms));
			CHECK_CALL(lf->path, RELEASING, lockfile_unlock(lf, LF_LOCK_BACKUP));
			CHECK_CALL(lf->path, RELEASING, lockfile_unlock(lf, LF_LOCK_LIVE));
		} else {
			if ((r = meet_wait(m, 2 * (s + 1), o->timeout_ms, NULL)) < 0) {
				check_helper_stop(&h);
				return r;
			}
			check_sleep_ms(20);
			if (death) {
				got = check_kill_and_take(lf, h.pid, LF_LOCK_BACKUP, o->timeout_ms, &lat[i]);
			} else {
				int64_t t0 = clock_ns();
				CHECK_CALL(lf->path, RELEASING, lockfile_unlock(lf, LF_LOCK_LIVE));
				got = CHECK_WAIT(lf->path, WAITING, o->timeout_ms,
						 lockfile_lock_within(lf, LF_LOCK_BACKUP, o->timeout_ms));
				lat[i] = clock_ns() - t0;
			}
			check_helper_stop(&h);
			CHECK_CALL(lf->path, RELEASING, lockfile_unlock(lf, LF_LOCK_BACKUP));
		}
		if ((r = meet_barrier(m, s + 2, got < 0, &failed)) < 0)
			return r;
		if (failed || got < 0)
			return -ETIMEDOUT;
	}
	uint32_t mine = 0;
	if (a) {
		int64_t median, max;
		check_median_max(lat, rounds, &median, &max);
		mine = (uint32_t)(median / 1000);
	}
	r = meet_barrier(m, base + (uint64_t)rounds * 4, mine, median_us);
	if (a)
		*median_us = mine;
	return r;
}

static int peer_write(struct meet *m, uint64_t base, int *ok)
{
	bool a = m->me == 0;
	uint64_t my_seed, peer_seed, seen;
	uint32_t theirs = 0;
	int r;
	memcpy(&my_seed, m->mine.id, 8);
	memcpy(&peer_seed, m->peer_id, 8);
	*ok = 0;
	for (int i = 0; i < CHECK_PEER_ROUNDS; i++) {
		bool we_write = (i % 2 == 0) == a;
		if (we_write && (r = check_write_nonce(&m->lf, my_seed, i, m->mine.name)) < 0)
			return r;
		if ((r = meet_barrier(m, base + (uint64_t)i * 2, 0, NULL)) < 0)
			return r;
		uint32_t good = 1;
		if (!we_write) {
			r = check_read_nonce(&m->lf, peer_seed, i, &seen);
			if (r < 0)
				return r;
			good = r == 1;
		}
		if ((r = meet_barrier(m, base + (uint64_t)i * 2 + 1, good, &theirs)) < 0)
			return r;
		if (good && theirs)
			++*ok;
	}
	return 0;
}

/* The two timed checks across hosts: a waiter woken by a release, and
 * by a holder's death. -errno (reported) when the pair lost each other. */
static int peer_timed(struct meet *m, const struct check_opts *o, bool death)
{
	int rounds = death ? CHECK_PEER_DEATH_ROUNDS : CHECK_PEER_ROUNDS;
	const char *what = death ? "a dead holder's lock is released" : "a blocked waiter wakes on release";
	uint32_t us = 0;
	check_step("%s on %s", what, m->peer_name);
	int r = peer_round_trips(m, o, death ? 200 : 100, rounds, death, &us);
	if (r < 0)
		peer_fail(m, what, r);
	else if (death)
		check_report("PASS",
			     "a lock of a process killed on A was taken on B: round trip from the SIGKILL %.3f ms, "
			     "median of %d (A's clock)",
			     us / 1000.0, rounds);
	else
		check_report("PASS",
			     "a blocked waiter on one host woke on a release on the other: round trip through two "
			     "waits %.3f ms, median of %d (A's clock)",
			     us / 1000.0, rounds);
	return r;
}

int check_peer_run(const struct check_opts *o)
{
	static struct meet m;
	m = (struct meet){ .timeout_ms = o->timeout_ms };
	int code = 0;
	check_step("meeting the peer in %s", o->meet);
	if (CHECK_CALL(o->meet, "opening the meeting file, creating it if need be",
		       lockfile_open(&m.lf, o->meet, LF_OPEN_CREATE)) < 0) {
		char why[512];
		check_report("FAIL", "meeting the peer: %s", lockfile_strerror(&m.lf, why, sizeof(why)));
		CHECK_CALL(o->meet, CLOSING, (lockfile_close(&m.lf), 0));
		return 0;
	}
	m.me = CHECK_CALL(o->meet, "claiming a slot (a lock byte)", lockfile_claim_slot(&m.lf));
	if (m.me < 0 || m.me > 1) {
		check_report("FAIL", "meeting the peer: two peers are already checking %s", o->dir);
		goto out;
	}
	m.peer = 1 - m.me;
	m.mine.role = LF_ROLE_NONE;
	snprintf(m.mine.name, sizeof(m.mine.name), "%s", o->host);
	if (getrandom(m.mine.id, LF_ID_SIZE, 0) != LF_ID_SIZE) {
		check_report("FAIL", "meeting the peer: getrandom: %s", strerror(errno));
		goto out;
	}
	check_step("waiting up to %lld s for a peer (this host is %s)", (long long)(o->peer_timeout_ms / 1000),
		   m.me == 0 ? "A" : "B");
	int r = meet_peer(o, &m);
	if (r == -ETIMEDOUT) {
		fprintf(stderr, "understudy check-storage: no peer came within %lld ms\n",
			(long long)o->peer_timeout_ms);
		code = EX_TEMPFAIL;
		goto out;
	}
	if (r == -ENODATA) {
		check_report(
			"FAIL",
			"a write under the lock on one host is seen by the other (a peer holds its slot lock in the "
			"meeting file, but none of its writes showed here within %lld s; mount with direct I/O on "
			"both: GlusterFS direct-io-mode=enable, ceph-fuse fuse_disable_pagecache = true)",
			(long long)(o->peer_timeout_ms / 1000));
		goto out;
	}
	if (r < 0) {
		check_report("FAIL", "meeting the peer: %s", strerror(-r));
		goto out;
	}
	check_report("INFO", "peer: %s, this host is %s (%s)", m.peer_name, m.me == 0 ? "A" : "B",
		     m.me == 0 ? "holds and measures" : "waits and takes");
	check_step("exclusive byte-range locks with %s", m.peer_name);
	if ((r = peer_exclusive(&m, 10)) < 0) {
		peer_fail(&m, "exclusive byte-range locks", r);
		goto out;
	}
	if (peer_timed(&m, o, false) < 0 || peer_timed(&m, o, true) < 0)
		goto out;
	check_step("a write under the lock is seen on %s", m.peer_name);
	int ok;
	if ((r = peer_write(&m, 300, &ok)) < 0) {
		peer_fail(&m, "a write under the lock", r);
		goto out;
	}
	check_report(ok == CHECK_PEER_ROUNDS ? "PASS" : "FAIL",
		     "a write under the lock on one host is seen by the other (%d of %d rounds, both ways)", ok,
		     CHECK_PEER_ROUNDS);
	check_step("leaving the meeting file");
	if ((r = meet_barrier(&m, 1000, 0, NULL)) < 0) {
		peer_fail(&m, "leaving", r);
		goto out;
	}
	if (m.me == 0) {
		/* B closes first; the last one out removes the file. */
		int64_t end = clock_ns() + o->timeout_ms * 1000000;
		while (CHECK_CALL(o->meet, TESTING, lockfile_held(&m.lf, lockfile_slot_lock_offset(1))) == 1 &&
		       clock_ns() < end)
			check_sleep_ms(2);
	}
out:
	meet_cleanup(&m.lf, m.me, o->meet);
	CHECK_CALL(o->meet, CLOSING, (lockfile_close(&m.lf), 0));
	return code;
}

void check_peer_cleanup(const char *meet)
{
	/* Only F_OFD_GETLK on the slot bytes: lockfile_open would wait for
	 * the record lock, which a hung peer may hold. */
	struct lockfile lf = { .fd = open(meet, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK), .path = (char *)meet };
	if (lf.fd >= 0)
		meet_cleanup(&lf, -1, meet);
	lf.path = NULL;
	lockfile_close(&lf);
}
