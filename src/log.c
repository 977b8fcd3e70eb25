#include "understudy/log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static char log_node[80], log_group[256];
static enum log_level log_max = LOGL_INFO;
static bool log_journal;  /* stderr is the journal's stream */
static int log_sock = -1; /* a datagram socket for journald, or -1 */
static struct sockaddr_un log_addr;
static socklen_t log_addrlen;

/* journald's socket for the native protocol (systemd.journal-fields(7),
 * "Native Protocol"). */
#define JOURNAL_SOCKET "/run/systemd/journal/socket"
/* For the tests only: another socket path standing in for journald's, so
 * that a test receives the datagrams a manager under systemd sends. Read
 * only when stderr is the journal's stream too. */
#define JOURNAL_SOCKET_ENV "UNDERSTUDY_TEST_JOURNAL_SOCKET"

/* systemd sets JOURNAL_STREAM to the device:inode of the stream it gave
 * us; only when stderr is that stream does the journal take our output,
 * and do "<N>" prefixes mean anything. A JOURNAL_STREAM inherited through
 * a shell whose stderr went elsewhere names another file and is ignored. */
static bool stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long dev, ino;
	struct stat st;
	if (!js || sscanf(js, "%lu:%lu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st) < 0)
		return false;
	return st.st_dev == dev && st.st_ino == ino;
}

static void journal_open(void)
{
	const char *path = getenv(JOURNAL_SOCKET_ENV);
	if (!path || !path[0])
		path = JOURNAL_SOCKET;
	if (strlen(path) >= sizeof(log_addr.sun_path))
		return;
	memset(&log_addr, 0, sizeof(log_addr));
	log_addr.sun_family = AF_UNIX;
	memcpy(log_addr.sun_path, path, strlen(path) + 1);
	log_addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1);
	/* Never blocking: a journald that is slow to read costs this event
	 * its fields (it goes to stderr), never the manager its loop. Closed
	 * on exec: the workload and hooks log their own way. */
	log_sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
}

void log_init(const char *node, const char *group, enum log_level level)
{
	snprintf(log_node, sizeof(log_node), "%s", node ? node : "");
	snprintf(log_group, sizeof(log_group), "%s", group ? group : "");
	log_max = level;
	log_journal = stderr_is_journal();
	if (log_sock >= 0)
		close(log_sock);
	log_sock = -1;
	if (log_journal)
		journal_open();
}

int log_level_parse(const char *s)
{
	static const struct {
		const char *name;
		enum log_level level;
	} names[] = {
		{ "error", LOGL_ERROR }, { "warning", LOGL_WARN }, { "warn", LOGL_WARN },
		{ "info", LOGL_INFO },   { "debug", LOGL_DEBUG },
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(s, names[i].name) == 0)
			return (int)names[i].level;
	return -1;
}

/* One datagram being put together. */
struct entry {
	char buf[4096];
	size_t len;
	bool over; /* something did not fit: send nothing */
};

/* NAME=value\n; or, for a value with a newline in it, the binary-safe
 * form: NAME\n, the value's length as 64 bits little-endian, the value,
 * \n. Nothing is escaped: the value arrives as it is. Every name is one
 * of this file's constants, never a caller's string, so no value can
 * make a field of its own. */
static void field(struct entry *e, const char *name, const char *value)
{
	/* Bounded by the datagram: a longer value cannot fit anyway. */
	size_t nl = strnlen(name, sizeof(e->buf)), vl = strnlen(value, sizeof(e->buf));
	bool binary = memchr(value, '\n', vl) != NULL;
	size_t need = nl + 1 + (binary ? 8 : 0) + vl + 1;
	if (e->over || need > sizeof(e->buf) - e->len) {
		e->over = true;
		return;
	}
	char *p = e->buf + e->len;
	memcpy(p, name, nl);
	p += nl;
	if (binary) {
		*p++ = '\n';
		uint64_t n = vl;
		for (int i = 0; i < 8; i++)
			*p++ = (char)(n >> (8 * i) & 0xff);
	} else {
		*p++ = '=';
	}
	memcpy(p, value, vl);
	p += vl;
	*p++ = '\n';
	e->len = (size_t)(p - e->buf);
}

static void field_u64(struct entry *e, const char *name, uint64_t v)
{
	char s[24];
	snprintf(s, sizeof(s), "%" PRIu64, v);
	field(e, name, s);
}

/* The event as one datagram to journald; false if it did not take it. */
static bool journal_send(enum log_level level, const struct log_fields *f, const char *msg)
{
	if (log_sock < 0)
		return false;
	struct entry e = { .len = 0, .over = false };
	field_u64(&e, "PRIORITY", (uint64_t)level);
	field(&e, "SYSLOG_IDENTIFIER", "understudy");
	field(&e, "MESSAGE", msg);
	if (log_group[0])
		field(&e, "UNDERSTUDY_GROUP", log_group);
	if (log_node[0])
		field(&e, "UNDERSTUDY_NODE", log_node);
	if (f && f->from)
		field(&e, "UNDERSTUDY_FROM", f->from);
	if (f && f->to)
		field(&e, "UNDERSTUDY_TO", f->to);
	if (f && f->reason)
		field(&e, "UNDERSTUDY_REASON", f->reason);
	if (f && f->epoch)
		field_u64(&e, "UNDERSTUDY_EPOCH", f->epoch);
	if (f && f->workload_pid > 0)
		field_u64(&e, "UNDERSTUDY_WORKLOAD_PID", (uint64_t)f->workload_pid);
	if (e.over)
		return false;
	ssize_t n;
	do
		n = sendto(log_sock, e.buf, e.len, MSG_NOSIGNAL, (const struct sockaddr *)&log_addr, log_addrlen);
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)e.len;
}

__attribute__((format(printf, 3, 0))) static void log_vmsg(enum log_level level, const struct log_fields *f,
							   const char *fmt, va_list ap)
{
	if (level > log_max)
		return;
	char msg[1024];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (journal_send(level, f, msg))
		return;
	/* Plain lines: not under systemd, or journald did not take the
	 * datagram (not running, its socket full). On the journal's stream a
	 * "<N>" prefix still gives the line its priority. */
	char line[1200], prefix[8] = "";
	if (log_journal)
		snprintf(prefix, sizeof(prefix), "<%d>", (int)level);
	snprintf(line, sizeof(line), "%sunderstudy%s%s%s: %s", prefix, log_node[0] ? "[" : "", log_node,
		 log_node[0] ? "]" : "", msg);
	size_t len = strnlen(line, sizeof(line) - 2);
	line[len++] = '\n';
	/* One write per line, so lines of several processes never interleave. */
	if (write(STDERR_FILENO, line, len) < 0)
		return;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(level, NULL, fmt, ap);
	va_end(ap);
}

void log_fields(enum log_level level, const struct log_fields *f, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(level, f, fmt, ap);
	va_end(ap);
}

const char *log_strerror(int e)
{
	if (e == ESHUTDOWN)
		return "the storage server shut this host's client out (ESHUTDOWN: on CephFS the MDS evicted and "
		       "blocklisted it): every call on this mount fails until it is unmounted and mounted again";
	return strerror(e);
}
