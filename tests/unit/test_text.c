/* The one rule for text from outside on its way out: every byte of every
 * value either shown as it is (printable ASCII) or as an escape that reads
 * back to it, never cut inside an escape. */
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "understudy/text.h"

/* What the escapes say, back to bytes; -1 if they are not well formed. */
static int unescape(const char *s, char *out)
{
	size_t o = 0;
	for (; *s; s++) {
		if (*s != '\\') {
			out[o++] = *s;
			continue;
		}
		if (s[1] == '\\') {
			out[o++] = '\\', s++;
			continue;
		}
		unsigned v;
		if (s[1] != 'x' || sscanf(s + 2, "%2x", &v) != 1 || !s[2] || !s[3])
			return -1;
		out[o++] = (char)v;
		s += 3;
	}
	out[o] = '\0';
	return 0;
}

static bool printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return false;
	return true;
}

Test(text, every_byte_is_shown_printable_and_reads_back)
{
	for (int flags = 0; flags <= TEXT_WORD; flags += TEXT_WORD) {
		for (int c = 1; c < 256; c++) {
			char in[4] = { 'a', (char)c, 'z', 0 }, out[TEXT_ESCAPED_SIZE(3)], back[8];
			text_escape(in, out, sizeof(out), (unsigned)flags);
			cr_expect(printable(out), "byte 0x%02x shown as '%s'", c, out);
			cr_expect(!(flags & TEXT_WORD) || !strchr(out, ' '), "a blank in the word '%s'", out);
			cr_assert_eq(unescape(out, back), 0, "byte 0x%02x: '%s' is no well formed escape", c, out);
			cr_expect_str_eq(back, in, "byte 0x%02x: '%s' reads back to another text", c, out);
			bool plain = c >= 0x20 && c < 0x7f && c != '\\' && !(c == ' ' && flags);
			cr_expect_eq(strlen(out) == 3, plain, "byte 0x%02x: '%s'", c, out);
		}
	}
}

Test(text, controls_and_non_ascii_as_hex)
{
	char out[128];
	cr_expect_str_eq(text_escape("a\n\033[2J\r", out, sizeof(out), 0), "a\\x0a\\x1b[2J\\x0d");
	cr_expect_str_eq(text_escape("caf\xc3\xa9 \x9b\x7f", out, sizeof(out), 0), "caf\\xc3\\xa9 \\x9b\\x7f");
	cr_expect_str_eq(text_escape("a b\\c", out, sizeof(out), TEXT_WORD), "a\\x20b\\\\c");
	cr_expect_str_eq(text_escape("node-a:10.0.0.1:5672", out, sizeof(out), TEXT_WORD), "node-a:10.0.0.1:5672");
	cr_expect_str_eq(text_escape("", out, sizeof(out), 0), "");
}

/* Too long for the buffer: cut between escapes, marked "...", always
 * terminated, never past the buffer. */
Test(text, cut_between_escapes_never_inside_one)
{
	const char *in = "ab\033\033\033\033\033\033";
	for (size_t n = 1; n <= TEXT_ESCAPED_SIZE(8); n++) {
		char *buf = malloc(n + 1);
		buf[n] = '#'; /* a guard byte past the end */
		text_escape(in, buf, n, 0);
		cr_assert_eq(buf[n], '#', "n %zu: written past the buffer", n);
		cr_assert_lt(strlen(buf), n, "n %zu: '%s' unterminated", n, buf);
		size_t len = strlen(buf);
		bool whole = strcmp(buf, "ab\\x1b\\x1b\\x1b\\x1b\\x1b\\x1b") == 0;
		cr_expect(whole || n < TEXT_ESCAPED_SIZE(8), "n %zu: cut though it fits: '%s'", n, buf);
		if (!whole && n >= 4) {
			cr_expect(len >= 3 && !strcmp(buf + len - 3, "..."), "n %zu: a cut without '...': '%s'", n,
				  buf);
			char head[64], back[64];
			snprintf(head, sizeof(head), "%.*s", (int)(len - 3), buf);
			cr_expect_eq(unescape(head, back), 0, "n %zu: cut inside an escape: '%s'", n, buf);
		}
		free(buf);
	}
}

/* What the entry checks refuse is exactly what would not print as it is. */
Test(text, unprintable_finds_the_first_byte_escape_would_change)
{
	cr_expect_null(text_unprintable("10.0.0.1:5672", TEXT_WORD));
	cr_expect_null(text_unprintable("a b", 0));
	const char *s = "a b";
	cr_expect_eq(text_unprintable(s, TEXT_WORD), s + 1);
	s = "ok\033[2J";
	cr_expect_eq(text_unprintable(s, 0), s + 2);
	s = "caf\xc3\xa9";
	cr_expect_eq(text_unprintable(s, 0), s + 3);
	s = "del\x7f";
	cr_expect_eq(text_unprintable(s, 0), s + 3);
	char b[8];
	cr_expect_str_eq(text_byte(0x1b, b, sizeof(b)), "\\x1b");
	cr_expect_str_eq(text_byte(' ', b, sizeof(b)), "' '");
	cr_expect_str_eq(text_byte('\'', b, sizeof(b)), "\\x27");
	cr_expect_str_eq(text_byte(0xc3, b, sizeof(b)), "\\xc3");
}
