#include "runtime/kube/kube_error.h"

#include <nlohmann/json.hpp>

namespace kappa::kube {

namespace {
constexpr std::string_view kCausesMarker = " | causes: ";

std::string stringField(const nlohmann::json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string{};
}

const char* defaultReason(int httpStatus) {
  switch (httpStatus) {
    case 400:
      return "BadRequest";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "NotFound";
    case 405:
      return "MethodNotAllowed";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 415:
      return "UnsupportedMediaType";
    case 422:
      return "Invalid";
    case 429:
      return "TooManyRequests";
    case 500:
      return "InternalError";
    case 503:
      return "ServiceUnavailable";
    case 504:
      return "Timeout";
  }
  return "Unknown";
}
}  // namespace

ErrorCode errorCodeFor(int httpStatus, std::string_view reason) {
  switch (httpStatus) {
    case 400:
    case 405:
    case 406:
    case 413:
    case 415:
    case 422:
      return ErrorCode::kInvalidArgument;
    case 401:
      return ErrorCode::kUnauthenticated;
    case 403:
      return ErrorCode::kForbidden;
    case 404:
      return ErrorCode::kNotFound;
    case 409:
      return reason == "AlreadyExists" ? ErrorCode::kAlreadyExists : ErrorCode::kConflict;
    case 410:
      return ErrorCode::kGone;
    case 408:
    case 504:
      return ErrorCode::kTimeout;
    case 429:
    case 502:
    case 503:
      return ErrorCode::kUnavailable;
  }
  // A Status can say Timeout / ServerTimeout with code 500 (e.g. from a watch ERROR event).
  if (reason == "Timeout" || reason == "ServerTimeout") return ErrorCode::kTimeout;
  if (reason == "Expired" || reason == "Gone") return ErrorCode::kGone;
  return ErrorCode::kInternal;
}

ErrorCode KubeError::code() const { return errorCodeFor(httpStatus, reason); }

Error KubeError::toError() const {
  std::string msg = reason + " (HTTP " + std::to_string(httpStatus) + "): " + message;
  bool first = true;
  for (const auto& c : causes) {
    std::string item = c.field.empty() ? c.message : c.field + ": " + c.message;
    if (item.empty()) continue;
    msg += first ? std::string(kCausesMarker) : std::string("; ");
    msg += item;
    first = false;
  }
  return Error{code(), std::move(msg)};
}

KubeError parseStatus(int httpStatus, std::string_view body) {
  KubeError e;
  e.httpStatus = httpStatus;
  auto status = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (status.is_object() && stringField(status, "kind") == "Status") {
    e.reason = stringField(status, "reason");
    e.message = stringField(status, "message");
    if (auto code = status.find("code"); code != status.end() && code->is_number_integer()) {
      // A watch ERROR event carries its status only here.
      if (e.httpStatus == 0 || e.httpStatus == 200) e.httpStatus = code->get<int>();
    }
    auto details = status.find("details");
    if (details != status.end() && details->is_object()) {
      auto causes = details->find("causes");
      if (causes != details->end() && causes->is_array()) {
        for (const auto& c : *causes) {
          if (!c.is_object()) continue;
          e.causes.push_back(
              {stringField(c, "field"), stringField(c, "reason"), stringField(c, "message")});
        }
      }
    }
  } else {
    e.message = std::string(body.substr(0, 512));
  }
  if (e.reason.empty()) e.reason = defaultReason(e.httpStatus);
  if (e.message.empty()) e.message = "the server returned HTTP " + std::to_string(e.httpStatus);
  return e;
}

std::vector<std::string> causeFields(const Error& error) {
  std::vector<std::string> fields;
  auto pos = error.message.find(kCausesMarker);
  if (pos == std::string::npos) return fields;
  std::string_view rest = std::string_view(error.message).substr(pos + kCausesMarker.size());
  while (!rest.empty()) {
    auto end = rest.find("; ");
    std::string_view item = rest.substr(0, end);
    auto colon = item.find(": ");
    if (colon != std::string_view::npos) fields.emplace_back(item.substr(0, colon));
    if (end == std::string_view::npos) break;
    rest.remove_prefix(end + 2);
  }
  return fields;
}

std::ostream& operator<<(std::ostream& os, const KubeError& e) { return os << e.toError(); }

}  // namespace kappa::kube
