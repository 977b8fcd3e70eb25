/* Path trust: who could change what the manager relies on. */
#include "understudy/trust.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

/* The kernel gives up after 40 links in one lookup; so do we. */
#define MAX_LINKS 40

void trust_who_default(struct trust_who *w)
{
	*w = (struct trust_who){ .self = geteuid(), .owner = geteuid(), .group = getegid(), .owner_given = false };
}

static int parse_id(const char *s, unsigned long *out)
{
	if (!*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 10)
		return -EINVAL;
	*out = strtoul(s, NULL, 10);
	return *out < (unsigned long)(uid_t)-1 ? 0 : -EINVAL;
}

int trust_owner_parse(const char *spec, struct trust_who *w, char *why, size_t n)
{
	char user[256];
	const char *colon = strchr(spec, ':');
	size_t ulen = colon ? (size_t)(colon - spec) : strlen(spec);
	if (ulen == 0 || ulen >= sizeof(user) || (colon && !colon[1])) {
		snprintf(why, n, "'%s' is not USER or USER:GROUP", spec);
		return -EINVAL;
	}
	memcpy(user, spec, ulen);
	user[ulen] = '\0';
	unsigned long id;
	struct passwd *pw = getpwnam(user);
	if (!pw && parse_id(user, &id) == 0)
		pw = getpwuid((uid_t)id);
	if (!pw && parse_id(user, &id) < 0) {
		snprintf(why, n, "no such user '%s'", user);
		return -EINVAL;
	}
	uid_t uid = pw ? pw->pw_uid : (uid_t)id;
	gid_t gid;
	if (colon) {
		struct group *gr = getgrnam(colon + 1);
		if (gr)
			gid = gr->gr_gid;
		else if (parse_id(colon + 1, &id) == 0)
			gid = (gid_t)id;
		else {
			snprintf(why, n, "no such group '%s'", colon + 1);
			return -EINVAL;
		}
	} else if (pw) {
		gid = pw->pw_gid;
	} else {
		snprintf(why, n, "uid %s has no entry in the user database: give its group too (USER:GROUP)", user);
		return -EINVAL;
	}
	w->owner = uid;
	w->group = gid;
	w->owner_given = true;
	return 0;
}

static const char *user_name(uid_t uid, char *buf, size_t n)
{
	const struct passwd *pw = getpwuid(uid);
	if (pw)
		snprintf(buf, n, "%s", pw->pw_name);
	else
		snprintf(buf, n, "uid %u", (unsigned)uid);
	return buf;
}

static const char *group_name(gid_t gid, char *buf, size_t n)
{
	const struct group *gr = getgrgid(gid);
	if (gr)
		snprintf(buf, n, "%s", gr->gr_name);
	else
		snprintf(buf, n, "gid %u", (unsigned)gid);
	return buf;
}

void trust_owner_format(const struct trust_who *w, char *buf, size_t n)
{
	const struct passwd *pw = getpwuid(w->owner);
	const struct group *gr = w->group == TRUST_NO_GROUP ? NULL : getgrgid(w->group);
	char u[64], g[64];
	snprintf(u, sizeof(u), "%s", pw ? pw->pw_name : "");
	if (!pw)
		snprintf(u, sizeof(u), "%u", (unsigned)w->owner);
	snprintf(g, sizeof(g), "%s", gr ? gr->gr_name : "");
	if (!gr)
		snprintf(g, sizeof(g), "%u", (unsigned)w->group);
	snprintf(buf, n, "%s:%s", u, g);
}

bool trust_user(const struct trust_who *w, enum trust_use use, uid_t uid)
{
	return uid == 0 || uid == w->self || (use == TRUST_LOCK && uid == w->owner);
}

/* The group that may have access: only the lock file has one. */
static gid_t trusted_group(const struct trust_who *w, enum trust_use use)
{
	return use == TRUST_LOCK ? w->group : TRUST_NO_GROUP;
}

