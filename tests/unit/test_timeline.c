/* The timeline: every figure a node runs by, derived from the settings,
 * at the defaults and at the edges, and each relation refused or warned
 * about with a message naming the settings. */
#include <understudy/config.h>
#include <understudy/timeline.h>

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct timeline derived(const struct timeline_settings *s)
{
	struct timeline t;
	timeline_derive(s, &t);
	return t;
}

static struct timeline_settings defaults(void)
{
	struct timeline_settings s;
	timeline_defaults(&s);
	return s;
}

static char *explained(const struct timeline_fault *f, const struct timeline_settings *s, const char *const *names)
{
	static char why[1024];
	timeline_explain(f, s, names, why, sizeof(why));
	return why;
}

/* ---- the figures ---------------------------------------------------------- */

Test(timeline, the_defaults_give_the_header_s_timeline)
{
	struct timeline_settings s = defaults();
	struct timeline t = derived(&s);
	cr_expect_eq(t.lock_wait_cut_ms, 500);
	cr_expect_eq(t.idle_look_ms[TIMELINE_LOCAL], 60000, "a waiting node on one kernel: only a net");
	cr_expect_eq(t.idle_look_ms[TIMELINE_NETWORKED], 500, "a server may never wake a waiter: poll");
	cr_expect_eq(t.queue_try_ms, 5000, "a node queued behind the backup tries every 10 polls at most");
	cr_expect_eq(t.queue_look_ms[TIMELINE_LOCAL], 60000, "a queued node on one kernel: the idle look");
	cr_expect_eq(t.queue_look_ms[TIMELINE_NETWORKED], 30000, "a queued node elsewhere: every 60 polls");
	cr_expect_eq(t.io_bound_ms, 30000);
	cr_expect_eq(t.fence_ms, 10000);
	cr_expect_eq(t.stop_kill_ms, 10000);
	cr_expect_eq(t.heartbeat_still_ms, 1500, "a heartbeat every H on the first check after it");
	cr_expect_eq(t.takeover_delay_ms[TIMELINE_LOCAL], 0, "auto is 0 on a local file system");
	cr_expect_eq(t.takeover_delay_ms[TIMELINE_NETWORKED], 12000, "auto is F + 2H elsewhere");
	cr_expect_eq(timeline_takeover_delay(&t, true), 0);
	cr_expect_eq(timeline_takeover_delay(&t, false), 12000);
	cr_expect_eq(t.stall_fence_ms, 10500, "a stalled loop's storage process fences C after the loop would");
	cr_expect_eq(t.stall_look_ms, 1000, "and looks at the path when the loop has not for 2C");
	cr_expect_eq(t.new_file_wait_ms[TIMELINE_LOCAL], 1500, "3C on a local file system: 2C to look, C to kill");
	cr_expect_eq(t.new_file_wait_ms[TIMELINE_NETWORKED], 12000, "the takeover delay elsewhere");
	cr_expect_eq(timeline_new_file_wait(&t, true), 1500);
	cr_expect_eq(timeline_new_file_wait(&t, false), 12000);
	cr_expect_eq(t.watchdog_pet_ms, 0, "no watchdog, no pets");
	cr_expect_eq(t.watchdog_above_ms, 10000);
	cr_expect_eq(t.crash_start_min_ms[TIMELINE_LOCAL], 0);
	cr_expect_eq(t.crash_start_max_ms[TIMELINE_LOCAL], 0);
	cr_expect_eq(t.crash_start_min_ms[TIMELINE_NETWORKED], 12000);
	cr_expect_eq(t.crash_start_max_ms[TIMELINE_NETWORKED], 12500, "plus a poll interval to see the lock free");
	cr_expect_eq(t.partition_fence_min_ms, 8500);
	cr_expect_eq(t.partition_gone_ms, -1, "P unknown");
	cr_expect_eq(t.partition_start_ms, -1, "L unknown");
	cr_expect_not(t.margin_known);
	cr_expect_eq(t.margin_ms, 2000, "L - P + 2 s: with L = P the margin is 2H");
}

/* config and the timeline share one set of defaults: what the node runs
 * with unless told otherwise is what the timeline starts from. */
Test(timeline, config_starts_from_the_same_defaults)
{
	struct config c;
	struct timeline_settings from_config, s = defaults();
	config_init(&c);
	config_timeline(&c, &from_config);
	cr_expect_eq(memcmp(&from_config, &s, sizeof(s)), 0, "config_init's timing differs from timeline_defaults");
	config_free(&c);
}

