// RdKafkaConnector: the production KafkaConnector. One RdKafkaAdmin (and one output
// comparator) per set of bootstrap servers and credentials, created on first use and kept:
// a PipelineVersion names its cluster, and most of them share one. Rotated credentials make
// a new entry. librdkafka keeps an object for every topic a client has named until the
// client is destroyed (about 2.4 KB each, three new topics a cutover), so an admin that has
// named maxTopicsPerAdmin topics is replaced by a new one; passes under way keep the old one
// until they end.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "controllers/pipelineversion/ports.h"
#include "runtime/kafka/rdkafka_admin.h"

namespace kappa::controllers {

class RdKafkaConnector final : public KafkaConnector {
 public:
  explicit RdKafkaConnector(kafka::KafkaClientConfig base = {}, size_t maxTopicsPerAdmin = 500)
      : base_(std::move(base)), maxTopicsPerAdmin_(maxTopicsPerAdmin) {}
  Result<KafkaClients> connect(const KafkaSpec& kafka,
                               const std::map<std::string, std::string>& credentials) override;

 private:
  struct Entry {
    std::shared_ptr<kafka::RdKafkaAdmin> admin;
    std::shared_ptr<kafka::OutputComparator> comparator;
  };
  kafka::KafkaClientConfig base_;
  size_t maxTopicsPerAdmin_;
  std::mutex mu_;
  std::map<std::string, Entry> clients_;
};

}  // namespace kappa::controllers
