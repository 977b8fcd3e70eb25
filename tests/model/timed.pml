/* A timed model of fencing on networked storage (doc/fencing.md, "The
 * timing rule"; doc/protocol.md §5.8 and §11) for the SPIN model checker.
 * tests/model/check.sh runs it beside understudy.pml, which has no time.
 *
 * Keep in one commit with doc/protocol.md §5.8 and §11.1, doc/fencing.md
 * and src/node.c and src/loop.c (the takeover delay, the fence deadline,
 * the order WRITE_LIVE then SPAWN): a change to when a node fences or
 * starts that is not mirrored here leaves the check proving a rule
 * nobody runs.
 *
 * Time is discrete: one tick is the unit of every interval below, and
 * the tick step advances it only when nothing is due now (URGENT). Between
 * two ticks any number of events happen, in every order. Intervals are
 * countdowns, never absolute times, so the state space is finite without
 * a horizon: the check covers every run, however long, within the bounds
 * on partitions.
 *
 * The intervals, in ticks (-D on spin's command line):
 *   H  the heartbeat interval: the live node starts a round every H. A
 *      round is one compare-and-write of its live record (protocol §5.3:
 *      the heartbeat is written only over the node's own record) and
 *      stands for the read after it too (C = H here): a record that is
 *      not its own makes it fence.
 *   F  the fence timeout: the live node SIGKILLs its workload F after its
 *      last completed round (the clock starts with WRITE_LIVE), and on a
 *      storage call that fails.
 *   P  the client gives up: a call made while the host is cut off hangs
 *      until the heal (it then lands) or fails P after it was made. A
 *      SIGKILLed workload is gone within P of the kill, at any moment up
 *      to it: its exit flushes its files through the same client. That
 *      also covers a workload that takes time to die (up to P) on a host
 *      that is not cut off.
 *   L  the storage gives a cut-off client's locks away L after the cut.
 *   D  the takeover delay: a node that gets the live lock and reads L
 *      (always, here: nobody stops cleanly) holds it, remembers the live
 *      record and reads it again after D; it starts only if nobody wrote
 *      the record meanwhile (VERIFYING).
 *
 * Nodes: NN (2 or 3) managers on hosts that share the storage. Node 0
 * starts live with its round just completed; the others wait for the
 * live lock. The environment cuts a host off the storage and heals it,
 * at any moment, at most MAXCUT cuts in a run. A partition is
 * symmetric: nothing of a cut-off host reaches the storage and no answer
 * comes back. Only a host whose manager runs (or is killing) a workload
 * is cut off, which is the case doc/fencing.md argues; with CUT_ANY any
 * host may be, the waiting ones and one in its takeover delay too.
 *
 * What the storage does in the worst case for safety: a call made while
 * the host is connected completes at once; a cut-off host's call that
 * lands at the heal lands whatever happened meanwhile (its lock given
 * away or not: no EBADFD, no ESHUTDOWN), and a manager that gave up on a
 * call (fenced, or rejoining) leaves it behind to land later (protocol
 * §4.4). A manager that fenced rejoins as a waiting node once the call is
 * settled (landed or failed).
 *
 * Left out: a clean stop, a command, a crash of a manager or of a whole
 * host (a host that loses power is a cut that never heals and whose
 * workload dies at once: a case of the cut here), a lock the storage
 * resets on a connected client, clock drift between hosts, and the
 * backup lock (every waiting node waits on the live lock).
 *
 * Safety: no two workloads, running or dying, at any moment: an
 * assertion at every spawn, the only step that adds one.
 *
 * What spin shows (check.sh; doc/fencing.md, "What the timed model
 * showed"): with a live node that fences on a failed call too, it fences
 * by F' = min(F, H + P) after its last round. Safe when L + D > F' + P
 * and either L > F' (the storage never gives a lock away before the node
 * fenced) or D > F' + P. With L <= F' a cut that outlasts L and heals
 * before F leaves the live node running without its lock; the next cut
 * is then covered by D alone (a known gap, protocol §9). With CUT_ANY a
 * backup cut off during its delay for longer than L may finish it
 * without its lock, beside the node that got the lock meanwhile: two
 * workloads (with P = 2, for every D from 0 to 6; a known gap, §9).
 *
 * Seeded: check.sh runs the rule broken by one step (L + D = F + P),
 * which must fail. REACH_TAKEOVER asserts that no node other than node 0
 * ever starts the workload: it must fail too, which shows that the runs
 * that hold include takeovers. No end labels: a state where something is
 * due and nothing can happen (time stuck) is reported as an invalid end.
 */