Test(timeline, a_given_delay_holds_on_every_file_system)
{
	struct timeline_settings s = defaults();
	s.takeover_delay_ms = 3000;
	struct timeline t = derived(&s);
	cr_expect_eq(t.takeover_delay_ms[TIMELINE_LOCAL], 3000);
	cr_expect_eq(t.takeover_delay_ms[TIMELINE_NETWORKED], 3000);
	cr_expect_eq(t.new_file_wait_ms[TIMELINE_LOCAL], 3000);
	cr_expect_eq(t.crash_start_max_ms[TIMELINE_LOCAL], 3000, "a local lock wait returns at once");
	cr_expect_eq(t.crash_start_max_ms[TIMELINE_NETWORKED], 3500);

	s.takeover_delay_ms = 0;
	t = derived(&s);
	cr_expect_eq(t.takeover_delay_ms[TIMELINE_NETWORKED], 0, "0 given is 0 everywhere");
	cr_expect_eq(t.new_file_wait_ms[TIMELINE_NETWORKED], 1500, "the new-file wait is still 3C");
	cr_expect_eq(t.margin_ms, -10000, "D - F: no margin left unless L exceeds P by F");
}

/* The new-file wait is the longer of 3C and the takeover delay. */
Test(timeline, the_new_file_wait_is_the_longer_wait)
{
	struct timeline_settings s = defaults();
	s.check_ms = s.heartbeat_ms = 4000;
	s.fence_timeout_ms = 8000;
	s.takeover_delay_ms = 500;
	struct timeline t = derived(&s);
	cr_expect_eq(t.new_file_wait_ms[TIMELINE_LOCAL], 12000);
	cr_expect_eq(t.new_file_wait_ms[TIMELINE_NETWORKED], 12000);
	s.takeover_delay_ms = 12001;
	t = derived(&s);
	cr_expect_eq(t.new_file_wait_ms[TIMELINE_NETWORKED], 12001);
}

/* The pet interval is half the unit's watchdog, never 0 (the loop would
 * spin on it). */
Test(timeline, the_watchdog_is_petted_every_half)
{
	struct timeline_settings s = defaults();
	static const int64_t in[] = { 15000, 200, 3, 2, 1 }, want[] = { 7500, 100, 1, 1, 1 };
	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		s.watchdog_ms = in[i];
		cr_expect_eq(derived(&s).watchdog_pet_ms, want[i], "WatchdogSec %lld ms", (long long)in[i]);
	}
}

/* The rig's figures (doc/fencing.md): F 2 s, H 500 ms, C 250 ms; a brick
 * giving locks away after 3 s. With the client giving up after 3 s too
 * the margin is 1 s; after 10 s, -6 s: the overlap the rig saw. */
Test(timeline, the_margin_with_a_known_storage)
{
	struct timeline_settings s = defaults();
	s.fence_timeout_ms = 2000;
	s.heartbeat_ms = 500;
	s.check_ms = 250;
	s.lease_ms = 3000;
	s.giveup_ms = 3000;
	struct timeline t = derived(&s);
	cr_expect_eq(t.takeover_delay_ms[TIMELINE_NETWORKED], 3000);
	cr_expect(t.margin_known);
	cr_expect_eq(t.margin_ms, 1000);
	cr_expect_eq(t.partition_gone_ms, 5000);
	cr_expect_eq(t.partition_start_ms, 6000);
	cr_expect_eq(t.partition_fence_min_ms, 1250);
	struct timeline_fault w[4];
	cr_expect_eq(timeline_warnings(&s, TIMELINE_NETWORKED, w, 4), 0, "a margin of 1 s is one");

	s.giveup_ms = 10000;
	t = derived(&s);
	cr_expect_eq(t.margin_ms, -6000);
	cr_assert_eq(timeline_warnings(&s, TIMELINE_NETWORKED, w, 4), 1);
	cr_expect_eq(w[0].rel, TIMELINE_MARGIN_NEGATIVE);
	cr_expect_str_eq(
		explained(&w[0], &s, NULL),
		"--takeover-delay (3000 ms) is too short for this storage: it gives a lock away after 3000 ms "
		"and its client gives up after 10000 ms, and the lock given away plus the delay (6000 ms) must "
		"exceed --fence-timeout plus the client's give-up (12000 ms); raise it by 6001 ms "
		"(doc/fencing.md)");
	/* Exactly equal is no margin either. */
	s.giveup_ms = 4000;
	cr_expect_eq(derived(&s).margin_ms, 0);
	cr_expect_eq(timeline_warnings(&s, TIMELINE_NETWORKED, w, 4), 1);
	cr_expect_eq(timeline_warnings(&s, TIMELINE_LOCAL, w, 4), 0, "a local file system has no lease");
}

/* ---- the relations ----------------------------------------------------------- */

Test(timeline, the_defaults_keep_every_relation)
{
	struct timeline_settings s = defaults();
	struct timeline_fault f, w[4];
	cr_expect_eq(timeline_check(&s, &f), TIMELINE_OK);
	cr_expect_eq(timeline_warnings(&s, TIMELINE_FS_UNKNOWN, w, 4), 0);
	s.watchdog_ms = 15000; /* the unit's */
	cr_expect_eq(timeline_warnings(&s, TIMELINE_NETWORKED, w, 4), 0);
}

