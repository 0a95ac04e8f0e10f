// kappa-operator: the controller manager. Wires the Kubernetes and Kafka clients, the
// PipelineVersion informer and work queue, the reconcile workers (gated by Lease-based
// leader election), and the HTTP endpoints: /metrics and /healthz on --metrics-address,
// /healthz and /readyz on --health-probe-address. SIGTERM stops it cleanly: the workers
// finish their current pass, the Lease is released, the informer stops.
#include <malloc.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <CLI/CLI.hpp>
#include <atomic>
#include <csignal>
#include <iostream>
#include <thread>

#include "controllers/pipelineversion/codec.h"
#include "controllers/pipelineversion/kafka_connector.h"
#include "controllers/pipelineversion/reconciler.h"
#include "operator/pipeline_metrics.h"
#include "operator/probe_server.h"
#include "runtime/kube/event_recorder.h"
#include "runtime/kube/http_kube_api.h"
#include "runtime/kube/informer.h"
#include "runtime/kube/kube_config.h"
#include "runtime/kube/kube_workload_runner.h"
#include "runtime/kube/leader_election.h"
#include "runtime/kube/work_queue.h"
#include "runtime/metrics/metrics_server.h"

namespace {

using namespace kappa;
using namespace std::chrono_literals;

std::atomic<bool> stopRequested{false};
std::atomic<bool> lostLease{false};
void onSignal(int) { stopRequested.store(true); }

struct Flags {
  std::string kubeconfig;
  std::string context;
  std::string ns;
  std::string workerImage = "kappa-worker:latest";
  std::string workerCommand;
  std::string metricsAddress = "0.0.0.0:8080";
  std::string healthProbeAddress = "0.0.0.0:8081";
  bool leaderElection = true;
  std::string leaseName = "kappa-operator";
  std::string leaseNamespace;
  std::string identity;
  int workers = 1;
  double assumedReplayRate = 10000;
  double qps = 50;
  int burst = 100;
  std::string logLevel = "info";
};

std::string defaultIdentity() {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  return std::string(host) + "_" + std::to_string(getpid());
}

int run(const Flags& flags) {
  auto config = flags.kubeconfig.empty()
                    ? kube::loadDefaultConfig()
                    : kube::loadKubeconfigFile(flags.kubeconfig, flags.context);
  if (!config.ok()) {
    spdlog::error("msg=\"kubernetes config\" error=\"{}\"", config.error().message);
    return 2;
  }
  kube::ClientOptions clientOptions;
  clientOptions.qps = flags.qps;
  clientOptions.burst = flags.burst;
  // Below the leader election's renew deadline (see leader_election.h).
  clientOptions.requestTimeout = 5s;
  std::string leaseNamespace = flags.leaseNamespace.empty()
                                   ? (flags.ns.empty() ? config->ns : flags.ns)
                                   : flags.leaseNamespace;
  auto api = kube::HttpKubeApi::create(*config, clientOptions);
  if (!api.ok()) {
    spdlog::error("msg=\"kubernetes client\" error=\"{}\"", api.error().message);
    return 2;
  }
  kube::KubeApi& kube = **api;

  auto metrics = metrics::MetricsServer::start(flags.metricsAddress);
  if (!metrics.ok()) {
    spdlog::error("msg=\"metrics server\" error=\"{}\"", metrics.error().message);
    return 2;
  }
  auto& registry = (*metrics)->registry();
  auto& reconciles = prometheus::BuildCounter()
                         .Name("kappa_operator_reconciles_total")
                         .Help("Reconcile passes by result")
                         .Register(registry);
  auto& reconcileOk = reconciles.Add({{"result", "ok"}});
  auto& reconcileRetry = reconciles.Add({{"result", "retry"}});
  auto& reconcileConflict = reconciles.Add({{"result", "requeue"}});
  auto& durations = prometheus::BuildHistogram()
                        .Name("kappa_operator_reconcile_seconds")
                        .Help("Duration of one reconcile pass")
                        .Register(registry)
                        .Add({}, prometheus::Histogram::BucketBoundaries{0.005, 0.01, 0.05, 0.1,
                                                                         0.5, 1, 5, 10, 30});
  auto& leading = prometheus::BuildGauge()
                      .Name("kappa_operator_leader")
                      .Help("1 while this instance holds the leader lease")
                      .Register(registry)
                      .Add({});
  auto& queueDepth = prometheus::BuildGauge()
                         .Name("kappa_operator_queue_depth")
                         .Help("Keys ready in the reconcile queue")
                         .Register(registry)
                         .Add({});

  // Failed passes back off from 200 ms up to a minute: a broker or apiserver outage of a few
  // minutes must not leave a version waiting many minutes more once it is over.
  kube::WorkQueue queue(std::chrono::milliseconds(200), std::chrono::seconds(60));
  using VersionInformer = kube::BasicInformer<controllers::CachedVersion>;
  using VersionPtr = VersionInformer::Ptr;
  VersionInformer::Options informerOptions;
  informerOptions.collection = kube::CollectionRef{controllers::pipelineVersions(), flags.ns};
  informerOptions.transform = [](kube::Json obj) {
    return controllers::cachedVersionFromJson(obj);
  };
  VersionInformer informer(kube, informerOptions);
  // An object and every other version of its pipeline: a flip or a new version changes what
  // the siblings decide. Their passes go to the background lane, so a cutover's next pass is
  // not queued behind one pass of every earlier version of its pipeline.
  auto enqueueWithSiblings = [&](const VersionPtr& obj) {
    queue.add(controllers::keyOf(*obj));
    for (const auto& other : informer.store().listNamespace(obj->ns)) {
      if (other != obj && other->pipeline == obj->pipeline) {
        queue.addBackground(controllers::keyOf(*other));
      }
    }
  };
  auto pipelineMetrics = std::make_shared<op::PipelineMetrics>(
      registry, [&informer] { return informer.store().list(); });
  (*metrics)->add(pipelineMetrics);
  informer.addHandlers(
      VersionInformer::Handlers{[&](const VersionPtr& o) { enqueueWithSiblings(o); },
                                [&](const VersionPtr& old, const VersionPtr& o) {
                                  pipelineMetrics->observeUpdate(*old, *o);
                                  // Siblings decide on what OtherVersion shows of this version
                                  // (phase, topics, drain, deletion): lag and progress refreshes
                                  // concern this version alone.
                                  if (old->other == o->other) {
                                    queue.add(controllers::keyOf(*o));
                                  } else {
                                    enqueueWithSiblings(o);
                                  }
                                },
                                [&](const VersionPtr& o) { enqueueWithSiblings(o); }});

  auto probes =
      op::ProbeServer::start(flags.healthProbeAddress, [&] { return informer.hasSynced(); });
  if (!probes) {
    spdlog::error("msg=\"health probe server\" error=\"{}\"", probes.error().message);
    return 2;
  }

  controllers::RdKafkaConnector kafka;
  kube::KubeWorkloadOptions workloadOptions;
  workloadOptions.workerImage = flags.workerImage;
  if (!flags.workerCommand.empty()) workloadOptions.workerCommand = {flags.workerCommand};
  kube::KubeWorkloadRunner workloads(kube, workloadOptions);
  std::string identity = flags.identity.empty() ? defaultIdentity() : flags.identity;
  kube::KubeEventRecorder events(kube, "kappa.io/kappa-operator", identity);
  controllers::SystemClock clock;
  controllers::ReconcilerOptions reconcilerOptions;
  reconcilerOptions.assumedReplayRate = flags.assumedReplayRate;
  controllers::Reconciler reconciler(
      controllers::Reconciler::Ports{kube, kafka, workloads, events, clock, &informer.store()},
      reconcilerOptions, [&](const std::string& key) { queue.add(key); });

  informer.start();
  spdlog::info("msg=started version={} namespace={} identity={}", "0.1.0",
               flags.ns.empty() ? std::string("*") : flags.ns, identity);

  // The leader's work: N workers draining the queue until the stop token fires.
  auto work = [&](std::stop_token stop) {
    leading.Set(1);
    spdlog::info("msg=leading workers={}", flags.workers);
    if (!informer.waitForSync(std::chrono::minutes(5)))
      spdlog::warn("msg=\"informer not synced yet\"");
    std::vector<std::jthread> workers;
    for (int i = 0; i < flags.workers; ++i) {
      workers.emplace_back([&, stop] {
        while (!stop.stop_requested()) {
          auto key = queue.getFor(500ms);
          queueDepth.Set(static_cast<double>(queue.len()));
          if (!key) continue;
          auto started = std::chrono::steady_clock::now();
          controllers::ReconcileResult r = reconciler.reconcile(controllers::parseObjectKey(*key));
          durations.Observe(
              std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
          if (r.retry) {
            reconcileRetry.Increment();
            spdlog::warn("msg=\"reconcile failed, retrying with backoff\" key={} error=\"{}\"",
                         *key, r.error);
            queue.addRateLimited(*key);
          } else {
            (r.error.empty() ? reconcileOk : reconcileConflict).Increment();
            queue.forget(*key);
            if (r.requeueAfter) queue.addAfter(*key, *r.requeueAfter);
          }
          queue.done(*key);
        }
      });
    }
    workers.clear();  // joins once the stop token fired
    leading.Set(0);
  };

  kube::LeaderElectionConfig leaseConfig;
  leaseConfig.ns = leaseNamespace;
  leaseConfig.name = flags.leaseName;
  leaseConfig.identity = identity;
  std::jthread elector;
  if (flags.leaderElection) {
    elector = std::jthread([&](std::stop_token stop) {
      kube::LeaderElector le(
          kube, leaseConfig,
          kube::LeaderCallbacks{work, [] { spdlog::info("msg=\"stopped leading\""); },
                                [](const std::string& who) {
                                  spdlog::info("msg=\"leader observed\" leader={}", who);
                                }});
      le.run(stop);
      // Lost the lease without being asked to stop: exit, so that a fresh process campaigns
      // again from a clean state (as client-go controllers do).
      if (!stop.stop_requested()) {
        lostLease.store(true);
        stopRequested.store(true);
      }
    });
  } else {
    elector = std::jthread([&](std::stop_token stop) { work(stop); });
  }

  for (int tick = 0; !stopRequested.load(); ++tick) {
    // Hand back free pages in the middle of the heap (list pages and API responses are
    // freed between the long-lived cache entries, which glibc alone would keep resident).
    if (tick % 150 == 0) malloc_trim(0);
    std::this_thread::sleep_for(200ms);
  }
  spdlog::info("msg=\"shutting down\"");
  elector.request_stop();
  elector.join();
  (*metrics)->remove(pipelineMetrics);  // a scrape no longer reads the informer's cache
  informer.stop();
  queue.shutDown();
  spdlog::info("msg=stopped lost_lease={}", lostLease.load());
  return lostLease.load() ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGTERM, onSignal);
  std::signal(SIGINT, onSignal);
  CLI::App app{"kappa-operator: blue-green reprocessing cutovers for Kafka stream pipelines"};
  Flags f;
  app.add_option("--kubeconfig", f.kubeconfig,
                 "kubeconfig file (default: $KUBECONFIG, "
                 "~/.kube/config, then in-cluster)");
  app.add_option("--context", f.context, "kubeconfig context (default: current)");
  app.add_option("--namespace", f.ns, "Watch only this namespace (default: all)")
      ->envname("KAPPA_NAMESPACE");
  app.add_option("--worker-image", f.workerImage, "Image of the built-in kappa-worker")
      ->envname("KAPPA_WORKER_IMAGE");
  app.add_option("--worker-command", f.workerCommand,
                 "Command of the built-in worker in its container (e.g. the path of "
                 "kappa-worker on the local stack; default: the image's entrypoint)")
      ->envname("KAPPA_WORKER_COMMAND");
  app.add_option("--metrics-address", f.metricsAddress, "host:port of /metrics and /healthz")
      ->envname("KAPPA_METRICS_ADDRESS");
  app.add_option("--health-probe-address", f.healthProbeAddress,
                 "host:port of /healthz and /readyz")
      ->envname("KAPPA_HEALTH_PROBE_ADDRESS");
  app.add_option("--leader-election", f.leaderElection,
                 "Elect a leader through a Lease (true/false)")
      ->envname("KAPPA_LEADER_ELECTION");
  app.add_option("--leader-election-name", f.leaseName, "Name of the Lease");
  app.add_option("--leader-election-namespace", f.leaseNamespace,
                 "Namespace of the Lease (default: --namespace, else the kubeconfig's)")
      ->envname("POD_NAMESPACE");
  app.add_option("--leader-election-identity", f.identity, "This candidate's identity")
      ->envname("POD_NAME");
  app.add_option("--workers", f.workers, "Concurrent reconciles")->check(CLI::Range(1, 64));
  app.add_option("--preflight-replay-rate", f.assumedReplayRate,
                 "Replay rate (messages/s) the retention preflight assumes until a replay has "
                 "measured its own")
      ->check(CLI::PositiveNumber);
  app.add_option("--kube-api-qps", f.qps, "Client-side rate limit of apiserver requests");
  app.add_option("--kube-api-burst", f.burst, "Burst of that rate limit");
  app.add_option("--log-level", f.logLevel, "trace, debug, info, warn, error")
      ->envname("KAPPA_LOG_LEVEL");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "kappa-operator: " << e.what() << "\n";
    return 2;
  }
  spdlog::set_pattern("ts=%Y-%m-%dT%H:%M:%S.%eZ level=%l %v", spdlog::pattern_time_type::utc);
  spdlog::set_level(spdlog::level::from_str(f.logLevel));
  // An operator mostly waits: two malloc arenas instead of one per core per thread keep its
  // footprint small.
  mallopt(M_ARENA_MAX, 2);
  return run(f);
}
