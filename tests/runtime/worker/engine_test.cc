// Golden tests of the worker engine: known inputs, hand-computed outputs.
#include "runtime/worker/engine.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

namespace kappa::worker {
namespace {

struct Collector : Emitter {
  std::vector<std::string> records;
  std::vector<std::string> state;  // the state changelog (emit: onClose)
  static std::string format(int32_t partition, std::string_view key, const std::string* value,
                            int64_t offset, int64_t watermark) {
    std::string r = "p" + std::to_string(partition) + "@" + std::to_string(offset) + " " +
                    std::string(key) + " " + (value ? *value : std::string("<tombstone>"));
    if (watermark != INT64_MIN) r += " wm=" + std::to_string(watermark);
    return r;
  }
  void emit(int32_t partition, std::string_view key, const std::string* value, int64_t offset,
            int64_t watermark) override {
    records.push_back(format(partition, key, value, offset, watermark));
  }
  void emitState(int32_t partition, std::string_view key, const std::string* value, int64_t offset,
                 int64_t watermark) override {
    state.push_back(format(partition, key, value, offset, watermark));
  }
};

class Harness {
 public:
  explicit Harness(const std::string& programText) {
    auto p = parseProgram(programText);
    EXPECT_TRUE(p.ok()) << p.error();
    program_ = std::make_unique<Program>(*p);
    parser_ = std::make_unique<EventParser>(*program_);
    engine_ = std::make_unique<Engine>(*program_);
  }
  ProcessResult feed(int32_t partition, int64_t offset, const std::string& json) {
    auto err = parser_->parse(json.data(), json.size());
    if (!err.empty()) return {Outcome::kInvalid, err};
    return engine_->process(partition, offset, *parser_, out);
  }
  std::vector<std::string> take() { return std::exchange(out.records, {}); }
  // The changelog records a flush (the worker's, before each commit) writes now.
  std::vector<std::string> flushState() {
    engine_->flushState(out);
    return std::exchange(out.state, {});
  }
  Engine& engine() { return *engine_; }
  Collector out;

