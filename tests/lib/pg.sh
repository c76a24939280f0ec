#!/usr/bin/env bash
# shellcheck shell=bash
#
# A private PostgreSQL 15 cluster in a directory of its own, for the tests (tests/run.sh) and the
# local stack (deploy/local/up.sh). The system cluster (/etc/postgresql/15/main) is never touched.
#
#   di_pg_start <dir> [preferred_port]  init (if needed) and start; reuse it if already running;
#                                       exports DI_PG_PORT and DI_TEST_DATABASE_URL
#   di_pg_stop <dir> [--keep]           stop it; remove <dir> unless --keep
#   di_pg_createdb <name>               create a database in the cluster of DI_PG_PORT (no-op if it exists)
#   di_pg_url <database>                print the DSN of a database in that cluster
#
# Layout of <dir>:  .di-pg (marker: di_pg_stop only deletes directories that have it), data/ (PGDATA),
# initdb.log, postgres.log, and the Unix socket .s.PGSQL.<port>.
#
# Running as root: initdb and postgres refuse to run as root, so the cluster then belongs to the
# `postgres` system user (created by the postgresql-common package) and initdb/pg_ctl run through
# `runuser -u postgres --`. That user must be able to reach <dir>, so the directories above it are made
# traversable (o+x) where they are not; each change is printed.

DI_PG_BIN="${DI_PG_BIN:-/usr/lib/postgresql/15/bin}"
DI_PG_HOST=127.0.0.1
# Free ports are drawn from here: below the kernel's ephemeral range (32768+) that port-0 binds use,
# and clear of the node-agent's default engine ports (20000-29999).
DI_PG_PORT_MIN=16000
DI_PG_PORT_MAX=19999

# Runs a command as the cluster's owner: the postgres user when we are root, else ourselves. From /,
# so that it does not complain about a working directory it cannot enter.
_di_pg_as_owner() {
  if ((EUID == 0)); then
    (cd / && runuser -u postgres -- "$@")
  else
    "$@"
  fi
}

