// fleet_load: the Create -> ACTIVE throughput driver of issue 4 (bench/run_fleet_bench.sh runs it).
//
// Creates --instances instances in --folder with --concurrency Creates in flight (closed loop, callback
// API), a deterministic mix of models, configurations (S/M/L) and replica counts, then waits until none
// is CREATING or STARTING any more, and reads every Create operation once to learn how it ended and when.
// It prints:
//   - throughput: instances that reached ACTIVE / (finish time of the last one - send time of the first
//     Create), and its ratio to --goal (200/s in the issue): PASS or MISS;
//   - per-instance Create -> ACTIVE latency (Create sent -> operation finished) p50/p90/p99/max;
//   - the Create RPC's own latency and the rate at which Creates were accepted.
//
// "Finished" is the operation's modified_at, which the worker sets in the transaction that makes the
// instance ACTIVE (PostgreSQL's now(): the start of that transaction). Both clocks are this machine's
// wall clock. Waiting is cheap: two List calls with page_size 1 (status = CREATING, then STARTING) per
// --poll; the per-operation reads happen after the measured window.
//
//   fleet_load --target 127.0.0.1:50051 --api-key-file admin.key --folder F --instances 5000 --concurrency 32
#include <grpcpp/grpcpp.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "dedicated/v1/instance_service.grpc.pb.h"
#include "dedicated/v1/operation_service.grpc.pb.h"
#include "services/common/flags.h"

namespace dedicated::bench {
namespace {

using v1::InstanceService;
using v1::OperationService;

constexpr char kUsage[] = R"(Usage: fleet_load --target HOST:PORT --api-key-file PATH --folder F [flags]
Creates --instances instances (--concurrency Creates in flight), waits until every one is ACTIVE or
failed, and prints the Create -> ACTIVE throughput (ACTIVE instances / time from the first Create to the
last ACTIVE), its ratio to --goal with PASS/MISS, and the per-instance Create -> ACTIVE latency.

Shapes: --configurations "S:60,M:30,L:10" and --replicas "1:80,2:20" are weights; models cycle through
--models. The choice per instance is deterministic (--seed), so runs create the same fleet.)";

struct Options {
  std::string target = "127.0.0.1:50051";
  std::string api_key_file;
  std::string folder;
  int64_t instances = 5000;
  int64_t concurrency = 32;
  int64_t channels = 4;
  std::string name_prefix = "fleet";
  std::string models = "gemma-3-4b-it,gemma-3-12b-it,qwen2.5-7b-instruct,qwen2.5-vl-32b-instruct,t-pro-it-2.0-fp8";
  std::string configurations = "S:60,M:30,L:10";
  std::string replicas = "1:80,2:20";
  int64_t seed = 42;
  double goal = 200;
  absl::Duration poll = absl::Milliseconds(200);
  absl::Duration give_up = absl::Minutes(10);
  absl::Duration timeout = absl::Seconds(30);
  bool json = false;
  std::string authorization;  // "Api-Key <secret>", never printed
};

std::chrono::system_clock::time_point Deadline(absl::Duration d) {
  return std::chrono::system_clock::now() + absl::ToChronoNanoseconds(d);
}

std::string Describe(const grpc::Status& s) {
  return absl::StrCat(absl::StatusCodeToString(static_cast<absl::StatusCode>(s.error_code())), ": ", s.error_message());
}

int64_t NowMicros() { return absl::ToUnixMicros(absl::Now()); }

int64_t Micros(const google::protobuf::Timestamp& t) { return t.seconds() * 1000000 + t.nanos() / 1000; }

// "A:w,B:w" -> {A, w}...
absl::StatusOr<std::vector<std::pair<std::string, int>>> ParseWeights(const std::string& flag,
                                                                      const std::string& value) {
  std::vector<std::pair<std::string, int>> out;
  for (absl::string_view part : absl::StrSplit(value, ',', absl::SkipEmpty())) {
    std::vector<std::string> kv = absl::StrSplit(part, ':');
    int w;
    if (kv.size() != 2 || kv[0].empty() || !absl::SimpleAtoi(kv[1], &w) || w < 0) {
      return absl::InvalidArgumentError(absl::StrCat(flag, ": expected VALUE:WEIGHT,... got \"", part, "\""));
    }
    out.emplace_back(kv[0], w);
  }
  if (out.empty()) return absl::InvalidArgumentError(absl::StrCat(flag, ": empty"));
  return out;
}

struct Planned {
  std::string name, model, configuration;
  int replicas = 1;
};

// What happened to one instance.
struct Outcome {
  int64_t sent_us = 0;       // Create sent (wall clock)
  int64_t accepted_us = 0;   // Create answered
  std::string operation_id;  // empty: the Create failed
  std::string create_error;
  bool done = false;
  bool active = false;
  int64_t finished_us = 0;  // operation modified_at once done
  std::string error;        // the operation's error
};

class Creator {
 public:
  Creator(const Options& o, const std::vector<Planned>& plan, std::vector<Outcome>& out,
          std::vector<std::unique_ptr<InstanceService::Stub>>& stubs)
      : o_(o), plan_(plan), out_(out), stubs_(stubs) {}

