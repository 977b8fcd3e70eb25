/* check-storage's common ground: the runner's report and its bound. */
#include "understudy/check.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

/* The runner's end of the pipe. Each line goes out in one write, shorter
 * than PIPE_BUF, so lines of the runner and of its watchdog never mix. */
static int report_fd = -1;

static void line_out(const char *line)
{
	size_t n = strlen(line);
	if (write(report_fd, line, n) != (ssize_t)n)
		_exit(EX_OSERR); /* the command is gone: nobody to report to */
}

/* On the watchdog's thread: the runner's call never came back. Say which
 * and end the runner; the command decides the exit status. */
static void hung(void *arg, const struct bound_expiry *e)
{
	(void)arg;
	char line[2048];
	/* Cut to fit, the newline kept: one write, under PIPE_BUF. */
	snprintf(line, sizeof(line), "%c%.*s\n", CHECK_LINE_HUNG, (int)sizeof(line) - 3, e->msg);
	line_out(line);
	_exit(EX_IOERR);
}

int check_start(int fd, const struct check_opts *o)
{
	report_fd = fd;
	struct bound *b = bound_new(o->dir, o->timeout_ms, hung, NULL);
	if (!b)
		return -ENOMEM;
	bound_attach(b);
	return 0;
}

void check_step(const char *fmt, ...)
{
	char what[400], line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(line, sizeof(line), "%c%s\n", CHECK_LINE_STEP, what);
	line_out(line);
}

void check_report(const char *kind, const char *fmt, ...)
{
	char text[400], line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	snprintf(line, sizeof(line), "%s  %s\n", kind, text);
	line_out(line);
}

int check_called(int r)
{
	bound_idle();
	return r;
}

void check_waiting(const char *path, const char *what, int64_t ms) { bound_waiting_on(path, what, ms); }

void check_sleep_ms(int64_t ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

void check_median_max(int64_t *v, int n, int64_t *median, int64_t *max)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_i64);
	*median = v[n / 2];
	*max = v[n - 1];
}

uint64_t check_nonce(uint64_t seed, int round)
{
	uint8_t b[12];
	memcpy(b, &seed, 8);
	memcpy(b + 8, &round, 4);
	return (uint64_t)lockfile_crc32c(b, sizeof(b)) << 32 | (uint32_t)round;
}

int check_write_nonce(struct lockfile *lf, uint64_t seed, int round, const char *name)
{
	struct lf_live l = { .epoch = (uint64_t)round + 1, .heartbeat = check_nonce(seed, round), .slot = -1 };
	snprintf(l.name, sizeof(l.name), "%s", name);
	/* Status 0: only the record and the node id, as a heartbeat writes. */
	return CHECK_CALL(lf->path, "writing the live record under the record lock", lockfile_write_live(lf, 0, &l));
}

int check_read_nonce(struct lockfile *lf, uint64_t seed, int round, uint64_t *seen)
{
	static struct lf_view v;
	int r = CHECK_CALL(lf->path, "reading the file under the record lock", lockfile_read(lf, &v));
	if (r < 0)
		return r;
	*seen = v.live_rec == LF_REC_OK ? v.live.heartbeat : 0;
	return v.live_rec == LF_REC_OK && v.live.epoch == (uint64_t)round + 1 &&
	       v.live.heartbeat == check_nonce(seed, round);
}
