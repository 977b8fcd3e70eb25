/* The storage worker thread. */
#include "understudy/worker.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

static int wake_signal(void) { return SIGRTMIN + 2; }

static void on_wake(int sig) { (void)sig; }

/* Wait for a lock with only the wake-up signal deliverable, so that
 * nothing but worker_interrupt can cut a wait short and no other call of
 * this thread ever sees EINTR. (Off a local file system the lock file
 * layer waits by tries, and the signal cuts only the pause between them:
 * it is blocked inside each try, since a signal inside a FUSE call sends
 * the daemon an interrupt, which GlusterFS's client can deadlock on.) */
static int wait_lock(struct worker *w, enum lf_lock which)
{
	sigset_t wake;
	sigemptyset(&wake);
	sigaddset(&wake, wake_signal());
	pthread_sigmask(SIG_UNBLOCK, &wake, NULL);
	int r = lockfile_lock(w->lf, which, true);
	pthread_sigmask(SIG_BLOCK, &wake, NULL);
	return r;
}

/* Read the file and the facts a decision needs beyond it. */
static int read_view(struct worker *w, struct worker_job *j)
{
	int r = lockfile_read(w->lf, &j->view);
	if (r < 0)
		return r;
	j->have_view = true;
	j->target_alive = false;
	j->target_state = 0;
	j->backup_waiting = false;
	const struct lf_view *v = &j->view;
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

static int run(struct worker *w, struct worker_job *j)
{
	int r = 0;
	switch (j->op) {
	case WORKER_CLAIM_SLOT:
		r = lockfile_claim_slot(w->lf);
		if (r >= 0) {
			int e = lockfile_write_slot(w->lf, r, &j->slot);
			if (e < 0)
				return e;
		}
		break;
	case WORKER_WRITE_SLOT: r = lockfile_write_slot(w->lf, j->my_slot, &j->slot); break;
	case WORKER_TRY_LIVE: r = lockfile_lock(w->lf, LF_LOCK_LIVE, false); break;
	case WORKER_WAIT_LIVE:
		r = wait_lock(w, LF_LOCK_LIVE);
		w->granted = r == 0;
		break;
	case WORKER_WAIT_BACKUP: r = wait_lock(w, LF_LOCK_BACKUP); break;
	case WORKER_RELEASE_LIVE: r = lockfile_unlock(w->lf, LF_LOCK_LIVE); break;
	case WORKER_RELEASE_BACKUP: r = lockfile_unlock(w->lf, LF_LOCK_BACKUP); break;
	case WORKER_WRITE_LIVE:
		r = lockfile_take_live(w->lf, &j->live, j->seq);
		if (r > 0)
			r = 0; /* the live node's first check sees F */
		break;
	case WORKER_WRITE_STATUS: r = lockfile_write_status(w->lf, j->status); break;
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
	case WORKER_HEARTBEAT:
		/* Another's record means another is live: the read below shows
		 * it, and the node fences. Nothing was written over it. */
		r = lockfile_heartbeat(w->lf, &j->live);
		if (r == -ESTALE)
			r = 0;
		break;
	}
	/* A lock just taken is read at once (the decision needs the file as
	 * it is under the lock); a lost race or a timed-out wait only when
	 * asked. */
	bool got = (r == 0 && (j->op == WORKER_TRY_LIVE || j->op == WORKER_WAIT_LIVE)) ||
		   (r >= 0 && j->op == WORKER_CLAIM_SLOT && j->want_view);
	bool missed = (r == -EAGAIN || r == -EINTR) && j->want_view;
	if (got || missed || (r == 0 && j->want_view)) {
		int e = read_view(w, j);
		/* A new slot's view is only news for people: not worth losing
		 * the slot over. */
		if (e < 0 && j->op != WORKER_CLAIM_SLOT)
			return e;
	}
	return r;
}

static void *thread_main(void *arg)
{
	struct worker *w = arg;
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->job && !w->quit)
			pthread_cond_wait(&w->cv, &w->mu);
		if (w->quit)
			break;
		struct worker_job *j = w->job;
		w->job = NULL;
		w->running = true;
		pthread_mutex_unlock(&w->mu);
		j->have_view = false;
		w->granted = false;
		j->res = run(w, j);
		pthread_mutex_lock(&w->mu);
		w->running = false;
		uint64_t one = 1;
		/* The mutex orders the job's results before the loop reads them. */
		if (write(w->efd, &one, sizeof(one)) < 0)
			break;
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

int worker_start(struct worker *w, struct lockfile *lf)
{
	memset(w, 0, sizeof(*w));
	w->lf = lf;
	w->efd = eventfd(0, EFD_CLOEXEC);
	if (w->efd < 0)
		return -errno;
	struct sigaction sa = { .sa_handler = on_wake }; /* no SA_RESTART: the wait must end */
	sigemptyset(&sa.sa_mask);
	if (sigaction(wake_signal(), &sa, NULL) < 0)
		return -errno;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	int r = pthread_create(&w->thread, NULL, thread_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0)
		return -r;
	w->started = true;
	return 0;
}

void worker_submit(struct worker *w, struct worker_job *job)
{
	pthread_mutex_lock(&w->mu);
	/* Now, not when the thread picks the job up: until then a grant of
	 * the previous wait must not count for this one. */
	w->granted = false;
	w->job = job;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

bool worker_granted(struct worker *w) { return w->granted; }

void worker_interrupt(struct worker *w)
{
	if (w->started)
		pthread_kill(w->thread, wake_signal());
}

bool worker_wait_idle(struct worker *w, int64_t ms)
{
	if (!w->started)
		return true;
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		pthread_mutex_lock(&w->mu);
		bool idle = !w->running && !w->job;
		pthread_mutex_unlock(&w->mu);
		if (idle)
			return true;
		struct timespec t;
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 >= ms)
			return false;
		/* A lock wait ends at the next pause; any other call is left
		 * to return by itself (the signal cannot reach it). */
		worker_interrupt(w);
		struct timespec tick = { 0, 20 * 1000000 };
		nanosleep(&tick, NULL);
	}
}

void worker_stop(struct worker *w)
{
	if (!w->started)
		return;
	pthread_mutex_lock(&w->mu);
	bool idle = !w->running && !w->job;
	w->quit = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	if (idle)
		pthread_join(w->thread, NULL);
	else
		pthread_detach(w->thread);
	w->started = false;
	close(w->efd);
}
