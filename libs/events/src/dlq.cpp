#include "ticketing/events/dlq.hpp"

#include <algorithm>
#include <condition_variable>
#include <map>
#include <mutex>
#include <new>
#include <optional>
#include <random>
#include <system_error>
#include <thread>
#include <vector>

#include "ticketing/common/error.hpp"
#include "ticketing/common/ids.hpp"
#include "ticketing/common/log.hpp"
#include "ticketing/common/metrics.hpp"
#include "ticketing/events/event_producer.hpp"
#include "ticketing/events/topics.hpp"

namespace ticketing::events {

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kMaxErrorHeader = 4096;

metrics::Counter& consumed_counter(const std::string& topic, const char* result) {
  return metrics::global().counter("events_consumed_total",
                                   "Records consumed, by topic and final outcome",
                                   {{"topic", topic}, {"result", result}});
}

metrics::Counter& dead_letter_counter(const std::string& topic) {
  return metrics::global().counter("events_dead_lettered_total",
                                   "Records handed to a dead-letter topic, by original topic",
                                   {{"topic", topic}});
}

metrics::Gauge& stalled_gauge(const TopicPartition& tp) {
  return metrics::global().gauge(
      "events_partition_stalled_seconds",
      "How long the record at the head of a partition has been failing (0: flowing)",
      {{"topic", tp.topic}, {"partition", std::to_string(tp.partition)}});
}

metrics::Counter& retry_counter(const std::string& topic) {
  return metrics::global().counter("events_handler_retries_total",
                                   "Failed handler attempts that were retried, by topic",
                                   {{"topic", topic}});
}

// One record on its way through the loop.
struct Work {
  Message msg;
  std::optional<Envelope> envelope;
  std::string trace_id;
  int attempts = 0;   // handler calls so far (1 for a poison pill)
  std::string error;  // last failure
  Clock::time_point first_failure{};
  bool poison = false;
  bool refetch = false;  // later records of the partition were dropped: seek on release
};

enum class Stage { kBackoff, kDlqInFlight, kDlqBackoff };

struct Blocked {
  Work work;
  Stage stage = Stage::kBackoff;
  Clock::time_point due{};
  std::uint64_t token = 0;  // matches a DLQ delivery report to this state
};

struct Completion {
  std::uint64_t token;
  DeliveryReport report;
};

// Filled by the producer's delivery thread, drained by the polling thread.
// Shared so a late report after the loop is gone touches nothing freed.
struct Mailbox {
  std::mutex mutex;
  std::condition_variable cv;
  std::vector<Completion> items;

  void put(Completion c) {
    {
      std::lock_guard lock(mutex);
      items.push_back(std::move(c));
    }
    cv.notify_all();
  }
  // Waits for the report of one dead letter and takes it out of the box.
  std::optional<DeliveryReport> take(std::uint64_t token, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex);
    std::optional<DeliveryReport> out;
    cv.wait_for(lock, timeout, [&] {
      auto it = std::find_if(items.begin(), items.end(),
                             [token](const Completion& c) { return c.token == token; });
      if (it == items.end()) return false;
      out = std::move(it->report);
      items.erase(it);
      return true;
    });
    return out;
  }
};

std::string field(const Work& w) {
  return w.envelope ? w.envelope->event_id : std::string();
}

}  // namespace

std::string dlq_topic_for(std::string_view topic) {
  constexpr std::string_view kNotifications = "notifications.";
  if (topic.substr(0, kNotifications.size()) == kNotifications) {
    return std::string(topics::kNotificationsDlq);
  }
  return std::string(topic) + ".dlq";
}

