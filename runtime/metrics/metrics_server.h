// Serves /metrics (Prometheus text format) and /healthz on one address for a process.
// /healthz answers 200 with `kappa_up 1` while the process runs; a process that can no
// longer do its work exits instead of reporting unhealthy, so the kubelet restarts it.
#pragma once

#include <prometheus/exposer.h>
#include <prometheus/registry.h>

#include <memory>
#include <string>

#include "runtime/core/result.h"

namespace kappa::metrics {

class MetricsServer {
 public:
  // `address` is host:port; port 0 picks a free one (see port()).
  static Result<std::unique_ptr<MetricsServer>> start(const std::string& address);

  prometheus::Registry& registry() { return *registry_; }
  // More series on /metrics, collected on each scrape (e.g. computed from a cache). The
  // server keeps a weak reference; remove() it before what it reads goes away.
  void add(const std::shared_ptr<prometheus::Collectable>& collectable);
  void remove(const std::shared_ptr<prometheus::Collectable>& collectable);
  int port() const;

 private:
  MetricsServer() = default;
  std::unique_ptr<prometheus::Exposer> exposer_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::shared_ptr<prometheus::Registry> health_;
};

}  // namespace kappa::metrics
