// kubectl-kappa: the kubectl plugin. Kafka-side tools that work without a cluster (lag,
// preflight, validate) and the cluster commands (status, history, promote, abort, rollback; see
// cluster_commands.h). Exit codes: 0 ok, 1 the check failed, 2 usage or connection.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <thread>

#include "cli/cluster_commands.h"
#include "runtime/kafka/history_sample.h"
#include "runtime/kafka/lag_monitor.h"
#include "runtime/kafka/output_comparator.h"
#include "runtime/kafka/rdkafka_admin.h"
#include "runtime/kafka/retention_preflight.h"
#include "runtime/worker/dry_run.h"

namespace {

using kappa::kafka::WallTime;
using nlohmann::json;

constexpr int kOk = 0;
constexpr int kCheckFailed = 1;
constexpr int kUsageOrConnection = 2;

struct KafkaOptions {
  std::string bootstrap;
  double timeoutSeconds = 10;
  std::vector<std::string> properties;
  bool json = false;
};

void addKafkaOptions(CLI::App* cmd, KafkaOptions& o) {
  cmd->add_option("--bootstrap", o.bootstrap, "Kafka bootstrap servers (host:port[,...])")
      ->required();
  cmd->add_option("--timeout", o.timeoutSeconds, "Upper bound for each Kafka call, seconds")
      ->check(CLI::PositiveNumber);
  cmd->add_option("-X,--property", o.properties,
                  "librdkafka property key=value (security.protocol, sasl.*, ssl.*); repeatable");
  cmd->add_flag("--json", o.json, "Print JSON");
}

std::string rfc3339(WallTime t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  std::ostringstream os;
  os << std::put_time(&tm, "%Y-%m-%dT%H:%M:%SZ");
  return os.str();
}

// RFC 3339 with milliseconds: when a lag sample started, precise enough to time a catch-up.
std::string rfc3339Millis(WallTime t) {
  std::string s = rfc3339(t);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  char frac[8];
  std::snprintf(frac, sizeof frac, ".%03lld", static_cast<long long>(((ms % 1000) + 1000) % 1000));
  s.insert(s.size() - 1, frac);
  return s;
}

int fail(int code, const std::string& message) {
  std::cerr << "kubectl-kappa: " << message << "\n";
  return code;
}

kappa::Result<kappa::kafka::KafkaClientConfig> clientConfig(const KafkaOptions& o) {
  kappa::kafka::KafkaClientConfig cfg;
  cfg.bootstrapServers = o.bootstrap;
  cfg.timeout = std::chrono::milliseconds(static_cast<int64_t>(o.timeoutSeconds * 1000));
  cfg.properties["log_level"] = "0";  // failures are reported once, as a value
  for (const auto& kv : o.properties) {
    auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      return kappa::Error{kappa::ErrorCode::kInvalidArgument,
                          "--property wants key=value, got '" + kv + "'"};
    }
    cfg.properties[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return cfg;
}

kappa::Result<std::unique_ptr<kappa::kafka::RdKafkaAdmin>> connect(const KafkaOptions& o) {
  auto cfg = clientConfig(o);
  if (!cfg) return cfg.error();
  return kappa::kafka::RdKafkaAdmin::create(*cfg);
}

struct LagWait {
  bool enabled = false;
  double intervalSeconds = 1;
  double timeoutSeconds = 0;  // 0: no limit
};

void printLag(const KafkaOptions& o, const std::string& group, const std::string& topic,
              const kappa::kafka::LagSnapshot& snap) {
  if (o.json) {
    json per = json::array();
    for (const auto& p : snap.partitions) {
      per.push_back({{"partition", p.partition},
                     {"committed", p.committed ? json(*p.committed) : json(nullptr)},
                     {"end", p.end},
                     {"lag", p.lag},
                     {"seconds", p.lagSeconds},
                     {"secondsEstimated", !p.lagSecondsObserved}});
    }
    json out = {{"messages", snap.totalLag},
                {"seconds", snap.lagSeconds},
                {"secondsEstimated", !snap.lagSecondsObserved},
                {"partitions", snap.laggingPartitions},
                {"sampledAt", rfc3339Millis(snap.sampledAt)},
                {"group", group},
                {"topic", topic},
                {"committed", snap.committedAny},
                {"perPartition", per}};
    std::cout << out.dump(2) << "\n";
    return;
  }
  auto secs = [](double v, bool observed) {
    std::ostringstream os;
    os << (observed ? "" : "~") << std::fixed << std::setprecision(1) << v << "s";
    return os.str();
  };
  std::cout << "group " << group << " on " << topic << ": lag " << snap.totalLag << " messages, "
            << secs(snap.lagSeconds, snap.lagSecondsObserved) << ", on " << snap.laggingPartitions
            << " of " << snap.partitions.size() << " partitions"
            << (snap.committedAny ? "" : " (the group has not committed)") << "\n";
  std::cout << std::left << std::setw(10) << "PARTITION" << std::setw(14) << "COMMITTED"
            << std::setw(14) << "END" << std::setw(12) << "LAG"
            << "SECONDS\n";
  for (const auto& p : snap.partitions) {
    std::cout << std::setw(10) << p.partition << std::setw(14)
              << (p.committed ? std::to_string(*p.committed) : "-") << std::setw(14) << p.end
              << std::setw(12) << p.lag << secs(p.lagSeconds, p.lagSecondsObserved) << "\n";
  }
  if (!snap.lagSecondsObserved) {
    std::cout << "~: estimated from the timestamp of the record the group is at (it has not "
                 "reached any end offset observed here)\n";
  }
}

// One sample, or with --wait samples every interval until the group has committed and its
// lag is within the bound: --max-lag-seconds by the operator's rule (every partition has
// reached the end this command observed at most that long before), and --max-lag messages
// (0 when neither is given). While waiting, a failed sample is reported on stderr and
// retried; the wait ends with exit 1 at --wait-timeout.
int runLag(const KafkaOptions& o, const std::string& group, const std::string& topic,
           std::optional<int64_t> maxLag, std::optional<int64_t> maxLagSeconds,
           const LagWait& wait) {
  auto admin = connect(o);
  if (!admin) return fail(kUsageOrConnection, admin.error().message);
  kappa::kafka::LagMonitor monitor(**admin);
  kappa::kafka::CatchUpBound bound{std::chrono::seconds(maxLagSeconds.value_or(0)), maxLag,
                                   std::chrono::seconds(0)};
  // Without --max-lag-seconds only messages count.
  auto within = [&](const kappa::kafka::LagSnapshot& snap) {
    if (!maxLagSeconds) return snap.totalLag <= maxLag.value_or(0);
    return kappa::kafka::withinBound(snap, bound);
  };
  if (!wait.enabled) {
    auto snap = monitor.sample(group, topic, std::chrono::system_clock::now());
    if (!snap) return fail(kUsageOrConnection, snap.error().message);
    printLag(o, group, topic, *snap);
    bool checked = maxLag || maxLagSeconds;
    return checked && !within(*snap) ? kCheckFailed : kOk;
  }
  using Clock = std::chrono::steady_clock;
  auto interval = std::chrono::milliseconds(static_cast<int64_t>(wait.intervalSeconds * 1000));
  auto deadline =
      Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(wait.timeoutSeconds * 1000));
  kappa::kafka::EndOffsetHistory history;
  std::optional<kappa::kafka::LagSnapshot> last;
  std::string lastError;
  while (true) {
    auto started = Clock::now();
    auto snap = monitor.sample(group, topic, std::chrono::system_clock::now(), &history);
    if (snap && snap->committedAny && within(*snap)) {
      printLag(o, group, topic, *snap);
      return kOk;
    }
    if (snap) {
      last = std::move(*snap);
    } else if (snap.error().message != lastError) {
      lastError = snap.error().message;
      std::cerr << "kubectl-kappa: " << lastError << " (retrying)\n";
    }
    if (wait.timeoutSeconds > 0 && Clock::now() >= deadline) {
      if (last) printLag(o, group, topic, *last);
      std::ostringstream why;
      why << "lag of group " << group << " on " << topic << " not within ";
      if (maxLagSeconds) why << *maxLagSeconds << "s" << (maxLag ? " and " : "");
      if (maxLag || !maxLagSeconds) why << maxLag.value_or(0) << " messages";
      why << " after " << wait.timeoutSeconds << "s";
      if (last) {
        why << " (last sample: " << last->totalLag << " messages, "
            << (last->lagSecondsObserved ? "" : "about ") << last->lagSeconds << "s"
            << (last->committedAny ? "" : ", nothing committed") << ")";
      }
      return fail(kCheckFailed, why.str());
    }
    auto next = started + interval;
    std::this_thread::sleep_until(wait.timeoutSeconds > 0 ? std::min(next, deadline) : next);
  }
}

// --program: the dry run beside the retention preflight.
struct DryRunOptions {
  std::string programFile;
  int32_t samples = 16;
  std::optional<double> maxDeadLetterRatio;
};

int runPreflight(const KafkaOptions& o, const std::string& topic, double throughput,
                 const DryRunOptions& dry) {
  std::optional<kappa::worker::Program> program;
  if (!dry.programFile.empty()) {
    auto p = kappa::worker::loadProgramFile(dry.programFile);
    if (!p) return fail(kUsageOrConnection, dry.programFile + ": " + p.error().message);
    program = std::move(*p);
  }
  auto admin = connect(o);
  if (!admin) return fail(kUsageOrConnection, admin.error().message);
  auto r = kappa::kafka::runPreflight(**admin, topic, throughput, std::chrono::system_clock::now());
  if (!r) return fail(kUsageOrConnection, r.error().message);
  std::optional<kappa::worker::DryRunReport> dryRun;
  if (program) {
    auto sample = kappa::kafka::sampleHistory(**admin, topic, dry.samples);
    if (!sample) return fail(kUsageOrConnection, sample.error().message);
    dryRun = kappa::worker::dryRun(*program, sample->records, sample->sizes);
  }
  bool overLimit = dryRun && dry.maxDeadLetterRatio && dryRun->ratio > *dry.maxDeadLetterRatio;
  auto opt = [](const auto& v) { return v ? json(*v) : json(nullptr); };
  if (o.json) {
    json out = {{"topic", topic},
                {"verdict", kappa::kafka::verdictName(r->verdict)},
                {"reason", r->reason},
                {"messages", r->messages},
                {"throughput", throughput},
                {"replaySeconds", r->replaySeconds},
                {"oldestAgeSeconds", opt(r->oldestAgeSeconds)},
                {"expiresInSeconds", opt(r->expiresInSeconds)},
                {"headroomSeconds", opt(r->headroomSeconds)},
                {"truncatedPartitions", r->truncatedPartitions},
                {"truncatedOffsets", r->truncatedOffsets}};
    if (dryRun) {
      out["dryRun"] = kappa::worker::dryRunToJson(*dryRun);
      out["dryRun"]["withinLimit"] = !overLimit;
    }
    std::cout << out.dump(2) << "\n";
  } else {
    std::cout << topic << ": " << kappa::kafka::verdictName(r->verdict) << " - " << r->reason
              << "\n";
    if (dryRun) {
      std::cout << "dry run: the program would dead-letter "
                << kappa::worker::dryRunSummary(*dryRun);
      if (overLimit) std::cout << ", above --max-dead-letter-ratio " << *dry.maxDeadLetterRatio;
      std::cout << "\n";
      for (const auto& reason : dryRun->reasons) {
        for (const auto& e : reason.examples) {
          std::cout << "  " << reason.reason << ": partition " << e.partition << " offset "
                    << e.offset << ": " << e.value << "\n";
        }
      }
    }
  }
  return r->verdict == kappa::kafka::RetentionVerdict::kSafe && !overLimit ? kOk : kCheckFailed;
}

int runValidate(const KafkaOptions& o, const std::string& serving, const std::string& candidate,
                const kappa::kafka::ComparePolicy& policy) {
  auto cfg = clientConfig(o);
  if (!cfg) return fail(kUsageOrConnection, cfg.error().message);
  kappa::kafka::KafkaOutputComparator comparator(*cfg);
  auto r = comparator.compare(serving, candidate, policy);
  if (!r) return fail(kUsageOrConnection, r.error().message);
  if (o.json) {
    json examples = json::array();
    for (const auto& e : r->examples) {
      examples.push_back({{"key", e.key},
                          {"serving", e.serving ? json(*e.serving) : json(nullptr)},
                          {"candidate", e.candidate ? json(*e.candidate) : json(nullptr)}});
    }
    json cut = json::object();
    for (const auto& [p, c] : r->cut) cut[std::to_string(p)] = c;
    json out = {{"sampledKeys", r->sampledKeys},
                {"comparedKeys", r->comparedKeys},
                {"mismatchedKeys", r->mismatchedKeys},
                {"notComparableKeys", r->notComparableKeys},
                {"mismatchRatio", r->mismatchRatio},
                {"completedAt", rfc3339(std::chrono::system_clock::now())},
                {"withinPolicy", r->withinPolicy},
                {"consistentCut", r->consistentCut},
                {"cut", cut},
                {"examples", examples}};
    std::cout << out.dump(2) << "\n";
  } else {
    std::cout << serving << " vs " << candidate << ": " << r->mismatchedKeys << " of "
              << r->comparedKeys << " compared keys differ (ratio " << r->mismatchRatio
              << ", policy " << policy.maxMismatchRatio << "); " << r->notComparableKeys
              << " not comparable (their latest record lies past the cut); "
              << (r->consistentCut ? "cut at a consistent source position"
                                   : "latest values (no source-offset headers)")
              << "\n";
    for (const auto& e : r->examples) {
      std::cout << "  " << e.key << "\n    serving:   " << e.serving.value_or("<absent>")
                << "\n    candidate: " << e.candidate.value_or("<absent>") << "\n";
    }
  }
  return r->withinPolicy ? kOk : kCheckFailed;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"kubectl-kappa: blue-green reprocessing cutovers for Kafka pipelines"};
  app.require_subcommand(1);

