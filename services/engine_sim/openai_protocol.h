#pragma once
// The OpenAI wire format as engine-sim speaks it: request validation (vLLM's rules and error shapes where
// they matter to clients) and the JSON of responses and stream chunks. Pure functions, no I/O.

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "services/engine_sim/options.h"

namespace dedicated::engine_sim {

enum class ApiKind { kChatCompletions, kCompletions };

// A validated generation request: everything the session needs to time and render it.
struct GenerationRequest {
  ApiKind kind = ApiKind::kChatCompletions;
  std::string id;       // "chatcmpl-..." or "cmpl-..."
  int64_t created = 0;  // Unix seconds.
  std::string model;    // The first served name, whichever alias the client used.
  int64_t prompt_tokens = 0;
  int64_t max_tokens = 0;  // Exactly this many tokens are generated (finish_reason "length").
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
};

// INVALID_ARGUMENT (HTTP 400) naming the problem, or NOT_FOUND (404) for a model not served here.
absl::StatusOr<GenerationRequest> ParseGenerationRequest(ApiKind kind, std::string_view body,
                                                         const Options& options, int64_t now_unix);

// OpenAI error JSON, {"error":{"message","type","param","code"}}, with the HTTP status for a status
// code (INVALID_ARGUMENT 400, NOT_FOUND 404, UNAVAILABLE 503, ...).
int HttpStatusFor(const absl::Status& status);
std::string ErrorBody(const absl::Status& status);
// For HTTP-level errors that have no absl code of their own (405, 413).
std::string ErrorBody(int http_status, std::string_view type, std::string_view message);

std::string ModelListBody(const Options& options, int64_t created);
// One model object, as in GET /v1/models/{model}.
std::string ModelBody(std::string_view name, const Options& options, int64_t created);

// The complete non-streaming response: "chat.completion" or "text_completion" with usage.
std::string CompletionBody(const GenerationRequest& request);

// Stream chunks (JSON only; SseEvent frames them). Chat streams start with a role chunk; every token
// gets a chunk; a finish chunk carries finish_reason "length"; the usage chunk (choices: []) follows
// when stream_options.include_usage was set.
std::string RoleChunk(const GenerationRequest& request);
std::string TokenChunk(const GenerationRequest& request, int64_t token_index);
std::string FinishChunk(const GenerationRequest& request);
std::string UsageChunk(const GenerationRequest& request);
std::string SseEvent(std::string_view data);
inline constexpr std::string_view kSseDone = "data: [DONE]\n\n";

}  // namespace dedicated::engine_sim
