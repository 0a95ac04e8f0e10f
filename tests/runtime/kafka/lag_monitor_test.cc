#include "runtime/kafka/lag_monitor.h"

#include <gtest/gtest.h>

#include "tests/support/fakes/kafka_admin.h"

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

// A sample of one partition whose group has committed `position` of `end`.
LagSnapshot onePartition(int64_t position, int64_t end, WallTime at) {
  return computeLag({{0, 0}}, {{0, end}}, {{0, position}}, at);
}

TEST(EndOffsetHistory, ReachedIsTheNewestObservationAtOrBelowThePosition) {
  EndOffsetHistory h;
  h.add(T0, {{0, 100}, {1, 10}});
  h.add(T0 + 1s, {{0, 200}, {1, 10}});
  h.add(T0 + 2s, {{0, 300}, {1, 10}});
  EXPECT_EQ(h.reached(0, 99), std::nullopt);
  EXPECT_EQ(h.reached(0, 100), T0);
  EXPECT_EQ(h.reached(0, 250), T0 + 1s);
  EXPECT_EQ(h.reached(0, 300), T0 + 2s);
  EXPECT_EQ(h.reached(1, 10), T0 + 2s);  // a quiet partition reached the newest
  EXPECT_EQ(h.reached(7, 0), T0 + 2s);   // a partition that did not exist: nothing to read
  EXPECT_EQ(h.oldest(), T0);
}

TEST(EndOffsetHistory, AClockStepBackStartsAfresh) {
  EndOffsetHistory h;
  h.add(T0, {{0, 100}});
  h.add(T0 + 5s, {{0, 200}});
  h.add(T0 + 3s, {{0, 250}});
  EXPECT_EQ(h.size(), 1u);
  EXPECT_EQ(h.oldest(), T0 + 3s);
}

TEST(EndOffsetHistory, StaysBoundedAndKeepsRecentObservationsDense) {
  EndOffsetHistory h(16);
  for (int i = 0; i < 1000; ++i) h.add(T0 + std::chrono::seconds(i), {{0, 10 * i}});
  EXPECT_LE(h.size(), 16u);
  EXPECT_EQ(h.oldest(), T0);  // the first observation is never thinned out
  // The newest eight, one second apart, are all there.
  for (int i = 992; i < 1000; ++i) EXPECT_EQ(h.reached(0, 10 * i), T0 + std::chrono::seconds(i));
}

TEST(ApplyLagSeconds, ObservedFromTheNewestEndThePositionReached) {
  EndOffsetHistory h;
  h.add(T0, {{0, 100}});
  h.add(T0 + 2s, {{0, 150}});
  h.add(T0 + 4s, {{0, 200}});
  auto s = onePartition(160, 260, T0 + 5s);
  applyLagSeconds(s, h, {});
  EXPECT_TRUE(s.lagSecondsObserved);
  EXPECT_DOUBLE_EQ(s.partitions[0].lagSeconds, 3.0);  // reached 150 (seen at T0+2s), not 200
  EXPECT_DOUBLE_EQ(s.lagSeconds, 3.0);
}

TEST(ApplyLagSeconds, NoLagIsZeroSecondsWhateverTheHistory) {
  EndOffsetHistory h;  // empty: the first sample after a restart
  auto s = onePartition(260, 260, T0 + 5s);
  applyLagSeconds(s, h, {});
  EXPECT_TRUE(s.lagSecondsObserved);
  EXPECT_EQ(s.lagSeconds, 0);
}

TEST(ApplyLagSeconds, BehindEverythingObservedIsAnEstimateFromTheRecordTimestamp) {
  EndOffsetHistory h;
  h.add(T0, {{0, 1000}});
  h.add(T0 + 2s, {{0, 1010}});
  auto s = onePartition(10, 1020, T0 + 4s);
  // The record at offset 10 is an hour old.
  auto recordAt = T0 + 4s - 3600s;
  int64_t ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(recordAt.time_since_epoch()).count();
  applyLagSeconds(s, h, {{0, ms}});
  EXPECT_FALSE(s.lagSecondsObserved);
  EXPECT_DOUBLE_EQ(s.lagSeconds, 3600.0);
  // Without a timestamp (or with one from the future): at least the oldest observation's age.
  applyLagSeconds(s, h, {});
  EXPECT_FALSE(s.lagSecondsObserved);
  EXPECT_DOUBLE_EQ(s.lagSeconds, 4.0);
  int64_t future = ms + int64_t{7200} * 1000;
  applyLagSeconds(s, h, {{0, future}});
  EXPECT_DOUBLE_EQ(s.lagSeconds, 4.0);
}

TEST(ApplyLagSeconds, TheSlowestPartitionDecides) {
  EndOffsetHistory h;
  h.add(T0, {{0, 100}, {1, 100}});
  h.add(T0 + 3s, {{0, 130}, {1, 130}});
  auto s = computeLag({{0, 0}, {1, 0}}, {{0, 150}, {1, 150}}, {{0, 140}, {1, 110}}, T0 + 4s);
  applyLagSeconds(s, h, {});
  EXPECT_DOUBLE_EQ(s.partitions[0].lagSeconds, 1.0);
  EXPECT_DOUBLE_EQ(s.partitions[1].lagSeconds, 4.0);
  EXPECT_DOUBLE_EQ(s.lagSeconds, 4.0);
  EXPECT_TRUE(s.lagSecondsObserved);
}

