#include "events/relay_worker.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <vector>

#include "events/confirmed.hpp"
#include "store/dedupe_store.hpp"
#include "ticketing/common/error.hpp"
#include "ticketing/common/log.hpp"
#include "ticketing/common/metrics.hpp"
#include "ticketing/events/dlq.hpp"
#include "ticketing/events/envelope.hpp"
#include "ticketing/events/event_producer.hpp"
#include "ticketing/events/schema.hpp"
#include "ticketing/events/topics.hpp"
#include "ticketing/http/client.hpp"
#include "ticketing/service/consumer_worker.hpp"

namespace ticketing::relay {

namespace {

using events::HandlingError;
using events::TopicPartition;
using std::chrono::milliseconds;
using Kind = HandlingError::Kind;

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

// The platform's answer travels with the dead letter (0 = no HTTP answer).
std::vector<events::Header> status_header(int status) {
  return {{"dlq-http-status", std::to_string(status)}};
}

std::string position_of(const events::Message& m) {
  return m.topic + "/" + std::to_string(m.partition) + "@" + std::to_string(m.offset);
}

}  // namespace

// The handler, gate and hooks of the worker; all run on its polling thread.
class RelayWorker::Delivery {
 public:
  Delivery(RelayOptions config, DedupeStore& dedupe)
      : config_(std::move(config)),
        dedupe_(dedupe),
        client_(http::ClientOptions{config_.tls_verify, config_.ca_file, 64 * 1024,
                                    "dataplatform-relay"}),
        breaker_(config_.breaker) {}

  void deliver(const events::Event& e);

  events::HandlingOptions handling() {
    events::HandlingOptions h;
    h.parse_envelopes = false;  // parse_confirmed: poison letters carry dlq-http-status too
    h.retry.max_attempts = config_.max_attempts;
    h.retry.initial_backoff = config_.backoff.initial;
    h.retry.max_backoff = config_.backoff.max;
    h.retry.multiplier = config_.backoff.multiplier;
    h.retry.jitter = 0.5;  // BackoffPolicy's equal jitter: [d/2, d]
    h.gate = [this](Clock::time_point now) { return closed_until(now); };
    h.on_assignment = [this](const std::vector<TopicPartition>& parts) { assigned(parts); };
    h.on_dead_lettered = [this](const events::Message& m, events::DeadLetterCause cause) {
      dead_lettered(m, cause);
    };
    h.on_polled = [this](const events::HandlingLoop& loop) { polled(loop); };
    return h;
  }

 private:
  // What is known of a partition's head record across the loop's retries.
  struct Progress {
    std::int64_t offset = -1;
    std::optional<Clock::time_point> first_attempt;
    // Accepted by the platform, not yet marked in Redis: not sent again.
    bool delivered = false;
  };

  // Open: closed until it half-opens, when the next send is the probe.
  std::optional<Clock::time_point> closed_until(Clock::time_point now) {
    if (breaker_.state(now) != BreakerState::kOpen) return std::nullopt;
    return breaker_.reopens_at();
  }

  void assigned(const std::vector<TopicPartition>& parts) {
    m_.assigned.set(static_cast<double>(parts.size()));
    const std::set<TopicPartition> kept(parts.begin(), parts.end());
    std::erase_if(progress_, [&kept](const auto& kv) { return kept.count(kv.first) == 0; });
  }

  void dead_lettered(const events::Message& m, events::DeadLetterCause cause) {
    progress_.erase({m.topic, m.partition});
    switch (cause) {
      case events::DeadLetterCause::kPoison:
        m_.dlq_poison.inc();
        break;
      case events::DeadLetterCause::kRejected:
        m_.dlq_rejected.inc();
        break;
      case events::DeadLetterCause::kExhausted:
        m_.dlq_exhausted.inc();
        break;
    }
  }

  void polled(const events::HandlingLoop& loop) {
    m_.paused.set(static_cast<double>(loop.paused_partitions()));
    m_.breaker_state.set(static_cast<double>(static_cast<int>(breaker_.current())));
    if (breaker_.times_opened() > breaker_opened_seen_) {
      m_.breaker_opened.inc(breaker_.times_opened() - breaker_opened_seen_);
      breaker_opened_seen_ = breaker_.times_opened();
    }
    // Failed DLQ hand-offs (retried by the loop) count as infra errors too;
    // a loop after a rejoin counts from 0 again.
    const std::uint64_t dlq_failures = loop.stats().dlq_failures;
    if (dlq_failures < dlq_failures_seen_) dlq_failures_seen_ = 0;
    m_.infra_errors.inc(dlq_failures - dlq_failures_seen_);
    dlq_failures_seen_ = dlq_failures;
  }

  // Redis is away: the record waits (never a platform attempt).
  [[noreturn]] void redis_failed(const InfraError& e, const char* step) {
    m_.infra_errors.inc();
    log::warn(step, {{"error", e.what()}});
    throw HandlingError(Kind::kUnavailable, e.what(), config_.infra_retry);
  }

  void send(const Confirmed& c, Progress& p, const events::Event& e);

