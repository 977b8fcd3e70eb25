/* A file system that stops answering on request: the tests' stand-in for
 * an NFS hard mount or a FUSE server that hangs, without either. It speaks
 * the kernel's FUSE protocol on /dev/fuse itself (no library), serves a
 * flat directory of copies of real files (read-only, or writable in memory
 * for a spec rw:NAME=FILE: a lock file, whose locks the kernel keeps, as
 * FUSE does for a server that does not take them), and on SIGUSR1 stops
 * reading requests until SIGUSR2: every lookup, open or read under the
 * mount then waits in the kernel, interruptibly and killably, as a process
 * on a hung NFS hard mount does. Entries and attributes are never cached,
 * so each path lookup reaches the server: an exec of a file served here
 * hangs from the first SIGUSR1 on.
 *
 *   hangfs MOUNTPOINT [rw:]NAME=FILE...
 *
 * On SIGWINCH it goes on reading requests but answers none of them until
 * SIGUSR2 (those it read meanwhile stay unanswered): a call then waits
 * with its request sent, as on a server that took a request and never
 * answered, and a signal to the caller makes the kernel send an interrupt,
 * which it logs ("hangfs: interrupt"): the tests' check that no understudy
 * process sends one (GlusterFS's client can deadlock on them).
 *
 * On SIGURG it leaves reads and writes unanswered (until SIGUSR2) and
 * answers the rest: a server whose data path hangs while a process that
 * dies can still close its files, as GlusterFS's client lets one once its
 * ping timeout fails what was pending.
 *
 * Mounts, then answers until SIGTERM (or the tests' SIGKILL: the kernel
 * then fails what is pending, with ENOTCONN), and unmounts on the way out. */
#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_FILES 8
#define BUF_SIZE (1 << 20)

struct file {
	char name[64];
	char *data;
	size_t size;
	mode_t mode;
	bool writable;
};

static struct file files[MAX_FILES];
static int nfiles;
static int fuse_fd = -1;
static volatile sig_atomic_t hung, mute, data_mute, leaving;

static void on_signal(int sig)
{
	if (sig == SIGUSR1)
		hung = 1;
	else if (sig == SIGWINCH)
		mute = 1;
	else if (sig == SIGURG)
		data_mute = 1;
	else if (sig == SIGUSR2)
		hung = mute = data_mute = 0;
	else
		leaving = 1;
}

static int load(const char *spec)
{
	bool rw = !strncmp(spec, "rw:", 3);
	if (rw)
		spec += 3;
	const char *eq = strchr(spec, '=');
	if (!eq || eq == spec || (size_t)(eq - spec) >= sizeof(files[0].name) || nfiles == MAX_FILES)
		return -1;
	struct file *f = &files[nfiles];
	snprintf(f->name, sizeof(f->name), "%.*s", (int)(eq - spec), spec);
	int fd = open(eq + 1, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || !(f->data = malloc((size_t)st.st_size + 1)))
		return -1;
	size_t got = 0;
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, f->data + got, (size_t)st.st_size - got);
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	close(fd);
	f->size = got;
	f->mode = rw ? S_IFREG | 0600 : S_IFREG | 0755;
	f->writable = rw;
	nfiles++;
	return 0;
}

static void reply(uint64_t unique, int error, const void *data, size_t len)
{
	struct fuse_out_header h = { .len = (uint32_t)(sizeof(h) + len), .error = error, .unique = unique };
	char buf[sizeof(h) + 4096 * 16 + 512];
	if (len > sizeof(buf) - sizeof(h))
		len = sizeof(buf) - sizeof(h), h.len = (uint32_t)(sizeof(h) + len);
	memcpy(buf, &h, sizeof(h));
	if (len)
		memcpy(buf + sizeof(h), data, len);
	if (write(fuse_fd, buf, h.len) < 0 && errno != ENOENT) /* ENOENT: the request was interrupted */
		perror("hangfs: reply");
}

