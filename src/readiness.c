/* Readiness (readiness.h): the workload's notify socket, its ready
 * descriptor, the probes and its watchdog. */
#include "understudy/readiness.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "understudy/clock.h"
#include "understudy/hook.h"
#include "understudy/log.h"
#include "understudy/notify.h"
#include "understudy/text.h"

#define TAG(kind, gen) ((uint64_t)(kind) | (uint64_t)(gen) << 8)

/* The loop keeps a few requests outstanding on a ring of 32, so the queue
 * has room; if it ever had not, submitting frees it. */
static struct io_uring_sqe *sqe_get(struct readiness *r)
{
	struct io_uring_sqe *sqe;
	while (!(sqe = io_uring_get_sqe(r->ring)))
		io_uring_submit(r->ring);
	return sqe;
}

/* The workload's own notify socket: an abstract one, so there is no file
 * to leave behind, and none a workload run as another user would need
 * leave to reach. An abstract name has no owner and no mode, though: any
 * local user may bind it first, and a name made of our pid alone (as it
 * once was) can be bound before we start, failing every `run --ready
 * notify` with 71. So the name carries 128 bits from getrandom(2), which
 * nobody can guess in advance; a name taken all the same is drawn again.
 * Once bound, the name shows in /proc/net/unix and anyone may send to it:
 * on_notify hears only the workload's own processes. */
static int notify_socket(struct readiness *r)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int one = 1, n = 0;
	r->notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (r->notify_fd < 0 || setsockopt(r->notify_fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0)
		return -errno;
	for (int tries = 0;; tries++) {
		uint8_t rnd[16];
		char hex[2 * sizeof(rnd) + 1];
		if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
			return errno ? -errno : -EIO;
		for (size_t i = 0; i < sizeof(rnd); i++)
			snprintf(hex + 2 * i, 3, "%02x", rnd[i]);
		n = snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1, "understudy/%d/notify-%s", (int)getpid(), hex);
		if (bind(r->notify_fd, (struct sockaddr *)&sa,
			 (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n)) == 0)
			break;
		if (errno != EADDRINUSE || tries == 3)
			return -errno;
	}
	snprintf(r->notify_env, sizeof(r->notify_env), "NOTIFY_SOCKET=@%s", sa.sun_path + 1);
	snprintf(r->watchdog_env, sizeof(r->watchdog_env), "WATCHDOG_USEC=%lld", (long long)r->cfg->watchdog_ms * 1000);
	return 0;
}

int readiness_open(struct readiness *r, const struct loop_config *cfg, struct io_uring *ring)
{
	memset(r, 0, sizeof(*r));
	r->cfg = cfg;
	r->ring = ring;
	r->notify_fd = r->ready_r = r->tcp_fd = r->probe_exec_fd = -1;
	return cfg->ready == LOOP_READY_NOTIFY ? notify_socket(r) : 0;
}

void readiness_env(const struct readiness *r, char *env[2])
{
	bool notify = r->cfg->ready == LOOP_READY_NOTIFY;
	env[0] = notify ? (char *)r->notify_env : NULL;
	env[1] = notify && r->cfg->watchdog_ms ? (char *)r->watchdog_env : NULL;
}

static void arm_notify(struct readiness *r)
{
	r->niov = (struct iovec){ r->nbuf, sizeof(r->nbuf) - 1 };
	r->nmsg = (struct msghdr){
		.msg_iov = &r->niov, .msg_iovlen = 1, .msg_control = r->ncmsg, .msg_controllen = sizeof(r->ncmsg)
	};
	struct io_uring_sqe *sqe = sqe_get(r);
	io_uring_prep_recvmsg(sqe, r->notify_fd, &r->nmsg, 0);
	io_uring_sqe_set_data64(sqe, TAG(READINESS_TAG_NOTIFY, 0));
}

void readiness_listen(struct readiness *r, char *const *probe_envp)
{
	r->probe_envp = probe_envp;
	if (r->notify_fd >= 0)
		arm_notify(r);
}

static void arm_ready_fd(struct readiness *r)
{
	struct io_uring_sqe *sqe = sqe_get(r);
	io_uring_prep_read(sqe, r->ready_r, r->ready_buf, sizeof(r->ready_buf), 0);
	io_uring_sqe_set_data64(sqe, TAG(READINESS_TAG_READY_FD, r->ready_gen));
}

static void close_ready_fd(struct readiness *r)
{
	if (r->ready_r >= 0)
		close(r->ready_r);
	r->ready_r = -1;
	r->ready_gen++; /* a read still in flight answers nobody */
}

void readiness_over(struct readiness *r)
{
	close_ready_fd(r);
	r->probe_at = 0;
}

void readiness_gone(struct readiness *r)
{
	readiness_over(r);
	r->watchdog_at = 0;
}

