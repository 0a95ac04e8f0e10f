#include "runtime/kube/http_kube_api.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cctype>
#include <cerrno>
#include <limits>
#include <mutex>
#include <span>
#include <vector>

#include "runtime/kube/kube_error.h"
#include "runtime/kube/watch_event.h"

namespace kappa::kube {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;

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

Error transportError(const beast::error_code& ec, const std::string& what) {
  if (ec == beast::error::timeout) return Error{ErrorCode::kTimeout, what + ": timed out"};
  return Error{ErrorCode::kUnavailable, what + ": " + ec.message()};
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

// The kubeconfig's certificate authorities as one trust store, in the one TLS context every
// connection shares: with a kubeconfig CA the client trusts that CA alone, as kubectl does.
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

// Where config.server points: scheme, host, port and an optional path prefix (a server URL
// behind a proxy may carry one; every request path goes below it).
struct Server {
  bool tls = true;
  std::string host;
  std::string port;
  std::string hostHeader;  // host[:port] as written in the URL
  std::string basePath;    // "" or "/prefix" (no trailing slash)
  bool hostIsAddress = false;
};

Result<Server> parseServer(const std::string& url) {
  auto bad = [&](const std::string& why) {
    return Error{ErrorCode::kInvalidArgument, "server " + url + ": " + why};
  };
  Server s;
  std::string_view u = url;
  if (u.starts_with("https://")) {
    u.remove_prefix(8);
  } else if (u.starts_with("http://")) {
    s.tls = false;
    u.remove_prefix(7);
  } else {
    return bad("the URL must start with https:// or http://");
  }
  auto slash = u.find('/');
  std::string_view authority = u.substr(0, slash);
  if (slash != std::string_view::npos) {
    std::string_view path = u.substr(slash);
    while (!path.empty() && path.back() == '/') path.remove_suffix(1);
    s.basePath = path;
  }
  if (authority.empty()) return bad("no host");
  s.hostHeader = authority;
  std::string_view rest;
  if (authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos) return bad("unterminated [IPv6 address]");
    s.host = authority.substr(1, close - 1);
    rest = authority.substr(close + 1);
  } else {
    auto colon = authority.find(':');
    s.host = authority.substr(0, colon);
    if (colon != std::string_view::npos) rest = authority.substr(colon);
  }
  if (!rest.empty()) {
    if (rest.front() != ':' || rest.size() == 1) return bad("bad port");
    s.port = rest.substr(1);
    for (char c : s.port) {
      if (!std::isdigit(static_cast<unsigned char>(c))) return bad("bad port '" + s.port + "'");
    }
  }
  if (s.host.empty()) return bad("no host");
  if (s.port.empty()) s.port = s.tls ? "443" : "80";
  beast::error_code ec;
  asio::ip::make_address(s.host, ec);
  s.hostIsAddress = !ec;
  return s;
}

// A request path must be a path: no spaces or control characters, which would otherwise end
// up inside the request line.
bool validTarget(std::string_view path) {
  if (path.empty() || path.front() != '/') return false;
  for (unsigned char c : path) {
    if (c <= ' ' || c == 0x7f) return false;
  }
  return true;
}

bool idempotent(http::verb v) {
  return v == http::verb::get || v == http::verb::head || v == http::verb::put ||
         v == http::verb::delete_ || v == http::verb::options;
}

// One connection to the apiserver with an io_context of its own: a request runs its
// asynchronous steps on the calling thread (run() returns when the step completes), and a
// step's timeout closes the socket (beast::tcp_stream).
class Connection {
 public:
  explicit Connection(ssl::context* tls) {
    if (tls) {
      tls_ = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(ioc_, *tls);
    } else {
      tcp_ = std::make_unique<beast::tcp_stream>(ioc_);
    }
  }

  beast::tcp_stream& lowest() { return tls_ ? tls_->next_layer() : *tcp_; }

  // Runs one asynchronous step, started by start(stream, handler), to completion.
  template <class Start>
  beast::error_code step(std::chrono::milliseconds timeout, Start&& start) {
    return run(timeout, [&](auto& done) {
      if (tls_) {
        start(*tls_, done);
      } else {
        start(*tcp_, done);
      }
    });
  }

