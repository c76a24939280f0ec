#include <utility>  // Boost 1.74's awaitable.hpp uses std::exchange without including it.

#include "services/gateway/server.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <algorithm>
#include <array>
#include <chrono>
#include <limits>
#include <nlohmann/json.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "services/common/ids.h"
#include "services/common/log.h"
#include "services/gateway/access_log.h"
#include "services/gateway/auth_cache.h"
#include "services/gateway/client_watch.h"
#include "services/gateway/completion_fields.h"
#include "services/gateway/model_ref.h"
#include "services/gateway/openai_error.h"
#include "services/iam/roles.h"

namespace dedicated::gateway {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
template <typename T>
using Task = net::awaitable<T>;

auto Tok(beast::error_code& ec) { return net::redirect_error(net::use_awaitable, ec); }

std::chrono::steady_clock::duration Chrono(absl::Duration d) { return absl::ToChronoNanoseconds(d); }

std::string_view Sv(beast::string_view s) { return {s.data(), s.size()}; }
// Debian's Abseil has its own string_view (what StrCat takes), Beast 1.74 boost::string_view.
absl::string_view A(std::string_view s) { return {s.data(), s.size()}; }
absl::string_view A(beast::string_view s) { return {s.data(), s.size()}; }

double Seconds(std::chrono::steady_clock::duration d) { return std::chrono::duration<double>(d).count(); }

// Idle upstream connections per engine endpoint, reused across requests (keep-alive to engines saves a
// connect per request). Each event loop has its own pool: an I/O object stays on the loop it was made on.
struct Upstream {
  explicit Upstream(net::any_io_executor ex) : stream(std::move(ex)) { buffer.reserve(kReadSize); }
  // Beast reads max(512, free capacity) bytes at a time, and a buffer that starts empty keeps the 512 bytes
  // of its first read: an answer of 532 bytes took two recv calls. With room for a whole non-streamed
  // answer (or a stream's burst of events) the header and the body come in one.
  static constexpr size_t kReadSize = 16 * 1024;
  beast::tcp_stream stream;
  beast::flat_buffer buffer;
};

class UpstreamPool {
 public:
  std::unique_ptr<Upstream> Take(const std::string& endpoint) {
    absl::MutexLock lock(&mu_);
    auto it = idle_.find(endpoint);
    if (it == idle_.end() || it->second.empty()) return nullptr;
    std::unique_ptr<Upstream> u = std::move(it->second.back());
    it->second.pop_back();
    return u;
  }
  void Put(const std::string& endpoint, std::unique_ptr<Upstream> u) {
    absl::MutexLock lock(&mu_);
    auto& v = idle_[endpoint];
    if (v.size() < kMaxIdlePerEndpoint) v.push_back(std::move(u));
  }

 private:
  static constexpr size_t kMaxIdlePerEndpoint = 512;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::vector<std::unique_ptr<Upstream>>> idle_ ABSL_GUARDED_BY(mu_);
};

// One event loop per I/O thread, as nginx has one per worker: a client connection stays on one loop from
// accept to close, and so do its engine connections, so a request never changes threads (no strand, no
// cross-thread wake-up per I/O completion; with one shared io_context and strands, every completion could
// resume on the other thread).
struct Loop {
  net::io_context ioc{1};
  // Keeps run() from returning while the loop has nothing to do yet (Stop() stops the loop).
  net::executor_work_guard<net::io_context::executor_type> keep_running{ioc.get_executor()};
  UpstreamPool pool;
  AuthCache auth;  // this loop's answers from the current IAM snapshot
};

// The loop the calling thread runs; set once by each I/O thread.
thread_local Loop* tls_loop = nullptr;

// What one try on one replica came to.
enum class Outcome {
  kDone,           // answered (any status the engine chose below 500), connection reusable or not
  kRetry,          // failed before the first byte reached the client: try another replica
  kTimeout,        // engine too slow before the first byte: 504
  kClientBroken,   // failed after bytes were sent, or the client went away: close the connection
};

struct TryResult {
  Outcome outcome = Outcome::kDone;
  int status = 0;
  std::string error;
  int64_t bytes_out = 0;  // body bytes that reached the client
};

// nginx's status for a request whose client closed the connection before the answer: counted, never sent.
constexpr int kClientClosedRequest = 499;

int64_t FindCompletionTokens(std::string_view body) {
  constexpr std::string_view kKey = "\"completion_tokens\":";
  size_t at = body.rfind(kKey);
  if (at == std::string_view::npos) return -1;
  size_t i = at + kKey.size();
  while (i < body.size() && body[i] == ' ') ++i;
  int64_t n = 0;
  size_t start = i;
  while (i < body.size() && body[i] >= '0' && body[i] <= '9') n = n * 10 + (body[i++] - '0');
  return i == start ? -1 : n;
}

std::string PercentDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    int hi, lo;
    auto hex = [](char c) { return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1; };
    if (s[i] == '%' && i + 2 < s.size() && (hi = hex(s[i + 1])) >= 0 && (lo = hex(s[i + 2])) >= 0) {
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

size_t CountEvents(std::string_view piece) {
  size_t n = 0;
  for (size_t at = piece.find("data: {"); at != std::string_view::npos; at = piece.find("data: {", at + 1)) ++n;
  return n;
}

// Synchronous fast paths. Every asynchronous operation that could complete at once (a parse of bytes
// already in the buffer, a send into a socket buffer with room) still completes through the loop's
// queue, and Asio's loop polls epoll (epoll_wait with a zero timeout, a syscall) each time it goes
// round its queue: that was 9 epoll_wait and 2 timerfd_settime calls per proxied request (perf stat,
// docs/benchmarks.md, issue 6), against nginx's 1.8 epoll_wait. So the common cases are done in place
// and the asynchronous operation (with its timeout) is only the fallback.

// Parses what `buffer` already holds into `parser` without I/O. True when `done()` (or on a parse
// error, left in `ec`); false when more bytes are needed, which the caller then reads asynchronously
// with the same parser.
template <class Parser, class Done>
bool ParseBuffered(beast::flat_buffer& buffer, Parser& parser, Done done, beast::error_code& ec) {
  ec = {};
  while (!done()) {
    if (buffer.size() == 0) return false;
    size_t n = parser.put(buffer.data(), ec);
    buffer.consume(n);
    if (ec == http::error::need_more) {
      ec = {};
      return false;
    }
    if (ec) return true;
    if (n == 0) return false;
  }
  return true;
}

// Writes `buffers` to the socket of `stream` at once if the socket takes them all (it is in non-blocking
// mode, set when the connection is made), else the rest asynchronously with `timeout`.
template <class Buffers>
Task<void> WriteAll(beast::tcp_stream& stream, const Buffers& buffers, absl::Duration timeout, beast::error_code& ec) {
  const size_t total = net::buffer_size(buffers);
  size_t n = stream.socket().send(buffers, 0, ec);
  if (!ec && n == total) co_return;
  if (ec && ec != net::error::would_block && ec != net::error::try_again) co_return;
  ec = {};
  beast::buffers_suffix<Buffers> rest(buffers);
  rest.consume(n);
  stream.expires_after(Chrono(timeout));
  co_await net::async_write(stream, rest, Tok(ec));
}

}  // namespace

class GatewayServer::Impl {
 public:
  Impl(GatewayServer* owner, const Options& options, Metrics* metrics)
      : owner_(owner),
        options_(options),
        metrics_(metrics),
        loops_(MakeLoops(options.threads > 0 ? static_cast<size_t>(options.threads)
                                             : std::max(1u, std::thread::hardware_concurrency()))),
        acceptor_(loops_[0]->ioc) {}

