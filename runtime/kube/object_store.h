// ObjectStore: the informer's thread-safe cache of objects keyed "namespace/name". Readers
// get shared pointers to immutable objects: the cache is never mutated through them, and a
// reader keeps a consistent object even while the informer replaces it.
//
// BasicObjectStore<T> caches any type: the whole Json object (ObjectStore), or a struct a
// controller decodes from it, which with thousands of objects costs a fraction of the
// memory. T needs a `keyOf(const T&)` ("namespace/name") found by argument-dependent lookup.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

#include "runtime/kube/kube_api.h"

namespace kappa::kube {

template <class T>
class BasicObjectStore {
 public:
  using Ptr = std::shared_ptr<const T>;

  Ptr get(const std::string& key) const {
    std::shared_lock lock(mu_);
    auto it = objects_.find(key);
    return it == objects_.end() ? nullptr : it->second;
  }
  Ptr get(const std::string& ns, const std::string& name) const { return get(makeKey(ns, name)); }
  std::vector<Ptr> list() const {
    std::shared_lock lock(mu_);
    std::vector<Ptr> out;
    out.reserve(objects_.size());
    for (const auto& [_, obj] : objects_) out.push_back(obj);
    return out;
  }
  std::vector<Ptr> listNamespace(const std::string& ns) const {
    std::shared_lock lock(mu_);
    std::vector<Ptr> out;
    const std::string prefix = ns + "/";
    for (auto it = objects_.lower_bound(prefix);
         it != objects_.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
      out.push_back(it->second);
    }
    return out;
  }
  std::vector<std::string> keys() const {
    std::shared_lock lock(mu_);
    std::vector<std::string> out;
    out.reserve(objects_.size());
    for (const auto& [key, _] : objects_) out.push_back(key);
    return out;
  }
  size_t size() const {
    std::shared_lock lock(mu_);
    return objects_.size();
  }

  // Writers (the informer).
  // Returns the previous object under that key, if any.
  Ptr upsert(Ptr obj) {
    auto key = keyOf(*obj);
    std::unique_lock lock(mu_);
    auto& slot = objects_[key];
    auto old = std::move(slot);
    slot = std::move(obj);
    return old;
  }
  Ptr erase(const std::string& key) {
    std::unique_lock lock(mu_);
    auto it = objects_.find(key);
    if (it == objects_.end()) return nullptr;
    auto old = std::move(it->second);
    objects_.erase(it);
    return old;
  }
  // Replaces everything; returns the previous contents.
  std::map<std::string, Ptr> replace(std::map<std::string, Ptr> objects) {
    std::unique_lock lock(mu_);
    std::swap(objects_, objects);
    return objects;
  }

 private:
  mutable std::shared_mutex mu_;
  std::map<std::string, Ptr> objects_;
};

using ObjectStore = BasicObjectStore<Json>;
using ObjectPtr = ObjectStore::Ptr;

}  // namespace kappa::kube
