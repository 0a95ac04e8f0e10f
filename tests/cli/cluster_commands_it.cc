// kubectl-kappa status / promote / abort / rollback against the real apiserver with the
// PipelineVersion CRD installed, run as a user would run the plugin.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "cli/cluster_commands.h"
#include "runtime/kube/kube_api.h"
#include "tests/support/kafka_test_util.h"
#include "tests/support/kube_test_util.h"

namespace kappa::cli {
namespace {

using kube::Json;
const kube::Resource kPlv{"kappa.io", "v1alpha1", "pipelineversions", true};

class ClusterCommandsIT : public ::testing::Test {
 protected:
  void SetUp() override {
    env_ = testing::apiserverEnv();
    kubeconfig_ = env_["KUBECONFIG"];
    std::string kubectl = env_.count("KUBECTL") ? env_["KUBECTL"] : "kubectl";
    auto apply = testing::run(kubectl + " --kubeconfig " + kubeconfig_ + " apply -f " +
                              KAPPA_SOURCE_DIR + "/crds/pipelineversions.kappa.io.yaml 2>&1 && " +
                              kubectl + " --kubeconfig " + kubeconfig_ +
                              " wait --for=condition=Established --timeout=60s"
                              " crd/pipelineversions.kappa.io 2>&1");
    ASSERT_EQ(apply.exitCode, 0) << apply.out;
    api_ = testing::makeKubeClient();
    ASSERT_TRUE(api_);
    ns_ = std::make_unique<testing::TestNamespace>(*api_, "cli");
  }

  Json version(const std::string& v) {
    return Json::parse(R"({"apiVersion":"kappa.io/v1alpha1","kind":"PipelineVersion",
      "metadata":{"name":"sessions-)" +
                       v + R"("},
      "spec":{"pipeline":"sessions","version":")" +
                       v + R"(",
        "kafka":{"bootstrapServers":"127.0.0.1:9092"},"source":{"topic":"clickstream.raw"},
        "processor":{"builtin":{"keyField":"user_id","aggregates":[{"name":"n","op":"count"}]}}}})");
  }

  void create(const std::string& v, const Json& status) {
    // Discovery of a just-established CRD can lag a moment.
    bool ok = testing::eventually(
        [&] {
          return api_->create({kPlv, ns_->name()}, version(v)).ok();
        },
        std::chrono::seconds(20));
    ASSERT_TRUE(ok);
    auto got = api_->get({kPlv, ns_->name(), "sessions-" + v, {}});
    ASSERT_TRUE(got.ok());
    Json obj = *got;
    obj["status"] = status;
    auto st = api_->updateStatus({kPlv, ns_->name(), "sessions-" + v, {}}, obj);
    ASSERT_TRUE(st.ok()) << st.error();
  }

  void alias(const Json& data) {
    Json cm = {{"apiVersion", "v1"},
               {"kind", "ConfigMap"},
               {"metadata", {{"name", "sessions-serving"}}},
               {"data", data}};
    auto r = api_->create({kube::resources::configMaps(), ns_->name()}, cm);
    ASSERT_TRUE(r.ok()) << r.error();
  }

  testing::CommandResult plugin(const std::string& args) {
    return testing::run(testing::binPath("kubectl-kappa") + " " + args + " --kubeconfig " +
                        kubeconfig_ + " -n " + ns_->name() + " 2>&1");
  }

  std::string annotation(const std::string& name, const std::string& key) {
    auto obj = api_->get({kPlv, ns_->name(), name, {}});
    if (!obj.ok()) return "<error>";
    auto p = Json::json_pointer("/metadata/annotations/" + key.substr(0, key.find('/')) + "~1" +
                                key.substr(key.find('/') + 1));
    return obj->contains(p) ? obj->at(p).get<std::string>() : "";
  }

