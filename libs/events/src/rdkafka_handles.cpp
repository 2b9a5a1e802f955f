#include "rdkafka_handles.hpp"

#include <array>

#include "ticketing/common/error.hpp"
#include "ticketing/common/log.hpp"

namespace ticketing::events::detail {

namespace {

// librdkafka calls these from its own threads; ticketing::log is thread-safe.
void log_normal(const rd_kafka_t* rk, int level, const char* fac, const char* buf) {
  const char* client = rk != nullptr ? rd_kafka_name(rk) : "";
  log::Level l = level <= 3   ? log::Level::kError
                 : level == 4 ? log::Level::kWarn
                 : level <= 6 ? log::Level::kInfo
                              : log::Level::kDebug;
  log::write(l, buf, {{"component", "librdkafka"}, {"client", client}, {"facility", fac}});
}

void log_quiet(const rd_kafka_t* rk, int /*level*/, const char* fac, const char* buf) {
  const char* client = rk != nullptr ? rd_kafka_name(rk) : "";
  log::debug(buf, {{"component", "librdkafka"}, {"client", client}, {"facility", fac}});
}

}  // namespace

ConfPtr new_conf(ClientLog log_mode) {
  ConfPtr conf(rd_kafka_conf_new());
  if (!conf) throw KafkaError("rd_kafka_conf_new failed", false);
  rd_kafka_conf_set_log_cb(conf.get(), log_mode == ClientLog::kQuiet ? log_quiet : log_normal);
  // TCP_NODELAY, as Kafka's Java clients and brokers have it: with Nagle on,
  // a small request written while an earlier one is unacknowledged waits for
  // the peer's delayed ACK (tens of milliseconds on Linux).
  std::array<char, 512> errstr{};
  if (rd_kafka_conf_set(conf.get(), "socket.nagle.disable", "true", errstr.data(), errstr.size()) !=
      RD_KAFKA_CONF_OK)
    throw KafkaError(std::string("socket.nagle.disable: ") + errstr.data(), false);
  return conf;
}

void set_conf(rd_kafka_conf_t* conf, const std::string& name, const std::string& value) {
  std::array<char, 512> errstr{};
  if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), errstr.data(), errstr.size()) !=
      RD_KAFKA_CONF_OK) {
    // sasl.password, ssl.key.password, sasl.oauthbearer.client.secret, ...
    const bool secret =
        name.find("password") != std::string::npos || name.find("secret") != std::string::npos;
    throw KafkaError(
        "invalid client property " + name + "=" + (secret ? "***" : value) + ": " + errstr.data(),
        false);
  }
}

KafkaPtr new_client(rd_kafka_type_t type, ConfPtr conf) {
  std::array<char, 512> errstr{};
  rd_kafka_t* rk = rd_kafka_new(type, conf.get(), errstr.data(), errstr.size());
  if (rk == nullptr) {
    // conf is still ours on failure and is destroyed by its unique_ptr.
    throw KafkaError(std::string("rd_kafka_new failed: ") + errstr.data(), false);
  }
  (void)conf.release();  // now owned by rk
  return KafkaPtr(rk);
}

bool is_retryable(rd_kafka_resp_err_t err) {
  switch (err) {
    case RD_KAFKA_RESP_ERR__QUEUE_FULL:
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE:
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR__PURGE_QUEUE:
    case RD_KAFKA_RESP_ERR__PURGE_INFLIGHT:
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
    case RD_KAFKA_RESP_ERR__WAIT_COORD:
    case RD_KAFKA_RESP_ERR__IN_PROGRESS:
    case RD_KAFKA_RESP_ERR__PREV_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR__RESOLVE:
    case RD_KAFKA_RESP_ERR__NODE_UPDATE:
    case RD_KAFKA_RESP_ERR__FATAL:  // retrying with a new client instance may work
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
    case RD_KAFKA_RESP_ERR_BROKER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_REPLICA_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION:
    case RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_COORDINATOR:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND:
    case RD_KAFKA_RESP_ERR_NOT_CONTROLLER:
    case RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_KAFKA_STORAGE_ERROR:
    case RD_KAFKA_RESP_ERR_FENCED_LEADER_EPOCH:
    case RD_KAFKA_RESP_ERR_UNKNOWN_LEADER_EPOCH:
    case RD_KAFKA_RESP_ERR_OFFSET_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_PREFERRED_LEADER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_THROTTLING_QUOTA_EXCEEDED:
      return true;
    default:
      return false;
  }
}

bool is_retryable(const rd_kafka_error_t* error) {
  return error != nullptr &&
         (rd_kafka_error_is_retriable(error) != 0 || is_retryable(rd_kafka_error_code(error)));
}

std::string err_text(rd_kafka_resp_err_t err) {
  return std::string(rd_kafka_err2name(err)) + ": " + rd_kafka_err2str(err);
}

}  // namespace ticketing::events::detail
