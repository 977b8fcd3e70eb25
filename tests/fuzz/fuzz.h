/* What both fuzz targets need: a property check that holds in every
 * build type, and a scratch file that each input is written to. */
#ifndef UNDERSTUDY_FUZZ_H
#define UNDERSTUDY_FUZZ_H

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Not assert(): NDEBUG must not turn the properties off. The abort is
 * what libFuzzer reports as a crash, with the input saved. */
#define must(cond)                                                                                                     \
	do {                                                                                                           \
		if (!(cond)) {                                                                                         \
			fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__, #cond);                    \
			abort();                                                                                       \
		}                                                                                                      \
	} while (0)

/* One file per process for the whole run, on tmpfs where there is one
 * (the inputs are rewritten tens of thousands of times a second). */
static char fuzz_path[96];

static inline void fuzz_remove_scratch(void) { unlink(fuzz_path); }

/* libFuzzer ends a timed run with exit(): the file goes with it. After a
 * crash it stays, next to the input libFuzzer saved. */
static inline const char *fuzz_scratch(const char *name)
{
	if (!fuzz_path[0]) {
		const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
		snprintf(fuzz_path, sizeof(fuzz_path), "%s/understudy-fuzz-%ld-%s", dir, (long)getpid(), name);
		atexit(fuzz_remove_scratch);
	}
	return fuzz_path;
}

/* Make path hold exactly these bytes, mode 0600. */
static inline void fuzz_write(const char *path, const uint8_t *data, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	must(fd >= 0);
	for (size_t done = 0; done < size;) {
		ssize_t w = write(fd, data + done, size - done);
		must(w > 0);
		done += (size_t)w;
	}
	close(fd);
}

#endif