 private:
  std::unique_ptr<Program> program_;
  std::unique_ptr<EventParser> parser_;
  std::unique_ptr<Engine> engine_;
};

using Records = std::vector<std::string>;

TEST(Engine, RunningAggregatesWithFilterAndWhere) {
  Harness run(R"(
keyField: user
timestampField: ts
filter: [{field: type, op: in, values: [view, buy]}]
aggregates:
  - {name: views, op: count, where: {field: type, equals: view}}
  - {name: revenue, op: sum, field: price}
  - {name: low, op: min, field: price}
  - {name: high, op: max, field: price}
)");
  EXPECT_EQ(run.feed(0, 0, R"({"user":"a","type":"view","ts":1000})").outcome, Outcome::kEmitted);
  EXPECT_EQ(run.feed(0, 1, R"({"user":"a","type":"buy","price":12.5,"ts":2000})").outcome,
            Outcome::kEmitted);
  EXPECT_EQ(run.feed(0, 2, R"({"user":"a","type":"click","ts":3000})").outcome, Outcome::kFiltered);
  EXPECT_EQ(run.feed(0, 3, R"({"user":"b","type":"buy","price":3,"ts":1500})").outcome,
            Outcome::kEmitted);
  EXPECT_EQ(run.feed(0, 4, R"({"user":"a","type":"buy","price":2.25,"ts":2500})").outcome,
            Outcome::kEmitted);
  EXPECT_EQ(run.take(),
            (Records{
                R"(p0@0 a {"key":"a","views":1,"revenue":0,"low":null,"high":null} wm=1000)",
                R"(p0@1 a {"key":"a","views":1,"revenue":12.5,"low":12.5,"high":12.5} wm=2000)",
                R"(p0@3 b {"key":"b","views":0,"revenue":3,"low":3,"high":3} wm=2000)",
                R"(p0@4 a {"key":"a","views":1,"revenue":14.75,"low":2.25,"high":12.5} wm=2500)",
            }));
}

TEST(Engine, IntegerKeysAndEscapedStrings) {
  Harness run("keyField: id\naggregates: [{name: n, op: count}]");
  run.feed(0, 0, R"({"id":42})");
  run.feed(0, 1, R"({"id":"x\"y\\z\n"})");
  EXPECT_EQ(run.take(), (Records{R"(p0@0 42 {"key":"42","n":1})",
                                 "p0@1 x\"y\\z\n {\"key\":\"x\\\"y\\\\z\\n\",\"n\":1}"}));
}

TEST(Engine, TumblingWindowsWithLateness) {
  Harness run(R"(
keyField: k
timestampField: t
window: {type: tumbling, sizeSeconds: 10, allowedLatenessSeconds: 5}
aggregates: [{name: n, op: count}, {name: s, op: sum, field: v}]
)");
  run.feed(0, 0, R"({"k":"a","t":1000,"v":1})");   // [0,10s)
  run.feed(0, 1, R"({"k":"a","t":12000,"v":2})");  // [10s,20s), watermark 12s
  run.feed(0, 2, R"({"k":"a","t":9000,"v":4})");   // late but within lateness (10+5 > 12)
  run.feed(0, 3, R"({"k":"a","t":16000,"v":8})");  // watermark 16s: [0,10s) closes at 15s
  auto late = run.feed(0, 4, R"({"k":"a","t":3000,"v":100})");
  EXPECT_EQ(late.outcome, Outcome::kLate);
  EXPECT_EQ(run.engine().lateDropped(), 1u);
  run.feed(0, 5, R"({"k":"a","t":-5000,"v":1})");  // negative times floor correctly; late too
  EXPECT_EQ(
      run.take(),
      (Records{
          R"(p0@0 a@0 {"key":"a","window_start":0,"window_end":10000,"n":1,"s":1} wm=1000)",
          R"(p0@1 a@10000 {"key":"a","window_start":10000,"window_end":20000,"n":1,"s":2} wm=12000)",
          R"(p0@2 a@0 {"key":"a","window_start":0,"window_end":10000,"n":2,"s":5} wm=12000)",
          R"(p0@3 a@10000 {"key":"a","window_start":10000,"window_end":20000,"n":2,"s":10} wm=16000)",
      }));
  EXPECT_EQ(run.engine().lateDropped(), 2u);
}

TEST(Engine, TumblingNegativeTimestampFloors) {
  Harness run(
      "keyField: k\ntimestampField: t\nwindow: {type: tumbling, sizeSeconds: 10}\n"
      "aggregates: [{name: n, op: count}]");
  run.feed(0, 0, R"({"k":"a","t":-1})");
  EXPECT_EQ(
      run.take(),
      (Records{R"(p0@0 a@-10000 {"key":"a","window_start":-10000,"window_end":0,"n":1} wm=-1)"}));
}

TEST(Engine, SessionsMergeAndTombstoneTheAbsorbedWindow) {
  Harness run(R"(
keyField: k
timestampField: t
window: {type: session, gapSeconds: 10, allowedLatenessSeconds: 60}
aggregates: [{name: n, op: count}, {name: top, op: max, field: v}]
)");
  run.feed(0, 0, R"({"k":"a","t":0,"v":1})");      // session [0,10s)
  run.feed(0, 1, R"({"k":"a","t":24000,"v":5})");  // separate [24s,34s)
  run.feed(0, 2, R"({"k":"a","t":5000,"v":2})");   // extends the first: [0,15s)
  run.feed(0, 3, R"({"k":"a","t":14500,"v":3})");  // within the gap of both: bridges them
  EXPECT_EQ(
      run.take(),
      (Records{
          R"(p0@0 a@0 {"key":"a","window_start":0,"window_end":10000,"n":1,"top":1} wm=0)",
          R"(p0@1 a@24000 {"key":"a","window_start":24000,"window_end":34000,"n":1,"top":5} wm=24000)",
          R"(p0@2 a@0 {"key":"a","window_start":0,"window_end":15000,"n":2,"top":2} wm=24000)",
          R"(p0@3 a@24000 <tombstone> wm=24000)",
          R"(p0@3 a@0 {"key":"a","window_start":0,"window_end":34000,"n":4,"top":5} wm=24000)",
      }));
}

TEST(Engine, SessionLateEventsJoinOpenSessionsOnly) {
  Harness run(R"(
keyField: k
timestampField: t
window: {type: session, gapSeconds: 10, allowedLatenessSeconds: 0}
aggregates: [{name: n, op: count}]
)");
  run.feed(0, 0, R"({"k":"a","t":100000})");  // [100s,110s)
  run.feed(0, 1, R"({"k":"b","t":200000})");  // watermark 200s: a's session is closed
  // Alone, [95s,105s) is closed, and the session it overlaps is closed too: dropped.
  EXPECT_EQ(run.feed(0, 2, R"({"k":"a","t":95000})").outcome, Outcome::kLate);
  // b at 195s: its own window [195s,205s) is open; it joins b's session.
  EXPECT_EQ(run.feed(0, 3, R"({"k":"b","t":195000})").outcome, Outcome::kEmitted);
  // b at 186s: alone [186s,196s) is closed (196 <= 200), but it overlaps b's open session.
  EXPECT_EQ(run.feed(0, 4, R"({"k":"b","t":186000})").outcome, Outcome::kEmitted);
  EXPECT_EQ(
      run.take(),
      (Records{
          R"(p0@0 a@100000 {"key":"a","window_start":100000,"window_end":110000,"n":1} wm=100000)",
          R"(p0@1 b@200000 {"key":"b","window_start":200000,"window_end":210000,"n":1} wm=200000)",
          R"(p0@3 b@200000 <tombstone> wm=200000)",
          R"(p0@3 b@195000 {"key":"b","window_start":195000,"window_end":210000,"n":2} wm=200000)",
          R"(p0@4 b@195000 <tombstone> wm=200000)",
          R"(p0@4 b@186000 {"key":"b","window_start":186000,"window_end":210000,"n":3} wm=200000)",
      }));
  EXPECT_EQ(run.engine().lateDropped(), 1u);
}

TEST(Engine, InvalidEventsChangeNothing) {
  Harness run(R"(
keyField: user
timestampField: ts
aggregates: [{name: revenue, op: sum, field: price}]
)");
  EXPECT_EQ(run.feed(0, 0, R"({"user":"a","ts":1,"price":1})").outcome, Outcome::kEmitted);
  struct Case {
    const char* json;
    const char* error;
  } cases[] = {
      {R"({"user":"a","ts":1,"price":1)", "bad JSON"},
      {R"(not json)", "bad JSON"},
      {R"([1,2])", "bad JSON: not an object"},
      {R"()", "empty event"},
      {R"({"ts":1,"price":1})", "missing key field"},
      {R"({"user":null,"ts":1})", "missing key field"},
      {R"({"user":1.5,"ts":1})", "key field is not a string or integer"},
      {R"({"user":{"id":1},"ts":1})", "key field is not a string or integer"},
      {R"({"user":"a","price":1})", "missing timestamp field"},
      {R"({"user":"a","ts":"yesterday"})", "timestamp field is not an integer (epoch ms)"},
      {R"({"user":"a","ts":1.5})", "timestamp field is not an integer (epoch ms)"},
      {R"({"user":"a","ts":2,"price":"12"})", "aggregate field is not a number"},
  };
  for (const auto& c : cases) {
    auto r = run.feed(0, 1, c.json);
    EXPECT_EQ(r.outcome, Outcome::kInvalid) << c.json;
    EXPECT_NE(std::string(r.error).find(c.error), std::string::npos) << c.json << " -> " << r.error;
  }
  run.feed(0, 2, R"({"user":"a","ts":3,"price":2})");
  auto r = run.take();
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[1], R"(p0@2 a {"key":"a","revenue":3} wm=3)");
}

