// Leader election over a real Lease and Events with series aggregation, against the real
// kube-apiserver.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "runtime/kube/event_recorder.h"
#include "runtime/kube/http_kube_api.h"
#include "runtime/kube/leader_election.h"
#include "tests/support/kube_test_util.h"

namespace kappa::kube {
namespace {

using namespace std::chrono_literals;
using testing::eventually;
using testing::makeKubeClient;
using testing::TestNamespace;

struct Candidate {
  std::unique_ptr<HttpKubeApi> api;
  std::unique_ptr<LeaderElector> elector;
  std::atomic<bool> working{false};
  std::atomic<int> stops{0};
  std::jthread thread;

  Candidate(const std::string& ns, const std::string& id, bool releaseOnStop) {
    ClientOptions co;
    co.requestTimeout = 1s;  // well below the renew deadline
    api = makeKubeClient(false, co);
    LeaderElectionConfig cfg;
    cfg.ns = ns;
    cfg.name = "kappa-operator-lock";
    cfg.identity = id;
    cfg.leaseDuration = 3s;
    cfg.renewDeadline = 2s;
    cfg.retryPeriod = 500ms;
    cfg.releaseOnStop = releaseOnStop;
    LeaderCallbacks cb;
    cb.onStartedLeading = [this](std::stop_token st) {
      working = true;
      while (!st.stop_requested()) std::this_thread::sleep_for(10ms);
      working = false;
    };
    cb.onStoppedLeading = [this] { stops++; };
    elector = std::make_unique<LeaderElector>(*api, cfg, cb);
  }
  void start() {
    thread = std::jthread([this](std::stop_token st) { elector->run(st); });
  }
};

TEST(KubeLeaderElectionIt, OtherCandidateTakesOverWithinTheLeaseDuration) {
  auto admin = makeKubeClient();
  ASSERT_TRUE(admin);
  TestNamespace ns(*admin);
  Candidate a(ns.name(), "candidate-a", /*releaseOnStop=*/false);
  Candidate b(ns.name(), "candidate-b", /*releaseOnStop=*/true);
  ASSERT_TRUE(a.api && b.api);
  a.start();
  ASSERT_TRUE(eventually([&] { return a.elector->isLeader() && a.working; }, 10s));
  b.start();
  std::this_thread::sleep_for(4s);  // longer than the lease: the leader keeps renewing it
  EXPECT_TRUE(a.elector->isLeader());
  EXPECT_FALSE(b.elector->isLeader());
  EXPECT_FALSE(b.working);
  EXPECT_EQ(b.elector->observedLeader(), "candidate-a");

  // The leader stops without releasing (as a crashed process would).
  auto stoppedAt = std::chrono::steady_clock::now();
  a.thread.request_stop();
  a.thread.join();
  EXPECT_FALSE(a.working);
  EXPECT_EQ(a.stops, 1);
  ASSERT_TRUE(eventually([&] { return b.elector->isLeader() && b.working; }, 10s));
  auto took = std::chrono::steady_clock::now() - stoppedAt;
  EXPECT_LE(took, 3s + 1500ms)
      << "takeover took " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
      << " ms";
  auto lease = admin->get({resources::leases(), ns.name(), "kappa-operator-lock", {}});
  ASSERT_TRUE(lease.ok()) << lease.error();
  EXPECT_EQ((*lease)["spec"]["holderIdentity"], "candidate-b");
  EXPECT_EQ((*lease)["spec"]["leaseTransitions"], 1);
  EXPECT_EQ((*lease)["spec"]["leaseDurationSeconds"], 3);

  // b releases on stop: the lease is free at once.
  b.thread.request_stop();
  b.thread.join();
  lease = admin->get({resources::leases(), ns.name(), "kappa-operator-lock", {}});
  ASSERT_TRUE(lease.ok());
  EXPECT_EQ((*lease)["spec"]["holderIdentity"], "");
}

TEST(KubeEventRecorderIt, RepeatsUpdateOneEventSeries) {
  auto api = makeKubeClient();
  ASSERT_TRUE(api);
  TestNamespace ns(*api);
  CollectionRef cms{resources::configMaps(), ns.name()};
  auto obj = api->create(
      cms, {{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"metadata", {{"name", "regarded"}}}});
  ASSERT_TRUE(obj.ok()) << obj.error();

  KubeEventRecorder rec(*api, "kappa.io/operator", "it-instance");
  for (int i = 0; i < 3; ++i) {
    auto ev = rec.recordEvent(*obj, EventType::kWarning, "ValidationFailed", "Validate",
                              "3 of 5000 sampled keys differ");
    ASSERT_TRUE(ev.ok()) << ev.error();
  }
  ASSERT_TRUE(rec.recordEvent(*obj, EventType::kNormal, "Promoted", "Promote", "v2 serves").ok());

  auto events = api->list({resources::events(), ns.name()}, {});
  ASSERT_TRUE(events.ok()) << events.error();
  ASSERT_EQ(events->items.size(), 2u);
  const Json* warning = nullptr;
  for (const auto& e : events->items) {
    if (e["reason"] == "ValidationFailed") warning = &e;
  }
  ASSERT_NE(warning, nullptr);
  EXPECT_EQ((*warning)["series"]["count"], 3);
  EXPECT_EQ((*warning)["type"], "Warning");
  EXPECT_EQ((*warning)["regarding"]["name"], "regarded");
  EXPECT_EQ((*warning)["regarding"]["uid"], uidOf(*obj));
  EXPECT_EQ((*warning)["reportingController"], "kappa.io/operator");
}

}  // namespace
}  // namespace kappa::kube
