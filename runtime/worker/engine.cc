#include "runtime/worker/engine.h"

#include <xxhash.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>

namespace kappa::worker {
namespace {

constexpr uint64_t kSweepEvery = 1 << 16;
constexpr double kUnset = std::numeric_limits<double>::quiet_NaN();

int64_t floorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

// Validation steps of Engine::process(), each false with `error` set if the event is invalid
// (rather than returning the error, which left a test of it on the per-event path). The
// record key in field `kv` goes to `key`, an integer one formatted into `buf`.
bool readKey(const FieldValue& kv, char (&buf)[24], std::string_view& key,
             std::string_view& error) {
  if (kv.kind == FieldValue::Kind::kString) {
    key = kv.text;
  } else if (kv.kind == FieldValue::Kind::kNumber && kv.isInteger) {
    auto r = std::to_chars(buf, buf + sizeof buf, kv.integer);
    key = std::string_view(buf, r.ptr - buf);
  } else if (kv.kind == FieldValue::Kind::kMissing || kv.kind == FieldValue::Kind::kNull) {
    error = "missing key field";
    return false;
  } else {
    error = "key field is not a string or integer";
    return false;
  }
  return true;
}
// The event time (epoch ms) in field `tv` goes to `ts`.
bool readTimestamp(const FieldValue& tv, int64_t& ts, std::string_view& error) {
  if (tv.kind == FieldValue::Kind::kMissing || tv.kind == FieldValue::Kind::kNull) {
    error = "missing timestamp field";
    return false;
  }
  if (tv.kind != FieldValue::Kind::kNumber || !tv.isInteger) {
    error = "timestamp field is not an integer (epoch ms)";
    return false;
  }
  ts = tv.integer;
  return true;
}

// The first window of `list` (in start order) that starts at or after `start`. (Inline, as
// std::lower_bound itself, for the per-event path.)
template <typename List>
inline auto startingFrom(List& list, int64_t start) {
  return std::lower_bound(list.begin(), list.end(), start,
                          [](const auto& a, int64_t s) { return a.start < s; });
}

// Errors of restore() for an output record this engine did not write.
Error notOurs() {
  return Error{ErrorCode::kInvalidArgument, "output record is not a worker record"};
}
Error noBounds() {
  return Error{ErrorCode::kInvalidArgument, "windowed output record without window bounds"};
}

}  // namespace

size_t Engine::Hash::operator()(std::string_view s) const {
  return static_cast<size_t>(XXH3_64bits(s.data(), s.size()));
}

void appendJsonString(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out.push_back(kHex[c >> 4]);
          out.push_back(kHex[c & 15]);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
}

void appendJsonNumber(std::string& out, double v) {
  if (std::isnan(v) || std::isinf(v)) {
    out += "null";
    return;
  }
  char buf[32];
  std::to_chars_result r;
  if (v == std::trunc(v) && std::fabs(v) < 9.0e15) {
    r = std::to_chars(buf, buf + sizeof buf, static_cast<int64_t>(v));
  } else {
    r = std::to_chars(buf, buf + sizeof buf, v);
  }
  out.append(buf, r.ptr);
}

Engine::Engine(const Program& program) : program_(program), onClose_(usesStateChangelog(program)) {
  for (const auto& a : program_.aggregates) {
    std::string n;
    appendJsonString(n, a.name);
    escapedNames_.push_back(n + ":");
  }
  for (const auto& s : program_.select) {
    std::string n;
    appendJsonString(n, s.as);
    selectNames_.push_back(n + ":");
  }
  valueBuf_.reserve(256);
  keyBuf_.reserve(64);
}

bool Engine::passesFilter(const EventParser& e) const {
  for (const auto& c : program_.filter) {
    const auto& v = e.field(c.field);
    bool hit = false;
    switch (c.op) {
      case FilterClause::Op::kEq:
        hit = scalarEquals(v, c.values[0]);
        break;
      case FilterClause::Op::kNe:
        hit = !scalarEquals(v, c.values[0]);
        break;
      case FilterClause::Op::kIn:
        for (const auto& s : c.values) hit = hit || scalarEquals(v, s);
        break;
    }
    if (!hit) return false;
  }
  return true;
}

std::string_view Engine::checkAggregateTypes(const EventParser& e) const {
  for (const auto& a : program_.aggregates) {
    if (a.op == Aggregate::Op::kCount || a.field < 0) continue;
    if (a.where && !scalarEquals(e.field(a.where->field), a.where->equals)) continue;
    auto k = e.field(a.field).kind;
    if (k != FieldValue::Kind::kNumber && k != FieldValue::Kind::kMissing &&
        k != FieldValue::Kind::kNull) {
      return "aggregate field is not a number";
    }
  }
  return {};
}

void Engine::initValues(Values& v) const {
  v.resize(program_.aggregates.size());
  for (size_t i = 0; i < v.size(); ++i) {
    auto op = program_.aggregates[i].op;
    v[i] = (op == Aggregate::Op::kMin || op == Aggregate::Op::kMax) ? kUnset : 0.0;
  }
}

void Engine::apply(Values& v, const EventParser& e) const {
  for (size_t i = 0; i < program_.aggregates.size(); ++i) {
    const auto& a = program_.aggregates[i];
    if (a.where && !scalarEquals(e.field(a.where->field), a.where->equals)) continue;
    if (a.op == Aggregate::Op::kCount) {
      if (a.field >= 0) {
        auto k = e.field(a.field).kind;
        if (k == FieldValue::Kind::kMissing || k == FieldValue::Kind::kNull) continue;
      }
      v[i] += 1;
      continue;
    }
    const auto& f = e.field(a.field);
    if (f.kind != FieldValue::Kind::kNumber) continue;  // missing or null: ignored
    switch (a.op) {
      case Aggregate::Op::kSum:
        v[i] += f.number;
        break;
      case Aggregate::Op::kMin:
        if (std::isnan(v[i]) || f.number < v[i]) v[i] = f.number;
        break;
      case Aggregate::Op::kMax:
        if (std::isnan(v[i]) || f.number > v[i]) v[i] = f.number;
        break;
      case Aggregate::Op::kCount:
        break;
    }
  }
}

void Engine::merge(Values& into, const Values& from) const {
  for (size_t i = 0; i < program_.aggregates.size(); ++i) {
    switch (program_.aggregates[i].op) {
      case Aggregate::Op::kCount:
      case Aggregate::Op::kSum:
        into[i] += from[i];
        break;
      case Aggregate::Op::kMin:
        if (!std::isnan(from[i]) && (std::isnan(into[i]) || from[i] < into[i])) into[i] = from[i];
        break;
      case Aggregate::Op::kMax:
        if (!std::isnan(from[i]) && (std::isnan(into[i]) || from[i] > into[i])) into[i] = from[i];
        break;
    }
  }
}

bool Engine::closed(const Span& w, int64_t watermark) const {
  return watermark != INT64_MIN && w.end + program_.window.allowedLatenessMs <= watermark;
}

const std::string& Engine::formatValue(std::string_view key, const Span* w, const Values& values) {
  valueBuf_.clear();
  valueBuf_ += "{\"key\":";
  appendJsonString(valueBuf_, key);
  if (w) {
    valueBuf_ += ",\"window_start\":";
    appendJsonNumber(valueBuf_, static_cast<double>(w->start));
    valueBuf_ += ",\"window_end\":";
    appendJsonNumber(valueBuf_, static_cast<double>(w->end));
  }
  for (size_t i = 0; i < values.size(); ++i) {
    valueBuf_.push_back(',');
    valueBuf_ += escapedNames_[i];
    appendJsonNumber(valueBuf_, values[i]);
  }
  valueBuf_.push_back('}');
  return valueBuf_;
}

std::string_view Engine::windowKey(std::string_view key, int64_t start) {
  keyBuf_.assign(key);
  keyBuf_.push_back('@');
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, start);
  keyBuf_.append(buf, r.ptr);
  return keyBuf_;
}

