// Stragglers: partitions of a replay that read far more slowly than the others, so that the
// whole replay waits for them (a hot key, a slow replica, a worker pod that stopped).
//
// The rule looks at a window of lag samples, never at one, so a single slow poll raises
// nothing. A partition is a straggler when, over the whole window:
//   - it was behind (lag > 0) in every sample, and so was at least one other partition;
//     partitions that caught up read at the live rate, which says nothing about the replay;
//   - it read fewer than `slowRatio` times the median rate of those others, and that median
//     is at least `minPeerRate` records/s (when every partition crawls, the replay is
//     stalled as a whole: that is the total lag's alert, not a straggler).
// A partition that made no progress while the others did is the extreme case (rate 0).
// Rates are records/s of the group's committed position over the window.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <ostream>
#include <vector>

#include "runtime/kafka/lag_monitor.h"

namespace kappa::kafka {

struct StragglerRule {
  std::chrono::seconds window{60};
  double slowRatio = 0.25;
  double minPeerRate = 1.0;
  bool operator==(const StragglerRule&) const = default;
};

struct Straggler {
  int32_t partition = 0;
  int64_t lag = 0;                   // at the newest sample
  double messagesPerSecond = 0;      // over the window
  double peerMessagesPerSecond = 0;  // the median of the other lagging partitions' rates
  bool operator==(const Straggler&) const = default;
};

// The lag samples of one group on one topic over the last window (and the newest sample
// older than it, so that the samples span the window once it has passed).
class ProgressWindow {
 public:
  explicit ProgressWindow(StragglerRule rule = {}) : rule_(rule) {}

  // Adds a sample; one at or before the newest (a clock step back) starts afresh.
  void add(const LagSnapshot& snap);
  // The stragglers by the rule, in partition order. nullopt (no verdict) until at least three
  // samples span the whole window.
  std::optional<std::vector<Straggler>> stragglers() const;
  const StragglerRule& rule() const { return rule_; }
  size_t size() const { return samples_.size(); }

 private:
  // What the rule reads of a partition in one sample (a fraction of PartitionLag's size:
  // a window holds some 30 samples of every partition).
  struct Position {
    int32_t partition = 0;
    int64_t position = 0;  // effectivePosition()
    int64_t lag = 0;
  };
  struct Sample {
    WallTime at;
    std::vector<Position> partitions;
  };
  StragglerRule rule_;
  std::deque<Sample> samples_;
};

std::ostream& operator<<(std::ostream& os, const Straggler& s);

}  // namespace kappa::kafka
