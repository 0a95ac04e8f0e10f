// Lease-based leader election (coordination.k8s.io/v1 Lease), as client-go's leaderelection:
// candidates race to write their identity into the Lease with a resourceVersion
// precondition; the holder renews it every retryPeriod; others take it over once it has not
// changed for leaseDuration (measured on their own clock from when they saw it change, so
// clock skew between candidates does not matter).
//
// Guarantee: the leader's work (onStartedLeading) is asked to stop (its stop_token) as soon
// as the leader fails to renew within renewDeadline, which is shorter than leaseDuration, so
// it stops before another candidate can take over. That needs the KubeApi's request timeout
// to be well below renewDeadline (a renewal stuck in a request is noticed when it returns).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>

#include "runtime/core/clock.h"
#include "runtime/kube/kube_api.h"

namespace kappa::kube {

struct LeaderElectionConfig {
  std::string ns;
  std::string name;
  std::string identity;
  std::chrono::milliseconds leaseDuration{15000};
  std::chrono::milliseconds renewDeadline{10000};
  std::chrono::milliseconds retryPeriod{2000};
  // On a requested stop, give up the lease at once so the next leader need not wait.
  bool releaseOnStop = true;
};

struct LeaderCallbacks {
  // Runs on its own thread while this candidate leads; must return soon after its stop
  // token is triggered.
  std::function<void(std::stop_token)> onStartedLeading;
  // Called after the leader's work has returned.
  std::function<void()> onStoppedLeading;
  // Called when the observed holder changes (including to this candidate).
  std::function<void(const std::string& identity)> onNewLeader;
};

class LeaderElector {
 public:
  LeaderElector(KubeApi& api, LeaderElectionConfig config, LeaderCallbacks callbacks,
                Clock& clock = systemClock());

  // Campaigns until elected, leads until the lease is lost or `stop` is requested, then
  // returns (call again to campaign again).
  void run(std::stop_token stop);

  bool isLeader() const { return leader_; }
  std::string observedLeader() const;

  // One acquire-or-renew attempt; true when this candidate holds the lease afterwards.
  bool tryAcquireOrRenew();

 private:
  ObjectRef leaseRef() const;
  Json leaseSpec(const Json* current, std::chrono::system_clock::time_point now) const;
  void observe(const Json& spec);
  void release();

  KubeApi& api_;
  const LeaderElectionConfig config_;
  LeaderCallbacks callbacks_;
  Clock& clock_;
  std::atomic<bool> leader_{false};

  mutable std::mutex mu_;
  Json observedSpec_;
  std::chrono::steady_clock::time_point observedAt_{};
  std::string observedResourceVersion_;
  std::string reportedLeader_;
};

// Runs `work` on a thread of its own while this candidate leads, campaigning through the
// Lease of `config`; without a config (no election), at once until stopped. Losing the lease
// without a stop request calls `onLost`: a controller then exits, so that a fresh process
// campaigns again from a clean state (as client-go controllers do).
std::jthread runLeading(KubeApi& api, std::optional<LeaderElectionConfig> config,
                        std::function<void(std::stop_token)> work, std::function<void()> onLost);

}  // namespace kappa::kube
