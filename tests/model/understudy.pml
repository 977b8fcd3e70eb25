/* A model of the understudy protocol (doc/protocol.md, src/node.c) for
 * the SPIN model checker. tests/model/check.sh runs it.
 *
 * Keep in one commit: this model changes together with doc/protocol.md,
 * src/lockfile.c, src/node.c and tests/unit/test_node.c (protocol §10). A
 * change to a lock rule, a decision (§5.5), the live check (§5.6), a
 * transition (§5.4) or a requester's rule (§6) that is not mirrored here
 * leaves the model checking a protocol nobody runs.
 *
 * What is modelled, and how (the protocol's section in brackets):
 *   - three nodes: node 0 the primary, nodes 1 and 2 backups; each has a
 *     fixed slot, and a new id (inc[]) every time it starts [2.5];
 *   - the file: status byte, the request record (seq, target slot, target
 *     id), whether a live record was ever written, slot states [2];
 *   - OFD locks as shared bytes: 0 free, else holder+1; a try is a
 *     test-and-set, a wait is the guard "free -> take"; a crash releases
 *     them all, since the kernel does for a dead open [4];
 *   - every lock-file call is one atomic step; steps of one node that the
 *     executor runs as separate calls are separate steps here, so other
 *     nodes and commands interleave between a read and the write it leads
 *     to [4.2];
 *   - the workload as running[]: set only by SPAWN in LIVE, cleared only
 *     when STOP finished or the node crashed (its tree dies first and only
 *     then is the open closed [8]);
 *   - the environment: crash, restart, SIGTERM (clean stop, or leaving L
 *     with --failover-on-shutdown), and the commands failback,
 *     switchover and switchover --to, each within a budget so that the
 *     state space is finite.
 *
 * Abstracted: the takeover delay (VERIFYING) is 0, as on a local file
 * system, where a lock is free only once the old live's processes are
 * gone; heartbeats, epochs and fencing do not arise there. Time: a lock
 * released while nodes are blocked on it goes to one of them, not to a node
 * that starts to wait only later (see woken); a node that stood by or
 * yielded retries after its pause, whenever that is [5.5]. Workload restarts
 * inside LIVE change nothing in the file and are left out; giving up is a
 * crash as far as the file and the locks are concerned.
 *
 * Seeded bugs, one -D each, that the checker must catch:
 *   BUG_NO_LIVE_LOCK  a backup next in line sees the live lock free and
 *                     starts without taking it
 *   BUG_IGNORE_F      the live node never reads a hand-over request
 *   BUG_NO_STALE      a request naming a dead node is obeyed: yield
 *   BUG_REQUEST_ANYTIME  a request is written whatever the status (1.0)
 *   BUG_CLEAR_NEWER_F    taking the role writes L over any F (1.0)
 *
 * CHECK_PAUSED adds the assertion that a backup never starts a new or
 * paused group (README: "Backups do not start a paused group"). It does
 * not hold in 1.0: see doc/protocol.md §9.
 */

#ifndef MAXCRASH
#define MAXCRASH 2
#endif
#ifndef MAXRESTART
#define MAXRESTART 2
#endif
#ifndef MAXSTOP
#define MAXSTOP 1
#endif
#ifndef MAXCMD
#define MAXCMD 1
#endif

#define NN 3
#define PRIMARY 0
#define ANY 255

/* status byte [2] */
#define S_N 'N'
#define S_L 'L'
#define S_P 'P'
#define S_F 'F'

/* node states [5.1]; DOWN: no process (never started, crashed or DONE) */
#define DOWN 0
#define JOINING 1
#define QUEUED 2
#define BACKUP 3
#define CLAIMING 4
#define LIVE 5
#define STOPPING 6

/* published slot states [2.5] */
#define SS_JOINING 1
#define SS_QUEUED 2
#define SS_WAITING 3
#define SS_LIVE 4
#define SS_STOPPING 5

/* stop reasons */
#define R_SHUTDOWN 1
#define R_HANDOVER 2

/* verdicts [5.5] */
#define V_LIVE 1
#define V_STANDBY 2
#define V_YIELD 3

/* --- the lock file and its locks ----------------------------------------- */
byte status = S_N;
byte live_lock;   /* 0 free, else holder + 1 */
byte backup_lock; /* 0 free, else holder + 1 */
bool live_rec_ok; /* a live record was written */
byte req_seq;     /* 0: EMPTY */
byte req_target;  /* ANY or a slot */
byte req_inc;     /* the target's id when the request was written */
bool up[NN];      /* slot lock held: the node's process exists */
byte inc[NN];     /* the id of the node's current run */
byte sstate[NN];  /* published slot state */

