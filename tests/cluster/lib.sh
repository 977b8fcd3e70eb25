# shellcheck shell=bash
# lib.sh: what the cluster scenarios share, whichever file system the rig
# serves (test_gluster.sh, test_ceph.sh). Sourced, never run. The caller
# sets, before sourcing:
#   NS     the rig's namespace prefix (us for GlusterFS, uc for CephFS)
#   RIG    the rig's directory; host H mounts the volume at $RIG/H/mnt
#   RIG_SH the rig's script (up, down)
#   NAME   the test's name, for messages
# and may set NODE_TIMEOUT, how long a manager may live (default 300 s).
# and gets LOG (the witnesses' log), WLOCK (the witness lock, on the local
# disk outside the volume), U, W, TIMING, and the helpers below.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
U=$BUILD/understudy
W=$BUILD/tests/witness
LOG=$RIG/log.witness
WLOCK=$RIG/witness.lock
TIMING=(--fence-timeout 2s --heartbeat-interval 500ms --check-interval 250ms)

# understudy refuses a lock file in a directory others may write: what
# the scenarios make (directories on the mounts, the witness files) must
# pass whatever umask they were started with.
umask 022

[ "$(id -u)" = 0 ] || {
	echo "$NAME: needs root" >&2
	exit 77
}
[ -x "$U" ] && [ -x "$W" ] || {
	echo "$NAME: build first ($U, $W)" >&2
	exit 1
}

