#include "services/controlplane/placement.h"

#include <algorithm>

#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"

namespace dedicated::controlplane {
namespace {

size_t TieBreak(const std::string& instance_id, const std::string& node_name) {
  return absl::HashOf(instance_id, node_name);
}

}  // namespace

absl::StatusOr<std::vector<ReplicaPlacement>> PlaceReplicas(std::vector<NodeCapacity> nodes,
                                                            const PlacementRequest& request) {
  std::string free_summary;
  for (const NodeCapacity& n : nodes) {
    if (n.gpu_type != request.gpu_type || n.free_gpus <= 0) continue;
    absl::StrAppend(&free_summary, free_summary.empty() ? "" : ", ", n.node_name, ": ", n.free_gpus);
  }
  std::set<std::string> in_use = request.nodes_in_use;
  std::vector<ReplicaPlacement> out;
  for (int placed = 0; placed < request.replicas; ++placed) {
    NodeCapacity* best = nullptr;
    auto better = [&](const NodeCapacity& a, const NodeCapacity* b) {
      if (b == nullptr) return true;
      bool a_used = in_use.contains(a.node_id), b_used = in_use.contains(b->node_id);
      if (a_used != b_used) return !a_used;                                             // spread
      if (a.free_gpus != b->free_gpus) return a.free_gpus < b->free_gpus;  // best fit
      size_t ha = TieBreak(request.instance_id, a.node_name), hb = TieBreak(request.instance_id, b->node_name);
      return ha != hb ? ha < hb : a.node_name < b->node_name;
    };
    for (NodeCapacity& n : nodes) {
      if (n.gpu_type != request.gpu_type) continue;
      if (n.free_gpus < request.gpus_per_replica) continue;
      if (better(n, best)) best = &n;
    }
    if (best == nullptr) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "not enough free GPUs: instance ", request.instance_id, " needs ", request.replicas,
          " replica(s) of ", request.gpus_per_replica, " x ", request.gpu_type, " on one node each; free ",
          request.gpu_type, " GPUs per ready node: ",
          free_summary.empty() ? "none (no ready node of this type)" : free_summary));
    }
    best->free_gpus -= request.gpus_per_replica;
    in_use.insert(best->node_id);
    out.push_back(ReplicaPlacement{best->node_id, request.gpus_per_replica});
  }
  return out;
}

}  // namespace dedicated::controlplane
