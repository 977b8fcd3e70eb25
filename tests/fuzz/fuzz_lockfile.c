/* libFuzzer target: any bytes, as a whole lock-file image.
 *
 * The bytes go through the pure decoders (header, live, request and slot
 * records, the whole image) and, written to a real file, through
 * lockfile_open and lockfile_read as status and a node would open it. On
 * top of "no crash, no sanitizer report" it checks the properties every
 * node relies on, and aborts when one fails:
 *   - a record that decodes OK re-encodes to one that decodes to the same
 *     fields (no field is read that the encoder cannot write);
 *   - a refused open leaves the file byte-for-byte as it was, and says
 *     why with the path in the message;
 *   - an accepted read-only open reads the same view as the decoder;
 *   - the same bytes written over a file a node opened when it was sound
 *     (damage, as truncate or a stray write leaves it) read with
 *     lockfile_read_any, never failing; and the live node's repair either
 *     writes nothing (another node's live record, another format's header)
 *     or leaves a file every read accepts, with its records in it;
 *   - the history (format 1.3): an entry that decodes OK re-encodes alike,
 *     the entries read oldest first with unique seqs, and a node's entry
 *     goes only into a file of full length whose header is ours, changes
 *     no byte before 8704 and reads back as the newest.
 *
 * Built only with clang (tests/fuzz/meson.build). Run:
 *   build-fuzz/tests/fuzz/fuzz_lockfile -max_len=17920 tests/fuzz/corpus/lockfile */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "understudy/lockfile.h"

static const char *path;

static int same_file(const uint8_t *data, size_t size)
{
	uint8_t *buf = malloc(size + 1);
	must(buf);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	must(fd >= 0);
	size_t got = 0;
	ssize_t r;
	while ((r = read(fd, buf + got, size + 1 - got)) > 0)
		got += (size_t)r;
	close(fd);
	int same = got == size && memcmp(buf, data, size) == 0;
	free(buf);
	return same;
}

static void records(const uint8_t *image)
{
	uint8_t out[LF_LIVE_SIZE];
	struct lf_live l, l2;
	if (lockfile_decode_live(image + LF_OFF_LIVE, &l) == LF_REC_OK) {
		lockfile_encode_live(out, &l);
		must(lockfile_decode_live(out, &l2) == LF_REC_OK);
		must(memcmp(&l, &l2, sizeof(l)) == 0);
	}
	struct lf_request q, q2;
	if (lockfile_decode_request(image + LF_OFF_REQUEST, &q) == LF_REC_OK) {
		lockfile_encode_request(out, &q);
		must(lockfile_decode_request(out, &q2) == LF_REC_OK);
		must(memcmp(&q, &q2, sizeof(q)) == 0);
	}
	for (int i = 0; i < LF_SLOTS; i++) {
		struct lf_slot s, s2;
		if (lockfile_decode_slot(image + LF_OFF_SLOTS + (size_t)i * LF_SLOT_SIZE, &s) != LF_REC_OK)
			continue;
		lockfile_encode_slot(out, &s);
		must(lockfile_decode_slot(out, &s2) == LF_REC_OK);
		must(memcmp(&s, &s2, sizeof(s)) == 0);
		/* What status prints of a slot: never NULL, whatever the byte. */
		must(lockfile_slot_describe(&s) && lockfile_role_name(s.role));
	}
}

/* The history region (padded with zeros past the input, as a file that
 * ends early reads): every OK entry round-trips, and the decoded history is
 * sorted by unique seqs. */
static void history(const uint8_t *region)
{
	static struct lf_history h;
	for (int i = 0; i < LF_EVENTS; i++) {
		struct lf_event e, e2;
		uint8_t out[LF_EVENT_SIZE];
		if (lockfile_decode_event(region + (size_t)i * LF_EVENT_SIZE, i, &e) != LF_REC_OK)
			continue;
		lockfile_encode_event(out, &e);
		must(lockfile_decode_event(out, i, &e2) == LF_REC_OK);
		must(memcmp(&e, &e2, sizeof(e)) == 0);
		must(lockfile_event_name(e.reason) != NULL);
	}
	lockfile_decode_history(region, &h);
	must(h.n >= 0 && h.bad >= 0 && h.n + h.bad <= LF_EVENTS);
	for (int i = 1; i < h.n; i++)
		must(h.ev[i - 1].seq < h.ev[i].seq);
}

