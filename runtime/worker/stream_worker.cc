#include "runtime/worker/stream_worker.h"
#include "runtime/kafka/key_sample.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <charconv>
#include <set>
#include <thread>
#include <utility>

#include "runtime/kafka/rdkafka_admin.h"

namespace kappa::worker {

using kafka::KafkaHandle;
using kafka::PartitionList;
using kafka::RdPtr;
using SteadyClock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

constexpr const char* kHeaderPartition = "kappa-src-partition";
constexpr const char* kHeaderOffset = "kappa-src-offset";
constexpr const char* kHeaderWatermark = "kappa-watermark";
constexpr const char* kHeaderError = "kappa-error";
constexpr uint64_t kMaxRecordsPerTxn = 2'000'000;

std::string_view decimal(char* buf, size_t size, int64_t v) {
  auto r = std::to_chars(buf, buf + size, v);
  return std::string_view(buf, r.ptr - buf);
}

Error txnError(rd_kafka_error_t* e, const std::string& what) {
  return Error{kafka::errorCodeOf(rd_kafka_error_code(e)), what + ": " + rd_kafka_error_string(e)};
}

// The partition count of an output topic; with `create`, a missing topic is created first,
// with as many partitions as the source.
Result<int32_t> partitionsOf(kafka::RdKafkaAdmin& admin, const std::string& topic,
                             int32_t sourcePartitions, bool create,
                             const kafka::TopicConfig& topicConfig) {
  auto count = admin.partitionCount(topic);
  if (!count && count.error().code == ErrorCode::kNotFound && create) {
    auto c = admin.createTopic({topic, sourcePartitions, 1, topicConfig});
    if (!c && c.error().code != ErrorCode::kAlreadyExists) return c.error();
    // Another replica may have created it a moment ago: wait until brokers serve it.
    if (auto m = admin.awaitMetadata(topic, true); !m) return m.error();
    count = admin.partitionCount(topic);
  }
  if (!count) {
    return Error{count.error().code,
                 "topic " + topic + ": " + count.error().message +
                     (count.error().code == ErrorCode::kNotFound
                          ? " (the operator creates it; run with --create-topics to have the "
                            "worker do it)"
                          : "")};
  }
  return count;
}

// A reader of the output for restore(): assigns partitions itself, never joins the group.
Result<KafkaHandle> makeRestoreReader(const WorkerConfig& config) {
  auto props = config.kafkaProperties;
  props["group.id"] = config.consumerGroup + "-restore";  // never joined nor committed
  props["isolation.level"] = "read_committed";
  props["enable.partition.eof"] = "true";
  props["fetch.wait.max.ms"] = "50";
  props.emplace("queued.min.messages", "1000000");  // as the worker's own consumer: throughput
  return kafka::makeHandle(RD_KAFKA_CONSUMER, config.bootstrapServers, props);
}

// Assigns `reader` the output partitions among `partitions` that hold records, from their
// beginning, and returns their end offsets (empty: none holds any, nothing assigned).
Result<std::map<int32_t, int64_t>> assignOutput(rd_kafka_t* reader, const std::string& topic,
                                                const WorkerConfig& config,
                                                const std::vector<int32_t>& partitions) {
  PartitionList ends(rd_kafka_topic_partition_list_new(static_cast<int>(partitions.size())));
  for (int32_t p : partitions) {
    rd_kafka_topic_partition_list_add(ends.get(), topic.c_str(), p)->offset = RD_KAFKA_OFFSET_END;
  }
  auto e = rd_kafka_offsets_for_times(reader, ends.get(), static_cast<int>(config.timeout.count()));
  if (e) return kafka::errorOf(e, "end offsets of " + topic);
  std::map<int32_t, int64_t> end;
  PartitionList assignment(rd_kafka_topic_partition_list_new(1));
  for (int i = 0; i < ends->cnt; ++i) {
    if (ends->elems[i].offset <= 0) continue;
    end[ends->elems[i].partition] = ends->elems[i].offset;
    rd_kafka_topic_partition_list_add(assignment.get(), topic.c_str(), ends->elems[i].partition)
        ->offset = RD_KAFKA_OFFSET_BEGINNING;
  }
  if (end.empty()) return end;
  if (auto ae = rd_kafka_assign(reader, assignment.get())) return kafka::errorOf(ae, "assign");
  return end;
}

}  // namespace

