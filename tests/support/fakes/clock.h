// FakeClock: time moves only by advance(). Threads that sleep on it block until the test has
// advanced past their wake-up time (or their stop token fires), so a test drives concurrent
// code step by step: advance, then waitForSleepers(n) until every thread is asleep again.
// With sleepAdvances(), a sleep moves the time itself instead (for code on one thread), and
// slept() adds the sleeps up.
#pragma once

#include <algorithm>
#include <condition_variable>
#include <map>
#include <mutex>

#include "runtime/core/clock.h"

namespace kappa::testing {

class FakeClock final : public Clock {
 public:
  // 2027-01-15T08:00:00Z, a whole second: times written down compare exactly.
  FakeClock() : wall_(std::chrono::seconds(1'800'000'000)), steady_(std::chrono::hours(1000)) {}

  void sleepAdvances() {
    std::lock_guard lock(mu_);
    sleepAdvances_ = true;
  }
  Duration slept() {
    std::lock_guard lock(mu_);
    return slept_;
  }

  WallTime now() override {
    std::lock_guard lock(mu_);
    return wall_;
  }
  SteadyTime steadyNow() override {
    std::lock_guard lock(mu_);
    return steady_;
  }
  bool sleepFor(Duration d, std::stop_token stop = {}) override {
    std::unique_lock lock(mu_);
    if (sleepAdvances_) {
      slept_ += d;
      advanceLocked(d);
      return !stop.stop_requested();
    }
    SteadyTime until = steady_ + d;
    auto it = sleepers_.emplace(until, 0);
    cv_.notify_all();
    cv_.wait(lock, stop, [&] { return steady_ >= until; });
    sleepers_.erase(it);
    return !stop.stop_requested();
  }

  void advance(Duration d) {
    std::lock_guard lock(mu_);
    advanceLocked(d);
  }
  // Threads asleep with a wake-up time still ahead.
  size_t sleepers() {
    std::lock_guard lock(mu_);
    return sleepersLocked();
  }
  // Blocks until at least n threads sleep with a wake-up time still ahead (false after 10 s
  // of real time: the code under test never went back to sleep).
  bool waitForSleepers(size_t n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(10), [&] { return sleepersLocked() >= n; });
  }

 private:
  size_t sleepersLocked() const {
    return static_cast<size_t>(std::count_if(sleepers_.begin(), sleepers_.end(),
                                             [&](const auto& s) { return s.first > steady_; }));
  }
  void advanceLocked(Duration d) {
    wall_ += std::chrono::duration_cast<std::chrono::system_clock::duration>(d);
    steady_ += d;
    cv_.notify_all();
  }

  std::mutex mu_;
  std::condition_variable_any cv_;
  bool sleepAdvances_ = false;
  Duration slept_{};
  WallTime wall_;
  SteadyTime steady_;
  std::multimap<SteadyTime, int> sleepers_;
};

}  // namespace kappa::testing
