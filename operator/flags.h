// kappa-operator's command line: every flag, its environment variable and its default.
#pragma once

#include <optional>
#include <string>

namespace kappa::op {

struct Flags {
  std::string kubeconfig;
  std::string context;
  std::string ns;
  std::string workerImage = "kappa-worker:latest";
  std::string workerCommand;
  std::string metricsAddress = "0.0.0.0:8080";
  std::string healthProbeAddress = "0.0.0.0:8081";
  std::string webhookAddress;  // empty: no admission webhook
  std::string webhookCertDir = "/etc/kappa/webhook";
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

// Fills `flags` from the command line and the environment. nullopt: run; else the exit code
// (0 after --help, 2 with the parse error printed).
std::optional<int> parseFlags(int argc, char** argv, Flags& flags);

}  // namespace kappa::op
