/* A group seen from outside, for the commands that look at or ask
 * something of a group without being one of its nodes. */
#ifndef UNDERSTUDY_GROUP_H
#define UNDERSTUDY_GROUP_H

#include <stdbool.h>
#include <stdio.h>

#include "understudy/lockfile.h"
#include "understudy/text.h"
#include "understudy/trust.h"

/* Open the group's file (LF_OPEN_READ or LF_OPEN_WRITE, never creating),
 * if who trusts it (trust.h). Returns 0, or prints "understudy CMD: PATH:
 * what is wrong" and returns the exit status: 66 no such group (or an
 * empty file, for a write), 65 not a lock file of ours, 77 no permission
 * or a file others could write or lock, 74 other I/O errors. */
int group_open(struct lockfile *lf, const char *path, enum lf_open mode, const struct trust_who *who, const char *cmd);
/* Whether another process holds slot i, the live lock or any byte. */
bool group_held(struct lockfile *lf, int offset);
/* lockfile_read, as a call the command's bound covers (bound.h); so are
 * group_open's, group_held's and group_look's. */
int group_read(struct lockfile *lf, struct lf_view *v);
/* A name, address or requester from the file as one word safe to print
 * (text_escape): any node of any version, or anyone who can write the
 * file, wrote it. Returns buf. */
#define GROUP_SHOWN TEXT_ESCAPED_SIZE(LF_NAME_MAX)
const char *group_show(const char *s, char buf[static GROUP_SHOWN]);
/* Print s as a JSON string, quotes and escapes included. */
void group_json_string(FILE *f, const char *s);

/* One look at a group: one read of its file, and a lock test for the live
 * lock and for each registered node. */
struct group_look {
	struct lf_view view;
	bool has_live;  /* the file names a live node (live or failback) */
	bool live_held; /* some process holds the live lock */
	bool alive[LF_SLOTS];
};

/* Look at the group through lf. An empty file is a new group no node has
 * joined. Returns 0 or -errno: -EBADMSG when the file is not ours. */
int group_look(struct lockfile *lf, struct group_look *g);

/* What the live's heartbeat did while it was watched. */
struct group_beat {
	bool advancing;
	long seen_ms; /* how long until it was seen to advance */
};

/* Watch the live's heartbeat for a little more than one of its intervals
 * (hosts' clocks disagree, so only a counter seen to move tells). Blocks
 * that long. Returns 0 or -errno from reading the file. */
int group_watch_heartbeat(struct lockfile *lf, const struct lf_view *v, struct group_beat *b);

/* "failback" or "switchover". */
const char *group_request_kind(uint8_t kind);

/* The group as one JSON object and a newline, as `status --json` prints it;
 * advancing says whether the live's heartbeat was seen to move. */
void group_print_json(FILE *f, const struct group_look *g, bool advancing);

/* lockfile_read_history, as a call the command's bound covers. An empty
 * file (a group nobody has formatted) has no history: h->n is 0. */
int group_read_history(struct lockfile *lf, struct lf_history *h);
/* The history as `status --history` prints it: a line per entry, oldest
 * first, its time in this host's local time and zone, names escaped; then
 * how many damaged entries were skipped, if any. */
void group_print_history_text(FILE *f, const struct lf_history *h);
/* The same as one JSON array and a newline. */
void group_print_history_json(FILE *f, const struct lf_history *h);

#endif
