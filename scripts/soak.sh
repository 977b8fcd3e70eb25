#!/usr/bin/env bash
# soak.sh: many understudy groups at once, driven at random for long
# (tests/soak/soak.py, on the chaos test's group; doc/soak.md).
#
# usage: scripts/soak.sh [--duration DUR] [--gluster | --ceph] [--seed N]
#                        [--groups N] [--interval LO HI] [--without KIND]...
#                        [--png FILE] [-v]
#
# DUR is seconds or a number with s, m or h: 30m by default locally (the
# target: 10,000 workload starts), 60m with --gluster. The run's logs go
# to a new /tmp/us-soak.* directory, named at the start; its picture to
# soak.png there (or --png). The last line is
# "N transitions, M overlaps, availability A%"; the exit status is 1 on an
# overlap or a gap nothing explains.
#
# --gluster (--ceph): the nodes run on the rig's hosts a and b
# (tests/cluster/gluster-rig.sh, ceph-rig.sh), with partitions of a host.
# Needs root; holds the rig's lock (/tmp/us-rig.lock, /tmp/uc-rig.lock)
# while it uses it.
#
# BUILD (default: build/ at the top of the checkout) is built first when
# understudy or the witness is missing.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
U=$BUILD/understudy
W=$BUILD/tests/witness
. "$ROOT/scripts/lib.sh"

rig=""
duration=""
args=()
while [ $# -gt 0 ]; do
	case "$1" in
	--gluster) rig=gluster ;;
	--ceph) rig=ceph ;;
	--duration)
		[ $# -ge 2 ] || { echo "soak: --duration needs a value" >&2; exit 64; }
		duration=$2
		shift
		;;
	--duration=*) duration=${1#--duration=} ;;
	-h | --help)
		sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*) args+=("$1") ;;
	esac
	shift
done
[ -n "$duration" ] || duration=$([ -n "$rig" ] && echo 60m || echo 30m)
if [[ ! "$duration" =~ ^([0-9]+)(s|m|h)?$ ]] || [ "${BASH_REMATCH[1]}" -eq 0 ]; then
	echo "soak: --duration '$duration' is not a duration (whole seconds, or a number with s, m or h)" >&2
	exit 64
fi
n=${BASH_REMATCH[1]} unit=${BASH_REMATCH[2]}
case "$unit" in
h) secs=$((n * 3600)) ;;
m) secs=$((n * 60)) ;;
*) secs=$n ;;
esac
[ -z "$rig" ] || args+=("--$rig")

deps_ensure soak
if [ ! -x "$U" ] || [ ! -x "$W" ]; then
	[ -f "$BUILD/build.ninja" ] || build_setup "$BUILD" -Dwerror=true
	build_ninja "$BUILD"
fi

if [ -z "$rig" ]; then
	exec python3 "$ROOT/tests/soak/soak.py" --understudy "$U" --witness "$W" --duration "$secs" "${args[@]}"
fi

[ "$(id -u)" = 0 ] || {
	echo "soak: --$rig needs root" >&2
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
rm -f "$RIG"/a/mnt/soak-g*.lock
rc=0
python3 "$ROOT/tests/soak/soak.py" --understudy "$U" --witness "$W" --duration "$secs" "${args[@]}" || rc=$?
exit $rc
