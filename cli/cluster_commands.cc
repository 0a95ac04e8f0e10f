#include "cli/cluster_commands.h"

#include <unistd.h>
#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <ctime>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <thread>

#include "runtime/kube/http_kube_api.h"
#include "runtime/kube/kube_config.h"

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

Result<std::vector<Json>> versionsOf(Client& c, const std::string& pipeline) {
  auto list = c.api->listAll({kPipelineVersions, c.ns}, {});
  if (!list) return list.error();
  std::vector<Json> out;
  for (auto& item : list->items) {
    if (str(item, Json::json_pointer("/spec/pipeline")) == pipeline) out.push_back(item);
  }
  std::sort(out.begin(), out.end(), [](const Json& a, const Json& b) {
    return str(a, Json::json_pointer("/metadata/creationTimestamp")) <
           str(b, Json::json_pointer("/metadata/creationTimestamp"));
  });
  return out;
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

// A mismatch example as a field diff: the fields that differ, "field: serving -> candidate"
// (the fields both sides share equal are left out); whole values when they are not objects.
std::string exampleDiff(const Json& serving, const Json& candidate) {
  auto parsed = [](const Json& v) {
    if (!v.is_string()) return v;
    Json j = Json::parse(v.get<std::string>(), nullptr, false);
    return j.is_discarded() ? v : j;
  };
  Json a = parsed(serving), b = parsed(candidate);
  if (!a.is_object() || !b.is_object()) return a.dump() + " -> " + b.dump();
  std::ostringstream os;
  std::string sep;
  auto absent = [](const Json& o, const std::string& k) {
    return o.contains(k) ? o.at(k).dump() : std::string("(none)");
  };
  for (const auto& [k, v] : a.items()) {
    if (b.contains(k) && b.at(k) == v) continue;
    os << sep << k << ": " << v.dump() << " -> " << absent(b, k);
    sep = ", ";
  }
  for (const auto& [k, v] : b.items()) {
    if (a.contains(k)) continue;
    os << sep << k << ": (none) -> " << v.dump();
    sep = ", ";
  }
  return os.str();
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
    auto lag = candidate ? num(v, Json::json_pointer("/status/lag/messages")) : std::nullopt;
    auto behind = candidate ? num(v, Json::json_pointer("/status/lag/seconds")) : std::nullopt;
    bool estimated = v.value(Json::json_pointer("/status/lag/secondsEstimated"), false);
    std::string behindText = "-";
    if (behind && lag) {
      // Below a minute to the tenth of a second: the scale of the catch-up bound.
      std::ostringstream bs;
      if (estimated) bs << "~";
      if (*behind < 60) {
        bs << std::fixed << std::setprecision(1) << *behind << "s";
      } else {
        bs << duration(*behind);
      }
      behindText = bs.str();
    }
    // Progress while replaying, and after only until the flip; an ETA and a rate only while
    // there is something left to read.
    auto pct =
        candidate ? num(v, Json::json_pointer("/status/replay/progressPercent")) : std::nullopt;
    bool replaying = phase == "Replaying";
    auto eta = replaying ? num(v, Json::json_pointer("/status/replay/etaSeconds")) : std::nullopt;
    auto rate =
        replaying ? num(v, Json::json_pointer("/status/replay/messagesPerSecond")) : std::nullopt;
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
    if (pct) progress << bar(*pct) << " " << std::fixed << std::setprecision(1) << *pct << "%";
    const std::string cells[] = {version,
                                 phase,
                                 lag ? std::to_string(static_cast<int64_t>(*lag)) : "-",
                                 behindText,
                                 pct ? progress.str() : "-",
                                 eta ? duration(*eta) : "-",
                                 rate ? std::to_string(static_cast<int64_t>(*rate)) : "-",
                                 validation,
                                 version == servingVersion ? "yes" : ""};
    for (size_t i = 0; i < std::size(cells); ++i) cell(os, cells[i], widths[i]);
    os << age << "\n";
    std::string message = str(v, Json::json_pointer("/status/message"));
    if (!message.empty()) os << "           " << message << "\n";
    // Why its pods do not run (a quota, the scheduler, an image), in the cluster's words.
    std::string workerReason;
    if (conditionStatus(v, "WorkerAvailable", &workerReason) == "False" &&
        workerReason != "Starting") {
      for (const auto& c : v.at(Json::json_pointer("/status/conditions"))) {
        if (c.value("type", "") == "WorkerAvailable") {
          os << "           pods: " << workerReason << ": " << c.value("message", "") << "\n";
        }
      }
    }
    const auto ex = Json::json_pointer("/status/validation/examples");
    if (validated == "False" && v.contains(ex) && v.at(ex).is_array()) {
      for (const auto& e : v.at(ex)) {
        os << "           key " << e.value("key", "") << ": "
           << exampleDiff(e.value("serving", Json()), e.value("candidate", Json())) << "\n";
      }
    }
  }
  return os.str();
}

