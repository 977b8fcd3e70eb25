/* The settings of `understudy run`: the command line, the INI file under
 * it, the checks across both, and the printed form. Every file is a real
 * one in a fresh temporary directory, read as the node reads it. */
#include "helpers.h"

#include <understudy/config.h>
#include <understudy/log.h>

#include <criterion/criterion.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- fixture ---------------------------------------------------------- */

static char *g_dir;
static struct config g_c;
static char g_why[1024];
static bool g_from_file;
static const char *g_conf; /* the last file written by load() */

/* Paths live until teardown, so that messages can be checked against them. */
#define MAX_PATHS 64
static char *g_paths[MAX_PATHS];
static int g_npaths;

static void setup(void)
{
	g_dir = th_tmpdir();
	g_npaths = 0;
	g_conf = NULL;
	g_why[0] = '\0';
	g_from_file = false;
	config_init(&g_c);
}

static void teardown(void)
{
	config_free(&g_c);
	for (int i = 0; i < g_npaths; i++)
		free(g_paths[i]);
	th_rmtree(g_dir);
	free(g_dir);
}

TestSuite(config, .init = setup, .fini = teardown, .timeout = 30);

/* ---- helpers ---------------------------------------------------------- */

static const char *path_of(const char *name)
{
	cr_assert(g_npaths < MAX_PATHS);
	return g_paths[g_npaths++] = th_path(g_dir, name);
}

static const char *user_name(void)
{
	struct passwd *pw = getpwuid(geteuid());
	cr_assert_not_null(pw, "the test's own user has no name");
	return pw->pw_name;
}

static const char *group_name(void)
{
	struct group *gr = getgrgid(getegid());
	cr_assert_not_null(gr, "the test's own group has no name");
	return gr->gr_name;
}

/* Writes text with @D replaced by the directory, @U by this user and @G by
 * this group; the mode is set explicitly, whatever the umask. */
static const char *write_conf(const char *name, mode_t mode, const char *text)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	cr_assert_not_null(m);
	for (const char *s = text; *s; s++) {
		if (s[0] == '@' && s[1] == 'D')
			fputs(g_dir, m), s++;
		else if (s[0] == '@' && s[1] == 'U')
			fputs(user_name(), m), s++;
		else if (s[0] == '@' && s[1] == 'G')
			fputs(group_name(), m), s++;
		else
			fputc(*s, m);
	}
	cr_assert(fclose(m) == 0);
	const char *p = path_of(name);
	th_write_file(p, buf, len);
	free(buf);
	cr_assert(chmod(p, mode) == 0);
	return p;
}

static int load(const char *text)
{
	g_conf = write_conf("understudy.conf", 0644, text);
	return config_load(&g_c, g_conf, g_why, sizeof(g_why));
}

static void load_ok(const char *text)
{
	int r = load(text);
	cr_assert_eq(r, 0, "config_load: %d: %s", r, g_why);
}

static void cli(enum config_key k, const char *v)
{
	int r = config_set(&g_c, k, v, g_why, sizeof(g_why));
	cr_assert_eq(r, 0, "config_set --%s %s: %d: %s", config_keys[k].key, v ? v : "", r, g_why);
}

static int finish(void) { return config_finish(&g_c, g_why, sizeof(g_why), &g_from_file); }

static void fresh(void)
{
	config_free(&g_c);
	config_init(&g_c);
	g_why[0] = '\0';
}

static const char *hook(const char *name, mode_t mode)
{
	const char *p = path_of(name);
	static const char body[] = "#!/bin/sh\nexit 0\n";
	th_write_file(p, body, sizeof(body) - 1);
	cr_assert(chmod(p, mode) == 0);
	return p;
}

/* Why a fence timeout under two heartbeats is refused (timeline.c). */
#define FENCE_WHY ": one late heartbeat round must not fence a healthy live node"

__attribute__((format(printf, 1, 2))) static void expect_why(const char *fmt, ...)
{
	char want[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(want, sizeof(want), fmt, ap);
	va_end(ap);
	cr_expect_str_eq(g_why, want);
}

static void expect_words(char *const *got, const char *const *want, const char *what)
{
	size_t i = 0;
	cr_assert_not_null(got, "%s: no words", what);
	for (; want[i]; i++) {
		cr_assert_not_null(got[i], "%s: %zu words, wanted more", what, i);
		cr_expect_str_eq(got[i], want[i], "%s: word %zu is [%s], not [%s]", what, i, got[i], want[i]);
	}
	cr_expect_null(got[i], "%s: more than %zu words (next '%s')", what, i, got[i]);
}

static char *print_config(const struct config *c)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	cr_assert_not_null(m);
	config_print(c, m);
	cr_assert(fclose(m) == 0);
	return buf;
}

/* The value printed for k: from after "section.key = " at the start of a
 * line up to the newline before the next key's line, so that a quoted
 * word holding a newline stays whole. */
static char *printed_value(const char *out, enum config_key k)
{
	char head[128];
	snprintf(head, sizeof(head), "%s.%s = ", config_keys[k].section, config_keys[k].key);
	const char *s = out;
	while (s && strncmp(s, head, strlen(head)) != 0)
		s = (s = strchr(s, '\n')) ? s + 1 : NULL;
	cr_assert_not_null(s, "'%s' not printed at the start of a line", head);
	s += strlen(head);
	const char *e = NULL;
	if (k + 1 < CK_NKEYS) {
		char next[130];
		snprintf(next, sizeof(next), "\n%s.%s = ", config_keys[k + 1].section, config_keys[k + 1].key);
		e = strstr(s, next);
	} else {
		e = s + strlen(s) - 1;
	}
	cr_assert_not_null(e, "nothing after %s", head);
	return strndup(s, (size_t)(e - s));
}

/* ---- the file: every value lands ------------------------------------------ */

Test(config, full_file_every_section_and_key_lands)
{
	const char *h[] = { hook("live", 0755), hook("backup", 0755), hook("stop", 0755), hook("fence", 0755),
			    hook("failback", 0755) };
	/* Not the default, so that "auto" has to be applied, not just left. */
	g_c.run.takeover_delay_ms = 1234;
	load_ok("; every setting there is, none at its default\n"
		"[group]\n"
		"lock = @D/group.lock\n"
		"lock-owner = @U:@G\n"
		"\n"
		"[node]\n"
		"name = node-a\n"
		"role = primary\n" /* line 8 */
		"address = 10.0.0.1:5432\n"
		"allow-failback = on\n"
		"failover-on-shutdown = true\n"
		"log-level = debug\n"
		"http = 127.0.0.1:8089\n"
		"http-timeout = 7s\n"
		"metrics-file = /var/lib/node_exporter/app.prom\n"
		"notify-fd = 3\n"
		"\n"
		"[workload]\n"
		"command = /usr/bin/app --flag 'two words' \"say \\\"hi\\\"\" back\\ slash\n"
		"\t--more \"x\\\\y\"\n"
		"working-directory = /srv\n"
		"user = @U\n"
		"group = @G\n"
		"environment = A=1\n"
		"environment = B=two words\n"
		"environment = A=3\n"
		"environment-file = -@D/app.env\n"
		"restart = always\n"
		"max-restarts = 7\n"
		"restart-window = 2m\n"
		"stop-timeout = 1500ms\n"
		"ready = notify\n"
		"ready-interval = 200ms\n"
		"ready-timeout = 3m\n"
		"watchdog-timeout = 20s\n"
		"\n"
		"[fencing]\n"
		"check-interval = 250ms\n"
		"heartbeat-interval = 0.5s\n"
		"poll-interval = 2s\n"
		"io-timeout = 1m\n"
		"fence-timeout = 5s\n"
		"takeover-delay = auto\n"
		"after-fence = exit\n"
		"\n"
		"[hooks]\n"
		"on-live = @D/live\n"
		"on-backup = @D/backup\n"
		"on-stop = @D/stop\n"
		"on-fence = @D/fence\n"
		"on-failback = @D/failback\n"
		"hook-timeout = 1h\n");
	const struct loop_config *r = &g_c.run;
	char *lock = th_path(g_dir, "group.lock");
	cr_expect_str_eq(r->lock_path, lock);
	free(lock);
	cr_expect(r->trust.owner == geteuid() && r->trust.group == getegid() && r->trust.owner_given,
		  "lock-owner is %u:%u", (unsigned)r->trust.owner, (unsigned)r->trust.group);
	cr_expect_str_eq(r->name, "node-a");
	cr_expect_eq(r->node.role, LF_ROLE_PRIMARY);
	cr_expect_str_eq(r->address, "10.0.0.1:5432");
	cr_expect(r->node.allow_failback);
	cr_expect(r->node.failover_on_shutdown);
	cr_expect_eq(g_c.log_level, LOGL_DEBUG);
	cr_expect_str_eq(g_c.http, "127.0.0.1:8089");
	cr_expect_eq(g_c.http_timeout_ms, 7000);
	cr_expect_str_eq(g_c.metrics_file, "/var/lib/node_exporter/app.prom");
	cr_expect_eq(g_c.run.notify_fd, 3);

	static const char *const cmd[] = { "/usr/bin/app", "--flag", "two words", "say \"hi\"",
					   "back slash",   "--more", "x\\y",      NULL };
	expect_words(g_c.command, cmd, "command");
	cr_expect_str_eq(r->workload_as.dir, "/srv");
	cr_expect_str_eq(g_c.user, user_name());
	cr_expect_str_eq(g_c.group, group_name());
	cr_assert_eq(g_c.nenv, 3);
	static const char *const env[] = { "A=1", "B=two words", "A=3", NULL };
	expect_words(g_c.env, env, "environment");
	cr_expect_eq(r->node.restart, NODE_RESTART_ALWAYS);
	cr_expect_eq(r->node.max_restarts, 7);
	cr_expect_eq(r->node.restart_window_ms, 120000);
	cr_expect_eq(r->stop_timeout_ms, 1500);
	cr_expect_eq(r->ready, LOOP_READY_NOTIFY);
	cr_expect_eq(r->ready_interval_ms, 200);
	cr_expect_eq(g_c.ready_timeout_ms, 180000);
	cr_expect_eq(r->watchdog_ms, 20000);

	cr_expect_eq(r->check_ms, 250);
	cr_expect_eq(r->heartbeat_ms, 500);
	cr_expect_eq(r->node.poll_ms, 2000);
	cr_expect_eq(r->io_timeout_ms, 60000);
	cr_expect_eq(r->fence_timeout_ms, 5000);
	cr_expect_eq(r->takeover_delay_ms, -1);
	cr_expect_not(g_c.run.rejoin);

	const enum hook_event ev[] = { HOOK_LIVE, HOOK_BACKUP, HOOK_STOP, HOOK_FENCE, HOOK_FAILBACK };
	for (int i = 0; i < 5; i++)
		cr_expect_str_eq(r->hooks[ev[i]], h[i], "hook %d", i);
	cr_expect_eq(r->hook_timeout_ms, 3600000);

	cr_expect_str_eq(g_c.file, g_conf);
	cr_expect_eq(g_c.line[CK_ROLE], 8, "role is on line 8, not %d", g_c.line[CK_ROLE]);
	for (int k = 0; k < CK_NKEYS; k++) {
		cr_expect(g_c.given[k], "%s not marked given", config_keys[k].key);
		cr_expect_gt(g_c.line[k], 0, "%s has no line", config_keys[k].key);
	}

	cr_assert_eq(finish(), 0, "%s", g_why);
	cr_expect_not(g_from_file);
	cr_expect_eq((void *)r->argv, (void *)g_c.command, "the file's command is what runs");
	cr_expect_eq(r->workload_as.uid, geteuid());
	cr_expect_eq(r->workload_as.gid, getegid());
	cr_expect_eq(r->workload_as.set_ids, geteuid() == 0);
	cr_expect_eq(r->node.ready_timeout_ms, 180000, "a notify workload gets the ready timeout");
}

