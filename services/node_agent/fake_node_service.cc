#include "services/node_agent/fake_node_service.h"

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace dedicated::node_agent::testing {

using ::dedicated::v1::Assignments;
using ::dedicated::v1::ReplicaAssignment;

namespace {
void SetDuration(absl::Duration d, google::protobuf::Duration* out) {
  out->set_seconds(absl::ToInt64Seconds(d));
  out->set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(d % absl::Seconds(1))));
}
}  // namespace

grpc::Status FakeNodeService::Admit(const grpc::ServerContext* ctx, const std::string& method) {
  std::string authorization;
  if (auto it = ctx->client_metadata().find("authorization"); it != ctx->client_metadata().end()) {
    authorization.assign(it->second.data(), it->second.size());
  }
  absl::MutexLock lock(&mu_);
  authorizations_[method].push_back(authorization);
  if (!required_credential_.empty() && authorization != "Api-Key " + required_credential_) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "invalid node credential");
  }
  return grpc::Status::OK;
}

grpc::Status FakeNodeService::Register(grpc::ServerContext* ctx, const dedicated::v1::RegisterNodeRequest* req,
                                       dedicated::v1::RegisterNodeResponse* resp) {
  if (grpc::Status s = Admit(ctx, "Register"); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  registers_.push_back(*req);
  std::string& id = id_by_name_[req->name()];
  if (id.empty()) id = absl::StrCat("node-", next_id_++);
  known_ids_.insert(id);
  resp->set_node_id(id);
  SetDuration(heartbeat_interval_, resp->mutable_heartbeat_interval());
  return grpc::Status::OK;
}

grpc::Status FakeNodeService::Heartbeat(grpc::ServerContext* ctx, const dedicated::v1::HeartbeatRequest* req,
                                        dedicated::v1::HeartbeatResponse* resp) {
  if (grpc::Status s = Admit(ctx, "Heartbeat"); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  if (!known_ids_.contains(req->node_id())) return grpc::Status(grpc::StatusCode::NOT_FOUND, "unknown node");
  heartbeats_.push_back(*req);
  SetDuration(heartbeat_interval_, resp->mutable_heartbeat_interval());
  return grpc::Status::OK;
}

grpc::Status FakeNodeService::WatchAssignments(grpc::ServerContext* ctx,
                                               const dedicated::v1::WatchAssignmentsRequest* req,
                                               grpc::ServerWriter<Assignments>* writer) {
  if (grpc::Status s = Admit(ctx, "WatchAssignments"); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  ++watch_calls_;
  if (!known_ids_.contains(req->node_id())) return grpc::Status(grpc::StatusCode::NOT_FOUND, "unknown node");
  watched_node_ids_.push_back(req->node_id());
  ++open_streams_;
  const int64_t my_break = break_generation_;
  int64_t sent_version = -1;
  grpc::Status result = grpc::Status::OK;
  for (;;) {
    auto changed = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return assignments_.version() != sent_version || break_generation_ != my_break ||
             !known_ids_.contains(req->node_id());
    };
    // Short waits: the sync API gives no wake-up on cancellation, so it is polled.
    mu_.AwaitWithTimeout(absl::Condition(&changed), absl::Milliseconds(20));
    if (ctx->IsCancelled()) {
      result = grpc::Status::CANCELLED;
      break;
    }
    if (break_generation_ != my_break) {
      result = grpc::Status(grpc::StatusCode::UNAVAILABLE, "stream broken by the test");
      break;
    }
    if (!known_ids_.contains(req->node_id())) {
      result = grpc::Status(grpc::StatusCode::NOT_FOUND, "unknown node");
      break;
    }
    if (assignments_.version() != sent_version) {
      Assignments copy = assignments_;
      sent_version = copy.version();
      mu_.Unlock();
      bool ok = writer->Write(copy);
      mu_.Lock();
      if (!ok) break;
    }
  }
  --open_streams_;
  return result;
}

grpc::Status FakeNodeService::ReportReplicaStatus(grpc::ServerContext* ctx,
                                                  const dedicated::v1::ReportReplicaStatusRequest* req,
                                                  dedicated::v1::ReportReplicaStatusResponse*) {
  if (grpc::Status s = Admit(ctx, "ReportReplicaStatus"); !s.ok()) return s;
  {
    absl::MutexLock lock(&mu_);
    if (!known_ids_.contains(req->node_id())) return grpc::Status(grpc::StatusCode::NOT_FOUND, "unknown node");
  }
  reports_.Add(req->status());
  return grpc::Status::OK;
}

void FakeNodeService::SetAssignments(std::vector<ReplicaAssignment> replicas) {
  absl::MutexLock lock(&mu_);
  Assignments next;
  next.set_version(assignments_.version() + 1);
  for (ReplicaAssignment& r : replicas) *next.add_replicas() = std::move(r);
  assignments_ = std::move(next);
}

void FakeNodeService::BreakStreams() {
  absl::MutexLock lock(&mu_);
  ++break_generation_;
}

void FakeNodeService::ForgetNodes() {
  absl::MutexLock lock(&mu_);
  id_by_name_.clear();
  known_ids_.clear();
}

void FakeNodeService::set_heartbeat_interval(absl::Duration d) {
  absl::MutexLock lock(&mu_);
  heartbeat_interval_ = d;
}

void FakeNodeService::RequireCredential(std::string secret) {
  absl::MutexLock lock(&mu_);
  required_credential_ = std::move(secret);
}

std::map<std::string, std::vector<std::string>> FakeNodeService::authorizations() const {
  absl::MutexLock lock(&mu_);
  return authorizations_;
}

std::vector<dedicated::v1::RegisterNodeRequest> FakeNodeService::registers() const {
  absl::MutexLock lock(&mu_);
  return registers_;
}

std::vector<dedicated::v1::HeartbeatRequest> FakeNodeService::heartbeats() const {
  absl::MutexLock lock(&mu_);
  return heartbeats_;
}

int64_t FakeNodeService::heartbeat_count() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int64_t>(heartbeats_.size());
}

int64_t FakeNodeService::watch_calls() const {
  absl::MutexLock lock(&mu_);
  return watch_calls_;
}

int64_t FakeNodeService::open_streams() const {
  absl::MutexLock lock(&mu_);
  return open_streams_;
}

std::vector<std::string> FakeNodeService::watched_node_ids() const {
  absl::MutexLock lock(&mu_);
  return watched_node_ids_;
}

FakeControlplane::FakeControlplane(int port) {
  grpc::ServerBuilder builder;
  builder.AddListeningPort(absl::StrCat("127.0.0.1:", port), grpc::InsecureServerCredentials(), &port_);
  builder.RegisterService(&service_);
  server_ = builder.BuildAndStart();
  EXPECT_NE(server_, nullptr);
  EXPECT_NE(port_, 0);
}

FakeControlplane::~FakeControlplane() { Shutdown(); }

void FakeControlplane::Shutdown() {
  if (server_ == nullptr) return;
  // Open streams poll for cancellation, which the deadline triggers.
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(200));
  server_->Wait();
  server_.reset();
}

}  // namespace dedicated::node_agent::testing
