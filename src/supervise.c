/* The workload supervisor: spawn, signal, stop and reap a process tree. */
#include "understudy/supervise.h"
#include "understudy/spawn.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Children we had before any workload (a shell's process substitution
 * can leave a logger as our child), hooks and the storage process: not
 * part of any workload tree, so never killed, and never waited for. The
 * list lives in memory shared with the storage process, forked after
 * supervise_init, which kills the tree itself when the manager stalls
 * (supervise_kill_tree_of): it must spare what the manager spares. */
#define MAX_FOREIGN 16
struct foreign_list {
	_Atomic int n;
	_Atomic pid_t pid[MAX_FOREIGN];
};
static struct foreign_list private_list, *foreign = &private_list;
static int own_children; /* counted by count_own */

static bool is_foreign(pid_t pid)
{
	for (int i = 0; i < foreign->n && i < MAX_FOREIGN; i++)
		if (foreign->pid[i] == pid)
			return true;
	return false;
}

/* Call fn for each child of parent that /proc shows; counts them. */
static int for_children(pid_t parent, void (*fn)(pid_t, int), int arg);

static void note_foreign(pid_t pid, int arg)
{
	(void)arg;
	int n = foreign->n;
	if (n < MAX_FOREIGN) {
		foreign->pid[n] = pid;
		foreign->n = n + 1;
	}
}

void supervise_not_workload(pid_t pid) { note_foreign(pid, 0); }

/* The signals whose disposition was not the default when supervise_init
 * ran: those this process ignored (nohup's SIGHUP, a shell's SIGPIPE, a
 * unit's IgnoreSIGPIPE=), which an exec would pass on, and any it caught,
 * whose handler must not run in a child that shares our memory before its
 * exec (spawn.h). The manager sets none of its own (it takes its signals
 * from a signalfd), so these are all a child has to reset: a handful of
 * calls rather than one for every signal, where a takeover waits. */
static sigset_t to_reset;
static bool to_reset_known;

static void note_dispositions(void)
{
	sigemptyset(&to_reset);
	for (int s = 1; s < NSIG; s++) {
		struct sigaction sa;
		if (s != SIGKILL && s != SIGSTOP && sigaction(s, NULL, &sa) == 0 && sa.sa_handler != SIG_DFL)
			sigaddset(&to_reset, s);
	}
	to_reset_known = true;
}

