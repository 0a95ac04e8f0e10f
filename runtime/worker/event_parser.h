// Extracts the fields a program needs from one JSON event, in one pass with simdjson's
// on-demand parser. The parser and its buffers are reused: parsing an event allocates
// nothing once the buffers have grown to the largest event seen.
#pragma once

#include <simdjson.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/worker/program.h"

namespace kappa::worker {

struct FieldValue {
  enum class Kind : uint8_t { kMissing, kNull, kString, kNumber, kBool, kOther };
  Kind kind = Kind::kMissing;
  bool isInteger = false;  // kNumber without fraction or exponent, fits int64
  bool boolean = false;
  int64_t integer = 0;
  double number = 0;
  std::string_view text;  // kString: unescaped; valid until the next parse
};

class EventParser {
 public:
  explicit EventParser(const Program& program);

  // Parses one event. Returns an empty string_view on success, else a short reason
  // (static storage) for the dead-letter record.
  std::string_view parse(const char* data, size_t size);

  const FieldValue& field(FieldRef ref) const { return values_[ref]; }

 private:
  const Program& program_;
  simdjson::ondemand::parser parser_;
  std::string buffer_;  // event bytes + simdjson padding
  std::vector<FieldValue> values_;
};

// True when the event value equals a program constant (same kind, same value).
bool scalarEquals(const FieldValue& v, const Scalar& s);

}  // namespace kappa::worker
