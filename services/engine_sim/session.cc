#include "services/engine_sim/session.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <cstring>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "services/common/log.h"
#include "services/engine_sim/string_view_compat.h"

namespace dedicated::engine_sim {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

constexpr uint64_t kMaxBodyBytes = 8 * 1024 * 1024;
constexpr uint32_t kMaxHeaderBytes = 64 * 1024;
// Generous so that a gateway's pooled connections are not cut under it between requests.
constexpr auto kIdleTimeout = std::chrono::seconds(120);
// After an error reply with "Connection: close", how long to drain what the client still sends, so
// that closing does not reset the connection before the client has read the reply.
constexpr auto kLingerTimeout = std::chrono::seconds(1);
// Stop reading ahead when a client pipelines this much while its previous request is generating.
constexpr size_t kMaxReadAhead = 1024 * 1024;
constexpr char kServerName[] = "engine-sim";

bool IsHttpProtocolError(const beast::error_code& ec) {
  return ec.category() == http::make_error_code(http::error::bad_method).category() &&
         ec != http::error::end_of_stream && ec != http::error::partial_message;
}

}  // namespace

bool SessionRegistry::Add(const std::shared_ptr<Session>& session) {
  std::lock_guard lock(mu_);
  if (shutting_down_) return false;
  sessions_[session.get()] = session;
  return true;
}

void SessionRegistry::Remove(const Session* session) {
  std::lock_guard lock(mu_);
  sessions_.erase(session);
  if (sessions_.empty()) emptied_.notify_all();
}

void SessionRegistry::ShutdownAll() {
  std::vector<std::shared_ptr<Session>> live;
  {
    std::lock_guard lock(mu_);
    shutting_down_ = true;
    for (auto& [ptr, weak] : sessions_) {
      if (auto s = weak.lock()) live.push_back(std::move(s));
    }
  }
  // Outside the lock: dropping the last reference runs ~Session, which calls Remove.
  for (auto& s : live) s->BeginShutdown();
}

bool SessionRegistry::WaitUntilEmpty(absl::Time deadline) {
  std::unique_lock lock(mu_);
  return emptied_.wait_until(lock, absl::ToChronoTime(deadline), [this] { return sessions_.empty(); });
}

Session::Session(tcp::socket socket, const SessionContext& context)
    : ctx_(context), stream_(std::move(socket)), timer_(stream_.get_executor()) {}

Session::~Session() { ctx_.registry->Remove(this); }

void Session::Start() {
  net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->ReadRequest(); });
}

void Session::BeginShutdown() {
  net::post(stream_.get_executor(), [self = shared_from_this()] { self->OnShutdown(); });
}

void Session::OnShutdown() {
  shutting_down_ = true;
  keep_alive_ = false;
  if (reading_) Close();  // Between requests: nothing to finish.
}

void Session::ReadRequest() {
  if (closed_) return;
  if (shutting_down_) return Close();
  parser_.emplace();
  parser_->body_limit(kMaxBodyBytes);
  parser_->header_limit(kMaxHeaderBytes);
  reading_ = true;
  stream_.expires_after(kIdleTimeout);
  http::async_read(stream_, buffer_, *parser_,
                   beast::bind_front_handler(&Session::OnRead, shared_from_this()));
}

void Session::OnRead(beast::error_code ec, size_t) {
  reading_ = false;
  stream_.expires_never();
  if (closed_) return;
  endpoint_ = "other";
  if (parser_->is_header_done()) http_version_ = parser_->get().version();
  if (ec == http::error::body_limit) {
    keep_alive_ = false;
    return SendReply(Handlers::Error(413, "RequestTooLargeError",
                                     absl::StrCat("Request body exceeds ", kMaxBodyBytes, " bytes")));
  }
  if (IsHttpProtocolError(ec)) {
    keep_alive_ = false;
    return SendReply(
        Handlers::Error(400, "BadRequestError", absl::StrCat("Malformed HTTP request: ", ec.message())));
  }
  if (ec) return Close();  // The client closed, reset or idled out.

  http::request<http::string_body> request = parser_->release();
  http_version_ = request.version();
  keep_alive_ = request.keep_alive() && !shutting_down_;
  RoutedRequest routed = ctx_.handlers->Route(request.method(), ToStd(request.target()), request.body());
  endpoint_ = routed.endpoint;
  if (auto* reply = std::get_if<HttpReply>(&routed.action)) return SendReply(*reply);
  StartGeneration(std::get<GenerationRequest>(std::move(routed.action)));
}

