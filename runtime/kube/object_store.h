// ObjectStore: the informer's thread-safe cache of objects keyed "namespace/name". Readers
// get shared pointers to immutable objects: the cache is never mutated through them, and a
// reader keeps a consistent object even while the informer replaces it.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

#include "runtime/kube/kube_api.h"

namespace kappa::kube {

using ObjectPtr = std::shared_ptr<const Json>;

class ObjectStore {
 public:
  ObjectPtr get(const std::string& key) const;
  ObjectPtr get(const std::string& ns, const std::string& name) const {
    return get(makeKey(ns, name));
  }
  std::vector<ObjectPtr> list() const;
  std::vector<ObjectPtr> listNamespace(const std::string& ns) const;
  std::vector<std::string> keys() const;
  size_t size() const;

  // Writers (the informer).
  // Returns the previous object under that key, if any.
  ObjectPtr upsert(ObjectPtr obj);
  ObjectPtr erase(const std::string& key);
  // Replaces everything; returns the previous contents.
  std::map<std::string, ObjectPtr> replace(std::map<std::string, ObjectPtr> objects);

 private:
  mutable std::shared_mutex mu_;
  std::map<std::string, ObjectPtr> objects_;
};

}  // namespace kappa::kube
