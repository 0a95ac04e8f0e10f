#include "runtime/worker/program.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

namespace kappa::worker {
namespace {

struct ProgramError {
  std::string path;
  std::string what;
};

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw ProgramError{path, what};
}

std::string join(const std::string& base, const std::string& key) {
  return base.empty() ? key : base + "." + key;
}

void requireMap(const YAML::Node& n, const std::string& path) {
  if (!n.IsMap()) fail(path.empty() ? "program" : path, "must be a mapping");
}

void onlyKeys(const YAML::Node& n, const std::string& path, std::set<std::string> allowed) {
  for (const auto& kv : n) {
    auto key = kv.first.as<std::string>();
    if (!allowed.count(key)) {
      std::string list;
      for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
      fail(join(path, key), "unknown field (allowed: " + list + ")");
    }
  }
}

std::string requiredString(const YAML::Node& n, const std::string& key, const std::string& path) {
  auto v = n[key];
  if (!v || v.IsNull()) fail(join(path, key), "required");
  if (!v.IsScalar()) fail(join(path, key), "must be a string");
  auto s = v.as<std::string>();
  if (s.empty()) fail(join(path, key), "must not be empty");
  return s;
}

std::optional<double> asNumber(const std::string& s) {
  double d = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
  if (ec != std::errc() || p != s.data() + s.size() || !std::isfinite(d)) return std::nullopt;
  return d;
}

int64_t seconds(const YAML::Node& n, const std::string& key, const std::string& path, bool required,
                bool positive) {
  auto v = n[key];
  if (!v || v.IsNull()) {
    if (required) fail(join(path, key), "required");
    return 0;
  }
  if (!v.IsScalar()) fail(join(path, key), "must be a number of seconds");
  auto d = asNumber(v.as<std::string>());
  if (!d) fail(join(path, key), "must be a number of seconds, got '" + v.as<std::string>() + "'");
  if (*d < 0) fail(join(path, key), "must not be negative");
  if (positive && *d <= 0) fail(join(path, key), "must be greater than 0");
  if (*d > 1e9) fail(join(path, key), "too large");
  return static_cast<int64_t>(std::llround(*d * 1000));
}

Scalar scalarOf(const YAML::Node& v, const std::string& path) {
  if (!v || v.IsNull()) fail(path, "required");
  if (!v.IsScalar()) fail(path, "must be a string, number or boolean");
  Scalar s;
  auto text = v.as<std::string>();
  // A quoted YAML/JSON value is always a string; a plain one may be a number or a bool.
  if (v.Tag() != "!") {
    if (auto d = asNumber(text)) {
      s.kind = Scalar::Kind::kNumber;
      s.number = *d;
      return s;
    }
    if (text == "true" || text == "false") {
      s.kind = Scalar::Kind::kBool;
      s.boolean = text == "true";
      return s;
    }
  }
  s.kind = Scalar::Kind::kString;
  s.text = text;
  return s;
}

class Builder {
 public:
  Program build(const YAML::Node& root) {
    requireMap(root, "");
    onlyKeys(root, "",
             {"keyField", "timestampField", "filter", "window", "aggregates", "select", "dedup"});
    p_.keyField = field(requiredString(root, "keyField", ""));
    if (root["timestampField"] && !root["timestampField"].IsNull()) {
      p_.timestampField = field(requiredString(root, "timestampField", ""));
    }
    if (auto f = root["filter"]; f && !f.IsNull()) filter(f);
    if (auto w = root["window"]; w && !w.IsNull()) window(w);
    if (p_.window.type != Window::Type::kNone && p_.timestampField < 0) {
      fail("timestampField",
           "required for a " + std::string(windowTypeName(p_.window.type)) + " window");
    }
    if (auto s = root["select"]; s && !s.IsNull()) {
      if (root["aggregates"])
        fail("aggregates", "not allowed with select (a pass-through program)");
      if (p_.window.type != Window::Type::kNone) {
        fail("window", "not allowed with select (a pass-through program)");
      }
      select(s);
    } else {
      aggregates(root["aggregates"]);
    }
    if (auto d = root["dedup"]; d && !d.IsNull()) dedup(d);
    return p_;
  }

 private:
  FieldRef field(const std::string& name) {
    auto it = std::find(p_.fields.begin(), p_.fields.end(), name);
    if (it != p_.fields.end()) return static_cast<FieldRef>(it - p_.fields.begin());
    p_.fields.push_back(name);
    return static_cast<FieldRef>(p_.fields.size() - 1);
  }

