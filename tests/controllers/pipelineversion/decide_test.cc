// Unit tests of the PipelineVersion state machine: every transition, idempotency of each
// converged phase, crashes between steps, and a whole cutover run against a simulated world.
#include "controllers/pipelineversion/decide.h"

#include "runtime/kafka/lag_monitor.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <optional>
#include <sstream>
#include <string>

namespace kappa::controllers {
namespace {

using std::chrono::seconds;

constexpr int64_t kEpoch = 1'700'000'000;
TimePoint at(int64_t s) { return TimePoint{} + seconds(kEpoch + s); }

// ----- builders -----------------------------------------------------------------------------

Spec baseSpec() {
  Spec s;
  s.pipeline = "sessions";
  s.version = "v2";
  s.kafka.bootstrapServers = "kafka:9092";
  s.source.topic = "clickstream.raw";
  s.output.replicationFactor = 3;
  s.output.config = {{"cleanup.policy", "compact"}};
  s.replicas = 2;
  s.resources.requests = {{"cpu", "500m"}};
  s.replay.replicas = 4;
  s.replay.resources.requests = {{"cpu", "2"}};
  s.replay.quota = {{"cpu", "8"}, {"pods", "8"}};
  s.replay.maxDurationSeconds = 3600;
  s.catchUp.maxLagSeconds = 5;
  s.catchUp.stableSeconds = 30;
  s.validation.sampleKeys = 1000;
  s.validation.timeoutSeconds = 600;
  s.promotion.drainDelaySeconds = 300;
  s.promotion.retainOutputSeconds = 86400;
  return s;
}

kafka::RetentionReport retention(kafka::RetentionVerdict v, std::string reason = "") {
  kafka::RetentionReport r;
  r.verdict = v;
  r.reason = reason.empty() ? std::string(kafka::verdictName(v)) + " history" : reason;
  return r;
}

// A lag sample. Without `seconds`, a lagging sample is the replay of history: ten minutes
// behind by its records' timestamps, an estimate.
kafka::LagSnapshot lagSample(int64_t lag, int64_t consumed, TimePoint sampledAt,
                             std::optional<double> seconds = std::nullopt) {
  kafka::LagSnapshot s;
  s.totalLag = lag;
  s.laggingPartitions = lag > 0 ? 3 : 0;
  s.consumed = consumed;
  s.committedAny = consumed > 0;
  s.sampledAt = sampledAt;
  s.lagSeconds = seconds.value_or(lag > 0 ? 600.0 : 0.0);
  s.lagSecondsObserved = seconds.has_value() || lag == 0;
  return s;
}

Condition cond(std::string type, ConditionStatus st, std::string reason, TimePoint since) {
  return Condition{std::move(type), st, std::move(reason), "", since, 1};
}

OtherVersion otherVersion(std::string version, int64_t createdAt, Phase phase) {
  OtherVersion o;
  o.name = "sessions-" + version;
  o.version = version;
  o.creationTimestamp = at(createdAt);
  o.phase = phase;
  o.outputTopic = "sessions." + version;
  o.consumerGroup = "kappa.sessions." + version + ".uid-" + version;
  o.retainOutputSeconds = 86400;
  return o;
}

ServingAlias aliasFor(std::string version, std::string previous, std::string rv,
                      int64_t promotedAt = -50000) {
  return ServingAlias{version,        "sessions." + version, std::move(previous),
                      at(promotedAt), std::move(rv),         {}};
}

const std::string kGroup = "kappa.sessions.v2.uid-v2";

// A worker whose pods all run and are ready.
WorkerFacts runningWorker(WorkerProfile profile, int32_t replicas) {
  WorkerFacts w;
  w.exists = true;
  w.profile = profile;
  w.replicas = replicas;
  w.readyReplicas = replicas;
  return w;
}

// An Observed for version v2 of pipeline "sessions", consistent with the given phase: the
// world looks the way that phase's previous passes left it (converged).
// The WorkerAvailable condition a pass sets for a worker whose pods all run.
Observed withWorkerAvailable(Observed o) {
  Condition c = cond(kWorkerAvailable, ConditionStatus::kTrue, "PodsReady", at(-800));
  c.message = "every pod is ready";
  o.status.conditions.push_back(c);
  return o;
}

Observed observedIn(Phase phase) {
  Observed o;
  o.meta.name = "sessions-v2";
  o.meta.uid = "uid-v2";
  o.meta.generation = 1;
  o.meta.creationTimestamp = at(-1000);
  o.meta.hasFinalizer = true;
  o.spec = baseSpec();
  o.status.observedGeneration = 1;
  o.kafka.sourcePartitions = 6;
  o.others.push_back(otherVersion("v1", -100000, Phase::kServing));
  o.alias = aliasFor("v1", "", "41");
  if (phase == Phase::kPending) return o;

  o.status.consumerGroup = kGroup;
  o.status.outputTopic = "sessions.v2";
  o.kafka.outputTopicExists = true;
  o.kafka.deadLetterTopicExists = true;
  o.status.phase = Phase::kProvisioning;
  o.status.conditions.push_back(
      cond(kProvisioned, ConditionStatus::kUnknown, "CreatingTopics", at(-900)));
  if (phase == Phase::kProvisioning) {
    o.kafka.retention = retention(kafka::RetentionVerdict::kSafe);
    return o;
  }

  o.status.conditions[0] = cond(kProvisioned, ConditionStatus::kTrue, "TopicsCreated", at(-800));
  o.status.conditions.push_back(cond(kRetentionSafe, ConditionStatus::kTrue, "Safe", at(-800)));
  o.status.conditions.push_back(cond(kCaughtUp, ConditionStatus::kFalse, "Replaying", at(-800)));
  o.status.phase = Phase::kReplaying;
  o.status.replay.startedAt = at(-800);
  o.status.lag = LagStatus{.messages = 5000,
                           .partitions = 3,
                           .consumed = 20000,
                           .sampledAt = at(-10),
                           .seconds = 600,
                           .secondsEstimated = true};
  o.status.replay.etaSeconds = 100;
  o.status.replay.progressPercent = 80;
  o.kafka.consumerGroupExists = true;
  o.worker = runningWorker(WorkerProfile::kReplay, 4);
  o.replayQuota = o.spec.replay.quota;
  o.status.conditions[1].message = retention(kafka::RetentionVerdict::kSafe).reason;
  if (phase == Phase::kReplaying) {
    o.kafka.retention = retention(kafka::RetentionVerdict::kSafe);
    o.kafka.lag = lagSample(5000, 20000, at(-10));
    return withWorkerAvailable(o);
  }

  o.status.conditions[2] = cond(kCaughtUp, ConditionStatus::kTrue, "LagWithinBound", at(-100));
  o.status.conditions.push_back(cond(kValidated, ConditionStatus::kUnknown, "Pending", at(-100)));
  o.status.phase = Phase::kValidating;
  o.status.replay.caughtUpAt = at(-100);
  o.status.replay.progressPercent = 100;
  o.status.lag = LagStatus{.messages = 0,
                           .partitions = 0,
                           .consumed = 25000,
                           .sampledAt = at(-100),
                           .seconds = 0,
                           .secondsEstimated = false};
  o.worker = runningWorker(WorkerProfile::kSteady, 2);
  o.replayQuota.reset();
  if (phase == Phase::kValidating) return withWorkerAvailable(o);

  o.status.conditions[3] = cond(kValidated, ConditionStatus::kTrue, "Matched", at(-50));
  o.status.validation.servingVersion = "v1";
  o.status.validation.startedAt = at(-90);
  o.status.validation.completedAt = at(-50);
  o.status.validation.sampledKeys = 1000;
  o.status.validation.comparedKeys = 1000;
  if (phase == Phase::kAwaitingPromotion) {
    o.spec.promotion.mode = PromotionMode::kManual;
    o.status.phase = Phase::kAwaitingPromotion;
    o.status.reason = "ManualPromotion";
    return withWorkerAvailable(o);
  }
  o.status.phase = Phase::kPromoting;
  if (phase == Phase::kPromoting) return withWorkerAvailable(o);

  o.status.phase = Phase::kServing;
  o.status.servingSince = at(-40);
  o.status.previousVersion = "v1";
  o.status.conditions.push_back(
      cond(kServingCondition, ConditionStatus::kTrue, "AliasFlipped", at(-40)));
  o.alias = aliasFor("v2", "v1", "42", -40);
  o.others[0].phase = Phase::kDraining;
  if (phase == Phase::kServing) return withWorkerAvailable(o);

  // Draining and later: v3 replaced v2.
  o.others.push_back(otherVersion("v3", 500, Phase::kServing));
  o.alias = aliasFor("v3", "v2", "43", 1000);
  o.status.phase = Phase::kDraining;
  o.status.drainingSince = at(1000);
  o.status.conditions[4] = cond(kServingCondition, ConditionStatus::kFalse, "Replaced", at(1000));
  o.status.conditions.push_back(cond(kDrained, ConditionStatus::kFalse, "Draining", at(1000)));
  if (phase == Phase::kDraining) return withWorkerAvailable(o);

  o.status.phase = Phase::kRetired;
  o.status.drainedAt = at(1300);
  o.status.conditions[5] = cond(kDrained, ConditionStatus::kTrue, "Drained", at(1300));
  o.worker = WorkerFacts{};
  o.replayQuota.reset();
  o.kafka.consumerGroupExists = false;
  if (phase == Phase::kRetired) return withWorkerAvailable(o);

  // Failed and Superseded: a candidate that stopped while replaying, already cleaned up.
  Observed f = observedIn(Phase::kReplaying);
  f.status.phase = phase;
  f.status.reason = phase == Phase::kFailed ? "ReplayTimeout" : "NewerVersion";
  f.kafka.lag.reset();
  f.worker = WorkerFacts{};
  f.replayQuota.reset();
  if (phase == Phase::kSuperseded) {
    f.kafka = KafkaFacts{};
    f.kafka.sourcePartitions = 6;
  }
  return f;
}

// ----- decision helpers ---------------------------------------------------------------------

template <typename T>
std::vector<T> actionsOf(const Decision& d) {
  std::vector<T> out;
  for (const auto& a : d.actions) {
    if (const T* t = std::get_if<T>(&a)) out.push_back(*t);
  }
  return out;
}

template <typename T>
bool has(const Decision& d) {
  return !actionsOf<T>(d).empty();
}

std::vector<RecordEvent> events(const Decision& d) { return actionsOf<RecordEvent>(d); }

bool hasEvent(const Decision& d, EventType type, const std::string& reason) {
  for (const auto& e : events(d)) {
    if (e.type == type && e.reason == reason) return true;
  }
  return false;
}

const Condition& condition(const Status& s, const std::string& type) {
  const Condition* c = findCondition(s, type);
  static const Condition missing{"<missing>", ConditionStatus::kUnknown, "<missing>", "", {}, 0};
  return c ? *c : missing;
}

Phase phaseAfter(const Observed& o, const Decision& d) {
  return d.status ? d.status->phase : o.status.phase;
}

// The converged case: a second decide after persisting a decision's status and running its
// actions changes nothing.
void expectConverged(const Observed& o, TimePoint now) {
  Decision d = decide(o, now);
  EXPECT_FALSE(d.status.has_value()) << d;
  EXPECT_TRUE(d.actions.empty()) << d;
}

// ----- the finalizer ------------------------------------------------------------------------

TEST(DecideFinalizer, NewObjectGetsOnlyTheFinalizerFirst) {
  Observed o = observedIn(Phase::kPending);
  o.meta.hasFinalizer = false;
  o.status = Status{};
  Decision d = decide(o, at(0));
  ASSERT_EQ(d.actions.size(), 1u) << d;
  EXPECT_TRUE(std::holds_alternative<AddFinalizer>(d.actions[0]));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->phase, Phase::kPending);
  EXPECT_EQ(d.status->observedGeneration, 1);
  EXPECT_TRUE(d.status->consumerGroup.empty());  // nothing external before the finalizer
}

TEST(DecideFinalizer, RemovedFinalizerIsAddedBackInAnyPhase) {
  Observed o = observedIn(Phase::kServing);
  o.meta.hasFinalizer = false;
  Decision d = decide(o, at(0));
  ASSERT_EQ(d.actions.size(), 1u) << d;
  EXPECT_TRUE(std::holds_alternative<AddFinalizer>(d.actions[0]));
  EXPECT_FALSE(d.status.has_value());
}

// ----- Pending ------------------------------------------------------------------------------

TEST(DecidePending, FixesNamesInStatusAndCreatesTopics) {
  Observed o = observedIn(Phase::kPending);
  Decision d = decide(o, at(0));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->phase, Phase::kProvisioning);
  EXPECT_EQ(d.status->consumerGroup, "kappa.sessions.v2.uid-v2");
  EXPECT_EQ(d.status->outputTopic, "sessions.v2");
  EXPECT_EQ(condition(*d.status, kProvisioned).status, ConditionStatus::kUnknown);
  EXPECT_EQ(d.status->tapTopic, "sessions.v2.tap");
  auto create = actionsOf<CreateTopics>(d);
  ASSERT_EQ(create.size(), 1u) << d;
  ASSERT_EQ(create[0].topics.size(), 3u);
  EXPECT_EQ(create[0].topics[0],
            (TopicToCreate{"sessions.v2", 6, 3, {{"cleanup.policy", "compact"}}}));
  EXPECT_EQ(create[0].topics[1], (TopicToCreate{"sessions.v2.dlq", 6, 3, {}}));
  // The tap: partition-aligned, compacted in small segments.
  EXPECT_EQ(
      create[0].topics[2],
      (TopicToCreate{
          "sessions.v2.tap", 6, 3, {{"cleanup.policy", "compact"}, {"segment.bytes", "1048576"}}}));
  EXPECT_FALSE(has<EnsureWorker>(d));
}

TEST(DecidePending, TheTapIsCompactedWhateverTheOutputKeeps) {
  Observed o = observedIn(Phase::kPending);
  o.spec.output.config = {{"cleanup.policy", "delete"},
                          {"retention.ms", "3600000"},
                          {"compression.type", "zstd"},
                          {"segment.bytes", "536870912"}};
  Decision d = decide(o, at(0));
  auto create = actionsOf<CreateTopics>(d);
  ASSERT_EQ(create.size(), 1u) << d;
  ASSERT_EQ(create[0].topics.size(), 3u);
  EXPECT_EQ(create[0].topics[0].config, o.spec.output.config);
  EXPECT_EQ(create[0].topics[2].config,
            (std::map<std::string, std::string>{{"cleanup.policy", "compact"},
                                                {"retention.ms", "3600000"},
                                                {"compression.type", "zstd"},
                                                {"segment.bytes", "1048576"}}));
}

// emit: onClose: the changelog is named with the output, created compacted beside it, awaited
// by Provisioning, handed to the worker, and deleted with the output.
TEST(DecidePending, AnOnCloseProgramGetsAStateChangelogForItsWholeLife) {
  Observed o = observedIn(Phase::kPending);
  o.spec.output.config = {{"cleanup.policy", "delete"}, {"retention.ms", "3600000"}};
  o.programKeepsState = true;
  Decision d = decide(o, at(0));
  ASSERT_TRUE(d.status.has_value()) << d;
  EXPECT_EQ(d.status->stateTopic, "sessions.v2.state");
  auto create = actionsOf<CreateTopics>(d);
  ASSERT_EQ(create.size(), 1u) << d;
  ASSERT_EQ(create[0].topics.size(), 4u);
  EXPECT_EQ(create[0].topics[3].name, "sessions.v2.state");
  EXPECT_EQ(create[0].topics[3].partitions, create[0].topics[0].partitions);
  EXPECT_EQ(create[0].topics[3].config,
            (std::map<std::string, std::string>{{"cleanup.policy", "compact"},
                                                {"retention.ms", "3600000"},
                                                {"segment.bytes", "1048576"}}));

  // Provisioning waits for it like the others.
  o.status = *d.status;
  o.programKeepsState = false;  // observed in Pending only: status keeps the name
  o.kafka.outputTopicExists = true;
  o.kafka.deadLetterTopicExists = true;
  o.kafka.tapTopicExists = true;
  o.kafka.retention = retention(kafka::RetentionVerdict::kSafe);
  d = decide(o, at(5));
  EXPECT_FALSE(d.status.has_value()) << d;  // still Provisioning
  create = actionsOf<CreateTopics>(d);
  ASSERT_EQ(create.size(), 1u) << d;
  ASSERT_EQ(create[0].topics.size(), 1u);
  EXPECT_EQ(create[0].topics[0].name, "sessions.v2.state");
  EXPECT_FALSE(has<EnsureWorker>(d)) << d;

  o.kafka.stateTopicExists = true;
  d = decide(o, at(10));
  ASSERT_TRUE(d.status.has_value()) << d;
  EXPECT_EQ(d.status->phase, Phase::kReplaying);
  auto worker = actionsOf<EnsureWorker>(d);
  ASSERT_EQ(worker.size(), 1u) << d;
  EXPECT_EQ(worker[0].stateTopic, "sessions.v2.state");

  // Aborted: deleted with the output once the worker is gone.
  o.status = *d.status;
  o.meta.annotations[kAbortAnnotation] = "true";
  d = decide(o, at(15));
  ASSERT_TRUE(d.status.has_value()) << d;
  o.status = *d.status;
  o.worker = WorkerFacts{};
  o.replayQuota.reset();
  d = decide(o, at(20));
  auto del = actionsOf<DeleteTopics>(d);
  ASSERT_EQ(del.size(), 1u) << d;
  EXPECT_NE(std::find(del[0].topics.begin(), del[0].topics.end(), "sessions.v2.state"),
            del[0].topics.end())
      << d;
}

TEST(DecidePending, AnOnCloseProgramNeitherAdoptsAnOutputNorTakesAnotherVersionsChangelog) {
  Observed o = observedIn(Phase::kPending);
  o.programKeepsState = true;
  o.spec.output.adoptExisting = true;
  o.kafka.existingOutputRecords = 500;
  Decision d = decide(o, at(0));
  ASSERT_TRUE(d.status.has_value()) << d;
  EXPECT_EQ(d.status->phase, Phase::kFailed);
  EXPECT_EQ(d.status->reason, kOutputTopicNotEmptyReason);
  EXPECT_NE(d.status->message.find("an output written with window.emit onClose cannot be adopted"),
            std::string::npos)
      << d.status->message;
  EXPECT_FALSE(has<CreateTopics>(d));
  auto adopt = ownershipRefusal(o);
  ASSERT_TRUE(adopt.has_value());
  EXPECT_EQ(adopt->field, "spec.output.adoptExisting");

  o.spec.output.adoptExisting = false;
  o.kafka.existingOutputRecords = 0;
  o.kafka.existingStateRecords = 42;
  d = decide(o, at(0));
  ASSERT_TRUE(d.status.has_value()) << d;
  EXPECT_EQ(d.status->phase, Phase::kFailed);
  EXPECT_NE(d.status->message.find("state changelog sessions.v2.state already holds 42 records"),
            std::string::npos)
      << d.status->message;
  // The admission check says the same at apply.
  auto refusal = ownershipRefusal(o);
  ASSERT_TRUE(refusal.has_value());
  EXPECT_EQ(refusal->field, "spec.output.topic");

  // Without onClose the changelog's name means nothing.
  o.programKeepsState = false;
  EXPECT_FALSE(ownershipRefusal(o).has_value());
}

TEST(DecidePending, AProgramKappaWorkerWouldRefuseFailsTheVersionNamingTheField) {
  Observed o = observedIn(Phase::kPending);
  o.programError = "select[2].as: duplicate output field 'user_id'";
  Decision d = decide(o, at(0));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->phase, Phase::kFailed);
  EXPECT_EQ(d.status->reason, kInvalidProgramReason);
  EXPECT_EQ(d.status->message,
            "spec.processor.builtin.select[2].as: duplicate output field 'user_id'");
  EXPECT_FALSE(has<CreateTopics>(d));
  auto refusal = programRefusal(o);
  ASSERT_TRUE(refusal.has_value());
  EXPECT_EQ(refusal->field, "spec.processor.builtin.select[2].as");
  EXPECT_EQ(refusal->message, "duplicate output field 'user_id'");
  // A whole-program error names the program itself.
  o.programError = "program: must be a mapping";
  EXPECT_EQ(programRefusal(o)->field, "spec.processor.builtin");
}

TEST(DecidePending, NoTapForAnAdoptedOutput) {
  Observed o = observedIn(Phase::kPending);
  o.spec.output.adoptExisting = true;  // records before this version: its tap would lack them
  Decision d = decide(o, at(0));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->tapTopic, "");
}

TEST(DecidePending, NoTapWithTapRateZero) {
  Observed o = observedIn(Phase::kPending);
  o.spec.validation.tapRate = 0;
  Decision d = decide(o, at(0));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->tapTopic, "");
  auto create = actionsOf<CreateTopics>(d);
  ASSERT_EQ(create.size(), 1u) << d;
  EXPECT_EQ(create[0].topics.size(), 2u);
}

TEST(DecidePending, GroupIsUniquePerObjectAndOutputFollowsSpec) {
  Observed o = observedIn(Phase::kPending);
  o.meta.uid = "uid-recreated";
  o.spec.output.topic = "sessions-out";
  o.spec.output.partitions = 12;
  Decision d = decide(o, at(0));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->consumerGroup, "kappa.sessions.v2.uid-recreated");
  EXPECT_NE(d.status->consumerGroup,
            decide(observedIn(Phase::kPending), at(0)).status->consumerGroup);
  auto create = actionsOf<CreateTopics>(d);
  ASSERT_EQ(create.size(), 1u);
  EXPECT_EQ(create[0].topics[0].name, "sessions-out");
  EXPECT_EQ(create[0].topics[0].partitions, 12);
  EXPECT_EQ(create[0].topics[1].name, "sessions-out.dlq");
}

