// Prometheus series of the PipelineVersions the operator manages, derived from their status
// (the informer's cache): phase, lag, progress, validation mismatch ratio, retention risk,
// and counters/histograms of cutovers. The chart's alerts and dashboard use these names.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

namespace kappa::op {

class PipelineMetrics {
 public:
  explicit PipelineMetrics(prometheus::Registry& registry);

  // Sets the gauges from the current objects; series of objects no longer present go away.
  void refresh(const std::vector<std::shared_ptr<const nlohmann::json>>& objects);
  // Counts transitions: into Failed (cutovers failed), into Serving (cutover duration, from
  // creation to servingSince), Validated turning False (validation mismatches).
  void observeUpdate(const nlohmann::json& before, const nlohmann::json& after);

 private:
  using Labels = std::map<std::string, std::string>;
  // One object's series. Only the current phase has a phase series (a one-hot set of all
  // eleven per object would be most of the operator's memory with thousands of versions),
  // and only candidates (Pending .. Promoting) have lag, progress, mismatch and retention.
  struct Series {
    Labels labels;
    std::string phase;
    prometheus::Gauge* phaseGauge = nullptr;
    prometheus::Gauge* lag = nullptr;
    prometheus::Gauge* progress = nullptr;
    prometheus::Gauge* mismatch = nullptr;
    prometheus::Gauge* retention = nullptr;
  };
  void dropCandidateSeries(Series& s);
  void drop(Series& s);

  std::mutex mu_;
  prometheus::Family<prometheus::Gauge>& phase_;
  prometheus::Family<prometheus::Gauge>& lag_;
  prometheus::Family<prometheus::Gauge>& progress_;
  prometheus::Family<prometheus::Gauge>& mismatch_;
  prometheus::Family<prometheus::Gauge>& retention_;
  prometheus::Family<prometheus::Counter>& failed_;
  prometheus::Family<prometheus::Counter>& mismatches_;
  prometheus::Family<prometheus::Histogram>& duration_;
  std::map<std::string, Series> series_;
};

}  // namespace kappa::op
