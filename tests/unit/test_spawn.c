/* The spawner against real children: they share our memory until their
 * exec, the caller is never held by an exec that does not return, and a
 * second start meanwhile is refused rather than queued behind it. */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "understudy/spawn.h"

TestSuite(spawn, .timeout = 30);

static _Atomic int written;

/* Child side: system calls and a store into our memory, nothing else. */
SPAWN_CHILD static void store_and_exit(void *arg)
{
	atomic_store(&written, *(const int *)arg);
	_exit(7);
}

static int wait_status(pid_t pid)
{
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return st;
}

static bool idle_within(int ms)
{
	for (int i = 0; i < ms; i++) {
		if (!spawn_busy())
			return true;
		struct timespec t = { 0, 1000000 };
		nanosleep(&t, NULL);
	}
	return false;
}

/* What the child writes before it exits is in our memory: no copy was
 * made (a fork's child would write into its own). */
Test(spawn, a_child_shares_our_memory_until_it_execs_or_exits)
{
	int value = 4242;
	atomic_store(&written, 0);
	pid_t pid = spawn_shared(store_and_exit, &value);
	cr_assert_gt(pid, 0, "spawn_shared: %d", (int)pid);
	int st = wait_status(pid);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 7, "status 0x%x", st);
	cr_expect_eq(atomic_load(&written), 4242, "the child's store is not in our memory: it was copied");
	cr_expect(idle_within(1000), "the spawner stayed busy after its child exited");
}

/* A child that waits on a pipe: an exec that does not return, as on a
 * file system that stopped answering. */
static int gate[2];

SPAWN_CHILD static void wait_at_gate_then_exec(void *arg)
{
	(void)arg;
	close(gate[1]); /* EOF, should the test die first */
	char c;
	while (read(gate[0], &c, 1) < 0 && errno == EINTR)
		;
	char *argv[] = { "true", NULL }, *envp[] = { NULL };
	execve("/bin/true", argv, envp);
	_exit(127);
}

/* The caller has its pid while the child still waits before its exec; a
 * second start meanwhile gets EBUSY at once (the caller then forks); once
 * the child exec'd, the spawner starts the next one. */
Test(spawn, the_caller_goes_on_while_a_childs_exec_waits)
{
	cr_assert_eq(pipe(gate), 0);
	pid_t pid = spawn_shared(wait_at_gate_then_exec, NULL);
	cr_assert_gt(pid, 0, "spawn_shared: %d", (int)pid);
	cr_expect(spawn_busy(), "the spawner says it is free while its child has not exec'd");
	cr_expect_eq(spawn_shared(store_and_exit, NULL), -EBUSY, "a second start did not get EBUSY");
	cr_expect_eq(kill(pid, 0), 0, "the waiting child is gone");
	cr_assert_eq(write(gate[1], "x", 1), 1);
	int st = wait_status(pid);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "/bin/true after the gate: status 0x%x", st);
	cr_assert(idle_within(1000), "the spawner stayed busy after its child's exec");
	int value = 17;
	atomic_store(&written, 0);
	pid_t next = spawn_shared(store_and_exit, &value);
	cr_assert_gt(next, 0, "the start after the exec: %d", (int)next);
	wait_status(next);
	cr_expect_eq(atomic_load(&written), 17);
	close(gate[0]);
	close(gate[1]);
}

/* Killed while it waits before its exec, the child frees the spawner. */
Test(spawn, a_child_killed_before_its_exec_frees_the_spawner)
{
	cr_assert_eq(pipe(gate), 0);
	pid_t pid = spawn_shared(wait_at_gate_then_exec, NULL);
	cr_assert_gt(pid, 0);
	cr_assert_eq(kill(pid, SIGKILL), 0);
	int st = wait_status(pid);
	cr_expect(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "status 0x%x", st);
	cr_expect(idle_within(1000), "the spawner stayed busy after its child was killed");
	close(gate[0]);
	close(gate[1]);
}
