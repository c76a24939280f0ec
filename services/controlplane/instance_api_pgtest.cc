// InstanceService/OperationService logic against the real PostgreSQL: validation, idempotency,
// pagination and preconditions.
#include <set>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "services/controlplane/testing/controlplane_fixture.h"

namespace dedicated::controlplane {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

class InstanceApiTest : public testing::ControlplaneFixture {
 protected:
  v1::CreateInstanceRequest ValidCreate(const std::string& name = "my-gemma") {
    v1::CreateInstanceRequest req;
    req.set_folder_id("folder1");
    req.set_name(name);
    req.set_model_id("gemma-3-4b-it");
    req.set_configuration("S");
    return req;
  }
  absl::Status CreateStatus(const v1::CreateInstanceRequest& req) { return api_.Create(session_, rc_, req).status(); }
};

void ExpectInvalid(const absl::Status& s, const std::string& field) {
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_THAT(std::string(s.message()), StartsWith(field + ":")) << s;
}

TEST_F(InstanceApiTest, CreateReturnsOperationAtOnceWithInstanceMetadata) {
  auto op = api_.Create(session_, rc_, ValidCreate());
  ASSERT_TRUE(op.ok()) << op.status();
  EXPECT_FALSE(op->done());
  EXPECT_EQ(op->description(), "Create instance my-gemma");
  v1::CreateInstanceMetadata meta;
  ASSERT_TRUE(op->metadata().UnpackTo(&meta));
  v1::Instance instance = GetInstance(meta.instance_id());
  EXPECT_EQ(instance.status(), v1::Instance::CREATING);
  EXPECT_EQ(instance.replica_count(), 1) << "replica_count defaults to 1";
  EXPECT_EQ(instance.model_uri(), "dedicated://folder1/" + meta.instance_id());
}

TEST_F(InstanceApiTest, CreateRefusesUnknownModel) {
  auto req = ValidCreate();
  req.set_model_id("llama-9000");
  ExpectInvalid(CreateStatus(req), "model_id");
}

TEST_F(InstanceApiTest, CreateRefusesUnknownConfiguration) {
  auto req = ValidCreate();
  req.set_configuration("XL");
  ExpectInvalid(CreateStatus(req), "configuration");
  req.set_configuration("");
  ExpectInvalid(CreateStatus(req), "configuration");
}

TEST_F(InstanceApiTest, CreateRefusesEmptyFolderId) {
  auto req = ValidCreate();
  req.set_folder_id("");
  ExpectInvalid(CreateStatus(req), "folder_id");
}

TEST_F(InstanceApiTest, CreateRefusesBadNames) {
  for (const std::string& bad :
       std::vector<std::string>{"", "My-Gemma", "1gemma", "gemma-", "gem_ma", std::string(64, 'a')}) {
    ExpectInvalid(CreateStatus(ValidCreate(bad)), "name");
  }
}

TEST_F(InstanceApiTest, CreateRefusesLabelsOverLimits) {
  auto req = ValidCreate();
  for (int i = 0; i < 65; ++i) (*req.mutable_labels())["k" + std::to_string(i)] = "v";
  ExpectInvalid(CreateStatus(req), "labels");
  req.clear_labels();
  (*req.mutable_labels())["env"] = std::string(64, 'x');
  ExpectInvalid(CreateStatus(req), "labels");
}

TEST_F(InstanceApiTest, CreateRefusesBadReplicaCount) {
  auto req = ValidCreate();
  req.set_replica_count(65);
  ExpectInvalid(CreateStatus(req), "replica_count");
  req.set_replica_count(-1);
  ExpectInvalid(CreateStatus(req), "replica_count");
}

TEST_F(InstanceApiTest, CreateRefusesGptOssAfterItsCutoff) {
  auto req = ValidCreate();
  req.set_model_id("gpt-oss-120b");
  absl::Status s = CreateStatus(req);  // the fixture's clock is 2026-01-15
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("gpt-oss-120b"));
  clock_.Set(absl::FromCivil(absl::CivilSecond(2025, 11, 1, 0, 0, 0), absl::UTCTimeZone()));
  EXPECT_TRUE(CreateStatus(req).ok()) << "deployable before the cutoff";
}

