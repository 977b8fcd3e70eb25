/* Unit suite "trust": who a path lets change what the manager relies on.
 *
 * The judging functions on stat buffers made up here (every rule, each
 * way), then the walk on real directories, links and files of other
 * users (nobody, uid 65534: chown needs root; those tests skip without). */
#include "helpers.h"

#include <understudy/trust.h>

#include <criterion/criterion.h>
#include <stdint.h>
#include <sys/xattr.h>
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ME 1000
#define MYGROUP 1000
#define OTHER 2000
#define OTHERGROUP 2000
#define NOBODY 65534

static char *g_dir;

static void setup(void)
{
	g_dir = th_tmpdir();
	cr_assert_eq(chmod(g_dir, 0755), 0);
}

static void teardown(void)
{
	th_rmtree(g_dir);
	free(g_dir);
}

TestSuite(trust, .init = setup, .fini = teardown, .timeout = 60);

/* A manager running as ME:MYGROUP, no lock-owner. */
static const struct trust_who me = { .self = ME, .owner = ME, .group = MYGROUP };

static struct stat st_of(uid_t uid, gid_t gid, mode_t mode)
{
	struct stat st;
	memset(&st, 0, sizeof(st));
	st.st_uid = uid;
	st.st_gid = gid;
	st.st_mode = mode;
	return st;
}

/* --- the file ---------------------------------------------------------------- */

Test(trust, file_owner_must_be_root_or_ours)
{
	for (int u = TRUST_LOCK; u <= TRUST_CONFIG; u++) {
		struct stat mine = st_of(ME, MYGROUP, S_IFREG | 0600), root = st_of(0, 0, S_IFREG | 0600),
			    other = st_of(OTHER, MYGROUP, S_IFREG | 0600);
		cr_expect_eq(trust_judge_file(&mine, u, &me), TRUST_OK, "use %d: our own file", u);
		cr_expect_eq(trust_judge_file(&root, u, &me), TRUST_OK, "use %d: root's file", u);
		cr_expect_eq(trust_judge_file(&other, u, &me), TRUST_FILE_OWNER, "use %d: another user's file", u);
	}
}

/* lock-owner adds one user, for the lock file only: a hook of that user
 * is still refused. */
Test(trust, lock_owner_trusted_for_the_lock_file_only)
{
	struct trust_who w = me;
	w.owner = NOBODY;
	w.group = NOBODY;
	w.owner_given = true;
	struct stat squashed = st_of(NOBODY, NOBODY, S_IFREG | 0660);
	cr_expect_eq(trust_judge_file(&squashed, TRUST_LOCK, &w), TRUST_OK);
	cr_expect_eq(trust_judge_file(&squashed, TRUST_PROGRAM, &w), TRUST_FILE_OWNER);
	cr_expect_eq(trust_judge_file(&squashed, TRUST_CONFIG, &w), TRUST_FILE_OWNER);
}

/* A lock file: no access for others at all, since a read lock stops the
 * group; group access (read or write) only for the designated group. */
Test(trust, lock_file_modes)
{
	static const struct {
		gid_t gid;
		mode_t mode;
		enum trust_verdict want;
	} cases[] = {
		{ MYGROUP, 0600, TRUST_OK },
		{ MYGROUP, 0660, TRUST_OK },
		{ MYGROUP, 0640, TRUST_OK },
		{ MYGROUP, 0664, TRUST_FILE_OTHERS },
		{ MYGROUP, 0604, TRUST_FILE_OTHERS },
		{ MYGROUP, 0602, TRUST_FILE_OTHERS },
		{ MYGROUP, 0666, TRUST_FILE_OTHERS },
		{ MYGROUP, 0661, TRUST_OK }, /* execute means nothing here */
		{ OTHERGROUP, 0600, TRUST_OK },
		{ OTHERGROUP, 0610, TRUST_OK },
		{ OTHERGROUP, 0640, TRUST_FILE_GROUP },
		{ OTHERGROUP, 0620, TRUST_FILE_GROUP },
		{ OTHERGROUP, 0660, TRUST_FILE_GROUP },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct stat st = st_of(ME, cases[i].gid, S_IFREG | cases[i].mode);
		cr_expect_eq(trust_judge_file(&st, TRUST_LOCK, &me), cases[i].want, "gid %u mode %04o: %d, want %d",
			     (unsigned)cases[i].gid, (unsigned)cases[i].mode, trust_judge_file(&st, TRUST_LOCK, &me),
			     cases[i].want);
	}
}

