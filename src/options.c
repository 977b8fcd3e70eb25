#include "understudy/options.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <netdb.h>

#include "understudy/lockfile.h"

int options_duration(const char *s, int64_t *ms)
{
	if (!s || !*s || isspace((unsigned char)*s))
		return -EINVAL;
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || !isfinite(v) || v < 0)
		return -EINVAL;
	double scale;
	if (strcmp(end, "ms") == 0)
		scale = 1;
	else if (strcmp(end, "s") == 0 || *end == '\0')
		scale = 1000;
	else if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0)
		scale = 60000;
	else if (strcmp(end, "h") == 0)
		scale = 3600000;
	else
		return -EINVAL;
	double r = v * scale;
	if (r < 1 || r > 86400000.0)
		return -EINVAL;
	*ms = (int64_t)llround(r);
	return 0;
}

int options_int(const char *s, long min, long max, long *out)
{
	if (!s || !*s || isspace((unsigned char)*s))
		return -EINVAL;
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

int options_name(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > LF_NAME_MAX)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr(".-_@:", s[i]))
			return -EINVAL;
	return 0;
}

int options_address(const char *s, struct sockaddr_storage *sa, socklen_t *len)
{
	char host[64];
	const char *port = strrchr(s, ':');
	if (!port || port == s || strlen(s) >= sizeof(host))
		return -EINVAL;
	size_t hl = (size_t)(port - s);
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (host[0] == '[') {
		if (hl < 3 || host[hl - 1] != ']')
			return -EINVAL;
		memmove(host, host + 1, hl - 2);
		host[hl - 2] = '\0';
	} else if (strchr(host, ':')) {
		return -EINVAL; /* IPv6 needs its brackets, or the port is ambiguous */
	}
	long p;
	if (options_int(port + 1, 1, 65535, &p) < 0)
		return -EINVAL;
	struct addrinfo hints = { .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV, .ai_socktype = SOCK_STREAM };
	struct addrinfo *ai = NULL;
	if (getaddrinfo(host, port + 1, &hints, &ai) != 0 || !ai)
		return -EINVAL;
	memcpy(sa, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}
