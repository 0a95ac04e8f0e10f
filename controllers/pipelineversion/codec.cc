#include "controllers/pipelineversion/codec.h"

#include <cstdio>
#include <cstring>

namespace kappa::controllers {
namespace {

std::string str(const Json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string();
}

template <typename T>
T num(const Json& obj, const char* key, T fallback) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_number()) return fallback;
  return it->get<T>();
}

bool flag(const Json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_boolean() && it->get<bool>();
}

const Json& child(const Json& obj, const char* key) {
  static const Json empty = Json::object();
  auto it = obj.find(key);
  return it != obj.end() && it->is_object() ? *it : empty;
}

std::optional<TimePoint> timeField(const Json& obj, const char* key) {
  std::string s = str(obj, key);
  if (s.empty()) return std::nullopt;
  return parseTime(s);
}

// Quantities and config values arrive as strings or numbers; keep them as strings.
std::map<std::string, std::string> stringMap(const Json& obj) {
  std::map<std::string, std::string> out;
  if (!obj.is_object()) return out;
  for (const auto& [k, v] : obj.items()) out[k] = v.is_string() ? v.get<std::string>() : v.dump();
  return out;
}

std::vector<std::string> stringList(const Json& obj, const char* key) {
  std::vector<std::string> out;
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_array()) return out;
  for (const auto& v : *it) {
    if (v.is_string()) out.push_back(v.get<std::string>());
  }
  return out;
}

Resources resourcesFrom(const Json& obj) {
  return Resources{stringMap(child(obj, "requests")), stringMap(child(obj, "limits"))};
}

void putTime(Json& obj, const char* key, const std::optional<TimePoint>& t) {
  if (t) obj[key] = formatTimeRfc3339(*t);
}

void putString(Json& obj, const char* key, const std::string& s) {
  if (!s.empty()) obj[key] = s;
}

Phase phaseFrom(const std::string& name) {
  for (Phase p : {Phase::kPending, Phase::kProvisioning, Phase::kReplaying, Phase::kValidating,
                  Phase::kAwaitingPromotion, Phase::kPromoting, Phase::kServing, Phase::kDraining,
                  Phase::kRetired, Phase::kFailed, Phase::kSuperseded}) {
    if (name == phaseName(p)) return p;
  }
  return Phase::kPending;
}

ConditionStatus conditionStatusFrom(const std::string& s) {
  if (s == "True") return ConditionStatus::kTrue;
  if (s == "False") return ConditionStatus::kFalse;
  return ConditionStatus::kUnknown;
}

// status.validation and status.shadow: a comparison (its rounds, figures and examples).
ValidationStatus comparisonFromJson(const Json& v) {
  ValidationStatus c;
  c.servingVersion = str(v, "servingVersion");
  c.source = str(v, "source");
  c.startedAt = timeField(v, "startedAt");
  c.roundStartedAt = timeField(v, "roundStartedAt");
  c.roundsPassed = num<int64_t>(v, "roundsPassed", 0);
  c.roundsPlanned = num<int64_t>(v, "roundsPlanned", 0);
  c.sampledKeys = num<int64_t>(v, "sampledKeys", 0);
  c.comparedKeys = num<int64_t>(v, "comparedKeys", 0);
  c.mismatchedKeys = num<int64_t>(v, "mismatchedKeys", 0);
  c.notComparableKeys = num<int64_t>(v, "notComparableKeys", 0);
  c.mismatchRatio = num<double>(v, "mismatchRatio", 0);
  c.completedAt = timeField(v, "completedAt");
  c.recordsRead = num<int64_t>(v, "recordsRead", 0);
  c.recordsToRead = num<int64_t>(v, "recordsToRead", 0);
  if (auto it = v.find("examples"); it != v.end() && it->is_array()) {
    for (const auto& e : *it) {
      MismatchExample ex;
      ex.key = str(e, "key");
      for (auto [field, out] : {std::pair{"serving", &ex.serving}, {"candidate", &ex.candidate}}) {
        auto f = e.find(field);
        if (f == e.end() || f->is_null()) continue;
        *out = f->is_string() ? f->get<std::string>() : f->dump();
      }
      ex.diff = str(e, "diff");
      c.examples.push_back(std::move(ex));
    }
  }
  return c;
}

