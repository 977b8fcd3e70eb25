#!/usr/bin/env bash
# chaos.sh: run the chaos test (tests/chaos/chaos.py) against a build.
#
# usage: tests/chaos/chaos.sh [--gluster] [--duration SECONDS] [--seed N] [-v]
#
# Locally: three nodes on one lock file in a temporary directory.
# --gluster: the nodes run on the GlusterFS rig's hosts a and b
# (tests/cluster/gluster-rig.sh), with partitions of a host from the storage
# added at random. Needs root. The rig is one per machine, so this script
# holds /tmp/us-rig.lock while it uses it: do not wrap it in that flock again.
#
# BUILD (default: build/ at the top of the checkout) is built first when
# understudy or the witness is missing. The duration defaults to
# UNDERSTUDY_CHAOS_SECONDS, or 60.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
U=$BUILD/understudy
W=$BUILD/tests/witness

gluster=0
args=()
for a in "$@"; do
	if [ "$a" = --gluster ]; then gluster=1; fi
	args+=("$a")
done
has_duration=0
for a in "$@"; do
	case "$a" in --duration | --duration=*) has_duration=1 ;; esac
done
[ $has_duration = 1 ] || args+=(--duration "${UNDERSTUDY_CHAOS_SECONDS:-60}")

if [ ! -x "$U" ] || [ ! -x "$W" ]; then
	[ -d "$BUILD" ] || meson setup "$BUILD" -Dwerror=true >/dev/null
	ninja -C "$BUILD" >/dev/null
fi
command -v python3 >/dev/null 2>&1 || {
	echo "chaos: python3 is missing (scripts/test.sh installs it)" >&2
	exit 1
}

if [ $gluster = 0 ]; then
	exec python3 "$HERE/chaos.py" --understudy "$U" --witness "$W" "${args[@]}"
fi

[ "$(id -u)" = 0 ] || {
	echo "chaos: --gluster needs root" >&2
	exit 77
}
RIG_SH=$ROOT/tests/cluster/gluster-rig.sh
exec 9>/tmp/us-rig.lock
flock 9
# shellcheck disable=SC2317 # called by the trap
cleanup() {
	local rc=$?
	"$RIG_SH" down >/dev/null 2>&1 || "$RIG_SH" down
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
"$RIG_SH" up
rm -f /tmp/us-rig/a/mnt/chaos.lock
rc=0
python3 "$HERE/chaos.py" --understudy "$U" --witness "$W" "${args[@]}" || rc=$?
exit $rc
