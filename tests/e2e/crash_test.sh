#!/usr/bin/env bash
# kill -9 the controlplane while a Create is in flight, start it again: the operation finishes and the
# instance is ACTIVE exactly once, with one engine, not two.
source "$(dirname "$0")/lib.sh"
e2e_init

# A catalog whose engines take 4 s to load, so that the Create is surely in flight when we kill.
catalog="$E2E_DIR/slow-catalog.textproto"
sed 's|"--inter-token-ms", "{inter_token_ms}"]|"--inter-token-ms", "{inter_token_ms}", "--startup-delay", "4s"]|' \
  "$DI_REPO_ROOT/catalog/catalog.textproto" >"$catalog"
grep -q -- '--startup-delay' "$catalog" || fail "could not derive the slow catalog"

port="$(free_port)"
start_controlplane "$port" --catalog "$catalog" --operation-lease 2s
start_agent "e2e-crash-node" 8

op_json="$(dictl --format json instance deploy --folder "$E2E_FOLDER" --name crashy --model qwen2.5-7b-instruct \
  --config S)" || fail "deploy failed: $op_json"
op_id="$(jq -er '.id' <<<"$op_json")"
iid="$(jq -er '.metadata.instance_id' <<<"$op_json")"
wait_until 15 "replica placed" 'test "$(replicas_of "$iid")" = 1' 
[ "$(sql "SELECT done FROM operations WHERE id = '$op_id'")" = f ] || fail "operation finished too early"

log "kill -9 the controlplane mid-operation"
kill -KILL "$CP_PID"
wait "$CP_PID" 2>/dev/null || true
sleep 1
[ "$(sql "SELECT done FROM operations WHERE id = '$op_id'")" = f ] || fail "operation finished while down?"

log "start it again"
start_controlplane "$port" --catalog "$catalog" --operation-lease 2s
result="$(dictl --format json --timeout 10s operation wait "$op_id")" || fail "operation wait failed: $result"
[ "$(jq -r '.status' <<<"$result")" = ACTIVE ] || fail "operation did not end with an ACTIVE instance: $result"
[ "$(dictl --format json instance get "$iid" | jq -r .status)" = ACTIVE ] || fail "instance not ACTIVE"
[ "$(replicas_of "$iid")" = 1 ] || fail "more than one replica"
[ "$(sql "SELECT count(*) FROM state_transitions WHERE instance_id = '$iid' AND replica_id IS NULL
          AND to_state = 'ACTIVE'")" = 1 ] || fail "ACTIVE reached more than once"
[ "$(engines_of "$iid")" = 1 ] || fail "expected exactly one engine, found $(engines_of "$iid")"
[ "$(free_gpus)" = 7 ] || fail "expected 7 free GPUs, got $(free_gpus)"

log "SIGTERM stops the controlplane gracefully"
kill -TERM "$CP_PID"
for _ in $(seq 1 50); do kill -0 "$CP_PID" 2>/dev/null || break; sleep 0.2; done
if kill -0 "$CP_PID" 2>/dev/null; then fail "controlplane still running 10 s after SIGTERM"; fi
grep -q '"controlplane stopped"' "$E2E_DIR/controlplane.log" || fail "no clean stop in the log"
[ "$(engines_of "$iid")" = 1 ] || fail "engines must keep serving while the controlplane is away"

assert_no_secrets_in_logs
log "PASS"
