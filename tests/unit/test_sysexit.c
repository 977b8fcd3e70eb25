/* The one errno-to-status mapping: every call kind, the statuses README's
 * "Exit status" table documents, and the caller's status for the rest. */
#include <criterion/criterion.h>

#include <errno.h>
#include <sysexits.h>

#include "understudy/sysexit.h"

Test(sysexit, what_a_user_can_fix_has_its_own_status)
{
	for (int c = SYSEXIT_OPEN; c <= SYSEXIT_DIR; c++) {
		enum sysexit_call call = (enum sysexit_call)c;
		cr_expect_eq(sysexit_errno(ENOENT, call, EX_IOERR), EX_NOINPUT, "call %d", c);
		cr_expect_eq(sysexit_errno(EACCES, call, EX_IOERR), EX_NOPERM, "call %d", c);
		cr_expect_eq(sysexit_errno(EPERM, call, EX_IOERR), EX_NOPERM, "call %d", c);
		cr_expect_eq(sysexit_errno(EIO, call, EX_IOERR), EX_IOERR, "call %d", c);
		cr_expect_eq(sysexit_errno(ESTALE, call, EX_OSERR), EX_OSERR, "call %d", c);
	}
}

/* run creates its file: a read-only or full file system is 73; a
 * requester writes to an existing file, and the same errno is an I/O
 * error of the storage (README: failback on a read-only mount is 74). */
Test(sysexit, a_file_that_cannot_be_created_only_when_creating)
{
	const int full[] = { EROFS, ENOSPC, EDQUOT };
	for (size_t i = 0; i < sizeof(full) / sizeof(full[0]); i++) {
		cr_expect_eq(sysexit_errno(full[i], SYSEXIT_CREATE, EX_IOERR), EX_CANTCREAT);
		cr_expect_eq(sysexit_errno(full[i], SYSEXIT_OPEN, EX_IOERR), EX_IOERR);
		cr_expect_eq(sysexit_errno(full[i], SYSEXIT_DIR, EX_OSERR), EX_OSERR);
	}
}

/* A path through a file: no such directory for check-storage's DIR, an
 * I/O error for a lock file's path (README: "74 and PATH: Not a directory"). */
Test(sysexit, not_a_directory_is_no_input_only_for_a_directory)
{
	cr_expect_eq(sysexit_errno(ENOTDIR, SYSEXIT_DIR, EX_OSERR), EX_NOINPUT);
	cr_expect_eq(sysexit_errno(ENOTDIR, SYSEXIT_CREATE, EX_IOERR), EX_IOERR);
	cr_expect_eq(sysexit_errno(ENOTDIR, SYSEXIT_OPEN, EX_IOERR), EX_IOERR);
}
