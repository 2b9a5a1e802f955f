#include "events/relay_worker.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <random>
#include <set>

#include "events/confirmed.hpp"
#include "store/dedupe_store.hpp"
#include "ticketing/common/error.hpp"
#include "ticketing/common/log.hpp"
#include "ticketing/common/metrics.hpp"
#include "ticketing/common/stop.hpp"
#include "ticketing/events/consumer.hpp"
#include "ticketing/events/dlq.hpp"
#include "ticketing/events/envelope.hpp"
#include "ticketing/events/event_producer.hpp"
#include "ticketing/events/producer.hpp"
#include "ticketing/events/schema.hpp"
#include "ticketing/http/client.hpp"

namespace ticketing::relay {

namespace {

using events::TopicPartition;
using std::chrono::milliseconds;

constexpr std::string_view kHttpStatusHeader = "dlq-http-status";

struct Metrics {
  metrics::Registry& r = metrics::global();
  metrics::Counter& delivered =
      r.counter("relay_delivered_total", "Reservations accepted by the data platform");
  metrics::Counter& retried =
      r.counter("relay_retries_total", "Failed platform attempts that will be retried");
  metrics::Counter& dlq_poison =
      r.counter("relay_dead_lettered_total", "Records sent to the DLQ", {{"reason", "poison"}});
  metrics::Counter& dlq_rejected =
      r.counter("relay_dead_lettered_total", "Records sent to the DLQ", {{"reason", "rejected"}});
  metrics::Counter& dlq_exhausted =
      r.counter("relay_dead_lettered_total", "Records sent to the DLQ", {{"reason", "exhausted"}});
  metrics::Counter& suppressed =
      r.counter("relay_duplicates_suppressed_total",
                "Records already delivered (redelivery, replay), not sent again");
  metrics::Gauge& breaker_state =
      r.gauge("relay_breaker_state", "Circuit breaker: 0 closed, 1 open, 2 half-open");
  metrics::Counter& breaker_opened =
      r.counter("relay_breaker_opened_total", "Times the breaker opened");
  metrics::Histogram& latency =
      r.histogram("relay_delivery_latency_seconds",
                  "First attempt to platform acceptance, per delivered record");
  metrics::Gauge& assigned =
      r.gauge("relay_assigned_partitions", "Partitions assigned to this member");
  metrics::Gauge& paused = r.gauge("relay_paused_partitions", "Partitions paused (retry, breaker)");
  metrics::Counter& infra_errors =
      r.counter("relay_infra_errors_total", "Redis or DLQ hand-off failures (retried)");
};

enum class Stage { kSend, kMark, kDeadLetter };
enum class DlqReason { kPoison, kRejected, kExhausted };

struct Pending {
  events::Message msg;
  std::int64_t reservation_id = 0;
  std::string body;
  std::string trace_id;
  std::string event_id;
  Stage stage = Stage::kSend;
  int attempts = 0;  // counted platform attempts (not those made while the breaker opened)
  int http_status = 0;
  std::string error;
  DlqReason reason = DlqReason::kRejected;
  Clock::time_point due{};
  std::optional<Clock::time_point> first_attempt;
};

std::string fields_of(const events::Message& m) {
  return m.topic + "/" + std::to_string(m.partition) + "@" + std::to_string(m.offset);
}

}  // namespace

struct RelayWorker::Impl {
  Impl(RelayConfig c, events::Producer& p, DedupeStore& d)
      : config(std::move(c)),
        producer(p),
        dedupe(d),
        client(http::ClientOptions{config.tls_verify, config.ca_file, 64 * 1024,
                                   "dataplatform-relay"}),
        breaker(config.breaker),
        rng(std::random_device{}()) {}

  RelayConfig config;
  events::Producer& producer;
  DedupeStore& dedupe;
  http::Client client;
  CircuitBreaker breaker;
  std::mt19937_64 rng;
  Metrics m;
  const events::SchemaRegistry& schemas = events::SchemaRegistry::builtin();

  events::Consumer* consumer = nullptr;
  std::map<TopicPartition, Pending> pending;
  std::set<TopicPartition> paused;  // paused by us
  std::uint64_t breaker_opened_seen = 0;

  void update_gauges() {
    m.breaker_state.set(static_cast<double>(static_cast<int>(breaker.current())));
    m.paused.set(static_cast<double>(paused.size()));
    if (breaker.times_opened() > breaker_opened_seen) {
      m.breaker_opened.inc(breaker.times_opened() - breaker_opened_seen);
      breaker_opened_seen = breaker.times_opened();
    }
  }

