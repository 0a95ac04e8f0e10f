#include "runtime/kafka/output_comparator.h"

#include <xxhash.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>
#include <thread>

#include "runtime/kafka/key_sample.h"
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

// The sampled keys and their records' values live in one append-only arena per output: one
// allocation per MiB instead of one per record.
class Arena {
 public:
  std::string_view add(const void* data, size_t len) {
    if (blocks_.empty() || blocks_.back().size() + len > blocks_.back().capacity()) {
      blocks_.emplace_back();
      blocks_.back().reserve(std::max(len, kBlock));
    }
    std::string& b = blocks_.back();
    size_t at = b.size();
    b.append(static_cast<const char*>(data), len);  // within capacity: views stay valid
    return std::string_view(b.data() + at, len);
  }

 private:
  static constexpr size_t kBlock = 1 << 20;
  std::vector<std::string> blocks_;
};

// The latest record of a sampled key: the only one a comparison needs (a key whose latest
// record lies past the cut is not comparable at that cut, whatever came before it).
struct Entry {
  int32_t partition;
  bool tombstone;
  int64_t sourceOffset;  // -1 without headers
  std::string value;     // its capacity is reused by the key's next record
};

// The bottom-k sample of one output: the k keys with the smallest (hash, key), each with its
// latest record, so the table's size is bounded by the sample, not by the records read.
// Entries sit in one vector, found through an open-addressing index (linear probing, a
// power-of-two size, 32 bits of the hash as a tag), so a lookup touches one slot and one
// entry, and the read loop can prefetch both a few records ahead. Keys sit in an arena, each
// written once. Keys beyond k are admitted until the table holds half as many again, then the
// largest are dropped in one pass: an amortised constant cost per key instead of a heap
// update for each.
class SampleTable {
 public:
  struct Sampled {
    uint64_t hash;
    std::string_view key;
    Entry latest;
  };

  explicit SampleTable(size_t k) : k_(k), limit_(k + std::max<size_t>(k / 2, 1024)) {
    entries_.reserve(std::min<size_t>(limit_, 1 << 21));
    rebuildIndex(std::min<size_t>(limit_, 1 << 16));
  }

  void prefetchSlot(uint64_t h) const { __builtin_prefetch(&slots_[h & mask_]); }
  void prefetchEntry(uint64_t h) const {
    const Slot& s = slots_[h & mask_];
    if (s.index != 0 && s.index <= entries_.size()) __builtin_prefetch(&entries_[s.index - 1]);
  }

