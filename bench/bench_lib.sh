# shellcheck shell=bash
# Shared steps of the benchmark scripts (sourced after tests/lib/pg.sh, with `log` defined): building the
# binaries a bench needs, and removing (or keeping) its run directory and PostgreSQL cluster.

# bench_build <build dir> <build log name> <target...>: sets BIN to the directory of the binaries. With
# $bin_dir set, uses the binaries there; with $skip_build=1 and every target already built, uses those;
# otherwise builds the targets in Release with benches on (-j1 and ccache: the machine is small and
# shared, and rebuilds are then cheap).
bench_build() {
  local build_dir="$1" log_name="$2" t
  shift 2
  local -a targets=("$@")
  BIN="${build_dir}/bin"
  _bench_have_bins() { for t in "${targets[@]}"; do [[ -x "$1/${t}" ]] || return 1; done; }
  if [[ -n "${bin_dir:-}" ]]; then
    BIN="$(cd "${bin_dir}" && pwd -P)"
    _bench_have_bins "${BIN}" || { log "--bin-dir ${bin_dir}: one of ${targets[*]} is missing"; exit 2; }
    log "using the binaries in ${BIN}"
  elif ((${skip_build:-0})) && _bench_have_bins "${BIN}"; then
    log "skipping the build, using ${BIN}"
  else
    log "building ${targets[*]} (Release) in ${build_dir}"
    local -a launcher=()
    command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
    cmake -S "${DI_REPO_ROOT}" -B "${build_dir}" -G Ninja -DCMAKE_BUILD_TYPE=Release -DDI_BUILD_BENCH=ON \
      "${launcher[@]}" >/dev/null
    if ! CCACHE_BASEDIR="$(dirname "${DI_REPO_ROOT}")" ninja -C "${build_dir}" -j1 "${targets[@]}" \
      >"${build_dir}/${log_name}" 2>&1; then
      tail -n 40 "${build_dir}/${log_name}" >&2
      log "build failed (log: ${build_dir}/${log_name})"
      exit 1
    fi
  fi
}

# bench_drop_run_dir <what the kept directory holds>: stops the run's PostgreSQL ($run_dir/pg) and
# removes $run_dir, or with $keep=1 stops the cluster but keeps everything and says where.
bench_drop_run_dir() {
  [[ -n "${run_dir:-}" && -d "${run_dir}" ]] || return 0
  if ((${keep:-0})); then
    di_pg_stop "${run_dir}/pg" --keep
    log "kept ${run_dir} ($1)"
  else
    di_pg_stop "${run_dir}/pg" >/dev/null
    rm -rf -- "${run_dir}"
  fi
}

# median <numbers...>: the middle value (the mean of the two middle ones for an even count).
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
