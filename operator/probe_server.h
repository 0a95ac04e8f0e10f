// ProbeServer: the operator's health endpoints on --health-probe-address. GET /healthz
// answers 200 while the process runs, /readyz 200 once ready() holds (the informer has
// synced) and 503 before; anything else is 404. One thread serves them; a client gets 5 s
// to send its request.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "runtime/core/result.h"

namespace kappa::op {

class ProbeServer {
 public:
  // address is host:port (":8081" and "0.0.0.0:8081" listen on every IPv4 address; port 0
  // picks a free one). Fails with kInvalidArgument when the address does not resolve or
  // cannot be bound.
  static Result<std::unique_ptr<ProbeServer>> start(const std::string& address,
                                                    std::function<bool()> ready);
  ~ProbeServer();

  int port() const;

 private:
  struct Impl;
  explicit ProbeServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kappa::op
