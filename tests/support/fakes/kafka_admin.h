// In-memory KafkaAdmin for unit tests: offsets and configs are set by the test; calls are
// recorded so a test can check what was asked.
#pragma once

#include <vector>

#include "runtime/kafka/kafka_admin.h"

namespace kappa::testing {

class FakeKafkaAdmin : public kafka::KafkaAdmin {
 public:
  std::map<std::string, kafka::TopicDescription> topics;
  std::map<std::string, kafka::PartitionOffsets> earliest, end, timestamps;
  std::map<std::pair<std::string, std::string>, kafka::PartitionOffsets> committed;
  // Visible records per partition, used by countVisibleRecords: offset -> visible?
  std::map<int32_t, std::vector<bool>> visibleAt;
  std::vector<kafka::OffsetRanges> probes;
  // Timestamps (ms) of records, by partition and offset, for recordTimestamps.
  std::map<std::pair<int32_t, int64_t>, int64_t> recordTs;
  std::vector<kafka::PartitionOffsets> timestampProbes;
  std::optional<Error> failNext;
  // Members of each group, for groupMembers (the topic is not checked).
  std::map<std::string, std::vector<kafka::GroupMember>> members;

  Result<void> createTopic(const kafka::TopicSpec& s) override {
    if (auto e = takeFailure()) return *e;
    if (topics.count(s.name)) return Error{ErrorCode::kAlreadyExists, s.name};
    topics[s.name] = {s.name, s.partitions, s.configs};
    return {};
  }
  Result<void> deleteTopic(const std::string& t) override {
    if (auto e = takeFailure()) return *e;
    if (!topics.erase(t)) return Error{ErrorCode::kNotFound, t};
    return {};
  }
  Result<kafka::TopicDescription> describeTopic(const std::string& t) override {
    if (auto e = takeFailure()) return *e;
    auto it = topics.find(t);
    if (it == topics.end()) return Error{ErrorCode::kNotFound, t};
    return it->second;
  }
  Result<void> deleteGroup(const std::string& g) override {
    if (auto e = takeFailure()) return *e;
    bool found = false;
    for (auto it = committed.begin(); it != committed.end();) {
      if (it->first.first == g) {
        it = committed.erase(it);
        found = true;
      } else {
        ++it;
      }
    }
    if (!found) return Error{ErrorCode::kNotFound, g};
    return {};
  }
  Result<kafka::PartitionOffsets> endOffsets(const std::string& t) override {
    if (auto e = takeFailure()) return *e;
    return end[t];
  }
  Result<kafka::PartitionOffsets> earliestOffsets(const std::string& t) override {
    if (auto e = takeFailure()) return *e;
    return earliest[t];
  }
  Result<kafka::PartitionOffsets> committedOffsets(const std::string& g,
                                                   const std::string& t) override {
    if (auto e = takeFailure()) return *e;
    return committed[{g, t}];
  }
  Result<std::vector<kafka::GroupMember>> groupMembers(const std::string& g,
                                                       const std::string&) override {
    if (auto e = takeFailure()) return *e;
    return members[g];
  }
  // Records of each topic for sampleRecords: partition -> offset -> record.
  std::map<std::string, std::map<int32_t, std::map<int64_t, kafka::SampledRecord>>> records;
  std::vector<kafka::SampleTargets> sampleRequests;
  Result<std::vector<kafka::SampledRecord>> sampleRecords(
      const std::string& t, const kafka::SampleTargets& targets) override {
    if (auto e = takeFailure()) return *e;
    sampleRequests.push_back(targets);
    std::vector<kafka::SampledRecord> out;
    for (const auto& [p, offsets] : targets) {
      const auto& log = records[t][p];
      int64_t last = -1;
      for (int64_t o : offsets) {
        auto it = log.lower_bound(o);
        if (it == log.end() || it->first == last) continue;
        last = it->first;
        out.push_back(it->second);
      }
    }
    return out;
  }
  Result<kafka::PartitionOffsets> earliestTimestamps(const std::string& t) override {
    if (auto e = takeFailure()) return *e;
    return timestamps[t];
  }
  Result<kafka::PartitionOffsets> countVisibleRecords(const std::string&,
                                                      const kafka::OffsetRanges& r) override {
    if (auto e = takeFailure()) return *e;
    probes.push_back(r);
    kafka::PartitionOffsets out;
    for (const auto& [p, range] : r) {
      int64_t n = 0;
      for (int64_t o = range.first; o < range.second; ++o) {
        const auto& v = visibleAt[p];
        if (o < static_cast<int64_t>(v.size()) ? v[o] : true) ++n;
      }
      out[p] = n;
    }
    return out;
  }

  Result<kafka::PartitionOffsets> recordTimestamps(const std::string&,
                                                   const kafka::PartitionOffsets& from) override {
    if (auto e = takeFailure()) return *e;
    timestampProbes.push_back(from);
    kafka::PartitionOffsets out;
    for (const auto& [p, offset] : from) {
      auto it = recordTs.lower_bound({p, offset});
      if (it != recordTs.end() && it->first.first == p) out[p] = it->second;
    }
    return out;
  }

 private:
  std::optional<Error> takeFailure() {
    auto e = failNext;
    failNext.reset();
    return e;
  }
};

}  // namespace kappa::testing
