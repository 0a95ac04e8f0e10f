// Lag against the real broker: exact numbers for known produced and committed counts.
#include <gtest/gtest.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <thread>

#include "runtime/kafka/lag_monitor.h"
#include "tests/support/kafka_test_util.h"

namespace kappa::kafka {
namespace {

using testing::makeAdmin;
using testing::uniqueName;

TEST(LagIntegration, ExactLagFromCommittedOffsets) {
  auto admin = makeAdmin();
  ASSERT_TRUE(admin);
  auto topic = uniqueName("t");
  auto group = uniqueName("g");
  testing::createTopic(*admin, topic, 3);
  testing::produce(topic, 0, 100);
  testing::produce(topic, 1, 50);
  testing::commitOffsets(group, topic, {{0, 60}, {1, 50}});

  LagMonitor monitor(*admin);
  auto s = monitor.sample(group, topic, std::chrono::system_clock::now());
  ASSERT_TRUE(s.ok()) << s.error();
  ASSERT_EQ(s->partitions.size(), 3u);
  EXPECT_EQ(s->partitions[0].lag, 40);
  EXPECT_EQ(s->partitions[1].lag, 0);
  EXPECT_EQ(s->partitions[2].lag, 0);
  EXPECT_EQ(s->totalLag, 40);
  EXPECT_EQ(s->laggingPartitions, 1);
  EXPECT_EQ(s->consumed, 110);
}

TEST(LagIntegration, GroupWithNoCommitsLagsByEverything) {
  auto admin = makeAdmin();
  ASSERT_TRUE(admin);
  auto topic = uniqueName("t");
  testing::createTopic(*admin, topic, 2);
  testing::produce(topic, 0, 2000);
  testing::produce(topic, 1, 7);
  LagMonitor monitor(*admin);
  auto s = monitor.sample(uniqueName("fresh"), topic, std::chrono::system_clock::now());
  ASSERT_TRUE(s.ok()) << s.error();
  EXPECT_FALSE(s->committedAny);
  EXPECT_EQ(s->totalLag, 2007);
  EXPECT_EQ(s->partitions[0].committed, std::nullopt);
  auto p = estimateProgress(std::nullopt, *s);
  EXPECT_DOUBLE_EQ(p.percent, 0.0);
}

TEST(LagIntegration, TransactionalSourceLeavesNoPermanentLag) {
  auto admin = makeAdmin();
  ASSERT_TRUE(admin);
  auto topic = uniqueName("t");
  auto group = uniqueName("g");
  testing::createTopic(*admin, topic, 1);
  testing::TxnProducer txn(uniqueName("txn"));
  txn.transaction(topic, 0, 10);        // 0..9, marker 10
  txn.transaction(topic, 0, 10);        // 11..20, marker 21
  txn.transaction(topic, 0, 5, false);  // 22..26 aborted, marker 27
  txn.transaction(topic, 0, 10);        // 28..37, marker 38 -> LSO 39

  LagMonitor monitor(*admin);
  // Half way: the group has read the first transaction and the marker after it.
  testing::commitOffsets(group, topic, {{0, 11}});
  auto s = monitor.sample(group, topic, std::chrono::system_clock::now());
  ASSERT_TRUE(s.ok()) << s.error();
  EXPECT_EQ(s->partitions[0].end, 39);
  EXPECT_EQ(s->partitions[0].offsetLag, 28);
  EXPECT_EQ(s->totalLag, 20) << "aborted records and markers are not lag";

  // Done: a reader that consumed offset 37 commits 38, below the final marker.
  testing::commitOffsets(group, topic, {{0, 38}});
  s = monitor.sample(group, topic, std::chrono::system_clock::now());
  ASSERT_TRUE(s.ok()) << s.error();
  EXPECT_EQ(s->partitions[0].offsetLag, 1);
  EXPECT_EQ(s->totalLag, 0);
  // Even with no history, a position at the visible end is 0 s behind, and within a 0 s bound.
  EXPECT_TRUE(s->lagSecondsObserved);
  EXPECT_EQ(s->lagSeconds, 0);
  EXPECT_TRUE(withinBound(*s, CatchUpBound{std::chrono::seconds(0), 0, std::chrono::seconds(0)}));
}

TEST(LagIntegration, OpenTransactionIsNotLag) {
  auto admin = makeAdmin();
  ASSERT_TRUE(admin);
  auto topic = uniqueName("t");
  auto group = uniqueName("g");
  testing::createTopic(*admin, topic, 1);
  testing::TxnProducer txn(uniqueName("txn"));
  txn.transaction(topic, 0, 10);  // LSO 11
  testing::commitOffsets(group, topic, {{0, 10}});
  txn.beginOpen(topic, 0, 20);  // not visible to read_committed readers yet
  LagMonitor monitor(*admin);
  auto s = monitor.sample(group, topic, std::chrono::system_clock::now());
  ASSERT_TRUE(s.ok()) << s.error();
  EXPECT_EQ(s->partitions[0].end, 11);
  EXPECT_EQ(s->totalLag, 0);
  txn.commitOpen();
  s = monitor.sample(group, topic, std::chrono::system_clock::now());
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->totalLag, 20);
}

TEST(LagCli, JsonHasStatusShapeAndPerPartition) {
  auto admin = makeAdmin();
  ASSERT_TRUE(admin);
  auto topic = uniqueName("t");
  auto group = uniqueName("g");
  testing::createTopic(*admin, topic, 2);
  testing::produce(topic, 0, 30);
  testing::produce(topic, 1, 12);
  testing::commitOffsets(group, topic, {{0, 25}});
  auto r = testing::run(testing::binPath("kubectl-kappa") + " lag --bootstrap " +
                        testing::kafkaBootstrap() + " --group " + group + " --topic " + topic +
                        " --json");
  ASSERT_EQ(r.exitCode, 0) << r.out;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["messages"], 17);
  EXPECT_EQ(j["partitions"], 2);
  EXPECT_TRUE(j["sampledAt"].is_string());
  ASSERT_EQ(j["perPartition"].size(), 2u);
  EXPECT_EQ(j["perPartition"][0]["committed"], 25);
  EXPECT_EQ(j["perPartition"][0]["end"], 30);
  EXPECT_EQ(j["perPartition"][0]["lag"], 5);
  EXPECT_TRUE(j["perPartition"][1]["committed"].is_null());
  EXPECT_EQ(j["perPartition"][1]["lag"], 12);
  // One sample, no history: the seconds are the age of the record each group is at.
  EXPECT_TRUE(j["secondsEstimated"].get<bool>());
  EXPECT_GE(j["seconds"].get<double>(), 0.0);
  EXPECT_LT(j["seconds"].get<double>(), 600.0);
  EXPECT_TRUE(j["perPartition"][1]["secondsEstimated"].get<bool>());