int supervise_init(void)
{
	if (foreign == &private_list) {
		void *m = mmap(NULL, sizeof(*foreign), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		if (m == MAP_FAILED)
			return -errno;
		foreign = m;
	}
	foreign->n = 0;
	for_children(getpid(), note_foreign, 0);
	note_dispositions();
	return prctl(PR_SET_CHILD_SUBREAPER, 1) < 0 ? -errno : 0;
}

int supervise_resolve(const char *name, char **path)
{
	if (!*name)
		return -ENOENT;
	if (strchr(name, '/')) {
		if (access(name, X_OK) < 0)
			return -errno;
		struct stat st;
		if (stat(name, &st) < 0)
			return -errno;
		if (S_ISDIR(st.st_mode))
			return -EISDIR;
		return (*path = strdup(name)) ? 0 : -ENOMEM;
	}
	const char *p = getenv("PATH");
	if (!p || !*p)
		p = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	int err = -ENOENT;
	while (*p) {
		size_t len = strcspn(p, ":");
		char *cand = NULL;
		/* An empty element is the current directory, as for execvp. */
		if (asprintf(&cand, "%.*s/%s", len ? (int)len : 1, len ? p : ".", name) < 0)
			return -ENOMEM;
		struct stat st;
		if (access(cand, X_OK) == 0 && stat(cand, &st) == 0 && !S_ISDIR(st.st_mode)) {
			*path = cand;
			return 0;
		}
		if (errno == EACCES)
			err = -EACCES;
		free(cand);
		p += len + (p[len] == ':');
	}
	return err;
}

SPAWN_CHILD static void reset_dispositions(void)
{
	for (int s = 1; s < NSIG; s++)
		if (to_reset_known ? sigismember(&to_reset, s) == 1 : s != SIGKILL && s != SIGSTOP)
			signal(s, SIG_DFL);
}

SPAWN_CHILD static void unblock_all(void)
{
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

void supervise_child_signals(void)
{
	reset_dispositions();
	unblock_all();
}

/* The workload's copy of the lock file's descriptor, moved to the highest
 * number the descriptor limit allows. A dying process first closes its
 * descriptors from 0 up: each file's flush (an NFS file's writes sent, a
 * FUSE FLUSH) and the classic fcntl locks go then, in that order. Only at
 * the end of the exit does the kernel release the files themselves, and
 * with them their OFD and flock locks, sockets and FUSE RELEASE, from the
 * highest descriptor down (both measured on Linux 6.18). Here, the
 * workload drops its copy only after every other descriptor is closed, so
 * the live lock, whichever process of the tree or the storage process
 * lets go of it last, goes after every flush and classic lock of the
 * workload; and the copy is out of the way of the numbers a workload uses
 * itself (a shell's 3 to 9, a dup2 onto a low number), where it would be
 * overwritten and lost. It cannot make the live lock go after the
 * workload's OFD and flock locks and sockets: those are released after it,
 * while none of the workload's code runs any more (a late release,
 * doc/protocol.md §8; the run test
 * a_late_release_is_counted_apart_from_an_overlap relies on the order).
 * Never above KEEP_LAST_MAX: the kernel sizes a process's descriptor table
 * to its highest descriptor and every fork copies it, and a limit of a
 * million (databases' LimitNOFILE) would cost each process of the workload
 * megabytes. A workload with more descriptors than that, or that raises
 * its limit, can place some above it. Returns the descriptor to keep open
 * on exec (the original one, close-on-exec, then goes with the exec). */
#define KEEP_LAST_MAX 4095
SPAWN_CHILD static int keep_last(int keep_fd, int errpipe, int pass_fd_as)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return keep_fd;
	int top = rl.rlim_cur > KEEP_LAST_MAX ? KEEP_LAST_MAX : (int)rl.rlim_cur - 1;
	if (top <= keep_fd || top == errpipe || top == pass_fd_as)
		return keep_fd;
	/* dup3 without O_CLOEXEC: the copy stays open across the exec. */
	return dup3(keep_fd, top, 0) == top ? top : keep_fd;
}

/* What the workload's child is to do: everything it reads before its exec,
 * in one block of its own. A child that shares our memory (spawn.h) reads
 * it while the loop goes on, which may meanwhile change or free its own
 * copies (a reload, an exit); the block is freed only once that child's
 * exec or exit is done with it (spawn_busy), at a later start. */
struct child_job {
	const char *path;
	char **argv, **envp;
	int keep_fd, errpipe;
	pid_t parent;
	bool has_as;
	struct supervise_as as;
};

/* In the child, between its start and exec: system calls only, none that
 * changes anything of the manager's (spawn.h), so the same code serves a
 * child that shares our memory and one forked. A failed chdir or id
 * switch is reported through the exec error pipe like a failed exec: the
 * workload must never run in the wrong place or with the manager's
 * privileges. */
SPAWN_CHILD static void child(void *arg)
{
	const struct child_job *j = arg;
	const struct supervise_as *as = j->has_as ? &j->as : NULL;
	int keep_fd = j->keep_fd, errpipe = j->errpipe;
	/* Die with the manager: a workload never outlives it unnoticed. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != j->parent)
		_exit(127); /* the manager died before we could ask */
	setpgid(0, 0);
	/* The mask stays as it came (every signal blocked, from the spawner)
	 * until just before the exec: no handler may run here meanwhile. */
	reset_dispositions();
	int e = 0;
	if (as && as->pass_fd >= 0 && as->pass_fd_as >= 0) {
		/* The lock file's descriptor and the exec error pipe must
		 * survive: move them out of the way if one sits where the
		 * passed one goes. */
		if (keep_fd == as->pass_fd_as && (keep_fd = fcntl(keep_fd, F_DUPFD_CLOEXEC, as->pass_fd_as + 1)) < 0)
			e = errno;
		if (!e && errpipe == as->pass_fd_as &&
		    (errpipe = fcntl(errpipe, F_DUPFD_CLOEXEC, as->pass_fd_as + 1)) < 0)
			e = errno;
		if (!e && as->pass_fd == as->pass_fd_as)
			fcntl(as->pass_fd, F_SETFD, 0);
		else if (!e && dup2(as->pass_fd, as->pass_fd_as) < 0) /* dup2 leaves the new one open on exec */
			e = errno;
	}
	if (keep_fd >= 0 && !e)
		keep_fd = keep_last(keep_fd, errpipe, as && as->pass_fd >= 0 ? as->pass_fd_as : -1);
	if (keep_fd >= 0)
		fcntl(keep_fd, F_SETFD, 0);
	if (as && as->dir && chdir(as->dir) < 0)
		e = errno;
	/* Groups first: after setuid there is no right left to change them.
	 * The system calls themselves, for this process alone: libc's own
	 * would also change (signal) every other thread it knows of, which
	 * in a child sharing our memory are the manager's. */
	if (!e && as && as->set_ids &&
	    (syscall(SYS_setgroups, (size_t)as->ngroups, as->groups) < 0 || syscall(SYS_setgid, as->gid) < 0 ||
	     syscall(SYS_setuid, as->uid) < 0))
		e = errno;
	/* Changing ids clears the parent-death signal: set it again, and
	 * look again whether the manager died meanwhile. */
	if (!e && as && as->set_ids) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != j->parent)
			_exit(127);
	}
	if (!e) {
		unblock_all();
		execve(j->path, j->argv, j->envp);
		e = errno;
	}
	supervise_exec_failed(errpipe, e);
}

