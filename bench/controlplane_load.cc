// controlplane_load: a closed-loop load generator for InstanceService.Get and List.
//
// Keeps exactly --concurrency calls in flight (each simulated client issues its next call from the
// completion callback of the previous one) over --channels separate HTTP/2 connections, for --duration
// after --warmup, and prints one line: requests, errors, RPS and latency percentiles. It prints figures;
// it asserts nothing (bench/run_controlplane_bench.sh compares them with the goals).
//
//   controlplane_load --target 127.0.0.1:50051 --seed 1000 --rpc get --concurrency 32 --duration 10s
//   controlplane_load --wait-ready 30s --duration 0     only wait until the server answers
//
// Gets need instance ids: --seed N creates bench-0 .. bench-<N-1> in --folder (ALREADY_EXISTS on a rerun
// is fine), waits until their create operations are done (with no GPU node they end in ERROR, which is
// fine for reads), and every run reads the ids back with List.
#include <grpcpp/grpcpp.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "dedicated/v1/instance_service.grpc.pb.h"
#include "services/common/flags.h"

namespace dedicated::bench {
namespace {

using Clock = std::chrono::steady_clock;
using v1::InstanceService;

constexpr char kUsage[] = R"(Usage: controlplane_load [flags]
Closed-loop load on InstanceService.Get or List: --concurrency calls in flight over --channels
connections for --duration after --warmup. Prints requests, errors, RPS and p50/p90/p99/max latency.
--duration 0 runs only the readiness wait and the seeding.)";

struct Options {
  std::string target = "127.0.0.1:50051";
  std::string rpc = "get";
  std::string folder = "bench";
  int64_t concurrency = 32;
  int64_t channels = 4;
  int64_t seed = 0;
  int64_t page_size = 100;
  absl::Duration duration = absl::Seconds(10);
  absl::Duration warmup = absl::Seconds(2);
  absl::Duration timeout = absl::Seconds(2);
  absl::Duration wait_ready = absl::ZeroDuration();
  bool json = false;
};

Clock::time_point After(absl::Duration d) { return Clock::now() + absl::ToChronoNanoseconds(d); }

std::chrono::system_clock::time_point Deadline(absl::Duration d) {
  return std::chrono::system_clock::now() + absl::ToChronoNanoseconds(d);
}

std::string Describe(const grpc::Status& s) {
  return absl::StrCat(absl::StatusCodeToString(static_cast<absl::StatusCode>(s.error_code())), ": ", s.error_message());
}

// One stub per channel; each channel its own TCP connection (no subchannel sharing between them), so
// that one HTTP/2 connection and the single thread that reads it do not cap the throughput.
std::vector<std::unique_ptr<InstanceService::Stub>> MakeStubs(const std::string& target, int64_t channels) {
  std::vector<std::unique_ptr<InstanceService::Stub>> stubs;
  for (int64_t i = 0; i < channels; ++i) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt("dedicated.bench.channel", static_cast<int>(i));  // distinct args: distinct channel
    stubs.push_back(
        InstanceService::NewStub(grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args)));
  }
  return stubs;
}

// Polls List until it answers OK (the server is up and reaches its database).
absl::Status WaitReady(InstanceService::Stub& stub, const Options& o) {
  absl::Time give_up = absl::Now() + o.wait_ready;
  std::string last;
  while (true) {
    grpc::ClientContext ctx;
    ctx.set_deadline(Deadline(absl::Seconds(1)));
    ctx.set_wait_for_ready(true);
    v1::ListInstancesRequest req;
    req.set_folder_id(o.folder);
    req.set_page_size(1);
    v1::ListInstancesResponse resp;
    grpc::Status s = stub.List(&ctx, req, &resp);
    if (s.ok()) return absl::OkStatus();
    last = Describe(s);
    if (absl::Now() >= give_up) {
      return absl::UnavailableError(absl::StrCat(o.target, " did not answer within ",
                                                 absl::FormatDuration(o.wait_ready), "; last error: ", last));
    }
    absl::SleepFor(absl::Milliseconds(200));
  }
}

