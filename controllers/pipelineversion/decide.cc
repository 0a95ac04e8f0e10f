// The PipelineVersion state machine. One handler per phase; each pass runs exactly one.
//
//  (no finalizer yet: AddFinalizer and nothing else)
//
//  Pending --> Provisioning --> Replaying --> Validating --+-----------> Promoting -+--> Serving
//   names in    output topics,   replay        steady      | Auto and:     CAS flip  | flip
//   status      retention        profile +     profile,    | within policy of the    | observed
//               preflight        quota; lag,   compare     | or first      alias     |
//                                progress,     with the    | version       ^         +-> Superseded
//                                ETA           serving     | or Skip       |    alias names a
//                                              output      v               |    newer version
//                                                   AwaitingPromotion -----+
//                                   Manual, mismatch above policy or comparison timeout;
//                                   leaves on kappa.io/promote=true (or mode switched to Auto)
//
//  Any candidate phase (Pending .. AwaitingPromotion):
//    kappa.io/abort, crash-looping worker, replay timeout, truncated history,
//    topic creation refused ........................................... --> Failed
//    a newer live version of the same pipeline exists ................. --> Superseded
//
//  Serving ----------> Draining ------------------> Retired
//    ^  alias names      |   drainDelaySeconds        |  output topics deleted
//    |  another version  |   elapsed: worker and      |  retainOutputSeconds after the drain
//    |                   |   group deleted            |
//    +-------------------+----------------------------+
//      the alias names this version again (kappa.io/rollback on the version that replaced it)
//
//  deletionTimestamp set (any phase): delete worker, replay quota, group and output topics
//  (the output is kept while the alias names this version), then remove the finalizer. The
//  alias itself is never touched.
#include "controllers/pipelineversion/decide.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <functional>
#include <iomanip>
#include <sstream>

#include "runtime/kafka/key_sample.h"

namespace kappa::controllers {
namespace {

// The decision being built for one pass.
struct Pass {
  const Observed& o;
  TimePoint now;
  Status s;
  std::vector<Action> actions;
  std::optional<Seconds> requeue;

  const Spec& spec() const { return o.spec; }
  const std::string& version() const { return o.spec.version; }

