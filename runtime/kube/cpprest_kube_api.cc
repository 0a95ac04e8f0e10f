#include "runtime/kube/cpprest_kube_api.h"

#include <cpprest/containerstream.h>
#include <cpprest/http_client.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <atomic>
#include <future>
#include <system_error>

#include "runtime/kube/kube_error.h"
#include "runtime/kube/watch_event.h"

namespace kappa::kube {

namespace http = web::http;
namespace client = web::http::client;

std::string urlEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    }
  }
  return out;
}

namespace {

class Query {
 public:
  Query& add(const char* name, const std::string& value) {
    if (value.empty()) return *this;
    q_ += q_.empty() ? '?' : '&';
    q_ += name;
    q_ += '=';
    q_ += urlEncode(value);
    return *this;
  }
  std::string str() const { return q_; }

 private:
  std::string q_;
};

Error transportError(const std::exception& e, const char* what) {
  if (const auto* he = dynamic_cast<const http::http_exception*>(&e)) {
    auto ec = he->error_code();
    if (ec == std::errc::timed_out) {
      return Error{ErrorCode::kTimeout, std::string(what) + ": timed out: " + he->what()};
    }
  }
  return Error{ErrorCode::kUnavailable, std::string(what) + ": " + e.what()};
}

const char* propagationName(PropagationPolicy p) {
  switch (p) {
    case PropagationPolicy::kOrphan:
      return "Orphan";
    case PropagationPolicy::kBackground:
      return "Background";
    case PropagationPolicy::kForeground:
      return "Foreground";
    case PropagationPolicy::kDefault:
      break;
  }
  return "";
}

// Fills in kind and apiVersion on list items (the server leaves them out) so cached objects
// look like watched ones.
void stampItems(Json& list, std::vector<Json>& items) {
  std::string kind = list.value("kind", "");
  if (kind.size() > 4 && kind.ends_with("List")) kind.resize(kind.size() - 4);
  std::string apiVersion = list.value("apiVersion", "");
  for (auto& item : items) {
    if (!kind.empty() && !item.contains("kind")) item["kind"] = kind;
    if (!apiVersion.empty() && !item.contains("apiVersion")) item["apiVersion"] = apiVersion;
  }
}

// The kubeconfig's certificate authorities as one trust store, shared by every connection.
// cpprestsdk gives each new connection its own SSL context with the system roots loaded
// (X509_STORE_set_default_paths: the whole CA bundle parsed, ~0.5 MiB of heap per live
// connection); with a kubeconfig CA the client trusts that CA alone, as kubectl does.
using TrustStore = std::shared_ptr<X509_STORE>;

Result<TrustStore> trustStoreOf(const std::string& caPem) {
  TrustStore store(X509_STORE_new(), X509_STORE_free);
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(caPem.data(), static_cast<int>(caPem.size())), BIO_free);
  if (!store || !bio) return Error{ErrorCode::kInternal, "out of memory"};
  int added = 0;
  while (X509* raw = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    std::unique_ptr<X509, decltype(&X509_free)> cert(raw, X509_free);
    if (X509_STORE_add_cert(store.get(), cert.get()) != 1) {
      return Error{ErrorCode::kInvalidArgument, "certificate authority: not usable"};
    }
    ++added;
  }
  ERR_clear_error();  // the read past the last certificate leaves "no start line" queued
  if (added == 0) {
    return Error{ErrorCode::kInvalidArgument,
                 "certificate authority: no PEM certificate in certificate-authority-data"};
  }
  return store;
}

}  // namespace

struct CppRestKubeApi::Impl {
  KubeConfig config;
  ClientOptions options;
  client::http_client_config clientConfig;
  std::unique_ptr<client::http_client> client;
  std::unique_ptr<TokenFile> tokenFile;
  TokenBucket limiter;
  TrustStore trustStore;  // null: the system roots

  Impl(KubeConfig c, ClientOptions o)
      : config(std::move(c)), options(std::move(o)), limiter(options.qps, options.burst) {}

