/* This host's identity, as the nodes of a group publish it in their slots
 * so that a check run on a host can tell whether the live node is its own
 * (is-live), whatever the names say. */
#ifndef UNDERSTUDY_HOST_H
#define UNDERSTUDY_HOST_H

#include <stdint.h>

#define HOST_ID_SIZE 16

/* The 128-bit machine id of /etc/machine-id (stable across reboots, and
 * distinct per host where hosts were installed apart), else the boot id
 * of /proc/sys/kernel/random/boot_id. 0, or -errno with out zeroed: zero
 * means "unknown" to every reader. */
int host_id(uint8_t out[HOST_ID_SIZE]);
/* Whether a published id is "unknown": all zero (a node older than 1.2,
 * or one that could not read its own). */
int host_id_unknown(const uint8_t id[HOST_ID_SIZE]);

#endif
