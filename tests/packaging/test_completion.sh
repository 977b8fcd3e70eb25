#!/usr/bin/env bash
# The bash completion, sourced into this shell and asked as bash would ask
# it on <TAB>: words in COMP_WORDS, the answer in COMPREPLY.
# usage: test_completion.sh COMPLETION_FILE BINARY
set -euo pipefail
here=$(dirname "$0")
# shellcheck source=tests/packaging/lib.sh
. "$here/lib.sh"
# shellcheck source=/dev/null
. "$1"
bin=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
checks=0

# complete WORD... : completes the last word; prints COMPREPLY sorted.
complete_words() {
	COMP_WORDS=("$@")
	COMP_CWORD=$(($# - 1))
	COMPREPLY=()
	_understudy understudy "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
	if [ ${#COMPREPLY[@]} -gt 0 ]; then printf '%s\n' "${COMPREPLY[@]}" | sort; fi
}

expect() {
	local want=$1 got
	shift
	got=$(complete_words "$@" | tr '\n' ' ')
	checks=$((checks + 1))
	[ "$got" = "$want" ] || fail "understudy ${*:2}<TAB>: got '$got', want '$want'"
}

expect 'run ' understudy r
expect 'failback ' understudy f
expect '--role ' understudy run --ro
expect 'backup primary ' understudy run --role ''
expect 'backup primary ' understudy run --role =
expect 'primary ' understudy run --role = p
expect 'on-failure ' understudy run --restart o
expect 'exit rejoin ' understudy run --lock x --after-fence ''
expect 'debug error info warning ' understudy run --log-level ''
expect 'auto ' understudy run --takeover-delay a
expect '--json ' understudy status --j
expect '--timeout --to ' understudy switchover --t
expect '--timeout ' understudy failback --t
expect '' understudy status --ro
expect '--peer --peer-timeout ' understudy check-storage /srv --pe
expect 'check-storage ' understudy ch

# Files for --lock and --config; executables (and directories) for hooks.
mkdir "$tmp/hooks.d"
touch "$tmp/group.lock" "$tmp/app.conf" "$tmp/notes"
install -m 0755 /dev/null "$tmp/vip-up"
expect "$tmp/group.lock " understudy run --lock "$tmp/gr"
expect "$tmp/app.conf " understudy status --config "$tmp/app"
expect "$tmp/hooks.d $tmp/vip-up " understudy run --on-live "$tmp/"
expect "$tmp/hooks.d " understudy run --working-directory "$tmp/"
expect "$tmp/hooks.d " understudy check-storage "$tmp/"

# After -- the workload: a command first.
got=$(complete_words understudy run --role primary -- bas)
checks=$((checks + 1))
grep -qx bash <<<"$got" || fail "understudy run ... -- bas<TAB> does not offer bash: '$got'"

# Every option the binary offers is offered.
for cmd in $(commands "$bin"); do
	offered=$(complete_words understudy "$cmd" --)
	while IFS= read -r opt; do
		checks=$((checks + 1))
		grep -qx -- "$opt" <<<"$offered" || fail "understudy $cmd --<TAB> does not offer $opt"
	done < <(help_options "$bin" "$cmd")
done
echo "completion: $checks checks passed"