  // Takes a record of `key` as the key's latest if the key belongs to the sample; false if it
  // does not.
  bool add(uint64_t h, std::string_view key, int32_t partition, int64_t sourceOffset,
           const void* payload, size_t len) {
    if (outside(h, key)) return false;
    auto tag = static_cast<uint32_t>(h >> 32);
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      Slot& s = slots_[i];
      if (s.index == 0) break;
      if (s.tag == tag) {
        Sampled& e = entries_[s.index - 1];
        if (e.hash == h && e.key == key) {
          set(e.latest, partition, sourceOffset, payload, len);
          return true;
        }
      }
    }
    if (entries_.size() >= limit_) {
      prune();
      if (outside(h, key)) return false;
    }
    if (2 * (entries_.size() + 1) > slots_.size()) rebuildIndex(slots_.size());
    entries_.push_back({h, arena_.add(key.data(), key.size()), {}});
    set(entries_.back().latest, partition, sourceOffset, payload, len);
    place(h, static_cast<uint32_t>(entries_.size()));
    return true;
  }

  // Whether `add` would take a record of the key now (cheap: no lookup).
  bool mayTake(uint64_t h, std::string_view key) const { return !outside(h, key); }

  // Leaves exactly the sample: at most k entries.
  const std::vector<Sampled>& finish() {
    if (entries_.size() > k_) prune();
    return entries_;
  }

  // The entry of a key, without adding it; nullptr if the table does not hold it.
  const Sampled* lookup(uint64_t h, std::string_view key) const {
    auto tag = static_cast<uint32_t>(h >> 32);
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.index == 0) return nullptr;
      if (s.tag == tag) {
        const Sampled& e = entries_[s.index - 1];
        if (e.hash == h && e.key == key) return &e;
      }
    }
  }

  static bool before(const Sampled& a, const Sampled& b) {
    return a.hash != b.hash ? a.hash < b.hash : a.key < b.key;
  }

 private:
  struct Slot {
    uint32_t tag = 0;
    uint32_t index = 0;  // entry + 1; 0: empty
  };
  static void set(Entry& e, int32_t partition, int64_t sourceOffset, const void* payload,
                  size_t len) {
    e.partition = partition;
    e.sourceOffset = sourceOffset;
    e.tombstone = payload == nullptr;
    if (payload) {
      e.value.assign(static_cast<const char*>(payload), len);
    } else {
      e.value.clear();
    }
  }
  bool outside(uint64_t h, std::string_view key) const {
    return pruned_ && (h > maxHash_ || (h == maxHash_ && key > maxKey_));
  }

  void prune() {
    std::nth_element(entries_.begin(), entries_.begin() + static_cast<ptrdiff_t>(k_ - 1),
                     entries_.end(), before);
    entries_.erase(entries_.begin() + static_cast<ptrdiff_t>(k_), entries_.end());
    const Sampled& last = entries_.back();  // nth_element put the largest kept one there
    maxHash_ = last.hash;
    maxKey_ = last.key;
    pruned_ = true;
    rebuildIndex(entries_.size());
  }

  // An index of at least twice `atLeast` slots, filled from the entries.
  void rebuildIndex(size_t atLeast) {
    size_t n = 16;
    while (n < 2 * atLeast) n <<= 1;
    slots_.assign(n, Slot{});
    mask_ = n - 1;
    for (size_t i = 0; i < entries_.size(); ++i) {
      place(entries_[i].hash, static_cast<uint32_t>(i + 1));
    }
  }
  void place(uint64_t h, uint32_t index) {
    size_t i = h & mask_;
    while (slots_[i].index != 0) i = (i + 1) & mask_;
    slots_[i] = {static_cast<uint32_t>(h >> 32), index};
  }

  size_t k_, limit_;
  bool pruned_ = false;
  uint64_t maxHash_ = 0;
  std::string_view maxKey_;  // in the arena
  std::vector<Sampled> entries_;
  std::vector<Slot> slots_;
  size_t mask_ = 0;
  Arena arena_;
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
  bool pastCut = false;  // its latest record in either output lies past the cut
};

std::optional<std::string> owned(const std::optional<std::string_view>& v) {
  return v ? std::optional<std::string>(std::string(*v)) : std::nullopt;
}

ComparisonResult compareViews(const std::vector<SampleView>& sample, const ComparePolicy& policy) {
  ComparisonResult r;
  r.sampledKeys = static_cast<int64_t>(sample.size());
  std::vector<const SampleView*> differing;  // put in key order afterwards: usually few
  for (const auto& v : sample) {
    if (v.pastCut) {
      ++r.notComparableKeys;
      continue;
    }
    if (!v.serving && !v.candidate) continue;
    ++r.comparedKeys;
    if (v.serving && v.candidate && valuesEqual(*v.serving, *v.candidate, policy)) continue;
    differing.push_back(&v);
  }
  std::sort(differing.begin(), differing.end(),
            [](const SampleView* a, const SampleView* b) { return a->key < b->key; });
  r.mismatchedKeys = static_cast<int64_t>(differing.size());
  for (const SampleView* v : differing) {
    r.mismatched.emplace_hint(r.mismatched.end(), v->key);
    if (r.examples.size() < 5) {
      r.examples.push_back({std::string(v->key), owned(v->serving), owned(v->candidate)});
    }
  }
  r.mismatchRatio = r.comparedKeys ? static_cast<double>(r.mismatchedKeys) / r.comparedKeys : 0;
  r.withinPolicy = r.mismatchRatio <= policy.maxMismatchRatio;
  return r;
}

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

