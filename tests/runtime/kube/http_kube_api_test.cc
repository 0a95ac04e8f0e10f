// The HTTP adapter's transport behaviour, on loopback sockets with no apiserver:
// connection failures, bounded timeouts, the client-side rate limit, bad TLS material, the
// server URL, kept-alive connections the server closed.
#include "runtime/kube/http_kube_api.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <thread>

namespace kappa::kube {
namespace {

using namespace std::chrono_literals;

// A TCP socket on 127.0.0.1 that listens (the kernel completes handshakes) but never reads
// or answers: every request to it hangs until the client's timeout.
class SilentServer {
 public:
  SilentServer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(fd_, 16), 0);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~SilentServer() { close(); }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int port() const { return port_; }
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

std::unique_ptr<HttpKubeApi> client(int port, ClientOptions options) {
  KubeConfig cfg;
  cfg.server = "https://127.0.0.1:" + std::to_string(port);
  cfg.token = "t";
  auto c = HttpKubeApi::create(cfg, options);
  EXPECT_TRUE(c.ok()) << c.error();
  return c ? std::move(*c) : nullptr;
}

const ObjectRef kCm{resources::configMaps(), "ns", "x", {}};

TEST(HttpKubeApi, ConnectionRefusedIsUnavailable) {
  int port;
  {
    SilentServer s;
    port = s.port();
  }  // closed: nothing listens there now
  auto api = client(port, {});
  auto r = api->get(kCm);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable) << r.error();
  EXPECT_EQ(classify(r.error()), ErrorClass::kRetriable);
}

TEST(HttpKubeApi, SilentServerTimesOutWithinTheBound) {
  SilentServer s;
  ClientOptions o;
  o.requestTimeout = 300ms;
  auto api = client(s.port(), o);
  auto start = std::chrono::steady_clock::now();
  auto r = api->get(kCm);
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kTimeout) << r.error();
  EXPECT_GE(took, 250ms);
  EXPECT_LT(took, 3s);

  // A watch waits for its response headers no longer than the request timeout either.
  start = std::chrono::steady_clock::now();
  auto w = api->watch({resources::configMaps(), "ns"}, {});
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.error().code, ErrorCode::kTimeout) << w.error();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
}

TEST(HttpKubeApi, RequestsAreRateLimitedClientSide) {
  int port;
  {
    SilentServer s;
    port = s.port();
  }
  ClientOptions o;
  o.qps = 10;
  o.burst = 1;
  auto api = client(port, o);
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 4; ++i) EXPECT_FALSE(api->get(kCm).ok());
  // One from the burst, then 100 ms per request.
  EXPECT_GE(std::chrono::steady_clock::now() - start, 280ms);
}

TEST(HttpKubeApi, RejectsBadTlsMaterialUpFront) {
  KubeConfig cfg;
  cfg.server = "https://127.0.0.1:1";
  cfg.clientCertPem = "-----BEGIN CERTIFICATE-----\nnot a cert\n-----END CERTIFICATE-----\n";
  cfg.clientKeyPem = "junk";
  auto c = HttpKubeApi::create(cfg);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code, ErrorCode::kInvalidArgument);

  KubeConfig none;
  EXPECT_FALSE(HttpKubeApi::create(none).ok());
}

TEST(HttpKubeApi, RejectsACertificateAuthorityWithoutCertificates) {
  KubeConfig cfg;
  cfg.server = "https://127.0.0.1:1";
  cfg.caPem = "this is not PEM";
  auto c = HttpKubeApi::create(cfg);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(c.error().message.find("certificate authority"), std::string::npos)
      << c.error().message;
}

TEST(HttpKubeApi, ServerSideApplyNeedsAFieldManager) {
  auto api = client(1, {});
  auto r = api->patch(kCm, PatchType::kApply, Json::object());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
}