/* Each way to be ready, and what is wrong with a bad one. */
Test(config, ready_in_every_form)
{
	cr_assert_eq(config_set(&g_c, CK_READY, "fd:5", g_why, sizeof(g_why)), 0, "%s", g_why);
	cr_expect_eq(g_c.run.ready, LOOP_READY_FD);
	cr_expect_eq(g_c.run.ready_fd, 5);
	cr_assert_eq(config_set(&g_c, CK_READY, "tcp:127.0.0.1:8080", g_why, sizeof(g_why)), 0, "%s", g_why);
	cr_expect_eq(g_c.run.ready, LOOP_READY_TCP);
	cr_expect_eq(g_c.run.ready_addr.ss_family, AF_INET);
	cr_assert_eq(config_set(&g_c, CK_READY, "tcp:[::1]:8080", g_why, sizeof(g_why)), 0, "%s", g_why);
	cr_expect_eq(g_c.run.ready_addr.ss_family, AF_INET6);
	cr_assert_eq(config_set(&g_c, CK_READY, "command:true --quick", g_why, sizeof(g_why)), 0, "%s", g_why);
	cr_expect_eq(g_c.run.ready, LOOP_READY_COMMAND);
	cr_expect_str_eq(g_c.run.ready_argv[1], "--quick");
	static const struct {
		const char *value, *why;
	} bad[] = {
		{ "fd:2", "the descriptor must be a number from 3 to 1023" },
		{ "tcp:localhost:80", "want tcp:ADDRESS:PORT" },
		{ "tcp:::1:80", "want tcp:ADDRESS:PORT" },
		{ "tcp:127.0.0.1:0", "want tcp:ADDRESS:PORT" },
		{ "command:'unclosed", "unterminated ' quote" },
		{ "http", "is not exec, notify, fd:N, tcp:ADDRESS:PORT or command:COMMAND" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_expect_eq(config_set(&g_c, CK_READY, bad[i].value, g_why, sizeof(g_why)), -EINVAL, "%s",
			     bad[i].value);
		cr_expect(strstr(g_why, bad[i].why), "%s: '%s' lacks '%s'", bad[i].value, g_why, bad[i].why);
	}
}

Test(config, booleans_in_every_spelling)
{
	static const struct {
		const char *word;
		bool v;
	} t[] = { { "yes", true }, { "no", false },  { "true", true }, { "false", false },
		  { "on", true },  { "off", false }, { "1", true },    { "0", false } };
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		fresh();
		/* The opposite first, so that a value left alone shows. */
		g_c.run.node.allow_failback = g_c.run.node.failover_on_shutdown = !t[i].v;
		char text[128];
		snprintf(text, sizeof(text), "[node]\nallow-failback = %s\nfailover-on-shutdown = %s\n", t[i].word,
			 t[i].word);
		load_ok(text);
		cr_expect_eq(g_c.run.node.allow_failback, t[i].v, "allow-failback = %s", t[i].word);
		cr_expect_eq(g_c.run.node.failover_on_shutdown, t[i].v, "failover-on-shutdown = %s", t[i].word);
	}
}

Test(config, enumerated_values)
{
	static const struct {
		enum config_key k;
		const char *text;
		int64_t want;
	} t[] = {
		{ CK_RESTART, "[workload]\nrestart = on-failure\n", NODE_RESTART_ON_FAILURE },
		{ CK_RESTART, "[workload]\nrestart = always\n", NODE_RESTART_ALWAYS },
		{ CK_RESTART, "[workload]\nrestart = never\n", NODE_RESTART_NEVER },
		{ CK_LOG_LEVEL, "[node]\nlog-level = error\n", LOGL_ERROR },
		{ CK_LOG_LEVEL, "[node]\nlog-level = warning\n", LOGL_WARN },
		{ CK_LOG_LEVEL, "[node]\nlog-level = info\n", LOGL_INFO },
		{ CK_LOG_LEVEL, "[node]\nlog-level = debug\n", LOGL_DEBUG },
		{ CK_TAKEOVER_DELAY, "[fencing]\ntakeover-delay = auto\n", -1 },
		{ CK_TAKEOVER_DELAY, "[fencing]\ntakeover-delay = 0\n", 0 },
		{ CK_TAKEOVER_DELAY, "[fencing]\ntakeover-delay = 250ms\n", 250 },
		{ CK_TAKEOVER_DELAY, "[fencing]\ntakeover-delay = 3s\n", 3000 },
		{ CK_AFTER_FENCE, "[fencing]\nafter-fence = exit\n", 0 },
		{ CK_AFTER_FENCE, "[fencing]\nafter-fence = rejoin\n", 1 },
		{ CK_ROLE, "[node]\nrole = primary\n", LF_ROLE_PRIMARY },
		{ CK_ROLE, "[node]\nrole = backup\n", LF_ROLE_BACKUP },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		fresh();
		/* A sentinel in each, so that only the file can set the value. */
		g_c.run.node.restart = (enum node_restart)77;
		g_c.log_level = 77;
		g_c.run.takeover_delay_ms = 77;
		g_c.run.rejoin = i % 2;
		g_c.run.node.role = (enum lf_role)77;
		load_ok(t[i].text);
		int64_t got = 0;
		switch (t[i].k) {
		case CK_RESTART: got = g_c.run.node.restart; break;
		case CK_LOG_LEVEL: got = g_c.log_level; break;
		case CK_TAKEOVER_DELAY: got = g_c.run.takeover_delay_ms; break;
		case CK_AFTER_FENCE: got = g_c.run.rejoin; break;
		case CK_ROLE: got = g_c.run.node.role; break;
		default: cr_assert_fail("no such case");
		}
		cr_expect_eq(got, t[i].want, "%s gave %lld", t[i].text, (long long)got);
	}
}

Test(config, command_continued_over_indented_lines)
{
	load_ok("[workload]\n"
		"command = /bin/sh -c\n"
		"    'echo one; echo two'\n"
		"\t\"and \\\"three\\\"\"\n"
		"restart = never\n");
	static const char *const want[] = { "/bin/sh", "-c", "echo one; echo two", "and \"three\"", NULL };
	expect_words(g_c.command, want, "command");
	cr_expect_eq(g_c.run.node.restart, NODE_RESTART_NEVER, "the next key is a key again");
}

/* An indented key = value right after its [section] header is a key of
 * its own to inih (nothing precedes it to continue): it must not be
 * joined onto a command that does not exist yet. */
