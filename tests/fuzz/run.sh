#!/usr/bin/env bash
# run.sh: runs libFuzzer targets (built by `make fuzz-build`) for a while each;
# `make fuzz` calls it.
#
#   tests/fuzz/run.sh [TARGET...]       default: every tests/fuzz/fuzz_*.c
#
# Environment: FUZZ_BIN_DIR (build-fuzz), FUZZ_SECONDS (60) per target,
# FUZZ_JOBS (1) targets at once, FUZZ_RSS_MB (2048), FUZZ_TIMEOUT (10 s per
# input), FUZZ_ARGS (more libFuzzer flags, e.g. -fork=2 -ignore_crashes=1 to
# keep going after a finding).
#
# Each target runs on a scratch corpus, $FUZZ_BIN_DIR/corpus-run/<target>/
# (seeded from the committed tests/fuzz/corpus/<target>/ on every run, so that
# one never grows), writes its crash / timeout / OOM inputs to
# $FUZZ_BIN_DIR/artifacts/<target>/ and its log to $FUZZ_BIN_DIR/logs/<target>.log.
# Prints one line per target (time, executions, exec/s, verdict); the exit
# status is non-zero if any target found something.
set -uo pipefail

cd "$(dirname "$0")/../.."
BIN=${FUZZ_BIN_DIR:-build-fuzz}
SECONDS_PER=${FUZZ_SECONDS:-60}
JOBS=${FUZZ_JOBS:-1}
RSS=${FUZZ_RSS_MB:-2048}
TMO=${FUZZ_TIMEOUT:-10}
EXTRA=${FUZZ_ARGS:-}

if [ $# -gt 0 ]; then
  targets=("$@")
else
  targets=()
  for f in tests/fuzz/fuzz_*.c; do t=${f##*/fuzz_}; targets+=("${t%.c}"); done
fi
for t in "${targets[@]}"; do
  if [ ! -x "$BIN/fuzz_$t" ]; then
    echo "fuzz: $BIN/fuzz_$t not built (make fuzz-build; targets: $(cd tests/fuzz && ls fuzz_*.c | sed 's/fuzz_//;s/\.c//' | tr '\n' ' '))" >&2
    exit 2
  fi
done
mkdir -p "$BIN/logs"

# run_one TARGET: fuzzes it, writes $BIN/logs/TARGET.{log,verdict}
run_one() {
  local t=$1 corpus="$BIN/corpus-run/$1" art="$BIN/artifacts/$1/" log="$BIN/logs/$1.log"
  rm -rf "$corpus"
  mkdir -p "$corpus" "$art"
  if [ -d "tests/fuzz/corpus/$t" ]; then cp -p "tests/fuzz/corpus/$t/." "$corpus/" -r; fi
  local before after start end rc
  before=$(ls -A "$art" | wc -l)
  start=$(date +%s.%N)
  # the CPU time (user + sys) of the fuzzer, not only the wall time it was given
  local TIMEFORMAT='%U %S'
  # shellcheck disable=SC2086
  { time "$BIN/fuzz_$t" "$corpus" -max_total_time="$SECONDS_PER" -rss_limit_mb="$RSS" -timeout="$TMO" \
    -artifact_prefix="$art" -print_final_stats=1 $EXTRA >"$log" 2>&1; } 2>"$BIN/logs/$t.cpu"
  rc=$?
  end=$(date +%s.%N)
  local cpu
  cpu=$(awk '{printf "%.1f", $1 + $2}' "$BIN/logs/$t.cpu" 2>/dev/null)
  after=$(ls -A "$art" | wc -l)
  local execs eps
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  if [ -z "$execs" ]; then  # fork mode or a crash before the stats: the last status line
    execs=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#')
    eps=$(grep -oE 'exec/s:? [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+')
  fi
  local verdict=ok
  if [ $rc -ne 0 ] || [ "$after" -gt "$before" ] ||
     grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|deadly signal' "$log"; then
    local first
    first=$(grep -m1 -E '^==[0-9]+== ?ERROR|runtime error:|^SUMMARY' "$log" | cut -c1-160)
    verdict="FINDING (exit $rc): ${first:-see $log}"
    local a
    for a in $(ls -At "$art" | head -n $((after - before > 0 ? after - before : 1))); do
      verdict+=$'\n'"    artifact: $art$a"
    done
  fi
  printf 'fuzz_%-12s %6.1f s wall  %7s s CPU  %9s execs  %7s exec/s  %s\n' "$t" \
    "$(awk -v a="$start" -v b="$end" 'BEGIN {print b - a}')" "${cpu:-?}" "${execs:-?}" "${eps:-?}" \
    "$verdict" >"$BIN/logs/$t.verdict"
}

echo "fuzz: ${targets[*]}: ${SECONDS_PER} s each, $JOBS at a time, -rss_limit_mb=$RSS -timeout=$TMO $EXTRA"
running=0
for t in "${targets[@]}"; do
  rm -f "$BIN/logs/$t.verdict"
  run_one "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$JOBS" ]; then wait -n; running=$((running - 1)); fi
done
wait

fail=0
for t in "${targets[@]}"; do
  if [ -f "$BIN/logs/$t.verdict" ]; then cat "$BIN/logs/$t.verdict"; else echo "fuzz_$t: no verdict (killed?)"; fail=1; fi
  grep -q FINDING "$BIN/logs/$t.verdict" 2>/dev/null && fail=1
done
if [ $fail -ne 0 ]; then
  echo "fuzz: FINDINGS (logs in $BIN/logs/, inputs in $BIN/artifacts/; reproduce: $BIN/fuzz_<target> <artifact>)"
  exit 1
fi
echo "fuzz: no findings"
