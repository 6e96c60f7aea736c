#!/usr/bin/env bash
# The storage benchmark, side by side in one run (BENCHMARKS.md, "Side by side"):
#   - the workload: 1,000 Luzhou employees, monthly contributions 2000-2024 (301,000 commands);
#   - the SQLite peer: the same command lines stored durably (WAL, synchronous=FULL, one
#     transaction per 512 rows, an index on member), then read back, decoded and folded;
#   - the disk's limit: groups of 512 records of 200 B appended and fdatasync'd;
#   - the ledger: `member-ledger submit` of the same file (durable batched ingest), `replay`
#     (rebuild of every projection from the log), and the disk each uses.
# Prints each figure and the ratios. Usage: scripts/side-by-side.sh [WORKDIR] (default a
# temporary directory, removed at the end). Run it on a quiet machine: it times wall clocks.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
work="${1:-$(mktemp -d /tmp/side-by-side.XXXXXX)}"
keep="${1:+yes}"
mkdir -p "$work"
cleanup() { [ -n "$keep" ] || rm -rf "$work"; }
trap cleanup EXIT

cargo build --release --quiet
bin="$root/target/release/member-ledger"
python3 scripts/bench/make_workload.py "$work/w.jsonl"
commands=$(wc -l < "$work/w.jsonl")

seconds() { python3 -c 'import sys,time; print(time.time())'; }
rate() { python3 -c "print(f'{$1 / ($2):.0f}')"; }

disk=$(python3 scripts/bench/fdatasync_limit.py "$work/fdatasync.bin" | tee /dev/stderr | sed -E 's/.*= ([0-9]+)\/s/\1/')
peer_in=$(python3 scripts/bench/sqlite_peer.py "$work/peer.db" "$work/w.jsonl" | tee /dev/stderr | sed -E 's/.*= ([0-9]+)\/s/\1/')
peer_out=$(python3 scripts/bench/sqlite_replay.py "$work/peer.db" | tee /dev/stderr | sed -E 's/.*= ([0-9]+)\/s.*/\1/')
peer_bytes=$(du -cb "$work"/peer.db* | tail -1 | cut -f1)

rm -rf "$work/ledger"
start=$(seconds)
"$bin" --data "$work/ledger" submit "$work/w.jsonl" > "$work/results.jsonl"
end=$(seconds)
accepted=$(grep -c '"ok":true' "$work/results.jsonl" || true)
if [ "$accepted" != "$commands" ]; then
  echo "side-by-side: only $accepted of $commands commands were accepted" >&2
  exit 1
fi
ingest=$(rate "$commands" "$end - $start")
echo "ledger submit: $commands commands in $(python3 -c "print(f'{$end - $start:.2f}')") s = $ingest/s" >&2
ledger_bytes=$(du -cb "$work/ledger" | tail -1 | cut -f1)
replayed=$("$bin" --data "$work/ledger" replay | tee /dev/stderr)
events=$(echo "$replayed" | sed -nE 's/^replay: ([0-9]+) events in .*/\1/p')
rebuild=$(echo "$replayed" | sed -nE 's/.*\(([0-9]+) events\/s\).*/\1/p')

ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }
cat <<TABLE

| figure | member-ledger | SQLite peer | ratio |
|---|---|---|---|
| durable batched ingest, commands/s | $ingest | $peer_in | $(ratio "$ingest" "$peer_in")x |
| rebuild (decode + fold), events or rows/s | $rebuild | $peer_out | $(ratio "$rebuild" "$peer_out")x |
| disk, bytes per event or row | $((ledger_bytes / events)) | $((peer_bytes / commands)) | $(ratio "$ledger_bytes" "$peer_bytes")x |
| the disk's limit, fdatasync'd records/s (groups of 512 x 200 B) | $disk | | |
TABLE
