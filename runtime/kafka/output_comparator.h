// OutputComparator: is the candidate version's output the same as the serving version's?
//
// Keys are sampled deterministically (the N smallest 64-bit hashes of the record keys seen in
// either output), so every round and every run looks at the same keys. When both outputs
// carry the worker's kappa-src-offset headers the comparison is cut at a consistent point:
// per source partition p, C_p = min over the two outputs of (largest source offset + 1);
// both versions have processed every source record below C_p. A sampled key whose latest
// record in both outputs lies below C_p is compared on those records; a key whose latest
// record in either output lies at or past C_p is not comparable at this cut and is counted
// apart (notComparableKeys), never as a mismatch: its record below the cut may have been
// compacted away, and live traffic moves it on. So only the latest record of each sampled key
// is kept, and a comparison's memory is bounded by the sample, not by the output. A worker
// writes each partition in source order, so the largest source offset is that of the
// partition's last record: headers are read only there and on the sampled keys' records.
// Outputs without headers (container processors) are compared at their latest values;
// callers then confirm a mismatch over consecutive rounds.
#pragma once

#include <atomic>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/kafka/kafka_admin.h"

namespace kappa::kafka {

struct ComparePolicy {
  int64_t sampleKeys = 5000;
  std::vector<std::string> compareFields;  // empty: the whole value
  // The two outputs were made from the same source topic. False: their source offsets say
  // nothing about each other, and the outputs are compared at their latest values.
  bool sameSource = true;
  std::vector<std::string> ignoreFields;
  double numericTolerance = 0;  // relative
  double maxMismatchRatio = 0;
};

struct MismatchExample {
  std::string key;
  std::optional<std::string> serving;  // nullopt: absent (or deleted) in that output
  std::optional<std::string> candidate;
  bool operator==(const MismatchExample&) const = default;
};

// A mismatch as a reader wants it: the fields that differ, "field: serving -> candidate",
// comma-separated, the fields both sides hold equal left out ("revenue: 466.6 -> 3278.13").
// A side without a record, or a value that is not a JSON object, is shown whole
// ("(none) -> {...}").
std::string fieldDiff(const std::optional<std::string>& serving,
                      const std::optional<std::string>& candidate);

struct ComparisonResult {
  int64_t sampledKeys = 0;   // keys in the sample
  int64_t comparedKeys = 0;  // sampled keys present in at least one output at the cut
  int64_t mismatchedKeys = 0;
  int64_t notComparableKeys = 0;          // sampled keys whose latest record lies past the cut
  double mismatchRatio = 0;               // mismatched / compared
  bool withinPolicy = true;               // mismatchRatio <= maxMismatchRatio
  bool consistentCut = false;             // both outputs had source-offset headers
  PartitionOffsets cut;                   // C_p when consistentCut
  std::vector<MismatchExample> examples;  // at most 5, in key order
  std::set<std::string> mismatched;       // every mismatched sampled key
};

// Pure: compares two JSON values under the policy's fields and tolerance. Values that are
// not JSON objects are compared as bytes.
bool valuesEqual(std::string_view serving, std::string_view candidate, const ComparePolicy& p);

struct KeyedValue {
  std::string key;
  std::optional<std::string> value;
};

// Pure: compares two {key -> latest value} snapshots restricted to `sample`.
ComparisonResult compareSnapshots(
    const std::vector<std::string>& sample,
    const std::map<std::string, std::optional<std::string>>& serving,
    const std::map<std::string, std::optional<std::string>>& candidate,
    const ComparePolicy& policy);

// How far a comparison has read, for status while it runs: records read of both topics, of
// the records they held when it began.
struct CompareProgress {
  std::atomic<int64_t> recordsRead{0};
  std::atomic<int64_t> recordsToRead{0};
};

class OutputComparator {
 public:
  virtual ~OutputComparator() = default;
  // `progress`, when given, is kept up to date while the comparison reads.
  virtual Result<ComparisonResult> compare(const std::string& servingTopic,
                                           const std::string& candidateTopic,
                                           const ComparePolicy& policy,
                                           CompareProgress* progress = nullptr) = 0;
  // Whether `topic` exists and has ever been written (end offsets above 0): a sample tap
  // that a processor does not write stays empty. The default: no.
  virtual Result<bool> written(const std::string& topic) {
    (void)topic;
    return false;
  }
};

// Reads both outputs with read_committed readers up to their last stable offsets.
class KafkaOutputComparator final : public OutputComparator {
 public:
  explicit KafkaOutputComparator(KafkaClientConfig config) : config_(std::move(config)) {}
  Result<ComparisonResult> compare(const std::string& servingTopic,
                                   const std::string& candidateTopic, const ComparePolicy& policy,
                                   CompareProgress* progress = nullptr) override;
  Result<bool> written(const std::string& topic) override;

 private:
  KafkaClientConfig config_;
};

std::ostream& operator<<(std::ostream& os, const ComparisonResult& r);

}  // namespace kappa::kafka
