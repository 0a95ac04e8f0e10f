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
    const json& obj = *ptr;
    std::string ns = at(obj, "/metadata/namespace"), pipeline = at(obj, "/spec/pipeline"),
                version = at(obj, "/spec/version"), phase = at(obj, "/status/phase");
    if (phase.empty()) phase = "Pending";
    // Labels in name order, as the registry's own series print them.
    out[0].metric.push_back(gauge(
        {{"namespace", ns}, {"phase", phase}, {"pipeline", pipeline}, {"version", version}}, 1));
    if (!isCandidate(phase)) continue;
    std::vector<ClientMetric::Label> labels{
        {"namespace", ns}, {"pipeline", pipeline}, {"version", version}};
    std::string reason;
    bool atRisk = conditionStatus(obj, "RetentionSafe", &reason) == "False" && reason == "AtRisk";
    out[1].metric.push_back(gauge(labels, number(obj, "/status/lag/messages")));
    out[2].metric.push_back(gauge(labels, number(obj, "/status/replay/progressPercent")));
    out[3].metric.push_back(gauge(labels, number(obj, "/status/validation/mismatchRatio")));
    out[4].metric.push_back(gauge(std::move(labels), atRisk ? 1 : 0));
  }
  return out;
}

void PipelineMetrics::observeUpdate(const json& before, const json& after) {
  std::lock_guard lock(mu_);
  prometheus::Labels labels = {{"namespace", at(after, "/metadata/namespace")},
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
