// Retention preflight: will a replay of the source topic from its earliest offset finish
// before the oldest events expire? A replay that loses its oldest events silently produces
// a different result than the serving version, so the controller checks this first.
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>

#include "runtime/kafka/kafka_admin.h"
#include "runtime/kafka/lag_monitor.h"

namespace kappa::kafka {

enum class RetentionVerdict {
  kSafe,       // the whole history stays readable for longer than the replay takes
  kAtRisk,     // the oldest events may expire before the replay has read them
  kTruncated,  // history is already gone: some partition no longer starts at offset 0
};

const char* verdictName(RetentionVerdict v);

struct RetentionInputs {
  std::optional<int64_t> retentionMs;     // nullopt or < 0: no time-based deletion
  std::optional<int64_t> retentionBytes;  // nullopt or < 0: no size-based deletion
  std::string cleanupPolicy = "delete";
  PartitionOffsets earliestOffsets;
  PartitionOffsets endOffsets;
  std::optional<int64_t> earliestTimestampMs;  // oldest first record over all partitions
  int64_t nowMs = 0;
  double throughputMsgsPerSec = 0;  // expected replay rate
};

struct RetentionReport {
  RetentionVerdict verdict = RetentionVerdict::kSafe;
  std::string reason;
  int64_t messages = 0;      // records to replay
  double replaySeconds = 0;  // messages / throughput
  std::optional<int64_t> oldestAgeSeconds;
  std::optional<int64_t> expiresInSeconds;  // time left for the oldest event; none: never
  std::optional<double> headroomSeconds;    // expiresIn - replaySeconds
  int32_t truncatedPartitions = 0;
  int64_t truncatedOffsets = 0;  // offsets already deleted, summed over partitions
  bool operator==(const RetentionReport&) const = default;
};

// Pure decision. Requires throughputMsgsPerSec > 0.
RetentionReport evaluateRetention(const RetentionInputs& in);

// Gathers the inputs through the port and evaluates them.
Result<RetentionReport> runPreflight(KafkaAdmin& admin, const std::string& topic,
                                     double throughputMsgsPerSec, WallTime now);

std::ostream& operator<<(std::ostream& os, const RetentionReport& r);

}  // namespace kappa::kafka
