# shellcheck shell=bash
# Shared by the packaging tests: sourced, not run.

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# The long options a command's --help prints, one a line, --help itself
# left out: what the man page and the completion must both know.
help_options() {
	local bin=$1 cmd=$2 text
	text=$("$bin" "$cmd" --help) || fail "$bin $cmd --help exited $?"
	grep -oE -- '--[a-z][a-z-]*[a-z]' <<<"$text" | sort -u | grep -vx -- '--help' || true
}

# The commands `understudy --help` lists, one a line: every one of them
# must be in the man page and the completion.
commands() {
	local bin=$1
	"$bin" --help | sed -n 's/^  \([a-z][a-z-]*\)  .*/\1/p'
}
