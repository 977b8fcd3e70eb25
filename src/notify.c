#include "understudy/notify.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int notify_send(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	if (!path || !*path)
		return 0;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len = strlen(path);
	if (len >= sizeof(sa.sun_path) || (path[0] != '/' && path[0] != '@'))
		return -EINVAL;
	memcpy(sa.sun_path, path, len);
	if (path[0] == '@')
		sa.sun_path[0] = '\0'; /* abstract namespace */
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	socklen_t salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
	/* Never wait on the receiver: a full queue (ten datagrams on a unix
	 * socket by default) would freeze the event loop, fence and all. A
	 * datagram lost to a busy receiver is better than that. */
	ssize_t r = sendto(fd, state, strlen(state), MSG_NOSIGNAL | MSG_DONTWAIT, (struct sockaddr *)&sa, salen);
	int err = r < 0 ? -errno : 0;
	close(fd);
	return err;
}

int notify_fd_ready(int fd)
{
	ssize_t r;
	/* MSG_NOSIGNAL is for sockets: a pipe whose reader is gone would
	 * raise SIGPIPE, which the loop blocks and takes on its signalfd,
	 * so write() just answers EPIPE. */
	while ((r = write(fd, "\n", 1)) < 0 && errno == EINTR)
		;
	int err = r < 0 ? -errno : 0;
	close(fd);
	return err == -EPIPE ? 0 : err;
}
