#include "services/gateway/client_watch.h"

#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace dedicated::gateway {

namespace net = boost::asio;

// Shared with the read's completion handler, which may run after the watch object is gone only if
// Stop() was skipped; the state then stays valid, the buffer would not (hence: always Stop()).
struct ClientWatch::State {
  bool reading = true;
  bool gone = false;
  std::function<void()> cancel;
};

namespace {
// Enough for the start of a pipelined request; the rest is read by the connection's own parser.
constexpr size_t kReadSize = 4096;
}  // namespace

ClientWatch::ClientWatch(net::ip::tcp::socket& socket, boost::beast::flat_buffer& buffer)
    : socket_(socket), state_(std::make_shared<State>()) {
  socket_.async_read_some(buffer.prepare(kReadSize), [state = state_, &buffer](boost::system::error_code ec, size_t n) {
    state->reading = false;
    if (!ec) {
      buffer.commit(n);
    } else if (ec != net::error::operation_aborted) {
      state->gone = true;
      if (state->cancel) std::exchange(state->cancel, nullptr)();
    }
  });
}

bool ClientWatch::gone() const { return state_->gone; }

void ClientWatch::OnCancel(std::function<void()> cancel) {
  if (state_->gone) {
    if (cancel) cancel();
    return;
  }
  state_->cancel = std::move(cancel);
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
