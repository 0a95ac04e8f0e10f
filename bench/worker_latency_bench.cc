// Live latency of a running worker: events written to its source topic at a steady rate, its
// output read with a read_committed consumer, each output record matched to the source event
// it came from (its kappa-src-partition and kappa-src-offset headers, against the offsets the
// delivery reports gave). Latency is from the produce call to the output record's arrival
// here, both on this process's clock, so it includes the broker's acknowledgement, the
// worker's consume wait, its transaction commit and the consumer's fetch.
//
//   worker_latency_bench --bootstrap HOST:PORT --source TOPIC --output TOPIC
//                        [--rate EVENTS_PER_S] [--seconds S] [--warmup S] [--keys K]
// The source topic must exist and a worker must be reading it into the output topic.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "runtime/kafka/rdkafka_admin.h"

using namespace kappa::kafka;
using Clock = std::chrono::steady_clock;

namespace {

int die(const std::string& what) {
  std::cerr << "worker_latency_bench: " << what << "\n";
  return 2;
}

// Send times by source position, filled from the delivery reports.
struct Sent {
  std::mutex mu;
  std::map<std::pair<int32_t, int64_t>, Clock::time_point> at;
};

void onDelivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  auto* sent = static_cast<Sent*>(opaque);
  auto* when = static_cast<Clock::time_point*>(m->_private);
  if (!m->err) {
    std::lock_guard lock(sent->mu);
    sent->at[{m->partition, m->offset}] = *when;
  }
  delete when;
}

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  auto i = static_cast<size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"live latency of a running kappa-worker"};
  std::string bootstrap, source, output;
  int rate = 1000, seconds = 20, warmup = 5, keys = 1000;
  app.add_option("--bootstrap", bootstrap)->required();
  app.add_option("--source", source, "source topic the worker reads")->required();
  app.add_option("--output", output, "output topic the worker writes")->required();
  app.add_option("--rate", rate, "events per second")->check(CLI::Range(1, 100000));
  app.add_option("--seconds", seconds, "measured seconds")->check(CLI::Range(1, 3600));
  app.add_option("--warmup", warmup, "seconds of events not measured")->check(CLI::Range(0, 600));
  app.add_option("--keys", keys, "distinct user_id values")->check(CLI::Range(1, 10000000));
  CLI11_PARSE(app, argc, argv);

  KafkaClientConfig cfg{bootstrap, {{"log_level", "3"}}, std::chrono::seconds(30)};
  auto admin = RdKafkaAdmin::create(cfg);
  if (!admin) return die(admin.error().message);
  auto deadline = Clock::now() + std::chrono::seconds(60);
  while (!(*admin)->endOffsets(output)) {
    if (Clock::now() > deadline) return die("output topic " + output + " did not appear");
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  auto ends = (*admin)->endOffsets(output);
  if (!ends) return die(ends.error().message);

  // The consumer starts at the output's current end, so only records of this run count.
  auto consumer = makeHandle(RD_KAFKA_CONSUMER, bootstrap,
                             {{"group.id", "kappa-latency-bench"},
                              {"isolation.level", "read_committed"},
                              {"fetch.wait.max.ms", "10"},
                              {"log_level", "3"}});
  if (!consumer) return die(consumer.error().message);
  PartitionList assignment(rd_kafka_topic_partition_list_new(static_cast<int>(ends->size())));
  for (const auto& [p, off] : *ends) {
    rd_kafka_topic_partition_list_add(assignment.get(), output.c_str(), p)->offset = off;
  }
  if (auto e = rd_kafka_assign(consumer->get(), assignment.get())) return die(rd_kafka_err2str(e));

  // The producer reports each event's position to onDelivery, with its send time.
  Sent sent;
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[256];
  for (const auto& [k, v] : std::map<std::string, std::string>{
           {"bootstrap.servers", bootstrap}, {"linger.ms", "0"}, {"log_level", "3"}}) {
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      return die(err);
    }
  }
  rd_kafka_conf_set_dr_msg_cb(conf, onDelivery);
  rd_kafka_conf_set_opaque(conf, &sent);
  KafkaHandle rk(rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err));
  if (!rk) {
    rd_kafka_conf_destroy(conf);
    return die(err);
  }

  // Output arrivals: (source partition, source offset, arrival).
  struct Arrival {
    int32_t partition;
    int64_t offset;
    Clock::time_point at;
  };
  std::vector<Arrival> arrivals;
  std::atomic<bool> producing{true};
  int64_t total = static_cast<int64_t>(rate) * (warmup + seconds);
  std::jthread reader([&] {
    std::vector<rd_kafka_message_t*> batch(1000);
    RdPtr<rd_kafka_queue_t> q(rd_kafka_queue_get_consumer(consumer->get()));
    rd_kafka_poll_set_consumer(consumer->get());
    auto lastArrival = Clock::now();  // the reader stops 5 s after the last, once writing ended
    while (producing.load() || Clock::now() - lastArrival < std::chrono::seconds(5)) {
      auto* m = rd_kafka_consume_queue(q.get(), 50);
      if (!m) continue;
      batch[0] = m;
      ssize_t n =
          1 + std::max<ssize_t>(0, rd_kafka_consume_batch_queue(q.get(), 0, batch.data() + 1, 999));
      auto now = Clock::now();
      for (ssize_t i = 0; i < n; ++i) {
        RdPtr<rd_kafka_message_t> r(batch[i]);
        if (r->err) continue;
        auto p = headerInt(*r, "kappa-src-partition"), o = headerInt(*r, "kappa-src-offset");
        if (p && o) arrivals.push_back({static_cast<int32_t>(*p), *o, now});
      }
      lastArrival = now;
      if (static_cast<int64_t>(arrivals.size()) >= total) break;
    }
  });

  std::fprintf(stderr, "worker_latency_bench: %d events/s for %d s (+%d s warm-up) into %s\n", rate,
               seconds, warmup, source.c_str());
  auto start = Clock::now();
  auto measuredFrom = start + std::chrono::seconds(warmup);
  char value[160];
  for (int64_t i = 0; i < total; ++i) {
    auto due = start + std::chrono::nanoseconds(i * 1000000000LL / rate);
    std::this_thread::sleep_until(due);
    rd_kafka_poll(rk.get(), 0);
    char key[24];
    int kl = std::snprintf(key, sizeof key, "u%lld", static_cast<long long>(i % keys));
    auto now = Clock::now();
    int vl = std::snprintf(
        value, sizeof value,
        "{\"user_id\":\"%s\",\"event_type\":\"view\",\"page\":\"/p/%03lld\",\"price\":1.25,"
        "\"timestamp_ms\":%lld}",
        key, static_cast<long long>(i % 1000),
        static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count()));
    auto* when = new Clock::time_point(now);
    auto e =
        rd_kafka_producev(rk.get(), RD_KAFKA_V_TOPIC(source.c_str()), RD_KAFKA_V_KEY(key, kl),
                          RD_KAFKA_V_VALUE(value, vl), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                          RD_KAFKA_V_OPAQUE(when), RD_KAFKA_V_END);
    if (e) {
      delete when;
      producing = false;  // else the reader, joined on the way out, would wait forever
      return die(std::string("produce: ") + rd_kafka_err2str(e));
    }
  }
  rd_kafka_flush(rk.get(), 30000);
  producing = false;
  reader.join();

  std::vector<double> ms;
  int64_t unmatched = 0;
  {
    std::lock_guard lock(sent.mu);
    for (const auto& a : arrivals) {
      auto it = sent.at.find({a.partition, a.offset});
      if (it == sent.at.end()) {
        ++unmatched;
        continue;
      }
      if (it->second < measuredFrom) continue;
      ms.push_back(std::chrono::duration<double, std::milli>(a.at - it->second).count());
    }
  }
  if (ms.empty()) return die("no output record matched a measured event");
  std::fprintf(stderr,
               "worker_latency_bench: %zu records measured, %zu output records in all, %lld "
               "not matched to an event of this run\n",
               ms.size(), arrivals.size(), static_cast<long long>(unmatched));
  std::printf("BENCH worker_live_latency_p50_ms %.1f ms (%d events/s, n=%zu)\n",
              percentile(ms, 0.5), rate, ms.size());
  std::printf("BENCH worker_live_latency_p99_ms %.1f ms (%d events/s, n=%zu)\n",
              percentile(ms, 0.99), rate, ms.size());
  return 0;
}
