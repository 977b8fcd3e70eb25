#!/usr/bin/env python3
"""Soak test: many understudy groups at once, driven at random for long.

Each group is a group of the chaos test (tests/chaos/chaos.py, whose class
this extends and whose loop it runs for every group from one select): node-a
primary, node-b, node-c (and in every other group node-d) backups, its own
lock file, witness log, witness lock and tick directory. Each group gets its
own schedule, from --seed and its number, of:

  kill-manager      SIGKILL of a manager (the live one half of the time)
  kill-workload     SIGKILL of the running workload
  kill-host         SIGKILL of a manager and its workload at once (a host's
                    death, as far as one group can tell)
  freeze-short      SIGSTOP of a manager for less than the fence timeout
  freeze-long       ... for more than it (up to 2.5 times)
  freeze-workload   SIGSTOP of the workload
  stop-manager      SIGTERM of a manager (backups with --failover-on-shutdown
                    on half of their starts: pause or hand on)
  failback          understudy failback --wait
  switchover        understudy switchover [--to NAME] --wait
  hold-storage      another process holds the record lock (byte 19) of the
                    lock file for 0.2 to 2.5 fence timeouts: every read and
                    write of the group waits, as on storage that stops
                    answering, but the live node's rounds, which take no
                    record lock while the file asks for nothing (local file
                    system only)
  delete-lock       the lock file unlinked under the group
  replace-lock      a copy of the lock file renamed over it
  partition         (--gluster, --ceph) a host cut off the storage for 1 to
                    10 s, every 4 to 16 s: for every group at once, since
                    the groups share the hosts

and, on their own starts, workloads that crash (exit 3 after 0.3 to 4 s, a
quarter of the manager starts) and workloads slow to become ready
(--ready notify, ready 0 to 1.5 s after start, against a 1 s ready timeout,
two fifths of the starts). A manager that exits is started again 0.1 to
1.5 s later.

What it measures, per group and in all, from the witnesses' own records:
  transitions   workload starts
  overlaps      a witness that found its group's witness lock taken, plus
                intersecting workload intervals of one group; must be 0
  availability  the share of the run with a workload running that said it
                is ready (at once with --ready exec)
  gaps          every stretch without a running workload, each held against
                what explains it. A stretch is explained while nobody could
                run the workload (no manager up that could start it: none
                up, all frozen or cut off, or only backups in a paused or
                new group), while a process of the group is frozen (a
                frozen waiting manager's storage process can take the live
                lock for it), while the storage is held (or, on a storage
                that keeps a cut host's locks, the host is cut), and within
                the bound of a cause that
                started before it: a workload's end, a manager killed,
                stopped, thawed or started, a node joining again after a
                fence, the lock file deleted or replaced, the storage
                answering again, a partition or its heal. The bounds come
                from the nodes' settings and what `understudy run --check`
                derives from them, in one function, bounds(). Any
                unexplained instant fails the run.
Managers stuck in a storage call (a thread in D that does not end) are
counted and reported apart; on a rig they are the FUSE client's and do not
fail the run.

The last line is "N transitions, M overlaps, availability A%"; the exit
status is 1 on any overlap, unexplained gap, unexpected manager exit
status, or (locally) manager that did not exit when asked.
"""

import argparse
import bisect
import os
import random
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "chaos"))
import chaos  # noqa: E402  (tests/chaos/chaos.py: one group)
from chaos import MS, SEC, Node, now  # noqa: E402

ACTIONS = {  # kind: weight
    "kill-manager": 3,
    "kill-workload": 2,
    "kill-host": 1.5,
    "freeze-short": 1,
    "freeze-long": 1,
    "freeze-workload": 1,
    "stop-manager": 2,
    "failback": 1.5,
    "switchover": 2,
    "hold-storage": 1,
    "delete-lock": 0.5,
    "replace-lock": 0.5,
}
LOCAL_ONLY = {"hold-storage"}
# After a heal, when the GlusterFS client must answer again (it reconnects
# within its 3 s ping timeout on the rig).
CLIENT_CHECK_NS = 10 * SEC

# How long the rig's brick keeps a cut-off client's locks (L in
# doc/fencing.md): server.tcp-user-timeout of tests/cluster/gluster-rig.sh.
# On the CephFS rig the cuts are shorter than an eviction: a cut-off
# host's locks are never given away.
RIG_LOCK_RELEASE = {"gluster": 3.0, "ceph": None}


