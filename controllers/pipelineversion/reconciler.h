// The reconcile driver of PipelineVersions: for one object key it reads the world through the
// ports, asks decide() what to do, writes the decided status through the status subresource
// with the resourceVersion precondition, and only then runs the decided actions in order.
//
// Guarantees:
//  - Level-triggered and idempotent: the key is all it gets; a pass on a converged object
//    writes nothing and runs nothing.
//  - A status write that fails (409: the object changed since it was read) runs no action;
//    the pass asks to be run again at once, and re-reads and re-decides.
//  - The alias is written only with a precondition (update with the resourceVersion decide()
//    saw, or create-if-absent), so two candidates can never both win a flip.
//  - Errors are sorted by classify() (runtime/core/result.h): a conflict stops the pass and
//    asks for another at once; a terminal refusal to create the output topics is remembered
//    and fed back to decide() as KafkaFacts::topicCreateError, which fails the version with
//    that reason; anything else stops the pass and asks for a retry with backoff. Undoing a
//    step is decide()'s (each phase re-checks the world).
//  - A spec this code cannot read (the CRD schema should have refused it) is a terminal
//    outcome: nothing to do until the object changes.
//  - Output comparisons run on background threads (ValidationRuns): a pass never blocks on
//    one; decide() polls the result and applies validation.timeoutSeconds itself.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "controllers/pipelineversion/decide.h"
#include "controllers/pipelineversion/ports.h"
#include "controllers/pipelineversion/validation_runs.h"
#include "runtime/kafka/lag_monitor.h"
#include "runtime/kube/controller.h"
#include "runtime/kube/event_recorder.h"
#include "runtime/kube/kube_api.h"
#include "runtime/kube/object_store.h"

namespace kappa::controllers {

struct ObjectKey {
  std::string ns;
  std::string name;
  std::string str() const { return ns + "/" + name; }
  bool operator==(const ObjectKey&) const = default;
};

// "ns/name" -> key.
ObjectKey parseObjectKey(const std::string& key);

kube::Resource pipelineVersions();

struct ReconcilerOptions {
  std::string fieldManager = "kappa-operator";
  // Expected replay rate for the retention preflight until the replay has measured its own.
  double assumedReplayRate = 10000;
};

class Reconciler {
 public:
  struct Ports {
    kube::KubeApi& kube;
    KafkaConnector& kafka;
    WorkloadRunner& workloads;
    kube::EventRecorder& events;
    Clock& clock;
    // Optional informer cache of PipelineVersions: sibling versions are read from it (the
    // object itself is always read with a GET, so the status precondition is fresh).
    const kube::BasicObjectStore<CachedVersion>* cache = nullptr;
  };

  Reconciler(Ports ports, ReconcilerOptions options = {},
             std::function<void(const std::string& key)> onValidationDone = {});

  kube::Outcome reconcile(const ObjectKey& key);

  // The admission webhook's check of a PipelineVersion about to be created (the object of
  // the AdmissionReview): decide()'s ownership rules (ownershipRefusal) against the other
  // versions in the cache and the serving alias. Kafka is not read: an output topic that
  // already holds records is the controller's to refuse. nullopt: admitted, also when the
  // spec cannot be read (the CRD schema refuses it) or a read fails (the controller checks
  // again before it creates anything).
  std::optional<Refusal> admit(const kube::Json& object);

 private:
  struct Pass;
  // The other versions of `pipeline` in key.ns, from the cache when there is one.
  Result<std::vector<OtherVersion>> siblings(const ObjectKey& key, const std::string& pipeline);
  // Which other versions (any pipeline, every namespace seen) use one of `topics`.
  Result<std::vector<TopicClaim>> claims(const ObjectKey& key, const std::set<std::string>& topics);
  // Calls `visit` with every version in `ns` and its pipeline, from the cache when there is
  // one: the medallion facts of Observed.
  Result<void> forEachVersion(
      const std::string& ns,
      const std::function<void(const std::string& pipeline, const OtherVersion&)>& visit);
  // The alias, the sibling versions and the topic claims into o; nullopt when all were
  // read, else what failed.
  std::optional<std::pair<std::string, Error>> observeNeighbours(const ObjectKey& key, Observed& o);
  // nullopt when every fact was read; else the outcome of the pass (a retry).
  std::optional<kube::Outcome> gatherKafka(Pass& pass);
  // Observed::programError: spec.processor.builtin parsed as kappa-worker parses it.
  static void checkProgram(const kube::Json& object, Observed& o);
  // The librdkafka properties in the Secret spec.kafka.credentialsSecret names (none without
  // one); a missing Secret is a Warning Event on the object and a retry.
  Result<std::map<std::string, std::string>> kafkaCredentials(const ObjectKey& key,
                                                              const kube::Json& obj,
                                                              const std::string& secret);
  // The steps of a pass; nullopt: go on, else the pass ends with that outcome.
  std::optional<kube::Outcome> observe(Pass& pass);
  std::optional<kube::Outcome> writeStatus(Pass& pass, const Status& status);
  std::optional<kube::Outcome> runActions(Pass& pass, const std::vector<Action>& actions);
  Result<void> execute(Pass& pass, const Action& action);
  // Drops what is kept in memory for an object that is gone.
  void forget(const ObjectKey& key);
  WorkerRequest workerRequest(const Pass& pass, const EnsureWorker& a) const;

  Ports ports_;
  ReconcilerOptions options_;
  ValidationRuns validations_;
  std::mutex mu_;
  // Terminal topic-creation errors, per object key, until the object is gone.
  std::map<std::string, std::string> topicCreateErrors_;
  // The source end offsets observed for each Replaying version, per object key, for its lag
  // in seconds, and its last window of lag samples, for stragglers; dropped when it leaves
  // Replaying. Kept in memory only: after a restart the first sample's seconds are an
  // estimate, which delays a catch-up by one sample, and stragglers are named again only once
  // a new window has passed.
  struct LagHistory {
    std::string consumerGroup;  // a new group (a re-created object) starts a new history
    kafka::EndOffsetHistory ends;
    kafka::ProgressWindow progress;
  };
  std::map<std::string, LagHistory> lagHistories_;
};

}  // namespace kappa::controllers
