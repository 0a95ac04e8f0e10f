#include "controllers/pipelineversion/validation_runs.h"

#include <malloc.h>

#include "runtime/kube/kube_api.h"

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
  runs_[key] = ValidationRun{request.requestedAt, false, std::nullopt, "", 0, 0, std::nullopt};
  auto progress = std::make_shared<kafka::CompareProgress>();
  progress_[key] = progress;
  // Finished threads are joined here (they have no work left: joining is immediate), so an
  // operator that runs comparisons for months keeps only the running ones.
  std::erase_if(threads_, [](const Thread& t) { return t.finished->load(); });
  auto finished = std::make_shared<std::atomic<bool>>(false);
  auto body = [this, key, request, comparator = std::move(comparator), progress] {
    kafka::ComparePolicy policy;
    policy.sampleKeys = request.sampleKeys;
    policy.compareFields = request.compareFields;
    policy.ignoreFields = request.ignoreFields;
    policy.numericTolerance = request.numericTolerance;
    policy.sameSource = request.sameSource;
    // The taps when both were written: a processor that writes none leaves its tap empty.
    bool tapped = !request.servingTap.empty() && !request.candidateTap.empty();
    for (const auto* tap : {&request.servingTap, &request.candidateTap}) {
      if (!tapped) break;
      auto w = comparator->written(*tap);
      tapped = w.ok() && *w;
    }
    Result<kafka::ComparisonResult> r = Error{ErrorCode::kInternal, "not compared"};
    if (tapped) {
      r = comparator->compare(request.servingTap, request.candidateTap, policy, progress.get());
      // Taps that hold fewer keys than the sample wants: the outputs have the rest of it.
      // With enough, the sample is the same as the outputs' (key_sample.h).
      tapped = r.ok() && r->sampledKeys >= policy.sampleKeys;
    }
    if (!tapped) {
      r = comparator->compare(request.servingTopic, request.candidateTopic, policy, progress.get());
    }
    // The result as status holds it, made before taking the lock: examples are written into
    // status and an Event as JSON strings, so valid UTF-8 only (record keys and values may be
    // any bytes), the diff cut to its bound.
    std::optional<ValidationResult> result;
    if (r.ok()) {
      result = ValidationResult{.sampledKeys = r->sampledKeys,
                                .comparedKeys = r->comparedKeys,
                                .mismatchedKeys = r->mismatchedKeys,
                                .notComparableKeys = r->notComparableKeys,
                                .mismatchRatio = r->mismatchRatio,
                                .examples = {},
                                .source = tapped ? "Tap" : "Output"};
      auto valid = [](const std::optional<std::string>& s) -> std::optional<std::string> {
        if (!s) return std::nullopt;
        return kube::validUtf8(*s);
      };
      for (const auto& e : r->examples) {
        std::string diff = kafka::fieldDiff(e.serving, e.candidate);
        if (diff.size() > kMaxExampleDiffChars) {
          diff = diff.substr(0, kMaxExampleDiffChars) + "...";
        }
        result->examples.push_back(MismatchExample{kube::validUtf8(e.key), valid(e.serving),
                                                   valid(e.candidate), kube::validUtf8(diff)});
      }
    }
    {
      std::lock_guard lock(mu_);
      auto it = runs_.find(key);
      if (it == runs_.end() || it->second.requestedAt != request.requestedAt) return;
      it->second.done = true;
      it->second.finishedAt = clock_.now();
      if (result) {
        it->second.result = std::move(result);
      } else {
        it->second.error = r.error().message;
      }
    }
    // The read's buffers are freed by now; hand their pages back at once rather than at the
    // operator's next periodic trim, so that memory after a comparison is what stays.
    malloc_trim(0);
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
  ValidationRun run = it->second;
  if (auto p = progress_.find(key); !run.done && p != progress_.end()) {
    run.recordsRead = p->second->recordsRead.load(std::memory_order_relaxed);
    run.recordsToRead = p->second->recordsToRead.load(std::memory_order_relaxed);
  }
  return run;
}

void ValidationRuns::forget(const std::string& key) {
  std::lock_guard lock(mu_);
  runs_.erase(key);
  progress_.erase(key);
}

}  // namespace kappa::controllers
