/* This host's identity: the machine id, else the boot id. */
#include "understudy/host.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

static int hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* 32 hex digits, dashes between them allowed (a boot id is a UUID). */
static int read_id(const char *path, uint8_t out[HOST_ID_SIZE])
{
	char buf[64];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	int e = errno;
	close(fd);
	if (n < 0)
		return -e;
	int digits = 0;
	for (ssize_t i = 0; i < n && buf[i] != '\n'; i++) {
		if (buf[i] == '-')
			continue;
		int v = hex(buf[i]);
		if (v < 0 || digits == 2 * HOST_ID_SIZE)
			return -EINVAL;
		out[digits / 2] = (uint8_t)(digits % 2 ? out[digits / 2] | v : v << 4);
		digits++;
	}
	return digits == 2 * HOST_ID_SIZE && !host_id_unknown(out) ? 0 : -EINVAL;
}

int host_id(uint8_t out[HOST_ID_SIZE])
{
	if (read_id("/etc/machine-id", out) == 0)
		return 0;
	int r = read_id("/proc/sys/kernel/random/boot_id", out);
	if (r < 0)
		memset(out, 0, HOST_ID_SIZE);
	return r;
}

int host_id_unknown(const uint8_t id[HOST_ID_SIZE])
{
	for (int i = 0; i < HOST_ID_SIZE; i++)
		if (id[i])
			return 0;
	return 1;
}