enum trust_verdict trust_judge_file(const struct stat *st, enum trust_use use, const struct trust_who *w)
{
	if (!trust_user(w, use, st->st_uid))
		return TRUST_FILE_OWNER;
	/* A lock file can be stopped by a reader: an OFD read lock needs
	 * only read access. Programs and files the manager reads are only
	 * in danger from writers. */
	mode_t others = use == TRUST_LOCK ? S_IROTH | S_IWOTH : S_IWOTH;
	mode_t group = use == TRUST_LOCK ? S_IRGRP | S_IWGRP : S_IWGRP;
	if (st->st_mode & others)
		return TRUST_FILE_OTHERS;
	if ((st->st_mode & group) && st->st_gid != trusted_group(w, use))
		return TRUST_FILE_GROUP;
	return TRUST_OK;
}

enum trust_verdict trust_judge_dir(const struct stat *dir, const struct stat *entry, bool last, enum trust_use use,
				   const struct trust_who *w)
{
	if (!trust_user(w, use, dir->st_uid))
		return TRUST_DIR_OWNER;
	bool others_write =
		(dir->st_mode & S_IWOTH) || ((dir->st_mode & S_IWGRP) && dir->st_gid != trusted_group(w, use));
	if (!others_write)
		return TRUST_OK;
	bool sticky = dir->st_mode & S_ISVTX;
	/* Sticky: others may add names but not rename or remove what is not
	 * theirs. For the lock file that is not enough: the name itself is
	 * what they could take first, and a node would then find a file it
	 * must refuse (or, before this check, adopt). */
	if (use == TRUST_LOCK && last)
		return sticky ? TRUST_DIR_CREATE : TRUST_DIR_WRITABLE;
	if (sticky && entry && trust_user(w, use, entry->st_uid))
		return TRUST_OK;
	return TRUST_DIR_WRITABLE;
}

/* Copy a path, cut to fit (only ever for a message). */
static void copy_path(char *dst, size_t n, const char *src)
{
	size_t len = strnlen(src, n - 1);
	memcpy(dst, src, len);
	dst[len] = '\0';
}

static int refused(struct trust_finding *f, enum trust_verdict v, const char *path, const struct stat *st)
{
	f->verdict = v;
	copy_path(f->path, sizeof(f->path), path);
	f->st = *st;
	return -EPERM;
}

/* An extended POSIX ACL (name: the access one, or a directory's default
 * one, which files created there inherit). Its entries grant users and
 * groups the mode bits do not show (the group bits then show its mask),
 * so nothing judged from the mode holds. A file system without ACLs
 * answers ENOTSUP or ENODATA: none. */
static bool has_acl(const char *path, const char *name) { return lgetxattr(path, name, NULL, 0) > 0; }

static int failed(struct trust_finding *f, const char *path, int e)
{
	copy_path(f->path, sizeof(f->path), path);
	/* -EPERM means "not trusted" here: a call's own EPERM is reported
	 * as the access failure it is. */
	return e == EPERM ? -EACCES : -e;
}

/* cur = cur/name, or "/name" at the root. */
static int join(char *cur, size_t n, const char *name, size_t len)
{
	size_t c = strlen(cur);
	bool root = c == 1;
	if (c + !root + len + 1 > n)
		return -ENAMETOOLONG;
	if (!root)
		cur[c++] = '/';
	memcpy(cur + c, name, len);
	cur[c + len] = '\0';
	return 0;
}

