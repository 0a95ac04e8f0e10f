// Fuzzes what the worker does with every source record: parse an arbitrary payload and run
// it through the engine of a session-window program. Malformed input must come back as an
// error, never a crash, a hang or a sanitizer report.
#include <cstddef>
#include <cstdint>
#include <string>

#include "runtime/worker/engine.h"

using namespace kappa::worker;

namespace {

struct NullEmitter : Emitter {
  size_t n = 0;
  void emit(int32_t, std::string_view key, const std::string* value, int64_t, int64_t) override {
    n += key.size() + (value ? value->size() : 0);
  }
  void emitState(int32_t, std::string_view key, const std::string* value, int64_t,
                 int64_t) override {
    n += key.size() + (value ? value->size() : 0);
  }
};

const Program& program() {
  static const Program p = *parseProgram(R"(
keyField: user_id
timestampField: timestamp_ms
filter: [{field: event_type, op: in, values: [view, add_to_cart, purchase, 1, true]}]
window: {type: session, gapSeconds: 30, allowedLatenessSeconds: 5}
aggregates:
  - {name: views, op: count, where: {field: event_type, equals: view}}
  - {name: revenue, op: sum, field: price}
  - {name: low, op: min, field: price}
  - {name: high, op: max, field: price}
)");
  return p;
}

// The same program emitting on close: windows close, go to the output once, and leave the
// changelog at the flushes.
const Program& onCloseProgram() {
  static const Program p = [] {
    Program q = program();
    q.window.emit = Window::Emit::kClose;
    return q;
  }();
  return p;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static EventParser parser(program());
  static Engine engine(program());
  static NullEmitter out;
  static int64_t offset = 0;
  auto err = parser.parse(reinterpret_cast<const char*>(data), size);
  static Engine onClose(onCloseProgram());
  if (err.empty()) {
    engine.process(static_cast<int32_t>(size % 3), offset, parser, out);
    onClose.process(static_cast<int32_t>(size % 3), offset, parser, out);
    ++offset;
  }
  if (offset % 64 == 0) onClose.flushState(out);
  // Restore must accept or reject any record, never crash.
  std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)engine.restore(7, text, text, static_cast<int64_t>(size));
  (void)onClose.restore(7, text, size % 2 ? std::optional<std::string_view>(text) : std::nullopt,
                        static_cast<int64_t>(size));
  if (offset % 100000 == 0) {
    engine.dropPartition(7);
    onClose.dropPartition(7);
  }
  return 0;
}
