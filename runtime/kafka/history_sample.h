// A sample of a topic's retained history, for the checks a replay runs before it starts (the
// dry run of a candidate's program): from each partition its first, middle and last record
// and `spread` more at evenly spaced offsets between them. A partition holding no more
// records than that is read whole.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/core/result.h"
#include "runtime/kafka/kafka_admin.h"

namespace kappa::kafka {

// The offsets to sample from [earliest, end) of each partition, ascending, each once.
// Empty partitions are absent.
SampleTargets sampleTargets(const PartitionOffsets& earliest, const PartitionOffsets& end,
                            int32_t spread);

struct HistorySample {
  std::vector<SampledRecord> records;  // by partition, then offset
  PartitionOffsets sizes;              // offsets each partition spans (end - earliest)
};

// Reads the sample of `topic` through the port (its offsets, then the records).
Result<HistorySample> sampleHistory(KafkaAdmin& admin, const std::string& topic, int32_t spread);

}  // namespace kappa::kafka
