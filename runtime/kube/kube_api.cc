#include "runtime/kube/kube_api.h"

#include <cstdio>
#include <ctime>

namespace kappa::kube {

std::string Resource::basePath() const {
  return group.empty() ? "/api/" + version : "/apis/" + group + "/" + version;
}

std::ostream& operator<<(std::ostream& os, const Resource& r) {
  return os << r.plural << (r.group.empty() ? "" : ".") << r.group << "/" << r.version;
}

namespace resources {
Resource configMaps() { return {"", "v1", "configmaps", true}; }
Resource namespaces() { return {"", "v1", "namespaces", false}; }
Resource leases() { return {"coordination.k8s.io", "v1", "leases", true}; }
Resource events() { return {"events.k8s.io", "v1", "events", true}; }
Resource deployments() { return {"apps", "v1", "deployments", true}; }
Resource resourceQuotas() { return {"", "v1", "resourcequotas", true}; }
Resource pods() { return {"", "v1", "pods", true}; }
Resource customResourceDefinitions() {
  return {"apiextensions.k8s.io", "v1", "customresourcedefinitions", false};
}
}  // namespace resources

std::string CollectionRef::path() const {
  std::string p = resource.basePath();
  if (resource.namespaced && !ns.empty()) p += "/namespaces/" + ns;
  return p + "/" + resource.plural;
}

std::string ObjectRef::path() const {
  std::string p = CollectionRef{resource, ns}.path() + "/" + name;
  if (!subresource.empty()) p += "/" + subresource;
  return p;
}

std::ostream& operator<<(std::ostream& os, const ObjectRef& r) {
  os << r.resource << " " << (r.ns.empty() ? "" : r.ns + "/") << r.name;
  if (!r.subresource.empty()) os << " (" << r.subresource << ")";
  return os;
}

const char* patchContentType(PatchType type) {
  switch (type) {
    case PatchType::kMerge:
      return "application/merge-patch+json";
    case PatchType::kJson:
      return "application/json-patch+json";
    case PatchType::kStrategicMerge:
      return "application/strategic-merge-patch+json";
    case PatchType::kApply:
      return "application/apply-patch+yaml";
  }
  return "application/merge-patch+json";
}

const char* watchEventTypeName(WatchEvent::Type type) {
  switch (type) {
    case WatchEvent::Type::kAdded:
      return "ADDED";
    case WatchEvent::Type::kModified:
      return "MODIFIED";
    case WatchEvent::Type::kDeleted:
      return "DELETED";
    case WatchEvent::Type::kBookmark:
      return "BOOKMARK";
  }
  return "UNKNOWN";
}

std::string WatchEvent::resourceVersion() const { return resourceVersionOf(object); }

Result<ObjectList> KubeApi::listAll(const CollectionRef& ref, ListOptions options,
                                    int64_t pageSize) {
  options.limit = pageSize;
  options.continueToken.clear();
  ObjectList all;
  while (true) {
    auto page = list(ref, options);
    if (!page) return page.error();
    for (auto& item : page->items) all.items.push_back(std::move(item));
    all.resourceVersion = page->resourceVersion;
    if (page->continueToken.empty()) break;
    options.continueToken = page->continueToken;
    // Later pages come from the snapshot named by the continue token.
    options.resourceVersion.clear();
  }
  return all;
}

namespace {
std::string metadataString(const Json& obj, const char* field) {
  auto m = obj.find("metadata");
  if (m == obj.end() || !m->is_object()) return {};
  auto f = m->find(field);
  if (f == m->end() || !f->is_string()) return {};
  return f->get<std::string>();
}
}  // namespace

std::string nameOf(const Json& obj) { return metadataString(obj, "name"); }
std::string namespaceOf(const Json& obj) { return metadataString(obj, "namespace"); }

std::string validUtf8(const std::string& text) {
  std::string quoted = Json(text).dump(-1, ' ', false, Json::error_handler_t::replace);
  return Json::parse(quoted).get<std::string>();
}
std::string resourceVersionOf(const Json& obj) { return metadataString(obj, "resourceVersion"); }
std::string uidOf(const Json& obj) { return metadataString(obj, "uid"); }
std::string makeKey(const std::string& ns, const std::string& name) {
  return ns.empty() ? name : ns + "/" + name;
}
std::string keyOf(const Json& obj) { return makeKey(namespaceOf(obj), nameOf(obj)); }

namespace {
std::string formatUtc(std::chrono::system_clock::time_point t, bool micros) {
  auto secs = std::chrono::time_point_cast<std::chrono::seconds>(t);
  if (secs > t) secs -= std::chrono::seconds(1);
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(t - secs).count();
  std::time_t tt = std::chrono::system_clock::to_time_t(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  if (micros) n += std::snprintf(buf + n, sizeof buf - n, ".%06lld", static_cast<long long>(us));
  return std::string(buf, n) + "Z";
}
}  // namespace

std::string formatMicroTime(std::chrono::system_clock::time_point t) { return formatUtc(t, true); }
std::string formatTime(std::chrono::system_clock::time_point t) { return formatUtc(t, false); }

std::optional<std::chrono::system_clock::time_point> parseTime(const std::string& text) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0, n = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &s, &n) != 6)
    return std::nullopt;
  const char* p = text.c_str() + n;
  int64_t micros = 0;
  if (*p == '.') {
    ++p;
    int digits = 0;
    while (*p >= '0' && *p <= '9') {
      if (digits < 6) {
        micros = micros * 10 + (*p - '0');
        ++digits;
      }
      ++p;
    }
    for (; digits < 6; ++digits) micros *= 10;
  }
  int offsetSeconds = 0;
  if (*p == '+' || *p == '-') {
    int oh = 0, om = 0;
    if (std::sscanf(p + 1, "%2d:%2d", &oh, &om) != 2) return std::nullopt;
    offsetSeconds = (oh * 3600 + om * 60) * (*p == '-' ? -1 : 1);
  } else if (*p != 'Z' && *p != 'z') {
    return std::nullopt;
  }
  std::chrono::year_month_day ymd{std::chrono::year{y}, std::chrono::month{unsigned(mo)},
                                  std::chrono::day{unsigned(d)}};
  if (!ymd.ok()) return std::nullopt;
  auto t = std::chrono::sys_days{ymd} + std::chrono::hours{h} + std::chrono::minutes{mi} +
           std::chrono::seconds{s} - std::chrono::seconds{offsetSeconds} +
           std::chrono::microseconds{micros};
  using TimePoint = std::chrono::system_clock::time_point;
  return TimePoint{std::chrono::duration_cast<TimePoint::duration>(t.time_since_epoch())};
}

}  // namespace kappa::kube