Test(config, indented_command_first_in_its_section)
{
	load_ok("[workload]\n"
		"  command = /bin/true\n");
	static const char *const want[] = { "/bin/true", NULL };
	expect_words(g_c.command, want, "command");
}

/* ---- the command line wins ------------------------------------------------ */

Test(config, command_line_wins_over_the_file)
{
	cli(CK_ROLE, "backup");
	cli(CK_HEARTBEAT_INTERVAL, "2s");
	cli(CK_FAILOVER_ON_SHUTDOWN, NULL);
	cli(CK_ENVIRONMENT, "X=cli");
	load_ok("[node]\n"
		"role = primary\n"
		"failover-on-shutdown = no\n"
		"[workload]\n"
		"environment = Y=file\n"
		"[fencing]\n"
		"heartbeat-interval = 100ms\n"
		"check-interval = 250ms\n");
	cr_expect_eq(g_c.run.node.role, LF_ROLE_BACKUP);
	cr_expect_eq(g_c.run.heartbeat_ms, 2000);
	cr_expect(g_c.run.node.failover_on_shutdown, "a bare flag is yes, and the file's no does not undo it");
	cr_expect_eq(g_c.run.check_ms, 250, "what the command line left alone comes from the file");
	cr_expect_eq(g_c.line[CK_ROLE], 0);
	cr_expect_eq(g_c.line[CK_HEARTBEAT_INTERVAL], 0);
	cr_expect_eq(g_c.line[CK_CHECK_INTERVAL], 8);
	/* The environment adds up rather than being replaced. */
	static const char *const env[] = { "X=cli", "Y=file", NULL };
	expect_words(g_c.env, env, "environment");
}

Test(config, finish_names_the_option_the_command_line_gave)
{
	cli(CK_ALLOW_FAILBACK, NULL);
	cli(CK_ROLE, "backup");
	load_ok("[group]\nlock = @D/l\n"
		"[node]\nname = n1\nrole = primary\nallow-failback = no\n"
		"[workload]\ncommand = /bin/true\n");
	cr_assert_eq(finish(), -EINVAL);
	expect_why("--allow-failback is for the primary: a backup has nothing to fail back to");
	cr_expect_not(g_from_file);
}

Test(config, finish_names_each_setting_where_it_came_from)
{
	cli(CK_FENCE_TIMEOUT, "1s");
	load_ok("[group]\nlock = @D/l\n"
		"[node]\nname = n1\nrole = primary\n"
		"[workload]\ncommand = /bin/true\n"
		"[fencing]\nfence-timeout = 1h\nheartbeat-interval = 1s\n");
	cr_assert_eq(finish(), -EINVAL);
	expect_why("--fence-timeout (1000 ms) must be at least twice %s:10: [fencing] heartbeat-interval (1000 "
		   "ms)" FENCE_WHY,
		   g_conf);
	cr_expect(g_from_file, "the heartbeat-interval it names is the file's");
}

/* ---- the file: what is refused -------------------------------------------- */

static void refused(const char *text, int rc)
{
	int r = load(text);
	cr_expect_eq(r, rc, "config_load gave %d, not %d: %s", r, rc, g_why);
}

/* ---- what the node publishes and where the group is (issue 14) ------------ */

/* Under systemd the working directory is /: a relative lock path names a
 * file of each host's own, and every host would run the workload. */
Test(config, relative_lock_path_refused_from_the_file_and_the_command_line)
{
	int r = load("[group]\nlock = a.lock\n");
	cr_expect_eq(r, -EINVAL, "config_load gave %d: %s", r, g_why);
	expect_why("%s:2: [group] lock: 'a.lock' is not an absolute path: each host would lock a file of its own "
		   "(relative to its working directory, / under systemd)",
		   g_conf);
	cr_expect_null(g_c.run.lock_path, "the refused path was kept");
	fresh();
	static const char *const bad[] = { "a.lock", "./a.lock", "../shared/a.lock", "", "~/a.lock" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_expect_eq(config_set(&g_c, CK_LOCK, bad[i], g_why, sizeof(g_why)), -EINVAL, "'%s' accepted", bad[i]);
		cr_expect(strstr(g_why, "is not an absolute path"), "'%s': %s", bad[i], g_why);
	}
	cli(CK_LOCK, "/srv/shared/app.lock");
	cr_expect_str_eq(g_c.run.lock_path, "/srv/shared/app.lock");
	/* The other commands read the path through config_lock_path. */
	const char *conf = write_conf("rel.conf", 0644, "[group]\nlock = a.lock\n[node]\nname = n1\n");
	char *lock = NULL, *name = NULL;
	struct trust_who who;
	cr_expect_eq(config_lock_path(conf, &lock, &name, &who, g_why, sizeof(g_why)), -EINVAL);
	cr_expect(strstr(g_why, ":2: [group] lock: 'a.lock' is not an absolute path"), "%s", g_why);
	cr_expect_null(lock);
}

Test(config, lock_path_with_a_control_character_refused)
{
	cr_expect_eq(config_set(&g_c, CK_LOCK, "/srv/a\n.lock", g_why, sizeof(g_why)), -EINVAL);
	expect_why("'/srv/a\\x0a.lock': \\x0a (byte 7) is not allowed in a lock path (a control character)");
	/* UTF-8 is a path like any other. */
	cli(CK_LOCK, "/srv/donn\xc3\xa9"
		     "es/app.lock");
}

