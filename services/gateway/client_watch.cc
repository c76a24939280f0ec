#include "services/gateway/client_watch.h"

#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace dedicated::gateway {

namespace net = boost::asio;

// Shared with the read's completion handler, which may run after the watch object is gone (a connection
// ended by an exception); `buffer` is then null and the bytes are dropped.
struct ClientWatch::State {
  explicit State(const net::any_io_executor& ex) : waiter(ex) {}
  bool reading = false;
  bool gone = false;
  bool waiting = false;  // Wait() is suspended on `waiter`
  boost::beast::flat_buffer* buffer = nullptr;
  std::function<void()> cancel;
  net::steady_timer waiter;  // Wait()'s timeout; the read's completion cancels it
};

namespace {
// Enough for the start of a pipelined (or the next keep-alive) request; the rest is read by the
// connection's own parser.
constexpr size_t kReadSize = 4096;
}  // namespace

ClientWatch::ClientWatch(net::ip::tcp::socket& socket, boost::beast::flat_buffer& buffer)
    : socket_(socket), buffer_(buffer), state_(std::make_shared<State>(socket.get_executor())) {
  state_->buffer = &buffer_;
}

ClientWatch::~ClientWatch() {
  state_->buffer = nullptr;
  state_->cancel = nullptr;
  // The recv itself must not run either: it would write into the prepared space of a buffer that may be
  // freed next. Cancelled, the read completes with operation_aborted without touching it.
  if (state_->reading) {
    boost::system::error_code ignored;
    socket_.cancel(ignored);
  }
}

void ClientWatch::Start() {
  if (state_->reading || state_->gone) return;
  state_->reading = true;
  // A read, not a readiness wait: a FIN (or bytes) that came before this point consumed its edge of the
  // edge-triggered epoll, and only the read's speculative recv still sees it.
  socket_.async_read_some(buffer_.prepare(kReadSize), [state = state_](boost::system::error_code ec, size_t n) {
    state->reading = false;
    if (!ec) {
      if (state->buffer != nullptr) state->buffer->commit(n);
    } else if (ec != net::error::operation_aborted) {
      state->gone = true;
      if (state->cancel) std::exchange(state->cancel, nullptr)();
    }
    if (state->waiting) state->waiter.cancel();
  });
}

bool ClientWatch::reading() const { return state_->reading; }

bool ClientWatch::gone() const { return state_->gone; }

void ClientWatch::OnCancel(std::function<void()> cancel) {
  if (state_->gone) {
    if (cancel) cancel();
    return;
  }
  state_->cancel = std::move(cancel);
}

net::awaitable<bool> ClientWatch::Wait(std::chrono::steady_clock::duration timeout) {
  if (!state_->reading) co_return true;
  std::shared_ptr<State> state = state_;
  state->waiter.expires_after(timeout);
  state->waiting = true;
  boost::system::error_code ec;
  co_await state->waiter.async_wait(net::redirect_error(net::use_awaitable, ec));
  state->waiting = false;
  if (!state->reading) co_return true;
  co_await Stop();
  co_return false;
}

net::awaitable<void> ClientWatch::Stop() {
  state_->cancel = nullptr;
  if (!state_->reading) co_return;
  boost::system::error_code ec;
  socket_.cancel(ec);
  // cancel() queues the read's completion (operation_aborted, or the bytes if they came first) on this
  // loop; a post queued after it resumes us once it has run. One thread runs the loop and runs its queue
  // in order, so one round is enough; the loop is a guard. (A timer that the completion cancelled did
  // the same with a timer queue insert and removal per request.)
  while (state_->reading) co_await net::post(socket_.get_executor(), net::use_awaitable);
}

}  // namespace dedicated::gateway
