// Leader election on the in-memory fake apiserver and a fake clock the test moves in steps of
// one retry period: one leader at a time, takeover once the holder stops renewing, at once
// when it releases the lease, and the leader's work stopped when it cannot renew.
#include "runtime/kube/leader_election.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <thread>

#include "tests/support/fakes/clock.h"
#include "tests/support/fakes/kube_api.h"
#include "tests/support/kube_test_util.h"

namespace kappa::kube {
namespace {

using namespace std::chrono_literals;
using testing::eventually;
using testing::FakeClock;

LeaderElectionConfig fastConfig(const std::string& id) {
  LeaderElectionConfig c;
  c.ns = "kappa-system";
  c.name = "kappa-operator";
  c.identity = id;
  c.leaseDuration = 1000ms;
  c.renewDeadline = 600ms;
  c.retryPeriod = 100ms;
  return c;
}

struct Candidate {
  std::atomic<bool> working{false};
  std::atomic<int> started{0};
  std::atomic<int> stopped{0};
  std::unique_ptr<LeaderElector> elector;
  std::jthread thread;

  Candidate(KubeApi& api, LeaderElectionConfig cfg, Clock& clock) {
    LeaderCallbacks cb;
    cb.onStartedLeading = [this](std::stop_token st) {
      started++;
      working = true;
      std::mutex m;
      std::condition_variable_any cv;
      std::unique_lock lock(m);
      cv.wait(lock, st, [] { return false; });  // works until told to stop
      working = false;
    };
    cb.onStoppedLeading = [this] { stopped++; };
    elector = std::make_unique<LeaderElector>(api, std::move(cfg), std::move(cb), clock);
  }
  void start() {
    thread = std::jthread([this](std::stop_token st) { elector->run(st); });
  }
};

// One retry period of fake time, then until `n` candidates wait for their next attempt.
void step(FakeClock& clock, size_t n) {
  clock.advance(100ms);
  ASSERT_TRUE(clock.waitForSleepers(n));
}

TEST(LeaderElection, OneLeaderThenTakeoverWhenItStops) {
  testing::FakeKubeApi api;
  FakeClock clock;
  auto cfgA = fastConfig("a");
  cfgA.releaseOnStop = false;  // as if it crashed: the other must wait for expiry
  Candidate a(api, cfgA, clock), b(api, fastConfig("b"), clock);
  a.start();
  ASSERT_TRUE(clock.waitForSleepers(1));
  EXPECT_TRUE(a.elector->isLeader());
  b.start();
  ASSERT_TRUE(clock.waitForSleepers(2));
  for (int i = 0; i < 15; ++i) step(clock, 2);  // longer than the lease: a keeps renewing
  EXPECT_TRUE(a.elector->isLeader());
  EXPECT_FALSE(b.elector->isLeader());
  EXPECT_TRUE(eventually([&] { return a.working.load(); }));
  EXPECT_EQ(b.elector->observedLeader(), "a");

  a.thread.request_stop();
  a.thread.join();
  EXPECT_FALSE(a.working);
  EXPECT_EQ(a.stopped, 1);
  auto waited = 0ms;
  while (!b.elector->isLeader() && waited < 3s) {
    step(clock, 1);
    waited += 100ms;
  }
  EXPECT_TRUE(b.elector->isLeader());
  EXPECT_GE(waited, 900ms);   // not before the lease (1 s) could have expired
  EXPECT_LE(waited, 1100ms);  // and at the first attempt after
  auto lease = api.get({resources::leases(), "kappa-system", "kappa-operator", {}});
  ASSERT_TRUE(lease.ok());
  EXPECT_EQ((*lease)["spec"]["holderIdentity"], "b");
  EXPECT_EQ((*lease)["spec"]["leaseTransitions"], 1);
}

TEST(LeaderElection, ReleaseOnStopHandsOverAtOnce) {
  testing::FakeKubeApi api;
  FakeClock clock;
  auto cfgA = fastConfig("a");
  auto cfgB = fastConfig("b");
  cfgA.leaseDuration = cfgB.leaseDuration = 10s;  // takeover must not wait for this
  cfgA.renewDeadline = cfgB.renewDeadline = 5s;
  Candidate a(api, cfgA, clock), b(api, cfgB, clock);
  a.start();
  ASSERT_TRUE(clock.waitForSleepers(1));
  b.start();
  ASSERT_TRUE(clock.waitForSleepers(2));
  for (int i = 0; i < 3; ++i) step(clock, 2);
  a.thread.request_stop();
  a.thread.join();
  step(clock, 1);  // b's next attempt finds the lease released
  EXPECT_TRUE(b.elector->isLeader());
}

TEST(LeaderElection, LosingTheLeaseStopsTheWork) {
  testing::FakeKubeApi api;
  FakeClock clock;
  Candidate a(api, fastConfig("a"), clock);
  a.start();
  ASSERT_TRUE(clock.waitForSleepers(1));
  ASSERT_TRUE(eventually([&] { return a.working.load(); }));
  // The apiserver becomes unreachable: renewals fail until renewDeadline passes.
  api.setFailHook([](const std::string&) -> std::optional<Error> {
    return Error{ErrorCode::kUnavailable, "connection refused"};
  });
  auto waited = 0ms;
  while (a.stopped == 0 && waited < 3s) {
    clock.advance(100ms);
    waited += 100ms;
    ASSERT_TRUE(eventually([&] { return clock.sleepers() == 1 || a.stopped == 1; }));
  }
  EXPECT_FALSE(a.working);
  EXPECT_FALSE(a.elector->isLeader());
  EXPECT_GE(waited, 600ms);   // renewDeadline
  EXPECT_LT(waited, 1000ms);  // before the lease (1 s) could expire for anyone else
}

}  // namespace
}  // namespace kappa::kube
