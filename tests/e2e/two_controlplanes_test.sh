#!/usr/bin/env bash
# Two controlplanes on one database share the work (issue 4): a Create goes through the first, which is
# killed with -9 while the operation is in flight; the second completes it. The instance is ACTIVE once,
# with one engine.
source "$(dirname "$0")/lib.sh"
e2e_init

# Engines that take 4 s to load keep the operation in flight long enough.
catalog="$E2E_DIR/slow-catalog.textproto"
sed 's|"--inter-token-ms", "{inter_token_ms}"]|"--inter-token-ms", "{inter_token_ms}", "--startup-delay", "4s"]|' \
  "$DI_REPO_ROOT/catalog/catalog.textproto" >"$catalog"
grep -q -- '--startup-delay' "$catalog" || fail "could not derive the slow catalog"

CP_LOG=controlplane-1 start_controlplane "$(free_port)" --catalog "$catalog" --operation-lease 2s
first_pid="$CP_PID"
first_endpoint="$CP_ENDPOINT"
CP_LOG=controlplane-2 start_controlplane "$(free_port)" --catalog "$catalog" --operation-lease 2s
second_pid="$CP_PID"
start_agent "e2e-shared-node" 8  # talks to the second, the survivor

op_json="$(DICTL_ENDPOINT="$first_endpoint" "$DI_BIN_DIR/dictl" --format json instance deploy \
  --folder "$E2E_FOLDER" --name shared --model qwen2.5-7b-instruct --config S)" || fail "deploy failed: $op_json"
op_id="$(jq -er '.id' <<<"$op_json")"
iid="$(jq -er '.metadata.instance_id' <<<"$op_json")"
wait_until 15 "replica placed" 'test "$(replicas_of "$iid")" = 1'
[ "$(sql "SELECT done FROM operations WHERE id = '$op_id'")" = f ] || fail "operation finished too early"

log "kill -9 the first controlplane mid-operation"
kill -KILL "$first_pid"
wait "$first_pid" 2>/dev/null || true

result="$(dictl --format json --timeout 10s operation wait "$op_id")" || fail "operation wait failed: $result"
[ "$(jq -r '.status' <<<"$result")" = ACTIVE ] || fail "operation did not end with an ACTIVE instance: $result"
# (info lines reach the log within ~10 ms, docs/operations.md "Logs")
wait_until 5 "the second controlplane's log of $op_id" 'grep -q "\"operation_id\":\"$op_id\"" "$E2E_DIR/controlplane-2.log"'
kill -0 "$second_pid" || fail "the second controlplane died"
[ "$(replicas_of "$iid")" = 1 ] || fail "more than one replica"
[ "$(sql "SELECT count(*) FROM state_transitions WHERE instance_id = '$iid' AND replica_id IS NULL
          AND to_state = 'ACTIVE'")" = 1 ] || fail "ACTIVE reached more than once"
[ "$(engines_of "$iid")" = 1 ] || fail "expected exactly one engine, found $(engines_of "$iid")"
[ "$(free_gpus)" = 7 ] || fail "expected 7 free GPUs, got $(free_gpus)"

assert_no_secrets_in_logs
log "PASS"
