// RAII ownership of librdkafka C handles, and a conversion of librdkafka error codes into
// kappa::Error. Every handle the project creates is held by one of these unique_ptrs.
#pragma once

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "runtime/core/result.h"

namespace kappa::kafka {

struct RdDeleter {
  void operator()(rd_kafka_t* p) const { rd_kafka_destroy(p); }
  void operator()(rd_kafka_conf_t* p) const { rd_kafka_conf_destroy(p); }
  void operator()(rd_kafka_queue_t* p) const { rd_kafka_queue_destroy(p); }
  void operator()(rd_kafka_event_t* p) const { rd_kafka_event_destroy(p); }
  void operator()(rd_kafka_message_t* p) const { rd_kafka_message_destroy(p); }
  void operator()(rd_kafka_error_t* p) const { rd_kafka_error_destroy(p); }
  void operator()(rd_kafka_topic_t* p) const { rd_kafka_topic_destroy(p); }
  void operator()(rd_kafka_topic_partition_list_t* p) const {
    rd_kafka_topic_partition_list_destroy(p);
  }
  void operator()(rd_kafka_AdminOptions_t* p) const { rd_kafka_AdminOptions_destroy(p); }
  void operator()(rd_kafka_NewTopic_t* p) const { rd_kafka_NewTopic_destroy(p); }
  void operator()(rd_kafka_DeleteTopic_t* p) const { rd_kafka_DeleteTopic_destroy(p); }
  void operator()(rd_kafka_DeleteGroup_t* p) const { rd_kafka_DeleteGroup_destroy(p); }
  void operator()(rd_kafka_DeleteRecords_t* p) const { rd_kafka_DeleteRecords_destroy(p); }
  void operator()(rd_kafka_ConfigResource_t* p) const { rd_kafka_ConfigResource_destroy(p); }
  void operator()(rd_kafka_ListConsumerGroupOffsets_t* p) const {
    rd_kafka_ListConsumerGroupOffsets_destroy(p);
  }
  void operator()(const rd_kafka_metadata_t* p) const { rd_kafka_metadata_destroy(p); }
};

template <typename T>
using RdPtr = std::unique_ptr<T, RdDeleter>;
using KafkaHandle = RdPtr<rd_kafka_t>;
using PartitionList = RdPtr<rd_kafka_topic_partition_list_t>;

// Maps a librdkafka error to the project's error classes.
ErrorCode errorCodeOf(rd_kafka_resp_err_t err);
Error errorOf(rd_kafka_resp_err_t err, const std::string& context);

// The last header `name` of a message as a decimal integer (the worker's kappa-src-offset,
// kappa-watermark, ...); nullopt when absent or not a number.
std::optional<int64_t> headerInt(const rd_kafka_message_t& m, const char* name);

// Up to `size` messages from `queue`: what is queued, without waiting; only when nothing is,
// a wait of up to `waitMs` for the next ones. (rd_kafka_consume_batch_queue with a timeout
// returns only when the batch is full or the timeout ends, so at the end of the data it
// would wait the whole timeout.) Returns the count, 0 on a timeout or an error.
ssize_t consumeQueued(rd_kafka_queue_t* queue, rd_kafka_message_t** batch, size_t size, int waitMs);

// Creates a client handle. `properties` are applied after the defaults, so callers may
// override them; a bad property is reported as kInvalidArgument naming the property.
Result<KafkaHandle> makeHandle(rd_kafka_type_t type, const std::string& bootstrapServers,
                               const std::map<std::string, std::string>& properties);

}  // namespace kappa::kafka
