/* Whom a path lets change what the manager relies on. The manager runs
 * as root: a hook or probe it executes, a configuration file it reads and
 * the lock file that decides where the workload runs are only as safe as
 * the least trusted user who can write them, replace them through a
 * directory on their path, or, for the lock file, merely read them (an
 * OFD read lock on the right byte stops a group: §4 of doc/protocol.md).
 *
 * A path is trusted when every user who can do any of that is trusted:
 * root, the manager's own user and, for the lock file, the owner that
 * lock-owner names (storage that maps root to another user) with its
 * designated group. The rules, after OpenSSH's StrictModes and
 * keepalived's script security:
 *   - the file is owned by a trusted user and writable by nobody else
 *     (a lock file: no access at all for others, group access only for
 *     the designated group);
 *   - every directory from / down to it is owned by a trusted user and
 *     writable by nobody else, except a sticky directory (like /tmp),
 *     where others cannot rename or remove an entry they do not own:
 *     that is enough when the entry on the path is a trusted user's;
 *   - the lock file's own directory must not let others create files in
 *     it even when sticky: anyone could create the group's lock file
 *     before the first node does.
 * Symbolic links on the path are followed and each directory they pass
 * through is checked (the lock file itself is never followed: lockfile.c
 * refuses a link).
 *
 * The judging functions are pure (stat buffers in, a verdict out); the
 * walk does lstat and readlink only. Messages name the path, the owner
 * and mode found and what is wanted. */
#ifndef UNDERSTUDY_TRUST_H
#define UNDERSTUDY_TRUST_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

/* No group is trusted. */
#define TRUST_NO_GROUP ((gid_t)-1)

/* What the path is for: each has its own rules and its own messages. */
enum trust_use {
	TRUST_LOCK,    /* the group's lock file */
	TRUST_PROGRAM, /* a hook or a readiness probe, executed by the manager */
	TRUST_CONFIG,  /* a configuration file */
};

/* The users and the group a path may let change it. */
struct trust_who {
	uid_t self;       /* the manager's effective user */
	uid_t owner;      /* the lock file's expected owner (self unless lock-owner) */
	gid_t group;      /* the designated group, or TRUST_NO_GROUP */
	bool owner_given; /* lock-owner named owner and group */
};

enum trust_verdict {
	TRUST_OK,
	TRUST_FILE_OWNER,   /* the file's owner is not trusted */
	TRUST_FILE_GROUP,   /* a group that is not trusted may write (a lock file: read or write) */
	TRUST_FILE_OTHERS,  /* every user may write it (a lock file: read or write) */
	TRUST_DIR_OWNER,    /* a directory on the path is owned by a user not trusted */
	TRUST_DIR_WRITABLE, /* a directory on the path lets users not trusted replace the entry */
	TRUST_DIR_CREATE,   /* the lock file's directory lets every user create files (sticky) */
	TRUST_ACL,          /* a POSIX ACL on the path: the mode bits do not say who may write (or read) */
};

/* What the walk found at fault, for the message. */
struct trust_finding {
	enum trust_verdict verdict;
	char path[PATH_MAX]; /* the file, or the directory at fault */
	struct stat st;      /* of that path, as found */
};

/* The rules for the manager itself: root and geteuid(), owner geteuid()
 * and group getegid() for a lock file unless lock-owner says otherwise. */
void trust_who_default(struct trust_who *w);
/* Parse lock-owner's USER[:GROUP] (names or numbers) into w->owner and
 * w->group: GROUP defaults to USER's primary group. 0, or -EINVAL with
 * why filled in. */
int trust_owner_parse(const char *spec, struct trust_who *w, char *why, size_t n);
/* "USER" or "USER:GROUP" as lock-owner would take them, for printing. */
void trust_owner_format(const struct trust_who *w, char *buf, size_t n);

/* Whether uid is one the path may belong to for use. */
bool trust_user(const struct trust_who *w, enum trust_use use, uid_t uid);
/* The file's own owner and mode (st of the file, links followed). */
enum trust_verdict trust_judge_file(const struct stat *st, enum trust_use use, const struct trust_who *w);
/* A directory on the path: dir is the directory, entry the next
 * component found in it (NULL when it does not exist yet), last says
 * that component is the file itself. */
enum trust_verdict trust_judge_dir(const struct stat *dir, const struct stat *entry, bool last, enum trust_use use,
				   const struct trust_who *w);

/* Walk path from / (a relative path from the working directory) and judge
 * every directory and the file. Returns 0 when trusted, -EPERM with f
 * filled in when not, or -errno when a component could not be looked at
 * (f->path names it; a missing lock file or directory is 0: nothing
 * there to distrust, and opening it will say it is missing). */
int trust_walk(const char *path, enum trust_use use, const struct trust_who *w, struct trust_finding *f);
/* The message for a finding of a walk of path: "PATH: ...". */
void trust_explain(const char *path, const struct trust_finding *f, enum trust_use use, const struct trust_who *w,
		   char *buf, size_t n);
/* trust_walk and trust_explain in one: 0, -EPERM with why, or -errno
 * with why ("PATH: strerror"). */
int trust_check(const char *path, enum trust_use use, const struct trust_who *w, char *why, size_t n);

#endif
