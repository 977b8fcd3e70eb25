#include "helpers.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

char *th_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	char *dir = NULL;
	cr_assert(asprintf(&dir, "%s/understudy-test.XXXXXX", base && *base ? base : "/tmp") > 0);
	cr_assert_not_null(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
	return dir;
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb, (void)flag, (void)ftw;
	return remove(p);
}

void th_rmtree(const char *dir)
{
	if (dir)
		nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

char *th_path(const char *dir, const char *name)
{
	char *p = NULL;
	cr_assert(asprintf(&p, "%s/%s", dir, name) > 0);
	return p;
}

pid_t th_hold_lock(const char *path, int offset)
{
	int pfd[2];
	cr_assert(pipe(pfd) == 0);
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		close(pfd[0]);
		int fd = open(path, O_RDWR | O_CLOEXEC);
		struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = offset, .l_len = 1 };
		char ok = (fd >= 0 && fcntl(fd, F_OFD_SETLKW, &fl) == 0) ? 'y' : 'n';
		if (write(pfd[1], &ok, 1) != 1 || ok != 'y')
			_exit(1);
		for (;;)
			pause();
	}
	close(pfd[1]);
	char ok = 0;
	ssize_t r = read(pfd[0], &ok, 1);
	close(pfd[0]);
	cr_assert(r == 1 && ok == 'y', "lock holder could not lock %s byte %d", path, offset);
	return pid;
}

void th_kill(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

int64_t th_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int th_read_file(const char *path, uint8_t **buf, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return -1;
	size_t cap = 4096, n = 0;
	uint8_t *b = malloc(cap);
	size_t r;
	while (b && (r = fread(b + n, 1, cap - n, f)) > 0) {
		n += r;
		if (n == cap) {
			uint8_t *nb = realloc(b, cap *= 2);
			if (!nb) {
				free(b);
				b = NULL;
			}
			b = nb;
		}
	}
	fclose(f);
	if (!b)
		return -1;
	*buf = b;
	*len = n;
	return 0;
}

char *th_read_text(const char *path)
{
	uint8_t *buf;
	size_t len;
	if (th_read_file(path, &buf, &len) < 0)
		return strdup("");
	char *s = realloc(buf, len + 1);
	cr_assert(s);
	s[len] = '\0';
	return s;
}

void th_write_file(const char *path, const void *buf, size_t len)
{
	/* A new file is private, as understudy wants a lock file (others
	 * who can read it can lock it); a test that wants another mode sets
	 * it. An existing file keeps its mode. */
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	cr_assert(fd >= 0, "open %s: %s", path, strerror(errno));
	FILE *f = fdopen(fd, "wb");
	cr_assert_not_null(f, "fdopen %s: %s", path, strerror(errno));
	cr_assert(len == 0 || fwrite(buf, 1, len, f) == len);
	cr_assert(fclose(f) == 0);
}

int th_is_locked(const char *path, int offset)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = offset, .l_len = 1 };
	int r = fcntl(fd, F_OFD_GETLK, &fl);
	close(fd);
	return r < 0 ? -1 : fl.l_type != F_UNLCK;
}

char *th_exec_copy(const char *bin, const char *dir)
{
	char *copy = th_path(dir, "understudy");
	uint8_t *buf;
	size_t len;
	cr_assert_eq(th_read_file(bin, &buf, &len), 0, "read %s: %s", bin, strerror(errno));
	th_write_file(copy, buf, len);
	free(buf);
	cr_assert_eq(chmod(copy, 0755), 0, "chmod %s: %s", copy, strerror(errno));
	return copy;
}
