#include "runtime/kafka/retention_preflight.h"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace kappa::kafka {
namespace {

std::string humanSeconds(double s) {
  std::ostringstream os;
  os.setf(std::ios::fixed);
  os.precision(1);
  if (s < 120) {
    os << s << "s";
  } else if (s < 7200) {
    os << s / 60 << "m";
  } else if (s < 172800) {
    os << s / 3600 << "h";
  } else {
    os << s / 86400 << "d";
  }
  return os.str();
}

}  // namespace

const char* verdictName(RetentionVerdict v) {
  switch (v) {
    case RetentionVerdict::kSafe:
      return "Safe";
    case RetentionVerdict::kAtRisk:
      return "AtRisk";
    case RetentionVerdict::kTruncated:
      return "Truncated";
  }
  return "Unknown";
}

RetentionReport evaluateRetention(const RetentionInputs& in) {
  RetentionReport r;
  for (const auto& [p, end] : in.endOffsets) {
    auto it = in.earliestOffsets.find(p);
    int64_t start = it == in.earliestOffsets.end() ? 0 : it->second;
    r.messages += std::max<int64_t>(0, end - start);
    if (start > 0) {
      ++r.truncatedPartitions;
      r.truncatedOffsets += start;
    }
  }
  r.replaySeconds = in.throughputMsgsPerSec > 0 ? r.messages / in.throughputMsgsPerSec : 0;
  if (in.earliestTimestampMs) {
    r.oldestAgeSeconds = std::max<int64_t>(0, (in.nowMs - *in.earliestTimestampMs) / 1000);
  }

  if (r.truncatedPartitions > 0) {
    r.verdict = RetentionVerdict::kTruncated;
    r.reason = std::to_string(r.truncatedOffsets) + " offsets on " +
               std::to_string(r.truncatedPartitions) +
               " partition(s) were already deleted: a replay cannot see the full history";
    return r;
  }

  bool deletes = in.cleanupPolicy.find("delete") != std::string::npos;
  bool timeBased = deletes && in.retentionMs && *in.retentionMs >= 0;
  bool sizeBased = deletes && in.retentionBytes && *in.retentionBytes >= 0;

  if (r.messages == 0) {
    r.verdict = RetentionVerdict::kSafe;
    r.reason = "the topic is empty: nothing to replay";
    return r;
  }
  if (timeBased && r.oldestAgeSeconds) {
    int64_t expires = *in.retentionMs / 1000 - *r.oldestAgeSeconds;
    r.expiresInSeconds = expires;
    r.headroomSeconds = expires - r.replaySeconds;
    if (*r.headroomSeconds <= 0) {
      r.verdict = RetentionVerdict::kAtRisk;
      r.reason = "replay of " + std::to_string(r.messages) + " records takes about " +
                 humanSeconds(r.replaySeconds) + " but the oldest event expires in " +
                 humanSeconds(std::max<int64_t>(0, expires)) +
                 " (retention.ms=" + std::to_string(*in.retentionMs) + ")";
      return r;
    }
  }
  if (sizeBased) {
    r.verdict = RetentionVerdict::kAtRisk;
    r.reason = "retention.bytes=" + std::to_string(*in.retentionBytes) +
               " per partition: new data may push the oldest segments out during the replay";
    return r;
  }
  r.verdict = RetentionVerdict::kSafe;
  if (timeBased && r.headroomSeconds) {
    r.reason = "replay takes about " + humanSeconds(r.replaySeconds) +
               "; the oldest event expires in " + humanSeconds(*r.expiresInSeconds) +
               " (headroom " + humanSeconds(*r.headroomSeconds) + ")";
  } else {
    r.reason = deletes ? "no time- or size-based retention: history is kept"
                       : "cleanup.policy=" + in.cleanupPolicy + ": records are never expired";
  }
  return r;
}

Result<RetentionReport> runPreflight(KafkaAdmin& admin, const std::string& topic,
                                     double throughputMsgsPerSec, WallTime now) {
  if (!(throughputMsgsPerSec > 0) || !std::isfinite(throughputMsgsPerSec)) {
    return Error{ErrorCode::kInvalidArgument, "throughput must be a positive number"};
  }
  auto desc = admin.describeTopic(topic);
  if (!desc) return desc.error();
  auto earliest = admin.earliestOffsets(topic);
  if (!earliest) return earliest.error();
  auto end = admin.endOffsets(topic);
  if (!end) return end.error();
  RetentionInputs in;
  in.retentionMs = desc->configInt("retention.ms");
  in.retentionBytes = desc->configInt("retention.bytes");
  auto policy = desc->configs.find("cleanup.policy");
  in.cleanupPolicy = policy == desc->configs.end() ? "delete" : policy->second;
  in.earliestOffsets = *earliest;
  in.endOffsets = *end;
  in.nowMs = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  in.throughputMsgsPerSec = throughputMsgsPerSec;
  bool nonEmpty = false;
  for (const auto& [p, e] : *end) nonEmpty |= e > (*earliest)[p];
  if (nonEmpty) {
    auto ts = admin.earliestTimestamps(topic);
    if (!ts) return ts.error();
    for (const auto& [p, t] : *ts) {
      in.earliestTimestampMs = std::min(in.earliestTimestampMs.value_or(t), t);
    }
  }
  return evaluateRetention(in);
}

std::ostream& operator<<(std::ostream& os, const RetentionReport& r) {
  return os << "{" << verdictName(r.verdict) << ": " << r.reason << "}";
}

}  // namespace kappa::kafka
