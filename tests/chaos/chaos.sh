#!/usr/bin/env bash
# chaos.sh: run the chaos test (tests/chaos/chaos.py) against a build.
#
# usage: tests/chaos/chaos.sh [--gluster | --ceph] [--duration SECONDS] [--seed N] [-v]
#
# Locally: three nodes on one lock file in a temporary directory.
# --gluster: the nodes run on the GlusterFS rig's hosts a and b
# (tests/cluster/gluster-rig.sh), with partitions of a host from the storage
# added at random. Needs root. The rig is one per machine, so this script
# holds /tmp/us-rig.lock while it uses it: do not wrap it in that flock again.
# --ceph: the same on the CephFS rig (tests/cluster/ceph-rig.sh), holding
# /tmp/uc-rig.lock; its cuts (1 to 10 s) are shorter than the MDS's 30 s
# eviction, so no host needs remounting.
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

rig=""
args=()
for a in "$@"; do
	case "$a" in --gluster) rig=gluster ;; --ceph) rig=ceph ;; esac
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

if [ -z "$rig" ]; then
	exec python3 "$HERE/chaos.py" --understudy "$U" --witness "$W" "${args[@]}"
fi

[ "$(id -u)" = 0 ] || {
	echo "chaos: --$rig needs root" >&2
	exit 77
}
if [ "$rig" = gluster ]; then
	RIG_SH=$ROOT/tests/cluster/gluster-rig.sh
	RIG=/tmp/us-rig
else
	RIG_SH=$ROOT/tests/cluster/ceph-rig.sh
	RIG=/tmp/uc-rig
fi
exec 9>"$RIG.lock"
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
rm -f "$RIG/a/mnt/chaos.lock"
rc=0
python3 "$HERE/chaos.py" --understudy "$U" --witness "$W" "${args[@]}" || rc=$?
exit $rc