/* --- the nodes' state, global so that properties can name it ------------ */
byte st[NN];
bool running[NN];
byte nrun;         /* workloads running */
byte nup;          /* nodes with a process */
bool pausing[NN];  /* stood by or yielded: waits a poll interval, not on a lock */

/* Node j is blocked in a wait for the live lock. */
#define BLOCKED(j) (up[j] && (st[j] == BACKUP || st[j] == CLAIMING) && !pausing[j] && live_lock != j + 1)

/* The nodes blocked on a lock when it was last released. The kernel wakes
 * them at the unlock; one of them gets the lock before a node that only
 * now starts to wait, which must first take the backup lock or come back
 * from a poll-interval pause. Without this, two nodes taking turns to
 * yield could starve a blocked one forever, which no scheduler does. */
byte woken;  /* live lock */
byte bwoken; /* backup lock */
#define BLOCKED_B(j) (up[j] && st[j] == QUEUED && !pausing[j] && backup_lock != j + 1)
#define RELEASE_LIVE live_lock = 0; \
	woken = (BLOCKED(0) -> 1 : 0) | (BLOCKED(1) -> 2 : 0) | (BLOCKED(2) -> 4 : 0)
#define RELEASE_BACKUP backup_lock = 0; \
	bwoken = (BLOCKED_B(0) -> 1 : 0) | (BLOCKED_B(1) -> 2 : 0) | (BLOCKED_B(2) -> 4 : 0)
#define LIVE_FREE (live_lock == 0 && (woken == 0 || (woken & (1 << me))))
#define BACKUP_FREE (backup_lock == 0 && (bwoken == 0 || (bwoken & (1 << me))))

/* --- environment -------------------------------------------------------- */
bool go[NN] = true; /* start (or restart) the node */
bool crash_req[NN]; /* kill -9 the manager: handled at its next step */
bool sig[NN];       /* SIGTERM */
byte crashes, restarts, stops, cmds;

/* --- ghosts for the properties ----------------------------------------- */
bool live_crashed;  /* a node holding the role crashed; no live since */
bool fb_pending;    /* a failback request for the running primary stands */
bool paused_intent = true; /* new or paused on purpose: the primary's to start */

/* node j holds the role: live, or stopping before it let the lock go */
#define ROLE(j) ((st[j] == LIVE || st[j] == STOPPING) && live_lock == j + 1)
#define NOLIVE (!ROLE(0) && !ROLE(1) && !ROLE(2))
#define NEEDLIVE ((status == S_L || status == S_F) && NOLIVE)
#define PRIMARY_LIVE (st[PRIMARY] == LIVE)

/* Safety: at most one workload runs, at every step. */
ltl one_workload { [] (nrun <= 1) }
/* The live node crashed: while any node runs, a new live follows. */
ltl failover { [] (live_crashed -> <> (!live_crashed || nup == 0)) }
/* More generally: a group that should have a live node (L or F) gets one. */
ltl no_orphan { [] (NEEDLIVE -> <> (!NEEDLIVE || nup == 0)) }
/* A failback request naming the running primary ends with it live, unless
 * the primary stops running or a later request for another node replaces
 * this one (fb_pending is cleared then). */
ltl failback { [] (fb_pending -> <> (!fb_pending || PRIMARY_LIVE)) }

/* Who writes a request, for the trails. */
mtype = { primary_joining, primary_again, cmd_failback, cmd_switchover, cmd_switchover_to_n1 };

/* The request record and F in one locked write, seq + 1 [6], and only
 * into a live group (L or F), checked in the same hold: F in a paused or
 * new group would let a backup start it. */
inline write_request(who, target)
{
	d_step {
		if
#ifdef BUG_REQUEST_ANYTIME
		:: true ->
#else
		:: status == S_L || status == S_F ->
#endif
			req_seq++;
			req_target = target;
			if
			:: target != ANY -> req_inc = inc[target]
			:: else -> req_inc = 0
			fi;
			status = S_F;
			fb_pending = target == PRIMARY && up[PRIMARY];
			printf("MSC: %e writes request seq %d for %d, status F\n", who, req_seq, target)
		:: else ->
			printf("MSC: %e finds %c: the group is not live, no request\n", who, status)
		fi
	}
}

/* One locked read of the file and the facts the executor gathers with it
 * (worker.c read_view): is the request's target alive (its slot held with
 * the id the request names; our own slot always), in which state, and
 * does another open hold the backup lock. */
