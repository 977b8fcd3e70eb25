/* The shared lock file: its format, its byte-range locks and its records.
 *
 * This layer knows what the bytes mean and how to read and write them so
 * that another host sees them; it makes no decision about who should be
 * live (that is node.h). Every function is a plain synchronous call on one
 * open file description: any of them can block for as long as the storage
 * does, so the caller runs them where a hang cannot freeze its event loop.
 * doc/protocol.md is the specification of everything here. */
#ifndef UNDERSTUDY_LOCKFILE_H
#define UNDERSTUDY_LOCKFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Layout. Bytes 0 to 18 borrow the offsets of the server.lock of HornetQ
 * and of ActiveMQ Artemis up to 2.9 (status, live lock, backup lock, node
 * id); from 2.10 Artemis keeps its locks elsewhere and only the status and
 * id offsets agree. Not a shared format: doc/protocol.md §2. */
enum {
	LF_OFF_STATUS = 0,       /* status byte, N L P F */
	LF_OFF_LIVE_LOCK = 1,    /* held by the live node, never written */
	LF_OFF_BACKUP_LOCK = 2,  /* held by the next backup, never written */
	LF_OFF_NODE_ID = 3,      /* 16 bytes: id of the current live */
	LF_OFF_RECORD_LOCK = 19, /* guards every read and write of records */
	LF_OFF_HEADER = 32,
	LF_OFF_LIVE = 64,
	LF_OFF_REQUEST = 256,
	LF_OFF_SLOT_LOCKS = 448, /* one lock byte per slot */
	LF_OFF_SLOTS = 512,
	LF_HEADER_SIZE = 32,
	LF_LIVE_SIZE = 192,
	LF_REQUEST_SIZE = 192,
	LF_SLOT_SIZE = 128,
	LF_SLOTS = 64,
	LF_SIZE = LF_OFF_SLOTS + LF_SLOTS * LF_SLOT_SIZE, /* 8704: the records, what the header's size says */
	/* Format 1.3: the group's history, a ring of entries after the
	 * records, where nodes of 1.0 to 1.2 never read or write. */
	LF_OFF_HISTORY = LF_SIZE,
	LF_EVENT_SIZE = 192,
	LF_EVENTS = 48,
	LF_FILE_SIZE = LF_OFF_HISTORY + LF_EVENTS * LF_EVENT_SIZE, /* 17920: what a 1.3 node formats */
};

#define LF_MAGIC "UNDRSTDY"
#define LF_VERSION_MAJOR 1
#define LF_VERSION_MINOR                                                                                               \
	3 /* 1.1: slot flags (byte 18); 1.2: the file's identity in the live record, the slot's epoch;                 \
	   * 1.3: the history after byte 8703 */
#define LF_ID_SIZE 16
#define LF_NAME_MAX 63 /* bytes, without the terminating NUL */
#define LF_ADDR_MAX 63

enum lf_status {
	LF_NEW = 'N',
	LF_LIVE = 'L',
	LF_PAUSED = 'P',
	LF_FAILBACK = 'F',
};

enum lf_lock { LF_LOCK_LIVE, LF_LOCK_BACKUP };

enum lf_role { LF_ROLE_NONE = 0, LF_ROLE_PRIMARY = 1, LF_ROLE_BACKUP = 2 };

/* What a node tells the group it is doing; kept in its slot. */
enum lf_slot_state {
	LF_SLOT_JOINING = 1,
	LF_SLOT_QUEUED = 2,   /* waiting for the backup lock */
	LF_SLOT_WAITING = 3,  /* holds the backup lock or asked for failback */
	LF_SLOT_LIVE = 4,     /* holds the live lock and runs the workload */
	LF_SLOT_STOPPING = 5, /* holds the live lock, workload stopping */
};

