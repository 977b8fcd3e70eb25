/* libFuzzer target: any bytes, as a configuration file and as a command.
 *
 * The bytes are written to a real file (mode 0600) and read with
 * config_load, then config_finish, config_print and config_free, as
 * `understudy run --config FILE --check` does. The same bytes, up to the
 * first NUL, are split into words with config_split, and the words are
 * printed back with config_print and split again: they must come back the
 * same (--check output is meant to be pasted back into a file).
 *
 * Built only with clang (tests/fuzz/meson.build). Run:
 *   build-fuzz/tests/fuzz/fuzz_config tests/fuzz/corpus/config */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "understudy/config.h"

/* The value config_print gives the key: the text between "key = " and
 * the next key's line. A quoted word may hold a newline and even the next
 * key's name, but every key printed after it has a fixed value here, so
 * the next key's line is its last occurrence. */
static char *printed(const char *out, const char *key, const char *next)
{
	const char *p = strstr(out, key), *q = NULL;
	if (!p)
		return NULL;
	p += strlen(key);
	for (const char *s = strstr(p, next); s; s = strstr(s + 1, next))
		q = s;
	return q ? strndup(p, (size_t)(q - p)) : NULL; /* q is at the newline */
}

static void split_round_trip(const char *text)
{
	char why[256];
	char **words = config_split(text, why, sizeof(why));
	if (!words) {
		must(why[0] != '\0');
		return;
	}
	must(words[0] != NULL);
	struct config c;
	config_init(&c);
	c.run.argv = words;
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	must(f);
	config_print(&c, f);
	fclose(f);
	char *again = printed(out, "workload.command = ", "\nworkload.working-directory = ");
	must(again);
	char **words2 = config_split(again, why, sizeof(why));
	must(words2);
	size_t i = 0;
	for (; words[i] && words2[i]; i++)
		must(strcmp(words[i], words2[i]) == 0);
	must(!words[i] && !words2[i]);
	free(words2), free(again), free(out), free(words);
	config_free(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	must(text);
	memcpy(text, data, size);
	text[size] = '\0';
	split_round_trip(text);
	free(text);

	const char *path = fuzz_scratch("conf");
	fuzz_write(path, data, size);
	struct config c;
	char why[768];
	bool from_file;
	config_init(&c);
	int r = config_load(&c, path, why, sizeof(why));
	if (r < 0) {
		/* Every refusal names the file. */
		must(strstr(why, path) == why);
	} else if (config_finish(&c, why, sizeof(why), &from_file) == 0) {
		FILE *devnull = fopen("/dev/null", "w");
		must(devnull);
		config_print(&c, devnull);
		fclose(devnull);
	}
	config_free(&c);
	return 0;
}
