#!/usr/bin/env bash
# The gateway end to end: controlplane + node-agent + engine-sim + gateway on loopback, called with curl and
# with the official `openai` npm SDK (tests/js/gateway_sdk_test.mjs).
# Roles (no key, wrong key, no role, role on another folder, revoked within 1 s), 404 unknown model,
# 409 for a STOPPED instance, 400 malformed JSON, 413, 431 header flood, slowloris, streaming ending in
# [DONE] with usage, failover when an engine is killed under load, admission (429 + Retry-After after the
# queue timeout; limits per configuration differ), clients that hang up (a second gateway with a long queue
# timeout: the slot comes back and the queue empties at once, the engine's generation is cancelled).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
: "${DI_REPO_ROOT:?run through ctest (DI_REPO_ROOT is the source tree)}"
e2e_init

start_controlplane "$(free_port)" --iam-poll 100ms --route-poll 100ms
start_agent "gw-node" 8

GW_PORT="$(free_port)"
GW="127.0.0.1:$GW_PORT"
"$DI_BIN_DIR/gateway" --listen "$GW" --metrics-listen "127.0.0.1:$(free_port)" --controlplane "$CP_ENDPOINT" \
  --gateway-key-file "$E2E_DIR/gateway.key" --queue-timeout 1s --header-timeout 2s --threads 2 \
  >>"$E2E_DIR/gateway.log" 2>&1 &
GW_PID=$!
E2E_PIDS+=("$GW_PID")
wait_until 20 "gateway health" 'curl -sf "http://$GW/health"'
# The second gateway: a queue timeout long enough that only a hang-up can empty its queue in time.
GW2="127.0.0.1:$(free_port)"
GW2_METRICS="127.0.0.1:$(free_port)"
"$DI_BIN_DIR/gateway" --listen "$GW2" --metrics-listen "$GW2_METRICS" --controlplane "$CP_ENDPOINT" \
  --gateway-key-file "$E2E_DIR/gateway.key" --queue-timeout 30s --threads 2 >>"$E2E_DIR/gateway2.log" 2>&1 &
E2E_PIDS+=($!)
wait_until 20 "second gateway health" 'curl -sf "http://$GW2/health"'

log "instances: two S replicas (failover), one M (admission limit 16), one S (limit 8), one to stop"
deploy() { dictl --format json instance deploy --folder "$E2E_FOLDER" --name "$1" --model gemma-3-4b-it --config "$2" \
  --replicas "$3" --wait | jq -er .id; }
A="$(deploy pair S 2)" || fail "deploy pair"
M="$(deploy medium M 1)" || fail "deploy medium"
S="$(deploy small S 1)" || fail "deploy small"
STOPPED="$(deploy later S 1)" || fail "deploy later"
URI_A="dedicated://$E2E_FOLDER/$A"

log "keys: a caller with ai.languageModels.user, one without roles, one with the role on another folder"
new_key() { # new_key <name> -> prints "<secret> <key id> <account id>"
  local sa key
  sa="$(dictl --format json service-account create --folder "$E2E_FOLDER" --name "$1" | jq -er .id)"
  key="$(dictl --format json api-key create --subject "$sa")"
  echo "$(jq -er .secret <<<"$key") $(jq -er .api_key.id <<<"$key") $sa"
}
read -r CALLER _ CALLER_SA <<<"$(new_key caller)"
read -r NOROLE _ _ <<<"$(new_key norole)"
read -r OTHER _ OTHER_SA <<<"$(new_key other)"
read -r DOOMED DOOMED_ID DOOMED_SA <<<"$(new_key doomed)"
dictl access-binding add --folder "$E2E_FOLDER" --role ai.languageModels.user --subject "serviceAccount:$CALLER_SA" >/dev/null
dictl access-binding add --folder "$E2E_FOLDER" --role ai.languageModels.user --subject "serviceAccount:$DOOMED_SA" >/dev/null
CLOUD="$(sql "SELECT cloud_id FROM folders WHERE id = '$E2E_FOLDER'")"
OTHER_FOLDER="$(dictl --format json folder create --cloud "$CLOUD" --name elsewhere | jq -r '.response.id // .id // empty')"
[ -n "$OTHER_FOLDER" ] || OTHER_FOLDER="$(sql "SELECT id FROM folders WHERE name = 'elsewhere'")"
dictl access-binding add --folder "$OTHER_FOLDER" --role ai.languageModels.user --subject "serviceAccount:$OTHER_SA" >/dev/null