  RelayOptions config_;
  DedupeStore& dedupe_;
  http::Client client_;
  CircuitBreaker breaker_;
  Metrics m_;
  const events::SchemaRegistry& schemas_ = events::SchemaRegistry::builtin();
  std::map<TopicPartition, Progress> progress_;
  std::uint64_t breaker_opened_seen_ = 0;
  std::uint64_t dlq_failures_seen_ = 0;
};

void RelayWorker::Delivery::deliver(const events::Event& e) {
  Confirmed c;
  try {
    c = parse_confirmed(e.message.value, e.message.header(events::kTraceparentHeader), schemas_);
  } catch (const PoisonError& err) {
    log::warn("poison record, dead-lettering",
              {{"record", position_of(e.message)}, {"error", err.what()}});
    throw HandlingError(Kind::kPoison, err.what(), std::nullopt, status_header(0));
  }
  const TopicPartition tp{e.message.topic, e.message.partition};
  Progress& p = progress_[tp];
  if (p.offset != e.message.offset) {
    p = Progress{};
    p.offset = e.message.offset;
  }
  if (!p.delivered) {
    try {
      if (dedupe_.delivered(c.reservation_id)) {
        m_.suppressed.inc();
        log::info("already delivered, suppressing duplicate",
                  {{"reservation_id", std::to_string(c.reservation_id)},
                   {"event_id", c.event_id},
                   {"trace_id", c.trace_id}});
        progress_.erase(tp);
        return;
      }
    } catch (const InfraError& err) {
      redis_failed(err, "dedupe check failed; will retry");
    }
    send(c, p, e);
  }
  try {
    dedupe_.mark_delivered(c.reservation_id);
  } catch (const InfraError& err) {
    redis_failed(err, "marking delivered failed; will retry");
  }
  progress_.erase(tp);
}

// Returns once the platform accepted the record; throws what the loop should
// do otherwise.
void RelayWorker::Delivery::send(const Confirmed& c, Progress& p, const events::Event& e) {
  const auto now = Clock::now();
  // Rarely false (the gate holds records back while the breaker is open):
  // the probe of a half-open breaker is already out.
  if (!breaker_.allow(now)) throw HandlingError(Kind::kUnavailable, "circuit breaker open");
  if (!p.first_attempt) p.first_attempt = now;
  http::ClientRequest req;
  req.method = "POST";
  req.url = config_.endpoint;
  req.headers = {{"Content-Type", "application/json"},
                 {"X-Idempotency-Key", idempotency_key(c.reservation_id)},
                 {"traceparent", events::make_traceparent(c.trace_id)}};
  req.body = c.body;
  req.total_timeout = config_.timeout;
  req.connect_timeout = std::min(config_.timeout, milliseconds(2000));
  int status = 0;
  bool transport_retryable = true;
  std::string error;
  std::optional<milliseconds> retry_after;
  try {
    http::ClientResponse resp = client_.send(req);
    status = resp.status;
    if (auto ra = resp.header("retry-after")) retry_after = parse_retry_after(*ra);
    if (status < 200 || status >= 300) {
      error = "http " + std::to_string(status) + ": " + resp.body.substr(0, 300);
    }
  } catch (const HttpClientError& err) {
    transport_retryable = err.retryable();
    error = err.what();
  }
  const Clock::time_point after = Clock::now();
  switch (classify(status, transport_retryable)) {
    case Outcome::kDelivered:
      breaker_.on_success();
      m_.delivered.inc();
      m_.latency.observe(std::chrono::duration<double>(after - *p.first_attempt).count());
      p.delivered = true;
      return;
    case Outcome::kNonRetryable:
      if (status != 0) breaker_.on_success();  // the platform is up; it refused this record
      log::warn("platform rejected record, dead-lettering",
                {{"reservation_id", std::to_string(c.reservation_id)},
                 {"event_id", c.event_id},
                 {"trace_id", c.trace_id},
                 {"error", error}});
      throw HandlingError(Kind::kPermanent, error, std::nullopt, status_header(status));
    case Outcome::kRetryable:
      break;
  }
  const BreakerState before = breaker_.current();
  breaker_.on_failure(after);
  if (before != BreakerState::kClosed || breaker_.current() != BreakerState::kClosed) {
    // The platform is down, not this record: no attempt is counted and the
    // record waits for the breaker's probe.
    if (before == BreakerState::kClosed) {
      log::warn("circuit breaker opened", {{"error", error}});
    } else {
      log::info("breaker probe failed; open again", {{"error", error}});
    }
    const auto reopens = std::chrono::duration_cast<milliseconds>(breaker_.reopens_at() - after);
    throw HandlingError(Kind::kUnavailable, error, std::max(reopens, milliseconds(0)),
                        status_header(status));
  }
  // The loop retries unless this was the last counted attempt (its rule).
  if (config_.max_attempts <= 0 || e.attempt < config_.max_attempts) {
    m_.retried.inc();
    log::info("delivery failed; retrying", {{"reservation_id", std::to_string(c.reservation_id)},
                                            {"trace_id", c.trace_id},
                                            {"attempt", std::to_string(e.attempt)},
                                            {"error", error}});
  }
  // A longer Retry-After wins over the backoff, up to the backoff's cap.
  if (retry_after) retry_after = std::min(*retry_after, config_.backoff.max);
  throw HandlingError(Kind::kTransient, error, retry_after, status_header(status));
}

RelayWorker::RelayWorker(service::ServiceHost& host, RelayOptions config, DedupeStore& dedupe)
    : delivery_(std::make_unique<Delivery>(std::move(config), dedupe)) {
  service::ConsumerWorkerOptions options;
  options.topics = {std::string(events::topics::kReservationConfirmed)};
  options.handling = delivery_->handling();
  worker_ = std::make_unique<service::ConsumerWorker>(
      host, std::move(options), [d = delivery_.get()](const events::Event& e) { d->deliver(e); });
}

RelayWorker::~RelayWorker() {
  stop();
}

void RelayWorker::start() {
  worker_->start();
}

void RelayWorker::stop() {
  worker_->stop();
}

}  // namespace ticketing::relay
