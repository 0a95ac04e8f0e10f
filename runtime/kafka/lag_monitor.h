// Consumer lag of a group on a topic, measured against the last stable offset, and what the
// controller derives from successive samples: caught-up (lag within a bound for a stable
// duration), throughput, progress and ETA.
//
// Exactly-once producers leave a commit marker after each transaction. A reader never sees
// it, so a group's committed offset can stay one below the end for good. For partitions
// whose offset lag is small, the monitor counts the records a read_committed reader would
// still get and reports that instead: markers and aborted records never count as lag.
#pragma once

#include <chrono>
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
  bool operator==(const PartitionLag&) const = default;
};

struct LagSnapshot {
  std::vector<PartitionLag> partitions;
  int64_t totalLag = 0;
  int32_t laggingPartitions = 0;  // partitions with lag > 0
  int64_t consumed = 0;           // sum over partitions of position - log start
  bool committedAny = false;
  WallTime sampledAt{};
  bool operator==(const LagSnapshot&) const = default;
};

// Pure: lag from the three offset maps. A partition without a commit counts from its log
// start; a commit below the log start (history deleted under the group) counts from there.
LagSnapshot computeLag(const PartitionOffsets& earliest, const PartitionOffsets& end,
                       const PartitionOffsets& committed, WallTime at);

struct LagMonitorOptions {
  // Partitions with an offset lag up to this many are read to count visible records.
  int64_t markerProbeLimit = 1000;
};

class LagMonitor {
 public:
  explicit LagMonitor(KafkaAdmin& admin, LagMonitorOptions options = {})
      : admin_(admin), options_(options) {}

  Result<LagSnapshot> sample(const std::string& group, const std::string& topic, WallTime now);

 private:
  KafkaAdmin& admin_;
  LagMonitorOptions options_;
};

// Caught-up evaluation. `withinSince` is when the lag last entered the bound (persisted by
// the caller, e.g. in status); the result says what to persist next.
struct CatchUpState {
  bool withinBound = false;
  std::optional<WallTime> withinSince;
  bool caughtUp = false;
  bool operator==(const CatchUpState&) const = default;
};

CatchUpState evaluateCatchUp(std::optional<WallTime> withinSince, int64_t lag, int64_t maxLag,
                             std::chrono::seconds stableFor, WallTime now);

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