int trust_walk(const char *path, enum trust_use use, const struct trust_who *w, struct trust_finding *f)
{
	/* todo: what is left to resolve; cur: the directory reached, with
	 * dst its lstat. Both are rebuilt when a link is followed. */
	char todo[2 * PATH_MAX + 2], next[PATH_MAX], target[PATH_MAX], rest[2 * PATH_MAX];
	char cur[PATH_MAX] = "/";
	struct stat dst, est;
	int links = 0;
	memset(f, 0, sizeof(*f));
	if (path[0] == '/') {
		if (strlen(path) >= sizeof(todo))
			return failed(f, path, ENAMETOOLONG);
		snprintf(todo, sizeof(todo), "%s", path);
	} else {
		char cwd[PATH_MAX];
		if (!getcwd(cwd, sizeof(cwd)))
			return failed(f, ".", errno);
		if ((size_t)snprintf(todo, sizeof(todo), "%s/%s", cwd, path) >= sizeof(todo))
			return failed(f, path, ENAMETOOLONG);
	}
	if (lstat(cur, &dst) < 0)
		return failed(f, cur, errno);
	const char *p = todo;
	for (;;) {
		p += strspn(p, "/");
		if (!*p)
			return 0; /* the path names a directory: nothing more to judge */
		size_t len = strcspn(p, "/");
		const char *after = p + len;
		bool last = after[strspn(after, "/")] == '\0';
		if (len == 1 && p[0] == '.') {
			p = after;
			continue;
		}
		if (len == 2 && p[0] == '.' && p[1] == '.') {
			char *slash = strrchr(cur, '/');
			if (slash == cur)
				cur[1] = '\0';
			else if (slash)
				*slash = '\0';
			if (lstat(cur, &dst) < 0)
				return failed(f, cur, errno);
			p = after;
			continue;
		}
		copy_path(next, sizeof(next), cur);
		if (join(next, sizeof(next), p, len) < 0)
			return failed(f, cur, ENAMETOOLONG);
		if (lstat(next, &est) < 0) {
			int e = errno;
			if (e != ENOENT || use != TRUST_LOCK)
				return failed(f, next, e);
			/* Nothing there. Only the lock file's directory matters
			 * then (who could create it first); the open that comes
			 * next says it is missing. A default ACL there would be
			 * the new file's. */
			if (last && has_acl(cur, "system.posix_acl_default"))
				return refused(f, TRUST_ACL, cur, &dst);
			enum trust_verdict v = trust_judge_dir(&dst, NULL, last, use, w);
			return v == TRUST_OK ? 0 : refused(f, v, cur, &dst);
		}
		/* The file's own fault first, when it has one: it is what
		 * the message names and what the operator will look at. */
		if (!S_ISLNK(est.st_mode) && has_acl(next, "system.posix_acl_access"))
			return refused(f, TRUST_ACL, next, &est);
		if (last && use == TRUST_LOCK && has_acl(cur, "system.posix_acl_default"))
			return refused(f, TRUST_ACL, cur, &dst);
		enum trust_verdict v = last && S_ISREG(est.st_mode) ? trust_judge_file(&est, use, w) : TRUST_OK;
		if (v != TRUST_OK)
			return refused(f, v, next, &est);
		v = trust_judge_dir(&dst, &est, last, use, w);
		if (v != TRUST_OK)
			return refused(f, v, cur, &dst);
		if (S_ISLNK(est.st_mode) && !(last && use == TRUST_LOCK)) {
			/* A link is replaced, never changed: its directory,
			 * judged above, is what protects it. Go on from its
			 * target, checking every directory it leads through. */
			if (++links > MAX_LINKS)
				return failed(f, next, ELOOP);
			ssize_t t = readlink(next, target, sizeof(target) - 1);
			if (t < 0)
				return failed(f, next, errno);
			target[t] = '\0';
			copy_path(rest, sizeof(rest), after);
			if ((size_t)snprintf(todo, sizeof(todo), "%s/%s", target, rest) >= sizeof(todo))
				return failed(f, next, ENAMETOOLONG);
			if (target[0] == '/') {
				snprintf(cur, sizeof(cur), "/");
				if (lstat(cur, &dst) < 0)
					return failed(f, cur, errno);
			}
			p = todo;
			continue;
		}
		/* Judged above; anything but a regular file the caller
		 * refuses for what it is (the lock file's open, a hook's
		 * check). */
		if (last)
			return 0;
		if (!S_ISDIR(est.st_mode))
			return failed(f, next, ENOTDIR);
		copy_path(cur, sizeof(cur), next);
		dst = est;
		p = after;
	}
}

/* "root", "root or app", "root, app or nobody": the users a path may
 * belong to. */