TEST(LagMonitor, SecondsComeFromTheHistoryItKeeps) {
  testing::FakeKafkaAdmin admin;
  admin.earliest["t"] = {{0, 0}};
  admin.end["t"] = {{0, 5000}};
  admin.committed[{"g", "t"}] = {{0, 0}};
  admin.recordTs[{0, 0}] = 1000;  // 1970: the replay of old history
  LagMonitor m(admin);
  EndOffsetHistory h;
  auto first = m.sample("g", "t", T0, &h);
  ASSERT_TRUE(first.ok()) << first.error();
  EXPECT_FALSE(first->lagSecondsObserved);
  EXPECT_GT(first->lagSeconds, 1e6);
  ASSERT_EQ(admin.timestampProbes.size(), 1u);
  EXPECT_EQ(admin.timestampProbes[0], (PartitionOffsets{{0, 0}}));
  EXPECT_EQ(h.size(), 1u);

  // Live traffic goes on; the worker has passed what existed at the first sample.
  admin.end["t"] = {{0, 6000}};
  admin.committed[{"g", "t"}] = {{0, 5500}};
  auto second = m.sample("g", "t", T0 + 2s, &h);
  ASSERT_TRUE(second.ok()) << second.error();
  EXPECT_TRUE(second->lagSecondsObserved);
  EXPECT_DOUBLE_EQ(second->lagSeconds, 2.0);
  EXPECT_EQ(admin.timestampProbes.size(), 1u);  // resolved by the history: no probe
  EXPECT_EQ(h.size(), 2u);
}

TEST(LagMonitor, TransactionMarkersDoNotHoldTheSecondsBack) {
  testing::FakeKafkaAdmin admin;
  admin.earliest["t"] = {{0, 0}};
  admin.end["t"] = {{0, 11}};
  admin.committed[{"g", "t"}] = {{0, 10}};  // all 10 records read, the marker at 10 left
  admin.visibleAt[0] = std::vector<bool>(11, true);
  admin.visibleAt[0][10] = false;
  LagMonitor m(admin);
  EndOffsetHistory h;
  auto s = m.sample("g", "t", T0, &h);
  ASSERT_TRUE(s.ok()) << s.error();
  EXPECT_TRUE(s->lagSecondsObserved);
  EXPECT_EQ(s->lagSeconds, 0);
  EXPECT_TRUE(admin.timestampProbes.empty());
}

CatchUpBound bound(int64_t maxSeconds, std::optional<int64_t> maxMessages, int64_t stable) {
  return CatchUpBound{std::chrono::seconds(maxSeconds), maxMessages, std::chrono::seconds(stable)};
}

LagSnapshot lagOf(double seconds, bool observed, int64_t messages, WallTime at) {
  LagSnapshot s;
  s.lagSeconds = seconds;
  s.lagSecondsObserved = observed;
  s.totalLag = messages;
  s.sampledAt = at;
  return s;
}

TEST(WithinBound, ObservedSecondsWithinTheBound) {
  EXPECT_TRUE(withinBound(lagOf(5.0, true, 90, T0), bound(5, std::nullopt, 30)));
  EXPECT_FALSE(withinBound(lagOf(5.001, true, 90, T0), bound(5, std::nullopt, 30)));
  // An estimate never counts, however small.
  EXPECT_FALSE(withinBound(lagOf(0.5, false, 90, T0), bound(5, std::nullopt, 30)));
  // maxLagSeconds 0: only a position at the end of every partition.
  EXPECT_TRUE(withinBound(lagOf(0, true, 0, T0), bound(0, std::nullopt, 30)));
  EXPECT_FALSE(withinBound(lagOf(0.2, true, 3, T0), bound(0, std::nullopt, 30)));
}

TEST(WithinBound, MessagesAreAnExtraBoundWhenSet) {
  EXPECT_TRUE(withinBound(lagOf(1, true, 1000, T0), bound(5, 1000, 30)));
  EXPECT_FALSE(withinBound(lagOf(1, true, 1001, T0), bound(5, 1000, 30)));
}

TEST(EvaluateCatchUp, OutsideBoundIsNotCaughtUp) {
  auto s = evaluateCatchUp(std::nullopt, lagOf(6, true, 11, T0), bound(5, std::nullopt, 30));
  EXPECT_EQ(s, (CatchUpState{false, std::nullopt, false}));
}

TEST(EvaluateCatchUp, EnteringBoundStartsTheClock) {
  auto s = evaluateCatchUp(std::nullopt, lagOf(4, true, 10, T0), bound(5, std::nullopt, 30));
  EXPECT_EQ(s, (CatchUpState{true, T0, false}));
}

TEST(EvaluateCatchUp, HoldingBoundLessThanStableIsNotCaughtUp) {
  auto s = evaluateCatchUp(T0, true, 30s, T0 + 29s);
  EXPECT_EQ(s, (CatchUpState{true, T0, false}));
}

TEST(EvaluateCatchUp, HoldingBoundForStableIsCaughtUp) {
  auto s = evaluateCatchUp(T0, lagOf(1, true, 40, T0 + 30s), bound(5, std::nullopt, 30));
  EXPECT_EQ(s, (CatchUpState{true, T0, true}));
}

TEST(EvaluateCatchUp, LeavingBoundResetsTheClock) {
  auto s = evaluateCatchUp(T0, false, 30s, T0 + 40s);
  EXPECT_EQ(s, (CatchUpState{false, std::nullopt, false}));
  auto again = evaluateCatchUp(s.withinSince, true, 30s, T0 + 50s);
  EXPECT_EQ(again, (CatchUpState{true, T0 + 50s, false}));
}

TEST(EvaluateCatchUp, ZeroStableIsCaughtUpAtOnce) {
  EXPECT_TRUE(evaluateCatchUp(std::nullopt, true, 0s, T0).caughtUp);
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
