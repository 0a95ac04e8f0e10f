// Comparisons in the background: a run's result comes back by object key, a run for the same
// requestedAt is not started twice, and finished threads are joined instead of kept.
#include "controllers/pipelineversion/validation_runs.h"

#include <gtest/gtest.h>

#include <latch>
#include <semaphore>
#include <set>
#include <thread>

#include "tests/support/fakes/clock.h"

namespace kappa::controllers {
namespace {

// Answers each compare() once the test releases it.
class GatedComparator : public kafka::OutputComparator {
 public:
  std::counting_semaphore<16> release{0};
  std::atomic<int> calls{0};
  Result<kafka::ComparisonResult> compare(const std::string&, const std::string&,
                                          const kafka::ComparePolicy& policy,
                                          kafka::CompareProgress* progress) override {
    if (progress) {
      progress->recordsToRead = 1000;
      progress->recordsRead = 250;
    }
    ++calls;
    release.acquire();
    kafka::ComparisonResult r;
    r.sampledKeys = policy.sampleKeys;
    r.comparedKeys = policy.sampleKeys;
    return r;
  }
};

RunValidation request(int64_t at) {
  RunValidation r;
  r.requestedAt = TimePoint{std::chrono::seconds(at)};
  r.servingTopic = "sessions.v1";
  r.candidateTopic = "sessions.v2";
  r.sampleKeys = 100;
  return r;
}

TEST(ValidationRuns, ARunningComparisonShowsHowFarItHasRead) {
  std::counting_semaphore<16> done{0};
  ValidationRuns runs([&](const std::string&) { done.release(); });
  auto comparator = std::make_shared<GatedComparator>();
  runs.start("team-a/sessions-v2", request(1), comparator);
  while (comparator->calls.load() == 0) std::this_thread::yield();
  auto running = runs.get("team-a/sessions-v2");
  ASSERT_TRUE(running.has_value());
  EXPECT_FALSE(running->done);
  EXPECT_EQ(running->recordsRead, 250);
  EXPECT_EQ(running->recordsToRead, 1000);
  comparator->release.release();
  done.acquire();
  auto finished = runs.get("team-a/sessions-v2");
  ASSERT_TRUE(finished && finished->done);
  EXPECT_EQ(finished->recordsToRead, 0);  // a finished run has its result instead
}

TEST(ValidationRuns, ResultsComeBackAndFinishedThreadsAreJoined) {
  std::counting_semaphore<16> done{0};
  testing::FakeClock clock;
  ValidationRuns runs([&](const std::string&) { done.release(); }, clock);
  auto comparator = std::make_shared<GatedComparator>();

  runs.start("team-a/sessions-v2", request(1), comparator);
  runs.start("team-a/sessions-v2", request(1), comparator);  // the same run: not again
  EXPECT_EQ(runs.threads(), 1u);
  ASSERT_TRUE(runs.get("team-a/sessions-v2").has_value());
  EXPECT_FALSE(runs.get("team-a/sessions-v2")->done);
  comparator->release.release();
  done.acquire();
  auto run = runs.get("team-a/sessions-v2");
  ASSERT_TRUE(run && run->done && run->result);
  EXPECT_EQ(run->result->sampledKeys, 100);
  EXPECT_EQ(run->finishedAt, clock.now());  // decide() reruns an inconclusive one after it
  EXPECT_EQ(comparator->calls, 1);

  // Many more runs, one after another: only the running one is left each time.
  for (int i = 0; i < 20; ++i) {
    runs.start("team-a/sessions-v" + std::to_string(i + 3), request(2), comparator);
    EXPECT_LE(runs.threads(), 2u);  // this one, and the last one if it has not quite ended
    comparator->release.release();
    done.acquire();
  }
  runs.start("team-a/sessions-v99", request(3), comparator);
  EXPECT_LE(runs.threads(), 2u);
  comparator->release.release();
  done.acquire();
}

// Records which topics it compared; `written` names the taps that hold records.
class RecordingComparator : public kafka::OutputComparator {
 public:
  std::set<std::string> written_;
  int64_t tapKeys = 100;  // keys the taps hold
  std::pair<std::string, std::string> compared;
  Result<kafka::ComparisonResult> compare(const std::string& serving, const std::string& candidate,
                                          const kafka::ComparePolicy& policy,
                                          kafka::CompareProgress*) override {
    compared = {serving, candidate};
    kafka::ComparisonResult r;
    r.sampledKeys = serving.ends_with(".tap") ? std::min<int64_t>(tapKeys, policy.sampleKeys)
                                              : policy.sampleKeys;
    return r;
  }
  Result<bool> written(const std::string& topic) override { return written_.contains(topic); }
};

std::pair<std::string, std::string> comparedWith(std::set<std::string> written, bool taps = true,
                                                 int64_t tapKeys = 100) {
  std::counting_semaphore<16> done{0};
  ValidationRuns runs([&](const std::string&) { done.release(); });
  auto comparator = std::make_shared<RecordingComparator>();
  comparator->written_ = std::move(written);
  comparator->tapKeys = tapKeys;
  RunValidation r = request(1);
  if (taps) {
    r.servingTap = "sessions.v1.tap";
    r.candidateTap = "sessions.v2.tap";
  }
  runs.start("team-a/sessions-v2", r, comparator);
  done.acquire();
  auto run = runs.get("team-a/sessions-v2");
  EXPECT_TRUE(run && run->result);
  std::string source = run && run->result ? run->result->source : "";
  EXPECT_EQ(source, comparator->compared.first.ends_with(".tap") ? "Tap" : "Output");
  return comparator->compared;
}

TEST(ValidationRuns, ReadsTheTapsWhenBothWereWrittenElseTheOutputs) {
  using Topics = std::pair<std::string, std::string>;
  Topics outputs{"sessions.v1", "sessions.v2"}, taps{"sessions.v1.tap", "sessions.v2.tap"};
  EXPECT_EQ(comparedWith({"sessions.v1.tap", "sessions.v2.tap"}), taps);
  // A processor that writes no tap leaves its tap empty: the whole outputs, then.
  EXPECT_EQ(comparedWith({"sessions.v1.tap"}), outputs);
  EXPECT_EQ(comparedWith({"sessions.v2.tap"}), outputs);
  // No taps named (rates differ, or a version has none).
  EXPECT_EQ(comparedWith({"sessions.v1.tap", "sessions.v2.tap"}, false), outputs);
  // Taps with 40 keys for a sample of 100 (request() asks for 100): the outputs.
  EXPECT_EQ(comparedWith({"sessions.v1.tap", "sessions.v2.tap"}, true, 40), outputs);
}

}  // namespace
}  // namespace kappa::controllers
