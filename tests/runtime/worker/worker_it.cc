// kappa-worker as a process against the real broker: dead letters, output equal to the
// engine's, the same output whatever the batch size or replica count, and kill -9 at random
// moments losing and duplicating nothing.
#include <gtest/gtest.h>

#include <signal.h>
#include <unistd.h>
#include <set>

#include <fstream>
#include <random>
#include <regex>
#include <thread>

#include "runtime/kafka/key_sample.h"
#include "runtime/kafka/lag_monitor.h"
#include "runtime/worker/engine.h"
#include "tests/support/child_process.h"
#include "tests/support/kafka_test_util.h"

namespace kappa::worker {
namespace {

using namespace std::chrono_literals;
using testing::ChildProcess;
using testing::TopicRecord;
using Output = std::map<int32_t, std::vector<TopicRecord>>;

const char* kProgram = R"(
keyField: user_id
timestampField: timestamp_ms
filter: [{field: event_type, op: in, values: [view, add_to_cart, purchase]}]
window: {type: session, gapSeconds: 30, allowedLatenessSeconds: 2}
aggregates:
  - {name: views, op: count, where: {field: event_type, equals: view}}
  - {name: revenue, op: sum, field: price}
  - {name: top, op: max, field: price}
)";

class WorkerIT : public ::testing::Test {
 protected:
  void SetUp() override {
    admin_ = testing::makeAdmin();
    ASSERT_TRUE(admin_);
    programFile_ = ::testing::TempDir() + testing::uniqueName("program") + ".yaml";
    std::ofstream(programFile_) << kProgram;
  }

  std::string logFile(const std::string& stem) {
    return ::testing::TempDir() + testing::uniqueName(stem) + ".log";
  }

