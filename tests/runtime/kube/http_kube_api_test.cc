// The HTTP adapter's transport behaviour, on loopback sockets with no apiserver:
// connection failures, bounded timeouts, the client-side rate limit, bad TLS material.
#include "runtime/kube/http_kube_api.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

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
  EXPECT_TRUE(r.error().retriable());
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

TEST(UrlEncode, EncodesSelectors) {
  EXPECT_EQ(urlEncode("app=demo,tier in (a,b)"), "app%3Ddemo%2Ctier%20in%20%28a%2Cb%29");
  EXPECT_EQ(urlEncode("a-b_c.d~"), "a-b_c.d~");
}

}  // namespace
}  // namespace kappa::kube
