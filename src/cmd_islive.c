/* understudy is-live: one question for health checks and scripts. Is
 * NAME the live node with its workload ready? The answer is the exit
 * status, and a storage that does not answer is a third answer, not a
 * hang: health checkers run this every few seconds. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "understudy/bound.h"
#include "understudy/cmd.h"
#include "understudy/config.h"
#include "understudy/group.h"
#include "understudy/host.h"
#include "understudy/options.h"
#include "understudy/trust.h"

enum { IS_LIVE = 0, NOT_LIVE = 1, CANNOT_TELL = 2 };

static const char usage[] =
	"usage: understudy is-live --lock PATH|--config FILE [--name NAME] [--lock-owner USER[:GROUP]]\n"
	"                          [--timeout DUR] [--quiet]\n"
	"\n"
	"Exit 0 when NAME is the group's live node and its workload is ready, 1 when it\n"
	"is not (or the group is paused or new), 2 when that cannot be told: the lock\n"
	"file is missing, unreadable or not ours, users other than its owner and group\n"
	"could write or lock it, or the storage did not answer in time.\n"
	"\n"
	"  --lock PATH     the group's lock file\n"
	"  --config FILE   a node's configuration file: its lock file and node name\n"
	"  --name NAME     the node asked about (default: the file's, else the host name)\n"
	"  --lock-owner USER[:GROUP]  who may own the lock file besides root and you, and\n"
	"                  the group that may share it (default: the file's lock-owner,\n"
	"                  else you and your group)\n"
	"  --timeout DUR   how long to wait for the storage (default 5s)\n"
	"  --quiet         print nothing; the exit status says it all\n";

struct ask {
	const char *path, *name;
	bool this_host; /* the name is this host's own node's (not --name): it must run here */
	struct trust_who who;
	bool quiet;
	int answer;
	char why[1024];
};

/* Every call here may hang on a storage that stopped answering: the
 * command's bound (bound.h) ends it with "cannot tell". */
static void ask_storage(struct ask *a)
{
	static struct lockfile lf;
	static struct lf_view v;
	a->answer = CANNOT_TELL;
	/* An answer read from a file others could write is no answer. */
	bound_doing("looking at who may change the file and its directories");
	int trusted = trust_check(a->path, TRUST_LOCK, &a->who, a->why, sizeof(a->why));
	bound_idle();
	if (trusted == -EPERM) {
		lf.fd = -1;
		lf.path = NULL;
		goto out;
	}
	bound_doing("opening the file");
	int opened = lockfile_open(&lf, a->path, LF_OPEN_READ);
	bound_idle();
	if (opened < 0) {
		lockfile_strerror(&lf, a->why, sizeof(a->why));
		goto out;
	}
	int r = group_read(&lf, &v);
	if (r == -ENODATA) {
		/* Empty or short: a new group, or a live group's file cut short
		 * (truncate -s 0), which its live node mends within a check
		 * interval. The live lock tells them apart; "not live" for the
		 * second would make a check demote the live node. */
		bound_doing("testing the live lock");
		int held = lockfile_held(&lf, LF_OFF_LIVE_LOCK);
		bound_idle();
		a->answer = held == 0 ? NOT_LIVE : CANNOT_TELL;
		snprintf(a->why, sizeof(a->why), "%s",
			 held == 0 ? "the group is new: no node is live"
				   : "the file is empty or cut short while a node holds the live lock: damaged, the "
				     "live node repairs it");
		goto out;
	}
	if (r < 0) {
		snprintf(a->why, sizeof(a->why), "%s: %s", a->path, strerror(-r));
		goto out;
	}
	a->answer = NOT_LIVE;
	bool has_live = v.live_rec == LF_REC_OK && (v.status == LF_LIVE || v.status == LF_FAILBACK);
	if (!has_live) {
		snprintf(a->why, sizeof(a->why), "the group is %s: no node is live", lockfile_status_name(v.status));
		goto out;
	}
	if (strcmp(v.live.name, a->name) != 0) {
		char shown[GROUP_SHOWN];
		snprintf(a->why, sizeof(a->why), "%s is the live node, not %s", group_show(v.live.name, shown),
			 a->name);
		goto out;
	}
	/* The record alone could be a dead node's: the live node holds the
	 * live lock, and its slot says its workload runs. */
	bound_doing("testing the live lock");
	int held = lockfile_held(&lf, LF_OFF_LIVE_LOCK);
	bound_idle();
	if (held < 0) {
		a->answer = CANNOT_TELL;
		snprintf(a->why, sizeof(a->why), "%s: testing the live lock: %s", a->path, strerror(-held));
		goto out;
	}
	if (!held) {
		snprintf(a->why, sizeof(a->why), "%s was live but is gone: nobody holds the live lock", a->name);
		goto out;
	}
	int slot = v.live.slot;
	if (slot < 0 || slot >= LF_SLOTS || v.slot_rec[slot] != LF_REC_OK ||
	    memcmp(v.slots[slot].id, v.live.id, LF_ID_SIZE) != 0 || !group_held(&lf, lockfile_slot_lock_offset(slot))) {
		snprintf(a->why, sizeof(a->why), "%s's node record is missing or gone", a->name);
		goto out;
	}
	if (v.slots[slot].state != LF_SLOT_LIVE || (v.slots[slot].flags & LF_SLOT_F_STARTING)) {
		snprintf(a->why, sizeof(a->why), "%s is %s, its workload not ready", a->name,
			 lockfile_slot_describe(&v.slots[slot]));
		goto out;
	}
	/* Asked about this host's own node (its configuration's name, or
	 * the host name), the live node must run on this host: two hosts
	 * that both think they are node-a (a node refused at join for its
	 * name, say) never both answer "live". Nodes before 1.2 publish no
	 * host (zero), nor does a host that cannot read its own id. */
	uint8_t here[HOST_ID_SIZE];
	if (a->this_host && !host_id_unknown(v.slots[slot].host) && host_id(here) == 0 &&
	    memcmp(here, v.slots[slot].host, HOST_ID_SIZE) != 0) {
		snprintf(a->why, sizeof(a->why),
			 "%s is live on another host (its node's host id is not this host's /etc/machine-id)", a->name);
		goto out;
	}
	a->answer = IS_LIVE;
	snprintf(a->why, sizeof(a->why), "%s is live", a->name);
out:
	lockfile_close(&lf);
}

