#!/usr/bin/env bash
# The controlplane read-path benchmark in one command (docs/benchmarks.md, "Controlplane read path"):
# installs missing Debian packages, builds controlplane and controlplane_load in Release into
# build-bench/, starts a throwaway PostgreSQL 15, runs `controlplane bootstrap` (key files in the run
# directory), starts a controlplane on it, seeds instances in the bootstrap folder with the admin key,
# measures InstanceService.Get and List under closed-loop load, then `pgbench -S` (select-only) on the
# same cluster as the yardstick, and prints a summary with the ratio Get RPS / pgbench TPS and PASS/FAIL
# against the goals (ratio >= 0.5, Get p99 <= 5 ms). Every call is authenticated (issue 3).
#
# Issue 3 in the same run ("Issue 3: authorization overhead" in docs/benchmarks.md): the Get run above
# uses the bootstrap admin key while the folder has no bindings (the admin's role is on the cloud); then
# `controlplane_load --setup-iam N` adds N service accounts with ai.models.viewer on the folder plus
# bench-reader with the same role, and Get runs again with bench-reader's key. It prints both p50s and
# their difference, PASS/FAIL against "authorization adds at most 0.2 ms to Get p50".
# Everything it starts is stopped on exit.
#
#   bench/run_controlplane_bench.sh                     defaults: 32 clients, 10 s per run
#   bench/run_controlplane_bench.sh --duration 30 --concurrency 64
#   bench/run_controlplane_bench.sh --skip-build --keep  reuse build-bench/, keep logs and the cluster dir
#   bench/run_controlplane_bench.sh --rounds 5           five Get + pgbench pairs; verdict on the medians
#
# With --rounds N the Get run and pgbench -S alternate N times (a fresh controlplane for each Get run,
# stopped while pgbench runs); the authorization and List runs happen in the first round only. Each
# round prints its ratio and p99, and the verdict is on the medians of the rounds: on a small shared VM
# the host's speed moves single runs by a quarter (docs/benchmarks.md), more than the margin of a goal.
#
# Flags (environment variables in brackets):
#   --duration S         measured seconds of each run, pgbench -T too   [DI_BENCH_DURATION=10]
#   --warmup S           unmeasured load before each gRPC run             [DI_BENCH_WARMUP=2]
#   --concurrency N      calls in flight; pgbench -c                      [DI_BENCH_CONCURRENCY=32]
#   --channels N         gRPC connections of the load client              [DI_BENCH_CHANNELS=4]
#   --db-connections N   controlplane --db-connections                    [DI_BENCH_DB_CONNECTIONS=4]
#   --seed N             instances in the bootstrap folder                [DI_BENCH_SEED=1000]
#   --iam-accounts N     service accounts bound on the folder for the issue-3 run
#                                                                         [DI_BENCH_IAM_ACCOUNTS=1000]
#   --skip-build         use the binaries already in build-bench/bin      [DI_BENCH_SKIP_BUILD=1]
#   --bin-dir DIR        use controlplane and controlplane_load from DIR (no build), e.g. to compare
#                        a branch's build against this one (both must know issue 3: bootstrap,
#                        --api-key-file)                                  [DI_BENCH_BIN_DIR]
#   --rounds N           Get + pgbench pairs; the verdict uses their medians [DI_BENCH_ROUNDS=1]
#   --keep               keep the run directory (logs) instead of removing it
#   --strict             exit 3 when a goal is missed (default: print FAIL, exit 0)

# The cleanup runs only from the EXIT trap, which shellcheck 0.9 takes for unreachable code.
# shellcheck disable=SC2317

set -euo pipefail

DI_REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "${DI_REPO_ROOT}"

duration="${DI_BENCH_DURATION:-10}"
warmup="${DI_BENCH_WARMUP:-2}"
concurrency="${DI_BENCH_CONCURRENCY:-32}"
channels="${DI_BENCH_CHANNELS:-4}"
db_connections="${DI_BENCH_DB_CONNECTIONS:-4}"
seed="${DI_BENCH_SEED:-1000}"
iam_accounts="${DI_BENCH_IAM_ACCOUNTS:-1000}"
skip_build="${DI_BENCH_SKIP_BUILD:-0}"
bin_dir="${DI_BENCH_BIN_DIR:-}"
rounds="${DI_BENCH_ROUNDS:-1}"
keep=0
strict=0

