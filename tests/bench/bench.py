#!/usr/bin/env python3
"""Benchmarks of understudy against the alternatives, in one run.

Run through scripts/bench.sh, which installs the tools and builds the
binaries. Every latency is CLOCK_MONOTONIC on this machine: the harness reads
it just before it sends SIGKILL (or starts a request), and the workload
(tests/bench/stamp.c) writes its own reading as its first act after exec.
Standard library only.
"""
import argparse
import contextlib
import fcntl
import json
import math
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

NS_MS = 1e6
RIG_LOCK = "/tmp/us-rig.lock"
RIG = "/tmp/us-rig"
# As tests/cluster/test_gluster.sh: what makes fencing hold on the rig.
RIG_TIMING = ["--fence-timeout", "2s", "--heartbeat-interval", "500ms", "--check-interval", "250ms"]
# Queued nodes added beyond a live node and its backup, on the rig, to see
# what each costs the server.
WAITERS_EXTRA = 4


def now():
    return time.monotonic_ns()


def _seconds(v):
    """A duration as understudy prints it (500ms, 12s, 0), in seconds; None
    for a figure that waits on the storage (L + 12s) or is empty."""
    m = re.fullmatch(r"(\d+)(ms|s)?", v)
    if not m:
        return None
    return int(m.group(1)) / (1000 if m.group(2) == "ms" else 1)


def timing(cfg, opts=()):
    """The settings and the timeouts understudy derives from them, as `run
    --check` prints them (src/timeline.c): the harness never copies a
    default or a formula. {"fencing.check-interval": 0.5,
    "derived.takeover-delay.networked": 12.0, ...}, in seconds."""
    with tempfile.TemporaryDirectory() as d:
        out = subprocess.run([cfg.understudy, "run", "--lock", os.path.join(d, "g.lock"), "--role", "primary",
                              "--name", "bench", "--check", *opts, "--", "/bin/true"],
                             check=True, capture_output=True, text=True).stdout
    figures = {}
    for line in out.splitlines():
        key, _, value = line.partition(" = ")
        if _seconds(value) is not None:
            figures[key] = _seconds(value)
    return figures


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def wait_for(pred, timeout, step=0.01):
    end = time.monotonic() + timeout
    while True:
        r = pred()
        if r:
            return r
        if time.monotonic() > end:
            return None
        time.sleep(step)


def stamps(path):
    """The stamp lines of a workload log: (what, name, pid, t_ns)."""
    try:
        with open(path) as f:
            out = []
            for line in f:
                p = line.split()
                if len(p) == 4:
                    out.append((p[0], p[1], int(p[2]), int(p[3])))
            return out
    except FileNotFoundError:
        return []


def started_after(path, t0, exclude=()):
    for what, name, _, t in stamps(path):
        if what == "start" and t > t0 and name not in exclude:
            return name, t
    return None


def summary(xs):
    """(n, median, p90, max) of a list of milliseconds; p90 by nearest rank."""
    if not xs:
        return (0, None, None, None)
    s = sorted(xs)
    return (len(s), statistics.median(s), s[max(0, math.ceil(0.9 * len(s)) - 1)], s[-1])


class Procs:
    """Every process the harness starts, so that none outlives it. Each
    starts a session of its own: SIGKILL to its process group is SIGKILL to
    the manager and whatever shares its group (flock's and etcdctl's
    workload do; understudy puts its workload in a group of its own)."""

    def __init__(self):
        self.all = []

    def spawn(self, argv, err=None, netns=None):
        if netns:
            argv = ["nsenter", "--net=/run/netns/" + netns, "--"] + argv
        errf = open(err, "w") if err else subprocess.DEVNULL
        try:
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=errf, start_new_session=True)
        finally:
            if err:
                errf.close()
        self.all.append(p)
        return p

    @staticmethod
    def kill(p, sig=signal.SIGKILL):
        try:
            os.killpg(p.pid, sig)
        except ProcessLookupError:
            pass

    def stop(self, p, timeout=20):
        """SIGTERM, then SIGKILL to the group if it does not exit in time."""
        if p.poll() is None:
            self.kill(p, signal.SIGTERM)
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill(p)
                p.wait()
        self.forget(p)

    def forget(self, p):
        if p in self.all:
            self.all.remove(p)

    def cleanup(self):
        for p in self.all:
            if p.poll() is None:
                self.kill(p)
        for p in self.all:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                pass
        self.all = []


PROCS = Procs()

# ---------------------------------------------------------------- /proc


def task_totals(pid):
    """Context switches (voluntary plus involuntary) and nanoseconds on a CPU,
    summed over every thread: schedstat counts in ns where /proc/PID/stat
    counts 10 ms ticks, which a manager idling for a minute barely uses."""
    ctx = run_ns = 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return 0, 0
    for t in tasks:
        try:
            with open(f"/proc/{pid}/task/{t}/status") as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                        ctx += int(line.split()[1])
            with open(f"/proc/{pid}/task/{t}/schedstat") as f:
                run_ns += int(f.read().split()[0])
        except FileNotFoundError:
            pass
    return ctx, run_ns


def own_processes(pid):
    """pid and its children that run the same program without an exec:
    an understudy manager's storage process, which makes every call on the
    lock file and must be counted with it."""
    out = [pid]
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            kids = [int(c) for c in f.read().split()]
        exe = os.readlink(f"/proc/{pid}/exe")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return out
    for c in kids:
        try:
            if os.readlink(f"/proc/{c}/exe") == exe:
                out.append(c)
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            pass
    return out


def sample(pid):
    """CPU (ns), context switches, RSS and PSS (KiB) of one process, its own
    children of the same program (own_processes) counted in: CPU, wake-ups
    and PSS are the manager's and its storage process's together; RSS is the
    manager's (the fork shares its pages, which a sum would count twice)."""
    ctx = cpu = pss = 0
    rss = None
    for p in own_processes(pid):
        s = sample_one(p)
        ctx, cpu, pss = ctx + s["ctx"], cpu + s["cpu"], pss + s["pss"]
        rss = s["rss"] if rss is None else rss
    return {"cpu": cpu, "ctx": ctx, "rss": rss or 0, "pss": pss}


