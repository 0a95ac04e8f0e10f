// The controller loop: N workers take keys from a WorkQueue, run one reconcile pass per key
// and map the pass's Outcome back onto the queue, with metrics of every pass. What a pass
// does is the caller's (a reconcile function); how often and when it runs again is this
// loop's, and only this loop's.
//
//   Outcome     queue                                   result label
//   done        forget the key's failures               "done"
//   requeue(d)  forget, then add again after d (0: now) "requeue"
//   retry       add again after the key's backoff       "retry"
//   terminal    forget; runs again on the next change   "terminal"
#pragma once

#include <prometheus/registry.h>

#include <chrono>
#include <functional>
#include <optional>
#include <stop_token>
#include <string>

#include "runtime/core/result.h"
#include "runtime/kube/work_queue.h"

namespace prometheus {
class Counter;
class Gauge;
class Histogram;
}  // namespace prometheus

namespace kappa::kube {

// What one reconcile pass asks of the loop. Built with the named constructors only, so no
// combination that means nothing (a retry with a delay, a terminal error to requeue) exists.
class Outcome {
 public:
  enum class Kind { kDone, kRequeue, kRetry, kTerminal };

  // Converged: run again only when something changes.
  static Outcome done() { return Outcome(Kind::kDone, {}, {}); }
  // Run again after `after` (0: at once), e.g. to sample progress; `reason` is logged.
  static Outcome requeueAfter(std::chrono::seconds after, std::string reason = {}) {
    return Outcome(Kind::kRequeue, after, std::move(reason));
  }
  // A step failed and may succeed later: run again after the key's exponential backoff.
  static Outcome retry(std::string error) { return Outcome(Kind::kRetry, {}, std::move(error)); }
  // The object cannot be handled as it is (e.g. a spec the code cannot read): no retry; the
  // next change of the object runs it again.
  static Outcome terminal(std::string error) {
    return Outcome(Kind::kTerminal, {}, std::move(error));
  }

  Kind kind() const { return kind_; }
  std::chrono::seconds after() const { return after_; }
  const std::string& message() const { return message_; }
  bool operator==(const Outcome&) const = default;

 private:
  Outcome(Kind kind, std::chrono::seconds after, std::string message)
      : kind_(kind), after_(after), message_(std::move(message)) {}
  Kind kind_;
  std::chrono::seconds after_{0};
  std::string message_;
};

// "done", "requeue", "retry", "terminal": the `result` label of the loop's metrics.
const char* outcomeName(Outcome::Kind kind);
std::ostream& operator<<(std::ostream& os, const Outcome& o);

struct ControllerOptions {
  int workers = 1;
  // How long an idle worker waits for a key before it looks at the stop token again.
  std::chrono::milliseconds idlePoll{500};
};

class Controller {
 public:
  using Reconcile = std::function<Outcome(const std::string& key)>;

  // Registers kappa_operator_reconciles_total{result}, kappa_operator_reconcile_seconds and
  // kappa_operator_queue_depth in `registry`.
  Controller(WorkQueue& queue, Reconcile reconcile, prometheus::Registry& registry,
             ControllerOptions options = {});

  // Runs the workers until `stop` fires; returns once all of them finished their pass.
  void run(std::stop_token stop);

  // One key: waits up to `wait` for it, runs its pass, applies the outcome. False when no key
  // came. The unit of run(), exposed for tests.
  bool processNext(std::chrono::steady_clock::duration wait);

 private:
  void apply(const std::string& key, const Outcome& outcome);

  WorkQueue& queue_;
  Reconcile reconcile_;
  ControllerOptions options_;
  prometheus::Counter* results_[4];
  prometheus::Histogram* seconds_;
  prometheus::Gauge* queueDepth_;
};

}  // namespace kappa::kube