// All instances of the folder, page by page.
absl::StatusOr<std::vector<v1::Instance>> ListFolder(InstanceService::Stub& stub, const Options& o) {
  std::vector<v1::Instance> out;
  std::string token;
  do {
    grpc::ClientContext ctx;
    ctx.set_deadline(Deadline(absl::Seconds(10)));
    v1::ListInstancesRequest req;
    req.set_folder_id(o.folder);
    req.set_page_size(1000);
    req.set_page_token(token);
    v1::ListInstancesResponse resp;
    grpc::Status s = stub.List(&ctx, req, &resp);
    if (!s.ok()) return absl::UnavailableError(absl::StrCat("List of folder ", o.folder, ": ", Describe(s)));
    for (auto& i : *resp.mutable_instances()) out.push_back(std::move(i));
    token = resp.next_page_token();
  } while (!token.empty());
  return out;
}

// Creates bench-0 .. bench-<n-1> from a few threads; an existing name is fine.
absl::Status Seed(InstanceService::Stub& stub, const Options& o) {
  constexpr int kThreads = 8;
  std::atomic<int64_t> next{0}, created{0}, existed{0};
  absl::Mutex mu;
  std::string first_error;  // guarded by mu
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int64_t i = next++; i < o.seed; i = next++) {
        grpc::ClientContext ctx;
        ctx.set_deadline(Deadline(absl::Seconds(10)));
        v1::CreateInstanceRequest req;
        req.set_folder_id(o.folder);
        req.set_name(absl::StrCat("bench-", i));
        req.set_description("controlplane_load seed");
        req.set_model_id("gemma-3-4b-it");
        req.set_configuration("S");
        req.set_replica_count(1);
        v1::Operation op;
        grpc::Status s = stub.Create(&ctx, req, &op);
        if (s.ok()) {
          ++created;
        } else if (s.error_code() == grpc::StatusCode::ALREADY_EXISTS) {
          ++existed;
        } else {
          absl::MutexLock lock(&mu);
          if (first_error.empty()) first_error = absl::StrCat(req.name(), ": ", Describe(s));
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  absl::MutexLock lock(&mu);
  if (!first_error.empty()) return absl::InternalError(absl::StrCat("seeding failed: ", first_error));
  std::fprintf(stderr, "seed: %lld created, %lld already existed in folder %s\n",
               static_cast<long long>(created.load()), static_cast<long long>(existed.load()), o.folder.c_str());
  return absl::OkStatus();
}

// Waits until no instance of the folder is still being provisioned, so that the operation workers are
// idle while we measure reads.
absl::StatusOr<std::vector<std::string>> SettledIds(InstanceService::Stub& stub, const Options& o) {
  absl::Time give_up = absl::Now() + absl::Minutes(2);
  while (true) {
    absl::StatusOr<std::vector<v1::Instance>> all = ListFolder(stub, o);
    if (!all.ok()) return all.status();
    std::map<std::string, int> by_status;
    std::vector<std::string> ids;
    bool busy = false;
    for (const v1::Instance& i : *all) {
      ++by_status[v1::Instance::Status_Name(i.status())];
      busy = busy || i.status() == v1::Instance::CREATING || i.status() == v1::Instance::STARTING;
      ids.push_back(i.id());
    }
    if (!busy || absl::Now() >= give_up) {
      std::string summary;
      for (const auto& [status, n] : by_status) absl::StrAppend(&summary, summary.empty() ? "" : ", ", status, "=", n);
      std::fprintf(stderr, "folder %s: %zu instances (%s)%s\n", o.folder.c_str(), ids.size(),
                   summary.empty() ? "none" : summary.c_str(), busy ? " [still provisioning after 2m]" : "");
      return ids;
    }
    absl::SleepFor(absl::Milliseconds(500));
  }
}

// What one run measured. Latencies are of successful calls completed inside the measurement window.
struct Shared {
  Clock::time_point measure_start, measure_end;
  std::atomic<int> running{0};
  absl::Mutex mu;
  std::string first_error ABSL_GUARDED_BY(mu);
};

// One simulated client: one call in flight at a time; the next is issued from the callback of the last.
// Its fields are touched by one callback at a time, so they need no lock.
class Client {
 public:
  Client(InstanceService::Stub* stub, const Options* o, const std::vector<std::string>* ids, size_t first_id,
         Shared* shared)
      : stub_(stub), o_(o), ids_(ids), next_id_(first_id), shared_(shared) {}

  void Start() { Issue(); }

  const std::vector<int64_t>& latencies_ns() const { return latencies_ns_; }
  int64_t errors() const { return errors_; }

 private:
  void Issue() {
    ctx_ = std::make_unique<grpc::ClientContext>();
    ctx_->set_deadline(Deadline(o_->timeout));
    started_ = Clock::now();
    if (o_->rpc == "get") {
      get_req_.set_instance_id((*ids_)[next_id_++ % ids_->size()]);
      stub_->async()->Get(ctx_.get(), &get_req_, &instance_, [this](grpc::Status s) { Done(s); });
    } else {
      list_req_.set_folder_id(o_->folder);
      list_req_.set_page_size(o_->page_size);
      stub_->async()->List(ctx_.get(), &list_req_, &list_resp_, [this](grpc::Status s) { Done(s); });
    }
  }

  void Done(const grpc::Status& s) {
    Clock::time_point now = Clock::now();
    bool measured = now >= shared_->measure_start && now < shared_->measure_end;
    if (measured) {
      if (s.ok()) {
        latencies_ns_.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(now - started_).count());
      } else {
        ++errors_;
        absl::MutexLock lock(&shared_->mu);
        if (shared_->first_error.empty()) shared_->first_error = Describe(s);
      }
    }
    if (now >= shared_->measure_end) {
      shared_->running.fetch_sub(1);
      return;
    }
    Issue();
  }

  InstanceService::Stub* stub_;
  const Options* o_;
  const std::vector<std::string>* ids_;
  size_t next_id_;
  Shared* shared_;
  std::unique_ptr<grpc::ClientContext> ctx_;
  Clock::time_point started_;
  v1::GetInstanceRequest get_req_;
  v1::Instance instance_;
  v1::ListInstancesRequest list_req_;
  v1::ListInstancesResponse list_resp_;
  std::vector<int64_t> latencies_ns_;
  int64_t errors_ = 0;
};

double CpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// Nearest-rank percentile of sorted values, in milliseconds.
double PercentileMs(const std::vector<int64_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  rank = std::clamp<size_t>(rank, 1, sorted.size());
  return static_cast<double>(sorted[rank - 1]) / 1e6;
}

int Run(const Options& o) {
  std::vector<std::unique_ptr<InstanceService::Stub>> stubs = MakeStubs(o.target, o.channels);
  if (o.wait_ready > absl::ZeroDuration()) {
    if (absl::Status s = WaitReady(*stubs[0], o); !s.ok()) {
      std::cerr << "controlplane_load: " << s.message() << "\n";
      return 1;
    }
  }
  if (o.seed > 0) {
    if (absl::Status s = Seed(*stubs[0], o); !s.ok()) {
      std::cerr << "controlplane_load: " << s.message() << "\n";
      return 1;
    }
  }
  std::vector<std::string> ids;
  if (o.seed > 0 || (o.rpc == "get" && o.duration > absl::ZeroDuration())) {
    absl::StatusOr<std::vector<std::string>> settled = SettledIds(*stubs[0], o);
    if (!settled.ok()) {
      std::cerr << "controlplane_load: " << settled.status().message() << "\n";
      return 1;
    }
    ids = std::move(*settled);
  }
  if (o.duration <= absl::ZeroDuration()) return 0;
  if (o.rpc == "get" && ids.empty()) {
    std::cerr << "controlplane_load: folder " << o.folder << " has no instances to Get; pass --seed N\n";
    return 1;
  }

  Shared shared;
  shared.measure_start = After(o.warmup);
  shared.measure_end = shared.measure_start + absl::ToChronoNanoseconds(o.duration);
  std::vector<std::unique_ptr<Client>> clients;
  for (int64_t i = 0; i < o.concurrency; ++i) {
    // Clients start at different ids so that they do not read the same rows in lockstep.
    size_t first_id = ids.empty() ? 0 : static_cast<size_t>(i) * ids.size() / static_cast<size_t>(o.concurrency);
    clients.push_back(std::make_unique<Client>(stubs[i % o.channels].get(), &o, &ids, first_id, &shared));
  }
  shared.running = static_cast<int>(clients.size());
  for (auto& c : clients) c->Start();

  std::this_thread::sleep_until(shared.measure_start);
  double cpu_start = CpuSeconds();
  std::this_thread::sleep_until(shared.measure_end);
  double cpu_seconds = CpuSeconds() - cpu_start;
  // Calls still in flight finish within their deadline.
  Clock::time_point drain_until = After(o.timeout + absl::Seconds(1));
  while (shared.running.load() > 0 && Clock::now() < drain_until)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  if (shared.running.load() > 0) {
    std::cerr << "controlplane_load: calls still running after their deadline; exiting without waiting\n";
    std::cout.flush();
    std::_Exit(1);
  }

  std::vector<int64_t> all;
  int64_t errors = 0;
  for (const auto& c : clients) {
    all.insert(all.end(), c->latencies_ns().begin(), c->latencies_ns().end());
    errors += c->errors();
  }
  std::sort(all.begin(), all.end());
  const double seconds = absl::ToDoubleSeconds(o.duration);
  const double rps = static_cast<double>(all.size()) / seconds;
  const double p50 = PercentileMs(all, 50), p90 = PercentileMs(all, 90), p99 = PercentileMs(all, 99);
  const double max = all.empty() ? 0 : static_cast<double>(all.back()) / 1e6;
  std::string first_error;
  {
    absl::MutexLock lock(&shared.mu);
    first_error = shared.first_error;
  }
  if (o.json) {
    nlohmann::json j = {{"rpc", o.rpc},
                        {"target", o.target},
                        {"concurrency", o.concurrency},
                        {"channels", o.channels},
                        {"duration_s", seconds},
                        {"requests", all.size()},
                        {"errors", errors},
                        {"first_error", first_error},
                        {"rps", std::round(rps * 10) / 10},
                        {"p50_ms", std::round(p50 * 1000) / 1000},
                        {"p90_ms", std::round(p90 * 1000) / 1000},
                        {"p99_ms", std::round(p99 * 1000) / 1000},
                        {"max_ms", std::round(max * 1000) / 1000},
                        {"client_cpu_cores", std::round(cpu_seconds / seconds * 100) / 100}};
    std::cout << j.dump() << std::endl;
  } else {
    std::cout << absl::StrFormat(
                     "rpc=%s concurrency=%d channels=%d duration=%.0fs requests=%d errors=%d rps=%.1f p50=%.3fms "
                     "p90=%.3fms p99=%.3fms max=%.3fms client_cpu=%.2f cores%s",
                     o.rpc, o.concurrency, o.channels, seconds, all.size(), errors, rps, p50, p90, p99, max,
                     cpu_seconds / seconds,
                     first_error.empty() ? "" : absl::StrCat(" first_error=\"", first_error, "\""))
              << std::endl;
  }
  return all.empty() ? 1 : 0;
}

}  // namespace
}  // namespace dedicated::bench