// A deterministic pseudo-random clickstream over a few keys, times jittering backwards.
std::vector<std::string> clickstream(int n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::string> events;
  int64_t t = 1'700'000'000'000;
  const char* types[] = {"view", "view", "add_to_cart", "purchase", "click"};
  for (int i = 0; i < n; ++i) {
    t += rng() % 40000;
    int64_t jitter = static_cast<int64_t>(rng() % 90000);
    events.push_back("{\"user\":\"u" + std::to_string(rng() % 7) + "\",\"type\":\"" +
                     types[rng() % 5] + "\",\"price\":" + std::to_string(rng() % 1000) + "." +
                     std::to_string(rng() % 100) + ",\"ts\":" + std::to_string(t - jitter) + "}");
  }
  return events;
}

const char* kSessionProgram = R"(
keyField: user
timestampField: ts
filter: [{field: type, op: ne, value: click}]
window: {type: session, gapSeconds: 60, allowedLatenessSeconds: 30}
aggregates:
  - {name: views, op: count, where: {field: type, equals: view}}
  - {name: revenue, op: sum, field: price}
  - {name: low, op: min, field: price}
)";

TEST(Engine, RestoreFromOutputResumesExactly) {
  auto events = clickstream(3000, 7);
  Harness clean(kSessionProgram);
  for (size_t i = 0; i < events.size(); ++i) clean.feed(0, static_cast<int64_t>(i), events[i]);
  auto expected = clean.take();

  // Crash at several points: rebuild from the output so far, continue from the next offset.
  for (size_t cut : {1ul, 17ul, 500ul, 1999ul, 2999ul}) {
    Harness first(kSessionProgram);
    for (size_t i = 0; i < cut; ++i) first.feed(0, static_cast<int64_t>(i), events[i]);
    auto before = first.take();

    Harness second(kSessionProgram);
    // Replay the output log into the new engine the way the worker reads it back.
    Collector replayed;
    for (const auto& rec : before) {
      // "p0@<offset> <key> <value> wm=<w>"
      auto sp1 = rec.find(' ');
      auto wm = rec.rfind(" wm=");
      auto rest = rec.substr(sp1 + 1, wm - sp1 - 1);
      auto sp2 = rest.find(' ');
      std::string key = rest.substr(0, sp2);
      std::string value = rest.substr(sp2 + 1);
      std::optional<std::string_view> v;
      if (value != "<tombstone>") v = value;
      auto ok = second.engine().restore(0, key, v, std::stoll(rec.substr(wm + 4)));
      ASSERT_TRUE(ok.ok()) << ok.error();
    }
    for (size_t i = cut; i < events.size(); ++i) second.feed(0, static_cast<int64_t>(i), events[i]);
    auto after = second.take();
    before.insert(before.end(), after.begin(), after.end());
    EXPECT_EQ(before, expected) << "cut at " << cut;
  }
}

