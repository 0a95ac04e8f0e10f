#include "tests/support/kube_test_util.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <random>
#include <thread>

namespace kappa::testing {

std::map<std::string, std::string> apiserverEnv() {
  std::map<std::string, std::string> env;
  const char* path = std::getenv("KAPPA_TEST_APISERVER_ENV");
  if (!path || !*path) {
    ADD_FAILURE() << "KAPPA_TEST_APISERVER_ENV is not set (run through ctest, fixture apiserver)";
    return env;
  }
  std::ifstream in(path);
  if (!in) {
    ADD_FAILURE() << "cannot read " << path;
    return env;
  }
  std::string line;
  while (std::getline(in, line)) {
    auto eq = line.find('=');
    if (line.empty() || line[0] == '#' || eq == std::string::npos) continue;
    env[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return env;
}

std::unique_ptr<kube::HttpKubeApi> makeKubeClient(bool restricted, kube::ClientOptions options) {
  auto env = apiserverEnv();
  auto path = env[restricted ? "KAPPA_RESTRICTED_KUBECONFIG" : "KUBECONFIG"];
  auto cfg = kube::loadKubeconfigFile(path);
  if (!cfg) {
    ADD_FAILURE() << "kubeconfig " << path << ": " << cfg.error();
    return nullptr;
  }
  auto client = kube::HttpKubeApi::create(*cfg, options);
  if (!client) {
    ADD_FAILURE() << "client: " << client.error();
    return nullptr;
  }
  return std::move(*client);
}

std::string uniqueKubeName(const std::string& stem) {
  static std::atomic<int> counter{0};
  static const unsigned salt = std::random_device{}() % 100000;
  return stem + "-" + std::to_string(getpid() % 100000) + "-" + std::to_string(salt) + "-" +
         std::to_string(counter++);
}

TestNamespace::TestNamespace(kube::KubeApi& api, const std::string& stem)
    : api_(api), name_(uniqueKubeName(stem)) {
  kube::Json ns = {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", name_}}}};
  auto r = api_.create({kube::resources::namespaces(), ""}, ns);
  if (!r) ADD_FAILURE() << "creating namespace " << name_ << ": " << r.error();
}

TestNamespace::~TestNamespace() {
  // No namespace controller runs in the test control plane: the namespace stays
  // Terminating, which is fine for a unique name.
  (void)api_.remove({kube::resources::namespaces(), "", name_, {}});
}

bool eventually(const std::function<bool()>& check, std::chrono::milliseconds within) {
  auto deadline = std::chrono::steady_clock::now() + within;
  while (true) {
    if (check()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

int64_t compactEtcd() {
  auto env = apiserverEnv();
  const auto& url = env["ETCD_URL"];
  // etcd's JSON gateway speaks plain HTTP on loopback; the apiserver client serves as an
  // HTTP client for it.
  kube::KubeConfig cfg;
  cfg.server = url;
  kube::ClientOptions options;
  options.requestTimeout = std::chrono::seconds(10);
  auto etcd = kube::HttpKubeApi::create(cfg, options);
  if (!etcd) {
    ADD_FAILURE() << "etcd client for " << url << ": " << etcd.error();
    return -1;
  }
  auto range = (*etcd)->request("POST", "/v3/kv/range",
                                std::string(R"({"key":"AA==","limit":1,"keys_only":true})"));
  if (!range) {
    ADD_FAILURE() << "etcd range at " << url << ": " << range.error();
    return -1;
  }
  std::string rev = (*range)["header"]["revision"].get<std::string>();
  auto compact = (*etcd)->request("POST", "/v3/kv/compaction",
                                  nlohmann::json{{"revision", rev}, {"physical", true}}.dump());
  if (!compact && compact.error().message.find("already been compacted") == std::string::npos) {
    ADD_FAILURE() << "etcd compaction failed: " << compact.error();
    return -1;
  }
  return std::stoll(rev);
}

}  // namespace kappa::testing