namespace {

// One output read to its last stable offsets: its records of the keys in its own bottom-k
// sample, and the largest source offset per partition.
struct OutputRead {
  explicit OutputRead(size_t k) : table(k) {}
  SampleTable table;
  std::map<int32_t, int64_t> maxOffset;
  bool headers = true;
  uint64_t records = 0;
};

// A reader of `topic` assigned the partitions in `end` from their beginning.
Result<KafkaHandle> openReader(const KafkaClientConfig& config, const std::string& topic,
                               const std::map<int32_t, int64_t>& end) {
  PartitionList assignment(rd_kafka_topic_partition_list_new(static_cast<int>(end.size())));
  for (const auto& [p, off] : end) {
    rd_kafka_topic_partition_list_add(assignment.get(), topic.c_str(), p)->offset =
        RD_KAFKA_OFFSET_BEGINNING;
  }
  auto props = config.properties;
  props["group.id"] = "kappa-validate";  // assign only: never joined nor committed
  props["isolation.level"] = "read_committed";
  props["enable.partition.eof"] = "true";
  props.emplace("queued.min.messages", "1000000");
  // At most 16 MiB fetched ahead per output (librdkafka's default, 64 MiB, is reached only by
  // outputs that large): the read's memory stays a constant, whatever the output's size.
  props.emplace("queued.max.messages.kbytes", "16384");
  props.emplace("fetch.wait.max.ms", "50");
  auto reader = makeHandle(RD_KAFKA_CONSUMER, config.bootstrapServers, props);
  if (!reader) return reader.error();
  if (auto ae = rd_kafka_assign(reader->get(), assignment.get())) return errorOf(ae, "assign");
  return reader;
}

// Where the read of one output stands, per partition number: its end offset (-1: not read,
// or read to its end), and the index of its last record in the batch at hand (-1: none yet).
struct ReadState {
  explicit ReadState(const std::map<int32_t, int64_t>& end)
      : partitions(end.rbegin()->first + 1),
        endOf(static_cast<size_t>(partitions), -1),
        lastIn(static_cast<size_t>(partitions), -1),
        open(end.size()) {
    for (const auto& [p, off] : end) endOf[static_cast<size_t>(p)] = off;
  }
  void close(size_t p) {
    endOf[p] = -1;
    --open;
  }

  const int32_t partitions;
  std::vector<int64_t> endOf;
  std::vector<ssize_t> lastIn;
  std::vector<size_t> inBatch;  // the partitions with a record in the batch at hand
  size_t open;                  // partitions not yet read to their end
};

constexpr ssize_t kAhead = 8;  // records between prefetching a slot and using it

// The source offset in a record's kappa-src-offset header, also raising the largest of its
// partition; -1 (and the output is marked as without headers) if it has none.
int64_t sourceOffset(const rd_kafka_message_t& m, OutputRead& out) {
  auto src = headerInt(m, "kappa-src-offset");
  if (!src) {
    out.headers = false;
    return -1;
  }
  auto& mo = out.maxOffset[m.partition];
  mo = std::max(mo, *src);
  return *src;
}

// Hashes the keys of the batch into `hashes`, prefetching the index slots of the first few.
void hashKeys(rd_kafka_message_t* const* batch, ssize_t n, uint64_t* hashes,
              const SampleTable& table) {
  for (ssize_t i = 0; i < n; ++i) {
    const rd_kafka_message_t* m = batch[i];
    hashes[i] = sampleHash(m->key, m->key ? m->key_len : 0);
    if (i < kAhead) table.prefetchSlot(hashes[i]);
  }
}

// Adds the records of the batch below their partitions' end offsets to the sample, noting
// each partition's last record in the batch and closing the partitions read to their end.
void sampleBatch(rd_kafka_message_t* const* batch, ssize_t n, const uint64_t* hashes,
                 ReadState& state, OutputRead& out) {
  SampleTable& table = out.table;
  for (ssize_t i = 0; i < n; ++i) {
    if (i + kAhead < n) table.prefetchSlot(hashes[i + kAhead]);
    if (i + kAhead / 2 < n) table.prefetchEntry(hashes[i + kAhead / 2]);
    const rd_kafka_message_t* m = batch[i];
    auto p = static_cast<size_t>(m->partition);
    if (m->partition < 0 || m->partition >= state.partitions || state.endOf[p] < 0) continue;
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      state.close(p);
      continue;
    }
    if (m->err || m->offset >= state.endOf[p]) continue;
    ++out.records;
    std::string_view key(static_cast<const char*>(m->key), m->key ? m->key_len : 0);
    if (table.mayTake(hashes[i], key)) {
      table.add(hashes[i], key, m->partition, sourceOffset(*m, out), m->payload, m->len);
    }
    if (state.lastIn[p] < 0) state.inBatch.push_back(p);
    state.lastIn[p] = i;
    if (m->offset + 1 >= state.endOf[p]) state.close(p);
  }
}

