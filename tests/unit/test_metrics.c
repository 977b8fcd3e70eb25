/* The metrics as Prometheus reads them: checked by Prometheus's own
 * promtool, not by our reading of the format, including the label values
 * an operator or a file gave us. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "understudy/metrics.h"

static char *dir;

static void setup(void) { dir = th_tmpdir(); }
static void teardown(void)
{
	th_rmtree(dir);
	free(dir);
}

TestSuite(metrics, .init = setup, .fini = teardown);

/* promtool's verdict on text: its exit status, and what it said in out. */
static int promtool(const char *text, char *out, size_t n)
{
	char *in = th_path(dir, "in.prom"), *said = th_path(dir, "promtool.out"), *cmd = NULL;
	th_write_file(in, text, strlen(text));
	cr_assert(asprintf(&cmd, "promtool check metrics < '%s' > '%s' 2>&1", in, said) > 0);
	int st = system(cmd);
	cr_assert(st != -1 && WIFEXITED(st), "promtool did not run");
	cr_assert(WEXITSTATUS(st) != 127, "promtool is not installed (Debian's prometheus package)");
	char *t = th_read_text(said);
	snprintf(out, n, "%s", t ? t : "");
	free(t), free(cmd), free(in), free(said);
	return WEXITSTATUS(st);
}

static const struct metrics_labels labels = { .group = "/srv/app/server.lock", .node = "node-a", .role = "primary" };

/* One line of text, by its series and labels: its value, or -1 if absent. */
static double value_of(const char *text, const char *series)
{
	const char *p = text;
	size_t n = strlen(series);
	while ((p = strstr(p, series))) {
		if ((p == text || p[-1] == '\n') && p[n] == ' ')
			return strtod(p + n + 1, NULL);
		p += n;
	}
	return -1;
}

Test(metrics, a_new_node_passes_promtool)
{
	struct metrics m;
	metrics_init(&m);
	char *text = metrics_render(&m, &labels), said[4096];
	cr_assert(text);
	cr_expect_eq(promtool(text, said, sizeof(said)), 0, "promtool: %s\n%s", said, text);
	cr_expect_eq(
		value_of(text,
			 "understudy_node_state{group=\"/srv/app/server.lock\",node=\"node-a\",state=\"joining\"}"),
		1);
	cr_expect_eq(value_of(text, "understudy_heartbeat_age_seconds{group=\"/srv/app/server.lock\",node=\"node-a\"}"),
		     -1);
	free(text);
}

Test(metrics, a_busy_node_passes_promtool_with_its_figures)
{
	struct metrics m;
	metrics_init(&m);
	atomic_store(&m.state, NODE_LIVE);
	atomic_store(&m.ready, true);
	atomic_store(&m.epoch, 42);
	atomic_store(&m.heartbeat_age_ms, 1500);
	atomic_store(&m.transitions[NODE_BACKUP][NODE_VERIFYING], 3);
	atomic_store(&m.starts, 7);
	atomic_store(&m.fences, 2);
	/* 40 us, 40 us, 3 ms, 20 s: buckets 50 us, 5 ms and +Inf. */
	metrics_storage_call(&m, WORKER_READ, 40);
	metrics_storage_call(&m, WORKER_READ, 40);
	metrics_storage_call(&m, WORKER_READ, 3000);
	metrics_storage_call(&m, WORKER_READ, 20000000);
	metrics_storage_call(&m, WORKER_WAIT_LIVE, 5000000); /* a wait on purpose: not a latency */
	char *text = metrics_render(&m, &labels), said[4096];
	cr_assert(text);
	cr_expect_eq(promtool(text, said, sizeof(said)), 0, "promtool: %s", said);
#define L "group=\"/srv/app/server.lock\",node=\"node-a\""
	cr_expect_eq(value_of(text, "understudy_live{" L "}"), 1);
	cr_expect_eq(value_of(text, "understudy_ready{" L "}"), 1);
	cr_expect_eq(value_of(text, "understudy_epoch{" L "}"), 42);
	cr_expect_eq(value_of(text, "understudy_heartbeat_age_seconds{" L "}"), 1.5);
	cr_expect_eq(value_of(text, "understudy_transitions_total{" L ",from=\"backup\",to=\"verifying\"}"), 3);
	cr_expect_eq(value_of(text, "understudy_workload_starts_total{" L "}"), 7);
	cr_expect_eq(value_of(text, "understudy_fences_total{" L "}"), 2);
	cr_expect_eq(value_of(text, "understudy_storage_call_seconds_bucket{" L ",op=\"read\",le=\"5e-05\"}"), 2);
	cr_expect_eq(value_of(text, "understudy_storage_call_seconds_bucket{" L ",op=\"read\",le=\"0.0025\"}"), 2);
	cr_expect_eq(value_of(text, "understudy_storage_call_seconds_bucket{" L ",op=\"read\",le=\"0.005\"}"), 3);
	cr_expect_eq(value_of(text, "understudy_storage_call_seconds_bucket{" L ",op=\"read\",le=\"10\"}"), 3);
	cr_expect_eq(value_of(text, "understudy_storage_call_seconds_bucket{" L ",op=\"read\",le=\"+Inf\"}"), 4);
	cr_expect_eq(value_of(text, "understudy_storage_call_seconds_count{" L ",op=\"read\"}"), 4);
	cr_expect_float_eq(value_of(text, "understudy_storage_call_seconds_sum{" L ",op=\"read\"}"), 20.00308, 1e-9);
	cr_expect_null(strstr(text, "op=\"wait_live\""), "a lock wait counted as a storage call");
#undef L
	free(text);
}