ProcessResult Engine::process(int32_t partition, int64_t offset, const EventParser& e,
                              Emitter& out) {
  // Validate everything before changing anything: an invalid event leaves no trace.
  char intKey[24];
  std::string_view key, error;
  if (!readKey(e.field(program_.keyField), intKey, key, error)) {
    return {Outcome::kInvalid, error};
  }
  int64_t ts = 0;
  const bool hasTs = program_.timestampField >= 0;
  if (hasTs && !readTimestamp(e.field(program_.timestampField), ts, error)) {
    return {Outcome::kInvalid, error};
  }
  if (auto err = checkAggregateTypes(e); !err.empty()) return {Outcome::kInvalid, err};
  if (!passesFilter(e)) return {Outcome::kFiltered, {}};

  PartitionState& ps = parts_[partition];
  if (!program_.select.empty()) return passThrough(ps, partition, offset, key, hasTs, ts, e, out);
  const auto type = program_.window.type;
  if (type == Window::Type::kNone) {
    // The key's running aggregate, here rather than in a step of its own: the commonest
    // program's per-event path, without a call.
    auto it = ps.running.find(key);
    if (it == ps.running.end()) {
      it = ps.running.try_emplace(std::string(key)).first;
      initValues(it->second);
    }
    apply(it->second, e);
    if (hasTs) ps.watermark = std::max(ps.watermark, ts);
    out.emit(partition, key, &formatValue(key, nullptr, it->second), offset, ps.watermark);
    return {Outcome::kEmitted, {}};
  }
  bool accepted = type == Window::Type::kTumbling
                      ? addToTumbling(ps, partition, offset, key, ts, e, out)
                      : addToSession(ps, partition, offset, key, ts, e, out);
  if (!accepted) {
    ++lateDropped_;
    return {Outcome::kLate, {}};
  }
  if (onClose_) {
    closeWindows(ps, partition, offset, out);  // closed windows leave state as they close
  } else if (++ps.sinceSweep >= kSweepEvery) {
    sweep(ps);
  }
  return {Outcome::kEmitted, {}};
}

