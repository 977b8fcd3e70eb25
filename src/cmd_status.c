/* understudy status: a group as its lock file shows it, from any host. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include "understudy/bound.h"
#include "understudy/clock.h"
#include "understudy/cmd.h"
#include "understudy/config.h"
#include "understudy/group.h"
#include "understudy/options.h"
#include "understudy/timeline.h"

static const char status_usage[] =
	"usage: understudy status --lock PATH|--config FILE [--lock-owner USER[:GROUP]] [--json]\n"
	"                         [--watch [--interval DUR] | --history] [--timeout DUR]\n"
	"\n"
	"Print the group's state, its live node and the nodes registered in it,\n"
	"reading the lock file without taking part in the group.\n"
	"\n"
	"  --lock PATH     the group's lock file\n"
	"  --config FILE   a node's configuration file, naming the lock file\n"
	"  --lock-owner USER[:GROUP]  who may own the lock file besides root and you, and\n"
	"                  the group that may share it (default: the file's lock-owner,\n"
	"                  else you and your group); a file others could write or\n"
	"                  read is refused (exit 77)\n"
	"  --json          one JSON object instead of text\n"
	"  --watch         then print one line (with --json, one object) per change,\n"
	"                  until interrupted\n"
	"  --interval DUR  how often --watch reads the file (default 1s)\n"
	"  --history       instead, the group's last moves of the live role (kept in\n"
	"                  the file since format 1.3), oldest first: when (each\n"
	"                  writer's clock, in local time), why, from which node to\n"
	"                  which; with --json, one array\n"
	"  --timeout DUR   how long any one call on the storage may take (default\n"
	"                  10s); past it, say which and exit 74\n";

static void print_text(const char *path, const struct group_look *g, const struct group_beat *b)
{
	const struct lf_view *v = &g->view;
	bool live_held = g->live_held;
	const bool *alive = g->alive;
	char x[GROUP_SHOWN], y[GROUP_SHOWN];
	printf("group %s: %s\n", path, lockfile_status_name(v->status));
	if (g->has_live) {
		printf("live: %s%s%s, pid %u, epoch %llu, heartbeat %llu", group_show(v->live.name, x),
		       *v->live.address ? " at " : "", group_show(v->live.address, y), v->live.pid,
		       (unsigned long long)v->live.epoch, (unsigned long long)v->live.heartbeat);
		if (!live_held)
			printf(" (gone: nobody holds the live lock)\n");
		else if (b->advancing)
			printf(" (advancing: seen after %ld ms)\n", b->seen_ms);
		else
			printf(" (not advancing: stale)\n");
	} else {
		printf("live: none\n");
	}
	if (v->status == LF_FAILBACK && v->request_rec == LF_REC_OK) {
		const struct lf_request *r = &v->request;
		printf("request: %s to %s, asked by %s\n", group_request_kind(r->kind),
		       r->target_slot == LF_TARGET_ANY ? "any waiting backup" : group_show(r->target_name, x),
		       group_show(r->requester, y));
	}
	printf("nodes:\n");
	int shown = 0;
	for (int i = 0; i < LF_SLOTS; i++) {
		if (v->slot_rec[i] != LF_REC_OK)
			continue;
		const struct lf_slot *s = &v->slots[i];
		printf("  %-20s %-8s %-9s %s\n", group_show(s->name, x), lockfile_role_name(s->role),
		       alive[i] ? lockfile_slot_describe(s) : "-", alive[i] ? "alive" : "gone");
		shown++;
	}
	if (!shown)
		printf("  (none)\n");
}

/* --- --watch ----------------------------------------------------------------- */

/* What one look at the group saw: one read of the file, and one lock test
 * for the live lock and for each registered node. */
struct look {
	char status;
	bool has_live, live_held;
	struct lf_live live;
	bool has_request;
	struct lf_request request;
	bool alive[LF_SLOTS];
	struct lf_slot slots[LF_SLOTS];
};

