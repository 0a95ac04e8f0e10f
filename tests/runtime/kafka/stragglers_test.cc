#include "runtime/kafka/stragglers.h"

#include <gtest/gtest.h>

#include <map>

namespace kappa::kafka {
namespace {

using namespace std::chrono_literals;
const WallTime T0 = WallTime{} + 1000h;

// A sample at T0 + at: partition -> {committed position, end}.
LagSnapshot sample(std::chrono::seconds at,
                   const std::map<int32_t, std::pair<int64_t, int64_t>>& p) {
  PartitionOffsets earliest, end, committed;
  for (const auto& [partition, pos] : p) {
    earliest[partition] = 0;
    committed[partition] = pos.first;
    end[partition] = pos.second;
  }
  return computeLag(earliest, end, committed, T0 + at);
}

// Four partitions with 1M records each, read at the given rates (records/s) for `seconds`,
// sampled every 2 s.
ProgressWindow replay(const std::map<int32_t, int64_t>& rates, int seconds,
                      StragglerRule rule = {}) {
  ProgressWindow w(rule);
  for (int t = 0; t <= seconds; t += 2) {
    std::map<int32_t, std::pair<int64_t, int64_t>> p;
    for (const auto& [partition, rate] : rates) p[partition] = {rate * t, 1'000'000};
    w.add(sample(std::chrono::seconds(t), p));
  }
  return w;
}

TEST(Stragglers, APartitionFarBelowTheOthersMedianIsOne) {
  auto w = replay({{0, 1000}, {1, 1100}, {2, 900}, {3, 100}}, 60);
  auto s = w.stragglers().value();
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].partition, 3);
  EXPECT_DOUBLE_EQ(s[0].messagesPerSecond, 100);
  EXPECT_DOUBLE_EQ(s[0].peerMessagesPerSecond, 1000);
  EXPECT_EQ(s[0].lag, 1'000'000 - 100 * 60);
}

TEST(Stragglers, APartitionThatStoppedWhileTheOthersReadIsOne) {
  auto s = replay({{0, 1000}, {1, 0}}, 60).stragglers().value();
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].partition, 1);
  EXPECT_DOUBLE_EQ(s[0].messagesPerSecond, 0);
}

TEST(Stragglers, NothingBeforeTheSamplesSpanTheWindow) {
  EXPECT_EQ(replay({{0, 1000}, {1, 0}}, 58).stragglers(), std::nullopt) << "no verdict yet";
  EXPECT_EQ(replay({{0, 1000}, {1, 0}}, 60, {.window = 10s}).stragglers()->size(), 1u);
  // Three samples at least: a window shorter than two sample periods gives no verdict.
  EXPECT_EQ(replay({{0, 1000}, {1, 0}}, 60, {.window = 2s}).stragglers(), std::nullopt);
}

TEST(Stragglers, ASlowerPartitionWithinTheRatioIsNone) {
  EXPECT_EQ(replay({{0, 1000}, {1, 1000}, {2, 300}}, 60).stragglers()->size(), 0u);
  EXPECT_EQ(replay({{0, 1000}, {1, 1000}, {2, 300}}, 60, {.slowRatio = 0.5}).stragglers()->size(),
            1u);
}

TEST(Stragglers, WhenEveryPartitionCrawlsNoneIsAStraggler) {
  // The replay is stalled as a whole: the peers' median is below minPeerRate.
  EXPECT_EQ(replay({{0, 0}, {1, 0}, {2, 0}}, 60).stragglers()->size(), 0u);
}

TEST(Stragglers, OneSlowSampleRaisesNothing) {
  // Partition 1 reads nothing between two samples, then catches up: over the window its rate
  // is the others'.
  ProgressWindow w;
  int64_t pos1 = 0;
  for (int t = 0; t <= 60; t += 2) {
    if (t != 30) pos1 = 1000 * t;
    w.add(sample(std::chrono::seconds(t), {{0, {1000 * t, 1'000'000}}, {1, {pos1, 1'000'000}}}));
    EXPECT_TRUE(w.stragglers().value_or(std::vector<Straggler>{}).empty()) << "at " << t << " s";
  }
}

TEST(Stragglers, PartitionsThatCaughtUpAreNotPeers) {
  // Partitions 0 and 1 are done (lag 0) and read only the live rate; partition 2 is the tail
  // of the replay, alone: no straggler.
  ProgressWindow w;
  for (int t = 0; t <= 60; t += 2) {
    int64_t live = 1000 + t;
    w.add(sample(std::chrono::seconds(t),
                 {{0, {live, live}}, {1, {live, live}}, {2, {500 * t, 1'000'000}}}));
  }
  EXPECT_EQ(w.stragglers()->size(), 0u);
  // A partition that caught up within the window is not a peer either.
  ProgressWindow v;
  for (int t = 0; t <= 60; t += 2) {
    int64_t p0 = std::min<int64_t>(1000 * t, 20'000);
    v.add(sample(std::chrono::seconds(t),
                 {{0, {p0, 20'000}}, {1, {1000 * t, 1'000'000}}, {2, {10 * t, 1'000'000}}}));
  }
  auto s = v.stragglers().value();
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].partition, 2);
  EXPECT_DOUBLE_EQ(s[0].peerMessagesPerSecond, 1000);
}

TEST(Stragglers, OldSamplesLeaveTheWindow) {
  // Partition 1 stopped for the first minute, then reads like the others: after another
  // window it is no longer a straggler.
  ProgressWindow w;
  int64_t pos1 = 0;
  for (int t = 0; t <= 130; t += 2) {
    if (t > 60) pos1 += 2000;
    w.add(sample(std::chrono::seconds(t), {{0, {1000 * t, 1'000'000}}, {1, {pos1, 1'000'000}}}));
    if (t == 60) {
      EXPECT_EQ(w.stragglers()->size(), 1u);
    }
  }
  EXPECT_EQ(w.stragglers()->size(), 0u);
  EXPECT_LE(w.size(), 32u);
}

TEST(Stragglers, AClockStepBackStartsAfresh) {
  auto w = replay({{0, 1000}, {1, 0}}, 60);
  ASSERT_EQ(w.stragglers()->size(), 1u);
  w.add(sample(10s, {{0, {1, 1'000'000}}, {1, {0, 1'000'000}}}));
  EXPECT_EQ(w.size(), 1u);
  EXPECT_EQ(w.stragglers(), std::nullopt);
}

}  // namespace
}  // namespace kappa::kafka
