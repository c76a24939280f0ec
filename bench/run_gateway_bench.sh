#!/usr/bin/env bash
# The gateway overhead benchmark of issue 6 in one command (docs/benchmarks.md, "Issue 6: gateway
# overhead"): one engine-sim, called side by side in one run
#   (a) directly, (b) through the gateway, (c) through nginx (Debian) with proxy_pass and upstream
#   keep-alive,
# by the same load generator (bench/http_load.cc: HTTP/1.1 keep-alive connections, one request in flight
# on each). It installs missing Debian packages (nginx too), builds the binaries in Release into
# build-rel/, starts a throwaway PostgreSQL 15, bootstraps, and starts the real stack: controlplane,
# node-agent (which spawns the engine-sim), gateway. The controlplane reads a copy of the catalog in the
# run directory in which engine-sim has no token delay (--ttft-ms/--inter-token-ms 0 in its command
# template) and L configurations take --engine-concurrency requests at once, so neither the simulator
# nor admission queues requests and what is left to measure is the proxies. One gemma-3-4b-it L instance
# is deployed; a service account with ai.languageModels.user calls it through the gateway; direct and
# nginx calls go to the engine's own endpoint with the same body (and the same Authorization header).
#
# Phases, each run for direct, gateway and nginx in turn:
#   1. closed loop, --connections, non-streaming: throughput (req/s) and latency p50/p99;
#   2. paced, --rate req/s over --connections, non-streaming: latency p50/p99 below saturation; the
#      added latency (gateway - direct, nginx - direct) of this phase is what the goals judge, since at
#      saturation on a shared 2-core machine latency is connections / throughput (Little's law), which
#      phase 1 already reports as the throughput ratio;
#   3. paced, --stream-rate req/s, stream: true: time to the first body byte (first SSE event), p50.
# It prints the CPU used per process in every run (bench/cpu_lib.sh), the ratios and PASS/MISS against
# the goals: gateway throughput >= 0.8x nginx; added p50 <= 0.2 ms, p99 <= 1 ms; streaming first-byte
# overhead p50 <= 0.5 ms. Everything it starts is stopped on exit.
#
#   bench/run_gateway_bench.sh                     64 connections, 10 s per run
#   bench/run_gateway_bench.sh --duration 20 --rate 3000 --skip-build --keep
#   bench/run_gateway_bench.sh --bin-dir A/bin --gateway-b B/bin/gateway --phases paced --rounds 4
#                                                  A/B of two gateway builds, interleaved in one stack
#
# Flags (environment variables in brackets):
#   --duration S           measured seconds of each run                    [DI_GWBENCH_DURATION=10]
#   --warmup S             unmeasured seconds before each run               [DI_GWBENCH_WARMUP=2]
#   --connections N        client connections                               [DI_GWBENCH_CONNECTIONS=64]
#   --rate R               paced non-streaming requests/s (phase 2)         [DI_GWBENCH_RATE=2000]
#   --stream-rate R        paced streaming requests/s (phase 3)             [DI_GWBENCH_STREAM_RATE=500]
#   --max-tokens N         tokens per answer                                [DI_GWBENCH_MAX_TOKENS=16]
#   --engine-concurrency N engine-sim --max-concurrency and the gateway's limit per replica
#                                                                           [DI_GWBENCH_ENGINE_CONCURRENCY=256]
#   --gateway-threads N    gateway --threads (0: one per core)              [DI_GWBENCH_GATEWAY_THREADS=0]
#   --nginx-workers N      nginx worker_processes (auto: one per core)      [DI_GWBENCH_NGINX_WORKERS=auto]
#   --gateway-arg A        one more gateway flag (repeatable)
#   --gateway-b BIN        a second gateway binary (same flags, its own port), measured as target
#                          gateway-b right after gateway in every phase: an A/B in the same minute
#   --gateway-b-arg A      one more flag for gateway-b only (repeatable; an A/B of a flag)
#   --phases LIST          which phases to run, comma-separated       [closed,paced,stream]
#   --rounds N             run the phases N times, with the summary after each round     [1]
#   --skip-build           use the binaries already in build-rel/bin        [DI_GWBENCH_SKIP_BUILD=1]
#   --bin-dir DIR          use the binaries in DIR (no build)
#   --keep                 keep the run directory (logs, configs, keys, the cluster)
#   --strict               exit 3 when a goal is missed

