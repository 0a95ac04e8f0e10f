// The JSON kernel of the event parser, compiled once per instruction set.
//
// simdjson's on-demand parser is compiled for one instruction set: the one of the
// translation unit that includes it. kappa-worker therefore carries the portable kernel
// (parser_kernel.cc built for any x86-64) and loads the Haswell one (the same file built
// with -march=haswell into kappa-worker-haswell.so, every symbol hidden but its factory)
// only on a CPU that has AVX2, BMI1, BMI2 and PCLMULQDQ. One binary, one image, any node.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

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

class ParserKernel {
 public:
  virtual ~ParserKernel() = default;
  // Parses one event, filling out[i] for fields[i] (every entry reset first). Returns an
  // empty string_view on success, else a short reason (static storage).
  virtual std::string_view parse(const char* data, size_t size, FieldValue* out) = 0;
  virtual const char* name() const = 0;
};

// The portable kernel, built into every binary.
std::unique_ptr<ParserKernel> makePortableKernel(const std::vector<std::string>& fields);

// The kernel for this CPU. choice: "auto" (Haswell when the CPU and the module allow,
// else portable), "portable", or "haswell" (an error when it cannot be loaded). *why says
// what was chosen and, for auto, why. nullptr (and *why) only for an impossible choice.
std::unique_ptr<ParserKernel> makeKernel(const std::vector<std::string>& fields,
                                         std::string_view choice, std::string* why);

// The factory kappa-worker-haswell.so exports (C linkage, looked up with dlsym).
using ParserKernelFactory = ParserKernel* (*)(const std::vector<std::string>* fields);
inline constexpr const char* kKernelFactorySymbol = "kappa_parser_kernel_create";

}  // namespace kappa::worker
