#!/usr/bin/env bash
# Build understudy and run every test: a normal build with warnings as
# errors, then the same tests under AddressSanitizer and UBSan, then the
# model checker on the protocol's model (UNDERSTUDY_LONG=1: larger bounds).
# Installs what it needs from Debian's packages when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# apt_install WHAT PACKAGE...: install Debian packages (as root, or with sudo).
apt_install() {
	local what=$1 sudo=""
	shift
	echo "== installing $what"
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -qq
	$sudo apt-get install -y -qq "$@" >/dev/null
}

need=()
for tool in meson ninja pkg-config cc; do
	command -v "$tool" >/dev/null 2>&1 || need+=("$tool")
done
for pc in liburing inih libmicrohttpd criterion; do
	pkg-config --exists "$pc" 2>/dev/null || need+=("$pc")
done
if [ ${#need[@]} -gt 0 ]; then
	apt_install "build dependencies (missing: ${need[*]})" meson ninja-build pkg-config gcc \
		liburing-dev libinih-dev libmicrohttpd-dev libcriterion-dev
fi
# The packaging suite: systemd-analyze verifies the unit, scdoc builds the
# man pages (the build skips them without it), man renders them.
pkgs=()
command -v systemd-analyze >/dev/null 2>&1 || pkgs+=(systemd)
command -v scdoc >/dev/null 2>&1 || pkgs+=(scdoc)
command -v man >/dev/null 2>&1 || pkgs+=(man-db)
# The linters: the code is held to clang-format, clang-tidy and cppcheck.
command -v clang-format >/dev/null 2>&1 || pkgs+=(clang-format)
command -v clang-tidy >/dev/null 2>&1 || pkgs+=(clang-tidy)
command -v cppcheck >/dev/null 2>&1 || pkgs+=(cppcheck)
[ ${#pkgs[@]} -eq 0 ] || apt_install "packaging tools and linters: ${pkgs[*]}" "${pkgs[@]}"

run_suite() {
	local dir=$1
	shift
	echo "== $dir: configure ($*)"
	if [ -d "$dir" ]; then
		meson setup --reconfigure "$dir" "$@" >/dev/null
	else
		meson setup "$dir" "$@" >/dev/null
	fi
	echo "== $dir: build"
	ninja -C "$dir"
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
fuzz_pkgs=()
command -v clang >/dev/null 2>&1 || fuzz_pkgs+=(clang)
dpkg -s libclang-rt-14-dev >/dev/null 2>&1 || fuzz_pkgs+=(libclang-rt-14-dev)
[ ${#fuzz_pkgs[@]} -eq 0 ] || apt_install "fuzzing: ${fuzz_pkgs[*]}" "${fuzz_pkgs[@]}"
echo "== build-fuzz: configure (clang)"
if [ -d build-fuzz ]; then
	CC=clang meson setup --reconfigure build-fuzz -Dwerror=true >/dev/null
else
	CC=clang meson setup build-fuzz -Dwerror=true >/dev/null
fi
echo "== build-fuzz: build the fuzz targets"
ninja -C build-fuzz tests/fuzz/fuzz_lockfile tests/fuzz/fuzz_config
echo "== build-fuzz: fuzz, ${UNDERSTUDY_FUZZ_SECONDS:-20} s per target"
meson test -C build-fuzz --suite fuzz --no-rebuild --print-errorlogs --num-processes 1

# Chaos: three nodes on one lock file, killed, frozen, stopped and asked to
# hand over at random (tests/chaos/). UNDERSTUDY_CHAOS_SECONDS runs it longer.
chaos_s=${UNDERSTUDY_CHAOS_SECONDS:-60}
if ! command -v python3 >/dev/null 2>&1; then
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3 >/dev/null
fi
# Rolling upgrades: nodes of the format 1.0 build (from git history) and of
# this one in one group. Says SKIPPED when the clone has no history.
echo "== upgrade: format 1.0 and 1.2 nodes in one group"
BUILD="$PWD/build" tests/upgrade/test_mixed.sh
echo "== chaos: $chaos_s s, 3 nodes, one lock file"
BUILD="$PWD/build" tests/chaos/chaos.sh --duration "$chaos_s"
# Across hosts: network namespaces sharing a real GlusterFS volume, with a
# real partition (tests/cluster/). Only where the machine allows it.
cluster_skip=""
[ "$(id -u)" -eq 0 ] || cluster_skip="not root"
[ -n "$cluster_skip" ] || [ -c /dev/fuse ] || cluster_skip="no /dev/fuse"
if [ -z "$cluster_skip" ] && ! { ip netns add us-probe && ip netns del us-probe; } 2>/dev/null; then
	cluster_skip="network namespaces unavailable"
fi
if [ -z "$cluster_skip" ]; then
	command -v python3 >/dev/null 2>&1 || apt-get install -y -qq python3 >/dev/null
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
echo "== all tests passed"
