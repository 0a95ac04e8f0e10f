// The reader library against the real broker and apiserver. Each "version" of a pipeline is
// an output topic written here as kappa-worker writes one (partition-aligned, each record
// with the source position it reflects, the value naming its version), and the alias
// ConfigMap is flipped as kappa-operator flips it. A live writer keeps appending source
// positions to the topics of the running versions while readers read.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "runtime/kafka/rdkafka_handles.h"
#include "runtime/serve/serving_reader.h"
#include "tests/support/kafka_test_util.h"
#include "tests/support/kube_test_util.h"

namespace kappa::serve {
namespace {

using namespace std::chrono_literals;
using kappa::testing::kafkaBootstrap;

constexpr int32_t kPartitions = 2;
constexpr int kKeysPerPartition = 100;

std::string keyOf(int32_t p, int64_t offset) {
  return "p" + std::to_string(p) + "-k" + std::to_string(offset % kKeysPerPartition);
}

// The outputs of the versions, written by one producer. With groups on, every fifth source
// offset makes three output records (keys <k>, <k>#b, <k>#c), as a session merge or windows
// closed by one event do in kappa-worker.
class Outputs {
 public:
  bool groups = false;

  Outputs() {
    auto rk = kafka::makeHandle(RD_KAFKA_PRODUCER, kafkaBootstrap(), {{"linger.ms", "5"}});
    EXPECT_TRUE(rk) << rk.error();
    if (rk) rk_ = std::move(*rk);
    admin_ = kappa::testing::makeAdmin();
  }

  std::string create(const std::string& version) {
    auto topic = kappa::testing::uniqueName("serve-" + version);
    kappa::testing::createTopic(*admin_, topic, kPartitions);
    std::lock_guard lock(mu_);
    topics_[version] = topic;
    return topic;
  }
  std::string topic(const std::string& version) {
    std::lock_guard lock(mu_);
    return topics_.at(version);
  }

