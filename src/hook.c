/* Hooks: started, watched for their end and their timeout, never waited for. */
#include "understudy/hook.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include "understudy/clock.h"

#include "understudy/log.h"
#include "understudy/supervise.h"
#include "understudy/trust.h"

/* What a hook's commands are looked up in: directories root owns, never
 * one the workload's environment names (a user's PATH would choose what
 * runs as root). */
static char fixed_path[] = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

static const char *const names[HOOK_NEVENTS] = {
	[HOOK_LIVE] = "live",   [HOOK_BACKUP] = "backup",     [HOOK_STOP] = "stop",
	[HOOK_FENCE] = "fence", [HOOK_FAILBACK] = "failback",
};

const char *hook_event_name(enum hook_event e) { return names[e]; }

static char **build_env(char *const envp[], char *const extra[], char *ev)
{
	size_t n = 0, m = 0;
	while (envp[n])
		n++;
	while (extra && extra[m])
		m++;
	char **env = calloc(n + m + 2, sizeof(char *));
	if (!env)
		return NULL;
	memcpy(env, envp, n * sizeof(char *));
	if (m)
		memcpy(env + n, extra, m * sizeof(char *));
	env[n + m] = ev;
	return env;
}

char **hook_environment(char *const envp[])
{
	size_t n = 0, k = 0;
	while (envp[n])
		n++;
	char **env = calloc(n + 2, sizeof(char *));
	if (!env)
		return NULL;
	env[k++] = fixed_path;
	for (size_t i = 0; i < n; i++)
		if (strncmp(envp[i], "UNDERSTUDY_", 11) == 0)
			env[k++] = envp[i];
	return env;
}

/* What the child writes on the exec error pipe when the walk refused the
 * program: -EPERM, then what the walk found. A failed exec writes its
 * errno alone (supervise_exec_failed). */
struct refusal {
	int err;
	struct trust_finding f;
};

pid_t hook_spawn(char *const argv[], char *const env[], int *exec_fd)
{
	struct trust_who self;
	trust_who_default(&self);
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(p[0]);
		close(p[1]);
		return -e;
	}
	if (pid == 0) {
		/* Its own session: signals meant for the workload's group and
		 * the terminal never reach it, and its timeout's kill reaches
		 * all of it. What follows may wait on storage that never
		 * answers (the hook's directory on a hung NFS or FUSE mount),
		 * so it happens here, in the child, under the hook's timeout,
		 * and never on the manager's loop: the walk over the path (at
		 * each run, not only at the start: the file or a directory
		 * above it may have changed hands since; it does lstat,
		 * readlink and lgetxattr, no allocation), then the exec. The
		 * walk passed, only root or we can change the path before the
		 * exec, in this very process. */
		setsid();
		supervise_child_signals();
		close(p[0]);
		static struct refusal r; /* a fresh copy of the parent's, in the child alone */
		if (trust_walk(argv[0], TRUST_PROGRAM, &self, &r.f) == -EPERM) {
			r.err = -EPERM;
			if (write(p[1], &r, sizeof(r)) < 0)
				_exit(127);
			_exit(127);
		}
		execve(argv[0], argv, env);
		supervise_exec_failed(p[1], errno);
	}
	close(p[1]);
	supervise_not_workload(pid);
	*exec_fd = p[0];
	return pid;
}

int hook_exec_result(int fd, const char *path)
{
	static struct refusal r;
	ssize_t n;
	memset(&r, 0, sizeof(r));
	while ((n = read(fd, &r, sizeof(r))) < 0 && errno == EINTR)
		;
	close(fd);
	if (n < (ssize_t)sizeof(r.err) || !r.err)
		return 0; /* EOF: the exec closed the pipe, or the child died before */
	if (r.err != -EPERM)
		return -r.err;
	if (n != (ssize_t)sizeof(r)) /* a refusal cut short: say it without the details */
		return -EPERM;
	char why[1024];
	struct trust_who self;
	trust_who_default(&self);
	trust_explain(path, &r.f, TRUST_PROGRAM, &self, why, sizeof(why));
	log_error("%s", why);
	return -EPERM;
}

/* The outcome of a hook's exec, once its pipe answers (its child exec'd
 * or ended): what stopped it is said. True when it ran. */
static bool hook_outcome(struct hook_run *r, const char *path)
{
	if (r->exec_fd < 0)
		return true;
	int e = hook_exec_result(r->exec_fd, path);
	r->exec_fd = -1;
	if (e == -EPERM)
		log_warn("on-%s hook %s not run", names[r->event], path); /* the refusal was said */
	else if (e < 0)
		log_warn("on-%s hook %s: %s", names[r->event], path, strerror(-e));
	return !e;
}

