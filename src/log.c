#include "understudy/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char log_node[80];
static enum log_level log_max = LOGL_INFO;
static bool log_journal;

/* systemd sets JOURNAL_STREAM to the device:inode of the stream it gave
 * us; only when stderr is that stream do "<N>" prefixes mean anything. */
static bool stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long dev, ino;
	struct stat st;
	if (!js || sscanf(js, "%lu:%lu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st) < 0)
		return false;
	return st.st_dev == dev && st.st_ino == ino;
}

void log_init(const char *node, enum log_level level)
{
	snprintf(log_node, sizeof(log_node), "%s", node ? node : "");
	log_max = level;
	log_journal = stderr_is_journal();
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

void log_msg(enum log_level level, const char *fmt, ...)
{
	if (level > log_max)
		return;
	char line[1024];
	int n = 0;
	if (log_journal)
		n = snprintf(line, sizeof(line), "<%d>", (int)level);
	n += snprintf(line + n, sizeof(line) - (size_t)n, log_node[0] ? "understudy[%s]: " : "understudy: ", log_node);
	va_list ap;
	va_start(ap, fmt);
	if (n < (int)sizeof(line))
		vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	size_t len = strnlen(line, sizeof(line) - 2);
	line[len++] = '\n';
	/* One write per line, so lines of several processes never interleave. */
	if (write(STDERR_FILENO, line, len) < 0)
		return;
}

const char *log_strerror(int e)
{
	if (e == ESHUTDOWN)
		return "the storage server shut this host's client out (ESHUTDOWN: on CephFS the MDS evicted and "
		       "blocklisted it): every call on this mount fails until it is unmounted and mounted again";
	return strerror(e);
}
