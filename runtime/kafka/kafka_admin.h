// KafkaAdmin: the port through which the controller and the CLI see and change Kafka
// (topics, consumer groups, offsets). The production adapter is RdKafkaAdmin; unit tests use
// fakes. Every call is bounded by the adapter's timeout and returns errors as values.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "runtime/core/result.h"

namespace kappa::kafka {

// partition -> offset
using PartitionOffsets = std::map<int32_t, int64_t>;
// partition -> [from, to)
using OffsetRanges = std::map<int32_t, std::pair<int64_t, int64_t>>;

// A member of a consumer group and the partitions of one topic it holds.
struct GroupMember {
  std::string clientId{};
  std::string host{};  // its address as the broker saw it (no leading '/')
  std::vector<int32_t> partitions{};
  bool operator==(const GroupMember&) const = default;
};

// One record read back from a topic (a sampled record of its history).
struct SampledRecord {
  int32_t partition = 0;
  int64_t offset = 0;
  std::optional<std::string> key{};
  std::optional<std::string> value{};  // nullopt: a tombstone (null value)
  bool operator==(const SampledRecord&) const = default;
};

// partition -> offsets to sample, ascending
using SampleTargets = std::map<int32_t, std::vector<int64_t>>;

struct TopicSpec {
  std::string name;
  int32_t partitions = 1;
  int16_t replicationFactor = 1;
  std::map<std::string, std::string> configs;
  bool operator==(const TopicSpec&) const = default;
};

struct TopicDescription {
  std::string name;
  int32_t partitions = 0;
  // Effective config values (broker defaults included), e.g. retention.ms, cleanup.policy.
  std::map<std::string, std::string> configs;

  std::optional<int64_t> configInt(const std::string& key) const;
  bool operator==(const TopicDescription&) const = default;
};

struct KafkaClientConfig {
  std::string bootstrapServers;
  // Extra librdkafka properties (sasl.*, ssl.*, security.protocol, ...).
  std::map<std::string, std::string> properties;
  // Upper bound for any single call.
  std::chrono::milliseconds timeout{10000};
};

class KafkaAdmin {
 public:
  virtual ~KafkaAdmin() = default;

  virtual Result<void> createTopic(const TopicSpec& spec) = 0;
  virtual Result<void> deleteTopic(const std::string& topic) = 0;
  virtual Result<TopicDescription> describeTopic(const std::string& topic) = 0;
  virtual Result<void> deleteGroup(const std::string& group) = 0;

  // Last stable offset per partition: the end of the log as a read_committed reader sees it.
  virtual Result<PartitionOffsets> endOffsets(const std::string& topic) = 0;
  // Log start offset per partition.
  virtual Result<PartitionOffsets> earliestOffsets(const std::string& topic) = 0;
  // Committed offsets of a group on a topic; partitions without a commit are absent.
  virtual Result<PartitionOffsets> committedOffsets(const std::string& group,
                                                    const std::string& topic) = 0;
  // Timestamp (ms) of the first record of each non-empty partition.
  virtual Result<PartitionOffsets> earliestTimestamps(const std::string& topic) = 0;
  // Number of records a read_committed reader gets from each range: control markers and
  // aborted records do not count. Used to tell a real lag from transaction markers.
  virtual Result<PartitionOffsets> countVisibleRecords(const std::string& topic,
                                                       const OffsetRanges& ranges) = 0;
  // Timestamp (ms) of the first record a read_committed reader gets at or after each
  // partition's offset; partitions with no such record (yet) are absent.
  virtual Result<PartitionOffsets> recordTimestamps(const std::string& topic,
                                                    const PartitionOffsets& from) = 0;
  // The members of a consumer group, each with the partitions of `topic` assigned to it
  // (none for a group with no member).
  virtual Result<std::vector<GroupMember>> groupMembers(const std::string& group,
                                                        const std::string& topic) = 0;
  // For each target offset, the first record a read_committed reader gets at or after it,
  // each record once (two targets may land on the same record), by partition and offset. A
  // target with no record after it (a trailing transaction marker) yields none.
  virtual Result<std::vector<SampledRecord>> sampleRecords(const std::string& topic,
                                                           const SampleTargets& targets) = 0;
};

using KafkaAdminPtr = std::unique_ptr<KafkaAdmin>;

inline std::ostream& operator<<(std::ostream& os, const TopicSpec& t) {
  return os << "TopicSpec{" << t.name << ", partitions=" << t.partitions
            << ", rf=" << t.replicationFactor << ", configs=" << t.configs.size() << "}";
}

}  // namespace kappa::kafka
