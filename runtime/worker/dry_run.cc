#include "runtime/worker/dry_run.h"

#include <algorithm>
#include <map>

#include "runtime/worker/engine.h"
#include "runtime/worker/event_parser.h"

namespace kappa::worker {
namespace {

// Outputs are not wanted: only where each record goes.
class DiscardingEmitter final : public Emitter {
 public:
  void emit(int32_t, std::string_view, const std::string*, int64_t, int64_t) override {}
  void emitState(int32_t, std::string_view, const std::string*, int64_t, int64_t) override {}
};

}  // namespace

DryRunReport dryRun(const Program& program, const std::vector<kafka::SampledRecord>& records,
                    const kafka::PartitionOffsets& sizes) {
  EventParser parser(program, "portable");
  Engine engine(program);
  DiscardingEmitter out;
  DryRunReport report;
  std::map<std::string, DryRunReason, std::less<>> byReason;
  std::map<int32_t, std::pair<int64_t, int64_t>> perPartition;  // sampled, dead-lettered
  for (const auto& r : records) {
    ++report.sampled;
    ++perPartition[r.partition].first;
    std::string_view error =
        r.value ? parser.parse(r.value->data(), r.value->size()) : std::string_view("empty event");
    ProcessResult result{Outcome::kInvalid, error};
    if (error.empty()) result = engine.process(r.partition, r.offset, parser, out);
    if (result.outcome != Outcome::kInvalid) continue;
    ++report.deadLettered;
    ++perPartition[r.partition].second;
    auto it = byReason.find(result.error);
    if (it == byReason.end()) {
      it = byReason.emplace(std::string(result.error), DryRunReason{std::string(result.error)})
               .first;
    }
    DryRunReason& reason = it->second;
    ++reason.records;
    if (reason.examples.size() < kDryRunExamples) {
      reason.examples.push_back({r.partition, r.offset, printableExample(r.value.value_or(""))});
    }
  }
  if (report.sampled > 0) {
    double weighted = 0, total = 0;
    for (const auto& [p, counts] : perPartition) {
      auto size = sizes.find(p);
      // A partition without a size counts as many records as were sampled from it.
      double weight = size != sizes.end() ? static_cast<double>(size->second)
                                          : static_cast<double>(counts.first);
      weighted += weight * static_cast<double>(counts.second) / static_cast<double>(counts.first);
      total += weight;
    }
    report.ratio = total > 0 ? weighted / total : 0;
  }
  for (auto& [_, reason] : byReason) report.reasons.push_back(std::move(reason));
  std::stable_sort(
      report.reasons.begin(), report.reasons.end(),
      [](const DryRunReason& a, const DryRunReason& b) { return a.records > b.records; });
  return report;
}

}  // namespace kappa::worker
