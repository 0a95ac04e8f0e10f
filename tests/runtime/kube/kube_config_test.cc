// Kubeconfig and in-cluster configuration loading, and token file rotation.
#include "runtime/kube/kube_config.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <thread>

#include "tests/support/fakes/clock.h"

namespace kappa::kube {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/kube-config-test-XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }
  fs::path write(const std::string& name, const std::string& contents) const {
    auto p = path_ / name;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << contents;
    return p;
  }

 private:
  fs::path path_;
};

// "-----BEGIN CERTIFICATE-----\nCA\n" and so on, base64-encoded.
constexpr const char* kKubeconfig = R"(apiVersion: v1
kind: Config
current-context: admin@local
clusters:
- name: local
  cluster:
    server: https://127.0.0.1:6443/
    certificate-authority-data: Q0EtUEVN
- name: other
  cluster:
    server: https://10.0.0.1:443
    insecure-skip-tls-verify: true
users:
- name: admin
  user:
    client-certificate-data: Q0VSVC1QRU0=
    client-key-data: S0VZLVBFTQ==
- name: files
  user:
    client-certificate: certs/client.crt
    client-key: /ABSOLUTE/client.key
- name: bot
  user:
    tokenFile: token
contexts:
- name: admin@local
  context:
    cluster: local
    user: admin
- name: bot@other
  context:
    cluster: other
    user: bot
    namespace: jobs
- name: files@local
  context:
    cluster: local
    user: files
- name: broken
  context:
    cluster: missing
    user: admin
)";

TEST(KubeConfig, CurrentContextWithInlineData) {
  auto cfg = parseKubeconfig(kKubeconfig, "/nowhere");
  ASSERT_TRUE(cfg.ok()) << cfg.error();
  EXPECT_EQ(cfg->contextName, "admin@local");
  EXPECT_EQ(cfg->server, "https://127.0.0.1:6443");  // trailing slash dropped
  EXPECT_EQ(cfg->caPem, "CA-PEM");
  EXPECT_EQ(cfg->clientCertPem, "CERT-PEM");
  EXPECT_EQ(cfg->clientKeyPem, "KEY-PEM");
  EXPECT_FALSE(cfg->insecureSkipTlsVerify);
  EXPECT_EQ(cfg->ns, "default");
  EXPECT_TRUE(cfg->token.empty());
}

TEST(KubeConfig, NamedContextWithTokenFileAndNamespace) {
  auto cfg = parseKubeconfig(kKubeconfig, "/etc/kube", "bot@other");
  ASSERT_TRUE(cfg.ok()) << cfg.error();
  EXPECT_EQ(cfg->server, "https://10.0.0.1:443");
  EXPECT_TRUE(cfg->insecureSkipTlsVerify);
  EXPECT_EQ(cfg->tokenFile, "/etc/kube/token");  // relative to the kubeconfig's directory
  EXPECT_EQ(cfg->ns, "jobs");
  EXPECT_TRUE(cfg->caPem.empty());
}

TEST(KubeConfig, CertificateFilesResolveRelativeToTheFile) {
  TempDir dir;
  dir.write("certs/client.crt", "FILE-CERT");
  std::string text = kKubeconfig;
  auto keyPath = dir.write("client.key", "FILE-KEY");
  text.replace(text.find("/ABSOLUTE/client.key"), 20, keyPath.string());
  auto kc = dir.write("config", text);
  auto cfg = loadKubeconfigFile(kc, "files@local");
  ASSERT_TRUE(cfg.ok()) << cfg.error();
  EXPECT_EQ(cfg->clientCertPem, "FILE-CERT");
  EXPECT_EQ(cfg->clientKeyPem, "FILE-KEY");
}

