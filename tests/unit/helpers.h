/* Helpers shared by the test suites: real temporary directories, real
 * lock holders in other processes, whole-file snapshots. */
#ifndef UNDERSTUDY_TEST_HELPERS_H
#define UNDERSTUDY_TEST_HELPERS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Make a fresh directory under $TMPDIR (or /tmp); free() the result. */
char *th_tmpdir(void);
/* Remove a directory and everything below it. */
void th_rmtree(const char *dir);
/* path joined to dir, malloc'd. */
char *th_path(const char *dir, const char *name);
/* Fork a process that opens path and holds an OFD write lock on the
 * byte at offset until killed; returns once the lock is held. */
pid_t th_hold_lock(const char *path, int offset);
/* SIGKILL a helper process and reap it. */
void th_kill(pid_t pid);
/* CLOCK_MONOTONIC in nanoseconds. */
int64_t th_now_ns(void);
/* Read a whole file into a malloc'd buffer; -1 if it cannot. */
int th_read_file(const char *path, uint8_t **buf, size_t *len);
/* A whole file as a NUL-terminated string (malloc'd); "" if it cannot be
 * read, so a missing output reads as empty. */
char *th_read_text(const char *path);
/* Create (mode 0600) or overwrite a file with exactly these bytes. */
void th_write_file(const char *path, const void *buf, size_t len);
/* 1 when another process holds a lock on the byte at offset of path. */
int th_is_locked(const char *path, int offset);
/* A copy of the executable bin, mode 0755, in dir (which the caller
 * makes reachable), for a test that runs it as another user: the build
 * tree may sit under a home that user cannot reach (root's is 0700),
 * and then every refusal would be exec's, not understudy's. free() the
 * result. */
char *th_exec_copy(const char *bin, const char *dir);

/* The value of field name in a datagram of the journal's native protocol
 * (KEY=value lines, or KEY, a 64-bit little-endian length and the value
 * for a value with a newline), copied NUL-terminated into out; -1 when
 * the datagram has no such field or is malformed (a length past its end,
 * a line without '=' and without a length). The last of repeated fields. */
int th_journal_field(const char *dgram, size_t len, const char *name, char *out, size_t outsz);
/* A datagram socket bound at path, standing in for journald's; non-blocking. */
int th_journal_socket(const char *path);

#endif
