#include "runtime/worker/event_parser.h"

#include <cstdlib>
#include <stdexcept>

namespace kappa::worker {

EventParser::EventParser(const Program& program)
    : EventParser(program, [] {
        // KAPPA_WORKER_KERNEL: auto (default), portable or haswell.
        const char* choice = std::getenv("KAPPA_WORKER_KERNEL");
        return std::string_view(choice && *choice ? choice : "auto");
      }()) {}

EventParser::EventParser(const Program& program, std::string_view kernel)
    : kernel_(makeKernel(program.fields, kernel, &why_)), values_(program.fields.size()) {
  if (!kernel_) throw std::invalid_argument(why_);
}

std::string_view EventParser::parse(const char* data, size_t size) {
  return kernel_->parse(data, size, values_.data());
}

bool scalarEquals(const FieldValue& v, const Scalar& s) {
  switch (s.kind) {
    case Scalar::Kind::kString:
      return v.kind == FieldValue::Kind::kString && v.text == s.text;
    case Scalar::Kind::kNumber:
      return v.kind == FieldValue::Kind::kNumber && v.number == s.number;
    case Scalar::Kind::kBool:
      return v.kind == FieldValue::Kind::kBool && v.boolean == s.boolean;
  }
  return false;
}

}  // namespace kappa::worker