/* Slot flags (format 1.1; a 1.0 node writes 0 and ignores them). */
enum {
	/* With LF_SLOT_LIVE: the workload started but is not ready yet. A
	 * 1.0 node never sets it, so its live nodes read as ready, as they
	 * were. */
	LF_SLOT_F_STARTING = 1,
};

enum lf_request_kind { LF_REQ_FAILBACK = 1, LF_REQ_SWITCHOVER = 2 };
#define LF_TARGET_ANY (-1)

/* How a record read back: never written, good, or not to be trusted. */
enum lf_rec { LF_REC_EMPTY = 0, LF_REC_OK = 1, LF_REC_BAD = 2 };

/* Damage to a file that was ours when it was opened, as a read found it
 * (lf_view.damage). Records have their own BAD; these are the rest. */
enum {
	LF_DMG_SHORT = 1,   /* shorter than the format: the missing bytes read as zero */
	LF_DMG_HEADER = 2,  /* the header's magic or checksum is wrong */
	LF_DMG_FOREIGN = 4, /* a sound header of another major or layout: not ours any more */
};

/* What lockfile_repair wrote, for the log. */
enum {
	LF_FIX_LENGTH = 1,  /* the file was extended to the format's length with zeros */
	LF_FIX_HEADER = 2,  /* the header was written afresh */
	LF_FIX_LIVE = 4,    /* the live record (it read BAD or EMPTY) */
	LF_FIX_NODE_ID = 8, /* bytes 3-18 */
	LF_FIX_SLOT = 16,   /* our slot record */
	LF_FIX_STATUS = 32, /* the status byte, neither L nor F: written L */
};

/* Epochs stay below 2^63. A record with a larger one still reads OK, as
 * it does for older nodes, but its epoch is no guide to the next. */
#define LF_EPOCH_MAX ((uint64_t)INT64_MAX)

struct lf_live {
	uint64_t epoch;     /* +1 each time a node becomes live */
	uint64_t heartbeat; /* advanced by the live while healthy */
	uint8_t id[LF_ID_SIZE];
	int32_t slot;
	uint32_t pid;
	uint32_t heartbeat_ms; /* the live's heartbeat interval */
	char name[LF_NAME_MAX + 1];
	char address[LF_ADDR_MAX + 1];
	/* Format 1.2: which file the record was written on, so that a reader
	 * can tell a record written on the file it has open from one copied,
	 * restored or moved in with another file. Stamped by the lockfile
	 * layer from the open it writes through; 0 and 0 in a record of an
	 * older node: unknown. */
	uint64_t file_id;   /* the file's inode number */
	uint32_t path_hash; /* CRC-32C of its path within its file system */
};

struct lf_request {
	uint64_t seq;
	uint8_t kind;        /* enum lf_request_kind */
	int32_t target_slot; /* LF_TARGET_ANY or a slot index */
	uint8_t target_id[LF_ID_SIZE];
	char target_name[LF_NAME_MAX + 1];
	char requester[LF_NAME_MAX + 1];
	uint32_t requester_pid;
};

struct lf_slot {
	uint8_t id[LF_ID_SIZE];
	uint8_t role;  /* enum lf_role */
	uint8_t state; /* enum lf_slot_state */
	uint8_t flags; /* LF_SLOT_F_* */
	uint32_t pid;
	uint64_t seq; /* +1 on every write, so a watcher sees a change */
	char name[LF_NAME_MAX + 1];
	/* 1.2: the epoch of this node's last term as live, 0 if it has not
	 * been live (and in every record a 1.0 or 1.1 node writes). A copy
	 * of the live record's epoch, from which the next live node still
	 * learns the epoch when the live record is unreadable. */
	uint64_t epoch;
	/* 1.2: the node's host (host.h: its machine id), zero where unknown
	 * (older nodes): what tells a check on a host whether a node is that
	 * host's own. */
	uint8_t host[LF_ID_SIZE];
};

