#!/usr/bin/env bash
# The test command of the project (README and CI call it): installs missing Debian packages, builds
# everything with ASan+UBSan into build-test/, starts a throwaway PostgreSQL 15, runs ctest, and
# cleans up after itself whatever happens.
#
#   tests/run.sh                  build and run every test
#   tests/run.sh -R storage       extra arguments go to ctest (here: only tests matching "storage")
#   DI_SKIP_BUILD=1 tests/run.sh  skip configure and build (iterating on an already built tree)
#   DI_KEEP_TMPDIR=1 tests/run.sh keep $DI_TEST_TMPDIR (logs the tests left there) for a post-mortem
#
# What the tests get in their environment:
#   DI_TEST_DATABASE_URL  admin DSN of the throwaway cluster (superuser postgres, database postgres)
#   DI_PG_PORT            its TCP port on 127.0.0.1
#   DI_REPO_ROOT          absolute path of the repository
#   DI_BUILD_DIR          absolute path of build-test/;  DI_BIN_DIR: its bin/ (every executable)
#   DI_TEST_TMPDIR        a scratch directory removed at the end. A test that starts a process which
#                         may outlive it writes the pid into a file named *.pid anywhere under it; the
#                         process (and its process group, if it leads one) is killed at the end.
# Everything ctest starts runs in a process group of its own, which is killed at the end too.

# The cleanup helpers run only from the EXIT trap, which shellcheck 0.9 takes for unreachable code.
# shellcheck disable=SC2317

set -euo pipefail

DI_REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "${DI_REPO_ROOT}"
# shellcheck source=tests/lib/deps.sh
source tests/lib/deps.sh
# shellcheck source=tests/lib/pg.sh
source tests/lib/pg.sh

BUILD_DIR="${DI_REPO_ROOT}/build-test"
run_dir=""    # holds pg/ (the cluster) and tmp/ (DI_TEST_TMPDIR)
ctest_pgid="" # process group of ctest and everything it starts

log() { echo "run.sh: $*"; }

elapsed() { printf '%dm%02ds' $((SECONDS / 60)) $((SECONDS % 60)); }

# True while any process of group $1 is alive.
group_alive() { kill -0 -- "-$1" 2>/dev/null; }

# SIGTERM, then up to 5 s to exit, then SIGKILL. Arguments are kill(1) targets: pids or -pgids.
terminate() {
  local target waited
  kill -TERM -- "$@" 2>/dev/null || true
  for ((waited = 0; waited < 50; waited++)); do
    local alive=0
    for target in "$@"; do
      if kill -0 -- "${target}" 2>/dev/null; then alive=1; fi
    done
    ((alive)) || return 0
    sleep 0.1
  done
  log "still alive after SIGTERM, sending SIGKILL: $*"
  kill -KILL -- "$@" 2>/dev/null || true
}

# Kills the processes named by *.pid files under DI_TEST_TMPDIR: the process group too when the
# process leads one (the node-agent starts each engine as a group leader, for instance).
kill_pidfile_processes() {
  local file pid pgid
  local -a targets=()
  [[ -d "${DI_TEST_TMPDIR:-}" ]] || return 0
  while IFS= read -r -d '' file; do
    pid="$(head -n 1 "${file}" 2>/dev/null | tr -d '[:space:]')"
    if ! [[ "${pid}" =~ ^[0-9]+$ ]] || ! kill -0 "${pid}" 2>/dev/null; then
      continue
    fi
    pgid="$(ps -o pgid= -p "${pid}" 2>/dev/null | tr -d '[:space:]')"
    log "killing stray process ${pid} from ${file#"${DI_TEST_TMPDIR}"/}: $(ps -o args= -p "${pid}" | cut -c1-100)"
    if [[ "${pgid}" == "${pid}" ]]; then
      targets+=("-${pid}")
    else
      targets+=("${pid}")
    fi
  done < <(find "${DI_TEST_TMPDIR}" -name '*.pid' -type f -print0)
  if ((${#targets[@]} > 0)); then
    terminate "${targets[@]}"
  fi
}

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if [[ -n "${ctest_pgid}" ]] && group_alive "${ctest_pgid}"; then
    log "stopping processes left in ctest's process group ${ctest_pgid}"
    terminate "-${ctest_pgid}"
  fi
  kill_pidfile_processes
  if [[ -n "${run_dir}" ]]; then
    di_pg_stop "${run_dir}/pg" || true
    if [[ "${DI_KEEP_TMPDIR:-0}" == 1 ]]; then
      log "kept ${DI_TEST_TMPDIR}"
    else
      rm -rf -- "${run_dir}"
    fi
  fi
  exit "${status}"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated"; exit 143' TERM

# 1. Dependencies and build.
di_install_deps
if [[ "${DI_SKIP_BUILD:-0}" == 1 ]]; then
  log "DI_SKIP_BUILD=1: using the existing build in ${BUILD_DIR}"
  [[ -f "${BUILD_DIR}/CTestTestfile.cmake" ]] || {
    log "no configured build in ${BUILD_DIR}: run without DI_SKIP_BUILD first" >&2
    exit 1
  }
else
  log "configuring and building ${BUILD_DIR} (Debug, ASan+UBSan)"
  cmake -S . -B "${BUILD_DIR}" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DDI_SANITIZE=ON -DDI_BUILD_BENCH=OFF
  cmake --build "${BUILD_DIR}" -j2
fi
log "build ready after $(elapsed)"

# 2. Scratch space and the throwaway PostgreSQL.
run_dir="$(mktemp -d "${TMPDIR:-/tmp}/di-test.XXXXXX")"
export DI_TEST_TMPDIR="${run_dir}/tmp"
mkdir -p "${DI_TEST_TMPDIR}"
di_pg_start "${run_dir}/pg" # exports DI_PG_PORT and DI_TEST_DATABASE_URL

# 3. Environment of the tests.
export DI_REPO_ROOT
export DI_BUILD_DIR="${BUILD_DIR}"
export DI_BIN_DIR="${BUILD_DIR}/bin"
# Options given by the caller come last, so they win.
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1${ASAN_OPTIONS:+:${ASAN_OPTIONS}}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:${UBSAN_OPTIONS}}"
# Suppressions only for leaks proven to be in third-party internals, each with a reason in the file.
if [[ -f tests/lsan.supp ]]; then
  export LSAN_OPTIONS="suppressions=${DI_REPO_ROOT}/tests/lsan.supp${LSAN_OPTIONS:+:${LSAN_OPTIONS}}"
fi
log "tests: DI_TEST_DATABASE_URL=${DI_TEST_DATABASE_URL} DI_TEST_TMPDIR=${DI_TEST_TMPDIR}"

# 4. ctest, in a session (and so a process group) of its own: whatever the tests start and leave
# behind is found through that group. Started in the background and waited for, so that INT/TERM
# reach the trap at once. In a non-interactive shell the background child does not lead a group, so
# setsid execs ctest without forking and $! is both ctest's pid and the group's id.
ctest_status=0
setsid ctest --test-dir "${BUILD_DIR}" --output-on-failure -j2 --timeout 600 --no-tests=error "$@" &
ctest_pgid=$!
wait "${ctest_pgid}" || ctest_status=$?

if ((ctest_status == 0)); then
  log "PASSED in $(elapsed)"
else
  log "FAILED (ctest exit ${ctest_status}) in $(elapsed)"
fi
exit "${ctest_status}"
