#include "services/gateway/client_watch.h"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace dedicated::gateway {

namespace net = boost::asio;

// Shared with the read's completion handler, which may run after the watch object is gone only if
// Stop() was skipped; the state then stays valid, the buffer would not (hence: always Stop()).
struct ClientWatch::State {
  explicit State(net::any_io_executor ex) : read_done(std::move(ex)) {}
  bool reading = true;
  bool gone = false;
  std::function<void()> cancel;
  net::steady_timer read_done;  // cancelled when the read completes, to wake Stop()
};

namespace {
// Enough for the start of a pipelined request; the rest is read by the connection's own parser.
constexpr size_t kReadSize = 4096;
}  // namespace

ClientWatch::ClientWatch(net::ip::tcp::socket& socket, boost::beast::flat_buffer& buffer)
    : socket_(socket), state_(std::make_shared<State>(socket.get_executor())) {
  socket_.async_read_some(buffer.prepare(kReadSize), [state = state_, &buffer](boost::system::error_code ec, size_t n) {
    state->reading = false;
    if (!ec) {
      buffer.commit(n);
    } else if (ec != net::error::operation_aborted) {
      state->gone = true;
      if (state->cancel) std::exchange(state->cancel, nullptr)();
    }
    state->read_done.cancel();
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
  state_->read_done.expires_at(net::steady_timer::time_point::max());
  while (state_->reading) co_await state_->read_done.async_wait(net::redirect_error(net::use_awaitable, ec));
}

}  // namespace dedicated::gateway
