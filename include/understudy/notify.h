/* Telling a supervisor the manager is ready. systemd's notify protocol,
 * spoken directly: one datagram to $NOTIFY_SOCKET, as systemd documents it
 * for programs that do not link libsystemd (without $NOTIFY_SOCKET every
 * call is a no-op); and s6's notification-fd, for s6, runit wrappers and
 * others that pass a pipe. */
#ifndef UNDERSTUDY_NOTIFY_H
#define UNDERSTUDY_NOTIFY_H

/* Send "READY=1", "STATUS=...", "STOPPING=1" and the like; 0, or -errno. */
int notify_send(const char *state);

/* s6's readiness convention: write a newline to fd, then close it. A
 * supervisor that gave the descriptor reads the line; one that is gone
 * does not stop us (EPIPE is no error here). 0, or -errno. */
int notify_fd_ready(int fd);

#endif