/* Defaults: the first setting check.sh verifies (L + D = F + P + 1, L > F). */
#ifndef NN
#define NN 3
#endif
#ifndef H
#define H 1
#endif
#ifndef F
#define F 2
#endif
#ifndef P
#define P 2
#endif
#ifndef L
#define L 3
#endif
#ifndef D
#define D 2
#endif
#ifndef MAXCUT
#define MAXCUT 4
#endif

/* what the manager is doing */
#define W 0   /* waiting for the live lock (BACKUP, CLAIMING), or rejoining */
#define V 1   /* VERIFYING: holds the live lock, waits D */
#define RD 2  /* VERIFYING: its read after D is on its way */
#define DEC 3 /* read: nothing moved; WRITE_LIVE next */
#define WR 4  /* STARTING: WRITE_LIVE on its way; SPAWN when it lands */
#define LV 5  /* STARTING or LIVE: the workload runs, rounds every H */
#define ST 6  /* STOPPING after a fence: the workload dies */

/* a storage call in flight on a cut-off host */
#define C_NONE 0
#define C_READ 1
#define C_WRITE 2
#define C_HB 3
#define C_PING 4 /* FIX_VERIFY: a read during the delay */

/* workload */
#define WL_NONE 0
#define WL_RUN 1
#define WL_DYING 2

/* the storage */
byte lock;      /* the live lock: 0 free, else holder + 1 */
byte rec;       /* whose live record is in the file */
bool moved[NN]; /* the record was written since node j's look in VERIFYING */

/* the hosts */
bool cut[NN];
byte lease[NN]; /* ticks until the storage gives a cut-off host's lock away */
byte cuts;

/* the managers */
byte ph[NN];
byte pend[NN];    /* the call in flight, C_NONE if none */
byte call_t[NN];  /* ticks until a cut-off call fails */
byte ver_t[NN];   /* ticks left of the takeover delay */
byte hb_t[NN];    /* ticks until the next round */
byte fence_t[NN]; /* ticks until the fence deadline */
byte die_t[NN];   /* ticks by which a SIGKILLed workload is gone */
byte wl[NN];
byte nwl; /* workloads running or dying */

hidden short clock; /* for the trail only: not part of the state */

/* FIX_VERIFY, a candidate fix (not the protocol today): a node in its
 * takeover delay reads every H and runs the fence clock from the lock
 * grant; with no read completed for F it gives up the takeover. */
#ifdef FIX_VERIFY
#define FIXV 1
#else
#define FIXV 0
#endif

#define HOLDING(j) (ph[j] == LV || ph[j] == ST)

/* What must happen before time may advance. */
#define URGENT_J(j) \
	((ph[j] == V && ver_t[j] == 0 && pend[j] == C_NONE) || \
	 ph[j] == DEC || \
	 (ph[j] == LV && hb_t[j] == 0 && pend[j] == C_NONE) || \
	 ((ph[j] == LV || ph[j] == WR) && fence_t[j] == 0) || \
	 (FIXV && (ph[j] == V || ph[j] == RD) && fence_t[j] == 0) || \
	 (FIXV && ph[j] == V && ver_t[j] > 0 && hb_t[j] == 0 && pend[j] == C_NONE) || \
	 (pend[j] != C_NONE && (!cut[j] || call_t[j] == 0)) || \
	 (ph[j] == ST && die_t[j] == 0) || \
	 (cut[j] && lease[j] == 0 && lock == j + 1) || \
	 (!cut[j] && lock == j + 1 && ph[j] == W))
#if NN == 3
#define URGENT (URGENT_J(0) || URGENT_J(1) || URGENT_J(2))
#else
#define URGENT (URGENT_J(0) || URGENT_J(1))
#endif

inline others_see_a_write(j)
{
	k = 0;
	do
	:: k < NN -> if :: k != j -> moved[k] = true :: else fi; k++
	:: else -> k = 0; break
	od
}

