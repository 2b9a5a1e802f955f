#include "ticketing/events/consumer.hpp"

#include <array>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>

#include "message_conversion.hpp"
#include "rdkafka_handles.hpp"
#include "security_conf.hpp"
#include "ticketing/common/error.hpp"
#include "ticketing/common/log.hpp"
#include "ticketing/common/metrics.hpp"
#include "ticketing/events/namespace.hpp"

namespace ticketing::events {

using namespace detail;

namespace {

// Partition lists hold Kafka's names (TOPIC_PREFIX included, namespace.hpp);
// TopicPartition and Message hold this environment's: converted here only.
std::vector<TopicPartition> to_vector(const rd_kafka_topic_partition_list_t* list) {
  std::vector<TopicPartition> out;
  if (list == nullptr) return out;
  out.reserve(static_cast<std::size_t>(list->cnt));
  for (int i = 0; i < list->cnt; ++i)
    out.push_back({local_topic_or_same(list->elems[i].topic), list->elems[i].partition});
  return out;
}

PartitionListPtr one_partition(const std::string& topic, std::int32_t partition,
                               std::int64_t offset = RD_KAFKA_OFFSET_INVALID) {
  PartitionListPtr list(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(list.get(), kafka_topic(topic).c_str(), partition)->offset =
      offset;
  return list;
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string describe(const std::vector<TopicPartition>& parts) {
  std::string out;
  for (const auto& p : parts) {
    if (!out.empty()) out += ',';
    out += p.topic + "[" + std::to_string(p.partition) + "]";
  }
  return out;
}

}  // namespace

const std::string* Message::header(std::string_view name) const {
  for (auto it = headers.rbegin(); it != headers.rend(); ++it) {
    if (it->key == name) return &it->value;
  }
  return nullptr;
}

struct Consumer::Impl {
  ConsumerOptions options;
  KafkaPtr rk;
  bool closed = false;
  RebalanceListener listener;

  std::atomic<bool> fatal{false};
  std::mutex fatal_mutex;
  std::string fatal_reason;  // guarded by fatal_mutex

  // What the lag thread needs of each assigned partition, kept by the
  // polling thread (guarded by progress_mutex).
  struct Progress {
    std::int64_t next = -1;  // next offset to store; -1: none stored since assigned
    std::deque<std::pair<std::int64_t, std::int64_t>> held;  // polled, not stored: offset, ms
  };
  std::mutex progress_mutex;
  std::map<TopicPartition, Progress> progress;
  std::mutex lag_mutex;
  std::condition_variable lag_wake;
  bool lag_stopping = false;  // guarded by lag_mutex
  std::thread lag_thread;

  void track_assigned(const std::vector<TopicPartition>& parts) {
    std::lock_guard lock(progress_mutex);
    for (const auto& p : parts) progress[p] = Progress{};
  }
  void track_revoked(const std::vector<TopicPartition>& parts) {
    {
      std::lock_guard lock(progress_mutex);
      for (const auto& p : parts) progress.erase(p);
    }
    for (const auto& p : parts) publish_lag(p, 0, 0);
  }
  void track_polled(const Message& m) {
    std::lock_guard lock(progress_mutex);
    auto it = progress.find({m.topic, m.partition});
    if (it == progress.end()) return;
    auto& held = it->second.held;
    if (!held.empty() && held.back().first >= m.offset) held.clear();  // read again after a seek
    held.emplace_back(m.offset, m.timestamp_ms >= 0 ? m.timestamp_ms : now_ms());
  }
  void track_stored(const TopicPartition& tp, std::int64_t next) {
    std::lock_guard lock(progress_mutex);
    auto it = progress.find(tp);
    if (it == progress.end()) return;
    it->second.next = next;
    auto& held = it->second.held;
    while (!held.empty() && held.front().first < next) held.pop_front();
  }
  void track_seek(const TopicPartition& tp) {
    std::lock_guard lock(progress_mutex);
    if (auto it = progress.find(tp); it != progress.end()) it->second.held.clear();
  }

  void publish_lag(const TopicPartition& tp, std::int64_t records, double seconds) const {
    const metrics::Labels labels{{"group", options.group_id},
                                 {"topic", tp.topic},
                                 {"partition", std::to_string(tp.partition)}};
    auto& r = metrics::global();
    r.gauge("kafka_consumer_lag", "Records of the partition this group has not handled yet", labels)
        .set(static_cast<double>(records));
    r.gauge("kafka_consumer_lag_seconds",
            "How long the oldest record polled and not yet handled has waited", labels)
        .set(seconds);
  }
  void measure_lag();
  void run_lag_thread();
  void stop_lag_thread() {
    {
      std::lock_guard lock(lag_mutex);
      lag_stopping = true;
    }
    lag_wake.notify_all();
    if (lag_thread.joinable()) lag_thread.join();
  }

  void notify(RebalanceEvent ev, const std::vector<TopicPartition>& parts) {
    if (!listener) return;
    try {
      listener(ev, parts);
    } catch (const std::exception& e) {
      log::error("rebalance listener threw", {{"error", e.what()}});
    }
  }

  void commit_stored(const char* why) {
    rd_kafka_resp_err_t err = rd_kafka_commit(rk.get(), nullptr, 0 /* sync */);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
      log::warn("offset commit failed",
                {{"group", options.group_id}, {"when", why}, {"error", err_text(err)}});
    }
  }

  static void on_rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                           rd_kafka_topic_partition_list_t* parts, void* opaque);
  static void on_error(rd_kafka_t* rk, int err, const char* reason, void* opaque);
  static void on_commit(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                        rd_kafka_topic_partition_list_t* offsets, void* opaque);
};

void Consumer::Impl::on_rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                                  rd_kafka_topic_partition_list_t* parts, void* opaque) {
  auto* self = static_cast<Impl*>(opaque);
  const bool cooperative = std::strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
  const auto list = to_vector(parts);
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    log::info("partitions assigned",
              {{"group", self->options.group_id}, {"partitions", describe(list)}});
    if (cooperative) {
      ErrorPtr e(rd_kafka_incremental_assign(rk, parts));
      if (e) log::error("incremental assign failed", {{"error", rd_kafka_error_string(e.get())}});
    } else {
      rd_kafka_resp_err_t e = rd_kafka_assign(rk, parts);
      if (e != RD_KAFKA_RESP_ERR_NO_ERROR) log::error("assign failed", {{"error", err_text(e)}});
    }
    self->track_assigned(list);
    self->notify(RebalanceEvent::kAssigned, list);
    return;
  }
  if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
    log::info("partitions revoked",
              {{"group", self->options.group_id}, {"partitions", describe(list)}});
    self->notify(RebalanceEvent::kRevoked, list);
    self->track_revoked(list);
    // Hand over exactly what was handled: the next owner starts at the
    // stored offsets. When the assignment is already lost (session timed out)
    // a commit would be rejected, and another member owns the partitions.
    if (!rd_kafka_assignment_lost(rk)) self->commit_stored("revoke");
    // librdkafka keeps an application pause across unassign/assign; a
    // partition handed back later must not come back paused.
    rd_kafka_resume_partitions(rk, parts);
    if (cooperative) {
      ErrorPtr e(rd_kafka_incremental_unassign(rk, parts));
      if (e) log::error("incremental unassign failed", {{"error", rd_kafka_error_string(e.get())}});
    } else {
      rd_kafka_assign(rk, nullptr);
    }
    return;
  }
  log::error("rebalance error", {{"group", self->options.group_id}, {"error", err_text(err)}});
  self->notify(RebalanceEvent::kRevoked, list);
  self->track_revoked(list);
  rd_kafka_assign(rk, nullptr);
}

