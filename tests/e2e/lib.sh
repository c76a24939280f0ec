#!/usr/bin/env bash
# Helpers for end-to-end tests with real processes: a fresh database in the throwaway cluster of
# tests/run.sh, a controlplane, node-agents (which start engine-sim), and dictl.
# Every process started here is killed by e2e_cleanup (installed as an EXIT trap by e2e_init).
set -euo pipefail

: "${DI_BIN_DIR:?run through tests/run.sh (DI_BIN_DIR is the build bin directory)}"
: "${DI_TEST_DATABASE_URL:?run through tests/run.sh (it starts PostgreSQL and sets DI_TEST_DATABASE_URL)}"

E2E_PIDS=()
E2E_NAME="$(basename "${0%.sh}")"
E2E_DIR="$(mktemp -d "${TMPDIR:-/tmp}/di-e2e-${E2E_NAME}.XXXXXX")"
E2E_DB=""
# Instances of this test live in the folder `controlplane bootstrap` creates (a fresh random id per
# test), so its engines can be found by their served names. Set by e2e_init.
E2E_FOLDER=""

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
fail() {
  echo "FAIL: $*" >&2
  for f in "$E2E_DIR"/*.log; do
    [ -f "$f" ] || continue
    echo "----- last lines of $f -----" >&2
    tail -n 30 "$f" >&2
  done
  exit 1
}

# A TCP port nobody listens on right now, from 10000-15999: below the kernel's ephemeral range (32768+,
# where every outgoing connection of the parallel tests takes its source port and could take ours between
# this check and the bind) and clear of tests/lib/pg.sh's 16000-19999. Engine ports of agents started
# here are drawn from 20000-31999 for the same reason.
free_port() {
  local port
  for _ in $(seq 1 200); do
    port=$((10000 + RANDOM % 6000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  return 1
}

# The admin DSN with another database name.
dsn_for() {
  local base="${DI_TEST_DATABASE_URL%%\?*}"
  echo "${base%/*}/$1"
}

sql() { psql "$(dsn_for "$E2E_DB")" -v ON_ERROR_STOP=1 -Atqc "$1"; }

e2e_init() {
  trap e2e_cleanup EXIT
  E2E_DB="e2e_$(echo "$E2E_NAME" | tr -c 'a-z0-9\n' '_')_$$"
  psql "$DI_TEST_DATABASE_URL" -v ON_ERROR_STOP=1 -qc "CREATE DATABASE \"$E2E_DB\"" >/dev/null
  export DICTL_FORMAT=table
  # Every call is authenticated: the bootstrap admin key for dictl, the node credential for agents.
  local boot
  boot="$("$DI_BIN_DIR/controlplane" bootstrap --database-url "$(dsn_for "$E2E_DB")" \
    --admin-key-file "$E2E_DIR/admin.key" --node-key-file "$E2E_DIR/node.key" \
    --gateway-key-file "$E2E_DIR/gateway.key" 2>>"$E2E_DIR/bootstrap.log")" || fail "controlplane bootstrap failed"
  E2E_FOLDER="$(jq -r .folder_id <<<"$boot")"
  [ -n "$E2E_FOLDER" ] && [ "$E2E_FOLDER" != null ] || fail "bootstrap printed no folder id: $boot"
  DICTL_API_KEY="$(cat "$E2E_DIR/admin.key")"
  export DICTL_API_KEY
}

# Fails if a secret (any *.key of this test) appears in any log of this test: secrets are never logged.
assert_no_secrets_in_logs() {
  local key secret
  for key in "$E2E_DIR"/*.key; do
    secret="$(cat "$key")"
    if grep -rqF --include='*.log' -- "$secret" "$E2E_DIR"; then
      fail "the secret of $(basename "$key") appears in a log"
    fi
  done
}

e2e_cleanup() {
  local rc=$?
  for pid in "${E2E_PIDS[@]:-}"; do
    [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null || true
  done
  # Up to 5 s for a graceful exit (the agent stops its engines and reports), then SIGKILL.
  for _ in $(seq 1 50); do
    local alive=0
    for pid in "${E2E_PIDS[@]:-}"; do [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for pid in "${E2E_PIDS[@]:-}"; do
    [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null || true
  done
  # Engines die with their agent (parent-death signal); this only makes sure.
  pkill -KILL -f "engine-sim.*dedicated://$E2E_FOLDER/" 2>/dev/null || true
  if [ -n "$E2E_DB" ]; then
    psql "$DI_TEST_DATABASE_URL" -qc "DROP DATABASE IF EXISTS \"$E2E_DB\" WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  if [ "$rc" -eq 0 ]; then rm -rf "$E2E_DIR"; else echo "logs kept in $E2E_DIR" >&2; fi
  exit "$rc"
}

# wait_until <seconds> <description> '<shell condition>': evaluates the condition every 0.2 s (quote it,
# so that command substitutions inside run on every try, not once).
wait_until() {
  local timeout="$1" what="$2" condition="$3"
  local deadline=$((SECONDS + timeout))
  until eval "$condition" >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then fail "timed out after ${timeout}s waiting for: $what"; fi
    sleep 0.2
  done
}

# start_controlplane <port> [extra flags]: runs in the background, pid in CP_PID; logs to
# $E2E_DIR/${CP_LOG:-controlplane}.log.
start_controlplane() {
  local port="$1"
  shift
  "$DI_BIN_DIR/controlplane" serve --database-url "$(dsn_for "$E2E_DB")" --listen "127.0.0.1:$port" \
    --metrics-listen "" --heartbeat-interval 500ms --node-timeout 5s "$@" \
    >>"$E2E_DIR/${CP_LOG:-controlplane}.log" 2>&1 &
  CP_PID=$!
  E2E_PIDS+=("$CP_PID")
  CP_ENDPOINT="127.0.0.1:$port"
  export DICTL_ENDPOINT="$CP_ENDPOINT"
  wait_until 30 "controlplane on $CP_ENDPOINT" '"$DI_BIN_DIR/dictl" --timeout 2s model list' 
}

# start_agent <name> <gpus> [extra flags]: pid in AGENT_PID. The metrics port is picked free, but another
# process may take it between the check and the bind: an agent that exits at once is started again on
# another port (up to 3 tries).
start_agent() {
  local name="$1" gpus="$2"
  shift 2
  local attempt
  for attempt in 1 2 3; do
    local lo=$((20000 + RANDOM % 11500))
    "$DI_BIN_DIR/node-agent" --controlplane "$CP_ENDPOINT" --name "$name" \
      --gpus "$gpus" --gpu-type H100-80GB --metrics-listen "127.0.0.1:$(free_port)" \
      --port-range "$lo-$((lo + 500))" --log-dir "$E2E_DIR/engines-$name" --node-key-file "$E2E_DIR/node.key" "$@" \
      >>"$E2E_DIR/agent-$name.log" 2>&1 &
    AGENT_PID=$!
    sleep 0.5
    if kill -0 "$AGENT_PID" 2>/dev/null; then break; fi
    log "node-agent $name exited at start (attempt $attempt); trying another metrics port"
  done
  E2E_PIDS+=("$AGENT_PID")
  wait_until 30 "node $name registered" 'test "$(nodes_named "$name")" = 1'
}

dictl() { "$DI_BIN_DIR/dictl" "$@"; }

replicas_of() { sql "SELECT count(*) FROM replicas WHERE instance_id = '$1'"; }
nodes_named() { sql "SELECT count(*) FROM nodes WHERE name = '$1'"; }
free_gpus() { sql "SELECT count(*) FROM gpus WHERE replica_id IS NULL"; }
endpoint_of() { sql "SELECT endpoint FROM replicas WHERE instance_id = '$1' AND state = 'READY' LIMIT 1"; }
# engine-sim processes serving an instance (its id is among the served model names).
engines_of() { pgrep -f "engine-sim.*$1" | wc -l; }

# chat <endpoint> <model>: one non-streaming chat completion; prints the assistant's content.
chat() {
  curl -sf --max-time 10 "http://$1/v1/chat/completions" -H 'Content-Type: application/json' \
    -d "{\"model\": \"$2\", \"messages\": [{\"role\": \"user\", \"content\": \"Hello there\"}], \"max_tokens\": 5}" |
    jq -er '.choices[0].message.content'
}
