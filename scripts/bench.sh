#!/usr/bin/env bash
# bench.sh: what `make bench` runs after building. Three phases, then the report:
#  1. the Google Benchmark harness with --pcnn_rounds=R: rows that have a peer
#     (our kernels beside oneDNN / libxsmm, same op, shape and threads) run in
#     R alternating rounds inside the harness (bench/bench_rounds.cc); the
#     other rows as medians of REPS repetitions of >= MIN_TIME s each (the
#     scalar reference rows run ~1-3 calls a repetition);
#  2. the PyTorch peer's kernel rows (scripts/bench_torch.py --only kernels);
#  3. the whole model against PyTorch in R rounds: each round runs our model
#     rows (forward, train_step, sample_pixel at the best ISA, 1 and 2
#     threads; one repetition) and PyTorch's (--only model, one repetition,
#     one warm-up call) back to back, ours first in odd rounds and PyTorch
#     first in even ones; phase 1 leaves these rows out (--pcnn_skip);
#  4. data-parallel training in R rounds: the seed model's training step as one
#     process x 2 threads and as mpirun -np 2 ranks x 1 thread, alternating
#     (PCNN_BENCH_MPI_BIN, default next to the harness: build/pcnn_bench_mpi).
# Then merges everything into OUT_DIR/results/<cpu>-<date>.json and renders
# OUT_DIR/RESULTS.md, OUT_DIR/ratios.png and OUT_DIR/profile.png.
#   scripts/bench.sh [path/to/pcnn_bench]
#   PCNN_BENCH_MIN_TIME (0.5), PCNN_BENCH_REPS (3), PCNN_BENCH_ROUNDS (5),
#   PCNN_BENCH_FILTER (.), PCNN_BENCH_OUT_DIR (bench) override the defaults;
#   PCNN_BENCH_SMOKE=1 runs tiny shapes (the harness's and bench_torch.py --smoke).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-build/pcnn_bench}
MIN_TIME=${PCNN_BENCH_MIN_TIME:-0.5}
REPS=${PCNN_BENCH_REPS:-3}
ROUNDS=${PCNN_BENCH_ROUNDS:-5}
FILTER=${PCNN_BENCH_FILTER:-.}
OUT_DIR=${PCNN_BENCH_OUT_DIR:-bench}
PY=/usr/bin/python3
SMOKE=()
if [ -n "${PCNN_BENCH_SMOKE:-}" ] && [ "${PCNN_BENCH_SMOKE}" != 0 ]; then SMOKE=(--smoke); fi

res="$OUT_DIR/results"
mkdir -p "$res"
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
slug=$(printf '%s' "$cpu" | tr 'A-Z' 'a-z' | sed 's/[^a-z0-9]\{1,\}/-/g; s/^-//; s/-$//')
out="$res/${slug}-$(date +%F).json"
# a second run on the same day keeps the first: <cpu>-<date>-2.json, -3, ...
k=2
while [ -e "$out" ]; do out="$res/${slug}-$(date +%F)-$k.json"; k=$((k + 1)); done
have_torch=0
if "$PY" -c 'import torch' 2>/dev/null; then have_torch=1; fi

# the model rows timed in rounds against PyTorch: forward, train_step and
# sample_pixel at the best ISA (the one the profile rows are registered at),
# and at the bf16 level when this build has one (against PyTorch's autocast
# bf16 rows, bench_torch.py --bf16)
best=$("$BIN" --benchmark_list_tests=true --benchmark_filter='^model/profile_forward/' | head -1 | cut -d/ -f3)
model_rows=$("$BIN" --benchmark_list_tests=true --benchmark_filter="$FILTER" |
  grep -E "^model/(forward|train_step|sample_pixel)/($best|avx512bf16)/t[0-9]+/" | cut -d/ -f1-4 || true)
BF16=()
if printf '%s\n' "$model_rows" | grep -q /avx512bf16/; then BF16=(--bf16); fi
model_re='^$'  # matches no run name
whats=
ROUNDS_MODEL=0
TORCH_ONLY=()  # without model rounds, the main PyTorch run times its model rows too
if [ "$ROUNDS" -gt 0 ] && [ -n "$model_rows" ]; then
  model_re="^($(printf '%s\n' "$model_rows" | paste -sd'|'))/"
  whats=$(printf '%s\n' "$model_rows" | cut -d/ -f2 | sort -u | paste -sd,)
  ROUNDS_MODEL=$ROUNDS
  TORCH_ONLY=(--only kernels)
fi

n=$("$BIN" --benchmark_list_tests=true --benchmark_filter="$FILTER" | grep -cvE "$model_re" || true)
nm=$(printf '%s\n' "$model_rows" | grep -c . || true)
# ~REPS x MIN_TIME a benchmark plus set-up (the rounds rows time about as many
# calls), ~2 minutes for the PyTorch kernel rows, and per model round ~1.5 s a
# row of ours plus ~15 s of PyTorch (2 s of it importing torch)
est=$(awk -v n="$n" -v t="$MIN_TIME" -v r="$REPS" -v k="$ROUNDS_MODEL" -v m="$nm" -v p="$have_torch" \
  'BEGIN { printf "%.0f", (n * (r * t + 0.6) + 120 * p + k * (m * (t + 1) + 15 * p)) / 60 }')
