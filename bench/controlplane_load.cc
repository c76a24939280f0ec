// controlplane_load: a closed-loop load generator for InstanceService.Get and List.
//
// Keeps exactly --concurrency calls in flight (each simulated client issues its next call when the
// previous one completes, on --threads completion-queue threads) over --channels separate HTTP/2
// connections, for --duration after --warmup, and prints one line: requests, errors, RPS and latency
// percentiles. It prints figures; it asserts nothing (bench/run_controlplane_bench.sh compares them with
// the goals).
//
//   controlplane_load --target 127.0.0.1:50051 --seed 1000 --rpc get --concurrency 32 --duration 10s
//   controlplane_load --wait-ready 30s --duration 0     only wait until the server answers
//
// Gets need instance ids: --seed N creates bench-0 .. bench-<N-1> in --folder (ALREADY_EXISTS on a rerun
// is fine), waits until their create operations are done (with no GPU node they end in ERROR, which is
// fine for reads), and every run reads the ids back with List.
//
// Since issue 3 every RPC is authenticated: --api-key-file names a file with an API key secret, sent as
// `authorization: Api-Key <secret>` on every call (readiness check, seeding, load). The secret is never
// printed. --setup-iam N prepares the issue-3 fixture with an admin key: N service accounts with
// ai.models.viewer on --folder, plus "bench-reader" with the same role, whose new key goes to
// --write-key-file (see kUsage).
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
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
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "dedicated/v1/access_binding_service.grpc.pb.h"
#include "dedicated/v1/api_key_service.grpc.pb.h"
#include "dedicated/v1/instance_service.grpc.pb.h"
#include "services/common/flags.h"

namespace dedicated::bench {
namespace {

using Clock = std::chrono::steady_clock;
using v1::InstanceService;

constexpr char kUsage[] = R"(Usage: controlplane_load [flags]
Closed-loop load on InstanceService.Get or List: --concurrency calls in flight over --channels
connections for --duration after --warmup. Prints requests, errors, RPS and p50/p90/p99/max latency.
--duration 0 runs only the readiness wait, the IAM setup and the seeding.

Authentication: every call (readiness check, IAM setup, seeding, load) carries
`authorization: Api-Key <secret>`, the secret being the contents of --api-key-file with surrounding
whitespace trimmed (e.g. the admin key file written by `controlplane bootstrap`). The secret is never
printed. Without --api-key-file calls carry no credentials (only useful against pre-issue-3 servers).

--setup-iam N (needs a key that may manage service accounts, keys and bindings on --folder, e.g. the
bootstrap admin key; N >= 0, -1 = off): creates service accounts bench-sa-0 .. bench-sa-<N-1> and
bench-reader in --folder (existing ones are kept), grants each of them ai.models.viewer on --folder
with UpdateAccessBindings (at most 1000 deltas per call; bindings that exist are kept), creates a new
API key for bench-reader and writes its secret to --write-key-file (mode 0600). The folder then holds
N+1 more bindings, and the written key reads instances through a folder binding among them.

  controlplane_load --api-key-file admin.key --folder F --setup-iam 1000 --write-key-file reader.key --duration 0
  controlplane_load --api-key-file reader.key --folder F --rpc get --duration 10s)";

struct Options {
  std::string target = "127.0.0.1:50051";
  std::string rpc = "get";
  std::string folder = "bench";
  int64_t concurrency = 32;
  int64_t channels = 4;
  int64_t threads = 1;
  std::string client_stack = "minimal";
  int64_t seed = 0;
  int64_t page_size = 100;
  absl::Duration duration = absl::Seconds(10);
  absl::Duration warmup = absl::Seconds(2);
  absl::Duration timeout = absl::Seconds(2);
  absl::Duration wait_ready = absl::ZeroDuration();
  bool json = false;
  std::string api_key_file;
  int64_t setup_iam = -1;  // -1: off
  std::string write_key_file;
  // "Api-Key <secret>" from --api-key-file; empty: no credentials. Never printed.
  std::string authorization;
};

// Every ClientContext of this program goes through here, so that every call carries the key.
void Authenticate(grpc::ClientContext& ctx, const Options& o) {
  if (!o.authorization.empty()) ctx.AddMetadata("authorization", o.authorization);
}

// The trimmed contents of an API key file; the error never includes the contents.
absl::StatusOr<std::string> ReadSecretFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat("--api-key-file ", path, ": ", std::strerror(errno)));
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::string secret(absl::StripAsciiWhitespace(data));
  if (secret.empty()) return absl::InvalidArgumentError(absl::StrCat("--api-key-file ", path, ": empty"));
  if (secret.find_first_of(" \t\r\n") != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("--api-key-file ", path, ": expected one secret on one line"));
  }
  return secret;
}