  absl::Status Start(int* port) {
    auto hp = SplitHostPort(options_.listen);
    if (!hp.ok()) return hp.status();
    beast::error_code ec;
    tcp::resolver resolver(loops_[0]->ioc);
    auto endpoints = resolver.resolve(hp->first, absl::StrCat(hp->second),
                                      tcp::resolver::passive | tcp::resolver::numeric_service, ec);
    if (ec || endpoints.empty()) return absl::InvalidArgumentError(absl::StrCat("--listen: cannot resolve ", hp->first));
    tcp::endpoint endpoint = endpoints.begin()->endpoint();
    auto fail = [&](const char* what) {
      return absl::UnavailableError(absl::StrCat("gateway: ", what, " ", options_.listen, ": ", ec.message()));
    };
    if (acceptor_.open(endpoint.protocol(), ec); ec) return fail("open");
    if (acceptor_.set_option(net::socket_base::reuse_address(true), ec); ec) return fail("setsockopt");
    if (acceptor_.bind(endpoint, ec); ec) return fail("bind");
    if (acceptor_.listen(net::socket_base::max_listen_connections, ec); ec) return fail("listen");
    *port = acceptor_.local_endpoint().port();
    net::co_spawn(acceptor_.get_executor(), Accept(), net::detached);
    for (auto& loop : loops_) {
      threads_.emplace_back([loop = loop.get()] {
        tls_loop = loop;
        loop->ioc.run();
      });
    }
    return absl::OkStatus();
  }

  void Stop() {
    if (stopping_.exchange(true)) return;
    net::post(acceptor_.get_executor(), [this] {
      beast::error_code ignored;
      acceptor_.close(ignored);
    });
    absl::Time deadline = absl::Now() + options_.shutdown_grace;
    while (active_requests_.load() > 0 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(20));
    if (active_requests_.load() > 0) {
      LogWarning("gateway: shutdown grace over, dropping requests in flight",
                 {{"requests", absl::StrCat(active_requests_.load())}});
    }
    for (auto& loop : loops_) loop->ioc.stop();
    for (std::thread& t : threads_) t.join();
    threads_.clear();
  }

 private:
  static std::vector<std::unique_ptr<Loop>> MakeLoops(size_t n) {
    std::vector<std::unique_ptr<Loop>> loops;
    for (size_t i = 0; i < n; ++i) loops.push_back(std::make_unique<Loop>());
    return loops;
  }

  // Connections go to the loops in turn.
  Task<void> Accept() {
    size_t next = 0;
    while (true) {
      beast::error_code ec;
      net::io_context& loop = loops_[next++ % loops_.size()]->ioc;
      tcp::socket socket = co_await acceptor_.async_accept(loop, Tok(ec));
      if (stopping_.load() || !acceptor_.is_open()) co_return;
      if (ec) {
        // EMFILE and the like: wait instead of spinning.
        LogWarning("gateway: accept failed", {{"error", ec.message()}});
        net::steady_timer t(acceptor_.get_executor(), std::chrono::milliseconds(50));
        co_await t.async_wait(Tok(ec));
        continue;
      }
      socket.set_option(tcp::no_delay(true), ec);
      socket.non_blocking(true, ec);  // for WriteAll's send in place
      auto ex = socket.get_executor();
      // An exception escaping a connection (a bug, bad_alloc) ends that connection, never the process.
      net::co_spawn(ex, Serve(std::move(socket)), [](std::exception_ptr e) {
        if (e == nullptr) return;
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          LogError("gateway: connection ended by an exception", {{"error", ex.what()}});
        } catch (...) {
          LogError("gateway: connection ended by an unknown exception");
        }
      });
    }
  }