/* Why the live role moved, in an entry of the group's history (format
 * 1.3). The node taking the role writes the first group, the node leaving
 * it the second, when it can. A value this build does not know reads OK
 * and is shown as "unknown": a later minor may add reasons. */
enum lf_event_reason {
	LF_EV_NONE = 0,
	/* written by the node that becomes live (writer "to") */
	LF_EV_START = 1,      /* a primary started a new group (status N) */
	LF_EV_RESUME = 2,     /* a primary started a paused group (P) */
	LF_EV_FAILOVER = 3,   /* the live node left L behind: it crashed, was killed or fenced, gave up,
			       * or shut down with --failover-on-shutdown */
	LF_EV_FAILBACK = 4,   /* a failback request (F) */
	LF_EV_SWITCHOVER = 5, /* a switchover request (F) */
	LF_EV_NEW_FILE = 6,   /* the live record was written on another file: one copied, restored
			       * or moved in over the path */
	LF_EV_DAMAGED = 7,    /* the status byte was damaged: a primary started the group */
	/* written by the node that leaves the role (writer "from") */
	LF_EV_PAUSE = 8,      /* shut down: the group paused (P) */
	LF_EV_FINISHED = 9,   /* the workload exited 0: the group paused (P) */
	LF_EV_GIVE_UP = 10,   /* restarts exhausted, or the workload could not start: L left */
	LF_EV_SHUTDOWN = 11,  /* shut down with --failover-on-shutdown: L left */
	LF_EV_HAND_OVER = 12, /* handed over for a failback or switchover request */
	LF_EV_FENCED = 13,    /* fenced (killed its workload), and the storage still took a write */
	LF_EV_LAST = LF_EV_FENCED,
};

/* Who wrote an entry: the node that left the role or the one that took it. */
enum lf_event_writer { LF_EV_BY_FROM = 1, LF_EV_BY_TO = 2 };

/* One entry of the history. The wall-clock time is for people reading
 * the history on some host; no node decides anything by it, and hosts'
 * clocks may disagree (the seq orders the entries). */
struct lf_event {
	uint64_t seq;               /* 1, 2, ...: assigned by the write, in the record lock's hold */
	int64_t time_us;            /* CLOCK_REALTIME of the write, microseconds since 1970 UTC */
	uint64_t epoch;             /* the term that starts (to) or ends (from) */
	uint8_t reason;             /* enum lf_event_reason */
	uint8_t writer;             /* enum lf_event_writer */
	int32_t from_slot, to_slot; /* -1: none or unknown */
	uint32_t pid;               /* the writer's manager pid, on its host */
	char from[LF_NAME_MAX + 1], to[LF_NAME_MAX + 1];
	uint8_t host[LF_ID_SIZE]; /* the writer's machine id (host.h), zero where unknown */
};

/* The readable entries of the history, oldest first. */
struct lf_history {
	int n;   /* entries in ev */
	int bad; /* entries that read BAD (torn, damaged): skipped */
	struct lf_event ev[LF_EVENTS];
};

/* Everything in the file as one read saw it. */
struct lf_view {
	char status;
	uint8_t node_id[LF_ID_SIZE];
	uint16_t major, minor;
	enum lf_rec live_rec, request_rec;
	struct lf_live live;
	struct lf_request request;
	enum lf_rec slot_rec[LF_SLOTS];
	struct lf_slot slots[LF_SLOTS];
	unsigned damage; /* LF_DMG_*: only lockfile_read_any reports a damaged file */
	uint32_t size;   /* bytes the file had, at most LF_SIZE */
};

