#!/usr/bin/env bash
# deploy/prometheus/ is valid for the Prometheus Debian ships (package `prometheus`, tests/lib/deps.sh):
# promtool check config (scrape config and the rule files it names), check rules, and the rule unit
# tests of deploy/prometheus/tests/.
set -euo pipefail

DI_REPO_ROOT="${DI_REPO_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)}"
dir="${DI_REPO_ROOT}/deploy/prometheus"

command -v promtool >/dev/null || {
  echo "FAIL: promtool not found; install the Debian package prometheus (tests/lib/deps.sh)" >&2
  exit 1
}

promtool check config "${dir}/prometheus.yml"
promtool check rules "${dir}"/rules/*.yml
# Unit test files name their rule files relative to themselves.
(cd "${dir}/tests" && promtool test rules ./*.yml)

# Every alert has a unit test and a runbook section in docs/operations.md.
mapfile -t alerts < <(sed -n 's/^ *- alert: *//p' "${dir}"/rules/*.yml)
((${#alerts[@]} > 0)) || { echo "FAIL: no alerts found in ${dir}/rules" >&2; exit 1; }
for alert in "${alerts[@]}"; do
  grep -q "alertname: ${alert}\$" "${dir}"/tests/*.yml || { echo "FAIL: alert ${alert} has no promtool unit test" >&2; exit 1; }
  grep -q "^### ${alert}\$" "${DI_REPO_ROOT}/docs/operations.md" ||
    { echo "FAIL: alert ${alert} has no runbook (### ${alert}) in docs/operations.md" >&2; exit 1; }
done
echo "prometheus rules: ${#alerts[@]} alerts checked and unit-tested"