pid_t hook_start(struct hooks *h, enum hook_event e, char *const envp[], char *const extra[], int64_t now_ms)
{
	const char *path = h->paths ? h->paths[e] : NULL;
	if (!path)
		return 0;
	struct hook_run *slot = NULL;
	for (int i = 0; i < HOOK_MAX_RUNNING && !slot; i++)
		if (!h->run[i].pid)
			slot = &h->run[i];
	if (!slot) {
		/* Hooks that never end must not pile up without bound. */
		log_warn("on-%s hook %s not run: %d hooks are still running", names[e], path, HOOK_MAX_RUNNING);
		return -EAGAIN;
	}
	char *ev = NULL;
	char **env = NULL;
	pid_t pid = -ENOMEM;
	if (asprintf(&ev, "UNDERSTUDY_EVENT=%s", names[e]) < 0) {
		ev = NULL;
		goto out;
	}
	if (!(env = build_env(envp, extra, ev)))
		goto out;
	char *argv[] = { (char *)path, (char *)names[e], NULL };
	int fd = -1;
	pid = hook_spawn(argv, env, &fd);
	if (pid > 0) {
		/* Its timeout runs from the fork: a walk or an exec that hangs
		 * on storage is killed with it. */
		*slot = (struct hook_run){ .pid = pid, .event = e, .kill_at = now_ms + h->timeout_ms, .exec_fd = fd };
		log_info("on-%s hook %s started, pid %d", names[e], path, (int)pid);
	}
out:
	if (pid < 0)
		log_warn("on-%s hook %s: %s", names[e], path, strerror(-pid));
	free(env);
	free(ev);
	return pid;
}

bool hook_reaped(struct hooks *h, pid_t pid, int wstatus)
{
	for (int i = 0; i < HOOK_MAX_RUNNING; i++) {
		struct hook_run *r = &h->run[i];
		if (r->pid != pid)
			continue;
		const char *path = h->paths[r->event];
		/* Gone, so its end of the pipe is closed: the read answers at
		 * once. One that never ran says why, not its status 127. */
		if (!hook_outcome(r, path))
			;
		else if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) != 0)
			log_warn("on-%s hook %s failed: exit status %d", names[r->event], path, WEXITSTATUS(wstatus));
		else if (WIFSIGNALED(wstatus))
			log_warn("on-%s hook %s failed: killed by signal %d (%s)", names[r->event], path,
				 WTERMSIG(wstatus), strsignal(WTERMSIG(wstatus)));
		r->pid = 0;
		return true;
	}
	return false;
}

int64_t hook_deadline(const struct hooks *h)
{
	int64_t m = 0;
	for (int i = 0; i < HOOK_MAX_RUNNING; i++)
		if (h->run[i].pid && h->run[i].kill_at && (!m || h->run[i].kill_at < m))
			m = h->run[i].kill_at;
	return m;
}

void hook_expire(struct hooks *h, int64_t now_ms)
{
	for (int i = 0; i < HOOK_MAX_RUNNING; i++) {
		struct hook_run *r = &h->run[i];
		if (!r->pid || !r->kill_at || now_ms < r->kill_at)
			continue;
		r->kill_at = 0; /* once: it is reaped as it dies */
		/* Did it get as far as its program? The pipe says so at once
		 * when it did (EOF) or failed; silent, its walk or exec waits. */
		struct pollfd pfd = { .fd = r->exec_fd, .events = POLLIN };
		if (r->exec_fd >= 0 && poll(&pfd, 1, 0) == 1)
			hook_outcome(r, h->paths[r->event]);
		log_warn("on-%s hook %s did not finish within %lld ms%s: killing it", names[r->event],
			 h->paths[r->event], (long long)h->timeout_ms,
			 r->exec_fd >= 0 ? " (its exec had not returned: does its file system answer?)" : "");
		/* Its own session and group (setsid): the kill reaches every
		 * process it started that stayed in it. Not reaped yet, so the
		 * pid is still the hook's. */
		kill(-r->pid, SIGKILL);
		kill(r->pid, SIGKILL); /* in case it had not reached its setsid() */
	}
}

void hook_settle(struct hooks *h, int64_t bound_ms)
{
	int64_t end = clock_ms() + bound_ms;
	for (;;) {
		struct pollfd pfd[HOOK_MAX_RUNNING];
		struct hook_run *run[HOOK_MAX_RUNNING];
		nfds_t n = 0;
		for (int i = 0; i < HOOK_MAX_RUNNING; i++)
			if (h->run[i].pid && h->run[i].exec_fd >= 0) {
				pfd[n] = (struct pollfd){ .fd = h->run[i].exec_fd, .events = POLLIN };
				run[n++] = &h->run[i];
			}
		int64_t left = end - clock_ms();
		if (!n || left <= 0)
			return;
		if (poll(pfd, n, (int)left) < 0 && errno != EINTR)
			return;
		for (nfds_t i = 0; i < n; i++)
			if (pfd[i].revents)
				hook_outcome(run[i], h->paths[run[i]->event]);
	}
}
