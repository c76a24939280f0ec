#include "services/gateway/openai_error.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"

namespace dedicated::gateway {
namespace {

std::string S(std::string_view v) { return std::string(v); }
// Debian's Abseil has its own string_view, which StrCat takes; ours are std::string_view.
absl::string_view A(std::string_view v) { return {v.data(), v.size()}; }

}  // namespace

std::string_view ErrorTypeFor(int status) {
  switch (status) {
    case 400:
    case 404:
    case 405:
    case 409:
    case 413:
    case 431:
      return "invalid_request_error";
    case 401:
      return "authentication_error";
    case 403:
      return "permission_error";
    case 429:
      return "rate_limit_error";
    case 504:
      return "timeout_error";
    default:
      return status >= 500 ? "api_error" : "invalid_request_error";
  }
}

std::string ErrorBody(const HttpError& error) {
  nlohmann::ordered_json body;
  auto& e = body["error"];
  e["message"] = error.message;
  e["type"] = error.type.empty() ? S(ErrorTypeFor(error.status)) : error.type;
  e["param"] = nullptr;
  if (error.code.empty()) {
    e["code"] = nullptr;
  } else {
    e["code"] = error.code;
  }
  // Messages may quote user input (a model name): never let invalid UTF-8 break the answer.
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

HttpError MissingApiKey() {
  return {401,
          "You didn't provide an API key. Pass it in the Authorization header: \"Authorization: Bearer <key>\" "
          "or \"Authorization: Api-Key <key>\".",
          "", "missing_api_key"};
}

HttpError InvalidApiKey() { return {401, "Incorrect API key provided.", "", "invalid_api_key"}; }

HttpError PermissionDenied(std::string_view model) {
  return {403,
          absl::StrCat("This API key may not call model `", A(model),
                       "`: it needs the role ai.languageModels.user (or one that includes it) on the folder."),
          "", "permission_denied"};
}

HttpError ModelNotFound(std::string_view model) {
  return {404,
          absl::StrCat("The model `", A(model),
                       "` does not exist or you do not have access to it. Use the instance's model_uri "
                       "(dedicated://<folder_id>/<instance_id>) or its id."),
          "", "model_not_found"};
}

HttpError BadRequest(std::string message, std::string code) { return {400, std::move(message), "", std::move(code)}; }

HttpError BodyTooLarge(size_t limit_bytes) {
  return {413, absl::StrCat("The request body is larger than ", limit_bytes, " bytes."), "", "request_too_large"};
}

HttpError QueueTimeout(std::string_view instance_id, int retry_after_seconds) {
  return {429,
          absl::StrCat("Instance ", A(instance_id),
                       " is at its configuration's concurrency limit and the request waited too long for a slot. "
                       "Retry later, or add replicas or a larger configuration."),
          "", "concurrency_limit_exceeded", retry_after_seconds};
}

HttpError QueueFull(std::string_view instance_id, int retry_after_seconds) {
  return {429,
          absl::StrCat("Instance ", A(instance_id),
                       " is at its configuration's concurrency limit and its wait queue is full. Retry later."),
          "", "concurrency_limit_exceeded", retry_after_seconds};
}

HttpError EngineTimeout(std::string_view instance_id) {
  return {504, absl::StrCat("The engine of instance ", A(instance_id), " did not answer in time."), "", "engine_timeout"};
}

HttpError NoReplicaAvailable(std::string_view instance_id, std::string_view detail) {
  return {503, absl::StrCat("No replica of instance ", A(instance_id), " could take the request: ", A(detail)), "",
          "no_replica_available", 1};
}

HttpError NotReady(std::string_view what) {
  return {503, absl::StrCat("The gateway is not ready: ", A(what)), "", "gateway_not_ready", 1};
}

}  // namespace dedicated::gateway
