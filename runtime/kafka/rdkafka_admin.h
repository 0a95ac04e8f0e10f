// RdKafkaAdmin: the librdkafka adapter of the KafkaAdmin port.
//
// Offsets are listed with one ListOffsets request per partition leader (librdkafka batches
// rd_kafka_offsets_for_times by broker), from a client whose isolation.level is
// read_committed, so "end" is the last stable offset, not the high watermark.
#pragma once

#include <mutex>
#include <set>
#include <string>

#include "runtime/kafka/kafka_admin.h"
#include "runtime/kafka/rdkafka_handles.h"

namespace kappa::kafka {

class RdKafkaAdmin final : public KafkaAdmin {
 public:
  // Connects lazily: creating the client never blocks; the first call reports an
  // unreachable cluster as kUnavailable or kTimeout within config.timeout.
  static Result<std::unique_ptr<RdKafkaAdmin>> create(KafkaClientConfig config);

  Result<void> createTopic(const TopicSpec& spec) override;
  Result<void> deleteTopic(const std::string& topic) override;
  Result<TopicDescription> describeTopic(const std::string& topic) override;
  Result<void> deleteGroup(const std::string& group) override;
  Result<PartitionOffsets> endOffsets(const std::string& topic) override;
  Result<PartitionOffsets> earliestOffsets(const std::string& topic) override;
  Result<PartitionOffsets> committedOffsets(const std::string& group,
                                            const std::string& topic) override;
  Result<PartitionOffsets> earliestTimestamps(const std::string& topic) override;
  Result<PartitionOffsets> countVisibleRecords(const std::string& topic,
                                               const OffsetRanges& ranges) override;
  Result<PartitionOffsets> recordTimestamps(const std::string& topic,
                                            const PartitionOffsets& from) override;
  Result<std::vector<GroupMember>> groupMembers(const std::string& group,
                                                const std::string& topic) override;
  Result<std::vector<SampledRecord>> sampleRecords(const std::string& topic,
                                                   const SampleTargets& targets) override;

  // Waits until brokers serve (present) or no longer serve the topic, within the timeout.
  Result<void> awaitMetadata(const std::string& topic, bool present);
  // Number of partitions of a topic (metadata only; kNotFound if it does not exist).
  Result<int32_t> partitionCount(const std::string& topic);
  // Moves the log start offset of each partition up to the given offset (DeleteRecords).
  Result<void> deleteRecordsBefore(const std::string& topic, const PartitionOffsets& before);

  const KafkaClientConfig& config() const { return config_; }
  // Topics this client has named (librdkafka keeps an object for each until it is destroyed).
  size_t topicsNamed() const;

 private:
  RdKafkaAdmin(KafkaClientConfig config, KafkaHandle handle);
  Result<PartitionOffsets> listOffsets(const std::string& topic, int64_t which);
  Result<RdPtr<rd_kafka_event_t>> awaitAdminResult(rd_kafka_queue_t* queue,
                                                   const std::string& what);
  RdPtr<rd_kafka_AdminOptions_t> adminOptions(rd_kafka_admin_op_t op);
  // A consumer that never joins nor commits; `extra` overrides the defaults.
  Result<KafkaHandle> readerHandle(const char* isolation,
                                   const std::map<std::string, std::string>& extra = {});
  // The timestamp (ms) of the first record at or after each partition's offset, read with
  // the given isolation level; partitions without one are absent.
  Result<PartitionOffsets> firstTimestamps(const std::string& topic, const PartitionOffsets& from,
                                           const char* isolation, const std::string& what);
  Result<PartitionOffsets> listGroupOffsets(const std::string& group, const std::string& topic,
                                            int32_t count);
  Result<void> deleteGroupOnce(const std::string& group);
  template <typename F>
  auto retryOnCoordinatorMove(F attempt) -> decltype(attempt());

  KafkaClientConfig config_;
  KafkaHandle handle_;
  mutable std::mutex topicsMu_;
  std::set<std::string> topicsNamed_;
};

}  // namespace kappa::kafka
