/* The storage process. */
#include "understudy/worker.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "understudy/clock.h"
#include "understudy/log.h"
#include "understudy/supervise.h"
#include "understudy/timeline.h"
#include "understudy/watch.h"

static int wake_signal(void) { return SIGRTMIN + 2; }

/* The guard's timer, while a job runs (in_job_guard). */
static int guard_signal(void) { return SIGRTMIN + 3; }

static void on_wake(int sig) { (void)sig; }

/* The manager's death (PR_SET_PDEATHSIG): it ends a lock wait, as the
 * wake-up signal does, and has the workload killed (kill_workload). */
static int death_signal(void) { return SIGRTMIN + 4; }

static volatile sig_atomic_t manager_died;

/* Only the kernel's parent-death signal counts: it comes as SI_USER from
 * the manager's pid, which no other process can forge (rt_sigqueueinfo
 * refuses SI_USER for another process), and the manager never sends it. */
static pid_t death_from;
static void on_death(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	if (si->si_code == SI_USER && si->si_pid == death_from)
		manager_died = 1;
}

/* Wait for a lock with only the wake-up signal deliverable, so that
 * nothing but worker_interrupt can cut a wait short and no other call of
 * this thread ever sees EINTR. (Off a local file system the lock file
 * layer waits by tries, and the signal cuts only the pause between them:
 * it is blocked inside each try, since a signal inside a FUSE call sends
 * the daemon an interrupt, which GlusterFS's client can deadlock on.) */
static int wait_lock(struct worker *w, const struct worker_job *j, enum lf_lock which)
{
	sigset_t wake;
	sigemptyset(&wake);
	sigaddset(&wake, wake_signal());
	sigaddset(&wake, death_signal());
	pthread_sigmask(SIG_UNBLOCK, &wake, NULL);
	int r = lockfile_lock_paced(w->lf, which, j->pace_first_ms, j->pace_max_ms);
	pthread_sigmask(SIG_BLOCK, &wake, NULL);
	return r;
}

/* The facts a decision needs beyond the view just read into j->view. */
static int view_facts(struct worker *w, struct worker_job *j)
{
	j->have_view = true;
	j->live_here = j->view.live_rec == LF_REC_OK && lockfile_live_here(w->lf, &j->view.live);
	j->target_alive = false;
	j->target_state = 0;
	j->backup_waiting = false;
	const struct lf_view *v = &j->view;
	/* In a short file every lost record reads EMPTY: the live node mends
	 * the length first, and only then is a slot written again. */
	int me = j->my_slot;
	j->own_slot_bad = me >= 0 && me < LF_SLOTS && !(v->damage & LF_DMG_SHORT) &&
			  (v->slot_rec[me] != LF_REC_OK || memcmp(v->slots[me].id, j->my_id, LF_ID_SIZE) != 0);
	if (v->status == LF_FAILBACK && v->request_rec == LF_REC_OK) {
		int t = v->request.target_slot;
		if (t == j->my_slot && t >= 0) {
			j->target_alive = true;
		} else if (t >= 0) {
			int h = lockfile_held(w->lf, lockfile_slot_lock_offset(t));
			if (h < 0)
				return h;
			/* A held slot whose record is another node's is a new node
			 * in the target's place: the target itself is gone. */
			j->target_alive = h && v->slot_rec[t] == LF_REC_OK &&
					  memcmp(v->slots[t].id, v->request.target_id, LF_ID_SIZE) == 0;
			j->target_state = v->slots[t].state;
		}
		int b = lockfile_held(w->lf, LF_OFF_BACKUP_LOCK);
		if (b < 0)
			return b;
		j->backup_waiting = b;
	}
	return 0;
}

/* Read the file and the facts a decision needs beyond it. */
static int read_view(struct worker *w, struct worker_job *j)
{
	/* The node sees a damaged file as it is, to repair or wait. */
	int r = j->holder ? lockfile_read_held(w->lf, &j->view) : lockfile_read_any(w->lf, &j->view);
	return r < 0 ? r : view_facts(w, j);
}

/* A slot of this host whose process is gone: a manager that systemd
 * killed and started again, whose slot lock a FUSE or NFS client lets go
 * of only when the server notices (seconds later). Counted as alive, it
 * would refuse its own successor for good (78 is not restarted). */
static bool gone_from_here(const struct lf_slot *s, const struct lf_slot *mine)
{
	static const uint8_t unknown[LF_ID_SIZE];
	if (memcmp(mine->host, unknown, LF_ID_SIZE) == 0 || memcmp(s->host, mine->host, LF_ID_SIZE) != 0)
		return false;
	return s->pid > 0 && kill((pid_t)s->pid, 0) < 0 && errno == ESRCH;
}

/* After our slot is claimed and written: another alive slot whose record
 * gives our name. Our own earlier self (a rejoin after a fence, whose
 * slot the storage may not have let go of yet) does not count, nor does
 * a dead one of this host. */
static int find_name(struct worker *w, struct worker_job *j, int mine)
{
	j->name_slot = -1;
	const struct lf_view *v = &j->view;
	for (int i = 0; i < LF_SLOTS; i++) {
		if (i == mine || v->slot_rec[i] != LF_REC_OK || strcmp(v->slots[i].name, j->slot.name) != 0)
			continue;
		if (j->has_prev_id && memcmp(v->slots[i].id, j->prev_id, LF_ID_SIZE) == 0)
			continue;
		if (gone_from_here(&v->slots[i], &j->slot))
			continue;
		int h = lockfile_held(w->lf, lockfile_slot_lock_offset(i));
		if (h < 0)
			return h;
		if (h) {
			j->name_slot = i;
			j->name_pid = v->slots[i].pid;
			return 0;
		}
	}
	return 0;
}

/* The history entry a leaving node's job carries, if any. It is news,
 * never state: its result goes to note_res and fails nothing else (a full
 * disk, which cannot lengthen a file of an older format, must not fence a
 * node). A hand-over's entry names the target of the request it answers,
 * still in the file. */
static void add_note(struct worker *w, struct worker_job *j)
{
	if (j->note)
		j->note_res = lockfile_add_event(w->lf, &j->event, j->note == LF_EV_HAND_OVER);
}

