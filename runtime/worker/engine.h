// The worker's processing engine: filter -> key -> window -> aggregate for one event at a
// time, per source partition. Pure (no Kafka, no clock): the output is a function of the
// sequence of (partition, offset, event) it is fed, which is what makes replay and live
// agree and a restarted worker produce exactly what an uninterrupted one would.
//
// Semantics
// - Every accepted event emits the new value of the window (or running aggregate) it
//   changed; a session merge first emits tombstones for the windows it absorbed.
// - The watermark of a partition is the largest event time accepted so far. An event is
//   dropped as late when its window closed more than allowedLateness before the watermark;
//   a closed window never changes again (so forgetting it is invisible).
// - Each record carries the source offset it reflects and the watermark after it, so the
//   state of a partition can be rebuilt exactly from its output records (restore()).
// - Emit mode onClose (Window::Emit::kClose): the output gets one record per window, its final
//   value, when the watermark passes the window's end plus the allowed lateness; windows
//   close in (end, key, start) order. The open windows go to the state changelog instead
//   (Emitter::emitState), from which restore() rebuilds them: flushState() writes each window
//   changed since the last flush once, with its latest value, or a tombstone when it closed
//   or a session absorbed it. The output is a function of the input; the changelog's records
//   also depend on when flushState() is called, its latest record per key does not.
// - A pass-through program (Program::select) emits one record of the selected fields per
//   accepted event. With dedup, an event whose id was accepted at an event time within the
//   horizon before the partition's watermark is dropped (Outcome::kDuplicate); the ids are
//   rebuilt from the output records, which carry them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <vector>

#include <absl/container/btree_set.h>
#include <absl/container/flat_hash_map.h>
#include <absl/container/flat_hash_set.h>
#include <absl/container/inlined_vector.h>
#include <simdjson.h>

#include "runtime/core/result.h"
#include "runtime/worker/event_parser.h"
#include "runtime/worker/program.h"

namespace kappa::worker {

class Emitter {
 public:
  virtual ~Emitter() = default;
  // `value` is null for a tombstone. Views are valid only during the call.
  virtual void emit(int32_t partition, std::string_view key, const std::string* value,
                    int64_t sourceOffset, int64_t watermark) = 0;
  // Emit mode onClose only: a record of the state changelog (an open window's value, or a
  // tombstone when it closed or was absorbed), under the key its output record has.
  virtual void emitState(int32_t partition, std::string_view key, const std::string* value,
                         int64_t sourceOffset, int64_t watermark) = 0;
};

enum class Outcome { kEmitted, kFiltered, kLate, kInvalid, kDuplicate };

struct ProcessResult {
  Outcome outcome;
  std::string_view error;  // kInvalid: why (static storage)
};

class Engine {
 public:
  explicit Engine(const Program& program);

  ProcessResult process(int32_t partition, int64_t offset, const EventParser& event, Emitter& out);

  // Rebuilds state from one output record of the partition (records fed in log order); for
  // an onClose program, from one record of the state changelog.
  Result<void> restore(int32_t partition, std::string_view recordKey,
                       std::optional<std::string_view> value, std::optional<int64_t> watermark);
  // Raises the partition's watermark to one read back from the output: for a reader that
  // passes restore() no watermark and reads the header only from a partition's last record
  // (the watermark only grows along a partition's output).
  void restoreWatermark(int32_t partition, int64_t watermark);
  void dropPartition(int32_t partition);
  // onClose: writes to the state changelog (Emitter::emitState) the windows changed since the
  // last call, each once with its latest value, or a tombstone for one that closed or that a
  // session absorbed. A worker calls it before each transaction commits, so that the
  // changelog then holds the open windows as of the committed source offsets.
  void flushState(Emitter& out);

  std::optional<int64_t> watermark(int32_t partition) const;
  size_t stateEntries() const;
  uint64_t lateDropped() const { return lateDropped_; }

