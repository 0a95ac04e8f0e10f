// ServingView and ServingConsumer: the alias watch (an informer on the one ConfigMap), views
// built by a thread each, and the swap (follow_rules.h decides, a coordinator thread acts).
#include "runtime/serve/serving_reader.h"

#include <absl/container/flat_hash_map.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <stdexcept>
#include <thread>

#include "runtime/kafka/rdkafka_handles.h"
#include "runtime/kube/http_kube_api.h"
#include "runtime/kube/informer.h"
#include "runtime/kube/kube_config.h"
#include "runtime/serve/follow_rules.h"
#include "runtime/serve/topic_reader.h"

namespace kappa::serve {
namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kHeaderPartition = "kappa-src-partition";
constexpr const char* kHeaderOffset = "kappa-src-offset";

// What the alias names.
struct Target {
  std::string version;
  std::string topic;
  bool operator==(const Target&) const = default;
};

// The alias ConfigMap <pipeline>-serving, watched; `onChange` runs on the informer's thread
// with every target it names (the same one again after a relist: callers compare).
class AliasWatch {
 public:
  AliasWatch(const ReaderOptions& options, std::function<void(const Target&)> onChange) {
    auto config = options.kubeconfig.empty() ? kube::loadDefaultConfig()
                                             : kube::loadKubeconfigFile(options.kubeconfig);
    if (!config) throw std::runtime_error("kubernetes client: " + config.error().message);
    kube::ClientOptions client;
    client.userAgent = "kappa-serve";
    auto api = kube::HttpKubeApi::create(*config, client);
    if (!api) throw std::runtime_error("kubernetes client: " + api.error().message);
    api_ = std::move(*api);
    kube::InformerOptions io;
    io.collection = {kube::resources::configMaps(), options.ns};
    io.fieldSelector = "metadata.name=" + options.pipeline + "-serving";
    informer_ = std::make_unique<kube::Informer>(*api_, std::move(io));
    auto handle = [onChange](const kube::Informer::Ptr& cm) {
      const kube::Json empty = kube::Json::object();
      const kube::Json& data = cm->contains("data") ? (*cm)["data"] : empty;
      Target t{data.value("version", ""), data.value("topic", "")};
      // An alias the operator wrote names both; anything else is not followed.
      if (!t.topic.empty() && !t.version.empty()) onChange(t);
    };
    informer_->addHandlers({.onAdd = handle,
                            .onUpdate = [handle](const auto&, const auto& cm) { handle(cm); },
                            .onDelete = {}});
    informer_->start();
  }
  ~AliasWatch() { informer_->stop(); }

 private:
  std::unique_ptr<kube::HttpKubeApi> api_;
  std::unique_ptr<kube::Informer> informer_;
};

kafka::KafkaClientConfig kafkaConfig(const ReaderOptions& o) {
  if (o.bootstrapServers.empty()) throw std::runtime_error("no Kafka bootstrap servers given");
  return {o.bootstrapServers, o.kafkaProperties, std::chrono::seconds(10)};
}

// The source position a record carries; the partition defaults to its output partition
// (kappa-worker's output is partition-aligned).
SourcePosition positionOf(const rd_kafka_message_t& m) {
  auto offset = kafka::headerInt(m, kHeaderOffset);
  if (!offset) return {};
  auto partition = kafka::headerInt(m, kHeaderPartition);
  return {partition ? static_cast<int32_t>(*partition) : m.partition, *offset};
}

std::string_view keyOf(const rd_kafka_message_t& m) {
  return {static_cast<const char*>(m.key), m.key_len};
}

// The table's key type for lookups (abseil's own string_view where it has one).
absl::string_view tableKey(std::string_view k) { return {k.data(), k.size()}; }

// ---- ServingView ----

// One version's view: key -> latest value, filled by a thread that reads the version's
// output topic from its beginning and then follows it.
class VersionView {
 public:
  struct Entry {
    std::string value;
    SourcePosition position;
  };

  VersionView(kafka::KafkaClientConfig config, Target target)
      : target_(std::move(target)), started_(Clock::now()) {
    thread_ = std::jthread([this, config = std::move(config)](std::stop_token stop) {
      run(config, stop);
      done_ = true;
    });
  }
  // Asks the thread to end, without waiting (it may be inside a broker request).
  void requestStop() { thread_.request_stop(); }
  // While held, the view takes no new records: its position stands still, so that a new
  // view running a little behind it (two live versions commit at different moments) can
  // reach it.
  void hold(bool on) { held_ = on; }
  bool stopped() const { return done_; }