  // One client connection: requests one after another (keep-alive).
  Task<void> Serve(tcp::socket socket) {
    metrics_->open_connections().Increment();
    struct Closer {
      Metrics* m;
      ~Closer() { m->open_connections().Decrement(); }
    } closer{metrics_};
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer;
    // Declared after `buffer`, so destroyed before it (a read an exception left pending is cancelled then).
    ClientWatch watch(stream.socket(), buffer);
    beast::error_code ec;
    while (!stopping_.load() && !watch.gone()) {
      // Idle: wait for the first byte of the next request. After a proxied request the hang-up watch's
      // read is still pending and is that wait (one read per request instead of three syscalls).
      if (buffer.size() == 0) {
        if (watch.reading()) {
          if (!co_await watch.Wait(Chrono(options_.idle_timeout)) || watch.gone()) break;
        } else {
          stream.expires_after(Chrono(options_.idle_timeout));
          size_t n = co_await stream.async_read_some(buffer.prepare(4096), Tok(ec));
          if (ec) break;
          buffer.commit(n);
        }
      } else if (watch.reading()) {
        // Bytes of a pipelined request were in the buffer when the watch started: the parser reads the
        // rest from the socket, so the watch's read must end first.
        co_await watch.Stop();
      }
      auto arrived = std::chrono::steady_clock::now();
      http::request_parser<http::empty_body> head;
      head.header_limit(static_cast<uint32_t>(options_.max_header_bytes));
      // Beast checks Content-Length against the body limit while reading the header; the size check below
      // answers 413 with the limit in the message instead.
      head.body_limit(std::numeric_limits<uint64_t>::max());
      if (!ParseBuffered(buffer, head, [&] { return head.is_header_done(); }, ec)) {
        stream.expires_after(Chrono(options_.header_timeout));
        co_await http::async_read_header(stream, buffer, head, Tok(ec));
      }
      // A header that never came complete is no request: nobody is answered, nothing is logged.
      if (ec == beast::error::timeout || ec == http::error::end_of_stream || ec == net::error::eof ||
          ec == net::error::connection_reset) {
        break;
      }
      // From here on the request gets exactly one access-log line, written when this iteration ends
      // (whichever way it ends): the status is whatever the last writer of the answer recorded.
      AccessRecord record;
      record.start = arrived;
      record.method = std::string(Sv(head.get().method_string()));
      std::string_view target = Sv(head.get().target());
      record.path = std::string(target.substr(0, target.find('?')));  // a query string may carry anything
      struct LogAtEnd {
        const AccessRecord& record;
        bool enabled;
        ~LogAtEnd() {
          if (enabled) LogAccess(record);
        }
      } log_at_end{record, options_.access_log};
      // The header's X-Request-Id is not trusted from a header that failed to parse: a new id, so that
      // these answers carry one too and the line can be found from it.
      if (ec) record.request_id = NewNonSecretId("req");
      // Errors are named locals, never temporaries inside a co_await expression: GCC 12 destroys some of
      // those twice (brace-initialised ones crashed the gateway with "free(): invalid pointer").
      if (ec == http::error::header_limit) {
        const HttpError too_large{431, "The request header block is too large.", "", "headers_too_large"};
        co_await WriteError(stream, too_large, false, record, nullptr);
        break;
      }
      if (ec) {
        const HttpError malformed = BadRequest(absl::StrCat("Malformed HTTP request: ", ec.message()), "bad_http");
        co_await WriteError(stream, malformed, false, record, nullptr);
        break;
      }
      active_requests_.fetch_add(1);
      struct Active {
        std::atomic<int>* n;
        ~Active() { n->fetch_sub(1); }
      } active{&active_requests_};

      record.request_id = std::string(Sv(head.get()["x-request-id"]));
      if (record.request_id.empty() || record.request_id.size() > 128) record.request_id = NewNonSecretId("req");
      auto length = head.content_length();
      if (length.has_value() && *length > static_cast<uint64_t>(options_.max_body_bytes)) {
        const HttpError too_large = BodyTooLarge(options_.max_body_bytes);
        co_await WriteError(stream, too_large, false, record, nullptr);
        break;
      }
      if (beast::iequals(head.get()[http::field::expect], "100-continue") && !head.is_done()) {
        static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
        stream.expires_after(Chrono(options_.write_timeout));
        co_await net::async_write(stream, net::buffer(kContinue.data(), kContinue.size()), Tok(ec));
        if (ec) {
          record.status = kClientClosedRequest;
          break;
        }
      }
      http::request_parser<http::string_body> parser(std::move(head));
      parser.body_limit(static_cast<uint64_t>(options_.max_body_bytes));
      if (!ParseBuffered(buffer, parser, [&] { return parser.is_done(); }, ec)) {
        stream.expires_after(Chrono(options_.body_timeout));
        co_await http::async_read(stream, buffer, parser, Tok(ec));
      }
      if (ec == http::error::body_limit) {
        const HttpError too_large = BodyTooLarge(options_.max_body_bytes);
        co_await WriteError(stream, too_large, false, record, nullptr);
        break;
      }
      if (ec) {
        // The body never came: 408 when the client was too slow (nothing is sent), 499 when it left.
        record.status = ec == beast::error::timeout ? 408 : kClientClosedRequest;
        record.error = ec.message();
        break;
      }
      http::request<http::string_body> req = parser.release();
      bool keep_alive = req.keep_alive();
      bool ok = co_await Handle(stream, watch, req, keep_alive && !stopping_.load(), record);
      if (!ok || !keep_alive || stopping_.load()) break;
    }
    co_await watch.Stop();
    stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream.close();
  }

