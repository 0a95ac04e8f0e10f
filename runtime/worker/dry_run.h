// Dry run: a sample of the source's history (kafka/history_sample.h) through a candidate's
// program, in process, before anything replays. Each record goes where kappa-worker would
// send it; the report counts those it would dead-letter, by reason, with examples, so a
// program that would dead-letter half of history is refused before the hours of replay that
// would otherwise show it.
//
// The engine sees the sampled records of each partition in offset order, as the worker sees
// all of them: whether a record is dead-lettered depends on that record alone (it is not
// JSON, lacks the key, a field has the wrong type), never on the records between samples,
// so the sample's dead-letter ratio estimates the whole history's without bias.
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
  std::vector<DryRunReason> reasons{};  // most records first
  double ratio() const { return sampled ? static_cast<double>(deadLettered) / sampled : 0.0; }
  bool operator==(const DryRunReport&) const = default;
};

inline constexpr size_t kDryRunExamples = 3;
inline constexpr size_t kDryRunExampleBytes = 200;

// Runs the records (sorted by partition, then offset) through the program with the portable
// parser kernel.
DryRunReport dryRun(const Program& program, const std::vector<kafka::SampledRecord>& records);

// A record's bytes as printable text of at most `max` bytes: valid UTF-8 is kept, any other
// byte is written \xNN, and a cut value ends in "...".
std::string printableExample(std::string_view bytes, size_t max = kDryRunExampleBytes);

// "12 of 120 sampled records (10.0%): missing field user (10), not JSON (2)"
std::string dryRunSummary(const DryRunReport& r);
std::ostream& operator<<(std::ostream& os, const DryRunReport& r);

// As status.dryRun and kubectl kappa preflight --json have it: sampledRecords,
// deadLetteredRecords, deadLetterRatio (to four places), reasons[{reason, records,
// examples[{partition, offset, value}]}]. Reading ignores the ratio, which follows.
nlohmann::json dryRunToJson(const DryRunReport& r);
DryRunReport dryRunFromJson(const nlohmann::json& j);

}  // namespace kappa::worker