/* Programs and configuration files: nobody else may write, whatever the
 * group; reading is no danger. */
Test(trust, program_and_config_modes)
{
	static const struct {
		mode_t mode;
		enum trust_verdict want;
	} cases[] = {
		{ 0755, TRUST_OK },         { 0700, TRUST_OK },          { 0644, TRUST_OK },
		{ 0775, TRUST_FILE_GROUP }, { 0757, TRUST_FILE_OTHERS }, { 0777, TRUST_FILE_OTHERS },
		{ 0620, TRUST_FILE_GROUP },
	};
	for (int u = TRUST_PROGRAM; u <= TRUST_CONFIG; u++)
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			/* Even our own group: its members are not known to us. */
			struct stat st = st_of(0, MYGROUP, S_IFREG | cases[i].mode);
			cr_expect_eq(trust_judge_file(&st, u, &me), cases[i].want, "use %d mode %04o", u,
				     (unsigned)cases[i].mode);
		}
}

/* --- directories -------------------------------------------------------------- */

Test(trust, directory_owner_and_writers)
{
	struct stat entry = st_of(0, 0, S_IFREG | 0600);
	struct stat d = st_of(0, 0, S_IFDIR | 0755);
	cr_expect_eq(trust_judge_dir(&d, &entry, false, TRUST_PROGRAM, &me), TRUST_OK);
	d = st_of(OTHER, 0, S_IFDIR | 0755);
	cr_expect_eq(trust_judge_dir(&d, &entry, false, TRUST_PROGRAM, &me), TRUST_DIR_OWNER);
	d = st_of(0, 0, S_IFDIR | 0757);
	cr_expect_eq(trust_judge_dir(&d, &entry, false, TRUST_CONFIG, &me), TRUST_DIR_WRITABLE);
	d = st_of(0, MYGROUP, S_IFDIR | 0775);
	cr_expect_eq(trust_judge_dir(&d, &entry, false, TRUST_PROGRAM, &me), TRUST_DIR_WRITABLE,
		     "a hook's directory writable by a group");
	/* The lock file's directory may be its designated group's. */
	cr_expect_eq(trust_judge_dir(&d, &entry, true, TRUST_LOCK, &me), TRUST_OK);
	d = st_of(0, OTHERGROUP, S_IFDIR | 0775);
	cr_expect_eq(trust_judge_dir(&d, &entry, true, TRUST_LOCK, &me), TRUST_DIR_WRITABLE);
	cr_expect_eq(trust_judge_dir(&d, NULL, true, TRUST_LOCK, &me), TRUST_DIR_WRITABLE, "missing lock file");
}

/* Sticky (/tmp): others cannot replace an entry they do not own. Enough
 * for a directory on the way and for a hook, not for the lock file's own
 * directory, where its name can be taken before the first node. */
