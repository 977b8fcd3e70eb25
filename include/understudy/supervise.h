/* The workload: start it, signal it, stop its whole process tree, reap.
 *
 * The manager is a child subreaper, so every descendant of the workload
 * that loses its parent becomes our child: "no child left" (ECHILD) then
 * means the whole tree is gone, which is when the live lock may go. */
#ifndef UNDERSTUDY_SUPERVISE_H
#define UNDERSTUDY_SUPERVISE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct workload {
	pid_t pid;      /* main process, 0 when none */
	int pidfd;      /* its pidfd, -1 when none */
	bool main_gone; /* the main process has been reaped */
	int wstatus;    /* its waitpid status */
	int stop_sig;   /* 0, SIGTERM or SIGKILL: what the tree is being sent */
	bool stopped;   /* a stop was sent while the main process lived: its end was asked for */
};

/* Where and as whom the workload runs. */
struct supervise_as {
	const char *dir; /* working directory, or NULL for ours */
	bool set_ids;    /* switch to uid, gid and groups (root only) */
	uid_t uid;
	gid_t gid;
	const gid_t *groups;
	int ngroups;
	int pass_fd, pass_fd_as; /* pass_fd becomes the workload's fd pass_fd_as; -1: none */
};

/* Make this process a child subreaper. */
int supervise_init(void);
/* Start the workload's main process for the program at path with argv
 * and envp, in as->dir and as its ids when as is not NULL; keep_fd stays
 * open in the workload (the lock file: its OFD locks then outlive the
 * manager for as long as any workload process lives). Returns without
 * waiting for the exec, which may never return (a program, interpreter
 * or library on a file system that stopped answering): 0 with *exec_fd
 * the read end of the exec error pipe, which the caller watches and
 * hands to supervise_exec_outcome (a spawn is not a start until exec
 * succeeded); or -errno of a failed start, nothing started. The child is
 * cloned sharing our memory by the spawner (spawn.h), or forked while an
 * earlier child's exec has not returned or no spawner could be had. From
 * its start on, the child is the tree's main process: signalled, killed
 * and reaped like the workload it is to become. */
int supervise_start(struct workload *w, const char *path, char *const argv[], char *const envp[], int keep_fd,
		    const struct supervise_as *as, int *exec_fd);
/* What a read of the exec error pipe returned (res, the read's result;
 * err, the int it read): 0 when the exec succeeded (EOF, the pipe closed
 * on exec), else the errno of the failed exec or of what came before it
 * (chdir, the ids): that child then exits 127 by itself. */
int supervise_exec_outcome(int res, int err);
/* Send sig to the workload's process group. */
int supervise_signal(struct workload *w, int sig);
/* Send sig to every process of the tree, including those that left its
 * process group (they are our children now); remembers sig for orphans
 * that arrive later. */
void supervise_kill_tree(struct workload *w, int sig);
/* From another process forked after supervise_init (the storage process,
 * when the manager stalls, worker.h): sig to every child of manager that
 * is not marked as no part of the workload, and to the group each made,
 * again as orphans arrive, for at most 200 ms. Returns how many children
 * were alive at first, or -errno. */
int supervise_kill_tree_of(pid_t manager, int sig);
/* Reap what has exited; a child that is not the workload's main process
 * is passed to other (may be NULL) with its status. Returns true when no
 * child of the workload's tree is left. */
bool supervise_reap(struct workload *w, void (*other)(pid_t pid, int wstatus, void *arg), void *arg);
/* In a child between fork and exec (async-signal-safe): default
 * dispositions and an empty mask, so the program starts as from a shell
 * and not with the manager's signals blocked for its signalfd. Resets the
 * signals ignored or caught when supervise_init ran. */
void supervise_child_signals(void);
/* The parent of pid as /proc/PID/stat gives it, -1 if it is gone: for
 * the storage process to check that a pid it is told of is still the
 * manager's child (worker.c). */
pid_t supervise_parent_of(pid_t pid);
/* Whether pid is the workload's main process or a descendant of it
 * (those orphaned to us included; hooks and probes are not). */
bool supervise_in_tree(const struct workload *w, pid_t pid);
/* The exec error pipe, shared by every child we start: the child writes
 * its errno to fd and exits when its exec (or what comes before) failed;
 * the parent reads fd until EOF, which means the exec succeeded (the pipe
 * is close-on-exec). */
__attribute__((noreturn)) void supervise_exec_failed(int fd, int err);
/* 0 once the child's exec succeeded, else its errno; closes fd. Blocks
 * until the child exec'd or died: call it once the child was reaped (its
 * end of the pipe is closed then, so it answers at once), never on the
 * loop while the exec may hang. */
int supervise_exec_result(int fd);
/* Mark a child of ours that is not part of the workload (a hook): never
 * killed with the workload's tree, never waited for as part of it. */
void supervise_not_workload(pid_t pid);
/* Find an executable for name as execvp would; 0 with *path malloc'd. */
int supervise_resolve(const char *name, char **path);

#endif