# The cleanup runs only from the EXIT trap, which shellcheck 0.9 takes for unreachable code.
# shellcheck disable=SC2317

set -euo pipefail

DI_REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "${DI_REPO_ROOT}"

duration="${DI_GWBENCH_DURATION:-10}"
warmup="${DI_GWBENCH_WARMUP:-2}"
connections="${DI_GWBENCH_CONNECTIONS:-64}"
rate="${DI_GWBENCH_RATE:-2000}"
stream_rate="${DI_GWBENCH_STREAM_RATE:-500}"
max_tokens="${DI_GWBENCH_MAX_TOKENS:-16}"
engine_concurrency="${DI_GWBENCH_ENGINE_CONCURRENCY:-256}"
gateway_threads="${DI_GWBENCH_GATEWAY_THREADS:-0}"
nginx_workers="${DI_GWBENCH_NGINX_WORKERS:-auto}"
skip_build="${DI_GWBENCH_SKIP_BUILD:-0}"
bin_dir=""
keep=0
strict=0
extra_gateway_args=()
gateway_b_bin=""
gateway_b_args=()
phases="closed,paced,stream"
rounds=1

usage() { sed -n '2,/^$/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

while (($# > 0)); do
  case "$1" in
    --duration) duration="$2"; shift 2 ;;
    --warmup) warmup="$2"; shift 2 ;;
    --connections) connections="$2"; shift 2 ;;
    --rate) rate="$2"; shift 2 ;;
    --stream-rate) stream_rate="$2"; shift 2 ;;
    --max-tokens) max_tokens="$2"; shift 2 ;;
    --engine-concurrency) engine_concurrency="$2"; shift 2 ;;
    --gateway-threads) gateway_threads="$2"; shift 2 ;;
    --nginx-workers) nginx_workers="$2"; shift 2 ;;
    --gateway-arg) extra_gateway_args+=("$2"); shift 2 ;;
    --gateway-b) gateway_b_bin="$2"; shift 2 ;;
    --gateway-b-arg) gateway_b_args+=("$2"); shift 2 ;;
    --phases) phases="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --skip-build) skip_build=1; shift ;;
    --bin-dir) bin_dir="$2"; shift 2 ;;
    --keep) keep=1; shift ;;
    --strict) strict=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "run_gateway_bench.sh: unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done
for n in "${duration}" "${connections}" "${rate}" "${stream_rate}" "${max_tokens}" "${engine_concurrency}" "${rounds}"; do
  [[ "${n}" =~ ^[1-9][0-9]*$ ]] || { echo "run_gateway_bench.sh: not a positive whole number: ${n}" >&2; exit 2; }
done
[[ "${warmup}" =~ ^[0-9]+$ && "${gateway_threads}" =~ ^[0-9]+$ ]] ||
  { echo "run_gateway_bench.sh: --warmup and --gateway-threads must be whole numbers" >&2; exit 2; }
[[ "${nginx_workers}" == auto || "${nginx_workers}" =~ ^[1-9][0-9]*$ ]] ||
  { echo "run_gateway_bench.sh: --nginx-workers must be auto or a positive number" >&2; exit 2; }
