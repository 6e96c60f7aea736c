#!/usr/bin/env bash
# Every demo member's annual statements (年度对账单) of 2024 and 2025, one page per member and
# year, in statements/YEAR/ (and a PDF beside each page when Chromium is installed).
# Run `cargo run --release -- demo` first; DATA (default ./ledger-data) names the ledger.
set -euo pipefail
cd "$(dirname "$0")/.."
data=${DATA:-./ledger-data}
pdf=()
command -v chromium >/dev/null && pdf=(--pdf)
cargo build --release --quiet
for year in 2024 2025; do
  for region in luzhou chongqing shenyang fuzhou shanghai; do
    target/release/member-ledger --data "$data" annual-statement --region "$region" \
      --year "$year" --out "statements/$year" "${pdf[@]}"
  done
done
