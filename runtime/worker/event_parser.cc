#include "runtime/worker/event_parser.h"

#include <cstring>

namespace kappa::worker {

using namespace simdjson;

EventParser::EventParser(const Program& program)
    : program_(program), values_(program.fields.size()) {
  buffer_.reserve(4096);
}

std::string_view EventParser::parse(const char* data, size_t size) {
  for (auto& v : values_) v.kind = FieldValue::Kind::kMissing;
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
  const auto nfields = program_.fields.size();
  for (auto f : obj) {
    std::string_view key;
    if (f.unescaped_key().get(key)) return "bad JSON: bad key";
    size_t idx = 0;
    while (idx < nfields && program_.fields[idx] != key) ++idx;
    ondemand::value v = f.value();
    if (idx == nfields) continue;  // not needed: the parser skips it
    FieldValue& out = values_[idx];
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
