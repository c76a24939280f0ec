#pragma once
// Errors in the shape the OpenAI SDKs parse: {"error": {"message", "type", "param", "code"}}, with the
// HTTP status that makes the SDKs raise the matching exception (401 AuthenticationError, 403
// PermissionDeniedError, 404 NotFoundError, 409 ConflictError, 429 RateLimitError, ...).

#include <string>
#include <string_view>

namespace dedicated::gateway {

struct HttpError {
  int status = 500;
  std::string message;
  // OpenAI's "type" (invalid_request_error, authentication_error, ...), derived from the status when empty.
  std::string type;
  // A machine-readable code ("invalid_api_key", "model_not_found", "instance_not_active", ...).
  std::string code;
  // Seconds for a Retry-After header; 0: none.
  int retry_after_seconds = 0;
};

// The OpenAI error type for an HTTP status.
std::string_view ErrorTypeFor(int status);

// The JSON body of `error`.
std::string ErrorBody(const HttpError& error);

// Constructors for the errors the gateway answers with.
HttpError MissingApiKey();
HttpError InvalidApiKey();
HttpError PermissionDenied(std::string_view model);
HttpError ModelNotFound(std::string_view model);
HttpError BadRequest(std::string message, std::string code = "invalid_request");
HttpError BodyTooLarge(size_t limit_bytes);
HttpError QueueTimeout(std::string_view instance_id, int retry_after_seconds);
HttpError QueueFull(std::string_view instance_id, int retry_after_seconds);
HttpError EngineTimeout(std::string_view instance_id);
HttpError NoReplicaAvailable(std::string_view instance_id, std::string_view detail);
HttpError NotReady(std::string_view what);

}  // namespace dedicated::gateway
