#!/usr/bin/env python3
"""Checks deploy/ against the code: every Kubernetes manifest and Prometheus file parses as YAML, every
Grafana dashboard as JSON; every image is a target of deploy/docker/Dockerfile; every command line of a
manifest or systemd unit is accepted by the built binary (run with the same arguments plus --help, which
parses and validates every flag and value, then prints help and exits 0); every DI_* variable set is
one the binary reads; listen ports, container ports, probes and Services agree; and the ports are the
defaults of design.md section 3.

The Kubernetes scrape configuration (deploy/kubernetes/prometheus/) is run over the pods of the
manifests: each job must keep exactly the metrics port of each of its pods. The Dockerfile is checked
without Docker: its build stage installs DI_BUILD_PACKAGES of tests/lib/deps.sh, its runtime stage the
Debian package of every shared library the built binaries load (ldd, dpkg -S, apt-cache), every COPY
source exists, ENTRYPOINTs run what the stages copied, EXPOSE and USER match the manifests.

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


def check_kubernetes(workloads, images):
    """workloads, images: filled for the scrape and Dockerfile checks (see check_kubernetes_scrape and
    check_dockerfile)."""
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
            if doc["kind"] in ("Deployment", "DaemonSet", "StatefulSet"):
                workloads.append((where, doc["metadata"].get("namespace", "default"), doc["kind"],
                                  doc["metadata"]["name"], template))
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
                images.setdefault(m.group(1), []).append((cwhere, c, spec.get("securityContext") or {}))
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


# --- Prometheus on Kubernetes ---------------------------------------------------------------------
# What the pod role of kubernetes_sd_configs sets (Prometheus documentation, "kubernetes_sd_config").
POD_META = {"__meta_kubernetes_namespace", "__meta_kubernetes_pod_name", "__meta_kubernetes_pod_ip",
            "__meta_kubernetes_pod_container_init", "__meta_kubernetes_pod_container_name",
            "__meta_kubernetes_pod_container_image", "__meta_kubernetes_pod_container_port_name",
            "__meta_kubernetes_pod_container_port_number", "__meta_kubernetes_pod_container_port_protocol",
            "__meta_kubernetes_pod_ready", "__meta_kubernetes_pod_phase", "__meta_kubernetes_pod_node_name",
            "__meta_kubernetes_pod_host_ip", "__meta_kubernetes_pod_uid", "__meta_kubernetes_pod_controller_kind",
            "__meta_kubernetes_pod_controller_name"}
POD_META_PREFIXES = ("__meta_kubernetes_pod_label_", "__meta_kubernetes_pod_labelpresent_",
                     "__meta_kubernetes_pod_annotation_", "__meta_kubernetes_pod_annotationpresent_")
# Labels the services put on their own series: a target label of the same name would rename them
# to exported_<name> (the gateway's old `instance` label did exactly that).
SERIES_LABELS = {"node", "instance_id", "model", "configuration", "status", "state", "gpu_type", "kind",
                 "result", "method", "code", "stream", "folder_id", "outcome", "context_length"}
KUBERNETES_SD_KEYS = {"role", "namespaces", "selectors", "api_server", "kubeconfig_file", "attach_metadata",
                      "basic_auth", "authorization", "oauth2", "tls_config", "proxy_url", "follow_redirects",
                      "enable_http2"}


def sanitize(name):
    return re.sub(r"[^a-zA-Z0-9_]", "_", name)


def discovered_targets(workloads):
    """What role `pod` discovery yields for the manifests' pods: one target per declared container port,
    with the __meta_ labels Prometheus would set. workloads: (where, namespace, kind, name, template)."""
    targets = []
    for where, namespace, kind, name, template in workloads:
        meta = template.get("metadata", {})
        pod = {"__meta_kubernetes_namespace": namespace, "__meta_kubernetes_pod_name": f"{name}-7d9f8",
               "__meta_kubernetes_pod_node_name": "gpu-node-1", "__meta_kubernetes_pod_ip": "10.1.2.3",
               "__meta_kubernetes_pod_controller_kind": "ReplicaSet" if kind == "Deployment" else kind}
        for k, v in (meta.get("labels") or {}).items():
            pod[f"__meta_kubernetes_pod_label_{sanitize(k)}"] = str(v)
            pod[f"__meta_kubernetes_pod_labelpresent_{sanitize(k)}"] = "true"
        for k, v in (meta.get("annotations") or {}).items():
            pod[f"__meta_kubernetes_pod_annotation_{sanitize(k)}"] = str(v)
            pod[f"__meta_kubernetes_pod_annotationpresent_{sanitize(k)}"] = "true"
        for c in template["spec"].get("containers", []):
            for port in c.get("ports", []):
                t = dict(pod, __address__=f"10.1.2.3:{port['containerPort']}",
                         __meta_kubernetes_pod_container_name=c["name"],
                         __meta_kubernetes_pod_container_port_name=port.get("name", ""),
                         __meta_kubernetes_pod_container_port_number=str(port["containerPort"]))
                targets.append((where, c, port, t))
    return targets


def relabel(labels, configs):
    """Prometheus' relabelling (the actions this project uses); None when the target is dropped."""
    labels = dict(labels)
    for rc in configs:
        action = rc.get("action", "replace")
        value = rc.get("separator", ";").join(labels.get(l, "") for l in rc.get("source_labels", []))
        regex = re.compile(rc.get("regex", "(.*)"))  # Prometheus anchors the regex at both ends
        m = regex.fullmatch(value)
        if action == "keep":
            if not m:
                return None
        elif action == "drop":
            if m:
                return None
        elif action == "replace":
            if m:
                replacement = re.sub(r"\$\{?(\d+)\}?", lambda g: m.group(int(g.group(1))) or "",
                                     str(rc.get("replacement", "$1")))
                if replacement:
                    labels[rc["target_label"]] = replacement
                else:
                    labels.pop(rc["target_label"], None)
        elif action in ("labeldrop", "labelkeep"):
            keep = action == "labelkeep"
            labels = {k: v for k, v in labels.items() if bool(regex.fullmatch(k)) == keep}
        else:
            raise ValueError(f"relabel action {action} is not simulated here; extend check_deploy.py")
    return labels


