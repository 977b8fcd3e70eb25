#!/usr/bin/env bash
# coverage.sh TARGET CORPUS-DIR...: the source lines of the code under
# test that the inputs in CORPUS-DIR reach, for the README's fuzzing
# figures. TARGET is lockfile or config. Builds the target with clang's
# source-based coverage in a scratch directory (not the fuzzer's
# instrumentation: libFuzzer's "cov" counts edges, not lines), replays
# every input once, and prints llvm-cov's report per function and file;
# SHOW=REGEX also prints the source of the functions it matches, each
# line with its count.
set -euo pipefail
target=$1
shift
dirs=()
for d in "$@"; do dirs+=("$(realpath "$d")"); done
cd "$(dirname "$0")/../.."
case $target in
lockfile) src=(src/lockfile.c src/clock.c) shown=(src/lockfile.c) libs=() ;;
config)
	# What tests/fuzz/meson.build compiles into fuzz_config.
	src=(src/config.c src/options.c src/log.c src/text.c src/supervise.c src/lockfile.c src/clock.c src/trust.c
		src/timeline.c)
	shown=(src/config.c src/options.c) libs=(-linih -lm)
	;;
*) echo "coverage.sh: TARGET is lockfile or config" >&2; exit 64 ;;
esac
cov=$(command -v llvm-cov-14 || command -v llvm-cov)
profdata=$(command -v llvm-profdata-14 || command -v llvm-profdata)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
clang -std=c17 -O1 -D_GNU_SOURCE -Iinclude -Itests/fuzz -fsanitize=fuzzer \
	-fprofile-instr-generate -fcoverage-mapping \
	"tests/fuzz/fuzz_$target.c" "${src[@]}" "${libs[@]}" -o "$work/fuzz"
LLVM_PROFILE_FILE="$work/run.profraw" "$work/fuzz" -runs=0 "${dirs[@]}" >"$work/log" 2>&1 ||
	{ cat "$work/log" >&2; exit 1; }
grep -E '^Done|INITED' "$work/log" || true
"$profdata" merge -o "$work/run.profdata" "$work/run.profraw"
"$cov" report "$work/fuzz" -instr-profile="$work/run.profdata" -show-functions "${shown[@]}"
"$cov" report "$work/fuzz" -instr-profile="$work/run.profdata" "${shown[@]}"
[ -z "${SHOW:-}" ] || "$cov" show "$work/fuzz" -instr-profile="$work/run.profdata" -name-regex="$SHOW"
