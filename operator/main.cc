// kappa-operator: the controller manager. Wires the Kubernetes and Kafka clients, the
// PipelineVersion informer and work queue, the reconcile workers (gated by Lease-based
// leader election), and the HTTP endpoints: /metrics and /healthz on --metrics-address,
// /healthz and /readyz on --health-probe-address. SIGTERM stops it cleanly: the workers
// finish their current pass, the Lease is released, the informer stops.
#include <malloc.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <prometheus/gauge.h>
#include <atomic>
#include <csignal>
#include <functional>
#include <thread>

#include "controllers/pipelineversion/adapters/kafka_connector.h"
#include "controllers/pipelineversion/adapters/kube_workload_runner.h"
#include "controllers/pipelineversion/codec.h"
#include "controllers/pipelineversion/reconciler.h"
#include "controllers/pipelineversion/triggers.h"
#include "operator/flags.h"
#include "operator/pipeline_metrics.h"
#include "operator/probe_server.h"
#include "runtime/kube/admission_server.h"
#include "runtime/kube/controller.h"
#include "runtime/kube/event_recorder.h"
#include "runtime/kube/http_kube_api.h"
#include "runtime/kube/informer.h"
#include "runtime/kube/kube_config.h"
#include "runtime/kube/leader_election.h"
#include "runtime/kube/work_queue.h"
#include "runtime/metrics/metrics_server.h"

