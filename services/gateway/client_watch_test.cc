#include "services/gateway/client_watch.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <chrono>
#include <string>

namespace dedicated::gateway {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;

// A connected pair on loopback: `server` is the gateway's side of a client connection, `client` the peer.
struct Pair {
  explicit Pair(net::io_context& ioc) : server(ioc), client(ioc) {
    tcp::acceptor acceptor(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    client.connect(acceptor.local_endpoint());
    acceptor.accept(server);
  }
  tcp::socket server;
  tcp::socket client;
};

// Runs watch.Stop() on the loop (which may have run out of work before) and says whether it returned
// within 2 s.
bool RunStop(net::io_context& ioc, ClientWatch& watch) {
  bool stopped = false;
  net::co_spawn(
      ioc,
      [&]() -> net::awaitable<void> {
        co_await watch.Stop();
        stopped = true;
      },
      net::detached);
  ioc.restart();
  ioc.run_for(std::chrono::seconds(2));
  return stopped;
}

TEST(ClientWatchTest, HangUpCancelsWhatTheRequestWaitsOn) {
  net::io_context ioc;
  Pair pair(ioc);
  boost::beast::flat_buffer buffer;
  ClientWatch watch(pair.server, buffer);
  bool cancelled = false;
  watch.OnCancel([&] { cancelled = true; });
  pair.client.close();
  ioc.run_for(std::chrono::seconds(2));
  EXPECT_TRUE(watch.gone());
  EXPECT_TRUE(cancelled);
  EXPECT_TRUE(RunStop(ioc, watch));
}

TEST(ClientWatchTest, CallbackSetAfterTheHangUpRunsAtOnce) {
  net::io_context ioc;
  Pair pair(ioc);
  boost::beast::flat_buffer buffer;
  ClientWatch watch(pair.server, buffer);
  pair.client.close();
  ioc.run_for(std::chrono::seconds(2));
  ASSERT_TRUE(watch.gone());
  bool cancelled = false;
  watch.OnCancel([&] { cancelled = true; });
  EXPECT_TRUE(cancelled);
  net::co_spawn(ioc, watch.Stop(), net::detached);
  ioc.restart();
  ioc.run_for(std::chrono::milliseconds(200));
}

TEST(ClientWatchTest, PipelinedBytesAreKeptAndAreNoHangUp) {
  net::io_context ioc;
  Pair pair(ioc);
  boost::beast::flat_buffer buffer;
  ClientWatch watch(pair.server, buffer);
  bool cancelled = false;
  watch.OnCancel([&] { cancelled = true; });
  const std::string next = "GET /health HTTP/1.1\r\n";
  net::write(pair.client, net::buffer(next));
  ioc.run_for(std::chrono::milliseconds(500));
  EXPECT_FALSE(watch.gone());
  EXPECT_FALSE(cancelled);
  EXPECT_EQ(boost::beast::buffers_to_string(buffer.data()), next);
  EXPECT_TRUE(RunStop(ioc, watch));
}

TEST(ClientWatchTest, StopEndsAPendingReadWithoutAHangUp) {
  net::io_context ioc;
  Pair pair(ioc);
  boost::beast::flat_buffer buffer;
  ClientWatch watch(pair.server, buffer);
  bool cancelled = false;
  watch.OnCancel([&] { cancelled = true; });
  EXPECT_TRUE(RunStop(ioc, watch));
  EXPECT_FALSE(watch.gone());
  EXPECT_FALSE(cancelled);
  EXPECT_EQ(buffer.size(), 0u);
}

}  // namespace
}  // namespace dedicated::gateway
