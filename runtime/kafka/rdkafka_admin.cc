#include "runtime/kafka/rdkafka_admin.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <set>
#include <thread>
#include <tuple>

namespace kappa::kafka {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

int ms(std::chrono::milliseconds d) { return static_cast<int>(d.count()); }

std::string uniqueSuffix() {
  static std::atomic<uint64_t> counter{0};
  return std::to_string(::getpid()) + "-" +
         std::to_string(Clock::now().time_since_epoch().count()) + "-" + std::to_string(counter++);
}

PartitionList partitionsOf(const std::string& topic, int32_t count, int64_t offset) {
  PartitionList list(rd_kafka_topic_partition_list_new(count));
  for (int32_t p = 0; p < count; ++p) {
    rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), p)->offset = offset;
  }
  return list;
}

}  // namespace

ErrorCode errorCodeOf(rd_kafka_resp_err_t err) {
  switch (err) {
    case RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS:
      return ErrorCode::kAlreadyExists;
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
    case RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND:
      return ErrorCode::kNotFound;
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE:
      return ErrorCode::kTimeout;
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR__RESOLVE:
    case RD_KAFKA_RESP_ERR_BROKER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_COORDINATOR:
    case RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS:
      return ErrorCode::kUnavailable;
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
    case RD_KAFKA_RESP_ERR_INVALID_PARTITIONS:
    case RD_KAFKA_RESP_ERR_INVALID_REPLICATION_FACTOR:
    case RD_KAFKA_RESP_ERR_INVALID_CONFIG:
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
    case RD_KAFKA_RESP_ERR_INVALID_REQUEST:
    case RD_KAFKA_RESP_ERR_POLICY_VIOLATION:
    case RD_KAFKA_RESP_ERR_INVALID_GROUP_ID:
      return ErrorCode::kInvalidArgument;
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
    case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
      return ErrorCode::kForbidden;
    case RD_KAFKA_RESP_ERR_NON_EMPTY_GROUP:
      return ErrorCode::kConflict;
    default:
      return ErrorCode::kInternal;
  }
}

