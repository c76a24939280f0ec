#!/usr/bin/env bash
# The Create -> ACTIVE throughput benchmark of issue 4 in one command (docs/benchmarks.md, "Issue 4:
# Create -> ACTIVE throughput"): builds controlplane, fleet_sim and fleet_load in Release into
# build-fleet/, starts a throwaway PostgreSQL 15, runs `controlplane bootstrap` (key files in the run
# directory), starts a controlplane, starts fleet_sim (N simulated node-agents with the node credential;
# engines are ready at once), then fleet_load creates the instances with the admin key and prints the
# throughput (ACTIVE instances / time from the first Create to the last ACTIVE), its ratio to the goal
# (200/s) with PASS/MISS, and the per-instance Create -> ACTIVE latency. It also prints the CPU used by
# the controlplane, PostgreSQL, the simulator and the driver during the run, and the busiest statements
# (pg_stat_statements). Everything it starts is stopped on exit.
#
#   bench/run_fleet_bench.sh                        1000 nodes, 5000 instances, 32 Creates in flight
#   bench/run_fleet_bench.sh --instances 1000 --skip-build --keep
#
# Flags (environment variables in brackets):
#   --nodes N              simulated nodes                                   [DI_FLEET_NODES=1000]
#   --gpus SHAPE           fleet shape GPUS:NODES,...                        [DI_FLEET_GPUS=8:500,16:500]
#   --instances N          instances to create                               [DI_FLEET_INSTANCES=5000]
#   --concurrency N        Creates in flight                                 [DI_FLEET_CONCURRENCY=32]
#   --configurations W     weights of S/M/L                                  [DI_FLEET_CONFIGURATIONS=S:60,M:30,L:10]
#   --replicas W           weights of replica counts                         [DI_FLEET_REPLICAS=1:80,2:20]
#   --workers N            controlplane --workers                            [DI_FLEET_WORKERS: its default]
#   --db-connections N     controlplane --db-connections                     [DI_FLEET_DB_CONNECTIONS: its default]
#   --heartbeat-interval D controlplane --heartbeat-interval (the simulated agents follow it)
#                                                                            [DI_FLEET_HEARTBEAT: its default]
#   --controlplane-arg A   one more controlplane serve flag (repeatable), e.g. --controlplane-arg --foo=1
#   --skip-build           use the binaries already in build-fleet/bin       [DI_FLEET_SKIP_BUILD=1]
#   --bin-dir DIR          use controlplane, fleet_sim and fleet_load from DIR (no build)
#   --keep                 keep the run directory (logs, keys, the cluster)
#   --strict               exit 3 when the goal is missed

# The cleanup runs only from the EXIT trap, which shellcheck 0.9 takes for unreachable code.
# shellcheck disable=SC2317

set -euo pipefail

DI_REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "${DI_REPO_ROOT}"

nodes="${DI_FLEET_NODES:-1000}"
gpus="${DI_FLEET_GPUS:-8:500,16:500}"
instances="${DI_FLEET_INSTANCES:-5000}"
concurrency="${DI_FLEET_CONCURRENCY:-32}"
configurations="${DI_FLEET_CONFIGURATIONS:-S:60,M:30,L:10}"
replicas="${DI_FLEET_REPLICAS:-1:80,2:20}"
workers="${DI_FLEET_WORKERS:-}"
db_connections="${DI_FLEET_DB_CONNECTIONS:-}"
heartbeat="${DI_FLEET_HEARTBEAT:-}"
skip_build="${DI_FLEET_SKIP_BUILD:-0}"
bin_dir=""
keep=0
strict=0
extra_cp_args=()

usage() { sed -n '2,/^$/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

while (($# > 0)); do
  case "$1" in
    --nodes) nodes="$2"; shift 2 ;;
    --gpus) gpus="$2"; shift 2 ;;
    --instances) instances="$2"; shift 2 ;;
    --concurrency) concurrency="$2"; shift 2 ;;
    --configurations) configurations="$2"; shift 2 ;;
    --replicas) replicas="$2"; shift 2 ;;
    --workers) workers="$2"; shift 2 ;;
    --db-connections) db_connections="$2"; shift 2 ;;
    --heartbeat-interval) heartbeat="$2"; shift 2 ;;
    --controlplane-arg) extra_cp_args+=("$2"); shift 2 ;;
    --skip-build) skip_build=1; shift ;;
    --bin-dir) bin_dir="$2"; shift 2 ;;
    --keep) keep=1; shift ;;
    --strict) strict=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "run_fleet_bench.sh: unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done