TEST(Engine, PartitionsAreIndependentOfInterleaving) {
  auto a = clickstream(800, 1), b = clickstream(800, 2);
  Harness sequential(kSessionProgram), interleaved(kSessionProgram);
  for (size_t i = 0; i < a.size(); ++i) sequential.feed(0, static_cast<int64_t>(i), a[i]);
  for (size_t i = 0; i < b.size(); ++i) sequential.feed(1, static_cast<int64_t>(i), b[i]);
  std::mt19937 rng(3);
  size_t i = 0, j = 0;
  while (i < a.size() || j < b.size()) {
    if (j == b.size() || (i < a.size() && rng() % 2)) {
      interleaved.feed(0, static_cast<int64_t>(i), a[i]);
      ++i;
    } else {
      interleaved.feed(1, static_cast<int64_t>(j), b[j]);
      ++j;
    }
  }
  auto s = sequential.take(), t = interleaved.take();
  auto byPartition = [](const Records& r, const std::string& p) {
    Records out;
    for (const auto& x : r) {
      if (x.rfind(p, 0) == 0) out.push_back(x);
    }
    return out;
  };
  EXPECT_EQ(byPartition(s, "p0@"), byPartition(t, "p0@"));
  EXPECT_EQ(byPartition(s, "p1@"), byPartition(t, "p1@"));
  EXPECT_GT(byPartition(s, "p1@").size(), 100u);
}