  // Returns false when the connection must be closed.
  // `watch` is the connection's hang-up watch (reading into the connection's buffer: bytes of a pipelined
  // next request that arrive while this one is proxied are kept there).
  Task<bool> Handle(beast::tcp_stream& stream, ClientWatch& watch, http::request<http::string_body>& req,
                    bool keep_alive, AccessRecord& record) {
    std::string_view target = Sv(req.target());
    std::string_view path = target.substr(0, target.find('?'));
    const bool is_get = req.method() == http::verb::get;
    const bool is_post = req.method() == http::verb::post;
    if (path == "/health" || path == "/healthz") {
      if (!is_get) co_return co_await MethodNotAllowed(stream, "GET", keep_alive, record);
      co_return co_await WriteJson(stream, http::status::ok, R"({"status":"ok"})", keep_alive, record);
    }
    const bool models = path == "/v1/models" || path.substr(0, 11) == "/v1/models/";
    const bool completion = path == "/v1/chat/completions" || path == "/v1/completions";
    if (!models && !completion) {
      const HttpError unknown{404, absl::StrCat("Unknown request URL: ", A(req.method_string()), " ", A(path), "."), "",
                              "unknown_url"};
      co_return co_await WriteError(stream, unknown, keep_alive, record, metrics_->ForInstance(""));
    }
    if (models && !is_get) co_return co_await MethodNotAllowed(stream, "GET", keep_alive, record);
    if (completion && !is_post) co_return co_await MethodNotAllowed(stream, "POST", keep_alive, record);

    std::shared_ptr<const iam::IamSnapshot> iam = owner_->access_snapshot();
    if (iam == nullptr) {
      co_return co_await WriteError(stream, NotReady("no access snapshot from the controlplane yet"), keep_alive,
                                    record, metrics_->ForInstance(""));
    }
    std::string_view authorization = Sv(req[http::field::authorization]);
    if (authorization.empty()) {
      co_return co_await WriteError(stream, MissingApiKey(), keep_alive, record, metrics_->ForInstance(""));
    }
    AuthCache& auth = tls_loop->auth;
    std::shared_ptr<const iam::Principal> principal = auth.Authenticate(iam, A(authorization), absl::Now());
    if (principal == nullptr) {
      co_return co_await WriteError(stream, InvalidApiKey(), keep_alive, record, metrics_->ForInstance(""));
    }
    record.account_id = principal->subject_id;
    std::shared_ptr<const RouteSnapshot> routes = owner_->router().Current();
    if (routes == nullptr) {
      co_return co_await WriteError(stream, NotReady("no routing table from the controlplane yet"), keep_alive,
                                    record, metrics_->ForInstance(""));
    }
    if (models) {
      if (path == "/v1/models") co_return co_await ListModels(stream, auth, *principal, *routes, keep_alive, record);
      std::string model = PercentDecode(path.substr(11));  // SDKs may encode the model_uri's "://" and "/"
      auto state = Resolve(auth, *principal, *routes, model);
      if (!state.ok()) co_return co_await WriteError(stream, state.error, keep_alive, record, metrics_->ForInstance(""));
      record.instance_id = state.state->route.instance_id();
      co_return co_await WriteJson(stream, http::status::ok, ModelJson(state.state->route).dump(), keep_alive,
                                   record);
    }

    // The body: only `model` and `stream` matter here; the engine validates the rest.
    CompletionFields fields = ScanCompletionFields(req.body());
    switch (fields.problem) {
      case CompletionFields::Problem::kNone:
        break;
      case CompletionFields::Problem::kNotAJsonObject:
        co_return co_await WriteError(
            stream, BadRequest("We could not parse the JSON body of your request: it must be a JSON object.", "invalid_json"),
            keep_alive, record, metrics_->ForInstance(""));
      case CompletionFields::Problem::kNoModel:
        co_return co_await WriteError(
            stream, BadRequest("You must provide a model parameter (the instance's model_uri or id).", "missing_model"),
            keep_alive, record, metrics_->ForInstance(""));
      case CompletionFields::Problem::kStreamNotBoolean:
        co_return co_await WriteError(stream, BadRequest("`stream` must be a boolean.", "invalid_stream"), keep_alive,
                                      record, metrics_->ForInstance(""));
    }
    const bool streaming = fields.stream;
    record.stream = streaming;
    const std::string& model = fields.model;
    auto resolved = Resolve(auth, *principal, *routes, model);
    if (!resolved.ok()) {
      co_return co_await WriteError(stream, resolved.error, keep_alive, record, metrics_->ForInstance(""));
    }
    const InstanceState& instance = *resolved.state;
    record.instance_id = instance.route.instance_id();
    InstanceMetrics* im = metrics_->ForInstance(instance.route.instance_id());
    if (instance.route.status() != v1::Instance::ACTIVE) {
      co_return co_await WriteError(stream, NotActive(instance.route), keep_alive, record, im);
    }
    co_return co_await Proxy(stream, watch, req, instance, im, streaming, keep_alive, record);
  }

  struct Resolution {
    std::shared_ptr<const InstanceState> state;
    HttpError error;
    bool ok() const { return state != nullptr; }
  };

  // model field -> instance the principal may call. With a model_uri the folder is in the name, so a key
  // without the role there gets 403 whether or not the instance exists; with a bare id an instance the key
  // may not call is indistinguishable from an unknown one (404): neither form reveals an instance to a
  // caller who may not use it.
  static Resolution Resolve(AuthCache& auth, const iam::Principal& principal, const RouteSnapshot& routes,
                            const std::string& model) {
    std::optional<ModelRef> ref = ParseModelRef(model);
    if (!ref.has_value()) return {nullptr, ModelNotFound(model)};
    if (ref->folder_id.has_value() && !auth.MayCall(principal, *ref->folder_id)) {
      return {nullptr, PermissionDenied(model)};
    }
    std::shared_ptr<const InstanceState> state = routes.Find(ref->instance_id);
    if (state == nullptr || (ref->folder_id.has_value() && state->route.folder_id() != *ref->folder_id) ||
        !auth.MayCall(principal, state->route.folder_id())) {
      return {nullptr, ModelNotFound(model)};
    }
    return {state, {}};
  }

  static HttpError NotActive(const v1::InstanceRoute& route) {
    std::string status = v1::Instance::Status_Name(route.status());
    std::string detail = route.status_message().empty() ? "" : absl::StrCat(" (", route.status_message(), ")");
    switch (route.status()) {
      case v1::Instance::STOPPED:
      case v1::Instance::ERROR:
        return {409,
                absl::StrCat("Instance ", route.instance_id(), " is ", status, detail,
                             ". Start it with `dictl instance start ", route.instance_id(),
                             "` (InstanceService.Start) and call again when it is ACTIVE."),
                "", "instance_not_active"};
      default:
        return {503,
                absl::StrCat("Instance ", route.instance_id(), " is ", status, detail,
                             "; it answers once it is ACTIVE (check with `dictl instance get ", route.instance_id(),
                             "`)."),
                "", "instance_not_active", 5};
    }
  }

