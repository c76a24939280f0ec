#pragma once
// API key secrets (issue 3 groundwork): generated with 256 random bits, shown to the user once, stored
// only as a SHA-256 hash and compared in constant time. A fast hash is enough here because the secret
// itself has full entropy (unlike a password): there is nothing to brute-force.

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace dedicated::iam {

// The prefix makes leaked keys recognisable by secret scanners and in support tickets.
inline constexpr char kApiKeyPrefix[] = "dik_";

// A new secret: "dik_" + 43 characters of base64url (32 random bytes).
std::string NewApiKeySecret();

// The value stored in the database: lowercase hex SHA-256 of the secret.
std::string HashApiKeySecret(absl::string_view secret);

// Compares two hashes (or any two strings) in time independent of where they differ.
bool ConstantTimeEquals(absl::string_view a, absl::string_view b);

// The secret from an `authorization` value: "Api-Key <secret>" or "Bearer <secret>" (scheme
// case-insensitive). UNAUTHENTICATED with a message that never echoes the value.
absl::StatusOr<std::string> SecretFromAuthorization(absl::string_view header);

}  // namespace dedicated::iam
