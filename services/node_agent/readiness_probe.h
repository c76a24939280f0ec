#pragma once
// A deliberately tiny blocking HTTP/1.0 client: GET one path, return the status code. Engines expose
// plain HTTP readiness endpoints (vLLM and engine-sim: GET /health -> 200 once loaded), and pulling in
// a full HTTP stack for one status line would not pay for itself.

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace dedicated::node_agent {

// The HTTP status code of GET http://host:port<path>. UNAVAILABLE if nothing listens or the answer is
// not HTTP; DEADLINE_EXCEEDED if connect + answer take longer than `timeout`.
absl::StatusOr<int> HttpGetStatus(const std::string& host, int port, const std::string& path, absl::Duration timeout);

// Where to probe an engine bound to `bind_host`: a wildcard address is not connectable, loopback is.
std::string ProbeHostFor(const std::string& bind_host);

}  // namespace dedicated::node_agent
