#include "runtime/worker/dry_run.h"

#include <cmath>
#include <cstdio>
#include <sstream>

namespace kappa::worker {
namespace {

// Length of the well-formed UTF-8 sequence at s[i] (RFC 3629: no overlong forms, no
// surrogates, nothing above U+10FFFF), or 0. What passes is what a strict JSON encoder takes.
size_t utf8Length(std::string_view s, size_t i) {
  auto at = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const unsigned char b = at(0);
  if (b < 0x80) return 1;
  size_t n = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // the range of the second byte
  if (b >= 0xC2 && b <= 0xDF) {
    n = 2;
  } else if (b >= 0xE0 && b <= 0xEF) {
    n = 3;
    if (b == 0xE0) lo = 0xA0;  // overlong
    if (b == 0xED) hi = 0x9F;  // surrogates
  } else if (b >= 0xF0 && b <= 0xF4) {
    n = 4;
    if (b == 0xF0) lo = 0x90;  // overlong
    if (b == 0xF4) hi = 0x8F;  // above U+10FFFF
  } else {
    return 0;
  }
  if (i + n > s.size() || at(1) < lo || at(1) > hi) return 0;
  for (size_t k = 2; k < n; ++k) {
    if ((at(k) & 0xC0) != 0x80) return 0;
  }
  return n;
}

}  // namespace

std::string printableExample(std::string_view bytes, size_t max) {
  std::string out;
  size_t i = 0;
  while (i < bytes.size()) {
    size_t n = utf8Length(bytes, i);
    bool control = n == 1 && static_cast<unsigned char>(bytes[i]) < 0x20;
    size_t width = n == 0 || control ? 4 : n;
    if (out.size() + width > max) break;
    if (n == 0 || control) {
      char buf[5];
      std::snprintf(buf, sizeof buf, "\\x%02X", static_cast<unsigned char>(bytes[i]));
      out += buf;
      i += 1;
    } else {
      out.append(bytes.substr(i, n));
      i += n;
    }
  }
  if (i < bytes.size()) out += "...";
  return out;
}

std::string dryRunSummary(const DryRunReport& r) {
  std::ostringstream os;
  os << r.deadLettered << " of " << r.sampled << " sampled records";
  char pct[32];
  std::snprintf(pct, sizeof pct, " (about %.1f%% of the history)", 100.0 * r.ratio);
  os << pct;
  for (size_t i = 0; i < r.reasons.size(); ++i) {
    os << (i ? ", " : ": ") << r.reasons[i].reason << " (" << r.reasons[i].records << ")";
  }
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const DryRunReport& r) { return os << dryRunSummary(r); }

nlohmann::json dryRunToJson(const DryRunReport& r) {
  nlohmann::json reasons = nlohmann::json::array();
  for (const auto& reason : r.reasons) {
    nlohmann::json examples = nlohmann::json::array();
    for (const auto& e : reason.examples) {
      examples.push_back({{"partition", e.partition}, {"offset", e.offset}, {"value", e.value}});
    }
    reasons.push_back({{"reason", reason.reason},
                       {"records", reason.records},
                       {"examples", std::move(examples)}});
  }
  return {{"sampledRecords", r.sampled},
          {"deadLetteredRecords", r.deadLettered},
          {"deadLetterRatio", std::round(r.ratio * 1e4) / 1e4},
          {"reasons", std::move(reasons)}};
}

DryRunReport dryRunFromJson(const nlohmann::json& j) {
  auto int64 = [](const nlohmann::json& o, const char* key) -> int64_t {
    auto it = o.find(key);
    return it != o.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
  };
  auto text = [](const nlohmann::json& o, const char* key) -> std::string {
    auto it = o.find(key);
    return it != o.end() && it->is_string() ? it->get<std::string>() : "";
  };
  DryRunReport r;
  if (!j.is_object()) return r;
  r.sampled = int64(j, "sampledRecords");
  r.deadLettered = int64(j, "deadLetteredRecords");
  if (auto it = j.find("deadLetterRatio"); it != j.end() && it->is_number()) {
    r.ratio = it->get<double>();
  }
  for (const auto& rj : j.value("reasons", nlohmann::json::array())) {
    if (!rj.is_object()) continue;
    DryRunReason reason{text(rj, "reason"), int64(rj, "records")};
    for (const auto& e : rj.value("examples", nlohmann::json::array())) {
      if (!e.is_object()) continue;
      reason.examples.push_back(
          {static_cast<int32_t>(int64(e, "partition")), int64(e, "offset"), text(e, "value")});
    }
    r.reasons.push_back(std::move(reason));
  }
  return r;
}

}  // namespace kappa::worker
