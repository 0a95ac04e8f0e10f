#include "controllers/pipelineversion/kafka_connector.h"

#include "runtime/kafka/rdkafka_admin.h"

namespace kappa::controllers {

Result<KafkaClients> RdKafkaConnector::connect(const KafkaSpec& kafka) {
  if (!kafka.credentialsSecret.empty()) {
    return Error{ErrorCode::kInvalidArgument,
                 "kafka.credentialsSecret is not supported by this operator build yet"};
  }
  std::lock_guard lock(mu_);
  auto it = clients_.find(kafka.bootstrapServers);
  if (it == clients_.end()) {
    kafka::KafkaClientConfig config = base_;
    config.bootstrapServers = kafka.bootstrapServers;
    auto admin = kafka::RdKafkaAdmin::create(config);
    if (!admin.ok()) return admin.error();
    Entry e{std::move(*admin), std::make_shared<kafka::KafkaOutputComparator>(config)};
    it = clients_.emplace(kafka.bootstrapServers, std::move(e)).first;
  }
  return KafkaClients{it->second.admin.get(), it->second.comparator};
}

}  // namespace kappa::controllers