void Consumer::Impl::on_error(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
  auto* self = static_cast<Impl*>(opaque);
  const auto code = static_cast<rd_kafka_resp_err_t>(err);
  if (code == RD_KAFKA_RESP_ERR__FATAL) {
    std::array<char, 512> buf{};
    rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, buf.data(), buf.size());
    {
      std::lock_guard lock(self->fatal_mutex);
      self->fatal_reason = err_text(orig) + ": " + buf.data();
    }
    self->fatal.store(true);
    log::error("kafka consumer fatal error",
               {{"group", self->options.group_id}, {"reason", buf.data()}});
    return;
  }
  log::warn("kafka consumer error",
            {{"group", self->options.group_id}, {"error", err_text(code)}, {"reason", reason}});
}

void Consumer::Impl::on_commit(rd_kafka_t* /*rk*/, rd_kafka_resp_err_t err,
                               rd_kafka_topic_partition_list_t* /*offsets*/, void* opaque) {
  auto* self = static_cast<Impl*>(opaque);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
    log::warn("offset commit failed",
              {{"group", self->options.group_id}, {"error", err_text(err)}});
  }
}

// One round: each assigned partition's high watermark from its leader, and
// where this group stands: the offset stored last, else the oldest record
// polled and not handled, else the group's committed offset, else the
// consumer's position (nothing read yet: where its first record will come from).
void Consumer::Impl::measure_lag() {
  std::vector<std::pair<TopicPartition, Progress>> parts;
  {
    std::lock_guard lock(progress_mutex);
    for (const auto& [tp, p] : progress) parts.emplace_back(tp, p);
  }
  constexpr int kTimeoutMs = 2000;
  for (auto& [tp, p] : parts) {
    std::int64_t low = 0;
    std::int64_t high = 0;
    if (rd_kafka_query_watermark_offsets(rk.get(), kafka_topic(tp.topic).c_str(), tp.partition,
                                         &low, &high, kTimeoutMs) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      continue;  // leader unreachable: keep the last figure
    }
    std::int64_t next = p.next;
    if (next < 0 && !p.held.empty()) next = p.held.front().first;  // polled, not handled yet
    if (next < 0) {
      PartitionListPtr list = one_partition(tp.topic, tp.partition);
      if (rd_kafka_committed(rk.get(), list.get(), kTimeoutMs) == RD_KAFKA_RESP_ERR_NO_ERROR &&
          list->elems[0].offset >= 0) {
        next = list->elems[0].offset;
        // Until this member stores an offset, the committed one stays: ask once.
        std::lock_guard lock(progress_mutex);
        if (auto it = progress.find(tp); it != progress.end() && it->second.next < 0)
          it->second.next = next;
      } else if (rd_kafka_position(rk.get(), list.get()) == RD_KAFKA_RESP_ERR_NO_ERROR &&
                 list->elems[0].offset >= 0) {
        next = list->elems[0].offset;
      } else {
        continue;  // nothing read yet: no position to measure from
      }
    }
    const std::int64_t records = std::max<std::int64_t>(0, high - std::max(next, low));
    const double waited =
        records > 0 && !p.held.empty()
            ? static_cast<double>(std::max<std::int64_t>(0, now_ms() - p.held.front().second)) /
                  1000.0
            : 0.0;
    // Only while still ours: a partition given up meanwhile was set to 0.
    std::lock_guard lock(progress_mutex);
    if (progress.count(tp) > 0) publish_lag(tp, records, waited);
  }
}

