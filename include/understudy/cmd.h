/* The commands. Each takes its own arguments (argv[0] is the command's
 * name), prints what the operator asked for, and returns an exit status
 * from sysexits.h; none of them exits the process itself. */
#ifndef UNDERSTUDY_CMD_H
#define UNDERSTUDY_CMD_H

/* Run a workload as a node of a group, until it leaves the group. */
int cmd_run(int argc, char **argv);
/* Print a group's state from its lock file, taking no part in it. */
int cmd_status(int argc, char **argv);
/* Ask the live node to hand the workload back to the primary. */
int cmd_failback(int argc, char **argv);
/* Exit 0 when a node is live: for health checks and scripts. */
int cmd_is_live(int argc, char **argv);
/* Ask the live node to hand the workload to a waiting backup. */
int cmd_switchover(int argc, char **argv);
/* Check that a directory's file system gives the locks and the coherence
 * a group needs, alone or with the same command on another host. */
int cmd_check_storage(int argc, char **argv);

#endif