def sample_one(pid):
    """CPU (ns), context switches, RSS and PSS (KiB) of one process."""
    ctx, cpu = task_totals(pid)
    rss = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    pss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except (FileNotFoundError, PermissionError):
        pass
    return {"cpu": cpu, "ctx": ctx, "rss": rss, "pss": pss}


def idle_cost(pids, seconds):
    """Per pid: RSS/PSS at the end (MiB), CPU ms per second and wake-ups per
    second over the window."""
    a = {k: sample(p) for k, p in pids.items()}
    time.sleep(seconds)
    out = {}
    for k, p in pids.items():
        b = sample(p)
        out[k] = {
            "rss_mib": b["rss"] / 1024,
            "pss_mib": b["pss"] / 1024,
            "cpu_ms_s": (b["cpu"] - a[k]["cpu"]) / NS_MS / seconds,
            "wake_s": (b["ctx"] - a[k]["ctx"]) / seconds,
        }
    return out


def storage_ops(pids, seconds, workdir, tag):
    """Lock-file system calls per second of the given processes, all threads,
    counted by strace -c: (reads, writes, locks) where reads are pread64,
    writes pwrite64 and locks fcntl (OFD lock, unlock and probe) and flock."""
    out = os.path.join(workdir, f"strace-{tag}.txt")
    argv = ["strace", "-f", "-c", "-o", out, "-e", "trace=pread64,pwrite64,fcntl,flock"]
    for p in pids:
        for q in own_processes(p):
            argv += ["-p", str(q)]
    st = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
    time.sleep(seconds)
    st.send_signal(signal.SIGINT)
    st.wait(30)
    counts = {"pread64": 0, "pwrite64": 0, "fcntl": 0, "flock": 0}
    with open(out) as f:
        for line in f:
            p = line.split()
            if p and p[-1] in counts and len(p) >= 5:
                counts[p[-1]] = int(p[3])
    return (counts["pread64"] / seconds, counts["pwrite64"] / seconds,
            (counts["fcntl"] + counts["flock"]) / seconds)


# ---------------------------------------------------------------- understudy


class Group:
    """Nodes of one understudy group, each on a host: a (netns, lock path)
    pair; netns None is this host. Node states come from the managers' own
    transition lines on stderr."""

    TRANSITION = re.compile(r"\]: (\w+) -> (\w+):")

    def __init__(self, cfg, workdir, hosts, opts=()):
        self.cfg, self.dir, self.hosts, self.opts = cfg, workdir, hosts, list(opts)
        self.log = os.path.join(workdir, "stamps")
        self.nodes = {}  # name -> (Popen, host index)
        self.seq = 0

    def add(self, role, host=0):
        name = f"n{self.seq}"
        self.seq += 1
        netns, lock = self.hosts[host]
        argv = [self.cfg.understudy, "run", "--lock", lock, "--role", role, "--name", name,
                *self.opts, "--", self.cfg.stamp, self.log]
        p = PROCS.spawn(argv, err=os.path.join(self.dir, name + ".err"), netns=netns)
        self.nodes[name] = (p, host)
        return name

    def state(self, name):
        try:
            with open(os.path.join(self.dir, name + ".err")) as f:
                last = None
                for m in self.TRANSITION.finditer(f.read()):
                    last = m.group(2)
                return last
        except FileNotFoundError:
            return None

    def settled(self):
        """The live node's name once the group is at rest: one live, one
        backup next in line, the rest queued, and the live workload started."""
        states = {}
        for name, (p, _) in self.nodes.items():
            if p.poll() is not None:
                raise RuntimeError(f"{name} exited {p.returncode}: see {self.dir}/{name}.err")
            states[name] = self.state(name)
        live = [n for n, s in states.items() if s == "live"]
        want_backup = 1 if len(states) > 1 else 0
        if (len(live) != 1 or list(states.values()).count("backup") != want_backup
                or list(states.values()).count("queued") != len(states) - 1 - want_backup):
            return None
        # Its workload has started since it last stopped one.
        mine = [w for w, n, _, _ in stamps(self.log) if n == live[0]]
        if not mine or mine[-1] != "start":
            return None
        return live[0]

    def failover(self, timeout, settle=0.1):
        """SIGKILL the live manager, return (ms to the next workload's start,
        the killed node's host)."""
        live = wait_for(self.settled, timeout)
        if not live:
            raise RuntimeError(f"group did not settle within {timeout} s ({self.dir})")
        time.sleep(settle)
        p, host = self.nodes.pop(live)
        t0 = now()
        PROCS.kill(p)
        got = wait_for(lambda: started_after(self.log, t0, exclude=(live,)), timeout)
        p.wait()
        PROCS.forget(p)
        if not got:
            raise RuntimeError(f"no workload started within {timeout} s of the kill ({self.dir})")
        return (got[1] - t0) / NS_MS, host

    def stop_all(self):
        for p, _ in self.nodes.values():
            PROCS.kill(p, signal.SIGTERM)
        for p, _ in self.nodes.values():
            PROCS.stop(p)
        self.nodes = {}


def understudy_trials(cfg, workdir, hosts, n_nodes, opts=(), timeout=30, alternate=False):
    """Failover trials on one group of n_nodes, one per next(): each kills
    the live manager and adds a fresh backup in its place (on the killed
    node's host, or on the other one with alternate), so every trial
    starts from a group at rest of the same size. Closing it stops the
    group."""
    os.makedirs(workdir, exist_ok=True)
    g = Group(cfg, workdir, hosts, opts)
    try:
        g.add("primary", 0)
        wait_for(lambda: stamps(g.log), timeout)
        for i in range(1, n_nodes):
            g.add("backup", (i % len(hosts)) if alternate else 0)
        while True:
            ms, host = g.failover(timeout)
            yield ms
            g.add("backup", host)
    finally:
        g.stop_all()


def understudy_failovers(cfg, workdir, hosts, n_nodes, trials, **kw):
    with contextlib.closing(understudy_trials(cfg, workdir, hosts, n_nodes, **kw)) as t:
        return [next(t) for _ in range(trials)]


def interleaved(runners, trials):
    """trials of each runner (a generator of trial times) in turn, the
    order reversed every round: a drift of the machine's speed during the
    run (another tenant, the CPU's clock) weighs on each runner alike,
    not on whichever ran first."""
    out = [[] for _ in runners]
    with contextlib.ExitStack() as stack:
        gens = [stack.enter_context(contextlib.closing(r)) for r in runners]
        for i in range(trials):
            order = range(len(gens)) if i % 2 == 0 else reversed(range(len(gens)))
            for k in order:
                out[k].append(next(gens[k]))
    return out