Test(trust, sticky_directories)
{
	struct stat tmp = st_of(0, 0, S_IFDIR | 01777);
	struct stat ours = st_of(ME, MYGROUP, S_IFDIR | 0700), theirs = st_of(OTHER, OTHERGROUP, S_IFDIR | 0700);
	struct stat hook = st_of(0, 0, S_IFREG | 0755), lock = st_of(ME, MYGROUP, S_IFREG | 0600);
	for (int u = TRUST_LOCK; u <= TRUST_CONFIG; u++) {
		cr_expect_eq(trust_judge_dir(&tmp, &ours, false, u, &me), TRUST_OK, "use %d: our directory in /tmp", u);
		cr_expect_eq(trust_judge_dir(&tmp, &theirs, false, u, &me), TRUST_DIR_WRITABLE,
			     "use %d: another user's directory in /tmp", u);
	}
	cr_expect_eq(trust_judge_dir(&tmp, &hook, true, TRUST_PROGRAM, &me), TRUST_OK);
	cr_expect_eq(trust_judge_dir(&tmp, &lock, true, TRUST_LOCK, &me), TRUST_DIR_CREATE);
	cr_expect_eq(trust_judge_dir(&tmp, NULL, true, TRUST_LOCK, &me), TRUST_DIR_CREATE);
	/* Not sticky: anyone may rename over anything. */
	struct stat open_dir = st_of(0, 0, S_IFDIR | 0777);
	cr_expect_eq(trust_judge_dir(&open_dir, &ours, false, TRUST_LOCK, &me), TRUST_DIR_WRITABLE);
	cr_expect_eq(trust_judge_dir(&open_dir, &hook, true, TRUST_PROGRAM, &me), TRUST_DIR_WRITABLE);
}

/* --- the walk on real files --------------------------------------------------- */

static bool have_root(void)
{
	if (geteuid() == 0)
		return true;
	cr_skip_test("needs root to give files to another user");
	return false;
}

static char *mkdir_in(const char *parent, const char *name, mode_t mode)
{
	char *p = th_path(parent, name);
	cr_assert_eq(mkdir(p, 0700), 0, "mkdir %s: %s", p, strerror(errno));
	cr_assert_eq(chmod(p, mode), 0);
	return p;
}

static char *file_in(const char *dir, const char *name, mode_t mode)
{
	char *p = th_path(dir, name);
	th_write_file(p, "#!/bin/sh\n", 10);
	cr_assert_eq(chmod(p, mode), 0);
	return p;
}

static struct trust_who self(void)
{
	struct trust_who w;
	trust_who_default(&w);
	return w;
}

Test(trust, walk_accepts_a_good_path_and_a_missing_lock_file)
{
	struct trust_who w = self();
	struct trust_finding f;
	char *hook = file_in(g_dir, "hook", 0755), *lock = th_path(g_dir, "g.lock");
	cr_expect_eq(trust_walk(hook, TRUST_PROGRAM, &w, &f), 0, "%s: verdict %d at %s", hook, f.verdict, f.path);
	cr_expect_eq(trust_walk(lock, TRUST_LOCK, &w, &f), 0, "a lock file yet to be created");
	cr_expect_eq(trust_walk(lock, TRUST_PROGRAM, &w, &f), -ENOENT, "a missing hook");
	cr_expect_str_eq(f.path, lock);
	/* Through /bin, a link on merged-/usr systems, to a program root owns. */
	cr_expect_eq(trust_walk("/bin/sh", TRUST_PROGRAM, &w, &f), 0, "/bin/sh: verdict %d at %s", f.verdict, f.path);
	free(hook), free(lock);
}

Test(trust, walk_refuses_a_directory_others_may_write)
{
	struct trust_who w = self();
	struct trust_finding f;
	char *open_dir = mkdir_in(g_dir, "open", 0777), *lock = th_path(open_dir, "g.lock");
	char *hook = file_in(open_dir, "hook", 0755);
	cr_expect_eq(trust_walk(lock, TRUST_LOCK, &w, &f), -EPERM);
	cr_expect_eq(f.verdict, TRUST_DIR_WRITABLE);
	cr_expect_str_eq(f.path, open_dir);
	cr_expect_eq(f.st.st_mode & 07777, 0777);
	cr_expect_eq(trust_walk(hook, TRUST_PROGRAM, &w, &f), -EPERM);
	cr_expect_eq(f.verdict, TRUST_DIR_WRITABLE);
	/* Deeper down too: every directory above counts. */
	char *inner = mkdir_in(open_dir, "inner", 0755), *deep = file_in(inner, "hook", 0755);
	cr_expect_eq(trust_walk(deep, TRUST_PROGRAM, &w, &f), -EPERM);
	cr_expect_str_eq(f.path, open_dir);
	free(open_dir), free(lock), free(hook), free(inner), free(deep);
}