class StreamWorker::Metrics {
 public:
  explicit Metrics(prometheus::Registry& r)
      : in_(prometheus::BuildCounter()
                .Name("kappa_worker_records_in_total")
                .Help("Source records read, by outcome")
                .Register(r)),
        emitted_(in_.Add({{"outcome", "emitted"}})),
        filtered_(in_.Add({{"outcome", "filtered"}})),
        late_(in_.Add({{"outcome", "late"}})),
        invalid_(in_.Add({{"outcome", "invalid"}})),
        out_(prometheus::BuildCounter()
                 .Name("kappa_worker_records_out_total")
                 .Help("Output records produced (tombstones included)")
                 .Register(r)
                 .Add({})),
        dlq_(prometheus::BuildCounter()
                 .Name("kappa_worker_dlq_records_total")
                 .Help("Malformed source records sent to the dead-letter topic")
                 .Register(r)
                 .Add({})),
        tapped_(prometheus::BuildCounter()
                    .Name("kappa_worker_tap_records_total")
                    .Help("Output records also written to the sample tap")
                    .Register(r)
                    .Add({})),
        txns_(prometheus::BuildCounter()
                  .Name("kappa_worker_transactions_total")
                  .Help("Transactions by result")
                  .Register(r)),
        committed_(txns_.Add({{"result", "committed"}})),
        aborted_(txns_.Add({{"result", "aborted"}})),
        batch_(prometheus::BuildHistogram()
                   .Name("kappa_worker_transaction_seconds")
                   .Help("Time from the first record of a transaction to its commit")
                   .Register(r)
                   .Add({}, prometheus::Histogram::BucketBoundaries{0.01, 0.05, 0.1, 0.25, 0.5, 1,
                                                                    2.5, 5})),
        lag_(prometheus::BuildGauge()
                 .Name("kappa_worker_lag_messages")
                 .Help("Source records behind the high watermark on assigned partitions")
                 .Register(r)
                 .Add({})),
        state_(prometheus::BuildGauge()
                   .Name("kappa_worker_state_entries")
                   .Help("Keys and windows held in memory")
                   .Register(r)
                   .Add({})) {}

  prometheus::Family<prometheus::Counter>& in_;
  prometheus::Counter &emitted_, &filtered_, &late_, &invalid_, &out_, &dlq_, &tapped_;
  prometheus::Family<prometheus::Counter>& txns_;
  prometheus::Counter &committed_, &aborted_;
  prometheus::Histogram& batch_;
  prometheus::Gauge &lag_, &state_;
};

class StreamWorker::OutputEmitter : public Emitter {
 public:
  explicit OutputEmitter(StreamWorker& w) : w_(w) {}
  // The headers every output, tap and changelog record carries: where in the source it stands.
  static rd_kafka_headers_t* headers(int32_t partition, int64_t sourceOffset, int64_t watermark) {
    rd_kafka_headers_t* h = rd_kafka_headers_new(3);
    char buf[24];
    auto p = decimal(buf, sizeof buf, partition);
    rd_kafka_header_add(h, kHeaderPartition, -1, p.data(), static_cast<ssize_t>(p.size()));
    auto o = decimal(buf, sizeof buf, sourceOffset);
    rd_kafka_header_add(h, kHeaderOffset, -1, o.data(), static_cast<ssize_t>(o.size()));
    if (watermark != INT64_MIN) {
      auto wm = decimal(buf, sizeof buf, watermark);
      rd_kafka_header_add(h, kHeaderWatermark, -1, wm.data(), static_cast<ssize_t>(wm.size()));
    }
    return h;
  }
  void emit(int32_t partition, std::string_view key, const std::string* value, int64_t sourceOffset,
            int64_t watermark) override {
    rd_kafka_headers_t* h = headers(partition, sourceOffset, watermark);
    if (w_.tapTopic_ &&
        kafka::inTap(kafka::sampleHash(key.data(), key.size()), w_.config_.tapRate)) {
      w_.produce(w_.tapTopic_.get(), partition, key, value ? value->data() : nullptr,
                 value ? value->size() : 0, rd_kafka_headers_copy(h));
      ++w_.tally_.tapped;
    }
    w_.produce(w_.outputTopic_.get(), partition, key, value ? value->data() : nullptr,
               value ? value->size() : 0, h);
    ++w_.tally_.out;
  }
  void emitState(int32_t partition, std::string_view key, const std::string* value,
                 int64_t sourceOffset, int64_t watermark) override {
    w_.produce(w_.stateTopic_.get(), partition, key, value ? value->data() : nullptr,
               value ? value->size() : 0, headers(partition, sourceOffset, watermark));
  }

 private:
  StreamWorker& w_;
};

StreamWorker::StreamWorker(WorkerConfig config, Program program)
    : config_(std::move(config)),
      program_(std::move(program)),
      parser_(program_),
      engine_(program_) {}

