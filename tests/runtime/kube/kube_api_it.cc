// HttpKubeApi against the real kube-apiserver of the `apiserver` fixture: CRUD, patches,
// server-side apply, optimistic concurrency, error mapping, pagination, custom resources
// with a status subresource and schema validation, RBAC.
#include <gtest/gtest.h>

#include <future>
#include <vector>

#include "runtime/kube/http_kube_api.h"
#include "runtime/kube/kube_error.h"
#include "tests/support/kube_test_util.h"

namespace kappa::kube {
namespace {

using namespace std::chrono_literals;
using testing::eventually;
using testing::makeKubeClient;
using testing::TestNamespace;

Json configMap(const std::string& name, Json data = {{"k", "v"}}) {
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", {{"name", name}, {"labels", {{"suite", "kube-api-it"}}}}},
          {"data", std::move(data)}};
}

TEST(KubeApiIt, ConfigMapCrudPatchesAndConcurrency) {
  auto api = makeKubeClient();
  ASSERT_TRUE(api);
  TestNamespace ns(*api);
  CollectionRef cms{resources::configMaps(), ns.name()};

  auto created = api->create(cms, configMap("a"));
  ASSERT_TRUE(created.ok()) << created.error();
  EXPECT_FALSE(uidOf(*created).empty());
  auto again = api->create(cms, configMap("a"));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, ErrorCode::kAlreadyExists) << again.error();

  auto got = api->get(cms.object("a"));
  ASSERT_TRUE(got.ok()) << got.error();
  EXPECT_EQ((*got)["data"]["k"], "v");

  // PUT with the current resourceVersion succeeds; with the old one it conflicts.
  Json v2 = *got;
  v2["data"]["k"] = "v2";
  auto updated = api->update(cms.object("a"), v2);
  ASSERT_TRUE(updated.ok()) << updated.error();
  EXPECT_NE(resourceVersionOf(*updated), resourceVersionOf(*got));
  Json stale = *got;
  stale["data"]["k"] = "lost update";
  auto conflict = api->update(cms.object("a"), stale);
  ASSERT_FALSE(conflict.ok());
  EXPECT_EQ(conflict.error().code, ErrorCode::kConflict) << conflict.error();

  auto merged =
      api->patch(cms.object("a"), PatchType::kMerge, {{"data", {{"m", "merged"}, {"k", nullptr}}}});
  ASSERT_TRUE(merged.ok()) << merged.error();
  EXPECT_EQ((*merged)["data"], (Json{{"m", "merged"}}));

  // JSON patch with a test op: applies only while the value is what we expect.
  Json jp = Json::array({{{"op", "test"}, {"path", "/data/m"}, {"value", "merged"}},
                         {{"op", "replace"}, {"path", "/data/m"}, {"value", "json"}}});
  auto jsoned = api->patch(cms.object("a"), PatchType::kJson, jp);
  ASSERT_TRUE(jsoned.ok()) << jsoned.error();
  EXPECT_EQ((*jsoned)["data"]["m"], "json");
  auto failedTest = api->patch(cms.object("a"), PatchType::kJson, jp);
  ASSERT_FALSE(failedTest.ok());
  EXPECT_EQ(failedTest.error().code, ErrorCode::kInvalidArgument) << failedTest.error();

  auto strategic = api->patch(cms.object("a"), PatchType::kStrategicMerge,
                              {{"metadata", {{"annotations", {{"x", "y"}}}}}});
  ASSERT_TRUE(strategic.ok()) << strategic.error();
  EXPECT_EQ((*strategic)["metadata"]["annotations"]["x"], "y");

