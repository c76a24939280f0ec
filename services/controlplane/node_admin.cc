#include "services/controlplane/node_admin.h"

#include "absl/strings/str_cat.h"
#include "services/common/ids.h"
#include "services/common/status_macros.h"
#include "services/controlplane/idempotent_mutation.h"
#include "services/controlplane/list_query.h"
#include "services/controlplane/operation_store.h"
#include "services/controlplane/row_codec.h"
#include "services/controlplane/validation.h"

namespace dedicated::controlplane {
namespace {

using storage::Sql;

#define DI_NODE_COLUMNS                                                                                        \
  "n.id, n.name, n.state, n.drained, n.gpu_type, n.gpu_count, n.gpu_memory_bytes, "                           \
  "(SELECT count(*) FROM gpus g WHERE g.node_id = n.id AND g.replica_id IS NOT NULL), "                      \
  "(SELECT count(*) FROM replicas r WHERE r.node_id = n.id AND r.desired_state <> 'STOPPED'), n.labels::text, " \
  "n.address, n.engine_kind, n.agent_version, (extract(epoch FROM n.registered_at) * 1000000)::bigint, "      \
  "(extract(epoch FROM n.last_heartbeat_at) * 1000000)::bigint"

constexpr Sql kSelectNode{"node_admin_get", "SELECT " DI_NODE_COLUMNS " FROM nodes n WHERE n.id = $1"};
// Keyset pagination by (name, id): names are unique, so the id only breaks ties of nothing; kept for
// symmetry with the other lists.
constexpr Sql kSelectNodes{"node_admin_list", "SELECT " DI_NODE_COLUMNS
                                              " FROM nodes n WHERE ($1 = '' OR n.name > $1) ORDER BY n.name "
                                              "LIMIT $2"};
constexpr Sql kSetDrained{"node_admin_drain", "UPDATE nodes SET drained = $2 WHERE id = $1"};

#undef DI_NODE_COLUMNS

v1::Node RowToNode(const pqxx::row& r) {
  v1::Node n;
  n.set_id(r[0].as<std::string>());
  n.set_name(r[1].as<std::string>());
  std::string state = r[2].as<std::string>();
  bool drained = r[3].as<bool>();
  n.set_state(state == "DOWN" ? v1::Node::DOWN : drained ? v1::Node::DRAINING : v1::Node::READY);
  n.set_gpu_type(r[4].as<std::string>());
  n.set_gpu_count(r[5].as<int64_t>());
  n.set_gpu_memory_bytes(r[6].as<int64_t>());
  n.set_gpus_used(r[7].as<int64_t>());
  n.set_gpus_free(n.gpu_count() - n.gpus_used());
  n.set_replica_count(r[8].as<int64_t>());
  ParseLabelsJson(r[9].as<std::string>(), n.mutable_labels());
  n.set_address(r[10].as<std::string>());
  n.set_engine_kind(r[11].as<std::string>());
  n.set_agent_version(r[12].as<std::string>());
  SetTimestampMicros(n.mutable_registered_at(), r[13].as<int64_t>());
  SetTimestampMicros(n.mutable_last_heartbeat_at(), r[14].as<int64_t>());
  return n;
}

absl::StatusOr<v1::Node> LoadNode(pqxx::transaction_base& tx, DbSession& db, const std::string& id) {
  pqxx::result r = db.Exec(tx, kSelectNode, id);
  if (r.empty()) return absl::NotFoundError(absl::StrCat("node ", id, " not found"));
  return RowToNode(r[0]);
}

}  // namespace

absl::StatusOr<v1::Node> NodeAdminApi::Get(DbSession& db, const RequestContext&, const v1::GetNodeRequest& req) {
  DI_RETURN_IF_ERROR(ValidateId("node_id", req.node_id()));
  v1::Node out;
  DI_RETURN_IF_ERROR(db.ReadOneStatement("get node", [&](pqxx::nontransaction& tx, DbSession& s) -> absl::Status {
    DI_ASSIGN_OR_RETURN(out, LoadNode(tx, s, req.node_id()));
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<v1::ListNodesResponse> NodeAdminApi::List(DbSession& db, const RequestContext&,
                                                         const v1::ListNodesRequest& req) {
  int64_t page_size = 0;
  DI_RETURN_IF_ERROR(ValidatePageSize("page_size", req.page_size(), &page_size));
  DI_ASSIGN_OR_RETURN(std::optional<PageCursor> after, DecodePageToken("page_token", req.page_token(), "nodes"));
  v1::ListNodesResponse out;
  DI_RETURN_IF_ERROR(db.ReadOneStatement("list nodes", [&](pqxx::nontransaction& tx, DbSession& s) {
    out.Clear();
    // One row more than the page tells whether there is a next page.
    pqxx::result r = s.Exec(tx, kSelectNodes, after.has_value() ? after->sort_key : "", page_size + 1);
    for (const pqxx::row& row : r) {
      if (out.nodes_size() == page_size) {
        const v1::Node& last = out.nodes(out.nodes_size() - 1);
        out.set_next_page_token(EncodePageToken(PageCursor{last.name(), last.id()}, "nodes"));
        break;
      }
      *out.add_nodes() = RowToNode(row);
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<v1::Operation> NodeAdminApi::SetDrained(DbSession& db, const RequestContext& rc,
                                                       const std::string& node_id, bool drained,
                                                       const google::protobuf::Message& request) {
  DI_RETURN_IF_ERROR(ValidateId("node_id", node_id));
  const char* kind = drained ? "DrainNode" : "UndrainNode";
  return IdempotentMutation(
      db, rc, absl::StrCat("dedicated.v1.NodeAdminService/", drained ? "Drain" : "Undrain"), request,
      [&](pqxx::work& tx, DbSession& s) -> absl::StatusOr<OperationRow> {
        if (s.Exec(tx, kSetDrained, node_id, drained).affected_rows() == 0) {
          return absl::NotFoundError(absl::StrCat("node ", node_id, " not found"));
        }
        DI_ASSIGN_OR_RETURN(v1::Node node, LoadNode(tx, s, node_id));
        v1::DrainNodeMetadata md;
        md.set_node_id(node_id);
        return InsertOperation(tx, s,
                               NewOperation{.id = NewId("dop"),
                                            .kind = kind,
                                            .description = absl::StrCat(drained ? "Drain" : "Undrain", " node ",
                                                                        node.name()),
                                            .instance_id = "",
                                            .resource_id = node_id,
                                            .created_by = rc.subject_id,
                                            .metadata = PackAny(md),
                                            .response = PackAny(node),
                                            .timeout = absl::ZeroDuration()});
      });
}

absl::StatusOr<v1::Operation> NodeAdminApi::Drain(DbSession& db, const RequestContext& rc,
                                                  const v1::DrainNodeRequest& req) {
  return SetDrained(db, rc, req.node_id(), true, req);
}

absl::StatusOr<v1::Operation> NodeAdminApi::Undrain(DbSession& db, const RequestContext& rc,
                                                    const v1::UndrainNodeRequest& req) {
  return SetDrained(db, rc, req.node_id(), false, req);
}

}  // namespace dedicated::controlplane
