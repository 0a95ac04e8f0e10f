// Event aggregation: repeats within the window update the series of one Event.
#include "runtime/kube/event_recorder.h"

#include <gtest/gtest.h>

#include "tests/support/fakes/clock.h"
#include "tests/support/fakes/kube_api.h"

namespace kappa::kube {
namespace {

using namespace std::chrono_literals;
using TimePoint = std::chrono::system_clock::time_point;

const Json kRegarding = {{"apiVersion", "kappa.io/v1alpha1"},
                         {"kind", "PipelineVersion"},
                         {"metadata", {{"name", "v2"}, {"namespace", "ns"}, {"uid", "u-1"}}}};

TEST(EventAggregator, CountsRepeatsWithinTheWindow) {
  EventAggregator agg(60s);
  TimePoint t0{std::chrono::seconds(1000)};
  EXPECT_EQ(agg.observe("k", t0), std::nullopt);
  agg.created("k", "ns", "v2.1", t0);
  EXPECT_EQ(agg.observe("k", t0 + 10s), (EventAggregator::Series{"ns", "v2.1", 2}));
  // The window runs from the last occurrence.
  EXPECT_EQ(agg.observe("k", t0 + 65s), (EventAggregator::Series{"ns", "v2.1", 3}));
  EXPECT_EQ(agg.observe("other", t0 + 65s), std::nullopt);
  // Silent for longer than the window: a new Event.
  EXPECT_EQ(agg.observe("k", t0 + 200s), std::nullopt);
  EXPECT_EQ(agg.size(), 0u);
}

TEST(EventAggregator, BoundedLeastRecentlySeenFirst) {
  EventAggregator agg(60s, 2);
  TimePoint t0{std::chrono::seconds(1000)};
  agg.created("a", "ns", "a.1", t0);
  agg.created("b", "ns", "b.1", t0);
  ASSERT_TRUE(agg.observe("a", t0 + 1s));  // a is now the most recent
  agg.created("c", "ns", "c.1", t0 + 2s);  // evicts b
  EXPECT_EQ(agg.size(), 2u);
  EXPECT_TRUE(agg.observe("a", t0 + 3s));
  EXPECT_FALSE(agg.observe("b", t0 + 3s));
  EXPECT_TRUE(agg.observe("c", t0 + 3s));
}

TEST(EventAggregator, KeysSilentForLongerThanTheWindowGoWhenAnotherIsCreated) {
  EventAggregator agg(60s);
  TimePoint t0{std::chrono::seconds(1000)};
  for (int i = 0; i < 100; ++i) agg.created("old-" + std::to_string(i), "ns", "o", t0);
  agg.created("recent", "ns", "r.1", t0 + 30s);
  EXPECT_EQ(agg.size(), 101u);  // all within the window
  agg.created("new", "ns", "n.1", t0 + 61s);
  EXPECT_EQ(agg.size(), 2u);  // the hundred silent since t0 are gone, not kept to the bound
  EXPECT_TRUE(agg.observe("recent", t0 + 62s));
}

TEST(EventKey, DistinguishesReasonNoteTypeAndObject) {
  auto base = eventKey(kRegarding, EventType::kNormal, "Promoted", "Promote", "v2 serves");
  EXPECT_EQ(base, eventKey(kRegarding, EventType::kNormal, "Promoted", "Promote", "v2 serves"));
  EXPECT_NE(base, eventKey(kRegarding, EventType::kWarning, "Promoted", "Promote", "v2 serves"));
  EXPECT_NE(base, eventKey(kRegarding, EventType::kNormal, "Other", "Promote", "v2 serves"));
  EXPECT_NE(base, eventKey(kRegarding, EventType::kNormal, "Promoted", "Promote", "v3"));
  Json other = kRegarding;
  other["metadata"]["uid"] = "u-2";
  EXPECT_NE(base, eventKey(other, EventType::kNormal, "Promoted", "Promote", "v2 serves"));
}

TEST(KubeEventRecorder, CreatesOnceThenUpdatesTheSeries) {
  testing::FakeKubeApi api;
  testing::FakeClock clock;
  KubeEventRecorder rec(api, "kappa.io/operator", "pod-1", 600s, clock);

  auto first = rec.recordEvent(kRegarding, EventType::kWarning, "ValidationFailed", "Validate",
                               "3 of 5000 keys differ");
  ASSERT_TRUE(first.ok()) << first.error();
  EXPECT_EQ((*first)["reason"], "ValidationFailed");
  EXPECT_EQ((*first)["type"], "Warning");
  EXPECT_EQ((*first)["reportingController"], "kappa.io/operator");
  EXPECT_EQ((*first)["regarding"]["uid"], "u-1");
  EXPECT_EQ((*first)["metadata"]["namespace"], "ns");
  EXPECT_EQ((*first)["eventTime"], "2027-01-15T08:00:00.000000Z");

  for (int i = 0; i < 3; ++i) {
    clock.advance(5s);
    auto again = rec.recordEvent(kRegarding, EventType::kWarning, "ValidationFailed", "Validate",
                                 "3 of 5000 keys differ");
    ASSERT_TRUE(again.ok()) << again.error();
    EXPECT_EQ((*again)["series"]["count"], i + 2);
    EXPECT_EQ(nameOf(*again), nameOf(*first));
  }
  EXPECT_EQ(api.calls("create"), 1);
  EXPECT_EQ(api.calls("patch"), 3);
  auto list = api.list({resources::events(), "ns"}, {});
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->items.size(), 1u);
  EXPECT_EQ(list->items[0]["series"]["count"], 4);
  EXPECT_EQ(list->items[0]["series"]["lastObservedTime"], "2027-01-15T08:00:15.000000Z");

