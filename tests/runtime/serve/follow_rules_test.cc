#include "runtime/serve/follow_rules.h"

#include <gtest/gtest.h>

namespace kappa::serve {
namespace {

using std::chrono::milliseconds;

TEST(Covers, EveryPartitionOfTheCurrentViewAtOrPastItsPosition) {
  EXPECT_TRUE(covers({{0, 10}, {1, 5}}, {{0, 10}, {1, 4}}));
  EXPECT_TRUE(covers({{0, 10}, {1, 5}, {2, 1}}, {{0, 3}}));
  EXPECT_FALSE(covers({{0, 10}, {1, 3}}, {{0, 10}, {1, 4}}));
  EXPECT_FALSE(covers({{0, 10}}, {{0, 10}, {1, 0}}));  // a partition it has not reached
  EXPECT_TRUE(covers({}, {}));
  EXPECT_TRUE(covers({{0, 1}}, {}));  // an empty current view is covered by anything
}

SwapInputs aligned() {
  SwapInputs in;
  in.current = {{0, 100}, {1, 100}};
  in.candidate = {{0, 100}, {1, 120}};
  in.candidateAtEnd = true;
  in.alignTimeout = milliseconds(1000);
  return in;
}

TEST(DecideSwap, AlignedAndAtEndSwaps) { EXPECT_EQ(decideSwap(aligned()), SwapDecision::Swap); }

TEST(DecideSwap, NeverBeforeTheNewViewHasReadItsTopicToTheEnd) {
  auto in = aligned();
  in.candidateAtEnd = false;
  EXPECT_EQ(decideSwap(in), SwapDecision::Wait);
  in.waited = milliseconds(5000);  // not even past the timeout
  EXPECT_EQ(decideSwap(in), SwapDecision::Wait);
}

TEST(DecideSwap, BehindOnOnePartitionWaitsUntilTheTimeout) {
  auto in = aligned();
  in.candidate[1] = 99;
  EXPECT_EQ(decideSwap(in), SwapDecision::Wait);
  in.waited = milliseconds(999);
  EXPECT_EQ(decideSwap(in), SwapDecision::Wait);
  in.waited = milliseconds(1000);
  EXPECT_EQ(decideSwap(in), SwapDecision::SwapUnaligned);
}

TEST(DecideSwap, WithoutPositionsSwapsAtTheEnd) {
  auto in = aligned();
  in.candidate.clear();
  in.headers = false;
  EXPECT_EQ(decideSwap(in), SwapDecision::Swap);
  in.candidateAtEnd = false;
  EXPECT_EQ(decideSwap(in), SwapDecision::Wait);
}

TEST(DecideSwap, FirstViewNeedsOnlyItsEnd) {
  SwapInputs in;
  in.candidate = {{0, 3}};
  EXPECT_EQ(decideSwap(in), SwapDecision::Wait);
  in.candidateAtEnd = true;
  EXPECT_EQ(decideSwap(in), SwapDecision::Swap);
}

TEST(SwitchCursor, DeliversOnlyPastWhatTheOldTopicDelivered) {
  SwitchCursor c({{0, 10}, {1, -1}});
  EXPECT_FALSE(c.deliver(0, 3));
  EXPECT_FALSE(c.deliver(0, 10));
  EXPECT_TRUE(c.deliver(0, 11));
  EXPECT_TRUE(c.deliver(1, 0));
  EXPECT_TRUE(c.deliver(2, 0));  // a partition the old topic delivered nothing from
}

}  // namespace
}  // namespace kappa::serve