  KafkaOptions lagOpts;
  std::string lagGroup, lagTopic;
  std::optional<int64_t> maxLag;
  auto* lag = app.add_subcommand("lag", "Lag of a consumer group against the last stable offset");
  addKafkaOptions(lag, lagOpts);
  lag->add_option("--group", lagGroup, "Consumer group")->required();
  lag->add_option("--topic", lagTopic, "Topic the group reads")->required();
  lag->add_option("--max-lag", maxLag, "Exit 1 when the total lag is above this many messages")
      ->check(CLI::NonNegativeNumber);
  std::optional<int64_t> maxLagSeconds;
  lag->add_option("--max-lag-seconds", maxLagSeconds,
                  "Exit 1 unless every partition has reached the end observed this many seconds "
                  "earlier (the operator's catch-up rule; needs --wait's repeated samples to be "
                  "met by a live topic)")
      ->check(CLI::NonNegativeNumber);
  LagWait lagWait;
  auto* waitFlag =
      lag->add_flag("--wait", lagWait.enabled,
                    "Sample until the group has committed and its lag is within --max-lag-seconds "
                    "and --max-lag (0 messages when neither is given); print that sample");
  lag->add_option("--interval", lagWait.intervalSeconds,
                  "With --wait: seconds between samples (default 1)")
      ->check(CLI::Range(0.01, 3600.0))
      ->needs(waitFlag);
  lag->add_option("--wait-timeout", lagWait.timeoutSeconds,
                  "With --wait: give up after this many seconds, exit 1 (default: no limit)")
      ->check(CLI::NonNegativeNumber)
      ->needs(waitFlag);

