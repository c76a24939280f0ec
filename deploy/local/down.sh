#!/usr/bin/env bash
# Stops the local stack that deploy/local/up.sh started: gateway, node-agent (it stops its engines),
# controlplane, then PostgreSQL. The data stays in .local/ for the next up.sh, unless --purge.
#
#   deploy/local/down.sh [--purge]
set -euo pipefail

# shellcheck source=deploy/local/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "${DI_REPO_ROOT}"
# shellcheck source=tests/lib/pg.sh
source tests/lib/pg.sh

STOP_TIMEOUT_SECONDS=10

log() { echo "down.sh: $*"; }

purge=0
case "${1:-}" in
  "") ;;
  --purge) purge=1 ;;
  *)
    echo "usage: deploy/local/down.sh [--purge]" >&2
    exit 2
    ;;
esac

# SIGTERM, up to STOP_TIMEOUT_SECONDS for a clean exit, then SIGKILL. up.sh started each service as
# the leader of its own process group, so the whole group is signalled.
stop_service() {
  local name="$1" pid waited
  if ! pid="$(di_local_pid "${name}")"; then
    rm -f "${DI_LOCAL_RUN_DIR}/${name}.pid"
    return 0
  fi
  log "stopping ${name} (pid ${pid})"
  kill -TERM -- "-${pid}" 2>/dev/null || kill -TERM "${pid}" 2>/dev/null || true
  for ((waited = 0; waited < STOP_TIMEOUT_SECONDS * 10; waited++)); do
    kill -0 "${pid}" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "${pid}" 2>/dev/null; then
    log "${name} still running after ${STOP_TIMEOUT_SECONDS}s, sending SIGKILL"
    kill -KILL -- "-${pid}" 2>/dev/null || kill -KILL "${pid}" 2>/dev/null || true
  fi
  rm -f "${DI_LOCAL_RUN_DIR}/${name}.pid"
}

if [[ ! -d "${DI_LOCAL_DIR}" ]]; then
  log "no local stack here (${DI_LOCAL_DIR} does not exist)"
  exit 0
fi

for ((i = ${#DI_LOCAL_SERVICES[@]} - 1; i >= 0; i--)); do
  stop_service "${DI_LOCAL_SERVICES[i]}"
done

if [[ -f "${DI_LOCAL_PG_DIR}/.di-pg" ]]; then
  di_pg_stop "${DI_LOCAL_PG_DIR}" --keep
fi

if ((purge)); then
  log "removing ${DI_LOCAL_DIR} (database, logs, admin key)"
  rm -rf -- "${DI_LOCAL_DIR}"
else
  log "stopped; data kept in ${DI_LOCAL_DIR} (--purge deletes it)"
fi
