// Ports of the reconcile driver that the runtime adapters implement: the clock, where worker
// processes run (a Deployment in a cluster, local processes in tests), and the Kafka clients
// of a cluster. Small abstract classes; fakes live beside the tests.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "controllers/pipelineversion/types.h"
#include "runtime/core/clock.h"
#include "runtime/core/result.h"
#include "runtime/kafka/kafka_admin.h"
#include "runtime/kafka/output_comparator.h"

namespace kappa::controllers {

using EnvVar = std::pair<std::string, std::string>;

// The user's processor image (processor.container). Absent: the built-in kappa-worker.
struct ContainerProcessor {
  std::string image;
  std::vector<std::string> command;
  std::vector<std::string> args;
  std::vector<EnvVar> env;
  bool operator==(const ContainerProcessor&) const = default;
};

// The object a worker belongs to (the ownerReference of what the runner creates).
struct Owner {
  std::string apiVersion;
  std::string kind;
  std::string name;
  std::string uid;
  bool operator==(const Owner&) const = default;
};

// Everything a runner needs to run the workers of one version at one profile.
struct WorkerRequest {
  std::string ns;
  std::string name;  // <pipeline>-<version>
  std::string pipeline;
  std::string version;
  Owner owner;
  WorkerProfile profile = WorkerProfile::kSteady;
  int32_t replicas = 1;
  Resources resources;
  std::string priorityClassName;
  // KAPPA_* variables (the built-in program included, as KAPPA_PROGRAM).
  std::vector<EnvVar> env;
  std::optional<ContainerProcessor> container;
  // spec.kafka.credentialsSecret: its keys reach the worker as KAPPA_KAFKA_PROPERTY_<key>.
  std::string kafkaCredentialsSecret;
  bool operator==(const WorkerRequest&) const = default;
};

struct ReplayQuotaRequest {
  std::string ns;
  std::string name;
  Owner owner;
  std::string priorityClassName;
  std::map<std::string, std::string> hard;
  bool operator==(const ReplayQuotaRequest&) const = default;
};

// Runs the workers of a version. Every call is idempotent: ensure creates or updates,
// delete succeeds when nothing is there.
class WorkloadRunner {
 public:
  virtual ~WorkloadRunner() = default;
  virtual Result<void> ensureWorker(const WorkerRequest& request) = 0;
  virtual Result<void> deleteWorker(const std::string& ns, const std::string& name) = 0;
  virtual Result<WorkerFacts> observeWorker(const std::string& ns, const std::string& name) = 0;
  virtual Result<void> ensureReplayQuota(const ReplayQuotaRequest& request) = 0;
  virtual Result<void> deleteReplayQuota(const std::string& ns, const std::string& name) = 0;
  // The replay quota's spec.hard; nullopt when it does not exist.
  virtual Result<std::optional<ReplayQuotaHard>> replayQuota(const std::string& ns,
                                                             const std::string& name) = 0;
};

// The Kafka clients of one cluster. A PipelineVersion names its own bootstrap servers, so the
// driver asks for the clients of each; implementations cache them.
struct KafkaClients {
  // Shared: a pass keeps the client it started with while the connector replaces a worn one.
  std::shared_ptr<kafka::KafkaAdmin> admin;
  // Shared: a comparison runs on a background thread and may outlive a cache eviction.
  std::shared_ptr<kafka::OutputComparator> comparator;
};

class KafkaConnector {
 public:
  virtual ~KafkaConnector() = default;
  // credentials: librdkafka properties (sasl.*, ssl.*, security.protocol) from the Secret
  // that spec.kafka.credentialsSecret names; empty without one.
  virtual Result<KafkaClients> connect(const KafkaSpec& kafka,
                                       const std::map<std::string, std::string>& credentials) = 0;
};

}  // namespace kappa::controllers
