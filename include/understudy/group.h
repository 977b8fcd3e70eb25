/* A group seen from outside, for the commands that look at or ask
 * something of a group without being one of its nodes. */
#ifndef UNDERSTUDY_GROUP_H
#define UNDERSTUDY_GROUP_H

#include <stdbool.h>
#include <stdio.h>

#include "understudy/lockfile.h"

/* Open the group's file (LF_OPEN_READ or LF_OPEN_WRITE, never creating).
 * Returns 0, or prints "understudy CMD: PATH: what is wrong" and returns
 * the exit status: 66 no such group (or an empty file, for a write), 65 not a lock file of ours, 77 no
 * permission, 74 other I/O errors. */
int group_open(struct lockfile *lf, const char *path, enum lf_open mode, const char *cmd);
/* Whether another process holds slot i, the live lock or any byte. */
bool group_held(struct lockfile *lf, int offset);
/* Print s as a JSON string, quotes and escapes included. */
void group_json_string(FILE *f, const char *s);

#endif
