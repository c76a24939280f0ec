#include "services/engine_sim/handlers.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "services/engine_sim/string_view_compat.h"

namespace dedicated::engine_sim {
namespace {

namespace http = boost::beast::http;

constexpr std::string_view kHealth = "/health";
constexpr std::string_view kModels = "/v1/models";
constexpr std::string_view kChat = "/v1/chat/completions";
constexpr std::string_view kCompletions = "/v1/completions";
constexpr std::string_view kMetrics = "/metrics";
constexpr std::string_view kModelPrefix = "/v1/models/";

HttpReply FromStatus(const absl::Status& status) {
  return HttpReply{HttpStatusFor(status), "application/json", ErrorBody(status), ""};
}

HttpReply MethodNotAllowed(http::verb method, std::string_view path, std::string_view allow) {
  HttpReply reply =
      Handlers::Error(405, "MethodNotAllowedError",
                      absl::StrCat("Method ", ToAbsl(ToStd(http::to_string(method))), " is not allowed on ",
                                   ToAbsl(path), "; use ", ToAbsl(allow), "."));
  reply.allow = std::string(allow);
  return reply;
}

}  // namespace

Handlers::Handlers(const Options& options, const GenerationScheduler* scheduler, const Metrics* metrics)
    : options_(options),
      scheduler_(scheduler),
      metrics_(metrics),
      ready_at_(std::chrono::steady_clock::now() + absl::ToChronoNanoseconds(options.startup_delay)),
      created_unix_(absl::ToUnixSeconds(absl::Now())) {}

HttpReply Handlers::Error(int http_status, std::string_view type, std::string_view message) {
  return HttpReply{http_status, "application/json", ErrorBody(http_status, type, message), ""};
}

RoutedRequest Handlers::Route(http::verb method, std::string_view target, std::string_view body) const {
  std::string_view path = target.substr(0, target.find('?'));
  const bool get = method == http::verb::get;
  const bool post = method == http::verb::post;
  if (path == kHealth) return {kHealth, get ? Health() : MethodNotAllowed(method, path, "GET")};
  if (path == kMetrics) return {kMetrics, get ? MetricsText() : MethodNotAllowed(method, path, "GET")};
  if (path == kModels) return {kModels, get ? ModelList() : MethodNotAllowed(method, path, "GET")};
  if (path.starts_with(kModelPrefix)) {
    return {kModels, get ? Model(path.substr(kModelPrefix.size())) : MethodNotAllowed(method, path, "GET")};
  }
  if (path == kChat) {
    if (!post) return {kChat, MethodNotAllowed(method, path, "POST")};
    return {kChat, Generate(ApiKind::kChatCompletions, body)};
  }
  if (path == kCompletions) {
    if (!post) return {kCompletions, MethodNotAllowed(method, path, "POST")};
    return {kCompletions, Generate(ApiKind::kCompletions, body)};
  }
  return {"other", Error(404, "NotFoundError", absl::StrCat("No such endpoint: ", ToAbsl(path)))};
}

HttpReply Handlers::Health() const {
  if (!ready()) return FromStatus(absl::UnavailableError("engine-sim is loading the (simulated) model"));
  return HttpReply{200, "application/json", "{}", ""};
}

HttpReply Handlers::ModelList() const {
  return HttpReply{200, "application/json", ModelListBody(options_, created_unix_), ""};
}

HttpReply Handlers::Model(std::string_view name) const {
  for (const std::string& served : options_.served_model_names) {
    if (served == name)
      return HttpReply{200, "application/json", ModelBody(name, options_, created_unix_), ""};
  }
  return FromStatus(absl::NotFoundError(absl::StrCat("The model `", ToAbsl(name), "` does not exist.")));
}

HttpReply Handlers::MetricsText() const {
  return HttpReply{200, "text/plain; version=0.0.4; charset=utf-8",
                   metrics_->Render(scheduler_->running(), scheduler_->waiting()), ""};
}

std::variant<HttpReply, GenerationRequest> Handlers::Generate(ApiKind kind, std::string_view body) const {
  // A real engine does not listen before its weights are loaded; answering 503 is the polite version.
  if (!ready()) return FromStatus(absl::UnavailableError("engine-sim is loading the (simulated) model"));
  absl::StatusOr<GenerationRequest> request =
      ParseGenerationRequest(kind, body, options_, absl::ToUnixSeconds(absl::Now()));
  if (!request.ok()) return FromStatus(request.status());
  return *std::move(request);
}

}  // namespace dedicated::engine_sim
