#!/usr/bin/env bash
# deploy/prometheus/ is valid for the Prometheus Debian ships (package `prometheus`, tests/lib/deps.sh):
# promtool check config (scrape config and the rule files it names; also the Kubernetes scrape config of
# deploy/kubernetes/prometheus/), check rules, and the rule unit tests of deploy/prometheus/tests/.
set -euo pipefail

DI_REPO_ROOT="${DI_REPO_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)}"
dir="${DI_REPO_ROOT}/deploy/prometheus"

command -v promtool >/dev/null || {
  echo "FAIL: promtool not found; install the Debian package prometheus (tests/lib/deps.sh)" >&2
  exit 1
}

promtool check config "${dir}/prometheus.yml"

# The Kubernetes scrape configuration (deploy/kubernetes/prometheus/), with the rule files beside it as
# they are mounted in a cluster. Debian builds Prometheus without Kubernetes service discovery, so its
# promtool rejects kubernetes_sd_configs as an unknown field: then the same file with each
# kubernetes_sd_configs block swapped for a file_sd_configs one is checked instead (everything else:
# relabelling, regexes, rule files), and tests/deploy/check_deploy.py checks the discovery blocks
# themselves and runs the relabelling over the pods of the manifests.
k8s_dir="$(mktemp -d)"
trap 'rm -rf "${k8s_dir}"' EXIT
cp "${DI_REPO_ROOT}/deploy/kubernetes/prometheus/prometheus.yml" "${dir}"/rules/*.yml "${k8s_dir}/"
if ! out="$(promtool check config "${k8s_dir}/prometheus.yml" 2>&1)"; then
  if ! grep -q "field kubernetes_sd_configs not found" <<<"${out}"; then
    echo "${out}" >&2
    echo "FAIL: promtool check config deploy/kubernetes/prometheus/prometheus.yml" >&2
    exit 1
  fi
  echo "promtool has no Kubernetes service discovery (Debian build): checking with file_sd_configs in its place"
  echo "[]" >"${k8s_dir}/targets.json"
  python3 - "${k8s_dir}/prometheus.yml" <<'EOF_PY'
import sys, yaml
path = sys.argv[1]
config = yaml.safe_load(open(path))
for job in config["scrape_configs"]:
    assert job.pop("kubernetes_sd_configs", None), f"job {job['job_name']} has no kubernetes_sd_configs"
    job["file_sd_configs"] = [{"files": ["targets.json"]}]
yaml.safe_dump(config, open(path, "w"))
EOF_PY
  promtool check config "${k8s_dir}/prometheus.yml"
else
  echo "${out}"
fi
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
