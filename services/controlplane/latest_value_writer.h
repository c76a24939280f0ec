#pragma once
// A server stream that sends complete snapshots (node assignments, the IAM snapshot). Writes are
// serialised: while one is in flight only the newest pending snapshot is kept, since snapshots are
// complete and older ones are worthless. Finish happens exactly once and never during a write.

#include <optional>

#include <grpcpp/grpcpp.h>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace dedicated::controlplane {

template <typename T>
class LatestValueWriter : public grpc::ServerWriteReactor<T> {
 public:
  // Called from any thread; never blocks.
  void PushValue(const T& value) {
    {
      absl::MutexLock lock(&mu_);
      if (finishing_) return;
      if (writing_) {
        pending_ = value;
        return;
      }
      writing_ = true;
      current_ = value;
    }
    this->StartWrite(&current_);
  }

  // Ends the stream with `status` (at once, or after the write in flight).
  void FinishOnce(const grpc::Status& status) {
    {
      absl::MutexLock lock(&mu_);
      if (finishing_) return;
      finishing_ = true;
      pending_.reset();
      if (writing_) {
        deferred_finish_ = status;
        return;
      }
    }
    this->Finish(status);
  }

  void OnWriteDone(bool ok) override {
    std::optional<grpc::Status> finish;
    bool start_next = false;
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      if (deferred_finish_.has_value()) {
        finish = deferred_finish_;
      } else if (!ok) {
        if (!finishing_) finish = grpc::Status(grpc::StatusCode::UNAVAILABLE, "stream broken");
        finishing_ = true;
      } else if (pending_.has_value()) {
        current_ = std::move(*pending_);
        pending_.reset();
        writing_ = true;
        start_next = true;
      }
    }
    if (finish.has_value()) {
      this->Finish(*finish);
    } else if (start_next) {
      this->StartWrite(&current_);
    }
  }

  void OnCancel() override { FinishOnce(grpc::Status::CANCELLED); }

 private:
  absl::Mutex mu_;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finishing_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<grpc::Status> deferred_finish_ ABSL_GUARDED_BY(mu_);
  std::optional<T> pending_ ABSL_GUARDED_BY(mu_);
  T current_;
};

// A stream refused before it started (authentication, bad request).
template <typename T>
class FailedStream final : public grpc::ServerWriteReactor<T> {
 public:
  explicit FailedStream(const grpc::Status& status) { this->Finish(status); }
  void OnDone() override { delete this; }
};

}  // namespace dedicated::controlplane