std::optional<int64_t> headerInt(const rd_kafka_message_t& m, const char* name) {
  rd_kafka_headers_t* hdrs = nullptr;
  if (rd_kafka_message_headers(&m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR) return std::nullopt;
  const void* v = nullptr;
  size_t size = 0;
  if (rd_kafka_header_get_last(hdrs, name, &v, &size) != RD_KAFKA_RESP_ERR_NO_ERROR || !v) {
    return std::nullopt;
  }
  int64_t out = 0;
  const char* s = static_cast<const char*>(v);
  if (std::from_chars(s, s + size, out).ec != std::errc()) return std::nullopt;
  return out;
}

ssize_t consumeQueued(rd_kafka_queue_t* queue, rd_kafka_message_t** batch, size_t size,
                      int waitMs) {
  ssize_t n = rd_kafka_consume_batch_queue(queue, 0, batch, size);
  if (n == 0) n = rd_kafka_consume_batch_queue(queue, waitMs, batch, size);
  return std::max<ssize_t>(n, 0);
}

Error errorOf(rd_kafka_resp_err_t err, const std::string& context) {
  return Error{errorCodeOf(err), context + ": " + rd_kafka_err2str(err)};
}

Result<KafkaHandle> makeHandle(rd_kafka_type_t type, const std::string& bootstrapServers,
                               const std::map<std::string, std::string>& properties) {
  if (bootstrapServers.empty()) {
    return Error{ErrorCode::kInvalidArgument, "bootstrap servers must not be empty"};
  }
  RdPtr<rd_kafka_conf_t> conf(rd_kafka_conf_new());
  char err[512];
  std::map<std::string, std::string> all = {
      {"bootstrap.servers", bootstrapServers}, {"client.id", "kappa"},
      {"socket.nagle.disable", "true"},        {"log_level", "3"},
      {"allow.auto.create.topics", "false"},
  };
  if (type == RD_KAFKA_CONSUMER) {
    all["enable.auto.commit"] = "false";
    all["enable.auto.offset.store"] = "false";
  }
  for (const auto& [k, v] : properties) all[k] = v;
  for (const auto& [k, v] : all) {
    if (k == "allow.auto.create.topics" && type != RD_KAFKA_CONSUMER) continue;
    if (rd_kafka_conf_set(conf.get(), k.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
      return Error{ErrorCode::kInvalidArgument, "kafka property " + k + ": " + err};
    }
  }
  rd_kafka_t* rk = rd_kafka_new(type, conf.get(), err, sizeof err);
  if (!rk) return Error{ErrorCode::kInvalidArgument, std::string("kafka client: ") + err};
  conf.release();  // owned by rk now
  return KafkaHandle(rk);
}

std::optional<int64_t> TopicDescription::configInt(const std::string& key) const {
  auto it = configs.find(key);
  if (it == configs.end()) return std::nullopt;
  try {
    size_t used = 0;
    int64_t v = std::stoll(it->second, &used);
    if (used != it->second.size()) return std::nullopt;
    return v;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

RdKafkaAdmin::RdKafkaAdmin(KafkaClientConfig config, KafkaHandle handle)
    : config_(std::move(config)), handle_(std::move(handle)) {}

Result<std::unique_ptr<RdKafkaAdmin>> RdKafkaAdmin::create(KafkaClientConfig config) {
  auto props = config.properties;
  props.emplace("isolation.level", "read_committed");
  props.emplace("group.id", "kappa-admin-" + uniqueSuffix());
  auto handle = makeHandle(RD_KAFKA_CONSUMER, config.bootstrapServers, props);
  if (!handle) return handle.error();
  return std::unique_ptr<RdKafkaAdmin>(new RdKafkaAdmin(std::move(config), std::move(*handle)));
}

template <typename F>
auto RdKafkaAdmin::retryOnCoordinatorMove(F attempt) -> decltype(attempt()) {
  // Group requests go to the group's coordinator, which may be moving or still loading
  // (for instance right after a broker start); librdkafka reports that instead of retrying.
  auto deadline = Clock::now() + config_.timeout;
  for (std::chrono::milliseconds backoff{50};; backoff = std::min(backoff * 2, 1000ms)) {
    auto r = attempt();
    if (r.ok() || r.error().code != ErrorCode::kUnavailable || Clock::now() + backoff > deadline) {
      return r;
    }
    std::this_thread::sleep_for(backoff);
  }
}

RdPtr<rd_kafka_AdminOptions_t> RdKafkaAdmin::adminOptions(rd_kafka_admin_op_t op) {
  RdPtr<rd_kafka_AdminOptions_t> opts(rd_kafka_AdminOptions_new(handle_.get(), op));
  char err[256];
  rd_kafka_AdminOptions_set_request_timeout(opts.get(), ms(config_.timeout), err, sizeof err);
  if (op == RD_KAFKA_ADMIN_OP_CREATETOPICS || op == RD_KAFKA_ADMIN_OP_DELETETOPICS) {
    // Wait for the controller to have applied the change before answering.
    rd_kafka_AdminOptions_set_operation_timeout(opts.get(), ms(config_.timeout), err, sizeof err);
  }
  return opts;
}

Result<RdPtr<rd_kafka_event_t>> RdKafkaAdmin::awaitAdminResult(rd_kafka_queue_t* queue,
                                                               const std::string& what) {
  // The request timeout bounds the broker round trip; allow a little more for the queue.
  RdPtr<rd_kafka_event_t> ev(rd_kafka_queue_poll(queue, ms(config_.timeout) + 2000));
  if (!ev) {
    return Error{ErrorCode::kTimeout, what + ": no answer from " + config_.bootstrapServers +
                                          " within " + std::to_string(config_.timeout.count()) +
                                          " ms"};
  }
  if (rd_kafka_event_error(ev.get())) {
    auto err = rd_kafka_event_error(ev.get());
    const char* s = rd_kafka_event_error_string(ev.get());
    return Error{errorCodeOf(err), what + ": " + (s ? s : rd_kafka_err2str(err))};
  }
  return ev;
}

Result<void> RdKafkaAdmin::createTopic(const TopicSpec& spec) {
  char err[512];
  RdPtr<rd_kafka_NewTopic_t> nt(rd_kafka_NewTopic_new(spec.name.c_str(), spec.partitions,
                                                      spec.replicationFactor, err, sizeof err));
  if (!nt) return Error{ErrorCode::kInvalidArgument, "topic " + spec.name + ": " + err};
  for (const auto& [k, v] : spec.configs) {
    auto e = rd_kafka_NewTopic_set_config(nt.get(), k.c_str(), v.c_str());
    if (e) return errorOf(e, "topic " + spec.name + " config " + k);
  }
  RdPtr<rd_kafka_queue_t> q(rd_kafka_queue_new(handle_.get()));
  auto opts = adminOptions(RD_KAFKA_ADMIN_OP_CREATETOPICS);
  rd_kafka_NewTopic_t* arr[] = {nt.get()};
  rd_kafka_CreateTopics(handle_.get(), arr, 1, opts.get(), q.get());
  auto ev = awaitAdminResult(q.get(), "create topic " + spec.name);
  if (!ev) return ev.error();
  size_t n = 0;
  auto** res =
      rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev->get()), &n);
  for (size_t i = 0; i < n; ++i) {
    if (auto e = rd_kafka_topic_result_error(res[i])) {
      const char* s = rd_kafka_topic_result_error_string(res[i]);
      return Error{errorCodeOf(e),
                   "create topic " + spec.name + ": " + (s ? s : rd_kafka_err2str(e))};
    }
  }
  // The controller has the topic; return once the brokers serve it too, so the caller can
  // produce and list offsets right away.
  return awaitMetadata(spec.name, true);
}

Result<void> RdKafkaAdmin::awaitMetadata(const std::string& topic, bool present) {
  auto deadline = Clock::now() + config_.timeout;
  while (true) {
    auto count = partitionCount(topic);
    if (count.ok() == present) return {};
    if (!count.ok() && count.error().code != ErrorCode::kNotFound) return count.error();
    if (Clock::now() >= deadline) {
      return Error{ErrorCode::kTimeout, "topic " + topic + (present ? " created" : " deleted") +
                                            " but metadata did not show it within " +
                                            std::to_string(config_.timeout.count()) + " ms"};
    }
    std::this_thread::sleep_for(50ms);
  }
}

Result<void> RdKafkaAdmin::deleteTopic(const std::string& topic) {
  RdPtr<rd_kafka_DeleteTopic_t> dt(rd_kafka_DeleteTopic_new(topic.c_str()));
  RdPtr<rd_kafka_queue_t> q(rd_kafka_queue_new(handle_.get()));
  auto opts = adminOptions(RD_KAFKA_ADMIN_OP_DELETETOPICS);
  rd_kafka_DeleteTopic_t* arr[] = {dt.get()};
  rd_kafka_DeleteTopics(handle_.get(), arr, 1, opts.get(), q.get());
  auto ev = awaitAdminResult(q.get(), "delete topic " + topic);
  if (!ev) return ev.error();
  size_t n = 0;
  auto** res =
      rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev->get()), &n);
  for (size_t i = 0; i < n; ++i) {
    if (auto e = rd_kafka_topic_result_error(res[i])) {
      return errorOf(e, "delete topic " + topic);
    }
  }
  return awaitMetadata(topic, false);
}

