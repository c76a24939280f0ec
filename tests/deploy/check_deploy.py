#!/usr/bin/env python3
"""Checks deploy/ against the code: every Kubernetes manifest and Prometheus file parses as YAML, every
Grafana dashboard as JSON; every image is a target of deploy/docker/Dockerfile; every command line of a
manifest or systemd unit is accepted by the built binary (run with the same arguments plus --help, which
parses and validates every flag and value, then prints help and exits 0); every DI_* variable set is
one the binary reads; listen ports, container ports, probes and Services agree; and the ports are the
defaults of design.md section 3.

Usage: DI_BIN_DIR=build/bin tests/deploy/check_deploy.py   (DI_REPO_ROOT defaults to the checkout)
A binary missing from DI_BIN_DIR (e.g. the gateway before its branch is merged) is reported as SKIP.
"""
import glob
import json
import os
import re
import shlex
import subprocess
import sys

import yaml

REPO = os.environ.get("DI_REPO_ROOT") or os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN_DIR = os.environ.get("DI_BIN_DIR") or os.path.join(REPO, "build", "bin")
DEPLOY = os.path.join(REPO, "deploy")

# design.md section 3: the public contract's default ports, by binary and listen flag.
DESIGN_PORTS = {
    ("controlplane", "--listen"): 50051,
    ("controlplane", "--metrics-listen"): 9464,
    ("gateway", "--listen"): 8080,
    ("gateway", "--metrics-listen"): 9465,
    ("node-agent", "--metrics-listen"): 9466,
}
LISTEN_FLAGS = ("--listen", "--metrics-listen")

errors = []
skipped = set()
checked = []


def error(where, message):
    errors.append(f"{where}: {message}")


def flag_value(argv, flag):
    for i, arg in enumerate(argv):
        if arg == flag and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(flag + "="):
            return arg[len(flag) + 1:]
    return None


def port_of(address):
    m = re.fullmatch(r"(.*):(\d+)", address or "")
    return int(m.group(2)) if m else None


_help_cache = {}


def help_text(binary, verb=None):
    """The --help output of a binary (and verb); None when the binary is not built."""
    key = (binary, verb)
    if key not in _help_cache:
        path = os.path.join(BIN_DIR, binary)
        if not os.access(path, os.X_OK):
            _help_cache[key] = None
        else:
            argv = [path] + ([verb] if verb else []) + ["--help"]
            r = subprocess.run(argv, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}, timeout=30)
            _help_cache[key] = r.stdout + r.stderr
    return _help_cache[key]


def all_help(binary):
    """Every verb's help of a binary: the variables it reads."""
    if binary == "controlplane":
        texts = [help_text(binary, v) for v in ("serve", "migrate", "bootstrap")]
        return None if None in texts else "\n".join(texts)
    return help_text(binary)


def check_command_line(where, binary, argv, env_names):
    """Runs the binary with argv + --help: every flag must exist and every value parse."""
    path = os.path.join(BIN_DIR, binary)
    if not os.access(path, os.X_OK):
        skipped.add(binary)
        return
    # Kubernetes $(VAR) and systemd ${VAR} expansions: any non-empty value will do for parsing.
    concrete = [re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)|\$\{([A-Za-z_][A-Za-z0-9_]*)\}", "x", a) for a in argv]
    r = subprocess.run([path] + concrete + ["--help"], capture_output=True, text=True,
                       env={"PATH": "/usr/bin:/bin"}, timeout=30)
    if r.returncode != 0:
        error(where, f"`{binary} {' '.join(argv)}` is refused by the binary: {(r.stderr or r.stdout).strip()}")
    text = all_help(binary) or ""
    for name in sorted(env_names):
        if name.startswith("DI_") and f"${name}" not in text and name not in text:
            error(where, f"{binary} reads no environment variable {name} (see `{binary} --help`)")
    checked.append(f"{where}: {binary} {' '.join(argv)}")


def check_design_ports(where, binary, argv):
    for flag in LISTEN_FLAGS:
        value = flag_value(argv, flag)
        expected = DESIGN_PORTS.get((binary, flag))
        if value is not None and expected is not None and port_of(value) != expected:
            error(where, f"{binary} {flag} {value}: the contract's port is {expected} (design.md section 3)")


