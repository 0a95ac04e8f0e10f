// The rules by which a reader follows the serving alias, free of I/O so that every case is
// unit-tested: when a new version's view may replace the current one, and which records of a
// new topic a consumer delivers after a switch.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>

namespace kappa::serve {

// Per source partition, the last source offset reflected (kappa-src-offset of the last
// record applied or delivered from that partition).
using SourcePositions = std::map<int32_t, int64_t>;

// True when `candidate` reflects at least `current` on every partition `current` has.
bool covers(const SourcePositions& candidate, const SourcePositions& current);

struct SwapInputs {
  SourcePositions current;              // the answering view's position
  SourcePositions candidate;            // the new view's
  bool candidateAtEnd = false;          // the new view has read its topic to the end it found
  bool headers = true;                  // every record both views read carried its position
  std::chrono::milliseconds waited{0};  // since the new view reached its end
  std::chrono::milliseconds alignTimeout{60000};
};

enum class SwapDecision {
  Wait,           // keep answering from the current view
  Swap,           // aligned (or no positions to align on)
  SwapUnaligned,  // the alignment did not come within alignTimeout
};

SwapDecision decideSwap(const SwapInputs& in);

// Which records of the topic a consumer switched to it delivers: those after the source
// position it delivered last on their partition. Without a position (no headers), nothing
// can be placed.
class SwitchCursor {
 public:
  // The positions delivered so far, from the old topic.
  explicit SwitchCursor(SourcePositions delivered) : delivered_(std::move(delivered)) {}
  // A record of the new topic: true to deliver it. Records of a partition keep their order,
  // so once one is past the delivered position, every later one of the partition is too.
  bool deliver(int32_t sourcePartition, int64_t sourceOffset) const {
    auto it = delivered_.find(sourcePartition);
    return it == delivered_.end() || sourceOffset > it->second;
  }

 private:
  SourcePositions delivered_;
};

}  // namespace kappa::serve
