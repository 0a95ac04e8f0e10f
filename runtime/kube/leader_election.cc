#include "runtime/kube/leader_election.h"

#include <spdlog/spdlog.h>

#include <thread>

namespace kappa::kube {

LeaderElector::LeaderElector(KubeApi& api, LeaderElectionConfig config, LeaderCallbacks callbacks,
                             Clock& clock)
    : api_(api), config_(std::move(config)), callbacks_(std::move(callbacks)), clock_(clock) {}

ObjectRef LeaderElector::leaseRef() const {
  return {resources::leases(), config_.ns, config_.name, {}};
}

std::string LeaderElector::observedLeader() const {
  std::lock_guard lock(mu_);
  return observedSpec_.is_object() ? observedSpec_.value("holderIdentity", "") : "";
}

Json LeaderElector::leaseSpec(const Json* current,
                              std::chrono::system_clock::time_point now) const {
  auto seconds = std::chrono::duration_cast<std::chrono::seconds>(config_.leaseDuration).count();
  Json spec = {{"holderIdentity", config_.identity},
               {"leaseDurationSeconds", std::max<int64_t>(seconds, 1)},
               {"renewTime", formatMicroTime(now)}};
  if (current && current->value("holderIdentity", "") == config_.identity) {
    spec["acquireTime"] = current->value("acquireTime", formatMicroTime(now));
    spec["leaseTransitions"] = current->value("leaseTransitions", 0);
  } else {
    spec["acquireTime"] = formatMicroTime(now);
    int transitions = current ? current->value("leaseTransitions", 0) : 0;
    spec["leaseTransitions"] = current ? transitions + 1 : 0;
  }
  return spec;
}

void LeaderElector::observe(const Json& spec) {
  std::string holder;
  bool changed = false;
  {
    std::lock_guard lock(mu_);
    if (spec != observedSpec_) {
      observedSpec_ = spec;
      observedAt_ = clock_.steadyNow();
    }
    holder = spec.value("holderIdentity", "");
    if (holder != reportedLeader_) {
      reportedLeader_ = holder;
      changed = true;
    }
  }
  if (changed && !holder.empty() && callbacks_.onNewLeader) callbacks_.onNewLeader(holder);
}

bool LeaderElector::tryAcquireOrRenew() {
  auto now = clock_.now();
  auto ref = leaseRef();
  auto lease = api_.get(ref);
  if (!lease) {
    if (lease.error().code != ErrorCode::kNotFound) {
      spdlog::warn("leader election {}/{}: {}", config_.ns, config_.name, lease.error().message);
      return false;
    }
    Json obj = {{"apiVersion", "coordination.k8s.io/v1"},
                {"kind", "Lease"},
                {"metadata", {{"name", config_.name}, {"namespace", config_.ns}}},
                {"spec", leaseSpec(nullptr, now)}};
    auto created = api_.create({ref.resource, ref.ns}, obj);
    if (!created) return false;
    observe((*created)["spec"]);
    return true;
  }
  Json spec = lease->value("spec", Json::object());
  observe(spec);
  const std::string holder = spec.value("holderIdentity", "");
  if (!holder.empty() && holder != config_.identity) {
    auto duration = std::chrono::seconds(spec.value("leaseDurationSeconds", 0));
    std::chrono::milliseconds valid =
        duration.count() > 0 ? std::chrono::milliseconds(duration) : config_.leaseDuration;
    std::lock_guard lock(mu_);
    if (observedAt_ + valid > clock_.steadyNow()) return false;  // held by someone alive
  }
  Json updated = *lease;
  updated["spec"] = leaseSpec(&spec, now);
  // The PUT carries metadata.resourceVersion: if anyone wrote the lease since our read, the
  // server answers 409 and this attempt fails.
  auto written = api_.update(ref, updated);
  if (!written) return false;
  observe((*written)["spec"]);
  return true;
}

void LeaderElector::release() {
  auto ref = leaseRef();
  auto lease = api_.get(ref);
  if (!lease || (*lease)["spec"].value("holderIdentity", "") != config_.identity) return;
  Json updated = *lease;
  updated["spec"]["holderIdentity"] = "";
  updated["spec"]["leaseDurationSeconds"] = 1;
  updated["spec"]["renewTime"] = formatMicroTime(clock_.now());
  auto r = api_.update(ref, updated);
  if (!r) spdlog::warn("leader election: releasing the lease failed: {}", r.error().message);
}

void LeaderElector::run(std::stop_token stop) {
  while (!stop.stop_requested()) {
    if (tryAcquireOrRenew()) break;
    if (!clock_.sleepFor(config_.retryPeriod, stop)) return;
  }
  if (stop.stop_requested()) return;

  spdlog::info("leader election {}/{}: {} is now the leader", config_.ns, config_.name,
               config_.identity);
  leader_ = true;
  std::jthread work;
  if (callbacks_.onStartedLeading) work = std::jthread(callbacks_.onStartedLeading);

  auto lastRenew = clock_.steadyNow();
  while (clock_.sleepFor(config_.retryPeriod, stop)) {
    if (tryAcquireOrRenew()) {
      lastRenew = clock_.steadyNow();
      continue;
    }
    if (clock_.steadyNow() - lastRenew >= config_.renewDeadline) {
      spdlog::warn("leader election {}/{}: {} lost the lease", config_.ns, config_.name,
                   config_.identity);
      break;
    }
  }
  leader_ = false;
  if (work.joinable()) {
    work.request_stop();
    work.join();
  }
  if (stop.stop_requested() && config_.releaseOnStop) release();
  if (callbacks_.onStoppedLeading) callbacks_.onStoppedLeading();
}

std::jthread runLeading(KubeApi& api, std::optional<LeaderElectionConfig> config,
                        std::function<void(std::stop_token)> work, std::function<void()> onLost) {
  if (!config) return std::jthread([work](std::stop_token stop) { work(stop); });
  return std::jthread([&api, config = *config, work, onLost](std::stop_token stop) {
    LeaderElector le(api, config,
                     LeaderCallbacks{work, [] { spdlog::info("msg=\"stopped leading\""); },
                                     [](const std::string& who) {
                                       spdlog::info("msg=\"leader observed\" leader={}", who);
                                     }});
    le.run(stop);
    if (!stop.stop_requested() && onLost) onLost();
  });
}

}  // namespace kappa::kube
