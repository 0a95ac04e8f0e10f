#include "runtime/kafka/output_comparator.h"

#include <xxhash.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "runtime/kafka/rdkafka_admin.h"
#include "runtime/kafka/rdkafka_handles.h"

namespace kappa::kafka {
namespace {

using nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

bool numbersClose(double a, double b, double tolerance) {
  if (a == b) return true;
  return std::fabs(a - b) <= tolerance * std::max(std::fabs(a), std::fabs(b));
}

bool fieldEqual(const json& a, const json& b, double tolerance) {
  if (a.is_number() && b.is_number()) {
    return numbersClose(a.get<double>(), b.get<double>(), tolerance);
  }
  return a == b;
}

// Values of the sampled records live in one append-only arena per comparison: one
// allocation per MiB instead of one per record.
class Arena {
 public:
  std::string_view add(const char* data, size_t len) {
    if (blocks_.empty() || blocks_.back().size() + len > blocks_.back().capacity()) {
      blocks_.emplace_back();
      blocks_.back().reserve(std::max(len, kBlock));
    }
    std::string& b = blocks_.back();
    size_t at = b.size();
    b.append(data, len);  // within capacity: never reallocates, views stay valid
    return std::string_view(b.data() + at, len);
  }

 private:
  static constexpr size_t kBlock = 1 << 20;
  std::vector<std::string> blocks_;
};

struct Entry {
  int32_t partition;
  int64_t sourceOffset;                   // -1 without headers
  std::optional<std::string_view> value;  // nullopt: tombstone
};

// A sampled key's records in one output. Most keys have one record (a compacted output),
// kept inline; further ones go to `more`.
struct Records {
  bool any = false;
  Entry first{};
  std::vector<Entry> more;
  void add(Entry e) {
    if (!any) {
      first = e;
      any = true;
    } else {
      more.push_back(e);
    }
  }
  template <typename F>
  void forEach(F&& f) const {
    if (!any) return;
    f(first);
    for (const auto& e : more) f(e);
  }
};

struct History {
  Records versions[2];
};

}  // namespace

bool valuesEqual(std::string_view serving, std::string_view candidate, const ComparePolicy& p) {
  bool plain = p.compareFields.empty() && p.ignoreFields.empty() && p.numericTolerance == 0;
  if (plain && serving == candidate) return true;
  json a = json::parse(serving, nullptr, false);
  json b = json::parse(candidate, nullptr, false);
  if (a.is_discarded() || b.is_discarded() || !a.is_object() || !b.is_object()) {
    return serving == candidate;
  }
  std::set<std::string> fields;
  if (!p.compareFields.empty()) {
    fields.insert(p.compareFields.begin(), p.compareFields.end());
  } else {
    for (const auto& [k, v] : a.items()) fields.insert(k);
    for (const auto& [k, v] : b.items()) fields.insert(k);
  }
  for (const auto& f : p.ignoreFields) fields.erase(f);
  for (const auto& f : fields) {
    auto ia = a.find(f), ib = b.find(f);
    if (ia == a.end() && ib == b.end()) continue;
    if (ia == a.end() || ib == b.end()) return false;
    if (!fieldEqual(*ia, *ib, p.numericTolerance)) return false;
  }
  return true;
}

namespace {

struct SampleView {
  std::string_view key;
  std::optional<std::string_view> serving;  // nullopt: no record (or a tombstone) at the cut
  std::optional<std::string_view> candidate;
};

std::optional<std::string> owned(const std::optional<std::string_view>& v) {
  return v ? std::optional<std::string>(std::string(*v)) : std::nullopt;
}

ComparisonResult compareViews(std::vector<SampleView>& sample, const ComparePolicy& policy) {
  ComparisonResult r;
  r.sampledKeys = static_cast<int64_t>(sample.size());
  std::sort(sample.begin(), sample.end(),
            [](const SampleView& a, const SampleView& b) { return a.key < b.key; });
  for (const auto& v : sample) {
    if (!v.serving && !v.candidate) continue;
    ++r.comparedKeys;
    if (v.serving && v.candidate && valuesEqual(*v.serving, *v.candidate, policy)) continue;
    ++r.mismatchedKeys;
    r.mismatched.emplace(v.key);
    if (r.examples.size() < 5) {
      r.examples.push_back({std::string(v.key), owned(v.serving), owned(v.candidate)});
    }
  }
  r.mismatchRatio = r.comparedKeys ? static_cast<double>(r.mismatchedKeys) / r.comparedKeys : 0;
  r.withinPolicy = r.mismatchRatio <= policy.maxMismatchRatio;
  return r;
}

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return XXH3_64bits(s.data(), s.size()); }
};

}  // namespace

