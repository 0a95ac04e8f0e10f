// RdKafkaConnector against the real broker of the test fixture.
#include "controllers/pipelineversion/adapters/kafka_connector.h"

#include <gtest/gtest.h>

#include "tests/support/kafka_test_util.h"

namespace kappa::controllers {
namespace {

using testing::kafkaBootstrap;
using testing::uniqueName;

// librdkafka keeps an object for every topic a client has named: a client that has named
// maxTopicsPerAdmin topics is replaced, and a pass that still holds it can go on using it.
TEST(RdKafkaConnector, AnAdminThatNamedManyTopicsIsReplaced) {
  RdKafkaConnector connector({}, 3);
  KafkaSpec spec;
  spec.bootstrapServers = kafkaBootstrap();
  auto first = connector.connect(spec, {});
  ASSERT_TRUE(first.ok()) << first.error();
  auto again = connector.connect(spec, {});
  ASSERT_TRUE(again.ok()) << again.error();
  EXPECT_EQ(again->admin, first->admin) << "one client per cluster";
  EXPECT_EQ(again->comparator, first->comparator);

  auto* admin = dynamic_cast<kafka::RdKafkaAdmin*>(first->admin.get());
  ASSERT_NE(admin, nullptr);
  std::string topic = uniqueName("t");
  testing::createTopic(*admin, topic, 1);
  for (const auto& name : {topic, uniqueName("absent-a"), uniqueName("absent-b")}) {
    (void)admin->partitionCount(name);
  }
  (void)admin->partitionCount(topic);  // named already: not counted twice
  EXPECT_EQ(admin->topicsNamed(), 3u);

  auto fresh = connector.connect(spec, {});
  ASSERT_TRUE(fresh.ok()) << fresh.error();
  EXPECT_NE(fresh->admin, first->admin) << "a worn client is replaced";
  EXPECT_EQ(fresh->comparator, first->comparator);
  auto* replacement = dynamic_cast<kafka::RdKafkaAdmin*>(fresh->admin.get());
  ASSERT_NE(replacement, nullptr);
  EXPECT_EQ(replacement->topicsNamed(), 0u);
  // Both work: the old one is held by whoever took it.
  auto oldCount = admin->partitionCount(topic);
  ASSERT_TRUE(oldCount.ok()) << oldCount.error();
  EXPECT_EQ(*oldCount, 1);
  auto newCount = replacement->partitionCount(topic);
  ASSERT_TRUE(newCount.ok()) << newCount.error();
  EXPECT_EQ(*newCount, 1);
  ASSERT_TRUE(admin->deleteTopic(topic).ok());
}

// Rotated credentials make a new entry; the old one goes once no pass has used it for the
// idle time (here none), so a rotation does not keep a client for good.
TEST(RdKafkaConnector, AnEntryNoPassUsesIsDropped) {
  RdKafkaConnector connector({}, 64, std::chrono::seconds(0));
  KafkaSpec spec;
  spec.bootstrapServers = kafkaBootstrap();
  std::weak_ptr<kafka::KafkaAdmin> old;
  {
    auto before = connector.connect(spec, {{"client.rack", "a"}});
    ASSERT_TRUE(before.ok()) << before.error();
    old = before->admin;
  }  // the pass that used it ended
  auto rotated = connector.connect(spec, {{"client.rack", "b"}});
  ASSERT_TRUE(rotated.ok()) << rotated.error();
  EXPECT_TRUE(old.expired()) << "the entry of the old credentials was dropped";
  auto held = connector.connect(spec, {{"client.rack", "b"}});
  ASSERT_TRUE(held.ok()) << held.error();
  EXPECT_EQ(held->admin, rotated->admin) << "the entry in use stays";
}

}  // namespace
}  // namespace kappa::controllers
