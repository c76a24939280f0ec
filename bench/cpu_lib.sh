# CPU accounting for the benchmark scripts (sourced): how many cores a process, the PostgreSQL cluster of
# the run ($run_dir/pg) and the whole machine used, from /proc.

# CPU time (clock ticks) a process has used; with "tree", the time of its reaped children too.
proc_ticks() {
  local pid="$1" tree="${2:-}" stat
  stat="$(cat "/proc/${pid}/stat" 2>/dev/null)" || { echo 0; return; }
  stat="${stat##*) }" # fields after "(comm) ", which may contain spaces; utime is field 14 overall
  read -r -a f <<<"${stat}"
  if [[ "${tree}" == "tree" ]]; then
    echo $((f[11] + f[12] + f[13] + f[14]))
  else
    echo $((f[11] + f[12]))
  fi
}

# CPU ticks of the whole PostgreSQL cluster: the postmaster with every backend it reaped, plus live ones.
pg_ticks() {
  local postmaster total child
  postmaster="$(head -n 1 "${run_dir}/pg/data/postmaster.pid")"
  total="$(proc_ticks "${postmaster}" tree)"
  for child in $(pgrep -P "${postmaster}"); do total=$((total + $(proc_ticks "${child}"))); done
  echo "${total}"
}

# Busy and total ticks of the machine (all CPUs), from /proc/stat.
machine_ticks() {
  local -a c
  read -r -a c </proc/stat
  echo "$((c[1] + c[2] + c[3] + c[6] + c[7] + c[8])) $((c[1] + c[2] + c[3] + c[4] + c[5] + c[6] + c[7] + c[8]))"
}

ticks_per_s="$(getconf CLK_TCK)"
ncpu="$(nproc)"
# cores <ticks> <seconds>: average cores used.
cores() { awk -v t="$1" -v hz="${ticks_per_s}" -v s="$2" 'BEGIN { printf "%.2f", t / hz / s }'; }