/* Why a file is refused; each has a message from lockfile_strerror(). */
enum lf_err {
	LF_OK = 0,
	LF_E_SHORT = 1,   /* shorter than the format, not empty */
	LF_E_MAGIC = 2,   /* not an understudy lock file */
	LF_E_VERSION = 3, /* a major version this build does not speak */
	LF_E_HEADER = 4,  /* header checksum failed */
	LF_E_NOTFILE = 5, /* a directory, FIFO, device or symlink */
	LF_E_SYS = 6,     /* a system call failed: see errno_value */
	LF_E_EMPTY = 7,   /* empty, opened to write a request: no node has joined yet */
	LF_E_ARTEMIS = 8, /* an ActiveMQ Artemis shared-store server.lock: see lf->artemis */
};

/* An Artemis server.lock: its status byte, two bytes '0' (never written
 * after its creation), then its 16-byte node id; 3 bytes between the
 * creation and the id's write. */
#define LF_ARTEMIS_SIZE 19

struct lockfile {
	int fd;
	char *path;
	bool readonly;
	enum lf_err err;                  /* why the last lockfile_open failed */
	int errno_value;                  /* with LF_E_SYS */
	unsigned file_type;               /* with LF_E_NOTFILE: its S_IFMT bits, 0 if unknown */
	uint8_t artemis[LF_ARTEMIS_SIZE]; /* with LF_E_ARTEMIS: its bytes */
	size_t artemis_len;
	uint16_t major, minor;
	bool poll; /* not a local file system: lock waits are tries, never blocking */
	/* The open file's identity, as the live records it writes carry it. */
	uint64_t file_id;
	uint32_t path_hash;
	/* Its device and inode: while we hold it open no other file can have
	 * both, so the path names our file exactly when its lstat gives them. */
	dev_t dev;
	ino_t ino;
};

/* How often a wait for the live or backup lock tries again where lock
 * waits do not block (lf->poll). */
#define LF_LOCK_RETRY_MS 100

/* How to open: to look only, to write an existing group's file (a
 * request), or as a node, creating and formatting the file if needed. */
enum lf_open { LF_OPEN_READ = 0, LF_OPEN_CREATE = 1, LF_OPEN_WRITE = 2 };

/* Open the group's file at path. Returns 0, or -1 with lf->err and
 * lf->errno_value saying why; a file that is not ours is left
 * byte-for-byte as it was. */
int lockfile_open(struct lockfile *lf, const char *path, enum lf_open mode);
/* lockfile_open, but a file this open creates is shared (mode 0660) only
 * with group, which it is given when the owner may, and is otherwise
 * private (0600); group (gid_t)-1 makes it private. lockfile_open shares
 * it with whatever group it got (LF_GROUP_ANY). A node creates its file
 * so, to pass its own check of who may write or lock the file. */
#define LF_GROUP_ANY ((gid_t)-2)
int lockfile_open_as(struct lockfile *lf, const char *path, enum lf_open mode, gid_t group);
/* Close the file (also after a failed open): every lock this open held
 * is released with it. */
void lockfile_close(struct lockfile *lf);
/* "PATH: what is wrong" after a failed lockfile_open. */
const char *lockfile_strerror(const struct lockfile *lf, char *buf, size_t n);

/* Take the live or backup lock. wait=false fails at once with -EAGAIN if
 * another open holds it; wait=true blocks until it is free, or returns
 * -EINTR when a signal interrupts the wait (how the caller bounds it). */
int lockfile_lock(struct lockfile *lf, enum lf_lock which, bool wait);
/* lockfile_lock(wait=true) at a pace: where lock waits are tries
 * (lf->poll), the pause after the first try is first_ms, doubled after
 * each until it is max_ms; on a local file system the wait blocks and
 * the pace means nothing. */
int lockfile_lock_paced(struct lockfile *lf, enum lf_lock which, int64_t first_ms, int64_t max_ms);
/* Take the live or backup lock, waiting at most ms: 0, -ETIMEDOUT while
 * another open still holds it, or -errno. A wait of tries, each answered
 * at once, that no signal needs to cut (check-storage times releases
 * with it); the tries come at most 1 ms apart on a local file system,
 * LF_LOCK_RETRY_MS elsewhere. */