size_t RdKafkaAdmin::topicsNamed() const {
  std::lock_guard lock(topicsMu_);
  return topicsNamed_.size();
}

Result<int32_t> RdKafkaAdmin::partitionCount(const std::string& topic) {
  {
    std::lock_guard lock(topicsMu_);
    topicsNamed_.insert(topic);
  }
  RdPtr<rd_kafka_topic_t> rkt(rd_kafka_topic_new(handle_.get(), topic.c_str(), nullptr));
  const rd_kafka_metadata_t* md = nullptr;
  auto e = rd_kafka_metadata(handle_.get(), 0, rkt.get(), &md, ms(config_.timeout));
  if (e) {
    if (e == RD_KAFKA_RESP_ERR__TIMED_OUT || e == RD_KAFKA_RESP_ERR__TRANSPORT) {
      return Error{
          e == RD_KAFKA_RESP_ERR__TIMED_OUT ? ErrorCode::kTimeout : ErrorCode::kUnavailable,
          "cannot reach Kafka at " + config_.bootstrapServers + " (" + rd_kafka_err2str(e) +
              " after " + std::to_string(config_.timeout.count()) + " ms)"};
    }
    return errorOf(e, "metadata for topic " + topic);
  }
  RdPtr<const rd_kafka_metadata_t> hold(md);
  for (int i = 0; i < md->topic_cnt; ++i) {
    if (topic != md->topics[i].topic) continue;
    if (md->topics[i].err) return errorOf(md->topics[i].err, "topic " + topic);
    return static_cast<int32_t>(md->topics[i].partition_cnt);
  }
  return Error{ErrorCode::kNotFound, "topic " + topic + ": not in metadata"};
}

