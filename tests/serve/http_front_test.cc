#include "serve/http_front.h"

#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include <atomic>
#include <map>
#include <thread>

namespace kappa::serve {
namespace {

using Json = nlohmann::json;

class FakeView : public ServingView {
 public:
  bool waitReady(std::chrono::milliseconds) const override { return stats_.ready; }
  Answer get(std::string_view key) const override {
    Answer a;
    if (!stats_.ready) return a;
    a.version = stats_.version;
    a.topic = stats_.topic;
    if (auto it = values.find(std::string(key)); it != values.end()) {
      a.value = it->second;
      a.position = {1, 42};
    }
    return a;
  }
  KeyList keys(size_t limit) const override {
    KeyList out;
    if (!stats_.ready) return out;
    out.version = stats_.version;
    for (const auto& [k, v] : values) {
      if (out.keys.size() < limit) out.keys.push_back(k);
    }
    return out;
  }
  std::vector<Answer> getMany(const std::vector<std::string>& keys) const override {
    std::vector<Answer> out;
    for (const auto& k : keys) out.push_back(get(k));
    return out;
  }
  ViewStats stats() const override { return stats_; }

  std::map<std::string, std::string> values;
  ViewStats stats_;
};

class ServeFrontTest : public ::testing::Test {
 protected:
  void ready(const std::string& version) {
    view.stats_.ready = true;
    view.stats_.version = version;
    view.stats_.topic = "sessions-" + version;
  }
  FakeView view;
  ServeFront front{view};
};

TEST_F(ServeFrontTest, BeforeTheFirstViewKeysAndReadinessAre503) {
  EXPECT_EQ(front.handle("GET", "/v1/u1").status, 503);
  EXPECT_EQ(front.handle("GET", "/readyz").status, 503);
  EXPECT_EQ(front.handle("GET", "/healthz").status, 200);
  ready("v1");
  EXPECT_EQ(front.handle("GET", "/readyz").status, 200);
}

TEST_F(ServeFrontTest, AJsonValueIsEmbeddedWithTheVersionAndPosition) {
  ready("v2");
  view.values["u1"] = R"({"events":3,"revenue":12.5})";
  auto a = front.handle("GET", "/v1/u1");
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(a.version, "v2");
  auto j = Json::parse(a.body);
  EXPECT_EQ(j["key"], "u1");
  EXPECT_EQ(j["value"]["events"], 3);
  EXPECT_EQ(j["version"], "v2");
  EXPECT_EQ(j["topic"], "sessions-v2");
  EXPECT_EQ(j["sourcePartition"], 1);
  EXPECT_EQ(j["sourceOffset"], 42);
}

TEST_F(ServeFrontTest, AValueThatIsNotJsonIsAString) {
  ready("v1");
  view.values["u1"] = "plain \"text\"";
  auto j = Json::parse(front.handle("GET", "/v1/u1").body);
  EXPECT_EQ(j["value"], "plain \"text\"");
}

TEST_F(ServeFrontTest, AMissingKeyIs404NamingTheVersion) {
  ready("v1");
  auto a = front.handle("GET", "/v1/nobody");
  EXPECT_EQ(a.status, 404);
  EXPECT_EQ(a.version, "v1");
  auto j = Json::parse(a.body);
  EXPECT_EQ(j["error"], "not found");
  EXPECT_EQ(j["version"], "v1");
}

TEST_F(ServeFrontTest, KeysArePercentDecoded) {
  ready("v1");
  view.values["a b/c"] = "1";
  EXPECT_EQ(front.handle("GET", "/v1/a%20b%2Fc").status, 200);
  EXPECT_EQ(front.handle("GET", "/v1/a%2").status, 400);
  EXPECT_EQ(front.handle("GET", "/v1/a%zz").status, 400);
  EXPECT_EQ(percentDecode("%41%62c"), "Abc");
  EXPECT_EQ(percentDecode("%4"), std::nullopt);
}

TEST_F(ServeFrontTest, KeysListsSomeKeysOfTheServingView) {
  EXPECT_EQ(front.handle("GET", "/keys").status, 503);
  ready("v1");
  view.values = {{"a", "1"}, {"b", "2"}, {"c", "3"}};
  auto j = Json::parse(front.handle("GET", "/keys?limit=2").body);
  EXPECT_EQ(j["version"], "v1");
  EXPECT_EQ(j["keys"].size(), 2u);
  EXPECT_EQ(Json::parse(front.handle("GET", "/keys").body)["keys"].size(), 3u);
  EXPECT_EQ(Json::parse(front.handle("GET", "/keys?limit=0").body)["keys"].size(), 0u);
  EXPECT_EQ(Json::parse(front.handle("GET", "/keys?other=1&limit=1").body)["keys"].size(), 1u);
  EXPECT_EQ(Json::parse(front.handle("GET", "/keys?nolimit=1").body)["keys"].size(), 3u);
  EXPECT_EQ(Json::parse(front.handle("GET", "/keys?limit=123456").body)["keys"].size(), 3u);
  EXPECT_EQ(front.handle("GET", "/keys?limit=x").status, 400);
  EXPECT_EQ(front.handle("GET", "/keys?limit=").status, 400);
  EXPECT_EQ(front.handle("GET", "/keys?limit=-1").status, 400);
}

TEST_F(ServeFrontTest, OtherPathsAndMethods) {
  ready("v1");
  EXPECT_EQ(front.handle("GET", "/v1/").status, 404);
  EXPECT_EQ(front.handle("GET", "/").status, 404);
  EXPECT_EQ(front.handle("POST", "/v1/u1").status, 405);
}

TEST_F(ServeFrontTest, MetricsNameTheAnsweringVersionOnly) {
  ready("v1");
  view.stats_.keys = 7;
  view.stats_.swaps = 2;
  view.stats_.lastSwapSeconds = 1.5;
  view.stats_.lagRecords = 3;
  front.observe(200, 0.001);
  auto m = front.handle("GET", "/metrics").body;
  EXPECT_NE(m.find("kappa_serve_keys 7"), std::string::npos) << m;
  EXPECT_NE(m.find("kappa_serve_swaps 2"), std::string::npos);
  EXPECT_NE(m.find("kappa_serve_last_swap_seconds 1.5"), std::string::npos);
  EXPECT_NE(m.find("kappa_serve_view_lag_records 3"), std::string::npos);
  EXPECT_NE(m.find("kappa_serve_requests_total{code=\"200\"} 1"), std::string::npos);
  EXPECT_NE(m.find(R"(kappa_serve_version_info{topic="sessions-v1",version="v1"} 1)"),
            std::string::npos);
  ready("v2");
  m = front.handle("GET", "/metrics").body;
  EXPECT_EQ(m.find("version=\"v1\""), std::string::npos) << m;
  EXPECT_NE(m.find("version=\"v2\""), std::string::npos);
}

TEST_F(ServeFrontTest, TheServerAnswersSeveralRequestsOnOneConnection) {
  namespace http = boost::beast::http;
  ready("v3");
  view.values["u1"] = "{}";
  auto server = HttpServer::start("127.0.0.1:0", 2, front);
  ASSERT_TRUE(server) << server.error();
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::socket socket(ioc);
  socket.connect(
      {boost::asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>((*server)->port())});
  for (const char* target : {"/v1/u1", "/v1/u2", "/readyz"}) {
    http::request<http::empty_body> req(http::verb::get, target, 11);
    req.set(http::field::host, "localhost");
    http::write(socket, req);
    boost::beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::read(socket, buffer, res);
    EXPECT_TRUE(res.keep_alive());
    if (std::string(target) == "/v1/u1") {
      EXPECT_EQ(res.result_int(), 200u);
      EXPECT_EQ(res["Kappa-Version"], "v3");
    } else if (std::string(target) == "/v1/u2") {
      EXPECT_EQ(res.result_int(), 404u);
    } else {
      EXPECT_EQ(res.result_int(), 200u);
    }
  }
  // Each request answered is counted by its code (after its write).
  EXPECT_TRUE([&] {
    for (int i = 0; i < 100; ++i) {
      auto m = front.handle("GET", "/metrics").body;
      if (m.find("kappa_serve_requests_total{code=\"404\"} 1") != std::string::npos) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }());
}

// Several clients at once on a server of two threads, keep-alive; HEAD has no body; an
// HTTP/1.0 request without keep-alive is answered and the connection closed.
TEST_F(ServeFrontTest, ConcurrentClientsHeadAndHttp10) {
  namespace http = boost::beast::http;
  ready("v1");
  view.values["u1"] = R"({"n":1})";
  auto server = HttpServer::start("127.0.0.1:0", 2, front);
  ASSERT_TRUE(server) << server.error();
  boost::asio::ip::tcp::endpoint at(boost::asio::ip::make_address("127.0.0.1"),
                                    static_cast<unsigned short>((*server)->port()));
  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&] {
      boost::asio::io_context ioc;
      boost::asio::ip::tcp::socket socket(ioc);
      socket.connect(at);
      for (int i = 0; i < 50; ++i) {
        http::request<http::empty_body> req(http::verb::get, "/v1/u1", 11);
        req.set(http::field::host, "localhost");
        http::write(socket, req);
        boost::beast::flat_buffer buffer;
        http::response<http::string_body> res;
        http::read(socket, buffer, res);
        if (res.result_int() == 200 &&
            res.body() ==
                R"({"key":"u1","value":{"n":1},"version":"v1","topic":"sessions-v1","sourcePartition":1,"sourceOffset":42})") {
          ++ok;
        }
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(ok.load(), 200);

  boost::asio::io_context ioc;
  boost::asio::ip::tcp::socket socket(ioc);
  socket.connect(at);
  http::request<http::empty_body> head(http::verb::head, "/v1/u1", 11);
  head.set(http::field::host, "localhost");
  http::write(socket, head);
  boost::beast::flat_buffer buffer;
  http::response_parser<http::empty_body> parser;
  parser.skip(true);  // a response to HEAD has no body, whatever its Content-Length says
  http::read(socket, buffer, parser);
  EXPECT_EQ(parser.get().result_int(), 200u);
  EXPECT_EQ(parser.get()["Kappa-Version"], "v1");

  http::request<http::empty_body> old(http::verb::get, "/healthz", 10);
  http::write(socket, old);
  http::response<http::string_body> res;
  http::read(socket, buffer, res);
  EXPECT_EQ(res.result_int(), 200u);
  EXPECT_FALSE(res.keep_alive());
  boost::system::error_code ec;
  char byte;
  socket.read_some(boost::asio::buffer(&byte, 1), ec);
  EXPECT_EQ(ec, boost::asio::error::eof) << "the connection stayed open after HTTP/1.0";
}

}  // namespace
}  // namespace kappa::serve