/* The job in one allocation: the strings and arrays it points to follow
 * it, each array aligned for its type. */
static char *align_up(char *at, size_t align) { return (char *)(((uintptr_t)at + align - 1) & ~(align - 1)); }

static size_t strv_size(char *const v[], size_t *n)
{
	size_t size = _Alignof(char *);
	for (*n = 0; v && v[*n]; (*n)++)
		size += strlen(v[*n]) + 1;
	return size + (*n + 1) * sizeof(char *);
}

static char *copy_strv(char ***out, char *const v[], size_t n, char *at)
{
	at = align_up(at, _Alignof(char *));
	*out = (char **)(void *)at;
	char *str = at + (n + 1) * sizeof(char *);
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(v[i]) + 1;
		(*out)[i] = memcpy(str, v[i], len);
		str += len;
	}
	(*out)[n] = NULL;
	return str;
}

static struct child_job *job_new(const char *path, char *const argv[], char *const envp[], int keep_fd, int errpipe,
				 const struct supervise_as *as)
{
	size_t nargv, nenvp, ngroups = as && as->set_ids ? (size_t)as->ngroups : 0;
	size_t size = sizeof(struct child_job) + strv_size(argv, &nargv) + strv_size(envp, &nenvp) + strlen(path) + 1 +
		      (as && as->dir ? strlen(as->dir) + 1 : 0) + _Alignof(gid_t) + ngroups * sizeof(gid_t);
	struct child_job *j = malloc(size);
	if (!j)
		return NULL;
	*j = (struct child_job){ .keep_fd = keep_fd, .errpipe = errpipe, .parent = getpid(), .has_as = as != NULL };
	char *at = copy_strv(&j->argv, argv, nargv, (char *)(j + 1));
	at = copy_strv(&j->envp, envp, nenvp, at);
	j->path = memcpy(at, path, strlen(path) + 1);
	at += strlen(path) + 1;
	if (as) {
		j->as = *as;
		if (as->dir) {
			j->as.dir = memcpy(at, as->dir, strlen(as->dir) + 1);
			at += strlen(as->dir) + 1;
		}
		if (ngroups)
			j->as.groups = memcpy(align_up(at, _Alignof(gid_t)), as->groups, ngroups * sizeof(gid_t));
	}
	return j;
}

SPAWN_CHILD void supervise_exec_failed(int fd, int err)
{
	if (write(fd, &err, sizeof(err)) < 0)
		_exit(127);
	_exit(127);
}

