// Kubernetes Events (events.k8s.io/v1) about objects the operator manages, e.g. "Promoted",
// "ValidationFailed". Repeats of the same event (same regarding object, type, reason,
// action and note) within a window update the existing Event's series
// (series.count, series.lastObservedTime) instead of creating a new Event each time, so a
// hot loop cannot flood the apiserver with Events.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "runtime/core/clock.h"
#include "runtime/kube/kube_api.h"

namespace kappa::kube {

enum class EventType { kNormal, kWarning };

// The port the controller records events through.
class EventRecorder {
 public:
  virtual ~EventRecorder() = default;
  // regarding: the object the event is about (apiVersion, kind, metadata name/namespace/uid
  // are used). Best effort: failures are logged, never returned.
  virtual void record(const Json& regarding, EventType type, const std::string& reason,
                      const std::string& action, const std::string& note) = 0;
};

// The deduplication state: which Event an occurrence belongs to. Pure (time is passed in);
// bounded to maxEntries keys, least recently seen dropped first, and to the keys seen within
// the window.
class EventAggregator {
 public:
  using TimePoint = std::chrono::system_clock::time_point;

  explicit EventAggregator(std::chrono::seconds window = std::chrono::minutes(10),
                           size_t maxEntries = 4096);

  struct Series {
    std::string ns;
    std::string name;   // the Event to update
    int32_t count = 0;  // occurrences including this one
    bool operator==(const Series&) const = default;
  };

  // A repeat of an event created within the window (measured from its last occurrence):
  // the Series to write. std::nullopt: create a new Event, then call created().
  std::optional<Series> observe(const std::string& key, TimePoint now);
  void created(const std::string& key, const std::string& ns, const std::string& name,
               TimePoint now);
  // The Event is gone (e.g. expired by the server's event TTL): the next one is new.
  void forget(const std::string& key);
  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    std::string ns;
    std::string name;
    int32_t count = 0;
    TimePoint lastSeen;
    std::list<std::string>::iterator lru;
  };
  void touch(Entry& e, const std::string& key);

  std::chrono::seconds window_;
  size_t maxEntries_;
  std::map<std::string, Entry> entries_;
  std::list<std::string> lru_;  // most recent first
};

// The dedup key of an event.
std::string eventKey(const Json& regarding, EventType type, const std::string& reason,
                     const std::string& action, const std::string& note);

class KubeEventRecorder final : public EventRecorder {
 public:
  KubeEventRecorder(KubeApi& api, std::string reportingController, std::string reportingInstance,
                    std::chrono::seconds window = std::chrono::minutes(10),
                    Clock& clock = systemClock());

  void record(const Json& regarding, EventType type, const std::string& reason,
              const std::string& action, const std::string& note) override;

  // Like record(), returning the Event as written (created or series-updated).
  Result<Json> recordEvent(const Json& regarding, EventType type, const std::string& reason,
                           const std::string& action, const std::string& note);

 private:
  Result<Json> create(const std::string& key, const Json& regarding, EventType type,
                      const std::string& reason, const std::string& action, const std::string& note,
                      std::chrono::system_clock::time_point now);

  KubeApi& api_;
  const std::string controller_;
  const std::string instance_;
  Clock& clock_;
  std::mutex mu_;  // serializes recording so repeats aggregate onto one Event
  EventAggregator aggregator_;
};

}  // namespace kappa::kube
