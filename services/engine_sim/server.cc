#include "services/engine_sim/server.h"

#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/error.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "services/common/log.h"
#include "services/engine_sim/string_view_compat.h"

namespace dedicated::engine_sim {
namespace {

namespace beast = boost::beast;
namespace net = boost::asio;
using tcp = net::ip::tcp;

// After an accept error such as EMFILE, wait before retrying instead of spinning.
constexpr auto kAcceptRetryDelay = std::chrono::milliseconds(50);

}  // namespace

EngineSimServer::EngineSimServer(Options options)
    : options_(std::move(options)),
      scheduler_(options_.max_concurrency, options_.inter_token, options_.slowdown),
      handlers_(options_, &scheduler_, &metrics_),
      ioc_(options_.threads),
      acceptor_(net::make_strand(ioc_)),
      accept_retry_timer_(acceptor_.get_executor()) {}

EngineSimServer::~EngineSimServer() { Stop(); }

absl::Status EngineSimServer::Start() {
  if (started_) return absl::FailedPreconditionError("engine-sim server already started");
  if (absl::Status s = ValidateOptions(options_); !s.ok()) return s;
  beast::error_code ec;
  tcp::resolver resolver(ioc_);
  auto endpoints = resolver.resolve(options_.host, absl::StrCat(options_.port),
                                    tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec || endpoints.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--host ", options_.host, ": cannot resolve: ", ec.message()));
  }
  tcp::endpoint endpoint = endpoints.begin()->endpoint();
  auto fail = [&](std::string_view what) {
    return absl::UnavailableError(absl::StrCat("engine-sim: ", ToAbsl(what), " ",
                                               endpoint.address().to_string(), ":", options_.port, ": ",
                                               ec.message()));
  };
  if (acceptor_.open(endpoint.protocol(), ec); ec) return fail("open");
  if (acceptor_.set_option(net::socket_base::reuse_address(true), ec); ec) return fail("setsockopt");
  if (acceptor_.bind(endpoint, ec); ec) return fail("bind");
  if (acceptor_.listen(net::socket_base::max_listen_connections, ec); ec) return fail("listen");
  port_ = acceptor_.local_endpoint().port();
  started_ = true;

  Accept();
  threads_.reserve(options_.threads);
  for (int i = 0; i < options_.threads; ++i) threads_.emplace_back([this] { ioc_.run(); });

  LogInfo("engine-sim listening (SIMULATED GPU engine: no model, synthetic text)",
          {{"host", options_.host},
           {"port", absl::StrCat(port_)},
           {"served_model_names", absl::StrJoin(options_.served_model_names, ",")},
           {"max_concurrency", absl::StrCat(options_.max_concurrency)},
           {"context_length", absl::StrCat(options_.context_length)},
           {"ttft", absl::FormatDuration(options_.ttft)},
           {"inter_token", absl::FormatDuration(options_.inter_token)},
           {"startup_delay", absl::FormatDuration(options_.startup_delay)}});
  return absl::OkStatus();
}

void EngineSimServer::Stop() {
  if (!started_ || stopped_.exchange(true)) return;
  // Accepting stops first (on the acceptor's strand), then sessions are asked to wind down.
  net::post(acceptor_.get_executor(), [this] {
    beast::error_code ignored;
    acceptor_.close(ignored);
    accept_retry_timer_.cancel();
  });
  registry_.ShutdownAll();
  if (!registry_.WaitUntilEmpty(absl::Now() + options_.shutdown_grace)) {
    LogWarning("engine-sim: shutdown grace period over, closing remaining connections",
               {{"grace", absl::FormatDuration(options_.shutdown_grace)}});
  }
  ioc_.stop();
  for (std::thread& t : threads_) t.join();
  threads_.clear();
  // No thread runs handlers any more: drop queued requests without granting them slots.
  scheduler_.Shutdown();
  LogInfo("engine-sim stopped", {{"port", absl::StrCat(port_)}});
}

void EngineSimServer::Accept() {
  acceptor_.async_accept(net::make_strand(ioc_), beast::bind_front_handler(&EngineSimServer::OnAccept, this));
}

void EngineSimServer::OnAccept(beast::error_code ec, tcp::socket socket) {
  if (!acceptor_.is_open() || ec == net::error::operation_aborted) return;
  if (ec) {
    LogWarning("engine-sim: accept failed", {{"error", ec.message()}});
    accept_retry_timer_.expires_after(kAcceptRetryDelay);
    accept_retry_timer_.async_wait([this](beast::error_code wait_ec) {
      if (!wait_ec && acceptor_.is_open()) Accept();
    });
    return;
  }
  // Token chunks are tiny: without TCP_NODELAY, Nagle's algorithm would hold them back.
  beast::error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  auto session = std::make_shared<Session>(
      std::move(socket), SessionContext{&options_, &handlers_, &scheduler_, &metrics_, &registry_});
  if (registry_.Add(session)) session->Start();
  Accept();
}

}  // namespace dedicated::engine_sim