  static nlohmann::ordered_json ModelJson(const v1::InstanceRoute& r) {
    nlohmann::ordered_json m;
    m["id"] = r.model_uri();
    m["object"] = "model";
    m["created"] = r.created_at_seconds();
    m["owned_by"] = r.folder_id();
    m["instance_id"] = r.instance_id();
    m["model_id"] = r.model_id();
    m["configuration"] = r.configuration();
    m["status"] = v1::Instance::Status_Name(r.status());
    return m;
  }

  Task<bool> ListModels(beast::tcp_stream& stream, AuthCache& auth, const iam::Principal& principal,
                        const RouteSnapshot& routes, bool keep_alive, AccessRecord& record) {
    std::vector<const v1::InstanceRoute*> visible;
    for (const auto& [id, state] : routes.instances) {
      if (auth.MayCall(principal, state->route.folder_id())) visible.push_back(&state->route);
    }
    std::sort(visible.begin(), visible.end(), [](auto* a, auto* b) { return a->model_uri() < b->model_uri(); });
    nlohmann::ordered_json out;
    out["object"] = "list";
    out["data"] = nlohmann::ordered_json::array();
    for (const auto* r : visible) out["data"].push_back(ModelJson(*r));
    co_return co_await WriteJson(stream, http::status::ok, out.dump(), keep_alive, record);
  }

  // A slot on a replica of `instance` not in `tried`: at once, or after waiting in the queue. nullptr with
  // `error` set when there is none (429 after the queue timeout, 503 when no replica is left).
  // A client that hangs up while queued leaves the queue at once (`watch` ends the wait; nullptr returned).
  Task<std::shared_ptr<Replica>> AcquireSlot(const InstanceState& instance, InstanceMetrics* im,
                                              const std::vector<std::string>& tried, ClientWatch& watch,
                                              HttpError* error) {
    Admission& admission = *instance.admission;
    auto ex = co_await net::this_coro::executor;
    struct Wait {
      explicit Wait(net::any_io_executor e) : timer(e) {}
      net::steady_timer timer;
      bool granted = false;
      std::shared_ptr<Replica> replica;
    };
    auto wait = std::make_shared<Wait>(ex);
    Grant grant = [wait, ex](std::shared_ptr<Replica> r) {
      net::post(ex, [wait, r = std::move(r)]() mutable {
        wait->granted = true;
        wait->replica = std::move(r);
        wait->timer.cancel();
      });
    };
    Admission::Result result = admission.Acquire(tried, absl::Now(), grant);
    const int retry_after = std::max<int>(1, static_cast<int>(absl::ToInt64Seconds(options_.queue_timeout)));
    const std::string& id = instance.route.instance_id();
    switch (result.outcome) {
      case Admission::Outcome::kGranted:
        co_return result.replica;
      case Admission::Outcome::kQueueFull:
        *error = QueueFull(id, retry_after);
        co_return nullptr;
      case Admission::Outcome::kNoReplica:
        *error = tried.empty() ? NoReplicaAvailable(id, "it has no ready replica right now") : HttpError{};
        co_return nullptr;
      case Admission::Outcome::kQueued:
        break;
    }
    im->queued->Set(static_cast<double>(admission.queued()));
    beast::error_code ec;
    wait->timer.expires_after(Chrono(options_.queue_timeout));
    watch.OnCancel([wait] { wait->timer.cancel(); });
    if (!watch.gone()) co_await wait->timer.async_wait(Tok(ec));
    watch.OnCancel(nullptr);
    if (!wait->granted && admission.CancelWait(result.ticket)) {
      im->queued->Set(static_cast<double>(admission.queued()));
      // The caller sees watch.gone() and answers nobody.
      if (!watch.gone()) *error = QueueTimeout(id, retry_after);
      co_return nullptr;
    }
    // Granted, or a grant is already on its way to this loop.
    while (!wait->granted) {
      wait->timer.expires_after(std::chrono::seconds(60));
      co_await wait->timer.async_wait(Tok(ec));
    }
    im->queued->Set(static_cast<double>(admission.queued()));
    if (wait->replica == nullptr) {
      *error = tried.empty() ? NoReplicaAvailable(id, "it has no ready replica right now") : HttpError{};
    }
    co_return wait->replica;
  }

  // The client is watched while its request waits for a slot and for the engine: if it hangs up, the
  // request leaves the queue or gives its slot back and the engine's generation is cancelled at once.
  // On a connection that stays open the watch's read is left pending: it is the wait for the next request.
  Task<bool> Proxy(beast::tcp_stream& stream, ClientWatch& watch, http::request<http::string_body>& req,
                   const InstanceState& instance, InstanceMetrics* im, bool streaming, bool keep_alive,
                   AccessRecord& record) {
    watch.Start();
    bool keep = co_await ProxyTries(stream, watch, req, instance, im, streaming, keep_alive, record);
    watch.OnCancel(nullptr);
    if (!keep) co_await watch.Stop();
    co_return keep;
  }

