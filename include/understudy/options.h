/* Parsing what operators type: durations, counts, names. Each parser
 * returns 0 or -EINVAL and never prints; the command names the option. */
#ifndef UNDERSTUDY_OPTIONS_H
#define UNDERSTUDY_OPTIONS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* "500ms", "10s", "2m", "1h", parts of them largest unit first
 * ("1m30s", "1h30m", "2s500ms"), or a plain number of seconds ("1.5"),
 * into milliseconds. -EINVAL for what is no duration, -ERANGE for one
 * under 1 ms or over a day; *ms is set only on success. */
int options_duration(const char *s, int64_t *ms);
/* The same, with why saying which of the two and what is allowed, the
 * value escaped: every command and key words its refusal alike. */
int options_duration_why(const char *s, int64_t *ms, char *why, size_t n);
/* A whole number in [min, max]. */
int options_int(const char *s, long min, long max, long *out);
/* A numeric "ADDRESS:PORT" ("[ADDRESS]:PORT" for IPv6) into a socket
 * address; never a host name, which would resolve to whatever it means
 * at start. 0, or -EINVAL with why saying what is wrong. */
int options_address(const char *s, struct sockaddr_storage *sa, socklen_t *len, char *why, size_t n);
/* A node name: 1 to 63 bytes of letters, digits, '.', '-', '_', '@', ':'. */
int options_name(const char *s);
/* The same, with why naming the byte at fault (escaped: "\x1b (byte 3)")
 * for the message. */
int options_name_check(const char *s, char *why, size_t n);
/* The address a node publishes for clients (--address): empty, or at most
 * 63 bytes of printable ASCII without blanks, since every reader shows it
 * and status --watch prints it as one word. 0, or -EINVAL with why. */
int options_published_address(const char *s, char *why, size_t n);
/* A group's lock path: absolute, since a relative one names another file
 * on each host (a primary on every host), and without control
 * characters. 0, or -EINVAL with why; commands exit 78 for it wherever it
 * was given, as the path is the group's identity, not a typing slip. */
int options_lock_path(const char *s, char *why, size_t n);

#endif
