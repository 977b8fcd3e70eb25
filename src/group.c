#include "understudy/group.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>

#include "understudy/bound.h"
#include "understudy/clock.h"
#include "understudy/sysexit.h"
#include "understudy/timeline.h"
#include "understudy/trust.h"

int group_open(struct lockfile *lf, const char *path, enum lf_open mode, const struct trust_who *who, const char *cmd)
{
	/* What a file any user could have written or locked says cannot be
	 * believed, nor should a request be added to it: the same check as
	 * the nodes', so that no command is fooled where a node refuses. */
	char why[1024];
	bound_doing("looking at who may change the file and its directories");
	int trusted = trust_check(path, TRUST_LOCK, who, why, sizeof(why));
	bound_idle();
	if (trusted == -EPERM) {
		memset(lf, 0, sizeof(*lf));
		lf->fd = -1;
		fprintf(stderr, "understudy %s: %s\n", cmd, why);
		return EX_NOPERM;
	}
	bound_doing("opening the file");
	int opened = lockfile_open(lf, path, mode);
	bound_idle();
	if (opened == 0)
		return 0;
	int code = lf->err == LF_E_EMPTY ? EX_NOINPUT : EX_DATAERR;
	if (lf->err == LF_E_SYS)
		code = sysexit_errno(lf->errno_value, SYSEXIT_OPEN, EX_IOERR);
	if (code == EX_NOINPUT && lf->err != LF_E_EMPTY)
		fprintf(stderr, "understudy %s: %s: no such group (the lock file does not exist)\n", cmd, path);
	else {
		char msg[512];
		fprintf(stderr, "understudy %s: %s\n", cmd, lockfile_strerror(lf, msg, sizeof(msg)));
	}
	lockfile_close(lf);
	return code;
}

bool group_held(struct lockfile *lf, int offset)
{
	bound_doing("testing a lock");
	int r = lockfile_held(lf, offset);
	bound_idle();
	return r == 1;
}

int group_read(struct lockfile *lf, struct lf_view *v)
{
	bound_doing("reading the file under the record lock");
	int r = lockfile_read(lf, v);
	bound_idle();
	return r;
}

const char *group_show(const char *s, char buf[static GROUP_SHOWN])
{
	return text_escape(s, buf, GROUP_SHOWN, TEXT_WORD);
}

void group_json_string(FILE *f, const char *s)
{
	fputc('"', f);
	/* Valid names and addresses are ASCII. Any other byte came from
	 * someone else's write: raw, it may be no UTF-8 (and the output no
	 * JSON), and 0x80-0x9f are controls to a Latin-1 terminal.
	 * \u00XX keeps the byte's value for whoever reads it. */
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20 || *p >= 0x7f)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

int group_look(struct lockfile *lf, struct group_look *g)
{
	struct lf_view *v = &g->view;
	memset(g, 0, sizeof(*g));
	int r = group_read(lf, v);
	if (r == -ENODATA) {
		/* An empty file: a group no node has joined yet. */
		memset(v, 0, sizeof(*v));
		v->status = LF_NEW;
		v->major = LF_VERSION_MAJOR;
		v->minor = LF_VERSION_MINOR;
		return 0;
	}
	if (r < 0)
		return r;
	g->has_live = v->live_rec == LF_REC_OK && (v->status == LF_LIVE || v->status == LF_FAILBACK);
	g->live_held = group_held(lf, LF_OFF_LIVE_LOCK);
	for (int i = 0; i < LF_SLOTS; i++)
		g->alive[i] = v->slot_rec[i] == LF_REC_OK && group_held(lf, lockfile_slot_lock_offset(i));
	return 0;
}

int group_watch_heartbeat(struct lockfile *lf, const struct lf_view *v, struct group_beat *b)
{
	int64_t interval = v->live.heartbeat_ms ? v->live.heartbeat_ms : 1000;
	int64_t start = clock_ms(), until = start + timeline_watch_ms(interval);
	/* On the heap: callers may be on threads with small stacks. */
	struct lf_view *now = malloc(sizeof(*now));
	int r = 0;
	if (!now)
		return -ENOMEM;
	while (clock_ms() < until) {
		struct timespec ts = { 0, 50 * 1000000L };
		nanosleep(&ts, NULL);
		if ((r = group_read(lf, now)) < 0)
			goto out;
		if (now->live_rec == LF_REC_OK &&
		    (now->live.heartbeat != v->live.heartbeat || now->live.epoch != v->live.epoch)) {
			b->advancing = true;
			b->seen_ms = (long)(clock_ms() - start);
			goto out;
		}
	}
out:
	free(now);
	return r;
}

const char *group_request_kind(uint8_t kind) { return kind == LF_REQ_FAILBACK ? "failback" : "switchover"; }