PIDS=()
cleanup() {
	local rc=$?
	set +e
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
	"$RIG_SH" down >/dev/null 2>&1 || "$RIG_SH" down
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

FAILED=0
fail() {
	echo "FAIL: $*"
	FAILED=1
}
now_ns() { python3 -c 'import time; print(time.monotonic_ns())'; }
ms() { echo $((($1 - $2) / 1000000)); }
# wait_for SECONDS COMMAND...: true once COMMAND succeeds, false after SECONDS.
wait_for() {
	local end=$((SECONDS + $1))
	shift
	until "$@"; do
		[ $SECONDS -lt $end ] || return 1
		sleep 0.1
	done
}
logged() { grep -q "$1" "$LOG" 2>/dev/null; }
# wait_exit PID SECONDS: sets rc to the exit code of background child PID,
# 124 if it does not exit in time.
gone() { ! kill -0 "$1" 2>/dev/null || [ "$(awk '{print $3}' /proc/$1/stat 2>/dev/null)" = Z ]; }
wait_exit() {
	rc=0
	if wait_for "$2" gone "$1"; then
		wait "$1" || rc=$?
	else
		rc=124
	fi
}
# node HOST ROLE [NAME]: start a manager in host HOST's namespace, named
# host-HOST unless NAME is given, on $RIG/HOST/mnt/$GLOCK (g.lock unless
# set); sets NODE_PID. The managers' own pids are not the `timeout`
# wrapper's; the wrapper passes signals on to them. nsenter --net, not ip
# netns exec: that one gives the command a mount table of its own, which a
# mount made later on the host (a CephFS client mounted again after an
# eviction) never reaches.
node() {
	local h=$1 role=$2 name=${3:-host-$1}
	nsenter --net=/run/netns/$NS-$h -- timeout "${NODE_TIMEOUT:-300}" "$U" run --lock $RIG/$h/mnt/${GLOCK:-g.lock} \
		--role "$role" --name "$name" "${TIMING[@]}" -- "$W" "$LOG" "$WLOCK" 2>>$RIG/$h.err &
	NODE_PID=$!
	PIDS+=("$NODE_PID")
}
status_of() { nsenter --net=/run/netns/$NS-$1 -- timeout 10 "$U" status --lock $RIG/$1/mnt/${GLOCK:-g.lock} --json; }
b_waiting() { status_of a | grep -q '"name":"host-b","role":"backup","state":"waiting"'; }
a_waiting() { status_of b 2>/dev/null | grep -q '"name":"host-a","role":"primary","state":"waiting","alive":true'; }
fresh() {
	rm -f $RIG/a/mnt/g.lock "$LOG" "$WLOCK" $RIG/a.err $RIG/b.err $RIG/free.ns $RIG/fence.ns
	: >"$LOG"
}
# start_pair: a fresh group, host a live, host b waiting; sets A and B.
start_pair() {
	fresh
	node a primary
	A=$NODE_PID
	wait_for 20 logged '^start host-a' || fail "host-a's workload did not start"
	node b backup
	B=$NODE_PID
	wait_for 20 b_waiting || fail "host-b is not waiting (status from a)"
}
# failover: SIGKILL host a's live manager; host b starts after its delay.
failover() {
	start_pair
	echo "status from a:"
	status_of a
	echo
	echo "status from b:"
	status_of b
	echo
	local ma t0 tb delay
	ma=$(pgrep -P "$A" -x understudy)
	t0=$(now_ns)
	kill -9 "$ma"
	wait_for 60 logged '^start host-b' || fail "host-b's workload did not start within 60 s"
	tb=$(awk '/^start host-b/{print $4; exit}' "$LOG")
	delay=$(sed -n 's/.*takeover delay \([0-9]*\) ms.*/\1/p' $RIG/b.err | head -1)
	echo "takeover delay chosen by host-b: ${delay:-?} ms"
	[ -n "$tb" ] && echo "failover: SIGKILL of host-a's manager to host-b's start: $(ms "$tb" "$t0") ms"
	[ -n "$tb" ] && [ -n "$delay" ] && [ "$(ms "$tb" "$t0")" -lt "$delay" ] && fail "host-b started before its takeover delay"
	logged overlap && fail "the witnesses overlapped"
	kill -TERM "$B"
	wait_exit "$B" 20
	[ "$rc" = 0 ] || fail "host-b's manager exited $rc on SIGTERM, expected 0"
	wait "$A" 2>/dev/null || true
	cat "$LOG"
}
# watch_partition: note in $RIG/free.ns when the witness lock (local disk)
# becomes free, the moment host-a's workload is really gone (it holds that
# lock until its exit completes), and in $RIG/fence.ns when host-a logs
# that it sends SIGKILL (polled every 100 ms).
watch_partition() {
	python3 - "$WLOCK" >$RIG/free.ns <<'PY' &
import fcntl, os, struct, sys, time
fd = os.open(sys.argv[1], os.O_RDWR)
end = time.monotonic() + 120
while time.monotonic() < end:
    r = fcntl.fcntl(fd, 36, struct.pack("hhqqi4x", fcntl.F_WRLCK, 0, 0, 1, 0))  # F_OFD_GETLK
    if struct.unpack("hhqqi4x", r)[0] == fcntl.F_UNLCK:
        print(time.monotonic_ns()); break
    time.sleep(0.005)
PY
	PIDS+=($!)
	(wait_for 60 grep -q -e '-> stopping: fenced: ' -e '-> done: fenced: ' $RIG/a.err && now_ns >$RIG/fence.ns) &
	PIDS+=($!)
}
# partition_report TC: the figures of a partition cut at TC, and the
# safety check: host-b's workload started only after host-a's was gone.
# Sets TB (host-b's start) and TF (host-a's workload gone).
partition_report() {
	local tc=$1 tk
	wait_for 10 test -s $RIG/free.ns || true
	TF=$(cat $RIG/free.ns 2>/dev/null || true)
	TB=$(awk '/^start host-b/{print $4; exit}' "$LOG")
	tk=$(cat $RIG/fence.ns 2>/dev/null || true)
	[ -n "$tk" ] && echo "partition: cut to host-a's fence (SIGKILL logged): $(ms "$tk" "$tc") ms"
	[ -n "$TF" ] && echo "partition: cut to host-a's workload gone (witness lock free): $(ms "$TF" "$tc") ms"
	[ -n "$TB" ] && echo "partition: cut to host-b's workload start: $(ms "$TB" "$tc") ms"
	[ -n "$TF" ] && [ -n "$TB" ] && echo "margin: $(ms "$TB" "$TF") ms"
	[ -n "$TF" ] && [ -n "$TB" ] && [ "$TF" -ge "$TB" ] && fail "host-b started before host-a's workload was gone"
	logged overlap && fail "the witnesses overlapped"
	grep -E 'fencing|killed|stopping' $RIG/a.err || true
}
# failback: `understudy failback --wait` from host b moves the workload
# back to host a; then both managers stop cleanly on SIGTERM.
failback() {
	local tf0 ta2 n
	n=$(grep -c '^start host-a' "$LOG")
	tf0=$(now_ns)
	if nsenter --net=/run/netns/$NS-b -- timeout 60 "$U" failback --lock $RIG/b/mnt/g.lock --wait --timeout 40s; then
		wait_for 20 test "$(grep -c '^start host-a' "$LOG")" -gt "$n" || fail "host-a's workload did not start again"
		ta2=$(awk -v n=$((n + 1)) '/^start host-a/{k++; if (k == n) {print $4; exit}}' "$LOG")
		[ -n "$ta2" ] && echo "failback: request to host-a's workload start: $(ms "$ta2" "$tf0") ms"
	else
		fail "failback --wait from host b failed"
	fi
	logged overlap && fail "the witnesses overlapped"
	kill -TERM "$A"
	wait_exit "$A" 20
	[ "$rc" = 0 ] || fail "host-a's manager exited $rc on SIGTERM, expected 0"
	kill -TERM "$B"
	wait_exit "$B" 20
	[ "$rc" = 0 ] || fail "host-b's manager exited $rc on SIGTERM, expected 0"
	cat "$LOG"
	logged overlap && fail "the witnesses overlapped"
	return 0
}
verdict() {
	if [ $FAILED = 0 ]; then
		echo "PASS"
	else
		echo "FAILED"
		exit 1
	fi
}
