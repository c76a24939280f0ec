#include "services/dictl/wait.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>

#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "services/dictl/fake_controlplane.h"
#include "services/dictl/output.h"

namespace dedicated::dictl {
namespace {

using ::testing::HasSubstr;

TEST(ProgressLine, NamesOperationInstanceStatusAndElapsedTime) {
  v1::Operation operation;
  operation.set_id("op-1");
  v1::CreateInstanceMetadata metadata;
  metadata.set_instance_id("inst-1");
  operation.mutable_metadata()->PackFrom(metadata);
  EXPECT_EQ(ProgressLine(operation, "STARTING", absl::Seconds(12)),
            "Waiting for operation op-1 (create instance inst-1): instance STARTING \u2026 12s");
  EXPECT_EQ(ProgressLine(operation, "", absl::Milliseconds(900)),
            "Waiting for operation op-1 (create instance inst-1) \u2026 0s");
}

class WaitTest : public ::testing::Test {
 protected:
  // Creates an instance through the fake and returns the running Create operation.
  v1::Operation StartCreate() {
    v1::CreateInstanceRequest request;
    request.set_folder_id("folder-1");
    request.set_name("chat");
    v1::Operation operation;
    std::unique_ptr<grpc::ClientContext> context = client_->NewContext();
    EXPECT_TRUE(client_->instances().Create(context.get(), request, &operation).ok());
    return operation;
  }

  testing::FakeControlplane fake_;
  std::unique_ptr<Client> client_ = Client::Connect(
      ClientOptions{.endpoint = fake_.endpoint(), .timeout = absl::Seconds(10), .retry = {}, .sleep = {}});
  // A fake clock that each sleep moves forward, so elapsed times are exact.
  absl::Time now_ = absl::FromUnixSeconds(1000);
  WaitOptions options_{.poll_interval = absl::Seconds(1),
                       .live = false,
                       .sleep = [this](absl::Duration d) { now_ += d; },
                       .now = [this] { return now_; }};
};

TEST_F(WaitTest, OnATerminalRewritesOneLine) {
  fake_.SetOperationOutcome(/*polls=*/3);
  v1::Operation operation = StartCreate();
  options_.live = true;
  std::ostringstream progress;
  ASSERT_TRUE(WaitForOperation(*client_, operation, progress, options_).ok());
  EXPECT_TRUE(operation.done());
  const std::string text = progress.str();
  EXPECT_THAT(
      text, HasSubstr("\rWaiting for operation op-2 (create instance inst-1): instance CREATING \u2026 0s"));
  EXPECT_THAT(
      text, HasSubstr("\rWaiting for operation op-2 (create instance inst-1): instance STARTING \u2026 1s"));
  EXPECT_THAT(
      text, HasSubstr("\rWaiting for operation op-2 (create instance inst-1): instance STARTING \u2026 2s"));
  EXPECT_THAT(text, HasSubstr("\rOperation op-2 done after 3s"));
  // One line on screen: the only newline ends it.
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1);
  EXPECT_EQ(text.back(), '\n');
}

TEST_F(WaitTest, OnANarrowTerminalDropsTheDescriptionAndNeverWraps) {
  fake_.SetOperationOutcome(/*polls=*/1);
  v1::Operation operation = StartCreate();
  options_.live = true;
  options_.terminal_width = 60;
  std::ostringstream progress;
  ASSERT_TRUE(WaitForOperation(*client_, operation, progress, options_).ok());
  const std::string text = progress.str();
  EXPECT_THAT(text, HasSubstr("\rWaiting for operation op-2: instance CREATING \u2026 0s"));
  for (absl::string_view line : absl::StrSplit(text, '\r')) {
    EXPECT_LT(DisplayWidth(absl::StripSuffix(line, "\n")), 60u) << line;
  }
}

TEST_F(WaitTest, InALogWritesALinePerStatusChange) {
  fake_.SetOperationOutcome(/*polls=*/4);
  v1::Operation operation = StartCreate();
  std::ostringstream progress;
  ASSERT_TRUE(WaitForOperation(*client_, operation, progress, options_).ok());
  EXPECT_EQ(progress.str(),
            "Waiting for operation op-2 (create instance inst-1): instance CREATING \u2026 0s\n"
            "Waiting for operation op-2 (create instance inst-1): instance STARTING \u2026 1s\n"
            "Operation op-2 done after 4s\n");
}

TEST_F(WaitTest, KeepsPollingThroughABriefOutageButNotForever) {
  v1::Operation operation;
  operation.set_id("op-1");
  // Nothing listens on port 1: every poll is UNAVAILABLE.
  std::unique_ptr<Client> unreachable = Client::Connect(ClientOptions{
      .endpoint = "127.0.0.1:1", .retry = RetryPolicy{.max_retries = 0}, .sleep = [](absl::Duration) {}});
  options_.unavailable_grace = absl::Seconds(5);
  std::ostringstream progress;
  grpc::Status status = WaitForOperation(*unreachable, operation, progress, options_);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  // Polled once a second from the first failure until the grace ran out.
  EXPECT_EQ(now_ - absl::FromUnixSeconds(1000), absl::Seconds(6));
  EXPECT_THAT(progress.str(), HasSubstr("controlplane unavailable, retrying"));
}

TEST_F(WaitTest, StopsOnAnRpcError) {
  v1::Operation operation;
  operation.set_id("op-unknown");
  std::ostringstream progress;
  grpc::Status status = WaitForOperation(*client_, operation, progress, options_);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
}

}  // namespace
}  // namespace dedicated::dictl