static int run(struct worker *w, struct worker_job *j)
{
	int r = 0;
	bool wrote = false, viewed = false;
	j->note_res = 0;
	j->round_ms = 0;
	switch (j->op) {
	case WORKER_CLAIM_SLOT:
		j->name_slot = -1;
		r = lockfile_claim_slot(w->lf);
		if (r >= 0) {
			int e = lockfile_write_slot(w->lf, r, &j->slot);
			/* The name check reads after our record is written: of
			 * two nodes of one name, the later reader sees the other. */
			if (e >= 0)
				e = read_view(w, j);
			if (e >= 0)
				e = find_name(w, j, r);
			if (e < 0)
				return e;
		}
		return r;
	case WORKER_WRITE_SLOT: r = lockfile_write_slot(w->lf, j->my_slot, &j->slot); break;
	case WORKER_TRY_LIVE:
		r = lockfile_lock(w->lf, LF_LOCK_LIVE, false);
		j->granted_ms = r == 0 ? clock_ms() : 0;
		break;
	case WORKER_WAIT_LIVE:
		r = wait_lock(w, j, LF_LOCK_LIVE);
		j->granted_ms = r == 0 ? clock_ms() : 0;
		w->sh->granted = r == 0;
		break;
	case WORKER_WAIT_BACKUP: r = wait_lock(w, j, LF_LOCK_BACKUP); break;
	case WORKER_RELEASE_LIVE:
		/* The leaving node's entry while it still holds the role: it
		 * comes before the next live node's. */
		add_note(w, j);
		r = lockfile_unlock(w->lf, LF_LOCK_LIVE);
		break;
	case WORKER_RELEASE_BACKUP: r = lockfile_unlock(w->lf, LF_LOCK_BACKUP); break;
	case WORKER_WRITE_LIVE:
		r = lockfile_take_live(w->lf, &j->live, j->seq, j->note ? &j->event : NULL, &j->note_res);
		if (r > 0)
			r = 0; /* the live node's first check sees F */
		break;
	case WORKER_WRITE_STATUS:
		r = lockfile_write_status(w->lf, j->status);
		if (r >= 0)
			add_note(w, j);
		break;
	case WORKER_WRITE_REQUEST:
		/* A primary asking for failback in a group that is no longer
		 * live: nobody to ask; it gets the live lock itself instead. */
		r = lockfile_write_request(w->lf, &j->request);
		if (r == -EAGAIN)
			r = 0;
		break;
	case WORKER_CLEAR_REQUEST:
		r = lockfile_clear_request(w->lf, j->seq);
		if (r > 0)
			r = 0;
		break;
	case WORKER_READ: j->want_view = true; break;
	case WORKER_REPAIR: r = lockfile_repair(w->lf, &j->live, j->my_slot, &j->slot); break;
	case WORKER_HEARTBEAT:
		/* Another's record means another is live: the read below shows
		 * it, and the node fences. Nothing was written over it, and no
		 * round completed. */
		r = lockfile_heartbeat(w->lf, &j->live, j->want_view ? &j->view : NULL);
		wrote = r == 0;
		if (r == -ESTALE)
			r = 0;
		/* The view came in the heartbeat's own hold of the record lock. */
		if (r == 0 && j->want_view) {
			int e = view_facts(w, j);
			if (e < 0)
				return e;
			viewed = true;
		}
		break;
	}
	/* A lock just taken is read at once (the decision needs the file as
	 * it is under the lock); a lost race or a timed-out wait only when
	 * asked. */
	bool got = r == 0 && (j->op == WORKER_TRY_LIVE || j->op == WORKER_WAIT_LIVE);
	bool missed = (r == -EAGAIN || r == -EINTR) && j->want_view;
	if (!viewed && (got || missed || (r == 0 && j->want_view))) {
		int e = read_view(w, j);
		if (e < 0)
			return e;
	} else if ((r == -EAGAIN || r == -EINTR) && (j->op == WORKER_WAIT_LIVE || j->op == WORKER_WAIT_BACKUP)) {
		/* A waiting node reads only its own slot each time its wait is
		 * cut: a record lost to damage is written again within C. */
		int e = lockfile_slot_is(w->lf, j->my_slot, j->my_id);
		if (e < 0 && e != -ENODATA)
			return e;
		j->own_slot_bad = e == 0;
	}
	/* Whether the path still names our file, on the calls a node makes
	 * anyway every interval: the live's read or heartbeat, a waiting
	 * node's try or its wait as it ends or is cut. A stat costs no
	 * wake-up of its own, and it runs here since it can hang like any
	 * call on the storage. */
	bool periodic = j->op == WORKER_TRY_LIVE || j->op == WORKER_WAIT_LIVE || j->op == WORKER_WAIT_BACKUP ||
			j->op == WORKER_READ || j->op == WORKER_HEARTBEAT;
	if (periodic && (r == 0 || r == -EAGAIN || r == -EINTR)) {
		/* Taken before the look: a file replaced after this moment is
		 * one the look may have missed, so nothing counts from later. */
		int64_t t = clock_ms();
		int here = lockfile_still_at_path(w->lf);
		if (here < 0)
			return here;
		j->replaced = here == 0;
		if (here) {
			w->sh->guard.looked_ms = t;
			if (j->op == WORKER_HEARTBEAT && wrote) {
				j->round_ms = t;
				if (w->sh->guard.armed)
					w->sh->guard.round_ms = t;
			}
		}
	}
	return r;
}

/* Since when the live node has gone without a round or without its loop:
 * the older of the last completed round and the moment the loop was due
 * to run (worker_guard_loop_due) or a round's news has waited for it. The
 * rounds run here and go on while the loop is stopped; a stalled loop
 * must not outlive them. */
static int64_t stall_base(struct worker *w)
{
	struct worker_guard *g = &w->sh->guard;
	struct worker_rounds *rd = &w->sh->rounds;
	int64_t base = g->round_ms;
	if (g->loop_due_ms && g->loop_due_ms < base)
		base = g->loop_due_ms;
	int64_t news = rd->news ? rd->news_ms : 0;
	if (news && news < base)
		base = news;
	return base;
}

