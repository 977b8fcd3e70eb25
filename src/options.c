#include "understudy/options.h"

#include <ctype.h>
#include <stdio.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "understudy/lockfile.h"
#include "understudy/text.h"

/* One part of a duration: digits, an optional fraction, a unit. */
static const char *duration_part(const char *p, double *v, double *scale)
{
	const char *q = p;
	while (*q >= '0' && *q <= '9')
		q++;
	if (*q == '.') {
		const char *f = ++q;
		while (*q >= '0' && *q <= '9')
			q++;
		if (q == f)
			return NULL;
	} else if (q == p) {
		return NULL;
	}
	/* The digits were checked: strtod reads exactly them, no exponent. */
	*v = strtod(p, NULL);
	static const struct {
		const char *unit;
		double scale;
	} units[] = { { "ms", 1 }, { "min", 60000 }, { "h", 3600000 }, { "m", 60000 }, { "s", 1000 } };
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		size_t n = strlen(units[i].unit);
		if (strncmp(q, units[i].unit, n) == 0) {
			*scale = units[i].scale;
			return q + n;
		}
	}
	*scale = 0; /* none */
	return q;
}

int options_duration(const char *s, int64_t *ms)
{
	if (!s || !*s)
		return -EINVAL;
	double total = 0, v, scale, last = 0;
	const char *p = s;
	while (*p) {
		if (!(p = duration_part(p, &v, &scale)))
			return -EINVAL;
		if (scale == 0) {
			/* A bare number is seconds, and only alone: "1m30" is
			 * a slip, not 1 min 30 s. */
			if (*p || last)
				return -EINVAL;
			scale = 1000;
		} else if (last && scale >= last) {
			return -EINVAL; /* units largest first, each once: "30s1m" */
		}
		last = scale;
		total += v * scale;
	}
	if (total < 1 || total > 86400000.0)
		return -ERANGE;
	/* Rounded half up by hand (total is positive): llround would link
	 * libm into every manager for this one call. */
	*ms = (int64_t)(total + 0.5);
	return 0;
}

int options_duration_why(const char *s, int64_t *ms, char *why, size_t n)
{
	int r = options_duration(s, ms);
	char shown[100];
	if (r == -ERANGE)
		snprintf(why, n, "'%s' is out of range: a duration is from 1ms to 24h",
			 text_escape(s, shown, sizeof(shown), 0));
	else if (r < 0)
		snprintf(why, n, "'%s' is not a duration (like 500ms, 10s, 2m, 1m30s)",
			 text_escape(s ? s : "", shown, sizeof(shown), 0));
	return r;
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