int lockfile_lock_within(struct lockfile *lf, enum lf_lock which, int64_t ms);
/* Release the live or backup lock. */
int lockfile_unlock(struct lockfile *lf, enum lf_lock which);
/* Take the record lock shared, as every read does, without waiting (0 or
 * -EAGAIN while a writer holds it), and release it: check-storage's test
 * that two readers do not exclude each other. */
int lockfile_read_lock(struct lockfile *lf);
int lockfile_read_unlock(struct lockfile *lf);
/* Take slot i's lock without waiting: -EAGAIN when a node holds it. */
int lockfile_lock_slot(struct lockfile *lf, int slot);
/* Find a free slot, lock it and return its index; -ENOSPC when full. */
int lockfile_claim_slot(struct lockfile *lf);
/* 1 when another open holds the given byte's lock, 0 when free. The
 * caller's own locks never count: an open does not conflict with itself. */
int lockfile_held(struct lockfile *lf, int offset);
/* The lock byte's offset for slot i. */
static inline int lockfile_slot_lock_offset(int slot) { return LF_OFF_SLOT_LOCKS + slot; }

/* Read the whole file under the record lock. A file damaged since it was
 * opened fails: -ENODATA when it is shorter than the format (or empty),
 * -EBADMSG when its header no longer checks. For the commands, which
 * report and leave. */
int lockfile_read(struct lockfile *lf, struct lf_view *v);
/* The same read for a node, which must see a damaged file to decide
 * about it: returns 0 whatever the bytes, with what is wrong in
 * v->damage (LF_DMG_*) and the records decoded from what is there
 * (missing bytes read as zero, so a lost record reads EMPTY). */
int lockfile_read_any(struct lockfile *lf, struct lf_view *v);
/* lockfile_read_any for the holder of the live lock, its rounds' read. On
 * a local file system it reads without the record lock and keeps what it
 * read when that asks for nothing and every record in it is whole (status
 * L, no damage, no checksum failing), else reads again under the lock:
 * one call a round, not three. Elsewhere it is lockfile_read_any, since
 * only the lock makes another host's writes visible. */
int lockfile_read_held(struct lockfile *lf, struct lf_view *v);
/* Live node only: mend what the holder of the live lock owns, in one
 * locked section that first reads the file as it is now: extend a short
 * file to the format's length with zeros, write the header afresh if its
 * magic or checksum is wrong, write live (and bytes 3-18) if the live
 * record reads BAD or EMPTY, our slot record s if it is not ours, and
 * status L if the status byte is neither L nor F; status last. Nothing
 * else. Returns what it wrote (LF_FIX_*, 0 if nothing was damaged any
 * more); -ESTALE, nothing written, when the live record is another
 * node's good record (the caller has lost the role: fence); -EBADMSG,
 * nothing written, when the header is another format's sound header. */
int lockfile_repair(struct lockfile *lf, const struct lf_live *live, int slot, const struct lf_slot *s);
/* Whether slot's record is the one a node with this id wrote: 1 yes, 0
 * no (BAD, EMPTY or another id), -ENODATA when the file is shorter than
 * the format (the live node mends that first), or -errno. A waiting node
 * asks while it waits, so a record lost to damage is written again. */
int lockfile_slot_is(struct lockfile *lf, int slot, const uint8_t id[LF_ID_SIZE]);
/* Write the status byte. The live node may; a requester writes F only
 * together with its request (lockfile_write_request). Into a file that
 * has become shorter than the format it writes nothing and returns 1:
 * only lockfile_repair makes a damaged file longer. */
int lockfile_write_status(struct lockfile *lf, char status);
/* Live node only: write the live record, the Artemis node id and, unless
 * status is 0 (a heartbeat, which must not overwrite a pending F), the
 * status byte, in one locked write. Every live record written here, by
 * lockfile_take_live and by lockfile_heartbeat carries this open's
 * file_id and path_hash, whatever live says. */