TEST(DecidePending, AbortFailsBeforeAnythingIsCreated) {
  Observed o = observedIn(Phase::kPending);
  o.meta.annotations[kAbortAnnotation] = "true";
  Decision d = decide(o, at(0));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->phase, Phase::kFailed);
  EXPECT_EQ(d.status->reason, "Aborted");
  EXPECT_FALSE(has<CreateTopics>(d));
  EXPECT_TRUE(hasEvent(d, EventType::kWarning, "Aborted"));
}

// ----- Ownership ----------------------------------------------------------------------------

// A refusal in Pending: Failed with the reason, the Provisioned condition and a Warning
// saying it, and nothing created, nothing deleted.
void expectRefused(const Decision& d, const std::string& reason, const std::string& mentions) {
  ASSERT_TRUE(d.status.has_value()) << d;
  EXPECT_EQ(d.status->phase, Phase::kFailed);
  EXPECT_EQ(d.status->reason, reason);
  EXPECT_NE(d.status->message.find(mentions), std::string::npos) << d.status->message;
  EXPECT_EQ(condition(*d.status, kProvisioned).reason, reason);
  EXPECT_TRUE(hasEvent(d, EventType::kWarning, reason));
  EXPECT_TRUE(d.status->consumerGroup.empty());
  EXPECT_TRUE(d.status->outputTopic.empty());
  for (const auto& a : d.actions) EXPECT_TRUE(std::holds_alternative<RecordEvent>(a)) << d;
}

TEST(DecideOwnership, ASecondObjectForTheSameVersionIsRefused) {
  Observed o = observedIn(Phase::kPending);
  OtherVersion first = otherVersion("v2", -2000, Phase::kReplaying);
  first.name = "sessions-v2-first";
  o.others.push_back(first);
  o.worker = runningWorker(WorkerProfile::kReplay, 4);  // the first one's Deployment
  o.worker.ownerUid = "uid-first";
  o.replayQuota = o.spec.replay.quota;
  expectRefused(decide(o, at(0)), kDuplicateVersionReason, "sessions-v2-first");
}

TEST(DecideOwnership, TheOlderOfTwoObjectsForTheSameVersionGoesOn) {
  Observed o = observedIn(Phase::kPending);
  OtherVersion second = otherVersion("v2", 500, Phase::kFailed);
  second.name = "sessions-v2-second";
  o.others.push_back(second);
  Decision d = decide(o, at(0));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->phase, Phase::kProvisioning) << d;
}

TEST(DecideOwnership, AnOutputTopicAnotherPipelineUsesIsRefused) {
  Observed o = observedIn(Phase::kPending);
  o.spec.output.topic = "orders.v1";
  o.claims.push_back(TopicClaim{"orders.v1", "kafka:9092", "team-b", "orders-v1"});
  expectRefused(decide(o, at(0)), kOutputTopicInUseReason, "PipelineVersion team-b/orders-v1");
}

TEST(DecideOwnership, TheServingVersionsTopicIsRefused) {
  Observed o = observedIn(Phase::kPending);
  o.spec.output.topic = "sessions.v1";  // the alias names it
  expectRefused(decide(o, at(0)), kOutputTopicInUseReason, "sessions-serving (version v1)");
}

TEST(DecideOwnership, TheSameTopicNameOnAnotherKafkaClusterIsNoCollision) {
  Observed o = observedIn(Phase::kPending);
  o.claims.push_back(TopicClaim{"sessions.v2", "other-kafka:9092", "team-b", "sessions-v2"});
  Decision d = decide(o, at(0));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->phase, Phase::kProvisioning) << d;
}

TEST(DecideOwnership, AnExistingOutputTopicWithRecordsIsRefusedUnlessAdopted) {
  Observed o = observedIn(Phase::kPending);
  o.kafka.existingOutputRecords = 1200;
  expectRefused(decide(o, at(0)), kOutputTopicNotEmptyReason, "1200 records");

  o.spec.output.adoptExisting = true;
  Decision d = decide(o, at(0));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->phase, Phase::kProvisioning) << d;

  o.spec.output.adoptExisting = false;
  o.kafka.existingOutputRecords = 0;  // an empty topic is used as it is
  d = decide(o, at(0));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->phase, Phase::kProvisioning) << d;
}

// A refused version, whatever ends it next, deletes nothing: the worker, quota, topics and
// group of its name belong to someone else.
TEST(DecideOwnership, ARefusedVersionCleansUpNothingOnAbortOrDelete) {
  Observed o = observedIn(Phase::kPending);
  o.status.phase = Phase::kFailed;
  o.status.reason = kDuplicateVersionReason;
  o.worker = runningWorker(WorkerProfile::kReplay, 4);
  o.worker.ownerUid = "uid-first";
  o.replayQuota = o.spec.replay.quota;
  o.kafka.outputTopicExists = true;
  o.kafka.deadLetterTopicExists = true;
  o.kafka.consumerGroupExists = true;
  Decision d = decide(o, at(0));
  EXPECT_TRUE(d.actions.empty()) << d;

  o.meta.deletionTimestamp = at(0);
  d = decide(o, at(1));
  ASSERT_EQ(d.actions.size(), 1u) << d;
  EXPECT_TRUE(std::holds_alternative<RemoveFinalizer>(d.actions[0]));
}

TEST(DecideOwnership, AWorkerOwnedByAnotherObjectIsNeverDeleted) {
  Observed o = observedIn(Phase::kReplaying);
  o.worker.ownerUid = "uid-someone-else";
  o.meta.annotations[kAbortAnnotation] = "true";
  Decision d = decide(o, at(0));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->phase, Phase::kFailed);
  EXPECT_FALSE(has<DeleteWorker>(d)) << d;
}

TEST(DecideOwnership, CleanupKeepsATopicAnotherVersionUses) {
  for (auto cleanup : std::vector<std::function<void(Observed&)>>{
           [](Observed& o) { o.meta.annotations[kAbortAnnotation] = "true"; },
           [](Observed& o) { o.others.push_back(otherVersion("v3", 10, Phase::kReplaying)); },
           [](Observed& o) { o.meta.deletionTimestamp = at(0); }}) {
    Observed o = observedIn(Phase::kReplaying);
    o.worker = WorkerFacts{};  // stopped: the topics would go in this pass
    o.kafka.consumerGroupExists = true;
    o.claims.push_back(TopicClaim{"sessions.v2", "kafka:9092", "team-a", "intruder"});
    cleanup(o);
    Decision d = decide(o, at(1));
    EXPECT_FALSE(has<DeleteTopics>(d)) << d;
    EXPECT_TRUE(has<DeleteConsumerGroup>(d)) << d;  // its own group, unique by uid
  }
}

TEST(DecideOwnership, CleanupOfAnIntruderKeepsTheServingOutput) {
  // An object that provisioned the serving version's topic (before the check existed).
  Observed o = observedIn(Phase::kReplaying);
  o.status.outputTopic = "sessions.v1";
  o.worker = WorkerFacts{};
  o.meta.annotations[kAbortAnnotation] = "true";
  Decision d = decide(o, at(1));
  EXPECT_FALSE(has<DeleteTopics>(d)) << d;
}

// ----- Provisioning -------------------------------------------------------------------------

TEST(DecideProvisioning, SafeRetentionStartsTheReplay) {
  Observed o = observedIn(Phase::kProvisioning);
  Decision d = decide(o, at(0));
  ASSERT_TRUE(d.status.has_value()) << d;
  EXPECT_EQ(d.status->phase, Phase::kReplaying);
  EXPECT_EQ(d.status->replay.startedAt, at(0));
  EXPECT_EQ(condition(*d.status, kProvisioned).status, ConditionStatus::kTrue);
  EXPECT_EQ(condition(*d.status, kRetentionSafe).status, ConditionStatus::kTrue);
  EXPECT_EQ(condition(*d.status, kRetentionSafe).reason, "Safe");
  EXPECT_EQ(condition(*d.status, kCaughtUp).status, ConditionStatus::kFalse);
  EXPECT_EQ(actionsOf<EnsureReplayQuota>(d),
            (std::vector<EnsureReplayQuota>{
                {"sessions-v2-replay", "kappa-replay", {{"cpu", "8"}, {"pods", "8"}}}}));
  auto worker = actionsOf<EnsureWorker>(d);
  ASSERT_EQ(worker.size(), 1u);
  EXPECT_EQ(worker[0], (EnsureWorker{"sessions-v2", WorkerProfile::kReplay, 4, "kappa-replay",
                                     Resources{{{"cpu", "2"}}, {}}, kGroup, "clickstream.raw",
                                     "sessions.v2", ""}));
  EXPECT_TRUE(hasEvent(d, EventType::kNormal, "ReplayStarted"));
  EXPECT_FALSE(hasEvent(d, EventType::kWarning, "RetentionAtRisk"));
}

TEST(DecideProvisioning, NoQuotaWhenTheSpecHasNone) {
  Observed o = observedIn(Phase::kProvisioning);
  o.spec.replay.quota.clear();
  Decision d = decide(o, at(0));
  EXPECT_FALSE(has<EnsureReplayQuota>(d)) << d;
  EXPECT_TRUE(has<EnsureWorker>(d));
}

TEST(DecideProvisioning, AtRiskRetentionWarnsAndContinues) {
  Observed o = observedIn(Phase::kProvisioning);
  o.kafka.retention = retention(kafka::RetentionVerdict::kAtRisk, "oldest events expire in 1h");
  Decision d = decide(o, at(0));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->phase, Phase::kReplaying);
  EXPECT_EQ(condition(*d.status, kRetentionSafe).status, ConditionStatus::kFalse);
  EXPECT_EQ(condition(*d.status, kRetentionSafe).reason, "AtRisk");
  auto ev = events(d);
  ASSERT_TRUE(hasEvent(d, EventType::kWarning, "RetentionAtRisk")) << d;
  EXPECT_TRUE(has<EnsureWorker>(d));
}

TEST(DecideProvisioning, TruncatedHistoryFails) {
  Observed o = observedIn(Phase::kProvisioning);
  o.kafka.retention = retention(kafka::RetentionVerdict::kTruncated, "2 partitions truncated");
  Decision d = decide(o, at(0));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->phase, Phase::kFailed);
  EXPECT_EQ(d.status->reason, "HistoryTruncated");
  EXPECT_NE(d.status->message.find("2 partitions truncated"), std::string::npos);
  EXPECT_EQ(condition(*d.status, kRetentionSafe).reason, "HistoryTruncated");
  EXPECT_TRUE(hasEvent(d, EventType::kWarning, "HistoryTruncated"));
  EXPECT_FALSE(has<EnsureWorker>(d));
}

TEST(DecideProvisioning, TruncatedHistoryReplaysWhenAllowed) {
  Observed o = observedIn(Phase::kProvisioning);
  o.spec.source.allowTruncatedHistory = true;
  o.kafka.retention = retention(kafka::RetentionVerdict::kTruncated);
  Decision d = decide(o, at(0));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->phase, Phase::kReplaying);
  EXPECT_EQ(condition(*d.status, kRetentionSafe).status, ConditionStatus::kFalse);
  EXPECT_EQ(condition(*d.status, kRetentionSafe).reason, "TruncatedAllowed");
  EXPECT_TRUE(hasEvent(d, EventType::kWarning, "HistoryTruncated"));
}

// A dry run that dead-lettered 3 of 40 sampled records: 2 without the key, 1 not JSON.
worker::DryRunReport dryRunOf3In40() {
  return worker::DryRunReport{
      .sampled = 40,
      .deadLettered = 3,
      .ratio = 0.075,
      .reasons = {{"missing key field", 2, {{0, 17, R"({"price":2})"}, {3, 5, "{}"}}},
                  {"bad JSON", 1, {{1, 0, "{"}}}}};
}

TEST(DecideProvisioning, DryRunBelowTheLimitIsReportedAndTheReplayStarts) {
  Observed o = observedIn(Phase::kProvisioning);
  o.spec.replay.maxDeadLetterRatio = 0.1;  // 3/40 = 0.075
  o.kafka.dryRun = dryRunOf3In40();
  Decision d = decide(o, at(0));
  ASSERT_TRUE(d.status.has_value()) << d;
  EXPECT_EQ(d.status->phase, Phase::kReplaying);
  EXPECT_EQ(d.status->dryRun, dryRunOf3In40());
  ASSERT_TRUE(hasEvent(d, EventType::kWarning, "DryRunDeadLetters")) << d;
  bool worded = false;
  for (const auto& e : events(d)) {
    worded |= e.reason == "DryRunDeadLetters" &&
              e.message ==
                  "dry run on clickstream.raw: the program would dead-letter 3 of 40 sampled "
                  "records (about 7.5% of the history): missing key field (2), bad JSON (1); "
                  "e.g. partition 0 offset 17: {\"price\":2}";
  }
  EXPECT_TRUE(worded) << d;
  EXPECT_TRUE(has<EnsureWorker>(d));
}

TEST(DecideProvisioning, DryRunAboveTheLimitFailsBeforeAnyWorker) {
  Observed o = observedIn(Phase::kProvisioning);
  o.spec.replay.maxDeadLetterRatio = 0.05;
  o.kafka.dryRun = dryRunOf3In40();
  Decision d = decide(o, at(0));
  ASSERT_TRUE(d.status.has_value()) << d;
  EXPECT_EQ(d.status->phase, Phase::kFailed);
  EXPECT_EQ(d.status->reason, "DeadLetterRatioExceeded");
  EXPECT_NE(d.status->message.find("3 of 40 sampled records (about 7.5% of the history)"),
            std::string::npos)
      << d.status->message;
  EXPECT_NE(d.status->message.find("above spec.replay.maxDeadLetterRatio 0.05"), std::string::npos)
      << d.status->message;
  EXPECT_EQ(d.status->dryRun, dryRunOf3In40());  // what failed it stays in status
  EXPECT_TRUE(hasEvent(d, EventType::kWarning, "DeadLetterRatioExceeded"));
  EXPECT_FALSE(has<EnsureWorker>(d));
  EXPECT_FALSE(has<EnsureReplayQuota>(d));
}

TEST(DecideProvisioning, DryRunAtTheLimitPasses) {
  Observed o = observedIn(Phase::kProvisioning);
  o.spec.replay.maxDeadLetterRatio = 0.075;
  o.kafka.dryRun = dryRunOf3In40();
  Decision d = decide(o, at(0));
  ASSERT_TRUE(d.status.has_value()) << d;
  EXPECT_EQ(d.status->phase, Phase::kReplaying);
}

TEST(DecideProvisioning, DryRunWithoutALimitOnlyReports) {
  Observed o = observedIn(Phase::kProvisioning);
  worker::DryRunReport all = dryRunOf3In40();
  all.deadLettered = all.sampled;  // everything
  all.ratio = 1;
  o.kafka.dryRun = all;
  Decision d = decide(o, at(0));
  ASSERT_TRUE(d.status.has_value()) << d;
  EXPECT_EQ(d.status->phase, Phase::kReplaying);
  EXPECT_EQ(d.status->dryRun, all);
  EXPECT_TRUE(hasEvent(d, EventType::kWarning, "DryRunDeadLetters"));
}

TEST(DecideProvisioning, CleanDryRunRaisesNoEvent) {
  Observed o = observedIn(Phase::kProvisioning);
  o.spec.replay.maxDeadLetterRatio = 0;
  o.kafka.dryRun = worker::DryRunReport{.sampled = 40};
  Decision d = decide(o, at(0));
  ASSERT_TRUE(d.status.has_value()) << d;
  EXPECT_EQ(d.status->phase, Phase::kReplaying);
  EXPECT_EQ(d.status->dryRun, (worker::DryRunReport{.sampled = 40}));
  EXPECT_FALSE(hasEvent(d, EventType::kWarning, "DryRunDeadLetters"));
}

TEST(DecideProvisioning, RetentionIsJudgedBeforeTheDryRun) {
  Observed o = observedIn(Phase::kProvisioning);
  o.spec.replay.maxDeadLetterRatio = 0;
  o.kafka.retention = retention(kafka::RetentionVerdict::kTruncated, "2 partitions truncated");
  o.kafka.dryRun = dryRunOf3In40();
  Decision d = decide(o, at(0));
  ASSERT_TRUE(d.status.has_value()) << d;
  EXPECT_EQ(d.status->reason, "HistoryTruncated");
}

TEST(DecideProvisioning, MissingTopicsAreCreatedAgainAfterACrash) {
  // The Pending pass wrote status and crashed before CreateTopics ran.
  Observed o = observedIn(Phase::kProvisioning);
  o.kafka.outputTopicExists = false;
  o.kafka.retention.reset();
  Decision d = decide(o, at(5));
  EXPECT_EQ(phaseAfter(o, d), Phase::kProvisioning);
  auto create = actionsOf<CreateTopics>(d);
  ASSERT_EQ(create.size(), 1u) << d;
  ASSERT_EQ(create[0].topics.size(), 1u);  // the DLQ exists already
  EXPECT_EQ(create[0].topics[0].name, "sessions.v2");
  EXPECT_EQ(d.requeueAfter, kPollInterval);
}

TEST(DecideProvisioning, MissingSourceWaitsWithACondition) {
  Observed o = observedIn(Phase::kProvisioning);
  o.kafka.outputTopicExists = false;
  o.kafka.deadLetterTopicExists = false;
  o.kafka.sourcePartitions.reset();
  Decision d = decide(o, at(5));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->phase, Phase::kProvisioning);
  EXPECT_EQ(condition(*d.status, kProvisioned).status, ConditionStatus::kFalse);
  EXPECT_EQ(condition(*d.status, kProvisioned).reason, "SourceTopicMissing");
  EXPECT_FALSE(has<CreateTopics>(d));
}

TEST(DecideProvisioning, RefusedTopicCreationFails) {
  Observed o = observedIn(Phase::kProvisioning);
  o.kafka.outputTopicExists = false;
  o.kafka.topicCreateError = "InvalidConfig: cleanup.policy=bogus";
  Decision d = decide(o, at(5));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->phase, Phase::kFailed);
  EXPECT_EQ(d.status->reason, "TopicCreationRefused");
  EXPECT_EQ(condition(*d.status, kProvisioned).status, ConditionStatus::kFalse);
  EXPECT_TRUE(hasEvent(d, EventType::kWarning, "TopicCreationRefused"));
}

TEST(DecideProvisioning, WaitingForThePreflightIsIdempotent) {
  Observed o = observedIn(Phase::kProvisioning);
  o.kafka.retention.reset();
  Decision d = decide(o, at(5));
  EXPECT_FALSE(d.status.has_value()) << d;
  EXPECT_TRUE(d.actions.empty()) << d;
  EXPECT_EQ(d.requeueAfter, kPollInterval);
}

// ----- Replaying ----------------------------------------------------------------------------

TEST(DecideReplaying, ConvergedWithTheSameSampleIsIdempotent) {
  Observed o = observedIn(Phase::kReplaying);
  expectConverged(o, at(0));
  EXPECT_EQ(decide(o, at(0)).requeueAfter, kLagSampleInterval);
}

// ----- WorkerAvailable: what the cluster says about the worker's pods ----------------------

const Condition* workerCondition(const Decision& d) {
  return d.status ? findCondition(*d.status, kWorkerAvailable) : nullptr;
}

TEST(DecideWorkerHealth, AQuotaRefusingThePodsIsReportedAndDoesNotFail) {
  Observed o = observedIn(Phase::kReplaying);
  o.worker.readyReplicas = 0;
  o.worker.problem = WorkerProblem{
      "ReplicaFailure",
      "FailedCreate: pods \"sessions-v2-x\" is forbidden: exceeded quota: sessions-v2-replay"};
  Decision d = decide(o, at(0));
  ASSERT_TRUE(d.status.has_value()) << d;
  EXPECT_EQ(d.status->phase, Phase::kReplaying);
  const Condition* c = workerCondition(d);
  ASSERT_NE(c, nullptr) << d;
  EXPECT_EQ(c->status, ConditionStatus::kFalse);
  EXPECT_EQ(c->reason, "ReplicaFailure");
  EXPECT_EQ(c->message, o.worker.problem->message);
  auto ev = events(d);
  ASSERT_EQ(ev.size(), 1u) << d;
  EXPECT_EQ(ev[0].type, EventType::kWarning);
  EXPECT_EQ(ev[0].reason, "ReplicaFailure");
  EXPECT_NE(ev[0].message.find("exceeded quota: sessions-v2-replay"), std::string::npos);
  EXPECT_TRUE(actionsOf<DeleteWorker>(d).empty()) << d;

  // The same problem at the next pass: no second event, no status change.
  o.status = *d.status;
  o.kafka.lag.reset();
  Decision again = decide(o, at(1));
  EXPECT_TRUE(events(again).empty()) << again;
  EXPECT_EQ(workerCondition(again), nullptr) << again;  // status unchanged

  // Pods still starting once the quota is raised: the problem stays until they run.
  o.worker.problem.reset();
  Decision starting = decide(o, at(2));
  EXPECT_FALSE(starting.status.has_value()) << starting;

  // They run: the condition turns True and a Normal event says so.
  o.worker.readyReplicas = o.worker.replicas;
  Decision ok = decide(o, at(3));
  c = workerCondition(ok);
  ASSERT_NE(c, nullptr) << ok;
  EXPECT_EQ(c->status, ConditionStatus::kTrue);
  EXPECT_EQ(c->reason, "PodsReady");
  ev = events(ok);
  ASSERT_EQ(ev.size(), 1u) << ok;
  EXPECT_EQ(ev[0].type, EventType::kNormal);
  EXPECT_EQ(ev[0].reason, "WorkerAvailable");
}

TEST(DecideWorkerHealth, ARaisedReplayQuotaIsAppliedAgain) {
  Observed o = observedIn(Phase::kReplaying);
  o.kafka.lag.reset();
  o.spec.replay.quota["pods"] = "16";
  Decision d = decide(o, at(0));
  auto quota = actionsOf<EnsureReplayQuota>(d);
  ASSERT_EQ(quota.size(), 1u) << d;
  EXPECT_EQ(quota[0].hard.at("pods"), "16");
  o.replayQuota = o.spec.replay.quota;
  expectConverged(o, at(1));
}