# call <key or ""> <path> <json body>: prints "<status>" and leaves the body in $E2E_DIR/body.
call() {
  local auth=()
  [ -n "$1" ] && auth=(-H "Authorization: Bearer $1")
  curl -s -o "$E2E_DIR/body" -w '%{http_code}' --max-time 30 "http://$GW$2" "${auth[@]}" \
    -H 'Content-Type: application/json' --data-binary "$3"
}
chat_body() { echo "{\"model\": \"$1\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"max_tokens\": ${2:-4}}"; }
expect() { # expect <status> <what> <actual status> [error code]
  [ "$3" = "$1" ] || fail "$2: expected HTTP $1, got $3: $(cat "$E2E_DIR/body")"
  if [ -n "${4:-}" ]; then
    [ "$(jq -r .error.code "$E2E_DIR/body")" = "$4" ] || fail "$2: expected error code $4: $(cat "$E2E_DIR/body")"
  fi
}

log "routes reach the gateway: a chat completion through it, by model_uri and by bare id"
wait_until 10 "first answer through the gateway" 'test "$(call "$CALLER" /v1/chat/completions "$(chat_body "$URI_A")")" = 200'
jq -e '.choices[0].message.content and .usage.completion_tokens == 4' "$E2E_DIR/body" >/dev/null \
  || fail "no content or usage: $(cat "$E2E_DIR/body")"
expect 200 "bare id" "$(call "$CALLER" /v1/chat/completions "$(chat_body "$A")")"
expect 200 "completions" "$(call "$CALLER" /v1/completions "{\"model\": \"$URI_A\", \"prompt\": \"Say\", \"max_tokens\": 3}")"
jq -e '.choices[0].text and .usage.completion_tokens == 3' "$E2E_DIR/body" >/dev/null || fail "completions body"
Api_Key_status="$(curl -s -o /dev/null -w '%{http_code}' "http://$GW/v1/models" -H "Authorization: Api-Key $CALLER")"
[ "$Api_Key_status" = 200 ] || fail "Api-Key scheme: $Api_Key_status"

log "access log: exactly one line per request, with the client's request id, the status and the instance"
# access_lines <log> <request id>: the gateway's access-log lines ("msg":"http") of that request.
access_lines() { grep -F '"msg":"http"' "$1" | grep -F "\"request_id\":\"$2\"" || true; }
status="$(curl -s -o "$E2E_DIR/body" -D "$E2E_DIR/headers" -w '%{http_code}' --max-time 30 "http://$GW/v1/chat/completions" \
  -H "Authorization: Bearer $CALLER" -H 'Content-Type: application/json' -H 'X-Request-Id: test-req-123' \
  --data-binary "$(chat_body "$URI_A")")"
expect 200 "a request with X-Request-Id" "$status"
grep -qi '^x-request-id: test-req-123' "$E2E_DIR/headers" || fail "the answer does not carry the client's request id"
wait_until 5 "the access line of test-req-123" 'test -n "$(access_lines "$E2E_DIR/gateway.log" test-req-123)"'
sleep 0.3  # a second line, if there were one, would have had the time to appear
line="$(access_lines "$E2E_DIR/gateway.log" test-req-123)"
[ "$(wc -l <<<"$line")" = 1 ] || fail "expected one access line for test-req-123, got: $line"
jq -e --arg a "$A" --arg sa "$CALLER_SA" '.status == "200" and .instance_id == $a and .account_id == $sa
    and .method == "POST" and .path == "/v1/chat/completions" and .stream == "false" and .attempts == "1"
    and (.replica_id | length > 0) and (.endpoint | length > 0) and (.bytes_out | tonumber > 0)
    and (.duration_ms | tonumber >= 0)' <<<"$line" >/dev/null || fail "access line: $line"

log "roles"
expect 401 "no key" "$(call "" /v1/chat/completions "$(chat_body "$URI_A")")" missing_api_key
expect 401 "wrong key" "$(call "dik_wrong" /v1/chat/completions "$(chat_body "$URI_A")")" invalid_api_key
expect 403 "no role" "$(call "$NOROLE" /v1/chat/completions "$(chat_body "$URI_A")")" permission_denied
expect 403 "role on another folder" "$(call "$OTHER" /v1/chat/completions "$(chat_body "$URI_A")")" permission_denied
expect 404 "bare id without access looks unknown" "$(call "$OTHER" /v1/chat/completions "$(chat_body "$A")")" \
  model_not_found
