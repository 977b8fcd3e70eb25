/* The systemd notify protocol, spoken directly: one datagram to
 * $NOTIFY_SOCKET, as systemd documents it for programs that do not link
 * libsystemd. Without $NOTIFY_SOCKET every call is a no-op. */
#ifndef UNDERSTUDY_NOTIFY_H
#define UNDERSTUDY_NOTIFY_H

/* Send "READY=1", "STATUS=...", "STOPPING=1" and the like; 0, or -errno. */
int notify_send(const char *state);

#endif
