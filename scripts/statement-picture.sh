#!/usr/bin/env bash
# Regenerates docs/annual-statement.png, the picture in the README: page 1 of the demo member
# Li's 2024 annual statement (年度对账单), issued on 2025-01-10, as headless Chromium prints it.
# The name and ID number come from an example register (the ledger keeps no names).
# Needs: chromium, fonts-noto-cjk, poppler-utils (apt-get install chromium fonts-noto-cjk poppler-utils).
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in chromium pdftoppm; do
  command -v "$tool" >/dev/null || { echo "statement-picture: $tool is missing" >&2; exit 2; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cargo build --release --quiet
bin=target/release/member-ledger
li=00000000-0000-4000-8000-00000000d002
"$bin" --data "$work/ledger" demo >/dev/null
cat >"$work/register.json" <<JSON
{"$li": {"name": "李娜（示例）", "id_card": "510502199001011234"}}
JSON
"$bin" --data "$work/ledger" annual-statement "$li" --year 2024 \
  --register "$work/register.json" --issue --date 2025-01-10 --pdf "$work/li.pdf" >/dev/null
pdftoppm -f 1 -l 1 -r 90 -png -singlefile "$work/li.pdf" docs/annual-statement
echo "statement-picture: docs/annual-statement.png ($(pdfinfo "$work/li.pdf" | awk '/^Pages:/ {print $2}') pages in all)"