  beast::error_code open(const Server& server, std::chrono::milliseconds timeout) {
    beast::error_code ec;
    tcp::resolver resolver(ioc_);
    auto endpoints = resolver.resolve(server.host, server.port, ec);
    if (ec) return ec;
    ec = run(timeout, [&](auto& done) { lowest().async_connect(endpoints, done); });
    if (ec) return ec;
    lowest().socket().set_option(tcp::no_delay(true), ec);
    if (!tls_) return {};
    SSL* ssl = tls_->native_handle();
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    if (server.hostIsAddress) {
      X509_VERIFY_PARAM_set1_ip_asc(param, server.host.c_str());
    } else {
      SSL_set_tlsext_host_name(ssl, server.host.c_str());
      X509_VERIFY_PARAM_set1_host(param, server.host.c_str(), server.host.size());
    }
    return run(timeout, [&](auto& done) { tls_->async_handshake(ssl::stream_base::client, done); });
  }

  // An idle kept-alive connection is fit to reuse when the server has neither closed it nor
  // sent anything on it since the last response.
  bool stillOpen() {
    char byte;
    ssize_t n = ::recv(lowest().socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }

  // Called from another thread: shuts the socket down on the connection's own thread, in
  // the step running there now or at the start of the next one, which then ends at once.
  // (Never on a bare descriptor number: a step's timeout closes the socket, and the number
  // may already belong to another connection.)
  void shutdownSocket() {
    asio::post(ioc_, [this] {
      beast::error_code ignored;
      lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
    });
  }

  beast::flat_buffer& buffer() { return buffer_; }
  bool reused = false;

 private:
  // Starts an asynchronous operation with start(handler) and runs it to completion.
  template <class Start>
  beast::error_code run(std::chrono::milliseconds timeout, Start&& start) {
    beast::error_code result;
    auto done = [&result](beast::error_code ec, auto&&...) { result = ec; };
    lowest().expires_after(timeout);
    start(done);
    ioc_.restart();
    ioc_.run();
    return result;
  }

  asio::io_context ioc_{1};
  std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> tls_;
  std::unique_ptr<beast::tcp_stream> tcp_;
  beast::flat_buffer buffer_;
};

using Request = http::request<http::string_body>;

// Reads the response headers; afterwards the body (into the parser's body type).
template <class Parser>
beast::error_code readHeader(Connection& c, Parser& parser, std::chrono::milliseconds timeout) {
  while (!parser.is_header_done()) {
    auto ec = c.step(
        timeout, [&](auto& s, auto& done) { http::async_read_some(s, c.buffer(), parser, done); });
    if (ec) return ec;
  }
  return {};
}

// Reads the next piece of a body (buffer_body) into out: what one read brought, up to
// chunk's size. A full chunk (need_buffer) is no error.
template <class Parser>
beast::error_code readPiece(Connection& c, Parser& parser, std::span<char> chunk,
                            std::chrono::milliseconds timeout, std::string& out) {
  auto& body = parser.get().body();
  body.data = chunk.data();
  body.size = chunk.size();
  auto ec = c.step(
      timeout, [&](auto& s, auto& done) { http::async_read_some(s, c.buffer(), parser, done); });
  if (ec == http::error::need_buffer) ec = {};
  out.append(chunk.data(), chunk.size() - body.size);
  return ec;
}

}  // namespace

struct HttpKubeApi::Impl {
  KubeConfig config;
  ClientOptions options;
  Server server;
  std::unique_ptr<ssl::context> tls;  // null for http://
  std::unique_ptr<TokenFile> tokenFile;
  TokenBucket limiter;
  std::mutex poolMutex;
  std::vector<std::unique_ptr<Connection>> idle;  // kept-alive connections, most recent last
  static constexpr size_t kMaxIdle = 8;

  Impl(KubeConfig c, ClientOptions o)
      : config(std::move(c)), options(std::move(o)), limiter(options.qps, options.burst) {}