StreamWorker::~StreamWorker() = default;

Result<std::unique_ptr<StreamWorker>> StreamWorker::create(WorkerConfig config, Program program,
                                                           prometheus::Registry* metrics) {
  if (config.dlqTopic.empty()) config.dlqTopic = config.outputTopic + ".dlq";
  if (usesStateChangelog(program)) {
    if (config.stateTopic.empty()) config.stateTopic = config.outputTopic + ".state";
  } else if (!config.stateTopic.empty()) {
    return Error{ErrorCode::kInvalidArgument,
                 "state topic " + config.stateTopic +
                     ": only a program with window.emit onClose keeps a state changelog"};
  }
  if (config.transactionalId.empty()) config.transactionalId = "kappa-" + config.consumerGroup;
  for (const auto& [name, value] : {std::pair{"bootstrap servers", config.bootstrapServers},
                                    std::pair{"source topic", config.sourceTopic},
                                    std::pair{"output topic", config.outputTopic},
                                    std::pair{"consumer group", config.consumerGroup}}) {
    if (value.empty())
      return Error{ErrorCode::kInvalidArgument, std::string(name) + " is required"};
  }
  if (config.startOffset != "earliest" && config.startOffset != "latest") {
    return Error{ErrorCode::kInvalidArgument,
                 "start offset must be earliest or latest, got '" + config.startOffset + "'"};
  }
  std::unique_ptr<StreamWorker> w(new StreamWorker(std::move(config), std::move(program)));
  if (auto r = w->connect(metrics); !r) return r.error();
  return w;
}

Result<void> StreamWorker::connect(prometheus::Registry* metrics) {
  if (metrics) metrics_ = std::make_unique<Metrics>(*metrics);
  emitter_ = std::make_unique<OutputEmitter>(*this);
  kafka::KafkaClientConfig adminCfg{config_.bootstrapServers, config_.kafkaProperties,
                                    config_.timeout};
  auto admin = kafka::RdKafkaAdmin::create(adminCfg);
  if (!admin) return admin.error();
  if (auto r = checkTopics(**admin); !r) return r;
  if (auto r = createProducer(); !r) return r;
  if (auto r = createConsumer(); !r) return r;
  spdlog::info("worker: {} -> {} (dlq {}), group {}, transactional.id {}", config_.sourceTopic,
               config_.outputTopic, config_.dlqTopic, config_.consumerGroup,
               config_.transactionalId);
  if (!config_.tapTopic.empty()) {
    spdlog::info("worker: sample tap {} (one key in {})", config_.tapTopic, config_.tapRate);
  }
  if (!config_.stateTopic.empty()) {
    spdlog::info("worker: emit onClose: open windows kept in {}", config_.stateTopic);
  }
  spdlog::info("worker: event parser: {}", parser_.kernelChoice());
  return {};
}

Result<void> StreamWorker::checkTopics(kafka::RdKafkaAdmin& admin) {
  auto source = admin.partitionCount(config_.sourceTopic);
  if (!source) return Error{source.error().code, "source topic: " + source.error().message};
  int32_t statePartitions = 0;
  for (auto [topic, partitions] : {std::pair{&config_.outputTopic, &outputPartitions_},
                                   std::pair{&config_.dlqTopic, &dlqPartitions_},
                                   std::pair{&config_.tapTopic, &tapPartitions_},
                                   std::pair{&config_.stateTopic, &statePartitions}}) {
    if (topic->empty()) continue;  // no tap, no changelog
    kafka::TopicConfig created;
    if (topic == &config_.tapTopic) created = kafka::tapTopicConfig({});
    if (topic == &config_.stateTopic) created = kafka::changelogTopicConfig({});
    auto count = partitionsOf(admin, *topic, *source, config_.createTopics, created);
    if (!count && topic == &config_.tapTopic && count.error().code == ErrorCode::kNotFound) {
      // The tap only speeds comparisons up: without its topic, run without it.
      spdlog::warn("worker: tap topic {} does not exist; running without the sample tap",
                   config_.tapTopic);
      config_.tapTopic.clear();
      continue;
    }
    if (!count) return count.error();
    *partitions = *count;
  }
  if (!config_.tapTopic.empty() && tapPartitions_ < *source) {
    return Error{ErrorCode::kInvalidArgument,
                 "tap topic " + config_.tapTopic + " has " + std::to_string(tapPartitions_) +
                     " partitions but the source has " + std::to_string(*source) +
                     ": the tap must be partition-aligned with the source"};
  }
  if (!config_.stateTopic.empty() && statePartitions < *source) {
    return Error{ErrorCode::kInvalidArgument,
                 "state topic " + config_.stateTopic + " has " + std::to_string(statePartitions) +
                     " partitions but the source has " + std::to_string(*source) +
                     ": the changelog must be partition-aligned with the source"};
  }
  if (outputPartitions_ < *source) {
    return Error{ErrorCode::kInvalidArgument,
                 "output topic " + config_.outputTopic + " has " +
                     std::to_string(outputPartitions_) + " partitions but the source has " +
                     std::to_string(*source) +
                     ": the output must be partition-aligned with the source"};
  }
  return {};
}

