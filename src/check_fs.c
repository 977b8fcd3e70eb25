/* check-storage: the file system and its mount. */
#include "understudy/check_fs.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/vfs.h>

#include "understudy/timeline.h"

/* The mount holding dir, from /proc/self/mountinfo: its type as mount(8)
 * names it (nfs4, fuse.glusterfs) and its options. 0 or -ENOENT. */
static int mount_of(const char *dir, char *type, size_t ntype, char *mopts, size_t nopts)
{
	struct stat st;
	if (CHECK_CALL(dir, "looking at the directory (stat)", stat(dir, &st)) < 0)
		return -errno;
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return -errno;
	char line[4096];
	int r = -ENOENT;
	while (r < 0 && fgets(line, sizeof(line), f)) {
		unsigned maj, min;
		char opts[1024], fstype[256], source[1024], super[2048];
		char *sep = strstr(line, " - ");
		if (!sep || sscanf(line, "%*d %*d %u:%u %*s %*s %1023s", &maj, &min, opts) != 3 ||
		    sscanf(sep + 3, "%255s %1023s %2047s", fstype, source, super) != 3)
			continue;
		if (makedev(maj, min) != st.st_dev)
			continue;
		snprintf(type, ntype, "%s", fstype);
		snprintf(mopts, nopts, "%s,%s", opts, super);
		r = 0;
	}
	fclose(f);
	return r;
}

/* The value of key= in a comma-separated option list, or NULL. */
static const char *mount_opt(const char *opts, const char *key, char *buf, size_t n)
{
	size_t k = strlen(key);
	for (const char *p = opts; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL) {
		if (strncmp(p, key, k) == 0 && p[k] == '=') {
			size_t len = strcspn(p + k + 1, ",");
			snprintf(buf, n, "%.*s", (int)len, p + k + 1);
			return buf;
		}
	}
	return NULL;
}

/* FUSE caches file contents in the page cache unless the mount asks for
 * direct I/O, and a reader that keeps the file open then never sees
 * another host's writes: FUSE does not revalidate on a lock as NFS does.
 * understudy itself drops the file's cached pages at the start of every
 * locked section off a local file system (lockfile.c), so its own reads
 * go to the storage: a warning, for the other programs that read the
 * file. The --peer write check shows whether the drop suffices here (it
 * did on ceph-fuse and GlusterFS). */
static void fuse_cache(const char *type, struct lockfile *a)
{
	const char *fix = strcmp(type, "fuse.ceph-fuse") == 0   ? "ceph-fuse: fuse_disable_pagecache = true"
			  : strcmp(type, "fuse.glusterfs") == 0 ? "GlusterFS: direct-io-mode=enable"
								: "GlusterFS: direct-io-mode=enable, ceph-fuse: "
								  "fuse_disable_pagecache = true";
	int r = CHECK_CALL(a->path, "reading the file to see whether the page cache keeps it", lockfile_page_cached(a));
	if (r == 1)
		check_report("WARN",
			     "FUSE without direct I/O: this host's page cache keeps the lock file. understudy drops "
			     "its cached pages before each read under the lock (--peer shows whether another host's "
			     "writes are then seen); other programs that read the file may see them late. Mount with "
			     "direct I/O (%s)",
			     fix);
	else if (r == 0)
		check_report("PASS",
			     "FUSE with direct I/O: reads of the lock file go to the file system, not the page cache");
	else
		check_report("WARN", "FUSE: cannot tell whether the page cache keeps the file (%s); run with --peer",
			     strerror(-r));
}

void check_fs_run(const struct check_opts *o, struct lockfile *a)
{
	check_step("the file system");
	struct statfs sf;
	if (CHECK_CALL(a->path, "asking the file system its type (statfs)", fstatfs(a->fd, &sf)) < 0) {
		check_report("FAIL", "file system: statfs: %s", strerror(errno));
		return;
	}
	char type[256] = "", mopts[3200] = "", val[64];
	const char *name = lockfile_fs_name((long)sf.f_type);
	if (mount_of(o->dir, type, sizeof(type), mopts, sizeof(mopts)) < 0) {
		snprintf(type, sizeof(type), "%s", name ? name : "unknown");
		mopts[0] = '\0';
	}
	bool local = lockfile_fs_is_local((long)sf.f_type);
	struct timeline_settings ts;
	struct timeline t;
	timeline_defaults(&ts);
	timeline_derive(&ts, &t);
	int64_t delay = timeline_takeover_delay(&t, false);
	if (local)
		check_report("INFO",
			     "file system: %s (local, statfs type 0x%lx): takeover-delay auto = 0, a backup starts as "
			     "soon as it holds the live lock",
			     type, (unsigned long)sf.f_type);
	else
		check_report("INFO",
			     "file system: %s (networked, statfs type 0x%lx): takeover-delay auto = fence-timeout + 2 "
			     "heartbeats = %lld s with the defaults",
			     type, (unsigned long)sf.f_type, (long long)(delay / 1000));
	/* What doc/fencing.md asks of each networked kind, where the mount
	 * options show it. */
	if (sf.f_type == LF_FS_NFS) {
		const char *ll = mount_opt(mopts, "local_lock", val, sizeof(val));
		if (ll && strcmp(ll, "none") != 0)
			check_report("FAIL",
				     "NFS mounted with local_lock=%s: locks stay on this host, other hosts never see "
				     "them",
				     ll);
		const char *vers = mount_opt(mopts, "vers", val, sizeof(val));
		if (vers && vers[0] < '4')
			check_report("WARN",
				     "NFS version %s: locks go through NLM without leases; mount version 4 "
				     "(doc/fencing.md)",
				     vers);
	} else if (sf.f_type == LF_FS_FUSE) {
		fuse_cache(type, a);
	}
	/* Where CephFS gives a cut-off host's locks away, which no check can
	 * measure from here (doc/fencing.md has the figures). */
	if (sf.f_type == LF_FS_CEPH || strcmp(type, "fuse.ceph-fuse") == 0)
		check_report("INFO",
			     "CephFS: a host cut off from the MDS keeps its locks until the MDS evicts it "
			     "(about session_autoclose after the cut, default 300 s; at once with `ceph tell mds.* "
			     "client evict`); its mount then fails with ESHUTDOWN until it is mounted again");
}
