// Clock: the one port through which the operator reads time and waits. Wall time for what is
// written down (status times, Events, Lease renewals), monotonic time for intervals and
// deadlines. systemClock() is the real one; tests use tests/support/fakes/clock.h, whose time
// moves only when the test says so.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stop_token>

namespace kappa {

class Clock {
 public:
  using WallTime = std::chrono::system_clock::time_point;
  using SteadyTime = std::chrono::steady_clock::time_point;
  using Duration = std::chrono::steady_clock::duration;

  virtual ~Clock() = default;
  virtual WallTime now() = 0;
  virtual SteadyTime steadyNow() = 0;
  // Waits `d` of this clock's time; returns false (at once) when `stop` is requested.
  virtual bool sleepFor(Duration d, std::stop_token stop = {}) = 0;
};

class SystemClock final : public Clock {
 public:
  WallTime now() override { return std::chrono::system_clock::now(); }
  SteadyTime steadyNow() override { return std::chrono::steady_clock::now(); }
  bool sleepFor(Duration d, std::stop_token stop = {}) override {
    std::mutex m;
    std::condition_variable_any cv;
    std::unique_lock lock(m);
    cv.wait_for(lock, stop, d, [] { return false; });
    return !stop.stop_requested();
  }
};

inline Clock& systemClock() {
  static SystemClock clock;
  return clock;
}

}  // namespace kappa