int lockfile_write_live(struct lockfile *lf, char status, const struct lf_live *live);
/* A node taking the role: the live record, the node id and L, in one
 * locked section; but when the status is F for a request other than
 * decided_seq (the one the decision saw, or -1), one that came after the
 * decision, F stays for the new live node to act on. With ev (format
 * 1.3), then the entry of the group's history saying so, in the same
 * hold, as lockfile_add_event writes one; *ev_res says how that went (0,
 * 1 not written, -errno) and never fails the call. Returns 1 when F
 * stayed, 0, or -errno. */
int lockfile_take_live(struct lockfile *lf, const struct lf_live *live, int64_t decided_seq, struct lf_event *ev,
		       int *ev_res);
/* Add an entry to the group's history (format 1.3), in one locked
 * section that reads the ring first: the entry goes after the newest
 * readable one, its seq one higher (set in ev), its time now (set in ev);
 * a BAD entry in its place is overwritten. With to_target (a hand-over),
 * the to-node is first taken, in the same hold, from the request the file
 * holds, if the status is F and the request reads OK and names a slot.
 * Nothing is written, and 1 returned, into a file shorter than the format
 * or whose header no longer checks: the history never lengthens a damaged
 * file nor writes into another program's. The history is news, not
 * state: a node whose write of it fails goes on as if it had succeeded. */
int lockfile_add_event(struct lockfile *lf, struct lf_event *ev, bool to_target);
/* The history as it is now, read under the record lock, oldest first.
 * -ENODATA for a file shorter than the format, -EBADMSG when its header no
 * longer checks, as lockfile_read. A file of an older format, or one
 * whose history region is short or missing, has fewer entries: missing
 * bytes read as never written. */
int lockfile_read_history(struct lockfile *lf, struct lf_history *h);
/* Live node only: advance the heartbeat. Read the live record and write
 * live over it only if it still holds our id and epoch: a live cut off
 * from the storage, whose lock the server gave away, never overwrites the
 * new live's record. 0, or -ESTALE when the record is another's (the
 * caller has lost the live role: fence). With v, the whole file is read,
 * and v is the file as the write leaves it, as lockfile_read_any sees one
 * (on 0 and on -ESTALE). Off a local file system all of it is one locked
 * section (a round costs one lock and one unlock, not two); on one, no
 * record lock at all (a read and a write), and v is read again under the
 * lock when what was read is not settled (lockfile_read_held). */
int lockfile_heartbeat(struct lockfile *lf, const struct lf_live *live, struct lf_view *v);
/* Whether the path still names the file this open holds: 1 yes; 0 when
 * it was deleted, renamed away or replaced by another file (lstat of the
 * path against the device and inode the open found); -errno when the
 * path cannot be looked at. A node whose path names
 * another file is on a file new nodes will never find. */
int lockfile_still_at_path(struct lockfile *lf);
/* Whether a live record was written through an open of this very file at
 * this path (its file_id and path_hash are this open's): false for a
 * record copied, restored or moved in with another file, and for one of
 * an older node, which carries no identity. */
bool lockfile_live_here(const struct lockfile *lf, const struct lf_live *live);
/* Whether the file system holding the open file is local to this host
 * (one kernel sees every lock), from statfs: 1 local, 0 networked or
 * unknown (FUSE counts as networked: GlusterFS and CephFS mount through
 * it), -errno if statfs fails. */
int lockfile_is_local(struct lockfile *lf);
/* Whether this host's page cache holds the file's contents after a read:
 * 1 yes, 0 no (reads go to the file system, as on a FUSE mount with
 * direct I/O), -errno. On FUSE, 1 means another host's writes are never
 * seen by a process that keeps the file open; the caller decides. */