TEST(HttpKubeApi, RejectsAServerUrlItCannotUse) {
  for (const char* url :
       {"ftp://127.0.0.1:1", "127.0.0.1:6443", "https://", "https://h:port", "https://[::1"}) {
    KubeConfig cfg;
    cfg.server = url;
    auto c = HttpKubeApi::create(cfg);
    ASSERT_FALSE(c.ok()) << url;
    EXPECT_EQ(c.error().code, ErrorCode::kInvalidArgument) << url;
    EXPECT_NE(c.error().message.find(url), std::string::npos) << c.error().message;
  }
}

// Reads one request's headers from fd; false when the connection ended first.
bool readRequest(int fd) {
  std::string request;
  char buf[4096];
  while (request.find("\r\n\r\n") == std::string::npos) {
    ssize_t got = ::read(fd, buf, sizeof buf);
    if (got <= 0) return false;
    request.append(buf, static_cast<size_t>(got));
  }
  return true;
}

// Plain HTTP on loopback. On each connection it answers the first request with `{"conn":N}`
// (N counts connections from 1), kept alive; then it closes the connection at once, as a
// server whose idle timeout ran out would (kClose), or reads the next request and closes
// without answering it, as one that gave up just as that request came in (kDropNext).
class OneAnswerPerConnectionServer {
 public:
  enum class Then { kClose, kDropNext };
  explicit OneAnswerPerConnectionServer(Then then) {
    thread_ = std::thread([this, then] {
      for (int n = 1;; ++n) {
        int fd = ::accept(listener_.fd(), nullptr, nullptr);
        if (fd < 0) return;
        if (readRequest(fd)) {
          std::string body = "{\"conn\":" + std::to_string(n) + "}";
          std::string response =
              "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
              "Content-Length: " +
              std::to_string(body.size()) + "\r\n\r\n" + body;
          connections_.store(n);
          EXPECT_EQ(::write(fd, response.data(), response.size()),
                    static_cast<ssize_t>(response.size()));
          if (then == Then::kDropNext && readRequest(fd)) dropped_.fetch_add(1);
        }
        ::close(fd);
        closed_.store(n);
      }
    });
  }
  ~OneAnswerPerConnectionServer() {
    ::shutdown(listener_.fd(), SHUT_RDWR);
    listener_.close();
    thread_.join();
  }
  int port() const { return listener_.port(); }
  int connections() const { return connections_.load(); }
  int dropped() const { return dropped_.load(); }
  // Waits until the server has closed its n-th connection.
  bool awaitClosed(int n) const {
    for (int i = 0; i < 500 && closed_.load() < n; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return closed_.load() >= n;
  }

 private:
  SilentServer listener_;
  std::thread thread_;
  std::atomic<int> connections_{0};
  std::atomic<int> dropped_{0};
  std::atomic<int> closed_{0};
};

std::unique_ptr<HttpKubeApi> plainClient(int port) {
  KubeConfig cfg;
  cfg.server = "http://127.0.0.1:" + std::to_string(port);
  auto c = HttpKubeApi::create(cfg);
  EXPECT_TRUE(c.ok()) << c.error();
  return c ? std::move(*c) : nullptr;
}

TEST(HttpKubeApi, ReplacesAKeptAliveConnectionTheServerClosed) {
  OneAnswerPerConnectionServer server(OneAnswerPerConnectionServer::Then::kClose);
  auto api = plainClient(server.port());
  auto first = api->get(kCm);
  ASSERT_TRUE(first.ok()) << first.error();
  EXPECT_EQ((*first)["conn"], 1);
  ASSERT_TRUE(server.awaitClosed(1));
  // The pooled connection is closed: it is dropped and a new one opened.
  auto second = api->create({resources::configMaps(), "ns"}, Json::object());
  ASSERT_TRUE(second.ok()) << second.error();
  EXPECT_EQ((*second)["conn"], 2);
  EXPECT_EQ(server.connections(), 2);
}

TEST(HttpKubeApi, SendsOnlyAnIdempotentRequestAgainWhenItsConnectionDropsIt) {
  OneAnswerPerConnectionServer server(OneAnswerPerConnectionServer::Then::kDropNext);
  auto api = plainClient(server.port());
  auto first = api->get(kCm);
  ASSERT_TRUE(first.ok()) << first.error();
  EXPECT_EQ((*first)["conn"], 1);
  // The GET goes out on the kept-alive connection, which closes with nothing back: sent
  // again on a new connection.
  auto again = api->get(kCm);
  ASSERT_TRUE(again.ok()) << again.error();
  EXPECT_EQ((*again)["conn"], 2);
  EXPECT_EQ(server.dropped(), 1);
  // A POST may have been applied before the connection dropped: its error goes back to the
  // caller, and no new connection is opened for it.
  auto post = api->create({resources::configMaps(), "ns"}, Json::object());
  ASSERT_FALSE(post.ok());
  EXPECT_EQ(post.error().code, ErrorCode::kUnavailable) << post.error();
  EXPECT_EQ(classify(post.error()), ErrorClass::kRetriable);
  EXPECT_EQ(server.dropped(), 2);
  EXPECT_EQ(server.connections(), 2);
}

// Plain HTTP on loopback: answers one watch request with a chunked 200 whose first two
// chunks split an event line in the middle and carry the start of a second one, then stays
// silent until the client goes away.
class SilentWatchServer {
 public:
  SilentWatchServer() {
    thread_ = std::thread([this] {
      int fd = ::accept(listener_.fd(), nullptr, nullptr);
      if (fd < 0) return;
      if (readRequest(fd)) {
        std::string line =
            R"({"type":"ADDED","object":{"kind":"ConfigMap","metadata":{"name":"a"}}})"
            "\n";
        std::string first = line.substr(0, 20), second = line.substr(20) + "{\"type\"";
        auto chunk = [](const std::string& data) {
          char size[16];
          std::snprintf(size, sizeof size, "%zx\r\n", data.size());
          return size + data + "\r\n";
        };
        std::string response =
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n" +
            chunk(first) + chunk(second);
        EXPECT_EQ(::write(fd, response.data(), response.size()),
                  static_cast<ssize_t>(response.size()));
        char buf[256];
        while (::read(fd, buf, sizeof buf) > 0) {
        }
      }
      ::close(fd);
    });
  }
  ~SilentWatchServer() {
    ::shutdown(listener_.fd(), SHUT_RDWR);
    listener_.close();
    thread_.join();
  }
  int port() const { return listener_.port(); }