/* The guard's next deadline (0: none), and whether it is the look's. */
static int64_t guard_deadline(struct worker *w, bool *look)
{
	struct worker_guard *g = &w->sh->guard;
	if (!g->armed || g->fired)
		return 0;
	int64_t fence = stall_base(w) + g->fence_ms, peek = g->looked_ms + g->look_ms;
	*look = peek < fence;
	return *look ? peek : fence;
}

/* The loop has not run a round for the fence timeout plus a check
 * interval, or has not looked at the path for two check intervals and the
 * path names another file: the workload must not outlive what the loop
 * would have done, had it run. SIGKILL to its whole tree, said once. */
static void guard_fire(struct worker *w, bool replaced, int64_t since, bool in_call)
{
	struct worker_guard *g = &w->sh->guard;
	g->fired_replaced = replaced;
	g->fired_after = since;
	g->fired = true;
	w->sh->rounds.on = false; /* no heartbeat for a workload killed: the loop fences when it runs */
	/* Only the manager's children are the tree; a manager gone (we are
	 * someone else's child now) left nothing of ours to kill. */
	if (getppid() != w->manager)
		return;
	int n = supervise_kill_tree_of(w->manager, SIGKILL);
	if (replaced)
		log_error("%s names another file now, or none, and the manager (pid %d) has not looked for %lld ms: "
			  "%s; the storage process sent SIGKILL to the workload's whole tree (%d processes)",
			  w->lf->path, (int)w->manager, (long long)since,
			  in_call ? "a call on the file has not returned" : "it is stalled", n);
	else
		log_error("no heartbeat round completed in %lld ms and the manager (pid %d) has not fenced: it is "
			  "stalled; the storage process sent SIGKILL to the workload's whole tree (%d processes)",
			  (long long)since, (int)w->manager, n);
}

/* The guard's deadline came, with no job: fence, look, or (woken early,
 * or the deadline moved) nothing. */
static void guard_check(struct worker *w, bool in_call)
{
	struct worker_guard *g = &w->sh->guard;
	bool look = false;
	int64_t when = guard_deadline(w, &look), now = clock_ms();
	if (!when || now < when)
		return;
	if (!look) {
		guard_fire(w, false, now - stall_base(w), in_call);
		return;
	}
	/* The loop has not looked for two check intervals: look for it. A
	 * look that fails says nothing; the fence deadline still stands. */
	int here = lockfile_still_at_path(w->lf);
	if (here == 0)
		guard_fire(w, true, now - g->looked_ms, in_call);
	else
		g->looked_ms = now;
}

/* A job in progress can hang (a lock held by another process, a storage
 * that stops answering), and between jobs is the only place the process
 * above checks the guard's deadline: a live node whose storage call hangs
 * and whose file is then deleted or replaced would keep its workload until
 * the loop fences, F after its last round, while a node on the new file
 * starts after the new-file wait, 3C (found by the soak test: two
 * workloads for up to 0.9 s). So a second thread of this process
 * keeps the deadline during a job: a timer armed at the job's start for
 * the guard's deadline and disarmed at its end signals it only if the
 * job is still running then. A healthy node's jobs end long before: the
 * timer costs two calls a job and no wake-up. The look itself is a stat
 * of the path, which a held lock does not hold up. */
struct job_guard {
	struct worker *w;
	timer_t timer;
	_Atomic bool in_job;
	bool on;     /* the thread and the timer exist */
	sem_t ready; /* the thread made its timer, or failed to */
};

/* A round's call past the io timeout: the loop, which sees no round's
 * call begin, is told (worker_rounds.hung) and gives the storage up as it
 * does a job's call. When that is due, 0 if not. */
static int64_t round_hang_deadline(struct worker *w)
{
	struct worker_rounds *rd = &w->sh->rounds;
	int64_t t = rd->started_ms;
	return t && !rd->hung ? t + rd->io_timeout_ms : 0;
}

static void job_guard_arm(struct job_guard *jg)
{
	bool look = false;
	int64_t when = jg->on ? guard_deadline(jg->w, &look) : 0;
	int64_t hang = jg->on ? round_hang_deadline(jg->w) : 0;
	if (hang && (!when || hang < when))
		when = hang;
	if (!when)
		return;
	struct itimerspec it = { .it_value = { when / 1000, (when % 1000) * 1000000 } };
	timer_settime(jg->timer, TIMER_ABSTIME, &it, NULL);
}

static void job_guard_disarm(struct job_guard *jg)
{
	if (!jg->on)
		return;
	struct itimerspec none = { 0 };
	timer_settime(jg->timer, 0, &none, NULL);
}

static void *job_guard_main(void *arg)
{
	struct job_guard *jg = arg;
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, guard_signal());
	/* The timer signals this thread only (every signal is blocked in the
	 * process: sigwaitinfo takes it). */
	struct sigevent sev = { .sigev_notify = SIGEV_THREAD_ID, .sigev_signo = guard_signal() };
	sev._sigev_un._tid = gettid();
	jg->on = timer_create(CLOCK_MONOTONIC, &sev, &jg->timer) == 0;
	bool on = jg->on;
	sem_post(&jg->ready);
	if (!on)
		return NULL;
	for (;;) {
		if (sigwaitinfo(&set, NULL) < 0)
			continue;
		/* A job that ended meanwhile leaves the deadline to the loop
		 * between jobs; one still running gets the check, and the
		 * timer again for the next deadline (a look that found the
		 * file moves it on by 2C). */
		if (!atomic_load(&jg->in_job))
			continue;
		struct worker_rounds *rd = &jg->w->sh->rounds;
		int64_t hang = round_hang_deadline(jg->w);
		if (hang && clock_ms() >= hang) {
			rd->hung = true;
			uint64_t one = 1;
			(void)!write(jg->w->efd, &one, sizeof(one));
		}
		guard_check(jg->w, true);
		if (atomic_load(&jg->in_job) && !atomic_load(&jg->w->sh->guard.fired))
			job_guard_arm(jg);
	}
	return NULL;
}

