#pragma once

#include <string>
#include <string_view>

namespace dedicated {

// A new resource id: a 3-letter prefix and 17 random base32 characters (20 in all, like Yandex Cloud
// ids), e.g. "dinq3v0k8r2m1x7c5b4a". 85 random bits: collisions are not a practical concern, and the
// primary keys catch one anyway.
std::string NewId(std::string_view prefix);

// An id in NewId's format for things that are neither secrets nor resources (request ids on hot paths):
// the bits come from a per-thread generator seeded once from the OS, not from RAND_bytes, which takes a
// lock and calls getpid() on every call (5% of the gateway's CPU per request when it made request ids).
// Unique enough to find a log line; do not use it where guessing the next id would matter.
std::string NewNonSecretId(std::string_view prefix);

// A random UUID v4 in canonical form (idempotency keys, request ids).
std::string NewUuid();

// Lowercase hex of SHA-256(data).
std::string Sha256Hex(std::string_view data);

}  // namespace dedicated
