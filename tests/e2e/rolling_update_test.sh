#!/usr/bin/env bash
# A rolling update under traffic: an ACTIVE S instance with one replica answers chat requests from three
# clients that route like a gateway does (to READY replicas meant to run; a DRAINING one gets no new
# requests). Meanwhile `dictl instance update --config M --replicas 2 --wait` rolls it out. Every request
# must succeed, the instance must be ACTIVE throughout, and afterwards two M engines run and the S one is
# gone with its GPU.
source "$(dirname "$0")/lib.sh"
e2e_init

start_controlplane "$(free_port)" --drain-grace 2s
start_agent "e2e-roll-a" 4
start_agent "e2e-roll-b" 4

id="$(dictl --format json instance deploy --folder "$E2E_FOLDER" --name rolling --model gemma-3-4b-it --config S \
  --wait | jq -er .id)" || fail "deploy failed"
log "instance $id ACTIVE with one S replica"

serving_endpoint() {
  sql "SELECT endpoint FROM replicas WHERE instance_id = '$id' AND state = 'READY' AND desired_state = 'RUNNING'
       ORDER BY random() LIMIT 1"
}
# client <n>: requests until $E2E_DIR/stop exists; one line per request in client-<n>.log: ok|FAIL endpoint.
client() {
  local n="$1" endpoint
  while [ ! -e "$E2E_DIR/stop" ]; do
    endpoint="$(serving_endpoint)"
    if [ -n "$endpoint" ] && chat "$endpoint" "$id" >/dev/null 2>&1; then
      echo "ok $endpoint"
    else
      echo "FAIL '$endpoint'"
    fi
  done >"$E2E_DIR/client-$n.log"
}
# The instance's status, sampled while the update runs.
watch_status() {
  while [ ! -e "$E2E_DIR/stop" ]; do
    dictl --format json instance get "$id" | jq -r .status
    sleep 0.2
  done >"$E2E_DIR/statuses.log"
}
client 1 &
c1=$!
client 2 &
c2=$!
client 3 &
c3=$!
watch_status &
w=$!
sleep 1

log "rolling out M x 2"
dictl instance update "$id" --config M --replicas 2 --wait >"$E2E_DIR/update.out" || fail "update failed: $(cat "$E2E_DIR/update.out")"
sleep 1
touch "$E2E_DIR/stop"
wait "$c1" "$c2" "$c3" "$w"

total="$(cat "$E2E_DIR"/client-*.log | wc -l)"
failed="$(cat "$E2E_DIR"/client-*.log | grep -c FAIL || true)"
endpoints="$(cat "$E2E_DIR"/client-*.log | awk '{print $2}' | sort -u | wc -l)"
log "$total requests during the update, $failed failed, served by $endpoints engines"
[ "$failed" = 0 ] || fail "requests failed during the rolling update: $(grep FAIL "$E2E_DIR"/client-*.log | head -5)"
[ "$total" -ge 10 ] || fail "too few requests to show anything: $total"
[ "$endpoints" -ge 2 ] || fail "requests should have reached old and new engines, saw $endpoints endpoint(s)"
if grep -qv '^ACTIVE$' "$E2E_DIR/statuses.log"; then
  fail "the instance left ACTIVE during the update: $(sort "$E2E_DIR/statuses.log" | uniq -c)"
fi

got="$(dictl --format json instance get "$id")"
[ "$(jq -r .configuration <<<"$got")" = M ] || fail "configuration is not M: $got"
[ "$(jq -r .replica_count <<<"$got")" = 2 ] || fail "replica count is not 2: $got"
[ "$(sql "SELECT count(*) FROM replicas WHERE instance_id = '$id' AND configuration = 'M' AND state = 'READY'")" = 2 ] \
  || fail "expected two READY M replicas"
[ "$(replicas_of "$id")" = 2 ] || fail "the S replica is still there"
wait_until 20 "the S engine gone" 'test "$(engines_of "$id")" = 2'
[ "$(free_gpus)" = 4 ] || fail "expected 4 free GPUs (2 x M of 2 GPUs), found $(free_gpus)"
[ "$(sql "SELECT count(*) FROM state_transitions WHERE instance_id = '$id' AND to_state = 'DRAINING'")" = 1 ] \
  || fail "the S replica should have drained before it stopped"

assert_no_secrets_in_logs
log "PASS"
