/* What the parts of check-storage share: the run's settings, the report
 * the runner sends the command, the bound on its storage calls, and the
 * writes each side of a coherence check can recognise.
 *
 * The checks run in a child process of the command, the runner. It
 * reports one line per verdict on a pipe; every call it makes on the
 * storage is named to the runner's bound (bound.h), and past the bound
 * the watchdog reports which call on which file got no answer and ends
 * the runner. The command itself never touches the storage, so a dead
 * file server ends the command with that message, never hangs it
 * (cmd_check_storage.c). */
#ifndef UNDERSTUDY_CHECK_H
#define UNDERSTUDY_CHECK_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "understudy/bound.h"
#include "understudy/lockfile.h"

/* Rounds of each measured check. */
enum { CHECK_WAKE_ROUNDS = 20, CHECK_DEATH_ROUNDS = 5, CHECK_WRITE_ROUNDS = 20 };

struct check_opts {
	const char *dir;
	bool peer;
	int64_t timeout_ms, peer_timeout_ms;
	const char *host;
	char scratch[PATH_MAX], meet[PATH_MAX];
};

/* The report's lines, as the command reads them: "?CHECK" names the
 * check now running, "!MESSAGE" is the bound's (a call got no answer),
 * anything else is a verdict, printed as it is. */
#define CHECK_LINE_STEP '?'
#define CHECK_LINE_HUNG '!'

/* The runner reports on fd from now on, and bounds its storage calls to
 * o->timeout_ms: past it, "!PATH: no answer from the storage within MS ms
 * (CALL)" goes to fd and the runner ends. 0 or -errno. */
int check_start(int fd, const struct check_opts *o);
/* The check that runs now, for the command to name if the storage stops
 * answering in it. */
__attribute__((format(printf, 1, 2))) void check_step(const char *fmt, ...);
/* One verdict: kind PASS, WARN, FAIL or INFO, then the text. */
__attribute__((format(printf, 2, 3))) void check_report(const char *kind, const char *fmt, ...);

/* A storage call of the runner on path: CHECK_CALL(path, "taking the live
 * lock", lockfile_lock(...)) names it to the bound, makes it, and ends
 * the bound's count; its value is the call's (an int). */
#define CHECK_CALL(path, what, call) (bound_doing_on((path), (what)), check_called(call))
int check_called(int r);
/* A wait made of storage calls that may rightly last up to ms (a lock
 * taken with tries): bounded by ms plus the bound. */
#define CHECK_WAIT(path, what, ms, call) (check_waiting((path), (what), (ms)), check_called(call))
void check_waiting(const char *path, const char *what, int64_t ms);

/* Sleep ms, whatever signals arrive meanwhile. */
void check_sleep_ms(int64_t ms);
/* Median and maximum of n samples, sorting them in place. */
void check_median_max(int64_t *v, int n, int64_t *median, int64_t *max);
static inline double check_ms(int64_t ns) { return (double)ns / 1e6; }

/* A live record that only round round of a writer seeded with seed
 * writes, so a reader knows what it should see without being told
 * through the file: written (0 or -errno), and read back (1 when the
 * file's live record is that round's, 0 when not, with the heartbeat
 * seen; -errno). Both are bounded storage calls. */
uint64_t check_nonce(uint64_t seed, int round);
int check_write_nonce(struct lockfile *lf, uint64_t seed, int round, const char *name);
int check_read_nonce(struct lockfile *lf, uint64_t seed, int round, uint64_t *seen);

#endif
