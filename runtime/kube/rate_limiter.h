// Client-side token bucket that keeps a client within qps requests per second on average
// with bursts of up to `burst` requests, like client-go's flowcontrol limiter. Waiting is
// bounded: acquire() gives up at its deadline instead of queueing forever.
#pragma once

#include <chrono>
#include <mutex>

#include "runtime/core/clock.h"

namespace kappa::kube {

class TokenBucket {
 public:
  using TimePoint = Clock::SteadyTime;

  // qps <= 0 disables limiting.
  TokenBucket(double qps, int burst, Clock& clock = systemClock());

  // Takes one token, waiting for it if needed. Returns false, without taking a token, when it
  // would not be available before `deadline`.
  bool acquire(TimePoint deadline);
  bool acquireWithin(Clock::Duration within) { return acquire(clock_.steadyNow() + within); }
  // Takes a token only if one is available now.
  bool tryAcquire();

  double qps() const { return qps_; }
  int burst() const { return burst_; }

 private:
  void refillLocked(TimePoint now);

  const double qps_;
  const int burst_;
  Clock& clock_;
  std::mutex mu_;
  double tokens_;
  TimePoint last_;
};

}  // namespace kappa::kube
