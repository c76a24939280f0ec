#pragma once
// In-process nudges between components of one controlplane: a new or woken operation for the workers, a
// changed assignment for the node streams. Other controlplane replicas notice the same changes by polling
// the database, so a lost nudge only costs latency.

namespace dedicated::controlplane {

class Wakeups {
 public:
  virtual ~Wakeups() = default;
  virtual void OperationsChanged() = 0;
  virtual void AssignmentsChanged() = 0;
};

class NoWakeups final : public Wakeups {
 public:
  void OperationsChanged() override {}
  void AssignmentsChanged() override {}
};

}  // namespace dedicated::controlplane
