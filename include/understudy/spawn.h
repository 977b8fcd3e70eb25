/* Starting a child without copying the manager.
 *
 * A fork copies the caller's page tables, and until the child's exec both
 * sides fault on every page either writes: on a takeover that sits between
 * the backup's L and its workload's exec, and it was the largest part of
 * the backup's share of a failover (doc/benchmarks). A clone that shares
 * the caller's memory and suspends the caller until the child's exec
 * (CLONE_VM|CLONE_VFORK, as posix_spawn does) copies nothing. The caller it
 * suspends is a thread of its own, the spawner, never the loop: an exec
 * may never return (its program on a file system that stopped answering),
 * and the loop must go on answering signals and fencing meanwhile. */
#ifndef UNDERSTUDY_SPAWN_H
#define UNDERSTUDY_SPAWN_H

#include <stdbool.h>
#include <sys/types.h>

/* Marks every function a child of spawn_shared runs before its exec. It
 * runs on a stack of its own in our memory, under the spawner thread's
 * identity: the address sanitizer's bookkeeping there (the stack it knows
 * for that thread, the shadow of our memory) is the parent's, and a child
 * that updated it would corrupt it and report stacks it does not know, as
 * glibc's own posix_spawn child, which is not instrumented, never does. */
#define SPAWN_CHILD __attribute__((no_sanitize_address, noinline))

/* Start this process's spawner thread; again in a forked child, which has
 * none. Every signal is blocked in it, so none is delivered there. The
 * thread lives as long as the process: a child's parent-death signal
 * follows the thread that cloned it, and fires when that thread ends. */
int spawn_init(void);
/* Run fn(arg) in a new child that shares this process's memory until it
 * execs or exits, and wait until it runs: returns its pid, or -errno with
 * no child (-EBUSY: an earlier child's exec has not returned; then fork).
 * The child gets a copy of the descriptor table and of the signal
 * dispositions, and the spawner's mask (every signal blocked). Until its
 * exec, fn may only make system calls that change nothing of the parent:
 * no allocation, no stdio, no lock, no id change through libc (which
 * would signal the parent's threads); and it must not return. arg must
 * stay as it is for as long as spawn_busy() says, since the child reads
 * it. Not for two callers at once. */
pid_t spawn_shared(void (*fn)(void *), void *arg);
/* Whether a child of spawn_shared has neither exec'd nor exited yet. */
bool spawn_busy(void);

#endif