void Consumer::Impl::run_lag_thread() {
  std::unique_lock lock(lag_mutex);
  while (!lag_wake.wait_for(lock, options.lag_interval, [this] { return lag_stopping; })) {
    lock.unlock();
    try {
      measure_lag();
    } catch (const std::exception& e) {
      log::warn("consumer lag not measured", {{"group", options.group_id}, {"error", e.what()}});
    }
    lock.lock();
  }
}

Consumer::Consumer(ConsumerOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  const auto& o = impl_->options;
  if (o.bootstrap_servers.empty()) throw KafkaError("consumer: empty bootstrap servers", false);
  if (o.group_id.empty()) throw KafkaError("consumer: empty group id", false);
  if (o.topics.empty()) throw KafkaError("consumer: no topics", false);

  ConfPtr conf = new_conf();
  set_conf(conf.get(), "bootstrap.servers", o.bootstrap_servers);
  apply_security(conf.get(), o.security);
  set_conf(conf.get(), "group.id", kafka_group(o.group_id));
  set_conf(conf.get(), "client.id", o.client_id);
  set_conf(conf.get(), "auto.offset.reset", o.auto_offset_reset);
  set_conf(conf.get(), "session.timeout.ms", std::to_string(o.session_timeout_ms));
  set_conf(conf.get(), "max.poll.interval.ms", std::to_string(o.max_poll_interval_ms));
  set_conf(conf.get(), "auto.commit.interval.ms", std::to_string(o.auto_commit_interval_ms));
  set_conf(conf.get(), "enable.auto.commit", "true");
  set_conf(conf.get(), "enable.auto.offset.store", "false");
  set_conf(conf.get(), "enable.partition.eof", "false");
  for (const auto& [name, value] : o.extra) {
    if (name == "enable.auto.offset.store" && value != "false") {
      throw KafkaError("consumer: enable.auto.offset.store must stay false (at-least-once)", false);
    }
    set_conf(conf.get(), name, value);
  }
  rd_kafka_conf_set_opaque(conf.get(), impl_.get());
  rd_kafka_conf_set_rebalance_cb(conf.get(), &Impl::on_rebalance);
  rd_kafka_conf_set_error_cb(conf.get(), &Impl::on_error);
  rd_kafka_conf_set_offset_commit_cb(conf.get(), &Impl::on_commit);
  impl_->rk = new_client(RD_KAFKA_CONSUMER, std::move(conf));
  // Serve rebalance/error callbacks from consumer_poll() on the polling thread.
  rd_kafka_poll_set_consumer(impl_->rk.get());

  PartitionListPtr topics(rd_kafka_topic_partition_list_new(static_cast<int>(o.topics.size())));
  for (const auto& t : o.topics) {
    rd_kafka_topic_partition_list_add(topics.get(), kafka_topic(t).c_str(), RD_KAFKA_PARTITION_UA);
  }
  rd_kafka_resp_err_t err = rd_kafka_subscribe(impl_->rk.get(), topics.get());
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw KafkaError("subscribe failed: " + err_text(err), false, err);
  }
  if (o.lag_interval.count() > 0)
    impl_->lag_thread = std::thread([s = impl_.get()] { s->run_lag_thread(); });
}

