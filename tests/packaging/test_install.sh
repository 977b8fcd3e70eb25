#!/usr/bin/env bash
# meson install into an empty DESTDIR, then look for every file an operator
# is promised, where the build says it goes.
# usage: test_install.sh MESON BUILDDIR SBINDIR UNITDIR COMPLETIONSDIR EXAMPLE CONFDIR [MANDIR]
# (all absolute, as installed; MANDIR only when the man pages were built)
set -euo pipefail
here=$(dirname "$0")
# shellcheck source=tests/packaging/lib.sh
. "$here/lib.sh"
meson=$1 build=$2 sbindir=$3 unitdir=$4 compdir=$5 example=$6 confdir=$7 mandir=${8:-}
DESTDIR=$(mktemp -d)
export DESTDIR
trap 'rm -rf "$DESTDIR"' EXIT

# --no-rebuild: the test runs inside this build; everything is built.
out=$("$meson" install -C "$build" --no-rebuild 2>&1) || fail "meson install: $out"

expected=("$sbindir/understudy" "$unitdir/understudy@.service"
	"$compdir/understudy" "$example")
[ -z "$mandir" ] || expected+=("$mandir/man8/understudy.8" "$mandir/man5/understudy.conf.5")
for f in "${expected[@]}"; do
	[ -s "$DESTDIR$f" ] || fail "$f was not installed (or is empty)"
done
[ -x "$DESTDIR$sbindir/understudy" ] || fail "the binary is not executable"
[ -d "$DESTDIR$confdir" ] || fail "$confdir was not created"
[ -z "$(ls -A "$DESTDIR$confdir")" ] || fail "$confdir is not empty"
"$DESTDIR$sbindir/understudy" --version >/dev/null || fail "the installed binary does not run"

# The installed unit runs the installed binary on a file in the installed
# configuration directory.
grep -qx "ExecStart=$sbindir/understudy run --config $confdir/%i.conf" "$DESTDIR$unitdir/understudy@.service" ||
	fail "the installed unit's ExecStart does not match $sbindir and $confdir"
# The example names every section of the configuration.
for s in group node workload fencing hooks; do
	grep -qx "\[$s\]" "$DESTDIR$example" || fail "the example has no [$s] section"
done

n=$(find "$DESTDIR" -type f | wc -l)
echo "installed $n files; ${#expected[@]} expected files and $confdir checked"