/* A name is whatever the operator gave, a path whatever the file system
 * allows: neither may end a label or a line, or add a series. */
Test(metrics, hostile_label_values_stay_inside_their_label)
{
	struct metrics m;
	metrics_init(&m);
	const struct metrics_labels evil = {
		.group = "/srv/a\"b\\c\nunderstudy_live{group=\"x\",node=\"y\"} 1\n.lock",
		.node = "n\"}\nfake 1",
		.role = "backup",
	};
	char *text = metrics_render(&m, &evil), *plain = metrics_render(&m, &labels), said[4096];
	cr_assert(text && plain);
	cr_expect_eq(promtool(text, said, sizeof(said)), 0, "promtool: %s\n%s", said, text);
	int lines = 0, plain_lines = 0;
	for (const char *p = text; *p; p++)
		lines += *p == '\n';
	for (const char *p = plain; *p; p++)
		plain_lines += *p == '\n';
	cr_expect_eq(lines, plain_lines, "hostile labels changed the line count: %d, not %d", lines, plain_lines);
	cr_expect_null(strstr(text, "\nfake 1"), "a node name added a series");
	free(text), free(plain);
}

Test(metrics, promtool_refuses_what_we_must_not_write)
{
	/* The check above can fail: an unescaped quote is refused. */
	char said[4096];
	cr_expect_neq(promtool("# TYPE x gauge\nx{a=\"b\"c\"} 1\n", said, sizeof(said)), 0, "promtool took a bad line");
}

Test(metrics, the_file_is_replaced_whole_and_only_through_our_own_name)
{
	struct metrics m;
	metrics_init(&m);
	atomic_store(&m.epoch, 5);
	char *path = th_path(dir, "understudy.prom");
	th_write_file(path, "old\n", 4);
	cr_assert_eq(metrics_write_file(&m, &labels, path), 0);
	char *text = th_read_text(path), said[4096];
	cr_assert(text);
	cr_expect_eq(promtool(text, said, sizeof(said)), 0, "promtool: %s", said);
	cr_expect_eq(value_of(text, "understudy_epoch{group=\"/srv/app/server.lock\",node=\"node-a\"}"), 5);
	free(text);
	/* A link planted where the temporary file goes is removed, never
	 * followed: the file it points at keeps its bytes. */
	char *victim = th_path(dir, "victim"), *tmp = NULL;
	th_write_file(victim, "keep\n", 5);
	cr_assert(asprintf(&tmp, "%s.%d.tmp", path, (int)getpid()) > 0);
	cr_assert_eq(symlink(victim, tmp), 0);
	cr_expect_eq(metrics_write_file(&m, &labels, path), 0);
	char *v = th_read_text(victim);
	cr_expect_str_eq(v, "keep\n");
	struct stat st;
	cr_expect(lstat(tmp, &st) < 0 && errno == ENOENT, "the temporary name is left behind");
	text = th_read_text(path);
	cr_expect(text && strstr(text, "understudy_epoch"), "the metrics file was not written");
	free(text);
	free(v), free(victim), free(tmp), free(path);
}