  auto over = testing::run(testing::binPath("kubectl-kappa") + " lag --bootstrap " +
                           testing::kafkaBootstrap() + " --group " + group + " --topic " + topic +
                           " --max-lag 16 >/dev/null");
  EXPECT_EQ(over.exitCode, 1);
  auto under = testing::run(testing::binPath("kubectl-kappa") + " lag --bootstrap " +
                            testing::kafkaBootstrap() + " --group " + group + " --topic " + topic +
                            " --max-lag 17 >/dev/null");
  EXPECT_EQ(under.exitCode, 0);
}

TEST(LagCli, WaitReturnsTheFirstSampleWithinTheBound) {
  auto admin = makeAdmin();
  ASSERT_TRUE(admin);
  auto topic = uniqueName("t");
  auto group = uniqueName("g");
  testing::createTopic(*admin, topic, 1);
  testing::produce(topic, 0, 20);
  std::string cmd = testing::binPath("kubectl-kappa") + " lag --bootstrap " +
                    testing::kafkaBootstrap() + " --group " + group + " --topic " + topic;

  // Nothing committed yet, then 10 of 20, then everything: --wait returns only after that.
  auto start = std::chrono::steady_clock::now();
  std::thread committer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    testing::commitOffsets(group, topic, {{0, 10}});
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    testing::commitOffsets(group, topic, {{0, 20}});
  });
  auto r = testing::run(cmd + " --json --wait --interval 0.1 --wait-timeout 60");
  auto waited = std::chrono::steady_clock::now() - start;
  committer.join();
  ASSERT_EQ(r.exitCode, 0) << r.out;
  EXPECT_GE(waited, std::chrono::milliseconds(3000));
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["messages"], 0);
  EXPECT_EQ(j["committed"], true);
  EXPECT_EQ(j["perPartition"][0]["committed"], 20);
  // Milliseconds: the moment the sample started.
  EXPECT_EQ(j["sampledAt"].get<std::string>().size(),
            std::string("2026-01-01T00:00:00.000Z").size())
      << j["sampledAt"];

  // A bound that is not met: exit 1 at the timeout, naming the last sample.
  testing::produce(topic, 0, 5);
  start = std::chrono::steady_clock::now();
  auto late = testing::run(cmd + " --wait --interval 0.2 --wait-timeout 1 2>&1 >/dev/null");
  EXPECT_EQ(late.exitCode, 1) << late.out;
  EXPECT_NE(late.out.find("not within 0 messages after 1s (last sample: 5 messages, "),
            std::string::npos)
      << late.out;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(8));
  auto within = testing::run(cmd + " --wait --max-lag 5 --wait-timeout 30 >/dev/null");
  EXPECT_EQ(within.exitCode, 0);

  auto usage = testing::run(cmd + " --interval 0.1 2>&1");
  EXPECT_EQ(usage.exitCode, 2);
  EXPECT_NE(usage.out.find("--wait"), std::string::npos) << usage.out;
}

