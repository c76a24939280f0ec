#include "services/controlplane/placement.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace dedicated::controlplane {
namespace {

using ::testing::HasSubstr;

NodeCapacity Node(const std::string& name, int free, const std::string& type = "H100-80GB") {
  return NodeCapacity{"id-" + name, name, type, free};
}

PlacementRequest Request(int gpus, int replicas = 1) {
  return PlacementRequest{.instance_id = "din1", .gpu_type = "H100-80GB", .gpus_per_replica = gpus,
                          .replicas = replicas, .nodes_in_use = {}};
}

TEST(Placement, BestFitKeepsTheLargeBlockForAnL) {
  // First fit would put the S on "a" (8 free) and leave no node able to take an L (4).
  std::vector<NodeCapacity> nodes = {Node("a", 8), Node("b", 2)};
  auto s = PlaceReplicas(nodes, Request(1));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ((*s)[0].node_id, "id-b");
  nodes[1].free_gpus = 1;
  auto l = PlaceReplicas(nodes, Request(4, 2));
  ASSERT_TRUE(l.ok()) << l.status() << ": the 8-GPU block is still whole";
  EXPECT_EQ((*l)[0].node_id, "id-a");
  EXPECT_EQ((*l)[1].node_id, "id-a") << "one node fits both only after spreading found no other";
}

TEST(Placement, FragmentedFreeGpusDoNotAddUpAcrossNodes) {
  // 6 free GPUs in all, but no node has 4.
  auto r = PlaceReplicas({Node("a", 3), Node("b", 3)}, Request(4));
  ASSERT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(r.status().message(), HasSubstr("1 replica(s) of 4 x H100-80GB"));
  EXPECT_THAT(r.status().message(), HasSubstr("a: 3, b: 3"));
}

TEST(Placement, OnlyTheConfigurationsGpuTypeCounts) {
  auto r = PlaceReplicas({Node("a", 8, "A100-80GB")}, Request(1));
  ASSERT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(r.status().message(), HasSubstr("none (no ready node of this type)"));
}

TEST(Placement, ReplicasSpreadAcrossNodesBeforeSharingOne) {
  auto r = PlaceReplicas({Node("a", 8), Node("b", 8), Node("c", 8)}, Request(2, 3));
  ASSERT_TRUE(r.ok()) << r.status();
  std::set<std::string> used;
  for (const auto& p : *r) used.insert(p.node_id);
  EXPECT_EQ(used.size(), 3u);
}

TEST(Placement, NodesAlreadyRunningTheInstanceAreAvoided) {
  PlacementRequest req = Request(1);
  req.nodes_in_use = {"id-a"};
  auto r = PlaceReplicas({Node("a", 1), Node("b", 7)}, req);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].node_id, "id-b") << "spread wins over best fit";
}

TEST(Placement, SpreadFallsBackToSharingWhenItMustAndCountsWhatItTook) {
  auto r = PlaceReplicas({Node("a", 8, "H100-80GB"), Node("b", 1)}, Request(2, 3));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 3u);
  for (const auto& p : *r) {
    EXPECT_EQ(p.node_id, "id-a") << "b is too small for a replica of 2";
    EXPECT_EQ(p.gpus, 2);
  }
  // 8 - 3 x 2 = 2 left on a: a fourth fits, a fifth does not.
  EXPECT_TRUE(PlaceReplicas({Node("a", 8)}, Request(2, 4)).ok());
  EXPECT_FALSE(PlaceReplicas({Node("a", 8)}, Request(2, 5)).ok());
}

TEST(Placement, AllOrNothing) {
  // Two replicas of 4 fit; the third does not: nothing is placed.
  auto r = PlaceReplicas({Node("a", 4), Node("b", 4)}, Request(4, 3));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(r.status().message(), HasSubstr("needs 3 replica(s)"));
}

TEST(Placement, TiesAreDeterministicPerInstanceAndSpreadAcrossInstances) {
  std::vector<NodeCapacity> nodes;
  for (int i = 0; i < 16; ++i) nodes.push_back(Node("n" + std::to_string(i), 4));
  nodes.push_back(Node("roomy", 8));
  std::set<std::string> chosen;
  for (int i = 0; i < 50; ++i) {
    PlacementRequest req = Request(1);
    req.instance_id = "din" + std::to_string(i);
    auto first = PlaceReplicas(nodes, req);
    auto again = PlaceReplicas(nodes, req);
    ASSERT_TRUE(first.ok() && again.ok());
    EXPECT_EQ((*first)[0].node_id, (*again)[0].node_id) << "the same instance places the same way";
    EXPECT_NE((*first)[0].node_id, "id-roomy") << "ties never override best fit";
    chosen.insert((*first)[0].node_id);
  }
  EXPECT_GE(chosen.size(), 8u) << "50 instances should spread over the 16 equally good nodes";
}

}  // namespace
}  // namespace dedicated::controlplane