# --- Dockerfile targets -> binaries ---------------------------------------------------------------
def docker_targets():
    targets = {}
    current = None
    with open(os.path.join(DEPLOY, "docker", "Dockerfile")) as f:
        for line in f:
            m = re.match(r"FROM\s+\S+\s+AS\s+(\S+)", line, re.I)
            if m:
                current = m.group(1)
            m = re.match(r"LABEL\s+io\.dedicated\.binary=(\S+)", line)
            if m and current:
                targets[current] = m.group(1)
    return targets


# --- Kubernetes -----------------------------------------------------------------------------------
def pod_specs(doc):
    kind = doc.get("kind")
    if kind in ("Deployment", "DaemonSet", "StatefulSet", "Job"):
        return [doc["spec"]["template"]]
    if kind == "CronJob":
        return [doc["spec"]["jobTemplate"]["spec"]["template"]]
    return []


def check_kubernetes():
    targets = docker_targets()
    docs = []
    for path in sorted(glob.glob(os.path.join(DEPLOY, "kubernetes", "*.yaml"))):
        name = os.path.relpath(path, REPO)
        try:
            with open(path) as f:
                docs += [(name, d) for d in yaml.safe_load_all(f) if d]
        except yaml.YAMLError as e:
            error(name, f"not valid YAML: {e}")
    if not docs:
        error("deploy/kubernetes", "no manifests found")
    config_keys = {}
    for name, doc in docs:
        if doc.get("kind") in ("ConfigMap", "Secret"):
            data = dict(doc.get("data") or {}, **(doc.get("stringData") or {}))
            config_keys[doc["metadata"]["name"]] = set(data)
    kustomization = next((d for n, d in docs if d.get("kind") == "Kustomization"), None)
    if kustomization:
        listed = set(kustomization.get("resources", []))
        for path in glob.glob(os.path.join(DEPLOY, "kubernetes", "*.yaml")):
            base = os.path.basename(path)
            if base != "kustomization.yaml" and base not in listed:
                error("deploy/kubernetes/kustomization.yaml", f"does not list {base}")

    services = [(n, d) for n, d in docs if d.get("kind") == "Service"]
    pods = []  # (where, labels, containers)
    for name, doc in docs:
        for template in pod_specs(doc):
            where = f"{name} {doc['kind']}/{doc['metadata']['name']}"
            labels = template.get("metadata", {}).get("labels", {})
            spec = template["spec"]
            pods.append((where, labels, spec.get("containers", [])))
            for c in spec.get("initContainers", []) + spec.get("containers", []):
                cwhere = f"{where} container {c['name']}"
                image = c.get("image", "")
                m = re.fullmatch(r"dedicated/([a-z0-9-]+):[\w.-]+", image)
                if not m or m.group(1) not in targets:
                    error(cwhere, f"image {image!r} is not a target of deploy/docker/Dockerfile "
                                  f"(targets with a binary: {sorted(targets)})")
                    continue
                binary = targets[m.group(1)]
                argv = [str(a) for a in (c.get("command", [])[1:] if c.get("command") else []) + c.get("args", [])]
                env_names = {e["name"] for e in c.get("env", [])}
                for source in c.get("envFrom", []):
                    ref = source.get("configMapRef") or source.get("secretRef")
                    if ref["name"] not in config_keys:
                        error(cwhere, f"envFrom names {ref['name']}, which no manifest defines")
                    env_names |= config_keys.get(ref["name"], set())
                for e in c.get("env", []):
                    ref = (e.get("valueFrom") or {}).get("configMapKeyRef") or (e.get("valueFrom") or {}).get("secretKeyRef")
                    if ref and not ref.get("optional") and ref["key"] not in config_keys.get(ref["name"], set()):
                        error(cwhere, f"env {e['name']} refers to {ref['name']}/{ref['key']}, which no manifest defines")
                check_command_line(cwhere, binary, argv, env_names)
                check_design_ports(cwhere, binary, argv)
                declared = {p["containerPort"]: p.get("name") for p in c.get("ports", [])}
                listened = {port_of(flag_value(argv, f)) for f in LISTEN_FLAGS if flag_value(argv, f)}
                for port in listened - set(declared):
                    error(cwhere, f"listens on {port} but declares no containerPort for it")
                for port in set(declared) - listened:
                    error(cwhere, f"declares containerPort {port} but nothing listens on it (flags: {argv})")
                names = {v for v in declared.values() if v}
                for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
                    p = c.get(probe)
                    if not p:
                        continue
                    handler = p.get("httpGet") or p.get("tcpSocket") or p.get("grpc") or {}
                    port = handler.get("port")
                    if port is not None and port not in names and port not in declared:
                        error(cwhere, f"{probe} uses port {port!r}, which the container does not declare")
                if binary == "node-agent":
                    gpus = flag_value(argv, "--gpus")
                    limit = str(c.get("resources", {}).get("limits", {}).get("nvidia.com/gpu"))
                    if gpus != limit:
                        error(cwhere, f"--gpus {gpus} but the container's nvidia.com/gpu limit is {limit}")
                    if flag_value(argv, "--engine-kind") != "vllm":
                        error(cwhere, "GPU nodes run vLLM engines: --engine-kind vllm")
                    upstream = flag_value(argv, "--controlplane") or ""
                else:
                    upstream = flag_value(argv, "--controlplane") or ""
                if upstream:
                    host, port = upstream.rsplit(":", 1)
                    svc = next((d for n, d in services if d["metadata"]["name"] == host.split(".")[0]), None)
                    if svc is None or int(port) not in [p["port"] for p in svc["spec"]["ports"]]:
                        error(cwhere, f"--controlplane {upstream}: no Service with that name and port")

    for name, svc in services:
        where = f"{name} Service/{svc['metadata']['name']}"
        selector = svc["spec"].get("selector", {})
        matching = [cs for w, labels, cs in pods if all(labels.get(k) == v for k, v in selector.items())]
        if not matching:
            error(where, f"selector {selector} matches no pod template")
            continue
        for p in svc["spec"]["ports"]:
            target = p.get("targetPort", p["port"])
            ok = any(target == cp.get("name") or target == cp["containerPort"]
                     for cs in matching for c in cs for cp in c.get("ports", []))
            if not ok:
                error(where, f"targetPort {target!r} is no port of the selected containers")