TEST(DecideWorkerHealth, ANewReasonIsANewWarning) {
  Observed o = observedIn(Phase::kServing);
  o.worker.readyReplicas = 1;
  o.worker.problem = WorkerProblem{"Unschedulable", "0/1 nodes are available: 1 Insufficient cpu."};
  Decision d = decide(o, at(0));
  ASSERT_NE(workerCondition(d), nullptr) << d;
  EXPECT_EQ(workerCondition(d)->reason, "Unschedulable");
  EXPECT_EQ(d.status->phase, Phase::kServing);
  ASSERT_EQ(events(d).size(), 1u);
  o.status = *d.status;
  o.worker.problem = WorkerProblem{"ImagePullFailed", "ErrImageNeverPull: image not present"};
  Decision next = decide(o, at(1));
  ASSERT_NE(workerCondition(next), nullptr) << next;
  EXPECT_EQ(workerCondition(next)->reason, "ImagePullFailed");
  ASSERT_EQ(events(next).size(), 1u) << next;
  EXPECT_EQ(events(next)[0].reason, "ImagePullFailed");
}

TEST(DecideWorkerHealth, AStartingWorkerIsNotAProblem) {
  Observed o = observedIn(Phase::kReplaying);
  o.status.conditions.pop_back();  // a worker seen for the first time
  o.worker.readyReplicas = 0;
  Decision d = decide(o, at(0));
  ASSERT_NE(workerCondition(d), nullptr) << d;
  EXPECT_EQ(workerCondition(d)->reason, "Starting");
  EXPECT_TRUE(events(d).empty()) << d;
}

TEST(DecideReplaying, LagIsSampledOncePerInterval) {
  CatchUpSpec c;  // maxLagSeconds 5
  Status s;
  EXPECT_TRUE(lagSampleDue(c, s, at(0)));  // never sampled
  s.lag.sampledAt = at(0);
  s.lag.seconds = 3600;       // far from the bound
  s.replay.etaSeconds = 600;  // and from the end of the replay
  // The pass triggered by the watch event of the status write that stored this sample.
  EXPECT_FALSE(lagSampleDue(c, s, at(0) + std::chrono::milliseconds(30)));
  EXPECT_FALSE(lagSampleDue(
      c, s, at(0) + kLagSampleInterval - kLagSampleSlack - std::chrono::milliseconds(1)));
  // The timer of a pass that began just before the sample: a little early, still sampling.
  EXPECT_TRUE(lagSampleDue(c, s, at(0) + kLagSampleInterval - kLagSampleSlack));
  EXPECT_TRUE(lagSampleDue(c, s, at(0) + kLagSampleInterval));
  EXPECT_TRUE(lagSampleDue(c, s, at(-1)));  // the clock stepped back: sample again
  // Stabilizing (the lag within the bound since the last sample): every second.
  s.replay.lagWithinSince = at(0);
  EXPECT_FALSE(lagSampleDue(
      c, s, at(0) + kStabilizingSampleInterval - kLagSampleSlack - std::chrono::milliseconds(1)));
  EXPECT_TRUE(lagSampleDue(c, s, at(0) + kStabilizingSampleInterval - kLagSampleSlack));
  EXPECT_FALSE(lagSampleDue(c, s, at(0) + std::chrono::milliseconds(30)));
}

TEST(DecideReplaying, TheTailOfAReplayIsSampledEverySecond) {
  CatchUpSpec c;  // maxLagSeconds 5: the tail starts 3 * 5 + 2 s behind
  Status s;
  s.lag.sampledAt = at(0);
  s.lag.messages = 5000;
  s.lag.seconds = 3600;
  s.lag.secondsEstimated = true;                                   // the replay of history
  EXPECT_EQ(lagSampleInterval(c, s), kStabilizingSampleInterval);  // no rate, no ETA yet
  s.replay.etaSeconds = 600;
  EXPECT_EQ(lagSampleInterval(c, s), kLagSampleInterval);
  s.replay.etaSeconds = 4;  // done with the history within two samples
  EXPECT_EQ(lagSampleInterval(c, s), kStabilizingSampleInterval);
  s.replay.etaSeconds = 5;
  EXPECT_EQ(lagSampleInterval(c, s), kLagSampleInterval);
  s.lag.seconds = 17;  // its last records, by their timestamps
  EXPECT_EQ(lagSampleInterval(c, s), kStabilizingSampleInterval);
  s.lag.seconds = 17.1;
  s.lag.secondsEstimated = false;
  EXPECT_EQ(lagSampleInterval(c, s), kLagSampleInterval);
  s.lag.seconds = 6;  // observed, above the bound
  EXPECT_EQ(lagSampleInterval(c, s), kStabilizingSampleInterval);
  c.maxLagSeconds = 1;  // the tail starts 3 * 1 + 2 s behind
  EXPECT_EQ(lagSampleInterval(c, s), kLagSampleInterval);
  s.lag.seconds = 5;
  EXPECT_EQ(lagSampleInterval(c, s), kStabilizingSampleInterval);
}

TEST(DecideReplaying, StalledSamplesNeverYieldANegativeOrHugeEta) {
  // Samples without progress (a broker restart) used to halve the rate towards zero, until
  // the ETA overflowed and the apiserver refused the status (etaSeconds must be >= 0).
  Observed o = observedIn(Phase::kReplaying);
  o.status.replay.messagesPerSecond = 5000;
  for (int i = 0; i < 200; ++i) {
    o.kafka.lag = lagSample(5000, 20000, at(2 * i + 2));
    Decision d = decide(o, at(2 * i + 2));
    ASSERT_TRUE(d.status.has_value()) << i;
    if (d.status->replay.etaSeconds) {
      EXPECT_GE(*d.status->replay.etaSeconds, 0) << i;
      EXPECT_LE(*d.status->replay.etaSeconds, kafka::kMaxEtaSeconds) << i;
    }
    o.status = *d.status;
  }
  EXPECT_EQ(o.status.replay.messagesPerSecond, 0);
  EXPECT_EQ(o.status.replay.etaSeconds, std::nullopt);
}

TEST(DecideReplaying, ProgressHasTwoDecimalsAndReachesHundredOnlyWhenDone) {
  Observed o = observedIn(Phase::kReplaying);
  o.kafka.lag = lagSample(1, 24999, at(0));  // 99.996 %
  Decision d = decide(o, at(0));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_DOUBLE_EQ(d.status->replay.progressPercent, 99.99);
}

TEST(DecideReplaying, ANewLagSampleRefreshesStatusWithoutActions) {
  Observed o = observedIn(Phase::kReplaying);
  o.kafka.lag = lagSample(3000, 22000, at(0));  // 2000 records in 10 s
  Decision d = decide(o, at(0));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_TRUE(d.actions.empty()) << d;
  EXPECT_EQ(d.status->phase, Phase::kReplaying);
  EXPECT_EQ(d.status->lag, (LagStatus{.messages = 3000,
                                      .partitions = 3,
                                      .consumed = 22000,
                                      .sampledAt = at(0),
                                      .seconds = 600,
                                      .secondsEstimated = true}));
  EXPECT_NEAR(d.status->replay.progressPercent, 100.0 * 22000 / 25000, 1e-9);
  EXPECT_NEAR(d.status->replay.messagesPerSecond, 200, 1e-9);
  EXPECT_EQ(d.status->replay.etaSeconds, 15);
  EXPECT_FALSE(d.status->replay.lagWithinSince.has_value());
  EXPECT_EQ(condition(*d.status, kCaughtUp).reason, "Replaying");
  // Same status: the transition time of CaughtUp does not move.
  EXPECT_EQ(condition(*d.status, kCaughtUp).lastTransitionTime, at(-800));

  o.status = *d.status;
  expectConverged(o, at(3));
}

TEST(DecideReplaying, AStragglerIsReportedWithItsPodAndAWarningOnce) {
  Observed o = observedIn(Phase::kReplaying);
  o.kafka.lag = lagSample(3000, 22000, at(0));
  o.kafka.stragglers = {kafka::Straggler{
      .partition = 2, .lag = 2500, .messagesPerSecond = 12.34, .peerMessagesPerSecond = 1000.06}};
  o.kafka.stragglerHolders[2] =
      kafka::GroupMember{.clientId = "kappa-worker/sessions-v2-abc", .host = "10.0.0.7"};
  o.worker.podsByIp = {{"10.0.0.7", "sessions-v2-abc"}};
  Decision d = decide(o, at(0));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->replay.stragglers,
            (std::vector<StragglerStatus>{{.partition = 2,
                                           .lag = 2500,
                                           .messagesPerSecond = 12.3,
                                           .peerMessagesPerSecond = 1000.1,
                                           .since = at(0),
                                           .pod = "sessions-v2-abc"}}));
  ASSERT_EQ(events(d).size(), 1u) << d;
  EXPECT_EQ(events(d)[0].type, EventType::kWarning);
  EXPECT_EQ(events(d)[0].reason, "ReplayStraggler");
  EXPECT_EQ(events(d)[0].message,
            "partition 2 of clickstream.raw read 12.3 records/s over the last 60s, the other "
            "partitions "
            "still behind 1000.1 (median); 2500 records to go; held by pod sessions-v2-abc");

  // Still one at the next sample: it keeps its first time, and no second Event.
  o.status = *d.status;
  o.kafka.lag = lagSample(2900, 22100, at(2));
  (*o.kafka.stragglers)[0].lag = 2480;
  Decision next = decide(o, at(2));
  ASSERT_TRUE(next.status.has_value());
  ASSERT_EQ(next.status->replay.stragglers.size(), 1u);
  EXPECT_EQ(next.status->replay.stragglers[0].since, at(0));
  EXPECT_EQ(next.status->replay.stragglers[0].lag, 2480);
  EXPECT_TRUE(events(next).empty()) << next;

  // Gone from the verdict: gone from status.
  o.status = *next.status;
  o.kafka.lag = lagSample(2800, 22200, at(4));
  o.kafka.stragglers = std::vector<kafka::Straggler>{};
  Decision cleared = decide(o, at(4));
  ASSERT_TRUE(cleared.status.has_value());
  EXPECT_TRUE(cleared.status->replay.stragglers.empty());
}

TEST(DecideReplaying, AStragglersPodComesFromTheClientIdWhenTheAddressIsNoPod) {
  Observed o = observedIn(Phase::kReplaying);
  o.kafka.lag = lagSample(3000, 22000, at(0));
  o.kafka.stragglers = {kafka::Straggler{.partition = 0, .lag = 10},
                        kafka::Straggler{.partition = 1, .lag = 10}};
  o.kafka.stragglerHolders[0] =
      kafka::GroupMember{.clientId = "kappa-worker/sessions-v2-def", .host = "10.9.9.9"};
  o.kafka.stragglerHolders[1] = kafka::GroupMember{.clientId = "streams-app", .host = "10.9.9.8"};
  Decision d = decide(o, at(0));
  ASSERT_TRUE(d.status.has_value());
  ASSERT_EQ(d.status->replay.stragglers.size(), 2u);
  EXPECT_EQ(d.status->replay.stragglers[0].pod, "sessions-v2-def");
  EXPECT_EQ(d.status->replay.stragglers[1].pod, "") << "a container processor's own client id";
  EXPECT_EQ(events(d).size(), 2u) << d;
}

TEST(DecideReplaying, WithoutAVerdictTheListStaysAndWithDetectionOffItEmpties) {
  // After an operator restart the window has to pass again: the list, its since and the
  // Events stay as they were meanwhile.
  Observed o = observedIn(Phase::kReplaying);
  o.status.replay.stragglers = {StragglerStatus{.partition = 1, .lag = 5, .since = at(-30)}};
  o.kafka.lag = lagSample(3000, 22000, at(0));
  o.kafka.stragglers.reset();
  Decision d = decide(o, at(0));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->replay.stragglers, o.status.replay.stragglers);
  EXPECT_TRUE(events(d).empty()) << d;
  o.spec.replay.stragglerWindowSeconds = 0;
  d = decide(o, at(0));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_TRUE(d.status->replay.stragglers.empty());
}

TEST(DecideReplaying, AtMostTenStragglersTheSlowestInPartitionOrder) {
  Observed o = observedIn(Phase::kReplaying);
  o.kafka.lag = lagSample(3000, 22000, at(0));
  std::vector<kafka::Straggler> verdict;
  for (int32_t p = 0; p < 12; ++p) {
    // Partitions 0 and 1 are the least slow of the twelve.
    verdict.push_back(
        kafka::Straggler{.partition = p, .lag = 10, .messagesPerSecond = p < 2 ? 50.0 : 1.0 * p});
  }
  o.kafka.stragglers = verdict;
  Decision d = decide(o, at(0));
  ASSERT_TRUE(d.status.has_value());
  std::vector<int32_t> listed;
  for (const auto& g : d.status->replay.stragglers) listed.push_back(g.partition);
  EXPECT_EQ(listed, (std::vector<int32_t>{2, 3, 4, 5, 6, 7, 8, 9, 10, 11}));
}

TEST(DecideReplaying, StragglersAreClearedWhenTheReplayFails) {
  Observed o = observedIn(Phase::kReplaying);
  o.status.replay.stragglers = {StragglerStatus{.partition = 1, .lag = 5, .since = at(-30)}};
  o.status.replay.startedAt = at(-1'000'000);
  o.kafka.lag.reset();
  Decision d = decide(o, at(0));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->phase, Phase::kFailed) << d;
  EXPECT_TRUE(d.status->replay.stragglers.empty());
}

TEST(DecideReplaying, StragglersAreClearedOnceCaughtUp) {
  Observed o = observedIn(Phase::kReplaying);
  o.status.replay.stragglers = {StragglerStatus{.partition = 1, .lag = 5, .since = at(-30)}};
  o.status.replay.lagWithinSince = at(-31);
  o.status.lag.seconds = 0;
  o.kafka.lag = lagSample(0, 25000, at(0));
  Decision d = decide(o, at(0));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->phase, Phase::kValidating) << d;
  EXPECT_TRUE(d.status->replay.stragglers.empty());
}

TEST(DecideReplaying, WithoutANewSampleStragglersStayAsTheyWere) {
  Observed o = observedIn(Phase::kReplaying);
  o.status.replay.stragglers = {StragglerStatus{.partition = 1, .lag = 5, .since = at(-30)}};
  o.kafka.lag.reset();
  Decision d = decide(o, at(0));
  Status st = d.status.value_or(o.status);
  EXPECT_EQ(st.replay.stragglers, o.status.replay.stragglers);
}

TEST(DecideReplaying, SmoothsTheRateWithThePreviousOne) {
  Observed o = observedIn(Phase::kReplaying);
  o.status.replay.messagesPerSecond = 100;
  o.kafka.lag = lagSample(3000, 22000, at(0));  // 200/s now
  Decision d = decide(o, at(0));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_NEAR(d.status->replay.messagesPerSecond, 150, 1e-9);
  EXPECT_EQ(d.status->replay.etaSeconds, 20);
}

TEST(DecideReplaying, CatchUpNeedsTheLagWithinBoundForStableSeconds) {
  Observed o = observedIn(Phase::kReplaying);
  o.kafka.lag = lagSample(8, 25000, at(0), 2.5);
  Decision d = decide(o, at(0));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->phase, Phase::kReplaying);
  EXPECT_EQ(d.status->replay.lagWithinSince, at(0));
  EXPECT_EQ(condition(*d.status, kCaughtUp).reason, "Stabilizing");
  // The next sample, before the period ends, and sooner than while replaying.
  EXPECT_EQ(d.requeueAfter, kStabilizingSampleInterval);
  EXPECT_LT(kStabilizingSampleInterval, kLagSampleInterval);
  EXPECT_TRUE(d.actions.empty()) << d;

  o.status = *d.status;
  o.kafka.lag = lagSample(3, 25005, at(25), 1.0);
  d = decide(o, at(25));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->phase, Phase::kReplaying);
  EXPECT_EQ(d.status->replay.lagWithinSince, at(0));
  EXPECT_EQ(d.requeueAfter, kStabilizingSampleInterval);

  o.status = *d.status;
  o.kafka.lag = lagSample(0, 25008, at(30));
  d = decide(o, at(30));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->phase, Phase::kValidating);
  EXPECT_EQ(d.status->replay.caughtUpAt, at(30));
  EXPECT_EQ(d.status->replay.progressPercent, 100);
  EXPECT_EQ(condition(*d.status, kCaughtUp).status, ConditionStatus::kTrue);
  EXPECT_EQ(condition(*d.status, kCaughtUp).lastTransitionTime, at(30));
  EXPECT_EQ(condition(*d.status, kValidated).status, ConditionStatus::kUnknown);
  EXPECT_EQ(actionsOf<EnsureWorker>(d),
            (std::vector<EnsureWorker>{{"sessions-v2", WorkerProfile::kSteady, 2, "",
                                        Resources{{{"cpu", "500m"}}, {}}, kGroup, "clickstream.raw",
                                        "sessions.v2", ""}}));
  EXPECT_EQ(actionsOf<DeleteReplayQuota>(d),
            (std::vector<DeleteReplayQuota>{{"sessions-v2-replay"}}));
  EXPECT_TRUE(hasEvent(d, EventType::kNormal, "CaughtUp"));
}

TEST(DecideReplaying, LeavingTheBoundRestartsTheStabilityClock) {
  Observed o = observedIn(Phase::kReplaying);
  o.status.replay.lagWithinSince = at(-20);
  o.kafka.lag = lagSample(50000, 25000, at(0));  // 100 s of replay left at 500/s
  Decision d = decide(o, at(0));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_FALSE(d.status->replay.lagWithinSince.has_value());
  EXPECT_EQ(d.status->phase, Phase::kReplaying);
  EXPECT_EQ(condition(*d.status, kCaughtUp).reason, "Replaying");
  EXPECT_EQ(d.requeueAfter, kLagSampleInterval);  // back to the replaying period
}

TEST(DecideReplaying, LiveTrafficWithinTheBoundIsCaughtUpAfterStableSeconds) {
  // A live source: the lag in messages is never 0 (the worker commits every 100 ms while
  // events keep arriving), but every partition has read what existed a moment ago.
  Observed o = observedIn(Phase::kReplaying);
  const int64_t lags[] = {25, 80, 41, 63, 30};
  Decision d;
  for (int i = 0; i <= 30; ++i) {
    o.kafka.lag = lagSample(lags[i % 5], 25000 + 300 * i, at(i), 0.2 + 0.1 * (i % 3));
    d = decide(o, at(i));
    ASSERT_TRUE(d.status.has_value()) << i;
    if (i < 30) {
      EXPECT_EQ(d.status->phase, Phase::kReplaying) << i;
      EXPECT_EQ(d.status->replay.lagWithinSince, at(0)) << i;
      EXPECT_EQ(condition(*d.status, kCaughtUp).reason, "Stabilizing") << i;
    }
    o.status = *d.status;
  }
  EXPECT_EQ(d.status->phase, Phase::kValidating);
  EXPECT_EQ(d.status->replay.caughtUpAt, at(30));
  EXPECT_EQ(d.status->lag.messages, 25);
  EXPECT_DOUBLE_EQ(d.status->lag.seconds, 0.2);
  EXPECT_NE(condition(*d.status, kCaughtUp).message.find("bound 5s"), std::string::npos)
      << condition(*d.status, kCaughtUp).message;
}

TEST(DecideReplaying, ABurstPastTheBoundRestartsTheClock) {
  Observed o = observedIn(Phase::kReplaying);
  o.status.replay.lagWithinSince = at(-20);
  o.kafka.lag = lagSample(20000, 25000, at(0), 7.0);  // a burst: 7 s behind, bound 5 s
  Decision d = decide(o, at(0));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_FALSE(d.status->replay.lagWithinSince.has_value());
  EXPECT_EQ(condition(*d.status, kCaughtUp).reason, "Replaying");
  EXPECT_DOUBLE_EQ(d.status->lag.seconds, 7.0);
  EXPECT_FALSE(d.status->lag.secondsEstimated);
  // Observed seconds: the tail of the replay, sampled every second.
  EXPECT_EQ(d.requeueAfter, kStabilizingSampleInterval);

  o.status = *d.status;
  o.kafka.lag = lagSample(300, 45000, at(1), 0.4);  // back within: the clock starts again
  d = decide(o, at(1));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->replay.lagWithinSince, at(1));
  EXPECT_EQ(d.status->phase, Phase::kReplaying);
}

TEST(DecideReplaying, QuietPartitionsAreCaughtUp) {
  // No events arrive: every partition is at its end, lag 0 and 0 s.
  Observed o = observedIn(Phase::kReplaying);
  o.status.replay.lagWithinSince = at(-30);
  o.kafka.lag = lagSample(0, 25000, at(0));
  Decision d = decide(o, at(0));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->phase, Phase::kValidating);
}

TEST(DecideReplaying, AnEstimatedLagNeverCounts) {
  // The worker has reached no end the operator observed (its history was lost in a restart):
  // however recent its records look, it is not within the bound yet.
  Observed o = observedIn(Phase::kReplaying);
  o.status.replay.lagWithinSince = at(-40);
  kafka::LagSnapshot snap = lagSample(40, 25000, at(0), 0.5);
  snap.lagSecondsObserved = false;
  o.kafka.lag = snap;
  Decision d = decide(o, at(0));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->phase, Phase::kReplaying);
  EXPECT_FALSE(d.status->replay.lagWithinSince.has_value());
  EXPECT_TRUE(d.status->lag.secondsEstimated);
  EXPECT_NE(condition(*d.status, kCaughtUp).message.find("about 0.5s"), std::string::npos)
      << condition(*d.status, kCaughtUp).message;
  EXPECT_EQ(d.requeueAfter, kStabilizingSampleInterval);  // close to the bound: the tail
}

TEST(DecideReplaying, MaxLagMessagesIsAnExtraBoundWhenSet) {
  Observed o = observedIn(Phase::kReplaying);
  o.spec.catchUp.maxLagMessages = 50;
  o.kafka.lag = lagSample(80, 25000, at(0), 0.3);
  Decision d = decide(o, at(0));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_FALSE(d.status->replay.lagWithinSince.has_value());
  EXPECT_NE(condition(*d.status, kCaughtUp).message.find("and 50 messages"), std::string::npos)
      << condition(*d.status, kCaughtUp).message;
  o.kafka.lag = lagSample(50, 25000, at(0), 0.3);
  d = decide(o, at(0));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->replay.lagWithinSince, at(0));
}

