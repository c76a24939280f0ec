#include "services/dictl/output_resources.h"

#include "absl/strings/str_cat.h"

namespace dedicated::dictl {
namespace {

std::string Expiry(const v1::ApiKey& key) { return key.has_expires_at() ? FormatTimestamp(key.expires_at()) : "never"; }

}  // namespace

std::string FormatSubject(const v1::Subject& subject) { return absl::StrCat(subject.type(), ":", subject.id()); }

absl::Status PrintCloud(const v1::Cloud& cloud, OutputFormat format, std::ostream& out) {
  if (format == OutputFormat::kJson) return PrintJson(cloud, out);
  Table table;
  table.AddRow({"ID", cloud.id()});
  table.AddRow({"NAME", cloud.name()});
  table.AddRow({"DESCRIPTION", cloud.description()});
  table.AddRow({"CREATED", FormatTimestamp(cloud.created_at())});
  table.Print(out);
  return absl::OkStatus();
}

absl::Status PrintClouds(const v1::ListCloudsResponse& response, OutputFormat format, std::ostream& out) {
  if (format == OutputFormat::kJson) return PrintJson(response, out);
  Table table({"ID", "NAME", "CREATED"});
  for (const v1::Cloud& cloud : response.clouds()) {
    table.AddRow({cloud.id(), cloud.name(), FormatTimestamp(cloud.created_at())});
  }
  table.Print(out);
  return absl::OkStatus();
}

absl::Status PrintFolder(const v1::Folder& folder, OutputFormat format, std::ostream& out) {
  if (format == OutputFormat::kJson) return PrintJson(folder, out);
  Table table;
  table.AddRow({"ID", folder.id()});
  table.AddRow({"NAME", folder.name()});
  table.AddRow({"CLOUD", folder.cloud_id()});
  table.AddRow({"DESCRIPTION", folder.description()});
  table.AddRow({"CREATED", FormatTimestamp(folder.created_at())});
  table.Print(out);
  return absl::OkStatus();
}

absl::Status PrintFolders(const v1::ListFoldersResponse& response, OutputFormat format, std::ostream& out) {
  if (format == OutputFormat::kJson) return PrintJson(response, out);
  Table table({"ID", "NAME", "CLOUD", "CREATED"});
  for (const v1::Folder& folder : response.folders()) {
    table.AddRow({folder.id(), folder.name(), folder.cloud_id(), FormatTimestamp(folder.created_at())});
  }
  table.Print(out);
  return absl::OkStatus();
}

absl::Status PrintFolderQuota(const v1::FolderQuota& quota, OutputFormat format, std::ostream& out) {
  if (format == OutputFormat::kJson) return PrintJson(quota, out);
  auto usage = [](int64_t used, bool limited, int64_t max) {
    return limited ? absl::StrCat(used, "/", max) : absl::StrCat(used, "/unlimited");
  };
  Table table;
  table.AddRow({"FOLDER", quota.folder_id()});
  table.AddRow({"INSTANCES", usage(quota.used_instances(), quota.has_max_instances(), quota.max_instances())});
  table.AddRow({"GPUS", usage(quota.used_gpus(), quota.has_max_gpus(), quota.max_gpus())});
  table.Print(out);
  return absl::OkStatus();
}

absl::Status PrintServiceAccount(const v1::ServiceAccount& account, OutputFormat format, std::ostream& out) {
  if (format == OutputFormat::kJson) return PrintJson(account, out);
  Table table;
  table.AddRow({"ID", account.id()});
  table.AddRow({"NAME", account.name()});
  table.AddRow({"FOLDER", account.folder_id()});
  table.AddRow({"DESCRIPTION", account.description()});
  table.AddRow({"CREATED", FormatTimestamp(account.created_at())});
  table.Print(out);
  return absl::OkStatus();
}

absl::Status PrintServiceAccounts(const v1::ListServiceAccountsResponse& response, OutputFormat format,
                                  std::ostream& out) {
  if (format == OutputFormat::kJson) return PrintJson(response, out);
  Table table({"ID", "NAME", "FOLDER", "CREATED"});
  for (const v1::ServiceAccount& account : response.service_accounts()) {
    table.AddRow({account.id(), account.name(), account.folder_id(), FormatTimestamp(account.created_at())});
  }
  table.Print(out);
  return absl::OkStatus();
}

absl::Status PrintUserAccount(const v1::UserAccount& account, OutputFormat format, std::ostream& out) {
  if (format == OutputFormat::kJson) return PrintJson(account, out);
  Table table;
  table.AddRow({"ID", account.id()});
  table.AddRow({"NAME", account.name()});
  table.AddRow({"DESCRIPTION", account.description()});
  table.AddRow({"CREATED", FormatTimestamp(account.created_at())});
  table.Print(out);
  return absl::OkStatus();
}

absl::Status PrintUserAccounts(const v1::ListUserAccountsResponse& response, OutputFormat format, std::ostream& out) {
  if (format == OutputFormat::kJson) return PrintJson(response, out);
  Table table({"ID", "NAME", "CREATED"});
  for (const v1::UserAccount& account : response.user_accounts()) {
    table.AddRow({account.id(), account.name(), FormatTimestamp(account.created_at())});
  }
  table.Print(out);
  return absl::OkStatus();
}

absl::Status PrintCreatedApiKey(const v1::CreateApiKeyResponse& response, OutputFormat format, std::ostream& out) {
  if (format == OutputFormat::kJson) return PrintJson(response, out);
  const v1::ApiKey& key = response.api_key();
  Table table;
  table.AddRow({"ID", key.id()});
  table.AddRow({"SUBJECT", key.subject_id()});
  table.AddRow({"DESCRIPTION", key.description()});
  table.AddRow({"CREATED", FormatTimestamp(key.created_at())});
  table.AddRow({"EXPIRES", Expiry(key)});
  table.Print(out);
  // On a line of its own, so that it is easy to copy and impossible to miss.
  out << "\nsecret (shown once, store it now): " << response.secret() << "\n";
  return absl::OkStatus();
}

absl::Status PrintApiKeys(const v1::ListApiKeysResponse& response, OutputFormat format, std::ostream& out) {
  if (format == OutputFormat::kJson) return PrintJson(response, out);
  Table table({"ID", "SUBJECT", "DESCRIPTION", "CREATED", "EXPIRES"});
  for (const v1::ApiKey& key : response.api_keys()) {
    table.AddRow({key.id(), key.subject_id(), key.description(), FormatTimestamp(key.created_at()), Expiry(key)});
  }
  table.Print(out);
  return absl::OkStatus();
}

absl::Status PrintAccessBindings(const v1::ListAccessBindingsResponse& response, OutputFormat format,
                                 std::ostream& out) {
  if (format == OutputFormat::kJson) return PrintJson(response, out);
  Table table({"ROLE", "SUBJECT"});
  for (const v1::AccessBinding& binding : response.access_bindings()) {
    table.AddRow({binding.role_id(), FormatSubject(binding.subject())});
  }
  table.Print(out);
  return absl::OkStatus();
}

std::string NodeStateName(v1::Node::State state) {
  const std::string& name = v1::Node::State_Name(state);
  return name.empty() ? absl::StrCat("STATE_", static_cast<int>(state)) : name;
}

std::string FormatGpuMemory(int64_t bytes) {
  constexpr int64_t kGiB = int64_t{1} << 30;
  if (bytes == 0) return "";
  if (bytes % kGiB == 0) return absl::StrCat(bytes / kGiB, " GiB");
  return absl::StrCat(bytes, " bytes");
}

absl::Status PrintNode(const v1::Node& node, OutputFormat format, std::ostream& out) {
  if (format == OutputFormat::kJson) return PrintJson(node, out);
  Table table;
  table.AddRow({"ID", node.id()});
  table.AddRow({"NAME", node.name()});
  table.AddRow({"STATE", NodeStateName(node.state())});
  table.AddRow({"GPU TYPE", node.gpu_type()});
  table.AddRow({"GPUS", absl::StrCat(node.gpu_count())});
  table.AddRow({"GPU MEMORY", FormatGpuMemory(node.gpu_memory_bytes())});
  table.AddRow({"GPUS USED", absl::StrCat(node.gpus_used())});
  table.AddRow({"GPUS FREE", absl::StrCat(node.gpus_free())});
  table.AddRow({"REPLICAS", absl::StrCat(node.replica_count())});
  table.AddRow({"LABELS", FormatLabels(node.labels())});
  table.AddRow({"ADDRESS", node.address()});
  table.AddRow({"ENGINE", node.engine_kind()});
  table.AddRow({"AGENT VERSION", node.agent_version()});
  table.AddRow({"REGISTERED", FormatTimestamp(node.registered_at())});
  table.AddRow({"LAST HEARTBEAT", FormatTimestamp(node.last_heartbeat_at())});
  table.Print(out);
  return absl::OkStatus();
}

absl::Status PrintNodes(const v1::ListNodesResponse& response, OutputFormat format, std::ostream& out) {
  if (format == OutputFormat::kJson) return PrintJson(response, out);
  Table table({"NAME", "ID", "STATE", "GPU TYPE", "GPUS", "FREE", "REPLICAS", "LAST HEARTBEAT"});
  for (const v1::Node& node : response.nodes()) {
    table.AddRow({node.name(), node.id(), NodeStateName(node.state()), node.gpu_type(),
                  absl::StrCat(node.gpus_used(), "/", node.gpu_count()), absl::StrCat(node.gpus_free()),
                  absl::StrCat(node.replica_count()), FormatTimestamp(node.last_heartbeat_at())});
  }
  table.Print(out);
  return absl::OkStatus();
}

}  // namespace dedicated::dictl
