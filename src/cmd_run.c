/* understudy run: a node of a group, wrapping the workload. */
#include <errno.h>
#include <time.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sysexits.h>
#include <unistd.h>

#include "understudy/cmd.h"
#include "understudy/config.h"
#include "understudy/http.h"
#include "understudy/log.h"
#include "understudy/loop.h"
#include "understudy/options.h"
#include "understudy/timeline.h"
#include "understudy/trust.h"

static const char run_usage[] =
	"usage: understudy run --lock PATH --role primary|backup [options] -- COMMAND [ARG...]\n"
	"       understudy run --config FILE [options] [-- COMMAND [ARG...]]\n"
	"       understudy run --config FILE --check\n"
	"\n"
	"Run COMMAND on this host only while this node is the live node of the group\n"
	"whose lock file is PATH (on storage every node of the group mounts).\n"
	"\n"
	"  --config FILE             read settings from FILE (understudy.conf(5)); the\n"
	"                            command line wins over it\n"
	"  --check                   check the settings, print them and exit: starts nothing\n"
	"\n"
	"group and node:\n"
	"  --lock PATH               the group's lock file (created if missing)\n"
	"  --lock-owner USER[:GROUP] who owns the lock file when not root or the manager's\n"
	"                            user (storage that maps root to another user), and the\n"
	"                            group that may share it (default: the manager's group)\n"
	"  --role primary|backup     the primary starts the group; backups wait\n"
	"  --name NAME               this node's name (default: the host name)\n"
	"  --address ADDR            where clients reach this node's workload\n"
	"  --allow-failback[=no]     primary: take the workload back from a live backup\n"
	"  --failover-on-shutdown[=no]  on SIGTERM leave the group live for a backup\n"
	"                            (default: pause the group)\n"
	"  --log-level LEVEL         error, warning, info or debug (default info)\n"
	"  --http ADDR:PORT          serve GET /health (200 only while live with the workload\n"
	"                            running, else 503) and GET /status (the JSON of status) on\n"
	"                            ADDR:PORT (numeric, IPv6 as [::1]:8080), and GET /metrics\n"
	"                            (Prometheus)\n"
	"  --http-timeout DUR        how long one storage call of /status may take before\n"
	"                            it is answered 504 (default 3s)\n"
	"  --metrics-file PATH       keep the same metrics in PATH (ending .prom) for\n"
	"                            node_exporter's textfile collector, rewritten every 5s\n"
	"  --notify-fd FD            write a newline to descriptor FD and close it once the\n"
	"                            node has joined (s6's notification-fd; READY=1 for systemd)\n"
	"\n"
	"workload:\n"
	"  --working-directory DIR   run it in DIR (absolute)\n"
	"  --user USER               run it as USER, with USER's groups (needs root)\n"
	"  --group GROUP             run it with GROUP as its group (default USER's)\n"
	"  --environment KEY=VALUE   add a variable to its environment (repeatable)\n"
	"  --environment-file [-]PATH  add the KEY=VALUE lines of PATH, read at start, never\n"
	"                            shown (repeatable; '-': PATH may be missing)\n"
	"  --restart on-failure|always|never   restart policy (default on-failure)\n"
	"  --max-restarts N          restarts allowed within the window (default 5)\n"
	"  --restart-window DUR      (default 60s)\n"
	"  --stop-timeout DUR        SIGTERM to SIGKILL (default 10s)\n"
	"  --ready HOW               when the workload counts as ready (live): exec (default),\n"
	"                            notify (READY=1 on the NOTIFY_SOCKET it is given),\n"
	"                            fd:N (a newline on its descriptor N), tcp:ADDR:PORT (a\n"
	"                            connect succeeds) or command:CMD (CMD exits 0)\n"
	"  --ready-interval DUR      between probes, tcp and command (default 1s)\n"
	"  --ready-timeout DUR       not ready by then: a failed start (default 90s; 0: none)\n"
	"  --watchdog-timeout DUR    notify: once it sent WATCHDOG=1, it must again within DUR\n"
	"\n"
	"";

