// The built-in worker's program: filter -> key -> window -> aggregate, as written in a
// PipelineVersion's spec.processor.builtin (JSON) or a --program YAML file. Parsing validates
// everything up front and names the offending field, so a bad program never starts.
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "runtime/core/result.h"

namespace kappa::worker {

// A constant in a program (filter value, where.equals). Event values compare by kind: a
// string equals only a string, a number only a number (numerically), a bool only a bool.
struct Scalar {
  enum class Kind { kString, kNumber, kBool };
  Kind kind = Kind::kString;
  std::string text;      // kString
  double number = 0;     // kNumber
  bool boolean = false;  // kBool
  bool operator==(const Scalar&) const = default;
};

// Fields are referred to by index into Program::fields (each distinct name once), so the
// event parser extracts every field the program needs in one pass.
using FieldRef = int;

struct FilterClause {
  enum class Op { kEq, kNe, kIn };
  FieldRef field = -1;
  Op op = Op::kEq;
  std::vector<Scalar> values;  // one for eq/ne
  bool operator==(const FilterClause&) const = default;
};

struct Where {
  FieldRef field = -1;
  Scalar equals;
  bool operator==(const Where&) const = default;
};

struct Aggregate {
  enum class Op { kCount, kSum, kMin, kMax };
  std::string name;
  Op op = Op::kCount;
  FieldRef field = -1;  // required for sum/min/max
  std::optional<Where> where;
  bool operator==(const Aggregate&) const = default;
};

struct Window {
  enum class Type { kNone, kTumbling, kSession };
  // kUpdate: every accepted event writes its window's new value to the output. kClose: the
  // output gets one final record per window, once the watermark passes its end plus the
  // allowed lateness; the open windows' values go to the state changelog instead.
  enum class Emit { kUpdate, kClose };
  Type type = Type::kNone;
  int64_t sizeMs = 0;  // tumbling
  int64_t gapMs = 0;   // session
  int64_t allowedLatenessMs = 0;
  Emit emit = Emit::kUpdate;
  bool operator==(const Window&) const = default;
};

// A field a pass-through program copies into its output record, under `as`.
struct Selected {
  FieldRef field = -1;
  std::string as;
  bool operator==(const Selected&) const = default;
};

// Drops an event whose `field` (a string or an integer) an accepted event of the same source
// partition carried at an event time no more than `horizonMs` before the partition's
// watermark. The decision depends only on the events before it, in partition order: replay,
// live and a restored worker agree.
struct Dedup {
  FieldRef field = -1;
  int64_t horizonMs = 0;
  std::string idOutput;  // the names the id and the event time have in the output record,
  std::string tsOutput;  // from which restore() rebuilds the ids seen
  bool operator==(const Dedup&) const = default;
};

struct Program {
  std::vector<std::string> fields;  // distinct field names, indexed by FieldRef
  FieldRef keyField = -1;
  FieldRef timestampField = -1;  // -1: none (only allowed without a window)
  std::vector<FilterClause> filter;
  Window window;
  std::vector<Aggregate> aggregates;
  // A pass-through program (a cleaning tier): every accepted event becomes one output record
  // of these fields, keyed by keyField; no window, no aggregates.
  std::vector<Selected> select;
  std::optional<Dedup> dedup;  // pass-through programs only
  bool operator==(const Program&) const = default;
};

// Parses YAML or JSON (JSON is read as YAML flow style). Errors are kInvalidArgument with a
// message of the form "<field path>: <what is wrong>", e.g. "aggregates[1].field: required
// for op sum".
Result<Program> parseProgram(const std::string& text);
Result<Program> loadProgramFile(const std::string& path);

const char* windowTypeName(Window::Type t);
// Whether the program keeps its open windows in a state changelog (emit: onClose): a worker
// then restores from that topic rather than from the output.
inline bool usesStateChangelog(const Program& p) {
  return p.window.type != Window::Type::kNone && p.window.emit == Window::Emit::kClose;
}
const char* aggregateOpName(Aggregate::Op op);

}  // namespace kappa::worker