/* SIGKILL to the whole tree: it is gone within P. */
inline kill(j)
{
	if
	:: wl[j] == WL_RUN -> wl[j] = WL_DYING; die_t[j] = P; ph[j] = ST;
		printf("MSC: t=%d n%d fences: SIGKILL to its workload\n", clock, j)
	:: else -> ph[j] = W; printf("MSC: t=%d n%d fences (no workload yet)\n", clock, j)
	fi;
	hb_t[j] = 0;
	fence_t[j] = 0
}

/* WRITE_LIVE has landed: the record is ours; SPAWN if still taking the role. */
inline landed_write(j)
{
	rec = j;
	others_see_a_write(j);
	if
	:: ph[j] == WR ->
		printf("MSC: t=%d n%d writes its live record, starts the workload\n", clock, j);
		assert(nwl == 0);
#ifdef REACH_TAKEOVER
		assert(j == 0);
#endif
		wl[j] = WL_RUN;
		nwl++;
		ph[j] = LV
	:: else -> printf("MSC: t=%d n%d's WRITE_LIVE lands late, after its fence\n", clock, j)
	fi
}

/* A round's compare-and-write has landed (or ran at once). */
inline landed_hb(j)
{
	if
	:: rec == j ->
		others_see_a_write(j);
		if
		:: ph[j] == LV -> fence_t[j] = F
		:: else
		fi
	:: else ->
		if
		:: ph[j] == LV ->
			printf("MSC: t=%d n%d's round finds another's live record\n", clock, j);
			kill(j)
		:: else
		fi
	fi
}

/* The read at the end of VERIFYING has landed (or ran at once). */
inline landed_read(j)
{
	if
	:: moved[j] ->
		printf("MSC: t=%d n%d: the record moved; releases the lock\n", clock, j);
		if :: lock == j + 1 -> lock = 0 :: else fi;
		ph[j] = W
	:: else -> ph[j] = DEC
	fi
}

