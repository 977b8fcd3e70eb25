#!/usr/bin/env bash
# The man pages document what the binary offers: every long option that a
# command's --help prints appears in understudy.8, every run option has its
# key in understudy.conf.5, understudy.8's TIMELINE lists what run --check
# derives, and man renders both without a warning.
# usage: test_manpages.sh BINARY [understudy.8 understudy.conf.5]
set -euo pipefail
here=$(dirname "$0")
# shellcheck source=tests/packaging/lib.sh
. "$here/lib.sh"
bin=$1
if [ $# -lt 3 ]; then
	echo "SKIP: scdoc missing (Debian package scdoc): no man pages were built"
	exit 77
fi
page8=$2 page5=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# roff as plain text: no font changes, no escaped hyphens or zero-width marks.
plain() { sed -e 's/\\f[BIRP]//g' -e 's/\\-/-/g' -e 's/\\&//g' "$1"; }

# Prints each option of the binary that the page $1 does not mention.
undocumented_options() {
	local text cmd opt
	text=$(plain "$1")
	for cmd in $(commands "$bin"); do
		while IFS= read -r opt; do
			grep -qE -- "(^|[^a-z-])$opt([^a-z-]|$)" <<<"$text" || echo "$cmd $opt"
		done < <(help_options "$bin" "$cmd")
	done
}

# Prints each run option without its key in the page $1. The command line
# and the file name things alike, except --env (key environment); --config
# and --check concern the file itself.
missing_keys() {
	local text opt key
	text=$(plain "$1")
	while IFS= read -r opt; do
		key=${opt#--}
		case $key in
		config | check) continue ;;
		env) key=environment ;;
		esac
		grep -qE "^$key = " <<<"$text" || echo "$key"
	done < <(help_options "$bin" run)
}

missing=$(undocumented_options "$page8")
[ -z "$missing" ] || fail "understudy.8 lacks: $(tr '\n' ' ' <<<"$missing")"
missing=$(missing_keys "$page5")
[ -z "$missing" ] || fail "understudy.conf.5 lacks keys: $(tr '\n' ' ' <<<"$missing")"

# The checks must catch a page that lost an option.
grep -v -- '--fence-timeout' "$page8" >"$tmp/cut.8"
[ "$(undocumented_options "$tmp/cut.8")" = "run --fence-timeout" ] ||
	fail "removing --fence-timeout from the page went unnoticed"
grep -v '^\\fBfence-timeout\\fR = ' "$page5" >"$tmp/cut.5"
[ "$(missing_keys "$tmp/cut.5")" = "fence-timeout" ] ||
	fail "removing the fence-timeout key from the page went unnoticed"

# The page's TIMELINE lists what `run --check` derives at the defaults: the
# binary's own lines, so that the page never keeps a formula of its own
# (src/timeline.c is the one derivation).
derived_page() { plain "$1" | sed 's/[[:space:]]*$//' | grep '^derived\.' || true; }
mkdir -m 0700 "$tmp/g"
derived_bin=$("$bin" run --lock "$tmp/g/g.lock" --role primary --name n --check -- /bin/true |
	sed 's/[[:space:]]*$//' | grep '^derived\.')
[ -n "$derived_bin" ] || fail "run --check printed no derived figures"
[ "$(derived_page "$page8")" = "$derived_bin" ] ||
	fail "understudy.8's TIMELINE differs from run --check at the defaults:
$(diff <(derived_page "$page8") <(echo "$derived_bin") || true)"
sed 's/^derived\\&\.fence = 10s$/derived\\\&.fence = 9s/' "$page8" >"$tmp/wrong.8"
[ "$(derived_page "$tmp/wrong.8")" != "$derived_bin" ] ||
	fail "a wrong figure in the TIMELINE went unnoticed"

# The sections every page of its kind has.
for s in NAME SYNOPSIS DESCRIPTION COMMANDS 'EXIT STATUS' SIGNALS ENVIRONMENT FILES EXAMPLES TIMELINE 'SEE ALSO'; do
	grep -qx "\.SH $s" "$page8" || fail "understudy.8 has no $s section"
done
text8=$(plain "$page8")
help=$("$bin" --help)
for code in 0 1 64 65 66 69 70 71 73 74 75 77 78; do
	grep -qx "$code" <<<"$text8" || fail "understudy.8 does not list exit status $code"
	# understudy --help lists the same (issue 19: it left out 78).
	grep -qE "^ +$code  " <<<"$help" || fail "understudy --help does not list exit status $code"
done

# Every command --help lists has its line in the SYNOPSIS.
synopsis=$(sed -n '/^\.SH SYNOPSIS/,/^\.SH /p' "$page8" | plain /dev/stdin)
for cmd in $(commands "$bin"); do
	grep -qE "^understudy $cmd( |$)" <<<"$synopsis" || fail "the SYNOPSIS of understudy.8 lacks $cmd"
done

# One example, one lock path: the installed example's is the one README's
# and the pages' examples use (issue 19: they differed).
src=$here/../..
lock=$(sed -n 's/^lock = //p' "$src/doc/example.conf")
[ -n "$lock" ] || fail "doc/example.conf names no lock"
for f in "$src/README.md" "$page8" "$page5"; do
	others=$(plain "$f" | grep -oE -- '(--lock |^ *lock = )/[^ ]+' | sed -E 's/^(--lock | *lock = )//' |
		grep -vxF "$lock" || true)
	[ -z "$others" ] || fail "$f uses another lock path than doc/example.conf's $lock: $others"
done

n8=$(for c in $(commands "$bin"); do help_options "$bin" "$c"; done | wc -l)
n5=$(help_options "$bin" run | wc -l)
if command -v man >/dev/null; then
	for page in "$page8" "$page5"; do
		warnings=$(MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null) ||
			fail "man -l $page failed: $warnings"
		[ -z "$warnings" ] || fail "man -l $page: $warnings"
		lines=$(MANWIDTH=80 man -l "$page" 2>/dev/null | wc -l)
		[ "$lines" -gt 100 ] || fail "man -l $page renders only $lines lines"
	done
	render="both render without warnings"
else
	render="not rendered: man is not installed"
fi
echo "man pages: $n8 options of 5 commands documented, $n5 run options with keys; $render"
