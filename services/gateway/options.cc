#include "services/gateway/options.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace dedicated::gateway {

const char kUsage[] =
    "gateway: the OpenAI-compatible data plane of dedicated instances.\n"
    "\n"
    "Usage: gateway [flags]\n"
    "\n"
    "Serves GET /v1/models, POST /v1/chat/completions and POST /v1/completions (stream: true as server-sent\n"
    "events) on --listen, authenticates `Authorization: Bearer <key>` or `Api-Key <key>` against the\n"
    "controlplane's IAM snapshot (role ai.languageModels.user on the instance's folder), routes to the\n"
    "least-loaded ready replica with failover before the first byte, and admits at most the configuration's\n"
    "max concurrency per replica (excess waits, then 429). Routing and IAM come as streams from\n"
    "--controlplane; when it is unreachable the gateway serves from the last ones it got. GET /health is\n"
    "unauthenticated. Prometheus metrics on --metrics-listen. SIGTERM/SIGINT: stop accepting, finish\n"
    "requests in flight (up to --shutdown-grace), exit 0.\n"
    "Logs are JSON lines on stderr: one per HTTP request (msg \"http\": request_id, status, instance_id,\n"
    "replica, account_id; never the key) unless --access-log=false.";

void RegisterFlags(FlagSet& flags, Options& o) {
  flags.String("listen", "DI_GATEWAY_LISTEN", &o.listen, "HTTP address (host:port; port 0 picks one)");
  flags.String("metrics-listen", "DI_GATEWAY_METRICS_LISTEN", &o.metrics_listen,
               "Prometheus /metrics address; empty: none");
  flags.String("controlplane", "DI_CONTROLPLANE", &o.controlplane, "controlplane gRPC address");
  flags.String("gateway-key-file", "DI_GATEWAY_KEY_FILE", &o.gateway_key_file,
               "file with the gateway credential (written by `controlplane bootstrap --gateway-key-file`)");
  flags.Int("threads", "DI_GATEWAY_THREADS", &o.threads, "I/O threads; 0: one per core");
  flags.Int("max-body-bytes", "DI_GATEWAY_MAX_BODY_BYTES", &o.max_body_bytes,
            "largest request body; larger ones get 413");
  flags.Int("max-header-bytes", "DI_GATEWAY_MAX_HEADER_BYTES", &o.max_header_bytes,
            "largest request header block; larger ones get 431");
  flags.Duration("idle-timeout", "DI_GATEWAY_IDLE_TIMEOUT", &o.idle_timeout,
                 "a keep-alive connection without a request for this long is closed");
  flags.Duration("header-timeout", "DI_GATEWAY_HEADER_TIMEOUT", &o.header_timeout,
                 "a request header must be complete this long after its first byte (slowloris)");
  flags.Duration("body-timeout", "DI_GATEWAY_BODY_TIMEOUT", &o.body_timeout, "time to receive a request body");
  flags.Duration("write-timeout", "DI_GATEWAY_WRITE_TIMEOUT", &o.write_timeout,
                 "a client that does not read its answer for this long is dropped (its replica slot freed)");
  flags.Duration("queue-timeout", "DI_GATEWAY_QUEUE_TIMEOUT", &o.queue_timeout,
                 "how long a request waits for a replica slot before 429");
  flags.Int("max-queue", "DI_GATEWAY_MAX_QUEUE", &o.max_queue,
            "requests waiting for a slot per instance; more get 429 at once");
  flags.Duration("connect-timeout", "DI_GATEWAY_CONNECT_TIMEOUT", &o.connect_timeout,
                 "connecting to an engine; a failure fails over to the next replica");
  flags.Duration("engine-timeout", "DI_GATEWAY_ENGINE_TIMEOUT", &o.engine_timeout,
                 "request sent to an engine -> its response header (non-streaming: the whole generation); 504 after");
  flags.Duration("stream-idle-timeout", "DI_GATEWAY_STREAM_IDLE_TIMEOUT", &o.stream_idle_timeout,
                 "longest pause of an engine within an answer");
  flags.Duration("shutdown-grace", "DI_GATEWAY_SHUTDOWN_GRACE", &o.shutdown_grace,
                 "on SIGTERM, how long requests in flight may take");
  flags.String("log-level", "DI_GATEWAY_LOG_LEVEL", &o.log_level, "debug, info, warning or error");
  flags.Bool("access-log", "DI_GATEWAY_ACCESS_LOG", &o.access_log,
             "one JSON line per HTTP request on stderr (request_id, method, path, status, duration_ms, account_id, "
             "instance_id, replica; never the key); false: none");
}

absl::Status Validate(const Options& o) {
  auto bad = [](const char* flag, const char* why) {
    return absl::InvalidArgumentError(absl::StrCat("--", flag, ": ", why));
  };
  if (auto s = SplitHostPort(o.listen); !s.ok()) return bad("listen", "expected host:port");
  if (!o.metrics_listen.empty()) {
    if (auto s = SplitHostPort(o.metrics_listen); !s.ok()) return bad("metrics-listen", "expected host:port");
  }
  if (o.controlplane.empty()) return bad("controlplane", "must not be empty");
  if (o.gateway_key_file.empty()) return bad("gateway-key-file", "required (the gateway credential)");
  if (o.threads < 0 || o.threads > 256) return bad("threads", "must be in [0, 256]");
  if (o.max_body_bytes < 1024) return bad("max-body-bytes", "must be at least 1024");
  if (o.max_header_bytes < 1024) return bad("max-header-bytes", "must be at least 1024");
  if (o.max_queue < 0) return bad("max-queue", "must not be negative");
  for (auto [flag, d] : {std::pair{"idle-timeout", o.idle_timeout}, {"header-timeout", o.header_timeout},
                         {"body-timeout", o.body_timeout}, {"write-timeout", o.write_timeout},
                         {"connect-timeout", o.connect_timeout}, {"engine-timeout", o.engine_timeout},
                         {"stream-idle-timeout", o.stream_idle_timeout}}) {
    if (d <= absl::ZeroDuration()) return bad(flag, "must be positive");
  }
  if (o.queue_timeout < absl::ZeroDuration()) return bad("queue-timeout", "must not be negative");
  return absl::OkStatus();
}

absl::StatusOr<std::pair<std::string, int>> SplitHostPort(const std::string& address) {
  size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0) return absl::InvalidArgumentError("expected host:port");
  int port = 0;
  if (!absl::SimpleAtoi(address.substr(colon + 1), &port) || port < 0 || port > 65535) {
    return absl::InvalidArgumentError("bad port");
  }
  std::string host = address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return std::pair{host, port};
}

}  // namespace dedicated::gateway