// ----- emit: onClose --------------------------------------------------------------------------

TEST(Engine, OnCloseTumblingWritesEachWindowOnceWhenTheWatermarkPassesIt) {
  Harness run(R"(
keyField: k
timestampField: t
window: {type: tumbling, sizeSeconds: 10, allowedLatenessSeconds: 5, emit: onClose}
aggregates: [{name: n, op: count}]
)");
  run.feed(0, 0, R"({"k":"a","t":1000})");
  run.feed(0, 1, R"({"k":"a","t":3000})");
  run.feed(0, 2, R"({"k":"b","t":12000})");  // watermark 12s: [0,10s) closes at 15s
  EXPECT_EQ(run.take(), Records{});          // nothing final yet
  // The changelog gets each changed window once per flush, with its latest value.
  EXPECT_EQ(
      run.flushState(),
      (Records{
          R"(p0@2 a@0 {"key":"a","window_start":0,"window_end":10000,"n":2} wm=12000)",
          R"(p0@2 b@10000 {"key":"b","window_start":10000,"window_end":20000,"n":1} wm=12000)",
      }));
  // Within the lateness: still counted in [0,10s).
  EXPECT_EQ(run.feed(0, 3, R"({"k":"a","t":9000})").outcome, Outcome::kEmitted);
  run.feed(0, 4, R"({"k":"b","t":16000})");  // watermark 16s: a's [0,10s) is final
  EXPECT_EQ(run.feed(0, 5, R"({"k":"a","t":4000})").outcome, Outcome::kLate);
  run.feed(0, 6, R"({"k":"c","t":31000})");  // watermark 31s: b's [10s,20s) is final
  EXPECT_EQ(
      run.take(),
      (Records{
          R"(p0@4 a@0 {"key":"a","window_start":0,"window_end":10000,"n":3} wm=16000)",
          R"(p0@6 b@10000 {"key":"b","window_start":10000,"window_end":20000,"n":2} wm=31000)",
      }));
  // Closed windows leave the changelog.
  EXPECT_EQ(
      run.flushState(),
      (Records{
          R"(p0@6 a@0 <tombstone> wm=31000)",
          R"(p0@6 b@10000 <tombstone> wm=31000)",
          R"(p0@6 c@30000 {"key":"c","window_start":30000,"window_end":40000,"n":1} wm=31000)",
      }));
  EXPECT_EQ(run.flushState(), Records{});      // nothing changed since
  EXPECT_EQ(run.engine().stateEntries(), 1u);  // c's open window only
}

TEST(Engine, OnCloseSessionsWriteOneRecordPerMergedSession) {
  Harness run(R"(
keyField: k
timestampField: t
window: {type: session, gapSeconds: 10, allowedLatenessSeconds: 30, emit: onClose}
aggregates: [{name: n, op: count}]
)");
  run.feed(0, 0, R"({"k":"a","t":0})");      // [0,10s)
  run.feed(0, 1, R"({"k":"a","t":20000})");  // [20s,30s)
  run.feed(0, 2, R"({"k":"a","t":15000})");  // [15s,25s) joins the second: [15s,30s)
  run.feed(0, 3, R"({"k":"a","t":8000})");   // [8s,18s) bridges both: [0,30s)
  run.feed(0, 4, R"({"k":"b","t":59000})");  // watermark 59s: [0,30s) closes at 60s
  EXPECT_EQ(run.take(), Records{});
  run.feed(0, 5, R"({"k":"b","t":60000})");  // watermark 60s: a's session is final
  EXPECT_EQ(run.take(),
            (Records{
                R"(p0@5 a@0 {"key":"a","window_start":0,"window_end":30000,"n":4} wm=60000)",
            }));
  // The absorbed sessions and the closed one leave the changelog; b's session is open.
  EXPECT_EQ(
      run.flushState(),
      (Records{
          R"(p0@5 a@0 <tombstone> wm=60000)",
          R"(p0@5 a@15000 <tombstone> wm=60000)",
          R"(p0@5 a@20000 <tombstone> wm=60000)",
          R"(p0@5 b@59000 {"key":"b","window_start":59000,"window_end":70000,"n":2} wm=60000)",
      }));
}

