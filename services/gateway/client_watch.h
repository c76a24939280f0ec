#pragma once
// ClientWatch: notices a client hanging up while its request waits in the admission queue or for the
// engine, so that the request leaves the queue, gives its replica slot back and cancels the engine's
// generation at once instead of when the answer would have been written to a closed socket.
//
// It keeps one read pending on the client socket for the life of the request. EOF or an error means the
// client is gone: the callback set with OnCancel runs (it cancels whatever the request awaits right
// now). Bytes mean the client is alive and pipelining its next request: they are appended to the
// connection's buffer (nothing is lost) and the watch ends. Like engine-sim and vLLM, a client that
// half-closes its sending side after the request is taken for gone.
//
// Everything runs on the connection's event loop (the socket's executor, one thread): the read's
// completion, the callback, and the request's coroutine. Stop() must be awaited before the connection
// reads again or is destroyed.

#include <utility>  // Boost 1.74's awaitable.hpp uses std::exchange without including it.
// (A block of its own, so that include sorting keeps it first.)

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <functional>
#include <memory>

namespace dedicated::gateway {

class ClientWatch {
 public:
  // Starts the read. `socket` and `buffer` must outlive the watch (until Stop() has returned).
  ClientWatch(boost::asio::ip::tcp::socket& socket, boost::beast::flat_buffer& buffer);
  ClientWatch(const ClientWatch&) = delete;
  ClientWatch& operator=(const ClientWatch&) = delete;

  // True once the client closed its side or the connection broke.
  bool gone() const;
  // What to cancel when the client goes: replaces the previous callback; nullptr clears it. Runs at
  // once if the client is already gone.
  void OnCancel(std::function<void()> cancel);
  // Ends the pending read (if any) and waits until its completion has run.
  boost::asio::awaitable<void> Stop();

 private:
  struct State;
  boost::asio::ip::tcp::socket& socket_;
  std::shared_ptr<State> state_;
};

}  // namespace dedicated::gateway
