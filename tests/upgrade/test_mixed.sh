#!/usr/bin/env bash
# test_mixed.sh: nodes of older formats and nodes of this build in one group.
#
# usage: tests/upgrade/test_mixed.sh [-v]
#
# The older builds are made from git history (OLDS below: the last commit
# whose lock file format is 1.0, and one of format 1.2, the last before
# 1.3) into BUILD/upgrade-COMMIT, once each: git archive, meson setup,
# ninja (about 30 s each). Then tests/upgrade/mixed.py runs each of them
# with this build on shared lock files in both roles and both directions,
# with this build's witness as the workload of every node, and measures
# overlaps and gaps from the witness's records.
#
# Without git history (a shallow clone, an exported tree) there is no older
# build to run: the script says SKIPPED, and why, and exits 0.
#
# BUILD (default: build/ at the top of the checkout) is built first when
# understudy or the witness is missing.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
OLDS="71ea7e6 f3fbb99" # formats 1.0 and 1.2

skip() {
	echo "== upgrade: SKIPPED (no git history: $*): the mixed-version test did not run"
	exit 0
}

command -v git >/dev/null 2>&1 || skip "git is not installed"
# A checkout owned by another user than the one running the tests (CI runs
# as root) is still ours to read.
g() { git -c safe.directory="$ROOT" -C "$ROOT" "$@"; }
g rev-parse --git-dir >/dev/null 2>&1 || skip "$ROOT is not a git checkout"
for old in $OLDS; do
	g cat-file -e "$old^{commit}" 2>/dev/null ||
		skip "commit $old is not in this clone$(g rev-parse --is-shallow-repository 2>/dev/null |
			grep -q true && echo ' (it is shallow: git fetch --unshallow)')"
done
command -v python3 >/dev/null 2>&1 || {
	echo "upgrade: python3 is missing (scripts/test.sh installs it)" >&2
	exit 1
}

if [ ! -x "$BUILD/understudy" ] || [ ! -x "$BUILD/tests/witness" ]; then
	[ -d "$BUILD" ] || meson setup "$BUILD" -Dwerror=true >/dev/null
	ninja -C "$BUILD" >/dev/null
fi

# Each old tree is built as it was, with its own meson.build; only its
# binary is used. A finished build is marked with the commit it is of.
build_old() {
	local old=$1 old_dir=$BUILD/upgrade-$1
	if [ "$(cat "$old_dir/commit" 2>/dev/null)" != "$(g rev-parse "$old^{commit}")" ] ||
		[ ! -x "$old_dir/build/understudy" ]; then
		echo "== upgrade: building commit $old in $old_dir" >&2
		rm -rf "$old_dir"
		mkdir -p "$old_dir/src"
		g archive "$old" | tar -x -C "$old_dir/src"
		meson setup "$old_dir/build" "$old_dir/src" >"$old_dir/setup.log" 2>&1 || {
			cat "$old_dir/setup.log" >&2
			return 1
		}
		ninja -C "$old_dir/build" understudy >"$old_dir/ninja.log" 2>&1 || {
			cat "$old_dir/ninja.log" >&2
			return 1
		}
		g rev-parse "$old^{commit}" >"$old_dir/commit"
	fi
	echo "$old_dir/build/understudy"
}

rc=0
for old in $OLDS; do
	bin=$(build_old "$old")
	python3 "$HERE/mixed.py" --old "$bin" --new "$BUILD/understudy" --witness "$BUILD/tests/witness" "$@" || rc=1
done
exit $rc