// Feeds `records` ("p<P>@<offset> <key> <value|<tombstone>> wm=<w>") to `engine` the way the
// worker reads a topic back: no watermark per record, the last record's at the end.
void restoreFrom(Engine& engine, const Records& records) {
  for (const auto& rec : records) {
    auto sp1 = rec.find(' ');
    auto wm = rec.rfind(" wm=");
    auto rest = rec.substr(sp1 + 1, wm - sp1 - 1);
    auto sp2 = rest.find(' ');
    std::string value = rest.substr(sp2 + 1);
    std::optional<std::string_view> v;
    if (value != "<tombstone>") v = value;
    auto ok = engine.restore(0, rest.substr(0, sp2), v, std::nullopt);
    ASSERT_TRUE(ok.ok()) << ok.error();
  }
  if (!records.empty()) {
    engine.restoreWatermark(0, std::stoll(records.back().substr(records.back().rfind(" wm=") + 4)));
  }
}

// What a compacted changelog keeps: each record key's latest value, without the tombstoned.
std::map<std::string, std::string> compacted(const Records& records) {
  std::map<std::string, std::string> latest;
  for (const auto& rec : records) {
    auto sp1 = rec.find(' ');
    auto wm = rec.rfind(" wm=");
    auto rest = rec.substr(sp1 + 1, wm - sp1 - 1);
    auto sp2 = rest.find(' ');
    std::string key = rest.substr(0, sp2), value = rest.substr(sp2 + 1);
    if (value == "<tombstone>") {
      latest.erase(key);
    } else {
      latest[key] = value;
    }
  }
  return latest;
}

TEST(Engine, OnCloseRestoredFromTheChangelogAtAnyCutEqualsAnUninterruptedRun) {
  for (const char* window : {"{type: session, gapSeconds: 60, allowedLatenessSeconds: 0, "
                             "emit: onClose}",
                             "{type: tumbling, sizeSeconds: 600, allowedLatenessSeconds: 10, "
                             "emit: onClose}"}) {
    std::string program = std::string(R"(
keyField: user
timestampField: ts
filter: [{field: type, op: ne, value: click}]
window: )") + window + R"(
aggregates:
  - {name: views, op: count, where: {field: type, equals: view}}
  - {name: revenue, op: sum, field: price}
)";
    auto events = clickstream(3000, 5);
    Harness clean(program);
    size_t late = 0;
    Records expectedState;
    for (size_t i = 0; i < events.size(); ++i) {
      late += clean.feed(0, static_cast<int64_t>(i), events[i]).outcome == Outcome::kLate;
      if (i % 10 == 9) {  // a transaction every 10 events
        auto flushed = clean.flushState();
        expectedState.insert(expectedState.end(), flushed.begin(), flushed.end());
      }
    }
    auto expected = clean.take();
    // The stream has late events within and beyond the lateness, and many windows.
    EXPECT_GT(late, 10u) << window;
    EXPECT_GT(expected.size(), 100u) << window;
    for (size_t cut : {1ul, 17ul, 500ul, 1999ul, 2999ul}) {
      // A worker that committed every 7 events up to `cut` (the flush before each commit and
      // at the cut), then was restarted from its changelog.
      Harness first(program);
      Records beforeState;
      for (size_t i = 0; i < cut; ++i) {
        first.feed(0, static_cast<int64_t>(i), events[i]);
        if (i % 7 == 6 || i + 1 == cut) {
          auto flushed = first.flushState();
          beforeState.insert(beforeState.end(), flushed.begin(), flushed.end());
        }
      }
      auto before = first.take();
      Harness second(program);
      restoreFrom(second.engine(), beforeState);
      EXPECT_EQ(second.engine().stateEntries(), first.engine().stateEntries()) << cut;
      for (size_t i = cut; i < events.size(); ++i) {
        second.feed(0, static_cast<int64_t>(i), events[i]);
      }
      auto after = second.take();
      before.insert(before.end(), after.begin(), after.end());
      EXPECT_EQ(before, expected) << window << " cut at " << cut;
      // The changelogs differ in their records (other flush points), not in what they keep.
      auto afterState = second.flushState();
      beforeState.insert(beforeState.end(), afterState.begin(), afterState.end());
      auto tail = clean.flushState();
      expectedState.insert(expectedState.end(), tail.begin(), tail.end());
      EXPECT_EQ(compacted(beforeState), compacted(expectedState)) << window << " cut at " << cut;
    }
  }
}