  // Server-side apply: create by apply, then a second manager conflicts unless it forces.
  Json applied = configMap("b", {{"owned", "by-kappa"}});
  auto ssa = api->patch(cms.object("b"), PatchType::kApply, applied, {"kappa-it"});
  ASSERT_TRUE(ssa.ok()) << ssa.error();
  EXPECT_EQ((*ssa)["data"]["owned"], "by-kappa");
  Json other = configMap("b", {{"owned", "by-other"}});
  auto clash = api->patch(cms.object("b"), PatchType::kApply, other, {"other-manager"});
  ASSERT_FALSE(clash.ok());
  EXPECT_EQ(clash.error().code, ErrorCode::kConflict) << clash.error();
  auto forced =
      api->patch(cms.object("b"), PatchType::kApply, other, {"other-manager", /*force=*/true});
  ASSERT_TRUE(forced.ok()) << forced.error();
  EXPECT_EQ((*forced)["data"]["owned"], "by-other");

  // Delete with preconditions.
  DeleteOptions wrongUid;
  wrongUid.uid = "00000000-0000-0000-0000-000000000000";
  auto refused = api->remove(cms.object("a"), wrongUid);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kConflict) << refused.error();
  DeleteOptions exact;
  exact.uid = uidOf(*created);
  exact.propagation = PropagationPolicy::kBackground;
  auto removed = api->remove(cms.object("a"), exact);
  ASSERT_TRUE(removed.ok()) << removed.error();
  auto gone = api->get(cms.object("a"));
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().code, ErrorCode::kNotFound) << gone.error();
  auto removeAgain = api->remove(cms.object("a"));
  ASSERT_FALSE(removeAgain.ok());
  EXPECT_EQ(removeAgain.error().code, ErrorCode::kNotFound);
}

TEST(KubeApiIt, PaginatesWithLimitAndContinue) {
  auto api = makeKubeClient();
  ASSERT_TRUE(api);
  TestNamespace ns(*api);
  CollectionRef cms{resources::configMaps(), ns.name()};
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(api->create(cms, configMap("page-" + std::to_string(i))).ok());
  }
  ASSERT_TRUE(api->create(cms, {{"metadata", {{"name", "unlabelled"}}}}).ok());

  ListOptions lo;
  lo.labelSelector = "suite=kube-api-it";
  lo.limit = 2;
  std::vector<std::string> names;
  int pages = 0;
  while (true) {
    auto page = api->list(cms, lo);
    ASSERT_TRUE(page.ok()) << page.error();
    ++pages;
    EXPECT_LE(page->items.size(), 2u);
    for (const auto& item : page->items) {
      names.push_back(nameOf(item));
      EXPECT_EQ(item["kind"], "ConfigMap");
      EXPECT_EQ(item["apiVersion"], "v1");
    }
    if (page->continueToken.empty()) break;
    lo.continueToken = page->continueToken;
  }
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(names, (std::vector<std::string>{"page-0", "page-1", "page-2", "page-3", "page-4"}));

  ListOptions labelled;
  labelled.labelSelector = "suite=kube-api-it";
  auto all = api->listAll(cms, labelled, 2);
  ASSERT_TRUE(all.ok()) << all.error();
  EXPECT_EQ(all->items.size(), 5u);
  EXPECT_FALSE(all->resourceVersion.empty());

  ListOptions byName;
  byName.fieldSelector = "metadata.name=page-3";
  auto one = api->list(cms, byName);
  ASSERT_TRUE(one.ok()) << one.error();
  ASSERT_EQ(one->items.size(), 1u);
  EXPECT_EQ(nameOf(one->items[0]), "page-3");
}

TEST(KubeApiIt, RestrictedUserIsForbidden) {
  auto admin = makeKubeClient();
  auto restricted = makeKubeClient(/*restricted=*/true);
  ASSERT_TRUE(admin && restricted);
  TestNamespace ns(*admin);
  CollectionRef cms{resources::configMaps(), ns.name()};
  ASSERT_TRUE(admin->create(cms, configMap("secret-ish")).ok());

  auto list = restricted->list(cms, {});
  ASSERT_FALSE(list.ok());
  EXPECT_EQ(list.error().code, ErrorCode::kForbidden) << list.error();
  EXPECT_NE(list.error().message.find("kappa-restricted"), std::string::npos) << list.error();
  auto get = restricted->get(cms.object("secret-ish"));
  ASSERT_FALSE(get.ok());
  EXPECT_EQ(get.error().code, ErrorCode::kForbidden);
  auto create = restricted->create(cms, configMap("nope"));
  ASSERT_FALSE(create.ok());
  EXPECT_EQ(create.error().code, ErrorCode::kForbidden);
  auto watch = restricted->watch(cms, {});
  ASSERT_FALSE(watch.ok());
  EXPECT_EQ(watch.error().code, ErrorCode::kForbidden);
}