static void wanted_users(const struct trust_who *w, enum trust_use use, char *buf, size_t n)
{
	uid_t ids[3] = { 0, w->self, w->owner };
	int k = use == TRUST_LOCK ? 3 : 2, m = 0;
	uid_t uniq[3];
	for (int i = 0; i < k; i++) {
		bool seen = false;
		for (int j = 0; j < m; j++)
			seen |= uniq[j] == ids[i];
		if (!seen)
			uniq[m++] = ids[i];
	}
	size_t off = 0;
	buf[0] = '\0';
	for (int i = 0; i < m && off < n; i++) {
		char name[64];
		off += (size_t)snprintf(buf + off, n - off, "%s%s",
					i == 0       ? ""
					: i == m - 1 ? " or "
						     : ", ",
					user_name(uniq[i], name, sizeof(name)));
	}
}

/* Who a directory's or a file's write bits let in: "every user" or "the
 * members of group G". */
static const char *writers(const struct stat *st, char *buf, size_t n)
{
	char g[64];
	if (st->st_mode & S_IWOTH)
		snprintf(buf, n, "every user");
	else
		snprintf(buf, n, "the members of group %s", group_name(st->st_gid, g, sizeof(g)));
	return buf;
}

static void explain_lock(const char *path, const struct trust_finding *f, const struct trust_who *w, char *buf,
			 size_t n)
{
	const struct stat *st = &f->st;
	unsigned mode = (unsigned)(st->st_mode & 07777);
	char u[64], g[64], want[200], who[96], dg[64];
	user_name(st->st_uid, u, sizeof(u));
	group_name(st->st_gid, g, sizeof(g));
	wanted_users(w, TRUST_LOCK, want, sizeof(want));
	group_name(w->group, dg, sizeof(dg));
	const char *hint = w->owner_given ? ""
					  : " (where the storage maps root to another user, as NFS root squash does, "
					    "name that user with lock-owner = USER[:GROUP])";
	/* Why read access is enough: §4 of doc/protocol.md. */
	static const char read_lock[] = "and a read lock is enough to stop the group (one on the record-lock byte "
					"fences the live node, one on the live-lock byte holds off every takeover)";
	switch (f->verdict) {
	case TRUST_FILE_OWNER:
		snprintf(buf, n,
			 "%s: owned by %s (group %s, mode %04o): its owner could rewrite the group's state; the lock "
			 "file "
			 "must be owned by %s%s: refusing it, left untouched",
			 path, u, g, mode, want, hint);
		break;
	case TRUST_FILE_OTHERS:
		if (st->st_mode & S_IWOTH)
			snprintf(buf, n,
				 "%s: mode %04o (owner %s, group %s): every user may write the group's lock file; want "
				 "no access for others (chmod o-rwx): refusing it, left untouched",
				 path, mode, u, g);
		else
			snprintf(buf, n,
				 "%s: mode %04o (owner %s, group %s): every user may read the group's lock file, %s; "
				 "want no access for others (chmod o-rwx): refusing it, left untouched",
				 path, mode, u, g, read_lock);
		break;
	case TRUST_FILE_GROUP:
		snprintf(
			buf, n,
			"%s: mode %04o (owner %s, group %s): the members of group %s may %s the group's lock file%s%s; "
			"group access is only for the group's designated group, %s (chmod g-rw, or name the group "
			"with lock-owner = USER:GROUP): refusing it, left untouched",
			path, mode, u, g, g, st->st_mode & S_IWGRP ? "write" : "read",
			st->st_mode & S_IWGRP ? "" : ", ", st->st_mode & S_IWGRP ? "" : read_lock, dg);
		break;
	case TRUST_DIR_OWNER:
		snprintf(buf, n,
			 "%s: the directory %s is owned by %s (group %s, mode %04o), who could replace the lock file; "
			 "every directory above it must be owned by %s%s: refusing it",
			 path, f->path, u, g, mode, want, hint);
		break;
	case TRUST_DIR_WRITABLE:
		snprintf(buf, n,
			 "%s: the directory %s (owner %s, group %s, mode %04o) lets %s replace the lock file (mv -f "
			 "over "
			 "it); every directory above it must be writable only by %s or group %s: refusing it",
			 path, f->path, u, g, mode, writers(st, who, sizeof(who)), want, dg);
		break;
	case TRUST_DIR_CREATE:
		snprintf(buf, n,
			 "%s: the directory %s (owner %s, group %s, mode %04o) lets %s create files in it, so anyone "
			 "could create the group's lock file before the first node does; want a directory of the "
			 "group's own, writable only by %s or group %s: refusing it",
			 path, f->path, u, g, mode, writers(st, who, sizeof(who)), want, dg);
		break;
	case TRUST_ACL:
		snprintf(buf, n,
			 "%s: %s carries a POSIX ACL (getfacl shows it; on a directory, a default one files created "
			 "there inherit): its mode bits (%04o) do not say who may write or read the lock file, %s; "
			 "want none (setfacl -b, setfacl -k): refusing it, left untouched",
			 path, f->path, mode, read_lock);
		break;
	case TRUST_OK: snprintf(buf, n, "%s: trusted", path); break;
	}
}

