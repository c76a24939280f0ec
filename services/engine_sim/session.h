#pragma once
// One HTTP/1.1 connection: reads requests one at a time (keep-alive), answers simple ones at once, and
// times generations with asio timers on the connection's strand, so no thread ever sleeps and thousands
// of connections fit on a couple of threads.

#include <array>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"
#include "services/engine_sim/generation_scheduler.h"
#include "services/engine_sim/handlers.h"
#include "services/engine_sim/metrics.h"

namespace dedicated::engine_sim {

class Session;

// Live sessions, so that shutdown can ask each to finish its response and close.
class SessionRegistry {
 public:
  // False once shutdown has begun: the caller drops the connection.
  bool Add(const std::shared_ptr<Session>& session);
  void Remove(const Session* session);
  // Stops admitting sessions and asks every live one to close after its current response.
  void ShutdownAll();
  // True if every session has gone before the deadline.
  bool WaitUntilEmpty(absl::Time deadline);

 private:
  std::mutex mu_;
  std::condition_variable emptied_;
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  std::unordered_map<const Session*, std::weak_ptr<Session>> sessions_ ABSL_GUARDED_BY(mu_);
};

// What sessions share; owned by the server, which outlives every session.
struct SessionContext {
  const Options* options;
  const Handlers* handlers;
  GenerationScheduler* scheduler;
  Metrics* metrics;
  SessionRegistry* registry;
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  // The socket's executor must be a strand: every member below is touched only on it.
  Session(boost::asio::ip::tcp::socket socket, const SessionContext& context);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void Start();
  // Thread-safe. An idle connection closes now, a busy one after its current response.
  void BeginShutdown();

 private:
  enum class GenerationState { kIdle, kQueued, kRunning };

  void ReadRequest();
  void OnRead(boost::beast::error_code ec, size_t bytes);
  void OnShutdown();

  // Simple replies.
  void SendReply(const HttpReply& reply);

  // Generation: queue for a slot, then one timer tick per token.
  void StartGeneration(GenerationRequest request);
  void OnSlotGranted(SlotLease lease);
  void OnTokenDue(boost::beast::error_code ec);
  void FinishGeneration();
  void AbortGeneration();

  // Streaming (server-sent events in a chunked body, or until close for HTTP/1.0).
  void WriteStreamHeader();
  void WriteStreamData(std::string_view data);

  // Ordered writes: at most one async_write in flight, carrying everything queued so far.
  void Write(std::string bytes);
  void WriteNext();
  void OnWrite(boost::beast::error_code ec, size_t bytes);
  void OnResponseWritten();

  // A read kept pending while a generation runs, so a client that hangs up is noticed at once (and
  // before closing, to drain what the client still sends). Bytes of a pipelined next request are kept.
  void WatchSocket();
  void OnWatchRead(boost::beast::error_code ec, size_t bytes);
  void LingerAndClose();
  void Close();

  const SessionContext ctx_;
  boost::beast::tcp_stream stream_;
  boost::beast::flat_buffer buffer_;
  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
  boost::asio::steady_timer timer_;

  // Request being answered.
  std::string_view endpoint_ = "other";
  unsigned http_version_ = 11;
  bool keep_alive_ = true;
  bool chunked_ = false;

  // Connection state.
  bool reading_ = false;
  bool closed_ = false;
  bool shutting_down_ = false;
  bool lingering_ = false;
  bool watching_ = false;
  bool read_after_watch_ = false;
  std::array<char, 4096> watch_buffer_;

  // Writes.
  std::deque<std::string> write_queue_;
  std::vector<boost::asio::const_buffer> write_buffers_;  // Views of the first writes_in_flight_ entries.
  size_t writes_in_flight_ = 0;
  bool writing_ = false;
  bool response_complete_ = false;  // Every byte of the response is queued.

  // Generation.
  GenerationState state_ = GenerationState::kIdle;
  GenerationRequest generation_;
  uint64_t ticket_ = 0;
  SlotLease lease_;
  int64_t tokens_generated_ = 0;
  std::chrono::steady_clock::time_point next_token_at_;
};

}  // namespace dedicated::engine_sim
