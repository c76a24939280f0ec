// The scheduler's placement decision on a large fleet (issue 4 goal: p99 <= 1 ms with 1000 nodes).
// Builds a fleet of --nodes nodes with --gpus-per-node GPUs each, fills it to --fill (fraction of GPUs
// taken, at random), then times --decisions calls of PlaceReplicas for a random S/M/L request (1, 2 or 4
// GPUs per replica, 1-3 replicas) and prints p50/p90/p99/max and the ratio of p99 to the goal.
// This is the decision alone, in memory; the free-GPU read that feeds it is one aggregated SELECT
// (node_store.cc ReadFreeGpus), measured by the controlplane benchmarks, not here.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <vector>

#include "services/common/flags.h"
#include "services/controlplane/placement.h"

namespace {

using dedicated::controlplane::NodeCapacity;
using dedicated::controlplane::PlacementRequest;

double Percentile(std::vector<double>& v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

}  // namespace

int main(int argc, char** argv) {
  int64_t nodes = 1000, gpus_per_node = 8, decisions = 20000;
  double fill = 0.6;
  dedicated::FlagSet flags("Usage: placement_bench [--nodes N] [--gpus-per-node N] [--fill F] [--decisions N]");
  flags.Int("nodes", "", &nodes, "nodes in the fleet");
  flags.Int("gpus-per-node", "", &gpus_per_node, "GPUs per node");
  flags.Int("decisions", "", &decisions, "placement decisions to time");
  int64_t fill_percent = 60;
  flags.Int("fill-percent", "", &fill_percent, "percent of GPUs already taken (at random)");
  if (auto s = flags.Parse(dedicated::ArgsFrom(argc, argv)); !s.ok()) {
    std::fprintf(stderr, "%s\n", std::string(s.message()).c_str());
    return 2;
  }
  if (flags.help_requested()) {
    std::printf("%s", flags.Help().c_str());
    return 0;
  }
  fill = static_cast<double>(fill_percent) / 100.0;
  std::mt19937 rng(42);
  std::vector<NodeCapacity> fleet;
  std::bernoulli_distribution taken(fill);
  for (int64_t n = 0; n < nodes; ++n) {
    NodeCapacity node{"dnd" + std::to_string(n), "node-" + std::to_string(n), "H100-80GB", 0};
    for (int g = 0; g < gpus_per_node; ++g) {
      if (!taken(rng)) ++node.free_gpus;
    }
    fleet.push_back(std::move(node));
  }
  std::uniform_int_distribution<int> config(0, 2), replicas(1, 3);
  std::vector<double> micros;
  micros.reserve(static_cast<size_t>(decisions));
  int exhausted = 0;
  for (int64_t i = 0; i < decisions; ++i) {
    PlacementRequest req{.instance_id = "din",
                         .gpu_type = "H100-80GB",
                         .gpus_per_replica = 1 << config(rng),
                         .replicas = replicas(rng),
                         .nodes_in_use = {}};
    auto start = std::chrono::steady_clock::now();
    // By value, as OperationSteps passes it: the copy of the free view is part of the decision's cost.
    auto placed = dedicated::controlplane::PlaceReplicas(fleet, req);
    auto end = std::chrono::steady_clock::now();
    if (!placed.ok()) ++exhausted;
    micros.push_back(std::chrono::duration<double, std::micro>(end - start).count());
  }
  double p50 = Percentile(micros, 0.50), p90 = Percentile(micros, 0.90), p99 = Percentile(micros, 0.99);
  double max = micros.back();
  std::printf("placement decision: %lld nodes x %lld GPUs, %.0f%% taken, %lld decisions (%d found no capacity)\n",
              static_cast<long long>(nodes), static_cast<long long>(gpus_per_node), fill * 100,
              static_cast<long long>(decisions), exhausted);
  std::printf("  p50 %.1f us, p90 %.1f us, p99 %.1f us, max %.1f us\n", p50, p90, p99, max);
  std::printf("  p99 / goal (1 ms) = %.3f   %s\n", p99 / 1000.0, p99 <= 1000.0 ? "PASS" : "FAIL");
  return 0;
}
