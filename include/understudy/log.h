/* One line per event on stderr; under systemd, one datagram per event in
 * the journal's native protocol instead, with the node's fields beside the
 * message, so that `journalctl UNDERSTUDY_GROUP=app` finds a group's
 * events on a host. */
#ifndef UNDERSTUDY_LOG_H
#define UNDERSTUDY_LOG_H

#include <stdint.h>
#include <sys/types.h>

enum log_level { LOGL_ERROR = 3, LOGL_WARN = 4, LOGL_INFO = 6, LOGL_DEBUG = 7 };

/* What one event is about beyond its message, each a journal field when
 * the journal takes it (UNDERSTUDY_FROM, _TO, _REASON, _EPOCH,
 * _WORKLOAD_PID); NULL or 0 leaves a field out. */
struct log_fields {
	const char *from, *to; /* the node's state before and after a transition */
	const char *reason;    /* why the state machine decided */
	uint64_t epoch;        /* the live term the node holds or last saw */
	pid_t workload_pid;
};

/* Name lines after this node and every journal entry after the node and
 * its group (UNDERSTUDY_NODE, UNDERSTUDY_GROUP; NULL leaves one out);
 * show messages at level or more urgent. Sends to the journal when stderr
 * is the stream systemd gave (JOURNAL_STREAM names its device and inode)
 * and journald's socket takes a datagram; plain lines otherwise. Called
 * again (a rejoining node), it starts afresh. */
void log_init(const char *node, const char *group, enum log_level level);
/* Parse "error", "warning", "info" or "debug"; -1 if none of them. */
int log_level_parse(const char *s);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* log_msg with the fields of f (may be NULL) added in the journal. */
void log_fields(enum log_level level, const struct log_fields *f, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

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
