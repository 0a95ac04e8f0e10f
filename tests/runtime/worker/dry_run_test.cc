// The dry run of a program over sampled records.
#include "runtime/worker/dry_run.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace kappa::worker {
namespace {

Program program(const std::string& text) {
  auto p = parseProgram(text);
  EXPECT_TRUE(p.ok()) << p.error();
  return *p;
}

kafka::SampledRecord rec(int32_t partition, int64_t offset, std::optional<std::string> value) {
  return {partition, offset, "k", std::move(value)};
}

TEST(DryRun, CountsWhatTheWorkerWouldDeadLetterByReason) {
  Program p = program("keyField: user\naggregates: [{name: spent, op: sum, field: price}]");
  std::vector<kafka::SampledRecord> records;
  // 20 records on two partitions: 4 without the key, 2 not JSON, 1 null, 1 with a price
  // that is not a number; the others good, one of them filtered by nothing.
  for (int64_t o = 0; o < 10; ++o) {
    std::string v = R"({"user":"u)" + std::to_string(o) + R"(","price":2})";
    if (o % 5 == 1) v = R"({"price":2})";  // offsets 1, 6
    if (o == 3) v = R"({"user":)";
    records.push_back(rec(0, o, v));
  }
  for (int64_t o = 0; o < 10; ++o) {
    std::optional<std::string> v = R"({"user":"w","price":1.5})";
    if (o == 2 || o == 4) v = R"({"item":7})";
    if (o == 5) v = "{";
    if (o == 7) v = std::nullopt;
    if (o == 8) v = R"({"user":"w","price":"free"})";
    records.push_back(rec(1, o, v));
  }
  DryRunReport r = dryRun(p, records);
  EXPECT_EQ(r.sampled, 20);
  EXPECT_EQ(r.deadLettered, 8);
  EXPECT_DOUBLE_EQ(r.ratio, 0.4);  // no sizes: per sampled record
  ASSERT_EQ(r.reasons.size(), 4u) << r;
  EXPECT_EQ(r.reasons[0].reason, "missing key field");  // the most records first
  EXPECT_EQ(r.reasons[0].records, 4);
  ASSERT_EQ(r.reasons[0].examples.size(), kDryRunExamples);  // the first three
  EXPECT_EQ(r.reasons[0].examples[0], (DryRunExample{0, 1, R"({"price":2})"}));
  EXPECT_EQ(r.reasons[0].examples[2], (DryRunExample{1, 2, R"({"item":7})"}));
  EXPECT_EQ(r.reasons[1].reason, "bad JSON");
  EXPECT_EQ(r.reasons[1].records, 2);
  int64_t sum = 0;
  for (const auto& reason : r.reasons) sum += reason.records;
  EXPECT_EQ(sum, r.deadLettered);
  EXPECT_EQ(dryRunSummary(r),
            "8 of 20 sampled records (about 40.0% of the history): missing key field (4), "
            "bad JSON (2), aggregate field is not a number (1), empty event (1)");
}

TEST(DryRun, FilteredLateAndDuplicateRecordsAreNotDeadLettered) {
  Program p = program(R"(
keyField: id
timestampField: ts
filter: [{field: type, op: eq, value: buy}]
select: [{field: id, as: id}, {field: ts, as: ts}]
dedup: {field: id, horizonSeconds: 60}
)");
  DryRunReport r = dryRun(p, {rec(0, 0, R"({"id":1,"type":"buy","ts":1000})"),
                              rec(0, 1, R"({"id":1,"type":"buy","ts":1001})"),  // duplicate
                              rec(0, 2, R"({"id":2,"type":"view","ts":1002})")});
  EXPECT_EQ(r.sampled, 3);
  EXPECT_EQ(r.deadLettered, 0);
  EXPECT_TRUE(r.reasons.empty());
  EXPECT_EQ(dryRunSummary(r), "0 of 3 sampled records (about 0.0% of the history)");
}

TEST(DryRun, NothingSampledIsARatioOfZero) {
  DryRunReport r = dryRun(program("keyField: k\naggregates: [{name: n, op: count}]"), {});
  EXPECT_EQ(r.sampled, 0);
  EXPECT_EQ(r.ratio, 0.0);
}

// Every partition gives about as many samples whatever its size: the ratio weights each by
// its size, so a few bad records in a small partition do not stand for the history.
TEST(DryRun, TheRatioWeightsEachPartitionBySize) {
  Program p = program("keyField: k\naggregates: [{name: n, op: count}]");
  std::vector<kafka::SampledRecord> records;
  for (int64_t o = 0; o < 19; ++o) records.push_back(rec(0, o * 1000, R"({"k":1})"));
  for (int64_t o = 0; o < 5; ++o) records.push_back(rec(1, o, "{"));  // all five bad
  DryRunReport r = dryRun(p, records, {{0, 10'000'000}, {1, 5}});
  EXPECT_EQ(r.sampled, 24);
  EXPECT_EQ(r.deadLettered, 5);
  EXPECT_NEAR(r.ratio, 5.0 / 10'000'005, 1e-15);
  // And the other way: a large partition that is a tenth bad is not hidden by small clean ones.
  records.clear();
  for (int64_t o = 0; o < 10; ++o) records.push_back(rec(0, o, o == 3 ? "{" : R"({"k":1})"));
  for (int32_t q = 1; q <= 9; ++q) records.push_back(rec(q, 0, R"({"k":1})"));
  kafka::PartitionOffsets sizes{{0, 1'000'000}};
  for (int32_t q = 1; q <= 9; ++q) sizes[q] = 1;
  r = dryRun(p, records, sizes);
  EXPECT_NEAR(r.ratio, 100'000.0 / 1'000'009, 1e-12);
}

TEST(PrintableExample, KeepsUtf8EscapesOtherBytesAndCuts) {
  EXPECT_EQ(printableExample("caf\xC3\xA9"), "caf\xC3\xA9");
  EXPECT_EQ(printableExample(std::string("\x00\x01\xFFx", 4)), "\\x00\\x01\\xFFx");
  EXPECT_EQ(printableExample("\xC0\x80"), "\\xC0\\x80");  // overlong
  EXPECT_EQ(printableExample("\xE0\x80\x80"), "\\xE0\\x80\\x80");
  EXPECT_EQ(printableExample("\xF0\x80\x80\x80"), "\\xF0\\x80\\x80\\x80");
  EXPECT_EQ(printableExample("\xED\xA0\x80"), "\\xED\\xA0\\x80");           // a surrogate
  EXPECT_EQ(printableExample("\xF4\x90\x80\x80"), "\\xF4\\x90\\x80\\x80");  // > U+10FFFF
  EXPECT_EQ(printableExample("\xF5\x80\x80\x80"), "\\xF5\\x80\\x80\\x80");
  EXPECT_EQ(printableExample("\xE2\x82\xAC \xF0\x9F\x98\x80"), "\xE2\x82\xAC \xF0\x9F\x98\x80");
  // Whatever the bytes, the result is text a strict JSON encoder takes (status, Events).
  std::string all;
  for (int b = 0; b < 256; ++b) all += static_cast<char>(b);
  for (int b = 0x80; b < 256; ++b) all += std::string{static_cast<char>(b), '\x80', '\x80', '\x80'};
  EXPECT_NO_THROW((void)nlohmann::json(printableExample(all, 100000)).dump());
  EXPECT_EQ(printableExample("abcdef", 4), "abcd...");
  // A character that would not fit whole is left out, never split.
  EXPECT_EQ(printableExample("ab\xC3\xA9", 3), "ab...");
  EXPECT_EQ(printableExample(std::string(300, 'x')).size(), kDryRunExampleBytes + 3);
}

}  // namespace
}  // namespace kappa::worker