# --- systemd --------------------------------------------------------------------------------------
def env_file_names(path):
    names = set()
    with open(path) as f:
        for line in f:
            m = re.match(r"\s*#?\s*(DI_[A-Z0-9_]+)=", line)
            if m:
                names.add(m.group(1))
    return names


def check_systemd():
    units = sorted(glob.glob(os.path.join(DEPLOY, "systemd", "*.service")))
    if not units:
        error("deploy/systemd", "no units found")
    for path in units:
        where = os.path.relpath(path, REPO)
        settings = {}
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line or line.startswith(("#", ";", "[")):
                    continue
                key, _, value = line.partition("=")
                settings.setdefault(key.strip(), []).append(value.strip())
        env_names = set()
        for value in settings.get("Environment", []):
            for assignment in shlex.split(value):
                env_names.add(assignment.split("=", 1)[0])
        for value in settings.get("EnvironmentFile", []):
            example = os.path.join(DEPLOY, "systemd", os.path.basename(value.lstrip("-")) + ".example")
            if os.path.exists(example):
                env_names |= env_file_names(example)
            elif not value.startswith("-"):
                error(where, f"EnvironmentFile {value} has no example {os.path.relpath(example, REPO)}")
        binaries = set()
        for key in ("ExecStartPre", "ExecStart"):
            for value in settings.get(key, []):
                argv = shlex.split(value.lstrip("-+!@:"))
                binary = os.path.basename(argv[0])
                binaries.add(binary)
                check_command_line(f"{where} {key}", binary, argv[1:], env_names)
                check_design_ports(f"{where} {key}", binary, argv[1:])
        if "node-agent" in binaries:
            # services/node_agent/README.md, "Agent restarts": restarts must not take the engines along.
            if settings.get("KillMode") != ["process"]:
                error(where, "the node-agent unit needs KillMode=process (engines survive agent restarts)")
            if not any("--keep-engines-on-exit" in v for v in settings.get("ExecStart", [])):
                error(where, "the node-agent unit needs --keep-engines-on-exit")


