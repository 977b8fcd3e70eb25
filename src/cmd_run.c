/* understudy run: a node of a group, wrapping the workload. */
#include <errno.h>
#include <time.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "understudy/cmd.h"
#include "understudy/log.h"
#include "understudy/loop.h"
#include "understudy/options.h"

static const char run_usage[] =
	"usage: understudy run --lock PATH --role primary|backup [options] -- COMMAND [ARG...]\n"
	"\n"
	"Run COMMAND on this host only while this node is the live node of the group\n"
	"whose lock file is PATH (on storage every node of the group mounts).\n"
	"\n"
	"  --lock PATH               the group's lock file (created if missing)\n"
	"  --role primary|backup     the primary starts the group; backups wait\n"
	"  --name NAME               this node's name (default: the host name)\n"
	"  --address ADDR            where clients reach this node's workload\n"
	"  --allow-failback          primary: take the workload back from a live backup\n"
	"  --failover-on-shutdown    on SIGTERM leave the group live for a backup\n"
	"                            (default: pause the group)\n"
	"  --restart on-failure|always|never   restart policy (default on-failure)\n"
	"  --max-restarts N          restarts allowed within the window (default 5)\n"
	"  --restart-window DUR      (default 60s)\n"
	"  --stop-timeout DUR        SIGTERM to SIGKILL (default 10s)\n"
	"  --check-interval DUR      how often the live reads the lock file (default 500ms)\n"
	"  --heartbeat-interval DUR  how often the live advances its heartbeat (default 1s)\n"
	"  --poll-interval DUR       longest wait before a waiting node looks again (default 500ms)\n"
	"  --io-timeout DUR          a lock-file call taking longer means hung storage (default 30s)\n"
	"  --fence-timeout DUR       live: no heartbeat round for this long kills the workload\n"
	"                            (default 10s; at least twice --heartbeat-interval)\n"
	"  --on-fence PATH           run PATH (absolute, no shell) when this node fences, with\n"
	"                            UNDERSTUDY_EVENT=fence; killed after --stop-timeout\n"
	"  --after-fence rejoin|exit after the lock file failed this node (fenced, its workload\n"
	"                            killed): join again as a new node once it answers, or\n"
	"                            exit 74 (default rejoin)\n"
	"  --takeover-delay auto|DUR after a crash, how long a backup waits for the old live's\n"
	"                            heartbeat to stand still before it starts (default auto:\n"
	"                            0 on a local file system, else fence timeout + 2 heartbeats)\n"
	"  --log-level LEVEL         error, warning, info or debug (default info)\n"
	"\n"
	"DUR is a number with ms, s, m or h (a plain number is seconds).\n";

enum {
	OPT_LOCK = 256,
	OPT_ROLE,
	OPT_NAME,
	OPT_ADDRESS,
	OPT_FAILBACK,
	OPT_FOS,
	OPT_RESTART,
	OPT_MAX_RESTARTS,
	OPT_WINDOW,
	OPT_STOP_TIMEOUT,
	OPT_CHECK,
	OPT_HEARTBEAT,
	OPT_POLL,
	OPT_IO_TIMEOUT,
	OPT_FENCE,
	OPT_TAKEOVER,
	OPT_AFTER_FENCE,
	OPT_ON_FENCE,
	OPT_LOG_LEVEL,
	OPT_HELP,
};

static const struct option run_options[] = {
	{ "lock", required_argument, NULL, OPT_LOCK },
	{ "role", required_argument, NULL, OPT_ROLE },
	{ "name", required_argument, NULL, OPT_NAME },
	{ "address", required_argument, NULL, OPT_ADDRESS },
	{ "allow-failback", no_argument, NULL, OPT_FAILBACK },
	{ "failover-on-shutdown", no_argument, NULL, OPT_FOS },
	{ "restart", required_argument, NULL, OPT_RESTART },
	{ "max-restarts", required_argument, NULL, OPT_MAX_RESTARTS },
	{ "restart-window", required_argument, NULL, OPT_WINDOW },
	{ "stop-timeout", required_argument, NULL, OPT_STOP_TIMEOUT },
	{ "check-interval", required_argument, NULL, OPT_CHECK },
	{ "heartbeat-interval", required_argument, NULL, OPT_HEARTBEAT },
	{ "poll-interval", required_argument, NULL, OPT_POLL },
	{ "io-timeout", required_argument, NULL, OPT_IO_TIMEOUT },
	{ "fence-timeout", required_argument, NULL, OPT_FENCE },
	{ "takeover-delay", required_argument, NULL, OPT_TAKEOVER },
	{ "after-fence", required_argument, NULL, OPT_AFTER_FENCE },
	{ "on-fence", required_argument, NULL, OPT_ON_FENCE },
	{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
	{ "help", no_argument, NULL, OPT_HELP },
	{ 0 },
};

__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "understudy run: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\nTry 'understudy run --help'.\n");
	va_end(ap);
	return EX_USAGE;
}