/* Hooks and probes ('PATH' ...: refusing to run it) and configuration
 * files (PATH: ...: refusing to use it). */
static void explain_other(const char *path, const struct trust_finding *f, enum trust_use use,
			  const struct trust_who *w, char *buf, size_t n)
{
	const struct stat *st = &f->st;
	unsigned mode = (unsigned)(st->st_mode & 07777);
	char u[64], g[64], want[200], who[96], subject[PATH_MAX + 8];
	user_name(st->st_uid, u, sizeof(u));
	group_name(st->st_gid, g, sizeof(g));
	wanted_users(w, use, want, sizeof(want));
	bool program = use == TRUST_PROGRAM;
	const char *tail = program ? "refusing to run it" : "refusing to use it";
	/* 'PATH' is ... for a program, as config.c names values; PATH: ...
	 * for a file, as every other message names a file. */
	if (program)
		snprintf(subject, sizeof(subject), "'%s'%s", path, f->verdict >= TRUST_DIR_OWNER ? ":" : "");
	else
		snprintf(subject, sizeof(subject), "%s:", path);
	switch (f->verdict) {
	case TRUST_FILE_OWNER:
		snprintf(buf, n, "%s%s owned by %s (group %s, mode %04o), not by %s: %s", subject, program ? " is" : "",
			 u, g, mode, want, tail);
		break;
	case TRUST_FILE_OTHERS:
	case TRUST_FILE_GROUP:
		snprintf(buf, n, "%s%s writable by %s (owner %s, group %s, mode %04o): %s", subject,
			 program ? " is" : "", writers(st, who, sizeof(who)), u, g, mode, tail);
		break;
	case TRUST_DIR_OWNER:
		snprintf(buf, n, "%s the directory %s is owned by %s (group %s, mode %04o), not by %s: %s", subject,
			 f->path, u, g, mode, want, tail);
		break;
	case TRUST_DIR_WRITABLE:
	case TRUST_DIR_CREATE:
		snprintf(buf, n,
			 "%s the directory %s is writable by %s (owner %s, group %s, mode %04o), who could swap it: %s",
			 subject, f->path, writers(st, who, sizeof(who)), u, g, mode, tail);
		break;
	case TRUST_ACL:
		snprintf(buf, n,
			 "%s %s carries a POSIX ACL (getfacl shows it): its mode bits (%04o) do not say who may change "
			 "it: %s",
			 subject, f->path, mode, tail);
		break;
	case TRUST_OK: snprintf(buf, n, "%s trusted", subject); break;
	}
}

void trust_explain(const char *path, const struct trust_finding *f, enum trust_use use, const struct trust_who *w,
		   char *buf, size_t n)
{
	if (use == TRUST_LOCK)
		explain_lock(path, f, w, buf, n);
	else
		explain_other(path, f, use, w, buf, n);
}

int trust_check(const char *path, enum trust_use use, const struct trust_who *w, char *why, size_t n)
{
	struct trust_finding f;
	int r = trust_walk(path, use, w, &f);
	if (r == -EPERM)
		trust_explain(path, &f, use, w, why, n);
	else if (r < 0)
		snprintf(why, n, "%s: %s", f.path, strerror(-r));
	return r;
}
