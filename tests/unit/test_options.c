/* What operators type: every accepted form and every refused one. */
#include <criterion/criterion.h>
#include <errno.h>

#include "understudy/options.h"

Test(options, durations_in_every_unit)
{
	static const struct {
		const char *in;
		int64_t ms;
	} ok[] = {
		{ "500ms", 500 },
		{ "10s", 10000 },
		{ "2m", 120000 },
		{ "2min", 120000 },
		{ "1h", 3600000 },
		{ "1.5", 1500 },
		{ "1", 1000 },
		{ "0.25s", 250 },
		{ "1ms", 1 },
		{ "86400", 86400000 },
		{ "1m30s", 90000 },
		{ "1h30m", 5400000 },
		{ "2s500ms", 2500 },
		{ "1h1min1s1ms", 3661001 },
		{ ".5s", 500 },
		{ "1.5m30s", 120000 },
		{ "23h59m60s", 86400000 },
		/* Fractions of a millisecond round to the nearest, a half up. */
		{ "1.5ms", 2 },
		{ "2.4ms", 2 },
		{ "0.0015s", 2 },
		{ "1.4999ms", 1 },
		{ "0.0001h", 360 },
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		int64_t ms = -1;
		cr_expect_eq(options_duration(ok[i].in, &ms), 0, "'%s' refused", ok[i].in);
		cr_expect_eq(ms, ok[i].ms, "'%s' gave %lld ms", ok[i].in, (long long)ms);
	}
}

Test(options, durations_refused_and_left_alone)
{
	static const char *bad[] = { "",    " 5",    "-1",   "-5s",   "10x",  "s",      "ms", "1e10",   "nan", "inf",
				     "5 s", "10sec", "1m30", "30s1m", "1m1m", "1min2m", "1.", "1m 30s", "1s " };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int64_t ms = 42;
		cr_expect_eq(options_duration(bad[i], &ms), -EINVAL, "'%s' accepted", bad[i]);
		cr_expect_eq(ms, 42, "'%s' changed the output", bad[i]);
	}
	/* Durations, but not between 1 ms and a day: the message says so. */
	static const char *range[] = { "0", "0s", "0.5ms", "86401", "24h1ms", "25h" };
	for (size_t i = 0; i < sizeof(range) / sizeof(range[0]); i++) {
		int64_t ms = 42;
		cr_expect_eq(options_duration(range[i], &ms), -ERANGE, "'%s' not out of range", range[i]);
		cr_expect_eq(ms, 42, "'%s' changed the output", range[i]);
	}
	cr_expect_eq(options_duration(NULL, NULL), -EINVAL);
	char why[160];
	int64_t ms;
	cr_expect_eq(options_duration_why("0", &ms, why, sizeof(why)), -ERANGE);
	cr_expect_str_eq(why, "'0' is out of range: a duration is from 1ms to 24h");
	cr_expect_eq(options_duration_why("1m30", &ms, why, sizeof(why)), -EINVAL);
	cr_expect_str_eq(why, "'1m30' is not a duration (like 500ms, 10s, 2m, 1m30s)");
	cr_expect_eq(options_duration_why("\x1b[2J", &ms, why, sizeof(why)), -EINVAL);
	cr_expect_str_eq(why, "'\\x1b[2J' is not a duration (like 500ms, 10s, 2m, 1m30s)");
}

Test(options, whole_numbers_in_range)
{
	long v = -7;
	cr_expect_eq(options_int("5", 0, 64, &v), 0);
	cr_expect_eq(v, 5);
	cr_expect_eq(options_int("0", 0, 64, &v), 0);
	cr_expect_eq(v, 0);
	static const char *bad[] = { "", "65", "-1", "5x", " 5", "1.0", "99999999999999999999" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = -7;
		cr_expect_eq(options_int(bad[i], 0, 64, &v), -EINVAL, "'%s' accepted", bad[i]);
		cr_expect_eq(v, -7);
	}
}

Test(options, node_names)
{
	cr_expect_eq(options_name("node-a"), 0);
	cr_expect_eq(options_name("db1.example.com"), 0);
	cr_expect_eq(options_name("a_b@c:1"), 0);
	char max[64];
	memset(max, 'x', 63);
	max[63] = '\0';
	cr_expect_eq(options_name(max), 0, "63 bytes is the limit, not over it");
	char over[65];
	memset(over, 'x', 64);
	over[64] = '\0';
	cr_expect_eq(options_name(over), -EINVAL);
	static const char *bad[] = { "", "a b", "a/b", "a\"b", "a\nb", "ü", "a;b" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_eq(options_name(bad[i]), -EINVAL, "'%s' accepted", bad[i]);
	cr_expect_eq(options_name(NULL), -EINVAL);
}
