/* One line per event on stderr, with journald priority prefixes when
 * stderr is the journal. */
#ifndef UNDERSTUDY_LOG_H
#define UNDERSTUDY_LOG_H

enum log_level { LOGL_ERROR = 3, LOGL_WARN = 4, LOGL_INFO = 6, LOGL_DEBUG = 7 };

/* Name lines after this node; show messages at level or more urgent. */
void log_init(const char *node, enum log_level level);
/* Parse "error", "warning", "info" or "debug"; -1 if none of them. */
int log_level_parse(const char *s);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* strerror(e), except for an error a shared file system's client gives
 * that only the operator can end: then what it means and what to do
 * (ESHUTDOWN: the server evicted this host's client, a CephFS blocklist,
 * and every call on the mount fails until it is mounted again). */
const char *log_strerror(int e);

#define log_error(...) log_msg(LOGL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOGL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOGL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOGL_DEBUG, __VA_ARGS__)

#endif
