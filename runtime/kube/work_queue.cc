#include "runtime/kube/work_queue.h"

#include <algorithm>
#include <cmath>

namespace kappa::kube {

WorkQueue::WorkQueue(std::chrono::milliseconds baseDelay, std::chrono::milliseconds maxDelay,
                     Clock& clock)
    : baseDelay_(baseDelay), maxDelay_(maxDelay), clock_(clock) {}

void WorkQueue::addLocked(const std::string& key, Lane lane) {
  if (shuttingDown_) return;
  auto [it, added] = dirty_.emplace(key, lane);
  bool processing = processing_.count(key) > 0;
  if (!added) {
    if (lane == Lane::kBackground || it->second == Lane::kFirst) return;
    // Queued in the background lane: move it to the first one.
    it->second = Lane::kFirst;
    if (processing) return;  // queued again by done(), in the first lane now
    background_.erase(std::find(background_.begin(), background_.end(), key));
    queue_.push_back(key);
    return;
  }
  if (processing) return;  // queued again by done()
  (lane == Lane::kFirst ? queue_ : background_).push_back(key);
  cv_.notify_one();
}

void WorkQueue::add(const std::string& key) {
  std::lock_guard lock(mu_);
  addLocked(key);
}

void WorkQueue::addBackground(const std::string& key) {
  std::lock_guard lock(mu_);
  addLocked(key, Lane::kBackground);
}

void WorkQueue::addAfter(const std::string& key, Duration delay) {
  std::lock_guard lock(mu_);
  if (shuttingDown_) return;
  if (delay <= Duration::zero()) {
    addLocked(key);
    return;
  }
  auto at = clock_.steadyNow() + delay;
  auto [it, inserted] = waiting_.emplace(key, at);
  if (!inserted && at < it->second) it->second = at;
  // Wake a waiting worker so it recomputes how long to sleep.
  cv_.notify_all();
}

WorkQueue::Duration WorkQueue::nextDelay(const std::string& key) const {
  std::lock_guard lock(mu_);
  auto it = failures_.find(key);
  int n = it == failures_.end() ? 0 : it->second;
  // base * 2^n, computed in floating point so large n cannot overflow.
  double ms = static_cast<double>(baseDelay_.count()) * std::pow(2.0, std::min(n, 62));
  ms = std::min(ms, static_cast<double>(maxDelay_.count()));
  return std::chrono::duration_cast<Duration>(std::chrono::duration<double, std::milli>(ms));
}

void WorkQueue::addRateLimited(const std::string& key) {
  auto delay = nextDelay(key);
  {
    std::lock_guard lock(mu_);
    failures_[key]++;
  }
  addAfter(key, delay);
}

void WorkQueue::forget(const std::string& key) {
  std::lock_guard lock(mu_);
  failures_.erase(key);
}

int WorkQueue::numRequeues(const std::string& key) const {
  std::lock_guard lock(mu_);
  auto it = failures_.find(key);
  return it == failures_.end() ? 0 : it->second;
}

void WorkQueue::promoteDueLocked(TimePoint now) {
  for (auto it = waiting_.begin(); it != waiting_.end();) {
    if (it->second <= now) {
      addLocked(it->first);
      it = waiting_.erase(it);
    } else {
      ++it;
    }
  }
}

std::optional<std::string> WorkQueue::getUntil(std::optional<TimePoint> deadline) {
  std::unique_lock lock(mu_);
  while (true) {
    promoteDueLocked(clock_.steadyNow());
    if (!queue_.empty() || !background_.empty()) break;
    if (shuttingDown_) return std::nullopt;
    std::optional<TimePoint> wake = deadline;
    for (const auto& [_, at] : waiting_) {
      if (!wake || at < *wake) wake = at;
    }
    if (deadline && clock_.steadyNow() >= *deadline) return std::nullopt;
    ++idle_;
    if (wake) {
      cv_.wait_for(lock, *wake - clock_.steadyNow());
    } else {
      cv_.wait(lock);
    }
    --idle_;
  }
  auto& lane = queue_.empty() ? background_ : queue_;
  auto key = std::move(lane.front());
  lane.pop_front();
  processing_.insert(key);
  dirty_.erase(key);
  return key;
}

std::optional<std::string> WorkQueue::get() { return getUntil(std::nullopt); }

std::optional<std::string> WorkQueue::getFor(Duration timeout) {
  return getUntil(clock_.steadyNow() + timeout);
}

size_t WorkQueue::idleWorkers() const {
  std::lock_guard lock(mu_);
  return idle_;
}

void WorkQueue::done(const std::string& key) {
  std::lock_guard lock(mu_);
  processing_.erase(key);
  auto it = dirty_.find(key);
  if (it != dirty_.end()) {
    (it->second == Lane::kFirst ? queue_ : background_).push_back(key);
    cv_.notify_one();
  }
}

void WorkQueue::shutDown() {
  std::lock_guard lock(mu_);
  shuttingDown_ = true;
  waiting_.clear();
  cv_.notify_all();
}

bool WorkQueue::shuttingDown() const {
  std::lock_guard lock(mu_);
  return shuttingDown_;
}

size_t WorkQueue::len() const {
  std::lock_guard lock(mu_);
  return queue_.size() + background_.size();
}

}  // namespace kappa::kube
