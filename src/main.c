/* understudy: keep one service running on exactly one of several hosts
 * that share a file system. main() only picks the command. */
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "understudy/cmd.h"
#include "understudy/lockfile.h"

static const char usage[] = "usage: understudy COMMAND [options]\n"
			    "\n"
			    "Keep one copy of a service running across hosts that share a lock file.\n"
			    "\n"
			    "commands:\n"
			    "  run         run a workload as a node of a group (primary or backup)\n"
			    "  status      show a group: state, live node, registered nodes; its history\n"
			    "  failback    ask the live backup to hand the workload back to the primary\n"
			    "  switchover  ask the live node to hand the workload to a waiting backup\n"
			    "  is-live     exit 0 when a node is live: for health checks and scripts\n"
			    "  check-storage  check that a shared directory can hold a group's lock file\n"
			    "\n"
			    "'understudy COMMAND --help' describes each command.\n"
			    "\n"
			    "exit status (sysexits.h):\n"
			    "   0  success\n"
			    "   1  check-storage: a check failed; is-live: the node is not live (2: cannot tell)\n"
			    "  64  usage: a bad command line\n"
			    "  65  the lock file is not an understudy lock file, or is corrupt (left untouched)\n"
			    "  66  no such group: the lock file does not exist\n"
			    "  69  unavailable: the workload failed for good, or no node can take over\n"
			    "  70  internal error\n"
			    "  71  an operating system call failed\n"
			    "  73  the lock file cannot be created\n"
			    "  74  I/O error on the lock file, or the storage hung\n"
			    "  75  --wait timed out\n"
			    "  77  permission denied, or a lock file others could write or read\n"
			    "  78  configuration: a bad file, key or value; a file or hook others could change;\n"
			    "      a node name another alive node of the group has\n";

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} commands[] = {
		{ "run", cmd_run },           { "status", cmd_status },
		{ "failback", cmd_failback }, { "switchover", cmd_switchover },
		{ "is-live", cmd_is_live },   { "check-storage", cmd_check_storage },
	};
	if (argc < 2) {
		fputs(usage, stderr);
		return EX_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
		fputs(usage, stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0) {
		/* From the format's own constants: a string written by hand
		 * here said 1.0 in the first 1.1 builds. */
		printf("understudy %s (lock file format %d.%d)\n", UNDERSTUDY_VERSION, LF_VERSION_MAJOR,
		       LF_VERSION_MINOR);
		return 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "understudy: unknown command '%s'\nTry 'understudy --help'.\n", argv[1]);
	return EX_USAGE;
}