namespace {

using namespace kappa;
using namespace std::chrono_literals;

std::atomic<bool> stopRequested{false};
std::atomic<bool> lostLease{false};
void onSignal(int) { stopRequested.store(true); }

std::string defaultIdentity() {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  return std::string(host) + "_" + std::to_string(getpid());
}

// The validating webhook for PipelineVersions: a create that breaks an ownership rule is
// refused with the field and the other object named. Served by every replica (each has the
// informer's cache); the controller checks the same rules again.
// Until the informer has synced, a review gets 503 (the cache would let anything in).
Result<std::unique_ptr<kube::AdmissionServer>> startWebhook(const op::Flags& flags,
                                                            controllers::Reconciler& reconciler,
                                                            std::function<bool()> synced) {
  kube::AdmissionServer::Options o;
  o.ready = std::move(synced);
  o.address = flags.webhookAddress;
  o.certFile = flags.webhookCertDir + "/tls.crt";
  o.keyFile = flags.webhookCertDir + "/tls.key";
  return kube::AdmissionServer::start(
      o, [&reconciler](const kube::AdmissionRequest& r) -> std::optional<std::string> {
        if (r.operation != "CREATE") return std::nullopt;
        kube::Json object = r.object;
        // The request's namespace is the object's (an object may leave it out).
        if (object.is_object() && !r.ns.empty()) object["metadata"]["namespace"] = r.ns;
        auto refusal = reconciler.admit(object);
        if (!refusal) return std::nullopt;
        spdlog::info("msg=\"admission denied\" object={}/{} reason={}", r.ns, r.name,
                     refusal->reason);
        return refusal->field + ": " + refusal->message;
      });
}

int run(const op::Flags& flags) {
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
  auto& leading = prometheus::BuildGauge()
                      .Name("kappa_operator_leader")
                      .Help("1 while this instance holds the leader lease")
                      .Register(registry)
                      .Add({});

  // Failed passes back off from 200 ms up to a minute: a broker or apiserver outage of a few
  // minutes must not leave a version waiting many minutes more once it is over.
  kube::WorkQueue queue(std::chrono::milliseconds(200), std::chrono::seconds(60));
  controllers::VersionInformer::Options informerOptions;
  informerOptions.collection = kube::CollectionRef{controllers::pipelineVersions(), flags.ns};
  informerOptions.transform = [](kube::Json obj) {
    return controllers::cachedVersionFromJson(obj);
  };
  controllers::VersionInformer informer(kube, informerOptions);
  controllers::queueOnChanges(informer, queue);
  // Worker Deployments and Pods and alias ConfigMaps, watched: a worker going unready or an
  // alias edited queues its versions at once.
  auto managed = controllers::watchManaged(kube, flags.ns, informer, queue);
  auto pipelineMetrics = std::make_shared<op::PipelineMetrics>(
      registry, [&informer] { return informer.store().list(); });
  (*metrics)->add(pipelineMetrics);
  informer.addHandlers(controllers::VersionInformer::Handlers{
      {}, [&](const auto& old, const auto& o) { pipelineMetrics->observeUpdate(*old, *o); }, {}});

  auto probes =
      op::ProbeServer::start(flags.healthProbeAddress, [&] { return informer.hasSynced(); });
  if (!probes) {
    spdlog::error("msg=\"health probe server\" error=\"{}\"", probes.error().message);
    return 2;
  }

  controllers::RdKafkaConnector kafka;
  controllers::KubeWorkloadOptions workloadOptions;
  workloadOptions.workerImage = flags.workerImage;
  if (!flags.workerCommand.empty()) workloadOptions.workerCommand = {flags.workerCommand};
  controllers::KubeWorkloadRunner workloads(kube, workloadOptions);
  std::string identity = flags.identity.empty() ? defaultIdentity() : flags.identity;
  kube::KubeEventRecorder events(kube, "kappa.io/kappa-operator", identity);
  controllers::ReconcilerOptions reconcilerOptions;
  reconcilerOptions.assumedReplayRate = flags.assumedReplayRate;
  controllers::Reconciler reconciler(
      controllers::Reconciler::Ports{kube, kafka, workloads, events, systemClock(),
                                     &informer.store()},
      reconcilerOptions, [&](const std::string& key) { queue.add(key); });

  std::unique_ptr<kube::AdmissionServer> webhook;
  if (!flags.webhookAddress.empty()) {
    auto started = startWebhook(flags, reconciler, [&informer] { return informer.hasSynced(); });
    if (!started) {
      spdlog::error("msg=\"admission webhook\" error=\"{}\"", started.error().message);
      return 2;
    }
    webhook = std::move(*started);
  }

  informer.start();
  for (auto& m : managed) m->start();
  spdlog::info("msg=started version={} namespace={} identity={}", "0.1.0",
               flags.ns.empty() ? std::string("*") : flags.ns, identity);

  kube::ControllerOptions controllerOptions;
  controllerOptions.workers = flags.workers;
  kube::Controller controller(
      queue,
      [&](const std::string& key) {
        return reconciler.reconcile(controllers::parseObjectKey(key));
      },
      registry, controllerOptions);
  // The leader's work: the controller's workers until the stop token fires.
  auto work = [&](std::stop_token stop) {
    leading.Set(1);
    spdlog::info("msg=leading workers={}", flags.workers);
    if (!informer.waitForSync(std::chrono::minutes(5)))
      spdlog::warn("msg=\"informer not synced yet\"");
    controller.run(stop);
    leading.Set(0);
  };

  std::optional<kube::LeaderElectionConfig> election;
  if (flags.leaderElection) {
    election.emplace();
    election->ns = leaseNamespace;
    election->name = flags.leaseName;
    election->identity = identity;
  }
  std::jthread elector = kube::runLeading(kube, election, work, [] {
    lostLease.store(true);
    stopRequested.store(true);
  });

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
  for (auto& m : managed) m->stop();
  informer.stop();
  queue.shutDown();
  spdlog::info("msg=stopped lost_lease={}", lostLease.load());
  return lostLease.load() ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGTERM, onSignal);
  std::signal(SIGINT, onSignal);
  op::Flags f;
  if (auto exitCode = op::parseFlags(argc, argv, f)) return *exitCode;
  spdlog::set_pattern("ts=%Y-%m-%dT%H:%M:%S.%eZ level=%l %v", spdlog::pattern_time_type::utc);
  spdlog::set_level(spdlog::level::from_str(f.logLevel));
  // An operator mostly waits: two malloc arenas instead of one per core per thread keep its
  // footprint small.
  mallopt(M_ARENA_MAX, 2);
  return run(f);
}