// ----- pass-through programs (a cleaning tier): select, dedup ----------------------------------

TEST(Engine, PassThroughWritesTheSelectedFieldsOfEachEvent) {
  Harness run(R"(
keyField: user
timestampField: ts
filter: [{field: type, op: ne, value: click}]
select: [{field: user, as: user_id}, {field: type}, {field: price}, {field: ts, as: at}]
)");
  EXPECT_EQ(run.feed(0, 0, R"({"user":"a","type":"view","ts":1000,"extra":[1]})").outcome,
            Outcome::kEmitted);
  EXPECT_EQ(run.feed(0, 1, R"({"user":"b","type":"buy","price":12.5,"ts":900})").outcome,
            Outcome::kEmitted);
  EXPECT_EQ(run.feed(0, 2, R"({"user":"a","type":"click","ts":3000})").outcome, Outcome::kFiltered);
  EXPECT_EQ(run.feed(0, 3, R"({"user":7,"type":"q\"uote","price":3,"ts":2000})").outcome,
            Outcome::kEmitted);
  // A selected field that is an object cannot be written: dead-lettered, nothing changes.
  auto bad = run.feed(0, 4, R"({"user":"a","type":{"x":1},"ts":9000})");
  EXPECT_EQ(bad.outcome, Outcome::kInvalid);
  EXPECT_EQ(bad.error, "selected field is an object or an array");
  EXPECT_EQ(run.take(),
            (Records{
                R"(p0@0 a {"user_id":"a","type":"view","price":null,"at":1000} wm=1000)",
                R"(p0@1 b {"user_id":"b","type":"buy","price":12.5,"at":900} wm=1000)",
                R"(p0@3 7 {"user_id":7,"type":"q\"uote","price":3,"at":2000} wm=2000)",
            }));
  EXPECT_EQ(run.engine().watermark(0), 2000);  // the invalid event moved nothing
}

const char* kDedupProgram = R"(
keyField: user
timestampField: ts
select: [{field: id, as: event_id}, {field: user}, {field: ts}]
dedup: {field: id, horizonSeconds: 60}
)";

