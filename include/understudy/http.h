/* The health endpoint of `understudy run --http ADDR:PORT`, for load
 * balancers: GET /health (200 only on the live node with its workload
 * running) and GET /status (the JSON of `status --json`). It runs on
 * libmicrohttpd's threads and only reads what the event loop publishes,
 * so it can never hold the node back; the lock file it reads for /status
 * is opened on a thread of its own, which a hung storage may keep, never
 * the loop's. */
#ifndef UNDERSTUDY_HTTP_H
#define UNDERSTUDY_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Requests served at once: more connections are refused, so a flood of
 * them costs a bounded number of threads. */
#define HTTP_CONNECTIONS 16
#define HTTP_CONNECTIONS_PER_IP 8
/* A request's line and headers must fit here (it bounds their size). */
#define HTTP_REQUEST_MEMORY 8192
/* A connection idle this long is closed. */
#define HTTP_IDLE_TIMEOUT_S 5
/* /status waits this long for the storage, then answers 504. */
#define HTTP_STATUS_WAIT_MS 3000

struct http_server;

struct http_config {
	const char *address;       /* ADDR:PORT, already checked */
	const char *lock_path;     /* read for /status */
	const _Atomic int *health; /* enum loop_health, as the loop publishes it */
};

/* Bind to the address and serve from threads of the server's own, with
 * every signal blocked in them (the loop takes signals on its signalfd).
 * Returns 0 with *out set, or -errno with why naming the address. */
int http_start(const struct http_config *cfg, struct http_server **out, char *why, size_t n);
/* Stop serving, waiting at most for the requests being answered. */
void http_stop(struct http_server *s);

#endif