Result<TopicDescription> RdKafkaAdmin::describeTopic(const std::string& topic) {
  auto count = partitionCount(topic);
  if (!count) return count.error();
  RdPtr<rd_kafka_ConfigResource_t> res(
      rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic.c_str()));
  RdPtr<rd_kafka_queue_t> q(rd_kafka_queue_new(handle_.get()));
  auto opts = adminOptions(RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
  rd_kafka_ConfigResource_t* arr[] = {res.get()};
  rd_kafka_DescribeConfigs(handle_.get(), arr, 1, opts.get(), q.get());
  auto ev = awaitAdminResult(q.get(), "describe topic " + topic);
  if (!ev) return ev.error();
  size_t n = 0;
  auto** resources = rd_kafka_DescribeConfigs_result_resources(
      rd_kafka_event_DescribeConfigs_result(ev->get()), &n);
  TopicDescription d{topic, *count, {}};
  for (size_t i = 0; i < n; ++i) {
    if (auto e = rd_kafka_ConfigResource_error(resources[i])) {
      return errorOf(e, "describe topic " + topic);
    }
    size_t cnt = 0;
    auto** entries = rd_kafka_ConfigResource_configs(resources[i], &cnt);
    for (size_t j = 0; j < cnt; ++j) {
      const char* v = rd_kafka_ConfigEntry_value(entries[j]);
      d.configs[rd_kafka_ConfigEntry_name(entries[j])] = v ? v : "";
    }
  }
  return d;
}

Result<void> RdKafkaAdmin::deleteGroup(const std::string& group) {
  return retryOnCoordinatorMove([&] { return deleteGroupOnce(group); });
}

Result<void> RdKafkaAdmin::deleteGroupOnce(const std::string& group) {
  RdPtr<rd_kafka_DeleteGroup_t> dg(rd_kafka_DeleteGroup_new(group.c_str()));
  RdPtr<rd_kafka_queue_t> q(rd_kafka_queue_new(handle_.get()));
  auto opts = adminOptions(RD_KAFKA_ADMIN_OP_DELETEGROUPS);
  rd_kafka_DeleteGroup_t* arr[] = {dg.get()};
  rd_kafka_DeleteGroups(handle_.get(), arr, 1, opts.get(), q.get());
  auto ev = awaitAdminResult(q.get(), "delete group " + group);
  if (!ev) return ev.error();
  size_t n = 0;
  auto** res =
      rd_kafka_DeleteGroups_result_groups(rd_kafka_event_DeleteGroups_result(ev->get()), &n);
  for (size_t i = 0; i < n; ++i) {
    if (const rd_kafka_error_t* e = rd_kafka_group_result_error(res[i])) {
      return Error{errorCodeOf(rd_kafka_error_code(e)),
                   "delete group " + group + ": " + rd_kafka_error_string(e)};
    }
  }
  return {};
}