  // Tries replicas until one answers, the client goes away, or none is left.
  Task<bool> ProxyTries(beast::tcp_stream& stream, ClientWatch& watch, http::request<http::string_body>& req,
                        const InstanceState& instance, InstanceMetrics* im, bool streaming, bool keep_alive,
                        AccessRecord& record) {
    const std::string& request_id = record.request_id;
    const std::chrono::steady_clock::time_point arrived = record.start;
    Admission& admission = *instance.admission;
    std::vector<std::string> tried;
    std::string last_error;
    while (true) {
      HttpError error;
      std::shared_ptr<Replica> replica = co_await AcquireSlot(instance, im, tried, watch, &error);
      if (watch.gone()) {
        // Gone while queued (or just as its grant came): the slot goes to the next waiter, nobody is answered.
        if (replica != nullptr) {
          admission.Release(replica, absl::Now());
          im->in_flight->Set(static_cast<double>(admission.in_flight()));
        }
        im->CountRequest(kClientClosedRequest);
        record.status = kClientClosedRequest;
        co_return false;
      }
      if (replica == nullptr) {
        if (error.status == 0 || error.message.empty()) {
          error = {502, absl::StrCat("Every replica of instance ", instance.route.instance_id(), " failed: ", last_error),
                   "", "upstream_failed", 1};
        }
        co_return co_await WriteError(stream, error, keep_alive, record, im);
      }
      ++record.attempts;
      record.replica_id = replica->id();
      record.endpoint = replica->endpoint();
      im->in_flight->Set(static_cast<double>(admission.in_flight()));
      TryResult result =
          co_await Forward(stream, watch, req, *replica, im, streaming, keep_alive, request_id, arrived);
      admission.Release(replica, absl::Now());
      im->in_flight->Set(static_cast<double>(admission.in_flight()));
      // A try that failed because the client left says nothing about the replica: no failover, no mark.
      if (watch.gone() && result.outcome != Outcome::kDone) result.outcome = Outcome::kClientBroken;
      switch (result.outcome) {
        case Outcome::kDone:
          admission.MarkSuccess(replica);
          im->CountRequest(result.status);
          record.status = result.status;
          record.bytes_out = result.bytes_out;
          im->duration->Observe(Seconds(std::chrono::steady_clock::now() - arrived));
          co_return true;
        case Outcome::kClientBroken:
          record.status = result.status == 0 ? kClientClosedRequest : result.status;
          record.bytes_out = result.bytes_out;
          record.error = result.error;
          im->CountRequest(record.status);
          co_return false;
        case Outcome::kTimeout:
          co_return co_await WriteError(stream, EngineTimeout(instance.route.instance_id()), keep_alive, record,
                                        im);
        case Outcome::kRetry:
          admission.MarkFailure(replica, absl::Now());
          LogWarning("gateway: replica failed before the first byte; failing over",
                     {{"instance_id", instance.route.instance_id()},
                      {"replica_id", replica->id()},
                      {"endpoint", replica->endpoint()},
                      {"error", result.error},
                      {"request_id", request_id}});
          last_error = absl::StrCat(replica->id(), ": ", result.error);
          tried.push_back(replica->id());
          im->retries->Increment();
          break;
      }
    }
  }

  // Connects (or reuses an idle connection), sends the request, and answers the client from the engine's
  // response. A reused connection that the engine had closed meanwhile is retried once on a fresh one.
  // A client that hangs up meanwhile cancels the engine's operation (the connection is then dropped, which
  // the engine takes as the end of the generation).
  Task<TryResult> Forward(beast::tcp_stream& client, ClientWatch& watch, http::request<http::string_body>& req,
                          const Replica& replica, InstanceMetrics* im, bool streaming, bool keep_alive,
                          const std::string& request_id, std::chrono::steady_clock::time_point arrived) {
    beast::error_code ec;
    for (int fresh = 0; fresh < 2 && !watch.gone(); ++fresh) {
      UpstreamPool& pool = tls_loop->pool;
      std::unique_ptr<Upstream> up = fresh == 0 ? pool.Take(replica.endpoint()) : nullptr;
      const bool reused = up != nullptr;
      if (!reused) up = std::make_unique<Upstream>(client.get_executor());
      // Shut down, not only cancelled: an operation started after the hang-up fails at once too. Cleared
      // before `up` is pooled or destroyed (RelayWhole, RelayStream, the guard below).
      watch.OnCancel([socket = &up->stream.socket()] {
        beast::error_code ignored;
        socket->shutdown(tcp::socket::shutdown_both, ignored);
        socket->cancel(ignored);
      });
      struct ClearCancel {
        ClientWatch& watch;
        ~ClearCancel() { watch.OnCancel(nullptr); }
      } clear_cancel{watch};
      if (!reused) {
        auto hp = SplitHostPort(replica.endpoint());
        if (!hp.ok()) co_return TryResult{Outcome::kRetry, 0, "bad endpoint"};
        tcp::resolver resolver(client.get_executor());
        auto addresses = co_await resolver.async_resolve(hp->first, absl::StrCat(hp->second), Tok(ec));
        if (ec) co_return TryResult{Outcome::kRetry, 0, absl::StrCat("resolve: ", ec.message())};
        up->stream.expires_after(Chrono(options_.connect_timeout));
        co_await up->stream.async_connect(addresses, Tok(ec));
        if (ec) co_return TryResult{Outcome::kRetry, 0, absl::StrCat("connect: ", ec.message())};
        up->stream.socket().set_option(tcp::no_delay(true), ec);
        up->stream.socket().non_blocking(true, ec);  // for WriteAll's send in place
        // The client may have left while the connect completed: its shutdown above came too early.
        if (watch.gone()) co_return TryResult{Outcome::kClientBroken, 0, "client closed the connection"};
      }
      // The header is written by hand into one string (Beast's fields and serializer cost an allocation per
      // field and showed in the profile); the body goes out from the client's request without a copy.
      std::string accept_line;
      if (auto accept = req.find(http::field::accept); accept != req.end()) {
        accept_line = absl::StrCat("Accept: ", A(accept->value()), "\r\n");
      }
      const std::string upstream_head = absl::StrCat(
          A(req.method_string()), " ", A(req.target()), " HTTP/1.1\r\nHost: ", replica.endpoint(),
          "\r\nContent-Type: application/json\r\n", accept_line, "x-request-id: ", request_id,
          "\r\nContent-Length: ", req.body().size(), "\r\n\r\n");
      const std::array<net::const_buffer, 2> upstream_request{net::buffer(upstream_head), net::buffer(req.body())};
      co_await WriteAll(up->stream, upstream_request, options_.write_timeout, ec);
      if (ec) {
        if (reused) continue;
        co_return TryResult{Outcome::kRetry, 0, absl::StrCat("send: ", ec.message())};
      }
      http::response_parser<http::empty_body> head;
      head.body_limit(std::numeric_limits<uint64_t>::max());
      up->stream.expires_after(Chrono(options_.engine_timeout));
      co_await http::async_read_header(up->stream, up->buffer, head, Tok(ec));
      if (ec == beast::error::timeout) co_return TryResult{Outcome::kTimeout, 0, "engine timeout"};
      if (ec) {
        if (reused && up->buffer.size() == 0) continue;
        co_return TryResult{Outcome::kRetry, 0, absl::StrCat("read: ", ec.message())};
      }
      const int status = head.get().result_int();
      if (status >= 500) co_return TryResult{Outcome::kRetry, status, absl::StrCat("engine answered ", status)};
      const bool event_stream = head.chunked() ||
                                Sv(head.get()[http::field::content_type]).find("text/event-stream") != std::string_view::npos;
      if (!event_stream) {
        co_return co_await RelayWhole(client, watch, std::move(up), head, replica, im, keep_alive, request_id,
                                      arrived);
      }
      co_return co_await RelayStream(client, watch, std::move(up), head, replica, im, keep_alive, request_id,
                                     arrived, streaming);
    }
    co_return TryResult{Outcome::kRetry, 0, "connection closed by the engine"};
  }

