#include "services/engine_sim/openai_protocol.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "services/common/ids.h"
#include "services/engine_sim/string_view_compat.h"
#include "services/engine_sim/tokenizer.h"

namespace dedicated::engine_sim {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;

absl::Status Invalid(std::string_view message) { return absl::InvalidArgumentError(ToAbsl(message)); }

// Error messages may quote bytes of a malformed body; replace invalid UTF-8 instead of throwing.
std::string Dump(const ordered_json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// Parse errors are exceptions in nlohmann::json; they stop here and become a 400 naming the problem.
absl::StatusOr<json> ParseJson(std::string_view body) {
  try {
    return json::parse(body);
  } catch (const json::parse_error& e) {
    return Invalid(absl::StrCat("Malformed JSON in request body: ", e.what()));
  }
}

bool IsAbsent(const json& object, const char* key) {
  auto it = object.find(key);
  return it == object.end() || it->is_null();
}

// OpenAI ids are a prefix and random characters; a UUID without dashes gives 32 hex characters.
std::string NewCompletionId(ApiKind kind) {
  return absl::StrCat(kind == ApiKind::kChatCompletions ? "chatcmpl-" : "cmpl-",
                      absl::StrReplaceAll(NewUuid(), {{"-", ""}}));
}

// Content is a string, null, or an array of parts ({"type":"text","text":...} or images etc.).
absl::StatusOr<int64_t> CountContentTokens(const json& content, size_t message_index) {
  if (content.is_null()) return 0;
  if (content.is_string()) return CountTokens(content.get_ref<const std::string&>());
  if (!content.is_array()) {
    return Invalid(absl::StrCat("`messages[", message_index, "].content` must be a string or an array"));
  }
  int64_t tokens = 0;
  for (const json& part : content) {
    if (!part.is_object()) {
      return Invalid(absl::StrCat("`messages[", message_index, "].content` parts must be objects"));
    }
    auto text = part.find("text");
    if (text != part.end() && text->is_string()) {
      tokens += CountTokens(text->get_ref<const std::string&>());
    } else {
      tokens += 1;  // A non-text part (image, audio): no model here to price it, so one token.
    }
  }
  return tokens;
}

absl::StatusOr<int64_t> CountChatPromptTokens(const json& request) {
  if (IsAbsent(request, "messages")) return Invalid("`messages` is required");
  const json& messages = request["messages"];
  if (!messages.is_array() || messages.empty()) return Invalid("`messages` must be a non-empty array");
  int64_t tokens = 0;
  for (size_t i = 0; i < messages.size(); ++i) {
    const json& m = messages[i];
    if (!m.is_object()) return Invalid(absl::StrCat("`messages[", i, "]` must be an object"));
    auto role = m.find("role");
    if (role == m.end() || !role->is_string()) {
      return Invalid(absl::StrCat("`messages[", i, "].role` must be a string"));
    }
    auto content = m.find("content");
    int64_t content_tokens = 0;
    if (content != m.end()) {
      absl::StatusOr<int64_t> counted = CountContentTokens(*content, i);
      if (!counted.ok()) return counted.status();
      content_tokens = *counted;
    }
    tokens += 1 + content_tokens;  // The role stands in for the chat template's per-message tokens.
  }
  return tokens;
}

absl::StatusOr<int64_t> CountCompletionPromptTokens(const json& request) {
  if (IsAbsent(request, "prompt")) return Invalid("`prompt` is required");
  const json& prompt = request["prompt"];
  if (prompt.is_string()) return CountTokens(prompt.get_ref<const std::string&>());
  constexpr std::string_view kShape =
      "`prompt` must be a string, an array of strings or an array of token ids";
  if (!prompt.is_array() || prompt.empty()) return Invalid(kShape);
  // A batch of prompts is counted as one prompt: engine-sim always answers with a single choice.
  if (std::all_of(prompt.begin(), prompt.end(), [](const json& p) { return p.is_string(); })) {
    int64_t tokens = 0;
    for (const json& p : prompt) tokens += CountTokens(p.get_ref<const std::string&>());
    return tokens;
  }
  if (std::all_of(prompt.begin(), prompt.end(), [](const json& p) { return p.is_number_integer(); })) {
    return static_cast<int64_t>(prompt.size());
  }
  return Invalid(kShape);
}

// Returns 0 when the request sets no limit.
absl::StatusOr<int64_t> RequestedMaxTokens(const json& request, ApiKind kind) {
  const char* key = "max_tokens";
  if (kind == ApiKind::kChatCompletions && !IsAbsent(request, "max_completion_tokens")) {
    key = "max_completion_tokens";  // OpenAI's newer name wins over the deprecated one.
  }
  if (IsAbsent(request, key)) return 0;
  const json& value = request[key];
  if (!value.is_number_integer() || value.get<int64_t>() < 1) {
    return Invalid(absl::StrCat("`", key, "` must be an integer >= 1"));
  }
  return value.get<int64_t>();
}

ordered_json Envelope(const GenerationRequest& r, std::string_view object) {
  ordered_json j;
  j["id"] = r.id;
  j["object"] = object;
  j["created"] = r.created;
  j["model"] = r.model;
  return j;
}

ordered_json Usage(const GenerationRequest& r) {
  ordered_json u;
  u["prompt_tokens"] = r.prompt_tokens;
  u["completion_tokens"] = r.max_tokens;
  u["total_tokens"] = r.prompt_tokens + r.max_tokens;
  return u;
}

std::string_view ChunkObject(const GenerationRequest& r) {
  return r.kind == ApiKind::kChatCompletions ? "chat.completion.chunk" : "text_completion";
}

// One choice of a stream chunk; `delta_or_text` is the chat delta object or the completion text.
ordered_json ChunkChoice(const GenerationRequest& r, ordered_json delta_or_text, const char* finish_reason) {
  ordered_json c;
  c["index"] = 0;
  c[r.kind == ApiKind::kChatCompletions ? "delta" : "text"] = std::move(delta_or_text);
  c["logprobs"] = nullptr;
  c["finish_reason"] = finish_reason == nullptr ? ordered_json(nullptr) : ordered_json(finish_reason);
  return c;
}

std::string Chunk(const GenerationRequest& r, ordered_json choice) {
  ordered_json j = Envelope(r, ChunkObject(r));
  j["choices"] = ordered_json::array({std::move(choice)});
  return Dump(j);
}

ordered_json ModelObject(std::string_view name, const Options& options, int64_t created) {
  ordered_json m;
  m["id"] = name;
  m["object"] = "model";
  m["created"] = created;
  m["owned_by"] = "engine-sim";
  m["root"] = name;
  m["max_model_len"] = options.context_length;
  return m;
}

const char* ErrorType(int http_status) {
  switch (http_status) {
    case 400:
      return "BadRequestError";
    case 404:
      return "NotFoundError";
    case 503:
      return "ServiceUnavailableError";
    default:
      return "InternalServerError";
  }
}

}  // namespace

absl::StatusOr<GenerationRequest> ParseGenerationRequest(ApiKind kind, std::string_view body,
                                                         const Options& options, int64_t now_unix) {
  absl::StatusOr<json> parsed = ParseJson(body);
  if (!parsed.ok()) return parsed.status();
  const json& request = *parsed;
  if (!request.is_object()) return Invalid("Request body must be a JSON object");

  GenerationRequest r;
  r.kind = kind;
  r.created = now_unix;
  r.model = options.served_model_names.front();
  // vLLM falls back to its first served model when the field is absent; so does engine-sim.
  if (!IsAbsent(request, "model")) {
    if (!request["model"].is_string()) return Invalid("`model` must be a string");
    const std::string& asked = request["model"].get_ref<const std::string&>();
    const auto& names = options.served_model_names;
    if (std::find(names.begin(), names.end(), asked) == names.end()) {
      return absl::NotFoundError(absl::StrCat("The model `", asked, "` does not exist."));
    }
  }
  if (!IsAbsent(request, "n")) {
    const json& n = request["n"];
    if (!n.is_number_integer() || n.get<int64_t>() != 1) {
      return Invalid("`n` must be 1: engine-sim generates exactly one choice per request");
    }
  }
  if (!IsAbsent(request, "stream")) {
    if (!request["stream"].is_boolean()) return Invalid("`stream` must be a boolean");
    r.stream = request["stream"].get<bool>();
  }
  if (!IsAbsent(request, "stream_options")) {
    const json& so = request["stream_options"];
    if (!so.is_object()) return Invalid("`stream_options` must be an object");
    if (!IsAbsent(so, "include_usage")) {
      if (!so["include_usage"].is_boolean())
        return Invalid("`stream_options.include_usage` must be a boolean");
      r.include_usage = so["include_usage"].get<bool>();
    }
  }

  absl::StatusOr<int64_t> prompt_tokens = kind == ApiKind::kChatCompletions
                                              ? CountChatPromptTokens(request)
                                              : CountCompletionPromptTokens(request);
  if (!prompt_tokens.ok()) return prompt_tokens.status();
  r.prompt_tokens = *prompt_tokens;

  absl::StatusOr<int64_t> requested = RequestedMaxTokens(request, kind);
  if (!requested.ok()) return requested.status();
  const int64_t room = options.context_length - r.prompt_tokens;
  // Without an explicit limit the default shrinks to fit the context, as vLLM's does.
  r.max_tokens = *requested > 0 ? *requested : std::min(options.default_max_tokens, room);
  if (r.max_tokens < 1 || r.prompt_tokens + r.max_tokens > options.context_length) {
    const char* where = kind == ApiKind::kChatCompletions ? "messages" : "prompt";
    return Invalid(absl::StrCat(
        "This model's maximum context length is ", options.context_length, " tokens. However, you requested ",
        r.prompt_tokens + std::max<int64_t>(r.max_tokens, 0), " tokens (", r.prompt_tokens, " in the ", where,
        ", ", std::max<int64_t>(r.max_tokens, 0), " in the completion). Please reduce the length of the ",
        where, " or completion."));
  }
  r.id = NewCompletionId(kind);
  return r;
}

int HttpStatusFor(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
      return 400;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kUnavailable:
      return 503;
    default:
      return 500;
  }
}

