// The serving reader (runtime/serve/serving_reader.h) on a real broker and apiserver: how fast
// a view builds, what a key costs, and what readers feel when a flip swaps views.
//
//   serve_bench --bootstrap HOST:PORT --kubeconfig FILE [--records N] [--keys K]
//               [--partitions P]
//
// Two outputs of N records over K keys (the last record of each key wins), written as
// kappa-worker writes them (partition-aligned, source-position headers), v1 and v2. The
// alias ConfigMap names v1; a ServingView is opened on it:
//   serve_view_build_records_per_s   N / (open -> ready: v1 read to its end)
//   serve_view_bytes_per_key         resident memory of the built view / K (freed heap
//                                    returned first; the key and value bytes included)
// One reader thread then calls get() on random keys, one call every 20 us, timing each, while
// the alias is flipped to v2. Latency of get():
//   serve_get_p99_us_away            the 5 s before the flip
//   serve_get_p99_us_building        from the flip to the swap (v2's view is built beside)
//   serve_get_p99_us_swap            50 ms either side of the first answer from v2
//   serve_swap_seconds               flip written -> the first answer from v2
//   serve_get_errors                 answers without a value (must be 0)

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <random>
#include <thread>
#include <vector>

#include "bench/process_memory.h"
#include "runtime/kafka/rdkafka_admin.h"
#include "runtime/kube/http_kube_api.h"
#include "runtime/serve/serving_reader.h"

using namespace kappa;
using SteadyClock = std::chrono::steady_clock;

namespace {

int die(const std::string& what) {
  std::cerr << "serve_bench: " << what << "\n";
  return 2;
}

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1,
                    static_cast<size_t>(q * static_cast<double>(v.size() - 1) + 0.5))];
}

std::string keyOf(int64_t i) { return "user-" + std::to_string(i); }

bool writeOutput(const std::string& bootstrap, const std::string& topic, const std::string& version,
                 int64_t records, int64_t keys, int partitions) {
  auto rk = kafka::makeHandle(RD_KAFKA_PRODUCER, bootstrap,
                              {{"linger.ms", "20"},
                               {"batch.size", "1000000"},
                               {"queue.buffering.max.messages", "1000000"},
                               {"compression.type", "lz4"}});
  if (!rk) return false;
  std::vector<int64_t> next(static_cast<size_t>(partitions), 0);
  char value[160];
  for (int64_t i = 0; i < records; ++i) {
    int64_t k = i % keys;
    std::string key = keyOf(k);
    // The key's partition is fixed (as the source's), so each partition's source offsets
    // grow with its records.
    int32_t p = static_cast<int32_t>(k % partitions);
    int64_t offset = next[static_cast<size_t>(p)]++;
    int vl = std::snprintf(value, sizeof value,
                           "{\"key\":\"%s\",\"views\":%lld,\"revenue\":%lld.25,\"version\":\"%s\"}",
                           key.c_str(), static_cast<long long>(i / keys),
                           static_cast<long long>(i % 1013), version.c_str());
    std::string sp = std::to_string(p), so = std::to_string(offset);
    rd_kafka_headers_t* h = rd_kafka_headers_new(2);
    rd_kafka_header_add(h, "kappa-src-partition", -1, sp.data(), static_cast<ssize_t>(sp.size()));
    rd_kafka_header_add(h, "kappa-src-offset", -1, so.data(), static_cast<ssize_t>(so.size()));
    while (true) {
      auto err = rd_kafka_producev(
          rk->get(), RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(p),
          RD_KAFKA_V_KEY(key.data(), key.size()), RD_KAFKA_V_VALUE(value, vl),
          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
      if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        rd_kafka_poll(rk->get(), 5);
        continue;
      }
      if (err) return false;
      break;
    }
  }
  return rd_kafka_flush(rk->get(), 300000) == RD_KAFKA_RESP_ERR_NO_ERROR;
}