Json comparisonToJson(const ValidationStatus& v) {
  Json vj{{"sampledKeys", v.sampledKeys},
          {"comparedKeys", v.comparedKeys},
          {"mismatchedKeys", v.mismatchedKeys},
          {"notComparableKeys", v.notComparableKeys},
          {"mismatchRatio", v.mismatchRatio}};
  putString(vj, "servingVersion", v.servingVersion);
  putString(vj, "source", v.source);
  putTime(vj, "startedAt", v.startedAt);
  putTime(vj, "roundStartedAt", v.roundStartedAt);
  if (v.roundsPlanned > 0) {
    vj["roundsPassed"] = v.roundsPassed;
    vj["roundsPlanned"] = v.roundsPlanned;
  }
  putTime(vj, "completedAt", v.completedAt);
  if (v.recordsToRead > 0) {
    vj["recordsRead"] = v.recordsRead;
    vj["recordsToRead"] = v.recordsToRead;
  }
  Json examples = Json::array();
  for (const auto& e : v.examples) {
    Json ej{{"key", e.key}};
    if (e.serving) ej["serving"] = *e.serving;
    if (e.candidate) ej["candidate"] = *e.candidate;
    putString(ej, "diff", e.diff);
    examples.push_back(std::move(ej));
  }
  vj["examples"] = std::move(examples);
  return vj;
}

}  // namespace

TimePoint roundToMicros(TimePoint t) {
  return std::chrono::time_point_cast<std::chrono::microseconds>(t);
}

std::string formatTimeRfc3339(TimePoint t) {
  auto us = std::chrono::time_point_cast<std::chrono::microseconds>(t);
  auto secs = std::chrono::floor<std::chrono::seconds>(us);
  auto days = std::chrono::floor<std::chrono::days>(secs);
  std::chrono::year_month_day ymd{days};
  std::chrono::hh_mm_ss hms{secs - days};
  char buf[96];  // large enough for any int fields, so -Wformat-truncation has nothing to say
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02ld:%02ld:%02ld.%06ldZ",
                static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()), static_cast<long>(hms.hours().count()),
                static_cast<long>(hms.minutes().count()), static_cast<long>(hms.seconds().count()),
                static_cast<long>((us - secs).count()));
  return buf;
}

ObjectMeta metaFromJson(const Json& obj) {
  const Json& m = child(obj, "metadata");
  ObjectMeta meta;
  meta.name = str(m, "name");
  meta.uid = str(m, "uid");
  meta.generation = num<int64_t>(m, "generation", 1);
  meta.creationTimestamp = timeField(m, "creationTimestamp").value_or(TimePoint{});
  meta.deletionTimestamp = timeField(m, "deletionTimestamp");
  for (const auto& f : stringList(m, "finalizers")) {
    if (f == kFinalizer) meta.hasFinalizer = true;
  }
  meta.annotations = stringMap(child(m, "annotations"));
  meta.cascadeUpstreamVersion = str(child(m, "labels"), "kappa.io/cascade-upstream-version");
  return meta;
}