// Reads the source offsets of the partitions' last records in the batch.
void readLastOffsets(rd_kafka_message_t* const* batch, ReadState& state, OutputRead& out) {
  for (size_t p : state.inBatch) {
    sourceOffset(*batch[state.lastIn[p]], out);
    state.lastIn[p] = -1;
  }
  state.inBatch.clear();
}

// Reads `topic` (the partitions in `end`, each up to its end offset) into `out`.
//
// Parsing a record's headers costs librdkafka a few allocations, so the comparator reads the
// kappa-src-offset header only where it is needed: on the records of sampled keys, and on
// the last record of each partition in each consumed batch. A worker writes a partition's
// records in source order, so the partition's last record, the last of its last batch,
// carries its largest source offset. (With an output that is not in source order the cut
// would only be earlier, never past what either output holds.) No record is kept past its
// batch: a kept record would keep its whole fetch response in memory.
Result<void> readOutput(const KafkaClientConfig& config, const std::string& topic,
                        const std::map<int32_t, int64_t>& end, OutputRead& out,
                        CompareProgress* progress) {
  if (end.empty()) return {};
  auto reader = openReader(config, topic, end);
  if (!reader) return reader.error();
  rd_kafka_poll_set_consumer(reader->get());
  RdPtr<rd_kafka_queue_t> queue(rd_kafka_queue_get_consumer(reader->get()));

  ReadState state(end);
  std::vector<rd_kafka_message_t*> batch(10000);
  ssize_t n = 0;
  struct Release {  // the messages of the batch at hand, whatever way the loop is left
    std::vector<rd_kafka_message_t*>& batch;
    ssize_t& n;
    ~Release() {
      for (ssize_t i = 0; i < n; ++i) rd_kafka_message_destroy(batch[i]);
    }
  } release{batch, n};
  std::vector<uint64_t> hashes(batch.size());
  auto lastProgress = SteadyClock::now();
  while (state.open > 0) {
    n = consumeQueued(queue.get(), batch.data(), batch.size(), 20);
    if (n > 0) {
      lastProgress = SteadyClock::now();
    } else if (SteadyClock::now() - lastProgress > config.timeout) {
      return Error{ErrorCode::kTimeout,
                   "no progress for " + std::to_string(config.timeout.count()) + " ms"};
    }
    hashKeys(batch.data(), n, hashes.data(), out.table);
    sampleBatch(batch.data(), n, hashes.data(), state, out);
    readLastOffsets(batch.data(), state, out);
    if (progress && n > 0) progress->recordsRead.fetch_add(n, std::memory_order_relaxed);
    for (ssize_t i = 0; i < n; ++i) rd_kafka_message_destroy(batch[i]);
    n = 0;
  }
  return {};
}

// The end offsets of the partitions of `topic` that hold records.
Result<std::map<int32_t, int64_t>> nonEmptyEnds(KafkaAdmin& admin, const std::string& topic) {
  auto e = admin.endOffsets(topic);
  if (!e) return Error{e.error().code, topic + ": " + e.error().message};
  std::map<int32_t, int64_t> end;
  for (const auto& [p, off] : *e) {
    if (off > 0) end[p] = off;
  }
  return end;
}

