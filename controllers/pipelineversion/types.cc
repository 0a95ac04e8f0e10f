#include "controllers/pipelineversion/types.h"

#include <algorithm>

namespace kappa::controllers {

std::string outputTopicName(const Spec& spec) {
  return spec.output.topic.empty() ? spec.pipeline + "." + spec.version : spec.output.topic;
}

std::string deadLetterTopicName(const std::string& outputTopic) { return outputTopic + ".dlq"; }

std::string tapTopicName(const std::string& outputTopic) { return outputTopic + ".tap"; }
std::string stateTopicName(const std::string& outputTopic) { return outputTopic + ".state"; }

std::string sourceTopic(const Spec& spec, const SourceStatus& source) {
  return spec.source.topic.empty() ? source.topic : spec.source.topic;
}

std::string workerName(const Spec& spec) { return spec.pipeline + "-" + spec.version; }

std::string replayQuotaName(const Spec& spec) { return workerName(spec) + "-replay"; }

std::string aliasName(const std::string& pipeline) { return pipeline + "-serving"; }

std::string consumerGroupName(const Spec& spec, const std::string& uid) {
  return "kappa." + spec.pipeline + "." + spec.version + "." + uid;
}

const char* phaseName(Phase p) {
  switch (p) {
    case Phase::kPending:
      return "Pending";
    case Phase::kProvisioning:
      return "Provisioning";
    case Phase::kReplaying:
      return "Replaying";
    case Phase::kValidating:
      return "Validating";
    case Phase::kAwaitingPromotion:
      return "AwaitingPromotion";
    case Phase::kPromoting:
      return "Promoting";
    case Phase::kServing:
      return "Serving";
    case Phase::kDraining:
      return "Draining";
    case Phase::kRetired:
      return "Retired";
    case Phase::kFailed:
      return "Failed";
    case Phase::kSuperseded:
      return "Superseded";
  }
  return "Unknown";
}

const char* conditionStatusName(ConditionStatus s) {
  switch (s) {
    case ConditionStatus::kTrue:
      return "True";
    case ConditionStatus::kFalse:
      return "False";
    case ConditionStatus::kUnknown:
      return "Unknown";
  }
  return "Unknown";
}

const char* profileName(WorkerProfile p) {
  return p == WorkerProfile::kReplay ? "replay" : "steady";
}

const Condition* findCondition(const Status& status, const std::string& type) {
  auto it = std::find_if(status.conditions.begin(), status.conditions.end(),
                         [&](const Condition& c) { return c.type == type; });
  return it == status.conditions.end() ? nullptr : &*it;
}

bool annotationSet(const ObjectMeta& meta, const std::string& key) {
  auto it = meta.annotations.find(key);
  return it != meta.annotations.end() && it->second == "true";
}

std::string formatTime(const std::optional<TimePoint>& t) {
  if (!t) return "none";
  return std::to_string(
      std::chrono::duration_cast<std::chrono::seconds>(t->time_since_epoch()).count());
}

std::ostream& operator<<(std::ostream& os, Phase p) { return os << phaseName(p); }
std::ostream& operator<<(std::ostream& os, ConditionStatus s) {
  return os << conditionStatusName(s);
}
std::ostream& operator<<(std::ostream& os, WorkerProfile p) { return os << profileName(p); }

std::ostream& operator<<(std::ostream& os, const Condition& c) {
  return os << "{" << c.type << "=" << c.status << " reason=" << c.reason << " message=\""
            << c.message << "\" since=" << formatTime(c.lastTransitionTime)
            << " gen=" << c.observedGeneration << "}";
}

std::ostream& operator<<(std::ostream& os, const LagStatus& l) {
  return os << "{messages=" << l.messages << " partitions=" << l.partitions
            << " consumed=" << l.consumed << " sampledAt=" << formatTime(l.sampledAt)
            << " seconds=" << l.seconds << (l.secondsEstimated ? "(estimated)" : "") << "}";
}

std::ostream& operator<<(std::ostream& os, const ReplayStatus& r) {
  os << "{startedAt=" << formatTime(r.startedAt) << " caughtUpAt=" << formatTime(r.caughtUpAt)
     << " progress=" << r.progressPercent << " rate=" << r.messagesPerSecond << " eta=";
  if (r.etaSeconds) {
    os << *r.etaSeconds;
  } else {
    os << "unknown";
  }
  return os << " withinSince=" << formatTime(r.lagWithinSince) << "}";
}

std::ostream& operator<<(std::ostream& os, const MismatchExample& e) {
  return os << "{key=" << e.key << " serving=" << e.serving.value_or("<none>")
            << " candidate=" << e.candidate.value_or("<none>") << " diff=" << e.diff << "}";
}

std::ostream& operator<<(std::ostream& os, const ValidationStatus& v) {
  os << "{serving=" << v.servingVersion << " startedAt=" << formatTime(v.startedAt)
     << " sampled=" << v.sampledKeys << " compared=" << v.comparedKeys
     << " mismatched=" << v.mismatchedKeys << " ratio=" << v.mismatchRatio
     << " completedAt=" << formatTime(v.completedAt) << " examples=[";
  for (const auto& e : v.examples) os << e;
  return os << "]}";
}

std::ostream& operator<<(std::ostream& os, const Status& s) {
  os << "Status{phase=" << s.phase << " reason=" << s.reason << " message=\"" << s.message
     << "\" observedGeneration=" << s.observedGeneration << " conditions=[";
  for (const auto& c : s.conditions) os << c;
  return os << "] consumerGroup=" << s.consumerGroup << " outputTopic=" << s.outputTopic
            << " source=" << s.source.pipeline << "/" << s.source.version << ":" << s.source.topic
            << " lag=" << s.lag << " replay=" << s.replay << " validation=" << s.validation
            << " servingSince=" << formatTime(s.servingSince)
            << " previousVersion=" << s.previousVersion
            << " drainingSince=" << formatTime(s.drainingSince)
            << " drainedAt=" << formatTime(s.drainedAt)
            << " outputDeletedAt=" << formatTime(s.outputDeletedAt) << "}";
}

}  // namespace kappa::controllers