echo "bench: $n benchmarks + $nm model rows in $ROUNDS_MODEL rounds against PyTorch on '$cpu';" \
  "expected ~${est} minutes (2 cores); results -> $out"
start=$(date +%s)

# 1. the harness: kernel rows with peers in rounds, the rest as repetitions
"$BIN" --benchmark_filter="$FILTER" --benchmark_min_time="$MIN_TIME" \
  --benchmark_repetitions="$REPS" --benchmark_report_aggregates_only=true \
  --pcnn_rounds="$ROUNDS" --pcnn_skip="$model_re" \
  --benchmark_out="$res/gbench.tmp" --benchmark_out_format=json

# 2. PyTorch's kernel rows
if [ "$have_torch" = 1 ]; then
  "$PY" scripts/bench_torch.py "$res/torch.tmp" "${TORCH_ONLY[@]}" --min-time "$MIN_TIME" \
    --repetitions "$REPS" "${SMOKE[@]}" "${BF16[@]}"
else
  echo "bench: no torch for $PY; skipping the PyTorch peer" >&2
  echo '{"benchmarks": []}' > "$res/torch.tmp"
fi

# 3. the whole model against PyTorch, in rounds that alternate who goes first
ours_round() {  # round k: our model rows, one repetition
  "$BIN" --benchmark_filter="$model_re" --benchmark_min_time="$MIN_TIME" --benchmark_repetitions=1 \
    --benchmark_out="$res/round$1.ours.tmp" --benchmark_out_format=json
}
torch_round() {  # round k: PyTorch's model rows, one repetition after one warm-up call
  if [ "$have_torch" = 1 ]; then
    "$PY" scripts/bench_torch.py "$res/round$1.torch.tmp" --only model --what "$whats" \
      --min-time "$MIN_TIME" --repetitions 1 --warmup 1 "${SMOKE[@]}" "${BF16[@]}"
  else
    echo '{"benchmarks": []}' > "$res/round$1.torch.tmp"
  fi
}
round_args=()
for k in $(seq 1 "$ROUNDS_MODEL"); do
  if [ $((k % 2)) = 1 ]; then
    echo "bench: model round $k of $ROUNDS_MODEL, ours first"
    ours_round "$k"
    torch_round "$k"
  else
    echo "bench: model round $k of $ROUNDS_MODEL, PyTorch first"
    torch_round "$k"
    ours_round "$k"
  fi
  round_args+=(--round "$k" "$res/round$k.ours.tmp" "$res/round$k.torch.tmp")
done

# 4. data-parallel training: one process x 2 threads against mpirun -np 2 x 1
# thread, alternating in rounds (bench/mpi/bench_mpi.c)
MPI_BIN=${PCNN_BENCH_MPI_BIN:-$(dirname "$BIN")/pcnn_bench_mpi}
mpi_args=()
if [ -x "$MPI_BIN" ] && command -v mpirun >/dev/null 2>&1 && [ "$ROUNDS" -gt 0 ]; then
  # (MPI_Init's allocations live until exit: an ASan build's leak report,
  # as `make test SANITIZE=1` runs this script in smoke mode, is off for the ranks)
  mpirun_cmd=(mpirun --oversubscribe -x ASAN_OPTIONS=detect_leaks=0 -np 2)
  if [ "$(id -u)" = 0 ]; then mpirun_cmd=(mpirun --allow-run-as-root "${mpirun_cmd[@]:1}"); fi
  for k in $(seq 1 "$ROUNDS"); do
    echo "bench: MPI round $k of $ROUNDS"
    one=("$MPI_BIN" --threads 2 --out "$res/round$k.mpi1.tmp" "${SMOKE[@]}")
    two=("${mpirun_cmd[@]}" "$MPI_BIN" --threads 1 --out "$res/round$k.mpi2.tmp" "${SMOKE[@]}")
    if [ $((k % 2)) = 1 ]; then "${one[@]}"; "${two[@]}"; else "${two[@]}"; "${one[@]}"; fi
    mpi_args+=(--mpi "$k" "$res/round$k.mpi1.tmp" "$res/round$k.mpi2.tmp")
  done
else
  echo "bench: no $MPI_BIN or no mpirun; skipping the MPI rows" >&2
fi

"$PY" scripts/report merge "$res/gbench.tmp" "$res/torch.tmp" "$out" \
  --seconds "$(( $(date +%s) - start ))" "${round_args[@]}" "${mpi_args[@]}"
"$PY" scripts/report render "$out" "$OUT_DIR/RESULTS.md" "$OUT_DIR/ratios.png" "$OUT_DIR/profile.png"
rm -f "$res"/gbench.tmp "$res"/torch.tmp "$res"/round*.ours.tmp "$res"/round*.torch.tmp "$res"/round*.mpi?.tmp
echo "bench: done in $(( $(date +%s) - start )) s: $out, $OUT_DIR/RESULTS.md, $OUT_DIR/ratios.png, $OUT_DIR/profile.png"