  const Target& target() const { return target_; }

  Answer get(std::string_view key) const {
    std::shared_lock lock(mu_);
    return getLocked(key);
  }
  std::vector<Answer> getMany(const std::vector<std::string>& keys) const {
    std::shared_lock lock(mu_);
    std::vector<Answer> out;
    out.reserve(keys.size());
    for (const auto& k : keys) out.push_back(getLocked(k));
    return out;
  }
  KeyList keys(size_t limit) const {
    std::shared_lock lock(mu_);
    KeyList out{target_.version, {}};
    for (const auto& [k, e] : table_) {
      if (out.keys.size() >= limit) break;
      out.keys.push_back(k);
    }
    return out;
  }

  struct Progress {
    // Per source partition, the last source offset applied, and the last one applied in
    // full: the records of one source offset may span two reads, so an offset counts as
    // complete once a later one, or the partition's end, has been read.
    SourcePositions position;
    SourcePositions complete;
    bool atEnd = false;
    Clock::time_point atEndSince;
    bool headers = true;
    uint64_t keys = 0;
    uint64_t records = 0;
    int64_t lag = 0;
    double buildRecordsPerSecond = 0;
    std::string error;
  };
  Progress progress() const {
    std::shared_lock lock(mu_);
    return progressLocked();
  }
  // Runs f(progress) with the view's writes (and reads) held off: what f decides from the
  // view's position stays true until it returns. When f returns true (the view was swapped
  // out) the view takes no record any more: a read already under way is dropped, so that
  // no reader still holding it gets an answer past the swap.
  template <class F>
  void whilePaused(F&& f) {
    std::unique_lock lock(mu_);
    if (f(progressLocked())) frozen_ = true;
  }

 private:
  Progress progressLocked() const {
    Progress p;
    p.position = position_;
    p.complete = complete_;
    p.atEnd = atEnd_;
    p.atEndSince = atEndSince_;
    p.headers = headers_;
    p.keys = table_.size();
    p.records = records_;
    p.lag = lag_;
    p.buildRecordsPerSecond = buildRecordsPerSecond_;
    p.error = error_;
    return p;
  }

  Answer getLocked(std::string_view key) const {
    Answer a;
    a.version = target_.version;
    a.topic = target_.topic;
    auto it = table_.find(tableKey(key));
    if (it != table_.end()) {
      a.value = it->second.value;
      a.position = it->second.position;
    }
    return a;
  }

  void run(const kafka::KafkaClientConfig& config, const std::stop_token& stop) {
    auto backoff = std::chrono::milliseconds(200);
    std::optional<TopicReader> reader;
    std::vector<rd_kafka_message_t*> batch;
    batch.reserve(kBatch);
    while (!stop.stop_requested()) {
      if (!reader) {
        auto r = TopicReader::open(config, target_.topic);
        if (!r) {
          setError(r.error().message);
          sleepFor(stop, backoff);
          backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
          continue;
        }
        reader.emplace(std::move(*r));
        setError({});
      }
      if (held_) {
        sleepFor(stop, std::chrono::milliseconds(5));
        continue;
      }
      auto n = reader->read(batch, 100);
      if (!n) {
        setError(n.error().message);
        continue;
      }
      apply(batch, *reader);
      for (auto* m : batch) rd_kafka_message_destroy(m);
      if (auto e = reader->takeError(); !e.empty()) setError(e);
    }
  }

  // One read's records (none, at the end of the data) and where the reader stands.
  void apply(const std::vector<rd_kafka_message_t*>& batch, const TopicReader& reader) {
    std::unique_lock lock(mu_);
    if (frozen_) return;
    for (const auto* m : batch) {
      SourcePosition pos = positionOf(*m);
      if (pos.offset < 0) {
        headers_ = false;
      } else {
        auto& last = position_[pos.partition];
        last = std::max(last, pos.offset);
      }
      std::string_view key = keyOf(*m);
      if (m->payload == nullptr) {
        if (auto it = table_.find(tableKey(key)); it != table_.end()) table_.erase(it);
      } else {
        auto& e = table_[tableKey(key)];
        e.value.assign(static_cast<const char*>(m->payload), m->len);
        e.position = pos;
      }
    }
    records_ += batch.size();
    // Output partition p holds source partition p (kappa-worker's output is aligned).
    for (const auto& [p, last] : position_) complete_[p] = reader.atEndOf(p) ? last : last - 1;
    lag_ = reader.lag();
    if (reader.atEnd() && !atEnd_) {
      atEnd_ = true;
      atEndSince_ = Clock::now();
      double s = std::chrono::duration<double>(atEndSince_ - started_).count();
      buildRecordsPerSecond_ = s > 0 ? static_cast<double>(records_) / s : 0;
    }
  }