/* An ACL entry for one user, written as the kernel stores it
 * (system.posix_acl_access and _default share the format): the mode
 * bits then show the ACL's mask, not who may write. -1 where the file
 * system keeps no ACLs. */
static int grant_acl(const char *path, const char *name, uint32_t uid)
{
	struct __attribute__((packed)) {
		uint32_t version;
		struct __attribute__((packed)) {
			uint16_t tag, perm;
			uint32_t id;
		} e[5];
	} acl = { 2,
		  { { 0x01, 6, UINT32_MAX },
		    { 0x02, 6, uid },
		    { 0x04, 6, UINT32_MAX },
		    { 0x10, 6, UINT32_MAX },
		    { 0x20, 0, UINT32_MAX } } };
	return setxattr(path, name, &acl, sizeof(acl), 0);
}

/* A mode that passes, and an ACL that lets another user write: refused,
 * for the lock file (its own ACL, or its directory's default one that a
 * file created there inherits) as for a hook. Found in review: the walk
 * judged the mode bits only. */
Test(trust, walk_refuses_posix_acls)
{
	struct trust_who w = self();
	struct trust_finding f;
	char *dir = mkdir_in(g_dir, "acl", 0750), *lock = file_in(dir, "g.lock", 0600);
	char *hook = file_in(dir, "hook", 0755);
	cr_assert_eq(trust_walk(lock, TRUST_LOCK, &w, &f), 0, "a plain 0600 file was refused");
	if (grant_acl(lock, "system.posix_acl_access", 65534) < 0)
		cr_skip_test("the file system keeps no POSIX ACLs: %s", strerror(errno));
	cr_expect_eq(trust_walk(lock, TRUST_LOCK, &w, &f), -EPERM);
	cr_expect_eq(f.verdict, TRUST_ACL);
	cr_expect_str_eq(f.path, lock);
	char why[2048];
	cr_expect_eq(trust_check(lock, TRUST_LOCK, &w, why, sizeof(why)), -EPERM);
	cr_expect(strstr(why, "carries a POSIX ACL"), "%s", why);
	cr_assert_eq(grant_acl(hook, "system.posix_acl_access", 65534), 0);
	cr_expect_eq(trust_walk(hook, TRUST_PROGRAM, &w, &f), -EPERM);
	cr_expect_eq(f.verdict, TRUST_ACL);
	/* The directory's default ACL: refused for a lock file to be made there. */
	char *dir2 = mkdir_in(g_dir, "acl-default", 0750), *lock2 = th_path(dir2, "g.lock");
	cr_assert_eq(grant_acl(dir2, "system.posix_acl_default", 65534), 0);
	cr_expect_eq(trust_walk(lock2, TRUST_LOCK, &w, &f), -EPERM);
	cr_expect_eq(f.verdict, TRUST_ACL);
	cr_expect_str_eq(f.path, dir2);
	free(dir), free(lock), free(hook), free(dir2), free(lock2);
}

/* A sticky directory like /tmp itself: fine above, not as the lock
 * file's own directory. */
Test(trust, walk_sticky_directory_for_the_lock_file)
{
	struct trust_who w = self();
	struct trust_finding f;
	char *sticky = mkdir_in(g_dir, "sticky", 01777), *lock = th_path(sticky, "g.lock");
	char *mine = mkdir_in(sticky, "mine", 0755), *inner = th_path(mine, "g.lock");
	cr_expect_eq(trust_walk(inner, TRUST_LOCK, &w, &f), 0, "our directory in a sticky one: %d at %s", f.verdict,
		     f.path);
	cr_expect_eq(trust_walk(lock, TRUST_LOCK, &w, &f), -EPERM);
	cr_expect_eq(f.verdict, TRUST_DIR_CREATE);
	char msg[2048];
	trust_explain(lock, &f, TRUST_LOCK, &w, msg, sizeof(msg));
	cr_expect(strstr(msg, lock) && strstr(msg, "mode 1777") &&
			  strstr(msg, "could create the group's lock file before the first node does"),
		  "%s", msg);
	free(sticky), free(lock), free(mine), free(inner);
}

/* A link is followed, and what it leads through is judged: a link in a
 * good directory to a hook in a world-writable one is refused. */
