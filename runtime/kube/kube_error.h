// Maps what the apiserver and the transport report to Error values: HTTP status plus the
// metav1.Status body (reason, message, details.causes) to an ErrorCode a caller can branch on,
// keeping the field causes of a 422 in the message so a user sees which field is wrong.
#pragma once

#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/core/result.h"

namespace kappa::kube {

struct StatusCause {
  std::string field;   // e.g. "spec.replicas"
  std::string reason;  // e.g. "FieldValueInvalid"
  std::string message;
  bool operator==(const StatusCause&) const = default;
};

// A failed apiserver call, as the server described it.
struct KubeError {
  int httpStatus = 0;
  std::string reason;  // Status.reason: NotFound, AlreadyExists, Conflict, Invalid, Expired...
  std::string message;
  std::vector<StatusCause> causes;

  ErrorCode code() const;
  // Message: "<reason> (HTTP <status>): <message>", then, when the server listed causes,
  // " | causes: <field>: <cause message>; <field>: <cause message>...".
  Error toError() const;
  bool operator==(const KubeError&) const = default;
};

// Parses an error response. A body that is not a Status (a proxy's text page, nothing) still
// gives a KubeError with the HTTP status and the body as message.
KubeError parseStatus(int httpStatus, std::string_view body);

// Status code of the HTTP response (or of a watch ERROR event's Status) and its reason.
ErrorCode errorCodeFor(int httpStatus, std::string_view reason);

// Field paths of the causes listed in an Error built by KubeError::toError(), in order: the
// part of each "<field>: <message>" item before ": ". Lets a caller check which fields the
// server rejected without a side channel.
std::vector<std::string> causeFields(const Error& error);

std::ostream& operator<<(std::ostream& os, const KubeError& e);

}  // namespace kappa::kube
