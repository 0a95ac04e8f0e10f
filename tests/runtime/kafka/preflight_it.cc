// Retention preflight against the real broker: one topic per verdict.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "runtime/kafka/history_sample.h"
#include "runtime/kafka/retention_preflight.h"
#include "runtime/worker/dry_run.h"
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

// ----- The sample of history and the dry run ------------------------------------------------

std::vector<int64_t> offsetsOf(const std::vector<SampledRecord>& records, int32_t partition) {
  std::vector<int64_t> out;
  for (const auto& r : records) {
    if (r.partition == partition) out.push_back(r.offset);
  }
  return out;
}

TEST(SampleIntegration, ReadsExactlyTheTargetsOfEachPartition) {
  auto admin = makeAdmin();
  ASSERT_TRUE(admin);
  auto topic = uniqueName("t");
  testing::createTopic(*admin, topic, 3);
  // 5000 records on partition 0 (far apart targets: the reader seeks), 7 on partition 1
  // (read whole), none on 2.
  std::vector<std::optional<std::string>> values;
  for (int i = 0; i < 5000; ++i) values.push_back("v" + std::to_string(i));
  testing::produceValues(topic, 0, values);
  values.resize(7);
  values[4] = std::nullopt;  // a null value comes back as none
  testing::produceValues(topic, 1, values);
  auto sample = sampleHistory(*admin, topic, 8);
  ASSERT_TRUE(sample.ok()) << sample.error();
  std::vector<int64_t> p0{0, 555, 1110, 1666, 2221, 2499, 2777, 3332, 3888, 4443, 4999};
  EXPECT_EQ(offsetsOf(sample->records, 0), p0);
  EXPECT_EQ(offsetsOf(sample->records, 1), (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6}));
  EXPECT_TRUE(offsetsOf(sample->records, 2).empty());
  EXPECT_EQ(sample->sizes, (PartitionOffsets{{0, 5000}, {1, 7}}));
  for (const auto& r : sample->records) {
    if (r.partition == 1 && r.offset == 4) {
      EXPECT_FALSE(r.value.has_value());
    } else {
      EXPECT_EQ(r.value, "v" + std::to_string(r.offset)) << r.partition << "@" << r.offset;
    }
  }
}

TEST(SampleIntegration, TargetsOnTransactionMarkersTakeTheNextRecord) {
  auto admin = makeAdmin();
  ASSERT_TRUE(admin);
  auto topic = uniqueName("t");
  testing::createTopic(*admin, topic, 1);
  testing::TxnProducer txn(uniqueName("txn"));
  txn.transaction(topic, 0, 10);         // offsets 0-9, marker 10
  txn.transaction(topic, 0, 10, false);  // 11-20 aborted, marker 21
  txn.transaction(topic, 0, 10);         // 22-31, marker 32
  SampleTargets targets{{0, {5, 10, 15, 32}}};
  auto sample = admin->sampleRecords(topic, targets);
  ASSERT_TRUE(sample.ok()) << sample.error();
  // 10 is a marker and 11-21 are aborted: the next record a read_committed reader gets is
  // 22, for both 10 and 15. The last offset (32) is a marker: nothing follows it.
  EXPECT_EQ(offsetsOf(*sample, 0), (std::vector<int64_t>{5, 22}));
}