for p in ${phases//,/ }; do
  [[ "${p}" =~ ^(closed|paced|stream)$ ]] || { echo "run_gateway_bench.sh: --phases: unknown phase ${p}" >&2; exit 2; }
done
if [[ -n "${gateway_b_bin}" ]]; then
  gateway_b_bin="$(cd "$(dirname "${gateway_b_bin}")" && pwd -P)/$(basename "${gateway_b_bin}")"
  [[ -x "${gateway_b_bin}" ]] || { echo "run_gateway_bench.sh: --gateway-b: not an executable: ${gateway_b_bin}" >&2; exit 2; }
fi

log() { echo "gw-bench: $*"; }

# shellcheck source=tests/lib/deps.sh
source tests/lib/deps.sh
# shellcheck source=tests/lib/pg.sh
source tests/lib/pg.sh
# shellcheck source=bench/cpu_lib.sh
source bench/cpu_lib.sh
# shellcheck source=bench/bench_lib.sh
source bench/bench_lib.sh
# nginx is the reference proxy of this benchmark only, so it is added here rather than to the project's list.
DI_DEBIAN_PACKAGES+=(nginx)

run_dir=""
pids=()         # stopped in reverse order on exit
nginx_pid=""

stop_pid() {
  local pid="$1"
  if [[ -n "${pid}" ]] && kill -0 "${pid}" 2>/dev/null; then
    kill -TERM "${pid}"
    wait "${pid}" 2>/dev/null
  fi
}

cleanup() {
  local rc=$? i
  set +e
  # nginx's master stops its workers on QUIT/TERM; the node-agent stops its engine on TERM.
  stop_pid "${nginx_pid}"
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do stop_pid "${pids[i]}"; done
  bench_drop_run_dir "logs, nginx.conf, catalog.textproto, *.json; keys/ holds live API keys"
  exit "${rc}"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_for <seconds> <what> <command...>: retries the command every 0.1 s.
wait_for() {
  local seconds="$1" what="$2" i
  shift 2
  for ((i = 0; i < seconds * 10; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  log "timed out after ${seconds} s waiting for ${what}"
  return 1
}

# The port a service logged it listens on: log_port <log file> <message> <field>.
log_port() { jq -r --arg m "$2" "select(.msg == \$m) | .$3" "$1" 2>/dev/null | head -n 1; }
logged() { [[ -n "$(log_port "$@")" ]]; }

# ---------------------------------------------------------------------------------------------------
log "machine: ${ncpu} CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
di_install_deps
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"
[[ -x "${NGINX}" ]] || { log "no nginx binary after installing the package"; exit 1; }

bench_build "${DI_REPO_ROOT}/build-rel" gwbench-build.log controlplane node-agent engine-sim dictl gateway http_load

run_dir="$(mktemp -d /tmp/di-gwbench.XXXXXX)"
chmod 0755 "${run_dir}"
di_pg_start "${run_dir}/pg" >/dev/null
di_pg_createdb gwbench >/dev/null
database_url="postgresql://postgres@127.0.0.1:${DI_PG_PORT}/gwbench"

keys_dir="${run_dir}/keys"
mkdir -m 0700 "${keys_dir}"
bootstrap_json="$("${BIN}/controlplane" bootstrap --database-url "${database_url}" \
  --admin-key-file "${keys_dir}/admin.key" --node-key-file "${keys_dir}/node.key" \
  --gateway-key-file "${keys_dir}/gateway.key" --log-level warning 2>"${run_dir}/bootstrap.log")" ||
  { cat "${run_dir}/bootstrap.log" >&2; log "controlplane bootstrap failed"; exit 1; }
folder="$(jq -r .folder_id <<<"${bootstrap_json}")"

# The bench catalog: engine-sim without token delay, L taking engine_concurrency requests at once.
catalog="${run_dir}/catalog.textproto"
sed -e 's/"{ttft_ms}"/"0"/; s/"{inter_token_ms}"/"0"/' \
  -e "s/max_concurrency: 32\$/max_concurrency: ${engine_concurrency}/" catalog/catalog.textproto >"${catalog}"
grep -q '"--ttft-ms", "0", "--inter-token-ms", "0"' "${catalog}" ||
  { log "catalog/catalog.textproto changed shape: cannot zero engine-sim's token delay"; exit 1; }

"${BIN}/controlplane" serve --database-url "${database_url}" --catalog "${catalog}" --listen 127.0.0.1:0 \
  --metrics-listen "" --log-level info 2>"${run_dir}/controlplane.log" &
pids+=($!)
wait_for 30 "the controlplane" logged "${run_dir}/controlplane.log" "controlplane serving" address ||
  { cat "${run_dir}/controlplane.log" >&2; exit 1; }
cp_address="$(log_port "${run_dir}/controlplane.log" "controlplane serving" address)"
export DICTL_ENDPOINT="${cp_address}" DICTL_KEY_FILE="${keys_dir}/admin.key"

"${BIN}/node-agent" --controlplane "${cp_address}" --name gwbench-node --gpus 8 --gpu-type H100-80GB \
  --metrics-listen "" --port-range 20000-29999 --log-dir "${run_dir}/engines" \
  --node-key-file "${keys_dir}/node.key" --log-level warning 2>"${run_dir}/node-agent.log" &
pids+=($!)
# The deploy would fail with RESOURCE_EXHAUSTED if it came before the node's registration.
node_ready() { [[ "$(psql "${database_url}" -XAtqc "SELECT count(*) FROM nodes WHERE state = 'READY'")" == 1 ]]; }
wait_for 30 "the node-agent's registration" node_ready || { cat "${run_dir}/node-agent.log" >&2; exit 1; }

log "deploying one gemma-3-4b-it L instance (engine-sim, no token delay, ${engine_concurrency} at once)"
instance="$("${BIN}/dictl" --format json instance deploy --folder "${folder}" --name gwbench --model gemma-3-4b-it \
  --config L --replicas 1 --wait 2>"${run_dir}/dictl.log" | jq -er .id)" ||
  { cat "${run_dir}/dictl.log" "${run_dir}/node-agent.log" >&2; log "deploy failed"; exit 1; }
model_uri="dedicated://${folder}/${instance}"
engine="$(psql "${database_url}" -XAtqc "SELECT endpoint FROM replicas WHERE instance_id = '${instance}' AND state = 'READY'")"
engine_pid="$(pgrep -f "engine-sim.*${instance}" | head -n 1)"
[[ -n "${engine}" && -n "${engine_pid}" ]] || { log "no READY engine for ${instance}"; exit 1; }

sa="$("${BIN}/dictl" --format json service-account create --folder "${folder}" --name caller | jq -er .id)"
"${BIN}/dictl" --format json api-key create --subject "${sa}" | jq -er .secret >"${keys_dir}/caller.key"
"${BIN}/dictl" access-binding add --folder "${folder}" --role ai.languageModels.user \
  --subject "serviceAccount:${sa}" >/dev/null

gateway_args=(--listen 127.0.0.1:0 --metrics-listen "" --controlplane "${cp_address}"
  --gateway-key-file "${keys_dir}/gateway.key" --threads "${gateway_threads}" --log-level info
  --access-log=false)  # like the nginx it is compared with (no access log)
gateway_args+=("${extra_gateway_args[@]}")
"${BIN}/gateway" "${gateway_args[@]}" 2>"${run_dir}/gateway.log" &
gateway_pid=$!
pids+=("${gateway_pid}")
gateway_b_pid=""
if [[ -n "${gateway_b_bin}" ]]; then
  "${gateway_b_bin}" "${gateway_args[@]}" "${gateway_b_args[@]}" 2>"${run_dir}/gateway-b.log" &
  gateway_b_pid=$!
  pids+=("${gateway_b_pid}")
fi

# nginx as the reference: no daemon, config and temp paths in the run directory, no access log,
# upstream keep-alive (HTTP/1.1 with the Connection header cleared) and no response buffering (so SSE
# events pass at once, as an LLM proxy must).
nginx_port=""
for ((i = 0; i < 200; i++)); do
  port=$((15000 + RANDOM % 1000)) # below the ephemeral range and tests/lib/pg.sh's ports
  [[ -z "$(ss -Hltn "sport = :${port}")" ]] && { nginx_port="${port}"; break; }
done
[[ -n "${nginx_port}" ]] || { log "no free port for nginx in 15000-15999"; exit 1; }
mkdir -p "${run_dir}/nginx"
cat >"${run_dir}/nginx/nginx.conf" <<EOF
worker_processes ${nginx_workers};
daemon off;
pid ${run_dir}/nginx/nginx.pid;
error_log ${run_dir}/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${run_dir}/nginx/body;
  proxy_temp_path ${run_dir}/nginx/proxy;
  fastcgi_temp_path ${run_dir}/nginx/fastcgi;
  uwsgi_temp_path ${run_dir}/nginx/uwsgi;
  scgi_temp_path ${run_dir}/nginx/scgi;
  keepalive_requests 1000000;
  upstream engine {
    server ${engine};
    keepalive 256;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:${nginx_port};
    location / {
      proxy_pass http://engine;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }
  }
}
EOF
"${NGINX}" -p "${run_dir}/nginx" -c "${run_dir}/nginx/nginx.conf" -e "${run_dir}/nginx/error.log" &
nginx_pid=$!

wait_for 30 "the gateway" logged "${run_dir}/gateway.log" "gateway serving" port ||
  { cat "${run_dir}/gateway.log" >&2; exit 1; }
gateway="127.0.0.1:$(log_port "${run_dir}/gateway.log" "gateway serving" port)"
nginx="127.0.0.1:${nginx_port}"
targets=(direct gateway nginx)
gateway_b=""
if [[ -n "${gateway_b_pid}" ]]; then
  wait_for 30 "gateway-b" logged "${run_dir}/gateway-b.log" "gateway serving" port ||
    { cat "${run_dir}/gateway-b.log" >&2; exit 1; }
  gateway_b="127.0.0.1:$(log_port "${run_dir}/gateway-b.log" "gateway serving" port)"
  targets=(direct gateway gateway-b nginx)
fi

body="${run_dir}/chat.json"
stream_body="${run_dir}/chat-stream.json"
printf '{"model": "%s", "messages": [{"role": "user", "content": "Say something."}], "max_tokens": %s}\n' \
  "${model_uri}" "${max_tokens}" >"${body}"
printf '{"model": "%s", "messages": [{"role": "user", "content": "Say something."}], "max_tokens": %s, "stream": true}\n' \
  "${model_uri}" "${max_tokens}" >"${stream_body}"
answers() {
  curl -sf --max-time 5 "http://$1/v1/chat/completions" -H "Authorization: Bearer $(cat "${keys_dir}/caller.key")" \
    -H 'Content-Type: application/json' --data-binary "@${body}" | jq -e ".usage.completion_tokens == ${max_tokens}"
}
for t in "${engine}" "${gateway}" ${gateway_b:+"${gateway_b}"} "${nginx}"; do
  wait_for 30 "an answer from ${t}" answers "${t}" || { cat "${run_dir}/gateway.log" "${run_dir}/nginx/error.log" >&2; exit 1; }
done
log "engine-sim ${engine} (pid ${engine_pid}), gateway ${gateway}${gateway_b:+, gateway-b ${gateway_b} (${gateway_b_bin})}, nginx ${nginx}; model ${model_uri}"

# CPU of a proxy under test: the gateway, or nginx's master and workers.
nginx_ticks() {
  local total child
  total="$(proc_ticks "${nginx_pid}")"
  for child in $(pgrep -P "${nginx_pid}"); do total=$((total + $(proc_ticks "${child}"))); done
  echo "${total}"
}
proxy_ticks() {
  case "$1" in
    gateway) proc_ticks "${gateway_pid}" ;;
    gateway-b) proc_ticks "${gateway_b_pid}" ;;
    nginx) nginx_ticks ;;
    *) echo 0 ;;
  esac
}
address_of() {
  case "$1" in
    direct) echo "${engine}" ;;
    gateway) echo "${gateway}" ;;
    gateway-b) echo "${gateway_b}" ;;
    nginx) echo "${nginx}" ;;
  esac
}

