#include "services/engine_sim/metrics.h"

#include "absl/strings/str_cat.h"

namespace dedicated::engine_sim {

void Metrics::CountRequest(std::string_view endpoint, int http_status) {
  std::lock_guard lock(mu_);
  ++requests_[{std::string(endpoint), http_status}];
}

int64_t Metrics::RequestCount(std::string_view endpoint, int http_status) const {
  std::lock_guard lock(mu_);
  auto it = requests_.find({std::string(endpoint), http_status});
  return it == requests_.end() ? 0 : it->second;
}

std::string Metrics::Render(int64_t running, int64_t waiting) const {
  std::string out;
  absl::StrAppend(&out,
                  "# HELP engine_sim_requests_total HTTP requests answered, by endpoint and status code.\n"
                  "# TYPE engine_sim_requests_total counter\n");
  {
    std::lock_guard lock(mu_);
    for (const auto& [key, count] : requests_) {
      // Endpoint labels are fixed strings chosen by the server, so they need no escaping.
      absl::StrAppend(&out, "engine_sim_requests_total{endpoint=\"", key.first, "\",code=\"", key.second,
                      "\"} ", count, "\n");
    }
  }
  absl::StrAppend(&out,
                  "# HELP engine_sim_prompt_tokens_total Prompt tokens of accepted generation requests.\n"
                  "# TYPE engine_sim_prompt_tokens_total counter\n"
                  "engine_sim_prompt_tokens_total ",
                  prompt_tokens_.load(), "\n",
                  "# HELP engine_sim_generation_tokens_total Output tokens generated.\n"
                  "# TYPE engine_sim_generation_tokens_total counter\n"
                  "engine_sim_generation_tokens_total ",
                  generated_tokens_.load(), "\n",
                  "# HELP engine_sim_aborted_generations_total Generations stopped because the client left.\n"
                  "# TYPE engine_sim_aborted_generations_total counter\n"
                  "engine_sim_aborted_generations_total ",
                  aborted_generations_.load(), "\n",
                  "# HELP engine_sim_num_requests_running Generations holding a concurrency slot.\n"
                  "# TYPE engine_sim_num_requests_running gauge\n"
                  "engine_sim_num_requests_running ",
                  running, "\n",
                  "# HELP engine_sim_num_requests_waiting Generations queued for a concurrency slot.\n"
                  "# TYPE engine_sim_num_requests_waiting gauge\n"
                  "engine_sim_num_requests_waiting ",
                  waiting, "\n");
  return out;
}

}  // namespace dedicated::engine_sim