jq -e '.error.message and .error.type' "$E2E_DIR/body" >/dev/null || fail "not OpenAI's error shape"
curl -sf "http://$GW/v1/models" -H "Authorization: Bearer $OTHER" | jq -e '.data | length == 0' >/dev/null \
  || fail "another folder's caller lists this folder's instances"
curl -sf "http://$GW/v1/models" -H "Authorization: Bearer $CALLER" |
  jq -e --arg u "$URI_A" '.object == "list" and ([.data[].id] | index($u)) != null' >/dev/null || fail "models list"

log "revoked key: refused within 1 s"
expect 200 "doomed before revocation" "$(call "$DOOMED" /v1/chat/completions "$(chat_body "$URI_A" 1)")"
dictl api-key delete "$DOOMED_ID" >/dev/null
revoked_at="$(date +%s%N)"
until [ "$(call "$DOOMED" /v1/chat/completions "$(chat_body "$URI_A" 1)")" = 401 ]; do
  [ $(( ($(date +%s%N) - revoked_at) / 1000000 )) -lt 3000 ] || fail "revoked key still accepted after 3 s"
  sleep 0.05
done
took_ms=$(( ($(date +%s%N) - revoked_at) / 1000000 ))
log "revocation took ${took_ms} ms"
[ "$took_ms" -le 1000 ] || fail "revocation took ${took_ms} ms (> 1 s)"

log "unknown model, not ACTIVE, bad input"
expect 404 "unknown model" "$(call "$CALLER" /v1/chat/completions "$(chat_body "dedicated://$E2E_FOLDER/nosuch")")" \
  model_not_found
dictl instance stop "$STOPPED" --wait >/dev/null || fail "stop"
wait_until 5 "STOPPED reaches the gateway" \
  'test "$(call "$CALLER" /v1/chat/completions "$(chat_body "$STOPPED")")" = 409'
jq -r .error.message "$E2E_DIR/body" | grep -q "STOPPED" || fail "409 does not say STOPPED"
jq -r .error.message "$E2E_DIR/body" | grep -q "dictl instance start" || fail "409 does not say how to start"
expect 400 "malformed JSON" "$(call "$CALLER" /v1/chat/completions '{"model": ')" invalid_json
expect 400 "no model" "$(call "$CALLER" /v1/chat/completions '{"messages": []}')" missing_model
head -c $((9 * 1024 * 1024)) /dev/zero | tr '\0' 'a' >"$E2E_DIR/huge.json"
status="$(curl -s -o "$E2E_DIR/body" -w '%{http_code}' "http://$GW/v1/chat/completions" -H "Authorization: Bearer $CALLER" \
  -H 'Content-Type: application/json' --data-binary "@$E2E_DIR/huge.json")"
expect 413 "huge body" "$status"
flood=()
for i in $(seq 1 40); do flood+=(-H "X-Flood-$i: $(head -c 1000 /dev/zero | tr '\0' 'x')"); done
status="$(curl -s -o "$E2E_DIR/body" -D "$E2E_DIR/headers" -w '%{http_code}' "http://$GW/v1/models" \
  -H "Authorization: Bearer $CALLER" "${flood[@]}")"
expect 431 "header flood" "$status"
flood_id="$(tr -d '\r' <"$E2E_DIR/headers" | awk 'tolower($1) == "x-request-id:" { print $2 }')"
[ -n "$flood_id" ] || fail "431 without x-request-id"
wait_until 5 "the access line of the 431" \
  'access_lines "$E2E_DIR/gateway.log" "$flood_id" | jq -e ".status == \"431\"" >/dev/null'

log "slowloris: a client that never finishes its header is dropped; others are served meanwhile"
exec 7<>"/dev/tcp/127.0.0.1/$GW_PORT"
printf 'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n' >&7
expect 200 "served during slowloris" "$(call "$CALLER" /v1/chat/completions "$(chat_body "$URI_A" 1)")"
if timeout 5 cat <&7 >/dev/null; then :; else fail "slow client not dropped within the header timeout"; fi
exec 7<&-