Test(config, address_must_be_printable_ascii_without_blanks)
{
	static const struct {
		const char *value, *why;
	} bad[] = {
		{ "10.0.0.1\033[2J", "'10.0.0.1\\x1b[2J': \\x1b (byte 9) is not allowed in an address: printable ASCII "
				     "without blanks" },
		{ "a\nb", "'a\\x0ab': \\x0a (byte 2) is not allowed in an address: printable ASCII without blanks" },
		{ "h\xc3\xa9:1",
		  "'h\\xc3\\xa9:1': \\xc3 (byte 2) is not allowed in an address: printable ASCII without "
		  "blanks" },
		{ "a b", "'a b': ' ' (byte 2) is not allowed in an address: printable ASCII without blanks" },
		{ "x\x7f", "'x\\x7f': \\x7f (byte 2) is not allowed in an address: printable ASCII without blanks" },
		{ "0123456789012345678901234567890123456789012345678901234567890123",
		  "'0123456789012345678901234567890123456789012345678901234567890123' is longer than 63 bytes" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_expect_eq(config_set(&g_c, CK_ADDRESS, bad[i].value, g_why, sizeof(g_why)), -EINVAL, "'%s' accepted",
			     bad[i].why);
		cr_expect_str_eq(g_why, bad[i].why);
		cr_expect_null(g_c.run.address);
	}
	/* From the file: its line and key, the byte shown. */
	refused("[node]\nrole = primary\naddress = 10.0.0.1:5672\033]0;x\007\n", -EINVAL);
	expect_why("%s:3: [node] address: '10.0.0.1:5672\\x1b]0;x\\x07': \\x1b (byte 14) is not allowed in an "
		   "address: printable ASCII without blanks",
		   g_conf);
	fresh();
	static const char *const good[] = { "", "10.0.0.1:5672", "[::1]:80", "amqp://broker-a:5672/vhost?x=1", "a\\b" };
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		cli(CK_ADDRESS, good[i]);
}

Test(config, name_refusal_shows_the_byte)
{
	cr_expect_eq(config_set(&g_c, CK_NAME, "node\nlive: x", g_why, sizeof(g_why)), -EINVAL);
	expect_why("'node\\x0alive: x': \\x0a (byte 5) is not allowed in a node name: 1 to 63 letters, digits or "
		   ". - _ @ :");
	refused("[node]\nname = a\033[2J\n", -EINVAL);
	expect_why("%s:2: [node] name: 'a\\x1b[2J': \\x1b (byte 2) is not allowed in a node name: 1 to 63 letters, "
		   "digits or . - _ @ :",
		   g_conf);
	fresh();
	cr_expect_eq(config_set(&g_c, CK_NAME, "", g_why, sizeof(g_why)), -EINVAL);
	expect_why("'' is not a node name: 1 to 63 letters, digits or . - _ @ :");
}

Test(config, unknown_key)
{
	refused("[node]\nrole = primary\nbogus = 1\n", -EINVAL);
	expect_why("%s:3: [node] bogus: unknown key", g_conf);
}

Test(config, key_of_another_section_is_unknown_here)
{
	refused("[workload]\nrestart = never\n\nrole = primary\n", -EINVAL);
	expect_why("%s:4: [workload] role: unknown key", g_conf);
}

Test(config, unknown_section)
{
	refused("[node]\nrole = primary\n\n[extra]\n; a comment\nkey = 1\n", -EINVAL);
	expect_why("%s:4: [extra]: unknown section (known: group, node, workload, fencing, hooks)", g_conf);
}

/* A key before any [section]: no header names a line, so the message
 * names the key's own. */
Test(config, key_before_any_section)
{
	refused("role = primary\n", -EINVAL);
	expect_why("%s:1: []: unknown section (known: group, node, workload, fencing, hooks)", g_conf);
}

Test(config, key_given_twice_names_both_lines)
{
	refused("[node]\nrole = primary\nname = n1\nrole = backup\n", -EINVAL);
	expect_why("%s:4: [node] role: given twice (first on line 2)", g_conf);
}

Test(config, key_given_twice_even_when_the_command_line_gave_it)
{
	cli(CK_ROLE, "primary");
	refused("[node]\nrole = primary\n[fencing]\n[node]\nrole = primary\n", -EINVAL);
	expect_why("%s:5: [node] role: given twice (first on line 2)", g_conf);
}

Test(config, bad_duration)
{
	refused("[fencing]\ncheck-interval = 1s\nheartbeat-interval = 10x\n", -EINVAL);
	expect_why("%s:3: [fencing] heartbeat-interval: '10x' is not a duration (like 500ms, 10s, 2m, 1m30s)", g_conf);
}

Test(config, duration_out_of_range_names_the_range)
{
	refused("[workload]\nstop-timeout = 0\n", -EINVAL);
	expect_why("%s:2: [workload] stop-timeout: '0' is out of range: a duration is from 1ms to 24h", g_conf);
}

Test(config, compound_durations)
{
	load_ok("[workload]\nstop-timeout = 1m30s\n");
	cr_expect_eq(g_c.run.stop_timeout_ms, 90000);
}

Test(config, bad_takeover_delay)
{
	refused("[fencing]\ntakeover-delay = soon\n", -EINVAL);
	expect_why("%s:2: [fencing] takeover-delay: 'soon' is neither auto nor a duration (like 500ms, 10s, 2m, 1m30s)",
		   g_conf);
}

Test(config, bad_role)
{
	refused("[node]\nrole = leader\n", -EINVAL);
	expect_why("%s:2: [node] role: 'leader' is neither primary nor backup", g_conf);
	cr_expect_eq(g_c.run.node.role, LF_ROLE_NONE);
}

Test(config, bad_bool)
{
	refused("[node]\nrole = primary\nallow-failback = maybe\n", -EINVAL);
	expect_why("%s:3: [node] allow-failback: 'maybe' is not yes or no", g_conf);
}

Test(config, bad_restart_and_log_level)
{
	refused("[workload]\nrestart = sometimes\n", -EINVAL);
	expect_why("%s:2: [workload] restart: 'sometimes' is not on-failure, always or never", g_conf);
	fresh();
	refused("[node]\nlog-level = loud\n", -EINVAL);
	expect_why("%s:2: [node] log-level: 'loud' is not error, warning, info or debug", g_conf);
}

/* inih's buffer is 200 bytes: 198 of text, the newline and the NUL. */
Test(config, line_longer_than_inih_buffer)
{
	char line[512];
	int n = snprintf(line, sizeof(line), "[workload]\ncommand = /");
	memset(line + n, 'x', 198 - 11);
	snprintf(line + n + 198 - 11, sizeof(line) - (size_t)n - 187, "\nrestart = never\n");
	load_ok(line);
	cr_assert_not_null(g_c.command);
	cr_expect_eq(strlen(g_c.command[0]), 188, "the longest line that fits is read whole");
	cr_expect_eq(g_c.run.node.restart, NODE_RESTART_NEVER);

	fresh();
	memset(line + n, 'x', 199 - 11);
	snprintf(line + n + 199 - 11, sizeof(line) - (size_t)n - 188, "\nrestart = never\n");
	refused(line, -EINVAL);
	expect_why("%s:2: line longer than 198 bytes", g_conf);
	cr_expect_null(g_c.command, "no part of a cut line is used");
}

Test(config, line_neither_section_nor_key_value)
{
	refused("[node]\nrole = primary\njust some words\n", -EINVAL);
	expect_why("%s:3: neither [section] nor key = value", g_conf);
	fresh();
	refused("[node\n", -EINVAL);
	expect_why("%s:1: neither [section] nor key = value", g_conf);
}

Test(config, missing_file)
{
	const char *p = path_of("nope.conf");
	cr_expect_eq(config_load(&g_c, p, g_why, sizeof(g_why)), -ENOENT);
	expect_why("%s: %s", p, strerror(ENOENT));
}

Test(config, directory_is_no_file)
{
	cr_expect_eq(config_load(&g_c, g_dir, g_why, sizeof(g_why)), -EINVAL);
	expect_why("%s: not a regular file", g_dir);
}

Test(config, file_writable_by_others_refused)
{
	const char *p = write_conf("open.conf", 0646, "[node]\nrole = primary\n");
	cr_expect_eq(config_load(&g_c, p, g_why, sizeof(g_why)), -EPERM);
	expect_why("%s: writable by every user (owner %s, group %s, mode 0646): refusing to use it", p, user_name(),
		   group_name());
	cr_expect_eq(g_c.run.node.role, LF_ROLE_NONE, "nothing read from it");
	/* Writable by its group: by every member of it, whom the manager
	 * does not know. */
	fresh();
	p = write_conf("group.conf", 0664, "[node]\nrole = primary\n");
	cr_expect_eq(config_load(&g_c, p, g_why, sizeof(g_why)), -EPERM);
	expect_why("%s: writable by the members of group %s (owner %s, group %s, mode 0664): refusing to use it", p,
		   group_name(), user_name(), group_name());
	cr_expect_eq(g_c.run.node.role, LF_ROLE_NONE, "nothing read from it");
	/* Readable by all is fine: it holds no secret the manager keeps. */
	fresh();
	p = write_conf("read.conf", 0644, "[node]\nrole = primary\n");
	cr_expect_eq(config_load(&g_c, p, g_why, sizeof(g_why)), 0, "%s", g_why);
}

/* Another user's file, even one only it may write, is that user's to
 * change: refused when root reads it. Needs root to give it away. */
Test(config, file_of_another_user_refused)
{
	if (geteuid() != 0) {
		cr_skip_test("needs root to give a file to another user");
		return;
	}
	const char *p = write_conf("theirs.conf", 0600, "[node]\nrole = primary\n");
	cr_assert_eq(chown(p, 65534, 65534), 0);
	cr_expect_eq(config_load(&g_c, p, g_why, sizeof(g_why)), -EPERM);
	char owner[64];
	struct passwd *pw = getpwuid(65534);
	snprintf(owner, sizeof(owner), "%s", pw ? pw->pw_name : "uid 65534");
	cr_expect(strstr(g_why, p) && strstr(g_why, "owned by ") && strstr(g_why, owner) &&
			  strstr(g_why, "mode 0600), not by root: refusing to use it"),
		  "%s", g_why);
	cr_expect_eq(g_c.run.node.role, LF_ROLE_NONE, "nothing read from it");
}

/* In a directory every user may write (not sticky), anyone could swap
 * the file for their own between two starts. */
Test(config, file_in_a_directory_others_may_write_refused)
{
	char *open_dir = th_path(g_dir, "open");
	cr_assert_eq(mkdir(open_dir, 0777), 0);
	cr_assert_eq(chmod(open_dir, 0777), 0);
	char *p = th_path(open_dir, "a.conf");
	th_write_file(p, "[node]\nrole = primary\n", 22);
	cr_assert_eq(chmod(p, 0600), 0);
	cr_expect_eq(config_load(&g_c, p, g_why, sizeof(g_why)), -EPERM);
	expect_why("%s: the directory %s is writable by every user (owner %s, group %s, mode 0777), who could swap "
		   "it: refusing to use it",
		   p, open_dir, user_name(), group_name());
	free(p);
	free(open_dir);
}

Test(config, lock_owner_parsed_and_refused)
{
	cli(CK_LOCK_OWNER, "0:0");
	cr_expect(g_c.run.trust.owner == 0 && g_c.run.trust.group == 0 && g_c.run.trust.owner_given);
	fresh();
	cli(CK_LOCK_OWNER, "root");
	cr_expect(g_c.run.trust.owner == 0 && g_c.run.trust.group == 0);
	fresh();
	cr_expect_eq(config_set(&g_c, CK_LOCK_OWNER, "understudy-no-such-user", g_why, sizeof(g_why)), -EINVAL);
	expect_why("no such user 'understudy-no-such-user'");
	cr_expect_eq(config_set(&g_c, CK_LOCK_OWNER, "root:understudy-no-such-user", g_why, sizeof(g_why)), -EINVAL);
	expect_why("no such group 'understudy-no-such-user'");
	cr_expect_eq(config_set(&g_c, CK_LOCK_OWNER, "root:", g_why, sizeof(g_why)), -EINVAL);
	expect_why("'root:' is not USER or USER:GROUP");
	cr_expect_eq(config_set(&g_c, CK_LOCK_OWNER, "4000000", g_why, sizeof(g_why)), -EINVAL);
	expect_why("uid 4000000 has no entry in the user database: give its group too (USER:GROUP)");
	cr_expect_eq(config_set(&g_c, CK_LOCK_OWNER, "4000000:4000001", g_why, sizeof(g_why)), 0, "%s", g_why);
	cr_expect(g_c.run.trust.owner == 4000000 && g_c.run.trust.group == 4000001);
}

/* ---- config_finish ---------------------------------------------------------- */

/* A file with everything a node needs but the parts named by leaving them
 * out; "lock", "role" and "command" pick which stay in. */
static const char *const part_lock = "[group]\nlock = @D/l\n";
static const char *const part_role = "[node]\nname = n1\nrole = primary\n";
static const char *const part_command = "[workload]\ncommand = /bin/true\n";

static void load_parts(const char *a, const char *b)
{
	char text[512];
	snprintf(text, sizeof(text), "%s%s", a, b);
	load_ok(text);
}

Test(config, finish_missing_lock)
{
	load_parts(part_role, part_command);
	cr_expect_eq(finish(), -EINVAL);
	expect_why("[group] lock (or --lock) is required: the group's lock file");
	cr_expect(g_from_file);

	fresh();
	cli(CK_ROLE, "primary");
	cli(CK_NAME, "n1");
	char *argv[] = { "/bin/true", NULL };
	g_c.run.argv = argv;
	cr_expect_eq(finish(), -EINVAL);
	expect_why("--lock PATH is required: the group's lock file");
	cr_expect_not(g_from_file);
}

Test(config, finish_missing_role)
{
	load_parts(part_lock, part_command);
	cr_expect_eq(finish(), -EINVAL);
	expect_why("[node] role (or --role) is required");
	cr_expect(g_from_file);

	fresh();
	cli(CK_LOCK, "/x/l");
	char *argv[] = { "/bin/true", NULL };
	g_c.run.argv = argv;
	cr_expect_eq(finish(), -EINVAL);
	expect_why("--role primary|backup is required");
	cr_expect_not(g_from_file);
}

Test(config, finish_missing_command)
{
	load_parts(part_lock, part_role);
	cr_expect_eq(finish(), -EINVAL);
	expect_why("no workload: give [workload] command, or the command after --");
	cr_expect(g_from_file);

	fresh();
	cli(CK_LOCK, "/x/l");
	cli(CK_ROLE, "primary");
	cr_expect_eq(finish(), -EINVAL);
	expect_why("no workload: give the command after --, as in: run ... -- /usr/bin/app");
	cr_expect_not(g_from_file);
}

Test(config, finish_command_line_words_run_over_the_file_command)
{
	char *argv[] = { "/bin/echo", "cli", NULL };
	g_c.run.argv = argv;
	load_ok("[group]\nlock = @D/l\n[node]\nname = n1\nrole = primary\n[workload]\ncommand = /bin/false\n");
	cr_assert_eq(finish(), 0, "%s", g_why);
	cr_expect_eq((void *)g_c.run.argv, (void *)argv);
}

Test(config, finish_allow_failback_on_a_backup)
{
	load_ok("[group]\nlock = @D/l\n[node]\nname = n1\nrole = backup\nallow-failback = yes\n"
		"[workload]\ncommand = /bin/true\n");
	cr_expect_eq(finish(), -EINVAL);
	expect_why("%s:6: [node] allow-failback is for the primary: a backup has nothing to fail back to", g_conf);
	cr_expect(g_from_file);

	fresh();
	cli(CK_LOCK, "/x/l");
	cli(CK_NAME, "n1");
	cli(CK_ROLE, "backup");
	cli(CK_ALLOW_FAILBACK, "yes");
	char *argv[] = { "/bin/true", NULL };
	g_c.run.argv = argv;
	cr_expect_eq(finish(), -EINVAL);
	expect_why("--allow-failback is for the primary: a backup has nothing to fail back to");
	cr_expect_not(g_from_file);
}

static void cli_base(void)
{
	cli(CK_LOCK, "/x/l");
	cli(CK_NAME, "n1");
	cli(CK_ROLE, "primary");
	static char *argv[] = { "/bin/true", NULL };
	g_c.run.argv = argv;
}

Test(config, finish_check_interval_over_heartbeat)
{
	load_ok("[group]\nlock = @D/l\n[node]\nname = n1\nrole = primary\n[workload]\ncommand = /bin/true\n"
		"[fencing]\ncheck-interval = 2s\nheartbeat-interval = 1500ms\n");
	cr_expect_eq(finish(), -EINVAL);
	expect_why("%s:9: [fencing] check-interval (2000 ms) must not exceed %s:10: [fencing] heartbeat-interval "
		   "(1500 ms): the heartbeat is written on a check",
		   g_conf, g_conf);
	cr_expect(g_from_file);

	fresh();
	cli_base();
	cli(CK_CHECK_INTERVAL, "2s");
	cr_expect_eq(finish(), -EINVAL);
	expect_why(
		"--check-interval (2000 ms) must not exceed --heartbeat-interval (1000 ms): the heartbeat is written "
		"on a check");
	cr_expect_not(g_from_file);

	/* Equal is allowed: the heartbeat goes at most once a check. */
	fresh();
	cli_base();
	cli(CK_CHECK_INTERVAL, "1s");
	cr_expect_eq(finish(), 0, "%s", g_why);
}

Test(config, finish_fence_timeout_under_two_heartbeats)
{
	load_ok("[group]\nlock = @D/l\n[node]\nname = n1\nrole = primary\n[workload]\ncommand = /bin/true\n"
		"[fencing]\nfence-timeout = 1999ms\n");
	cr_expect_eq(finish(), -EINVAL);
	expect_why("%s:9: [fencing] fence-timeout (1999 ms) must be at least twice --heartbeat-interval (1000 "
		   "ms)" FENCE_WHY,
		   g_conf);
	cr_expect(g_from_file);

	fresh();
	cli_base();
	cli(CK_FENCE_TIMEOUT, "1999ms");
	cr_expect_eq(finish(), -EINVAL);
	expect_why("--fence-timeout (1999 ms) must be at least twice --heartbeat-interval (1000 ms)" FENCE_WHY);
	cr_expect_not(g_from_file);

	fresh();
	cli_base();
	cli(CK_FENCE_TIMEOUT, "2s");
	cr_expect_eq(finish(), 0, "exactly twice is enough: %s", g_why);
}

#define NO_USER "understudy-no-such-user"
#define NO_GROUP "understudy-no-such-group"

Test(config, finish_unknown_user)
{
	cr_assert_null(getpwnam(NO_USER));
	load_ok("[group]\nlock = @D/l\n[node]\nname = n1\nrole = primary\n[workload]\ncommand = /bin/true\n"
		"user = " NO_USER "\n");
	cr_expect_eq(finish(), -EINVAL);
	expect_why("%s:8: [workload] user: no such user '" NO_USER "'", g_conf);
	cr_expect(g_from_file);

	fresh();
	cli_base();
	cli(CK_USER, NO_USER);
	cr_expect_eq(finish(), -EINVAL);
	expect_why("--user: no such user '" NO_USER "'");
	cr_expect_not(g_from_file);
}

Test(config, finish_unknown_group)
{
	cr_assert_null(getgrnam(NO_GROUP));
	load_ok("[group]\nlock = @D/l\n[node]\nname = n1\nrole = primary\n[workload]\ncommand = /bin/true\n"
		"group = " NO_GROUP "\n");
	cr_expect_eq(finish(), -EINVAL);
	expect_why("%s:8: [workload] group: no such group '" NO_GROUP "'", g_conf);
	cr_expect(g_from_file);

	fresh();
	cli_base();
	cli(CK_GROUP, NO_GROUP);
	cr_expect_eq(finish(), -EINVAL);
	expect_why("--group: no such group '" NO_GROUP "'");
	cr_expect_not(g_from_file);
}

/* An unknown --user on the command line with a good group in the file is
 * the command line's mistake: from_file false, so run exits 64, not 78. */
Test(config, finish_unknown_cli_user_is_not_the_files_fault)
{
	cr_assert_null(getpwnam(NO_USER));
	cli(CK_USER, NO_USER);
	load_ok("[group]\nlock = @D/l\n[node]\nname = n1\nrole = primary\n[workload]\ncommand = /bin/true\n"
		"group = @G\n");
	cr_expect_eq(finish(), -EINVAL);
	expect_why("--user: no such user '" NO_USER "'");
	cr_expect_not(g_from_file, "the only setting named came from the command line");
}

/* ---- hooks ------------------------------------------------------------------ */

/* want: the message, "%s" standing for the path. */
#define hook_refused(path, want_fmt)                                                                                   \
	do {                                                                                                           \
		const char *hp_ = (path);                                                                              \
		char hw_[1024];                                                                                        \
		snprintf(hw_, sizeof(hw_), want_fmt, hp_);                                                             \
		hook_refused_(hp_, hw_);                                                                               \
	} while (0)

static void hook_refused_code(const char *path, const char *want, int code)
{
	int r = config_set(&g_c, CK_ON_FENCE, path, g_why, sizeof(g_why));
	cr_expect_eq(r, code, "--on-fence %s: %d, want %d", path, r, code);
	cr_expect_str_eq(g_why, want);
	cr_expect_null(g_c.run.hooks[HOOK_FENCE]);
	cr_expect_not(g_c.given[CK_ON_FENCE]);

	/* The same from the file, with the file's place in front. */
	fresh();
	char text[600];
	snprintf(text, sizeof(text), "[hooks]\n\non-fence = %s\n", path);
	cr_expect_eq(load(text), -EINVAL, "on-fence = %s accepted", path);
	char want_file[1400];
	snprintf(want_file, sizeof(want_file), "%s:3: [hooks] on-fence: %s", g_conf, want);
	cr_expect_str_eq(g_why, want_file);
	cr_expect_null(g_c.run.hooks[HOOK_FENCE]);
	fresh();
}

static void hook_refused_(const char *path, const char *want) { hook_refused_code(path, want, -EINVAL); }

Test(config, hook_relative_path_refused) { hook_refused("hooks/fence.sh", "'%s' is not an absolute path"); }

Test(config, hook_missing_file_refused)
{
	const char *p = path_of("absent.sh");
	char want[1024];
	snprintf(want, sizeof(want), "'%s': %s", p, strerror(ENOENT));
	hook_refused_(p, want);
}

Test(config, hook_directory_refused) { hook_refused(g_dir, "'%s' is not an executable file"); }

Test(config, hook_not_executable_refused) { hook_refused(hook("plain.sh", 0644), "'%s' is not an executable file"); }

/* A hook another user could change: -EPERM, which run turns into 78. */
Test(config, hook_world_writable_refused)
{
	const char *p = hook("open.sh", 0757);
	char want[1024];
	snprintf(want, sizeof(want),
		 "'%s' is writable by every user (owner %s, group %s, mode 0757): refusing to run it", p, user_name(),
		 group_name());
	hook_refused_code(p, want, -EPERM);
	p = hook("group.sh", 0775);
	snprintf(want, sizeof(want),
		 "'%s' is writable by the members of group %s (owner %s, group %s, mode 0775): refusing to run it", p,
		 group_name(), user_name(), group_name());
	hook_refused_code(p, want, -EPERM);
}

Test(config, hook_of_another_user_refused)
{
	if (geteuid() != 0) {
		cr_skip_test("needs root to give a file to another user");
		return;
	}
	const char *p = hook("theirs.sh", 0755);
	cr_assert_eq(chown(p, 65534, 0), 0);
	struct passwd *pw = getpwuid(65534);
	char want[1024];
	snprintf(want, sizeof(want), "'%s' is owned by %s (group root, mode 0755), not by root: refusing to run it", p,
		 pw ? pw->pw_name : "uid 65534");
	hook_refused_code(p, want, -EPERM);
}

/* The probe command runs as root like a hook, and is held to the same. */
Test(config, ready_command_others_may_write_refused)
{
	const char *p = hook("probe.sh", 0757);
	char text[700];
	snprintf(text, sizeof(text), "%s%s[workload]\ncommand = /bin/true\nready = command:%s --port 1\n", part_lock,
		 part_role, p);
	load_ok(text);
	cr_expect_eq(finish(), -EPERM);
	expect_why(
		"%s:8: [workload] ready: '%s' is writable by every user (owner %s, group %s, mode 0757): refusing to "
		"run it",
		g_conf, p, user_name(), group_name());
	cr_expect(g_from_file);
}

Test(config, hook_good_script_accepted)
{
	const char *p = hook("good.sh", 0755);
	cli(CK_ON_LIVE, p);
	cr_expect_str_eq(g_c.run.hooks[HOOK_LIVE], p);
	for (int e = 0; e < HOOK_NEVENTS; e++)
		if (e != HOOK_LIVE)
			cr_expect_null(g_c.run.hooks[e], "hook %d set too", e);

	fresh();
	char text[600];
	snprintf(text, sizeof(text), "[hooks]\non-failback = %s\n", p);
	load_ok(text);
	cr_expect_str_eq(g_c.run.hooks[HOOK_FAILBACK], p);
	cr_expect_null(g_c.run.hooks[HOOK_LIVE]);
}

/* ---- config_split ------------------------------------------------------------ */

#define W(...)                                                                                                         \
	(const char *const[]) { __VA_ARGS__, NULL }

Test(config, split_words_as_a_shell_would)
{
	const struct {
		const char *in;
		const char *const *want;
	} t[] = {
		{ "/bin/true", W("/bin/true") },
		{ "a b c", W("a", "b", "c") },
		{ "  a\t\tb   \t c  ", W("a", "b", "c") },
		{ "a\nb", W("a", "b") },
		{ "'a b' c", W("a b", "c") },
		{ "'a\\b' '\"x\"'", W("a\\b", "\"x\"") },
		{ "\"say \\\"hi\\\"\"", W("say \"hi\"") },
		{ "\"a\\\\b\"", W("a\\b") },
		{ "\"a\\nb \\$x \\`y\\`\"", W("a\\nb $x `y`") },
		{ "\"it's\"", W("it's") },
		{ "a\\ b \\'c\\\" \\\\", W("a b", "'c\"", "\\") },
		{ "a'b c'\"d e\"f", W("ab cd ef") },
		{ "'a'\"b\"c 'd'", W("abc", "d") },
		{ "'' x \"\"", W("", "x", "") },
		{ "'a\tb'", W("a\tb") },
		{ "sh -c 'echo \"$HOME\"; exit 3'", W("sh", "-c", "echo \"$HOME\"; exit 3") },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char **v = config_split(t[i].in, g_why, sizeof(g_why));
		cr_expect_not_null(v, "[%s] refused: %s", t[i].in, g_why);
		if (v)
			expect_words(v, t[i].want, t[i].in);
		free(v);
	}
}

Test(config, split_refuses)
{
	static const struct {
		const char *in, *why;
	} t[] = {
		{ "'abc", "unterminated ' quote" },
		{ "a 'b c", "unterminated ' quote" },
		{ "'a\\", "unterminated ' quote" },
		{ "\"abc", "unterminated \" quote" },
		{ "\"abc\\\"", "unterminated \" quote" },
		{ "\"abc\\", "unterminated \" quote" },
		{ "abc\\", "a lone \\ at the end" },
		{ "a b \\", "a lone \\ at the end" },
		{ "", "no command" },
		{ " \t \n ", "no command" },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		g_why[0] = '\0';
		char **v = config_split(t[i].in, g_why, sizeof(g_why));
		cr_expect_null(v, "[%s] accepted", t[i].in);
		free(v);
		cr_expect_str_eq(g_why, t[i].why, "[%s]", t[i].in);
	}
}

/* The vector and the words share one allocation sized from the text:
 * the densest inputs there are, for the sanitizers to watch. */
Test(config, split_densest_inputs_fit)
{
	static const char *const in[] = { "a", "a b", "a b c d e f g h", "'' '' '' ''", "\"\" \"\"", "a\\ b\\ c" };
	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		char **v = config_split(in[i], g_why, sizeof(g_why));
		cr_expect_not_null(v, "[%s]: %s", in[i], g_why);
		free(v);
	}
	char many[401];
	for (int i = 0; i < 400; i++)
		many[i] = i % 2 ? ' ' : 'x';
	many[400] = '\0';
	char **v = config_split(many, g_why, sizeof(g_why));
	cr_assert_not_null(v);
	size_t n = 0;
	while (v[n])
		cr_expect_str_eq(v[n++], "x");
	cr_expect_eq(n, 200);
	free(v);
}

