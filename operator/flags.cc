#include "operator/flags.h"

#include <CLI/CLI.hpp>
#include <iostream>

namespace kappa::op {

std::optional<int> parseFlags(int argc, char** argv, Flags& f) {
  CLI::App app{"kappa-operator: blue-green reprocessing cutovers for Kafka stream pipelines"};
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
  app.add_option("--webhook-address", f.webhookAddress,
                 "host:port of the validating admission webhook (HTTPS, POST /validate); "
                 "empty: no webhook")
      ->envname("KAPPA_WEBHOOK_ADDRESS");
  app.add_option("--webhook-cert-dir", f.webhookCertDir,
                 "Directory with the webhook's tls.crt and tls.key (reloaded when they change)")
      ->envname("KAPPA_WEBHOOK_CERT_DIR");
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
  return std::nullopt;
}

}  // namespace kappa::op