Consumer::~Consumer() {
  if (!impl_) return;
  close();
  impl_->rk.reset();
}

std::optional<Message> Consumer::poll(std::chrono::milliseconds timeout) {
  Impl& s = *impl_;
  if (s.closed) throw KafkaError("poll on a closed consumer", false);
  MessagePtr m(rd_kafka_consumer_poll(s.rk.get(), to_timeout_ms(timeout)));
  if (s.fatal.load()) {
    std::lock_guard lock(s.fatal_mutex);
    throw KafkaError("consumer fatal error: " + s.fatal_reason, false, RD_KAFKA_RESP_ERR__FATAL);
  }
  if (!m) return std::nullopt;
  if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    const std::string topic = m->rkt != nullptr ? rd_kafka_topic_name(m->rkt) : std::string();
    switch (m->err) {
      case RD_KAFKA_RESP_ERR__PARTITION_EOF:
        log::debug("partition EOF", {{"topic", topic}});
        return std::nullopt;
      case RD_KAFKA_RESP_ERR__FATAL:
      case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
      case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
      case RD_KAFKA_RESP_ERR__AUTHENTICATION:
        throw KafkaError("consume failed: " + err_text(m->err) + " " +
                             std::string(rd_kafka_message_errstr(m.get())),
                         false, m->err);
      default:
        log::warn("consume error", {{"group", s.options.group_id},
                                    {"topic", topic},
                                    {"error", err_text(m->err)},
                                    {"detail", rd_kafka_message_errstr(m.get())}});
        return std::nullopt;
    }
  }
  Message out = to_message(m.get());
  s.track_polled(out);
  return out;
}

