// HttpKubeApi: the KubeApi port over HTTP/1.1 (Boost.Beast on Asio, OpenSSL for TLS).
//
// TLS client certificates, the CA and bearer tokens come from a KubeConfig; a token file is
// re-read when it changes and once more after a 401. Every request first takes a token from
// a client-side token bucket (qps/burst), then runs under a bounded timeout. A request runs
// on the calling thread, over a kept-alive connection from a small pool (TCP_NODELAY set);
// a pooled connection the server has closed is dropped before use, and an idempotent
// request (GET, PUT, DELETE) that finds its pooled connection closed with nothing of a
// response back is sent again once, on a new connection. Each watch gets a connection of its
// own, so cancelling it shuts down exactly that socket; the body is read line by line as
// chunks arrive.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "runtime/kube/kube_api.h"
#include "runtime/kube/kube_config.h"
#include "runtime/kube/rate_limiter.h"

namespace kappa::kube {

struct ClientOptions {
  double qps = 50;
  int burst = 100;
  // Bound on each step of a request (connect, TLS handshake, send, response headers) and on
  // the silence between two reads of a response body.
  std::chrono::milliseconds requestTimeout{30000};
  // A watch asks the server to end it after this long (ListOptions::timeout overrides), and
  // gives up on a silent connection after that plus watchGrace.
  std::chrono::seconds watchTimeout{300};
  std::chrono::seconds watchGrace{30};
  std::string userAgent = "kappa-operator";
};

class HttpKubeApi final : public KubeApi {
 public:
  // Fails with kInvalidArgument when the TLS material does not load.
  static Result<std::unique_ptr<HttpKubeApi>> create(KubeConfig config, ClientOptions options = {});
  ~HttpKubeApi() override;

  Result<Json> get(const ObjectRef& ref) override;
  Result<ObjectList> list(const CollectionRef& ref, const ListOptions& options) override;
  Result<Json> create(const CollectionRef& ref, const Json& obj,
                      const WriteOptions& options = {}) override;
  Result<Json> update(const ObjectRef& ref, const Json& obj,
                      const WriteOptions& options = {}) override;
  Result<Json> patch(const ObjectRef& ref, PatchType type, const Json& body,
                     const PatchOptions& options = {}) override;
  Result<Json> remove(const ObjectRef& ref, const DeleteOptions& options = {}) override;
  Result<WatchStreamPtr> watch(const CollectionRef& ref, const ListOptions& options) override;

  // Any request: method, path with query (already encoded), optional JSON body. Returns the
  // parsed response (null for an empty body).
  Result<Json> request(const std::string& method, const std::string& pathAndQuery,
                       const std::optional<std::string>& body = std::nullopt,
                       const std::string& contentType = "application/json");

  const KubeConfig& config() const { return config_; }
  const ClientOptions& options() const { return options_; }

 private:
  struct Impl;
  HttpKubeApi(KubeConfig config, ClientOptions options, std::unique_ptr<Impl> impl);

  KubeConfig config_;
  ClientOptions options_;
  std::unique_ptr<Impl> impl_;
};

// Percent-encodes a query parameter value.
std::string urlEncode(std::string_view s);

}  // namespace kappa::kube