# run <phase> <target> [http_load flags]: writes ${run_dir}/<phase>-<target>.json, with the CPU in cores
# of the proxy, the engine and the machine added as proxy_cpu, engine_cpu, machine_cpu.
run() {
  local phase="$1" target="$2" out p0 e0 m0 t0 p1 e1 m1 t1 start end wall
  shift 2
  out="${run_dir}/${phase}-${target}.json"
  p0="$(proxy_ticks "${target}")"
  e0="$(proc_ticks "${engine_pid}")"
  read -r m0 t0 < <(machine_ticks)
  start="$(date +%s.%N)"
  "${BIN}/http_load" --target "$(address_of "${target}")" --api-key-file "${keys_dir}/caller.key" \
    --connections "${connections}" --duration "${duration}s" --warmup "${warmup}s" "$@" \
    >"${out}.raw" 2>"${run_dir}/${phase}-${target}.log" ||
    { cat "${run_dir}/${phase}-${target}.log" >&2; log "http_load failed (${phase}, ${target})"; exit 1; }
  end="$(date +%s.%N)"
  p1="$(proxy_ticks "${target}")"
  e1="$(proc_ticks "${engine_pid}")"
  read -r m1 t1 < <(machine_ticks)
  wall="$(awk -v a="${start}" -v b="${end}" 'BEGIN { print b - a }')"
  jq --argjson p "$(cores $((p1 - p0)) "${wall}")" --argjson e "$(cores $((e1 - e0)) "${wall}")" \
    --argjson m "$(awk -v b=$((m1 - m0)) -v t=$((t1 - t0)) -v n="${ncpu}" 'BEGIN { printf "%.2f", t ? b / t * n : 0 }')" \
    '. + {proxy_cpu: $p, engine_cpu: $e, machine_cpu: $m}' "${out}.raw" >"${out}"
  printf '  %-8s %-9s %9.0f req/s  p50 %7.3f ms  p99 %7.3f ms%s  errors %s  CPU cores: client %.2f proxy %.2f engine %.2f machine %.2f of %s\n' \
    "${phase}" "${target}" "$(jq .rps "${out}")" "$(jq '.p50_us / 1000' "${out}")" "$(jq '.p99_us / 1000' "${out}")" \
    "$(jq -r 'if .stream then "  first byte p50 \(.first_byte_p50_us / 1000) ms" else "" end' "${out}")" \
    "$(jq .errors "${out}")" "$(jq .client_cpu_cores "${out}")" "$(jq .proxy_cpu "${out}")" \
    "$(jq .engine_cpu "${out}")" "$(jq .machine_cpu "${out}")" "${ncpu}"
}