ComparisonResult compareSnapshots(
    const std::vector<std::string>& sample,
    const std::map<std::string, std::optional<std::string>>& serving,
    const std::map<std::string, std::optional<std::string>>& candidate,
    const ComparePolicy& policy) {
  std::vector<SampleView> views;
  views.reserve(sample.size());
  auto view = [](const auto& m, const std::string& key) -> std::optional<std::string_view> {
    auto it = m.find(key);
    if (it == m.end() || !it->second) return std::nullopt;
    return std::string_view(*it->second);
  };
  for (const auto& key : sample) views.push_back({key, view(serving, key), view(candidate, key)});
  return compareViews(views, policy);
}

Result<ComparisonResult> KafkaOutputComparator::compare(const std::string& servingTopic,
                                                        const std::string& candidateTopic,
                                                        const ComparePolicy& policy) {
  if (policy.sampleKeys <= 0) return Error{ErrorCode::kInvalidArgument, "sampleKeys must be > 0"};
  auto admin = RdKafkaAdmin::create(config_);
  if (!admin) return admin.error();
  const std::string* topics[2] = {&servingTopic, &candidateTopic};
  std::map<int32_t, int64_t> end[2];
  PartitionList assignment(rd_kafka_topic_partition_list_new(8));
  int pendingCount = 0;
  for (int v = 0; v < 2; ++v) {
    auto e = (*admin)->endOffsets(*topics[v]);
    if (!e) return Error{e.error().code, *topics[v] + ": " + e.error().message};
    for (const auto& [p, off] : *e) {
      if (off <= 0) continue;
      end[v][p] = off;
      rd_kafka_topic_partition_list_add(assignment.get(), topics[v]->c_str(), p)->offset =
          RD_KAFKA_OFFSET_BEGINNING;
      ++pendingCount;
    }
  }

  // Bottom-k sample over the union of keys, with each sampled key's records per version.
  const auto k = static_cast<size_t>(policy.sampleKeys);
  // Max-heap of the sampled keys' hashes: the top is the first to go when a smaller one comes.
  std::vector<std::pair<uint64_t, const std::string*>> heap;
  std::unordered_map<std::string, History, StringHash, std::equal_to<>> histories;
  histories.reserve(std::min<size_t>(k, 1 << 22) + 1);
  Arena arena;
  rd_kafka_topic_t* handles[2] = {nullptr, nullptr};  // the topics' handles, once seen
  std::map<int32_t, int64_t> maxOffset[2];
  bool headers[2] = {true, true};
  uint64_t records[2] = {0, 0};

  if (pendingCount > 0) {
    auto props = config_.properties;
    props["group.id"] = "kappa-validate";  // assign only: never joined nor committed
    props["isolation.level"] = "read_committed";
    props["enable.partition.eof"] = "true";
    props.emplace("queued.min.messages", "1000000");
    props.emplace("fetch.wait.max.ms", "50");
    auto reader = makeHandle(RD_KAFKA_CONSUMER, config_.bootstrapServers, props);
    if (!reader) return reader.error();
    if (auto ae = rd_kafka_assign(reader->get(), assignment.get())) return errorOf(ae, "assign");
    rd_kafka_poll_set_consumer(reader->get());
    RdPtr<rd_kafka_queue_t> queue(rd_kafka_queue_get_consumer(reader->get()));
    std::vector<rd_kafka_message_t*> batch(10000);
    auto lastProgress = SteadyClock::now();
    while (pendingCount > 0) {
      ssize_t n = rd_kafka_consume_batch_queue(queue.get(), 500, batch.data(), batch.size());
      if (n <= 0 && SteadyClock::now() - lastProgress > config_.timeout) {
        return Error{ErrorCode::kTimeout, "reading outputs: no progress for " +
                                              std::to_string(config_.timeout.count()) + " ms"};
      }
      for (ssize_t i = 0; i < n; ++i) {
        RdPtr<rd_kafka_message_t> m(batch[i]);
        lastProgress = SteadyClock::now();
        int v;
        if (m->rkt == handles[0]) {
          v = 0;
        } else if (m->rkt == handles[1]) {
          v = 1;
        } else {
          v = *topics[0] == rd_kafka_topic_name(m->rkt) ? 0 : 1;
          handles[v] = m->rkt;
        }
        auto it = end[v].find(m->partition);
        if (it == end[v].end()) continue;  // already read to its end
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
          end[v].erase(it);
          --pendingCount;
          continue;
        }
        if (m->err || m->offset >= it->second) continue;
        if (m->offset + 1 >= it->second) {
          end[v].erase(it);
          --pendingCount;
        }
        ++records[v];
        auto src = headerInt(*m, "kappa-src-offset");
        if (!src) {
          headers[v] = false;
        } else {
          auto& mo = maxOffset[v][m->partition];
          mo = std::max(mo, *src);
        }
        std::string_view key(static_cast<const char*>(m->key), m->key ? m->key_len : 0);
        uint64_t h = XXH3_64bits(key.data(), key.size());
        if (heap.size() >= k && h > heap.front().first) continue;  // not in the sample
        auto hist = histories.find(key);
        if (hist == histories.end()) {
          if (heap.size() >= k && h == heap.front().first) continue;
          hist = histories.emplace(std::string(key), History{}).first;
          heap.emplace_back(h, &hist->first);
          std::push_heap(heap.begin(), heap.end());
          if (heap.size() > k) {
            std::pop_heap(heap.begin(), heap.end());
            histories.erase(*heap.back().second);
            heap.pop_back();
          }
        }
        std::optional<std::string_view> value;
        if (m->payload) value = arena.add(static_cast<const char*>(m->payload), m->len);
        hist->second.versions[v].add({m->partition, src.value_or(-1), value});
      }
    }
  }

  ComparisonResult result;
  result.consistentCut = headers[0] && headers[1] && records[0] > 0 && records[1] > 0;
  if (result.consistentCut) {
    for (const auto& [p, a] : maxOffset[0]) {
      auto b = maxOffset[1].find(p);
      result.cut[p] = b == maxOffset[1].end() ? 0 : std::min(a, b->second) + 1;
    }
    for (const auto& [p, b] : maxOffset[1]) result.cut.emplace(p, 0);
  }
  std::vector<SampleView> sample;
  sample.reserve(histories.size());
  for (const auto& [key, hist] : histories) {
    SampleView view{key, std::nullopt, std::nullopt};
    for (int v = 0; v < 2; ++v) {
      const Entry* chosen = nullptr;
      hist.versions[v].forEach([&](const Entry& e) {
        if (result.consistentCut && e.sourceOffset >= result.cut[e.partition]) return;
        chosen = &e;
      });
      (v == 0 ? view.serving : view.candidate) = chosen ? chosen->value : std::nullopt;
    }
    sample.push_back(view);
  }
  auto compared = compareViews(sample, policy);
  compared.consistentCut = result.consistentCut;
  compared.cut = std::move(result.cut);
  return compared;
}

std::ostream& operator<<(std::ostream& os, const ComparisonResult& r) {
  os << "{sampled=" << r.sampledKeys << " compared=" << r.comparedKeys
     << " mismatched=" << r.mismatchedKeys << " ratio=" << r.mismatchRatio
     << (r.consistentCut ? " cut" : " latest") << "}";
  for (const auto& e : r.examples) {
    os << "\n  " << e.key << ": " << e.serving.value_or("<absent>") << " vs "
       << e.candidate.value_or("<absent>");
  }
  return os;
}

}  // namespace kappa::kafka