// A simulated source partition and worker, sampled the way the driver samples (the real
// computeLag and applyLagSeconds, an EndOffsetHistory, at the times decide() asks for):
// `backlog` seconds of events exist when the replay starts, more arrive at `rate` per second,
// the worker reads `speed` per second and commits every 100 ms. Returns the sample time at
// which decide() said caught up, after checking at every sample that a version within the
// bound never had more than maxLagSeconds of events left to read.
struct Replay {
  double rate, speed, backlog;
  // Offset o was appended at -backlog + o / rate (seconds since the replay started).
  double appendedAt(int64_t offset) const { return -backlog + offset / rate; }
  int64_t end(double t) const { return static_cast<int64_t>((t + backlog) * rate); }
  int64_t position(double t) const {
    double committedAt = std::floor(t * 10) / 10;
    return std::min(end(committedAt), static_cast<int64_t>(speed * committedAt));
  }
  // How long the oldest event the worker has not read has waited, at time t.
  double backlogAge(double t) const {
    int64_t pos = position(t);
    return pos >= end(t) ? 0 : t - appendedAt(pos);
  }
};

double simulateCatchUp(const Replay& r, Observed o, double* firstWithinBound) {
  o.status.lag = LagStatus{};
  o.status.replay = ReplayStatus{};
  o.status.replay.startedAt = at(0);
  kafka::EndOffsetHistory history;
  double bound = static_cast<double>(o.spec.catchUp.maxLagSeconds);
  double t = 0;
  *firstWithinBound = -1;
  for (int i = 0; i < 10000; ++i) {
    TimePoint now =
        at(0) + std::chrono::duration_cast<TimePoint::duration>(std::chrono::duration<double>(t));
    auto snap = kafka::computeLag({{0, 0}}, {{0, r.end(t)}}, {{0, r.position(t)}}, now);
    double recordAt = r.appendedAt(r.position(t));
    auto recordMs = std::chrono::duration_cast<std::chrono::milliseconds>(
                        (at(0) + std::chrono::duration_cast<TimePoint::duration>(
                                     std::chrono::duration<double>(recordAt)))
                            .time_since_epoch())
                        .count();
    kafka::applyLagSeconds(snap, history, {{0, recordMs}});
    history.add(now, {{0, r.end(t)}});
    o.kafka.lag = snap;
    Decision d = decide(o, now);
    EXPECT_TRUE(d.status.has_value()) << t;
    if (!d.status) return -1;
    if (d.status->replay.lagWithinSince) {
      EXPECT_LE(r.backlogAge(t), bound)
          << "within the bound at t=" << t << " with " << r.backlogAge(t) << " s of events left";
      if (*firstWithinBound < 0) *firstWithinBound = t;
    }
    if (d.status->phase == Phase::kValidating) return t;
    o.status = *d.status;
    t += d.requeueAfter ? static_cast<double>(d.requeueAfter->count()) : 1.0;
  }
  return -1;
}

TEST(DecideReplaying, ABacklogIsNeverCaughtUpBeforeItIsConsumed) {
  Observed o = observedIn(Phase::kReplaying);
  o.spec.catchUp.stableSeconds = 10;
  for (Replay r : {Replay{1000, 3000, 600}, Replay{20000, 50000, 120}, Replay{1000, 2000, 30},
                   Replay{300, 310, 60}}) {
    SCOPED_TRACE("rate " + std::to_string(r.rate) + " speed " + std::to_string(r.speed));
    double within = -1;
    double caughtUp = simulateCatchUp(r, o, &within);
    ASSERT_GT(caughtUp, 0);
    // When the events left to read first were no older than the bound (to 10 ms).
    int64_t centis = 0;
    while (r.backlogAge(static_cast<double>(centis) / 100) > 5.0) ++centis;
    double consumed = static_cast<double>(centis) / 100;
    EXPECT_GE(within, consumed);
    // A worker at least twice as fast as its source is caught up stableSeconds (+ up to two
    // one-second samples) after it got within the bound. One barely faster than its source
    // (310 vs 300/s) takes longer: its backlog must fall a whole sample period below the
    // bound before some observed end lies inside the bound.
    if (r.speed >= 2 * r.rate) {
      EXPECT_LE(caughtUp - consumed, 10 + 2.0) << "consumed at " << consumed;
    }
  }
}

TEST(DecideReplaying, TimeoutFailsAndStopsTheWorker) {
  Observed o = observedIn(Phase::kReplaying);  // started at -800, max 3600 s
  expectConverged(o, at(2799));
  Decision d = decide(o, at(2800));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->phase, Phase::kFailed);
  EXPECT_EQ(d.status->reason, "ReplayTimeout");
  EXPECT_EQ(condition(*d.status, kCaughtUp).reason, "ReplayTimeout");
  EXPECT_TRUE(hasEvent(d, EventType::kWarning, "ReplayTimeout"));
  EXPECT_TRUE(has<DeleteWorker>(d));
  EXPECT_TRUE(has<DeleteReplayQuota>(d));
  EXPECT_FALSE(has<DeleteTopics>(d));  // kept for inspection until the object is deleted
}

TEST(DecideReplaying, CatchingUpAtTheDeadlineWins) {
  Observed o = observedIn(Phase::kReplaying);
  o.status.replay.lagWithinSince = at(2700);
  o.kafka.lag = lagSample(0, 25000, at(2800));
  Decision d = decide(o, at(2800));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->phase, Phase::kValidating);
}

TEST(DecideReplaying, CrashLoopingWorkerFails) {
  Observed o = observedIn(Phase::kReplaying);
  o.worker.crashLooping = true;
  Decision d = decide(o, at(0));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->phase, Phase::kFailed);
  EXPECT_EQ(d.status->reason, "WorkerCrashLooping");
  EXPECT_TRUE(hasEvent(d, EventType::kWarning, "WorkerCrashLooping"));
  EXPECT_TRUE(has<DeleteWorker>(d));
}

TEST(DecideReplaying, MissingWorkerAndQuotaAreEnsuredAgain) {
  // The Provisioning pass persisted Replaying and crashed before its actions ran.
  Observed o = observedIn(Phase::kReplaying);
  o.worker = WorkerFacts{};
  o.replayQuota.reset();
  Decision d = decide(o, at(0));
  EXPECT_FALSE(d.status.has_value()) << d;
  EXPECT_TRUE(has<EnsureReplayQuota>(d));
  auto worker = actionsOf<EnsureWorker>(d);
  ASSERT_EQ(worker.size(), 1u);
  EXPECT_EQ(worker[0].profile, WorkerProfile::kReplay);
  EXPECT_EQ(worker[0].replicas, 4);
}

TEST(DecideReplaying, RetentionIsRecheckedAndWarnsOnce) {
  Observed o = observedIn(Phase::kReplaying);
  o.kafka.retention = retention(kafka::RetentionVerdict::kAtRisk);
  Decision d = decide(o, at(0));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->phase, Phase::kReplaying);
  EXPECT_EQ(condition(*d.status, kRetentionSafe).reason, "AtRisk");
  EXPECT_EQ(condition(*d.status, kRetentionSafe).lastTransitionTime, at(0));
  EXPECT_TRUE(hasEvent(d, EventType::kWarning, "RetentionAtRisk"));
  o.status = *d.status;
  expectConverged(o, at(10));  // the same verdict again: no second event
}

TEST(DecideReplaying, HistoryTruncatedDuringReplayFails) {
  Observed o = observedIn(Phase::kReplaying);
  o.kafka.retention = retention(kafka::RetentionVerdict::kTruncated);
  Decision d = decide(o, at(0));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->phase, Phase::kFailed);
  EXPECT_EQ(d.status->reason, "HistoryTruncated");
  EXPECT_TRUE(has<DeleteWorker>(d));
}

TEST(DecideReplaying, WorkerFollowsReplicaChanges) {
  Observed o = observedIn(Phase::kReplaying);
  o.worker.replicas = 1;  // someone scaled the Deployment
  Decision d = decide(o, at(0));
  auto worker = actionsOf<EnsureWorker>(d);
  ASSERT_EQ(worker.size(), 1u) << d;
  EXPECT_EQ(worker[0].replicas, 4);
}

// ----- Validating ---------------------------------------------------------------------------

TEST(DecideValidating, FirstVersionSkipsTheComparisonAndPromotes) {
  Observed o = observedIn(Phase::kValidating);
  o.alias.reset();
  o.others.clear();
  Decision d = decide(o, at(0));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->phase, Phase::kPromoting);
  EXPECT_EQ(condition(*d.status, kValidated).status, ConditionStatus::kTrue);
  EXPECT_EQ(condition(*d.status, kValidated).reason, "FirstVersion");
  EXPECT_FALSE(has<RunValidation>(d));
  EXPECT_EQ(d.requeueAfter, kStepDelay);
}

TEST(DecideValidating, FirstVersionInManualModeWaitsForTheGate) {
  Observed o = observedIn(Phase::kValidating);
  o.alias.reset();
  o.spec.promotion.mode = PromotionMode::kManual;
  Decision d = decide(o, at(0));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->phase, Phase::kAwaitingPromotion);
  EXPECT_EQ(d.status->reason, "ManualPromotion");
}

TEST(DecideValidating, SkipModeSkipsTheComparison) {
  Observed o = observedIn(Phase::kValidating);
  o.spec.validation.mode = ValidationMode::kSkip;
  Decision d = decide(o, at(0));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->phase, Phase::kPromoting);
  EXPECT_EQ(condition(*d.status, kValidated).reason, "Skipped");
  EXPECT_FALSE(has<RunValidation>(d));
}

TEST(DecideValidating, RequestsAComparisonWithTheServingVersion) {
  Observed o = observedIn(Phase::kValidating);
  o.spec.validation.compareFields = {"views"};
  Decision d = decide(o, at(0));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->phase, Phase::kValidating);
  EXPECT_EQ(d.status->validation.startedAt, at(0));
  EXPECT_EQ(d.status->validation.servingVersion, "v1");
  EXPECT_EQ(condition(*d.status, kValidated).reason, "Comparing");
  auto run = actionsOf<RunValidation>(d);
  ASSERT_EQ(run.size(), 1u) << d;
  EXPECT_EQ(run[0], (RunValidation{.requestedAt = at(0),
                                   .servingVersion = "v1",
                                   .servingTopic = "sessions.v1",
                                   .candidateTopic = "sessions.v2",
                                   .servingTap = "",
                                   .candidateTap = "",
                                   .sampleKeys = 1000,
                                   .compareFields = {"views"},
                                   .ignoreFields = {},
                                   .numericTolerance = 0}));
}

Observed validatingWithRun(std::optional<ValidationResult> result, std::string error = "") {
  Observed o = observedIn(Phase::kValidating);
  o.status.validation.servingVersion = "v1";
  o.status.validation.startedAt = at(0);
  o.status.conditions[3] = cond(kValidated, ConditionStatus::kUnknown, "Comparing", at(0));
  bool done = result.has_value() || !error.empty();
  o.kafka.validation =
      ValidationRun{at(0), done, result, error, 0, 0, done ? std::optional{at(50)} : std::nullopt};
  return o;
}

ValidationResult comparison(int64_t compared, int64_t mismatched, size_t examples = 0) {
  ValidationResult r;
  r.sampledKeys = compared;
  r.comparedKeys = compared;
  r.mismatchedKeys = mismatched;
  r.mismatchRatio = compared ? static_cast<double>(mismatched) / compared : 0;
  for (size_t i = 0; i < examples; ++i) {
    r.examples.push_back(
        {"user-" + std::to_string(i), "{\"views\":1}", "{\"views\":2}", "views: 1 -> 2"});
  }
  return r;
}

// The taps are compared when both versions have one at the same rate; else the outputs.
TEST(DecideValidating, ComparesTheTapsWhenBothVersionsTapAtTheSameRate) {
  auto request = [](auto change) {
    Observed o = observedIn(Phase::kValidating);
    o.status.validation.startedAt.reset();
    o.status.tapTopic = "sessions.v2.tap";
    for (auto& other : o.others) {
      if (other.version == "v1") {
        other.tapTopic = "sessions.v1.tap";
        other.tapRate = o.spec.validation.tapRate;
      }
    }
    change(o);
    auto run = actionsOf<RunValidation>(decide(o, at(0)));
    EXPECT_EQ(run.size(), 1u);
    return run.empty() ? std::pair<std::string, std::string>{}
                       : std::pair{run[0].servingTap, run[0].candidateTap};
  };
  using Taps = std::pair<std::string, std::string>;
  EXPECT_EQ(request([](Observed&) {}), (Taps{"sessions.v1.tap", "sessions.v2.tap"}));
  // The serving version taps at another rate: other keys.
  EXPECT_EQ(request([](Observed& o) { o.others[0].tapRate = 64; }), Taps{});
  // It has no tap (made before taps, or tapRate 0).
  EXPECT_EQ(request([](Observed& o) { o.others[0].tapTopic = ""; }), Taps{});
  // This one has none.
  EXPECT_EQ(request([](Observed& o) { o.status.tapTopic = ""; }), Taps{});
}

TEST(DecideValidating, WaitingForARunningComparisonIsIdempotent) {
  Observed o = validatingWithRun(std::nullopt);
  o.kafka.validation->done = false;
  Decision d = decide(o, at(30));
  EXPECT_FALSE(d.status.has_value()) << d;
  EXPECT_TRUE(d.actions.empty()) << d;
  EXPECT_EQ(d.requeueAfter, kPollInterval);
}

TEST(DecideValidating, StatusShowsHowFarARunningComparisonHasRead) {
  Observed o = validatingWithRun(std::nullopt);
  o.kafka.validation->done = false;
  o.kafka.validation->recordsRead = 4000;
  o.kafka.validation->recordsToRead = 10000;
  Decision d = decide(o, at(30));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->validation.recordsRead, 4000);
  EXPECT_EQ(d.status->validation.recordsToRead, 10000);
  EXPECT_FALSE(has<RunValidation>(d));
  o.status = *d.status;
  expectConverged(o, at(40));  // no progress since: nothing to write

  // Progress is shown in tenths: a few more records read write nothing.
  o.kafka.validation->recordsRead = 4500;
  expectConverged(o, at(45));
  o.kafka.validation->recordsRead = 5100;
  d = decide(o, at(50));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->validation.recordsRead, 5000);
  o.status = *d.status;

  // Done: the figures replace the progress.
  o.kafka.validation = ValidationRun{at(0), true, comparison(1000, 0), "", 0, 0, std::nullopt};
  d = decide(o, at(60));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->validation.recordsToRead, 0);
  EXPECT_EQ(d.status->validation.comparedKeys, 1000);
}

TEST(DecideValidating, ALostComparisonIsRequestedAgainWithTheSameStart) {
  Observed o = validatingWithRun(std::nullopt);
  o.kafka.validation.reset();  // the driver restarted
  Decision d = decide(o, at(30));
  EXPECT_FALSE(d.status.has_value()) << d;
  auto run = actionsOf<RunValidation>(d);
  ASSERT_EQ(run.size(), 1u);
  EXPECT_EQ(run[0].requestedAt, at(0));
}

TEST(DecideValidating, AFailedComparisonIsRetried) {
  Observed o = validatingWithRun(std::nullopt, "serving topic unavailable");  // failed at 50
  Decision soon = decide(o, at(55));
  EXPECT_FALSE(soon.status.has_value()) << soon;
  EXPECT_FALSE(has<RunValidation>(soon)) << soon;
  EXPECT_EQ(soon.requeueAfter, Seconds{5});
  Decision d = decide(o, at(60));
  EXPECT_FALSE(d.status.has_value()) << d;
  EXPECT_EQ(actionsOf<RunValidation>(d).size(), 1u);
}

TEST(DecideValidating, MatchPromotes) {
  Observed o = validatingWithRun(comparison(1000, 0));
  Decision d = decide(o, at(60));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->phase, Phase::kPromoting);
  EXPECT_EQ(condition(*d.status, kValidated).status, ConditionStatus::kTrue);
  EXPECT_EQ(condition(*d.status, kValidated).reason, "Matched");
  EXPECT_EQ(d.status->validation.comparedKeys, 1000);
  EXPECT_EQ(d.status->validation.mismatchedKeys, 0);
  EXPECT_EQ(d.status->validation.completedAt, at(60));
  EXPECT_TRUE(hasEvent(d, EventType::kNormal, "Validated"));
}

TEST(DecideValidating, MostKeysPastTheCutComparesAgainAtALaterCut) {
  ValidationResult r = comparison(40, 0);
  r.sampledKeys = 100;
  r.notComparableKeys = 60;  // a live source moved them on since the cut
  Observed o = validatingWithRun(r);
  Decision d = decide(o, at(60));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->phase, Phase::kValidating);
  const Condition& c = condition(*d.status, kValidated);
  EXPECT_EQ(c.status, ConditionStatus::kUnknown);
  EXPECT_EQ(c.reason, "NotComparable");
  EXPECT_NE(c.message.find("60 of 100 sampled keys moved past the cut"), std::string::npos)
      << c.message;
  EXPECT_EQ(d.status->validation.notComparableKeys, 60);
  EXPECT_FALSE(d.status->validation.completedAt.has_value());
  EXPECT_FALSE(has<FlipAlias>(d));
  auto run = actionsOf<RunValidation>(d);
  ASSERT_EQ(run.size(), 1u);
  EXPECT_EQ(run[0].requestedAt, at(0));  // the same run: its timeout keeps counting

  // Not at once: kRerunDelay after the inconclusive run finished (at 50).
  Decision soon = decide(o, at(53));
  ASSERT_TRUE(soon.status.has_value());
  EXPECT_EQ(condition(*soon.status, kValidated).reason, "NotComparable");
  EXPECT_FALSE(has<RunValidation>(soon)) << soon;
  EXPECT_EQ(soon.requeueAfter, Seconds{7});

  // As many comparable as not: decided on the comparable ones, the count kept in status.
  r.notComparableKeys = 40;
  Observed decided = validatingWithRun(r);
  Decision next = decide(decided, at(90));
  ASSERT_TRUE(next.status.has_value());
  EXPECT_EQ(next.status->phase, Phase::kPromoting);
  EXPECT_EQ(next.status->validation.notComparableKeys, 40);
}

TEST(DecideValidating, MatchInManualModeAwaitsPromotion) {
  Observed o = validatingWithRun(comparison(1000, 0));
  o.spec.promotion.mode = PromotionMode::kManual;
  Decision d = decide(o, at(60));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->phase, Phase::kAwaitingPromotion);
  EXPECT_EQ(d.status->reason, "ManualPromotion");
  EXPECT_EQ(condition(*d.status, kValidated).status, ConditionStatus::kTrue);
}

TEST(DecideValidating, MismatchAbovePolicyAlertsAndWaits) {
  Observed o = validatingWithRun(comparison(1000, 12, 7));
  Decision d = decide(o, at(60));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->phase, Phase::kAwaitingPromotion);
  EXPECT_EQ(d.status->reason, "ValidationMismatch");
  EXPECT_EQ(condition(*d.status, kValidated).status, ConditionStatus::kFalse);
  EXPECT_EQ(condition(*d.status, kValidated).reason, "Mismatched");
  EXPECT_EQ(d.status->validation.mismatchedKeys, 12);
  EXPECT_DOUBLE_EQ(d.status->validation.mismatchRatio, 0.012);
  EXPECT_EQ(d.status->validation.examples.size(), kMaxMismatchExamples);
  auto ev = events(d);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].type, EventType::kWarning);
  EXPECT_EQ(ev[0].reason, "ValidationMismatch");
  EXPECT_NE(ev[0].message.find("12 of 1000"), std::string::npos) << ev[0].message;
  EXPECT_NE(ev[0].message.find("ratio 0.012"), std::string::npos) << ev[0].message;
  EXPECT_NE(ev[0].message.find("e.g. key user-0 (views: 1 -> 2)"), std::string::npos)
      << ev[0].message;
  EXPECT_EQ(d.status->validation.examples[0].diff, "views: 1 -> 2");
  EXPECT_FALSE(has<FlipAlias>(d));

  o.status = *d.status;
  expectConverged(o, at(70));
}

TEST(DecideValidating, MismatchWithinMaxRatioPromotes) {
  Observed o = validatingWithRun(comparison(1000, 12));
  o.spec.validation.maxMismatchRatio = 0.02;
  Decision d = decide(o, at(60));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->phase, Phase::kPromoting);
  EXPECT_EQ(condition(*d.status, kValidated).reason, "WithinTolerance");
}

TEST(DecideValidating, ZeroMaxRatioBlocksAnySingleMismatch) {
  ValidationResult r = comparison(1000000, 1);
  Observed o = validatingWithRun(r);
  Decision d = decide(o, at(60));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->phase, Phase::kAwaitingPromotion);
}

TEST(DecideValidating, TimeoutAwaitsAHuman) {
  Observed o = validatingWithRun(std::nullopt);
  o.kafka.validation->done = false;
  expectConverged(o, at(599));
  Decision d = decide(o, at(600));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->phase, Phase::kAwaitingPromotion);
  EXPECT_EQ(d.status->reason, "ValidationTimedOut");
  EXPECT_EQ(condition(*d.status, kValidated).status, ConditionStatus::kUnknown);
  EXPECT_EQ(condition(*d.status, kValidated).reason, "TimedOut");
  EXPECT_TRUE(hasEvent(d, EventType::kWarning, "ValidationTimedOut"));
}

TEST(DecideValidating, ARunForAnOlderRequestIsIgnored) {
  Observed o = validatingWithRun(comparison(1000, 0));
  o.kafka.validation->requestedAt = at(-500);
  Decision d = decide(o, at(30));
  EXPECT_FALSE(d.status.has_value()) << d;
  ASSERT_EQ(actionsOf<RunValidation>(d).size(), 1u);
  EXPECT_EQ(actionsOf<RunValidation>(d)[0].requestedAt, at(0));
}

