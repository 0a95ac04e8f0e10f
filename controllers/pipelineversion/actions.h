// The side effects a decision asks the driver to perform, as values. Each one is idempotent
// when executed again (create-or-update, delete-if-present, CAS on the alias), so a pass that
// crashed half-way can be repeated from the persisted status.
#pragma once

#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <variant>
#include <vector>

#include "controllers/pipelineversion/types.h"

namespace kappa::controllers {

struct AddFinalizer {
  bool operator==(const AddFinalizer&) const = default;
};

// Removes only kFinalizer (JSON-patch test + remove), never another controller's.
struct RemoveFinalizer {
  bool operator==(const RemoveFinalizer&) const = default;
};

// Consumes a manual gate so that it cannot fire again later.
struct RemoveAnnotation {
  std::string key;
  bool operator==(const RemoveAnnotation&) const = default;
};

struct TopicToCreate {
  std::string name;
  int32_t partitions = 1;
  int16_t replicationFactor = 1;
  std::map<std::string, std::string> config;
  bool operator==(const TopicToCreate&) const = default;
};

// Creates the topics that do not exist yet (AlreadyExists counts as success).
struct CreateTopics {
  std::vector<TopicToCreate> topics;
  bool operator==(const CreateTopics&) const = default;
};

// Deletes the topics that exist (NotFound counts as success).
struct DeleteTopics {
  std::vector<std::string> topics;
  bool operator==(const DeleteTopics&) const = default;
};

struct DeleteConsumerGroup {
  std::string group;
  bool operator==(const DeleteConsumerGroup&) const = default;
};

// Creates or updates the worker Deployment. The driver renders the pod from the spec's
// processor and injects the KAPPA_* environment (group, output topic, start at earliest).
struct EnsureWorker {
  std::string name;
  WorkerProfile profile = WorkerProfile::kSteady;
  int32_t replicas = 1;
  std::string priorityClassName;  // empty: the namespace default
  Resources resources;
  std::string consumerGroup;
  std::string sourceTopic;  // spec.source.topic, or the one status.source resolved
  std::string outputTopic;
  std::string tapTopic;      // empty: no tap
  std::string stateTopic{};  // empty: the program keeps no changelog
  bool operator==(const EnsureWorker&) const = default;
};

struct DeleteWorker {
  std::string name;
  bool operator==(const DeleteWorker&) const = default;
};

// A ResourceQuota scoped to the replay PriorityClass, owned by this version.
struct EnsureReplayQuota {
  std::string name;
  std::string priorityClassName;
  std::map<std::string, std::string> hard;
  bool operator==(const EnsureReplayQuota&) const = default;
};

struct DeleteReplayQuota {
  std::string name;
  bool operator==(const DeleteReplayQuota&) const = default;
};

// Starts (or restarts, if the driver has no run for this requestedAt) a sampled-key
// comparison of the two outputs, cut per source partition where both outputs have processed
// every source record below it, as their kappa-src-offset headers say
// (runtime/kafka/output_comparator.h, docs/api.md "Comparison"). Its outcome comes back as
// KafkaFacts::validation.
struct RunValidation {
  TimePoint requestedAt{};
  std::string servingVersion;
  std::string servingTopic;
  std::string candidateTopic;
  // Both versions' sample taps, read instead of the outputs when both hold records; empty:
  // no taps to read (one has none, or their rates differ).
  std::string servingTap;
  std::string candidateTap;
  int32_t sampleKeys = 0;
  std::vector<std::string> compareFields;
  std::vector<std::string> ignoreFields;
  double numericTolerance = 0;
  // Both versions read the same source topic, so their source-offset headers make a cut.
  // False (a cascaded version reads another upstream output than the serving version): the
  // outputs are compared at their latest values.
  bool sameSource = true;
  bool operator==(const RunValidation&) const = default;
};

// Writes the serving alias ConfigMap. With expectedResourceVersion: an update with that
// precondition (409 -> re-read, re-decide). Without: a create (409 AlreadyExists -> same).
// The alias is never written without one of the two, so two candidates cannot both win.
struct FlipAlias {
  std::string name;  // <pipeline>-serving
  std::optional<std::string> expectedResourceVersion;
  std::string pipeline;
  std::string version;
  std::string topic;
  std::string bootstrapServers;
  std::string previousVersion;
  TimePoint promotedAt{};
  std::string reason;  // kept in the alias's flips: Promotion, Rollback, Recreate
  bool equal = false;  // kept in the alias's flips (AliasFlip::equal)
  bool operator==(const FlipAlias&) const = default;
};

// Creates the successor of this serving version after a flip of the pipeline it reads
// (spec.cascade.mode Follow): a PipelineVersion <pipeline>-<version> with this one's spec,
// but `version`, the default output topic, and, when the flip upstream changed that output by
// intent, the comparison skipped or the promotion manual. Creating one that exists already
// succeeds: the name is a function of the flip, so a crash between two passes creates it
// once.
struct CreateCascadedVersion {
  std::string name;
  std::string version;
  std::string upstreamPipeline;
  std::string upstreamVersion;
  std::string upstreamTopic;
  bool upstreamEqual = false;    // the flip upstream was validated equal
  bool skipValidation = false;   // spec.validation.mode Skip
  bool manualPromotion = false;  // spec.promotion.mode Manual
  bool operator==(const CreateCascadedVersion&) const = default;
};

enum class EventType { kNormal, kWarning };

struct RecordEvent {
  EventType type = EventType::kNormal;
  std::string reason;
  std::string message;
  bool operator==(const RecordEvent&) const = default;
};

using Action =
    std::variant<AddFinalizer, RemoveFinalizer, RemoveAnnotation, CreateTopics, DeleteTopics,
                 DeleteConsumerGroup, EnsureWorker, DeleteWorker, EnsureReplayQuota,
                 DeleteReplayQuota, RunValidation, FlipAlias, CreateCascadedVersion, RecordEvent>;

std::ostream& operator<<(std::ostream& os, const Action& a);

}  // namespace kappa::controllers
