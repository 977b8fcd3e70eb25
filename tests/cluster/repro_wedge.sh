#!/bin/bash
# repro_wedge.sh: does a signal that lands inside a lock try wedge the
# GlusterFS client? (issue 15; doc/fencing.md, "Lock tries and signals")
#
# usage: repro_wedge.sh MODE [CYCLES] [TRIERS]
#   MODE        unmasked | masked | none (see lock_tries.c; BUILD, default
#               build/ at the top of the checkout, holds it as tests/lock_tries)
#
# Brings the rig up fresh, holds byte 2 of a file from host b, starts
# TRIERS (default 2) processes on host a that open the file and then try
# byte 2 every 100 ms, with the wake-up signal every 250 ms as MODE says;
# then cuts host a off the storage for 5 s and heals it, CYCLES times
# (default 6), 9 s apart. A try that has not returned 20 s after the last
# heal is stuck. Prints "stuck N of M" and exits 1 if N > 0. Takes the
# rig's lock; brings the rig down at the end (the client is killed, which
# frees a stuck try).
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
RIG_SH=$HERE/gluster-rig.sh
LT=${BUILD:-$HERE/../../build}/tests/lock_tries
MODE=${1:?usage: repro_wedge.sh unmasked|masked|none [CYCLES] [TRIERS]}
CYCLES=${2:-6}
TRIERS=${3:-2}
RIG=/tmp/us-rig
OUT=$(mktemp -d /tmp/us-wedge.XXXXXX)

[ "$(id -u)" = 0 ] || { echo "repro_wedge: needs root" >&2; exit 77; }
[ -x "$LT" ] || { echo "repro_wedge: build first ($LT)" >&2; exit 1; }
exec 9>/tmp/us-rig.lock
flock 9
PIDS=()
cleanup() {
	local rc=$?
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
	"$RIG_SH" down >/dev/null 2>&1 || "$RIG_SH" down
	exit $rc
}
trap cleanup EXIT
"$RIG_SH" up >/dev/null
F=$RIG/a/mnt/wedge.lock
rm -f "$F"
nsenter --net=/run/netns/us-b -- "$LT" hold $RIG/b/mnt/wedge.lock 2 >"$OUT/hold" &
PIDS+=($!)
for _ in $(seq 50); do grep -q held "$OUT/hold" && break; sleep 0.1; done
SECS=$((CYCLES * 9 + 5))
for i in $(seq "$TRIERS"); do
	nsenter --net=/run/netns/us-a -- "$LT" try "$F" 2 "$SECS" "$MODE" >"$OUT/try.$i" 2>&1 &
	PIDS+=($!)
done
sleep 2
for _ in $(seq "$CYCLES"); do
	nsenter --net=/run/netns/us-a -- ip link set us-a-n down
	sleep 5
	nsenter --net=/run/netns/us-a -- ip link set us-a-n up
	sleep 4
done
# Every trier ends SECS after its start; give a stuck try 20 s more.
sleep 25
stuck=0
for i in $(seq "$TRIERS"); do
	p=${PIDS[$i]}
	if kill -0 "$p" 2>/dev/null; then
		stuck=$((stuck + 1))
		# The trying thread: the second task of the process.
		t=$(find "/proc/$p/task" -mindepth 1 -maxdepth 1 2>/dev/null | sort -V | sed -n 2p)
		echo "trier $i (pid $p): still running; its trying thread: $(awk '{print $3}' "$t/stat" 2>/dev/null) $(cat "$t/wchan" 2>/dev/null); last: $(tail -1 "$OUT/try.$i")"
	else
		echo "trier $i: $(tail -1 "$OUT/try.$i")"
	fi
done
# A fresh process on the same mount: does the client answer at all?
(nsenter --net=/run/netns/us-a -- "$LT" try "$F" 2 2 none >"$OUT/fresh" 2>&1 && echo answered >>"$OUT/fresh") &
sleep 10
if grep -q answered "$OUT/fresh"; then
	echo "a fresh process's tries on host a's mount: answered"
else
	echo "a fresh process's tries on host a's mount: no answer in 10 s"
fi
if [ $stuck != 0 ]; then
	# The operator's way out short of a reboot: abort the FUSE connection.
	# (mountpoint -d would stat the mount, which fails or hangs now.)
	grep -q fusectl /proc/mounts || mount -t fusectl fusectl /sys/fs/fuse/connections
	minor=$(awk -v m=$RIG/a/mnt '$5 == m {split($3, d, ":"); print d[2]}' /proc/self/mountinfo)
	echo 1 >"/sys/fs/fuse/connections/$minor/abort"
	sleep 5
	left=0
	for i in $(seq "$TRIERS"); do kill -0 "${PIDS[$i]}" 2>/dev/null && left=$((left + 1)); done
	echo "after aborting FUSE connection $minor: $left of the $stuck stuck triers still there"
fi
echo "mode $MODE: stuck $stuck of $TRIERS after $CYCLES partitions (logs in $OUT)"
[ $stuck = 0 ]