# True if nothing listens on TCP port $1 (any address).
_di_pg_port_free() {
  [[ -z "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]]
}

# Prints a TCP port that nothing listens on. Another process may still take it before postgres binds
# it; di_pg_start then retries with another port.
_di_pg_free_port() {
  local port attempt
  for ((attempt = 0; attempt < 200; attempt++)); do
    port=$((DI_PG_PORT_MIN + RANDOM % (DI_PG_PORT_MAX - DI_PG_PORT_MIN + 1)))
    if _di_pg_port_free "${port}"; then
      echo "${port}"
      return 0
    fi
  done
  echo "pg: no free TCP port in ${DI_PG_PORT_MIN}-${DI_PG_PORT_MAX}" >&2
  return 1
}

# As root: makes every directory from $1 up to / traversable by the postgres user.
_di_pg_make_reachable() {
  local dir="$1" path="" part
  local -a parts
  ((EUID == 0)) || return 0
  # From / downwards: a directory can only be tested once its parents are traversable.
  IFS=/ read -r -a parts <<<"${dir#/}"
  for part in "${parts[@]}"; do
    path="${path}/${part}"
    if ! runuser -u postgres -- test -x "${path}" 2>/dev/null; then
      echo "pg: chmod o+x ${path} (the postgres user must reach the cluster directory)"
      chmod o+x "${path}"
    fi
  done
}

# True if the cluster in <dir> is running.
_di_pg_running() {
  [[ -f "$1/data/postmaster.pid" ]] &&
    _di_pg_as_owner "${DI_PG_BIN}/pg_ctl" status -D "$1/data" >/dev/null 2>&1
}

_di_pg_export() {
  local port="$1"
  export DI_PG_PORT="${port}"
  export DI_TEST_DATABASE_URL="postgresql://postgres@${DI_PG_HOST}:${port}/postgres"
}

# Creates the cluster in <dir>/data: superuser `postgres`, trust auth on the socket and 127.0.0.1
# only, and settings for throwaway data (durability off: a crash loses the cluster, which is fine).
_di_pg_init() {
  local dir="$1"
  echo "pg: initdb ${dir}/data"
  if ! _di_pg_as_owner "${DI_PG_BIN}/initdb" -D "${dir}/data" -U postgres -E UTF8 --locale=C.UTF-8 \
    --auth=trust --no-sync >"${dir}/initdb.log" 2>&1; then
    cat "${dir}/initdb.log" >&2
    echo "pg: initdb failed (log above, also in ${dir}/initdb.log)" >&2
    return 1
  fi
  _di_pg_as_owner tee "${dir}/data/pg_hba.conf" >/dev/null <<'HBA'
# Written by tests/lib/pg.sh: a throwaway cluster, trusted from this machine only.
# TYPE  DATABASE  USER  ADDRESS       METHOD
local   all       all                 trust
host    all       all   127.0.0.1/32  trust
HBA
  _di_pg_as_owner tee -a "${dir}/data/postgresql.conf" >/dev/null <<CONF

# Written by tests/lib/pg.sh. The port is given on the command line (it may change between starts).
listen_addresses = '${DI_PG_HOST}'
unix_socket_directories = '${dir}'
max_connections = 300
shared_buffers = 128MB
fsync = off
synchronous_commit = off
full_page_writes = off
CONF
}

di_pg_start() {
  local dir="${1:?usage: di_pg_start <dir> [preferred_port]}" preferred="${2:-}" port attempt log_size
  mkdir -p "${dir}"
  dir="$(cd "${dir}" && pwd -P)"

  if _di_pg_running "${dir}"; then
    port="$(sed -n 4p "${dir}/data/postmaster.pid")" # line 4 of postmaster.pid is the port
    echo "pg: reusing the cluster running in ${dir} on ${DI_PG_HOST}:${port}"
    _di_pg_export "${port}"
    return 0
  fi

  # The Unix socket path must fit in sockaddr_un (107 bytes).
  local socket="${dir}/.s.PGSQL.65535"
  if ((${#socket} > 107)); then
    echo "pg: directory path too long for a Unix socket (${#dir} chars): ${dir}" >&2
    return 1
  fi

  # di_pg_stop deletes what carries the marker: never put it on a directory with other contents.
  if [[ ! -f "${dir}/.di-pg" && -n "$(ls -A "${dir}")" ]]; then
    echo "pg: ${dir} is not empty and not a cluster directory of pg.sh" >&2
    return 1
  fi
  touch "${dir}/.di-pg"
  if ((EUID == 0)); then
    chown postgres:postgres "${dir}"
    chmod 0755 "${dir}"
    _di_pg_make_reachable "${dir}"
  fi
  if [[ ! -f "${dir}/data/PG_VERSION" ]]; then
    _di_pg_init "${dir}"
  fi

  # Another process may take a port between our check and postgres's bind: then try another one.
  for ((attempt = 1; attempt <= 5; attempt++)); do
    if [[ -n "${preferred}" ]] && _di_pg_port_free "${preferred}"; then
      port="${preferred}"
    else
      [[ -z "${preferred}" ]] || echo "pg: port ${preferred} is taken, picking a free one"
      port="$(_di_pg_free_port)"
    fi
    preferred=""
    echo "pg: starting PostgreSQL 15 in ${dir} on ${DI_PG_HOST}:${port} (log: ${dir}/postgres.log)"
    log_size="$(stat -c %s "${dir}/postgres.log" 2>/dev/null || echo 0)"
    if _di_pg_as_owner "${DI_PG_BIN}/pg_ctl" start -D "${dir}/data" -l "${dir}/postgres.log" \
      -o "-p ${port}" -w -t 60 >/dev/null; then
      _di_pg_export "${port}"
      return 0
    fi
    # Retry only if this attempt failed for its port.
    if ! tail -c "+$((log_size + 1))" "${dir}/postgres.log" 2>/dev/null | grep -q "could not bind"; then
      break
    fi
  done
  tail -n 20 "${dir}/postgres.log" >&2 || true
  echo "pg: could not start PostgreSQL (log: ${dir}/postgres.log)" >&2
  return 1
}

di_pg_stop() {
  local dir="${1:?usage: di_pg_stop <dir> [--keep]}" keep="${2:-}"
  [[ -d "${dir}" ]] || return 0
  dir="$(cd "${dir}" && pwd -P)"
  if [[ ! -f "${dir}/.di-pg" ]]; then
    echo "pg: ${dir} is not a cluster directory of pg.sh, leaving it alone" >&2
    return 1
  fi

  if [[ -f "${dir}/data/postmaster.pid" ]]; then
    echo "pg: stopping PostgreSQL in ${dir}"
    if ! _di_pg_as_owner "${DI_PG_BIN}/pg_ctl" stop -D "${dir}/data" -m fast -w -t 30 >/dev/null; then
      # A stale pid file, or a server that did not stop in time: kill the postmaster if it is ours.
      local pid
      pid="$(head -n 1 "${dir}/data/postmaster.pid" 2>/dev/null || true)"
      if [[ "${pid}" =~ ^[0-9]+$ ]] && grep -qF -- "${dir}/data" "/proc/${pid}/cmdline" 2>/dev/null; then
        echo "pg: pg_ctl stop failed, sending SIGQUIT to postmaster ${pid}" >&2
        kill -QUIT "${pid}" 2>/dev/null || true
      fi
    fi
  fi

  if [[ "${keep}" == "--keep" ]]; then
    return 0
  fi
  echo "pg: removing ${dir}"
  rm -rf -- "${dir}"
}

di_pg_url() {
  local db="${1:?usage: di_pg_url <database>}"
  echo "postgresql://postgres@${DI_PG_HOST}:${DI_PG_PORT:?DI_PG_PORT is not set: call di_pg_start first}/${db}"
}

di_pg_createdb() {
  local name="${1:?usage: di_pg_createdb <name>}" exists
  : "${DI_PG_PORT:?DI_PG_PORT is not set: call di_pg_start first}"
  # On stdin rather than -c, since psql interpolates :'name' (quoted safely) only there.
  exists="$("${DI_PG_BIN}/psql" -h "${DI_PG_HOST}" -p "${DI_PG_PORT}" -U postgres -d postgres -XAtq \
    -v ON_ERROR_STOP=1 -v name="${name}" <<<"SELECT 1 FROM pg_database WHERE datname = :'name';")"
  if [[ "${exists}" == "1" ]]; then
    return 0
  fi
  echo "pg: createdb ${name}"
  "${DI_PG_BIN}/createdb" -h "${DI_PG_HOST}" -p "${DI_PG_PORT}" -U postgres -- "${name}"
}