/* Node ids: 1 the root, 2 + i the file i. */
static void attr_of(uint64_t node, struct fuse_attr *a)
{
	memset(a, 0, sizeof(*a));
	a->ino = node;
	a->nlink = 1;
	a->blksize = 4096;
	if (node == FUSE_ROOT_ID) {
		a->mode = S_IFDIR | 0755;
		a->nlink = 2;
		return;
	}
	const struct file *f = &files[node - 2];
	a->mode = f->mode;
	a->size = f->size;
	a->blocks = (f->size + 511) / 512;
}

static void serve(const char *req)
{
	const struct fuse_in_header *in = (const void *)req;
	const char *arg = req + sizeof(*in);
	switch (in->opcode) {
	case FUSE_INIT: {
		const struct fuse_init_in *ii = (const void *)arg;
		struct fuse_init_out o = { .major = FUSE_KERNEL_VERSION,
					   .minor = ii->minor < FUSE_KERNEL_MINOR_VERSION ? ii->minor
											  : FUSE_KERNEL_MINOR_VERSION,
					   .max_readahead = ii->max_readahead,
					   .max_background = 16,
					   .congestion_threshold = 12,
					   .max_write = 4096,
					   .time_gran = 1 };
		reply(in->unique, 0, &o, sizeof(o));
		return;
	}
	case FUSE_LOOKUP:
		for (int i = 0; i < nfiles; i++)
			if (in->nodeid == FUSE_ROOT_ID && !strcmp(arg, files[i].name)) {
				/* No caching at all: the next lookup asks again. */
				struct fuse_entry_out e = { .nodeid = (uint64_t)i + 2 };
				attr_of(e.nodeid, &e.attr);
				reply(in->unique, 0, &e, sizeof(e));
				return;
			}
		reply(in->unique, -ENOENT, NULL, 0);
		return;
	case FUSE_GETATTR: {
		struct fuse_attr_out o = { 0 };
		attr_of(in->nodeid, &o.attr);
		reply(in->unique, 0, &o, sizeof(o));
		return;
	}
	case FUSE_OPEN:
	case FUSE_OPENDIR: {
		/* A writable file is read past the page cache, as on a mount
		 * with direct I/O: every read reaches the server, and hangs. */
		struct fuse_open_out o = { 0 };
		if (in->opcode == FUSE_OPEN && in->nodeid >= 2 && files[in->nodeid - 2].writable)
			o.open_flags = FOPEN_DIRECT_IO;
		reply(in->unique, 0, &o, sizeof(o));
		return;
	}
	case FUSE_WRITE: {
		const struct fuse_write_in *w = (const void *)arg;
		struct file *f = in->nodeid >= 2 ? &files[in->nodeid - 2] : NULL;
		if (!f || !f->writable) {
			reply(in->unique, -EROFS, NULL, 0);
			return;
		}
		size_t end = (size_t)w->offset + w->size;
		if (end > f->size) {
			char *d = realloc(f->data, end);
			if (!d) {
				reply(in->unique, -ENOSPC, NULL, 0);
				return;
			}
			memset(d + f->size, 0, end - f->size);
			f->data = d, f->size = end;
		}
		memcpy(f->data + w->offset, arg + sizeof(*w), w->size);
		struct fuse_write_out o = { .size = w->size };
		reply(in->unique, 0, &o, sizeof(o));
		return;
	}
	case FUSE_SETATTR: {
		/* Only a truncation, of a writable file. */
		const struct fuse_setattr_in *sa = (const void *)arg;
		struct file *f = in->nodeid >= 2 ? &files[in->nodeid - 2] : NULL;
		if ((sa->valid & FATTR_SIZE) && f && f->writable) {
			char *d = realloc(f->data, sa->size + 1);
			if (!d) {
				reply(in->unique, -ENOSPC, NULL, 0);
				return;
			}
			if (sa->size > f->size)
				memset(d + f->size, 0, sa->size - f->size);
			f->data = d, f->size = sa->size;
		} else if (sa->valid & FATTR_SIZE) {
			reply(in->unique, -EROFS, NULL, 0);
			return;
		}
		struct fuse_attr_out o = { 0 };
		attr_of(in->nodeid, &o.attr);
		reply(in->unique, 0, &o, sizeof(o));
		return;
	}
	case FUSE_FSYNC: reply(in->unique, 0, NULL, 0); return;
	case FUSE_READ: {
		const struct fuse_read_in *r = (const void *)arg;
		const struct file *f = in->nodeid >= 2 ? &files[in->nodeid - 2] : NULL;
		size_t off = f && r->offset < f->size ? (size_t)r->offset : 0;
		size_t n = f && r->offset < f->size ? f->size - off : 0;
		if (n > r->size)
			n = r->size;
		reply(in->unique, 0, f ? f->data + off : NULL, n);
		return;
	}
	case FUSE_READDIR: reply(in->unique, 0, NULL, 0); return;
	case FUSE_STATFS: {
		struct fuse_statfs_out o = { .st = { .bsize = 4096, .namelen = 255, .frsize = 4096 } };
		reply(in->unique, 0, &o, sizeof(o));
		return;
	}
	case FUSE_GETXATTR:
	case FUSE_LISTXATTR: reply(in->unique, -ENODATA, NULL, 0); return;
	case FUSE_RELEASE:
	case FUSE_RELEASEDIR:
	case FUSE_FLUSH:
	case FUSE_ACCESS:
	case FUSE_DESTROY: reply(in->unique, 0, NULL, 0); return;
	case FUSE_FORGET:
	case FUSE_BATCH_FORGET: return; /* no reply is expected */
	case FUSE_INTERRUPT: fprintf(stderr, "hangfs: interrupt\n"); return;
	default: reply(in->unique, -ENOSYS, NULL, 0); return;
	}
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: hangfs MOUNTPOINT NAME=FILE...\n");
		return 64;
	}
	for (int i = 2; i < argc; i++)
		if (load(argv[i]) < 0) {
			fprintf(stderr, "hangfs: %s: cannot serve it\n", argv[i]);
			return 66;
		}
	struct sigaction sa = { .sa_handler = on_signal }; /* no SA_RESTART: a signal ends the read */
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGUSR2, &sa, NULL);
	sigaction(SIGWINCH, &sa, NULL);
	sigaction(SIGURG, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	fuse_fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (fuse_fd < 0) {
		perror("hangfs: /dev/fuse");
		return 69;
	}
	char opts[256];
	snprintf(opts, sizeof(opts), "fd=%d,rootmode=40755,user_id=0,group_id=0,default_permissions,allow_other",
		 fuse_fd);
	if (mount("hangfs", argv[1], "fuse.hangfs", MS_NOSUID | MS_NODEV, opts) < 0) {
		perror("hangfs: mount");
		return 69;
	}
	static char buf[BUF_SIZE];
	while (!leaving) {
		if (hung) {
			/* Not reading: what waits under the mount stays waiting. */
			pause();
			continue;
		}
		ssize_t n = read(fuse_fd, buf, sizeof(buf));
		if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == ENOENT))
			continue;
		if (n < 0) {
			if (errno != ENODEV) /* unmounted */
				perror("hangfs: read");
			break;
		}
		if ((size_t)n < sizeof(struct fuse_in_header))
			continue;
		const struct fuse_in_header *in = (const void *)buf;
		/* Muted: taken, never answered; an interrupt is still seen. */
		if (mute && in->opcode != FUSE_INTERRUPT)
			continue;
		if (data_mute && (in->opcode == FUSE_READ || in->opcode == FUSE_WRITE))
			continue;
		serve(buf);
	}
	umount2(argv[1], MNT_DETACH);
	return 0;
}