  std::unique_ptr<ChildProcess> startWorker(const std::string& source, const std::string& output,
                                            const std::string& group,
                                            std::vector<std::string> extra = {},
                                            const std::string& programFile = "") {
    std::vector<std::string> argv = {testing::binPath("kappa-worker"),
                                     "--program",
                                     programFile.empty() ? programFile_ : programFile,
                                     "--bootstrap",
                                     testing::kafkaBootstrap(),
                                     "--source-topic",
                                     source,
                                     "--output-topic",
                                     output,
                                     "--group",
                                     group,
                                     "--transactional-id",
                                     group + "-txn",
                                     "--create-topics"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return std::make_unique<ChildProcess>(argv, logFile(group));
  }

  void loadgen(const std::string& topic, int partitions, int64_t count, int64_t badEvery = 0,
               uint32_t seed = 1) {
    auto r = testing::run(testing::binPath("kappa-loadgen") + " --bootstrap " +
                          testing::kafkaBootstrap() + " --topic " + topic +
                          " --create-partitions " + std::to_string(partitions) + " --count " +
                          std::to_string(count) + " --keys 500 --bad-every " +
                          std::to_string(badEvery) + " --seed " + std::to_string(seed) + " 2>&1");
    ASSERT_EQ(r.exitCode, 0) << r.out;
  }

  // Waits until the group has consumed everything (lag 0 against the last stable offset).
  void waitCaughtUp(const std::string& group, const std::string& topic, ChildProcess* worker,
                    std::chrono::seconds within = 300s) {
    kafka::LagMonitor monitor(*admin_);
    auto deadline = std::chrono::steady_clock::now() + within;
    while (std::chrono::steady_clock::now() < deadline) {
      if (worker) {
        ASSERT_TRUE(worker->running()) << worker->log();
      }
      auto s = monitor.sample(group, topic, std::chrono::system_clock::now());
      if (s.ok() && s->committedAny && s->totalLag == 0) return;
      std::this_thread::sleep_for(200ms);
    }
    FAIL() << "group " << group << " did not catch up on " << topic
           << (worker ? "\n" + worker->log() : "");
  }

  // Waits until the worker has its partitions and has restored its state.
  void waitAssigned(ChildProcess& worker, std::chrono::seconds within = 60s) {
    auto deadline = std::chrono::steady_clock::now() + within;
    while (worker.log().find("state restored") == std::string::npos) {
      ASSERT_TRUE(worker.running()) << worker.log();
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "never assigned\n" << worker.log();
      std::this_thread::sleep_for(20ms);
    }
  }

  void stop(ChildProcess& worker) {
    worker.signal(SIGTERM);
    auto code = worker.wait(30s);
    ASSERT_TRUE(code.has_value()) << "worker did not stop on SIGTERM\n" << worker.log();
    EXPECT_EQ(*code, 0) << worker.log();
  }

  // The engine run in-process over the source: what the worker must have written to its
  // output (and, for an onClose program, to its state changelog: `state`).
  Output expectedOutput(const std::string& source, const char* programText = kProgram,
                        Output* state = nullptr) {
    struct Collect : Emitter {
      Output out, state;
      static TopicRecord record(int32_t partition, std::string_view key, const std::string* value,
                                int64_t offset, int64_t watermark) {
        TopicRecord r;
        r.key = key;
        if (value) r.value = *value;
        r.headers["kappa-src-partition"] = std::to_string(partition);
        r.headers["kappa-src-offset"] = std::to_string(offset);
        r.headers["kappa-watermark"] = std::to_string(watermark);
        return r;
      }
      void emit(int32_t partition, std::string_view key, const std::string* value, int64_t offset,
                int64_t watermark) override {
        out[partition].push_back(record(partition, key, value, offset, watermark));
      }
      void emitState(int32_t partition, std::string_view key, const std::string* value,
                     int64_t offset, int64_t watermark) override {
        state[partition].push_back(record(partition, key, value, offset, watermark));
      }
    } collect;
    auto program = parseProgram(programText);
    EventParser parser(*program);
    Engine engine(*program);
    for (const auto& [p, records] : testing::readTopic(source)) {
      collect.out[p];
      for (const auto& r : records) {
        if (!r.value || !parser.parse(r.value->data(), r.value->size()).empty()) continue;
        engine.process(p, r.offset, parser, collect);
      }
    }
    if (state) {
      engine.flushState(collect);
      *state = std::move(collect.state);
    }
    return collect.out;
  }

  std::unique_ptr<kafka::RdKafkaAdmin> admin_;
  std::string programFile_;
};

TEST_F(WorkerIT, MalformedEventsGoToTheDeadLetterTopic) {
  auto source = testing::uniqueName("src"), output = testing::uniqueName("out");
  testing::createTopic(*admin_, source, 2);
  const std::string good = R"({"user_id":"u1","event_type":"view","price":2,"timestamp_ms":1000})";
  struct Bad {
    std::optional<std::string> value;
    std::string error;
  };
  std::vector<Bad> bad = {
      {R"({"user_id":"u1","event_type":)", "bad JSON"},
      {"plain text", "bad JSON"},
      {"[1,2,3]", "bad JSON: not an object"},
      {std::nullopt, "empty event"},
      {R"({"event_type":"view","timestamp_ms":1})", "missing key field"},
      {R"({"user_id":{"id":1},"timestamp_ms":1})", "key field is not a string or integer"},
      {R"({"user_id":"u1","event_type":"view"})", "missing timestamp field"},
      {R"({"user_id":"u1","timestamp_ms":"noon"})", "timestamp field is not an integer (epoch ms)"},
      {R"({"user_id":"u1","event_type":"view","price":"free","timestamp_ms":5})",
       "aggregate field is not a number"},
  };
  testing::produceRaw(source, 0, "u1", good);
  for (const auto& b : bad) testing::produceRaw(source, 0, "k", b.value);
  testing::produceRaw(source, 1, "u2", good);
  testing::produceRaw(source, 0, "u1", good);

  auto group = testing::uniqueName("g");
  auto worker = startWorker(source, output, group, {"--metrics-address", "127.0.0.1:0"});
  waitAssigned(*worker);
  waitCaughtUp(group, source, worker.get(), 60s);
  auto dlq = testing::readTopic(output + ".dlq");
  ASSERT_TRUE(worker->running()) << "the worker must survive malformed events\n" << worker->log();
  ASSERT_EQ(dlq[0].size(), bad.size()) << worker->log();
  for (size_t i = 0; i < bad.size(); ++i) {
    const auto& rec = dlq[0][i];
    EXPECT_EQ(rec.value, bad[i].value) << i;
    EXPECT_EQ(rec.headers.at("kappa-error"), bad[i].error) << i;
    EXPECT_EQ(rec.headers.at("kappa-src-offset"), std::to_string(i + 1)) << i;
    EXPECT_EQ(rec.headers.at("kappa-src-partition"), "0") << i;
  }
  // Good events around the bad ones were processed, on both partitions.
  auto out = testing::readTopic(output);
  EXPECT_EQ(out[0].size(), 2u);
  EXPECT_EQ(out[1].size(), 1u);
  // The metrics endpoint counts them.
  auto log = worker->log();
  auto at = log.find("on port ");
  ASSERT_NE(at, std::string::npos) << log;
  auto port = std::stoi(log.substr(at + 8));
  auto metrics = testing::run("curl -s http://127.0.0.1:" + std::to_string(port) + "/metrics");
  EXPECT_NE(metrics.out.find("kappa_worker_dlq_records_total " + std::to_string(bad.size())),
            std::string::npos)
      << metrics.out;
  auto health = testing::run("curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:" +
                             std::to_string(port) + "/healthz");
  EXPECT_EQ(health.out, "200");
  stop(*worker);
}

TEST_F(WorkerIT, OutputIsWhatTheEngineComputes) {
  auto source = testing::uniqueName("src"), output = testing::uniqueName("out");
  auto group = testing::uniqueName("g");
  loadgen(source, 3, 30000, 250);
  auto worker = startWorker(source, output, group);
  waitAssigned(*worker);
  waitCaughtUp(group, source, worker.get());
  stop(*worker);
  auto expected = expectedOutput(source);
  auto actual = testing::readTopic(output);
  ASSERT_EQ(actual.size(), 3u);
  for (int p = 0; p < 3; ++p) {
    ASSERT_EQ(actual[p].size(), expected[p].size()) << "partition " << p;
    EXPECT_GT(actual[p].size(), 1000u);
    EXPECT_TRUE(actual[p] == expected[p]) << "partition " << p;
  }
}

// The sample tap holds, per partition and in order, exactly the output records of the keys
// the sample predicate takes; two replays of the same program (two versions) tap the same
// keys with the same values.
TEST_F(WorkerIT, TheTapHoldsTheOutputRecordsOfTheSampledKeys) {
  auto source = testing::uniqueName("src");
  loadgen(source, 2, 20000, 0, 5);
  std::vector<Output> outputs, taps;
  for (int i = 0; i < 2; ++i) {
    auto output = testing::uniqueName("out"), group = testing::uniqueName("g");
    auto worker =
        startWorker(source, output, group, {"--tap-topic", output + ".tap", "--tap-rate", "8"});
    waitAssigned(*worker);
    waitCaughtUp(group, source, worker.get());
    stop(*worker);
    EXPECT_NE(worker->log().find("sample tap " + output + ".tap (one key in 8)"), std::string::npos)
        << worker->log();
    outputs.push_back(testing::readTopic(output));
    taps.push_back(testing::readTopic(output + ".tap"));
  }
  std::set<std::string> tapped, all;
  for (int p = 0; p < 2; ++p) {
    std::vector<TopicRecord> want;
    for (const auto& r : outputs[0][p]) {
      all.insert(r.key);
      if (kafka::inTap(kafka::sampleHash(r.key.data(), r.key.size()), 8)) want.push_back(r);
    }
    ASSERT_EQ(taps[0][p].size(), want.size()) << "partition " << p;
    EXPECT_TRUE(taps[0][p] == want) << "partition " << p;  // keys, values and headers
    for (const auto& r : taps[0][p]) tapped.insert(r.key);
    EXPECT_TRUE(taps[1][p] == taps[0][p]) << "partition " << p;
  }
  // About one key in 8 of the 500.
  EXPECT_GT(tapped.size(), all.size() / 16) << tapped.size() << " of " << all.size();
  EXPECT_LT(tapped.size(), all.size() / 4) << tapped.size() << " of " << all.size();
}

// A retired version's consumer group is deleted; a rollback brings its worker back with the
// same (now empty) group. It must resume where its output ends, not replay from the start.
TEST_F(WorkerIT, DeletedGroupResumesWhereTheOutputEnds) {
  auto source = testing::uniqueName("src"), output = testing::uniqueName("out");
  auto group = testing::uniqueName("g");
  loadgen(source, 2, 20000, 0, 3);
  auto first = startWorker(source, output, group);
  waitAssigned(*first);
  waitCaughtUp(group, source, first.get());
  stop(*first);
  ASSERT_TRUE(admin_->deleteGroup(group).ok());
  loadgen(source, 2, 5000, 0, 4);  // more history arrives while the group is gone

  auto second = startWorker(source, output, group);
  waitAssigned(*second);
  waitCaughtUp(group, source, second.get());
  stop(*second);
  EXPECT_NE(second->log().find("resuming at"), std::string::npos) << second->log();
  auto expected = expectedOutput(source);
  auto actual = testing::readTopic(output);
  for (int p = 0; p < 2; ++p) {
    EXPECT_GT(actual[p].size(), 5000u);
    ASSERT_EQ(actual[p].size(), expected[p].size()) << "partition " << p;
    EXPECT_TRUE(actual[p] == expected[p]) << "partition " << p;
  }
}

TEST_F(WorkerIT, SameOutputWhateverBatchSizeOrReplicaCount) {
  auto source = testing::uniqueName("src");
  loadgen(source, 4, 40000, 0, 9);
  auto runOnce = [&](const std::string& name, std::vector<std::vector<std::string>> replicas) {
    auto output = testing::uniqueName(name), group = testing::uniqueName("g-" + name);
    std::vector<std::unique_ptr<ChildProcess>> workers;
    for (size_t i = 0; i < replicas.size(); ++i) {
      auto args = replicas[i];
      args.push_back("--replica-id");
      args.push_back(std::to_string(i));
      workers.push_back(startWorker(source, output, group, args));
    }
    for (auto& w : workers) waitAssigned(*w);
    waitCaughtUp(group, source, workers[0].get());
    for (auto& w : workers) stop(*w);
    return testing::readTopic(output);
  };
  auto one = runOnce("tiny", {{"--max-batch", "7", "--commit-interval-ms", "5"}});
  auto big = runOnce("big", {{"--max-batch", "50000", "--commit-interval-ms", "1000"}});
  auto two = runOnce("two", {{"--max-batch", "100"}, {"--max-batch", "3000"}});
  for (int p = 0; p < 4; ++p) {
    EXPECT_GT(one[p].size(), 1000u);
    EXPECT_TRUE(one[p] == big[p]) << "partition " << p;
    EXPECT_TRUE(one[p] == two[p]) << "partition " << p;
  }
}

// While records are queued behind the batch in hand (a replay) the worker commits at the
// replay interval; once it has caught up it commits at the (short) commit interval. With a
// 50 s replay interval, a replay that commits at all within 45 s did so because it caught
// up, and new records after that are committed at the commit interval. The replay is small
// (20k records) so that it ends well within that even in a sanitizer build.
TEST_F(WorkerIT, ReplaysInLargeTransactionsAndCommitsOnceCaughtUp) {
  auto source = testing::uniqueName("src"), output = testing::uniqueName("out");
  auto group = testing::uniqueName("g");
  loadgen(source, 2, 20000, 0, 11);
  auto worker = startWorker(
      source, output, group,
      {"--max-batch", "100", "--commit-interval-ms", "1", "--replay-commit-interval-ms", "50000"});
  waitAssigned(*worker);
  auto started = std::chrono::steady_clock::now();
  waitCaughtUp(group, source, worker.get(), 45s);
  auto replayed = std::chrono::steady_clock::now();
  loadgen(source, 2, 200, 0, 12);  // live traffic after the replay
  waitCaughtUp(group, source, worker.get(), 45s);
  stop(*worker);
  // 200 batches of 100 records: with the 1 ms commit interval alone that would be one
  // transaction per batch. A commit may still come early when the prefetch queue runs dry
  // for a moment; a handful at most.
  std::smatch m;
  std::string log = worker->log();
  ASSERT_TRUE(std::regex_search(log, m, std::regex(R"(in 20200 out \d+ .* txns (\d+))"))) << log;
  int txns = std::stoi(m[1]);
  auto replayMs = std::chrono::duration_cast<std::chrono::milliseconds>(replayed - started).count();
  EXPECT_LE(txns, 20) << "replay took " << replayMs << " ms\n" << log;
  EXPECT_GE(txns, 2) << log;  // the replay, then the live records
  auto expected = expectedOutput(source);
  auto actual = testing::readTopic(output);
  for (int p = 0; p < 2; ++p) {
    ASSERT_EQ(actual[p].size(), expected[p].size()) << "partition " << p;
    EXPECT_TRUE(actual[p] == expected[p]) << "partition " << p;
  }
}

TEST_F(WorkerIT, KillNineAtRandomMomentsLosesAndDuplicatesNothing) {
  int64_t events = 1'000'000;
  if (const char* n = std::getenv("KAPPA_CRASH_TEST_EVENTS")) events = std::stoll(n);
  auto source = testing::uniqueName("src");
  loadgen(source, 3, events, 5000, 3);

  auto cleanOut = testing::uniqueName("clean"), cleanGroup = testing::uniqueName("g-clean");
  auto clean = startWorker(source, cleanOut, cleanGroup);
  waitAssigned(*clean);
  waitCaughtUp(cleanGroup, source, clean.get(), 900s);
  stop(*clean);

  auto crashOut = testing::uniqueName("crash"), crashGroup = testing::uniqueName("g-crash");
  std::mt19937 rng(::testing::UnitTest::GetInstance()->random_seed());
  int kills = 0;
  kafka::LagMonitor monitor(*admin_);
  for (; kills < 10; ++kills) {
    auto w = startWorker(source, crashOut, crashGroup);
    waitAssigned(*w);
    std::this_thread::sleep_for(std::chrono::milliseconds(50 + rng() % 550));
    ASSERT_TRUE(w->running()) << w->log();
    auto before = monitor.sample(crashGroup, source, std::chrono::system_clock::now());
    w->signal(SIGKILL);
    ASSERT_TRUE(before.ok());
    // Each kill must land during the replay, not after it.
    ASSERT_GT(before->totalLag, 0) << "replay finished before kill " << kills + 1;
    ASSERT_TRUE(w->wait(10s).has_value());
  }
  auto last = startWorker(source, crashOut, crashGroup);
  waitAssigned(*last);
  waitCaughtUp(crashGroup, source, last.get(), 900s);
  stop(*last);

  auto a = testing::readTopic(cleanOut), b = testing::readTopic(crashOut);
  size_t total = 0;
  for (int p = 0; p < 3; ++p) {
    ASSERT_EQ(a[p].size(), b[p].size()) << "partition " << p;
    EXPECT_TRUE(a[p] == b[p]) << "partition " << p;
    total += a[p].size();
  }
  EXPECT_GT(total, static_cast<size_t>(events / 2));
  RecordProperty("kills", kills);
}

// emit: onClose. The worker keeps its open windows in the state changelog, restores from it
// after each kill -9, and writes each closed window to the output once: the output equals the
// engine's record for record, and the changelog keeps the engine's open windows.
TEST_F(WorkerIT, OnCloseRestoresFromTheChangelogAndWritesEachWindowOnce) {
  const char* program = R"(
keyField: user_id
timestampField: timestamp_ms
filter: [{field: event_type, op: in, values: [view, add_to_cart, purchase]}]
window: {type: session, gapSeconds: 30, allowedLatenessSeconds: 2, emit: onClose}
aggregates:
  - {name: views, op: count, where: {field: event_type, equals: view}}
  - {name: revenue, op: sum, field: price}
)";
  auto programFile = ::testing::TempDir() + testing::uniqueName("onclose") + ".yaml";
  std::ofstream(programFile) << program;
  auto source = testing::uniqueName("src");
  loadgen(source, 2, 300'000, 0, 9);
  auto output = testing::uniqueName("onclose"), group = testing::uniqueName("g-onclose");
  std::mt19937 rng(::testing::UnitTest::GetInstance()->random_seed());
  kafka::LagMonitor monitor(*admin_);
  int kills = 0;
  for (; kills < 3; ++kills) {
    auto w =
        startWorker(source, output, group,
                    {"--max-batch", "2000", "--replay-commit-interval-ms", "200"}, programFile);
    waitAssigned(*w);
    // Killed after this run has committed, at a random moment of a later transaction: the
    // next run restores what it committed.
    auto committed = monitor.sample(group, source, std::chrono::system_clock::now());
    ASSERT_TRUE(committed.ok());
    for (auto at = committed->consumed; committed.ok() && committed->consumed == at;) {
      ASSERT_TRUE(w->running()) << w->log();
      std::this_thread::sleep_for(20ms);
      committed = monitor.sample(group, source, std::chrono::system_clock::now());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 200));
    ASSERT_TRUE(w->running()) << w->log();
    auto before = monitor.sample(group, source, std::chrono::system_clock::now());
    w->signal(SIGKILL);
    ASSERT_TRUE(before.ok());
    ASSERT_GT(before->totalLag, 0) << "replay finished before kill " << kills + 1;
    ASSERT_TRUE(w->wait(10s).has_value());
  }
  auto last = startWorker(source, output, group, {}, programFile);
  waitAssigned(*last);
  waitCaughtUp(group, source, last.get());
  EXPECT_NE(last->log().find("changelog records in"), std::string::npos) << last->log();
  stop(*last);