def handovers(cfg, workdir, trials, timeout=20):
    """Alternate switchover (primary to backup) and commanded failback
    (backup to primary) on a group of two. Per hand-over: request to the new
    workload's exec; the part until the old workload got SIGTERM; the part
    from then to the new exec."""
    os.makedirs(workdir, exist_ok=True)
    lock = os.path.join(workdir, "g.lock")
    g = Group(cfg, workdir, [(None, lock)])
    g.add("primary")
    g.add("backup")
    check_s = timing(cfg)["fencing.check-interval"]  # the group runs the defaults
    res = {"switchover": [], "failback": []}
    try:
        for i in range(2 * trials):
            kind = "switchover" if i % 2 == 0 else "failback"
            old = wait_for(g.settled, timeout) if kind == "switchover" else wait_for(
                lambda: g.state("n0") == "claiming" and g.state("n1") == "live" and "n1", timeout)
            if not old:
                raise RuntimeError(f"group not ready for {kind} ({workdir})")
            # The live node reads the file every check interval from the
            # moment it became live: a request at a fixed delay after that
            # would always land at the same point of its cycle.
            time.sleep(0.1 + random.random() * check_s)
            t0 = now()
            r = subprocess.run([cfg.understudy, kind, "--lock", lock], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
            if r.returncode != 0:
                raise RuntimeError(f"{kind} exited {r.returncode}")
            got = wait_for(lambda: started_after(g.log, t0, exclude=(old,)), timeout)
            stop = [t for w, n, _, t in stamps(g.log) if w == "stop" and n == old and t > t0]
            if not got or not stop:
                raise RuntimeError(f"{kind}: no hand-over within {timeout} s ({workdir})")
            res[kind].append(((got[1] - t0) / NS_MS, (stop[0] - t0) / NS_MS, (got[1] - stop[0]) / NS_MS))
    finally:
        g.stop_all()
    return res


# ---------------------------------------------------------------- flock(1)


def flock_trials(cfg, workdir, timeout=10):
    """Failover trials of flock(1), one per next(): a holder and a
    waiter; the holder's group is killed, and the waiter's workload
    starts. Closing it stops the last holder."""
    os.makedirs(workdir, exist_ok=True)
    lock, logp = os.path.join(workdir, "f.lock"), os.path.join(workdir, "stamps")
    seq = 0
    live = PROCS.spawn(["flock", lock, cfg.stamp, logp, "f0"])
    live_name = "f0"
    try:
        wait_for(lambda: stamps(logp), timeout)
        while True:
            seq += 1
            name = f"f{seq}"
            waiter = PROCS.spawn(["flock", lock, cfg.stamp, logp, name])
            time.sleep(0.1)  # flock(1) is blocked in flock(2) by then
            t0 = now()
            PROCS.kill(live)
            got = wait_for(lambda: started_after(logp, t0, exclude=(live_name,)), timeout)
            live.wait()
            PROCS.forget(live)
            live, live_name = waiter, name
            if not got:
                raise RuntimeError("flock: the waiter did not start")
            yield (got[1] - t0) / NS_MS
    finally:
        PROCS.stop(live)


def manager_only_kill(argv_of, workdir, wait_s):
    """SIGKILL to the manager process alone (not its group): does the
    waiting side start, and does the old workload live on? Returns
    (ms to the waiter's start or None, old workload alive afterwards)."""
    os.makedirs(workdir, exist_ok=True)
    logp = os.path.join(workdir, "stamps")
    a = PROCS.spawn(argv_of("a", logp))
    wait_for(lambda: stamps(logp), 15)
    b = PROCS.spawn(argv_of("b", logp))
    time.sleep(0.5)
    a_pid = stamps(logp)[0][2]
    t0 = now()
    os.kill(a.pid, signal.SIGKILL)
    a.wait()
    got = wait_for(lambda: started_after(logp, t0, exclude=("a",)), wait_s)
    try:
        os.kill(a_pid, 0)
        alive = True
    except ProcessLookupError:
        alive = False
    PROCS.kill(a)  # the old workload, still in a's group
    PROCS.forget(a)
    PROCS.stop(b)
    return ((got[1] - t0) / NS_MS if got else None), alive


# ---------------------------------------------------------------- etcd


class Etcd:
    def __init__(self, workdir):
        self.dir = workdir
        ports = []
        for _ in range(2):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            ports.append(s)
        self.cport, pport = (s.getsockname()[1] for s in ports)
        for s in ports:
            s.close()
        self.ep = f"127.0.0.1:{self.cport}"
        peer = f"http://127.0.0.1:{pport}"
        self.proc = PROCS.spawn(["etcd", "--name", "bench", "--data-dir", os.path.join(workdir, "data"),
                                 "--listen-client-urls", "http://" + self.ep,
                                 "--advertise-client-urls", "http://" + self.ep,
                                 "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                                 "--initial-cluster", "bench=" + peer],
                                err=os.path.join(workdir, "etcd.err"))
        ok = wait_for(lambda: subprocess.run(["etcdctl", "--endpoints", self.ep, "endpoint", "health"],
                                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0,
                      30, 0.2)
        if not ok:
            raise RuntimeError(f"etcd did not come up ({workdir}/etcd.err)")

    def lock_argv(self, ttl, lockname, cfg, logp, name):
        return ["etcdctl", "--endpoints", self.ep, "lock", f"--ttl={ttl}", lockname, cfg.stamp, logp, name]

    def lease_ttl(self, ttl):
        """The TTL the server grants for a requested one (it raises small ones)."""
        r = subprocess.run(["etcdctl", "--endpoints", self.ep, "lease", "grant", str(ttl)],
                           capture_output=True, text=True)
        m = re.search(r"TTL\((\d+)s\)", r.stdout)
        return int(m.group(1)) if m else None

    def grpc_messages(self):
        """Messages the server has received from clients, all methods."""
        with urllib.request.urlopen(f"http://{self.ep}/metrics", timeout=10) as r:
            text = r.read().decode()
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith("grpc_server_msg_received_total"))

    def stop(self):
        PROCS.stop(self.proc)


def etcd_failovers(cfg, etcd, workdir, ttl, trials, parallel):
    """Trials in batches of `parallel` pairs on distinct lock names: the
    latency is the lease TTL give or take, and waiting it out one trial at a
    time would take most of the run."""
    os.makedirs(workdir, exist_ok=True)
    out = []
    done = 0
    while done < trials:
        k = min(parallel, trials - done)
        pairs = []
        for i in range(k):
            logp = os.path.join(workdir, f"stamps-{done + i}")
            name = f"bench-{ttl}-{done + i}"
            a = PROCS.spawn(etcd.lock_argv(ttl, name, cfg, logp, "a"))
            pairs.append((a, logp, name))
        for _, logp, _ in pairs:
            if not wait_for(lambda: stamps(logp), 30):
                raise RuntimeError("etcdctl lock: the first holder did not start")
        waiters = [PROCS.spawn(etcd.lock_argv(ttl, name, cfg, logp, "b")) for _, logp, name in pairs]
        time.sleep(1)  # every waiter has its session and its key in the queue
        kills = []
        for a, logp, _ in pairs:
            kills.append(now())
            PROCS.kill(a)
        for (a, logp, _), t0 in zip(pairs, kills):
            got = wait_for(lambda: started_after(logp, t0, exclude=("a",)), ttl + 30)
            a.wait()
            PROCS.forget(a)
            if not got:
                raise RuntimeError("etcdctl lock: the waiter did not start")
            out.append((got[1] - t0) / NS_MS)
        for b in waiters:
            PROCS.stop(b)
        done += k
    return out


# ---------------------------------------------------------------- parts


def machine():
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem = int(f.readline().split()[1]) // 1024
    return {"nproc": os.cpu_count(), "cpu": cpu, "mem_mib": mem, "kernel": os.uname().release,
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z")}


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def fstype(path):
    # findmnt names ext4 as such; stat -f only knows the ext2/3/4 magic.
    r = subprocess.run(["findmnt", "-n", "-o", "FSTYPE", "-T", path], capture_output=True, text=True)
    return r.stdout.strip() or "?"


def part_failover(cfg, R, work):
    local = os.path.join(work, "local")
    os.makedirs(local)
    log(f"failover: understudy, local {R['local_fs']}, and flock(1), {cfg.trials} trials each, in turn")
    R["fo"]["understudy (local)"], R["fo"]["flock(1)"] = interleaved(
        [understudy_trials(cfg, os.path.join(local, "us"), [(None, os.path.join(local, "us", "g.lock"))], 2),
         flock_trials(cfg, os.path.join(local, "flock"))], cfg.trials)
    lock = os.path.join(local, "fk", "f.lock")
    ms, alive = manager_only_kill(lambda n, lp: ["flock", lock, cfg.stamp, lp, n],
                                  os.path.join(local, "fk"), 3)
    R["notes"].append(f"flock(1), SIGKILL to flock alone (not its group): waiter started after "
                      f"{'%.1f ms' % ms if ms is not None else 'never (3 s)'}; old workload "
                      f"{'still running' if alive else 'gone'}")


def part_etcd(cfg, R, work):
    if not shutil.which("etcd") or not shutil.which("etcdctl"):
        R["skipped"].append("etcd: etcd or etcdctl not installed")
        return
    d = os.path.join(work, "etcd")
    os.makedirs(d)
    etcd = Etcd(d)
    try:
        R["etcd_min_granted"] = etcd.lease_ttl(1)
        for ttl, trials, par in ((cfg.etcd_default_ttl, cfg.etcd_trials_default, cfg.etcd_parallel),
                                 (1, cfg.etcd_trials_min, cfg.etcd_parallel)):
            label = f"etcdctl lock --ttl={ttl}" + (" (default)" if ttl == cfg.etcd_default_ttl else
                                                   f" (minimum: granted {R['etcd_min_granted']} s)")
            if not trials:
                continue
            log(f"failover: {label}, {trials} trials, {par} at a time")
            R["fo"][label] = etcd_failovers(cfg, etcd, os.path.join(d, f"ttl{ttl}"), ttl, trials, par)
        ms, alive = manager_only_kill(lambda n, lp: etcd.lock_argv(1, "bench-alone", cfg, lp, n),
                                      os.path.join(d, "alone"), 10)
        R["notes"].append(f"etcdctl lock --ttl=1, SIGKILL to etcdctl alone (not its group): waiter "
                          f"started after {'%.1f ms' % ms if ms is not None else 'never (10 s)'}; "
                          f"old workload {'still running: two workloads at once' if alive else 'gone'}")
        if "idle" in cfg.parts:
            R["etcd"] = etcd
            return  # part_idle measures it and stops it
    except BaseException:
        etcd.stop()
        raise
    etcd.stop()


def part_idle(cfg, R, work):
    d = os.path.join(work, "idle")
    os.makedirs(d)
    lock = os.path.join(d, "g.lock")
    g = Group(cfg, d, [(None, lock)])
    g.add("primary")
    g.add("backup")
    if not wait_for(g.settled, 30):
        raise RuntimeError(f"idle: group did not settle ({d})")
    pids = {"understudy live": g.nodes["n0"][0].pid, "understudy backup": g.nodes["n1"][0].pid}
    flog = os.path.join(d, "flock-stamps")
    flive = PROCS.spawn(["flock", os.path.join(d, "f.lock"), cfg.stamp, flog, "fa"])
    wait_for(lambda: stamps(flog), 10)
    fwait = PROCS.spawn(["flock", os.path.join(d, "f.lock"), cfg.stamp, flog, "fb"])
    pids["flock(1) live"], pids["flock(1) waiting"] = flive.pid, fwait.pid
    etcd = R.pop("etcd", None)
    ea = eb = None
    if etcd:
        elog = os.path.join(d, "etcd-stamps")
        ea = PROCS.spawn(etcd.lock_argv(cfg.etcd_default_ttl, "bench-idle", cfg, elog, "ea"))
        wait_for(lambda: stamps(elog), 30)
        eb = PROCS.spawn(etcd.lock_argv(cfg.etcd_default_ttl, "bench-idle", cfg, elog, "eb"))
        pids["etcdctl lock live"], pids["etcdctl lock waiting"] = ea.pid, eb.pid
        pids["etcd server"] = etcd.proc.pid
    time.sleep(2)  # past start-up
    with open(f"/proc/{pids['understudy live']}/maps") as f:
        R["tls_mapped"] = any("libgnutls" in line or "libssl" in line for line in f)
    log(f"idle: {cfg.idle_s} s window, every manager at once")
    m0 = etcd.grpc_messages() if etcd else None
    R["idle"] = idle_cost(pids, cfg.idle_s)
    if etcd:
        R["etcd_msgs_s"] = (etcd.grpc_messages() - m0) / cfg.idle_s
    log(f"idle: storage calls, strace for {cfg.strace_s} s per manager")
    R["ops"] = {}
    for k in ("understudy live", "understudy backup", "flock(1) live", "flock(1) waiting"):
        R["ops"][k] = storage_ops([pids[k]], cfg.strace_s, d, k.replace(" ", "-"))
    for p in (ea, eb, flive, fwait):
        if p:
            PROCS.stop(p)
    if etcd:
        etcd.stop()
    g.stop_all()


def part_handover(cfg, R, work):
    log(f"hand-over: {cfg.handover_trials} switchovers and failbacks")
    R["ho"] = handovers(cfg, os.path.join(work, "handover"), cfg.handover_trials)


def part_scale(cfg, R, work):
    R["scale"] = {}
    for n in cfg.scale_nodes:
        d = os.path.join(work, f"scale-{n}")
        os.makedirs(d)
        lock = os.path.join(d, "g.lock")
        log(f"scale: {n} nodes on one lock file")
        g = Group(cfg, d, [(None, lock)])
        g.add("primary")
        wait_for(lambda: stamps(g.log), 30)
        for _ in range(1, n):
            g.add("backup")
        try:
            if not wait_for(g.settled, 60):
                raise RuntimeError(f"scale {n}: group did not settle ({d})")
            time.sleep(1)
            ops = storage_ops([p.pid for p, _ in g.nodes.values()], cfg.strace_s, d, "all")
            fo = []
            if n > 1:
                for _ in range(cfg.scale_trials):
                    ms, host = g.failover(60)
                    fo.append(ms)
                    g.add("backup", host)
        finally:
            g.stop_all()
        R["scale"][n] = {"ops": ops, "fo": fo}


def part_groups(cfg, R, work):
    R["groups"] = {}
    for n in cfg.groups:
        d = os.path.join(work, f"groups-{n}")
        os.makedirs(d)
        log(f"groups: {n} groups, one live node each")
        logp = os.path.join(d, "stamps")
        procs = []
        for i in range(n):
            procs.append(PROCS.spawn([cfg.understudy, "run", "--lock", os.path.join(d, f"g{i}.lock"),
                                      "--role", "primary", "--name", f"g{i}", "--", cfg.stamp, logp],
                                     err=os.path.join(d, f"g{i}.err")))
        try:
            if not wait_for(lambda: len(stamps(logp)) >= n, 120, 0.2):
                raise RuntimeError(f"groups {n}: not every workload started ({d})")
            time.sleep(2)
            cost = idle_cost({i: p.pid for i, p in enumerate(procs)}, cfg.groups_s)
        finally:
            for p in procs:
                PROCS.kill(p, signal.SIGTERM)
            for p in procs:
                PROCS.stop(p)
        R["groups"][n] = {k: sum(c[k] for c in cost.values()) / n
                          for k in ("rss_mib", "pss_mib", "cpu_ms_s", "wake_s")}


def rig_usable(ns):
    if os.geteuid() != 0:
        return "not root"
    if not os.path.exists("/dev/fuse"):
        return "no /dev/fuse"
    if subprocess.run(f"ip netns add {ns}-probe-bench && ip netns del {ns}-probe-bench", shell=True,
                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode != 0:
        return "network namespaces unavailable"
    return None


# The two multi-host rigs: the file system's name, the rig's script, its
# lock (one user at a time), its directory and its namespaces' prefix.
RIGS = {
    "gluster": ("GlusterFS", "gluster-rig.sh", RIG_LOCK, RIG, "us"),
    "ceph": ("CephFS", "ceph-rig.sh", "/tmp/uc-rig.lock", "/tmp/uc-rig", "uc"),
}


def part_rig(cfg, R, work, part):
    fs, script, lock, rig, ns = RIGS[part]
    script = os.path.join(os.path.dirname(cfg.rig), script)
    why = rig_usable(ns)
    if why:
        R["skipped"].append(f"{fs} rig: {why}")
        return
    # One rig per machine: hold the same lock as flock(1) on the rig's lock file.
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        log(f"{part}: waiting for {lock}")
        if not wait_for(lambda: _try_flock(fd), cfg.rig_wait_s, 1):
            R["skipped"].append(f"{fs} rig: {lock} still held by another user after {cfg.rig_wait_s} s")
            return
        try:
            t = time.monotonic()
            subprocess.run(["bash", script, "up"], check=True, stdout=sys.stderr)
            log(f"{part}: rig up in {time.monotonic() - t:.0f} s")
            hosts = [(f"{ns}-a", f"{rig}/a/mnt/g.lock"), (f"{ns}-b", f"{rig}/b/mnt/g.lock")]
            for label, opts, trials in (("auto", [], cfg.gluster_trials[0]),
                                        ("0", ["--takeover-delay", "0"], cfg.gluster_trials[1])):
                os.makedirs(f"{rig}/a/mnt", exist_ok=True)
                try:
                    os.unlink(f"{rig}/a/mnt/g.lock")
                except FileNotFoundError:
                    pass
                delay = timing(cfg, RIG_TIMING + opts)["derived.takeover-delay.networked"]
                log(f"{part}: failover across hosts, takeover delay {label} ({delay:g} s), {trials} trials")
                name = f"understudy ({fs}, 2 hosts, takeover delay {label})"
                R["fo"][name] = understudy_failovers(cfg, os.path.join(work, f"{part}-{label}"), hosts, 2,
                                                     trials, opts=RIG_TIMING + opts, timeout=60, alternate=True)
            if part == "gluster":
                rig_waiters(cfg, R, os.path.join(work, f"{part}-waiters"), script, hosts)
        finally:
            subprocess.run(["bash", script, "down"], stdout=sys.stderr)
    finally:
        os.close(fd)


def volume_profile(script, *args, **kw):
    """`gluster volume profile v ARGS` on the rig's storage host."""
    return subprocess.run(["bash", script, "exec", "storage", "gluster", "--mode=script", "volume", "profile", "v",
                           *args], timeout=60, **kw)


def brick_fops(script):
    """Calls the GlusterFS brick served since the last call, by kind:
    `gluster volume profile v info incremental` (the server's own count: what
    a storage call costs there is a round trip to it)."""
    out = volume_profile(script, "info", "incremental", capture_output=True, text=True).stdout
    counts = {}
    for line in out.splitlines():
        # "%-latency  Avg  Min  Max  No. of calls  Fop": the count, then the name.
        p = line.split()
        if len(p) >= 6 and p[-1].isupper() and p[-2].isdigit():
            counts[p[-1]] = counts.get(p[-1], 0) + int(p[-2])
    return counts


def rig_waiters(cfg, R, d, script, hosts):
    """What waiting nodes cost the server at the defaults: a live node and
    its backup, then WAITERS_EXTRA queued nodes more (hosts a and b in turn);
    the brick's calls a second at rest, each time, over waiters_s: a full
    run counts 60 s, two of a queued node's looks (30 s), after 10 s for
    the queued nodes' first, close tries to back off to their pace."""
    os.makedirs(d)
    try:
        os.unlink(hosts[0][1])
    except FileNotFoundError:
        pass
    volume_profile(script, "start", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    g = Group(cfg, d, hosts)
    rows = {}
    try:
        g.add("primary", 0)
        wait_for(lambda: stamps(g.log), 60)
        g.add("backup", 1)
        for n in (2, 2 + WAITERS_EXTRA):
            while len(g.nodes) < n:
                g.add("backup", len(g.nodes) % 2)
            if not wait_for(g.settled, 120):
                raise RuntimeError(f"waiters: {n} nodes did not settle ({d})")
            time.sleep(cfg.waiters_settle_s)
            brick_fops(script)
            time.sleep(cfg.waiters_s)
            rows[n] = {k: v / cfg.waiters_s for k, v in brick_fops(script).items()}
            log(f"gluster: {n} nodes at rest, {sum(rows[n].values()):.1f} brick calls/s")
    finally:
        g.stop_all()
    R["net_waiters"] = rows
    if len(rows) == 2:
        R["scale_net"] = (sum(rows[2 + WAITERS_EXTRA].values()) - sum(rows[2].values())) / WAITERS_EXTRA


def part_gluster(cfg, R, work):
    part_rig(cfg, R, work, "gluster")


def part_ceph(cfg, R, work):
    part_rig(cfg, R, work, "ceph")


def _try_flock(fd):
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


# ---------------------------------------------------------------- report


def fmt(x, nd=1):
    return "-" if x is None else f"{x:.{nd}f}"


def table(L, title, header, rows, after=()):
    """A markdown section: the first column left-aligned, the rest right."""
    L += [f"### {title}", "", "| " + " | ".join(header) + " |",
          "|---|" + "---:|" * (len(header) - 1)]
    L += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    L += [""] + [x for a in after for x in (a, "")]


def stat_cells(xs):
    n, med, p90, mx = summary(xs)
    return [n, fmt(med), fmt(p90), fmt(mx)]


LAT = ["trials", "median ms", "p90 ms", "max ms"]
OPS = ["storage reads/s", "writes/s", "locks/s"]


def report(cfg, R):
    """The generated part of doc/benchmarks/README.md, and the table printed."""
    m = R["machine"]
    L = [f"Run of {m['date']} ({cfg.mode}): {m['nproc']} CPUs ({m['cpu']}), {m['mem_mib']} MiB, "
         f"Linux {m['kernel']}; local lock files on {R.get('local_fs', '?')}. Load average "
         f"(1, 5, 15 min) at start {R['load0']}, at end {R['load1']}: the machine is shared, "
         f"so read medians.", ""]
    if R.get("fo"):
        us, fl = R["fo"].get("understudy (local)"), R["fo"].get("flock(1)")
        ratio = ([f"understudy's median is {statistics.median(us) / statistics.median(fl):.2f}x "
                  f"flock(1)'s in this run."] if us and fl else [])
        table(L, "Failover: SIGKILL of the live manager to the next workload's exec", ["manager"] + LAT,
              [[k] + stat_cells(xs) for k, xs in R["fo"].items()], ratio)
    if "ho" in R:
        table(L, "Hand-over: request to the new workload's exec (local lock file)",
              ["request"] + LAT + ["median ms to the old workload's SIGTERM", "median ms from it to the new exec"],
              [[k] + stat_cells([r[0] for r in rows]) + [fmt(summary([r[i] for r in rows])[1]) for i in (1, 2)]
               for k, rows in R["ho"].items()])
    if "idle" in R:
        msgs = ([f"The etcd server received {R['etcd_msgs_s']:.2f} gRPC messages/s from the two etcdctl "
                 f"processes while idle (its own `grpc_server_msg_received_total`)."]
                if "etcd_msgs_s" in R else [])
        table(L, f"Cost while waiting ({cfg.idle_s} s idle; storage calls over {cfg.strace_s} s)",
              ["process", "RSS MiB", "PSS MiB", "CPU ms/s", "wake-ups/s"] + OPS,
              [[k, fmt(c["rss_mib"]), fmt(c["pss_mib"]), fmt(c["cpu_ms_s"], 2), fmt(c["wake_s"])]
               + [fmt(v) for v in R.get("ops", {}).get(k, (None,) * 3)] for k, c in R["idle"].items()], msgs)
    if "scale" in R:
        table(L, "Scale: nodes on one lock file", ["nodes"] + ["failover " + LAT[0]] + LAT[1:] + OPS
              + ["calls/s per node"],
              [[n] + stat_cells(s["fo"]) + [fmt(v) for v in s["ops"]] + [fmt(sum(s["ops"]) / n)]
               for n, s in R["scale"].items()])
    if "net_waiters" in R:
        rows = R["net_waiters"]
        kinds = sorted({k for r in rows.values() for k in r}, key=lambda k: -max(r.get(k, 0) for r in rows.values()))
        top = kinds[:6]
        table(L, f"Waiting on GlusterFS: the brick's calls a second at rest, at the defaults ({cfg.waiters_s} s)",
              ["nodes", "all calls/s"] + [f"{k}/s" for k in top],
              [[n, fmt(sum(r.values()))] + [fmt(r.get(k, 0)) for k in top] for n, r in rows.items()],
              [f"Each waiting node beyond the first adds {R['scale_net']:.2f} calls a second."]
              if "scale_net" in R else [])
    if "groups" in R:
        table(L, f"Scale: groups on one host (one live manager each, {cfg.groups_s} s idle)",
              ["groups", "RSS MiB per group", "PSS MiB per group", "CPU ms/s per group", "wake-ups/s per group"],
              [[n, fmt(c["rss_mib"], 2), fmt(c["pss_mib"], 2), fmt(c["cpu_ms_s"], 3), fmt(c["wake_s"], 2)]
               for n, c in R["groups"].items()])
    for title, items in (("Observed in this run:", R["notes"]), ("Skipped:", R["skipped"])):
        if items:
            L += [title, ""] + [f"- {x}" for x in items] + [""]
    table(L, "Targets", ["target", "figure", "baseline", "verdict"], targets(R))
    return "\n".join(L)


def targets(R):
    """The targets understudy holds itself to (doc/benchmarks/README.md),
    each with this run's figure, its baseline and a verdict: met, missed,
    or not measured (a part not run)."""
    rows = []

    def verdict(ok):
        return "not measured" if ok is None else ("met" if ok else "**missed**")

    def med(xs):
        return statistics.median(xs) if xs else None

    fo = R.get("fo", {})
    us, fl = med(fo.get("understudy (local)")), med(fo.get("flock(1)"))
    ratio = us / fl if us is not None and fl else None
    rows.append(["failover on a local file system <= 1.2x flock(1), median",
                 f"{us:.2f} ms ({ratio:.2f}x)" if ratio is not None else "-",
                 f"flock(1) {fl:.2f} ms" if fl is not None else "-", verdict(None if ratio is None else ratio <= 1.2)])
    idle, ops = R.get("idle", {}), R.get("ops", {})
    flw = idle.get("flock(1) waiting")

    def base(k):
        c = idle.get(k)
        return f"{k}: {sum(ops.get(k, (0, 0, 0))):.1f} calls/s, {c['wake_s']:.1f} wake-ups/s" if c else "-"

    for who, calls_max, wake_max in (("understudy backup", 0, 0.5), ("understudy live", 3, 3)):
        base_w = base("flock(1) waiting" if who.endswith("backup") else "flock(1) live")
        c, o = idle.get(who), ops.get(who)
        if c is None or o is None:
            rows.append([f"{who.split()[1]} node at rest: <= {calls_max} storage calls/s, <= {wake_max} wake-ups/s",
                         "-", base_w, verdict(None)])
            continue
        calls = sum(o)
        rows.append([f"{who.split()[1]} node at rest: <= {calls_max} storage calls/s, <= {wake_max} wake-ups/s",
                     f"{calls:.2f} calls/s, {c['wake_s']:.2f} wake-ups/s", base_w,
                     verdict(calls <= calls_max and c["wake_s"] <= wake_max)])
    scale = R.get("scale_net")
    rows.append(["networked storage: each waiting node beyond the first <= 0.5 storage calls/s",
                 f"{scale:.2f} calls/s" if scale is not None else "-", "-",
                 verdict(None if scale is None else scale <= 0.5)])
    live = idle.get("understudy live")
    tls = R.get("tls_mapped")
    rows.append(["manager without --http: RSS <= 2.5 MiB, no TLS library mapped",
                 f"{live['rss_mib']:.1f} MiB, TLS {'mapped' if tls else 'not mapped'}" if live else "-",
                 f"flock(1) {flw['rss_mib']:.1f} MiB" if flw else "-",
                 verdict(None if not live else live["rss_mib"] <= 2.5 and not tls)])
    for kind in ("switchover", "failback"):
        m = med([r[0] for r in R.get("ho", {}).get(kind, [])])
        rows.append([f"{kind} <= 300 ms, median (local, defaults)", f"{m:.1f} ms" if m is not None else "-",
                     "none: flock(1) cannot hand over", verdict(None if m is None else m <= 300)])
    return rows


def plots(cfg, R, out, work):
    """PNG plots with gnuplot: the failover distributions, and the scale runs."""
    if not shutil.which("gnuplot"):
        R["skipped"].append("plots: gnuplot not installed")
        return []
    made = []
    if R.get("fo"):
        cmds = ["set terminal pngcairo size 900,500 font ',10'", f"set output '{out}/failover.png'",
                "set title 'Failover: SIGKILL of the live manager to the next workload exec'",
                "set logscale x", "set xlabel 'ms (log scale)'", "set ylabel 'fraction of trials'",
                "set key top left", "set grid", "set yrange [0:1.02]"]
        series = []
        for i, (k, xs) in enumerate(R["fo"].items()):
            f = os.path.join(work, f"fo{i}.dat")
            s = sorted(xs)
            with open(f, "w") as fh:
                fh.write(f"{s[0]} 0\n")  # so that the first step is drawn
                for j, x in enumerate(s):
                    fh.write(f"{x} {(j + 1) / len(s)}\n")
            series.append(f"'{f}' using 1:2 with steps lw 2 title '{k} (n={len(s)})'")
        cmds.append("plot " + ", ".join(series))
        made.append(_gnuplot(cmds, work, "failover"))
    if R.get("scale"):
        f = os.path.join(work, "scale.dat")
        with open(f, "w") as fh:
            for n, s in R["scale"].items():
                med = summary(s["fo"])[1]
                fh.write(f"{n} {med if med is not None else 'NaN'} {sum(s['ops'])}\n")
        cmds = ["set terminal pngcairo size 900,400 font ',10'", f"set output '{out}/scale.png'",
                "set multiplot layout 1,2 title 'understudy: nodes on one lock file (local)'",
                "set grid", "set xlabel 'nodes'", "set xtics (1, 8, 32, 64)",
                "set ylabel 'median failover ms'", "set yrange [0:*]",
                f"plot '{f}' using 1:2 with linespoints lw 2 pt 7 notitle",
                "set ylabel 'lock-file calls/s, all nodes'",
                f"plot '{f}' using 1:3 with linespoints lw 2 pt 7 notitle", "unset multiplot"]
        made.append(_gnuplot(cmds, work, "scale"))
    if R.get("groups"):
        f = os.path.join(work, "groups.dat")
        with open(f, "w") as fh:
            for n, c in R["groups"].items():
                fh.write(f"{n} {c['rss_mib']} {c['pss_mib']} {c['cpu_ms_s']}\n")
        cmds = ["set terminal pngcairo size 900,400 font ',10'", f"set output '{out}/groups.png'",
                "set multiplot layout 1,2 title 'understudy: groups on one host (one live manager each)'",
                "set grid", "set xlabel 'groups'", "set logscale x", "set ylabel 'MiB per group'",
                "set yrange [0:*]", "set key bottom left",
                f"plot '{f}' using 1:2 with linespoints lw 2 pt 7 title 'RSS', "
                f"'{f}' using 1:3 with linespoints lw 2 pt 5 title 'PSS'",
                "set ylabel 'CPU ms/s per group'",
                f"plot '{f}' using 1:4 with linespoints lw 2 pt 7 notitle", "unset multiplot"]
        made.append(_gnuplot(cmds, work, "groups"))
    return [m for m in made if m]


def _gnuplot(cmds, work, name):
    script = os.path.join(work, name + ".gp")
    with open(script, "w") as f:
        f.write("\n".join(cmds) + "\n")
    r = subprocess.run(["gnuplot", script], capture_output=True, text=True)
    if r.returncode != 0:
        log(f"gnuplot {name}: {r.stderr.strip()}")
        return None
    return name + ".png"


BEGIN = "<!-- BEGIN GENERATED by scripts/bench.sh: do not edit by hand -->"
END = "<!-- END GENERATED -->"


def write_readme(out, text, pngs):
    """Replace the generated section of out/README.md, keep the rest."""
    path = os.path.join(out, "README.md")
    body = text + "\n" + "".join(f"![{p[:-4]}]({p})\n\n" for p in pngs)
    try:
        with open(path) as f:
            old = f.read()
    except FileNotFoundError:
        old = f"# Benchmarks\n\n{BEGIN}\n{END}\n"
    if BEGIN not in old or END not in old:
        old = old.rstrip("\n") + f"\n\n{BEGIN}\n{END}\n"
    head, rest = old.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    with open(path, "w") as f:
        f.write(f"{head}{BEGIN}\n\n{body.rstrip()}\n\n{END}{tail}")


PARTS = ("failover", "etcd", "idle", "handover", "scale", "groups", "gluster", "ceph")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--understudy", required=True)
    ap.add_argument("--stamp", required=True)
    ap.add_argument("--rig", required=True, help="tests/cluster/gluster-rig.sh (ceph-rig.sh beside it)")
    ap.add_argument("--out", required=True, help="where README.md and the PNGs go")
    ap.add_argument("--mode", choices=("full", "quick", "smoke"), default="full")
    ap.add_argument("--only", default=",".join(PARTS), help="comma-separated: " + ", ".join(PARTS))
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    cfg = ap.parse_args()
    cfg.parts = [p for p in cfg.only.split(",") if p]
    bad = [p for p in cfg.parts if p not in PARTS]
    if bad:
        ap.error(f"unknown part(s): {', '.join(bad)}")
    cfg.understudy, cfg.stamp, cfg.rig = (os.path.abspath(p) for p in (cfg.understudy, cfg.stamp, cfg.rig))
    cfg.etcd_default_ttl = 10  # etcdctl 3.4's `lock --ttl` default
    full = cfg.mode == "full"
    smoke = cfg.mode == "smoke"
    cfg.trials = 50 if full else (2 if smoke else 8)
    cfg.handover_trials = 20 if full else (1 if smoke else 4)
    cfg.etcd_trials_default = 50 if full else (0 if smoke else 2)
    cfg.etcd_trials_min = 50 if full else (1 if smoke else 4)
    cfg.etcd_parallel = 10 if full else 4
    cfg.idle_s = 60 if full else (1 if smoke else 5)
    cfg.strace_s = 10 if full else (1 if smoke else 3)
    cfg.waiters_s, cfg.waiters_settle_s = (60, 10) if full else (cfg.strace_s, 2)
    cfg.scale_nodes = [1, 8, 32, 64] if not smoke else [1, 8]
    cfg.scale_trials = 10 if full else (1 if smoke else 3)
    cfg.groups = [1, 100, 500] if not smoke else [1, 10]
    cfg.groups_s = 20 if full else (1 if smoke else 5)
    # A trial with auto's delay lasts that delay (3 s at RIG_TIMING; see
    # the log line, from `run --check`).
    cfg.gluster_trials = (30, 50) if full else (3, 3)
    cfg.rig_wait_s = 900 if full else 60
    if smoke and cfg.only == ",".join(PARTS):
        cfg.parts = [p for p in cfg.parts if p not in RIGS]

    R = {"machine": machine(), "load0": loadavg(), "fo": {}, "notes": [], "skipped": []}
    for part in RIGS:
        if smoke and part not in cfg.parts:
            R["skipped"].append(f"{RIGS[part][0]} rig: not in a smoke run")
    # understudy refuses a lock file others could read or write, or one
    # below a directory others (or a group not ours) could write: what
    # this makes must pass, whatever umask it was started with.
    os.umask(0o022)
    work = tempfile.mkdtemp(prefix="understudy-bench-", dir=os.environ.get("BENCH_DIR", "/var/tmp"))
    R["local_fs"] = fstype(work)
    log(f"work directory {work} ({R['local_fs']}); load {R['load0']}")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    t_start = time.monotonic()
    try:
        for part in PARTS:  # in this order: etcd hands its server to idle
            if part in cfg.parts:
                globals()["part_" + part](cfg, R, work)
    finally:
        if "etcd" in R:
            R.pop("etcd").stop()
        PROCS.cleanup()
    R["load1"] = loadavg()
    R["elapsed_s"] = time.monotonic() - t_start
    os.makedirs(cfg.out, exist_ok=True)
    text = report(cfg, R)
    pngs = plots(cfg, R, cfg.out, work)
    write_readme(cfg.out, text + f"Run time {R['elapsed_s']:.0f} s.\n", pngs)
    with open(os.path.join(cfg.out, "results.json"), "w") as f:
        json.dump({k: v for k, v in R.items()}, f, indent=1, default=str)
    print(text)
    print(f"Run time {R['elapsed_s']:.0f} s. Written: {cfg.out}/README.md" +
          "".join(f", {cfg.out}/{p}" for p in pngs))
    if not cfg.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