Result<void> StreamWorker::createProducer() {
  std::map<std::string, std::string> pp = config_.kafkaProperties;
  pp["transactional.id"] = config_.transactionalId;
  pp.emplace("transaction.timeout.ms", "60000");
  pp.emplace("linger.ms", "20");  // a commit flushes at once; this only fills batches
  pp.emplace("batch.num.messages", "10000");
  pp.emplace("batch.size", "1048576");
  pp.emplace("queue.buffering.max.messages", "1000000");
  pp.emplace("queue.buffering.max.kbytes", "1048576");
  pp.emplace("message.timeout.ms", "55000");
  auto producer = kafka::makeHandle(RD_KAFKA_PRODUCER, config_.bootstrapServers, pp);
  if (!producer) return producer.error();
  producer_ = std::move(*producer);
  // Fences any earlier worker with the same transactional.id and aborts what it left open.
  RdPtr<rd_kafka_error_t> e(
      rd_kafka_init_transactions(producer_.get(), static_cast<int>(config_.timeout.count())));
  if (e) return txnError(e.get(), "init transactions");
  outputTopic_.reset(rd_kafka_topic_new(producer_.get(), config_.outputTopic.c_str(), nullptr));
  dlqTopic_.reset(rd_kafka_topic_new(producer_.get(), config_.dlqTopic.c_str(), nullptr));
  if (!outputTopic_ || !dlqTopic_) {
    return kafka::errorOf(rd_kafka_last_error(), "topic handle for " + config_.outputTopic);
  }
  for (auto [name, handle] :
       {std::pair{&config_.tapTopic, &tapTopic_}, std::pair{&config_.stateTopic, &stateTopic_}}) {
    if (name->empty()) continue;
    handle->reset(rd_kafka_topic_new(producer_.get(), name->c_str(), nullptr));
    if (!*handle) return kafka::errorOf(rd_kafka_last_error(), "topic handle for " + *name);
  }
  return {};
}

Result<void> StreamWorker::createConsumer() {
  std::map<std::string, std::string> cp = config_.kafkaProperties;
  cp["group.id"] = config_.consumerGroup;
  cp["isolation.level"] = "read_committed";
  cp["auto.offset.reset"] = config_.startOffset;
  cp.emplace("queued.min.messages", "1000000");
  cp.emplace("fetch.wait.max.ms", "100");
  cp.emplace("session.timeout.ms", "10000");
  cp.emplace("heartbeat.interval.ms", "1000");
  RdPtr<rd_kafka_conf_t> conf(rd_kafka_conf_new());
  char err[512];
  cp["bootstrap.servers"] = config_.bootstrapServers;
  // The host name is the pod's name in Kubernetes: the operator names the pod that holds a
  // straggling partition from the group's members.
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) == 0 && host[0] != '\0') {
    cp.emplace("client.id", std::string("kappa-worker/") + host);
  } else {
    cp.emplace("client.id", "kappa-worker");
  }
  cp.emplace("enable.auto.commit", "false");
  cp.emplace("enable.auto.offset.store", "false");
  cp.emplace("log_level", "4");
  for (const auto& [k, v] : cp) {
    if (rd_kafka_conf_set(conf.get(), k.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
      return Error{ErrorCode::kInvalidArgument, "kafka property " + k + ": " + err};
    }
  }
  rd_kafka_conf_set_rebalance_cb(conf.get(), &StreamWorker::rebalanceCallback);
  rd_kafka_conf_set_opaque(conf.get(), this);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf.get(), err, sizeof err);
  if (!rk) return Error{ErrorCode::kInvalidArgument, std::string("consumer: ") + err};
  conf.release();
  consumer_.reset(rk);
  rd_kafka_poll_set_consumer(consumer_.get());
  queue_.reset(rd_kafka_queue_get_consumer(consumer_.get()));
  PartitionList topics(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(topics.get(), config_.sourceTopic.c_str(),
                                    RD_KAFKA_PARTITION_UA);
  if (auto se = rd_kafka_subscribe(consumer_.get(), topics.get())) {
    return kafka::errorOf(se, "subscribe to " + config_.sourceTopic);
  }
  return {};
}

