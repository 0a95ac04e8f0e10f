#include "runtime/kube/rate_limiter.h"

#include <algorithm>
#include <thread>

namespace kappa::kube {

TokenBucket::TokenBucket(double qps, int burst, NowFn now, SleepFn sleep)
    : qps_(qps),
      burst_(std::max(burst, 1)),
      now_(now ? std::move(now) : NowFn([] { return Clock::now(); })),
      sleep_(sleep ? std::move(sleep)
                   : SleepFn([](Clock::duration d) { std::this_thread::sleep_for(d); })),
      tokens_(burst_),
      last_(now_()) {}

void TokenBucket::refillLocked(Clock::time_point now) {
  if (now <= last_) return;
  std::chrono::duration<double> elapsed = now - last_;
  tokens_ = std::min<double>(burst_, tokens_ + elapsed.count() * qps_);
  last_ = now;
}

bool TokenBucket::tryAcquire() {
  if (qps_ <= 0) return true;
  std::lock_guard lock(mu_);
  refillLocked(now_());
  if (tokens_ < 1) return false;
  tokens_ -= 1;
  return true;
}

bool TokenBucket::acquire(Clock::time_point deadline) {
  if (qps_ <= 0) return true;
  Clock::time_point readyAt;
  {
    std::lock_guard lock(mu_);
    auto now = now_();
    refillLocked(now);
    // Reserve the token now (tokens may go negative): waiters queue up in arrival order and
    // each sleeps until its own token has accrued.
    double missing = 1 - tokens_;
    auto wait = missing <= 0 ? Clock::duration::zero()
                             : std::chrono::duration_cast<Clock::duration>(
                                   std::chrono::duration<double>(missing / qps_));
    readyAt = now + wait;
    if (readyAt > deadline) return false;
    tokens_ -= 1;
    if (wait == Clock::duration::zero()) return true;
  }
  sleep_(readyAt - now_());
  return true;
}

}  // namespace kappa::kube
