// Lag query time for a 1000-partition topic on the local broker: the cost of one lag sample
// the controller takes every few seconds per replaying version.
//
//   lag_query_bench --bootstrap HOST:PORT [--partitions N] [--iterations K]
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <thread>
#include <vector>

#include "runtime/kafka/lag_monitor.h"
#include "runtime/kafka/rdkafka_admin.h"

using namespace kappa;
using namespace kappa::kafka;
using Clock = std::chrono::steady_clock;

namespace {

int die(const std::string& what) {
  std::cerr << "lag_query_bench: " << what << "\n";
  return 2;
}

double percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  size_t i = std::min(v.size() - 1, static_cast<size_t>(q * (v.size() - 1) + 0.5));
  return v[i];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"lag query benchmark"};
  std::string bootstrap;
  int partitions = 1000, iterations = 30;
  app.add_option("--bootstrap", bootstrap)->required();
  app.add_option("--partitions", partitions);
  app.add_option("--iterations", iterations);
  CLI11_PARSE(app, argc, argv);

  KafkaClientConfig cfg{bootstrap, {{"log_level", "3"}}, std::chrono::seconds(60)};
  auto admin = RdKafkaAdmin::create(cfg);
  if (!admin) return die(admin.error().message);
  auto now = std::chrono::system_clock::now().time_since_epoch().count();
  std::string topic = "bench-lag-" + std::to_string(now);
  std::string group = topic + "-group";
  if (auto r = (*admin)->createTopic({topic, partitions, 1, {}}); !r) return die(r.error().message);

  // One record per partition, and the group committed at the end of each: a caught-up
  // version, the state in which the controller samples most often.
  auto producer = makeHandle(RD_KAFKA_PRODUCER, bootstrap, {{"linger.ms", "20"}});
  if (!producer) return die(producer.error().message);
  for (int p = 0; p < partitions; ++p) {
    rd_kafka_producev(producer->get(), RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(p),
                      RD_KAFKA_V_VALUE(const_cast<char*>("{}"), 2), RD_KAFKA_V_END);
  }
  if (rd_kafka_flush(producer->get(), 60000)) return die("produce did not finish");
  auto committer = makeHandle(RD_KAFKA_CONSUMER, bootstrap, {{"group.id", group}});
  if (!committer) return die(committer.error().message);
  PartitionList list(rd_kafka_topic_partition_list_new(partitions));
  for (int p = 0; p < partitions; ++p) {
    rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), p)->offset = 1;
  }
  rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
  for (int i = 0; i < 50; ++i) {
    if (!(err = rd_kafka_commit(committer->get(), list.get(), 0))) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  if (err) return die(std::string("commit: ") + rd_kafka_err2str(err));

  LagMonitor monitor(**admin);
  std::vector<double> sampleMs, endMs;
  for (int i = 0; i < iterations + 3; ++i) {
    auto t0 = Clock::now();
    auto s = monitor.sample(group, topic, std::chrono::system_clock::now());
    auto t1 = Clock::now();
    if (!s) return die(s.error().message);
    if (s->totalLag != 0 || static_cast<int>(s->partitions.size()) != partitions) {
      return die("unexpected lag " + std::to_string(s->totalLag));
    }
    auto e = (*admin)->endOffsets(topic);
    auto t2 = Clock::now();
    if (!e) return die(e.error().message);
    if (i < 3) continue;  // warm-up: connections and metadata
    sampleMs.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    endMs.push_back(std::chrono::duration<double, std::milli>(t2 - t1).count());
  }
  (void)(*admin)->deleteTopic(topic);
  (void)(*admin)->deleteGroup(group);
  std::printf("BENCH lag_query_%d_partitions_ms %.2f ms\n", partitions, percentile(sampleMs, 0.5));
  std::printf("BENCH lag_query_%d_partitions_p99_ms %.2f ms\n", partitions,
              percentile(sampleMs, 0.99));
  std::printf("BENCH end_offsets_%d_partitions_ms %.2f ms\n", partitions, percentile(endMs, 0.5));
  return 0;
}
