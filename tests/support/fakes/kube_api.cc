#include "tests/support/fakes/kube_api.h"

#include <sstream>

namespace kappa::testing {

using kube::Json;
using kube::WatchEvent;

namespace {

std::string resourceKey(const kube::Resource& r) {
  return r.group + "/" + r.version + "/" + r.plural;
}

Error notFound(const kube::ObjectRef& ref) {
  return Error{ErrorCode::kNotFound, ref.resource.plural + " \"" + ref.name + "\" not found"};
}

std::string label(const Json& obj, const std::string& key, bool& present) {
  present = false;
  auto m = obj.find("metadata");
  if (m == obj.end()) return {};
  auto l = m->find("labels");
  if (l == m->end() || !l->is_object()) return {};
  auto v = l->find(key);
  if (v == l->end() || !v->is_string()) return {};
  present = true;
  return v->get<std::string>();
}

}  // namespace

bool matchesLabels(const Json& obj, const std::string& selector) {
  std::stringstream ss(selector);
  std::string term;
  while (std::getline(ss, term, ',')) {
    if (term.empty()) continue;
    bool present = false;
    if (auto p = term.find("!="); p != std::string::npos) {
      if (label(obj, term.substr(0, p), present) == term.substr(p + 2) && present) return false;
    } else if (auto p = term.find("=="); p != std::string::npos) {
      if (label(obj, term.substr(0, p), present) != term.substr(p + 2) || !present) return false;
    } else if (auto p = term.find('='); p != std::string::npos) {
      if (label(obj, term.substr(0, p), present) != term.substr(p + 1) || !present) return false;
    } else if (term[0] == '!') {
      label(obj, term.substr(1), present);
      if (present) return false;
    } else {
      label(obj, term, present);
      if (!present) return false;
    }
  }
  return true;
}

struct FakeKubeApi::Watch {
  std::string resourceKey;
  std::string ns;
  std::string selector;

  std::mutex mu;
  std::condition_variable cv;
  std::deque<WatchEvent> events;
  bool ended = false;
  bool cancelled = false;
  std::optional<Error> error;

  void push(WatchEvent ev) {
    std::lock_guard lock(mu);
    events.push_back(std::move(ev));
    cv.notify_all();
  }
  void finish(std::optional<Error> err) {
    std::lock_guard lock(mu);
    ended = true;
    error = std::move(err);
    cv.notify_all();
  }
  Result<std::optional<WatchEvent>> next() {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return !events.empty() || ended || cancelled; });
    if (cancelled) return std::optional<WatchEvent>();
    if (!events.empty()) {
      auto ev = std::move(events.front());
      events.pop_front();
      return std::optional<WatchEvent>(std::move(ev));
    }
    if (error) return *error;
    return std::optional<WatchEvent>();
  }
  void cancel() {
    std::lock_guard lock(mu);
    cancelled = true;
    cv.notify_all();
  }
};

namespace {
class WatchHandle final : public kube::WatchStream {
 public:
  explicit WatchHandle(std::shared_ptr<FakeKubeApi::Watch> w) : w_(std::move(w)) {}
  Result<std::optional<WatchEvent>> next() override { return w_->next(); }
  void cancel() override { w_->cancel(); }

 private:
  std::shared_ptr<FakeKubeApi::Watch> w_;
};
}  // namespace

FakeKubeApi::FakeKubeApi() = default;
FakeKubeApi::~FakeKubeApi() { endWatches(); }

std::optional<Error> FakeKubeApi::enter(const std::string& verb) {
  std::function<std::optional<Error>(const std::string&)> hook;
  {
    std::lock_guard lock(mu_);
    calls_[verb]++;
    hook = failHook_;
  }
  return hook ? hook(verb) : std::nullopt;
}

std::string FakeKubeApi::storeKey(const kube::ObjectRef& ref) const {
  return resourceKey(ref.resource) + "|" + ref.ns + "|" + ref.name;
}

void FakeKubeApi::publishLocked(const HistoryEntry& e) {
  history_.push_back(e);
  for (auto it = watches_.begin(); it != watches_.end();) {
    auto w = it->lock();
    if (!w) {
      it = watches_.erase(it);
      continue;
    }
    if (w->resourceKey == e.resourceKey && (w->ns.empty() || w->ns == e.ns) &&
        matchesLabels(e.obj, w->selector)) {
      w->push(WatchEvent{e.type, e.obj});
    }
    ++it;
  }
}

