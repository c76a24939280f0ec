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

}  // namespace dedicated::dictl
