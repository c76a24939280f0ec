#!/usr/bin/env bash
# node-agent restarts with --keep-engines-on-exit. A SIGTERM'd agent (a systemd restart for an upgrade)
# leaves its engine serving; restarted, it adopts it: same process, the instance stays ACTIVE and answers
# throughout, the replica never leaves READY, no second engine. A kill -9'd agent: the engine keeps
# serving and the next start adopts it too. An instance stopped while the agent is away: the returning
# agent stops the adopted engine. SIGINT stops the engines with the agent.
source "$(dirname "$0")/lib.sh"
e2e_init

start_controlplane "$(free_port)"
node=e2e-keep
start_agent "$node" 4 --keep-engines-on-exit
agent_log="$E2E_DIR/agent-$node.log"

engine_pid_of() { pgrep -f "engine-sim.*$1" | head -1; }
adoptions() { grep -c '"msg":"adopted engine"' "$agent_log" || true; }
# Replica transitions of an instance away from READY after it first became READY.
left_ready() {
  sql "SELECT count(*) FROM state_transitions WHERE instance_id = '$1' AND replica_id IS NOT NULL AND from_state = 'READY'"
}
stop_agent() {
  kill "-$1" "$AGENT_PID"
  wait "$AGENT_PID" 2>/dev/null || true
}
# restart_agent <adoptions expected afterwards>
restart_agent() {
  start_agent "$node" 4 --keep-engines-on-exit
  wait_until 30 "agent adopted its engine" "test \"\$(adoptions)\" -ge $1"
}

iid="$(dictl --format json instance deploy --folder "$E2E_FOLDER" --name keep --model gemma-3-4b-it --config S \
  --wait | jq -er .id)" || fail "deploy failed"
engine="$(engine_pid_of "$iid")"
endpoint="$(endpoint_of "$iid")"
[ -n "$engine" ] && [ -n "$endpoint" ] || fail "no engine or endpoint for $iid"

log "graceful restart (SIGTERM): the engine keeps serving and is adopted"
stop_agent TERM
kill -0 "$engine" 2>/dev/null || fail "the engine died with the agent despite --keep-engines-on-exit"
chat "$endpoint" "$iid" >/dev/null || fail "the engine does not answer while the agent is away"
restart_agent 1
[ "$(engine_pid_of "$iid")" = "$engine" ] || fail "the engine was replaced: $(engine_pid_of "$iid") != $engine"
[ "$(engines_of "$iid")" = 1 ] || fail "expected exactly one engine, found $(engines_of "$iid")"
chat "$(endpoint_of "$iid")" "$iid" >/dev/null || fail "the adopted engine does not answer"
[ "$(endpoint_of "$iid")" = "$endpoint" ] || fail "the endpoint changed"
[ "$(dictl --format json instance get "$iid" | jq -r .status)" = ACTIVE ] || fail "instance not ACTIVE"

log "kill -9: the engine keeps serving and the next start adopts it"
stop_agent KILL
sleep 1
kill -0 "$engine" 2>/dev/null || fail "the engine died with a kill -9'd agent"
restart_agent 2
[ "$(engine_pid_of "$iid")" = "$engine" ] || fail "the engine was replaced after kill -9"
chat "$(endpoint_of "$iid")" "$iid" >/dev/null || fail "the adopted engine does not answer after kill -9"
[ "$(left_ready "$iid")" = 0 ] || fail "the replica left READY during the restarts"

log "the instance is stopped while the agent is away: the returning agent stops its engine"
stop_agent TERM
dictl instance stop "$iid" >/dev/null || fail "stop failed"
restart_agent 3
wait_until 30 "instance STOPPED" 'test "$(dictl --format json instance get "$iid" | jq -r .status)" = STOPPED'
wait_until 10 "engine of $iid gone" 'test "$(engines_of "$iid")" = 0'
[ "$(free_gpus)" = 4 ] || fail "GPUs not freed: $(free_gpus) free"

log "SIGINT stops the engines even with --keep-engines-on-exit"
iid2="$(dictl --format json instance deploy --folder "$E2E_FOLDER" --name keep2 --model gemma-3-4b-it --config S \
  --wait | jq -er .id)" || fail "second deploy failed"
[ "$(engines_of "$iid2")" = 1 ] || fail "no engine for $iid2"
stop_agent INT
[ "$(engines_of "$iid2")" = 0 ] || fail "SIGINT left the engine running"

assert_no_secrets_in_logs
log "PASS"
