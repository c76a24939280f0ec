#pragma once
// EngineSimServer: the whole simulator in one object, so tests run it in-process on port 0 and main()
// only parses flags and waits for a signal.

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <memory>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "services/engine_sim/generation_scheduler.h"
#include "services/engine_sim/handlers.h"
#include "services/engine_sim/metrics.h"
#include "services/engine_sim/options.h"
#include "services/engine_sim/session.h"

namespace dedicated::engine_sim {

class EngineSimServer {
 public:
  explicit EngineSimServer(Options options);
  ~EngineSimServer();  // Stops if still running.
  EngineSimServer(const EngineSimServer&) = delete;
  EngineSimServer& operator=(const EngineSimServer&) = delete;

  // Binds, starts the I/O threads and logs {"msg":"engine-sim listening","host":...,"port":...}.
  // The startup delay counts from construction.
  absl::Status Start();
  // Stops accepting, lets in-flight responses finish for up to options.shutdown_grace, then closes
  // everything and joins the threads. Idempotent.
  void Stop();

  // The bound port (the real one when options.port is 0); valid after Start().
  int port() const { return port_; }
  const std::string& host() const { return options_.host; }
  const Metrics& metrics() const { return metrics_; }
  const GenerationScheduler& scheduler() const { return scheduler_; }

 private:
  void Accept();
  void OnAccept(boost::beast::error_code ec, boost::asio::ip::tcp::socket socket);

  // Declaration order is destruction order in reverse: everything sessions touch (scheduler, metrics,
  // registry) is declared before the io_context, whose destruction may destroy the last sessions.
  const Options options_;
  GenerationScheduler scheduler_;
  Metrics metrics_;
  SessionRegistry registry_;
  const Handlers handlers_;
  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer accept_retry_timer_;
  std::vector<std::thread> threads_;
  int port_ = 0;
  bool started_ = false;
  std::atomic<bool> stopped_{false};
};

}  // namespace dedicated::engine_sim
