#pragma once
// Routing and the endpoints that answer at once. Generation requests come back validated, for the
// session to time and stream; everything here is synchronous and fast so it can run on an I/O thread.

#include <boost/beast/http/verb.hpp>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "services/engine_sim/generation_scheduler.h"
#include "services/engine_sim/metrics.h"
#include "services/engine_sim/openai_protocol.h"
#include "services/engine_sim/options.h"

namespace dedicated::engine_sim {

struct HttpReply {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::string allow;  // The Allow header of a 405.
};

struct RoutedRequest {
  // Label for engine_sim_requests_total: a served path or "other".
  std::string_view endpoint;
  std::variant<HttpReply, GenerationRequest> action;
};

class Handlers {
 public:
  // `scheduler` and `metrics` must outlive the handlers. Readiness counts from construction.
  Handlers(const Options& options, const GenerationScheduler* scheduler, const Metrics* metrics);

  RoutedRequest Route(boost::beast::http::verb method, std::string_view target, std::string_view body) const;
  // False until --startup-delay has passed since construction (simulated model loading).
  bool ready() const { return std::chrono::steady_clock::now() >= ready_at_; }

  // A reply for errors found before routing (e.g. a body over the size limit).
  static HttpReply Error(int http_status, std::string_view type, std::string_view message);

 private:
  HttpReply Health() const;
  HttpReply ModelList() const;
  HttpReply Model(std::string_view name) const;
  HttpReply MetricsText() const;
  std::variant<HttpReply, GenerationRequest> Generate(ApiKind kind, std::string_view body) const;

  const Options options_;
  const GenerationScheduler* const scheduler_;
  const Metrics* const metrics_;
  const std::chrono::steady_clock::time_point ready_at_;
  const int64_t created_unix_;  // Reported as the models' "created".
};

}  // namespace dedicated::engine_sim
