#include "understudy/group.h"

#include <errno.h>
#include <sysexits.h>

int group_open(struct lockfile *lf, const char *path, enum lf_open mode, const char *cmd)
{
	if (lockfile_open(lf, path, mode) == 0)
		return 0;
	int code = lf->err == LF_E_EMPTY ? EX_NOINPUT : EX_DATAERR;
	if (lf->err == LF_E_SYS) {
		switch (lf->errno_value) {
		case ENOENT: code = EX_NOINPUT; break;
		case EACCES:
		case EPERM: code = EX_NOPERM; break;
		default: code = EX_IOERR; break;
		}
	}
	if (code == EX_NOINPUT && lf->err != LF_E_EMPTY)
		fprintf(stderr, "understudy %s: %s: no such group (the lock file does not exist)\n", cmd, path);
	else {
		char msg[512];
		fprintf(stderr, "understudy %s: %s\n", cmd, lockfile_strerror(lf, msg, sizeof(msg)));
	}
	lockfile_close(lf);
	return code;
}

bool group_held(struct lockfile *lf, int offset) { return lockfile_held(lf, offset) == 1; }

void group_json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}
