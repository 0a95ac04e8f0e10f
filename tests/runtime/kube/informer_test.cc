// Informer against the in-memory fake: initial sync, handlers, watch resume without loss or
// duplicates, and relist after 410 Gone.
#include "runtime/kube/informer.h"

#include <gtest/gtest.h>

#include <map>
#include <mutex>

#include "tests/support/fakes/kube_api.h"
#include "tests/support/kube_test_util.h"

namespace kappa::kube {
namespace {

using namespace std::chrono_literals;
using testing::eventually;
using testing::FakeKubeApi;

Json configMap(const std::string& name, const std::string& value, const std::string& app = "demo") {
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", {{"name", name}, {"labels", {{"app", app}}}}},
          {"data", {{"v", value}}}};
}

// Records what the handlers saw.
struct Recorder {
  std::mutex mu;
  std::vector<std::string> log;  // "add a=1", "update a=2", "delete a"
  std::map<std::string, int> adds;

  InformerHandlers handlers() {
    return {[this](const ObjectPtr& o) {
              std::lock_guard l(mu);
              adds[nameOf(*o)]++;
              log.push_back("add " + nameOf(*o) + "=" + (*o)["data"].value("v", ""));
            },
            [this](const ObjectPtr&, const ObjectPtr& o) {
              std::lock_guard l(mu);
              log.push_back("update " + nameOf(*o) + "=" + (*o)["data"].value("v", ""));
            },
            [this](const ObjectPtr& o) {
              std::lock_guard l(mu);
              log.push_back("delete " + nameOf(*o));
            }};
  }
  std::vector<std::string> snapshot() {
    std::lock_guard l(mu);
    return log;
  }
  size_t size() {
    std::lock_guard l(mu);
    return log.size();
  }
};

class InformerTest : public ::testing::Test {
 protected:
  CollectionRef cms_{resources::configMaps(), "ns"};
  FakeKubeApi api_;

