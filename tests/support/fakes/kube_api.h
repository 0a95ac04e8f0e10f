// FakeKubeApi: an in-memory KubeApi for unit tests of code that reads and writes Kubernetes
// objects (informers, leader election, event recording, controllers). It keeps a global
// resourceVersion like etcd, enforces resourceVersion preconditions (409), AlreadyExists,
// NotFound, serves list pages and watches (with history, so a watch can resume from an
// older version), and lets a test compact the history (410 Gone), break open watches, or
// inject errors.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "runtime/kube/kube_api.h"

namespace kappa::testing {

class FakeKubeApi : public kube::KubeApi {
 public:
  FakeKubeApi();
  ~FakeKubeApi() override;

  Result<kube::Json> get(const kube::ObjectRef& ref) override;
  Result<kube::ObjectList> list(const kube::CollectionRef& ref,
                                const kube::ListOptions& options) override;
  Result<kube::Json> create(const kube::CollectionRef& ref, const kube::Json& obj,
                            const kube::WriteOptions& options = {}) override;
  Result<kube::Json> update(const kube::ObjectRef& ref, const kube::Json& obj,
                            const kube::WriteOptions& options = {}) override;
  // kMerge and kApply (treated as a merge) are supported; kJson supports add/replace/remove/
  // test on /metadata/... and /spec/... style paths.
  Result<kube::Json> patch(const kube::ObjectRef& ref, kube::PatchType type, const kube::Json& body,
                           const kube::PatchOptions& options = {}) override;
  Result<kube::Json> remove(const kube::ObjectRef& ref,
                            const kube::DeleteOptions& options = {}) override;
  Result<kube::WatchStreamPtr> watch(const kube::CollectionRef& ref,
                                     const kube::ListOptions& options) override;

  // Test controls.
  // Watches and lists from a resourceVersion below the current one now fail with kGone.
  void compact();
  // Every open watch returns kUnavailable from its next next().
  void breakWatches();
  // Every open watch ends normally (as when timeoutSeconds passes).
  void endWatches();
  // Called before each call with the verb ("get", "list", "create", "update", "patch",
  // "delete", "watch"); returning an Error fails that call.
  void setFailHook(std::function<std::optional<Error>(const std::string& verb)> hook);
  int calls(const std::string& verb) const;
  int64_t currentResourceVersion() const;
  size_t openWatches() const;

  struct Watch;

 private:
  struct Stored {
    std::string resourceKey;  // group/version/plural
    std::string ns;
    kube::Json obj;
  };
  struct HistoryEntry {
    int64_t rv;
    std::string resourceKey;
    std::string ns;
    kube::WatchEvent::Type type;
    kube::Json obj;
  };

  std::optional<Error> enter(const std::string& verb);
  std::string storeKey(const kube::ObjectRef& ref) const;
  Result<kube::Json> writeLocked(const kube::ObjectRef& ref, kube::Json obj,
                                 kube::WatchEvent::Type type);
  void publishLocked(const HistoryEntry& e);

  mutable std::mutex mu_;
  int64_t rv_ = 100;
  int64_t compactedRv_ = 0;
  int64_t uid_ = 0;
  std::map<std::string, Stored> objects_;
  std::vector<HistoryEntry> history_;
  std::vector<std::weak_ptr<Watch>> watches_;
  std::map<std::string, int> calls_;
  std::function<std::optional<Error>(const std::string&)> failHook_;
};

// Matches equality-based label selectors ("a=b,c=d", "a==b", "a!=b", "a", "!a").
bool matchesLabels(const kube::Json& obj, const std::string& selector);

}  // namespace kappa::testing