TEST(KubeApiIt, TrustsTheKubeconfigCertificateAuthorityOnly) {
  auto path = testing::apiserverEnv()["KUBECONFIG"];
  auto cfg = loadKubeconfigFile(path);
  ASSERT_TRUE(cfg.ok()) << cfg.error();
  ASSERT_FALSE(cfg->caPem.empty());
  // Several connections at once (each one its own TLS context), all on the kubeconfig CA.
  auto good = HttpKubeApi::create(*cfg);
  ASSERT_TRUE(good.ok()) << good.error();
  std::vector<std::future<Result<Json>>> gets;
  for (int i = 0; i < 4; ++i) {
    gets.push_back(std::async(std::launch::async, [&] {
      return (*good)->get(CollectionRef{resources::namespaces(), ""}.object("default"));
    }));
  }
  for (auto& g : gets) {
    auto r = g.get();
    EXPECT_TRUE(r.ok()) << r.error();
  }
  // A certificate that did not sign the server's (the client certificate) as the only
  // authority: the handshake fails, whatever the system roots say.
  KubeConfig wrong = *cfg;
  wrong.caPem = cfg->clientCertPem;
  auto bad = HttpKubeApi::create(wrong);
  ASSERT_TRUE(bad.ok()) << bad.error();
  auto r = (*bad)->get(CollectionRef{resources::namespaces(), ""}.object("default"));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().code, ErrorCode::kNotFound) << r.error();
}

// A small CRD with a status subresource and schema constraints.
const Resource kWidgets{"it.kappa.io", "v1", "widgets", true};

void ensureWidgetCrd(KubeApi& api) {
  Json crd = {
      {"apiVersion", "apiextensions.k8s.io/v1"},
      {"kind", "CustomResourceDefinition"},
      {"metadata", {{"name", "widgets.it.kappa.io"}}},
      {"spec",
       {{"group", "it.kappa.io"},
        {"scope", "Namespaced"},
        {"names",
         {{"plural", "widgets"},
          {"singular", "widget"},
          {"kind", "Widget"},
          {"listKind", "WidgetList"}}},
        {"versions",
         Json::array(
             {{{"name", "v1"},
               {"served", true},
               {"storage", true},
               {"subresources", {{"status", Json::object()}}},
               {"schema",
                {{"openAPIV3Schema",
                  {{"type", "object"},
                   {"properties",
                    {{"spec",
                      {{"type", "object"},
                       {"required", Json::array({"size"})},
                       {"properties",
                        {{"size", {{"type", "integer"}, {"minimum", 1}}},
                         {"color",
                          {{"type", "string"}, {"enum", Json::array({"red", "green"})}}}}}}},
                     {"status",
                      {{"type", "object"},
                       {"properties", {{"phase", {{"type", "string"}}}}}}}}}}}}}}})}}}};
  auto ref = ObjectRef{resources::customResourceDefinitions(), "", "widgets.it.kappa.io", {}};
  auto applied = api.patch(ref, PatchType::kApply, crd, {"kappa-it", true});
  ASSERT_TRUE(applied.ok()) << applied.error();
  ASSERT_TRUE(eventually(
      [&] {
        auto cur = api.get(ref);
        if (!cur) return false;
        for (const auto& c : (*cur)["status"].value("conditions", Json::array())) {
          if (c.value("type", "") == "Established" && c.value("status", "") == "True") return true;
        }
        return false;
      },
      30s))
      << "CRD not Established";
  // Discovery of the new resource can trail the condition by a moment.
  ASSERT_TRUE(eventually([&] { return api.list({kWidgets, "default"}, {}).ok(); }, 30s));
}