Result<Spec> specFromJson(const Json& j) {
  if (!j.is_object()) return Error{ErrorCode::kInvalidArgument, "spec is missing"};
  Spec spec;
  spec.pipeline = str(j, "pipeline");
  spec.version = str(j, "version");
  const Json& kafka = child(j, "kafka");
  spec.kafka.bootstrapServers = str(kafka, "bootstrapServers");
  spec.kafka.credentialsSecret = str(kafka, "credentialsSecret");
  const Json& source = child(j, "source");
  spec.source.topic = str(source, "topic");
  spec.source.pipeline = str(source, "pipeline");
  spec.source.allowTruncatedHistory = source.value("allowTruncatedHistory", false);
  const Json& output = child(j, "output");
  spec.output.topic = str(output, "topic");
  spec.output.partitions = num<int32_t>(output, "partitions", 0);
  spec.output.replicationFactor = num<int16_t>(output, "replicationFactor", 1);
  spec.output.config = stringMap(child(output, "config"));
  spec.output.adoptExisting = output.value("adoptExisting", false);
  const Json& processor = child(j, "processor");
  spec.processor =
      processor.contains("container") ? ProcessorKind::kContainer : ProcessorKind::kBuiltin;
  spec.replicas = num<int32_t>(j, "replicas", 1);
  spec.resources = resourcesFrom(child(j, "resources"));
  const Json& replay = child(j, "replay");
  spec.replay.replicas = num<int32_t>(replay, "replicas", spec.replay.replicas);
  spec.replay.resources = resourcesFrom(child(replay, "resources"));
  if (replay.contains("priorityClassName"))
    spec.replay.priorityClassName = str(replay, "priorityClassName");
  spec.replay.quota = stringMap(child(replay, "quota"));
  spec.replay.maxDurationSeconds =
      num<int64_t>(replay, "maxDurationSeconds", spec.replay.maxDurationSeconds);
  spec.replay.stragglerWindowSeconds =
      num<int64_t>(replay, "stragglerWindowSeconds", spec.replay.stragglerWindowSeconds);
  spec.replay.dryRunSamples = num<int32_t>(replay, "dryRunSamples", spec.replay.dryRunSamples);
  if (replay.contains("maxDeadLetterRatio") && replay["maxDeadLetterRatio"].is_number()) {
    spec.replay.maxDeadLetterRatio = replay["maxDeadLetterRatio"].get<double>();
  }
  const Json& catchUp = child(j, "catchUp");
  spec.catchUp.maxLagSeconds = num<int64_t>(catchUp, "maxLagSeconds", spec.catchUp.maxLagSeconds);
  if (catchUp.contains("maxLagMessages") && catchUp["maxLagMessages"].is_number()) {
    spec.catchUp.maxLagMessages = catchUp["maxLagMessages"].get<int64_t>();
  }
  spec.catchUp.stableSeconds = num<int64_t>(catchUp, "stableSeconds", spec.catchUp.stableSeconds);
  const Json& v = child(j, "validation");
  spec.validation.mode =
      str(v, "mode") == "Skip" ? ValidationMode::kSkip : ValidationMode::kSampled;
  spec.validation.sampleKeys = num<int32_t>(v, "sampleKeys", spec.validation.sampleKeys);
  spec.validation.compareFields = stringList(v, "compareFields");
  spec.validation.ignoreFields = stringList(v, "ignoreFields");
  spec.validation.numericTolerance = num<double>(v, "numericTolerance", 0);
  spec.validation.maxMismatchRatio = num<double>(v, "maxMismatchRatio", 0);
  spec.validation.timeoutSeconds =
      num<int64_t>(v, "timeoutSeconds", spec.validation.timeoutSeconds);
  spec.validation.tapRate = num<uint32_t>(v, "tapRate", spec.validation.tapRate);
  spec.validation.windowSeconds = num<int64_t>(v, "windowSeconds", 0);
  spec.validation.roundIntervalSeconds =
      num<int64_t>(v, "roundIntervalSeconds", spec.validation.roundIntervalSeconds);
  const Json& promotion = child(j, "promotion");
  spec.promotion.mode =
      str(promotion, "mode") == "Manual" ? PromotionMode::kManual : PromotionMode::kAuto;
  spec.promotion.drainDelaySeconds =
      num<int64_t>(promotion, "drainDelaySeconds", spec.promotion.drainDelaySeconds);
  spec.promotion.retainOutputSeconds =
      num<int64_t>(promotion, "retainOutputSeconds", spec.promotion.retainOutputSeconds);
  spec.promotion.shadowSeconds = num<int64_t>(promotion, "shadowSeconds", 0);
  if (auto it = promotion.find("shadowRollback"); it != promotion.end() && it->is_boolean()) {
    spec.promotion.shadowRollback = it->get<bool>();
  }
  const Json& cascade = child(j, "cascade");
  spec.cascade.mode =
      str(cascade, "mode") == "Follow" ? CascadeMode::kFollow : CascadeMode::kPinned;
  spec.cascade.whenUpstreamChanged = str(cascade, "whenUpstreamChanged") == "SkipValidation"
                                         ? UpstreamChangePolicy::kSkipValidation
                                         : UpstreamChangePolicy::kManualPromotion;
  if (spec.pipeline.empty() || spec.version.empty() ||
      spec.source.topic.empty() == spec.source.pipeline.empty() ||
      spec.kafka.bootstrapServers.empty()) {
    return Error{ErrorCode::kInvalidArgument,
                 "spec needs pipeline, version, one of source.topic and source.pipeline, and "
                 "kafka.bootstrapServers"};
  }
  return spec;
}

