#include "runtime/kafka/lag_monitor.h"

#include <algorithm>
#include <cmath>

namespace kappa::kafka {

LagSnapshot computeLag(const PartitionOffsets& earliest, const PartitionOffsets& end,
                       const PartitionOffsets& committed, WallTime at) {
  LagSnapshot s;
  s.sampledAt = at;
  for (const auto& [p, endOffset] : end) {
    PartitionLag pl;
    pl.partition = p;
    pl.end = endOffset;
    auto e = earliest.find(p);
    pl.earliest = e == earliest.end() ? 0 : e->second;
    auto c = committed.find(p);
    if (c != committed.end()) {
      pl.committed = c->second;
      s.committedAny = true;
    }
    int64_t position = std::max(pl.committed.value_or(pl.earliest), pl.earliest);
    pl.offsetLag = std::max<int64_t>(0, endOffset - position);
    pl.lag = pl.offsetLag;
    s.consumed += std::max<int64_t>(0, std::min(position, endOffset) - pl.earliest);
    s.partitions.push_back(pl);
  }
  for (const auto& pl : s.partitions) {
    s.totalLag += pl.lag;
    if (pl.lag > 0) ++s.laggingPartitions;
  }
  return s;
}

int64_t effectivePosition(const PartitionLag& p) {
  if (p.lag == 0) return p.end;
  return std::max(p.committed.value_or(p.earliest), p.earliest);
}

void EndOffsetHistory::add(WallTime at, const PartitionOffsets& end) {
  if (!observations_.empty() && at <= observations_.back().at) observations_.clear();
  Observation o{at, {}};
  int32_t top = end.empty() ? -1 : end.rbegin()->first;
  o.end.assign(static_cast<size_t>(std::max(top + 1, 0)), -1);
  for (const auto& [p, offset] : end) {
    if (p >= 0) o.end[static_cast<size_t>(p)] = offset;
  }
  observations_.push_back(std::move(o));
  if (observations_.size() <= capacity_) return;
  // Thin the older half: keep its even entries (the oldest one among them).
  size_t older = observations_.size() / 2;
  std::deque<Observation> kept;
  for (size_t i = 0; i < observations_.size(); ++i) {
    if (i >= older || i % 2 == 0) kept.push_back(std::move(observations_[i]));
  }
  observations_.swap(kept);
}

std::optional<WallTime> EndOffsetHistory::reached(int32_t partition, int64_t position) const {
  for (auto it = observations_.rbegin(); it != observations_.rend(); ++it) {
    auto p = static_cast<size_t>(partition);
    int64_t end = partition >= 0 && p < it->end.size() ? it->end[p] : -1;
    if (end <= position) return it->at;  // end -1: the partition did not exist yet
  }
  return std::nullopt;
}

std::optional<WallTime> EndOffsetHistory::oldest() const {
  if (observations_.empty()) return std::nullopt;
  return observations_.front().at;
}

void applyLagSeconds(LagSnapshot& snap, const EndOffsetHistory& history,
                     const PartitionOffsets& recordTimestampsMs) {
  using Fp = std::chrono::duration<double>;
  auto since = [&](WallTime t) { return std::max(0.0, Fp(snap.sampledAt - t).count()); };
  snap.lagSeconds = 0;
  snap.lagSecondsObserved = true;
  for (auto& pl : snap.partitions) {
    pl.lagSeconds = 0;
    pl.lagSecondsObserved = true;
    if (pl.lag > 0) {
      if (auto at = history.reached(pl.partition, effectivePosition(pl));
          at && *at <= snap.sampledAt) {
        pl.lagSeconds = since(*at);
      } else {
        // Behind everything observed: at least as old as the oldest observation, and as old
        // as the record it is at says, when that record has a timestamp from the past.
        pl.lagSecondsObserved = false;
        if (auto oldest = history.oldest()) pl.lagSeconds = since(*oldest);
        auto ts = recordTimestampsMs.find(pl.partition);
        if (ts != recordTimestampsMs.end()) {
          pl.lagSeconds =
              std::max(pl.lagSeconds, since(WallTime{} + std::chrono::milliseconds(ts->second)));
        }
      }
    }
    snap.lagSeconds = std::max(snap.lagSeconds, pl.lagSeconds);
    snap.lagSecondsObserved = snap.lagSecondsObserved && pl.lagSecondsObserved;
  }
}

Result<LagSnapshot> LagMonitor::sample(const std::string& group, const std::string& topic,
                                       WallTime now, EndOffsetHistory* history) {
  auto end = admin_.endOffsets(topic);
  if (!end) return end.error();
  auto earliest = admin_.earliestOffsets(topic);
  if (!earliest) return earliest.error();
  auto committed = admin_.committedOffsets(group, topic);
  if (!committed) return committed.error();
  auto snap = computeLag(*earliest, *end, *committed, now);

  OffsetRanges probe;
  for (const auto& pl : snap.partitions) {
    if (pl.offsetLag > 0 && pl.offsetLag <= options_.markerProbeLimit) {
      probe[pl.partition] = {pl.end - pl.offsetLag, pl.end};
    }
  }
  if (!probe.empty()) {
    auto visible = admin_.countVisibleRecords(topic, probe);
    if (!visible) return visible.error();
    snap.totalLag = 0;
    snap.laggingPartitions = 0;
    for (auto& pl : snap.partitions) {
      auto it = visible->find(pl.partition);
      if (it != visible->end()) pl.lag = std::min(pl.offsetLag, it->second);
      snap.totalLag += pl.lag;
      if (pl.lag > 0) ++snap.laggingPartitions;
    }
  }

  static const EndOffsetHistory kNoHistory;
  const EndOffsetHistory& past = history ? *history : kNoHistory;
  applyLagSeconds(snap, past, {});
  // Lagging partitions that reached no observed end: their estimate needs the timestamp of
  // the record they are at.
  PartitionOffsets unresolved;
  for (const auto& pl : snap.partitions) {
    if (!pl.lagSecondsObserved) unresolved[pl.partition] = effectivePosition(pl);
  }
  if (!unresolved.empty() && options_.recordTimestamps) {
    auto ts = admin_.recordTimestamps(topic, unresolved);
    if (!ts) return ts.error();
    applyLagSeconds(snap, past, *ts);
  }
  if (history) history->add(now, *end);
  return snap;
}

bool withinBound(const LagSnapshot& snap, const CatchUpBound& bound) {
  if (!snap.lagSecondsObserved) return false;
  if (snap.lagSeconds > std::chrono::duration<double>(bound.maxLagSeconds).count()) return false;
  return !bound.maxLagMessages || snap.totalLag <= *bound.maxLagMessages;
}

CatchUpState evaluateCatchUp(std::optional<WallTime> withinSince, bool within,
                             std::chrono::seconds stableFor, WallTime now) {
  CatchUpState s;
  s.withinBound = within;
  if (!s.withinBound) return s;  // leaving the bound restarts the stability clock
  s.withinSince = withinSince.value_or(now);
  s.caughtUp = now - *s.withinSince >= stableFor;
  return s;
}

CatchUpState evaluateCatchUp(std::optional<WallTime> withinSince, const LagSnapshot& snap,
                             const CatchUpBound& bound) {
  return evaluateCatchUp(withinSince, withinBound(snap, bound), bound.stableFor, snap.sampledAt);
}

ReplayProgress estimateProgress(const std::optional<LagSnapshot>& previous,
                                const LagSnapshot& current, std::optional<double> previousRate) {
  ReplayProgress r;
  int64_t total = current.consumed + current.totalLag;
  r.percent = total == 0 ? 100.0 : 100.0 * static_cast<double>(current.consumed) / total;
  if (current.totalLag == 0) r.percent = 100.0;

  std::optional<double> rate;
  if (previous) {
    double dt = std::chrono::duration<double>(current.sampledAt - previous->sampledAt).count();
    if (dt > 0) rate = std::max(0.0, (current.consumed - previous->consumed) / dt);
  }
  if (rate && previousRate) rate = 0.5 * *rate + 0.5 * *previousRate;
  if (!rate && previousRate) rate = previousRate;
  // Each sample without progress halves the smoothed rate; below kStalledRate the replay
  // counts as stalled rather than creeping towards zero.
  r.messagesPerSecond = rate.value_or(0) >= kStalledRate ? *rate : 0;
  if (current.totalLag == 0) {
    r.etaSeconds = 0;
  } else if (r.messagesPerSecond > 0) {
    double eta = std::ceil(static_cast<double>(current.totalLag) / r.messagesPerSecond);
    if (eta <= static_cast<double>(kMaxEtaSeconds)) r.etaSeconds = static_cast<int64_t>(eta);
  }
  return r;
}

std::ostream& operator<<(std::ostream& os, const PartitionLag& p) {
  os << "{p" << p.partition << " committed=";
  if (p.committed) {
    os << *p.committed;
  } else {
    os << "none";
  }
  return os << " earliest=" << p.earliest << " end=" << p.end << " offsetLag=" << p.offsetLag
            << " lag=" << p.lag << " seconds=" << p.lagSeconds
            << (p.lagSecondsObserved ? "" : "(estimated)") << "}";
}

std::ostream& operator<<(std::ostream& os, const CatchUpState& s) {
  os << "{withinBound=" << s.withinBound << " caughtUp=" << s.caughtUp << " withinSince=";
  if (s.withinSince) {
    os << std::chrono::duration_cast<std::chrono::milliseconds>(s.withinSince->time_since_epoch())
              .count();
  } else {
    os << "none";
  }
  return os << "}";
}

std::ostream& operator<<(std::ostream& os, const ReplayProgress& p) {
  os << "{percent=" << p.percent << " rate=" << p.messagesPerSecond << " eta=";
  if (p.etaSeconds) {
    os << *p.etaSeconds;
  } else {
    os << "unknown";
  }
  return os << "}";
}

}  // namespace kappa::kafka
