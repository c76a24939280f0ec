#pragma once
// The two fields of an OpenAI completion request the gateway acts on: `model` (which instance) and
// `stream` (how to relay). Everything else is the engine's to validate.
//
// Read with nlohmann's SAX parser, not into a JSON tree: the whole body is still checked to be one valid
// JSON object (malformed bodies get 400 from the gateway, as before), but nothing is allocated per
// member, so the cost no longer grows with the prompt's structure (a tree of a long chat history was
// one allocation per message, key and string).

#include <string>
#include <string_view>

namespace dedicated::gateway {

struct CompletionFields {
  enum class Problem {
    kNone,
    kNotAJsonObject,    // malformed JSON, or JSON that is not an object
    kNoModel,           // `model` missing or not a string
    kStreamNotBoolean,  // `stream` present, not null, not a boolean
  };
  Problem problem = Problem::kNone;
  std::string model;
  bool stream = false;
};

// For a member given twice the last one counts, as in Python's json module that vLLM uses (and as the
// gateway's JSON tree did).
CompletionFields ScanCompletionFields(std::string_view body);

}  // namespace dedicated::gateway
