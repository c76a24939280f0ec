#pragma once
// ClientWatch: notices a client hanging up while its request waits in the admission queue or for the
// engine, so that the request leaves the queue, gives its replica slot back and cancels the engine's
// generation at once instead of when the answer would have been written to a closed socket.
//
// One per client connection. Start() puts one read on the client socket when a request is taken on;
// EOF or an error means the client is gone: the callback set with OnCancel runs (it cancels whatever the
// request awaits right now). Bytes mean the client is alive and pipelining its next request: they are
// appended to the connection's buffer (nothing is lost) and the read ends. Like engine-sim and vLLM, a
// client that half-closes its sending side after the request is taken for gone.
//
// When the answer is out, the read is not cancelled: it stays pending as the connection's wait for its
// next request (Wait), so that a keep-alive request costs one read on the client socket rather than a
// watch read, its cancellation and a new read for the next request (three syscalls on a VM where each
// costs microseconds, docs/benchmarks.md, issue 6).
//
// Everything runs on the connection's event loop (the socket's executor, one thread): the read's
// completion, the callback, and the request's coroutine. Stop() must be awaited before the connection
// reads the socket by other means or is destroyed; a watch destroyed with its read pending (a connection
// ended by an exception) cancels it without touching the buffer, which may be gone by then.

#include <utility>  // Boost 1.74's awaitable.hpp uses std::exchange without including it.
// (A block of its own, so that include sorting keeps it first.)

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <chrono>
#include <functional>
#include <memory>

namespace dedicated::gateway {

class ClientWatch {
 public:
  // Does not read yet. `socket` and `buffer` must outlive the watch's reads (until Stop() has returned).
  ClientWatch(boost::asio::ip::tcp::socket& socket, boost::beast::flat_buffer& buffer);
  ~ClientWatch();
  ClientWatch(const ClientWatch&) = delete;
  ClientWatch& operator=(const ClientWatch&) = delete;

  // Starts the read, unless one is pending already (left from the connection's previous request).
  void Start();
  // True while the read is pending.
  bool reading() const;
  // True once the client closed its side or the connection broke.
  bool gone() const;
  // What to cancel when the client goes: replaces the previous callback; nullptr clears it. Runs at
  // once if the client is already gone.
  void OnCancel(std::function<void()> cancel);
  // Waits until the pending read has completed (bytes of the next request are in the buffer, or gone()),
  // or `timeout` passed: false, and the read is stopped. True at once when no read is pending.
  boost::asio::awaitable<bool> Wait(std::chrono::steady_clock::duration timeout);
  // Ends the pending read (if any) and waits until its completion has run.
  boost::asio::awaitable<void> Stop();

 private:
  struct State;
  boost::asio::ip::tcp::socket& socket_;
  boost::beast::flat_buffer& buffer_;
  std::shared_ptr<State> state_;
};

}  // namespace dedicated::gateway