usage() { sed -n '2,/^$/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

while (($# > 0)); do
  case "$1" in
    --duration) duration="$2"; shift 2 ;;
    --warmup) warmup="$2"; shift 2 ;;
    --concurrency) concurrency="$2"; shift 2 ;;
    --channels) channels="$2"; shift 2 ;;
    --db-connections) db_connections="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    --iam-accounts) iam_accounts="$2"; shift 2 ;;
    --skip-build) skip_build=1; shift ;;
    --bin-dir) bin_dir="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --keep) keep=1; shift ;;
    --strict) strict=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "run_controlplane_bench.sh: unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done
for n in "${duration}" "${warmup}" "${concurrency}" "${channels}" "${db_connections}" "${seed}" "${iam_accounts}" "${rounds}"; do
  [[ "${n}" =~ ^[0-9]+$ ]] || { echo "run_controlplane_bench.sh: not a whole number: ${n}" >&2; exit 2; }
done
((duration >= 1 && concurrency >= 1 && seed >= 1 && rounds >= 1)) || {
  echo "run_controlplane_bench.sh: --duration, --concurrency, --seed and --rounds must be at least 1" >&2
  exit 2
}

log() { echo "bench: $*"; }

# Debian packages (di_install_deps) and the throwaway cluster (di_pg_start, di_pg_stop, di_pg_createdb):
# the same helpers as tests/run.sh.
# shellcheck source=tests/lib/deps.sh
source tests/lib/deps.sh
# shellcheck source=tests/lib/pg.sh
source tests/lib/pg.sh
# shellcheck source=bench/bench_lib.sh
source bench/bench_lib.sh
PG_BIN="${DI_PG_BIN:-/usr/lib/postgresql/15/bin}"

# ---------------------------------------------------------------------------------------------------
run_dir=""
controlplane_pid=""

