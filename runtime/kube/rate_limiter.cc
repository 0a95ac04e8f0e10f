#include "runtime/kube/rate_limiter.h"

#include <algorithm>

namespace kappa::kube {

TokenBucket::TokenBucket(double qps, int burst, Clock& clock)
    : qps_(qps),
      burst_(std::max(burst, 1)),
      clock_(clock),
      tokens_(burst_),
      last_(clock.steadyNow()) {}

void TokenBucket::refillLocked(TimePoint now) {
  if (now <= last_) return;
  std::chrono::duration<double> elapsed = now - last_;
  tokens_ = std::min<double>(burst_, tokens_ + elapsed.count() * qps_);
  last_ = now;
}

bool TokenBucket::tryAcquire() {
  if (qps_ <= 0) return true;
  std::lock_guard lock(mu_);
  refillLocked(clock_.steadyNow());
  if (tokens_ < 1) return false;
  tokens_ -= 1;
  return true;
}

bool TokenBucket::acquire(TimePoint deadline) {
  if (qps_ <= 0) return true;
  TimePoint readyAt;
  {
    std::lock_guard lock(mu_);
    auto now = clock_.steadyNow();
    refillLocked(now);
    // Reserve the token now (tokens may go negative): waiters queue up in arrival order and
    // each sleeps until its own token has accrued.
    double missing = 1 - tokens_;
    auto wait = missing <= 0 ? Clock::Duration::zero()
                             : std::chrono::duration_cast<Clock::Duration>(
                                   std::chrono::duration<double>(missing / qps_));
    readyAt = now + wait;
    if (readyAt > deadline) return false;
    tokens_ -= 1;
    if (wait == Clock::Duration::zero()) return true;
  }
  clock_.sleepFor(readyAt - clock_.steadyNow());
  return true;
}

}  // namespace kappa::kube
