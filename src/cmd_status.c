/* understudy status: a group as its lock file shows it, from any host. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include "understudy/cmd.h"
#include "understudy/config.h"
#include "understudy/group.h"

static const char status_usage[] = "usage: understudy status --lock PATH|--config FILE [--json]\n"
				   "\n"
				   "Print the group's state, its live node and the nodes registered in it,\n"
				   "reading the lock file without taking part in the group.\n"
				   "\n"
				   "  --lock PATH   the group's lock file\n"
				   "  --config FILE a node's configuration file, naming the lock file\n"
				   "  --json        one JSON object instead of text\n";

/* What the live's heartbeat did while we watched it. */
struct beat {
	bool watched;
	bool advancing;
	long seen_ms; /* how long until we saw it advance */
};

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Hosts' clocks disagree, so a heartbeat is a counter, and its age is
 * what this host sees: watch it for a little more than one interval. */
static int watch_heartbeat(struct lockfile *lf, const struct lf_view *v, struct beat *b)
{
	int64_t interval = v->live.heartbeat_ms ? v->live.heartbeat_ms : 1000;
	int64_t start = mono_ms(), until = start + interval + interval / 2;
	if (interval > 10000)
		until = start + 15000;
	b->watched = true;
	static struct lf_view now;
	while (mono_ms() < until) {
		struct timespec ts = { 0, 50 * 1000000L };
		nanosleep(&ts, NULL);
		int r = lockfile_read(lf, &now);
		if (r < 0)
			return r;
		if (now.live_rec == LF_REC_OK &&
		    (now.live.heartbeat != v->live.heartbeat || now.live.epoch != v->live.epoch)) {
			b->advancing = true;
			b->seen_ms = (long)(mono_ms() - start);
			return 0;
		}
	}
	return 0;
}

static const char *kind_name(uint8_t kind) { return kind == LF_REQ_FAILBACK ? "failback" : "switchover"; }

static void print_text(const char *path, const struct lf_view *v, bool live_held, const struct beat *b,
		       const bool alive[LF_SLOTS])
{
	printf("group %s: %s\n", path, lockfile_status_name(v->status));
	bool has_live = v->live_rec == LF_REC_OK && (v->status == LF_LIVE || v->status == LF_FAILBACK);
	if (has_live) {
		printf("live: %s%s%s, pid %u, epoch %llu, heartbeat %llu", v->live.name, *v->live.address ? " at " : "",
		       v->live.address, v->live.pid, (unsigned long long)v->live.epoch,
		       (unsigned long long)v->live.heartbeat);
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
		printf("request: %s to %s, asked by %s\n", kind_name(r->kind),
		       r->target_slot == LF_TARGET_ANY ? "any waiting backup" : r->target_name, r->requester);
	}
	printf("nodes:\n");
	int shown = 0;
	for (int i = 0; i < LF_SLOTS; i++) {
		if (v->slot_rec[i] != LF_REC_OK)
			continue;
		const struct lf_slot *s = &v->slots[i];
		printf("  %-20s %-8s %-9s %s\n", s->name, lockfile_role_name(s->role),
		       alive[i] ? lockfile_slot_state_name(s->state) : "-", alive[i] ? "alive" : "gone");
		shown++;
	}
	if (!shown)
		printf("  (none)\n");
}

