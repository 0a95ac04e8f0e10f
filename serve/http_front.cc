#include "serve/http_front.h"

#include <prometheus/text_serializer.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "runtime/kube/tcp_listen.h"

namespace kappa::serve {

using Json = nlohmann::json;

namespace {

HttpAnswer text(int status, std::string body) {
  return {status, "text/plain; charset=utf-8", std::move(body), {}};
}

// `value` as it goes into an answer: itself when it is a JSON document, else a JSON string.
std::string embed(const std::string& value) {
  if (Json::accept(value)) return value;
  return Json(value).dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string jsonString(std::string_view s) {
  return Json(std::string(s)).dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace

std::optional<std::string> percentDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    if (i + 2 >= s.size()) return std::nullopt;
    int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

ServeFront::ServeFront(const ServingView& view)
    : view_(view),
      registry_(std::make_shared<prometheus::Registry>()),
      requests_(prometheus::BuildCounter()
                    .Name("kappa_serve_requests_total")
                    .Help("HTTP requests answered, by status code")
                    .Register(*registry_)),
      latency_(
          prometheus::BuildHistogram()
              .Name("kappa_serve_request_seconds")
              .Help("Time to answer a request, from its parse to its write")
              .Register(*registry_)
              .Add({}, prometheus::Histogram::BucketBoundaries{0.00005, 0.0001, 0.00025, 0.0005,
                                                               0.001, 0.0025, 0.005, 0.01, 0.025,
                                                               0.05, 0.1, 0.25, 1})),
      keys_(prometheus::BuildGauge()
                .Name("kappa_serve_keys")
                .Help("Keys in the view that answers")
                .Register(*registry_)
                .Add({})),
      versionInfo_(prometheus::BuildGauge()
                       .Name("kappa_serve_version_info")
                       .Help("1 for the version (and its output topic) whose view answers")
                       .Register(*registry_)),
      swaps_(prometheus::BuildGauge()
                 .Name("kappa_serve_swaps")
                 .Help("Views swapped in after the first (one per flip followed)")
                 .Register(*registry_)
                 .Add({})),
      unalignedSwaps_(prometheus::BuildGauge()
                          .Name("kappa_serve_unaligned_swaps")
                          .Help("Swaps made at the alignment timeout, before the new view "
                                "reached the serving view's source position")
                          .Register(*registry_)
                          .Add({})),
      lastSwapSeconds_(prometheus::BuildGauge()
                           .Name("kappa_serve_last_swap_seconds")
                           .Help("Alias change seen -> the new view answering, last swap")
                           .Register(*registry_)
                           .Add({})),
      lagRecords_(prometheus::BuildGauge()
                      .Name("kappa_serve_view_lag_records")
                      .Help("Offsets of the serving output not yet applied to the view")
                      .Register(*registry_)
                      .Add({})),
      buildRate_(prometheus::BuildGauge()
                     .Name("kappa_serve_last_build_records_per_second")
                     .Help("Records per second of the last view built, read to its end")
                     .Register(*registry_)
                     .Add({})),
      building_(prometheus::BuildGauge()
                    .Name("kappa_serve_building")
                    .Help("1 while a new version's view is being built")
                    .Register(*registry_)
                    .Add({})),
      ready_(prometheus::BuildGauge()
                 .Name("kappa_serve_ready")
                 .Help("1 once a first view is built")
                 .Register(*registry_)
                 .Add({})) {}

HttpAnswer ServeFront::handle(std::string_view method, std::string_view target) {
  if (method != "GET" && method != "HEAD") return text(405, "method not allowed");
  std::string_view path = target.substr(0, target.find('?'));
  if (path == "/healthz") return text(200, "ok");
  if (path == "/readyz") {
    return view_.stats().ready ? text(200, "ok") : text(503, "no view built yet");
  }
  if (path == "/metrics") {
    return {200, "text/plain; version=0.0.4; charset=utf-8", metrics(), {}};
  }
  if (path == "/keys") return keys(target);
  constexpr std::string_view kPrefix = "/v1/";
  if (path.substr(0, kPrefix.size()) == kPrefix && path.size() > kPrefix.size()) {
    auto key = percentDecode(path.substr(kPrefix.size()));
    if (!key) return text(400, "malformed percent-encoding in the key");
    return get(*key);
  }
  return text(404, "not found: GET /v1/<key>, /healthz, /readyz or /metrics");
}

HttpAnswer ServeFront::get(std::string_view key) {
  Answer a = view_.get(key);
  if (a.version.empty()) {
    return {503,
            "application/json",
            "{\"key\":" + jsonString(key) + ",\"error\":\"no view built yet\"}",
            {}};
  }
  if (!a.value) {
    return {404, "application/json",
            "{\"key\":" + jsonString(key) +
                ",\"error\":\"not found\",\"version\":" + jsonString(a.version) + "}",
            a.version};
  }
  std::string body = "{\"key\":" + jsonString(key) + ",\"value\":" + embed(*a.value) +
                     ",\"version\":" + jsonString(a.version) + ",\"topic\":" + jsonString(a.topic);
  if (a.position.offset >= 0) {
    body += ",\"sourcePartition\":" + std::to_string(a.position.partition) +
            ",\"sourceOffset\":" + std::to_string(a.position.offset);
  }
  body += "}";
  return {200, "application/json", std::move(body), a.version};
}

HttpAnswer ServeFront::keys(std::string_view target) {
  size_t limit = 10;
  auto q = target.find('?');
  std::string_view query = q == std::string_view::npos ? std::string_view{} : target.substr(q + 1);
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view param = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (param.substr(0, 6) != "limit=") continue;
    std::string_view digits = param.substr(6);
    if (digits.empty() || digits.size() > 9 ||
        digits.find_first_not_of("0123456789") != std::string_view::npos) {
      return text(400, "limit: a whole number (at most 1000 keys are listed)");
    }
    limit = std::min<size_t>(std::stoul(std::string(digits)), 1000);
  }
  KeyList list = view_.keys(limit);
  if (list.version.empty()) {
    return {503, "application/json", "{\"error\":\"no view built yet\"}", {}};
  }
  Json body = {{"version", list.version}, {"keys", list.keys}};
  return {200, "application/json", body.dump(-1, ' ', false, Json::error_handler_t::replace),
          list.version};
}

void ServeFront::observe(int status, double seconds) {
  requests_.Add({{"code", std::to_string(status)}}).Increment();
  latency_.Observe(seconds);
}

std::string ServeFront::metrics() {
  std::lock_guard lock(mu_);
  ViewStats s = view_.stats();
  keys_.Set(static_cast<double>(s.keys));
  swaps_.Set(static_cast<double>(s.swaps));
  unalignedSwaps_.Set(static_cast<double>(s.unalignedSwaps));
  lastSwapSeconds_.Set(s.lastSwapSeconds);
  lagRecords_.Set(static_cast<double>(s.lagRecords));
  buildRate_.Set(s.lastBuildRecordsPerSecond);
  building_.Set(s.building.empty() ? 0 : 1);
  ready_.Set(s.ready ? 1 : 0);
  // One series: the version answering now (the family is rebuilt on each scrape, so that a
  // version that no longer answers has no series).
  for (auto* g : versionGauges_) versionInfo_.Remove(g);
  versionGauges_.clear();
  if (s.ready) {
    versionGauges_.push_back(&versionInfo_.Add({{"version", s.version}, {"topic", s.topic}}));
    versionGauges_.back()->Set(1);
  }
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

// ---- the server ----

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;

namespace {

constexpr auto kIdleTimeout = std::chrono::seconds(60);

struct Session : std::enable_shared_from_this<Session> {
  Session(tcp::socket s, ServeFront& f) : stream(std::move(s)), front(f) {}
  beast::tcp_stream stream;
  beast::flat_buffer buffer;
  http::request<http::string_body> request;
  http::response<http::string_body> response;
  ServeFront& front;

  void read() {
    request = {};
    stream.expires_after(kIdleTimeout);
    http::async_read(stream, buffer, request,
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       if (ec) {
                         beast::error_code ignored;
                         self->stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
                         return;
                       }
                       self->answer();
                     });
  }

  void answer() {
    auto started = std::chrono::steady_clock::now();
    auto m = request.method_string();
    auto t = request.target();
    HttpAnswer a =
        front.handle(std::string_view(m.data(), m.size()), std::string_view(t.data(), t.size()));
    response = {};
    response.version(request.version());
    response.keep_alive(request.keep_alive());
    response.result(static_cast<http::status>(a.status));
    response.set(http::field::content_type, a.contentType);
    if (!a.version.empty()) response.set("Kappa-Version", a.version);
    response.body() = std::move(a.body);
    response.prepare_payload();
    if (request.method() == http::verb::head) response.body().clear();
    int status = a.status;
    http::async_write(
        stream, response,
        [self = shared_from_this(), status, started](beast::error_code ec, size_t) {
          self->front.observe(
              status,
              std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
          if (ec || !self->response.keep_alive()) {
            beast::error_code ignored;
            self->stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
            return;
          }
          self->read();
        });
  }
};

}  // namespace

struct HttpServer::Impl {
  explicit Impl(int threads) : ioc(threads) {}
  asio::io_context ioc;
  tcp::acceptor acceptor{ioc};
  asio::steady_timer retry{ioc};
  ServeFront* front = nullptr;
  std::vector<std::thread> threads;

  void accept() {
    // Each connection on a strand of its own: its timer and its reads and writes never run
    // at once on two of the threads.
    acceptor.async_accept(asio::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted) return;
      if (ec) {
        // Out of descriptors, say: try again shortly rather than spin.
        retry.expires_after(std::chrono::milliseconds(100));
        retry.async_wait([this](beast::error_code e) {
          if (!e) accept();
        });
        return;
      }
      socket.set_option(tcp::no_delay(true), ec);
      std::make_shared<Session>(std::move(socket), *front)->read();
      accept();
    });
  }
};

Result<std::unique_ptr<HttpServer>> HttpServer::start(const std::string& address, int threads,
                                                      ServeFront& front) {
  auto impl = std::make_unique<Impl>(std::max(threads, 1));
  impl->front = &front;
  if (auto listening = kube::listenOn(impl->acceptor, address, "HTTP"); !listening.ok()) {
    return listening.error();
  }
  impl->accept();
  for (int i = 0; i < std::max(threads, 1); ++i) {
    impl->threads.emplace_back([io = &impl->ioc] { io->run(); });
  }
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() {
  impl_->ioc.stop();
  for (auto& t : impl_->threads) t.join();
}

int HttpServer::port() const { return impl_->acceptor.local_endpoint().port(); }

}  // namespace kappa::serve