  void filter(const YAML::Node& list) {
    if (!list.IsSequence()) fail("filter", "must be a list");
    for (size_t i = 0; i < list.size(); ++i) {
      std::string path = "filter[" + std::to_string(i) + "]";
      const auto& n = list[i];
      requireMap(n, path);
      onlyKeys(n, path, {"field", "op", "value", "values"});
      FilterClause c;
      c.field = field(requiredString(n, "field", path));
      auto op = requiredString(n, "op", path);
      if (op == "eq" || op == "ne") {
        c.op = op == "eq" ? FilterClause::Op::kEq : FilterClause::Op::kNe;
        if (n["values"]) fail(join(path, "values"), "not allowed with op " + op + "; use value");
        c.values.push_back(scalarOf(n["value"], join(path, "value")));
      } else if (op == "in") {
        c.op = FilterClause::Op::kIn;
        if (n["value"]) fail(join(path, "value"), "not allowed with op in; use values");
        auto vs = n["values"];
        if (!vs || !vs.IsSequence() || vs.size() == 0) {
          fail(join(path, "values"), "must be a non-empty list for op in");
        }
        for (size_t j = 0; j < vs.size(); ++j) {
          c.values.push_back(scalarOf(vs[j], join(path, "values[" + std::to_string(j) + "]")));
        }
      } else {
        fail(join(path, "op"), "must be one of eq, ne, in; got '" + op + "'");
      }
      p_.filter.push_back(std::move(c));
    }
  }

  void window(const YAML::Node& n) {
    requireMap(n, "window");
    onlyKeys(n, "window", {"type", "sizeSeconds", "gapSeconds", "allowedLatenessSeconds", "emit"});
    auto type = requiredString(n, "type", "window");
    Window& w = p_.window;
    if (type == "none") {
      w.type = Window::Type::kNone;
      if (n["sizeSeconds"] || n["gapSeconds"]) {
        fail(n["sizeSeconds"] ? "window.sizeSeconds" : "window.gapSeconds",
             "not allowed for window type none");
      }
    } else if (type == "tumbling") {
      w.type = Window::Type::kTumbling;
      w.sizeMs = seconds(n, "sizeSeconds", "window", true, true);
      if (n["gapSeconds"]) fail("window.gapSeconds", "not allowed for a tumbling window");
    } else if (type == "session") {
      w.type = Window::Type::kSession;
      w.gapMs = seconds(n, "gapSeconds", "window", true, true);
      if (n["sizeSeconds"]) fail("window.sizeSeconds", "not allowed for a session window");
    } else {
      fail("window.type", "must be one of none, tumbling, session; got '" + type + "'");
    }
    w.allowedLatenessMs = seconds(n, "allowedLatenessSeconds", "window", false, false);
    if (auto e = n["emit"]; e && !e.IsNull()) {
      auto emit = requiredString(n, "emit", "window");
      if (emit == "onUpdate") {
        w.emit = Window::Emit::kUpdate;
      } else if (emit == "onClose") {
        if (w.type == Window::Type::kNone) fail("window.emit", "onClose needs a window to close");
        w.emit = Window::Emit::kClose;
      } else {
        fail("window.emit", "must be one of onUpdate, onClose; got '" + emit + "'");
      }
    }
  }

  void select(const YAML::Node& list) {
    if (!list.IsSequence() || list.size() == 0) fail("select", "must be a non-empty list");
    std::set<std::string> names;
    for (size_t i = 0; i < list.size(); ++i) {
      std::string path = "select[" + std::to_string(i) + "]";
      const auto& n = list[i];
      requireMap(n, path);
      onlyKeys(n, path, {"field", "as"});
      Selected s;
      std::string name = requiredString(n, "field", path);
      s.field = field(name);
      s.as = n["as"] && !n["as"].IsNull() ? requiredString(n, "as", path) : name;
      if (!names.insert(s.as).second) {
        fail(join(path, n["as"] ? "as" : "field"), "duplicate output field '" + s.as + "'");
      }
      p_.select.push_back(std::move(s));
    }
  }

