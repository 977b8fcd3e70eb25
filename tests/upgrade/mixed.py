#!/usr/bin/env python3
"""mixed.py: a format 1.0 build and this build (1.2) in one group.

Run by test_mixed.sh, which builds the 1.0 binary. Two scenarios, each on a
fresh lock file:

  new-primary: a 1.2 primary formats the file and goes live, a 1.0 backup
               waits; the primary is SIGKILLed and the 1.0 backup takes
               over; the 1.2 primary comes back with --allow-failback and
               takes the workload back from the 1.0 node.
  old-primary: the same with the builds swapped: a 1.0 primary, a 1.2
               backup that takes over and then hands back. The 1.0
               primary's live record does not say which file it was
               written on (1.2), so the 1.2 backup waits before it starts
               (protocol.md 5.8), as on a file copied in.

Every node runs this build's witness (tests/integration/witness.c): it logs
its start and clean stop on CLOCK_MONOTONIC, holds an OFD lock on a witness
file of its own (a second witness finding it held logs "overlap"), and
writes the time to a tick file every millisecond, so the end of a witness
killed with its manager is known to within a tick. The 1.2 nodes run with
--ready fd:3 and a witness that says ready 4 s after its start, so that
the group has a *starting* 1.2 node for the 1.0 status to read.

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
        """Start a manager of build ('old' or 'new'); 1.2 nodes wait for readiness."""
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
        p.label = "%s (%s %s)" % (name, "1.2" if build == "new" else "1.0", role)
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
        try:
            with open(os.path.join(self.dir, "ticks", str(pid))) as f:
                return int(f.read().strip() or 0)
        except FileNotFoundError:
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


def check_starting(g, name, epoch):
    """A 1.2 node whose workload is not ready yet, as each build reads it."""
    if not wait_live(g, "new", name, epoch, "starting"):
        return
    old = g.status("old")
    check(live_of(old) == ("live", name, epoch) and node_state(old, name) == "live",
          "1.0 status reads the starting 1.2 %s as live: %s, %s %s" %
          (name, live_of(old), name, node_state(old, name)))
    # 1.0 cannot tell starting from ready (protocol.md 2.6); 1.2 can.
    answers = (g.is_live("old", name), g.is_live("new", name))
    check(answers == (0, 1), "is-live on the starting %s: 1.0 says %d (live), 1.2 says %d (not yet)" %
          ((name,) + answers))
    # Those reads are about a starting node only if it still was one.
    done = time.monotonic_ns()
    ready = [e for e in g.events() if e[0] == "ready" and e[1] == name]
    check(not ready or ready[-1][3] > done, "%s was still starting when both builds had read it" % name)


def scenario(root, args, first, second):
    """first: the build of the primary, second: of the backup."""
    ver = {"new": "1.2", "old": "1.0"}
    label = "%s-primary" % first
    print("== %s: %s primary node-a, %s backup node-b" % (label, ver[first], ver[second]))
    g = Group(root, label, args)
    figures = {}
    try:
        # The primary formats the file and starts the group.
        g.node(first, "primary", "node-a")
        if first == "new":
            check_starting(g, "node-a", 1)
        wait_live(g, "new", "node-a", 1)
        header = g.header()
        minor = int.from_bytes(header[10:12], "little")
        check(header[:8] == b"UNDRSTDY" and minor == (2 if first == "new" else 0),
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
            check_starting(g, "node-b", 2)
        if b:
            a_end = wait_for("node-a's killed workload is gone", lambda: g.end_of(a_pid)) or 0
            figures["failover gap"] = b[0][3] - a_end
            figures["failover after SIGKILL"] = b[0][3] - t_kill
            check(b[0][3] > a_end, "node-b started %s after node-a's workload's last tick, %s after the "
                  "SIGKILL" % (ms(b[0][3] - a_end), ms(b[0][3] - t_kill)))
        if second == "new":
            with open(os.path.join(g.dir, "node-b-1.stderr")) as fh:
                said = fh.read()
            check("-> verifying" in said, "the 1.2 backup waited before taking over a 1.0 record, which does "
                  "not say which file it was written on")
        wait_live(g, "new", "node-b", 2)
        st = g.status("old")
        check(live_of(st) == ("live", "node-b", 2) and node_state(st, "node-b") == "live",
              "1.0 status after the takeover: %s, node-b %s" % (live_of(st), node_state(st, "node-b")))
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
              "1.0 status after the failback: %s, node-b %s" % (live_of(st), node_state(st, "node-b")))

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
    for b, want in ((args.old, "format 1.0"), (args.new, "format 1.2")):
        v = subprocess.run([b, "--version"], capture_output=True, text=True).stdout.strip()
        check(want in v, "%s: %s" % (b, v))
    # The new build refuses a lock file below a directory others could
    # write: what this makes must pass whatever the umask.
    os.umask(0o022)
    root = tempfile.mkdtemp(prefix="understudy-upgrade.")
    try:
        scenario(root, args, "new", "old")
        scenario(root, args, "old", "new")
    finally:
        if args.keep or failures:
            print("kept %s" % root)
        else:
            shutil.rmtree(root, ignore_errors=True)
    if failures:
        print("== upgrade: %d check(s) failed" % len(failures))
        return 1
    print("== upgrade: 1.0 and 1.2 nodes shared a group in both roles: every check passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