static int duration_opt(const char *name, const char *arg, int64_t *ms)
{
	if (options_duration(arg, ms) == 0)
		return 0;
	fprintf(stderr, "understudy run: %s: '%s' is not a duration (like 500ms, 10s, 2m)\n", name, arg);
	return EX_USAGE;
}

int cmd_run(int argc, char **argv)
{
	static char host[256];
	struct loop_config cfg = {
		.node = {
			.role = LF_ROLE_NONE,
			.restart = NODE_RESTART_ON_FAILURE,
			.max_restarts = 5,
			.restart_window_ms = 60000,
			.backoff_ms = 100,
			.backoff_max_ms = 5000,
			.poll_ms = 500,
		},
		.stop_timeout_ms = 10000,
		.check_ms = 500,
		.heartbeat_ms = 1000,
		.io_timeout_ms = 30000,
		.fence_timeout_ms = 10000,
		.takeover_delay_ms = -1,
	};
	int level = LOGL_INFO, opt, r;
	bool rejoin = true;
	long n;
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:", run_options, NULL)) != -1) {
		switch (opt) {
		case OPT_LOCK: cfg.lock_path = optarg; break;
		case OPT_ROLE:
			if (strcmp(optarg, "primary") == 0)
				cfg.node.role = LF_ROLE_PRIMARY;
			else if (strcmp(optarg, "backup") == 0)
				cfg.node.role = LF_ROLE_BACKUP;
			else
				return usage_error("--role: '%s' is neither primary nor backup", optarg);
			break;
		case OPT_NAME: cfg.name = optarg; break;
		case OPT_ADDRESS: cfg.address = optarg; break;
		case OPT_FAILBACK: cfg.node.allow_failback = true; break;
		case OPT_FOS: cfg.node.failover_on_shutdown = true; break;
		case OPT_RESTART:
			if (strcmp(optarg, "on-failure") == 0)
				cfg.node.restart = NODE_RESTART_ON_FAILURE;
			else if (strcmp(optarg, "always") == 0)
				cfg.node.restart = NODE_RESTART_ALWAYS;
			else if (strcmp(optarg, "never") == 0)
				cfg.node.restart = NODE_RESTART_NEVER;
			else
				return usage_error("--restart: '%s' is not on-failure, always or never", optarg);
			break;
		case OPT_MAX_RESTARTS:
			if (options_int(optarg, 0, NODE_RESTART_HISTORY, &n) < 0)
				return usage_error("--max-restarts: '%s' is not a whole number from 0 to 64", optarg);
			cfg.node.max_restarts = (int)n;
			break;
		case OPT_WINDOW:
			if ((r = duration_opt("--restart-window", optarg, &cfg.node.restart_window_ms)))
				return r;
			break;
		case OPT_STOP_TIMEOUT:
			if ((r = duration_opt("--stop-timeout", optarg, &cfg.stop_timeout_ms)))
				return r;
			break;
		case OPT_CHECK:
			if ((r = duration_opt("--check-interval", optarg, &cfg.check_ms)))
				return r;
			break;
		case OPT_HEARTBEAT:
			if ((r = duration_opt("--heartbeat-interval", optarg, &cfg.heartbeat_ms)))
				return r;
			break;
		case OPT_POLL:
			if ((r = duration_opt("--poll-interval", optarg, &cfg.node.poll_ms)))
				return r;
			break;
		case OPT_IO_TIMEOUT:
			if ((r = duration_opt("--io-timeout", optarg, &cfg.io_timeout_ms)))
				return r;
			break;
		case OPT_FENCE:
			if ((r = duration_opt("--fence-timeout", optarg, &cfg.fence_timeout_ms)))
				return r;
			break;
		case OPT_TAKEOVER:
			if (strcmp(optarg, "auto") == 0)
				cfg.takeover_delay_ms = -1;
			else if (strcmp(optarg, "0") == 0)
				cfg.takeover_delay_ms = 0;
			else if ((r = duration_opt("--takeover-delay", optarg, &cfg.takeover_delay_ms)))
				return r;
			break;
		case OPT_AFTER_FENCE:
			if (strcmp(optarg, "rejoin") == 0)
				rejoin = true;
			else if (strcmp(optarg, "exit") == 0)
				rejoin = false;
			else
				return usage_error("--after-fence: '%s' is neither rejoin nor exit", optarg);
			break;
		case OPT_ON_FENCE:
			/* Checked now: a hook found missing at fencing time is too late. */
			if (optarg[0] != '/' || access(optarg, X_OK) < 0)
				return usage_error("--on-fence: '%s' is not an executable given by its absolute path",
						   optarg);
			cfg.on_fence = optarg;
			break;
		case OPT_LOG_LEVEL:
			if ((level = log_level_parse(optarg)) < 0)
				return usage_error("--log-level: '%s' is not error, warning, info or debug", optarg);
			break;
		case OPT_HELP: fputs(run_usage, stdout); return 0;
		case ':': return usage_error("%s needs a value", argv[optind - 1]);
		default: return usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (!cfg.lock_path)
		return usage_error("%s", "--lock PATH is required: the group's lock file");
	if (cfg.node.role == LF_ROLE_NONE)
		return usage_error("%s", "--role primary|backup is required");
	if (optind >= argc)
		return usage_error("%s", "no workload: give the command after --, as in: run ... -- /usr/bin/app");
	if (!cfg.name) {
		if (gethostname(host, sizeof(host)) < 0 || !*host)
			return usage_error("%s", "--name is required: the host name is unknown");
		host[sizeof(host) - 1] = '\0';
		host[strcspn(host, ".")] = '\0';
		cfg.name = host;
	}
	if (options_name(cfg.name) < 0)
		return usage_error("--name: '%s' must be 1 to 63 letters, digits or . - _ @ :", cfg.name);
	if (cfg.address && strlen(cfg.address) > LF_ADDR_MAX)
		return usage_error("--address: '%s' is longer than 63 bytes", cfg.address);
	if (cfg.node.allow_failback && cfg.node.role != LF_ROLE_PRIMARY)
		return usage_error("%s", "--allow-failback is for the primary: a backup has nothing to fail back to");
	/* The heartbeat is written on a check, so it can go no faster. */
	if (cfg.check_ms > cfg.heartbeat_ms)
		return usage_error("--check-interval (%lld ms) must not exceed --heartbeat-interval (%lld ms)",
				   (long long)cfg.check_ms, (long long)cfg.heartbeat_ms);
	if (cfg.fence_timeout_ms < 2 * cfg.heartbeat_ms)
		return usage_error("--fence-timeout (%lld ms) must be at least twice --heartbeat-interval (%lld ms)",
				   (long long)cfg.fence_timeout_ms, (long long)cfg.heartbeat_ms);
	cfg.argv = argv + optind;
	log_init(cfg.name, (enum log_level)level);
	/* Set only across our own re-exec after losing the storage. */
	cfg.wait_for_storage = getenv("UNDERSTUDY_REJOINING") != NULL;
	unsetenv("UNDERSTUDY_REJOINING");
	bool lost_storage;
	int code = loop_run(&cfg, &lost_storage);
	if (!lost_storage || !rejoin)
		return code;
	/* Fenced (or the file failed us while waiting), the workload gone:
	 * start over as a new node, which waits in line if another is live.
	 * execve first ends the thread still stuck in a storage call (those
	 * waits are killable), and the new node's first open of the lock
	 * file waits until the storage answers. The pause keeps a storage
	 * that fails at once from turning this into a spin. argv is main's
	 * argv + 1, so argv - 1 is the whole command line. */
	log_warn("the lock file failed us: joining again as a new node once it answers");
	struct timespec pause = { 1, 0 };
	nanosleep(&pause, NULL);
	setenv("UNDERSTUDY_REJOINING", "1", 1);
	execv("/proc/self/exe", argv - 1);
	log_error("re-executing: %s", strerror(errno));
	return code;
}
