// This process's memory, as the benchmarks read it from /proc/self/status.
#pragma once

#include <malloc.h>

#include <fstream>
#include <string>

namespace kappa::bench {

// A field of /proc/self/status in kB ("VmRSS", "VmHWM"); -1 if absent.
inline long statusKb(const std::string& field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::stol(line.substr(field.size() + 1));
  }
  return -1;
}

// The resident set after returning freed heap pages to the OS, so that transient buffers do
// not count, only what is still held.
inline double rssMiB() {
  malloc_trim(0);
  return static_cast<double>(statusKb("VmRSS")) / 1024.0;
}

// Returns freed heap to the system and restarts the peak (VmHWM) from the current RSS, so that
// the next VmHWM reading minus the RSS returned here (kB) is what the work in between added.
inline long resetPeakKb() {
  malloc_trim(0);
  std::ofstream("/proc/self/clear_refs") << "5";
  return statusKb("VmRSS");
}

}  // namespace kappa::bench