TEST(DecideValidating, ANewServingVersionRestartsTheComparison) {
  Observed o = validatingWithRun(std::nullopt);
  o.kafka.validation->done = false;
  o.others.push_back(otherVersion("v0", -200000, Phase::kDraining));
  o.alias = aliasFor("v0", "v1", "44");  // rolled back meanwhile
  Decision d = decide(o, at(30));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->validation.servingVersion, "v0");
  EXPECT_EQ(d.status->validation.startedAt, at(30));
  auto run = actionsOf<RunValidation>(d);
  ASSERT_EQ(run.size(), 1u);
  EXPECT_EQ(run[0].servingTopic, "sessions.v0");
}

// ----- Validating: the parallel run's rounds -------------------------------------------------

// A window of 600 s with a round every 300 s: rounds at 0, 300 and 600 s.
Observed parallelRun() {
  Observed o = observedIn(Phase::kValidating);
  o.spec.validation.windowSeconds = 600;
  o.spec.validation.roundIntervalSeconds = 300;
  return o;
}

TEST(DecideValidatingRounds, TheFirstRoundIsRequestedAtTheStartWithTheRoundsPlanned) {
  Decision d = decide(parallelRun(), at(0));
  ASSERT_TRUE(d.status.has_value());
  const ValidationStatus& v = d.status->validation;
  EXPECT_EQ(v.roundsPlanned, 3);
  EXPECT_EQ(v.roundsPassed, 0);
  EXPECT_EQ(v.roundStartedAt, at(0));
  EXPECT_NE(condition(*d.status, kValidated).message.find("in 3 rounds over 600s"),
            std::string::npos)
      << condition(*d.status, kValidated).message;
  auto run = actionsOf<RunValidation>(d);
  ASSERT_EQ(run.size(), 1u);
  EXPECT_EQ(run[0].requestedAt, at(0));
}

TEST(DecideValidatingRounds, EveryRoundMustPassAndEachStartsOnTheSchedule) {
  Observed o = parallelRun();
  Decision first = decide(o, at(0));
  ASSERT_TRUE(first.status.has_value());
  o.status = *first.status;

  // Round 1 passes at 40 s: still Validating, the next round due at 300 s.
  o.kafka.validation = ValidationRun{at(0), true, comparison(900, 0), "", 0, 0, std::nullopt};
  Decision d = decide(o, at(40));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->phase, Phase::kValidating);
  EXPECT_EQ(d.status->validation.roundsPassed, 1);
  EXPECT_EQ(d.status->validation.roundStartedAt, at(300));
  EXPECT_EQ(d.status->validation.comparedKeys, 900);
  EXPECT_FALSE(d.status->validation.completedAt.has_value());
  EXPECT_EQ(condition(*d.status, kValidated).status, ConditionStatus::kUnknown);
  EXPECT_EQ(condition(*d.status, kValidated).reason, "RoundPassed");
  EXPECT_NE(condition(*d.status, kValidated).message.find("round 1 of 3: passed"),
            std::string::npos)
      << condition(*d.status, kValidated).message;
  EXPECT_TRUE(hasEvent(d, EventType::kNormal, "ValidationRoundPassed"));
  EXPECT_FALSE(has<FlipAlias>(d));
  EXPECT_FALSE(has<RunValidation>(d));
  EXPECT_EQ(d.requeueAfter, Seconds{260});
  o.status = *d.status;

  // Between rounds: nothing to do but wait for the next one.
  Decision wait = decide(o, at(100));
  EXPECT_FALSE(wait.status.has_value()) << wait;
  EXPECT_FALSE(has<RunValidation>(wait)) << wait;
  EXPECT_EQ(wait.requeueAfter, Seconds{200});

  // At 300 s round 2 is requested, identified by its start.
  Decision due = decide(o, at(300));
  auto run = actionsOf<RunValidation>(due);
  ASSERT_EQ(run.size(), 1u) << due;
  EXPECT_EQ(run[0].requestedAt, at(300));

  // Round 2 passes late (at 650 s): round 3 was due at 600 s, so it starts at once.
  o.kafka.validation = ValidationRun{at(300), true, comparison(950, 0), "", 0, 0, std::nullopt};
  d = decide(o, at(650));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->validation.roundsPassed, 2);
  EXPECT_EQ(d.status->validation.roundStartedAt, at(650));
  o.status = *d.status;
  run = actionsOf<RunValidation>(decide(o, at(651)));
  ASSERT_EQ(run.size(), 1u);
  EXPECT_EQ(run[0].requestedAt, at(650));

  // The last round passes: validated, promoted.
  o.kafka.validation = ValidationRun{at(650), true, comparison(1000, 0), "", 0, 0, std::nullopt};
  d = decide(o, at(700));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->phase, Phase::kPromoting);
  EXPECT_EQ(d.status->validation.roundsPassed, 3);
  EXPECT_EQ(d.status->validation.completedAt, at(700));
  EXPECT_EQ(condition(*d.status, kValidated).status, ConditionStatus::kTrue);
  EXPECT_NE(condition(*d.status, kValidated).message.find("all 3 rounds passed"), std::string::npos)
      << condition(*d.status, kValidated).message;
}

TEST(DecideValidatingRounds, AFailedRoundBlocksThePromotion) {
  Observed o = parallelRun();
  o.status.validation.servingVersion = "v1";
  o.status.validation.startedAt = at(0);
  o.status.validation.roundsPlanned = 3;
  o.status.validation.roundsPassed = 1;
  o.status.validation.roundStartedAt = at(300);
  o.kafka.validation = ValidationRun{at(300), true, comparison(1000, 7, 3), "", 0, 0, std::nullopt};
  Decision d = decide(o, at(320));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->phase, Phase::kAwaitingPromotion);
  EXPECT_EQ(d.status->reason, "ValidationMismatch");
  EXPECT_EQ(d.status->validation.roundsPassed, 1);
  EXPECT_EQ(d.status->validation.mismatchedKeys, 7);
  EXPECT_EQ(condition(*d.status, kValidated).status, ConditionStatus::kFalse);
  auto ev = events(d);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].reason, "ValidationMismatch");
  EXPECT_NE(ev[0].message.find("round 2 of 3: 7 of 1000"), std::string::npos) << ev[0].message;
  EXPECT_FALSE(has<FlipAlias>(d));
}

TEST(DecideValidatingRounds, ARoundFirstSeenLateStartsWhenItIsRequested) {
  Observed o = parallelRun();
  o.status.validation.servingVersion = "v1";
  o.status.validation.startedAt = at(0);
  o.status.validation.roundsPlanned = 3;
  o.status.validation.roundsPassed = 1;
  o.status.validation.roundStartedAt = at(300);
  o.spec.validation.timeoutSeconds = 120;
  o.kafka.validation =
      ValidationRun{at(0), true, comparison(900, 0), "", 0, 0, std::nullopt};  // round 1's
  // The operator was down from 290 s to 500 s: round 2 is requested now, not timed out.
  Decision d = decide(o, at(500));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->phase, Phase::kValidating);
  EXPECT_EQ(d.status->validation.roundStartedAt, at(500));
  auto run = actionsOf<RunValidation>(d);
  ASSERT_EQ(run.size(), 1u) << d;
  EXPECT_EQ(run[0].requestedAt, at(500));
}

TEST(DecideValidatingRounds, TheTimeoutCountsFromTheRoundsStart) {
  Observed o = parallelRun();
  o.status.validation.servingVersion = "v1";
  o.status.validation.startedAt = at(0);
  o.status.validation.roundsPlanned = 3;
  o.status.validation.roundsPassed = 1;
  o.status.validation.roundStartedAt = at(300);
  o.spec.validation.timeoutSeconds = 120;
  o.kafka.validation = ValidationRun{at(300), false, std::nullopt, "", 0, 0, std::nullopt};
  Decision running = decide(o, at(410));  // 110 s into round 2 (410 s since the start)
  EXPECT_FALSE(running.status.has_value()) << running;
  Decision d = decide(o, at(420));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->phase, Phase::kAwaitingPromotion);
  EXPECT_EQ(d.status->reason, "ValidationTimedOut");
}

TEST(DecideValidating, WorkerIsMovedToSteadyAfterACrash) {
  Observed o = observedIn(Phase::kValidating);
  o.worker = runningWorker(WorkerProfile::kReplay, 4);
  o.replayQuota = ReplayQuotaHard{};
  Decision d = decide(o, at(0));
  auto worker = actionsOf<EnsureWorker>(d);
  ASSERT_EQ(worker.size(), 1u) << d;
  EXPECT_EQ(worker[0].profile, WorkerProfile::kSteady);
  EXPECT_EQ(worker[0].replicas, 2);
  EXPECT_TRUE(has<DeleteReplayQuota>(d));
}

TEST(DecideValidating, CrashLoopingWorkerFails) {
  Observed o = validatingWithRun(std::nullopt);
  o.worker.crashLooping = true;
  Decision d = decide(o, at(30));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->phase, Phase::kFailed);
  EXPECT_EQ(d.status->reason, "WorkerCrashLooping");
}

// ----- AwaitingPromotion --------------------------------------------------------------------

TEST(DecideAwaitingPromotion, WaitingIsIdempotent) {
  Observed o = observedIn(Phase::kAwaitingPromotion);
  expectConverged(o, at(0));
  EXPECT_EQ(decide(o, at(0)).requeueAfter, kResyncInterval);
}

TEST(DecideAwaitingPromotion, PromoteAnnotationPromotes) {
  Observed o = observedIn(Phase::kAwaitingPromotion);
  o.meta.annotations[kPromoteAnnotation] = "true";
  Decision d = decide(o, at(0));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->phase, Phase::kPromoting);
  EXPECT_EQ(d.status->reason, "PromotionApproved");
  EXPECT_TRUE(hasEvent(d, EventType::kNormal, "PromotionApproved"));
  EXPECT_FALSE(has<FlipAlias>(d));  // the flip is the next pass's step
}

TEST(DecideAwaitingPromotion, PromoteAnnotationOverridesAMismatch) {
  Observed o = validatingWithRun(comparison(1000, 50));
  Decision d = decide(o, at(60));
  ASSERT_TRUE(d.status.has_value());
  ASSERT_EQ(d.status->phase, Phase::kAwaitingPromotion);
  o.status = *d.status;
  o.meta.annotations[kPromoteAnnotation] = "true";
  d = decide(o, at(100));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->phase, Phase::kPromoting);
  EXPECT_EQ(condition(*d.status, kValidated).status, ConditionStatus::kFalse);  // still told
}

// ----- History ------------------------------------------------------------------------------

TEST(DecideHistory, EachTransitionIsRecordedWithWhoAskedAndTheComparison) {
  Decision d = decide(observedIn(Phase::kPending), at(0));
  ASSERT_TRUE(d.status.has_value());
  ASSERT_EQ(d.status->history.size(), 1u);
  const HistoryEntry& first = d.status->history[0];
  EXPECT_EQ(first.time, at(0));
  EXPECT_EQ(first.from, Phase::kPending);
  EXPECT_EQ(first.to, Phase::kProvisioning);
  EXPECT_EQ(first.actor, "policy");
  EXPECT_FALSE(first.comparedKeys.has_value());

  // A mismatch waits for a human; the human promotes: the step says who, and on what counts.
  Observed o = validatingWithRun(comparison(1000, 50));
  d = decide(o, at(60));
  ASSERT_TRUE(d.status.has_value());
  ASSERT_EQ(d.status->history.back().to, Phase::kAwaitingPromotion);
  EXPECT_EQ(d.status->history.back().actor, "policy");
  EXPECT_EQ(d.status->history.back().mismatchedKeys, 50);
  o.status = *d.status;
  o.meta.annotations[kPromoteAnnotation] = "true";
  d = decide(o, at(100));
  ASSERT_TRUE(d.status.has_value());
  const HistoryEntry& promoted = d.status->history.back();
  EXPECT_EQ(promoted.from, Phase::kAwaitingPromotion);
  EXPECT_EQ(promoted.to, Phase::kPromoting);
  EXPECT_EQ(promoted.actor, "annotation kappa.io/promote");
  EXPECT_EQ(promoted.comparedKeys, 1000);
  EXPECT_EQ(promoted.mismatchedKeys, 50);

  // An abort says so.
  o = observedIn(Phase::kReplaying);
  o.meta.annotations[kAbortAnnotation] = "true";
  d = decide(o, at(0));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->history.back().to, Phase::kFailed);
  EXPECT_EQ(d.status->history.back().actor, "annotation kappa.io/abort");
}

TEST(DecideHistory, KeepsTheLastTwentyAndNothingOnAConvergedPass) {
  Observed o = observedIn(Phase::kPending);
  for (int i = 0; i < 20; ++i) {
    HistoryEntry e;
    e.time = at(-100 + i);
    e.actor = "policy";
    e.reason = "old-" + std::to_string(i);
    o.status.history.push_back(e);
  }
  Decision d = decide(o, at(0));
  ASSERT_TRUE(d.status.has_value());
  ASSERT_EQ(d.status->history.size(), kHistoryLimit);
  EXPECT_EQ(d.status->history.front().reason, "old-1");  // the oldest went
  EXPECT_EQ(d.status->history.back().to, Phase::kProvisioning);
  expectConverged(observedIn(Phase::kServing), at(0));
}

TEST(DecideAwaitingPromotion, AnnotationOtherThanTrueIsIgnored) {
  Observed o = observedIn(Phase::kAwaitingPromotion);
  o.meta.annotations[kPromoteAnnotation] = "false";
  expectConverged(o, at(0));
}

TEST(DecideAwaitingPromotion, SwitchingToAutoPromotesAValidatedVersion) {
  Observed o = observedIn(Phase::kAwaitingPromotion);
  o.spec.promotion.mode = PromotionMode::kAuto;
  o.meta.generation = 2;
  Decision d = decide(o, at(0));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->phase, Phase::kPromoting);
  EXPECT_EQ(d.status->observedGeneration, 2);
}

TEST(DecideAwaitingPromotion, SwitchingToAutoDoesNotPromoteAMismatch) {
  Observed o = observedIn(Phase::kAwaitingPromotion);
  o.spec.promotion.mode = PromotionMode::kAuto;
  o.status.conditions[3] = cond(kValidated, ConditionStatus::kFalse, "Mismatched", at(-50));
  Decision d = decide(o, at(0));
  EXPECT_EQ(phaseAfter(o, d), Phase::kAwaitingPromotion);
  EXPECT_TRUE(d.actions.empty()) << d;
}

TEST(DecideAwaitingPromotion, AbortFailsAndCleansUp) {
  Observed o = observedIn(Phase::kAwaitingPromotion);
  o.meta.annotations[kAbortAnnotation] = "true";
  Decision d = decide(o, at(0));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->phase, Phase::kFailed);
  EXPECT_EQ(d.status->reason, "Aborted");
  EXPECT_EQ(actionsOf<DeleteWorker>(d), (std::vector<DeleteWorker>{{"sessions-v2"}}));
  // The group and topics wait until the worker has stopped.
  EXPECT_FALSE(has<DeleteConsumerGroup>(d)) << d;
  EXPECT_FALSE(has<DeleteTopics>(d)) << d;
  EXPECT_EQ(d.requeueAfter, kStepDelay);
  EXPECT_TRUE(hasEvent(d, EventType::kWarning, "Aborted"));

  // Cleanup lost in a crash is repeated on the next pass; once everything is gone, nothing.
  o.status = *d.status;
  Decision again = decide(o, at(5));
  EXPECT_FALSE(again.status.has_value());
  EXPECT_TRUE(has<DeleteWorker>(again));
  o.worker = WorkerFacts{};
  o.replayQuota.reset();
  again = decide(o, at(6));
  EXPECT_FALSE(again.status.has_value());
  EXPECT_EQ(actionsOf<DeleteConsumerGroup>(again), (std::vector<DeleteConsumerGroup>{{kGroup}}));
  EXPECT_EQ(actionsOf<DeleteTopics>(again),
            (std::vector<DeleteTopics>{{{"sessions.v2", "sessions.v2.dlq"}}}));
  o.kafka.consumerGroupExists = false;
  o.kafka.outputTopicExists = false;
  o.kafka.deadLetterTopicExists = false;
  expectConverged(o, at(10));
}

TEST(DecideFailed, AFailureOtherThanAbortKeepsGroupAndOutputForAPostMortem) {
  Observed o = observedIn(Phase::kFailed);
  o.status.reason = "WorkerCrashLooping";
  Decision d = decide(o, at(0));
  EXPECT_FALSE(has<DeleteConsumerGroup>(d)) << d;
  EXPECT_FALSE(has<DeleteTopics>(d)) << d;
}

TEST(DecideAwaitingPromotion, AbortWinsOverPromote) {
  Observed o = observedIn(Phase::kAwaitingPromotion);
  o.meta.annotations[kAbortAnnotation] = "true";
  o.meta.annotations[kPromoteAnnotation] = "true";
  EXPECT_EQ(decide(o, at(0)).status->phase, Phase::kFailed);
}

// ----- Promoting ----------------------------------------------------------------------------

TEST(DecidePromoting, FlipsTheAliasWithACasOnItsResourceVersion) {
  Observed o = observedIn(Phase::kPromoting);
  Decision d = decide(o, at(0));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->phase, Phase::kPromoting);  // Serving once the flip is observed
  EXPECT_EQ(d.status->previousVersion, "v1");     // persisted before the flip runs
  auto flip = actionsOf<FlipAlias>(d);
  ASSERT_EQ(flip.size(), 1u) << d;
  // Validated Matched: the flip is kept as equal (what a cascade downstream expects).
  EXPECT_EQ(flip[0], (FlipAlias{"sessions-serving", std::string("41"), "sessions", "v2",
                                "sessions.v2", "kafka:9092", "v1", at(0), "Promotion", true}));
  EXPECT_EQ(d.requeueAfter, kStepDelay);

  // Promoted by hand over a mismatch: its output changed by intent.
  o.status.conditions[3] = cond(kValidated, ConditionStatus::kFalse, "Mismatched", at(-60));
  flip = actionsOf<FlipAlias>(decide(o, at(0)));
  ASSERT_EQ(flip.size(), 1u);
  EXPECT_FALSE(flip[0].equal);
}

TEST(DecidePromoting, FirstVersionCreatesTheAlias) {
  Observed o = observedIn(Phase::kPromoting);
  o.alias.reset();
  o.others.clear();
  Decision d = decide(o, at(0));
  auto flip = actionsOf<FlipAlias>(d);
  ASSERT_EQ(flip.size(), 1u) << d;
  EXPECT_FALSE(flip[0].expectedResourceVersion.has_value());
  EXPECT_EQ(flip[0].previousVersion, "");
}

TEST(DecidePromoting, AnObservedFlipMeansServingWithoutFlippingAgain) {
  // The flip ran, then the operator crashed before the next status write.
  Observed o = observedIn(Phase::kPromoting);
  o.status.previousVersion = "v1";
  o.alias = aliasFor("v2", "v1", "42", -5);
  Decision d = decide(o, at(0));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->phase, Phase::kServing);
  EXPECT_EQ(d.status->servingSince, at(-5));
  EXPECT_EQ(d.status->previousVersion, "v1");
  EXPECT_EQ(condition(*d.status, kServingCondition).status, ConditionStatus::kTrue);
  EXPECT_FALSE(has<FlipAlias>(d));
  EXPECT_TRUE(hasEvent(d, EventType::kNormal, "Promoted"));
}

TEST(DecidePromoting, AFlipLostInACrashIsIssuedAgain) {
  Observed o = observedIn(Phase::kPromoting);
  Decision first = decide(o, at(0));
  o.status = *first.status;  // status written, the flip never ran
  Decision d = decide(o, at(5));
  EXPECT_FALSE(d.status.has_value()) << d;
  auto flip = actionsOf<FlipAlias>(d);
  ASSERT_EQ(flip.size(), 1u);
  EXPECT_EQ(flip[0].expectedResourceVersion, std::string("41"));
}

TEST(DecidePromoting, LosingTheRaceToANewerVersionSupersedes) {
  Observed o = observedIn(Phase::kPromoting);
  o.others.push_back(otherVersion("v3", 100, Phase::kServing));
  o.alias = aliasFor("v3", "v1", "45", 200);
  Decision d = decide(o, at(300));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->phase, Phase::kSuperseded);
  EXPECT_EQ(d.status->reason, "LostPromotion");
  EXPECT_FALSE(has<FlipAlias>(d));
  EXPECT_TRUE(has<DeleteWorker>(d));
  EXPECT_FALSE(has<DeleteConsumerGroup>(d));  // once the worker has stopped
  EXPECT_EQ(d.requeueAfter, kStepDelay);
}

TEST(DecidePromoting, AnOlderVersionInTheAliasIsFlippedOver) {
  // The alias changed between passes to another, older version (e.g. a rollback): the CAS
  // targets what is observed now and previousVersion follows it.
  Observed o = observedIn(Phase::kPromoting);
  o.status.previousVersion = "v1";
  o.others.push_back(otherVersion("v0", -200000, Phase::kServing));
  o.alias = aliasFor("v0", "v1", "50");
  Decision d = decide(o, at(0));
  auto flip = actionsOf<FlipAlias>(d);
  ASSERT_EQ(flip.size(), 1u) << d;
  EXPECT_EQ(flip[0].expectedResourceVersion, std::string("50"));
  EXPECT_EQ(flip[0].previousVersion, "v0");
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->previousVersion, "v0");
}

TEST(DecidePromoting, NewerCandidateDoesNotStopAFlipInProgress) {
  Observed o = observedIn(Phase::kPromoting);
  o.others.push_back(otherVersion("v3", 100, Phase::kReplaying));
  Decision d = decide(o, at(300));
  EXPECT_EQ(phaseAfter(o, d), Phase::kPromoting);
  EXPECT_EQ(actionsOf<FlipAlias>(d).size(), 1u) << d;
}