Result<std::vector<GroupMember>> RdKafkaAdmin::groupMembers(const std::string& group,
                                                            const std::string& topic) {
  return retryOnCoordinatorMove([&]() -> Result<std::vector<GroupMember>> {
    RdPtr<rd_kafka_queue_t> q(rd_kafka_queue_new(handle_.get()));
    auto opts = adminOptions(RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS);
    const char* groups[] = {group.c_str()};
    rd_kafka_DescribeConsumerGroups(handle_.get(), groups, 1, opts.get(), q.get());
    auto ev = awaitAdminResult(q.get(), "describe group " + group);
    if (!ev) return ev.error();
    size_t n = 0;
    const rd_kafka_ConsumerGroupDescription_t** res = rd_kafka_DescribeConsumerGroups_result_groups(
        rd_kafka_event_DescribeConsumerGroups_result(ev->get()), &n);
    std::vector<GroupMember> out;
    for (size_t i = 0; i < n; ++i) {
      if (const rd_kafka_error_t* e = rd_kafka_ConsumerGroupDescription_error(res[i])) {
        return Error{errorCodeOf(rd_kafka_error_code(e)),
                     "describe group " + group + ": " + rd_kafka_error_string(e)};
      }
      size_t members = rd_kafka_ConsumerGroupDescription_member_count(res[i]);
      for (size_t m = 0; m < members; ++m) {
        const rd_kafka_MemberDescription_t* md =
            rd_kafka_ConsumerGroupDescription_member(res[i], m);
        GroupMember gm;
        if (const char* id = rd_kafka_MemberDescription_client_id(md)) gm.clientId = id;
        if (const char* host = rd_kafka_MemberDescription_host(md)) gm.host = host;
        if (!gm.host.empty() && gm.host.front() == '/') gm.host.erase(0, 1);
        const rd_kafka_topic_partition_list_t* parts =
            rd_kafka_MemberAssignment_partitions(rd_kafka_MemberDescription_assignment(md));
        for (int p = 0; parts && p < parts->cnt; ++p) {
          if (topic == parts->elems[p].topic) gm.partitions.push_back(parts->elems[p].partition);
        }
        std::sort(gm.partitions.begin(), gm.partitions.end());
        out.push_back(std::move(gm));
      }
    }
    return out;
  });
}

Result<PartitionOffsets> RdKafkaAdmin::listOffsets(const std::string& topic, int64_t which) {
  auto count = partitionCount(topic);
  if (!count) return count.error();
  auto list = partitionsOf(topic, *count, which);
  // One ListOffsets request per partition leader, answered as a batch.
  auto e = rd_kafka_offsets_for_times(handle_.get(), list.get(), ms(config_.timeout));
  if (e) return errorOf(e, "list offsets of " + topic);
  PartitionOffsets out;
  for (int i = 0; i < list->cnt; ++i) {
    const auto& tp = list->elems[i];
    if (tp.err)
      return errorOf(tp.err, "list offsets of " + topic + "/" + std::to_string(tp.partition));
    out[tp.partition] = tp.offset;
  }
  return out;
}

Result<PartitionOffsets> RdKafkaAdmin::endOffsets(const std::string& topic) {
  return listOffsets(topic, RD_KAFKA_OFFSET_END);
}

Result<PartitionOffsets> RdKafkaAdmin::earliestOffsets(const std::string& topic) {
  return listOffsets(topic, RD_KAFKA_OFFSET_BEGINNING);
}

Result<PartitionOffsets> RdKafkaAdmin::committedOffsets(const std::string& group,
                                                        const std::string& topic) {
  auto count = partitionCount(topic);
  if (!count) return count.error();
  return retryOnCoordinatorMove([&] { return listGroupOffsets(group, topic, *count); });
}

