/* errno to exit status, in one place (sysexit.h). */
#include "understudy/sysexit.h"

#include <errno.h>
#include <sysexits.h>

int sysexit_errno(int err, enum sysexit_call call, int otherwise)
{
	switch (err) {
	case ENOENT: return EX_NOINPUT;
	case ENOTDIR: return call == SYSEXIT_DIR ? EX_NOINPUT : otherwise;
	case EACCES:
	case EPERM: return EX_NOPERM;
	case EROFS:
	case ENOSPC: /* formatting a new file: it stays empty, a new group */
	case EDQUOT: return call == SYSEXIT_CREATE ? EX_CANTCREAT : otherwise;
	default: return otherwise;
	}
}
