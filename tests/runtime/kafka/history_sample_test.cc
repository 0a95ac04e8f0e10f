// The offsets a preflight samples from each partition.
#include "runtime/kafka/history_sample.h"

#include <gtest/gtest.h>

#include "tests/support/fakes/kafka_admin.h"

namespace kappa::kafka {
namespace {

using Offsets = std::vector<int64_t>;

TEST(SampleTargets, FirstMiddleLastAndEvenlySpaced) {
  auto t = sampleTargets({{0, 0}}, {{0, 101}}, 3);  // offsets 0..100
  EXPECT_EQ(t.at(0), (Offsets{0, 25, 50, 75, 100}));
}

TEST(SampleTargets, StartsAtTheLogStartOffset) {
  auto t = sampleTargets({{0, 1000}}, {{0, 1011}}, 1);  // 1000..1010
  EXPECT_EQ(t.at(0), (Offsets{1000, 1005, 1010}));      // the spread's middle is the middle
}

TEST(SampleTargets, ShortPartitionsAreReadWhole) {
  auto t = sampleTargets({{0, 5}, {1, 0}}, {{0, 9}, {1, 1}}, 2);
  EXPECT_EQ(t.at(0), (Offsets{5, 6, 7, 8}));  // 4 records <= 2 + 3
  EXPECT_EQ(t.at(1), (Offsets{0}));
}

TEST(SampleTargets, EmptyPartitionsAreLeftOut) {
  auto t = sampleTargets({{0, 7}, {1, 0}, {2, 3}}, {{0, 7}, {1, 10}}, 0);
  EXPECT_FALSE(t.count(0));                // start == end
  EXPECT_FALSE(t.count(2));                // no end offset
  EXPECT_EQ(t.at(1), (Offsets{0, 4, 9}));  // spread 0: first, middle, last
}

TEST(SampleTargets, HugeOffsetsDoNotOverflow) {
  const int64_t start = int64_t{1} << 62;
  auto t = sampleTargets({{0, start}}, {{0, start + (int64_t{1} << 61) + 1}}, 1);
  const Offsets& o = t.at(0);
  ASSERT_EQ(o.size(), 3u);  // the spread's one lands on the middle
  EXPECT_EQ(o.front(), start);
  EXPECT_EQ(o[1], start + (int64_t{1} << 60));
  EXPECT_EQ(o.back(), start + (int64_t{1} << 61));
}

TEST(SampleHistory, ReadsTheTargetsOfEachPartitionThroughThePort) {
  testing::FakeKafkaAdmin admin;
  admin.earliest["src"] = {{0, 0}, {1, 0}};
  admin.end["src"] = {{0, 10}, {1, 0}};
  for (int64_t o = 0; o < 10; ++o) {
    admin.records["src"][0][o] = SampledRecord{0, o, "k", "v" + std::to_string(o)};
  }
  auto r = sampleHistory(admin, "src", 1);
  ASSERT_TRUE(r.ok()) << r.error();
  ASSERT_EQ(admin.sampleRequests.size(), 1u);
  EXPECT_EQ(admin.sampleRequests[0], (SampleTargets{{0, {0, 4, 9}}}));
  ASSERT_EQ(r->records.size(), 3u);
  EXPECT_EQ(r->records[1].value, "v4");
  EXPECT_EQ(r->sizes, (PartitionOffsets{{0, 10}}));  // the empty partition has none
}

TEST(SampleHistory, ErrorsOfThePortAreReturned) {
  testing::FakeKafkaAdmin admin;
  admin.failNext = Error{ErrorCode::kUnavailable, "broker down"};
  auto r = sampleHistory(admin, "src", 1);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
}

}  // namespace
}  // namespace kappa::kafka
