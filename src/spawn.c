/* The spawner: one thread that clones children sharing our memory. */
#include "understudy/spawn.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The handshake, one futex word: the caller asks (IDLE -> ASKED); the
 * child, first thing, says it runs (RUNNING); the spawner, back from the
 * clone once the child exec'd or exited, is free again (IDLE), or says the
 * clone failed (FAILED, which the caller turns back to IDLE). The spawner
 * itself takes no lock and allocates nothing: a process forked while it
 * waits (the storage process, again on a rejoin) inherits nothing held. */
enum { SP_IDLE, SP_ASKED, SP_RUNNING, SP_FAILED };

/* The child's stack. The spawner is suspended while a child runs on it,
 * and at most one child is before its exec, so one stack serves them all;
 * a page below it that nobody may touch turns an overflow into a fault. */
#define STACK_SIZE ((size_t)256 * 1024)

static struct {
	pid_t owner; /* the process this spawner belongs to */
	_Atomic uint32_t state;
	_Atomic pid_t pid; /* the child: set by itself, or by the spawner if it died first */
	int err;           /* the failed clone's errno */
	void (*fn)(void *);
	void *arg;
	char *stack_top;
} sp;

static void futex_wait(_Atomic uint32_t *word, uint32_t val)
{
	syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *word)
{
	syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

/* In the child, on the shared stack. The private futex reaches the caller:
 * a private futex is keyed by the address space, which is the caller's. */
SPAWN_CHILD static int trampoline(void *unused)
{
	(void)unused;
	void (*fn)(void *) = sp.fn;
	void *arg = sp.arg;
	atomic_store(&sp.pid, getpid());
	atomic_store(&sp.state, SP_RUNNING);
	futex_wake(&sp.state);
	fn(arg);
	_exit(127);
}

static void *spawner_main(void *unused)
{
	(void)unused;
	for (;;) {
		uint32_t s;
		while ((s = atomic_load(&sp.state)) != SP_ASKED)
			futex_wait(&sp.state, s);
		/* Returns once the child's exec replaced its memory, or it
		 * exited: until then it reads arg and runs on our stack. */
		int pid = clone(trampoline, sp.stack_top, CLONE_VM | CLONE_VFORK | SIGCHLD, NULL);
		if (pid < 0) {
			sp.err = errno;
			atomic_store(&sp.state, SP_FAILED);
		} else {
			/* A child killed before its first instruction never said
			 * it ran: its pid is still the caller's to reap. */
			atomic_store(&sp.pid, pid);
			atomic_store(&sp.state, SP_IDLE);
		}
		futex_wake(&sp.state);
	}
	return NULL;
}

int spawn_init(void)
{
	if (sp.owner == getpid())
		return 0;
	/* A forked child has our memory, stack included, but not the thread. */
	if (!sp.stack_top) {
		long page = sysconf(_SC_PAGESIZE);
		char *m = mmap(NULL, STACK_SIZE + (size_t)page, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
		if (m == MAP_FAILED)
			return -errno;
		if (mprotect(m, (size_t)page, PROT_NONE) < 0) {
			int e = errno;
			munmap(m, STACK_SIZE + (size_t)page);
			return -e;
		}
		sp.stack_top = m + page + STACK_SIZE;
	}
	atomic_store(&sp.state, SP_IDLE);
	/* Created with every signal blocked, so none is ever delivered to it:
	 * they stay the loop's, through its signalfd. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_t a;
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	pthread_t t;
	int r = pthread_create(&t, &a, spawner_main, NULL);
	pthread_attr_destroy(&a);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r)
		return -r;
	sp.owner = getpid();
	return 0;
}

bool spawn_busy(void) { return sp.owner == getpid() && atomic_load(&sp.state) != SP_IDLE; }

pid_t spawn_shared(void (*fn)(void *), void *arg)
{
	int r = spawn_init();
	if (r < 0)
		return r;
	if (spawn_busy())
		return -EBUSY; /* an earlier child's exec still hangs */
	sp.fn = fn;
	sp.arg = arg;
	atomic_store(&sp.pid, 0);
	atomic_store(&sp.state, SP_ASKED);
	futex_wake(&sp.state);
	/* No bound: this waits for the clone and the child's first
	 * instructions, as a fork would, never for storage or the exec. */
	uint32_t s;
	while ((s = atomic_load(&sp.state)) == SP_ASKED)
		futex_wait(&sp.state, SP_ASKED);
	if (s == SP_FAILED) {
		int e = sp.err;
		atomic_store(&sp.state, SP_IDLE);
		return -e;
	}
	return atomic_load(&sp.pid);
}
