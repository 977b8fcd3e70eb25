#!/usr/bin/env bash
# Benchmarks: understudy against flock(1) and `etcdctl lock` in one run
# (tests/bench/). Prints a table; a full run writes doc/benchmarks/README.md
# (its generated section) and the plots beside it.
#
# usage: scripts/bench.sh [--quick | --smoke] [--only PART,...] [--out DIR] [--keep]
#   (none)    the full run, about 15 minutes; writes doc/benchmarks/
#   --quick   few trials and short windows, to check the harness (a minute or
#             two plus the GlusterFS and CephFS rigs); writes to a temporary
#             directory
#   --smoke   seconds: every part once, no GlusterFS or CephFS, no figures worth
#             quoting
#   --only    some of: failover,etcd,idle,handover,scale,groups,gluster,ceph
#             (writes to a temporary directory unless --out is given)
#   --out DIR where README.md, results.json and the PNGs go
#   --keep    keep the work directory (logs of every manager)
#
# Installs what is missing from Debian's packages (build tools, strace,
# gnuplot-nox, etcd-server, etcd-client) and builds a release build in
# build-bench/. The GlusterFS part needs root and /dev/fuse, holds
# /tmp/us-rig.lock while it uses tests/cluster/gluster-rig.sh, and brings the
# rig down afterwards; the CephFS part likewise with /tmp/uc-rig.lock and
# tests/cluster/ceph-rig.sh (which installs Ceph's packages it needs).
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

# What it needs from Debian (build tools, strace, gnuplot-nox, etcd) is
# listed in scripts/lib.sh with every script's needs.
. scripts/lib.sh
deps_ensure build bench

# A release build of its own, so that the figures are not a debug build's.
echo "== build-bench: release build"
build_setup build-bench --buildtype=release -Dwerror=true
build_ninja build-bench understudy tests/bench/stamp

echo "== benchmarks ($mode${only:+, only $only}) -> $out"
args=(--understudy build-bench/understudy --stamp build-bench/tests/bench/stamp
	--rig tests/cluster/gluster-rig.sh --out "$out" --mode "$mode" "${keep[@]}")
[ -z "$only" ] || args+=(--only "$only")
exec python3 tests/bench/bench.py "${args[@]}"