  void setError(std::string e) {
    std::unique_lock lock(mu_);
    error_ = std::move(e);
  }
  static void sleepFor(const std::stop_token& stop, std::chrono::milliseconds d) {
    std::mutex m;
    std::condition_variable_any cv;
    std::unique_lock lock(m);
    cv.wait_for(lock, stop, d, [] { return false; });
  }

  // Records applied under one hold of the lock: readers wait at most that long.
  static constexpr size_t kBatch = 1024;

  const Target target_;
  const Clock::time_point started_;
  mutable std::shared_mutex mu_;
  absl::flat_hash_map<std::string, Entry> table_;
  SourcePositions position_;
  SourcePositions complete_;
  bool atEnd_ = false;
  Clock::time_point atEndSince_;
  bool headers_ = true;
  uint64_t records_ = 0;
  int64_t lag_ = 0;
  double buildRecordsPerSecond_ = 0;
  std::string error_;
  std::atomic<bool> done_{false};
  std::atomic<bool> held_{false};
  bool frozen_ = false;  // swapped out: applies nothing more
  std::jthread thread_;  // last: joined before the members it uses go
};

class ServingViewImpl final : public ServingView {
 public:
  explicit ServingViewImpl(const ReaderOptions& options)
      : kafka_(kafkaConfig(options)), alignTimeout_(options.alignTimeout) {
    coordinator_ = std::jthread([this](std::stop_token stop) { coordinate(stop); });
    alias_ = std::make_unique<AliasWatch>(options, [this](const Target& t) { onAlias(t); });
  }
  ~ServingViewImpl() override {
    alias_.reset();
    coordinator_.request_stop();
    cv_.notify_all();
    coordinator_.join();
    std::lock_guard lock(mu_);
    for (const auto& v : {current_, building_}) {
      if (v) v->requestStop();
    }
    for (const auto& v : retired_) v->requestStop();
  }

  bool waitReady(std::chrono::milliseconds timeout) const override {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [this] { return current_ != nullptr; });
  }

  Answer get(std::string_view key) const override {
    auto view = current();
    return view ? view->get(key) : Answer{};
  }
  std::vector<Answer> getMany(const std::vector<std::string>& keys) const override {
    auto view = current();
    return view ? view->getMany(keys) : std::vector<Answer>(keys.size());
  }
  KeyList keys(size_t limit) const override {
    auto view = current();
    return view ? view->keys(limit) : KeyList{};
  }

  ViewStats stats() const override {
    std::shared_ptr<VersionView> cur, next;
    ViewStats s;
    {
      std::lock_guard lock(mu_);
      cur = current_;
      next = building_;
      s.swaps = swaps_;
      s.unalignedSwaps = unalignedSwaps_;
      s.lastSwapSeconds = lastSwapSeconds_;
      s.lastBuildRecordsPerSecond = lastBuildRate_;
    }
    if (cur) {
      auto p = cur->progress();
      s.ready = true;
      s.version = cur->target().version;
      s.topic = cur->target().topic;
      s.keys = p.keys;
      s.records = p.records;
      s.lagRecords = p.lag;
      s.sourcePosition = p.position;
      s.lastError = p.error;
    }
    if (next) {
      auto p = next->progress();
      s.building = next->target().version;
      s.buildingRecords = p.records;
      if (!p.error.empty()) s.lastError = p.error;
    }
    return s;
  }

 private:
  std::shared_ptr<VersionView> current() const {
    std::lock_guard lock(mu_);
    return current_;
  }

  // On the informer's thread: never waits for a view (the coordinator reaps them).
  void onAlias(const Target& t) {
    {
      std::lock_guard lock(mu_);
      if (building_ && building_->target() == t) return;
      if (building_) retire(std::move(building_));
      if (current_) current_->hold(false);
      // Flipped back before the new view was swapped in: keep answering as before.
      if (!current_ || current_->target() != t) {
        building_ = std::make_shared<VersionView>(kafka_, t);
        flipSeen_ = Clock::now();
      }
    }
    cv_.notify_all();
  }

