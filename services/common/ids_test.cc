#include "services/common/ids.h"

#include <set>
#include <thread>

#include <gtest/gtest.h>

namespace dedicated {
namespace {

TEST(Ids, NewIdHasPrefixAndLength) {
  std::string id = NewId("din");
  EXPECT_EQ(id.size(), 20u);
  EXPECT_EQ(id.substr(0, 3), "din");
}

TEST(Ids, NewIdsDiffer) {
  std::set<std::string> ids;
  for (int i = 0; i < 1000; ++i) ids.insert(NewId("op_"));
  EXPECT_EQ(ids.size(), 1000u);
}

TEST(Ids, NonSecretIdsHaveNewIdsShapeAndDifferAcrossThreads) {
  std::set<std::string> ids;
  std::string other_thread;
  std::thread t([&] { other_thread = NewNonSecretId("req"); });
  t.join();
  ids.insert(other_thread);
  for (int i = 0; i < 10000; ++i) {
    std::string id = NewNonSecretId("req");
    ASSERT_EQ(id.size(), 20u);
    ASSERT_EQ(id.substr(0, 3), "req");
    ASSERT_EQ(id.find_first_not_of("abcdefghijklmnopqrstuvwxyz234567", 3), std::string::npos) << id;
    ids.insert(id);
  }
  // Every thread seeds its own generator from the OS: a second thread does not repeat the first's ids.
  EXPECT_EQ(ids.size(), 10001u);
}

TEST(Ids, UuidIsCanonicalV4) {
  std::string u = NewUuid();
  ASSERT_EQ(u.size(), 36u);
  EXPECT_EQ(u[14], '4');
  EXPECT_EQ(u[8], '-');
}

TEST(Ids, Sha256OfKnownInput) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace dedicated