int cmd_is_live(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "lock", required_argument, NULL, 'l' },    { "config", required_argument, NULL, 'c' },
		{ "name", required_argument, NULL, 'n' },    { "lock-owner", required_argument, NULL, 'o' },
		{ "timeout", required_argument, NULL, 't' }, { "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },          { 0 },
	};
	static struct ask a;
	const char *conf = NULL;
	char *conf_lock = NULL, *conf_name = NULL;
	int64_t timeout_ms = 5000;
	int opt, code;
	bool owner_given = false;
	char why[1024];
	a = (struct ask){ 0 };
	trust_who_default(&a.who);
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:", opts, NULL)) != -1) {
		switch (opt) {
		case 'l':
			if (options_lock_path(optarg, why, sizeof(why)) < 0) {
				fprintf(stderr, "understudy is-live: --lock: %s\n", why);
				return EX_CONFIG;
			}
			a.path = optarg;
			break;
		case 'c': conf = optarg; break;
		case 'n':
			if (options_name_check(optarg, why, sizeof(why)) < 0) {
				fprintf(stderr, "understudy is-live: --name: %s\n", why);
				return EX_USAGE;
			}
			a.name = optarg;
			break;
		case 'o':
			if (trust_owner_parse(optarg, &a.who, why, sizeof(why)) < 0) {
				fprintf(stderr, "understudy is-live: --lock-owner: %s\n", why);
				return EX_USAGE;
			}
			owner_given = true;
			break;
		case 't':
			if (options_duration_why(optarg, &timeout_ms, why, sizeof(why)) < 0) {
				fprintf(stderr, "understudy is-live: --timeout: %s\n", why);
				return EX_USAGE;
			}
			break;
		case 'q': a.quiet = true; break;
		case 'h': fputs(usage, stdout); return 0;
		case ':': fprintf(stderr, "understudy is-live: %s needs a value\n", argv[optind - 1]); return EX_USAGE;
		default:
			fprintf(stderr, "understudy is-live: unknown option '%s'\nTry 'understudy is-live --help'.\n",
				argv[optind - 1]);
			return EX_USAGE;
		}
	}
	if ((!a.path && !conf) || optind < argc) {
		fprintf(stderr, "understudy is-live: %s\nTry 'understudy is-live --help'.\n",
			optind < argc ? "unexpected argument" : "--lock PATH (or --config FILE) is required");
		return EX_USAGE;
	}
	/* No --name: the question is about this host's own node. */
	a.this_host = !a.name;
	if (conf) {
		struct trust_who file_who;
		if (config_lock_path(conf, &conf_lock, &conf_name, &file_who, why, sizeof(why)) < 0) {
			fprintf(stderr, "understudy is-live: %s\n", why);
			return EX_CONFIG;
		}
		if (!owner_given)
			a.who = file_who;
		if (!a.path)
			a.path = conf_lock;
		if (!a.name)
			a.name = conf_name;
	}
	if (!a.name && !(a.name = config_host_name())) {
		fprintf(stderr, "understudy is-live: --name is required: the host name is no node name\n");
		code = EX_USAGE;
		goto out;
	}
	/* A hung storage is an answer too: "cannot tell", never a hung check. */
	int e = bound_start("is-live", a.path, timeout_ms, CANNOT_TELL, a.quiet);
	if (e < 0) {
		fprintf(stderr, "understudy is-live: %s\n", strerror(-e));
		code = EX_OSERR;
		goto out;
	}
	ask_storage(&a);
	code = a.answer;
	if (!a.quiet)
		fprintf(code == IS_LIVE ? stdout : stderr, "%s%s\n",
			code == IS_LIVE ? "" : "understudy is-live: ", a.why);
out:
	free(conf_lock);
	free(conf_name);
	return code;
}
