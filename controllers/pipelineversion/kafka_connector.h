// RdKafkaConnector: the production KafkaConnector. One RdKafkaAdmin (and one output
// comparator) per set of bootstrap servers, created on first use and kept for the life of
// the process: a PipelineVersion names its cluster, and most of them share one.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "controllers/pipelineversion/ports.h"

namespace kappa::controllers {

class RdKafkaConnector final : public KafkaConnector {
 public:
  explicit RdKafkaConnector(kafka::KafkaClientConfig base = {}) : base_(std::move(base)) {}
  Result<KafkaClients> connect(const KafkaSpec& kafka) override;

 private:
  struct Entry {
    std::unique_ptr<kafka::KafkaAdmin> admin;
    std::shared_ptr<kafka::OutputComparator> comparator;
  };
  kafka::KafkaClientConfig base_;
  std::mutex mu_;
  std::map<std::string, Entry> clients_;
};

}  // namespace kappa::controllers
