// KubeWorkloadRunner: the cluster adapter of the WorkloadRunner port. The workers of a
// version are an apps/v1 Deployment `<pipeline>-<version>` owned by the PipelineVersion
// (ownerReference, so deleting the object also garbage-collects them), labelled for the
// operator; the replay quota is a ResourceQuota scoped to the replay PriorityClass. Both are
// written with server-side apply (field manager kappa-operator, forced), so ensure is
// create-or-update in one idempotent request. What the Deployment reports (ready replicas)
// and its pods (CrashLoopBackOff) is read back for decide().
#pragma once

#include <string>

#include "controllers/pipelineversion/ports.h"
#include "runtime/kube/kube_api.h"

namespace kappa::controllers {

// Port of the built-in worker's /metrics and /healthz in its Pod (named "metrics").
inline constexpr int kWorkerMetricsPort = 9464;

struct KubeWorkloadOptions {
  // Image of the built-in worker (processor.builtin).
  std::string workerImage = "kappa-worker:latest";
  // Command of the built-in worker in that image; empty: the image's entrypoint.
  std::vector<std::string> workerCommand;
  std::string fieldManager = "kappa-operator";
  // A container counts as crash-looping while it waits in CrashLoopBackOff after at least
  // this many restarts: a worker that crashed once or twice (a broker restart, a killed
  // node) and came back is not a failed version.
  int32_t crashLoopRestarts = 5;
};

// The Deployment and ResourceQuota documents (exposed for tests).
kube::Json deploymentFor(const WorkerRequest& request, const KubeWorkloadOptions& options);
kube::Json replayQuotaFor(const ReplayQuotaRequest& request);
// Why the worker's pods do not run, from its Deployment and pods (nullopt: nothing known).
std::optional<WorkerProblem> workerProblem(const kube::Json& deployment,
                                           const std::vector<kube::Json>& pods);
// Labels every worker pod carries: managed-by, kappa.io/pipeline, kappa.io/version.
std::string workerSelector(const std::string& pipeline, const std::string& version);

class KubeWorkloadRunner final : public WorkloadRunner {
 public:
  KubeWorkloadRunner(kube::KubeApi& api, KubeWorkloadOptions options)
      : api_(api), options_(std::move(options)) {}

  Result<void> ensureWorker(const WorkerRequest& request) override;
  Result<void> deleteWorker(const std::string& ns, const std::string& name) override;
  Result<WorkerFacts> observeWorker(const std::string& ns, const std::string& name) override;
  Result<void> ensureReplayQuota(const ReplayQuotaRequest& request) override;
  Result<void> deleteReplayQuota(const std::string& ns, const std::string& name) override;
  Result<std::optional<ReplayQuotaHard>> replayQuota(const std::string& ns,
                                                     const std::string& name) override;

 private:
  kube::KubeApi& api_;
  KubeWorkloadOptions options_;
};

}  // namespace kappa::controllers
