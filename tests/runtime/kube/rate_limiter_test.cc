// Token bucket: bursts, steady rate and bounded waiting, on a fake clock.
#include "runtime/kube/rate_limiter.h"

#include <gtest/gtest.h>

#include "tests/support/fakes/clock.h"

namespace kappa::kube {
namespace {

using namespace std::chrono_literals;

// Time on one thread: a wait of the bucket moves the fake time itself.
struct FakeTime {
  testing::FakeClock clock;
  FakeTime() { clock.sleepAdvances(); }
  Clock::SteadyTime now() { return clock.steadyNow(); }
  Clock::Duration slept() { return clock.slept(); }
  TokenBucket make(double qps, int burst) { return TokenBucket(qps, burst, clock); }
};

TEST(TokenBucket, AllowsABurstThenTheSteadyRate) {
  FakeTime t;
  auto tb = t.make(10, 3);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(tb.tryAcquire()) << i;
  EXPECT_FALSE(tb.tryAcquire());
  t.clock.advance(100ms);  // one token at 10 qps
  EXPECT_TRUE(tb.tryAcquire());
  EXPECT_FALSE(tb.tryAcquire());
  t.clock.advance(10s);  // refills only up to the burst
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(tb.tryAcquire()) << i;
  EXPECT_FALSE(tb.tryAcquire());
}

TEST(TokenBucket, AcquireWaitsForTheNextToken) {
  FakeTime t;
  auto tb = t.make(5, 1);
  EXPECT_TRUE(tb.acquire(t.now() + 1s));
  EXPECT_EQ(t.slept(), Clock::Duration::zero());
  EXPECT_TRUE(tb.acquire(t.now() + 1s));
  EXPECT_EQ(std::chrono::duration_cast<std::chrono::milliseconds>(t.slept()), 200ms);
  // 10 more requests take 2 s at 5 qps.
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(tb.acquire(t.now() + 1s));
  EXPECT_EQ(std::chrono::duration_cast<std::chrono::milliseconds>(t.slept()), 2200ms);
}

TEST(TokenBucket, AcquireGivesUpAtTheDeadlineWithoutTakingAToken) {
  FakeTime t;
  auto tb = t.make(1, 1);
  EXPECT_TRUE(tb.acquire(t.now()));
  EXPECT_FALSE(tb.acquire(t.now() + 500ms));  // next token is 1 s away
  EXPECT_EQ(t.slept(), Clock::Duration::zero());
  t.clock.advance(1s);
  EXPECT_TRUE(tb.tryAcquire());  // the failed acquire did not consume it
}

TEST(TokenBucket, ZeroQpsMeansUnlimited) {
  TokenBucket tb(0, 1);
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(tb.tryAcquire());
}

TEST(TokenBucket, RealClockPacesRequests) {
  TokenBucket tb(50, 1);
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(tb.acquire(std::chrono::steady_clock::now() + 1s));
  // One from the burst, five more at 20 ms each.
  EXPECT_GE(std::chrono::steady_clock::now() - start, 95ms);
}

}  // namespace
}  // namespace kappa::kube
