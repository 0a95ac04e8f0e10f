// Leader election on the in-memory fake: one leader at a time, takeover after the holder
// stops renewing, and the leader's work stopped when it loses the lease.
#include "runtime/kube/leader_election.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "tests/support/fakes/kube_api.h"
#include "tests/support/kube_test_util.h"

namespace kappa::kube {
namespace {

using namespace std::chrono_literals;
using testing::eventually;

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

  Candidate(KubeApi& api, LeaderElectionConfig cfg) {
    LeaderCallbacks cb;
    cb.onStartedLeading = [this](std::stop_token st) {
      started++;
      working = true;
      while (!st.stop_requested()) std::this_thread::sleep_for(5ms);
      working = false;
    };
    cb.onStoppedLeading = [this] { stopped++; };
    elector = std::make_unique<LeaderElector>(api, std::move(cfg), std::move(cb));
  }
  void start() {
    thread = std::jthread([this](std::stop_token st) { elector->run(st); });
  }
};

TEST(LeaderElection, OneLeaderThenTakeoverWhenItStops) {
  testing::FakeKubeApi api;
  auto cfgA = fastConfig("a");
  cfgA.releaseOnStop = false;  // as if it crashed: the other must wait for expiry
  Candidate a(api, cfgA), b(api, fastConfig("b"));
  a.start();
  ASSERT_TRUE(eventually([&] { return a.elector->isLeader(); }, 3s));
  b.start();
  std::this_thread::sleep_for(1500ms);  // longer than the lease: a keeps renewing
  EXPECT_TRUE(a.elector->isLeader());
  EXPECT_FALSE(b.elector->isLeader());
  EXPECT_TRUE(a.working);
  EXPECT_EQ(b.elector->observedLeader(), "a");

  auto stoppedAt = std::chrono::steady_clock::now();
  a.thread.request_stop();
  a.thread.join();
  EXPECT_FALSE(a.working);
  EXPECT_EQ(a.stopped, 1);
  ASSERT_TRUE(eventually([&] { return b.elector->isLeader(); }, 3s));
  auto took = std::chrono::steady_clock::now() - stoppedAt;
  EXPECT_GE(took, 700ms);   // not before the lease could have expired
  EXPECT_LE(took, 1500ms);  // lease duration plus a retry period or so
  auto lease = api.get({resources::leases(), "kappa-system", "kappa-operator", {}});
  ASSERT_TRUE(lease.ok());
  EXPECT_EQ((*lease)["spec"]["holderIdentity"], "b");
  EXPECT_EQ((*lease)["spec"]["leaseTransitions"], 1);
}

TEST(LeaderElection, ReleaseOnStopHandsOverAtOnce) {
  testing::FakeKubeApi api;
  auto cfgA = fastConfig("a");
  auto cfgB = fastConfig("b");
  cfgA.leaseDuration = cfgB.leaseDuration = 10s;  // takeover must not wait for this
  cfgA.renewDeadline = cfgB.renewDeadline = 5s;
  Candidate a(api, cfgA), b(api, cfgB);
  a.start();
  ASSERT_TRUE(eventually([&] { return a.elector->isLeader(); }, 3s));
  b.start();
  std::this_thread::sleep_for(300ms);
  auto stoppedAt = std::chrono::steady_clock::now();
  a.thread.request_stop();
  a.thread.join();
  ASSERT_TRUE(eventually([&] { return b.elector->isLeader(); }, 3s));
  EXPECT_LT(std::chrono::steady_clock::now() - stoppedAt, 2s);
}

TEST(LeaderElection, LosingTheLeaseStopsTheWork) {
  testing::FakeKubeApi api;
  Candidate a(api, fastConfig("a"));
  a.start();
  ASSERT_TRUE(eventually([&] { return a.working.load(); }, 3s));
  // The apiserver becomes unreachable: renewals fail until renewDeadline passes.
  api.setFailHook([](const std::string&) -> std::optional<Error> {
    return Error{ErrorCode::kUnavailable, "connection refused"};
  });
  auto cutAt = std::chrono::steady_clock::now();
  ASSERT_TRUE(eventually([&] { return !a.working.load() && a.stopped == 1; }, 3s));
  auto took = std::chrono::steady_clock::now() - cutAt;
  EXPECT_LT(took, 1000ms);  // before the lease (1 s) could expire for anyone else
  EXPECT_FALSE(a.elector->isLeader());
  a.thread.request_stop();
}

}  // namespace
}  // namespace kappa::kube
