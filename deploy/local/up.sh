#!/usr/bin/env bash
# Starts the whole stack on this machine (design.md, section 3 "Local stack"):
#   Debian packages -> release build in build/ -> PostgreSQL under .local/pg -> migrations ->
#   controlplane, one node-agent (8 simulated H100 GPUs, engine-sim), gateway -> health checks ->
#   bootstrap (admin key in .local/admin.key, node and gateway credentials beside it).
# Idempotent: what already runs is left running. Stop it all with deploy/local/down.sh.
#
# Environment: DI_PG_PORT  preferred PostgreSQL port (default 5432; a free one if that is taken).
set -euo pipefail

# shellcheck source=deploy/local/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "${DI_REPO_ROOT}"
# shellcheck source=tests/lib/deps.sh
source tests/lib/deps.sh
# shellcheck source=tests/lib/pg.sh
source tests/lib/pg.sh

# Default addresses of the public contract (design.md, section 3).
CONTROLPLANE_ADDR=127.0.0.1:50051
CONTROLPLANE_METRICS_ADDR=127.0.0.1:9464
GATEWAY_ADDR=127.0.0.1:8080
GATEWAY_METRICS_ADDR=127.0.0.1:9465
NODE_AGENT_METRICS_ADDR=127.0.0.1:9466
DATABASE=dedicated
HEALTH_TIMEOUT_SECONDS=60

log() { echo "up.sh: $*"; }
die() {
  echo "up.sh: $*" >&2
  exit 1
}

# Starts service $1 (a binary of build/bin) with the arguments that follow, unless it already runs.
# Its own session makes it independent of this terminal, and lets down.sh stop the whole group.
start_service() {
  local name="$1" pid waited
  shift
  if pid="$(di_local_pid "${name}")"; then
    log "${name} already running (pid ${pid})"
    return 0
  fi
  log "starting ${name}: log ${DI_LOCAL_LOG_DIR}/${name}.log"
  echo "--- $(date -Is) up.sh: ${name} $*" >>"${DI_LOCAL_LOG_DIR}/${name}.log"
  setsid "${DI_LOCAL_BIN_DIR}/${name}" "$@" >>"${DI_LOCAL_LOG_DIR}/${name}.log" 2>&1 </dev/null &
  pid=$!
  echo "${pid}" >"${DI_LOCAL_RUN_DIR}/${name}.pid"
  # Until setsid has exec'd the binary, the pid runs bash or setsid and di_local_pid disowns it.
  for ((waited = 0; waited < 50; waited++)); do
    if di_local_pid "${name}" >/dev/null || ! kill -0 "${pid}" 2>/dev/null; then
      break
    fi
    sleep 0.1
  done
}

# Health checks: true once the service answers.
healthy_controlplane() {
  timeout 5 "${DI_LOCAL_BIN_DIR}/dictl" --endpoint "${CONTROLPLANE_ADDR}" --timeout 3s \
    --key-file "${DI_LOCAL_DIR}/admin.key" model list --format json >/dev/null 2>&1
}
healthy_node-agent() { curl -fsS -m 3 -o /dev/null "http://${NODE_AGENT_METRICS_ADDR}/metrics"; }
healthy_gateway() { curl -fsS -m 3 -o /dev/null "http://${GATEWAY_METRICS_ADDR}/metrics"; }

