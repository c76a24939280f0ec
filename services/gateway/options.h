#pragma once
// The gateway's flags (each also an environment variable) and the limits and timeouts they set.

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/common/flags.h"

namespace dedicated::gateway {

extern const char kUsage[];

struct Options {
  std::string listen = "127.0.0.1:8080";
  std::string metrics_listen = "127.0.0.1:9465";  // empty: no metrics endpoint
  std::string controlplane = "127.0.0.1:50051";
  std::string gateway_key_file;
  int64_t threads = 0;  // 0: one per core
  // Client side: what a request may be, and how long a client may take (slow or stalled clients never
  // hold a replica slot: the body is read before admission, and a client that does not read its
  // answer for write_timeout is dropped, which frees the slot).
  int64_t max_body_bytes = 8 << 20;
  int64_t max_header_bytes = 16 << 10;
  absl::Duration idle_timeout = absl::Seconds(60);    // keep-alive connection with no request
  absl::Duration header_timeout = absl::Seconds(10);  // first byte of a request -> end of its header
  absl::Duration body_timeout = absl::Seconds(30);
  absl::Duration write_timeout = absl::Seconds(30);
  // Admission: a request that finds every replica at its concurrency limit waits this long, in a queue of
  // at most max_queue per instance, then gets 429 with Retry-After.
  absl::Duration queue_timeout = absl::Seconds(10);
  int64_t max_queue = 1024;
  // Engines.
  absl::Duration connect_timeout = absl::Seconds(2);
  absl::Duration engine_timeout = absl::Minutes(5);        // request sent -> response header
  absl::Duration stream_idle_timeout = absl::Seconds(60);  // between two pieces of a streamed answer
  absl::Duration shutdown_grace = absl::Seconds(10);
  std::string log_level = "info";
  bool access_log = true;  // one JSON line per HTTP request (access_log.h)
};

// Registers every flag on `flags` with `options` holding the defaults.
void RegisterFlags(FlagSet& flags, Options& options);
// Checks ranges; INVALID_ARGUMENT naming the flag.
absl::Status Validate(const Options& options);

// "host:port" -> {host, port}; INVALID_ARGUMENT when malformed.
absl::StatusOr<std::pair<std::string, int>> SplitHostPort(const std::string& address);

}  // namespace dedicated::gateway
