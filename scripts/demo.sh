#!/usr/bin/env bash
# A two-node understudy demo on one machine: a primary and a backup share a
# lock file in a temporary directory and wrap a tiny shell workload.
#
#   scripts/demo.sh
#
# Installs the build dependencies if missing (Debian), builds into build/,
# then shows: primary live, backup waiting, failover after SIGKILL of the
# primary, failback when the primary returns, and a clean shutdown (the
# group pauses). Runs unattended in about 20 seconds.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
BIN=$ROOT/build/understudy

say() { printf '\n\033[1m%s\033[0m\n' "$*"; }

# --- dependencies and build ------------------------------------------------
. scripts/lib.sh
if [ -n "$(deps_missing build)" ]; then
	say "== 0. installing build dependencies (apt-get)"
	deps_ensure build
fi
if [ ! -f build/build.ninja ]; then
	say "== 0. configuring build/ with meson"
	build_setup build
fi
build_ninja build understudy
echo "built $BIN ($("$BIN" --version 2>/dev/null || echo '?'))"

# --- the demo ---------------------------------------------------------------
DIR=$(mktemp -d "${TMPDIR:-/tmp}/understudy-demo.XXXXXX")
LOCK=$DIR/group.lock
PIDS=()

cleanup() {
	local p
	for p in "${PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in "${PIDS[@]}"; do
		for _ in $(seq 50); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The workload: notes when it starts (for the timings below), then prints a
# line every second, naming the node that runs it. It waits with bash's own
# 'read -t' on a FIFO nobody writes, not with sleep(1): a child process of the
# workload inherits the lock file too, and the live lock is free only once
# the last process of the old workload is gone.
export DEMO_STARTS=$DIR/starts DEMO_TICK=$DIR/tick
mkfifo "$DEMO_TICK"
# shellcheck disable=SC2016 # expanded by the workload's shell
WORKLOAD='echo "$UNDERSTUDY_NODE $(date +%s%N)" >> "$DEMO_STARTS"; exec 3<>"$DEMO_TICK"; while :; do printf "    [workload on %s (%s)] serving, %(%T)T\n" "$UNDERSTUDY_NODE" "$UNDERSTUDY_ROLE" -1; read -r -t 1 -u 3 || :; done'

# start_node ROLE NAME [OPTIONS...]: run a manager in the background; its
# pid is left in NODE_PID.
start_node() {
	local role=$1 name=$2
	shift 2
	"$BIN" run --lock "$LOCK" --role "$role" --name "$name" --check-interval 200ms \
		--stop-timeout 3s "$@" -- bash -c "$WORKLOAD" &
	NODE_PID=$!
	PIDS+=("$NODE_PID")
}

status() {
	echo "\$ understudy status --lock $LOCK"
	"$BIN" status --lock "$LOCK" | sed 's/^/    /'
}

# live_is NAME: the lock file names NAME as the live node.
live_is() {
	"$BIN" status --lock "$LOCK" --json 2>/dev/null | tr -d ' \n\t' |
		grep -q "\"live\":{\"name\":\"$1\""
}

# wait_live NAME: up to 15 s.
wait_live() {
	for _ in $(seq 150); do
		live_is "$1" && return 0
		sleep 0.1
	done
	echo "demo: $1 did not become live" >&2
	"$BIN" status --lock "$LOCK" >&2 || true
	exit 1
}

state_is() {
	"$BIN" status --lock "$LOCK" --json 2>/dev/null | tr -d ' \n\t' | grep -q "\"state\":\"$1\""
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# wait_started NAME N: until NAME's workload has started N times (15 s);
# prints the time of that start in ms.
wait_started() {
	local n
	for _ in $(seq 300); do
		n=$(grep -c "^$1 " "$DEMO_STARTS" 2>/dev/null || true)
		if [ "${n:-0}" -ge "$2" ]; then
			local ns
			ns=$(grep "^$1 " "$DEMO_STARTS" | sed -n "$2p" | cut -d' ' -f2)
			echo $((ns / 1000000))
			return 0
		fi
		sleep 0.05
	done
	echo "demo: $1's workload did not start" >&2
	exit 1
}

say "== 1. node-a starts as primary: it takes the live lock and runs the workload"
start_node primary node-a
A=$NODE_PID
wait_live node-a
sleep 1.5
status

say "== 2. node-b starts as backup: it waits on the live lock, the workload is not started twice"
start_node backup node-b
B=$NODE_PID
sleep 2
status

say "== 3. SIGKILL node-a's manager (a crash): its workload dies with it, node-b takes over"
t0=$(now_ms)
kill -KILL "$A"
wait "$A" 2>/dev/null || true
t1=$(wait_started node-b 1)
wait_live node-b
echo "    failover: node-b's workload started $((t1 - t0)) ms after the SIGKILL"
echo "    (the live lock is free once the last process of node-a's workload is gone:"
echo "     the workload inherited the lock file, and died with its manager)"
sleep 2
status

say "== 4. node-a comes back with --allow-failback: node-b hands the workload back and waits again"
t0=$(now_ms)
start_node primary node-a --allow-failback
A=$NODE_PID
t1=$(wait_started node-a 2)
wait_live node-a
echo "    failback: node-a's workload started again $((t1 - t0)) ms after node-a was launched"
sleep 2
status

say "== 5. clean shutdown: SIGTERM to the live node-a pauses the group (node-b does not take over)"
kill -TERM "$A"
wait "$A" || { echo "demo: node-a's manager exited $?" >&2; exit 1; }
sleep 1.5
status
if ! state_is paused; then
	echo "demo: the group is not paused" >&2
	exit 1
fi
echo "    then SIGTERM to node-b, which was waiting: it leaves at once"
kill -TERM "$B"
wait "$B" || { echo "demo: node-b's manager exited $?" >&2; exit 1; }
PIDS=()
status

say "== done: the lock file and temporary directory are removed"