  Task<TryResult> RelayWhole(beast::tcp_stream& client, ClientWatch& watch, std::unique_ptr<Upstream> up,
                             http::response_parser<http::empty_body>& head, const Replica& replica, InstanceMetrics* im,
                             bool keep_alive, const std::string& request_id,
                             std::chrono::steady_clock::time_point arrived) {
    beast::error_code ec;
    http::response_parser<http::string_body> parser(std::move(head));
    parser.body_limit(256ull << 20);
    if (!ParseBuffered(up->buffer, parser, [&] { return parser.is_done(); }, ec)) {
      // The engine_timeout set before the header read still runs.
      co_await http::async_read(up->stream, up->buffer, parser, Tok(ec));
    }
    if (ec == beast::error::timeout) co_return TryResult{Outcome::kTimeout, 0, "engine timeout"};
    if (ec) co_return TryResult{Outcome::kRetry, 0, absl::StrCat("read body: ", ec.message())};
    const bool upstream_keep_alive = parser.get().keep_alive();
    http::response<http::string_body> from = parser.release();
    const int status = from.result_int();
    // The header by hand, like the engine request's (one allocation instead of one per field).
    beast::string_view content_type = from[http::field::content_type];
    if (content_type.empty()) content_type = "application/json";
    const std::string client_head =
        absl::StrCat("HTTP/1.1 ", status, " ", A(http::obsolete_reason(from.result())), "\r\nContent-Type: ", A(content_type),
                     "\r\nx-request-id: ", request_id, "\r\nContent-Length: ", from.body().size(),
                     keep_alive ? "\r\n\r\n" : "\r\nConnection: close\r\n\r\n");
    const std::array<net::const_buffer, 2> answer{net::buffer(client_head), net::buffer(from.body())};
    if (status == 200) {
      auto elapsed = std::chrono::steady_clock::now() - arrived;
      int64_t tokens = FindCompletionTokens(from.body());
      if (tokens > 0 && Seconds(elapsed) > 0) im->tokens_per_second->Observe(tokens / Seconds(elapsed));
    }
    if (upstream_keep_alive) {
      watch.OnCancel(nullptr);  // a pooled connection belongs to whichever request takes it next
      tls_loop->pool.Put(replica.endpoint(), std::move(up));
    }
    co_await WriteAll(client, answer, options_.write_timeout, ec);
    if (ec) co_return TryResult{Outcome::kClientBroken, status, ec.message()};
    co_return TryResult{Outcome::kDone, status, "", static_cast<int64_t>(from.body().size())};
  }

