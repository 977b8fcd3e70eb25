/* The lock file's path, watched with inotify (watch.h). */
#include "understudy/watch.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

/* The file: gone from the directory (its link count changes: IN_ATTRIB),
 * renamed, or its mode changed. Never IN_MODIFY: the live node writes its
 * heartbeat every interval, and a waiting node must not wake for it. */
#define FILE_EVENTS (IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF)
/* The directory: an entry of the file's name made, removed or renamed
 * (rename over the path is IN_MOVED_TO), or the directory itself gone. */
#define DIR_EVENTS (IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)

int watch_open(struct watch *w, const char *path, int fd)
{
	*w = (struct watch){ .fd = -1, .file_wd = -1, .dir_wd = -1 };
	const char *slash = strrchr(path, '/');
	const char *name = slash ? slash + 1 : path;
	char dir[PATH_MAX], self[64];
	int r = 0;
	if (!*name || strlen(name) >= sizeof(w->name))
		return -EINVAL;
	snprintf(w->name, sizeof(w->name), "%s", name);
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	else if ((size_t)(slash - path) < sizeof(dir))
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	else
		return -ENAMETOOLONG;
	snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
	if ((w->fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK)) < 0)
		return -errno;
	if ((w->file_wd = inotify_add_watch(w->fd, self, FILE_EVENTS)) < 0 ||
	    (w->dir_wd = inotify_add_watch(w->fd, dir, DIR_EVENTS)) < 0) {
		r = -errno;
		goto out;
	}
	return 0;
out:
	watch_close(w);
	return r;
}

/* Whether the events read into buf (n bytes) may mean the path names
 * another file now. */
static bool watch_changed(const struct watch *w, size_t n)
{
	for (size_t at = 0; at + sizeof(struct inotify_event) <= n;) {
		const struct inotify_event *e = (const void *)(w->buf + at);
		at += sizeof(*e) + e->len;
		/* Events lost, a watch gone, anything on the file itself, or
		 * the directory moved or removed: the path may name another
		 * file (or none). */
		if (e->mask & (IN_Q_OVERFLOW | IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF) || e->wd == w->file_wd)
			return true;
		/* Another entry of the directory: another group's file, say. */
		if (e->wd == w->dir_wd && e->len && strncmp(e->name, w->name, e->len) == 0)
			return true;
	}
	return false;
}

int watch_read(struct watch *w)
{
	bool changed = false;
	for (;;) {
		ssize_t n = read(w->fd, w->buf, sizeof(w->buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return changed;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		changed = changed || watch_changed(w, (size_t)n);
	}
}

int watch_writes(int fd)
{
	char self[64];
	snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
	int in = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (in < 0)
		return -errno;
	if (inotify_add_watch(in, self, IN_MODIFY) < 0) {
		int r = -errno;
		close(in);
		return r;
	}
	return in;
}

bool watch_drain(int in)
{
	_Alignas(8) unsigned char buf[1024];
	bool any = false;
	ssize_t n;
	while ((n = read(in, buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR))
		any = any || n > 0;
	return any;
}

void watch_close(struct watch *w)
{
	if (w->fd >= 0)
		close(w->fd); /* the watches go with it */
	w->fd = w->file_wd = w->dir_wd = -1;
}
