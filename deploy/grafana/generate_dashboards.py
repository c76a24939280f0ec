#!/usr/bin/env python3
"""Writes the Grafana dashboards of deploy/grafana/dashboards/ (JSON model, Grafana 9+).

Edit the panels here and run `python3 deploy/grafana/generate_dashboards.py`; the JSON files are
committed too, so that Grafana provisioning (provisioning/dashboards.yml) can load them as they are.
tests/deploy/check_deploy.py fails when the JSON and this script disagree.

Metric names: docs/operations.md, "Metrics". Series read from the database (dedicated_instances,
dedicated_node_*, ...) are reported identically by every controlplane replica: panels take max over
replicas, or use the recording rules of deploy/prometheus/rules/recording.yml.
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "dashboards")

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


def panel(title, exprs, kind="timeseries", unit="short", width=12, height=8, description="", **options):
    """exprs: list of (expr, legend) pairs."""
    p = {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "gridPos": {"w": width, "h": height},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [
            {"refId": chr(ord("A") + i), "datasource": DATASOURCE, "expr": expr, "legendFormat": legend,
             **({"instant": True, "format": "table"} if kind == "table" else {})}
            for i, (expr, legend) in enumerate(exprs)
        ],
    }
    if kind == "stat":
        p["options"] = {"reduceOptions": {"calcs": ["lastNotNull"]}, "colorMode": "value"}
    p.update(options)
    return p


def layout(panels):
    """Places panels left to right, wrapping at 24 columns."""
    x = y = row_height = 0
    for i, p in enumerate(panels):
        w, h = p["gridPos"]["w"], p["gridPos"]["h"]
        if x + w > 24:
            x, y, row_height = 0, y + row_height, 0
        p["gridPos"].update({"x": x, "y": y})
        p["id"] = i + 1
        x += w
        row_height = max(row_height, h)
    return panels


def variable(name, query, label):
    return {
        "name": name, "label": label, "type": "query", "datasource": DATASOURCE,
        "query": {"query": query, "refId": name}, "definition": query,
        "includeAll": True, "multi": True, "allValue": ".*", "current": {"text": "All", "value": "$__all"},
        "refresh": 2, "sort": 1,
    }


def dashboard(uid, title, description, panels, variables=()):
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["dedicated"],
        "timezone": "utc",
        "schemaVersion": 38,
        "version": 1,
        "editable": True,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": [
            {"name": "datasource", "label": "Prometheus", "type": "datasource", "query": "prometheus"},
            *variables,
        ]},
        "links": [{"title": "Dedicated dashboards", "type": "dashboards", "tags": ["dedicated"], "asDropdown": True}],
        "panels": layout(panels),
    }


MODEL_VARS = [
    variable("model", "label_values(dedicated_instances, model)", "Model"),
    variable("configuration", "label_values(dedicated_instances, configuration)", "Configuration"),
]
SEL = 'model=~"$model", configuration=~"$configuration"'
# Gateway series carry instance_id only: join them to their instance's model and configuration.
INSTANCE_CONFIG = 'max by (instance_id, model, configuration) (dedicated_instance_info{%s})' % SEL


def fleet():
    return dashboard("dedicated-fleet", "Dedicated: fleet and capacity",
                     "GPU nodes, GPUs total/used/free by type and node, node liveness, engines.", [
        panel("GPUs", [("gpu_type:dedicated_node_gpus:sum", "{{gpu_type}}")], "stat", width=6, height=5),
        panel("GPUs used", [("gpu_type:dedicated_node_gpus_used:sum", "{{gpu_type}}")], "stat", width=6, height=5),
        panel("GPUs free on placeable nodes", [("gpu_type:dedicated_node_gpus_free_placeable:sum", "{{gpu_type}}")],
              "stat", width=6, height=5,
              description="Free GPUs on READY nodes: what new replicas can use (DRAINING and DOWN nodes excluded)."),
        panel("Nodes by state", [("state:dedicated_nodes:count", "{{state}}")], "stat", width=6, height=5),
        panel("GPU utilisation by type", [
            ("gpu_type:dedicated_node_gpus_used:sum / gpu_type:dedicated_node_gpus:sum", "{{gpu_type}}")],
              unit="percentunit"),
        panel("Free GPUs by node", [("max by (node, gpu_type) (dedicated_node_gpus_free)", "{{node}} ({{gpu_type}})")]),
        panel("Node state", [('max by (node, state) (dedicated_node_state) == 1', "{{node}}: {{state}}")],
              "table", description="Current state of every node (READY, DRAINING, DOWN)."),
        panel("Heartbeat age by node", [("max by (node) (dedicated_node_heartbeat_age_seconds)", "{{node}}")],
              unit="s", description="A node is marked DOWN after --node-timeout (15 s by default) without heartbeat."),
        panel("Engines by state (node-agents)", [("sum by (state) (node_agent_engines)", "{{state}}")]),
        panel("Engine starts and exits", [
            ("sum(rate(node_agent_engine_starts_total[$__rate_interval]))", "started"),
            ("sum by (outcome) (rate(node_agent_engine_exits_total[$__rate_interval]))", "exited: {{outcome}}")],
              unit="ops"),
        panel("Heartbeats refused (node-agents)", [
            ("sum by (instance) (rate(node_agent_heartbeat_failures_total[$__rate_interval]))", "{{instance}}")],
              unit="ops"),
        panel("GPUs held by engines (node-agents)", [
            ("sum by (instance) (node_agent_gpus_used)", "{{instance}} used"),
            ("sum by (instance) (node_agent_gpus)", "{{instance}} total")]),
    ])


def instances():
    return dashboard("dedicated-instances", "Dedicated: instances and SLOs by configuration",
                     "Instances by status, provisioning time, and the gateway's latency against the catalog's "
                     "guarantees (p95 TTFT), by model and configuration.", [
        panel("Instances by status", [
            ('sum by (status) (model_configuration_status:dedicated_instances:max{%s})' % SEL, "{{status}}")],
              "stat", width=24, height=5),
        panel("ACTIVE instances by model and configuration", [
            ('model_configuration_status:dedicated_instances:max{%s, status="ACTIVE"}' % SEL,
             "{{model}} {{configuration}}")]),
        panel("Provisioning time p50 / p95 (Create -> ACTIVE)", [
            ('histogram_quantile(0.5, sum by (model, configuration, le) (rate(dedicated_instance_provisioning_duration_seconds_bucket{%s}[1h])))' % SEL,
             "p50 {{model}} {{configuration}}"),
            ('histogram_quantile(0.95, sum by (model, configuration, le) (rate(dedicated_instance_provisioning_duration_seconds_bucket{%s}[1h])))' % SEL,
             "p95 {{model}} {{configuration}}")], unit="s"),
        panel("Instances in a transitional status", [
            ('max by (instance_id, model, configuration, status) (dedicated_instance_status_age_seconds{%s})' % SEL, "")],
              "table", unit="s", width=24,
              description="CREATING, STARTING, UPDATING, STOPPING, DELETING, with the time spent in it. "
                          "Alert DedicatedInstanceStuckProvisioning fires past 20 minutes."),
        panel("TTFT p95 vs guarantee by configuration", [
            ('model_configuration:gateway_time_to_first_token_seconds:p95_5m{%s}' % SEL, "p95 {{model}} {{configuration}}"),
            ('max by (model, configuration) (dedicated_catalog_ttft_guarantee_seconds{%s})' % SEL,
             "guarantee {{model}} {{configuration}}")], unit="s",
              description="The guarantee line is the catalog's bound at the largest published context length."),
        panel("TTFT p95 by instance", [
            ('instance_id:gateway_time_to_first_token_seconds:p95_5m * on (instance_id) group_left (model, configuration) %s' % INSTANCE_CONFIG,
             "{{instance_id}} ({{model}} {{configuration}})")], unit="s"),
        panel("Inter-token latency p95 by configuration", [
            ('histogram_quantile(0.95, sum by (model, configuration, le) (rate(gateway_inter_token_latency_seconds_bucket[$__rate_interval]) * on (instance_id) group_left (model, configuration) %s))' % INSTANCE_CONFIG,
             "{{model}} {{configuration}}")], unit="s"),
        panel("Output tokens/s per request p50 by configuration", [
            ('histogram_quantile(0.5, sum by (model, configuration, le) (rate(gateway_output_tokens_per_second_bucket[$__rate_interval]) * on (instance_id) group_left (model, configuration) %s))' % INSTANCE_CONFIG,
             "{{model}} {{configuration}}")]),
        panel("Gateway requests by HTTP status", [
            ("sum by (code) (rate(gateway_requests_total[$__rate_interval]))", "{{code}}")], unit="reqps"),
        panel("Gateway requests in flight and queued", [
            ("sum(gateway_in_flight_requests)", "in flight"),
            ("sum(gateway_queued_requests)", "queued (configuration concurrency limit)")]),
        panel("Gateway retries to another replica", [
            ("sum by (instance_id) (rate(gateway_upstream_retries_total[$__rate_interval]))", "{{instance_id}}")],
              unit="ops"),
        panel("Gateways connected to the controlplane", [
            ("min by (instance, stream) (gateway_controlplane_connected)", "{{instance}} {{stream}}")],
              description="0: the gateway serves from its last snapshot (static stability)."),
    ], MODEL_VARS)


def operations():
    return dashboard("dedicated-operations", "Dedicated: operations and API",
                     "Operations by kind and outcome, their durations, the gRPC API and the database pool.", [
        panel("Operations started by kind", [
            ("sum by (kind) (rate(dedicated_operations_started_total[$__rate_interval]))", "{{kind}}")], unit="ops"),
        panel("Operations finished by kind and result", [
            ("sum by (kind, result) (rate(dedicated_operations_finished_total[$__rate_interval]))", "{{kind}} {{result}}")],
              unit="ops"),
        panel("Operation error ratio (15m)", [("kind:dedicated_operations_errors:ratio_rate15m", "{{kind}}")],
              unit="percentunit", description="Failed / finished; CANCELLED is not a failure."),
        panel("Operation duration p95 by kind", [
            ("histogram_quantile(0.95, sum by (kind, le) (rate(dedicated_operation_duration_seconds_bucket[$__rate_interval])))",
             "{{kind}}")], unit="s"),
        panel("Operations in progress", [("max by (kind) (dedicated_operations_in_progress)", "{{kind}}")]),
        panel("Oldest operation in progress", [
            ("max by (kind) (dedicated_operation_oldest_in_progress_seconds)", "{{kind}}")], unit="s"),
        panel("gRPC requests by method and code", [
            ("sum by (method, code) (rate(dedicated_grpc_requests_total[$__rate_interval]))", "{{method}} {{code}}")],
              unit="reqps"),
        panel("gRPC latency p95 by method", [
            ("histogram_quantile(0.95, sum by (method, le) (rate(dedicated_grpc_request_duration_seconds_bucket[$__rate_interval])))",
             "{{method}}")], unit="s"),
        panel("gRPC server error ratio", [("dedicated_grpc_requests:server_error_ratio_rate5m", "errors")],
              unit="percentunit", description="INTERNAL, UNAVAILABLE, UNKNOWN, DEADLINE_EXCEEDED, DATA_LOSS / all."),
        panel("Database pool: connections busy and tasks queued", [
            ("sum by (instance) (dedicated_db_executor_busy)", "{{instance}} busy"),
            ("sum by (instance) (dedicated_db_executor_queued)", "{{instance}} queued")]),
        panel("Database pool: wait for a connection p99", [
            ("histogram_quantile(0.99, sum by (instance, le) (rate(dedicated_db_executor_wait_seconds_bucket[$__rate_interval])))",
             "{{instance}}")], unit="s"),
        panel("Fleet metrics age", [
            ("time() - max by (instance) (dedicated_fleet_metrics_last_success_timestamp_seconds)", "{{instance}}")],
              unit="s", description="Seconds since each controlplane last read the fleet state from the database."),
    ])


def billing():
    return dashboard("dedicated-billing", "Dedicated: billing",
                     "Billable replica-seconds (uptime of ACTIVE instances only), by configuration and folder. "
                     "Series of the billing meter (dedicated_billable_seconds_total) lag about a minute: only "
                     "settled seconds are counted.", [
        panel("Replicas being billed, by configuration", [
            ("configuration:dedicated_billable_seconds:rate5m", "{{configuration}}")],
              description="Billable seconds per second = replicas billed right now."),
        panel("ACTIVE instances by configuration", [
            ('sum by (configuration) (model_configuration_status:dedicated_instances:max{status="ACTIVE"})',
             "{{configuration}}")]),
        panel("Billable replica-hours in the last 24 h, by folder and configuration", [
            ("max by (folder_id, configuration) (increase(dedicated_billable_seconds_total[24h])) / 3600",
             "{{folder_id}} {{configuration}}")], "table", width=24, unit="h"),
        panel("Billable replica-hours per hour", [
            ("sum(configuration:dedicated_billable_seconds:rate5m)", "all")], width=24),
    ])


DASHBOARDS = {"fleet.json": fleet, "instances.json": instances, "operations.json": operations, "billing.json": billing}


def render(build):
    return json.dumps(build(), indent=2, sort_keys=True) + "\n"


def main():
    check = "--check" in sys.argv
    os.makedirs(OUT, exist_ok=True)
    stale = []
    for name, build in DASHBOARDS.items():
        path = os.path.join(OUT, name)
        text = render(build)
        if check:
            with open(path) as f:
                if f.read() != text:
                    stale.append(path)
        else:
            with open(path, "w") as f:
                f.write(text)
    if stale:
        print("out of date (run deploy/grafana/generate_dashboards.py): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