/* ---- config_print ------------------------------------------------------------ */

static void expect_each_key_once(const char *out)
{
	for (int k = 0; k < CK_NKEYS; k++) {
		char head[130];
		snprintf(head, sizeof(head), "%s.%s = ", config_keys[k].section, config_keys[k].key);
		int n = 0;
		for (const char *s = out; (s = strstr(s, head)); s++)
			n++;
		cr_expect_eq(n, 1, "'%s' printed %d times", head, n);
	}
}

Test(config, print_command_splits_back_to_the_same_words)
{
	load_ok("[group]\nlock = @D/l\n[node]\nname = n1\nrole = primary\n"
		"[workload]\n"
		"command = /bin/echo \"it's\" '' 'a  b' \"x\\\"y\" back\\\\slash '$HOME' plain\n"
		"environment = A=1\n"
		"environment = B=two  words\n"
		"environment = C=it's\n");
	cr_assert_eq(finish(), 0, "%s", g_why);
	char *out = print_config(&g_c);
	expect_each_key_once(out);

	char *cmd = printed_value(out, CK_COMMAND);
	char **v = config_split(cmd, g_why, sizeof(g_why));
	cr_assert_not_null(v, "printed command [%s] does not split: %s", cmd, g_why);
	static const char *const want[] = { "/bin/echo",   "it's",  "",      "a  b", "x\"y",
					    "back\\slash", "$HOME", "plain", NULL };
	expect_words(g_c.command, want, "loaded");
	expect_words(v, want, "printed and split again");
	free(v);
	free(cmd);

	char *env = printed_value(out, CK_ENVIRONMENT);
	v = config_split(env, g_why, sizeof(g_why));
	cr_assert_not_null(v, "printed environment [%s] does not split: %s", env, g_why);
	static const char *const wenv[] = { "A=1", "B=two  words", "C=it's", NULL };
	expect_words(v, wenv, "environment printed and split again");
	free(v);
	free(env);
	free(out);
}

