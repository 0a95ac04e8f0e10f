#include "runtime/kube/event_recorder.h"

#include <spdlog/spdlog.h>

#include <cstdio>

namespace kappa::kube {

namespace {
constexpr size_t kMaxNote = 1024;  // the apiserver rejects longer notes

const char* typeName(EventType t) { return t == EventType::kWarning ? "Warning" : "Normal"; }

std::string truncateNote(const std::string& note) {
  // Cut by bytes: a character cut in two becomes U+FFFD (3 bytes, so the cut leaves room).
  return note.size() <= kMaxNote ? validUtf8(note)
                                 : validUtf8(note.substr(0, kMaxNote - 6)) + "...";
}
}  // namespace

EventAggregator::EventAggregator(std::chrono::seconds window, size_t maxEntries)
    : window_(window), maxEntries_(std::max<size_t>(maxEntries, 1)) {}

void EventAggregator::touch(Entry& e, const std::string& key) {
  lru_.erase(e.lru);
  lru_.push_front(key);
  e.lru = lru_.begin();
}

std::optional<EventAggregator::Series> EventAggregator::observe(const std::string& key,
                                                                TimePoint now) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return std::nullopt;
  Entry& e = it->second;
  if (now - e.lastSeen > window_) {
    lru_.erase(e.lru);
    entries_.erase(it);
    return std::nullopt;
  }
  e.count++;
  e.lastSeen = now;
  touch(e, key);
  return Series{e.ns, e.name, e.count};
}

void EventAggregator::created(const std::string& key, const std::string& ns,
                              const std::string& name, TimePoint now) {
  forget(key);
  lru_.push_front(key);
  entries_[key] = Entry{ns, name, 1, now, lru_.begin()};
  // Least recently seen last: drop what the bound, or the window, has let go (a repeat
  // after the window is a new Event anyway). Without the window the table fills to its bound
  // whatever the rate of Events.
  while (!lru_.empty()) {
    auto oldest = entries_.find(lru_.back());
    if (entries_.size() <= maxEntries_ && now - oldest->second.lastSeen <= window_) break;
    entries_.erase(oldest);
    lru_.pop_back();
  }
}

void EventAggregator::forget(const std::string& key) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return;
  lru_.erase(it->second.lru);
  entries_.erase(it);
}

std::string eventKey(const Json& regarding, EventType type, const std::string& reason,
                     const std::string& action, const std::string& note) {
  std::string id = uidOf(regarding);
  if (id.empty()) {
    id = regarding.value("apiVersion", "") + "/" + regarding.value("kind", "") + "/" +
         keyOf(regarding);
  }
  std::string key = id;
  for (const std::string* part : {&reason, &action, &note}) {
    key += '\x1f';
    key += *part;
  }
  key += '\x1f';
  key += typeName(type);
  return key;
}

KubeEventRecorder::KubeEventRecorder(KubeApi& api, std::string reportingController,
                                     std::string reportingInstance, std::chrono::seconds window,
                                     Clock& clock)
    : api_(api),
      controller_(std::move(reportingController)),
      instance_(std::move(reportingInstance)),
      clock_(clock),
      aggregator_(window) {}

void KubeEventRecorder::record(const Json& regarding, EventType type, const std::string& reason,
                               const std::string& action, const std::string& note) {
  auto r = recordEvent(regarding, type, reason, action, note);
  if (!r) spdlog::warn("recording event {} on {}: {}", reason, keyOf(regarding), r.error().message);
}

Result<Json> KubeEventRecorder::recordEvent(const Json& regarding, EventType type,
                                            const std::string& reason, const std::string& action,
                                            const std::string& note) {
  std::lock_guard lock(mu_);
  auto now = clock_.now();
  auto key = eventKey(regarding, type, reason, action, note);
  if (auto series = aggregator_.observe(key, now)) {
    Json patch = {
        {"series", {{"count", series->count}, {"lastObservedTime", formatMicroTime(now)}}}};
    auto r =
        api_.patch({resources::events(), series->ns, series->name, {}}, PatchType::kMerge, patch);
    if (r || r.error().code != ErrorCode::kNotFound) return r;
    aggregator_.forget(key);  // expired on the server: start a new Event
  }
  return create(key, regarding, type, reason, action, note, now);
}

Result<Json> KubeEventRecorder::create(const std::string& key, const Json& regarding,
                                       EventType type, const std::string& reason,
                                       const std::string& action, const std::string& note,
                                       std::chrono::system_clock::time_point now) {
  std::string ns = namespaceOf(regarding);
  if (ns.empty()) ns = "default";
  char suffix[32];
  auto nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch());
  std::snprintf(suffix, sizeof suffix, ".%llx", static_cast<unsigned long long>(nanos.count()));
  std::string name = nameOf(regarding) + suffix;

  Json ref = {{"apiVersion", regarding.value("apiVersion", "")},
              {"kind", regarding.value("kind", "")},
              {"name", nameOf(regarding)}};
  if (!namespaceOf(regarding).empty()) ref["namespace"] = namespaceOf(regarding);
  if (!uidOf(regarding).empty()) ref["uid"] = uidOf(regarding);
  if (!resourceVersionOf(regarding).empty()) ref["resourceVersion"] = resourceVersionOf(regarding);

  Json event = {{"apiVersion", "events.k8s.io/v1"},
                {"kind", "Event"},
                {"metadata", {{"name", name}, {"namespace", ns}}},
                {"eventTime", formatMicroTime(now)},
                {"reportingController", controller_},
                {"reportingInstance", instance_},
                {"action", action},
                {"reason", reason},
                {"note", truncateNote(note)},
                {"type", typeName(type)},
                {"regarding", ref}};
  auto r = api_.create({resources::events(), ns}, event);
  if (r) aggregator_.created(key, ns, name, now);
  return r;
}

}  // namespace kappa::kube
