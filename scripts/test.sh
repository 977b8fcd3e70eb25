#!/usr/bin/env bash
# Build understudy and run every test: a normal build with warnings as
# errors, then the same tests under AddressSanitizer and UBSan, then the
# model checker on the protocol's model (UNDERSTUDY_LONG=1: larger bounds).
# Installs what it needs from Debian's packages when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/lib.sh
# Everything every part below needs, installed up front where missing, so
# that no part drops out of a newcomer's run for want of a package. The
# cluster part (GlusterFS, iproute2) only where it can run: as root.
parts=(build packaging lint model fuzz python upgrade metrics soak)
[ "$(id -u)" -ne 0 ] || parts+=(cluster systemd)
deps_ensure "${parts[@]}"

run_suite() {
	local dir=$1
	shift
	echo "== $dir: configure ($*)"
	build_setup "$dir" "$@"
	echo "== $dir: build"
	build_ninja "$dir"
	echo "== $dir: test"
	meson test -C "$dir" --print-errorlogs --num-processes 1
}

run_suite build -Dwerror=true
echo "== lint: clang-format, clang-tidy (.clang-tidy), cppcheck"
clang-format --dry-run --Werror src/*.c include/understudy/*.h tests/unit/*.[ch] tests/integration/*.c tests/bench/*.c
tidy=$(clang-tidy -p build --quiet src/*.c 2>&1 | grep -E "warning:|error:" || true)
[ -z "$tidy" ] || { echo "$tidy"; echo "== lint: clang-tidy is not clean"; exit 1; }
cppcheck --quiet --error-exitcode=1 --enable=warning,portability --std=c11 -Iinclude -D_GNU_SOURCE src/
# detect_leaks: the tests fork lock holders that are SIGKILLed on purpose.
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	run_suite build-sanitize -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false
# The protocol itself, every interleaving within bounds: spin on the model
# in tests/model/ (UNDERSTUDY_LONG=1 for the larger bounds).
bash tests/model/check.sh

# Fuzzing (tests/fuzz/): libFuzzer comes with clang, on Debian in
# libclang-rt-14-dev. Each target runs UNDERSTUDY_FUZZ_SECONDS (20) on the
# seed corpus; a crash fails the suite and its input stays in
# build-fuzz/tests/fuzz/artifacts-*.
echo "== build-fuzz: configure (clang)"
CC=clang build_setup build-fuzz -Dwerror=true
echo "== build-fuzz: build the fuzz targets"
build_ninja build-fuzz tests/fuzz/fuzz_lockfile tests/fuzz/fuzz_config
echo "== build-fuzz: fuzz, ${UNDERSTUDY_FUZZ_SECONDS:-20} s per target"
meson test -C build-fuzz --suite fuzz --no-rebuild --print-errorlogs --num-processes 1

# Chaos: three nodes on one lock file, killed, frozen, stopped and asked to
# hand over at random (tests/chaos/). UNDERSTUDY_CHAOS_SECONDS runs it longer.
chaos_s=${UNDERSTUDY_CHAOS_SECONDS:-60}
# Rolling upgrades: nodes of the format 1.0 build (from git history) and of
# this one in one group. Says SKIPPED when the clone has no history.
echo "== upgrade: format 1.0 and 1.2 nodes in one group"
BUILD="$PWD/build" tests/upgrade/test_mixed.sh
# The unit under a real systemd: a Debian 12 root booted with systemd-nspawn,
# start, status, reload, kill, the watchdog, stop and journal matches
# (tests/systemd/). About a minute; debootstrap once more when its package
# list changes. Says SKIPPED, and why, where no container boots.
if [ "$(id -u)" -eq 0 ]; then
	echo "== systemd: understudy@.service under systemd in a container"
	nspawn_out=$(mktemp "${TMPDIR:-/tmp}/understudy-nspawn.XXXXXX")
	nspawn_rc=0
	bash tests/systemd/test_nspawn.sh build 2>&1 | tee "$nspawn_out" || nspawn_rc=$?
	nspawn_skip=$(sed -n 's/^SKIP: //p' "$nspawn_out")
	rm -f "$nspawn_out"
	if [ "$nspawn_rc" -eq 77 ]; then
		echo "== systemd: SKIPPED (${nspawn_skip:-no reason given}): the unit did not run under systemd"
	elif [ "$nspawn_rc" -ne 0 ]; then
		exit "$nspawn_rc"
	fi
else
	echo "== systemd: SKIPPED (not root: booting a container needs root): the unit did not run under systemd"
fi
echo "== chaos: $chaos_s s, 3 nodes, one lock file"
BUILD="$PWD/build" tests/chaos/chaos.sh --duration "$chaos_s"
# Soak: eight groups of three and four nodes at once, through every fault the
# chaos test has and more (held storage, the lock file deleted or replaced,
# crashing and slow workloads), each gap held against its cause's bound
# (doc/soak.md). A short run here; the targets (30 and 60 min) are
# scripts/soak.sh's own. UNDERSTUDY_SOAK_SECONDS runs it longer.
soak_s=${UNDERSTUDY_SOAK_SECONDS:-90}
echo "== soak: $soak_s s, 8 groups of 3 and 4 nodes, local file system"
BUILD="$PWD/build" scripts/soak.sh --duration "$soak_s"
# Across hosts: network namespaces sharing a real GlusterFS volume, with a
# real partition (tests/cluster/). Only where the machine allows it.
cluster_skip=""
[ "$(id -u)" -eq 0 ] || cluster_skip="not root: the rig needs network namespaces, mounts and FUSE"
[ -n "$cluster_skip" ] || [ -c /dev/fuse ] || cluster_skip="no /dev/fuse: FUSE mounts (GlusterFS's client) are impossible here"
# What the rig does with namespaces: make one, enter it, drop it.
if [ -z "$cluster_skip" ] && ! probe=$({ ip netns add us-probe && nsenter --net=/run/netns/us-probe -- ip link set lo up; } 2>&1); then
	cluster_skip="network namespaces unavailable: ${probe:-ip netns add or nsenter failed}"
fi
ip netns del us-probe 2>/dev/null || true
if [ -z "$cluster_skip" ]; then
	echo "== cluster: GlusterFS across network namespaces"
	# One rig per machine (fixed namespace names): whoever uses it (these
	# tests, the benchmarks, the chaos run) holds this lock meanwhile.
	BUILD="$PWD/build" flock /tmp/us-rig.lock bash tests/cluster/test_gluster.sh
	# The chaos test again, on the rig with partitions; it takes the rig's
	# lock itself. UNDERSTUDY_CHAOS_GLUSTER_SECONDS runs it longer.
	chaos_g=${UNDERSTUDY_CHAOS_GLUSTER_SECONDS:-60}
	echo "== chaos: $chaos_g s, 3 nodes on GlusterFS hosts a and b, with partitions"
	BUILD="$PWD/build" tests/chaos/chaos.sh --gluster --duration "$chaos_g"
else
	echo "== cluster: SKIPPED ($cluster_skip): the multi-host GlusterFS tests did not run"
fi
# The same scenarios on CephFS (tests/cluster/ceph-rig.sh: a monitor, an
# OSD in memory and an MDS in one namespace, two ceph-fuse hosts), with
# the MDS's real eviction of a cut-off host at its shortest timeouts
# (30 s): about two minutes in all, rig included, and a minute of chaos.
ceph_skip=""
[ "$(id -u)" -eq 0 ] || ceph_skip="not root: the rig needs network namespaces, mounts and FUSE"
[ -n "$ceph_skip" ] || [ -c /dev/fuse ] || ceph_skip="no /dev/fuse: ceph-fuse cannot mount"
if [ -z "$ceph_skip" ] && ! probe=$(ip netns add uc-probe 2>&1 && ip netns del uc-probe 2>&1); then
	ceph_skip="network namespaces unavailable: ip netns add said: ${probe:-nothing}"
fi
mem=$(awk '/^MemAvailable:/{print int($2 / 1024)}' /proc/meminfo)
[ -n "$ceph_skip" ] || [ "${mem:-0}" -ge 512 ] ||
	ceph_skip="${mem:-?} MiB of memory available: the rig's daemons and file system in memory want 512 MiB"
[ -n "$ceph_skip" ] || deps_ensure ceph || ceph_skip="Ceph's packages (scripts/lib.sh, part ceph) could not be installed"
if [ -z "$ceph_skip" ]; then
	echo "== cluster: CephFS across network namespaces"
	# Its own rig (namespaces uc-*, /tmp/uc-rig) and its own lock.
	BUILD="$PWD/build" flock /tmp/uc-rig.lock bash tests/cluster/test_ceph.sh
	# The chaos test on it, with cuts shorter than an eviction; it takes
	# the rig's lock itself. UNDERSTUDY_CHAOS_CEPH_SECONDS runs it longer.
	chaos_c=${UNDERSTUDY_CHAOS_CEPH_SECONDS:-60}
	echo "== chaos: $chaos_c s, 3 nodes on CephFS hosts a and b, with partitions"
	BUILD="$PWD/build" tests/chaos/chaos.sh --ceph --duration "$chaos_c"
else
	echo "== cluster: CephFS SKIPPED ($ceph_skip): the multi-host CephFS tests did not run"
fi
echo "== all tests passed"