  KafkaOptions preOpts;
  std::string preTopic;
  double throughput = 0;
  auto* pre = app.add_subcommand(
      "preflight",
      "Will a replay from the earliest offset finish before the oldest events expire?");
  addKafkaOptions(pre, preOpts);
  pre->add_option("--topic", preTopic, "Source topic")->required();
  pre->add_option("--throughput", throughput, "Expected replay rate, messages per second")
      ->required()
      ->check(CLI::PositiveNumber);
  DryRunOptions dry;
  auto* programOpt = pre->add_option(
      "--program", dry.programFile,
      "Dry run: a program (YAML or JSON, as spec.processor.builtin) to run over sampled "
      "records; reports what kappa-worker would dead-letter");
  pre->add_option("--samples", dry.samples,
                  "Dry run: evenly spaced records per partition besides its first, middle "
                  "and last (default 16)")
      ->check(CLI::Range(0, 1000))
      ->needs(programOpt);
  pre->add_option("--max-dead-letter-ratio", dry.maxDeadLetterRatio,
                  "Dry run: exit 1 when a larger fraction would be dead-lettered")
      ->check(CLI::Range(0.0, 1.0))
      ->needs(programOpt);

  KafkaOptions valOpts;
  std::string servingTopic, candidateTopic;
  kappa::kafka::ComparePolicy policy;
  auto* val = app.add_subcommand(
      "validate", "Compare two versions' outputs on sampled keys at a consistent cut");
  addKafkaOptions(val, valOpts);
  val->add_option("--serving-topic", servingTopic, "Output topic of the serving version")
      ->required();
  val->add_option("--candidate-topic", candidateTopic, "Output topic of the candidate")->required();
  val->add_option("--sample-keys", policy.sampleKeys, "Keys to compare (default 5000)")
      ->check(CLI::PositiveNumber);
  val->add_option("--compare-fields", policy.compareFields, "Only these value fields")
      ->delimiter(',');
  val->add_option("--ignore-fields", policy.ignoreFields, "Skip these value fields")
      ->delimiter(',');
  val->add_option("--numeric-tolerance", policy.numericTolerance, "Relative, e.g. 0.001")
      ->check(CLI::Range(0.0, 1.0));
  val->add_option("--max-mismatch-ratio", policy.maxMismatchRatio,
                  "Exit 1 when the mismatch ratio is above this (default 0)")
      ->check(CLI::Range(0.0, 1.0));

