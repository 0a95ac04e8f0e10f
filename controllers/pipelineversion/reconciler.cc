#include "controllers/pipelineversion/reconciler.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <sstream>

#include "controllers/pipelineversion/codec.h"
#include "runtime/kafka/history_sample.h"
#include "runtime/kafka/lag_monitor.h"
#include "runtime/kafka/retention_preflight.h"
#include "runtime/kube/kube_config.h"
#include "runtime/worker/dry_run.h"
#include "runtime/worker/program.h"

namespace kappa::controllers {

using kube::Json;

ObjectKey parseObjectKey(const std::string& key) {
  auto slash = key.find('/');
  if (slash == std::string::npos) return ObjectKey{"", key};
  return ObjectKey{key.substr(0, slash), key.substr(slash + 1)};
}

kube::Resource pipelineVersions() {
  return kube::Resource{"kappa.io", "v1alpha1", "pipelineversions"};
}

namespace {

// The JSON-pointer form of one path segment (RFC 6901).
std::string pointerSegment(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

bool succeededOr(const Result<void>& r, ErrorCode tolerated) {
  return r.ok() || r.error().code == tolerated;
}

Result<void> voidOf(const Result<Json>& r) {
  if (!r.ok()) return r.error();
  return {};
}

// The records in `topic` (nullopt: no such topic).
Result<std::optional<int64_t>> existingRecords(kafka::KafkaAdmin& admin, const std::string& topic) {
  auto described = admin.describeTopic(topic);
  if (!described.ok()) {
    if (described.error().code == ErrorCode::kNotFound) return std::optional<int64_t>();
    return described.error();
  }
  auto end = admin.endOffsets(topic);
  if (!end.ok()) return end.error();
  auto start = admin.earliestOffsets(topic);
  if (!start.ok()) return start.error();
  int64_t records = 0;
  for (const auto& [partition, offset] : *end) {
    auto it = start->find(partition);
    records += offset - (it == start->end() ? 0 : it->second);
  }
  return std::optional<int64_t>(records);
}

kube::Outcome retryable(const std::string& what, const Error& e) {
  return kube::Outcome::retry(what + ": " + e.message);
}

}  // namespace

struct Reconciler::Pass {
  ObjectKey key;
  Json obj;  // the object as last read or written
  Observed observed;
  KafkaClients kafka;
  TimePoint now;
};

Reconciler::Reconciler(Ports ports, ReconcilerOptions options,
                       std::function<void(const std::string& key)> onValidationDone)
    : ports_(ports),
      options_(std::move(options)),
      validations_(std::move(onValidationDone), ports.clock) {}

Result<std::vector<TopicClaim>> Reconciler::claims(const ObjectKey& key,
                                                   const std::set<std::string>& topics) {
  std::vector<TopicClaim> out;
  auto add = [&](const std::string& ns, const OtherVersion& v) {
    if (ns == key.ns && v.name == key.name) return;
    if (v.outputDeleted) return;
    // A version that has not provisioned yet claims its planned topic too: of two that want
    // the same one, the older gets it.
    const std::string& topic = v.outputTopic.empty() ? v.plannedOutputTopic : v.outputTopic;
    if (!topics.contains(topic)) return;  // only this version's topics matter to it
    out.push_back(TopicClaim{topic, v.bootstrapServers, ns, v.name});
  };
  if (ports_.cache) {
    for (const auto& v : ports_.cache->list()) add(v->ns, v->other);
    return out;
  }
  auto list = ports_.kube.listAll(kube::CollectionRef{pipelineVersions(), ""}, {});
  if (!list.ok()) return list.error();
  for (const auto& o : list->items) add(kube::namespaceOf(o), otherFromJson(o));
  return out;
}

Result<std::vector<OtherVersion>> Reconciler::siblings(const ObjectKey& key,
                                                       const std::string& pipeline) {
  std::vector<OtherVersion> out;
  auto visited = forEachVersion(key.ns, [&](const std::string& p, const OtherVersion& v) {
    if (v.name != key.name && p == pipeline) out.push_back(v);
  });
  if (!visited.ok()) return visited.error();
  return out;
}

Result<std::map<std::string, std::string>> Reconciler::kafkaCredentials(const ObjectKey& key,
                                                                        const Json& obj,
                                                                        const std::string& secret) {
  std::map<std::string, std::string> props;
  if (secret.empty()) return props;
  auto got = ports_.kube.get(
      kube::ObjectRef{kube::Resource{"", "v1", "secrets", true}, key.ns, secret, ""});
  if (!got.ok()) {
    // Like a Pod waiting for its Secret: retried with backoff, and said where users look.
    std::string why =
        got.error().code == ErrorCode::kNotFound
            ? "Secret " + key.ns + "/" + secret + " (spec.kafka.credentialsSecret)" + " not found"
            : "reading Secret " + key.ns + "/" + secret + ": " + got.error().message;
    ports_.events.record(obj, kube::EventType::kWarning, "KafkaCredentials", "KafkaCredentials",
                         why);
    return Error{got.error().code, why};
  }
  auto data = got->find("data");
  if (data == got->end() || !data->is_object()) return props;
  for (const auto& [k, v] : data->items()) {
    if (!v.is_string()) continue;
    auto decoded = kube::decodeBase64(v.get<std::string>());
    if (!decoded.ok()) {
      return Error{ErrorCode::kInvalidArgument, "Secret " + key.ns + "/" + secret + " key " + k +
                                                    ": " + decoded.error().message};
    }
    props[k] = std::move(*decoded);
  }
  return props;
}

std::optional<kube::Outcome> Reconciler::gatherKafka(Pass& p) {
  KafkaFacts& k = p.observed.kafka;
  const Spec& spec = p.observed.spec;
  const Status& st = p.observed.status;
  kafka::KafkaAdmin& admin = *p.kafka.admin;
  bool deleting = p.observed.meta.deletionTimestamp.has_value();
  Phase phase = st.phase;
  auto in = [&](std::initializer_list<Phase> phases) {
    return !deleting && std::find(phases.begin(), phases.end(), phase) != phases.end();
  };

  auto exists = [&](const std::string& topic) -> Result<std::optional<int32_t>> {
    auto d = admin.describeTopic(topic);
    if (d.ok()) return std::optional<int32_t>(d->partitions);
    if (d.error().code == ErrorCode::kNotFound) return std::optional<int32_t>();
    return d.error();
  };

  // Fixed in status once resolved; in Pending, what the upstream alias names now ("" when
  // it names nothing: decide() waits).
  std::string source = sourceTopic(spec, st.source);
  if (source.empty() && p.observed.upstream) source = p.observed.upstream->topic;
  if (in({Phase::kPending, Phase::kProvisioning}) && !source.empty()) {
    auto src = exists(source);
    if (!src.ok()) return retryable("describing the source topic", src.error());
    k.sourcePartitions = *src;
  }
  if (in({Phase::kPending})) {
    // An output topic that exists before this version created it is someone else's.
    auto records = existingRecords(admin, outputTopicName(spec));
    if (!records.ok()) return retryable("reading the planned output topic", records.error());
    k.existingOutputRecords = *records;
    auto state = existingRecords(admin, stateTopicName(outputTopicName(spec)));
    if (!state.ok()) return retryable("reading the planned state changelog", state.error());
    k.existingStateRecords = *state;
  }
  bool cleanup = deleting || in({Phase::kDraining, Phase::kRetired, Phase::kSuperseded}) ||
                 (in({Phase::kFailed}) && st.reason == kAbortedReason);
  if (!st.outputTopic.empty() && (cleanup || in({Phase::kProvisioning}))) {
    auto out = exists(st.outputTopic);
    if (!out.ok()) return retryable("describing the output topic", out.error());
    auto dlq = exists(deadLetterTopicName(st.outputTopic));
    if (!dlq.ok()) return retryable("describing the dead-letter topic", dlq.error());
    k.outputTopicExists = out->has_value();
    k.deadLetterTopicExists = dlq->has_value();
    if (!st.tapTopic.empty()) {
      auto tap = exists(st.tapTopic);
      if (!tap.ok()) return retryable("describing the tap topic", tap.error());
      k.tapTopicExists = tap->has_value();
    }
    if (!st.stateTopic.empty()) {
      auto state = exists(st.stateTopic);
      if (!state.ok()) return retryable("describing the state changelog topic", state.error());
      k.stateTopicExists = state->has_value();
    }
  }
  if (cleanup && !st.consumerGroup.empty()) {
    // A group that has committed nothing on the source holds nothing worth deleting.
    auto committed = admin.committedOffsets(st.consumerGroup, source);
    if (!committed.ok() && committed.error().code == ErrorCode::kNotFound) {
      // The source topic is gone (an upstream tier's output, deleted once no reader held
      // it): the group holds offsets of a topic that no longer exists, which the broker
      // expires; waiting for it would hold this version's cleanup forever.
      k.consumerGroupExists = false;
    } else if (!committed.ok()) {
      return retryable("reading the consumer group", committed.error());
    } else {
      k.consumerGroupExists = !committed->empty();
    }
  }
  {
    std::lock_guard lock(mu_);
    auto it = topicCreateErrors_.find(p.key.str());
    if (it != topicCreateErrors_.end()) k.topicCreateError = it->second;
  }
  bool topicsReady = k.outputTopicExists && k.deadLetterTopicExists;
  // Replaying reads the broker once per kLagSampleInterval, not on every pass.
  bool sampleDue = in({Phase::kReplaying}) && lagSampleDue(spec.catchUp, st, p.now);
  if ((in({Phase::kProvisioning}) && topicsReady) || sampleDue) {
    double rate =
        st.replay.messagesPerSecond > 0 ? st.replay.messagesPerSecond : options_.assumedReplayRate;
    auto report = kafka::runPreflight(admin, source, rate, p.now);
    if (!report.ok()) return retryable("retention preflight", report.error());
    k.retention = *report;
  }
  // Once every topic decide() waits for exists: a pass that still creates one keeps nothing.
  bool allTopicsReady = topicsReady && (st.tapTopic.empty() || k.tapTopicExists) &&
                        (st.stateTopic.empty() || k.stateTopicExists);
  if (in({Phase::kProvisioning}) && allTopicsReady && spec.replay.dryRunSamples > 0 && !st.dryRun) {
    // A container processor has no program; Pending refused one that does not parse.
    std::string text = builtinProgram(p.obj.value("spec", Json::object()));
    auto program = worker::parseProgram(text);
    if (!text.empty() && program.ok()) {
      auto started = std::chrono::steady_clock::now();
      auto sample = kafka::sampleHistory(admin, source, spec.replay.dryRunSamples);
      if (!sample.ok()) return retryable("sampling the source for the dry run", sample.error());
      k.dryRun = worker::dryRun(*program, sample->records, sample->sizes);
      spdlog::info("{}: dry run on {}: {} ({} ms)", p.key.str(), source,
                   worker::dryRunSummary(*k.dryRun),
                   std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::steady_clock::now() - started)
                       .count());
    }
  }
  if (sampleDue) {
    LagHistory* history = nullptr;
    kafka::StragglerRule rule{.window = Seconds{spec.replay.stragglerWindowSeconds}};
    {
      // Only this key's pass uses its entry, and map nodes stay put: the pointer outlives
      // the lock.
      std::lock_guard lock(mu_);
      LagHistory& h = lagHistories_[p.key.str()];
      if (h.consumerGroup != st.consumerGroup)
        h = LagHistory{st.consumerGroup, kafka::EndOffsetHistory(), kafka::ProgressWindow(rule)};
      if (!(h.progress.rule() == rule)) h.progress = kafka::ProgressWindow(rule);
      history = &h;
    }
    kafka::LagMonitor monitor(admin);
    auto lag = monitor.sample(st.consumerGroup, source, p.now, &history->ends);
    if (!lag.ok()) return retryable("sampling the lag", lag.error());
    k.lag = *lag;
    if (spec.replay.stragglerWindowSeconds > 0) {
      history->progress.add(*lag);
      k.stragglers = history->progress.stragglers();
    }
    if (k.stragglers && !k.stragglers->empty()) {
      // Who holds them: a pod to look at. Unknown when the group cannot be described now.
      auto members = admin.groupMembers(st.consumerGroup, source);
      for (const auto& m : members.ok() ? *members : std::vector<kafka::GroupMember>{}) {
        for (int32_t partition : m.partitions) k.stragglerHolders[partition] = m;
      }
    }
  } else if (!in({Phase::kReplaying})) {
    std::lock_guard lock(mu_);
    lagHistories_.erase(p.key.str());
  }
  // Comparisons run in Validating, and in Serving for the shadow after the flip.
  if (in({Phase::kValidating, Phase::kServing})) k.validation = validations_.get(p.key.str());
  return {};
}

WorkerRequest Reconciler::workerRequest(const Pass& p, const EnsureWorker& a) const {
  const Spec& spec = p.observed.spec;
  const Json& specJson = p.obj["spec"];
  WorkerRequest r;
  r.ns = p.key.ns;
  r.name = a.name;
  r.pipeline = spec.pipeline;
  r.version = spec.version;
  r.owner = Owner{kApiVersion, kKind, p.key.name, p.observed.meta.uid};
  r.profile = a.profile;
  r.replicas = a.replicas;
  r.resources = a.resources;
  r.priorityClassName = a.priorityClassName;
  r.env = {
      {"KAPPA_BOOTSTRAP_SERVERS", spec.kafka.bootstrapServers},
      {"KAPPA_SOURCE_TOPIC", a.sourceTopic},
      {"KAPPA_OUTPUT_TOPIC", a.outputTopic},
      {"KAPPA_DLQ_TOPIC", deadLetterTopicName(a.outputTopic)},
      {"KAPPA_CONSUMER_GROUP", a.consumerGroup},
      {"KAPPA_START_OFFSET", "earliest"},
      // Unique per object like the group; each replica appends its KAPPA_REPLICA_ID.
      {"KAPPA_TRANSACTIONAL_ID", a.consumerGroup},
      {"KAPPA_PIPELINE", spec.pipeline},
      {"KAPPA_VERSION", spec.version},
  };
  if (!a.tapTopic.empty()) {
    r.env.emplace_back("KAPPA_TAP_TOPIC", a.tapTopic);
    r.env.emplace_back("KAPPA_TAP_RATE", std::to_string(spec.validation.tapRate));
  }
  if (!a.stateTopic.empty()) r.env.emplace_back("KAPPA_STATE_TOPIC", a.stateTopic);
  r.container = containerProcessor(specJson);
  r.kafkaCredentialsSecret = spec.kafka.credentialsSecret;
  if (!r.container) {
    // (Its KAPPA_METRICS_ADDRESS comes with the Pod's named port: the workload runner's.)
    r.env.emplace_back("KAPPA_PROGRAM", builtinProgram(specJson));
  }
  return r;
}

namespace {

// The JSON patch of a metadata action (nullopt: nothing to change). Each is guarded by a
// "test" op, so a concurrent writer makes it fail (409) instead of being overwritten.
std::optional<Json> metadataPatch(const Json& obj, const Action& action) {
  const Json& meta = obj["metadata"];
  if (std::holds_alternative<AddFinalizer>(action)) {
    // "add" on a missing list would otherwise replace one created meanwhile.
    Json ops = Json::array();
    ops.push_back({{"op", "test"},
                   {"path", "/metadata/resourceVersion"},
                   {"value", kube::resourceVersionOf(obj)}});
    if (meta.contains("finalizers") && meta["finalizers"].is_array()) {
      ops.push_back({{"op", "add"}, {"path", "/metadata/finalizers/-"}, {"value", kFinalizer}});
    } else {
      ops.push_back(
          {{"op", "add"}, {"path", "/metadata/finalizers"}, {"value", Json::array({kFinalizer})}});
    }
    return ops;
  }
  if (std::holds_alternative<RemoveFinalizer>(action)) {
    // test + remove by index: removes exactly our entry, never another controller's.
    const Json& list = meta.contains("finalizers") ? meta["finalizers"] : Json::array();
    for (size_t i = 0; i < list.size(); ++i) {
      if (list[i] != kFinalizer) continue;
      std::string path = "/metadata/finalizers/" + std::to_string(i);
      return Json::array({{{"op", "test"}, {"path", path}, {"value", kFinalizer}},
                          {{"op", "remove"}, {"path", path}}});
    }
    return std::nullopt;
  }
  const auto& a = std::get<RemoveAnnotation>(action);
  if (!meta.contains("annotations") || !meta["annotations"].contains(a.key)) return std::nullopt;
  std::string path = "/metadata/annotations/" + pointerSegment(a.key);
  return Json::array({{{"op", "test"}, {"path", path}, {"value", meta["annotations"][a.key]}},
                      {{"op", "remove"}, {"path", path}}});
}

// Topics that exist already count as created; a terminal refusal is also put in *refused.
Result<void> createTopics(kafka::KafkaAdmin& admin, const CreateTopics& a, std::string* refused) {
  for (const auto& t : a.topics) {
    auto r =
        admin.createTopic(kafka::TopicSpec{t.name, t.partitions, t.replicationFactor, t.config});
    if (succeededOr(r, ErrorCode::kAlreadyExists)) continue;
    if (classify(r.error()) == ErrorClass::kTerminal) *refused = t.name + ": " + r.error().message;
    return r.error();
  }
  return {};
}

Result<void> deleteKafkaObjects(kafka::KafkaAdmin& admin, const Action& action) {
  if (const auto* group = std::get_if<DeleteConsumerGroup>(&action)) {
    auto r = admin.deleteGroup(group->group);
    if (!succeededOr(r, ErrorCode::kNotFound)) return r.error();
    return {};
  }
  for (const auto& t : std::get<DeleteTopics>(action).topics) {
    auto r = admin.deleteTopic(t);
    if (!succeededOr(r, ErrorCode::kNotFound)) return r.error();
  }
  return {};
}

// An update with the resourceVersion decide() saw, or a create: never a blind write, so two
// candidates cannot both win. A create that finds the alias there is a conflict.
Result<void> flipAlias(kube::KubeApi& kube, const std::string& ns, const FlipAlias& a,
                       const std::vector<AliasFlip>& earlier, const std::string& fieldManager) {
  Json cm = aliasToJson(ns, a, earlier);
  kube::WriteOptions options{fieldManager, false};
  if (a.expectedResourceVersion) {
    cm["metadata"]["resourceVersion"] = *a.expectedResourceVersion;
    return voidOf(
        kube.update(kube::ObjectRef{kube::resources::configMaps(), ns, a.name, ""}, cm, options));
  }
  auto r = kube.create(kube::CollectionRef{kube::resources::configMaps(), ns}, cm, options);
  if (!r.ok() && r.error().code == ErrorCode::kAlreadyExists) {
    return Error{ErrorCode::kConflict, r.error().message};
  }
  return voidOf(r);
}

}  // namespace

Result<void> Reconciler::execute(Pass& p, const Action& action) {
  const std::string& ns = p.key.ns;
  WorkloadRunner& runner = ports_.workloads;
  Owner owner{kApiVersion, kKind, p.key.name, p.observed.meta.uid};
  return std::visit(
      [&](const auto& a) -> Result<void> {
        using A = std::decay_t<decltype(a)>;
        if constexpr (std::is_same_v<A, AddFinalizer> || std::is_same_v<A, RemoveFinalizer> ||
                      std::is_same_v<A, RemoveAnnotation>) {
          auto ops = metadataPatch(p.obj, action);
          if (!ops) return {};
          auto r = ports_.kube.patch(kube::ObjectRef{pipelineVersions(), ns, p.key.name, ""},
                                     kube::PatchType::kJson, *ops,
                                     kube::PatchOptions{options_.fieldManager, false, false});
          if (!r.ok()) return r.error();
          p.obj = std::move(*r);
          return {};
        } else if constexpr (std::is_same_v<A, CreateTopics>) {
          std::string refused;
          auto r = createTopics(*p.kafka.admin, a, &refused);
          if (!refused.empty()) {
            std::lock_guard lock(mu_);
            topicCreateErrors_[p.key.str()] = refused;
          }
          return r;
        } else if constexpr (std::is_same_v<A, DeleteTopics> ||
                             std::is_same_v<A, DeleteConsumerGroup>) {
          return deleteKafkaObjects(*p.kafka.admin, action);
        } else if constexpr (std::is_same_v<A, EnsureWorker>) {
          return runner.ensureWorker(workerRequest(p, a));
        } else if constexpr (std::is_same_v<A, DeleteWorker>) {
          return runner.deleteWorker(ns, a.name);
        } else if constexpr (std::is_same_v<A, EnsureReplayQuota>) {
          return runner.ensureReplayQuota(
              ReplayQuotaRequest{ns, a.name, owner, a.priorityClassName, a.hard});
        } else if constexpr (std::is_same_v<A, DeleteReplayQuota>) {
          return runner.deleteReplayQuota(ns, a.name);
        } else if constexpr (std::is_same_v<A, RunValidation>) {
          validations_.start(p.key.str(), a, p.kafka.comparator);
          return {};
        } else if constexpr (std::is_same_v<A, FlipAlias>) {
          // The flips the CAS precondition saw; none when the alias is created.
          const auto& alias = p.observed.alias;
          return flipAlias(
              ports_.kube, ns, a,
              alias && a.expectedResourceVersion ? alias->flips : std::vector<AliasFlip>{},
              options_.fieldManager);
        } else if constexpr (std::is_same_v<A, CreateCascadedVersion>) {
          // The name is the flip's: one that exists already was made by an earlier pass. Looked
          // up first: the admission webhook, which runs before storage, would refuse the
          // repeated create as a duplicate version rather than let it find the object there.
          auto existing = ports_.kube.get(kube::ObjectRef{pipelineVersions(), ns, a.name, ""});
          if (existing.ok()) return {};
          if (existing.error().code != ErrorCode::kNotFound) return existing.error();
          auto r = ports_.kube.create(kube::CollectionRef{pipelineVersions(), ns},
                                      cascadedVersionToJson(ns, p.obj, a),
                                      kube::WriteOptions{options_.fieldManager, false});
          if (!r.ok() && r.error().code != ErrorCode::kAlreadyExists) return r.error();
          return {};
        } else if constexpr (std::is_same_v<A, RecordEvent>) {
          ports_.events.record(
              p.obj,
              a.type == EventType::kWarning ? kube::EventType::kWarning : kube::EventType::kNormal,
              a.reason, a.reason, a.message);
          return {};
        }
      },
      action);
}

void Reconciler::forget(const ObjectKey& key) {
  validations_.forget(key.str());
  std::lock_guard lock(mu_);
  topicCreateErrors_.erase(key.str());
  lagHistories_.erase(key.str());
}

std::optional<std::pair<std::string, Error>> Reconciler::observeNeighbours(const ObjectKey& key,
                                                                           Observed& o) {
  auto alias = ports_.kube.get(
      kube::ObjectRef{kube::resources::configMaps(), key.ns, aliasName(o.spec.pipeline), ""});
  if (alias.ok()) {
    o.alias = aliasFromJson(*alias);
  } else if (alias.error().code != ErrorCode::kNotFound) {
    return std::pair{"reading the serving alias", alias.error()};
  }
  auto others = siblings(key, o.spec.pipeline);
  if (!others.ok()) return std::pair{"listing versions of " + o.spec.pipeline, others.error()};
  o.others = std::move(*others);
  std::set<std::string> mine{outputTopicName(o.spec)};
  if (!o.status.outputTopic.empty()) mine.insert(o.status.outputTopic);
  auto claims = this->claims(key, mine);
  if (!claims.ok()) return std::pair{"listing the output topics in use", claims.error()};
  o.claims = std::move(*claims);
  if (!o.spec.source.pipeline.empty()) {
    auto upstream = ports_.kube.get(kube::ObjectRef{kube::resources::configMaps(), key.ns,
                                                    aliasName(o.spec.source.pipeline), ""});
    if (upstream.ok()) {
      o.upstream = aliasFromJson(*upstream);
    } else if (upstream.error().code != ErrorCode::kNotFound) {
      return std::pair{"reading the alias of source pipeline " + o.spec.source.pipeline,
                       upstream.error()};
    }
  }
  // Only the phases that decide on them look at the other tiers: a version that may be read
  // (it holds its worker and output while read), and one that resolves its source.
  Phase phase = o.status.phase;
  bool read = o.meta.deletionTimestamp || phase == Phase::kDraining || phase == Phase::kRetired;
  bool resolving = !o.spec.source.pipeline.empty() && phase == Phase::kPending;
  if (!read && !resolving) return std::nullopt;
  auto visited = forEachVersion(key.ns, [&](const std::string& pipeline, const OtherVersion& v) {
    bool running = !v.deleting && v.phase != Phase::kRetired && v.phase != Phase::kFailed &&
                   v.phase != Phase::kSuperseded;
    // The edges of live versions only: one failed or retired long ago says nothing of what
    // the pipeline reads now.
    if (resolving && running && !v.sourcePipeline.empty()) {
      o.pipelineSources[pipeline].insert(v.sourcePipeline);
    }
    if (read && running && v.sourcePipeline == o.spec.pipeline &&
        v.sourceVersion == o.spec.version) {
      o.readers.push_back(Reader{pipeline, v.name, v.phase});
    }
  });
  if (!visited.ok()) return std::pair{"listing the versions of " + key.ns, visited.error()};
  return std::nullopt;
}

Result<void> Reconciler::forEachVersion(
    const std::string& ns,
    const std::function<void(const std::string& pipeline, const OtherVersion&)>& visit) {
  if (ports_.cache) {
    for (const auto& o : ports_.cache->listNamespace(ns)) visit(o->pipeline, o->other);
    return {};
  }
  auto list = ports_.kube.listAll(kube::CollectionRef{pipelineVersions(), ns}, {});
  if (!list.ok()) return list.error();
  for (const auto& o : list->items) {
    const Json& spec = o.value("spec", Json::object());
    visit(spec.is_object() ? spec.value("pipeline", "") : "", otherFromJson(o));
  }
  return {};
}

void Reconciler::checkProgram(const Json& object, Observed& o) {
  auto spec = object.find("spec");
  if (spec == object.end() || !spec->is_object()) return;
  std::string program = builtinProgram(*spec);
  if (program.empty()) return;  // a container processor
  auto parsed = worker::parseProgram(program);
  if (!parsed.ok()) {
    o.programError = parsed.error().message;
  } else {
    o.programKeepsState = worker::usesStateChangelog(*parsed);
  }
}

std::optional<Refusal> Reconciler::admit(const Json& object) {
  if (!object.is_object() || !object.contains("spec")) return std::nullopt;
  ObjectKey key{kube::namespaceOf(object), kube::nameOf(object)};
  Observed o;
  o.meta = metaFromJson(object);
  // Not created yet: it is the newest of all.
  if (o.meta.creationTimestamp == TimePoint{}) o.meta.creationTimestamp = ports_.clock.now();
  auto spec = specFromJson(object.at("spec"));
  if (!spec.ok()) return std::nullopt;  // the CRD schema's to refuse
  o.spec = std::move(*spec);
  if (auto failed = observeNeighbours(key, o)) {
    spdlog::warn("msg=\"admission check skipped\" object={} step=\"{}\" error=\"{}\"", key.str(),
                 failed->first, failed->second.message);
    return std::nullopt;
  }
  checkProgram(object, o);
  if (auto refusal = ownershipRefusal(o)) return refusal;
  if (auto refusal = programRefusal(o)) return refusal;
  return sourceRefusal(o);
}

std::optional<kube::Outcome> Reconciler::observe(Pass& p) {
  const ObjectKey& key = p.key;
  Observed& o = p.observed;
  if (auto failed = observeNeighbours(key, o)) return retryable(failed->first, failed->second);
  if (o.status.phase == Phase::kPending && !o.meta.deletionTimestamp) checkProgram(p.obj, o);

  auto credentials = kafkaCredentials(key, p.obj, o.spec.kafka.credentialsSecret);
  if (!credentials.ok()) return retryable("reading Kafka credentials", credentials.error());
  auto clients = ports_.kafka.connect(o.spec.kafka, *credentials);
  if (!clients.ok()) return retryable("connecting to Kafka", clients.error());
  p.kafka = *clients;
  p.now = roundToMicros(ports_.clock.now());
  // The worker before Kafka: a worker seen gone has made its last commit, so the group and
  // topics read after it are final.
  std::string worker = workerName(o.spec);
  auto state = ports_.workloads.observeWorker(key.ns, worker);
  if (!state.ok()) return retryable("observing worker " + worker, state.error());
  o.worker = *state;
  if (auto stopped = gatherKafka(p)) return stopped;
  if (!o.spec.replay.quota.empty()) {
    auto quota = ports_.workloads.replayQuota(key.ns, replayQuotaName(o.spec));
    if (!quota.ok()) return retryable("reading the replay quota", quota.error());
    o.replayQuota = *quota;
  }
  return std::nullopt;
}

std::optional<kube::Outcome> Reconciler::writeStatus(Pass& p, const Status& status) {
  Json body = p.obj;
  body["status"] = statusToJson(status);
  auto written =
      ports_.kube.updateStatus(kube::ObjectRef{pipelineVersions(), p.key.ns, p.key.name, ""}, body,
                               kube::WriteOptions{options_.fieldManager, false});
  if (!written.ok()) {
    if (classify(written.error()) == ErrorClass::kConflict) {
      // Changed since it was read: no action of this decision runs; read and decide again.
      return kube::Outcome::requeueAfter(Seconds{0}, "status write conflict");
    }
    return retryable("writing status", written.error());
  }
  p.obj = std::move(*written);
  const Status& before = p.observed.status;
  if (status.phase != before.phase) {
    spdlog::info("msg=\"phase changed\" key={} from={} to={} message=\"{}\"", p.key.str(),
                 phaseName(before.phase), phaseName(status.phase), status.message);
  }
  return std::nullopt;
}

std::optional<kube::Outcome> Reconciler::runActions(Pass& p, const std::vector<Action>& actions) {
  for (const auto& action : actions) {
    auto r = execute(p, action);
    if (r.ok()) continue;
    std::ostringstream what;
    what << action;
    const Error& e = r.error();
    spdlog::warn("msg=\"action failed\" key={} action=\"{}\" code={} error=\"{}\"", p.key.str(),
                 what.str(), errorCodeName(e.code), e.message);
    ErrorClass c = classify(e);
    // A conflict: read and decide again. A terminal topic creation error is fed back as
    // KafkaFacts::topicCreateError: the next pass fails the version.
    if (c == ErrorClass::kConflict ||
        (c == ErrorClass::kTerminal && std::holds_alternative<CreateTopics>(action))) {
      return kube::Outcome::requeueAfter(Seconds{0}, what.str() + ": " + e.message);
    }
    return retryable(what.str(), e);
  }
  return std::nullopt;
}

kube::Outcome Reconciler::reconcile(const ObjectKey& key) {
  Pass p;
  p.key = key;
  auto got = ports_.kube.get(kube::ObjectRef{pipelineVersions(), key.ns, key.name, ""});
  if (!got.ok()) {
    if (got.error().code != ErrorCode::kNotFound) {
      return retryable("reading " + key.str(), got.error());
    }
    forget(key);
    return kube::Outcome::done();
  }
  p.obj = std::move(*got);
  Observed& o = p.observed;
  o.meta = metaFromJson(p.obj);
  auto spec = specFromJson(p.obj.value("spec", Json()));
  if (!spec.ok()) return kube::Outcome::terminal("invalid spec: " + spec.error().message);
  o.spec = std::move(*spec);
  o.status = statusFromJson(p.obj.value("status", Json()));
  if (auto stopped = observe(p)) return *stopped;

  Decision d = decide(o, p.now);
  if (d.status) {
    if (auto stopped = writeStatus(p, *d.status)) return *stopped;
  }
  if (auto stopped = runActions(p, d.actions)) return *stopped;
  if (o.meta.deletionTimestamp && !d.actions.empty() &&
      std::holds_alternative<RemoveFinalizer>(d.actions.back())) {
    forget(key);  // the object is gone once its last finalizer is
  }
  return d.requeueAfter ? kube::Outcome::requeueAfter(*d.requeueAfter) : kube::Outcome::done();
}

}  // namespace kappa::controllers