  Output state;
  auto expected = expectedOutput(source, program, &state);
  auto got = testing::readTopic(output), gotState = testing::readTopic(output + ".state");
  // What a compacted topic keeps: each key's latest value, the tombstoned ones gone.
  auto compacted = [](const std::vector<TopicRecord>& records) {
    std::map<std::string, std::string> latest;
    for (const auto& r : records) {
      if (r.value) {
        latest[r.key] = *r.value;
      } else {
        latest.erase(r.key);
      }
    }
    return latest;
  };
  size_t windows = 0, open = 0, changelog = 0;
  for (int p = 0; p < 2; ++p) {
    ASSERT_EQ(got[p].size(), expected[p].size()) << "partition " << p;
    EXPECT_TRUE(got[p] == expected[p]) << "partition " << p;
    EXPECT_EQ(compacted(gotState[p]), compacted(state[p])) << "changelog partition " << p;
    windows += got[p].size();
    open += compacted(state[p]).size();
    changelog += gotState[p].size();
  }
  EXPECT_GT(windows, 100u);
  EXPECT_GT(open, 0u);
  // Written once per transaction, not once per event.
  EXPECT_LT(changelog, 300'000u / 4);
  RecordProperty("changelog_records", static_cast<int>(changelog));
  RecordProperty("kills", kills);
}

}  // namespace
}  // namespace kappa::worker