  Result<std::string> bearer() {
    if (tokenFile) return tokenFile->token();
    return config.token;
  }

  bool takeToken(std::chrono::milliseconds within) { return limiter.acquireWithin(within); }

  Result<Request> makeRequest(const std::string& method, const std::string& path,
                              const std::optional<std::string>& body,
                              const std::string& contentType) {
    auto verb = http::string_to_verb(method);
    if (verb == http::verb::unknown) {
      return Error{ErrorCode::kInvalidArgument, "unknown HTTP method " + method};
    }
    if (!validTarget(path)) return Error{ErrorCode::kInvalidArgument, "bad request path " + path};
    Request req{verb, server.basePath + path, 11};
    req.set(http::field::host, server.hostHeader);
    req.set(http::field::accept, "application/json");
    req.set(http::field::user_agent, options.userAgent);
    auto token = bearer();
    if (!token) return token.error();
    if (!token->empty()) req.set(http::field::authorization, "Bearer " + *token);
    if (body) {
      req.set(http::field::content_type, contentType);
      req.body() = *body;
    }
    req.prepare_payload();
    return req;
  }

  // A kept-alive connection the server has not closed, or a new one.
  Result<std::unique_ptr<Connection>> connection(const std::string& what) {
    while (true) {
      std::unique_ptr<Connection> c;
      {
        std::lock_guard lock(poolMutex);
        if (idle.empty()) break;
        c = std::move(idle.back());
        idle.pop_back();
      }
      if (!c->stillOpen()) continue;
      c->reused = true;
      return c;
    }
    return connect(what, options.requestTimeout);
  }

  Result<std::unique_ptr<Connection>> connect(const std::string& what,
                                              std::chrono::milliseconds timeout) {
    auto c = std::make_unique<Connection>(tls.get());
    if (auto ec = c->open(server, timeout)) return transportError(ec, what);
    return c;
  }

  void release(std::unique_ptr<Connection> c) {
    std::lock_guard lock(poolMutex);
    if (idle.size() < kMaxIdle) idle.push_back(std::move(c));
  }

