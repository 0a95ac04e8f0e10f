// OutputComparator against the real broker: outputs written as the worker writes them.
#include <gtest/gtest.h>

#define XXH_INLINE_ALL  // the hash the comparator samples by, without linking libxxhash
#include <xxhash.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <thread>

#include "runtime/kafka/output_comparator.h"
#include "tests/support/kafka_test_util.h"

namespace kappa::kafka {
namespace {

using testing::uniqueName;

// One output record as the worker writes it: key, JSON value, source position headers.
struct Rec {
  int32_t partition;
  std::string key;
  std::optional<std::string> value;
  int64_t sourceOffset;
};

void write(const std::string& topic, const std::vector<Rec>& recs) {
  auto rk = makeHandle(RD_KAFKA_PRODUCER, testing::kafkaBootstrap(), {{"linger.ms", "5"}});
  ASSERT_TRUE(rk.ok());
  for (const auto& r : recs) {
    rd_kafka_headers_t* h = rd_kafka_headers_new(2);
    auto p = std::to_string(r.partition), o = std::to_string(r.sourceOffset);
    rd_kafka_header_add(h, "kappa-src-partition", -1, p.data(), static_cast<ssize_t>(p.size()));
    rd_kafka_header_add(h, "kappa-src-offset", -1, o.data(), static_cast<ssize_t>(o.size()));
    void* payload = r.value ? const_cast<char*>(r.value->data()) : nullptr;
    size_t size = r.value ? r.value->size() : 0;
    auto err = rd_kafka_producev(
        rk->get(), RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(r.partition),
        RD_KAFKA_V_KEY(r.key.data(), r.key.size()), RD_KAFKA_V_VALUE(payload, size),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
    ASSERT_EQ(err, RD_KAFKA_RESP_ERR_NO_ERROR);
  }
  ASSERT_EQ(rd_kafka_flush(rk->get(), 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
}

std::string count(int n) { return "{\"n\":" + std::to_string(n) + "}"; }

KafkaOutputComparator comparator() {
  return KafkaOutputComparator({testing::kafkaBootstrap(), {}, std::chrono::seconds(30)});
}

TEST(OutputComparatorIT, CandidateAheadOfServingIsNoMismatch) {
  auto admin = testing::makeAdmin();
  ASSERT_TRUE(admin);
  auto serving = uniqueName("serving"), candidate = uniqueName("candidate");
  testing::createTopic(*admin, serving, 2);
  testing::createTopic(*admin, candidate, 2);
  // Same logic; the candidate has processed further on partition 0 (offsets 3 and 4).
  write(
      serving,
      {{0, "a", count(1), 0}, {0, "b", count(1), 1}, {0, "a", count(2), 2}, {1, "c", count(1), 0}});
  write(candidate, {{0, "a", count(1), 0},
                    {0, "b", count(1), 1},
                    {0, "a", count(2), 2},
                    {0, "a", count(3), 3},
                    {0, "b", std::nullopt, 4},
                    {1, "c", count(1), 0}});
  auto r = comparator().compare(serving, candidate, ComparePolicy{});
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_TRUE(r->consistentCut);
  EXPECT_EQ(r->cut, (PartitionOffsets{{0, 3}, {1, 1}}));
  EXPECT_EQ(r->sampledKeys, 3);
  // a and b moved on past the cut in the candidate: compared at a later cut, not now.
  EXPECT_EQ(r->notComparableKeys, 2);
  EXPECT_EQ(r->comparedKeys, 1);
  EXPECT_EQ(r->mismatchedKeys, 0) << *r;
  EXPECT_TRUE(r->withinPolicy);
}

TEST(OutputComparatorIT, RealDifferenceIsAMismatchWithExamples) {
  auto admin = testing::makeAdmin();
  ASSERT_TRUE(admin);
  auto serving = uniqueName("serving"), candidate = uniqueName("candidate");
  testing::createTopic(*admin, serving, 1);
  testing::createTopic(*admin, candidate, 1);
  std::vector<Rec> s, c;
  for (int i = 0; i < 200; ++i) {
    auto key = "u" + std::to_string(i);
    s.push_back({0, key, count(i), i});
    // The candidate doubles every tenth key: a bug.
    c.push_back({0, key, count(i % 10 == 0 ? 2 * i + 1 : i), i});
  }
  write(serving, s);
  write(candidate, c);
  ComparePolicy policy;
  policy.sampleKeys = 1000;
  auto r = comparator().compare(serving, candidate, policy);
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->sampledKeys, 200);
  EXPECT_EQ(r->comparedKeys, 200);
  EXPECT_EQ(r->mismatchedKeys, 20);
  EXPECT_DOUBLE_EQ(r->mismatchRatio, 0.1);
  EXPECT_FALSE(r->withinPolicy);
  ASSERT_EQ(r->examples.size(), 5u);
  EXPECT_EQ(r->examples[0].key, "u0");
  EXPECT_EQ(r->examples[0].serving, count(0));
  EXPECT_EQ(r->examples[0].candidate, count(1));

  policy.maxMismatchRatio = 0.1;
  auto tolerated = comparator().compare(serving, candidate, policy);
  ASSERT_TRUE(tolerated.ok());
  EXPECT_TRUE(tolerated->withinPolicy);

  // Sampling is deterministic: the same 50 keys every time.
  policy.sampleKeys = 50;
  auto a = comparator().compare(serving, candidate, policy);
  auto b = comparator().compare(serving, candidate, policy);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->sampledKeys, 50);
  EXPECT_EQ(a->mismatched, b->mismatched);
  EXPECT_EQ(a->examples, b->examples);
}

// Many more keys than the sample: the comparator drops keys while it reads, and the sample is
// still exactly the k keys with the smallest hashes, whatever order the records come in.
TEST(OutputComparatorIT, SampleIsTheKSmallestHashesOfManyKeys) {
  auto admin = testing::makeAdmin();
  ASSERT_TRUE(admin);
  auto serving = uniqueName("serving"), candidate = uniqueName("candidate");
  testing::createTopic(*admin, serving, 3);
  testing::createTopic(*admin, candidate, 3);
  constexpr int kKeys = 6000;
  std::vector<Rec> s, c;
  std::vector<std::pair<uint64_t, std::string>> byHash;
  for (int i = 0; i < kKeys; ++i) {
    auto key = "user-" + std::to_string(i);
    int32_t p = i % 3;
    // Every key differs, so the mismatched keys are the sampled keys.
    s.push_back({p, key, count(i), i / 3});
    c.push_back({p, key, count(i + 1), i / 3});
    byHash.emplace_back(XXH3_64bits(key.data(), key.size()), key);
  }
  std::reverse(c.begin(), c.end());  // the candidate's keys come in the other order
  write(serving, s);
  write(candidate, c);
  std::sort(byHash.begin(), byHash.end());
  std::set<std::string> expected;
  for (int i = 0; i < 100; ++i) expected.insert(byHash[i].second);

  ComparePolicy policy;
  policy.sampleKeys = 100;
  auto r = comparator().compare(serving, candidate, policy);
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->sampledKeys, 100);
  EXPECT_EQ(r->comparedKeys, 100);
  EXPECT_EQ(r->mismatched, expected);
  ASSERT_EQ(r->examples.size(), 5u);
  EXPECT_EQ(r->examples[0].key, *expected.begin());
}

// The cut is taken from each partition's last record, whether or not its key is sampled:
// with a small sample, a candidate behind the serving version is compared where it is.
TEST(OutputComparatorIT, CutComesFromTheLastRecordOfEachPartitionWithASmallSample) {
  auto admin = testing::makeAdmin();
  ASSERT_TRUE(admin);
  auto serving = uniqueName("serving"), candidate = uniqueName("candidate");
  testing::createTopic(*admin, serving, 2);
  testing::createTopic(*admin, candidate, 2);
  // 3000 keys per partition, one record each at source offset i. The candidate has processed
  // partition 0 up to offset 1999 and partition 1 whole; past its cut, the serving version's
  // values differ (it is further along), so a cut too late would show mismatches.
  constexpr int kKeys = 3000, kBehind = 2000;
  std::vector<Rec> s, c;
  std::vector<std::pair<uint64_t, std::pair<int, int>>> byHash;  // (hash, (partition, i))
  for (int32_t p = 0; p < 2; ++p) {
    for (int i = 0; i < kKeys; ++i) {
      auto key = "p" + std::to_string(p) + "-" + std::to_string(i);
      s.push_back({p, key, count(p == 0 && i >= kBehind ? -i : i), i});
      if (p == 1 || i < kBehind) c.push_back({p, key, count(i), i});
      byHash.emplace_back(XXH3_64bits(key.data(), key.size()), std::make_pair(p, i));
    }
  }
  write(serving, s);
  write(candidate, c);
  std::sort(byHash.begin(), byHash.end());
  constexpr int kSample = 20;
  int64_t beforeCut = 0;
  for (int j = 0; j < kSample; ++j) {
    if (byHash[j].second.first == 1 || byHash[j].second.second < kBehind) ++beforeCut;
  }
  // The last record of each candidate partition is outside the sample.
  for (int j = 0; j < kSample; ++j) {
    ASSERT_NE(byHash[j].second, std::make_pair(0, kBehind - 1));
    ASSERT_NE(byHash[j].second, std::make_pair(1, kKeys - 1));
  }

  ComparePolicy policy;
  policy.sampleKeys = kSample;
  auto r = comparator().compare(serving, candidate, policy);
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_TRUE(r->consistentCut);
  EXPECT_EQ(r->cut, (PartitionOffsets{{0, kBehind}, {1, kKeys}}));
  EXPECT_EQ(r->sampledKeys, kSample);
  EXPECT_EQ(r->comparedKeys, beforeCut);
  EXPECT_EQ(r->notComparableKeys, kSample - beforeCut);
  EXPECT_EQ(r->mismatchedKeys, 0) << *r;
}

// Outputs with different keys: the sample is the k smallest hashes of the union, each output
// read on a reader of its own, and a key only one output has is a mismatch.
TEST(OutputComparatorIT, SampleIsDrawnFromTheUnionOfBothOutputsKeys) {
  auto admin = testing::makeAdmin();
  ASSERT_TRUE(admin);
  auto serving = uniqueName("serving"), candidate = uniqueName("candidate");
  testing::createTopic(*admin, serving, 2);
  testing::createTopic(*admin, candidate, 2);
  // Serving has keys 0..3999, the candidate 2000..5999; the shared ones agree.
  std::vector<Rec> s, c;
  std::vector<std::pair<uint64_t, int>> byHash;
  for (int i = 0; i < 6000; ++i) {
    auto key = "k" + std::to_string(i);
    // Source offsets by record index: both outputs reached the same source position.
    if (i < 4000) s.push_back({i % 2, key, count(i), i / 2});
    if (i >= 2000) c.push_back({i % 2, key, count(i), (i - 2000) / 2});
    byHash.emplace_back(XXH3_64bits(key.data(), key.size()), i);
  }
  write(serving, s);
  write(candidate, c);
  std::sort(byHash.begin(), byHash.end());
  std::set<std::string> onlyOneSide;
  for (int j = 0; j < 150; ++j) {
    int i = byHash[j].second;
    if (i < 2000 || i >= 4000) onlyOneSide.insert("k" + std::to_string(i));
  }

  ComparePolicy policy;
  policy.sampleKeys = 150;
  auto r = comparator().compare(serving, candidate, policy);
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_TRUE(r->consistentCut);
  EXPECT_EQ(r->sampledKeys, 150);
  EXPECT_EQ(r->comparedKeys, 150);
  ASSERT_GT(onlyOneSide.size(), 50u);  // about two thirds of the sample
  EXPECT_EQ(r->mismatched, onlyOneSide);
}

TEST(ValidateCli, JsonShapeAndExitCodes) {
  auto admin = testing::makeAdmin();
  ASSERT_TRUE(admin);
  auto serving = uniqueName("serving"), candidate = uniqueName("candidate");
  testing::createTopic(*admin, serving, 1);
  testing::createTopic(*admin, candidate, 1);
  write(serving, {{0, "a", count(1), 0}, {0, "b", count(2), 1}});
  write(candidate, {{0, "a", count(1), 0}, {0, "b", count(5), 1}});
  auto cmd = testing::binPath("kubectl-kappa") + " validate --bootstrap " +
             testing::kafkaBootstrap() + " --serving-topic " + serving + " --candidate-topic " +
             candidate + " --json";
  auto r = testing::run(cmd);
  EXPECT_EQ(r.exitCode, 1) << r.out;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["sampledKeys"], 2);
  EXPECT_EQ(j["comparedKeys"], 2);
  EXPECT_EQ(j["mismatchedKeys"], 1);
  EXPECT_DOUBLE_EQ(j["mismatchRatio"].get<double>(), 0.5);
  ASSERT_EQ(j["examples"].size(), 1u);
  EXPECT_EQ(j["examples"][0]["key"], "b");
  EXPECT_EQ(j["examples"][0]["serving"], count(2));
  EXPECT_EQ(j["examples"][0]["candidate"], count(5));
  auto ok = testing::run(cmd + " --max-mismatch-ratio 0.5 >/dev/null");
  EXPECT_EQ(ok.exitCode, 0);
  auto bad = testing::run(testing::binPath("kubectl-kappa") +
                          " validate --bootstrap 127.0.0.1:1 --serving-topic a --candidate-topic b"
                          " --timeout 2 2>&1");
  EXPECT_EQ(bad.exitCode, 2) << bad.out;
}

// A bug planted in 0.5 % of 20,000 keys: the comparison finds exactly the planted keys that
// fall in the sample (the sample is known: the smallest hashes), at about the planted rate,
// and every example it shows is a planted key with both true values.
TEST(OutputComparatorIT, APlantedDivergenceIsFoundAtItsRateWithTrueExamplesOnly) {
  auto admin = testing::makeAdmin();
  ASSERT_TRUE(admin);
  auto serving = uniqueName("serving"), candidate = uniqueName("candidate");
  testing::createTopic(*admin, serving, 4);
  testing::createTopic(*admin, candidate, 4);
  constexpr int kKeys = 20000, kSample = 5000;
  std::vector<Rec> s, c;
  std::set<std::string> planted;
  std::vector<std::pair<uint64_t, std::string>> byHash;
  for (int i = 0; i < kKeys; ++i) {
    auto key = "user-" + std::to_string(i);
    int32_t p = i % 4;
    bool bug = i % 200 == 7;  // 100 keys, 0.5 %
    if (bug) planted.insert(key);
    s.push_back({p, key, count(i), i / 4});
    c.push_back({p, key, count(bug ? i + 1 : i), i / 4});
    byHash.emplace_back(XXH3_64bits(key.data(), key.size()), key);
  }
  write(serving, s);
  write(candidate, c);
  std::sort(byHash.begin(), byHash.end());
  std::set<std::string> expected;
  for (int i = 0; i < kSample; ++i) {
    if (planted.contains(byHash[i].second)) expected.insert(byHash[i].second);
  }

  ComparePolicy policy;
  policy.sampleKeys = kSample;
  auto r = comparator().compare(serving, candidate, policy);
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->sampledKeys, kSample);
  EXPECT_EQ(r->comparedKeys, kSample);
  EXPECT_EQ(r->notComparableKeys, 0);
  EXPECT_EQ(r->mismatched, expected);
  // The sample is a quarter of the keys: about 25 planted ones, binomially (sd ~4.3).
  EXPECT_GE(r->mismatchedKeys, 10);
  EXPECT_LE(r->mismatchedKeys, 40);
  EXPECT_NEAR(r->mismatchRatio, 0.005, 0.003);
  ASSERT_FALSE(r->examples.empty());
  for (const auto& e : r->examples) {
    EXPECT_TRUE(planted.contains(e.key)) << e.key;
    int i = std::stoi(e.key.substr(5));
    EXPECT_EQ(e.serving, count(i)) << e.key;
    EXPECT_EQ(e.candidate, count(i + 1)) << e.key;
  }
}