TEST(LagCli, WaitWithMaxLagSecondsFollowsALiveTopic) {
  auto admin = makeAdmin();
  ASSERT_TRUE(admin);
  auto topic = uniqueName("t");
  auto group = uniqueName("g");
  testing::createTopic(*admin, topic, 1);
  testing::produce(topic, 0, 20);
  std::string cmd = testing::binPath("kubectl-kappa") + " lag --bootstrap " +
                    testing::kafkaBootstrap() + " --group " + group + " --topic " + topic;
  // A live topic: 10 more records every 100 ms; the group commits, 200 ms later, the end
  // that was there. Its lag in messages never reaches 0; in seconds it stays below 1.
  std::atomic<bool> stop{false};
  std::thread live([&] {
    while (!stop) {
      auto end = admin->endOffsets(topic);
      testing::produce(topic, 0, 10);
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      if (end.ok()) testing::commitOffsets(group, topic, {{0, end->at(0)}});
    }
  });
  auto messages = testing::run(cmd + " --wait --interval 0.2 --wait-timeout 3 2>&1 >/dev/null");
  auto r =
      testing::run(cmd + " --json --wait --max-lag-seconds 2 --interval 0.2 --wait-timeout 60");
  stop = true;
  live.join();
  EXPECT_EQ(messages.exitCode, 1) << "a 0-message bound is never met by a live topic: "
                                  << messages.out;
  ASSERT_EQ(r.exitCode, 0) << r.out;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_FALSE(j["secondsEstimated"].get<bool>());
  EXPECT_LE(j["seconds"].get<double>(), 2.0);
}

TEST(LagCli, UsageAndConnectionErrorsExitTwoWithOneLine) {
  auto bin = testing::binPath("kubectl-kappa");
  auto missing = testing::run(bin + " lag --bootstrap 127.0.0.1:1 --topic t 2>&1");
  EXPECT_EQ(missing.exitCode, 2);
  EXPECT_NE(missing.out.find("--group is required"), std::string::npos) << missing.out;
  EXPECT_EQ(std::count(missing.out.begin(), missing.out.end(), '\n'), 1) << missing.out;

  auto start = std::chrono::steady_clock::now();
  auto down =
      testing::run(bin + " lag --bootstrap 127.0.0.1:1 --group g --topic t --timeout 2 2>&1");
  EXPECT_EQ(down.exitCode, 2);
  EXPECT_NE(down.out.find("cannot reach Kafka at 127.0.0.1:1"), std::string::npos) << down.out;
  EXPECT_EQ(std::count(down.out.begin(), down.out.end(), '\n'), 1) << down.out;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(8));

  auto noTopic = testing::run(bin + " lag --bootstrap " + testing::kafkaBootstrap() +
                              " --group g --topic " + testing::uniqueName("none") + " 2>&1");
  EXPECT_EQ(noTopic.exitCode, 2);
  EXPECT_NE(noTopic.out.find("Unknown topic"), std::string::npos) << noTopic.out;
}

}  // namespace
}  // namespace kappa::kafka