  void retire(std::shared_ptr<VersionView> v) {
    v->requestStop();
    retired_.push_back(std::move(v));
  }

  void coordinate(const std::stop_token& stop) {
    while (!stop.stop_requested()) {
      std::shared_ptr<VersionView> next, cur;
      std::vector<std::shared_ptr<VersionView>> reaped;  // freed at the end of the round
      {
        std::unique_lock lock(mu_);
        cv_.wait_for(lock, stop, std::chrono::milliseconds(20), [] { return false; });
        if (stop.stop_requested()) break;
        reap(reaped);
        next = building_;
        cur = current_;
        if (!next && cur) cur->hold(false);
      }
      if (!next) continue;
      // Unlocked: a view's lock may be held for a while by its writes (a rehash), and
      // readers need mu_ for every answer.
      auto p = next->progress();
      SwapInputs in;
      in.candidate = p.complete;
      in.candidateAtEnd = p.atEnd;
      in.headers = p.headers;
      in.alignTimeout = alignTimeout_;
      if (p.atEnd) {
        in.waited =
            std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - p.atEndSince);
      }
      // Whether the swap was made.
      auto trySwap = [&](const VersionView::Progress* now) {
        if (now) {
          in.current = now->position;
          in.headers = in.headers && now->headers;
        }
        auto decision = decideSwap(in);
        if (decision == SwapDecision::Wait) return false;
        std::lock_guard lock(mu_);
        if (building_ != next || current_ != cur) return false;  // the alias moved meanwhile
        if (cur) {
          ++swaps_;
          if (decision == SwapDecision::SwapUnaligned) ++unalignedSwaps_;
          lastSwapSeconds_ = std::chrono::duration<double>(Clock::now() - flipSeen_).count();
          retire(std::move(current_));
        }
        lastBuildRate_ = p.buildRecordsPerSecond;
        current_ = std::move(building_);
        current_->hold(false);
        return true;
      };
      if (cur && p.atEnd) {
        {
          // Once the new view has read its topic, the serving one stops taking records for
          // a while (kMaxHold): both versions run live and commit at different moments, so
          // the serving view would otherwise often be a transaction ahead. Its answers keep
          // their values meanwhile. Set under mu_, and only while this build is the one the
          // alias wants (onAlias lifts the hold when it drops a build).
          std::lock_guard lock(mu_);
          if (building_ == next && current_ == cur) cur->hold(in.waited < kMaxHold);
        }
        // The serving view stands still from reading its position to the swap, so that no
        // answer from it is past what the new view holds.
        cur->whilePaused([&](const VersionView::Progress& now) { return trySwap(&now); });
      } else if (!cur) {
        trySwap(nullptr);
      }
      cv_.notify_all();
    }
  }

  // Moves out the retired views whose thread has ended and that no reader holds any more:
  // the caller frees them on its own thread, after letting go of mu_ (freeing a large table
  // takes time, and every answer needs mu_).
  void reap(std::vector<std::shared_ptr<VersionView>>& out) {
    std::erase_if(retired_, [&](std::shared_ptr<VersionView>& v) {
      if (!v->stopped() || v.use_count() != 1) return false;
      out.push_back(std::move(v));
      return true;
    });
  }

  // The longest the serving view stands still waiting for a new view to reach it; after
  // that it follows its topic again and the swap waits for alignment (or alignTimeout).
  static constexpr std::chrono::milliseconds kMaxHold{5000};

  const kafka::KafkaClientConfig kafka_;
  const std::chrono::milliseconds alignTimeout_;
  mutable std::mutex mu_;
  mutable std::condition_variable_any cv_;
  std::shared_ptr<VersionView> current_;
  std::shared_ptr<VersionView> building_;
  std::vector<std::shared_ptr<VersionView>> retired_;
  Clock::time_point flipSeen_;
  uint64_t swaps_ = 0;
  uint64_t unalignedSwaps_ = 0;
  double lastSwapSeconds_ = 0;
  double lastBuildRate_ = 0;
  std::jthread coordinator_;
  std::unique_ptr<AliasWatch> alias_;  // last: its callbacks use the members above
};

// ---- ServingConsumer ----

class ServingConsumerImpl final : public ServingConsumer {
 public:
  explicit ServingConsumerImpl(const ReaderOptions& options) : kafka_(kafkaConfig(options)) {
    alias_ = std::make_unique<AliasWatch>(options, [this](const Target& t) {
      std::lock_guard lock(mu_);
      target_ = t;
    });
  }
  ~ServingConsumerImpl() override {
    alias_.reset();
    dropPending();
  }