TEST(DecidePromoting, AbortBeforeTheFlipFails) {
  Observed o = observedIn(Phase::kPromoting);
  o.meta.annotations[kAbortAnnotation] = "true";
  Decision d = decide(o, at(0));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->phase, Phase::kFailed);
  EXPECT_FALSE(has<FlipAlias>(d));
}

TEST(DecidePromoting, AbortAfterTheFlipIsTooLate) {
  Observed o = observedIn(Phase::kPromoting);
  o.meta.annotations[kAbortAnnotation] = "true";
  o.alias = aliasFor("v2", "v1", "42", -5);
  Decision d = decide(o, at(0));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->phase, Phase::kServing);
}

// ----- Serving ------------------------------------------------------------------------------

TEST(DecideServing, ConvergedIsIdempotent) {
  Observed o = observedIn(Phase::kServing);
  expectConverged(o, at(0));
}

TEST(DecideServing, ReplicaChangeUpdatesTheWorker) {
  Observed o = observedIn(Phase::kServing);
  o.spec.replicas = 5;
  o.meta.generation = 2;
  Decision d = decide(o, at(0));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->observedGeneration, 2);
  EXPECT_EQ(d.status->phase, Phase::kServing);
  auto worker = actionsOf<EnsureWorker>(d);
  ASSERT_EQ(worker.size(), 1u);
  EXPECT_EQ(worker[0].replicas, 5);
  o.status = *d.status;
  o.worker.replicas = 5;  // scaled, and its new pods ready
  o.worker.readyReplicas = 5;
  expectConverged(o, at(1));
}

TEST(DecideServing, ReplacedVersionStartsDraining) {
  Observed o = observedIn(Phase::kServing);
  o.others.push_back(otherVersion("v3", 500, Phase::kServing));
  o.alias = aliasFor("v3", "v2", "43", 1000);
  Decision d = decide(o, at(1002));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->phase, Phase::kDraining);
  EXPECT_EQ(d.status->drainingSince, at(1000));  // from the flip, not from this pass
  EXPECT_EQ(condition(*d.status, kServingCondition).status, ConditionStatus::kFalse);
  EXPECT_EQ(condition(*d.status, kServingCondition).lastTransitionTime, at(1002));
  EXPECT_EQ(condition(*d.status, kDrained).status, ConditionStatus::kFalse);
  EXPECT_TRUE(hasEvent(d, EventType::kNormal, "Draining"));
  EXPECT_FALSE(has<DeleteWorker>(d));  // keeps running for drainDelaySeconds
  EXPECT_EQ(d.requeueAfter, seconds(298));
}

TEST(DecideServing, AMissingAliasIsRecreatedWithoutOverwriting) {
  Observed o = observedIn(Phase::kServing);
  o.alias.reset();
  Decision d = decide(o, at(0));
  auto flip = actionsOf<FlipAlias>(d);
  ASSERT_EQ(flip.size(), 1u) << d;
  EXPECT_FALSE(flip[0].expectedResourceVersion.has_value());
  EXPECT_EQ(flip[0].version, "v2");
  EXPECT_EQ(flip[0].previousVersion, "v1");
  EXPECT_TRUE(hasEvent(d, EventType::kWarning, "AliasRecreated"));
}

TEST(DecideServing, CandidateGatesDoNotApply) {
  Observed o = observedIn(Phase::kServing);
  o.meta.annotations[kAbortAnnotation] = "true";
  o.others.push_back(otherVersion("v3", 500, Phase::kReplaying));
  expectConverged(o, at(0));
}

// A serving worker in trouble is reported, never failed: it keeps serving what it wrote.
TEST(DecideServing, ACrashLoopingWorkerIsReportedNotFailed) {
  Observed o = observedIn(Phase::kServing);
  o.worker.crashLooping = true;
  Decision d = decide(o, at(0));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->phase, Phase::kServing);
  const Condition& c = condition(*d.status, kWorkerAvailable);
  EXPECT_EQ(c.status, ConditionStatus::kFalse);
  EXPECT_EQ(c.reason, "CrashLooping");
  EXPECT_TRUE(hasEvent(d, EventType::kWarning, "CrashLooping"));
  EXPECT_FALSE(has<DeleteWorker>(d));
}

TEST(DecideServing, APodNoLongerReadyIsReportedOnceAndRecoveryToo) {
  Observed o = observedIn(Phase::kServing);
  o.worker.readyReplicas = o.worker.replicas - 1;
  Decision d = decide(o, at(0));
  ASSERT_TRUE(d.status.has_value());
  const Condition& c = condition(*d.status, kWorkerAvailable);
  EXPECT_EQ(c.status, ConditionStatus::kFalse);
  EXPECT_EQ(c.reason, "PodsNotReady");
  EXPECT_TRUE(hasEvent(d, EventType::kWarning, "WorkerUnavailable"));

  o.status = *d.status;  // the next pass, the pod still not ready: nothing new
  d = decide(o, at(1));
  EXPECT_FALSE(d.status.has_value()) << d;
  EXPECT_FALSE(hasEvent(d, EventType::kWarning, "WorkerUnavailable"));

  o.worker.readyReplicas = o.worker.replicas;  // back
  d = decide(o, at(2));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(condition(*d.status, kWorkerAvailable).status, ConditionStatus::kTrue);
  EXPECT_TRUE(hasEvent(d, EventType::kNormal, "WorkerAvailable"));
}

TEST(DecideServing, PodsReplacedByARolloutAreNoOutage) {
  // The worker moves to the steady profile: its Deployment rolls, the old pods stop before
  // the new one is ready. Nothing failed: no Warning, and no recovery to announce either.
  Observed o = observedIn(Phase::kServing);
  o.worker.readyReplicas = 0;
  o.worker.updating = true;
  Decision d = decide(o, at(0));
  ASSERT_TRUE(d.status.has_value()) << d;
  EXPECT_EQ(condition(*d.status, kWorkerAvailable).status, ConditionStatus::kFalse);
  EXPECT_EQ(condition(*d.status, kWorkerAvailable).reason, "Updating");
  EXPECT_TRUE(events(d).empty()) << d;

  Status updating = *d.status;
  o.status = updating;  // the new pod is ready
  o.worker.readyReplicas = o.worker.replicas;
  o.worker.updating = false;
  d = decide(o, at(1));
  ASSERT_TRUE(d.status.has_value()) << d;
  EXPECT_EQ(condition(*d.status, kWorkerAvailable).status, ConditionStatus::kTrue);
  EXPECT_TRUE(events(d).empty()) << d;

  // The rollout completed, yet a pod is not ready: an outage, said once.
  o.status = updating;
  o.worker.readyReplicas = 0;
  d = decide(o, at(2));
  ASSERT_TRUE(d.status.has_value()) << d;
  EXPECT_EQ(condition(*d.status, kWorkerAvailable).reason, "PodsNotReady");
  EXPECT_TRUE(hasEvent(d, EventType::kWarning, "WorkerUnavailable"));
}

TEST(DecideServing, ARestartTooQuickToSeeNotReadyIsReportedOnce) {
  // The kubelet restarted the container within a second: every pass saw the pod ready, but
  // its lastState says it exited.
  Observed o = observedIn(Phase::kServing);
  WorkerExit first{"sessions-v2-abc", "containerd://0123456789abcdef", 137, "Error", at(-5)};
  o.worker.exits = {first};
  Decision d = decide(o, at(0));
  ASSERT_TRUE(d.status.has_value()) << d;
  EXPECT_EQ(d.status->workerExits, std::vector<WorkerExit>{first});
  EXPECT_EQ(d.status->phase, Phase::kServing);
  auto ev = events(d);
  ASSERT_EQ(ev.size(), 1u) << d;
  EXPECT_EQ(ev[0].type, EventType::kWarning);
  EXPECT_EQ(ev[0].reason, "WorkerRestarted");
  EXPECT_NE(ev[0].message.find("container 0123456789ab of pod sessions-v2-abc exited (Error, "
                               "exit code 137)"),
            std::string::npos)
      << ev[0].message;
  EXPECT_EQ(condition(*d.status, kWorkerAvailable).status, ConditionStatus::kTrue);

  o.status = *d.status;  // the same exit at the next pass: said already
  d = decide(o, at(1));
  EXPECT_FALSE(d.status.has_value()) << d;
  EXPECT_TRUE(events(d).empty()) << d;

  // Killed again within the same second (the kubelet's resolution): another container.
  WorkerExit second{"sessions-v2-abc", "containerd://fedcba9876543210", 137, "Error", at(-5)};
  o.worker.exits = {second};
  d = decide(o, at(2));
  ASSERT_TRUE(d.status.has_value()) << d;
  EXPECT_EQ(d.status->workerExits, std::vector<WorkerExit>{second});
  EXPECT_TRUE(hasEvent(d, EventType::kWarning, "WorkerRestarted"));
}

TEST(DecideServing, EachPodsExitIsReportedOnceAndGonePodsAreForgotten) {
  Observed o = observedIn(Phase::kServing);
  o.worker.replicas = 2;
  o.worker.readyReplicas = 2;
  WorkerExit a{"sessions-v2-a", "containerd://aaaa", 1, "Error", at(-3)};
  WorkerExit b{"sessions-v2-b", "containerd://bbbb", 137, "OOMKilled", at(-4)};
  o.worker.exits = {a};
  Decision d = decide(o, at(0));
  ASSERT_TRUE(d.status.has_value()) << d;
  o.status = *d.status;
  // b exited a second before a, and is seen only now: still news (each pod on its own).
  o.worker.exits = {a, b};
  d = decide(o, at(1));
  ASSERT_TRUE(d.status.has_value()) << d;
  ASSERT_EQ(events(d).size(), 1u) << d;
  EXPECT_NE(events(d)[0].message.find("pod sessions-v2-b exited (OOMKilled"), std::string::npos);
  EXPECT_EQ(d.status->workerExits, (std::vector<WorkerExit>{a, b}));
  o.status = *d.status;
  // The pod a is replaced: its record goes, b's stays, nothing is said.
  o.worker.exits = {b};
  d = decide(o, at(2));
  ASSERT_TRUE(d.status.has_value()) << d;
  EXPECT_TRUE(events(d).empty()) << d;
  EXPECT_EQ(d.status->workerExits, std::vector<WorkerExit>{b});
}

TEST(DecideServing, AnExitAlreadyOldWhenFirstSeenIsRecordedSilently) {
  // An operator that did not record exits before (an upgrade) finds a restart of yesterday.
  Observed o = observedIn(Phase::kServing);
  WorkerExit old{"sessions-v2-abc", "containerd://0123", 1, "Error", at(-86400)};
  o.worker.exits = {old};
  Decision d = decide(o, at(0));
  ASSERT_TRUE(d.status.has_value()) << d;
  EXPECT_EQ(d.status->workerExits, std::vector<WorkerExit>{old});
  EXPECT_TRUE(events(d).empty()) << d;
}

TEST(DecideWorkerHealth, AFirstRolloutStaysStarting) {
  // A new worker's Deployment is rolling out its first pods: they start, nothing is replaced.
  Observed o = observedIn(Phase::kReplaying);
  o.status.conditions.pop_back();  // a worker seen for the first time
  o.worker.readyReplicas = 0;
  o.worker.updating = true;
  Decision d = decide(o, at(0));
  ASSERT_NE(workerCondition(d), nullptr) << d;
  EXPECT_EQ(workerCondition(d)->reason, "Starting");
  o.status = *d.status;
  o.kafka.lag.reset();
  d = decide(o, at(1));
  EXPECT_EQ(workerCondition(d), nullptr) << d;  // still Starting: status unchanged
  EXPECT_TRUE(events(d).empty()) << d;
}

TEST(DecideServing, RollbackFlipsBackToADrainingVersion) {
  Observed o = observedIn(Phase::kServing);
  o.meta.annotations[kRollbackAnnotation] = "true";
  Decision d = decide(o, at(0));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->phase, Phase::kServing);  // Draining once the flip is observed
  EXPECT_EQ(d.status->message, "rolling back to version v1");
  ASSERT_EQ(d.actions.size(), 3u) << d;
  EXPECT_EQ(std::get<RecordEvent>(d.actions[0]).reason, "RollbackStarted");
  EXPECT_EQ(std::get<FlipAlias>(d.actions[1]),
            (FlipAlias{"sessions-serving", std::string("42"), "sessions", "v1", "sessions.v1",
                       "kafka:9092", "v2", at(0), "Rollback"}));
  EXPECT_EQ(std::get<RemoveAnnotation>(d.actions[2]), (RemoveAnnotation{kRollbackAnnotation}));
}

TEST(DecideServing, RollbackToARetiredVersionWhoseOutputIsRetained) {
  Observed o = observedIn(Phase::kServing);
  o.meta.annotations[kRollbackAnnotation] = "true";
  o.others[0].phase = Phase::kRetired;
  o.others[0].drainedAt = at(-10);
  Decision d = decide(o, at(0));
  EXPECT_EQ(actionsOf<FlipAlias>(d).size(), 1u) << d;
}

void expectRollbackRefused(const Observed& o, const std::string& why) {
  Decision d = decide(o, at(0));
  EXPECT_FALSE(has<FlipAlias>(d)) << d;
  ASSERT_TRUE(hasEvent(d, EventType::kWarning, "RollbackRefused")) << d;
  EXPECT_NE(events(d)[0].message.find(why), std::string::npos) << events(d)[0].message;
  EXPECT_EQ(actionsOf<RemoveAnnotation>(d), (std::vector<RemoveAnnotation>{{kRollbackAnnotation}}));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->phase, Phase::kServing);
  EXPECT_EQ(d.status->message.rfind("rollback refused", 0), 0u);
}

TEST(DecideServing, RollbackRefusedWhenThePreviousOutputIsGone) {
  Observed o = observedIn(Phase::kServing);
  o.meta.annotations[kRollbackAnnotation] = "true";
  o.others[0].phase = Phase::kRetired;
  o.others[0].drainedAt = at(-90000);
  o.others[0].outputDeleted = true;
  expectRollbackRefused(o, "already deleted");
}

TEST(DecideServing, RollbackRefusedWhenThePreviousOutputIsDueForDeletion) {
  Observed o = observedIn(Phase::kServing);
  o.meta.annotations[kRollbackAnnotation] = "true";
  o.others[0].phase = Phase::kRetired;
  o.others[0].drainedAt = at(-86400 + 100);  // deleted in 100 s, within the margin
  expectRollbackRefused(o, "due for deletion");
}

TEST(DecideServing, RollbackRefusedWithoutAPreviousVersion) {
  Observed o = observedIn(Phase::kServing);
  o.meta.annotations[kRollbackAnnotation] = "true";
  o.status.previousVersion = "";
  o.alias->previousVersion = "";
  expectRollbackRefused(o, "no previous version");
}

TEST(DecideServing, RollbackRefusedWhenThePreviousVersionIsGoneOrFailed) {
  Observed o = observedIn(Phase::kServing);
  o.meta.annotations[kRollbackAnnotation] = "true";
  o.others.clear();
  expectRollbackRefused(o, "no longer exists");
  o = observedIn(Phase::kServing);
  o.meta.annotations[kRollbackAnnotation] = "true";
  o.others[0].phase = Phase::kFailed;
  expectRollbackRefused(o, "not Draining or Retired");
}

TEST(DecideServing, AfterTheRollbackFlipTheVersionDrainsWithoutFlippingAgain) {
  // The rollback flip ran; the annotation removal was lost in a crash.
  Observed o = observedIn(Phase::kServing);
  o.meta.annotations[kRollbackAnnotation] = "true";
  o.status.message = "rolling back to version v1";
  o.alias = aliasFor("v1", "v2", "46", 10);
  Decision d = decide(o, at(12));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->phase, Phase::kDraining);
  EXPECT_FALSE(has<FlipAlias>(d)) << d;
  EXPECT_EQ(actionsOf<RemoveAnnotation>(d), (std::vector<RemoveAnnotation>{{kRollbackAnnotation}}));
}

// ----- Draining and Retired -----------------------------------------------------------------

// ----- Serving: the shadow after the flip ----------------------------------------------------

// v2 serves since -40 s with a shadow of 600 s, a round every 300 s: rounds due at 260 s
// and 560 s; v1 drains beside it.
Observed shadowing() {
  Observed o = observedIn(Phase::kServing);
  o.spec.promotion.shadowSeconds = 600;
  o.spec.validation.roundIntervalSeconds = 300;
  return o;
}

TEST(DecideServingShadow, TheShadowIsPlannedAtTheFirstPassAndWaitsForItsFirstRound) {
  Decision d = decide(shadowing(), at(0));
  ASSERT_TRUE(d.status.has_value());
  const ValidationStatus& v = d.status->shadow;
  EXPECT_EQ(v.servingVersion, "v1");
  EXPECT_EQ(v.startedAt, at(-40));
  EXPECT_EQ(v.roundsPlanned, 2);
  EXPECT_EQ(v.roundStartedAt, at(260));
  EXPECT_EQ(condition(*d.status, kShadowMatched).status, ConditionStatus::kUnknown);
  EXPECT_EQ(condition(*d.status, kShadowMatched).reason, "Shadowing");
  EXPECT_FALSE(has<RunValidation>(d));
  EXPECT_EQ(d.requeueAfter, Seconds{260});
}

TEST(DecideServingShadow, RoundsCompareWithThePreviousVersionThenItMayDrain) {
  Observed o = shadowing();
  Decision d = decide(o, at(0));
  o.status = *d.status;
  d = decide(o, at(260));
  auto run = actionsOf<RunValidation>(d);
  ASSERT_EQ(run.size(), 1u) << d;
  EXPECT_EQ(run[0].requestedAt, at(260));
  EXPECT_EQ(run[0].servingVersion, "v1");
  EXPECT_EQ(run[0].servingTopic, "sessions.v1");
  EXPECT_EQ(run[0].candidateTopic, "sessions.v2");

  o.kafka.validation = ValidationRun{at(260), true, comparison(800, 0), "", 0, 0, std::nullopt};
  d = decide(o, at(270));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->shadow.roundsPassed, 1);
  EXPECT_EQ(d.status->shadow.roundStartedAt, at(560));
  EXPECT_EQ(condition(*d.status, kShadowMatched).reason, "RoundPassed");
  EXPECT_FALSE(d.status->shadow.completedAt.has_value());
  o.status = *d.status;

  o.kafka.validation = ValidationRun{at(560), true, comparison(820, 0), "", 0, 0, std::nullopt};
  d = decide(o, at(575));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->phase, Phase::kServing);
  EXPECT_EQ(d.status->shadow.roundsPassed, 2);
  EXPECT_EQ(d.status->shadow.completedAt, at(575));
  EXPECT_EQ(condition(*d.status, kShadowMatched).status, ConditionStatus::kTrue);
  EXPECT_EQ(condition(*d.status, kShadowMatched).reason, "Matched");
  EXPECT_TRUE(hasEvent(d, EventType::kNormal, "ShadowMatched"));
  o.status = *d.status;
  expectConverged(o, at(600));
}

TEST(DecideServingShadow, DriftAlertsAndWaitsForAHuman) {
  Observed o = shadowing();
  o.status = *decide(o, at(0)).status;
  o.kafka.validation = ValidationRun{at(260), true, comparison(800, 40, 2), "", 0, 0, std::nullopt};
  Decision d = decide(o, at(280));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->phase, Phase::kServing);
  EXPECT_EQ(condition(*d.status, kShadowMatched).status, ConditionStatus::kFalse);
  EXPECT_EQ(condition(*d.status, kShadowMatched).reason, "Drifted");
  EXPECT_EQ(d.status->shadow.mismatchedKeys, 40);
  EXPECT_EQ(d.status->shadow.completedAt, at(280));
  auto ev = events(d);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].type, EventType::kWarning);
  EXPECT_EQ(ev[0].reason, "ShadowDrift");
  EXPECT_NE(ev[0].message.find("round 1 of 2: 40 of 800"), std::string::npos) << ev[0].message;
  EXPECT_NE(ev[0].message.find("roll back with annotation"), std::string::npos) << ev[0].message;
  EXPECT_FALSE(has<FlipAlias>(d));
  o.status = *d.status;
  expectConverged(o, at(900));  // no more rounds
}

TEST(DecideServingShadow, DriftWithTheRollbackPolicyFlipsBack) {
  Observed o = shadowing();
  o.spec.promotion.shadowRollback = true;
  o.status = *decide(o, at(0)).status;
  o.kafka.validation = ValidationRun{at(260), true, comparison(800, 40, 2), "", 0, 0, std::nullopt};
  Decision d = decide(o, at(280));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(condition(*d.status, kShadowMatched).reason, "Drifted");
  auto flip = actionsOf<FlipAlias>(d);
  ASSERT_EQ(flip.size(), 1u) << d;
  EXPECT_EQ(flip[0], (FlipAlias{"sessions-serving", std::string("42"), "sessions", "v1",
                                "sessions.v1", "kafka:9092", "v2", at(280), "Rollback"}));
  EXPECT_TRUE(hasEvent(d, EventType::kWarning, "ShadowDrift"));
  EXPECT_TRUE(hasEvent(d, EventType::kNormal, "RollbackStarted"));
}

TEST(DecideServingShadow, AnInconclusiveRoundComparesAgainAndATimeoutEndsTheShadow) {
  Observed o = shadowing();
  o.status = *decide(o, at(0)).status;
  ValidationResult r = comparison(30, 0);
  r.sampledKeys = 100;
  r.notComparableKeys = 70;
  o.kafka.validation = ValidationRun{at(260), true, r, "", 0, 0, std::nullopt};
  Decision d = decide(o, at(270));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(condition(*d.status, kShadowMatched).reason, "NotComparable");
  EXPECT_EQ(d.status->shadow.roundsPassed, 0);
  EXPECT_FALSE(d.status->shadow.completedAt.has_value());
  auto run = actionsOf<RunValidation>(d);
  ASSERT_EQ(run.size(), 1u) << d;
  EXPECT_EQ(run[0].requestedAt, at(260));  // the same round, compared again
  EXPECT_EQ(run[0].servingTopic, "sessions.v1");

  // No result within validation.timeoutSeconds of the round's start: the shadow ends.
  o.status = *d.status;
  o.kafka.validation = ValidationRun{at(260), false, std::nullopt, "", 0, 0, std::nullopt};
  d = decide(o, at(260 + 600));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->phase, Phase::kServing);
  EXPECT_EQ(condition(*d.status, kShadowMatched).reason, "TimedOut");
  EXPECT_EQ(d.status->shadow.completedAt, at(860));
  EXPECT_TRUE(hasEvent(d, EventType::kWarning, "ShadowTimedOut"));
  EXPECT_FALSE(has<FlipAlias>(d));
}

