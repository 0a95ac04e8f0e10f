// Preflight time for a 1000-partition topic on the local broker: what the operator does in
// Provisioning before a replay starts (the retention preflight, then the dry run: a sample of
// each partition's history read in one pass and run through a program in process).
//
//   preflight_bench --bootstrap HOST:PORT [--partitions N] [--records-per-partition R]
//                   [--samples S] [--iterations K] [--topic T]
// (--topic: a topic to keep: created and filled if it does not exist, reused if it does)
// Prints
//   BENCH preflight_<N>_partitions_s           median retention preflight + dry run
//   BENCH dry_run_<N>_partitions_s             median of the dry run alone (sample + program)
//   BENCH dry_run_<N>_partitions_records       records the dry run sampled
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "runtime/kafka/history_sample.h"
#include "runtime/kafka/rdkafka_admin.h"
#include "runtime/kafka/retention_preflight.h"
#include "runtime/worker/dry_run.h"

using namespace kappa;
using namespace kappa::kafka;
using Clock = std::chrono::steady_clock;

namespace {

int die(const std::string& what) {
  std::cerr << "preflight_bench: " << what << "\n";
  return 2;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"preflight benchmark"};
  std::string bootstrap;
  int partitions = 1000, recordsPerPartition = 10000, samples = 16, iterations = 5;
  app.add_option("--bootstrap", bootstrap)->required();
  app.add_option("--partitions", partitions);
  app.add_option("--records-per-partition", recordsPerPartition);
  app.add_option("--samples", samples);
  app.add_option("--iterations", iterations)->check(CLI::PositiveNumber);
  std::string existing;
  app.add_option("--topic", existing);
  CLI11_PARSE(app, argc, argv);

  KafkaClientConfig cfg{bootstrap, {{"log_level", "3"}}, std::chrono::seconds(60)};
  auto admin = RdKafkaAdmin::create(cfg);
  if (!admin) return die(admin.error().message);
  std::string topic =
      existing.empty()
          ? "bench-preflight-" +
                std::to_string(std::chrono::system_clock::now().time_since_epoch().count())
          : existing;
  const bool fill = existing.empty() || !(*admin)->describeTopic(existing).ok();
  if (fill) {
    if (auto r = (*admin)->createTopic({topic, partitions, 1, {}}); !r) {
      return die(r.error().message);
    }
  }

  // Clickstream-like events, one in seven without the key: the dry run has something to count.
  auto producer = makeHandle(RD_KAFKA_PRODUCER, bootstrap,
                             {{"linger.ms", "50"},
                              {"batch.size", "1000000"},
                              {"queue.buffering.max.messages", "1000000"}});
  if (!producer) return die(producer.error().message);
  if (fill) {
    std::cerr << "preflight_bench: producing " << int64_t{partitions} * recordsPerPartition
              << " records to " << partitions << " partitions\n";
  }
  for (int i = 0; fill && i < recordsPerPartition; ++i) {
    std::string value = i % 7 == 3 ? R"({"event_type":"view","price":1.5})"
                                   : R"({"user_id":"u)" + std::to_string(i % 997) +
                                         R"(","event_type":"view","price":1.5})";
    for (int p = 0; p < partitions; ++p) {
      while (rd_kafka_producev(producer->get(), RD_KAFKA_V_TOPIC(topic.c_str()),
                               RD_KAFKA_V_PARTITION(p),
                               RD_KAFKA_V_VALUE(value.data(), value.size()),
                               RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                               RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        rd_kafka_poll(producer->get(), 10);
      }
    }
  }
  if (rd_kafka_flush(producer->get(), 300000)) return die("produce did not finish");

  auto program = worker::parseProgram(
      "keyField: user_id\naggregates: [{name: views, op: count}, "
      "{name: revenue, op: sum, field: price}]");
  if (!program) return die(program.error().message);
  std::vector<double> totalS, dryS;
  int64_t sampled = 0;
  for (int i = 0; i < iterations + 1; ++i) {
    auto t0 = Clock::now();
    auto retention = runPreflight(**admin, topic, 10000, std::chrono::system_clock::now());
    if (!retention) return die(retention.error().message);
    auto t1 = Clock::now();
    auto sample = sampleHistory(**admin, topic, samples);
    if (!sample) return die(sample.error().message);
    worker::DryRunReport report = worker::dryRun(*program, sample->records, sample->sizes);
    auto t2 = Clock::now();
    sampled = report.sampled;
    if (i == 0) {  // warm-up: connections and metadata
      std::cerr << "preflight_bench: dry run " << worker::dryRunSummary(report) << "\n";
      continue;
    }
    totalS.push_back(std::chrono::duration<double>(t2 - t0).count());
    dryS.push_back(std::chrono::duration<double>(t2 - t1).count());
  }
  if (existing.empty()) (void)(*admin)->deleteTopic(topic);
  std::printf("BENCH preflight_%d_partitions_s %.2f s\n", partitions, median(totalS));
  std::printf("BENCH dry_run_%d_partitions_s %.2f s\n", partitions, median(dryS));
  std::printf("BENCH dry_run_%d_partitions_records %lld records\n", partitions,
              static_cast<long long>(sampled));
  return 0;
}