  // Server-sent events: each piece the engine sends goes to the client as one chunk at once. The client's
  // header is sent with the first piece, so a failure before it still fails over.
  Task<TryResult> RelayStream(beast::tcp_stream& client, ClientWatch& watch, std::unique_ptr<Upstream> up,
                              http::response_parser<http::empty_body>& head, const Replica& replica,
                              InstanceMetrics* im, bool keep_alive, const std::string& request_id,
                              std::chrono::steady_clock::time_point arrived, bool streaming) {
    beast::error_code ec;
    const int status = head.get().result_int();
    std::string content_type(Sv(head.get()[http::field::content_type]));
    if (content_type.empty()) content_type = "text/event-stream";
    http::response_parser<http::buffer_body> parser(std::move(head));
    parser.body_limit(std::numeric_limits<uint64_t>::max());
    std::array<char, 16384> buf;
    bool sent = false;
    int64_t events = 0;
    int64_t usage_tokens = -1;
    int64_t relayed = 0;  // body bytes written to the client
    std::chrono::steady_clock::time_point first_token{}, last_token{};
    while (true) {
      parser.get().body().data = buf.data();
      parser.get().body().size = buf.size();
      up->stream.expires_after(Chrono(options_.stream_idle_timeout));
      // read_some, not read: read() would only return once the 16 KiB buffer is full.
      co_await http::async_read_some(up->stream, up->buffer, parser, Tok(ec));
      if (ec == http::error::need_buffer) ec = {};
      if (ec) {
        if (!sent) {
          if (ec == beast::error::timeout) co_return TryResult{Outcome::kTimeout, 0, "engine timeout"};
          co_return TryResult{Outcome::kRetry, 0, absl::StrCat("read stream: ", ec.message())};
        }
        // Bytes already reached the client: no retry; end the connection so the client sees the break.
        co_return TryResult{Outcome::kClientBroken, status, ec.message(), relayed};
      }
      const size_t n = buf.size() - parser.get().body().size;
      const bool done = parser.is_done();
      std::string out;
      if (!sent) {
        out = absl::StrCat("HTTP/1.1 ", status, " ", A(http::obsolete_reason(static_cast<http::status>(status))),
                           "\r\nContent-Type: ", content_type,
                           "\r\nCache-Control: no-cache\r\nTransfer-Encoding: chunked\r\nx-request-id: ", request_id,
                           keep_alive ? "\r\n\r\n" : "\r\nConnection: close\r\n\r\n");
      }
      if (n > 0) {
        std::string_view piece(buf.data(), n);
        absl::StrAppend(&out, absl::Hex(n), "\r\n", A(piece), "\r\n");
        size_t e = CountEvents(piece);
        if (e > 0) {
          auto now = std::chrono::steady_clock::now();
          if (events == 0) {
            first_token = now;
            if (streaming) im->ttft->Observe(Seconds(now - arrived));
          } else {
            im->inter_token->Observe(Seconds(now - last_token));
          }
          last_token = now;
          events += static_cast<int64_t>(e);
        }
        if (int64_t t = FindCompletionTokens(piece); t >= 0) usage_tokens = t;
      }
      if (done) out += "0\r\n\r\n";
      if (!out.empty()) {
        // What the socket does not take at once goes through the tcp_stream, so that write_timeout drops a
        // client that stopped reading.
        const std::array<net::const_buffer, 1> piece_out{net::buffer(out)};
        co_await WriteAll(client, piece_out, options_.write_timeout, ec);
        // A client write can fail after part of the answer went out: never retried.
        if (ec) co_return TryResult{Outcome::kClientBroken, status, ec.message(), relayed};
        sent = true;
        relayed += static_cast<int64_t>(n);
      }
      if (done) break;
    }
    int64_t tokens = usage_tokens >= 0 ? usage_tokens : events;
    double span = Seconds(last_token - first_token);
    if (status == 200 && tokens > 1 && span > 0) im->tokens_per_second->Observe((tokens - 1) / span);
    if (parser.get().keep_alive()) {
      watch.OnCancel(nullptr);
      tls_loop->pool.Put(replica.endpoint(), std::move(up));
    }
    co_return TryResult{Outcome::kDone, status, "", relayed};
  }

  Task<bool> MethodNotAllowed(beast::tcp_stream& stream, const char* allow, bool keep_alive, AccessRecord& record) {
    HttpError e{405, absl::StrCat("Method not allowed; use ", allow, "."), "", "method_not_allowed"};
    co_return co_await WriteError(stream, e, keep_alive, record, metrics_->ForInstance(""), allow);
  }

  // The gateway's own answers; each records its status for the access log (the proxied ones are recorded
  // in ProxyTries from the engine's).
  Task<bool> WriteError(beast::tcp_stream& stream, const HttpError& error, bool keep_alive, AccessRecord& record,
                        InstanceMetrics* im, const char* allow = nullptr) {
    const std::string& request_id = record.request_id;
    if (im != nullptr) im->CountRequest(error.status);
    http::response<http::string_body> res{static_cast<http::status>(error.status), 11};
    res.set(http::field::content_type, "application/json");
    if (!request_id.empty()) res.set("x-request-id", request_id);
    if (error.retry_after_seconds > 0) res.set(http::field::retry_after, absl::StrCat(error.retry_after_seconds));
    if (allow != nullptr) res.set(http::field::allow, allow);
    res.body() = ErrorBody(error);
    res.keep_alive(keep_alive);
    res.prepare_payload();
    record.status = error.status;
    record.bytes_out = static_cast<int64_t>(res.body().size());
    beast::error_code ec;
    stream.expires_after(Chrono(options_.write_timeout));
    co_await http::async_write(stream, res, Tok(ec));
    co_return !ec && keep_alive;
  }

  Task<bool> WriteJson(beast::tcp_stream& stream, http::status status, std::string body, bool keep_alive,
                       AccessRecord& record) {
    http::response<http::string_body> res{status, 11};
    res.set(http::field::content_type, "application/json");
    res.set("x-request-id", record.request_id);
    res.body() = std::move(body);
    res.keep_alive(keep_alive);
    res.prepare_payload();
    record.status = static_cast<int>(status);
    record.bytes_out = static_cast<int64_t>(res.body().size());
    beast::error_code ec;
    stream.expires_after(Chrono(options_.write_timeout));
    co_await http::async_write(stream, res, Tok(ec));
    co_return !ec && keep_alive;
  }

  GatewayServer* owner_;
  const Options& options_;
  Metrics* metrics_;
  std::vector<std::unique_ptr<Loop>> loops_;
  tcp::acceptor acceptor_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> active_requests_{0};
};

GatewayServer::GatewayServer(Options options, Metrics* metrics)
    : options_(std::move(options)), metrics_(metrics), router_(static_cast<size_t>(options_.max_queue)) {}

GatewayServer::~GatewayServer() { Stop(); }

absl::Status GatewayServer::Start() {
  if (impl_ != nullptr) return absl::FailedPreconditionError("gateway already started");
  impl_ = std::make_unique<Impl>(this, options_, metrics_);
  return impl_->Start(&port_);
}

void GatewayServer::Stop() {
  if (impl_ != nullptr) impl_->Stop();
}

void GatewayServer::SetAccessSnapshot(std::shared_ptr<const iam::IamSnapshot> snapshot) {
  absl::MutexLock lock(&mu_);
  iam_ = std::move(snapshot);
}

std::shared_ptr<const iam::IamSnapshot> GatewayServer::access_snapshot() const {
  absl::MutexLock lock(&mu_);
  return iam_;
}

}  // namespace dedicated::gateway
