// A read_committed reader of one whole topic (assign only, never committed), without a thread
// of its own: the caller pulls batches. It knows when it has read every partition to the end
// it found (a partition EOF seen on each), and on which partition each record lies.
#pragma once

#include <librdkafka/rdkafka.h>

#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "runtime/core/result.h"
#include "runtime/kafka/kafka_admin.h"
#include "runtime/kafka/rdkafka_handles.h"

namespace kappa::serve {

class TopicReader {
 public:
  // From the beginning of each partition (start empty), or from the offsets in `start`
  // (partitions not in it: from their beginning).
  static Result<TopicReader> open(const kafka::KafkaClientConfig& config, const std::string& topic,
                                  const kafka::PartitionOffsets& start = {});
  // The partitions of `topic` and their last stable offsets.
  static Result<kafka::PartitionOffsets> endOffsets(const kafka::KafkaClientConfig& config,
                                                    const std::string& topic);

  // Up to batch.size() records (waiting up to waitMs when none are queued), into `out`
  // (owned by the caller: destroy each with rd_kafka_message_destroy). Partition EOFs are
  // consumed here; a read error is returned.
  Result<size_t> read(std::vector<rd_kafka_message_t*>& out, int waitMs);
  bool atEnd() const { return eofPending_.empty(); }
  // True when the last thing read from the partition was its end (no record since).
  bool atEndOf(int32_t partition) const { return atEndOf_.contains(partition); }
  // The last read error that came with records (read() returns those records); empty when
  // none since the last call.
  std::string takeError() { return std::exchange(error_, {}); }
  // Offsets between where the reader stands on each partition and the end of the partition
  // as librdkafka last heard of it from the broker (no request is made). The end counts the
  // records of open transactions, and the reader stands past a commit marker only once it
  // has seen the partition's end, so a reader of a transactional topic that is caught up
  // reports 0 after its EOF and a few offsets between.
  int64_t lag() const;
  const std::string& topic() const { return topic_; }

 private:
  TopicReader(kafka::KafkaHandle handle, std::string topic, std::set<int32_t> partitions);
  kafka::KafkaHandle handle_;
  kafka::RdPtr<rd_kafka_queue_t> queue_;
  std::string topic_;
  std::set<int32_t> eofPending_;
  std::map<int32_t, int64_t> next_;  // per partition: the offset read next
  std::set<int32_t> atEndOf_;
  std::string error_;
};

}  // namespace kappa::serve