inline read_view()
{
	v_status = status;
	v_seq = req_seq;
	v_target = req_target;
	if
	:: v_status == S_F && v_seq != 0 ->
		if
		:: v_target == me -> v_alive = true
		:: v_target != me && v_target != ANY ->
			v_alive = up[v_target] && inc[v_target] == req_inc;
			v_tstate = sstate[v_target]
		:: else -> skip
		fi;
		v_bw = backup_lock != 0 && backup_lock != me + 1
	:: else -> skip
	fi
}

/* Forget the view once decided on: stale values would only multiply
 * states the checker tells apart for nothing. */
inline forget_view()
{
	v_status = 0;
	v_target = 0;
	v_tstate = 0;
	v_alive = false;
	v_bw = false
}

inline publish(state, slot_state)
{
	d_step { sstate[me] = slot_state; st[me] = state }
}

proctype Node(byte me)
{
	bool primary = me == PRIMARY;
	bool holds_backup, want_fb, handed_over, shutdown;
	byte handed_seq, stop, verdict;
	byte decided_seq; /* the request the decision to become live saw, 0: none */
	/* a view: what one locked read gave, with the facts read with it */
	byte v_status, v_seq, v_target, v_tstate;
	bool v_alive, v_bw;

end:	do
	:: go[me] ->
		/* CLAIM_SLOT, then JOINED; the options are this run's */
		d_step {
			go[me] = false;
			up[me] = true;
			nup++;
			inc[me]++;
			sstate[me] = SS_JOINING;
			st[me] = JOINING;
			holds_backup = false;
			want_fb = false;
			handed_over = false;
			handed_seq = 0;
			shutdown = false;
			stop = 0;
			printf("MSC: n%d starts\n", me)
		};
		{
		if
		:: primary ->
			/* j1: TRY_LIVE */
			if
			:: atomic { LIVE_FREE -> live_lock = me + 1; woken = 0 } -> goto locked
			:: else ->
				/* j2: BUSY. Slot state first, then the request [7.3].
				 * --allow-failback is chosen here, where it matters. */
				publish(CLAIMING, SS_WAITING);
				if
				:: want_fb = true; write_request(primary_joining, me)
				:: skip
				fi;
				goto waiting
			fi
		:: else ->
			publish(QUEUED, SS_QUEUED);
			goto queued
		fi;

queued:		/* WAIT_BACKUP until LOCKED (q1) */
		if
		:: atomic { BACKUP_FREE -> backup_lock = me + 1; bwoken = 0; holds_backup = true } ->
			publish(BACKUP, SS_WAITING);
			goto waiting
		:: sig[me] -> goto leave
		fi;

waiting:	/* BACKUP and CLAIMING: WAIT_LIVE */
		if
#ifdef BUG_NO_LIVE_LOCK
		:: st[me] == BACKUP && live_lock == 0 ->
			/* looked with GETLK, then went ahead without taking it */
			goto become_live
#endif
		:: atomic { LIVE_FREE -> live_lock = me + 1; woken = 0 } -> goto locked
		:: want_fb && live_lock != 0 && live_lock != me + 1 ->
			/* c1: BUSY with a read; ask again if ours is gone [7.4] */
			d_step {
				if
				:: status == S_F && req_seq != 0 && req_target == me -> verdict = 0
				:: else -> verdict = 1
				fi
			};
			if
			:: verdict == 1 -> verdict = 0; write_request(primary_again, me)
			:: else -> skip
			fi;
			goto waiting
		:: sig[me] -> goto leave
		fi;

locked:		/* the live lock is ours: read, then decide [5.5] */
		atomic {
			read_view();
			printf("MSC: n%d has the live lock, reads %c\n", me, v_status);
			if
			:: v_status == S_L -> verdict = V_LIVE
			:: v_status == S_N || v_status == S_P ->
				if
				:: primary -> verdict = V_LIVE
				:: else -> verdict = V_STANDBY
				fi
			:: v_status == S_F && v_seq == 0 -> verdict = V_LIVE
			:: v_status == S_F && v_seq != 0 ->
				if
				:: v_target == ANY && handed_over && v_seq == handed_seq && v_bw ->
					verdict = V_YIELD
				:: v_target == ANY && !(handed_over && v_seq == handed_seq && v_bw) ->
					verdict = V_LIVE
				:: v_target == me -> verdict = V_LIVE
#ifdef BUG_NO_STALE
				:: v_target != ANY && v_target != me -> verdict = V_YIELD
#else
				:: v_target != ANY && v_target != me && !v_alive -> verdict = V_LIVE
				:: v_target != ANY && v_target != me && v_alive -> verdict = V_YIELD
#endif
				fi
			fi;
			if
			:: v_status == S_F -> decided_seq = v_seq
			:: else -> decided_seq = 0
			fi;
			forget_view();
			v_seq = 0
		};
		if
		:: verdict == V_LIVE -> verdict = 0; goto become_live
		:: verdict == V_STANDBY ->
			/* RELEASE_LIVE, and a primary that joined publishes waiting */
			d_step {
				verdict = 0;
				pausing[me] = true;
				RELEASE_LIVE;
				if
				:: primary -> sstate[me] = SS_WAITING; st[me] = CLAIMING
				:: else -> skip
				fi
			}
		:: verdict == V_YIELD ->
			d_step {
				verdict = 0;
				pausing[me] = true;
				RELEASE_LIVE;
				printf("MSC: n%d yields\n", me)
			};
			/* RELEASE_BACKUP if held; SLOT_STATE queued (a backup) */
			d_step {
				if
				:: holds_backup -> RELEASE_BACKUP; holds_backup = false
				:: else -> skip
				fi;
				if
				:: primary -> sstate[me] = SS_WAITING; st[me] = CLAIMING
				:: else -> sstate[me] = SS_QUEUED; st[me] = QUEUED
				fi
			}
		fi;

		/* TIMER C, after standing by or yielding */
		if
		:: pausing[me] = false ->
			if
			:: st[me] == QUEUED -> goto queued
			:: else -> goto waiting
			fi
		:: sig[me] -> goto leave
		fi;

become_live:	/* D: WRITE_LIVE (lockfile_take_live); SPAWN; RELEASE_BACKUP; SLOT_STATE live */
		atomic {
			/* F for a request newer than the decision stays: the new
			 * live node's first check acts on it. */
			if
#ifndef BUG_CLEAR_NEWER_F
			:: status == S_F && req_seq != decided_seq ->
				printf("MSC: n%d writes its live record, keeps F (request %d came since)\n", me, req_seq)
#endif
			:: else ->
				status = S_L;
				printf("MSC: n%d writes L and its live record\n", me)
			fi;
			decided_seq = 0;
			live_rec_ok = true;
#ifdef CHECK_PAUSED
			/* a paused or new group is the primary's to start */
			assert(primary || !paused_intent);
#endif
			paused_intent = false;
			live_crashed = false;
			if
			:: primary -> fb_pending = false
			:: else -> skip
			fi;
			want_fb = false;
			handed_over = false;
			handed_seq = 0;
			stop = 0
		};
		/* SPAWN; RELEASE_BACKUP if held; SLOT_STATE live: none of them
		 * is a decision, so one step */
		d_step {
			if
			:: holds_backup -> RELEASE_BACKUP; holds_backup = false
			:: else -> skip
			fi;
			sstate[me] = SS_LIVE;
			st[me] = LIVE;
			/* the workload starts: nobody else's may be running */
			assert(nrun == 0);
			running[me] = true;
			nrun++;
			printf("MSC: n%d starts the workload\n", me)
		};

		do
		:: atomic { /* TICK: the live check [5.6] */
			read_view();
#ifdef BUG_IGNORE_F
			verdict = 0;
#else
			if
			:: v_status != S_F -> verdict = 0
			:: v_status == S_F &&
			   (v_seq == 0 || v_target == me || (v_target == ANY && !v_bw) ||
			    (v_target != ANY && v_target != me &&
			     !(v_alive && (v_tstate == SS_QUEUED || v_tstate == SS_WAITING)))) ->
				verdict = V_STANDBY /* refuse */
			:: else -> verdict = V_YIELD /* hand over */
			fi;
#endif
			forget_view()
		   };
			if
			:: verdict == 0 -> v_seq = 0
			:: verdict == V_STANDBY ->
				/* REFUSE seq: L only if that very request is still there */
				d_step {
					if
					:: status == S_F && req_seq == v_seq -> status = S_L
					:: else -> skip
					fi;
					printf("MSC: n%d refuses request seq %d\n", me, v_seq);
					verdict = 0;
					v_seq = 0
				}
			:: verdict == V_YIELD ->
				/* stop for hand-over: SLOT_STATE stopping; STOP */
				d_step {
					printf("MSC: n%d hands over for request seq %d\n", me, v_seq);
					sstate[me] = SS_STOPPING;
					st[me] = STOPPING;
					handed_over = true;
					handed_seq = v_seq;
					stop = R_HANDOVER;
					verdict = 0;
					v_seq = 0
				};
				break
			fi
		:: d_step { sig[me] ->
			sstate[me] = SS_STOPPING;
			st[me] = STOPPING;
			shutdown = true;
			stop = R_SHUTDOWN };
			break
		od;

		/* EXITED once the whole tree is gone */
		atomic { running[me] = false; nrun--; printf("MSC: n%d stopped the workload\n", me) };
		/* finish, by stop reason */
		if
		:: stop == R_SHUTDOWN ->
			/* WRITE_STATUS P, or with --failover-on-shutdown leave L */
			if
			:: d_step { status = S_P; paused_intent = true; printf("MSC: n%d writes P\n", me) }
			:: printf("MSC: n%d leaves L (--failover-on-shutdown)\n", me)
			fi;
			d_step { RELEASE_LIVE };
			goto leave
		:: stop == R_HANDOVER ->
			d_step { RELEASE_LIVE };
			if
			:: shutdown || sig[me] -> goto leave
			:: else -> skip
			fi;
			if
			:: primary -> publish(CLAIMING, SS_WAITING); goto waiting
			:: else -> publish(QUEUED, SS_QUEUED); goto queued
			fi
		fi;
leave:		skip
		} unless { crash_req[me] };
		/* EXIT, or the crash: the workload's tree dies, then the kernel
		 * closes the open and releases every lock it held */
		d_step {
			if
			:: crash_req[me] ->
				printf("MSC: n%d crashes (state %d)\n", me, st[me]);
				if
				:: ROLE(me) -> live_crashed = true
				:: else -> skip
				fi
			:: else -> printf("MSC: n%d exits\n", me)
			fi;
			crash_req[me] = false;
			sig[me] = false;
			pausing[me] = false;
			if
			:: running[me] -> running[me] = false; nrun--
			:: else -> skip
			fi;
			if
			:: live_lock == me + 1 -> RELEASE_LIVE
			:: else -> skip
			fi;
			if
			:: backup_lock == me + 1 -> RELEASE_BACKUP
			:: else -> skip
			fi;
			if
			:: me == PRIMARY -> fb_pending = false
			:: else -> skip
			fi;
			forget_view();
			v_seq = 0;
			verdict = 0;
			stop = 0;
			up[me] = false;
			nup--;
			st[me] = DOWN;
			woken = woken & ~(1 << me);
			bwoken = bwoken & ~(1 << me)
		}
	od
}

