// The key sample two outputs are compared on. A key's sample hash is the 64-bit XXH3 of its
// bytes: the same for every version of a pipeline, every restart and every replica.
//  - The comparator (output_comparator.h) takes the k keys with the smallest hashes.
//  - kappa-worker's sample tap writes the records of the keys whose hash is at most
//    UINT64_MAX / rate (about one key in `rate`) to a tap topic beside its output.
// The tap thus holds the smallest hashes of all: as long as it holds at least k keys, the k
// smallest of the tap are the k smallest of the whole output, and comparing two taps finds
// what comparing the two outputs would.
#pragma once

#include <xxhash.h>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <string>

namespace kappa::kafka {

inline uint64_t sampleHash(const void* key, size_t len) { return XXH3_64bits(key, len); }

// Whether a key of this hash is in a tap of 1/rate (rate 0 or 1: every key).
inline bool inTap(uint64_t hash, uint32_t rate) {
  return rate <= 1 || hash <= std::numeric_limits<uint64_t>::max() / rate;
}

// A tap topic's config, from its output's: compacted, whatever the output keeps, since a
// comparison needs only each key's latest record (a deleting retention would only lose
// keys); in 1 MiB segments, the smallest the broker accepts, because the cleaner cleans only
// closed segments. The tap then holds about one record per tapped key while the replay
// writes, and a comparison reads about as much at 40M source events as at 10M.
using TopicConfig = std::map<std::string, std::string>;
inline TopicConfig tapTopicConfig(TopicConfig output) {
  output["cleanup.policy"] = "compact";
  output["segment.bytes"] = "1048576";
  return output;
}

// A state changelog's config (an onClose program's open windows), for the same reasons: a
// restore needs each window's latest record only, and reads what the cleaner has not yet
// compacted.
inline TopicConfig changelogTopicConfig(TopicConfig output) { return tapTopicConfig(output); }

}  // namespace kappa::kafka