  void requeueAfter(Seconds d) {
    d = std::max(d, Seconds{0});
    if (!requeue || d < *requeue) requeue = d;
  }
  void event(EventType type, std::string reason, std::string message) {
    actions.push_back(RecordEvent{type, std::move(reason), std::move(message)});
  }
  // KEP-1623: lastTransitionTime moves only when the status does.
  void condition(const std::string& type, ConditionStatus status, std::string reason,
                 std::string message) {
    auto it = std::find_if(s.conditions.begin(), s.conditions.end(),
                           [&](const Condition& c) { return c.type == type; });
    if (it == s.conditions.end()) {
      s.conditions.push_back(
          Condition{type, status, std::move(reason), std::move(message), now, o.meta.generation});
      return;
    }
    if (it->status != status) it->lastTransitionTime = now;
    it->status = status;
    it->reason = std::move(reason);
    it->message = std::move(message);
    it->observedGeneration = o.meta.generation;
  }
  // Who asked for a transition: a gate annotation, a deletion, or the policy of the spec.
  std::string actor(Phase to, const std::string& reason) const {
    if (reason == kAbortedReason) return std::string("annotation ") + kAbortAnnotation;
    if (to == Phase::kPromoting && annotationSet(o.meta, kPromoteAnnotation)) {
      return std::string("annotation ") + kPromoteAnnotation;
    }
    if (annotationSet(o.meta, kRollbackAnnotation)) {
      return std::string("annotation ") + kRollbackAnnotation;
    }
    if (o.meta.deletionTimestamp) return "deletion";
    return "policy";
  }
  void record(Phase to, const std::string& reason, const std::string& message) {
    HistoryEntry e;
    e.time = now;
    e.from = s.phase;
    e.to = to;
    e.reason = reason;
    e.actor = actor(to, reason);
    e.message = message;
    if (s.phase == Phase::kValidating || s.phase == Phase::kAwaitingPromotion) {
      e.comparedKeys = s.validation.comparedKeys;
      e.mismatchedKeys = s.validation.mismatchedKeys;
    }
    s.history.push_back(std::move(e));
    if (s.history.size() > kHistoryLimit) {
      s.history.erase(s.history.begin(), s.history.begin() + static_cast<std::ptrdiff_t>(
                                                                 s.history.size() - kHistoryLimit));
    }
  }
  void enter(Phase phase, std::string reason, std::string message) {
    if (phase != s.phase) record(phase, reason, message);
    // Stragglers describe a replay under way: none once it is over, however it ended.
    if (phase != Phase::kReplaying) s.replay.stragglers.clear();
    s.phase = phase;
    s.reason = std::move(reason);
    s.message = std::move(message);
  }
};

bool aliasNamesMe(const Pass& p) { return p.o.alias && p.o.alias->version == p.version(); }

const OtherVersion* findVersion(const Observed& o, const std::string& version) {
  for (const auto& other : o.others) {
    if (other.version == version) return &other;
  }
  return nullptr;
}

// Creation order decides which version is newer; the name breaks a tie of timestamps.
bool createdAfter(TimePoint at, const std::string& name, TimePoint otherAt,
                  const std::string& otherName) {
  return at != otherAt ? at > otherAt : name > otherName;
}

bool newerThanMe(const OtherVersion& other, const ObjectMeta& me) {
  return createdAfter(other.creationTimestamp, other.name, me.creationTimestamp, me.name);
}

// The newest live version created after this one: it supersedes this one while this one is
// still a candidate. Versions that failed or were superseded do not count, nor do versions
// that served and were replaced (Draining, Retired: a rollback brought an older one back).
const OtherVersion* supersededBy(const Observed& o) {
  const OtherVersion* newest = nullptr;
  for (const auto& other : o.others) {
    if (other.deleting || !newerThanMe(other, o.meta)) continue;
    switch (other.phase) {
      case Phase::kFailed:
      case Phase::kSuperseded:
      case Phase::kDraining:
      case Phase::kRetired:
        continue;
      default:
        break;
    }
    if (!newest || createdAfter(other.creationTimestamp, other.name, newest->creationTimestamp,
                                newest->name)) {
      newest = &other;
    }
  }
  return newest;
}

// Pending to Promoting: a version on its way to the alias.
bool isCandidate(Phase phase) {
  switch (phase) {
    case Phase::kPending:
    case Phase::kProvisioning:
    case Phase::kReplaying:
    case Phase::kValidating:
    case Phase::kAwaitingPromotion:
    case Phase::kPromoting:
      return true;
    default:
      return false;
  }
}

std::string seconds(Seconds d) { return std::to_string(d.count()) + "s"; }

std::string formatRatio(double r) {
  std::ostringstream os;
  os << r;
  return os.str();
}

// ----- effects shared by several phases ------------------------------------------------------

void ensureWorker(Pass& p, WorkerProfile profile) {
  const Spec& spec = p.spec();
  bool replay = profile == WorkerProfile::kReplay;
  int32_t replicas = replay ? spec.replay.replicas : spec.replicas;
  const WorkerFacts& w = p.o.worker;
  if (w.exists && w.profile == profile && w.replicas == replicas) return;
  p.actions.push_back(EnsureWorker{
      workerName(spec), profile, replicas, replay ? spec.replay.priorityClassName : std::string(),
      replay ? spec.replay.resources : spec.resources, p.s.consumerGroup,
      sourceTopic(spec, p.s.source), p.s.outputTopic, p.s.tapTopic, p.s.stateTopic});
}

void ensureReplayQuota(Pass& p) {
  const Spec& spec = p.spec();
  // Created, and applied again when spec.replay.quota changed (a raised quota lets pods that
  // it refused be created).
  if (spec.replay.quota.empty()) return;
  if (p.o.replayQuota == spec.replay.quota) return;
  p.actions.push_back(
      EnsureReplayQuota{replayQuotaName(spec), spec.replay.priorityClassName, spec.replay.quota});
}

// ----- ownership -----------------------------------------------------------------------------
// A version owns what it created: nothing before it left Pending (its consumer group is fixed
// then), then its group, its output and dead-letter topics, and the Deployment and replay
// quota named after it, as long as the Deployment's ownerReference is its uid (an adapter that
// does not say leaves it empty). Cleanup deletes only what it owns and no other version or
// the alias names.

bool provisioned(const Pass& p) { return !p.s.consumerGroup.empty(); }

bool ownsWorker(const Pass& p) {
  const WorkerFacts& w = p.o.worker;
  return provisioned(p) && (w.ownerUid.empty() || w.ownerUid == p.o.meta.uid);
}

// Who else uses `topic` (on this version's Kafka cluster): "PipelineVersion ns/name", "the
// serving alias ns/<pipeline>-serving (version v)", or nullopt.
std::optional<std::string> topicUser(const Observed& o, const std::string& topic) {
  for (const auto& c : o.claims) {
    if (c.topic == topic && c.bootstrapServers == o.spec.kafka.bootstrapServers) {
      return "PipelineVersion " + c.ns + "/" + c.name;
    }
  }
  const auto& alias = o.alias;
  if (alias && alias->topic == topic && alias->version != o.spec.version) {
    return "the serving alias " + aliasName(o.spec.pipeline) + " (version " + alias->version + ")";
  }
  return std::nullopt;
}

}  // namespace

std::optional<Refusal> ownershipRefusal(const Observed& o) {
  const Spec& spec = o.spec;
  for (const auto& other : o.others) {
    if (other.version == spec.version && !other.deleting && !newerThanMe(other, o.meta)) {
      return Refusal{std::string(kDuplicateVersionReason), "spec.version",
                     "PipelineVersion " + other.name + " is already version " + spec.version +
                         " of pipeline " + spec.pipeline + " (worker " + workerName(spec) +
                         "); give this one another spec.version"};
    }
  }
  std::string topic = outputTopicName(spec);
  if (auto user = topicUser(o, topic)) {
    return Refusal{std::string(kOutputTopicInUseReason), "spec.output.topic",
                   "output topic " + topic + " is used by " + *user +
                       "; name another one in spec.output.topic"};
  }
  const auto& records = o.kafka.existingOutputRecords;
  if (records && *records > 0 && !spec.output.adoptExisting) {
    return Refusal{std::string(kOutputTopicNotEmptyReason), "spec.output.topic",
                   "output topic " + topic + " already holds " + std::to_string(*records) +
                       " records and is not this version's; set spec.output.adoptExisting to "
                       "resume it, or name another topic"};
  }
  if (o.programKeepsState) {
    // An onClose program's open windows are in its changelog, not its output: an adopted
    // output would be resumed without them (and its closed windows written again), and a
    // changelog left by another version would hand this one that version's windows.
    if (spec.output.adoptExisting) {
      return Refusal{std::string(kOutputTopicNotEmptyReason), "spec.output.adoptExisting",
                     "an output written with window.emit onClose cannot be adopted: its open "
                     "windows are not in it; name a new output topic"};
    }
    const auto& state = o.kafka.existingStateRecords;
    if (state && *state > 0) {
      return Refusal{std::string(kOutputTopicNotEmptyReason), "spec.output.topic",
                     "state changelog " + stateTopicName(topic) + " already holds " +
                         std::to_string(*state) +
                         " records and is not this version's; name another output topic"};
    }
  }
  return std::nullopt;
}

std::optional<Refusal> programRefusal(const Observed& o) {
  if (!o.programError) return std::nullopt;
  const std::string& e = *o.programError;
  auto colon = e.find(": ");
  std::string path = colon == std::string::npos ? "" : e.substr(0, colon);
  std::string field =
      "spec.processor.builtin" + (path.empty() || path == "program" ? "" : "." + path);
  return Refusal{std::string(kInvalidProgramReason), field,
                 colon == std::string::npos ? e : e.substr(colon + 2)};
}

std::optional<Refusal> sourceRefusal(const Observed& o) {
  const std::string& me = o.spec.pipeline;
  const std::string& start = o.spec.source.pipeline;
  if (start.empty()) return std::nullopt;
  // Breadth first from the pipeline read, each pipeline reached remembering where from.
  std::map<std::string, std::string> from{{start, me}};
  std::deque<std::string> next{start};
  bool cycle = start == me;
  while (!cycle && !next.empty()) {
    std::string at = std::move(next.front());
    next.pop_front();
    auto reads = o.pipelineSources.find(at);
    if (reads == o.pipelineSources.end()) continue;
    for (const auto& read : reads->second) {
      if (from.contains(read)) continue;
      from[read] = at;
      if (read == me) cycle = true;
      next.push_back(read);
    }
  }
  if (!cycle) return std::nullopt;
  // me <- ... <- start <- me, walked back from me.
  std::vector<std::string> path{me};
  for (std::string at = from.at(me); start != me; at = from.at(at)) {
    path.push_back(at);
    if (at == start) break;
  }
  path.push_back(me);
  std::string text;
  for (auto it = path.rbegin(); it != path.rend(); ++it) {
    text += (text.empty() ? "" : " -> ") + *it;
  }
  return Refusal{std::string(kSourceCycleReason), "spec.source.pipeline",
                 "pipeline " + me + " would read its own output: " + text +
                     " (each reads the next); name a pipeline that does not read " + me};
}

namespace {

void deleteReplayQuota(Pass& p) {
  if (p.o.replayQuota && provisioned(p)) {
    p.actions.push_back(DeleteReplayQuota{replayQuotaName(p.spec())});
  }
}

void deleteWorker(Pass& p) {
  if (p.o.worker.exists && ownsWorker(p)) p.actions.push_back(DeleteWorker{workerName(p.spec())});
  deleteReplayQuota(p);
}

void deleteGroup(Pass& p) {
  if (p.o.kafka.consumerGroupExists && !p.s.consumerGroup.empty()) {
    p.actions.push_back(DeleteConsumerGroup{p.s.consumerGroup});
  }
}

void deleteOutput(Pass& p) {
  if (p.s.outputTopic.empty() || !provisioned(p)) return;
  // A topic another version uses (an object that took it before its owner's check existed)
  // stays, however this version ends.
  if (topicUser(p.o, p.s.outputTopic)) return;
  DeleteTopics del;
  if (p.o.kafka.outputTopicExists) del.topics.push_back(p.s.outputTopic);
  if (p.o.kafka.deadLetterTopicExists) del.topics.push_back(deadLetterTopicName(p.s.outputTopic));
  if (p.o.kafka.tapTopicExists) del.topics.push_back(p.s.tapTopic);
  if (p.o.kafka.stateTopicExists) del.topics.push_back(p.s.stateTopic);
  if (!del.topics.empty()) p.actions.push_back(std::move(del));
}

// Whether no process of the worker is left (Deployment and pods gone). A stopping worker
// still commits its last transaction: offsets and output records that would bring back a
// group or topic deleted before. Until then, look again shortly.
bool workerStopped(Pass& p) {
  if (!ownsWorker(p)) return true;  // another object's worker, or none ever made
  if (!p.o.worker.exists && p.o.worker.podsLeft == 0) return true;
  p.requeueAfter(kStepDelay);
  return false;
}

// Everything the version owns, except the output while readers may still use it. The group
// and topics go once the worker has stopped. False: something is left to wait for.
bool deleteAll(Pass& p) {
  deleteWorker(p);
  if (!workerStopped(p)) return false;
  deleteGroup(p);
  if (!aliasNamesMe(p)) deleteOutput(p);
  return true;
}

// A failed version keeps its consumer group and output for a post-mortem (deleting the
// PipelineVersion removes them); an aborted one is dropped by its user, so it keeps nothing.
void fail(Pass& p, const std::string& reason, const std::string& message) {
  p.enter(Phase::kFailed, reason, message);
  p.event(EventType::kWarning, reason, message);
  if (reason == kAbortedReason) {
    deleteAll(p);
  } else {
    deleteWorker(p);
  }
}

void supersede(Pass& p, const std::string& reason, const std::string& message) {
  p.enter(Phase::kSuperseded, reason, message);
  p.event(EventType::kNormal, "Superseded", message);
  deleteAll(p);
}

// Gates of every candidate phase (before the alias flip). True: the pass is decided.
bool candidateGates(Pass& p, bool checkWorker) {
  if (annotationSet(p.o.meta, kAbortAnnotation)) {
    fail(p, kAbortedReason, "aborted by annotation " + std::string(kAbortAnnotation));
    return true;
  }
  if (const OtherVersion* newer = supersededBy(p.o)) {
    supersede(p, "NewerVersion",
              "superseded by version " + newer->version + " (" + newer->name + ")");
    return true;
  }
  // A candidate that follows its upstream pipeline (spec.cascade.mode Follow) and reads a
  // version that no longer serves there (a rollback upstream, or a flip the cascade has not
  // answered yet) would promote an output built on one that is gone.
  const auto& up = p.o.upstream;
  if (p.spec().cascade.mode == CascadeMode::kFollow && !p.s.source.version.empty() && up &&
      !up->version.empty() && up->version != p.s.source.version) {
    supersede(p, "UpstreamMoved",
              "pipeline " + p.s.source.pipeline + " now serves version " + up->version +
                  "; this version reads version " + p.s.source.version);
    return true;
  }
  if (checkWorker && p.o.worker.exists && p.o.worker.crashLooping) {
    fail(p, "WorkerCrashLooping", "worker " + workerName(p.spec()) + " is crash-looping");
    return true;
  }
  return false;
}

// "containerd://0123456789abcdef..." -> "0123456789ab", as kubectl shows container ids.
std::string shortContainerId(const std::string& id) {
  auto sep = id.find("://");
  std::string bare = sep == std::string::npos ? id : id.substr(sep + 3);
  return bare.substr(0, 12);
}

// A container of the worker exited and the kubelet restarted it in its pod: said once per
// exit (status.workerExits holds the last one reported of each pod), whether or not a pass
// saw the pod not ready in between (a restart within a second may never show in its status).
// An exit already old when first seen (an operator that did not record exits before, or was
// down) is recorded without an Event: the Event is news, and a restart is seen within
// seconds of it.
void reportRestarts(Pass& p, const std::string& worker) {
  std::vector<WorkerExit> seen;  // pods gone are dropped
  for (const WorkerExit& e : p.o.worker.exits) {
    auto known = std::find_if(p.s.workerExits.begin(), p.s.workerExits.end(),
                              [&](const WorkerExit& r) { return r.pod == e.pod; });
    seen.push_back(e);
    if (known != p.s.workerExits.end() && known->containerId == e.containerId) {
      seen.back() = *known;
      continue;
    }
    if (p.now - e.finishedAt > kExitNewsWindow) continue;
    std::string how = e.reason.empty() ? "" : e.reason + ", ";
    p.event(EventType::kWarning, "WorkerRestarted",
            worker + ": container " + shortContainerId(e.containerId) + " of pod " + e.pod +
                " exited (" + how + "exit code " + std::to_string(e.exitCode) +
                ") and was restarted");
  }
  if (seen != p.s.workerExits) p.s.workerExits = std::move(seen);
}

// WorkerAvailable from what the cluster says about the worker's pods. A problem fixed outside
// the operator (a quota, a node, an image) does not fail the version: the condition says it
// at the next pass, a Warning Event once per new reason, and it clears itself once the pods
// run (maxDurationSeconds still bounds a replay that never starts).
void applyWorkerHealth(Pass& p) {
  const WorkerFacts& w = p.o.worker;
  if (!w.exists) return;
  std::string worker = "worker " + workerName(p.spec());
  reportRestarts(p, worker);
  const Condition* before = findCondition(p.s, kWorkerAvailable);
  // Candidates fail on a crash loop (candidateGates); a serving version keeps serving what it
  // wrote and says so.
  std::optional<WorkerProblem> problem = w.problem;
  if (!problem && w.crashLooping) {
    problem = WorkerProblem{"CrashLooping", "a container is in CrashLoopBackOff"};
  }
  if (problem) {
    if (!before || before->status != ConditionStatus::kFalse || before->reason != problem->reason) {
      p.event(EventType::kWarning, problem->reason, worker + ": " + problem->message);
    }
    p.condition(kWorkerAvailable, ConditionStatus::kFalse, problem->reason, problem->message);
    return;
  }
  // Not ready because they start, or are being replaced by a rollout (the operator's change of
  // profile, from replay to steady): no problem to warn of, nor a recovery to announce. (A
  // change of replicas alone is no rollout: the Deployment's controller counts it complete
  // once it has seen it, so new pods of a scale-up still warn until they are ready.)
  auto startingOrUpdating = [&] {
    return before && before->status == ConditionStatus::kFalse &&
           (before->reason == "Starting" || before->reason == "Updating");
  };
  // No pod counts in the messages: status changes at transitions only.
  if (w.replicas > 0 && w.readyReplicas >= w.replicas) {
    if (before && before->status == ConditionStatus::kFalse && !startingOrUpdating()) {
      p.event(EventType::kNormal, "WorkerAvailable", worker + ": its pods run again");
    }
    p.condition(kWorkerAvailable, ConditionStatus::kTrue, "PodsReady", "every pod is ready");
  } else {
    // A reported problem stays until the pods run.
    if (before && before->status == ConditionStatus::kFalse && !startingOrUpdating()) return;
    if (w.updating && before &&
        (before->status == ConditionStatus::kTrue || before->reason == "Updating")) {
      p.condition(kWorkerAvailable, ConditionStatus::kFalse, "Updating",
                  "the worker's pods are being replaced");
      return;
    }
    if (before && (before->status == ConditionStatus::kTrue || before->reason == "Updating")) {
      // It ran, and now a pod does not: killed, evicted, failing its probe (or a new one
      // after a change of replicas).
      p.event(EventType::kWarning, "WorkerUnavailable", worker + ": a pod is not ready");
      p.condition(kWorkerAvailable, ConditionStatus::kFalse, "PodsNotReady",
                  "a pod of the worker is not ready");
      return;
    }
    p.condition(kWorkerAvailable, ConditionStatus::kFalse, "Starting",
                "waiting for pods to be ready");
  }
}

// RetentionSafe from the preflight report. Events only when the condition changes, so a
// repeated verdict does not repeat the event. True: the version failed.
bool applyRetention(Pass& p, const kafka::RetentionReport& report) {
  const Condition* before = findCondition(p.s, kRetentionSafe);
  auto changed = [&](ConditionStatus st, const std::string& reason) {
    return !before || before->status != st || before->reason != reason;
  };
  switch (report.verdict) {
    case kafka::RetentionVerdict::kSafe:
      p.condition(kRetentionSafe, ConditionStatus::kTrue, "Safe", report.reason);
      return false;
    case kafka::RetentionVerdict::kAtRisk:
      if (changed(ConditionStatus::kFalse, "AtRisk")) {
        p.event(EventType::kWarning, "RetentionAtRisk", report.reason);
      }
      p.condition(kRetentionSafe, ConditionStatus::kFalse, "AtRisk", report.reason);
      return false;
    case kafka::RetentionVerdict::kTruncated:
      if (p.spec().source.allowTruncatedHistory) {
        if (changed(ConditionStatus::kFalse, "TruncatedAllowed")) {
          p.event(EventType::kWarning, "HistoryTruncated",
                  report.reason + "; replaying what is left (source.allowTruncatedHistory)");
        }
        p.condition(kRetentionSafe, ConditionStatus::kFalse, "TruncatedAllowed", report.reason);
        return false;
      }
      p.condition(kRetentionSafe, ConditionStatus::kFalse, "HistoryTruncated", report.reason);
      fail(p, "HistoryTruncated",
           report.reason + " (set source.allowTruncatedHistory to replay what is left)");
      return true;
  }
  return false;
}

// status.dryRun from the dry run of the program over sampled history (made once, in
// Provisioning): a Warning Event when it would dead-letter anything, and the version fails
// before replaying when the ratio is above spec.replay.maxDeadLetterRatio. True: it failed.
bool applyDryRun(Pass& p, const worker::DryRunReport& report) {
  p.s.dryRun = report;
  std::string message = "dry run on " + sourceTopic(p.spec(), p.s.source) +
                        ": the program would dead-letter " + worker::dryRunSummary(report);
  if (!report.reasons.empty() && !report.reasons.front().examples.empty()) {
    const worker::DryRunExample& e = report.reasons.front().examples.front();
    message += "; e.g. partition " + std::to_string(e.partition) + " offset " +
               std::to_string(e.offset) + ": " + e.value;
  }
  const std::optional<double>& limit = p.spec().replay.maxDeadLetterRatio;
  if (limit && report.ratio > *limit) {
    std::ostringstream os;
    os << message << ", above spec.replay.maxDeadLetterRatio " << *limit;
    fail(p, "DeadLetterRatioExceeded", os.str());
    return true;
  }
  if (report.deadLettered > 0) p.event(EventType::kWarning, "DryRunDeadLetters", message);
  return false;
}

// Creates whichever output topic is missing. False: cannot yet (the source is missing).
bool createTopics(Pass& p) {
  const Spec& spec = p.spec();
  int32_t partitions = spec.output.partitions;
  if (partitions == 0) {
    if (!p.o.kafka.sourcePartitions) {
      p.condition(kProvisioned, ConditionStatus::kFalse, "SourceTopicMissing",
                  "source topic " + sourceTopic(spec, p.s.source) + " does not exist");
      return false;
    }
    partitions = *p.o.kafka.sourcePartitions;
  }
  CreateTopics create;
  if (!p.o.kafka.outputTopicExists) {
    create.topics.push_back(TopicToCreate{p.s.outputTopic, partitions,
                                          spec.output.replicationFactor, spec.output.config});
  }
  if (!p.o.kafka.deadLetterTopicExists) {
    // The dead letters keep the default config: a compacted DLQ would drop repeats of a key.
    create.topics.push_back(TopicToCreate{
        deadLetterTopicName(p.s.outputTopic), partitions, spec.output.replicationFactor, {}});
  }
  if (!p.s.tapTopic.empty() && !p.o.kafka.tapTopicExists) {
    // Partition-aligned, and compacted whatever the output keeps.
    create.topics.push_back(TopicToCreate{p.s.tapTopic, partitions, spec.output.replicationFactor,
                                          kafka::tapTopicConfig(spec.output.config)});
  }
  if (!p.s.stateTopic.empty() && !p.o.kafka.stateTopicExists) {
    // Partition-aligned; compacted: a restore reads each open window's latest value.
    create.topics.push_back(TopicToCreate{p.s.stateTopic, partitions, spec.output.replicationFactor,
                                          kafka::changelogTopicConfig(spec.output.config)});
  }
  if (!create.topics.empty()) p.actions.push_back(std::move(create));
  p.condition(kProvisioned, ConditionStatus::kUnknown, "CreatingTopics",
              "creating " + p.s.outputTopic + " and its dead-letter topic");
  return true;
}

// After a successful validation (or none needed): Auto promotes, Manual waits for the gate.
void afterValidation(Pass& p) {
  if (p.spec().promotion.mode == PromotionMode::kAuto) {
    p.enter(Phase::kPromoting, "", "promoting");
    p.requeueAfter(kStepDelay);
  } else {
    p.enter(Phase::kAwaitingPromotion, "ManualPromotion",
            "validated; waiting for annotation " + std::string(kPromoteAnnotation));
    p.requeueAfter(kResyncInterval);
  }
}

// The alias names this version again (a rollback from the version that replaced it).
void resumeServing(Pass& p) {
  const ServingAlias& alias = *p.o.alias;
  p.enter(Phase::kServing, "RolledBack", "serving again after a rollback");
  p.s.servingSince = alias.promotedAt.value_or(p.now);
  p.s.previousVersion = alias.previousVersion;
  p.s.drainingSince.reset();
  p.s.drainedAt.reset();
  p.condition(kServingCondition, ConditionStatus::kTrue, "RolledBack",
              "alias " + aliasName(p.spec().pipeline) + " names this version again");
  p.condition(kDrained, ConditionStatus::kFalse, "RolledBack", "serving again");
  // No shadow after a rollback: the version rolled back from drains as usual, and is never
  // compared (nor rolled back to) again.
  if (p.spec().promotion.shadowSeconds > 0 && !p.s.shadow.completedAt) {
    if (!p.s.shadow.startedAt) p.s.shadow.startedAt = p.now;
    p.s.shadow.servingVersion = alias.previousVersion;
    p.s.shadow.completedAt = p.now;
    p.s.shadow.recordsRead = 0;
    p.s.shadow.recordsToRead = 0;
    p.condition(kShadowMatched, ConditionStatus::kUnknown, "RolledBack",
                "no shadow after a rollback; version " + alias.previousVersion + " drains");
  }
  p.event(EventType::kNormal, "RolledBack",
          "serving again; alias " + aliasName(p.spec().pipeline) + " names version " + p.version());
  ensureWorker(p, WorkerProfile::kSteady);
  p.requeueAfter(kResyncInterval);
}

void removeRollbackGate(Pass& p) {
  if (p.o.meta.annotations.count(kRollbackAnnotation)) {
    p.actions.push_back(RemoveAnnotation{kRollbackAnnotation});
  }
}

// ----- one handler per phase ----------------------------------------------------------------

// spec.source.pipeline: the output of the version that pipeline's alias names, fixed in
// status.source once. False while it cannot be (nothing serves there yet; a cycle fails the
// version).
bool resolveSource(Pass& p) {
  const std::string& upstream = p.spec().source.pipeline;
  if (upstream.empty() || !p.s.source.topic.empty()) return true;
  if (auto refusal = sourceRefusal(p.o)) {
    p.condition(kProvisioned, ConditionStatus::kFalse, refusal->reason, refusal->message);
    fail(p, refusal->reason, refusal->message);
    return false;
  }
  const auto& alias = p.o.upstream;
  if (!alias || alias->topic.empty()) {
    std::string why = "waiting for pipeline " + upstream + " to serve a version (its alias " +
                      aliasName(upstream) + " " + (alias ? "names no topic" : "does not exist") +
                      ")";
    if (p.s.message != why) p.event(EventType::kNormal, "WaitingForSource", why);
    p.s.message = why;
    p.condition(kProvisioned, ConditionStatus::kUnknown, "WaitingForSource", why);
    p.requeueAfter(kResyncInterval);  // the alias appearing queues this version at once
    return false;
  }
  const std::string& madeFor = p.o.meta.cascadeUpstreamVersion;
  if (!madeFor.empty() && madeFor != alias->version) {
    // Made by a cascade for a flip that another flip has replaced: its name, labels and
    // comparison policy are that flip's. The serving version makes the next one.
    supersede(p, "UpstreamMoved",
              "made for version " + madeFor + " of pipeline " + upstream + ", which now serves " +
                  alias->version);
    return false;
  }
  p.s.source = SourceStatus{upstream, alias->version, alias->topic};
  p.event(EventType::kNormal, "SourceResolved",
          "reading " + alias->topic + ", the output of " + upstream + " version " + alias->version);
  return true;
}

// The versions of other pipelines reading this one's output, for a message: "gold/gold-v1
// (Serving), ...".
std::string readersText(const std::vector<Reader>& readers) {
  std::string text;
  for (const auto& r : readers) {
    text +=
        (text.empty() ? "" : ", ") + r.pipeline + "/" + r.name + " (" + phaseName(r.phase) + ")";
  }
  return text;
}

void onPending(Pass& p) {
  if (candidateGates(p, false)) return;
  if (auto refusal = ownershipRefusal(p.o)) {
    p.condition(kProvisioned, ConditionStatus::kFalse, refusal->reason, refusal->message);
    fail(p, refusal->reason, refusal->message);
    return;
  }
  if (auto refusal = programRefusal(p.o)) {
    std::string message = refusal->field + ": " + refusal->message;
    p.condition(kProvisioned, ConditionStatus::kFalse, refusal->reason, message);
    fail(p, refusal->reason, message);
    return;
  }
  if (!resolveSource(p)) return;
  // Fixed once, before anything uses them: the group is never reused by another object.
  if (p.s.consumerGroup.empty()) p.s.consumerGroup = consumerGroupName(p.spec(), p.o.meta.uid);
  if (p.s.outputTopic.empty()) p.s.outputTopic = outputTopicName(p.spec());
  // An adopted output holds records its tap would lack: such a tap would not be complete.
  if (p.s.tapTopic.empty() && p.spec().validation.tapRate > 0 && !p.spec().output.adoptExisting) {
    p.s.tapTopic = tapTopicName(p.s.outputTopic);
  }
  if (p.s.stateTopic.empty() && p.o.programKeepsState) {
    p.s.stateTopic = stateTopicName(p.s.outputTopic);
  }
  p.enter(Phase::kProvisioning, "", "creating output topics, checking source retention");
  createTopics(p);
  p.requeueAfter(kPollInterval);
}

void onProvisioning(Pass& p) {
  if (candidateGates(p, false)) return;
  const KafkaFacts& k = p.o.kafka;
  if (k.topicCreateError) {
    p.condition(kProvisioned, ConditionStatus::kFalse, "TopicCreationRefused", *k.topicCreateError);
    fail(p, "TopicCreationRefused", "creating the output topics: " + *k.topicCreateError);
    return;
  }
  if (!k.outputTopicExists || !k.deadLetterTopicExists ||
      (!p.s.tapTopic.empty() && !k.tapTopicExists) ||
      (!p.s.stateTopic.empty() && !k.stateTopicExists)) {
    createTopics(p);
    p.requeueAfter(kPollInterval);
    return;
  }
  if (!k.retention) {  // the driver runs the preflight once the topics exist
    p.requeueAfter(kPollInterval);
    return;
  }
  if (applyRetention(p, *k.retention)) return;
  if (k.dryRun && applyDryRun(p, *k.dryRun)) return;
  p.condition(kProvisioned, ConditionStatus::kTrue, "TopicsCreated",
              "output " + p.s.outputTopic + ", group " + p.s.consumerGroup);
  p.condition(kCaughtUp, ConditionStatus::kFalse, "Replaying", "replay started");
  std::string source = sourceTopic(p.spec(), p.s.source);
  p.enter(Phase::kReplaying, "", "replaying " + source + " from the earliest offset");
  p.s.replay.startedAt = p.now;
  p.event(EventType::kNormal, "ReplayStarted",
          "replaying " + source + " into " + p.s.outputTopic + " with group " + p.s.consumerGroup);
  ensureReplayQuota(p);
  ensureWorker(p, WorkerProfile::kReplay);
  p.requeueAfter(kLagSampleInterval);
}

// Between two lag samples of a Replaying version.
kafka::CatchUpBound catchUpBound(const CatchUpSpec& c) {
  return kafka::CatchUpBound{Seconds{c.maxLagSeconds}, c.maxLagMessages, Seconds{c.stableSeconds}};
}

// "3.4s", or "about 3.4s" for an estimate.
std::string lagSecondsText(double seconds, bool estimated) {
  std::ostringstream os;
  os << (estimated ? "about " : "") << std::fixed << std::setprecision(1) << seconds << "s";
  return os.str();
}

// "lag 1200 messages, 3.4s (bound 5s)", what the CaughtUp condition says.
std::string lagText(const kafka::LagSnapshot& snap, const CatchUpSpec& c) {
  std::ostringstream os;
  os << "lag " << snap.totalLag << " messages, "
     << lagSecondsText(snap.lagSeconds, !snap.lagSecondsObserved) << " (bound " << c.maxLagSeconds
     << "s";
  if (c.maxLagMessages) os << " and " << *c.maxLagMessages << " messages";
  os << ")";
  return os.str();
}

// The pod that holds a partition: the group member's address among the worker's pods, else
// the pod name kappa-worker puts in its client id ("kappa-worker/<pod>"), else "".
std::string holderPod(const Pass& p, int32_t partition) {
  auto m = p.o.kafka.stragglerHolders.find(partition);
  if (m == p.o.kafka.stragglerHolders.end()) return "";
  if (auto pod = p.o.worker.podsByIp.find(m->second.host); pod != p.o.worker.podsByIp.end())
    return pod->second;
  constexpr std::string_view kWorkerClient = "kappa-worker/";
  const std::string& id = m->second.clientId;
  return id.starts_with(kWorkerClient) ? id.substr(kWorkerClient.size()) : "";
}

// Rates as status keeps them: a tenth of a record a second is all anyone needs.
double tenths(double v) { return std::round(v * 10) / 10; }

// status.replay.stragglers from this sample's verdict: a partition keeps the time it was
// first reported while it stays a straggler; a new one gets a Warning Event. Without a
// verdict (the window has not passed since the operator started, or since the window was
// changed) the list stays as it was; with detection off it is emptied.
void applyStragglers(Pass& p) {
  if (p.spec().replay.stragglerWindowSeconds <= 0) {
    p.s.replay.stragglers.clear();
    return;
  }
  if (!p.o.kafka.stragglers) return;
  // The slowest kMaxStragglers, listed by partition.
  std::vector<kafka::Straggler> verdict = *p.o.kafka.stragglers;
  if (verdict.size() > kMaxStragglers) {
    std::stable_sort(verdict.begin(), verdict.end(),
                     [](const kafka::Straggler& a, const kafka::Straggler& b) {
                       return a.messagesPerSecond < b.messagesPerSecond;
                     });
    verdict.resize(kMaxStragglers);
    std::sort(verdict.begin(), verdict.end(),
              [](const kafka::Straggler& a, const kafka::Straggler& b) {
                return a.partition < b.partition;
              });
  }
  std::vector<StragglerStatus> next;
  for (const kafka::Straggler& g : verdict) {
    StragglerStatus s{.partition = g.partition,
                      .lag = g.lag,
                      .messagesPerSecond = tenths(g.messagesPerSecond),
                      .peerMessagesPerSecond = tenths(g.peerMessagesPerSecond),
                      .since = p.now,
                      .pod = holderPod(p, g.partition)};
    auto was = std::find_if(p.s.replay.stragglers.begin(), p.s.replay.stragglers.end(),
                            [&](const StragglerStatus& o) { return o.partition == g.partition; });
    if (was != p.s.replay.stragglers.end()) {
      s.since = was->since;
      if (s.pod.empty()) s.pod = was->pod;
    } else {
      std::ostringstream os;
      os << "partition " << g.partition << " of " << sourceTopic(p.spec(), p.s.source) << " read "
         << s.messagesPerSecond << " records/s over the last "
         << seconds(Seconds{p.spec().replay.stragglerWindowSeconds})
         << ", the other partitions still behind " << s.peerMessagesPerSecond << " (median); "
         << g.lag << " records to go";
      if (!s.pod.empty()) os << "; held by pod " << s.pod;
      p.event(EventType::kWarning, "ReplayStraggler", os.str());
    }
    next.push_back(std::move(s));
  }
  p.s.replay.stragglers = std::move(next);
}

void onReplaying(Pass& p) {
  if (candidateGates(p, true)) return;
  applyWorkerHealth(p);
  const Spec& spec = p.spec();
  const KafkaFacts& k = p.o.kafka;
  if (k.retention && applyRetention(p, *k.retention)) return;
  if (!p.s.replay.startedAt) p.s.replay.startedAt = p.now;

  bool caughtUp = false;
  if (k.lag && k.lag->sampledAt != p.s.lag.sampledAt) {
    const kafka::LagSnapshot& snap = *k.lag;
    std::optional<kafka::LagSnapshot> previous;
    std::optional<double> previousRate;
    if (p.s.lag.sampledAt) {
      kafka::LagSnapshot prev;
      prev.totalLag = p.s.lag.messages;
      prev.consumed = p.s.lag.consumed;
      prev.sampledAt = *p.s.lag.sampledAt;
      previous = prev;
      if (p.s.replay.messagesPerSecond > 0) previousRate = p.s.replay.messagesPerSecond;
    }
    kafka::ReplayProgress progress = kafka::estimateProgress(previous, snap, previousRate);
    kafka::CatchUpState catchUp =
        kafka::evaluateCatchUp(p.s.replay.lagWithinSince, snap, catchUpBound(spec.catchUp));
    // Tenths of a second are all a person or the bound needs, and they keep status stable.
    double lagSeconds = std::ceil(snap.lagSeconds * 10) / 10;
    p.s.lag = LagStatus{snap.totalLag, snap.laggingPartitions,  snap.consumed, snap.sampledAt,
                        lagSeconds,    !snap.lagSecondsObserved};
    // Two decimals, rounded down: what kubectl shows, and 100 only once it is.
    p.s.replay.progressPercent = std::floor(progress.percent * 100) / 100;
    p.s.replay.messagesPerSecond = progress.messagesPerSecond;
    p.s.replay.etaSeconds = progress.etaSeconds;
    p.s.replay.lagWithinSince = catchUp.withinSince;
    caughtUp = catchUp.caughtUp;
    applyStragglers(p);
    std::string lag = lagText(snap, spec.catchUp);
    if (!caughtUp) {
      if (catchUp.withinBound) {
        p.condition(kCaughtUp, ConditionStatus::kFalse, "Stabilizing",
                    lag + ", within the bound since " + formatTime(catchUp.withinSince));
        Seconds left = std::chrono::duration_cast<Seconds>(
            *catchUp.withinSince + Seconds{spec.catchUp.stableSeconds} - snap.sampledAt);
        p.requeueAfter(std::max(left, kStabilizingSampleInterval));  // the one that can end it
      } else {
        p.condition(kCaughtUp, ConditionStatus::kFalse, "Replaying", lag);
      }
    } else {
      p.condition(kCaughtUp, ConditionStatus::kTrue, "LagWithinBound",
                  lag + ", within the bound for " + seconds(Seconds{spec.catchUp.stableSeconds}));
    }
  }

  if (caughtUp) {
    p.s.replay.caughtUpAt = p.now;
    p.enter(Phase::kValidating, "", "caught up; validating");
    p.condition(kValidated, ConditionStatus::kUnknown, "Pending", "validation starts");
    p.event(EventType::kNormal, "CaughtUp",
            "caught up with " + sourceTopic(spec, p.s.source) +
                "; moving the worker to the steady profile");
    ensureWorker(p, WorkerProfile::kSteady);
    deleteReplayQuota(p);
    p.requeueAfter(kStepDelay);
    return;
  }
  Seconds maxDuration{spec.replay.maxDurationSeconds};
  if (p.now - *p.s.replay.startedAt >= maxDuration) {
    std::string message = "not caught up after " + seconds(maxDuration) + " (lag " +
                          std::to_string(p.s.lag.messages) + " messages, " +
                          lagSecondsText(p.s.lag.seconds, p.s.lag.secondsEstimated) + ")";
    p.condition(kCaughtUp, ConditionStatus::kFalse, "ReplayTimeout", message);
    fail(p, "ReplayTimeout", message);
    return;
  }
  ensureReplayQuota(p);
  ensureWorker(p, WorkerProfile::kReplay);
  p.requeueAfter(lagSampleInterval(spec.catchUp, p.s));
}

// A comparison of this version's output with `servingTopic`, the output of version
// `servingVersion` (`serving`, if known), under this version's policy. It reads both
// versions' taps when they sample the same keys: both have one, at the same rate, and the
// topic compared with is that version's output.
RunValidation comparisonRequest(const Pass& p, TimePoint requestedAt,
                                const std::string& servingVersion, const std::string& servingTopic,
                                const OtherVersion* serving) {
  const ValidationSpec& spec = p.spec().validation;
  bool tapped = !p.s.tapTopic.empty() && serving && !serving->tapTopic.empty() &&
                serving->outputTopic == servingTopic && serving->tapRate == spec.tapRate;
  return RunValidation{.requestedAt = requestedAt,
                       .servingVersion = servingVersion,
                       .servingTopic = servingTopic,
                       .candidateTopic = p.s.outputTopic,
                       .servingTap = tapped ? serving->tapTopic : "",
                       .candidateTap = tapped ? p.s.tapTopic : "",
                       .sampleKeys = spec.sampleKeys,
                       .compareFields = spec.compareFields,
                       .ignoreFields = spec.ignoreFields,
                       .numericTolerance = spec.numericTolerance,
                       .sameSource = !serving || serving->sourceTopic.empty() ||
                                     serving->sourceTopic == sourceTopic(p.spec(), p.s.source)};
}

// The start of the current comparison round, which identifies its run: the validation's
// start when there is one round.
TimePoint roundStart(const ValidationStatus& v) { return v.roundStartedAt.value_or(*v.startedAt); }

// Rounds of the parallel run: one at the start, then one per interval to the window's end.
int64_t plannedRounds(const ValidationSpec& spec) {
  if (spec.windowSeconds <= 0 || spec.roundIntervalSeconds <= 0) return 1;
  return spec.windowSeconds / spec.roundIntervalSeconds + 1;
}

// "round 2 of 7: " while a parallel run is under way; "" with one comparison.
std::string roundLabel(const ValidationStatus& v) {
  if (v.roundsPlanned <= 1) return "";
  return "round " + std::to_string(v.roundsPassed + 1) + " of " + std::to_string(v.roundsPlanned) +
         ": ";
}

// The comparison with the version the alias names, on the topic it names.
RunValidation validationRequest(const Pass& p) {
  const ServingAlias& alias = *p.o.alias;
  return comparisonRequest(p, roundStart(p.s.validation), alias.version, alias.topic,
                           findVersion(p.o, alias.version));
}

// Whether a comparison passes: maxMismatchRatio 0 blocks any confirmed mismatch, whatever the
// rounding of the ratio.
bool withinPolicy(const ValidationSpec& spec, const ValidationResult& r) {
  return r.mismatchedKeys == 0 ||
         (spec.maxMismatchRatio > 0 && r.mismatchRatio <= spec.maxMismatchRatio);
}

// While a comparison reads: how far it is, in status, in steps of a tenth (each status write
// queues the object again, so a finer figure would keep it busy for the whole read).
void recordProgress(ValidationStatus& v, const ValidationRun& run) {
  if (run.recordsToRead <= 0) return;
  int64_t step = std::max<int64_t>(1, run.recordsToRead / 10);
  v.recordsRead = std::min(run.recordsRead, run.recordsToRead) / step * step;
  v.recordsToRead = run.recordsToRead;
}

// A round's comparison is due but none is known for it: a round first seen late (the
// operator was down, or busy) starts now, so its timeout counts from its request. (The one
// comparison without rounds keeps its start: its timeout counts from the first request.)
TimePoint startRoundIfLate(std::optional<TimePoint>& roundStartedAt, TimePoint round, bool known,
                           TimePoint now) {
  if (!roundStartedAt || known || now - round <= kPollInterval) return round;
  roundStartedAt = now;
  return now;
}

// Puts a finished comparison's figures in status.validation.
void recordComparison(ValidationStatus& v, const ValidationResult& r) {
  v.recordsRead = 0;
  v.recordsToRead = 0;
  v.sampledKeys = r.sampledKeys;
  v.comparedKeys = r.comparedKeys;
  v.mismatchedKeys = r.mismatchedKeys;
  v.notComparableKeys = r.notComparableKeys;
  v.mismatchRatio = r.mismatchRatio;
  v.source = r.source;
  v.examples.assign(r.examples.begin(),
                    r.examples.begin() + std::min(r.examples.size(), kMaxMismatchExamples));
}

std::string comparisonNumbers(const ValidationStatus& v, double maxRatio) {
  return std::to_string(v.mismatchedKeys) + " of " + std::to_string(v.comparedKeys) +
         " compared keys differ from version " + v.servingVersion + " (ratio " +
         formatRatio(v.mismatchRatio) + ", max " + formatRatio(maxRatio) + ")";
}

// A round of the parallel run passed and more are planned: the next one starts an interval
// after this one was due (at once if that is past), on a schedule fixed from the start.
void roundPassed(Pass& p, const ValidationResult& r) {
  ValidationStatus& v = p.s.validation;
  std::string label = roundLabel(v);
  recordComparison(v, r);
  ++v.roundsPassed;
  Seconds interval{p.spec().validation.roundIntervalSeconds};
  v.roundStartedAt = std::max(*v.startedAt + interval * v.roundsPassed, p.now);
  std::string message = label + "passed, " +
                        comparisonNumbers(v, p.spec().validation.maxMismatchRatio) +
                        "; the next round starts in " +
                        seconds(std::chrono::ceil<Seconds>(*v.roundStartedAt - p.now));
  p.condition(kValidated, ConditionStatus::kUnknown, "RoundPassed", message);
  p.event(EventType::kNormal, "ValidationRoundPassed", message);
  p.requeueAfter(std::max(std::chrono::ceil<Seconds>(*v.roundStartedAt - p.now), kStepDelay));
}

void validationOutcome(Pass& p, const ValidationResult& r) {
  ValidationStatus& v = p.s.validation;
  std::string label = roundLabel(v);
  recordComparison(v, r);
  v.completedAt = p.now;
  double maxRatio = p.spec().validation.maxMismatchRatio;
  bool within = withinPolicy(p.spec().validation, r);
  if (within && v.roundsPlanned > 1) {
    v.roundsPassed = v.roundsPlanned;
    label = "all " + std::to_string(v.roundsPlanned) + " rounds passed, the last: ";
  }
  std::string numbers = label + comparisonNumbers(v, maxRatio);
  if (within) {
    p.condition(kValidated, ConditionStatus::kTrue,
                r.mismatchedKeys == 0 ? "Matched" : "WithinTolerance", numbers);
    p.event(EventType::kNormal, "Validated", numbers);
    afterValidation(p);
    return;
  }
  std::string example;
  if (!v.examples.empty()) {
    const MismatchExample& e = v.examples.front();
    example = "; e.g. key " + e.key + (e.diff.empty() ? "" : " (" + e.diff + ")");
  }
  p.condition(kValidated, ConditionStatus::kFalse, "Mismatched", numbers);
  p.event(EventType::kWarning, "ValidationMismatch", numbers + example);
  p.enter(Phase::kAwaitingPromotion, "ValidationMismatch",
          numbers + "; promote with annotation " + kPromoteAnnotation + " or abort");
  p.requeueAfter(kResyncInterval);
}

// A comparison where most sampled keys moved past the cut (a live source updating them, or
// compaction) says too little: it runs again at a later cut.
bool inconclusive(const ValidationResult& r) { return r.notComparableKeys > r.comparedKeys; }

// Where the current comparison round stands after this pass.
struct RoundStep {
  enum Kind { kWaiting, kResult, kTimedOut } kind = kWaiting;
  const ValidationResult* result = nullptr;  // kResult: conclusive, not yet in status
  std::string timeoutMessage;                // kTimedOut
};

// One pass of a comparison round, for the validation before the flip (status.validation,
// condition Validated) and the shadow after it (status.shadow, condition ShadowMatched):
// wait for the round to be due, request its comparison, show its progress, and hand back a
// conclusive result or the timeout. An inconclusive result (most keys past the cut) is
// shown under `conditionType` and the round compares again, until the timeout.
RoundStep stepRound(Pass& p, ValidationStatus& v, const char* conditionType,
                    const std::function<RunValidation()>& request) {
  TimePoint round = roundStart(v);
  if (p.now < round) {  // between two rounds
    p.requeueAfter(std::max(std::chrono::ceil<Seconds>(round - p.now), kStepDelay));
    return {};
  }
  const std::optional<ValidationRun>& run = p.o.kafka.validation;
  round = startRoundIfLate(v.roundStartedAt, round, run && run->requestedAt == round, p.now);
  bool ours = run && run->requestedAt == round;
  if (ours && run->done && run->result) {
    const ValidationResult& r = *run->result;
    if (!inconclusive(r)) return RoundStep{RoundStep::kResult, &r, ""};
    std::string label = roundLabel(v);
    recordComparison(v, r);
    p.condition(conditionType, ConditionStatus::kUnknown, "NotComparable",
                label + std::to_string(r.notComparableKeys) + " of " +
                    std::to_string(r.sampledKeys) + " sampled keys moved past the cut (" +
                    std::to_string(r.comparedKeys) +
                    " comparable); comparing again at a later cut");
  }
  Seconds timeout{p.spec().validation.timeoutSeconds};
  if (p.now - round >= timeout) {
    std::string message = roundLabel(v) + "no comparison result with version " + v.servingVersion +
                          " after " + seconds(timeout);
    if (ours && !run->error.empty()) message += " (last error: " + run->error + ")";
    v.recordsRead = 0;
    v.recordsToRead = 0;
    return RoundStep{RoundStep::kTimedOut, nullptr, message};
  }
  // Inconclusive or failed (a conclusive result returned above): again after kRerunDelay.
  if (ours && run->done && run->finishedAt && p.now < *run->finishedAt + kRerunDelay) {
    p.requeueAfter(
        std::max(std::chrono::ceil<Seconds>(*run->finishedAt + kRerunDelay - p.now), kStepDelay));
    return {};
  }
  // The driver lost the run (restart) or it failed: ask again; the same requestedAt keeps
  // the timeout running from the round's first request.
  if (!ours || run->done) p.actions.push_back(request());
  if (ours && !run->done) recordProgress(v, *run);
  p.requeueAfter(kPollInterval);
  return {};
}

void onValidating(Pass& p) {
  if (candidateGates(p, true)) return;
  applyWorkerHealth(p);
  const Spec& spec = p.spec();
  ensureWorker(p, WorkerProfile::kSteady);
  deleteReplayQuota(p);
  if (!p.o.alias) {
    p.condition(kValidated, ConditionStatus::kTrue, "FirstVersion",
                "no serving version to compare with");
    afterValidation(p);
    return;
  }
  if (spec.validation.mode == ValidationMode::kSkip) {
    p.condition(kValidated, ConditionStatus::kTrue, "Skipped", "validation.mode is Skip");
    afterValidation(p);
    return;
  }
  ValidationStatus& v = p.s.validation;
  if (!v.startedAt || v.servingVersion != p.o.alias->version) {
    // First request, or the serving version changed under the comparison: start over.
    v = ValidationStatus{};
    v.servingVersion = p.o.alias->version;
    v.startedAt = p.now;
    std::string what = "comparing sampled keys with version " + v.servingVersion;
    if (int64_t rounds = plannedRounds(spec.validation); rounds > 1) {
      v.roundsPlanned = rounds;
      v.roundStartedAt = p.now;
      what += " in " + std::to_string(rounds) + " rounds over " +
              seconds(Seconds{spec.validation.windowSeconds}) + " of parallel running";
    }
    p.condition(kValidated, ConditionStatus::kUnknown, "Comparing", what);
    p.actions.push_back(validationRequest(p));
    p.requeueAfter(kPollInterval);
    return;
  }
  RoundStep step = stepRound(p, v, kValidated, [&p] { return validationRequest(p); });
  if (step.kind == RoundStep::kResult) {
    const ValidationResult& r = *step.result;
    if (withinPolicy(spec.validation, r) && v.roundsPassed + 1 < v.roundsPlanned) {
      roundPassed(p, r);
    } else {
      validationOutcome(p, r);
    }
  } else if (step.kind == RoundStep::kTimedOut) {
    p.condition(kValidated, ConditionStatus::kUnknown, "TimedOut", step.timeoutMessage);
    p.event(EventType::kWarning, "ValidationTimedOut", step.timeoutMessage);
    p.enter(Phase::kAwaitingPromotion, "ValidationTimedOut",
            step.timeoutMessage + "; promote with annotation " + kPromoteAnnotation + " or abort");
    p.requeueAfter(kResyncInterval);
  }
}

void onAwaitingPromotion(Pass& p) {
  if (candidateGates(p, true)) return;
  ensureWorker(p, WorkerProfile::kSteady);
  if (annotationSet(p.o.meta, kPromoteAnnotation)) {
    p.enter(Phase::kPromoting, "PromotionApproved",
            "promoted by annotation " + std::string(kPromoteAnnotation));
    p.event(EventType::kNormal, "PromotionApproved",
            "promotion approved by annotation " + std::string(kPromoteAnnotation));
    p.requeueAfter(kStepDelay);
    return;
  }
  const Condition* validated = findCondition(p.s, kValidated);
  if (p.spec().promotion.mode == PromotionMode::kAuto && validated &&
      validated->status == ConditionStatus::kTrue) {
    afterValidation(p);  // promotion.mode was switched from Manual to Auto
    return;
  }
  p.requeueAfter(kResyncInterval);
}

void onPromoting(Pass& p) {
  const Spec& spec = p.spec();
  if (aliasNamesMe(p)) {
    // The flip happened (maybe in a pass that crashed before writing this): never again.
    const ServingAlias& alias = *p.o.alias;
    p.enter(Phase::kServing, "", "serving");
    p.s.servingSince = alias.promotedAt.value_or(p.now);
    p.s.previousVersion = alias.previousVersion;
    p.condition(kServingCondition, ConditionStatus::kTrue, "AliasFlipped",
                "alias " + aliasName(spec.pipeline) + " names this version");
    p.event(EventType::kNormal, "Promoted",
            "alias " + aliasName(spec.pipeline) + " now names version " + p.version() +
                (alias.previousVersion.empty() ? "" : " (previous " + alias.previousVersion + ")"));
    ensureWorker(p, WorkerProfile::kSteady);
    p.requeueAfter(kResyncInterval);
    return;
  }
  if (annotationSet(p.o.meta, kAbortAnnotation)) {
    fail(p, kAbortedReason, "aborted by annotation " + std::string(kAbortAnnotation));
    return;
  }
  const Condition* validated = findCondition(p.s, kValidated);
  bool equal = validated && validated->status == ConditionStatus::kTrue &&
               (validated->reason == "Matched" || validated->reason == "WithinTolerance");
  FlipAlias flip{
      aliasName(spec.pipeline),    std::nullopt, spec.pipeline, p.version(), p.s.outputTopic,
      spec.kafka.bootstrapServers, "",           p.now,         "Promotion", equal};
  if (p.o.alias) {
    const ServingAlias& alias = *p.o.alias;
    const OtherVersion* holder = findVersion(p.o, alias.version);
    if (holder && newerThanMe(*holder, p.o.meta)) {
      supersede(
          p, "LostPromotion",
          "alias " + aliasName(spec.pipeline) + " already names newer version " + alias.version);
      return;
    }
    flip.expectedResourceVersion = alias.resourceVersion;
    flip.previousVersion = alias.version;
  }
  p.s.previousVersion = flip.previousVersion;
  ensureWorker(p, WorkerProfile::kSteady);
  p.actions.push_back(std::move(flip));
  p.requeueAfter(kStepDelay);
}

// Checks a rollback request on the serving version. Empty: allowed.
std::string rollbackRefusal(const Pass& p, const std::string& target) {
  if (target.empty()) return "no previous version to roll back to";
  const OtherVersion* prev = findVersion(p.o, target);
  if (!prev) return "previous version " + target + " no longer exists";
  if (prev->deleting) return "previous version " + target + " is being deleted";
  if (prev->phase != Phase::kDraining && prev->phase != Phase::kRetired) {
    return "previous version " + target + " is " + phaseName(prev->phase) +
           ", not Draining or Retired";
  }
  if (prev->outputDeleted) return "the output of version " + target + " was already deleted";
  if (prev->drainedAt &&
      p.now + kRollbackMargin >= *prev->drainedAt + Seconds{prev->retainOutputSeconds}) {
    return "the output of version " + target + " is due for deletion";
  }
  return "";
}

void rollback(Pass& p) {
  const Spec& spec = p.spec();
  std::string target =
      p.s.previousVersion.empty() ? p.o.alias->previousVersion : p.s.previousVersion;
  std::string refusal = rollbackRefusal(p, target);
  if (!refusal.empty()) {
    p.s.message = "rollback refused: " + refusal;
    p.event(EventType::kWarning, "RollbackRefused", refusal);
    removeRollbackGate(p);
    return;
  }
  const OtherVersion* prev = findVersion(p.o, target);
  p.s.message = "rolling back to version " + target;
  p.event(EventType::kNormal, "RollbackStarted", "flipping alias back to version " + target);
  p.actions.push_back(FlipAlias{aliasName(spec.pipeline), p.o.alias->resourceVersion, spec.pipeline,
                                target, prev->outputTopic, spec.kafka.bootstrapServers, p.version(),
                                p.now, "Rollback", false});
  // After the flip: if the flip is lost in a crash, the gate is still there to retry it;
  // if the gate removal is lost, Draining removes it.
  removeRollbackGate(p);
  p.requeueAfter(kStepDelay);
}

// ----- the shadow after the flip ----------------------------------------------------------

// The shadow's round interval: validation.roundIntervalSeconds, at most the shadow period.
Seconds shadowInterval(const Spec& spec) {
  return Seconds{std::max<int64_t>(
      1, std::min(spec.validation.roundIntervalSeconds, spec.promotion.shadowSeconds))};
}

// The previous version, if it still runs beside this one (Draining, its output kept).
const OtherVersion* shadowedVersion(const Pass& p) {
  if (p.s.previousVersion.empty()) return nullptr;
  const OtherVersion* prev = findVersion(p.o, p.s.previousVersion);
  if (!prev || prev->phase != Phase::kDraining || prev->outputTopic.empty() ||
      prev->outputDeleted || prev->deleting) {
    return nullptr;
  }
  return prev;
}

RunValidation shadowRequest(const Pass& p, const OtherVersion& prev) {
  return comparisonRequest(p, *p.s.shadow.roundStartedAt, prev.version, prev.outputTopic, &prev);
}

// Ends the shadow: the condition says how, and the previous version may drain.
void endShadow(Pass& p, ConditionStatus status, const std::string& reason,
               const std::string& message) {
  p.s.shadow.completedAt = p.now;
  p.s.shadow.recordsRead = 0;
  p.s.shadow.recordsToRead = 0;
  p.condition(kShadowMatched, status, reason, message);
}

// A shadow round found the outputs apart: alert, and roll back if the policy says so.
void shadowDrift(Pass& p, const std::string& numbers) {
  const ValidationStatus& v = p.s.shadow;
  std::string example;
  if (!v.examples.empty()) {
    const MismatchExample& e = v.examples.front();
    example = "; e.g. key " + e.key + (e.diff.empty() ? "" : " (" + e.diff + ")");
  }
  bool rollingBack = p.spec().promotion.shadowRollback;
  endShadow(p, ConditionStatus::kFalse, "Drifted", numbers);
  p.event(EventType::kWarning, "ShadowDrift",
          numbers + example +
              (rollingBack ? "; rolling back (promotion.shadowRollback)"
                           : "; roll back with annotation " + std::string(kRollbackAnnotation)));
  if (rollingBack) {
    rollback(p);
  } else {
    p.requeueAfter(kResyncInterval);
  }
}

// The shadow: for promotion.shadowSeconds after the flip the previous version keeps running
// and the two outputs are compared every round interval, on a schedule from servingSince.
// Returns false when there is none to run (or it has ended): the caller goes on.
bool shadowing(Pass& p) {
  const Spec& spec = p.spec();
  ValidationStatus& v = p.s.shadow;
  if (spec.promotion.shadowSeconds <= 0 || !p.s.servingSince || v.completedAt) return false;
  const OtherVersion* prev = shadowedVersion(p);
  if (!prev) {
    if (v.startedAt) {
      endShadow(p, ConditionStatus::kUnknown, "PreviousVersionGone",
                roundLabel(v) + "version " + v.servingVersion + " stopped running beside this one");
    }
    return false;
  }
  Seconds interval = shadowInterval(spec);
  if (!v.startedAt || !v.roundStartedAt) {
    v.servingVersion = prev->version;
    v.startedAt = *p.s.servingSince;
    v.roundsPlanned = std::max<int64_t>(1, spec.promotion.shadowSeconds / interval.count());
    v.roundStartedAt = *p.s.servingSince + interval;
    p.condition(kShadowMatched, ConditionStatus::kUnknown, "Shadowing",
                "comparing with version " + v.servingVersion + ", which keeps running, every " +
                    seconds(interval) + " for " + seconds(Seconds{spec.promotion.shadowSeconds}));
  }
  RoundStep step = stepRound(p, v, kShadowMatched, [&p, prev] { return shadowRequest(p, *prev); });
  if (step.kind == RoundStep::kTimedOut) {
    endShadow(p, ConditionStatus::kUnknown, "TimedOut", step.timeoutMessage);
    p.event(EventType::kWarning, "ShadowTimedOut", step.timeoutMessage);
    return false;
  }
  if (step.kind == RoundStep::kWaiting) return true;
  const ValidationResult& r = *step.result;
  std::string label = roundLabel(v);
  recordComparison(v, r);
  std::string numbers = label + comparisonNumbers(v, spec.validation.maxMismatchRatio);
  if (!withinPolicy(spec.validation, r)) {
    shadowDrift(p, numbers);
    return true;
  }
  if (++v.roundsPassed >= v.roundsPlanned) {
    std::string matched = "all " + std::to_string(v.roundsPlanned) +
                          " shadow rounds matched version " + v.servingVersion;
    endShadow(p, ConditionStatus::kTrue, "Matched", matched);
    p.event(EventType::kNormal, "ShadowMatched", matched + "; it drains now");
    return false;
  }
  v.roundStartedAt = std::max(*p.s.servingSince + interval * (v.roundsPassed + 1), p.now);
  p.condition(kShadowMatched, ConditionStatus::kUnknown, "RoundPassed", numbers);
  p.requeueAfter(std::max(std::chrono::ceil<Seconds>(*v.roundStartedAt - p.now), kStepDelay));
  return true;
}

// The version a cascade gives its successor for the flip that made `up` name its version:
// that version and a hash of the flip (pipeline, version, time), so that each flip makes one
// name, a DNS label of at most 60 characters ("v2-c1f0e9a3").
std::string cascadeVersionName(const std::string& upstreamPipeline, const ServingAlias& up) {
  std::string flip = upstreamPipeline + "/" + up.version + "@" + formatTime(up.promotedAt);
  uint64_t hash = kafka::sampleHash(flip.data(), flip.size());
  std::ostringstream hex;
  hex << std::hex << std::setw(8) << std::setfill('0') << (hash & 0xffffffffu);
  std::string base = up.version.substr(0, 50);
  while (!base.empty() && base.back() == '-') base.pop_back();
  return base + "-c" + hex.str();
}

// A serving version that follows its upstream pipeline (spec.cascade.mode Follow): when that
// pipeline's alias names another version than the one this reads, create the successor that
// reads it, once per flip. Its comparison expects an equal output when the flip upstream was
// validated equal; else spec.cascade.whenUpstreamChanged says what it does instead.
void cascade(Pass& p) {
  const Spec& spec = p.spec();
  const auto& up = p.o.upstream;
  if (spec.cascade.mode != CascadeMode::kFollow || p.s.source.version.empty() || !up ||
      up->topic.empty() || up->version == p.s.source.version) {
    return;
  }
  std::string version = cascadeVersionName(spec.source.pipeline, *up);
  for (const auto& o : p.o.others) {
    // Created already (by an earlier pass, perhaps one that crashed before its Event); a
    // candidate already reads that upstream version; or a candidate made by hand is in
    // flight (a successor would supersede it, and a person's change with it): nothing to do.
    bool candidate = !o.deleting && isCandidate(o.phase);
    if (o.version == version || (candidate && (o.sourceVersion == up->version || !o.cascaded))) {
      return;
    }
  }
  const AliasFlip* flip =
      !up->flips.empty() && up->flips.front().version == up->version ? &up->flips.front() : nullptr;
  bool equal = flip && flip->equal;
  bool skip = !equal && spec.cascade.whenUpstreamChanged == UpstreamChangePolicy::kSkipValidation;
  CreateCascadedVersion create{spec.pipeline + "-" + version,
                               version,
                               spec.source.pipeline,
                               up->version,
                               up->topic,
                               equal,
                               skip,
                               !equal && !skip};
  p.event(EventType::kNormal, "CascadeStarted",
          "pipeline " + spec.source.pipeline + " flipped to version " + up->version +
              (equal ? " (validated equal)"
                     : std::string(" (its output changed by intent: ") +
                           (skip ? "comparison skipped" : "manual promotion") + ")") +
              "; created " + create.name + " to replay " + up->topic);
  p.actions.push_back(std::move(create));
}

void onServing(Pass& p) {
  const Spec& spec = p.spec();
  if (!p.o.alias) {
    // Readers lost their alias: put it back (create-if-absent, so it cannot overwrite one
    // that another version created meanwhile).
    p.event(EventType::kWarning, "AliasRecreated",
            "alias " + aliasName(spec.pipeline) + " was missing; recreating it");
    p.actions.push_back(FlipAlias{aliasName(spec.pipeline), std::nullopt, spec.pipeline,
                                  p.version(), p.s.outputTopic, spec.kafka.bootstrapServers,
                                  p.s.previousVersion, p.now, "Recreate", false});
    p.requeueAfter(kStepDelay);
    return;
  }
  if (!aliasNamesMe(p)) {
    const ServingAlias& alias = *p.o.alias;
    p.enter(Phase::kDraining, "", "replaced by version " + alias.version + "; draining");
    p.s.drainingSince = alias.promotedAt && *alias.promotedAt <= p.now ? *alias.promotedAt : p.now;
    p.condition(kServingCondition, ConditionStatus::kFalse, "Replaced",
                "alias " + aliasName(spec.pipeline) + " names version " + alias.version);
    p.condition(kDrained, ConditionStatus::kFalse, "Draining",
                "worker kept for " + seconds(Seconds{spec.promotion.drainDelaySeconds}));
    p.event(EventType::kNormal, "Draining", "replaced by version " + alias.version);
    removeRollbackGate(p);
    p.requeueAfter(std::chrono::duration_cast<Seconds>(
        *p.s.drainingSince + Seconds{spec.promotion.drainDelaySeconds} - p.now));
    return;
  }
  ensureWorker(p, WorkerProfile::kSteady);
  applyWorkerHealth(p);
  if (annotationSet(p.o.meta, kRollbackAnnotation)) {
    rollback(p);
    return;
  }
  cascade(p);
  if (shadowing(p)) return;
  p.requeueAfter(kResyncInterval);
}

void onDraining(Pass& p) {
  const Spec& spec = p.spec();
  if (aliasNamesMe(p)) {
    resumeServing(p);
    return;
  }
  removeRollbackGate(p);
  if (!p.s.drainingSince) p.s.drainingSince = p.now;
  TimePoint drainAt = *p.s.drainingSince + Seconds{spec.promotion.drainDelaySeconds};
  // The version that replaced this one compares with it in its shadow: keep running until
  // that ends (should it never say so, at most its period, one round's timeout and
  // kShadowGrace past the flip).
  const OtherVersion* successor = p.o.alias ? findVersion(p.o, p.o.alias->version) : nullptr;
  if (successor && successor->shadowSeconds > 0 && !successor->shadowDone) {
    drainAt = std::max(drainAt, *p.s.drainingSince + Seconds{successor->shadowSeconds} +
                                    Seconds{successor->validationTimeoutSeconds} + kShadowGrace);
  }
  if (p.now < drainAt) {
    ensureWorker(p, WorkerProfile::kSteady);
    p.requeueAfter(std::chrono::duration_cast<Seconds>(drainAt - p.now));
    return;
  }
  // A downstream tier still reads this output: it keeps running (a stopped worker would
  // leave the reader without new records) until the reader has moved on. A change of a
  // reader queues this version.
  if (!p.o.readers.empty()) {
    std::string why =
        "draining held: " + readersText(p.o.readers) + " reads output " + p.s.outputTopic;
    if (p.s.message != why) p.event(EventType::kNormal, "DrainHeld", why);
    p.s.message = why;
    p.condition(kDrained, ConditionStatus::kFalse, "ReadByDownstream", why);
    ensureWorker(p, WorkerProfile::kSteady);
    p.requeueAfter(kResyncInterval);
    return;
  }
  p.enter(Phase::kRetired, "", "drained; output kept for rollback");
  p.s.drainedAt = p.now;
  p.condition(kDrained, ConditionStatus::kTrue, "Drained",
              "worker and consumer group deleted; output kept for " +
                  seconds(Seconds{spec.promotion.retainOutputSeconds}));
  p.event(EventType::kNormal, "Retired", "worker and consumer group deleted");
  deleteWorker(p);
  if (workerStopped(p)) deleteGroup(p);
  p.requeueAfter(Seconds{spec.promotion.retainOutputSeconds});
}

void onRetired(Pass& p) {
  const Spec& spec = p.spec();
  if (aliasNamesMe(p)) {
    resumeServing(p);
    return;
  }
  removeRollbackGate(p);
  deleteWorker(p);  // again, in case the pass that retired the version crashed
  if (!workerStopped(p)) return;
  deleteGroup(p);
  if (!p.s.drainedAt) p.s.drainedAt = p.now;
  TimePoint deleteAt = *p.s.drainedAt + Seconds{spec.promotion.retainOutputSeconds};
  if (p.now < deleteAt) {
    p.requeueAfter(std::chrono::duration_cast<Seconds>(deleteAt - p.now));
    return;
  }
  if (!p.s.outputDeletedAt && !p.o.readers.empty()) {
    p.s.message = "output kept: " + readersText(p.o.readers) + " reads it";
    p.requeueAfter(kResyncInterval);
    return;
  }
  if (!p.s.outputDeletedAt) {
    p.s.outputDeletedAt = p.now;
    p.s.message = "output deleted after " + seconds(Seconds{spec.promotion.retainOutputSeconds});
    p.event(EventType::kNormal, "OutputDeleted", "deleting output topic " + p.s.outputTopic);
  }
  deleteOutput(p);
}

void onFailed(Pass& p) {
  // Again on every pass, in case the pass that failed the version crashed.
  if (p.s.reason == kAbortedReason) {
    deleteAll(p);
  } else {
    deleteWorker(p);
  }
}

void onSuperseded(Pass& p) { deleteAll(p); }

void onDeletion(Pass& p) {
  if (!p.o.meta.hasFinalizer) return;
  // Like a volume in use: deleting a version a downstream tier reads waits until that tier
  // has moved on; the worker and the output stay meanwhile.
  if (!p.o.readers.empty()) {
    std::string why =
        "deletion waits: " + readersText(p.o.readers) + " reads output " + p.s.outputTopic;
    if (p.s.reason != kDeletionHeldReason) {
      p.event(EventType::kWarning, kDeletionHeldReason, why);
      p.s.reason = kDeletionHeldReason;
    }
    p.s.message = why;
    p.requeueAfter(kResyncInterval);
    return;
  }
  if (p.s.reason != "Deleting") {
    p.s.reason = "Deleting";
    p.s.message = aliasNamesMe(p) ? "deleting; output kept, the alias still names it"
                                  : "deleting; cleaning up";
    if (aliasNamesMe(p)) {
      p.event(EventType::kWarning, "ServingVersionDeleted",
              "the serving version is being deleted; its output topic " + p.s.outputTopic +
                  " and alias " + aliasName(p.spec().pipeline) + " are kept");
    }
  }
  size_t before = p.actions.size();
  if (deleteAll(p) && p.actions.size() == before) {
    // Everything the version owns is gone: the finalizer goes last.
    p.actions.push_back(RemoveFinalizer{});
    return;
  }
  p.requeueAfter(kStepDelay);
}

}  // namespace

Seconds lagSampleInterval(const CatchUpSpec& catchUp, const Status& status) {
  // The tail: within the bound, close enough to it (by an observed lag or an estimate), or
  // due to have read the backlog within two samples, so that the next samples decide when.
  // Without an ETA (no rate yet: a worker still starting, or stalled) nobody knows how soon
  // it will be done: every second too.
  double near = 3.0 * static_cast<double>(catchUp.maxLagSeconds) +
                static_cast<double>(kLagSampleInterval.count());
  bool tail = status.replay.lagWithinSince ||
              (status.lag.sampledAt && status.lag.seconds <= near) || !status.replay.etaSeconds ||
              *status.replay.etaSeconds <= 2 * kLagSampleInterval.count();
  return tail ? kStabilizingSampleInterval : kLagSampleInterval;
}

bool lagSampleDue(const CatchUpSpec& catchUp, const Status& status, TimePoint now) {
  // A sample stamped in the future (a clock step back) counts as due, or none would come.
  return !status.lag.sampledAt ||
         now - *status.lag.sampledAt >= lagSampleInterval(catchUp, status) - kLagSampleSlack ||
         now < *status.lag.sampledAt;
}

Decision decide(const Observed& observed, TimePoint now) {
  Pass p{observed, now, observed.status, {}, std::nullopt};
  p.s.observedGeneration = observed.meta.generation;

  if (observed.meta.deletionTimestamp) {
    onDeletion(p);
  } else if (!observed.meta.hasFinalizer) {
    p.actions.push_back(AddFinalizer{});  // before any external side effect
    p.requeueAfter(Seconds{0});
  } else {
    switch (observed.status.phase) {
      case Phase::kPending:
        onPending(p);
        break;
      case Phase::kProvisioning:
        onProvisioning(p);
        break;
      case Phase::kReplaying:
        onReplaying(p);
        break;
      case Phase::kValidating:
        onValidating(p);
        break;
      case Phase::kAwaitingPromotion:
        onAwaitingPromotion(p);
        break;
      case Phase::kPromoting:
        onPromoting(p);
        break;
      case Phase::kServing:
        onServing(p);
        break;
      case Phase::kDraining:
        onDraining(p);
        break;
      case Phase::kRetired:
        onRetired(p);
        break;
      case Phase::kFailed:
        onFailed(p);
        break;
      case Phase::kSuperseded:
        onSuperseded(p);
        break;
    }
  }

  Decision d;
  if (p.s != observed.status) d.status = std::move(p.s);
  d.actions = std::move(p.actions);
  d.requeueAfter = p.requeue;
  return d;
}

std::ostream& operator<<(std::ostream& os, const Decision& d) {
  os << "Decision{status=";
  if (d.status) {
    os << *d.status;
  } else {
    os << "unchanged";
  }
  os << " actions=[";
  const char* sep = "";
  for (const auto& a : d.actions) {
    os << sep << a;
    sep = ", ";
  }
  os << "] requeueAfter=";
  if (d.requeueAfter) {
    os << d.requeueAfter->count() << "s";
  } else {
    os << "none";
  }
  return os << "}";
}

}  // namespace kappa::controllers
