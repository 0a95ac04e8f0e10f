#include "runtime/kube/controller.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <spdlog/spdlog.h>

#include <ostream>
#include <thread>
#include <vector>

namespace kappa::kube {

const char* outcomeName(Outcome::Kind kind) {
  switch (kind) {
    case Outcome::Kind::kDone:
      return "done";
    case Outcome::Kind::kRequeue:
      return "requeue";
    case Outcome::Kind::kRetry:
      return "retry";
    case Outcome::Kind::kTerminal:
      return "terminal";
  }
  return "unknown";
}

std::ostream& operator<<(std::ostream& os, const Outcome& o) {
  os << outcomeName(o.kind());
  if (o.kind() == Outcome::Kind::kRequeue) os << "(" << o.after().count() << "s)";
  if (!o.message().empty()) os << ": " << o.message();
  return os;
}

Controller::Controller(WorkQueue& queue, Reconcile reconcile, prometheus::Registry& registry,
                       ControllerOptions options)
    : queue_(queue), reconcile_(std::move(reconcile)), options_(options) {
  auto& results = prometheus::BuildCounter()
                      .Name("kappa_operator_reconciles_total")
                      .Help("Reconcile passes by outcome")
                      .Register(registry);
  for (auto kind : {Outcome::Kind::kDone, Outcome::Kind::kRequeue, Outcome::Kind::kRetry,
                    Outcome::Kind::kTerminal}) {
    results_[static_cast<int>(kind)] = &results.Add({{"result", outcomeName(kind)}});
  }
  seconds_ = &prometheus::BuildHistogram()
                  .Name("kappa_operator_reconcile_seconds")
                  .Help("Duration of one reconcile pass")
                  .Register(registry)
                  .Add({}, prometheus::Histogram::BucketBoundaries{0.005, 0.01, 0.05, 0.1, 0.5, 1,
                                                                   5, 10, 30});
  queueDepth_ = &prometheus::BuildGauge()
                     .Name("kappa_operator_queue_depth")
                     .Help("Keys ready in the reconcile queue")
                     .Register(registry)
                     .Add({});
}

void Controller::run(std::stop_token stop) {
  std::vector<std::jthread> workers;
  for (int i = 0; i < options_.workers; ++i) {
    workers.emplace_back([this, stop] {
      while (!stop.stop_requested()) processNext(options_.idlePoll);
    });
  }
  // The jthreads join here, once each worker saw the stop token after its current pass.
}

bool Controller::processNext(std::chrono::steady_clock::duration wait) {
  auto key = queue_.getFor(wait);
  queueDepth_->Set(static_cast<double>(queue_.len()));
  if (!key) return false;
  auto started = std::chrono::steady_clock::now();
  Outcome outcome = reconcile_(*key);
  seconds_->Observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  apply(*key, outcome);
  queue_.done(*key);
  return true;
}

void Controller::apply(const std::string& key, const Outcome& outcome) {
  results_[static_cast<int>(outcome.kind())]->Increment();
  switch (outcome.kind()) {
    case Outcome::Kind::kDone:
      queue_.forget(key);
      break;
    case Outcome::Kind::kRequeue:
      if (!outcome.message().empty()) {
        spdlog::info("msg=\"reconcile requeued\" key={} after={}s reason=\"{}\"", key,
                     outcome.after().count(), outcome.message());
      }
      queue_.forget(key);
      queue_.addAfter(key, outcome.after());
      break;
    case Outcome::Kind::kRetry:
      spdlog::warn("msg=\"reconcile failed, retrying with backoff\" key={} error=\"{}\"", key,
                   outcome.message());
      queue_.addRateLimited(key);
      break;
    case Outcome::Kind::kTerminal:
      spdlog::error(
          "msg=\"reconcile failed, not retried until the object changes\" key={} "
          "error=\"{}\"",
          key, outcome.message());
      queue_.forget(key);
      break;
  }
}

}  // namespace kappa::kube
