// RdKafkaConnector: the production KafkaConnector. One RdKafkaAdmin (and one output
// comparator) per set of bootstrap servers and credentials, created on first use and kept:
// a PipelineVersion names its cluster, and most of them share one. Rotated credentials make
// a new entry; an entry no pass has used for idleAfter (kIdleEntry) is dropped. librdkafka keeps an
// object for every topic a client has named until the client is destroyed (about 2.4 KB
// each; a cutover names four: the output, its dead-letter topic and tap, and the planned
// state changelog, looked up in Pending whether it exists or not), so an admin that has
// named maxTopicsPerAdmin topics is replaced by a new one; passes under way keep the old one
// until they end.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "controllers/pipelineversion/ports.h"
#include "runtime/kafka/rdkafka_admin.h"

namespace kappa::controllers {

class RdKafkaConnector final : public KafkaConnector {
 public:
  static constexpr std::chrono::minutes kIdleEntry{15};

  explicit RdKafkaConnector(kafka::KafkaClientConfig base = {}, size_t maxTopicsPerAdmin = 64,
                            std::chrono::steady_clock::duration idleAfter = kIdleEntry)
      : base_(std::move(base)), maxTopicsPerAdmin_(maxTopicsPerAdmin), idleAfter_(idleAfter) {}
  Result<KafkaClients> connect(const KafkaSpec& kafka,
                               const std::map<std::string, std::string>& credentials) override;

 private:
  struct Entry {
    std::shared_ptr<kafka::RdKafkaAdmin> admin;
    std::shared_ptr<kafka::OutputComparator> comparator;
    std::chrono::steady_clock::time_point lastUsed;
  };
  kafka::KafkaClientConfig base_;
  size_t maxTopicsPerAdmin_;
  std::chrono::steady_clock::duration idleAfter_;
  std::mutex mu_;
  std::map<std::string, Entry> clients_;
};

}  // namespace kappa::controllers