  void pause(const TopicPartition& tp) {
    if (paused.insert(tp).second) consumer->pause(tp.topic, tp.partition);
  }
  void resume(const TopicPartition& tp) {
    if (paused.erase(tp) > 0) consumer->resume(tp.topic, tp.partition);
  }
  void pause_all() {
    for (const auto& tp : consumer->assignment()) pause(tp);
  }
  void resume_free() {
    for (auto it = paused.begin(); it != paused.end();) {
      if (pending.count(*it) == 0) {
        consumer->resume(it->topic, it->partition);
        it = paused.erase(it);
      } else {
        ++it;
      }
    }
  }

  void on_rebalance(events::RebalanceEvent ev, const std::vector<TopicPartition>& parts) {
    if (ev == events::RebalanceEvent::kAssigned) {
      // A partition handed to us while the breaker is not closed waits too.
      if (breaker.current() != BreakerState::kClosed) {
        for (const auto& tp : parts) pause(tp);
      }
    } else {
      // Nothing past a pending record was stored: its next owner gets it again.
      for (const auto& tp : parts) {
        if (pending.erase(tp) > 0) {
          log::info("dropping pending record of revoked partition",
                    {{"partition", std::to_string(tp.partition)}});
        }
        paused.erase(tp);  // the consumer resumes revoked partitions itself
      }
    }
    m.assigned.set(static_cast<double>(consumer->assignment().size()));
  }

  // A record arrived that must wait (its partition has a pending record or
  // the breaker is not closed): pausing normally drops prefetched records,
  // so this is rare; read it again from here once the partition runs.
  void put_back(const events::Message& msg) {
    TopicPartition tp{msg.topic, msg.partition};
    pause(tp);
    try {
      consumer->seek(msg.topic, msg.partition, msg.offset);
    } catch (const std::exception& e) {
      log::error("seek back failed", {{"record", fields_of(msg)}, {"error", e.what()}});
    }
  }

  void accept(events::Message msg, Clock::time_point now) {
    TopicPartition tp{msg.topic, msg.partition};
    if (pending.count(tp) > 0 || breaker.current() != BreakerState::kClosed) {
      put_back(msg);
      return;
    }
    Pending p;
    p.msg = std::move(msg);
    try {
      Confirmed c = parse_confirmed(p.msg.value, p.msg.header(events::kTraceparentHeader), schemas);
      p.reservation_id = c.reservation_id;
      p.event_id = std::move(c.event_id);
      p.trace_id = std::move(c.trace_id);
      p.body = std::move(c.body);
    } catch (const PoisonError& e) {
      p.stage = Stage::kDeadLetter;
      p.attempts = 1;
      p.reason = DlqReason::kPoison;
      p.error = std::string("poison: ") + e.what();
      log::warn("poison record, dead-lettering",
                {{"record", fields_of(p.msg)}, {"error", p.error}});
    }
    p.due = now;
    advance(tp, std::move(p), now);
  }

  // Runs the record's state machine as far as it goes now. It either
  // finishes (offset stored, partition free) or waits in `pending` with its
  // partition paused.
  void advance(const TopicPartition& tp, Pending p, Clock::time_point now) {
    for (;;) {
      bool done = false;
      bool wait = false;
      switch (p.stage) {
        case Stage::kSend:
          step_send(p, now, done, wait);
          break;
        case Stage::kMark:
          step_mark(p, now, done, wait);
          break;
        case Stage::kDeadLetter:
          step_dead_letter(p, now, done, wait);
          break;
      }
      if (done) {
        consumer->store(p.msg);
        pending.erase(tp);
        if (breaker.current() == BreakerState::kClosed) resume(tp);
        return;
      }
      if (wait) {
        pause(tp);
        pending.insert_or_assign(tp, std::move(p));
        return;
      }
    }
  }

