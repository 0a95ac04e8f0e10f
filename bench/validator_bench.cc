// Validator throughput: two outputs of K keys each (one record per key, as a compacted
// output holds), compared on all K keys at a consistent cut. Beside it, the reference: the
// same two topics read to their end by plain librdkafka consumers that parse nothing, one
// per topic on a thread of its own as the comparator reads them
// (validator_read_only_keys_per_s), since every sampled key costs one record per output.
// Then the same outputs compared as a cutover compares them, on a sample of the default
// size (validation.sampleKeys, 5000): validator_sample_records_per_s is the rate at which
// the Validating phase reads the two outputs, and validator_sample_peak_heap_mib the most memory
// that comparison took above what the process held before it (librdkafka's prefetch of both
// outputs, the sample tables).
//
//   validator_bench --bootstrap HOST:PORT [--keys K] [--partitions P] [--sample-keys N]
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <thread>

#include "bench/process_memory.h"
#include "bench/read_topics.h"
#include "runtime/kafka/output_comparator.h"
#include "runtime/kafka/rdkafka_admin.h"

using namespace kappa::kafka;

namespace {

int die(const std::string& what) {
  std::cerr << "validator_bench: " << what << "\n";
  return 2;
}

bool writeOutput(const std::string& bootstrap, const std::string& topic, int64_t keys,
                 int partitions, bool bug) {
  auto rk = makeHandle(RD_KAFKA_PRODUCER, bootstrap,
                       {{"linger.ms", "20"}, {"queue.buffering.max.messages", "1000000"}});
  if (!rk) return false;
  char key[32], value[128], off[24];
  for (int64_t i = 0; i < keys; ++i) {
    int kl = std::snprintf(key, sizeof key, "u%lld", static_cast<long long>(i));
    long long n = bug && i % 1000 == 0 ? i + 1 : i;
    int vl =
        std::snprintf(value, sizeof value, "{\"key\":\"%s\",\"events\":%lld,\"revenue\":%lld.5}",
                      key, n % 97, n % 1013);
    int ol = std::snprintf(off, sizeof off, "%lld", static_cast<long long>(i / partitions));
    rd_kafka_headers_t* h = rd_kafka_headers_new(1);
    rd_kafka_header_add(h, "kappa-src-offset", -1, off, ol);
    while (true) {
      auto err = rd_kafka_producev(rk->get(), RD_KAFKA_V_TOPIC(topic.c_str()),
                                   RD_KAFKA_V_PARTITION(static_cast<int32_t>(i % partitions)),
                                   RD_KAFKA_V_KEY(key, kl), RD_KAFKA_V_VALUE(value, vl),
                                   RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(h),
                                   RD_KAFKA_V_END);
      if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        rd_kafka_poll(rk->get(), 5);
        continue;
      }
      if (err) return false;
      break;
    }
  }
  return rd_kafka_flush(rk->get(), 120000) == RD_KAFKA_RESP_ERR_NO_ERROR;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"validator benchmark"};
  std::string bootstrap;
  int64_t keys = 1000000;
  int partitions = 4;
  int64_t sampleKeys = 5000;
  app.add_option("--bootstrap", bootstrap)->required();
  app.add_option("--keys", keys);
  app.add_option("--partitions", partitions);
  app.add_option("--sample-keys", sampleKeys, "sample of the second comparison")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
  CLI11_PARSE(app, argc, argv);

  KafkaClientConfig cfg{bootstrap, {{"log_level", "3"}}, std::chrono::seconds(60)};
  auto admin = RdKafkaAdmin::create(cfg);
  if (!admin) return die(admin.error().message);
  auto stamp = std::to_string(std::chrono::system_clock::now().time_since_epoch().count());
  std::string serving = "bench-validate-serving-" + stamp,
              candidate = "bench-validate-cand-" + stamp;
  for (const auto& t : {serving, candidate}) {
    if (auto r = (*admin)->createTopic({t, partitions, 1, {}}); !r) return die(r.error().message);
  }
  if (!writeOutput(bootstrap, serving, keys, partitions, false) ||
      !writeOutput(bootstrap, candidate, keys, partitions, true)) {
    return die("writing outputs failed");
  }
  kappa::Result<kappa::bench::ReadFigures> reads[2] = {kappa::Error{}, kappa::Error{}};
  {
    std::jthread other([&] { reads[1] = kappa::bench::readTopics(bootstrap, {candidate}); });
    reads[0] = kappa::bench::readTopics(bootstrap, {serving});
  }
  KafkaOutputComparator comparator(cfg);
  ComparePolicy policy;
  policy.sampleKeys = keys;
  policy.maxMismatchRatio = 0.01;
  auto t0 = std::chrono::steady_clock::now();
  auto r = comparator.compare(serving, candidate, policy);
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!r) return die(r.error().message);
  if (r->comparedKeys != keys || r->mismatchedKeys != (keys + 999) / 1000) {
    return die("unexpected result: compared " + std::to_string(r->comparedKeys) + ", mismatched " +
               std::to_string(r->mismatchedKeys));
  }
  policy.sampleKeys = sampleKeys;
  long rssBefore = kappa::bench::resetPeakKb();
  auto t1 = std::chrono::steady_clock::now();
  auto sampled = comparator.compare(serving, candidate, policy);
  double sampledS = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  long peakKb = kappa::bench::statusKb("VmHWM") - rssBefore;
  if (!sampled) return die(sampled.error().message);
  if (sampled->comparedKeys != std::min(keys, sampleKeys)) {
    return die("unexpected sampled result: compared " + std::to_string(sampled->comparedKeys));
  }
  (void)(*admin)->deleteTopic(serving);
  (void)(*admin)->deleteTopic(candidate);
  for (const auto& r : reads) {
    if (!r) return die("reading the outputs: " + r.error().message);
  }
  kappa::bench::ReadFigures read{reads[0]->records + reads[1]->records, 0, 0,
                                 std::max(reads[0]->seconds, reads[1]->seconds)};
  std::fprintf(stderr, "validator: %lld keys compared in %.2f s (%lld mismatches found)\n",
               static_cast<long long>(r->comparedKeys), s,
               static_cast<long long>(r->mismatchedKeys));
  std::fprintf(stderr, "validator: a sample of %lld keys compared in %.2f s (%lld mismatches)\n",
               static_cast<long long>(sampled->comparedKeys), sampledS,
               static_cast<long long>(sampled->mismatchedKeys));
  std::fprintf(stderr, "validator: the %lld records of both outputs read alone in %.2f s\n",
               static_cast<long long>(read.records), read.seconds);
  std::printf("BENCH validator_keys_per_s %.0f keys/s\n", r->comparedKeys / s);
  std::printf("BENCH validator_read_only_keys_per_s %.0f keys/s\n", keys / read.seconds);
  std::printf("BENCH validator_vs_read_ratio %.3f ratio\n", read.seconds / s);
  std::printf("BENCH validator_sample_records_per_s %.0f records/s\n",
              static_cast<double>(2 * keys) / sampledS);
  std::printf("BENCH validator_sample_vs_read_ratio %.3f ratio\n", read.seconds / sampledS);
  if (rssBefore > 0 && peakKb >= 0) {
    std::printf("BENCH validator_sample_peak_heap_mib %.1f MiB\n", peakKb / 1024.0);
  }
  return 0;
}