bool Engine::withinHorizon(int64_t at, int64_t watermark) const {
  // Before any event time (INT64_MIN), every id seen counts; so does any id when the
  // horizon reaches below the smallest time.
  int64_t from = 0;
  if (__builtin_sub_overflow(watermark, program_.dedup->horizonMs, &from)) return true;
  return at >= from;
}

ProcessResult Engine::passThrough(PartitionState& ps, int32_t partition, int64_t offset,
                                  std::string_view key, bool hasTs, int64_t ts,
                                  const EventParser& e, Emitter& out) {
  // The record first: an event that cannot be written leaves no trace.
  valueBuf_.clear();
  valueBuf_.push_back('{');
  for (size_t i = 0; i < program_.select.size(); ++i) {
    const FieldValue& v = e.field(program_.select[i].field);
    if (i) valueBuf_.push_back(',');
    valueBuf_ += selectNames_[i];
    switch (v.kind) {
      case FieldValue::Kind::kString:
        appendJsonString(valueBuf_, v.text);
        break;
      case FieldValue::Kind::kNumber:
        if (v.isInteger) {
          char buf[24];
          auto r = std::to_chars(buf, buf + sizeof buf, v.integer);
          valueBuf_.append(buf, r.ptr);
        } else {
          appendJsonNumber(valueBuf_, v.number);
        }
        break;
      case FieldValue::Kind::kBool:
        valueBuf_ += v.boolean ? "true" : "false";
        break;
      case FieldValue::Kind::kMissing:
      case FieldValue::Kind::kNull:
        valueBuf_ += "null";
        break;
      case FieldValue::Kind::kOther:
        return {Outcome::kInvalid, "selected field is an object or an array"};
    }
  }
  valueBuf_.push_back('}');
  if (program_.dedup) {
    char intId[24];
    std::string_view id, error;
    if (!readKey(e.field(program_.dedup->field), intId, id, error)) {
      return {Outcome::kInvalid, "dedup field is missing, or not a string or integer"};
    }
    auto it = ps.seen.find(id);
    if (it != ps.seen.end() && withinHorizon(it->second, ps.watermark)) {
      return {Outcome::kDuplicate, {}};
    }
    if (it == ps.seen.end()) {
      ps.seen.emplace(std::string(id), ts);
    } else {
      it->second = ts;
    }
  }
  if (hasTs) ps.watermark = std::max(ps.watermark, ts);
  out.emit(partition, key, &valueBuf_, offset, ps.watermark);
  if (program_.dedup && ++ps.sinceSweep >= kSweepEvery) {
    // Memory only: an id past the horizon no longer counts (withinHorizon), kept or not.
    ps.sinceSweep = 0;
    absl::erase_if(ps.seen,
                   [&](const auto& kv) { return !withinHorizon(kv.second, ps.watermark); });
  }
  return {Outcome::kEmitted, {}};
}