 private:
  SilentServer listener_;
  std::thread thread_;
};

TEST(HttpKubeApi, WatchJoinsLinesAcrossChunksAndEndsWhenCancelled) {
  SilentWatchServer server;
  auto api = plainClient(server.port());
  auto w = api->watch({resources::configMaps(), "ns"}, {});
  ASSERT_TRUE(w.ok()) << w.error();
  auto ev = (*w)->next();
  ASSERT_TRUE(ev.ok()) << ev.error();
  ASSERT_TRUE(ev->has_value());
  EXPECT_EQ((*ev)->type, WatchEvent::Type::kAdded);
  EXPECT_EQ((*ev)->object["metadata"]["name"], "a");
  // The next event never completes: next() blocks until cancel() from another thread.
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    (*w)->cancel();
  });
  auto start = std::chrono::steady_clock::now();
  auto end = (*w)->next();
  auto took = std::chrono::steady_clock::now() - start;
  canceller.join();
  ASSERT_TRUE(end.ok()) << end.error();
  EXPECT_FALSE(end->has_value());
  EXPECT_GE(took, std::chrono::milliseconds(150));
  EXPECT_LT(took, std::chrono::seconds(5));
}

TEST(UrlEncode, EncodesSelectors) {
  EXPECT_EQ(urlEncode("app=demo,tier in (a,b)"), "app%3Ddemo%2Ctier%20in%20%28a%2Cb%29");
  EXPECT_EQ(urlEncode("a-b_c.d~"), "a-b_c.d~");
}

}  // namespace
}  // namespace kappa::kube
