#include "runtime/kube/kube_config.h"

#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace kappa::kube {

namespace fs = std::filesystem;

namespace {

Error invalid(std::string msg) { return Error{ErrorCode::kInvalidArgument, std::move(msg)}; }

Result<std::string> readFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error{ErrorCode::kNotFound, "cannot read " + path.string()};
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string trim(std::string s) {
  auto notSpace = [](unsigned char c) { return !std::isspace(c); };
  s.erase(s.begin(), std::find_if(s.begin(), s.end(), notSpace));
  s.erase(std::find_if(s.rbegin(), s.rend(), notSpace).base(), s.end());
  return s;
}

std::string scalar(const YAML::Node& node, const char* key) {
  auto v = node[key];
  return v && v.IsScalar() ? v.as<std::string>() : std::string{};
}

YAML::Node findNamed(const YAML::Node& list, const char* field, const std::string& name) {
  if (!list || !list.IsSequence()) return YAML::Node(YAML::NodeType::Undefined);
  for (const auto& item : list) {
    if (scalar(item, "name") == name) return item[field];
  }
  return YAML::Node(YAML::NodeType::Undefined);
}

// "<key>-data" (base64) wins over "<key>" (a file path, relative to baseDir).
Result<std::string> pemField(const YAML::Node& node, const std::string& key,
                             const fs::path& baseDir) {
  auto data = scalar(node, (key + "-data").c_str());
  if (!data.empty()) {
    auto decoded = decodeBase64(data);
    if (!decoded) return invalid(key + "-data: " + decoded.error().message);
    return decoded;
  }
  auto file = scalar(node, key.c_str());
  if (file.empty()) return std::string{};
  fs::path p(file);
  if (p.is_relative()) p = baseDir / p;
  auto contents = readFile(p);
  if (!contents) return invalid(key + ": " + contents.error().message);
  return contents;
}

}  // namespace

Result<std::string> decodeBase64(const std::string& in) {
  static constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    if (std::isspace(static_cast<unsigned char>(c))) continue;
    if (c == '=') break;
    auto pos = kAlphabet.find(c);
    if (pos == std::string_view::npos) return invalid("invalid base64 data");
    acc = (acc << 6) | static_cast<uint32_t>(pos);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return out;
}

Result<std::string> TokenFile::token() {
  std::lock_guard lock(mu_);
  auto now = clock_.steadyNow();
  if (loaded_ && now - checkedAt_ < std::chrono::seconds(1)) return token_;
  checkedAt_ = now;
  std::error_code ec;
  auto mtime = fs::last_write_time(path_, ec);
  auto size = ec ? 0 : fs::file_size(path_, ec);
  if (ec) {
    if (loaded_) return token_;  // keep the last good token while the file is being replaced
    return Error{ErrorCode::kUnauthenticated, "cannot read token file " + path_.string()};
  }
  if (loaded_ && mtime == mtime_ && size == size_) return token_;
  auto contents = readFile(path_);
  if (!contents) {
    if (loaded_) return token_;
    return Error{ErrorCode::kUnauthenticated, contents.error().message};
  }
  token_ = trim(*contents);
  mtime_ = mtime;
  size_ = size;
  loaded_ = true;
  return token_;
}

void TokenFile::invalidate() {
  std::lock_guard lock(mu_);
  checkedAt_ = {};
  mtime_ = {};
}

