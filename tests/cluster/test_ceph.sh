#!/bin/bash
# test_ceph.sh: understudy across two "hosts" (network namespaces) mounting
# one real CephFS with ceph-fuse (tests/cluster/ceph-rig.sh). Needs root.
#
#  1. failover: SIGKILL the live manager on host a; host b's workload starts
#     after its takeover delay, never alongside a's.
#  2. partition: cut host a off the storage; a fences (SIGKILL to its
#     workload); the MDS evicts a's session after session_timeout /
#     session_autoclose (30 s each here) and so gives its locks away; b takes
#     over after its delay; a's workload is gone before b's starts
#     (CLOCK_MONOTONIC).
#  3. the link comes back: a's client is blocklisted, every call on its mount
#     fails with ESHUTDOWN, and a's manager says so and what to do; once the
#     mount is remounted a joins again and waits, never restarting alone.
#  4. failback across hosts: `understudy failback --wait` from host b.
#  0. check-storage --peer from hosts a and b passes every check; a third
#     client on host a mounted without fuse_disable_pagecache gets a
#     warning for its page cache, and still passes the write check across
#     hosts (understudy drops the cached pages before each locked read;
#     before it did, another's writes were never seen there), and `run`
#     warns on it (and not on host a's own mount).
#  5. partition, and the operator evicts a's client at once
#     (`ceph tell mds.* client evict`) after a has fenced: b takes over a
#     takeover delay later instead of half a minute; after the heal and a
#     remount a waits again.
#
# The workload is tests/witness, which logs "start NAME PID T ROLE" (T is
# CLOCK_MONOTONIC ns) and "overlap" when another witness still holds the
# witness lock, a file on the local disk outside the file system.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck disable=SC2034 # NAME, NS and NODE_TIMEOUT are lib.sh's
NAME=test_ceph
# shellcheck disable=SC2034
NS=uc
RIG=/tmp/uc-rig
RIG_SH=$HERE/ceph-rig.sh
# The MDS's timeouts the rig sets (its defaults: 30 s, the least it takes).
# Ceph's own defaults, 60 s and 300 s, make scenario 2 last five minutes:
# UC_SESSION_TIMEOUT=60 UC_SESSION_AUTOCLOSE=300 tests/cluster/test_ceph.sh
export UC_SESSION_TIMEOUT=${UC_SESSION_TIMEOUT:-30} UC_SESSION_AUTOCLOSE=${UC_SESSION_AUTOCLOSE:-30}
# shellcheck disable=SC2034
NODE_TIMEOUT=$((UC_SESSION_AUTOCLOSE + 300))
# shellcheck source=lib.sh
. "$HERE/lib.sh"

# heal_and_rejoin TC: bring host a's link back; its client is blocklisted,
# so its manager names that and waits; remount as an operator would, and a
# joins as a waiting backup, never starting its workload on its own.
heal_and_rejoin() {
	local th n
	n=$(grep -c '^start host-a' "$LOG")
	nsenter --net=/run/netns/uc-a -- ip link set uc-a-n up
	th=$(now_ns)
	if wait_for 30 grep -q 'blocklisted' $RIG/a.err; then
		echo "after the heal, host-a's manager said:"
		grep -m1 'blocklisted' $RIG/a.err
	else
		fail "host-a's manager did not name its blocklisted mount"
		echo "host-a's manager: the last it said, and where its threads wait:"
		tail -n 3 $RIG/a.err
		local m t
		for m in $(pgrep -P "$A") $(pgrep -P "$(pgrep -P "$A" | head -1)" 2>/dev/null); do
			for t in /proc/$m/task/*; do
				echo "  $(cat $t/comm 2>/dev/null) ${t##*/} $(awk '{print $3}' $t/stat 2>/dev/null) $(cat $t/wchan 2>/dev/null)"
			done
		done
	fi
	kill -0 "$A" 2>/dev/null || fail "host-a's manager exited instead of waiting for its mount"
	# The dead mount answers ESHUTDOWN to everything.
	if out=$(stat $RIG/a/mnt/g.lock 2>&1); then
		fail "host-a's mount still answers after its eviction"
	else
		echo "stat on host-a's mount: ${out##*: }"
	fi
	# A new manager on that mount names it too, and exits 74.
	local rc=0
	out=$(nsenter --net=/run/netns/uc-a -- timeout 20 "$U" run --role backup --lock $RIG/a/mnt/g.lock \
		-- /bin/true 2>&1) || rc=$?
	if [ $rc = 74 ] && grep -q 'ESHUTDOWN: on CephFS the MDS evicted and blocklisted it' <<<"$out"; then
		echo "run on host-a's evicted mount: exit 74, ${out#understudy*: }"
	else
		fail "run on the evicted mount exited $rc, expected 74 naming the eviction: $out"
	fi
	"$RIG_SH" remount a
	if wait_for 60 a_waiting; then
		echo "host-a waiting again $(ms "$(now_ns)" "$th") ms after the link came back (remount included); status from a:"
		status_of a
		echo
	else
		fail "after the heal and the remount, host-a is not waiting in the group"
		cat $RIG/a.err
	fi
	kill -0 "$B" 2>/dev/null || fail "host-b's manager is gone after the heal"
	sleep 1
	[ "$(grep -c '^start host-a' "$LOG")" -gt "$n" ] && fail "host-a started its workload again on its own"
	logged overlap && fail "the witnesses overlapped"
	return 0
}

"$RIG_SH" up

