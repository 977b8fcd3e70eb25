/* The settings of `understudy run`: one table, two sources. */
#include "understudy/config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <ini.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "understudy/http.h"
#include "understudy/log.h"
#include "understudy/options.h"
#include "understudy/text.h"
#include "understudy/timeline.h"
#include "understudy/trust.h"

const struct config_key_info config_keys[CK_NKEYS] = {
	[CK_LOCK] = { "group", "lock", CA_VALUE },
	[CK_LOCK_OWNER] = { "group", "lock-owner", CA_VALUE },
	[CK_NAME] = { "node", "name", CA_VALUE },
	[CK_ROLE] = { "node", "role", CA_VALUE },
	[CK_ADDRESS] = { "node", "address", CA_VALUE },
	[CK_ALLOW_FAILBACK] = { "node", "allow-failback", CA_FLAG },
	[CK_FAILOVER_ON_SHUTDOWN] = { "node", "failover-on-shutdown", CA_FLAG },
	[CK_LOG_LEVEL] = { "node", "log-level", CA_VALUE },
	[CK_HTTP] = { "node", "http", CA_VALUE },
	[CK_HTTP_TIMEOUT] = { "node", "http-timeout", CA_VALUE },
	[CK_METRICS_FILE] = { "node", "metrics-file", CA_VALUE },
	[CK_NOTIFY_FD] = { "node", "notify-fd", CA_VALUE },
	[CK_COMMAND] = { "workload", "command", CA_NONE },
	[CK_WORKING_DIRECTORY] = { "workload", "working-directory", CA_VALUE },
	[CK_USER] = { "workload", "user", CA_VALUE },
	[CK_GROUP] = { "workload", "group", CA_VALUE },
	[CK_ENVIRONMENT] = { "workload", "environment", CA_VALUE },
	[CK_ENVIRONMENT_FILE] = { "workload", "environment-file", CA_VALUE },
	[CK_RESTART] = { "workload", "restart", CA_VALUE },
	[CK_MAX_RESTARTS] = { "workload", "max-restarts", CA_VALUE },
	[CK_RESTART_WINDOW] = { "workload", "restart-window", CA_VALUE },
	[CK_STOP_TIMEOUT] = { "workload", "stop-timeout", CA_VALUE },
	[CK_READY] = { "workload", "ready", CA_VALUE },
	[CK_READY_INTERVAL] = { "workload", "ready-interval", CA_VALUE },
	[CK_READY_TIMEOUT] = { "workload", "ready-timeout", CA_VALUE },
	[CK_WATCHDOG_TIMEOUT] = { "workload", "watchdog-timeout", CA_VALUE },
	[CK_CHECK_INTERVAL] = { "fencing", "check-interval", CA_VALUE },
	[CK_HEARTBEAT_INTERVAL] = { "fencing", "heartbeat-interval", CA_VALUE },
	[CK_POLL_INTERVAL] = { "fencing", "poll-interval", CA_VALUE },
	[CK_IO_TIMEOUT] = { "fencing", "io-timeout", CA_VALUE },
	[CK_FENCE_TIMEOUT] = { "fencing", "fence-timeout", CA_VALUE },
	[CK_TAKEOVER_DELAY] = { "fencing", "takeover-delay", CA_VALUE },
	[CK_AFTER_FENCE] = { "fencing", "after-fence", CA_VALUE },
	[CK_ON_LIVE] = { "hooks", "on-live", CA_VALUE },
	[CK_ON_BACKUP] = { "hooks", "on-backup", CA_VALUE },
	[CK_ON_STOP] = { "hooks", "on-stop", CA_VALUE },
	[CK_ON_FENCE] = { "hooks", "on-fence", CA_VALUE },
	[CK_ON_FAILBACK] = { "hooks", "on-failback", CA_VALUE },
	[CK_HOOK_TIMEOUT] = { "hooks", "hook-timeout", CA_VALUE },
};

static const enum hook_event hook_of[CK_NKEYS] = {
	[CK_ON_LIVE] = HOOK_LIVE,   [CK_ON_BACKUP] = HOOK_BACKUP,     [CK_ON_STOP] = HOOK_STOP,
	[CK_ON_FENCE] = HOOK_FENCE, [CK_ON_FAILBACK] = HOOK_FAILBACK,
};

void config_init(struct config *c)
{
	struct timeline_settings t;
	timeline_defaults(&t);
	*c = (struct config){
		.run = {
			.node = {
				.role = LF_ROLE_NONE,
				.restart = NODE_RESTART_ON_FAILURE,
				.max_restarts = 5,
				.restart_window_ms = 60000,
				.backoff_ms = 100,
				.backoff_max_ms = 5000,
				.poll_ms = t.poll_ms,
			},
			.stop_timeout_ms = t.stop_timeout_ms,
			.check_ms = t.check_ms,
			.heartbeat_ms = t.heartbeat_ms,
			.io_timeout_ms = t.io_timeout_ms,
			.fence_timeout_ms = t.fence_timeout_ms,
			.takeover_delay_ms = t.takeover_delay_ms,
			.hook_timeout_ms = 30000,
			.ready_interval_ms = 1000,
			.notify_fd = -1,
			.rejoin = true,
			.workload_as = { .pass_fd = -1, .pass_fd_as = -1 },
		},
		.log_level = LOGL_INFO,
		.ready_text = "exec",
		.ready_timeout_ms = 90000,
		.http_timeout_ms = HTTP_TIMEOUT_MS,
	};
	trust_who_default(&c->run.trust);
}

