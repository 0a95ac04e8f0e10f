// Informer: keeps a read-only cache of one resource (namespace, label/field selector) in step
// with the apiserver by list + watch, and tells handlers what changed.
//
// Guarantees: after hasSynced(), the cache holds every matching object as of the last event
// received. A watch that ends or breaks is resumed from the last resourceVersion seen
// (events or bookmarks), so nothing is missed or replayed. When the server no longer has that
// version (410 Gone, as an HTTP status or an ERROR event) the informer lists again and
// reconciles the cache with the fresh list, sending add/update/delete for the differences.
// Handlers run on the informer's thread, one at a time; they must not block for long.
//
// BasicInformer<T> caches objects as T: Informer caches the Json objects (optionally
// transformed), other instantiations a struct decoded by options.transform. T needs
// `keyOf(const T&)` and `resourceVersionOf(const T&)` found by argument-dependent lookup.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "runtime/kube/kube_api.h"
#include "runtime/kube/object_store.h"

namespace kappa::kube {

template <class T>
struct BasicInformerOptions {
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
  // is most of a controller's memory. For Informer, empty means objects are cached whole;
  // other instantiations must set it.
  std::function<T(Json)> transform;
  // Server-side lifetime of one watch request; the informer then re-watches.
  std::chrono::seconds watchTimeout{300};
  // Retry delays after failed lists/watches: doubles from min to max, reset by success.
  std::chrono::milliseconds minBackoff{200};
  std::chrono::milliseconds maxBackoff{30000};
};

template <class T>
struct BasicInformerHandlers {
  using Ptr = std::shared_ptr<const T>;
  std::function<void(const Ptr& obj)> onAdd;
  std::function<void(const Ptr& oldObj, const Ptr& newObj)> onUpdate;
  // The last state known (from the DELETED event, or from the cache when a relist found the
  // object gone).
  std::function<void(const Ptr& obj)> onDelete;
};

namespace informer_detail {
// Log lines of the informer (kept out of the template so that users need no logger).
void listFailed(const CollectionRef& c, const std::string& message);
void watchFailed(const CollectionRef& c, const std::string& message);
void watchEnded(const CollectionRef& c, const std::string& message);
// metadata.managedFields and kubectl's last-applied-configuration annotation removed.
void dropManagedFields(Json& obj);
}  // namespace informer_detail

template <class T>
class BasicInformer {
 public:
  using Ptr = std::shared_ptr<const T>;
  using Options = BasicInformerOptions<T>;
  using Handlers = BasicInformerHandlers<T>;

  BasicInformer(KubeApi& api, Options options)
      : api_(api), options_(std::move(options)), delay_(options_.minBackoff) {}
  ~BasicInformer() { stop(); }
  BasicInformer(const BasicInformer&) = delete;
  BasicInformer& operator=(const BasicInformer&) = delete;

  // Register handlers before start().
  void addHandlers(Handlers handlers) { handlers_.push_back(std::move(handlers)); }
  void start() {
    if (thread_.joinable()) return;
    thread_ = std::thread([this] { run(); });
  }
  // Idempotent; returns once the informer's thread has ended (at most one request timeout).
  void stop() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
      if (current_) current_->cancel();
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  bool hasSynced() const { return synced_; }
  bool waitForSync(std::chrono::milliseconds timeout) const {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [this] { return synced_.load() || stopping_.load(); }) &&
           synced_;
  }
  const BasicObjectStore<T>& store() const { return store_; }

  struct Stats {
    int lists = 0;           // complete lists (the initial one included)
    int relistsOnGone = 0;   // lists caused by 410 Gone
    int watchesStarted = 0;  // watch requests accepted by the server
    int watchErrors = 0;     // watches that ended with an error other than Gone
    int64_t events = 0;      // ADDED/MODIFIED/DELETED/BOOKMARK events applied
    std::string lastResourceVersion;
  };
  Stats stats() const {
    std::lock_guard lock(mu_);
    return stats_;
  }

 private:
  void run() {
    while (!stopping_) {
      if (!relist()) {
        backoff();
        continue;
      }
      while (!stopping_) {
        if (watchOnce()) break;  // 410 Gone: list again
      }
    }
  }

  bool relist() {
    ListOptions lo;
    lo.labelSelector = options_.labelSelector;
    lo.fieldSelector = options_.fieldSelector;
    lo.limit = options_.pageSize;
    // Page by page, each object made cacheable (trimmed, transformed) as its page arrives:
    // whole objects of one page at a time, not of the whole collection, are ever in memory.
    std::map<std::string, Ptr> fresh;
    std::string listVersion;
    while (true) {
      auto page = api_.list(options_.collection, lo);
      if (!page) {
        informer_detail::listFailed(options_.collection, page.error().message);
        return false;
      }
      for (auto& item : page->items) {
        auto key = keyOf(item);
        fresh.emplace(std::move(key), cacheable(std::move(item)));
      }
      listVersion = page->resourceVersion;
      if (page->continueToken.empty()) break;
      lo.continueToken = page->continueToken;
      lo.resourceVersion.clear();  // later pages come from the snapshot the token names
    }
    auto previous = store_.replace(fresh);
    for (const auto& [key, obj] : fresh) {
      auto it = previous.find(key);
      if (it == previous.end()) {
        notifyAdd(obj);
      } else if (resourceVersionOf(*it->second) != resourceVersionOf(*obj)) {
        notifyUpdate(it->second, obj);
      }
    }
    for (const auto& [key, obj] : previous) {
      if (!fresh.count(key)) notifyDelete(obj);
    }
    {
      std::lock_guard lock(mu_);
      stats_.lists++;
      stats_.lastResourceVersion = listVersion;
      delay_ = options_.minBackoff;
    }
    synced_ = true;
    cv_.notify_all();
    return true;
  }