/* Words from after -- can hold anything, a newline too. */
Test(config, print_command_line_words_split_back)
{
	char *argv[] = { "/bin/sh", "-c", "printf '%s\\n' \"$1\"; exit 0", "x", "", "tab\there", "new\nline", "'",
			 "\\",      NULL };
	cli_base();
	g_c.run.argv = argv;
	cr_assert_eq(finish(), 0, "%s", g_why);
	char *out = print_config(&g_c);
	expect_each_key_once(out);
	char *cmd = printed_value(out, CK_COMMAND);
	char **v = config_split(cmd, g_why, sizeof(g_why));
	cr_assert_not_null(v, "printed command [%s] does not split: %s", cmd, g_why);
	expect_words(v, (const char *const *)argv, "printed and split again");
	free(v);
	free(cmd);
	free(out);
}

Test(config, print_every_key_once_at_a_line_start_in_table_order)
{
	cli_base();
	cr_assert_eq(finish(), 0, "%s", g_why);
	char *out = print_config(&g_c);
	expect_each_key_once(out);
	const char *s = out;
	for (int k = 0; k < CK_NKEYS; k++) {
		char head[130];
		int n = snprintf(head, sizeof(head), "%s.%s = ", config_keys[k].section, config_keys[k].key);
		cr_assert(s && strncmp(s, head, (size_t)n) == 0, "line %d is not %s: [%.40s]", k + 1, head, s);
		s = strchr(s, '\n');
		s = s ? s + 1 : NULL;
	}
	cr_expect(s && *s == '\0', "more after the last key: [%s]", s ? s : "");
	free(out);
}

