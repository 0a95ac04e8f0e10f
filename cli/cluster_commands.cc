#include "cli/cluster_commands.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>
#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <iomanip>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "runtime/kafka/output_comparator.h"
#include "runtime/kube/http_kube_api.h"
#include "runtime/kube/informer.h"
#include "runtime/kube/kube_config.h"
#include "runtime/worker/dry_run.h"

namespace kappa::cli {
namespace {

using kube::Json;

const kube::Resource kPipelineVersions{"kappa.io", "v1alpha1", "pipelineversions", true};

int fail(const std::string& message) {
  std::cerr << "kubectl-kappa: " << message << "\n";
  return 2;
}

struct Client {
  std::unique_ptr<kube::KubeApi> api;
  std::string ns;
};

Result<Client> connect(const ClusterOptions& o) {
  auto cfg =
      o.kubeconfig.empty() ? kube::loadDefaultConfig() : kube::loadKubeconfigFile(o.kubeconfig);
  if (!cfg) return cfg.error();
  kube::ClientOptions opts;
  opts.requestTimeout = std::chrono::seconds(15);
  opts.userAgent = "kubectl-kappa";
  auto api = kube::HttpKubeApi::create(*cfg, opts);
  if (!api) return api.error();
  return Client{std::move(*api), o.ns.empty() ? cfg->ns : o.ns};
}

std::string str(const Json& j, const Json::json_pointer& p, const std::string& dflt = "") {
  if (!j.contains(p)) return dflt;
  const auto& v = j.at(p);
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return dflt;
  return v.dump();
}

std::optional<double> num(const Json& j, const Json::json_pointer& p) {
  if (!j.contains(p) || !j.at(p).is_number()) return std::nullopt;
  return j.at(p).get<double>();
}

std::string conditionStatus(const Json& obj, const std::string& type, std::string* reason) {
  const auto p = Json::json_pointer("/status/conditions");
  if (!obj.contains(p) || !obj.at(p).is_array()) return "";
  for (const auto& c : obj.at(p)) {
    if (c.value("type", "") == type) {
      if (reason) *reason = c.value("reason", "");
      return c.value("status", "");
    }
  }
  return "";
}

std::string bar(double percent, int width = 20) {
  percent = std::clamp(percent, 0.0, 100.0);
  int filled = static_cast<int>(percent / 100.0 * width + 0.5);
  return "[" + std::string(filled, '#') + std::string(width - filled, '.') + "]";
}

std::string duration(double seconds) {
  if (seconds < 0) return "-";
  auto s = static_cast<int64_t>(seconds);
  std::ostringstream os;
  if (s >= 86400) {
    os << s / 86400 << "d" << (s % 86400) / 3600 << "h";
  } else if (s >= 3600) {
    os << s / 3600 << "h" << (s % 3600) / 60 << "m";
  } else if (s >= 60) {
    os << s / 60 << "m" << s % 60 << "s";
  } else {
    os << s << "s";
  }
  return os.str();
}

std::optional<std::chrono::system_clock::time_point> parseTime(const std::string& rfc3339) {
  std::tm tm{};
  std::istringstream in(rfc3339);
  in >> std::get_time(&tm, "%Y-%m-%dT%H:%M:%S");
  if (in.fail()) return std::nullopt;
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

// Oldest first.
void sortByCreation(std::vector<Json>& versions) {
  std::sort(versions.begin(), versions.end(), [](const Json& a, const Json& b) {
    return str(a, Json::json_pointer("/metadata/creationTimestamp")) <
           str(b, Json::json_pointer("/metadata/creationTimestamp"));
  });
}

// The versions of `pipeline` among `items`, oldest first.
std::vector<Json> ofPipeline(const std::vector<Json>& items, const std::string& pipeline) {
  std::vector<Json> out;
  for (const auto& item : items) {
    if (str(item, Json::json_pointer("/spec/pipeline")) == pipeline) out.push_back(item);
  }
  sortByCreation(out);
  return out;
}

Result<std::vector<Json>> versionsOf(Client& c, const std::string& pipeline) {
  auto list = c.api->listAll({kPipelineVersions, c.ns}, {});
  if (!list) return list.error();
  return ofPipeline(list->items, pipeline);
}

Json aliasOf(Client& c, const std::string& pipeline) {
  auto cm = c.api->get({kube::resources::configMaps(), c.ns, pipeline + "-serving", {}});
  return cm ? *cm : Json();
}

std::atomic<bool> interrupted{false};

}  // namespace

namespace {

// Phases in which a version replays or waits for its flip: lag, progress and ETA mean
// something only then (a serving version's last candidate sample would be stale).
bool isCandidatePhase(const std::string& phase) {
  return phase == "Pending" || phase == "Provisioning" || phase == "Replaying" ||
         phase == "Validating" || phase == "AwaitingPromotion" || phase == "Promoting";
}

// A mismatch example of status.validation.examples as a field diff: the operator's own
// (`diff`), else made here from the two values (a status written by an older operator).
std::string exampleDiff(const Json& example) {
  if (auto d = example.find("diff"); d != example.end() && d->is_string()) return *d;
  auto side = [&](const char* name) -> std::optional<std::string> {
    auto it = example.find(name);
    if (it == example.end() || it->is_null()) return std::nullopt;
    return it->is_string() ? it->get<std::string>() : it->dump();
  };
  return kafka::fieldDiff(side("serving"), side("candidate"));
}

// The number at `pointer` when `shown`; NaN otherwise or when absent (not an optional: GCC 12
// at -O2 warns maybe-uninitialized about optional<double> copies here).
double numIf(bool shown, const Json& v, const char* pointer) {
  if (!shown) return std::nan("");
  return num(v, Json::json_pointer(pointer)).value_or(std::nan(""));
}

// One table cell: the text, padded to `width`, and always one space after it.
void cell(std::ostream& os, const std::string& text, size_t width) {
  os << text << std::string(text.size() < width ? width - text.size() : 0, ' ') << ' ';
}

}  // namespace

std::string renderStatus(const std::string& pipeline, const std::vector<Json>& versions,
                         const Json& alias, std::chrono::system_clock::time_point now) {
  std::ostringstream os;
  std::string servingVersion =
      alias.is_object() ? str(alias, Json::json_pointer("/data/version")) : "";
  os << "pipeline " << pipeline << ": ";
  if (servingVersion.empty()) {
    os << "no version serving yet\n";
  } else {
    os << "serving " << servingVersion << " (topic "
       << str(alias, Json::json_pointer("/data/topic")) << ", since "
       << str(alias, Json::json_pointer("/data/promotedAt"), "?") << ")\n";
  }
  if (versions.empty()) {
    os << "  no PipelineVersions of this pipeline\n";
    return os.str();
  }
  const size_t widths[] = {9, 17, 11, 9, 28, 9, 11, 23, 8};
  const char* headers[] = {"VERSION", "PHASE",  "LAG",        "BEHIND", "PROGRESS",
                           "ETA",     "MSGS/S", "VALIDATION", "SERVING"};
  for (size_t i = 0; i < std::size(headers); ++i) cell(os, headers[i], widths[i]);
  os << "AGE\n";
  for (const auto& v : versions) {
    std::string version = str(v, Json::json_pointer("/spec/version"));
    std::string phase = str(v, Json::json_pointer("/status/phase"), "Pending");
    bool candidate = isCandidatePhase(phase);
    auto lag = numIf(candidate, v, "/status/lag/messages");
    auto behind = numIf(candidate, v, "/status/lag/seconds");
    bool estimated = v.value(Json::json_pointer("/status/lag/secondsEstimated"), false);
    std::string behindText = "-";
    if (!std::isnan(behind) && !std::isnan(lag)) {
      // Below a minute to the tenth of a second: the scale of the catch-up bound.
      std::ostringstream bs;
      if (estimated) bs << "~";
      if (behind < 60) {
        bs << std::fixed << std::setprecision(1) << behind << "s";
      } else {
        bs << duration(behind);
      }
      behindText = bs.str();
    }
    // Progress while replaying, and after only until the flip; an ETA and a rate only while
    // there is something left to read.
    auto pct = numIf(candidate, v, "/status/replay/progressPercent");
    bool replaying = phase == "Replaying";
    auto eta = numIf(replaying, v, "/status/replay/etaSeconds");
    auto rate = numIf(replaying, v, "/status/replay/messagesPerSecond");
    std::string vreason;
    std::string validated = conditionStatus(v, "Validated", &vreason);
    std::string validation = "-";
    if (auto ratio = num(v, Json::json_pointer("/status/validation/mismatchRatio"))) {
      std::ostringstream vs;
      vs << (validated == "True"    ? "ok "
             : validated == "False" ? "MISMATCH "
                                    : "")
         << static_cast<int64_t>(
                num(v, Json::json_pointer("/status/validation/mismatchedKeys")).value_or(0))
         << "/"
         << static_cast<int64_t>(
                num(v, Json::json_pointer("/status/validation/comparedKeys")).value_or(0));
      (void)ratio;
      validation = vs.str();
    } else if (!vreason.empty()) {
      validation = vreason;
    }
    std::string age = "-";
    if (auto created = parseTime(str(v, Json::json_pointer("/metadata/creationTimestamp")))) {
      age = duration(std::chrono::duration<double>(now - *created).count());
    }
    std::ostringstream progress;
    if (!std::isnan(pct)) {
      progress << bar(pct) << " " << std::fixed << std::setprecision(1) << pct << "%";
    }
    const std::string cells[] = {
        version,
        phase,
        std::isnan(lag) ? "-" : std::to_string(static_cast<int64_t>(lag)),
        behindText,
        std::isnan(pct) ? "-" : progress.str(),
        std::isnan(eta) ? "-" : duration(eta),
        std::isnan(rate) ? "-" : std::to_string(static_cast<int64_t>(rate)),
        validation,
        version == servingVersion ? "yes" : ""};
    for (size_t i = 0; i < std::size(cells); ++i) cell(os, cells[i], widths[i]);
    os << age << "\n";
    std::string message = str(v, Json::json_pointer("/status/message"));
    if (!message.empty()) os << "           " << message << "\n";
    // A tier of a medallion pipeline: the upstream version it reads.
    std::string upstream = str(v, Json::json_pointer("/status/source/pipeline"));
    if (!upstream.empty()) {
      os << "           reads " << upstream << " version "
         << str(v, Json::json_pointer("/status/source/version")) << " ("
         << str(v, Json::json_pointer("/status/source/topic")) << ")\n";
    }
    // Why its pods do not run (a quota, the scheduler, an image), in the cluster's words.
    std::string workerReason;
    if (conditionStatus(v, "WorkerAvailable", &workerReason) == "False" &&
        workerReason != "Starting" && workerReason != "Updating") {
      for (const auto& c : v.at(Json::json_pointer("/status/conditions"))) {
        if (c.value("type", "") == "WorkerAvailable") {
          os << "           pods: " << workerReason << ": " << c.value("message", "") << "\n";
        }
      }
    }
    // What the dry run before the replay would dead-letter, until the version serves.
    const auto dryRun = Json::json_pointer("/status/dryRun");
    if ((phase == "Provisioning" || phase == "Replaying" || phase == "Validating" ||
         phase == "Failed") &&
        v.contains(dryRun)) {
      worker::DryRunReport report = worker::dryRunFromJson(v.at(dryRun));
      if (report.deadLettered > 0) {
        os << "           dry run: would dead-letter " << worker::dryRunSummary(report) << "\n";
      }
    }
    // Partitions that hold the replay back, while it replays.
    const auto stragglers = Json::json_pointer("/status/replay/stragglers");
    if (phase == "Replaying" && v.contains(stragglers) && v.at(stragglers).is_array()) {
      for (const auto& g : v.at(stragglers)) {
        os << "           straggler: partition " << g.value("partition", 0) << ", "
           << static_cast<int64_t>(g.value("lag", 0.0)) << " behind at " << std::fixed
           << std::setprecision(1) << g.value("messagesPerSecond", 0.0) << " msgs/s (others "
           << g.value("peerMessagesPerSecond", 0.0) << ")";
        std::string pod = g.value("pod", "");
        if (!pod.empty()) os << ", pod " << pod;
        os << std::defaultfloat << "\n";
      }
    }
    const auto ex = Json::json_pointer("/status/validation/examples");
    if (validated == "False" && v.contains(ex) && v.at(ex).is_array()) {
      for (const auto& e : v.at(ex)) {
        os << "           key " << e.value("key", "") << ": " << exampleDiff(e) << "\n";
      }
    }
  }
  return os.str();
}

namespace {

void printStatus(const ClusterOptions& o, const std::string& pipeline,
                 const std::vector<Json>& versions, const Json& alias, bool watch) {
  static const bool tty = isatty(STDOUT_FILENO);
  if (o.json) {
    Json out = {{"pipeline", pipeline},
                {"alias", alias.is_object() ? alias["data"] : Json()},
                {"versions", Json::array()}};
    for (const auto& v : versions) {
      out["versions"].push_back({{"name", str(v, Json::json_pointer("/metadata/name"))},
                                 {"version", str(v, Json::json_pointer("/spec/version"))},
                                 {"status", v.value("status", Json::object())}});
    }
    std::cout << out.dump(2) << std::endl;
    return;
  }
  if (watch && tty) std::cout << "\033[H\033[2J";
  std::cout << renderStatus(pipeline, versions, alias, std::chrono::system_clock::now());
  if (watch && !tty) std::cout << "\n";
  std::cout.flush();
}

// -w: the namespace's PipelineVersions and the alias ConfigMap followed by two informers
// (list, then watch); the status is printed again on every change (changes within 100 ms
// print once) and every 10 s (for the ages).
int followStatus(const ClusterOptions& o, Client& c, const std::string& pipeline) {
  using namespace std::chrono_literals;
  // The informers' log lines on stderr, warnings only: stdout is the status.
  spdlog::set_default_logger(spdlog::stderr_color_mt("kubectl-kappa"));
  spdlog::set_level(spdlog::level::warn);
  std::mutex mu;
  std::condition_variable cv;
  bool changed = true;
  auto notify = [&] {
    std::lock_guard lock(mu);
    changed = true;
    cv.notify_one();
  };
  kube::InformerHandlers handlers{[&](const auto&) { notify(); },
                                  [&](const auto&, const auto&) { notify(); },
                                  [&](const auto&) { notify(); }};
  kube::InformerOptions versionOptions;
  versionOptions.collection = {kPipelineVersions, c.ns};
  kube::Informer versions(*c.api, versionOptions);
  kube::InformerOptions aliasOptions;
  aliasOptions.collection = {kube::resources::configMaps(), c.ns};
  aliasOptions.fieldSelector = "metadata.name=" + pipeline + "-serving";
  kube::Informer alias(*c.api, aliasOptions);
  versions.addHandlers(handlers);
  alias.addHandlers(handlers);
  versions.start();
  alias.start();
  if (!versions.waitForSync(std::chrono::seconds(30)) ||
      !alias.waitForSync(std::chrono::seconds(30))) {
    return fail("could not list PipelineVersions and the alias of " + pipeline + " in " + c.ns);
  }
  auto next = std::chrono::steady_clock::now();
  while (!interrupted) {
    {
      std::unique_lock lock(mu);
      cv.wait_until(lock, std::min(next, std::chrono::steady_clock::now() + 100ms),
                    [&] { return changed || interrupted; });
      if (!changed && std::chrono::steady_clock::now() < next) continue;
      changed = false;
    }
    std::this_thread::sleep_for(100ms);  // a burst of events prints once
    std::vector<Json> items;
    for (const auto& v : versions.store().list()) items.push_back(*v);
    auto cms = alias.store().list();
    printStatus(o, pipeline, ofPipeline(items, pipeline), cms.empty() ? Json() : *cms.front(),
                true);
    next = std::chrono::steady_clock::now() + 10s;
  }
  alias.stop();
  versions.stop();
  return 0;
}

}  // namespace

int runStatus(const ClusterOptions& o, const std::string& pipeline, bool watch) {
  auto c = connect(o);
  if (!c) return fail(c.error().message);
  std::signal(SIGINT, [](int) { interrupted = true; });
  if (watch) return followStatus(o, *c, pipeline);
  auto versions = versionsOf(*c, pipeline);
  if (!versions) return fail(versions.error().message);
  printStatus(o, pipeline, *versions, aliasOf(*c, pipeline), false);
  return 0;
}

int runAnnotate(const ClusterOptions& o, const std::string& name, const std::string& gate) {
  auto c = connect(o);
  if (!c) return fail(c.error().message);
  Json patch = {{"metadata", {{"annotations", {{"kappa.io/" + gate, "true"}}}}}};
  auto r = c->api->patch({kPipelineVersions, c->ns, name, {}}, kube::PatchType::kMerge, patch);
  if (!r) return fail("pipelineversion " + c->ns + "/" + name + ": " + r.error().message);
  std::cout << "pipelineversion " << c->ns << "/" << name << " annotated kappa.io/" << gate
            << "=true; the operator acts on it at its next pass\n";
  return 0;
}

int runRollback(const ClusterOptions& o, const std::string& pipeline) {
  auto c = connect(o);
  if (!c) return fail(c.error().message);
  auto alias = aliasOf(*c, pipeline);
  if (!alias.is_object()) {
    return fail("pipeline " + pipeline + " has no serving alias (" + pipeline +
                "-serving) in namespace " + c->ns);
  }
  std::string serving = str(alias, Json::json_pointer("/data/version"));
  std::string previous = str(alias, Json::json_pointer("/data/previousVersion"));
  if (previous.empty())
    return fail("pipeline " + pipeline + ": no previous version to roll back to");
  auto versions = versionsOf(*c, pipeline);
  if (!versions) return fail(versions.error().message);
  for (const auto& v : *versions) {
    if (str(v, Json::json_pointer("/spec/version")) != serving) continue;
    ClusterOptions same = o;
    same.ns = c->ns;
    std::string name = str(v, Json::json_pointer("/metadata/name"));
    std::cout << "rolling " << pipeline << " back from " << serving << " to " << previous << "\n";
    return runAnnotate(same, name, "rollback");
  }
  return fail("pipeline " + pipeline + ": no PipelineVersion for serving version " + serving);
}

std::vector<Json> cascadeStory(const std::vector<Json>& all, const std::string& pipeline) {
  const auto kPipeline = Json::json_pointer("/spec/pipeline");
  const auto kVersion = Json::json_pointer("/spec/version");
  const auto kFrom = Json::json_pointer("/metadata/labels/kappa.io~1cascade-from");
  const auto kUpstreamVersion =
      Json::json_pointer("/metadata/labels/kappa.io~1cascade-upstream-version");
  std::vector<bool> in(all.size(), false);
  std::set<std::string> pipelines{pipeline};
  for (size_t i = 0; i < all.size(); ++i) in[i] = str(all[i], kPipeline) == pipeline;
  for (bool grew = true; grew;) {
    grew = false;
    for (size_t i = 0; i < all.size(); ++i) {
      if (in[i]) continue;
      // Down: a cascade from a pipeline of the story.
      bool down = pipelines.count(str(all[i], kFrom)) > 0;
      // Up: the version whose flip made a version of the story.
      bool up = false;
      for (size_t j = 0; j < all.size() && !down && !up; ++j) {
        up = in[j] && !str(all[j], kFrom).empty() && str(all[j], kFrom) == str(all[i], kPipeline) &&
             str(all[j], kUpstreamVersion) == str(all[i], kVersion);
      }
      if (down || up) {
        in[i] = grew = true;
        if (down) pipelines.insert(str(all[i], kPipeline));
      }
    }
  }
  std::vector<Json> story;
  for (size_t i = 0; i < all.size(); ++i) {
    if (in[i]) story.push_back(all[i]);
  }
  sortByCreation(story);
  return story;
}

Json mergeHistory(const std::vector<Json>& versions) {
  std::vector<Json> entries;
  for (const auto& v : versions) {
    std::string pipeline = str(v, Json::json_pointer("/spec/pipeline"));
    std::string version = str(v, Json::json_pointer("/spec/version"));
    std::string name = str(v, Json::json_pointer("/metadata/name"));
    std::string from = str(v, Json::json_pointer("/metadata/labels/kappa.io~1cascade-from"));
    if (!from.empty()) {
      // Its creation, which the operator's cascade did: the first step of its part of the
      // story. (creationTimestamp has whole seconds; history times have microseconds.)
      std::string created = str(v, Json::json_pointer("/metadata/creationTimestamp"));
      if (created.size() == 20 && created.back() == 'Z') created.insert(19, ".000000");
      entries.push_back(
          Json{{"time", created},
               {"from", ""},
               {"to", "Pending"},
               {"reason", "Cascade"},
               {"actor", "cascade from " + from},
               {"message", str(v, Json::json_pointer("/metadata/annotations/kappa.io~1cascade"))},
               {"pipeline", pipeline},
               {"version", version},
               {"name", name}});
    }
    const auto ptr = Json::json_pointer("/status/history");
    if (!v.contains(ptr) || !v.at(ptr).is_array()) continue;
    for (Json e : v.at(ptr)) {
      e["pipeline"] = pipeline;
      e["version"] = version;
      e["name"] = name;
      entries.push_back(std::move(e));
    }
  }
  // RFC 3339 in UTC with a fixed number of digits: text order is time order.
  std::stable_sort(entries.begin(), entries.end(), [](const Json& a, const Json& b) {
    return a.value("time", "") < b.value("time", "");
  });
  return Json(entries);
}

std::string renderHistory(const std::string& pipeline, const Json& entries) {
  std::ostringstream os;
  if (entries.empty()) {
    os << "pipeline " << pipeline << ": no transitions recorded\n";
    return os.str();
  }
  std::set<std::string> pipelines;
  for (const auto& e : entries) pipelines.insert(e.value("pipeline", pipeline));
  const bool several = pipelines.size() > 1;
  os << "pipeline " << pipeline;
  if (several) {
    os << ", with the pipelines its cascades reach:";
    for (const auto& p : pipelines) {
      if (p != pipeline) os << " " << p;
    }
  }
  os << ":\n";
  // The version and pipeline columns as wide as their longest value (a cascade's generated
  // version names are longer than most).
  size_t versionWidth = 9, pipelineWidth = 10;
  for (const auto& e : entries) {
    versionWidth = std::max(versionWidth, e.value("version", "").size() + 2);
    pipelineWidth = std::max(pipelineWidth, e.value("pipeline", pipeline).size() + 2);
  }
  const size_t widths[] = {20, pipelineWidth, versionWidth, 36, 30};
  const char* headers[] = {"TIME", "PIPELINE", "VERSION", "TRANSITION", "BY"};
  for (size_t i = 0; i < std::size(headers); ++i) {
    if (i != 1 || several) cell(os, headers[i], widths[i]);
  }
  os << "WHY\n";
  for (const auto& e : entries) {
    std::string time = e.value("time", "");
    if (time.size() > 19) time = time.substr(0, 19) + "Z";
    std::string why = e.value("reason", "");
    std::string message = e.value("message", "");
    if (!message.empty()) why += why.empty() ? message : ": " + message;
    if (e.contains("comparedKeys")) {
      why += " (" + std::to_string(e.value("mismatchedKeys", 0)) + " of " +
             std::to_string(e.value("comparedKeys", 0)) + " compared keys differed)";
    }
    std::string from = e.value("from", "");
    const std::string cells[] = {time, e.value("pipeline", pipeline), e.value("version", ""),
                                 (from.empty() ? "(created)" : from) + " -> " + e.value("to", ""),
                                 e.value("actor", "")};
    for (size_t i = 0; i < std::size(cells); ++i) {
      if (i != 1 || several) cell(os, cells[i], widths[i]);
    }
    os << why << "\n";
  }
  return os.str();
}

Json pipelineGraph(const std::vector<Json>& versions, const std::vector<Json>& aliases) {
  std::map<std::string, Json> serving;  // pipeline -> the alias's data
  for (const auto& a : aliases) {
    std::string p = str(a, Json::json_pointer("/data/pipeline"));
    if (!p.empty()) serving[p] = a.at("data");
  }
  struct Tier {
    std::string reads;  // a pipeline, or "" for a topic
    std::string topic;
    Json candidates = Json::array();
    Json servingVersion;
  };
  std::map<std::string, Tier> tiers;
  std::vector<Json> sorted = versions;
  sortByCreation(sorted);
  for (const auto& v : sorted) {
    std::string p = str(v, Json::json_pointer("/spec/pipeline"));
    Tier& t = tiers[p];
    std::string version = str(v, Json::json_pointer("/spec/version"));
    std::string phase = str(v, Json::json_pointer("/status/phase"), "Pending");
    std::string reads = str(v, Json::json_pointer("/spec/source/pipeline"));
    if (t.reads.empty()) t.reads = reads;
    if (t.topic.empty()) t.topic = str(v, Json::json_pointer("/spec/source/topic"));
    auto it = serving.find(p);
    if (it != serving.end() && str(it->second, Json::json_pointer("/version")) == version) {
      t.servingVersion = {{"version", version},
                          {"topic", str(it->second, Json::json_pointer("/topic"))},
                          {"reads", str(v, Json::json_pointer("/status/source/version"))}};
    } else if (isCandidatePhase(phase)) {
      Json c = {{"version", version}, {"phase", phase}};
      std::string from = str(v, Json::json_pointer("/metadata/labels/kappa.io~1cascade-from"));
      if (!from.empty()) {
        c["cascadeFrom"] =
            from + " " +
            str(v, Json::json_pointer("/metadata/labels/kappa.io~1cascade-upstream-version"));
      }
      t.candidates.push_back(std::move(c));
    }
  }
  // Each tier after the tiers it reads (a cycle, which the operator refuses, ends the walk).
  std::vector<std::string> order;
  std::set<std::string> placed, visiting;
  std::function<void(const std::string&)> place = [&](const std::string& p) {
    if (placed.contains(p) || visiting.contains(p)) return;
    visiting.insert(p);
    auto it = tiers.find(p);
    if (it != tiers.end() && !it->second.reads.empty()) place(it->second.reads);
    visiting.erase(p);
    if (tiers.contains(p)) {
      placed.insert(p);
      order.push_back(p);
    }
  };
  for (const auto& [p, t] : tiers) place(p);
  Json out = Json::array();
  for (const auto& p : order) {
    const Tier& t = tiers.at(p);
    Json row = {{"pipeline", p}, {"candidates", t.candidates}};
    if (!t.servingVersion.is_null()) row["serving"] = t.servingVersion;
    if (!t.reads.empty()) {
      row["readsPipeline"] = t.reads;
    } else {
      row["readsTopic"] = t.topic;
    }
    out.push_back(std::move(row));
  }
  return out;
}

std::string renderPipelines(const Json& graph) {
  std::ostringstream os;
  if (graph.empty()) return "no PipelineVersions in this namespace\n";
  const size_t widths[] = {14, 24, 30};
  const char* headers[] = {"PIPELINE", "SERVING", "READS"};
  for (size_t i = 0; i < std::size(headers); ++i) cell(os, headers[i], widths[i]);
  os << "IN FLIGHT\n";
  for (const auto& row : graph) {
    std::string serving = "-", reads;
    if (row.contains("serving")) serving = str(row["serving"], Json::json_pointer("/version"));
    if (row.contains("readsPipeline")) {
      reads = row["readsPipeline"].get<std::string>();
      if (row.contains("serving")) {
        std::string v = str(row["serving"], Json::json_pointer("/reads"));
        if (!v.empty()) reads += " " + v;
      }
    } else {
      reads = "topic " + str(row, Json::json_pointer("/readsTopic"));
    }
    std::string flight;
    for (const auto& c : row["candidates"]) {
      if (!flight.empty()) flight += ", ";
      flight += c.value("version", "") + " " + c.value("phase", "");
      if (c.contains("cascadeFrom"))
        flight += " (cascade from " + c["cascadeFrom"].get<std::string>() + ")";
    }
    cell(os, row.value("pipeline", ""), widths[0]);
    cell(os, serving, widths[1]);
    cell(os, reads, widths[2]);
    os << (flight.empty() ? "-" : flight) << "\n";
  }
  return os.str();
}

int runPipelines(const ClusterOptions& o) {
  auto c = connect(o);
  if (!c) return fail(c.error().message);
  auto list = c->api->listAll({kPipelineVersions, c->ns}, {});
  if (!list) return fail(list.error().message);
  kube::ListOptions managed;
  managed.labelSelector = "app.kubernetes.io/managed-by=kappa-operator";
  auto cms = c->api->listAll({kube::resources::configMaps(), c->ns}, managed);
  if (!cms) return fail(cms.error().message);
  Json graph = pipelineGraph(list->items, cms->items);
  if (o.json) {
    std::cout << Json{{"namespace", c->ns}, {"pipelines", graph}}.dump(2) << std::endl;
  } else {
    std::cout << renderPipelines(graph);
  }
  return 0;
}

int runHistory(const ClusterOptions& o, const std::string& pipeline) {
  auto c = connect(o);
  if (!c) return fail(c.error().message);
  auto list = c->api->listAll({kPipelineVersions, c->ns}, {});
  if (!list) return fail(list.error().message);
  Json entries = mergeHistory(cascadeStory(list->items, pipeline));
  if (o.json) {
    std::cout << Json{{"pipeline", pipeline}, {"history", entries}}.dump(2) << std::endl;
  } else {
    std::cout << renderHistory(pipeline, entries);
  }
  return 0;
}

}  // namespace kappa::cli