void StreamWorker::rebalanceCallback(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                                     rd_kafka_topic_partition_list_t* partitions, void* opaque) {
  auto* self = static_cast<StreamWorker*>(opaque);
  Result<void> r;
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    r = self->onAssign(partitions);
  } else {
    r = self->onRevoke();
    rd_kafka_assign(rk, nullptr);
  }
  if (!r) self->fail(r.error().message);
}

Result<void> StreamWorker::onAssign(rd_kafka_topic_partition_list_t* partitions) {
  // Committed offsets first: with read_committed this waits for offsets that a previous
  // owner's transaction may still be committing, so the output below is final too.
  auto err =
      rd_kafka_committed(consumer_.get(), partitions, static_cast<int>(config_.timeout.count()));
  if (err) return kafka::errorOf(err, "committed offsets of " + config_.consumerGroup);
  std::vector<int32_t> parts;
  for (int i = 0; i < partitions->cnt; ++i) parts.push_back(partitions->elems[i].partition);
  auto restored = restore(parts);
  if (!restored) return restored.error();
  for (int i = 0; i < partitions->cnt; ++i) {
    auto& tp = partitions->elems[i];
    if (tp.offset >= 0) continue;
    // No committed offset but an output: the group was deleted (a retired version brought
    // back by a rollback) or lost. The output is the truth: resume after the last source
    // offset it reflects, so nothing is counted twice.
    auto it = restored->find(tp.partition);
    if (it != restored->end()) {
      spdlog::info("worker: no committed offset for {}/{}; resuming at {} from the output",
                   config_.sourceTopic, tp.partition, it->second);
      tp.offset = it->second;
    } else {
      tp.offset =
          config_.startOffset == "earliest" ? RD_KAFKA_OFFSET_BEGINNING : RD_KAFKA_OFFSET_END;
    }
  }
  spdlog::info("worker: assigned {} partition(s) of {}, state restored ({} entries)", parts.size(),
               config_.sourceTopic, engine_.stateEntries());
  if (auto e = rd_kafka_assign(consumer_.get(), partitions)) {
    return kafka::errorOf(e, "assign");
  }
  return {};
}

Result<void> StreamWorker::onRevoke() {
  if (txnOpen_) {
    if (auto r = commitTransaction(); !r) {
      spdlog::warn("worker: commit on revoke failed ({}); aborting", r.error().message);
      RdPtr<rd_kafka_error_t> e(rd_kafka_abort_transaction(producer_.get(), 30000));
      txnOpen_ = false;
      if (e && rd_kafka_error_is_fatal(e.get())) return txnError(e.get(), "abort on revoke");
    }
  }
  RdPtr<rd_kafka_topic_partition_list_t> assigned;
  rd_kafka_topic_partition_list_t* raw = nullptr;
  if (!rd_kafka_assignment(consumer_.get(), &raw)) assigned.reset(raw);
  for (int i = 0; assigned && i < assigned->cnt; ++i) {
    engine_.dropPartition(assigned->elems[i].partition);
    positions_.erase(assigned->elems[i].partition);
  }
  return {};
}

Result<std::map<int32_t, int64_t>> StreamWorker::restore(const std::vector<int32_t>& partitions) {
  std::map<int32_t, int64_t> resume;
  for (int32_t p : partitions) engine_.dropPartition(p);
  if (partitions.empty()) return resume;
  auto reader = makeRestoreReader(config_);
  if (!reader) return reader.error();
  auto end = assignOutput(reader->get(), restoreTopic(), config_, partitions);
  if (!end) return end.error();
  if (end->empty()) return resume;
  // Batches, not one message per call.
  std::vector<rd_kafka_message_t*> batch(10000);
  struct Destroy {
    std::vector<rd_kafka_message_t*>& batch;
    ssize_t n = 0;
    ~Destroy() {
      for (ssize_t i = 0; i < n; ++i) rd_kafka_message_destroy(batch[i]);
    }
  };
  rd_kafka_poll_set_consumer(reader->get());
  RdPtr<rd_kafka_queue_t> queue(rd_kafka_queue_get_consumer(reader->get()));
  uint64_t records = 0;
  const auto started = SteadyClock::now();
  auto lastProgress = started;
  while (!end->empty()) {
    Destroy taken{batch, kafka::consumeQueued(queue.get(), batch.data(), batch.size(), 1000)};
    if (taken.n < 0)
      return kafka::errorOf(rd_kafka_last_error(), "restoring from " + restoreTopic());
    if (taken.n == 0) {
      if (SteadyClock::now() - lastProgress > config_.timeout) {
        return Error{ErrorCode::kTimeout, "restoring from " + restoreTopic() +
                                              ": no progress for " +
                                              std::to_string(config_.timeout.count()) + " ms"};
      }
      continue;
    }
    lastProgress = SteadyClock::now();
    if (auto r = restoreBatch(batch.data(), taken.n, *end, resume, records); !r) return r.error();
  }
  stats_.restored += records;
  if (records) {
    double seconds = std::chrono::duration<double>(SteadyClock::now() - started).count();
    spdlog::info("worker: restored {} {} records in {:.2f} s ({:.0f} records/s)", records,
                 config_.stateTopic.empty() ? "output" : "changelog", seconds,
                 seconds > 0 ? records / seconds : 0.0);
  }
  return resume;
}