void Session::SendReply(const HttpReply& reply) {
  http::response<http::string_body> response{static_cast<http::status>(reply.status), http_version_};
  response.set(http::field::server, kServerName);
  response.set(http::field::content_type, reply.content_type);
  if (!reply.allow.empty()) response.set(http::field::allow, reply.allow);
  response.keep_alive(keep_alive_);
  response.body() = reply.body;
  response.prepare_payload();
  ctx_.metrics->CountRequest(endpoint_, reply.status);
  std::ostringstream out;
  out << response;
  response_complete_ = true;
  Write(std::move(out).str());
}

void Session::StartGeneration(GenerationRequest request) {
  generation_ = std::move(request);
  tokens_generated_ = 0;
  state_ = GenerationState::kQueued;
  ctx_.metrics->AddPromptTokens(generation_.prompt_tokens);
  // Like vLLM, a stream's headers go out at once; its first chunk waits for the first token.
  if (generation_.stream) WriteStreamHeader();
  WatchSocket();
  ticket_ = ctx_.scheduler->Enqueue([self = shared_from_this()](SlotLease lease) mutable {
    // The grant runs on whichever thread freed the slot: hop onto this session's strand.
    auto executor = self->stream_.get_executor();
    net::post(executor, [self = std::move(self), lease = std::move(lease)]() mutable {
      self->OnSlotGranted(std::move(lease));
    });
  });
}

void Session::OnSlotGranted(SlotLease lease) {
  // A session queues one generation at a time and closes when its client leaves, so a grant that finds
  // the session closed or not queued is stale: dropping `lease` frees the slot.
  if (closed_ || state_ != GenerationState::kQueued) return;
  state_ = GenerationState::kRunning;
  lease_ = std::move(lease);
  next_token_at_ = std::chrono::steady_clock::now() + absl::ToChronoNanoseconds(ctx_.options->ttft);
  if (ctx_.options->ttft <= absl::ZeroDuration()) return OnTokenDue({});  // --ttft-ms 0: due now
  timer_.expires_at(next_token_at_);
  timer_.async_wait(beast::bind_front_handler(&Session::OnTokenDue, shared_from_this()));
}

void Session::OnTokenDue(beast::error_code ec) {
  if (ec || closed_ || state_ != GenerationState::kRunning) return;
  // Tokens already due are produced here, without a timer: arming Asio's timer is a timerfd_settime
  // system call, and with no token delay those calls were half of engine-sim's CPU, which the proxies
  // measured against it had to share (docs/benchmarks.md, issue 6). A burst yields to other sessions
  // after kMaxBurst tokens.
  constexpr int kMaxBurst = 64;
  for (int burst = 1;; ++burst) {
    const int64_t index = tokens_generated_++;
    ctx_.metrics->AddGeneratedTokens(1);
    if (generation_.stream) {
      if (index == 0 && generation_.kind == ApiKind::kChatCompletions) {
        WriteStreamData(SseEvent(RoleChunk(generation_)));
      }
      WriteStreamData(SseEvent(TokenChunk(generation_, index)));
    }
    if (tokens_generated_ >= generation_.max_tokens) return FinishGeneration();
    // Deadlines advance from the previous one, not from now, so handler latency does not add up.
    next_token_at_ += absl::ToChronoNanoseconds(ctx_.scheduler->InterTokenDelay());
    if (next_token_at_ > std::chrono::steady_clock::now() || burst == kMaxBurst) break;
    if (closed_) return;  // a write in the burst failed
  }
  timer_.expires_at(next_token_at_);
  timer_.async_wait(beast::bind_front_handler(&Session::OnTokenDue, shared_from_this()));
}

void Session::FinishGeneration() {
  lease_.Reset();
  state_ = GenerationState::kIdle;
  if (!generation_.stream)
    return SendReply(HttpReply{200, "application/json", CompletionBody(generation_), ""});
  WriteStreamData(SseEvent(FinishChunk(generation_)));
  if (generation_.include_usage) WriteStreamData(SseEvent(UsageChunk(generation_)));
  WriteStreamData(kSseDone);
  response_complete_ = true;
  if (chunked_) {
    Write("0\r\n\r\n");
  } else if (!writing_) {
    OnResponseWritten();
  }
}

