#include "services/controlplane/placement.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace dedicated::controlplane {

absl::StatusOr<std::vector<ReplicaPlacement>> PlaceReplicas(std::vector<NodeCapacity> nodes,
                                                            const PlacementRequest& request) {
  std::string free_summary;
  for (const NodeCapacity& n : nodes) {
    if (n.gpu_type != request.gpu_type || n.free_gpus.empty()) continue;
    absl::StrAppend(&free_summary, free_summary.empty() ? "" : ", ", n.node_name, ": ", n.free_gpus.size());
  }
  std::set<std::string> in_use = request.nodes_in_use;
  std::vector<ReplicaPlacement> out;
  for (int placed = 0; placed < request.replicas; ++placed) {
    NodeCapacity* best = nullptr;
    auto better = [&](const NodeCapacity& a, const NodeCapacity* b) {
      if (b == nullptr) return true;
      bool a_used = in_use.contains(a.node_id), b_used = in_use.contains(b->node_id);
      if (a_used != b_used) return !a_used;                                             // spread
      if (a.free_gpus.size() != b->free_gpus.size()) return a.free_gpus.size() < b->free_gpus.size();  // best fit
      return a.node_name < b->node_name;
    };
    for (NodeCapacity& n : nodes) {
      if (n.gpu_type != request.gpu_type) continue;
      if (static_cast<int>(n.free_gpus.size()) < request.gpus_per_replica) continue;
      if (better(n, best)) best = &n;
    }
    if (best == nullptr) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "not enough free GPUs: instance ", request.instance_id, " needs ", request.replicas,
          " replica(s) of ", request.gpus_per_replica, " x ", request.gpu_type, " on one node each; free ",
          request.gpu_type, " GPUs per ready node: ",
          free_summary.empty() ? "none (no ready node of this type)" : free_summary));
    }
    ReplicaPlacement p{best->node_id, {}};
    p.gpus.assign(best->free_gpus.begin(), best->free_gpus.begin() + request.gpus_per_replica);
    best->free_gpus.erase(best->free_gpus.begin(), best->free_gpus.begin() + request.gpus_per_replica);
    in_use.insert(best->node_id);
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace dedicated::controlplane