Result<PartitionOffsets> RdKafkaAdmin::listGroupOffsets(const std::string& group,
                                                        const std::string& topic, int32_t count) {
  auto list = partitionsOf(topic, count, RD_KAFKA_OFFSET_INVALID);
  RdPtr<rd_kafka_ListConsumerGroupOffsets_t> req(
      rd_kafka_ListConsumerGroupOffsets_new(group.c_str(), list.get()));
  RdPtr<rd_kafka_queue_t> q(rd_kafka_queue_new(handle_.get()));
  auto opts = adminOptions(RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS);
  rd_kafka_ListConsumerGroupOffsets_t* arr[] = {req.get()};
  rd_kafka_ListConsumerGroupOffsets(handle_.get(), arr, 1, opts.get(), q.get());
  auto ev = awaitAdminResult(q.get(), "committed offsets of group " + group);
  if (!ev) return ev.error();
  size_t n = 0;
  auto** groups = rd_kafka_ListConsumerGroupOffsets_result_groups(
      rd_kafka_event_ListConsumerGroupOffsets_result(ev->get()), &n);
  PartitionOffsets out;
  for (size_t i = 0; i < n; ++i) {
    if (const rd_kafka_error_t* e = rd_kafka_group_result_error(groups[i])) {
      if (rd_kafka_error_code(e) == RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND) return out;
      return Error{errorCodeOf(rd_kafka_error_code(e)),
                   "committed offsets of group " + group + ": " + rd_kafka_error_string(e)};
    }
    const auto* parts = rd_kafka_group_result_partitions(groups[i]);
    for (int j = 0; parts && j < parts->cnt; ++j) {
      const auto& tp = parts->elems[j];
      if (tp.err) return errorOf(tp.err, "committed offset of " + group);
      if (tp.offset >= 0) out[tp.partition] = tp.offset;
    }
  }
  return out;
}

Result<KafkaHandle> RdKafkaAdmin::readerHandle(const char* isolation,
                                               const std::map<std::string, std::string>& extra) {
  auto props = config_.properties;
  for (const auto& [k, v] : extra) props[k] = v;
  props["isolation.level"] = isolation;
  props["enable.partition.eof"] = "true";
  props["group.id"] = "kappa-reader-" + uniqueSuffix();  // never joined nor committed
  props.emplace("fetch.wait.max.ms", "50");
  return makeHandle(RD_KAFKA_CONSUMER, config_.bootstrapServers, props);
}

namespace {

// Reads from assigned partitions until `done` says each one is finished, or the deadline.
// `onMessage` returns true when that partition needs nothing more.
template <typename OnMessage>
Result<void> readUntilDone(rd_kafka_t* rk, std::set<int32_t> pending,
                           std::chrono::milliseconds timeout, const std::string& what,
                           OnMessage onMessage) {
  auto deadline = Clock::now() + timeout;
  while (!pending.empty()) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      return Error{ErrorCode::kTimeout, what + ": " + std::to_string(pending.size()) +
                                            " partition(s) not read within " +
                                            std::to_string(timeout.count()) + " ms"};
    }
    RdPtr<rd_kafka_message_t> m(rd_kafka_consumer_poll(rk, std::min<int>(ms(left), 100)));
    if (!m) continue;
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      pending.erase(m->partition);
      continue;
    }
    if (m->err) {
      if (errorCodeOf(m->err) == ErrorCode::kUnavailable) continue;  // librdkafka retries
      return errorOf(m->err, what);
    }
    if (pending.count(m->partition) && onMessage(*m)) {
      pending.erase(m->partition);
      // Pausing drops what was fetched beyond this record: a whole record batch (up to a
      // megabyte) would otherwise be handed over record by record, and hold back the fetches
      // of the partitions still pending.
      PartitionList done(rd_kafka_topic_partition_list_new(1));
      rd_kafka_topic_partition_list_add(done.get(), rd_kafka_topic_name(m->rkt), m->partition);
      rd_kafka_pause_partitions(rk, done.get());
    }
  }
  return {};
}

}  // namespace

Result<PartitionOffsets> RdKafkaAdmin::earliestTimestamps(const std::string& topic) {
  auto earliest = earliestOffsets(topic);
  if (!earliest) return earliest.error();
  auto end = listOffsets(topic, RD_KAFKA_OFFSET_END);
  if (!end) return end.error();
  PartitionOffsets from;
  for (const auto& [p, start] : *earliest) {
    // Skip empty partitions. The LSO only underestimates the end, so a partition whose
    // only records sit in an open transaction is read until EOF too.
    if ((*end)[p] > start) from[p] = start;
  }
  return firstTimestamps(topic, from, "read_uncommitted", "first record of " + topic);
}