void group_print_json(FILE *f, const struct group_look *g, bool advancing)
{
	const struct lf_view *v = &g->view;
	fprintf(f, "{\"state\":\"%s\",\"version\":\"%u.%u\",\"live\":", lockfile_status_name(v->status), v->major,
		v->minor);
	if (g->has_live) {
		fprintf(f, "{\"name\":");
		group_json_string(f, v->live.name);
		fprintf(f, ",\"address\":");
		group_json_string(f, v->live.address);
		fprintf(f, ",\"alive\":%s,\"pid\":%u,\"epoch\":%llu,\"heartbeat\":%llu,\"heartbeat_advancing\":%s}",
			g->live_held ? "true" : "false", v->live.pid, (unsigned long long)v->live.epoch,
			(unsigned long long)v->live.heartbeat, g->live_held && advancing ? "true" : "false");
	} else {
		fprintf(f, "null");
	}
	fprintf(f, ",\"request\":");
	if (v->status == LF_FAILBACK && v->request_rec == LF_REC_OK) {
		fprintf(f, "{\"kind\":\"%s\",\"target\":", group_request_kind(v->request.kind));
		if (v->request.target_slot == LF_TARGET_ANY)
			fprintf(f, "null");
		else
			group_json_string(f, v->request.target_name);
		fprintf(f, ",\"requester\":");
		group_json_string(f, v->request.requester);
		fprintf(f, "}");
	} else {
		fprintf(f, "null");
	}
	fprintf(f, ",\"nodes\":[");
	bool first = true;
	for (int i = 0; i < LF_SLOTS; i++) {
		if (v->slot_rec[i] != LF_REC_OK)
			continue;
		const struct lf_slot *s = &v->slots[i];
		fprintf(f, "%s{\"name\":", first ? "" : ",");
		group_json_string(f, s->name);
		fprintf(f, ",\"role\":\"%s\",\"state\":\"%s\",\"alive\":%s,\"pid\":%u}", lockfile_role_name(s->role),
			g->alive[i] ? lockfile_slot_describe(s) : "gone", g->alive[i] ? "true" : "false", s->pid);
		first = false;
	}
	fprintf(f, "]}\n");
}

int group_read_history(struct lockfile *lf, struct lf_history *h)
{
	bound_doing("reading the history under the record lock");
	int r = lockfile_read_history(lf, h);
	bound_idle();
	if (r == -ENODATA) {
		struct stat st;
		/* An empty file is a new group with nothing to tell; one cut
		 * short is damage, for the caller to report. */
		bound_doing("looking at the file's length");
		bool empty = fstat(lf->fd, &st) == 0 && st.st_size == 0;
		bound_idle();
		if (empty) {
			memset(h, 0, sizeof(*h));
			return 0;
		}
	}
	return r;
}

/* An entry's wall-clock time in this host's zone, RFC 3339 with
 * milliseconds: "2026-11-30T03:00:02.123+01:00". The writer's clock, not
 * ours: hosts may disagree. */
static const char *event_time(int64_t us, char *buf, size_t n)
{
	int64_t secs = us / 1000000, rest = us % 1000000;
	if (rest < 0)
		secs--, rest += 1000000;
	time_t t = (time_t)secs;
	struct tm tm;
	if (!localtime_r(&t, &tm)) {
		snprintf(buf, n, "@%lld", (long long)us);
		return buf;
	}
	char day[40];
	strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
	long off = tm.tm_gmtoff / 60;
	snprintf(buf, n, "%s.%03lld%c%02ld:%02ld", day, (long long)(rest / 1000), off < 0 ? '-' : '+', labs(off) / 60,
		 labs(off) % 60);
	return buf;
}

void group_print_history_text(FILE *f, const struct lf_history *h)
{
	char when[80], x[GROUP_SHOWN], y[GROUP_SHOWN], z[GROUP_SHOWN];
	for (int i = 0; i < h->n; i++) {
		const struct lf_event *e = &h->ev[i];
		const char *by = e->writer == LF_EV_BY_TO ? e->to : e->from;
		fprintf(f, "%s %s seq=%llu epoch=%llu from=%s to=%s by=%s pid=%u\n",
			event_time(e->time_us, when, sizeof(when)), lockfile_event_name(e->reason),
			(unsigned long long)e->seq, (unsigned long long)e->epoch,
			*e->from ? group_show(e->from, x) : "-", *e->to ? group_show(e->to, y) : "-",
			*by ? group_show(by, z) : "-", e->pid);
	}
	if (!h->n)
		fprintf(f, "no history: no move of the live role recorded (nodes before format 1.3 record none)\n");
	if (h->bad)
		fprintf(f, "(%d damaged %s skipped)\n", h->bad, h->bad == 1 ? "entry" : "entries");
}

static void json_name_or_null(FILE *f, const char *s)
{
	if (*s)
		group_json_string(f, s);
	else
		fputs("null", f);
}

static void json_slot_or_null(FILE *f, int32_t slot)
{
	if (slot >= 0)
		fprintf(f, "%d", slot);
	else
		fputs("null", f);
}

void group_print_history_json(FILE *f, const struct lf_history *h)
{
	static const uint8_t unknown[LF_ID_SIZE];
	char when[80];
	fputc('[', f);
	for (int i = 0; i < h->n; i++) {
		const struct lf_event *e = &h->ev[i];
		fprintf(f,
			"%s{\"seq\":%llu,\"time\":\"%s\",\"time_us\":%lld,\"reason\":\"%s\",\"epoch\":%llu,\"from\":",
			i ? "," : "", (unsigned long long)e->seq, event_time(e->time_us, when, sizeof(when)),
			(long long)e->time_us, lockfile_event_name(e->reason), (unsigned long long)e->epoch);
		json_name_or_null(f, e->from);
		fputs(",\"from_slot\":", f);
		json_slot_or_null(f, e->from_slot);
		fputs(",\"to\":", f);
		json_name_or_null(f, e->to);
		fputs(",\"to_slot\":", f);
		json_slot_or_null(f, e->to_slot);
		fprintf(f, ",\"by\":\"%s\",\"pid\":%u,\"host\":", e->writer == LF_EV_BY_TO ? "to" : "from", e->pid);
		if (memcmp(e->host, unknown, LF_ID_SIZE) == 0) {
			fputs("null", f);
		} else {
			fputc('"', f);
			for (int k = 0; k < LF_ID_SIZE; k++)
				fprintf(f, "%02x", e->host[k]);
			fputc('"', f);
		}
		fputc('}', f);
	}
	fputs("]\n", f);
}
