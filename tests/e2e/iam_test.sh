#!/usr/bin/env bash
# Identity and access with real processes and the real CLI: a service account gets a key, is refused
# until it holds a role, then allowed; a revoked role and a deleted key fail on the next call; no secret
# ever shows up in a log or in a List/Get output.
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