Test(timeline, a_check_slower_than_the_heartbeat_is_refused)
{
	struct timeline_settings s = defaults();
	struct timeline_fault f;
	s.check_ms = 1001;
	cr_assert_eq(timeline_check(&s, &f), TIMELINE_CHECK_OVER_HEARTBEAT);
	cr_expect_eq(f.a, TIMELINE_CHECK);
	cr_expect_eq(f.b, TIMELINE_HEARTBEAT);
	cr_expect_str_eq(explained(&f, &s, NULL), "--check-interval (1001 ms) must not exceed --heartbeat-interval "
						  "(1000 ms): the heartbeat is written on a check");
	const char *names[TIMELINE_NSETTINGS] = { [TIMELINE_CHECK] = "app.conf:9: [fencing] check-interval" };
	cr_expect_str_eq(explained(&f, &s, names),
			 "app.conf:9: [fencing] check-interval (1001 ms) must not exceed "
			 "--heartbeat-interval (1000 ms): the heartbeat is written on a check");
	s.check_ms = 1000;
	cr_expect_eq(timeline_check(&s, &f), TIMELINE_OK, "equal: a heartbeat on every check");
}

Test(timeline, a_fence_under_two_heartbeats_is_refused)
{
	struct timeline_settings s = defaults();
	struct timeline_fault f;
	s.fence_timeout_ms = 1999;
	cr_assert_eq(timeline_check(&s, &f), TIMELINE_FENCE_UNDER_TWO_HEARTBEATS);
	cr_expect_eq(f.a, TIMELINE_FENCE);
	cr_expect_eq(f.b, TIMELINE_HEARTBEAT);
	cr_expect_str_eq(explained(&f, &s, NULL), "--fence-timeout (1999 ms) must be at least twice "
						  "--heartbeat-interval (1000 ms): one late heartbeat round must not "
						  "fence a healthy live node");
	s.fence_timeout_ms = 2000;
	cr_expect_eq(timeline_check(&s, &f), TIMELINE_OK, "exactly twice is enough");
}

/* Both broken: the check interval is named first, as config always did. */
Test(timeline, the_first_broken_relation_is_named)
{
	struct timeline_settings s = defaults();
	struct timeline_fault f;
	s.check_ms = 5000;
	s.fence_timeout_ms = 1000;
	cr_expect_eq(timeline_check(&s, &f), TIMELINE_CHECK_OVER_HEARTBEAT);
}

/* A delay given shorter than auto's: said on networked storage, or when
 * the file system is not known (--check); never on a local one. */
Test(timeline, a_short_takeover_delay_is_warned_about)
{
	struct timeline_settings s = defaults();
	struct timeline_fault w[4];
	s.takeover_delay_ms = 3000;
	cr_assert_eq(timeline_warnings(&s, TIMELINE_NETWORKED, w, 4), 1);
	cr_expect_eq(w[0].rel, TIMELINE_TAKEOVER_SHORT);
	cr_expect_str_eq(explained(&w[0], &s, NULL),
			 "--takeover-delay (3000 ms) is shorter than --fence-timeout plus twice --heartbeat-interval "
			 "(12000 ms): on networked storage it keeps one workload only if the storage gives a cut-off "
			 "host's lock away more than 7000 ms later than its client gives up its I/O (doc/fencing.md)");
	cr_expect_eq(timeline_warnings(&s, TIMELINE_FS_UNKNOWN, w, 4), 1);
	cr_expect_eq(timeline_warnings(&s, TIMELINE_LOCAL, w, 4), 0);

	s.takeover_delay_ms = 11000; /* over F, under F + 2H */
	cr_assert_eq(timeline_warnings(&s, TIMELINE_NETWORKED, w, 4), 1);
	cr_expect(strstr(explained(&w[0], &s, NULL), "less than 1000 ms sooner than its client gives up"), "%s",
		  explained(&w[0], &s, NULL));

	s.takeover_delay_ms = 0;
	cr_assert_eq(timeline_warnings(&s, TIMELINE_NETWORKED, w, 4), 1);
	cr_expect(strstr(explained(&w[0], &s, NULL), "too short to see a live node's heartbeat move"), "%s",
		  explained(&w[0], &s, NULL));

	s.takeover_delay_ms = 12000; /* what auto gives */
	cr_expect_eq(timeline_warnings(&s, TIMELINE_NETWORKED, w, 4), 0);
}

