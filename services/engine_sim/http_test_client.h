#pragma once
// A tiny blocking HTTP/1.1 client for engine-sim's tests, built on Beast. Every operation has a deadline,
// so a server that never answers fails the test instead of hanging it.

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace dedicated::engine_sim::testing {

struct HttpResult {
  int status = 0;  // 0 when the transport failed; see `error`.
  std::string error;
  std::string body;
  boost::beast::http::fields headers;
  std::chrono::steady_clock::duration elapsed{};
  std::chrono::steady_clock::time_point finished_at{};

  std::string Header(boost::beast::http::field f) const {
    auto it = headers.find(f);
    return it == headers.end() ? "" : std::string(it->value());
  }
};

// One connection; several requests may go over it (keep-alive).
class HttpTestClient {
 public:
  explicit HttpTestClient(int port, std::chrono::milliseconds timeout = std::chrono::seconds(3))
      : port_(port), timeout_(timeout), stream_(ioc_) {}

  bool Connect() {
    boost::beast::error_code ec;
    stream_.socket().connect({boost::asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port_)},
                             ec);
    return !ec;
  }

  // Sends raw bytes without reading anything back.
  bool Write(std::string_view raw) {
    boost::beast::error_code ec;
    RunWithDeadline([&](auto done) {
      boost::asio::async_write(stream_, boost::asio::buffer(raw),
                               [&, done](boost::beast::error_code e, size_t) {
                                 ec = e;
                                 done();
                               });
    });
    return !ec;
  }

  // Sends a raw request (as written; may be empty to read a pipelined answer) and parses the response.
  HttpResult SendRaw(std::string_view raw) {
    auto start = std::chrono::steady_clock::now();
    if (!raw.empty() && !Write(raw)) {
      HttpResult result;
      result.error = "write failed";
      return result;
    }
    return ReadResponse(start);
  }

  HttpResult Request(boost::beast::http::verb method, std::string_view target, std::string_view body = "",
                     bool keep_alive = true) {
    namespace http = boost::beast::http;
    http::request<http::string_body> req{method, std::string(target), 11};
    req.set(http::field::host, "127.0.0.1");
    if (!body.empty()) req.set(http::field::content_type, "application/json");
    req.body() = std::string(body);
    req.keep_alive(keep_alive);
    req.prepare_payload();
    std::ostringstream out;
    out << req;
    return SendRaw(out.str());
  }

  HttpResult Get(std::string_view target) { return Request(boost::beast::http::verb::get, target); }
  HttpResult Post(std::string_view target, std::string_view body) {
    return Request(boost::beast::http::verb::post, target, body);
  }

  // Reads raw bytes until `needle` has been seen; for tests that hang up in the middle of a stream.
  bool ReadUntil(std::string_view needle, std::string* seen) {
    boost::beast::error_code ec;
    while (seen->find(needle) == std::string::npos) {
      char data[4096];
      size_t n = 0;
      RunWithDeadline([&](auto done) {
        stream_.async_read_some(boost::asio::buffer(data), [&, done](boost::beast::error_code e, size_t got) {
          ec = e;
          n = got;
          done();
        });
      });
      if (ec) return false;
      seen->append(data, n);
    }
    return true;
  }

  void Close() {
    boost::beast::error_code ignored;
    stream_.socket().shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
    stream_.socket().close(ignored);
  }

 private:
  HttpResult ReadResponse(std::chrono::steady_clock::time_point start) {
    namespace http = boost::beast::http;
    HttpResult result;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    boost::beast::error_code ec;
    RunWithDeadline([&](auto done) {
      http::async_read(stream_, buffer_, parser, [&, done](boost::beast::error_code e, size_t) {
        ec = e;
        done();
      });
    });
    result.finished_at = std::chrono::steady_clock::now();
    result.elapsed = result.finished_at - start;
    if (ec) {
      result.error = "read: " + ec.message();
      return result;
    }
    auto response = parser.release();
    result.status = response.result_int();
    result.body = std::move(response.body());
    result.headers = std::move(response.base());
    return result;
  }

  // Runs one async operation to completion or until the client's timeout, then resets the io_context.
  template <typename Initiate>
  void RunWithDeadline(Initiate initiate) {
    bool finished = false;
    stream_.expires_after(timeout_);
    initiate([&finished] { finished = true; });
    ioc_.restart();
    while (!finished && ioc_.run_one() > 0) {
    }
    stream_.expires_never();
  }

  int port_;
  std::chrono::milliseconds timeout_;
  boost::asio::io_context ioc_;
  boost::beast::tcp_stream stream_;
  boost::beast::flat_buffer buffer_;
};

// A request on a fresh connection.
inline HttpResult Fetch(int port, boost::beast::http::verb method, std::string_view target,
                        std::string_view body = "",
                        std::chrono::milliseconds timeout = std::chrono::seconds(3)) {
  HttpTestClient client(port, timeout);
  if (!client.Connect()) {
    HttpResult failed;
    failed.error = "connect failed";
    return failed;
  }
  return client.Request(method, target, body, /*keep_alive=*/false);
}

// The "data: ..." payloads of a server-sent-events body, in order.
inline std::vector<std::string> SseData(std::string_view body) {
  std::vector<std::string> events;
  size_t pos = 0;
  while (pos < body.size()) {
    size_t end = body.find("\n\n", pos);
    if (end == std::string_view::npos) end = body.size();
    std::string_view event = body.substr(pos, end - pos);
    if (event.substr(0, 6) == "data: ") events.emplace_back(event.substr(6));
    pos = end + 2;
  }
  return events;
}

}  // namespace dedicated::engine_sim::testing