has_phase() { [[ ",${phases}," == *",$1,"* ]]; }
run_phases() {
  local t
  if has_phase closed; then
    log "phase 1: closed loop, ${connections} connections, ${max_tokens} tokens per answer"
    for t in "${targets[@]}"; do run closed "${t}" --body-file "${body}"; done
  fi
  if has_phase paced; then
    log "phase 2: paced at ${rate} req/s over ${connections} connections"
    for t in "${targets[@]}"; do run paced "${t}" --body-file "${body}" --rate "${rate}"; done
  fi
  if has_phase stream; then
    log "phase 3: streaming, paced at ${stream_rate} req/s over ${connections} connections"
    for t in "${targets[@]}"; do run stream "${t}" --body-file "${stream_body}" --stream --rate "${stream_rate}"; done
  fi
}

# ---------------------------------------------------------------------------------------------------
v() { jq -r ".$2" "${run_dir}/$1.json"; }
# Proxy CPU per request (µs): what the proxy costs, whatever share of the shared cores it got.
# (Cores averaged over the whole run, warm-up included, at about the measured rate.)
per_request_us() { jq -r '(.proxy_cpu / .rps * 1e6) | floor' "${run_dir}/$1.json"; }
ms() { awk -v a="$1" 'BEGIN { printf "%.3f", a / 1000 }'; }
diff_ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (a - b) / 1000 }'; }
verdict() { awk -v x="$1" -v op="$2" -v goal="$3" 'BEGIN { ok = (op == "<=") ? x <= goal : x >= goal; print ok ? "PASS" : "MISS" }'; }

