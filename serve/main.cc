// kappa-serve: the reference serving application. Follows a pipeline's serving alias with
// the reader library (ServingView) and answers GET /v1/<key> from the serving version's view;
// see http_front.h for the endpoints and docs/serving.md for how it follows a flip.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <csignal>
#include <thread>

#include "runtime/serve/serving_reader.h"
#include "serve/http_front.h"

namespace {

std::atomic<bool> stopRequested{false};
void onSignal(int) { stopRequested.store(true); }

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"kappa-serve: answers GET /v1/<key> from a pipeline's serving version"};
  kappa::serve::ReaderOptions o;
  std::string listen = ":8080";
  int threads = 2;
  int64_t alignSeconds = 60;
  std::vector<std::string> properties;
  app.add_option("--namespace", o.ns, "Namespace of the pipeline")
      ->envname("KAPPA_SERVE_NAMESPACE")
      ->required();
  app.add_option("--pipeline", o.pipeline,
                 "spec.pipeline of its PipelineVersions (the alias is <pipeline>-serving)")
      ->envname("KAPPA_SERVE_PIPELINE")
      ->required();
  app.add_option("--bootstrap", o.bootstrapServers, "Kafka bootstrap servers")
      ->envname("KAPPA_BOOTSTRAP_SERVERS")
      ->required();
  app.add_option("--kafka-property", properties,
                 "Extra librdkafka property key=value (repeat; e.g. security.protocol=SSL)");
  app.add_option("--kubeconfig", o.kubeconfig,
                 "kubeconfig file (default: $KUBECONFIG, ~/.kube/config, then in-cluster)");
  app.add_option("--listen", listen, "host:port of the HTTP endpoints (port 0: any free one)")
      ->envname("KAPPA_SERVE_LISTEN");
  app.add_option("--http-threads", threads, "Threads that answer HTTP requests")
      ->check(CLI::Range(1, 64));
  app.add_option("--align-timeout-seconds", alignSeconds,
                 "How long a new version's view, read to its end, may take to reach the "
                 "serving view's source position before it is swapped in anyway")
      ->check(CLI::Range(int64_t{0}, int64_t{86400}));
  CLI11_PARSE(app, argc, argv);
  for (const auto& p : properties) {
    auto eq = p.find('=');
    if (eq == std::string::npos || eq == 0) {
      spdlog::error("kappa-serve: --kafka-property {}: expected key=value", p);
      return 2;
    }
    o.kafkaProperties[p.substr(0, eq)] = p.substr(eq + 1);
  }
  o.kafkaProperties.emplace("log_level", "4");
  o.alignTimeout = std::chrono::seconds(alignSeconds);

  std::signal(SIGTERM, onSignal);
  std::signal(SIGINT, onSignal);
  std::unique_ptr<kappa::serve::ServingView> view;
  try {
    view = kappa::serve::ServingView::open(o);
  } catch (const std::exception& e) {
    spdlog::error("kappa-serve: {}", e.what());
    return 2;
  }
  kappa::serve::ServeFront front(*view);
  auto server = kappa::serve::HttpServer::start(listen, threads, front);
  if (!server) {
    spdlog::error("kappa-serve: {}", server.error().message);
    return 2;
  }
  spdlog::info("kappa-serve: following {}/{}-serving; HTTP on port {}", o.ns, o.pipeline,
               (*server)->port());
  std::string version;
  uint64_t swaps = 0;
  std::string lastError;
  while (!stopRequested.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    auto s = view->stats();
    if (s.version != version) {
      if (version.empty()) {
        spdlog::info("kappa-serve: serving version {} ({} keys from {})", s.version, s.keys,
                     s.topic);
      } else {
        spdlog::info("kappa-serve: swapped to version {} after {:.3f}s ({} keys from {}){}",
                     s.version, s.lastSwapSeconds, s.keys, s.topic,
                     s.unalignedSwaps > swaps ? ", at the alignment timeout" : "");
      }
      version = s.version;
      swaps = s.unalignedSwaps;
    }
    if (s.lastError != lastError) {
      if (!s.lastError.empty()) spdlog::warn("kappa-serve: {}", s.lastError);
      lastError = s.lastError;
    }
  }
  spdlog::info("kappa-serve: stopping");
  server->reset();
  return 0;
}
