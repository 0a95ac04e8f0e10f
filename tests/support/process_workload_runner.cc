#include "tests/support/process_workload_runner.h"

#include <signal.h>

namespace kappa::testing {

namespace {

std::string keyOf(const std::string& ns, const std::string& name) { return ns + "/" + name; }

// Two requests that differ only in profile, replica count or resources keep the running
// replicas; anything else (environment, program, command) restarts them.
bool sameProcess(const controllers::WorkerRequest& a, const controllers::WorkerRequest& b) {
  return a.env == b.env && a.container == b.container;
}

}  // namespace

ProcessWorkloadRunner::~ProcessWorkloadRunner() {
  std::lock_guard lock(mu_);
  for (auto& [key, w] : workloads_) stopAll(w.replicas);
}

void ProcessWorkloadRunner::stopAll(std::vector<std::unique_ptr<ChildProcess>>& replicas) {
  for (auto& r : replicas) r->signal(SIGTERM);
  for (auto& r : replicas) {
    if (!r->wait(std::chrono::seconds(20))) {
      r->signal(SIGKILL);
      r->wait(std::chrono::seconds(5));
    }
  }
  replicas.clear();
}

std::unique_ptr<ChildProcess> ProcessWorkloadRunner::startReplica(
    const controllers::WorkerRequest& request, int index) {
  std::vector<std::string> argv{"/usr/bin/env"};
  std::vector<controllers::EnvVar> env;
  if (request.container) env = request.container->env;
  env.insert(env.end(), request.env.begin(), request.env.end());
  for (const auto& [k, v] : env) {
    // Several replicas on one host: each takes a free port for its metrics.
    if (k == "KAPPA_METRICS_ADDRESS") continue;
    argv.push_back(k + "=" + v);
  }
  argv.push_back("KAPPA_METRICS_ADDRESS=127.0.0.1:0");
  argv.push_back("KAPPA_REPLICA_ID=" + std::to_string(index));
  if (request.container && !request.container->command.empty()) {
    argv.insert(argv.end(), request.container->command.begin(), request.container->command.end());
    argv.insert(argv.end(), request.container->args.begin(), request.container->args.end());
  } else {
    argv.push_back(options_.workerCommand);
  }
  std::string log = options_.logDir + "/" + request.name + "-" + std::to_string(index) + ".log";
  return std::make_unique<ChildProcess>(std::move(argv), log);
}

Result<void> ProcessWorkloadRunner::ensureWorker(const controllers::WorkerRequest& request) {
  std::lock_guard lock(mu_);
  requests_.push_back(request);
  Workload& w = workloads_[keyOf(request.ns, request.name)];
  if (!w.replicas.empty() && !sameProcess(w.request, request)) stopAll(w.replicas);
  w.request = request;
  if (static_cast<int32_t>(w.replicas.size()) > request.replicas) {
    std::vector<std::unique_ptr<ChildProcess>> extra;
    while (static_cast<int32_t>(w.replicas.size()) > request.replicas) {
      extra.push_back(std::move(w.replicas.back()));
      w.replicas.pop_back();
    }
    stopAll(extra);
  }
  while (static_cast<int32_t>(w.replicas.size()) < request.replicas) {
    w.replicas.push_back(startReplica(request, static_cast<int>(w.replicas.size())));
  }
  return {};
}

Result<void> ProcessWorkloadRunner::deleteWorker(const std::string& ns, const std::string& name) {
  std::lock_guard lock(mu_);
  auto it = workloads_.find(keyOf(ns, name));
  if (it == workloads_.end()) return {};
  stopAll(it->second.replicas);
  workloads_.erase(it);
  return {};
}

Result<controllers::WorkerFacts> ProcessWorkloadRunner::observeWorker(const std::string& ns,
                                                                      const std::string& name) {
  std::lock_guard lock(mu_);
  controllers::WorkerFacts state;
  auto it = workloads_.find(keyOf(ns, name));
  if (it == workloads_.end()) return state;
  Workload& w = it->second;
  state.exists = true;
  state.ownerUid = w.request.owner.uid;
  state.profile = w.request.profile;
  state.replicas = w.request.replicas;
  for (size_t i = 0; i < w.replicas.size(); ++i) {
    if (w.replicas[i]->running()) {
      ++state.readyReplicas;
      continue;
    }
    ++w.restarts;
    w.replicas[i] = startReplica(w.request, static_cast<int>(i));
  }
  state.crashLooping = w.restarts >= options_.crashLoopRestarts;
  return state;
}

Result<void> ProcessWorkloadRunner::ensureReplayQuota(const controllers::ReplayQuotaRequest& r) {
  std::lock_guard lock(mu_);
  quotas_[keyOf(r.ns, r.name)] = r.hard;
  return {};
}

Result<void> ProcessWorkloadRunner::deleteReplayQuota(const std::string& ns,
                                                      const std::string& name) {
  std::lock_guard lock(mu_);
  quotas_.erase(keyOf(ns, name));
  return {};
}

Result<std::optional<controllers::ReplayQuotaHard>> ProcessWorkloadRunner::replayQuota(
    const std::string& ns, const std::string& name) {
  std::lock_guard lock(mu_);
  auto it = quotas_.find(keyOf(ns, name));
  if (it == quotas_.end()) return std::optional<controllers::ReplayQuotaHard>{};
  return std::optional<controllers::ReplayQuotaHard>{it->second};
}

std::vector<controllers::WorkerRequest> ProcessWorkloadRunner::requests() const {
  std::lock_guard lock(mu_);
  return requests_;
}

int ProcessWorkloadRunner::runningProcesses() {
  std::lock_guard lock(mu_);
  int n = 0;
  for (auto& [key, w] : workloads_) {
    for (auto& r : w.replicas) n += r->running() ? 1 : 0;
  }
  return n;
}

}  // namespace kappa::testing
