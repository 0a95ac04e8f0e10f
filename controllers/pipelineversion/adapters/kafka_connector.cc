#include "controllers/pipelineversion/adapters/kafka_connector.h"

#include <utility>
#include <vector>

#include "runtime/kafka/rdkafka_admin.h"

namespace kappa::controllers {

Result<KafkaClients> RdKafkaConnector::connect(
    const KafkaSpec& kafka, const std::map<std::string, std::string>& credentials) {
  std::string key = kafka.bootstrapServers;
  for (const auto& [k, v] : credentials) key += '\n' + k + '=' + v;
  // A replaced admin, and idle entries, are destroyed after the lock is released: closing a
  // librdkafka client joins its threads, and other passes wait for this lock.
  std::shared_ptr<kafka::RdKafkaAdmin> retired;
  std::vector<Entry> idle;
  auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mu_);
  for (auto e = clients_.begin(); e != clients_.end();) {
    if (e->first != key && now - e->second.lastUsed >= idleAfter_) {
      idle.push_back(std::move(e->second));
      e = clients_.erase(e);
    } else {
      ++e;
    }
  }
  kafka::KafkaClientConfig config = base_;
  config.bootstrapServers = kafka.bootstrapServers;
  for (const auto& [k, v] : credentials) config.properties[k] = v;
  auto it = clients_.find(key);
  if (it == clients_.end()) {
    auto admin = kafka::RdKafkaAdmin::create(config);
    if (!admin.ok()) return admin.error();
    Entry e{std::move(*admin), std::make_shared<kafka::KafkaOutputComparator>(config), now};
    it = clients_.emplace(std::move(key), std::move(e)).first;
  } else if (it->second.admin->topicsNamed() >= maxTopicsPerAdmin_) {
    auto admin = kafka::RdKafkaAdmin::create(config);
    if (!admin.ok()) return admin.error();
    retired = std::exchange(it->second.admin, std::move(*admin));
  }
  it->second.lastUsed = now;
  return KafkaClients{it->second.admin, it->second.comparator};
}

}  // namespace kappa::controllers
