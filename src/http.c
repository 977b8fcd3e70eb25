/* The health endpoint: libmicrohttpd parses and answers, one thread per
 * connection (at most HTTP_CONNECTIONS), so a /status that waits for the
 * storage never holds back a /health. /status reads the lock file on one
 * reader thread of ours: a hung storage keeps that thread, and requests
 * give up on it after HTTP_STATUS_WAIT_MS instead of piling up. */
#include "understudy/http.h"
#include "understudy/options.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "understudy/group.h"
#include "understudy/log.h"
#include "understudy/loop.h"

struct http_server {
	struct MHD_Daemon *daemon;
	int fd;
	struct http_config cfg;
	pthread_mutex_t mu;
	pthread_cond_t cond; /* on CLOCK_MONOTONIC */
	pthread_t reader;
	bool reader_started, reading, stopping;
	uint64_t asked, answered; /* /status looks asked for and done, counted */
	unsigned answer_code;
	char *answer; /* the last look: JSON, or why there is none */
	/* The live's heartbeat as looks saw it: hosts' clocks disagree, so it
	 * is "advancing" only when this host saw the counter move. */
	bool beat_seen;
	uint64_t beat_epoch, beat;
	int64_t beat_moved_ms; /* when a look first saw the current value; 0: never seen to move */
};

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --- /status: the reader thread -------------------------------------------- */

/* One look at the group, as JSON; or why there is none. Runs on the
 * reader thread only, so the heartbeat history needs no lock of its own
 * beyond the answer's. */
static void look(struct http_server *s, unsigned *code, char **text)
{
	struct lockfile lf;
	struct group_look *g = malloc(sizeof(*g));
	char *buf = NULL;
	size_t len = 0;
	*code = 503;
	*text = NULL;
	if (!g)
		return;
	if (lockfile_open(&lf, s->cfg.lock_path, LF_OPEN_READ) < 0) {
		char msg[512];
		lockfile_strerror(&lf, msg, sizeof(msg));
		if (asprintf(text, "%s\n", msg) < 0)
			*text = NULL;
		goto out;
	}
	int r = group_look(&lf, g);
	lockfile_close(&lf);
	if (r < 0) {
		if (asprintf(text, "%s: %s\n", s->cfg.lock_path,
			     r == -EBADMSG ? "header changed under us: not ours" : strerror(-r)) < 0)
			*text = NULL;
		goto out;
	}
	const struct lf_live *live = &g->view.live;
	int64_t now = mono_ms(), interval = live->heartbeat_ms ? (int64_t)live->heartbeat_ms : 1000;
	bool advancing = false;
	if (g->has_live) {
		bool moved = s->beat_seen && (live->epoch != s->beat_epoch || live->heartbeat != s->beat);
		if (moved)
			s->beat_moved_ms = now;
		/* Moved since the last look (however long ago that was), or
		 * seen moving within two of its intervals. */
		advancing = moved || (s->beat_moved_ms && now - s->beat_moved_ms <= 2 * interval);
		s->beat_seen = true;
		s->beat_epoch = live->epoch;
		s->beat = live->heartbeat;
	} else {
		s->beat_seen = false;
		s->beat_moved_ms = 0;
	}
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		goto out;
	group_print_json(f, g, advancing);
	if (fclose(f) == 0) {
		*code = 200;
		*text = buf;
		buf = NULL;
	}
out:
	free(buf);
	free(g);
}