Record make_dead_letter(const Message& message, std::string_view error, int attempts,
                        std::string_view consumer_group, std::string dlq_topic) {
  Record r;
  r.topic = dlq_topic.empty() ? dlq_topic_for(message.topic) : std::move(dlq_topic);
  r.key = message.key;
  r.value = message.value;
  r.headers = message.headers;
  auto add = [&r](std::string_view k, std::string v) {
    r.headers.push_back({std::string(k), std::move(v)});
  };
  add(dlq_header::kOriginalTopic, message.topic);
  add(dlq_header::kOriginalPartition, std::to_string(message.partition));
  add(dlq_header::kOriginalOffset, std::to_string(message.offset));
  add(dlq_header::kOriginalKey, message.key);
  add(dlq_header::kError, std::string(error.substr(0, kMaxErrorHeader)));
  add(dlq_header::kAttempts, std::to_string(attempts));
  add(dlq_header::kConsumerGroup, std::string(consumer_group));
  add(dlq_header::kFailedAt, now_rfc3339());
  return r;
}

std::chrono::milliseconds RetryPolicy::backoff(int failed_attempts) const {
  double ms = static_cast<double>(initial_backoff.count());
  for (int i = 1; i < failed_attempts && ms < static_cast<double>(max_backoff.count()); ++i) {
    ms *= multiplier;
  }
  ms = std::min(ms, static_cast<double>(max_backoff.count()));
  return std::chrono::milliseconds(static_cast<std::int64_t>(ms));
}

std::chrono::milliseconds RetryPolicy::jittered(int failed_attempts, std::minstd_rand& rng) const {
  const auto full = backoff(failed_attempts);
  const double spread = std::clamp(jitter, 0.0, 1.0) * static_cast<double>(full.count());
  std::uniform_real_distribution<double> cut(0.0, spread);
  return std::chrono::milliseconds(
      static_cast<std::int64_t>(static_cast<double>(full.count()) - cut(rng)));
}

void StallBoard::update(const TopicPartition& tp, Clock::time_point since, int attempts,
                        const std::string& error) {
  std::lock_guard lock(mutex_);
  entries_.insert_or_assign(tp, Entry{since, attempts, error});
}

void StallBoard::clear(const TopicPartition& tp) {
  std::lock_guard lock(mutex_);
  entries_.erase(tp);
}

std::vector<StallBoard::Stall> StallBoard::longer_than(Clock::duration threshold) const {
  const auto now = Clock::now();
  std::vector<Stall> out;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [tp, e] : entries_) {
      if (now - e.since >= threshold) out.push_back({tp, now - e.since, e.attempts, e.error});
    }
  }
  std::sort(out.begin(), out.end(),
            [](const Stall& a, const Stall& b) { return a.stalled_for > b.stalled_for; });
  return out;
}

struct HandlingLoop::Impl {
  Impl(Consumer& c, Producer& p, EventHandler h, HandlingOptions o, const SchemaRegistry& s)
      : consumer(c), producer(p), handler(std::move(h)), options(std::move(o)), schemas(s) {
    group = options.consumer_group.empty() ? consumer.options().group_id : options.consumer_group;
    if (options.retry.max_attempts < 1) options.retry.max_attempts = 1;
    if (!options.stalls) options.stalls = std::make_shared<StallBoard>();
  }

  Consumer& consumer;
  Producer& producer;
  EventHandler handler;
  HandlingOptions options;
  const SchemaRegistry& schemas;
  std::string group;

  std::map<TopicPartition, Blocked> blocked;
  std::shared_ptr<Mailbox> mailbox = std::make_shared<Mailbox>();
  std::uint64_t next_token = 0;
  Stats stats;
  std::minstd_rand rng{std::random_device{}()};

  // The partition flows again (or is no longer ours).
  void unstall(const TopicPartition& tp) {
    options.stalls->clear(tp);
    stalled_gauge(tp).set(0);
  }

  void refresh_stalls() const {
    const auto now = Clock::now();
    for (const auto& [tp, b] : blocked) {
      stalled_gauge(tp).set(std::chrono::duration<double>(now - b.work.first_failure).count());
    }
  }