int supervise_exec_result(int fd)
{
	int e = 0;
	ssize_t r;
	while ((r = read(fd, &e, sizeof(e))) < 0 && errno == EINTR)
		;
	close(fd);
	return r == (ssize_t)sizeof(e) ? e : 0;
}

int supervise_exec_outcome(int res, int err)
{
	if (res == (int)sizeof(err))
		return err ? err : EIO;
	/* EOF: the exec closed the pipe, or the child died before it (a
	 * signal): either way no failed exec is to be reported. A failed
	 * read of our own pipe says nothing of the child either. */
	return 0;
}

int supervise_start(struct workload *w, const char *path, char *const argv[], char *const envp[], int keep_fd,
		    const struct supervise_as *as, int *exec_fd)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	static struct child_job *shared_job; /* read by a child sharing our memory */
	if (shared_job && !spawn_busy()) {
		free(shared_job);
		shared_job = NULL;
	}
	struct child_job *j = job_new(path, argv, envp, keep_fd, p[1], as);
	if (!j) {
		close(p[0]);
		close(p[1]);
		return -ENOMEM;
	}
	/* Cloned sharing our memory when the spawner can (spawn.h); forked
	 * when it cannot, or while an earlier child's exec has not returned.
	 * The child and what it does are the same either way. A job still
	 * held was busy when looked at above: forking then, even if its exec
	 * returned since, keeps it from being dropped unfreed. */
	pid_t pid = shared_job ? -EBUSY : spawn_shared(child, j);
	if (pid >= 0) {
		shared_job = j;
	} else {
		pid = fork();
		if (pid == 0)
			child(j);
		int e = errno;
		free(j);
		if (pid < 0) {
			close(p[0]);
			close(p[1]);
			return -e;
		}
	}
	close(p[1]);
	/* Set the group from both sides, so that a signal sent to it right
	 * after we return cannot miss the child. */
	setpgid(pid, pid);
	*w = (struct workload){ .pid = pid, .pidfd = -1 };
	/* Not reaped yet, so the pid is still this child's: the pidfd cannot
	 * name another process. Taken now, not after the exec, which may
	 * never return (the program's file system hangs): the loop watches
	 * the main process from its start on. */
	w->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (w->pidfd < 0) {
		int err = errno;
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
		close(p[0]);
		/* Just started: nothing of it waits on any storage yet. */
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		*w = (struct workload){ .pid = 0, .pidfd = -1, .main_gone = true };
		return -err;
	}
	*exec_fd = p[0];
	return 0;
}

int supervise_signal(struct workload *w, int sig)
{
	if (w->pid <= 0 || w->main_gone)
		return -ESRCH;
	return kill(-w->pid, sig) < 0 ? -errno : 0;
}

static int for_children(pid_t parent, void (*fn)(pid_t, int), int arg)
{
	DIR *d = opendir("/proc");
	if (!d)
		return -1;
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		char *end;
		long child_pid = strtol(de->d_name, &end, 10);
		if (*end || child_pid <= 0 || supervise_parent_of((pid_t)child_pid) != parent)
			continue;
		fn((pid_t)child_pid, arg);
		n++;
	}
	closedir(d);
	return n;
}

pid_t supervise_parent_of(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t r = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (r <= 0)
		return -1;
	buf[r] = '\0';
	/* "pid (comm) state ppid": comm may hold spaces and parentheses. */
	const char *rp = strrchr(buf, ')');
	int ppid;
	char state;
	return rp && sscanf(rp + 1, " %c %d", &state, &ppid) == 2 ? (pid_t)ppid : -1;
}

