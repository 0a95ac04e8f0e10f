// Consumer lag of a group on a topic, measured against the last stable offset, in messages
// and in seconds, and what the controller derives from successive samples: caught-up,
// throughput, progress and ETA.
//
// Exactly-once producers leave a commit marker after each transaction. A reader never sees
// it, so a group's committed offset can stay one below the end for good. For partitions
// whose offset lag is small, the monitor counts the records a read_committed reader would
// still get and reports that instead: markers and aborted records never count as lag.
//
// Lag in seconds. The monitor remembers the end offsets it observed (EndOffsetHistory). A
// partition whose position has reached the end observed at time s has processed everything
// that existed at s, so it is at most now - s behind: that is its lag in seconds, "observed".
// A position below every remembered end (the replay of history, or the first sample after a
// restart) gets an estimate instead: the age of the record at its position by that record's
// timestamp, never less than the age of the oldest observation. Only observed seconds can
// make a version caught up; estimates are for people and alerts.
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <optional>
#include <ostream>
#include <vector>

#include "runtime/kafka/kafka_admin.h"

namespace kappa::kafka {

using WallTime = std::chrono::system_clock::time_point;

struct PartitionLag {
  int32_t partition = 0;
  std::optional<int64_t> committed;  // absent: the group has not committed here
  int64_t earliest = 0;              // log start offset
  int64_t end = 0;                   // last stable offset
  int64_t offsetLag = 0;             // end - position, markers included
  int64_t lag = 0;                   // records still to read (markers excluded when probed)
  double lagSeconds = 0;             // how far behind, see the file comment
  bool lagSecondsObserved = true;    // false: an estimate (lag > 0 and no end reached)
  bool operator==(const PartitionLag&) const = default;
};

struct LagSnapshot {
  std::vector<PartitionLag> partitions;
  int64_t totalLag = 0;
  int32_t laggingPartitions = 0;  // partitions with lag > 0
  int64_t consumed = 0;           // sum over partitions of position - log start
  bool committedAny = false;
  WallTime sampledAt{};
  // The largest lag in seconds of any partition; observed when every partition's is.
  double lagSeconds = 0;
  bool lagSecondsObserved = true;
  bool operator==(const LagSnapshot&) const = default;
};

// The end offsets one monitor observed for one group's topic, oldest first. Holds at most
// `capacity` observations: when full, every second one of the older half is dropped, so
// recent observations stay dense and old ones thin out.
class EndOffsetHistory {
 public:
  explicit EndOffsetHistory(size_t capacity = 64) : capacity_(capacity < 4 ? 4 : capacity) {}

  // Adds an observation; one at or before the newest (a clock step back) starts afresh.
  void add(WallTime at, const PartitionOffsets& end);
  // The newest observation at which partition p's end was at most `position`, i.e. whose
  // records the position has all passed. A partition missing from an observation did not
  // exist then: every position has reached it.
  std::optional<WallTime> reached(int32_t partition, int64_t position) const;
  std::optional<WallTime> oldest() const;
  size_t size() const { return observations_.size(); }

 private:
  struct Observation {
    WallTime at;
    std::vector<int64_t> end;  // indexed by partition; -1: no such partition then
  };
  size_t capacity_;
  std::deque<Observation> observations_;
};

// Pure: fills each partition's lag in seconds at snap.sampledAt, and the snapshot's largest,
// from the history (observations before this sample) and, for partitions whose position has
// reached none of them, the timestamps (ms) of the records at their positions.
void applyLagSeconds(LagSnapshot& snap, const EndOffsetHistory& history,
                     const PartitionOffsets& recordTimestampsMs);

// The position a partition has read up to: its committed offset (from the log start), or the
// end itself once nothing visible is left to read.
int64_t effectivePosition(const PartitionLag& p);

// Pure: lag from the three offset maps. A partition without a commit counts from its log
// start; a commit below the log start (history deleted under the group) counts from there.
LagSnapshot computeLag(const PartitionOffsets& earliest, const PartitionOffsets& end,
                       const PartitionOffsets& committed, WallTime at);

struct LagMonitorOptions {
  // Partitions with an offset lag up to this many are read to count visible records.
  int64_t markerProbeLimit = 1000;
  // Read the timestamp of the record at the position of partitions that reached no observed
  // end, for their estimated lag in seconds.
  bool recordTimestamps = true;
};

class LagMonitor {
 public:
  explicit LagMonitor(KafkaAdmin& admin, LagMonitorOptions options = {})
      : admin_(admin), options_(options) {}

  // With a history, the lag in seconds is computed from it and this sample is added to it;
  // without one, every lagging partition's seconds are an estimate.
  Result<LagSnapshot> sample(const std::string& group, const std::string& topic, WallTime now,
                             EndOffsetHistory* history = nullptr);

 private:
  KafkaAdmin& admin_;
  LagMonitorOptions options_;
};

// The catch-up rule: within the bound when on every partition the position has reached the
// end observed at most maxLagSeconds before the sample (observed lag seconds <= the bound)
// and, if set, the lag in messages is at most maxLagMessages; caught up after holding that
// continuously for stableFor.
struct CatchUpBound {
  std::chrono::seconds maxLagSeconds{5};
  std::optional<int64_t> maxLagMessages;
  std::chrono::seconds stableFor{30};
  bool operator==(const CatchUpBound&) const = default;
};

bool withinBound(const LagSnapshot& snap, const CatchUpBound& bound);

// Caught-up evaluation. `withinSince` is when the lag last entered the bound (persisted by
// the caller, e.g. in status); the result says what to persist next.
struct CatchUpState {
  bool withinBound = false;
  std::optional<WallTime> withinSince;
  bool caughtUp = false;
  bool operator==(const CatchUpState&) const = default;
};

CatchUpState evaluateCatchUp(std::optional<WallTime> withinSince, bool within,
                             std::chrono::seconds stableFor, WallTime now);
CatchUpState evaluateCatchUp(std::optional<WallTime> withinSince, const LagSnapshot& snap,
                             const CatchUpBound& bound);

struct ReplayProgress {
  double percent = 0;            // consumed / (consumed + lag), 0..100
  double messagesPerSecond = 0;  // smoothed
  std::optional<int64_t> etaSeconds;
  bool operator==(const ReplayProgress&) const = default;
};

// A smoothed rate below this is no rate: the replay is stalled and has no ETA.
inline constexpr double kStalledRate = 0.01;
// An ETA beyond this (about ten years) is reported as unknown.
inline constexpr int64_t kMaxEtaSeconds = int64_t{10} * 366 * 24 * 3600;

// Progress from the previous and current samples. `previousRate` (the last smoothed rate)
// is blended in so one slow poll does not make the ETA jump.
ReplayProgress estimateProgress(const std::optional<LagSnapshot>& previous,
                                const LagSnapshot& current,
                                std::optional<double> previousRate = std::nullopt);

std::ostream& operator<<(std::ostream& os, const PartitionLag& p);
std::ostream& operator<<(std::ostream& os, const CatchUpState& s);
std::ostream& operator<<(std::ostream& os, const ReplayProgress& p);

}  // namespace kappa::kafka
