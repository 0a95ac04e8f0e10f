// Extracts the fields a program needs from one JSON event, in one pass with simdjson's
// on-demand parser (parser_kernel.h: the kernel for this CPU, chosen at run time). The
// parser and its buffers are reused: parsing an event allocates nothing once the buffers
// have grown to the largest event seen.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/worker/parser_kernel.h"
#include "runtime/worker/program.h"

namespace kappa::worker {

class EventParser {
 public:
  // The kernel for this CPU (makeKernel "auto").
  explicit EventParser(const Program& program);
  // A kernel of one's choosing (makeKernel; std::invalid_argument when it cannot be had).
  EventParser(const Program& program, std::string_view kernel);

  // Parses one event. Returns an empty string_view on success, else a short reason
  // (static storage) for the dead-letter record.
  std::string_view parse(const char* data, size_t size);

  const FieldValue& field(FieldRef ref) const { return values_[ref]; }
  // Which kernel parses, and why (for the worker's start-up log).
  const std::string& kernelChoice() const { return why_; }

 private:
  std::string why_;
  std::unique_ptr<ParserKernel> kernel_;
  std::vector<FieldValue> values_;
};

// True when the event value equals a program constant (same kind, same value).
bool scalarEquals(const FieldValue& v, const Scalar& s);

}  // namespace kappa::worker
