#include "services/gateway/router.h"

#include <gtest/gtest.h>

namespace dedicated::gateway {
namespace {

v1::RouteTable Table(v1::Instance::Status status, int replicas) {
  v1::RouteTable t;
  t.set_version("v1");
  auto* i = t.add_instances();
  i->set_instance_id("dinst");
  i->set_folder_id("f");
  i->set_status(status);
  i->set_max_concurrency(2);
  for (int k = 0; k < replicas; ++k) {
    auto* r = i->add_replicas();
    r->set_replica_id("r" + std::to_string(k));
    r->set_endpoint("127.0.0.1:" + std::to_string(9000 + k));
    r->set_max_concurrency(2);
  }
  return t;
}

TEST(RouterTest, AdmissionSurvivesTableUpdates) {
  Router router(8);
  EXPECT_EQ(router.Current(), nullptr);
  absl::Time now = absl::Now();
  router.Update(Table(v1::Instance::ACTIVE, 1), now);
  auto first = router.Current()->Find("dinst");
  ASSERT_NE(first, nullptr);
  auto held = first->admission->Acquire({}, now, [](auto) {});
  ASSERT_EQ(held.outcome, Admission::Outcome::kGranted);
  router.Update(Table(v1::Instance::ACTIVE, 2), now);
  auto second = router.Current()->Find("dinst");
  EXPECT_EQ(second->admission, first->admission);
  EXPECT_EQ(second->admission->in_flight(), 1);
  EXPECT_EQ(second->admission->replica_count(), 2u);
  EXPECT_EQ(router.Current()->Find("other"), nullptr);
}

TEST(RouterTest, InstancesThatAreNotActiveGetNoReplicas) {
  Router router(8);
  router.Update(Table(v1::Instance::STOPPING, 2), absl::Now());
  auto state = router.Current()->Find("dinst");
  ASSERT_NE(state, nullptr);
  EXPECT_EQ(state->admission->replica_count(), 0u);
  EXPECT_EQ(state->route.status(), v1::Instance::STOPPING);
}

}  // namespace
}  // namespace dedicated::gateway