# check_pair DIR_A DIR_B: check-storage --peer on host a (DIR_A) and b
# (DIR_B) at once; sets OUT_A, OUT_B, RC_A, RC_B.
check_pair() {
	mkdir -p "$1" "$2"
	nsenter --net=/run/netns/uc-a -- timeout 120 "$U" check-storage "$1" --peer --peer-timeout 20s \
		>$RIG/cs-a.out 2>&1 &
	local pa=$!
	RC_B=0
	nsenter --net=/run/netns/uc-b -- timeout 120 "$U" check-storage "$2" --peer --peer-timeout 20s \
		>$RIG/cs-b.out 2>&1 || RC_B=$?
	RC_A=0
	wait $pa || RC_A=$?
	OUT_A=$(cat $RIG/cs-a.out)
	OUT_B=$(cat $RIG/cs-b.out)
}
# run_briefly DIR OUT: `run` on DIR/g.lock from host a for 3 s.
run_briefly() {
	nsenter --net=/run/netns/uc-a -- timeout -s INT 3 "$U" run --role primary --lock "$1/g.lock" \
		-- /bin/sleep 30 >"$2" 2>&1 || true
}

echo "== 0. check-storage --peer from both hosts"
check_pair $RIG/a/mnt/cs $RIG/b/mnt/cs
echo "$OUT_A"
[ $RC_A = 0 ] && [ $RC_B = 0 ] || fail "check-storage --peer: exit $RC_A on a, $RC_B on b; expected 0 (b said: $OUT_B)"
grep -q '^PASS  FUSE with direct I/O' <<<"$OUT_A" || fail "check-storage did not see direct I/O on host a"
grep -q '^PASS  a write under the lock on one host is seen by the other' <<<"$OUT_A" ||
	fail "check-storage --peer did not pass the write check across hosts"
run_briefly $RIG/a/mnt/cs $RIG/run-a.out
grep -q 'keeps the file in the page cache' $RIG/run-a.out && fail "run warned on a mount with direct I/O"
echo "-- a third client on host a, without fuse_disable_pagecache"
mkdir -p $RIG/c/mnt
nsenter --net=/run/netns/uc-a ceph-fuse --conf $RIG/ceph.conf --id c --fuse_disable_pagecache=false $RIG/c/mnt \
	>>$RIG/log/start.log 2>&1
check_pair $RIG/c/mnt/cs $RIG/b/mnt/cs
echo "$OUT_A"
# understudy drops the file's cached pages before each read under the lock
# (lockfile.c): its own reads see host b's writes, other programs' may not.
[ $RC_A = 0 ] && [ $RC_B = 0 ] || fail "check-storage on the page-cached mount: exit $RC_A on a, $RC_B on b; expected 0"
grep -q '^WARN  FUSE without direct I/O' <<<"$OUT_A" || fail "check-storage did not warn of the page-cached mount"
grep -q '^PASS  a write under the lock on one host is seen by the other' <<<"$OUT_A" &&
	grep -q '^PASS  a write under the lock on one host is seen by the other' <<<"$OUT_B" ||
	fail "check-storage --peer: a write across hosts was not seen through the page-cached mount"
run_briefly $RIG/c/mnt/cs $RIG/run-c.out
grep -m1 'keeps the file in the page cache' $RIG/run-c.out || fail "run on the page-cached mount did not warn"
umount $RIG/c/mnt

echo "== 1. failover after SIGKILL of the live manager"
failover

echo "== 2. partition: host a loses the storage; the MDS evicts it"
start_pair
sleep 1
watch_partition
TC=$(now_ns)
CUT_WALL=$(date +%s%3N)
nsenter --net=/run/netns/uc-a -- ip link set uc-a-n down
wait_for 30 test -s $RIG/fence.ns || fail "host-a did not fence"
wait_for $((UC_SESSION_AUTOCLOSE + 60)) logged '^start host-b' ||
	fail "host-b's workload did not start within $((UC_SESSION_AUTOCLOSE + 60)) s of the cut"
partition_report "$TC"
echo "the MDS's log (wall clock; the cut at $(date -u -d @$((CUT_WALL / 1000)) +%T).$((CUT_WALL % 1000))):"
grep -hiE 'stale|evicting' $RIG/log/mds.a.*.log | grep -v -e asok_command -e log_channel |
	sed -E 's/^[^T]*T([0-9:.]+)[^ ]* [^ ]+ +[0-9]+ /\1 /' || true
# Nothing gives a cut-off client's locks away before its eviction.
[ -n "$TB" ] && [ "$(ms "$TB" "$TC")" -lt $((UC_SESSION_AUTOCLOSE * 1000)) ] &&
	fail "host-b started $(ms "$TB" "$TC") ms after the cut, before the MDS could have evicted host a"

echo "== 3. the link comes back: host-a's mount is blocklisted until remounted"
heal_and_rejoin

echo "== 4. failback across hosts"
failback

echo "== 5. partition, and the operator evicts host a's client"
start_pair
sleep 1
watch_partition
TC=$(now_ns)
nsenter --net=/run/netns/uc-a -- ip link set uc-a-n down
wait_for 30 test -s $RIG/fence.ns || fail "host-a did not fence"
TE=$(now_ns)
"$RIG_SH" evict a
echo "partition: cut to the operator's evict: $(ms "$TE" "$TC") ms"
wait_for 30 logged '^start host-b' || fail "host-b's workload did not start within 30 s of the evict"
partition_report "$TC"
[ -n "$TB" ] && echo "partition: evict to host-b's workload start: $(ms "$TB" "$TE") ms"
echo "host-b's manager:"
grep -E -e '->|delay|heartbeat' $RIG/b.err | tail -n 6
heal_and_rejoin
kill -TERM "$A" "$B"
wait_exit "$A" 20
[ "$rc" = 0 ] || fail "host-a's manager exited $rc on SIGTERM, expected 0"
wait_exit "$B" 20
[ "$rc" = 0 ] || fail "host-b's manager exited $rc on SIGTERM, expected 0"
cat "$LOG"
logged overlap && fail "the witnesses overlapped"

verdict
