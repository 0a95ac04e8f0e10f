// Errors at I/O boundaries are values: Result<T> holds either a T or an Error with a code a
// caller can branch on (retry, give up, report) and a message a user can act on.
#pragma once

#include <cassert>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <variant>

namespace kappa {

enum class ErrorCode {
  kInvalidArgument,  // the caller's input is wrong; retrying will not help
  kNotFound,
  kAlreadyExists,
  kConflict,
  kForbidden,
  kTimeout,      // no answer in the allotted time; may succeed later
  kUnavailable,  // transport failure: broker or server unreachable
  kInternal,     // anything else the remote side reported
  // The requested version is no longer available (HTTP 410 Gone): start over from a fresh read.
  kGone,
  // Credentials missing, expired or rejected (HTTP 401).
  kUnauthenticated,
};

const char* errorCodeName(ErrorCode code);

struct Error {
  ErrorCode code;
  std::string message;

  bool operator==(const Error&) const = default;
};

// How a caller meets an error; the one place that sorts error codes.
enum class ErrorClass {
  kRetriable,  // may succeed later as it is (transport, timeout, server trouble): back off
  kConflict,   // the object changed since it was read: read it again and redo, at once
  kTerminal,   // refused as such (invalid, forbidden): the same request fails again
};

inline ErrorClass classify(const Error& e) {
  switch (e.code) {
    case ErrorCode::kConflict:
      return ErrorClass::kConflict;
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kForbidden:
      return ErrorClass::kTerminal;
    default:
      return ErrorClass::kRetriable;
  }
}

inline std::ostream& operator<<(std::ostream& os, const Error& e) {
  return os << errorCodeName(e.code) << ": " << e.message;
}

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & {
    assert(ok());
    return std::get<0>(v_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<0>(v_);
  }
  T&& value() && {
    assert(ok());
    return std::get<0>(std::move(v_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const {
    assert(!ok());
    return std::get<1>(v_);
  }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)) {}  // NOLINT

  bool ok() const { return !error_.has_value(); }
  explicit operator bool() const { return ok(); }
  const Error& error() const {
    assert(!ok());
    return *error_;
  }

 private:
  std::optional<Error> error_;
};

inline const char* errorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return "InvalidArgument";
    case ErrorCode::kNotFound:
      return "NotFound";
    case ErrorCode::kAlreadyExists:
      return "AlreadyExists";
    case ErrorCode::kConflict:
      return "Conflict";
    case ErrorCode::kForbidden:
      return "Forbidden";
    case ErrorCode::kTimeout:
      return "Timeout";
    case ErrorCode::kUnavailable:
      return "Unavailable";
    case ErrorCode::kInternal:
      return "Internal";
    case ErrorCode::kGone:
      return "Gone";
    case ErrorCode::kUnauthenticated:
      return "Unauthenticated";
  }
  return "Unknown";
}

}  // namespace kappa
