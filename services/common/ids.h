#pragma once

#include <string>
#include <string_view>

namespace dedicated {

// A new resource id: a 3-letter prefix and 17 random base32 characters (20 in all, like Yandex Cloud
// ids), e.g. "dinq3v0k8r2m1x7c5b4a". 85 random bits: collisions are not a practical concern, and the
// primary keys catch one anyway.
std::string NewId(std::string_view prefix);

// A random UUID v4 in canonical form (idempotency keys, request ids).
std::string NewUuid();

// Lowercase hex of SHA-256(data).
std::string Sha256Hex(std::string_view data);

}  // namespace dedicated
