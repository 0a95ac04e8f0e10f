#include "runtime/kube/admission_server.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <mutex>
#include <thread>

#include "runtime/kube/tcp_listen.h"

namespace kappa::kube {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;

namespace {

constexpr auto kRequestTimeout = std::chrono::seconds(10);
// The apiserver's own request limit is 3 MiB; an AdmissionReview holds one object (twice on
// an update).
constexpr std::uint64_t kBodyLimit = 7 * 1024 * 1024;
// After a failed accept (out of file descriptors, say), wait before the next one.
constexpr auto kAcceptBackoff = std::chrono::milliseconds(100);

struct Session : std::enable_shared_from_this<Session> {
  Session(tcp::socket s, std::shared_ptr<ssl::context> c)
      : context(std::move(c)), stream(std::move(s), *context) {}
  std::shared_ptr<ssl::context> context;  // outlives the stream that uses it
  beast::ssl_stream<beast::tcp_stream> stream;
  beast::flat_buffer buffer;
  std::optional<http::request_parser<http::string_body>> parser;
  http::response<http::string_body> response;
};

// Modification time in nanoseconds; -1 when the file cannot be read.
std::int64_t mtimeOf(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return -1;
  return std::int64_t(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

Result<std::shared_ptr<ssl::context>> loadContext(const std::string& cert, const std::string& key) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  beast::error_code ec;
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                       ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                       ssl::context::single_dh_use,
                   ec);
  if (!ec) ctx->use_certificate_chain_file(cert, ec);
  if (!ec) ctx->use_private_key_file(key, ssl::context::pem, ec);
  if (ec) {
    return Error{ErrorCode::kInvalidArgument,
                 "webhook certificate " + cert + " / key " + key + ": " + ec.message()};
  }
  return ctx;
}

std::string field(const Json& obj, const char* name) {
  auto it = obj.find(name);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

Result<Json> admissionResponse(const Json& review, const AdmissionValidator& validator) {
  auto request = review.is_object() ? review.find("request") : review.end();
  if (!review.is_object() || request == review.end() || !request->is_object() ||
      field(*request, "uid").empty()) {
    return Error{ErrorCode::kInvalidArgument, "not an AdmissionReview with a request.uid"};
  }
  AdmissionRequest r;
  r.uid = field(*request, "uid");
  r.operation = field(*request, "operation");
  r.ns = field(*request, "namespace");
  r.name = field(*request, "name");
  if (auto o = request->find("object"); o != request->end() && o->is_object()) r.object = *o;
  std::optional<std::string> denial = validator(r);
  Json response = {{"uid", r.uid}, {"allowed", !denial}};
  if (denial) {
    response["status"] = {{"code", 403}, {"reason", "Forbidden"}, {"message", validUtf8(*denial)}};
  }
  std::string apiVersion = field(review, "apiVersion");
  return Json{{"apiVersion", apiVersion.empty() ? "admission.k8s.io/v1" : apiVersion},
              {"kind", "AdmissionReview"},
              {"response", response}};
}

struct AdmissionServer::Impl {
  asio::io_context ioc{1};
  tcp::acceptor acceptor{ioc};
  asio::steady_timer backoff{ioc};
  Options options;
  AdmissionValidator validator;
  std::thread thread;
  std::mutex mu;
  std::shared_ptr<ssl::context> context;
  std::int64_t certMtime = -1, keyMtime = -1;

  // The context for a new connection: reloaded when either file changed since it was loaded.
  std::shared_ptr<ssl::context> currentContext() {
    std::lock_guard lock(mu);
    std::int64_t c = mtimeOf(options.certFile), k = mtimeOf(options.keyFile);
    if (c == certMtime && k == keyMtime) return context;
    auto loaded = loadContext(options.certFile, options.keyFile);
    if (loaded.ok()) {
      context = *loaded;
      spdlog::info("msg=\"webhook certificate loaded\" cert={}", options.certFile);
    } else {
      spdlog::warn("msg=\"webhook certificate not reloaded\" error=\"{}\"", loaded.error().message);
    }
    // Either way, not again until the files change once more.
    certMtime = c;
    keyMtime = k;
    return context;
  }

  void accept() {
    acceptor.async_accept([this](beast::error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted) return;
      if (!ec) {
        serve(std::make_shared<Session>(std::move(socket), currentContext()));
        accept();
        return;
      }
      spdlog::warn("msg=\"webhook accept failed\" error=\"{}\"", ec.message());
      backoff.expires_after(kAcceptBackoff);
      backoff.async_wait([this](beast::error_code e) {
        if (e != asio::error::operation_aborted) accept();
      });
    });
  }

  void serve(const std::shared_ptr<Session>& s) {
    beast::get_lowest_layer(s->stream).expires_after(kRequestTimeout);
    s->stream.async_handshake(ssl::stream_base::server, [this, s](beast::error_code ec) {
      if (ec) {
        spdlog::debug("msg=\"webhook TLS handshake failed\" error=\"{}\"", ec.message());
        return;
      }
      s->parser.emplace();
      s->parser->body_limit(kBodyLimit);
      http::async_read(s->stream, s->buffer, *s->parser, [this, s](beast::error_code ec, size_t) {
        if (ec) return;  // closed, timed out or not HTTP: nothing to answer
        answer(*s);
        http::async_write(s->stream, s->response, [s](beast::error_code, size_t) {
          s->stream.async_shutdown([s](beast::error_code) {});
        });
      });
    });
  }

  void answer(Session& s) {
    const auto& req = s.parser->get();
    auto& res = s.response;
    res.version(req.version());
    res.keep_alive(false);
    auto t = req.target();
    std::string_view path(t.data(), t.size());
    path = path.substr(0, path.find('?'));
    auto plain = [&](http::status status, std::string body) {
      res.result(status);
      res.set(http::field::content_type, "text/plain; charset=utf-8");
      res.body() = std::move(body);
      res.prepare_payload();
    };
    if (path != options.path) return plain(http::status::not_found, "not found");
    if (req.method() != http::verb::post) {
      return plain(http::status::method_not_allowed, "method not allowed");
    }
    if (options.ready && !options.ready()) {
      return plain(http::status::service_unavailable, "not ready: the cache is still syncing");
    }
    Json review = Json::parse(req.body(), nullptr, false);
    Result<Json> response = Error{ErrorCode::kInternal, "not answered"};
    try {
      response = admissionResponse(review, validator);
    } catch (const std::exception& e) {
      // Whatever a request holds, the operator keeps running; the apiserver applies the
      // failure policy.
      spdlog::warn("msg=\"admission review failed\" error=\"{}\"", e.what());
      return plain(http::status::internal_server_error, "admission review failed");
    }
    if (!response.ok()) return plain(http::status::bad_request, response.error().message);
    res.result(http::status::ok);
    res.set(http::field::content_type, "application/json");
    res.body() = response->dump();
    res.prepare_payload();
  }
};

Result<std::unique_ptr<AdmissionServer>> AdmissionServer::start(Options options,
                                                                AdmissionValidator validator) {
  std::string address = options.address;
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  impl->validator = std::move(validator);
  impl->certMtime = mtimeOf(impl->options.certFile);
  impl->keyMtime = mtimeOf(impl->options.keyFile);
  auto loaded = loadContext(impl->options.certFile, impl->options.keyFile);
  if (!loaded.ok()) return loaded.error();
  impl->context = *loaded;
  if (auto listening = listenOn(impl->acceptor, address, "webhook"); !listening.ok()) {
    return listening.error();
  }
  impl->accept();
  impl->thread = std::thread([io = &impl->ioc] { io->run(); });
  return std::unique_ptr<AdmissionServer>(new AdmissionServer(std::move(impl)));
}

AdmissionServer::AdmissionServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

AdmissionServer::~AdmissionServer() {
  impl_->ioc.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

int AdmissionServer::port() const { return impl_->acceptor.local_endpoint().port(); }

}  // namespace kappa::kube