  Result<Json> send(const std::string& method, const std::string& path,
                    const std::optional<std::string>& body, const std::string& contentType) {
    const std::string what = method + " " + path;
    const auto timeout = options.requestTimeout;
    bool retriedStale = false;
    for (int attempt = 0;;) {
      if (!takeToken(timeout)) {
        return Error{ErrorCode::kTimeout, what + ": client-side rate limit (" +
                                              std::to_string(options.qps) +
                                              " qps) not met in time"};
      }
      auto req = makeRequest(method, path, body, contentType);
      if (!req) return req.error();
      auto conn = connection(what);
      if (!conn) return conn.error();
      Connection& c = **conn;
      http::response_parser<http::string_body> parser;
      parser.header_limit(64 * 1024);
      parser.body_limit(std::numeric_limits<std::uint64_t>::max());
      auto ec = c.step(timeout, [&](auto& s, auto& done) { http::async_write(s, *req, done); });
      if (!ec) ec = readHeader(c, parser, timeout);
      // The server closed a kept-alive connection just as it was taken from the pool: nothing
      // of a response came back, so an idempotent request is sent again, once, on a new
      // connection. (A POST or PATCH may have been applied; its error goes to the caller.)
      if (ec && c.reused && !parser.got_some() && ec != beast::error::timeout && !retriedStale &&
          idempotent(req->method())) {
        retriedStale = true;
        continue;
      }
      while (!ec && !parser.is_done()) {
        ec = c.step(timeout, [&](auto& s, auto& done) {
          http::async_read_some(s, c.buffer(), parser, done);
        });
      }
      if (ec) return transportError(ec, what);
      auto& resp = parser.get();
      int status = static_cast<int>(resp.result_int());
      if (resp.keep_alive()) release(std::move(*conn));
      if (status == 401 && tokenFile && attempt == 0) {
        tokenFile->invalidate();  // rotated token: read the file again and retry once
        ++attempt;
        continue;
      }
      const std::string& text = resp.body();
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

// A watch response: its own connection, the body read in pieces as the server sends them
// and split into lines (one event each).
class HttpWatchStream final : public WatchStream {
 public:
  HttpWatchStream(std::unique_ptr<Connection> conn,
                  std::unique_ptr<http::response_parser<http::buffer_body>> parser,
                  std::chrono::milliseconds silence)
      : conn_(std::move(conn)), parser_(std::move(parser)), silence_(silence) {}

  ~HttpWatchStream() override { cancel(); }

  Result<std::optional<WatchEvent>> next() override {
    while (true) {
      if (cancelled_) return std::optional<WatchEvent>();
      auto nl = pending_.find('\n', scanned_);
      if (nl != std::string::npos || (parser_->is_done() && !pending_.empty())) {
        if (nl == std::string::npos) nl = pending_.size();  // the last line, unterminated
        std::string line = pending_.substr(0, nl);
        pending_.erase(0, std::min(nl + 1, pending_.size()));
        scanned_ = 0;
        if (line.empty() || line == "\r") continue;
        auto ev = parseWatchLine(line);
        if (!ev) return ev.error();
        return std::optional<WatchEvent>(std::move(*ev));
      }
      scanned_ = pending_.size();
      if (parser_->is_done()) return std::optional<WatchEvent>();  // the server ended it
      if (auto ec = readPiece(*conn_, *parser_, chunk_, silence_, pending_)) {
        if (cancelled_) return std::optional<WatchEvent>();
        return transportError(ec, "watch");
      }
    }
  }

  void cancel() override {
    if (!cancelled_.exchange(true)) conn_->shutdownSocket();
  }

 private:
  std::unique_ptr<Connection> conn_;
  std::unique_ptr<http::response_parser<http::buffer_body>> parser_;
  std::chrono::milliseconds silence_;
  std::string pending_;
  size_t scanned_ = 0;  // pending_[0, scanned_) holds no newline
  char chunk_[16 * 1024];
  std::atomic<bool> cancelled_{false};
};

}  // namespace

Result<std::unique_ptr<HttpKubeApi>> HttpKubeApi::create(KubeConfig config, ClientOptions options) {
  if (config.server.empty()) return Error{ErrorCode::kInvalidArgument, "no apiserver URL"};
  auto server = parseServer(config.server);
  if (!server) return server.error();
  auto impl = std::make_unique<Impl>(config, options);
  impl->server = std::move(*server);
  if (!config.tokenFile.empty()) impl->tokenFile = std::make_unique<TokenFile>(config.tokenFile);
  if (impl->server.tls) {
    // The TLS material is loaded once, now, so bad PEM data is reported here and not on
    // each request.
    try {
      auto ctx = std::make_unique<ssl::context>(ssl::context::tls_client);
      ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                       ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
      if (config.insecureSkipTlsVerify) {
        ctx->set_verify_mode(ssl::verify_none);
      } else {
        ctx->set_verify_mode(ssl::verify_peer);
        if (!config.caPem.empty()) {
          auto store = trustStoreOf(config.caPem);
          if (!store) {
            return Error{ErrorCode::kInvalidArgument, "TLS credentials: " + store.error().message};
          }
          SSL_CTX_set1_cert_store(ctx->native_handle(), store->get());
        } else {
          ctx->set_default_verify_paths();
        }
      }
      if (!config.clientCertPem.empty() || !config.clientKeyPem.empty()) {
        ctx->use_certificate_chain(asio::buffer(config.clientCertPem));
        ctx->use_private_key(asio::buffer(config.clientKeyPem), ssl::context::pem);
      }
      impl->tls = std::move(ctx);
    } catch (const std::exception& e) {
      return Error{ErrorCode::kInvalidArgument, std::string("TLS credentials: ") + e.what()};
    }
  }
  return std::unique_ptr<HttpKubeApi>(
      new HttpKubeApi(std::move(config), std::move(options), std::move(impl)));
}

HttpKubeApi::HttpKubeApi(KubeConfig config, ClientOptions options, std::unique_ptr<Impl> impl)
    : config_(std::move(config)), options_(std::move(options)), impl_(std::move(impl)) {}

HttpKubeApi::~HttpKubeApi() = default;

Result<Json> HttpKubeApi::request(const std::string& method, const std::string& pathAndQuery,
                                  const std::optional<std::string>& body,
                                  const std::string& contentType) {
  return impl_->send(method, pathAndQuery, body, contentType);
}

Result<Json> HttpKubeApi::get(const ObjectRef& ref) { return request("GET", ref.path()); }

Result<ObjectList> HttpKubeApi::list(const CollectionRef& ref, const ListOptions& options) {
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

Result<Json> HttpKubeApi::create(const CollectionRef& ref, const Json& obj,
                                 const WriteOptions& options) {
  Query q;
  q.add("fieldManager", options.fieldManager).add("dryRun", options.dryRun ? "All" : "");
  return request("POST", ref.path() + q.str(), obj.dump());
}

Result<Json> HttpKubeApi::update(const ObjectRef& ref, const Json& obj,
                                 const WriteOptions& options) {
  Query q;
  q.add("fieldManager", options.fieldManager).add("dryRun", options.dryRun ? "All" : "");
  return request("PUT", ref.path() + q.str(), obj.dump());
}

Result<Json> HttpKubeApi::patch(const ObjectRef& ref, PatchType type, const Json& body,
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

Result<Json> HttpKubeApi::remove(const ObjectRef& ref, const DeleteOptions& options) {
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

Result<WatchStreamPtr> HttpKubeApi::watch(const CollectionRef& ref, const ListOptions& options) {
  auto serverTimeout = options.timeout.count() > 0 ? options.timeout : options_.watchTimeout;
  Query q;
  q.add("watch", "true")
      .add("labelSelector", options.labelSelector)
      .add("fieldSelector", options.fieldSelector)
      .add("resourceVersion", options.resourceVersion)
      .add("allowWatchBookmarks", options.allowWatchBookmarks ? "true" : "")
      .add("timeoutSeconds", std::to_string(serverTimeout.count()));
  const std::string path = ref.path() + q.str();
  const std::string what = "watch " + path;
  const auto timeout = options_.requestTimeout;
  if (!impl_->takeToken(timeout)) {
    return Error{ErrorCode::kTimeout, what + ": client-side rate limit not met in time"};
  }
  for (int attempt = 0;; ++attempt) {
    auto req = impl_->makeRequest("GET", path, std::nullopt, "");
    if (!req) return req.error();
    // A connection of its own, so that cancelling the watch closes exactly this socket.
    auto conn = impl_->connect(what, timeout);
    if (!conn) return conn.error();
    Connection& c = **conn;
    auto parser = std::make_unique<http::response_parser<http::buffer_body>>();
    parser->header_limit(64 * 1024);
    parser->body_limit(std::numeric_limits<std::uint64_t>::max());
    // Headers must arrive within the ordinary request timeout.
    auto ec = c.step(timeout, [&](auto& s, auto& done) { http::async_write(s, *req, done); });
    if (!ec) ec = readHeader(c, *parser, timeout);
    if (ec) return transportError(ec, what);
    int status = static_cast<int>(parser->get().result_int());
    if (status == 200) {
      // The response stays open for serverTimeout; a connection silent for longer than that
      // plus the grace is given up.
      auto silence = std::chrono::duration_cast<std::chrono::milliseconds>(serverTimeout +
                                                                           options_.watchGrace);
      return WatchStreamPtr(
          std::make_unique<HttpWatchStream>(std::move(*conn), std::move(parser), silence));
    }
    std::string text;
    char chunk[4096];
    while (!parser->is_done() && text.size() < (1u << 20)) {
      if (readPiece(c, *parser, chunk, timeout, text)) break;
    }
    if (status == 401 && impl_->tokenFile && attempt == 0) {
      impl_->tokenFile->invalidate();
      continue;
    }
    auto err = parseStatus(status, text).toError();
    err.message = what + ": " + err.message;
    return err;
  }
}

}  // namespace kappa::kube
