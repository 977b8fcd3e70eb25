#!/usr/bin/env bash
# Benchmarks: understudy against flock(1) and `etcdctl lock` in one run
# (tests/bench/). Prints a table; a full run writes doc/benchmarks/README.md
# (its generated section) and the plots beside it.
#
# usage: scripts/bench.sh [--quick | --smoke] [--only PART,...] [--out DIR] [--keep]
#   (none)    the full run, about 15 minutes; writes doc/benchmarks/
#   --quick   few trials and short windows, to check the harness (a minute or
#             two plus the GlusterFS rig); writes to a temporary directory
#   --smoke   seconds: every part once, no GlusterFS, no figures worth quoting
#   --only    some of: failover,etcd,idle,handover,scale,groups,gluster
#             (writes to a temporary directory unless --out is given)
#   --out DIR where README.md, results.json and the PNGs go
#   --keep    keep the work directory (logs of every manager)
#
# Installs what is missing from Debian's packages (build tools, strace,
# gnuplot-nox, etcd-server, etcd-client) and builds a release build in
# build-bench/. The GlusterFS part needs root and /dev/fuse, holds
# /tmp/us-rig.lock while it uses tests/cluster/gluster-rig.sh, and brings the
# rig down afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=full
only=""
out=""
keep=()
while [ $# -gt 0 ]; do
	case "$1" in
	--quick) mode=quick ;;
	--smoke) mode=smoke ;;
	--only)
		only=${2:?--only needs a list}
		shift
		;;
	--out)
		out=${2:?--out needs a directory}
		shift
		;;
	--keep) keep=(--keep) ;;
	-h | --help)
		sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "bench.sh: unknown option $1" >&2
		exit 64
		;;
	esac
	shift
done
if [ -z "$out" ]; then
	if [ "$mode" = full ] && [ -z "$only" ]; then
		out=doc/benchmarks
	else
		out=${TMPDIR:-/tmp}/understudy-bench-$mode
	fi
fi

# What each tool and library comes in, on Debian: only the missing ones
# are installed.
declare -A deb=([meson]=meson [ninja]=ninja-build [pkg-config]=pkg-config [cc]=gcc
	[python3]=python3 [strace]=strace [gnuplot]=gnuplot-nox [etcd]=etcd-server
	[etcdctl]=etcd-client [flock]=util-linux [liburing]=liburing-dev [inih]=libinih-dev
	[criterion]=libcriterion-dev)
missing=()
for what in "${!deb[@]}"; do
	case "$what" in
	liburing | inih | criterion) pkg-config --exists "$what" 2>/dev/null && continue ;;
	*) command -v "$what" >/dev/null 2>&1 && continue ;;
	esac
	missing+=("${deb[$what]}")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "== installing ${missing[*]}"
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	$sudo apt-get update -qq
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# A release build of its own, so that the figures are not a debug build's.
echo "== build-bench: release build"
if [ -d build-bench ]; then
	meson setup --reconfigure build-bench --buildtype=release -Dwerror=true >/dev/null
else
	meson setup build-bench --buildtype=release -Dwerror=true >/dev/null
fi
ninja -C build-bench understudy tests/bench/stamp >/dev/null

echo "== benchmarks ($mode${only:+, only $only}) -> $out"
args=(--understudy build-bench/understudy --stamp build-bench/tests/bench/stamp
	--rig tests/cluster/gluster-rig.sh --out "$out" --mode "$mode" "${keep[@]}")
[ -z "$only" ] || args+=(--only "$only")
exec python3 tests/bench/bench.py "${args[@]}"