# --- Prometheus and Grafana -----------------------------------------------------------------------
def check_prometheus_and_grafana():
    with open(os.path.join(DEPLOY, "prometheus", "prometheus.yml")) as f:
        config = yaml.safe_load(f)
    expected = {"dedicated-controlplane": 9464, "dedicated-gateway": 9465, "dedicated-node-agent": 9466}
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    for job, port in expected.items():
        targets = [t for sc in jobs.get(job, {}).get("static_configs", []) for t in sc["targets"]]
        if not targets or any(port_of(t) != port for t in targets):
            error("deploy/prometheus/prometheus.yml", f"job {job} must scrape port {port}, has {targets}")
    for path in sorted(glob.glob(os.path.join(DEPLOY, "prometheus", "**", "*.yml"), recursive=True)):
        try:
            with open(path) as f:
                yaml.safe_load(f)
        except yaml.YAMLError as e:
            error(os.path.relpath(path, REPO), f"not valid YAML: {e}")
    dashboards = sorted(glob.glob(os.path.join(DEPLOY, "grafana", "dashboards", "*.json")))
    if not dashboards:
        error("deploy/grafana/dashboards", "no dashboards found")
    uids = set()
    all_exprs = []
    for path in dashboards:
        where = os.path.relpath(path, REPO)
        try:
            with open(path) as f:
                d = json.load(f)
        except json.JSONDecodeError as e:
            error(where, f"not valid JSON: {e}")
            continue
        if not d.get("uid") or not d.get("title") or d["uid"] in uids:
            error(where, "needs a unique uid and a title")
        uids.add(d.get("uid"))
        exprs = [t.get("expr") for p in d.get("panels", []) for t in p.get("targets", [])]
        if not exprs or not all(exprs):
            error(where, "every panel target needs a PromQL expr")
        all_exprs.extend((where, e) for e in exprs if e)
    check_promql_syntax(all_exprs)
    generator = os.path.join(DEPLOY, "grafana", "generate_dashboards.py")
    r = subprocess.run([sys.executable, generator, "--check"], capture_output=True, text=True)
    if r.returncode != 0:
        error("deploy/grafana", r.stderr.strip())


# Grafana's variables, replaced by what "All" and a default range would give.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h", "$model": ".*",
                     "$configuration": ".*"}


def grafana_to_promql(expr):
    for var, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(var, value)
    return expr


def check_promql_syntax(exprs):
    """promtool parses every dashboard expression (as a recording rule of a throwaway rule file)."""
    import tempfile
    if subprocess.run(["sh", "-c", "command -v promtool"], capture_output=True).returncode != 0:
        error("deploy/grafana", "promtool not found (Debian package prometheus): dashboard PromQL not checked")
        return
    def parses(batch):
        rules = {"groups": [{"name": "dashboard", "rules": [
            {"record": "dashboard:expr", "expr": grafana_to_promql(e)} for _, e in batch]}]}
        with tempfile.NamedTemporaryFile("w", suffix=".yml") as f:
            yaml.safe_dump(rules, f)
            f.flush()
            r = subprocess.run(["promtool", "check", "rules", f.name], capture_output=True, text=True)
            return r.returncode == 0, (r.stdout + r.stderr).strip()

    ok, _ = parses(exprs)
    if ok:
        return
    for where, expr in exprs:  # one at a time, to name the culprits
        ok, output = parses([(where, expr)])
        if not ok:
            error(where, f"PromQL does not parse: {expr}: {output}")


def main():
    check_kubernetes()
    check_systemd()
    check_prometheus_and_grafana()
    for line in checked:
        print(f"ok    {line}")
    for binary in sorted(skipped):
        print(f"SKIP  {binary}: not built in {BIN_DIR}; its command lines were not checked against it")
    for e in errors:
        print(f"FAIL  {e}", file=sys.stderr)
    if errors:
        return 1
    print(f"deploy files: {len(checked)} command lines checked, no problems")
    return 0


if __name__ == "__main__":
    sys.exit(main())
