// Output comparisons of candidates, run on background threads so that a reconcile pass never
// blocks for the length of a comparison (validation.timeoutSeconds can be many minutes). A
// run is identified by the object key and the RunValidation's requestedAt; its outcome is
// handed back to decide() as KafkaFacts::validation. Runs live in memory only: after an
// operator restart decide() sees no run for its requestedAt and asks again.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "controllers/pipelineversion/actions.h"
#include "runtime/core/clock.h"
#include "runtime/kafka/output_comparator.h"

namespace kappa::controllers {

class ValidationRuns {
 public:
  // Called from the run's thread when it has finished, e.g. to queue the object again.
  explicit ValidationRuns(std::function<void(const std::string& key)> onDone = {},
                          Clock& clock = systemClock())
      : onDone_(std::move(onDone)), clock_(clock) {}
  ~ValidationRuns();
  ValidationRuns(const ValidationRuns&) = delete;
  ValidationRuns& operator=(const ValidationRuns&) = delete;

  // Starts a comparison unless one for the same requestedAt is still running.
  void start(const std::string& key, const RunValidation& request,
             std::shared_ptr<kafka::OutputComparator> comparator);
  std::optional<ValidationRun> get(const std::string& key) const;
  void forget(const std::string& key);
  // Comparison threads not joined yet: the running ones, and finished ones until the next
  // start() joins them.
  size_t threads() const;

 private:
  struct Thread {
    std::shared_ptr<std::atomic<bool>> finished;
    std::jthread thread;
  };

  std::function<void(const std::string&)> onDone_;
  Clock& clock_;
  mutable std::mutex mu_;
  std::map<std::string, ValidationRun> runs_;
  std::map<std::string, std::shared_ptr<kafka::CompareProgress>> progress_;  // of runs_
  std::vector<Thread> threads_;
};

}  // namespace kappa::controllers
