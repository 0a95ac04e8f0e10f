// The serving side of a pipeline: follows its serving alias (the ConfigMap
// <pipeline>-serving that kappa-operator flips) and gives an application the serving
// version's output, either as a key -> latest value view (ServingView) or as a stream of
// records (ServingConsumer). This header is the library's whole interface: it depends on the
// standard library only, and its types keep their layout across releases of the project
// (the implementation sits behind a pointer).
//
// Positions. kappa-worker writes on every output record the source record it reflects
// (headers kappa-src-partition and kappa-src-offset), and its output partition p reflects
// source partition p in source order. So a view that has applied its topic up to some
// records knows, per source partition, the last source offset it reflects: its source
// position. Two versions' views at the same source position reflect the same input.
//
// ServingView. On a flip the new version's view is built in the background from the
// beginning of its output topic while the current one keeps answering; it is swapped in, in
// one pointer exchange, once it has read its topic to the end it found and reflects at least
// the current view's source position on every partition. Two live versions commit at
// different moments, so the current view stops taking records (for at most 5 s) once the new
// one has read its topic, and the new one reaches it. No read sees an empty view, none goes
// back in source time across the swap, and
// every answer comes from one version's view: getMany answers all its keys from the same
// one. A new view that cannot reach the current position (its version's worker is behind or
// stopped, or it dropped the records that would say so) is swapped in after alignTimeout,
// counted in ViewStats::unalignedSwaps. Outputs without the position headers are swapped as
// soon as the new view has read its topic to the end it found.
//
// ServingConsumer. Delivers the serving output's records in order per partition. On a flip
// it first delivers the rest of the old topic's records of the source offsets it delivered
// last (one source record can make several output records: a session merge, windows closed
// by one event), up to a later offset or the partition's end, then reads the new topic from
// its beginning, skipping every record whose source position is at or before the last one
// it delivered on that partition: each source position is delivered once, all of it by the
// old version up to the switch or all of it by the new one after it. Records without the
// position headers cannot be placed: after a switch from such an output the new topic is
// read from its end offsets as they were at the switch, and records of the new topic
// without positions are delivered only from those offsets on (what either version wrote
// around the switch may be missed; nothing is delivered twice), and so is a partition whose
// position is still unknown at a later switch. Such switches are counted in
// ConsumerStats::unalignedSwitches.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kappa::serve {

struct ReaderOptions {
  std::string ns;        // the pipeline's namespace
  std::string pipeline;  // spec.pipeline: the alias is the ConfigMap <pipeline>-serving
  // Kubernetes client configuration: a kubeconfig file; empty for $KUBECONFIG, then
  // ~/.kube/config, then the in-cluster service account.
  std::string kubeconfig;
  std::string bootstrapServers;
  // Extra librdkafka properties (security.protocol, sasl.*, ssl.*, ...).
  std::map<std::string, std::string> kafkaProperties;
  // How long a new view may take to reach the current view's source position once it has
  // read its topic to the end (ServingView).
  std::chrono::milliseconds alignTimeout{std::chrono::seconds(60)};
};

// The source record a record reflects; -1 when the record carries no position headers.
struct SourcePosition {
  int32_t partition = -1;
  int64_t offset = -1;
};

struct Answer {
  std::optional<std::string> value;  // nullopt: the key is not in the view
  std::string version;               // the version whose view answered
  std::string topic;
  SourcePosition position;  // of the record that answered (none when not found)
};

struct ViewStats {
  bool ready = false;  // a first view is built
  std::string version;
  std::string topic;
  uint64_t keys = 0;
  uint64_t records = 0;  // records applied to the view that answers
  // Offsets of its topic not yet applied to it (TopicReader::lag: the end as last heard
  // from the broker; open transactions count).
  int64_t lagRecords = 0;
  // Per source partition, the last source offset the answering view reflects.
  std::map<int32_t, int64_t> sourcePosition;
  std::string building;  // the version whose view is being built, empty when none
  uint64_t buildingRecords = 0;
  uint64_t swaps = 0;           // views swapped in after the first
  uint64_t unalignedSwaps = 0;  // of those, swapped in at alignTimeout
  double lastSwapSeconds = 0;   // alias change seen -> the new view answering
  double lastBuildRecordsPerSecond = 0;
  std::string lastError;  // of the alias watch or of a topic read, empty when none
};

struct KeyList {
  std::string version;  // empty before the first view is ready
  std::vector<std::string> keys;
};

class ServingView {
 public:
  // Starts following the alias. Throws std::runtime_error when the Kubernetes or Kafka
  // client cannot be configured; a missing alias or topic is waited for.
  static std::unique_ptr<ServingView> open(const ReaderOptions& options);
  virtual ~ServingView() = default;

  // Until a first view is built (returns false at the timeout).
  virtual bool waitReady(std::chrono::milliseconds timeout) const = 0;
  // The latest value of a key. Before the first view is ready: not found, no version.
  virtual Answer get(std::string_view key) const = 0;
  // Several keys, all answered by the same version's view.
  virtual std::vector<Answer> getMany(const std::vector<std::string>& keys) const = 0;
  // Up to `limit` keys of the answering view, in no particular order (for looking around),
  // with the version of that view.
  virtual KeyList keys(size_t limit) const = 0;
  virtual ViewStats stats() const = 0;
};

struct Record {
  std::string key;
  std::optional<std::string> value;  // nullopt: a tombstone
  std::string version;
  std::string topic;
  int32_t outputPartition = 0;
  int64_t outputOffset = 0;
  SourcePosition position;
};

struct ConsumerStats {
  std::string version;
  std::string topic;
  uint64_t delivered = 0;
  uint64_t switches = 0;
  uint64_t unalignedSwitches = 0;
  uint64_t skippedAtSwitch = 0;  // records of a new topic already delivered by the old one
  std::string lastError;
};

class ServingConsumer {
 public:
  // Starts at the beginning of the serving output. Throws std::runtime_error as
  // ServingView::open does.
  static std::unique_ptr<ServingConsumer> open(const ReaderOptions& options);
  virtual ~ServingConsumer() = default;

  // The next record, waiting up to `timeout`; nullopt when none came. Call from one thread.
  // A poll that makes a switch asks the broker for the new topic's offsets, which may take
  // longer than `timeout`.
  virtual std::optional<Record> poll(std::chrono::milliseconds timeout) = 0;
  virtual ConsumerStats stats() const = 0;
};

}  // namespace kappa::serve
