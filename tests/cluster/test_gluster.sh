#!/bin/bash
# test_gluster.sh: understudy across two "hosts" (network namespaces) sharing
# a real GlusterFS volume (tests/cluster/gluster-rig.sh). Needs root.
#
#  1. failover: SIGKILL the live manager on host a; host b's workload starts
#     after its takeover delay, never alongside a's.
#  2. partition: cut host a off the storage; a fences (SIGKILL to its
#     workload) and starts over; the brick drops a's locks; b takes over
#     after its delay; a's workload is gone before b's starts (CLOCK_MONOTONIC).
#  3. the link comes back: a joins again and waits, never restarting alone.
#  4. failback across hosts: `understudy failback --wait` from host b.
#  5. lock tries across partitions: two backups on host a wait (lock tries,
#     cut every poll interval by the manager's wake-up signal) while host a
#     is cut off and healed six times; then both exit on SIGTERM, nothing on
#     host a is stuck in the FUSE client, and the mount still answers.
#     Before the wake-up signal was kept out of the tries (issue 15), the
#     client deadlocked on the interrupts and the managers never exited.
#
# The workload is tests/witness, which logs "start NAME PID T ROLE" (T is
# CLOCK_MONOTONIC ns) and "overlap" when another witness still holds the
# witness lock, a file on the local disk outside the volume.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
RIG_SH=$HERE/gluster-rig.sh
U=$BUILD/understudy
W=$BUILD/tests/witness
RIG=/tmp/us-rig
LOG=$RIG/log
WLOCK=$RIG/witness.lock
TIMING=(--fence-timeout 2s --heartbeat-interval 500ms --check-interval 250ms)

[ "$(id -u)" = 0 ] || { echo "test_gluster: needs root" >&2; exit 77; }
[ -x "$U" ] && [ -x "$W" ] || { echo "test_gluster: build first ($U, $W)" >&2; exit 1; }

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
fail() { echo "FAIL: $*"; FAILED=1; }
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
# host-HOST unless NAME is given; sets NODE_PID.
node() {
	local h=$1 role=$2 name=${3:-host-$1}
	ip netns exec us-$h timeout 120 "$U" run --lock $RIG/$h/mnt/${GLOCK:-g.lock} --role "$role" \
		--name "$name" "${TIMING[@]}" -- "$W" "$LOG" "$WLOCK" 2>>$RIG/$h.err &
	NODE_PID=$!
	PIDS+=("$NODE_PID")
}
status_of() { ip netns exec us-$1 timeout 10 "$U" status --lock $RIG/$1/mnt/${GLOCK:-g.lock} --json; }
b_waiting() { status_of a | grep -q '"name":"host-b","role":"backup","state":"waiting"'; }
# After a start, the managers' own pids are not the `timeout` wrapper's;
# the wrapper passes signals on to them.
fresh() {
	rm -f $RIG/a/mnt/g.lock "$LOG" "$WLOCK" $RIG/a.err $RIG/b.err
	: >"$LOG"
}

"$RIG_SH" up

echo "== 1. failover after SIGKILL of the live manager"
fresh
node a primary
A=$NODE_PID
wait_for 20 logged '^start host-a' || fail "host-a's workload did not start"
node b backup
B=$NODE_PID
wait_for 20 b_waiting || fail "host-b is not waiting (status from a)"
echo "status from a:"; status_of a; echo
echo "status from b:"; status_of b; echo
MA=$(pgrep -P $A -x understudy)
T0=$(now_ns)
kill -9 "$MA"
wait_for 60 logged '^start host-b' || fail "host-b's workload did not start within 60 s"
TB=$(awk '/^start host-b/{print $4; exit}' "$LOG")
DELAY=$(sed -n 's/.*takeover delay \([0-9]*\) ms.*/\1/p' $RIG/b.err | head -1)
echo "takeover delay chosen by host-b: ${DELAY:-?} ms"
[ -n "$TB" ] && echo "failover: SIGKILL of host-a's manager to host-b's start: $(ms "$TB" "$T0") ms"
[ -n "$TB" ] && [ -n "$DELAY" ] && [ "$(ms "$TB" "$T0")" -lt "$DELAY" ] && fail "host-b started before its takeover delay"
logged overlap && fail "the witnesses overlapped"
kill -TERM "$B"
wait_exit "$B" 20
[ "$rc" = 0 ] || fail "host-b's manager exited $rc on SIGTERM, expected 0"
wait "$A" 2>/dev/null || true
cat "$LOG"

echo "== 2. partition: host a loses the storage"
fresh
node a primary
A=$NODE_PID
wait_for 20 logged '^start host-a' || fail "host-a's workload did not start"
node b backup
B=$NODE_PID
wait_for 20 b_waiting || fail "host-b is not waiting (status from a)"
sleep 1
# When the witness lock (local disk) becomes free: the moment host-a's
# workload is really gone (it holds that lock until its exit completes).
python3 - "$WLOCK" >$RIG/free.ns <<'PY' &
import fcntl, os, struct, sys, time
fd = os.open(sys.argv[1], os.O_RDWR)
end = time.monotonic() + 60
while time.monotonic() < end:
    r = fcntl.fcntl(fd, 36, struct.pack("hhqqi4x", fcntl.F_WRLCK, 0, 0, 1, 0))  # F_OFD_GETLK
    if struct.unpack("hhqqi4x", r)[0] == fcntl.F_UNLCK:
        print(time.monotonic_ns()); break
    time.sleep(0.005)
