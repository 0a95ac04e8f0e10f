// The PipelineVersion cutover state machine as a pure function: what the driver observed this
// pass and the current time in, the status to persist and the side effects to run out. No
// I/O, no clocks, no threads.
//
// Guarantees (each one has unit tests in tests/controllers/pipelineversion/decide_test.cc):
//  - One step per pass: a decision moves the phase at most once.
//  - The status of a decision is written (with the resourceVersion precondition) before any
//    of its actions run; a failed write discards the actions. So whatever crashes between
//    two steps, the next pass starts from a status that already names the step's intent.
//  - Every action is safe to run again; phases re-check the world instead of trusting that
//    an action ran. The alias flip is guarded by a CAS and by the observed alias: a version
//    whose name the alias already holds never flips it again.
//  - The finalizer is added before any external side effect and removed last.
//  - On a converged object a decision carries no status change and no actions. The one
//    exception is Replaying, whose status follows each new lag sample.
#pragma once

#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "controllers/pipelineversion/actions.h"
#include "controllers/pipelineversion/types.h"

namespace kappa::controllers {

struct Decision {
  // The full status to write first; nullopt: the observed status stays as it is.
  std::optional<Status> status;
  // Run in order once the status is written.
  std::vector<Action> actions;
  // Reconcile again after this long even without a watch event; nullopt: only on events.
  std::optional<Seconds> requeueAfter;
  bool operator==(const Decision&) const = default;
};

// Polling period while waiting on Kafka (lag, topic creation, a running comparison).
inline constexpr Seconds kPollInterval{10};
// Replaying samples the lag this often. A pass that comes sooner (the watch event of its own
// status write, a change of another version of its pipeline) leaves the sample and the status
// as they are; without
// that, every status write would trigger the next sample at once.
inline constexpr Seconds kLagSampleInterval{2};
// ... and this often at the tail of the replay (see lagSampleInterval): the first sample
// within the bound and the one that ends catchUp.stableSeconds come at most this late.
inline constexpr Seconds kStabilizingSampleInterval{1};
// A pass this much before the period is over still samples: the timer of a pass that began
// before the last sample was taken fires a little early, and skipping it would put the next
// sample a whole period later (up to twice the period between samples).
inline constexpr std::chrono::milliseconds kLagSampleSlack{500};
// A comparison that was inconclusive or failed runs again this long after it finished, not at
// once: each run reads both taps (or outputs) again, and a source that keeps moving the
// sampled keys past the cut would otherwise keep the operator reading until the timeout.
inline constexpr Seconds kRerunDelay{10};
// Short delay after a step whose effect the next pass should observe (e.g. the alias flip).
inline constexpr Seconds kStepDelay{1};
// How long past its successor's shadow period and one round's timeout a draining version
// waits for the shadow to say it has ended, before it drains anyway.
inline constexpr Seconds kShadowGrace{600};
// Periodic re-check of phases that otherwise wait for an annotation or another version.
inline constexpr Seconds kResyncInterval{300};
// A worker container's exit first seen this long after it happened is recorded without an
// Event (the pods are watched: a fresh exit is seen within seconds).
inline constexpr Seconds kExitNewsWindow{600};
// A rollback is refused when the previous version's output is due for deletion this soon:
// its deletion may already be under way.
inline constexpr Seconds kRollbackMargin{300};

Decision decide(const Observed& observed, TimePoint now);

// Why a version may not create anything, with the field at fault.
struct Refusal {
  std::string reason;   // DuplicateVersion, OutputTopicInUse, OutputTopicNotEmpty
  std::string field;    // spec.version, spec.output.topic
  std::string message;  // names the other object
  bool operator==(const Refusal&) const = default;
};

// The ownership rules, checked by decide() in Pending and by the admission webhook at create:
// a second object for the same pipeline and version (they would share the Deployment and
// quota named after it) unless it is the older one; an output topic another version uses or
// the alias names (o.claims, o.alias); an output topic that holds records already
// (o.kafka.existingOutputRecords; spec.output.adoptExisting takes it).
std::optional<Refusal> ownershipRefusal(const Observed& o);

// The medallion rule, checked by decide() in Pending and by the admission webhook: the
// pipeline spec.source.pipeline names must not read, through the pipelines its versions read
// (o.pipelineSources), this version's own pipeline. The refusal names the cycle.
std::optional<Refusal> sourceRefusal(const Observed& o);

// spec.processor.builtin as kappa-worker would refuse it (o.programError), the field at
// fault named (rules no schema states, e.g. unique output names), before anything replays.
std::optional<Refusal> programRefusal(const Observed& o);

// Between two lag samples of a Replaying version: kStabilizingSampleInterval at the tail of
// the replay (within the bound, at most three times the bound plus a sample period behind,
// an ETA within two sample periods, or no ETA yet), kLagSampleInterval before it.
Seconds lagSampleInterval(const CatchUpSpec& catchUp, const Status& status);

// Whether a Replaying pass at `now` takes a new lag sample.
bool lagSampleDue(const CatchUpSpec& catchUp, const Status& status, TimePoint now);

std::ostream& operator<<(std::ostream& os, const Decision& d);

}  // namespace kappa::controllers
