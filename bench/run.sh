#!/usr/bin/env bash
# Runs serverauth's benchmark suite and summarises it (see BENCHMARKS.md).
#
#   bench/run.sh                 # the full run, about 30 to 40 minutes
#   COUNT=3 BENCHTIME=50ms bench/run.sh   # a quick look
#   bench/run.sh -s              # only redo the summaries of the last run
#
# The store and multi-process benchmarks need the services CI uses; export
# their addresses first, as .ci/run does (each is skipped when unset):
#   SERVERAUTH_TEST_POSTGRES, SERVERAUTH_TEST_MYSQL, SERVERAUTH_TEST_REDIS
#
# Writes bench/results/: latest.txt (raw go test output of both passes),
# machine.txt, benchstat.txt (benchstat tables of that one run) and
# ratios.md (the ratios the targets speak of, from bench/ratios.go), and
# copies them into BENCHMARKS.md between its generated markers.
set -euo pipefail
cd "$(dirname "$0")/.."

COUNT=${COUNT:-10}             # samples per timed benchmark and GOMAXPROCS
BENCHTIME=${BENCHTIME:-200ms}  # per sample
COUNTED=${COUNTED:-3}          # samples of the counted storms and memory
# users of the refresh wave (BenchmarkRefreshWave; 1000 when unset)
export SERVERAUTH_BENCH_WAVE_USERS=${SERVERAUTH_BENCH_WAVE_USERS:-10000}
BENCHSTAT=golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da

out=bench/results
mkdir -p "$out"
raw=$out/latest.txt

machine() {
  echo "date:       $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "commit:     $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- . ':!bench/results' 2>/dev/null || echo ' (dirty)')"
  echo "go:         $(go version)"
  echo "cpu:        $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo "cores:      $(nproc)"
  echo "memory:     $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
  echo "kernel:     $(uname -sr)"
  echo "load avg:   $(cut -d' ' -f1-3 /proc/loadavg)"
}
summarise_only=false
[ "${1:-}" = "-s" ] && summarise_only=true

if ! $summarise_only; then
  for v in SERVERAUTH_TEST_POSTGRES SERVERAUTH_TEST_MYSQL SERVERAUTH_TEST_REDIS; do
    [ -n "${!v:-}" ] || echo "note: $v is unset; its benchmarks will be skipped" >&2
  done

  { echo "# before the run"; machine; } >"$out/machine.txt"
  start=$(date +%s)
  # Timed benchmarks: COUNT samples at GOMAXPROCS 1 and 2, in one process, so
  # that the ratios between them hold on a noisy machine.
  go test -run '^$' -bench '^Benchmark(VerifyIDToken|Token|TokenPopulation|Transport|Exchange|Store|Seal)$' \
    -benchmem -count "$COUNT" -cpu 1,2 -benchtime "$BENCHTIME" -timeout 90m ./bench/ | tee "$raw.tmp"
  # Sign-in throughput (PostgreSQL): a fixed number of sign-ins per sample,
  # enough for a p99, on both cores only; the contenders in turn, then
  # taking turns within each sample.
  go test -run '^$' -bench '^BenchmarkSignIn(Interleaved)?$' -count "$COUNT" -cpu 2 -benchtime "${SIGNINS:-1000}x" -timeout 90m ./bench/ | tee -a "$raw.tmp"
  # Counted benchmarks (storms): one iteration per sample.
  go test -run '^$' -bench '^Benchmark(Storm|StormProcesses)$' \
    -benchmem -count "$COUNTED" -cpu 1,2 -benchtime 1x -timeout 90m ./bench/ | tee -a "$raw.tmp"
  # The refresh wave: one wave per sample, on both cores (its replica
  # processes use every core whatever -cpu says).
  go test -run '^$' -bench '^BenchmarkRefreshWave$' -count "$COUNTED" -cpu 2 -benchtime 1x -timeout 90m ./bench/ | tee -a "$raw.tmp"
  # Memory per user: one sample (it does not vary), a million users.
  go test -run '^$' -bench '^BenchmarkMemory$' -count 1 -cpu 2 -benchtime 1x -timeout 90m ./bench/ | tee -a "$raw.tmp"
  mv "$raw.tmp" "$raw"
  { echo; echo "# after the run ($(( $(date +%s) - start )) s)"; machine; } >>"$out/machine.txt"
fi

bs() { go run "$BENCHSTAT" "$@" "$raw"; }
{
  echo "## ID-token verification"
  bs -filter '.name:VerifyIDToken' -row /gomaxprocs -col '/impl@(floor serverauth serverauth-cached serverauth-no-cache idtoken go-oidc golang-jwt rsa-only)'
  echo "## Token, serial"
  bs -filter '.name:Token /mode:serial' -row /gomaxprocs -col '/impl@(reuse-token-source serverauth serverauth-rotating-users)'
  echo "## Token, parallel: GOMAXPROCS 1 against 2"
  bs -filter '.name:Token /mode:parallel' -row /impl -col /gomaxprocs
  echo "## Client transport"
  bs -filter '.name:Transport' -row /gomaxprocs -col '/impl@(oauth2 serverauth base)'
  echo "## Exchange"
  bs -filter '.name:Exchange' -row /gomaxprocs -col '/impl@(x-oauth2+idtoken x-oauth2+idtoken-detached x-oauth2+idtoken-worker serverauth serverauth+memory-store)'
  echo "## Stores (GOMAXPROCS 1): without and with sealing"
  bs -filter '.name:Store -/gomaxprocs:2' -row /backend,/op -col '/seal@(no yes)'
  echo "## Keyring"
  bs -filter '.name:Seal' -row /op,/field -col /gomaxprocs
  echo "## Sign-in throughput"
  bs -filter '.name:SignIn' -row /fake,/clients -col '/impl@(serverauth glued)'
  echo "## Storms (counted) and memory per user"
  bs -filter '.name:(Storm OR StormProcesses OR Memory)' -row .name,.fullname -col /gomaxprocs
} >"$out/benchstat.txt" 2>&1
go run bench/ratios.go "$raw" >"$out/ratios.md"
cat "$out/ratios.md"
echo "wrote $out/latest.txt, machine.txt, benchstat.txt, ratios.md" >&2

# Put this run's tables into BENCHMARKS.md, between its generated markers.
# The targets table above them is written by hand: check it against these.
if grep -q '^<!-- generated:begin -->' BENCHMARKS.md 2>/dev/null; then
  {
    sed -n '1,/^<!-- generated:begin -->/p' BENCHMARKS.md
    echo
    echo '### Machine and load'
    echo
    echo '```'
    cat "$out/machine.txt"
    echo '```'
    echo
    cat "$out/ratios.md"
    echo
    echo '### benchstat'
    echo
    echo '```'
    cat "$out/benchstat.txt"
    echo '```'
    echo
    sed -n '/^<!-- generated:end -->/,$p' BENCHMARKS.md
  } >BENCHMARKS.md.tmp
  mv BENCHMARKS.md.tmp BENCHMARKS.md
  echo "updated the generated tables of BENCHMARKS.md; review its targets table" >&2
fi