  client::http_client_config makeClientConfig(std::chrono::milliseconds timeout) const {
    client::http_client_config cc;
    cc.set_timeout(timeout);
    cc.set_validate_certificates(!config.insecureSkipTlsVerify);
    std::string cert = config.clientCertPem, key = config.clientKeyPem;
    cc.set_ssl_context_callback([store = trustStore, cert, key](boost::asio::ssl::context& ctx) {
      // Replaces (and frees) the system roots cpprestsdk loaded into this context.
      if (store) SSL_CTX_set1_cert_store(ctx.native_handle(), store.get());
      if (!cert.empty()) {
        ctx.use_certificate_chain(boost::asio::buffer(cert));
        ctx.use_private_key(boost::asio::buffer(key), boost::asio::ssl::context::pem);
      }
    });
    return cc;
  }

  Result<std::string> bearer() {
    if (tokenFile) return tokenFile->token();
    return config.token;
  }

  // Builds the request with auth headers; the body, if any, is JSON text.
  Result<http::http_request> makeRequest(const std::string& method, const std::string& path,
                                         const std::optional<std::string>& body,
                                         const std::string& contentType) {
    http::http_request req(method);
    try {
      req.set_request_uri(web::uri(path));
    } catch (const std::exception& e) {
      return Error{ErrorCode::kInvalidArgument, "bad request path " + path + ": " + e.what()};
    }
    auto& h = req.headers();
    h.add("Accept", "application/json");
    h.add("User-Agent", options.userAgent);
    auto token = bearer();
    if (!token) return token.error();
    if (!token->empty()) h.add("Authorization", "Bearer " + *token);
    if (body) req.set_body(*body, contentType);
    return req;
  }

  bool takeToken(std::chrono::milliseconds within) {
    return limiter.acquire(TokenBucket::Clock::now() + within);
  }

  Result<Json> send(const std::string& method, const std::string& path,
                    const std::optional<std::string>& body, const std::string& contentType) {
    const std::string what = method + " " + path;
    for (int attempt = 0;; ++attempt) {
      if (!takeToken(options.requestTimeout)) {
        return Error{ErrorCode::kTimeout, what + ": client-side rate limit (" +
                                              std::to_string(options.qps) +
                                              " qps) not met in time"};
      }
      auto req = makeRequest(method, path, body, contentType);
      if (!req) return req.error();
      int status = 0;
      std::string text;
      try {
        auto resp = client->request(*req).get();
        status = resp.status_code();
        text = resp.extract_utf8string(true).get();
      } catch (const std::exception& e) {
        return transportError(e, what.c_str());
      }
      if (status == 401 && tokenFile && attempt == 0) {
        tokenFile->invalidate();  // rotated token: read the file again and retry once
        continue;
      }
      if (status >= 200 && status < 300) {
        if (text.empty()) return Json();
        auto doc = Json::parse(text, nullptr, /*allow_exceptions=*/false);
        if (doc.is_discarded()) {
          return Error{ErrorCode::kInternal, what + ": response is not JSON"};
        }
        return doc;
      }
      auto err = parseStatus(status, text).toError();
      err.message = what + ": " + err.message;
      return err;
    }
  }
};

namespace {

class CppRestWatchStream final : public WatchStream {
 public:
  CppRestWatchStream(std::unique_ptr<client::http_client> client,
                     pplx::cancellation_token_source cts, http::http_response response)
      : client_(std::move(client)),
        cts_(std::move(cts)),
        response_(std::move(response)),
        body_(response_.body()) {}

  ~CppRestWatchStream() override {
    cancel();
    // Let an in-flight read observe the closed socket before the client goes away.
    try {
      response_.content_ready().wait();
    } catch (...) {
    }
  }

  Result<std::optional<WatchEvent>> next() override {
    while (true) {
      if (cancelled_) return std::optional<WatchEvent>();
      concurrency::streams::container_buffer<std::string> line;
      try {
        body_.read_line(line).get();
      } catch (const std::exception& e) {
        if (cancelled_) return std::optional<WatchEvent>();
        return transportError(e, "watch");
      }
      const std::string& text = line.collection();
      if (text.empty()) {
        if (body_.is_eof()) return std::optional<WatchEvent>();
        continue;
      }
      auto ev = parseWatchLine(text);
      if (!ev) return ev.error();
      return std::optional<WatchEvent>(std::move(*ev));
    }
  }

