// kappa-loadgen: writes a synthetic clickstream to a topic, for the demo, the tests and the
// benchmarks. Events are a deterministic function of --seed and their index, keyed by user
// so the default partitioner keeps a user on one partition; about 100 bytes of JSON each:
//   {"user_id":"u123","event_type":"view","page":"/p/042","price":12.34,"timestamp_ms":1700000000000}
#include <librdkafka/rdkafka.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <random>
#include <thread>

#include "runtime/kafka/rdkafka_admin.h"
#include "runtime/kafka/rdkafka_handles.h"

int main(int argc, char** argv) {
  CLI::App app{"kappa-loadgen: synthetic clickstream producer"};
  std::string bootstrap, topic;
  int64_t count = 100000, keys = 1000, startMs = 1'700'000'000'000, stepMs = 10;
  double rate = 0;
  int64_t badEvery = 0;
  uint32_t seed = 1;
  bool transactional = false;
  app.add_option("--bootstrap", bootstrap)->required();
  app.add_option("--topic", topic)->required();
  app.add_option("--count", count, "Events to write (-1: until stopped)");
  app.add_option("--keys", keys, "Distinct users")->check(CLI::PositiveNumber);
  app.add_option("--rate", rate, "Events per second (0: as fast as possible)");
  app.add_option("--start-ms", startMs, "Event time of the first event");
  app.add_option("--step-ms", stepMs, "Event time between events");
  app.add_option("--bad-every", badEvery, "Every Nth event is malformed (0: none)");
  app.add_option("--seed", seed);
  app.add_flag("--transactional", transactional, "Write in transactions of 1000 events");
  std::string eventType;
  app.add_option("--event-type", eventType,
                 "Every event of this event_type (default: a mix of view, add_to_cart, "
                 "purchase and click)");
  int32_t createPartitions = 0;
  app.add_option("--create-partitions", createPartitions,
                 "Create the topic with this many partitions if it does not exist");
  CLI11_PARSE(app, argc, argv);
  if (eventType.size() > 32 || eventType.find_first_of("\"\\") != std::string::npos) {
    std::cerr << "kappa-loadgen: --event-type takes up to 32 characters, no quote or backslash\n";
    return 2;
  }

  if (createPartitions > 0) {
    auto admin = kappa::kafka::RdKafkaAdmin::create({bootstrap, {}, std::chrono::seconds(30)});
    if (!admin) {
      std::cerr << "kappa-loadgen: " << admin.error().message << "\n";
      return 2;
    }
    auto r = (*admin)->createTopic({topic, createPartitions, 1, {{"retention.ms", "-1"}}});
    if (!r && r.error().code != kappa::ErrorCode::kAlreadyExists) {
      std::cerr << "kappa-loadgen: " << r.error().message << "\n";
      return 2;
    }
  }

  std::map<std::string, std::string> props = {{"linger.ms", "10"},
                                              {"batch.size", "1048576"},
                                              {"queue.buffering.max.messages", "1000000"},
                                              {"enable.idempotence", "true"}};
  if (transactional) props["transactional.id"] = "kappa-loadgen-" + topic;
  auto rk = kappa::kafka::makeHandle(RD_KAFKA_PRODUCER, bootstrap, props);
  if (!rk) {
    std::cerr << "kappa-loadgen: " << rk.error().message << "\n";
    return 2;
  }
  rd_kafka_t* p = rk->get();
  if (transactional) {
    if (auto* e = rd_kafka_init_transactions(p, 30000)) {
      std::cerr << "kappa-loadgen: " << rd_kafka_error_string(e) << "\n";
      return 1;
    }
    rd_kafka_begin_transaction(p);
  }
  static const char* kTypes[] = {"view", "view", "view", "add_to_cart", "purchase", "click"};
  std::mt19937_64 rng(seed);
  auto start = std::chrono::steady_clock::now();
  char value[256], key[32];
  for (int64_t i = 0; count < 0 || i < count; ++i) {
    uint64_t r = rng();
    int kl = std::snprintf(key, sizeof key, "u%llu", static_cast<unsigned long long>(r % keys));
    int vl;
    if (badEvery > 0 && i % badEvery == badEvery - 1) {
      static const char* kBad[] = {"{\"user_id\":\"u1\",", "not json at all",
                                   "{\"event_type\":\"view\",\"timestamp_ms\":1}",
                                   "{\"user_id\":\"u1\",\"event_type\":\"view\"}",
                                   "{\"user_id\":\"u1\",\"timestamp_ms\":\"soon\"}"};
      vl = std::snprintf(value, sizeof value, "%s", kBad[(i / badEvery) % 5]);
    } else {
      vl = std::snprintf(
          value, sizeof value,
          "{\"user_id\":\"%.*s\",\"event_type\":\"%s\",\"page\":\"/p/%03u\","
          "\"price\":%u.%02u,\"timestamp_ms\":%lld}",
          kl, key, eventType.empty() ? kTypes[(r >> 20) % 6] : eventType.c_str(),
          static_cast<unsigned>((r >> 8) % 1000), static_cast<unsigned>((r >> 32) % 200),
          static_cast<unsigned>((r >> 40) % 100),
          static_cast<long long>(startMs + i * stepMs - static_cast<int64_t>((r >> 48) % 5000)));
    }
    while (true) {
      auto err = rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_KEY(key, kl),
                                   RD_KAFKA_V_VALUE(value, vl),
                                   RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
      if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        rd_kafka_poll(p, 5);
        continue;
      }
      if (err) {
        std::cerr << "kappa-loadgen: " << rd_kafka_err2str(err) << "\n";
        return 1;
      }
      break;
    }
    if (transactional && i % 1000 == 999) {
      if (auto* e = rd_kafka_commit_transaction(p, 30000)) {
        std::cerr << "kappa-loadgen: " << rd_kafka_error_string(e) << "\n";
        return 1;
      }
      rd_kafka_begin_transaction(p);
    }
    if (rate > 0) {
      auto due = start + std::chrono::duration<double>(i / rate);
      if (due > std::chrono::steady_clock::now()) {
        rd_kafka_poll(p, 0);
        std::this_thread::sleep_until(due);
      }
    }
  }
  if (transactional) {
    if (auto* e = rd_kafka_commit_transaction(p, 30000)) {
      std::cerr << "kappa-loadgen: " << rd_kafka_error_string(e) << "\n";
      return 1;
    }
  }
  if (rd_kafka_flush(p, 60000)) {
    std::cerr << "kappa-loadgen: not all events were delivered\n";
    return 1;
  }
  return 0;
}
