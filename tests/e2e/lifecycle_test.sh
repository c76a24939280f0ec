#!/usr/bin/env bash
# End to end with real processes: PostgreSQL + controlplane + node-agent + engine-sim, driven by dictl.
# deploy -> operation done -> ACTIVE -> a chat completion answered by the instance's engine -> stop ->
# start -> delete; GPUs back to free and no engine left behind.
source "$(dirname "$0")/lib.sh"
e2e_init

start_controlplane "$(free_port)"
start_agent "e2e-node-1" 8

log "catalog is served"
dictl model list | grep -q "gemma-3-4b-it" || fail "model list lacks gemma-3-4b-it"

log "deploy and wait"
instance_json="$(dictl --format json instance deploy --folder "$E2E_FOLDER" --name chat --model gemma-3-4b-it \
  --config M --wait)" || fail "deploy failed: $instance_json"
iid="$(jq -er '.id' <<<"$instance_json")" || fail "no instance id in: $instance_json"
[ "$(jq -r '.status' <<<"$instance_json")" = "ACTIVE" ] || fail "not ACTIVE after --wait: $instance_json"
[ "$(jq -r '.model_uri' <<<"$instance_json")" = "dedicated://$E2E_FOLDER/$iid" ] || fail "bad model_uri"
[ "$(free_gpus)" = 6 ] || fail "M holds 2 GPUs: expected 6 free, got $(free_gpus)"
[ "$(engines_of "$iid")" = 1 ] || fail "expected one engine for $iid"

log "the instance's engine answers a chat completion (model = model_uri)"
endpoint="$(endpoint_of "$iid")"
[ -n "$endpoint" ] || fail "no READY replica endpoint"
reply="$(chat "$endpoint" "dedicated://$E2E_FOLDER/$iid")" || fail "chat completion failed at $endpoint"
[ -n "$reply" ] || fail "empty reply"
chat "$endpoint" "$iid" >/dev/null || fail "the bare instance id is accepted as model too"

log "list and get"
dictl instance list --folder "$E2E_FOLDER" | grep -q "ACTIVE" || fail "list does not show ACTIVE"
[ "$(dictl --format json instance get "$iid" | jq -r .status)" = ACTIVE ] || fail "get does not show ACTIVE"

log "stop"
dictl instance stop "$iid" --wait >/dev/null || fail "stop failed"
[ "$(dictl --format json instance get "$iid" | jq -r .status)" = STOPPED ] || fail "not STOPPED"
[ "$(free_gpus)" = 8 ] || fail "GPUs not freed after stop"
wait_until 10 "engine of $iid gone" 'test "$(engines_of "$iid")" = 0' 
if curl -sf --max-time 2 "http://$endpoint/health" >/dev/null; then fail "engine still answers after stop"; fi

log "start"
dictl instance start "$iid" --wait >/dev/null || fail "start failed"
[ "$(dictl --format json instance get "$iid" | jq -r .status)" = ACTIVE ] || fail "not ACTIVE after start"
chat "$(endpoint_of "$iid")" "$iid" >/dev/null || fail "no answer after start"

log "delete"
dictl instance delete "$iid" --wait >/dev/null || fail "delete failed"
if dictl instance get "$iid" >/dev/null 2>&1; then fail "deleted instance still found"; fi
out="$(dictl instance get "$iid" 2>&1)" && fail "get of a deleted instance succeeded"
grep -q "NOT_FOUND" <<<"$out" || fail "get of a deleted instance should say NOT_FOUND, said: $out"
[ "$(free_gpus)" = 8 ] || fail "GPUs not freed after delete"
wait_until 10 "no engine left" 'test "$(engines_of "$iid")" = 0' 
if dictl instance delete "$iid" >/dev/null 2>&1; then fail "second delete should fail"; fi

log "a failed deploy exits non-zero with the server's message"
out="$(dictl instance deploy --folder "$E2E_FOLDER" --name big --model gemma-3-4b-it --config L --replicas 3 \
  --wait 2>&1)" && fail "deploy needing 12 GPUs on 8 should fail"
grep -q "RESOURCE_EXHAUSTED" <<<"$out" || fail "expected RESOURCE_EXHAUSTED, got: $out"
[ "$(free_gpus)" = 8 ] || fail "GPUs leaked by the failed deploy"

assert_no_secrets_in_logs
log "PASS"