  void on_rebalance(RebalanceEvent ev, const std::vector<TopicPartition>& parts) {
    // librdkafka keeps an application pause on a partition across unassign
    // and assign: a partition revoked while paused here would come back
    // paused for good. So: resume on revoke, and resume whatever is assigned
    // without a blocked record of ours.
    if (ev == RebalanceEvent::kAssigned) {
      for (const auto& tp : parts) {
        if (blocked.count(tp) == 0) consumer.resume(tp.topic, tp.partition);
      }
      return;
    }
    // Nothing of a revoked partition was stored past its blocked record, so
    // the next owner gets that record again; forget it here.
    for (const auto& tp : parts) {
      if (blocked.erase(tp) > 0) {
        ++stats.dropped_on_revoke;
        unstall(tp);
        consumer.resume(tp.topic, tp.partition);
        log::info("dropping blocked record of revoked partition",
                  {{"topic", tp.topic}, {"partition", std::to_string(tp.partition)}});
      }
    }
  }

  void block(const TopicPartition& tp, Blocked b, bool already_paused) {
    if (!already_paused) consumer.pause(tp.topic, tp.partition);
    options.stalls->update(tp, b.work.first_failure, b.work.attempts, b.work.error);
    blocked.insert_or_assign(tp, std::move(b));
  }

  void release(const TopicPartition& tp, const Work& w) {
    if (w.refetch) {
      try {
        consumer.seek(tp.topic, tp.partition, w.msg.offset + 1);
      } catch (const std::exception& e) {
        // Resume anyway: a partition left paused would stall for good.
        log::error("seek after a blocked record failed",
                   {{"topic", tp.topic},
                    {"partition", std::to_string(tp.partition)},
                    {"error", e.what()}});
      }
    }
    consumer.resume(tp.topic, tp.partition);
    unstall(tp);
  }

  void process(Message m) {
    TopicPartition tp{m.topic, m.partition};
    if (auto it = blocked.find(tp); it != blocked.end()) {
      // Pausing drops the partition's prefetched records, so this is not
      // expected; if it happens, re-read them once the blocked one is settled.
      it->second.work.refetch = true;
      log::warn("record of a blocked partition polled; will re-read it",
                {{"topic", m.topic},
                 {"partition", std::to_string(m.partition)},
                 {"offset", std::to_string(m.offset)}});
      return;
    }
    Work w;
    w.msg = std::move(m);
    if (options.parse_envelopes) {
      try {
        Envelope e = parse_envelope(w.msg.value);
        schemas.validate(e.type, w.msg.value);
        w.envelope = std::move(e);
      } catch (const PoisonError& e) {
        w.attempts = 1;
        w.first_failure = Clock::now();
        w.poison = true;
        w.error = std::string("poison: ") + e.what();
        log::warn("poison record, dead-lettering", {{"topic", w.msg.topic},
                                                    {"partition", std::to_string(w.msg.partition)},
                                                    {"offset", std::to_string(w.msg.offset)},
                                                    {"error", w.error}});
        start_dead_letter(tp, std::move(w), false);
        return;
      }
    }
    if (const std::string* tpv = w.msg.header(kTraceparentHeader)) {
      w.trace_id = trace_id_from_traceparent(*tpv);
    }
    if (w.trace_id.empty() && w.envelope && is_valid_trace_id(w.envelope->trace_id)) {
      w.trace_id = w.envelope->trace_id;
    }
    attempt(tp, std::move(w), false);
  }