Result<Json> FakeKubeApi::get(const kube::ObjectRef& ref) {
  if (auto err = enter("get")) return *err;
  std::lock_guard lock(mu_);
  auto it = objects_.find(storeKey(ref));
  if (it == objects_.end()) return notFound(ref);
  return it->second.obj;
}

Result<kube::ObjectList> FakeKubeApi::list(const kube::CollectionRef& ref,
                                           const kube::ListOptions& options) {
  if (auto err = enter("list")) return *err;
  std::lock_guard lock(mu_);
  if (!options.continueToken.empty() && std::stoll(options.continueToken) < compactedRv_) {
    return Error{ErrorCode::kGone, "continue token expired"};
  }
  kube::ObjectList out;
  out.resourceVersion = std::to_string(rv_);
  const std::string rk = resourceKey(ref.resource);
  std::string after;
  if (!options.continueToken.empty())
    after = options.continueToken.substr(options.continueToken.find(':') + 1);
  std::string lastKey;
  for (const auto& [key, s] : objects_) {
    if (s.resourceKey != rk || (!ref.ns.empty() && s.ns != ref.ns)) continue;
    if (!matchesLabels(s.obj, options.labelSelector)) continue;
    if (!after.empty() && key <= after) continue;
    if (options.limit > 0 && static_cast<int64_t>(out.items.size()) == options.limit) {
      out.continueToken = std::to_string(rv_) + ":" + lastKey;
      break;
    }
    out.items.push_back(s.obj);
    lastKey = key;
  }
  return out;
}

Result<Json> FakeKubeApi::writeLocked(const kube::ObjectRef& ref, Json obj, WatchEvent::Type type) {
  obj["metadata"]["resourceVersion"] = std::to_string(++rv_);
  if (ref.resource.namespaced) obj["metadata"]["namespace"] = ref.ns;
  objects_[storeKey(ref)] = Stored{resourceKey(ref.resource), ref.ns, obj};
  publishLocked({rv_, resourceKey(ref.resource), ref.ns, type, obj});
  return obj;
}

Result<Json> FakeKubeApi::create(const kube::CollectionRef& ref, const Json& obj,
                                 const kube::WriteOptions&) {
  if (auto err = enter("create")) return *err;
  std::lock_guard lock(mu_);
  Json o = obj;
  std::string name = kube::nameOf(o);
  if (name.empty()) {
    auto gen = o["metadata"].value("generateName", "");
    if (gen.empty()) return Error{ErrorCode::kInvalidArgument, "metadata.name: Required value"};
    name = gen + std::to_string(uid_ + 1);
    o["metadata"]["name"] = name;
  }
  auto oref = ref.object(name);
  if (objects_.count(storeKey(oref))) {
    return Error{ErrorCode::kAlreadyExists,
                 ref.resource.plural + " \"" + name + "\" already exists"};
  }
  o["metadata"]["uid"] = "uid-" + std::to_string(++uid_);
  o["metadata"]["generation"] = 1;
  o["metadata"]["creationTimestamp"] = kube::formatTime(std::chrono::system_clock::now());
  return writeLocked(oref, std::move(o), WatchEvent::Type::kAdded);
}

Result<Json> FakeKubeApi::update(const kube::ObjectRef& ref, const Json& obj,
                                 const kube::WriteOptions&) {
  if (auto err = enter("update")) return *err;
  std::lock_guard lock(mu_);
  kube::ObjectRef main = ref;
  main.subresource.clear();
  auto it = objects_.find(storeKey(main));
  if (it == objects_.end()) return notFound(ref);
  const Json& cur = it->second.obj;
  auto rv = kube::resourceVersionOf(obj);
  if (!rv.empty() && rv != kube::resourceVersionOf(cur)) {
    return Error{ErrorCode::kConflict,
                 "the object has been modified; please apply your changes "
                 "to the latest version and try again"};
  }
  Json next = cur;
  if (ref.subresource == "status") {
    next["status"] = obj.value("status", Json::object());
  } else {
    next = obj;
    next["metadata"]["uid"] = cur["metadata"]["uid"];
    next["metadata"]["creationTimestamp"] = cur["metadata"]["creationTimestamp"];
    int64_t gen = cur["metadata"].value("generation", 1);
    if (cur.value("spec", Json()) != obj.value("spec", Json())) gen++;
    next["metadata"]["generation"] = gen;
    if (cur.contains("status")) next["status"] = cur["status"];
  }
  return writeLocked(main, std::move(next), WatchEvent::Type::kModified);
}

