#pragma once
// Printing of the identity and resource objects: clouds, folders, service and user accounts, API keys and
// access bindings; and of the nodes of the GPU fleet. Same conventions as output.h: key/value tables for one object,
// one row per object for lists, protobuf JSON for --format json.

#include <cstdint>
#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "dedicated/v1/access_binding.pb.h"
#include "dedicated/v1/access_binding_service.pb.h"
#include "dedicated/v1/api_key_service.pb.h"
#include "dedicated/v1/node_admin_service.pb.h"
#include "dedicated/v1/resource_service.pb.h"
#include "services/dictl/output.h"

namespace dedicated::dictl {

// "serviceAccount:ajeb1", the syntax --subject takes.
std::string FormatSubject(const v1::Subject& subject);

absl::Status PrintCloud(const v1::Cloud& cloud, OutputFormat format, std::ostream& out);
absl::Status PrintClouds(const v1::ListCloudsResponse& response, OutputFormat format, std::ostream& out);
absl::Status PrintFolder(const v1::Folder& folder, OutputFormat format, std::ostream& out);
absl::Status PrintFolders(const v1::ListFoldersResponse& response, OutputFormat format, std::ostream& out);
// FOLDER, INSTANCES and GPUS as used/max; an unset max (no limit) shows as used/unlimited.
absl::Status PrintFolderQuota(const v1::FolderQuota& quota, OutputFormat format, std::ostream& out);
absl::Status PrintServiceAccount(const v1::ServiceAccount& account, OutputFormat format, std::ostream& out);
absl::Status PrintServiceAccounts(const v1::ListServiceAccountsResponse& response, OutputFormat format,
                                  std::ostream& out);
absl::Status PrintUserAccount(const v1::UserAccount& account, OutputFormat format, std::ostream& out);
absl::Status PrintUserAccounts(const v1::ListUserAccountsResponse& response, OutputFormat format, std::ostream& out);
// The one place a secret is printed: the key, then "secret (shown once, store it now): <secret>"; JSON
// is the whole response, {"api_key": {...}, "secret": "..."}.
absl::Status PrintCreatedApiKey(const v1::CreateApiKeyResponse& response, OutputFormat format, std::ostream& out);
absl::Status PrintApiKeys(const v1::ListApiKeysResponse& response, OutputFormat format, std::ostream& out);
absl::Status PrintAccessBindings(const v1::ListAccessBindingsResponse& response, OutputFormat format,
                                 std::ostream& out);

// "READY", "DRAINING", "DOWN"; "STATE_<n>" for a value this build does not know.
std::string NodeStateName(v1::Node::State state);
// Memory per GPU: "80 GiB" for whole GiB, else the bytes ("1000 bytes"); "" when unset.
std::string FormatGpuMemory(int64_t bytes);
// Every field of the node, one per line.
absl::Status PrintNode(const v1::Node& node, OutputFormat format, std::ostream& out);
// One row per node: NAME, ID, STATE, GPU TYPE, GPUS (used/total), FREE, REPLICAS, LAST HEARTBEAT.
absl::Status PrintNodes(const v1::ListNodesResponse& response, OutputFormat format, std::ostream& out);

}  // namespace dedicated::dictl