/* The view as status would print it: a read of every name and string. */
static size_t touch_view(const struct lf_view *v)
{
	size_t n = strlen(lockfile_status_name(v->status)) + strlen(v->live.name) + strlen(v->live.address) +
		   strlen(v->request.target_name) + strlen(v->request.requester);
	for (int i = 0; i < LF_SLOTS; i++)
		n += strlen(v->slots[i].name) + strlen(lockfile_slot_state_name(v->slots[i].state));
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t image[LF_SIZE], region[LF_EVENTS * LF_EVENT_SIZE];
	static struct lf_view view, view2;
	static struct lf_history h0, h1;
	path = fuzz_scratch("lock");

	/* The decoders see exactly a record's bytes: pad short inputs. */
	memset(image, 0, sizeof(image));
	memcpy(image, data, size < LF_SIZE ? size : LF_SIZE);
	uint16_t major = 0, minor = 0;
	enum lf_err head = lockfile_check_header(image + LF_OFF_HEADER, &major, &minor);
	must(head == LF_OK || head == LF_E_MAGIC || head == LF_E_VERSION || head == LF_E_HEADER);
	records(image);
	memset(region, 0, sizeof(region));
	if (size > LF_SIZE)
		memcpy(region, data + LF_SIZE, size - LF_SIZE < sizeof(region) ? size - LF_SIZE : sizeof(region));
	history(region);
	lockfile_decode(image, &view);
	touch_view(&view);

	/* Through a real file: read-only (status), to write a request
	 * (failback, switchover), then as a node. */
	fuzz_write(path, data, size);
	struct lockfile lf;
	char msg[512];
	int r = lockfile_open(&lf, path, LF_OPEN_READ);
	if (r == 0) {
		/* Accepted: empty (nothing to read) or a header of ours. */
		must(size == 0 || (size >= LF_SIZE && head == LF_OK));
		if (size >= LF_SIZE) {
			must(lockfile_read(&lf, &view2) == 0);
			must(memcmp(&view, &view2, sizeof(view)) == 0);
		}
	} else {
		must(strstr(lockfile_strerror(&lf, msg, sizeof(msg)), path));
	}
	lockfile_close(&lf);
	must(same_file(data, size));

	/* As failback and switchover open it: never writing at open, and
	 * refusing an empty file (a request in it would make it short). */
	r = lockfile_open(&lf, path, LF_OPEN_WRITE);
	must(r == 0 ? size >= LF_SIZE && head == LF_OK : size > 0 || lf.err == LF_E_EMPTY);
	lockfile_close(&lf);
	must(same_file(data, size));

	r = lockfile_open(&lf, path, LF_OPEN_CREATE);
	if (r == 0) {
		must(lockfile_read(&lf, &view2) == 0);
		/* Only an empty file is ever written at open: formatted as new. */
		if (size == 0)
			must(view2.status == LF_NEW);
		else
			must(same_file(data, size));
	} else {
		must(lf.err != LF_OK);
		must(same_file(data, size));
	}
	lockfile_close(&lf);

	/* Damage: a sound file a node has open, its bytes then replaced in
	 * place (the same inode, as truncate or a stray write leaves it). */
	uint8_t sound[LF_SIZE] = { LF_NEW };
	lockfile_encode_header(sound + LF_OFF_HEADER);
	fuzz_write(path, sound, sizeof(sound));
	must(lockfile_open(&lf, path, LF_OPEN_CREATE) == 0);
	fuzz_write(path, data, size);
	must(lockfile_read_any(&lf, &view2) == 0);
	must((size < LF_SIZE) == !!(view2.damage & LF_DMG_SHORT));
	must(view2.size == (size < LF_SIZE ? size : LF_SIZE));
	if (size >= LF_SIZE) {
		view2.damage = 0; /* the decoder reports no damage */
		must(memcmp(&view, &view2, sizeof(view)) == 0);
	}
	struct lf_live live = { .epoch = 9, .heartbeat = 1, .id = { 1, 2, 3 }, .slot = 0, .pid = 1 };
	struct lf_slot slot = { .id = { 1, 2, 3 }, .role = LF_ROLE_PRIMARY, .state = LF_SLOT_LIVE, .epoch = 9 };
	r = lockfile_repair(&lf, &live, 0, &slot);
	if (r < 0) {
		must(r == -ESTALE || r == -EBADMSG);
		must(same_file(data, size));
	} else {
		must(lockfile_read(&lf, &view2) == 0);
		must(view2.status == LF_LIVE || view2.status == LF_FAILBACK);
		must(view2.live_rec == LF_REC_OK && view2.slot_rec[0] == LF_REC_OK);
		must(view2.live.epoch == 9 && memcmp(view2.slots[0].id, slot.id, LF_ID_SIZE) == 0);
		must(lockfile_repair(&lf, &live, 0, &slot) == 0);
	}
	lockfile_close(&lf);

	/* The history of the same bytes under an open node: read as the
	 * decoder does; a node's entry only into a file of full length whose
	 * header is ours, nothing before byte 8704 changed, read back newest. */
	fuzz_write(path, sound, sizeof(sound));
	must(lockfile_open(&lf, path, LF_OPEN_CREATE) == 0);
	fuzz_write(path, data, size);
	int hr = lockfile_read_history(&lf, &h0);
	must(size < LF_SIZE ? hr == -ENODATA : head == LF_OK ? hr == 0 : hr == -EBADMSG);
	if (hr == 0) {
		lockfile_decode_history(region, &h1);
		must(memcmp(&h0, &h1, sizeof(h0)) == 0);
	}
	struct lf_event ev = { .reason = LF_EV_HAND_OVER, .writer = LF_EV_BY_FROM, .from_slot = 0, .to_slot = -1 };
	strcpy(ev.from, "fuzz");
	r = lockfile_add_event(&lf, &ev, true);
	if (hr != 0) {
		must(r == 1);
		must(same_file(data, size));
	} else {
		must(r == 0);
		uint8_t *now = malloc(LF_FILE_SIZE + 1);
		must(now);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		must(fd >= 0);
		must(pread(fd, now, LF_SIZE, 0) == LF_SIZE);
		close(fd);
		must(memcmp(now, data, LF_SIZE) == 0);
		free(now);
		must(lockfile_read_history(&lf, &h1) == 0);
		uint64_t last = h0.n ? h0.ev[h0.n - 1].seq : 0;
		must(ev.seq == (last >= (uint64_t)INT64_MAX ? 1 : last + 1));
		if (ev.seq != 1 || !h0.n)
			must(h1.n >= 1 && h1.ev[h1.n - 1].seq == ev.seq && !strcmp(h1.ev[h1.n - 1].from, "fuzz"));
	}
	lockfile_close(&lf);
	return 0;
}
