#include "services/engine_sim/options.h"

#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "services/engine_sim/string_view_compat.h"

namespace dedicated::engine_sim {

const char kUsage[] =
    "engine-sim: SIMULATES a GPU inference engine (a stand-in for vLLM on machines without GPUs).\n"
    "There is no model and no GPU: generated text is synthetic (cycled lorem-ipsum words) and only the\n"
    "timing (TTFT, inter-token latency, slowdown under concurrency) imitates a real engine.\n"
    "\n"
    "Usage: engine-sim [flags]\n"
    "\n"
    "Serves an OpenAI-compatible HTTP API: GET /health, GET /v1/models, POST /v1/chat/completions,\n"
    "POST /v1/completions (stream: true as server-sent events), GET /metrics (Prometheus text).\n"
    "On start it logs one JSON line to stderr with \"host\" and \"port\" (the bound port, also with --port "
    "0).";

namespace {

std::string Env(const char* name) { return absl::StrCat("DI_ENGINE_SIM_", name); }

absl::Status Invalid(std::string_view flag, std::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat("--", ToAbsl(flag), ": ", ToAbsl(problem)));
}

}  // namespace

void RegisterFlags(FlagSet& flags, FlagValues& v) {
  flags.String("host", Env("HOST"), &v.host, "Address to listen on.");
  flags.Int("port", Env("PORT"), &v.port, "TCP port to listen on; 0 picks a free port (logged at start).");
  flags.String("served-model-name", Env("SERVED_MODEL_NAME"), &v.served_model_name,
               "Comma-separated model names the server answers to; responses report the first one.");
  flags.Int("max-concurrency", Env("MAX_CONCURRENCY"), &v.max_concurrency,
            "Generations running at once; further requests wait in FIFO order.");
  flags.Int("context-length", Env("CONTEXT_LENGTH"), &v.context_length,
            "Maximum prompt + max_tokens; larger requests get a 400 error.");
  flags.Int("ttft-ms", Env("TTFT_MS"), &v.ttft_ms,
            "Simulated time to first token, from the moment a generation starts running.");
  flags.Int("inter-token-ms", Env("INTER_TOKEN_MS"), &v.inter_token_ms,
            "Simulated time between output tokens with one generation running.");
  flags.String("slowdown", Env("SLOWDOWN"), &v.slowdown,
               "Inter-token latency is multiplied by 1 + slowdown * (running generations - 1).");
  flags.Duration("startup-delay", Env("STARTUP_DELAY"), &v.startup_delay,
                 "Simulated model loading: /health and the API answer 503 until it has passed.");
  flags.Int("default-max-tokens", Env("DEFAULT_MAX_TOKENS"), &v.default_max_tokens,
            "Output tokens when a request sets no max_tokens.");
  flags.Int("threads", Env("THREADS"), &v.threads, "I/O threads.");
  flags.Duration("shutdown-grace", Env("SHUTDOWN_GRACE"), &v.shutdown_grace,
                 "On SIGTERM/SIGINT, how long in-flight responses may take before connections are closed.");
  flags.String("log-level", Env("LOG_LEVEL"), &v.log_level, "debug, info, warning or error.");
}

absl::StatusOr<Options> ToOptions(const FlagValues& v) {
  Options o;
  o.host = v.host;
  if (v.port < 0 || v.port > 65535) return Invalid("port", "must be in [0, 65535]");
  o.port = static_cast<int>(v.port);
  o.served_model_names.clear();
  for (absl::string_view name : absl::StrSplit(v.served_model_name, ',')) {
    name = absl::StripAsciiWhitespace(name);
    if (name.empty()) return Invalid("served-model-name", "empty model name in the list");
    o.served_model_names.emplace_back(name);
  }
  o.max_concurrency = v.max_concurrency;
  o.context_length = v.context_length;
  if (v.ttft_ms < 0) return Invalid("ttft-ms", "must not be negative");
  if (v.inter_token_ms < 0) return Invalid("inter-token-ms", "must not be negative");
  o.ttft = absl::Milliseconds(v.ttft_ms);
  o.inter_token = absl::Milliseconds(v.inter_token_ms);
  if (!absl::SimpleAtod(v.slowdown, &o.slowdown)) {
    return Invalid("slowdown", absl::StrCat("not a number: \"", v.slowdown, "\""));
  }
  o.startup_delay = v.startup_delay;
  o.default_max_tokens = v.default_max_tokens;
  if (v.threads < 1 || v.threads > 256) return Invalid("threads", "must be in [1, 256]");
  o.threads = static_cast<int>(v.threads);
  o.shutdown_grace = v.shutdown_grace;
  if (absl::Status s = ValidateOptions(o); !s.ok()) return s;
  return o;
}

absl::Status ValidateOptions(const Options& o) {
  if (o.host.empty()) return Invalid("host", "must not be empty");
  if (o.port < 0 || o.port > 65535) return Invalid("port", "must be in [0, 65535]");
  if (o.served_model_names.empty()) return Invalid("served-model-name", "at least one name is needed");
  for (const std::string& name : o.served_model_names) {
    if (name.empty()) return Invalid("served-model-name", "empty model name in the list");
  }
  if (o.max_concurrency < 1) return Invalid("max-concurrency", "must be at least 1");
  if (o.context_length < 1) return Invalid("context-length", "must be at least 1");
  if (o.ttft < absl::ZeroDuration()) return Invalid("ttft-ms", "must not be negative");
  if (o.inter_token < absl::ZeroDuration()) return Invalid("inter-token-ms", "must not be negative");
  if (!std::isfinite(o.slowdown) || o.slowdown < 0) return Invalid("slowdown", "must be a number >= 0");
  if (o.startup_delay < absl::ZeroDuration()) return Invalid("startup-delay", "must not be negative");
  if (o.default_max_tokens < 1) return Invalid("default-max-tokens", "must be at least 1");
  if (o.threads < 1 || o.threads > 256) return Invalid("threads", "must be in [1, 256]");
  if (o.shutdown_grace < absl::ZeroDuration()) return Invalid("shutdown-grace", "must not be negative");
  return absl::OkStatus();
}

}  // namespace dedicated::engine_sim
