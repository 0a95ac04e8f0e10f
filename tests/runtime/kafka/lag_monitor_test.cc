#include "runtime/kafka/lag_monitor.h"

#include <gtest/gtest.h>

#include "tests/runtime/kafka/fake_kafka_admin.h"

namespace kappa::kafka {
namespace {

using namespace std::chrono_literals;
const WallTime T0 = WallTime{} + 1000h;

TEST(ComputeLag, CountsFromCommittedOffsets) {
  auto s =
      computeLag({{0, 0}, {1, 0}, {2, 0}}, {{0, 100}, {1, 50}, {2, 0}}, {{0, 60}, {1, 50}}, T0);
  ASSERT_EQ(s.partitions.size(), 3u);
  EXPECT_EQ(s.partitions[0].lag, 40);
  EXPECT_EQ(s.partitions[1].lag, 0);
  EXPECT_EQ(s.partitions[2].lag, 0);
  EXPECT_EQ(s.partitions[2].committed, std::nullopt);
  EXPECT_EQ(s.totalLag, 40);
  EXPECT_EQ(s.laggingPartitions, 1);
  EXPECT_EQ(s.consumed, 110);
  EXPECT_TRUE(s.committedAny);
  EXPECT_EQ(s.sampledAt, T0);
}

TEST(ComputeLag, GroupWithoutCommitsLagsByWholeRetainedLog) {
  auto s = computeLag({{0, 10}, {1, 0}}, {{0, 30}, {1, 5}}, {}, T0);
  EXPECT_EQ(s.totalLag, 25);
  EXPECT_EQ(s.laggingPartitions, 2);
  EXPECT_EQ(s.consumed, 0);
  EXPECT_FALSE(s.committedAny);
}

TEST(ComputeLag, CommitBelowLogStartCountsFromLogStart) {
  auto s = computeLag({{0, 50}}, {{0, 80}}, {{0, 20}}, T0);
  EXPECT_EQ(s.partitions[0].lag, 30);
  EXPECT_EQ(s.consumed, 0);
}

TEST(ComputeLag, CommitAboveEndIsNoLag) {
  // A commit can be ahead of the LSO while a transaction is open on the source.
  auto s = computeLag({{0, 0}}, {{0, 10}}, {{0, 12}}, T0);
  EXPECT_EQ(s.partitions[0].lag, 0);
  EXPECT_EQ(s.consumed, 10);
}

TEST(LagMonitor, ControlMarkersDoNotCountAsLag) {
  testing::FakeKafkaAdmin admin;
  // 10 records (0..9) and a commit marker at offset 10; the group has read all 10.
  admin.earliest["t"] = {{0, 0}};
  admin.end["t"] = {{0, 11}};
  admin.committed[{"g", "t"}] = {{0, 10}};
  admin.visibleAt[0] = std::vector<bool>(11, true);
  admin.visibleAt[0][10] = false;
  LagMonitor m(admin);
  auto s = m.sample("g", "t", T0);
  ASSERT_TRUE(s.ok()) << s.error();
  EXPECT_EQ(s->partitions[0].offsetLag, 1);
  EXPECT_EQ(s->partitions[0].lag, 0);
  EXPECT_EQ(s->totalLag, 0);
  EXPECT_EQ(s->laggingPartitions, 0);
  ASSERT_EQ(admin.probes.size(), 1u);
  EXPECT_EQ(admin.probes[0].at(0), std::make_pair(int64_t{10}, int64_t{11}));
}

TEST(LagMonitor, LargeLagIsNotProbed) {
  testing::FakeKafkaAdmin admin;
  admin.earliest["t"] = {{0, 0}, {1, 0}};
  admin.end["t"] = {{0, 5000}, {1, 3}};
  admin.committed[{"g", "t"}] = {{0, 0}, {1, 3}};
  LagMonitor m(admin, {.markerProbeLimit = 1000});
  auto s = m.sample("g", "t", T0);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->totalLag, 5000);
  EXPECT_TRUE(admin.probes.empty());
}

TEST(LagMonitor, ErrorsArePassedThrough) {
  testing::FakeKafkaAdmin admin;
  admin.failNext = Error{ErrorCode::kUnavailable, "broker down"};
  LagMonitor m(admin);
  auto s = m.sample("g", "t", T0);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kUnavailable);
}

