// The Deployment and ResourceQuota documents of KubeWorkloadRunner, and its reading of a
// Deployment and its pods back into WorkerFacts, against the in-memory fake apiserver.
#include "controllers/pipelineversion/adapters/kube_workload_runner.h"

#include <gtest/gtest.h>

#include "tests/support/fakes/kube_api.h"

namespace kappa::controllers {
namespace {

using kube::CollectionRef;
using kube::Json;
using kube::ObjectRef;
namespace resources = kube::resources;

WorkerRequest request() {
  WorkerRequest r;
  r.ns = "team-a";
  r.name = "sessions-v2";
  r.pipeline = "sessions";
  r.version = "v2";
  r.owner = {"kappa.io/v1alpha1", "PipelineVersion", "sessions-v2", "uid-7"};
  r.profile = WorkerProfile::kReplay;
  r.replicas = 4;
  r.resources.requests = {{"cpu", "1"}};
  r.priorityClassName = "kappa-replay";
  r.env = {{"KAPPA_OUTPUT_TOPIC", "sessions.v2"}, {"KAPPA_PROGRAM", "{}"}};
  return r;
}

std::map<std::string, Json> envByName(const Json& container) {
  std::map<std::string, Json> out;
  for (const auto& e : container["env"]) out[e["name"]] = e;
  return out;
}

TEST(KubeWorkloadRunner, BuiltinWorkerDeployment) {
  KubeWorkloadOptions options;
  options.workerImage = "registry/kappa-worker:1";
  options.workerCommand = {"/usr/local/bin/kappa-worker"};
  Json d = deploymentFor(request(), options);
  EXPECT_EQ(d["metadata"]["labels"]["app.kubernetes.io/managed-by"], "kappa-operator");
  EXPECT_EQ(d["spec"]["selector"]["matchLabels"], d["metadata"]["labels"]);
  Json podLabels = d["metadata"]["labels"];
  podLabels["kappa.io/worker"] = d["metadata"]["name"];  // finds pods that outlive it
  EXPECT_EQ(d["spec"]["template"]["metadata"]["labels"], podLabels);
  EXPECT_EQ(d["metadata"]["ownerReferences"][0]["uid"], "uid-7");
  EXPECT_EQ(d["metadata"]["ownerReferences"][0]["controller"], true);
  EXPECT_EQ(d["spec"]["replicas"], 4);
  const Json& pod = d["spec"]["template"]["spec"];
  EXPECT_EQ(pod["priorityClassName"], "kappa-replay");
  const Json& c = pod["containers"][0];
  EXPECT_EQ(c["image"], "registry/kappa-worker:1");
  EXPECT_EQ(c["command"], Json::array({"/usr/local/bin/kappa-worker"}));
  EXPECT_EQ(c["resources"]["requests"]["cpu"], "1");
  auto env = envByName(c);
  EXPECT_EQ(env["KAPPA_OUTPUT_TOPIC"]["value"], "sessions.v2");
  EXPECT_EQ(env["KAPPA_REPLICA_ID"]["valueFrom"]["fieldRef"]["fieldPath"], "metadata.name");
}

// What the restricted Pod Security level demands of a Pod, checked field by field.
void expectRestricted(const Json& pod) {
  EXPECT_EQ(pod["securityContext"]["runAsNonRoot"], true);
  EXPECT_EQ(pod["securityContext"]["seccompProfile"]["type"], "RuntimeDefault");
  EXPECT_EQ(pod["automountServiceAccountToken"], false);
  for (const auto& c : pod["containers"]) {
    EXPECT_EQ(c["securityContext"]["allowPrivilegeEscalation"], false);
    EXPECT_EQ(c["securityContext"]["readOnlyRootFilesystem"], true);
    EXPECT_EQ(c["securityContext"]["capabilities"]["drop"], Json::array({"ALL"}));
    EXPECT_FALSE(c["securityContext"].contains("privileged"));
  }
}

TEST(KubeWorkloadRunner, BuiltinWorkerIsRestrictedWithProbesOnANamedMetricsPort) {
  Json d = deploymentFor(request(), KubeWorkloadOptions{});
  const Json& pod = d["spec"]["template"]["spec"];
  expectRestricted(pod);
  const Json& c = pod["containers"][0];
  ASSERT_EQ(c["ports"].size(), 1u);
  EXPECT_EQ(c["ports"][0]["name"], "metrics");
  EXPECT_EQ(c["ports"][0]["containerPort"], kWorkerMetricsPort);
  EXPECT_EQ(envByName(c)["KAPPA_METRICS_ADDRESS"]["value"],
            "0.0.0.0:" + std::to_string(kWorkerMetricsPort));
  for (const char* probe : {"livenessProbe", "readinessProbe"}) {
    EXPECT_EQ(c[probe]["httpGet"]["path"], "/healthz") << probe;
    EXPECT_EQ(c[probe]["httpGet"]["port"], "metrics") << probe;
  }
}

TEST(KubeWorkloadRunner, KafkaCredentialsSecretReachesTheWorkerAsPrefixedEnv) {
  Json plain = deploymentFor(request(), KubeWorkloadOptions{});
  EXPECT_FALSE(plain["spec"]["template"]["spec"]["containers"][0].contains("envFrom"));
  WorkerRequest r = request();
  r.kafkaCredentialsSecret = "kafka-sasl";
  Json d = deploymentFor(r, KubeWorkloadOptions{});
  EXPECT_EQ(d["spec"]["template"]["spec"]["containers"][0]["envFrom"],
            (Json::array(
                {{{"prefix", "KAPPA_KAFKA_PROPERTY_"}, {"secretRef", {{"name", "kafka-sasl"}}}}})));
}

TEST(KubeWorkloadRunner, ContainerProcessorKeepsTheUsersImageAndGetsTheKappaEnv) {
  WorkerRequest r = request();
  r.profile = WorkerProfile::kSteady;
  r.priorityClassName.clear();
  r.container = ContainerProcessor{"flink:1.18",
                                   {"/opt/run"},
                                   {"--job", "x"},
                                   {{"USER_VAR", "1"}, {"KAPPA_OUTPUT_TOPIC", "spoofed"}}};
  Json d = deploymentFor(r, KubeWorkloadOptions{});
  const Json& pod = d["spec"]["template"]["spec"];
  EXPECT_FALSE(pod.contains("priorityClassName"));
  const Json& c = pod["containers"][0];
  EXPECT_EQ(c["image"], "flink:1.18");
  EXPECT_EQ(c["command"], Json::array({"/opt/run"}));
  EXPECT_EQ(c["args"], Json::array({"--job", "x"}));
  // The operator's KAPPA_* come after the user's (the last of a name wins in a container).
  size_t spoofed = 0, ours = 0;
  for (size_t i = 0; i < c["env"].size(); ++i) {
    if (c["env"][i].value("value", "") == "spoofed") spoofed = i;
    if (c["env"][i].value("value", "") == "sessions.v2") ours = i;
  }
  EXPECT_LT(spoofed, ours);
  EXPECT_EQ(envByName(c)["KAPPA_OUTPUT_TOPIC"]["value"], "sessions.v2");
  EXPECT_EQ(envByName(c)["USER_VAR"]["value"], "1");
  // Restricted as well, but no probes or port: the user's image need not serve /healthz.
  expectRestricted(pod);
  EXPECT_FALSE(c.contains("livenessProbe"));
  EXPECT_FALSE(c.contains("ports"));
  // Its one writable path: an emptyDir at /tmp.
  EXPECT_EQ(c["volumeMounts"], (Json::array({{{"name", "tmp"}, {"mountPath", "/tmp"}}})));
  EXPECT_EQ(pod["volumes"], (Json::array({{{"name", "tmp"}, {"emptyDir", Json::object()}}})));
}

TEST(KubeWorkloadRunner, WorkerProblemsInTheClustersOwnWords) {
  Json deployment = Json::parse(R"({"status": {"conditions": [
    {"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable"},
    {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
     "message": "pods \"sessions-v2-7d9-x\" is forbidden: exceeded quota: sessions-v2-replay, requested: pods=1, used: pods=1, limited: pods=1"}]}})");
  auto quota = workerProblem(deployment, {});
  ASSERT_TRUE(quota.has_value());
  EXPECT_EQ(quota->reason, "ReplicaFailure");
  EXPECT_EQ(quota->message.rfind("FailedCreate: pods ", 0), 0u) << quota->message;
  EXPECT_NE(quota->message.find("exceeded quota: sessions-v2-replay"), std::string::npos);

  Json healthy = Json::parse(R"({"status": {"conditions": [
    {"type": "Available", "status": "True"},
    {"type": "ReplicaFailure", "status": "False"}]}})");
  Json running =
      Json::parse(R"({"status": {"conditions": [{"type": "PodScheduled", "status": "True"}],
    "containerStatuses": [{"state": {"running": {}}}]}})");
  EXPECT_FALSE(workerProblem(healthy, {running}).has_value());

  Json pending = Json::parse(R"({"status": {"conditions": [{"type": "PodScheduled",
    "status": "False", "reason": "Unschedulable", "message": "0/1 nodes are available: 1 Insufficient cpu."}]}})");
  auto unschedulable = workerProblem(healthy, {running, pending});
  ASSERT_TRUE(unschedulable.has_value());
  EXPECT_EQ(unschedulable->reason, "Unschedulable");
  EXPECT_EQ(unschedulable->message, "0/1 nodes are available: 1 Insufficient cpu.");

  Json noImage = Json::parse(R"({"status": {"containerStatuses": [{"state": {"waiting": {
    "reason": "ErrImageNeverPull", "message": "Container image \"kappa-worker:9\" is not present with pull policy of Never"}}}]}})");
  auto image = workerProblem(healthy, {noImage});
  ASSERT_TRUE(image.has_value());
  EXPECT_EQ(image->reason, "ImagePullFailed");
  EXPECT_NE(image->message.find("kappa-worker:9"), std::string::npos);

  Json badConfig = Json::parse(R"({"status": {"containerStatuses": [{"state": {"waiting": {
    "reason": "CreateContainerConfigError", "message": "secret \"kafka-sasl\" not found"}}}]}})");
  auto config = workerProblem(healthy, {badConfig});
  ASSERT_TRUE(config.has_value());
  EXPECT_EQ(config->reason, "ContainerCreateFailed");
  // A crash loop is not a scheduling problem: crashLooping covers it.
  Json crashing = Json::parse(R"({"status": {"containerStatuses": [{"restartCount": 2,
    "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}})");
  EXPECT_FALSE(workerProblem(healthy, {crashing}).has_value());
}

