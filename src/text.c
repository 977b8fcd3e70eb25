#include "understudy/text.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static bool plain(unsigned char c, unsigned flags) { return c > ' ' ? c < 0x7f : c == ' ' && !(flags & TEXT_WORD); }

/* c as shown: 1, 2 or 4 characters into e. */
static size_t escape_byte(unsigned char c, unsigned flags, char e[4])
{
	static const char hex[] = "0123456789abcdef";
	if (c == '\\')
		return e[0] = '\\', e[1] = '\\', 2;
	if (plain(c, flags))
		return e[0] = (char)c, 1;
	e[0] = '\\', e[1] = 'x', e[2] = hex[c >> 4], e[3] = hex[c & 15];
	return 4;
}

const char *text_escape(const char *s, char *buf, size_t n, unsigned flags)
{
	char e[4];
	size_t whole = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		whole += escape_byte(*p, flags, e);
	/* What does not fit is cut between two escapes, never inside one, so
	 * that the end of a cut line cannot read as another byte. */
	bool cut = whole > n - 1;
	size_t room = cut ? (n > 4 ? n - 4 : 0) : n - 1, o = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		size_t len = escape_byte(*p, flags, e);
		if (o + len > room)
			break;
		memcpy(buf + o, e, len);
		o += len;
	}
	for (int d = 0; cut && d < 3 && o < n - 1; d++)
		buf[o++] = '.';
	buf[o] = '\0';
	return buf;
}

const char *text_unprintable(const char *s, unsigned flags)
{
	for (; *s; s++)
		if (!plain((unsigned char)*s, flags))
			return s;
	return NULL;
}

const char *text_byte(unsigned char c, char *buf, size_t n)
{
	if (plain(c, 0) && c != '\'')
		snprintf(buf, n, "'%c'", c);
	else
		snprintf(buf, n, "\\x%02x", c);
	return buf;
}
