/* The one mapping from an errno to the documented exit status (sysexits.h,
 * README "Exit status"): what a user can fix gets a status of its own, the
 * rest the caller's. Every command and the node use it, so one errno never
 * means two statuses for one kind of call. */
#ifndef UNDERSTUDY_SYSEXIT_H
#define UNDERSTUDY_SYSEXIT_H

/* What the failed call was doing: the same errno says different things. */
enum sysexit_call {
	SYSEXIT_OPEN,   /* opening a file that must exist (a group's lock file) */
	SYSEXIT_CREATE, /* opening or creating a file to write: a read-only or full
			 * file system cannot create it (73) */
	SYSEXIT_DIR,    /* looking at a directory: ENOTDIR too means there is none (66) */
};

/* 66 for a missing file or directory, 77 for a permission refused, 73 for a
 * file that cannot be created (SYSEXIT_CREATE), otherwise `otherwise`
 * (74 for the storage, 71 for the system). err is a positive errno. */
int sysexit_errno(int err, enum sysexit_call call, int otherwise);

#endif
