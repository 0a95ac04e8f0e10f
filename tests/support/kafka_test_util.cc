#include "tests/support/kafka_test_util.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <set>

namespace kappa::testing {

using kafka::RdPtr;

std::string kafkaBootstrap() {
  if (const char* env = std::getenv("KAPPA_TEST_KAFKA_ENV")) {
    std::ifstream in(env);
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("KAFKA_BOOTSTRAP=", 0) == 0) return line.substr(16);
    }
    ADD_FAILURE() << "no KAFKA_BOOTSTRAP in " << env << " (did the kafka fixture start?)";
    return "";
  }
  if (const char* b = std::getenv("KAFKA_BOOTSTRAP")) return b;
  ADD_FAILURE() << "set KAPPA_TEST_KAFKA_ENV or KAFKA_BOOTSTRAP (run through ctest)";
  return "";
}

std::string uniqueName(const std::string& stem) {
  static std::atomic<int> counter{0};
  static const std::string run = [] {
    std::random_device rd;
    return std::to_string(rd() % 1000000);
  }();
  std::string name = "it";
  if (const auto* info = ::testing::UnitTest::GetInstance()->current_test_info()) {
    name += std::string("-") + info->test_suite_name() + "-" + info->name();
  }
  name += "-" + stem + "-" + run + "-" + std::to_string(counter++);
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.') c = '-';
  }
  return name;
}

std::string binPath(const std::string& name) {
  const char* dir = std::getenv("KAPPA_BIN_DIR");
  return std::string(dir ? dir : KAPPA_DEFAULT_BIN_DIR) + "/" + name;
}

std::unique_ptr<kafka::RdKafkaAdmin> makeAdmin(std::chrono::milliseconds timeout) {
  kafka::KafkaClientConfig cfg;
  cfg.bootstrapServers = kafkaBootstrap();
  cfg.timeout = timeout;
  auto admin = kafka::RdKafkaAdmin::create(cfg);
  if (!admin) {
    ADD_FAILURE() << admin.error();
    return nullptr;
  }
  return std::move(*admin);
}

void createTopic(kafka::KafkaAdmin& admin, const std::string& topic, int32_t partitions,
                 std::map<std::string, std::string> configs) {
  auto r = admin.createTopic({topic, partitions, 1, std::move(configs)});
  ASSERT_TRUE(r.ok()) << r.error();
}

namespace {

kafka::KafkaHandle producer(std::map<std::string, std::string> props) {
  props.emplace("linger.ms", "5");
  auto h = kafka::makeHandle(RD_KAFKA_PRODUCER, kafkaBootstrap(), props);
  EXPECT_TRUE(h.ok()) << h.error();
  return h.ok() ? std::move(*h) : nullptr;
}

void produceTo(rd_kafka_t* rk, const std::string& topic, int32_t partition, int count,
               std::optional<int64_t> timestampMs) {
  for (int i = 0; i < count; ++i) {
    std::string key = "k" + std::to_string(i);
    std::string value = "{\"n\":" + std::to_string(i) + "}";
    rd_kafka_resp_err_t err;
    do {
      err = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(partition),
                              RD_KAFKA_V_KEY(key.data(), key.size()),
                              RD_KAFKA_V_VALUE(value.data(), value.size()),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                              RD_KAFKA_V_TIMESTAMP(timestampMs.value_or(0)), RD_KAFKA_V_END);
      if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) rd_kafka_poll(rk, 10);
    } while (err == RD_KAFKA_RESP_ERR__QUEUE_FULL);
    ASSERT_EQ(err, RD_KAFKA_RESP_ERR_NO_ERROR) << rd_kafka_err2str(err);
  }
}

}  // namespace