/* Once per workload, and only while the node waits for it: repeated
 * READY=1 must not fill the loop's queue. */
static unsigned ready(struct readiness *r, const struct readiness_now *now, const char *how)
{
	if (!now->starting || !now->active || r->ready_said)
		return 0;
	r->ready_said = true;
	log_debug("workload ready: %s", how);
	readiness_over(r);
	return READINESS_READY;
}

static unsigned unhealthy(struct readiness *r)
{
	if (r->unhealthy_said)
		return 0;
	r->unhealthy_said = true;
	return READINESS_UNHEALTHY;
}

int readiness_spawning(struct readiness *r, struct supervise_as *as)
{
	int p[2];
	if (r->cfg->ready != LOOP_READY_FD)
		return 0;
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	close_ready_fd(r);
	r->ready_r = p[0];
	as->pass_fd = p[1];
	as->pass_fd_as = r->cfg->ready_fd;
	return 0;
}

void readiness_unspawned(struct readiness *r) { close_ready_fd(r); }

unsigned readiness_started(struct readiness *r, int64_t now)
{
	r->status[0] = '\0';
	r->watchdog_at = 0;
	r->reloading = r->stray_said = r->ready_said = r->unhealthy_said = false;
	switch (r->cfg->ready) {
	case LOOP_READY_EXEC: r->ready_said = true; return READINESS_READY;
	case LOOP_READY_FD: arm_ready_fd(r); break;
	case LOOP_READY_TCP:
	case LOOP_READY_COMMAND: r->probe_at = now + r->cfg->ready_interval_ms; break;
	case LOOP_READY_NOTIFY: break;
	}
	return 0;
}

/* One datagram from the workload's side of the notify protocol. Only the
 * workload's own processes are heard: a stray sender must not make it
 * ready. What systemd should know is passed up. */
