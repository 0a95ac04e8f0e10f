// OutputComparator: is the candidate version's output the same as the serving version's?
//
// Keys are sampled deterministically (the N smallest 64-bit hashes of the record keys seen in
// either output), so every round and every run looks at the same keys. When both outputs
// carry the worker's kappa-src-offset headers the comparison is cut at a consistent point:
// per source partition p, C_p = min over the two outputs of (largest source offset + 1);
// both versions have processed every source record below C_p, and for each sampled key the
// last record whose source offset is below C_p is compared. A worker writes each partition in
// source order, so the largest source offset is that of the partition's last record: headers
// are read only there and on the sampled keys' records. Live traffic therefore cannot
// cause a false mismatch. Outputs without headers (container processors) are compared at
// their latest values; callers then confirm a mismatch over consecutive rounds.
#pragma once

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

struct ComparisonResult {
  int64_t sampledKeys = 0;   // keys in the sample
  int64_t comparedKeys = 0;  // sampled keys present in at least one output at the cut
  int64_t mismatchedKeys = 0;
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

class OutputComparator {
 public:
  virtual ~OutputComparator() = default;
  virtual Result<ComparisonResult> compare(const std::string& servingTopic,
                                           const std::string& candidateTopic,
                                           const ComparePolicy& policy) = 0;
};

// Reads both outputs with read_committed readers up to their last stable offsets.
class KafkaOutputComparator final : public OutputComparator {
 public:
  explicit KafkaOutputComparator(KafkaClientConfig config) : config_(std::move(config)) {}
  Result<ComparisonResult> compare(const std::string& servingTopic,
                                   const std::string& candidateTopic,
                                   const ComparePolicy& policy) override;

 private:
  KafkaClientConfig config_;
};

std::ostream& operator<<(std::ostream& os, const ComparisonResult& r);

}  // namespace kappa::kafka
