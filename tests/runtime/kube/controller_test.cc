// The controller loop: each outcome of a pass maps onto the queue as its table says, and is
// counted under its result label.
#include "runtime/kube/controller.h"

#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <atomic>
#include <latch>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

namespace kappa::kube {
namespace {

using namespace std::chrono_literals;

double counted(prometheus::Registry& registry, const std::string& result) {
  for (const auto& family : registry.Collect()) {
    if (family.name != "kappa_operator_reconciles_total") continue;
    for (const auto& m : family.metric) {
      for (const auto& l : m.label) {
        if (l.name == "result" && l.value == result) return m.counter.value;
      }
    }
  }
  return -1;
}

class ControllerTest : public ::testing::Test {
 protected:
  // The outcome the next pass of each key returns.
  std::map<std::string, Outcome> next;
  std::vector<std::string> passes;
  WorkQueue queue{std::chrono::milliseconds(200), std::chrono::seconds(60)};
  prometheus::Registry registry;
  Controller controller{queue,
                        [this](const std::string& key) {
                          passes.push_back(key);
                          return next.at(key);
                        },
                        registry};
};

TEST_F(ControllerTest, NoKeyNoPass) {
  EXPECT_FALSE(controller.processNext(0ms));
  EXPECT_TRUE(passes.empty());
}

TEST_F(ControllerTest, DoneForgetsTheFailuresAndDoesNotRequeue) {
  next.insert_or_assign("a", Outcome::retry("broker down"));
  queue.add("a");
  ASSERT_TRUE(controller.processNext(0ms));
  EXPECT_EQ(queue.numRequeues("a"), 1);
  EXPECT_EQ(queue.len(), 0u);  // waits for its backoff

  next.insert_or_assign("a", Outcome::done());
  queue.add("a");
  ASSERT_TRUE(controller.processNext(0ms));
  EXPECT_EQ(queue.numRequeues("a"), 0);
  EXPECT_EQ(queue.len(), 0u);
  EXPECT_EQ(counted(registry, "retry"), 1);
  EXPECT_EQ(counted(registry, "done"), 1);
}

TEST_F(ControllerTest, RetryBacksOffExponentially) {
  next.insert_or_assign("a", Outcome::retry("broker down"));
  queue.add("a");
  ASSERT_TRUE(controller.processNext(0ms));
  EXPECT_EQ(queue.nextDelay("a"), 400ms);  // 200 ms went into this retry, 400 ms is next
  queue.add("a");
  ASSERT_TRUE(controller.processNext(0ms));
  EXPECT_EQ(queue.numRequeues("a"), 2);
  EXPECT_EQ(counted(registry, "retry"), 2);
}

TEST_F(ControllerTest, RequeueAtOnceIsReadyAgainWithNoBackoff) {
  next.insert_or_assign("a", Outcome::requeueAfter(0s, "status write conflict"));
  queue.add("a");
  ASSERT_TRUE(controller.processNext(0ms));
  EXPECT_EQ(queue.len(), 1u);
  EXPECT_EQ(queue.numRequeues("a"), 0);
  ASSERT_TRUE(controller.processNext(0ms));
  EXPECT_EQ(passes, (std::vector<std::string>{"a", "a"}));
  EXPECT_EQ(counted(registry, "requeue"), 2);
}

TEST_F(ControllerTest, RequeueLaterIsNotReadyNow) {
  next.insert_or_assign("a", Outcome::requeueAfter(30s));
  queue.add("a");
  ASSERT_TRUE(controller.processNext(0ms));
  EXPECT_EQ(queue.len(), 0u);
  EXPECT_FALSE(controller.processNext(0ms));
  EXPECT_EQ(counted(registry, "requeue"), 1);
}

TEST_F(ControllerTest, TerminalIsNeitherRetriedNorRequeued) {
  next.insert_or_assign("a", Outcome::retry("broker down"));
  queue.add("a");
  ASSERT_TRUE(controller.processNext(0ms));
  next.insert_or_assign("a", Outcome::terminal("invalid spec: replicas"));
  queue.add("a");
  ASSERT_TRUE(controller.processNext(0ms));
  EXPECT_EQ(queue.numRequeues("a"), 0);
  EXPECT_EQ(queue.len(), 0u);
  EXPECT_EQ(counted(registry, "terminal"), 1);
  // A change of the object queues it again.
  queue.add("a");
  EXPECT_TRUE(controller.processNext(0ms));
}

TEST_F(ControllerTest, OutcomesPrintTheirKindDelayAndMessage) {
  std::ostringstream os;
  os << Outcome::requeueAfter(5s, "sampling") << "|" << Outcome::retry("down") << "|"
     << Outcome::done();
  EXPECT_EQ(os.str(), "requeue(5s): sampling|retry: down|done");
}

TEST(Controller, RunPassesEveryKeyOnItsWorkersAndStopsOnTheToken) {
  WorkQueue queue;
  prometheus::Registry registry;
  std::mutex mu;
  std::set<std::string> seen;
  std::latch passes(50);
  ControllerOptions options;
  options.workers = 3;
  options.idlePoll = 10ms;
  Controller controller(
      queue,
      [&](const std::string& key) {
        {
          std::lock_guard lock(mu);
          seen.insert(key);
        }
        passes.count_down();
        return Outcome::done();
      },
      registry, options);
  for (int i = 0; i < 50; ++i) queue.add("ns/v" + std::to_string(i));
  std::stop_source stop;
  std::jthread runner([&] { controller.run(stop.get_token()); });
  passes.wait();
  stop.request_stop();
  runner.join();  // returns: every worker saw the token
  EXPECT_EQ(seen.size(), 50u);
  EXPECT_EQ(counted(registry, "done"), 50);
}

}  // namespace
}  // namespace kappa::kube