def check_kubernetes_scrape(workloads):
    """deploy/kubernetes/prometheus/prometheus.yml against the manifests: the relabelling of each job, run
    over the targets discovery would find, keeps exactly the metrics port of each pod of that job."""
    path = os.path.join(DEPLOY, "kubernetes", "prometheus", "prometheus.yml")
    where = os.path.relpath(path, REPO)
    try:
        with open(path) as f:
            config = yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as e:
        error(where, f"missing or not valid YAML: {e}")
        return
    with open(os.path.join(DEPLOY, "prometheus", "prometheus.yml")) as f:
        local_jobs = {j["job_name"] for j in yaml.safe_load(f)["scrape_configs"]}
    jobs = {j["job_name"]: j for j in config.get("scrape_configs", [])}
    if set(jobs) != local_jobs:
        error(where, f"jobs {sorted(jobs)}; the rules and dashboards expect {sorted(local_jobs)} "
                     f"(deploy/prometheus/prometheus.yml)")
    namespaces = {ns for _, ns, _, _, _ in workloads}
    targets = discovered_targets(workloads)
    scraped = {}  # (where, container name) -> [(job, labels)]
    for name, job in jobs.items():
        jwhere = f"{where} job {name}"
        sds = job.get("kubernetes_sd_configs") or []
        if len(sds) != 1:
            error(jwhere, "needs exactly one kubernetes_sd_configs entry")
            continue
        sd = sds[0]
        if set(sd) - KUBERNETES_SD_KEYS:
            error(jwhere, f"unknown kubernetes_sd_configs keys {sorted(set(sd) - KUBERNETES_SD_KEYS)}")
        if sd.get("role") != "pod":
            error(jwhere, f"role {sd.get('role')!r}: the relabelling is written for role pod")
        names = set((sd.get("namespaces") or {}).get("names") or [])
        if names != namespaces:
            error(jwhere, f"watches namespaces {sorted(names)}; the manifests use {sorted(namespaces)}")
        for rc in job.get("relabel_configs", []):
            for label in rc.get("source_labels", []):
                if label.startswith("__meta_") and label not in POD_META and not label.startswith(POD_META_PREFIXES):
                    error(jwhere, f"relabels from {label}, which role pod does not set")
        for twhere, container, port, labels in targets:
            out = relabel(labels, job.get("relabel_configs", []))
            if out is not None:
                scraped.setdefault((twhere, container["name"]), []).append((name, port, out))
    for twhere, namespace, kind, name, template in workloads:
        annotations = template.get("metadata", {}).get("annotations") or {}
        labels = template.get("metadata", {}).get("labels") or {}
        for c in template["spec"].get("containers", []):
            argv = [str(a) for a in c.get("args", [])]
            metrics = port_of(flag_value(argv, "--metrics-listen"))
            got = scraped.get((twhere, c["name"]), [])
            cwhere = f"{twhere} container {c['name']}"
            if metrics is None:
                if got:
                    error(cwhere, f"has no --metrics-listen but job {got[0][0]} scrapes it")
                continue
            if annotations.get("prometheus.io/scrape") != "true":
                error(cwhere, "serves metrics but its pod lacks the annotation prometheus.io/scrape: \"true\"")
            if str(annotations.get("prometheus.io/port")) != str(metrics):
                error(cwhere, f"annotation prometheus.io/port {annotations.get('prometheus.io/port')!r} but "
                              f"--metrics-listen port {metrics}")
            if len(got) != 1:
                error(cwhere, f"scraped by {len(got)} targets ({[(j, p['containerPort']) for j, p, _ in got]}); "
                              f"expected one, on port {metrics}")
                continue
            job, port, out = got[0]
            if port["containerPort"] != metrics:
                error(cwhere, f"job {job} scrapes port {port['containerPort']}, not the metrics port {metrics}")
            if job != labels.get("app.kubernetes.io/name"):
                error(cwhere, f"scraped by job {job}, but the pod is {labels.get('app.kubernetes.io/name')}")
            clash = {k for k in out if not k.startswith("__")} & SERIES_LABELS
            if clash:
                error(cwhere, f"target labels {sorted(clash)} collide with labels of the series themselves")
            checked.append(f"{where}: job {job} scrapes {twhere} on port {metrics}")