Test(trust, walk_follows_links_and_judges_where_they_lead)
{
	struct trust_who w = self();
	struct trust_finding f;
	char *open_dir = mkdir_in(g_dir, "open", 0777), *hook = file_in(open_dir, "hook", 0755);
	char *link = th_path(g_dir, "link"), *dirlink = th_path(g_dir, "dirlink"), *via = th_path(dirlink, "hook");
	cr_assert_eq(symlink(hook, link), 0);
	cr_assert_eq(symlink("open", dirlink), 0); /* relative */
	cr_expect_eq(trust_walk(link, TRUST_PROGRAM, &w, &f), -EPERM);
	cr_expect_str_eq(f.path, open_dir);
	cr_expect_eq(trust_walk(via, TRUST_PROGRAM, &w, &f), -EPERM);
	cr_expect_str_eq(f.path, open_dir);
	/* The lock file's last component is never followed: lockfile.c
	 * refuses a link, so there is nothing to judge behind it. */
	cr_expect_eq(trust_walk(link, TRUST_LOCK, &w, &f), 0);
	/* A loop ends. */
	char *a = th_path(g_dir, "a"), *b = th_path(g_dir, "b");
	cr_assert_eq(symlink(b, a), 0);
	cr_assert_eq(symlink(a, b), 0);
	cr_expect_eq(trust_walk(a, TRUST_PROGRAM, &w, &f), -ELOOP);
	free(open_dir), free(hook), free(link), free(dirlink), free(via), free(a), free(b);
}

Test(trust, walk_relative_paths_and_dot_dot)
{
	struct trust_who w = self();
	struct trust_finding f;
	char *open_dir = mkdir_in(g_dir, "open", 0777), *good = mkdir_in(g_dir, "good", 0755);
	char *hook = file_in(good, "hook", 0755);
	char cwd[PATH_MAX];
	cr_assert_not_null(getcwd(cwd, sizeof(cwd)));
	cr_assert_eq(chdir(open_dir), 0);
	cr_expect_eq(trust_walk("../good/hook", TRUST_PROGRAM, &w, &f), 0, "%d at %s", f.verdict, f.path);
	cr_expect_eq(trust_walk("hook", TRUST_PROGRAM, &w, &f), -ENOENT);
	cr_expect_eq(trust_walk("x.lock", TRUST_LOCK, &w, &f), -EPERM, "a lock file in a world-writable cwd");
	cr_expect_str_eq(f.path, open_dir);
	cr_assert_eq(chdir(cwd), 0);
	free(open_dir), free(good), free(hook);
}

/* The cases of the issue, on real ownership. */
Test(trust, walk_files_of_another_user)
{
	if (!have_root())
		return;
	struct trust_who w = self();
	struct trust_finding f;
	char *lock = file_in(g_dir, "g.lock", 0600), *hook = file_in(g_dir, "hook", 0755);
	cr_assert_eq(chown(lock, NOBODY, NOBODY), 0);
	cr_assert_eq(chown(hook, NOBODY, 0), 0);
	cr_expect_eq(trust_walk(lock, TRUST_LOCK, &w, &f), -EPERM);
	cr_expect_eq(f.verdict, TRUST_FILE_OWNER);
	cr_expect_eq(f.st.st_uid, NOBODY);
	cr_expect_eq(trust_walk(hook, TRUST_PROGRAM, &w, &f), -EPERM);
	cr_expect_eq(f.verdict, TRUST_FILE_OWNER);
	/* lock-owner names nobody: the file is accepted, the hook is not. */
	char why[512];
	cr_assert_eq(trust_owner_parse("65534:65534", &w, why, sizeof(why)), 0, "%s", why);
	cr_expect_eq(trust_walk(lock, TRUST_LOCK, &w, &f), 0, "%d at %s", f.verdict, f.path);
	cr_expect_eq(trust_walk(hook, TRUST_PROGRAM, &w, &f), -EPERM);
	/* A directory of another user above: it could rename anything. */
	w = self();
	char *theirs = mkdir_in(g_dir, "theirs", 0755), *in = file_in(theirs, "hook", 0755);
	cr_assert_eq(chown(theirs, NOBODY, NOBODY), 0);
	cr_expect_eq(trust_walk(in, TRUST_PROGRAM, &w, &f), -EPERM);
	cr_expect_eq(f.verdict, TRUST_DIR_OWNER);
	cr_expect_str_eq(f.path, theirs);
	free(lock), free(hook), free(theirs), free(in);
}

