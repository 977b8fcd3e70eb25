/* lock_tries: lock tries on a file, with a wake-up signal sent to the
 * trying thread the way understudy's event loop cuts a lock wait, to show
 * where that signal may land. Used by test_gluster.sh on the GlusterFS rig.
 *
 * usage: lock_tries hold FILE OFFSET
 *          take an OFD write lock on byte OFFSET and keep it until killed
 *        lock_tries try FILE OFFSET SECONDS unmasked|masked|none
 *          take an OFD lock on a byte of its own (as a node takes its slot),
 *          then try byte OFFSET every 100 ms for SECONDS, while another
 *          thread sends the trying thread a signal every 250 ms:
 *            unmasked  the signal is deliverable during the whole wait, the
 *                      tries included (understudy before the fix)
 *            masked    deliverable only in the pause between tries
 *            none      no signal at all
 *          Every second it prints "tries N longest MS now MS" (MS: the
 *          longest try so far, and how long the current one has been
 *          running, 0 if none is), so a try the file system never answers
 *          shows as a "now" that only grows. It exits 0 after SECONDS if no
 *          try took longer than 15 s, else 1; a try that never returns keeps
 *          it from exiting at all.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int ofd(int fd, int cmd, int offset)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = offset, .l_len = 1 };
	return fcntl(fd, cmd, &fl) == 0 ? 0 : -errno;
}

static void on_wake(int sig) { (void)sig; }

static int fd = -1, offset;
static const char *mode;
static _Atomic int64_t started_at; /* of the try in progress, 0 if none */
static _Atomic long tries;
static _Atomic int64_t longest;
static _Atomic bool done;

static void *trier(void *arg)
{
	(void)arg;
	sigset_t wake, none;
	sigemptyset(&wake);
	sigaddset(&wake, SIGRTMIN + 2);
	sigemptyset(&none);
	bool unmasked = strcmp(mode, "unmasked") == 0;
	if (unmasked)
		pthread_sigmask(SIG_UNBLOCK, &wake, NULL);
	while (!done) {
		started_at = now_ms();
		int r = ofd(fd, F_OFD_SETLK, offset);
		int64_t took = now_ms() - started_at;
		started_at = 0;
		tries++;
		if (took > longest)
			longest = took;
		if (r == 0) {
			fprintf(stderr, "lock_tries: got the lock at %d, which another holds\n", offset);
			ofd(fd, F_OFD_SETLK, offset); /* keep trying all the same */
		}
		struct timespec pause = { 0, 100 * 1000000 };
		if (unmasked)
			nanosleep(&pause, NULL);
		else
			ppoll(NULL, 0, &pause, &none); /* the signal only here */
	}
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 4)
		return 64;
	fd = open(argv[2], O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		perror(argv[2]);
		return 66;
	}
	offset = atoi(argv[3]);
	if (strcmp(argv[1], "hold") == 0) {
		int r = ofd(fd, F_OFD_SETLKW, offset);
		if (r < 0) {
			fprintf(stderr, "lock_tries: hold: %s\n", strerror(-r));
			return 1;
		}
		printf("held\n");
		fflush(stdout);
		for (;;)
			pause();
	}
	if (argc < 6 || strcmp(argv[1], "try") != 0)
		return 64;
	int secs = atoi(argv[4]);
	mode = argv[5];
	int own = 448 + (int)(getpid() % 64);
	int r = ofd(fd, F_OFD_SETLK, own);
	if (r < 0)
		fprintf(stderr, "lock_tries: own byte %d: %s\n", own, strerror(-r));
	struct sigaction sa = { .sa_handler = on_wake }; /* no SA_RESTART, as understudy */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGRTMIN + 2, &sa, NULL);
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	pthread_t t;
	pthread_create(&t, NULL, trier, NULL);
	int64_t end = now_ms() + secs * 1000L, next = now_ms() + 1000;
	while (now_ms() < end) {
		struct timespec q = { 0, 250 * 1000000 };
		nanosleep(&q, NULL);
		if (strcmp(mode, "none") != 0)
			pthread_kill(t, SIGRTMIN + 2);
		if (now_ms() >= next) {
			next += 1000;
			int64_t s = started_at;
			printf("tries %ld longest %lld now %lld\n", (long)tries, (long long)longest,
			       (long long)(s ? now_ms() - s : 0));
			fflush(stdout);
		}
	}
	done = true;
	pthread_join(t, NULL);
	printf("end tries %ld longest %lld\n", (long)tries, (long long)longest);
	return longest > 15000 ? 1 : 0;
}
