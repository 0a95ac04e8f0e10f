// RdKafkaAdmin against the real broker of the test fixture.
#include "runtime/kafka/rdkafka_admin.h"

#include <gtest/gtest.h>

#include <librdkafka/rdkafkacpp.h>

#include <thread>

#include "tests/support/kafka_test_util.h"

namespace kappa::kafka {
namespace {

using namespace std::chrono_literals;
using testing::makeAdmin;
using testing::uniqueName;

// Topic deletion is applied by the controller asynchronously; metadata catches up shortly.
template <typename F>
auto eventually(F f, std::chrono::milliseconds within = 10s) {
  auto deadline = std::chrono::steady_clock::now() + within;
  auto r = f();
  while (!r && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(100ms);
    r = f();
  }
  return r;
}

TEST(RdKafkaAdmin, CreateDescribeDeleteTopic) {
  auto admin = makeAdmin();
  ASSERT_TRUE(admin);
  auto topic = uniqueName("t");
  auto created = admin->createTopic(
      {topic, 3, 1, {{"retention.ms", "123456789"}, {"cleanup.policy", "compact"}}});
  ASSERT_TRUE(created.ok()) << created.error();

  auto d = admin->describeTopic(topic);
  ASSERT_TRUE(d.ok()) << d.error();
  EXPECT_EQ(d->partitions, 3);
  EXPECT_EQ(d->configs.at("retention.ms"), "123456789");
  EXPECT_EQ(d->configs.at("cleanup.policy"), "compact");
  EXPECT_EQ(d->configInt("retention.ms"), 123456789);
  // Broker defaults are described too.
  EXPECT_EQ(d->configs.at("retention.bytes"), "-1");

  auto again = admin->createTopic({topic, 3, 1, {}});
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, ErrorCode::kAlreadyExists) << again.error();

  auto deleted = admin->deleteTopic(topic);
  ASSERT_TRUE(deleted.ok()) << deleted.error();
  auto gone = eventually([&] {
    auto r = admin->describeTopic(topic);
    return !r.ok() && r.error().code == ErrorCode::kNotFound;
  });
  EXPECT_TRUE(gone) << "topic still described after delete";