static void look_at(struct lockfile *lf, const struct lf_view *v, struct look *k)
{
	memset(k, 0, sizeof(*k));
	k->status = v->status;
	k->has_live = v->live_rec == LF_REC_OK && (v->status == LF_LIVE || v->status == LF_FAILBACK);
	k->live = v->live;
	k->live_held = group_held(lf, LF_OFF_LIVE_LOCK);
	k->has_request = v->status == LF_FAILBACK && v->request_rec == LF_REC_OK;
	k->request = v->request;
	for (int i = 0; i < LF_SLOTS; i++) {
		k->alive[i] = v->slot_rec[i] == LF_REC_OK && group_held(lf, lockfile_slot_lock_offset(i));
		k->slots[i] = v->slots[i];
	}
}

/* One event: a line "TIME EVENT key=value ..." or a JSON object. */
struct line {
	bool json;
	int n;
};

static void ev_begin(struct line *l, const char *event)
{
	struct timespec ts;
	struct tm tm;
	char when[64];
	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	if (l->json)
		printf("{\"time\":\"%s.%03ld\",\"event\":\"%s\"", when, ts.tv_nsec / 1000000, event);
	else
		printf("%s.%03ld %s", when, ts.tv_nsec / 1000000, event);
	l->n++;
}

static void ev_str(struct line *l, const char *key, const char *val)
{
	if (l->json) {
		printf(",\"%s\":", key);
		group_json_string(stdout, val);
	} else {
		char shown[GROUP_SHOWN];
		printf(" %s=%s", key, *val ? group_show(val, shown) : "-");
	}
}

static void ev_num(struct line *l, const char *key, unsigned long long val)
{
	printf(l->json ? ",\"%s\":%llu" : " %s=%llu", key, val);
}

static void ev_end(struct line *l) { fputs(l->json ? "}\n" : "\n", stdout); }

static void changes(const struct look *a, const struct look *b, struct line *l)
{
	if (a->status != b->status) {
		ev_begin(l, "state");
		ev_str(l, "state", lockfile_status_name(b->status));
		ev_end(l);
	}
	if (b->has_live &&
	    (!a->has_live || a->live.epoch != b->live.epoch || strcmp(a->live.name, b->live.name) != 0)) {
		ev_begin(l, "live");
		ev_str(l, "node", b->live.name);
		ev_str(l, "address", b->live.address);
		ev_num(l, "epoch", b->live.epoch);
		ev_end(l);
	}
	if (b->has_request &&
	    (!a->has_request || a->request.seq != b->request.seq || a->request.kind != b->request.kind)) {
		ev_begin(l, "request");
		ev_str(l, "kind", group_request_kind(b->request.kind));
		ev_str(l, "target", b->request.target_slot == LF_TARGET_ANY ? "any" : b->request.target_name);
		ev_str(l, "requester", b->request.requester);
		ev_end(l);
	}
	for (int i = 0; i < LF_SLOTS; i++) {
		const struct lf_slot *x = &a->slots[i], *y = &b->slots[i];
		bool same = a->alive[i] && b->alive[i] && !memcmp(x->id, y->id, LF_ID_SIZE);
		if (a->alive[i] && !same) {
			ev_begin(l, "leave");
			ev_str(l, "node", x->name);
			ev_end(l);
		}
		if (b->alive[i] && !same) {
			ev_begin(l, "join");
			ev_str(l, "node", y->name);
			ev_str(l, "role", lockfile_role_name(y->role));
			ev_str(l, "state", lockfile_slot_describe(y));
			ev_end(l);
		} else if (same && (x->state != y->state || x->flags != y->flags)) {
			ev_begin(l, "node");
			ev_str(l, "node", y->name);
			ev_str(l, "state", lockfile_slot_describe(y));
			ev_end(l);
		}
	}
}

