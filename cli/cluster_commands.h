// The cluster-side kubectl-kappa commands: status of a pipeline's versions, and the manual
// gates (promote, abort, rollback) which set the annotations the operator acts on.
#pragma once

#include <string>

#include "runtime/kube/kube_api.h"

namespace kappa::cli {

struct ClusterOptions {
  std::string kubeconfig;  // empty: $KUBECONFIG, ~/.kube/config, then in-cluster
  std::string ns;          // empty: the kubeconfig context's namespace
  bool json = false;
};

// Each returns the process exit code (0 ok, 2 usage or connection/API error).
int runStatus(const ClusterOptions& o, const std::string& pipeline, bool watch);
int runAnnotate(const ClusterOptions& o, const std::string& name, const std::string& gate);
int runRollback(const ClusterOptions& o, const std::string& pipeline);
int runHistory(const ClusterOptions& o, const std::string& pipeline);
int runPipelines(const ClusterOptions& o);

// Pure: the versions of PIPELINE's story across cascades (`all`: every PipelineVersion of the
// namespace): its own; up the chain, the upstream version whose flip made each cascaded one;
// down the chain, the versions cascades made from flips of a pipeline in the story.
std::vector<kube::Json> cascadeStory(const std::vector<kube::Json>& all,
                                     const std::string& pipeline);
// Pure: the timeline, every version's status.history merged in time order, as JSON entries
// (with "pipeline", "version" and "name" fields; a version a cascade made also gets an entry
// for its creation, which names the upstream flip) or as the table `history` prints (with a
// PIPELINE column when the entries span several pipelines).
kube::Json mergeHistory(const std::vector<kube::Json>& versions);
std::string renderHistory(const std::string& pipeline, const kube::Json& entries);

// Pure: the namespace's pipelines as a DAG, each tier after the one it reads: its serving
// version, what it reads (a topic, or a pipeline and the version of it the serving version
// reads), and the candidates in flight (a cascade says which upstream version made it).
// `versions` are PipelineVersion objects, `aliases` the <pipeline>-serving ConfigMaps.
kube::Json pipelineGraph(const std::vector<kube::Json>& versions,
                         const std::vector<kube::Json>& aliases);
std::string renderPipelines(const kube::Json& graph);

// Pure: renders the status table of one pipeline (used by status and tested directly).
// `versions` are PipelineVersion objects; `alias` the <pipeline>-serving ConfigMap or null.
std::string renderStatus(const std::string& pipeline, const std::vector<kube::Json>& versions,
                         const kube::Json& alias, std::chrono::system_clock::time_point now);

}  // namespace kappa::cli