/* In two parts: C compilers need support only strings of 4095 bytes. */
static const char run_usage_more[] =
	"fencing and timing:\n"
	"  --check-interval DUR      how often the live reads the lock file (default 500ms)\n"
	"  --heartbeat-interval DUR  how often the live advances its heartbeat (default 1s)\n"
	"  --poll-interval DUR       longest wait before a waiting node looks again (default 500ms)\n"
	"  --io-timeout DUR          a lock-file call taking longer means hung storage (default 30s)\n"
	"  --fence-timeout DUR       live: no heartbeat round for this long kills the workload\n"
	"                            (default 10s; at least twice --heartbeat-interval)\n"
	"  --takeover-delay auto|DUR after a crash, how long a backup waits for the old live's\n"
	"                            heartbeat to stand still before it starts (default auto:\n"
	"                            0 on a local file system, else fence timeout + 2 heartbeats)\n"
	"  --after-fence rejoin|exit after the lock file failed this node (fenced, its workload\n"
	"                            killed): join again as a new node once it answers, or\n"
	"                            exit 74 (default rejoin)\n"
	"\n"
	"hooks (an absolute path to an executable, run without a shell, with the event\n"
	"as its argument and UNDERSTUDY_EVENT; never waited for):\n"
	"  --on-live PATH            this node is live: its workload is ready\n"
	"  --on-backup PATH          this node stands by to take over\n"
	"  --on-stop PATH            this node's workload stopped and it left live\n"
	"  --on-fence PATH           this node lost the storage and killed its workload\n"
	"  --on-failback PATH        a failback moved the workload to or from this node\n"
	"  --hook-timeout DUR        a hook still running then is killed (default 30s)\n"
	"\n"
	"DUR is a number with ms, s, m or h (a plain number is seconds).\n"
	"Exit status 64: a bad command line; 78: a bad configuration file, or a hook, probe\n"
	"or configuration file that a user other than root or this one could change; 77:\n"
	"a lock file that others could write, replace or read (a read lock stops a group);\n"
	"71: the --http address cannot be listened on (in use, or not this host's); 69:\n"
	"the HTTP library (libmicrohttpd) cannot be loaded for --http.\n";

/* Options that are not settings: they say what to do with the settings. */
enum { OPT_CONFIG = CK_NKEYS, OPT_CHECK, OPT_HELP, OPT_N };

static void options_table(struct option *o)
{
	int n = 0;
	for (int k = 0; k < CK_NKEYS; k++) {
		if (config_keys[k].arg == CA_NONE)
			continue;
		o[n++] = (struct option){ config_keys[k].key,
					  config_keys[k].arg == CA_FLAG ? optional_argument : required_argument, NULL,
					  k };
	}
	o[n++] = (struct option){ "config", required_argument, NULL, OPT_CONFIG };
	o[n++] = (struct option){ "check", no_argument, NULL, OPT_CHECK };
	o[n++] = (struct option){ "help", no_argument, NULL, OPT_HELP };
	o[n] = (struct option){ 0 };
}

__attribute__((format(printf, 2, 3))) static int error_exit(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "understudy run: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	if (code == EX_USAGE)
		fprintf(stderr, "Try 'understudy run --help'.\n");
	va_end(ap);
	return code;
}

/* The command line, read twice: first for --config and --help, so that
 * the file is read before the options that override it are applied. */
static int parse(int argc, char **argv, const struct option *opts, struct config *c, bool apply, const char **file,
		 bool *check)
{
	char why[1024];
	int opt, r;
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:", opts, NULL)) != -1) {
		switch (opt) {
		case OPT_CONFIG: *file = optarg; break;
		case OPT_CHECK: *check = true; break;
		case OPT_HELP:
			if (!apply)
				fputs(run_usage, stdout), fputs(run_usage_more, stdout);
			return -1;
		case ':': return error_exit(EX_USAGE, "%s needs a value", argv[optind - 1]);
		case '?': return error_exit(EX_USAGE, "unknown option '%s'", argv[optind - 1]);
		default:
			/* A relative lock path, or a hook another user could
			 * change, is the site's configuration at fault wherever
			 * it is written: 78, as in a file. */
			if (apply && (r = config_set(c, (enum config_key)opt, optarg, why, sizeof(why))) < 0)
				return error_exit(opt == CK_LOCK || r == -EPERM ? EX_CONFIG : EX_USAGE, "--%s: %s",
						  config_keys[opt].key, why);
		}
	}
	return 0;
}