bool supervise_in_tree(const struct workload *w, pid_t pid)
{
	pid_t self = getpid();
	/* Up the parents: to the main process, or to us (an orphan of the
	 * tree that we, the subreaper, adopted). An ancestor that vanishes
	 * while we look had its children adopted first: look again from the
	 * start. Deep trees are rare; the bound stops a loop through a pid
	 * reused meanwhile. */
	for (int tries = 0; tries < 3; tries++) {
		pid_t p = pid;
		for (int hops = 0; hops < 64 && p > 1; hops++) {
			if (w->pid > 0 && !w->main_gone && p == w->pid)
				return true;
			pid_t parent = supervise_parent_of(p);
			if (parent == self)
				return !is_foreign(p);
			if (parent < 0 && p == pid)
				return false; /* the sender itself is gone */
			if (parent < 0)
				break;
			p = parent;
		}
	}
	return false;
}

static void kill_one(pid_t pid, int sig)
{
	if (!is_foreign(pid))
		kill(pid, sig);
}

/* Children of ours that are not in the workload's group: descendants
 * that called setsid() and were orphaned to us, the subreaper. */
static void kill_children(int sig) { for_children(getpid(), kill_one, sig); }

static void count_own(pid_t pid, int arg)
{
	(void)arg;
	if (!is_foreign(pid))
		own_children++;
}

void supervise_kill_tree(struct workload *w, int sig)
{
	if (sig == SIGKILL || !w->stop_sig)
		w->stop_sig = sig;
	/* Once the main process is reaped its group id may be reused; what is
	 * left of the tree is our children by then, found by kill_children. */
	bool group = w->pid > 0 && !w->main_gone;
	w->stopped = w->stopped || group;
	if (group)
		kill(-w->pid, sig);
	kill_children(sig);
	if (sig != SIGKILL && group) {
		/* A stopped process would never act on SIGTERM. */
		kill(-w->pid, SIGCONT);
	}
}

bool supervise_reap(struct workload *w, void (*other)(pid_t pid, int wstatus, void *arg), void *arg)
{
	for (;;) {
		int st;
		pid_t pid = waitpid(-1, &st, WNOHANG);
		if (pid > 0) {
			for (int i = 0; i < foreign->n; i++)
				if (foreign->pid[i] == pid) { /* gone: its pid may be reused */
					foreign->pid[i] = foreign->pid[foreign->n - 1];
					foreign->n = foreign->n - 1;
				}
			if (pid == w->pid) {
				w->main_gone = true;
				w->wstatus = st;
				if (w->pidfd >= 0)
					close(w->pidfd);
				w->pidfd = -1;
			} else if (other) {
				other(pid, st, arg);
			}
			continue;
		}
		if (pid == 0) {
			/* Children remain; the tree is gone if they are all ones
			 * we had before any workload. */
			if (!foreign->n)
				return false;
			own_children = 0;
			for_children(getpid(), count_own, 0);
			return own_children == 0;
		}
		if (errno == EINTR)
			continue;
		return errno == ECHILD;
	}
}

/* The storage process's view of one child of the manager. */
static pid_t kill_of_self;
static int kill_of_live;

static void kill_one_of(pid_t pid, int sig)
{
	if (pid == kill_of_self || is_foreign(pid))
		return;
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t r = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	if (fd >= 0)
		close(fd);
	if (r > 0) {
		buf[r] = '\0';
		const char *rp = strrchr(buf, ')');
		if (rp && rp[1] == ' ' && rp[2] != 'Z' && rp[2] != 'X')
			kill_of_live++;
	}
	/* A group id names the group its leader made, for as long as any
	 * process of it lives, even the leader a zombie: the main process's
	 * group, or the group an orphan that left ours made. */
	kill(-pid, sig);
	kill(pid, sig);
}

int supervise_kill_tree_of(pid_t manager, int sig)
{
	kill_of_self = getpid();
	int first = -1;
	/* A process of the tree whose parent dies is adopted by the manager
	 * (a subreaper, stopped or not): look again until no child is left
	 * alive that is not a zombie, for at most 200 ms (a process stuck in
	 * a call on a storage that hangs never dies). */
	for (int round = 0; round < 20; round++) {
		kill_of_live = 0;
		if (for_children(manager, kill_one_of, sig) < 0)
			return -errno;
		if (first < 0)
			first = kill_of_live;
		if (!kill_of_live)
			break;
		struct timespec tick = { 0, 10L * 1000000 };
		nanosleep(&tick, NULL);
	}
	return first;
}
