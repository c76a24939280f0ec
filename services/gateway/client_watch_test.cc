#include "services/gateway/client_watch.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <chrono>
#include <memory>
#include <optional>
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

// A connection's watch, not started: each test starts it (or not) itself. Members are destroyed in
// reverse order, so the watch goes before its buffer and socket.
class ClientWatchTest : public ::testing::Test {
 protected:
  net::io_context ioc;
  Pair pair{ioc};
  boost::beast::flat_buffer buffer;
  ClientWatch watch{pair.server, buffer};
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

TEST_F(ClientWatchTest, HangUpCancelsWhatTheRequestWaitsOn) {
  watch.Start();
  bool cancelled = false;
  watch.OnCancel([&] { cancelled = true; });
  pair.client.close();
  ioc.run_for(std::chrono::seconds(2));
  EXPECT_TRUE(watch.gone());
  EXPECT_TRUE(cancelled);
  EXPECT_TRUE(RunStop(ioc, watch));
}

TEST_F(ClientWatchTest, CallbackSetAfterTheHangUpRunsAtOnce) {
  watch.Start();
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

TEST_F(ClientWatchTest, PipelinedBytesAreKeptAndAreNoHangUp) {
  watch.Start();
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

TEST_F(ClientWatchTest, StopEndsAPendingReadWithoutAHangUp) {
  watch.Start();
  bool cancelled = false;
  watch.OnCancel([&] { cancelled = true; });
  EXPECT_TRUE(RunStop(ioc, watch));
  EXPECT_FALSE(watch.gone());
  EXPECT_FALSE(cancelled);
  EXPECT_EQ(buffer.size(), 0u);
}

// After the answer the read stays pending as the wait for the next keep-alive request.
TEST_F(ClientWatchTest, WaitReturnsWhenTheNextRequestArrives) {
  watch.Start();
  watch.OnCancel(nullptr);
  const std::string next = "POST /v1/chat/completions HTTP/1.1\r\n";
  bool arrived = false;
  net::co_spawn(
      ioc, [&]() -> net::awaitable<void> { arrived = co_await watch.Wait(std::chrono::seconds(5)); }, net::detached);
  ioc.run_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(arrived);
  net::write(pair.client, net::buffer(next));
  ioc.run_for(std::chrono::milliseconds(500));
  EXPECT_TRUE(arrived);
  EXPECT_FALSE(watch.reading());
  EXPECT_FALSE(watch.gone());
  EXPECT_EQ(boost::beast::buffers_to_string(buffer.data()), next);
}

TEST_F(ClientWatchTest, WaitSeesAHangUpBetweenRequests) {
  watch.Start();
  bool returned = false;
  net::co_spawn(
      ioc, [&]() -> net::awaitable<void> { returned = co_await watch.Wait(std::chrono::seconds(5)); }, net::detached);
  pair.client.close();
  ioc.run_for(std::chrono::milliseconds(500));
  EXPECT_TRUE(returned);
  EXPECT_TRUE(watch.gone());
}

TEST_F(ClientWatchTest, WaitTimesOutAndStopsTheRead) {
  watch.Start();
  std::optional<bool> arrived;
  net::co_spawn(
      ioc, [&]() -> net::awaitable<void> { arrived = co_await watch.Wait(std::chrono::milliseconds(50)); },
      net::detached);
  ioc.run_for(std::chrono::seconds(2));
  ASSERT_TRUE(arrived.has_value());
  EXPECT_FALSE(*arrived);
  EXPECT_FALSE(watch.reading());
  EXPECT_FALSE(watch.gone());
}

// A watch destroyed with its read pending (a connection ended by an exception) must not write into the
// buffer afterwards.
TEST_F(ClientWatchTest, ReadCompletingAfterTheWatchIsGoneTouchesNoBuffer) {
  auto own_buffer = std::make_unique<boost::beast::flat_buffer>();
  auto own_watch = std::make_unique<ClientWatch>(pair.server, *own_buffer);
  own_watch->Start();
  own_watch.reset();
  own_buffer.reset();
  net::write(pair.client, net::buffer(std::string("GET /health HTTP/1.1\r\n")));
  ioc.run_for(std::chrono::milliseconds(200));  // ASan reports a commit into the freed buffer
  // The bytes were not taken by the cancelled read: they are still in the socket.
  pair.server.non_blocking(true);
  char rest[64];
  boost::system::error_code ec;
  size_t n = pair.server.read_some(net::buffer(rest), ec);
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_EQ(std::string(rest, n), "GET /health HTTP/1.1\r\n");
}

TEST_F(ClientWatchTest, StartIsANoOpWhileAReadIsPending) {
  EXPECT_FALSE(watch.reading());
  watch.Start();
  watch.Start();  // a second concurrent read would be an error in Asio
  EXPECT_TRUE(watch.reading());
  EXPECT_TRUE(RunStop(ioc, watch));
  EXPECT_FALSE(watch.reading());
}

}  // namespace
}  // namespace dedicated::gateway
