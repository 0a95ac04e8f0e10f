// The reconcile driver against fakes of every port: it writes status before running any
// action, runs no action when the status write conflicts, flips the alias only with a
// precondition, and does nothing on a converged object.
#include "controllers/pipelineversion/reconciler.h"

#include <gtest/gtest.h>

#include "controllers/pipelineversion/codec.h"
#include "tests/support/fakes/clock.h"
#include "tests/support/fakes/kafka_admin.h"
#include "tests/support/fakes/kube_api.h"

namespace kappa::controllers {
namespace {

using kappa::testing::FakeKafkaAdmin;
using kappa::testing::FakeKubeApi;
using kube::Json;
using kube::Outcome;

const std::string kNs = "team-a";

// Every side effect of a pass, in order, over all fakes.
struct Journal {
  std::vector<std::string> entries;
  void add(std::string e) { entries.push_back(std::move(e)); }
  // Index of the first entry that starts with prefix, or -1.
  int find(const std::string& prefix) const {
    for (size_t i = 0; i < entries.size(); ++i)
      if (entries[i].rfind(prefix, 0) == 0) return static_cast<int>(i);
    return -1;
  }
};

class RecordingKubeApi : public FakeKubeApi {
 public:
  explicit RecordingKubeApi(Journal& j) : journal_(j) {}
  std::function<void(const kube::ObjectRef&)> beforeUpdate;
  std::vector<std::pair<kube::ObjectRef, Json>> updates;

  Result<Json> update(const kube::ObjectRef& ref, const Json& obj,
                      const kube::WriteOptions& options = {}) override {
    if (beforeUpdate) beforeUpdate(ref);
    updates.emplace_back(ref, obj);
    journal_.add("kube:update:" + ref.resource.plural +
                 (ref.subresource.empty() ? "" : "/" + ref.subresource));
    return FakeKubeApi::update(ref, obj, options);
  }
  Result<Json> create(const kube::CollectionRef& ref, const Json& obj,
                      const kube::WriteOptions& options = {}) override {
    journal_.add("kube:create:" + ref.resource.plural);
    return FakeKubeApi::create(ref, obj, options);
  }
  Result<Json> patch(const kube::ObjectRef& ref, kube::PatchType type, const Json& body,
                     const kube::PatchOptions& options = {}) override {
    journal_.add("kube:patch:" + ref.resource.plural + ":" + body.dump());
    return FakeKubeApi::patch(ref, type, body, options);
  }

 private:
  Journal& journal_;
};

class RecordingKafkaAdmin : public FakeKafkaAdmin {
 public:
  explicit RecordingKafkaAdmin(Journal& j) : journal_(j) {}
  std::optional<Error> createError;  // every createTopic fails with it
  Result<void> createTopic(const kafka::TopicSpec& s) override {
    journal_.add("kafka:createTopic:" + s.name);
    if (createError) return *createError;
    return FakeKafkaAdmin::createTopic(s);
  }
  Result<void> deleteTopic(const std::string& t) override {
    journal_.add("kafka:deleteTopic:" + t);
    return FakeKafkaAdmin::deleteTopic(t);
  }
  Result<void> deleteGroup(const std::string& g) override {
    journal_.add("kafka:deleteGroup:" + g);
    return FakeKafkaAdmin::deleteGroup(g);
  }

 private:
  Journal& journal_;
};

class FakeConnector : public KafkaConnector {
 public:
  explicit FakeConnector(kafka::KafkaAdmin& admin) : admin_(admin) {}
  std::map<std::string, std::string> credentials;  // of the last connect
  Result<KafkaClients> connect(const KafkaSpec&,
                               const std::map<std::string, std::string>& c) override {
    credentials = c;
    return KafkaClients{std::shared_ptr<kafka::KafkaAdmin>(&admin_, [](kafka::KafkaAdmin*) {}),
                        nullptr};
  }

 private:
  kafka::KafkaAdmin& admin_;
};

class FakeRunner : public WorkloadRunner {
 public:
  explicit FakeRunner(Journal& j) : journal_(j) {}
  std::map<std::string, WorkerRequest> workers;
  std::map<std::string, std::map<std::string, std::string>> quotas;  // name -> hard
  std::map<std::string, std::string> podsByIp;                       // of every worker

  Result<void> ensureWorker(const WorkerRequest& r) override {
    journal_.add("worker:ensure:" + r.name + ":" + profileName(r.profile));
    workers[r.name] = r;
    return {};
  }
  Result<void> deleteWorker(const std::string&, const std::string& name) override {
    journal_.add("worker:delete:" + name);
    workers.erase(name);
    return {};
  }
  Result<WorkerFacts> observeWorker(const std::string&, const std::string& name) override {
    auto it = workers.find(name);
    if (it == workers.end()) return WorkerFacts{};
    WorkerFacts state;
    state.exists = true;
    state.ownerUid = it->second.owner.uid;
    state.profile = it->second.profile;
    state.replicas = it->second.replicas;
    state.readyReplicas = it->second.replicas;
    state.podsByIp = podsByIp;
    return state;
  }
  Result<void> ensureReplayQuota(const ReplayQuotaRequest& r) override {
    quotas[r.name] = r.hard;
    return {};
  }
  Result<void> deleteReplayQuota(const std::string&, const std::string& name) override {
    quotas.erase(name);
    return {};
  }
  Result<std::optional<ReplayQuotaHard>> replayQuota(const std::string&,
                                                     const std::string& name) override {
    auto it = quotas.find(name);
    if (it == quotas.end()) return std::optional<ReplayQuotaHard>{};
    return std::optional<ReplayQuotaHard>{it->second};
  }

 private:
  Journal& journal_;
};

class FakeRecorder : public kube::EventRecorder {
 public:
  explicit FakeRecorder(Journal& j) : journal_(j) {}
  void record(const Json&, kube::EventType, const std::string& reason, const std::string&,
              const std::string&) override {
    journal_.add("event:" + reason);
  }