// Records in `topic` now (compaction removes some; the offsets stay).
int64_t recordsIn(const std::string& topic) {
  auto reader = makeHandle(RD_KAFKA_CONSUMER, testing::kafkaBootstrap(),
                           {{"group.id", "kappa-test-count"}, {"enable.partition.eof", "true"}});
  if (!reader) return -1;
  PartitionList assignment(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(assignment.get(), topic.c_str(), 0)->offset =
      RD_KAFKA_OFFSET_BEGINNING;
  if (rd_kafka_assign(reader->get(), assignment.get())) return -1;
  int64_t n = 0;
  for (int idle = 0; idle < 100;) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(reader->get(), 100);
    if (!m) {
      ++idle;
      continue;
    }
    bool eof = m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF;
    if (!m->err) ++n;
    rd_kafka_message_destroy(m);
    if (eof) return n;
  }
  return -1;
}

// An output that really compacted: the serving version, ahead of the candidate, updated half
// its keys past the cut, and compaction removed their records below it. Those keys are not
// comparable at this cut (never mismatches); the others compare equal.
TEST(OutputComparatorIT, CompactedOutputGivesNoFalseMismatch) {
  auto admin = testing::makeAdmin();
  ASSERT_TRUE(admin);
  auto serving = uniqueName("serving-compacted"), candidate = uniqueName("candidate");
  testing::createTopic(*admin, serving, 1,
                       {{"cleanup.policy", "compact"},
                        {"segment.ms", "100"},
                        {"min.cleanable.dirty.ratio", "0.01"},
                        {"min.compaction.lag.ms", "0"}});
  testing::createTopic(*admin, candidate, 1);
  constexpr int kKeys = 100, kUpdated = 50;
  std::vector<Rec> s, c;
  for (int i = 0; i < kKeys; ++i) {
    s.push_back({0, "k" + std::to_string(i), count(i), i});
    c.push_back({0, "k" + std::to_string(i), count(i), i});
  }
  // The candidate has processed the source up to offset 99; the serving version went on.
  for (int i = 0; i < kUpdated; ++i) {
    s.push_back({0, "k" + std::to_string(i), count(1000 + i), kKeys + i});
  }
  write(serving, s);
  write(candidate, c);
  ComparePolicy policy;
  policy.sampleKeys = 1000;
  auto expectNoFalseMismatch = [&](const char* when) {
    auto r = comparator().compare(serving, candidate, policy);
    ASSERT_TRUE(r.ok()) << r.error();
    EXPECT_TRUE(r->consistentCut) << when;
    EXPECT_EQ(r->cut, (PartitionOffsets{{0, kKeys}})) << when;
    EXPECT_EQ(r->mismatchedKeys, 0) << when << ": " << *r;
    EXPECT_EQ(r->comparedKeys, kKeys - kUpdated) << when;
    EXPECT_GE(r->notComparableKeys, kUpdated) << when;
  };
  expectNoFalseMismatch("before compaction");

  // A record after segment.ms rolls the segment; the cleaner then compacts the closed one.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  write(serving, {{0, "roll", count(0), 2 * kKeys}});
  const int64_t written = kKeys + kUpdated + 1;
  int64_t left = written;
  for (auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
       left == written && std::chrono::steady_clock::now() < deadline;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    left = recordsIn(serving);
  }
  ASSERT_EQ(left, written - kUpdated) << "the serving output was not compacted within 90 s";
  expectNoFalseMismatch("after compaction");
}

// Whether a tap was ever written: an empty or missing topic was not.
TEST(OutputComparatorIT, WrittenTellsAnEmptyTapFromAWrittenOne) {
  auto admin = testing::makeAdmin();
  ASSERT_TRUE(admin);
  std::string empty = uniqueName("tap-empty"), used = uniqueName("tap-used");
  testing::createTopic(*admin, empty, 2);
  testing::createTopic(*admin, used, 2);
  write(used, {{1, "k", count(1), 0}});
  auto c = comparator();
  for (auto [topic, want] : {std::pair{empty, false}, std::pair{used, true},
                             std::pair{uniqueName("tap-missing"), false}}) {
    auto w = c.written(topic);
    ASSERT_TRUE(w.ok()) << topic << ": " << w.error().message;
    EXPECT_EQ(*w, want) << topic;
  }
}

}  // namespace
}  // namespace kappa::kafka
