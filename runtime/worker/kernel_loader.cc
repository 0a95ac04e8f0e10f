// Picks the event parser's JSON kernel at run time (parser_kernel.h).
#include <dlfcn.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <string>

#include "runtime/worker/parser_kernel.h"

namespace kappa::worker {
namespace {

constexpr const char* kModuleName = "kappa-worker-haswell.so";

// What simdjson's Haswell kernel needs of the CPU.
bool cpuHasHaswellKernel() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi") &&
         __builtin_cpu_supports("bmi2") && __builtin_cpu_supports("pclmul");
#else
  return false;
#endif
}

std::string executableDir() {
  char path[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", path, sizeof path - 1);
  if (n <= 0) return ".";
  std::string p(path, static_cast<size_t>(n));
  auto slash = p.rfind('/');
  return slash == std::string::npos ? "." : p.substr(0, slash);
}

// The module next to the executable, or in ../lib/kappa (an installed layout);
// KAPPA_WORKER_KERNEL_DIR first when set.
std::unique_ptr<ParserKernel> loadHaswell(const std::vector<std::string>& fields,
                                          std::string* why) {
  std::vector<std::string> dirs;
  if (const char* dir = std::getenv("KAPPA_WORKER_KERNEL_DIR"); dir && *dir) dirs.emplace_back(dir);
  std::string exe = executableDir();
  dirs.push_back(exe);
  dirs.push_back(exe + "/../lib/kappa");
  std::string errors;
  for (const auto& dir : dirs) {
    std::string path = dir + "/" + kModuleName;
    if (::access(path.c_str(), R_OK) != 0) continue;
    // Never closed: the kernel's code must outlive every parser made from it.
    void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
      errors += std::string(" ") + ::dlerror();
      continue;
    }
    auto factory = reinterpret_cast<ParserKernelFactory>(::dlsym(handle, kKernelFactorySymbol));
    if (!factory) {
      errors += " " + path + " has no " + kKernelFactorySymbol;
      continue;
    }
    *why = "haswell kernel from " + path;
    return std::unique_ptr<ParserKernel>(factory(&fields));
  }
  *why = std::string(kModuleName) + " not found next to the executable or in ../lib/kappa" +
         (errors.empty() ? "" : ":" + errors);
  return nullptr;
}

}  // namespace

std::unique_ptr<ParserKernel> makeKernel(const std::vector<std::string>& fields,
                                         std::string_view choice, std::string* why) {
  if (choice == "portable") {
    *why = "portable kernel (asked for)";
    return makePortableKernel(fields);
  }
  if (choice == "haswell") {
    if (!cpuHasHaswellKernel()) {
      *why = "the haswell kernel was asked for, but this CPU lacks AVX2/BMI/BMI2/PCLMULQDQ";
      return nullptr;
    }
    return loadHaswell(fields, why);
  }
  if (choice != "auto" && !choice.empty()) {
    *why = "unknown parser kernel '" + std::string(choice) + "' (auto, portable, haswell)";
    return nullptr;
  }
  if (!cpuHasHaswellKernel()) {
    *why = "portable kernel (this CPU lacks AVX2/BMI/BMI2/PCLMULQDQ)";
    return makePortableKernel(fields);
  }
  std::string failed;
  if (auto k = loadHaswell(fields, &failed)) {
    *why = failed;
    return k;
  }
  *why = "portable kernel (" + failed + ")";
  return makePortableKernel(fields);
}

}  // namespace kappa::worker
