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
#
# The workload is tests/witness, which logs "start NAME PID T ROLE" (T is
# CLOCK_MONOTONIC ns) and "overlap" when another witness still holds the
# witness lock, a file on the local disk outside the volume. The helpers
# and the scenarios' shared steps are in lib.sh (test_ceph.sh uses them too).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck disable=SC2034 # NAME and NS are lib.sh's
NAME=test_gluster
# shellcheck disable=SC2034
NS=us
RIG=/tmp/us-rig
RIG_SH=$HERE/gluster-rig.sh
# shellcheck source=lib.sh
. "$HERE/lib.sh"

"$RIG_SH" up

echo "== 1. failover after SIGKILL of the live manager"
failover

echo "== 2. partition: host a loses the storage"
start_pair
sleep 1
watch_partition
TC=$(now_ns)
ip -n us-a link set us-a-n down
# Fenced, its workload gone, host-a's manager starts over as a new node,
# which waits for the storage to answer.
wait_for 30 grep -q 'joining again' $RIG/a.err || fail "host-a did not fence and start over"
TA=$(now_ns)
echo "host-a fenced and started over, $(ms "$TA" "$TC") ms after the cut"
kill -0 "$A" 2>/dev/null || fail "host-a's manager exited instead of rejoining"
wait_for 60 logged '^start host-b' || fail "host-b's workload did not start within 60 s of the cut"
partition_report "$TC"

echo "== 3. the link comes back: host-a rejoins and waits"
ip -n us-a link set us-a-n up
TH=$(now_ns)
if wait_for 60 a_waiting; then
	echo "host-a waiting again $(ms "$(now_ns)" "$TH") ms after the link came back; status from a:"
	status_of a
	echo
else
	fail "after healing, host-a is not waiting in the group"
	cat $RIG/a.err
fi
kill -0 "$B" 2>/dev/null || fail "host-b's manager is gone after the heal"
sleep 1
[ "$(grep -c '^start host-a' "$LOG")" -gt 1 ] && fail "host-a started its workload again on its own"
logged overlap && fail "the witnesses overlapped"

echo "== 4. failback across hosts"
failback

verdict