  void step_send(Pending& p, Clock::time_point now, bool& done, bool& wait) {
    try {
      if (dedupe.delivered(p.reservation_id)) {
        m.suppressed.inc();
        log::info("already delivered, suppressing duplicate",
                  {{"reservation_id", std::to_string(p.reservation_id)},
                   {"event_id", p.event_id},
                   {"trace_id", p.trace_id}});
        done = true;
        return;
      }
    } catch (const InfraError& e) {
      m.infra_errors.inc();
      log::warn("dedupe check failed; will retry", {{"error", e.what()}});
      p.due = now + config.infra_retry;
      wait = true;
      return;
    }
    if (!breaker.allow(now)) {
      wait = true;  // retried as the probe once the breaker half-opens
      p.due = now;
      return;
    }
    if (!p.first_attempt) p.first_attempt = now;
    http::ClientRequest req;
    req.method = "POST";
    req.url = config.endpoint;
    req.headers = {{"Content-Type", "application/json"},
                   {"X-Idempotency-Key", idempotency_key(p.reservation_id)},
                   {"traceparent", events::make_traceparent(p.trace_id)}};
    req.body = p.body;
    req.total_timeout = config.timeout;
    req.connect_timeout = std::min(config.timeout, milliseconds(2000));
    int status = 0;
    bool transport_retryable = true;
    std::string error;
    std::optional<milliseconds> retry_after;
    try {
      http::ClientResponse resp = client.send(req);
      status = resp.status;
      if (auto ra = resp.header("retry-after")) retry_after = parse_retry_after(*ra);
      if (status < 200 || status >= 300) {
        error = "http " + std::to_string(status) + ": " + resp.body.substr(0, 300);
      }
    } catch (const HttpClientError& e) {
      transport_retryable = e.retryable();
      error = e.what();
    }
    const Clock::time_point after = Clock::now();
    p.http_status = status;
    switch (classify(status, transport_retryable)) {
      case Outcome::kDelivered:
        breaker.on_success();
        m.delivered.inc();
        m.latency.observe(std::chrono::duration<double>(after - *p.first_attempt).count());
        p.stage = Stage::kMark;
        return;
      case Outcome::kNonRetryable:
        if (status != 0) breaker.on_success();  // the platform is up; it refused this record
        ++p.attempts;
        p.error = error;
        p.reason = DlqReason::kRejected;
        p.stage = Stage::kDeadLetter;
        log::warn("platform rejected record, dead-lettering",
                  {{"reservation_id", std::to_string(p.reservation_id)},
                   {"event_id", p.event_id},
                   {"trace_id", p.trace_id},
                   {"error", error}});
        return;
      case Outcome::kRetryable:
        break;
    }
    p.error = error;
    const BreakerState before = breaker.current();
    breaker.on_failure(after);
    wait = true;
    if (before != BreakerState::kClosed || breaker.current() != BreakerState::kClosed) {
      // The platform is down, not this record: no attempt is counted and the
      // record waits for the breaker's probe.
      p.due = after;
      if (before == BreakerState::kClosed) {
        log::warn("circuit breaker opened", {{"error", error}});
      } else {
        log::info("breaker probe failed; open again", {{"error", error}});
      }
      return;
    }
    ++p.attempts;
    if (config.max_attempts > 0 && p.attempts >= config.max_attempts) {
      wait = false;
      p.reason = DlqReason::kExhausted;
      p.stage = Stage::kDeadLetter;
      return;
    }
    m.retried.inc();
    milliseconds delay = config.backoff.delay(p.attempts, rng);
    if (retry_after) delay = std::max(delay, std::min(*retry_after, config.backoff.max));
    p.due = after + delay;
    log::info("delivery failed; retrying", {{"reservation_id", std::to_string(p.reservation_id)},
                                            {"trace_id", p.trace_id},
                                            {"attempt", std::to_string(p.attempts)},
                                            {"delay_ms", std::to_string(delay.count())},
                                            {"error", error}});
  }

  void step_mark(Pending& p, Clock::time_point now, bool& done, bool& wait) {
    try {
      dedupe.mark_delivered(p.reservation_id);
      done = true;
    } catch (const InfraError& e) {
      m.infra_errors.inc();
      log::warn("marking delivered failed; will retry", {{"error", e.what()}});
      p.due = now + config.infra_retry;
      wait = true;
    }
  }

  void step_dead_letter(Pending& p, Clock::time_point now, bool& done, bool& wait) {
    events::Record rec = events::make_dead_letter(p.msg, p.error, std::max(1, p.attempts),
                                                  config.consumer_group, config.dlq_topic);
    rec.headers.push_back({std::string(kHttpStatusHeader), std::to_string(p.http_status)});
    try {
      auto fut = producer.produce(std::move(rec));
      if (fut.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
        throw KafkaError("dead letter not acknowledged in time", true);
      }
      events::DeliveryReport rep = fut.get();
      if (!rep.ok) throw KafkaError(rep.error, true);
    } catch (const std::exception& e) {
      m.infra_errors.inc();
      log::error("dead letter failed; will retry",
                 {{"record", fields_of(p.msg)}, {"error", e.what()}});
      p.due = now + config.infra_retry;
      wait = true;
      return;
    }
    switch (p.reason) {
      case DlqReason::kPoison:
        m.dlq_poison.inc();
        break;
      case DlqReason::kRejected:
        m.dlq_rejected.inc();
        break;
      case DlqReason::kExhausted:
        m.dlq_exhausted.inc();
        break;
    }
    log::warn("dead-lettered", {{"record", fields_of(p.msg)},
                                {"error", p.error},
                                {"attempts", std::to_string(p.attempts)}});
    done = true;
  }

