/* The health endpoint: libmicrohttpd parses and answers, on one thread
 * that serves every connection from epoll, so hundreds of clients held
 * open cost descriptors and a few KiB each, never a thread. The library
 * bounds connections in all and per address, their memory and their
 * idle time; it has no deadline for a request that trickles in, so a
 * watch thread of ours closes any connection whose request is not in
 * HTTP_REQUEST_TIMEOUT_MS after it was accepted. /status reads the lock
 * file on one reader thread of ours, each of its storage calls under the
 * commands' bound (bound.h): a hung storage keeps that thread, while the
 * request waits suspended (never on the library's thread); once a call
 * outlives --http-timeout, every /status waiting and every one that comes
 * until the call returns is answered 504 naming the file and the call. */
#include "understudy/http.h"
#include "understudy/bound.h"
#include "understudy/options.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "understudy/clock.h"
#include "understudy/group.h"
#include "understudy/log.h"
#include "understudy/loop.h"
#include "understudy/mhd.h"
#include "understudy/text.h"
#include "understudy/timeline.h"

/* One accepted connection, from the library's notice that it opened to
 * the one that it closed (freed then, under mu). Every connection carries
 * one request: each answer says Connection: close. */
struct conn {
	struct conn *prev, *next; /* on the server's pending or waiting list, or neither */
	struct MHD_Connection *c;
	int fd; /* the library's: it closes it only after on_connection's CLOSED */
	/* PENDING: its request not in yet (on pending); CUT: shut down by the
	 * watch for that; SERVED: its request in; WAITING: a suspended
	 * /status (on waiting); RESUMED: that /status, its answer in code and
	 * text. */
	enum { C_PENDING, C_CUT, C_SERVED, C_WAITING, C_RESUMED } state;
	int64_t deadline_ms; /* pending: the whole request by then */
	uint64_t want;       /* waiting: the look it waits for */
	unsigned code;
	char *text;
};

/* Oldest first: every deadline is its start plus one constant, so the
 * head of a list is always the first to expire. */
struct conn_list {
	struct conn *head, *tail;
};

/* The library, loaded by the first http_start() (mhd.h). */
static const struct mhd_api *mhd;

struct http_server {
	struct MHD_Daemon *daemon;
	int fd;
	struct http_config cfg;
	pthread_mutex_t mu;
	pthread_cond_t cond;  /* reader's: a look asked for; on CLOCK_MONOTONIC */
	pthread_cond_t wcond; /* watch's: a new first deadline, or stopping */
	pthread_t reader, watch;
	bool reader_started, watch_started, reading, stopping;
	uint64_t asked, answered; /* /status looks asked for and done, counted */
	/* The reader's bound, and while a call of its outlives it, the
	 * answer to every /status (JSON, naming the file and the call). */
	struct bound *bound;
	char *stuck;
	/* Connections still sending their request, and /status requests
	 * suspended until a look answers them. */
	struct conn_list pending, waiting;
	/* The live's heartbeat as looks saw it: hosts' clocks disagree, so it
	 * is "advancing" only when this host saw the counter move. */
	bool beat_seen;
	uint64_t beat_epoch, beat;
	int64_t beat_moved_ms; /* when a look first saw the current value; 0: never seen to move */
	/* The warnings' budget (see HTTP_LOG_BURST), under its own lock: the
	 * library logs while holding its own locks, which must never wait
	 * for mu (mu is held while calling into the library). */
	pthread_mutex_t log_mu;
	int64_t log_window_ms;
	unsigned log_count, log_dropped;
};

static void list_append(struct conn_list *l, struct conn *c)
{
	c->next = NULL;
	c->prev = l->tail;
	if (l->tail)
		l->tail->next = c;
	else
		l->head = c;
	l->tail = c;
}

static void list_remove(struct conn_list *l, struct conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		l->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		l->tail = c->prev;
	c->prev = c->next = NULL;
}

/* --- warnings ---------------------------------------------------------------- */