def dur(v):
    """A duration as understudy takes it (100ms, 1s, 2m), in seconds."""
    for suffix, mult in (("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)):
        if v.endswith(suffix):
            return float(v[: -len(suffix)]) * mult
    return float(v)


def settings(timing):
    """The options of a timing list (chaos.LOCAL_TIMING...) as a dict."""
    return {timing[i].lstrip("-"): timing[i + 1] for i in range(0, len(timing), 2)}


def derived(understudy, timing):
    """What `understudy run --check` derives from the timing (its
    derived.* lines, the timeline module's): the takeover delay, the
    new-file wait, how often a lock wait is cut, as strings."""
    d = tempfile.mkdtemp(prefix="us-soak-check.")
    try:
        out = subprocess.run([understudy, "run", "--lock", os.path.join(d, "g.lock"), "--role", "backup",
                              "--name", "check", *timing, "--check", "--", "/bin/true"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    text = out.stdout.decode(errors="replace")
    got = {}
    for line in text.splitlines():
        if line.startswith("derived.") and " = " in line:
            k, v = line[len("derived."):].split(" = ", 1)
            got[k] = v.strip()
    need = ("takeover-delay.local", "takeover-delay.networked", "new-file-wait.local", "new-file-wait.networked",
            "lock-wait-cut", "queue-try.networked")
    missing = [k for k in need if k not in got]
    if out.returncode != 0 or missing:
        sys.exit("soak: `%s run --check` (exit %d) did not print derived.%s; it said:\n%s" % (
            understudy, out.returncode, ", derived.".join(missing) or "...", text[-2000:]))
    return got


def bounds(s, d, networked, slack, lock_release=None):
    """The longest time each cause may leave a group without a running
    workload, in seconds, from a node's settings s (as settings() gives)
    and what `understudy run --check` derives from them, d (as derived()
    gives): the takeover delay D, the new-file wait W, the cut of a
    lock wait and the queue's try pace, the timeline's figures
    (doc/fencing.md). The back-off
    (protocol.md §5.7) and the pause before a fenced node joins again are
    no settings and not in that output: they are taken from the
    documentation here. This is the one place the figures become bounds.
    """
    C = dur(s["check-interval"])
    net = "networked" if networked else "local"
    D = dur(d["takeover-delay." + net])
    W = dur(d["new-file-wait." + net])
    cut = dur(d["lock-wait-cut"])
    # The restart back-off, 100 ms x 2^k, k < --max-restarts, at most 5 s.
    backoff = min(0.1 * 2 ** (int(s["max-restarts"]) - 1), 5.0)
    # A fenced node's pause before it joins again (cmd_run.c).
    rejoin = 1.0
    # A FUSE client caches a path's entry (GlusterFS entry-timeout, 1 s):
    # the live may see its file replaced that much later.
    entry_cache = 1.0 if networked else 0.0
    # After a heal a GlusterFS client answers again only once it has
    # connected to the brick again, which it tries every 3 s (seen: the
    # first call that succeeded came 1.6 to 2.9 s after the heal, in seed
    # 1131). A node of the healed host that waits for the storage then
    # opens the file within a second (rejoin).
    reconnect = 3.0 if networked else 0.0
    # The live lock free (or the role handed on) to the next workload
    # started: a waiter's wait is cut and tried again every cut, then the
    # takeover delay. Off a local file system the next in line may still
    # be queued (the backup took over a moment before): it tries the
    # backup lock at least every queue-try.
    queue = dur(d["queue-try.networked"]) if networked else 0.0
    takeover = queue + D + cut + slack
    # A manager started to its workload started, when nobody is live: it
    # claims a slot, tries or waits for the lock (tried again every cut),
    # reads the file (every C), and on a new or foreign file waits W.
    join = cut + C + W + slack
    b = {
        "workload ended": backoff + takeover,  # restarted, or given up (69) and taken over
        "manager killed": takeover,
        "manager stopped": takeover,
        "manager thawed": backoff + takeover,  # its workload died while it was frozen
        "manager started": join,
        "joined again": rejoin + join,  # a node that fenced, from its word
        "file replaced": C + entry_cache + rejoin + join,  # the live sees it within C, fences, joins again
        "storage answers": rejoin + join,  # the held record lock released
        "healed": reconnect + rejoin + join,
    }
    if lock_release is not None:
        # A cut-off live host: the storage gives its lock away after L,
        # the backup waits D (doc/fencing.md: time without a live
        # workload after a crash = L + D).
        b["partition"] = lock_release + queue + D + cut + slack
    return b


# --- interval sets: sorted lists of disjoint [from, to) in ns ------------------


def union(ivs):
    out = []
    for f, t in sorted(ivs):
        if t <= f:
            continue
        if out and f <= out[-1][1]:
            out[-1][1] = max(out[-1][1], t)
        else:
            out.append([f, t])
    return out


def subtract(a, b):
    """a minus b, both sets."""
    out, j = [], 0
    for f, t in a:
        cur = f
        while j < len(b) and b[j][1] <= cur:
            j += 1
        k = j
        while k < len(b) and b[k][0] < t:
            if b[k][0] > cur:
                out.append([cur, b[k][0]])
            cur = max(cur, b[k][1])
            k += 1
        if cur < t:
            out.append([cur, t])
    return out


def intersect(a, b):
    return subtract(a, subtract(a, b))


def total(ivs):
    return sum(t - f for f, t in ivs)


class Group(chaos.Chaos):
    def __init__(self, a, index, nodes):
        self.index, self.n_nodes = index, nodes
        self.lock_name = "soak-g%d.lock" % index
        d = os.path.join(a.dir, "g%d" % index)
        os.makedirs(d, exist_ok=True)
        super().__init__(a, dir=d, seed=a.seed * 1000 + index)
        self.rng_opts = random.Random(self.seed * 104729 + 3)
        # Keyed by (pid, start t): a long run uses a pid again.
        self.ready_at = {}  # -> t it said ready
        self.exec_ready = {}  # -> True when its manager had --ready exec
        self.started_at = {}  # pid -> t of its latest start line
        self.crashed = set()  # (pid, start t) of those that exited on their own (--exit-after)
        self.windows = []  # (from, to, cause) in ns
        self.events = []  # (t, kind) for the picture
        self.holds = []  # [from, to] of the storage held
        self.holders = []  # (Popen, hold index)
        self.ready_mode = {}
        self.wl_killed = {}  # workload pid -> when the driver killed it (or its manager)

    def make_nodes(self):
        spec = [("node-a", "primary", "a"), ("node-b", "backup", "b"), ("node-c", "backup", "b"),
                ("node-d", "backup", "a")][: self.n_nodes]
        if self.a.rig:
            return [Node(n, r, h, self.lock_on(h)) for n, r, h in spec]
        return [Node(n, r, None, self.lock_on(None)) for n, r, _ in spec]

    def window(self, t, cause):
        self.windows.append((t, t + int(self.a.bounds[cause] * SEC), cause))

    # --- starts: crashing and slow workloads ----------------------------------

    def start_options(self, n):
        r = self.rng_opts
        opts, wl = [], []
        if r.random() < 0.4:
            opts += ["--ready", "notify", "--ready-timeout", "1s"]
            wl += ["--ready-notify", "--ready-after", str(int(r.uniform(0, 1500)))]
            self.ready_mode[n.name] = "notify"
        else:
            self.ready_mode[n.name] = "exec"
        if r.random() < 0.25:
            wl += ["--exit-after", str(int(r.uniform(300, 4000))), "--exit-code", "3"]
        return opts, wl

    def start(self, n):
        super().start(n)
        self.window(n.up_since, "manager started")

    # --- what the witnesses and managers say ----------------------------------

    def log_line(self, w):
        if len(w) >= 4 and w[0] == "ready":
            pid = int(w[2])
            self.ready_at.setdefault((pid, self.started_at.get(pid)), int(w[3]))
        elif len(w) >= 4 and w[0] == "start":
            pid = int(w[2])
            self.started_at[pid] = int(w[3])
            self.exec_ready[(pid, int(w[3]))] = self.ready_mode.get(w[1]) == "exec"
        elif len(w) >= 5 and w[0] == "exit":
            self.crashed.add((int(w[2]), self.started_at.get(int(w[2]))))

    def stderr_line(self, n, t, line):
        if "joining again as a new node" in line:
            self.window(t, "joined again")
            self.events.append((t, "rejoin"))

    # --- actions -----------------------------------------------------------------

    def act(self, kind, p):
        t = now()
        self.events.append((t, kind))
        if kind in ("kill-workload", "kill-manager"):
            # What it kills dies now: a workload frozen meanwhile (its
            # ticks stopped at the freeze) ended here, not at its last tick.
            cur = self.current_workload()
            n = self.pick(p["target"]) if kind == "kill-manager" else None
            if cur and (kind == "kill-workload" or (n and cur[0] == n.name)):
                self.wl_killed[cur[1]] = t
        if kind in ("freeze-short", "freeze-long"):
            self.counts[kind] = self.counts.get(kind, 0) + 1
            n = self.pick(p["target"])
            if n is None or n.frozen_since is not None:
                return
            self.freeze("manager " + n.name, n.proc.pid, p["secs"], n)
        elif kind == "kill-host":
            self.counts[kind] = self.counts.get(kind, 0) + 1
            n = self.pick(p["target"])
            if n is None:
                return
            cur = self.current_workload()
            wl = cur[1] if cur and cur[0] == n.name else None
            if wl:
                self.wl_killed[wl] = t
            self.note("SIGKILL host of %s: manager pid %d, workload %s" % (n.name, n.proc.pid, wl or "-"))
            n.kill_sent = True
            for pid in (wl, n.proc.pid):
                if pid:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            self.window(t, "manager killed")
        elif kind == "hold-storage":
            self.counts[kind] = self.counts.get(kind, 0) + 1
            self.hold(p["secs"])
        elif kind in ("delete-lock", "replace-lock"):
            self.counts[kind] = self.counts.get(kind, 0) + 1
            self.replace(kind == "replace-lock")
        else:
            super().act(kind, p)
            if kind == "kill-manager":
                self.window(t, "manager killed")
            elif kind == "stop-manager":
                self.window(t, "manager stopped")

    def thaw(self, label, pid, node, idx):
        was = self.frozen[idx][1]
        super().thaw(label, pid, node, idx)
        if was is None and self.frozen[idx][1] is not None and node is not None:
            self.window(self.frozen[idx][1], "manager thawed")

    def cut_off(self, h, t):
        """Host h was cut off the storage at t (by the Soak: one cut for
        every group on the host)."""
        self.partitioned[h] = t
        self.cut[h].append([t, None])
        self.events.append((t, "partition"))
        self.note("partition: host %s cut off the storage" % h)
        if "partition" in self.a.bounds:
            self.window(t, "partition")

    def healed(self, h, t):
        if h not in self.partitioned:
            return
        del self.partitioned[h]
        self.cut[h][-1][1] = t
        self.events.append((t, "heal"))
        self.window(t, "healed")
        self.note("heal: host %s reconnected" % h)

    def client_stuck(self, h, since, t):
        """Host h's storage client stopped answering at its heal (since)
        and was mounted again at t: the host was cut off all along."""
        self.cut[h].append([since, t])
        self.events.append((t, "heal"))
        self.window(t, "healed")
        self.note("heal: host %s's client did not reconnect: mounted again (cut off since +%.3f s)" % (
            h, (since - self.t0) / SEC))

    def hold(self, secs):
        """Another process takes the record lock (byte 19) and keeps it."""
        lock = self.lock_on(None)
        code = ("import fcntl, os, sys, time\n"
                "fd = os.open(sys.argv[1], os.O_RDWR)\n"
                "fcntl.lockf(fd, fcntl.LOCK_EX, 1, 19)\n"
                "time.sleep(float(sys.argv[2]))\n")
        try:
            p = subprocess.Popen([sys.executable, "-c", code, lock, "%.3f" % (secs + 5)],
                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except OSError as e:
            self.note("hold-storage: %s" % e)
            return
        t = now()
        self.holds.append([t, None])
        self.holders.append((p, len(self.holds) - 1))
        self.note("hold-storage: pid %d holds the record lock of %s for %.3f s" % (p.pid, lock, secs))
        self.at(t + int(secs * SEC), "unhold", len(self.holders) - 1)

    def unhold(self, i):
        p, idx = self.holders[i]
        if self.holds[idx][1] is not None:
            return
        p.kill()
        p.wait()
        t = now()
        self.holds[idx][1] = t
        self.window(t, "storage answers")
        self.note("hold-storage: pid %d released the record lock" % p.pid)

    def replace(self, copy):
        t = now()
        what = "replace-lock" if copy else "delete-lock"
        if self.a.rig:
            # Through a host not cut off, and in a process of its own: a
            # call on a FUSE mount can hang, and must not hang the driver.
            up = [h for h in ("a", "b") if h not in self.partitioned]
            if not up:
                self.note("%s: every host is cut off" % what)
                return
            lock = self.lock_on(up[0])
            sh = ('cp -p "$1" "$1.copy" && mv -f "$1.copy" "$1"' if copy else 'rm -f "$1"')
            subprocess.Popen(["sh", "-c", sh, "sh", lock], stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        else:
            lock = self.lock_on(None)
            try:
                if copy:
                    tmp = lock + ".copy"
                    shutil.copy2(lock, tmp)
                    os.rename(tmp, lock)
                else:
                    os.unlink(lock)
            except OSError as e:
                self.note("%s: %s" % (what, e))
                return
        self.window(t, "file replaced")
        if not copy and not self.paused_open():
            # A new file says N: only a primary starts the group.
            self.paused.append([t, None])
        self.note("%s %s" % ("replaced by a copy of itself:" if copy else "deleted:", lock))

    def dispatch(self, what, args):
        if what == "unhold":
            self.unhold(*args)
        else:
            super().dispatch(what, args)

    def schedule(self):
        rng = random.Random(self.seed)
        kinds = {k: v for k, v in ACTIONS.items()
                 if not (self.a.rig and k in LOCAL_ONLY) and k not in self.a.without}
        names, weights = list(kinds), list(kinds.values())
        F = dur(settings(self.timing)["fence-timeout"])
        lo, hi = self.a.interval
        hosts = [None] if not self.a.rig else ["a", "b"]
        out, t = [], 0.5 + rng.uniform(0, hi)
        while t < self.a.duration:
            kind = rng.choices(names, weights)[0]
            node = rng.choice(self.nodes).name
            p = {
                "target": (["live", node] if rng.random() < 0.5 else [node]),
                "secs": {"freeze-short": rng.uniform(0.1, 0.9) * F, "freeze-long": rng.uniform(1.1, 2.5) * F,
                         "hold-storage": rng.uniform(0.2, 2.5) * F}.get(kind, rng.uniform(0.1, 2.0)),
                "host": rng.choice(hosts),
                "to": node if rng.random() < 0.5 else None,
            }
            out.append((t, kind, p))
            t += rng.uniform(lo, hi)
        return out

    def teardown_extra(self):
        for p, idx in self.holders:
            if self.holds[idx][1] is None:
                p.kill()
                p.wait()
                self.holds[idx][1] = now()

    # --- figures -------------------------------------------------------------------

    def analyse(self, T0, T1):
        """Overlaps, availability and the gaps with their causes."""
        iv = self.intervals()
        overlaps = list(self.overlap_lines)
        for i in range(len(iv)):
            for j in range(i + 1, len(iv)):
                if iv[j][0] >= iv[i][1]:
                    break
                overlaps.append("%s pid %d [+%.3f, +%.3f] and %s pid %d from +%.3f" % (
                    iv[i][2], iv[i][3], (iv[i][0] - T0) / SEC, (iv[i][1] - T0) / SEC,
                    iv[j][2], iv[j][3], (iv[j][0] - T0) / SEC))
        span = [[T0, T1]]
        running = intersect(union([[f, e] for f, e, _, _ in iv]), span)
        ready = []
        for f, e, _, pid in iv:
            r = self.ready_at.get((pid, f), f if self.exec_ready.get((pid, f), True) else None)
            if r is not None and r < e:
                ready.append([r, e])
        ready = intersect(union(ready), span)

        def closed(lst):
            return union([[f, t if t is not None else T1] for f, t, *_ in lst])

        frozen_by = {}
        for f, t, who in self.frozen:
            frozen_by.setdefault(who, []).append([f, t if t is not None else T1])
        cut = {h: closed(v) for h, v in self.cut.items()}
        paused = closed(self.paused)
        able_all, able_primary = [], []
        for n in self.nodes:
            x = subtract(closed(self.up[n.name]), union(frozen_by.get(n.name, [])))
            if n.host:
                x = subtract(x, cut.get(n.host, []))
            able_all += x
            if n.role == "primary":
                able_primary += x
        able = union(subtract(union(able_all), paused) + intersect(union(able_primary), paused))
        nobody = subtract(span, able)
        # A manager frozen: the live one keeps the live lock, and nobody
        # may take over; a waiting one may get the live lock all the
        # same, since its storage process (not frozen) makes its lock
        # calls, and then holds it until SIGCONT, deciding nothing.
        live_frozen = union([x for n in self.nodes for x in frozen_by.get(n.name, [])])
        # A workload frozen: it stops ticking, so its interval ends at
        # the freeze when it dies frozen, yet it holds its place until it
        # is gone: excused from the freeze to the next start.
        next_start = sorted(f for f, _, _, _ in iv)
        for who, lst in frozen_by.items():
            if who.startswith("wl:"):
                for f, t in lst:
                    k = bisect.bisect_right(next_start, f)
                    live_frozen.append([f, min(t, next_start[k]) if k < len(next_start) else t])
        live_frozen = union(live_frozen)
        held = closed(self.holds)
        if self.a.rig and "partition" not in self.a.bounds:
            # A storage that keeps a cut-off host's locks for the whole
            # cut (CephFS before its eviction): nobody may take over.
            held = union(held + [x for v in cut.values() for x in v])
        excused = union(nobody + live_frozen + held)
        wins = list(self.windows)
        for f, e, name, pid in iv:
            if e < T1:
                # From its last tick, and from its kill when it was
                # frozen then (its ticks stopped at the freeze).
                # A kill long after the last tick was of a later process
                # with the pid (a workload freezes for 2 s at most).
                k = self.wl_killed.get(pid, e)
                k = k if e <= k <= e + 5 * SEC else e
                for x in {e, k}:
                    wins.append((x, x + int(self.a.bounds["workload ended"] * SEC), "workload ended"))
        explained = union(excused + [[f, t] for f, t, _ in wins])
        gaps = subtract(span, running)
        unexplained = subtract(gaps, explained)
        # Each gap's chain: from its start, the excuse or window reaching
        # furthest, then from where that ends the next, until the gap's
        # end or nothing more. Its cause is the first link; the chain's
        # end is the bound the timeline predicts for it.
        items = sorted([(f, t, why) for f, t, why in wins] +
                       [(f, t, why) for why, lst in (("nobody could run it", nobody),
                                                     ("a process frozen", live_frozen),
                                                     ("storage held", held)) for f, t in lst])
        starts = [x[0] for x in items]
        longest = max([t - f for f, t, _ in items] + [0])
        causes, chains = {}, []
        for g in gaps:
            lo = bisect.bisect_left(starts, g[0] - longest)
            hi = bisect.bisect_right(starts, g[1])
            cand = items[lo:hi]
            reach, chain = g[0], []
            while reach < g[1]:
                best = None
                for f, t, why in cand:
                    if f <= reach < t and (best is None or t > best[1]):
                        best = (f, t, why)
                if best is None:
                    break
                chain.append(best)
                reach = best[1]
            c = chain[0][2] if chain else "none"
            st = causes.setdefault(c, [0, 0, 0, None])
            st[0] += 1
            st[1] += g[1] - g[0]
            st[2] = max(st[2], g[1] - g[0])
            # How close a gap that nothing else touched came to what its
            # cause allows.
            touching = [x for x in cand if x[0] < g[1] and x[1] > g[0]]
            if chain and len(touching) == 1:
                frac = (g[1] - g[0]) / max(1, chain[0][1] - chain[0][0])
                st[3] = frac if st[3] is None else max(st[3], frac)
            chains.append((g, chain))
        return {
            "starts": len(iv), "overlaps": overlaps, "running": total(running), "ready": total(ready),
            "gaps": gaps, "unexplained": unexplained, "causes": causes, "nobody": total(nobody),
            "intervals": iv, "chains": chains,
        }


class Soak:
    def __init__(self, a):
        self.a = a
        self.groups = [Group(a, i, 3 + (i % 2) if a.nodes is None else a.nodes) for i in range(a.groups)]

    def run(self):
        a = self.a
        self.t0 = now()
        for g in self.groups:
            g.t0 = self.t0
            g.note("soak: group %d, seed %d, duration %.1f s" % (g.index, g.seed, a.duration))
            for n in g.nodes:
                g.start(n)
            for off, kind, p in g.schedule():
                g.at(self.t0 + int(off * SEC), "act", kind, p)
        t_end = self.t0 + int(a.duration * SEC)
        cuts = self.partitions()
        self.cut_now = {}
        self.client_checks, self.stuck_clients = [], []
        last_print = self.t0
        while True:
            t = now()
            if t >= t_end:
                break
            while cuts and self.t0 + int(cuts[0][0] * SEC) <= t:
                self.link(*cuts.pop(0)[1:])
            while self.client_checks and self.client_checks[0][0] <= t:
                self.check_client(*self.client_checks.pop(0)[1:])
            for g in self.groups:
                g.due(t)
            nxt = min([g.next_due(t_end) for g in self.groups] + [t_end] +
                      ([self.t0 + int(cuts[0][0] * SEC)] if cuts else []))
            fds = [fd for g in self.groups for fd in g.pipes]
            timeout = max(0, min(nxt - now(), 20 * MS)) / SEC
            r, _, _ = select.select(fds, [], [], timeout)
            for g in self.groups:
                g.service(r)
            if a.progress and t - last_print >= a.progress * SEC:
                last_print = t
                print("soak: +%.0f s, %d transitions" % ((t - self.t0) / SEC,
                                                        sum(len(g.starts) for g in self.groups)), flush=True)
        self.t_end = now()
        for h in list(self.cut_now):
            self.link(h, False)
        for g in self.groups:
            g.t_end = self.t_end
            g.note("end of soak: stopping every node")
            g.teardown_extra()
            g.stop_all()
        hung = []
        for g in self.groups:
            hung += ["group %d: %s" % (g.index, h) for h in g.finish_stop()]
        return hung

    def partitions(self):
        """On a rig: (offset, host, down) for the cuts and heals of the run."""
        if not self.a.rig:
            return []
        rng = random.Random(self.a.seed * 31 + 7)
        out, t = [], 2.0 + rng.uniform(0, 4)
        while t < self.a.duration:
            h, secs = rng.choice(["a", "b"]), rng.uniform(1.0, 10.0)
            out += [(t, h, True), (min(t + secs, self.a.duration), h, False)]
            t += secs + rng.uniform(4.0, 16.0)
        return out

    def link(self, h, down):
        """Cut host h off the storage (down) or heal it, for every group."""
        if down == (h in self.cut_now):
            return
        ns = "%s-%s" % (self.a.ns, h)
        subprocess.run(["nsenter", "--net=/run/netns/" + ns, "--", "ip", "link", "set", ns + "-n",
                        "down" if down else "up"], check=True)
        t = now()
        if down:
            self.cut_now[h] = t
        else:
            del self.cut_now[h]
            if self.a.gluster:
                self.client_checks.append((t + CLIENT_CHECK_NS, h, t))
        for g in self.groups:
            (g.cut_off if down else g.healed)(h, t)

    def check_client(self, h, healed_at):
        """A while after a heal: does host h's GlusterFS client answer? Its
        client can stop reconnecting for good after a cut (every call on
        the mount fails with ENOTCONN, seen with 10.3: its timer and epoll
        threads wait on each other). That is the client's, not
        understudy's: counted apart, and the mount made again so that the
        run goes on testing understudy."""
        if h in self.cut_now:
            return
        mnt = os.path.dirname(self.groups[0].lock_on(h))
        if subprocess.run(["timeout", "5", "stat", "-f", mnt], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode == 0:
            return
        src = None
        with open("/proc/mounts") as f:
            for line in f:
                w = line.split()
                if len(w) > 2 and w[1] == mnt:
                    src = w[0]
        subprocess.run(["umount", "-l", mnt], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ns = "%s-%s" % (self.a.ns, h)
        subprocess.run(["timeout", "60", "nsenter", "--net=/run/netns/" + ns, "--", "mount", "-t", "glusterfs",
                        "-o", "direct-io-mode=enable", src or "10.213.0.1:/v", mnt],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        t = now()
        self.stuck_clients.append((healed_at, h, t))
        for g in self.groups:
            g.client_stuck(h, healed_at, t)

    def report(self, hung):
        a, T0, T1 = self.a, self.t0, self.t_end
        res = [g.analyse(T0, T1) for g in self.groups]
        span = (T1 - T0) / SEC
        starts = sum(r["starts"] for r in res)
        overlaps = sum(len(r["overlaps"]) for r in res)
        ready = sum(r["ready"] for r in res) / SEC
        avail = 100.0 * ready / (span * len(self.groups)) if span else 0.0
        print("soak: seed %d, %.1f s, %d groups (%s), %s" % (
            a.seed, span, len(self.groups), ", ".join(str(len(g.nodes)) for g in self.groups),
            "%s, hosts a and b" % a.fs if a.rig else "local file system"))
        print("  directory: %s" % a.dir)
        print("  bounds (s): %s" % ", ".join("%s %.2f" % kv for kv in sorted(a.bounds.items())))
        counts, exits, reqs = {}, {}, {}
        for g in self.groups:
            for d, src in ((counts, g.counts), (exits, g.exit_codes), (reqs, g.request_codes)):
                for k, v in src.items():
                    d[k] = d.get(k, 0) + v
        crashed = sum(len(g.crashed) for g in self.groups)
        print("  actions: %s; workloads that crashed: %d" % (
            ", ".join("%s %d" % kv for kv in sorted(counts.items())), crashed))
        print("  manager exit statuses: %s" % ", ".join("%d x%d" % kv for kv in sorted(exits.items())))
        print("  requests (command exit status): %s" % (", ".join("%s x%d" % kv for kv in sorted(reqs.items()))
                                                         or "none"))
        print("  transitions: %d (%.1f a minute)" % (starts, starts * 60 / span if span else 0))
        late = sum(len(g.late_releases) for g in self.groups)
        print("  overlaps: %d; witness lock still held by a killed, exiting workload at a start: %d" % (
            overlaps, late))
        causes = {}
        for r in res:
            for c, (n, tot, mx, frac) in r["causes"].items():
                st = causes.setdefault(c, [0, 0, 0, None])
                st[0] += n
                st[1] += tot
                st[2] = max(st[2], mx)
                if frac is not None:
                    st[3] = frac if st[3] is None else max(st[3], frac)
        n_gaps = sum(len(r["gaps"]) for r in res)
        chained = sum(1 for r in res for g, ch in r["chains"] if len(ch) > 1)
        print("  gaps: %d, %d of them explained by more than one cause in a row; by first cause "
              "(count, total, longest, bound; the most of its bound a gap with no other cause used):" % (
                  n_gaps, chained))
        for c, (n, tot, mx, frac) in sorted(causes.items(), key=lambda kv: -kv[1][1]):
            b = a.bounds.get(c)
            print("    %-22s %6d %9.3f s %7.3f s %s" % (
                c, n, tot / SEC, mx / SEC, "   (while it lasts)" if b is None else
                "%7.3f s %s" % (b, "%4.0f%%" % (100 * frac) if frac is not None else "   -")))
        worst = sorted(((g, ch, grp) for grp, r in zip(self.groups, res) for g, ch in r["chains"]),
                       key=lambda x: x[0][0] - x[0][1])[:3]
        for g, ch, grp in worst:
            print("  longest: group %d, %.3f s from +%.3f s: %s" % (
                grp.index, (g[1] - g[0]) / SEC, (g[0] - T0) / SEC,
                " then ".join("%s (+%.3f to +%.3f)" % (why, (f - T0) / SEC, (t - T0) / SEC) for f, t, why in ch)
                or "nothing explains it"))
        failed = []
        for g, r in zip(self.groups, res):
            ua = total(r["unexplained"]) / SEC
            print("  group %d: %d transitions, availability %.1f%%, running %.1f%%, nobody could run it %.1f s%s" % (
                g.index, r["starts"], 100.0 * r["ready"] / SEC / span, 100.0 * r["running"] / SEC / span,
                r["nobody"] / SEC, ", UNEXPLAINED %.3f s" % ua if ua else ""))
            for o in r["overlaps"]:
                # A witness lock held when nobody has the witness lock
                # file open any more: the old workload's exit released the
                # group's live lock before that file (doc/soak.md).
                why = (" (no witness has it open: released by an exiting workload after the live lock)"
                       if o.startswith("overlap ") and o.split()[-1] == "-" else "")
                failed.append("group %d: overlap: %s%s" % (g.index, o, why))
            for f, t in r["unexplained"][:5]:
                failed.append("group %d: gap not explained from +%.3f s to +%.3f s (%.3f s)" % (
                    g.index, (f - T0) / SEC, (t - T0) / SEC, (t - f) / SEC))
            failed += ["group %d: unexpected exit: %s" % (g.index, u) for u in g.unexpected]
            if a.rig:
                # On the rig a manager stuck in the FUSE client is the
                # client's: counted apart (doc/fencing.md).
                pass
            else:
                failed += ["group %d: hang: %s" % (g.index, h) for h in g.hangs]
        stuck = sum(len(g.hangs) for g in self.groups) + len(hung)
        print("  storage calls that never returned (managers that did not exit when asked): %d" % stuck)
        if a.gluster:
            print("  GlusterFS clients that did not reconnect after a heal (mounted again; the host counted "
                  "as cut off until then): %d%s" % (len(self.stuck_clients), "".join(
                      "\n    host %s from +%.3f s to +%.3f s" % (h, (f - T0) / SEC, (t - T0) / SEC)
                      for f, h, t in self.stuck_clients)))
        for h in (hung + [h for g in self.groups for h in g.hangs])[:10]:
            print("    " + h)
        if not a.rig:
            failed += ["hang: " + h for h in hung]
        for png in self.picture(res):
            print("  picture: %s" % png)
        for f in failed[:40]:
            print("  FAIL: " + f)
        print("  %s (replay: scripts/soak.sh --seed %d --duration %g --groups %d%s%s)" % (
            "FAILED" if failed else "PASS", a.seed, a.duration, a.groups, " --" + a.rig if a.rig else "",
            "".join(" --without " + k for k in a.without)))
        print("%d transitions, %d overlaps, availability %.1f%%" % (starts, overlaps, avail))
        return 1 if failed else 0

    # --- the picture -------------------------------------------------------------

    def picture(self, res):
        """Two PNGs: the whole run (a lane per group: who was live, the
        gaps, what nothing explains, the overlaps) and a zoom on 60 s
        around the worst moment, with the faults marked. Returns their
        paths."""
        a, T0 = self.a, self.t0
        if not shutil.which("gnuplot"):
            print("  picture: none (gnuplot is missing; scripts/soak.sh installs it)")
            return []
        sec = lambda t: (t - T0) / SEC  # noqa: E731
        dat = os.path.join(a.dir, "soak.dat")
        colors = {"node-a": 1, "node-b": 2, "node-c": 3, "node-d": 4}
        kinds = sorted(set(k for g in self.groups for _, k in g.events))
        overlaps = []  # (t, group)
        for g, r in zip(self.groups, res):
            for o in r["overlaps"]:
                w = o.split()
                if w[0] == "overlap":
                    overlaps.append((int(w[2]), g.index))
                else:  # "NAME pid P [+a, +b] and NAME pid Q from +c"
                    overlaps.append((T0 + int(float(w[-1].lstrip("+")) * SEC), g.index))
        # Blocks, gnuplot's "index": 0 live, 1 gaps, 2 unexplained, 3
        # overlaps, 4 faults. An empty block gets a point off the plot.
        blocks = [[], [], [], [], []]
        for g, r in zip(self.groups, res):
            for st, e, name, pid in r["intervals"]:
                blocks[0].append("%.4f %.4f %d %d" % ((sec(st) + sec(e)) / 2, (e - st) / 2 / SEC, g.index,
                                                      colors.get(name, 5)))
            for st, e in r["gaps"]:
                blocks[1].append("%.4f %.4f %d" % ((sec(st) + sec(e)) / 2, (e - st) / 2 / SEC, g.index))
            for st, e in r["unexplained"]:
                blocks[2].append("%.4f %.4f %d" % ((sec(st) + sec(e)) / 2, max((e - st) / 2 / SEC, 0.05), g.index))
            for t, k in g.events:
                blocks[4].append("%.4f %.3f %d" % (sec(t), g.index + 0.42, kinds.index(k)))
        for t, gi in overlaps:
            blocks[3].append("%.4f %d" % (sec(t), gi))
        with open(dat, "w") as f:
            for b in blocks:
                f.write("\n".join(b or ["-1000 -10 -10 0"]) + "\n\n\n")
        span = sec(self.t_end)
        # The zoom: around the first overlap, else the first unexplained
        # gap, else the longest gap.
        worst = None
        if overlaps:
            worst = min(overlaps)[0]
        else:
            un = [x for r in res for x in r["unexplained"]]
            gaps = [x for r in res for x in r["gaps"]]
            if un:
                worst = min(un)[0]
            elif gaps:
                worst = max(gaps, key=lambda x: x[1] - x[0])[0]
        z0 = max(0.0, min(sec(worst) - 20 if worst else 0.0, span - 60))
        z1 = min(span, z0 + 60)
        out = []
        pts = [2, 1, 6, 8, 4, 10, 12, 3, 5, 7, 9, 11, 13, 14, 15]
        for name, x0, x1, faults in (("soak.png", 0, span, False), ("soak-zoom.png", z0, z1, True)):
            png = os.path.join(a.dir, name)
            if name == "soak.png" and a.png:
                png = a.png
            width = int(min(3000, max(1200, (x1 - x0) * 3))) if not faults else 1400
            height = 230 + 60 * len(self.groups) + (40 if faults else 0)
            plots = ["'%s' index 0 using 1:3:2:(0.3):4 with boxxyerror lc palette "
                     "title 'live: node-a blue, b green, c purple, d orange'" % dat,
                     "'%s' index 1 using 1:3:2:(0.3) with boxxyerror lc rgb '#d62728' title 'no workload (gap)'" % dat,
                     "'%s' index 2 using 1:3:2:(0.36) with boxxyerror lc rgb 'black' "
                     "title 'gap nothing explains'" % dat,
                     "'%s' index 3 using 1:2 with points pt 3 ps 3 lw 2 lc rgb 'black' title 'overlap'" % dat]
            if faults:
                for i, k in enumerate(kinds):
                    plots.append("'%s' index 4 using ($3 == %d ? $1 : 1/0):2 with points pt %d ps 0.9 "
                                 "lc rgb '#404040' title '%s'" % (dat, i, pts[i % len(pts)], k))
            title = ("soak: seed %d, %.0f s, %d groups, %d transitions, %d overlaps%s" % (
                a.seed, span, len(self.groups), sum(r["starts"] for r in res), len(overlaps),
                ": seconds %.0f to %.0f, with the faults injected" % (x0, x1) if faults else ""))
            gp = os.path.join(a.dir, name.replace(".png", ".gp"))
            with open(gp, "w") as f:
                f.write("\n".join([
                    "set terminal pngcairo size %d,%d font 'sans,9'" % (width, height),
                    "set output '%s'" % png,
                    "set title \"%s\" noenhanced" % title,
                    "set xlabel 'seconds into the run'",
                    "set yrange [-0.7:%f]" % (len(self.groups) - 0.3),
                    "set xrange [%f:%f]" % (x0, x1),
                    "set ytics (%s)" % ", ".join('"%d: %.0f%%%%" %d' % (
                        g.index, 100.0 * r["ready"] / SEC / span if span else 0, g.index)
                        for g, r in zip(self.groups, res)),
                    "set ylabel 'group: availability'",
                    "set key outside bottom center horizontal noenhanced",
                    "set style fill solid 1.0 noborder",
                    "set palette defined (1 '#1f77b4', 2 '#2ca02c', 3 '#9467bd', 4 '#ff7f0e', 5 '#7f7f7f')",
                    "set cbrange [1:5]",
                    "unset colorbox",
                    "plot " + ", \\\n     ".join(plots), ""]))
            rc = subprocess.run(["gnuplot", gp], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            if rc.returncode != 0:
                print("  picture: gnuplot failed on %s: %s" % (gp, rc.stdout.decode(errors="replace").strip()[-500:]))
                continue
            out.append(png)
        return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--understudy", required=True)
    ap.add_argument("--witness", required=True)
    ap.add_argument("--duration", type=float, default=60.0, help="seconds (default 60)")
    ap.add_argument("--seed", type=int, default=None, help="default: from the clock, printed")
    ap.add_argument("--groups", type=int, default=None, help="groups at once (default 8; 3 with a rig)")
    ap.add_argument("--nodes", type=int, default=None, choices=(3, 4),
                    help="nodes per group (default: 3 and 4 in turn)")
    ap.add_argument("--interval", type=float, nargs=2, default=None, metavar=("LO", "HI"),
                    help="seconds between a group's actions (default 0.2 1.0; 1 4 with a rig)")
    ap.add_argument("--slack", type=float, default=None,
                    help="what a bound allows for scheduling on a loaded machine (default 0.5 s; 1 s with a rig)")
    ap.add_argument("--without", action="append", default=[], metavar="KIND",
                    help="leave this kind of fault out (repeatable; the kinds are above)")
    ap.add_argument("--dir", default=None, help="where logs go (default: a new /tmp/us-soak.*)")
    ap.add_argument("--png", default=None, help="the whole run's picture (default DIR/soak.png; the zoom is DIR/soak-zoom.png)")
    ap.add_argument("--progress", type=float, default=0, help="print the count every this many seconds")
    rig = ap.add_mutually_exclusive_group()
    rig.add_argument("--gluster", action="store_true", help="nodes on the GlusterFS rig's hosts a and b")
    rig.add_argument("--ceph", action="store_true", help="nodes on the CephFS rig's hosts a and b")
    ap.add_argument("-v", "--verbose", action="store_true", help="print actions as they happen")
    a = ap.parse_args()
    if a.seed is None:
        a.seed = int.from_bytes(os.urandom(4), "little")
    a.rig = "gluster" if a.gluster else "ceph" if a.ceph else None
    for k in a.without:
        if k not in ACTIONS:
            ap.error("--without %s: no such fault (%s)" % (k, ", ".join(ACTIONS)))
    a.ns, a.rigdir, a.fs = {"gluster": ("us", "/tmp/us-rig", "a GlusterFS volume"),
                            "ceph": ("uc", "/tmp/uc-rig", "a CephFS"), None: (None, None, None)}[a.rig]
    a.groups = a.groups or (3 if a.rig else 8)
    a.interval = a.interval or ((1.0, 4.0) if a.rig else (0.2, 1.0))
    a.slack = a.slack if a.slack is not None else (1.0 if a.rig else 0.5)
    timing = chaos.GLUSTER_TIMING if a.rig else chaos.LOCAL_TIMING
    a.bounds = bounds(settings(timing), derived(a.understudy, timing), a.rig is not None, a.slack,
                      RIG_LOCK_RELEASE.get(a.rig))
    os.umask(0o022)
    a.dir = a.dir or tempfile.mkdtemp(prefix="us-soak.")
    os.makedirs(a.dir, exist_ok=True)
    print("soak: seed %d, duration %g s, %d groups, logs in %s" % (a.seed, a.duration, a.groups, a.dir), flush=True)
    s = Soak(a)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(130))
    try:
        hung = s.run()
    finally:
        for g in s.groups:
            for n in g.nodes:
                if n.proc and n.proc.poll() is None:
                    n.proc.kill()
            g.teardown_extra()
        for h in list(getattr(s, "cut_now", {})):
            s.link(h, False)
    time.sleep(0.1)
    return s.report(hung)


if __name__ == "__main__":
    sys.exit(main())
