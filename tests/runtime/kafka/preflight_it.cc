// Retention preflight against the real broker: one topic per verdict.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "runtime/kafka/retention_preflight.h"
#include "tests/support/kafka_test_util.h"

namespace kappa::kafka {
namespace {

using testing::makeAdmin;
using testing::uniqueName;

constexpr int64_t kDayMs = 86'400'000;

int64_t nowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

testing::CommandResult preflightCli(const std::string& topic, double throughput) {
  return testing::run(testing::binPath("kubectl-kappa") + " preflight --bootstrap " +
                      testing::kafkaBootstrap() + " --topic " + topic + " --throughput " +
                      std::to_string(throughput) + " --json");
}

TEST(PreflightIntegration, SafeWithHeadroom) {
  auto admin = makeAdmin();
  ASSERT_TRUE(admin);
  auto topic = uniqueName("t");
  testing::createTopic(*admin, topic, 2, {{"retention.ms", std::to_string(7 * kDayMs)}});
  testing::produce(topic, 0, 500, nowMs() - kDayMs);  // one day old: six days left
  testing::produce(topic, 1, 500);
  auto r = runPreflight(*admin, topic, 100, std::chrono::system_clock::now());
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->verdict, RetentionVerdict::kSafe) << *r;
  EXPECT_EQ(r->messages, 1000);
  EXPECT_DOUBLE_EQ(r->replaySeconds, 10.0);
  ASSERT_TRUE(r->oldestAgeSeconds);
  EXPECT_NEAR(*r->oldestAgeSeconds, 86400, 60);
  ASSERT_TRUE(r->expiresInSeconds);
  EXPECT_NEAR(*r->expiresInSeconds, 6 * 86400, 60);

  auto cli = preflightCli(topic, 100);
  EXPECT_EQ(cli.exitCode, 0) << cli.out;
  auto j = nlohmann::json::parse(cli.out);
  EXPECT_EQ(j["verdict"], "Safe");
  EXPECT_EQ(j["messages"], 1000);
}

TEST(PreflightIntegration, AtRiskWhenReplayOutlastsOldestEvent) {
  auto admin = makeAdmin();
  ASSERT_TRUE(admin);
  auto topic = uniqueName("t");
  testing::createTopic(*admin, topic, 1, {{"retention.ms", std::to_string(7 * kDayMs)}});
  // The oldest events are 6 days 23 hours old: one hour left.
  testing::produce(topic, 0, 1000, nowMs() - 7 * kDayMs + 3'600'000);
  auto r = runPreflight(*admin, topic, 0.1, std::chrono::system_clock::now());  // 10000 s
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->verdict, RetentionVerdict::kAtRisk) << *r;
  EXPECT_NEAR(*r->expiresInSeconds, 3600, 60);
  EXPECT_LT(*r->headroomSeconds, 0);

  auto fast = runPreflight(*admin, topic, 10000, std::chrono::system_clock::now());  // 0.1 s
  ASSERT_TRUE(fast.ok());
  EXPECT_EQ(fast->verdict, RetentionVerdict::kSafe) << *fast;

  auto cli = preflightCli(topic, 0.1);
  EXPECT_EQ(cli.exitCode, 1) << cli.out;
  EXPECT_EQ(nlohmann::json::parse(cli.out)["verdict"], "AtRisk");
}

TEST(PreflightIntegration, TruncatedWhenHistoryWasDeleted) {
  auto admin = makeAdmin();
  ASSERT_TRUE(admin);
  auto topic = uniqueName("t");
  testing::createTopic(*admin, topic, 2);
  testing::produce(topic, 0, 100);
  testing::produce(topic, 1, 100);
  ASSERT_TRUE(admin->deleteRecordsBefore(topic, {{1, 30}}).ok());
  auto r = runPreflight(*admin, topic, 1e6, std::chrono::system_clock::now());
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->verdict, RetentionVerdict::kTruncated) << *r;
  EXPECT_EQ(r->truncatedPartitions, 1);
  EXPECT_EQ(r->truncatedOffsets, 30);
  EXPECT_EQ(r->messages, 170);

  auto cli = preflightCli(topic, 1e6);
  EXPECT_EQ(cli.exitCode, 1) << cli.out;
  EXPECT_EQ(nlohmann::json::parse(cli.out)["verdict"], "Truncated");
}

TEST(PreflightCli, BadThroughputIsUsageError) {
  auto r = testing::run(testing::binPath("kubectl-kappa") +
                        " preflight --bootstrap 127.0.0.1:1 --topic t --throughput -5 2>&1");
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_NE(r.out.find("--throughput"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace kappa::kafka
