#include "operator/pipeline_metrics.h"

#include <chrono>
#include <string>

namespace kappa::op {
namespace {

using controllers::CachedVersion;
using controllers::Phase;

// Phases before the alias flip: the versions whose lag, progress, validation and retention
// someone watches (and the alerts use).
bool isCandidate(Phase p) {
  return p == Phase::kPending || p == Phase::kProvisioning || p == Phase::kReplaying ||
         p == Phase::kValidating || p == Phase::kAwaitingPromotion || p == Phase::kPromoting;
}

// Phases in which the version's worker runs and its WorkerAvailable condition is kept.
bool runsWorker(Phase p) {
  return p == Phase::kReplaying || p == Phase::kValidating || p == Phase::kServing;
}

}  // namespace

PipelineMetrics::PipelineMetrics(prometheus::Registry& r, std::function<Objects()> source)
    : source_(std::move(source)),
      failed_(prometheus::BuildCounter()
                  .Name("kappa_cutovers_failed_total")
                  .Help("PipelineVersions that went to phase Failed")
                  .Register(r)),
      mismatches_(prometheus::BuildCounter()
                      .Name("kappa_validation_mismatches_total")
                      .Help("Validations that found a mismatch above policy")
                      .Register(r)),
      duration_(prometheus::BuildHistogram()
                    .Name("kappa_cutover_duration_seconds")
                    .Help("From a version's creation until it serves")
                    .Register(r)) {}

std::vector<prometheus::MetricFamily> PipelineMetrics::Collect() const {
  using prometheus::ClientMetric;
  using prometheus::MetricFamily;
  using prometheus::MetricType;
  std::vector<MetricFamily> out{
      {"kappa_pipelineversion_phase",
       "1 for the phase a PipelineVersion is in (only that phase has a series)",
       MetricType::Gauge,
       {}},
      {"kappa_pipelineversion_lag_messages",
       "Consumer lag of the version's worker against the last stable offset",
       MetricType::Gauge,
       {}},
      {"kappa_pipelineversion_progress_percent", "Replay progress, 0..100", MetricType::Gauge, {}},
      {"kappa_validation_mismatch_ratio",
       "Mismatched / compared sampled keys of the last validation",
       MetricType::Gauge,
       {}},
      {"kappa_retention_at_risk",
       "1 when the source's retention may expire events before the replay reads them",
       MetricType::Gauge,
       {}},
      {"kappa_pipelineversion_lag_seconds",
       "How far behind its source the version's worker is, in seconds (the slowest partition)",
       MetricType::Gauge,
       {}},
      {"kappa_pipelineversion_worker_ready",
       "1 while every pod of the version's worker is ready (condition WorkerAvailable), else 0; "
       "versions that run a worker (Replaying to Serving)",
       MetricType::Gauge,
       {}},
      {"kappa_shadow_mismatch_ratio",
       "Mismatched / compared sampled keys of the last shadow round after the flip, between "
       "the serving version and the previous one (versions Serving or Draining with a shadow)",
       MetricType::Gauge,
       {}},
      {"kappa_shadow_drifted",
       "1 when a shadow round found the serving version's output drifted from the previous "
       "version's beyond validation.maxMismatchRatio (condition ShadowMatched False), else 0",
       MetricType::Gauge,
       {}},
      {"kappa_replay_straggler",
       "1 for each partition of a replaying version that reads far more slowly than the others "
       "(status.replay.stragglers), with the worker pod that holds it",
       MetricType::Gauge,
       {}}};
  Objects objects = source_ ? source_() : Objects{};
  // The cache lists objects in key order (namespace/name): the scrape is stable.
  out[0].metric.reserve(objects.size());
  auto gauge = [](std::vector<ClientMetric::Label> labels, double value) {
    ClientMetric m;
    m.label = std::move(labels);
    m.gauge.value = value;
    return m;
  };
  for (const auto& ptr : objects) {
    const CachedVersion& v = *ptr;
    const std::string& version = v.other.version;
    // Labels in name order, as the registry's own series print them.
    out[0].metric.push_back(gauge({{"namespace", v.ns},
                                   {"phase", controllers::phaseName(v.other.phase)},
                                   {"pipeline", v.pipeline},
                                   {"version", version}},
                                  1));
    if (runsWorker(v.other.phase)) {
      out[6].metric.push_back(
          gauge({{"namespace", v.ns}, {"pipeline", v.pipeline}, {"version", version}},
                v.workerAvailable ? 1 : 0));
    }
    if (v.shadowing && (v.other.phase == Phase::kServing || v.other.phase == Phase::kDraining)) {
      std::vector<ClientMetric::Label> labels{
          {"namespace", v.ns}, {"pipeline", v.pipeline}, {"version", version}};
      out[7].metric.push_back(gauge(labels, v.shadowMismatchRatio));
      out[8].metric.push_back(gauge(std::move(labels), v.shadowDrifted ? 1 : 0));
    }
    if (v.other.phase == Phase::kReplaying) {
      for (const auto& [partition, pod] : v.stragglers) {
        out[9].metric.push_back(gauge({{"namespace", v.ns},
                                       {"partition", std::to_string(partition)},
                                       {"pipeline", v.pipeline},
                                       {"pod", pod},
                                       {"version", version}},
                                      1));
      }
    }
    if (!isCandidate(v.other.phase)) continue;
    std::vector<ClientMetric::Label> labels{
        {"namespace", v.ns}, {"pipeline", v.pipeline}, {"version", version}};
    out[1].metric.push_back(gauge(labels, static_cast<double>(v.lagMessages)));
    out[2].metric.push_back(gauge(labels, v.progressPercent));
    out[3].metric.push_back(gauge(labels, v.mismatchRatio));
    out[4].metric.push_back(gauge(labels, v.retentionAtRisk ? 1 : 0));
    out[5].metric.push_back(gauge(std::move(labels), v.lagSeconds));
  }
  return out;
}

void PipelineMetrics::observeUpdate(const CachedVersion& before, const CachedVersion& after) {
  std::lock_guard lock(mu_);
  prometheus::Labels labels = {{"namespace", after.ns}, {"pipeline", after.pipeline}};
  Phase was = before.other.phase, now = after.other.phase;
  if (now == Phase::kFailed && was != Phase::kFailed) failed_.Add(labels).Increment();
  if (now == Phase::kServing && was != Phase::kServing && after.servingSince &&
      *after.servingSince >= after.other.creationTimestamp) {
    std::chrono::duration<double> took = *after.servingSince - after.other.creationTimestamp;
    duration_
        .Add(labels, prometheus::Histogram::BucketBoundaries{10, 30, 60, 120, 300, 600, 1800, 3600,
                                                             7200, 21600, 86400})
        .Observe(took.count());
  }
  if (after.validationFailed && !before.validationFailed) mismatches_.Add(labels).Increment();
}

}  // namespace kappa::op
