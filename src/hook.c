/* Hooks: started, not waited for. */
#include "understudy/hook.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "understudy/supervise.h"

pid_t hook_start(const char *path, const char *event, char *const envp[])
{
	size_t n = 0;
	while (envp[n])
		n++;
	char **env = calloc(n + 2, sizeof(char *));
	char *ev = NULL;
	if (!env || asprintf(&ev, "UNDERSTUDY_EVENT=%s", event) < 0) {
		free(env);
		return -ENOMEM;
	}
	memcpy(env, envp, n * sizeof(char *));
	env[n] = ev;
	int p[2];
	pid_t pid = -1;
	int err = 0;
	if (pipe2(p, O_CLOEXEC) < 0) {
		err = errno;
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		err = errno;
		close(p[0]);
		close(p[1]);
		goto out;
	}
	if (pid == 0) {
		/* Its own session: signals meant for the workload's group and
		 * the terminal never reach it. Only async-signal-safe calls. */
		setsid();
		supervise_child_signals();
		char *argv[] = { (char *)path, (char *)event, NULL };
		execve(path, argv, env);
		int e = errno;
		if (write(p[1], &e, sizeof(e)) < 0)
			_exit(127);
		_exit(127);
	}
	close(p[1]);
	supervise_not_workload(pid);
	int e = 0;
	ssize_t r;
	while ((r = read(p[0], &e, sizeof(e))) < 0 && errno == EINTR)
		;
	close(p[0]);
	if (r == (ssize_t)sizeof(e))
		err = e; /* reaped later with the other children */
out:
	free(ev);
	free(env);
	return err ? -err : pid;
}