cleanup() {
  local rc=$?
  set +e
  if [[ -n "${controlplane_pid}" ]] && kill -0 "${controlplane_pid}" 2>/dev/null; then
    kill -TERM "${controlplane_pid}"
    wait "${controlplane_pid}" 2>/dev/null
  fi
  bench_drop_run_dir "controlplane.log, pg/postgres.log, *.json, pgbench-*.log; keys/ holds live API keys"
  exit "${rc}"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

source "$(dirname "${BASH_SOURCE[0]}")/cpu_lib.sh"

# Runs a command and reports the cores used by the controlplane, PostgreSQL and the whole machine
# while it ran, in the variable named $1 (a human string).
measure_cpu() {
  local __out="$1"
  shift
  local cp0 pg0 m0 t0 cp1 pg1 m1 t1 start end wall
  cp0="$(proc_ticks "${controlplane_pid:-0}")"
  pg0="$(pg_ticks)"
  read -r m0 t0 < <(machine_ticks)
  start="$(date +%s.%N)"
  "$@"
  end="$(date +%s.%N)"
  cp1="$(proc_ticks "${controlplane_pid:-0}")"
  pg1="$(pg_ticks)"
  read -r m1 t1 < <(machine_ticks)
  wall="$(awk -v a="${start}" -v b="${end}" 'BEGIN { print b - a }')"
  printf -v "${__out}" 'controlplane %s, postgres %s, machine busy %s of %s cores' \
    "$(cores $((cp1 - cp0)) "${wall}")" "$(cores $((pg1 - pg0)) "${wall}")" \
    "$(awk -v b=$((m1 - m0)) -v t=$((t1 - t0)) -v n="${ncpu}" 'BEGIN { printf "%.2f", t ? b / t * n : 0 }')" "${ncpu}"
}

load_average() { cut -d' ' -f1-3 /proc/loadavg; }

# ---------------------------------------------------------------------------------------------------
log "machine: ${ncpu} CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), load average $(load_average)"

di_install_deps

bench_build "${DI_REPO_ROOT}/build-bench" bench-build.log controlplane controlplane_load

run_dir="$(mktemp -d /tmp/di-bench.XXXXXX)"
chmod 0755 "${run_dir}"
di_pg_start "${run_dir}/pg"
di_pg_createdb bench
di_pg_createdb pgbench
database_url="postgresql://postgres@127.0.0.1:${DI_PG_PORT}/bench"

# Issue 3: every call needs a key. bootstrap applies the migrations and creates the default cloud and
# folder and the admin service account (role admin on the cloud); the secrets go to files (mode 0600)
# in a directory only we can read, and are never printed.
keys_dir="${run_dir}/keys"
mkdir -m 0700 "${keys_dir}"
admin_key="${keys_dir}/admin.key"
reader_key="${keys_dir}/bench-reader.key"
log "controlplane bootstrap"
bootstrap_json="$("${BIN}/controlplane" bootstrap --database-url "${database_url}" --admin-key-file "${admin_key}" \
  --node-key-file "${keys_dir}/node.key" --gateway-key-file "${keys_dir}/gateway.key" --log-level warning \
  2>"${run_dir}/bootstrap.log")" || { cat "${run_dir}/bootstrap.log" >&2; log "controlplane bootstrap failed"; exit 1; }
folder="$(jq -r 'if .created then .folder_id else empty end' <<<"${bootstrap_json}")"
[[ -n "${folder}" && -s "${admin_key}" ]] ||
  { echo "${bootstrap_json}" >&2; log "bootstrap created no folder or no admin key"; exit 1; }
log "bootstrap folder ${folder}, admin service account $(jq -r .admin_service_account_id <<<"${bootstrap_json}")"

# --db-connections: the API pool is where Get waits for PostgreSQL. On 2 cores the backends, the
# controlplane and the load client share the CPUs, so a few connections keep PostgreSQL busy while
# gRPC threads do their part; many more only add context switches (see docs/benchmarks.md).
# start_controlplane: sets controlplane_pid, address and the load client's command lines.
start_controlplane() {
  log "starting controlplane (--db-connections ${db_connections})"
  "${BIN}/controlplane" serve --database-url "${database_url}" \
    --listen 127.0.0.1:0 --metrics-listen "" --db-connections "${db_connections}" --log-level info \
    2>>"${run_dir}/controlplane.log" &
  controlplane_pid=$!
  # The controlplane binds port 0 and logs the address it got (the last line is this start's).
  address=""
  local i
  for ((i = 0; i < 300; i++)); do
    address="$(jq -r 'select(.msg == "controlplane serving") | .address' "${run_dir}/controlplane.log" 2>/dev/null |
      tail -n +"$((starts + 1))" | head -n 1)"
    [[ -n "${address}" ]] && break
    kill -0 "${controlplane_pid}" 2>/dev/null || { cat "${run_dir}/controlplane.log" >&2; log "controlplane exited"; exit 1; }
    sleep 0.1
  done
  [[ -n "${address}" ]] || { log "controlplane did not report its address within 30 s"; exit 1; }
  starts=$((starts + 1))
  log "controlplane serving on ${address}"
  # load_nokey: the load client without a key (run_load adds the key of each run); load: with the admin key.
  load_nokey=("${BIN}/controlplane_load" --target "${address}" --folder "${folder}" --channels "${channels}")
  load=("${load_nokey[@]}" --api-key-file "${admin_key}")
  "${load[@]}" --wait-ready 30s --duration 0
}
# The yardstick runs alone: the controlplane is stopped so that its idle pollers do not share the CPU.
stop_controlplane() {
  kill -TERM "${controlplane_pid}"
  wait "${controlplane_pid}" || true
  controlplane_pid=""
}
starts=0
start_controlplane
log "seeding ${seed} instances with the admin key"
"${load[@]}" --seed "${seed}" --duration 0

# Other work on the machine (a compile, say) takes CPU from the benchmark: measure what is busy while
# we are idle, and say so. The load average lags by minutes, so it is printed for the record only.
idle_busy() {
  local m0 t0 m1 t1
  read -r m0 t0 < <(machine_ticks)
  sleep 2
  read -r m1 t1 < <(machine_ticks)
  awk -v b=$((m1 - m0)) -v t=$((t1 - t0)) -v n="${ncpu}" 'BEGIN { printf "%.2f", t ? b / t * n : 0 }'
}
busy_before="$(idle_busy)"
load_before="$(load_average)"
log "before the runs: ${busy_before} of ${ncpu} cores busy with other work; load average ${load_before}"
if awk -v b="${busy_before}" 'BEGIN { exit !(b > 0.25) }'; then
  log "WARNING: other work is using ${busy_before} cores; it competes with the benchmark and the figures will be low"
fi

