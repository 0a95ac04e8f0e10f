// RdKafkaConnector: the production KafkaConnector. One RdKafkaAdmin (and one output
// comparator) per set of bootstrap servers and credentials, created on first use and kept
// for the life of the process: a PipelineVersion names its cluster, and most of them share
// one. Rotated credentials make a new entry.
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
  Result<KafkaClients> connect(const KafkaSpec& kafka,
                               const std::map<std::string, std::string>& credentials) override;

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
