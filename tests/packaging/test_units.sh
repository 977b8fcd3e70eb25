#!/usr/bin/env bash
# systemd-analyze verify on the unit as installed, instantiated, with
# ExecStart pointing at the built binary; any message about our unit fails.
# Also holds the unit to the numbers its comments promise.
# usage: test_units.sh UNIT BINARY [MANPAGE...]
set -euo pipefail
here=$(dirname "$0")
# shellcheck source=tests/packaging/lib.sh
. "$here/lib.sh"
unit=$1 bin=$(realpath "$2")
shift 2
command -v systemd-analyze >/dev/null || {
	echo "SKIP: systemd-analyze missing (Debian package systemd)"
	exit 77
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

exec_re='^ExecStart=/[^ ]*/understudy run --config /[^ ]*/understudy/%i\.conf$'
grep -qE "$exec_re" "$unit" || fail "ExecStart does not run 'understudy run --config .../understudy/%i.conf'"

# With the man pages on MANPATH verify also checks Documentation=.
man=(--man=no)
if [ $# -gt 0 ]; then
	man=()
	for page in "$@"; do
		sect=${page##*.}
		mkdir -p "$tmp/man/man$sect"
		cp "$page" "$tmp/man/man$sect/"
	done
	export MANPATH="$tmp/man"
fi

# Prints every line systemd-analyze says about the unit file $1.
verify() {
	local out rc=0
	out=$(systemd-analyze verify "${man[@]}" "$1" 2>&1) || rc=$?
	grep -F "$(basename "$1")" <<<"$out" || true
	[ "$rc" -eq 0 ] || echo "$(basename "$1"): systemd-analyze exited $rc"
}

instantiate() {
	sed "s|^ExecStart=/[^ ]*/understudy |ExecStart=$bin |" "$1" >"$2"
}

instantiate "$unit" "$tmp/understudy@test.service"
complaints=$(verify "$tmp/understudy@test.service")
[ -z "$complaints" ] || fail "systemd-analyze verify: $complaints"

# The check itself must see a broken unit: a misspelt key and a bad time.
sed -e 's/^Type=/Tpye=/' -e 's/^WatchdogSec=.*/WatchdogSec=soon/' "$unit" >"$tmp/broken"
instantiate "$tmp/broken" "$tmp/understudy@broken.service"
n=$(verify "$tmp/understudy@broken.service" | wc -l)
[ "$n" -ge 2 ] || fail "verify missed the broken unit's errors (saw $n lines)"

# Values the operating model depends on.
value() { sed -n "s/^$1=//p" "$unit"; }
seconds() {
	case $1 in
	*min) echo $((${1%min} * 60)) ;;
	*ms) echo $((${1%ms} / 1000)) ;;
	*s) echo "${1%s}" ;;
	*) echo "$1" ;;
	esac
}
[ "$(value Type)" = notify ] || fail "Type is not notify"
[ "$(value NotifyAccess)" = main ] || fail "NotifyAccess is not main"
[ "$(value KillMode)" = mixed ] || fail "KillMode is not mixed"
[ "$(value Restart)" = on-failure ] || fail "Restart is not on-failure"
wd=$(seconds "$(value WatchdogSec)") stop=$(seconds "$(value TimeoutStopSec)")
fence_default=10 stop_default=10
[ "$wd" -ge "$fence_default" ] || fail "WatchdogSec=${wd}s is shorter than the default fence timeout"
[ "$stop" -ge $((stop_default * 2)) ] || fail "TimeoutStopSec=${stop}s leaves no room over the default stop timeout"
# A system call filter only as a deny list, and none of its sets may hold
# the calls the manager's io_uring needs: an allow list could leave them out.
filter=$(value SystemCallFilter)
if [ -n "$filter" ]; then
	case $filter in "~"*) ;; *) fail "SystemCallFilter= is an allow list: it can block io_uring" ;; esac
	for set in ${filter#"~"}; do # one word per set
		calls=$(systemd-analyze syscall-filter "$set" 2>/dev/null) || fail "SystemCallFilter=: unknown set $set"
		! grep -qw 'io_uring_[a-z]*' <<<"$calls" || fail "SystemCallFilter=: $set holds io_uring calls"
	done
	# The check itself must see a set that holds them (@aio).
	systemd-analyze syscall-filter @aio 2>/dev/null | grep -w 'io_uring_[a-z]*' >/dev/null ||
		fail "the io_uring check found no io_uring call in @aio"
fi
[ "$(value SystemCallErrorNumber)" = EPERM ] || [ -z "$filter" ] ||
	fail "SystemCallErrorNumber is not EPERM: a denied call would kill the workload"
# The manager switches to the workload's user and signals its processes.
for cap in CAP_KILL CAP_SETUID CAP_SETGID; do
	! grep -q "^CapabilityBoundingSet=.*\b$cap\b" "$unit" || fail "CapabilityBoundingSet= names $cap, which the manager needs"
done
# shellcheck disable=SC2016 # $MAINPID is systemd's, not the shell's
[ "$(value ExecReload)" = '/bin/kill -HUP $MAINPID' ] || fail "ExecReload does not send SIGHUP to the manager"
[ "$(value ProtectSystem)" = full ] || fail "ProtectSystem is not full"
echo "unit verified: WatchdogSec=${wd}s TimeoutStopSec=${stop}s, broken copy drew $n complaints"
