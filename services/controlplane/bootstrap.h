#pragma once
// First start of an installation: a default cloud and folder, an admin service account that holds
// `admin` on the cloud and may create clouds (installation admin), and the credentials that node-agents
// and gateways present. Runs once: if an installation admin exists, nothing is created and the result
// says so (bootstrapping twice never creates a second admin silently).

#include <string>

#include "absl/status/statusor.h"
#include "services/storage/db_session.h"

namespace dedicated::controlplane {

struct BootstrapResult {
  bool created = false;
  std::string cloud_id;
  std::string folder_id;
  std::string admin_account_id;
  // Secrets, set only when created; shown once, stored hashed.
  std::string admin_secret;
  std::string node_secret;
  std::string gateway_secret;
};

absl::StatusOr<BootstrapResult> Bootstrap(storage::DbSession& db);

}  // namespace dedicated::controlplane
