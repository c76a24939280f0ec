#pragma once
// The gateway's access log: one structured line per HTTP request, written once when the request is over
// (its answer written, or its client gone), e.g.
//   {"ts":"...","level":"info","component":"gateway","msg":"http","request_id":"req...","method":"POST",
//    "path":"/v1/chat/completions","status":"200","duration_ms":"41.203","stream":"false","bytes_out":"612",
//    "account_id":"aje...","instance_id":"din...","replica_id":"drp...","endpoint":"10.0.0.7:8000",
//    "attempts":"1"}
// Field names follow the controlplane's API log (call_log.h). The caller is named by account id only:
// never the Authorization header, never the key or its id, never a body. --access-log=false turns it off.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "services/common/log.h"

namespace dedicated::gateway {

// What the line says about one request. Filled as the request goes: the request id, method and path once
// its header is read, the account after authentication, the instance once the model is resolved, the
// replica per try, the status and bytes by whatever writes (or gives up on) the answer.
struct AccessRecord {
  std::chrono::steady_clock::time_point start;
  std::string request_id;
  std::string method;
  std::string path;        // without the query string
  int status = 0;          // 499: the client hung up before its answer started (as counted in the
                           // metrics); 0: dropped unanswered (shutdown, exception)
  int64_t bytes_out = -1;  // body bytes sent; -1: unknown
  bool stream = false;
  std::string account_id;
  std::string instance_id;
  std::string replica_id;  // the replica of the last try
  std::string endpoint;
  int attempts = 0;   // replicas tried (failover); 0: none was
  std::string error;  // why an answer broke off, when it did
};

// debug for successful health checks (probes would bury the API calls; --log-level debug shows them),
// info for everything else.
LogLevel AccessLogLevel(const AccessRecord& record);

// The line's fields; empty or unknown ones are left out.
std::vector<LogField> AccessLogFields(const AccessRecord& record, std::chrono::steady_clock::duration elapsed);

// Writes the line (elapsed: from record.start to now).
void LogAccess(const AccessRecord& record);

}  // namespace dedicated::gateway