proctype Node(byte j)
{
	byte k;
	do
	/* get the live lock (and read L): VERIFYING */
	:: d_step { ph[j] == W && lock == 0 && !cut[j] && pend[j] == C_NONE ->
		lock = j + 1;
		moved[j] = false;
		ver_t[j] = D;
		ph[j] = V;
		if :: FIXV -> fence_t[j] = F; hb_t[j] = H :: else fi;
		printf("MSC: t=%d n%d gets the live lock, reads L: waits D\n", clock, j) }
	/* the delay is over: read */
	:: d_step { ph[j] == V && ver_t[j] == 0 && pend[j] == C_NONE ->
		if
		:: !cut[j] -> landed_read(j)
		:: else -> pend[j] = C_READ; call_t[j] = P; ph[j] = RD
		fi }
	/* nothing moved: WRITE_LIVE, the fence clock starts */
	:: d_step { ph[j] == DEC ->
		fence_t[j] = F;
		hb_t[j] = H;
		ph[j] = WR;
		if
		:: !cut[j] -> landed_write(j)
		:: else -> pend[j] = C_WRITE; call_t[j] = P
		fi }
	/* a round */
	:: d_step { ph[j] == LV && hb_t[j] == 0 && pend[j] == C_NONE ->
		hb_t[j] = H;
		if
		:: !cut[j] -> landed_hb(j)
		:: else -> pend[j] = C_HB; call_t[j] = P
		fi }
	/* FIX_VERIFY: a read during the delay, and its fence clock */
	:: d_step { FIXV && ph[j] == V && ver_t[j] > 0 && hb_t[j] == 0 && pend[j] == C_NONE ->
		hb_t[j] = H;
		if
		:: !cut[j] -> fence_t[j] = F
		:: else -> pend[j] = C_PING; call_t[j] = P
		fi }
	:: d_step { FIXV && (ph[j] == V || ph[j] == RD) && fence_t[j] == 0 ->
		printf("MSC: t=%d n%d: no read for F in its delay: gives up the takeover\n", clock, j);
		if :: !cut[j] && lock == j + 1 -> lock = 0 :: else fi;
		hb_t[j] = 0;
		fence_t[j] = 0;
		ver_t[j] = 0;
		ph[j] = W }
	/* the fence deadline */
	:: d_step { (ph[j] == LV || ph[j] == WR) && fence_t[j] == 0 ->
		printf("MSC: t=%d n%d: no round for F\n", clock, j);
		kill(j) }
	/* a call lands after the heal */
	:: d_step { pend[j] != C_NONE && !cut[j] ->
		if
		:: pend[j] == C_READ -> pend[j] = C_NONE; if :: ph[j] == RD -> landed_read(j) :: else fi
		:: pend[j] == C_WRITE -> pend[j] = C_NONE; landed_write(j)
		:: pend[j] == C_HB -> pend[j] = C_NONE; landed_hb(j)
		:: pend[j] == C_PING -> pend[j] = C_NONE; if :: ph[j] == V -> fence_t[j] = F :: else fi
		fi;
		call_t[j] = 0 }
	/* a call fails: the client gave up */
	:: d_step { pend[j] != C_NONE && cut[j] && call_t[j] == 0 ->
		printf("MSC: t=%d n%d: a storage call fails\n", clock, j);
		if
		:: (pend[j] == C_HB && ph[j] == LV) || (pend[j] == C_WRITE && ph[j] == WR) -> kill(j)
		:: (pend[j] == C_READ && ph[j] == RD) || (pend[j] == C_PING && ph[j] == V) ->
			ph[j] = W; hb_t[j] = 0; fence_t[j] = 0; ver_t[j] = 0 /* exit 74, rejoin */
		:: else
		fi;
		pend[j] = C_NONE }
	/* the workload is gone; the lock is released if it can be */
	:: d_step { ph[j] == ST ->
		printf("MSC: t=%d n%d's workload is gone\n", clock, j);
		wl[j] = WL_NONE;
		nwl--;
		die_t[j] = 0;
		if :: !cut[j] && lock == j + 1 -> lock = 0 :: else fi;
		ph[j] = W }
	/* a rejoined node's old open is closed: its lock goes with it */
	:: d_step { !cut[j] && lock == j + 1 && ph[j] == W -> lock = 0 }
	/* the storage gives a cut-off host's lock away */
	:: d_step { cut[j] && lease[j] == 0 && lock == j + 1 ->
		printf("MSC: t=%d the storage gives n%d's lock away\n", clock, j);
		lock = 0 }
	/* the environment: a cut, a heal */
	:: d_step { cuts < MAXCUT && !cut[j] &&
#ifndef CUT_ANY
		    HOLDING(j) &&
#endif
		    true ->
		cut[j] = true;
		lease[j] = L;
		cuts++;
		printf("MSC: t=%d n%d is cut off\n", clock, j) }
	:: d_step { cut[j] ->
		cut[j] = false;
		lease[j] = 0;
		printf("MSC: t=%d n%d is back\n", clock, j) }
	od
}

/* Time: one tick when nothing is due clock. */
init
{
	byte j;
	atomic {
		lock = 1;
		rec = 0;
		ph[0] = LV;
		wl[0] = WL_RUN;
		nwl = 1;
		hb_t[0] = H;
		fence_t[0] = F;
		j = 0;
		do
		:: j < NN -> run Node(j); j++
		:: else -> j = 0; break
		od
	}
	do
	:: d_step { !URGENT ->
		clock++;
		j = 0;
		do
		:: j < NN ->
			if :: ver_t[j] > 0 && ph[j] == V -> ver_t[j]-- :: else fi;
			if :: hb_t[j] > 0 && (ph[j] == LV || (FIXV && ph[j] == V)) -> hb_t[j]-- :: else fi;
			if :: fence_t[j] > 0 && (ph[j] == LV || ph[j] == WR || (FIXV && (ph[j] == V || ph[j] == RD))) -> fence_t[j]-- :: else fi;
			if :: call_t[j] > 0 && pend[j] != C_NONE -> call_t[j]-- :: else fi;
			if :: die_t[j] > 0 && ph[j] == ST -> die_t[j]-- :: else fi;
			if :: lease[j] > 0 && cut[j] -> lease[j]-- :: else fi;
			j++
		:: else -> j = 0; break
		od }
	od
}