/* What is printed is what the node runs with, in the words it was given
 * in: each value, given again, sets the same. */
Test(config, print_values_read_back)
{
	hook("live", 0755);
	load_ok("[group]\nlock = @D/l\n"
		"[node]\nname = n1\nrole = primary\naddress = host:1\nallow-failback = yes\n"
		"failover-on-shutdown = yes\nlog-level = warning\n"
		"[workload]\ncommand = /bin/true\nworking-directory = /tmp\nuser = @U\ngroup = @G\n"
		"restart = never\nmax-restarts = 0\nrestart-window = 90s\nstop-timeout = 1500ms\n"
		"[fencing]\ncheck-interval = 100ms\nheartbeat-interval = 200ms\npoll-interval = 1m\n"
		"io-timeout = 1h\nfence-timeout = 401ms\ntakeover-delay = 1500ms\nafter-fence = exit\n"
		"[hooks]\non-live = @D/live\nhook-timeout = 2s\n");
	cr_assert_eq(finish(), 0, "%s", g_why);
	char *out = print_config(&g_c);
	struct config again;
	config_init(&again);
	for (int k = 0; k < CK_NKEYS; k++) {
		if (k == CK_COMMAND || k == CK_ENVIRONMENT)
			continue; /* word lists: split back above */
		char *v = printed_value(out, (enum config_key)k);
		if (*v) {
			int r = config_set(&again, (enum config_key)k, v, g_why, sizeof(g_why));
			cr_expect_eq(r, 0, "printed %s = %s does not read back: %s", config_keys[k].key, v, g_why);
		}
		free(v);
	}
	char *argv[] = { "/bin/true", NULL };
	again.run.argv = argv;
	cr_assert_eq(config_finish(&again, g_why, sizeof(g_why), &g_from_file), 0, "%s", g_why);
	char *out2 = print_config(&again);
	cr_expect_str_eq(out2, out);
	free(out2);
	free(out);
	config_free(&again);
}

/* takeover-delay = 0 prints as "0", which reads back: "0s" would not
 * (durations start at 1 ms). */
Test(config, print_takeover_delay_zero_reads_back)
{
	load_ok("[fencing]\ntakeover-delay = 0\n");
	cr_assert_eq(g_c.run.takeover_delay_ms, 0);
	cli_base();
	cr_assert_eq(finish(), 0, "%s", g_why);
	char *out = print_config(&g_c);
	char *v = printed_value(out, CK_TAKEOVER_DELAY);
	struct config again;
	config_init(&again);
	again.run.takeover_delay_ms = 77;
	int r = config_set(&again, CK_TAKEOVER_DELAY, v, g_why, sizeof(g_why));
	cr_expect_eq(r, 0, "printed takeover-delay = %s does not read back: %s", v, g_why);
	cr_expect_eq(again.run.takeover_delay_ms, 0);
	config_free(&again);
	free(v);
	free(out);
}

/* ---- comments (issue 19) ------------------------------------------------- */

/* Comments are whole lines. inih as built here took " ;" for the start of
 * a comment, so "sh -c 'a ; b'" lost its end and failed as an unterminated
 * quote; now the value is read as written. */
Test(config, a_semicolon_after_a_blank_is_part_of_the_command)
{
	load_ok("; a comment\n# another\n[workload]\n  # an indented one\n"
		"command = /bin/sh -c \"echo a ; echo b\"\n");
	static const char *const want[] = { "/bin/sh", "-c", "echo a ; echo b", NULL };
	expect_words(g_c.command, want, "command");
	config_free(&g_c);
	config_init(&g_c);
	load_ok("[workload]\ncommand = /usr/bin/find /tmp -exec rm {} \\;\n");
	static const char *const find[] = { "/usr/bin/find", "/tmp", "-exec", "rm", "{}", ";", NULL };
	expect_words(g_c.command, find, "command");
}

/* What a reader expecting end-of-line comments would take for one is
 * refused, never taken into the value or cut off silently. */
Test(config, what_looks_like_a_trailing_comment_is_refused)
{
	refused("[group]\nlock = /srv/app.lock  # the group's file\n", -EINVAL);
	expect_why("%s:2: [group] lock: '/srv/app.lock  # the group's file': a '#' after a blank is no comment here: "
		   "comments go on lines of their own (a line that starts with # or ;); refusing the value rather "
		   "than taking the rest into it",
		   g_conf);
	config_free(&g_c);
	config_init(&g_c);
	refused("[group]\nlock = /srv/app.lock ; the group's file\n", -EINVAL);
	expect_why("%s:2: [group] lock: '/srv/app.lock ; the group's file': a ';' after a blank is no comment "
		   "here: comments go on lines of their own (a line that starts with # or ;); refusing the value "
		   "rather than taking the rest into it",
		   g_conf);
	config_free(&g_c);
	config_init(&g_c);
	refused("[workload]\nenvironment = # none\n", -EINVAL);
	expect_why("%s:2: [workload] environment: '# none': a '#' first in a value is no comment here: comments "
		   "go on lines of their own (a line that starts with # or ;); refusing the value rather than "
		   "taking the rest into it",
		   g_conf);
	config_free(&g_c);
	config_init(&g_c);
	refused("[workload]\ncommand = /usr/bin/app --flag  # start it\n", -EINVAL);
	expect_why("%s:2: [workload] command: a '#' outside quotes starts no comment here: comments go on lines of "
		   "their own (quote it to pass it on)",
		   g_conf);
	config_free(&g_c);
	config_init(&g_c);
	refused("[workload]\ncommand = /usr/bin/app; /usr/bin/other\n", -EINVAL);
	expect_why("%s:2: [workload] command: ';' outside quotes: no shell runs the command, so it ends none (quote "
		   "it, or run sh -c '...')",
		   g_conf);
	config_free(&g_c);
	config_init(&g_c);
	refused("[workload]\nready = command:/usr/bin/check ; echo\n", -EINVAL);
	expect_why("%s:2: [workload] ready: ';' outside quotes: no shell runs the command, so it ends none (quote "
		   "it, or run sh -c '...')",
		   g_conf);
	/* A '#' or ';' inside a word, or quoted, is the value's. */
	config_free(&g_c);
	config_init(&g_c);
	load_ok("[group]\nlock = /srv/a#b;c.lock\n[workload]\ncommand = /bin/echo '#1' a#b \"x;y\"\n"
		"environment = A=b#c;d\n");
	cr_expect_str_eq(g_c.run.lock_path, "/srv/a#b;c.lock");
	static const char *const echo[] = { "/bin/echo", "#1", "a#b", "x;y", NULL };
	expect_words(g_c.command, echo, "command");
	g_c.run.argv = g_c.command;
	char *out = print_config(&g_c);
	cr_expect(strstr(out, "workload.command = /bin/echo '#1' a#b 'x;y'\n"), "--check shows: %s", out);
	free(out);
}

Test(config, the_byte_that_hides_a_semicolon_is_refused)
{
	refused("[node]\nname = a\x01;b\n", -EINVAL);
	expect_why("%s:2: \\x01 (byte 9): a control character", g_conf);
	config_free(&g_c);
	config_init(&g_c);
	load_ok("[node]\r\nname = n1\r\n\r\n");
	cr_expect_str_eq(g_c.run.name, "n1");
}

/* ---- environment files (issue 19) ----------------------------------------- */

static const char base_conf[] = "[group]\nlock = @D/l\n[node]\nname = n1\nrole = primary\n"
				"[workload]\ncommand = /bin/true\n";

/* systemd's EnvironmentFile= lines: comments, blanks, quotes; the file's
 * values come after environment's and override them. */