struct Sample {
  SteadyClock::time_point at;
  float micros;
  bool v2;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"serving reader benchmark"};
  std::string bootstrap, kubeconfig;
  int64_t records = 10'000'000, keys = 1'000'000;
  int partitions = 4;
  app.add_option("--bootstrap", bootstrap)->required();
  app.add_option("--kubeconfig", kubeconfig)->required();
  app.add_option("--records", records)->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
  app.add_option("--keys", keys)->check(CLI::Range(int64_t{1}, int64_t{1} << 32));
  app.add_option("--partitions", partitions)->check(CLI::Range(1, 1024));
  CLI11_PARSE(app, argc, argv);
  keys = std::min(keys, records);

  kafka::KafkaClientConfig kcfg{bootstrap, {{"log_level", "3"}}, std::chrono::seconds(60)};
  auto admin = kafka::RdKafkaAdmin::create(kcfg);
  if (!admin) return die(admin.error().message);
  auto cfg = kube::loadKubeconfigFile(kubeconfig);
  if (!cfg) return die(cfg.error().message);
  auto api = kube::HttpKubeApi::create(*cfg);
  if (!api) return die(api.error().message);
  auto stamp =
      std::to_string(std::chrono::system_clock::now().time_since_epoch().count() / 1000000);
  std::string ns = "serve-bench-" + stamp;
  if (auto r = (*api)->create(
          {kube::resources::namespaces(), ""},
          {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns}}}});
      !r) {
    return die("creating namespace: " + r.error().message);
  }
  kube::CollectionRef cms{kube::resources::configMaps(), ns};
  std::map<std::string, std::string> topics;
  for (const std::string v : {"v1", "v2"}) {
    topics[v] = "bench-serve-" + v + "-" + stamp;
    if (auto r = (*admin)->createTopic({topics[v], partitions, 1, {}}); !r)
      return die(r.error().message);
    auto t0 = SteadyClock::now();
    if (!writeOutput(bootstrap, topics[v], v, records, keys, partitions))
      return die("writing " + v);
    std::fprintf(stderr, "serve_bench: %s: %lld records written in %.1f s\n", v.c_str(),
                 static_cast<long long>(records),
                 std::chrono::duration<double>(SteadyClock::now() - t0).count());
  }
  auto alias = [&](const std::string& v) {
    return kube::Json{{"apiVersion", "v1"},
                      {"kind", "ConfigMap"},
                      {"metadata", {{"name", "bench-serving"}, {"namespace", ns}}},
                      {"data", {{"pipeline", "bench"}, {"version", v}, {"topic", topics[v]}}}};
  };
  if (auto r = (*api)->create(cms, alias("v1")); !r) return die(r.error().message);

  serve::ReaderOptions o;
  o.ns = ns;
  o.pipeline = "bench";
  o.kubeconfig = kubeconfig;
  o.bootstrapServers = bootstrap;
  o.kafkaProperties = {{"log_level", "3"}};
  double before = kappa::bench::rssMiB();
  auto opened = SteadyClock::now();
  auto view = serve::ServingView::open(o);
  if (!view->waitReady(std::chrono::minutes(30))) return die("the first view was not built");
  double buildS = std::chrono::duration<double>(SteadyClock::now() - opened).count();
  auto st = view->stats();
  if (st.keys != static_cast<uint64_t>(keys)) {
    return die("the view holds " + std::to_string(st.keys) + " keys, want " + std::to_string(keys));
  }
  double viewMiB = kappa::bench::rssMiB() - before;

  // The reader.
  std::vector<Sample> samples;
  samples.reserve(8'000'000);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> errors{0};
  std::thread reader([&] {
    std::mt19937_64 rng(7);
    auto next = SteadyClock::now();
    while (!stop.load(std::memory_order_relaxed)) {
      std::string key = keyOf(static_cast<int64_t>(rng() % static_cast<uint64_t>(keys)));
      auto t0 = SteadyClock::now();
      auto a = view->get(key);
      auto t1 = SteadyClock::now();
      if (!a.value) errors.fetch_add(1);
      samples.push_back(
          {t0, std::chrono::duration<float, std::micro>(t1 - t0).count(), a.version == "v2"});
      next += std::chrono::microseconds(20);
      while (SteadyClock::now() < next) {
      }
    }
  });
  std::this_thread::sleep_for(std::chrono::seconds(6));
  auto flipAt = SteadyClock::now();
  if (auto r = (*api)->update(cms.object("bench-serving"), alias("v2")); !r)
    return die(r.error().message);
  auto deadline = SteadyClock::now() + std::chrono::minutes(30);
  while (view->stats().version != "v2" && SteadyClock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::this_thread::sleep_for(std::chrono::seconds(2));
  stop = true;
  reader.join();
  auto swap = std::find_if(samples.begin(), samples.end(), [](const Sample& s) { return s.v2; });
  if (swap == samples.end()) return die("no answer came from v2");
  auto swapAt = swap->at;
  std::vector<double> away, building, swapping;
  for (const auto& s : samples) {
    if (s.at >= flipAt - std::chrono::seconds(5) && s.at < flipAt) away.push_back(s.micros);
    if (s.at >= flipAt && s.at < swapAt) building.push_back(s.micros);
    if (s.at >= swapAt - std::chrono::milliseconds(50) &&
        s.at < swapAt + std::chrono::milliseconds(50)) {
      swapping.push_back(s.micros);
    }
  }
  (void)(*api)->remove(cms.object("bench-serving"));
  (void)(*api)->remove({kube::resources::namespaces(), "", ns, {}});
  for (const auto& [v, t] : topics) (void)(*admin)->deleteTopic(t);

  std::fprintf(stderr,
               "serve_bench: view of %lld keys built from %lld records in %.2f s, %.1f MiB; swap "
               "%.2f s after the flip; %zu/%zu/%zu get() samples away/building/swap\n",
               static_cast<long long>(keys), static_cast<long long>(records), buildS, viewMiB,
               std::chrono::duration<double>(swapAt - flipAt).count(), away.size(), building.size(),
               swapping.size());
  std::printf("BENCH serve_view_build_records_per_s %.0f records/s\n",
              static_cast<double>(records) / buildS);
  std::printf("BENCH serve_view_bytes_per_key %.1f bytes\n",
              viewMiB * 1048576.0 / static_cast<double>(keys));
  std::printf("BENCH serve_get_p50_us_away %.2f us\n", percentile(away, 0.5));
  std::printf("BENCH serve_get_p99_us_away %.2f us\n", percentile(away, 0.99));
  std::printf("BENCH serve_get_p99_us_building %.2f us\n", percentile(building, 0.99));
  std::printf("BENCH serve_get_p99_us_swap %.2f us\n", percentile(swapping, 0.99));
  std::printf("BENCH serve_get_max_us_swap %.2f us\n", percentile(swapping, 1.0));
  std::printf("BENCH serve_swap_seconds %.2f s\n",
              std::chrono::duration<double>(swapAt - flipAt).count());
  std::printf("BENCH serve_get_errors %llu count\n",
              static_cast<unsigned long long>(errors.load()));
  return errors.load() == 0 ? 0 : 1;
}