Result<KubeConfig> parseKubeconfig(const std::string& yaml, const fs::path& baseDir,
                                   const std::string& context) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml);
  } catch (const YAML::Exception& e) {
    return invalid(std::string("kubeconfig is not valid YAML: ") + e.what());
  }
  if (!root.IsMap()) return invalid("kubeconfig is not a YAML mapping");

  KubeConfig cfg;
  cfg.contextName = context.empty() ? scalar(root, "current-context") : context;
  if (cfg.contextName.empty()) return invalid("kubeconfig has no current-context");
  auto ctx = findNamed(root["contexts"], "context", cfg.contextName);
  if (!ctx || !ctx.IsMap()) return invalid("kubeconfig has no context " + cfg.contextName);

  auto clusterName = scalar(ctx, "cluster");
  auto cluster = findNamed(root["clusters"], "cluster", clusterName);
  if (!cluster || !cluster.IsMap()) return invalid("kubeconfig has no cluster " + clusterName);
  cfg.server = scalar(cluster, "server");
  if (cfg.server.empty()) return invalid("cluster " + clusterName + " has no server");
  while (!cfg.server.empty() && cfg.server.back() == '/') cfg.server.pop_back();
  cfg.insecureSkipTlsVerify = scalar(cluster, "insecure-skip-tls-verify") == "true";
  auto ca = pemField(cluster, "certificate-authority", baseDir);
  if (!ca) return ca.error();
  cfg.caPem = std::move(*ca);

  auto userName = scalar(ctx, "user");
  auto user = findNamed(root["users"], "user", userName);
  if (!userName.empty() && user && user.IsMap()) {
    auto cert = pemField(user, "client-certificate", baseDir);
    if (!cert) return cert.error();
    auto key = pemField(user, "client-key", baseDir);
    if (!key) return key.error();
    cfg.clientCertPem = std::move(*cert);
    cfg.clientKeyPem = std::move(*key);
    if (cfg.clientCertPem.empty() != cfg.clientKeyPem.empty()) {
      return invalid("user " + userName + " needs both a client certificate and a client key");
    }
    cfg.token = scalar(user, "token");
    auto tokenFile = scalar(user, "tokenFile");
    if (!tokenFile.empty()) {
      fs::path p(tokenFile);
      if (p.is_relative()) p = baseDir / p;
      cfg.tokenFile = p.string();
    }
    if (user["exec"] || user["auth-provider"]) {
      if (cfg.clientCertPem.empty() && cfg.token.empty() && cfg.tokenFile.empty()) {
        return invalid("user " + userName + ": exec and auth-provider plugins are not supported");
      }
    }
  } else if (!userName.empty()) {
    return invalid("kubeconfig has no user " + userName);
  }
  auto ns = scalar(ctx, "namespace");
  if (!ns.empty()) cfg.ns = ns;
  return cfg;
}

Result<KubeConfig> loadKubeconfigFile(const fs::path& path, const std::string& context) {
  auto text = readFile(path);
  if (!text) return text.error();
  auto cfg = parseKubeconfig(*text, path.parent_path(), context);
  if (!cfg) return Error{cfg.error().code, path.string() + ": " + cfg.error().message};
  return cfg;
}

Result<KubeConfig> loadInClusterConfig(const InClusterPaths& paths) {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (!host || !*host || !port || !*port) {
    return Error{ErrorCode::kNotFound,
                 "not running in a cluster: KUBERNETES_SERVICE_HOST/PORT are not set"};
  }
  KubeConfig cfg;
  std::string h(host);
  if (h.find(':') != std::string::npos) h = "[" + h + "]";  // IPv6
  cfg.server = "https://" + h + ":" + port;
  cfg.tokenFile = (paths.dir / "token").string();
  if (!fs::exists(cfg.tokenFile)) return invalid("no service-account token at " + cfg.tokenFile);
  auto ca = readFile(paths.dir / "ca.crt");
  if (!ca) return invalid(ca.error().message);
  cfg.caPem = std::move(*ca);
  if (auto ns = readFile(paths.dir / "namespace"); ns && !trim(*ns).empty()) cfg.ns = trim(*ns);
  cfg.contextName = "in-cluster";
  return cfg;
}

Result<KubeConfig> loadDefaultConfig() {
  if (const char* env = std::getenv("KUBECONFIG"); env && *env) {
    std::stringstream list(env);
    std::string item;
    while (std::getline(list, item, ':')) {
      if (!item.empty() && fs::exists(item)) return loadKubeconfigFile(item);
    }
    return Error{ErrorCode::kNotFound, std::string("no file of KUBECONFIG exists: ") + env};
  }
  if (const char* home = std::getenv("HOME"); home && *home) {
    fs::path p = fs::path(home) / ".kube" / "config";
    if (fs::exists(p)) return loadKubeconfigFile(p);
  }
  return loadInClusterConfig();
}

}  // namespace kappa::kube
