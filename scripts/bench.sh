#!/usr/bin/env bash
# bench.sh: what `make bench` runs after building. Runs the Google Benchmark
# harness (medians of 3 repetitions of >= 0.5 s each; the scalar reference rows
# run ~1-3 calls a repetition), then the PyTorch peer, merges both into
# bench/results/<cpu>-<date>.json and renders bench/RESULTS.md + bench/ratios.png.
#   scripts/bench.sh [path/to/pcnn_bench]
#   PCNN_BENCH_MIN_TIME, PCNN_BENCH_REPS, PCNN_BENCH_FILTER override the defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-build/pcnn_bench}
MIN_TIME=${PCNN_BENCH_MIN_TIME:-0.5}
REPS=${PCNN_BENCH_REPS:-3}
FILTER=${PCNN_BENCH_FILTER:-.}
PY=/usr/bin/python3

mkdir -p bench/results
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
slug=$(printf '%s' "$cpu" | tr 'A-Z' 'a-z' | sed 's/[^a-z0-9]\{1,\}/-/g; s/^-//; s/-$//')
out="bench/results/${slug}-$(date +%F).json"

n=$("$BIN" --benchmark_list_tests=true --benchmark_filter="$FILTER" | wc -l)
# ~REPS x MIN_TIME a benchmark plus set-up, and ~3 minutes for the PyTorch peer
est=$(awk -v n="$n" -v t="$MIN_TIME" -v r="$REPS" 'BEGIN { printf "%.0f", (n * (r * t + 0.6) + 180) / 60 }')
echo "bench: $n benchmarks on '$cpu'; expected ~${est} minutes (2 cores); results -> $out"
start=$(date +%s)

"$BIN" --benchmark_filter="$FILTER" --benchmark_min_time="$MIN_TIME" \
  --benchmark_repetitions="$REPS" --benchmark_report_aggregates_only=true \
  --benchmark_out=bench/results/gbench.tmp --benchmark_out_format=json

if "$PY" -c 'import torch' 2>/dev/null; then
  "$PY" scripts/bench_torch.py bench/results/torch.tmp --min-time "$MIN_TIME" --repetitions "$REPS"
else
  echo "bench: no torch for $PY; skipping the PyTorch peer" >&2
  echo '{"benchmarks": []}' > bench/results/torch.tmp
fi

"$PY" scripts/report merge bench/results/gbench.tmp bench/results/torch.tmp "$out" \
  --seconds "$(( $(date +%s) - start ))"
"$PY" scripts/report render "$out" bench/RESULTS.md bench/ratios.png
rm -f bench/results/gbench.tmp bench/results/torch.tmp
echo "bench: done in $(( $(date +%s) - start )) s: $out, bench/RESULTS.md, bench/ratios.png"