log "streaming: SSE chunks ending in data: [DONE], usage kept"
curl -sN --max-time 30 "http://$GW/v1/chat/completions" -H "Authorization: Bearer $CALLER" -H 'Content-Type: application/json' \
  -d "{\"model\": \"$URI_A\", \"stream\": true, \"stream_options\": {\"include_usage\": true}, \"max_tokens\": 5,
       \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}" >"$E2E_DIR/stream.txt"
[ "$(grep -c '^data: {' "$E2E_DIR/stream.txt")" -ge 5 ] || fail "too few events: $(cat "$E2E_DIR/stream.txt")"
[ "$(grep '^data: ' "$E2E_DIR/stream.txt" | tail -n 1)" = "data: [DONE]" ] || fail "stream does not end in [DONE]"
grep '^data: {' "$E2E_DIR/stream.txt" | sed 's/^data: //' | jq -se 'map(select(.usage != null)) | .[-1].usage.completion_tokens == 5' \
  >/dev/null || fail "usage missing from the stream"

log "admission: S allows 8 at once per replica, M 16; beyond that wait 1 s, then 429 with Retry-After"
burst() { # burst <model> <n> -> counts of statuses, e.g. "8x200 2x429"
  local pids=() i
  for i in $(seq 1 "$2"); do
    curl -s -o "$E2E_DIR/burst-$i" -D "$E2E_DIR/burst-$i.h" -w '%{http_code}\n' --max-time 30 "http://$GW/v1/chat/completions" \
      -H "Authorization: Bearer $CALLER" -H 'Content-Type: application/json' -d "$(chat_body "$1" 120)" >"$E2E_DIR/burst-$i.code" &
    pids+=($!)
  done
  wait "${pids[@]}"
  cat "$E2E_DIR"/burst-*.code | sort | uniq -c | awk '{printf "%sx%s ", $1, $2}'
}
small="$(burst "$S" 10)"
log "S x1 with 10 at once: $small"
[ "$small" = "8x200 2x429 " ] || fail "S: expected 8 answered and 2 refused, got $small"
grep -il '^retry-after: [1-9]' "$E2E_DIR"/burst-*.h >/dev/null || fail "429 without Retry-After"
grep -l '"code":"concurrency_limit_exceeded"' "$E2E_DIR"/burst-* >/dev/null || fail "429 body"
rm -f "$E2E_DIR"/burst-*
medium="$(burst "$M" 10)"
log "M x1 with 10 at once: $medium"
[ "$medium" = "10x200 " ] || fail "M: expected all 10 answered, got $medium"
rm -f "$E2E_DIR"/burst-*

log "hang-ups: clients that leave give their slots back and leave the queue at once; the engine stops"
# gw2_metric <name> <instance id>: a series of the second gateway, found by the instance id's value (not
# the label's name).
gw2_metric() {
  curl -sf "http://$GW2_METRICS/metrics" | awk -v n="$1" -v id="\"$2\"" 'index($0, n "{") == 1 && index($0, id) { s += $NF } END { print s + 0 }'
}
S_ENGINE="$(endpoint_of "$S")"
aborted_before="$(curl -sf "http://$S_ENGINE/metrics" | awk '$1 == "engine_sim_aborted_generations_total" { print $2 }')"
# hang_up_after <seconds> <n>: n requests on S, each about 22 s of generation, whose clients leave after <seconds>.
hangup_pids=()
hang_up_after() {
  local i
  for i in $(seq 1 "$2"); do
    curl -s -o /dev/null --max-time "$1" "http://$GW2/v1/chat/completions" -H "Authorization: Bearer $CALLER" \
      -H 'Content-Type: application/json' -d "$(chat_body "$S" 2000)" &
    hangup_pids+=($!)
  done
}
hang_up_after 6 8
wait_until 5 "8 requests holding S's 8 slots" 'test "$(gw2_metric gateway_in_flight_requests "$S")" = 8'
hang_up_after 2 2
wait_until 5 "2 requests queued behind them" 'test "$(gw2_metric gateway_queued_requests "$S")" = 2'
wait_until 4 "the queue empty once its 2 clients left" 'test "$(gw2_metric gateway_queued_requests "$S")" = 0'
[ "$(gw2_metric gateway_in_flight_requests "$S")" = 8 ] || fail "the slot holders left too early for the queue check"
wait_until 8 "the 8 slots free once their clients left" 'test "$(gw2_metric gateway_in_flight_requests "$S")" = 0'
wait "${hangup_pids[@]}" || true
started="$(date +%s%N)"
status="$(curl -s -o "$E2E_DIR/body" -w '%{http_code}' --max-time 5 "http://$GW2/v1/chat/completions" \
  -H "Authorization: Bearer $CALLER" -H 'Content-Type: application/json' -d "$(chat_body "$S" 1)")"
