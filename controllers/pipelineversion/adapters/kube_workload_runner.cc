#include "controllers/pipelineversion/adapters/kube_workload_runner.h"

namespace kappa::controllers {

namespace resources = kube::resources;
using kube::CollectionRef;
using kube::DeleteOptions;
using kube::Json;
using kube::ListOptions;
using kube::ObjectRef;
using kube::PatchOptions;
using kube::PatchType;
using kube::PropagationPolicy;

namespace {

constexpr const char* kManagedBy = "app.kubernetes.io/managed-by";
constexpr const char* kProfileAnnotation = "kappa.io/profile";
// On the pods only (the Deployment's selector stays as it was): finds the pods of a worker
// whose Deployment is already gone.
constexpr const char* kWorkerLabel = "kappa.io/worker";

Json labelsFor(const std::string& pipeline, const std::string& version) {
  return Json{{kManagedBy, "kappa-operator"},
              {"kappa.io/pipeline", pipeline},
              {"kappa.io/version", version}};
}

Json ownerReference(const Owner& o) {
  return Json::array({Json{{"apiVersion", o.apiVersion},
                           {"kind", o.kind},
                           {"name", o.name},
                           {"uid", o.uid},
                           {"controller", true},
                           {"blockOwnerDeletion", true}}});
}

Json envList(const std::vector<EnvVar>& vars) {
  Json out = Json::array();
  for (const auto& [k, v] : vars) out.push_back(Json{{"name", k}, {"value", v}});
  return out;
}

Json resourcesJson(const Resources& r) {
  Json out = Json::object();
  if (!r.requests.empty()) out["requests"] = r.requests;
  if (!r.limits.empty()) out["limits"] = r.limits;
  return out;
}

Result<void> ignoreNotFound(const Result<Json>& r) {
  if (r.ok() || r.error().code == ErrorCode::kNotFound) return {};
  return r.error();
}

// The first reason the cluster gives for a pod of the worker not running: a pod the
// scheduler cannot place, an image it cannot pull, a container it cannot create.
std::optional<WorkerProblem> podProblem(const Json& pod) {
  const Json& status = pod.value("status", Json::object());
  for (const auto& c : status.value("conditions", Json::array())) {
    if (c.value("type", "") == "PodScheduled" && c.value("status", "") == "False" &&
        c.value("reason", "") == "Unschedulable") {
      return WorkerProblem{"Unschedulable", c.value("message", "")};
    }
  }
  for (const auto& cs : status.value("containerStatuses", Json::array())) {
    const Json& waiting = cs.value("state", Json::object()).value("waiting", Json::object());
    std::string reason = waiting.value("reason", "");
    std::string message = waiting.value("message", reason);
    if (reason == "ErrImagePull" || reason == "ImagePullBackOff" || reason == "ErrImageNeverPull" ||
        reason == "InvalidImageName") {
      return WorkerProblem{"ImagePullFailed", reason + ": " + message};
    }
    if (reason == "CreateContainerConfigError" || reason == "CreateContainerError" ||
        reason == "RunContainerError") {
      return WorkerProblem{"ContainerCreateFailed", reason + ": " + message};
    }
  }
  return std::nullopt;
}

bool podReady(const Json& pod) {
  if (pod.value("metadata", Json::object()).contains("deletionTimestamp")) return false;
  for (const auto& c : pod.value("status", Json::object()).value("conditions", Json::array())) {
    if (c.value("type", "") == "Ready") return c.value("status", "") == "True";
  }
  return false;
}

bool rollingOut(const Json& deployment) {
  const Json& status = deployment.value("status", Json::object());
  int64_t generation = deployment["metadata"].value("generation", int64_t{0});
  if (status.value("observedGeneration", int64_t{0}) < generation) return true;
  for (const auto& c : status.value("conditions", Json::array())) {
    if (c.value("type", "") == "Progressing") {
      // NewReplicaSetAvailable stays once a rollout completed, even when a pod dies later;
      // ProgressDeadlineExceeded (status False) is a rollout that stopped, not one under way.
      return c.value("status", "") == "True" && c.value("reason", "") != "NewReplicaSetAvailable";
    }
  }
  return false;
}

// The latest restart in place of a container of this pod (none for a pod being deleted:
// its containers stop for good).
std::optional<WorkerExit> lastExit(const Json& pod) {
  const Json& meta = pod.value("metadata", Json::object());
  if (meta.contains("deletionTimestamp")) return std::nullopt;
  std::optional<WorkerExit> latest;
  for (const auto& cs :
       pod.value("status", Json::object()).value("containerStatuses", Json::array())) {
    const Json& t = cs.value("lastState", Json::object()).value("terminated", Json::object());
    auto finished = kube::parseTime(t.value("finishedAt", ""));
    if (!finished) continue;
    WorkerExit e{meta.value("name", ""), t.value("containerID", ""), t.value("exitCode", 0),
                 t.value("reason", ""), *finished};
    if (!latest || e.finishedAt > latest->finishedAt) latest = std::move(e);
  }
  return latest;
}

}  // namespace

std::optional<WorkerProblem> workerProblem(const Json& deployment, const std::vector<Json>& pods) {
  // The Deployment carries its ReplicaSet's ReplicaFailure: pods it could not create, with
  // the apiserver's refusal (a ResourceQuota's "exceeded quota: ...") as the message.
  const Json& status = deployment.value("status", Json::object());
  for (const auto& c : status.value("conditions", Json::array())) {
    if (c.value("type", "") == "ReplicaFailure" && c.value("status", "") == "True") {
      return WorkerProblem{"ReplicaFailure", c.value("reason", "") + ": " + c.value("message", "")};
    }
  }
  for (const auto& pod : pods) {
    if (auto problem = podProblem(pod)) return problem;
  }
  return std::nullopt;
}

std::string workerSelector(const std::string& pipeline, const std::string& version) {
  return std::string(kManagedBy) + "=kappa-operator,kappa.io/pipeline=" + pipeline +
         ",kappa.io/version=" + version;
}

Json deploymentFor(const WorkerRequest& r, const KubeWorkloadOptions& options) {
  Json labels = labelsFor(r.pipeline, r.version);
  Json podLabels = labels;
  podLabels[kWorkerLabel] = r.name;
  Json container{{"name", "worker"}};
  if (r.container) {
    // The user's image keeps its own command/args/env; the KAPPA_* variables come after so
    // that the operator's values win.
    std::vector<EnvVar> env = r.container->env;
    env.insert(env.end(), r.env.begin(), r.env.end());
    container["image"] = r.container->image;
    if (!r.container->command.empty()) container["command"] = r.container->command;
    if (!r.container->args.empty()) container["args"] = r.container->args;
    container["env"] = envList(env);
    // The root filesystem is read-only; /tmp is the one writable path a processor gets
    // (a Kafka Streams state.dir, a JVM's temporary files).
    container["volumeMounts"] = Json::array({{{"name", "tmp"}, {"mountPath", "/tmp"}}});
  } else {
    container["image"] = options.workerImage;
    if (!options.workerCommand.empty()) container["command"] = options.workerCommand;
    container["env"] = envList(r.env);
    // kappa-worker serves /metrics and /healthz on this port: a named port a PodMonitor
    // scrapes, and the probes. Liveness gives a starting replay time to restore its state.
    container["env"].push_back(Json{{"name", "KAPPA_METRICS_ADDRESS"},
                                    {"value", "0.0.0.0:" + std::to_string(kWorkerMetricsPort)}});
    container["ports"] = Json::array(
        {{{"name", "metrics"}, {"containerPort", kWorkerMetricsPort}, {"protocol", "TCP"}}});
    Json probe{{"httpGet", {{"path", "/healthz"}, {"port", "metrics"}}}};
    container["readinessProbe"] = probe;
    container["readinessProbe"]["periodSeconds"] = 5;
    container["livenessProbe"] = probe;
    container["livenessProbe"]["initialDelaySeconds"] = 10;
    container["livenessProbe"]["periodSeconds"] = 10;
    container["livenessProbe"]["failureThreshold"] = 6;
  }
  // Fit for a namespace at the restricted Pod Security level: the worker image runs as a
  // non-root user with a read-only root filesystem; a container processor's image must too.
  container["securityContext"] = Json{{"allowPrivilegeEscalation", false},
                                      {"readOnlyRootFilesystem", true},
                                      {"capabilities", {{"drop", Json::array({"ALL"})}}}};
  // Each pod's name makes its transactional id unique among the replicas.
  container["env"].push_back(Json{{"name", "KAPPA_REPLICA_ID"},
                                  {"valueFrom", {{"fieldRef", {{"fieldPath", "metadata.name"}}}}}});
  if (!r.kafkaCredentialsSecret.empty()) {
    // Each key of the Secret (a librdkafka property such as sasl.password) becomes
    // KAPPA_KAFKA_PROPERTY_<key>; kappa-worker passes them to its clients.
    container["envFrom"] = Json::array({{{"prefix", "KAPPA_KAFKA_PROPERTY_"},
                                         {"secretRef", {{"name", r.kafkaCredentialsSecret}}}}});
  }
  container["resources"] = resourcesJson(r.resources);
  Json podSpec{{"containers", Json::array({container})},
               // Workers talk to Kafka, not to the apiserver.
               {"automountServiceAccountToken", false},
               {"securityContext",
                {{"runAsNonRoot", true}, {"seccompProfile", {{"type", "RuntimeDefault"}}}}}};
  if (r.container)
    podSpec["volumes"] = Json::array({{{"name", "tmp"}, {"emptyDir", Json::object()}}});
  if (!r.priorityClassName.empty()) podSpec["priorityClassName"] = r.priorityClassName;
  const char* profile = profileName(r.profile);
  return Json{
      {"apiVersion", "apps/v1"},
      {"kind", "Deployment"},
      {"metadata",
       {{"name", r.name},
        {"namespace", r.ns},
        {"labels", labels},
        {"annotations", {{kProfileAnnotation, profile}}},
        {"ownerReferences", ownerReference(r.owner)}}},
      {"spec",
       {{"replicas", r.replicas},
        {"selector", {{"matchLabels", labels}}},
        {"template",
         {{"metadata", {{"labels", podLabels}, {"annotations", {{kProfileAnnotation, profile}}}}},
          {"spec", podSpec}}}}}};
}

Json replayQuotaFor(const ReplayQuotaRequest& r) {
  return Json{{"apiVersion", "v1"},
              {"kind", "ResourceQuota"},
              {"metadata",
               {{"name", r.name},
                {"namespace", r.ns},
                {"labels", {{kManagedBy, "kappa-operator"}}},
                {"ownerReferences", ownerReference(r.owner)}}},
              {"spec",
               {{"hard", r.hard},
                {"scopeSelector",
                 {{"matchExpressions",
                   Json::array({Json{{"scopeName", "PriorityClass"},
                                     {"operator", "In"},
                                     {"values", Json::array({r.priorityClassName})}}})}}}}}};
}

Result<void> KubeWorkloadRunner::ensureWorker(const WorkerRequest& request) {
  auto r = api_.patch(ObjectRef{resources::deployments(), request.ns, request.name, ""},
                      PatchType::kApply, deploymentFor(request, options_),
                      PatchOptions{options_.fieldManager, true, false});
  if (!r.ok()) return r.error();
  return {};
}

Result<void> KubeWorkloadRunner::deleteWorker(const std::string& ns, const std::string& name) {
  return ignoreNotFound(api_.remove(ObjectRef{resources::deployments(), ns, name, ""},
                                    DeleteOptions{PropagationPolicy::kBackground, "", "", {}}));
}

Result<WorkerFacts> KubeWorkloadRunner::observeWorker(const std::string& ns,
                                                      const std::string& name) {
  WorkerFacts state;
  auto d = api_.get(ObjectRef{resources::deployments(), ns, name, ""});
  if (!d.ok()) {
    if (d.error().code != ErrorCode::kNotFound) return d.error();
    // Deleted in the background: its pods may still be stopping.
    ListOptions byWorker;
    byWorker.labelSelector = std::string(kWorkerLabel) + "=" + name;
    auto left = api_.list(CollectionRef{resources::pods(), ns}, byWorker);
    if (!left.ok()) return left.error();
    state.podsLeft = static_cast<int32_t>(left->items.size());
    return state;
  }
  const Json& obj = *d;
  state.exists = true;
  for (const auto& ref : obj["metadata"].value("ownerReferences", Json::array())) {
    if (ref.value("kind", "") == "PipelineVersion") state.ownerUid = ref.value("uid", "");
  }
  std::string profile =
      obj["metadata"].value("annotations", Json::object()).value(kProfileAnnotation, "");
  state.profile = profile == "replay" ? WorkerProfile::kReplay : WorkerProfile::kSteady;
  state.replicas = obj.value("spec", Json::object()).value("replicas", 1);
  state.updating = rollingOut(obj);
  const Json& labels = obj["metadata"].value("labels", Json::object());
  ListOptions selector;
  selector.labelSelector =
      workerSelector(labels.value("kappa.io/pipeline", ""), labels.value("kappa.io/version", ""));
  auto pods = api_.list(CollectionRef{resources::pods(), ns}, selector);
  if (!pods.ok()) return pods.error();
  state.podsLeft = static_cast<int32_t>(pods->items.size());
  state.problem = workerProblem(obj, pods->items);
  for (const auto& pod : pods->items) {
    if (podReady(pod)) ++state.readyReplicas;
    std::string ip = pod.value("status", Json::object()).value("podIP", "");
    if (!ip.empty()) state.podsByIp[ip] = pod.value("metadata", Json::object()).value("name", "");
    if (auto exit = lastExit(pod)) state.exits.push_back(std::move(*exit));
    const Json& statuses =
        pod.value("status", Json::object()).value("containerStatuses", Json::array());
    for (const auto& cs : statuses) {
      std::string waiting =
          cs.value("state", Json::object()).value("waiting", Json::object()).value("reason", "");
      if (waiting == "CrashLoopBackOff" &&
          cs.value("restartCount", 0) >= options_.crashLoopRestarts) {
        state.crashLooping = true;
      }
    }
  }
  return state;
}

Result<void> KubeWorkloadRunner::ensureReplayQuota(const ReplayQuotaRequest& request) {
  auto r = api_.patch(ObjectRef{resources::resourceQuotas(), request.ns, request.name, ""},
                      PatchType::kApply, replayQuotaFor(request),
                      PatchOptions{options_.fieldManager, true, false});
  if (!r.ok()) return r.error();
  return {};
}

Result<void> KubeWorkloadRunner::deleteReplayQuota(const std::string& ns, const std::string& name) {
  return ignoreNotFound(api_.remove(ObjectRef{resources::resourceQuotas(), ns, name, ""}));
}

Result<std::optional<ReplayQuotaHard>> KubeWorkloadRunner::replayQuota(const std::string& ns,
                                                                       const std::string& name) {
  auto r = api_.get(ObjectRef{resources::resourceQuotas(), ns, name, ""});
  if (!r.ok()) {
    if (r.error().code == ErrorCode::kNotFound) return std::optional<ReplayQuotaHard>{};
    return r.error();
  }
  ReplayQuotaHard hard;
  const Json spec = r->value("spec", Json::object());
  const Json quantities = spec.value("hard", Json::object());
  for (const auto& [resource, quantity] : quantities.items()) {
    if (quantity.is_string()) hard[resource] = quantity.get<std::string>();
  }
  return std::optional<ReplayQuotaHard>{std::move(hard)};
}

}  // namespace kappa::controllers