  kappa::cli::ClusterOptions clusterOpts;
  auto addClusterOptions = [&](CLI::App* cmd) {
    cmd->add_option("--kubeconfig", clusterOpts.kubeconfig, "kubeconfig file");
    cmd->add_option("-n,--namespace", clusterOpts.ns, "Namespace (default: the context's)");
  };
  std::string statusPipeline, gateName, rollbackPipeline, historyPipeline;
  bool watch = false;
  auto* status =
      app.add_subcommand("status", "Versions of a pipeline: phase, lag, progress, validation");
  addClusterOptions(status);
  status->add_option("pipeline", statusPipeline, "Pipeline name")->required();
  status->add_flag("-w,--watch", watch,
                   "Follow the versions and the alias (a watch): print again on every change "
                   "until interrupted");
  status->add_flag("--json", clusterOpts.json, "Print JSON");
  auto* promote = app.add_subcommand("promote", "Promote a version waiting for promotion");
  auto* abort = app.add_subcommand("abort", "Abort a candidate version and clean it up");
  for (auto* cmd : {promote, abort}) {
    addClusterOptions(cmd);
    cmd->add_option("pipelineversion", gateName, "PipelineVersion name")->required();
  }
  auto* rollback = app.add_subcommand("rollback", "Flip a pipeline back to its previous version");
  addClusterOptions(rollback);
  rollback->add_option("pipeline", rollbackPipeline, "Pipeline name")->required();
  auto* history = app.add_subcommand(
      "history", "A pipeline's timeline: every version's phase transitions, who asked, and why");
  addClusterOptions(history);
  history->add_option("pipeline", historyPipeline, "Pipeline name")->required();
  history->add_flag("--json", clusterOpts.json, "Print JSON");
  auto* pipelines = app.add_subcommand(
      "pipelines",
      "The namespace's pipelines as a DAG: each tier after the one it reads, its serving "
      "version, and the versions in flight (cascades included)");
  addClusterOptions(pipelines);
  pipelines->add_flag("--json", clusterOpts.json, "Print JSON");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return fail(kUsageOrConnection, e.what());
  }
  if (lag->parsed()) return runLag(lagOpts, lagGroup, lagTopic, maxLag, maxLagSeconds, lagWait);
  if (pre->parsed()) return runPreflight(preOpts, preTopic, throughput, dry);
  if (val->parsed()) return runValidate(valOpts, servingTopic, candidateTopic, policy);
  if (status->parsed()) return kappa::cli::runStatus(clusterOpts, statusPipeline, watch);
  if (promote->parsed()) return kappa::cli::runAnnotate(clusterOpts, gateName, "promote");
  if (abort->parsed()) return kappa::cli::runAnnotate(clusterOpts, gateName, "abort");
  if (rollback->parsed()) return kappa::cli::runRollback(clusterOpts, rollbackPipeline);
  if (history->parsed()) return kappa::cli::runHistory(clusterOpts, historyPipeline);
  if (pipelines->parsed()) return kappa::cli::runPipelines(clusterOpts);
  return fail(kUsageOrConnection, "no command given");
}