took_ms=$(( ($(date +%s%N) - started) / 1000000 ))
expect 200 "a new request after the hang-ups" "$status"
[ "$took_ms" -lt 1000 ] || fail "a new request after the hang-ups took ${took_ms} ms: it waited for a slot"
aborted_after="$(curl -sf "http://$S_ENGINE/metrics" | awk '$1 == "engine_sim_aborted_generations_total" { print $2 }')"
[ $((aborted_after - aborted_before)) -ge 8 ] ||
  fail "the engine aborted $((aborted_after - aborted_before)) generations, expected the 8 whose clients left"
[ "$(curl -sf "http://$GW2_METRICS/metrics" | grep '^gateway_requests_total{' | grep "\"$S\"" | grep -c 'code="499"')" = 1 ] ||
  fail "hang-ups not counted as 499"
hangups_logged() { grep -F '"msg":"http"' "$E2E_DIR/gateway2.log" | jq -s --arg s "$S" '[.[] | select(.status == "499" and .instance_id == $s)] | length'; }
wait_until 5 "10 hang-ups logged as 499" 'test "$(hangups_logged)" = 10'

log "failover: kill one of two engines while requests flow; every request still succeeds"
: >"$E2E_DIR/failover.codes"
load() {
  local i
  for i in $(seq 1 25); do
    curl -s -o /dev/null -w '%{http_code}\n' --max-time 30 "http://$GW/v1/chat/completions" -H "Authorization: Bearer $CALLER" \
      -H 'Content-Type: application/json' -d "$(chat_body "$URI_A" 20)" >>"$E2E_DIR/failover.codes"
  done
}
load_pids=()
for w in 1 2 3 4; do load & load_pids+=($!); done
sleep 1
victim="$(pgrep -f "engine-sim.*$A" | head -n 1)"
[ -n "$victim" ] || fail "no engine of $A"
kill -KILL "$victim"
wait "${load_pids[@]}"
codes="$(sort "$E2E_DIR/failover.codes" | uniq -c | awk '{printf "%sx%s ", $1, $2}')"
log "failover results: $codes"
[ "$codes" = "100x200 " ] || fail "requests failed during failover: $codes"

log "the official openai SDK (npm) against the gateway"
JS_DIR="$DI_REPO_ROOT/tests/js"
if [ ! -d "$JS_DIR/node_modules/openai" ]; then
  (cd "$JS_DIR" && npm ci --no-audit --no-fund --loglevel=error >>"$E2E_DIR/npm.log" 2>&1) || fail "npm ci failed"
fi
GATEWAY_URL="http://$GW/v1" API_KEY="$CALLER" MODEL="$URI_A" BARE_ID="$M" STOPPED_MODEL="$STOPPED" NOROLE_KEY="$NOROLE" \
  node "$JS_DIR/gateway_sdk_test.mjs" >>"$E2E_DIR/sdk.log" 2>&1 || { cat "$E2E_DIR/sdk.log" >&2; fail "openai SDK test"; }
cat "$E2E_DIR/sdk.log" >&2

log "the gateway is still up and serving"
expect 200 "after all of it" "$(call "$CALLER" /v1/chat/completions "$(chat_body "$M" 1)")"
kill -0 "$GW_PID" || fail "gateway died"
assert_no_secrets_in_logs
for secret in "$CALLER" "$NOROLE" "$OTHER" "$DOOMED"; do
  if grep -qF -- "$secret" "$E2E_DIR/gateway.log" "$E2E_DIR/gateway2.log"; then fail "an API key appears in a gateway log"; fi
done
grep -qF '"msg":"http"' "$E2E_DIR/gateway2.log" || fail "the API key check read no access lines"
log "PASS"