/* Print a line per change until a signal ends the process. A heartbeat
 * is stale when it has not moved for two of its intervals and a look:
 * hosts' clocks disagree, so only this host's clock measures it. */
static int watch(struct lockfile *lf, const struct lf_view *first, bool json, int64_t interval_ms)
{
	static struct lf_view v;
	struct look prev, now;
	struct line l = { .json = json };
	look_at(lf, first, &prev);
	uint64_t beat = first->live.heartbeat, epoch = first->live.epoch;
	int64_t moved = clock_ms();
	bool stale = false, failing = false;
	fflush(stdout);
	for (;;) {
		struct timespec ts = { interval_ms / 1000, (interval_ms % 1000) * 1000000L };
		nanosleep(&ts, NULL);
		int r = group_read(lf, &v);
		if (r == -ENODATA)
			continue; /* still a new group */
		if (r == -EBADMSG) {
			fprintf(stderr, "understudy status: %s: header changed under us: not ours\n", lf->path);
			return EX_DATAERR;
		}
		if (r < 0) {
			/* The storage may come back: say so once, and go on. */
			if (!failing)
				fprintf(stderr, "understudy status: %s: %s: still watching\n", lf->path, strerror(-r));
			failing = true;
			continue;
		}
		if (failing)
			fprintf(stderr, "understudy status: %s: readable again\n", lf->path);
		failing = false;
		look_at(lf, &v, &now);
		changes(&prev, &now, &l);
		int64_t t = clock_ms();
		if (!now.has_live || now.live.heartbeat != beat || now.live.epoch != epoch) {
			beat = now.live.heartbeat, epoch = now.live.epoch;
			moved = t;
			if (stale && now.has_live) {
				ev_begin(&l, "heartbeat");
				ev_str(&l, "node", now.live.name);
				ev_str(&l, "heartbeat", "advancing");
				ev_end(&l);
			}
			stale = false;
		} else if (!stale && now.live.heartbeat_ms &&
			   t - moved > timeline_still_seen_ms(now.live.heartbeat_ms) + interval_ms) {
			stale = true;
			ev_begin(&l, "heartbeat");
			ev_str(&l, "node", now.live.name);
			ev_str(&l, "heartbeat", "stale");
			ev_num(&l, "still_ms", (unsigned long long)(t - moved));
			ev_end(&l);
		}
		prev = now;
		if (fflush(stdout) != 0)
			return EX_IOERR; /* the reader went away */
	}
}

/* --history: the entries as the file has them now, and nothing else. */
static int show_history(struct lockfile *lf, bool json)
{
	static struct lf_history h;
	int r = group_read_history(lf, &h);
	if (r < 0) {
		fprintf(stderr, "understudy status: %s: %s\n", lf->path,
			r == -EBADMSG   ? "header changed under us: not ours"
			: r == -ENODATA ? "shorter than the format now: damaged since it was opened"
					: strerror(-r));
		lockfile_close(lf);
		return r == -EBADMSG || r == -ENODATA ? EX_DATAERR : EX_IOERR;
	}
	lockfile_close(lf);
	if (json)
		group_print_history_json(stdout, &h);
	else
		group_print_history_text(stdout, &h);
	return fflush(stdout) == 0 ? 0 : EX_IOERR;
}