Status statusFromJson(const Json& j) {
  Status s;
  if (!j.is_object()) return s;
  s.phase = phaseFrom(str(j, "phase"));
  s.reason = str(j, "reason");
  s.message = str(j, "message");
  s.observedGeneration = num<int64_t>(j, "observedGeneration", 0);
  if (auto it = j.find("conditions"); it != j.end() && it->is_array()) {
    for (const auto& c : *it) {
      s.conditions.push_back(Condition{str(c, "type"), conditionStatusFrom(str(c, "status")),
                                       str(c, "reason"), str(c, "message"),
                                       timeField(c, "lastTransitionTime").value_or(TimePoint{}),
                                       num<int64_t>(c, "observedGeneration", 0)});
    }
  }
  s.consumerGroup = str(j, "consumerGroup");
  s.outputTopic = str(j, "outputTopic");
  s.tapTopic = str(j, "tapTopic");
  s.stateTopic = str(j, "stateTopic");
  const Json& source = child(j, "source");
  s.source = SourceStatus{str(source, "pipeline"), str(source, "version"), str(source, "topic")};
  const Json& lag = child(j, "lag");
  s.lag = LagStatus{num<int64_t>(lag, "messages", 0), num<int32_t>(lag, "partitions", 0),
                    num<int64_t>(lag, "consumed", 0), timeField(lag, "sampledAt"),
                    num<double>(lag, "seconds", 0),   flag(lag, "secondsEstimated")};
  const Json& r = child(j, "replay");
  s.replay.startedAt = timeField(r, "startedAt");
  s.replay.caughtUpAt = timeField(r, "caughtUpAt");
  s.replay.progressPercent = num<double>(r, "progressPercent", 0);
  s.replay.messagesPerSecond = num<double>(r, "messagesPerSecond", 0);
  if (r.contains("etaSeconds")) s.replay.etaSeconds = num<int64_t>(r, "etaSeconds", 0);
  s.replay.lagWithinSince = timeField(r, "lagWithinSince");
  for (const auto& g : r.value("stragglers", Json::array())) {
    s.replay.stragglers.push_back(
        StragglerStatus{.partition = num<int32_t>(g, "partition", 0),
                        .lag = num<int64_t>(g, "lag", 0),
                        .messagesPerSecond = num<double>(g, "messagesPerSecond", 0),
                        .peerMessagesPerSecond = num<double>(g, "peerMessagesPerSecond", 0),
                        .since = timeField(g, "since").value_or(TimePoint{}),
                        .pod = str(g, "pod")});
  }
  s.validation = comparisonFromJson(child(j, "validation"));
  if (j.contains("shadow")) s.shadow = comparisonFromJson(child(j, "shadow"));
  s.servingSince = timeField(j, "servingSince");
  s.previousVersion = str(j, "previousVersion");
  s.drainingSince = timeField(j, "drainingSince");
  s.drainedAt = timeField(j, "drainedAt");
  s.outputDeletedAt = timeField(j, "outputDeletedAt");
  for (const auto& e : j.value("workerExits", Json::array())) {
    s.workerExits.push_back(WorkerExit{str(e, "pod"), str(e, "containerId"),
                                       num<int32_t>(e, "exitCode", 0), str(e, "reason"),
                                       timeField(e, "finishedAt").value_or(TimePoint{})});
  }
  if (j.contains("dryRun")) s.dryRun = worker::dryRunFromJson(child(j, "dryRun"));
  for (const auto& h : j.value("history", Json::array())) {
    HistoryEntry e;
    e.time = timeField(h, "time").value_or(TimePoint{});
    e.from = phaseFrom(str(h, "from"));
    e.to = phaseFrom(str(h, "to"));
    e.reason = str(h, "reason");
    e.actor = str(h, "actor");
    e.message = str(h, "message");
    if (h.contains("comparedKeys")) e.comparedKeys = num<int64_t>(h, "comparedKeys", 0);
    if (h.contains("mismatchedKeys")) e.mismatchedKeys = num<int64_t>(h, "mismatchedKeys", 0);
    s.history.push_back(std::move(e));
  }
  return s;
}

