#include "controllers/pipelineversion/triggers.h"

#include "controllers/pipelineversion/codec.h"

namespace kappa::controllers {

Triggered triggeredBy(const CachedVersion* before, const CachedVersion& after,
                      const std::vector<VersionPtr>& inNamespace) {
  Triggered t;
  t.self = keyOf(after);
  if (before && before->other == after.other) return t;
  for (const auto& other : inNamespace) {
    std::string key = keyOf(*other);
    if (key != t.self && other->ns == after.ns && other->pipeline == after.pipeline) {
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

}  // namespace kappa::controllers
