/* understudy check-storage: before a group is put on a shared directory,
 * find out whether the directory does what understudy relies on. Every
 * check is a real lock or write through two opens, the second one in
 * another process; with --peer, in a process on another host.
 *
 * The parts: check_fs.c (the file system), check_local.c (the checks on
 * this host), check_peer.c (across hosts), check_helper.c (the other
 * processes), check.c (the report and the bound). Here: the command line,
 * the runner's first looks at DIR, and the command itself.
 *
 * The storage calls run in a child process, the runner, which reports on
 * a pipe. Each of its calls is bounded as every command's are (bound.h):
 * past --timeout, the runner's watchdog reports the file and the call and
 * the runner ends. The command never touches the storage itself, so it
 * answers even when the runner cannot exit (a FUSE call that ignores
 * SIGKILL): it prints the message and exits 74. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include "understudy/check.h"
#include "understudy/check_fs.h"
#include "understudy/check_local.h"
#include "understudy/check_peer.h"
#include "understudy/cmd.h"
#include "understudy/clock.h"
#include "understudy/sysexit.h"
#include "understudy/config.h"
#include "understudy/lockfile.h"
#include "understudy/log.h"
#include "understudy/options.h"

enum { CHECK_FAILED = 1 };
/* How long the command waits for its scratch files to go after the runner
 * ended: where only a lock hung, the removal is at once; where the storage
 * is gone, it would take as long as the call that hung, and the command
 * has its answer already. */
enum { CLEANUP_GRACE_MS = 250 };

static const char usage[] = "usage: understudy check-storage DIR [--peer [--peer-timeout DUR]] [--timeout DUR]\n"
			    "\n"
			    "Check that DIR can hold a group's lock file: byte-range OFD locks exclusive\n"
			    "between two opens, a blocked waiter woken on release, a dead holder's lock\n"
			    "released, a write under the lock seen by another open, and the file system\n"
			    "type with what the takeover delay 'auto' becomes on it. Prints one line per check\n"
			    "(PASS, WARN, FAIL or INFO). Touches nothing in DIR but its own scratch files.\n"
			    "\n"
			    "  --peer              also run each check across hosts, with the same command\n"
			    "                      started on another host against the same directory\n"
			    "  --peer-timeout DUR  how long to wait for that peer (default 60s)\n"
			    "  --timeout DUR       how long any one call on the storage may take, and how\n"
			    "                      long a check waits for its other open or the peer\n"
			    "                      (default 10s)\n"
			    "\n"
			    "exit status: 0 every check passed (WARN included), 1 a check failed,\n"
			    "64 bad command line, 66 DIR is missing or not a directory, 73 DIR is on a\n"
			    "read-only file system or full, 74 a call on the storage got no answer within\n"
			    "--timeout (the message names the file and the call), 75 no peer came within\n"
			    "--peer-timeout, 77 DIR is not writable, 71 a system call failed.\n";

/* --- the runner ------------------------------------------------------------------- */

static int creation_error(int e) { return sysexit_errno(e, SYSEXIT_CREATE, EX_OSERR); }

static int runner(int fd, const struct check_opts *o)
{
	int e = check_start(fd, o);
	if (e < 0) {
		fprintf(stderr, "understudy check-storage: cannot start the watchdog of the storage calls: %s\n",
			strerror(-e));
		return EX_OSERR;
	}
	check_step("looking at %s", o->dir);
	struct stat st;
	if (CHECK_CALL(o->dir, "looking at the directory (stat)", stat(o->dir, &st)) < 0) {
		e = errno;
		fprintf(stderr, "understudy check-storage: %s: %s\n", o->dir,
			e == ENOENT || e == ENOTDIR ? "no such directory" : strerror(e));
		return sysexit_errno(e, SYSEXIT_DIR, EX_OSERR);
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "understudy check-storage: %s: not a directory\n", o->dir);
		return EX_NOINPUT;
	}
	struct statvfs sv;
	if (CHECK_CALL(o->dir, "asking the file system its state (statvfs)", statvfs(o->dir, &sv)) == 0 &&
	    (sv.f_flag & ST_RDONLY)) {
		fprintf(stderr, "understudy check-storage: %s: read-only file system: a lock file cannot be created\n",
			o->dir);
		return EX_CANTCREAT;
	}
	/* Whatever is at the scratch name is not ours to overwrite or remove:
	 * from here on, the file at that name is one this run created. */
	if (CHECK_CALL(o->scratch, "looking for the scratch file (lstat)", lstat(o->scratch, &st)) == 0) {
		fprintf(stderr, "understudy check-storage: %s exists: not ours, left alone\n", o->scratch);
		return EX_CANTCREAT;
	}
	struct lockfile a;
	if (CHECK_CALL(o->scratch, "creating the scratch file", lockfile_open(&a, o->scratch, LF_OPEN_CREATE)) < 0) {
		e = a.err == LF_E_SYS ? a.errno_value : EIO;
		fprintf(stderr, "understudy check-storage: %s: cannot create a file: %s\n", o->dir, log_strerror(e));
		lockfile_close(&a);
		/* Created but not formatted. */
		CHECK_CALL(o->scratch, "removing the scratch file", unlink(o->scratch));
		return creation_error(e);
	}
	check_fs_run(o, &a);
	check_local_run(o, &a);
	CHECK_CALL(o->scratch, "closing the scratch file", (lockfile_close(&a), 0));
	CHECK_CALL(o->scratch, "removing the scratch file", unlink(o->scratch));
	int code = o->peer ? check_peer_run(o) : 0;
	check_step("done");
	return code;
}

/* --- the command: start the runner, print its report ----------------------------------- */

static volatile sig_atomic_t interrupted;
static void on_signal(int sig) { interrupted = sig; }