Json statusToJson(const Status& s) {
  Json j = Json::object();
  j["phase"] = phaseName(s.phase);
  putString(j, "reason", s.reason);
  putString(j, "message", s.message);
  j["observedGeneration"] = s.observedGeneration;
  Json conditions = Json::array();
  for (const auto& c : s.conditions) {
    Json cj{{"type", c.type},
            {"status", conditionStatusName(c.status)},
            {"lastTransitionTime", formatTimeRfc3339(c.lastTransitionTime)},
            {"observedGeneration", c.observedGeneration}};
    putString(cj, "reason", c.reason);
    putString(cj, "message", c.message);
    conditions.push_back(std::move(cj));
  }
  j["conditions"] = std::move(conditions);
  putString(j, "consumerGroup", s.consumerGroup);
  putString(j, "outputTopic", s.outputTopic);
  putString(j, "tapTopic", s.tapTopic);
  putString(j, "stateTopic", s.stateTopic);
  if (!s.source.topic.empty()) {
    Json source = Json::object();
    putString(source, "pipeline", s.source.pipeline);
    putString(source, "version", s.source.version);
    putString(source, "topic", s.source.topic);
    j["source"] = std::move(source);
  }
  Json lag{{"messages", s.lag.messages},
           {"partitions", s.lag.partitions},
           {"consumed", s.lag.consumed},
           {"seconds", s.lag.seconds}};
  if (s.lag.secondsEstimated) lag["secondsEstimated"] = true;
  putTime(lag, "sampledAt", s.lag.sampledAt);
  j["lag"] = std::move(lag);
  Json replay{{"progressPercent", s.replay.progressPercent},
              {"messagesPerSecond", s.replay.messagesPerSecond}};
  putTime(replay, "startedAt", s.replay.startedAt);
  putTime(replay, "caughtUpAt", s.replay.caughtUpAt);
  if (s.replay.etaSeconds) replay["etaSeconds"] = *s.replay.etaSeconds;
  putTime(replay, "lagWithinSince", s.replay.lagWithinSince);
  if (!s.replay.stragglers.empty()) {
    Json stragglers = Json::array();
    for (const auto& g : s.replay.stragglers) {
      Json sj{{"partition", g.partition},
              {"lag", g.lag},
              {"messagesPerSecond", g.messagesPerSecond},
              {"peerMessagesPerSecond", g.peerMessagesPerSecond},
              {"since", formatTimeRfc3339(g.since)}};
      putString(sj, "pod", g.pod);
      stragglers.push_back(std::move(sj));
    }
    replay["stragglers"] = std::move(stragglers);
  }
  j["replay"] = std::move(replay);
  j["validation"] = comparisonToJson(s.validation);
  if (s.shadow.startedAt) j["shadow"] = comparisonToJson(s.shadow);
  putTime(j, "servingSince", s.servingSince);
  putString(j, "previousVersion", s.previousVersion);
  putTime(j, "drainingSince", s.drainingSince);
  putTime(j, "drainedAt", s.drainedAt);
  putTime(j, "outputDeletedAt", s.outputDeletedAt);
  if (!s.workerExits.empty()) {
    Json exits = Json::array();
    for (const auto& e : s.workerExits) {
      Json exit{{"pod", e.pod}, {"containerId", e.containerId}, {"exitCode", e.exitCode}};
      putString(exit, "reason", e.reason);
      putTime(exit, "finishedAt", e.finishedAt);
      exits.push_back(std::move(exit));
    }
    j["workerExits"] = std::move(exits);
  }
  if (!s.history.empty()) {
    Json history = Json::array();
    for (const auto& e : s.history) {
      Json h{{"time", formatTimeRfc3339(e.time)},
             {"from", phaseName(e.from)},
             {"to", phaseName(e.to)},
             {"actor", e.actor}};
      putString(h, "reason", e.reason);
      putString(h, "message", e.message);
      if (e.comparedKeys) h["comparedKeys"] = *e.comparedKeys;
      if (e.mismatchedKeys) h["mismatchedKeys"] = *e.mismatchedKeys;
      history.push_back(std::move(h));
    }
    j["history"] = std::move(history);
  }
  if (s.dryRun) j["dryRun"] = worker::dryRunToJson(*s.dryRun);
  return j;
}