TEST(DecideServingShadow, NoShadowWithoutAPreviousVersionRunning) {
  Observed o = shadowing();
  o.others[0].phase = Phase::kRetired;  // v1 drained already
  Decision d = decide(o, at(0));
  EXPECT_FALSE(d.status.has_value()) << d;
  EXPECT_FALSE(has<RunValidation>(d));

  // A shadow under way whose previous version stops: it ends, saying why.
  Observed under = shadowing();
  under.status = *decide(under, at(0)).status;
  under.others[0].phase = Phase::kRetired;
  d = decide(under, at(100));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(condition(*d.status, kShadowMatched).reason, "PreviousVersionGone");
  EXPECT_EQ(d.status->shadow.completedAt, at(100));
}

TEST(DecideDraining, KeepsRunningWhileItsSuccessorShadowsIt) {
  Observed o = observedIn(Phase::kDraining);  // draining since 1000, delay 300; v3 serves
  o.others[1].shadowSeconds = 900;
  o.others[1].validationTimeoutSeconds = 120;
  Decision d = decide(o, at(1300));
  EXPECT_FALSE(d.status.has_value()) << d;
  EXPECT_FALSE(has<DeleteWorker>(d));
  EXPECT_EQ(d.requeueAfter, Seconds{900 + 120 + kShadowGrace.count() - 300});
  // The shadow has ended: the drain delay alone counts again.
  o.others[1].shadowDone = true;
  d = decide(o, at(1300));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->phase, Phase::kRetired);
}

TEST(DecideDraining, WaitsForTheDrainDelay) {
  Observed o = observedIn(Phase::kDraining);  // draining since 1000, delay 300
  expectConverged(o, at(1100));
  EXPECT_EQ(decide(o, at(1100)).requeueAfter, seconds(200));
}

TEST(DecideDraining, RetiresAfterTheDelay) {
  Observed o = observedIn(Phase::kDraining);
  Decision d = decide(o, at(1300));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->phase, Phase::kRetired);
  EXPECT_EQ(d.status->drainedAt, at(1300));
  EXPECT_EQ(condition(*d.status, kDrained).status, ConditionStatus::kTrue);
  EXPECT_EQ(actionsOf<DeleteWorker>(d), (std::vector<DeleteWorker>{{"sessions-v2"}}));
  EXPECT_FALSE(has<DeleteConsumerGroup>(d));  // once the worker has stopped
  EXPECT_FALSE(has<DeleteTopics>(d));
  EXPECT_EQ(d.requeueAfter, kStepDelay);

  o.status = *d.status;
  o.worker = WorkerFacts{};
  o.replayQuota.reset();
  d = decide(o, at(1301));
  EXPECT_FALSE(d.status.has_value()) << d;
  EXPECT_EQ(actionsOf<DeleteConsumerGroup>(d), (std::vector<DeleteConsumerGroup>{{kGroup}}));
  EXPECT_FALSE(has<DeleteTopics>(d));
  EXPECT_EQ(d.requeueAfter, seconds(86400 - 1));
}

TEST(DecideDraining, RollbackToThisVersionServesAgain) {
  Observed o = observedIn(Phase::kDraining);
  o.alias = aliasFor("v2", "v3", "47", 1100);
  Decision d = decide(o, at(1101));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->phase, Phase::kServing);
  EXPECT_EQ(d.status->reason, "RolledBack");
  EXPECT_EQ(d.status->previousVersion, "v3");
  EXPECT_EQ(d.status->servingSince, at(1100));
  EXPECT_FALSE(d.status->drainingSince.has_value());
  EXPECT_EQ(condition(*d.status, kServingCondition).status, ConditionStatus::kTrue);
  EXPECT_FALSE(has<FlipAlias>(d));
  EXPECT_FALSE(has<EnsureWorker>(d));  // still running at the steady profile
}

// A version rolled back to runs no shadow: the drifted version it replaces drains, and is
// never compared with (nor rolled back to) again.
TEST(DecideDraining, AVersionServingAgainAfterARollbackRunsNoShadow) {
  Observed o = observedIn(Phase::kDraining);
  o.spec.promotion.shadowSeconds = 600;
  o.spec.promotion.shadowRollback = true;
  o.alias = aliasFor("v2", "v3", "47", 1100);
  o.others[1].phase = Phase::kDraining;  // v3, rolled back from
  Decision d = decide(o, at(1101));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->phase, Phase::kServing);
  EXPECT_EQ(d.status->shadow.completedAt, at(1101));
  EXPECT_EQ(condition(*d.status, kShadowMatched).reason, "RolledBack");
  o.status = *d.status;
  o.others[0].phase = Phase::kDraining;
  // Later passes compare nothing, even with a drifted-looking result at hand.
  ValidationResult drift = comparison(800, 40);
  o.kafka.validation = ValidationRun{at(1400), true, drift, "", 0, 0, std::nullopt};
  for (int64_t t : {1400, 1700, 2000}) {
    Decision later = decide(o, at(t));
    EXPECT_FALSE(has<RunValidation>(later)) << later;
    EXPECT_FALSE(has<FlipAlias>(later)) << later;
  }
}

TEST(DecideRetired, KeepsTheOutputDuringRetention) {
  Observed o = observedIn(Phase::kRetired);  // drained at 1300
  expectConverged(o, at(5000));
  EXPECT_EQ(decide(o, at(5000)).requeueAfter, seconds(1300 + 86400 - 5000));
}

TEST(DecideRetired, CleanupLostInACrashIsRepeated) {
  Observed o = observedIn(Phase::kRetired);
  o.worker.exists = true;
  o.kafka.consumerGroupExists = true;
  Decision d = decide(o, at(1301));
  EXPECT_FALSE(d.status.has_value()) << d;
  EXPECT_TRUE(has<DeleteWorker>(d));
  EXPECT_FALSE(has<DeleteConsumerGroup>(d));
  o.worker.exists = false;
  d = decide(o, at(1302));
  EXPECT_TRUE(has<DeleteConsumerGroup>(d));
}

TEST(DecideRetired, DeletesTheOutputAfterRetention) {
  Observed o = observedIn(Phase::kRetired);
  Decision d = decide(o, at(1300 + 86400));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->phase, Phase::kRetired);
  EXPECT_EQ(d.status->outputDeletedAt, at(1300 + 86400));
  EXPECT_EQ(actionsOf<DeleteTopics>(d),
            (std::vector<DeleteTopics>{{{"sessions.v2", "sessions.v2.dlq"}}}));
  EXPECT_TRUE(hasEvent(d, EventType::kNormal, "OutputDeleted"));
  EXPECT_FALSE(d.requeueAfter.has_value());

  // Crash before the delete ran: it is issued again, without a second event.
  o.status = *d.status;
  Decision again = decide(o, at(1300 + 86401));
  EXPECT_FALSE(again.status.has_value());
  EXPECT_EQ(actionsOf<DeleteTopics>(again).size(), 1u);
  EXPECT_TRUE(events(again).empty());

  o.kafka.outputTopicExists = false;
  o.kafka.deadLetterTopicExists = false;
  expectConverged(o, at(1300 + 86402));
}

TEST(DecideRetired, RollbackToThisVersionRestartsItsWorker) {
  Observed o = observedIn(Phase::kRetired);
  o.alias = aliasFor("v2", "v3", "48", 2000);
  Decision d = decide(o, at(2001));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->phase, Phase::kServing);
  EXPECT_FALSE(d.status->drainedAt.has_value());
  EXPECT_EQ(condition(*d.status, kDrained).status, ConditionStatus::kFalse);
  auto worker = actionsOf<EnsureWorker>(d);
  ASSERT_EQ(worker.size(), 1u) << d;
  EXPECT_EQ(worker[0].profile, WorkerProfile::kSteady);
  EXPECT_FALSE(has<DeleteTopics>(d));
}

TEST(DecideRetired, NeverDeletesTheOutputTheAliasNames) {
  Observed o = observedIn(Phase::kRetired);
  o.alias = aliasFor("v2", "v3", "48", 2000);
  Decision d = decide(o, at(1300 + 90000));
  EXPECT_FALSE(has<DeleteTopics>(d)) << d;
}

// ----- Failed and Superseded ----------------------------------------------------------------

TEST(DecideFailed, ConvergedIsIdempotent) {
  Observed o = observedIn(Phase::kFailed);
  expectConverged(o, at(0));
  EXPECT_FALSE(decide(o, at(0)).requeueAfter.has_value());
}

TEST(DecideFailed, LeftoverWorkerIsDeleted) {
  Observed o = observedIn(Phase::kFailed);
  o.worker.exists = true;
  o.replayQuota = ReplayQuotaHard{};
  Decision d = decide(o, at(0));
  EXPECT_FALSE(d.status.has_value());
  EXPECT_TRUE(has<DeleteWorker>(d));
  EXPECT_TRUE(has<DeleteReplayQuota>(d));
  EXPECT_FALSE(has<DeleteTopics>(d));
}

TEST(DecideSupersede, ANewerVersionSupersedesAReplayingCandidate) {
  Observed o = observedIn(Phase::kReplaying);
  o.others.push_back(otherVersion("v3", 100, Phase::kPending));
  Decision d = decide(o, at(200));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->phase, Phase::kSuperseded);
  EXPECT_EQ(d.status->reason, "NewerVersion");
  EXPECT_NE(d.status->message.find("v3"), std::string::npos);
  EXPECT_TRUE(hasEvent(d, EventType::kNormal, "Superseded"));
  EXPECT_TRUE(has<DeleteWorker>(d));
  EXPECT_TRUE(has<DeleteReplayQuota>(d));
  EXPECT_FALSE(has<DeleteConsumerGroup>(d)) << d;  // the worker is still running
  EXPECT_FALSE(has<DeleteTopics>(d)) << d;
  EXPECT_EQ(d.requeueAfter, kStepDelay);

  // Cleanup lost in a crash is repeated; once everything is gone nothing happens.
  o.status = *d.status;
  Decision again = decide(o, at(201));
  EXPECT_FALSE(again.status.has_value());
  EXPECT_EQ(again.actions.size(), 2u) << again;  // the worker and the replay quota
  o = observedIn(Phase::kSuperseded);
  expectConverged(o, at(202));
}

TEST(DecideSupersede, GroupAndTopicsGoOnceTheWorkerHasStopped) {
  // A stopping worker commits its last transaction (offsets and output records): a group or
  // topic deleted before it has stopped would come back, and nothing would delete it again.
  Observed o = observedIn(Phase::kSuperseded);
  o.worker = WorkerFacts{};
  o.replayQuota.reset();
  o.worker.podsLeft = 2;  // the Deployment is gone, its pods are stopping
  o.kafka.consumerGroupExists = true;
  o.kafka.outputTopicExists = true;
  o.kafka.deadLetterTopicExists = true;
  Decision d = decide(o, at(300));
  EXPECT_FALSE(d.status.has_value());
  EXPECT_TRUE(d.actions.empty()) << d;
  EXPECT_EQ(d.requeueAfter, kStepDelay);

  o.worker.podsLeft = 0;
  d = decide(o, at(301));
  EXPECT_EQ(actionsOf<DeleteConsumerGroup>(d), (std::vector<DeleteConsumerGroup>{{kGroup}}));
  EXPECT_EQ(actionsOf<DeleteTopics>(d),
            (std::vector<DeleteTopics>{{{"sessions.v2", "sessions.v2.dlq"}}}));
}

TEST(DecideSupersede, AppliesToEveryCandidatePhase) {
  for (Phase phase :
       {Phase::kPending, Phase::kProvisioning, Phase::kValidating, Phase::kAwaitingPromotion}) {
    Observed o = observedIn(phase);
    o.others.push_back(otherVersion("v3", 100, Phase::kReplaying));
    Decision d = decide(o, at(200));
    ASSERT_TRUE(d.status.has_value()) << phase;
    EXPECT_EQ(d.status->phase, Phase::kSuperseded) << phase;
  }
}

TEST(DecideSupersede, OnlyLiveNewerVersionsCount) {
  for (Phase phase : {Phase::kFailed, Phase::kSuperseded, Phase::kDraining, Phase::kRetired}) {
    Observed o = observedIn(Phase::kReplaying);
    o.others.push_back(otherVersion("v3", 100, phase));
    EXPECT_EQ(phaseAfter(o, decide(o, at(200))), Phase::kReplaying) << phase;
  }
  Observed o = observedIn(Phase::kReplaying);
  OtherVersion deleting = otherVersion("v3", 100, Phase::kReplaying);
  deleting.deleting = true;
  o.others.push_back(deleting);
  EXPECT_EQ(phaseAfter(o, decide(o, at(200))), Phase::kReplaying);
  // An older candidate (v1 is serving, created earlier) does not supersede v2.
  o = observedIn(Phase::kReplaying);
  o.others.push_back(otherVersion("v0", -5000, Phase::kReplaying));
  EXPECT_EQ(phaseAfter(o, decide(o, at(200))), Phase::kReplaying);
}

TEST(DecideSupersede, SameCreationTimeIsOrderedByName) {
  Observed o = observedIn(Phase::kReplaying);
  o.others.push_back(otherVersion("v3", -1000, Phase::kReplaying));  // "sessions-v3" > "-v2"
  EXPECT_EQ(phaseAfter(o, decide(o, at(0))), Phase::kSuperseded);
  o = observedIn(Phase::kReplaying);
  o.others.push_back(otherVersion("v1b", -1000, Phase::kReplaying));  // "sessions-v1b" < "-v2"
  EXPECT_EQ(phaseAfter(o, decide(o, at(0))), Phase::kReplaying);
}

// ----- deletion -----------------------------------------------------------------------------

TEST(DecideDeletion, CleansUpThenRemovesTheFinalizerLast) {
  Observed o = observedIn(Phase::kReplaying);
  o.meta.deletionTimestamp = at(10);
  Decision d = decide(o, at(10));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->reason, "Deleting");
  EXPECT_TRUE(has<DeleteWorker>(d));
  EXPECT_TRUE(has<DeleteReplayQuota>(d));
  EXPECT_FALSE(has<DeleteConsumerGroup>(d));  // once the worker has stopped
  EXPECT_FALSE(has<RemoveFinalizer>(d));
  EXPECT_FALSE(has<FlipAlias>(d));

  o.status = *d.status;
  o.worker = WorkerFacts{};
  o.replayQuota.reset();
  o.worker.podsLeft = 1;
  d = decide(o, at(11));
  EXPECT_TRUE(d.actions.empty()) << d;  // no finalizer removal while a pod is stopping
  o.worker.podsLeft = 0;
  d = decide(o, at(11));
  EXPECT_TRUE(has<DeleteConsumerGroup>(d));
  EXPECT_TRUE(has<DeleteTopics>(d));
  EXPECT_FALSE(has<RemoveFinalizer>(d));
  o.kafka.consumerGroupExists = false;
  o.kafka.outputTopicExists = false;
  o.kafka.deadLetterTopicExists = false;
  d = decide(o, at(11));
  EXPECT_FALSE(d.status.has_value()) << d;
  ASSERT_EQ(d.actions.size(), 1u) << d;
  EXPECT_TRUE(std::holds_alternative<RemoveFinalizer>(d.actions[0]));
}

TEST(DecideDeletion, ServingVersionKeepsItsOutputAndTheAlias) {
  Observed o = observedIn(Phase::kServing);
  o.meta.deletionTimestamp = at(10);
  Decision d = decide(o, at(10));
  EXPECT_TRUE(hasEvent(d, EventType::kWarning, "ServingVersionDeleted"));
  EXPECT_TRUE(has<DeleteWorker>(d));
  EXPECT_FALSE(has<DeleteConsumerGroup>(d));
  EXPECT_FALSE(has<DeleteTopics>(d)) << d;
  EXPECT_FALSE(has<FlipAlias>(d));

  o.status = *d.status;
  o.worker = WorkerFacts{};
  o.replayQuota.reset();
  d = decide(o, at(11));
  EXPECT_TRUE(has<DeleteConsumerGroup>(d));
  EXPECT_FALSE(has<DeleteTopics>(d)) << d;
  o.kafka.consumerGroupExists = false;
  d = decide(o, at(11));
  ASSERT_EQ(d.actions.size(), 1u) << d;  // no second event
  EXPECT_TRUE(std::holds_alternative<RemoveFinalizer>(d.actions[0]));
}

TEST(DecideDeletion, WithoutTheFinalizerNothingIsDone) {
  Observed o = observedIn(Phase::kReplaying);
  o.meta.deletionTimestamp = at(10);
  o.meta.hasFinalizer = false;
  expectConverged(o, at(10));
}

TEST(DecideDeletion, PendingObjectOnlyDropsItsFinalizer) {
  Observed o = observedIn(Phase::kPending);
  o.meta.deletionTimestamp = at(10);
  Decision d = decide(o, at(10));
  ASSERT_EQ(d.actions.size(), 1u) << d;
  EXPECT_TRUE(std::holds_alternative<RemoveFinalizer>(d.actions[0]));
}

// ----- printing -----------------------------------------------------------------------------

TEST(DecidePrinting, DecisionsPrintReadably) {
  Decision d = decide(observedIn(Phase::kPromoting), at(0));
  std::ostringstream os;
  os << d;
  EXPECT_NE(os.str().find("phase=Promoting"), std::string::npos) << os.str();
  EXPECT_NE(os.str().find("FlipAlias{sessions-serving expectedResourceVersion=41 version=v2"),
            std::string::npos)
      << os.str();
}

// ----- whole cutovers against a simulated world ---------------------------------------------

// A world that runs actions the way the driver's adapters would: idempotent, with a CAS on
// the alias. The lag shrinks by a fixed amount per pass.
struct World {
  Observed o;
  int aliasWrites = 0;
  int flipsAfterServing = 0;  // FlipAlias emitted while the alias already named this version
  int rv = 100;
  int64_t lag = 3000;
  int64_t consumed = 0;
  ValidationResult comparisonResult = comparison(1000, 0);

  void refresh(TimePoint now) {
    o.kafka.lag = lagSample(lag, consumed, now);
    o.kafka.retention = retention(kafka::RetentionVerdict::kSafe);
    if (o.worker.exists) {
      int64_t step = std::min<int64_t>(lag, 500);
      lag -= step;
      consumed += step;
    }
  }

  void run(const Action& a, TimePoint now) {
    std::visit(
        [&](const auto& act) {
          using T = std::decay_t<decltype(act)>;
          if constexpr (std::is_same_v<T, AddFinalizer>) {
            o.meta.hasFinalizer = true;
          } else if constexpr (std::is_same_v<T, RemoveFinalizer>) {
            o.meta.hasFinalizer = false;
          } else if constexpr (std::is_same_v<T, RemoveAnnotation>) {
            o.meta.annotations.erase(act.key);
          } else if constexpr (std::is_same_v<T, CreateTopics>) {
            for (const auto& t : act.topics) {
              if (t.name == o.status.outputTopic) o.kafka.outputTopicExists = true;
              if (t.name == deadLetterTopicName(o.status.outputTopic)) {
                o.kafka.deadLetterTopicExists = true;
              }
              if (t.name == o.status.tapTopic) o.kafka.tapTopicExists = true;
            }
          } else if constexpr (std::is_same_v<T, DeleteTopics>) {
            o.kafka.outputTopicExists = false;
            o.kafka.deadLetterTopicExists = false;
            o.kafka.tapTopicExists = false;
          } else if constexpr (std::is_same_v<T, DeleteConsumerGroup>) {
            o.kafka.consumerGroupExists = false;
          } else if constexpr (std::is_same_v<T, EnsureWorker>) {
            o.worker.exists = true;
            o.worker.profile = act.profile;
            o.worker.replicas = act.replicas;
            o.kafka.consumerGroupExists = true;
          } else if constexpr (std::is_same_v<T, DeleteWorker>) {
            o.worker.exists = false;
          } else if constexpr (std::is_same_v<T, EnsureReplayQuota>) {
            o.replayQuota = act.hard;
          } else if constexpr (std::is_same_v<T, DeleteReplayQuota>) {
            o.replayQuota.reset();
          } else if constexpr (std::is_same_v<T, RunValidation>) {
            o.kafka.validation =
                ValidationRun{act.requestedAt, true, comparisonResult, "", 0, 0, std::nullopt};
          } else if constexpr (std::is_same_v<T, FlipAlias>) {
            if (o.alias && o.alias->version == o.spec.version) ++flipsAfterServing;
            bool ok = act.expectedResourceVersion
                          ? o.alias && o.alias->resourceVersion == *act.expectedResourceVersion
                          : !o.alias;
            if (ok) {
              o.alias = ServingAlias{act.version,          act.topic, act.previousVersion, now,
                                     std::to_string(++rv), {}};
              ++aliasWrites;
            }
          } else if constexpr (std::is_same_v<T, RecordEvent>) {
          }
        },
        a);
  }

  // One reconcile pass. crash: the status is written, then the process dies after running
  // only the first `runActions` actions.
  Decision pass(TimePoint now, size_t runActions = SIZE_MAX) {
    refresh(now);
    Decision d = decide(o, now);
    if (d.status) o.status = *d.status;
    for (size_t i = 0; i < d.actions.size() && i < runActions; ++i) run(d.actions[i], now);
    return d;
  }
};

// Runs passes 5 s apart until the phase is `until` (at most 200 passes); pass number
// `crashAt` runs only `crashActions` of its actions.
int runUntil(World& w, Phase until, int start = 0, int crashAt = -1, size_t crashActions = 0) {
  for (int i = 0; i < 200; ++i) {
    if (w.o.status.phase == until) return i;
    w.pass(at(start + 5 * i), i == crashAt ? crashActions : SIZE_MAX);
  }
  ADD_FAILURE() << "did not reach " << until << "; stuck in " << w.o.status;
  return -1;
}

