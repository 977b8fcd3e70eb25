#include "understudy/group.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include "understudy/bound.h"
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
	if (lf->err == LF_E_SYS) {
		switch (lf->errno_value) {
		case ENOENT: code = EX_NOINPUT; break;
		case EACCES:
		case EPERM: code = EX_NOPERM; break;
		default: code = EX_IOERR; break;
		}
	}
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

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int group_watch_heartbeat(struct lockfile *lf, const struct lf_view *v, struct group_beat *b)
{
	int64_t interval = v->live.heartbeat_ms ? v->live.heartbeat_ms : 1000;
	int64_t start = mono_ms(), until = start + timeline_watch_ms(interval);
	/* On the heap: callers may be on threads with small stacks. */
	struct lf_view *now = malloc(sizeof(*now));
	int r = 0;
	if (!now)
		return -ENOMEM;
	while (mono_ms() < until) {
		struct timespec ts = { 0, 50 * 1000000L };
		nanosleep(&ts, NULL);
		if ((r = group_read(lf, now)) < 0)
			goto out;
		if (now->live_rec == LF_REC_OK &&
		    (now->live.heartbeat != v->live.heartbeat || now->live.epoch != v->live.epoch)) {
			b->advancing = true;
			b->seen_ms = (long)(mono_ms() - start);
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
