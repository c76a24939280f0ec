#!/usr/bin/env bash
# Three node-agents of 4 GPUs; S, M and L instances; kill -9 the agent under the L instance: its node
# goes DOWN, the replica moves to the node that still has 4 free GPUs and the instance is ACTIVE again by
# itself, answering chat. The killed agent's engines died with it (parent-death signal); restarted, it
# registers again, gets no replica back, and no orphan engine holds its GPUs.
source "$(dirname "$0")/lib.sh"
e2e_init

start_controlplane "$(free_port)"
start_agent "e2e-node-a" 4
pid_a="$AGENT_PID"
start_agent "e2e-node-b" 4
pid_b="$AGENT_PID"
start_agent "e2e-node-c" 4
pid_c="$AGENT_PID"

deploy() {
  dictl --format json instance deploy --folder "$E2E_FOLDER" --name "$1" --model gemma-3-4b-it --config "$2" \
    --wait | jq -er .id
}
s_id="$(deploy small S)" || fail "deploy S failed"
m_id="$(deploy medium M)" || fail "deploy M failed"
l_id="$(deploy large L)" || fail "deploy L failed"
node_of() { sql "SELECT n.name FROM replicas r JOIN nodes n ON n.id = r.node_id WHERE r.instance_id = '$1'"; }
log "placed: S on $(node_of "$s_id"), M on $(node_of "$m_id"), L on $(node_of "$l_id")"
[ "$(node_of "$s_id")" = "$(node_of "$m_id")" ] || fail "best fit should pack S and M on one node"
victim="$(node_of "$l_id")"
case "$victim" in
  e2e-node-a) victim_pid="$pid_a" ;;
  e2e-node-b) victim_pid="$pid_b" ;;
  e2e-node-c) victim_pid="$pid_c" ;;
  *) fail "L instance is on no node: '$victim'" ;;
esac

log "kill -9 the agent of $victim"
kill -KILL "$victim_pid"
wait "$victim_pid" 2>/dev/null || true
wait_until 30 "node $victim DOWN" 'test "$(sql "SELECT state FROM nodes WHERE name = '"'$victim'"'")" = DOWN'
wait_until 60 "L instance moved and ACTIVE" \
  'test "$(dictl --format json instance get "$l_id" | jq -r .status)" = ACTIVE && test "$(node_of "$l_id")" != "$victim"'
log "L instance now on $(node_of "$l_id")"
chat "$(endpoint_of "$l_id")" "$l_id" >/dev/null || fail "the moved instance does not answer"
[ "$(sql "SELECT count(*) FROM operations WHERE kind = 'RepairInstance' AND created_by = 'system' AND done AND error IS NULL")" -ge 1 ] \
  || fail "no successful repair operation recorded"
for id in "$s_id" "$m_id"; do
  [ "$(dictl --format json instance get "$id" | jq -r .status)" = ACTIVE ] || fail "instance $id is not ACTIVE"
done

log "restart the killed agent: it gets nothing back, no orphan engine"
start_agent "$victim" 4
wait_until 30 "node $victim READY" 'test "$(sql "SELECT state FROM nodes WHERE name = '"'$victim'"'")" = READY'
[ "$(sql "SELECT count(*) FROM replicas r JOIN nodes n ON n.id = r.node_id WHERE n.name = '$victim'")" = 0 ] \
  || fail "replicas still assigned to the restarted node"
[ "$(engines_of "$l_id")" = 1 ] || fail "expected exactly one engine for the L instance, found $(engines_of "$l_id")"
[ "$(sql "SELECT count(*) FROM gpus WHERE replica_id IS NOT NULL")" = 7 ] || fail "GPUs in use should be 1 + 2 + 4"

assert_no_secrets_in_logs
log "PASS"