  void Run() {
    running_ = static_cast<int>(std::min<int64_t>(o_.concurrency, static_cast<int64_t>(plan_.size())));
    for (int i = 0; i < running_; ++i) Next(stubs_[i % stubs_.size()].get());
    absl::MutexLock lock(&mu_);
    auto all_done = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return running_ == 0; };
    mu_.Await(absl::Condition(&all_done));
  }
  int64_t accepted() const { return accepted_.load(); }

 private:
  struct Call {
    grpc::ClientContext ctx;
    v1::CreateInstanceRequest req;
    v1::Operation op;
    size_t index;
  };

  void Next(InstanceService::Stub* stub) {
    size_t i = next_.fetch_add(1);
    if (i >= plan_.size()) {
      absl::MutexLock lock(&mu_);
      --running_;
      return;
    }
    auto* call = new Call;
    call->index = i;
    const Planned& p = plan_[i];
    call->req.set_folder_id(o_.folder);
    call->req.set_name(p.name);
    call->req.set_description("fleet_load");
    call->req.set_model_id(p.model);
    call->req.set_configuration(p.configuration);
    call->req.set_replica_count(p.replicas);
    if (!o_.authorization.empty()) call->ctx.AddMetadata("authorization", o_.authorization);
    call->ctx.set_deadline(Deadline(o_.timeout));
    out_[i].sent_us = NowMicros();
    stub->async()->Create(&call->ctx, &call->req, &call->op, [this, call, stub](grpc::Status s) {
      std::unique_ptr<Call> owned(call);
      Outcome& o = out_[owned->index];
      o.accepted_us = NowMicros();
      if (s.ok()) {
        o.operation_id = owned->op.id();
        ++accepted_;
      } else {
        o.create_error = Describe(s);
      }
      Next(stub);
    });
  }

  const Options& o_;
  const std::vector<Planned>& plan_;
  std::vector<Outcome>& out_;
  std::vector<std::unique_ptr<InstanceService::Stub>>& stubs_;
  std::atomic<size_t> next_{0};
  std::atomic<int64_t> accepted_{0};
  absl::Mutex mu_;
  int running_ ABSL_GUARDED_BY(mu_) = 0;
};

// True if the folder has an instance in `status` (one List call, page_size 1).
absl::StatusOr<bool> AnyInStatus(InstanceService::Stub& stub, const Options& o, const std::string& status) {
  grpc::ClientContext ctx;
  if (!o.authorization.empty()) ctx.AddMetadata("authorization", o.authorization);
  ctx.set_deadline(Deadline(o.timeout));
  v1::ListInstancesRequest req;
  req.set_folder_id(o.folder);
  req.set_page_size(1);
  req.set_filter(absl::StrCat("status = \"", status, "\""));
  v1::ListInstancesResponse resp;
  grpc::Status s = stub.List(&ctx, req, &resp);
  if (!s.ok()) return absl::UnavailableError(absl::StrCat("List ", status, ": ", Describe(s)));
  return resp.instances_size() > 0;
}