World firstVersionWorld() {
  World w;
  w.o = observedIn(Phase::kPending);
  w.o.meta.hasFinalizer = false;
  w.o.alias.reset();
  w.o.others.clear();
  return w;
}

TEST(DecideCutover, FirstVersionGoesLiveWithoutComparison) {
  World w = firstVersionWorld();
  ASSERT_GT(runUntil(w, Phase::kServing), 0);
  ASSERT_TRUE(w.o.alias.has_value());
  EXPECT_EQ(w.o.alias->version, "v2");
  EXPECT_EQ(w.o.alias->topic, "sessions.v2");
  EXPECT_EQ(w.aliasWrites, 1);
  EXPECT_FALSE(w.o.kafka.validation.has_value());
  EXPECT_EQ(w.o.worker.profile, WorkerProfile::kSteady);
  EXPECT_FALSE(w.o.replayQuota.has_value());
  EXPECT_EQ(condition(w.o.status, kValidated).reason, "FirstVersion");
  for (const char* type :
       {kProvisioned, kRetentionSafe, kCaughtUp, kValidated, kServingCondition}) {
    EXPECT_EQ(condition(w.o.status, type).status, ConditionStatus::kTrue) << type;
  }
  Decision d = w.pass(at(5000));
  EXPECT_FALSE(d.status.has_value()) << d;
  EXPECT_TRUE(d.actions.empty()) << d;
}

World secondVersionWorld() {
  World w;
  w.o = observedIn(Phase::kPending);
  w.o.meta.hasFinalizer = false;
  w.rv = 41;
  return w;
}

TEST(DecideCutover, SecondVersionIsComparedAndFlippedOnce) {
  World w = secondVersionWorld();
  ASSERT_GT(runUntil(w, Phase::kServing), 0);
  EXPECT_EQ(w.o.alias->version, "v2");
  EXPECT_EQ(w.o.alias->previousVersion, "v1");
  EXPECT_EQ(w.o.status.previousVersion, "v1");
  EXPECT_EQ(w.aliasWrites, 1);
  EXPECT_EQ(w.flipsAfterServing, 0);
  EXPECT_EQ(w.o.status.validation.comparedKeys, 1000);
  EXPECT_EQ(condition(w.o.status, kValidated).reason, "Matched");
}

TEST(DecideCutover, ACrashBetweenAnyTwoStepsNeverRepeatsTheFlip) {
  World reference = secondVersionWorld();
  int passes = runUntil(reference, Phase::kServing);
  ASSERT_GT(passes, 0);
  for (int crashAt = 0; crashAt < passes; ++crashAt) {
    for (size_t ran : {size_t{0}, size_t{1}}) {
      World w = secondVersionWorld();
      ASSERT_GE(runUntil(w, Phase::kServing, 0, crashAt, ran), 0)
          << "crash at pass " << crashAt << " after " << ran << " actions";
      EXPECT_EQ(w.aliasWrites, 1) << "crash at pass " << crashAt;
      EXPECT_EQ(w.flipsAfterServing, 0) << "crash at pass " << crashAt;
      EXPECT_EQ(w.o.alias->version, "v2");
      EXPECT_EQ(w.o.worker.profile, WorkerProfile::kSteady);
      EXPECT_TRUE(w.o.meta.hasFinalizer);
      Decision d = w.pass(at(10000));
      EXPECT_FALSE(d.status.has_value()) << "crash at pass " << crashAt << ": " << d;
      EXPECT_TRUE(d.actions.empty()) << "crash at pass " << crashAt << ": " << d;
    }
  }
}

TEST(DecideCutover, TwoCandidatesRacingForTheAliasCannotBothWin) {
  // v2 and v3 both observed the alias at v1 (rv 41) and both decided to flip.
  Observed v2 = observedIn(Phase::kPromoting);
  Observed v3 = observedIn(Phase::kPromoting);
  v3.meta.name = "sessions-v3";
  v3.meta.creationTimestamp = at(-500);
  v3.spec.version = "v3";
  v3.status.outputTopic = "sessions.v3";
  v2.others.push_back(otherVersion("v3", -500, Phase::kPromoting));
  v3.others.push_back(otherVersion("v2", -1000, Phase::kPromoting));
  FlipAlias flip3 = actionsOf<FlipAlias>(decide(v3, at(0)))[0];
  FlipAlias flip2 = actionsOf<FlipAlias>(decide(v2, at(0)))[0];
  EXPECT_EQ(flip2.expectedResourceVersion, flip3.expectedResourceVersion);

  World w;
  w.o = v2;
  w.run(flip3, at(0));  // v3's write lands first
  EXPECT_EQ(w.o.alias->version, "v3");
  w.run(flip2, at(0));  // v2's CAS fails
  EXPECT_EQ(w.o.alias->version, "v3");
  EXPECT_EQ(w.aliasWrites, 1);
  // v2 re-reads and sees it lost to a newer version.
  Decision d = decide(w.o, at(1));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->phase, Phase::kSuperseded);
  EXPECT_FALSE(has<FlipAlias>(d));
}

// ----- Medallion pipelines: a source that is another pipeline --------------------------------

// gold-v2 reads pipeline silver (spec.source.pipeline) instead of a topic.
Observed goldReadingSilver() {
  Observed o = observedIn(Phase::kPending);
  o.spec.pipeline = "gold";
  o.spec.source.topic = "";
  o.spec.source.pipeline = "silver";
  o.meta.name = "gold-v2";
  o.others.clear();
  o.alias.reset();
  o.pipelineSources = {{"gold", {"silver"}}, {"silver", {"bronze"}}};
  return o;
}

TEST(DecideMedallion, WaitsInPendingUntilTheSourcePipelineServes) {
  Observed o = goldReadingSilver();  // silver has no alias yet
  o.kafka.sourcePartitions.reset();
  Decision d = decide(o, at(0));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->phase, Phase::kPending);
  const Condition& c = condition(*d.status, kProvisioned);
  EXPECT_EQ(c.status, ConditionStatus::kUnknown);
  EXPECT_EQ(c.reason, "WaitingForSource");
  EXPECT_NE(c.message.find("silver-serving does not exist"), std::string::npos) << c.message;
  EXPECT_TRUE(hasEvent(d, EventType::kNormal, "WaitingForSource"));
  EXPECT_FALSE(has<CreateTopics>(d));
  EXPECT_EQ(d.status->source, SourceStatus{});
  EXPECT_EQ(d.requeueAfter, kResyncInterval);
  // The next pass, nothing changed: no second Event, no status write.
  o.status = *d.status;
  expectConverged(o, at(5));
}

TEST(DecideMedallion, TheSourceIsWhatTheUpstreamAliasNamesAtProvisioningAndStaysSo) {
  Observed o = goldReadingSilver();
  o.upstream = ServingAlias{"v7", "silver.v7", "v6", at(-10), "12", {}};
  Decision d = decide(o, at(0));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->phase, Phase::kProvisioning);
  EXPECT_EQ(d.status->source, (SourceStatus{"silver", "v7", "silver.v7"}));
  EXPECT_TRUE(hasEvent(d, EventType::kNormal, "SourceResolved"));
  EXPECT_EQ(actionsOf<CreateTopics>(d).size(), 1u);

  // Silver flips to v8 while gold-v2 provisions: gold-v2 still reads silver.v7 (a flip
  // upstream makes a new downstream version, it does not move this one).
  o.status = *d.status;
  o.kafka.outputTopicExists = true;
  o.kafka.deadLetterTopicExists = true;
  o.kafka.tapTopicExists = true;
  o.kafka.retention = retention(kafka::RetentionVerdict::kSafe);
  o.upstream = ServingAlias{"v8", "silver.v8", "v7", at(5), "13", {}};
  d = decide(o, at(10));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->phase, Phase::kReplaying);
  EXPECT_EQ(d.status->source, (SourceStatus{"silver", "v7", "silver.v7"}));
  auto worker = actionsOf<EnsureWorker>(d);
  ASSERT_EQ(worker.size(), 1u) << d;
  EXPECT_EQ(worker[0].sourceTopic, "silver.v7");
  EXPECT_NE(d.status->message.find("replaying silver.v7"), std::string::npos) << d.status->message;
}

TEST(DecideMedallion, ASourceCycleFailsTheVersionAndNamesTheCycle) {
  Observed o = goldReadingSilver();
  o.upstream = ServingAlias{"v7", "silver.v7", "", at(-10), "12", {}};
  o.pipelineSources["bronze"] = {"gold"};  // gold -> silver -> bronze -> gold
  auto refusal = sourceRefusal(o);
  ASSERT_TRUE(refusal.has_value());
  EXPECT_EQ(refusal->reason, kSourceCycleReason);
  EXPECT_EQ(refusal->field, "spec.source.pipeline");
  EXPECT_NE(refusal->message.find("gold -> silver -> bronze -> gold"), std::string::npos)
      << refusal->message;
  Decision d = decide(o, at(0));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->phase, Phase::kFailed);
  EXPECT_EQ(d.status->reason, kSourceCycleReason);
  EXPECT_FALSE(has<CreateTopics>(d));

  // No cycle: a chain, a diamond, a pipeline read by two.
  o.pipelineSources = {
      {"gold", {"silver"}}, {"silver", {"bronze"}}, {"report", {"silver", "gold"}}, {"bronze", {}}};
  EXPECT_FALSE(sourceRefusal(o).has_value());
  // Reading itself directly (the CRD refuses that too).
  o.spec.source.pipeline = "gold";
  ASSERT_TRUE(sourceRefusal(o).has_value());
  EXPECT_NE(sourceRefusal(o)->message.find("gold -> gold"), std::string::npos);
  // A topic source never cycles.
  o.spec.source.pipeline = "";
  o.spec.source.topic = "clicks";
  EXPECT_FALSE(sourceRefusal(o).has_value());
}

TEST(DecideMedallion, ADrainingVersionKeepsRunningWhileADownstreamVersionReadsIt) {
  Observed o = observedIn(Phase::kDraining);  // draining since 1000, delay 300
  o.readers = {Reader{"gold", "gold-v1", Phase::kServing}};
  Decision d = decide(o, at(1300));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->phase, Phase::kDraining);
  EXPECT_EQ(d.status->message, "draining held: gold/gold-v1 (Serving) reads output sessions.v2");
  EXPECT_EQ(condition(*d.status, kDrained).reason, "ReadByDownstream");
  EXPECT_TRUE(hasEvent(d, EventType::kNormal, "DrainHeld"));
  EXPECT_FALSE(has<DeleteWorker>(d));
  EXPECT_EQ(d.requeueAfter, kResyncInterval);
  o.status = *d.status;
  expectConverged(o, at(1400));

  // The reader has moved on (drained itself): this version retires.
  o.readers.clear();
  d = decide(o, at(1500));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->phase, Phase::kRetired);
  EXPECT_EQ(condition(*d.status, kDrained).status, ConditionStatus::kTrue);
  EXPECT_TRUE(has<DeleteWorker>(d));
}

TEST(DecideMedallion, ARetiredVersionKeepsItsOutputWhileRead) {
  Observed o = observedIn(Phase::kRetired);  // drained at 1300
  o.readers = {Reader{"gold", "gold-v3", Phase::kReplaying}};
  Decision d = decide(o, at(1300 + 86400));
  EXPECT_FALSE(has<DeleteTopics>(d)) << d;
  ASSERT_TRUE(d.status.has_value());
  EXPECT_FALSE(d.status->outputDeletedAt.has_value());
  EXPECT_EQ(d.status->message, "output kept: gold/gold-v3 (Replaying) reads it");
  o.readers.clear();
  EXPECT_TRUE(has<DeleteTopics>(decide(o, at(1300 + 86400))));
}

TEST(DecideMedallion, DeletingAVersionThatIsReadWaitsForTheReader) {
  Observed o = observedIn(Phase::kServing);
  o.meta.deletionTimestamp = at(10);
  o.readers = {Reader{"gold", "gold-v1", Phase::kServing},
               Reader{"gold", "gold-v2", Phase::kReplaying}};
  Decision d = decide(o, at(10));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->reason, kDeletionHeldReason);
  EXPECT_EQ(d.status->message,
            "deletion waits: gold/gold-v1 (Serving), gold/gold-v2 (Replaying) reads output "
            "sessions.v2");
  EXPECT_TRUE(hasEvent(d, EventType::kWarning, kDeletionHeldReason));
  // Worker, group, topics and finalizer all kept.
  EXPECT_FALSE(has<DeleteWorker>(d) || has<DeleteConsumerGroup>(d) || has<DeleteTopics>(d) ||
               has<RemoveFinalizer>(d))
      << d;
  o.status = *d.status;
  expectConverged(o, at(20));

  o.readers.clear();
  d = decide(o, at(30));
  EXPECT_TRUE(has<DeleteWorker>(d)) << d;
}

// ----- Medallion pipelines: a flip upstream cascades ------------------------------------------

// sessions-v2 serves, reading version v1 of pipeline bronze, and follows bronze's flips.
Observed servingDownstream() {
  Observed o = observedIn(Phase::kServing);
  o.spec.source.topic = "";
  o.spec.source.pipeline = "bronze";
  o.spec.cascade.mode = CascadeMode::kFollow;
  o.status.source = SourceStatus{"bronze", "v1", "bronze.v1"};
  o.upstream = ServingAlias{"v1", "bronze.v1", "", at(-90000), "7", {}};
  return o;
}

// bronze's alias after a flip to `version` at `when`.
ServingAlias bronzeFlipped(const std::string& version, bool equal, int64_t when = -10,
                           const std::string& reason = "Promotion") {
  AliasFlip flip{version, "v1", "bronze." + version, at(when), reason, equal};
  return ServingAlias{version, "bronze." + version, "v1", at(when), "8", {flip}};
}

TEST(DecideCascade, AFlipUpstreamCreatesTheSuccessorOnce) {
  Observed o = servingDownstream();
  expectConverged(o, at(0));  // in step with bronze: nothing to do
  o.upstream = bronzeFlipped("v2", true);
  Decision d = decide(o, at(0));
  auto create = actionsOf<CreateCascadedVersion>(d);
  ASSERT_EQ(create.size(), 1u) << d;
  std::string version = create[0].version;
  EXPECT_EQ(create[0], (CreateCascadedVersion{"sessions-" + version, version, "bronze", "v2",
                                              "bronze.v2", true, false, false}));
  EXPECT_TRUE(version.starts_with("v2-c")) << version;
  EXPECT_TRUE(hasEvent(d, EventType::kNormal, "CascadeStarted"));
  EXPECT_FALSE(d.status.has_value()) << d;  // still serving, reading bronze v1

  // A crash before the new version shows in the cache: the same pass again names the same
  // version (the create finds it there and succeeds).
  EXPECT_EQ(actionsOf<CreateCascadedVersion>(decide(o, at(30))), create);
  // Once it is seen, never again, whatever it became.
  for (Phase phase : {Phase::kPending, Phase::kReplaying, Phase::kFailed, Phase::kSuperseded}) {
    Observed seen = o;
    seen.others.push_back(otherVersion(version, 1, phase));
    EXPECT_FALSE(has<CreateCascadedVersion>(decide(seen, at(60)))) << phaseName(phase);
  }
  // A version of this pipeline made by hand that reads bronze v2 already: nothing to follow.
  Observed manual = o;
  manual.others.push_back(otherVersion("v9", 1, Phase::kReplaying));
  manual.others.back().sourcePipeline = "bronze";
  manual.others.back().sourceVersion = "v2";
  EXPECT_FALSE(has<CreateCascadedVersion>(decide(manual, at(60))));
  // Nor while a candidate made by hand is in flight, whatever it reads: a successor would
  // supersede it, and the change a person made with it.
  manual.others.back().sourceVersion = "v1";
  EXPECT_FALSE(has<CreateCascadedVersion>(decide(manual, at(60))));
  // A successor of an earlier cascade still in flight is superseded by the new one instead.
  manual.others.back().cascaded = true;
  EXPECT_TRUE(has<CreateCascadedVersion>(decide(manual, at(60))));
  // An older version that read bronze v2 and no longer runs does not count: bronze rolled
  // back to a version this pipeline read before makes a successor again.
  Observed older = o;
  older.others.push_back(otherVersion("v0", -200000, Phase::kRetired));
  older.others.back().sourcePipeline = "bronze";
  older.others.back().sourceVersion = "v2";
  EXPECT_TRUE(has<CreateCascadedVersion>(decide(older, at(60))));
  // Another flip makes another name.
  o.upstream = bronzeFlipped("v2", true, 500);
  auto later = actionsOf<CreateCascadedVersion>(decide(o, at(600)));
  ASSERT_EQ(later.size(), 1u);
  EXPECT_NE(later[0].version, version);
}

TEST(DecideCascade, AnUpstreamOutputChangedByIntentMakesDifferencesExpected) {
  Observed o = servingDownstream();
  o.upstream = bronzeFlipped("v2", false);  // promoted by hand over a mismatch
  auto create = actionsOf<CreateCascadedVersion>(decide(o, at(0)));
  ASSERT_EQ(create.size(), 1u);
  EXPECT_FALSE(create[0].upstreamEqual);
  EXPECT_TRUE(create[0].manualPromotion);  // the default policy: a person decides
  EXPECT_FALSE(create[0].skipValidation);

  o.spec.cascade.whenUpstreamChanged = UpstreamChangePolicy::kSkipValidation;
  create = actionsOf<CreateCascadedVersion>(decide(o, at(0)));
  ASSERT_EQ(create.size(), 1u);
  EXPECT_TRUE(create[0].skipValidation);
  EXPECT_FALSE(create[0].manualPromotion);

  // A rollback upstream cascades like a flip, its output changed by intent.
  o.upstream = bronzeFlipped("v0", false, -5, "Rollback");
  create = actionsOf<CreateCascadedVersion>(decide(o, at(0)));
  ASSERT_EQ(create.size(), 1u);
  EXPECT_EQ(create[0].upstreamVersion, "v0");
  EXPECT_TRUE(create[0].skipValidation);
}

TEST(DecideCascade, ASuccessorMadeForAFlipThatAnotherReplacedIsSuperseded) {
  Observed o = goldReadingSilver();
  o.meta.cascadeUpstreamVersion = "v7";
  o.upstream = ServingAlias{"v8", "silver.v8", "v7", at(-5), "13", {}};
  Decision d = decide(o, at(0));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->phase, Phase::kSuperseded);
  EXPECT_EQ(d.status->reason, "UpstreamMoved");
  EXPECT_EQ(d.status->source, SourceStatus{});
  EXPECT_FALSE(has<CreateTopics>(d));
  // The flip it was made for: it resolves as any version does.
  o.upstream = ServingAlias{"v7", "silver.v7", "v6", at(-5), "12", {}};
  d = decide(o, at(0));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->source, (SourceStatus{"silver", "v7", "silver.v7"}));
}

TEST(DecideCascade, NoCascadeWhenPinnedOrWithoutAFlip) {
  Observed o = servingDownstream();
  o.spec.cascade.mode = CascadeMode::kPinned;
  o.upstream = bronzeFlipped("v2", true);
  EXPECT_FALSE(has<CreateCascadedVersion>(decide(o, at(0))));
  o.spec.cascade.mode = CascadeMode::kFollow;
  o.upstream.reset();  // bronze's alias deleted: nothing to follow
  EXPECT_FALSE(has<CreateCascadedVersion>(decide(o, at(0))));
}

TEST(DecideCascade, ACandidateReadingAnUpstreamVersionThatNoLongerServesIsSuperseded) {
  Observed o = observedIn(Phase::kReplaying);
  o.spec.source.topic = "";
  o.spec.source.pipeline = "bronze";
  o.spec.cascade.mode = CascadeMode::kFollow;
  o.status.source = SourceStatus{"bronze", "v2", "bronze.v2"};
  o.upstream = bronzeFlipped("v2", true);
  EXPECT_FALSE(has<DeleteWorker>(decide(o, at(0))));
  // Bronze rolled back to v1: this candidate's output is built on a version that is gone.
  o.upstream = bronzeFlipped("v1", false, -5, "Rollback");
  Decision d = decide(o, at(0));
  ASSERT_TRUE(d.status.has_value());
  EXPECT_EQ(d.status->phase, Phase::kSuperseded);
  EXPECT_EQ(d.status->reason, "UpstreamMoved");
  EXPECT_EQ(d.status->message,
            "pipeline bronze now serves version v1; this version reads version v2");
  // Without Follow it goes on (a person chose what it reads).
  o.spec.cascade.mode = CascadeMode::kPinned;
  EXPECT_NE(decide(o, at(0)).status.value_or(Status{}).phase, Phase::kSuperseded);
}

TEST(DecideCascade, ASuccessorReadingAnotherUpstreamOutputIsComparedAtLatestValues) {
  Observed o = observedIn(Phase::kValidating);
  o.status.validation.startedAt.reset();
  o.spec.source.topic = "";
  o.spec.source.pipeline = "bronze";
  o.status.source = SourceStatus{"bronze", "v2", "bronze.v2"};
  o.upstream = bronzeFlipped("v2", true);
  o.others[0].sourcePipeline = "bronze";
  o.others[0].sourceVersion = "v1";  // the serving version reads bronze v1
  o.others[0].sourceTopic = "bronze.v1";
  auto run = actionsOf<RunValidation>(decide(o, at(0)));
  ASSERT_EQ(run.size(), 1u);
  EXPECT_FALSE(run[0].sameSource);  // offsets in bronze.v1 and bronze.v2 make no cut
  o.others[0].sourceVersion = "v2";
  o.others[0].sourceTopic = "bronze.v2";
  run = actionsOf<RunValidation>(decide(o, at(0)));
  ASSERT_EQ(run.size(), 1u);
  EXPECT_TRUE(run[0].sameSource);
}

}  // namespace
}  // namespace kappa::controllers