Result<void> StreamWorker::restoreBatch(rd_kafka_message_t* const* batch, ssize_t n,
                                        std::map<int32_t, int64_t>& end,
                                        std::map<int32_t, int64_t>& resume, uint64_t& records) {
  // Every record's key and value are restored; headers are read only from each partition's
  // last record in the batch, since a worker writes a partition in source order: its last
  // record carries the largest source offset and the largest watermark (the messages stay
  // valid until the caller destroys the batch, after this returns).
  std::map<int32_t, rd_kafka_message_t*> lastOf;
  for (ssize_t i = 0; i < n; ++i) {
    const rd_kafka_message_t* m = batch[i];
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      end.erase(m->partition);
      continue;
    }
    if (m->err) {
      if (kafka::errorCodeOf(m->err) == ErrorCode::kUnavailable) continue;
      return kafka::errorOf(m->err, "restoring from " + restoreTopic());
    }
    auto it = end.find(m->partition);
    if (it == end.end() || m->offset >= it->second) continue;
    std::string_view key(static_cast<const char*>(m->key), m->key_len);
    std::optional<std::string_view> value;
    if (m->payload) value = std::string_view(static_cast<const char*>(m->payload), m->len);
    auto r = engine_.restore(m->partition, key, value, std::nullopt);
    if (!r) {
      return Error{r.error().code, "restoring " + restoreTopic() + "/" +
                                       std::to_string(m->partition) + " at offset " +
                                       std::to_string(m->offset) + ": " + r.error().message};
    }
    lastOf[m->partition] = batch[i];
    ++records;
    if (m->offset + 1 >= it->second) end.erase(it);
  }
  for (const auto& [partition, m] : lastOf) {
    if (auto offset = kafka::headerInt(*m, kHeaderOffset)) {
      auto source = kafka::headerInt(*m, kHeaderPartition);
      resume[source ? static_cast<int32_t>(*source) : partition] = *offset + 1;
    }
    if (auto wm = kafka::headerInt(*m, kHeaderWatermark)) engine_.restoreWatermark(partition, *wm);
  }
  return {};
}

void StreamWorker::produce(rd_kafka_topic_t* topic, int32_t partition, std::string_view key,
                           const void* value, size_t valueSize, rd_kafka_headers_t* headers) {
  while (true) {
    auto err = rd_kafka_producev(
        producer_.get(), RD_KAFKA_V_RKT(topic), RD_KAFKA_V_PARTITION(partition),
        RD_KAFKA_V_KEY(key.data(), key.size()),
        RD_KAFKA_V_VALUE(const_cast<void*>(value), valueSize),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_TIMESTAMP(batchTimestampMs_),
        RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return;  // headers now owned by the message
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      rd_kafka_poll(producer_.get(), 5);
      continue;
    }
    rd_kafka_headers_destroy(headers);
    fail(std::string("produce to ") + rd_kafka_topic_name(topic) + ": " + rd_kafka_err2str(err));
    return;
  }
}

Result<void> StreamWorker::beginTransaction() {
  RdPtr<rd_kafka_error_t> e(rd_kafka_begin_transaction(producer_.get()));
  if (e) return txnError(e.get(), "begin transaction");
  txnOpen_ = true;
  txnRecords_ = 0;
  txnStart_ = SteadyClock::now();
  return {};
}

