// dictl node list|get|drain|undrain: the operators' view of the GPU fleet (NodeAdminService). Installation
// admins only; to anyone else the server answers PERMISSION_DENIED.

#include <functional>

#include "dedicated/v1/node_admin_service.grpc.pb.h"
#include "services/common/ids.h"
#include "services/dictl/args.h"
#include "services/dictl/command.h"
#include "services/dictl/command_kit.h"
#include "services/dictl/output_resources.h"

namespace dedicated::dictl {
namespace {

using ListNodes = ListCommand<v1::ListNodesResponse>;
using NodeAdminStub = v1::NodeAdminService::StubInterface;

// drain and undrain: one node id in, one Operation out. The server finishes it before it answers and
// its response is the node; like access-binding add/remove, a not-yet-done operation is waited for.
class SetDrained : public IdCommand {
 public:
  using Rpc = std::function<grpc::Status(NodeAdminStub&, grpc::ClientContext*, const std::string& id, v1::Operation*)>;
  explicit SetDrained(Rpc rpc) : IdCommand("NODE_ID"), rpc_(std::move(rpc)) {}

  void RegisterFlags(FlagSet&) override {}
  int Run(Client& client, const CommandEnv& env) override {
    v1::Operation operation;
    // One key per invocation, the same on every retry after UNAVAILABLE.
    grpc::Status status =
        client.Call([&](grpc::ClientContext* context) { return rpc_(client.nodes(), context, id_, &operation); },
                    CallOptions{.idempotency_key = NewUuid()});
    if (!status.ok()) return ReportRpcError(status, client, env.err);
    // Table: the node as it is now (ReportOperationOutcome prints a Node response); JSON: the operation.
    return AwaitOperation(client, std::move(operation), env);
  }

 private:
  Rpc rpc_;
};

template <typename Request>
SetDrained::Rpc NodeRpc(grpc::Status (NodeAdminStub::*method)(grpc::ClientContext*, const Request&, v1::Operation*)) {
  return [method](NodeAdminStub& stub, grpc::ClientContext* context, const std::string& id, v1::Operation* operation) {
    Request request;
    request.set_node_id(id);
    return (stub.*method)(context, request, operation);
  };
}

std::unique_ptr<Command> MakeGet() {
  return std::make_unique<GetCommand<v1::Node>>(
      "NODE_ID",
      [](Client& client, grpc::ClientContext* context, const std::string& id, v1::Node* node) {
        v1::GetNodeRequest request;
        request.set_node_id(id);
        return client.nodes().Get(context, request, node);
      },
      &PrintNode);
}

std::unique_ptr<Command> MakeList() {
  return std::make_unique<ListNodes>(
      "", "", "nodes",
      [](Client& client, grpc::ClientContext* context, const ListNodes::Request& list, v1::ListNodesResponse* page) {
        v1::ListNodesRequest request;
        request.set_page_size(list.page_size);
        request.set_page_token(list.page_token);
        return client.nodes().List(context, request, page);
      },
      &PrintNodes);
}

}  // namespace

Group NodeGroup() {
  return Group{
      .name = "node",
      .summary = "inspect the GPU nodes and drain them (installation admins)",
      .verbs =
          {
              Verb{.name = "list",
                   .summary = "list the nodes with their free and used GPUs (installation admins)",
                   .usage = "dictl node list [--page-size N] [--page-token T]",
                   .description = "Lists every node of the installation, by name: its state (READY, DRAINING, DOWN),\n"
                                  "GPU type, GPUs used by replicas out of the total, GPUs free, replicas and last\n"
                                  "heartbeat. Only installation admins may. Without --page-size and --page-token all\n"
                                  "pages are fetched and printed together.",
                   .examples = {"dictl node list", "dictl node list --format json"},
                   .make = MakeList},
              Verb{.name = "get",
                   .summary = "show a node (installation admins)",
                   .usage = "dictl node get NODE_ID",
                   .description = "Shows every field of the node: state, GPUs (type, count, memory per GPU, used,\n"
                                  "free), replicas, labels, address, engine kind, agent version, registration and\n"
                                  "last heartbeat. Only installation admins may.",
                   .examples = {"dictl node get dnd1s0e8r2m1x7c5b4a9",
                                "dictl node get dnd1s0e8r2m1x7c5b4a9 --format json"},
                   .make = MakeGet},
              Verb{.name = "drain",
                   .summary = "stop placing new replicas on a node (installation admins)",
                   .usage = "dictl node drain NODE_ID",
                   .description = "Drains the node: no new replicas are placed on it; the replicas it runs keep\n"
                                  "running until they are stopped or moved. The node shows as DRAINING (DOWN if it\n"
                                  "stops heartbeating) until 'dictl node undrain'. Prints the node (with --format\n"
                                  "json: the operation, whose response is the node). Only installation admins may.",
                   .examples = {"dictl node drain dnd1s0e8r2m1x7c5b4a9"},
                   .make = [] { return std::make_unique<SetDrained>(NodeRpc(&NodeAdminStub::Drain)); }},
              Verb{.name = "undrain",
                   .summary = "make a drained node schedulable again (installation admins)",
                   .usage = "dictl node undrain NODE_ID",
                   .description = "Undoes 'dictl node drain': new replicas may be placed on the node again. Prints\n"
                                  "the node (with --format json: the operation, whose response is the node). Only\n"
                                  "installation admins may.",
                   .examples = {"dictl node undrain dnd1s0e8r2m1x7c5b4a9"},
                   .make = [] { return std::make_unique<SetDrained>(NodeRpc(&NodeAdminStub::Undrain)); }},
          },
  };
}

}  // namespace dedicated::dictl