/* Report what the budget left out once its window is over. log_mu held. */
static void log_window(struct http_server *s, int64_t now)
{
	if (now - s->log_window_ms < HTTP_LOG_WINDOW_MS)
		return;
	if (s->log_dropped)
		log_warn("http: %u more warnings like these in the last %d s, not shown", s->log_dropped,
			 (int)((now - s->log_window_ms) / 1000));
	s->log_window_ms = now;
	s->log_count = s->log_dropped = 0;
}

/* A warning about clients, within the budget, escaped: the library's
 * messages may quote what a client sent. */
static void http_warn(struct http_server *s, const char *msg)
{
	char line[512], out[1024];
	/* The library ends its messages with a newline. */
	snprintf(line, sizeof(line), "%s", msg);
	for (size_t n = strlen(line); n && line[n - 1] == '\n';)
		line[--n] = '\0';
	text_escape(line, out, sizeof(out), 0);
	pthread_mutex_lock(&s->log_mu);
	log_window(s, clock_ms());
	if (s->log_count < HTTP_LOG_BURST) {
		s->log_count++;
		log_warn("http: %s", out);
	} else {
		s->log_dropped++;
	}
	pthread_mutex_unlock(&s->log_mu);
}

/* --- /status: the reader thread -------------------------------------------- */

/* Every /status answer is one JSON object. Without a look, it is
 * {"error": message, "file": path}, and for a call past its bound also
 * "call" and "timeout_ms"; NULL when out of memory. */
