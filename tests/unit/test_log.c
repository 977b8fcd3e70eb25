/* Unit suite "log": what log.c sends to the journal, received on a real
 * datagram socket standing in for journald's (UNDERSTUDY_TEST_JOURNAL_SOCKET),
 * with stderr a real file that JOURNAL_STREAM names, as systemd sets it. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers.h"
#include "understudy/log.h"

static char *dir, *errpath, *sockpath;
static int sock = -1, saved_stderr = -1;

/* stderr to a file of the test's; JOURNAL_STREAM naming it when journal. */
static void open_stderr(bool journal)
{
	int fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	cr_assert(fd >= 0);
	cr_assert(dup2(fd, STDERR_FILENO) == STDERR_FILENO);
	close(fd);
	struct stat st;
	cr_assert(fstat(STDERR_FILENO, &st) == 0);
	char js[64];
	/* Off by one inode: the stream of another process's stderr. */
	snprintf(js, sizeof(js), "%lu:%lu", (unsigned long)st.st_dev, (unsigned long)st.st_ino + (journal ? 0 : 1));
	setenv("JOURNAL_STREAM", js, 1);
}

static void setup(void)
{
	dir = th_tmpdir();
	errpath = th_path(dir, "stderr");
	sockpath = th_path(dir, "journal.sock");
	sock = th_journal_socket(sockpath);
	cr_assert(sock >= 0, "%s: %s", sockpath, strerror(errno));
	setenv("UNDERSTUDY_TEST_JOURNAL_SOCKET", sockpath, 1);
	saved_stderr = dup(STDERR_FILENO);
}

static void teardown(void)
{
	if (saved_stderr >= 0) {
		dup2(saved_stderr, STDERR_FILENO);
		close(saved_stderr);
	}
	close(sock);
	unsetenv("JOURNAL_STREAM");
	unsetenv("UNDERSTUDY_TEST_JOURNAL_SOCKET");
	th_rmtree(dir);
	free(dir), free(errpath), free(sockpath);
}

/* The next datagram, or len 0 when none came. */
static size_t next(char *buf, size_t n)
{
	ssize_t r = recv(sock, buf, n, MSG_DONTWAIT);
	return r < 0 ? 0 : (size_t)r;
}

static const char *field(const char *d, size_t len, const char *name)
{
	static char v[2048];
	if (th_journal_field(d, len, name, v, sizeof(v)) < 0)
		return NULL;
	return v;
}

TestSuite(log, .init = setup, .fini = teardown);

Test(log, transition_fields)
{
	open_stderr(true);
	log_init("node-a", "app", LOGL_INFO);
	struct log_fields f = {
		.from = "starting", .to = "live", .reason = "the workload is ready", .epoch = 7, .workload_pid = 4242
	};
	log_fields(LOGL_INFO, &f, "%s -> %s: %s", f.from, f.to, f.reason);
	char d[8192];
	size_t len = next(d, sizeof(d));
	cr_assert(len > 0, "no datagram reached the journal's socket");
	static const struct {
		const char *name, *value;
	} want[] = {
		{ "MESSAGE", "starting -> live: the workload is ready" },
		{ "PRIORITY", "6" },
		{ "SYSLOG_IDENTIFIER", "understudy" },
		{ "UNDERSTUDY_GROUP", "app" },
		{ "UNDERSTUDY_NODE", "node-a" },
		{ "UNDERSTUDY_FROM", "starting" },
		{ "UNDERSTUDY_TO", "live" },
		{ "UNDERSTUDY_REASON", "the workload is ready" },
		{ "UNDERSTUDY_EPOCH", "7" },
		{ "UNDERSTUDY_WORKLOAD_PID", "4242" },
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		const char *v = field(d, len, want[i].name);
		cr_expect(v && strcmp(v, want[i].value) == 0, "%s: want '%s', got '%s'", want[i].name, want[i].value,
			  v ? v : "(none)");
	}
	char *err = th_read_text(errpath);
	cr_expect_str_empty(err, "what the journal took went to stderr too: '%s'", err);
	free(err);
}

/* A plain message has the node's fields, none of a transition's. */
Test(log, plain_message_fields)
{
	open_stderr(true);
	log_init("node-a", "app", LOGL_INFO);
	log_warn("workload exited with status %d", 3);
	char d[8192];
	size_t len = next(d, sizeof(d));
	cr_assert(len > 0);
	cr_expect_str_eq(field(d, len, "PRIORITY"), "4");
	cr_expect_str_eq(field(d, len, "UNDERSTUDY_GROUP"), "app");
	cr_expect_null(field(d, len, "UNDERSTUDY_FROM"));
	cr_expect_null(field(d, len, "UNDERSTUDY_EPOCH"));
	cr_expect_null(field(d, len, "UNDERSTUDY_WORKLOAD_PID"));
	/* Below the level: nothing at all. */
	log_debug("not shown");
	cr_expect_eq(next(d, sizeof(d)), 0);
}

/* A value with a newline travels in the binary-safe form and arrives as
 * it is: it cannot start a field of its own (a forged PRIORITY). */
Test(log, newline_in_value_is_binary_safe)
{
	open_stderr(true);
	log_init("node-a", "g\nPRIORITY=0", LOGL_INFO);
	log_info("line one\nUNDERSTUDY_TO=forged");
	char d[8192];
	size_t len = next(d, sizeof(d));
	cr_assert(len > 0);
	cr_expect_str_eq(field(d, len, "UNDERSTUDY_GROUP"), "g\nPRIORITY=0");
	cr_expect_str_eq(field(d, len, "MESSAGE"), "line one\nUNDERSTUDY_TO=forged");
	cr_expect_str_eq(field(d, len, "PRIORITY"), "6");
	cr_expect_null(field(d, len, "UNDERSTUDY_TO"));
	/* The bytes themselves: name, newline, length 12 little-endian. */
	static const char want[] = "UNDERSTUDY_GROUP\n\x0c\0\0\0\0\0\0\0g\nPRIORITY=0\n";
	cr_expect(memmem(d, len, want, sizeof(want) - 1) != NULL, "no binary-safe UNDERSTUDY_GROUP field");
}

/* JOURNAL_STREAM naming another file: not under systemd, plain lines. */
Test(log, other_stream_plain_lines)
{
	open_stderr(false);
	log_init("node-a", "app", LOGL_INFO);
	log_info("joining");
	char d[8192];
	cr_expect_eq(next(d, sizeof(d)), 0, "a datagram although stderr is not the journal's stream");
	char *err = th_read_text(errpath);
	cr_expect_str_eq(err, "understudy[node-a]: joining\n");
	free(err);
}

/* The journal's socket gone: the line goes to the stream, with its
 * priority prefix. */
Test(log, no_socket_falls_back_to_stream)
{
	open_stderr(true);
	cr_assert(unlink(sockpath) == 0);
	log_init("node-a", "app", LOGL_INFO);
	log_warn("workload exited with status %d", 3);
	char *err = th_read_text(errpath);
	cr_expect_str_eq(err, "<4>understudy[node-a]: workload exited with status 3\n");
	free(err);
}
