/* check-storage --peer: each check run across two hosts. The two peers
 * meet in DIR/.understudy-check-peer, a file formatted like a group's
 * lock file (so its creation is race-free) whose slot records serve as
 * mailboxes; A holds and measures on its own clock, B waits and takes. */
#ifndef UNDERSTUDY_CHECK_PEER_H
#define UNDERSTUDY_CHECK_PEER_H

#include "understudy/check.h"

/* Meet a peer within o->peer_timeout_ms and run the cross-host checks,
 * one verdict each, every storage call bounded (check.h). Returns 0, or
 * 75 (EX_TEMPFAIL) when no peer came, said on stderr. */
int check_peer_run(const struct check_opts *o);
/* After a runner ended for a hung call: remove the meeting file unless a
 * peer still holds a slot in it. Never waits for the record lock. */
void check_peer_cleanup(const char *meet);

#endif
