// Client-side token bucket that keeps a client within qps requests per second on average
// with bursts of up to `burst` requests, like client-go's flowcontrol limiter. Waiting is
// bounded: acquire() gives up at its deadline instead of queueing forever.
#pragma once

#include <chrono>
#include <functional>
#include <mutex>

namespace kappa::kube {

class TokenBucket {
 public:
  using Clock = std::chrono::steady_clock;
  using NowFn = std::function<Clock::time_point()>;
  using SleepFn = std::function<void(Clock::duration)>;

  // qps <= 0 disables limiting. now/sleep default to the real clock (tests inject fakes).
  TokenBucket(double qps, int burst, NowFn now = {}, SleepFn sleep = {});

  // Takes one token, waiting for it if needed. Returns false, without taking a token, when it
  // would not be available before `deadline`.
  bool acquire(Clock::time_point deadline);
  // Takes a token only if one is available now.
  bool tryAcquire();

  double qps() const { return qps_; }
  int burst() const { return burst_; }

 private:
  void refillLocked(Clock::time_point now);

  const double qps_;
  const int burst_;
  NowFn now_;
  SleepFn sleep_;
  std::mutex mu_;
  double tokens_;
  Clock::time_point last_;
};

}  // namespace kappa::kube