# --- Dockerfile -----------------------------------------------------------------------------------
def binary_targets():
    """The executables the project's CMake builds for deployment (services/*/CMakeLists.txt)."""
    names = set()
    for path in glob.glob(os.path.join(REPO, "services", "*", "CMakeLists.txt")):
        with open(path) as f:
            names |= set(re.findall(r"add_executable\((\S+)", f.read()))
    return names


class Stage:
    def __init__(self, base, name):
        self.base, self.name = base, name
        self.packages = []      # apt-get install arguments
        self.copies = []        # (from_stage or None, source, destination)
        self.entrypoint = None
        self.expose = set()
        self.user = None
        self.runs = []
        self.binary = None


def dockerfile_stages():
    """The Dockerfile's stages in order, with what each installs, copies, exposes and runs."""
    path = os.path.join(DEPLOY, "docker", "Dockerfile")
    with open(path) as f:
        text = re.sub(r"\\\n", " ", f.read())  # join continuation lines
    stages = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        word = word.upper()
        if word == "FROM":
            m = re.fullmatch(r"(\S+)(?:\s+AS\s+(\S+))?", rest.strip(), re.I)
            stages.append(Stage(m.group(1), m.group(2)))
        elif not stages:
            continue
        elif word == "RUN":
            stages[-1].runs.append(rest)
            for m in re.finditer(r"apt-get install ((?:-\S+\s+)*)([^&;]+)", rest):
                stages[-1].packages += m.group(2).split()
        elif word == "COPY":
            args = shlex.split(rest)
            source_stage = next((a.split("=", 1)[1] for a in args if a.startswith("--from=")), None)
            args = [a for a in args if not a.startswith("--")]
            for src in args[:-1]:
                stages[-1].copies.append((source_stage, src, args[-1]))
        elif word == "ENTRYPOINT":
            stages[-1].entrypoint = json.loads(rest)
        elif word == "EXPOSE":
            stages[-1].expose |= {int(p.split("/")[0]) for p in rest.split()}
        elif word == "USER":
            stages[-1].user = rest.strip()
        elif word == "LABEL":
            m = re.match(r"io\.dedicated\.binary=(\S+)", rest)
            if m:
                stages[-1].binary = m.group(1)
    return stages


def stage_chain(stages, stage):
    """The stage and the stages it is built FROM, nearest first."""
    by_name = {s.name: s for s in stages if s.name}
    chain = [stage]
    while chain[-1].base in by_name:
        chain.append(by_name[chain[-1].base])
    return chain


def build_packages():
    """DI_BUILD_PACKAGES of tests/lib/deps.sh, as bash expands it."""
    r = subprocess.run(["bash", "-c", 'source "$1" && printf "%s\\n" "${DI_BUILD_PACKAGES[@]}"', "_",
                        os.path.join(REPO, "tests", "lib", "deps.sh")], capture_output=True, text=True)
    return [p for p in r.stdout.split() if p]


