// AdmissionServer: a validating admission webhook endpoint over HTTPS. The apiserver POSTs an
// admission.k8s.io/v1 AdmissionReview to Options::path; the server hands its request to the
// validator and answers with the same uid, allowed or denied with the validator's message.
//
//  - TLS from a PEM certificate chain and key on disk (a mounted Secret). Each new connection
//    checks the files' modification times and loads a changed pair, so a rotated certificate
//    is served without a restart; a pair that fails to load leaves the previous one serving
//    (and is logged).
//  - One thread serves every connection; the validator runs on it, so it must answer fast
//    (the apiserver's timeoutSeconds). A client gets 10 s to handshake and send its request.
//  - A body that is not an AdmissionReview gets a 400; any other path a 404.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "runtime/core/result.h"
#include "runtime/kube/kube_api.h"

namespace kappa::kube {

struct AdmissionRequest {
  std::string uid;
  std::string operation;  // CREATE, UPDATE, DELETE, CONNECT
  std::string ns;
  std::string name;
  Json object;  // request.object (null for DELETE)
};

// nullopt: allowed; else the message of the denial.
using AdmissionValidator = std::function<std::optional<std::string>(const AdmissionRequest&)>;

class AdmissionServer {
 public:
  struct Options {
    std::string address = ":9443";  // host:port; port 0 picks a free one
    std::string certFile;           // PEM chain, server certificate first
    std::string keyFile;            // PEM private key
    std::string path = "/validate";
    // While it says false, reviews get 503 and the apiserver applies the failure policy:
    // a validator that answers from a cache must not allow what a synced cache would refuse.
    std::function<bool()> ready;
  };

  // Fails with kInvalidArgument when the address cannot be bound or the certificate and key
  // cannot be loaded.
  static Result<std::unique_ptr<AdmissionServer>> start(Options options,
                                                        AdmissionValidator validator);
  ~AdmissionServer();

  int port() const;

 private:
  struct Impl;
  explicit AdmissionServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The AdmissionReview response to `review` (the request body): allowed, or denied with
// `denial` as its message (HTTP-style code 403, as the apiserver reports a denial). Fails
// with kInvalidArgument when review is not an AdmissionReview with a request.uid.
Result<Json> admissionResponse(const Json& review, const AdmissionValidator& validator);

}  // namespace kappa::kube