TEST(EvaluateCatchUp, OutsideBoundIsNotCaughtUp) {
  auto s = evaluateCatchUp(std::nullopt, 11, 10, 30s, T0);
  EXPECT_EQ(s, (CatchUpState{false, std::nullopt, false}));
}

TEST(EvaluateCatchUp, EnteringBoundStartsTheClock) {
  auto s = evaluateCatchUp(std::nullopt, 10, 10, 30s, T0);
  EXPECT_EQ(s, (CatchUpState{true, T0, false}));
}

TEST(EvaluateCatchUp, HoldingBoundLessThanStableIsNotCaughtUp) {
  auto s = evaluateCatchUp(T0, 0, 0, 30s, T0 + 29s);
  EXPECT_EQ(s, (CatchUpState{true, T0, false}));
}

TEST(EvaluateCatchUp, HoldingBoundForStableIsCaughtUp) {
  auto s = evaluateCatchUp(T0, 0, 0, 30s, T0 + 30s);
  EXPECT_EQ(s, (CatchUpState{true, T0, true}));
}

TEST(EvaluateCatchUp, LeavingBoundResetsTheClock) {
  auto s = evaluateCatchUp(T0, 5, 0, 30s, T0 + 40s);
  EXPECT_EQ(s, (CatchUpState{false, std::nullopt, false}));
  auto again = evaluateCatchUp(s.withinSince, 0, 0, 30s, T0 + 50s);
  EXPECT_EQ(again, (CatchUpState{true, T0 + 50s, false}));
}

TEST(EvaluateCatchUp, ZeroStableIsCaughtUpAtOnce) {
  EXPECT_TRUE(evaluateCatchUp(std::nullopt, 0, 0, 0s, T0).caughtUp);
}

LagSnapshot snap(int64_t consumed, int64_t lag, WallTime at) {
  LagSnapshot s;
  s.consumed = consumed;
  s.totalLag = lag;
  s.sampledAt = at;
  return s;
}

TEST(EstimateProgress, FirstSampleHasPercentButNoRate) {
  auto p = estimateProgress(std::nullopt, snap(250, 750, T0));
  EXPECT_DOUBLE_EQ(p.percent, 25.0);
  EXPECT_EQ(p.messagesPerSecond, 0);
  EXPECT_EQ(p.etaSeconds, std::nullopt);
}

TEST(EstimateProgress, RateAndEtaFromTwoSamples) {
  auto p = estimateProgress(snap(0, 1000, T0), snap(200, 800, T0 + 2s));
  EXPECT_DOUBLE_EQ(p.messagesPerSecond, 100.0);
  EXPECT_EQ(p.etaSeconds, 8);
  EXPECT_DOUBLE_EQ(p.percent, 20.0);
}

TEST(EstimateProgress, RateIsSmoothedWithThePreviousOne) {
  auto p = estimateProgress(snap(0, 1000, T0), snap(200, 800, T0 + 2s), 300.0);
  EXPECT_DOUBLE_EQ(p.messagesPerSecond, 200.0);
  EXPECT_EQ(p.etaSeconds, 4);
}

TEST(EstimateProgress, NoLagIsDone) {
  auto p = estimateProgress(snap(0, 0, T0), snap(0, 0, T0 + 1s));
  EXPECT_DOUBLE_EQ(p.percent, 100.0);
  EXPECT_EQ(p.etaSeconds, 0);
}

TEST(EstimateProgress, ATinyRateIsAStall) {
  auto p = estimateProgress(snap(100, 900, T0), snap(100, 900, T0 + 5s), kStalledRate);
  EXPECT_EQ(p.messagesPerSecond, 0);  // halved below the stall threshold
  EXPECT_EQ(p.etaSeconds, std::nullopt);
}

TEST(EstimateProgress, AnEtaBeyondTheCapIsUnknown) {
  int64_t lag = int64_t{1} << 60;
  auto p = estimateProgress(snap(100, lag, T0), snap(101, lag, T0 + 50s));  // 0.02/s
  EXPECT_NEAR(p.messagesPerSecond, 0.02, 1e-12);
  EXPECT_EQ(p.etaSeconds, std::nullopt);
}

TEST(EstimateProgress, StalledReplayHasNoEta) {
  auto p = estimateProgress(snap(100, 900, T0), snap(100, 900, T0 + 5s));
  EXPECT_EQ(p.messagesPerSecond, 0);
  EXPECT_EQ(p.etaSeconds, std::nullopt);
}

}  // namespace
}  // namespace kappa::kafka