 private:
  Journal& journal_;
};

Json pipelineVersion(const std::string& version) {
  return Json::parse(R"({
    "apiVersion": "kappa.io/v1alpha1", "kind": "PipelineVersion",
    "metadata": {"name": "sessions-)" +
                     version + R"("},
    "spec": {
      "pipeline": "sessions", "version": ")" +
                     version + R"(",
      "kafka": {"bootstrapServers": "broker:9092"},
      "source": {"topic": "clicks"},
      "processor": {"builtin": {"keyField": "user_id",
                                "aggregates": [{"name": "n", "op": "count"}]}},
      "replicas": 1,
      "replay": {"replicas": 2},
      "validation": {"mode": "Skip"},
      "promotion": {"mode": "Auto", "drainDelaySeconds": 1, "retainOutputSeconds": 5}
    }
  })");
}

class ReconcilerTest : public ::testing::Test {
 protected:
  ReconcilerTest()
      : kube_(journal_),
        admin_(journal_),
        connector_(admin_),
        runner_(journal_),
        recorder_(journal_),
        reconciler_(Reconciler::Ports{kube_, connector_, runner_, recorder_, clock_, nullptr}) {
    admin_.topics["clicks"] = {"clicks", 2, {}};
    admin_.earliest["clicks"] = {{0, 0}, {1, 0}};
    admin_.end["clicks"] = {{0, 100}, {1, 100}};
  }

  kube::ObjectRef ref(const std::string& version) {
    return kube::ObjectRef{pipelineVersions(), kNs, "sessions-" + version, ""};
  }

  // Creates the object with the finalizer and the given status.
  Json create(const std::string& version, const Status& status) {
    Json obj = pipelineVersion(version);
    obj["metadata"]["finalizers"] = Json::array({kFinalizer});
    auto created = kube_.create(kube::CollectionRef{pipelineVersions(), kNs}, obj);
    EXPECT_TRUE(created.ok());
    Json body = *created;
    body["status"] = statusToJson(status);
    auto written = kube_.updateStatus(ref(version), body);
    EXPECT_TRUE(written.ok());
    return *written;
  }

  Json createAlias(const std::string& version, const std::string& topic) {
    auto r =
        kube_.create(kube::CollectionRef{kube::resources::configMaps(), kNs},
                     aliasToJson(kNs,
                                 FlipAlias{"sessions-serving", std::nullopt, "sessions", version,
                                           topic, "broker:9092", "", clock_.now(), "Promotion"},
                                 {}));
    EXPECT_TRUE(r.ok());
    return *r;
  }

  Json get(const kube::ObjectRef& r) {
    auto got = kube_.get(r);
    EXPECT_TRUE(got.ok());
    return got.ok() ? *got : Json();
  }

  Status statusOf(const std::string& version) {
    return statusFromJson(get(ref(version))["status"]);
  }

  Journal journal_;
  RecordingKubeApi kube_;
  RecordingKafkaAdmin admin_;
  FakeConnector connector_;
  FakeRunner runner_;
  FakeRecorder recorder_;
  testing::FakeClock clock_;

