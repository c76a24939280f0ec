#pragma once
// Turns an assignment's EngineCommand argv into the exact argv of one engine process. The controlplane
// fills the catalog's placeholders ({weights}, {served_model_name}, ...); only values the node knows are
// left for the agent. Pure functions: no I/O, so they are trivially testable.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace dedicated::node_agent {

// Values of the placeholders the agent owns.
struct TemplateValues {
  std::string host;                  // {host}
  int port = 0;                      // {port}
  std::vector<int64_t> gpu_indices;  // {gpu_ids}, comma-joined
  std::string engine_sim;            // {engine_sim}
};

// "0,1,3": the form CUDA_VISIBLE_DEVICES takes.
std::string JoinGpuIds(const std::vector<int64_t>& gpu_indices);

// Replaces {host}, {port}, {gpu_ids} and {engine_sim} anywhere inside each element. Any other
// identifier-shaped placeholder ("{weights}") is INVALID_ARGUMENT: it means the controlplane left a value
// unfilled, and starting an engine with a literal "{weights}" would fail later and more obscurely.
// Braces that are not an identifier ("{\"temperature\": 0.5}", a JSON argument) are kept verbatim.
absl::StatusOr<std::vector<std::string>> SubstituteArgv(const std::vector<std::string>& argv,
                                                        const TemplateValues& values);

// Engine-specific argv fix-ups. vLLM takes several served model names as separate arguments
// ("--served-model-name a b") while the catalog carries them comma-separated in one value, so for
// engine kind "vllm" the value after "--served-model-name" is split at commas. Other kinds are unchanged.
std::vector<std::string> AdaptArgvForEngine(absl::string_view engine_kind, std::vector<std::string> argv);

}  // namespace dedicated::node_agent