  void attempt(const TopicPartition& tp, Work w, bool paused) {
    ++w.attempts;
    enum class Kind { kOutage, kPermanent, kUnknown } kind = Kind::kUnknown;
    try {
      handler(Event{w.msg, w.envelope ? &*w.envelope : nullptr, w.trace_id, w.attempts});
      consumer.store(w.msg);
      ++stats.handled;
      consumed_counter(w.msg.topic, "ok").inc();
      if (paused) release(tp, w);
      return;
    } catch (const InfraError& e) {
      w.error = e.what();
      kind = e.retryable() ? Kind::kOutage : Kind::kPermanent;
    } catch (const PoisonError& e) {
      w.error = std::string("poison: ") + e.what();
      kind = Kind::kPermanent;
    } catch (const std::bad_alloc& e) {
      w.error = e.what();
      kind = Kind::kOutage;  // memory comes back
    } catch (const std::system_error& e) {
      w.error = e.what();
      kind = Kind::kOutage;  // threads, descriptors, sockets come back
    } catch (const std::exception& e) {
      w.error = e.what();
    } catch (...) {
      w.error = "unknown exception";
    }
    if (w.attempts == 1) w.first_failure = Clock::now();
    const int limit = kind == Kind::kOutage    ? options.retry.max_infra_attempts
                      : kind == Kind::kUnknown ? options.retry.max_attempts
                                               : 1;
    if (kind != Kind::kPermanent && (limit <= 0 || w.attempts < limit)) {
      const auto delay = options.retry.jittered(w.attempts, rng);
      ++stats.retries;
      retry_counter(w.msg.topic).inc();
      log::warn("handler failed, will retry", {{"topic", w.msg.topic},
                                               {"partition", std::to_string(w.msg.partition)},
                                               {"offset", std::to_string(w.msg.offset)},
                                               {"event_id", field(w)},
                                               {"trace_id", w.trace_id},
                                               {"attempt", std::to_string(w.attempts)},
                                               {"backoff_ms", std::to_string(delay.count())},
                                               {"error", w.error}});
      Blocked b;
      b.stage = Stage::kBackoff;
      b.due = Clock::now() + delay;
      b.work = std::move(w);
      block(tp, std::move(b), paused);
      return;
    }
    log::error("handler failed, dead-lettering", {{"topic", w.msg.topic},
                                                  {"partition", std::to_string(w.msg.partition)},
                                                  {"offset", std::to_string(w.msg.offset)},
                                                  {"event_id", field(w)},
                                                  {"trace_id", w.trace_id},
                                                  {"attempts", std::to_string(w.attempts)},
                                                  {"error", w.error}});
    start_dead_letter(tp, std::move(w), paused);
  }

  void start_dead_letter(const TopicPartition& tp, Work w, bool paused) {
    Blocked b;
    b.token = ++next_token;
    b.stage = Stage::kDlqInFlight;
    Record r = make_dead_letter(w.msg, w.error, w.attempts, group, options.dlq_topic);
    const std::string dlq = r.topic;
    b.work = std::move(w);
    try {
      producer.produce(std::move(r), [mb = mailbox, token = b.token](const DeliveryReport& rep) {
        mb->put({token, rep});
      });
    } catch (const std::exception& e) {
      ++stats.dlq_failures;
      log::error("dead letter could not be enqueued; will retry",
                 {{"dlq_topic", dlq},
                  {"topic", b.work.msg.topic},
                  {"offset", std::to_string(b.work.msg.offset)},
                  {"error", e.what()}});
      b.stage = Stage::kDlqBackoff;
      b.due = Clock::now() + options.dlq_retry_backoff;
      block(tp, std::move(b), paused);
      return;
    }
    // Fast path: the ack usually arrives within milliseconds, and waiting for
    // it here spares the partition a pause/resume (and the refetch after it).
    if (auto rep = mailbox->take(b.token, options.dlq_ack_wait)) {
      settle(tp, std::move(b), *rep, paused);
      return;
    }
    block(tp, std::move(b), paused);  // slow path: settle_dead_letters() finishes it
  }

  // A dead letter's delivery report arrived; the record's partition is paused
  // when `paused`.
  void settle(const TopicPartition& tp, Blocked b, const DeliveryReport& rep, bool paused) {
    Work& w = b.work;
    if (!rep.ok) {
      ++stats.dlq_failures;
      log::error("dead letter not acknowledged; will retry",
                 {{"dlq_topic", rep.topic},
                  {"topic", w.msg.topic},
                  {"offset", std::to_string(w.msg.offset)},
                  {"error", rep.error}});
      b.stage = Stage::kDlqBackoff;
      b.due = Clock::now() + options.dlq_retry_backoff;
      block(tp, std::move(b), paused);
      return;
    }
    consumer.store(w.msg);
    ++stats.dead_lettered;
    if (w.poison) ++stats.poison;
    consumed_counter(w.msg.topic, "dead_lettered").inc();
    dead_letter_counter(w.msg.topic).inc();
    log::info("record dead-lettered", {{"topic", w.msg.topic},
                                       {"partition", std::to_string(w.msg.partition)},
                                       {"offset", std::to_string(w.msg.offset)},
                                       {"dlq_topic", rep.topic},
                                       {"dlq_offset", std::to_string(rep.offset)},
                                       {"event_id", field(w)}});
    if (paused) release(tp, w);
  }

