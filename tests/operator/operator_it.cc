// The kappa-operator binary against the fixture apiserver and broker, with the production
// workload adapter: it takes the leader Lease, serves /healthz, /readyz and /metrics,
// reconciles a new PipelineVersion into a replay Deployment (labels, owner, KAPPA_* env,
// replay profile) and a ResourceQuota scoped to the replay PriorityClass, and stops cleanly
// on SIGTERM, releasing the Lease. No kubelet runs in the fixture, so the workers never start
// and the version stays in Replaying; the cutover itself is operator.cutover_it.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "controllers/pipelineversion/adapters/kube_workload_runner.h"
#include "controllers/pipelineversion/codec.h"
#include "controllers/pipelineversion/reconciler.h"
#include "tests/support/child_process.h"
#include "tests/support/kafka_test_util.h"
#include "tests/support/kube_test_util.h"

namespace kappa::controllers {
namespace {

using kube::Json;
using namespace std::chrono_literals;

int freePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  int port = ntohs(addr.sin_port);
  close(fd);
  return port;
}

std::string quote(const std::string& s) { return "'" + s + "'"; }

// HTTP status and body of a GET.
std::pair<int, std::string> httpGet(const std::string& url) {
  auto r = testing::run("curl -s -o /dev/stdout -w '\\n%{http_code}' " + quote(url));
  auto nl = r.out.rfind('\n');
  if (nl == std::string::npos) return {0, r.out};
  return {std::atoi(r.out.c_str() + nl + 1), r.out.substr(0, nl)};
}

std::string envValue(const Json& container, const std::string& name) {
  for (const auto& e : container.value("env", Json::array())) {
    if (e.value("name", "") == name) return e.value("value", "");
  }
  return "<unset>";
}

TEST(OperatorIT, LeadsServesProbesCreatesTheReplayWorkloadAndStopsOnSigterm) {
  auto env = testing::apiserverEnv();
  ASSERT_TRUE(env.count("KUBECONFIG"));
  std::string kubectl = "KUBECONFIG=" + quote(env["KUBECONFIG"]) + " kubectl ";
  auto applied =
      testing::run(kubectl + "apply -f " +
                   quote(std::string(KAPPA_SOURCE_DIR) + "/crds/pipelineversions.kappa.io.yaml") +
                   " 2>&1 && " + kubectl +
                   "wait --for condition=established --timeout=60s "
                   "crd/pipelineversions.kappa.io 2>&1");
  ASSERT_EQ(applied.exitCode, 0) << applied.out;

  auto client = testing::makeKubeClient();
  testing::TestNamespace ns(*client, "operator");
  std::string bootstrap = testing::kafkaBootstrap();
  std::string source = testing::uniqueName("clicks");
  std::string output = testing::uniqueName("out");
  auto loadgen = testing::run(testing::binPath("kappa-loadgen") + " --bootstrap " + bootstrap +
                              " --topic " + source + " --create-partitions 2 --count 1000 2>&1");
  ASSERT_EQ(loadgen.exitCode, 0) << loadgen.out;

  int metricsPort = freePort();
  int probePort = freePort();
  std::string log =
      std::filesystem::temp_directory_path() / (testing::uniqueName("operator") + ".log");
  std::string workerCommand = testing::binPath("kappa-worker");
  auto op = std::make_unique<testing::ChildProcess>(
      std::vector<std::string>{
          testing::binPath("kappa-operator"), "--kubeconfig", env["KUBECONFIG"], "--namespace",
          ns.name(), "--worker-image", "kappa-worker:it", "--worker-command", workerCommand,
          "--metrics-address", "127.0.0.1:" + std::to_string(metricsPort), "--health-probe-address",
          "127.0.0.1:" + std::to_string(probePort), "--leader-election-identity", "operator-it"},
      log);

  std::string probes = "http://127.0.0.1:" + std::to_string(probePort);
  EXPECT_TRUE(testing::eventually([&] { return httpGet(probes + "/readyz").first == 200; }, 30s))
      << op->log();
  EXPECT_EQ(httpGet(probes + "/healthz").first, 200);

  kube::ObjectRef lease{kube::resources::leases(), ns.name(), "kappa-operator", ""};
  EXPECT_TRUE(testing::eventually(
      [&] {
        auto l = client->get(lease);
        return l.ok() && (*l)["spec"].value("holderIdentity", "") == "operator-it";
      },
      30s))
      << op->log();

  Json pv = Json::parse(R"({
    "apiVersion": "kappa.io/v1alpha1", "kind": "PipelineVersion",
    "metadata": {"name": "sessions-v1"},
    "spec": {
      "pipeline": "sessions", "version": "v1",
      "kafka": {}, "source": {}, "output": {},
      "processor": {"builtin": {"keyField": "user_id",
                                "aggregates": [{"name": "events", "op": "count"}]}},
      "replay": {"replicas": 3, "quota": {"pods": "6", "cpu": "4"},
                 "resources": {"requests": {"cpu": "500m"}}}
    }
  })");
  pv["spec"]["kafka"]["bootstrapServers"] = bootstrap;
  pv["spec"]["source"]["topic"] = source;
  pv["spec"]["output"]["topic"] = output;
  kube::CollectionRef plvs{pipelineVersions(), ns.name()};
  auto created = client->create(plvs, pv);
  ASSERT_TRUE(created.ok()) << created.error();
  std::string uid = kube::uidOf(*created);

