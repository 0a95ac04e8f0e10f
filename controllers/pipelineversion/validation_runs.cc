#include "controllers/pipelineversion/validation_runs.h"

namespace kappa::controllers {

ValidationRuns::~ValidationRuns() {
  std::vector<Thread> threads;
  {
    std::lock_guard lock(mu_);
    threads.swap(threads_);
  }
  threads.clear();  // joins
}

void ValidationRuns::start(const std::string& key, const RunValidation& request,
                           std::shared_ptr<kafka::OutputComparator> comparator) {
  std::lock_guard lock(mu_);
  auto it = runs_.find(key);
  if (it != runs_.end() && it->second.requestedAt == request.requestedAt && !it->second.done) {
    return;
  }
  runs_[key] = ValidationRun{request.requestedAt, false, std::nullopt, ""};
  // Finished threads are joined here (they have no work left: joining is immediate), so an
  // operator that runs comparisons for months keeps only the running ones.
  std::erase_if(threads_, [](const Thread& t) { return t.finished->load(); });
  auto finished = std::make_shared<std::atomic<bool>>(false);
  auto body = [this, key, request, comparator = std::move(comparator)] {
    kafka::ComparePolicy policy;
    policy.sampleKeys = request.sampleKeys;
    policy.compareFields = request.compareFields;
    policy.ignoreFields = request.ignoreFields;
    policy.numericTolerance = request.numericTolerance;
    auto r = comparator->compare(request.servingTopic, request.candidateTopic, policy);
    {
      std::lock_guard lock(mu_);
      auto it = runs_.find(key);
      if (it == runs_.end() || it->second.requestedAt != request.requestedAt) return;
      it->second.done = true;
      if (r.ok()) {
        ValidationResult result{
            r->sampledKeys, r->comparedKeys, r->mismatchedKeys, r->mismatchRatio, {}};
        for (const auto& e : r->examples)
          result.examples.push_back(MismatchExample{e.key, e.serving, e.candidate});
        it->second.result = std::move(result);
      } else {
        it->second.error = r.error().message;
      }
    }
    if (onDone_) onDone_(key);
  };
  threads_.push_back(Thread{finished, std::jthread([body = std::move(body), finished] {
                              body();
                              finished->store(true);
                            })});
}

size_t ValidationRuns::threads() const {
  std::lock_guard lock(mu_);
  return threads_.size();
}

std::optional<ValidationRun> ValidationRuns::get(const std::string& key) const {
  std::lock_guard lock(mu_);
  auto it = runs_.find(key);
  if (it == runs_.end()) return std::nullopt;
  return it->second;
}

void ValidationRuns::forget(const std::string& key) {
  std::lock_guard lock(mu_);
  runs_.erase(key);
}

}  // namespace kappa::controllers