def apt_closure(packages):
    """The packages apt-get install would bring: the packages and everything they depend on (apt-cache,
    from the local package lists; no network). None when apt is not available."""
    if subprocess.run(["sh", "-c", "command -v apt-cache"], capture_output=True).returncode != 0:
        return None
    r = subprocess.run(["apt-cache", "depends", "--recurse", "--no-recommends", "--no-suggests", "--no-conflicts",
                        "--no-breaks", "--no-replaces", "--no-enhances"] + list(packages), capture_output=True, text=True)
    return {line.strip() for line in r.stdout.splitlines() if line and not line.startswith(" ")}


def package_of_file(path):
    """The Debian package that installed `path` (tries the /usr-merged spellings too), or None."""
    candidates = [path, os.path.realpath(path)]
    for p in list(candidates):
        candidates += [p[len("/usr"):]] if p.startswith("/usr/") else ["/usr" + p]
    for p in candidates:
        r = subprocess.run(["dpkg", "-S", p], capture_output=True, text=True)
        if r.returncode == 0:
            return r.stdout.split(":", 1)[0].strip()
    return None


# Sanitizer runtimes: tests/run.sh builds with ASan/UBSan; the image is built without (no DI_SANITIZE).
SANITIZER_LIBS = re.compile(r"lib(asan|ubsan|tsan|lsan)\.so")
# In every Debian image (libc6 depends on libgcc-s1), so the runtime stage need not name them.
BASE_PACKAGES = {"libc6", "libgcc-s1"}


