#!/usr/bin/env bash
# make-corpus.sh UNDERSTUDY OUTDIR: write the lock-file seeds of the fuzz
# corpus, each one a file real understudy processes left in a state a
# node meets: new, live with a backup waiting, starting (workload not
# ready), a pending failback and a pending switchover (the live manager
# frozen with SIGSTOP so the request is seen as written), paused; and
# from the live one, the refusals a node must meet: truncated, zeroed,
# wrong magic, a newer major version (its header checksum right), a
# header checksum wrong, a record torn by one flipped bit, and a history
# entry (format 1.3) torn the same way.
# The seeds in tests/fuzz/corpus/lockfile were made with it; rerun it
# after a format change.
set -euo pipefail
bin=$1 out=$2
mkdir -p "$out"
work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
lock=$work/g.lock
fast=(--check-interval 100ms --heartbeat-interval 200ms --poll-interval 100ms)

node() { # node NAME ROLE [OPTION...]: start a manager running sleep
	local name=$1 role=$2
	shift 2
	"$bin" run --lock "$lock" --role "$role" --name "$name" --address "10.0.0.${#pids[@]}:5672" \
		"${fast[@]}" "$@" -- sleep 1000 2>>"$work/log" &
	pids+=($!)
}
until_status() { # until_status WORD: wait for status to show it
	for _ in $(seq 50); do
		"$bin" status --lock "$lock" 2>/dev/null | grep -q "$1" && return 0
		sleep 0.1
	done
	echo "make-corpus: status never showed '$1'" >&2
	cat "$work/log" >&2
	exit 1
}

: >"$out/empty.lock"
node node-a primary
until_status live
cp "$lock" "$out/live-alone.lock"
node node-b backup
node node-c backup
until_status "node-c.*waiting\|node-c.*queued"
sleep 0.5
cp "$lock" "$out/live-two-backups.lock"

# A pending request: the live manager frozen, so nobody answers it.
kill -STOP "${pids[0]}"
"$bin" switchover --lock "$lock" --to node-c >/dev/null
cp "$lock" "$out/switchover-pending.lock"
kill -CONT "${pids[0]}"
until_status "node-c.*live"
cp "$lock" "$out/after-switchover.lock"

kill -STOP "${pids[2]}"
"$bin" failback --lock "$lock" >/dev/null
cp "$lock" "$out/failback-pending.lock"
kill -CONT "${pids[2]}"
until_status "node-a.*live"
cp "$lock" "$out/after-failback.lock"

kill -TERM "${pids[0]}"
until_status paused
cp "$lock" "$out/paused.lock"
for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
wait 2>/dev/null || true
pids=()

# Starting: live, its workload never says it is ready.
rm -f "$lock"
node node-s primary --ready notify --ready-timeout 0
until_status starting
cp "$lock" "$out/starting.lock"

# The refusals, cut from a real file (python3 for the CRC-32C).
python3 - "$out/live-two-backups.lock" "$out" <<'PY'
import struct, sys
src, out = sys.argv[1], sys.argv[2]
img = bytearray(open(src, "rb").read())
def crc32c(b):
    c = 0xFFFFFFFF
    for x in b:
        c ^= x
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    return c ^ 0xFFFFFFFF
def save(name, b):
    open(f"{out}/{name}", "wb").write(bytes(b))
save("truncated.lock", img[:4352])
save("zeroed.lock", bytes(len(img)))
bad = bytearray(img); bad[32:40] = b"UNDRSTDX"; save("wrong-magic.lock", bad)
new = bytearray(img); new[40:42] = struct.pack("<H", 2)
new[60:64] = struct.pack("<I", crc32c(new[32:60])); save("major-2.lock", new)
bad = bytearray(img); bad[59] ^= 1; save("header-crc.lock", bad)
bad = bytearray(img); bad[64 + 44] ^= 0x20; save("torn-live-record.lock", bad)
bad = bytearray(img); bad[8704 + 40] ^= 0x20; save("torn-history-entry.lock", bad)
PY
echo "make-corpus: $(find "$out" -name '*.lock' | wc -l) lock files in $out"