bool Consumer::store(const Message& message) {
  return store(TopicPartition{message.topic, message.partition}, message.offset + 1);
}

bool Consumer::store(const TopicPartition& partition, std::int64_t next) {
  PartitionListPtr list = one_partition(partition.topic, partition.partition, next);
  rd_kafka_resp_err_t err = rd_kafka_offsets_store(impl_->rk.get(), list.get());
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) err = list->elems[0].err;
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    log::warn("offset not stored (partition no longer assigned?)",
              {{"topic", partition.topic},
               {"partition", std::to_string(partition.partition)},
               {"next_offset", std::to_string(next)},
               {"error", err_text(err)}});
    return false;
  }
  impl_->track_stored(partition, next);
  return true;
}

void Consumer::commit() {
  rd_kafka_resp_err_t err = rd_kafka_commit(impl_->rk.get(), nullptr, 0);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
    throw KafkaError("commit failed: " + err_text(err), is_retryable(err), err);
  }
}

void Consumer::pause(const std::string& topic, std::int32_t partition) {
  PartitionListPtr list = one_partition(topic, partition);
  rd_kafka_pause_partitions(impl_->rk.get(), list.get());
  if (list->elems[0].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    log::warn("pause failed", {{"topic", topic}, {"error", err_text(list->elems[0].err)}});
  }
}

void Consumer::resume(const std::string& topic, std::int32_t partition) {
  PartitionListPtr list = one_partition(topic, partition);
  rd_kafka_resume_partitions(impl_->rk.get(), list.get());
  if (list->elems[0].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    log::warn("resume failed", {{"topic", topic}, {"error", err_text(list->elems[0].err)}});
  }
}

void Consumer::seek(const std::string& topic, std::int32_t partition, std::int64_t offset) {
  impl_->track_seek({topic, partition});
  PartitionListPtr list = one_partition(topic, partition, offset);
  // Asynchronous (timeout 0): librdkafka 2.0.2 divides a given seek timeout
  // by 1000 by mistake (fixed in 2.1.0).
  ErrorPtr error(rd_kafka_seek_partitions(impl_->rk.get(), list.get(), 0));
  if (error) {
    throw KafkaError(std::string("seek failed: ") + rd_kafka_error_string(error.get()),
                     is_retryable(error.get()), rd_kafka_error_code(error.get()));
  }
}

std::vector<TopicPartition> Consumer::assignment() const {
  rd_kafka_topic_partition_list_t* raw = nullptr;
  rd_kafka_resp_err_t err = rd_kafka_assignment(impl_->rk.get(), &raw);
  PartitionListPtr list(raw);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw KafkaError("assignment failed: " + err_text(err), false, err);
  }
  return to_vector(list.get());
}

std::optional<std::int64_t> Consumer::committed(const std::string& topic, std::int32_t partition,
                                                std::chrono::milliseconds timeout) const {
  PartitionListPtr list = one_partition(topic, partition);
  rd_kafka_resp_err_t err = rd_kafka_committed(impl_->rk.get(), list.get(), to_timeout_ms(timeout));
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) err = list->elems[0].err;
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw KafkaError("committed() failed: " + err_text(err), is_retryable(err), err);
  }
  const std::int64_t off = list->elems[0].offset;
  if (off < 0) return std::nullopt;
  return off;
}

void Consumer::set_rebalance_listener(RebalanceListener listener) {
  impl_->listener = std::move(listener);
}

void Consumer::close() {
  Impl& s = *impl_;
  s.stop_lag_thread();  // it uses the handle
  if (s.closed || !s.rk) return;
  s.closed = true;
  // Triggers the revoke callback (which commits) and the final auto-commit.
  rd_kafka_resp_err_t err = rd_kafka_consumer_close(s.rk.get());
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    log::warn("consumer close", {{"group", s.options.group_id}, {"error", err_text(err)}});
  }
}

bool Consumer::closed() const {
  return impl_->closed;
}

const ConsumerOptions& Consumer::options() const {
  return impl_->options;
}

}  // namespace ticketing::events