std::string ErrorBody(int http_status, std::string_view type, std::string_view message) {
  ordered_json error;
  error["message"] = message;
  error["type"] = type;
  error["param"] = nullptr;
  error["code"] = http_status;
  ordered_json j;
  j["error"] = std::move(error);
  return Dump(j);
}

std::string ErrorBody(const absl::Status& status) {
  int http_status = HttpStatusFor(status);
  return ErrorBody(http_status, ErrorType(http_status), ToStd(status.message()));
}

std::string ModelBody(std::string_view name, const Options& options, int64_t created) {
  return Dump(ModelObject(name, options, created));
}

std::string ModelListBody(const Options& options, int64_t created) {
  ordered_json j;
  j["object"] = "list";
  j["data"] = ordered_json::array();
  for (const std::string& name : options.served_model_names) {
    j["data"].push_back(ModelObject(name, options, created));
  }
  return Dump(j);
}

std::string CompletionBody(const GenerationRequest& r) {
  const bool chat = r.kind == ApiKind::kChatCompletions;
  ordered_json j = Envelope(r, chat ? "chat.completion" : "text_completion");
  ordered_json choice;
  choice["index"] = 0;
  if (chat) {
    ordered_json message;
    message["role"] = "assistant";
    message["content"] = SyntheticText(r.max_tokens);
    choice["message"] = std::move(message);
  } else {
    choice["text"] = SyntheticText(r.max_tokens);
  }
  choice["logprobs"] = nullptr;
  choice["finish_reason"] = "length";
  j["choices"] = ordered_json::array({std::move(choice)});
  j["usage"] = Usage(r);
  return Dump(j);
}

std::string RoleChunk(const GenerationRequest& r) {
  ordered_json delta;
  delta["role"] = "assistant";
  delta["content"] = "";
  return Chunk(r, ChunkChoice(r, std::move(delta), nullptr));
}

std::string TokenChunk(const GenerationRequest& r, int64_t token_index) {
  if (r.kind == ApiKind::kCompletions) return Chunk(r, ChunkChoice(r, SyntheticToken(token_index), nullptr));
  ordered_json delta;
  delta["content"] = SyntheticToken(token_index);
  return Chunk(r, ChunkChoice(r, std::move(delta), nullptr));
}

std::string FinishChunk(const GenerationRequest& r) {
  ordered_json empty = r.kind == ApiKind::kChatCompletions ? ordered_json::object() : ordered_json("");
  return Chunk(r, ChunkChoice(r, std::move(empty), "length"));
}

std::string UsageChunk(const GenerationRequest& r) {
  ordered_json j = Envelope(r, ChunkObject(r));
  j["choices"] = ordered_json::array();
  j["usage"] = Usage(r);
  return Dump(j);
}

std::string SseEvent(std::string_view data) { return absl::StrCat("data: ", ToAbsl(data), "\n\n"); }

}  // namespace dedicated::engine_sim
