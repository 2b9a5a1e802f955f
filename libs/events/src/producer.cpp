#include "ticketing/events/producer.hpp"

#include <array>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <stop_token>
#include <thread>

#include "rdkafka_handles.hpp"
#include "security_conf.hpp"
#include "ticketing/common/error.hpp"
#include "ticketing/common/log.hpp"
#include "ticketing/common/metrics.hpp"
#include "ticketing/events/namespace.hpp"

namespace ticketing::events {

using namespace detail;

namespace {

// Per-message opaque: owned by us until produce succeeded, then by librdkafka
// until the delivery report hands it back.
struct Pending {
  DeliveryCallback on_delivery;
};

void count_produced(const std::string& topic, const char* result) {
  metrics::global()
      .counter("events_produced_total", "Records produced, by topic and outcome",
               {{"topic", topic}, {"result", result}})
      .inc();
}

bool is_forced_property(const std::string& name) {
  return name == "acks" || name == "request.required.acks" || name == "enable.idempotence";
}

}  // namespace

struct Producer::Impl {
  ProducerOptions options;
  KafkaPtr rk;
  // Serves delivery reports until stopped (rd_kafka_poll's 100 ms bound the
  // time a stop request waits).
  std::jthread poller;
  std::thread::id poller_id;

  std::atomic<bool> fatal{false};
  mutable std::mutex fatal_mutex;
  std::string fatal_reason;  // guarded by fatal_mutex

  mutable std::mutex flight_mutex;
  std::condition_variable flight_cv;
  std::int64_t in_flight = 0;  // guarded by flight_mutex

  void set_fatal(std::string reason) {
    {
      std::lock_guard lock(fatal_mutex);
      if (!fatal_reason.empty()) return;
      fatal_reason = std::move(reason);
    }
    fatal.store(true);
    log::error("kafka producer fatal error: the producer must be recreated",
               {{"client", options.client_id}, {"error", fatal_reason_copy()}});
  }
  std::string fatal_reason_copy() const {
    std::lock_guard lock(fatal_mutex);
    return fatal_reason;
  }
  void check_fatal_error() {
    std::array<char, 512> buf{};
    rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk.get(), buf.data(), buf.size());
    if (orig != RD_KAFKA_RESP_ERR_NO_ERROR) set_fatal(err_text(orig) + ": " + buf.data());
  }
  void add_in_flight(std::int64_t n) {
    std::lock_guard lock(flight_mutex);
    in_flight += n;
    if (in_flight == 0) flight_cv.notify_all();
  }
  bool wait_idle(std::chrono::milliseconds timeout) {
    std::unique_lock lock(flight_mutex);
    return flight_cv.wait_for(lock, timeout, [this] { return in_flight == 0; });
  }

  static void on_delivery(rd_kafka_t* /*rk*/, const rd_kafka_message_t* msg, void* opaque);
  static void on_error(rd_kafka_t* rk, int err, const char* reason, void* opaque);
};

void Producer::Impl::on_delivery(rd_kafka_t* /*rk*/, const rd_kafka_message_t* msg, void* opaque) {
  auto* self = static_cast<Impl*>(opaque);
  std::unique_ptr<Pending> pending(static_cast<Pending*>(msg->_private));
  DeliveryReport report;
  report.topic = msg->rkt != nullptr ? local_topic_or_same(rd_kafka_topic_name(msg->rkt)) : "";
  report.partition = msg->partition;
  if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    report.ok = true;
    report.offset = msg->offset;
    count_produced(report.topic, "ok");
  } else {
    report.ok = false;
    report.retryable = is_retryable(msg->err);
    report.error = err_text(msg->err);
    count_produced(report.topic, "failed");
    if (msg->err == RD_KAFKA_RESP_ERR__FATAL) self->check_fatal_error();
  }
  if (pending && pending->on_delivery) {
    // An exception must not unwind into librdkafka's C frames.
    try {
      pending->on_delivery(report);
    } catch (const std::exception& e) {
      log::error("delivery callback threw", {{"topic", report.topic}, {"error", e.what()}});
    } catch (...) {
      log::error("delivery callback threw", {{"topic", report.topic}});
    }
  }
  pending.reset();
  self->add_in_flight(-1);
}

