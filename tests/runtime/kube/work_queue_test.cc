// WorkQueue: deduplication, two lanes, one worker per key, rate-limited requeue, forget/done,
// shutdown.
#include "runtime/kube/work_queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>
#include <vector>

#include "tests/support/fakes/clock.h"

namespace kappa::kube {
namespace {

using namespace std::chrono_literals;

TEST(WorkQueue, DeduplicatesQueuedKeys) {
  WorkQueue q;
  q.add("a");
  q.add("b");
  q.add("a");
  EXPECT_EQ(q.len(), 2u);
  EXPECT_EQ(q.get(), "a");
  EXPECT_EQ(q.get(), "b");
  EXPECT_EQ(q.getFor(0ms), std::nullopt);
}

TEST(WorkQueue, KeyAddedWhileProcessingIsQueuedAgainAtDone) {
  WorkQueue q;
  q.add("a");
  auto k = q.get();
  ASSERT_EQ(k, "a");
  q.add("a");  // changed while a worker holds it
  q.add("a");
  EXPECT_EQ(q.len(), 0u);  // not handed to a second worker
  EXPECT_EQ(q.getFor(0ms), std::nullopt);
  q.done("a");
  EXPECT_EQ(q.len(), 1u);  // once, however often it was added
  EXPECT_EQ(q.get(), "a");
  q.done("a");
  EXPECT_EQ(q.getFor(0ms), std::nullopt);
}

TEST(WorkQueue, BackgroundKeysWaitBehindFirstLaneKeys) {
  testing::FakeClock clock;
  WorkQueue q(5ms, 1000s, clock);
  q.addBackground("s1");
  q.addBackground("s2");
  q.addBackground("c");
  q.add("c");  // moved to the first lane, handed out once
  q.add("d");
  q.addBackground("d");  // stays in the first lane
  EXPECT_EQ(q.len(), 4u);
  EXPECT_EQ(q.get(), "c");
  EXPECT_EQ(q.get(), "d");
  EXPECT_EQ(q.get(), "s1");

  // Added while processing: queued again at done(), in the lane it was last raised to.
  q.addBackground("c");
  q.addBackground("d");
  q.add("d");
  q.done("c");
  q.done("d");
  EXPECT_EQ(q.get(), "d");
  EXPECT_EQ(q.get(), "s2");
  EXPECT_EQ(q.get(), "c");
  for (const char* k : {"d", "s1", "s2", "c"}) q.done(k);
  EXPECT_EQ(q.getFor(0ms), std::nullopt);

  // A delay that falls due lands in the first lane.
  q.addBackground("s");
  q.addAfter("t", 10ms);
  clock.advance(20ms);
  EXPECT_EQ(q.get(), "t");
  EXPECT_EQ(q.get(), "s");
}

TEST(WorkQueue, RateLimitedRequeueBacksOffExponentiallyUntilForget) {
  testing::FakeClock clock;
  WorkQueue q(10ms, 80ms, clock);
  EXPECT_EQ(q.nextDelay("k"), 10ms);
  q.addRateLimited("k");
  EXPECT_EQ(q.numRequeues("k"), 1);
  EXPECT_EQ(q.nextDelay("k"), 20ms);
  q.addRateLimited("k");  // deduplicated with the pending one (earliest wins)
  q.addRateLimited("k");
  EXPECT_EQ(q.numRequeues("k"), 3);
  EXPECT_EQ(q.nextDelay("k"), 80ms);
  q.addRateLimited("k");
  EXPECT_EQ(q.nextDelay("k"), 80ms);  // capped

  EXPECT_EQ(q.len(), 0u);
  clock.advance(9ms);
  EXPECT_EQ(q.getFor(0ms), std::nullopt);  // due after the first backoff, 10 ms
  clock.advance(1ms);
  EXPECT_EQ(q.getFor(0ms), "k");
  q.done("k");
  clock.advance(150ms);
  EXPECT_EQ(q.getFor(0ms), std::nullopt);  // only one copy was pending

  q.forget("k");
  EXPECT_EQ(q.numRequeues("k"), 0);
  EXPECT_EQ(q.nextDelay("k"), 10ms);
}

TEST(WorkQueue, AddAfterDelaysAndEarliestWins) {
  testing::FakeClock clock;
  WorkQueue q(5ms, 1000s, clock);
  q.addAfter("late", 300ms);
  q.addAfter("soon", 30ms);
  q.addAfter("late", 60ms);  // earlier than the pending 300 ms
  clock.advance(29ms);
  EXPECT_EQ(q.getFor(0ms), std::nullopt);
  clock.advance(1ms);
  EXPECT_EQ(q.getFor(0ms), "soon");
  clock.advance(29ms);
  EXPECT_EQ(q.getFor(0ms), std::nullopt);
  clock.advance(1ms);
  EXPECT_EQ(q.getFor(0ms), "late");
}

TEST(WorkQueue, ShutDownDrainsThenStopsWorkers) {
  WorkQueue q;
  q.add("x");
  std::atomic<int> stopped{0};
  std::vector<std::thread> workers;
  q.shutDown();
  EXPECT_EQ(q.get(), "x");  // what was queued is still handed out
  for (int i = 0; i < 3; ++i) {
    workers.emplace_back([&] {
      if (!q.get()) stopped++;
    });
  }
  for (auto& w : workers) w.join();
  EXPECT_EQ(stopped, 3);
  q.add("y");  // ignored after shutdown
  EXPECT_EQ(q.len(), 0u);
  EXPECT_TRUE(q.shuttingDown());
}

TEST(WorkQueue, ShutDownWakesBlockedWorkers) {
  WorkQueue q;
  std::thread w([&] { EXPECT_EQ(q.get(), std::nullopt); });
  while (q.idleWorkers() == 0) std::this_thread::yield();  // blocked in get()
  q.shutDown();
  w.join();
}

TEST(WorkQueue, ConcurrentWorkersNeverShareAKey) {
  WorkQueue q;
  std::mutex mu;
  std::set<std::string> inFlight;
  std::atomic<bool> overlap{false};
  std::atomic<int> processed{0};
  std::vector<std::thread> workers;
  for (int i = 0; i < 4; ++i) {
    workers.emplace_back([&] {
      while (auto k = q.get()) {
        {
          std::lock_guard lock(mu);
          if (!inFlight.insert(*k).second) overlap = true;
        }
        std::this_thread::yield();
        {
          std::lock_guard lock(mu);
          inFlight.erase(*k);
        }
        processed++;
        q.done(*k);
      }
    });
  }
  for (int round = 0; round < 200; ++round) q.add("key-" + std::to_string(round % 5));
  q.shutDown();  // the workers take what is queued, then stop
  for (auto& w : workers) w.join();
  EXPECT_FALSE(overlap);
  EXPECT_GE(processed, 5);
}

}  // namespace
}  // namespace kappa::kube
