// Mapping of apiserver responses (HTTP status + metav1.Status) and watch lines to Errors.
#include "runtime/kube/kube_error.h"

#include <gtest/gtest.h>

#include "runtime/kube/watch_event.h"

namespace kappa::kube {
namespace {

std::string status(int code, const std::string& reason, const std::string& message,
                   const std::string& details = "") {
  std::string s = R"({"kind":"Status","apiVersion":"v1","status":"Failure","message":")" + message +
                  R"(","reason":")" + reason + R"(","code":)" + std::to_string(code);
  if (!details.empty()) s += R"(,"details":)" + details;
  return s + "}";
}

TEST(KubeError, MapsStatusCodesAndReasons) {
  struct Case {
    int http;
    std::string reason;
    ErrorCode code;
  };
  for (const auto& c : std::vector<Case>{
           {404, "NotFound", ErrorCode::kNotFound},
           {409, "AlreadyExists", ErrorCode::kAlreadyExists},
           {409, "Conflict", ErrorCode::kConflict},
           {403, "Forbidden", ErrorCode::kForbidden},
           {401, "Unauthorized", ErrorCode::kUnauthenticated},
           {422, "Invalid", ErrorCode::kInvalidArgument},
           {400, "BadRequest", ErrorCode::kInvalidArgument},
           {410, "Expired", ErrorCode::kGone},
           {410, "Gone", ErrorCode::kGone},
           {429, "TooManyRequests", ErrorCode::kUnavailable},
           {503, "ServiceUnavailable", ErrorCode::kUnavailable},
           {504, "Timeout", ErrorCode::kTimeout},
           {500, "ServerTimeout", ErrorCode::kTimeout},
           {500, "InternalError", ErrorCode::kInternal},
       }) {
    auto e = parseStatus(c.http, status(c.http, c.reason, "m"));
    EXPECT_EQ(e.code(), c.code) << c.http << " " << c.reason;
    EXPECT_EQ(e.toError().code, c.code) << c.http << " " << c.reason;
    EXPECT_EQ(e.httpStatus, c.http);
    EXPECT_EQ(e.reason, c.reason);
  }
}

TEST(KubeError, InvalidKeepsFieldCauses) {
  auto body = status(422, "Invalid",
                     R"(PipelineVersion.kappa.io \"a\" is invalid: spec.replicas: Invalid value)",
                     R"({"name":"a","group":"kappa.io","kind":"PipelineVersion","causes":[
                         {"reason":"FieldValueInvalid","message":"Invalid value: -1: must be >= 1",
                          "field":"spec.replicas"},
                         {"reason":"FieldValueRequired","message":"Required value",
                          "field":"spec.pipeline"}]})");
  auto e = parseStatus(422, body);
  ASSERT_EQ(e.causes.size(), 2u);
  EXPECT_EQ(e.causes[0],
            (StatusCause{"spec.replicas", "FieldValueInvalid", "Invalid value: -1: must be >= 1"}));
  auto err = e.toError();
  EXPECT_EQ(err.code, ErrorCode::kInvalidArgument);
  EXPECT_NE(err.message.find("Invalid (HTTP 422)"), std::string::npos) << err.message;
  EXPECT_NE(err.message.find("spec.replicas: Invalid value: -1: must be >= 1"), std::string::npos)
      << err.message;
  EXPECT_EQ(causeFields(err), (std::vector<std::string>{"spec.replicas", "spec.pipeline"}));
}

TEST(KubeError, BodyThatIsNotAStatus) {
  auto e = parseStatus(502, "<html>bad gateway</html>");
  EXPECT_EQ(e.code(), ErrorCode::kUnavailable);
  EXPECT_EQ(e.reason, "Unknown");
  EXPECT_EQ(e.message, "<html>bad gateway</html>");
  auto empty = parseStatus(404, "");
  EXPECT_EQ(empty.reason, "NotFound");
  EXPECT_EQ(empty.code(), ErrorCode::kNotFound);
  EXPECT_FALSE(empty.message.empty());
  EXPECT_TRUE(causeFields(empty.toError()).empty());
}