Result<PartitionOffsets> RdKafkaAdmin::firstTimestamps(const std::string& topic,
                                                       const PartitionOffsets& from,
                                                       const char* isolation,
                                                       const std::string& what) {
  PartitionOffsets out;
  if (from.empty()) return out;
  PartitionList assignment(rd_kafka_topic_partition_list_new(static_cast<int>(from.size())));
  std::set<int32_t> pending;
  for (const auto& [p, offset] : from) {
    rd_kafka_topic_partition_list_add(assignment.get(), topic.c_str(), p)->offset = offset;
    pending.insert(p);
  }
  // One record per partition is wanted: a bounded prefetch (readUntilDone drops the rest of
  // each partition's batch once its first record is read).
  auto reader = readerHandle(isolation, {{"queued.max.messages.kbytes", "8192"}});
  if (!reader) return reader.error();
  if (auto e = rd_kafka_assign(reader->get(), assignment.get())) {
    return errorOf(e, "assign " + topic);
  }
  auto r = readUntilDone(reader->get(), pending, config_.timeout, what,
                         [&](const rd_kafka_message_t& m) {
                           rd_kafka_timestamp_type_t type;
                           int64_t ts = rd_kafka_message_timestamp(&m, &type);
                           if (ts >= 0) out[m.partition] = ts;
                           return true;
                         });
  rd_kafka_assign(reader->get(), nullptr);
  if (!r) return r.error();
  return out;
}

Result<PartitionOffsets> RdKafkaAdmin::countVisibleRecords(const std::string& topic,
                                                           const OffsetRanges& ranges) {
  PartitionOffsets counts;
  PartitionList assignment(rd_kafka_topic_partition_list_new(1));
  std::set<int32_t> pending;
  for (const auto& [p, range] : ranges) {
    counts[p] = 0;
    if (range.second <= range.first) continue;
    rd_kafka_topic_partition_list_add(assignment.get(), topic.c_str(), p)->offset = range.first;
    pending.insert(p);
  }
  if (pending.empty()) return counts;
  auto reader = readerHandle("read_committed");
  if (!reader) return reader.error();
  if (auto e = rd_kafka_assign(reader->get(), assignment.get())) {
    return errorOf(e, "assign " + topic);
  }
  auto r = readUntilDone(reader->get(), pending, config_.timeout, "count records of " + topic,
                         [&](const rd_kafka_message_t& m) {
                           const auto& range = ranges.at(m.partition);
                           if (m.offset >= range.second) return true;
                           ++counts[m.partition];
                           return m.offset + 1 >= range.second;
                         });
  rd_kafka_assign(reader->get(), nullptr);
  if (!r) return r.error();
  return counts;
}

Result<PartitionOffsets> RdKafkaAdmin::recordTimestamps(const std::string& topic,
                                                        const PartitionOffsets& from) {
  return firstTimestamps(topic, from, "read_committed", "record timestamps of " + topic);
}