int lockfile_page_cached(struct lockfile *lf);
/* The same for a statfs f_type, for the tests. */
bool lockfile_fs_is_local(long f_type);
/* The statfs types the code decides on. */
#define LF_FS_NFS 0x6969L
#define LF_FS_FUSE 0x65735546L
#define LF_FS_CEPH 0x00C36400L
/* A file system's name from its statfs type ("ext4", "nfs", "fuse"...),
 * NULL when understudy does not know it (and treats it as networked). */
const char *lockfile_fs_name(long f_type);
/* Live node only: refuse or clear the pending request whose seq is seq
 * (or, with seq < 0, an unreadable one) by writing status L, in one
 * locked section that first checks the request is still that one, so a
 * newer request is never erased. 1 if written, 0 if a newer one stands. */
int lockfile_clear_request(struct lockfile *lf, int64_t seq);
/* Write the request record, then status F, in one locked section, and
 * only into a live group: -EAGAIN, nothing written, when the status is
 * not L or F, or the file has become shorter than the format. The request's seq is set there to the previous request's
 * + 1, so that two requesters never write the same seq; the caller
 * learns it in req. */
int lockfile_write_request(struct lockfile *lf, struct lf_request *req);
/* Slot holder only: write slot i's record. Into a file that has become
 * shorter than the format it writes nothing and returns 1, as
 * lockfile_write_status does: a slot write once made a truncated file
 * 640 bytes long, which every node then refused as not ours. */
int lockfile_write_slot(struct lockfile *lf, int slot, const struct lf_slot *s);

/* Pure codecs, for the tests and the fuzzer: encode into exactly the
 * record's size, decode from it. */
void lockfile_encode_live(uint8_t out[LF_LIVE_SIZE], const struct lf_live *l);
enum lf_rec lockfile_decode_live(const uint8_t in[LF_LIVE_SIZE], struct lf_live *l);
void lockfile_encode_request(uint8_t out[LF_REQUEST_SIZE], const struct lf_request *r);
enum lf_rec lockfile_decode_request(const uint8_t in[LF_REQUEST_SIZE], struct lf_request *r);
void lockfile_encode_slot(uint8_t out[LF_SLOT_SIZE], const struct lf_slot *s);
enum lf_rec lockfile_decode_slot(const uint8_t in[LF_SLOT_SIZE], struct lf_slot *s);
/* An entry of the history at position pos of the ring: an OK entry must
 * carry a seq that belongs there ((seq - 1) % LF_EVENTS == pos). */
void lockfile_encode_event(uint8_t out[LF_EVENT_SIZE], const struct lf_event *e);
enum lf_rec lockfile_decode_event(const uint8_t in[LF_EVENT_SIZE], int pos, struct lf_event *e);
/* Decode the history region (LF_EVENTS * LF_EVENT_SIZE bytes). */
void lockfile_decode_history(const uint8_t *region, struct lf_history *h);
void lockfile_encode_header(uint8_t out[LF_HEADER_SIZE]);
/* Check a header: LF_OK, LF_E_MAGIC, LF_E_VERSION or LF_E_HEADER. */
enum lf_err lockfile_check_header(const uint8_t in[LF_HEADER_SIZE], uint16_t *major, uint16_t *minor);
/* Decode a whole file image of LF_SIZE bytes (header already checked). */
void lockfile_decode(const uint8_t *image, struct lf_view *v);
/* CRC-32C, the checksum of every record. */
uint32_t lockfile_crc32c(const void *data, size_t n);

/* Names for the status byte and slot states, for logs and status. */
const char *lockfile_status_name(char status);
const char *lockfile_slot_state_name(uint8_t state);
/* A slot's state as people read it: "starting" for a live slot whose
 * workload is not ready yet, else the state's name. */
const char *lockfile_slot_describe(const struct lf_slot *s);
const char *lockfile_role_name(uint8_t role);
/* A history reason as one word ("failover", "hand-over"), "unknown" for
 * a value this build does not know. */
const char *lockfile_event_name(uint8_t reason);

#endif
