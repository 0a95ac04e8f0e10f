// Value types of the PipelineVersion cutover logic: the parts of the API (docs/api.md)
// that the state machine reads and writes, and `Observed`, everything the reconcile driver
// read from the world in one pass. Plain values only: they compare and print, so a failing
// test shows a readable diff, and they carry no handles, clocks or clients.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "runtime/kafka/lag_monitor.h"
#include "runtime/kafka/retention_preflight.h"
#include "runtime/kafka/stragglers.h"
#include "runtime/worker/dry_run.h"

namespace kappa::controllers {

using TimePoint = std::chrono::system_clock::time_point;
using Seconds = std::chrono::seconds;

// ---------------------------------------------------------------------------------------------
// Spec

enum class ProcessorKind { kBuiltin, kContainer };
enum class ValidationMode { kSampled, kSkip };
enum class PromotionMode { kAuto, kManual };

// Container resources (requests, limits), quantities kept as the strings the API holds.
struct Resources {
  std::map<std::string, std::string> requests;
  std::map<std::string, std::string> limits;
  bool operator==(const Resources&) const = default;
};

struct KafkaSpec {
  std::string bootstrapServers;
  std::string credentialsSecret;
  bool operator==(const KafkaSpec&) const = default;
};

struct SourceSpec {
  std::string topic;
  // Exclusive with topic: read the output of this pipeline's serving version (a medallion
  // tier reading the one above). Resolved once, in Pending, into status.source.
  std::string pipeline;
  // Replay a source whose oldest events are already deleted (the common case for a source
  // with time retention that was never compacted). Default: refuse, because the replay
  // would not see what the serving version saw.
  bool allowTruncatedHistory = false;
  bool operator==(const SourceSpec&) const = default;
};

struct OutputSpec {
  std::string topic;       // empty: <pipeline>.<version>
  int32_t partitions = 0;  // 0: as many as the source
  int16_t replicationFactor = 1;
  std::map<std::string, std::string> config;
  // Use an output topic that exists already and holds records (the worker resumes where it
  // ends). Off: such a topic is refused, since it is not this version's.
  bool adoptExisting = false;
  bool operator==(const OutputSpec&) const = default;
};

struct ReplaySpec {
  int32_t replicas = 4;
  Resources resources;
  std::string priorityClassName = "kappa-replay";
  std::map<std::string, std::string> quota;  // empty: no ResourceQuota
  int64_t maxDurationSeconds = 21600;
  // The straggler rule's window (kafka::ProgressWindow): a partition far slower than the
  // others over this long is reported. 0: no straggler detection.
  int64_t stragglerWindowSeconds = 60;
  // The dry run before the replay (worker::dryRun): `dryRunSamples` records spread over each
  // partition besides its first, middle and last (0: no dry run), and the largest fraction
  // of them the program may dead-letter (nullopt: no limit, the ratio is only reported).
  int32_t dryRunSamples = 16;
  std::optional<double> maxDeadLetterRatio;
  bool operator==(const ReplaySpec&) const = default;
};

// Caught up: on every partition the worker's position has reached the end the operator
// observed at most maxLagSeconds earlier (and, if set, at most maxLagMessages behind),
// continuously for stableSeconds. See kafka::withinBound.
struct CatchUpSpec {
  int64_t maxLagSeconds = 5;
  std::optional<int64_t> maxLagMessages;
  int64_t stableSeconds = 30;
  bool operator==(const CatchUpSpec&) const = default;
};

struct ValidationSpec {
  ValidationMode mode = ValidationMode::kSampled;
  int32_t sampleKeys = 5000;
  std::vector<std::string> compareFields;
  std::vector<std::string> ignoreFields;
  double numericTolerance = 0;
  double maxMismatchRatio = 0;
  int64_t timeoutSeconds = 600;
  // The sample tap (kappa-worker's --tap-rate): about one key in tapRate has its output
  // records also written to <output>.tap, which a comparison reads instead of the whole
  // output when both versions have one at the same rate. 0: no tap.
  uint32_t tapRate = 256;
  // The parallel run: with a window, the candidate runs live beside the serving version and
  // is compared every roundIntervalSeconds, at a fresh cut each time, for windowSeconds; every
  // round must pass. 0: one comparison.
  int64_t windowSeconds = 0;
  int64_t roundIntervalSeconds = 300;
  bool operator==(const ValidationSpec&) const = default;
};

struct PromotionSpec {
  PromotionMode mode = PromotionMode::kAuto;
  int64_t drainDelaySeconds = 300;
  int64_t retainOutputSeconds = 86400;
  // The shadow after the flip: for this long the previous version keeps running (it is not
  // drained) and the two outputs are compared every validation.roundIntervalSeconds. 0: none.
  int64_t shadowSeconds = 0;
  // A shadow round that finds the outputs drifted apart rolls the alias back to the
  // previous version (whose output is still there), instead of only alerting.
  bool shadowRollback = false;
  bool operator==(const PromotionSpec&) const = default;
};

// Whether a tier that reads another pipeline (spec.source.pipeline) follows its flips.
enum class CascadeMode { kPinned, kFollow };
// What a cascaded version expects when the flip upstream changed that pipeline's output by
// intent (a manual promotion, an accepted mismatch, a rollback): its own output will differ
// from the serving one's, so either its comparison is skipped or its promotion is manual.
enum class UpstreamChangePolicy { kManualPromotion, kSkipValidation };

struct CascadeSpec {
  // Follow: when the alias of spec.source.pipeline flips, the serving version of this
  // pipeline creates its successor (same spec, reading the new upstream output), which runs
  // the normal cutover.
  CascadeMode mode = CascadeMode::kPinned;
  UpstreamChangePolicy whenUpstreamChanged = UpstreamChangePolicy::kManualPromotion;
  bool operator==(const CascadeSpec&) const = default;
};

struct Spec {
  std::string pipeline;
  std::string version;
  KafkaSpec kafka;
  SourceSpec source;
  OutputSpec output;
  // The program or image is rendered into the Deployment by the driver; the state machine
  // only needs to know which kind it is.
  ProcessorKind processor = ProcessorKind::kBuiltin;
  int32_t replicas = 1;
  Resources resources;
  ReplaySpec replay;
  CatchUpSpec catchUp;
  ValidationSpec validation;
  PromotionSpec promotion;
  CascadeSpec cascade;
  bool operator==(const Spec&) const = default;
};

// Names derived from the spec (docs/api.md).
std::string outputTopicName(const Spec& spec);  // spec.output.topic or <pipeline>.<version>
std::string deadLetterTopicName(const std::string& outputTopic);  // <output>.dlq
std::string tapTopicName(const std::string& outputTopic);         // <output>.tap
std::string stateTopicName(const std::string& outputTopic);       // <output>.state
struct SourceStatus;
// The topic a version reads: spec.source.topic, else the one resolved into status.source.
std::string sourceTopic(const Spec& spec, const SourceStatus& source);
std::string workerName(const Spec& spec);            // <pipeline>-<version>
std::string replayQuotaName(const Spec& spec);       // <pipeline>-<version>-replay
std::string aliasName(const std::string& pipeline);  // <pipeline>-serving
// Unique per object: a deleted and re-created PipelineVersion of the same name gets a new
// uid and so a new group, which starts from the earliest offset again.
std::string consumerGroupName(const Spec& spec, const std::string& uid);

// ---------------------------------------------------------------------------------------------
// Status

enum class Phase {
  kPending,
  kProvisioning,
  kReplaying,
  kValidating,
  kAwaitingPromotion,
  kPromoting,
  kServing,
  kDraining,
  kRetired,
  kFailed,
  kSuperseded,
};

const char* phaseName(Phase p);

enum class ConditionStatus { kTrue, kFalse, kUnknown };

const char* conditionStatusName(ConditionStatus s);

// Condition types (adjectives or past participles, KEP-1623).
inline constexpr const char* kProvisioned = "Provisioned";
inline constexpr const char* kRetentionSafe = "RetentionSafe";
inline constexpr const char* kCaughtUp = "CaughtUp";
inline constexpr const char* kValidated = "Validated";
inline constexpr const char* kServingCondition = "Serving";
inline constexpr const char* kDrained = "Drained";
inline constexpr const char* kWorkerAvailable = "WorkerAvailable";
inline constexpr const char* kShadowMatched = "ShadowMatched";

struct Condition {
  std::string type;
  ConditionStatus status = ConditionStatus::kUnknown;
  std::string reason;
  std::string message;
  TimePoint lastTransitionTime{};
  int64_t observedGeneration = 0;
  bool operator==(const Condition&) const = default;
};

struct LagStatus {
  int64_t messages = 0;
  int32_t partitions = 0;  // partitions that are behind
  int64_t consumed = 0;    // records read since the log start, for the rate of the next pass
  std::optional<TimePoint> sampledAt;
  double seconds = 0;             // the slowest partition's lag in seconds
  bool secondsEstimated = false;  // from record timestamps: not (yet) an observed lag
  bool operator==(const LagStatus&) const = default;
};

// A partition of the replay that reads far more slowly than the others (the rule of
// kafka::ProgressWindow), as status.replay.stragglers keeps it.
struct StragglerStatus {
  int32_t partition = 0;
  int64_t lag = 0;
  double messagesPerSecond = 0;      // over the window
  double peerMessagesPerSecond = 0;  // the median of the other lagging partitions
  TimePoint since{};                 // first reported
  std::string pod{};                 // the worker pod that holds it ("": not known)
  bool operator==(const StragglerStatus&) const = default;
};

// At most this many stragglers are listed: the slowest, in partition order.
inline constexpr size_t kMaxStragglers = 10;

struct ReplayStatus {
  std::optional<TimePoint> startedAt;
  std::optional<TimePoint> caughtUpAt;
  double progressPercent = 0;
  double messagesPerSecond = 0;
  std::optional<int64_t> etaSeconds;
  // When the lag last entered the catch-up bound (the stability clock of catchUp).
  std::optional<TimePoint> lagWithinSince;
  std::vector<StragglerStatus> stragglers;  // by partition
  bool operator==(const ReplayStatus&) const = default;
};

struct MismatchExample {
  std::string key;
  std::optional<std::string> serving;    // JSON value; absent: no record for the key
  std::optional<std::string> candidate;  // JSON value; absent: no record for the key
  std::string diff;  // the fields that differ (kafka::fieldDiff): "revenue: 466.6 -> 3278.13"
  bool operator==(const MismatchExample&) const = default;
};

inline constexpr size_t kMaxMismatchExamples = 5;
// A longer diff is cut (the status schema allows 4096 characters).
inline constexpr size_t kMaxExampleDiffChars = 1024;

struct ValidationStatus {
  std::string servingVersion;  // the version this one was compared with
  std::optional<TimePoint> startedAt;
  // The parallel run's rounds: the current one starts at roundStartedAt (which identifies its
  // comparison; a time to come while waiting for it), after roundsPassed passed ones.
  std::optional<TimePoint> roundStartedAt;
  int64_t roundsPassed = 0;
  int64_t roundsPlanned = 0;
  // While the current comparison reads: records read so far, of about recordsToRead.
  int64_t recordsRead = 0;
  int64_t recordsToRead = 0;
  int64_t sampledKeys = 0;
  int64_t comparedKeys = 0;
  int64_t mismatchedKeys = 0;
  // Sampled keys whose latest record lay past the comparison's cut (see ValidationResult).
  int64_t notComparableKeys = 0;
  double mismatchRatio = 0;
  std::optional<TimePoint> completedAt;
  std::vector<MismatchExample> examples;  // at most kMaxMismatchExamples
  // What was read: "Tap" (both versions' sample taps) or "Output" (both outputs whole).
  std::string source;
  bool operator==(const ValidationStatus&) const = default;
};

// What a version reads, fixed in Pending: spec.source.topic, or the output of the version
// that spec.source.pipeline's alias named then (pipeline and version empty for a topic).
struct SourceStatus {
  std::string pipeline;
  std::string version;
  std::string topic;
  bool operator==(const SourceStatus&) const = default;
};

// One phase transition, as status.history keeps it.
struct HistoryEntry {
  TimePoint time{};
  Phase from = Phase::kPending;
  Phase to = Phase::kPending;
  std::string reason;
  std::string actor;  // "policy", "annotation kappa.io/promote|abort|rollback", "deletion"
  std::string message;
  // Leaving Validating or AwaitingPromotion: the comparison the step was taken on.
  std::optional<int64_t> comparedKeys;
  std::optional<int64_t> mismatchedKeys;
  bool operator==(const HistoryEntry&) const = default;
};

// status.history keeps this many transitions, the oldest dropped first.
inline constexpr size_t kHistoryLimit = 20;

// The last exit of a worker pod's container, restarted in its pod (the kubelet's
// lastState.terminated of a pod still there): seen even when the restart was too quick for
// any pod status to show it not ready. containerId names the container that exited, so an
// exit is one exit whatever the restart count says (it moves only once a back-off ends).
struct WorkerExit {
  std::string pod;
  std::string containerId;
  int32_t exitCode = 0;
  std::string reason;  // OOMKilled, Error, ...
  TimePoint finishedAt{};
  bool operator==(const WorkerExit&) const = default;
};

struct Status {
  Phase phase = Phase::kPending;
  // CamelCase reason of the current phase, e.g. ReplayTimeout for Failed. Empty when the
  // phase needs no explanation.
  std::string reason;
  std::string message;
  int64_t observedGeneration = 0;
  std::vector<Condition> conditions;
  std::string consumerGroup;
  std::string outputTopic;
  std::string tapTopic;  // fixed with outputTopic when spec.validation.tapRate > 0
  // Fixed with outputTopic when the program emits on close: its open windows' changelog.
  std::string stateTopic;
  SourceStatus source;
  LagStatus lag;
  ReplayStatus replay;
  ValidationStatus validation;
  std::optional<TimePoint> servingSince;
  std::string previousVersion;
  // The shadow comparison with the previous version after the flip (servingVersion names
  // the previous version; completedAt is set when it ended, matched, drifted or not).
  ValidationStatus shadow;
  std::optional<TimePoint> drainingSince;
  std::optional<TimePoint> drainedAt;
  std::optional<TimePoint> outputDeletedAt;
  // The last exit reported of each worker pod still there (a Warning Event each).
  std::vector<WorkerExit> workerExits;
  std::vector<HistoryEntry> history;  // oldest first
  // The dry run of spec.processor.builtin over sampled history, made once in Provisioning.
  std::optional<worker::DryRunReport> dryRun;
  bool operator==(const Status&) const = default;
};

const Condition* findCondition(const Status& status, const std::string& type);

// ---------------------------------------------------------------------------------------------
// Observed: what the driver read this pass.

inline constexpr const char* kFinalizer = "kappa.io/cleanup";
inline constexpr const char* kPromoteAnnotation = "kappa.io/promote";
inline constexpr const char* kAbortAnnotation = "kappa.io/abort";
// status.reason of a version failed by kAbortAnnotation: it keeps nothing (other failures
// keep their consumer group and output for a post-mortem).
inline constexpr const char* kAbortedReason = "Aborted";
// Refusals before a version creates anything (Failed with these reasons).
inline constexpr const char* kDuplicateVersionReason = "DuplicateVersion";
inline constexpr const char* kOutputTopicInUseReason = "OutputTopicInUse";
inline constexpr const char* kOutputTopicNotEmptyReason = "OutputTopicNotEmpty";
// spec.source.pipeline reads, through other pipelines, the version's own pipeline.
inline constexpr const char* kSourceCycleReason = "SourceCycle";
// spec.processor.builtin is a program kappa-worker would refuse.
inline constexpr const char* kInvalidProgramReason = "InvalidProgram";
// status.reason of a deleted version whose deletion waits for its downstream readers.
inline constexpr const char* kDeletionHeldReason = "DeletionHeld";
inline constexpr const char* kRollbackAnnotation = "kappa.io/rollback";

struct ObjectMeta {
  std::string name;
  std::string uid;
  int64_t generation = 1;
  TimePoint creationTimestamp{};
  std::optional<TimePoint> deletionTimestamp;
  bool hasFinalizer = false;
  std::map<std::string, std::string> annotations;
  // Label kappa.io/cascade-upstream-version: a version a cascade made, for the flip of the
  // upstream pipeline to this version ("": not made by a cascade).
  std::string cascadeUpstreamVersion;
  bool operator==(const ObjectMeta&) const = default;
};

// True when the annotation is set to "true" (the value kubectl kappa writes).
bool annotationSet(const ObjectMeta& meta, const std::string& key);

// The serving alias ConfigMap <pipeline>-serving.
// One flip of the alias, as the alias ConfigMap keeps it (data.flips, newest first).
struct AliasFlip {
  std::string version;
  std::string previousVersion;
  std::string topic;
  std::optional<TimePoint> at;
  std::string reason;  // Promotion, Rollback, Recreate
  // A promotion whose comparison found the outputs equal (Validated Matched or
  // WithinTolerance): the output did not change by intent. What a cascade downstream expects.
  bool equal = false;
  bool operator==(const AliasFlip&) const = default;
};

// How many flips the alias keeps, this one included.
inline constexpr size_t kAliasFlipsKept = 10;

struct ServingAlias {
  std::string version;
  std::string topic;
  std::string previousVersion;
  std::optional<TimePoint> promotedAt;
  std::string resourceVersion;   // the CAS precondition of the next flip
  std::vector<AliasFlip> flips;  // the last flips, newest first (this one included)
  bool operator==(const ServingAlias&) const = default;
};

// Another PipelineVersion of the same pipeline in the same namespace, from the cache.
struct OtherVersion {
  std::string name;
  std::string version;
  TimePoint creationTimestamp{};
  bool deleting = false;
  Phase phase = Phase::kPending;
  std::string outputTopic;
  std::string tapTopic;  // status.tapTopic: "" when it has no tap
  uint32_t tapRate = 0;  // spec.validation.tapRate
  std::string consumerGroup;
  std::optional<TimePoint> drainedAt;
  int64_t retainOutputSeconds = 0;
  bool outputDeleted = false;  // status.outputDeletedAt is set
  std::string bootstrapServers;
  std::string plannedOutputTopic;        // outputTopicName(spec), before status.outputTopic is set
  int64_t shadowSeconds = 0;             // spec.promotion.shadowSeconds
  int64_t validationTimeoutSeconds = 0;  // spec.validation.timeoutSeconds (a round's bound)
  bool shadowDone = false;               // status.shadow.completedAt is set
  std::string sourcePipeline;            // spec.source.pipeline
  std::string sourceVersion;             // status.source.version
  std::string sourceTopic;               // spec.source.topic, or status.source.topic
  bool cascaded = false;                 // made by a cascade (label kappa.io/cascade-from)
  bool operator==(const OtherVersion&) const = default;
};

// What the operator keeps of each PipelineVersion in its informer cache: the version as a
// sibling's decide() sees it, and what the work queue and the metrics read. A few hundred
// bytes instead of the JSON tree's kilobytes: with 10,000 versions the cache is most of the
// operator's memory. The reconciler reads the object itself from the apiserver, whole.
struct CachedVersion {
  std::string ns;
  std::string resourceVersion;  // the informer tells updates apart by it
  std::string pipeline;
  OtherVersion other;
  std::optional<TimePoint> servingSince;
  int64_t lagMessages = 0;
  double lagSeconds = 0;
  double progressPercent = 0;
  double mismatchRatio = 0;
  bool retentionAtRisk = false;   // condition RetentionSafe is False with reason AtRisk
  bool validationFailed = false;  // condition Validated is False
  bool workerAvailable = false;   // condition WorkerAvailable is True
  bool shadowing = false;         // status.shadow has started
  bool shadowDrifted = false;     // condition ShadowMatched is False
  double shadowMismatchRatio = 0;
  // status.replay.stragglers: partition and pod.
  std::vector<std::pair<int32_t, std::string>> stragglers;
  bool operator==(const CachedVersion&) const = default;
};

struct ValidationResult {
  int64_t sampledKeys = 0;
  int64_t comparedKeys = 0;
  int64_t mismatchedKeys = 0;
  // Sampled keys whose latest record in either output lay past the cut: not compared at this
  // cut (never counted as mismatches). When they outnumber the compared ones the comparison
  // is inconclusive and runs again at a later cut.
  int64_t notComparableKeys = 0;
  double mismatchRatio = 0;
  std::vector<MismatchExample> examples;
  std::string source;  // "Tap" or "Output", see ValidationStatus::source
  bool operator==(const ValidationResult&) const = default;
};

// A comparison the driver runs in the background for this object. It is identified by the
// `requestedAt` of the RunValidation action that started it (status.validation.startedAt).
struct ValidationRun {
  TimePoint requestedAt{};
  bool done = false;
  std::optional<ValidationResult> result;  // done and succeeded
  std::string error;                       // done and failed (retried until the timeout)
  // While it runs: records read of the topics compared, of (at most) recordsToRead.
  int64_t recordsRead = 0;
  int64_t recordsToRead = 0;
  std::optional<TimePoint> finishedAt;  // done: when
  bool operator==(const ValidationRun&) const = default;
};

struct KafkaFacts {
  std::optional<int32_t> sourcePartitions;  // nullopt: the source topic does not exist
  bool outputTopicExists = false;
  bool deadLetterTopicExists = false;
  bool tapTopicExists = false;    // status.tapTopic, read when outputTopicExists is
  bool stateTopicExists = false;  // status.stateTopic, likewise
  // Pending: the records in the planned output topic when it exists already (nullopt: it
  // does not).
  std::optional<int64_t> existingOutputRecords;
  // Pending: the same for the planned output's state changelog (<output>.state).
  std::optional<int64_t> existingStateRecords;
  bool consumerGroupExists = false;
  // A terminal refusal from the last attempt to create the output topics (invalid config,
  // policy violation); retriable errors never land here.
  std::optional<std::string> topicCreateError;
  std::optional<kafka::RetentionReport> retention;  // gathered in Provisioning and Replaying
  // Provisioning, once the topics exist, for a builtin program with spec.replay.dryRunSamples
  // > 0 and no status.dryRun yet.
  std::optional<worker::DryRunReport> dryRun;
  std::optional<kafka::LagSnapshot> lag;  // gathered in Replaying
  // With a lag sample: the partitions the straggler rule names (nullopt: no verdict, the
  // window has not passed yet), and the group member that holds each of them.
  std::optional<std::vector<kafka::Straggler>> stragglers;
  std::map<int32_t, kafka::GroupMember> stragglerHolders;
  std::optional<ValidationRun> validation;  // the driver's run for this object, if any
  bool operator==(const KafkaFacts&) const = default;
};

enum class WorkerProfile { kReplay, kSteady };

const char* profileName(WorkerProfile p);

// Why a worker's pods do not run, as the cluster tells it: the Deployment's ReplicaFailure
// (a ResourceQuota or LimitRange refusing its pods), a pod the scheduler cannot place, an
// image that cannot be pulled or a container that cannot be created. Fixed outside the
// operator (raise the quota, free a node, push the image), so it never fails a version.
struct WorkerProblem {
  std::string reason;   // ReplicaFailure, Unschedulable, ImagePullFailed, ContainerCreateFailed
  std::string message;  // the cluster's own words (e.g. the quota's "exceeded quota: ...")
  bool operator==(const WorkerProblem&) const = default;
};

using ReplayQuotaHard = std::map<std::string, std::string>;  // a ResourceQuota's spec.hard

// What the cluster shows of a version's worker (WorkloadRunner::observeWorker).
struct WorkerFacts {
  bool exists = false;
  WorkerProfile profile = WorkerProfile::kSteady;
  int32_t replicas = 0;
  // Pods ready now, counted from the pods themselves (not stopping, condition Ready True): the
  // Deployment's own count follows them through two controllers and can lag a short outage.
  int32_t readyReplicas = 0;
  // A change to the Deployment is rolling out (its controller has not seen it yet, or the new
  // pods are not all available): pods not ready then are being replaced, not failing.
  bool updating = false;
  std::string ownerUid;       // the uid in the Deployment's ownerReference
  bool crashLooping = false;  // a container in CrashLoopBackOff (or restarting repeatedly)
  int32_t podsLeft = 0;       // worker pods still there (stopping ones too)
  std::optional<WorkerProblem> problem;         // why its pods do not run, if the cluster says so
  std::vector<WorkerExit> exits;                // of each pod that has one, its latest
  std::map<std::string, std::string> podsByIp;  // status.podIP -> pod name
  bool operator==(const WorkerFacts&) const = default;
};

// An output topic another PipelineVersion uses (status.outputTopic, or the planned one of an
// older version that has not provisioned yet).
struct TopicClaim {
  std::string topic;
  std::string bootstrapServers;
  std::string ns;
  std::string name;  // of the PipelineVersion
  bool operator==(const TopicClaim&) const = default;
};

// A version of another pipeline that reads this version's output (its status.source names
// this version) and still runs: a candidate, the serving version, or one draining.
struct Reader {
  std::string pipeline;
  std::string name;
  Phase phase = Phase::kPending;
  bool operator==(const Reader&) const = default;
};

struct Observed {
  ObjectMeta meta;
  Spec spec;
  Status status;
  std::optional<ServingAlias> alias;  // nullopt: the ConfigMap does not exist
  std::vector<OtherVersion> others;   // the same pipeline, this object excluded
  KafkaFacts kafka;
  WorkerFacts worker;
  // The replay ResourceQuota's spec.hard as the apiserver keeps it; nullopt: no quota.
  std::optional<ReplayQuotaHard> replayQuota;
  // Output topics of every other PipelineVersion the operator sees, any pipeline, any
  // namespace: a version never provisions, nor deletes, a topic one of them uses.
  std::vector<TopicClaim> claims;
  // Medallion pipelines (spec.source.pipeline), in this namespace:
  //  - the alias of the pipeline this version reads (nullopt: none, or it serves nothing);
  std::optional<ServingAlias> upstream;
  //  - the versions that read this one's output: it keeps running, and keeps its output,
  //    while any does;
  std::vector<Reader> readers;
  //  - for each pipeline, the pipelines its versions read: a source cycle is refused.
  std::map<std::string, std::set<std::string>> pipelineSources;
  // Pending (and admission): why kappa-worker would refuse spec.processor.builtin, as
  // "<path>: <what>" with the path under spec.processor.builtin; nullopt: it would run it.
  std::optional<std::string> programError;
  // Pending: the program has window.emit onClose, so its worker keeps a state changelog.
  bool programKeepsState = false;
  bool operator==(const Observed&) const = default;
};

std::ostream& operator<<(std::ostream& os, Phase p);
std::ostream& operator<<(std::ostream& os, ConditionStatus s);
std::ostream& operator<<(std::ostream& os, WorkerProfile p);
std::ostream& operator<<(std::ostream& os, const Condition& c);
std::ostream& operator<<(std::ostream& os, const LagStatus& l);
std::ostream& operator<<(std::ostream& os, const ReplayStatus& r);
std::ostream& operator<<(std::ostream& os, const MismatchExample& e);
std::ostream& operator<<(std::ostream& os, const ValidationStatus& v);
std::ostream& operator<<(std::ostream& os, const Status& s);

// Seconds since the epoch, or "none": how times print in this component.
std::string formatTime(const std::optional<TimePoint>& t);

}  // namespace kappa::controllers
