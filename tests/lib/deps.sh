#!/usr/bin/env bash
# shellcheck shell=bash
#
# di_install_deps: installs the Debian 12 packages that building, testing and running the project
# need, and nothing else. Every dependency comes from Debian (see third_party/README.md).
#
# Usage: source tests/lib/deps.sh && di_install_deps
#
# It asks dpkg first and touches apt only when something is missing, so that it is fast and needs no
# network on a machine that already has everything.

# Names checked with `apt-cache policy` on Debian 12 (bookworm). Notes:
# - postgresql-15 ships the server binaries under /usr/lib/postgresql/15/bin, pgbench included
#   (`dpkg -S /usr/lib/postgresql/15/bin/pgbench`); bookworm has no postgresql-contrib-15, the
#   contrib modules are part of postgresql-15 too. psql comes with postgresql-client-15.
# - util-linux gives runuser (initdb and pg_ctl refuse to run as root); procps gives pgrep/ps;
#   iproute2 gives ss (free-port checks).
# What building the services needs; deploy/docker/Dockerfile's build stage installs exactly these
# (tests/deploy/check_deploy.py compares the two).
DI_BUILD_PACKAGES=(
  # Toolchain and build system.
  build-essential g++ cmake ninja-build pkg-config
  # gRPC and protobuf: libraries, headers, CMake packages, protoc and grpc_cpp_plugin.
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  # Libraries the services link.
  libabsl-dev libpqxx-dev libpq-dev prometheus-cpp-dev libboost-dev nlohmann-json3-dev libssl-dev
)
DI_DEBIAN_PACKAGES=(
  "${DI_BUILD_PACKAGES[@]}"
  # Tests and benchmarks.
  libgtest-dev libgmock-dev libbenchmark-dev
  # PostgreSQL 15 server for the throwaway test cluster and the local stack, and its client.
  postgresql-15 postgresql-client-15
  # Tools the scripts call.
  jq curl procps iproute2 util-linux
  # The gateway's SDK test runs the official `openai` npm package (tests/js, installed by `npm ci`).
  nodejs npm
  # Deploy checks: promtool and the prometheus server (tests/deploy, tests/e2e/prometheus_test.sh),
  # python3-yaml to parse Kubernetes manifests.
  prometheus python3-yaml
)

# Prints the packages of DI_DEBIAN_PACKAGES that are not installed, one per line.
di_missing_deps() {
  local pkg status
  for pkg in "${DI_DEBIAN_PACKAGES[@]}"; do
    # NodeSource's nodejs package ships npm itself and conflicts with Debian's npm package.
    if [[ "${pkg}" == npm ]] && command -v npm >/dev/null 2>&1; then
      continue
    fi
    status="$(dpkg-query -W -f='${db:Status-Status}' "${pkg}" 2>/dev/null || true)"
    if [[ "${status}" != "installed" ]]; then
      printf '%s\n' "${pkg}"
    fi
  done
}

di_install_deps() {
  local -a missing sudo_cmd=()
  mapfile -t missing < <(di_missing_deps)
  if ((${#missing[@]} == 0)); then
    echo "deps: all ${#DI_DEBIAN_PACKAGES[@]} Debian packages are installed"
    return 0
  fi

  if ((EUID != 0)); then
    if ! command -v sudo >/dev/null 2>&1; then
      echo "deps: missing packages and not root (no sudo either): ${missing[*]}" >&2
      echo "deps: install them with: apt-get install ${missing[*]}" >&2
      return 1
    fi
    # sudo drops the environment by default; pass DEBIAN_FRONTEND on the command line instead.
    sudo_cmd=(sudo)
  fi

  echo "deps: installing ${#missing[@]} missing package(s): ${missing[*]}"
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o Acquire::Retries=3 update -q
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get -o Acquire::Retries=3 install -y -q --no-install-recommends "${missing[@]}"

  # Fail here, naming the package, rather than later with a puzzling CMake error.
  mapfile -t missing < <(di_missing_deps)
  if ((${#missing[@]} > 0)); then
    echo "deps: still missing after apt-get install: ${missing[*]}" >&2
    return 1
  fi
  echo "deps: done"
}
