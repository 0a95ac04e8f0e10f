// What a change of a PipelineVersion in the informer's cache queues for a reconcile pass: the
// object's own key always, and the other versions of its pipeline and the upstream version
// it reads (status.source) whenever they decide on what changed (a version appears or goes,
// or what OtherVersion shows of it changes: phase, topics, drain, deletion). Lag and progress
// refreshes concern the version alone. The other versions go to the queue's background lane, so a
// cutover's next pass is not queued behind one pass of every earlier version of its pipeline.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "controllers/pipelineversion/types.h"
#include "runtime/kube/informer.h"
#include "runtime/kube/work_queue.h"

namespace kappa::controllers {

using VersionInformer = kube::BasicInformer<CachedVersion>;
using VersionPtr = VersionInformer::Ptr;

struct Triggered {
  std::string self;
  std::vector<std::string> siblings;  // for the background lane
  bool operator==(const Triggered&) const = default;
};

// `before` is null for an added or deleted object; `inNamespace` is the cache's content of
// the object's namespace.
Triggered triggeredBy(const CachedVersion* before, const CachedVersion& after,
                      const std::vector<VersionPtr>& inNamespace);

// Registers informer handlers that queue what triggeredBy() says.
void queueOnChanges(VersionInformer& informer, kube::WorkQueue& queue);

// A worker Deployment, a worker Pod or a serving alias ConfigMap, as far as the queue cares:
// the objects the operator labels app.kubernetes.io/managed-by=kappa-operator. A change of
// one (a pod going unready, a Deployment deleted, an alias edited) queues the versions it
// concerns at once, instead of at their next poll.
struct ManagedObject {
  std::string ns;
  std::string name;
  std::string resourceVersion;
  std::string pipeline;  // kappa.io/pipeline
  std::string version;   // kappa.io/version; empty on an alias
  bool operator==(const ManagedObject&) const = default;
};
std::string keyOf(const ManagedObject& m);
const std::string& resourceVersionOf(const ManagedObject& m);
ManagedObject managedObjectFromJson(const kube::Json& obj);

using ManagedInformer = kube::BasicInformer<ManagedObject>;
// The selector of ManagedInformers: what the operator labels.
inline constexpr const char* kManagedSelector = "app.kubernetes.io/managed-by=kappa-operator";

// The versions a change of `m` concerns: a worker's version, every version of an alias's
// pipeline and every version that reads that pipeline (spec.source.pipeline).
std::vector<std::string> keysConcerned(const ManagedObject& m,
                                       const std::vector<VersionPtr>& inNamespace);

// Registers handlers on `managed` that queue keysConcerned(), looked up in `versions`' cache.
void queueOnManagedChanges(ManagedInformer& managed, VersionInformer& versions,
                           kube::WorkQueue& queue);

// Informers on what the operator manages in `ns` ("": every namespace): worker Deployments,
// their Pods and alias ConfigMaps, each queueing the versions a change concerns. Not started.
std::vector<std::unique_ptr<ManagedInformer>> watchManaged(kube::KubeApi& kube,
                                                           const std::string& ns,
                                                           VersionInformer& versions,
                                                           kube::WorkQueue& queue);

}  // namespace kappa::controllers
