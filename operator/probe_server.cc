#include "operator/probe_server.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <thread>

#include "runtime/kube/tcp_listen.h"

namespace kappa::op {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;

namespace {

constexpr auto kRequestTimeout = std::chrono::seconds(5);

struct Session : std::enable_shared_from_this<Session> {
  explicit Session(tcp::socket s) : stream(std::move(s)) {}
  beast::tcp_stream stream;
  beast::flat_buffer buffer;
  http::request<http::string_body> request;
  http::response<http::string_body> response;
};

}  // namespace

struct ProbeServer::Impl {
  asio::io_context ioc{1};
  tcp::acceptor acceptor{ioc};
  std::function<bool()> ready;
  std::thread thread;

  void accept() {
    acceptor.async_accept([this](beast::error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted) return;
      if (!ec) serve(std::make_shared<Session>(std::move(socket)));
      accept();
    });
  }

  void serve(const std::shared_ptr<Session>& s) {
    s->stream.expires_after(kRequestTimeout);
    http::async_read(s->stream, s->buffer, s->request, [this, s](beast::error_code ec, size_t) {
      if (ec) return;  // closed, timed out or not HTTP: nothing to answer
      auto t = s->request.target();
      std::string_view target(t.data(), t.size());
      std::string_view path = target.substr(0, target.find('?'));
      auto& res = s->response;
      res.version(s->request.version());
      res.keep_alive(false);
      res.set(http::field::content_type, "text/plain; charset=utf-8");
      if (s->request.method() != http::verb::get && s->request.method() != http::verb::head) {
        res.result(http::status::method_not_allowed);
        res.body() = "method not allowed";
      } else if (path == "/healthz") {
        res.result(http::status::ok);
        res.body() = "ok";
      } else if (path == "/readyz") {
        bool ok = ready();
        res.result(ok ? http::status::ok : http::status::service_unavailable);
        res.body() = ok ? "ok" : "informer not synced";
      } else {
        res.result(http::status::not_found);
        res.body() = "not found";
      }
      res.prepare_payload();
      http::async_write(s->stream, res, [s](beast::error_code, size_t) {
        beast::error_code ignored;
        s->stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
      });
    });
  }
};

Result<std::unique_ptr<ProbeServer>> ProbeServer::start(const std::string& address,
                                                        std::function<bool()> ready) {
  auto impl = std::make_unique<Impl>();
  impl->ready = std::move(ready);
  if (auto listening = kube::listenOn(impl->acceptor, address, "health probe"); !listening.ok()) {
    return listening.error();
  }
  impl->accept();
  impl->thread = std::thread([io = &impl->ioc] { io->run(); });
  return std::unique_ptr<ProbeServer>(new ProbeServer(std::move(impl)));
}

ProbeServer::ProbeServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ProbeServer::~ProbeServer() {
  impl_->ioc.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

int ProbeServer::port() const { return impl_->acceptor.local_endpoint().port(); }

}  // namespace kappa::op
