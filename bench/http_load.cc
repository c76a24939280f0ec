// http_load: the HTTP load generator of the gateway benchmark (issue 6; bench/run_gateway_bench.sh runs it
// against engine-sim directly, through the gateway and through nginx, so all three see the same client).
//
// --connections keep-alive connections each send one request at a time (HTTP/1.1, no pipelining):
//   - closed loop (no --rate): the next request leaves as soon as the answer is in: the throughput run;
//   - paced (--rate R): R requests/s over all connections, each on its own schedule, staggered. Latency is
//     counted from the scheduled send time, so a late answer also delays (and charges) the next request
//     (no coordinated omission). Below saturation this shows what a hop adds per request rather than how
//     long requests queue for a shared CPU.
// Latency is send -> last byte of the answer; with --stream it is also send -> first byte of the body
// (the first SSE event; a stream's header alone does not count, since engine-sim sends it before the
// first token and the gateway with it).
//
// The request is built once (method POST, --path, --body-file, Authorization from --api-key-file) and
// written as raw bytes. Requests finished during --warmup are not counted. Prints one JSON object:
// requests, errors (non-200 answers and broken connections), rps, latency and first-byte percentiles in
// microseconds, and the CPU this process used (cores).
//
//   http_load --target 127.0.0.1:8080 --path /v1/chat/completions --body-file body.json --connections 64
#include <utility>  // Boost 1.74's awaitable.hpp uses std::exchange without including it.
// (A block of its own, so that include sorting keeps it first.)

#include <sys/resource.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "services/common/flags.h"

namespace dedicated::bench {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr char kUsage[] = R"(Usage: http_load --target HOST:PORT --body-file PATH [flags]
Keeps --connections keep-alive HTTP/1.1 connections busy with POST --path for --duration (after
--warmup), closed loop or at --rate requests/s in total, and prints one JSON object with the throughput
and the latency percentiles (microseconds); with --stream also the time to the first body byte.)";

struct Options {
  std::string target;
  std::string path = "/v1/chat/completions";
  std::string body_file;
  std::string api_key_file;
  int64_t connections = 64;
  int64_t threads = 1;
  double rate = 0;  // requests/s over all connections; 0: closed loop
  bool stream = false;
  absl::Duration duration = absl::Seconds(10);
  absl::Duration warmup = absl::Seconds(2);
};

// What one connection measured; merged at the end (no sharing while running).
struct Samples {
  std::vector<int64_t> latency_us;
  std::vector<int64_t> first_byte_us;
  int64_t errors = 0;
};

struct Plan {
  tcp::endpoint endpoint;
  std::string request;  // the raw bytes of one request
  bool stream = false;
  Clock::time_point start, measure_from, end;
  Clock::duration interval{};  // per connection when paced; zero: closed loop
};

auto Tok(beast::error_code& ec) { return net::redirect_error(net::use_awaitable, ec); }

int64_t Micros(Clock::duration d) { return std::chrono::duration_cast<std::chrono::microseconds>(d).count(); }

// Reads one answer; returns the HTTP status (0 on a broken connection) and sets *first_byte to when the
// first body byte was parsed (streams only).
net::awaitable<int> ReadAnswer(beast::tcp_stream& stream, beast::flat_buffer& buffer, bool streaming,
                               Clock::time_point* first_byte, bool* keep_alive) {
  beast::error_code ec;
  if (!streaming) {
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 << 20);
    co_await http::async_read(stream, buffer, parser, Tok(ec));
    if (ec) co_return 0;
    *keep_alive = parser.get().keep_alive();
    co_return parser.get().result_int();
  }
  http::response_parser<http::buffer_body> parser;
  parser.body_limit(64 << 20);
  co_await http::async_read_header(stream, buffer, parser, Tok(ec));
  if (ec) co_return 0;
  std::array<char, 16384> sink;
  bool first = true;
  while (!parser.is_done()) {
    parser.get().body().data = sink.data();
    parser.get().body().size = sink.size();
    co_await http::async_read_some(stream, buffer, parser, Tok(ec));
    if (ec == http::error::need_buffer) ec = {};
    if (ec) co_return 0;
    if (first && parser.get().body().size < sink.size()) {
      *first_byte = Clock::now();
      first = false;
    }
  }
  *keep_alive = parser.get().keep_alive();
  co_return parser.get().result_int();
}