verdicts=() # of the last round
# Per gateway target, the figures of every round (for the medians after the last round): on a small VM the
# speed varies from minute to minute, and one 10 s run of each target says little about a p99.
declare -A all_p50 all_p99 all_ratio all_ttft
all_p50[nginx]=""; all_p99[nginx]=""
summarize() {
  local phase t run_file g ratio add_p50 add_p99 ttft
  echo
  echo "== Issue 6: gateway overhead: ${connections} connections, ${max_tokens} tokens per answer, engine-sim without token delay${gateway_b:+; gateway-b: ${gateway_b_bin}}"
  echo "| run | target | req/s | p50 ms | p99 ms | first byte p50 ms | CPU client / proxy / engine / machine | proxy CPU µs/req |"
  echo "|---|---|---:|---:|---:|---:|---|---:|"
  for phase in closed paced stream; do
    has_phase "${phase}" || continue
    for t in "${targets[@]}"; do
      run_file="${phase}-${t}"
      printf '| %s | %s | %.0f | %s | %s | %s | %.2f / %.2f / %.2f / %.2f | %s |\n' "${phase}" "${t}" "$(v "${run_file}" rps)" \
        "$(ms "$(v "${run_file}" p50_us)")" "$(ms "$(v "${run_file}" p99_us)")" \
        "$(if [[ "${phase}" == stream ]]; then ms "$(v "${run_file}" first_byte_p50_us)"; else echo -; fi)" \
        "$(v "${run_file}" client_cpu_cores)" "$(v "${run_file}" proxy_cpu)" "$(v "${run_file}" engine_cpu)" "$(v "${run_file}" machine_cpu)" \
        "$(if [[ "${t}" == direct ]]; then echo -; else per_request_us "${run_file}"; fi)"
    done
  done
  echo
  verdicts=()
  for g in "${targets[@]}"; do
    [[ "${g}" == gateway* ]] || continue
    if has_phase closed; then
      ratio="$(awk -v g="$(v "closed-${g}" rps)" -v n="$(v closed-nginx rps)" 'BEGIN { printf "%.2f", n ? g / n : 0 }')"
      verdicts+=("$(verdict "${ratio}" '>=' 0.8)")
      all_ratio["${g}"]+=" ${ratio}"
      printf '%s: throughput / nginx = %s   goal >= 0.80   %s   (%s / direct %.2f, nginx / direct %.2f)\n' "${g}" "${ratio}" \
        "$(verdict "${ratio}" '>=' 0.8)" "${g}" \
        "$(awk -v g="$(v "closed-${g}" rps)" -v d="$(v closed-direct rps)" 'BEGIN { print g / d }')" \
        "$(awk -v g="$(v closed-nginx rps)" -v d="$(v closed-direct rps)" 'BEGIN { print g / d }')"
      printf '%s: added latency at saturation (closed loop, for reference): p50 %s ms, p99 %s ms; nginx p50 %s ms, p99 %s ms\n' \
        "${g}" "$(diff_ms "$(v "closed-${g}" p50_us)" "$(v closed-direct p50_us)")" \
        "$(diff_ms "$(v "closed-${g}" p99_us)" "$(v closed-direct p99_us)")" \
        "$(diff_ms "$(v closed-nginx p50_us)" "$(v closed-direct p50_us)")" "$(diff_ms "$(v closed-nginx p99_us)" "$(v closed-direct p99_us)")"
      printf '%s: proxy CPU per request (closed loop): %s µs, nginx %s µs\n' "${g}" "$(per_request_us "closed-${g}")" \
        "$(per_request_us closed-nginx)"
    fi
    if has_phase paced; then
      add_p50="$(diff_ms "$(v "paced-${g}" p50_us)" "$(v paced-direct p50_us)")"
      add_p99="$(diff_ms "$(v "paced-${g}" p99_us)" "$(v paced-direct p99_us)")"
      verdicts+=("$(verdict "${add_p50}" '<=' 0.2)" "$(verdict "${add_p99}" '<=' 1)")
      all_p50["${g}"]+=" ${add_p50}"
      all_p99["${g}"]+=" ${add_p99}"
      printf '%s: added latency at %s req/s: p50 %s ms (goal <= 0.2) %s, p99 %s ms (goal <= 1) %s; nginx p50 %s ms, p99 %s ms\n' \
        "${g}" "${rate}" "${add_p50}" "$(verdict "${add_p50}" '<=' 0.2)" "${add_p99}" "$(verdict "${add_p99}" '<=' 1)" \
        "$(diff_ms "$(v paced-nginx p50_us)" "$(v paced-direct p50_us)")" "$(diff_ms "$(v paced-nginx p99_us)" "$(v paced-direct p99_us)")"
    fi
    if has_phase stream; then
      ttft="$(diff_ms "$(v "stream-${g}" first_byte_p50_us)" "$(v stream-direct first_byte_p50_us)")"
      verdicts+=("$(verdict "${ttft}" '<=' 0.5)")
      all_ttft["${g}"]+=" ${ttft}"
      printf '%s: streaming first-byte overhead p50 at %s req/s: %s ms (goal <= 0.5) %s; nginx %s ms\n' "${g}" "${stream_rate}" \
        "${ttft}" "$(verdict "${ttft}" '<=' 0.5)" "$(diff_ms "$(v stream-nginx first_byte_p50_us)" "$(v stream-direct first_byte_p50_us)")"
    fi
  done
  if has_phase paced; then
    all_p50[nginx]+=" $(diff_ms "$(v paced-nginx p50_us)" "$(v paced-direct p50_us)")"
    all_p99[nginx]+=" $(diff_ms "$(v paced-nginx p99_us)" "$(v paced-direct p99_us)")"
  fi
}

