#include "runtime/serve/follow_rules.h"

namespace kappa::serve {

bool covers(const SourcePositions& candidate, const SourcePositions& current) {
  for (const auto& [p, offset] : current) {
    auto it = candidate.find(p);
    if (it == candidate.end() || it->second < offset) return false;
  }
  return true;
}

SwapDecision decideSwap(const SwapInputs& in) {
  // A view is never shown before it has read what its topic held when its read started.
  if (!in.candidateAtEnd) return SwapDecision::Wait;
  if (!in.headers || covers(in.candidate, in.current)) return SwapDecision::Swap;
  return in.waited >= in.alignTimeout ? SwapDecision::SwapUnaligned : SwapDecision::Wait;
}

}  // namespace kappa::serve
