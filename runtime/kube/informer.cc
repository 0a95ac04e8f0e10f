#include "runtime/kube/informer.h"

#include <spdlog/spdlog.h>

namespace kappa::kube {
namespace informer_detail {

void listFailed(const CollectionRef& c, const std::string& message) {
  spdlog::warn("informer {}: list failed: {}", c.resource.plural, message);
}

void watchFailed(const CollectionRef& c, const std::string& message) {
  spdlog::warn("informer {}: watch failed: {}", c.resource.plural, message);
}

void watchEnded(const CollectionRef& c, const std::string& message) {
  spdlog::info("informer {}: watch ended: {}", c.resource.plural, message);
}

void dropManagedFields(Json& obj) {
  auto m = obj.find("metadata");
  if (m == obj.end() || !m->is_object()) return;
  m->erase("managedFields");
  // kubectl apply's copy of the whole manifest, as a string: as large as the spec again.
  if (auto a = m->find("annotations"); a != m->end() && a->is_object()) {
    a->erase("kubectl.kubernetes.io/last-applied-configuration");
    if (a->empty()) m->erase(a);
  }
}

}  // namespace informer_detail

template class BasicInformer<Json>;

}  // namespace kappa::kube
