// kappa-serve's HTTP side: the answers to its requests, from a ServingView (handle() is free
// of sockets, so every answer is unit-tested), and the server that carries them (Boost.Beast,
// keep-alive, a few threads).
//
//   GET /v1/<key>  200 {"key","value","version","topic","sourcePartition","sourceOffset"}
//                  (value: the record's value, embedded as JSON when it is JSON, else a
//                  string); 404 {"key","error","version"} when the serving view lacks the key;
//                  503 before a first view is built. The header Kappa-Version names the
//                  version that answered. Keys are percent-decoded.
//   GET /keys?limit=N  200 {"version","keys"}: up to N (10; 1000 at most) keys of the
//                  serving view, in no particular order
//   GET /healthz   200 while the process runs
//   GET /readyz    200 once a first view is built, 503 before
//   GET /metrics   Prometheus text: the view (keys, version, swaps, swap duration, view lag,
//                  build rate) and the requests (count by code, latency)
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/core/result.h"
#include "runtime/serve/serving_reader.h"

namespace kappa::serve {

struct HttpAnswer {
  int status = 200;
  std::string contentType = "application/json";
  std::string body;
  std::string version;  // Kappa-Version header, empty for none
};

class ServeFront {
 public:
  explicit ServeFront(const ServingView& view);
  // method is GET, HEAD, ...; target the request target (path and query).
  HttpAnswer handle(std::string_view method, std::string_view target);
  // Counts a request's outcome and latency (called by the server after writing it).
  void observe(int status, double seconds);

 private:
  HttpAnswer get(std::string_view key);
  HttpAnswer keys(std::string_view target);
  std::string metrics();

  const ServingView& view_;
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Histogram& latency_;
  prometheus::Gauge& keys_;
  prometheus::Family<prometheus::Gauge>& versionInfo_;
  prometheus::Gauge& swaps_;
  prometheus::Gauge& unalignedSwaps_;
  prometheus::Gauge& lastSwapSeconds_;
  prometheus::Gauge& lagRecords_;
  prometheus::Gauge& buildRate_;
  prometheus::Gauge& building_;
  prometheus::Gauge& ready_;
  std::vector<prometheus::Gauge*> versionGauges_;
  std::mutex mu_;  // one scrape at a time (the gauges are set, then serialized)
};

// Percent-decodes a path segment; nullopt when an escape is malformed.
std::optional<std::string> percentDecode(std::string_view s);

class HttpServer {
 public:
  // address host:port (port 0: any free one); `threads` serve the connections.
  static Result<std::unique_ptr<HttpServer>> start(const std::string& address, int threads,
                                                   ServeFront& front);
  ~HttpServer();
  int port() const;

 private:
  struct Impl;
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kappa::serve