  // Writes source offsets [from, to) of every partition to the version's topic (headers
  // optional), and waits for them.
  void write(const std::string& version, int64_t from, int64_t to, bool headers = true) {
    auto t = topic(version);
    for (int64_t o = from; o < to; ++o) {
      for (int32_t p = 0; p < kPartitions; ++p) produce(t, version, p, o, headers);
    }
    ASSERT_EQ(rd_kafka_flush(rk_.get(), 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
  }

  // The live source: every 5 ms the next source offset, written to the running versions
  // (each `lag` offsets behind the source: a version whose worker commits later).
  void startLive(std::set<std::string> running, std::map<std::string, int64_t> lag = {}) {
    {
      std::lock_guard lock(mu_);
      running_ = std::move(running);
      lag_ = std::move(lag);
      for (const auto& v : running_) written_[v] = next_ - lagOf(v);
    }
    live_ = std::jthread([this](std::stop_token stop) {
      while (!stop.stop_requested()) {
        {
          std::lock_guard lock(mu_);
          ++next_;
          for (const auto& v : running_) {
            auto& w = written_[v];
            for (; w < next_ - lagOf(v); ++w) {
              for (int32_t p = 0; p < kPartitions; ++p) produce(topics_.at(v), v, p, w, true);
            }
          }
        }
        rd_kafka_poll(rk_.get(), 0);
        std::this_thread::sleep_for(5ms);
      }
      rd_kafka_flush(rk_.get(), 30000);
    });
  }
  void stopLive() {
    live_.request_stop();
    if (live_.joinable()) live_.join();
  }
  // Adds a running version after writing it the history the others have (under the lock, so
  // that no live offset is missed or written twice).
  void addRunning(const std::string& version) {
    std::lock_guard lock(mu_);
    int64_t upTo = next_ - lagOf(version);
    for (int64_t o = 0; o < upTo; ++o) {
      for (int32_t p = 0; p < kPartitions; ++p) produce(topics_.at(version), version, p, o, true);
    }
    written_[version] = upTo;
    running_.insert(version);
  }
  void removeRunning(const std::string& version) {
    std::lock_guard lock(mu_);
    running_.erase(version);
  }
  void setNext(int64_t next) {
    std::lock_guard lock(mu_);
    next_ = next;
  }
  int64_t next() {
    std::lock_guard lock(mu_);
    return next_;
  }

 private:
  void produce(const std::string& topic, const std::string& version, int32_t p, int64_t o,
               bool headers) {
    produceOne(topic, version, p, o, headers, keyOf(p, o));
    if (groups && o % 5 == 0) {
      produceOne(topic, version, p, o, headers, keyOf(p, o) + "#b");
      produceOne(topic, version, p, o, headers, keyOf(p, o) + "#c");
    }
  }
  void produceOne(const std::string& topic, const std::string& version, int32_t p, int64_t o,
                  bool headers, const std::string& key) {
    std::string value = "{\"version\":\"" + version + "\",\"key\":\"" + key +
                        "\",\"src\":" + std::to_string(o) + "}";
    std::string sp = std::to_string(p), so = std::to_string(o);
    rd_kafka_headers_t* h = rd_kafka_headers_new(2);
    if (headers) {
      rd_kafka_header_add(h, "kappa-src-partition", -1, sp.data(), static_cast<ssize_t>(sp.size()));
      rd_kafka_header_add(h, "kappa-src-offset", -1, so.data(), static_cast<ssize_t>(so.size()));
    }
    while (true) {
      auto err = rd_kafka_producev(
          rk_.get(), RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(p),
          RD_KAFKA_V_KEY(key.data(), key.size()), RD_KAFKA_V_VALUE(value.data(), value.size()),
          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
      if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        rd_kafka_poll(rk_.get(), 10);
        continue;
      }
      ASSERT_EQ(err, RD_KAFKA_RESP_ERR_NO_ERROR);
      return;
    }
  }

  kafka::KafkaHandle rk_;
  std::unique_ptr<kafka::RdKafkaAdmin> admin_;
  std::mutex mu_;
  std::map<std::string, std::string> topics_;
  int64_t lagOf(const std::string& v) const {
    auto it = lag_.find(v);
    return it == lag_.end() ? 0 : it->second;
  }

  std::set<std::string> running_;
  std::map<std::string, int64_t> lag_;
  std::map<std::string, int64_t> written_;  // per running version, the next offset to write
  int64_t next_ = 0;
  std::jthread live_;
};

class ServingReaderIt : public ::testing::Test {
 protected:
  void SetUp() override {
    api_ = kappa::testing::makeKubeClient();
    ASSERT_TRUE(api_);
    ns_ = std::make_unique<kappa::testing::TestNamespace>(*api_, "serve");
    options_.ns = ns_->name();
    options_.pipeline = "sessions";
    options_.kubeconfig = kappa::testing::apiserverEnv()["KUBECONFIG"];
    options_.bootstrapServers = kafkaBootstrap();
    options_.kafkaProperties = {{"log_level", "3"}};
  }

  // Points the alias at a version, as kappa-operator does (create, then update).
  void flip(const std::string& version) {
    kube::Json cm = {
        {"apiVersion", "v1"},
        {"kind", "ConfigMap"},
        {"metadata", {{"name", "sessions-serving"}, {"namespace", ns_->name()}}},
        {"data",
         {{"pipeline", "sessions"}, {"version", version}, {"topic", outputs_.topic(version)}}}};
    auto ref = kube::CollectionRef{kube::resources::configMaps(), ns_->name()};
    if (!aliasMade_) {
      auto r = api_->create(ref, cm);
      ASSERT_TRUE(r) << r.error();
      aliasMade_ = true;
    } else {
      auto r = api_->update(ref.object("sessions-serving"), cm);
      ASSERT_TRUE(r) << r.error();
    }
  }

  std::unique_ptr<kube::HttpKubeApi> api_;
  std::unique_ptr<kappa::testing::TestNamespace> ns_;
  ReaderOptions options_;
  Outputs outputs_;
  bool aliasMade_ = false;
};

// Readers that check every answer: found, one version per batch, the value written by the
// version that answered, versions only in the order the alias named them, and no key's
// answer older in source time than one given before (a swap is aligned).
class Readers {
 public:
  Readers(const ServingView& view, std::vector<std::string> order) : order_(std::move(order)) {
    for (int i = 0; i < 2; ++i) {
      threads_.emplace_back([this, &view, i](std::stop_token stop) { run(view, i, stop); });
    }
  }
  void stop() {
    for (auto& t : threads_) t.request_stop();
    threads_.clear();
  }
  uint64_t answers() const { return answers_; }
  std::vector<std::string> failures() {
    std::lock_guard lock(mu_);
    return failures_;
  }

 private:
  void run(const ServingView& view, int seed, const std::stop_token& stop) {
    std::mt19937 rng(static_cast<unsigned>(seed));
    size_t at = 0;                              // index in order_ of the version last seen
    std::map<std::string, int64_t> lastOffset;  // per key, the source offset last answered
    while (!stop.stop_requested()) {
      std::vector<std::string> keys;
      for (int i = 0; i < 4; ++i) {
        keys.push_back(keyOf(static_cast<int32_t>(rng() % kPartitions), rng() % kKeysPerPartition));
      }
      auto answers = view.getMany(keys);
      for (size_t i = 0; i < answers.size(); ++i) {
        const auto& a = answers[i];
        if (!a.value) return fail("key " + keys[i] + " not found (version " + a.version + ")");
        if (a.version != answers[0].version) return fail("a batch answered by two versions");
        if (a.value->find("\"version\":\"" + a.version + "\"") == std::string::npos ||
            a.value->find("\"key\":\"" + keys[i] + "\"") == std::string::npos) {
          return fail("answer " + *a.value + " for " + keys[i] + " from " + a.version);
        }
      }
      for (size_t i = 0; i < answers.size(); ++i) {
        auto& seen = lastOffset[keys[i]];
        if (answers[i].position.offset < seen) {
          return fail("key " + keys[i] + " went back from source offset " + std::to_string(seen) +
                      " to " + std::to_string(answers[i].position.offset) + " (" +
                      answers[i].version + ")");
        }
        seen = answers[i].position.offset;
      }
      size_t next = at;
      while (next < order_.size() && order_[next] != answers[0].version) ++next;
      if (next == order_.size()) {
        return fail("version " + answers[0].version + " answered after " + order_[at]);
      }
      at = next;
      ++answers_;
    }
  }
  void fail(const std::string& what) {
    std::lock_guard lock(mu_);
    failures_.push_back(what);
  }

  const std::vector<std::string> order_;
  std::atomic<uint64_t> answers_{0};
  std::mutex mu_;
  std::vector<std::string> failures_;
  std::vector<std::jthread> threads_;
};

bool waitVersion(const ServingView& view, const std::string& version,
                 std::chrono::milliseconds within = 30s) {
  return kappa::testing::eventually([&] { return view.stats().version == version; }, within);
}

TEST_F(ServingReaderIt, ViewFollowsFiveFlipsAndARollbackWithNoGapAndNoMix) {
  std::vector<std::string> order = {"v1", "v2", "v3", "v4", "v5", "v6", "v5"};
  outputs_.create("v1");
  outputs_.write("v1", 0, 1000);
  outputs_.setNext(1000);
  outputs_.startLive({"v1"});
  flip("v1");
  auto view = ServingView::open(options_);
  ASSERT_TRUE(view->waitReady(30s));
  EXPECT_EQ(view->stats().version, "v1");
  Readers readers(*view, order);

  for (int i = 2; i <= 6; ++i) {
    std::string v = "v" + std::to_string(i);
    outputs_.create(v);
    outputs_.addRunning(v);
    flip(v);
    ASSERT_TRUE(waitVersion(*view, v))
        << "still " << view->stats().version << " building " << view->stats().building;
    // The version before the previous one is drained: its topic stops growing.
    if (i >= 3) outputs_.removeRunning("v" + std::to_string(i - 2));
    std::this_thread::sleep_for(200ms);
  }
  flip("v5");  // rollback: v5 still runs
  ASSERT_TRUE(waitVersion(*view, "v5"));
  std::this_thread::sleep_for(300ms);
  readers.stop();
  outputs_.stopLive();

  auto failures = readers.failures();
  EXPECT_TRUE(failures.empty()) << failures.size() << " failures, first: " << failures[0];
  EXPECT_GT(readers.answers(), 100u);
  auto s = view->stats();
  EXPECT_EQ(s.swaps, 6u);
  EXPECT_EQ(s.unalignedSwaps, 0u);
  EXPECT_EQ(s.keys, static_cast<uint64_t>(kPartitions * kKeysPerPartition));
  EXPECT_GT(s.lastBuildRecordsPerSecond, 0);
  EXPECT_TRUE(s.building.empty());
}

TEST_F(ServingReaderIt, ViewWaitsForTheNewVersionToReachTheServingPosition) {
  outputs_.create("v1");
  outputs_.create("v2");
  outputs_.create("v3");
  outputs_.write("v1", 0, 500);
  outputs_.write("v2", 0, 450);  // 50 source offsets behind
  outputs_.write("v3", 0, 400);
  flip("v1");
  auto view = ServingView::open(options_);
  ASSERT_TRUE(view->waitReady(30s));
  flip("v2");
  ASSERT_TRUE(kappa::testing::eventually([&] { return view->stats().building == "v2"; }));
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(view->stats().version, "v1") << "swapped to a view behind the serving one";
  EXPECT_EQ(view->get("p0-k1").version, "v1");
  outputs_.write("v2", 450, 500);
  ASSERT_TRUE(waitVersion(*view, "v2", 20s));
  EXPECT_EQ(view->stats().unalignedSwaps, 0u);
  EXPECT_EQ(view->stats().sourcePosition, (std::map<int32_t, int64_t>{{0, 499}, {1, 499}}));
}

TEST_F(ServingReaderIt, ViewSwapsAtTheAlignTimeoutAVersionThatNeverCatchesUp) {
  outputs_.create("v1");
  outputs_.create("v2");
  outputs_.write("v1", 0, 500);
  outputs_.write("v2", 0, 400);
  flip("v1");
  options_.alignTimeout = 2s;
  auto view = ServingView::open(options_);
  ASSERT_TRUE(view->waitReady(30s));
  auto flipped = std::chrono::steady_clock::now();
  flip("v2");
  ASSERT_TRUE(waitVersion(*view, "v2", 20s));
  EXPECT_GE(std::chrono::steady_clock::now() - flipped, 2s);
  EXPECT_EQ(view->stats().unalignedSwaps, 1u);
  EXPECT_EQ(view->stats().swaps, 1u);
}

// Both versions run live, the new one 40 source offsets (200 ms) behind the old: the old
// view stands still once the new one has read its topic, and the swap is aligned within a
// moment, long before alignTimeout.
TEST_F(ServingReaderIt, ViewSwapsAlignedWhileBothVersionsRunLive) {
  outputs_.create("v1");
  outputs_.create("v2");
  outputs_.write("v1", 0, 1000);
  outputs_.write("v2", 0, 960);
  outputs_.setNext(1000);
  outputs_.startLive({"v1", "v2"}, {{"v2", 40}});
  flip("v1");
  options_.alignTimeout = 60s;
  auto view = ServingView::open(options_);
  ASSERT_TRUE(view->waitReady(30s));
  Readers readers(*view, {"v1", "v2"});
  std::this_thread::sleep_for(500ms);
  auto flipped = std::chrono::steady_clock::now();
  flip("v2");
  ASSERT_TRUE(waitVersion(*view, "v2", 30s));
  auto took = std::chrono::steady_clock::now() - flipped;
  std::this_thread::sleep_for(500ms);
  readers.stop();
  outputs_.stopLive();
  auto failures = readers.failures();
  EXPECT_TRUE(failures.empty()) << failures.size() << " failures, first: " << failures[0];
  EXPECT_EQ(view->stats().unalignedSwaps, 0u);
  EXPECT_LT(took, 20s) << "the swap waited for alignment far longer than a hold";
  // The view follows v2 again after the swap.
  EXPECT_GT(view->stats().sourcePosition[0], 1000);
}

// Flipped to a version that cannot catch up, then back before the swap: the build is
// dropped and the serving view, held while the new one waited, follows its topic again.
TEST_F(ServingReaderIt, ViewFlippedBackBeforeTheSwapKeepsFollowing) {
  outputs_.create("v1");
  outputs_.create("v2");
  outputs_.write("v1", 0, 500);
  outputs_.write("v2", 0, 400);
  flip("v1");
  auto view = ServingView::open(options_);
  ASSERT_TRUE(view->waitReady(30s));
  flip("v2");
  ASSERT_TRUE(kappa::testing::eventually([&] { return view->stats().building == "v2"; }));
  std::this_thread::sleep_for(1500ms);  // v2 read to its end: v1 is held
  flip("v1");
  ASSERT_TRUE(kappa::testing::eventually([&] { return view->stats().building.empty(); }));
  outputs_.write("v1", 500, 550);
  EXPECT_TRUE(kappa::testing::eventually(
      [&] {
        return view->stats().sourcePosition == std::map<int32_t, int64_t>{{0, 549}, {1, 549}};
      },
      3s))
      << "the serving view stopped following its topic";
  EXPECT_EQ(view->stats().version, "v1");
  EXPECT_EQ(view->stats().swaps, 0u);
}

TEST_F(ServingReaderIt, ConsumerDeliversEachSourcePositionOnceAcrossAFlip) {
  outputs_.create("v1");
  outputs_.create("v2");
  outputs_.write("v1", 0, 1000);
  outputs_.write("v2", 0, 1000);
  outputs_.setNext(1000);
  outputs_.startLive({"v1", "v2"});
  flip("v1");
  auto consumer = ServingConsumer::open(options_);
  std::map<int32_t, std::vector<int64_t>> seen;
  std::vector<Record> records;
  auto take = [&](size_t until) {
    auto deadline = std::chrono::steady_clock::now() + 30s;
    while (records.size() < until && std::chrono::steady_clock::now() < deadline) {
      if (auto r = consumer->poll(100ms)) records.push_back(std::move(*r));
    }
  };
  take(700);
  ASSERT_EQ(records.size(), 700u);
  flip("v2");
  take(1500);
  outputs_.stopLive();
  int64_t last = outputs_.next() - 1;
  // Until the last source offset written has been delivered on both partitions, then 1 s more
  // for anything delivered twice.
  auto done = [&] {
    std::map<int32_t, int64_t> top;
    for (const auto& r : records)
      top[r.position.partition] = std::max(top[r.position.partition], r.position.offset);
    return top[0] == last && top[1] == last;
  };
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (!done() && std::chrono::steady_clock::now() < deadline) {
    if (auto r = consumer->poll(100ms)) records.push_back(std::move(*r));
  }
  ASSERT_TRUE(done()) << records.size() << " records";
  while (auto r = consumer->poll(1s)) records.push_back(std::move(*r));

  bool switched = false;
  for (const auto& r : records) {
    if (r.version == "v2") switched = true;
    EXPECT_FALSE(switched && r.version == "v1") << "v1 delivered after the switch";
    seen[r.position.partition].push_back(r.position.offset);
  }
  ASSERT_TRUE(switched);
  for (int32_t p = 0; p < kPartitions; ++p) {
    auto& offsets = seen[p];
    ASSERT_EQ(offsets.size(), static_cast<size_t>(last + 1)) << "partition " << p;
    for (int64_t o = 0; o <= last; ++o) {
      ASSERT_EQ(offsets[static_cast<size_t>(o)], o) << "partition " << p;
    }
  }
  auto s = consumer->stats();
  EXPECT_EQ(s.switches, 1u);
  EXPECT_EQ(s.unalignedSwitches, 0u);
  EXPECT_GT(s.skippedAtSwitch, 0u);
  EXPECT_EQ(s.version, "v2");
}

// Polls until more than 200 records were delivered and the last is the first record of a
// three-record group (Outputs::groups): a flip now splits that group.
void pollIntoAGroup(ServingConsumer& consumer, std::vector<Record>& records) {
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < deadline) {
    auto r = consumer.poll(100ms);
    if (!r) continue;
    records.push_back(*r);
    if (records.size() > 200 && r->position.offset % 5 == 0 &&
        r->key.find('#') == std::string::npos) {
      return;
    }
  }
}

// The versions that delivered each (source partition, offset).
using VersionsByOffset = std::map<std::pair<int32_t, int64_t>, std::vector<std::string>>;

// Every source offset up to `last` delivered once in full (three records for one offset in
// five, else one), all of it by one version.
void expectEachOffsetOnceByOneVersion(const std::vector<Record>& records, int64_t last,
                                      VersionsByOffset& byOffset) {
  for (const auto& r : records) {
    byOffset[{r.position.partition, r.position.offset}].push_back(r.version);
  }
  for (int32_t p = 0; p < kPartitions; ++p) {
    for (int64_t o = 0; o <= last; ++o) {
      const auto& versions = byOffset[{p, o}];
      ASSERT_EQ(versions.size(), o % 5 == 0 ? 3u : 1u) << "partition " << p << " offset " << o;
      for (const auto& v : versions)
        ASSERT_EQ(v, versions[0]) << "partition " << p << " offset " << o;
    }
  }
}

// One source offset in five makes three records; the flip comes right after the first record
// of such a group was delivered: the group's other two come from the old topic, and the new
// one starts after it. Then the consumer is destroyed with records read and not delivered.
TEST_F(ServingReaderIt, ConsumerFinishesASourceOffsetsRecordsBeforeItSwitches) {
  outputs_.groups = true;
  outputs_.create("v1");
  outputs_.create("v2");
  outputs_.write("v1", 0, 600);
  outputs_.write("v2", 0, 600);
  flip("v1");
  auto consumer = ServingConsumer::open(options_);
  std::vector<Record> records;
  pollIntoAGroup(*consumer, records);
  ASSERT_GT(records.size(), 200u);
  int32_t splitPartition = records.back().position.partition;
  int64_t splitOffset = records.back().position.offset;
  flip("v2");
  int64_t last = 599;
  auto done = [&] {
    std::map<int32_t, int64_t> top;
    for (const auto& r : records)
      top[r.position.partition] = std::max(top[r.position.partition], r.position.offset);
    return top[0] == last && top[1] == last && records.back().key.find('#') == std::string::npos;
  };
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (!done() && std::chrono::steady_clock::now() < deadline) {
    if (auto r = consumer->poll(100ms)) records.push_back(std::move(*r));
  }
  while (auto r = consumer->poll(1s)) records.push_back(std::move(*r));
  VersionsByOffset byOffset;
  ASSERT_NO_FATAL_FAILURE(expectEachOffsetOnceByOneVersion(records, last, byOffset));
  auto split = byOffset[std::make_pair(splitPartition, splitOffset)];
  ASSERT_FALSE(split.empty());
  EXPECT_EQ(split[0], "v1") << "the split group";
  EXPECT_EQ(consumer->stats().switches, 1u);

  // Destroyed with records read and not delivered.
  flip("v1");
  outputs_.write("v1", 600, 700);
  ASSERT_TRUE(consumer->poll(10s));
  consumer.reset();
}

// Flipped to v2 and straight back while a group of v1 is being finished: whatever was
// dropped from v1 meanwhile is delivered, and nothing twice.
TEST_F(ServingReaderIt, ConsumerFlippedBackWhileFinishingLosesNothing) {
  outputs_.groups = true;
  outputs_.create("v1");
  outputs_.create("v2");
  outputs_.write("v1", 0, 600);
  outputs_.write("v2", 0, 600);
  flip("v1");
  auto consumer = ServingConsumer::open(options_);
  std::vector<Record> records;
  pollIntoAGroup(*consumer, records);
  flip("v2");
  for (int i = 0; i < 5; ++i) {
    if (auto r = consumer->poll(20ms)) records.push_back(std::move(*r));
  }
  flip("v1");
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < deadline) {
    auto r = consumer->poll(1s);
    if (r) {
      records.push_back(std::move(*r));
    } else if (consumer->stats().version == "v1") {
      break;
    }
  }
  VersionsByOffset byOffset;
  ASSERT_NO_FATAL_FAILURE(expectEachOffsetOnceByOneVersion(records, 599, byOffset));
}

// v1 has positions, v2 none, v3 positions again: after v1 -> v2 only v2's records written
// after the switch are delivered; v2 -> v3 starts at v3's end.
TEST_F(ServingReaderIt, ConsumerWithoutPositionsDeliversOnlyWhatFollowsTheSwitch) {
  outputs_.create("v1");
  outputs_.create("v2");
  outputs_.create("v3");
  outputs_.write("v1", 0, 500);
  outputs_.write("v2", 0, 500, false);
  outputs_.write("v3", 0, 500);
  flip("v1");
  auto consumer = ServingConsumer::open(options_);
  size_t taken = 0;
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (taken < 300 && std::chrono::steady_clock::now() < deadline) {
    if (consumer->poll(100ms)) ++taken;
  }
  ASSERT_EQ(taken, 300u);
  flip("v2");
  ASSERT_TRUE(kappa::testing::eventually([&] {
    while (auto r = consumer->poll(10ms)) EXPECT_EQ(r->version, "v1");
    return consumer->stats().version == "v2";
  }));
  EXPECT_FALSE(consumer->poll(1s)) << "v2's records from before the switch were delivered";
  outputs_.write("v2", 500, 550, false);
  std::vector<Record> after;
  deadline = std::chrono::steady_clock::now() + 20s;
  while (after.size() < 100 && std::chrono::steady_clock::now() < deadline) {
    if (auto r = consumer->poll(100ms)) after.push_back(std::move(*r));
  }
  ASSERT_EQ(after.size(), 100u);
  for (const auto& r : after) {
    EXPECT_EQ(r.version, "v2");
    EXPECT_GE(r.outputOffset, 500);
    EXPECT_EQ(r.position.offset, -1);
  }
  EXPECT_EQ(consumer->stats().unalignedSwitches, 1u);

  flip("v3");
  ASSERT_TRUE(kappa::testing::eventually([&] {
    consumer->poll(10ms);
    return consumer->stats().version == "v3";
  }));
  EXPECT_FALSE(consumer->poll(1s)) << "v3's records from before the switch were delivered";
  outputs_.write("v3", 500, 510);
  std::vector<Record> v3;
  deadline = std::chrono::steady_clock::now() + 20s;
  while (v3.size() < 20 && std::chrono::steady_clock::now() < deadline) {
    if (auto r = consumer->poll(100ms)) v3.push_back(std::move(*r));
  }
  ASSERT_EQ(v3.size(), 20u);
  for (const auto& r : v3) EXPECT_GE(r.position.offset, 500);
  EXPECT_EQ(consumer->stats().unalignedSwitches, 2u);
  EXPECT_EQ(consumer->stats().switches, 2u);
}

}  // namespace
}  // namespace kappa::serve