void Producer::Impl::on_error(rd_kafka_t* /*rk*/, int err, const char* reason, void* opaque) {
  auto* self = static_cast<Impl*>(opaque);
  const auto code = static_cast<rd_kafka_resp_err_t>(err);
  if (code == RD_KAFKA_RESP_ERR__FATAL) {
    self->check_fatal_error();
    return;
  }
  // Everything else is transient: librdkafka keeps retrying on its own.
  log::warn("kafka producer error",
            {{"client", self->options.client_id}, {"error", err_text(code)}, {"reason", reason}});
}

Producer::Producer(ProducerOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  const auto& o = impl_->options;
  if (o.bootstrap_servers.empty()) throw KafkaError("producer: empty bootstrap servers", false);

  ConfPtr conf = new_conf();
  set_conf(conf.get(), "bootstrap.servers", o.bootstrap_servers);
  apply_security(conf.get(), o.security);
  set_conf(conf.get(), "client.id", o.client_id);
  set_conf(conf.get(), "linger.ms", std::to_string(o.linger_ms));
  set_conf(conf.get(), "message.timeout.ms", std::to_string(o.delivery_timeout_ms));
  for (const auto& [name, value] : o.extra) {
    if (is_forced_property(name)) {
      const bool same =
          (name == "enable.idempotence") ? value == "true" : (value == "all" || value == "-1");
      if (!same) {
        throw KafkaError("producer: " + name + "=" + value +
                             " is not allowed (acks=all and idempotence are always on)",
                         false);
      }
      continue;
    }
    set_conf(conf.get(), name, value);
  }
  set_conf(conf.get(), "acks", "all");
  set_conf(conf.get(), "enable.idempotence", "true");
  rd_kafka_conf_set_opaque(conf.get(), impl_.get());
  rd_kafka_conf_set_dr_msg_cb(conf.get(), &Impl::on_delivery);
  rd_kafka_conf_set_error_cb(conf.get(), &Impl::on_error);
  impl_->rk = new_client(RD_KAFKA_PRODUCER, std::move(conf));

  Impl* self = impl_.get();
  impl_->poller = std::jthread([self](const std::stop_token& stop) {
    while (!stop.stop_requested()) rd_kafka_poll(self->rk.get(), 100);
  });
  impl_->poller_id = impl_->poller.get_id();
}

