// A real cutover against the fixture apiserver and broker: the reconcile driver (in-process,
// polling every key like a work queue would) with the production Kubernetes and Kafka
// adapters, and kappa-worker processes started by the ProcessWorkloadRunner. sessions v1 is
// replayed and becomes Serving (the alias is created naming it); v2 is replayed, validated
// against v1 and promoted with exactly one flip of the alias; v1 drains, retires (worker and
// consumer group deleted) and its output is deleted after retainOutputSeconds.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <thread>

#include "controllers/pipelineversion/adapters/kafka_connector.h"
#include "controllers/pipelineversion/codec.h"
#include "controllers/pipelineversion/reconciler.h"
#include "runtime/kube/event_recorder.h"
#include "tests/support/kafka_test_util.h"
#include "tests/support/kube_test_util.h"
#include "tests/support/process_workload_runner.h"

namespace kappa::controllers {
namespace {

using kube::Json;
using namespace std::chrono_literals;

// Delegates to the real client and counts successful writes of the alias ConfigMap.
class AliasCountingKubeApi : public kube::KubeApi {
 public:
  AliasCountingKubeApi(kube::KubeApi& inner, std::string alias)
      : inner_(inner), alias_(std::move(alias)) {}
  std::vector<std::string> aliasWrites;  // the version each successful write named

  Result<Json> get(const kube::ObjectRef& r) override { return inner_.get(r); }
  Result<kube::ObjectList> list(const kube::CollectionRef& r, const kube::ListOptions& o) override {
    return inner_.list(r, o);
  }
  Result<Json> create(const kube::CollectionRef& r, const Json& obj,
                      const kube::WriteOptions& o = {}) override {
    auto res = inner_.create(r, obj, o);
    count(r.resource, kube::nameOf(obj), res);
    return res;
  }
  Result<Json> update(const kube::ObjectRef& r, const Json& obj,
                      const kube::WriteOptions& o = {}) override {
    auto res = inner_.update(r, obj, o);
    count(r.resource, r.name, res);
    return res;
  }
  Result<Json> patch(const kube::ObjectRef& r, kube::PatchType t, const Json& b,
                     const kube::PatchOptions& o = {}) override {
    return inner_.patch(r, t, b, o);
  }
  Result<Json> remove(const kube::ObjectRef& r, const kube::DeleteOptions& o = {}) override {
    return inner_.remove(r, o);
  }
  Result<kube::WatchStreamPtr> watch(const kube::CollectionRef& r,
                                     const kube::ListOptions& o) override {
    return inner_.watch(r, o);
  }