TEST_F(InstanceApiTest, DuplicateNameInFolderIsAlreadyExistsNamingTheField) {
  ASSERT_TRUE(CreateStatus(ValidCreate("dup")).ok());
  absl::Status s = CreateStatus(ValidCreate("dup"));
  EXPECT_EQ(s.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(std::string(s.message()), StartsWith("name:"));
}

TEST_F(InstanceApiTest, SameIdempotencyKeyAndRequestReturnsSameOperation) {
  rc_.idempotency_key = "6f1c1f2e-8a57-4f4c-9a59-0d8b0c6a1e11";
  auto first = api_.Create(session_, rc_, ValidCreate());
  auto second = api_.Create(session_, rc_, ValidCreate());
  ASSERT_TRUE(first.ok() && second.ok()) << second.status();
  EXPECT_EQ(first->id(), second->id());
  EXPECT_EQ(Scalar("SELECT count(*) FROM instances"), 1);
}

TEST_F(InstanceApiTest, SameIdempotencyKeyWithDifferentRequestIsAlreadyExists) {
  rc_.idempotency_key = "key-1";
  ASSERT_TRUE(api_.Create(session_, rc_, ValidCreate("one")).ok());
  absl::Status s = CreateStatus(ValidCreate("two"));
  EXPECT_EQ(s.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(std::string(s.message()), HasSubstr("idempotency-key"));
  // A different method with the same key is a different request too.
  v1::DeleteInstanceRequest del;
  del.set_instance_id("dinwhatever");
  EXPECT_EQ(api_.Delete(session_, rc_, del).status().code(), absl::StatusCode::kAlreadyExists);
}

TEST_F(InstanceApiTest, IdempotencyKeyExpiresAfter24Hours) {
  rc_.idempotency_key = "key-2";
  auto first = api_.Create(session_, rc_, ValidCreate("one"));
  ASSERT_TRUE(first.ok());
  pqxx::connection conn(db_.dsn());
  pqxx::work tx(conn);
  tx.exec("UPDATE idempotency_keys SET expires_at = now() - interval '1 second'");
  tx.commit();
  auto second = api_.Create(session_, rc_, ValidCreate("two"));
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_NE(first->id(), second->id());
}

TEST_F(InstanceApiTest, ConcurrentRequestsWithOneKeyCreateOneOperation) {
  rc_.idempotency_key = "key-race";
  std::vector<std::thread> threads;
  std::vector<std::string> ids(6);
  for (int i = 0; i < 6; ++i) {
    threads.emplace_back([&, i] {
      storage::DbSession s(db_.dsn());
      auto op = api_.Create(s, rc_, ValidCreate("raced"));
      ids[i] = op.ok() ? op->id() : op.status().ToString();
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), 1u) << ids[0] << " vs " << ids[1];
  EXPECT_EQ(Scalar("SELECT count(*) FROM instances"), 1);
}

TEST_F(InstanceApiTest, ListPaginatesFiltersAndOrders) {
  for (const char* n : {"e", "b", "d", "a", "c"}) ASSERT_TRUE(CreateStatus(ValidCreate(n)).ok());
  auto other = ValidCreate("zz");
  other.set_model_id("qwen2.5-7b-instruct");
  ASSERT_TRUE(CreateStatus(other).ok());

  v1::ListInstancesRequest req;
  req.set_folder_id("folder1");
  req.set_page_size(2);
  req.set_order_by("name");
  std::vector<std::string> names;
  for (int page = 0; page < 10; ++page) {
    auto resp = api_.List(session_, rc_, req);
    ASSERT_TRUE(resp.ok()) << resp.status();
    for (const auto& i : resp->instances()) names.push_back(i.name());
    if (resp->next_page_token().empty()) break;
    req.set_page_token(resp->next_page_token());
  }
  EXPECT_THAT(names, ::testing::ElementsAre("a", "b", "c", "d", "e", "zz"));

  v1::ListInstancesRequest filtered;
  filtered.set_folder_id("folder1");
  filtered.set_filter("model_id = \"qwen2.5-7b-instruct\" AND status = \"CREATING\"");
  auto resp = api_.List(session_, rc_, filtered);
  ASSERT_TRUE(resp.ok());
  ASSERT_EQ(resp->instances_size(), 1);
  EXPECT_EQ(resp->instances(0).name(), "zz");

  filtered.set_filter("status = \"ACTIVE\"");
  EXPECT_EQ(api_.List(session_, rc_, filtered)->instances_size(), 0);

  v1::ListInstancesRequest desc;
  desc.set_folder_id("folder1");
  desc.set_order_by("created_at desc");
  auto newest = api_.List(session_, rc_, desc);
  ASSERT_TRUE(newest.ok());
  EXPECT_EQ(newest->instances(0).name(), "zz");

  v1::ListInstancesRequest elsewhere;
  elsewhere.set_folder_id("folder2");
  EXPECT_EQ(api_.List(session_, rc_, elsewhere)->instances_size(), 0);
}

TEST_F(InstanceApiTest, ListRefusesBadPageTokenAndPageSize) {
  v1::ListInstancesRequest req;
  req.set_folder_id("folder1");
  req.set_page_token("garbage");
  ExpectInvalid(api_.List(session_, rc_, req).status(), "page_token");
  req.clear_page_token();
  req.set_page_size(1001);
  ExpectInvalid(api_.List(session_, rc_, req).status(), "page_size");
  req.set_page_size(0);
  req.set_folder_id("");
  ExpectInvalid(api_.List(session_, rc_, req).status(), "folder_id");
}

TEST_F(InstanceApiTest, ATokenOfOneFilterDoesNotWorkWithAnother) {
  for (const char* n : {"a", "b", "c"}) ASSERT_TRUE(CreateStatus(ValidCreate(n)).ok());
  v1::ListInstancesRequest req;
  req.set_folder_id("folder1");
  req.set_page_size(1);
  auto page = api_.List(session_, rc_, req);
  ASSERT_FALSE(page->next_page_token().empty());
  req.set_page_token(page->next_page_token());
  req.set_filter("name = \"b\"");
  ExpectInvalid(api_.List(session_, rc_, req).status(), "page_token");
}

TEST_F(InstanceApiTest, UpdateChangesNameDescriptionAndLabelsAtOnce) {
  auto op = api_.Create(session_, rc_, ValidCreate("old"));
  std::string id = InstanceIdOf(*op);
  v1::UpdateInstanceRequest req;
  req.set_instance_id(id);
  req.set_name("new-name");
  req.set_description("updated");
  (*req.mutable_labels())["env"] = "prod";
  req.mutable_update_mask()->add_paths("name");
  req.mutable_update_mask()->add_paths("labels");
  auto update = api_.Update(session_, rc_, req);
  ASSERT_TRUE(update.ok()) << update.status();
  EXPECT_TRUE(update->done());
  v1::Instance response;
  ASSERT_TRUE(update->response().UnpackTo(&response));
  EXPECT_EQ(response.name(), "new-name");
  v1::Instance got = GetInstance(id);
  EXPECT_EQ(got.name(), "new-name");
  EXPECT_EQ(got.description(), "") << "description is not in the mask";
  EXPECT_EQ(got.labels().at("env"), "prod");
}

TEST_F(InstanceApiTest, UpdateRefusesEmptyMaskUnknownPathsAndBadValues) {
  auto op = api_.Create(session_, rc_, ValidCreate());
  v1::UpdateInstanceRequest req;
  req.set_instance_id(InstanceIdOf(*op));
  ExpectInvalid(api_.Update(session_, rc_, req).status(), "update_mask");
  req.mutable_update_mask()->add_paths("colour");
  ExpectInvalid(api_.Update(session_, rc_, req).status(), "update_mask");
  req.mutable_update_mask()->set_paths(0, "configuration");
  ExpectInvalid(api_.Update(session_, rc_, req).status(), "configuration");
  req.mutable_update_mask()->set_paths(0, "replica_count");
  req.set_replica_count(65);
  ExpectInvalid(api_.Update(session_, rc_, req).status(), "replica_count");
  req.mutable_update_mask()->set_paths(0, "name");
  req.set_name("Bad Name");
  ExpectInvalid(api_.Update(session_, rc_, req).status(), "name");
}

TEST_F(InstanceApiTest, GetOfUnknownInstanceIsNotFound) {
  v1::GetInstanceRequest req;
  req.set_instance_id("dinnosuchinstance000");
  EXPECT_EQ(api_.Get(session_, rc_, req).status().code(), absl::StatusCode::kNotFound);
  req.set_instance_id("");
  ExpectInvalid(api_.Get(session_, rc_, req).status(), "instance_id");
}

TEST_F(InstanceApiTest, StartAndStopRefuseWrongStates) {
  auto op = api_.Create(session_, rc_, ValidCreate());
  v1::StartInstanceRequest start;
  start.set_instance_id(InstanceIdOf(*op));
  absl::Status s = api_.Start(session_, rc_, start).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()), HasSubstr("CREATING"));
  v1::StopInstanceRequest stop;
  stop.set_instance_id(InstanceIdOf(*op));
  EXPECT_EQ(api_.Stop(session_, rc_, stop).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(InstanceApiTest, ListOperationsShowsNewestFirst) {
  auto op = api_.Create(session_, rc_, ValidCreate());
  std::string id = InstanceIdOf(*op);
  v1::UpdateInstanceRequest up;
  up.set_instance_id(id);
  up.set_description("x");
  up.mutable_update_mask()->add_paths("description");
  auto update = api_.Update(session_, rc_, up);
  ASSERT_TRUE(update.ok());
  v1::ListInstanceOperationsRequest req;
  req.set_instance_id(id);
  req.set_page_size(1);
  auto page1 = api_.ListOperations(session_, rc_, req);
  ASSERT_TRUE(page1.ok()) << page1.status();
  ASSERT_EQ(page1->operations_size(), 1);
  EXPECT_EQ(page1->operations(0).id(), update->id());
  req.set_page_token(page1->next_page_token());
  auto page2 = api_.ListOperations(session_, rc_, req);
  ASSERT_TRUE(page2.ok()) << page2.status();
  ASSERT_EQ(page2->operations_size(), 1);
  EXPECT_EQ(page2->operations(0).id(), op->id());
  EXPECT_TRUE(page2->next_page_token().empty());
}

TEST_F(InstanceApiTest, GetOperationOfUnknownIdIsNotFound) {
  v1::GetOperationRequest req;
  req.set_operation_id("dopnosuchoperation00");
  EXPECT_EQ(api_.GetOperation(session_, rc_, req).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace dedicated::controlplane