static void print_json(const struct lf_view *v, bool live_held, const struct beat *b, const bool alive[LF_SLOTS])
{
	printf("{\"state\":\"%s\",\"version\":\"%u.%u\",\"live\":", lockfile_status_name(v->status), v->major,
	       v->minor);
	bool has_live = v->live_rec == LF_REC_OK && (v->status == LF_LIVE || v->status == LF_FAILBACK);
	if (has_live) {
		printf("{\"name\":");
		group_json_string(stdout, v->live.name);
		printf(",\"address\":");
		group_json_string(stdout, v->live.address);
		printf(",\"alive\":%s,\"pid\":%u,\"epoch\":%llu,\"heartbeat\":%llu,\"heartbeat_advancing\":%s}",
		       live_held ? "true" : "false", v->live.pid, (unsigned long long)v->live.epoch,
		       (unsigned long long)v->live.heartbeat, live_held && b->advancing ? "true" : "false");
	} else {
		printf("null");
	}
	printf(",\"request\":");
	if (v->status == LF_FAILBACK && v->request_rec == LF_REC_OK) {
		printf("{\"kind\":\"%s\",\"target\":", kind_name(v->request.kind));
		if (v->request.target_slot == LF_TARGET_ANY)
			printf("null");
		else
			group_json_string(stdout, v->request.target_name);
		printf(",\"requester\":");
		group_json_string(stdout, v->request.requester);
		printf("}");
	} else {
		printf("null");
	}
	printf(",\"nodes\":[");
	bool first = true;
	for (int i = 0; i < LF_SLOTS; i++) {
		if (v->slot_rec[i] != LF_REC_OK)
			continue;
		const struct lf_slot *s = &v->slots[i];
		printf("%s{\"name\":", first ? "" : ",");
		group_json_string(stdout, s->name);
		printf(",\"role\":\"%s\",\"state\":\"%s\",\"alive\":%s,\"pid\":%u}", lockfile_role_name(s->role),
		       alive[i] ? lockfile_slot_state_name(s->state) : "gone", alive[i] ? "true" : "false", s->pid);
		first = false;
	}
	printf("]}\n");
}

int cmd_status(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "lock", required_argument, NULL, 'l' },
		{ "config", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *path = NULL, *conf = NULL;
	char *from_conf = NULL;
	bool json = false;
	int opt;
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:", opts, NULL)) != -1) {
		switch (opt) {
		case 'l': path = optarg; break;
		case 'c': conf = optarg; break;
		case 'j': json = true; break;
		case 'h': fputs(status_usage, stdout); return 0;
		case ':': fprintf(stderr, "understudy status: %s needs a value\n", argv[optind - 1]); return EX_USAGE;
		default:
			fprintf(stderr, "understudy status: unknown option '%s'\nTry 'understudy status --help'.\n",
				argv[optind - 1]);
			return EX_USAGE;
		}
	}
	if ((!path && !conf) || optind < argc) {
		fprintf(stderr, "understudy status: %s\nTry 'understudy status --help'.\n",
			optind < argc ? "unexpected argument" : "--lock PATH (or --config FILE) is required");
		return EX_USAGE;
	}
	if (!path) {
		char why[512];
		if (config_lock_path(conf, &from_conf, why, sizeof(why)) < 0) {
			fprintf(stderr, "understudy status: %s\n", why);
			return EX_CONFIG;
		}
		path = from_conf;
	}
	struct lockfile lf;
	int code = group_open(&lf, path, LF_OPEN_READ, "status");
	free(from_conf);
	path = lf.path;
	if (code)
		return code;
	static struct lf_view v;
	int r = lockfile_read(&lf, &v);
	if (r == -ENODATA) {
		/* An empty file: a group no node has joined yet. */
		memset(&v, 0, sizeof(v));
		v.status = LF_NEW;
		v.major = LF_VERSION_MAJOR;
		v.minor = LF_VERSION_MINOR;
		r = 0;
	}
	struct beat b = { 0 };
	bool alive[LF_SLOTS] = { 0 };
	bool live_held = false;
	if (r == 0) {
		live_held = group_held(&lf, LF_OFF_LIVE_LOCK);
		for (int i = 0; i < LF_SLOTS; i++)
			alive[i] = v.slot_rec[i] == LF_REC_OK && group_held(&lf, lockfile_slot_lock_offset(i));
		if (live_held && v.live_rec == LF_REC_OK)
			r = watch_heartbeat(&lf, &v, &b);
	}
	if (r < 0) {
		fprintf(stderr, "understudy status: %s: %s\n", path,
			r == -EBADMSG ? "header changed under us: not ours" : strerror(-r));
		lockfile_close(&lf);
		return r == -EBADMSG ? EX_DATAERR : EX_IOERR;
	}
	if (json)
		print_json(&v, live_held, &b, alive);
	else
		print_text(path, &v, live_held, &b, alive);
	lockfile_close(&lf);
	return fflush(stdout) == 0 ? 0 : EX_IOERR;
}