// Reads the serving (0) and candidate (1) outputs into `reads`.
//
// Each output is read by a reader of its own on a thread of its own (a librdkafka client
// decodes fetched records on one thread per broker, so one client for both outputs would
// decode them one after the other), into a bottom-k sample of its own keys. The sample of
// the union is the k smallest keys of the two samples together: a key among the k smallest
// of the union is among the k smallest of each output it occurs in.
Result<void> readBoth(const KafkaClientConfig& config, const std::string* const (&topics)[2],
                      const std::map<int32_t, int64_t> (&end)[2], OutputRead (&reads)[2],
                      CompareProgress* progress) {
  Result<void> outcome[2];
  {
    std::jthread candidate(
        [&] { outcome[1] = readOutput(config, *topics[1], end[1], reads[1], progress); });
    outcome[0] = readOutput(config, *topics[0], end[0], reads[0], progress);
  }
  for (int v = 0; v < 2; ++v) {
    if (!outcome[v]) {
      return Error{outcome[v].error().code,
                   "reading " + *topics[v] + ": " + outcome[v].error().message};
    }
  }
  return {};
}

// C_p per partition: the smaller of the two outputs' largest source offsets, + 1 (0 where
// only one output has the partition).
PartitionOffsets cutOf(const OutputRead (&reads)[2]) {
  PartitionOffsets cut;
  for (const auto& [p, a] : reads[0].maxOffset) {
    auto b = reads[1].maxOffset.find(p);
    cut[p] = b == reads[1].maxOffset.end() ? 0 : std::min(a, b->second) + 1;
  }
  for (const auto& [p, b] : reads[1].maxOffset) cut.emplace(p, 0);
  return cut;
}

// A key of the union sample, with its entry in each output's sample (nullptr: not there).
struct Joined {
  const SampleTable::Sampled* serving;
  const SampleTable::Sampled* candidate;
  const SampleTable::Sampled& any() const { return serving ? *serving : *candidate; }
};

// The k smallest (hash, key) of both samples, each key once with both outputs' records:
// the serving sample's keys, each joined with the candidate's entry through its index, then
// the keys only the candidate has; trimmed to k in linear time when there are more.
std::vector<Joined> joinSamples(OutputRead (&reads)[2], size_t k) {
  const auto& servingSample = reads[0].table.finish();
  const auto& candidateSample = reads[1].table.finish();
  std::vector<Joined> joined;
  joined.reserve(servingSample.size() + candidateSample.size());
  for (const auto& e : servingSample) {
    joined.push_back({&e, reads[1].table.lookup(e.hash, e.key)});
  }
  for (const auto& e : candidateSample) {
    if (!reads[0].table.lookup(e.hash, e.key)) joined.push_back({nullptr, &e});
  }
  if (joined.size() > k) {
    std::nth_element(
        joined.begin(), joined.begin() + static_cast<ptrdiff_t>(k), joined.end(),
        [](const Joined& a, const Joined& b) { return SampleTable::before(a.any(), b.any()); });
    joined.resize(k);
  }
  return joined;
}

// Whether a sampled key's latest record in one output lies past the cut. Such a key is not
// compared at this cut: the output's record of it below the cut may have been compacted
// away, so its absence there proves nothing.
bool pastCut(const SampleTable::Sampled* e, const ComparisonResult& result) {
  if (!e || !result.consistentCut) return false;
  auto cut = result.cut.find(e->latest.partition);
  return cut == result.cut.end() || e->latest.sourceOffset >= cut->second;
}

// The value of a sampled key in one output: its latest record's; nullopt if it has none or
// that is a tombstone.
std::optional<std::string_view> latestValue(const SampleTable::Sampled* e) {
  if (!e || e->latest.tombstone) return std::nullopt;
  return e->latest.value;
}

}  // namespace

Result<bool> KafkaOutputComparator::written(const std::string& topic) {
  auto admin = RdKafkaAdmin::create(config_);
  if (!admin) return admin.error();
  auto end = (*admin)->endOffsets(topic);
  if (!end) return end.error().code == ErrorCode::kNotFound ? Result<bool>(false) : end.error();
  for (const auto& [partition, offset] : *end) {
    if (offset > 0) return true;
  }
  return false;
}

