// The JSON kernel (see parser_kernel.h). This file is compiled twice: into kappa_worker_core
// for any x86-64 (makePortableKernel), and with -march=haswell into kappa-worker-haswell.so
// (KAPPA_PARSER_MODULE: only the factory is visible). Nothing here may depend on which.
#include <simdjson.h>

#include <cstring>

#include "runtime/worker/parser_kernel.h"

#define KAPPA_STR2(x) #x
#define KAPPA_STR(x) KAPPA_STR2(x)

namespace kappa::worker {
namespace {

using namespace simdjson;

class Kernel final : public ParserKernel {
 public:
  explicit Kernel(const std::vector<std::string>& fields) : fields_(fields) {
    buffer_.reserve(4096);
  }

  // The instruction set this translation unit was compiled for (haswell, westmere, fallback).
  const char* name() const override { return KAPPA_STR(SIMDJSON_BUILTIN_IMPLEMENTATION); }

  std::string_view parse(const char* data, size_t size, FieldValue* values) override {
    const size_t nfields = fields_.size();
    for (size_t i = 0; i < nfields; ++i) values[i].kind = FieldValue::Kind::kMissing;
    if (size == 0) return "empty event";
    if (buffer_.size() < size + SIMDJSON_PADDING) buffer_.resize(size + SIMDJSON_PADDING);
    std::memcpy(buffer_.data(), data, size);
    std::memset(buffer_.data() + size, 0, SIMDJSON_PADDING);

    ondemand::document doc;
    if (parser_.iterate(buffer_.data(), size, buffer_.size()).get(doc)) return "bad JSON";
    ondemand::object obj;
    if (doc.get_object().get(obj)) {
      size_t i = 0;
      while (i < size && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r'))
        ++i;
      // A JSON value of another type is "not an object"; anything else is not JSON at all.
      char c = i < size ? data[i] : '\0';
      bool otherJson = c == '[' || c == '"' || c == '-' || (c >= '0' && c <= '9') || c == 't' ||
                       c == 'f' || c == 'n';
      return otherJson ? "bad JSON: not an object" : "bad JSON";
    }
    for (auto f : obj) {
      std::string_view key;
      if (f.unescaped_key().get(key)) return "bad JSON: bad key";
      size_t idx = 0;
      while (idx < nfields && fields_[idx] != key) ++idx;
      ondemand::value v = f.value();
      if (idx == nfields) continue;  // not needed: the parser skips it
      FieldValue& out = values[idx];
      ondemand::json_type t;
      if (v.type().get(t)) return "bad JSON";
      switch (t) {
        case ondemand::json_type::string:
          if (v.get_string().get(out.text)) return "bad JSON: bad string";
          out.kind = FieldValue::Kind::kString;
          break;
        case ondemand::json_type::number: {
          ondemand::number n;
          if (v.get_number().get(n)) return "bad JSON: bad number";
          out.kind = FieldValue::Kind::kNumber;
          if (n.is_int64()) {
            out.isInteger = true;
            out.integer = n.get_int64();
            out.number = static_cast<double>(out.integer);
          } else {
            out.isInteger = false;
            out.number = n.as_double();
          }
          break;
        }
        case ondemand::json_type::boolean:
          if (v.get_bool().get(out.boolean)) return "bad JSON: bad boolean";
          out.kind = FieldValue::Kind::kBool;
          break;
        case ondemand::json_type::null:
          if (v.is_null().error()) return "bad JSON";
          out.kind = FieldValue::Kind::kNull;
          break;
        default:
          out.kind = FieldValue::Kind::kOther;  // object or array; skipped by the parser
      }
    }
    return {};
  }

 private:
  const std::vector<std::string> fields_;
  ondemand::parser parser_;
  std::string buffer_;  // event bytes + simdjson padding
};

}  // namespace

#ifdef KAPPA_PARSER_MODULE
extern "C" __attribute__((visibility("default"))) ParserKernel* kappa_parser_kernel_create(
    const std::vector<std::string>* fields) {
  return new Kernel(*fields);
}
#else
std::unique_ptr<ParserKernel> makePortableKernel(const std::vector<std::string>& fields) {
  return std::make_unique<Kernel>(fields);
}
#endif

}  // namespace kappa::worker