/* One descriptor on a socket, with a byte. */
static int send_file(int sock, char c, int fd)
{
	char ctl[CMSG_SPACE(sizeof(int))];
	memset(ctl, 0, sizeof(ctl));
	struct iovec iov = { .iov_base = &c, .iov_len = 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof(ctl) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	/* A peer that is gone fails the send (EPIPE, no SIGPIPE). */
	return sendmsg(sock, &m, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

/* The descriptor a message on the socket carries (close-on-exec), or
 * -errno: -EBADMSG for a message without exactly one. */
static int receive_fd(int sock, int flags)
{
	char c;
	char ctl[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = &c, .iov_len = 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof(ctl) };
	ssize_t n;
	while ((n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC | flags)) < 0 && errno == EINTR)
		;
	if (n < 0)
		return -errno;
	struct cmsghdr *cm = n > 0 ? CMSG_FIRSTHDR(&m) : NULL;
	if (!cm || cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS || cm->cmsg_len != CMSG_LEN(sizeof(int)))
		return n == 0 ? -EPIPE : -EBADMSG;
	int fd;
	memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	return fd;
}

/* A detached thread of this process, on a small stack. */
static int start_thread(void *(*fn)(void *), void *arg)
{
	pthread_t t;
	pthread_attr_t attr;
	int r = pthread_attr_init(&attr);
	if (r != 0)
		return -r;
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, (size_t)256 * 1024);
	r = pthread_create(&t, &attr, fn, arg);
	pthread_attr_destroy(&attr);
	return -r;
}

/* The thread and its timer; without them (no memory for a thread) the
 * guard keeps its deadline between jobs only, as before. */
static void job_guard_start(struct job_guard *jg, struct worker *w)
{
	*jg = (struct job_guard){ .w = w };
	if (sem_init(&jg->ready, 0, 0) != 0)
		return;
	if (start_thread(job_guard_main, jg) == 0)
		while (sem_wait(&jg->ready) < 0 && errno == EINTR)
			;
}

/* Close every descriptor but the job socket, the eventfd and standard
 * error (for the guard's one line): the process must hold nothing else of
 * the manager's (its sockets, its ring), or a manager that died would seem
 * to live on. The file comes later, on the socket. */
static void keep_only(int a, int b, int c)
{
	int k[4] = { STDERR_FILENO, a, b, c };
	for (int i = 0; i < 4; i++)
		for (int j = i + 1; j < 4; j++)
			if (k[j] < k[i]) {
				int t = k[i];
				k[i] = k[j], k[j] = t;
			}
	unsigned lo = 0;
	for (int i = 0; i < 4; i++) {
		if ((unsigned)k[i] > lo)
			close_range(lo, (unsigned)k[i] - 1, 0);
		if ((unsigned)k[i] + 1 > lo)
			lo = (unsigned)k[i] + 1;
	}
	close_range(lo, ~0U, 0);
}

/* The manager's open of the file: the descriptor from the socket, the
 * rest as worker_attach left it in the shared page. The manager's end
 * closed first (it failed, or died) ends the process. */
static struct lockfile *receive_file(struct worker *w, int req)
{
	static struct lockfile lf;
	int fd = receive_fd(req, 0);
	if (fd < 0)
		_exit(0);
	memcpy(&lf, &w->sh->lf, sizeof(lf));
	lf.fd = fd;
	lf.path = w->sh->path;
	return &lf;
}

/* A job or a round, under the guard's timer while it runs. */
static void run_guarded(struct worker *w, struct job_guard *jg, struct worker_job *j)
{
	j->have_view = false;
	j->own_slot_bad = false;
	atomic_store(&jg->in_job, true);
	job_guard_arm(jg);
	j->res = run(w, j);
	atomic_store(&jg->in_job, false);
	job_guard_disarm(jg);
}

/* Wake the loop: a job done, or a round's news for it. */
static void tell_loop(struct worker *w)
{
	uint64_t one = 1;
	if (write(w->efd, &one, sizeof(one)) < 0)
		_exit(1);
}

/* A round's findings as bytes, for telling a change: the view's records
 * encoded again (our own heartbeat left out), its status, node id, version,
 * damage and size, what each record read as, and the facts beside it. */
enum {
	SEEN_FACTS = 8,
	SEEN_SIZE = 1 + LF_ID_SIZE + 4 + 4 + 4 + LF_LIVE_SIZE + LF_REQUEST_SIZE + LF_SLOTS * LF_SLOT_SIZE + 2 +
		    LF_SLOTS + SEEN_FACTS,
};

struct round_seen {
	bool have;
	unsigned gen;
	uint8_t bytes[SEEN_SIZE];
};

static void put_u32(uint8_t **p, uint32_t v)
{
	memcpy(*p, &v, sizeof(v));
	*p += sizeof(v);
}

static void seen_of(const struct worker_job *j, unsigned gen, struct round_seen *s)
{
	const struct lf_view *v = &j->view;
	s->have = true;
	s->gen = gen;
	uint8_t *p = s->bytes;
	*p++ = (uint8_t)v->status;
	memcpy(p, v->node_id, LF_ID_SIZE);
	p += LF_ID_SIZE;
	put_u32(&p, (uint32_t)v->major << 16 | v->minor);
	put_u32(&p, v->damage);
	put_u32(&p, v->size);
	struct lf_live live = v->live;
	live.heartbeat = 0;
	lockfile_encode_live(p, &live);
	p += LF_LIVE_SIZE;
	lockfile_encode_request(p, &v->request);
	p += LF_REQUEST_SIZE;
	for (int i = 0; i < LF_SLOTS; i++, p += LF_SLOT_SIZE)
		lockfile_encode_slot(p, &v->slots[i]);
	*p++ = (uint8_t)v->live_rec;
	*p++ = (uint8_t)v->request_rec;
	for (int i = 0; i < LF_SLOTS; i++)
		*p++ = (uint8_t)v->slot_rec[i];
	const uint8_t facts[SEEN_FACTS] = { j->live_here, j->target_alive, j->backup_waiting, j->own_slot_bad,
					    j->target_state };
	memcpy(p, facts, sizeof(facts));
}

/* Whether a round found anything the loop has not seen: a failed call,
 * the path replaced, a change of the view or its facts but our own
 * heartbeat (now: its findings), a new turn, or the loop's asking. No
 * decision: the node makes those, on every change. */
static bool round_is_news(const struct worker_job *j, const struct round_seen *now, const struct round_seen *last,
			  bool asked)
{
	if (asked || j->res != 0 || j->replaced || !now->have || !last->have || last->gen != now->gen)
		return true;
	return memcmp(now->bytes, last->bytes, sizeof(now->bytes)) != 0;
}

/* When the next round is due while the loop has them on, else 0. */
static int64_t round_due(struct worker *w)
{
	struct worker_rounds *rd = &w->sh->rounds;
	if (!rd->on)
		return 0;
	int64_t c = rd->check_at, h = rd->heartbeat_at;
	return c < h ? c : h;
}

/* When the next round is due, brought forward to nudge_at (a write by
 * another, 0: none) while the rounds run; 0 when they do not. */
static int64_t round_next(struct worker *w, int64_t nudge_at)
{
	int64_t due = round_due(w);
	return due && nudge_at && nudge_at < due ? nudge_at : due;
}

/* One round (§5.3): a heartbeat when one is due, else a read; its look at
 * the path comes with it (run). The loop hears of it only if it is news,
 * and then only once it took the last one (a round it could not be told
 * of is told by the next, asked). Whether it wrote to the file. */
static bool run_round(struct worker *w, struct job_guard *jg, struct round_seen *seen)
{
	struct worker_rounds *rd = &w->sh->rounds;
	static struct worker_job j;
	unsigned gen = rd->gen, seq = rd->tmpl_seq;
	/* A round that began as the rounds were turned off may still be
	 * copying its job when the loop writes the next turn's: such a copy
	 * is dropped, and the next turn's round comes at once. */
	if (seq & 1)
		return false;
	memcpy(&j, &rd->tmpl, sizeof(j));
	if (rd->tmpl_seq != seq || !rd->on)
		return false;
	int64_t now = clock_ms();
	bool beat = now >= rd->heartbeat_at;
	j.op = beat ? WORKER_HEARTBEAT : WORKER_READ;
	j.holder = !beat;
	j.want_view = true;
	if (beat)
		j.live.heartbeat = atomic_fetch_add(&rd->heartbeat, 1) + 1;
	rd->started_ms = now;
	int64_t t0 = clock_ns();
	run_guarded(w, jg, &j);
	int64_t us = (clock_ns() - t0) / 1000;
	rd->started_ms = 0;
	if (rd->count_call)
		rd->count_call(rd->count_ctx, j.op, us);
	/* From this round's start, as the loop's own ticks were. */
	rd->check_at = now + rd->check_ms;
	if (beat)
		rd->heartbeat_at = now + rd->heartbeat_ms;
	if (beat && j.res == 0 && j.round_ms)
		rd->round_ms = j.round_ms;
	bool asked = atomic_exchange(&rd->report, false);
	static struct round_seen found;
	found.have = false;
	if (j.have_view)
		seen_of(&j, gen, &found);
	found.gen = gen;
	if (!round_is_news(&j, &found, seen, asked))
		return beat;
	if (rd->news) {
		rd->report = true; /* the loop has not taken the last: the next round tells */
		return beat;
	}
	memcpy(&rd->done, &j, sizeof(j));
	rd->done_gen = gen;
	rd->news_ms = clock_ms();
	*seen = found;
	rd->news = true;
	tell_loop(w);
	return beat;
}

/* Whether a job writes to the file: its own write raises the event the
 * watch on writes waits for, which is then no news. */
static bool op_writes(enum worker_op op)
{
	switch (op) {
	case WORKER_CLAIM_SLOT:
	case WORKER_WRITE_SLOT:
	case WORKER_WRITE_LIVE:
	case WORKER_WRITE_STATUS:
	case WORKER_WRITE_REQUEST:
	case WORKER_CLEAR_REQUEST:
	case WORKER_HEARTBEAT:
	case WORKER_REPAIR: return true;
	case WORKER_TRY_LIVE:
	case WORKER_WAIT_LIVE:
	case WORKER_WAIT_BACKUP:
	case WORKER_RELEASE_LIVE:
	case WORKER_RELEASE_BACKUP:
	case WORKER_READ: break;
	}
	return false;
}

/* The workload's main process as this process knows it: a pidfd, so that
 * what it kills is that process and no other that has its pid since. */
struct workload_ref {
	pid_t pid;
	int fd;
};

/* The main thread's pidfd of the workload, for the watch on the manager's
 * death (-1: none). A number the main thread closes meanwhile can only
 * name another workload's pidfd or no pidfd at all (the kill then fails):
 * this process opens nothing else once the manager has a workload. */
static _Atomic int workload_pidfd = -1;

/* Open a pidfd for the main process the manager publishes, when it is
 * new. The pid is trusted only if, after the pidfd is open, the manager
 * still publishes it (it withdraws a pid before it reaps: worker.h) and
 * the process is still the manager's child and not reaped (a manager
 * that died reaps nothing, and its children go to another reaper). */
static int trusted_pidfd(struct worker *w, pid_t p)
{
	if (p <= 0)
		return -1;
	int fd = (int)syscall(SYS_pidfd_open, p, 0);
	if (fd < 0)
		return -1;
	if (atomic_load(&w->sh->workload) != p || supervise_parent_of(p) != w->manager ||
	    syscall(SYS_pidfd_send_signal, fd, 0, NULL, 0) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void follow_workload(struct worker *w, struct workload_ref *r)
{
	pid_t p = atomic_load(&w->sh->workload);
	if (p == r->pid)
		return;
	atomic_store(&workload_pidfd, -1);
	if (r->fd >= 0)
		close(r->fd);
	r->pid = p;
	r->fd = trusted_pidfd(w, p);
	atomic_store(&workload_pidfd, r->fd);
}

/* The manager died: SIGKILL its workload's main process, as its
 * PR_SET_PDEATHSIG does. That signal follows the thread that started the
 * child (the manager's spawner), and a thread's exit sends it only after
 * tearing down the process's memory when it is the last thread to go
 * (a quarter of a millisecond); this one comes from the manager's main
 * thread. Whichever ends first, the workload dies then, and the live
 * lock's release waits on one exit less. It also reaches a workload that
 * cleared its parent-death signal, or lost it in the exec of a set-user-ID
 * program, which would otherwise outlive its manager holding the live
 * lock. Only the main process, as the parent-death signal. */
static void kill_workload(struct workload_ref *r)
{
	if (r->fd < 0)
		return;
	syscall(SYS_pidfd_send_signal, r->fd, SIGKILL, NULL, 0);
	atomic_store(&workload_pidfd, -1);
	close(r->fd);
	r->fd = -1;
}

/* struct sched_attr as the kernel takes it, its first version (48 bytes):
 * glibc's headers have none, and the kernel's clash with <sched.h>. */
struct slice_attr {
	uint32_t size, policy;
	uint64_t flags;
	int32_t nice;
	uint32_t priority;
	uint64_t runtime, deadline, period;
};
#define SLICE_RESET_ON_FORK 0x01 /* SCHED_FLAG_RESET_ON_FORK */

/* A short slice for the calling thread, in its own class and niceness
 * (TIMELINE_DEATH_SLICE_US); a fair thread's only. A kernel older than
 * 6.12 takes the request and ignores it. */
static void short_slice(void)
{
	struct slice_attr a;
	memset(&a, 0, sizeof(a));
	if (syscall(SYS_sched_getattr, 0, &a, sizeof(a), 0) < 0)
		return;
	if (a.policy != SCHED_OTHER && a.policy != SCHED_BATCH)
		return;
	a.size = sizeof(a);
	a.flags &= SLICE_RESET_ON_FORK;
	a.runtime = (uint64_t)TIMELINE_DEATH_SLICE_US * 1000;
	(void)syscall(SYS_sched_setattr, 0, &a, 0);
}

/* The watch on the manager's death. The manager's main thread holds the
 * robust mutex `alive` for as long as it lives (worker_spawn), and the
 * kernel hands the mutex on, its owner dead, as that thread begins to
 * exit: before the exit tears down the manager's memory and closes its
 * files, a quarter of a millisecond before the socket's end or the
 * parent-death signal can come. This thread then SIGKILLs the workload
 * and lets go of this process's copy of the open, /dev/null put in its
 * place: a call of the main thread in progress holds the file until it
 * returns, and whatever it calls next reaches no file. The manager holds
 * no copy while its workload runs (worker_lend) and the workload holds
 * one, so the live lock is free once the workload is gone, and no sooner.
 * It makes no other call and waits for nothing else. */
static void *death_watch(void *arg)
{
	struct worker *w = arg;
	int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
	short_slice();
	int r = pthread_mutex_lock(&w->sh->alive);
	if (r != 0 && r != EOWNERDEAD)
		return NULL; /* the socket's end lets go, later */
	int fd = atomic_load(&workload_pidfd), own = -1;
	if (fd < 0) /* the main thread has been in a call since the start */
		fd = own = trusted_pidfd(w, atomic_load(&w->sh->workload));
	if (fd >= 0)
		syscall(SYS_pidfd_send_signal, fd, SIGKILL, NULL, 0);
	if (own >= 0)
		close(own);
	if (nul >= 0)
		dup3(nul, w->lf->fd, O_CLOEXEC);
	/* Parked, not ended: a thread's end (its stack given back, its exit)
	 * would take the CPU the killed workload woke on, and its exit is
	 * what the next node waits for now. The process ends soon. */
	for (;;)
		pause();
}

/* The lender: a copy of the open for each request on the lend socket
 * (worker_lend), until the manager's end closes. It makes no call on the
 * file, so it answers while the main thread waits in one. */
static void *lender(void *arg)
{
	struct worker *w = arg;
	for (;;) {
		char c;
		ssize_t n = recv(w->lend, &c, 1, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || send_file(w->lend, 'l', w->lf->fd) < 0)
			return NULL;
	}
}

/* The manager closed its end (it exits, or died), so no call is in
 * progress: let go of our copy of the open first, then exit. An exit
 * closes files only after tearing down the process's memory, and where
 * the manager was killed the live lock is free only once every holder let
 * go: nothing to wait for. The exit itself waits TIMELINE_LET_GO_EXIT_MS:
 * a teardown runs in the kernel without being preempted (where the kernel
 * preempts only at its own points, as Debian's does), and one on this
 * host while the next live node takes over delays that node's start by as
 * much. */
static _Noreturn void let_go(struct worker *w)
{
	close(w->lf->fd);
	struct timespec later = { 0, TIMELINE_LET_GO_EXIT_MS * 1000000L };
	while (nanosleep(&later, &later) < 0 && errno == EINTR)
		;
	_exit(0);
}

/* The storage process: the file, then one job per byte on the socket,
 * until the manager closes it (or dies). Every signal stays blocked but
 * the wake-up and death signals inside a lock wait and between jobs, so
 * nothing the manager or anyone sends the unit
 * (SIGTERM from a service manager, a SIGSTOP) reaches a call on the file.
 *
 * On a local file system, while the node holds the role, a write to the
 * file by another process of this host (a switchover or failback request,
 * a node joining) brings the live node's next read forward, to no sooner
 * than TIMELINE_WRITE_LOOK_GAP_MS after its last round: a hand-over then
 * waits for the request, not for the check interval, and costs no call
 * while nobody writes. Our own writes raise the event too and are drained
 * after each; a write by another that lands in that moment is seen at the
 * next check, as without the watch. It only moves a read: what the read
 * finds is decided as ever. */
static _Noreturn void process_main(struct worker *w, int req, int lend)
{
	keep_only(req, lend, w->efd);
	w->lend = lend;
	/* A process group of its own: a signal to the manager's group (kill
	 * -KILL -PGID, a terminal's) does not end it inside a call on the
	 * file, and it does not die with the manager's other processes: it
	 * follows the manager's end on the socket, and lets go of its open
	 * before its exit (let_go). */
	setpgid(0, 0);
	/* The manager's death cuts a lock wait like worker_interrupt and has
	 * the workload killed; the socket's end then ends the process. */
	death_from = w->manager;
	struct sigaction sa = { .sa_sigaction = on_death, .sa_flags = SA_SIGINFO }; /* no SA_RESTART */
	sigemptyset(&sa.sa_mask);
	sigaction(death_signal(), &sa, NULL);
	prctl(PR_SET_PDEATHSIG, death_signal());
	if (getppid() != w->manager)
		_exit(0); /* it died before the prctl */
	w->lf = receive_file(w, req);
	/* On a local file system only, where letting go (a close) is no call
	 * on the storage: elsewhere it is one (an NFS flush, a FUSE FLUSH)
	 * that only the main thread makes, and the manager keeps its copy.
	 * Without the watch, the socket's end lets go, later; without the
	 * lender, the manager keeps its copy (worker_lends). */
	if (!w->lf->poll) {
		if (w->sh->alive_ok)
			start_thread(death_watch, w);
		w->sh->lending = start_thread(lender, w) == 0;
	}
	static struct job_guard jg;
	static struct round_seen seen;
	job_guard_start(&jg, w);
	int writes = -1; /* the watch on writes, while the node holds the role */
	bool writes_tried = false;
	int64_t last_round = 0, nudge_at = 0;
	/* The wake-up signal, which ends a lock wait's pause, ends the wait
	 * between jobs too: how the loop has a new schedule looked at. */
	sigset_t poll_mask;
	pthread_sigmask(SIG_BLOCK, NULL, &poll_mask);
	sigdelset(&poll_mask, wake_signal());
	sigdelset(&poll_mask, death_signal());
	struct workload_ref wl = { .fd = -1 };
	char c;
	for (;;) {
		if (manager_died)
			kill_workload(&wl); /* what it has: a pid published since is no longer trusted */
		else
			follow_workload(w, &wl);
		/* The watch on writes: opened once the rounds run (not amid a
		 * takeover's calls, which the workload's start waits for), one
		 * try a term, and closed when the node leaves the role. */
		if (w->sh->rounds.holding && !w->lf->poll) {
			if (!writes_tried && w->sh->rounds.on) {
				writes_tried = true;
				int r = watch_writes(w->lf->fd);
				if (r < 0)
					log_warn("%s: watching the file for writes: %s (fs.inotify.max_user_instances "
						 "bounds a user's watches); hand-over requests wait for the next check",
						 w->lf->path, strerror(-r));
				writes = r < 0 ? -1 : r;
			}
		} else if (writes_tried) {
			if (writes >= 0)
				close(writes);
			writes = -1;
			writes_tried = false;
		}
		/* Between jobs: wait for the next one, the next round or the
		 * guard's deadline, whichever comes first: one wake-up a round
		 * while the node is live, and none more while its rounds find
		 * nothing new. */
		bool look = false;
		int64_t when = guard_deadline(w, &look), due = round_next(w, nudge_at);
		if (!due)
			nudge_at = 0;
		if (due && (!when || due < when))
			when = due;
		struct timespec ts, *tsp = NULL;
		if (when) {
			int64_t d = when - clock_ms();
			d = d < 0 ? 0 : d;
			ts.tv_sec = d / 1000;
			ts.tv_nsec = (d % 1000) * 1000000;
			tsp = &ts;
		}
		/* Writes matter only while the rounds run (a live node). */
		struct pollfd p[2] = { { .fd = req, .events = POLLIN },
				       { .fd = due && !nudge_at ? writes : -1, .events = POLLIN } };
		int ready = ppoll(p, 2, tsp, &poll_mask);
		if (ready < 0 && errno == EINTR)
			continue;
		if (ready > 0 && p[1].revents && watch_drain(writes)) {
			int64_t now = clock_ms(), soon = last_round + TIMELINE_WRITE_LOOK_GAP_MS;
			nudge_at = soon > now ? soon : now;
		}
		if (ready >= 0 && !p[0].revents) {
			due = round_next(w, nudge_at);
			if (due && clock_ms() >= due) {
				last_round = clock_ms();
				nudge_at = 0;
				if (run_round(w, &jg, &seen) && writes >= 0)
					watch_drain(writes);
			}
			guard_check(w, false);
			continue;
		}
		ssize_t n = read(req, &c, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			/* A manager that ends on purpose reaps its workload
			 * first and publishes none: one still published was
			 * left by a manager that died. The socket's end can
			 * come before the parent-death signal (the manager's
			 * main thread ended last). */
			if (wl.pid > 0 && wl.pid == atomic_load(&w->sh->workload))
				kill_workload(&wl);
			let_go(w);
		}
		run_guarded(w, &jg, &w->sh->job);
		bool wrote = op_writes(w->sh->job.op);
		w->sh->running = false;
		tell_loop(w);
		/* After the loop was told: a takeover's write of L is
		 * followed by the workload's start, which must not wait. */
		if (writes >= 0 && wrote)
			watch_drain(writes);
	}
}

int worker_spawn(struct worker *w)
{
	memset(w, 0, sizeof(*w));
	w->req = -1;
	w->lend = -1;
	w->efd = eventfd(0, EFD_CLOEXEC);
	if (w->efd < 0)
		return -errno;
	struct sigaction sa = { .sa_handler = on_wake }; /* no SA_RESTART: the wait must end */
	sigemptyset(&sa.sa_mask);
	if (sigaction(wake_signal(), &sa, NULL) < 0)
		return -errno;
	w->sh = mmap(NULL, sizeof(*w->sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (w->sh == MAP_FAILED) {
		w->sh = NULL;
		return -errno;
	}
	/* A datagram each: the file's, then one per job; and a descriptor
	 * can come only on a socket. The second pair lends copies back. */
	int p[2], lp[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, p) < 0)
		return -errno;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, lp) < 0) {
		int e = errno;
		close(p[0]);
		close(p[1]);
		return -e;
	}
	w->manager = getpid();
	/* Held by this thread, the main one, until the manager ends: its
	 * exit hands the mutex to the storage process's death watch. Not
	 * fatal without it (the socket's end still lets go, later). */
	pthread_mutexattr_t ma;
	w->sh->alive_ok = pthread_mutexattr_init(&ma) == 0 &&
			  pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED) == 0 &&
			  pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST) == 0 &&
			  pthread_mutex_init(&w->sh->alive, &ma) == 0 && pthread_mutex_lock(&w->sh->alive) == 0;
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	pid_t pid = fork();
	if (pid == 0) {
		close(p[1]);
		close(lp[1]);
		process_main(w, p[0], lp[0]);
	}
	int e = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	close(p[0]);
	close(lp[0]);
	if (pid < 0) {
		close(p[1]);
		close(lp[1]);
		return -e;
	}
	w->pid = pid;
	w->req = p[1];
	w->lend = lp[1];
	return 0;
}

