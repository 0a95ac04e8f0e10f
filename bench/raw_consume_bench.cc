// The limit for the worker: how fast plain librdkafka reads a topic here, with the same
// consumer settings as the worker (read_committed, large prefetch queue), parsing nothing.
//
//   raw_consume_bench --bootstrap HOST:PORT --topic T
#include <librdkafka/rdkafka.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <set>
#include <vector>

#include "runtime/kafka/rdkafka_admin.h"

int main(int argc, char** argv) {
  CLI::App app{"raw consume benchmark"};
  std::string bootstrap, topic;
  app.add_option("--bootstrap", bootstrap)->required();
  app.add_option("--topic", topic)->required();
  CLI11_PARSE(app, argc, argv);

  auto admin = kappa::kafka::RdKafkaAdmin::create({bootstrap, {}, std::chrono::seconds(30)});
  if (!admin) return 2;
  auto end = (*admin)->endOffsets(topic);
  if (!end) {
    std::cerr << end.error().message << "\n";
    return 2;
  }
  auto rk = kappa::kafka::makeHandle(RD_KAFKA_CONSUMER, bootstrap,
                                     {{"group.id", "raw-consume-bench"},
                                      {"isolation.level", "read_committed"},
                                      {"queued.min.messages", "1000000"},
                                      {"fetch.wait.max.ms", "100"},
                                      {"enable.partition.eof", "true"}});
  if (!rk) return 2;
  kappa::kafka::PartitionList list(rd_kafka_topic_partition_list_new(1));
  std::set<int32_t> pending;
  int64_t expected = 0;
  for (const auto& [p, e] : *end) {
    rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), p)->offset =
        RD_KAFKA_OFFSET_BEGINNING;
    pending.insert(p);
    expected += e;
  }
  rd_kafka_poll_set_consumer(rk->get());
  kappa::kafka::RdPtr<rd_kafka_queue_t> q(rd_kafka_queue_get_consumer(rk->get()));
  auto start = std::chrono::steady_clock::now();
  rd_kafka_assign(rk->get(), list.get());
  std::vector<rd_kafka_message_t*> batch(20000);
  int64_t count = 0, bytes = 0;
  while (!pending.empty()) {
    ssize_t n = rd_kafka_consume_batch_queue(q.get(), 1000, batch.data(), batch.size());
    for (ssize_t i = 0; i < n; ++i) {
      auto* m = batch[i];
      if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        pending.erase(m->partition);
      } else if (!m->err) {
        ++count;
        bytes += static_cast<int64_t>(m->len);
      }
      rd_kafka_message_destroy(m);
    }
  }
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::fprintf(stderr, "raw consume: %lld records (%lld bytes) of %lld offsets in %.2f s\n",
               static_cast<long long>(count), static_cast<long long>(bytes),
               static_cast<long long>(expected), s);
  std::printf("BENCH raw_consume_msgs_per_s %.0f msgs/s\n", count / s);
  return 0;
}
