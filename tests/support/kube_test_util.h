// Helpers for integration tests against the real kube-apiserver started by the CTest
// fixture `apiserver`: where it is, clients for the admin and the restricted user, unique
// names, a namespace per test, polling, and forcing etcd compaction (for 410 Gone).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "runtime/kube/http_kube_api.h"

namespace kappa::testing {

// Variables of the env file named by $KAPPA_TEST_APISERVER_ENV. Fails the current test
// when it is not set or not readable.
std::map<std::string, std::string> apiserverEnv();

// A client from the fixture's admin (or restricted-user) kubeconfig.
std::unique_ptr<kube::HttpKubeApi> makeKubeClient(bool restricted = false,
                                                  kube::ClientOptions options = {});

// "<stem>-<unique>": a DNS label no other test uses.
std::string uniqueKubeName(const std::string& stem);

// Creates a namespace for the current test and deletes it when destroyed.
class TestNamespace {
 public:
  explicit TestNamespace(kube::KubeApi& api, const std::string& stem = "it");
  ~TestNamespace();
  const std::string& name() const { return name_; }

 private:
  kube::KubeApi& api_;
  std::string name_;
};

// Polls `check` every 50 ms until it returns true or `within` has passed.
bool eventually(const std::function<bool()>& check,
                std::chrono::milliseconds within = std::chrono::seconds(10));

// Compacts etcd up to its current revision (POST /v3/kv/compaction on ETCD_URL). Returns
// the revision compacted to, or -1 (and fails the test) on error.
int64_t compactEtcd();

}  // namespace kappa::testing
