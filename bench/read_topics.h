// Reads topics from the beginning to their end with plain librdkafka (read_committed, a large
// prefetch queue) and parses nothing: how fast a client can get the records on this machine,
// the reference the worker and the validator are measured against.
#pragma once

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "runtime/kafka/rdkafka_admin.h"

namespace kappa::bench {

struct ReadFigures {
  int64_t records = 0;
  int64_t bytes = 0;
  int64_t offsets = 0;  // sum of the end offsets: records plus transaction markers
  double seconds = 0;
};

inline Result<ReadFigures> readTopics(const std::string& bootstrap,
                                      const std::vector<std::string>& topics) {
  auto admin = kafka::RdKafkaAdmin::create({bootstrap, {}, std::chrono::seconds(30)});
  if (!admin) return admin.error();
  auto rk = kafka::makeHandle(RD_KAFKA_CONSUMER, bootstrap,
                              {{"group.id", "kappa-read-bench"},
                               {"isolation.level", "read_committed"},
                               {"queued.min.messages", "1000000"},
                               {"fetch.wait.max.ms", "100"},
                               {"enable.partition.eof", "true"}});
  if (!rk) return rk.error();
  kafka::PartitionList list(rd_kafka_topic_partition_list_new(8));
  std::set<std::pair<std::string, int32_t>> pending;
  ReadFigures f;
  for (const auto& topic : topics) {
    auto end = (*admin)->endOffsets(topic);
    if (!end) return end.error();
    for (const auto& [p, e] : *end) {
      if (e <= 0) continue;
      rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), p)->offset =
          RD_KAFKA_OFFSET_BEGINNING;
      pending.emplace(topic, p);
      f.offsets += e;
    }
  }
  rd_kafka_poll_set_consumer(rk->get());
  kafka::RdPtr<rd_kafka_queue_t> q(rd_kafka_queue_get_consumer(rk->get()));
  auto start = std::chrono::steady_clock::now();
  if (auto err = rd_kafka_assign(rk->get(), list.get())) return kafka::errorOf(err, "assign");
  std::vector<rd_kafka_message_t*> batch(20000);
  while (!pending.empty()) {
    ssize_t n = kafka::consumeQueued(q.get(), batch.data(), batch.size(), 20);
    for (ssize_t i = 0; i < n; ++i) {
      auto* m = batch[i];
      if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        pending.erase({rd_kafka_topic_name(m->rkt), m->partition});
      } else if (!m->err) {
        ++f.records;
        f.bytes += static_cast<int64_t>(m->len);
      }
      rd_kafka_message_destroy(m);
    }
  }
  f.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return f;
}

}  // namespace kappa::bench