bool Engine::addToTumbling(PartitionState& ps, int32_t partition, int64_t offset,
                           std::string_view key, int64_t ts, const EventParser& e, Emitter& out) {
  const auto& w = program_.window;
  int64_t start = floorDiv(ts, w.sizeMs) * w.sizeMs;
  Span probe{start, start + w.sizeMs, {}};
  if (closed(probe, ps.watermark)) return false;
  auto it = ps.windows.find(key);
  if (it == ps.windows.end()) it = ps.windows.emplace(std::string(key), WindowList()).first;
  WindowList& list = it->second;
  auto pos = startingFrom(list, start);
  if (pos == list.end() || pos->start != start) {
    pos = list.insert(pos, Span{start, start + w.sizeMs, {}});
    initValues(pos->values);
    if (onClose_) track(ps, key, *pos);
  }
  apply(pos->values, e);
  ps.watermark = std::max(ps.watermark, ts);
  emitWindow(ps, out, partition, key, *pos, offset);
  return true;
}

bool Engine::addToSession(PartitionState& ps, int32_t partition, int64_t offset,
                          std::string_view key, int64_t ts, const EventParser& e, Emitter& out) {
  // Session: the event opens [ts, ts + gap) and absorbs every open session it overlaps.
  // It is late only when it overlaps no open session and its own window is closed.
  const int64_t before = ps.watermark;
  Span merged{ts, ts + program_.window.gapMs, {}};
  auto it = ps.windows.find(key);
  bool joinsOpen = false;
  if (it != ps.windows.end()) {
    for (const auto& s : it->second) joinsOpen = joinsOpen || overlapsOpen(s, merged, before);
  }
  if (!joinsOpen && closed(merged, before)) return false;
  if (it == ps.windows.end()) it = ps.windows.emplace(std::string(key), WindowList()).first;
  WindowList& list = it->second;
  initValues(merged.values);
  apply(merged.values, e);
  // Absorbed sessions, in start order; closed ones are final and never absorbed. Merging
  // only grows the window, so it may now reach sessions the event alone did not.
  std::vector<int64_t> tombstones;
  for (bool grew = true; grew;) {
    grew = false;
    for (auto s = list.begin(); s != list.end();) {
      if (overlapsOpen(*s, merged, before)) {
        if (onClose_) untrack(ps, key, *s);
        merged.start = std::min(merged.start, s->start);
        merged.end = std::max(merged.end, s->end);
        merge(merged.values, s->values);
        tombstones.push_back(s->start);
        s = list.erase(s);
        grew = true;
      } else {
        ++s;
      }
    }
  }
  std::sort(tombstones.begin(), tombstones.end());
  ps.watermark = std::max(ps.watermark, ts);
  for (int64_t start : tombstones) {
    if (start == merged.start) continue;  // same record key: overwritten below
    if (onClose_) {
      ps.dirty.emplace(key, start);  // gone: a tombstone at the next flushState()
    } else {
      out.emit(partition, windowKey(key, start), nullptr, offset, ps.watermark);
    }
  }
  auto pos = startingFrom(list, merged.start);
  pos = list.insert(pos, std::move(merged));
  if (onClose_) track(ps, key, *pos);
  emitWindow(ps, out, partition, key, *pos, offset);
  return true;
}

bool Engine::overlapsOpen(const Span& s, const Span& w, int64_t watermark) const {
  return s.start < w.end && w.start < s.end && !closed(s, watermark);
}

void Engine::emitWindow(PartitionState& ps, Emitter& out, int32_t partition, std::string_view key,
                        const Span& w, int64_t offset) {
  if (onClose_) {
    // Written to the changelog at the next flushState(): once per transaction however many
    // events change it.
    ps.dirty.emplace(key, w.start);
    ps.lastOffset = offset;
    return;
  }
  auto rk = windowKey(key, w.start);
  out.emit(partition, rk, &formatValue(key, &w, w.values), offset, ps.watermark);
}

void Engine::flushState(Emitter& out) {
  for (auto& [partition, ps] : parts_) {
    if (ps.dirty.empty()) continue;
    // In key order: the changelog of a transaction does not depend on hash-table order.
    std::vector<const std::pair<std::string, int64_t>*> order;
    order.reserve(ps.dirty.size());
    for (const auto& d : ps.dirty) order.push_back(&d);
    std::sort(order.begin(), order.end(), [](const auto* a, const auto* b) { return *a < *b; });
    for (const auto* d : order) {
      const auto& [key, start] = *d;
      const Span* w = nullptr;
      if (auto it = ps.windows.find(key); it != ps.windows.end()) {
        auto pos = startingFrom(it->second, start);
        if (pos != it->second.end() && pos->start == start) w = &*pos;
      }
      auto rk = windowKey(key, start);
      out.emitState(partition, rk, w ? &formatValue(key, w, w->values) : nullptr, ps.lastOffset,
                    ps.watermark);
    }
    ps.dirty.clear();
  }
}

