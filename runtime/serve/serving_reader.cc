// ServingView and ServingConsumer: the alias watch (an informer on the one ConfigMap), views
// built by a thread each, and the swap (follow_rules.h decides, a coordinator thread acts).
#include "runtime/serve/serving_reader.h"

#include <absl/container/flat_hash_map.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
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
      if (!t.topic.empty()) onChange(t);
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
    thread_ = std::jthread(
        [this, config = std::move(config)](std::stop_token stop) { run(config, stop); });
  }
  ~VersionView() { stop(); }
  void stop() {
    if (thread_.joinable()) {
      thread_.request_stop();
      thread_.join();
    }
  }

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

  std::vector<std::string> keys(size_t limit) const {
    std::shared_lock lock(mu_);
    std::vector<std::string> out;
    for (const auto& [k, e] : table_) {
      if (out.size() >= limit) break;
      out.push_back(k);
    }
    return out;
  }

  struct Progress {
    SourcePositions position;
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
    Progress p;
    p.position = position_;
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

 private:
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
    batch.reserve(4096);
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
      auto n = reader->read(batch, 100);
      if (!n) {
        setError(n.error().message);
        continue;
      }
      if (*n > 0 || reader->atEnd() != atEnd_) apply(batch, reader->atEnd());
      setLag(reader->lag());
      for (auto* m : batch) rd_kafka_message_destroy(m);
    }
  }

  void apply(const std::vector<rd_kafka_message_t*>& batch, bool atEnd) {
    std::unique_lock lock(mu_);
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
    if (atEnd && !atEnd_) {
      atEnd_ = true;
      atEndSince_ = Clock::now();
      double s = std::chrono::duration<double>(atEndSince_ - started_).count();
      buildRecordsPerSecond_ = s > 0 ? static_cast<double>(records_) / s : 0;
    }
  }

  void setLag(int64_t lag) {
    std::unique_lock lock(mu_);
    lag_ = lag;
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

  const Target target_;
  const Clock::time_point started_;
  mutable std::shared_mutex mu_;
  absl::flat_hash_map<std::string, Entry> table_;
  SourcePositions position_;
  bool atEnd_ = false;
  Clock::time_point atEndSince_;
  bool headers_ = true;
  uint64_t records_ = 0;
  int64_t lag_ = 0;
  double buildRecordsPerSecond_ = 0;
  std::string error_;
  std::jthread thread_;  // last: stopped before the members it uses go
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

  std::vector<std::string> keys(size_t limit) const override {
    auto view = current();
    return view ? view->keys(limit) : std::vector<std::string>{};
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

  void onAlias(const Target& t) {
    std::shared_ptr<VersionView> dropped;
    {
      std::lock_guard lock(mu_);
      if (building_ && building_->target() == t) return;
      if (current_ && current_->target() == t) {
        // Flipped back before the new view was swapped in: keep answering as before.
        dropped = std::move(building_);
      } else {
        dropped = std::move(building_);
        building_ = std::make_shared<VersionView>(kafka_, t);
        flipSeen_ = Clock::now();
      }
    }
    cv_.notify_all();
    if (dropped) dropped->stop();
  }

  void coordinate(const std::stop_token& stop) {
    while (!stop.stop_requested()) {
      std::shared_ptr<VersionView> retired;
      {
        std::unique_lock lock(mu_);
        cv_.wait_for(lock, stop, std::chrono::milliseconds(20), [] { return false; });
        if (stop.stop_requested()) break;
        if (!building_) continue;
        auto next = building_->progress();
        SwapInputs in;
        in.candidate = next.position;
        in.candidateAtEnd = next.atEnd;
        in.headers = next.headers;
        in.alignTimeout = alignTimeout_;
        if (next.atEnd) {
          in.waited =
              std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - next.atEndSince);
        }
        if (current_) {
          auto cur = current_->progress();
          in.current = cur.position;
          in.headers = in.headers && cur.headers;
        }
        auto decision = decideSwap(in);
        if (decision == SwapDecision::Wait) continue;
        if (current_) {
          ++swaps_;
          if (decision == SwapDecision::SwapUnaligned) ++unalignedSwaps_;
          lastSwapSeconds_ = std::chrono::duration<double>(Clock::now() - flipSeen_).count();
        }
        lastBuildRate_ = next.buildRecordsPerSecond;
        retired = std::move(current_);
        current_ = std::move(building_);
      }
      cv_.notify_all();
      // Readers that still hold the retired view finish on it; its thread ends here.
      if (retired) retired->stop();
    }
  }

  const kafka::KafkaClientConfig kafka_;
  const std::chrono::milliseconds alignTimeout_;
  mutable std::mutex mu_;
  mutable std::condition_variable_any cv_;
  std::shared_ptr<VersionView> current_;
  std::shared_ptr<VersionView> building_;
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
    for (auto* m : pending_) {
      if (m) rd_kafka_message_destroy(m);  // those already taken are null
    }
  }

  std::optional<Record> poll(std::chrono::milliseconds timeout) override {
    auto deadline = Clock::now() + timeout;
    while (true) {
      switchIfFlipped();
      if (next_ < pending_.size()) {
        if (auto r = take(); r) return r;
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
  void switchIfFlipped() {
    std::optional<Target> t;
    {
      std::lock_guard lock(mu_);
      t = target_;
    }
    if (!t || (reader_ && *t == reading_)) return;
    // The records read from the old topic and not yet delivered are dropped: the new topic
    // delivers their source positions.
    for (size_t i = next_; i < pending_.size(); ++i) rd_kafka_message_destroy(pending_[i]);
    pending_.clear();
    next_ = 0;
    bool first = !reader_;
    kafka::PartitionOffsets start;
    bool aligned = headers_;
    if (!first && !aligned) {
      // Nothing to place the records on: from the new topic's end as it is now.
      auto ends = TopicReader::endOffsets(kafka_, t->topic);
      if (!ends) {
        noteError(ends.error().message);
        return;
      }
      start = *ends;
    }
    auto r = TopicReader::open(kafka_, t->topic, start);
    if (!r) {
      noteError(r.error().message);
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      return;
    }
    reader_.emplace(std::move(*r));
    cursor_.emplace(first || !aligned ? SourcePositions{} : delivered_);
    reading_ = *t;
    std::lock_guard lock(mu_);
    stats_.version = t->version;
    stats_.topic = t->topic;
    stats_.lastError.clear();
    if (!first) {
      ++stats_.switches;
      if (!aligned) ++stats_.unalignedSwitches;
    }
  }

  void refill(Clock::time_point deadline) {
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    pending_.reserve(1024);
    auto n = reader_->read(pending_, static_cast<int>(std::clamp<int64_t>(wait.count(), 0, 100)));
    next_ = 0;
    if (!n) noteError(n.error().message);
  }

  // The next pending record, or nullopt when it was already delivered by the old topic.
  std::optional<Record> take() {
    rd_kafka_message_t* m = pending_[next_++];
    SourcePosition pos = positionOf(*m);
    std::optional<Record> out;
    if (pos.offset >= 0 && !cursor_->deliver(pos.partition, pos.offset)) {
      std::lock_guard lock(mu_);
      ++stats_.skippedAtSwitch;
    } else {
      if (pos.offset < 0) {
        headers_ = false;
      } else {
        auto& last = delivered_[pos.partition];
        last = std::max(last, pos.offset);
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
    rd_kafka_message_destroy(m);
    pending_[next_ - 1] = nullptr;
    if (next_ == pending_.size()) {
      pending_.clear();
      next_ = 0;
    }
    return out;
  }

  void noteError(const std::string& e) {
    std::lock_guard lock(mu_);
    stats_.lastError = e;
  }

  const kafka::KafkaClientConfig kafka_;
  mutable std::mutex mu_;
  std::optional<Target> target_;  // what the alias names (informer thread writes)
  ConsumerStats stats_;
  // The poll thread's own.
  std::optional<TopicReader> reader_;
  Target reading_;
  std::optional<SwitchCursor> cursor_;
  SourcePositions delivered_;
  bool headers_ = true;
  std::vector<rd_kafka_message_t*> pending_;
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
