#pragma once
// The authorization table: for every RPC the controlplane serves, the permission it needs and the
// resource it is checked on. Authorizer (authorizer.h) is the one place that enforces it, called by the
// RPC edge before any handler runs; a method missing here is refused (deny by default), and the
// permission-matrix test fails if a method of any dedicated.v1 service has no row.

#include <string_view>
#include <vector>

#include "absl/strings/string_view.h"

namespace dedicated::controlplane {

enum class AuthzTarget {
  kAuthenticated,      // any valid user or service account key (e.g. the public model catalog)
  kInstallationAdmin,  // accounts flagged installation_admin (creating clouds)
  kNodeAgent,          // node credentials only (NodeService); user keys are refused
  kGateway,            // gateway credentials only (the access snapshot stream)
  kFolder,             // `field` holds a folder id
  kCloud,              // `field` holds a cloud id
  kCloudOrFolder,      // `field` holds a cloud or folder id (access bindings)
  kInstance,           // `field` holds an instance id; checked on its folder
  kOperation,          // `field` holds an operation id; checked on its folder/cloud
  kAccount,            // `field` holds an account id: a service account is checked on its folder; a user
                       // account only by itself (its own keys) or an installation admin
  kApiKey,             // `field` holds an API key id; checked as its account (kAccount)
  kSelfOrInstallationAdmin,  // `field` holds a user account id: that user, or an installation admin
};

struct AuthzRule {
  std::string_view method;      // "InstanceService.Get": service name, dot, method name
  std::string_view permission;  // from services/iam/roles.h; empty for the principal-type targets
  AuthzTarget target;
  std::string_view field;       // request field naming the resource; empty when the target needs none
};

const std::vector<AuthzRule>& AuthzRules();
// nullptr for a method without a rule.
const AuthzRule* FindAuthzRule(absl::string_view method);

}  // namespace dedicated::controlplane
