#include "controllers/pipelineversion/triggers.h"

#include "controllers/pipelineversion/codec.h"

namespace kappa::controllers {

Triggered triggeredBy(const CachedVersion* before, const CachedVersion& after,
                      const std::vector<VersionPtr>& inNamespace) {
  Triggered t;
  t.self = keyOf(after);
  if (before && before->other == after.other) return t;
  // The version of another pipeline this one reads (before and after the change): it holds
  // its drain and its deletion while read.
  auto reads = [&](const CachedVersion& v, const CachedVersion& upstream) {
    return !v.other.sourcePipeline.empty() && upstream.pipeline == v.other.sourcePipeline &&
           upstream.other.version == v.other.sourceVersion;
  };
  for (const auto& other : inNamespace) {
    std::string key = keyOf(*other);
    if (key == t.self || other->ns != after.ns) continue;
    if (other->pipeline == after.pipeline || reads(after, *other) ||
        (before && reads(*before, *other))) {
      t.siblings.push_back(std::move(key));
    }
  }
  return t;
}

void queueOnChanges(VersionInformer& informer, kube::WorkQueue& queue) {
  auto enqueue = [&informer, &queue](const CachedVersion* before, const VersionPtr& after) {
    Triggered t = triggeredBy(before, *after, informer.store().listNamespace(after->ns));
    queue.add(t.self);
    for (const auto& key : t.siblings) queue.addBackground(key);
  };
  informer.addHandlers(VersionInformer::Handlers{
      [enqueue](const VersionPtr& o) { enqueue(nullptr, o); },
      [enqueue](const VersionPtr& old, const VersionPtr& o) { enqueue(old.get(), o); },
      [enqueue](const VersionPtr& o) { enqueue(nullptr, o); }});
}

std::string keyOf(const ManagedObject& m) { return m.ns + "/" + m.name; }
const std::string& resourceVersionOf(const ManagedObject& m) { return m.resourceVersion; }

ManagedObject managedObjectFromJson(const kube::Json& obj) {
  const kube::Json& meta = obj.value("metadata", kube::Json::object());
  const kube::Json& labels = meta.value("labels", kube::Json::object());
  ManagedObject m;
  m.ns = meta.value("namespace", "");
  m.name = meta.value("name", "");
  m.resourceVersion = meta.value("resourceVersion", "");
  m.pipeline = labels.value("kappa.io/pipeline", "");
  m.version = labels.value("kappa.io/version", "");
  return m;
}

std::vector<std::string> keysConcerned(const ManagedObject& m,
                                       const std::vector<VersionPtr>& inNamespace) {
  std::vector<std::string> keys;
  if (m.pipeline.empty()) return keys;
  for (const auto& v : inNamespace) {
    if (v->ns != m.ns) continue;
    bool mine = v->pipeline == m.pipeline && (m.version.empty() || v->other.version == m.version);
    // An alias also concerns the pipelines that read this one (spec.source.pipeline).
    bool downstream = m.version.empty() && v->other.sourcePipeline == m.pipeline;
    if (mine || downstream) keys.push_back(keyOf(*v));
  }
  return keys;
}

void queueOnManagedChanges(ManagedInformer& managed, VersionInformer& versions,
                           kube::WorkQueue& queue) {
  auto enqueue = [&versions, &queue](const ManagedInformer::Ptr& m) {
    for (const auto& key : keysConcerned(*m, versions.store().listNamespace(m->ns))) {
      queue.add(key);
    }
  };
  managed.addHandlers(ManagedInformer::Handlers{
      enqueue, [enqueue](const auto&, const auto& m) { enqueue(m); }, enqueue});
}

std::vector<std::unique_ptr<ManagedInformer>> watchManaged(kube::KubeApi& kube,
                                                           const std::string& ns,
                                                           VersionInformer& versions,
                                                           kube::WorkQueue& queue) {
  std::vector<std::unique_ptr<ManagedInformer>> managed;
  for (auto resource :
       {kube::resources::deployments(), kube::resources::pods(), kube::resources::configMaps()}) {
    ManagedInformer::Options o;
    o.collection = kube::CollectionRef{resource, ns};
    o.labelSelector = kManagedSelector;
    o.transform = [](kube::Json obj) { return managedObjectFromJson(obj); };
    managed.push_back(std::make_unique<ManagedInformer>(kube, o));
    queueOnManagedChanges(*managed.back(), versions, queue);
  }
  return managed;
}

}  // namespace kappa::controllers
