// The PipelineVersion object (kappa.io/v1alpha1, as the apiserver returns it) and the serving
// alias ConfigMap, converted to and from the value types of the state machine. Times are
// written as RFC 3339 with microseconds, and the driver rounds its clock to microseconds, so
// a status survives a write and a read unchanged (a converged object stays converged).
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "controllers/pipelineversion/actions.h"
#include "controllers/pipelineversion/ports.h"
#include "controllers/pipelineversion/types.h"
#include "runtime/core/result.h"
#include "runtime/kube/kube_api.h"

namespace kappa::controllers {

using Json = nlohmann::json;

inline constexpr const char* kApiVersion = "kappa.io/v1alpha1";
inline constexpr const char* kKind = "PipelineVersion";

// RFC 3339 ("2024-05-01T12:00:00Z", optional fraction, "Z" or an offset).
using kube::parseTime;
std::string formatTimeRfc3339(TimePoint t);  // always 6 fractional digits
TimePoint roundToMicros(TimePoint t);

ObjectMeta metaFromJson(const Json& obj);
Result<Spec> specFromJson(const Json& spec);
Status statusFromJson(const Json& status);
Json statusToJson(const Status& status);

// Another version of the pipeline, as decide() needs to see it.
OtherVersion otherFromJson(const Json& obj);

// The cache entry of a PipelineVersion (see CachedVersion), and what the informer needs of
// it: its "namespace/name" key and resourceVersion.
CachedVersion cachedVersionFromJson(const Json& obj);
std::string keyOf(const CachedVersion& v);
const std::string& resourceVersionOf(const CachedVersion& v);

// The alias ConfigMap's data.
ServingAlias aliasFromJson(const Json& configMap);
// The ConfigMap the flip writes. Its data.flips holds the flip and the `earlier` ones (the
// alias's flips as observed), newest first, kAliasFlipsKept in all.
Json aliasToJson(const std::string& ns, const FlipAlias& flip,
                 const std::vector<AliasFlip>& earlier);

// The PipelineVersion a cascade creates in `ns`, from the serving version `serving` (the
// object as read): its spec, with the action's version, the default output topic and the
// action's comparison policy; labels and an annotation naming the flip upstream.
Json cascadedVersionToJson(const std::string& ns, const Json& serving,
                           const CreateCascadedVersion& a);

// processor.builtin as the program text kappa-worker reads (KAPPA_PROGRAM), or the container.
std::string builtinProgram(const Json& spec);
std::optional<ContainerProcessor> containerProcessor(const Json& spec);

}  // namespace kappa::controllers
