// KubeApi: the port through which the operator reads and writes Kubernetes objects of any
// resource (group/version/resource, optional namespace and subresource). Objects are
// nlohmann::json; every call is bounded in time and returns errors as values (404 kNotFound,
// 409 kAlreadyExists or kConflict, 403 kForbidden, 422 kInvalidArgument, 410 kGone, ...).
// The production adapter is HttpKubeApi; unit tests use fakes (tests/support/fakes/kube_api.h).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/core/result.h"

namespace kappa::kube {

using Json = nlohmann::json;

// A resource type: group ("" for the core group), version and plural resource name.
struct Resource {
  std::string group;
  std::string version;
  std::string plural;
  bool namespaced = true;

  // "v1" or "apps/v1".
  std::string apiVersion() const { return group.empty() ? version : group + "/" + version; }
  // "/api/v1" or "/apis/apps/v1".
  std::string basePath() const;
  bool operator==(const Resource&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Resource& r);

// Resources the runtime itself uses.
namespace resources {
Resource configMaps();
Resource namespaces();
Resource leases();
Resource events();
Resource customResourceDefinitions();
Resource deployments();
Resource resourceQuotas();
Resource pods();
}  // namespace resources

// One object (or one of its subresources, e.g. "status").
struct ObjectRef {
  Resource resource;
  std::string ns;  // empty for cluster-scoped resources
  std::string name;
  std::string subresource;

  // "/api/v1/namespaces/ns/configmaps/name[/sub]".
  std::string path() const;
  bool operator==(const ObjectRef&) const = default;
};

std::ostream& operator<<(std::ostream& os, const ObjectRef& r);

// A collection: all objects of a resource in one namespace, or in all namespaces when ns is
// empty.
struct CollectionRef {
  Resource resource;
  std::string ns;

  std::string path() const;
  ObjectRef object(std::string name, std::string subresource = {}) const {
    return {resource, ns, std::move(name), std::move(subresource)};
  }
  bool operator==(const CollectionRef&) const = default;
};

struct ListOptions {
  std::string labelSelector;
  std::string fieldSelector;
  // Page size (0: everything at once) and the continue token of the previous page.
  int64_t limit = 0;
  std::string continueToken;
  // For list: "" is a consistent read from etcd, "0" any cached version. For watch: the
  // version to start after.
  std::string resourceVersion;
  // Watch only.
  bool allowWatchBookmarks = true;
  // Watch only: the server ends the stream after this long (0: the client's default,
  // ClientOptions::watchTimeout for HttpKubeApi).
  std::chrono::seconds timeout{0};
};

struct ObjectList {
  std::vector<Json> items;
  std::string resourceVersion;
  std::string continueToken;  // empty on the last page
};

struct WriteOptions {
  std::string fieldManager;
  bool dryRun = false;
};

enum class PatchType {
  kMerge,           // application/merge-patch+json (RFC 7386)
  kJson,            // application/json-patch+json (RFC 6902)
  kStrategicMerge,  // application/strategic-merge-patch+json (built-in types only)
  kApply,           // application/apply-patch+yaml: server-side apply
};

const char* patchContentType(PatchType type);

struct PatchOptions {
  // Required for kApply.
  std::string fieldManager;
  // kApply only: take ownership of fields managed by others instead of failing with 409.
  bool force = false;
  bool dryRun = false;
};

enum class PropagationPolicy { kDefault, kOrphan, kBackground, kForeground };

struct DeleteOptions {
  PropagationPolicy propagation = PropagationPolicy::kDefault;
  // Preconditions: the delete fails with kConflict unless the object still has them.
  std::string uid;
  std::string resourceVersion;
  std::optional<int64_t> gracePeriodSeconds;
};

struct WatchEvent {
  enum class Type { kAdded, kModified, kDeleted, kBookmark };
  Type type = Type::kAdded;
  Json object;

