#!/usr/bin/env bash
# The real Prometheus (Debian package prometheus) scrapes a stack of real processes with the rules of
# deploy/prometheus/: an instance is deployed, then Prometheus' HTTP API must show the key series with
# sensible values, every recording and alerting rule must evaluate without error, and every PromQL
# expression of the Grafana dashboards must evaluate without error.
source "$(dirname "$0")/lib.sh"
: "${DI_REPO_ROOT:?run through tests/run.sh or ctest (DI_REPO_ROOT is the checkout)}"
command -v prometheus >/dev/null || fail "prometheus not found: install the Debian package prometheus (tests/lib/deps.sh)"
e2e_init

cp_port="$(free_port)"
cp_metrics="$(free_port)"
agent_metrics="$(free_port)"
prom_port="$(free_port)"

start_controlplane "$cp_port" --metrics-listen "127.0.0.1:$cp_metrics" --fleet-metrics-interval 1s
start_agent "prom-node" 8 --metrics-listen "127.0.0.1:$agent_metrics"
gateway_target=""
if [ -x "$DI_BIN_DIR/gateway" ]; then
  gw_port="$(free_port)"
  gw_metrics="$(free_port)"
  "$DI_BIN_DIR/gateway" --listen "127.0.0.1:$gw_port" --metrics-listen "127.0.0.1:$gw_metrics" \
    --controlplane "$CP_ENDPOINT" --gateway-key-file "$E2E_DIR/gateway.key" >>"$E2E_DIR/gateway.log" 2>&1 &
  E2E_PIDS+=("$!")
  gateway_target="127.0.0.1:$gw_metrics"
  # shellcheck disable=SC2034 # read inside the wait_until condition below
  GW="127.0.0.1:$gw_port"
else
  log "no gateway binary in $DI_BIN_DIR: the gateway job has no target"
fi

# The repository's configuration with this test's ports, 1 s intervals, and absolute rule paths.
python3 - "$DI_REPO_ROOT/deploy/prometheus/prometheus.yml" "$E2E_DIR/prometheus.yml" <<EOF
import sys, yaml, os
src, dst = sys.argv[1], sys.argv[2]
config = yaml.safe_load(open(src))
config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
config["rule_files"] = [os.path.join(os.path.dirname(src), f) for f in config["rule_files"]]
targets = {"dedicated-controlplane": ["127.0.0.1:$cp_metrics"], "dedicated-node-agent": ["127.0.0.1:$agent_metrics"],
           "dedicated-gateway": ["$gateway_target"] if "$gateway_target" else []}
for job in config["scrape_configs"]:
    job["static_configs"] = [{"targets": targets[job["job_name"]]}]
yaml.safe_dump(config, open(dst, "w"))
EOF
prometheus --config.file="$E2E_DIR/prometheus.yml" --storage.tsdb.path="$E2E_DIR/tsdb" \
  --web.listen-address="127.0.0.1:$prom_port" >>"$E2E_DIR/prometheus.log" 2>&1 &
E2E_PIDS+=("$!")
PROM="http://127.0.0.1:$prom_port"
wait_until 30 "prometheus ready" 'curl -sf "$PROM/-/ready"'

# query <promql>: the instant vector's JSON result (fails the test on a query error).
query() {
  local out
  out="$(curl -sfG "$PROM/api/v1/query" --data-urlencode "query=$1")" || fail "query failed: $1"
  [ "$(jq -r .status <<<"$out")" = success ] || fail "query error: $1: $out"
  jq -c .data.result <<<"$out"
}
# value <promql>: the single sample's value ("" when there is none).
value() { query "$1" | jq -r 'if length == 1 then .[0].value[1] else "" end'; }
# expect <promql> <jq condition on the number v> <what>
expect() {
  local v
  v="$(value "$1")"
  [ -n "$v" ] || fail "$3: no series for $1"
  jq -e --argjson v "$v" -n "$2" >/dev/null || fail "$3: $1 = $v"
  log "ok: $3 ($1 = $v)"
}