  kube::ObjectRef deployment{kube::resources::deployments(), ns.name(), "sessions-v1", ""};
  ASSERT_TRUE(testing::eventually([&] { return client->get(deployment).ok(); }, 60s)) << op->log();
  Json d = *client->get(deployment);
  const Json& labels = d["metadata"]["labels"];
  EXPECT_EQ(labels.value("app.kubernetes.io/managed-by", ""), "kappa-operator");
  EXPECT_EQ(labels.value("kappa.io/pipeline", ""), "sessions");
  EXPECT_EQ(labels.value("kappa.io/version", ""), "v1");
  ASSERT_EQ(d["metadata"]["ownerReferences"].size(), 1u);
  EXPECT_EQ(d["metadata"]["ownerReferences"][0].value("uid", ""), uid);
  EXPECT_EQ(d["metadata"]["ownerReferences"][0].value("kind", ""), "PipelineVersion");
  EXPECT_EQ(d["spec"].value("replicas", 0), 3);
  const Json& pod = d["spec"]["template"]["spec"];
  EXPECT_EQ(pod.value("priorityClassName", ""), "kappa-replay");
  const Json& c = pod["containers"][0];
  EXPECT_EQ(c.value("image", ""), "kappa-worker:it");
  EXPECT_EQ(c["command"], Json::array({workerCommand}));
  EXPECT_EQ(c["resources"]["requests"].value("cpu", ""), "500m");
  EXPECT_EQ(envValue(c, "KAPPA_SOURCE_TOPIC"), source);
  EXPECT_EQ(envValue(c, "KAPPA_OUTPUT_TOPIC"), output);
  EXPECT_EQ(envValue(c, "KAPPA_BOOTSTRAP_SERVERS"), bootstrap);
  EXPECT_EQ(envValue(c, "KAPPA_START_OFFSET"), "earliest");
  EXPECT_EQ(Json::parse(envValue(c, "KAPPA_PROGRAM")).value("keyField", ""), "user_id");

  Json obj = *client->get(plvs.object("sessions-v1"));
  Status st = statusFromJson(obj["status"]);
  EXPECT_EQ(st.phase, Phase::kReplaying);
  EXPECT_EQ(envValue(c, "KAPPA_CONSUMER_GROUP"), st.consumerGroup);
  EXPECT_EQ(obj["metadata"]["finalizers"], Json::array({kFinalizer}));

  kube::ObjectRef quota{kube::resources::resourceQuotas(), ns.name(), "sessions-v1-replay", ""};
  ASSERT_TRUE(testing::eventually([&] { return client->get(quota).ok(); }, 30s)) << op->log();
  Json q = *client->get(quota);
  EXPECT_EQ(q["spec"]["hard"].value("pods", ""), "6");
  const Json& expr = q["spec"]["scopeSelector"]["matchExpressions"][0];
  EXPECT_EQ(expr.value("scopeName", ""), "PriorityClass");
  EXPECT_EQ(expr.value("operator", ""), "In");
  EXPECT_EQ(expr["values"], Json::array({"kappa-replay"}));

  auto metrics = httpGet("http://127.0.0.1:" + std::to_string(metricsPort) + "/metrics");
  EXPECT_EQ(metrics.first, 200);
  EXPECT_NE(metrics.second.find("kappa_operator_reconciles_total"), std::string::npos);
  EXPECT_NE(metrics.second.find("kappa_operator_leader 1"), std::string::npos) << metrics.second;
  // The per-version gauges are computed from the cache at the scrape.
  EXPECT_NE(
      metrics.second.find("kappa_pipelineversion_phase{namespace=\"" + ns.name() + "\",phase="),
      std::string::npos)
      << metrics.second;

  op->signal(SIGTERM);
  auto code = op->wait(30s);
  ASSERT_TRUE(code.has_value()) << op->log();
  EXPECT_EQ(*code, 0) << op->log();
  auto l = client->get(lease);
  ASSERT_TRUE(l.ok());
  EXPECT_EQ((*l)["spec"].value("holderIdentity", ""), "") << "lease not released";

  // Nothing runs the finalizer now: let go of the object ourselves, and of the topics.
  ASSERT_TRUE(client
                  ->patch(plvs.object("sessions-v1"), kube::PatchType::kMerge,
                          Json{{"metadata", {{"finalizers", nullptr}}}})
                  .ok());
  (void)client->remove(plvs.object("sessions-v1"));
  auto admin = testing::makeAdmin();
  (void)admin->deleteTopic(output);
  (void)admin->deleteTopic(output + ".dlq");
  (void)admin->deleteTopic(source);
  if (!::testing::Test::HasFailure()) std::filesystem::remove(log);
}

}  // namespace
}  // namespace kappa::controllers