static void *reader_main(void *arg)
{
	struct http_server *s = arg;
	pthread_mutex_lock(&s->mu);
	for (;;) {
		while (!s->stopping && s->answered == s->asked)
			pthread_cond_wait(&s->cond, &s->mu);
		if (s->stopping)
			break;
		uint64_t gen = s->asked;
		s->reading = true;
		pthread_mutex_unlock(&s->mu);
		unsigned code;
		char *text;
		look(s, &code, &text);
		pthread_mutex_lock(&s->mu);
		s->reading = false;
		free(s->answer);
		s->answer = text;
		s->answer_code = code;
		s->answered = gen;
		pthread_cond_broadcast(&s->cond);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* Ask the reader for a look begun after this request arrived, and wait
 * for it at most HTTP_STATUS_WAIT_MS. Returns the answer's status code
 * with *text malloc'd. */
static unsigned status_look(struct http_server *s, char **text)
{
	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += HTTP_STATUS_WAIT_MS / 1000;
	until.tv_nsec += (HTTP_STATUS_WAIT_MS % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	unsigned code = 504;
	*text = NULL;
	pthread_mutex_lock(&s->mu);
	uint64_t want = ++s->asked;
	pthread_cond_broadcast(&s->cond);
	while (s->answered < want && !s->stopping)
		if (pthread_cond_timedwait(&s->cond, &s->mu, &until) == ETIMEDOUT)
			break;
	if (s->answered >= want) {
		code = s->answer_code;
		*text = s->answer ? strdup(s->answer) : NULL;
	}
	pthread_mutex_unlock(&s->mu);
	if (!*text && code == 504 &&
	    asprintf(text, "%s: the storage did not answer within %d ms\n", s->cfg.lock_path, HTTP_STATUS_WAIT_MS) < 0)
		*text = NULL;
	return *text ? code : 500;
}

/* --- requests ----------------------------------------------------------------- */

static enum MHD_Result reply(struct MHD_Connection *c, unsigned code, const char *type, const char *body,
			     const char *allow)
{
	struct MHD_Response *r =
		MHD_create_response_from_buffer(strlen(body), (void *)(uintptr_t)body, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (allow)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
	enum MHD_Result ret = MHD_queue_response(c, code, r);
	MHD_destroy_response(r);
	return ret;
}

static const char *health_text(int h, unsigned *code)
{
	*code = 503;
	switch (h) {
	case LOOP_SERVING: *code = 200; return "live\n";
	case LOOP_STARTING: return "starting: live, the workload not ready\n";
	case LOOP_STANDING_BY: return "standby\n";
	default: return "down: joining, stopping or left the group\n";
	}
}

static bool has_body(struct MHD_Connection *c)
{
	const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	const char *te = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
	return te || (cl && strspn(cl, "0") != strlen(cl));
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
				  const char *version, const char *upload, size_t *upload_size, void **state)
{
	struct http_server *s = cls;
	/* MHD calls once when the headers are in, and again per piece of a
	 * body: answering on the first call means no body is ever read. */
	if (*state)
		return MHD_NO;
	*state = s;
	bool health = strcmp(url, "/health") == 0, status = strcmp(url, "/status") == 0;
	if (!health && !status)
		return reply(c, MHD_HTTP_NOT_FOUND, "text/plain", "not found: only /health and /status\n", NULL);
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", "only GET and HEAD\n", "GET, HEAD");
	if (has_body(c) || *upload_size)
		return reply(c, 413, "text/plain", "no request body is accepted\n", NULL);
	if (health) {
		unsigned code;
		const char *text = health_text(*s->cfg.health, &code);
		return reply(c, code, "text/plain", text, NULL);
	}
	char *text;
	unsigned code = status_look(s, &text);
	enum MHD_Result ret =
		reply(c, code, code == 200 ? "application/json" : "text/plain", text ? text : "out of memory\n", NULL);
	free(text);
	return ret;
}

__attribute__((format(printf, 2, 0))) static void on_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	log_warn("http: %s", msg);
}

/* --- the server ------------------------------------------------------------------ */

/* Our own socket, so that a busy port or a foreign address is an errno
 * to report, and the socket closes on exec (the workload and a rejoining
 * node must not inherit it). */
static int listen_on(const char *address, char *why, size_t n)
{
	struct sockaddr_storage sa;
	socklen_t len;
	int one = 1;
	if (options_address(address, &sa, &len, why, n) < 0)
		return -EINVAL;
	int fd = socket(sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		int e = errno;
		snprintf(why, n, "--http %s: socket: %s", address, strerror(e));
		return -e;
	}
	/* A rejoining node binds again while the old connections linger in
	 * TIME_WAIT; a port another process listens on stays refused. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    (sa.ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0) ||
	    bind(fd, (struct sockaddr *)&sa, len) < 0 || listen(fd, HTTP_CONNECTIONS) < 0) {
		int e = errno;
		snprintf(why, n, "--http %s: cannot listen: %s", address, strerror(e));
		close(fd);
		return -e;
	}
	return fd;
}

static void free_server(struct http_server *s)
{
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->mu);
	free(s->answer);
	free(s);
}

int http_start(const struct http_config *cfg, struct http_server **out, char *why, size_t n)
{
	int r = 0;
	sigset_t all, old;
	pthread_condattr_t ca;
	struct http_server *s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(why, n, "--http %s: out of memory", cfg->address);
		return -ENOMEM;
	}
	s->cfg = *cfg;
	s->fd = -1;
	pthread_mutex_init(&s->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cond, &ca);
	pthread_condattr_destroy(&ca);
	if ((s->fd = listen_on(cfg->address, why, n)) < 0) {
		r = s->fd;
		goto out;
	}
	/* Threads inherit the mask: signals must reach only the loop's
	 * signalfd, never end the process on one of these threads. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	if ((r = -pthread_create(&s->reader, NULL, reader_main, s)) == 0) {
		s->reader_started = true;
		s->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
						     MHD_USE_POLL | MHD_USE_ERROR_LOG,
					     0, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, on_log, s,
					     MHD_OPTION_LISTEN_SOCKET, s->fd, MHD_OPTION_CONNECTION_LIMIT,
					     (unsigned)HTTP_CONNECTIONS, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
					     (unsigned)HTTP_CONNECTIONS_PER_IP, MHD_OPTION_CONNECTION_TIMEOUT,
					     (unsigned)HTTP_IDLE_TIMEOUT_S, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
					     (size_t)HTTP_REQUEST_MEMORY, MHD_OPTION_END);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r < 0) {
		snprintf(why, n, "--http %s: starting a thread: %s", cfg->address, strerror(-r));
		goto out;
	}
	if (!s->daemon) {
		snprintf(why, n, "--http %s: the HTTP server did not start (see the message above)", cfg->address);
		/* Whether MHD closed the socket it failed with is not said:
		 * leave it to the exit that follows rather than close twice. */
		s->fd = -1;
		r = -EIO;
		goto out;
	}
	*out = s;
	return 0;
out:
	if (s->reader_started) {
		pthread_mutex_lock(&s->mu);
		s->stopping = true;
		pthread_cond_broadcast(&s->cond);
		pthread_mutex_unlock(&s->mu);
		pthread_join(s->reader, NULL);
	}
	if (s->fd >= 0)
		close(s->fd);
	free_server(s);
	return r;
}

void http_stop(struct http_server *s)
{
	if (!s)
		return;
	/* Requests waiting for the reader give up now, so this returns at
	 * once even when the storage hangs. */
	pthread_mutex_lock(&s->mu);
	s->stopping = true;
	pthread_cond_broadcast(&s->cond);
	bool stuck = s->reading;
	pthread_mutex_unlock(&s->mu);
	/* MHD closes the listening socket it was given. */
	MHD_stop_daemon(s->daemon);
	if (stuck) {
		/* In a storage call that may never return: left to the
		 * process's exit, with what it uses. */
		pthread_detach(s->reader);
		return;
	}
	pthread_join(s->reader, NULL);
	free_server(s);
}