void StreamWorker::handle(const rd_kafka_message_t& m) {
  if (m.err) {
    if (m.err == RD_KAFKA_RESP_ERR__PARTITION_EOF) return;
    if (kafka::errorCodeOf(m.err) == ErrorCode::kUnavailable ||
        m.err == RD_KAFKA_RESP_ERR__TIMED_OUT) {
      spdlog::warn("worker: consumer: {}", rd_kafka_message_errstr(&m));
      return;
    }
    fail(std::string("consumer: ") + rd_kafka_message_errstr(&m));
    return;
  }
  if (!txnOpen_) {
    if (auto r = beginTransaction(); !r) {
      fail(r.error().message);
      return;
    }
  }
  ++tally_.in;
  ++txnRecords_;
  positions_[m.partition] = m.offset + 1;
  std::string_view error = m.payload ? parser_.parse(static_cast<const char*>(m.payload), m.len)
                                     : std::string_view("empty event");
  ProcessResult r{Outcome::kInvalid, error};
  if (error.empty()) r = engine_.process(m.partition, m.offset, parser_, *emitter_);
  switch (r.outcome) {
    case Outcome::kEmitted:
      ++tally_.emitted;
      break;
    case Outcome::kFiltered:
    case Outcome::kDuplicate:  // counted with the filtered events
      ++tally_.filtered;
      break;
    case Outcome::kLate:
      ++tally_.late;
      break;
    case Outcome::kInvalid: {
      ++tally_.dlq;
      rd_kafka_headers_t* h = rd_kafka_headers_new(4);
      rd_kafka_header_add(h, kHeaderError, -1, r.error.data(),
                          static_cast<ssize_t>(r.error.size()));
      char buf[24];
      auto p = decimal(buf, sizeof buf, m.partition);
      rd_kafka_header_add(h, kHeaderPartition, -1, p.data(), static_cast<ssize_t>(p.size()));
      auto o = decimal(buf, sizeof buf, m.offset);
      rd_kafka_header_add(h, kHeaderOffset, -1, o.data(), static_cast<ssize_t>(o.size()));
      std::string_view key(static_cast<const char*>(m.key), m.key ? m.key_len : 0);
      produce(dlqTopic_.get(), m.partition % dlqPartitions_, key, m.payload, m.len, h);
      break;
    }
  }
}

void StreamWorker::flushTally() {
  const Tally t = std::exchange(tally_, Tally{});
  stats_.recordsIn += t.in;
  stats_.recordsOut += t.out;
  stats_.filtered += t.filtered;
  stats_.late += t.late;
  stats_.dlq += t.dlq;
  stats_.tapped += t.tapped;
  if (!metrics_) return;
  metrics_->tapped_.Increment(static_cast<double>(t.tapped));
  metrics_->emitted_.Increment(static_cast<double>(t.emitted));
  metrics_->filtered_.Increment(static_cast<double>(t.filtered));
  metrics_->late_.Increment(static_cast<double>(t.late));
  metrics_->invalid_.Increment(static_cast<double>(t.dlq));
  metrics_->dlq_.Increment(static_cast<double>(t.dlq));
  metrics_->out_.Increment(static_cast<double>(t.out));
}

Result<void> StreamWorker::commitTransaction() {
  // The changelog of an onClose program, in the same transaction: the open windows as of the
  // offsets it commits.
  if (stateTopic_ && !fatal_) engine_.flushState(*emitter_);
  // A record of this transaction that could not be written (fail() set fatal_) must not be
  // committed past, whoever asks: the caller aborts instead (onRevoke on the way out too).
  if (fatal_) {
    return Error{ErrorCode::kInternal, "not committing a transaction after a failed write"};
  }
  PartitionList offsets(rd_kafka_topic_partition_list_new(static_cast<int>(positions_.size())));
  for (const auto& [p, next] : positions_) {
    rd_kafka_topic_partition_list_add(offsets.get(), config_.sourceTopic.c_str(), p)->offset = next;
  }
  auto* raw = rd_kafka_consumer_group_metadata(consumer_.get());
  if (offsets->cnt > 0) {
    RdPtr<rd_kafka_error_t> e(
        rd_kafka_send_offsets_to_transaction(producer_.get(), offsets.get(), raw, 30000));
    rd_kafka_consumer_group_metadata_destroy(raw);
    if (e) return txnError(e.get(), "send offsets to transaction");
  } else {
    rd_kafka_consumer_group_metadata_destroy(raw);
  }
  while (true) {
    RdPtr<rd_kafka_error_t> e(rd_kafka_commit_transaction(producer_.get(), 60000));
    if (!e) break;
    if (rd_kafka_error_is_retriable(e.get())) continue;
    return txnError(e.get(), "commit transaction");
  }
  if (metrics_) {
    metrics_->committed_.Increment();
    metrics_->batch_.Observe(std::chrono::duration<double>(SteadyClock::now() - txnStart_).count());
  }
  ++stats_.transactions;
  txnOpen_ = false;
  positions_.clear();
  return {};
}

