#!/usr/bin/env bash
# Identity and access with real processes and the real CLI: a service account gets a key, is refused
# until it holds a role, then allowed; a revoked role and a deleted key fail on the next call; the API log
# names the caller's account under the request id dictl prints; no secret ever shows up in a log or in a
# List/Get output.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
e2e_init

start_controlplane "$(free_port)" --iam-poll 100ms

log "a service account and its key"
sa="$(dictl --format json service-account create --folder "$E2E_FOLDER" --name app | jq -r .id)"
[ -n "$sa" ] && [ "$sa" != null ] || fail "service-account create printed no id"
key_json="$(dictl --format json api-key create --subject "$sa" --description e2e)"
secret="$(jq -r .secret <<<"$key_json")"
key_id="$(jq -r .api_key.id <<<"$key_json")"
[[ "$secret" == dik_* ]] || fail "api-key create printed no secret"
printf '%s\n' "$secret" >"$E2E_DIR/app.key"
chmod 600 "$E2E_DIR/app.key"
as_app() { DICTL_API_KEY="$secret" "$DI_BIN_DIR/dictl" "$@"; }

log "no role: refused"
out="$(as_app instance list --folder "$E2E_FOLDER" 2>&1)" && fail "list without a role succeeded"
grep -q PERMISSION_DENIED <<<"$out" || fail "expected PERMISSION_DENIED, got: $out"

log "ai.models.viewer on the folder: allowed on the next call"
dictl access-binding add --folder "$E2E_FOLDER" --role ai.models.viewer --subject "serviceAccount:$sa" >/dev/null \
  || fail "access-binding add failed"
as_app instance list --folder "$E2E_FOLDER" >/dev/null || fail "list with ai.models.viewer failed"
out="$(as_app instance deploy --folder "$E2E_FOLDER" --name nope --model gemma-3-4b-it --config S 2>&1)" \
  && fail "a viewer deployed"
grep -q PERMISSION_DENIED <<<"$out" || fail "viewer deploy: expected PERMISSION_DENIED, got: $out"
dictl access-binding list --folder "$E2E_FOLDER" | grep -q "$sa" || fail "binding not listed"

log "the API log: the request id dictl prints names one line with the caller's account, never its key"
out="$(as_app instance get din0000000000000absent 2>&1)" && fail "get of an absent instance succeeded"
code="$(sed -n 's/^error: \([A-Z_]*\):.*/\1/p' <<<"$out")"
rid="$(sed -n 's/^request id: \([^ ]*\).*/\1/p' <<<"$out")"
[ -n "$code" ] && [ -n "$rid" ] || fail "dictl printed no error code or request id: $out"
# Info lines reach the file in batches within ~10 ms (docs/operations.md, "Logs"): wait for it.
wait_until 5 "the API log line of request $rid" 'grep -qF "\"request_id\":\"$rid\"" "$E2E_DIR/controlplane.log"'
lines="$(grep -F "\"request_id\":\"$rid\"" "$E2E_DIR/controlplane.log")"
[ "$(wc -l <<<"$lines")" = 1 ] || fail "request id $rid on more than one line: $lines"
jq -e --arg sa "$sa" --arg code "$code" '.msg == "rpc" and .level == "info" and .method == "InstanceService.Get"
  and .code == $code and .account_id == $sa and .account_type == "serviceAccount"
  and .instance_id == "din0000000000000absent" and (.duration_ms | tonumber) >= 0' <<<"$lines" >/dev/null ||
  fail "API log line lacks a field: $lines"
# A successful call is logged too.
as_app instance list --folder "$E2E_FOLDER" >/dev/null
wait_until 5 "the API log line of the viewer's List" \
  'grep -F "\"method\":\"InstanceService.List\"" "$E2E_DIR/controlplane.log" | grep -qF "\"account_id\":\"$sa\""'

log "revoked: refused on the next call"
dictl access-binding remove --folder "$E2E_FOLDER" --role ai.models.viewer --subject "serviceAccount:$sa" >/dev/null \
  || fail "access-binding remove failed"
as_app instance list --folder "$E2E_FOLDER" >/dev/null 2>&1 && fail "list after revocation succeeded"

log "deleted key: refused on the next call"
dictl access-binding add --folder "$E2E_FOLDER" --role ai.models.viewer --subject "serviceAccount:$sa" >/dev/null
as_app instance list --folder "$E2E_FOLDER" >/dev/null || fail "list failed before the key was deleted"
dictl api-key delete "$key_id" >/dev/null || fail "api-key delete failed"
out="$(as_app instance list --folder "$E2E_FOLDER" 2>&1)" && fail "deleted key still works"
grep -q UNAUTHENTICATED <<<"$out" || fail "expected UNAUTHENTICATED, got: $out"

log "no key at all, and a wrong key"
out="$(DICTL_API_KEY="dik_wrong" "$DI_BIN_DIR/dictl" model list 2>&1)" && fail "a wrong key was accepted"
grep -q UNAUTHENTICATED <<<"$out" || fail "wrong key: expected UNAUTHENTICATED, got: $out"

log "secrets never in List/Get output or logs"
dictl --format json api-key list --subject "$sa" >"$E2E_DIR/api-key-list.log"
dictl --format json service-account get "$sa" >"$E2E_DIR/service-account-get.log"
assert_no_secrets_in_logs
log "PASS"