Producer::~Producer() {
  if (!impl_) return;
  Impl& s = *impl_;
  try {
    if (!s.wait_idle(s.options.close_timeout)) {
      log::warn("producer closing with undelivered records: purging them",
                {{"client", s.options.client_id}});
      // Purged records get a delivery report (error __PURGE_*), so every
      // callback still runs once and every opaque is freed.
      rd_kafka_purge(s.rk.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
      (void)s.wait_idle(std::chrono::seconds(5));
    }
  } catch (...) {
    // never throw from a destructor
  }
  s.poller.request_stop();
  if (s.poller.joinable()) s.poller.join();
  s.rk.reset();
}

void Producer::produce(Record record, DeliveryCallback on_delivery) {
  Impl& s = *impl_;
  if (s.fatal.load()) {
    throw KafkaError("producer is in a fatal state: " + s.fatal_reason_copy(), false,
                     RD_KAFKA_RESP_ERR__FATAL);
  }
  auto pending = std::make_unique<Pending>(Pending{std::move(on_delivery)});
  // Waiting for queue space on the delivery thread would block the very
  // thread that frees it.
  const bool may_wait = std::this_thread::get_id() != s.poller_id;
  const auto deadline = std::chrono::steady_clock::now() + s.options.queue_full_timeout;

  const std::string topic = kafka_topic(record.topic);  // TOPIC_PREFIX, namespace.hpp
  for (;;) {
    HeadersPtr headers;
    if (!record.headers.empty()) {
      headers.reset(rd_kafka_headers_new(record.headers.size()));
      for (const auto& h : record.headers) {
        rd_kafka_header_add(headers.get(), h.key.data(), static_cast<ssize_t>(h.key.size()),
                            h.value.data(), static_cast<ssize_t>(h.value.size()));
      }
    }
    std::array<rd_kafka_vu_t, 7> vus{};
    std::size_t n = 0;
    vus[n].vtype = RD_KAFKA_VTYPE_TOPIC;
    vus[n++].u.cstr = topic.c_str();
    vus[n].vtype = RD_KAFKA_VTYPE_PARTITION;
    vus[n++].u.i32 = record.partition < 0 ? RD_KAFKA_PARTITION_UA : record.partition;
    if (!record.key.empty()) {  // an empty key is sent as a null key
      vus[n].vtype = RD_KAFKA_VTYPE_KEY;
      vus[n].u.mem.ptr = record.key.data();
      vus[n++].u.mem.size = record.key.size();
    }
    vus[n].vtype = RD_KAFKA_VTYPE_VALUE;
    vus[n].u.mem.ptr = record.value.data();
    vus[n++].u.mem.size = record.value.size();
    vus[n].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
    vus[n++].u.i = RD_KAFKA_MSG_F_COPY;
    vus[n].vtype = RD_KAFKA_VTYPE_OPAQUE;
    vus[n++].u.ptr = pending.get();
    if (headers) {
      vus[n].vtype = RD_KAFKA_VTYPE_HEADERS;
      vus[n++].u.headers = headers.get();
    }

    s.add_in_flight(1);  // before produce: the report may arrive before it returns
    ErrorPtr error(rd_kafka_produceva(s.rk.get(), vus.data(), n));
    if (!error) {
      // Success: librdkafka owns the headers and the opaque now.
      (void)headers.release();
      (void)pending.release();
      return;
    }
    s.add_in_flight(-1);
    const rd_kafka_resp_err_t code = rd_kafka_error_code(error.get());
    if (code == RD_KAFKA_RESP_ERR__QUEUE_FULL && may_wait &&
        std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      continue;
    }
    if (code == RD_KAFKA_RESP_ERR__FATAL) s.check_fatal_error();
    count_produced(record.topic, "rejected");
    throw KafkaError("produce to " + record.topic + " failed: " + err_text(code) +
                         (code == RD_KAFKA_RESP_ERR__QUEUE_FULL
                              ? " (local queue still full after " +
                                    std::to_string(s.options.queue_full_timeout.count()) + " ms)"
                              : std::string()),
                     is_retryable(error.get()), code);
  }
}

std::future<DeliveryReport> Producer::produce(Record record) {
  auto promise = std::make_shared<std::promise<DeliveryReport>>();
  auto future = promise->get_future();
  produce(std::move(record), [promise](const DeliveryReport& r) { promise->set_value(r); });
  return future;
}

bool Producer::flush(std::chrono::milliseconds timeout) {
  return impl_->wait_idle(timeout);
}

bool Producer::fatal() const {
  return impl_->fatal.load();
}

std::string Producer::fatal_reason() const {
  return impl_->fatal_reason_copy();
}

bool Producer::ping(std::chrono::milliseconds timeout) {
  const rd_kafka_metadata_t* raw = nullptr;
  rd_kafka_resp_err_t err =
      rd_kafka_metadata(impl_->rk.get(), 0, nullptr, &raw, to_timeout_ms(timeout));
  MetadataPtr md(raw);
  return err == RD_KAFKA_RESP_ERR_NO_ERROR && md && md->broker_cnt > 0;
}

std::size_t Producer::warm_up(const std::vector<std::string>& topics,
                              std::chrono::milliseconds timeout) {
  std::size_t known = 0;
  for (const auto& name : topics) {
    rd_kafka_topic_t* topic =
        rd_kafka_topic_new(impl_->rk.get(), kafka_topic(name).c_str(), nullptr);
    if (topic == nullptr) continue;
    const rd_kafka_metadata_t* raw = nullptr;
    rd_kafka_resp_err_t err =
        rd_kafka_metadata(impl_->rk.get(), 0, topic, &raw, to_timeout_ms(timeout));
    MetadataPtr md(raw);
    rd_kafka_topic_destroy(topic);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR && md && md->topic_cnt == 1 &&
        md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR)
      ++known;
  }
  return known;
}

std::int64_t Producer::in_flight() const {
  std::lock_guard lock(impl_->flight_mutex);
  return impl_->in_flight;
}

}  // namespace ticketing::events