int worker_attach(struct worker *w, struct lockfile *lf)
{
	size_t len = strlen(lf->path);
	if (len >= sizeof(w->sh->path))
		return -ENAMETOOLONG;
	memcpy(&w->sh->lf, lf, sizeof(*lf));
	memcpy(w->sh->path, lf->path, len + 1);
	int r = send_file(w->req, 'f', lf->fd);
	if (r < 0)
		return r;
	w->lf = lf;
	w->started = true;
	return 0;
}

void worker_submit(struct worker *w, struct worker_job *job)
{
	/* The grant of the previous wait must not count for this one. */
	w->sh->granted = false;
	memcpy(&w->sh->job, job, sizeof(*job));
	w->sh->running = true;
	char c = 'j';
	/* A process that is gone fails the send (EPIPE, no SIGPIPE); the
	 * loop learns of it when it is reaped. */
	if (send(w->req, &c, 1, MSG_NOSIGNAL) < 0)
		w->sh->running = false;
}

bool worker_lends(const struct worker *w) { return w->started && !w->lf->poll && w->sh->lending; }

int worker_lend(struct worker *w, int64_t ms)
{
	if (!worker_lends(w) || w->lend < 0)
		return -ENOTCONN;
	/* A copy that came after an earlier request gave up is one all the
	 * same, but not one to keep in our queue. */
	int fd;
	while ((fd = receive_fd(w->lend, MSG_DONTWAIT)) >= 0 || fd == -EBADMSG)
		if (fd >= 0)
			close(fd);
	char c = 'l';
	if (send(w->lend, &c, 1, MSG_NOSIGNAL) < 0)
		return -errno;
	int64_t until = clock_ms() + ms;
	struct pollfd p = { .fd = w->lend, .events = POLLIN };
	for (;;) {
		int64_t left = until - clock_ms();
		int r = poll(&p, 1, left > 0 ? (int)left : 0);
		if (r > 0)
			return receive_fd(w->lend, MSG_DONTWAIT);
		if (r == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

void worker_collect(struct worker *w, struct worker_job *job) { memcpy(job, &w->sh->job, sizeof(*job)); }

bool worker_granted(struct worker *w) { return w->started && w->sh->granted; }

void worker_interrupt(struct worker *w)
{
	if (w->started)
		kill(w->pid, wake_signal());
}

bool worker_wait_idle(struct worker *w, int64_t ms)
{
	if (!w->started)
		return true;
	int64_t t0 = clock_ms();
	for (;;) {
		if (!w->sh->running && !w->sh->rounds.started_ms)
			return true;
		if (clock_ms() - t0 >= ms)
			return false;
		/* A lock wait ends at the next pause; any other call is left
		 * to return by itself (the signal cannot reach it). */
		worker_interrupt(w);
		struct timespec tick = { 0, 20L * 1000000 };
		nanosleep(&tick, NULL);
	}
}

unsigned worker_rounds_on(struct worker *w, bool report)
{
	struct worker_rounds *rd = &w->sh->rounds;
	unsigned gen = rd->gen + 1;
	rd->gen = gen;
	rd->hung = false;
	if (report)
		rd->report = true;
	rd->on = true;
	worker_interrupt(w); /* its wait between jobs looks at the schedule again */
	return gen;
}

void worker_rounds_off(struct worker *w)
{
	if (w->sh)
		w->sh->rounds.on = false;
}

bool worker_round_take(struct worker *w, struct worker_job *job, unsigned *gen)
{
	struct worker_rounds *rd = &w->sh->rounds;
	if (!rd->news)
		return false;
	memcpy(job, &rd->done, sizeof(*job));
	*gen = rd->done_gen;
	rd->news = false;
	return true;
}

void worker_workload(struct worker *w, pid_t pid)
{
	if (w->sh)
		atomic_store(&w->sh->workload, pid);
}

void worker_reaped(struct worker *w)
{
	w->started = false;
	w->sh->running = false;
}

void worker_guard_arm(struct worker *w, int64_t fence_ms, int64_t look_ms)
{
	if (!w->started)
		return;
	struct worker_guard *g = &w->sh->guard;
	int64_t now = clock_ms(), looked = g->looked_ms;
	/* The decision to take the role read the file under a look at its
	 * path, a moment ago: count from that look, never from later. */
	if (!looked || looked > now)
		looked = now;
	g->armed = false;
	g->fired = false;
	g->fired_replaced = false;
	g->fence_ms = fence_ms;
	g->look_ms = look_ms;
	g->looked_ms = looked;
	g->round_ms = looked;
	g->loop_due_ms = now;
	g->armed = true;
}

void worker_guard_disarm(struct worker *w)
{
	if (w->sh)
		w->sh->guard.armed = false;
}

void worker_guard_loop_due(struct worker *w, int64_t due)
{
	if (w->sh)
		w->sh->guard.loop_due_ms = due;
}

bool worker_guard_fired(const struct worker *w) { return w->sh && w->sh->guard.fired; }

void worker_stop(struct worker *w, bool may_kill)
{
	worker_guard_disarm(w);
	if (w->req >= 0)
		close(w->req); /* an idle process ends at once */
	w->req = -1;
	if (w->lend >= 0)
		close(w->lend);
	w->lend = -1;
	/* A job or a round in a call, or a process stopped by someone: on a
	 * local file system nothing is lost by ending it now, and it must
	 * not keep the locks of its open (the live lock) after we leave. */
	if (w->started && may_kill)
		kill(w->pid, SIGKILL);
	/* Not reaped here: the process may still be closing the file, which
	 * on a FUSE mount without its server takes the client's timeout. */
	w->started = false;
	close(w->efd);
}
