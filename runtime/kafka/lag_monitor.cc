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

Result<LagSnapshot> LagMonitor::sample(const std::string& group, const std::string& topic,
                                       WallTime now) {
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
  return snap;
}

CatchUpState evaluateCatchUp(std::optional<WallTime> withinSince, int64_t lag, int64_t maxLag,
                             std::chrono::seconds stableFor, WallTime now) {
  CatchUpState s;
  s.withinBound = lag <= maxLag;
  if (!s.withinBound) return s;  // leaving the bound restarts the stability clock
  s.withinSince = withinSince.value_or(now);
  s.caughtUp = now - *s.withinSince >= stableFor;
  return s;
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
            << " lag=" << p.lag << "}";
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