results=()
# run_load <rpc> [<name of the result> <key file>]: default key: the admin's; result in <name>.json.
run_load() {
  local rpc="$1" name="${2:-$1}" key="${3:-${admin_key}}" out cpu
  out="${run_dir}/${name}.json"
  log "InstanceService.${rpc^} (${name}, key $(basename "${key}")): ${concurrency} clients, ${warmup} s warm-up + ${duration} s"
  measure_cpu cpu "${load_nokey[@]}" --api-key-file "${key}" --rpc "${rpc}" --concurrency "${concurrency}" \
    --warmup "${warmup}s" --duration "${duration}s" --json >"${out}"
  jq -r '"  \(.requests) requests, \(.errors) errors, \(.rps) RPS, p50 \(.p50_ms) ms, p90 \(.p90_ms) ms, p99 \(.p99_ms) ms, max \(.max_ms) ms" +
         (if .first_error != "" then ", first error: \(.first_error)" else "" end)' "${out}"
  echo "  cores used: ${cpu}, load client $(jq -r .client_cpu_cores "${out}")"
  results+=("${name}: ${cpu}, load client $(jq -r .client_cpu_cores "${out}")")
}
pgbench_initialized=0
# run_pgbench <round>: pgbench -S on the same cluster; its TPS goes to tps_of[<round>].
declare -A tps_of=()
pg_cpu=""
run_pgbench() {
  local round="$1" out="${run_dir}/pgbench-$1.log" tps latency
  if ((!pgbench_initialized)); then
    log "pgbench -i -s 1 into database pgbench"
    "${PG_BIN}/pgbench" -h 127.0.0.1 -p "${DI_PG_PORT}" -U postgres -i -s 1 -q pgbench >"${run_dir}/pgbench-init.log" 2>&1 ||
      { cat "${run_dir}/pgbench-init.log" >&2; exit 1; }
    pgbench_initialized=1
  fi
  log "pgbench -S -c ${concurrency} -j 2 -T ${duration} (select-only)"
  measure_cpu pg_cpu "${PG_BIN}/pgbench" -h 127.0.0.1 -p "${DI_PG_PORT}" -U postgres -S -c "${concurrency}" -j 2 \
    -T "${duration}" pgbench >"${out}" 2>&1 || { cat "${out}" >&2; exit 1; }
  # PostgreSQL 15 prints "tps = N (without initial connection time)"; before 14 "(excluding connections establishing)".
  tps="$(sed -nE 's/^tps = ([0-9.]+) \((without initial connection time|excluding connections establishing)\)$/\1/p' "${out}")"
  [[ -n "${tps}" ]] || { cat "${out}" >&2; log "no TPS in the pgbench output"; exit 1; }
  latency="$(sed -nE 's/^latency average = ([0-9.]+) ms$/\1/p' "${out}")"
  echo "  ${tps} TPS, latency average ${latency:-?} ms"
  echo "  cores used: ${pg_cpu} (the rest of the busy cores is pgbench itself)"
  tps_of[${round}]="${tps}"
}

get() { jq -r ".$2" "${run_dir}/$1.json"; }
ratio_of() { awk -v a="$(get "get-$1" rps)" -v b="${tps_of[$1]}" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }'; }

for ((round = 1; round <= rounds; round++)); do
  ((rounds == 1)) || log "round ${round} of ${rounds} (load average $(load_average))"
  ((round == 1)) || start_controlplane
  # Get with the admin key while the folder has no bindings: the "bootstrap admin only" case of issue 3.
  run_load get "get-${round}"
  if ((round == 1)); then
    # Issue 3: many bindings on the folder, and a key whose role comes from one of them. Runs right after
    # the admin Get run so that the two are measured as close together as possible.
    log "IAM fixture: ${iam_accounts} service accounts + bench-reader with ai.models.viewer on the folder"
    "${load[@]}" --setup-iam "${iam_accounts}" --write-key-file "${reader_key}" --duration 0
    run_load get get-reader "${reader_key}"
    # List (admin key) now also scans the folder's bindings, once per call: negligible next to its page.
    run_load list
  fi
  stop_controlplane
  run_pgbench "${round}"
  ((rounds == 1)) || log "round ${round}: Get $(get "get-${round}" rps) RPS, p99 $(get "get-${round}" p99_ms) ms; pgbench ${tps_of[${round}]} TPS; ratio $(ratio_of "${round}")"