  InformerOptions options() {
    InformerOptions o;
    o.collection = cms_;
    o.labelSelector = "app=demo";
    o.pageSize = 2;
    o.minBackoff = 10ms;
    o.maxBackoff = 50ms;
    return o;
  }
  void put(const std::string& name, const std::string& value) {
    auto cur = api_.get(cms_.object(name));
    if (cur) {
      Json next = *cur;
      next["data"]["v"] = value;
      ASSERT_TRUE(api_.update(cms_.object(name), next).ok());
    } else {
      ASSERT_TRUE(api_.create(cms_, configMap(name, value)).ok());
    }
  }
};

TEST_F(InformerTest, SyncsTheCacheAndFollowsChanges) {
  for (int i = 0; i < 5; ++i) put("cm" + std::to_string(i), "0");
  ASSERT_TRUE(api_.create(cms_, configMap("other", "0", "else")).ok());  // filtered out

  Informer inf(api_, options());
  Recorder rec;
  inf.addHandlers(rec.handlers());
  inf.start();
  ASSERT_TRUE(inf.waitForSync(5s));
  EXPECT_EQ(inf.store().size(), 5u);
  EXPECT_EQ(rec.size(), 5u);
  EXPECT_EQ(api_.calls("list"), 3);  // pages of 2

  put("cm1", "1");
  ASSERT_TRUE(api_.remove(cms_.object("cm2")).ok());
  put("new", "n");
  ASSERT_TRUE(eventually([&] { return rec.size() == 8; }, 5s));
  auto log = rec.snapshot();
  EXPECT_EQ(log[5], "update cm1=1");
  EXPECT_EQ(log[6], "delete cm2");
  EXPECT_EQ(log[7], "add new=n");
  EXPECT_EQ((*inf.store().get("ns", "cm1"))["data"]["v"], "1");
  EXPECT_EQ(inf.store().get("ns", "cm2"), nullptr);
  EXPECT_EQ(inf.store().listNamespace("ns").size(), 5u);
  inf.stop();
}

TEST_F(InformerTest, CachesObjectsWithoutManagedFieldsOrLastAppliedCopy) {
  Json cm = configMap("big", "0");
  cm["metadata"]["managedFields"] = Json::array({{{"manager", "kubectl"}}});
  cm["metadata"]["annotations"] = {
      {"kubectl.kubernetes.io/last-applied-configuration", "{\"huge\":true}"},
      {"kappa.io/promote", "true"}};
  Json bare = configMap("bare", "0");
  bare["metadata"]["annotations"] = {{"kubectl.kubernetes.io/last-applied-configuration", "{}"}};
  ASSERT_TRUE(api_.create(cms_, cm).ok());
  ASSERT_TRUE(api_.create(cms_, bare).ok());

  Informer inf(api_, options());
  inf.start();
  ASSERT_TRUE(inf.waitForSync(5s));
  auto got = inf.store().get("ns", "big");
  ASSERT_NE(got, nullptr);
  EXPECT_FALSE((*got)["metadata"].contains("managedFields"));
  EXPECT_EQ((*got)["metadata"]["annotations"], (Json{{"kappa.io/promote", "true"}}));
  auto other = inf.store().get("ns", "bare");
  ASSERT_NE(other, nullptr);
  EXPECT_FALSE((*other)["metadata"].contains("annotations"));
  inf.stop();
}

TEST_F(InformerTest, ResumesAfterABrokenWatchWithoutLosingOrRepeatingEvents) {
  put("a", "0");
  Informer inf(api_, options());
  Recorder rec;
  inf.addHandlers(rec.handlers());
  inf.start();
  ASSERT_TRUE(inf.waitForSync(5s));
  ASSERT_TRUE(eventually([&] { return api_.openWatches() == 1; }));

  for (int round = 1; round <= 5; ++round) {
    api_.breakWatches();
    put("a", std::to_string(round));        // written while no watch is open
    if (round % 2 == 0) api_.endWatches();  // a normal end (timeoutSeconds) as well
  }
  ASSERT_TRUE(eventually([&] { return rec.size() == 6; }, 5s)) << rec.size();
  std::this_thread::sleep_for(100ms);
  auto log = rec.snapshot();
  ASSERT_EQ(log.size(), 6u);  // no duplicates
  for (int round = 1; round <= 5; ++round) {
    EXPECT_EQ(log[round], "update a=" + std::to_string(round));
  }
  auto s = inf.stats();
  EXPECT_EQ(s.lists, 1);  // resumed, never relisted
  EXPECT_GE(s.watchesStarted, 2);
  EXPECT_GE(s.watchErrors, 1);
  inf.stop();
}

TEST_F(InformerTest, RelistsOnGoneAndConverges) {
  put("keep", "0");
  put("drop", "0");
  Informer inf(api_, options());
  Recorder rec;
  inf.addHandlers(rec.handlers());
  inf.start();
  ASSERT_TRUE(inf.waitForSync(5s));
  ASSERT_TRUE(eventually([&] { return api_.openWatches() == 1; }));

  // While the watch is down: changes happen and history is compacted, so resuming from
  // the last version seen is impossible.
  api_.setFailHook([](const std::string& verb) -> std::optional<Error> {
    if (verb == "watch") return Error{ErrorCode::kUnavailable, "down"};
    return std::nullopt;
  });
  api_.breakWatches();
  put("keep", "1");
  ASSERT_TRUE(api_.remove(cms_.object("drop")).ok());
  put("added", "1");
  api_.compact();
  api_.setFailHook(nullptr);

  ASSERT_TRUE(eventually([&] { return inf.stats().relistsOnGone >= 1; }, 5s));
  ASSERT_TRUE(eventually([&] { return inf.store().size() == 2; }, 5s));
  EXPECT_EQ((*inf.store().get("ns", "keep"))["data"]["v"], "1");
  EXPECT_NE(inf.store().get("ns", "added"), nullptr);
  EXPECT_EQ(inf.store().get("ns", "drop"), nullptr);
  auto log = rec.snapshot();
  EXPECT_NE(std::find(log.begin(), log.end(), "delete drop"), log.end());
  EXPECT_NE(std::find(log.begin(), log.end(), "update keep=1"), log.end());
  EXPECT_NE(std::find(log.begin(), log.end(), "add added=1"), log.end());
  EXPECT_EQ(inf.stats().lists, 2);

  // And it watches again from the fresh list.
  put("after", "x");
  ASSERT_TRUE(eventually([&] { return inf.store().get("ns", "after") != nullptr; }, 5s));
  inf.stop();
}

TEST_F(InformerTest, RetriesAFailingListWithBackoff) {
  std::atomic<int> failures{3};
  api_.setFailHook([&](const std::string& verb) -> std::optional<Error> {
    if (verb == "list" && failures-- > 0) return Error{ErrorCode::kUnavailable, "refused"};
    return std::nullopt;
  });
  put("a", "0");
  Informer inf(api_, options());
  inf.start();
  ASSERT_TRUE(inf.waitForSync(5s));
  EXPECT_EQ(inf.store().size(), 1u);
  EXPECT_GE(api_.calls("list"), 4);
  inf.stop();
}

TEST_F(InformerTest, StopEndsABlockedWatchPromptly) {
  Informer inf(api_, options());
  inf.start();
  ASSERT_TRUE(inf.waitForSync(5s));
  ASSERT_TRUE(eventually([&] { return api_.openWatches() == 1; }));
  auto start = std::chrono::steady_clock::now();
  inf.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
}

// A controller's own cache entry: what it reads of a ConfigMap, decoded once per event.
struct Entry {
  std::string ns, name, resourceVersion, value;
};
std::string keyOf(const Entry& e) { return makeKey(e.ns, e.name); }
const std::string& resourceVersionOf(const Entry& e) { return e.resourceVersion; }

TEST_F(InformerTest, CachesDecodedEntriesAndComparesTheirResourceVersions) {
  put("keep", "0");
  put("change", "0");
  put("drop", "0");
  BasicInformer<Entry>::Options o;
  o.collection = cms_;
  o.labelSelector = "app=demo";
  o.pageSize = 2;
  o.minBackoff = 10ms;
  o.maxBackoff = 50ms;
  o.transform = [](Json obj) {
    return Entry{namespaceOf(obj), nameOf(obj), kube::resourceVersionOf(obj),
                 obj["data"].value("v", "")};
  };
  BasicInformer<Entry> inf(api_, o);
  std::mutex mu;
  std::vector<std::string> log;
  inf.addHandlers({[&](const auto& e) {
                     std::lock_guard l(mu);
                     log.push_back("add " + e->name + "=" + e->value);
                   },
                   [&](const auto& old, const auto& e) {
                     std::lock_guard l(mu);
                     log.push_back("update " + e->name + "=" + old->value + "->" + e->value);
                   },
                   [&](const auto& e) {
                     std::lock_guard l(mu);
                     log.push_back("delete " + e->name);
                   }});
  auto snapshot = [&] {
    std::lock_guard l(mu);
    return log;
  };
  inf.start();
  ASSERT_TRUE(inf.waitForSync(5s));
  ASSERT_EQ(inf.store().size(), 3u);
  EXPECT_EQ(inf.store().get("ns", "change")->value, "0");
  ASSERT_TRUE(eventually([&] { return api_.openWatches() == 1; }));

  // Changes while the watch is down and the history compacted: the relist sends an update
  // for the entry whose resourceVersion moved and none for the one that did not.
  api_.setFailHook([](const std::string& verb) -> std::optional<Error> {
    if (verb == "watch") return Error{ErrorCode::kUnavailable, "down"};
    return std::nullopt;
  });
  api_.breakWatches();
  put("change", "1");
  ASSERT_TRUE(api_.remove(cms_.object("drop")).ok());
  api_.compact();
  api_.setFailHook(nullptr);
  ASSERT_TRUE(eventually([&] { return inf.stats().relistsOnGone >= 1; }, 5s));
  ASSERT_TRUE(eventually([&] { return inf.store().size() == 2; }, 5s));
  EXPECT_EQ(inf.store().get("ns", "change")->value, "1");
  auto got = snapshot();
  EXPECT_EQ(got, (std::vector<std::string>{"add change=0", "add drop=0", "add keep=0",
                                           "update change=0->1", "delete drop"}));

  // Watch events are decoded the same way.
  put("keep", "2");
  ASSERT_TRUE(eventually([&] { return inf.store().get("ns", "keep")->value == "2"; }, 5s));
  EXPECT_EQ(snapshot().back(), "update keep=0->2");
  inf.stop();
}

}  // namespace
}  // namespace kappa::kube