  // Returns true when a relist is needed (410), false to re-watch.
  bool watchOnce() {
    ListOptions lo;
    lo.labelSelector = options_.labelSelector;
    lo.fieldSelector = options_.fieldSelector;
    lo.allowWatchBookmarks = true;
    lo.timeout = options_.watchTimeout;
    {
      std::lock_guard lock(mu_);
      lo.resourceVersion = stats_.lastResourceVersion;
    }
    auto stream = api_.watch(options_.collection, lo);
    if (!stream) {
      if (stream.error().code == ErrorCode::kGone) {
        std::lock_guard lock(mu_);
        stats_.relistsOnGone++;
        return true;
      }
      informer_detail::watchFailed(options_.collection, stream.error().message);
      {
        std::lock_guard lock(mu_);
        stats_.watchErrors++;
      }
      backoff();
      return false;
    }
    {
      std::lock_guard lock(mu_);
      if (stopping_) return false;
      current_ = stream->get();
      stats_.watchesStarted++;
    }
    bool gone = false;
    bool failed = false;
    while (!stopping_) {
      auto next = (*stream)->next();
      if (!next) {
        if (next.error().code == ErrorCode::kGone) {
          gone = true;
        } else if (!stopping_) {
          failed = true;
          informer_detail::watchEnded(options_.collection, next.error().message);
        }
        break;
      }
      if (!next->has_value()) break;  // the server closed the watch: resume from lastRV
      apply(**next);
    }
    {
      std::lock_guard lock(mu_);
      current_ = nullptr;
      if (gone) stats_.relistsOnGone++;
      if (failed) stats_.watchErrors++;
    }
    if (failed) backoff();
    return gone;
  }

  void apply(WatchEvent& ev) {
    auto rv = ev.resourceVersion();
    switch (ev.type) {
      case WatchEvent::Type::kAdded:
      case WatchEvent::Type::kModified: {
        auto obj = cacheable(std::move(ev.object));
        auto old = store_.upsert(obj);
        if (old) {
          notifyUpdate(old, obj);
        } else {
          notifyAdd(obj);
        }
        break;
      }
      case WatchEvent::Type::kDeleted: {
        auto obj = cacheable(std::move(ev.object));
        store_.erase(keyOf(*obj));
        notifyDelete(obj);
        break;
      }
      case WatchEvent::Type::kBookmark:
        break;
    }
    std::lock_guard lock(mu_);
    stats_.events++;
    if (!rv.empty()) stats_.lastResourceVersion = rv;
    delay_ = options_.minBackoff;
  }

  Ptr cacheable(Json obj) const {
    if (options_.dropManagedFields) informer_detail::dropManagedFields(obj);
    if constexpr (std::is_same_v<T, Json>) {
      if (options_.transform) obj = options_.transform(std::move(obj));
      return std::make_shared<const Json>(std::move(obj));
    } else {
      return std::make_shared<const T>(options_.transform(std::move(obj)));
    }
  }
  void notifyAdd(const Ptr& obj) {
    for (auto& h : handlers_) {
      if (h.onAdd) h.onAdd(obj);
    }
  }
  void notifyUpdate(const Ptr& oldObj, const Ptr& newObj) {
    for (auto& h : handlers_) {
      if (h.onUpdate) h.onUpdate(oldObj, newObj);
    }
  }
  void notifyDelete(const Ptr& obj) {
    for (auto& h : handlers_) {
      if (h.onDelete) h.onDelete(obj);
    }
  }
  // Sleeps for the current backoff (returns early on stop) and doubles it.
  void backoff() {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, delay_, [this] { return stopping_.load(); });
    delay_ = std::min(delay_ * 2, options_.maxBackoff);
  }

  KubeApi& api_;
  const Options options_;
  std::vector<Handlers> handlers_;
  BasicObjectStore<T> store_;

  std::atomic<bool> stopping_{false};
  std::atomic<bool> synced_{false};
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  WatchStream* current_ = nullptr;  // guarded by mu_
  Stats stats_;                     // guarded by mu_
  std::chrono::milliseconds delay_;
  std::thread thread_;
};

using Informer = BasicInformer<Json>;
using InformerOptions = BasicInformerOptions<Json>;
using InformerHandlers = BasicInformerHandlers<Json>;
extern template class BasicInformer<Json>;

}  // namespace kappa::kube