Test(timeline, a_unit_watchdog_not_over_the_fence_timeout_is_warned_about)
{
	struct timeline_settings s = defaults();
	struct timeline_fault w[4];
	s.watchdog_ms = 10000;
	cr_assert_eq(timeline_warnings(&s, TIMELINE_LOCAL, w, 4), 1);
	cr_expect_eq(w[0].rel, TIMELINE_WATCHDOG_SHORT);
	cr_expect_eq(w[0].a, TIMELINE_WATCHDOG);
	cr_expect_str_eq(explained(&w[0], &s, NULL),
			 "the unit's WatchdogSec= (10000 ms) is not longer than --fence-timeout (10000 ms): in a "
			 "storage stall the service manager would kill the node before it fences, without its "
			 "on-fence hook");
	s.watchdog_ms = 10001;
	cr_expect_eq(timeline_warnings(&s, TIMELINE_LOCAL, w, 4), 0);
	/* Room for one only: the first. */
	s.watchdog_ms = 200;
	s.takeover_delay_ms = 0;
	cr_expect_eq(timeline_warnings(&s, TIMELINE_NETWORKED, w, 1), 1);
	cr_expect_eq(w[0].rel, TIMELINE_TAKEOVER_SHORT);
	cr_expect_eq(timeline_warnings(&s, TIMELINE_NETWORKED, w, 4), 2);
}

/* ---- printed ------------------------------------------------------------------ */

static char *printed(const struct timeline_settings *s)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	cr_assert_not_null(f);
	struct timeline t = derived(s);
	timeline_print(&t, f);
	fclose(f);
	return buf;
}

Test(timeline, run_check_prints_every_figure)
{
	struct timeline_settings s = defaults();
	char *out = printed(&s);
	cr_expect_str_eq(out, "derived.lock-wait-cut = 500ms\n"
			      "derived.idle-look.local = 60s\n"
			      "derived.idle-look.networked = 500ms\n"
			      "derived.queue-try.networked = 5s\n"
			      "derived.queue-look.local = 60s\n"
			      "derived.queue-look.networked = 30s\n"
			      "derived.io-bound = 30s\n"
			      "derived.fence = 10s\n"
			      "derived.stall-fence = 10500ms\n"
			      "derived.stall-look = 1s\n"
			      "derived.stop-kill = 10s\n"
			      "derived.heartbeat-still = 1500ms\n"
			      "derived.takeover-delay.local = 0\n"
			      "derived.takeover-delay.networked = 12s\n"
			      "derived.new-file-wait.local = 1500ms\n"
			      "derived.new-file-wait.networked = 12s\n"
			      "derived.watchdog-above = 10s\n"
			      "derived.watchdog-pet = \n"
			      "derived.crash-start.local = 0\n"
			      "derived.crash-start.networked = L + 12s .. L + 12500ms\n"
			      "derived.partition-fence = 8500ms .. 10s\n"
			      "derived.partition-gone = 10s + P\n"
			      "derived.partition-start = L + 12s\n"
			      "derived.partition-margin = L - P + 2s\n");
	free(out);

	/* Known storage figures give numbers; a margin below 0 shows it. */
	s.watchdog_ms = 15000;
	s.lease_ms = 3000;
	s.giveup_ms = 16000;
	out = printed(&s);
	cr_expect(strstr(out, "derived.watchdog-pet = 7500ms\n"), "%s", out);
	cr_expect(strstr(out, "derived.crash-start.networked = 15s .. 15500ms\n"), "%s", out);
	cr_expect(strstr(out, "derived.partition-gone = 26s\n"), "%s", out);
	cr_expect(strstr(out, "derived.partition-start = 15s\n"), "%s", out);
	cr_expect(strstr(out, "derived.partition-margin = -11s\n"), "%s", out);
	free(out);

	s.takeover_delay_ms = 0;
	s.lease_ms = s.giveup_ms = -1;
	out = printed(&s);
	cr_expect(strstr(out, "derived.partition-margin = L - P - 10s\n"), "%s", out);
	cr_expect(strstr(out, "derived.partition-start = L\n"), "%s", out);
	free(out);
}

/* ---- seen from outside ------------------------------------------------------- */

/* status and the health endpoint know only the H a live record carries:
 * a healthy node's heartbeat stands still up to H + C, and C <= H. */
Test(timeline, a_heartbeat_seen_from_outside)
{
	struct timeline_settings s = defaults();
	s.check_ms = s.heartbeat_ms; /* the most the relation allows */
	cr_expect_geq(timeline_still_seen_ms(s.heartbeat_ms), derived(&s).heartbeat_still_ms);
	cr_expect_eq(timeline_still_seen_ms(1000), 2000);
	cr_expect_eq(timeline_watch_ms(1000), 1500, "H + C at the defaults");
	cr_expect_eq(timeline_watch_ms(10000), 15000);
	cr_expect_eq(timeline_watch_ms(60000), 15000, "status never blocks longer than 15 s");
}