TEST(Engine, DedupDropsAnIdSeenWithinTheHorizonOnly) {
  Harness run(kDedupProgram);
  auto feed = [&](int64_t offset, const std::string& id, int64_t ts) {
    return run
        .feed(0, offset, R"({"id":")" + id + R"(","user":"a","ts":)" + std::to_string(ts) + "}")
        .outcome;
  };
  EXPECT_EQ(feed(0, "e1", 1000), Outcome::kEmitted);
  EXPECT_EQ(feed(1, "e1", 1000), Outcome::kDuplicate);  // the same event again
  EXPECT_EQ(feed(2, "e2", 30000), Outcome::kEmitted);
  EXPECT_EQ(feed(3, "e1", 50000), Outcome::kDuplicate);  // 1000 >= 30000 - 60000
  EXPECT_EQ(feed(4, "e3", 61000), Outcome::kEmitted);    // watermark 61000
  EXPECT_EQ(feed(5, "e1", 61000), Outcome::kDuplicate);  // 1000 >= 61000 - 60000: still in it
  EXPECT_EQ(feed(5, "e4", 61001), Outcome::kEmitted);    // watermark 61001
  EXPECT_EQ(feed(5, "e1", 61500), Outcome::kEmitted);    // 1000 < 61001 - 60000: past it
  EXPECT_EQ(feed(6, "e2", 5000), Outcome::kDuplicate);   // 30000 >= 61500 - 60000
  // An integer id is an id too; a missing one is an invalid event.
  EXPECT_EQ(run.feed(0, 7, R"({"id":42,"user":"b","ts":62000})").outcome, Outcome::kEmitted);
  EXPECT_EQ(run.feed(0, 8, R"({"id":42,"user":"b","ts":62001})").outcome, Outcome::kDuplicate);
  EXPECT_EQ(run.feed(0, 9, R"({"user":"b","ts":62002})").outcome, Outcome::kInvalid);
  auto r = run.take();
  ASSERT_EQ(r.size(), 6u);
  EXPECT_EQ(r[0], R"(p0@0 a {"event_id":"e1","user":"a","ts":1000} wm=1000)");
  EXPECT_EQ(r[4], R"(p0@5 a {"event_id":"e1","user":"a","ts":61500} wm=61500)");
  EXPECT_EQ(r[5], R"(p0@7 b {"event_id":42,"user":"b","ts":62000} wm=62000)");
}

// Events with ids that repeat: mostly a few events later, sometimes much later.
std::vector<std::string> withRepeats(int n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::string> events;
  int64_t t = 1'700'000'000'000;
  for (int i = 0; i < n; ++i) {
    t += rng() % 20000;
    int64_t jitter = static_cast<int64_t>(rng() % 50000);
    int id = i - static_cast<int>(rng() % 3 == 0 ? rng() % (i % 50 == 0 ? 400 : 6) : 0);
    events.push_back("{\"id\":\"e" + std::to_string(std::max(id, 0)) + "\",\"user\":\"u" +
                     std::to_string(rng() % 7) + "\",\"ts\":" + std::to_string(t - jitter) + "}");
  }
  return events;
}

TEST(Engine, DedupRestoredAtAnyCutEqualsAnUninterruptedRun) {
  auto events = withRepeats(3000, 11);
  Harness clean(kDedupProgram);
  size_t duplicates = 0;
  for (size_t i = 0; i < events.size(); ++i) {
    duplicates += clean.feed(0, static_cast<int64_t>(i), events[i]).outcome == Outcome::kDuplicate;
  }
  auto expected = clean.take();
  EXPECT_GT(duplicates, 300u);  // the stream has repeats within and beyond the horizon
  for (size_t cut : {1ul, 17ul, 500ul, 1999ul, 2999ul}) {
    Harness first(kDedupProgram);
    for (size_t i = 0; i < cut; ++i) first.feed(0, static_cast<int64_t>(i), events[i]);
    auto before = first.take();
    Harness second(kDedupProgram);
    restoreFrom(second.engine(), before);
    // The restore kept the ids within the horizon only, not every id it read (the events
    // span hours, the horizon a minute).
    if (before.size() > 100) {
      EXPECT_LT(second.engine().stateEntries(), before.size() / 10);
    }
    for (size_t i = cut; i < events.size(); ++i) second.feed(0, static_cast<int64_t>(i), events[i]);
    auto after = second.take();
    before.insert(before.end(), after.begin(), after.end());
    EXPECT_EQ(before, expected) << "cut at " << cut;
  }
}

TEST(Engine, DedupRestoreRefusesAnOutputWithoutTheId) {
  Harness run(kDedupProgram);
  auto r = run.engine().restore(0, "a", std::string_view(R"({"user":"a","ts":5})"), std::nullopt);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("lacks the dedup id 'event_id'"), std::string::npos);
}

}  // namespace
}  // namespace kappa::worker