# The figures of every round and their medians, per target.
summarize_rounds() {
  local t
  echo
  echo "== ${rounds} rounds: each round's figure, then the median"
  for t in "${targets[@]}"; do
    [[ "${t}" == direct ]] && continue
    # shellcheck disable=SC2086 # word splitting of the lists is intended
    {
      [[ -n "${all_ratio[${t}]:-}" ]] && printf '%s: throughput / nginx:%s   median %s\n' "${t}" "${all_ratio[${t}]}" "$(median ${all_ratio[${t}]})"
      [[ -n "${all_p50[${t}]:-}" ]] && printf '%s: added p50 ms at %s req/s:%s   median %s\n' "${t}" "${rate}" "${all_p50[${t}]}" "$(median ${all_p50[${t}]})"
      [[ -n "${all_p99[${t}]:-}" ]] && printf '%s: added p99 ms at %s req/s:%s   median %s\n' "${t}" "${rate}" "${all_p99[${t}]}" "$(median ${all_p99[${t}]})"
      [[ -n "${all_ttft[${t}]:-}" ]] && printf '%s: streaming first-byte overhead ms:%s   median %s\n' "${t}" "${all_ttft[${t}]}" "$(median ${all_ttft[${t}]})"
    }
  done
  return 0
}

for ((round = 1; round <= rounds; round++)); do
  ((rounds == 1)) || log "round ${round} of ${rounds} (load average $(cut -d' ' -f1-3 /proc/loadavg))"
  run_phases
  summarize
done
((rounds == 1)) || summarize_rounds

if ((strict)); then
  for x in "${verdicts[@]}"; do
    [[ "${x}" == PASS ]] || exit 3
  done
fi