done
load_after="$(load_average)"

# ---------------------------------------------------------------------------------------------------
ratios=() p99s=()
for ((round = 1; round <= rounds; round++)); do
  ratios+=("$(ratio_of "${round}")")
  p99s+=("$(get "get-${round}" p99_ms)")
done
ratio="$(median "${ratios[@]}")"
p99="$(median "${p99s[@]}")"
ratio_ok="$(awk -v r="${ratio}" 'BEGIN { print (r >= 0.5) ? "PASS" : "FAIL" }')"
p99_ok="$(awk -v p="${p99}" 'BEGIN { print (p <= 5.0) ? "PASS" : "FAIL" }')"
authz_diff="$(awk -v a="$(get get-1 p50_ms)" -v b="$(get get-reader p50_ms)" 'BEGIN { printf "%.3f", b - a }')"
authz_ok="$(awk -v d="${authz_diff}" 'BEGIN { print (d <= 0.2) ? "PASS" : "FAIL" }')"

echo
echo "== Controlplane read path: ${concurrency} concurrent clients, ${duration} s per run, ${channels} channels, --db-connections ${db_connections}, ${seed} instances"
row() { printf '%-28s %12s %10s %10s %10s %8s\n' "$@"; }
row "run" "RPS/TPS" "p50 ms" "p99 ms" "max ms" "errors"
for ((round = 1; round <= rounds; round++)); do
  name="InstanceService.Get"
  ((rounds == 1)) || name="Get, round ${round}"
  row "${name}" "$(get "get-${round}" rps)" "$(get "get-${round}" p50_ms)" "$(get "get-${round}" p99_ms)" \
    "$(get "get-${round}" max_ms)" "$(get "get-${round}" errors)"
done
row "InstanceService.List (100)" "$(get list rps)" "$(get list p50_ms)" "$(get list p99_ms)" "$(get list max_ms)" "$(get list errors)"
row "Get, bench-reader key" "$(get get-reader rps)" "$(get get-reader p50_ms)" "$(get get-reader p99_ms)" "$(get get-reader max_ms)" "$(get get-reader errors)"
for ((round = 1; round <= rounds; round++)); do
  name="pgbench -S"
  ((rounds == 1)) || name="pgbench -S, round ${round}"
  row "${name}" "${tps_of[${round}]}" "-" "-" "-" "-"
done
echo
if ((rounds == 1)); then
  printf 'Get RPS / pgbench TPS = %s   goal >= 0.5   %s\n' "${ratio}" "${ratio_ok}"
  printf 'Get p99 = %s ms          goal <= 5 ms  %s\n' "${p99}" "${p99_ok}"
else
  printf 'Get RPS / pgbench TPS by round: %s\n' "${ratios[*]}"
  printf 'Get p99 ms by round:            %s\n' "${p99s[*]}"
  printf 'median Get RPS / pgbench TPS = %s   goal >= 0.5   %s\n' "${ratio}" "${ratio_ok}"
  printf 'median Get p99 = %s ms          goal <= 5 ms  %s\n' "${p99}" "${p99_ok}"
fi
echo
echo "== Issue 3: authorization overhead (every call above is authenticated; Get, ${concurrency} clients)"
printf 'Get p50, bootstrap admin key (folder without bindings; admin role on the cloud)  %s ms\n' "$(get get-1 p50_ms)"
printf 'Get p50, bench-reader key (ai.models.viewer on the folder among %s bindings)  %s ms\n' \
  "$((iam_accounts + 1))" "$(get get-reader p50_ms)"
printf 'difference = %s ms   goal: authorization adds <= 0.2 ms to Get p50   %s\n' "${authz_diff}" "${authz_ok}"
echo "(one run each, measured one after the other: run-to-run noise of p50 at this load is often larger than 0.2 ms)"
echo
echo "CPU while running (cores): ${results[0]}"
for r in "${results[@]:1}"; do echo "                           ${r}"; done
echo "                           pgbench: ${pg_cpu}"
echo "other work before the runs: ${busy_before} of ${ncpu} cores busy; load average before: ${load_before}   after: ${load_after}"

if ((strict)) && [[ "${ratio_ok}" != "PASS" || "${p99_ok}" != "PASS" || "${authz_ok}" != "PASS" ]]; then
  exit 3
fi