Result<void> StreamWorker::abortAndRewind() {
  ++stats_.aborts;
  if (metrics_) metrics_->aborted_.Increment();
  RdPtr<rd_kafka_error_t> e(rd_kafka_abort_transaction(producer_.get(), 60000));
  txnOpen_ = false;
  positions_.clear();
  if (e) return txnError(e.get(), "abort transaction");
  // Back to the last commit: state from the output, positions from the group's offsets.
  rd_kafka_topic_partition_list_t* raw = nullptr;
  if (auto err = rd_kafka_assignment(consumer_.get(), &raw))
    return kafka::errorOf(err, "assignment");
  PartitionList assigned(raw);
  return onAssign(assigned.get());
}

void StreamWorker::fail(const std::string& message) {
  if (!fatal_) spdlog::error("worker: {}", message);
  fatal_ = true;
  if (fatalMessage_.empty()) fatalMessage_ = message;
}

void StreamWorker::reportProgress(bool force) {
  auto now = SteadyClock::now();
  if (!force && now - lastReport_ < 10s) return;
  double dt = std::chrono::duration<double>(now - lastReport_).count();
  uint64_t in = stats_.recordsIn;
  if (lastReport_.time_since_epoch().count() != 0 && dt > 0) {
    spdlog::info("worker: in {} out {} filtered {} late {} dlq {} txns {} ({:.0f} records/s)", in,
                 stats_.recordsOut.load(), stats_.filtered.load(), stats_.late.load(),
                 stats_.dlq.load(), stats_.transactions.load(), (in - lastReportIn_) / dt);
  }
  lastReport_ = now;
  lastReportIn_ = in;
  if (metrics_) {
    metrics_->state_.Set(static_cast<double>(engine_.stateEntries()));
    rd_kafka_topic_partition_list_t* raw = nullptr;
    if (!rd_kafka_assignment(consumer_.get(), &raw)) {
      PartitionList assigned(raw);
      rd_kafka_position(consumer_.get(), assigned.get());
      double lag = 0;
      for (int i = 0; i < assigned->cnt; ++i) {
        int64_t lo = 0, hi = 0;
        const auto& tp = assigned->elems[i];
        if (rd_kafka_get_watermark_offsets(consumer_.get(), tp.topic, tp.partition, &lo, &hi) ==
                RD_KAFKA_RESP_ERR_NO_ERROR &&
            tp.offset >= 0 && hi > tp.offset) {
          lag += static_cast<double>(hi - tp.offset);
        }
      }
      metrics_->lag_.Set(lag);
    }
  }
}

int StreamWorker::run(const std::atomic<bool>& stop) {
  std::vector<rd_kafka_message_t*> batch(static_cast<size_t>(config_.maxBatch));
  reportProgress(true);
  while (!stop.load() && !fatal_) {
    ssize_t n = kafka::consumeQueued(queue_.get(), batch.data(), batch.size(), 100);
    batchTimestampMs_ = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    for (ssize_t i = 0; i < n; ++i) {
      if (!fatal_) handle(*batch[i]);
      rd_kafka_message_destroy(batch[i]);
    }
    flushTally();
    if (fatal_) break;
    bool backlog =
        n == static_cast<ssize_t>(batch.size()) || rd_kafka_queue_length(queue_.get()) > 0;
    auto interval = backlog ? config_.replayCommitInterval : config_.commitInterval;
    if (txnOpen_ &&
        (SteadyClock::now() - txnStart_ >= interval || txnRecords_ >= kMaxRecordsPerTxn)) {
      if (auto r = commitTransaction(); !r) {
        spdlog::warn("worker: {}", r.error().message);
        if (auto a = abortAndRewind(); !a) fail(a.error().message);
      }
    }
    reportProgress(false);
  }
  if (!fatal_ && txnOpen_) {
    if (auto r = commitTransaction(); !r) {
      spdlog::warn("worker: final commit failed: {}; aborting", r.error().message);
      RdPtr<rd_kafka_error_t> e(rd_kafka_abort_transaction(producer_.get(), 30000));
      txnOpen_ = false;
    }
  }
  reportProgress(true);
  // Leaves the group (the revoke callback finds no open transaction).
  rd_kafka_consumer_close(consumer_.get());
  if (fatal_) {
    spdlog::error("worker: stopped on error: {}", fatalMessage_);
    return 1;
  }
  spdlog::info("worker: stopped cleanly");
  return 0;
}

}  // namespace kappa::worker
