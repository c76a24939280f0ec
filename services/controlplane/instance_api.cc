#include "services/controlplane/instance_api.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "services/common/ids.h"
#include "services/common/status_macros.h"
#include "services/controlplane/idempotent_mutation.h"
#include "services/controlplane/instance_store.h"
#include "services/controlplane/list_query.h"
#include "services/controlplane/operation_store.h"
#include "services/controlplane/quota.h"
#include "services/controlplane/row_codec.h"
#include "services/controlplane/validation.h"

namespace dedicated::controlplane {
namespace {

using v1::Instance;

constexpr char kServicePrefix[] = "dedicated.v1.InstanceService/";

template <typename Metadata>
google::protobuf::Any InstanceMetadata(const std::string& instance_id) {
  Metadata m;
  m.set_instance_id(instance_id);
  return PackAny(m);
}

// The schema's unique index on live names surfaces as a raw constraint error; say it in API terms.
absl::Status DescribeNameConflict(absl::Status s, const std::string& folder_id, const std::string& name) {
  if (s.code() == absl::StatusCode::kAlreadyExists && absl::StrContains(s.message(), "instances_folder_name_live")) {
    return absl::AlreadyExistsError(
        absl::StrCat("name: an instance named \"", name, "\" already exists in folder ", folder_id));
  }
  return s;
}

absl::Status InstanceBusy(const InstanceRow& row, absl::string_view wanted) {
  return absl::FailedPreconditionError(absl::StrCat("instance ", row.proto.id(), " is ", row.status, "; ", wanted));
}

}  // namespace

template <typename Fn>
absl::StatusOr<v1::Operation> InstanceApi::Mutate(DbSession& db, const RequestContext& rc, absl::string_view method,
                                                  const google::protobuf::Message& request, Fn&& fn) {
  absl::StatusOr<v1::Operation> op =
      IdempotentMutation(db, rc, absl::StrCat(kServicePrefix, method), request, std::forward<Fn>(fn));
  if (op.ok()) wakeups_->OperationsChanged();
  return op;
}

absl::StatusOr<Instance> InstanceApi::Get(DbSession& db, const RequestContext& rc, const v1::GetInstanceRequest& req) {
  DI_RETURN_IF_ERROR(ValidateId("instance_id", req.instance_id()));
  Instance out;
  DI_RETURN_IF_ERROR(db.ReadOneStatement("get instance", [&](pqxx::nontransaction& tx, DbSession& s) -> absl::Status {
    DI_ASSIGN_OR_RETURN(InstanceRow row, LoadInstance(tx, s, req.instance_id(), /*for_update=*/false));
    out = std::move(row.proto);
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<v1::ListInstancesResponse> InstanceApi::List(DbSession& db, const RequestContext& rc,
                                                            const v1::ListInstancesRequest& req) {
  DI_RETURN_IF_ERROR(ValidateId("folder_id", req.folder_id()));
  int64_t page_size;
  DI_RETURN_IF_ERROR(ValidatePageSize("page_size", req.page_size(), &page_size));
  DI_ASSIGN_OR_RETURN(InstanceFilter filter, ParseInstanceFilter(req.filter()));
  DI_ASSIGN_OR_RETURN(InstanceOrder order, ParseInstanceOrder(req.order_by()));
  std::string query = absl::StrCat("instances|", req.folder_id(), "|", req.filter(), "|", static_cast<int>(order));
  DI_ASSIGN_OR_RETURN(std::optional<PageCursor> after, DecodePageToken("page_token", req.page_token(), query));
  v1::ListInstancesResponse out;
  DI_RETURN_IF_ERROR(db.ReadOneStatement("list instances", [&](pqxx::nontransaction& tx, DbSession& s) -> absl::Status {
    DI_ASSIGN_OR_RETURN(InstancePage page, ListInstances(tx, s, req.folder_id(), filter, order, after, page_size));
    out.Clear();
    for (auto& i : page.instances) *out.add_instances() = std::move(i);
    if (page.next) out.set_next_page_token(EncodePageToken(*page.next, query));
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<v1::Operation> InstanceApi::Create(DbSession& db, const RequestContext& rc,
                                                  const v1::CreateInstanceRequest& req) {
  DI_RETURN_IF_ERROR(ValidateId("folder_id", req.folder_id()));
  DI_RETURN_IF_ERROR(ValidateName("name", req.name()));
  DI_RETURN_IF_ERROR(ValidateDescription("description", req.description()));
  DI_RETURN_IF_ERROR(ValidateLabels("labels", req.labels()));
  if (req.model_id().empty()) return absl::InvalidArgumentError("model_id: is required");
  if (catalog_->Find(req.model_id()) == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("model_id: unknown model \"", req.model_id(), "\" (ModelService.List shows the catalog)"));
  }
  DI_RETURN_IF_ERROR(ValidateConfiguration("configuration", req.configuration()));
  if (catalog_->FindConfiguration(req.model_id(), req.configuration()) == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("configuration: model ", req.model_id(), " has no configuration ", req.configuration()));
  }
  int64_t replicas = req.replica_count() == 0 ? 1 : req.replica_count();
  DI_RETURN_IF_ERROR(ValidateReplicaCount("replica_count", replicas));
  DI_RETURN_IF_ERROR(catalog_->CheckDeployable(req.model_id(), clock_->Now()));

  const int64_t gpus = replicas * catalog_->FindConfiguration(req.model_id(), req.configuration())->gpu_count();
  auto op = Mutate(db, rc, "Create", req, [&](pqxx::work& tx, DbSession& s) -> absl::StatusOr<OperationRow> {
    DI_RETURN_IF_ERROR(CheckFolderQuota(tx, s, *catalog_, req.folder_id(), 1, gpus));
    Instance instance;
    instance.set_id(NewId("din"));
    instance.set_folder_id(req.folder_id());
    instance.set_name(req.name());
    instance.set_description(req.description());
    *instance.mutable_labels() = req.labels();
    instance.set_model_id(req.model_id());
    instance.set_configuration(req.configuration());
    instance.set_replica_count(replicas);
    instance.set_status(Instance::CREATING);
    DI_RETURN_IF_ERROR(InsertInstance(tx, s, instance));
    NewOperation op{.id = NewId("dop"),
                    .kind = kCreateInstance,
                    .description = absl::StrCat("Create instance ", req.name()),
                    .instance_id = instance.id(),
                    .resource_id = instance.folder_id(),
                    .created_by = rc.subject_id,
                    .metadata = InstanceMetadata<v1::CreateInstanceMetadata>(instance.id()),
                    .timeout = config_->provision_timeout};
    return InsertOperation(tx, s, op);
  });
  if (!op.ok()) return DescribeNameConflict(op.status(), req.folder_id(), req.name());
  return op;
}

absl::StatusOr<v1::Operation> InstanceApi::Update(DbSession& db, const RequestContext& rc,
                                                  const v1::UpdateInstanceRequest& req) {
  DI_RETURN_IF_ERROR(ValidateId("instance_id", req.instance_id()));
  constexpr char kPaths[] = "name, description, labels, configuration, replica_count";
  if (req.update_mask().paths().empty()) {
    return absl::InvalidArgumentError(absl::StrCat("update_mask: is required (paths: ", kPaths, ")"));
  }
  bool change_spec = false;
  for (const std::string& path : req.update_mask().paths()) {
    if (path == "name") {
      DI_RETURN_IF_ERROR(ValidateName("name", req.name()));
    } else if (path == "description") {
      DI_RETURN_IF_ERROR(ValidateDescription("description", req.description()));
    } else if (path == "labels") {
      DI_RETURN_IF_ERROR(ValidateLabels("labels", req.labels()));
    } else if (path == "configuration") {
      DI_RETURN_IF_ERROR(ValidateConfiguration("configuration", req.configuration()));
      change_spec = true;
    } else if (path == "replica_count") {
      DI_RETURN_IF_ERROR(ValidateReplicaCount("replica_count", req.replica_count()));
      change_spec = true;
    } else {
      return absl::InvalidArgumentError(absl::StrCat("update_mask: unknown path \"", path, "\" (", kPaths, ")"));
    }
  }
  std::string name_for_error = req.name();
  std::string folder_for_error;
  auto op = Mutate(db, rc, "Update", req, [&](pqxx::work& tx, DbSession& s) -> absl::StatusOr<OperationRow> {
    DI_ASSIGN_OR_RETURN(InstanceRow row, LoadInstance(tx, s, req.instance_id(), /*for_update=*/true));
    folder_for_error = row.proto.folder_id();
    if (row.status == "DELETING") return InstanceBusy(row, "it cannot be updated");
    std::string configuration = row.proto.configuration();
    int64_t replica_count = row.proto.replica_count();
    for (const std::string& path : req.update_mask().paths()) {
      if (path == "name") row.proto.set_name(req.name());
      if (path == "description") row.proto.set_description(req.description());
      if (path == "labels") *row.proto.mutable_labels() = req.labels();
      if (path == "configuration") configuration = req.configuration();
      if (path == "replica_count") replica_count = req.replica_count();
    }
    DI_RETURN_IF_ERROR(UpdateInstanceFields(tx, s, row.proto));
    NewOperation op{.id = NewId("dop"),
                    .kind = kUpdateInstance,
                    .description = absl::StrCat("Update instance ", row.proto.name()),
                    .instance_id = row.proto.id(),
                    .resource_id = row.proto.folder_id(),
                    .created_by = rc.subject_id,
                    .metadata = InstanceMetadata<v1::UpdateInstanceMetadata>(row.proto.id())};
    bool spec_changes = change_spec && (configuration != row.proto.configuration() ||
                                        replica_count != row.proto.replica_count());
    if (spec_changes) {
      DI_ASSIGN_OR_RETURN(bool rolling, PrepareSpecChange(tx, s, row, configuration, replica_count, op.id));
      if (rolling) {
        v1::UpdateInstanceMetadata metadata;
        metadata.set_instance_id(row.proto.id());
        metadata.set_configuration(configuration);
        metadata.set_replica_count(replica_count);
        op.metadata = PackAny(metadata);
        op.description = absl::StrCat("Roll instance ", row.proto.name(), " out to configuration ", configuration,
                                      " x ", replica_count, " replicas");
        op.timeout = config_->provision_timeout;
        return InsertOperation(tx, s, op);
      }
    }
    op.response = PackAny(row.proto);
    return InsertOperation(tx, s, op);
  });
  if (!op.ok()) return DescribeNameConflict(op.status(), folder_for_error, name_for_error);
  return op;
}

absl::StatusOr<bool> InstanceApi::PrepareSpecChange(pqxx::work& tx, DbSession& s, InstanceRow& row,
                                                    const std::string& configuration, int64_t replica_count,
                                                    const std::string& op_id) {
  const auto* wanted = catalog_->FindConfiguration(row.proto.model_id(), configuration);
  if (wanted == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("configuration: model ", row.proto.model_id(), " has no configuration ", configuration));
  }
  if (row.status == "STOPPED" || row.status == "ERROR") {
    // Nothing runs: the new values apply at the next Start (which checks quotas and capacity).
    row.proto.set_configuration(configuration);
    row.proto.set_replica_count(replica_count);
    DI_RETURN_IF_ERROR(UpdateInstanceSpec(tx, s, row.proto));
    return false;
  }
  if (row.status != "ACTIVE") {
    return InstanceBusy(row, "configuration and replica_count can change while it is ACTIVE, STOPPED or ERROR");
  }
  if (std::optional<OperationRow> live = LiveOperationOf(tx, s, row.proto.id()); live.has_value()) {
    return absl::FailedPreconditionError(absl::StrCat("instance ", row.proto.id(), " is busy with operation ",
                                                      live->proto.id(), " (", live->kind,
                                                      "); update it when that operation is done"));
  }
  DI_RETURN_IF_ERROR(catalog_->CheckDeployable(row.proto.model_id(), clock_->Now()));
  const auto* current = catalog_->FindConfiguration(row.proto.model_id(), row.proto.configuration());
  int64_t more_gpus = replica_count * wanted->gpu_count() -
                      (current == nullptr ? 0 : row.proto.replica_count() * current->gpu_count());
  if (more_gpus > 0) DI_RETURN_IF_ERROR(CheckFolderQuota(tx, s, *catalog_, row.proto.folder_id(), 0, more_gpus));
  // The instance stays ACTIVE (it serves throughout); the message shows the roll's progress.
  DI_RETURN_IF_ERROR(SetInstanceStatus(
      tx, s, row, "ACTIVE", absl::StrCat("updating to configuration ", configuration, " x ", replica_count), op_id));
  return true;
}

absl::StatusOr<v1::Operation> InstanceApi::Delete(DbSession& db, const RequestContext& rc,
                                                  const v1::DeleteInstanceRequest& req) {
  DI_RETURN_IF_ERROR(ValidateId("instance_id", req.instance_id()));
  return Mutate(db, rc, "Delete", req, [&](pqxx::work& tx, DbSession& s) -> absl::StatusOr<OperationRow> {
    DI_ASSIGN_OR_RETURN(InstanceRow row, LoadInstance(tx, s, req.instance_id(), /*for_update=*/true));
    std::string op_id = NewId("dop");
    if (auto live = LiveOperationOf(tx, s, row.proto.id()); live.has_value()) {
      if (live->kind == kDeleteInstance) {
        return absl::FailedPreconditionError(absl::StrCat("instance ", row.proto.id(),
                                                          " is already being deleted by operation ", live->proto.id()));
      }
      // Deleting wins over a Create/Start/Stop in flight: that operation ends as cancelled.
      FinishOperationWithError(
          tx, s, live->proto.id(), "",
          MakeRpcStatus(absl::StatusCode::kCancelled, absl::StrCat("superseded by delete operation ", op_id)));
    }
    DI_RETURN_IF_ERROR(SetInstanceStatus(tx, s, row, "DELETING", "", op_id));
    NewOperation op{.id = op_id,
                    .kind = kDeleteInstance,
                    .description = absl::StrCat("Delete instance ", row.proto.name()),
                    .instance_id = row.proto.id(),
                    .resource_id = row.proto.folder_id(),
                    .created_by = rc.subject_id,
                    .metadata = InstanceMetadata<v1::DeleteInstanceMetadata>(row.proto.id())};
    return InsertOperation(tx, s, op);
  });
}

absl::StatusOr<v1::Operation> InstanceApi::Start(DbSession& db, const RequestContext& rc,
                                                 const v1::StartInstanceRequest& req) {
  DI_RETURN_IF_ERROR(ValidateId("instance_id", req.instance_id()));
  return Mutate(db, rc, "Start", req, [&](pqxx::work& tx, DbSession& s) -> absl::StatusOr<OperationRow> {
    DI_ASSIGN_OR_RETURN(InstanceRow row, LoadInstance(tx, s, req.instance_id(), /*for_update=*/true));
    if (row.status != "STOPPED" && row.status != "ERROR") {
      return InstanceBusy(row, "only a STOPPED or ERROR instance can be started");
    }
    if (row.proto.model_id().empty() || catalog_->Find(row.proto.model_id()) == nullptr) {
      return absl::FailedPreconditionError(absl::StrCat("model ", row.proto.model_id(), " is no longer in the catalog"));
    }
    DI_RETURN_IF_ERROR(catalog_->CheckDeployable(row.proto.model_id(), clock_->Now()));
    if (const auto* config = catalog_->FindConfiguration(row.proto.model_id(), row.proto.configuration())) {
      DI_RETURN_IF_ERROR(CheckFolderQuota(tx, s, *catalog_, row.proto.folder_id(), 0,
                                          row.proto.replica_count() * config->gpu_count()));
    }
    std::string op_id = NewId("dop");
    DI_RETURN_IF_ERROR(SetInstanceStatus(tx, s, row, "STARTING", "", op_id));
    NewOperation op{.id = op_id,
                    .kind = kStartInstance,
                    .description = absl::StrCat("Start instance ", row.proto.name()),
                    .instance_id = row.proto.id(),
                    .resource_id = row.proto.folder_id(),
                    .created_by = rc.subject_id,
                    .metadata = InstanceMetadata<v1::StartInstanceMetadata>(row.proto.id()),
                    .timeout = config_->provision_timeout};
    return InsertOperation(tx, s, op);
  });
}

absl::StatusOr<v1::Operation> InstanceApi::Stop(DbSession& db, const RequestContext& rc,
                                                const v1::StopInstanceRequest& req) {
  DI_RETURN_IF_ERROR(ValidateId("instance_id", req.instance_id()));
  return Mutate(db, rc, "Stop", req, [&](pqxx::work& tx, DbSession& s) -> absl::StatusOr<OperationRow> {
    DI_ASSIGN_OR_RETURN(InstanceRow row, LoadInstance(tx, s, req.instance_id(), /*for_update=*/true));
    std::string op_id = NewId("dop");
    std::optional<OperationRow> live = LiveOperationOf(tx, s, row.proto.id());
    if (live.has_value() && (live->kind == kRepairInstance || live->kind == kUpdateInstance)) {
      // A repair or a rolling update gives way to the user: stopping releases every replica anyway, and
      // the instance keeps the configuration it had before the update.
      FinishOperationWithError(
          tx, s, live->proto.id(), "",
          MakeRpcStatus(absl::StatusCode::kCancelled, absl::StrCat("superseded by stop operation ", op_id)));
    } else if (row.status != "ACTIVE" && row.status != "ERROR") {
      return InstanceBusy(row, "only an ACTIVE or ERROR instance can be stopped");
    }
    DI_RETURN_IF_ERROR(SetInstanceStatus(tx, s, row, "STOPPING", "", op_id));
    NewOperation op{.id = op_id,
                    .kind = kStopInstance,
                    .description = absl::StrCat("Stop instance ", row.proto.name()),
                    .instance_id = row.proto.id(),
                    .resource_id = row.proto.folder_id(),
                    .created_by = rc.subject_id,
                    .metadata = InstanceMetadata<v1::StopInstanceMetadata>(row.proto.id())};
    return InsertOperation(tx, s, op);
  });
}

absl::StatusOr<v1::ListInstanceOperationsResponse> InstanceApi::ListOperations(
    DbSession& db, const RequestContext& rc, const v1::ListInstanceOperationsRequest& req) {
  DI_RETURN_IF_ERROR(ValidateId("instance_id", req.instance_id()));
  int64_t page_size;
  DI_RETURN_IF_ERROR(ValidatePageSize("page_size", req.page_size(), &page_size));
  std::string query = absl::StrCat("operations|", req.instance_id());
  DI_ASSIGN_OR_RETURN(std::optional<PageCursor> after, DecodePageToken("page_token", req.page_token(), query));
  v1::ListInstanceOperationsResponse out;
  DI_RETURN_IF_ERROR(db.InTransaction("list operations", [&](pqxx::work& tx, DbSession& s) -> absl::Status {
    DI_RETURN_IF_ERROR(LoadInstance(tx, s, req.instance_id(), /*for_update=*/false).status());
    OperationPage page = ListInstanceOperations(tx, s, req.instance_id(), after, page_size);
    out.Clear();
    for (auto& op : page.operations) *out.add_operations() = std::move(op);
    if (page.next) out.set_next_page_token(EncodePageToken(*page.next, query));
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<v1::Operation> InstanceApi::GetOperation(DbSession& db, const RequestContext& rc,
                                                        const v1::GetOperationRequest& req) {
  DI_RETURN_IF_ERROR(ValidateId("operation_id", req.operation_id()));
  v1::Operation out;
  // dictl and SDKs poll this: one statement, no BEGIN/COMMIT.
  DI_RETURN_IF_ERROR(db.ReadOneStatement("get operation", [&](pqxx::nontransaction& tx, DbSession& s) -> absl::Status {
    DI_ASSIGN_OR_RETURN(OperationRow row, LoadOperation(tx, s, req.operation_id(), /*for_update=*/false));
    out = std::move(row.proto);
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<v1::Operation> InstanceApi::CancelOperation(DbSession& db, const RequestContext& rc,
                                                           const v1::CancelOperationRequest& req) {
  DI_RETURN_IF_ERROR(ValidateId("operation_id", req.operation_id()));
  v1::Operation out;
  DI_RETURN_IF_ERROR(db.InTransaction("cancel operation", [&](pqxx::work& tx, DbSession& s) -> absl::Status {
    DI_ASSIGN_OR_RETURN(OperationRow row, LoadOperation(tx, s, req.operation_id(), /*for_update=*/true));
    if (row.proto.done()) {
      return absl::FailedPreconditionError(absl::StrCat("operation ", row.proto.id(), " is already done"));
    }
    if (row.kind != kCreateInstance && row.kind != kStartInstance && row.kind != kUpdateInstance) {
      return absl::FailedPreconditionError(absl::StrCat(
          "operation ", row.proto.id(), " (", row.kind,
          ") cannot be cancelled: stopping, deleting and repairs release or replace resources and are not "
          "reversed"));
    }
    RequestCancel(tx, s, row.proto.id());
    DI_ASSIGN_OR_RETURN(OperationRow updated, LoadOperation(tx, s, req.operation_id(), /*for_update=*/false));
    out = std::move(updated.proto);
    return absl::OkStatus();
  }));
  wakeups_->OperationsChanged();
  return out;
}

}  // namespace dedicated::controlplane