  std::optional<Record> poll(std::chrono::milliseconds timeout) override {
    auto deadline = Clock::now() + timeout;
    while (true) {
      auto wanted = target();
      // Flipped back to the topic being read after records of it were dropped while
      // finishing: it is read again from its beginning past what was delivered.
      if (wanted && reader_ && *wanted == reading_ && droppedFromReader_ && !finishing_) {
        switchTo(*wanted);
      }
      if (wanted && (!reader_ || *wanted != reading_) && !finishing_) beginSwitch(*wanted);
      if (finishing_) {
        if (auto r = finishGroups(*wanted, deadline)) return r;
        if (finishing_ && Clock::now() >= deadline) return std::nullopt;
        continue;
      }
      if (next_ < pending_.size()) {
        if (auto r = take()) return r;
        continue;
      }
      if (Clock::now() >= deadline) return std::nullopt;
      if (!reader_) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        continue;
      }
      refill(deadline);
    }
  }

  ConsumerStats stats() const override {
    std::lock_guard lock(mu_);
    return stats_;
  }

 private:
  std::optional<Target> target() const {
    std::lock_guard lock(mu_);
    return target_;
  }

  // The alias names another topic. When records with positions were delivered from the old
  // one, the source offsets they stopped at may have more records to come (one source
  // record can make several output records): those are delivered first (finishGroups),
  // then the switch is made. Otherwise it is made at once.
  void beginSwitch(const Target& t) {
    if (reader_ && headersSeen_ && !deliveredHere_.empty()) {
      finishing_ = deliveredHere_;
      finishingSince_ = Clock::now();
      return;
    }
    switchTo(t);
  }

  // Delivers the old topic's records of the source offsets last delivered, until each such
  // partition shows a later offset or its end; then switches. Returns a record to deliver.
  std::optional<Record> finishGroups(const Target& t, Clock::time_point deadline) {
    while (next_ < pending_.size()) {
      SourcePosition pos = positionOf(*pending_[next_]);
      auto last = delivered_.find(pos.partition);
      if (pos.offset >= 0 && last != delivered_.end() && finishing_->contains(pos.partition)) {
        if (pos.offset == last->second) return take();
        if (pos.offset > last->second) finishing_->erase(pos.partition);
      }
      droppedFromReader_ = true;
      drop();
    }
    for (auto it = finishing_->begin(); it != finishing_->end();) {
      it = reader_->atEndOf(*it) ? finishing_->erase(it) : std::next(it);
    }
    // Output partition p is taken to hold source partition p (kappa-worker's layout); an
    // output laid out otherwise may never show p's end: the switch is not put off forever.
    if (Clock::now() - finishingSince_ > kMaxFinishing) finishing_->clear();
    if (finishing_->empty()) {
      switchTo(t);
      return std::nullopt;
    }
    if (Clock::now() < deadline) refill(deadline);
    return std::nullopt;
  }

  void switchTo(const Target& t) {
    bool first = !reader_;
    bool aligned = !first && headersSeen_;
    // Where the new topic ends now: records without positions are delivered only from there.
    auto ends = TopicReader::endOffsets(kafka_, t.topic);
    if (!ends) return retryLater(ends.error().message);
    // Aligned, a partition is read from its beginning when its delivered position is known,
    // or when every switch so far was aligned (nothing of it delivered yet); otherwise, as
    // after an unaligned switch, from its end now.
    kafka::PartitionOffsets start;
    if (!first) {
      for (const auto& [p, end] : *ends) {
        if (!aligned || (!delivered_.contains(p) && !placeable_)) start[p] = end;
      }
    }
    auto r = TopicReader::open(kafka_, t.topic, start);
    if (!r) return retryLater(r.error().message);
    dropPending();
    finishing_.reset();
    reader_.emplace(std::move(*r));
    reading_ = t;
    cursor_.reset();
    if (aligned) cursor_.emplace(delivered_);
    if (!aligned) delivered_.clear();
    if (!first && !aligned) placeable_ = false;
    deliveredHere_.clear();
    droppedFromReader_ = false;
    switchEnds_ = first ? kafka::PartitionOffsets{} : *ends;
    headersSeen_ = true;
    unalignedCounted_ = !aligned;
    std::lock_guard lock(mu_);
    stats_.version = t.version;
    stats_.topic = t.topic;
    stats_.lastError.clear();
    if (!first) {
      ++stats_.switches;
      if (!aligned) ++stats_.unalignedSwitches;
    }
  }

  void retryLater(const std::string& error) {
    {
      std::lock_guard lock(mu_);
      stats_.lastError = error;
    }
    finishing_.reset();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }

  void refill(Clock::time_point deadline) {
    dropPending();
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    pending_.reserve(1024);
    auto n = reader_->read(pending_, static_cast<int>(std::clamp<int64_t>(wait.count(), 0, 100)));
    next_ = 0;
    std::string error = n ? reader_->takeError() : n.error().message;
    if (!error.empty()) {
      std::lock_guard lock(mu_);
      stats_.lastError = error;
    }
  }

  // The next pending record, or nullopt when it is not delivered (already delivered by the
  // old topic, or without a position and before the new topic's end at the switch).
  std::optional<Record> take() {
    rd_kafka_message_t* m = pending_[next_];
    SourcePosition pos = positionOf(*m);
    bool deliver = true;
    if (pos.offset < 0) {
      headersSeen_ = false;
      if (cursor_) {
        auto end = switchEnds_.find(m->partition);
        deliver = end == switchEnds_.end() || m->offset >= end->second;
        if (!unalignedCounted_) {
          unalignedCounted_ = true;
          std::lock_guard lock(mu_);
          ++stats_.unalignedSwitches;
        }
      }
    } else if (cursor_) {
      deliver = cursor_->deliver(pos.partition, pos.offset);
    }
    std::optional<Record> out;
    if (!deliver) {
      std::lock_guard lock(mu_);
      ++stats_.skippedAtSwitch;
    } else {
      if (pos.offset >= 0) {
        auto& last = delivered_[pos.partition];
        last = std::max(last, pos.offset);
        deliveredHere_.insert(pos.partition);
      }
      Record r;
      r.key.assign(keyOf(*m));
      if (m->payload) r.value.emplace(static_cast<const char*>(m->payload), m->len);
      r.version = reading_.version;
      r.topic = reading_.topic;
      r.outputPartition = m->partition;
      r.outputOffset = m->offset;
      r.position = pos;
      out = std::move(r);
      std::lock_guard lock(mu_);
      ++stats_.delivered;
    }
    drop();
    return out;
  }

  // Destroys the next pending record (taken or dropped).
  void drop() {
    rd_kafka_message_destroy(pending_[next_]);
    pending_[next_++] = nullptr;
    if (next_ == pending_.size()) {
      pending_.clear();
      next_ = 0;
    }
  }
  void dropPending() {
    for (size_t i = next_; i < pending_.size(); ++i) rd_kafka_message_destroy(pending_[i]);
    pending_.clear();
    next_ = 0;
  }

  const kafka::KafkaClientConfig kafka_;
  mutable std::mutex mu_;
  std::optional<Target> target_;  // what the alias names (the informer thread writes it)
  ConsumerStats stats_;
  // The poll thread's own.
  std::optional<TopicReader> reader_;
  Target reading_;
  std::optional<SwitchCursor> cursor_;
  kafka::PartitionOffsets switchEnds_;
  SourcePositions delivered_;
  bool headersSeen_ = true;  // every record delivered from the current topic had a position
  bool unalignedCounted_ = false;
  std::optional<std::set<int32_t>> finishing_;  // partitions whose last group may go on
  static constexpr std::chrono::seconds kMaxFinishing{10};
  Clock::time_point finishingSince_;
  std::set<int32_t> deliveredHere_;  // partitions delivered from the current topic
  bool droppedFromReader_ = false;   // records of the current topic dropped while finishing
  // Every switch so far was aligned: a partition with nothing delivered yet is read from
  // its beginning (after an unaligned one, only partitions with a known position are).
  bool placeable_ = true;
  std::vector<rd_kafka_message_t*> pending_;  // entries before next_ are null
  size_t next_ = 0;
  std::unique_ptr<AliasWatch> alias_;  // last: its callback uses the members above
};

}  // namespace

std::unique_ptr<ServingView> ServingView::open(const ReaderOptions& options) {
  return std::make_unique<ServingViewImpl>(options);
}

std::unique_ptr<ServingConsumer> ServingConsumer::open(const ReaderOptions& options) {
  return std::make_unique<ServingConsumerImpl>(options);
}

}  // namespace kappa::serve
