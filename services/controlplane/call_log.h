#pragma once
// The controlplane's API log: one structured line per gRPC call, written when the call finishes
// (RpcDispatcher::Finish), e.g.
//   {"ts":"...","level":"info","component":"controlplane","msg":"rpc","method":"InstanceService.Create",
//    "code":"OK","duration_ms":"12.041","request_id":"4f1c...","account_id":"aje...",
//    "account_type":"userAccount","operation_id":"dop...","instance_id":"din..."}
// It names the caller by account id only: never the authorization header, never the key's id, never a
// request body. Ids taken from requests are client input, so they are cut to a sane length.

#include <string>
#include <string_view>
#include <type_traits>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "dedicated/v1/instance.pb.h"
#include "dedicated/v1/operation.pb.h"
#include "services/common/log.h"

namespace dedicated::controlplane {

// What the log line says about one call besides its outcome. Filled as the call goes: the request id
// at the start, the account after authentication, the ids once the handler has run.
struct CallRecord {
  const char* method = "";
  absl::Time start;
  std::string request_id;
  std::string account_id;    // empty when authentication failed
  std::string account_type;  // userAccount | serviceAccount | system
  std::string instance_id;
  std::string operation_id;
  std::string node_id;
};

// Node agents (heartbeats, replica reports, assignment streams) and gateways (snapshot streams) call
// every few seconds per process: at info level they would bury the user-facing calls, so their
// successful calls log at debug (--log-level debug shows them). Their failures stay at info: a failing
// agent or gateway is what an operator looks for, and its retries are paced by backoff.
bool IsHighVolumeMethod(std::string_view method);

// debug for a successful high-volume call; error for the codes that mean a server fault (INTERNAL,
// UNKNOWN, DATA_LOSS); info for everything else, client errors included (they are part of the story
// of a user's request).
LogLevel CallLogLevel(std::string_view method, absl::StatusCode code);

// Writes the line. `message` is "rpc" for unary calls, "rpc stream open" for server streams.
void LogCall(const CallRecord& call, const absl::Status& status, absl::Duration elapsed,
             std::string_view message = "rpc");

// The instance an Operation is about: the instance_id field of its metadata (CreateInstanceMetadata and
// its siblings), or "" when the metadata has none.
std::string InstanceIdOfOperation(const v1::Operation& operation);

// Notes the ids a call named or produced: instance_id / operation_id / node_id fields of the request,
// the Operation a mutation returned (and the instance in its metadata), the Instance a read returned.
// `response` is null when the call failed.
template <typename Request, typename Response>
void NoteCallIds(const Request& request, const Response* response, CallRecord& call) {
  if constexpr (requires { request.instance_id(); }) call.instance_id = request.instance_id();
  if constexpr (requires { request.operation_id(); }) call.operation_id = request.operation_id();
  if constexpr (requires { request.node_id(); }) call.node_id = request.node_id();
  if (response == nullptr) return;
  if constexpr (std::is_same_v<Response, v1::Operation>) {
    if (!response->id().empty()) call.operation_id = response->id();
    if (call.instance_id.empty()) call.instance_id = InstanceIdOfOperation(*response);
  }
  if constexpr (std::is_same_v<Response, v1::Instance>) {
    if (call.instance_id.empty()) call.instance_id = response->id();
  }
  if constexpr (requires { response->node_id(); }) {
    if (call.node_id.empty()) call.node_id = response->node_id();
  }
}

}  // namespace dedicated::controlplane
