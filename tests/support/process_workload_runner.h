// ProcessWorkloadRunner: a WorkloadRunner for integration tests that runs each replica of a
// worker as a local process (the built-in kappa-worker, or a container processor's command),
// with the KAPPA_* environment of the request and KAPPA_REPLICA_ID set to the replica's
// index. Like a kubelet it restarts a replica that exited when the worker is observed, and
// reports the worker crash-looping after repeated restarts. Replay quotas are only recorded.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "controllers/pipelineversion/ports.h"
#include "tests/support/child_process.h"

namespace kappa::testing {

struct ProcessWorkloadOptions {
  std::string workerCommand;  // path of kappa-worker
  std::string logDir;         // one log file per replica: <name>-<replica>.log
  int crashLoopRestarts = 3;
};

class ProcessWorkloadRunner final : public controllers::WorkloadRunner {
 public:
  explicit ProcessWorkloadRunner(ProcessWorkloadOptions options) : options_(std::move(options)) {}
  ~ProcessWorkloadRunner() override;

  Result<void> ensureWorker(const controllers::WorkerRequest& request) override;
  Result<void> deleteWorker(const std::string& ns, const std::string& name) override;
  Result<controllers::WorkerFacts> observeWorker(const std::string& ns,
                                                 const std::string& name) override;
  Result<void> ensureReplayQuota(const controllers::ReplayQuotaRequest& request) override;
  Result<void> deleteReplayQuota(const std::string& ns, const std::string& name) override;
  Result<std::optional<controllers::ReplayQuotaHard>> replayQuota(const std::string& ns,
                                                                  const std::string& name) override;

  // Every request ensureWorker() was given, in order.
  std::vector<controllers::WorkerRequest> requests() const;
  // Replicas running now, over all workers.
  int runningProcesses();

 private:
  struct Workload {
    controllers::WorkerRequest request;
    std::vector<std::unique_ptr<ChildProcess>> replicas;
    int restarts = 0;
  };
  std::unique_ptr<ChildProcess> startReplica(const controllers::WorkerRequest& request, int index);
  static void stopAll(std::vector<std::unique_ptr<ChildProcess>>& replicas);

  ProcessWorkloadOptions options_;
  mutable std::mutex mu_;
  std::map<std::string, Workload> workloads_;
  std::map<std::string, std::map<std::string, std::string>> quotas_;  // key -> hard
  std::vector<controllers::WorkerRequest> requests_;
};

}  // namespace kappa::testing