Test(config, environment_file_is_read_at_finish)
{
	write_conf("app.env", 0600,
		   "# the database\n; and more\n\n  DB_PASSWORD = \"s3 \\\"cr\\\\et\"\nTOKEN=a b c  \n"
		   "Q='x $y \\z'\nEMPTY=\nURL=http://h/?a=1#frag\nX=from-file\r\n");
	load_ok("[group]\nlock = @D/l\n[node]\nname = n1\nrole = primary\n"
		"[workload]\ncommand = /bin/true\nenvironment = X=from-key\nenvironment-file = @D/app.env\n"
		"environment-file = -@D/missing.env\n");
	cr_assert_eq(finish(), 0, "config_finish: %s", g_why);
	static const char *const want[] = { "DB_PASSWORD=s3 \"cr\\et", "TOKEN=a b c", "Q=x $y \\z", "EMPTY=",
					    "URL=http://h/?a=1#frag",  "X=from-file", NULL };
	expect_words(g_c.file_env, want, "the file's variables");
	cr_expect_eq(g_c.nenv_files, 2);
	cr_expect(g_c.env_files[0].found && g_c.env_files[0].nvars == 6);
	cr_expect(g_c.env_files[1].optional && !g_c.env_files[1].found, "a -PATH that is missing is no error");
	/* --check shows where the values come from, never a value. */
	char *out = print_config(&g_c);
	cr_expect(strstr(out, "workload.environment-file = "), "%s", out);
	cr_expect(strstr(out, "-") && strstr(out, "/missing.env\n"), "%s", out);
	cr_expect_null(strstr(out, "s3 "), "--check printed a value of the file: %s", out);
	cr_expect_null(strstr(out, "a b c"), "--check printed a value of the file: %s", out);
	free(out);
}

/* A bad line names the file and line, and at most the key: never the
 * value, which may be the secret itself. */
Test(config, environment_file_refusals_never_show_a_value)
{
	static const struct {
		const char *text, *says;
	} bad[] = {
		{ "A=1\nhunter2\n", "app.env:2: not KEY=VALUE" },
		{ "=hunter2\n", "app.env:1: not KEY=VALUE" },
		{ "1A=hunter2\n", "app.env:1: '1A' is not a variable name" },
		{ "UNDERSTUDY_ROLE=hunter2\n", "app.env:1: 'UNDERSTUDY_ROLE' is set by understudy itself" },
		{ "PASS=\"hunter2\n", "app.env:1: PASS: the value's \" quote is not closed at its end" },
		{ "PASS='hunter2' x\n", "app.env:1: PASS: the value's ' quote is not closed at its end" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		config_free(&g_c);
		config_init(&g_c);
		write_conf("app.env", 0600, bad[i].text);
		load_ok("[group]\nlock = @D/l\n[node]\nname = n1\nrole = primary\n"
			"[workload]\ncommand = /bin/true\nenvironment-file = @D/app.env\n");
		cr_expect_eq(finish(), -EINVAL, "%s accepted", bad[i].text);
		cr_expect(strstr(g_why, bad[i].says), "'%s': %s", bad[i].says, g_why);
		cr_expect(strstr(g_why, ":8: [workload] environment-file: "), "the setting is not named: %s", g_why);
		cr_expect_null(strstr(g_why, "hunter2"), "the message shows the value: %s", g_why);
		cr_expect(g_from_file);
	}
	/* Missing without '-', and a relative path. */
	config_free(&g_c);
	config_init(&g_c);
	cli(CK_ENVIRONMENT_FILE, path_of("none.env"));
	load_ok(base_conf);
	cr_expect_eq(finish(), -EINVAL);
	cr_expect(strstr(g_why, "--environment-file: ") && strstr(g_why, "none.env: No such file or directory"), "%s",
		  g_why);
	cr_expect_not(g_from_file, "it came from the command line");
	cr_expect_eq(config_set(&g_c, CK_ENVIRONMENT_FILE, "app.env", g_why, sizeof(g_why)), -EINVAL);
	cr_expect_str_eq(g_why, "'app.env' is not an absolute path (with '-' first if it may be missing)");
}

/* Checked like the configuration file itself (trust.h): a file others
 * could change would let them set LD_PRELOAD for a workload run as root. */
Test(config, environment_file_others_could_change_is_refused)
{
	const char *env = write_conf("app.env", 0620, "A=1\n");
	cli(CK_ENVIRONMENT_FILE, env);
	load_ok(base_conf);
	cr_expect_eq(finish(), -EPERM);
	cr_expect(strstr(g_why, "--environment-file: ") && strstr(g_why, "writable by the members of group"), "%s",
		  g_why);
	cr_assert(chmod(env, 0602) == 0);
	config_free(&g_c);
	config_init(&g_c);
	cli(CK_ENVIRONMENT_FILE, env);
	load_ok(base_conf);
	cr_expect_eq(finish(), -EPERM);
	cr_expect(strstr(g_why, "writable by every user"), "%s", g_why);
	/* Even when optional: there, it is not missing. */
	config_free(&g_c);
	config_init(&g_c);
	char opt[600];
	snprintf(opt, sizeof(opt), "-%s", env);
	cli(CK_ENVIRONMENT_FILE, opt);
	load_ok(base_conf);
	cr_expect_eq(finish(), -EPERM, "%s", g_why);
}

static char g_warned[4][1200];
static int g_nwarned;
static void collect(const char *line)
{
	if (g_nwarned < 4)
		snprintf(g_warned[g_nwarned++], sizeof(g_warned[0]), "%s", line);
}

/* Secrets every user may read: a configuration with environment values,
 * or an environment file, readable by others, is said once each. */
Test(config, secrets_others_may_read_are_warned_about)
{
	write_conf("app.env", 0644, "PASS=x\n");
	load_ok("[group]\nlock = @D/l\n[node]\nname = n1\nrole = primary\n"
		"[workload]\ncommand = /bin/true\nenvironment = PASS=y\nenvironment-file = @D/app.env\n");
	cr_assert_eq(finish(), 0, "%s", g_why);
	g_nwarned = 0;
	cr_expect_eq(config_warnings(&g_c, collect), 2);
	cr_expect(strstr(g_warned[0], "understudy.conf: readable by every user (mode 0644) and it holds [workload] "
				      "environment values"),
		  "%s", g_warned[0]);
	cr_expect(strstr(g_warned[1], "app.env: readable by every user (mode 0644)"), "%s", g_warned[1]);
	cr_expect_null(strstr(g_warned[0], "PASS=y"), "%s", g_warned[0]);
	/* 0640 for both, or no environment values in the file: nothing. */
	config_free(&g_c);
	config_init(&g_c);
	write_conf("app.env", 0640, "PASS=x\n");
	g_conf = write_conf("understudy.conf", 0640,
			    "[group]\nlock = @D/l\n[node]\nname = n1\nrole = primary\n"
			    "[workload]\ncommand = /bin/true\nenvironment = PASS=y\nenvironment-file = @D/app.env\n");
	cr_assert_eq(config_load(&g_c, g_conf, g_why, sizeof(g_why)), 0, "%s", g_why);
	cr_assert_eq(finish(), 0, "%s", g_why);
	g_nwarned = 0;
	cr_expect_eq(config_warnings(&g_c, collect), 0, "%s", g_warned[0]);
	config_free(&g_c);
	config_init(&g_c);
	load_ok(base_conf);
	cr_assert_eq(finish(), 0, "%s", g_why);
	cr_expect_eq(config_warnings(&g_c, collect), 0, "a 0644 file without environment values");
}

/* What a reload may change, and how it shows a value: escaped, and of
 * environment the names alone. */
Test(config, reloadable_keys_and_values_for_messages)
{
	cr_expect(config_reloadable(CK_STOP_TIMEOUT) && config_reloadable(CK_ON_LIVE) &&
		  config_reloadable(CK_LOG_LEVEL) && config_reloadable(CK_FENCE_TIMEOUT));
	cr_expect(!config_reloadable(CK_LOCK) && !config_reloadable(CK_NAME) && !config_reloadable(CK_ROLE) &&
		  !config_reloadable(CK_COMMAND) && !config_reloadable(CK_ENVIRONMENT) && !config_reloadable(CK_USER) &&
		  !config_reloadable(CK_READY) && !config_reloadable(CK_HTTP));
	config_free(&g_c);
	config_init(&g_c);
	load_ok("[group]\nlock = /srv/a.lock\n[node]\nname = n1\nrole = primary\n[workload]\n"
		"command = /bin/echo\nenvironment = SECRET=hunter2\nenvironment = MODE=ha\n"
		"stop-timeout = 1m30s\n");
	cr_assert_eq(finish(), 0, "%s", g_why);
	char v[256];
	config_value(&g_c, CK_STOP_TIMEOUT, v, sizeof(v));
	cr_expect_str_eq(v, "90s");
	config_value(&g_c, CK_LOCK, v, sizeof(v));
	cr_expect_str_eq(v, "/srv/a.lock");
	config_value(&g_c, CK_ENVIRONMENT, v, sizeof(v));
	cr_expect_str_eq(v, "SECRET MODE");
	/* The file refuses control characters; the words after -- may hold them. */
	char *words[] = { "/bin/echo", "a\033b", NULL };
	g_c.run.argv = words;
	config_value(&g_c, CK_COMMAND, v, sizeof(v));
	cr_expect(strstr(v, "\\x1b") && !strchr(v, '\033'), "the command shows as %s", v);
}
