#!/usr/bin/env bash
# Run the cargo-fuzz targets of fuzz/ (README "Fuzzing"): `scripts/fuzz.sh SECONDS TARGET...`.
#
# Seeds fuzz/corpus/<target>/ from tests/cases (fuzz/seed_corpus.py), builds every target once,
# replays the saved crash inputs of fuzz/regressions/<target>/, then runs each for SECONDS in
# libFuzzer's fork mode, which keeps fuzzing after a crash so the count is the number of failing
# inputs found (crashes, timeouts over 10 s, and inputs needing
# more than 2 GiB all count). Prints one line per target and a total:
#   fuzz <target>: <executions> executions, <crashes> crashes
# The failing inputs are in fuzz/artifacts/<target>/, libFuzzer's output in
# fuzz/artifacts/<target>.log. Exits 1 when anything crashed.
#
# The targets build on the default (stable) toolchain: with `-s none` cargo-fuzz passes no
# nightly-only flag (see README "Fuzzing" for why no sanitizer).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=$1
shift
[ "$#" -gt 0 ] || { echo "usage: scripts/fuzz.sh SECONDS TARGET..." >&2; exit 2; }

# One set of build flags for `build` and `run`, so `run` never rebuilds. FUZZ_BUILD=dev builds
# without optimisations (`make fuzz-smoke`: a shorter build for a short run).
build_flags=(--sanitizer none --codegen-units 16)
if [ "${FUZZ_BUILD:-release}" = dev ]; then
  build_flags+=(--dev)
fi

python3 fuzz/seed_corpus.py tests/cases fuzz/corpus
cargo fuzz build "${build_flags[@]}"

# Every input a run once saved as a crash is kept in fuzz/regressions/<target>/ and replayed
# first: a crash that comes back fails at once, whatever the fuzzing finds after.
for target in "$@"; do
  regressions=(fuzz/regressions/$target/*)
  if [ -e "${regressions[0]}" ]; then
    cargo fuzz run "${build_flags[@]}" "$target" "${regressions[@]}" >/dev/null 2>&1 || {
      echo "fuzz $target: a saved regression input fails again (fuzz/regressions/$target/):" >&2
      cargo fuzz run "${build_flags[@]}" "$target" "${regressions[@]}" 2>&1 | tail -n 20 >&2
      exit 1
    }
    echo "fuzz $target: ${#regressions[@]} regression inputs pass"
  fi
done

total_execs=0
total_crashes=0
for target in "$@"; do
  artifacts=fuzz/artifacts/$target
  log=fuzz/artifacts/$target.log
  mkdir -p "$artifacts"
  before=$(find "$artifacts" -type f | wc -l)
  # A crash makes cargo-fuzz exit non-zero even in fork mode; the count below decides.
  cargo fuzz run "${build_flags[@]}" "$target" "fuzz/corpus/$target" -- \
    -max_total_time="$seconds" -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
    -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1 || true
  # Fork mode reports `#<executions>: cov: ... oom/timeout/crash: O/T/C ...` for all jobs.
  execs=$(grep -oE '^#[0-9]+:' "$log" | tail -n 1 | tr -dc '0-9')
  if [ -z "$execs" ]; then
    echo "fuzz $target: no libFuzzer statistics; see $log" >&2
    tail -n 20 "$log" >&2
    exit 1
  fi
  crashes=$(( $(find "$artifacts" -type f | wc -l) - before ))
  echo "fuzz $target: $execs executions, $crashes crashes"
  total_execs=$((total_execs + execs))
  total_crashes=$((total_crashes + crashes))
done
echo "fuzz total: $total_execs executions, $total_crashes crashes in $# targets of ${seconds} s"
[ "$total_crashes" -eq 0 ]