 private:
  // One value per aggregate, held in the table slot for up to four aggregates.
  using Values = absl::InlinedVector<double, 4>;
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const;
  };
  struct Span {
    int64_t start = 0;
    int64_t end = 0;  // tumbling: start + size; session: last event + gap
    Values values;
  };
  using WindowList = std::vector<Span>;
  // An open window of an onClose program: (end, key, start), the order windows close in.
  using Closing = std::tuple<int64_t, std::string, int64_t>;
  struct PartitionState {
    int64_t watermark = INT64_MIN;
    absl::flat_hash_map<std::string, Values, Hash, std::equal_to<>> running;
    absl::flat_hash_map<std::string, WindowList, Hash, std::equal_to<>> windows;
    // dedup: id -> event time of the accepted event that carried it last
    absl::flat_hash_map<std::string, int64_t, Hash, std::equal_to<>> seen;
    absl::btree_set<Closing> closing;  // onClose: every open window
    // onClose: the windows (key, start) changed or gone since the last flushState(), and the
    // source offset of the last event that changed one.
    absl::flat_hash_set<std::pair<std::string, int64_t>> dirty;
    int64_t lastOffset = -1;
    uint64_t sinceSweep = 0;
  };

  bool passesFilter(const EventParser& e) const;
  // process() for a pass-through program, after the key, the timestamp and the filter.
  ProcessResult passThrough(PartitionState& ps, int32_t partition, int64_t offset,
                            std::string_view key, bool hasTs, int64_t ts, const EventParser& e,
                            Emitter& out);
  // restore() for a pass-through program: the id and event time of a deduplicated record.
  Result<void> restoreSeen(PartitionState& ps, std::string_view value);
  // Whether an id accepted at `at` still counts at `watermark` (dedup's horizon).
  bool withinHorizon(int64_t at, int64_t watermark) const;
  std::string_view checkAggregateTypes(const EventParser& e) const;
  // The steps of process() after validation for a windowed program: each adds the event to
  // its window of the key and emits what changed; false (and nothing changed) if it is late.
  bool addToTumbling(PartitionState& ps, int32_t partition, int64_t offset, std::string_view key,
                     int64_t ts, const EventParser& e, Emitter& out);
  bool addToSession(PartitionState& ps, int32_t partition, int64_t offset, std::string_view key,
                    int64_t ts, const EventParser& e, Emitter& out);
  // Whether session `s` overlaps `w` and was still open at `watermark`.
  bool overlapsOpen(const Span& s, const Span& w, int64_t watermark) const;
  // Emits the new value of window `w` of `key` under the window's record key; for an onClose
  // program, marks it for the changelog instead (flushState()).
  void emitWindow(PartitionState& ps, Emitter& out, int32_t partition, std::string_view key,
                  const Span& w, int64_t offset);
  // onClose: writes the final record of every window the watermark has closed, in (end, key,
  // start) order, and forgets them; `offset` is the event that moved the watermark.
  void closeWindows(PartitionState& ps, int32_t partition, int64_t offset, Emitter& out);
  // onClose: (un)registers an open window in PartitionState::closing.
  void track(PartitionState& ps, std::string_view key, const Span& w);
  void untrack(PartitionState& ps, std::string_view key, const Span& w);
  // The restore() of a tombstone: forgets the key (or window) the record key names.
  Result<void> restoreTombstone(PartitionState& ps, std::string_view recordKey);
  // An output record read back by restore(), opened as a JSON object that lives in
  // restoreDoc_; false: not a JSON object.
  bool openRecord(std::string_view value, simdjson::ondemand::object& obj);
  // Reads an output record's value into restoreKey_, `values` and the window bounds.
  Result<void> parseRecord(std::string_view value, Values& values, std::optional<int64_t>& start,
                           std::optional<int64_t>& end);
  void initValues(Values& v) const;
  void apply(Values& v, const EventParser& e) const;
  void merge(Values& into, const Values& from) const;
  bool closed(const Span& w, int64_t watermark) const;
  void sweep(PartitionState& ps);
  const std::string& formatValue(std::string_view key, const Span* w, const Values& values);
  std::string_view windowKey(std::string_view key, int64_t start);

  const Program& program_;
  const bool onClose_;
  std::vector<std::string> escapedNames_;  // "\"name\":"
  std::vector<std::string> selectNames_;   // "\"as\":" of each selected field
  std::string idBuf_;
  std::unordered_map<int32_t, PartitionState> parts_;
  std::string valueBuf_;
  std::string keyBuf_;
  simdjson::ondemand::parser restoreParser_;  // output records read back by restore()
  simdjson::ondemand::document restoreDoc_;
  std::string restoreBuf_;  // a record's value + simdjson padding
  std::string restoreKey_;
  uint64_t lateDropped_ = 0;
};

// Appends `s` as a JSON string literal.
void appendJsonString(std::string& out, std::string_view s);
// Appends a number deterministically: integers without a fraction, others in the shortest
// form that reads back to the same double; NaN (unset min/max) as null.
void appendJsonNumber(std::string& out, double v);

}  // namespace kappa::worker
