#include "kafka_test_util.hpp"

#include <array>
#include <stdexcept>

#include <fmt/format.h>
#include <librdkafka/rdkafka.h>

#include "ticketing/events/namespace.hpp"
#include "ticketing/events/security.hpp"

namespace ticketing::outbox::test {

namespace {

struct KafkaFree {
  void operator()(rd_kafka_t* rk) const noexcept { rd_kafka_destroy(rk); }
};
struct ConfFree {
  void operator()(rd_kafka_conf_t* c) const noexcept { rd_kafka_conf_destroy(c); }
};
struct QueueFree {
  void operator()(rd_kafka_queue_t* q) const noexcept { rd_kafka_queue_destroy(q); }
};
struct EventFree {
  void operator()(rd_kafka_event_t* e) const noexcept { rd_kafka_event_destroy(e); }
};
struct OptionsFree {
  void operator()(rd_kafka_AdminOptions_t* o) const noexcept { rd_kafka_AdminOptions_destroy(o); }
};
struct NewTopicFree {
  void operator()(rd_kafka_NewTopic_t* t) const noexcept { rd_kafka_NewTopic_destroy(t); }
};
struct DeleteTopicFree {
  void operator()(rd_kafka_DeleteTopic_t* t) const noexcept { rd_kafka_DeleteTopic_destroy(t); }
};
struct MessageFree {
  void operator()(rd_kafka_message_t* m) const noexcept { rd_kafka_message_destroy(m); }
};
struct PartitionListFree {
  void operator()(rd_kafka_topic_partition_list_t* l) const noexcept {
    rd_kafka_topic_partition_list_destroy(l);
  }
};
using KafkaPtr = std::unique_ptr<rd_kafka_t, KafkaFree>;
using ConfPtr = std::unique_ptr<rd_kafka_conf_t, ConfFree>;

// `props` plus the client security of the environment (KAFKA_SECURITY_PROTOCOL...).
ConfPtr make_conf(std::vector<std::pair<std::string, std::string>> props) {
  ConfPtr conf(rd_kafka_conf_new());
  std::array<char, 512> err{};
  for (auto& p : ticketing::events::KafkaSecurity::from_env().librdkafka_properties())
    props.push_back(std::move(p));
  for (const auto& [k, v] : props) {
    if (rd_kafka_conf_set(conf.get(), k.c_str(), v.c_str(), err.data(), err.size()) !=
        RD_KAFKA_CONF_OK) {
      throw std::runtime_error(fmt::format("conf {}: {}", k, err.data()));
    }
  }
  return conf;
}

KafkaPtr make_client(rd_kafka_type_t type, ConfPtr conf) {
  std::array<char, 512> err{};
  // rd_kafka_new owns the conf only when it succeeds.
  KafkaPtr rk(rd_kafka_new(type, conf.get(), err.data(), err.size()));
  if (!rk) throw std::runtime_error(fmt::format("rd_kafka_new: {}", err.data()));
  static_cast<void>(conf.release());
  return rk;
}

}  // namespace

void create_topic(const std::string& bootstrap, const std::string& topic, int partitions,
                  int replication_factor) {
  auto rk = make_client(RD_KAFKA_PRODUCER, make_conf({{"bootstrap.servers", bootstrap}}));
  std::array<char, 512> err{};
  std::unique_ptr<rd_kafka_NewTopic_t, NewTopicFree> nt(rd_kafka_NewTopic_new(
      events::kafka_topic(topic).c_str(), partitions, replication_factor, err.data(), err.size()));
  if (!nt) throw std::runtime_error(fmt::format("NewTopic: {}", err.data()));
  rd_kafka_NewTopic_set_config(nt.get(), "min.insync.replicas", "2");
  std::unique_ptr<rd_kafka_queue_t, QueueFree> q(rd_kafka_queue_new(rk.get()));
  std::unique_ptr<rd_kafka_AdminOptions_t, OptionsFree> opts(
      rd_kafka_AdminOptions_new(rk.get(), RD_KAFKA_ADMIN_OP_CREATETOPICS));
  rd_kafka_AdminOptions_set_operation_timeout(opts.get(), 15000, err.data(), err.size());
  rd_kafka_NewTopic_t* arr[] = {nt.get()};
  rd_kafka_CreateTopics(rk.get(), arr, 1, opts.get(), q.get());
  std::unique_ptr<rd_kafka_event_t, EventFree> ev(rd_kafka_queue_poll(q.get(), 20000));
  if (!ev) throw std::runtime_error("CreateTopics: no answer");
  if (rd_kafka_event_error(ev.get()) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw std::runtime_error(
        fmt::format("CreateTopics: {}", rd_kafka_event_error_string(ev.get())));
  }
  const rd_kafka_CreateTopics_result_t* res = rd_kafka_event_CreateTopics_result(ev.get());
  std::size_t n = 0;
  const rd_kafka_topic_result_t** results = rd_kafka_CreateTopics_result_topics(res, &n);
  if (n != 1 || rd_kafka_topic_result_error(results[0]) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw std::runtime_error(
        fmt::format("CreateTopics {}: {}", topic,
                    n == 1 ? rd_kafka_topic_result_error_string(results[0]) : "?"));
  }
}

void delete_topic(const std::string& bootstrap, const std::string& topic) noexcept {
  try {
    auto rk = make_client(RD_KAFKA_PRODUCER, make_conf({{"bootstrap.servers", bootstrap}}));
    std::unique_ptr<rd_kafka_DeleteTopic_t, DeleteTopicFree> dt(
        rd_kafka_DeleteTopic_new(events::kafka_topic(topic).c_str()));
    std::unique_ptr<rd_kafka_queue_t, QueueFree> q(rd_kafka_queue_new(rk.get()));
    rd_kafka_DeleteTopic_t* arr[] = {dt.get()};
    rd_kafka_DeleteTopics(rk.get(), arr, 1, nullptr, q.get());
    std::unique_ptr<rd_kafka_event_t, EventFree> ev(rd_kafka_queue_poll(q.get(), 15000));
  } catch (...) {
  }
}

struct TopicReader::Impl {
  KafkaPtr rk;
};

TopicReader::TopicReader(const std::string& bootstrap, const std::string& topic, int partitions)
    : impl_(std::make_unique<Impl>()) {
  impl_->rk = make_client(RD_KAFKA_CONSUMER, make_conf({{"bootstrap.servers", bootstrap},
                                                        {"group.id", "outbox-test-reader-" + topic},
                                                        {"enable.auto.commit", "false"},
                                                        {"enable.auto.offset.store", "false"},
                                                        {"fetch.wait.max.ms", "10"},
                                                        {"isolation.level", "read_committed"}}));
  rd_kafka_poll_set_consumer(impl_->rk.get());
  std::unique_ptr<rd_kafka_topic_partition_list_t, PartitionListFree> list(
      rd_kafka_topic_partition_list_new(partitions));
  for (int p = 0; p < partitions; ++p) {
    rd_kafka_topic_partition_list_add(list.get(), events::kafka_topic(topic).c_str(), p)->offset =
        RD_KAFKA_OFFSET_BEGINNING;
  }
  if (rd_kafka_assign(impl_->rk.get(), list.get()) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw std::runtime_error("assign failed");
  }
}

TopicReader::~TopicReader() {
  if (impl_->rk) rd_kafka_consumer_close(impl_->rk.get());
}

std::vector<Message> TopicReader::poll(std::chrono::milliseconds timeout) {
  std::vector<Message> out;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    std::unique_ptr<rd_kafka_message_t, MessageFree> m(
        rd_kafka_consumer_poll(impl_->rk.get(), out.empty() ? 100 : 20));
    if (!m) {
      if (!out.empty()) break;
      continue;
    }
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) continue;  // e.g. partition EOF, transient errors
    Message msg;
    msg.received = std::chrono::system_clock::now();
    msg.partition = m->partition;
    msg.offset = m->offset;
    if (m->key != nullptr) msg.key.assign(static_cast<const char*>(m->key), m->key_len);
    if (m->payload != nullptr) msg.value.assign(static_cast<const char*>(m->payload), m->len);
    rd_kafka_headers_t* hdrs = nullptr;
    if (rd_kafka_message_headers(m.get(), &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      const char* name = nullptr;
      const void* value = nullptr;
      std::size_t size = 0;
      for (std::size_t i = 0;
           rd_kafka_header_get_all(hdrs, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
           ++i) {
        msg.headers.emplace_back(name, value != nullptr
                                           ? std::string(static_cast<const char*>(value), size)
                                           : std::string());
      }
    }
    out.push_back(std::move(msg));
    if (out.size() >= 5000) break;
  }
  return out;
}

}  // namespace ticketing::outbox::test