void Session::AbortGeneration() {
  switch (state_) {
    case GenerationState::kIdle:
      return;
    case GenerationState::kQueued:
      // If it is no longer waiting, the grant is on its way and OnSlotGranted drops it.
      ctx_.scheduler->CancelWaiting(ticket_);
      break;
    case GenerationState::kRunning:
      timer_.cancel();
      lease_.Reset();
      break;
  }
  state_ = GenerationState::kIdle;
  ctx_.metrics->CountAbortedGeneration();
  // A stream was counted as 200 when its headers went out; a plain request never got an answer.
  if (!generation_.stream) ctx_.metrics->CountRequest(endpoint_, 499);
  Log(LogLevel::kDebug, "client left during generation",
      {{"id", generation_.id}, {"tokens_generated", absl::StrCat(tokens_generated_)}});
}

void Session::WriteStreamHeader() {
  http::response<http::empty_body> response{http::status::ok, http_version_};
  response.set(http::field::server, kServerName);
  response.set(http::field::content_type, "text/event-stream");
  response.set(http::field::cache_control, "no-cache");
  // HTTP/1.0 has no chunked encoding: the stream's end is the connection's end.
  chunked_ = http_version_ >= 11;
  if (chunked_) {
    response.chunked(true);
  } else {
    keep_alive_ = false;
  }
  response.keep_alive(keep_alive_);
  ctx_.metrics->CountRequest(endpoint_, 200);
  std::ostringstream out;
  out << response.base();
  Write(std::move(out).str());
}

void Session::WriteStreamData(std::string_view data) {
  if (!chunked_) return Write(std::string(data));
  Write(absl::StrCat(absl::Hex(data.size()), "\r\n", ToAbsl(data), "\r\n"));
}

void Session::Write(std::string bytes) {
  if (closed_) return;
  // std::deque keeps references to its elements valid on push_back, so in-flight buffers stay put.
  write_queue_.push_back(std::move(bytes));
  if (!writing_) WriteNext();
}

void Session::WriteNext() {
  // Everything queued goes out in one gathered write: under backpressure that is one syscall, not one
  // per token.
  write_buffers_.clear();
  for (const std::string& bytes : write_queue_) write_buffers_.emplace_back(bytes.data(), bytes.size());
  writes_in_flight_ = write_queue_.size();
  writing_ = true;
  net::async_write(stream_, write_buffers_, beast::bind_front_handler(&Session::OnWrite, shared_from_this()));
}

void Session::OnWrite(beast::error_code ec, size_t) {
  writing_ = false;
  if (closed_) return;
  if (ec) return Close();  // The client has gone: Close() also stops the generation.
  write_queue_.erase(write_queue_.begin(), write_queue_.begin() + static_cast<ptrdiff_t>(writes_in_flight_));
  writes_in_flight_ = 0;
  if (!write_queue_.empty()) return WriteNext();
  if (response_complete_) OnResponseWritten();
}

void Session::OnResponseWritten() {
  response_complete_ = false;
  if (!keep_alive_) return LingerAndClose();
  if (watching_) {
    // Only the watch read is pending now; cancel it and read the next request when it returns.
    read_after_watch_ = true;
    beast::error_code ignored;
    stream_.socket().cancel(ignored);
    return;
  }
  ReadRequest();
}

void Session::WatchSocket() {
  if (watching_ || closed_) return;
  watching_ = true;
  stream_.async_read_some(net::buffer(watch_buffer_),
                          beast::bind_front_handler(&Session::OnWatchRead, shared_from_this()));
}

void Session::OnWatchRead(beast::error_code ec, size_t bytes) {
  watching_ = false;
  if (closed_) return;
  if (lingering_) {
    if (ec) return Close();
    return WatchSocket();  // Discard and keep draining until EOF or the linger timer.
  }
  if (bytes > 0) {
    // The start of a pipelined request: keep it for the parser.
    auto space = buffer_.prepare(bytes);
    std::memcpy(space.data(), watch_buffer_.data(), bytes);
    buffer_.commit(bytes);
  }
  if (ec && ec != net::error::operation_aborted) {
    // EOF or reset: the client has gone. Close() stops the generation and frees the slot.
    return Close();
  }
  if (read_after_watch_) {
    read_after_watch_ = false;
    return ReadRequest();
  }
  if (ec) return;
  if (state_ != GenerationState::kIdle && buffer_.size() < kMaxReadAhead) WatchSocket();
}

void Session::LingerAndClose() {
  lingering_ = true;
  beast::error_code ignored;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
  timer_.expires_after(kLingerTimeout);
  timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
    if (!ec) self->Close();
  });
  WatchSocket();
}

void Session::Close() {
  if (closed_) return;
  AbortGeneration();
  closed_ = true;
  timer_.cancel();
  beast::error_code ignored;
  stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
  stream_.socket().close(ignored);
}

}  // namespace dedicated::engine_sim