int cmd_status(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "lock", required_argument, NULL, 'l' },
		{ "config", required_argument, NULL, 'c' },
		{ "lock-owner", required_argument, NULL, 'o' },
		{ "json", no_argument, NULL, 'j' },
		{ "watch", no_argument, NULL, 'w' },
		{ "history", no_argument, NULL, 'H' },
		{ "interval", required_argument, NULL, 'i' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *path = NULL, *conf = NULL;
	char *from_conf = NULL;
	bool json = false, watching = false, history = false;
	int64_t interval_ms = 1000, timeout_ms = 10000;
	struct trust_who who;
	bool owner_given = false;
	char why[1024];
	int opt;
	trust_who_default(&who);
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:", opts, NULL)) != -1) {
		switch (opt) {
		case 'l':
			if (options_lock_path(optarg, why, sizeof(why)) < 0) {
				fprintf(stderr, "understudy status: --lock: %s\n", why);
				return EX_CONFIG;
			}
			path = optarg;
			break;
		case 'c': conf = optarg; break;
		case 'o':
			if (trust_owner_parse(optarg, &who, why, sizeof(why)) < 0) {
				fprintf(stderr, "understudy status: --lock-owner: %s\n", why);
				return EX_USAGE;
			}
			owner_given = true;
			break;
		case 'j': json = true; break;
		case 'w': watching = true; break;
		case 'H': history = true; break;
		case 't':
			if (options_duration_why(optarg, &timeout_ms, why, sizeof(why)) < 0) {
				fprintf(stderr, "understudy status: --timeout: %s\n", why);
				return EX_USAGE;
			}
			break;
		case 'i':
			if (options_duration_why(optarg, &interval_ms, why, sizeof(why)) < 0) {
				fprintf(stderr, "understudy status: --interval: %s\n", why);
				return EX_USAGE;
			}
			if (interval_ms < 10) {
				fprintf(stderr,
					"understudy status: --interval: '%s' is out of range: from 10ms to 24h\n",
					optarg);
				return EX_USAGE;
			}
			break;
		case 'h': fputs(status_usage, stdout); return 0;
		case ':': fprintf(stderr, "understudy status: %s needs a value\n", argv[optind - 1]); return EX_USAGE;
		default:
			fprintf(stderr, "understudy status: unknown option '%s'\nTry 'understudy status --help'.\n",
				argv[optind - 1]);
			return EX_USAGE;
		}
	}
	if (history && watching) {
		fprintf(stderr, "understudy status: --history and --watch do not go together\nTry 'understudy status "
				"--help'.\n");
		return EX_USAGE;
	}
	if ((!path && !conf) || optind < argc) {
		fprintf(stderr, "understudy status: %s\nTry 'understudy status --help'.\n",
			optind < argc ? "unexpected argument" : "--lock PATH (or --config FILE) is required");
		return EX_USAGE;
	}
	if (!path) {
		struct trust_who file_who;
		if (config_lock_path(conf, &from_conf, NULL, &file_who, why, sizeof(why)) < 0) {
			fprintf(stderr, "understudy status: %s\n", why);
			return EX_CONFIG;
		}
		path = from_conf;
		if (!owner_given)
			who = file_who;
	}
	/* A file server that stopped answering gets a message and 74, not
	 * a status that hangs. */
	int e = bound_start("status", path, timeout_ms, EX_IOERR, false);
	if (e < 0) {
		fprintf(stderr, "understudy status: %s\n", strerror(-e));
		free(from_conf);
		return EX_OSERR;
	}
	struct lockfile lf;
	int code = group_open(&lf, path, LF_OPEN_READ, &who, "status");
	free(from_conf);
	path = lf.path;
	if (code)
		return code;
	if (history)
		return show_history(&lf, json);
	static struct group_look g;
	struct group_beat b = { 0 };
	int r = group_look(&lf, &g);
	if (r == 0 && g.live_held && g.view.live_rec == LF_REC_OK)
		r = group_watch_heartbeat(&lf, &g.view, &b);
	if (r < 0) {
		fprintf(stderr, "understudy status: %s: %s\n", path,
			r == -EBADMSG ? "header changed under us: not ours" : strerror(-r));
		lockfile_close(&lf);
		return r == -EBADMSG ? EX_DATAERR : EX_IOERR;
	}
	if (json)
		group_print_json(stdout, &g, b.advancing);
	else
		print_text(path, &g, &b);
	if (watching)
		code = watch(&lf, &g.view, json, interval_ms);
	lockfile_close(&lf);
	if (code)
		return code;
	return fflush(stdout) == 0 ? 0 : EX_IOERR;
}
