#include "runtime/kafka/history_sample.h"

#include <algorithm>

namespace kappa::kafka {

SampleTargets sampleTargets(const PartitionOffsets& earliest, const PartitionOffsets& end,
                            int32_t spread) {
  SampleTargets out;
  const int64_t extra = std::max<int32_t>(spread, 0);
  for (const auto& [p, start] : earliest) {
    auto e = end.find(p);
    if (e == end.end() || e->second <= start) continue;
    const int64_t last = e->second - 1;
    const int64_t span = last - start;  // the last record's distance from the first
    std::vector<int64_t>& offsets = out[p];
    if (span + 1 <= extra + 3) {
      for (int64_t o = start; o <= last; ++o) offsets.push_back(o);
      continue;
    }
    offsets = {start, start + span / 2, last};
    // k * span / (extra + 1) without overflow: span < 2^63 and extra is small.
    for (int64_t k = 1; k <= extra; ++k) {
      offsets.push_back(start +
                        static_cast<int64_t>(static_cast<__int128>(span) * k / (extra + 1)));
    }
    std::sort(offsets.begin(), offsets.end());
    offsets.erase(std::unique(offsets.begin(), offsets.end()), offsets.end());
  }
  return out;
}

Result<HistorySample> sampleHistory(KafkaAdmin& admin, const std::string& topic, int32_t spread) {
  auto earliest = admin.earliestOffsets(topic);
  if (!earliest) return earliest.error();
  auto end = admin.endOffsets(topic);
  if (!end) return end.error();
  HistorySample sample;
  for (const auto& [p, start] : *earliest) {
    auto e = end->find(p);
    if (e != end->end() && e->second > start) sample.sizes[p] = e->second - start;
  }
  auto records = admin.sampleRecords(topic, sampleTargets(*earliest, *end, spread));
  if (!records) return records.error();
  sample.records = std::move(*records);
  return sample;
}

}  // namespace kappa::kafka
