// Fuzzes the program parser: any text is either a valid program or an error naming a field.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "runtime/worker/engine.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto p = kappa::worker::parseProgram(text);
  if (p.ok()) {
    // A valid program must be usable: build the parser and engine, feed one event.
    kappa::worker::EventParser parser(*p);
    kappa::worker::Engine engine(*p);
    std::string ev = R"({"user_id":"u","timestamp_ms":1,"price":1,"event_type":"view"})";
    (void)parser.parse(ev.data(), ev.size());
  } else if (p.error().message.empty()) {
    std::abort();  // every rejection says why
  }
  return 0;
}