namespace {

OtherVersion otherFrom(const ObjectMeta& meta, const Json& spec, const Status& status) {
  OtherVersion o;
  o.name = meta.name;
  o.version = str(spec, "version");
  o.creationTimestamp = meta.creationTimestamp;
  o.deleting = meta.deletionTimestamp.has_value();
  o.phase = status.phase;
  o.outputTopic = status.outputTopic;
  o.tapTopic = status.tapTopic;
  o.tapRate = num<uint32_t>(child(spec, "validation"), "tapRate", ValidationSpec{}.tapRate);
  o.consumerGroup = status.consumerGroup;
  o.drainedAt = status.drainedAt;
  o.retainOutputSeconds = num<int64_t>(child(spec, "promotion"), "retainOutputSeconds", 86400);
  o.outputDeleted = status.outputDeletedAt.has_value();
  o.bootstrapServers = str(child(spec, "kafka"), "bootstrapServers");
  std::string topic = str(child(spec, "output"), "topic");
  o.plannedOutputTopic = topic.empty() ? str(spec, "pipeline") + "." + o.version : topic;
  o.shadowSeconds = num<int64_t>(child(spec, "promotion"), "shadowSeconds", 0);
  o.validationTimeoutSeconds =
      num<int64_t>(child(spec, "validation"), "timeoutSeconds", ValidationSpec{}.timeoutSeconds);
  o.shadowDone = status.shadow.completedAt.has_value();
  o.sourcePipeline = str(child(spec, "source"), "pipeline");
  o.sourceVersion = status.source.version;
  o.sourceTopic = str(child(spec, "source"), "topic");
  if (o.sourceTopic.empty()) o.sourceTopic = status.source.topic;
  o.cascaded = !meta.cascadeUpstreamVersion.empty();
  return o;
}

}  // namespace

OtherVersion otherFromJson(const Json& obj) {
  return otherFrom(metaFromJson(obj), child(obj, "spec"), statusFromJson(child(obj, "status")));
}

CachedVersion cachedVersionFromJson(const Json& obj) {
  ObjectMeta meta = metaFromJson(obj);
  const Json& spec = child(obj, "spec");
  Status status = statusFromJson(child(obj, "status"));
  const Json& m = child(obj, "metadata");
  CachedVersion v;
  v.ns = str(m, "namespace");
  v.resourceVersion = str(m, "resourceVersion");
  v.pipeline = str(spec, "pipeline");
  v.other = otherFrom(meta, spec, status);
  v.servingSince = status.servingSince;
  v.lagMessages = status.lag.messages;
  v.lagSeconds = status.lag.seconds;
  v.progressPercent = status.replay.progressPercent;
  v.mismatchRatio = status.validation.mismatchRatio;
  v.shadowing = status.shadow.startedAt.has_value();
  v.shadowMismatchRatio = status.shadow.mismatchRatio;
  for (const auto& g : status.replay.stragglers) v.stragglers.emplace_back(g.partition, g.pod);
  for (const auto& c : status.conditions) {
    if (c.type == kRetentionSafe) {
      v.retentionAtRisk = c.status == ConditionStatus::kFalse && c.reason == "AtRisk";
    } else if (c.type == kValidated) {
      v.validationFailed = c.status == ConditionStatus::kFalse;
    } else if (c.type == kWorkerAvailable) {
      v.workerAvailable = c.status == ConditionStatus::kTrue;
    } else if (c.type == kShadowMatched) {
      v.shadowDrifted = c.status == ConditionStatus::kFalse;
    }
  }
  return v;
}

std::string keyOf(const CachedVersion& v) { return v.ns + "/" + v.other.name; }

const std::string& resourceVersionOf(const CachedVersion& v) { return v.resourceVersion; }

ServingAlias aliasFromJson(const Json& cm) {
  const Json& data = child(cm, "data");
  ServingAlias a;
  a.version = str(data, "version");
  a.topic = str(data, "topic");
  a.previousVersion = str(data, "previousVersion");
  a.promotedAt = timeField(data, "promotedAt");
  a.resourceVersion = str(child(cm, "metadata"), "resourceVersion");
  // Kept as text (ConfigMap data is strings); unreadable text keeps no flips.
  Json flips = Json::parse(str(data, "flips"), nullptr, false);
  if (flips.is_array()) {
    for (const auto& f : flips) {
      if (!f.is_object()) continue;
      a.flips.push_back(
          AliasFlip{str(f, "version"), str(f, "previousVersion"), str(f, "topic"),
                    timeField(f, "at"), str(f, "reason"),
                    f.contains("equal") && f["equal"].is_boolean() && f["equal"].get<bool>()});
    }
  }
  return a;
}

