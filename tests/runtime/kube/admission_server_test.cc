#include "runtime/kube/admission_server.h"

#include <gtest/gtest.h>
#include <openssl/x509.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace kappa::kube {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;

Json review(const std::string& operation, const std::string& name) {
  return Json{{"apiVersion", "admission.k8s.io/v1"},
              {"kind", "AdmissionReview"},
              {"request",
               {{"uid", "705ab4f5-6393-11e8-b7cc-42010a800002"},
                {"operation", operation},
                {"namespace", "team-a"},
                {"name", name},
                {"object", {{"metadata", {{"name", name}}}}}}}};
}

// Denies objects named "intruder".
std::optional<std::string> denyIntruders(const AdmissionRequest& r) {
  if (r.object["metadata"]["name"] == "intruder") {
    return "spec.output.topic: output topic x is used by PipelineVersion team-a/serving";
  }
  return std::nullopt;
}

TEST(AdmissionResponseTest, AllowsWithTheRequestUid) {
  auto r = admissionResponse(review("CREATE", "fine"), denyIntruders);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ((*r)["kind"], "AdmissionReview");
  EXPECT_EQ((*r)["apiVersion"], "admission.k8s.io/v1");
  EXPECT_EQ((*r)["response"]["uid"], "705ab4f5-6393-11e8-b7cc-42010a800002");
  EXPECT_EQ((*r)["response"]["allowed"], true);
  EXPECT_FALSE((*r)["response"].contains("status"));
}

TEST(AdmissionResponseTest, DeniesWithTheValidatorsMessage) {
  auto r = admissionResponse(review("CREATE", "intruder"), denyIntruders);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ((*r)["response"]["allowed"], false);
  EXPECT_EQ((*r)["response"]["status"]["code"], 403);
  EXPECT_EQ((*r)["response"]["status"]["message"],
            "spec.output.topic: output topic x is used by PipelineVersion team-a/serving");
}

TEST(AdmissionResponseTest, HandsOverOperationNamespaceAndName) {
  AdmissionRequest seen;
  auto r = admissionResponse(review("UPDATE", "v2"), [&](const AdmissionRequest& req) {
    seen = req;
    return std::nullopt;
  });
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(seen.operation, "UPDATE");
  EXPECT_EQ(seen.ns, "team-a");
  EXPECT_EQ(seen.name, "v2");
  EXPECT_EQ(seen.object["metadata"]["name"], "v2");
}

TEST(AdmissionResponseTest, FieldsOfAnotherTypeAreLeftOutNotThrownOn) {
  Json odd = review("CREATE", "fine");
  odd["apiVersion"] = 1;
  odd["request"]["object"] = "not an object";
  odd["request"]["namespace"] = 7;
  AdmissionRequest seen;
  auto r = admissionResponse(odd, [&](const AdmissionRequest& req) {
    seen = req;
    return std::nullopt;
  });
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ((*r)["apiVersion"], "admission.k8s.io/v1");
  EXPECT_TRUE(seen.object.is_null());
  EXPECT_EQ(seen.ns, "");
}

TEST(AdmissionResponseTest, RefusesWhatIsNotAnAdmissionReview) {
  for (Json bad : {Json(), Json::array(), Json{{"kind", "AdmissionReview"}},
                   Json{{"request", {{"operation", "CREATE"}}}}}) {
    auto r = admissionResponse(bad, denyIntruders);
    ASSERT_FALSE(r.ok()) << bad.dump();
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  }
}

// A self-signed certificate for localhost with common name `cn`, made by the openssl CLI.
void makeCertificate(const std::filesystem::path& dir, const std::string& cn) {
  std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=" + cn +
                    " -addext subjectAltName=DNS:localhost -keyout " +
                    (dir / "tls.key.new").string() + " -out " + (dir / "tls.crt.new").string() +
                    " 2>/dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  // Key first, certificate last: a connection in between may load a mismatched pair, which the
  // server refuses and the next connection retries.
  std::filesystem::rename(dir / "tls.key.new", dir / "tls.key");
  std::filesystem::rename(dir / "tls.crt.new", dir / "tls.crt");
}

struct Reply {
  int status = 0;
  std::string body;
  std::string peerCommonName;
};

// POSTs body to https://localhost:port/path, trusting any certificate (the test checks the
// served one by its common name).
Reply post(int port, const std::string& path, const std::string& body) {
  asio::io_context ioc;
  ssl::context ctx(ssl::context::tls_client);
  ctx.set_verify_mode(ssl::verify_none);
  beast::ssl_stream<beast::tcp_stream> stream(ioc, ctx);
  tcp::resolver resolver(ioc);
  beast::get_lowest_layer(stream).connect(resolver.resolve("127.0.0.1", std::to_string(port)));
  stream.handshake(ssl::stream_base::client);
  Reply reply;
  X509* peer = SSL_get_peer_certificate(stream.native_handle());
  if (peer) {
    char cn[256] = {};
    X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn, sizeof cn);
    reply.peerCommonName = cn;
    X509_free(peer);
  }
  http::request<http::string_body> req{http::verb::post, path, 11};
  req.set(http::field::host, "localhost");
  req.set(http::field::content_type, "application/json");
  req.body() = body;
  req.prepare_payload();
  http::write(stream, req);
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(stream, buffer, res);
  reply.status = res.result_int();
  reply.body = res.body();
  return reply;
}

class AdmissionServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("admission-server-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    makeCertificate(dir_, "first");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  Result<std::unique_ptr<AdmissionServer>> start() {
    AdmissionServer::Options o;
    o.address = "127.0.0.1:0";
    o.certFile = (dir_ / "tls.crt").string();
    o.keyFile = (dir_ / "tls.key").string();
    return AdmissionServer::start(o, denyIntruders);
  }

  std::filesystem::path dir_;
};

TEST_F(AdmissionServerTest, AnswersAnAdmissionReviewOverTls) {
  auto server = start();
  ASSERT_TRUE(server.ok()) << server.error().message;
  int port = (*server)->port();

  Reply denied = post(port, "/validate", review("CREATE", "intruder").dump());
  EXPECT_EQ(denied.status, 200);
  EXPECT_EQ(denied.peerCommonName, "first");
  Json answer = Json::parse(denied.body);
  EXPECT_EQ(answer["response"]["allowed"], false);
  EXPECT_EQ(answer["response"]["uid"], "705ab4f5-6393-11e8-b7cc-42010a800002");

  Reply allowed = post(port, "/validate", review("CREATE", "fine").dump());
  EXPECT_EQ(Json::parse(allowed.body)["response"]["allowed"], true);

  EXPECT_EQ(post(port, "/validate", "not json").status, 400);
  EXPECT_EQ(post(port, "/elsewhere", review("CREATE", "fine").dump()).status, 404);
}

TEST_F(AdmissionServerTest, AValidatorThatThrowsIsA500AndTheServerServesOn) {
  AdmissionServer::Options o;
  o.address = "127.0.0.1:0";
  o.certFile = (dir_ / "tls.crt").string();
  o.keyFile = (dir_ / "tls.key").string();
  auto server =
      AdmissionServer::start(o, [](const AdmissionRequest& r) -> std::optional<std::string> {
        if (r.name == "boom") throw std::runtime_error("validator failed");
        return std::nullopt;
      });
  ASSERT_TRUE(server.ok()) << server.error().message;
  int port = (*server)->port();
  EXPECT_EQ(post(port, "/validate", review("CREATE", "boom").dump()).status, 500);
  Reply after = post(port, "/validate", review("CREATE", "fine").dump());
  EXPECT_EQ(after.status, 200);
  EXPECT_EQ(Json::parse(after.body)["response"]["allowed"], true);
}

TEST_F(AdmissionServerTest, AnswersUnavailableUntilReady) {
  AdmissionServer::Options o;
  o.address = "127.0.0.1:0";
  o.certFile = (dir_ / "tls.crt").string();
  o.keyFile = (dir_ / "tls.key").string();
  std::atomic<bool> synced{false};
  o.ready = [&synced] { return synced.load(); };
  auto server = AdmissionServer::start(o, denyIntruders);
  ASSERT_TRUE(server.ok()) << server.error().message;
  int port = (*server)->port();
  Reply early = post(port, "/validate", review("CREATE", "intruder").dump());
  EXPECT_EQ(early.status, 503);
  synced = true;
  Reply later = post(port, "/validate", review("CREATE", "intruder").dump());
  EXPECT_EQ(later.status, 200);
  EXPECT_EQ(Json::parse(later.body)["response"]["allowed"], false);
}

TEST_F(AdmissionServerTest, ServesARotatedCertificateWithoutARestart) {
  auto server = start();
  ASSERT_TRUE(server.ok()) << server.error().message;
  int port = (*server)->port();
  EXPECT_EQ(post(port, "/validate", review("CREATE", "fine").dump()).peerCommonName, "first");
  // Modification times have nanoseconds here, but a file system with coarse ones would see
  // the same time for a fast rewrite: move them on explicitly.
  makeCertificate(dir_, "second");
  auto later = std::filesystem::file_time_type::clock::now() + std::chrono::seconds(5);
  std::filesystem::last_write_time(dir_ / "tls.key", later);
  std::filesystem::last_write_time(dir_ / "tls.crt", later);
  EXPECT_EQ(post(port, "/validate", review("CREATE", "fine").dump()).peerCommonName, "second");
}

TEST_F(AdmissionServerTest, KeepsServingTheOldCertificateWhenTheNewOneIsBroken) {
  auto server = start();
  ASSERT_TRUE(server.ok()) << server.error().message;
  {
    std::ofstream broken(dir_ / "tls.crt", std::ios::trunc);
    broken << "not a certificate\n";
  }
  std::filesystem::last_write_time(
      dir_ / "tls.crt", std::filesystem::file_time_type::clock::now() + std::chrono::seconds(5));
  Reply r = post((*server)->port(), "/validate", review("CREATE", "fine").dump());
  EXPECT_EQ(r.peerCommonName, "first");
  EXPECT_EQ(Json::parse(r.body)["response"]["allowed"], true);
}

TEST_F(AdmissionServerTest, RefusesToStartWithoutACertificate) {
  std::filesystem::remove(dir_ / "tls.crt");
  auto server = start();
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(server.error().message.find("tls.crt"), std::string::npos) << server.error().message;
}

}  // namespace
}  // namespace kappa::kube
