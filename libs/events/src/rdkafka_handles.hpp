#pragma once
// Private: RAII owners for librdkafka C handles, and small helpers shared by
// the producer, consumer and admin code. Never include from a public header.

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

namespace ticketing::events::detail {

struct KafkaDeleter {
  void operator()(rd_kafka_t* p) const noexcept { rd_kafka_destroy(p); }
  void operator()(rd_kafka_conf_t* p) const noexcept { rd_kafka_conf_destroy(p); }
  void operator()(rd_kafka_topic_partition_list_t* p) const noexcept {
    rd_kafka_topic_partition_list_destroy(p);
  }
  void operator()(rd_kafka_headers_t* p) const noexcept { rd_kafka_headers_destroy(p); }
  void operator()(rd_kafka_message_t* p) const noexcept { rd_kafka_message_destroy(p); }
  void operator()(rd_kafka_error_t* p) const noexcept { rd_kafka_error_destroy(p); }
  void operator()(rd_kafka_queue_t* p) const noexcept { rd_kafka_queue_destroy(p); }
  void operator()(rd_kafka_event_t* p) const noexcept { rd_kafka_event_destroy(p); }
  void operator()(const rd_kafka_metadata_t* p) const noexcept { rd_kafka_metadata_destroy(p); }
  void operator()(rd_kafka_AdminOptions_t* p) const noexcept { rd_kafka_AdminOptions_destroy(p); }
  void operator()(rd_kafka_NewTopic_t* p) const noexcept { rd_kafka_NewTopic_destroy(p); }
  void operator()(rd_kafka_DeleteTopic_t* p) const noexcept { rd_kafka_DeleteTopic_destroy(p); }
  void operator()(rd_kafka_ConfigResource_t* p) const noexcept {
    rd_kafka_ConfigResource_destroy(p);
  }
  void operator()(rd_kafka_AclBinding_t* p) const noexcept { rd_kafka_AclBinding_destroy(p); }
};

using KafkaPtr = std::unique_ptr<rd_kafka_t, KafkaDeleter>;
using ConfPtr = std::unique_ptr<rd_kafka_conf_t, KafkaDeleter>;
using PartitionListPtr = std::unique_ptr<rd_kafka_topic_partition_list_t, KafkaDeleter>;
using HeadersPtr = std::unique_ptr<rd_kafka_headers_t, KafkaDeleter>;
using MessagePtr = std::unique_ptr<rd_kafka_message_t, KafkaDeleter>;
using ErrorPtr = std::unique_ptr<rd_kafka_error_t, KafkaDeleter>;
using QueuePtr = std::unique_ptr<rd_kafka_queue_t, KafkaDeleter>;
using EventPtr = std::unique_ptr<rd_kafka_event_t, KafkaDeleter>;
using MetadataPtr = std::unique_ptr<const rd_kafka_metadata_t, KafkaDeleter>;
using AdminOptionsPtr = std::unique_ptr<rd_kafka_AdminOptions_t, KafkaDeleter>;
using NewTopicPtr = std::unique_ptr<rd_kafka_NewTopic_t, KafkaDeleter>;
using DeleteTopicPtr = std::unique_ptr<rd_kafka_DeleteTopic_t, KafkaDeleter>;
using ConfigResourcePtr = std::unique_ptr<rd_kafka_ConfigResource_t, KafkaDeleter>;
using AclBindingPtr = std::unique_ptr<rd_kafka_AclBinding_t, KafkaDeleter>;

// How librdkafka's own log lines are forwarded to ticketing::log.
enum class ClientLog {
  kNormal,  // syslog levels mapped to error/warn/info/debug
  kQuiet,   // everything as debug: for probes that expect brokers to be down
};

// New conf with our log callback installed; throws KafkaError on failure.
ConfPtr new_conf(ClientLog log_mode = ClientLog::kNormal);
// rd_kafka_conf_set or throws KafkaError naming the property (and its value,
// unless the name says password or secret).
void set_conf(rd_kafka_conf_t* conf, const std::string& name, const std::string& value);
// rd_kafka_new; takes ownership of conf only on success (librdkafka's rule),
// so on failure conf is still destroyed by its unique_ptr.
KafkaPtr new_client(rd_kafka_type_t type, ConfPtr conf);

// Whether trying the same operation again later may succeed. librdkafka
// tells this only for an rd_kafka_error_t (rd_kafka_error_is_retriable, a
// flag it sets itself), so the overload for an error object asks it first.
// Message errors, delivery reports, commits and metadata give bare codes
// with no such flag: for those this keeps the list of the Kafka protocol's
// retriable errors plus librdkafka's local transient ones.
bool is_retryable(rd_kafka_resp_err_t err);
bool is_retryable(const rd_kafka_error_t* error);
std::string err_text(rd_kafka_resp_err_t err);

inline int to_timeout_ms(std::chrono::milliseconds t) {
  if (t.count() < 0) return 0;
  if (t.count() > 0x7fffffff) return 0x7fffffff;
  return static_cast<int>(t.count());
}

}  // namespace ticketing::events::detail