static char *json_error(const char *message, const char *file, const struct bound_expiry *e)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return NULL;
	fputs("{\"error\":", f);
	group_json_string(f, message);
	if (file) {
		fputs(",\"file\":", f);
		group_json_string(f, file);
	}
	if (e) {
		fputs(",\"call\":", f);
		group_json_string(f, e->what);
		fprintf(f, ",\"timeout_ms\":%lld", (long long)e->ms);
	}
	fputs("}\n", f);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* One look at the group, as JSON; or why there is none. Runs on the
 * reader thread only, so the heartbeat history needs no lock. Each
 * storage call is named to the reader's bound. */
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
	bound_doing("opening the file");
	int r = lockfile_open(&lf, s->cfg.lock_path, LF_OPEN_READ);
	bound_idle();
	if (r < 0) {
		char msg[512];
		lockfile_strerror(&lf, msg, sizeof(msg));
		*text = json_error(msg, s->cfg.lock_path, NULL);
		goto out;
	}
	r = group_look(&lf, g);
	bound_doing("closing the file");
	lockfile_close(&lf);
	bound_idle();
	if (r < 0) {
		char msg[512];
		snprintf(msg, sizeof(msg), "%s: %s", s->cfg.lock_path,
			 r == -EBADMSG ? "header changed under us: not ours" : strerror(-r));
		*text = json_error(msg, s->cfg.lock_path, NULL);
		goto out;
	}
	const struct lf_live *live = &g->view.live;
	int64_t now = clock_ms(), interval = live->heartbeat_ms ? (int64_t)live->heartbeat_ms : 1000;
	bool advancing = false;
	if (g->has_live) {
		bool moved = s->beat_seen && (live->epoch != s->beat_epoch || live->heartbeat != s->beat);
		if (moved)
			s->beat_moved_ms = now;
		/* Moved since the last look (however long ago that was), or
		 * seen moving within two of its intervals. */
		advancing = moved || (s->beat_moved_ms && now - s->beat_moved_ms <= timeline_still_seen_ms(interval));
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

/* Answer a suspended /status: off the waiting list, its answer set, back
 * to the library, which calls on_request again to send it. Only the one
 * that takes it off the list resumes it, so it is resumed exactly once,
 * and while suspended the library never closes it. mu held. */
static void resume(struct http_server *s, struct conn *c, unsigned code, char *text)
{
	list_remove(&s->waiting, c);
	c->state = C_RESUMED;
	c->code = code;
	c->text = text;
	mhd->resume_connection(c->c);
}

/* The reader's bound ran out (on the watchdog's thread): every /status
 * waiting gets the 504 now, and every one that comes gets it at once
 * until the call returns; the reader stays in the call. */
static void reader_stuck(void *arg, const struct bound_expiry *e)
{
	struct http_server *s = arg;
	char *text = json_error(e->msg, e->path, e);
	pthread_mutex_lock(&s->mu);
	free(s->stuck);
	s->stuck = text;
	struct conn *c;
	while (!s->stopping && (c = s->waiting.head)) {
		char *t = text ? strdup(text) : NULL;
		resume(s, c, t ? 504 : 500, t);
	}
	pthread_mutex_unlock(&s->mu);
	log_warn("http: /status: %s", e->msg);
}

static void *reader_main(void *arg)
{
	struct http_server *s = arg;
	bound_attach(s->bound);
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
		s->answered = gen;
		free(s->stuck);
		s->stuck = NULL;
		/* Every request that came before this look began: a look
		 * older than the request would answer with the past. */
		struct conn *c;
		while ((c = s->waiting.head) && c->want <= gen) {
			char *t = text ? strdup(text) : NULL;
			resume(s, c, t ? code : 500, t);
		}
		free(text);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* --- the watch: deadlines the library does not keep --------------------------- */

/* The library times out only a connection that sends nothing at all for
 * its idle timeout; one that trickles a header line a second would hold
 * its place for ever. The watch keeps that deadline, sleeping until the
 * first of them. (A suspended /status is the reader's bound's to end.) */
static void *watch_main(void *arg)
{
	struct http_server *s = arg;
	pthread_mutex_lock(&s->mu);
	while (!s->stopping) {
		int64_t now = clock_ms(), next = INT64_MAX;
		unsigned cut = 0;
		struct conn *c;
		while ((c = s->pending.head) && c->deadline_ms <= now) {
			list_remove(&s->pending, c);
			c->state = C_CUT;
			/* The library reads the end of the stream and closes
			 * the connection. The descriptor is still the
			 * library's: it closes it only after telling
			 * on_connection, which waits for mu. */
			shutdown(c->fd, SHUT_RDWR);
			cut++;
		}
		if (cut) {
			char msg[160];
			snprintf(msg, sizeof(msg),
				 "closed %u connection%s without a whole request %d ms after accepting it", cut,
				 cut == 1 ? "" : "s", HTTP_REQUEST_TIMEOUT_MS);
			http_warn(s, msg);
		}
		if (s->pending.head)
			next = s->pending.head->deadline_ms;
		/* Warnings left out are counted once their window ends, even
		 * when no warning comes after them. */
		pthread_mutex_lock(&s->log_mu);
		log_window(s, now);
		if (s->log_dropped && s->log_window_ms + HTTP_LOG_WINDOW_MS < next)
			next = s->log_window_ms + HTTP_LOG_WINDOW_MS;
		pthread_mutex_unlock(&s->log_mu);
		if (next == INT64_MAX) {
			pthread_cond_wait(&s->wcond, &s->mu);
		} else {
			struct timespec until = { .tv_sec = next / 1000, .tv_nsec = (long)(next % 1000) * 1000000L };
			pthread_cond_timedwait(&s->wcond, &s->mu, &until);
		}
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* The library opened or closed a connection. Each one is followed from
 * here, so that the watch can close it if its request is not in by its
 * deadline. */
static void on_connection(void *cls, struct MHD_Connection *mc, void **ctx, enum MHD_ConnectionNotificationCode what)
{
	struct http_server *s = cls;
	struct conn *c = *ctx;
	if (what == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *fd = mhd->get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);
		if (!fd)
			return;
		if (!(c = calloc(1, sizeof(*c)))) {
			/* No connection without a deadline: refuse it. */
			shutdown(fd->connect_fd, SHUT_RDWR);
			return;
		}
		c->c = mc;
		c->fd = fd->connect_fd;
		c->state = C_PENDING;
		c->deadline_ms = clock_ms() + HTTP_REQUEST_TIMEOUT_MS;
		pthread_mutex_lock(&s->mu);
		if (!s->pending.head)
			pthread_cond_signal(&s->wcond);
		list_append(&s->pending, c);
		pthread_mutex_unlock(&s->mu);
		*ctx = c;
		return;
	}
	if (!c)
		return;
	pthread_mutex_lock(&s->mu);
	if (c->state == C_PENDING)
		list_remove(&s->pending, c);
	else if (c->state == C_WAITING)
		list_remove(&s->waiting, c);
	pthread_mutex_unlock(&s->mu);
	free(c->text);
	free(c);
	*ctx = NULL;
}

/* --- requests ----------------------------------------------------------------- */

static enum MHD_Result reply(struct MHD_Connection *c, unsigned code, const char *type, const char *body,
			     const char *allow)
{
	struct MHD_Response *r =
		mhd->create_response_from_buffer(strlen(body), (void *)(uintptr_t)body, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	mhd->add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	mhd->add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	/* One request per connection: a kept-alive connection would be one
	 * more that an idle client holds. */
	mhd->add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
	if (allow)
		mhd->add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
	enum MHD_Result ret = mhd->queue_response(c, code, r);
	mhd->destroy_response(r);
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
	const char *cl = mhd->lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	const char *te = mhd->lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
	return te || (cl && strspn(cl, "0") != strlen(cl));
}

/* Set on the library's thread when on_request closes a connection after
 * its 431: the library then logs that the application reported an
 * internal error, which this one was not. */
static _Thread_local bool closing_after_431;

/* 431 for a request line and headers over HTTP_REQUEST_MAX. The library
 * answers 431 itself only when a request overflows its memory; one that
 * fits but leaves under a few hundred bytes of it (a band just under
 * HTTP_CONNECTION_MEMORY, where depends on the number of headers) leaves
 * it no room to write a reply, and it would close the connection without
 * one. So this answer is written to the socket directly: nothing has
 * been sent on it yet and it is far smaller than any socket buffer, so
 * one send takes it whole. MHD_NO then has the library close the
 * connection (after it, in order, on the same socket). */
static enum MHD_Result too_large(struct http_server *s, struct MHD_Connection *mc, size_t size)
{
	static const char text[] = "HTTP/1.1 431 Request Header Fields Too Large\r\n"
				   "Connection: close\r\n"
				   "Content-Type: text/plain\r\n"
				   "Cache-Control: no-store\r\n"
				   "Content-Length: 44\r\n"
				   "\r\n"
				   "the request line and headers are over 8 KiB\n";
	_Static_assert(HTTP_REQUEST_MAX == 8192, "the text says 8 KiB");
	const union MHD_ConnectionInfo *fd = mhd->get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);
	const union MHD_ConnectionInfo *ca = mhd->get_connection_info(mc, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	char who[INET6_ADDRSTRLEN] = "?", msg[160];
	if (ca && ca->client_addr->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)ca->client_addr)->sin_addr, who,
			  sizeof(who));
	else if (ca && ca->client_addr->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)ca->client_addr)->sin6_addr, who,
			  sizeof(who));
	snprintf(msg, sizeof(msg), "%s: a request line and headers of %zu bytes, over %d: answered 431", who, size,
		 HTTP_REQUEST_MAX);
	http_warn(s, msg);
	/* A client already gone gets nothing: the close follows either way. */
	if (fd)
		(void)send(fd->connect_fd, text, sizeof(text) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
	closing_after_431 = true;
	return MHD_NO;
}

/* /status while the endpoint stops. */
#define STOPPING "{\"error\":\"stopping: this node is leaving the group or joining it again\"}\n"
#define NO_MEMORY "{\"error\":\"out of memory\"}\n"

/* /status: ask the reader for a look begun after this request arrived,
 * and suspend the request until the look (or the reader's bound, when a
 * call of the look outlives it) resumes it: the library's one thread
 * goes on answering /health meanwhile. While the reader is in a call
 * that already outlived its bound, no look can begin: 504 at once. */
static enum MHD_Result status_wait(struct http_server *s, struct MHD_Connection *mc, struct conn *c)
{
	if (!c) /* on_connection had no memory for it */
		return reply(mc, MHD_HTTP_INTERNAL_SERVER_ERROR, "application/json", NO_MEMORY, NULL);
	pthread_mutex_lock(&s->mu);
	if (s->stopping) {
		pthread_mutex_unlock(&s->mu);
		return reply(mc, MHD_HTTP_SERVICE_UNAVAILABLE, "application/json", STOPPING, NULL);
	}
	if (s->stuck) {
		char *text = strdup(s->stuck);
		pthread_mutex_unlock(&s->mu);
		enum MHD_Result r = reply(mc, text ? MHD_HTTP_GATEWAY_TIMEOUT : MHD_HTTP_INTERNAL_SERVER_ERROR,
					  "application/json", text ? text : NO_MEMORY, NULL);
		free(text);
		return r;
	}
	c->want = ++s->asked;
	c->state = C_WAITING;
	list_append(&s->waiting, c);
	pthread_cond_broadcast(&s->cond);
	/* Under mu, so that nobody resumes it before it is suspended. */
	mhd->suspend_connection(mc);
	pthread_mutex_unlock(&s->mu);
	return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *mc, const char *url, const char *method,
				  const char *version, const char *upload, size_t *upload_size, void **state)
{
	struct http_server *s = cls;
	const union MHD_ConnectionInfo *ci = mhd->get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct conn *c = ci ? ci->socket_context : NULL;
	/* MHD calls once when the headers are in, again per piece of a body
	 * (never read: the answer comes on the first call), and again for a
	 * /status that was suspended and is resumed with its answer. */
	if (*state) {
		if (!c)
			return MHD_NO;
		pthread_mutex_lock(&s->mu);
		bool resumed = c->state == C_RESUMED;
		unsigned code = c->code;
		c->state = C_SERVED;
		pthread_mutex_unlock(&s->mu);
		if (!resumed)
			return MHD_NO;
		return reply(mc, code, "application/json", c->text ? c->text : NO_MEMORY, NULL);
	}
	*state = s;
	if (c) {
		pthread_mutex_lock(&s->mu);
		if (c->state == C_PENDING)
			list_remove(&s->pending, c);
		c->state = C_SERVED;
		pthread_mutex_unlock(&s->mu);
	}
	const union MHD_ConnectionInfo *hs = mhd->get_connection_info(mc, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
	if (hs && hs->header_size > HTTP_REQUEST_MAX)
		return too_large(s, mc, hs->header_size);
	bool health = strcmp(url, "/health") == 0, status = strcmp(url, "/status") == 0;
	bool metrics = strcmp(url, "/metrics") == 0;
	if (!health && !status && !metrics)
		return reply(mc, MHD_HTTP_NOT_FOUND, "text/plain", "not found: only /health, /status and /metrics\n",
			     NULL);
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return reply(mc, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", "only GET and HEAD\n", "GET, HEAD");
	if (has_body(mc) || *upload_size)
		return reply(mc, MHD_HTTP_CONTENT_TOO_LARGE, "text/plain", "no request body is accepted\n", NULL);
	if (health) {
		unsigned code;
		const char *text = health_text(*s->cfg.health, &code);
		return reply(mc, code, "text/plain", text, NULL);
	}
	if (metrics) {
		/* Counters in memory the loop writes: no storage call, so no
		 * wait, as for /health. */
		char *text = s->cfg.metrics ? metrics_render(s->cfg.metrics, &s->cfg.labels) : NULL;
		enum MHD_Result r =
			text ? reply(mc, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", text, NULL)
			     : reply(mc, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain", "out of memory\n", NULL);
		free(text);
		return r;
	}
	return status_wait(s, mc, c);
}

__attribute__((format(printf, 2, 0))) static void on_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	bool after_431 = closing_after_431;
	closing_after_431 = false;
	if (after_431 && !strncmp(msg, "Application reported", 20))
		return; /* too_large said what happened */
	http_warn(cls, msg);
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

/* HTTP_CONNECTIONS, or fewer when the soft limit on open files would
 * leave the node less than HTTP_FD_RESERVE descriptors: an endpoint full
 * of clients must never make the node's own opens fail. */
static unsigned connection_limit(const char *address)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY ||
	    rl.rlim_cur >= HTTP_CONNECTIONS + HTTP_FD_RESERVE)
		return HTTP_CONNECTIONS;
	unsigned limit = rl.rlim_cur > HTTP_FD_RESERVE + 16 ? (unsigned)(rl.rlim_cur - HTTP_FD_RESERVE) : 16;
	log_warn("--http %s: at most %u connections at once, not %d: the soft limit on open files is %llu", address,
		 limit, HTTP_CONNECTIONS, (unsigned long long)rl.rlim_cur);
	return limit;
}

static void stop_threads(struct http_server *s)
{
	pthread_mutex_lock(&s->mu);
	s->stopping = true;
	pthread_cond_broadcast(&s->cond);
	pthread_cond_broadcast(&s->wcond);
	pthread_mutex_unlock(&s->mu);
	if (s->watch_started)
		pthread_join(s->watch, NULL);
	if (s->reader_started)
		pthread_join(s->reader, NULL);
}

static void free_server(struct http_server *s)
{
	bound_free(s->bound);
	free(s->stuck);
	pthread_cond_destroy(&s->wcond);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->log_mu);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

int http_start(const struct http_config *cfg, struct http_server **out, char *why, size_t n)
{
	int r = 0;
	sigset_t all, old;
	pthread_condattr_t ca;
	if (!mhd && !(mhd = mhd_load(why, n)))
		return -ELIBACC;
	struct http_server *s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(why, n, "--http %s: out of memory", cfg->address);
		return -ENOMEM;
	}
	s->cfg = *cfg;
	s->fd = -1;
	s->log_window_ms = clock_ms();
	pthread_mutex_init(&s->mu, NULL);
	pthread_mutex_init(&s->log_mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cond, &ca);
	pthread_cond_init(&s->wcond, &ca);
	pthread_condattr_destroy(&ca);
	if ((s->fd = listen_on(cfg->address, why, n)) < 0) {
		r = s->fd;
		goto out;
	}
	if (!(s->bound = bound_new(cfg->lock_path, cfg->timeout_ms, reader_stuck, s))) {
		snprintf(why, n, "--http %s: cannot start the watchdog of the storage calls", cfg->address);
		r = -ENOMEM;
		goto out;
	}
	unsigned limit = connection_limit(cfg->address);
	/* Threads inherit the mask: signals must reach only the loop's
	 * signalfd, never end the process on one of these threads. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	if ((r = -pthread_create(&s->reader, NULL, reader_main, s)) == 0)
		s->reader_started = true;
	if (r == 0 && (r = -pthread_create(&s->watch, NULL, watch_main, s)) == 0)
		s->watch_started = true;
	/* One thread answers every connection from epoll: hundreds held
	 * open cost descriptors and memory, not threads, and /status waits
	 * suspended rather than on that thread. */
	struct MHD_OptionItem limits[] = {
		{ MHD_OPTION_LISTEN_SOCKET, s->fd, NULL },
		{ MHD_OPTION_CONNECTION_LIMIT, limit, NULL },
		{ MHD_OPTION_PER_IP_CONNECTION_LIMIT, HTTP_CONNECTIONS_PER_IP, NULL },
		{ MHD_OPTION_CONNECTION_TIMEOUT, HTTP_IDLE_TIMEOUT_S, NULL },
		{ MHD_OPTION_CONNECTION_MEMORY_LIMIT, HTTP_CONNECTION_MEMORY, NULL },
		{ MHD_OPTION_END, 0, NULL },
	};
	if (r == 0)
		s->daemon = mhd->start_daemon(
			MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG,
			0, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, on_log, s,
			MHD_OPTION_NOTIFY_CONNECTION, on_connection, s, MHD_OPTION_ARRAY, limits, MHD_OPTION_END);
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
	stop_threads(s);
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
	 * once even when the storage hangs; the library must not be stopped
	 * with a request suspended. */
	pthread_mutex_lock(&s->mu);
	s->stopping = true;
	pthread_cond_broadcast(&s->cond);
	pthread_cond_broadcast(&s->wcond);
	struct conn *c;
	while ((c = s->waiting.head))
		resume(s, c, MHD_HTTP_SERVICE_UNAVAILABLE, strdup(STOPPING));
	bool stuck = s->reading;
	pthread_mutex_unlock(&s->mu);
	/* The watch first: it calls into the library. */
	pthread_join(s->watch, NULL);
	/* MHD closes the listening socket it was given, and every
	 * connection (on_connection frees them). */
	mhd->stop_daemon(s->daemon);
	if (stuck) {
		/* In a storage call that may never return: left to the
		 * process's exit, with what it uses. */
		pthread_detach(s->reader);
		return;
	}
	pthread_join(s->reader, NULL);
	free_server(s);
}