// Writes a secret to `path` with mode 0600 from the start (as `controlplane bootstrap` does).
absl::Status WriteSecretFile(const std::string& path, const std::string& secret) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return absl::InvalidArgumentError(absl::StrCat("--write-key-file ", path, ": ", std::strerror(errno)));
  fchmod(fd, 0600);  // an existing file keeps its mode through O_TRUNC
  std::string data = secret + "\n";
  bool ok = write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size());
  ok = (fsync(fd) == 0) && ok;
  ok = (close(fd) == 0) && ok;
  if (!ok) return absl::InternalError(absl::StrCat("--write-key-file ", path, ": write failed"));
  return absl::OkStatus();
}

Clock::time_point After(absl::Duration d) { return Clock::now() + absl::ToChronoNanoseconds(d); }

std::chrono::system_clock::time_point Deadline(absl::Duration d) {
  return std::chrono::system_clock::now() + absl::ToChronoNanoseconds(d);
}

std::string Describe(const grpc::Status& s) {
  return absl::StrCat(absl::StatusCodeToString(static_cast<absl::StatusCode>(s.error_code())), ": ", s.error_message());
}

// Each channel its own TCP connection (no subchannel sharing between them), so that one HTTP/2
// connection and the single thread that reads it do not cap the throughput.
std::vector<std::shared_ptr<grpc::Channel>> MakeChannels(const std::string& target, int64_t channels,
                                                         bool minimal_stack) {
  std::vector<std::shared_ptr<grpc::Channel>> out;
  for (int64_t i = 0; i < channels; ++i) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt("dedicated.bench.channel", static_cast<int>(i));  // distinct args: distinct channel
    if (minimal_stack) {
      // A load generator's own CPU is taken from the server it measures on a small machine. gRPC's
      // minimal client stack leaves out the channel filters it can do without: 15-25% less client CPU
      // per call here (docs/benchmarks.md). Deadlines stay enforced.
      args.SetInt(GRPC_ARG_MINIMAL_STACK, 1);
      args.SetInt(GRPC_ARG_ENABLE_DEADLINE_CHECKS, 1);
    }
    out.push_back(grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args));
  }
  return out;
}