def shared_library_packages(binary_path):
    """(packages of the libraries the binary needs directly, of all it loads, libraries no package owns)."""
    needed = set()
    r = subprocess.run(["readelf", "-d", binary_path], capture_output=True, text=True)
    needed = set(re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", r.stdout))
    r = subprocess.run(["ldd", binary_path], capture_output=True, text=True)
    direct, every, unowned = set(), set(), []
    for line in r.stdout.splitlines():
        m = re.match(r"\s*(\S+) => (/\S+)", line)
        if not m or SANITIZER_LIBS.search(m.group(1)):
            continue
        package = package_of_file(m.group(2))
        if package is None:
            unowned.append(m.group(2))
            continue
        every.add(package)
        if m.group(1) in needed:
            direct.add(package)
    return direct, every, unowned


def check_dockerfile(k8s_images):
    """k8s_images: image target -> [(where, container spec, pod security context)] from the manifests."""
    where = "deploy/docker/Dockerfile"
    stages = dockerfile_stages()
    by_name = {s.name: s for s in stages if s.name}

    build = by_name.get("build")
    if build is None:
        error(where, "no stage named build")
        return
    if not build.base.startswith("debian:bookworm"):
        error(where, f"the build stage is FROM {build.base}; the project builds on Debian 12 (debian:bookworm)")
    wanted = build_packages()
    if not wanted:
        error("tests/lib/deps.sh", "DI_BUILD_PACKAGES is empty or missing")
    elif sorted(build.packages) != sorted(wanted):
        error(where, f"the build stage installs {sorted(set(build.packages) ^ set(wanted))} differently from "
                     f"DI_BUILD_PACKAGES of tests/lib/deps.sh (it must install exactly those)")
    cmake = " ".join(build.runs)
    m = re.search(r"cmake -S \S+ -B (\S+)", cmake)
    build_dir = m.group(1) if m else None
    if not build_dir:
        error(where, "the build stage runs no `cmake -S . -B <dir>`")
    if "DI_SANITIZE=ON" in cmake:
        error(where, "images must not be sanitizer builds")

    for stage in stages:
        for source_stage, src, dst in stage.copies:
            if source_stage is None:
                if not glob.glob(os.path.join(REPO, src.rstrip("/"))):
                    error(where, f"stage {stage.name}: COPY {src}: no such file in the repository")
                continue
            if source_stage not in by_name:
                error(where, f"stage {stage.name}: COPY --from={source_stage}: no such stage")
            if source_stage == "build" and build_dir:
                m = re.fullmatch(re.escape(build_dir) + r"/bin/([\w-]+)", src)
                if not m:
                    error(where, f"stage {stage.name}: COPY --from=build {src} is not a binary of {build_dir}/bin")
                elif m.group(1) not in binary_targets():
                    error(where, f"stage {stage.name}: COPY --from=build {src}: {m.group(1)} is no executable "
                                 f"the project builds ({sorted(binary_targets())})")

    for stage in stages:
        if not stage.binary:
            continue
        swhere = f"{where} target {stage.name}"
        chain = stage_chain(stages, stage)
        # Where the binary lands: a COPY destination (directly, or inside a copied directory).
        dests = [dst.rstrip("/") for s in chain for _, _, dst in s.copies]
        if not stage.entrypoint:
            error(swhere, "no ENTRYPOINT")
            continue
        program = [a for a in stage.entrypoint if a.endswith("/" + stage.binary)]
        if not program:
            error(swhere, f"ENTRYPOINT {stage.entrypoint} does not run {stage.binary}")
        elif not any(program[0] == d or program[0].startswith(d + "/") for d in dests):
            error(swhere, f"ENTRYPOINT runs {program[0]}, which no COPY puts there")
        if stage.name in ("controlplane", "gateway"):
            # The systemd units run /usr/local/bin/<binary> (docs/operations.md): the same path in the image.
            if stage.entrypoint[0] != f"/usr/local/bin/{stage.binary}":
                error(swhere, f"ENTRYPOINT {stage.entrypoint[0]}: the units and docs use /usr/local/bin/{stage.binary}")
            runtime = [s for s in chain if s.packages]
            if not any(s.base.startswith("debian:bookworm") for s in chain):
                error(swhere, "runtime images are Debian 12 (debian:bookworm-slim), like the build")
            check_runtime_libraries(swhere, stage.binary, {p for s in runtime for p in s.packages})
        # Ports and user agree with the containers that run this image.
        for cwhere, container, pod_security in k8s_images.get(stage.name, []):
            declared = {p["containerPort"] for p in container.get("ports", [])}
            if declared - stage.expose:
                error(cwhere, f"declares ports {sorted(declared - stage.expose)} that image target {stage.name} "
                              f"does not EXPOSE ({sorted(stage.expose)})")
            user = next((s.user for s in chain if s.user), None)
            run_as = str(pod_security.get("runAsUser", "")) if pod_security else ""
            if run_as and user != run_as:
                error(cwhere, f"runAsUser {run_as} but image target {stage.name} has USER {user}")
            # Every absolute path the container is given must exist in it: a mounted volume (the root
            # filesystem is read-only) or something this image's stages copied in.
            mounts = [m["mountPath"].rstrip("/") for m in container.get("volumeMounts", [])]
            values = [str(a) for a in container.get("args", [])] + [str(e.get("value", "")) for e in container.get("env", [])]
            for value in values:
                if value.startswith("/") and not any(value == d or value.startswith(d + "/") for d in mounts + dests):
                    error(cwhere, f"uses the path {value}, which is neither mounted nor in image target {stage.name}")
            args = container.get("args", [])
            if stage.name == "controlplane" and args and args[0] not in ("serve", "migrate", "bootstrap"):
                error(cwhere, f"args {args}: the controlplane's first argument is its verb")


def check_runtime_libraries(where, binary, installed):
    path = os.path.join(BIN_DIR, binary)
    if not os.access(path, os.X_OK):
        skipped.add(binary)
        return
    if subprocess.run(["sh", "-c", "command -v dpkg && command -v ldd && command -v readelf"],
                      capture_output=True).returncode != 0:
        error(where, "dpkg, ldd and readelf are needed to check the runtime libraries")
        return
    closure = apt_closure(sorted(installed))
    if closure is None:
        error(where, "apt-cache not found: cannot check the runtime packages")
        return
    for package in sorted(installed):
        if package not in closure:
            error(where, f"runtime package {package} is unknown to apt (a typo, or not in Debian 12)")
    direct, every, unowned = shared_library_packages(path)
    for lib in unowned:
        error(where, f"{binary} loads {lib}, which no Debian package provides")
    for package in sorted(direct - installed - BASE_PACKAGES):
        error(where, f"{binary} links a library of {package} directly; install it by name in the runtime stage")
    for package in sorted(every - closure - BASE_PACKAGES):
        error(where, f"{binary} loads a library of {package}, which the runtime stage does not bring")
    checked.append(f"{where}: {binary} loads {len(every)} packages' libraries, all installed")


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
    workloads, images = [], {}
    check_kubernetes(workloads, images)
    check_kubernetes_scrape(workloads)
    check_dockerfile(images)
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