TEST(WatchLine, ParsesEventTypes) {
  auto added = parseWatchLine(
      R"({"type":"ADDED","object":{"kind":"ConfigMap","metadata":{"name":"a","namespace":"n","resourceVersion":"12"}}})");
  ASSERT_TRUE(added.ok()) << added.error();
  EXPECT_EQ(added->type, WatchEvent::Type::kAdded);
  EXPECT_EQ(added->resourceVersion(), "12");
  EXPECT_EQ(keyOf(added->object), "n/a");

  auto bookmark = parseWatchLine(
      R"({"type":"BOOKMARK","object":{"kind":"ConfigMap","metadata":{"resourceVersion":"99"}}})");
  ASSERT_TRUE(bookmark.ok());
  EXPECT_EQ(bookmark->type, WatchEvent::Type::kBookmark);
  EXPECT_EQ(bookmark->resourceVersion(), "99");

  for (auto [line, type] : {std::pair{"MODIFIED", WatchEvent::Type::kModified},
                            std::pair{"DELETED", WatchEvent::Type::kDeleted}}) {
    auto ev = parseWatchLine(std::string(R"({"type":")") + line + R"(","object":{}})");
    ASSERT_TRUE(ev.ok());
    EXPECT_EQ(ev->type, type);
  }
}

TEST(WatchLine, ErrorEventWith410IsGone) {
  auto gone = parseWatchLine(
      R"({"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","status":"Failure","message":"too old resource version: 5, current 90","reason":"Expired","code":410
}
})");
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().code, ErrorCode::kGone);
  EXPECT_NE(gone.error().message.find("too old resource version"), std::string::npos);

  auto internal = parseWatchLine(
      R"({"type":"ERROR","object":{"kind":"Status","status":"Failure","message":"boom","reason":"InternalError","code":500}})");
  ASSERT_FALSE(internal.ok());
  EXPECT_EQ(internal.error().code, ErrorCode::kInternal);
}

TEST(WatchLine, RejectsMalformedLines) {
  for (const char* line : {"not json", "[]", R"({"type":"ADDED"})", R"({"object":{}})",
                           R"({"type":"SOMETHING","object":{}})"}) {
    auto ev = parseWatchLine(line);
    ASSERT_FALSE(ev.ok()) << line;
    EXPECT_EQ(ev.error().code, ErrorCode::kInternal) << line;
  }
}

TEST(KubeApiPaths, BuildsResourcePaths) {
  CollectionRef cms{resources::configMaps(), "ns1"};
  EXPECT_EQ(cms.path(), "/api/v1/namespaces/ns1/configmaps");
  EXPECT_EQ(cms.object("x").path(), "/api/v1/namespaces/ns1/configmaps/x");
  CollectionRef all{resources::configMaps(), ""};
  EXPECT_EQ(all.path(), "/api/v1/configmaps");
  Resource plv{"kappa.io", "v1alpha1", "pipelineversions", true};
  EXPECT_EQ(CollectionRef({plv, "a"}).object("v2", "status").path(),
            "/apis/kappa.io/v1alpha1/namespaces/a/pipelineversions/v2/status");
  EXPECT_EQ(ObjectRef({resources::customResourceDefinitions(), "ignored", "x.kappa.io", ""}).path(),
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/x.kappa.io");
  EXPECT_EQ(plv.apiVersion(), "kappa.io/v1alpha1");
}

TEST(KubeApiTime, FormatsMicroTime) {
  auto t = std::chrono::system_clock::time_point(std::chrono::seconds(1700000000)) +
           std::chrono::microseconds(123456);
  EXPECT_EQ(formatMicroTime(t), "2023-11-14T22:13:20.123456Z");
  EXPECT_EQ(formatTime(t), "2023-11-14T22:13:20Z");
}

}  // namespace
}  // namespace kappa::kube