void produce(const std::string& topic, int32_t partition, int count,
             std::optional<int64_t> timestampMs) {
  auto rk = producer({{"enable.idempotence", "true"}});
  ASSERT_TRUE(rk);
  produceTo(rk.get(), topic, partition, count, timestampMs);
  ASSERT_EQ(rd_kafka_flush(rk.get(), 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
}

TxnProducer::TxnProducer(const std::string& transactionalId)
    : rk_(producer({{"transactional.id", transactionalId}})) {
  RdPtr<rd_kafka_error_t> e(rd_kafka_init_transactions(rk_.get(), 30000));
  EXPECT_FALSE(e) << rd_kafka_error_string(e.get());
}

void TxnProducer::write(const std::string& topic, int32_t partition, int count) {
  expectedEnd_ = highWatermark(topic, partition) + count + 1;  // records and the marker
  RdPtr<rd_kafka_error_t> e(rd_kafka_begin_transaction(rk_.get()));
  ASSERT_FALSE(e) << rd_kafka_error_string(e.get());
  produceTo(rk_.get(), topic, partition, count, std::nullopt);
}

void TxnProducer::transaction(const std::string& topic, int32_t partition, int count, bool commit) {
  write(topic, partition, count);
  // Aborting purges records not yet sent; flush first so the log holds them, as it does
  // when a real producer fails mid-transaction.
  if (!commit) {
    ASSERT_EQ(rd_kafka_flush(rk_.get(), 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
  }
  RdPtr<rd_kafka_error_t> e(commit ? rd_kafka_commit_transaction(rk_.get(), 30000)
                                   : rd_kafka_abort_transaction(rk_.get(), 30000));
  ASSERT_FALSE(e) << rd_kafka_error_string(e.get());
  waitUntilStable(topic, partition, expectedEnd_);
}

int64_t TxnProducer::highWatermark(const std::string& topic, int32_t partition) {
  int64_t low = 0, high = 0;
  auto err =
      rd_kafka_query_watermark_offsets(rk_.get(), topic.c_str(), partition, &low, &high, 10000);
  EXPECT_EQ(err, RD_KAFKA_RESP_ERR_NO_ERROR) << rd_kafka_err2str(err);
  return high;
}

void TxnProducer::waitUntilStable(const std::string& topic, int32_t partition, int64_t atLeast) {
  // The coordinator writes the markers after commit/abort returns; wait until the log holds
  // the transaction and its marker and the last stable offset has caught up with the high
  // watermark, so tests see exact offsets.
  auto admin = makeAdmin();
  ASSERT_TRUE(admin);
  for (int attempt = 0; attempt < 400; ++attempt) {
    int64_t high = highWatermark(topic, partition);
    auto end = admin->endOffsets(topic);
    ASSERT_TRUE(end.ok()) << end.error();
    if (high >= atLeast && end->at(partition) == high) return;
    usleep(25 * 1000);
  }
  FAIL() << "last stable offset of " << topic << "/" << partition << " did not catch up";
}

void TxnProducer::beginOpen(const std::string& topic, int32_t partition, int count) {
  openTopic_ = topic;
  openPartition_ = partition;
  write(topic, partition, count);
  ASSERT_EQ(rd_kafka_flush(rk_.get(), 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
}

void TxnProducer::commitOpen() {
  RdPtr<rd_kafka_error_t> e(rd_kafka_commit_transaction(rk_.get(), 30000));
  ASSERT_FALSE(e) << rd_kafka_error_string(e.get());
  waitUntilStable(openTopic_, openPartition_, expectedEnd_);
}

void commitOffsets(const std::string& group, const std::string& topic,
                   const kafka::PartitionOffsets& offsets) {
  auto rk = kafka::makeHandle(RD_KAFKA_CONSUMER, kafkaBootstrap(), {{"group.id", group}});
  ASSERT_TRUE(rk.ok()) << rk.error();
  kafka::PartitionList list(rd_kafka_topic_partition_list_new(1));
  for (const auto& [p, off] : offsets) {
    rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), p)->offset = off;
  }
  // The group coordinator may still be loading right after the broker starts.
  rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
  for (int attempt = 0; attempt < 50; ++attempt) {
    err = rd_kafka_commit(rk->get(), list.get(), 0);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) break;
    usleep(200 * 1000);
  }
  ASSERT_EQ(err, RD_KAFKA_RESP_ERR_NO_ERROR) << rd_kafka_err2str(err);
  rd_kafka_consumer_close(rk->get());
}

CommandResult run(const std::string& command) {
  CommandResult r;
  FILE* p = popen(command.c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  int status = pclose(p);
  r.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

}  // namespace kappa::testing

namespace kappa::testing {

std::ostream& operator<<(std::ostream& os, const TopicRecord& r) {
  os << "{" << r.key << " => " << (r.value ? *r.value : std::string("<null>"));
  for (const auto& [k, v] : r.headers) os << " " << k << "=" << v;
  return os << " @" << r.offset << "}";
}

std::map<int32_t, std::vector<TopicRecord>> readTopic(const std::string& topic) {
  std::map<int32_t, std::vector<TopicRecord>> out;
  auto admin = makeAdmin();
  if (!admin) return out;
  auto end = admin->endOffsets(topic);
  EXPECT_TRUE(end.ok()) << end.error();
  if (!end.ok()) return out;
  auto rk = kafka::makeHandle(RD_KAFKA_CONSUMER, kafkaBootstrap(),
                              {{"group.id", uniqueName("reader")},
                               {"isolation.level", "read_committed"},
                               {"enable.partition.eof", "true"}});
  EXPECT_TRUE(rk.ok());
  if (!rk.ok()) return out;
  kafka::PartitionList assignment(rd_kafka_topic_partition_list_new(1));
  std::set<int32_t> pending;
  for (const auto& [p, e] : *end) {
    out[p];
    if (e == 0) continue;
    rd_kafka_topic_partition_list_add(assignment.get(), topic.c_str(), p)->offset =
        RD_KAFKA_OFFSET_BEGINNING;
    pending.insert(p);
  }
  rd_kafka_assign(rk->get(), assignment.get());
  auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(3);
  while (!pending.empty() && std::chrono::steady_clock::now() < deadline) {
    RdPtr<rd_kafka_message_t> m(rd_kafka_consumer_poll(rk->get(), 500));
    if (!m) continue;
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      if (m->offset >= end->at(m->partition)) pending.erase(m->partition);
      continue;
    }
    if (m->err) continue;
    TopicRecord r;
    r.offset = m->offset;
    if (m->key) r.key.assign(static_cast<const char*>(m->key), m->key_len);
    if (m->payload) r.value = std::string(static_cast<const char*>(m->payload), m->len);
    rd_kafka_headers_t* h = nullptr;
    if (rd_kafka_message_headers(m.get(), &h) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      const char* name;
      const void* v;
      size_t size;
      for (size_t i = 0; !rd_kafka_header_get_all(h, i, &name, &v, &size); ++i) {
        r.headers[name] = std::string(static_cast<const char*>(v), size);
      }
    }
    out[m->partition].push_back(std::move(r));
  }
  EXPECT_TRUE(pending.empty()) << "timed out reading " << topic;
  return out;
}

void produceRaw(const std::string& topic, int32_t partition, const std::string& key,
                const std::optional<std::string>& value) {
  auto rk = producer({});
  ASSERT_TRUE(rk);
  void* payload = value ? const_cast<char*>(value->data()) : nullptr;
  size_t size = value ? value->size() : 0;
  auto err =
      rd_kafka_producev(rk.get(), RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(partition),
                        RD_KAFKA_V_KEY(key.data(), key.size()), RD_KAFKA_V_VALUE(payload, size),
                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
  ASSERT_EQ(err, RD_KAFKA_RESP_ERR_NO_ERROR);
  ASSERT_EQ(rd_kafka_flush(rk.get(), 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
}

void produceValues(const std::string& topic, int32_t partition,
                   const std::vector<std::optional<std::string>>& values) {
  auto rk = producer({});
  ASSERT_TRUE(rk);
  for (size_t i = 0; i < values.size(); ++i) {
    const auto& value = values[i];
    std::string key = "k" + std::to_string(i);
    void* payload = value ? const_cast<char*>(value->data()) : nullptr;
    size_t size = value ? value->size() : 0;
    rd_kafka_resp_err_t err;
    while ((err = rd_kafka_producev(
                rk.get(), RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(partition),
                RD_KAFKA_V_KEY(key.data(), key.size()), RD_KAFKA_V_VALUE(payload, size),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END)) ==
           RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      rd_kafka_poll(rk.get(), 10);
    }
    ASSERT_EQ(err, RD_KAFKA_RESP_ERR_NO_ERROR);
  }
  ASSERT_EQ(rd_kafka_flush(rk.get(), 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
}

}  // namespace kappa::testing