Result<std::vector<SampledRecord>> RdKafkaAdmin::sampleRecords(const std::string& topic,
                                                               const SampleTargets& targets) {
  // One pass over every partition: read from its first target; after each sampled record,
  // skip the targets it covers, and seek to the next one when that is far ahead (nearer
  // ones are cheaper read than sought). A record below the partition's current target is
  // one fetched before a seek took effect.
  constexpr int64_t kSeekGap = 500;
  struct Cursor {
    const std::vector<int64_t>* offsets;
    size_t next = 0;
  };
  std::map<int32_t, Cursor> cursors;
  PartitionList assignment(rd_kafka_topic_partition_list_new(static_cast<int>(targets.size())));
  for (const auto& [p, offsets] : targets) {
    if (offsets.empty()) continue;
    cursors.emplace(p, Cursor{&offsets});
    rd_kafka_topic_partition_list_add(assignment.get(), topic.c_str(), p)->offset = offsets[0];
  }
  std::vector<SampledRecord> out;
  if (cursors.empty()) return out;
  // A target that retention deleted meanwhile reads from the new log start, not the end.
  auto reader = readerHandle("read_committed", {{"queued.max.messages.kbytes", "8192"},
                                                {"auto.offset.reset", "earliest"}});
  if (!reader) return reader.error();
  if (auto e = rd_kafka_assign(reader->get(), assignment.get())) {
    return errorOf(e, "assign " + topic);
  }
  const std::string what = "sample records of " + topic;
  auto deadline = Clock::now() + config_.timeout;  // moves on with every sampled record
  Result<void> result;
  while (!cursors.empty()) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      result = Error{ErrorCode::kTimeout, what + ": " + std::to_string(cursors.size()) +
                                              " partition(s) without progress for " +
                                              std::to_string(config_.timeout.count()) + " ms"};
      break;
    }
    RdPtr<rd_kafka_message_t> m(
        rd_kafka_consumer_poll(reader->get(), std::min<int>(ms(left), 100)));
    if (!m) continue;
    auto c = cursors.find(m->partition);
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      if (c != cursors.end()) cursors.erase(c);
      continue;
    }
    if (m->err) {
      if (errorCodeOf(m->err) == ErrorCode::kUnavailable) continue;  // librdkafka retries
      result = errorOf(m->err, what);
      break;
    }
    if (c == cursors.end()) continue;
    const std::vector<int64_t>& offsets = *c->second.offsets;
    size_t& next = c->second.next;
    if (m->offset < offsets[next]) continue;
    SampledRecord r{m->partition, m->offset};
    if (m->key) r.key.emplace(static_cast<const char*>(m->key), m->key_len);
    if (m->payload) r.value.emplace(static_cast<const char*>(m->payload), m->len);
    out.push_back(std::move(r));
    deadline = Clock::now() + config_.timeout;
    while (next < offsets.size() && offsets[next] <= m->offset) ++next;
    PartitionList one(rd_kafka_topic_partition_list_new(1));
    if (next == offsets.size()) {
      cursors.erase(c);
      rd_kafka_topic_partition_list_add(one.get(), topic.c_str(), m->partition);
      rd_kafka_pause_partitions(reader->get(), one.get());  // drops what was fetched beyond
    } else if (offsets[next] - m->offset > kSeekGap) {
      rd_kafka_topic_partition_list_add(one.get(), topic.c_str(), m->partition)->offset =
          offsets[next];
      // Asynchronous (timeout 0): records fetched before it takes effect are skipped above.
      if (rd_kafka_error_t* e = rd_kafka_seek_partitions(reader->get(), one.get(), 0)) {
        rd_kafka_error_destroy(e);
      }
    }
  }
  rd_kafka_assign(reader->get(), nullptr);
  if (!result) return result.error();
  std::sort(out.begin(), out.end(), [](const SampledRecord& a, const SampledRecord& b) {
    return std::tie(a.partition, a.offset) < std::tie(b.partition, b.offset);
  });
  return out;
}

Result<void> RdKafkaAdmin::deleteRecordsBefore(const std::string& topic,
                                               const PartitionOffsets& before) {
  PartitionList list(rd_kafka_topic_partition_list_new(static_cast<int>(before.size())));
  for (const auto& [p, off] : before) {
    rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), p)->offset = off;
  }
  RdPtr<rd_kafka_DeleteRecords_t> dr(rd_kafka_DeleteRecords_new(list.get()));
  RdPtr<rd_kafka_queue_t> q(rd_kafka_queue_new(handle_.get()));
  auto opts = adminOptions(RD_KAFKA_ADMIN_OP_DELETERECORDS);
  rd_kafka_DeleteRecords_t* arr[] = {dr.get()};
  rd_kafka_DeleteRecords(handle_.get(), arr, 1, opts.get(), q.get());
  auto ev = awaitAdminResult(q.get(), "delete records of " + topic);
  if (!ev) return ev.error();
  const auto* offsets =
      rd_kafka_DeleteRecords_result_offsets(rd_kafka_event_DeleteRecords_result(ev->get()));
  for (int i = 0; offsets && i < offsets->cnt; ++i) {
    if (offsets->elems[i].err) return errorOf(offsets->elems[i].err, "delete records");
  }
  return {};
}

}  // namespace kappa::kafka