// Reads every accepted Create operation once, `concurrency` at a time.
void ReadOperations(const Options& o, std::vector<Outcome>& out, OperationService::Stub& stub) {
  std::atomic<size_t> next{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < std::min<int64_t>(o.concurrency, 16); ++t) {
    threads.emplace_back([&] {
      for (size_t i = next++; i < out.size(); i = next++) {
        if (out[i].operation_id.empty()) continue;
        for (int attempt = 0; attempt < 3; ++attempt) {
          grpc::ClientContext ctx;
          if (!o.authorization.empty()) ctx.AddMetadata("authorization", o.authorization);
          ctx.set_deadline(Deadline(o.timeout));
          v1::GetOperationRequest req;
          req.set_operation_id(out[i].operation_id);
          v1::Operation op;
          grpc::Status s = stub.Get(&ctx, req, &op);
          if (!s.ok()) {
            out[i].error = absl::StrCat("OperationService.Get: ", Describe(s));
            continue;
          }
          out[i].done = op.done();
          out[i].finished_us = Micros(op.modified_at());
          out[i].active = op.done() && op.has_response();
          out[i].error = op.has_error() ? absl::StrCat(absl::StatusCodeToString(static_cast<absl::StatusCode>(
                                                           op.error().code())),
                                                       ": ", op.error().message())
                                        : "";
          break;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
}

double Percentile(const std::vector<int64_t>& sorted_us, double p) {
  if (sorted_us.empty()) return 0;
  size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted_us.size())));
  rank = std::clamp<size_t>(rank, 1, sorted_us.size());
  return static_cast<double>(sorted_us[rank - 1]) / 1000.0;  // ms
}

double CpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

int Run(const Options& o) {
  auto configs = ParseWeights("--configurations", o.configurations);
  auto replicas = ParseWeights("--replicas", o.replicas);
  if (!configs.ok() || !replicas.ok()) {
    std::cerr << "fleet_load: " << (!configs.ok() ? configs.status() : replicas.status()).message() << "\n";
    return 2;
  }
  std::vector<std::string> models = absl::StrSplit(o.models, ',', absl::SkipEmpty());
  std::map<std::string, int> gpus_per_config = {{"S", 1}, {"M", 2}, {"L", 4}};  // the catalog's H100 shapes
  std::vector<int> cw, rw;
  for (auto& [c, w] : *configs) cw.push_back(w);
  for (auto& [r, w] : *replicas) rw.push_back(w);
  std::discrete_distribution<int> pick_config(cw.begin(), cw.end()), pick_replicas(rw.begin(), rw.end());
  std::mt19937 rng(static_cast<uint32_t>(o.seed));
  std::vector<Planned> plan;
  int64_t demand_gpus = 0;
  std::map<std::string, int> shapes;
  for (int64_t i = 0; i < o.instances; ++i) {
    Planned p;
    p.name = absl::StrCat(o.name_prefix, "-", i);
    p.model = models[i % models.size()];
    p.configuration = (*configs)[pick_config(rng)].first;
    int r;
    (void)absl::SimpleAtoi((*replicas)[pick_replicas(rng)].first, &r);
    p.replicas = r;
    demand_gpus += int64_t{r} * (gpus_per_config.contains(p.configuration) ? gpus_per_config[p.configuration] : 0);
    ++shapes[absl::StrCat(p.configuration, "x", r)];
    plan.push_back(std::move(p));
  }
  std::string shape_text;
  for (auto& [s, n] : shapes) absl::StrAppend(&shape_text, shape_text.empty() ? "" : " ", s, "=", n);
  std::cerr << "fleet_load: " << o.instances << " instances (" << shape_text << "), " << demand_gpus
            << " GPUs in all, " << o.concurrency << " Creates in flight\n";

  std::vector<std::unique_ptr<InstanceService::Stub>> stubs;
  std::shared_ptr<grpc::Channel> first;
  for (int64_t i = 0; i < o.channels; ++i) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt("dedicated.bench.channel", static_cast<int>(i));
    auto ch = grpc::CreateCustomChannel(o.target, grpc::InsecureChannelCredentials(), args);
    if (!first) first = ch;
    stubs.push_back(InstanceService::NewStub(ch));
  }
  auto operations = OperationService::NewStub(first);

  std::vector<Outcome> out(plan.size());
  const double cpu0 = CpuSeconds();
  const int64_t start_us = NowMicros();
  Creator creator(o, plan, out, stubs);
  // The waiter starts with the Creates: the throughput is measured from server timestamps, the waiter
  // only has to notice the end.
  std::thread create_thread([&] { creator.Run(); });
  create_thread.join();
  const int64_t creates_done_us = NowMicros();
  std::cerr << absl::StrFormat("fleet_load: %d of %d Creates accepted in %.2f s (%.0f/s)\n", creator.accepted(),
                               o.instances, (creates_done_us - start_us) / 1e6,
                               creator.accepted() / std::max(1e-9, (creates_done_us - start_us) / 1e6));

  absl::Time give_up = absl::Now() + o.give_up;
  bool settled = false;
  int64_t polls = 0;
  absl::Time last_print = absl::Now();
  while (absl::Now() < give_up) {
    ++polls;
    absl::StatusOr<bool> creating = AnyInStatus(*stubs[0], o, "CREATING");
    absl::StatusOr<bool> starting = creating.ok() && !*creating ? AnyInStatus(*stubs[0], o, "STARTING") : true;
    if (creating.ok() && starting.ok() && !*creating && !*starting) {
      settled = true;
      break;
    }
    if (absl::Now() - last_print >= absl::Seconds(5)) {
      last_print = absl::Now();
      std::cerr << absl::StrFormat("fleet_load: %.1f s after the first Create, instances still provisioning\n",
                                   (NowMicros() - start_us) / 1e6);
    }
    absl::SleepFor(o.poll);
  }
  const int64_t settled_us = NowMicros();
  const double load_cpu = CpuSeconds() - cpu0;
  if (!settled) std::cerr << "fleet_load: gave up waiting after " << absl::FormatDuration(o.give_up) << "\n";

  ReadOperations(o, out, *operations);

  // Figures.
  int64_t accepted = 0, active = 0, failed = 0, not_done = 0, create_failed = 0;
  int64_t first_sent = INT64_MAX, last_active = 0;
  std::vector<int64_t> latency_us, create_rpc_us;
  std::map<std::string, int64_t> errors;
  for (const Outcome& r : out) {
    first_sent = std::min(first_sent, r.sent_us);
    if (r.operation_id.empty()) {
      ++create_failed;
      ++errors[absl::StrCat("Create: ", r.create_error.substr(0, 120))];
      continue;
    }
    ++accepted;
    create_rpc_us.push_back(r.accepted_us - r.sent_us);
    if (!r.done) {
      ++not_done;
      continue;
    }
    if (!r.active) {
      ++failed;
      ++errors[r.error.substr(0, 120)];
      continue;
    }
    ++active;
    last_active = std::max(last_active, r.finished_us);
    latency_us.push_back(r.finished_us - r.sent_us);
  }
  std::sort(latency_us.begin(), latency_us.end());
  std::sort(create_rpc_us.begin(), create_rpc_us.end());
  const double window_s = active > 0 ? (last_active - first_sent) / 1e6 : 0;
  const double throughput = window_s > 0 ? active / window_s : 0;
  const double ratio = throughput / o.goal;
  const bool pass = active == o.instances && ratio >= 1.0;
  const double create_s = (creates_done_us - start_us) / 1e6;

  nlohmann::json j = {{"instances", o.instances},
                      {"concurrency", o.concurrency},
                      {"demand_gpus", demand_gpus},
                      {"shapes", shape_text},
                      {"accepted", accepted},
                      {"active", active},
                      {"failed", failed},
                      {"not_done", not_done},
                      {"create_failed", create_failed},
                      {"window_s", std::round(window_s * 1000) / 1000},
                      {"throughput_per_s", std::round(throughput * 10) / 10},
                      {"goal_per_s", o.goal},
                      {"ratio", std::round(ratio * 1000) / 1000},
                      {"verdict", pass ? "PASS" : "MISS"},
                      {"latency_p50_ms", std::round(Percentile(latency_us, 50))},
                      {"latency_p90_ms", std::round(Percentile(latency_us, 90))},
                      {"latency_p99_ms", std::round(Percentile(latency_us, 99))},
                      {"latency_max_ms", std::round(Percentile(latency_us, 100))},
                      {"create_phase_s", std::round(create_s * 1000) / 1000},
                      {"create_rate_per_s", std::round(accepted / std::max(create_s, 1e-9) * 10) / 10},
                      {"create_rpc_p50_ms", std::round(Percentile(create_rpc_us, 50) * 10) / 10},
                      {"create_rpc_p99_ms", std::round(Percentile(create_rpc_us, 99) * 10) / 10},
                      {"settle_detected_s", std::round((settled_us - start_us) / 1e3) / 1e3},
                      {"polls", polls},
                      {"client_cpu_cores",
                       std::round(load_cpu / std::max(1e-9, (settled_us - start_us) / 1e6) * 100) / 100}};
  nlohmann::json errs = nlohmann::json::object();
  for (auto& [e, n] : errors) errs[e] = n;
  j["errors"] = errs;
  if (o.json) {
    std::cout << j.dump() << std::endl;
  } else {
    std::cout << absl::StrFormat(
        "instances=%d active=%d failed=%d not_done=%d create_failed=%d window=%.2fs throughput=%.1f/s "
        "goal=%.0f/s ratio=%.2f %s latency p50=%.0fms p90=%.0fms p99=%.0fms max=%.0fms create_rate=%.1f/s\n",
        o.instances, active, failed, not_done, create_failed, window_s, throughput, o.goal, ratio,
        pass ? "PASS" : "MISS", Percentile(latency_us, 50), Percentile(latency_us, 90), Percentile(latency_us, 99),
        Percentile(latency_us, 100), accepted / std::max(create_s, 1e-9));
    for (auto& [e, n] : errors) std::cout << "  " << n << " x " << e << "\n";
  }
  return active > 0 ? 0 : 1;
}

}  // namespace
}  // namespace dedicated::bench