  // A different note is a different Event.
  ASSERT_TRUE(rec.recordEvent(kRegarding, EventType::kWarning, "ValidationFailed", "Validate",
                              "4 of 5000 keys differ")
                  .ok());
  EXPECT_EQ(api.calls("create"), 2);
}

// A long note is cut, and a character cut in two or bytes that are not UTF-8 (a record's
// value in a mismatch example) become U+FFFD: the body is always valid JSON.
TEST(KubeEventRecorder, NotesAreCutAndAlwaysValidUtf8) {
  testing::FakeKubeApi api;
  testing::FakeClock clock;
  KubeEventRecorder rec(api, "kappa.io/operator", "pod-1", 600s, clock);
  std::string euros;
  for (int i = 0; i < 600; ++i) euros += "\u20ac";  // 3 bytes each: cut in the middle of one
  auto r = rec.recordEvent(kRegarding, EventType::kWarning, "ValidationMismatch", "Validate",
                           "e.g. key u1 (price: " + euros + ")");
  ASSERT_TRUE(r.ok()) << r.error();
  std::string note = (*r)["note"];
  EXPECT_LE(note.size(), 1024u);
  EXPECT_TRUE(note.ends_with("...")) << note.substr(note.size() - 10);
  EXPECT_NO_THROW((void)r->dump());
  clock.advance(1s);  // Event names are made of the time
  auto binary = rec.recordEvent(kRegarding, EventType::kWarning, "ValidationMismatch", "Validate",
                                std::string("value \xff\xfe end"));
  ASSERT_TRUE(binary.ok()) << binary.error();
  EXPECT_EQ((*binary)["note"], "value \ufffd\ufffd end");
}

TEST(KubeEventRecorder, StartsANewEventWhenTheOldOneExpired) {
  testing::FakeKubeApi api;
  KubeEventRecorder rec(api, "kappa.io/operator", "pod-1");
  auto first = rec.recordEvent(kRegarding, EventType::kNormal, "Promoted", "Promote", "x");
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(api.remove({resources::events(), "ns", nameOf(*first), {}}).ok());  // TTL
  auto second = rec.recordEvent(kRegarding, EventType::kNormal, "Promoted", "Promote", "x");
  ASSERT_TRUE(second.ok()) << second.error();
  EXPECT_FALSE(second->contains("series"));
  EXPECT_EQ(api.calls("create"), 2);
}

}  // namespace
}  // namespace kappa::kube
