/* The settings of `understudy run`, from the command line and from an INI
 * file. One table names every setting once, with its section and key in
 * the file and its long option on the command line, so the two can never
 * drift apart; the command line wins over the file.
 *
 * Nothing here prints or exits: errors come back as text for the command
 * to print, with the exit status it documents (64 for the command line,
 * 78 for a file). */
#ifndef UNDERSTUDY_CONFIG_H
#define UNDERSTUDY_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "understudy/loop.h"
#include "understudy/timeline.h"

enum config_key {
	CK_LOCK,
	CK_LOCK_OWNER,
	CK_NAME,
	CK_ROLE,
	CK_ADDRESS,
	CK_ALLOW_FAILBACK,
	CK_FAILOVER_ON_SHUTDOWN,
	CK_LOG_LEVEL,
	CK_HTTP,
	CK_HTTP_TIMEOUT,
	CK_METRICS_FILE,
	CK_NOTIFY_FD,
	CK_COMMAND,
	CK_WORKING_DIRECTORY,
	CK_USER,
	CK_GROUP,
	CK_ENVIRONMENT,
	CK_ENVIRONMENT_FILE,
	CK_RESTART,
	CK_MAX_RESTARTS,
	CK_RESTART_WINDOW,
	CK_STOP_TIMEOUT,
	CK_READY,
	CK_READY_INTERVAL,
	CK_READY_TIMEOUT,
	CK_WATCHDOG_TIMEOUT,
	CK_CHECK_INTERVAL,
	CK_HEARTBEAT_INTERVAL,
	CK_POLL_INTERVAL,
	CK_IO_TIMEOUT,
	CK_FENCE_TIMEOUT,
	CK_TAKEOVER_DELAY,
	CK_AFTER_FENCE,
	CK_ON_LIVE,
	CK_ON_BACKUP,
	CK_ON_STOP,
	CK_ON_FENCE,
	CK_ON_FAILBACK,
	CK_HOOK_TIMEOUT,
	CK_NKEYS
};

enum config_arg {
	CA_VALUE, /* --key VALUE */
	CA_FLAG,  /* --key alone means yes; --key=no in the file's words */
	CA_NONE,  /* not on the command line (the words after -- instead) */
};

struct config_key_info {
	const char *section;
	const char *key; /* also the long option's name */
	enum config_arg arg;
};

/* Indexed by enum config_key. */
extern const struct config_key_info config_keys[CK_NKEYS];

/* One environment-file setting. */
struct config_env_file {
	const char *path;
	bool optional; /* given as -PATH: a missing file is no error */
	bool found;    /* after config_finish: it was there and read */
	unsigned mode; /* its permission bits, when found */
	int line;      /* of the configuration file; 0: the command line */
	size_t nvars;  /* the variables it gave */
};

struct config {
	struct loop_config run; /* what the node runs with */
	int log_level;
	const char *user, *group;
	const char *http;         /* ADDR:PORT of the health endpoint, or NULL */
	int64_t http_timeout_ms;  /* each storage call of /status (http.h) */
	const char *metrics_file; /* where the node keeps its metrics for a textfile collector, or NULL */
	char **env;               /* KEY=VALUE, added to the manager's environment */
	size_t nenv;
	/* environment-file: each file as given, and the KEY=VALUE lines
	 * config_finish read from them, which override env. The values are
	 * never printed nor logged. */
	struct config_env_file *env_files;
	size_t nenv_files;
	char **file_env;
	size_t nfile_env;
	/* The file's mode as it was opened, for the warning about secrets in
	 * a file every user may read. */
	unsigned file_mode;
	char **command; /* [workload] command, split into words */
	const char *command_text;
	const char *ready_text;   /* as given, for printing */
	int64_t ready_timeout_ms; /* 0: none; used unless ready is exec */
	/* Where each setting came from, for messages: 0 for the command
	 * line or the default, else the line of the file. */
	const char *file;
	int line[CK_NKEYS];
	bool given[CK_NKEYS];
	/* Every string above is owned here. */
	char **owned;
	size_t nowned;
};

/* The defaults: a node needs only lock, role and command on top. */
void config_init(struct config *c);
/* Set key to value (NULL for a bare flag) from the command line. Returns
 * 0, or -EINVAL with why ("'x' is not a duration ...") filled in, or
 * -EPERM for a hook another user could change. */
int config_set(struct config *c, enum config_key k, const char *value, char *why, size_t n);
/* Read an INI file. Returns 0; -EINVAL with why naming file, line,
 * section and key; -EPERM when a user other than root or ours could
 * change the file or a hook it names (trust.h); or -errno (unreadable)
 * with why naming the file. Settings the command line gave stay as they
 * are. */
int config_load(struct config *c, const char *path, char *why, size_t n);
/* The checks across settings, once both sources are in, resolving the
 * user and group, and reading the environment files (so a missing or
 * broken one refuses the node before it joins). Returns 0 or -EINVAL with
 * why (-EPERM for a probe command or an environment file another user
 * could change); *from_file tells whether a setting the check names came
 * from the file. */
int config_finish(struct config *c, char *why, size_t n, bool *from_file);
/* The timing settings, for the timeline they derive (timeline.h): the
 * same figures the node will run by. */
void config_timeline(const struct config *c, struct timeline_settings *s);
/* Print every setting as "section.key = value", as the node will run;
 * of the environment files, their paths and how many variables each
 * gave, never a value. */
void config_print(const struct config *c, FILE *f);
/* Whether a reload (SIGHUP) may change k while the node runs: what the
 * node reads afresh each time it acts on it (hooks, timeouts, the restart
 * policy, the log level). Not what the group knows it by (lock, name,
 * role, address), nor what was set up once at start (the workload and
 * its environment, the ready method, the HTTP listener and the metrics
 * file, failback, which
 * only a joining primary asks for). */
bool config_reloadable(enum config_key k);
/* k's value as config_print shows it, escaped, on one line, into buf of n
 * bytes; of environment the names alone: for the message that a reload
 * changed or refused it. */
void config_value(const struct config *c, enum config_key k, char *buf, size_t n);
/* What an operator should hear about settings that work but expose
 * something: a configuration file every user may read that holds
 * environment values (often secrets), an environment file every user may
 * read. Each as one line into warn; returns how many. */
int config_warnings(const struct config *c, void (*warn)(const char *line));
void config_free(struct config *c);

/* The lock path a node's file names, for the commands that only look at
 * or ask the group: 0 with *lock malloc'd (and *name, when name is not
 * NULL: the node's name, or NULL if the file has none; *who, when not
 * NULL: who may own and share the lock file, from lock-owner), or -errno
 * with why. */
int config_lock_path(const char *file, char **lock, char **name, struct trust_who *who, char *why, size_t n);
/* This host's default node name: the host name up to the first dot.
 * Returns a static string, or NULL if it is no valid node name. */
const char *config_host_name(void);

/* Split a command line into words as a shell would, without expanding
 * anything: blanks separate, '...' and "..." quote, \ escapes. Returns a
 * malloc'd NULL-terminated vector (one allocation) or NULL with why. */
char **config_split(const char *s, char *why, size_t n);

#endif