  void cancel() override {
    if (!cancelled_.exchange(true)) cts_.cancel();
  }

 private:
  std::unique_ptr<client::http_client> client_;
  pplx::cancellation_token_source cts_;
  http::http_response response_;
  concurrency::streams::istream body_;
  std::atomic<bool> cancelled_{false};
};

}  // namespace

Result<std::unique_ptr<CppRestKubeApi>> CppRestKubeApi::create(KubeConfig config,
                                                               ClientOptions options) {
  if (config.server.empty()) return Error{ErrorCode::kInvalidArgument, "no apiserver URL"};
  auto impl = std::make_unique<Impl>(config, options);
  if (!config.tokenFile.empty()) impl->tokenFile = std::make_unique<TokenFile>(config.tokenFile);
  if (!config.caPem.empty()) {
    auto store = trustStoreOf(config.caPem);
    if (!store)
      return Error{ErrorCode::kInvalidArgument, "TLS credentials: " + store.error().message};
    impl->trustStore = std::move(*store);
  }
  impl->clientConfig = impl->makeClientConfig(options.requestTimeout);
  // Load the TLS material once now so bad PEM data is reported here, not on each request.
  try {
    boost::asio::ssl::context probe(boost::asio::ssl::context::sslv23);
    impl->clientConfig.get_ssl_context_callback()(probe);
  } catch (const std::exception& e) {
    return Error{ErrorCode::kInvalidArgument, std::string("TLS credentials: ") + e.what()};
  }
  try {
    impl->client =
        std::make_unique<client::http_client>(web::uri(config.server), impl->clientConfig);
  } catch (const std::exception& e) {
    return Error{ErrorCode::kInvalidArgument, "server " + config.server + ": " + e.what()};
  }
  return std::unique_ptr<CppRestKubeApi>(
      new CppRestKubeApi(std::move(config), std::move(options), std::move(impl)));
}

CppRestKubeApi::CppRestKubeApi(KubeConfig config, ClientOptions options, std::unique_ptr<Impl> impl)
    : config_(std::move(config)), options_(std::move(options)), impl_(std::move(impl)) {}

CppRestKubeApi::~CppRestKubeApi() = default;

Result<Json> CppRestKubeApi::request(const std::string& method, const std::string& pathAndQuery,
                                     const std::optional<std::string>& body,
                                     const std::string& contentType) {
  return impl_->send(method, pathAndQuery, body, contentType);
}

Result<Json> CppRestKubeApi::get(const ObjectRef& ref) { return request("GET", ref.path()); }

Result<ObjectList> CppRestKubeApi::list(const CollectionRef& ref, const ListOptions& options) {
  Query q;
  q.add("labelSelector", options.labelSelector)
      .add("fieldSelector", options.fieldSelector)
      .add("limit", options.limit > 0 ? std::to_string(options.limit) : "")
      .add("continue", options.continueToken)
      .add("resourceVersion", options.resourceVersion);
  auto doc = request("GET", ref.path() + q.str());
  if (!doc) return doc.error();
  ObjectList out;
  auto& meta = (*doc)["metadata"];
  if (meta.is_object()) {
    out.resourceVersion = meta.value("resourceVersion", "");
    out.continueToken = meta.value("continue", "");
  }
  if (auto items = doc->find("items"); items != doc->end() && items->is_array()) {
    out.items = std::move(items->get_ref<Json::array_t&>());
  }
  stampItems(*doc, out.items);
  return out;
}

Result<Json> CppRestKubeApi::create(const CollectionRef& ref, const Json& obj,
                                    const WriteOptions& options) {
  Query q;
  q.add("fieldManager", options.fieldManager).add("dryRun", options.dryRun ? "All" : "");
  return request("POST", ref.path() + q.str(), obj.dump());
}

Result<Json> CppRestKubeApi::update(const ObjectRef& ref, const Json& obj,
                                    const WriteOptions& options) {
  Query q;
  q.add("fieldManager", options.fieldManager).add("dryRun", options.dryRun ? "All" : "");
  return request("PUT", ref.path() + q.str(), obj.dump());
}

