// Prometheus series of the PipelineVersions the operator manages, derived from their status
// (the informer's cache) when /metrics is scraped: phase, lag, progress, validation mismatch ratio,
// retention risk, and counters/histograms of cutovers. The chart's alerts and dashboard use these
// names.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "controllers/pipelineversion/types.h"

namespace kappa::op {

class PipelineMetrics final : public prometheus::Collectable {
 public:
  using Objects = std::vector<std::shared_ptr<const controllers::CachedVersion>>;
  // `source` lists the current objects (the informer's cache); it is called on each scrape,
  // from the metrics server's thread. The counters and histograms go into `registry`; the
  // gauges come from Collect(), which the caller registers next to the registry.
  PipelineMetrics(prometheus::Registry& registry, std::function<Objects()> source);

  // The gauges, computed from the objects at the time of the scrape. Only the current phase
  // has a phase series (a one-hot set of all eleven per object would be most of a scrape with
  // thousands of versions), and only candidates (Pending .. Promoting) have lag, progress,
  // mismatch and retention. Nothing is kept between scrapes: an object that is gone has no
  // series, and thousands of finished versions cost the operator no memory here.
  std::vector<prometheus::MetricFamily> Collect() const override;

  // Counts transitions: into Failed (cutovers failed), into Serving (cutover duration, from
  // creation to servingSince), Validated turning False (validation mismatches).
  void observeUpdate(const controllers::CachedVersion& before,
                     const controllers::CachedVersion& after);

 private:
  std::function<Objects()> source_;
  std::mutex mu_;
  prometheus::Family<prometheus::Counter>& failed_;
  prometheus::Family<prometheus::Counter>& mismatches_;
  prometheus::Family<prometheus::Histogram>& duration_;
};

}  // namespace kappa::op
