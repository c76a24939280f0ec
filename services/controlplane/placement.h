#pragma once
// Where the replicas of an instance go: the scheduler's decision, as a pure function of the free GPUs per
// node. The caller (operation_steps.cc PlaceReplicasOf) usually feeds it the best-fit nodes it has locked
// with SKIP LOCKED (held by no other placer), else the whole fleet's unlocked view; a take that finds
// fewer free GPUs than decided aborts the transaction, which decides again on a fresh view.
//
// Rules, in order:
//   1. A replica needs `gpus_per_replica` free GPUs of the configuration's type on one node.
//   2. Spread: a node that already holds a replica of this instance is used only when no other node fits,
//      so that one node failure does not take every replica down.
//   3. Best fit: among the nodes that fit, the one with the fewest free GPUs, which keeps large free
//      blocks for L configurations (first fit fragments them).
//   4. Ties (equal free GPUs) go to the smallest hash of (instance id, node name): deterministic for an
//      instance, but concurrent placements of different instances spread over the equally good nodes
//      instead of all queueing for the first by name (they would serialise on that node's row). (The
//      locked best-fit head needs no tie-break: a node another placer holds is not in it.)
// GPUs within a node: the take picks the lowest free indices (node_store.cc kTakeGpus).

#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace dedicated::controlplane {

struct NodeCapacity {
  std::string node_id;
  std::string node_name;
  std::string gpu_type;
  int free_gpus = 0;
};

struct PlacementRequest {
  std::string instance_id;  // for messages
  std::string gpu_type;
  int gpus_per_replica = 1;
  int replicas = 1;  // how many to place now
  // Nodes that already run a replica of this instance.
  std::set<std::string> nodes_in_use;
};

struct ReplicaPlacement {
  std::string node_id;
  int gpus = 0;  // how many to take on the node
};

// All `replicas` placements, or RESOURCE_EXHAUSTED saying what was needed and what is free (nothing is
// placed then: a partial placement would hold GPUs for an instance that cannot start).
absl::StatusOr<std::vector<ReplicaPlacement>> PlaceReplicas(std::vector<NodeCapacity> nodes,
                                                            const PlacementRequest& request);

}  // namespace dedicated::controlplane