/* 32 hex digits into a node id: 0, or -1 if s is not one. */
static int hex_id(const char *s, uint8_t id[LF_ID_SIZE])
{
	if (strlen(s) != (size_t)2 * LF_ID_SIZE)
		return -1;
	for (size_t i = 0; i < (size_t)2 * LF_ID_SIZE; i++) {
		int c = (unsigned char)s[i], d = c >= '0' && c <= '9'   ? c - '0'
						 : c >= 'a' && c <= 'f' ? c - 'a' + 10
									: -1;
		if (d < 0)
			return -1;
		id[i / 2] = (uint8_t)(i % 2 ? id[i / 2] | d : d << 4);
	}
	return 0;
}

/* The group's name in the journal (UNDERSTUDY_GROUP): the configuration
 * file's name without ".conf", which is the unit's instance (understudy@app
 * reads app.conf); without a file, the lock file's path, the one name all
 * nodes of a group share. */
static const char *group_name(const struct config *c, char *buf, size_t n)
{
	if (!c->file)
		return c->run.lock_path;
	const char *base = strrchr(c->file, '/');
	base = base ? base + 1 : c->file;
	size_t len = strlen(base);
	if (len > 5 && strcmp(base + len - 5, ".conf") == 0)
		len -= 5;
	snprintf(buf, n, "%.*s", (int)len, base);
	return buf;
}

static void warn_line(const char *line) { log_warn("%s", line); }

/* What a reload needs to read the settings as the start did: the same
 * command line, whose settings still win over the file, and the file. */
struct reloader {
	int argc;
	char **argv;
	const struct option *opts;
	const char *file;
	struct config *start; /* cmd_run's own, freed there */
	struct config *cur;   /* what the node runs with: start, or a reload's */
	struct config *prev;  /* the one before cur, which the loop may still have used */
};

static void drop(struct reloader *rl, struct config *c)
{
	if (c && c != rl->start) {
		config_free(c);
		free(c);
	}
}

/* "[section] key 'old' -> 'new'" for each key whose value differs and
 * that a reload may (changeable) or may not change, into buf; how many. */
static int differences(const struct config *a, const struct config *b, bool changeable, char *buf, size_t n)
{
	int count = 0;
	size_t used = 0;
	buf[0] = '\0';
	for (int k = 0; k < CK_NKEYS; k++) {
		char old[512], new[512];
		if (config_reloadable((enum config_key)k) != changeable)
			continue;
		config_value(a, (enum config_key)k, old, sizeof(old));
		config_value(b, (enum config_key)k, new, sizeof(new));
		if (!strcmp(old, new))
			continue;
		int w = snprintf(buf + used, n - used, "%s[%s] %s '%s' -> '%s'", count ? ", " : "",
				 config_keys[k].section, config_keys[k].key, old, new);
		used = w < 0 || (size_t)w >= n - used ? n - 1 : used + (size_t)w;
		count++;
	}
	return count;
}

/* The loop's reload (loop.h): the file read and checked as at start,
 * compared with what runs, and either refused whole or taken whole. */