// Polls List until it answers OK (the server is up and reaches its database).
absl::Status WaitReady(InstanceService::Stub& stub, const Options& o) {
  absl::Time give_up = absl::Now() + o.wait_ready;
  std::string last;
  while (true) {
    grpc::ClientContext ctx;
    Authenticate(ctx, o);
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
    Authenticate(ctx, o);
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
        Authenticate(ctx, o);
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

// --setup-iam: service accounts bench-sa-0 .. bench-sa-<N-1> and bench-reader in --folder, each with
// ai.models.viewer on the folder, and a new key of bench-reader in --write-key-file. Rerunnable:
// existing accounts and bindings are kept (a new key is created on every run).
absl::Status SetupIam(const std::shared_ptr<grpc::Channel>& channel, const Options& o) {
  constexpr char kRole[] = "ai.models.viewer";
  constexpr char kReader[] = "bench-reader";
  constexpr int kThreads = 8;
  constexpr int kMaxDeltas = 1000;  // UpdateAccessBindingsRequest: at most 1000 deltas
  auto accounts = v1::ServiceAccountService::NewStub(channel);
  auto keys = v1::ApiKeyService::NewStub(channel);
  auto bindings = v1::AccessBindingService::NewStub(channel);

  // 1. The accounts, from a few threads; index o.setup_iam is bench-reader.
  std::vector<std::string> names;
  for (int64_t i = 0; i < o.setup_iam; ++i) names.push_back(absl::StrCat("bench-sa-", i));
  names.push_back(kReader);
  std::atomic<size_t> next{0};
  std::atomic<int64_t> created{0}, existed{0};
  absl::Mutex mu;
  std::string first_error;  // guarded by mu
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (size_t i = next++; i < names.size(); i = next++) {
        grpc::ClientContext ctx;
        Authenticate(ctx, o);
        ctx.set_deadline(Deadline(absl::Seconds(30)));
        v1::CreateServiceAccountRequest req;
        req.set_folder_id(o.folder);
        req.set_name(names[i]);
        req.set_description("controlplane_load --setup-iam");
        v1::ServiceAccount sa;
        grpc::Status s = accounts->Create(&ctx, req, &sa);
        if (s.ok()) {
          ++created;
        } else if (s.error_code() == grpc::StatusCode::ALREADY_EXISTS) {
          ++existed;
        } else {
          absl::MutexLock lock(&mu);
          if (first_error.empty()) first_error = absl::StrCat("service account ", names[i], ": ", Describe(s));
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  {
    absl::MutexLock lock(&mu);
    if (!first_error.empty()) return absl::InternalError(absl::StrCat("--setup-iam: ", first_error));
  }

  // 2. Their ids (created or found), by name.
  std::map<std::string, std::string> id_by_name;
  std::string token;
  do {
    grpc::ClientContext ctx;
    Authenticate(ctx, o);
    ctx.set_deadline(Deadline(absl::Seconds(30)));
    v1::ListServiceAccountsRequest req;
    req.set_folder_id(o.folder);
    req.set_page_size(1000);
    req.set_page_token(token);
    v1::ListServiceAccountsResponse resp;
    grpc::Status s = accounts->List(&ctx, req, &resp);
    if (!s.ok()) return absl::InternalError(absl::StrCat("--setup-iam: list service accounts: ", Describe(s)));
    for (const v1::ServiceAccount& sa : resp.service_accounts()) id_by_name[sa.name()] = sa.id();
    token = resp.next_page_token();
  } while (!token.empty());
  for (const std::string& name : names) {
    if (!id_by_name.contains(name)) {
      return absl::InternalError(absl::StrCat("--setup-iam: service account ", name, " not listed in ", o.folder));
    }
  }

  // 3. One ai.models.viewer binding on the folder per account, in calls of at most 1000 deltas;
  //    bench-reader's is the last one sent.
  int calls = 0;
  for (size_t start = 0; start < names.size(); start += kMaxDeltas) {
    grpc::ClientContext ctx;
    Authenticate(ctx, o);
    ctx.set_deadline(Deadline(absl::Seconds(60)));
    v1::UpdateAccessBindingsRequest req;
    req.set_resource_id(o.folder);
    for (size_t i = start; i < names.size() && i < start + kMaxDeltas; ++i) {
      v1::AccessBindingDelta* d = req.add_access_binding_deltas();
      d->set_action(v1::ADD);
      d->mutable_access_binding()->set_role_id(kRole);
      d->mutable_access_binding()->mutable_subject()->set_type("serviceAccount");
      d->mutable_access_binding()->mutable_subject()->set_id(id_by_name[names[i]]);
    }
    v1::Operation op;
    grpc::Status s = bindings->UpdateAccessBindings(&ctx, req, &op);
    if (!s.ok()) return absl::InternalError(absl::StrCat("--setup-iam: UpdateAccessBindings: ", Describe(s)));
    if (!op.done() || op.has_error()) {
      return absl::InternalError(absl::StrCat("--setup-iam: UpdateAccessBindings operation ", op.id(),
                                              op.done() ? " failed: " : " not done", op.error().message()));
    }
    ++calls;
  }

  // 4. A new key for bench-reader; only its file ever sees the secret.
  grpc::ClientContext ctx;
  Authenticate(ctx, o);
  ctx.set_deadline(Deadline(absl::Seconds(30)));
  v1::CreateApiKeyRequest req;
  req.set_subject_id(id_by_name[kReader]);
  req.set_description("controlplane_load --setup-iam");
  v1::CreateApiKeyResponse resp;
  grpc::Status s = keys->Create(&ctx, req, &resp);
  if (!s.ok()) return absl::InternalError(absl::StrCat("--setup-iam: create key of bench-reader: ", Describe(s)));
  if (absl::Status w = WriteSecretFile(o.write_key_file, resp.secret()); !w.ok()) return w;

  std::fprintf(stderr,
               "setup-iam: %zu service accounts in folder %s (%lld created, %lld already existed), %s on the "
               "folder for each (%d UpdateAccessBindings calls); bench-reader %s, new key %s written to %s\n",
               names.size(), o.folder.c_str(), static_cast<long long>(created.load()),
               static_cast<long long>(existed.load()), kRole, calls, id_by_name[kReader].c_str(),
               resp.api_key().id().c_str(), o.write_key_file.c_str());
  return absl::OkStatus();
}

// What one run measured. Latencies are of successful calls completed inside the measurement window.
struct Shared {
  Clock::time_point measure_start, measure_end;
  std::atomic<int> running{0};
  absl::Mutex mu;
  std::string first_error ABSL_GUARDED_BY(mu);
};

// One simulated client: one call in flight at a time; the next is issued when the last completes. Calls
// run on the completion-queue API: the thread that polls a queue also handles its completions, so a
// completion costs no hand-off to another thread (the callback API passes each one to gRPC's callback
// threads). The client's own CPU per call is shared with the server on a small machine, so it matters.
// Each client belongs to one queue and is touched only by that queue's thread, so it needs no lock.
class Client {
 public:
  Client(InstanceService::Stub* stub, const Options* o, const std::vector<std::string>* ids, size_t first_id,
         Shared* shared)
      : stub_(stub), o_(o), ids_(ids), next_id_(first_id), shared_(shared) {}

  void Start(grpc::CompletionQueue* cq) { Issue(cq); }

  // The call tagged with this client completed: records it and issues the next one. False when the
  // measurement window is over and the client stops.
  bool Done(grpc::CompletionQueue* cq) {
    Clock::time_point now = Clock::now();
    bool measured = now >= shared_->measure_start && now < shared_->measure_end;
    if (measured) {
      if (status_.ok()) {
        latencies_ns_.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(now - started_).count());
      } else {
        ++errors_;
        absl::MutexLock lock(&shared_->mu);
        if (shared_->first_error.empty()) shared_->first_error = Describe(status_);
      }
    }
    if (now >= shared_->measure_end) {
      shared_->running.fetch_sub(1);
      return false;
    }
    Issue(cq);
    return true;
  }

  const std::vector<int64_t>& latencies_ns() const { return latencies_ns_; }
  int64_t errors() const { return errors_; }

 private:
  void Issue(grpc::CompletionQueue* cq) {
    ctx_ = std::make_unique<grpc::ClientContext>();
    Authenticate(*ctx_, *o_);
    ctx_->set_deadline(Deadline(o_->timeout));
    started_ = Clock::now();
    if (o_->rpc == "get") {
      get_req_.set_instance_id((*ids_)[next_id_++ % ids_->size()]);
      get_reader_ = stub_->AsyncGet(ctx_.get(), get_req_, cq);
      get_reader_->Finish(&instance_, &status_, this);
    } else {
      list_req_.set_folder_id(o_->folder);
      list_req_.set_page_size(o_->page_size);
      list_reader_ = stub_->AsyncList(ctx_.get(), list_req_, cq);
      list_reader_->Finish(&list_resp_, &status_, this);
    }
  }

  InstanceService::Stub* stub_;
  const Options* o_;
  const std::vector<std::string>* ids_;
  size_t next_id_;
  Shared* shared_;
  std::unique_ptr<grpc::ClientContext> ctx_;
  Clock::time_point started_;
  grpc::Status status_;
  v1::GetInstanceRequest get_req_;
  v1::Instance instance_;
  std::unique_ptr<grpc::ClientAsyncResponseReader<v1::Instance>> get_reader_;
  v1::ListInstancesRequest list_req_;
  v1::ListInstancesResponse list_resp_;
  std::unique_ptr<grpc::ClientAsyncResponseReader<v1::ListInstancesResponse>> list_reader_;
  std::vector<int64_t> latencies_ns_;
  int64_t errors_ = 0;
};

// One polling thread per completion queue: handles the completions of its clients until all of them
// have stopped, then shuts the queue down and drains it.
void PollQueue(grpc::CompletionQueue* cq, int clients) {
  void* tag = nullptr;
  bool ok = false;
  while (clients > 0 && cq->Next(&tag, &ok)) {
    if (!static_cast<Client*>(tag)->Done(cq)) --clients;
  }
  cq->Shutdown();
  while (cq->Next(&tag, &ok)) {
  }
}

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
  std::vector<std::shared_ptr<grpc::Channel>> channels =
      MakeChannels(o.target, o.channels, o.client_stack == "minimal");
  std::vector<std::unique_ptr<InstanceService::Stub>> stubs;
  for (const auto& c : channels) stubs.push_back(InstanceService::NewStub(c));
  if (o.wait_ready > absl::ZeroDuration()) {
    if (absl::Status s = WaitReady(*stubs[0], o); !s.ok()) {
      std::cerr << "controlplane_load: " << s.message() << "\n";
      return 1;
    }
  }
  if (o.setup_iam >= 0) {
    if (absl::Status s = SetupIam(channels[0], o); !s.ok()) {
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
  std::vector<std::unique_ptr<grpc::CompletionQueue>> queues;
  std::vector<int> clients_per_queue(static_cast<size_t>(o.threads), 0);
  for (int64_t t = 0; t < o.threads; ++t) queues.push_back(std::make_unique<grpc::CompletionQueue>());
  shared.running = static_cast<int>(o.concurrency);
  for (int64_t i = 0; i < o.concurrency; ++i) {
    // Clients start at different ids so that they do not read the same rows in lockstep.
    size_t first_id = ids.empty() ? 0 : static_cast<size_t>(i) * ids.size() / static_cast<size_t>(o.concurrency);
    clients.push_back(std::make_unique<Client>(stubs[i % o.channels].get(), &o, &ids, first_id, &shared));
    size_t q = static_cast<size_t>(i % o.threads);
    ++clients_per_queue[q];
    clients.back()->Start(queues[q].get());
  }
  std::vector<std::thread> pollers;
  for (size_t q = 0; q < queues.size(); ++q) pollers.emplace_back(PollQueue, queues[q].get(), clients_per_queue[q]);

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
  for (std::thread& t : pollers) t.join();

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
                        {"folder", o.folder},
                        {"authenticated", !o.authorization.empty()},
                        {"concurrency", o.concurrency},
                        {"channels", o.channels},
                        {"client_stack", o.client_stack},
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
  flags.Int("threads", "", &o.threads,
            "client threads, each polling its own completion queue; clients are spread over them");
  flags.String("client-stack", "", &o.client_stack,
               "minimal (gRPC's minimal client stack, deadlines kept: less client CPU per call) or full");
  flags.Int("seed", "", &o.seed, "first create instances bench-0 .. bench-<N-1> in --folder (existing ones are kept)");
  flags.Int("page-size", "", &o.page_size, "page_size of List calls");
  flags.Duration("duration", "", &o.duration, "measured time; 0: only wait for readiness and seed");
  flags.Duration("warmup", "", &o.warmup, "load before the measurement starts (not counted)");
  flags.Duration("timeout", "", &o.timeout, "deadline of each call");
  flags.Duration("wait-ready", "", &o.wait_ready, "first wait up to this long until the server answers List");
  flags.Bool("json", "", &o.json, "print the result as one JSON object");
  flags.String("api-key-file", "DI_BENCH_API_KEY_FILE", &o.api_key_file,
               "file with the API key secret sent as `authorization: Api-Key <secret>` on every call");
  flags.Int("setup-iam", "", &o.setup_iam,
            "N >= 0: create N service accounts + bench-reader in --folder with ai.models.viewer there, and a "
            "key of bench-reader in --write-key-file (see above); -1: off");
  flags.String("write-key-file", "", &o.write_key_file, "--setup-iam writes bench-reader's new key here (mode 0600)");
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
  if (o.client_stack != "minimal" && o.client_stack != "full") {
    std::cerr << "controlplane_load: --client-stack: minimal or full\n";
    return 2;
  }
  if (o.concurrency < 1 || o.concurrency > 10000 || o.channels < 1 || o.channels > 256 || o.seed < 0 ||
      o.threads < 1 || o.threads > 64) {
    std::cerr << "controlplane_load: --concurrency 1..10000, --channels 1..256, --threads 1..64, --seed >= 0\n";
    return 2;
  }
  if (o.timeout <= absl::ZeroDuration() || o.warmup < absl::ZeroDuration() || o.duration < absl::ZeroDuration()) {
    std::cerr << "controlplane_load: --timeout must be positive, --warmup and --duration not negative\n";
    return 2;
  }
  if (o.setup_iam < -1 || o.setup_iam > 100000 || (o.setup_iam >= 0 && o.write_key_file.empty())) {
    std::cerr << "controlplane_load: --setup-iam N needs 0 <= N <= 100000 and --write-key-file\n";
    return 2;
  }
  if (!o.api_key_file.empty()) {
    absl::StatusOr<std::string> secret = dedicated::bench::ReadSecretFile(o.api_key_file);
    if (!secret.ok()) {
      std::cerr << "controlplane_load: " << secret.status().message() << "\n";
      return 2;
    }
    o.authorization = absl::StrCat("Api-Key ", *secret);
  }
  return dedicated::bench::Run(o);
}
