#pragma once
// A handful of counters in Prometheus text exposition, written by hand: engine-sim is a leaf test
// fixture and should not need the prometheus-cpp registry the real services use.

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

#include "absl/base/thread_annotations.h"

namespace dedicated::engine_sim {

class Metrics {
 public:
  // `endpoint` is one of the served paths or "other", so the label set stays small.
  void CountRequest(std::string_view endpoint, int http_status);
  void AddPromptTokens(int64_t n) { prompt_tokens_ += n; }
  void AddGeneratedTokens(int64_t n) { generated_tokens_ += n; }
  void CountAbortedGeneration() { aborted_generations_ += 1; }

  int64_t RequestCount(std::string_view endpoint, int http_status) const;
  int64_t generated_tokens() const { return generated_tokens_; }

  // The text exposition; gauges are passed in because the scheduler owns them.
  std::string Render(int64_t running, int64_t waiting) const;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, int64_t> requests_ ABSL_GUARDED_BY(mu_);
  std::atomic<int64_t> prompt_tokens_{0};
  std::atomic<int64_t> generated_tokens_{0};
  std::atomic<int64_t> aborted_generations_{0};
};

}  // namespace dedicated::engine_sim
