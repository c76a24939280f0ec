#!/usr/bin/env bash
# shellcheck shell=bash
#
# Shared by deploy/local/up.sh and down.sh: where the local stack keeps its state, and how a pid file
# is checked. Everything lives under .local/ (gitignored):
#   .local/pg/              the PostgreSQL cluster (tests/lib/pg.sh layout)
#   .local/env              DSN, ports and DICTL_ENDPOINT, to `source` in a shell
#   .local/logs/<name>.log  output of each process; engines/ holds the engines' logs
#   .local/run/<name>.pid   pid of each process
#   .local/admin.key        bootstrap admin API key (mode 0600), once the controlplane can write one

# The variables are used by up.sh and down.sh, which source this file.
# shellcheck disable=SC2034

DI_REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)"
DI_LOCAL_DIR="${DI_REPO_ROOT}/.local"
DI_LOCAL_BUILD_DIR="${DI_REPO_ROOT}/build"
DI_LOCAL_BIN_DIR="${DI_LOCAL_BUILD_DIR}/bin"
DI_LOCAL_PG_DIR="${DI_LOCAL_DIR}/pg"
DI_LOCAL_LOG_DIR="${DI_LOCAL_DIR}/logs"
DI_LOCAL_RUN_DIR="${DI_LOCAL_DIR}/run"

# Processes of the stack, in start order (down.sh stops them in reverse).
DI_LOCAL_SERVICES=(controlplane node-agent gateway)

# Prints the pid recorded for service $1 if that process is alive and still runs our binary (a pid
# file can outlive its process, and the pid be reused by another); fails otherwise.
di_local_pid() {
  local name="$1" pidfile pid exe
  pidfile="${DI_LOCAL_RUN_DIR}/${name}.pid"
  [[ -f "${pidfile}" ]] || return 1
  pid="$(tr -d '[:space:]' <"${pidfile}")"
  [[ "${pid}" =~ ^[0-9]+$ ]] || return 1
  exe="$(readlink "/proc/${pid}/exe" 2>/dev/null)" || return 1
  # A binary rebuilt while running shows as "<path> (deleted)"; it is still ours.
  [[ "${exe% (deleted)}" == "${DI_LOCAL_BIN_DIR}/${name}" ]] || return 1
  echo "${pid}"
}
