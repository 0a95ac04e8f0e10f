// Where the apiserver is and how to authenticate to it: from a kubeconfig file (the
// current or a named context) or from the in-cluster service account. TLS material is held
// in memory as PEM; a token file (bound service-account tokens rotate) is re-read whenever
// it changes on disk.
#pragma once

#include <chrono>
#include <filesystem>
#include <mutex>
#include <string>

#include "runtime/core/clock.h"
#include "runtime/core/result.h"

namespace kappa::kube {

// Re-reads a token file when its modification time or size changes (checked at most once a
// second, or at once after invalidate(), e.g. on a 401). Thread-safe.
class TokenFile {
 public:
  explicit TokenFile(std::filesystem::path path, Clock& clock = systemClock())
      : path_(std::move(path)), clock_(clock) {}

  Result<std::string> token();
  void invalidate();
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  Clock& clock_;
  std::mutex mu_;
  std::string token_;
  std::filesystem::file_time_type mtime_{};
  std::uintmax_t size_ = 0;
  bool loaded_ = false;
  std::chrono::steady_clock::time_point checkedAt_{};
};

// Standard base64 (as in kubeconfig *-data fields and Secret data); whitespace ignored.
Result<std::string> decodeBase64(const std::string& in);

struct KubeConfig {
  std::string server;  // https://host:port
  std::string caPem;   // empty: the system's trust store
  std::string clientCertPem;
  std::string clientKeyPem;
  std::string token;      // bearer token given inline
  std::string tokenFile;  // bearer token read (and re-read) from this file
  bool insecureSkipTlsVerify = false;
  std::string ns = "default";  // the context's namespace
  std::string contextName;
};

// Parses kubeconfig YAML. Relative file paths resolve against baseDir. context: empty for
// the file's current-context.
Result<KubeConfig> parseKubeconfig(const std::string& yaml, const std::filesystem::path& baseDir,
                                   const std::string& context = {});
Result<KubeConfig> loadKubeconfigFile(const std::filesystem::path& path,
                                      const std::string& context = {});

struct InClusterPaths {
  std::filesystem::path dir = "/var/run/secrets/kubernetes.io/serviceaccount";
};
// From KUBERNETES_SERVICE_HOST / KUBERNETES_SERVICE_PORT and the service-account token, CA
// and namespace files.
Result<KubeConfig> loadInClusterConfig(const InClusterPaths& paths = {});

// $KUBECONFIG (first existing file of the list), else ~/.kube/config, else in-cluster.
Result<KubeConfig> loadDefaultConfig();

}  // namespace kappa::kube
