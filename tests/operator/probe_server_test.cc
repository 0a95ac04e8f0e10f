// kappa-operator's health endpoints (operator/probe_server.*) over a real loopback socket.
#include "operator/probe_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>

namespace kappa::op {
namespace {

// Sends one request and returns the whole response (the server closes after answering).
std::string roundTrip(int port, const std::string& request) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  EXPECT_EQ(::write(fd, request.data(), request.size()), static_cast<ssize_t>(request.size()));
  std::string response;
  char buf[1024];
  ssize_t got;
  while ((got = ::read(fd, buf, sizeof buf)) > 0) response.append(buf, static_cast<size_t>(got));
  ::close(fd);
  return response;
}

std::string get(int port, const std::string& path) {
  return roundTrip(port, "GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n");
}

TEST(ProbeServer, AnswersHealthAlwaysAndReadinessOnceReady) {
  std::atomic<bool> ready{false};
  auto server = ProbeServer::start("127.0.0.1:0", [&] { return ready.load(); });
  ASSERT_TRUE(server.ok()) << server.error();
  int port = (*server)->port();
  ASSERT_GT(port, 0);

  EXPECT_TRUE(get(port, "/healthz").starts_with("HTTP/1.1 200 OK")) << get(port, "/healthz");
  auto notReady = get(port, "/readyz");
  EXPECT_TRUE(notReady.starts_with("HTTP/1.1 503")) << notReady;
  EXPECT_TRUE(notReady.ends_with("informer not synced")) << notReady;

  ready = true;
  auto isReady = get(port, "/readyz?verbose");
  EXPECT_TRUE(isReady.starts_with("HTTP/1.1 200 OK")) << isReady;
  EXPECT_TRUE(isReady.ends_with("\r\n\r\nok")) << isReady;

  EXPECT_TRUE(get(port, "/metrics").starts_with("HTTP/1.1 404")) << get(port, "/metrics");
  auto post = roundTrip(port, "POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
  EXPECT_TRUE(post.starts_with("HTTP/1.1 405")) << post;
  // A client that is not speaking HTTP gets the connection closed, and the server goes on.
  EXPECT_EQ(roundTrip(port, "\x01\x02 nonsense\r\n\r\n"), "");
  EXPECT_TRUE(get(port, "/healthz").starts_with("HTTP/1.1 200 OK"));
}

TEST(ProbeServer, ReportsAnAddressItCannotListenOn) {
  auto first = ProbeServer::start("127.0.0.1:0", [] { return true; });
  ASSERT_TRUE(first.ok()) << first.error();
  std::string taken = "127.0.0.1:" + std::to_string((*first)->port());
  auto second = ProbeServer::start(taken, [] { return true; });
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(second.error().message.find(taken), std::string::npos) << second.error().message;

  auto noPort = ProbeServer::start("localhost", [] { return true; });
  ASSERT_FALSE(noPort.ok());
  EXPECT_NE(noPort.error().message.find("host:port"), std::string::npos) << noPort.error().message;
}

}  // namespace
}  // namespace kappa::op
