/* The HTTP library, loaded only when a manager serves --http.
 *
 * libmicrohttpd brings GnuTLS and eight more libraries with it: linked
 * into the binary, every manager would map them and pay their memory
 * and start-up relocations, though most never serve HTTP. Loaded with
 * dlopen() on the first http_start(), they cost only the managers that
 * use them. The build still takes the library's header from pkg-config,
 * so the calls below are checked against its prototypes. */
#ifndef UNDERSTUDY_MHD_H
#define UNDERSTUDY_MHD_H

#include <stddef.h>
#include <stdint.h>

#include <microhttpd.h>

/* The library's functions that http.c calls, by the names it gives them. */
struct mhd_api {
	struct MHD_Daemon *(*start_daemon)(unsigned int flags, uint16_t port, MHD_AcceptPolicyCallback apc,
					   void *apc_cls, MHD_AccessHandlerCallback dh, void *dh_cls, ...);
	void (*stop_daemon)(struct MHD_Daemon *daemon);
	struct MHD_Response *(*create_response_from_buffer)(size_t size, void *buffer,
							    enum MHD_ResponseMemoryMode mode);
	enum MHD_Result (*add_response_header)(struct MHD_Response *response, const char *header, const char *content);
	enum MHD_Result (*queue_response)(struct MHD_Connection *connection, unsigned int status_code,
					  struct MHD_Response *response);
	void (*destroy_response)(struct MHD_Response *response);
	const union MHD_ConnectionInfo *(*get_connection_info)(struct MHD_Connection *connection,
							       enum MHD_ConnectionInfoType info_type, ...);
	const char *(*lookup_connection_value)(struct MHD_Connection *connection, enum MHD_ValueKind kind,
					       const char *key);
	void (*suspend_connection)(struct MHD_Connection *connection);
	void (*resume_connection)(struct MHD_Connection *connection);
};

/* Load the library once (later calls answer the same table): the table,
 * or NULL with why (naming the library and dlerror's words) filled in. */
const struct mhd_api *mhd_load(char *why, size_t n);

#endif
