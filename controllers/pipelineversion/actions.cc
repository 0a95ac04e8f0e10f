#include "controllers/pipelineversion/actions.h"

namespace kappa::controllers {
namespace {

template <typename Map>
void printMap(std::ostream& os, const Map& m) {
  os << "{";
  const char* sep = "";
  for (const auto& [k, v] : m) {
    os << sep << k << ":" << v;
    sep = ",";
  }
  os << "}";
}

void printList(std::ostream& os, const std::vector<std::string>& v) {
  os << "[";
  const char* sep = "";
  for (const auto& s : v) {
    os << sep << s;
    sep = ",";
  }
  os << "]";
}

struct Printer {
  std::ostream& os;

  void operator()(const AddFinalizer&) { os << "AddFinalizer"; }
  void operator()(const RemoveFinalizer&) { os << "RemoveFinalizer"; }
  void operator()(const RemoveAnnotation& a) { os << "RemoveAnnotation{" << a.key << "}"; }
  void operator()(const CreateTopics& a) {
    os << "CreateTopics{";
    for (const auto& t : a.topics) {
      os << "{" << t.name << " partitions=" << t.partitions << " rf=" << t.replicationFactor
         << " config=";
      printMap(os, t.config);
      os << "}";
    }
    os << "}";
  }
  void operator()(const DeleteTopics& a) {
    os << "DeleteTopics";
    printList(os, a.topics);
  }
  void operator()(const DeleteConsumerGroup& a) { os << "DeleteConsumerGroup{" << a.group << "}"; }
  void operator()(const EnsureWorker& a) {
    os << "EnsureWorker{" << a.name << " profile=" << a.profile << " replicas=" << a.replicas
       << " priorityClass=" << a.priorityClassName << " requests=";
    printMap(os, a.resources.requests);
    os << " limits=";
    printMap(os, a.resources.limits);
    os << " group=" << a.consumerGroup << " source=" << a.sourceTopic << " output=" << a.outputTopic
       << "}";
  }
  void operator()(const DeleteWorker& a) { os << "DeleteWorker{" << a.name << "}"; }
  void operator()(const EnsureReplayQuota& a) {
    os << "EnsureReplayQuota{" << a.name << " priorityClass=" << a.priorityClassName << " hard=";
    printMap(os, a.hard);
    os << "}";
  }
  void operator()(const DeleteReplayQuota& a) { os << "DeleteReplayQuota{" << a.name << "}"; }
  void operator()(const RunValidation& a) {
    os << "RunValidation{requestedAt=" << formatTime(a.requestedAt)
       << " serving=" << a.servingVersion << "/" << a.servingTopic
       << " candidate=" << a.candidateTopic;
    if (!a.servingTap.empty()) os << " taps=" << a.servingTap << "," << a.candidateTap;
    os << " sampleKeys=" << a.sampleKeys << " compare=";
    printList(os, a.compareFields);
    os << " ignore=";
    printList(os, a.ignoreFields);
    os << " tolerance=" << a.numericTolerance << "}";
  }
  void operator()(const FlipAlias& a) {
    os << "FlipAlias{" << a.name
       << " expectedResourceVersion=" << a.expectedResourceVersion.value_or("<create>")
       << " version=" << a.version << " topic=" << a.topic
       << " previousVersion=" << a.previousVersion << " promotedAt=" << formatTime(a.promotedAt)
       << " reason=" << a.reason << " equal=" << a.equal << "}";
  }
  void operator()(const CreateCascadedVersion& a) {
    os << "CreateCascadedVersion{" << a.name << " version=" << a.version
       << " upstream=" << a.upstreamPipeline << "/" << a.upstreamVersion << ":" << a.upstreamTopic
       << " equal=" << a.upstreamEqual << " skipValidation=" << a.skipValidation
       << " manualPromotion=" << a.manualPromotion << "}";
  }
  void operator()(const RecordEvent& a) {
    os << "RecordEvent{" << (a.type == EventType::kNormal ? "Normal" : "Warning") << " " << a.reason
       << " \"" << a.message << "\"}";
  }
};

}  // namespace

std::ostream& operator<<(std::ostream& os, const Action& a) {
  std::visit(Printer{os}, a);
  return os;
}

}  // namespace kappa::controllers