/* --- messages ------------------------------------------------------------------ */

static void expect_message(const char *path, enum trust_use use, const struct trust_who *w, const char *const *parts)
{
	struct trust_finding f;
	cr_assert_eq(trust_walk(path, use, w, &f), -EPERM, "%s accepted", path);
	char msg[2048];
	trust_explain(path, &f, use, w, msg, sizeof(msg));
	cr_expect(strncmp(msg, path, strlen(path)) == 0 || (msg[0] == '\'' && !strncmp(msg + 1, path, strlen(path))),
		  "the message does not start with the path: %s", msg);
	for (; *parts; parts++)
		cr_expect(strstr(msg, *parts), "'%s' missing from: %s", *parts, msg);
}

Test(trust, messages_name_the_path_owner_mode_and_what_is_wanted)
{
	struct trust_who w = self();
	struct passwd *pw = getpwuid(geteuid());
	struct group *gr = getgrgid(getegid());
	cr_assert(pw && gr);
	char owner[80], want[120];
	snprintf(owner, sizeof(owner), "owner %s, group %s", pw->pw_name, gr->gr_name);
	snprintf(want, sizeof(want), "must be owned by %s", pw->pw_name);
	char *lock = file_in(g_dir, "r.lock", 0644);
	expect_message(lock, TRUST_LOCK, &w,
		       (const char *[]){ "mode 0644", owner, "every user may read the group's lock file",
					 "a read lock is enough to stop the group",
					 "record-lock byte fences the live node", "chmod o-rwx",
					 "refusing it, left untouched", NULL });
	cr_assert_eq(chmod(lock, 0666), 0);
	expect_message(lock, TRUST_LOCK, &w,
		       (const char *[]){ "mode 0666", "every user may write the group's lock file", NULL });
	char *hook = file_in(g_dir, "hook", 0757);
	expect_message(hook, TRUST_PROGRAM, &w,
		       (const char *[]){ "is writable by every user", "mode 0757", "refusing to run it", NULL });
	if (geteuid() == 0) {
		cr_assert_eq(chmod(lock, 0600), 0);
		cr_assert_eq(chown(lock, NOBODY, NOBODY), 0);
		expect_message(lock, TRUST_LOCK, &w,
			       (const char *[]){ "owned by ", "mode 0600", want, "lock-owner = USER[:GROUP]", NULL });
	}
	free(lock), free(hook);
}

Test(trust, owner_parse_and_format)
{
	struct trust_who w = self();
	char why[256], buf[128];
	cr_assert_eq(trust_owner_parse("root", &w, why, sizeof(why)), 0, "%s", why);
	cr_expect(w.owner == 0 && w.group == 0 && w.owner_given);
	trust_owner_format(&w, buf, sizeof(buf));
	cr_expect_str_eq(buf, "root:root");
	cr_assert_eq(trust_owner_parse("0:65534", &w, why, sizeof(why)), 0, "%s", why);
	cr_expect(w.owner == 0 && w.group == 65534);
	cr_expect_eq(trust_owner_parse(":root", &w, why, sizeof(why)), -EINVAL);
	cr_expect_eq(trust_owner_parse("", &w, why, sizeof(why)), -EINVAL);
	cr_expect_eq(trust_owner_parse("root:", &w, why, sizeof(why)), -EINVAL);
	cr_expect_eq(trust_owner_parse("12x", &w, why, sizeof(why)), -EINVAL);
	cr_expect_str_eq(why, "no such user '12x'");
	w.owner = 4000000;
	w.group = 4000001;
	trust_owner_format(&w, buf, sizeof(buf));
	cr_expect_str_eq(buf, "4000000:4000001");
}