static int reload(void *ctx, const struct loop_config **next)
{
	struct reloader *rl = ctx;
	char why[1536], diff[2048];
	bool check = false, from_file;
	const char *file = rl->file;
	struct config *c = calloc(1, sizeof(*c));
	int r = -ENOMEM;
	if (!c) {
		log_warn("reloading %s: out of memory; nothing applied, running on unchanged", rl->file);
		return r;
	}
	config_init(c);
	/* The command line was good at start; a hook it names that another
	 * user could now change is what parse can still refuse (said on
	 * stderr, as at start). */
	if (parse(rl->argc, rl->argv, rl->opts, c, true, &file, &check)) {
		log_warn("reloading %s: the command line's settings no longer hold; nothing applied, running on "
			 "unchanged",
			 rl->file);
		r = -EINVAL;
		goto out;
	}
	if (optind < rl->argc)
		c->run.argv = rl->argv + optind;
	if ((r = config_load(c, rl->file, why, sizeof(why))) < 0 ||
	    (r = config_finish(c, why, sizeof(why), &from_file)) < 0) {
		log_warn("reload refused, nothing applied, running on unchanged: %s", why);
		goto out;
	}
	/* The supervisor's descriptor is told once in the process's life
	 * (none after a rejoin): a reload neither changes it nor refuses
	 * over it. */
	c->run.notify_fd = rl->cur->run.notify_fd;
	if (differences(rl->cur, c, false, diff, sizeof(diff))) {
		log_warn("reload of %s refused, nothing applied, running on unchanged: a restart changes %s", rl->file,
			 diff);
		r = -EPERM;
		goto out;
	}
	/* What the process, not the file, decided at start. */
	const struct loop_config *was = &rl->cur->run;
	c->run.trust = was->trust;
	c->run.wait_for_storage = was->wait_for_storage;
	c->run.previous_id = was->previous_id;
	c->run.id_out = was->id_out;
	c->run.joined_fs_type = was->joined_fs_type;
	c->run.fs_type_out = was->fs_type_out;
	c->run.health = was->health;
	c->run.metrics = was->metrics;
	c->run.reload = was->reload;
	c->run.reload_ctx = was->reload_ctx;
	/* The line at the more telling of the two levels, so that a reload
	 * to a quieter one still says so. */
	char group[256];
	group_name(c, group, sizeof(group));
	log_init(c->run.name, group,
		 (enum log_level)(c->log_level > rl->cur->log_level ? c->log_level : rl->cur->log_level));
	if (differences(rl->cur, c, true, diff, sizeof(diff)))
		log_info("reloaded %s: %s", rl->file, diff);
	else
		log_info("reloaded %s: nothing changed", rl->file);
	log_init(c->run.name, group, (enum log_level)c->log_level);
	config_warnings(c, warn_line);
	drop(rl, rl->prev);
	rl->prev = rl->cur;
	rl->cur = c;
	*next = &c->run;
	return 0;
out:
	config_free(c);
	free(c);
	return r;
}

static void warn_stderr(const char *line) { fprintf(stderr, "understudy run: warning: %s\n", line); }

/* The node, once its settings are known; and again after the storage
 * failed it, as a new process. */
