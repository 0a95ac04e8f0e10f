// Dry run: a sample of the source's history (kafka/history_sample.h) through a candidate's
// program, in process, before anything replays. Each record goes where kappa-worker would
// send it; the report counts those it would dead-letter, by reason, with examples, so a
// program that would dead-letter half of history is refused before the hours of replay that
// would otherwise show it.
//
// The engine sees the sampled records of each partition in offset order, as the worker sees
// all of them: whether a record is dead-lettered depends on that record alone (it is not
// JSON, lacks the key, a field has the wrong type), never on the records between samples.
// Every partition gives about as many samples whatever its size, so the ratio weights each
// partition's sampled ratio by its size: the estimate of the share of the whole history,
// which five bad records in a small partition beside millions of good ones do not inflate.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/kafka/kafka_admin.h"
#include "runtime/worker/program.h"

namespace kappa::worker {

struct DryRunExample {
  int32_t partition = 0;
  int64_t offset = 0;
  std::string value{};  // the record as text, cut to kDryRunExampleBytes
  bool operator==(const DryRunExample&) const = default;
};

struct DryRunReason {
  std::string reason{};  // as kappa-worker's dead-letter header would say it
  int64_t records = 0;
  std::vector<DryRunExample> examples{};  // the first few, by partition and offset
  bool operator==(const DryRunReason&) const = default;
};

struct DryRunReport {
  int64_t sampled = 0;
  int64_t deadLettered = 0;
  // Estimated share of the history that would be dead-lettered: each partition's sampled
  // ratio weighted by its size (deadLettered / sampled when no sizes are given).
  double ratio = 0;
  std::vector<DryRunReason> reasons{};  // most records first
  bool operator==(const DryRunReport&) const = default;
};

inline constexpr size_t kDryRunExamples = 3;
inline constexpr size_t kDryRunExampleBytes = 200;

// Runs the records (sorted by partition, then offset) through the program with the portable
// parser kernel. `sizes`: the offsets each partition spans, which weight the ratio.
DryRunReport dryRun(const Program& program, const std::vector<kafka::SampledRecord>& records,
                    const kafka::PartitionOffsets& sizes = {});

// A record's bytes as printable text of at most `max` bytes: valid UTF-8 is kept, any other
// byte is written \xNN, and a cut value ends in "...".
std::string printableExample(std::string_view bytes, size_t max = kDryRunExampleBytes);

// "12 of 120 sampled records (about 10.0% of the history): missing key field (10), bad JSON (2)"
std::string dryRunSummary(const DryRunReport& r);
std::ostream& operator<<(std::ostream& os, const DryRunReport& r);

// As status.dryRun and kubectl kappa preflight --json have it: sampledRecords,
// deadLetteredRecords, deadLetterRatio (to four places), reasons[{reason, records,
// examples[{partition, offset, value}]}].
nlohmann::json dryRunToJson(const DryRunReport& r);
DryRunReport dryRunFromJson(const nlohmann::json& j);

}  // namespace kappa::worker
