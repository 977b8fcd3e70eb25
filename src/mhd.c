/* Loading the HTTP library on demand: see include/understudy/mhd.h. */
#include "understudy/mhd.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#ifndef UNDERSTUDY_MHD_SONAME /* meson.build names it, having loaded it once */
#define UNDERSTUDY_MHD_SONAME "libmicrohttpd.so.12"
#endif

static struct mhd_api api;
static const struct mhd_api *loaded;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

/* dlsym() answers a void *; POSIX guarantees it converts to a function
 * pointer, and a memcpy says so without a cast C forbids. */
static int sym(void *lib, const char *name, void *fn, size_t size, char *why, size_t n)
{
	void *p = dlsym(lib, name);
	if (!p) {
		snprintf(why, n, "%s has no %s: %s", UNDERSTUDY_MHD_SONAME, name, dlerror());
		return -1;
	}
	memcpy(fn, &p, size);
	return 0;
}

#define SYM(field, name) sym(lib, name, &a.field, sizeof(a.field), why, n)

const struct mhd_api *mhd_load(char *why, size_t n)
{
	pthread_mutex_lock(&mu);
	if (loaded)
		goto out;
	/* RTLD_NOW: a missing symbol is found here, not on a request. The
	 * handle stays open for the process's life, as a linked library
	 * would. */
	void *lib = dlopen(UNDERSTUDY_MHD_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (!lib) {
		snprintf(why, n, "cannot load the HTTP library: %s", dlerror());
		goto out;
	}
	struct mhd_api a;
	if (SYM(start_daemon, "MHD_start_daemon") < 0 || SYM(stop_daemon, "MHD_stop_daemon") < 0 ||
	    SYM(create_response_from_buffer, "MHD_create_response_from_buffer") < 0 ||
	    SYM(add_response_header, "MHD_add_response_header") < 0 || SYM(queue_response, "MHD_queue_response") < 0 ||
	    SYM(destroy_response, "MHD_destroy_response") < 0 ||
	    SYM(get_connection_info, "MHD_get_connection_info") < 0 ||
	    SYM(lookup_connection_value, "MHD_lookup_connection_value") < 0 ||
	    SYM(suspend_connection, "MHD_suspend_connection") < 0 ||
	    SYM(resume_connection, "MHD_resume_connection") < 0) {
		dlclose(lib);
		goto out;
	}
	api = a;
	loaded = &api;
out:
	pthread_mutex_unlock(&mu);
	return loaded;
}

/* The table's types are the header's own prototypes, or the build fails. */
#define SAME(field, fn)                                                                                                \
	_Static_assert(__builtin_types_compatible_p(__typeof__(api.field), __typeof__(&(fn))), #fn " changed")
SAME(start_daemon, MHD_start_daemon);
SAME(stop_daemon, MHD_stop_daemon);
SAME(create_response_from_buffer, MHD_create_response_from_buffer);
SAME(add_response_header, MHD_add_response_header);
SAME(queue_response, MHD_queue_response);
SAME(destroy_response, MHD_destroy_response);
SAME(get_connection_info, MHD_get_connection_info);
SAME(lookup_connection_value, MHD_lookup_connection_value);
SAME(suspend_connection, MHD_suspend_connection);
SAME(resume_connection, MHD_resume_connection);