Json cascadedVersionToJson(const std::string& ns, const Json& serving,
                           const CreateCascadedVersion& a) {
  Json spec = child(serving, "spec");
  spec["version"] = a.version;
  if (spec.contains("output") && spec["output"].is_object()) spec["output"].erase("topic");
  // The modes the pipeline's own versions had before any cascade changed them, carried from
  // successor to successor: a flip validated equal gets them back.
  Json base =
      Json::parse(str(child(child(serving, "metadata"), "annotations"), "kappa.io/cascade-base"),
                  nullptr, false);
  if (!base.is_object()) {
    base = {{"validationMode", str(child(spec, "validation"), "mode").empty()
                                   ? "Sampled"
                                   : str(child(spec, "validation"), "mode")},
            {"promotionMode", str(child(spec, "promotion"), "mode").empty()
                                  ? "Auto"
                                  : str(child(spec, "promotion"), "mode")}};
  }
  spec["validation"]["mode"] = a.skipValidation ? "Skip" : str(base, "validationMode");
  spec["promotion"]["mode"] = a.manualPromotion ? "Manual" : str(base, "promotionMode");
  std::string pipeline = str(spec, "pipeline");
  std::string why = "pipeline " + a.upstreamPipeline + " flipped to version " + a.upstreamVersion +
                    (a.upstreamEqual ? " (validated equal)" : " (its output changed by intent)") +
                    "; cascaded from " + str(child(serving, "metadata"), "name");
  return Json{
      {"apiVersion", kApiVersion},
      {"kind", kKind},
      {"metadata",
       {{"name", a.name},
        {"namespace", ns},
        {"labels",
         {{"kappa.io/pipeline", pipeline},
          {"kappa.io/cascade-from", a.upstreamPipeline},
          {"kappa.io/cascade-upstream-version", a.upstreamVersion}}},
        {"annotations", {{"kappa.io/cascade", why}, {"kappa.io/cascade-base", base.dump()}}}}},
      {"spec", std::move(spec)}};
}

Json aliasToJson(const std::string& ns, const FlipAlias& flip,
                 const std::vector<AliasFlip>& earlier) {
  std::string at = formatTimeRfc3339(flip.promotedAt);
  Json flips = Json::array();
  flips.push_back(Json{{"version", flip.version},
                       {"previousVersion", flip.previousVersion},
                       {"topic", flip.topic},
                       {"at", at},
                       {"reason", flip.reason},
                       {"equal", flip.equal}});
  for (const auto& f : earlier) {
    if (flips.size() >= kAliasFlipsKept) break;
    flips.push_back(Json{{"version", f.version},
                         {"previousVersion", f.previousVersion},
                         {"topic", f.topic},
                         {"at", f.at ? formatTimeRfc3339(*f.at) : std::string()},
                         {"reason", f.reason},
                         {"equal", f.equal}});
  }
  return Json{{"apiVersion", "v1"},
              {"kind", "ConfigMap"},
              {"metadata",
               {{"name", flip.name},
                {"namespace", ns},
                {"labels",
                 {{"app.kubernetes.io/managed-by", "kappa-operator"},
                  {"kappa.io/pipeline", flip.pipeline}}}}},
              {"data",
               {{"pipeline", flip.pipeline},
                {"version", flip.version},
                {"topic", flip.topic},
                {"bootstrapServers", flip.bootstrapServers},
                {"promotedAt", at},
                {"previousVersion", flip.previousVersion},
                {"flips", flips.dump()}}}};
}

std::string builtinProgram(const Json& spec) {
  const Json& processor = child(spec, "processor");
  auto it = processor.find("builtin");
  return it != processor.end() ? it->dump() : std::string();
}

std::optional<ContainerProcessor> containerProcessor(const Json& spec) {
  const Json& processor = child(spec, "processor");
  auto it = processor.find("container");
  if (it == processor.end() || !it->is_object()) return std::nullopt;
  ContainerProcessor c;
  c.image = str(*it, "image");
  c.command = stringList(*it, "command");
  c.args = stringList(*it, "args");
  if (auto env = it->find("env"); env != it->end() && env->is_array()) {
    for (const auto& e : *env) c.env.emplace_back(str(e, "name"), str(e, "value"));
  }
  return c;
}

}  // namespace kappa::controllers
