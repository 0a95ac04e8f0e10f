#include "operator/pipeline_metrics.h"

#include <ctime>
#include <iomanip>
#include <optional>
#include <sstream>

namespace kappa::op {
namespace {

using nlohmann::json;

// Phases before the alias flip: the versions whose lag, progress, validation and retention
// someone watches (and the alerts use).
bool isCandidate(const std::string& phase) {
  return phase == "Pending" || phase == "Provisioning" || phase == "Replaying" ||
         phase == "Validating" || phase == "AwaitingPromotion" || phase == "Promoting";
}

std::string at(const json& j, const char* pointer) {
  json::json_pointer p(pointer);
  if (!j.contains(p) || !j.at(p).is_string()) return "";
  return j.at(p).get<std::string>();
}

double number(const json& j, const char* pointer) {
  json::json_pointer p(pointer);
  if (!j.contains(p) || !j.at(p).is_number()) return 0;
  return j.at(p).get<double>();
}

std::string conditionStatus(const json& j, const std::string& type, std::string* reason = nullptr) {
  json::json_pointer p("/status/conditions");
  if (!j.contains(p) || !j.at(p).is_array()) return "";
  for (const auto& c : j.at(p)) {
    if (c.value("type", "") != type) continue;
    if (reason) *reason = c.value("reason", "");
    return c.value("status", "");
  }
  return "";
}

std::optional<double> epochSeconds(const std::string& rfc3339) {
  std::tm tm{};
  std::istringstream in(rfc3339);
  in >> std::get_time(&tm, "%Y-%m-%dT%H:%M:%S");
  if (in.fail()) return std::nullopt;
  return static_cast<double>(timegm(&tm));
}

}  // namespace

PipelineMetrics::PipelineMetrics(prometheus::Registry& r)
    : phase_(prometheus::BuildGauge()
                 .Name("kappa_pipelineversion_phase")
                 .Help("1 for the phase a PipelineVersion is in (only that phase has a series)")
                 .Register(r)),
      lag_(prometheus::BuildGauge()
               .Name("kappa_pipelineversion_lag_messages")
               .Help("Consumer lag of the version's worker against the last stable offset")
               .Register(r)),
      progress_(prometheus::BuildGauge()
                    .Name("kappa_pipelineversion_progress_percent")
                    .Help("Replay progress, 0..100")
                    .Register(r)),
      mismatch_(prometheus::BuildGauge()
                    .Name("kappa_validation_mismatch_ratio")
                    .Help("Mismatched / compared sampled keys of the last validation")
                    .Register(r)),
      retention_(prometheus::BuildGauge()
                     .Name("kappa_retention_at_risk")
                     .Help("1 when the source's retention may expire events before the replay "
                           "reads them")
                     .Register(r)),
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

void PipelineMetrics::dropCandidateSeries(Series& s) {
  if (!s.lag) return;
  lag_.Remove(s.lag);
  progress_.Remove(s.progress);
  mismatch_.Remove(s.mismatch);
  retention_.Remove(s.retention);
  s.lag = s.progress = s.mismatch = s.retention = nullptr;
}

void PipelineMetrics::drop(Series& s) {
  if (s.phaseGauge) phase_.Remove(s.phaseGauge);
  s.phaseGauge = nullptr;
  dropCandidateSeries(s);
}

void PipelineMetrics::refresh(const std::vector<std::shared_ptr<const json>>& objects) {
  std::lock_guard lock(mu_);
  std::set<std::string> seen;
  for (const auto& ptr : objects) {
    const json& obj = *ptr;
    std::string ns = at(obj, "/metadata/namespace"), name = at(obj, "/metadata/name");
    std::string key = ns + "/" + name;
    seen.insert(key);
    Series& s = series_[key];
    if (s.labels.empty()) {
      s.labels = {{"namespace", ns},
                  {"pipeline", at(obj, "/spec/pipeline")},
                  {"version", at(obj, "/spec/version")}};
    }
    std::string phase = at(obj, "/status/phase");
    if (phase.empty()) phase = "Pending";
    if (!s.phaseGauge || s.phase != phase) {
      if (s.phaseGauge) phase_.Remove(s.phaseGauge);
      Labels l = s.labels;
      l["phase"] = phase;
      s.phaseGauge = &phase_.Add(l);
      s.phaseGauge->Set(1);
      s.phase = phase;
    }
    if (!isCandidate(phase)) {
      dropCandidateSeries(s);
      continue;
    }
    if (!s.lag) {
      s.lag = &lag_.Add(s.labels);
      s.progress = &progress_.Add(s.labels);
      s.mismatch = &mismatch_.Add(s.labels);
      s.retention = &retention_.Add(s.labels);
    }
    s.lag->Set(number(obj, "/status/lag/messages"));
    s.progress->Set(number(obj, "/status/replay/progressPercent"));
    s.mismatch->Set(number(obj, "/status/validation/mismatchRatio"));
    std::string reason;
    bool atRisk = conditionStatus(obj, "RetentionSafe", &reason) == "False" && reason == "AtRisk";
    s.retention->Set(atRisk ? 1 : 0);
  }
  for (auto it = series_.begin(); it != series_.end();) {
    if (seen.count(it->first)) {
      ++it;
      continue;
    }
    drop(it->second);
    it = series_.erase(it);
  }
}

void PipelineMetrics::observeUpdate(const json& before, const json& after) {
  std::lock_guard lock(mu_);
  Labels labels = {{"namespace", at(after, "/metadata/namespace")},
                   {"pipeline", at(after, "/spec/pipeline")}};
  std::string was = at(before, "/status/phase"), now = at(after, "/status/phase");
  if (now == "Failed" && was != "Failed") failed_.Add(labels).Increment();
  if (now == "Serving" && was != "Serving") {
    auto created = epochSeconds(at(after, "/metadata/creationTimestamp"));
    auto serving = epochSeconds(at(after, "/status/servingSince"));
    if (created && serving && *serving >= *created) {
      duration_
          .Add(labels, prometheus::Histogram::BucketBoundaries{10, 30, 60, 120, 300, 600, 1800,
                                                               3600, 7200, 21600, 86400})
          .Observe(*serving - *created);
    }
  }
  std::string reasonBefore, reasonAfter;
  std::string vBefore = conditionStatus(before, "Validated", &reasonBefore);
  std::string vAfter = conditionStatus(after, "Validated", &reasonAfter);
  if (vAfter == "False" && vBefore != "False") mismatches_.Add(labels).Increment();
}

}  // namespace kappa::op