TEST(KubeConfig, ErrorsNameWhatIsMissing) {
  auto noContext = parseKubeconfig(kKubeconfig, "/", "nope");
  ASSERT_FALSE(noContext.ok());
  EXPECT_EQ(noContext.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(noContext.error().message.find("nope"), std::string::npos);

  auto noCluster = parseKubeconfig(kKubeconfig, "/", "broken");
  ASSERT_FALSE(noCluster.ok());
  EXPECT_NE(noCluster.error().message.find("missing"), std::string::npos);

  auto missingFile = parseKubeconfig(kKubeconfig, "/nonexistent-dir", "files@local");
  ASSERT_FALSE(missingFile.ok());
  EXPECT_NE(missingFile.error().message.find("client-certificate"), std::string::npos);

  EXPECT_FALSE(parseKubeconfig("{ not: [yaml", "/").ok());
  EXPECT_FALSE(parseKubeconfig("clusters: []\n", "/").ok());
  auto badBase64 = parseKubeconfig(
      "current-context: c\ncontexts: [{name: c, context: {cluster: k}}]\n"
      "clusters: [{name: k, cluster: {server: 'https://x', certificate-authority-data: '%%%'}}]\n",
      "/");
  ASSERT_FALSE(badBase64.ok());
  EXPECT_NE(badBase64.error().message.find("certificate-authority-data"), std::string::npos);
}

TEST(KubeConfig, InClusterFromServiceAccountFiles) {
  TempDir dir;
  dir.write("token", "tok-1\n");
  dir.write("ca.crt", "CLUSTER-CA");
  dir.write("namespace", "kappa-system");
  setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
  setenv("KUBERNETES_SERVICE_PORT", "443", 1);
  auto cfg = loadInClusterConfig({dir.path()});
  unsetenv("KUBERNETES_SERVICE_HOST");
  unsetenv("KUBERNETES_SERVICE_PORT");
  ASSERT_TRUE(cfg.ok()) << cfg.error();
  EXPECT_EQ(cfg->server, "https://10.96.0.1:443");
  EXPECT_EQ(cfg->caPem, "CLUSTER-CA");
  EXPECT_EQ(cfg->ns, "kappa-system");
  EXPECT_EQ(cfg->tokenFile, (dir.path() / "token").string());

  auto outside = loadInClusterConfig({dir.path()});
  ASSERT_FALSE(outside.ok());
  EXPECT_EQ(outside.error().code, ErrorCode::kNotFound);
}

TEST(KubeConfig, DefaultConfigPrefersKubeconfigEnv) {
  TempDir dir;
  auto kc = dir.write("kc", kKubeconfig);
  setenv("KUBECONFIG", ("/does/not/exist:" + kc.string()).c_str(), 1);
  auto cfg = loadDefaultConfig();
  unsetenv("KUBECONFIG");
  ASSERT_TRUE(cfg.ok()) << cfg.error();
  EXPECT_EQ(cfg->contextName, "admin@local");
}

TEST(TokenFile, RereadsTheFileWhenItIsRotated) {
  TempDir dir;
  testing::FakeClock clock;
  auto path = dir.write("token", "first-token\n");
  TokenFile tf(path, clock);
  auto t1 = tf.token();
  ASSERT_TRUE(t1.ok()) << t1.error();
  EXPECT_EQ(*t1, "first-token");

  // Rotation writes a new file (a different size, so the change is seen even within the
  // filesystem's timestamp granularity).
  dir.write("token", "second-longer-token\n");
  tf.invalidate();  // what the client does on a 401
  EXPECT_EQ(*tf.token(), "second-longer-token");

  // Without invalidate() the file is checked again after a second.
  dir.write("token", "third\n");
  clock.advance(std::chrono::milliseconds(900));
  EXPECT_EQ(*tf.token(), "second-longer-token");
  clock.advance(std::chrono::milliseconds(100));
  EXPECT_EQ(*tf.token(), "third");

  // A file that disappears keeps the last good token.
  fs::remove(path);
  tf.invalidate();
  EXPECT_EQ(*tf.token(), "third");

  TokenFile missing(dir.path() / "absent");
  auto none = missing.token();
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code, ErrorCode::kUnauthenticated);
}

}  // namespace
}  // namespace kappa::kube