int runStatus(const ClusterOptions& o, const std::string& pipeline, bool watch) {
  auto c = connect(o);
  if (!c) return fail(c.error().message);
  std::signal(SIGINT, [](int) { interrupted = true; });
  bool tty = isatty(STDOUT_FILENO);
  do {
    auto versions = versionsOf(*c, pipeline);
    if (!versions) return fail(versions.error().message);
    auto alias = aliasOf(*c, pipeline);
    if (o.json) {
      Json out = {{"pipeline", pipeline},
                  {"alias", alias.is_object() ? alias["data"] : Json()},
                  {"versions", Json::array()}};
      for (const auto& v : *versions) {
        out["versions"].push_back({{"name", str(v, Json::json_pointer("/metadata/name"))},
                                   {"version", str(v, Json::json_pointer("/spec/version"))},
                                   {"status", v.value("status", Json::object())}});
      }
      std::cout << out.dump(2) << std::endl;
    } else {
      if (watch && tty) std::cout << "\033[H\033[2J";
      std::cout << renderStatus(pipeline, *versions, alias, std::chrono::system_clock::now());
      if (watch && !tty) std::cout << "\n";
      std::cout.flush();
    }
    for (int i = 0; watch && i < 20 && !interrupted; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  } while (watch && !interrupted);
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

Json mergeHistory(const std::vector<Json>& versions) {
  std::vector<Json> entries;
  for (const auto& v : versions) {
    const auto ptr = Json::json_pointer("/status/history");
    if (!v.contains(ptr) || !v.at(ptr).is_array()) continue;
    for (Json e : v.at(ptr)) {
      e["version"] = str(v, Json::json_pointer("/spec/version"));
      e["name"] = str(v, Json::json_pointer("/metadata/name"));
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
  os << "pipeline " << pipeline << ":\n";
  const size_t widths[] = {20, 9, 36, 30};
  const char* headers[] = {"TIME", "VERSION", "TRANSITION", "BY"};
  for (size_t i = 0; i < std::size(headers); ++i) cell(os, headers[i], widths[i]);
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
    const std::string cells[] = {time, e.value("version", ""),
                                 e.value("from", "") + " -> " + e.value("to", ""),
                                 e.value("actor", "")};
    for (size_t i = 0; i < std::size(cells); ++i) cell(os, cells[i], widths[i]);
    os << why << "\n";
  }
  return os.str();
}

int runHistory(const ClusterOptions& o, const std::string& pipeline) {
  auto c = connect(o);
  if (!c) return fail(c.error().message);
  auto versions = versionsOf(*c, pipeline);
  if (!versions) return fail(versions.error().message);
  Json entries = mergeHistory(*versions);
  if (o.json) {
    std::cout << Json{{"pipeline", pipeline}, {"history", entries}}.dump(2) << std::endl;
  } else {
    std::cout << renderHistory(pipeline, entries);
  }
  return 0;
}

}  // namespace kappa::cli