Json widget(const std::string& name, Json spec) {
  return {{"apiVersion", "it.kappa.io/v1"},
          {"kind", "Widget"},
          {"metadata", {{"name", name}}},
          {"spec", std::move(spec)}};
}

TEST(KubeApiIt, CustomResourceWithStatusSubresource) {
  auto api = makeKubeClient();
  ASSERT_TRUE(api);
  ensureWidgetCrd(*api);
  TestNamespace ns(*api);
  CollectionRef widgets{kWidgets, ns.name()};

  auto created = api->create(widgets, widget("w", {{"size", 3}, {"color", "red"}}));
  ASSERT_TRUE(created.ok()) << created.error();
  EXPECT_EQ((*created)["metadata"]["generation"], 1);

  // Status goes through /status only, with optimistic concurrency.
  Json withStatus = *created;
  withStatus["status"] = {{"phase", "Replaying"}};
  auto st = api->updateStatus(widgets.object("w"), withStatus);
  ASSERT_TRUE(st.ok()) << st.error();
  EXPECT_EQ((*st)["status"]["phase"], "Replaying");
  EXPECT_EQ((*st)["metadata"]["generation"], 1);  // status does not bump generation
  auto staleStatus = api->updateStatus(widgets.object("w"), withStatus);
  ASSERT_FALSE(staleStatus.ok());
  EXPECT_EQ(staleStatus.error().code, ErrorCode::kConflict) << staleStatus.error();

  // A status change through the main resource is ignored; a spec change bumps generation.
  Json main = *st;
  main["spec"]["size"] = 4;
  main["status"]["phase"] = "Hacked";
  auto upd = api->update(widgets.object("w"), main);
  ASSERT_TRUE(upd.ok()) << upd.error();
  EXPECT_EQ((*upd)["metadata"]["generation"], 2);
  EXPECT_EQ((*upd)["status"]["phase"], "Replaying");

  auto patched = api->patchStatus(widgets.object("w"), PatchType::kMerge,
                                  {{"status", {{"phase", "Serving"}}}});
  ASSERT_TRUE(patched.ok()) << patched.error();
  EXPECT_EQ((*patched)["status"]["phase"], "Serving");
  auto status = api->getStatus(widgets.object("w"));
  ASSERT_TRUE(status.ok()) << status.error();
  EXPECT_EQ((*status)["status"]["phase"], "Serving");

  auto removed = api->remove(widgets.object("w"));
  ASSERT_TRUE(removed.ok()) << removed.error();
  EXPECT_EQ(api->get(widgets.object("w")).error().code, ErrorCode::kNotFound);
}

TEST(KubeApiIt, SchemaRejectionIsInvalidWithFieldCauses) {
  auto api = makeKubeClient();
  ASSERT_TRUE(api);
  ensureWidgetCrd(*api);
  TestNamespace ns(*api);
  CollectionRef widgets{kWidgets, ns.name()};

  auto bad = api->create(widgets, widget("bad", {{"size", 0}, {"color", "blue"}}));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument) << bad.error();
  auto fields = causeFields(bad.error());
  EXPECT_NE(std::find(fields.begin(), fields.end(), "spec.size"), fields.end()) << bad.error();
  EXPECT_NE(std::find(fields.begin(), fields.end(), "spec.color"), fields.end()) << bad.error();
  EXPECT_NE(bad.error().message.find("HTTP 422"), std::string::npos) << bad.error();

  auto missing = api->create(widgets, widget("missing", Json::object()));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::kInvalidArgument);
  fields = causeFields(missing.error());
  EXPECT_NE(std::find(fields.begin(), fields.end(), "spec.size"), fields.end()) << missing.error();
}

}  // namespace
}  // namespace kappa::kube
