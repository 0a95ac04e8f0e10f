// kappa-worker: the built-in stream processor the operator runs for processor.builtin.
// Flags fall back to the KAPPA_* environment the operator injects.
#include <spdlog/spdlog.h>

#include <unistd.h>
#include <CLI/CLI.hpp>
#include <atomic>
#include <csignal>
#include <optional>

#include <iostream>

#include "runtime/metrics/metrics_server.h"
#include "runtime/worker/program.h"
#include "runtime/worker/stream_worker.h"

namespace {

std::atomic<bool> stopRequested{false};

void onSignal(int) { stopRequested.store(true); }

// The command line: the worker's configuration and what main() turns into it.
struct Options {
  kappa::worker::WorkerConfig cfg;
  std::string programFile, programJson, metricsAddress, replicaId;
  std::vector<std::string> properties;
  int64_t commitMs = 100, replayCommitMs = 1000;
};

void addOptions(CLI::App& app, Options& o) {
  auto& cfg = o.cfg;
  app.add_option("--program", o.programFile, "Program file (YAML or JSON)")
      ->envname("KAPPA_PROGRAM_FILE");
  app.add_option("--program-json", o.programJson, "Program text (the PipelineVersion's builtin)")
      ->envname("KAPPA_PROGRAM");
  app.add_option("--bootstrap", cfg.bootstrapServers, "Kafka bootstrap servers")
      ->envname("KAPPA_BOOTSTRAP_SERVERS");
  app.add_option("--source-topic", cfg.sourceTopic)->envname("KAPPA_SOURCE_TOPIC");
  app.add_option("--output-topic", cfg.outputTopic)->envname("KAPPA_OUTPUT_TOPIC");
  app.add_option("--dlq-topic", cfg.dlqTopic, "Dead-letter topic (default <output>.dlq)")
      ->envname("KAPPA_DLQ_TOPIC");
  app.add_option("--tap-topic", cfg.tapTopic,
                 "Sample tap: the output records of about one key in --tap-rate also go here "
                 "(same partition, headers and transaction); empty: no tap")
      ->envname("KAPPA_TAP_TOPIC");
  app.add_option("--tap-rate", cfg.tapRate, "One key in this many is tapped (1: every key)")
      ->envname("KAPPA_TAP_RATE")
      ->check(CLI::Range(1u, 1u << 20));
  app.add_option("--state-topic", cfg.stateTopic,
                 "State changelog of a program with window.emit onClose: its open windows, "
                 "from which a restarted worker restores (default <output>.state)")
      ->envname("KAPPA_STATE_TOPIC");
  app.add_option("--group", cfg.consumerGroup)->envname("KAPPA_CONSUMER_GROUP");
  app.add_option("--transactional-id", cfg.transactionalId,
                 "Transactional id; a worker started with the same id fences this one")
      ->envname("KAPPA_TRANSACTIONAL_ID");
  app.add_option("--replica-id", o.replicaId,
                 "Appended to the transactional id when several replicas run")
      ->envname("KAPPA_REPLICA_ID");
  app.add_option("--start-offset", cfg.startOffset,
                 "earliest or latest, for a group without commits")
      ->envname("KAPPA_START_OFFSET");
  app.add_option("--commit-interval-ms", o.commitMs,
                 "Transaction commit interval once caught up (the output's latency)")
      ->envname("KAPPA_COMMIT_INTERVAL_MS")
      ->check(CLI::Range(1, 600000));
  app.add_option("--replay-commit-interval-ms", o.replayCommitMs,
                 "Transaction commit interval while records are queued behind the current "
                 "batch (a replay); caught up, the worker commits at --commit-interval-ms")
      ->envname("KAPPA_REPLAY_COMMIT_INTERVAL_MS")
      ->check(CLI::Range(1, 50000));
  app.add_option("--max-batch", cfg.maxBatch, "Records per consume batch")
      ->check(CLI::Range(1, 1000000));
  app.add_flag("--create-topics", cfg.createTopics,
               "Create missing output and dead-letter topics (partitions as the source)");
  app.add_option("-X,--property", o.properties, "librdkafka property key=value; repeatable");
  app.add_option("--metrics-address", o.metricsAddress,
                 "host:port for /metrics and /healthz (port 0: any free port; empty: off)")
      ->envname("KAPPA_METRICS_ADDRESS");
}

// Completes o.cfg from the other options and the environment; false (after saying why on
// stderr) if an option is malformed.
bool completeConfig(Options& o) {
  auto& cfg = o.cfg;
  cfg.commitInterval = std::chrono::milliseconds(o.commitMs);
  cfg.replayCommitInterval = std::chrono::milliseconds(o.replayCommitMs);
  if (!o.replicaId.empty() && !cfg.transactionalId.empty())
    cfg.transactionalId += "-" + o.replicaId;
  // Credentials from the Secret spec.kafka.credentialsSecret names, as the operator passes
  // them (envFrom with this prefix); -X flags given explicitly win.
  for (char** e = environ; *e; ++e) {
    std::string_view var(*e);
    constexpr std::string_view kPrefix = "KAPPA_KAFKA_PROPERTY_";
    auto eq = var.find('=');
    if (var.substr(0, kPrefix.size()) != kPrefix || eq == std::string_view::npos ||
        eq == kPrefix.size()) {
      continue;
    }
    cfg.kafkaProperties.emplace(std::string(var.substr(kPrefix.size(), eq - kPrefix.size())),
                                std::string(var.substr(eq + 1)));
  }
  for (const auto& kv : o.properties) {
    auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      std::cerr << "kappa-worker: --property wants key=value, got '" << kv << "'\n";
      return false;
    }
    cfg.kafkaProperties[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return true;
}

// The program from --program or --program-json; nullopt (after saying why on stderr) if
// not exactly one is given or the program is invalid.
std::optional<kappa::worker::Program> loadProgram(const Options& o) {
  if (o.programFile.empty() == o.programJson.empty()) {
    std::cerr << "kappa-worker: give exactly one of --program FILE or --program-json TEXT "
                 "(KAPPA_PROGRAM_FILE / KAPPA_PROGRAM)\n";
    return std::nullopt;
  }
  auto program = o.programFile.empty() ? kappa::worker::parseProgram(o.programJson)
                                       : kappa::worker::loadProgramFile(o.programFile);
  if (!program) {
    std::cerr << "kappa-worker: invalid program: " << program.error().message << "\n";
    return std::nullopt;
  }
  return std::move(*program);
}

// Serves /metrics and /healthz at `address` unless it is empty; false (after saying why on
// stderr) if the server cannot start.
bool startMetrics(const std::string& address,
                  std::unique_ptr<kappa::metrics::MetricsServer>& metrics) {
  if (address.empty()) return true;
  auto m = kappa::metrics::MetricsServer::start(address);
  if (!m) {
    std::cerr << "kappa-worker: " << m.error().message << "\n";
    return false;
  }
  metrics = std::move(*m);
  spdlog::info("worker: /metrics and /healthz on port {}", metrics->port());
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  // First thing: a SIGTERM during start-up must also end in a clean stop.
  std::signal(SIGTERM, onSignal);
  std::signal(SIGINT, onSignal);
  CLI::App app{"kappa-worker: exactly-once filter/key/window/aggregate stream processor"};
  Options o;
  addOptions(app, o);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "kappa-worker: " << e.what() << "\n";
    return 2;
  }
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  if (!completeConfig(o)) return 2;
  auto program = loadProgram(o);
  if (!program) return 2;
  std::unique_ptr<kappa::metrics::MetricsServer> metrics;
  if (!startMetrics(o.metricsAddress, metrics)) return 2;

  auto worker = kappa::worker::StreamWorker::create(o.cfg, std::move(*program),
                                                    metrics ? &metrics->registry() : nullptr);
  if (!worker) {
    std::cerr << "kappa-worker: " << worker.error().message << "\n";
    return worker.error().code == kappa::ErrorCode::kInvalidArgument ? 2 : 1;
  }
  return (*worker)->run(stopRequested);
}