net::awaitable<void> RunConnection(const Plan& plan, Clock::time_point first_send, Samples& samples) {
  auto ex = co_await net::this_coro::executor;
  beast::tcp_stream stream(ex);
  beast::flat_buffer buffer;
  net::steady_timer pacer(ex);
  beast::error_code ec;
  bool connected = false;
  Clock::time_point next = first_send;
  if (plan.interval == Clock::duration::zero()) {
    pacer.expires_at(first_send);
    co_await pacer.async_wait(Tok(ec));
  }
  while (Clock::now() < plan.end) {
    if (!connected) {
      buffer.clear();
      stream.socket().close(ec);
      co_await stream.socket().async_connect(plan.endpoint, Tok(ec));
      if (ec) {
        ++samples.errors;
        pacer.expires_after(std::chrono::milliseconds(10));
        co_await pacer.async_wait(Tok(ec));
        continue;
      }
      stream.socket().set_option(tcp::no_delay(true), ec);
      connected = true;
    }
    Clock::time_point sent;
    if (plan.interval != Clock::duration::zero()) {
      pacer.expires_at(next);
      co_await pacer.async_wait(Tok(ec));
      sent = next;  // the scheduled time: a late answer charges the next request too
      next += plan.interval;
      if (sent >= plan.end) break;
    } else {
      sent = Clock::now();
    }
    co_await net::async_write(stream.socket(), net::buffer(plan.request), Tok(ec));
    Clock::time_point first_byte{};
    bool keep_alive = false;
    int status = ec ? 0 : co_await ReadAnswer(stream, buffer, plan.stream, &first_byte, &keep_alive);
    const Clock::time_point done = Clock::now();
    if (status == 0) connected = false;
    if (!keep_alive) connected = false;
    if (sent < plan.measure_from || done > plan.end) continue;
    if (status != 200) {
      ++samples.errors;
      continue;
    }
    samples.latency_us.push_back(Micros(done - sent));
    if (plan.stream) samples.first_byte_us.push_back(Micros(first_byte - sent));
  }
  stream.socket().close(ec);
}

