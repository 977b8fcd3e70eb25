/* Hooks: started, watched for their end and their timeout, never waited for. */
#include "understudy/hook.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

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

pid_t hook_spawn(char *const argv[], char *const env[])
{
	/* Checked at each run, not only at the start: the file or a
	 * directory above it may have changed hands since. The check passed,
	 * only root or we can change the path before the exec below. */
	char why[1024];
	struct trust_who self;
	trust_who_default(&self);
	if (trust_check(argv[0], TRUST_PROGRAM, &self, why, sizeof(why)) == -EPERM) {
		log_error("%s", why);
		return -EPERM;
	}
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
		 * all of it. Only async-signal-safe calls. */
		setsid();
		supervise_child_signals();
		execve(argv[0], argv, env);
		supervise_exec_failed(p[1], errno);
	}
	close(p[1]);
	supervise_not_workload(pid);
	int e = supervise_exec_result(p[0]);
	/* A failed exec's child is reaped later with the other children. */
	return e ? -e : pid;
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
	pid = hook_spawn(argv, env);
	if (pid > 0) {
		*slot = (struct hook_run){ .pid = pid, .event = e, .kill_at = now_ms + h->timeout_ms };
		log_info("on-%s hook %s started, pid %d", names[e], path, (int)pid);
	}
out:
	if (pid == -EPERM)
		log_warn("on-%s hook %s not run", names[e], path); /* hook_spawn said why */
	else if (pid < 0)
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
		if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) != 0)
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
		log_warn("on-%s hook %s did not finish within %lld ms: killing it", names[r->event], h->paths[r->event],
			 (long long)h->timeout_ms);
		/* Its own session and group (setsid): the kill reaches every
		 * process it started that stayed in it. Not reaped yet, so the
		 * pid is still the hook's. */
		kill(-r->pid, SIGKILL);
	}
}
