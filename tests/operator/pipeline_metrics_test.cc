#include "operator/pipeline_metrics.h"

#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include "controllers/pipelineversion/codec.h"

namespace kappa::op {
namespace {

using nlohmann::json;

json version(const std::string& name, const std::string& phase, json status = json::object()) {
  status["phase"] = phase;
  return {{"metadata",
           {{"namespace", "ns"}, {"name", name}, {"creationTimestamp", "2026-11-23T10:00:00Z"}}},
          {"spec", {{"pipeline", "sessions"}, {"version", name}}},
          {"status", status}};
}

// As the operator's informer caches it.
controllers::CachedVersion cached(const json& obj) {
  return controllers::cachedVersionFromJson(obj);
}

// What a scrape of /metrics shows: the registry's series, then the collected gauges.
std::string text(prometheus::Registry& r, const PipelineMetrics& m) {
  auto families = r.Collect();
  for (auto& f : m.Collect()) families.push_back(std::move(f));
  return prometheus::TextSerializer().Serialize(families);
}

PipelineMetrics::Objects objects(std::initializer_list<json> list) {
  PipelineMetrics::Objects out;
  for (const auto& o : list) {
    out.push_back(std::make_shared<const controllers::CachedVersion>(cached(o)));
  }
  return out;
}

bool has(const std::string& text, const std::string& line) {
  return text.find(line + "\n") != std::string::npos;
}

TEST(PipelineMetrics, GaugesFollowStatusAndDisappearWithTheObject) {
  prometheus::Registry r;
  PipelineMetrics::Objects cache;
  PipelineMetrics m(r, [&cache] { return cache; });
  cache = objects(
      {version("v1", "Serving"), version("v2", "Validating",
                                         {{"lag", {{"messages", 42}, {"seconds", 3.5}}},
                                          {"replay", {{"progressPercent", 99.5}}},
                                          {"validation", {{"mismatchRatio", 0.25}}},
                                          {"conditions", json::array({{{"type", "RetentionSafe"},
                                                                       {"status", "False"},
                                                                       {"reason", "AtRisk"}}})}})});
  auto t = text(r, m);
  const std::string v2 = R"(namespace="ns",pipeline="sessions",version="v2")";
  // Labels print in name order.
  EXPECT_TRUE(has(
      t,
      R"(kappa_pipelineversion_phase{namespace="ns",phase="Validating",pipeline="sessions",version="v2"} 1)"))
      << t;
  // Only the current phase has a series.
  EXPECT_EQ(t.find(R"(phase="Serving",pipeline="sessions",version="v2")"), std::string::npos) << t;
  EXPECT_TRUE(has(t, "kappa_pipelineversion_lag_messages{" + v2 + "} 42")) << t;
  EXPECT_TRUE(has(t, "kappa_pipelineversion_lag_seconds{" + v2 + "} 3.5")) << t;
  EXPECT_TRUE(has(t, "kappa_pipelineversion_progress_percent{" + v2 + "} 99.5")) << t;
  EXPECT_TRUE(has(t, "kappa_validation_mismatch_ratio{" + v2 + "} 0.25")) << t;
  EXPECT_TRUE(has(t, "kappa_retention_at_risk{" + v2 + "} 1")) << t;
  EXPECT_TRUE(has(
      t,
      R"(kappa_pipelineversion_phase{namespace="ns",phase="Serving",pipeline="sessions",version="v1"} 1)"))
      << t;

  // A serving version has no candidate series.
  EXPECT_EQ(
      t.find(
          R"(kappa_pipelineversion_lag_messages{namespace="ns",pipeline="sessions",version="v1"})"),
      std::string::npos)
      << t;

  // v2 moves on: its old phase series goes, the new one comes; then it is deleted.
  cache = objects({version("v1", "Serving"), version("v2", "Serving")});
  t = text(r, m);
  EXPECT_EQ(t.find(R"(phase="Validating")"), std::string::npos) << t;
  EXPECT_TRUE(has(
      t,
      R"(kappa_pipelineversion_phase{namespace="ns",phase="Serving",pipeline="sessions",version="v2"} 1)"))
      << t;
  EXPECT_EQ(t.find("kappa_validation_mismatch_ratio{" + v2), std::string::npos) << t;
  cache = objects({version("v1", "Serving")});
  t = text(r, m);
  EXPECT_EQ(t.find(R"(version="v2")"), std::string::npos) << t;
}

TEST(PipelineMetrics, WorkerReadyFollowsWorkerAvailableWhileAWorkerRuns) {
  prometheus::Registry r;
  PipelineMetrics::Objects cache;
  PipelineMetrics m(r, [&cache] { return cache; });
  auto available = [](const std::string& status) {
    return json{{"conditions", json::array({{{"type", "WorkerAvailable"},
                                             {"status", status},
                                             {"reason", "PodsNotReady"}}})}};
  };
  cache = objects({version("v1", "Serving", available("False")),
                   version("v2", "Replaying", available("True")), version("v0", "Retired")});
  auto t = text(r, m);
  EXPECT_TRUE(has(
      t,
      R"(kappa_pipelineversion_worker_ready{namespace="ns",pipeline="sessions",version="v1"} 0)"))
      << t;
  EXPECT_TRUE(has(
      t,
      R"(kappa_pipelineversion_worker_ready{namespace="ns",pipeline="sessions",version="v2"} 1)"))
      << t;
  EXPECT_EQ(
      t.find(
          R"(kappa_pipelineversion_worker_ready{namespace="ns",pipeline="sessions",version="v0"})"),
      std::string::npos)
      << t;
}

TEST(PipelineMetrics, AStragglerWhileTheVersionReplays) {
  prometheus::Registry r;
  PipelineMetrics::Objects cache;
  PipelineMetrics m(r, [&cache] { return cache; });
  json stragglers = {
      {"replay",
       {{"stragglers", json::array({{{"partition", 3}, {"lag", 10}, {"pod", "sessions-v2-abc"}},
                                    {{"partition", 5}, {"lag", 10}}})}}}};
  cache = objects({version("v2", "Replaying", stragglers), version("v3", "Failed", stragglers)});
  auto t = text(r, m);
  EXPECT_TRUE(has(t, R"(kappa_replay_straggler{namespace="ns",partition="3",pipeline="sessions",)"
                     R"(pod="sessions-v2-abc",version="v2"} 1)"))
      << t;
  EXPECT_TRUE(has(t, R"(kappa_replay_straggler{namespace="ns",partition="5",pipeline="sessions",)"
                     R"(pod="",version="v2"} 1)"))
      << t;
  EXPECT_EQ(t.find(R"(pod="sessions-v2-abc",version="v3"})"), std::string::npos)
      << "only while replaying: " << t;
}

TEST(PipelineMetrics, ShadowRatioWhileTheShadowedPairRuns) {
  prometheus::Registry r;
  PipelineMetrics::Objects cache;
  PipelineMetrics m(r, [&cache] { return cache; });
  json shadow = {
      {"shadow",
       {{"servingVersion", "v1"}, {"startedAt", "2026-11-23T10:00:00Z"}, {"mismatchRatio", 0.125}}},
      {"conditions",
       json::array({{{"type", "ShadowMatched"}, {"status", "False"}, {"reason", "Drifted"}}})}};
  const std::string v2 = R"(namespace="ns",pipeline="sessions",version="v2")";
  cache = objects(
      {version("v1", "Draining"), version("v2", "Serving", shadow), version("v3", "Serving")});
  auto t = text(r, m);
  EXPECT_TRUE(has(t, "kappa_shadow_mismatch_ratio{" + v2 + "} 0.125")) << t;
  EXPECT_TRUE(has(t, "kappa_shadow_drifted{" + v2 + "} 1")) << t;
  // Only a version with a shadow has the series.
  EXPECT_EQ(
      t.find(R"(kappa_shadow_mismatch_ratio{namespace="ns",pipeline="sessions",version="v3"})"),
      std::string::npos)
      << t;
  // Rolled back, v2 drains: the series stays while it runs, and goes when it retires.
  cache = objects({version("v1", "Serving"), version("v2", "Draining", shadow)});
  EXPECT_TRUE(has(text(r, m), "kappa_shadow_mismatch_ratio{" + v2 + "} 0.125"));
  cache = objects({version("v1", "Serving"), version("v2", "Retired", shadow)});
  EXPECT_EQ(text(r, m).find("kappa_shadow_mismatch_ratio{" + v2), std::string::npos);
}

TEST(PipelineMetrics, CountsFailuresMismatchesAndCutoverDurations) {
  prometheus::Registry r;
  PipelineMetrics m(r, {});
  auto replaying = version("v2", "Replaying");
  auto failed = version("v2", "Failed");
  m.observeUpdate(cached(replaying), cached(failed));
  m.observeUpdate(cached(failed), cached(failed));  // no transition: not counted again
  auto validating = version("v3", "Validating");
  auto blocked = version(
      "v3", "AwaitingPromotion",
      {{"conditions",
        json::array({{{"type", "Validated"}, {"status", "False"}, {"reason", "Mismatched"}}})}});
  m.observeUpdate(cached(validating), cached(blocked));
  auto promoting = version("v4", "Promoting");
  auto serving = version("v4", "Serving", {{"servingSince", "2026-11-23T10:02:00Z"}});
  m.observeUpdate(cached(promoting), cached(serving));
  auto t = text(r, m);
  EXPECT_TRUE(has(t, R"(kappa_cutovers_failed_total{namespace="ns",pipeline="sessions"} 1)")) << t;
  EXPECT_TRUE(has(t, R"(kappa_validation_mismatches_total{namespace="ns",pipeline="sessions"} 1)"))
      << t;
  EXPECT_TRUE(
      has(t, R"(kappa_cutover_duration_seconds_sum{namespace="ns",pipeline="sessions"} 120)"))
      << t;
  EXPECT_TRUE(
      has(t, R"(kappa_cutover_duration_seconds_count{namespace="ns",pipeline="sessions"} 1)"))
      << t;
}

}  // namespace
}  // namespace kappa::op