  std::map<std::string, std::string> env_;
  std::string kubeconfig_;
  std::unique_ptr<kube::HttpKubeApi> api_;
  std::unique_ptr<testing::TestNamespace> ns_;
};

TEST_F(ClusterCommandsIT, StatusShowsVersionsAndTheServingOne) {
  create("v1", {{"phase", "Serving"}, {"lag", {{"messages", 0}}}});
  create("v2", {{"phase", "Replaying"},
                {"lag", {{"messages", 1234}, {"seconds", 4000}, {"secondsEstimated", true}}},
                {"replay",
                 {{"progressPercent", 42.5}, {"etaSeconds", 95}, {"messagesPerSecond", 300000}}}});
  alias({{"pipeline", "sessions"},
         {"version", "v1"},
         {"topic", "sessions.v1"},
         {"promotedAt", "2026-11-23T10:00:00Z"}});
  auto r = plugin("status sessions");
  ASSERT_EQ(r.exitCode, 0) << r.out;
  EXPECT_NE(r.out.find("serving v1 (topic sessions.v1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Replaying"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("1234"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("~1h6m"), std::string::npos) << r.out;  // seconds behind, estimated
  EXPECT_NE(r.out.find("42.5%"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("1m35s"), std::string::npos) << r.out;
  auto j = plugin("status sessions --json");
  ASSERT_EQ(j.exitCode, 0) << j.out;
  auto parsed = Json::parse(j.out);
  ASSERT_EQ(parsed["versions"].size(), 2u);
  EXPECT_EQ(parsed["versions"][1]["status"]["phase"], "Replaying");
  EXPECT_EQ(parsed["alias"]["version"], "v1");
}

// How many times `status -w` printed the status into `file` so far.
int framesIn(const std::string& file, std::string* text = nullptr) {
  std::ifstream in(file);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (text) *text = all;
  int n = 0;
  for (size_t at = all.find("pipeline sessions:"); at != std::string::npos;
       at = all.find("pipeline sessions:", at + 1)) {
    ++n;
  }
  return n;
}

TEST_F(ClusterCommandsIT, StatusWatchPrintsOnEveryChangeAndOnlyThen) {
  create("v1", {{"phase", "Serving"}});
  create("v2", {{"phase", "Replaying"}, {"lag", {{"messages", 77}}}});
  alias({{"pipeline", "sessions"}, {"version", "v1"}, {"topic", "sessions.v1"}});
  std::string out = ::testing::TempDir() + "status-watch-" + ns_->name() + ".out";
  auto started =
      testing::run(testing::binPath("kubectl-kappa") + " status sessions -w --kubeconfig " +
                   kubeconfig_ + " -n " + ns_->name() + " >" + out + " 2>&1 & echo $!");
  ASSERT_EQ(started.exitCode, 0) << started.out;
  std::string pid = started.out.substr(0, started.out.find('\n'));
  std::string text;
  ASSERT_TRUE(
      testing::eventually([&] { return framesIn(out, &text) >= 1; }, std::chrono::seconds(20)))
      << text;
  EXPECT_NE(text.find("serving v1"), std::string::npos) << text;
  // Nothing changes: nothing printed again (a poll would have).
  std::this_thread::sleep_for(std::chrono::seconds(3));
  EXPECT_EQ(framesIn(out), 1) << text;

  // The candidate moves on and the alias flips: printed again, without asking.
  auto got = api_->get({kPlv, ns_->name(), "sessions-v2", {}});
  ASSERT_TRUE(got.ok());
  Json obj = *got;
  obj["status"] = {{"phase", "Serving"}};
  ASSERT_TRUE(api_->updateStatus({kPlv, ns_->name(), "sessions-v2", {}}, obj).ok());
  auto cm = api_->get({kube::resources::configMaps(), ns_->name(), "sessions-serving", {}});
  ASSERT_TRUE(cm.ok());
  (*cm)["data"]["version"] = "v2";
  (*cm)["data"]["topic"] = "sessions.v2";
  ASSERT_TRUE(
      api_->update({kube::resources::configMaps(), ns_->name(), "sessions-serving", {}}, *cm).ok());
  EXPECT_TRUE(testing::eventually(
      [&] {
        framesIn(out, &text);
        return text.find("serving v2 (topic sessions.v2") != std::string::npos;
      },
      std::chrono::seconds(10)))
      << text;
  testing::run("kill -INT " + pid);
  EXPECT_TRUE(testing::eventually(
      [&] { return testing::run("kill -0 " + pid + " 2>/dev/null").exitCode != 0; },
      std::chrono::seconds(10)))
      << "kubectl-kappa status -w did not stop on SIGINT";
  std::remove(out.c_str());
}

TEST_F(ClusterCommandsIT, GatesSetTheAnnotations) {
  create("v1", {{"phase", "AwaitingPromotion"}});
  create("v2", {{"phase", "Replaying"}});
  auto p = plugin("promote sessions-v1");
  ASSERT_EQ(p.exitCode, 0) << p.out;
  EXPECT_EQ(annotation("sessions-v1", "kappa.io/promote"), "true");
  auto a = plugin("abort sessions-v2");
  ASSERT_EQ(a.exitCode, 0) << a.out;
  EXPECT_EQ(annotation("sessions-v2", "kappa.io/abort"), "true");
  auto missing = plugin("promote sessions-v9");
  EXPECT_EQ(missing.exitCode, 2);
  EXPECT_NE(missing.out.find("sessions-v9"), std::string::npos) << missing.out;
}

TEST_F(ClusterCommandsIT, RollbackAnnotatesTheServingVersion) {
  auto none = plugin("rollback sessions");
  EXPECT_EQ(none.exitCode, 2);
  EXPECT_NE(none.out.find("no serving alias"), std::string::npos) << none.out;
  create("v1", {{"phase", "Draining"}});
  create("v2", {{"phase", "Serving"}});
  alias({{"pipeline", "sessions"},
         {"version", "v2"},
         {"topic", "sessions.v2"},
         {"previousVersion", "v1"}});
  auto r = plugin("rollback sessions");
  ASSERT_EQ(r.exitCode, 0) << r.out;
  EXPECT_NE(r.out.find("from v2 to v1"), std::string::npos) << r.out;
  EXPECT_EQ(annotation("sessions-v2", "kappa.io/rollback"), "true");
  EXPECT_EQ(annotation("sessions-v1", "kappa.io/rollback"), "");
}

}  // namespace
}  // namespace kappa::cli

namespace kappa::cli {
namespace {

// renderStatus alone: a version whose pods a quota refuses says so under its row; a worker
// that is only starting does not.
TEST(RenderStatus, ShowsWhyTheWorkersPodsDoNotRun) {
  auto version = [](const std::string& v, const std::string& reason) {
    return kube::Json{
        {"metadata", {{"name", "sessions-" + v}, {"creationTimestamp", "2026-11-23T10:00:00Z"}}},
        {"spec", {{"pipeline", "sessions"}, {"version", v}}},
        {"status",
         {{"phase", "Replaying"},
          {"conditions",
           kube::Json::array({{{"type", "WorkerAvailable"},
                               {"status", "False"},
                               {"reason", reason},
                               {"message", "FailedCreate: exceeded quota: sessions-" + v +
                                               "-replay, requested: pods=1"}}})}}}};
  };
  std::string out = renderStatus("sessions", {version("v2", "ReplicaFailure")}, nullptr,
                                 std::chrono::system_clock::now());
  EXPECT_NE(out.find("pods: ReplicaFailure: FailedCreate: exceeded quota: sessions-v2-replay"),
            std::string::npos)
      << out;
  out = renderStatus("sessions", {version("v3", "Starting")}, nullptr,
                     std::chrono::system_clock::now());
  EXPECT_EQ(out.find("pods:"), std::string::npos) << out;
}

// The DAG: each tier after the one it reads, with its serving version and what is in flight.
TEST(RenderPipelines, TiersInTheOrderTheyReadEachOther) {
  auto version = [](const std::string& pipeline, const std::string& v, const std::string& phase,
                    kube::Json source, kube::Json status = kube::Json::object()) {
    status["phase"] = phase;
    return kube::Json{{"metadata",
                       {{"name", pipeline + "-" + v},
                        {"creationTimestamp", "2026-11-23T10:00:00Z"},
                        {"labels", kube::Json::object()}}},
                      {"spec", {{"pipeline", pipeline}, {"version", v}, {"source", source}}},
                      {"status", status}};
  };
  auto alias = [](const std::string& pipeline, const std::string& v) {
    return kube::Json{
        {"data", {{"pipeline", pipeline}, {"version", v}, {"topic", pipeline + "." + v}}}};
  };
  kube::Json goldNext = version("gold", "v7-c1", "Replaying", {{"pipeline", "silver"}});
  goldNext["metadata"]["labels"] = {{"kappa.io/cascade-from", "silver"},
                                    {"kappa.io/cascade-upstream-version", "v7"}};
  std::vector<kube::Json> versions{
      // Listed out of order: gold first.
      version("gold", "v1", "Serving", {{"pipeline", "silver"}},
              {{"source", {{"pipeline", "silver"}, {"version", "v6"}}}}),
      goldNext,
      version("silver", "v7", "Serving", {{"pipeline", "bronze"}},
              {{"source", {{"pipeline", "bronze"}, {"version", "v2"}}}}),
      version("silver", "v6", "Draining", {{"pipeline", "bronze"}}),
      version("bronze", "v2", "Serving", {{"topic", "clicks"}}),
  };
  kube::Json graph =
      pipelineGraph(versions, {alias("gold", "v1"), alias("silver", "v7"), alias("bronze", "v2")});
  ASSERT_EQ(graph.size(), 3u) << graph.dump(2);
  EXPECT_EQ(graph[0]["pipeline"], "bronze");
  EXPECT_EQ(graph[1]["pipeline"], "silver");
  EXPECT_EQ(graph[2]["pipeline"], "gold");
  EXPECT_EQ(graph[2]["serving"]["reads"], "v6");
  ASSERT_EQ(graph[2]["candidates"].size(), 1u);
  EXPECT_EQ(graph[2]["candidates"][0]["cascadeFrom"], "silver v7");
  std::string out = renderPipelines(graph);
  EXPECT_NE(out.find("topic clicks"), std::string::npos) << out;
  EXPECT_NE(out.find("silver v6"), std::string::npos) << out;
  EXPECT_NE(out.find("v7-c1 Replaying (cascade from silver v7)"), std::string::npos) << out;
  EXPECT_LT(out.find("bronze"), out.find("gold")) << out;
}

// A tier that reads another pipeline says which version of it, under its row.
TEST(RenderStatus, AMedallionTierShowsTheUpstreamVersionItReads) {
  kube::Json gold = {
      {"metadata", {{"name", "gold-v2"}, {"creationTimestamp", "2026-11-23T10:00:00Z"}}},
      {"spec", {{"pipeline", "gold"}, {"version", "v2"}}},
      {"status",
       {{"phase", "Replaying"},
        {"source", {{"pipeline", "silver"}, {"version", "v7"}, {"topic", "silver.v7"}}}}}};
  std::string out = renderStatus("gold", {gold}, nullptr, std::chrono::system_clock::now());
  EXPECT_NE(out.find("reads silver version v7 (silver.v7)"), std::string::npos) << out;
}

// What the dry run would dead-letter, under the row, until the version serves.
TEST(RenderStatus, ACandidateShowsWhatItsDryRunWouldDeadLetter) {
  kube::Json v2 = {
      {"metadata", {{"name", "sessions-v2"}, {"creationTimestamp", "2026-11-23T10:00:00Z"}}},
      {"spec", {{"pipeline", "sessions"}, {"version", "v2"}}},
      {"status",
       {{"phase", "Failed"},
        {"reason", "DeadLetterRatioExceeded"},
        {"dryRun",
         {{"sampledRecords", 40},
          {"deadLetteredRecords", 3},
          {"deadLetterRatio", 0.075},
          {"reasons", kube::Json::array({{{"reason", "missing key field"}, {"records", 3}}})}}}}}};
  std::string out = renderStatus("sessions", {v2}, nullptr, std::chrono::system_clock::now());
  EXPECT_NE(out.find("dry run: would dead-letter 3 of 40 sampled records (about 7.5% of the "
                     "history): missing key field (3)\n"),
            std::string::npos)
      << out;
  v2["status"]["phase"] = "Serving";
  out = renderStatus("sessions", {v2}, nullptr, std::chrono::system_clock::now());
  EXPECT_EQ(out.find("dry run"), std::string::npos) << "not once it serves: " << out;
  v2["status"]["phase"] = "Replaying";
  v2["status"]["dryRun"]["deadLetteredRecords"] = 0;
  out = renderStatus("sessions", {v2}, nullptr, std::chrono::system_clock::now());
  EXPECT_EQ(out.find("dry run"), std::string::npos) << "nothing to say: " << out;
}

// A straggling partition of a replay, under its row, with the pod that holds it.
TEST(RenderStatus, AReplayShowsItsStragglers) {
  kube::Json v2 = {
      {"metadata", {{"name", "sessions-v2"}, {"creationTimestamp", "2026-11-23T10:00:00Z"}}},
      {"spec", {{"pipeline", "sessions"}, {"version", "v2"}}},
      {"status",
       {{"phase", "Replaying"},
        {"replay",
         {{"stragglers", kube::Json::array({{{"partition", 3},
                                             {"lag", 81234},
                                             {"messagesPerSecond", 12.25},
                                             {"peerMessagesPerSecond", 5400},
                                             {"pod", "sessions-v2-7d9c-x2"}}})}}}}}};
  std::string out = renderStatus("sessions", {v2}, nullptr, std::chrono::system_clock::now());
  EXPECT_NE(out.find("straggler: partition 3, 81234 behind at 12.2 msgs/s (others 5400.0), "
                     "pod sessions-v2-7d9c-x2\n"),
            std::string::npos)
      << out;
  v2["status"]["phase"] = "Failed";
  out = renderStatus("sessions", {v2}, nullptr, std::chrono::system_clock::now());
  EXPECT_EQ(out.find("straggler"), std::string::npos) << "only while replaying: " << out;
}

// Lag, progress and ETA only for candidates; cells never run together; mismatch examples as
// the fields that differ.
TEST(RenderStatus, ServingRowsShowNoStaleLagAndExamplesAreFieldDiffs) {
  auto version = [](const std::string& v, const std::string& phase, kube::Json status) {
    status["phase"] = phase;
    status["lag"] = {{"messages", 52}, {"seconds", 0.4}};
    status["replay"] = {{"progressPercent", 100.0}, {"etaSeconds", 1}, {"messagesPerSecond", 9}};
    return kube::Json{
        {"metadata", {{"name", "sessions-" + v}, {"creationTimestamp", "2026-11-23T10:00:00Z"}}},
        {"spec", {{"pipeline", "sessions"}, {"version", v}}},
        {"status", status}};
  };
  kube::Json mismatch = {
      {"validation",
       {{"mismatchRatio", 0.5},
        {"mismatchedKeys", 1},
        {"comparedKeys", 2},
        {"examples", kube::Json::array({{{"key", "u1"},
                                         {"serving", R"({"revenue":466.6,"views":3})"},
                                         {"candidate", R"({"revenue":3278.13,"views":3})"}}})}}},
      {"conditions", kube::Json::array({{{"type", "Validated"}, {"status", "False"}}})}};
  kube::Json alias = {{"data", {{"version", "v1"}, {"topic", "sessions.v1"}}}};
  std::string out = renderStatus("sessions",
                                 {version("v1", "Serving", kube::Json::object()),
                                  version("v2", "AwaitingPromotion", mismatch)},
                                 alias, std::chrono::system_clock::now());
  std::istringstream lines(out);
  std::string line, v1, v2;
  while (std::getline(lines, line)) {
    if (line.rfind("v1 ", 0) == 0) v1 = line;
    if (line.rfind("v2 ", 0) == 0) v2 = line;
  }
  EXPECT_EQ(v1.find("52"), std::string::npos) << out;       // no frozen lag
  EXPECT_EQ(v1.find("100.0%"), std::string::npos) << out;   // nor progress
  EXPECT_NE(v2.find("100.0% "), std::string::npos) << out;  // a space after the cell
  EXPECT_EQ(v2.find("1s"), std::string::npos) << out;       // no ETA once replayed
  EXPECT_NE(out.find("key u1: revenue: 466.6 -> 3278.13\n"), std::string::npos) << out;
}

TEST(RenderHistory, MergesEveryVersionsTransitionsInTimeOrder) {
  auto version = [](const std::string& v, kube::Json history) {
    return kube::Json{{"metadata", {{"name", "sessions-" + v}}},
                      {"spec", {{"pipeline", "sessions"}, {"version", v}}},
                      {"status", {{"history", history}}}};
  };
  kube::Json entries =
      mergeHistory({version("v1", kube::Json::array({{{"time", "2026-12-01T10:00:00.000000Z"},
                                                      {"from", "Promoting"},
                                                      {"to", "Serving"},
                                                      {"actor", "policy"}},
                                                     {{"time", "2026-12-01T12:00:05.000000Z"},
                                                      {"from", "Serving"},
                                                      {"to", "Draining"},
                                                      {"actor", "policy"}}})),
                    version("v2", kube::Json::array({{{"time", "2026-12-01T12:00:00.000000Z"},
                                                      {"from", "AwaitingPromotion"},
                                                      {"to", "Promoting"},
                                                      {"reason", "PromotionApproved"},
                                                      {"actor", "annotation kappa.io/promote"},
                                                      {"comparedKeys", 1000},
                                                      {"mismatchedKeys", 3}}}))});
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[0]["version"], "v1");
  EXPECT_EQ(entries[1]["version"], "v2");
  EXPECT_EQ(entries[2]["to"], "Draining");
  std::string out = renderHistory("sessions", entries);
  EXPECT_NE(out.find("AwaitingPromotion -> Promoting"), std::string::npos) << out;
  EXPECT_NE(out.find("annotation kappa.io/promote"), std::string::npos) << out;
  EXPECT_NE(out.find("PromotionApproved (3 of 1000 compared keys differed)"), std::string::npos)
      << out;
  EXPECT_LT(out.find("Promoting -> Serving"), out.find("AwaitingPromotion -> Promoting")) << out;
}

TEST(RenderHistory, ACascadeIsOneStoryFromEitherEnd) {
  using kube::Json;
  auto version = [](const std::string& pipeline, const std::string& v, Json history,
                    const std::string& from = "", const std::string& upstream = "",
                    const std::string& created = "2026-12-01T09:00:00Z") {
    Json o{{"metadata",
            {{"name", pipeline + "-" + v},
             {"creationTimestamp", created},
             {"labels", Json::object()}}},
           {"spec", {{"pipeline", pipeline}, {"version", v}}},
           {"status", {{"history", history}}}};
    if (!from.empty()) {
      o["metadata"]["labels"]["kappa.io/cascade-from"] = from;
      o["metadata"]["labels"]["kappa.io/cascade-upstream-version"] = upstream;
      o["metadata"]["annotations"]["kappa.io/cascade"] =
          "pipeline " + from + " flipped to version " + upstream + " (validated equal)";
    }
    return o;
  };
  auto step = [](const std::string& time, const std::string& from, const std::string& to) {
    return Json{{"time", time}, {"from", from}, {"to", to}, {"actor", "policy"}};
  };
  std::vector<Json> all = {
      version("silver", "v7",
              Json::array({step("2026-12-01T10:00:00.000000Z", "Promoting", "Serving")})),
      version("silver", "v8",
              Json::array({step("2026-12-01T12:00:00.000000Z", "Promoting", "Serving")})),
      version("gold", "v1",
              Json::array({step("2026-12-01T10:30:00.000000Z", "Promoting", "Serving")})),
      version("gold", "v1-c0a1b2c3",
              Json::array({step("2026-12-01T12:00:01.500000Z", "Pending", "Provisioning"),
                           step("2026-12-01T12:05:00.000000Z", "Promoting", "Serving")}),
              "silver", "v8", "2026-12-01T12:00:01Z"),
      version("platinum", "v3-cd4e5f60",
              Json::array({step("2026-12-01T12:05:02.000000Z", "Pending", "Provisioning")}), "gold",
              "v1-c0a1b2c3", "2026-12-01T12:05:01Z"),
      version("audit", "v1",
              Json::array({step("2026-12-01T11:00:00.000000Z", "Promoting", "Serving")})),
  };
  auto names = [](const std::vector<Json>& story) {
    std::vector<std::string> out;
    for (const auto& v : story) out.push_back(v["metadata"]["name"]);
    std::sort(out.begin(), out.end());
    return out;
  };
  // From the middle: gold's versions, the silver flip that made its cascade, and what gold's
  // cascade made downstream; not silver's other versions, nor an unrelated pipeline.
  EXPECT_EQ(names(cascadeStory(all, "gold")),
            (std::vector<std::string>{"gold-v1", "gold-v1-c0a1b2c3", "platinum-v3-cd4e5f60",
                                      "silver-v8"}));
  // From the top: every cascade down the chain.
  EXPECT_EQ(names(cascadeStory(all, "silver")),
            (std::vector<std::string>{"gold-v1-c0a1b2c3", "platinum-v3-cd4e5f60", "silver-v7",
                                      "silver-v8"}));
  // Alone, a pipeline without cascades is its own versions.
  EXPECT_EQ(names(cascadeStory(all, "audit")), (std::vector<std::string>{"audit-v1"}));

  Json entries = mergeHistory(cascadeStory(all, "silver"));
  std::string out = renderHistory("silver", entries);
  EXPECT_NE(out.find("pipeline silver, with the pipelines its cascades reach: gold platinum"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("PIPELINE"), std::string::npos) << out;
  // The flip, then the cascade it made (named by its creation entry), then that one's steps.
  auto flip = out.find("silver     v8 ");
  auto created = out.find("(created) -> Pending");
  auto provisioning = out.find("Pending -> Provisioning");
  ASSERT_NE(flip, std::string::npos) << out;
  ASSERT_NE(created, std::string::npos) << out;
  EXPECT_LT(flip, created) << out;
  EXPECT_LT(created, provisioning) << out;
  EXPECT_NE(out.find("cascade from silver"), std::string::npos) << out;
  EXPECT_NE(out.find("pipeline silver flipped to version v8 (validated equal)"), std::string::npos)
      << out;
  // A single pipeline's history has no PIPELINE column.
  EXPECT_EQ(renderHistory("audit", mergeHistory(cascadeStory(all, "audit"))).find("PIPELINE"),
            std::string::npos);
}

}  // namespace
}  // namespace kappa::cli
