// Decoding of the watch protocol: the apiserver streams one JSON object per line,
// {"type": ADDED|MODIFIED|DELETED|BOOKMARK|ERROR, "object": {...}}.
#pragma once

#include <string_view>

#include "runtime/kube/kube_api.h"

namespace kappa::kube {

// One line of a watch response. An ERROR event becomes an Error mapped from its Status (code
// 410 or reason Expired gives kGone); a line that is not a watch event gives kInternal.
Result<WatchEvent> parseWatchLine(std::string_view line);

}  // namespace kappa::kube