__attribute__((format(printf, 3, 4))) static int fail(char *why, size_t n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static char *own(struct config *c, char *s)
{
	if (!s)
		return NULL;
	char **v = realloc(c->owned, (c->nowned + 1) * sizeof(*v));
	if (!v) {
		free(s);
		return NULL;
	}
	c->owned = v;
	c->owned[c->nowned++] = s;
	return s;
}

static const char *copy(struct config *c, const char *s, char *why, size_t n)
{
	const char *r = own(c, strdup(s));
	if (!r)
		fail(why, n, "out of memory");
	return r;
}

static int parse_bool(const char *v, bool *out)
{
	static const char *const yes[] = { "yes", "true", "on", "1" }, *const no[] = { "no", "false", "off", "0" };
	for (size_t i = 0; i < 4; i++) {
		if (strcmp(v, yes[i]) == 0)
			return *out = true, 0;
		if (strcmp(v, no[i]) == 0)
			return *out = false, 0;
	}
	return -EINVAL;
}

static int duration(const char *v, int64_t *ms, char *why, size_t n)
{
	return options_duration_why(v, ms, why, n) == 0 ? 0 : -EINVAL;
}

/* An executable the node will run as root at a transition: a path
 * another user could write to, or swap through a directory, would let
 * that user run code there (trust.h). Checked again at each run. -EPERM
 * for that: a fault of the system's configuration, not of the value. */
static int hook_path(const char *v, char *why, size_t n)
{
	struct stat st;
	struct trust_who self;
	if (v[0] != '/')
		return fail(why, n, "'%s' is not an absolute path", v);
	if (stat(v, &st) < 0)
		return fail(why, n, "'%s': %s", v, strerror(errno));
	if (!S_ISREG(st.st_mode) || access(v, X_OK) < 0)
		return fail(why, n, "'%s' is not an executable file", v);
	trust_who_default(&self);
	int r = trust_check(v, TRUST_PROGRAM, &self, why, n);
	return r == -EPERM ? r : r < 0 ? -EINVAL : 0;
}

/* The name of KEY=VALUE, up to eq: 0, or -EINVAL with why naming only
 * the name (the value may be a secret). */
static int env_name(const char *v, const char *eq, char *why, size_t n)
{
	char shown[100], name[100];
	snprintf(name, sizeof(name), "%.*s", (int)(eq - v < 99 ? eq - v : 99), v);
	for (const char *p = v; p < eq; p++)
		if (!(*p == '_' || (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		      (p > v && *p >= '0' && *p <= '9')))
			return fail(why, n, "'%s' is not a variable name", text_escape(name, shown, sizeof(shown), 0));
	if (strncmp(v, "UNDERSTUDY_", 11) == 0 || strncmp(v, "NOTIFY_SOCKET=", 14) == 0)
		return fail(why, n, "'%s' is set by understudy itself", name);
	return 0;
}

static int add_env(struct config *c, const char *v, char *why, size_t n)
{
	const char *eq = strchr(v, '=');
	if (!eq || eq == v)
		return fail(why, n, "'%s' is not KEY=VALUE", v);
	if (env_name(v, eq, why, n) < 0)
		return -EINVAL;
	char **e = realloc(c->env, (c->nenv + 2) * sizeof(*e));
	if (!e)
		return fail(why, n, "out of memory");
	c->env = e;
	if (!(c->env[c->nenv] = (char *)copy(c, v, why, n)))
		return -ENOMEM;
	c->env[++c->nenv] = NULL;
	return 0;
}

/* "exec", "notify", "fd:N", "tcp:ADDRESS:PORT" or "command:CMD ARG...". */
static int set_ready(struct config *c, const char *v, char *why, size_t n)
{
	struct loop_config *r = &c->run;
	long num;
	if (strcmp(v, "exec") == 0) {
		r->ready = LOOP_READY_EXEC;
	} else if (strcmp(v, "notify") == 0) {
		r->ready = LOOP_READY_NOTIFY;
	} else if (strncmp(v, "fd:", 3) == 0) {
		/* 0 to 2 are its standard streams. */
		if (options_int(v + 3, 3, 1023, &num) < 0)
			return fail(why, n, "'%s': the descriptor must be a number from 3 to 1023", v);
		r->ready = LOOP_READY_FD;
		r->ready_fd = (int)num;
	} else if (strncmp(v, "tcp:", 4) == 0) {
		char what[160];
		if (options_address(v + 4, &r->ready_addr, &r->ready_addrlen, what, sizeof(what)) < 0)
			return fail(why, n, "want tcp:ADDRESS:PORT: %s", what);
		r->ready = LOOP_READY_TCP;
	} else if (strncmp(v, "command:", 8) == 0) {
		char **words = config_split(v + 8, why, n);
		if (!words)
			return -EINVAL;
		if (!own(c, (char *)words))
			return fail(why, n, "out of memory");
		r->ready = LOOP_READY_COMMAND;
		r->ready_argv = words;
	} else {
		return fail(why, n, "'%s' is not exec, notify, fd:N, tcp:ADDRESS:PORT or command:COMMAND", v);
	}
	return (c->ready_text = copy(c, v, why, n)) ? 0 : -ENOMEM;
}

static int set(struct config *c, enum config_key k, const char *v, char *why, size_t n)
{
	struct loop_config *r = &c->run;
	long num;
	bool b;
	switch (k) {
	case CK_LOCK:
		if (options_lock_path(v, why, n) < 0)
			return -EINVAL;
		return (r->lock_path = copy(c, v, why, n)) ? 0 : -ENOMEM;
	case CK_LOCK_OWNER: return trust_owner_parse(v, &r->trust, why, n);
	case CK_NAME:
		if (options_name_check(v, why, n) < 0)
			return -EINVAL;
		return (r->name = copy(c, v, why, n)) ? 0 : -ENOMEM;
	case CK_ROLE:
		if (strcmp(v, "primary") == 0)
			r->node.role = LF_ROLE_PRIMARY;
		else if (strcmp(v, "backup") == 0)
			r->node.role = LF_ROLE_BACKUP;
		else
			return fail(why, n, "'%s' is neither primary nor backup", v);
		return 0;
	case CK_ADDRESS:
		if (options_published_address(v, why, n) < 0)
			return -EINVAL;
		return (r->address = copy(c, v, why, n)) ? 0 : -ENOMEM;
	case CK_ALLOW_FAILBACK:
	case CK_FAILOVER_ON_SHUTDOWN:
		if (parse_bool(v, &b) < 0)
			return fail(why, n, "'%s' is not yes or no", v);
		*(k == CK_ALLOW_FAILBACK ? &r->node.allow_failback : &r->node.failover_on_shutdown) = b;
		return 0;
	case CK_LOG_LEVEL:
		if ((c->log_level = log_level_parse(v)) < 0)
			return fail(why, n, "'%s' is not error, warning, info or debug", v);
		return 0;
	case CK_HTTP: {
		struct sockaddr_storage sa;
		socklen_t len;
		if (options_address(v, &sa, &len, why, n) < 0)
			return -EINVAL;
		return (c->http = copy(c, v, why, n)) ? 0 : -ENOMEM;
	}
	case CK_HTTP_TIMEOUT: return duration(v, &c->http_timeout_ms, why, n);
	case CK_METRICS_FILE:
		/* node_exporter reads *.prom files; the name says what it is. */
		if (v[0] != '/')
			return fail(why, n, "'%s' is not an absolute path", v);
		if (strlen(v) < 6 || strcmp(v + strlen(v) - 5, ".prom") != 0)
			return fail(why, n,
				    "'%s' does not end in .prom, which node_exporter's textfile collector reads", v);
		return (c->metrics_file = copy(c, v, why, n)) ? 0 : -ENOMEM;
	case CK_NOTIFY_FD:
		/* 0 to 2 are stdin, stdout and stderr: never a supervisor's pipe. */
		if (options_int(v, 3, INT_MAX, &num) < 0)
			return fail(why, n, "'%s' is not a descriptor number from 3 up", v);
		r->notify_fd = (int)num;
		return 0;
	case CK_COMMAND: {
		char **words = config_split(v, why, n);
		if (!words)
			return -EINVAL;
		if (!own(c, (char *)words) || !(c->command_text = copy(c, v, why, n)))
			return fail(why, n, "out of memory");
		c->command = words;
		return 0;
	}
	case CK_WORKING_DIRECTORY:
		if (v[0] != '/')
			return fail(why, n, "'%s' is not an absolute path", v);
		return (r->workload_as.dir = copy(c, v, why, n)) ? 0 : -ENOMEM;
	case CK_USER: return (c->user = copy(c, v, why, n)) ? 0 : -ENOMEM;
	case CK_GROUP: return (c->group = copy(c, v, why, n)) ? 0 : -ENOMEM;
	case CK_ENVIRONMENT: return add_env(c, v, why, n);
	case CK_ENVIRONMENT_FILE: {
		bool optional = v[0] == '-';
		if (v[optional] != '/')
			return fail(why, n, "'%s' is not an absolute path (with '-' first if it may be missing)", v);
		struct config_env_file *f = realloc(c->env_files, (c->nenv_files + 1) * sizeof(*f));
		if (!f)
			return fail(why, n, "out of memory");
		c->env_files = f;
		const char *path = copy(c, v + optional, why, n);
		if (!path)
			return -ENOMEM;
		c->env_files[c->nenv_files++] = (struct config_env_file){ .path = path, .optional = optional };
		return 0;
	}
	case CK_RESTART:
		if (strcmp(v, "on-failure") == 0)
			r->node.restart = NODE_RESTART_ON_FAILURE;
		else if (strcmp(v, "always") == 0)
			r->node.restart = NODE_RESTART_ALWAYS;
		else if (strcmp(v, "never") == 0)
			r->node.restart = NODE_RESTART_NEVER;
		else
			return fail(why, n, "'%s' is not on-failure, always or never", v);
		return 0;
	case CK_MAX_RESTARTS:
		if (options_int(v, 0, NODE_RESTART_HISTORY, &num) < 0)
			return fail(why, n, "'%s' is not a whole number from 0 to %d", v, NODE_RESTART_HISTORY);
		r->node.max_restarts = (int)num;
		return 0;
	case CK_RESTART_WINDOW: return duration(v, &r->node.restart_window_ms, why, n);
	case CK_STOP_TIMEOUT: return duration(v, &r->stop_timeout_ms, why, n);
	case CK_READY: return set_ready(c, v, why, n);
	case CK_READY_INTERVAL: return duration(v, &r->ready_interval_ms, why, n);
	case CK_READY_TIMEOUT:
		if (strcmp(v, "0") == 0 || strcmp(v, "infinity") == 0) {
			c->ready_timeout_ms = 0;
			return 0;
		}
		return duration(v, &c->ready_timeout_ms, why, n);
	case CK_WATCHDOG_TIMEOUT: return duration(v, &r->watchdog_ms, why, n);
	case CK_CHECK_INTERVAL: return duration(v, &r->check_ms, why, n);
	case CK_HEARTBEAT_INTERVAL: return duration(v, &r->heartbeat_ms, why, n);
	case CK_POLL_INTERVAL: return duration(v, &r->node.poll_ms, why, n);
	case CK_IO_TIMEOUT: return duration(v, &r->io_timeout_ms, why, n);
	case CK_FENCE_TIMEOUT: return duration(v, &r->fence_timeout_ms, why, n);
	case CK_TAKEOVER_DELAY:
		if (strcmp(v, "auto") == 0)
			r->takeover_delay_ms = -1;
		else if (strcmp(v, "0") == 0)
			r->takeover_delay_ms = 0;
		else if ((num = options_duration(v, &r->takeover_delay_ms)) == -ERANGE)
			return fail(why, n, "'%s' is out of range: auto, 0, or a duration from 1ms to 24h", v);
		else if (num < 0)
			return fail(why, n, "'%s' is neither auto nor a duration (like 500ms, 10s, 2m, 1m30s)", v);
		return 0;
	case CK_AFTER_FENCE:
		if (strcmp(v, "rejoin") == 0)
			c->run.rejoin = true;
		else if (strcmp(v, "exit") == 0)
			c->run.rejoin = false;
		else
			return fail(why, n, "'%s' is neither rejoin nor exit", v);
		return 0;
	case CK_ON_LIVE:
	case CK_ON_BACKUP:
	case CK_ON_STOP:
	case CK_ON_FENCE:
	case CK_ON_FAILBACK:
		/* Checked now: a hook found missing at the transition is too late. */
		if ((num = hook_path(v, why, n)) < 0)
			return (int)num;
		return (r->hooks[hook_of[k]] = copy(c, v, why, n)) ? 0 : -ENOMEM;
	case CK_HOOK_TIMEOUT: return duration(v, &r->hook_timeout_ms, why, n);
	case CK_NKEYS: break;
	}
	return fail(why, n, "internal: no such setting");
}

int config_set(struct config *c, enum config_key k, const char *value, char *why, size_t n)
{
	int r = set(c, k, value ? value : "yes", why, n);
	if (r == 0) {
		c->given[k] = true;
		c->line[k] = 0;
	}
	return r;
}

/* --- the file ------------------------------------------------------------ */

struct parse {
	struct config *c;
	const char *path;
	FILE *f;
	int lineno;       /* of the line inih holds now */
	int section_line; /* of the last [section] header */
	bool continued;   /* that line starts with a blank: inih continues the key */
	bool from_cli[CK_NKEYS];
	int seen[CK_NKEYS]; /* the line a key was first given on */
	char *why;
	size_t n;
	int err;
	int err_line; /* the line of err, to report the first of two errors */
};

/* Comments are whole lines: ';' or '#' first on the line (after blanks).
 * inih as built here (Debian's, with its defaults) also ends a value at a
 * ';' after a blank, which cut "sh -c 'a ; b'" in two; the reader hands
 * it each such ';' as this byte instead, and the handler puts the ';'
 * back. A line holding the byte itself is refused, so none is ever the
 * file's own. */
#define HIDDEN_SEMICOLON '\x01'

/* A value as the file has it: the ';' the reader hid put back. */
static char *unhide(const char *s)
{
	char *v = strdup(s);
	for (char *q = v; q && *q; q++)
		if (*q == HIDDEN_SEMICOLON)
			*q = ';';
	return v;
}

/* inih's reader, counting lines so that every message can name one; a
 * line too long for inih's buffer would be cut silently, so it is an
 * error here. */
static char *reader(char *str, int num, void *stream)
{
	struct parse *p = stream;
	if (p->err || !fgets(str, num, p->f))
		return NULL;
	p->lineno++;
	size_t len = strlen(str);
	if (len == (size_t)num - 1 && str[len - 1] != '\n' && !feof(p->f)) {
		p->err_line = p->lineno;
		p->err = fail(p->why, p->n, "%s:%d: line longer than %d bytes", p->path, p->lineno, num - 2);
		return NULL;
	}
	/* The file's own would pass for a hidden ';'. */
	const char *own_byte = memchr(str, HIDDEN_SEMICOLON, len);
	if (own_byte) {
		p->err_line = p->lineno;
		p->err = fail(p->why, p->n, "%s:%d: \\x01 (byte %zu): a control character", p->path, p->lineno,
			      (size_t)(own_byte - str) + 1);
		return NULL;
	}
	const char *first = str + strspn(str, " \t");
	if (*first != ';' && *first != '#')
		for (size_t i = 1; i < len; i++)
			if (str[i] == ';' && (str[i - 1] == ' ' || str[i - 1] == '\t'))
				str[i] = HIDDEN_SEMICOLON;
	p->continued = str[0] == ' ' || str[0] == '\t';
	if (str[strspn(str, " \t")] == '[')
		p->section_line = p->lineno;
	return str;
}

/* What a ';' or '#' after a blank would be to a reader who expects
 * comments at the end of a line: a comment here is a whole line, so such
 * a value is refused rather than taken with the comment in it. The
 * command and a ready probe are split into words, where quotes say what
 * is meant (config_split). */
static int inline_comment(enum config_key k, const char *v, char *why, size_t n)
{
	if (k == CK_COMMAND || (k == CK_READY && strncmp(v, "command:", 8) == 0))
		return 0;
	for (const char *q = v; *q; q++)
		if ((*q == '#' || *q == ';') && (q == v || q[-1] == ' ' || q[-1] == '\t'))
			return fail(why, n,
				    "'%s': a '%c' %s is no comment here: comments go on lines of their own (a line "
				    "that starts with # or ;); refusing the value rather than taking the rest into it",
				    v, *q, q == v ? "first in a value" : "after a blank");
	return 0;
}

static int handler(void *user, const char *section, const char *hidden_name, const char *hidden_value)
{
	struct parse *p = user;
	if (p->err)
		return 0;
	const char *name = own(p->c, unhide(hidden_name)), *value = own(p->c, unhide(hidden_value));
	if (!name || !value) {
		p->err_line = p->lineno;
		p->err = fail(p->why, p->n, "%s: out of memory", p->path);
		return 0;
	}
	char msg[1024];
	enum config_key k = CK_NKEYS;
	bool known_section = false;
	for (int i = 0; i < CK_NKEYS; i++) {
		if (strcmp(config_keys[i].section, section) != 0)
			continue;
		known_section = true;
		if (strcmp(config_keys[i].key, name) == 0)
			k = (enum config_key)i;
	}
	if (!known_section) {
		p->err_line = p->lineno;
		p->err = fail(p->why, p->n,
			      "%s:%d: [%s]: unknown section (known: group, node, workload, fencing, hooks)", p->path,
			      p->section_line ? p->section_line : p->lineno, section);
		return 0;
	}
	if (k == CK_NKEYS) {
		p->err_line = p->lineno;
		p->err = fail(p->why, p->n, "%s:%d: [%s] %s: unknown key", p->path, p->lineno, section, name);
		return 0;
	}
	struct config *c = p->c;
	/* A command or the environment may go on over indented lines; any
	 * other key given twice is a mistake that one value would hide. */
	/* inih continues a key only after one: an indented first line is
	 * a key of its own. */
	bool continuing = p->continued && p->seen[k];
	bool repeats = k == CK_ENVIRONMENT || k == CK_ENVIRONMENT_FILE || (k == CK_COMMAND && continuing);
	if (p->seen[k] && !repeats) {
		p->err_line = p->lineno;
		p->err = fail(p->why, p->n, "%s:%d: [%s] %s: given twice (first on line %d)", p->path, p->lineno,
			      section, name, p->seen[k]);
		return 0;
	}
	if (!p->seen[k])
		p->seen[k] = p->lineno;
	if (p->from_cli[k] && k != CK_ENVIRONMENT && k != CK_ENVIRONMENT_FILE)
		return 1; /* the command line's value stands */
	int r;
	if (inline_comment(k, value, msg, sizeof(msg)) < 0) {
		r = -EINVAL;
	} else if (k == CK_COMMAND && continuing) {
		/* The words go on: split the whole again, joined by a blank. */
		char *all = NULL;
		if (asprintf(&all, "%s %s", c->command_text, value) < 0 || !own(c, all))
			return fail(p->why, p->n, "out of memory"), p->err = -ENOMEM, 0;
		r = set(c, k, all, msg, sizeof(msg));
	} else {
		r = set(c, k, value, msg, sizeof(msg));
	}
	if (r < 0) {
		p->err_line = p->lineno;
		p->err = fail(p->why, p->n, "%s:%d: [%s] %s: %s", p->path, p->lineno, section, name, msg);
		return 0;
	}
	c->given[k] = true;
	c->line[k] = p->lineno;
	if (k == CK_ENVIRONMENT_FILE)
		c->env_files[c->nenv_files - 1].line = p->lineno;
	return 1;
}

/* Open a file the manager takes settings from (a configuration, an
 * environment file): a regular file nobody but root or the manager's user
 * may change, or swap through a directory above it. The walk must find
 * the file that is open, or it judged another. The descriptor, or -errno
 * (-EPERM for the trust rules) with why; st is the open file's. */
static int open_trusted(const char *path, struct stat *st, char *why, size_t n)
{
	/* O_NONBLOCK: a FIFO put there must not hang the start. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0 || fstat(fd, st) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		fail(why, n, "%s: %s", path, strerror(e));
		return -e;
	}
	if (!S_ISREG(st->st_mode)) {
		close(fd);
		fail(why, n, "%s: not a regular file", path);
		return -EINVAL;
	}
	struct trust_who self;
	struct trust_finding tf;
	struct stat again;
	trust_who_default(&self);
	int t = trust_walk(path, TRUST_CONFIG, &self, &tf);
	if (t == -EPERM ||
	    (t == 0 && (stat(path, &again) < 0 || again.st_ino != st->st_ino || again.st_dev != st->st_dev))) {
		close(fd);
		if (t == -EPERM)
			trust_explain(path, &tf, TRUST_CONFIG, &self, why, n);
		else
			fail(why, n, "%s: replaced while it was being opened", path);
		return -EPERM;
	}
	if (t < 0) {
		close(fd);
		fail(why, n, "%s: %s", tf.path, strerror(-t));
		return t;
	}
	return fd;
}

int config_load(struct config *c, const char *path, char *why, size_t n)
{
	struct parse p = { .c = c, .path = path, .why = why, .n = n };
	for (int i = 0; i < CK_NKEYS; i++)
		p.from_cli[i] = c->given[i];
	/* It names what runs as root (trust.h). */
	struct stat st;
	int fd = open_trusted(path, &st, why, n);
	if (fd < 0)
		return fd;
	c->file_mode = st.st_mode & 07777;
	if (!(p.f = fdopen(fd, "r"))) {
		int e = errno;
		close(fd);
		fail(why, n, "%s: %s", path, strerror(e));
		return -e;
	}
	c->file = copy(c, path, why, n);
	int r = ini_parse_stream(reader, &p, handler, &p);
	if (!p.err && ferror(p.f))
		p.err = fail(why, n, "%s: %s", path, strerror(EIO));
	fclose(p.f);
	if (p.err && !(r > 0 && r < p.err_line))
		return p.err;
	if (r > 0)
		return fail(why, n, "%s:%d: neither [section] nor key = value", path, r);
	if (r < 0)
		return fail(why, n, "%s: out of memory", path);
	return 0;
}

/* --- environment files ------------------------------------------------------ */

/* One line of an environment file, as systemd's EnvironmentFile= reads
 * it: KEY=VALUE, blanks around the key and before the value ignored; a
 * value wholly in '...' is taken as it is inside, one wholly in "..." with
 * \" \\ \$ \` unescaped; otherwise the value as written, up to its last
 * non-blank. A message names the line and at most the key: the value may
 * be a secret. */
static int env_line(struct config *c, char *s, char *why, size_t n)
{
	s += strspn(s, " \t");
	char *eq = strchr(s, '=');
	if (!eq || eq == s)
		return fail(why, n, "not KEY=VALUE");
	char *end = eq;
	while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	if (env_name(s, end, why, n) < 0)
		return -EINVAL;
	char *v = eq + 1 + strspn(eq + 1, " \t");
	size_t len = strlen(v);
	while (len && (v[len - 1] == ' ' || v[len - 1] == '\t'))
		v[--len] = '\0';
	if (len && (v[0] == '\'' || v[0] == '"')) {
		char q = v[0], *out = v;
		const char *in = v + 1;
		for (; *in && *in != q; in++) {
			if (q == '"' && *in == '\\' && in[1] && strchr("\"\\$`", in[1]))
				in++;
			*out++ = *in;
		}
		if (*in != q || in[1])
			return fail(why, n, "%.*s: the value's %c quote is not closed at its end", (int)(end - s), s,
				    q);
		*out = '\0';
	}
	char *var = NULL;
	if (asprintf(&var, "%.*s=%s", (int)(end - s), s, v) < 0 || !own(c, var))
		return fail(why, n, "out of memory");
	char **e = realloc(c->file_env, (c->nfile_env + 2) * sizeof(*e));
	if (!e)
		return fail(why, n, "out of memory");
	c->file_env = e;
	c->file_env[c->nfile_env++] = var;
	c->file_env[c->nfile_env] = NULL;
	return 0;
}

/* Read f's variables into c->file_env: 0, -EINVAL or -EPERM with why. */
static int read_env_file(struct config *c, struct config_env_file *f, char *why, size_t n)
{
	struct stat st = { 0 };
	char msg[900];
	int fd = open_trusted(f->path, &st, msg, sizeof(msg));
	if (fd == -ENOENT && f->optional)
		return 0;
	if (fd < 0) {
		fail(why, n, "%s", msg);
		return fd == -EPERM ? -EPERM : -EINVAL;
	}
	/* Its lines are held whole; a file this large is no environment. */
	enum { MAX = 1 << 20 };
	FILE *in = st.st_size > MAX ? NULL : fdopen(fd, "r");
	if (!in) {
		close(fd);
		return fail(why, n, "%s: %s", f->path, st.st_size > MAX ? "larger than 1 MiB" : strerror(errno));
	}
	f->found = true;
	f->mode = st.st_mode & 07777;
	size_t before = c->nfile_env, cap = 0;
	char *line = NULL;
	ssize_t len;
	int r = 0;
	for (int lineno = 1; r == 0 && (len = getline(&line, &cap, in)) >= 0; lineno++) {
		if (memchr(line, '\0', (size_t)len)) {
			r = fail(why, n, "%s:%d: a NUL byte", f->path, lineno);
			break;
		}
		line[strcspn(line, "\r\n")] = '\0';
		const char *first = line + strspn(line, " \t");
		if (!*first || *first == '#' || *first == ';')
			continue;
		if (env_line(c, line, msg, sizeof(msg)) < 0)
			r = fail(why, n, "%s:%d: %s", f->path, lineno, msg);
	}
	if (r == 0 && ferror(in))
		r = fail(why, n, "%s: %s", f->path, strerror(EIO));
	free(line);
	fclose(in);
	f->nvars = c->nfile_env - before;
	return r;
}

/* --- after both sources --------------------------------------------------- */

/* How a message names a setting: as the operator gave it. */
static const char *named(const struct config *c, enum config_key k, char *buf, size_t n)
{
	if (c->line[k])
		snprintf(buf, n, "%s:%d: [%s] %s", c->file, c->line[k], config_keys[k].section, config_keys[k].key);
	else
		snprintf(buf, n, "--%s", config_keys[k].key);
	return buf;
}

static int resolve_ids(struct config *c, char *why, size_t n, enum config_key *bad)
{
	struct supervise_as *as = &c->run.workload_as;
	char a[300];
	if (c->user) {
		errno = 0;
		struct passwd *pw = getpwnam(c->user);
		*bad = CK_USER;
		if (!pw)
			return fail(why, n, "%s: no such user '%s'", named(c, CK_USER, a, sizeof(a)), c->user);
		as->uid = pw->pw_uid;
		as->gid = pw->pw_gid;
		/* The group list is found now: between fork and exec only
		 * async-signal-safe calls may run, and initgroups is none. */
		int ng = 0;
		getgrouplist(c->user, pw->pw_gid, NULL, &ng);
		gid_t *groups = calloc((size_t)ng + 1, sizeof(gid_t));
		if (!groups || !own(c, (char *)groups) || getgrouplist(c->user, pw->pw_gid, groups, &ng) < 0)
			return fail(why, n, "%s: cannot list the groups of '%s'", named(c, CK_USER, a, sizeof(a)),
				    c->user);
		as->groups = groups;
		as->ngroups = ng;
	} else {
		as->uid = geteuid();
		as->gid = getegid();
	}
	if (c->group) {
		*bad = CK_GROUP;
		struct group *gr = getgrnam(c->group);
		if (!gr)
			return fail(why, n, "%s: no such group '%s'", named(c, CK_GROUP, a, sizeof(a)), c->group);
		as->gid = gr->gr_gid;
	}
	bool other = as->uid != geteuid() || as->gid != getegid();
	*bad = c->user ? CK_USER : CK_GROUP;
	if ((c->user || c->group) && geteuid() != 0 && other)
		return fail(why, n, "%s: running the workload as another user or group needs root",
			    named(c, c->user ? CK_USER : CK_GROUP, a, sizeof(a)));
	as->set_ids = (c->user || c->group) && geteuid() == 0;
	return 0;
}

const char *config_host_name(void)
{
	static char host[256];
	if (gethostname(host, sizeof(host)) < 0)
		return NULL;
	host[sizeof(host) - 1] = '\0';
	host[strcspn(host, ".")] = '\0';
	return options_name(host) == 0 ? host : NULL;
}

void config_timeline(const struct config *c, struct timeline_settings *s)
{
	const struct loop_config *r = &c->run;
	timeline_defaults(s);
	s->check_ms = r->check_ms;
	s->heartbeat_ms = r->heartbeat_ms;
	s->poll_ms = r->node.poll_ms;
	s->io_timeout_ms = r->io_timeout_ms;
	s->fence_timeout_ms = r->fence_timeout_ms;
	s->stop_timeout_ms = r->stop_timeout_ms;
	s->takeover_delay_ms = r->takeover_delay_ms;
}

int config_finish(struct config *c, char *why, size_t n, bool *from_file)
{
	struct loop_config *r = &c->run;
	char a[300], b[300];
	*from_file = c->file != NULL;
	if (!r->lock_path)
		return fail(why, n, "%s is required: the group's lock file",
			    c->file ? "[group] lock (or --lock)" : "--lock PATH");
	if (r->node.role == LF_ROLE_NONE)
		return fail(why, n, "%s is required", c->file ? "[node] role (or --role)" : "--role primary|backup");
	if (!r->argv) {
		if (!c->command)
			return fail(why, n, "no workload: %s",
				    c->file ? "give [workload] command, or the command after --"
					    : "give the command after --, as in: run ... -- /usr/bin/app");
		r->argv = c->command;
	}
	if (!r->name) {
		*from_file = false;
		if (!(r->name = config_host_name()))
			return fail(why, n, "--name is required: the host name is unknown or no node name");
	}
	*from_file = c->line[CK_ALLOW_FAILBACK] || c->line[CK_ROLE];
	if (r->node.allow_failback && r->node.role != LF_ROLE_PRIMARY)
		return fail(why, n, "%s is for the primary: a backup has nothing to fail back to",
			    named(c, CK_ALLOW_FAILBACK, a, sizeof(a)));
	/* The relations between the timeouts: one module knows them. */
	struct timeline_settings ts;
	struct timeline_fault tf;
	config_timeline(c, &ts);
	if (timeline_check(&ts, &tf) != TIMELINE_OK) {
		static const enum config_key key_of[TIMELINE_NSETTINGS] = {
			[TIMELINE_CHECK] = CK_CHECK_INTERVAL,    [TIMELINE_HEARTBEAT] = CK_HEARTBEAT_INTERVAL,
			[TIMELINE_POLL] = CK_POLL_INTERVAL,      [TIMELINE_IO] = CK_IO_TIMEOUT,
			[TIMELINE_FENCE] = CK_FENCE_TIMEOUT,     [TIMELINE_STOP] = CK_STOP_TIMEOUT,
			[TIMELINE_TAKEOVER] = CK_TAKEOVER_DELAY,
		};
		const char *names[TIMELINE_NSETTINGS] = { NULL };
		names[tf.a] = named(c, key_of[tf.a], a, sizeof(a));
		names[tf.b] = named(c, key_of[tf.b], b, sizeof(b));
		*from_file = c->line[key_of[tf.a]] || c->line[key_of[tf.b]];
		timeline_explain(&tf, &ts, names, why, n);
		return -EINVAL;
	}
	*from_file = c->line[CK_WATCHDOG_TIMEOUT] || c->line[CK_READY];
	if (r->watchdog_ms && r->ready != LOOP_READY_NOTIFY)
		return fail(why, n, "%s is for a workload that speaks the notify protocol: set ready = notify",
			    named(c, CK_WATCHDOG_TIMEOUT, a, sizeof(a)));
	if (r->ready == LOOP_READY_COMMAND) {
		/* Found now, as the workload is: a probe missing at the
		 * start would only ever time out. */
		char *path;
		int e = supervise_resolve(r->ready_argv[0], &path);
		if (e < 0)
			return fail(why, n, "%s: '%s': %s", named(c, CK_READY, a, sizeof(a)), r->ready_argv[0],
				    strerror(-e));
		if (!own(c, path))
			return fail(why, n, "out of memory");
		r->ready_argv[0] = path;
		/* It runs as root, like a hook, and is checked like one. */
		struct trust_who self;
		char msg[768];
		trust_who_default(&self);
		if (trust_check(path, TRUST_PROGRAM, &self, msg, sizeof(msg)) < 0) {
			fail(why, n, "%s: %s", named(c, CK_READY, a, sizeof(a)), msg);
			return -EPERM;
		}
	}
	/* Exec is ready at once: nothing to time out. */
	r->node.ready_timeout_ms = r->ready == LOOP_READY_EXEC ? 0 : c->ready_timeout_ms;
	enum config_key bad = CK_USER;
	if (resolve_ids(c, why, n, &bad) < 0) {
		*from_file = c->line[bad] != 0;
		return -EINVAL;
	}
	/* Read now, once: a missing secret refuses the node before it joins,
	 * rather than failing each start of the workload once it is live. */
	for (size_t i = 0; i < c->nenv_files; i++) {
		struct config_env_file *f = &c->env_files[i];
		char msg[1024];
		int e = read_env_file(c, f, msg, sizeof(msg));
		if (e < 0) {
			*from_file = f->line != 0;
			if (f->line)
				fail(why, n, "%s:%d: [workload] environment-file: %s", c->file, f->line, msg);
			else
				fail(why, n, "--environment-file: %s", msg);
			return e;
		}
	}
	*from_file = false;
	return 0;
}

int config_warnings(const struct config *c, void (*warn)(const char *line))
{
	char line[1200];
	int count = 0;
	if (c->file && c->line[CK_ENVIRONMENT] && (c->file_mode & S_IROTH)) {
		snprintf(line, sizeof(line),
			 "%s: readable by every user (mode %04o) and it holds [workload] environment values: any "
			 "user of this host can read them. Keep secrets in an environment-file that only root can "
			 "read, or chmod o-r %s",
			 c->file, c->file_mode, c->file);
		warn(line), count++;
	}
	for (size_t i = 0; i < c->nenv_files; i++) {
		const struct config_env_file *f = &c->env_files[i];
		if (f->found && (f->mode & S_IROTH)) {
			snprintf(line, sizeof(line),
				 "environment file %s: readable by every user (mode %04o): any user of this host can "
				 "read its values; chmod o-r %s",
				 f->path, f->mode, f->path);
			warn(line), count++;
		}
	}
	return count;
}

/* --- printing --------------------------------------------------------------- */

static void print_ms(FILE *f, int64_t ms)
{
	if (ms % 1000)
		fprintf(f, "%lldms\n", (long long)ms);
	else
		fprintf(f, "%llds\n", (long long)(ms / 1000));
}

static void print_words(FILE *f, char *const *w)
{
	if (!w || !*w)
		fputc('\n', f);
	for (; w && *w; w++) {
		bool plain = **w && **w != '#' && !strpbrk(*w, " \t\n'\"\\;");
		if (plain) {
			fputs(*w, f);
		} else {
			fputc('\'', f);
			for (const char *p = *w; *p; p++)
				fputs(*p == '\'' ? "'\\''" : (char[]){ *p, 0 }, f);
			fputc('\'', f);
		}
		fputc(w[1] ? ' ' : '\n', f);
	}
}

/* One setting's value as the node runs with it, and a newline. */
static void print_value(const struct config *c, enum config_key k, FILE *f)
{
	static const char *const restart[] = { "on-failure", "always", "never" };
	static const char *const levels[] = {
		[LOGL_ERROR] = "error", [LOGL_WARN] = "warning", [LOGL_INFO] = "info", [LOGL_DEBUG] = "debug"
	};
	const struct loop_config *r = &c->run;
	switch (k) {
	case CK_LOCK: fprintf(f, "%s\n", r->lock_path ? r->lock_path : ""); break;
	case CK_LOCK_OWNER: {
		char o[160];
		trust_owner_format(&r->trust, o, sizeof(o));
		fprintf(f, "%s\n", o);
		break;
	}
	case CK_NAME: fprintf(f, "%s\n", r->name ? r->name : ""); break;
	case CK_ROLE: fprintf(f, "%s\n", lockfile_role_name((uint8_t)r->node.role)); break;
	case CK_ADDRESS: fprintf(f, "%s\n", r->address ? r->address : ""); break;
	case CK_ALLOW_FAILBACK: fprintf(f, "%s\n", r->node.allow_failback ? "yes" : "no"); break;
	case CK_FAILOVER_ON_SHUTDOWN: fprintf(f, "%s\n", r->node.failover_on_shutdown ? "yes" : "no"); break;
	case CK_LOG_LEVEL: fprintf(f, "%s\n", levels[c->log_level]); break;
	case CK_HTTP: fprintf(f, "%s\n", c->http ? c->http : ""); break;
	case CK_HTTP_TIMEOUT: print_ms(f, c->http_timeout_ms); break;
	case CK_METRICS_FILE: fprintf(f, "%s\n", c->metrics_file ? c->metrics_file : ""); break;
	case CK_NOTIFY_FD:
		if (r->notify_fd >= 0)
			fprintf(f, "%d\n", r->notify_fd);
		else
			fputc('\n', f);
		break;
	case CK_COMMAND: print_words(f, r->argv); break;
	case CK_WORKING_DIRECTORY: fprintf(f, "%s\n", r->workload_as.dir ? r->workload_as.dir : ""); break;
	case CK_USER: fprintf(f, "%s\n", c->user ? c->user : ""); break;
	case CK_GROUP: fprintf(f, "%s\n", c->group ? c->group : ""); break;
	case CK_ENVIRONMENT:
		if (c->nenv)
			print_words(f, c->env);
		else
			fputc('\n', f);
		break;
	case CK_ENVIRONMENT_FILE: {
		/* The paths only: the values are the point of the file. */
		char **paths = calloc(c->nenv_files + 1, sizeof(char *));
		for (size_t i = 0; paths && i < c->nenv_files; i++)
			if (asprintf(&paths[i], "%s%s", c->env_files[i].optional ? "-" : "", c->env_files[i].path) < 0)
				paths[i] = NULL;
		if (paths && c->nenv_files && paths[c->nenv_files - 1])
			print_words(f, paths);
		else
			fputc('\n', f);
		for (size_t i = 0; paths && i < c->nenv_files; i++)
			free(paths[i]);
		free(paths);
		break;
	}
	case CK_RESTART: fprintf(f, "%s\n", restart[r->node.restart]); break;
	case CK_MAX_RESTARTS: fprintf(f, "%d\n", r->node.max_restarts); break;
	case CK_RESTART_WINDOW: print_ms(f, r->node.restart_window_ms); break;
	case CK_STOP_TIMEOUT: print_ms(f, r->stop_timeout_ms); break;
	case CK_READY: fprintf(f, "%s\n", c->ready_text); break;
	case CK_READY_INTERVAL: print_ms(f, r->ready_interval_ms); break;
	case CK_READY_TIMEOUT:
		if (c->ready_timeout_ms)
			print_ms(f, c->ready_timeout_ms);
		else
			fputs("0\n", f);
		break;
	case CK_WATCHDOG_TIMEOUT:
		if (r->watchdog_ms)
			print_ms(f, r->watchdog_ms);
		else
			fputc('\n', f);
		break;
	case CK_CHECK_INTERVAL: print_ms(f, r->check_ms); break;
	case CK_HEARTBEAT_INTERVAL: print_ms(f, r->heartbeat_ms); break;
	case CK_POLL_INTERVAL: print_ms(f, r->node.poll_ms); break;
	case CK_IO_TIMEOUT: print_ms(f, r->io_timeout_ms); break;
	case CK_FENCE_TIMEOUT: print_ms(f, r->fence_timeout_ms); break;
	case CK_TAKEOVER_DELAY:
		if (r->takeover_delay_ms < 0)
			fputs("auto\n", f);
		else if (r->takeover_delay_ms == 0)
			fputs("0\n", f); /* "0s" is no duration: those start at 1 ms */
		else
			print_ms(f, r->takeover_delay_ms);
		break;
	case CK_AFTER_FENCE: fputs(c->run.rejoin ? "rejoin\n" : "exit\n", f); break;
	case CK_ON_LIVE:
	case CK_ON_BACKUP:
	case CK_ON_STOP:
	case CK_ON_FENCE:
	case CK_ON_FAILBACK: fprintf(f, "%s\n", r->hooks[hook_of[k]] ? r->hooks[hook_of[k]] : ""); break;
	case CK_HOOK_TIMEOUT: print_ms(f, r->hook_timeout_ms); break;
	case CK_NKEYS: break;
	}
}

void config_print(const struct config *c, FILE *f)
{
	for (int k = 0; k < CK_NKEYS; k++) {
		fprintf(f, "%s.%s = ", config_keys[k].section, config_keys[k].key);
		print_value(c, (enum config_key)k, f);
	}
}

bool config_reloadable(enum config_key k)
{
	switch (k) {
	case CK_FAILOVER_ON_SHUTDOWN:
	case CK_LOG_LEVEL:
	case CK_RESTART:
	case CK_MAX_RESTARTS:
	case CK_RESTART_WINDOW:
	case CK_STOP_TIMEOUT:
	case CK_READY_TIMEOUT:
	case CK_CHECK_INTERVAL:
	case CK_HEARTBEAT_INTERVAL:
	case CK_POLL_INTERVAL:
	case CK_IO_TIMEOUT:
	case CK_FENCE_TIMEOUT:
	case CK_TAKEOVER_DELAY:
	case CK_AFTER_FENCE:
	case CK_ON_LIVE:
	case CK_ON_BACKUP:
	case CK_ON_STOP:
	case CK_ON_FENCE:
	case CK_ON_FAILBACK:
	case CK_HOOK_TIMEOUT: return true;
	default: return false;
	}
}

void config_value(const struct config *c, enum config_key k, char *buf, size_t n)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	buf[0] = '\0';
	if (!f)
		return;
	if (k == CK_ENVIRONMENT) {
		/* The names alone: the values are often secrets, and a log
		 * line is read by more people than the file. */
		for (size_t i = 0; i < c->nenv; i++)
			fprintf(f, "%s%.*s", i ? " " : "", (int)strcspn(c->env[i], "="), c->env[i]);
	} else {
		print_value(c, k, f);
	}
	if (fclose(f) != 0 || !text) {
		free(text);
		return;
	}
	if (len && text[len - 1] == '\n')
		text[len - 1] = '\0';
	text_escape(text, buf, n, 0);
	free(text);
}

void config_free(struct config *c)
{
	for (size_t i = 0; i < c->nowned; i++)
		free(c->owned[i]);
	free(c->owned);
	free(c->env);
	free(c->env_files);
	free(c->file_env);
	c->owned = NULL;
	c->env = NULL;
	c->env_files = NULL;
	c->file_env = NULL;
	c->nowned = c->nenv = c->nenv_files = c->nfile_env = 0;
}

/* --- words ------------------------------------------------------------------ */

char **config_split(const char *s, char *why, size_t n)
{
	/* Words are never longer than the text, and there are never more
	 * than half its length plus one: one allocation holds both. */
	size_t len = strlen(s), maxw = len / 2 + 2;
	char **v = malloc(maxw * sizeof(char *) + len + 1);
	if (!v) {
		fail(why, n, "out of memory");
		return NULL;
	}
	char *out = (char *)(v + maxw);
	size_t nw = 0;
	const char *p = s;
	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == '\n')
			p++;
		if (!*p)
			break;
		v[nw++] = out;
		char quote = 0;
		/* What a shell would take for a comment or the end of a
		 * command is refused, not passed on as words: no shell runs
		 * this, and "app --flag  # why" would get three more. */
		const char *bad = *p == '#' ? "a '#' outside quotes starts no comment here: comments go on lines of "
					      "their own (quote it to pass it on)"
					    : NULL;
		for (; !bad && *p && (quote || (*p != ' ' && *p != '\t' && *p != '\n')); p++) {
			if (*p == ';' && !quote) {
				bad = "';' outside quotes: no shell runs the command, so it ends none (quote it, or "
				      "run "
				      "sh -c '...')";
				break;
			}
			if (*p == '\\' && quote != '\'') {
				if (!p[1])
					break;
				/* In double quotes only these are escapes, as in a shell. */
				if (quote == '"' && !strchr("\"\\$`", p[1]))
					*out++ = '\\';
				*out++ = *++p;
			} else if (*p == '\'' || *p == '"') {
				if (!quote)
					quote = *p;
				else if (quote == *p)
					quote = 0;
				else
					*out++ = *p;
			} else {
				*out++ = *p;
			}
		}
		if (bad) {
			free(v);
			fail(why, n, "%s", bad);
			return NULL;
		}
		if (quote || (*p == '\\' && !p[1])) {
			free(v);
			if (quote)
				fail(why, n, "unterminated %c quote", quote);
			else
				fail(why, n, "a lone \\ at the end");
			return NULL;
		}
		*out++ = '\0';
	}
	if (!nw) {
		free(v);
		fail(why, n, "no command");
		return NULL;
	}
	v[nw] = NULL;
	return v;
}

int config_lock_path(const char *file, char **lock, char **name, struct trust_who *who, char *why, size_t n)
{
	struct config c;
	config_init(&c);
	int r = config_load(&c, file, why, n);
	if (r == 0 && !c.run.lock_path)
		r = fail(why, n, "%s: no [group] lock", file);
	else if (r == 0 && !(*lock = strdup(c.run.lock_path)))
		r = fail(why, n, "out of memory");
	if (r == 0 && who)
		*who = c.run.trust;
	if (r == 0 && name) {
		*name = c.run.name ? strdup(c.run.name) : NULL;
		if (c.run.name && !*name) {
			free(*lock);
			r = fail(why, n, "out of memory");
		}
	}
	config_free(&c);
	return r;
}