static int run(struct config *c, char **argv, struct reloader *rl)
{
	char group[256];
	log_init(c->run.name, group_name(c, group, sizeof(group)), (enum log_level)c->log_level);
	config_warnings(c, warn_line);
	/* The environment files' after the file's and the command line's, as
	 * systemd's EnvironmentFile= overrides Environment=. A message names
	 * the variable, never its value. */
	for (size_t i = 0; i < c->nenv + c->nfile_env; i++) {
		char *var = i < c->nenv ? c->env[i] : c->file_env[i - c->nenv];
		char *eq = strchr(var, '=');
		*eq = '\0';
		int e = setenv(var, eq + 1, 1);
		if (e < 0) {
			log_error("environment %s: %s", var, strerror(errno));
			*eq = '=';
			return EX_OSERR;
		}
		*eq = '=';
	}
	/* Set only across our own re-exec after losing the storage, to the
	 * node id this process had: its slot may outlive the exec on storage
	 * that releases locks late, and it is no other node of our name. */
	const char *rejoining = getenv("UNDERSTUDY_REJOINING");
	static uint8_t previous_id[LF_ID_SIZE], id[LF_ID_SIZE];
	if (rejoining) {
		/* Readiness is told once in the process's life: the pipe went
		 * with the first newline (or, closed on exec, with the exec). */
		c->run.notify_fd = -1;
	} else if (c->run.notify_fd >= 0) {
		/* Never inherited: not by the workload, a hook, nor a rejoin. */
		int fl = fcntl(c->run.notify_fd, F_GETFD);
		if (fl < 0 || fcntl(c->run.notify_fd, F_SETFD, fl | FD_CLOEXEC) < 0) {
			int e = errno, line = c->line[CK_NOTIFY_FD];
			if (line)
				log_error("%s:%d: [node] notify-fd %d: %s: no supervisor passed this descriptor",
					  c->file, line, c->run.notify_fd, strerror(e));
			else
				log_error("--notify-fd %d: %s: no supervisor passed this descriptor", c->run.notify_fd,
					  strerror(e));
			return line ? EX_CONFIG : EX_USAGE;
		}
	}
	c->run.wait_for_storage = rejoining != NULL;
	c->run.previous_id = rejoining && hex_id(rejoining, previous_id) == 0 ? previous_id : NULL;
	c->run.id_out = id;
	unsetenv("UNDERSTUDY_REJOINING");
	/* And to the statfs type of the file system this node first joined
	 * on: a rejoining node creates a deleted file again only there. */
	static long fs_type;
	const char *fs = getenv("UNDERSTUDY_REJOINING_FS");
	c->run.joined_fs_type = rejoining && fs ? strtol(fs, NULL, 16) : 0;
	c->run.fs_type_out = &fs_type;
	unsetenv("UNDERSTUDY_REJOINING_FS");
	/* The endpoint answers from the first moment the node runs, so a
	 * load balancer sees 503 rather than a refused connection while the
	 * node joins. */
	static _Atomic int health = LOOP_DOWN;
	/* Shared with the storage process, forked below, which counts the
	 * live node's rounds in it. */
	struct metrics *metrics =
		mmap(NULL, sizeof(*metrics), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (metrics == MAP_FAILED) {
		log_error("mapping the metrics: %s", strerror(errno));
		return EX_OSERR;
	}
	struct http_server *http = NULL;
	struct metrics_writer *writer = NULL;
	if (!c->run.health)
		c->run.health = &health;
	metrics_init(metrics);
	c->run.metrics = metrics;
	const struct metrics_labels labels = {
		.group = c->run.lock_path,
		.node = c->run.name,
		.role = lockfile_role_name((uint8_t)c->run.node.role),
	};
	/* Before the threads below: a process forked from a threaded one may
	 * inherit a lock another thread held, held forever (loop.h). */
	int e = loop_prepare();
	if (e < 0) {
		log_error("starting the storage process: %s", strerror(-e));
		return EX_OSERR;
	}
	if (c->metrics_file) {
		/* Every METRICS_FILE_INTERVAL_MS: a scrape's figures are at most
		 * that old, and a node that ended leaves its last ones. */
		e = metrics_writer_start(&writer, metrics, &labels, c->metrics_file, METRICS_FILE_INTERVAL_MS);
		if (e < 0) {
			log_error("metrics file %s: %s", c->metrics_file, strerror(-e));
			return EX_OSERR;
		}
	}
	if (c->http) {
		char why[600];
		struct http_config hc = { .address = c->http, .lock_path = c->run.lock_path, .health = c->run.health };
		hc.timeout_ms = c->http_timeout_ms;
		hc.metrics = metrics;
		hc.labels = labels;
		e = http_start(&hc, &http, why, sizeof(why));
		if (e < 0) {
			log_error("%s", why);
			metrics_writer_stop(writer);
			return e == -ELIBACC ? EX_UNAVAILABLE : EX_OSERR;
		}
		log_info("health endpoint on http://%s/health", c->http);
	}
	bool lost_storage;
	if (rl->file) {
		c->run.reload = reload;
		c->run.reload_ctx = rl;
	}
	int code = loop_run(&c->run, &lost_storage);
	http_stop(http);
	metrics_writer_stop(writer);
	bool rejoin = rl->cur->run.rejoin;
	drop(rl, rl->prev);
	drop(rl, rl->cur);
	if (!lost_storage || !rejoin)
		return code;
	/* Fenced (or the file failed us while waiting), the workload gone:
	 * start over as a new node, which waits in line if another is live.
	 * execve first ends the thread still stuck in a storage call (those
	 * waits are killable), and the new node's first open of the lock
	 * file waits until the storage answers. The pause keeps a storage
	 * that fails at once from turning this into a spin. argv is main's
	 * argv + 1, so argv - 1 is the whole command line. */
	log_warn("the lock file failed us, or its path names another file now: joining again as a new node");
	struct timespec pause = { 1, 0 };
	nanosleep(&pause, NULL);
	/* A SIGTERM in the pause is pending (the loop's mask still blocks
	 * it): leave rather than join again. */
	if (loop_leave_pending()) {
		log_info("asked to leave before joining again: leaving");
		return code;
	}
	char hex[2 * LF_ID_SIZE + 1];
	for (size_t i = 0; i < LF_ID_SIZE; i++)
		snprintf(hex + 2 * i, 3, "%02x", id[i]);
	setenv("UNDERSTUDY_REJOINING", hex, 1);
	char fs_hex[24];
	snprintf(fs_hex, sizeof(fs_hex), "%lx",
		 (unsigned long)(c->run.joined_fs_type ? c->run.joined_fs_type : fs_type));
	setenv("UNDERSTUDY_REJOINING_FS", fs_hex, 1);
	execv("/proc/self/exe", argv - 1);
	log_error("re-executing: %s", strerror(errno));
	return code;
}

int cmd_run(int argc, char **argv)
{
	struct option opts[OPT_N + 1];
	options_table(opts);
	struct config c;
	config_init(&c);
	const char *file = NULL;
	bool check = false, from_file;
	char why[1536];
	int r = parse(argc, argv, opts, &c, false, &file, &check);
	if (r)
		return r < 0 ? 0 : r;
	/* The command line first, then the file under it: what the command
	 * line set, the file does not change. */
	if ((r = parse(argc, argv, opts, &c, true, &file, &check)))
		goto out;
	if (optind < argc)
		c.run.argv = argv + optind;
	if (file && config_load(&c, file, why, sizeof(why)) < 0) {
		r = error_exit(EX_CONFIG, "%s", why);
		goto out;
	}
	if ((r = config_finish(&c, why, sizeof(why), &from_file)) < 0) {
		r = error_exit(from_file || r == -EPERM ? EX_CONFIG : EX_USAGE, "%s", why);
		goto out;
	}
	if (check) {
		/* Nothing started, the lock file not even opened: only looked
		 * at, as the node will before it opens it. */
		if (trust_check(c.run.lock_path, TRUST_LOCK, &c.run.trust, why, sizeof(why)) == -EPERM) {
			r = error_exit(EX_NOPERM, "%s", why);
			goto out;
		}
		config_warnings(&c, warn_stderr);
		config_print(&c, stdout);
		/* What the node derives from them, and what the settings
		 * keep only if the storage does its part: the file system
		 * is not known here, so for both kinds. */
		struct timeline_settings ts;
		struct timeline t;
		struct timeline_fault w[4];
		config_timeline(&c, &ts);
		timeline_derive(&ts, &t);
		timeline_print(&t, stdout);
		size_t nw = timeline_warnings(&ts, TIMELINE_FS_UNKNOWN, w, sizeof(w) / sizeof(w[0]));
		for (size_t i = 0; i < nw; i++) {
			timeline_explain(&w[i], &ts, NULL, why, sizeof(why));
			fprintf(stderr, "understudy run: warning: %s\n", why);
		}
		r = 0;
		goto out;
	}
	struct reloader rl = { .argc = argc, .argv = argv, .opts = opts, .file = file, .start = &c, .cur = &c };
	r = run(&c, argv, &rl);
out:
	config_free(&c);
	return r;
}
