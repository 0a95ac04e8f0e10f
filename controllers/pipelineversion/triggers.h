// What a change of a PipelineVersion in the informer's cache queues for a reconcile pass: the
// object's own key always, and the other versions of its pipeline whenever they decide on
// what changed (a version appears or goes, or what OtherVersion shows of it changes: phase,
// topics, drain, deletion). Lag and progress refreshes concern the version alone. The other
// versions go to the queue's background lane, so a cutover's next pass is not queued behind
// one pass of every earlier version of its pipeline.
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

}  // namespace kappa::controllers
