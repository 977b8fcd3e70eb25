/* The health endpoint of `understudy run --http ADDR:PORT`, for load
 * balancers: GET /health (200 only on the live node with its workload
 * running), GET /status (the JSON of `status --json`) and GET /metrics
 * (the node's figures for Prometheus, metrics.h). It runs on
 * threads of its own (libmicrohttpd's event thread, a reader of the lock
 * file, a watch of deadlines) and only reads what the event loop
 * publishes, so it can never hold the node back; the lock file it reads
 * for /status is opened on the reader, which a hung storage may keep,
 * never the loop's thread nor the one that answers /health. Each call of
 * the reader is bounded as the commands' are (bound.h): past the bound,
 * /status answers 504 with a JSON error naming the file and the call. */
#ifndef UNDERSTUDY_HTTP_H
#define UNDERSTUDY_HTTP_H

#include "understudy/metrics.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Connections held at once, in any state; a new one beyond it is closed
 * at once. Each costs a descriptor and a few KiB, never a thread, so a
 * flood of hundreds from many addresses leaves room for the probes. It
 * is lowered to leave HTTP_FD_RESERVE of the soft RLIMIT_NOFILE to the
 * node itself: an endpoint must never starve it of descriptors. */
#define HTTP_CONNECTIONS 512
#define HTTP_FD_RESERVE 256
/* Of them, from one client address: a probe from an address that holds
 * this many already is closed unanswered. */
#define HTTP_CONNECTIONS_PER_IP 8
/* A request line and headers longer than this are answered 431. */
#define HTTP_REQUEST_MAX 8192
/* The library's memory for one connection: twice the longest request we
 * answer, so that a request a little over it still leaves room for the
 * 431 (the library writes its reply into the same memory). */
#define HTTP_CONNECTION_MEMORY 16384
/* A connection must have sent its whole request this long after it was
 * accepted, however it trickles in; it is closed otherwise. Every answer
 * closes its connection too, so no connection outlives its one request
 * by more than HTTP_IDLE_TIMEOUT_S of a client not reading the answer. */
#define HTTP_REQUEST_TIMEOUT_MS 2000
#define HTTP_IDLE_TIMEOUT_S 2
/* --http-timeout's default: how long one storage call of /status may take
 * before it is answered 504. Under a load balancer's usual 5 s check. */
#define HTTP_TIMEOUT_MS 3000
/* The library's and our own warnings about clients: at most this many
 * per window, then a count of those left out, so that a flood never
 * floods the log (nor makes journald drop the node's own lines). */
#define HTTP_LOG_BURST 5
#define HTTP_LOG_WINDOW_MS 10000

struct http_server;

struct http_config {
	const char *address;           /* ADDR:PORT, already checked */
	const char *lock_path;         /* read for /status */
	int64_t timeout_ms;            /* --http-timeout: each storage call's bound */
	const _Atomic int *health;     /* enum loop_health, as the loop publishes it */
	const struct metrics *metrics; /* as the loop counts them */
	struct metrics_labels labels;
};

/* Bind to the address and serve from threads of the server's own, with
 * every signal blocked in them (the loop takes signals on its signalfd).
 * Returns 0 with *out set, or -errno with why naming the address. */
int http_start(const struct http_config *cfg, struct http_server **out, char *why, size_t n);
/* Stop serving, waiting at most for the requests being answered. */
void http_stop(struct http_server *s);

#endif