Result<ComparisonResult> KafkaOutputComparator::compare(const std::string& servingTopic,
                                                        const std::string& candidateTopic,
                                                        const ComparePolicy& policy,
                                                        CompareProgress* progress) {
  if (policy.sampleKeys <= 0) return Error{ErrorCode::kInvalidArgument, "sampleKeys must be > 0"};
  auto admin = RdKafkaAdmin::create(config_);
  if (!admin) return admin.error();
  const std::string* const topics[2] = {&servingTopic, &candidateTopic};
  std::map<int32_t, int64_t> end[2];
  for (int v = 0; v < 2; ++v) {
    auto e = nonEmptyEnds(**admin, *topics[v]);
    if (!e) return e.error();
    end[v] = std::move(*e);
  }
  if (progress) {
    // Offsets, not records: commit markers count too, so this is an upper bound.
    int64_t total = 0;
    for (const auto& e : end) {
      for (const auto& [p, off] : e) total += off;
    }
    progress->recordsRead = 0;
    progress->recordsToRead = total;
  }
  auto k = static_cast<size_t>(policy.sampleKeys);
  OutputRead reads[2] = {OutputRead(k), OutputRead(k)};
  if (auto r = readBoth(config_, topics, end, reads, progress); !r) return r.error();

  ComparisonResult result;
  result.consistentCut = policy.sameSource && reads[0].headers && reads[1].headers &&
                         reads[0].records > 0 && reads[1].records > 0;
  if (result.consistentCut) result.cut = cutOf(reads);
  std::vector<Joined> joined = joinSamples(reads, k);
  std::vector<SampleView> sample;
  sample.reserve(joined.size());
  for (const auto& j : joined) {
    sample.push_back({j.any().key, latestValue(j.serving), latestValue(j.candidate),
                      pastCut(j.serving, result) || pastCut(j.candidate, result)});
  }
  auto compared = compareViews(sample, policy);
  compared.consistentCut = result.consistentCut;
  compared.cut = std::move(result.cut);
  return compared;
}

std::ostream& operator<<(std::ostream& os, const ComparisonResult& r) {
  os << "{sampled=" << r.sampledKeys << " compared=" << r.comparedKeys
     << " mismatched=" << r.mismatchedKeys << " not_comparable=" << r.notComparableKeys
     << " ratio=" << r.mismatchRatio << (r.consistentCut ? " cut" : " latest") << "}";
  for (const auto& e : r.examples) {
    os << "\n  " << e.key << ": " << e.serving.value_or("<absent>") << " vs "
       << e.candidate.value_or("<absent>");
  }
  return os;
}

std::string fieldDiff(const std::optional<std::string>& serving,
                      const std::optional<std::string>& candidate) {
  auto parse = [](const std::optional<std::string>& text) {
    if (!text) return nlohmann::json();
    nlohmann::json j = nlohmann::json::parse(*text, nullptr, false);
    return j.is_discarded() ? nlohmann::json(*text) : j;
  };
  // Values may hold any bytes: invalid UTF-8 is shown as U+FFFD, never thrown on.
  auto dump = [](const nlohmann::json& j) {
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  };
  auto whole = [&](const std::optional<std::string>& text, const nlohmann::json& j) {
    return text ? dump(j) : std::string("(none)");
  };
  nlohmann::json a = parse(serving), b = parse(candidate);
  if (!a.is_object() || !b.is_object()) return whole(serving, a) + " -> " + whole(candidate, b);
  std::string out;
  auto add = [&](const std::string& field, const std::string& from, const std::string& to) {
    if (!out.empty()) out += ", ";
    out += field + ": " + from + " -> " + to;
  };
  for (const auto& [k, v] : a.items()) {
    auto other = b.find(k);
    if (other == b.end()) {
      add(k, dump(v), "(none)");
    } else if (*other != v) {
      add(k, dump(v), dump(*other));
    }
  }
  for (const auto& [k, v] : b.items()) {
    if (!a.contains(k)) add(k, "(none)", dump(v));
  }
  return out;
}

}  // namespace kappa::kafka