 private:
  void count(const kube::Resource& res, const std::string& name, const Result<Json>& r) {
    if (res.plural == "configmaps" && name == alias_ && r.ok())
      aliasWrites.push_back((*r)["data"].value("version", ""));
  }
  kube::KubeApi& inner_;
  std::string alias_;
};

std::string shellQuote(const std::string& s) { return "'" + s + "'"; }

Json pipelineVersion(const std::string& version, const std::string& bootstrap,
                     const std::string& source, const std::string& output, bool validate) {
  Json pv = Json::parse(R"({
    "apiVersion": "kappa.io/v1alpha1", "kind": "PipelineVersion",
    "metadata": {},
    "spec": {
      "pipeline": "sessions",
      "kafka": {},
      "source": {},
      "processor": {"builtin": {
        "keyField": "user_id", "timestampField": "timestamp_ms",
        "window": {"type": "none"},
        "aggregates": [{"name": "events", "op": "count"},
                       {"name": "revenue", "op": "sum", "field": "price"}]}},
      "replicas": 1,
      "replay": {"replicas": 2, "maxDurationSeconds": 300},
      "catchUp": {"maxLagMessages": 0, "stableSeconds": 1},
      "validation": {"mode": "Skip", "sampleKeys": 200, "timeoutSeconds": 120, "tapRate": 2},
      "promotion": {"mode": "Auto", "drainDelaySeconds": 1, "retainOutputSeconds": 3}
    }
  })");
  pv["metadata"]["name"] = "sessions-" + version;
  pv["spec"]["version"] = version;
  pv["spec"]["kafka"]["bootstrapServers"] = bootstrap;
  pv["spec"]["source"]["topic"] = source;
  pv["spec"]["output"]["topic"] = output;
  if (validate) pv["spec"]["validation"]["mode"] = "Sampled";
  return pv;
}

class CutoverIT : public ::testing::Test {
 protected:
  void SetUp() override {
    env_ = testing::apiserverEnv();
    ASSERT_TRUE(env_.count("KUBECONFIG"));
    std::string kubectl = "KUBECONFIG=" + shellQuote(env_["KUBECONFIG"]) + " kubectl ";
    auto applied = testing::run(
        kubectl + "apply -f " +
        shellQuote(std::string(KAPPA_SOURCE_DIR) + "/crds/pipelineversions.kappa.io.yaml") +
        " 2>&1");
    ASSERT_EQ(applied.exitCode, 0) << applied.out;
    auto established = testing::run(kubectl +
                                    "wait --for condition=established --timeout=60s "
                                    "crd/pipelineversions.kappa.io 2>&1");
    ASSERT_EQ(established.exitCode, 0) << established.out;
  }
  std::map<std::string, std::string> env_;
};

TEST_F(CutoverIT, V1ServesThenV2TakesOverAndV1Retires) {
  auto client = testing::makeKubeClient();
  testing::TestNamespace ns(*client, "cutover");
  AliasCountingKubeApi kube(*client, "sessions-serving");

  std::string bootstrap = testing::kafkaBootstrap();
  std::string source = testing::uniqueName("clicks");
  // Topic names are global to the broker: unique per run, like every other name here.
  std::string out1 = testing::uniqueName("sessions-v1");
  std::string out2 = testing::uniqueName("sessions-v2");
  auto loadgen =
      testing::run(testing::binPath("kappa-loadgen") + " --bootstrap " + bootstrap + " --topic " +
                   source + " --create-partitions 2 --count 20000 --keys 500 2>&1");
  ASSERT_EQ(loadgen.exitCode, 0) << loadgen.out;

  std::string logDir = std::filesystem::temp_directory_path() / testing::uniqueName("workers");
  std::filesystem::create_directories(logDir);
  testing::ProcessWorkloadRunner workloads(
      testing::ProcessWorkloadOptions{testing::binPath("kappa-worker"), logDir, 3});
  RdKafkaConnector kafka;
  kube::KubeEventRecorder events(*client, "kappa.io/kappa-operator", "cutover-it");
  SystemClock clock;
  Reconciler reconciler(Reconciler::Ports{kube, kafka, workloads, events, clock, nullptr});
  auto admin = testing::makeAdmin();

  kube::CollectionRef plvs{pipelineVersions(), ns.name()};
  auto phaseOf = [&](const std::string& name) -> std::string {
    auto got = client->get(plvs.object(name));
    if (!got.ok()) return got.error().code == ErrorCode::kNotFound ? "<gone>" : "<error>";
    return (*got).value("status", Json::object()).value("phase", "");
  };
  auto aliasVersion = [&]() -> std::string {
    auto got = client->get(
        kube::ObjectRef{kube::resources::configMaps(), ns.name(), "sessions-serving", ""});
    return got.ok() ? (*got)["data"].value("version", "") : "";
  };
  std::map<std::string, std::vector<std::string>> phases;  // the phases each version went through
  // One reconcile of every key per round, as a work queue with short requeues would do.
  auto runUntil = [&](const std::function<bool()>& done, std::chrono::seconds within) {
    auto deadline = std::chrono::steady_clock::now() + within;
    while (std::chrono::steady_clock::now() < deadline) {
      auto list = client->list(plvs, {});
      if (!list.ok()) return false;
      for (const auto& obj : list->items) {
        std::string name = kube::nameOf(obj);
        kube::Outcome r = reconciler.reconcile({ns.name(), name});
        if (r.kind() == kube::Outcome::Kind::kRetry)
          std::cerr << "reconcile " << name << ": " << r << "\n";
        std::string phase = phaseOf(name);
        if (phases[name].empty() || phases[name].back() != phase) phases[name].push_back(phase);
      }
      if (done()) return true;
      std::this_thread::sleep_for(300ms);
    }
    return false;
  };
  auto dump = [&] {
    std::ostringstream os;
    for (const auto& [name, seen] : phases) {
      os << name << ":";
      for (const auto& p : seen) os << " " << p;
      os << "\n";
    }
    auto list = client->list(plvs, {});
    if (list.ok()) {
      for (const auto& obj : list->items) os << obj.value("status", Json()).dump() << "\n";
    }
    return os.str();
  };

  ASSERT_TRUE(client->create(plvs, pipelineVersion("v1", bootstrap, source, out1, false)).ok());
  ASSERT_TRUE(
      runUntil([&] { return phaseOf("sessions-v1") == "Serving" && aliasVersion() == "v1"; }, 90s))
      << dump();
  Status v1 = statusFromJson((*client->get(plvs.object("sessions-v1")))["status"]);
  EXPECT_EQ(v1.lag.messages, 0);
  EXPECT_EQ(v1.outputTopic, out1);
  ASSERT_TRUE(v1.replay.caughtUpAt.has_value());

  ASSERT_TRUE(client->create(plvs, pipelineVersion("v2", bootstrap, source, out2, true)).ok());
  ASSERT_TRUE(runUntil(
      [&] {
        return phaseOf("sessions-v2") == "Serving" && phaseOf("sessions-v1") == "Retired" &&
               aliasVersion() == "v2";
      },
      120s))
      << dump();

  EXPECT_EQ(kube.aliasWrites, (std::vector<std::string>{"v1", "v2"})) << dump();
  Status v2 = statusFromJson((*client->get(plvs.object("sessions-v2")))["status"]);
  EXPECT_EQ(v2.previousVersion, "v1");
  const Condition* validated = findCondition(v2, kValidated);
  ASSERT_NE(validated, nullptr);
  EXPECT_EQ(validated->status, ConditionStatus::kTrue) << validated->message;
  EXPECT_EQ(validated->reason, "Matched") << validated->message;
  EXPECT_GT(v2.validation.comparedKeys, 0);
  EXPECT_EQ(v2.validation.mismatchedKeys, 0);
  // One key in 2 of the 500 is tapped: more than the 200 of the sample, so the taps were
  // compared, not the outputs.
  EXPECT_EQ(v2.tapTopic, out2 + ".tap");
  EXPECT_EQ(v2.validation.source, "Tap") << dump();
  EXPECT_EQ(v2.validation.sampledKeys, 200);

  const auto& v1Phases = phases["sessions-v1"];
  auto at = [&](const std::string& p) {
    return std::find(v1Phases.begin(), v1Phases.end(), p) - v1Phases.begin();
  };
  EXPECT_LT(at("Serving"), at("Draining")) << dump();
  EXPECT_LT(at("Draining"), at("Retired")) << dump();
  v1 = statusFromJson((*client->get(plvs.object("sessions-v1")))["status"]);
  EXPECT_FALSE(workloads.observeWorker(ns.name(), "sessions-v1")->exists);
  // The group goes on the pass after the one that sees the worker stopped.
  EXPECT_TRUE(runUntil(
      [&] {
        auto committed = admin->committedOffsets(v1.consumerGroup, source);
        return committed.ok() && committed->empty();
      },
      10s))
      << "group " << v1.consumerGroup << " still has offsets\n"
      << dump();

  // retainOutputSeconds later the old output is deleted.
  ASSERT_TRUE(runUntil(
      [&] {
        auto s = statusFromJson((*client->get(plvs.object("sessions-v1")))["status"]);
        return s.outputDeletedAt.has_value() &&
               admin->describeTopic(out1).error().code == ErrorCode::kNotFound;
      },
      30s))
      << dump();

  // Deletion: the finalizer cleans up what each version owns and then lets go.
  ASSERT_TRUE(client->remove(plvs.object("sessions-v1")).ok());
  ASSERT_TRUE(client->remove(plvs.object("sessions-v2")).ok());
  EXPECT_TRUE(runUntil(
      [&] { return phaseOf("sessions-v1") == "<gone>" && phaseOf("sessions-v2") == "<gone>"; },
      60s))
      << dump();
  EXPECT_EQ(workloads.runningProcesses(), 0);
  EXPECT_EQ(aliasVersion(), "v2");  // the alias itself is never deleted by the operator
  // The serving version's output is kept while the alias names it; the test removes it.
  (void)admin->deleteTopic(out2);
  (void)admin->deleteTopic(out2 + ".dlq");
  (void)admin->deleteTopic(source);
  if (!HasFailure()) std::filesystem::remove_all(logDir);
}

}  // namespace
}  // namespace kappa::controllers