Result<Json> CppRestKubeApi::patch(const ObjectRef& ref, PatchType type, const Json& body,
                                   const PatchOptions& options) {
  if (type == PatchType::kApply && options.fieldManager.empty()) {
    return Error{ErrorCode::kInvalidArgument, "server-side apply needs a fieldManager"};
  }
  Query q;
  q.add("fieldManager", options.fieldManager)
      .add("force", type == PatchType::kApply && options.force ? "true" : "")
      .add("dryRun", options.dryRun ? "All" : "");
  return request("PATCH", ref.path() + q.str(), body.dump(), patchContentType(type));
}

Result<Json> CppRestKubeApi::remove(const ObjectRef& ref, const DeleteOptions& options) {
  Json body = {{"kind", "DeleteOptions"}, {"apiVersion", "v1"}};
  if (options.propagation != PropagationPolicy::kDefault) {
    body["propagationPolicy"] = propagationName(options.propagation);
  }
  if (!options.uid.empty()) body["preconditions"]["uid"] = options.uid;
  if (!options.resourceVersion.empty()) {
    body["preconditions"]["resourceVersion"] = options.resourceVersion;
  }
  if (options.gracePeriodSeconds) body["gracePeriodSeconds"] = *options.gracePeriodSeconds;
  return request("DELETE", ref.path(), body.dump());
}

Result<WatchStreamPtr> CppRestKubeApi::watch(const CollectionRef& ref, const ListOptions& options) {
  auto serverTimeout = options.timeout.count() > 0 ? options.timeout : options_.watchTimeout;
  Query q;
  q.add("watch", "true")
      .add("labelSelector", options.labelSelector)
      .add("fieldSelector", options.fieldSelector)
      .add("resourceVersion", options.resourceVersion)
      .add("allowWatchBookmarks", options.allowWatchBookmarks ? "true" : "")
      .add("timeoutSeconds", std::to_string(serverTimeout.count()));
  const std::string path = ref.path() + q.str();
  if (!impl_->takeToken(options_.requestTimeout)) {
    return Error{ErrorCode::kTimeout, "watch " + path + ": client-side rate limit not met in time"};
  }
  for (int attempt = 0;; ++attempt) {
    auto req = impl_->makeRequest("GET", path, std::nullopt, "");
    if (!req) return req.error();
    // The response stays open for serverTimeout; the client timer only fires on a connection
    // that has been silent for longer than that.
    auto cfg = impl_->makeClientConfig(
        std::chrono::duration_cast<std::chrono::milliseconds>(serverTimeout + options_.watchGrace));
    std::unique_ptr<client::http_client> watchClient;
    pplx::cancellation_token_source cts;
    http::http_response resp;
    try {
      watchClient = std::make_unique<client::http_client>(web::uri(config_.server), cfg);
      // Headers must arrive within the ordinary request timeout.
      auto task = watchClient->request(*req, cts.get_token());
      auto arrived = std::make_shared<std::promise<void>>();
      auto headers = arrived->get_future();
      task.then([arrived](const pplx::task<http::http_response>& t) {
        // Observe a failure here: pplx raises SIGTRAP for a task exception nobody observed.
        try {
          t.wait();
        } catch (...) {
        }
        arrived->set_value();
      });
      if (headers.wait_for(options_.requestTimeout) == std::future_status::timeout) {
        cts.cancel();
        headers.wait();
        return Error{ErrorCode::kTimeout, "watch " + path + ": no response headers in time"};
      }
      resp = task.get();
    } catch (const std::exception& e) {
      return transportError(e, ("watch " + path).c_str());
    }
    int status = resp.status_code();
    if (status == 200) {
      return WatchStreamPtr(
          std::make_unique<CppRestWatchStream>(std::move(watchClient), std::move(cts), resp));
    }
    std::string text;
    try {
      text = resp.extract_utf8string(true).get();
    } catch (const std::exception&) {
    }
    if (status == 401 && impl_->tokenFile && attempt == 0) {
      impl_->tokenFile->invalidate();
      continue;
    }
    auto err = parseStatus(status, text).toError();
    err.message = "watch " + path + ": " + err.message;
    return err;
  }
}

}  // namespace kappa::kube
