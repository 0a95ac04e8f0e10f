#include "runtime/kube/object_store.h"

#include <mutex>

namespace kappa::kube {

ObjectPtr ObjectStore::get(const std::string& key) const {
  std::shared_lock lock(mu_);
  auto it = objects_.find(key);
  return it == objects_.end() ? nullptr : it->second;
}

std::vector<ObjectPtr> ObjectStore::list() const {
  std::shared_lock lock(mu_);
  std::vector<ObjectPtr> out;
  out.reserve(objects_.size());
  for (const auto& [_, obj] : objects_) out.push_back(obj);
  return out;
}

std::vector<ObjectPtr> ObjectStore::listNamespace(const std::string& ns) const {
  std::shared_lock lock(mu_);
  std::vector<ObjectPtr> out;
  const std::string prefix = ns + "/";
  for (auto it = objects_.lower_bound(prefix);
       it != objects_.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
    out.push_back(it->second);
  }
  return out;
}

std::vector<std::string> ObjectStore::keys() const {
  std::shared_lock lock(mu_);
  std::vector<std::string> out;
  out.reserve(objects_.size());
  for (const auto& [key, _] : objects_) out.push_back(key);
  return out;
}

size_t ObjectStore::size() const {
  std::shared_lock lock(mu_);
  return objects_.size();
}

ObjectPtr ObjectStore::upsert(ObjectPtr obj) {
  auto key = keyOf(*obj);
  std::unique_lock lock(mu_);
  auto& slot = objects_[key];
  auto old = std::move(slot);
  slot = std::move(obj);
  return old;
}

ObjectPtr ObjectStore::erase(const std::string& key) {
  std::unique_lock lock(mu_);
  auto it = objects_.find(key);
  if (it == objects_.end()) return nullptr;
  auto old = std::move(it->second);
  objects_.erase(it);
  return old;
}

std::map<std::string, ObjectPtr> ObjectStore::replace(std::map<std::string, ObjectPtr> objects) {
  std::unique_lock lock(mu_);
  std::swap(objects_, objects);
  return objects;
}

}  // namespace kappa::kube
