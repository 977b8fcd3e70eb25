#!/usr/bin/env bash
# meson install into an empty DESTDIR, then look for every file an operator
# is promised, where the build says it goes.
# usage: test_install.sh MESON SOURCEDIR BUILDDIR SBINDIR UNITDIR COMPLETIONSDIR EXAMPLE CONFDIR [MANDIR]
# (all absolute, as installed; MANDIR only when the man pages were built)
# Then the same build configured with the other prefix (/usr, or meson's
# default /usr/local when this one is /usr) writes its own directory into
# the unit, the man pages and the example.
set -euo pipefail
here=$(dirname "$0")
# shellcheck source=tests/packaging/lib.sh
. "$here/lib.sh"
meson=$1 source=$2 build=$3 sbindir=$4 unitdir=$5 compdir=$6 example=$7 confdir=$8 mandir=${9:-}
DESTDIR=$(mktemp -d)
export DESTDIR
other=$(mktemp -d)
trap 'rm -rf "$DESTDIR" "$other"' EXIT

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

# Every file that names the configuration directory names this one, never
# another (issue 19: with the default prefix the unit read
# /usr/local/etc/understudy while the pages said /etc/understudy).
# Prints the files among $@ that name a configuration directory other than $1.
names_another_confdir() {
	local dir=$1 f
	shift
	for f; do
		if grep -oE '(/usr/local)?/etc/understudy/' "$f" | grep -vqx "$dir/"; then
			echo "$f"
		elif ! grep -qF "$dir/" "$f"; then
			echo "$f (names no configuration directory)"
		fi
	done
}
named=("$DESTDIR$unitdir/understudy@.service" "$DESTDIR$example")
[ -z "$mandir" ] || named+=("$DESTDIR$mandir/man8/understudy.8" "$DESTDIR$mandir/man5/understudy.conf.5")
bad=$(names_another_confdir "$confdir" "${named[@]}")
[ -z "$bad" ] || fail "these name another directory than $confdir: $bad"
# The pages name the example where it is. grep reads to the end: under
# pipefail, grep -q quitting at the first match makes sed die of SIGPIPE
# on a long page, and the pipe fail.
for page in ${mandir:+"$DESTDIR$mandir/man8/understudy.8" "$DESTDIR$mandir/man5/understudy.conf.5"}; do
	sed -e 's/\\f[BIRP]//g' -e 's/\\&//g' "$page" | grep -F "$example" >/dev/null || fail "$page does not name the example as installed, $example"
done

n=$(find "$DESTDIR" -type f | wc -l)
echo "installed $n files; ${#expected[@]} expected files and $confdir checked"

# The other prefix: configured afresh (the unit and the example are
# written then), and only the man pages built.
if [ "$confdir" = /etc/understudy ]; then
	prefix=/usr/local want=/usr/local/etc/understudy
else
	prefix=/usr want=/etc/understudy
fi
out=$("$meson" setup "$other/build" "$source" --prefix="$prefix" 2>&1) || fail "meson setup --prefix=$prefix: $out"
grep -qx "ExecStart=$prefix/sbin/understudy run --config $want/%i.conf" "$other/build/systemd/understudy@.service" ||
	fail "with --prefix=$prefix the unit's ExecStart is: $(grep ExecStart= "$other/build/systemd/understudy@.service")"
named=("$other/build/systemd/understudy@.service" "$other/build/doc/app.conf")
if [ -n "$mandir" ]; then
	out=$(ninja -C "$other/build" doc/understudy.8 doc/understudy.conf.5 2>&1) || fail "the man pages: $out"
	named+=("$other/build/doc/understudy.8" "$other/build/doc/understudy.conf.5")
fi
bad=$(names_another_confdir "$want" "${named[@]}")
[ -z "$bad" ] || fail "with --prefix=$prefix these name another directory than $want: $bad"
echo "with --prefix=$prefix: the unit, the example${mandir:+ and the man pages} name $want"
