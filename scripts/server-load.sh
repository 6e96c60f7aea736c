#!/usr/bin/env bash
# The server's load run on loopback (BENCHMARKS.md, "Over HTTP"): a release build of
# `member-ledger serve`, 64 clients submitting keyed commands for 60 s while a consumer follows
# the event stream; prints commands/s and p50/p99 latency, and checks that nothing was lost or
# repeated and that `verify` is clean. Bounded: it stops by itself after SERVER_LOAD_SECONDS.
#   SERVER_LOAD_CLIENTS=64 SERVER_LOAD_SECONDS=60 scripts/server-load.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export SERVER_LOAD_CLIENTS="${SERVER_LOAD_CLIENTS:-64}"
export SERVER_LOAD_SECONDS="${SERVER_LOAD_SECONDS:-60}"
cargo test --release --test server_load -- --ignored --nocapture
