/* Text that came from outside (the lock file, a peer, a workload's notify
 * message, an operator's typing) on its way to a terminal, a log line or
 * systemd. One rule for the whole program: printable ASCII is shown as it
 * is, every other byte as \xNN and a backslash as \\, so that no byte
 * anyone else wrote can end a line, forge another, or reach a terminal as
 * a control sequence (ESC, the C1 controls a Latin-1 terminal obeys, the
 * bidirectional overrides of UTF-8, which reorder what is shown).
 * Non-ASCII UTF-8 is escaped too: telling a harmless letter from a control
 * would need a Unicode table, and names and addresses are ASCII anyway. */
#ifndef UNDERSTUDY_TEXT_H
#define UNDERSTUDY_TEXT_H

#include <stddef.h>

enum {
	/* A value that must stay one word (key=value lines, columns): the
	 * blank is escaped too, as \x20. */
	TEXT_WORD = 1,
};

/* The room text_escape needs for n bytes of text to show whole. */
#define TEXT_ESCAPED_SIZE(n) (4 * (n) + 1)

/* s as it is safe to print, into buf of n bytes (n > 0), always
 * terminated; cut at a whole escape, ending in "...", when it does not
 * fit. Returns buf, so that a call can be an argument of printf. */
const char *text_escape(const char *s, char *buf, size_t n, unsigned flags);
/* The first byte of s that text_escape would not show as it is (a
 * backslash aside, which is printable), or NULL: what a check at the
 * entry refuses, so that what it accepts is printed unchanged. */
const char *text_unprintable(const char *s, unsigned flags);
/* One byte as a message shows it: "\x1b", or "'!'" for a printable one;
 * into buf of at least 8 bytes. */
const char *text_byte(unsigned char c, char *buf, size_t n);

#endif
