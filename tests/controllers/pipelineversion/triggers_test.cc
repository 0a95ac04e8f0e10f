// What a change of a PipelineVersion queues: itself always; the other versions of its
// pipeline (and only those) when the change is one they decide on.
#include "controllers/pipelineversion/triggers.h"

#include <gtest/gtest.h>

namespace kappa::controllers {
namespace {

VersionPtr version(const std::string& ns, const std::string& pipeline, const std::string& v,
                   Phase phase = Phase::kReplaying) {
  CachedVersion c;
  c.ns = ns;
  c.pipeline = pipeline;
  c.other.name = pipeline + "-" + v;
  c.other.version = v;
  c.other.phase = phase;
  return std::make_shared<const CachedVersion>(c);
}

class TriggersTest : public ::testing::Test {
 protected:
  VersionPtr v1 = version("team-a", "sessions", "v1", Phase::kServing);
  VersionPtr v2 = version("team-a", "sessions", "v2");
  VersionPtr otherPipeline = version("team-a", "orders", "v1", Phase::kServing);
  std::vector<VersionPtr> cache{v1, v2, otherPipeline};
};

TEST_F(TriggersTest, AnAddedOrDeletedVersionQueuesItselfAndItsPipelinesOtherVersions) {
  Triggered t = triggeredBy(nullptr, *v2, cache);
  EXPECT_EQ(t.self, "team-a/sessions-v2");
  EXPECT_EQ(t.siblings, std::vector<std::string>{"team-a/sessions-v1"});
}

TEST_F(TriggersTest, ALagRefreshQueuesTheVersionAlone) {
  CachedVersion after = *v2;
  after.lagMessages = 52;
  after.progressPercent = 99.5;
  after.resourceVersion = "8";
  Triggered t = triggeredBy(v2.get(), after, cache);
  EXPECT_EQ(t.self, "team-a/sessions-v2");
  EXPECT_TRUE(t.siblings.empty());
}

TEST_F(TriggersTest, WhatTheOtherVersionsSeeChangingQueuesThemToo) {
  for (auto change : std::vector<std::function<void(OtherVersion&)>>{
           [](OtherVersion& o) { o.phase = Phase::kValidating; },
           [](OtherVersion& o) { o.deleting = true; },
           [](OtherVersion& o) { o.outputTopic = "sessions.v2"; },
           [](OtherVersion& o) { o.drainedAt = TimePoint{}; }}) {
    CachedVersion after = *v2;
    change(after.other);
    Triggered t = triggeredBy(v2.get(), after, cache);
    EXPECT_EQ(t.siblings, std::vector<std::string>{"team-a/sessions-v1"});
  }
}

TEST_F(TriggersTest, TheSamePipelineInAnotherNamespaceIsNotASibling) {
  cache.push_back(version("team-b", "sessions", "v1"));
  Triggered t = triggeredBy(nullptr, *v1, cache);
  EXPECT_EQ(t.siblings, std::vector<std::string>{"team-a/sessions-v2"});
}

ManagedObject managed(const std::string& name, const std::string& pipeline,
                      const std::string& version) {
  kube::Json labels = {{"app.kubernetes.io/managed-by", "kappa-operator"},
                       {"kappa.io/pipeline", pipeline}};
  if (!version.empty()) labels["kappa.io/version"] = version;
  return managedObjectFromJson(
      {{"metadata",
        {{"namespace", "team-a"}, {"name", name}, {"resourceVersion", "7"}, {"labels", labels}}}});
}

TEST_F(TriggersTest, AWorkerPodOrDeploymentQueuesItsVersion) {
  ManagedObject pod = managed("sessions-v2-5d9f-abcde", "sessions", "v2");
  EXPECT_EQ(keyOf(pod), "team-a/sessions-v2-5d9f-abcde");
  EXPECT_EQ(resourceVersionOf(pod), "7");
  EXPECT_EQ(keysConcerned(pod, cache), std::vector<std::string>{"team-a/sessions-v2"});
  EXPECT_EQ(keysConcerned(managed("sessions-v1", "sessions", "v1"), cache),
            std::vector<std::string>{"team-a/sessions-v1"});
}

TEST_F(TriggersTest, TheAliasQueuesEveryVersionOfItsPipeline) {
  EXPECT_EQ(keysConcerned(managed("sessions-serving", "sessions", ""), cache),
            (std::vector<std::string>{"team-a/sessions-v1", "team-a/sessions-v2"}));
}

TEST_F(TriggersTest, AnObjectOfNoKnownVersionQueuesNothing) {
  EXPECT_TRUE(keysConcerned(managed("sessions-v7", "sessions", "v7"), cache).empty());
  EXPECT_TRUE(keysConcerned(managed("unlabelled", "", ""), cache).empty());
}

// Medallion: a version of `reports` reads version v1 of `sessions` (status.source).
VersionPtr reader(const std::string& v, const std::string& upstreamVersion, Phase phase) {
  CachedVersion c = *version("team-a", "reports", v, phase);
  c.other.sourcePipeline = "sessions";
  c.other.sourceVersion = upstreamVersion;
  return std::make_shared<const CachedVersion>(c);
}

TEST_F(TriggersTest, AReaderChangingQueuesTheVersionItReads) {
  VersionPtr r1 = reader("v1", "v1", Phase::kServing);
  cache.push_back(r1);
  CachedVersion after = *r1;
  after.other.phase = Phase::kDraining;
  Triggered t = triggeredBy(r1.get(), after, cache);
  EXPECT_EQ(t.siblings, std::vector<std::string>{"team-a/sessions-v1"});
  // Once resolved to another version, both the old and the new upstream version hear of it.
  CachedVersion moved = *r1;
  moved.other.sourceVersion = "v2";
  t = triggeredBy(r1.get(), moved, cache);
  EXPECT_EQ(t.siblings, (std::vector<std::string>{"team-a/sessions-v1", "team-a/sessions-v2"}));
}

TEST_F(TriggersTest, TheAliasAlsoQueuesTheVersionsReadingItsPipeline) {
  cache.push_back(reader("v1", "v1", Phase::kServing));
  EXPECT_EQ(
      keysConcerned(managed("sessions-serving", "sessions", ""), cache),
      (std::vector<std::string>{"team-a/sessions-v1", "team-a/sessions-v2", "team-a/reports-v1"}));
  // A worker of sessions concerns its own version only.
  EXPECT_EQ(keysConcerned(managed("sessions-v1", "sessions", "v1"), cache),
            std::vector<std::string>{"team-a/sessions-v1"});
}

}  // namespace
}  // namespace kappa::controllers
