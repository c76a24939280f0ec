#pragma once
// Authentication and authorization of every RPC, in one place.
//
// Authenticate runs at the RPC edge from the in-memory IamSnapshot. Authorize looks the method up in the
// authorization table (authz_table.h), finds the folder or cloud the request is about, and checks the
// caller's roles there. The RPC edge (RpcDispatcher, GetBatcher, the streams) calls both before any
// handler, so a handler cannot forget them.
//
// Existence is never leaked: for instances, operations, service accounts and keys, "absent" and "you may
// not see it" give the same NOT_FOUND and message; PERMISSION_DENIED is said only to callers who may see
// the resource but not do this to it. Clouds and folders are named by unguessable ids, and an unknown one
// is INVALID_ARGUMENT naming the field, which is what a client needs to fix its request.

#include <memory>
#include <string>

#include <google/protobuf/message.h>
#include <grpcpp/server_context.h>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "services/common/clock.h"
#include "services/controlplane/iam_cache.h"
#include "services/controlplane/request_context.h"
#include "services/storage/db_session.h"

namespace dedicated::controlplane {

class Authorizer {
 public:
  Authorizer(IamCache* cache, const Clock* clock) : cache_(cache), clock_(clock) {}

  // Fills rc.principal, rc.subject_id and rc.iam from the `authorization` metadata. UNAUTHENTICATED
  // when it is missing or not a live key.
  absl::Status Authenticate(const grpc::ServerContextBase& context, RequestContext& rc) const;

  // OK if rc.principal may call `method` ("InstanceService.Get") with `request`. `db` is needed only to
  // find the folder of an instance or operation the first time (that mapping never changes, so it is
  // cached); it may be null for methods that need no lookup.
  absl::Status Authorize(storage::DbSession* db, const RequestContext& rc, absl::string_view method,
                         const google::protobuf::Message& request);

 private:
  // Immutable id -> folder/resource mappings, remembered after the first lookup.
  absl::StatusOr<std::string> ResolveOnce(storage::DbSession* db, bool instance, const std::string& id);

  IamCache* cache_;
  const Clock* clock_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::string> resolved_ ABSL_GUARDED_BY(mu_);
};

}  // namespace dedicated::controlplane