int main(int argc, char** argv) {
  using dedicated::bench::Options;
  // As in the controlplane: no Abseil deadlock detection on gRPC's locks (Debian's Abseil has it on).
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  Options o;
  dedicated::FlagSet flags(dedicated::bench::kUsage);
  flags.String("target", "", &o.target, "controlplane gRPC address (host:port)");
  flags.String("rpc", "", &o.rpc, "get or list");
  flags.String("folder", "", &o.folder, "folder whose instances are read (and seeded)");
  flags.Int("concurrency", "", &o.concurrency, "calls in flight (simulated clients)");
  flags.Int("channels", "", &o.channels, "gRPC channels (TCP connections); clients are spread over them");
  flags.Int("seed", "", &o.seed, "first create instances bench-0 .. bench-<N-1> in --folder (existing ones are kept)");
  flags.Int("page-size", "", &o.page_size, "page_size of List calls");
  flags.Duration("duration", "", &o.duration, "measured time; 0: only wait for readiness and seed");
  flags.Duration("warmup", "", &o.warmup, "load before the measurement starts (not counted)");
  flags.Duration("timeout", "", &o.timeout, "deadline of each call");
  flags.Duration("wait-ready", "", &o.wait_ready, "first wait up to this long until the server answers List");
  flags.Bool("json", "", &o.json, "print the result as one JSON object");
  if (absl::Status s = flags.Parse(dedicated::ArgsFrom(argc, argv)); !s.ok()) {
    std::cerr << "controlplane_load: " << s.message() << "\n";
    return 2;
  }
  if (flags.help_requested()) {
    std::cout << flags.Help();
    return 0;
  }
  if (o.rpc != "get" && o.rpc != "list") {
    std::cerr << "controlplane_load: --rpc: get or list\n";
    return 2;
  }
  if (o.concurrency < 1 || o.concurrency > 10000 || o.channels < 1 || o.channels > 256 || o.seed < 0) {
    std::cerr << "controlplane_load: --concurrency 1..10000, --channels 1..256, --seed >= 0\n";
    return 2;
  }
  if (o.timeout <= absl::ZeroDuration() || o.warmup < absl::ZeroDuration() || o.duration < absl::ZeroDuration()) {
    std::cerr << "controlplane_load: --timeout must be positive, --warmup and --duration not negative\n";
    return 2;
  }
  return dedicated::bench::Run(o);
}
