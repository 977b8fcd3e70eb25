/* Hooks: an executable the operator names, run on an event, never
 * through a shell, with the event in its environment. A hook never holds
 * up the node: it is started and left to run, and killed if it outlives
 * its timeout. */
#ifndef UNDERSTUDY_HOOK_H
#define UNDERSTUDY_HOOK_H

#include <sys/types.h>

/* Start path with UNDERSTUDY_EVENT=event added to envp (which already
 * names the node). Returns the hook's pid once its exec succeeded, or
 * -errno of the failed fork or exec. */
pid_t hook_start(const char *path, const char *event, char *const envp[]);

#endif