  void dedup(const YAML::Node& n) {
    requireMap(n, "dedup");
    onlyKeys(n, "dedup", {"field", "horizonSeconds"});
    Dedup d;
    d.field = field(requiredString(n, "field", "dedup"));
    d.horizonMs = seconds(n, "horizonSeconds", "dedup", true, true);
    // A restarted worker rebuilds the ids seen from its output: it must carry them.
    if (p_.select.empty()) fail("dedup", "needs select (a pass-through program)");
    if (p_.timestampField < 0) fail("timestampField", "required with dedup");
    auto out = [&](FieldRef ref) -> const Selected* {
      for (const auto& s : p_.select) {
        if (s.field == ref) return &s;
      }
      return nullptr;
    };
    const Selected* id = out(d.field);
    const Selected* ts = out(p_.timestampField);
    if (!id) fail("dedup.field", "must be one of the selected fields (restore reads it back)");
    if (!ts) fail("select", "must include timestampField with dedup (restore reads it back)");
    d.idOutput = id->as;
    d.tsOutput = ts->as;
    p_.dedup = std::move(d);
  }

  void aggregates(const YAML::Node& list) {
    if (!list || list.IsNull()) fail("aggregates", "required: at least one aggregate");
    if (!list.IsSequence() || list.size() == 0) {
      fail("aggregates", "must be a non-empty list");
    }
    std::set<std::string> names;
    for (size_t i = 0; i < list.size(); ++i) {
      std::string path = "aggregates[" + std::to_string(i) + "]";
      const auto& n = list[i];
      requireMap(n, path);
      onlyKeys(n, path, {"name", "op", "field", "where"});
      Aggregate a;
      a.name = requiredString(n, "name", path);
      if (a.name == "key" || a.name == "window_start" || a.name == "window_end") {
        fail(join(path, "name"), "'" + a.name + "' is reserved for the output record");
      }
      if (!names.insert(a.name).second) {
        fail(join(path, "name"), "duplicate aggregate name '" + a.name + "'");
      }
      auto op = requiredString(n, "op", path);
      if (op == "count") {
        a.op = Aggregate::Op::kCount;
        if (n["field"]) a.field = field(requiredString(n, "field", path));
      } else if (op == "sum" || op == "min" || op == "max") {
        a.op = op == "sum" ? Aggregate::Op::kSum
                           : (op == "min" ? Aggregate::Op::kMin : Aggregate::Op::kMax);
        if (!n["field"]) fail(join(path, "field"), "required for op " + op);
        a.field = field(requiredString(n, "field", path));
      } else {
        fail(join(path, "op"), "must be one of count, sum, min, max; got '" + op + "'");
      }
      if (auto w = n["where"]; w && !w.IsNull()) {
        std::string wp = join(path, "where");
        requireMap(w, wp);
        onlyKeys(w, wp, {"field", "equals"});
        Where where;
        where.field = field(requiredString(w, "field", wp));
        where.equals = scalarOf(w["equals"], join(wp, "equals"));
        a.where = where;
      }
      p_.aggregates.push_back(std::move(a));
    }
  }

  Program p_;
};

}  // namespace

Result<Program> parseProgram(const std::string& text) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return Error{ErrorCode::kInvalidArgument,
                 "program: not valid YAML/JSON (line " + std::to_string(e.mark.line + 1) +
                     ", column " + std::to_string(e.mark.column + 1) + "): " + e.msg};
  }
  try {
    return Builder().build(root);
  } catch (const ProgramError& e) {
    return Error{ErrorCode::kInvalidArgument, e.path + ": " + e.what};
  } catch (const YAML::Exception& e) {
    return Error{ErrorCode::kInvalidArgument, "program: " + e.msg};
  }
}

Result<Program> loadProgramFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Error{ErrorCode::kInvalidArgument, path + ": cannot open program file"};
  std::stringstream ss;
  ss << in.rdbuf();
  auto p = parseProgram(ss.str());
  if (!p) return Error{p.error().code, path + ": " + p.error().message};
  return p;
}

const char* windowTypeName(Window::Type t) {
  switch (t) {
    case Window::Type::kNone:
      return "none";
    case Window::Type::kTumbling:
      return "tumbling";
    case Window::Type::kSession:
      return "session";
  }
  return "?";
}

const char* aggregateOpName(Aggregate::Op op) {
  switch (op) {
    case Aggregate::Op::kCount:
      return "count";
    case Aggregate::Op::kSum:
      return "sum";
    case Aggregate::Op::kMin:
      return "min";
    case Aggregate::Op::kMax:
      return "max";
  }
  return "?";
}

}  // namespace kappa::worker