  void settle_dead_letters() {
    std::vector<Completion> items;
    {
      std::lock_guard lock(mailbox->mutex);
      items.swap(mailbox->items);
    }
    for (auto& c : items) {
      auto it = std::find_if(blocked.begin(), blocked.end(), [&c](const auto& kv) {
        return kv.second.stage == Stage::kDlqInFlight && kv.second.token == c.token;
      });
      if (it == blocked.end()) continue;  // partition revoked meanwhile
      auto node = blocked.extract(it);
      settle(node.key(), std::move(node.mapped()), c.report, true);
    }
  }

  void run_due() {
    const auto now = Clock::now();
    std::vector<TopicPartition> due;
    for (const auto& [tp, b] : blocked) {
      if (b.stage != Stage::kDlqInFlight && b.due <= now) due.push_back(tp);
    }
    for (const auto& tp : due) {
      auto node = blocked.extract(tp);
      if (node.empty()) continue;
      Blocked b = std::move(node.mapped());
      if (b.stage == Stage::kBackoff) {
        attempt(tp, std::move(b.work), true);
      } else {
        start_dead_letter(tp, std::move(b.work), true);
      }
    }
  }

  std::chrono::milliseconds wait_budget(std::chrono::milliseconds max_wait) const {
    auto wait = max_wait;
    const auto now = Clock::now();
    for (const auto& [tp, b] : blocked) {
      if (b.stage == Stage::kDlqInFlight) {
        wait = std::min(wait, std::chrono::milliseconds(10));
      } else {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(b.due - now);
        wait = std::min(wait, std::max(left, std::chrono::milliseconds(0)));
      }
    }
    return wait;
  }

  bool dead_letters_in_flight() const {
    return std::any_of(blocked.begin(), blocked.end(),
                       [](const auto& kv) { return kv.second.stage == Stage::kDlqInFlight; });
  }
};

HandlingLoop::HandlingLoop(Consumer& consumer, Producer& dlq_producer, EventHandler handler,
                           HandlingOptions options, const SchemaRegistry& schemas)
    : impl_(std::make_unique<Impl>(consumer, dlq_producer, std::move(handler), std::move(options),
                                   schemas)) {
  Impl* self = impl_.get();
  consumer.set_rebalance_listener(
      [self](RebalanceEvent ev, const std::vector<TopicPartition>& parts) {
        self->on_rebalance(ev, parts);
      });
}

HandlingLoop::~HandlingLoop() {
  if (!impl_) return;
  impl_->consumer.set_rebalance_listener(nullptr);
  // The board may outlive this loop (the host's): what was blocked here is
  // no longer ours to report.
  for (const auto& [tp, b] : impl_->blocked) impl_->unstall(tp);
}

void HandlingLoop::poll_once(std::chrono::milliseconds max_wait) {
  Impl& s = *impl_;
  s.settle_dead_letters();
  s.run_due();
  s.refresh_stalls();
  auto msg = s.consumer.poll(s.wait_budget(max_wait));
  if (msg) s.process(std::move(*msg));
  s.settle_dead_letters();
}

void HandlingLoop::run(const std::atomic<bool>& stop, std::chrono::milliseconds poll_timeout,
                       std::chrono::milliseconds drain_timeout) {
  while (!stop.load()) poll_once(poll_timeout);
  const auto deadline = Clock::now() + drain_timeout;
  while (impl_->dead_letters_in_flight() && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    impl_->settle_dead_letters();
  }
}

HandlingLoop::Stats HandlingLoop::stats() const {
  return impl_->stats;
}

std::size_t HandlingLoop::blocked_partitions() const {
  return impl_->blocked.size();
}

const StallBoard& HandlingLoop::stalls() const {
  return *impl_->options.stalls;
}

}  // namespace ticketing::events
