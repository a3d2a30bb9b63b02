#!/usr/bin/env bash
# Runs `cargo bench -p benches` N times (default 5), recording each run's
# medians in FILE (default target/bench-runs.jsonl), then prints the
# medians over the recorded runs and the Rust/C ratios.
#
#   bash benches/bench-runs.sh [N] [FILE]
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-5}"
file="${2:-target/bench-runs.jsonl}"
mkdir -p "$(dirname "$file")"
for i in $(seq "$n"); do
    echo "== run $i/$n (load $(cut -d' ' -f1 /proc/loadavg))"
    cargo bench -q -p benches
    cargo run -q --release -p benches --bin ratios -- --record "$file" >/dev/null
done
cargo run -q --release -p benches --bin ratios -- --median "$file"