/* After the runner was ended: remove what it left, in a child of its
 * own, since the storage may still hang; wait for it at most bound_ms. */
static void cleanup_after_kill(const struct check_opts *o, int64_t bound_ms)
{
	pid_t p = fork();
	if (p == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		unlink(o->scratch);
		if (o->peer)
			check_peer_cleanup(o->meet);
		_exit(0);
	}
	for (int64_t end = clock_ns() + bound_ms * 1000000; p > 0 && clock_ns() < end; check_sleep_ms(10))
		if (waitpid(p, NULL, WNOHANG) == p)
			return;
	if (p > 0)
		fprintf(stderr,
			"understudy check-storage: %s: not removed within %lld ms (the storage does not answer): "
			"remove "
			"it once it does\n",
			o->scratch, (long long)bound_ms);
}

/* Print the runner's report as it comes. The runner bounds its own
 * calls, so this only reads: until the pipe closes, a "!" line (a call
 * got no answer: 74), or ^C. */
static int supervise(const struct check_opts *o, pid_t pid, int fd)
{
	char buf[8192], what[400] = "starting";
	size_t len = 0;
	int failed = 0, status = 0, code = 0;
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int r = poll(&p, 1, -1);
		if (interrupted) {
			fprintf(stderr, "understudy check-storage: interrupted\n");
			code = CHECK_FAILED;
			break;
		}
		if (r < 0 && errno == EINTR)
			continue;
		ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
		char *line = buf, *nl;
		while (!code && (nl = strchr(line, '\n'))) {
			*nl = '\0';
			if (line[0] == CHECK_LINE_STEP) {
				snprintf(what, sizeof(what), "%s", line + 1);
			} else if (line[0] == CHECK_LINE_HUNG) {
				printf("FAIL  %s (a call on the storage got no answer within --timeout)\n", what);
				fflush(stdout);
				fprintf(stderr, "understudy check-storage: %s\n", line + 1);
				code = EX_IOERR;
			} else {
				printf("%s\n", line);
				failed += strncmp(line, "FAIL", 4) == 0;
			}
			line = nl + 1;
		}
		if (code)
			break;
		len = strlen(line);
		memmove(buf, line, len + 1);
		fflush(stdout);
	}
	fflush(stdout);
	close(fd);
	if (code) {
		/* A runner stuck in a storage call may not die at once (an NFS
		 * hard mount, a FUSE request sent): never wait for it. */
		kill(pid, SIGKILL);
		cleanup_after_kill(o, CLEANUP_GRACE_MS);
		return code;
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
		return WEXITSTATUS(status);
	if (!WIFEXITED(status)) {
		fprintf(stderr, "understudy check-storage: the checks died (signal %d)\n", WTERMSIG(status));
		cleanup_after_kill(o, CLEANUP_GRACE_MS);
		return EX_SOFTWARE;
	}
	return failed ? CHECK_FAILED : 0;
}

int cmd_check_storage(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "peer", no_argument, NULL, 'p' },
		{ "peer-timeout", required_argument, NULL, 'P' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	static struct check_opts o;
	o = (struct check_opts){ .timeout_ms = 10000, .peer_timeout_ms = 60000 };
	int opt;
	int64_t *dur;
	char why[160];
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		switch (opt) {
		case 'p': o.peer = true; break;
		case 'P':
		case 't':
			dur = opt == 'P' ? &o.peer_timeout_ms : &o.timeout_ms;
			if (options_duration_why(optarg, dur, why, sizeof(why)) < 0) {
				fprintf(stderr, "understudy check-storage: %s: %s\n",
					opt == 'P' ? "--peer-timeout" : "--timeout", why);
				return EX_USAGE;
			}
			break;
		case 'h': fputs(usage, stdout); return 0;
		case ':':
			fprintf(stderr, "understudy check-storage: %s needs a value\n", argv[optind - 1]);
			return EX_USAGE;
		default:
			fprintf(stderr,
				"understudy check-storage: unknown option '%s'\nTry 'understudy check-storage "
				"--help'.\n",
				argv[optind - 1]);
			return EX_USAGE;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "understudy check-storage: %s\nTry 'understudy check-storage --help'.\n",
			optind == argc ? "DIR is required" : "one DIR only");
		return EX_USAGE;
	}
	o.dir = argv[optind];
	o.host = config_host_name();
	if (!o.host)
		o.host = "host";
	if ((size_t)snprintf(o.scratch, sizeof(o.scratch), "%s/.understudy-check-%s-%ld", o.dir, o.host,
			     (long)getpid()) >= sizeof(o.scratch) ||
	    (size_t)snprintf(o.meet, sizeof(o.meet), "%s/.understudy-check-peer", o.dir) >= sizeof(o.meet)) {
		fprintf(stderr, "understudy check-storage: %s: path too long\n", o.dir);
		return EX_USAGE;
	}
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	int rep[2];
	if (pipe2(rep, O_CLOEXEC) < 0) {
		fprintf(stderr, "understudy check-storage: pipe: %s\n", strerror(errno));
		return EX_OSERR;
	}
	fflush(stdout);
	fflush(stderr);
	pid_t parent = getpid(), pid = fork();
	if (pid < 0) {
		fprintf(stderr, "understudy check-storage: fork: %s\n", strerror(errno));
		close(rep[0]);
		close(rep[1]);
		return EX_OSERR;
	}
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(EX_OSERR);
		signal(SIGINT, SIG_IGN); /* the command decides what a ^C ends */
		signal(SIGTERM, SIG_DFL);
		close(rep[0]);
		_exit(runner(rep[1], &o));
	}
	close(rep[1]);
	return supervise(&o, pid, rep[0]);
}