/* A command (failback, switchover) reads the group, then writes its
 * request in a second locked section [6]. It writes only into a live
 * group, and only when someone could take over. */
inline command(name, kind_target)
{
	d_step {
		ok = live_lock != 0 && live_rec_ok && (status == S_L || status == S_F);
		target = kind_target;
		printf("MSC: %e reads %c, live lock held %d\n", name, status, live_lock != 0)
	};
	if
	:: ok && target == ANY && backup_lock != 0 -> write_request(name, ANY)
	:: ok && target != ANY && up[target] &&
	   (sstate[target] == SS_QUEUED || sstate[target] == SS_WAITING) ->
		write_request(name, target)
	:: else -> skip
	fi;
	d_step { ok = false; target = 0 }
}

#define CRASH(i) :: atomic { crashes < MAXCRASH && up[i] && !crash_req[i] -> crash_req[i] = true; crashes++ }
#define RESTART(i) :: atomic { restarts < MAXRESTART && st[i] == DOWN && !up[i] && !go[i] -> go[i] = true; restarts++ }
#define SIGTERM(i) :: atomic { stops < MAXSTOP && up[i] && !sig[i] -> sig[i] = true; stops++ }

active proctype Env()
{
	bool ok;
	byte target;
end:	do
	CRASH(0)
	CRASH(1)
	CRASH(2)
	RESTART(0)
	RESTART(1)
	RESTART(2)
	SIGTERM(0)
	SIGTERM(1)
	SIGTERM(2)
	:: cmds < MAXCMD -> cmds++; command(cmd_failback, PRIMARY)
	:: cmds < MAXCMD -> cmds++; command(cmd_switchover, ANY)
	:: cmds < MAXCMD -> cmds++; command(cmd_switchover_to_n1, 1)
	od
}

init
{
	atomic {
		run Node(0);
		run Node(1);
		run Node(2)
	}
}