log "deploy an instance"
out="$(dictl --format json instance deploy --folder "$E2E_FOLDER" --name watched --model gemma-3-4b-it \
  --config S --wait)" || fail "deploy failed: $out"
iid="$(jq -er .id <<<"$out")"

if [ -n "$gateway_target" ]; then
  log "one chat completion through the gateway, for its per-instance series"
  caller="$(dictl --format json service-account create --folder "$E2E_FOLDER" --name prom-caller | jq -er .id)" ||
    fail "service-account create"
  dictl --format json api-key create --subject "$caller" | jq -er .secret >"$E2E_DIR/caller.key" || fail "api-key create"
  dictl access-binding add --folder "$E2E_FOLDER" --role ai.languageModels.user --subject "serviceAccount:$caller" \
    >/dev/null || fail "access-binding add"
  # The gateway learns routes and keys from its watch streams: retry until both have arrived.
  wait_until 30 "a completion through the gateway" 'test "$(curl -s -o /dev/null -w "%{http_code}" --max-time 10 \
    "http://$GW/v1/chat/completions" -H "Authorization: Bearer $(cat "$E2E_DIR/caller.key")" \
    -H "Content-Type: application/json" \
    -d "{\"model\": \"$iid\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"max_tokens\": 3}")" = 200'
fi

wait_until 30 "Prometheus sees the instance ACTIVE" \
  'test "$(value "max(dedicated_instances{model=\"gemma-3-4b-it\", configuration=\"S\", status=\"ACTIVE\"})")" = 1'

# Each target's first scrape lands at its own offset in the interval, and a slow (sanitizer) build may miss
# it: give every job its first successful scrape before asserting on it (CI once saw no gateway series yet).
for job in dedicated-controlplane dedicated-node-agent ${gateway_target:+dedicated-gateway}; do
  wait_until 20 "a scrape of $job" 'test "$(value "up{job=\"'"$job"'\"}")" = 1'
done
expect 'up{job="dedicated-controlplane"}' '$v == 1' "controlplane scraped"
expect 'up{job="dedicated-node-agent"}' '$v == 1' "node-agent scraped"
if [ -n "$gateway_target" ]; then expect 'up{job="dedicated-gateway"}' '$v == 1' "gateway scraped"; fi
expect "max(dedicated_instance_info{instance_id=\"$iid\", status=\"ACTIVE\"})" '$v == 1' "the instance's info series"
expect 'max(dedicated_instances{model="gemma-3-4b-it", configuration="S", status="CREATING"})' '$v == 0' "no instance CREATING"
expect 'max(dedicated_node_gpus{node="prom-node", gpu_type="H100-80GB"})' '$v == 8' "GPUs of the node"
expect 'max(dedicated_node_gpus_used{node="prom-node"})' '$v == 1' "GPUs used (gemma-3-4b-it S = 1 GPU)"
expect 'max(dedicated_node_gpus_free{node="prom-node"})' '$v == 7' "GPUs free"
expect 'max(dedicated_node_state{node="prom-node", state="READY"})' '$v == 1' "node READY"
expect 'max(dedicated_node_heartbeat_age_seconds{node="prom-node"})' '$v >= 0 and $v < 5' "heartbeat age"
expect 'sum(dedicated_operations_started_total{kind="CreateInstance"})' '$v == 1' "Create started once"
expect 'sum(dedicated_operations_finished_total{kind="CreateInstance", result="ok"})' '$v == 1' "Create finished ok"
expect 'sum(dedicated_instance_provisioning_duration_seconds_count{model="gemma-3-4b-it", configuration="S"})' \
  '$v == 1' "one provisioning time"
expect 'sum(dedicated_instance_provisioning_duration_seconds_sum{model="gemma-3-4b-it", configuration="S"})' \
  '$v > 0 and $v < 60' "provisioning took seconds"