int main(int argc, char** argv) {
  using dedicated::bench::Options;
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  Options o;
  dedicated::FlagSet flags(dedicated::bench::kUsage);
  flags.String("target", "", &o.target, "controlplane gRPC address (host:port)");
  flags.String("api-key-file", "DI_BENCH_API_KEY_FILE", &o.api_key_file,
               "API key allowed to create instances in --folder (e.g. the bootstrap admin key)");
  flags.String("folder", "", &o.folder, "folder to create the instances in");
  flags.Int("instances", "", &o.instances, "instances to create");
  flags.Int("concurrency", "", &o.concurrency, "Create calls in flight");
  flags.Int("channels", "", &o.channels, "gRPC connections the Creates are spread over");
  flags.String("name-prefix", "", &o.name_prefix, "instances are named <prefix>-<i>");
  flags.String("models", "", &o.models, "comma-separated model ids, used in turn");
  flags.String("configurations", "", &o.configurations, "weights of S, M, L");
  flags.String("replicas", "", &o.replicas, "weights of replica counts");
  flags.Int("seed", "", &o.seed, "seed of the shape choice");
  flags.Duration("poll", "", &o.poll, "how often to look whether anything is still provisioning");
  flags.Duration("give-up", "", &o.give_up, "stop waiting after this long");
  flags.Duration("timeout", "", &o.timeout, "deadline of each call");
  flags.Bool("json", "", &o.json, "print the result as one JSON object");
  int64_t goal = 200;
  flags.Int("goal", "", &goal, "instances/s the throughput is compared with");
  if (absl::Status s = flags.Parse(dedicated::ArgsFrom(argc, argv)); !s.ok()) {
    std::cerr << "fleet_load: " << s.message() << "\n";
    return 2;
  }
  if (flags.help_requested()) {
    std::cout << flags.Help();
    return 0;
  }
  o.goal = static_cast<double>(goal);
  if (o.folder.empty() || o.instances < 1 || o.concurrency < 1 || o.channels < 1 || goal < 1) {
    std::cerr << "fleet_load: --folder is required; --instances, --concurrency, --channels, --goal >= 1\n";
    return 2;
  }
  if (!o.api_key_file.empty()) {
    std::ifstream in(o.api_key_file);
    std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::string secret(absl::StripAsciiWhitespace(data));
    if (secret.empty()) {
      std::cerr << "fleet_load: --api-key-file " << o.api_key_file << ": cannot read it or it is empty\n";
      return 2;
    }
    o.authorization = absl::StrCat("Api-Key ", secret);
  }
  return dedicated::bench::Run(o);
}
