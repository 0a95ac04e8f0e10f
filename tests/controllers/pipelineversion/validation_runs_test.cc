// Comparisons in the background: a run's result comes back by object key, a run for the same
// requestedAt is not started twice, and finished threads are joined instead of kept.
#include "controllers/pipelineversion/validation_runs.h"

#include <gtest/gtest.h>

#include <latch>
#include <semaphore>

namespace kappa::controllers {
namespace {

// Answers each compare() once the test releases it.
class GatedComparator : public kafka::OutputComparator {
 public:
  std::counting_semaphore<16> release{0};
  std::atomic<int> calls{0};
  Result<kafka::ComparisonResult> compare(const std::string&, const std::string&,
                                          const kafka::ComparePolicy& policy) override {
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

TEST(ValidationRuns, ResultsComeBackAndFinishedThreadsAreJoined) {
  std::counting_semaphore<16> done{0};
  ValidationRuns runs([&](const std::string&) { done.release(); });
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

}  // namespace
}  // namespace kappa::controllers