expect 'sum(dedicated_grpc_requests_total{method="InstanceService.Create", code="OK"})' '$v >= 1' "Create RPC counted"
expect 'sum(dedicated_db_executor_wait_seconds_count)' '$v >= 1' "DB pool waits observed"
expect 'max(dedicated_catalog_ttft_guarantee_seconds{model="gemma-3-4b-it", configuration="S", context_length="4096"})' \
  '$v > 0 and $v < 10' "catalog TTFT guarantee"
expect 'sum(node_agent_engines{state="ready"})' '$v == 1' "one engine ready on the agent"
expect 'sum(node_agent_gpus)' '$v == 8' "the agent's GPUs (a gauge, so no _total)"
expect 'gpu_type:dedicated_node_gpus_used:sum{gpu_type="H100-80GB"}' '$v == 1' "recording rule over the fleet"
expect "instance_id:dedicated_ttft_guarantee_seconds:max{instance_id=\"$iid\"}" '$v > 0' "guarantee joined to the instance"
if [ -n "$gateway_target" ]; then
  # The gateway labels the instance id instance_id (Prometheus keeps `instance` for the target), so its
  # series join the controlplane's without relabelling, and nothing arrives as exported_instance.
  wait_until 20 "the gateway's request counted" \
    'test -n "$(value "sum(gateway_requests_total{instance_id=\"$iid\", code=\"200\"})")"'
  expect "sum(gateway_requests_total{instance_id=\"$iid\", code=\"200\"})" '$v >= 1' "gateway requests by instance_id"
  expect "count(gateway_request_duration_seconds_count{instance_id=\"$iid\", instance=\"$gateway_target\"})" \
    '$v == 1' "instance_id beside the target's instance label"
  [ "$(query 'count({__name__=~"gateway_.+", exported_instance!=""})')" = "[]" ] ||
    fail "gateway series with exported_instance: the instance label collides again"
  log "ok: no exported_instance on gateway series"
fi

log "every rule evaluates without error"
sleep 3 # a few evaluation rounds with the instance present
rules="$(curl -sf "$PROM/api/v1/rules")" || fail "GET /api/v1/rules failed"
n_rules="$(jq '[.data.groups[].rules[]] | length' <<<"$rules")"
[ "$n_rules" -gt 10 ] || fail "only $n_rules rules loaded"
bad="$(jq -c '[.data.groups[].rules[] | select(.health != "ok") | {name, health, lastError}]' <<<"$rules")"
[ "$bad" = "[]" ] || fail "rules that do not evaluate: $bad"
log "ok: $n_rules rules healthy"

log "every dashboard expression evaluates without error"
n=0
while IFS= read -r expr; do
  query "$expr" >/dev/null
  n=$((n + 1))
done < <(python3 - "$DI_REPO_ROOT/deploy/grafana/dashboards" <<'EOF'
import glob, json, os, sys
subst = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "1h", "$model": ".*", "$configuration": ".*"}
for path in sorted(glob.glob(os.path.join(sys.argv[1], "*.json"))):
    for panel in json.load(open(path))["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"]
            for k, v in subst.items():
                expr = expr.replace(k, v)
            print(expr.replace("\n", " "))
EOF
)
[ "$n" -gt 20 ] || fail "only $n dashboard expressions found"
log "ok: $n dashboard expressions evaluate"

log "the deleted instance leaves the fleet gauges"
dictl instance delete "$iid" --wait >/dev/null || fail "delete failed"
wait_until 30 "instance info series gone" \
  'test "$(query "dedicated_instance_info{instance_id=\"$iid\"}")" = "[]"'
wait_until 30 "GPUs freed in the gauges" 'test "$(value "max(dedicated_node_gpus_used{node=\"prom-node\"})")" = 0'
assert_no_secrets_in_logs
log "PASS"
