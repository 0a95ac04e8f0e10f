// WorkQueue: the reconcile queue of keys ("namespace/name"), with client-go workqueue
// semantics:
//  - a key is queued at most once however often it is added (deduplication);
//  - a key being processed (between get() and done()) is never handed to a second worker;
//    adds meanwhile mark it dirty and it is queued again at done();
//  - addRateLimited() requeues after a per-key exponential backoff
//    (baseDelay * 2^failures, capped at maxDelay); forget() resets that key's failures;
//  - addAfter() queues after a delay (the earliest pending delay of a key wins);
//  - shutDown() wakes all workers; get() hands out what is still queued, then std::nullopt.
// Beyond client-go: a second, background lane. addBackground() queues a key behind every key
// added with add() (or due from a delay), so passes that only refresh a key because another
// one changed never hold up the keys whose own objects changed. A key added to both lanes is
// handed out once, from the first lane.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "runtime/core/clock.h"

namespace kappa::kube {

class WorkQueue {
 public:
  using TimePoint = Clock::SteadyTime;
  using Duration = Clock::Duration;

  // Delays are measured on `clock` (a test's fake one moves only when told).
  explicit WorkQueue(std::chrono::milliseconds baseDelay = std::chrono::milliseconds(5),
                     std::chrono::milliseconds maxDelay = std::chrono::seconds(1000),
                     Clock& clock = systemClock());

  void add(const std::string& key);
  void addBackground(const std::string& key);
  void addAfter(const std::string& key, Duration delay);
  void addRateLimited(const std::string& key);
  void forget(const std::string& key);
  int numRequeues(const std::string& key) const;

  // Blocks until a key is ready or the queue is shut down.
  std::optional<std::string> get();
  // Like get(), but gives up after `timeout`.
  std::optional<std::string> getFor(Duration timeout);
  void done(const std::string& key);

  void shutDown();
  bool shuttingDown() const;
  // Keys ready to be handed out, in both lanes (not the delayed ones, not those in process).
  size_t len() const;
  // Workers blocked in get() or getFor() waiting for a key.
  size_t idleWorkers() const;
  // The backoff the next addRateLimited(key) would use.
  Duration nextDelay(const std::string& key) const;

 private:
  enum class Lane { kFirst, kBackground };
  void addLocked(const std::string& key, Lane lane = Lane::kFirst);
  void promoteDueLocked(TimePoint now);
  std::optional<std::string> getUntil(std::optional<TimePoint> deadline);

  const std::chrono::milliseconds baseDelay_;
  const std::chrono::milliseconds maxDelay_;
  Clock& clock_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> queue_;
  std::deque<std::string> background_;
  std::map<std::string, Lane> dirty_;  // queued, or to queue again at done(), in that lane
  std::set<std::string> processing_;
  std::map<std::string, TimePoint> waiting_;  // key -> when it becomes ready
  std::map<std::string, int> failures_;
  bool shuttingDown_ = false;
  size_t idle_ = 0;
};

}  // namespace kappa::kube
