/* check-storage's checks on this host: every one a real lock or write
 * through two opens of the scratch file, the second one in another
 * process (check_helper.h). */
#ifndef UNDERSTUDY_CHECK_LOCAL_H
#define UNDERSTUDY_CHECK_LOCAL_H

#include "understudy/check.h"
#include "understudy/lockfile.h"

/* Run the five local checks on a, the runner's open of o->scratch, in
 * order: exclusive byte-range locks, a waiter woken on release, a dead
 * holder's lock released, a write under the lock seen by another open,
 * a lock kept while a process that inherited the open lives. One
 * verdict each; every storage call bounded (check.h). */
void check_local_run(const struct check_opts *o, struct lockfile *a);

#endif
