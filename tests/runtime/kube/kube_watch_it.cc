// Watches and informers against the real kube-apiserver: events streamed as they happen,
// resume after the stream ends or the connection is cut, 410 Gone after etcd compaction,
// and an informer that relists and converges.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <set>
#include <thread>

#include "runtime/kube/http_kube_api.h"
#include "runtime/kube/informer.h"
#include "tests/support/kube_test_util.h"

namespace kappa::kube {
namespace {

using namespace std::chrono_literals;
using testing::eventually;
using testing::makeKubeClient;
using testing::TestNamespace;

Json configMap(const std::string& name, const std::string& value) {
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", {{"name", name}, {"labels", {{"app", "watch-it"}}}}},
          {"data", {{"v", value}}}};
}

Result<Json> setValue(KubeApi& api, const CollectionRef& cms, const std::string& name,
                      const std::string& value) {
  return api.patch(cms.object(name), PatchType::kMerge, {{"data", {{"v", value}}}});
}

TEST(KubeWatchIt, StreamsEachEventAsItHappens) {
  auto api = makeKubeClient();
  ASSERT_TRUE(api);
  TestNamespace ns(*api);
  CollectionRef cms{resources::configMaps(), ns.name()};
  auto list = api->list(cms, {});
  ASSERT_TRUE(list.ok()) << list.error();

  ListOptions lo;
  lo.resourceVersion = list->resourceVersion;
  lo.timeout = 60s;  // the stream stays open: events must arrive before it ends
  auto w = api->watch(cms, lo);
  ASSERT_TRUE(w.ok()) << w.error();
  for (int i = 0; i < 5; ++i) {
    auto name = "cm-" + std::to_string(i);
    auto start = std::chrono::steady_clock::now();
    ASSERT_TRUE(api->create(cms, configMap(name, "0")).ok());
    auto ev = (*w)->next();
    auto latency = std::chrono::steady_clock::now() - start;
    ASSERT_TRUE(ev.ok()) << ev.error();
    ASSERT_TRUE(ev->has_value());
    EXPECT_EQ((*ev)->type, WatchEvent::Type::kAdded);
    EXPECT_EQ(nameOf((*ev)->object), name);
    EXPECT_LT(latency, 2s);
  }
  // cancel() from another thread ends a blocked next().
  std::thread canceller([&] {
    std::this_thread::sleep_for(200ms);
    (*w)->cancel();
  });
  auto start = std::chrono::steady_clock::now();
  auto ended = (*w)->next();
  canceller.join();
  EXPECT_TRUE(ended.ok() && !ended->has_value());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

TEST(KubeWatchIt, ResumesFromTheLastVersionAfterTheStreamEndsOrIsCut) {
  auto api = makeKubeClient();
  ASSERT_TRUE(api);
  TestNamespace ns(*api);
  CollectionRef cms{resources::configMaps(), ns.name()};
  auto created = api->create(cms, configMap("c", "0"));
  ASSERT_TRUE(created.ok()) << created.error();

  // The server ends a watch after timeoutSeconds: next() reports a normal end.
  ListOptions shortLived;
  shortLived.resourceVersion = resourceVersionOf(*created);
  shortLived.timeout = 1s;
  auto w = api->watch(cms, shortLived);
  ASSERT_TRUE(w.ok()) << w.error();
  auto start = std::chrono::steady_clock::now();
  auto end = (*w)->next();
  ASSERT_TRUE(end.ok()) << end.error();
  EXPECT_FALSE(end->has_value());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);

  // Cut the connection after one event; the changes made meanwhile come with the next watch.
  ListOptions lo;
  lo.resourceVersion = resourceVersionOf(*created);
  lo.timeout = 60s;
  auto first = api->watch(cms, lo);
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(setValue(*api, cms, "c", "1").ok());
  auto ev = (*first)->next();
  ASSERT_TRUE(ev.ok() && ev->has_value());
  EXPECT_EQ((*ev)->object["data"]["v"], "1");
  std::string lastSeen = (*ev)->resourceVersion();
  first->reset();  // closes the socket
  for (int i = 2; i <= 4; ++i) ASSERT_TRUE(setValue(*api, cms, "c", std::to_string(i)).ok());

  lo.resourceVersion = lastSeen;
  auto second = api->watch(cms, lo);
  ASSERT_TRUE(second.ok()) << second.error();
  for (int i = 2; i <= 4; ++i) {
    auto e = (*second)->next();
    ASSERT_TRUE(e.ok()) << e.error();
    ASSERT_TRUE(e->has_value());
    EXPECT_EQ((*e)->type, WatchEvent::Type::kModified);
    EXPECT_EQ((*e)->object["data"]["v"], std::to_string(i));  // none lost, none repeated
  }
}

TEST(KubeWatchIt, WatchFromACompactedVersionIsGone) {
  auto api = makeKubeClient();
  ASSERT_TRUE(api);
  TestNamespace ns(*api);
  CollectionRef cms{resources::configMaps(), ns.name()};
  auto created = api->create(cms, configMap("g", "0"));
  ASSERT_TRUE(created.ok());
  for (int i = 1; i <= 3; ++i) ASSERT_TRUE(setValue(*api, cms, "g", std::to_string(i)).ok());
  ASSERT_GT(testing::compactEtcd(), 0);

  ListOptions lo;
  lo.resourceVersion = resourceVersionOf(*created);
  lo.timeout = 30s;
  auto w = api->watch(cms, lo);
  Error err{ErrorCode::kInternal, "no error"};
  if (!w.ok()) {
    err = w.error();  // HTTP 410
  } else {
    auto ev = (*w)->next();  // or 200 and an ERROR event with code 410
    ASSERT_FALSE(ev.ok()) << "expected an error event, got "
                          << (ev->has_value() ? (*ev)->object.dump() : "end of stream");
    err = ev.error();
  }
  EXPECT_EQ(err.code, ErrorCode::kGone) << err;
}

TEST(KubeWatchIt, InformerSeesEveryUpdateAcrossWatchRestarts) {
  auto api = makeKubeClient();
  ASSERT_TRUE(api);
  TestNamespace ns(*api);
  CollectionRef cms{resources::configMaps(), ns.name()};
  ASSERT_TRUE(api->create(cms, configMap("hot", "0")).ok());

  InformerOptions o;
  o.collection = cms;
  o.labelSelector = "app=watch-it";
  o.watchTimeout = 1s;  // the server ends each watch after a second
  Informer inf(*api, o);
  std::mutex mu;
  std::vector<int> seen;
  inf.addHandlers({nullptr,
                   [&](const ObjectPtr&, const ObjectPtr& obj) {
                     std::lock_guard l(mu);
                     seen.push_back(std::stoi((*obj)["data"].value("v", "-1")));
                   },
                   nullptr});
  inf.start();
  ASSERT_TRUE(inf.waitForSync(10s));

  const int kUpdates = 40;
  for (int i = 1; i <= kUpdates; ++i) {
    ASSERT_TRUE(setValue(*api, cms, "hot", std::to_string(i)).ok());
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_TRUE(eventually(
      [&] {
        std::lock_guard l(mu);
        return !seen.empty() && seen.back() == kUpdates;
      },
      10s));
  std::vector<int> expected(kUpdates);
  for (int i = 0; i < kUpdates; ++i) expected[i] = i + 1;
  {
    std::lock_guard l(mu);
    EXPECT_EQ(seen, expected);  // every update once, in order
  }
  auto s = inf.stats();
  EXPECT_GE(s.watchesStarted, 3);
  EXPECT_EQ(s.lists, 1);
  EXPECT_EQ(s.relistsOnGone, 0);
  inf.stop();
}

// Forwards to a real client; while closed, watch() fails and open watches are cut, so the
// informer misses whatever happens meanwhile.
class GatedKubeApi : public KubeApi {
 public:
  explicit GatedKubeApi(KubeApi& inner) : inner_(inner) {}
  Result<Json> get(const ObjectRef& r) override { return inner_.get(r); }
  Result<ObjectList> list(const CollectionRef& r, const ListOptions& o) override {
    return inner_.list(r, o);
  }
  Result<Json> create(const CollectionRef& r, const Json& j, const WriteOptions& o) override {
    return inner_.create(r, j, o);
  }
  Result<Json> update(const ObjectRef& r, const Json& j, const WriteOptions& o) override {
    return inner_.update(r, j, o);
  }
  Result<Json> patch(const ObjectRef& r, PatchType t, const Json& j,
                     const PatchOptions& o) override {
    return inner_.patch(r, t, j, o);
  }
  Result<Json> remove(const ObjectRef& r, const DeleteOptions& o) override {
    return inner_.remove(r, o);
  }
  Result<WatchStreamPtr> watch(const CollectionRef& r, const ListOptions& o) override {
    if (closed_) return Error{ErrorCode::kUnavailable, "gate closed"};
    auto w = inner_.watch(r, o);
    if (!w) {
      if (w.error().code == ErrorCode::kGone) gone_++;
      return w;
    }
    auto stream = std::make_unique<Stream>(*this, std::move(*w));
    std::lock_guard l(mu_);
    open_ = stream.get();
    return WatchStreamPtr(std::move(stream));
  }
  void close() {
    closed_ = true;
    std::lock_guard l(mu_);
    if (open_) open_->cancel();
    open_ = nullptr;
  }
  void open() { closed_ = false; }
  int goneResponses() const { return gone_; }

 private:
  KubeApi& inner_;
  std::atomic<bool> closed_{false};
  std::atomic<int> gone_{0};
  // The informer's stream, unregistered (under mu_) before it is destroyed, so close() never
  // cancels a stream that is going away.
  class Stream final : public WatchStream {
   public:
    Stream(GatedKubeApi& gate, WatchStreamPtr inner) : gate_(gate), inner_(std::move(inner)) {}
    ~Stream() override {
      std::lock_guard l(gate_.mu_);
      if (gate_.open_ == this) gate_.open_ = nullptr;
    }
    Result<std::optional<WatchEvent>> next() override { return inner_->next(); }
    void cancel() override { inner_->cancel(); }

   private:
    GatedKubeApi& gate_;
    WatchStreamPtr inner_;
  };

  std::mutex mu_;
  Stream* open_ = nullptr;
};

TEST(KubeWatchIt, InformerRelistsAfterGoneAndConverges) {
  auto api = makeKubeClient();
  ASSERT_TRUE(api);
  TestNamespace ns(*api);
  CollectionRef cms{resources::configMaps(), ns.name()};
  for (const char* n : {"keep", "change", "drop"})
    ASSERT_TRUE(api->create(cms, configMap(n, "0")).ok());

  GatedKubeApi gated(*api);
  InformerOptions o;
  o.collection = cms;
  o.labelSelector = "app=watch-it";
  o.minBackoff = 50ms;
  o.maxBackoff = 200ms;
  Informer inf(gated, o);
  std::mutex mu;
  std::set<std::string> deleted;
  inf.addHandlers({nullptr, nullptr, [&](const ObjectPtr& obj) {
                     std::lock_guard l(mu);
                     deleted.insert(nameOf(*obj));
                   }});
  inf.start();
  ASSERT_TRUE(inf.waitForSync(10s));
  ASSERT_TRUE(eventually([&] { return inf.stats().watchesStarted >= 1; }));
  EXPECT_EQ(inf.store().size(), 3u);

  gated.close();
  ASSERT_TRUE(setValue(*api, cms, "change", "1").ok());
  ASSERT_TRUE(api->remove(cms.object("drop")).ok());
  ASSERT_TRUE(api->create(cms, configMap("new", "1")).ok());
  ASSERT_GT(testing::compactEtcd(), 0);  // the informer's last version is now too old
  gated.open();

  ASSERT_TRUE(eventually([&] { return inf.stats().relistsOnGone >= 1; }, 20s))
      << "watches " << inf.stats().watchesStarted << " errors " << inf.stats().watchErrors;
  ASSERT_TRUE(eventually(
      [&] {
        auto c = inf.store().get(ns.name(), "change");
        return inf.store().size() == 3u && c && (*c)["data"]["v"] == "1" &&
               inf.store().get(ns.name(), "new") && !inf.store().get(ns.name(), "drop");
      },
      20s));
  {
    std::lock_guard l(mu);
    EXPECT_EQ(deleted, (std::set<std::string>{"drop"}));
  }
  EXPECT_EQ(inf.stats().lists, 2);

  // Watching again after the relist.
  ASSERT_TRUE(api->create(cms, configMap("later", "1")).ok());
  EXPECT_TRUE(eventually([&] { return inf.store().get(ns.name(), "later") != nullptr; }, 10s));
  inf.stop();
}

}  // namespace
}  // namespace kappa::kube
