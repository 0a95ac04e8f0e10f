// Kubernetes client figures on a real kube-apiserver: how long a write takes to reach a
// watcher, and how much memory an informer cache of 10k objects costs.
//
//   kube_bench [--kubeconfig FILE] [--events N] [--objects N]
//
// watch_event_latency_ms_*: from just before a merge-patch of a ConfigMap is sent to the
// moment the watch delivers the MODIFIED event for it (write round trip + apiserver fan-out
// + our line-by-line stream decoding), over N sequential writes.
// informer_rss_10k_objects_mib: growth of this process's resident set from before an
// informer starts to after it has synced N ConfigMaps of ~200 bytes of data each (freed
// heap returned to the OS before each reading).
#include <CLI/CLI.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <thread>
#include <vector>

#include "bench/process_memory.h"
#include "runtime/kube/http_kube_api.h"
#include "runtime/kube/informer.h"

using namespace kappa;
using namespace kappa::kube;
using SteadyClock = std::chrono::steady_clock;

namespace {

int die(const std::string& what) {
  std::cerr << "kube_bench: " << what << "\n";
  return 2;
}

double percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  size_t i = std::min(v.size() - 1, static_cast<size_t>(q * (v.size() - 1) + 0.5));
  return v[i];
}

std::string uniqueNamespace() {
  auto now = std::chrono::system_clock::now().time_since_epoch();
  return "kube-bench-" +
         std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(now).count());
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Kubernetes client benchmarks"};
  std::string kubeconfig;
  int events = 300;
  int objects = 10000;
  app.add_option("--kubeconfig", kubeconfig, "kubeconfig (default: $KUBECONFIG, ~/.kube/config)");
  app.add_option("--events", events, "watch latency samples");
  app.add_option("--objects", objects, "objects in the informer cache");
  CLI11_PARSE(app, argc, argv);

  auto cfg = kubeconfig.empty() ? loadDefaultConfig() : loadKubeconfigFile(kubeconfig);
  if (!cfg) return die(cfg.error().message);
  ClientOptions opts;
  opts.qps = 0;  // measure the server and the client, not the client-side limiter
  auto created = HttpKubeApi::create(*cfg, opts);
  if (!created) return die(created.error().message);
  auto& api = **created;

  const std::string ns = uniqueNamespace();
  if (auto r =
          api.create({resources::namespaces(), ""},
                     {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns}}}});
      !r) {
    return die("creating namespace: " + r.error().message);
  }
  CollectionRef cms{resources::configMaps(), ns};
  auto cleanup = [&] {
    // deletecollection: the test control plane runs no namespace controller.
    (void)api.request("DELETE", cms.path());
    (void)api.remove({resources::namespaces(), "", ns, {}});
  };

  // --- watch event latency -----------------------------------------------------------------
  auto probe = api.create(cms, {{"metadata", {{"name", "latency-probe"}}}, {"data", {{"i", "0"}}}});
  if (!probe) return die("creating probe: " + probe.error().message);
  ListOptions lo;
  lo.resourceVersion = resourceVersionOf(*probe);
  lo.fieldSelector = "metadata.name=latency-probe";
  lo.timeout = std::chrono::seconds(600);
  auto watch = api.watch(cms, lo);
  if (!watch) return die("watch: " + watch.error().message);
  std::vector<double> latencies;
  for (int i = 1; i <= events; ++i) {
    auto value = std::to_string(i);
    auto start = SteadyClock::now();
    auto w = api.patch(cms.object("latency-probe"), PatchType::kMerge, {{"data", {{"i", value}}}});
    if (!w) return die("patch: " + w.error().message);
    while (true) {
      auto ev = (*watch)->next();
      if (!ev || !ev->has_value()) return die("watch ended early");
      if ((*ev)->object["data"].value("i", "") == value) break;
    }
    latencies.push_back(
        std::chrono::duration<double, std::milli>(SteadyClock::now() - start).count());
  }
  watch->reset();
  std::printf("BENCH watch_event_latency_ms_p50 %.3f ms\n", percentile(latencies, 0.50));
  std::printf("BENCH watch_event_latency_ms_p99 %.3f ms\n", percentile(latencies, 0.99));
  std::fflush(stdout);

  // --- informer memory -----------------------------------------------------------------------
  std::atomic<int> next{0};
  std::atomic<bool> failed{false};
  const std::string payload(200, 'x');
  std::vector<std::thread> writers;
  for (int t = 0; t < 8; ++t) {
    writers.emplace_back([&] {
      for (int i = next++; i < objects && !failed; i = next++) {
        Json obj = {{"metadata",
                     {{"name", "obj-" + std::to_string(i)}, {"labels", {{"bench", "informer"}}}}},
                    {"data", {{"payload", payload}}}};
        if (!api.create(cms, obj)) failed = true;
      }
    });
  }
  for (auto& w : writers) w.join();
  if (failed) {
    cleanup();
    return die("creating objects failed");
  }
  double before = kappa::bench::rssMiB();
  InformerOptions io;
  io.collection = cms;
  io.labelSelector = "bench=informer";
  Informer informer(api, io);
  informer.start();
  if (!informer.waitForSync(std::chrono::minutes(5)) ||
      informer.store().size() != static_cast<size_t>(objects)) {
    cleanup();
    return die("informer did not sync " + std::to_string(objects) + " objects");
  }
  double after = kappa::bench::rssMiB();
  informer.stop();
  std::printf("BENCH informer_rss_%dk_objects_mib %.1f MiB\n", objects / 1000, after - before);
  cleanup();
  return 0;
}
