#include "runtime/metrics/metrics_server.h"

#include <prometheus/gauge.h>

namespace kappa::metrics {

Result<std::unique_ptr<MetricsServer>> MetricsServer::start(const std::string& address) {
  std::unique_ptr<MetricsServer> s(new MetricsServer());
  try {
    s->exposer_ = std::make_unique<prometheus::Exposer>(address, 2);
  } catch (const std::exception& e) {
    return Error{ErrorCode::kInvalidArgument,
                 "metrics address " + address + ": cannot listen (" + e.what() + ")"};
  }
  s->registry_ = std::make_shared<prometheus::Registry>();
  s->health_ = std::make_shared<prometheus::Registry>();
  prometheus::BuildGauge()
      .Name("kappa_up")
      .Help("1 while the process runs")
      .Register(*s->health_)
      .Add({})
      .Set(1);
  s->exposer_->RegisterCollectable(s->registry_, "/metrics");
  s->exposer_->RegisterCollectable(s->health_, "/healthz");
  return s;
}

void MetricsServer::add(const std::shared_ptr<prometheus::Collectable>& collectable) {
  exposer_->RegisterCollectable(collectable, "/metrics");
}

void MetricsServer::remove(const std::shared_ptr<prometheus::Collectable>& collectable) {
  exposer_->RemoveCollectable(collectable, "/metrics");
}

int MetricsServer::port() const {
  auto ports = exposer_->GetListeningPorts();
  return ports.empty() ? 0 : ports.front();
}

}  // namespace kappa::metrics