double Percentile(std::vector<int64_t>& v, double p) {
  if (v.empty()) return 0;
  size_t i = std::min(v.size() - 1, static_cast<size_t>(p / 100.0 * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(i), v.end());
  return static_cast<double>(v[i]);
}

double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

int Run(const Options& o) {
  std::ifstream in(o.body_file, std::ios::binary);
  if (!in) {
    std::cerr << "http_load: --body-file " << o.body_file << ": cannot read\n";
    return 2;
  }
  std::stringstream body;
  body << in.rdbuf();
  std::string key;
  if (!o.api_key_file.empty()) {
    std::ifstream k(o.api_key_file);
    std::getline(k, key);
    key = std::string(absl::StripAsciiWhitespace(key));
  }
  auto colon = o.target.rfind(':');
  if (colon == std::string::npos) {
    std::cerr << "http_load: --target must be HOST:PORT\n";
    return 2;
  }
  Plan plan;
  beast::error_code ec;
  auto address = net::ip::make_address(o.target.substr(0, colon), ec);
  if (ec) {
    std::cerr << "http_load: --target: not an IP address: " << o.target << "\n";
    return 2;
  }
  plan.endpoint = tcp::endpoint(address, static_cast<unsigned short>(std::stoi(o.target.substr(colon + 1))));
  plan.request = absl::StrCat(
      "POST ", o.path, " HTTP/1.1\r\nHost: ", o.target,
      "\r\nContent-Type: application/json\r\nAccept: ", o.stream ? "text/event-stream" : "application/json",
      key.empty() ? "" : absl::StrCat("\r\nAuthorization: Bearer ", key), "\r\nContent-Length: ", body.str().size(),
      "\r\n\r\n", body.str());
  plan.stream = o.stream;
  plan.start = Clock::now() + std::chrono::milliseconds(100);
  plan.measure_from = plan.start + absl::ToChronoNanoseconds(o.warmup);
  plan.end = plan.measure_from + absl::ToChronoNanoseconds(o.duration);
  const auto n = static_cast<size_t>(o.connections);
  if (o.rate > 0) {
    plan.interval = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(n / o.rate));
  }

  std::vector<std::unique_ptr<net::io_context>> contexts;
  for (int64_t t = 0; t < o.threads; ++t) contexts.push_back(std::make_unique<net::io_context>(1));
  std::vector<Samples> samples(n);
  for (size_t i = 0; i < n; ++i) {
    // Paced connections start staggered over one interval, so the load is even rather than in bursts.
    Clock::time_point first_send = plan.start + plan.interval * static_cast<int64_t>(i) / static_cast<int64_t>(n);
    net::co_spawn(*contexts[i % contexts.size()], RunConnection(plan, first_send, samples[i]), net::detached);
  }
  const double cpu0 = CpuSeconds();
  std::vector<std::thread> threads;
  for (auto& c : contexts) threads.emplace_back([&c] { c->run(); });
  for (auto& t : threads) t.join();
  const double cpu = CpuSeconds() - cpu0;

  Samples all;
  for (Samples& s : samples) {
    all.latency_us.insert(all.latency_us.end(), s.latency_us.begin(), s.latency_us.end());
    all.first_byte_us.insert(all.first_byte_us.end(), s.first_byte_us.begin(), s.first_byte_us.end());
    all.errors += s.errors;
  }
  const double seconds = absl::ToDoubleSeconds(o.duration);
  const double wall = std::chrono::duration<double>(plan.end - plan.start).count();
  nlohmann::ordered_json out;
  out["connections"] = o.connections;
  out["rate"] = o.rate;
  out["stream"] = o.stream;
  out["seconds"] = seconds;
  out["requests"] = all.latency_us.size();
  out["errors"] = all.errors;
  out["rps"] = static_cast<double>(all.latency_us.size()) / seconds;
  out["p50_us"] = Percentile(all.latency_us, 50);
  out["p90_us"] = Percentile(all.latency_us, 90);
  out["p99_us"] = Percentile(all.latency_us, 99);
  out["max_us"] = Percentile(all.latency_us, 100);
  if (o.stream) {
    out["first_byte_p50_us"] = Percentile(all.first_byte_us, 50);
    out["first_byte_p99_us"] = Percentile(all.first_byte_us, 99);
  }
  out["client_cpu_cores"] = cpu / wall;
  std::cout << out.dump() << std::endl;
  return all.latency_us.empty() ? 1 : 0;
}

}  // namespace
}  // namespace dedicated::bench

int main(int argc, char** argv) {
  using dedicated::FlagSet;
  dedicated::bench::Options o;
  FlagSet flags(dedicated::bench::kUsage);
  flags.String("target", "", &o.target, "HOST:PORT to send to (an IP address)");
  flags.String("path", "", &o.path, "request path");
  flags.String("body-file", "", &o.body_file, "the JSON body of every request");
  flags.String("api-key-file", "", &o.api_key_file, "sent as Authorization: Bearer <key> when set");
  flags.Int("connections", "", &o.connections, "keep-alive connections, one request in flight on each");
  flags.Int("threads", "", &o.threads, "client threads (one io_context each)");
  std::string rate;
  flags.String("rate", "", &rate, "requests/s over all connections; empty or 0: closed loop");
  flags.Bool("stream", "", &o.stream, "the body asks for a stream: also measure the time to the first body byte");
  flags.Duration("duration", "", &o.duration, "measured time");
  flags.Duration("warmup", "", &o.warmup, "time before it, not measured");
  if (auto st = flags.Parse(dedicated::ArgsFrom(argc, argv)); !st.ok()) {
    std::cerr << st.message() << "\n";
    return 2;
  }
  if (flags.help_requested()) {
    std::cout << flags.Help();
    return 0;
  }
  if (!rate.empty()) o.rate = std::stod(rate);
  if (o.target.empty() || o.body_file.empty() || o.connections < 1 || o.threads < 1 || o.rate < 0) {
    std::cerr << dedicated::bench::kUsage << "\n";
    return 2;
  }
  return dedicated::bench::Run(o);
}
