/* check-storage's helper processes. */
#include "understudy/check_helper.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "understudy/check.h"
#include "understudy/clock.h"

int check_msg_send(int fd, char tag, int64_t value)
{
	struct check_msg m = { .tag = tag, .value = value };
	return write(fd, &m, sizeof(m)) == (ssize_t)sizeof(m) ? 0 : -EPIPE;
}

int check_msg_recv(int fd, int64_t timeout_ms, struct check_msg *m)
{
	int64_t end = clock_ns() + timeout_ms * 1000000;
	for (;;) {
		int64_t left = (end - clock_ns()) / 1000000;
		if (left < 0)
			return -ETIMEDOUT;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int r = poll(&p, 1, (int)(left > INT32_MAX ? INT32_MAX : left));
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0)
			return -ETIMEDOUT;
		if (r < 0)
			return -errno;
		ssize_t n = read(fd, m, sizeof(*m));
		if (n < 0 && errno == EINTR)
			continue;
		return n == (ssize_t)sizeof(*m) ? 0 : -EPIPE;
	}
}

int check_helper_start(struct check_helper *h, check_helper_body *body, const char *path)
{
	int to[2], from[2];
	if (pipe2(to, O_CLOEXEC) < 0)
		return -errno;
	if (pipe2(from, O_CLOEXEC) < 0) {
		int e = errno;
		close(to[0]);
		close(to[1]);
		return -e;
	}
	pid_t parent = getpid();
	h->path = path;
	h->pid = fork();
	if (h->pid < 0) {
		int e = errno;
		close(to[0]), close(to[1]), close(from[0]), close(from[1]);
		return -e;
	}
	if (h->pid == 0) {
		/* A helper outlives nothing: if the runner dies (ended for a
		 * hung call), its helpers go with it. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(0);
		close(to[1]);
		close(from[0]);
		body(path, to[0], from[1]);
		_exit(0);
	}
	close(to[0]);
	close(from[1]);
	h->to = to[1];
	h->from = from[0];
	return 0;
}

static int reap(pid_t pid)
{
	int r;
	while ((r = (int)waitpid(pid, NULL, 0)) < 0 && errno == EINTR)
		;
	return r;
}

void check_helper_stop(struct check_helper *h)
{
	if (h->pid <= 0)
		return;
	kill(h->pid, SIGKILL);
	/* A process in a storage call that does not return (a FUSE request
	 * sent, an NFS hard mount) dies only when the call ends. */
	CHECK_CALL(h->path, "reaping a killed helper, which dies only once its storage call returns", reap(h->pid));
	close(h->to);
	close(h->from);
	h->pid = 0;
}

int check_helper_ask(struct check_helper *h, char tag, int64_t timeout_ms, int64_t *value)
{
	struct check_msg m = { 0 };
	int r = check_msg_send(h->to, tag, 0);
	if (r == 0)
		r = check_msg_recv(h->from, timeout_ms, &m);
	if (r == 0)
		*value = m.value;
	return r;
}

void check_helper_open(struct lockfile *lf, const char *path, int out)
{
	if (lockfile_open(lf, path, LF_OPEN_WRITE) < 0) {
		check_msg_send(out, 'e', lf->errno_value ? lf->errno_value : EIO);
		_exit(1);
	}
}

void check_helper_holder(const char *path, int in, int out)
{
	(void)in;
	struct lockfile lf;
	check_helper_open(&lf, path, out);
	int r = lockfile_lock(&lf, LF_LOCK_LIVE, false);
	check_msg_send(out, r == 0 ? 'h' : 'e', -r);
	for (;;)
		pause();
}

int check_kill_and_take(struct lockfile *a, pid_t pid, enum lf_lock take, int64_t timeout_ms, int64_t *ns)
{
	int64_t t0 = clock_ns();
	kill(pid, SIGKILL);
	int r = CHECK_WAIT(a->path, "taking a lock a killed process held, with tries", timeout_ms,
			   lockfile_lock_within(a, take, timeout_ms));
	*ns = clock_ns() - t0;
	return r;
}
