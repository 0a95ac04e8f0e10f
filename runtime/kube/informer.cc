#include "runtime/kube/informer.h"

#include <spdlog/spdlog.h>

namespace kappa::kube {

Informer::Informer(KubeApi& api, InformerOptions options)
    : api_(api), options_(std::move(options)), delay_(options_.minBackoff) {}

Informer::~Informer() { stop(); }

void Informer::addHandlers(InformerHandlers handlers) { handlers_.push_back(std::move(handlers)); }

void Informer::start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] { run(); });
}

void Informer::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    if (current_) current_->cancel();
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool Informer::waitForSync(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [this] { return synced_.load() || stopping_.load(); }) &&
         synced_;
}

Informer::Stats Informer::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

void Informer::backoff() {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, delay_, [this] { return stopping_.load(); });
  delay_ = std::min(delay_ * 2, options_.maxBackoff);
}

void Informer::run() {
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

bool Informer::relist() {
  ListOptions lo;
  lo.labelSelector = options_.labelSelector;
  lo.fieldSelector = options_.fieldSelector;
  lo.limit = options_.pageSize;
  // Page by page, each object made cacheable (trimmed, transformed) as its page arrives:
  // whole objects of one page at a time, not of the whole collection, are ever in memory.
  std::map<std::string, ObjectPtr> fresh;
  std::string listVersion;
  while (true) {
    auto page = api_.list(options_.collection, lo);
    if (!page) {
      spdlog::warn("informer {}: list failed: {}", options_.collection.resource.plural,
                   page.error().message);
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

bool Informer::watchOnce() {
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
    spdlog::warn("informer {}: watch failed: {}", options_.collection.resource.plural,
                 stream.error().message);
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
        spdlog::info("informer {}: watch ended: {}", options_.collection.resource.plural,
                     next.error().message);
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

void Informer::apply(WatchEvent& ev) {
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

ObjectPtr Informer::cacheable(Json obj) const {
  if (options_.dropManagedFields) {
    if (auto m = obj.find("metadata"); m != obj.end() && m->is_object()) {
      m->erase("managedFields");
      // kubectl apply's copy of the whole manifest, as a string: as large as the spec again.
      if (auto a = m->find("annotations"); a != m->end() && a->is_object()) {
        a->erase("kubectl.kubernetes.io/last-applied-configuration");
        if (a->empty()) m->erase(a);
      }
    }
  }
  if (options_.transform) obj = options_.transform(std::move(obj));
  return std::make_shared<const Json>(std::move(obj));
}

void Informer::notifyAdd(const ObjectPtr& obj) {
  for (auto& h : handlers_) {
    if (h.onAdd) h.onAdd(obj);
  }
}

void Informer::notifyUpdate(const ObjectPtr& oldObj, const ObjectPtr& newObj) {
  for (auto& h : handlers_) {
    if (h.onUpdate) h.onUpdate(oldObj, newObj);
  }
}

void Informer::notifyDelete(const ObjectPtr& obj) {
  for (auto& h : handlers_) {
    if (h.onDelete) h.onDelete(obj);
  }
}

}  // namespace kappa::kube
