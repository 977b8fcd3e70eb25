/* understudy failback and switchover: ask the live node to hand over.
 *
 * Both place a request in the lock file (the request record, then F) and
 * leave the rest to the nodes; neither ever stops a workload itself. They
 * refuse up front when no node could take over, and the live refuses
 * again (by writing L back) if that changed before it saw the request. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "understudy/bound.h"
#include "understudy/cmd.h"
#include "understudy/config.h"
#include "understudy/group.h"
#include "understudy/options.h"

struct request_args {
	const char *cmd;
	const char *path;
	const char *conf; /* the node's file, naming the lock when --lock does not */
	char *conf_lock;
	struct trust_who who; /* who may own and share the lock file */
	const char *to;       /* switchover: a named target */
	bool wait;
	int64_t timeout_ms; /* --wait's bound */
	int64_t storage_ms; /* each storage call's bound (bound.h) */
};

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int parse(int argc, char **argv, struct request_args *a, const char *usage)
{
	static const struct option opts[] = {
		{ "lock", required_argument, NULL, 'l' },
		{ "config", required_argument, NULL, 'c' },
		{ "lock-owner", required_argument, NULL, 'o' },
		{ "to", required_argument, NULL, 't' },
		{ "wait", no_argument, NULL, 'w' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	bool is_switch = strcmp(a->cmd, "switchover") == 0, owner_given = false;
	char why[1024];
	int opt;
	trust_who_default(&a->who);
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:", opts, NULL)) != -1) {
		switch (opt) {
		case 'l':
			if (options_lock_path(optarg, why, sizeof(why)) < 0) {
				fprintf(stderr, "understudy %s: --lock: %s\n", a->cmd, why);
				return EX_CONFIG;
			}
			a->path = optarg;
			break;
		case 'c': a->conf = optarg; break;
		case 'o':
			if (trust_owner_parse(optarg, &a->who, why, sizeof(why)) < 0) {
				fprintf(stderr, "understudy %s: --lock-owner: %s\n", a->cmd, why);
				return EX_USAGE;
			}
			owner_given = true;
			break;
		case 't':
			if (!is_switch)
				goto unknown;
			if (options_name_check(optarg, why, sizeof(why)) < 0) {
				fprintf(stderr, "understudy %s: --to: %s\n", a->cmd, why);
				return EX_USAGE;
			}
			a->to = optarg;
			break;
		case 'w': a->wait = true; break;
		case 'T':
			if (options_duration_why(optarg, &a->timeout_ms, why, sizeof(why)) < 0) {
				fprintf(stderr, "understudy %s: --timeout: %s\n", a->cmd, why);
				return EX_USAGE;
			}
			/* Given, it bounds each storage call too; else 10 s does. */
			a->storage_ms = a->timeout_ms;
			break;
		case 'h': fputs(usage, stdout); return -1;
		case ':':
			fprintf(stderr, "understudy %s: %s needs a value\n", a->cmd, argv[optind - 1]);
			return EX_USAGE;
		default:
		unknown:
			fprintf(stderr, "understudy %s: unknown option '%s'\nTry 'understudy %s --help'.\n", a->cmd,
				argv[optind - 1], a->cmd);
			return EX_USAGE;
		}
	}
	if ((!a->path && !a->conf) || optind < argc) {
		fprintf(stderr, "understudy %s: %s\nTry 'understudy %s --help'.\n", a->cmd,
			optind < argc ? "unexpected argument" : "--lock PATH (or --config FILE) is required", a->cmd);
		return EX_USAGE;
	}
	if (!a->path) {
		struct trust_who file_who;
		if (config_lock_path(a->conf, &a->conf_lock, NULL, &file_who, why, sizeof(why)) < 0) {
			fprintf(stderr, "understudy %s: %s\n", a->cmd, why);
			return EX_CONFIG;
		}
		a->path = a->conf_lock;
		if (!owner_given)
			a->who = file_who;
	}
	return 0;
}

static bool waiting(uint8_t state) { return state == LF_SLOT_QUEUED || state == LF_SLOT_WAITING; }

/* Choose the node to hand over to: the primary for failback, the named
 * node or any waiting backup for switchover. Returns a slot index,
 * LF_TARGET_ANY, or -2 (printed why) when nobody can take over. */
static int choose_target(struct lockfile *lf, const struct lf_view *v, const struct request_args *a)
{
	bool failback = strcmp(a->cmd, "failback") == 0;
	for (int i = 0; i < LF_SLOTS; i++) {
		const struct lf_slot *s = &v->slots[i];
		if (v->slot_rec[i] != LF_REC_OK || !group_held(lf, lockfile_slot_lock_offset(i)))
			continue;
		bool match = failback ? s->role == LF_ROLE_PRIMARY : a->to && strcmp(s->name, a->to) == 0;
		if (match && s->state == LF_SLOT_LIVE) {
			char x[GROUP_SHOWN];
			fprintf(stderr, "understudy %s: %s is already the live node\n", a->cmd, group_show(s->name, x));
			return -3;
		}
		if (match && waiting(s->state))
			return i;
	}
	if (!failback && !a->to) {
		if (group_held(lf, LF_OFF_BACKUP_LOCK))
			return LF_TARGET_ANY;
		fprintf(stderr, "understudy %s: %s: no backup is waiting to take over; the live node keeps running\n",
			a->cmd, a->path);
		return -2;
	}
	fprintf(stderr, "understudy %s: %s: %s is not waiting in the group; the live node keeps running\n", a->cmd,
		a->path, failback ? "no primary" : a->to);
	return -2;
}

/* With --wait: until the target runs the workload, the live refuses, or
 * time is up. */
static int wait_done(struct lockfile *lf, const struct lf_view *before, const struct lf_request *req,
		     const struct request_args *a)
{
	static struct lf_view v;
	int64_t start = mono_ms(), until = start + a->timeout_ms;
	while (mono_ms() < until) {
		struct timespec ts = { 0, 50 * 1000000L };
		nanosleep(&ts, NULL);
		int r = group_read(lf, &v);
		if (r < 0) {
			fprintf(stderr, "understudy %s: %s: %s\n", a->cmd, a->path, strerror(-r));
			return EX_IOERR;
		}
		int target = req->target_slot;
		/* A later request for the same node (a claiming primary asking
		 * again) is the same wish; one for another node replaces ours. */
		if (v.status == LF_FAILBACK && v.request_rec == LF_REC_OK && v.request.seq != req->seq &&
		    v.request.target_slot != req->target_slot) {
			char x[GROUP_SHOWN];
			fprintf(stderr, "understudy %s: %s: superseded by a later request from %s\n", a->cmd, a->path,
				group_show(v.request.requester, x));
			return EX_UNAVAILABLE;
		}
		bool new_live = v.live_rec == LF_REC_OK && v.live.epoch > before->live.epoch;
		if (new_live && v.status == LF_LIVE) {
			int s = v.live.slot;
			bool is_target = target == LF_TARGET_ANY ? s != before->live.slot : s == target;
			/* Live means ready: a workload still starting does not
			 * serve yet. */
			if (s >= 0 && is_target && v.slot_rec[s] == LF_REC_OK && v.slots[s].state == LF_SLOT_LIVE &&
			    !(v.slots[s].flags & LF_SLOT_F_STARTING)) {
				/* The hand-over's whole cost, the new workload's
				 * start included. */
				char x[GROUP_SHOWN];
				printf("%s is live and ready, %lld ms after the request\n", group_show(v.live.name, x),
				       (long long)(mono_ms() - start));
				return 0;
			}
		}
		if (!new_live && v.status == LF_LIVE) {
			fprintf(stderr,
				"understudy %s: %s: the live node refused the hand-over (the target stopped waiting)\n",
				a->cmd, a->path);
			return EX_UNAVAILABLE;
		}
	}
	fprintf(stderr, "understudy %s: %s: no new live node after %lld ms\n", a->cmd, a->path,
		(long long)a->timeout_ms);
	return EX_TEMPFAIL;
}

static int request(int argc, char **argv, struct request_args *a, const char *usage)
{
	int code = parse(argc, argv, a, usage);
	if (code)
		return code < 0 ? 0 : code;
	/* A file server that stopped answering gets a message and 74, not
	 * a command that hangs. */
	int r = bound_start(a->cmd, a->path, a->storage_ms, EX_IOERR, false);
	if (r < 0) {
		fprintf(stderr, "understudy %s: %s\n", a->cmd, strerror(-r));
		return EX_OSERR;
	}
	struct lockfile lf;
	if ((code = group_open(&lf, a->path, LF_OPEN_WRITE, &a->who, a->cmd)))
		return code;
	static struct lf_view v;
	r = group_read(&lf, &v);
	if (r < 0) {
		fprintf(stderr, "understudy %s: %s: %s\n", a->cmd, a->path,
			r == -ENODATA ? "no node has joined this group yet" : strerror(-r));
		code = r == -ENODATA ? EX_UNAVAILABLE : EX_IOERR;
		goto out;
	}
	/* Only into a live group: F in a paused or new one would let a
	 * backup start it. A node that stands by holds the live lock for a
	 * moment, so the lock alone does not say the group is live. */
	if (!group_held(&lf, LF_OFF_LIVE_LOCK) || v.live_rec != LF_REC_OK ||
	    (v.status != LF_LIVE && v.status != LF_FAILBACK)) {
		fprintf(stderr, "understudy %s: %s: no node is live, so there is nothing to hand over\n", a->cmd,
			a->path);
		code = EX_UNAVAILABLE;
		goto out;
	}
	int target = choose_target(&lf, &v, a);
	if (target == -3) {
		code = 0;
		goto out;
	}
	if (target == -2) {
		code = EX_UNAVAILABLE;
		goto out;
	}
	struct lf_request req = {
		.kind = strcmp(a->cmd, "failback") == 0 ? LF_REQ_FAILBACK : LF_REQ_SWITCHOVER,
		.target_slot = target,
		.requester_pid = (uint32_t)getpid(),
	};
	if (target >= 0) {
		memcpy(req.target_id, v.slots[target].id, LF_ID_SIZE);
		snprintf(req.target_name, sizeof(req.target_name), "%s", v.slots[target].name);
	}
	char host[64] = "";
	gethostname(host, sizeof(host) - 1);
	snprintf(req.requester, sizeof(req.requester), "%s@%.40s", a->cmd, host);
	bound_doing("writing the request");
	r = lockfile_write_request(&lf, &req);
	bound_idle();
	if (r == -EAGAIN) {
		/* Paused (or gone) since our read: nothing was written. */
		fprintf(stderr, "understudy %s: %s: the group stopped being live meanwhile: nothing requested\n",
			a->cmd, a->path);
		code = EX_UNAVAILABLE;
		goto out;
	}
	if (r < 0) {
		fprintf(stderr, "understudy %s: %s: writing the request: %s\n", a->cmd, a->path, strerror(-r));
		code = EX_IOERR;
		goto out;
	}
	char x[GROUP_SHOWN], y[GROUP_SHOWN];
	printf("%s requested: %s hands over to %s\n", a->cmd, group_show(v.live.name, x),
	       target >= 0 ? group_show(req.target_name, y) : "the waiting backup");
	if (a->wait)
		code = wait_done(&lf, &v, &req, a);
out:
	lockfile_close(&lf);
	return code;
}

int cmd_failback(int argc, char **argv)
{
	static const char usage[] = "usage: understudy failback --lock PATH|--config FILE [--lock-owner USER[:GROUP]]\n"
				    "                           [--wait] [--timeout DUR]\n"
				    "\n"
				    "Ask the live backup to hand the workload back to the primary, which must be\n"
				    "running and waiting in the group. Returns once the request is placed, or\n"
				    "with --wait once the primary runs the workload (default timeout 30s).\n"
				    "--timeout also bounds each call on the storage (default 10s): past it,\n"
				    "the command says which and exits 74.\n"
				    "--lock-owner: who may own the lock file besides root and you, and the group\n"
				    "that may share it (as for status).\n";
	struct request_args a = { .cmd = "failback", .timeout_ms = 30000, .storage_ms = 10000 };
	int code = request(argc, argv, &a, usage);
	free(a.conf_lock);
	return code;
}

int cmd_switchover(int argc, char **argv)
{
	static const char usage[] =
		"usage: understudy switchover --lock PATH|--config FILE [--lock-owner USER[:GROUP]]\n"
		"                             [--to NAME] [--wait] [--timeout DUR]\n"
		"\n"
		"Ask the live node to hand the workload to a waiting backup (to NAME, if\n"
		"given) and to stay in the group as a backup. Refused when no such node is\n"
		"waiting: the live node keeps running. Returns once the request is placed, or\n"
		"with --wait once the new live node runs the workload (default timeout 30s).\n"
		"--timeout also bounds each call on the storage (default 10s): past it,\n"
		"the command says which and exits 74.\n"
		"--lock-owner: who may own the lock file besides root and you, and the group\n"
		"that may share it (as for status).\n";
	struct request_args a = { .cmd = "switchover", .timeout_ms = 30000, .storage_ms = 10000 };
	int code = request(argc, argv, &a, usage);
	free(a.conf_lock);
	return code;
}