  // Runs what is due among the waiting records. In half-open only the
  // probe goes out (breaker.allow admits exactly one send).
  void run_due(Clock::time_point now) {
    std::vector<TopicPartition> due;
    for (const auto& [tp, p] : pending) {
      if (p.due <= now) due.push_back(tp);
    }
    std::sort(due.begin(), due.end(), [this](const TopicPartition& a, const TopicPartition& b) {
      return pending.at(a).due < pending.at(b).due;
    });
    for (const auto& tp : due) {
      auto it = pending.find(tp);
      if (it == pending.end()) continue;
      if (it->second.stage == Stage::kSend && breaker.state(Clock::now()) == BreakerState::kOpen)
        continue;
      Pending p = std::move(it->second);
      pending.erase(it);
      advance(tp, std::move(p), Clock::now());
    }
  }

  [[nodiscard]] milliseconds poll_wait(Clock::time_point now) const {
    milliseconds wait{100};
    const bool open = breaker.current() == BreakerState::kOpen;
    for (const auto& [tp, p] : pending) {
      if (open && p.stage == Stage::kSend) continue;  // waits for the probe
      if (p.due <= now) return milliseconds(0);
      wait =
          std::min(wait, std::chrono::duration_cast<milliseconds>(p.due - now) + milliseconds(1));
    }
    if (breaker.current() == BreakerState::kOpen && breaker.reopens_at() > now) {
      wait = std::min(wait, std::chrono::duration_cast<milliseconds>(breaker.reopens_at() - now) +
                                milliseconds(1));
    }
    return wait;
  }

  void iterate() {
    Clock::time_point now = Clock::now();
    const BreakerState st = breaker.state(now);
    if (st == BreakerState::kClosed) {
      resume_free();
    } else {
      pause_all();
      if (st == BreakerState::kHalfOpen) {
        // The probe is the waiting record due first (run_due below).
        bool has_probe = false;
        for (const auto& [tp, p] : pending) has_probe = has_probe || p.stage == Stage::kSend;
        // Nothing to probe with (e.g. its partition was revoked): close and
        // let the next record find out.
        if (!has_probe) breaker.on_success();
      }
    }
    run_due(now);
    update_gauges();
    now = Clock::now();
    milliseconds wait = poll_wait(now);
    std::optional<events::Message> msg = consumer->poll(wait);
    if (msg) accept(std::move(*msg), Clock::now());
    update_gauges();
  }

  void run(const std::atomic<bool>& stop) {
    while (!stop.load()) {
      try {
        events::ConsumerOptions options;
        options.bootstrap_servers = config.bootstrap_servers;
        options.group_id = config.consumer_group;
        options.client_id = config.consumer_group;
        options.topics = {config.topic};
        options.auto_offset_reset = config.auto_offset_reset;
        events::Consumer c(options);
        consumer = &c;
        pending.clear();
        paused.clear();
        c.set_rebalance_listener(
            [this](events::RebalanceEvent ev, const std::vector<TopicPartition>& parts) {
              on_rebalance(ev, parts);
            });
        while (!stop.load()) iterate();
        // Pending records stay unstored: they are delivered again after a restart.
        c.set_rebalance_listener({});
        c.close();
        consumer = nullptr;
      } catch (const std::exception& e) {
        consumer = nullptr;
        log::error("relay consumer failed; rejoining shortly", {{"error", e.what()}});
        sleep_unless_stopped(stop, std::chrono::seconds(2));
      }
    }
    m.assigned.set(0);
  }
};

RelayWorker::RelayWorker(RelayConfig config, events::Producer& dlq_producer, DedupeStore& dedupe)
    : impl_(std::make_unique<Impl>(std::move(config), dlq_producer, dedupe)) {}

RelayWorker::~RelayWorker() {
  stop();
}

void RelayWorker::start() {
  stop_.store(false);
  thread_ = std::thread([this] { impl_->run(stop_); });
}

void RelayWorker::stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

}  // namespace ticketing::relay