static unsigned on_notify(struct readiness *r, int len, const struct readiness_now *now)
{
	struct cmsghdr *c = CMSG_FIRSTHDR(&r->nmsg);
	struct ucred cred = { 0 };
	bool have_cred = false;
	for (; c; c = CMSG_NXTHDR(&r->nmsg, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
			memcpy(&cred, CMSG_DATA(c), sizeof(cred));
			have_cred = true;
		}
	/* A sender that has exited already (a short-lived helper, as with
	 * systemd-notify) cannot be placed in the tree any more, and the
	 * kernel may report its pid as 0: it is taken at its word when it ran
	 * as the workload's user or as root, the users that can start
	 * processes in the tree anyway. */
	bool in_tree = have_cred && cred.pid > 0 && supervise_in_tree(now->wl, cred.pid);
	/* Asked after the walk: a sender reaped during it is gone now. */
	bool gone = !in_tree && (cred.pid <= 0 || (kill(cred.pid, 0) < 0 && errno == ESRCH));
	bool ours = in_tree || (have_cred && gone && (cred.uid == 0 || cred.uid == r->cfg->workload_as.uid));
	if (!now->active || !ours) {
		/* Once per workload: a stray sender should be seen, not flood. */
		if (!r->stray_said)
			log_warn("notify message from pid %d (uid %d%s), not the workload's: ignored", (int)cred.pid,
				 (int)cred.uid, have_cred ? "" : ", no credentials");
		r->stray_said = true;
		return 0;
	}
	r->nbuf[len] = '\0';
	unsigned news = 0;
	for (char *save, *line = strtok_r(r->nbuf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!strcmp(line, "READY=1")) {
			if (r->reloading && now->live)
				notify_send("READY=1");
			r->reloading = false;
			news |= ready(r, now, "READY=1");
		} else if (!strncmp(line, "STATUS=", 7)) {
			/* Shown by systemctl status: its bytes are the workload's. */
			text_escape(line + 7, r->status, sizeof(r->status), 0);
			news |= READINESS_STATUS;
		} else if (!strcmp(line, "RELOADING=1")) {
			log_info("workload (pid %d) reloading", (int)cred.pid);
			r->reloading = true;
			if (now->live)
				notify_send("RELOADING=1");
		} else if (!strcmp(line, "STOPPING=1")) {
			log_info("workload (pid %d) says it is stopping", (int)cred.pid);
		} else if (!strcmp(line, "WATCHDOG=1") && r->cfg->watchdog_ms) {
			r->watchdog_at = clock_ms() + r->cfg->watchdog_ms;
		} else if (!strcmp(line, "WATCHDOG=trigger")) {
			log_warn("workload (pid %d) triggered its watchdog", (int)cred.pid);
			news |= unhealthy(r);
		}
	}
	return news;
}

static unsigned on_ready_fd(struct readiness *r, int res, const struct readiness_now *now)
{
	if (res > 0 && memchr(r->ready_buf, '\n', (size_t)res))
		return ready(r, now, "a newline on the ready descriptor");
	if (res > 0) {
		arm_ready_fd(r); /* not a line yet */
		return 0;
	}
	/* Closed without a newline: it will not say so this way. */
	close_ready_fd(r);
	return 0;
}

static void tcp_probe(struct readiness *r)
{
	if (r->tcp_fd >= 0)
		return; /* the last try is still under way */
	r->tcp_fd = socket(r->cfg->ready_addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (r->tcp_fd < 0) {
		log_warn("ready probe: socket: %s", strerror(errno));
		return;
	}
	/* A try lasts at most half an interval: a filtered port never
	 * answers, and the next try needs the socket. */
	int64_t t = r->cfg->ready_interval_ms / 2 ? r->cfg->ready_interval_ms / 2 : 1;
	r->tcp_timeout = (struct __kernel_timespec){ t / 1000, (t % 1000) * 1000000 };
	struct io_uring_sqe *sqe = sqe_get(r);
	io_uring_prep_connect(sqe, r->tcp_fd, (const struct sockaddr *)&r->cfg->ready_addr, r->cfg->ready_addrlen);
	io_uring_sqe_set_data64(sqe, TAG(READINESS_TAG_TCP, ++r->tcp_gen));
	sqe->flags |= IOSQE_IO_LINK;
	sqe = sqe_get(r);
	io_uring_prep_link_timeout(sqe, &r->tcp_timeout, 0);
	io_uring_sqe_set_data64(sqe, 0);
}

static unsigned on_tcp(struct readiness *r, int res, const struct readiness_now *now)
{
	close(r->tcp_fd);
	r->tcp_fd = -1;
	return res == 0 ? ready(r, now, "the ready address accepted a connection") : 0;
}

unsigned readiness_complete(struct readiness *r, uint64_t tag, int res, const struct readiness_now *now)
{
	unsigned gen = (unsigned)(tag >> 8), news = 0;
	switch (tag & 0xff) {
	case READINESS_TAG_NOTIFY:
		if (res >= 0)
			news = on_notify(r, res, now);
		arm_notify(r);
		return news;
	case READINESS_TAG_READY_FD: return gen == r->ready_gen ? on_ready_fd(r, res, now) : 0;
	case READINESS_TAG_TCP: return gen == r->tcp_gen ? on_tcp(r, res, now) : 0;
	default: return 0;
	}
}

static void command_probe(struct readiness *r, int64_t now)
{
	if (r->probe_pid)
		return; /* still running: killed at its deadline */
	pid_t pid = hook_spawn(r->cfg->ready_argv, r->probe_envp, &r->probe_exec_fd);
	if (pid < 0) {
		log_warn("ready command %s: %s", r->cfg->ready_argv[0], strerror(-pid));
		return;
	}
	r->probe_pid = pid;
	r->probe_kill_at = now + r->cfg->ready_interval_ms;
}

bool readiness_reaped(struct readiness *r, pid_t pid, int wstatus, const struct readiness_now *now, unsigned *news)
{
	if (!pid || pid != r->probe_pid)
		return false;
	r->probe_pid = 0;
	r->probe_kill_at = 0;
	/* Reaped, so its end of the pipe is closed: answers at once. */
	int e = hook_exec_result(r->probe_exec_fd, r->cfg->ready_argv[0]);
	r->probe_exec_fd = -1;
	if (e < 0) /* a refusal was said with why, first */
		log_warn("ready command %s: %s", r->cfg->ready_argv[0], strerror(-e));
	if (!e && WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0)
		*news |= ready(r, now, "the ready command exited 0");
	return true;
}

int64_t readiness_deadline(const struct readiness *r)
{
	int64_t d[] = { r->probe_at, r->probe_kill_at, r->watchdog_at }, m = 0;
	for (size_t i = 0; i < sizeof(d) / sizeof(d[0]); i++)
		if (d[i] && (!m || d[i] < m))
			m = d[i];
	return m;
}

unsigned readiness_expire(struct readiness *r, int64_t now)
{
	unsigned news = 0;
	if (r->probe_at && now >= r->probe_at) {
		r->probe_at = now + r->cfg->ready_interval_ms;
		if (r->cfg->ready == LOOP_READY_TCP)
			tcp_probe(r);
		else
			command_probe(r, now);
	}
	if (r->probe_kill_at && now >= r->probe_kill_at) {
		r->probe_kill_at = 0;
		/* Not reaped yet: still its group, and its pid (its exec may
		 * hang before or after its setsid()). */
		kill(-r->probe_pid, SIGKILL);
		kill(r->probe_pid, SIGKILL);
	}
	if (r->watchdog_at && now >= r->watchdog_at) {
		r->watchdog_at = 0;
		log_warn("the workload did not pet its watchdog within %lld ms", (long long)r->cfg->watchdog_ms);
		news |= unhealthy(r);
	}
	return news;
}

const char *readiness_status(const struct readiness *r) { return r->status; }