TEST(KubeWorkloadRunner, QuotaIsScopedToThePriorityClass) {
  Json q = replayQuotaFor(ReplayQuotaRequest{
      "team-a", "sessions-v2-replay", request().owner, "kappa-replay", {{"pods", "8"}}});
  EXPECT_EQ(q["spec"]["hard"]["pods"], "8");
  const Json& expr = q["spec"]["scopeSelector"]["matchExpressions"][0];
  EXPECT_EQ(expr["scopeName"], "PriorityClass");
  EXPECT_EQ(expr["operator"], "In");
  EXPECT_EQ(expr["values"], Json::array({"kappa-replay"}));
}

TEST(KubeWorkloadRunner, ObservesReadyReplicasProfileAndCrashLoops) {
  testing::FakeKubeApi api;
  KubeWorkloadRunner runner(api, KubeWorkloadOptions{});
  auto none = runner.observeWorker("team-a", "sessions-v2");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->exists);

  Json d = deploymentFor(request(), KubeWorkloadOptions{});
  // The Deployment's own count is not read: it lags the pods by two controllers.
  d["status"] = {{"readyReplicas", 3}};
  ASSERT_TRUE(api.create(CollectionRef{resources::deployments(), "team-a"}, d).ok());
  auto state = runner.observeWorker("team-a", "sessions-v2");
  ASSERT_TRUE(state.ok()) << state.error();
  EXPECT_TRUE(state->exists);
  EXPECT_EQ(state->profile, WorkerProfile::kReplay);
  EXPECT_EQ(state->replicas, 4);
  EXPECT_EQ(state->readyReplicas, 0);
  EXPECT_FALSE(state->crashLooping);

  // Ready pods are counted from the pods; a stopping one no longer counts.
  auto readyPod = [&](const std::string& name, const char* ready, bool stopping) {
    Json p{{"apiVersion", "v1"},
           {"kind", "Pod"},
           {"metadata", {{"name", name}, {"labels", d["metadata"]["labels"]}}},
           {"status", {{"conditions", Json::array({{{"type", "Ready"}, {"status", ready}}})}}}};
    if (stopping) p["metadata"]["deletionTimestamp"] = "2026-12-07T12:00:00Z";
    if (name == "sessions-v2-r1") p["status"]["podIP"] = "10.1.0.7";
    ASSERT_TRUE(api.create(CollectionRef{resources::pods(), "team-a"}, p).ok());
  };
  readyPod("sessions-v2-r1", "True", false);
  readyPod("sessions-v2-r2", "True", false);
  readyPod("sessions-v2-r3", "False", false);
  readyPod("sessions-v2-r4", "True", true);
  EXPECT_EQ(runner.observeWorker("team-a", "sessions-v2")->readyReplicas, 2);
  // Pods by address, for the pod that holds a partition of the worker's consumer group.
  EXPECT_EQ(runner.observeWorker("team-a", "sessions-v2")->podsByIp,
            (std::map<std::string, std::string>{{"10.1.0.7", "sessions-v2-r1"}}));
  for (const char* name :
       {"sessions-v2-r1", "sessions-v2-r2", "sessions-v2-r3", "sessions-v2-r4"}) {
    ASSERT_TRUE(api.remove(ObjectRef{resources::pods(), "team-a", name, ""}).ok());
  }

  // A container restarted in its pod: each pod's latest lastState.terminated; a pod being
  // deleted has none to report.
  auto exited = [&](const std::string& name, const char* id, const char* finishedAt,
                    bool stopping) {
    Json p{{"apiVersion", "v1"},
           {"kind", "Pod"},
           {"metadata", {{"name", name}, {"labels", d["metadata"]["labels"]}}},
           {"status",
            {{"containerStatuses", Json::array({{{"name", "worker"},
                                                 {"restartCount", 3},
                                                 {"state", {{"running", Json::object()}}},
                                                 {"lastState",
                                                  {{"terminated",
                                                    {{"exitCode", 137},
                                                     {"reason", "Error"},
                                                     {"containerID", id},
                                                     {"finishedAt", finishedAt}}}}}}})}}}};
    if (stopping) p["metadata"]["deletionTimestamp"] = "2026-12-07T12:00:09Z";
    ASSERT_TRUE(api.create(CollectionRef{resources::pods(), "team-a"}, p).ok());
  };
  EXPECT_TRUE(runner.observeWorker("team-a", "sessions-v2")->exits.empty());
  exited("sessions-v2-e1", "containerd://e1", "2026-12-07T12:00:05Z", false);
  exited("sessions-v2-e2", "containerd://e2", "2026-12-07T12:00:01Z", false);
  exited("sessions-v2-e3", "containerd://e3", "2026-12-07T12:00:08Z", true);
  auto exits = runner.observeWorker("team-a", "sessions-v2")->exits;
  ASSERT_EQ(exits.size(), 2u);
  EXPECT_EQ(exits[0], (WorkerExit{"sessions-v2-e1", "containerd://e1", 137, "Error",
                                  *kube::parseTime("2026-12-07T12:00:05Z")}));
  EXPECT_EQ(exits[1].pod, "sessions-v2-e2");
  EXPECT_EQ(exits[1].containerId, "containerd://e2");
  for (const char* name : {"sessions-v2-e1", "sessions-v2-e2", "sessions-v2-e3"}) {
    ASSERT_TRUE(api.remove(ObjectRef{resources::pods(), "team-a", name, ""}).ok());
  }

  // A rollout under way: the controller has not seen the new generation, or its new pods are
  // not all available yet. A completed one stays complete when a pod dies later.
  auto rollout = [&](int64_t observed, const char* status, const char* reason) {
    Json dep = *api.get(ObjectRef{resources::deployments(), "team-a", "sessions-v2", ""});
    dep["status"] = {
        {"observedGeneration", observed},
        {"conditions",
         Json::array({{{"type", "Progressing"}, {"status", status}, {"reason", reason}}})}};
    EXPECT_TRUE(
        api.updateStatus(ObjectRef{resources::deployments(), "team-a", "sessions-v2", ""}, dep)
            .ok());
    return runner.observeWorker("team-a", "sessions-v2")->updating;
  };
  ASSERT_EQ((*api.get(ObjectRef{resources::deployments(), "team-a", "sessions-v2",
                                ""}))["metadata"]["generation"],
            1);
  EXPECT_TRUE(rollout(0, "True", "NewReplicaSetAvailable"));
  EXPECT_TRUE(rollout(1, "True", "ReplicaSetUpdated"));
  EXPECT_FALSE(rollout(1, "True", "NewReplicaSetAvailable"));
  EXPECT_FALSE(rollout(1, "False", "ProgressDeadlineExceeded"));

  Json pod{{"apiVersion", "v1"},
           {"kind", "Pod"},
           {"metadata", {{"name", "sessions-v2-abc"}, {"labels", d["metadata"]["labels"]}}},
           {"status",
            {{"containerStatuses",
              Json::array({{{"name", "worker"},
                            {"restartCount", 2},
                            {"state", {{"waiting", {{"reason", "CrashLoopBackOff"}}}}}}})}}}};
  ASSERT_TRUE(api.create(CollectionRef{resources::pods(), "team-a"}, pod).ok());
  state = runner.observeWorker("team-a", "sessions-v2");
  ASSERT_TRUE(state.ok());
  EXPECT_FALSE(state->crashLooping) << "two crashes (say, a broker restart) are no crash loop";

  auto setPod = [&](int restarts, bool waiting) {
    Json p = pod;
    p["status"]["containerStatuses"][0]["restartCount"] = restarts;
    if (!waiting) {
      p["status"]["containerStatuses"][0]["state"] = {{"running", Json::object()}};
    }
    ASSERT_TRUE(
        api.updateStatus(ObjectRef{resources::pods(), "team-a", "sessions-v2-abc", ""}, p).ok());
  };
  setPod(6, false);  // restarted often, but running again now
  EXPECT_FALSE(runner.observeWorker("team-a", "sessions-v2")->crashLooping);
  setPod(5, true);
  EXPECT_TRUE(runner.observeWorker("team-a", "sessions-v2")->crashLooping);

  ASSERT_TRUE(runner.deleteWorker("team-a", "sessions-v2").ok());
  ASSERT_TRUE(runner.deleteWorker("team-a", "sessions-v2").ok());  // idempotent
  EXPECT_FALSE(runner.observeWorker("team-a", "sessions-v2")->exists);
}

}  // namespace
}  // namespace kappa::controllers
