# shellcheck shell=bash
# What understudy's scripts share: the one list of what they need from
# Debian, and the build steps. Sourced, never run, by scripts/demo.sh,
# scripts/test.sh, scripts/bench.sh, scripts/soak.sh and the test scripts
# that install what they need (tests/model/check.sh,
# tests/cluster/gluster-rig.sh, tests/cluster/ceph-rig.sh).
#
#   deps_ensure PART...       install what the parts need and is missing;
#                             on failure say which packages and why, 69
#   build_setup DIR [OPT...]  meson setup (or --reconfigure) DIR
#   build_ninja DIR [TARGET...]
#
# A step that fails prints the tail of its log and the command to run it
# again, and returns non-zero: the caller's `set -e` stops there with the
# reason on the screen, never a bare exit status.

# One line per need: PART CHECK PACKAGE. CHECK is cmd:NAME (a command on
# PATH), pc:NAME (a pkg-config module) or deb:NAME (an installed package).
# Parts: build (every build, the demo's too: meson.build needs all four
# libraries, criterion for the test suites), packaging, lint, model, fuzz,
# python, upgrade, metrics (Prometheus's promtool and server, which check
# the /metrics text and scrape it), cluster (GlusterFS), ceph (CephFS),
# systemd (the unit under a real systemd in a container, tests/systemd/),
# soak (the soak test and its picture), bench.
DEPS_LIST='
build     cmd:meson             meson
build     cmd:ninja             ninja-build
build     cmd:pkg-config        pkg-config
build     cmd:cc                gcc
build     pc:liburing           liburing-dev
build     pc:inih               libinih-dev
build     pc:libmicrohttpd      libmicrohttpd-dev
build     pc:criterion          libcriterion-dev
packaging cmd:systemd-analyze   systemd
packaging cmd:scdoc             scdoc
packaging cmd:man               man-db
lint      cmd:clang-format      clang-format
lint      cmd:clang-tidy        clang-tidy
lint      cmd:cppcheck          cppcheck
model     cmd:spin              spin
model     cmd:gcc               gcc
fuzz      cmd:clang             clang
fuzz      deb:libclang-rt-14-dev libclang-rt-14-dev
python    cmd:python3           python3
upgrade   cmd:git               git
metrics   cmd:promtool          prometheus
metrics   cmd:prometheus        prometheus
cluster   cmd:ip                iproute2
cluster   cmd:nsenter           util-linux
cluster   cmd:flock             util-linux
cluster   cmd:pgrep             procps
cluster   cmd:glusterd          glusterfs-server
cluster   cmd:mount.glusterfs   glusterfs-client
cluster   cmd:python3           python3
ceph      cmd:ip                iproute2
ceph      cmd:nsenter           util-linux
ceph      cmd:flock             util-linux
ceph      cmd:pgrep             procps
ceph      cmd:ceph-mon          ceph-mon
ceph      cmd:ceph-osd          ceph-osd
ceph      cmd:ceph-mds          ceph-mds
ceph      cmd:ceph-fuse         ceph-fuse
ceph      cmd:ceph              ceph-common
ceph      cmd:monmaptool        ceph-common
ceph      cmd:python3           python3
systemd   cmd:debootstrap       debootstrap
systemd   cmd:systemd-nspawn    systemd-container
systemd   cmd:nsenter           util-linux
soak      cmd:python3           python3
soak      cmd:gnuplot           gnuplot-nox
bench     cmd:strace            strace
bench     cmd:gnuplot           gnuplot-nox
bench     cmd:etcd              etcd-server
bench     cmd:etcdctl           etcd-client
bench     cmd:flock             util-linux
bench     cmd:python3           python3
'

deps_have() {
	case "$1" in
	cmd:*) command -v "${1#cmd:}" >/dev/null 2>&1 ;;
	pc:*) pkg-config --exists "${1#pc:}" 2>/dev/null ;;
	deb:*) dpkg-query -W -f='${Status}' "${1#deb:}" 2>/dev/null | grep -q 'install ok installed' ;;
	*) return 1 ;;
	esac
}

# The packages the named parts need and this machine lacks, one a line.
deps_missing() {
	local part check pkg
	while read -r part check pkg; do
		[ -n "$part" ] || continue
		case " $* " in *" $part "*) ;; *) continue ;; esac
		deps_have "$check" || echo "$pkg"
	done <<<"$DEPS_LIST" | sort -u
}

deps_ensure() {
	local missing sudo="" log rc=0 part check pkg still=()
	mapfile -t missing < <(deps_missing "$@")
	[ ${#missing[@]} -gt 0 ] || return 0
	echo "== installing from Debian's packages (for: $*): ${missing[*]}"
	if [ "$(id -u)" -ne 0 ]; then
		command -v sudo >/dev/null 2>&1 || {
			echo "error: ${missing[*]} missing, and not root and no sudo to install them." >&2
			echo "  As root: apt-get install ${missing[*]}" >&2
			return 77
		}
		sudo=sudo
	fi
	log=$(mktemp "${TMPDIR:-/tmp}/understudy-apt.XXXXXX")
	# update first: a fresh machine has no package lists at all.
	{ $sudo apt-get update -q && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"; } \
		>"$log" 2>&1 || rc=$?
	if [ $rc -ne 0 ]; then
		tail -n 15 "$log" | sed 's/^/  apt: /' >&2
		echo "error: could not install ${missing[*]} (apt-get exited $rc; its last lines are above, all of it in $log)." >&2
		echo "  Fix the cause (a package name, the network, apt's sources), or install them by hand, and run $0 again." >&2
		return 69
	fi
	rm -f "$log"
	# A package that installed but did not bring what it was listed for
	# is a wrong line in DEPS_LIST: say which.
	while read -r part check pkg; do
		[ -n "$part" ] || continue
		case " $* " in *" $part "*) ;; *) continue ;; esac
		deps_have "$check" || still+=("$pkg (for ${check#*:})")
	done <<<"$DEPS_LIST"
	if [ ${#still[@]} -gt 0 ]; then
		echo "error: installed, but still missing: ${still[*]} (scripts/lib.sh's DEPS_LIST is wrong)" >&2
		return 69
	fi
}

# Run a build step quietly; on failure show the end of its output and
# of meson's own log, and the command that reruns it.
build_step() {
	local what=$1 dir=$2 out rc=0
	shift 2
	out=$(mktemp "${TMPDIR:-/tmp}/understudy-build.XXXXXX")
	"$@" >"$out" 2>&1 || rc=$?
	if [ $rc -ne 0 ]; then
		echo "error: $what failed (exit $rc). The last lines:" >&2
		tail -n 25 "$out" | sed 's/^/  | /' >&2
		[ ! -f "$dir/meson-logs/meson-log.txt" ] || echo "  meson's full log: $dir/meson-logs/meson-log.txt" >&2
		echo "  To run it again: $*" >&2
		rm -f "$out"
		return $rc
	fi
	rm -f "$out"
}

build_setup() {
	local dir=$1
	shift
	# A directory left by a failed first configure has no build.ninja
	# and configures afresh like a new one.
	if [ -f "$dir/build.ninja" ]; then
		build_step "configuring $dir" "$dir" meson setup --reconfigure "$dir" "$@"
	else
		build_step "configuring $dir" "$dir" meson setup "$dir" "$@"
	fi
}

build_ninja() {
	local dir=$1
	shift
	build_step "building in $dir" "$dir" ninja -C "$dir" "$@"
}