Result<Json> FakeKubeApi::patch(const kube::ObjectRef& ref, kube::PatchType type, const Json& body,
                                const kube::PatchOptions&) {
  if (auto err = enter("patch")) return *err;
  std::lock_guard lock(mu_);
  kube::ObjectRef main = ref;
  main.subresource.clear();
  auto it = objects_.find(storeKey(main));
  if (it == objects_.end()) return notFound(ref);
  Json next = it->second.obj;
  try {
    if (type == kube::PatchType::kJson) {
      next = next.patch(body);
    } else {
      next.merge_patch(body);
    }
  } catch (const std::exception& e) {
    return Error{ErrorCode::kInvalidArgument, std::string("patch failed: ") + e.what()};
  }
  return writeLocked(main, std::move(next), WatchEvent::Type::kModified);
}

Result<Json> FakeKubeApi::remove(const kube::ObjectRef& ref, const kube::DeleteOptions& options) {
  if (auto err = enter("delete")) return *err;
  std::lock_guard lock(mu_);
  auto it = objects_.find(storeKey(ref));
  if (it == objects_.end()) return notFound(ref);
  Json obj = it->second.obj;
  if ((!options.uid.empty() && options.uid != kube::uidOf(obj)) ||
      (!options.resourceVersion.empty() &&
       options.resourceVersion != kube::resourceVersionOf(obj))) {
    return Error{ErrorCode::kConflict, "precondition failed"};
  }
  objects_.erase(it);
  obj["metadata"]["resourceVersion"] = std::to_string(++rv_);
  publishLocked({rv_, resourceKey(ref.resource), ref.ns, WatchEvent::Type::kDeleted, obj});
  return Json{{"kind", "Status"}, {"status", "Success"}};
}

Result<kube::WatchStreamPtr> FakeKubeApi::watch(const kube::CollectionRef& ref,
                                                const kube::ListOptions& options) {
  if (auto err = enter("watch")) return *err;
  std::lock_guard lock(mu_);
  int64_t from = options.resourceVersion.empty() ? rv_ : std::stoll(options.resourceVersion);
  if (from < compactedRv_) {
    return Error{ErrorCode::kGone, "too old resource version: " + options.resourceVersion};
  }
  auto w = std::make_shared<Watch>();
  w->resourceKey = resourceKey(ref.resource);
  w->ns = ref.ns;
  w->selector = options.labelSelector;
  for (const auto& e : history_) {
    if (e.rv > from && e.resourceKey == w->resourceKey && (w->ns.empty() || w->ns == e.ns) &&
        matchesLabels(e.obj, w->selector)) {
      w->push(WatchEvent{e.type, e.obj});
    }
  }
  watches_.push_back(w);
  return kube::WatchStreamPtr(std::make_unique<WatchHandle>(w));
}

void FakeKubeApi::compact() {
  std::lock_guard lock(mu_);
  compactedRv_ = rv_;
  history_.clear();
}

void FakeKubeApi::breakWatches() {
  std::lock_guard lock(mu_);
  for (auto& weak : watches_) {
    if (auto w = weak.lock()) w->finish(Error{ErrorCode::kUnavailable, "connection reset"});
  }
  watches_.clear();
}

void FakeKubeApi::endWatches() {
  std::lock_guard lock(mu_);
  for (auto& weak : watches_) {
    if (auto w = weak.lock()) w->finish(std::nullopt);
  }
  watches_.clear();
}

void FakeKubeApi::setFailHook(std::function<std::optional<Error>(const std::string&)> hook) {
  std::lock_guard lock(mu_);
  failHook_ = std::move(hook);
}

int FakeKubeApi::calls(const std::string& verb) const {
  std::lock_guard lock(mu_);
  auto it = calls_.find(verb);
  return it == calls_.end() ? 0 : it->second;
}

int64_t FakeKubeApi::currentResourceVersion() const {
  std::lock_guard lock(mu_);
  return rv_;
}

size_t FakeKubeApi::openWatches() const {
  std::lock_guard lock(mu_);
  size_t n = 0;
  for (const auto& w : watches_) n += w.expired() ? 0 : 1;
  return n;
}

}  // namespace kappa::testing
