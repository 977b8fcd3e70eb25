#!/usr/bin/env python3
"""mixed.py: an older build (format 1.0 or 1.2) and this build in one group.

Run by test_mixed.sh, which builds the older binaries from git history.
Two scenarios, each on a fresh lock file:

  new-primary: a new primary formats the file and goes live, an old backup
               waits; the primary is SIGKILLed and the old backup takes
               over; the new primary comes back with --allow-failback and
               takes the workload back from the old node.
  old-primary: the same with the builds swapped: an old primary, a new
               backup that takes over and then hands back. A 1.0
               primary's live record does not say which file it was
               written on (1.2), so the new backup waits before it starts
               (protocol.md 5.8), as on a file copied in; a 1.2 one's does.

The group's history (format 1.3) holds the moves the new nodes made, and
only those: old nodes write no entries and never touch the bytes past
8703, and they read the longer file as before.

Every node runs this build's witness (tests/integration/witness.c): it logs
its start and clean stop on CLOCK_MONOTONIC, holds an OFD lock on a witness
file of its own (a second witness finding it held logs "overlap"), and
writes the time to a tick file every millisecond, so the end of a witness
killed with its manager is known to within a tick. The new nodes run with
--ready fd:3 and a witness that says ready 4 s after its start, so that
the group has a *starting* node for the old status to read.

What is checked, with both builds' `status --json` and `is-live`: who is
live, the epoch, each node's state as each build reads it, that the header
(and its minor) is never rewritten, that every hand-over passes the
workload from one node to the other with no overlap, and that every
manager exits 0 on SIGTERM at the end. The figures printed are the gaps
between the end of one workload and the start of the next.
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

WAIT_S = 15  # "it happens", whatever the machine's load
READY_AFTER_MS = 4000
TIMING = ["--check-interval", "100ms", "--poll-interval", "100ms", "--heartbeat-interval", "100ms",
          "--stop-timeout", "2s"]

failures = []


def check(cond, what):
    print(("  ok    " if cond else "  FAIL  ") + what)
    if not cond:
        failures.append(what)
    return cond


class Group:
    """One lock file, its nodes, and the witness records of their workloads."""

    def __init__(self, root, label, args):
        self.dir = os.path.join(root, label)
        os.makedirs(os.path.join(self.dir, "ticks"))
        self.lock = os.path.join(self.dir, "group.lock")
        self.log = os.path.join(self.dir, "witness.log")
        self.args = args
        self.procs = []

    def node(self, build, role, name, *extra):
        """Start a manager of build ('old' or 'new'); new nodes wait for readiness."""
        binary = self.args.new if build == "new" else self.args.old
        wit = [self.args.witness, self.log, os.path.join(self.dir, "witness.lock"),
               "--tick-dir", os.path.join(self.dir, "ticks")]
        ready = []
        if build == "new":
            ready = ["--ready", "fd:3"]
            wit += ["--ready-fd", "3", "--ready-after", str(READY_AFTER_MS)]
        argv = [binary, "run", "--lock", self.lock, "--role", role, "--name", name,
                "--address", "10.0.0.%d:5672" % (1 if role == "primary" else 2)]
        argv += TIMING + ready + list(extra) + ["--"] + wit
        err = open(os.path.join(self.dir, "%s-%d.stderr" % (name, len(self.procs))), "w")
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=err, stderr=err)
        p.label = "%s (%s build, %s)" % (name, build, role)
        self.procs.append(p)
        return p

    def status(self, build):
        binary = self.args.new if build == "new" else self.args.old
        r = subprocess.run([binary, "status", "--json", "--lock", self.lock], capture_output=True, text=True,
                           timeout=30)
        if r.returncode != 0:
            return {"exit": r.returncode, "stderr": r.stderr}
        return json.loads(r.stdout)

    def is_live(self, build, name):
        binary = self.args.new if build == "new" else self.args.old
        return subprocess.run([binary, "is-live", "--lock", self.lock, "--name", name, "--quiet"],
                              timeout=30).returncode

    def history(self):
        """The history as the new build's status --history --json shows it."""
        r = subprocess.run([self.args.new, "status", "--history", "--json", "--lock", self.lock],
                           capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            return None
        return [(e["reason"], e["from"], e["to"], e["by"], e["epoch"]) for e in json.loads(r.stdout)]

    def header(self):
        with open(self.lock, "rb") as f:
            return f.read()[32:64]

    def events(self):
        """The witness log as (kind, name, pid, t_ns) tuples."""
        out = []
        try:
            with open(self.log) as f:
                for line in f:
                    w = line.split()
                    if w[0] in ("start", "stop", "exit", "ready"):
                        out.append((w[0], w[1], int(w[2]), int(w[3])))
                    elif w[0] == "overlap":
                        out.append((w[0], w[1], int(w[3]), int(w[2])))
        except FileNotFoundError:
            pass
        return out

    def starts(self, name):
        return [e for e in self.events() if e[0] == "start" and e[1] == name]

    def end_of(self, pid, clean_only=False):
        """When a witness ended: its clean stop, else (killed) its last tick."""
        for e in self.events():
            if e[0] in ("stop", "exit") and e[2] == pid:
                return e[3]
        if clean_only or os.path.exists("/proc/%d" % pid):
            return None
        # The witness ticks into PID.T0 (T0 its start line's time).
        ticks = os.path.join(self.dir, "ticks")
        for name in os.listdir(ticks):
            if name.startswith("%d." % pid):
                with open(os.path.join(ticks, name)) as f:
                    return int(f.read().strip() or 0)
        return None

    def intervals(self):
        """(name, pid, start, end) of every workload; end None while it runs."""
        return [(e[1], e[2], e[3], self.end_of(e[2])) for e in self.events() if e[0] == "start"]

    def stop_all(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGCONT)
                p.kill()
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass


def wait_for(what, pred, timeout=WAIT_S):
    dl = time.monotonic() + timeout
    while time.monotonic() < dl:
        v = pred()
        if v:
            return v
        time.sleep(0.02)
    return check(False, "in %d s: %s" % (timeout, what))


def node_state(st, name):
    for n in st.get("nodes", []):
        if n["name"] == name and n["alive"]:
            return n["state"]
    return None


def live_of(st):
    lv = st.get("live") or {}
    return (st.get("state"), lv.get("name"), lv.get("epoch"))


def ms(ns):
    return "%.3f ms" % (ns / 1e6)


def wait_live(g, reader, name, epoch, state="live"):
    """Wait until reader's status shows name live at epoch in slot state state."""
    return wait_for("%s status shows %s %s, epoch %d" % (reader, name, state, epoch),
                    lambda: (lambda st: st if live_of(st) == ("live", name, epoch) and
                             node_state(st, name) == state else None)(g.status(reader)))


def check_starting(g, name, epoch, ver):
    """A new node whose workload is not ready yet, as each build reads it."""
    if not wait_live(g, "new", name, epoch, "starting"):
        return
    old = g.status("old")
    # 1.0 cannot tell starting from ready (protocol.md 2.6); 1.1 and later can.
    knows = ver["old"] != "1.0"
    check(live_of(old) == ("live", name, epoch) and node_state(old, name) == ("starting" if knows else "live"),
          "%s status reads the starting %s as %s: %s, %s %s" %
          (ver["old"], name, "starting" if knows else "live", live_of(old), name, node_state(old, name)))
    answers = (g.is_live("old", name), g.is_live("new", name))
    check(answers == ((1 if knows else 0), 1), "is-live on the starting %s: %s says %d, %s says %d (not yet)" %
          (name, ver["old"], answers[0], ver["new"], answers[1]))
    # Those reads are about a starting node only if it still was one.
    done = time.monotonic_ns()
    ready = [e for e in g.events() if e[0] == "ready" and e[1] == name]
    check(not ready or ready[-1][3] > done, "%s was still starting when both builds had read it" % name)


def scenario(root, args, ver, first, second):
    """first: the build of the primary, second: of the backup."""
    label = "%s-primary" % first
    print("== %s: %s primary node-a, %s backup node-b" % (label, ver[first], ver[second]))
    g = Group(root, label, args)
    figures = {}
    try:
        # The primary formats the file and starts the group.
        g.node(first, "primary", "node-a")
        if first == "new":
            check_starting(g, "node-a", 1, ver)
        wait_live(g, "new", "node-a", 1)
        header = g.header()
        minor = int.from_bytes(header[10:12], "little")
        check(header[:8] == b"UNDRSTDY" and "1.%d" % minor == ver[first],
              "the %s primary formatted the file as %s.%d" % (ver[first], "1", minor))

        # The backup waits behind it.
        g.node(second, "backup", "node-b")
        wait_for("node-b waiting", lambda: node_state(g.status("new"), "node-b") == "waiting")
        for reader in ("new", "old"):
            st = g.status(reader)
            check(live_of(st) == ("live", "node-a", 1) and node_state(st, "node-a") == "live" and
                  node_state(st, "node-b") == "waiting" and st.get("version") == "1.%d" % minor,
                  "%s status: %s, version %s, node-a %s, node-b %s" %
                  (ver[reader], live_of(st), st.get("version"), node_state(st, "node-a"),
                   node_state(st, "node-b")))
            check(g.is_live(reader, "node-a") == 0, "%s is-live: node-a is live (0)" % ver[reader])
        check(len(g.starts("node-b")) == 0, "node-b's workload has not started")

        # Crash of the primary: its manager and (PDEATHSIG) its workload.
        a_pid = g.starts("node-a")[0][2]
        t_kill = time.monotonic_ns()
        g.procs[0].kill()
        b = wait_for("node-b's workload starts", lambda: g.starts("node-b"))
        if second == "new":
            check_starting(g, "node-b", 2, ver)
        if b:
            a_end = wait_for("node-a's killed workload is gone", lambda: g.end_of(a_pid)) or 0
            figures["failover gap"] = b[0][3] - a_end
            figures["failover after SIGKILL"] = b[0][3] - t_kill
            check(b[0][3] > a_end, "node-b started %s after node-a's workload's last tick, %s after the "
                  "SIGKILL" % (ms(b[0][3] - a_end), ms(b[0][3] - t_kill)))
        if second == "new":
            with open(os.path.join(g.dir, "node-b-1.stderr")) as fh:
                said = fh.read()
            if ver["old"] == "1.0":
                check("-> verifying" in said, "the new backup waited before taking over a 1.0 record, which "
                      "does not say which file it was written on")
            else:
                check("-> verifying" not in said, "the new backup took over a %s record written on this file "
                      "without a wait" % ver["old"])
        wait_live(g, "new", "node-b", 2)
        st = g.status("old")
        check(live_of(st) == ("live", "node-b", 2) and node_state(st, "node-b") == "live",
              "%s status after the takeover: %s, node-b %s" % (ver["old"], live_of(st), node_state(st, "node-b")))
        for reader in ("new", "old"):
            check(g.is_live(reader, "node-b") == 0, "%s is-live: node-b is live (0)" % ver[reader])

        # The primary comes back and asks for the workload back.
        g.node(first, "primary", "node-a", "--allow-failback")
        a2 = wait_for("node-a's workload starts again", lambda: g.starts("node-a")[1:])
        if a2:
            b_end = g.end_of(b[0][2], clean_only=True) if b else None
            check(b_end is not None, "node-b's workload was stopped cleanly for the failback")
            if b_end is not None:
                figures["failback gap"] = a2[0][3] - b_end
                check(a2[0][3] > b_end, "node-a started %s after node-b's workload stopped" %
                      ms(a2[0][3] - b_end))
        wait_live(g, "new", "node-a", 3)
        wait_for("node-b waiting again", lambda: node_state(g.status("new"), "node-b") == "waiting")
        st = g.status("old")
        check(live_of(st) == ("live", "node-a", 3) and node_state(st, "node-b") == "waiting",
              "%s status after the failback: %s, node-b %s" % (ver["old"], live_of(st), node_state(st, "node-b")))

        # Never two workloads, and nobody rewrote the header.
        overlaps = [e for e in g.events() if e[0] == "overlap"]
        iv = sorted(g.intervals(), key=lambda x: x[2])
        pairs = [(x, y) for i, x in enumerate(iv) for y in iv[i + 1:] if x[3] is None or y[2] < x[3]]
        check(not overlaps and not pairs, "%d workloads, %d overlap lines, %d intersecting intervals" %
              (len(iv), len(overlaps), len(pairs)))
        check(g.header() == header, "header unchanged (format 1.%d) after both builds wrote the file" % minor)

        # Clean stops: the backup leaves, the live node pauses the group.
        for p in (g.procs[1], g.procs[2]):
            p.send_signal(signal.SIGTERM)
            try:
                rc = p.wait(timeout=WAIT_S)
            except subprocess.TimeoutExpired:
                rc = "still running"
            check(rc == 0, "%s exits %s on SIGTERM" % (p.label, rc))
        check(g.status("old").get("state") == "paused" and g.status("new").get("state") == "paused",
              "both builds read the group as paused")

        # The history (1.3) tells the moves the new nodes made, and only
        # those; the old build never wrote past byte 8703.
        if first == "new":
            want = [("start", None, "node-a", "to", 1), ("failback", "node-b", "node-a", "to", 3),
                    ("pause", "node-a", None, "from", 3)]
        else:
            want = [("failover", "node-a", "node-b", "to", 2), ("hand-over", "node-b", "node-a", "from", 2)]
        hist = g.history()
        check(hist == want, "the history holds the new nodes' moves: %s" % hist)
        size = os.path.getsize(g.lock)
        check(size == (17920 if first == "new" else 8704 + 192 * len(want)),
              "the file is %d bytes: %s" % (size, "as formatted" if first == "new" else
                                           "the old format's and the history's entries"))
    finally:
        g.stop_all()
        if failures:
            for f in sorted(os.listdir(g.dir)):
                if f.endswith(".stderr") or f == "witness.log":
                    print("---- %s" % f)
                    with open(os.path.join(g.dir, f)) as fh:
                        sys.stdout.write(fh.read()[-3000:])
    for k, v in figures.items():
        print("  figure %s: %s %s" % (label, k, ms(v)))
    return figures


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--old", required=True)
    ap.add_argument("--new", required=True)
    ap.add_argument("--witness", required=True)
    ap.add_argument("--keep", action="store_true", help="keep the run's directory")
    args = ap.parse_args()
    ver = {}
    for build, b in (("old", args.old), ("new", args.new)):
        v = subprocess.run([b, "--version"], capture_output=True, text=True).stdout.strip()
        ver[build] = v.rsplit("format ", 1)[-1].rstrip(")")
        check(v.startswith("understudy ") and ver[build].startswith("1."), "%s: %s" % (b, v))
    check(ver["old"] in ("1.0", "1.2") and ver["new"] == "1.3", "builds of formats %s and %s" %
          (ver["old"], ver["new"]))
    # The new build refuses a lock file below a directory others could
    # write: what this makes must pass whatever the umask.
    os.umask(0o022)
    root = tempfile.mkdtemp(prefix="understudy-upgrade.")
    try:
        scenario(root, args, ver, "new", "old")
        scenario(root, args, ver, "old", "new")
    finally:
        if args.keep or failures:
            print("kept %s" % root)
        else:
            shutil.rmtree(root, ignore_errors=True)
    if failures:
        print("== upgrade: %d check(s) failed" % len(failures))
        return 1
    print("== upgrade: %s and %s nodes shared a group in both roles: every check passed" % (ver["old"], ver["new"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
