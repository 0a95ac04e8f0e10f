// StreamWorker: consume -> engine -> produce, exactly once. One transactional producer per
// worker; each transaction carries the output records, the dead-letter records and the
// consumer offsets of the source records that produced them (KIP-447 group metadata), so
// a crash at any moment loses nothing and duplicates nothing for read_committed readers.
//
// The output is partition-aligned with the source (source partition p -> output partition
// p), so when a partition is assigned the engine state for it is rebuilt by reading output
// partition p before the first source record is processed.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <string>

#include "runtime/kafka/rdkafka_handles.h"
#include "runtime/worker/engine.h"
#include "runtime/worker/event_parser.h"
#include "runtime/worker/program.h"

namespace prometheus {
class Registry;
}

namespace kappa::kafka {
class RdKafkaAdmin;
}

namespace kappa::worker {

struct WorkerConfig {
  std::string bootstrapServers;
  std::string sourceTopic;
  std::string outputTopic;
  std::string dlqTopic;  // default: <output>.dlq
  // The sample tap: the output records of the keys kafka::inTap(hash, tapRate) holds are also
  // written here, to the same partition, with the same headers, in the same transaction.
  // Empty: no tap.
  std::string tapTopic;
  uint32_t tapRate = 256;
  // A program with emit: onClose keeps its open windows here (a compacted topic, written in
  // the output's transactions) and restores from it. Default: <output>.state; only for such
  // programs.
  std::string stateTopic;
  std::string consumerGroup;
  std::string transactionalId;
  std::string startOffset = "earliest";                // where a group without commits starts
  std::map<std::string, std::string> kafkaProperties;  // sasl.*, ssl.*, ...
  // Transactions commit after commitInterval once the worker has caught up (what a
  // read_committed reader of the output waits for), and after replayCommitInterval while
  // records are still queued behind the batch just processed: fewer, larger transactions
  // during a replay, and an immediate commit when the backlog runs out.
  std::chrono::milliseconds commitInterval{100};
  std::chrono::milliseconds replayCommitInterval{1000};
  int maxBatch = 20000;
  bool createTopics = false;  // create missing output/DLQ topics (the operator does normally)
  std::chrono::milliseconds timeout{30000};  // bound on restore and admin calls
};

struct WorkerStats {
  std::atomic<uint64_t> recordsIn{0}, recordsOut{0}, filtered{0}, late{0}, dlq{0}, tapped{0};
  std::atomic<uint64_t> transactions{0}, aborts{0}, restored{0};
};

class StreamWorker {
 public:
  // Validates the topics (output partitions >= source partitions) and connects.
  static Result<std::unique_ptr<StreamWorker>> create(WorkerConfig config, Program program,
                                                      prometheus::Registry* metrics);
  ~StreamWorker();

  // Runs until `stop` is set (then commits the open transaction, leaves the group and
  // returns 0) or a fatal error (returns 1).
  int run(const std::atomic<bool>& stop);

  const WorkerStats& stats() const { return stats_; }

 private:
  class Metrics;
  class OutputEmitter;
  StreamWorker(WorkerConfig config, Program program);
  Result<void> connect(prometheus::Registry* metrics);
  // The steps of connect(): checks the source, output and dead-letter topics (creating the
  // latter two if config_.createTopics) and counts their partitions; creates the
  // transactional producer and the topic handles; creates the consumer and subscribes it.
  Result<void> checkTopics(kafka::RdKafkaAdmin& admin);
  Result<void> createProducer();
  Result<void> createConsumer();
  static void rebalanceCallback(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                                rd_kafka_topic_partition_list_t* partitions, void* opaque);
  Result<void> onAssign(rd_kafka_topic_partition_list_t* partitions);
  Result<void> onRevoke();
  // Rebuilds the engine state of the partitions from the output and returns, per partition,
  // the next source offset after the last one the output reflects (absent: empty output).
  Result<std::map<int32_t, int64_t>> restore(const std::vector<int32_t>& partitions);
  // What restore() reads: the output, or an onClose program's changelog (the output holds
  // closed windows only).
  const std::string& restoreTopic() const {
    return config_.stateTopic.empty() ? config_.outputTopic : config_.stateTopic;
  }
  // Restores the records of one batch read back from the output (`n` messages), below the
  // `end` offsets: erases from `end` the partitions read to their end, sets `resume` from
  // the headers and counts the records in `records`.
  Result<void> restoreBatch(rd_kafka_message_t* const* batch, ssize_t n,
                            std::map<int32_t, int64_t>& end, std::map<int32_t, int64_t>& resume,
                            uint64_t& records);
  void handle(const rd_kafka_message_t& m);
  void produce(rd_kafka_topic_t* topic, int32_t partition, std::string_view key, const void* value,
               size_t valueSize, rd_kafka_headers_t* headers);
  // Adds the counts of the batch just handled to stats_ and the metrics.
  void flushTally();
  Result<void> beginTransaction();
  Result<void> commitTransaction();
  Result<void> abortAndRewind();
  void fail(const std::string& message);
  void reportProgress(bool force);

  WorkerConfig config_;
  Program program_;
  EventParser parser_;
  Engine engine_;
  kafka::KafkaHandle producer_;
  // Handles of the output and dead-letter topics (released before the producer): producing
  // by handle skips librdkafka's lookup of the topic by name, under a lock, per record.
  kafka::RdPtr<rd_kafka_topic_t> outputTopic_;
  kafka::RdPtr<rd_kafka_topic_t> dlqTopic_;
  kafka::RdPtr<rd_kafka_topic_t> tapTopic_;    // null: no tap
  kafka::RdPtr<rd_kafka_topic_t> stateTopic_;  // null: the program keeps no changelog
  kafka::KafkaHandle consumer_;
  kafka::RdPtr<rd_kafka_queue_t> queue_;
  std::unique_ptr<OutputEmitter> emitter_;
  std::unique_ptr<Metrics> metrics_;
  int32_t outputPartitions_ = 0;
  int32_t dlqPartitions_ = 0;
  int32_t tapPartitions_ = 0;
  std::map<int32_t, int64_t> positions_;  // next source offset per partition, this txn
  // Per-record counts of the batch being handled, added to stats_ and the metrics once per
  // batch rather than with an atomic operation per record.
  struct Tally {
    uint64_t in = 0, out = 0, emitted = 0, filtered = 0, late = 0, dlq = 0, tapped = 0;
  } tally_;
  // Timestamp of the output records of the batch being handled: the time it was consumed
  // (one clock read per batch, not one per record inside librdkafka).
  int64_t batchTimestampMs_ = 0;
  bool txnOpen_ = false;
  uint64_t txnRecords_ = 0;
  std::chrono::steady_clock::time_point txnStart_;
  std::chrono::steady_clock::time_point lastReport_;
  uint64_t lastReportIn_ = 0;
  bool fatal_ = false;
  std::string fatalMessage_;
  WorkerStats stats_;
};

}  // namespace kappa::worker