  std::string resourceVersion() const;
};

const char* watchEventTypeName(WatchEvent::Type type);

// An open watch. next() blocks until the server sends the next event. It returns
// std::nullopt when the server closed the stream normally (e.g. timeoutSeconds passed), an
// error when the connection broke (kUnavailable, kTimeout) or the server sent an ERROR event
// (its Status mapped like an HTTP error: code 410 gives kGone). cancel() may be called from
// any thread and makes a blocked next() return.
class WatchStream {
 public:
  virtual ~WatchStream() = default;
  virtual Result<std::optional<WatchEvent>> next() = 0;
  virtual void cancel() = 0;
};

using WatchStreamPtr = std::unique_ptr<WatchStream>;

class KubeApi {
 public:
  virtual ~KubeApi() = default;

  virtual Result<Json> get(const ObjectRef& ref) = 0;
  // One page; see listAll() for every page.
  virtual Result<ObjectList> list(const CollectionRef& ref, const ListOptions& options) = 0;
  // POST to the collection; the name comes from obj.metadata.name (or generateName).
  virtual Result<Json> create(const CollectionRef& ref, const Json& obj,
                              const WriteOptions& options = {}) = 0;
  // PUT. When obj.metadata.resourceVersion is set the server rejects the write with kConflict
  // if the object changed since (optimistic concurrency).
  virtual Result<Json> update(const ObjectRef& ref, const Json& obj,
                              const WriteOptions& options = {}) = 0;
  // For kApply the body is the applied configuration (JSON is valid YAML); otherwise the
  // patch document of that type.
  virtual Result<Json> patch(const ObjectRef& ref, PatchType type, const Json& body,
                             const PatchOptions& options = {}) = 0;
  // Returns what the server returned: the object (still present while finalizers run) or
  // a Status.
  virtual Result<Json> remove(const ObjectRef& ref, const DeleteOptions& options = {}) = 0;
  virtual Result<WatchStreamPtr> watch(const CollectionRef& ref, const ListOptions& options) = 0;

  // The status subresource.
  Result<Json> getStatus(ObjectRef ref) { return get(withStatus(std::move(ref))); }
  Result<Json> updateStatus(ObjectRef ref, const Json& obj, const WriteOptions& options = {}) {
    return update(withStatus(std::move(ref)), obj, options);
  }
  Result<Json> patchStatus(ObjectRef ref, PatchType type, const Json& body,
                           const PatchOptions& options = {}) {
    return patch(withStatus(std::move(ref)), type, body, options);
  }

  // Every page of a list, `pageSize` objects per request (0: one request).
  Result<ObjectList> listAll(const CollectionRef& ref, ListOptions options, int64_t pageSize = 500);

 private:
  static ObjectRef withStatus(ObjectRef ref) {
    ref.subresource = "status";
    return ref;
  }
};

using KubeApiPtr = std::unique_ptr<KubeApi>;

// Small accessors for object metadata (empty string when absent).
std::string nameOf(const Json& obj);
std::string namespaceOf(const Json& obj);

// `text` as valid UTF-8, every invalid byte sequence (a multi-byte character cut in two, a
// binary value) replaced by U+FFFD: a Json string that is not valid UTF-8 throws when it is
// dumped into a request body.
std::string validUtf8(const std::string& text);
std::string resourceVersionOf(const Json& obj);
std::string uidOf(const Json& obj);
// "ns/name" or "name": the cache and work-queue key of an object.
std::string keyOf(const Json& obj);
std::string makeKey(const std::string& ns, const std::string& name);

// metav1.MicroTime ("2024-05-01T12:00:00.123456Z") and metav1.Time ("2024-05-01T12:00:00Z").
std::string formatMicroTime(std::chrono::system_clock::time_point t);
std::string formatTime(std::chrono::system_clock::time_point t);
// An RFC 3339 time as the apiserver writes it (fractional seconds and an offset optional).
std::optional<std::chrono::system_clock::time_point> parseTime(const std::string& text);

}  // namespace kappa::kube