# Waits until every service in "$@" is healthy; fails early if one of them exits.
wait_healthy() {
  local deadline=$((SECONDS + HEALTH_TIMEOUT_SECONDS)) name
  local -a pending=("$@") still
  while ((${#pending[@]} > 0)); do
    still=()
    for name in "${pending[@]}"; do
      if ! di_local_pid "${name}" >/dev/null; then
        tail -n 20 "${DI_LOCAL_LOG_DIR}/${name}.log" >&2 || true
        die "${name} exited during start-up; its log: ${DI_LOCAL_LOG_DIR}/${name}.log (tail above)"
      fi
      if "healthy_${name}"; then
        log "${name} is healthy"
      else
        still+=("${name}")
      fi
    done
    pending=("${still[@]}")
    ((${#pending[@]} > 0)) || break
    if ((SECONDS >= deadline)); then
      for name in "${pending[@]}"; do
        tail -n 20 "${DI_LOCAL_LOG_DIR}/${name}.log" >&2 || true
        echo "up.sh: ${name} not healthy after ${HEALTH_TIMEOUT_SECONDS}s; its log: ${DI_LOCAL_LOG_DIR}/${name}.log" >&2
      done
      die "giving up; stop what started with deploy/local/down.sh"
    fi
    sleep 0.5
  done
}

# 1. Packages and the release build. Ninja rebuilds only what changed, so this is quick when
# nothing did. Tests and benchmarks are not part of the stack.
di_install_deps
if [[ ! -f "${DI_LOCAL_BUILD_DIR}/CMakeCache.txt" ]]; then
  log "configuring ${DI_LOCAL_BUILD_DIR} (RelWithDebInfo)"
  cmake -S . -B "${DI_LOCAL_BUILD_DIR}" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DDI_BUILD_TESTS=OFF -DDI_BUILD_BENCH=OFF
fi
log "building ${DI_LOCAL_BUILD_DIR}"
cmake --build "${DI_LOCAL_BUILD_DIR}" -j2
for bin in controlplane node-agent engine-sim dictl gateway; do
  [[ -x "${DI_LOCAL_BIN_DIR}/${bin}" ]] || die "the build produced no ${DI_LOCAL_BIN_DIR}/${bin}"
done

# 2. PostgreSQL, reused if it already runs.
mkdir -p "${DI_LOCAL_LOG_DIR}" "${DI_LOCAL_LOG_DIR}/engines" "${DI_LOCAL_RUN_DIR}"
di_pg_start "${DI_LOCAL_PG_DIR}" "${DI_PG_PORT:-5432}"
di_pg_createdb "${DATABASE}"
DATABASE_URL="$(di_pg_url "${DATABASE}")"
cat >"${DI_LOCAL_DIR}/env" <<EOF
# Written by deploy/local/up.sh: source it to talk to the local stack.
export DI_PG_PORT=${DI_PG_PORT}
export DI_DATABASE_URL=${DATABASE_URL}
export DICTL_ENDPOINT=${CONTROLPLANE_ADDR}
EOF

# 3. Migrations (safe to repeat: applied ones are recorded).
log "applying migrations to ${DATABASE_URL}"
if ! "${DI_LOCAL_BIN_DIR}/controlplane" migrate --database-url "${DATABASE_URL}" \
  >>"${DI_LOCAL_LOG_DIR}/migrate.log" 2>&1; then
  tail -n 20 "${DI_LOCAL_LOG_DIR}/migrate.log" >&2
  die "migrations failed; log: ${DI_LOCAL_LOG_DIR}/migrate.log"
fi

# 3b. Bootstrap (first start only): the default cloud and folder, the admin service account and its
# key, and the credentials of node-agents and gateways, each written to .local/*.key with mode 0600.
# On a database that is already bootstrapped it creates nothing (and the key files from that first run
# are still here, since the database lives in .local/ too).
KEY_FILE="${DI_LOCAL_DIR}/admin.key"
NODE_KEY_FILE="${DI_LOCAL_DIR}/node.key"
GATEWAY_KEY_FILE="${DI_LOCAL_DIR}/gateway.key"
if ! boot_json="$("${DI_LOCAL_BIN_DIR}/controlplane" bootstrap --database-url "${DATABASE_URL}" \
  --admin-key-file "${KEY_FILE}" --node-key-file "${NODE_KEY_FILE}" --gateway-key-file "${GATEWAY_KEY_FILE}" \
  2>>"${DI_LOCAL_LOG_DIR}/bootstrap.log")"; then
  tail -n 20 "${DI_LOCAL_LOG_DIR}/bootstrap.log" >&2
  die "controlplane bootstrap failed; log: ${DI_LOCAL_LOG_DIR}/bootstrap.log"
fi
FOLDER_ID="$(jq -r .folder_id <<<"${boot_json}")"
CLOUD_ID="$(jq -r .cloud_id <<<"${boot_json}")"
if [[ "$(jq -r .created <<<"${boot_json}")" == true ]]; then
  log "bootstrapped: cloud ${CLOUD_ID}, folder ${FOLDER_ID}; admin key in ${KEY_FILE}"
else
  log "already bootstrapped (cloud ${CLOUD_ID}, folder ${FOLDER_ID}); keys kept in ${DI_LOCAL_DIR}"
fi
for f in "${KEY_FILE}" "${NODE_KEY_FILE}"; do
  [[ -s "${f}" ]] || die "${f} is missing but the database is already bootstrapped; start over with deploy/local/down.sh --purge"
done
cat >>"${DI_LOCAL_DIR}/env" <<EOF
export DI_CLOUD_ID=${CLOUD_ID}
export DI_FOLDER_ID=${FOLDER_ID}
export DICTL_KEY_FILE=${KEY_FILE}
EOF

# 4. The processes. The node-agent finds engine-sim next to itself in build/bin.
start_service controlplane serve --database-url "${DATABASE_URL}" \
  --listen "${CONTROLPLANE_ADDR}" --metrics-listen "${CONTROLPLANE_METRICS_ADDR}"
start_service node-agent --controlplane "${CONTROLPLANE_ADDR}" --name local-node-1 --gpus 8 \
  --gpu-type H100-80GB --metrics-listen "${NODE_AGENT_METRICS_ADDR}" \
  --log-dir "${DI_LOCAL_LOG_DIR}/engines" --node-key-file "${NODE_KEY_FILE}"
services=(controlplane node-agent)
if [[ -x "${DI_LOCAL_BIN_DIR}/gateway" ]]; then
  start_service gateway --listen "${GATEWAY_ADDR}" --metrics-listen "${GATEWAY_METRICS_ADDR}" \
    --controlplane "${CONTROLPLANE_ADDR}" --gateway-key-file "${GATEWAY_KEY_FILE}"
  services+=(gateway)
else
  log "no ${DI_LOCAL_BIN_DIR}/gateway in this build yet: starting without the gateway"
fi

log "waiting up to ${HEALTH_TIMEOUT_SECONDS}s for: ${services[*]}"
wait_healthy "${services[@]}"

# 6. How to use it.
cat <<EOF

The local stack is up.
  controlplane  gRPC ${CONTROLPLANE_ADDR}, metrics http://${CONTROLPLANE_METRICS_ADDR}/metrics
  node-agent    local-node-1, 8 x H100-80GB (simulated by engine-sim), metrics http://${NODE_AGENT_METRICS_ADDR}/metrics
EOF
if [[ " ${services[*]} " == *" gateway "* ]]; then
  echo "  gateway       OpenAI API http://${GATEWAY_ADDR}/v1, metrics http://${GATEWAY_METRICS_ADDR}/metrics"
fi
cat <<EOF
  PostgreSQL    ${DATABASE_URL}

Use it:
  source .local/env          # or: export DICTL_ENDPOINT=${CONTROLPLANE_ADDR}
  build/bin/dictl model list
  build/bin/dictl instance deploy --folder ${FOLDER_ID} --name my-gemma --model gemma-3-4b-it --config S --wait

  dictl reads the admin key from ${KEY_FILE} (header 'authorization: Api-Key <key>');
  for other callers: build/bin/dictl service-account create --folder ${FOLDER_ID} --name app, then api-key create.
EOF
cat <<EOF

Logs: ${DI_LOCAL_LOG_DIR}/<name>.log (engines in ${DI_LOCAL_LOG_DIR}/engines/), PostgreSQL: ${DI_LOCAL_PG_DIR}/postgres.log
Stop: deploy/local/down.sh (add --purge to delete .local/ with the database)
EOF
