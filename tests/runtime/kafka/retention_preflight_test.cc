#include "runtime/kafka/retention_preflight.h"

#include <gtest/gtest.h>

#include "tests/support/fakes/kafka_admin.h"

namespace kappa::kafka {
namespace {

constexpr int64_t kDay = 86400000;
constexpr int64_t kNow = 1'800'000'000'000;

RetentionInputs base() {
  RetentionInputs in;
  in.retentionMs = 7 * kDay;
  in.retentionBytes = -1;
  in.cleanupPolicy = "delete";
  in.earliestOffsets = {{0, 0}, {1, 0}};
  in.endOffsets = {{0, 600000}, {1, 400000}};
  in.earliestTimestampMs = kNow - 5 * kDay;  // two days left for the oldest event
  in.nowMs = kNow;
  in.throughputMsgsPerSec = 100;  // 1M records: 10000 s
  return in;
}

TEST(EvaluateRetention, SafeWhenReplayEndsBeforeOldestExpires) {
  auto r = evaluateRetention(base());
  EXPECT_EQ(r.verdict, RetentionVerdict::kSafe) << r;
  EXPECT_EQ(r.messages, 1000000);
  EXPECT_DOUBLE_EQ(r.replaySeconds, 10000);
  EXPECT_EQ(r.oldestAgeSeconds, 5 * 86400);
  EXPECT_EQ(r.expiresInSeconds, 2 * 86400);
  EXPECT_DOUBLE_EQ(*r.headroomSeconds, 2 * 86400 - 10000);
}

TEST(EvaluateRetention, AtRiskWhenReplayOutlastsOldestEvent) {
  auto in = base();
  in.throughputMsgsPerSec = 5;  // 200000 s > 2 days
  auto r = evaluateRetention(in);
  EXPECT_EQ(r.verdict, RetentionVerdict::kAtRisk) << r;
  EXPECT_LT(*r.headroomSeconds, 0);
  EXPECT_NE(r.reason.find("1000000 records"), std::string::npos) << r.reason;
}

TEST(EvaluateRetention, OldestAlreadyPastRetentionIsAtRisk) {
  auto in = base();
  in.earliestTimestampMs = kNow - 8 * kDay;  // not deleted yet, but due
  auto r = evaluateRetention(in);
  EXPECT_EQ(r.verdict, RetentionVerdict::kAtRisk) << r;
}

TEST(EvaluateRetention, TruncatedWhenLogStartMoved) {
  auto in = base();
  in.earliestOffsets = {{0, 1200}, {1, 0}};
  auto r = evaluateRetention(in);
  EXPECT_EQ(r.verdict, RetentionVerdict::kTruncated) << r;
  EXPECT_EQ(r.truncatedPartitions, 1);
  EXPECT_EQ(r.truncatedOffsets, 1200);
}

TEST(EvaluateRetention, InfiniteRetentionIsSafe) {
  auto in = base();
  in.retentionMs = -1;
  in.throughputMsgsPerSec = 0.001;
  auto r = evaluateRetention(in);
  EXPECT_EQ(r.verdict, RetentionVerdict::kSafe) << r;
  EXPECT_EQ(r.expiresInSeconds, std::nullopt);
}

TEST(EvaluateRetention, CompactedTopicIsSafe) {
  auto in = base();
  in.cleanupPolicy = "compact";
  in.throughputMsgsPerSec = 0.001;
  EXPECT_EQ(evaluateRetention(in).verdict, RetentionVerdict::kSafe);
}

TEST(EvaluateRetention, SizeBasedRetentionIsAtRisk) {
  auto in = base();
  in.retentionBytes = 1 << 30;
  auto r = evaluateRetention(in);
  EXPECT_EQ(r.verdict, RetentionVerdict::kAtRisk) << r;
  EXPECT_NE(r.reason.find("retention.bytes"), std::string::npos);
}

TEST(EvaluateRetention, EmptyTopicIsSafe) {
  auto in = base();
  in.endOffsets = {{0, 0}, {1, 0}};
  in.earliestTimestampMs.reset();
  EXPECT_EQ(evaluateRetention(in).verdict, RetentionVerdict::kSafe);
}

TEST(RunPreflight, GathersInputsThroughThePort) {
  testing::FakeKafkaAdmin admin;
  admin.topics["src"] = {"src",
                         1,
                         {{"retention.ms", std::to_string(kDay)},
                          {"retention.bytes", "-1"},
                          {"cleanup.policy", "delete"}}};
  admin.earliest["src"] = {{0, 0}};
  admin.end["src"] = {{0, 1000}};
  admin.timestamps["src"] = {{0, kNow - kDay / 2}};
  auto now = WallTime{} + std::chrono::milliseconds(kNow);
  auto slow = runPreflight(admin, "src", 0.01, now);  // 100000 s > 12 h left
  ASSERT_TRUE(slow.ok()) << slow.error();
  EXPECT_EQ(slow->verdict, RetentionVerdict::kAtRisk) << *slow;
  auto fast = runPreflight(admin, "src", 1000, now);
  ASSERT_TRUE(fast.ok());
  EXPECT_EQ(fast->verdict, RetentionVerdict::kSafe) << *fast;
}

TEST(RunPreflight, RejectsNonPositiveThroughput) {
  testing::FakeKafkaAdmin admin;
  auto r = runPreflight(admin, "src", 0, WallTime{});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
}

TEST(RunPreflight, MissingTopicIsNotFound) {
  testing::FakeKafkaAdmin admin;
  auto r = runPreflight(admin, "nope", 10, WallTime{});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
}

}  // namespace
}  // namespace kappa::kafka