// Bad records planted at known offsets: the dry run's ratio is exactly theirs among the
// sampled offsets, both through the library and through kubectl kappa preflight --program.
TEST(DryRunIntegration, RatiosAreExactOnPlantedBadRecords) {
  auto admin = makeAdmin();
  ASSERT_TRUE(admin);
  auto topic = uniqueName("t");
  testing::createTopic(*admin, topic, 2);
  // Partition 0: 1000 records, those at offsets divisible by 111 lack the key (0, 111, ...,
  // 999: ten of them); of the 19 sampled offsets (0, 58, 117, ..., 499, ..., 999) the bad
  // ones are 0 and 999. Partition 1: 10 records read whole, 3 not JSON.
  std::vector<std::optional<std::string>> p0, p1;
  for (int i = 0; i < 1000; ++i) {
    p0.push_back(i % 111 == 0 ? R"({"page":"/"})" : R"({"user_id":"u)" + std::to_string(i) + "\"}");
  }
  for (int i = 0; i < 10; ++i)
    p1.push_back(i == 2 || i == 5 || i == 9 ? "{" : R"({"user_id":"w"})");
  testing::produceValues(topic, 0, p0);
  testing::produceValues(topic, 1, p1);
  auto targets = sampleTargets({{0, 0}, {1, 0}}, {{0, 1000}, {1, 10}}, 16);
  int64_t expectedBad0 = 0;
  for (int64_t o : targets.at(0)) expectedBad0 += o % 111 == 0;
  ASSERT_EQ(targets.at(0).size(), 19u);
  ASSERT_EQ(expectedBad0, 2);

  auto program = worker::parseProgram("keyField: user_id\naggregates: [{name: n, op: count}]");
  ASSERT_TRUE(program.ok());
  auto sample = sampleHistory(*admin, topic, 16);
  ASSERT_TRUE(sample.ok()) << sample.error();
  worker::DryRunReport r = worker::dryRun(*program, sample->records, sample->sizes);
  EXPECT_EQ(r.sampled, 29);
  EXPECT_EQ(r.deadLettered, 5);
  // Each partition's sampled ratio weighted by its size: (1000 * 2/19 + 10 * 3/10) / 1010.
  EXPECT_NEAR(r.ratio, (1000.0 * 2 / 19 + 3) / 1010, 1e-12);
  ASSERT_EQ(r.reasons.size(), 2u) << r;
  EXPECT_EQ(r.reasons[0].reason, "bad JSON");
  EXPECT_EQ(r.reasons[0].records, 3);
  EXPECT_EQ(r.reasons[1].reason, "missing key field");
  EXPECT_EQ(r.reasons[1].records, 2);
  EXPECT_EQ(r.reasons[1].examples[0], (worker::DryRunExample{0, 0, R"({"page":"/"})"}));

  std::string file = ::testing::TempDir() + "/" + uniqueName("program") + ".yaml";
  std::ofstream(file) << "keyField: user_id\naggregates: [{name: n, op: count}]\n";
  std::string cmd = testing::binPath("kubectl-kappa") + " preflight --bootstrap " +
                    testing::kafkaBootstrap() + " --topic " + topic +
                    " --throughput 1000 --program " + file;
  auto within = testing::run(cmd + " --max-dead-letter-ratio 0.2 --json");
  EXPECT_EQ(within.exitCode, 0) << within.out;
  auto j = nlohmann::json::parse(within.out);
  EXPECT_EQ(j["dryRun"]["sampledRecords"], 29);
  EXPECT_EQ(j["dryRun"]["deadLetteredRecords"], 5);
  EXPECT_EQ(j["dryRun"]["deadLetterRatio"], 0.1072);
  EXPECT_EQ(j["dryRun"]["withinLimit"], true);
  auto over = testing::run(cmd + " --max-dead-letter-ratio 0.1");
  EXPECT_EQ(over.exitCode, 1) << over.out;
  EXPECT_NE(over.out.find("dry run: the program would dead-letter 5 of 29 sampled records "
                          "(about 10.7% of the history): bad JSON (3), missing key field (2), "
                          "above --max-dead-letter-ratio 0.1"),
            std::string::npos)
      << over.out;
  EXPECT_NE(over.out.find("  missing key field: partition 0 offset 0: {\"page\":\"/\"}"),
            std::string::npos)
      << over.out;
}

TEST(PreflightCli, DryRunOptionsNeedAProgram) {
  auto r = testing::run(testing::binPath("kubectl-kappa") +
                        " preflight --bootstrap 127.0.0.1:1 --topic t --throughput 5 "
                        "--max-dead-letter-ratio 0.5 2>&1");
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_NE(r.out.find("--program"), std::string::npos) << r.out;
  auto bad = testing::run(testing::binPath("kubectl-kappa") +
                          " preflight --bootstrap 127.0.0.1:1 --topic t --throughput 5 "
                          "--program /nonexistent.yaml 2>&1");
  EXPECT_EQ(bad.exitCode, 2);
  EXPECT_NE(bad.out.find("/nonexistent.yaml"), std::string::npos) << bad.out;
}

}  // namespace
}  // namespace kappa::kafka