PY
PIDS+=($!)
# When host-a logs that it sends SIGKILL (polled every 20 ms).
(wait_for 30 grep -q 'fencing: SIGKILL' $RIG/a.err && now_ns >$RIG/fence.ns) &
PIDS+=($!)
TC=$(now_ns)
ip -n us-a link set us-a-n down
# Fenced, its workload gone, host-a's manager starts over as a new node,
# which waits for the storage to answer.
wait_for 30 grep -q 'joining again' $RIG/a.err || fail "host-a did not fence and start over"
TA=$(now_ns)
echo "host-a fenced and started over, $(ms "$TA" "$TC") ms after the cut"
kill -0 "$A" 2>/dev/null || fail "host-a's manager exited instead of rejoining"
wait_for 60 logged '^start host-b' || fail "host-b's workload did not start within 60 s of the cut"
wait_for 10 test -s $RIG/free.ns || true
TF=$(cat $RIG/free.ns 2>/dev/null || true)
TB=$(awk '/^start host-b/{print $4; exit}' "$LOG")
TK=$(cat $RIG/fence.ns 2>/dev/null || true)
[ -n "$TK" ] && echo "partition: cut to host-a's fence (SIGKILL logged): $(ms "$TK" "$TC") ms"
[ -n "$TF" ] && echo "partition: cut to host-a's workload gone (witness lock free): $(ms "$TF" "$TC") ms"
[ -n "$TB" ] && echo "partition: cut to host-b's workload start: $(ms "$TB" "$TC") ms"
[ -n "$TF" ] && [ -n "$TB" ] && echo "margin: $(ms "$TB" "$TF") ms"
[ -n "$TF" ] && [ -n "$TB" ] && [ "$TF" -ge "$TB" ] && fail "host-b started before host-a's workload was gone"
logged overlap && fail "the witnesses overlapped"
grep -E 'fencing|killed|stopping' $RIG/a.err || true
echo "== 3. the link comes back: host-a rejoins and waits"
ip -n us-a link set us-a-n up
TH=$(now_ns)
a_waiting() { status_of b 2>/dev/null | grep -q '"name":"host-a","role":"primary","state":"waiting","alive":true'; }
if wait_for 60 a_waiting; then
	echo "host-a waiting again $(ms "$(now_ns)" "$TH") ms after the link came back; status from a:"
	status_of a; echo
else
	fail "after healing, host-a is not waiting in the group"
	cat $RIG/a.err
fi
kill -0 "$B" 2>/dev/null || fail "host-b's manager is gone after the heal"
sleep 1
[ "$(grep -c '^start host-a' "$LOG")" -gt 1 ] && fail "host-a started its workload again on its own"
logged overlap && fail "the witnesses overlapped"

echo "== 4. failback across hosts"
TF0=$(now_ns)
if ip netns exec us-b timeout 60 "$U" failback --lock $RIG/b/mnt/g.lock --wait --timeout 40s; then
	wait_for 20 test "$(grep -c '^start host-a' "$LOG")" -ge 2 || fail "host-a's workload did not start again"
	TA2=$(awk '/^start host-a/{n++; if (n == 2) {print $4; exit}}' "$LOG")
	[ -n "$TA2" ] && echo "failback: request to host-a's workload start: $(ms "$TA2" "$TF0") ms"
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

echo "== 5. lock tries across partitions: host a's waiting nodes still exit"
fresh
# A file of its own: host b's client may still know the one fresh removed.
GLOCK=g5.lock
node b primary
B=$NODE_PID
wait_for 20 logged '^start host-b' || { fail "host-b's workload did not start"; cat $RIG/b.err; }
node a backup host-a1
A1=$NODE_PID
node a backup host-a2
A2=$NODE_PID
waiting_a() { status_of b | grep -q '"name":"host-a2","role":"backup","state":"\(waiting\|queued\)"'; }
wait_for 20 waiting_a || fail "host-a2 is not waiting (status from b)"
for c in 1 2 3 4 5 6; do
	ip -n us-a link set us-a-n down
	sleep 5
	ip -n us-a link set us-a-n up
	sleep 4
done
# In D on the FUSE client: the threads of any process on host a's mount.
stuck_on_a() {
	local p t n=0
	for p in $(pgrep -x understudy); do
		grep -q "us-a/mnt" /proc/$p/cmdline 2>/dev/null || continue
		for t in /proc/$p/task/*; do
			if [ "$(awk '{print $3}' $t/stat 2>/dev/null)" = D ]; then
				echo "  pid $p thread ${t##*/}: D $(cat $t/wchan 2>/dev/null) syscall $(cut -d' ' -f1-3 $t/syscall 2>/dev/null)"
				n=$((n + 1))
			fi
		done
	done
	return $((n == 0))
}
T5=$(now_ns)
kill -TERM "$A1" "$A2"
wait_exit "$A1" 30
RC1=$rc
wait_exit "$A2" 30
RC2=$rc
echo "host-a1 exited $RC1, host-a2 exited $RC2, $(ms "$(now_ns)" "$T5") ms after SIGTERM"
[ "$RC1" = 0 ] || fail "host-a1's manager exited $RC1 on SIGTERM after the partitions, expected 0"
[ "$RC2" = 0 ] || fail "host-a2's manager exited $RC2 on SIGTERM after the partitions, expected 0"
if stuck_on_a; then
	fail "threads stuck in the FUSE client on host a"
fi
ip netns exec us-a timeout 20 "$U" status --lock $RIG/a/mnt/$GLOCK >/dev/null ||
	fail "status on host a's mount did not answer within 20 s after the partitions"
logged overlap && fail "the witnesses overlapped"
kill -TERM "$B"
wait_exit "$B" 20
[ "$rc" = 0 ] || fail "host-b's manager exited $rc on SIGTERM, expected 0"

if [ $FAILED = 0 ]; then echo "PASS"; else echo "FAILED"; exit 1; fi