void Engine::closeWindows(PartitionState& ps, int32_t partition, int64_t offset, Emitter& out) {
  while (!ps.closing.empty()) {
    auto first = ps.closing.begin();
    const auto& [end, key, start] = *first;
    if (!closed(Span{start, end, {}}, ps.watermark)) break;
    auto it = ps.windows.find(key);
    if (it != ps.windows.end()) {
      WindowList& list = it->second;
      auto pos = startingFrom(list, start);
      if (pos != list.end() && pos->start == start) {
        // The final value to the output; the window leaves the changelog at the next flush.
        auto rk = windowKey(key, start);
        out.emit(partition, rk, &formatValue(key, &*pos, pos->values), offset, ps.watermark);
        ps.dirty.emplace(key, start);
        list.erase(pos);
        if (list.empty()) ps.windows.erase(it);
      }
    }
    ps.closing.erase(first);
  }
}

void Engine::track(PartitionState& ps, std::string_view key, const Span& w) {
  ps.closing.emplace(w.end, std::string(key), w.start);
}

void Engine::untrack(PartitionState& ps, std::string_view key, const Span& w) {
  ps.closing.erase(Closing{w.end, std::string(key), w.start});
}

void Engine::sweep(PartitionState& ps) {
  ps.sinceSweep = 0;
  for (auto it = ps.windows.begin(); it != ps.windows.end();) {
    auto& list = it->second;
    list.erase(std::remove_if(list.begin(), list.end(),
                              [&](const Span& w) { return closed(w, ps.watermark); }),
               list.end());
    if (list.empty()) {
      ps.windows.erase(it++);  // erasing leaves the other iterators valid
    } else {
      ++it;
    }
  }
}

Result<void> Engine::restore(int32_t partition, std::string_view recordKey,
                             std::optional<std::string_view> value,
                             std::optional<int64_t> watermark) {
  PartitionState& ps = parts_[partition];
  if (watermark) ps.watermark = std::max(ps.watermark, *watermark);
  if (!program_.select.empty()) {
    // A pass-through program keeps no state but dedup's ids; it writes no tombstones.
    return program_.dedup && value ? restoreSeen(ps, *value) : Result<void>{};
  }
  if (!value) return restoreTombstone(ps, recordKey);
  Values values;
  std::optional<int64_t> start, end;
  if (auto r = parseRecord(*value, values, start, end); !r) return r;
  const std::string& key = restoreKey_;
  if (program_.window.type == Window::Type::kNone) {
    ps.running.insert_or_assign(key, std::move(values));
    return {};
  }
  if (!start || !end) return noBounds();
  Span w{*start, *end, std::move(values)};
  auto& list = ps.windows[key];
  auto pos = startingFrom(list, w.start);
  if (pos != list.end() && pos->start == w.start) {
    if (onClose_) untrack(ps, key, *pos);
    *pos = std::move(w);
  } else {
    pos = list.insert(pos, std::move(w));
  }
  if (onClose_) track(ps, key, *pos);
  return {};
}

Result<void> Engine::restoreTombstone(PartitionState& ps, std::string_view recordKey) {
  if (program_.window.type == Window::Type::kNone) {
    ps.running.erase(std::string(recordKey));
    return {};
  }
  auto at = recordKey.rfind('@');
  if (at == std::string_view::npos) return {};
  int64_t start = 0;
  auto digits = recordKey.substr(at + 1);
  if (std::from_chars(digits.data(), digits.data() + digits.size(), start).ec != std::errc()) {
    return Error{ErrorCode::kInvalidArgument, "output record key without window start"};
  }
  auto it = ps.windows.find(recordKey.substr(0, at));
  if (it == ps.windows.end()) return {};
  auto& list = it->second;
  if (onClose_) {
    for (const auto& w : list) {
      if (w.start == start) untrack(ps, it->first, w);
    }
  }
  list.erase(
      std::remove_if(list.begin(), list.end(), [&](const Span& w) { return w.start == start; }),
      list.end());
  if (list.empty()) ps.windows.erase(it);
  return {};
}

bool Engine::openRecord(std::string_view value, simdjson::ondemand::object& obj) {
  if (restoreBuf_.size() < value.size() + simdjson::SIMDJSON_PADDING) {
    restoreBuf_.resize(value.size() + simdjson::SIMDJSON_PADDING);
  }
  std::memcpy(restoreBuf_.data(), value.data(), value.size());
  return !restoreParser_.iterate(restoreBuf_.data(), value.size(), restoreBuf_.size())
              .get(restoreDoc_) &&
         !restoreDoc_.get_object().get(obj);
}

