#include "understudy/options.h"

#include <ctype.h>
#include <stdio.h>
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "understudy/lockfile.h"
#include "understudy/text.h"

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

/* Why s was refused, with the byte at fault shown as a terminal cannot
 * take it (\x1b), and where it is: the value shown may be cut. */
static int refuse_byte(char *why, size_t n, const char *s, const char *bad, const char *rule)
{
	char shown[100], byte[8];
	snprintf(why, n, "'%s': %s (byte %zu) is not allowed in %s", text_escape(s, shown, sizeof(shown), 0),
		 text_byte((unsigned char)*bad, byte, sizeof(byte)), (size_t)(bad - s) + 1, rule);
	return -EINVAL;
}

int options_name_check(const char *s, char *why, size_t n)
{
	static const char rule[] = "a node name: 1 to 63 letters, digits or . - _ @ :";
	if (options_name(s) == 0)
		return 0;
	for (const char *p = s; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr(".-_@:", *p))
			return refuse_byte(why, n, s, p, rule);
	char shown[100];
	snprintf(why, n, "'%s' is not %s", text_escape(s, shown, sizeof(shown), 0), rule);
	return -EINVAL;
}

int options_published_address(const char *s, char *why, size_t n)
{
	const char *bad = text_unprintable(s, TEXT_WORD);
	if (bad)
		return refuse_byte(why, n, s, bad, "an address: printable ASCII without blanks");
	if (strlen(s) > LF_ADDR_MAX) {
		char shown[100];
		snprintf(why, n, "'%s' is longer than %d bytes", text_escape(s, shown, sizeof(shown), 0), LF_ADDR_MAX);
		return -EINVAL;
	}
	return 0;
}

int options_lock_path(const char *s, char *why, size_t n)
{
	/* Only control characters: a path is the operator's, and may well be
	 * UTF-8, but one that ends a line would forge the messages naming it. */
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return refuse_byte(why, n, s, p, "a lock path (a control character)");
	/* A relative path is resolved against each manager's working
	 * directory (/ under systemd): every host would lock a file of its
	 * own, and each would run the workload. */
	if (s[0] != '/') {
		char shown[100];
		snprintf(why, n,
			 "'%s' is not an absolute path: each host would lock a file of its own (relative to its "
			 "working directory, / under systemd)",
			 text_escape(s, shown, sizeof(shown), 0));
		return -EINVAL;
	}
	return 0;
}

static int bad_address(char *why, size_t n, const char *text, const char *what)
{
	snprintf(why, n, "'%s': %s", text, what);
	return -EINVAL;
}

int options_address(const char *text, struct sockaddr_storage *sa, socklen_t *len, char *why, size_t n)
{
	char host[64];
	const char *colon, *port;
	memset(sa, 0, sizeof(*sa));
	if (text[0] == '[') {
		const char *close = strchr(text, ']');
		if (!close || close[1] != ':')
			return bad_address(why, n, text, "an IPv6 address is written [ADDR]:PORT");
		if ((size_t)(close - text - 1) >= sizeof(host))
			return bad_address(why, n, text, "not a numeric IPv6 address");
		memcpy(host, text + 1, (size_t)(close - text - 1));
		host[close - text - 1] = '\0';
		port = close + 2;
	} else {
		if (!(colon = strrchr(text, ':')))
			return bad_address(why, n, text, "no port: write ADDR:PORT, as in 127.0.0.1:8080");
		if ((size_t)(colon - text) >= sizeof(host) || memchr(text, ':', (size_t)(colon - text)))
			return bad_address(why, n, text,
					   "not ADDR:PORT (an IPv6 address goes in brackets: [::1]:8080)");
		memcpy(host, text, (size_t)(colon - text));
		host[colon - text] = '\0';
		port = colon + 1;
	}
	char *end;
	errno = 0;
	long p = strtol(port, &end, 10);
	if (!*port || *end || errno || p < 1 || p > 65535 || *port == '+' || *port == '-')
		return bad_address(why, n, text, "the port must be a number from 1 to 65535");
	struct sockaddr_in *in4 = (struct sockaddr_in *)sa;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)sa;
	/* Numeric only: a host name would bind to whatever it resolves to
	 * at start, which is not "bound to the address given". */
	if (text[0] != '[' && inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)p);
		*len = sizeof(*in4);
	} else if (text[0] == '[' && inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)p);
		*len = sizeof(*in6);
	} else {
		return bad_address(why, n, text,
				   text[0] == '[' ? "not a numeric IPv6 address"
						  : "not a numeric IPv4 address (host names are not resolved)");
	}
	return 0;
}
