#include "helpers.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
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

int th_journal_field(const char *dgram, size_t len, const char *name, char *out, size_t outsz)
{
	size_t nl = strlen(name), i = 0;
	int found = -1;
	while (i < len) {
		const char *line = dgram + i;
		const char *end = memchr(line, '\n', len - i);
		const char *eq = memchr(line, '=', end ? (size_t)(end - line) : len - i);
		const char *val;
		size_t vl;
		if (eq) {
			if (!end)
				return -1; /* every field ends in a newline */
			val = eq + 1;
			vl = (size_t)(end - val);
			i = (size_t)(end - dgram) + 1;
		} else {
			/* NAME\n then 8 bytes of length, the value, \n. */
			if (!end || (size_t)(end - dgram) + 9 > len)
				return -1;
			uint64_t n = 0;
			for (int b = 7; b >= 0; b--)
				n = n << 8 | (uint8_t)end[1 + b];
			size_t at = (size_t)(end - dgram) + 9;
			if (n > len - at || at + n >= len || dgram[at + n] != '\n')
				return -1;
			val = dgram + at;
			vl = (size_t)n;
			i = at + (size_t)n + 1;
			eq = end;
		}
		if ((size_t)(eq - line) == nl && memcmp(line, name, nl) == 0) {
			size_t k = vl < outsz - 1 ? vl : outsz - 1;
			memcpy(out, val, k);
			out[k] = '\0';
			found = 0;
		}
	}
	return found;
}

int th_journal_socket(const char *path)
{
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	if (fd < 0 || strlen(path) >= sizeof(a.sun_path))
		return -1;
	memcpy(a.sun_path, path, strlen(path) + 1);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}