for n in "${nodes}" "${instances}" "${concurrency}" ${workers:+"${workers}"} ${db_connections:+"${db_connections}"}; do
  [[ "${n}" =~ ^[1-9][0-9]*$ ]] || { echo "run_fleet_bench.sh: not a positive whole number: ${n}" >&2; exit 2; }
done

log() { echo "fleet-bench: $*"; }

# shellcheck source=tests/lib/deps.sh
source tests/lib/deps.sh
# shellcheck source=tests/lib/pg.sh
source tests/lib/pg.sh
# shellcheck source=bench/bench_lib.sh
source bench/bench_lib.sh
PG_BIN="${DI_PG_BIN:-/usr/lib/postgresql/15/bin}"

run_dir=""
controlplane_pid=""
sim_pid=""

stop_pid() {
  local pid="$1"
  if [[ -n "${pid}" ]] && kill -0 "${pid}" 2>/dev/null; then
    kill -TERM "${pid}"
    wait "${pid}" 2>/dev/null
  fi
}

cleanup() {
  local rc=$?
  set +e
  stop_pid "${sim_pid}"
  stop_pid "${controlplane_pid}"
  bench_drop_run_dir "controlplane.log, fleet_sim.log, fleet_load.json, pg/postgres.log; keys/ holds live API keys"
  exit "${rc}"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

source "$(dirname "${BASH_SOURCE[0]}")/cpu_lib.sh"
# The idle fleet's own cost, per process, and the machine's: the machine figure alone includes whatever
# else runs on the VM (another engineer's build read as a costlier fleet once).
idle_busy() {
  local m0 t0 m1 t1 cp0 pg0 sim0 cp1 pg1 sim1 s=10
  read -r m0 t0 < <(machine_ticks)
  cp0="$(proc_ticks "${controlplane_pid}")" pg0="$(pg_ticks)" sim0="$(proc_ticks "${sim_pid}")"
  sleep "${s}"
  read -r m1 t1 < <(machine_ticks)
  cp1="$(proc_ticks "${controlplane_pid}")" pg1="$(pg_ticks)" sim1="$(proc_ticks "${sim_pid}")"
  printf 'controlplane %s, postgres %s, fleet_sim %s; machine %s' "$(cores $((cp1 - cp0)) "${s}")" \
    "$(cores $((pg1 - pg0)) "${s}")" "$(cores $((sim1 - sim0)) "${s}")" \
    "$(awk -v b=$((m1 - m0)) -v t=$((t1 - t0)) -v n="${ncpu}" 'BEGIN { printf "%.2f", t ? b / t * n : 0 }')"
}

# ---------------------------------------------------------------------------------------------------
log "machine: ${ncpu} CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
di_install_deps

bench_build "${DI_REPO_ROOT}/build-fleet" fleet-build.log controlplane fleet_sim fleet_load

run_dir="$(mktemp -d /tmp/di-fleet.XXXXXX)"
chmod 0755 "${run_dir}"
di_pg_start "${run_dir}/pg"
# pg_stat_statements shows where PostgreSQL's time goes (it needs a restart to load).
# autovacuum_naptime: the run starts on empty tables, and a connection's prepared statements switch to a
# cached generic plan after 5 executions; planned on an empty table that plan is a sequential scan, and
# only an ANALYZE replaces it. With the default 1 min nap none ran during a run, so a step's instance
# lock cost 2.4-2.7 ms (a scan of the whole table) in some runs and 0.07 ms in others, depending on when
# each connection cached its plan. A deployed database has statistics; a short nap gives the run them too.
_di_pg_as_owner tee -a "${run_dir}/pg/data/postgresql.conf" >/dev/null <<'CONF'
shared_preload_libraries = 'pg_stat_statements'
pg_stat_statements.track = all
autovacuum_naptime = 2s
CONF
_di_pg_as_owner "${PG_BIN}/pg_ctl" restart -D "${run_dir}/pg/data" -l "${run_dir}/pg/postgres.log" \
  -o "-p ${DI_PG_PORT}" -w -t 60 >/dev/null
di_pg_createdb fleet
database_url="postgresql://postgres@127.0.0.1:${DI_PG_PORT}/fleet"
psql_fleet() { psql -h 127.0.0.1 -p "${DI_PG_PORT}" -U postgres -d fleet -X -q "$@"; }
psql_fleet -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null

keys_dir="${run_dir}/keys"
mkdir -m 0700 "${keys_dir}"
admin_key="${keys_dir}/admin.key"
node_key="${keys_dir}/node.key"
log "controlplane bootstrap"
bootstrap_json="$("${BIN}/controlplane" bootstrap --database-url "${database_url}" --admin-key-file "${admin_key}" \
  --node-key-file "${node_key}" --gateway-key-file "${keys_dir}/gateway.key" --log-level warning \
  2>"${run_dir}/bootstrap.log")" || { cat "${run_dir}/bootstrap.log" >&2; log "controlplane bootstrap failed"; exit 1; }
folder="$(jq -r 'if .created then .folder_id else empty end' <<<"${bootstrap_json}")"
[[ -n "${folder}" && -s "${admin_key}" && -s "${node_key}" ]] ||
  { echo "${bootstrap_json}" >&2; log "bootstrap created no folder or no keys"; exit 1; }

cp_args=(--database-url "${database_url}" --listen 127.0.0.1:0 --metrics-listen "" --log-level info)
[[ -n "${workers}" ]] && cp_args+=(--workers "${workers}")
[[ -n "${db_connections}" ]] && cp_args+=(--db-connections "${db_connections}")
[[ -n "${heartbeat}" ]] && cp_args+=(--heartbeat-interval "${heartbeat}")
cp_args+=("${extra_cp_args[@]}")
log "starting controlplane ${cp_args[*]:2}"
"${BIN}/controlplane" serve "${cp_args[@]}" 2>"${run_dir}/controlplane.log" &
controlplane_pid=$!
# The controlplane binds port 0 and logs the address it got.
address=""
for ((i = 0; i < 300; i++)); do
  address="$(jq -r 'select(.msg == "controlplane serving") | .address' "${run_dir}/controlplane.log" 2>/dev/null | head -n 1)"
  [[ -n "${address}" ]] && break
  kill -0 "${controlplane_pid}" 2>/dev/null || { cat "${run_dir}/controlplane.log" >&2; log "controlplane exited"; exit 1; }
  sleep 0.1
done
[[ -n "${address}" ]] || { log "controlplane did not listen within 30 s"; exit 1; }
log "controlplane serving on ${address}"

log "fleet_sim: ${nodes} nodes (${gpus} GPUs:nodes)"
"${BIN}/fleet_sim" --target "${address}" --node-key-file "${node_key}" --nodes "${nodes}" --gpus "${gpus}" \
  --ready-file "${run_dir}/fleet.ready" >"${run_dir}/fleet_sim.json" 2>"${run_dir}/fleet_sim.log" &
sim_pid=$!
for ((i = 0; i < 1500; i++)); do
  [[ -s "${run_dir}/fleet.ready" ]] && break
  kill -0 "${sim_pid}" 2>/dev/null || { cat "${run_dir}/fleet_sim.log" >&2; log "fleet_sim exited"; exit 1; }
  sleep 0.2
done
[[ -s "${run_dir}/fleet.ready" ]] || { cat "${run_dir}/fleet_sim.log" >&2; log "fleet_sim not ready in 5 minutes"; exit 1; }
sed 's/^/  /' "${run_dir}/fleet_sim.log"

# Idle fleet: heartbeats only. What the machine spends on them is the floor under the Create run.
sleep 3
busy_before="$(idle_busy)"
log "with the idle fleet (heartbeats only), cores busy: ${busy_before} of ${ncpu}"
psql_fleet -c "SELECT pg_stat_statements_reset()" >/dev/null

cp0="$(proc_ticks "${controlplane_pid}")"
pg0="$(pg_ticks)"
sim0="$(proc_ticks "${sim_pid}")"
read -r m0 t0 < <(machine_ticks)
start="$(date +%s.%N)"
log "fleet_load: ${instances} instances, ${concurrency} Creates in flight (${configurations}; replicas ${replicas})"
"${BIN}/fleet_load" --target "${address}" --api-key-file "${admin_key}" --folder "${folder}" \
  --instances "${instances}" --concurrency "${concurrency}" --configurations "${configurations}" \
  --replicas "${replicas}" --json >"${run_dir}/fleet_load.json" 2>"${run_dir}/fleet_load.log" ||
  { cat "${run_dir}/fleet_load.log" >&2; log "fleet_load failed"; exit 1; }
end="$(date +%s.%N)"
cp1="$(proc_ticks "${controlplane_pid}")"
pg1="$(pg_ticks)"
sim1="$(proc_ticks "${sim_pid}")"
read -r m1 t1 < <(machine_ticks)
wall="$(awk -v a="${start}" -v b="${end}" 'BEGIN { print b - a }')"
sed 's/^/  /' "${run_dir}/fleet_load.log"

r() { jq -r ".$1" "${run_dir}/fleet_load.json"; }
echo
echo "== Issue 4: Create -> ACTIVE throughput: ${nodes} simulated nodes (${gpus}), ${instances} instances, ${concurrency} Creates in flight"
printf 'instances ACTIVE %s of %s (failed %s, not done %s, Create refused %s); %s GPUs asked\n' \
  "$(r active)" "$(r instances)" "$(r failed)" "$(r not_done)" "$(r create_failed)" "$(r demand_gpus)"
jq -r '.errors | to_entries[] | "  \(.value) x \(.key)"' "${run_dir}/fleet_load.json"
printf 'first Create -> last ACTIVE: %s s\n' "$(r window_s)"
printf 'Create -> ACTIVE latency per instance: p50 %s ms, p90 %s ms, p99 %s ms, max %s ms\n' \
  "$(r latency_p50_ms)" "$(r latency_p90_ms)" "$(r latency_p99_ms)" "$(r latency_max_ms)"
printf 'Creates accepted at %s/s (Create RPC p50 %s ms, p99 %s ms)\n' "$(r create_rate_per_s)" \
  "$(r create_rpc_p50_ms)" "$(r create_rpc_p99_ms)"
printf 'throughput = %s instances/s   goal >= %s/s   ratio %s   %s\n' "$(r throughput_per_s)" "$(r goal_per_s)" \
  "$(r ratio)" "$(r verdict)"
echo
printf 'CPU during the run (%.1f s, cores): controlplane %s, postgres %s, fleet_sim %s, fleet_load %s, machine busy %s of %s\n' \
  "${wall}" "$(cores $((cp1 - cp0)) "${wall}")" "$(cores $((pg1 - pg0)) "${wall}")" "$(cores $((sim1 - sim0)) "${wall}")" \
  "$(r client_cpu_cores)" "$(awk -v b=$((m1 - m0)) -v t=$((t1 - t0)) -v n="${ncpu}" 'BEGIN { printf "%.2f", t ? b / t * n : 0 }')" "${ncpu}"
echo "idle fleet before the run (heartbeats only), cores busy: ${busy_before} of ${ncpu}; load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "PostgreSQL, top statements by total time during the run (pg_stat_statements):"
psql_fleet -P pager=off -c "
  SELECT calls, round(total_exec_time)::bigint AS total_ms, round(mean_exec_time::numeric, 3) AS mean_ms,
         left(regexp_replace(query, '\s+', ' ', 'g'), 110) AS query
  FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 15" | sed 's/^/  /'
psql_fleet -P pager=off -At -c "SELECT 'statements: ' || sum(calls) || ' calls, ' || round(sum(total_exec_time)) || ' ms' FROM pg_stat_statements" | sed 's/^/  /'

stop_pid "${sim_pid}"
sim_pid=""
echo "fleet_sim: $(cat "${run_dir}/fleet_sim.json")"

if ((strict)) && [[ "$(r verdict)" != "PASS" ]]; then
  exit 3
fi