Result<void> Engine::parseRecord(std::string_view value, Values& values,
                                 std::optional<int64_t>& start, std::optional<int64_t>& end) {
  // The value is a record this engine wrote (formatValue): {"key":..., ["window_start":..,
  // "window_end":..,] "<aggregate>":number|null, ...}.
  simdjson::ondemand::object obj;
  if (!openRecord(value, obj)) return notOurs();
  const bool windowed = program_.window.type != Window::Type::kNone;
  const auto& aggs = program_.aggregates;
  initValues(values);
  absl::InlinedVector<bool, 8> seen(aggs.size(), false);
  bool hasKey = false;
  for (auto field : obj) {
    std::string_view name;
    simdjson::ondemand::value v;
    if (field.unescaped_key().get(name) || field.value().get(v)) return notOurs();
    if (name == "key") {
      std::string_view text;
      if (v.get_string().get(text)) return notOurs();
      restoreKey_.assign(text);
      hasKey = true;
    } else if (windowed && (name == "window_start" || name == "window_end")) {
      int64_t bound = 0;
      if (v.get_int64().get(bound)) return noBounds();
      (name == "window_start" ? start : end) = bound;
    } else {
      for (size_t i = 0; i < aggs.size(); ++i) {
        if (aggs[i].name != name) continue;
        seen[i] = true;
        double d = 0;
        if (!v.get_double().get(d)) values[i] = d;  // null (an unset min/max): initial value
        break;
      }
    }
  }
  if (!hasKey) return notOurs();
  for (size_t i = 0; i < aggs.size(); ++i) {
    if (!seen[i]) {
      return Error{ErrorCode::kInvalidArgument,
                   "output record lacks aggregate '" + aggs[i].name +
                       "': was the output written by another program?"};
    }
  }
  return {};
}

Result<void> Engine::restoreSeen(PartitionState& ps, std::string_view value) {
  simdjson::ondemand::object obj;
  if (!openRecord(value, obj)) return notOurs();
  std::optional<int64_t> at;
  bool hasId = false;
  for (auto field : obj) {
    std::string_view name;
    simdjson::ondemand::value v;
    if (field.unescaped_key().get(name) || field.value().get(v)) return notOurs();
    if (name == program_.dedup->idOutput) {
      std::string_view text;
      int64_t n = 0;
      if (!v.get_string().get(text)) {
        idBuf_.assign(text);
      } else if (!v.get_int64().get(n)) {
        char buf[24];
        auto r = std::to_chars(buf, buf + sizeof buf, n);
        idBuf_.assign(buf, r.ptr);
      } else {
        return notOurs();
      }
      hasId = true;
    }
    if (name == program_.dedup->tsOutput) {
      int64_t n = 0;
      if (v.get_int64().get(n)) return notOurs();
      at = n;
    }
  }
  if (!hasId || !at) {
    return Error{ErrorCode::kInvalidArgument,
                 "output record lacks the dedup id '" + program_.dedup->idOutput +
                     "' or the event time '" + program_.dedup->tsOutput +
                     "': was the output written by another program?"};
  }
  ps.seen.insert_or_assign(idBuf_, *at);
  return {};
}

void Engine::restoreWatermark(int32_t partition, int64_t watermark) {
  auto& ps = parts_[partition];
  ps.watermark = std::max(ps.watermark, watermark);
  // A restore reads the whole output: ids past the horizon go as it reads, so that it holds
  // what the live worker holds, not every id ever written (decisions are the same either way).
  if (program_.dedup) {
    absl::erase_if(ps.seen,
                   [&](const auto& kv) { return !withinHorizon(kv.second, ps.watermark); });
  }
}

void Engine::dropPartition(int32_t partition) { parts_.erase(partition); }

std::optional<int64_t> Engine::watermark(int32_t partition) const {
  auto it = parts_.find(partition);
  if (it == parts_.end() || it->second.watermark == INT64_MIN) return std::nullopt;
  return it->second.watermark;
}

size_t Engine::stateEntries() const {
  size_t n = 0;
  for (const auto& [p, ps] : parts_) {
    n += ps.running.size() + ps.seen.size();
    for (const auto& [k, l] : ps.windows) n += l.size();
  }
  return n;
}

}  // namespace kappa::worker