  auto deleteMissing = admin->deleteTopic(topic);
  ASSERT_FALSE(deleteMissing.ok());
  EXPECT_EQ(deleteMissing.error().code, ErrorCode::kNotFound) << deleteMissing.error();
}

TEST(RdKafkaAdmin, CreateTopicWithBadConfigIsInvalid) {
  auto admin = makeAdmin();
  ASSERT_TRUE(admin);
  auto r = admin->createTopic({uniqueName("t"), 1, 1, {{"retention.ms", "soon"}}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument) << r.error();
  auto rf = admin->createTopic({uniqueName("t"), 1, 3, {}});  // one broker only
  ASSERT_FALSE(rf.ok());
  EXPECT_EQ(rf.error().code, ErrorCode::kInvalidArgument) << rf.error();
}

TEST(RdKafkaAdmin, DescribeMissingTopicIsNotFound) {
  auto admin = makeAdmin();
  ASSERT_TRUE(admin);
  auto r = admin->describeTopic(uniqueName("missing"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kNotFound) << r.error();
}

TEST(RdKafkaAdmin, EndAndEarliestOffsets) {
  auto admin = makeAdmin();
  ASSERT_TRUE(admin);
  auto topic = uniqueName("t");
  testing::createTopic(*admin, topic, 3);
  testing::produce(topic, 0, 10);
  testing::produce(topic, 1, 3);

  auto end = admin->endOffsets(topic);
  ASSERT_TRUE(end.ok()) << end.error();
  EXPECT_EQ(*end, (PartitionOffsets{{0, 10}, {1, 3}, {2, 0}}));
  auto earliest = admin->earliestOffsets(topic);
  ASSERT_TRUE(earliest.ok()) << earliest.error();
  EXPECT_EQ(*earliest, (PartitionOffsets{{0, 0}, {1, 0}, {2, 0}}));

  ASSERT_TRUE(admin->deleteRecordsBefore(topic, {{0, 4}}).ok());
  earliest = admin->earliestOffsets(topic);
  ASSERT_TRUE(earliest.ok());
  EXPECT_EQ(*earliest, (PartitionOffsets{{0, 4}, {1, 0}, {2, 0}}));
}

TEST(RdKafkaAdmin, EndOffsetIsTheLastStableOffset) {
  auto admin = makeAdmin();
  ASSERT_TRUE(admin);
  auto topic = uniqueName("t");
  testing::createTopic(*admin, topic, 1);
  testing::TxnProducer txn(uniqueName("txn"));
  txn.transaction(topic, 0, 10);  // offsets 0..9, commit marker at 10
  auto end = admin->endOffsets(topic);
  ASSERT_TRUE(end.ok()) << end.error();
  EXPECT_EQ(end->at(0), 11);

  txn.beginOpen(topic, 0, 5);  // offsets 11..15, not committed
  end = admin->endOffsets(topic);
  ASSERT_TRUE(end.ok());
  EXPECT_EQ(end->at(0), 11) << "an open transaction must not move the last stable offset";

  txn.commitOpen();  // marker at 16
  end = admin->endOffsets(topic);
  ASSERT_TRUE(end.ok());
  EXPECT_EQ(end->at(0), 17);
}

TEST(RdKafkaAdmin, CountVisibleRecordsSkipsMarkersAndAbortedRecords) {
  auto admin = makeAdmin();
  ASSERT_TRUE(admin);
  auto topic = uniqueName("t");
  testing::createTopic(*admin, topic, 2);
  testing::TxnProducer txn(uniqueName("txn"));
  txn.transaction(topic, 0, 4);         // 0..3 data, 4 marker
  txn.transaction(topic, 0, 3, false);  // 5..7 aborted, 8 marker
  txn.transaction(topic, 0, 2);         // 9..10 data, 11 marker
  testing::produce(topic, 1, 6);

  auto counts = admin->countVisibleRecords(topic, {{0, {0, 12}}, {1, {2, 6}}});
  ASSERT_TRUE(counts.ok()) << counts.error();
  EXPECT_EQ(*counts, (PartitionOffsets{{0, 6}, {1, 4}}));
  auto tail = admin->countVisibleRecords(topic, {{0, {4, 9}}});
  ASSERT_TRUE(tail.ok()) << tail.error();
  EXPECT_EQ(tail->at(0), 0);
}

TEST(RdKafkaAdmin, CommittedOffsetsAndDeleteGroup) {
  auto admin = makeAdmin();
  ASSERT_TRUE(admin);
  auto topic = uniqueName("t");
  auto group = uniqueName("g");
  testing::createTopic(*admin, topic, 2);
  testing::produce(topic, 0, 10);

  auto none = admin->committedOffsets(group, topic);
  ASSERT_TRUE(none.ok()) << none.error();
  EXPECT_TRUE(none->empty());

  testing::commitOffsets(group, topic, {{0, 7}});
  auto committed = admin->committedOffsets(group, topic);
  ASSERT_TRUE(committed.ok()) << committed.error();
  EXPECT_EQ(*committed, (PartitionOffsets{{0, 7}}));

  auto del = admin->deleteGroup(group);
  ASSERT_TRUE(del.ok()) << del.error();
  committed = admin->committedOffsets(group, topic);
  ASSERT_TRUE(committed.ok());
  EXPECT_TRUE(committed->empty());

  auto delMissing = admin->deleteGroup(group);
  ASSERT_FALSE(delMissing.ok());
  EXPECT_EQ(delMissing.error().code, ErrorCode::kNotFound) << delMissing.error();
}

// The operator names the pod that holds a straggling partition from the group's members.
TEST(RdKafkaAdmin, GroupMembersWithTheirPartitions) {
  auto admin = makeAdmin();
  ASSERT_TRUE(admin);
  auto topic = uniqueName("t");
  auto group = uniqueName("g");
  testing::createTopic(*admin, topic, 3);
  auto none = admin->groupMembers(group, topic);
  ASSERT_TRUE(none.ok()) << none.error();
  EXPECT_TRUE(none->empty());

  std::string err;
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  ASSERT_EQ(conf->set("bootstrap.servers", testing::kafkaBootstrap(), err), RdKafka::Conf::CONF_OK);
  ASSERT_EQ(conf->set("group.id", group, err), RdKafka::Conf::CONF_OK);
  ASSERT_EQ(conf->set("client.id", "kappa-worker/pod-a", err), RdKafka::Conf::CONF_OK);
  std::unique_ptr<RdKafka::KafkaConsumer> consumer(RdKafka::KafkaConsumer::create(conf.get(), err));
  ASSERT_TRUE(consumer) << err;
  ASSERT_EQ(consumer->subscribe({topic}), RdKafka::ERR_NO_ERROR);
  std::vector<GroupMember> members;
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < deadline) {
    delete consumer->consume(100);
    auto m = admin->groupMembers(group, topic);
    ASSERT_TRUE(m.ok()) << m.error();
    members = *m;
    if (members.size() == 1 && members[0].partitions.size() == 3) break;
  }
  ASSERT_EQ(members.size(), 1u);
  EXPECT_EQ(members[0].clientId, "kappa-worker/pod-a");
  EXPECT_EQ(members[0].partitions, (std::vector<int32_t>{0, 1, 2}));
  EXPECT_FALSE(members[0].host.empty());
  EXPECT_NE(members[0].host.front(), '/');
  auto other = admin->groupMembers(group, uniqueName("other"));
  ASSERT_TRUE(other.ok()) << other.error();
  ASSERT_EQ(other->size(), 1u);
  EXPECT_TRUE(other->front().partitions.empty()) << "only the partitions of the topic asked";
  consumer->close();
}

TEST(RdKafkaAdmin, EarliestTimestamps) {
  auto admin = makeAdmin();
  ASSERT_TRUE(admin);
  auto topic = uniqueName("t");
  testing::createTopic(*admin, topic, 3, {{"retention.ms", "-1"}});
  int64_t t1 = 1'700'000'000'000, t2 = 1'700'000'500'000;
  testing::produce(topic, 0, 3, t1);
  testing::produce(topic, 0, 3, t2);
  testing::produce(topic, 1, 2, t2);
  auto ts = admin->earliestTimestamps(topic);
  ASSERT_TRUE(ts.ok()) << ts.error();
  EXPECT_EQ(*ts, (PartitionOffsets{{0, t1}, {1, t2}}));
}

TEST(RdKafkaAdmin, UnreachableBrokerFailsWithinTheTimeout) {
  KafkaClientConfig cfg;
  cfg.bootstrapServers = "127.0.0.1:1";
  cfg.timeout = 2s;
  cfg.properties["log_level"] = "0";
  auto admin = RdKafkaAdmin::create(cfg);
  ASSERT_TRUE(admin.ok());
  auto start = std::chrono::steady_clock::now();
  auto r = (*admin)->endOffsets("anything");
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.error().code == ErrorCode::kUnavailable || r.error().code == ErrorCode::kTimeout)
      << r.error();
  EXPECT_LT(took, 6s);
}

TEST(RdKafkaAdmin, BadPropertyIsInvalidArgument) {
  KafkaClientConfig cfg;
  cfg.bootstrapServers = testing::kafkaBootstrap();
  cfg.properties["no.such.property"] = "1";
  auto admin = RdKafkaAdmin::create(cfg);
  ASSERT_FALSE(admin.ok());
  EXPECT_EQ(admin.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(admin.error().message.find("no.such.property"), std::string::npos);
}

}  // namespace
}  // namespace kappa::kafka