  // A condition set now, at generation 3.
  Condition condition(const std::string& type, ConditionStatus status, const std::string& reason,
                      const std::string& message) {
    return Condition{.type = type,
                     .status = status,
                     .reason = reason,
                     .message = message,
                     .lastTransitionTime = clock_.now(),
                     .observedGeneration = 3};
  }
  Reconciler reconciler_;
};

TEST_F(ReconcilerTest, AddsTheFinalizerWithAJsonPatchBeforeAnythingElse) {
  auto created = kube_.create(kube::CollectionRef{pipelineVersions(), kNs}, pipelineVersion("v1"));
  ASSERT_TRUE(created.ok());
  journal_.entries.clear();
  Outcome r = reconciler_.reconcile({kNs, "sessions-v1"});
  EXPECT_NE(r.kind(), Outcome::Kind::kRetry) << r;
  EXPECT_EQ(get(ref("v1"))["metadata"]["finalizers"], Json::array({kFinalizer}));
  EXPECT_EQ(journal_.find("kafka:"), -1);
  EXPECT_EQ(journal_.find("worker:"), -1);
  // A JSON patch guarded by the resourceVersion the pass last saw: the patch is the pass's
  // last write, and the fake apiserver counts resourceVersions up by one per write.
  std::string seen = std::to_string(
      std::stoll(get(ref("v1"))["metadata"]["resourceVersion"].get<std::string>()) - 1);
  Json patch = Json::array(
      {{{"op", "test"}, {"path", "/metadata/resourceVersion"}, {"value", seen}},
       {{"op", "add"}, {"path", "/metadata/finalizers"}, {"value", Json::array({kFinalizer})}}});
  ASSERT_GE(journal_.find("kube:patch:"), 0);
  EXPECT_EQ(journal_.entries[journal_.find("kube:patch:")],
            "kube:patch:pipelineversions:" + patch.dump());
}

TEST_F(ReconcilerTest, WritesStatusBeforeRunningActions) {
  create("v1", Status{});
  journal_.entries.clear();
  Outcome r = reconciler_.reconcile({kNs, "sessions-v1"});
  EXPECT_NE(r.kind(), Outcome::Kind::kRetry) << r;
  Status s = statusOf("v1");
  EXPECT_EQ(s.phase, Phase::kProvisioning);
  EXPECT_EQ(s.outputTopic, "sessions.v1");
  int status = journal_.find("kube:update:pipelineversions/status");
  int topics = journal_.find("kafka:createTopic:sessions.v1");
  ASSERT_GE(status, 0);
  ASSERT_GE(topics, 0);
  EXPECT_LT(status, topics);
  EXPECT_EQ(admin_.topics.at("sessions.v1").partitions, 2);
  EXPECT_TRUE(admin_.topics.count("sessions.v1.dlq"));
}

TEST_F(ReconcilerTest, StatusWriteConflictRunsNoAction) {
  create("v1", Status{});
  journal_.entries.clear();
  // Someone else writes the object between our read and our status write.
  kube_.beforeUpdate = [&](const kube::ObjectRef& r) {
    if (r.subresource != "status") return;
    kube_.beforeUpdate = nullptr;
    Json obj = get(ref("v1"));
    obj["metadata"]["annotations"] = {{"other", "writer"}};
    obj["metadata"].erase("resourceVersion");
    ASSERT_TRUE(kube_.update(ref("v1"), obj).ok());
  };
  Outcome r = reconciler_.reconcile({kNs, "sessions-v1"});
  EXPECT_EQ(r, Outcome::requeueAfter(Seconds{0}, "status write conflict")) << r;
  EXPECT_EQ(journal_.find("kafka:"), -1);
  EXPECT_EQ(journal_.find("worker:"), -1);
  EXPECT_EQ(journal_.find("event:"), -1);
  EXPECT_EQ(statusOf("v1").phase, Phase::kPending);

  // The next pass re-reads and proceeds.
  r = reconciler_.reconcile({kNs, "sessions-v1"});
  EXPECT_NE(r.kind(), Outcome::Kind::kRetry) << r;
  EXPECT_EQ(statusOf("v1").phase, Phase::kProvisioning);
  EXPECT_GE(journal_.find("kafka:createTopic:sessions.v1"), 0);
}

TEST_F(ReconcilerTest, AnUnreadableSpecIsTerminalAndTouchesNothing) {
  // The CRD schema refuses such an object; one that got past it anyway is not retried.
  Json obj = pipelineVersion("v1");
  obj["spec"].erase("source");
  ASSERT_TRUE(kube_.create(kube::CollectionRef{pipelineVersions(), kNs}, obj).ok());
  journal_.entries.clear();
  Outcome r = reconciler_.reconcile({kNs, "sessions-v1"});
  EXPECT_EQ(r.kind(), Outcome::Kind::kTerminal) << r;
  EXPECT_NE(r.message().find("invalid spec"), std::string::npos) << r;
  EXPECT_TRUE(journal_.entries.empty()) << journal_.entries.front();
}

Status promoting(const std::string& version) {
  Status s;
  s.phase = Phase::kPromoting;
  s.outputTopic = "sessions." + version;
  s.consumerGroup = "kappa.sessions." + version + ".uid";
  return s;
}

Status serving(const std::string& version) {
  Status s = promoting(version);
  s.phase = Phase::kServing;
  return s;
}

TEST_F(ReconcilerTest, FlipsTheAliasWithTheResourceVersionPrecondition) {
  create("v1", serving("v1"));
  Json alias = createAlias("v1", "sessions.v1");
  create("v2", promoting("v2"));
  kube_.updates.clear();
  Outcome r = reconciler_.reconcile({kNs, "sessions-v2"});
  EXPECT_NE(r.kind(), Outcome::Kind::kRetry) << r;
  const Json* flip = nullptr;
  for (const auto& [uref, body] : kube_.updates) {
    if (uref.resource.plural == "configmaps") flip = &body;
  }
  ASSERT_NE(flip, nullptr);
  EXPECT_EQ((*flip)["metadata"]["resourceVersion"], alias["metadata"]["resourceVersion"]);
  Json now = get(kube::ObjectRef{kube::resources::configMaps(), kNs, "sessions-serving", ""});
  EXPECT_EQ(now["data"]["version"], "v2");
  EXPECT_EQ(now["data"]["previousVersion"], "v1");
  EXPECT_EQ(now["data"]["topic"], "sessions.v2");
  // The alias keeps its flips, newest first.
  std::vector<AliasFlip> flips = aliasFromJson(now).flips;
  ASSERT_EQ(flips.size(), 2u) << now["data"]["flips"];
  EXPECT_EQ(flips[0],
            (AliasFlip{"v2", "v1", "sessions.v2", roundToMicros(clock_.now()), "Promotion"}));
  EXPECT_EQ(flips[1].version, "v1");

  // The next pass sees the alias naming v2: Serving, and no second flip.
  kube_.updates.clear();
  r = reconciler_.reconcile({kNs, "sessions-v2"});
  EXPECT_NE(r.kind(), Outcome::Kind::kRetry) << r;
  EXPECT_EQ(statusOf("v2").phase, Phase::kServing);
  for (const auto& [uref, body] : kube_.updates) EXPECT_NE(uref.resource.plural, "configmaps");
}

TEST_F(ReconcilerTest, TheAliasKeepsItsLastTenFlips) {
  create("v1", serving("v1"));
  // An alias flipped twelve times already (v0..v11 hypothetically), v1's the newest.
  std::vector<AliasFlip> earlier;
  for (int i = 11; i >= 0; --i) {
    earlier.push_back(AliasFlip{i == 11 ? "v1" : "v0", "", "t" + std::to_string(i),
                                clock_.now() - Seconds{100 * (12 - i)}, "Promotion"});
  }
  ASSERT_TRUE(kube_
                  .create(kube::CollectionRef{kube::resources::configMaps(), kNs},
                          aliasToJson(kNs,
                                      FlipAlias{"sessions-serving", std::nullopt, "sessions", "v1",
                                                "sessions.v1", "broker:9092", "v0", clock_.now(),
                                                "Promotion"},
                                      earlier))
                  .ok());
  create("v2", promoting("v2"));
  reconciler_.reconcile({kNs, "sessions-v2"});
  auto flips = aliasFromJson(
                   get(kube::ObjectRef{kube::resources::configMaps(), kNs, "sessions-serving", ""}))
                   .flips;
  ASSERT_EQ(flips.size(), kAliasFlipsKept);
  EXPECT_EQ(flips[0].version, "v2");
  EXPECT_EQ(flips[1].version, "v1");  // the flip the alias held when v2 read it
  EXPECT_EQ(flips[1].topic, "sessions.v1");
  EXPECT_EQ(flips[2].topic, "t11");
  EXPECT_EQ(flips.back().topic, "t4");  // the oldest ones dropped
}

TEST_F(ReconcilerTest, AliasChangedUnderTheFlipIsAConflictAndNotOverwritten) {
  create("v1", serving("v1"));
  createAlias("v1", "sessions.v1");
  create("v2", promoting("v2"));
  // Another writer moves the alias after our read, before our flip.
  kube_.beforeUpdate = [&](const kube::ObjectRef& r) {
    if (r.resource.plural != "configmaps") return;
    kube_.beforeUpdate = nullptr;
    Json cm = get(r);
    cm["data"]["version"] = "v9";
    cm["metadata"].erase("resourceVersion");
    ASSERT_TRUE(kube_.update(r, cm).ok());
  };
  Outcome r = reconciler_.reconcile({kNs, "sessions-v2"});
  EXPECT_EQ(r.kind(), Outcome::Kind::kRequeue);
  EXPECT_EQ(r.after(), Seconds{0}) << r;
  Json now = get(kube::ObjectRef{kube::resources::configMaps(), kNs, "sessions-serving", ""});
  EXPECT_EQ(now["data"]["version"], "v9");
}

TEST_F(ReconcilerTest, FirstVersionCreatesTheAlias) {
  create("v1", promoting("v1"));
  Outcome r = reconciler_.reconcile({kNs, "sessions-v1"});
  EXPECT_NE(r.kind(), Outcome::Kind::kRetry) << r;
  EXPECT_GE(journal_.find("kube:create:configmaps"), 0);
  Json now = get(kube::ObjectRef{kube::resources::configMaps(), kNs, "sessions-serving", ""});
  EXPECT_EQ(now["data"]["version"], "v1");
  EXPECT_EQ(now["data"]["bootstrapServers"], "broker:9092");
}

TEST_F(ReconcilerTest, ConvergedObjectWritesNothing) {
  create("v1", promoting("v1"));
  for (int i = 0; i < 3; ++i)
    ASSERT_NE(reconciler_.reconcile({kNs, "sessions-v1"}).kind(), Outcome::Kind::kRetry);
  ASSERT_EQ(statusOf("v1").phase, Phase::kServing);
  int64_t rv = kube_.currentResourceVersion();
  journal_.entries.clear();
  Outcome r = reconciler_.reconcile({kNs, "sessions-v1"});
  EXPECT_NE(r.kind(), Outcome::Kind::kRetry) << r;
  EXPECT_EQ(kube_.currentResourceVersion(), rv);
  EXPECT_TRUE(journal_.entries.empty()) << ::testing::PrintToString(journal_.entries);
}

TEST_F(ReconcilerTest, StatusSurvivesTheRoundTrip) {
  Status s = serving("v1");
  s.servingSince = clock_.now();
  HistoryEntry h;
  h.time = clock_.now();
  h.from = Phase::kAwaitingPromotion;
  h.to = Phase::kPromoting;
  h.reason = "PromotionApproved";
  h.actor = "annotation kappa.io/promote";
  h.comparedKeys = 1000;
  h.mismatchedKeys = 3;
  s.history = {h, HistoryEntry{.time = clock_.now(),
                               .from = Phase::kPromoting,
                               .to = Phase::kServing,
                               .reason = "",
                               .actor = "policy",
                               .message = "serving",
                               .comparedKeys = std::nullopt,
                               .mismatchedKeys = std::nullopt}};
  s.lag.sampledAt = clock_.now();
  s.replay.etaSeconds = 12;
  s.replay.progressPercent = 99.5;
  s.conditions.push_back(condition(kCaughtUp, ConditionStatus::kTrue, "LagWithinBound", "ok"));
  s.validation.examples.push_back(
      MismatchExample{"k", std::string("{\"a\":1}"), std::nullopt, "(none)"});
  s.validation.notComparableKeys = 4;
  s.source = SourceStatus{"silver", "v7", "silver.v7"};
  s.validation.roundStartedAt = clock_.now();
  s.validation.roundsPassed = 2;
  s.validation.roundsPlanned = 7;
  s.shadow.servingVersion = "v0";
  s.shadow.startedAt = clock_.now();
  s.shadow.roundsPlanned = 2;
  s.shadow.recordsRead = 10;
  s.shadow.recordsToRead = 40;
  s.shadow.mismatchRatio = 0.5;
  s.shadow.examples.push_back(MismatchExample{"k", std::nullopt, std::string("1"), "(none) -> 1"});
  s.workerExits = {
      WorkerExit{"sessions-v2-abc", "containerd://0a1b", 137, "OOMKilled",
                 roundToMicros(clock_.now())},
      WorkerExit{"sessions-v2-def", "containerd://2c3d", 1, "", roundToMicros(clock_.now())}};
  s.replay.stragglers = {StragglerStatus{.partition = 3,
                                         .lag = 900,
                                         .messagesPerSecond = 1.5,
                                         .peerMessagesPerSecond = 800,
                                         .since = roundToMicros(clock_.now()),
                                         .pod = "sessions-v2-abc"},
                         StragglerStatus{.partition = 4, .since = roundToMicros(clock_.now())}};
  s.dryRun = worker::DryRunReport{
      .sampled = 40,
      .deadLettered = 3,
      .ratio = 0.075,
      .reasons = {{"missing key field", 2, {{0, 17, R"({"price":2})"}, {3, 5, "\\x00"}}},
                  {"bad JSON", 1, {{1, 0, "{"}}}}};
  EXPECT_EQ(statusFromJson(statusToJson(s)), s);
  EXPECT_EQ(parseTime("2024-05-01T12:00:00Z"), parseTime("2024-05-01T14:00:00+02:00"));
}

TEST_F(ReconcilerTest, CacheEntryKeepsWhatSiblingsAndMetricsRead) {
  Status s = serving("v1");
  s.phase = Phase::kRetired;
  s.drainedAt = clock_.now();
  s.lag.messages = 7;
  s.replay.progressPercent = 99.5;
  s.validation.mismatchRatio = 0.25;
  s.validation.examples.push_back(
      MismatchExample{"k", std::string("{\"a\":1}"), std::nullopt, "(none)"});
  s.conditions.push_back(condition(kCaughtUp, ConditionStatus::kTrue, "LagWithinBound", "ok"));
  s.conditions.push_back(condition(kRetentionSafe, ConditionStatus::kFalse, "AtRisk", "short"));
  s.conditions.push_back(condition(kValidated, ConditionStatus::kFalse, "Mismatched", "1 of 4"));
  Json full = create("v1", s);
  full["metadata"]["deletionTimestamp"] = formatTimeRfc3339(clock_.now());
  CachedVersion cached = cachedVersionFromJson(full);
  EXPECT_EQ(cached.other, otherFromJson(full));
  EXPECT_TRUE(cached.other.deleting);
  EXPECT_EQ(cached.other.phase, Phase::kRetired);
  EXPECT_EQ(cached.pipeline, "sessions");
  EXPECT_EQ(cached.ns, kNs);
  EXPECT_EQ(keyOf(cached), kube::keyOf(full));
  EXPECT_EQ(resourceVersionOf(cached), kube::resourceVersionOf(full));
  EXPECT_FALSE(cached.resourceVersion.empty());
  EXPECT_EQ(cached.servingSince, s.servingSince);
  EXPECT_EQ(cached.lagMessages, 7);
  EXPECT_EQ(cached.progressPercent, 99.5);
  EXPECT_EQ(cached.mismatchRatio, 0.25);
  EXPECT_TRUE(cached.retentionAtRisk);
  EXPECT_TRUE(cached.validationFailed);

  // A version that has no status yet is Pending, with nothing at risk or failed.
  Json fresh = create("v2", Status{});
  fresh.erase("status");
  CachedVersion pending = cachedVersionFromJson(fresh);
  EXPECT_EQ(pending.other.phase, Phase::kPending);
  EXPECT_FALSE(pending.retentionAtRisk);
  EXPECT_FALSE(pending.validationFailed);
  EXPECT_FALSE(pending.servingSince.has_value());
}

// The straggler rule runs over the lag samples of Replaying passes; the pod that holds the
// partition comes from the group's members and the worker's pods.
TEST_F(ReconcilerTest, APartitionThatStopsReadingIsReportedAsAStragglerWithItsPod) {
  Status s = promoting("v1");
  s.phase = Phase::kReplaying;
  s.replay.startedAt = clock_.now();
  create("v1", s);
  Json obj = get(ref("v1"));
  obj["spec"]["replay"]["stragglerWindowSeconds"] = 10;
  ASSERT_TRUE(kube_.update(ref("v1"), obj).ok());
  runner_.workers["sessions-v1"] = WorkerRequest{};
  runner_.podsByIp = {{"10.0.0.5", "sessions-v1-abc"}, {"10.0.0.6", "sessions-v1-def"}};
  admin_.end["clicks"] = {{0, 1'000'000}, {1, 1'000'000}};
  admin_.members[s.consumerGroup] = {
      kafka::GroupMember{
          .clientId = "kappa-worker/sessions-v1-def", .host = "10.0.0.6", .partitions = {0}},
      kafka::GroupMember{
          .clientId = "kappa-worker/sessions-v1-abc", .host = "10.0.0.5", .partitions = {1}}};
  for (int t = 0; t <= 8; t += 2) {
    admin_.committed[{s.consumerGroup, "clicks"}] = {{0, 1 + 1000 * t}, {1, 1}};
    ASSERT_NE(reconciler_.reconcile({kNs, "sessions-v1"}).kind(), Outcome::Kind::kRetry);
    EXPECT_TRUE(statusOf("v1").replay.stragglers.empty()) << "before the window passed, at " << t;
    clock_.advance(Seconds{2});
  }
  admin_.committed[{s.consumerGroup, "clicks"}] = {{0, 10'001}, {1, 1}};
  ASSERT_NE(reconciler_.reconcile({kNs, "sessions-v1"}).kind(), Outcome::Kind::kRetry);
  Status after = statusOf("v1");
  EXPECT_EQ(after.phase, Phase::kReplaying);
  ASSERT_EQ(after.replay.stragglers.size(), 1u) << after;
  EXPECT_EQ(after.replay.stragglers[0].partition, 1);
  EXPECT_EQ(after.replay.stragglers[0].pod, "sessions-v1-abc");
  EXPECT_EQ(after.replay.stragglers[0].messagesPerSecond, 0);
  EXPECT_EQ(after.replay.stragglers[0].peerMessagesPerSecond, 1000);
  EXPECT_GE(journal_.find("event:ReplayStraggler"), 0);
}

// The dry run reads the source's sample once the topics exist, in Provisioning, once.
class ReconcilerDryRunTest : public ReconcilerTest {
 protected:
  // 100 records on each partition of clicks; every tenth lacks the key (10%).
  ReconcilerDryRunTest() {
    for (int32_t p = 0; p < 2; ++p) {
      for (int64_t o = 0; o < 100; ++o) {
        std::string value = o % 10 == 3 ? R"({"page":"/"})" : R"({"user_id":"u1"})";
        admin_.records["clicks"][p][o] = kafka::SampledRecord{p, o, "k", value};
      }
    }
  }
  void createWith(const Json& replay) {
    Json obj = pipelineVersion("v1");
    obj["spec"]["replay"].update(replay);
    ASSERT_TRUE(kube_.create(kube::CollectionRef{pipelineVersions(), kNs}, obj).ok());
  }
  void reconcileUntilPast(Phase phase) {
    for (int i = 0; i < 5 && statusOf("v1").phase <= phase; ++i) {
      ASSERT_NE(reconciler_.reconcile({kNs, "sessions-v1"}).kind(), Outcome::Kind::kRetry);
    }
  }
};

TEST_F(ReconcilerDryRunTest, ARatioAboveTheLimitFailsTheVersionBeforeAnyWorker) {
  createWith({{"dryRunSamples", 200}, {"maxDeadLetterRatio", 0.05}});  // 100 records: all
  reconcileUntilPast(Phase::kProvisioning);
  Status s = statusOf("v1");
  EXPECT_EQ(s.phase, Phase::kFailed) << s;
  EXPECT_EQ(s.reason, "DeadLetterRatioExceeded");
  ASSERT_TRUE(s.dryRun.has_value());
  EXPECT_EQ(s.dryRun->sampled, 200);
  EXPECT_EQ(s.dryRun->deadLettered, 20);  // exactly the planted ones
  ASSERT_EQ(s.dryRun->reasons.size(), 1u);
  EXPECT_EQ(s.dryRun->reasons[0].reason, "missing key field");
  EXPECT_EQ(s.dryRun->reasons[0].examples[0], (worker::DryRunExample{0, 3, R"({"page":"/"})"}));
  EXPECT_EQ(get(ref("v1"))["status"]["dryRun"]["deadLetterRatio"], 0.1);
  EXPECT_TRUE(runner_.workers.empty());
}

TEST_F(ReconcilerDryRunTest, ARatioWithinTheLimitReplaysAndIsNotSampledAgain) {
  createWith({{"dryRunSamples", 8}, {"maxDeadLetterRatio", 0.5}});
  reconcileUntilPast(Phase::kProvisioning);
  Status s = statusOf("v1");
  EXPECT_EQ(s.phase, Phase::kReplaying) << s;
  ASSERT_TRUE(s.dryRun.has_value());
  // First, middle, last and 8 spread: offsets 0 11 22 33 44 49 55 66 77 88 99, of which 33
  // lacks the key, on each partition.
  EXPECT_EQ(s.dryRun->sampled, 22);
  EXPECT_EQ(s.dryRun->deadLettered, 2);
  ASSERT_EQ(admin_.sampleRequests.size(), 1u);
  clock_.advance(Seconds{5});
  ASSERT_NE(reconciler_.reconcile({kNs, "sessions-v1"}).kind(), Outcome::Kind::kRetry);
  EXPECT_EQ(admin_.sampleRequests.size(), 1u);
  EXPECT_EQ(statusOf("v1").dryRun, s.dryRun);
}

TEST_F(ReconcilerDryRunTest, NoDryRunWhenItIsOff) {
  createWith({{"dryRunSamples", 0}, {"maxDeadLetterRatio", 0}});
  reconcileUntilPast(Phase::kProvisioning);
  Status s = statusOf("v1");
  EXPECT_EQ(s.phase, Phase::kReplaying) << s;
  EXPECT_FALSE(s.dryRun.has_value());
  EXPECT_TRUE(admin_.sampleRequests.empty());
}

TEST_F(ReconcilerTest, RetiresTheOldVersionAndDeletesItsGroup) {
  Status draining = serving("v1");
  draining.phase = Phase::kDraining;
  draining.drainingSince = clock_.now() - std::chrono::seconds(5);
  create("v1", draining);
  createAlias("v2", "sessions.v2");
  runner_.workers["sessions-v1"] = WorkerRequest{};
  admin_.committed[{draining.consumerGroup, "clicks"}] = {{0, 100}};
  Outcome r = reconciler_.reconcile({kNs, "sessions-v1"});
  EXPECT_NE(r.kind(), Outcome::Kind::kRetry) << r;
  EXPECT_EQ(statusOf("v1").phase, Phase::kRetired);
  EXPECT_FALSE(runner_.workers.count("sessions-v1"));
  EXPECT_LT(journal_.find("kube:update:pipelineversions/status"), journal_.find("worker:delete"));
  // The group goes on the next pass, once the worker is seen stopped.
  EXPECT_LT(journal_.find("kafka:deleteGroup:" + draining.consumerGroup), 0);
  r = reconciler_.reconcile({kNs, "sessions-v1"});
  EXPECT_NE(r.kind(), Outcome::Kind::kRetry) << r;
  EXPECT_GE(journal_.find("kafka:deleteGroup:" + draining.consumerGroup), 0);
}

TEST_F(ReconcilerTest, AbortedCandidateLosesWorkerGroupAndOutput) {
  Status s = serving("v2");
  s.phase = Phase::kAwaitingPromotion;
  create("v2", s);
  createAlias("v1", "sessions.v1");
  Json obj = get(ref("v2"));
  obj["metadata"]["annotations"][kAbortAnnotation] = "true";
  ASSERT_TRUE(kube_.update(ref("v2"), obj).ok());
  runner_.workers["sessions-v2"] = WorkerRequest{};
  admin_.topics[s.outputTopic] = {s.outputTopic, 2, {}};
  admin_.topics[s.outputTopic + ".dlq"] = {s.outputTopic + ".dlq", 2, {}};
  admin_.committed[{s.consumerGroup, "clicks"}] = {{0, 100}};

  for (int i = 0; i < 3; ++i)
    ASSERT_NE(reconciler_.reconcile({kNs, "sessions-v2"}).kind(), Outcome::Kind::kRetry);
  Status after = statusOf("v2");
  EXPECT_EQ(after.phase, Phase::kFailed) << after;
  EXPECT_EQ(after.reason, kAbortedReason);
  EXPECT_FALSE(runner_.workers.count("sessions-v2"));
  EXPECT_GE(journal_.find("kafka:deleteGroup:" + s.consumerGroup), 0);
  EXPECT_FALSE(admin_.topics.count(s.outputTopic));
  EXPECT_FALSE(admin_.topics.count(s.outputTopic + ".dlq"));
  EXPECT_TRUE(admin_.topics.count("clicks"));
}

TEST_F(ReconcilerTest, KafkaCredentialsComeFromTheNamedSecret) {
  Json obj = pipelineVersion("v1");
  obj["spec"]["kafka"]["credentialsSecret"] = "kafka-sasl";
  obj["metadata"]["finalizers"] = Json::array({kFinalizer});
  ASSERT_TRUE(kube_.create(kube::CollectionRef{pipelineVersions(), kNs}, obj).ok());

  // Missing: a retry, and a Warning Event that names the Secret; nothing else happens.
  Outcome r = reconciler_.reconcile({kNs, "sessions-v1"});
  EXPECT_EQ(r.kind(), Outcome::Kind::kRetry) << r;
  EXPECT_NE(r.message().find("kafka-sasl"), std::string::npos) << r.message();
  EXPECT_GE(journal_.find("event:KafkaCredentials"), 0);
  EXPECT_EQ(journal_.find("kafka:"), -1);

  Json secret = {{"apiVersion", "v1"},
                 {"kind", "Secret"},
                 {"metadata", {{"name", "kafka-sasl"}, {"namespace", kNs}}},
                 {"data",
                  {{"sasl.username", "YWxpY2U="},     // alice
                   {"sasl.password", "czNjcjN0"}}}};  // s3cr3t
  ASSERT_TRUE(
      kube_.create(kube::CollectionRef{kube::Resource{"", "v1", "secrets", true}, kNs}, secret)
          .ok());
  r = reconciler_.reconcile({kNs, "sessions-v1"});
  EXPECT_NE(r.kind(), Outcome::Kind::kRetry) << r;
  EXPECT_EQ(connector_.credentials, (std::map<std::string, std::string>{
                                        {"sasl.password", "s3cr3t"}, {"sasl.username", "alice"}}));
  EXPECT_EQ(statusOf("v1").phase, Phase::kProvisioning);
}

TEST_F(ReconcilerTest, TerminalTopicRefusalFailsTheVersionOnTheNextPass) {
  create("v1", Status{});
  admin_.createError = Error{ErrorCode::kInvalidArgument, "policy violation: cleanup.policy"};
  Outcome r = reconciler_.reconcile({kNs, "sessions-v1"});
  // Not a retry with backoff: the refusal is a fact, which the next pass reports at once.
  EXPECT_EQ(r.kind(), Outcome::Kind::kRequeue) << r;
  EXPECT_EQ(r.after(), Seconds{0});
  ASSERT_EQ(statusOf("v1").phase, Phase::kProvisioning);
  r = reconciler_.reconcile({kNs, "sessions-v1"});
  Status s = statusOf("v1");
  EXPECT_EQ(s.phase, Phase::kFailed) << s;
  EXPECT_EQ(s.reason, "TopicCreationRefused");
  EXPECT_NE(s.message.find("policy violation"), std::string::npos) << s.message;
}

TEST_F(ReconcilerTest, RetriableKafkaErrorRetriesWithBackoff) {
  create("v1", Status{});
  admin_.createError = Error{ErrorCode::kUnavailable, "broker down"};
  Outcome r = reconciler_.reconcile({kNs, "sessions-v1"});
  EXPECT_EQ(r.kind(), Outcome::Kind::kRetry) << r;
  admin_.createError.reset();
  r = reconciler_.reconcile({kNs, "sessions-v1"});
  EXPECT_NE(r.kind(), Outcome::Kind::kRetry) << r;
  EXPECT_EQ(statusOf("v1").phase, Phase::kProvisioning);
  EXPECT_TRUE(admin_.topics.count("sessions.v1"));
}

TEST_F(ReconcilerTest, DeletionCleansUpThenRemovesOnlyItsOwnFinalizer) {
  Status s = serving("v1");
  s.phase = Phase::kRetired;
  create("v1", s);
  // Another controller's finalizer comes first in the list.
  Json obj = get(ref("v1"));
  obj["metadata"]["finalizers"] = Json::array({"other.io/keep", kFinalizer});
  ASSERT_TRUE(kube_.update(ref("v1"), obj).ok());
  obj = get(ref("v1"));
  obj["metadata"]["deletionTimestamp"] = formatTimeRfc3339(clock_.now());
  ASSERT_TRUE(kube_.update(ref("v1"), obj).ok());
  admin_.topics["sessions.v1"] = {"sessions.v1", 2, {}};
  admin_.topics["sessions.v1.dlq"] = {"sessions.v1.dlq", 2, {}};
  runner_.workers["sessions-v1"] = WorkerRequest{};

  for (int i = 0; i < 4; ++i)
    ASSERT_NE(reconciler_.reconcile({kNs, "sessions-v1"}).kind(), Outcome::Kind::kRetry);
  EXPECT_FALSE(runner_.workers.count("sessions-v1"));
  EXPECT_FALSE(admin_.topics.count("sessions.v1"));
  EXPECT_FALSE(admin_.topics.count("sessions.v1.dlq"));
  EXPECT_EQ(get(ref("v1"))["metadata"]["finalizers"], Json::array({"other.io/keep"}));
  int patch = journal_.find("kube:patch:pipelineversions:");
  ASSERT_GE(patch, 0);
  const std::string& body = journal_.entries[patch];
  EXPECT_NE(body.find(R"("op":"test","path":"/metadata/finalizers/1")"), std::string::npos) << body;
  EXPECT_NE(body.find(R"("op":"remove","path":"/metadata/finalizers/1")"), std::string::npos)
      << body;
}

// ----- the admission webhook's check ----------------------------------------------------------

TEST_F(ReconcilerTest, AdmitRefusesASecondObjectForTheSameVersion) {
  create("v1", Status{});
  Json copy = pipelineVersion("v1");
  copy["metadata"]["name"] = "sessions-v1-copy";
  copy["metadata"]["namespace"] = kNs;
  auto refusal = reconciler_.admit(copy);
  ASSERT_TRUE(refusal);
  EXPECT_EQ(refusal->reason, kDuplicateVersionReason);
  EXPECT_EQ(refusal->field, "spec.version");
  EXPECT_NE(refusal->message.find("PipelineVersion sessions-v1 is already version v1"),
            std::string::npos)
      << refusal->message;
}

TEST_F(ReconcilerTest, AdmitRefusesAnOutputTopicAnotherVersionUses) {
  Status s = serving("v1");
  create("v1", s);
  Json intruder = pipelineVersion("v2");
  intruder["metadata"]["namespace"] = "team-b";  // any namespace: topics are cluster-wide
  intruder["spec"]["output"] = {{"topic", s.outputTopic}};
  auto refusal = reconciler_.admit(intruder);
  ASSERT_TRUE(refusal);
  EXPECT_EQ(refusal->reason, kOutputTopicInUseReason);
  EXPECT_EQ(refusal->field, "spec.output.topic");
  EXPECT_NE(refusal->message.find("used by PipelineVersion " + std::string(kNs) + "/sessions-v1"),
            std::string::npos)
      << refusal->message;
}

TEST_F(ReconcilerTest, AdmitRefusesTheTopicTheServingAliasNames) {
  createAlias("v0", "sessions.legacy");  // v0 itself is gone; its output still serves
  Json intruder = pipelineVersion("v2");
  intruder["metadata"]["namespace"] = kNs;
  intruder["spec"]["output"] = {{"topic", "sessions.legacy"}};
  auto refusal = reconciler_.admit(intruder);
  ASSERT_TRUE(refusal);
  EXPECT_EQ(refusal->reason, kOutputTopicInUseReason);
  EXPECT_NE(refusal->message.find("the serving alias sessions-serving (version v0)"),
            std::string::npos)
      << refusal->message;
}

TEST_F(ReconcilerTest, AdmitLetsAFreshVersionInAndChangesNothing) {
  create("v1", serving("v1"));
  createAlias("v1", "sessions.v1");
  size_t before = journal_.entries.size();
  Json v2 = pipelineVersion("v2");
  v2["metadata"]["namespace"] = kNs;
  EXPECT_EQ(reconciler_.admit(v2), std::nullopt);
  EXPECT_EQ(journal_.entries.size(), before);  // the journal holds every write
}

TEST_F(ReconcilerTest, AdmitLeavesAnUnreadableSpecToTheSchema) {
  create("v1", Status{});
  Json broken = pipelineVersion("v1");
  broken["metadata"]["name"] = "sessions-v1-copy";
  broken["spec"]["kafka"] = "not an object";
  EXPECT_EQ(reconciler_.admit(broken), std::nullopt);
}

// sessions reads pipeline bronze and follows its flips; bronze's alias names `version`.
TEST_F(ReconcilerTest, AFlipUpstreamCreatesTheCascadedSuccessorOnce) {
  Json v1 = pipelineVersion("v1");
  v1["spec"]["source"] = {{"pipeline", "bronze"}};
  v1["spec"]["cascade"] = {{"mode", "Follow"}, {"whenUpstreamChanged", "SkipValidation"}};
  v1["spec"]["validation"]["mode"] = "Sampled";
  v1["spec"]["output"] = {{"topic", "sessions.gold"}};
  v1["metadata"]["finalizers"] = Json::array({kFinalizer});
  ASSERT_TRUE(kube_.create(kube::CollectionRef{pipelineVersions(), kNs}, v1).ok());
  Status st = serving("v1");
  st.source = SourceStatus{"bronze", "v1", "bronze.v1"};
  Json body = get(ref("v1"));
  body["status"] = statusToJson(st);
  ASSERT_TRUE(kube_.updateStatus(ref("v1"), body).ok());
  createAlias("v1", "sessions.gold");
  FlipAlias flip{"bronze-serving", std::nullopt, "bronze",     "v2",        "bronze.v2",
                 "broker:9092",    "v1",         clock_.now(), "Promotion", false};
  ASSERT_TRUE(kube_
                  .create(kube::CollectionRef{kube::resources::configMaps(), kNs},
                          aliasToJson(kNs, flip, {}))
                  .ok());

  Outcome r = reconciler_.reconcile({kNs, "sessions-v1"});
  EXPECT_NE(r.kind(), Outcome::Kind::kRetry) << r;
  auto list = kube_.listAll(kube::CollectionRef{pipelineVersions(), kNs}, {});
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->items.size(), 2u);
  const Json& made =
      list->items[0]["metadata"]["name"] == "sessions-v1" ? list->items[1] : list->items[0];
  std::string version = made["spec"]["version"];
  EXPECT_TRUE(version.starts_with("v2-c")) << version;
  EXPECT_EQ(made["metadata"]["name"], "sessions-" + version);
  EXPECT_EQ(made["metadata"]["labels"]["kappa.io/cascade-from"], "bronze");
  EXPECT_EQ(made["metadata"]["labels"]["kappa.io/cascade-upstream-version"], "v2");
  EXPECT_EQ(made["spec"]["source"], v1["spec"]["source"]);
  EXPECT_EQ(made["spec"]["cascade"], v1["spec"]["cascade"]);
  EXPECT_FALSE(made["spec"]["output"].contains("topic"));  // its own, <pipeline>.<version>
  EXPECT_EQ(made["spec"]["validation"]["mode"], "Skip");   // bronze changed by intent
  EXPECT_EQ(made["spec"]["promotion"]["mode"], "Auto");
  EXPECT_FALSE(made.contains("status"));
  // The next successor, for a flip validated equal, gets the pipeline's own modes back: the
  // modes before any cascade travel in an annotation from successor to successor.
  CreateCascadedVersion equal{"sessions-v3-c1", "v3-c1", "bronze", "v3",
                              "bronze.v3",      true,    false,    false};
  Json next = cascadedVersionToJson(kNs, made, equal);
  EXPECT_EQ(next["spec"]["validation"]["mode"], "Sampled");
  EXPECT_EQ(next["spec"]["promotion"]["mode"], "Auto");
  EXPECT_EQ(next["metadata"]["annotations"]["kappa.io/cascade-base"],
            made["metadata"]["annotations"]["kappa.io/cascade-base"]);
  EXPECT_GE(journal_.find("event:CascadeStarted"), 0);

  // The next pass sees it: no second create.
  journal_.entries.clear();
  r = reconciler_.reconcile({kNs, "sessions-v1"});
  EXPECT_NE(r.kind(), Outcome::Kind::kRetry) << r;
  EXPECT_LT(journal_.find("kube:create:pipelineversions"), 0);
  EXPECT_LT(journal_.find("event:CascadeStarted"), 0);
}

TEST_F(ReconcilerTest, AdmitRefusesAProgramKappaWorkerWouldRefuse) {
  Json v2 = pipelineVersion("v2");
  v2["metadata"]["namespace"] = kNs;
  v2["spec"]["processor"]["builtin"] = Json::parse(
      R"({"keyField": "user_id", "select": [{"field": "a", "as": "x"}, {"field": "b", "as": "x"}]})");
  auto refusal = reconciler_.admit(v2);
  ASSERT_TRUE(refusal.has_value());
  EXPECT_EQ(refusal->reason, kInvalidProgramReason);
  EXPECT_EQ(refusal->field, "spec.processor.builtin.select[1].as");
  EXPECT_EQ(refusal->message, "duplicate output field 'x'");
  // The test's own program is fine.
  EXPECT_EQ(reconciler_.admit(pipelineVersion("v3")), std::nullopt);
}

TEST_F(ReconcilerTest, AdmitRefusesASourceCycle) {
  Json bronze = pipelineVersion("v1");
  bronze["metadata"]["name"] = "bronze-v1";
  bronze["spec"]["pipeline"] = "bronze";
  bronze["spec"]["source"] = {{"pipeline", "sessions"}};
  ASSERT_TRUE(kube_.create(kube::CollectionRef{pipelineVersions(), kNs}, bronze).ok());
  Json v2 = pipelineVersion("v2");
  v2["metadata"]["namespace"] = kNs;
  v2["spec"]["source"] = {{"pipeline", "bronze"}};
  auto refusal = reconciler_.admit(v2);
  ASSERT_TRUE(refusal.has_value());
  EXPECT_EQ(refusal->field, "spec.source.pipeline");
  EXPECT_NE(refusal->message.find("sessions -> bronze -> sessions"), std::string::npos)
      << refusal->message;
}

}  // namespace
}  // namespace kappa::controllers
