// Informer: keeps a read-only cache of one resource (namespace, label/field selector) in step
// with the apiserver by list + watch, and tells handlers what changed.
//
// Guarantees: after hasSynced(), the cache holds every matching object as of the last event
// received. A watch that ends or breaks is resumed from the last resourceVersion seen
// (events or bookmarks), so nothing is missed or replayed. When the server no longer has that
// version (410 Gone, as an HTTP status or an ERROR event) the informer lists again and
// reconciles the cache with the fresh list, sending add/update/delete for the differences.
// Handlers run on the informer's thread, one at a time; they must not block for long.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "runtime/kube/kube_api.h"
#include "runtime/kube/object_store.h"

namespace kappa::kube {

struct InformerOptions {
  CollectionRef collection;
  std::string labelSelector;
  std::string fieldSelector;
  int64_t pageSize = 500;
  // Drop metadata.managedFields (server-side apply bookkeeping, often the largest part of
  // an object) and kubectl's last-applied-configuration annotation before caching:
  // controllers write with apply/patch and never read them.
  bool dropManagedFields = true;
  // Applied to every object before it is cached (and handed to the handlers), e.g. to keep
  // only the fields a controller reads from its cache: with thousands of objects the cache
  // is most of a controller's memory. Empty: objects are cached whole.
  std::function<Json(Json)> transform;
  // Server-side lifetime of one watch request; the informer then re-watches.
  std::chrono::seconds watchTimeout{300};
  // Retry delays after failed lists/watches: doubles from min to max, reset by success.
  std::chrono::milliseconds minBackoff{200};
  std::chrono::milliseconds maxBackoff{30000};
};

struct InformerHandlers {
  std::function<void(const ObjectPtr& obj)> onAdd;
  std::function<void(const ObjectPtr& oldObj, const ObjectPtr& newObj)> onUpdate;
  // The last state known (from the DELETED event, or from the cache when a relist found the
  // object gone).
  std::function<void(const ObjectPtr& obj)> onDelete;
};

class Informer {
 public:
  Informer(KubeApi& api, InformerOptions options);
  ~Informer();
  Informer(const Informer&) = delete;
  Informer& operator=(const Informer&) = delete;

  // Register handlers before start().
  void addHandlers(InformerHandlers handlers);
  void start();
  // Idempotent; returns once the informer's thread has ended (at most one request timeout).
  void stop();

  bool hasSynced() const { return synced_; }
  bool waitForSync(std::chrono::milliseconds timeout) const;
  const ObjectStore& store() const { return store_; }

  struct Stats {
    int lists = 0;           // complete lists (the initial one included)
    int relistsOnGone = 0;   // lists caused by 410 Gone
    int watchesStarted = 0;  // watch requests accepted by the server
    int watchErrors = 0;     // watches that ended with an error other than Gone
    int64_t events = 0;      // ADDED/MODIFIED/DELETED/BOOKMARK events applied
    std::string lastResourceVersion;
  };
  Stats stats() const;

 private:
  void run();
  bool relist();
  // Returns true when a relist is needed (410), false to re-watch.
  bool watchOnce();
  void apply(WatchEvent& ev);
  ObjectPtr cacheable(Json obj) const;
  void notifyAdd(const ObjectPtr& obj);
  void notifyUpdate(const ObjectPtr& oldObj, const ObjectPtr& newObj);
  void notifyDelete(const ObjectPtr& obj);
  // Sleeps for the current backoff (returns early on stop) and doubles it.
  void backoff();

  KubeApi& api_;
  const InformerOptions options_;
  std::vector<InformerHandlers> handlers_;
  ObjectStore store_;

  std::atomic<bool> stopping_{false};
  std::atomic<bool> synced_{false};
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  WatchStream* current_ = nullptr;  // guarded by mu_
  Stats stats_;                     // guarded by mu_
  std::chrono::milliseconds delay_;
  std::thread thread_;
};

}  // namespace kappa::kube
