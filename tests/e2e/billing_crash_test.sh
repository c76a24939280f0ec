#!/usr/bin/env bash
# Billing across a crash: kill -9 the controlplane while an instance is ACTIVE, start it again some
# seconds later, stop the instance. Its replica's usage is exactly the ACTIVE -> STOPPING span (whole
# seconds), in one interval: no gap while the controlplane was away, nothing counted twice. dictl usage
# reports it (json, csv, table) with the exact cost.
source "$(dirname "$0")/lib.sh"
e2e_init

port="$(free_port)"
start_controlplane "$port"
start_agent "e2e-billing-node" 8

op_json="$(dictl --format json instance deploy --folder "$E2E_FOLDER" --name billed --model gemma-3-4b-it \
  --config S)" || fail "deploy failed: $op_json"
iid="$(jq -er '.metadata.instance_id' <<<"$op_json")"
dictl --format json --timeout 30s operation wait "$(jq -er '.id' <<<"$op_json")" >/dev/null || fail "deploy did not finish"
[ "$(sql "SELECT count(*) FROM billable_intervals WHERE instance_id = '$iid' AND ended_at IS NULL")" = 1 ] ||
  fail "an ACTIVE instance with a READY replica must have one open interval"
sleep 2

log "kill -9 the controlplane while the instance is ACTIVE"
kill -KILL "$CP_PID"
wait "$CP_PID" 2>/dev/null || true
sleep 6
log "start it again"
start_controlplane "$port"
sleep 3
stop_json="$(dictl --format json instance stop "$iid")" || fail "stop failed: $stop_json"
dictl --format json --timeout 30s operation wait "$(jq -er '.id' <<<"$stop_json")" >/dev/null || fail "stop did not finish"

expected="$(sql "SELECT extract(epoch FROM
    date_trunc('second', (SELECT at FROM state_transitions WHERE instance_id = '$iid' AND replica_id IS NULL
                          AND to_state = 'STOPPING'))
  - date_trunc('second', (SELECT at FROM state_transitions WHERE instance_id = '$iid' AND replica_id IS NULL
                          AND to_state = 'ACTIVE')))::bigint")"
[ "$expected" -ge 11 ] || fail "the instance was ACTIVE for at least 11 s, the transitions say $expected"
[ "$(sql "SELECT count(*) FROM billable_intervals WHERE instance_id = '$iid'")" = 1 ] ||
  fail "one interval expected across the crash, got $(sql "SELECT count(*) FROM billable_intervals WHERE instance_id = '$iid'")"

from="$(date -u -d '-1 day' +%F)"
to="$(date -u -d '+1 day' +%F)"
usage="$(dictl --format json usage --folder "$E2E_FOLDER" --from "$from" --to "$to")" || fail "usage failed: $usage"
got="$(jq -r --arg i "$iid" '[.items[] | select(.instance_id == $i) | .billable_seconds | tonumber] | add' <<<"$usage")"
[ "$got" = "$expected" ] || fail "usage $got s, true uptime $expected s: $usage"
# 402 RUB per hour, rounded half up to the kopeck.
cost_minor="$(( (expected * 40200 + 1800) / 3600 ))"
got_minor="$(jq -r --arg i "$iid" '.items[] | select(.instance_id == $i) |
  (.cost.units | tonumber) * 100 + ((.cost.nanos // 0) | tonumber) / 10000000 | floor' <<<"$usage")"
[ "$got_minor" = "$cost_minor" ] || fail "cost $got_minor kopecks, expected $cost_minor"

csv="$(dictl --format csv usage --folder "$E2E_FOLDER" --from "$from" --to "$to")" || fail "csv failed"
grep -q "^$iid,dedicated.gemma-3-4b-it.s,gemma-3-4b-it,S,$expected," <<<"$csv" || fail "csv row missing: $csv"
grep -q "^TOTAL," <<<"$csv" || fail "csv total missing: $csv"
table="$(dictl usage --folder "$E2E_FOLDER" --from "$from" --to "$to")" || fail "table failed"
grep -q "^TOTAL" <<<"$table" || fail "table total missing: $table"
hourly="$(dictl --format json usage --folder "$E2E_FOLDER" --from "$from" --to "$to" --hourly)" || fail "hourly failed"
[ "$(jq -r '[.usage_records[].billable_seconds | tonumber] | add' <<<"$hourly")" = "$expected" ] ||
  fail "hourly records do not add up: $hourly"

assert_no_secrets_in_logs
log "PASS"
