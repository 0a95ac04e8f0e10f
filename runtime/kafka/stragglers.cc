#include "runtime/kafka/stragglers.h"

#include <algorithm>
#include <map>

namespace kappa::kafka {
namespace {

// The median of `sorted` (ascending, at least two values) without the one at index `skip`:
// one sort for every partition's peers instead of one per partition.
double medianWithout(const std::vector<double>& sorted, size_t skip) {
  size_t n = sorted.size() - 1;  // values left
  auto at = [&](size_t k) { return sorted[k < skip ? k : k + 1]; };
  return n % 2 == 1 ? at(n / 2) : (at(n / 2 - 1) + at(n / 2)) / 2;
}

}  // namespace

void ProgressWindow::add(const LagSnapshot& snap) {
  if (!samples_.empty() && snap.sampledAt <= samples_.back().at) samples_.clear();
  Sample sample{snap.sampledAt, {}};
  sample.partitions.reserve(snap.partitions.size());
  for (const PartitionLag& p : snap.partitions)
    sample.partitions.push_back(Position{p.partition, effectivePosition(p), p.lag});
  samples_.push_back(std::move(sample));
  // Keep the newest sample at or before the window's start, and everything after it.
  WallTime start = snap.sampledAt - rule_.window;
  while (samples_.size() >= 2 && samples_[1].at <= start) samples_.pop_front();
}

std::optional<std::vector<Straggler>> ProgressWindow::stragglers() const {
  if (samples_.size() < 3) return std::nullopt;
  const Sample& first = samples_.front();
  const Sample& last = samples_.back();
  std::chrono::duration<double> span = last.at - first.at;
  if (last.at - first.at < rule_.window || span.count() <= 0) return std::nullopt;

  // Partitions behind in every sample of the window, with their rate over it.
  struct Lagging {
    int64_t lag = 0;
    double rate = 0;
  };
  std::map<int32_t, int64_t> from;
  for (const Position& p : first.partitions) from[p.partition] = p.position;
  std::map<int32_t, int> behind;  // samples in which the partition had lag > 0
  for (const Sample& s : samples_) {
    for (const Position& p : s.partitions) {
      if (p.lag > 0) ++behind[p.partition];
    }
  }
  std::map<int32_t, Lagging> lagging;
  for (const Position& p : last.partitions) {
    auto f = from.find(p.partition);
    auto b = behind.find(p.partition);
    if (f == from.end() || b == behind.end() || b->second != static_cast<int>(samples_.size()))
      continue;
    int64_t read = std::max<int64_t>(p.position - f->second, 0);
    lagging[p.partition] = Lagging{p.lag, static_cast<double>(read) / span.count()};
  }
  std::vector<Straggler> out;
  if (lagging.size() < 2) return out;
  std::vector<double> rates;
  rates.reserve(lagging.size());
  for (const auto& [partition, l] : lagging) rates.push_back(l.rate);
  std::sort(rates.begin(), rates.end());
  for (const auto& [partition, l] : lagging) {
    // Equal rates are interchangeable: leaving out any one of them leaves the same values.
    size_t self =
        static_cast<size_t>(std::lower_bound(rates.begin(), rates.end(), l.rate) - rates.begin());
    double peer = medianWithout(rates, self);
    if (peer >= rule_.minPeerRate && l.rate < rule_.slowRatio * peer)
      out.push_back(Straggler{partition, l.lag, l.rate, peer});
  }
  return out;
}

std::ostream& operator<<(std::ostream& os, const Straggler& s) {
  return os << "{partition " << s.partition << ", lag " << s.lag << ", " << s.messagesPerSecond
            << "/s, peers " << s.peerMessagesPerSecond << "/s}";
}

}  // namespace kappa::kafka
