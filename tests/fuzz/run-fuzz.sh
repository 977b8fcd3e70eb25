#!/usr/bin/env bash
# run-fuzz.sh TARGET CORPUS ARTIFACTS SECONDS [LIBFUZZER-OPTION...]
# Run a libFuzzer target for SECONDS (UNDERSTUDY_FUZZ_SECONDS wins) on the
# seed corpus CORPUS. The corpus
# is only read: inputs that find new coverage go to a scratch directory
# that is removed afterwards. A crash, leak, sanitizer report or timeout
# fails the run and leaves its input in ARTIFACTS, named after what it was.
set -euo pipefail
target=$1 corpus=$2 artifacts=$3 seconds=${UNDERSTUDY_FUZZ_SECONDS:-$4}
shift 4
[ -d "$corpus" ] || { echo "run-fuzz: no corpus at $corpus" >&2; exit 1; }
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$artifacts"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
echo "run-fuzz: $(basename "$target") for ${seconds}s on $(find "$corpus" -type f | wc -l) seeds"
# libFuzzer reports a crash with 77 by default, which meson shows as a
# skip: 1 is a failure.
"$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=1024 -print_final_stats=1 \
	-error_exitcode=1 -timeout_exitcode=1 \
	-artifact_prefix="$artifacts/" "$@" "$scratch" "$corpus"
