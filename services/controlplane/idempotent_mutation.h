#pragma once
// The body of every state-changing RPC: runs `fn(tx, session) -> StatusOr<OperationRow>` in one
// transaction, unless the idempotency-key names an earlier identical request of the same caller, in which
// case that request's operation is returned (design.md §3: same key and request within 24 h -> same
// Operation; same key and another request -> ALREADY_EXISTS).

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "dedicated/v1/operation.pb.h"
#include "google/protobuf/message.h"
#include "services/common/status_macros.h"
#include "services/controlplane/operation_store.h"
#include "services/controlplane/request_context.h"
#include "services/storage/db_session.h"

namespace dedicated::controlplane {

// SHA-256 of the method ("dedicated.v1.InstanceService/Create") and the request's deterministic bytes.
std::string RequestFingerprint(absl::string_view full_method, const google::protobuf::Message& request);

template <typename Fn>
absl::StatusOr<v1::Operation> IdempotentMutation(storage::DbSession& db, const RequestContext& rc,
                                                 absl::string_view full_method,
                                                 const google::protobuf::Message& request, Fn&& fn) {
  std::string fingerprint;
  if (!rc.idempotency_key.empty()) fingerprint = RequestFingerprint(full_method, request);
  v1::Operation result;
  absl::Status status =
      db.InTransaction(full_method, [&](pqxx::work& tx, storage::DbSession& session) -> absl::Status {
        if (!rc.idempotency_key.empty()) {
          LockIdempotencyKey(tx, session, rc.subject_id, rc.idempotency_key);
          DI_ASSIGN_OR_RETURN(std::optional<std::string> existing,
                              FindIdempotentOperation(tx, session, rc.subject_id, rc.idempotency_key, fingerprint));
          if (existing.has_value()) {
            DI_ASSIGN_OR_RETURN(OperationRow op, LoadOperation(tx, session, *existing, /*for_update=*/false));
            result = op.proto;
            return absl::OkStatus();
          }
        }
        DI_ASSIGN_OR_RETURN(OperationRow op, fn(tx, session));
        if (!rc.idempotency_key.empty()) {
          RecordIdempotencyKey(tx, session, rc.subject_id, rc.idempotency_key, fingerprint, op.proto.id());
        }
        result = op.proto;
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  return result;
}

}  // namespace dedicated::controlplane
