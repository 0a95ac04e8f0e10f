// Helpers for integration tests against the real broker started by the CTest fixture:
// where it is, unique names per test, and producers/committers with known outcomes.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "runtime/kafka/kafka_admin.h"
#include "runtime/kafka/rdkafka_admin.h"
#include "runtime/kafka/rdkafka_handles.h"

namespace kappa::testing {

// Bootstrap servers of the fixture broker (from $KAPPA_TEST_KAFKA_ENV or $KAFKA_BOOTSTRAP).
// Fails the current test when neither is set.
std::string kafkaBootstrap();

// "it-<suite>-<test>-<stem>-<unique>": a topic or group name no other test uses.
std::string uniqueName(const std::string& stem);

// Path of a binary built by this project ($KAPPA_BIN_DIR/<name>).
std::string binPath(const std::string& name);

std::unique_ptr<kafka::RdKafkaAdmin> makeAdmin(
    std::chrono::milliseconds timeout = std::chrono::seconds(15));

// Creates the topic and fails the test if that does not work.
void createTopic(kafka::KafkaAdmin& admin, const std::string& topic, int32_t partitions,
                 std::map<std::string, std::string> configs = {});

// Produces `count` records to one partition and waits until all are acknowledged.
// `timestampMs`, when set, is the CreateTime of every record.
void produce(const std::string& topic, int32_t partition, int count,
             std::optional<int64_t> timestampMs = std::nullopt);

// A transactional producer for tests: each call to transaction() writes `count` records to
// one partition inside one transaction and commits or aborts it.
class TxnProducer {
 public:
  explicit TxnProducer(const std::string& transactionalId);
  void transaction(const std::string& topic, int32_t partition, int count, bool commit = true);
  // Leaves a transaction open (records flushed, not committed) until commitOpen().
  void beginOpen(const std::string& topic, int32_t partition, int count);
  void commitOpen();

 private:
  void write(const std::string& topic, int32_t partition, int count);
  void waitUntilStable(const std::string& topic, int32_t partition, int64_t atLeast);
  int64_t highWatermark(const std::string& topic, int32_t partition);
  kafka::KafkaHandle rk_;
  std::string openTopic_;
  int32_t openPartition_ = 0;
  int64_t expectedEnd_ = 0;
};

// Commits offsets for `group` as a consumer that assigned partitions would.
void commitOffsets(const std::string& group, const std::string& topic,
                   const kafka::PartitionOffsets& offsets);

// Runs a command, returns its exit code and stdout.
struct CommandResult {
  int exitCode = -1;
  std::string out;
};
CommandResult run(const std::string& command);

}  // namespace kappa::testing

namespace kappa::testing {

struct TopicRecord {
  std::string key;
  std::optional<std::string> value;  // nullopt: tombstone
  std::map<std::string, std::string> headers;
  int64_t offset = 0;
  bool operator==(const TopicRecord& o) const {
    return key == o.key && value == o.value && headers == o.headers;  // offsets may differ
  }
};
std::ostream& operator<<(std::ostream& os, const TopicRecord& r);

// Every record a read_committed reader sees, per partition, in log order.
std::map<int32_t, std::vector<TopicRecord>> readTopic(const std::string& topic);

// Produces one record (value nullopt: a null payload) to a partition and waits for it.
void produceRaw(const std::string& topic, int32_t partition, const std::string& key,
                const std::optional<std::string>& value);

// Produces one record per value (nullopt: a null payload) to a partition, keyed k0, k1, ...,
// in order, and waits for all of them.
void produceValues(const std::string& topic, int32_t partition,
                   const std::vector<std::optional<std::string>>& values);

}  // namespace kappa::testing
