#include "events/scheduler.hpp"

#include <map>

#include "ticketing/common/error.hpp"
#include "ticketing/common/ids.hpp"
#include "ticketing/common/log.hpp"
#include "ticketing/common/metrics.hpp"
#include "ticketing/events/contracts.hpp"
#include "ticketing/events/envelope.hpp"
#include "ticketing/events/event_producer.hpp"
#include "ticketing/events/producer.hpp"
#include "ticketing/events/topics.hpp"
#include "ticketing/service/consumer_worker.hpp"
#include "ticketing/service/host.hpp"

namespace ticketing::scheduler {

namespace {

namespace topics = events::topics;

using Clock = std::chrono::steady_clock;

struct Metrics {
  metrics::Gauge& pending = metrics::global().gauge(
      "scheduler_timers_pending", "Timers stored in the buckets this instance serves");
  metrics::Counter& published = metrics::global().counter(
      "scheduler_events_published_total", "seats.expired records acknowledged by the broker");
  metrics::Counter& seats_published =
      metrics::global().counter("scheduler_seats_published_total",
                                "Expired holds carried by acknowledged seats.expired records");
  metrics::Gauge& oldest_overdue = metrics::global().gauge(
      "scheduler_oldest_overdue_seconds",
      "Age of the oldest due timer not yet handed to the broker (served buckets)");
  metrics::Counter& publish_failures = metrics::global().counter(
      "scheduler_publish_failures_total", "seats.expired records that failed (timers retried)");
  metrics::Counter& started = metrics::global().counter("scheduler_timers_started_total",
                                                        "Timers started from reservation.held");
  metrics::Counter& finished = metrics::global().counter(
      "scheduler_timers_finished_total", "reservation.confirmed/cancelled events applied");
  metrics::Gauge& owned =
      metrics::global().gauge("scheduler_partitions_owned",
                              "reservation.held partitions (timer buckets) this instance serves");
  metrics::Gauge& in_flight = metrics::global().gauge(
      "scheduler_timers_in_flight", "Timers whose seats.expired record awaits the broker's ack");
};

Metrics& m() {
  static Metrics metrics;
  return metrics;
}

// The reservation a confirmed or cancelled event ends.
std::int64_t ended_reservation(const std::string& topic, const events::Envelope& env) {
  if (topic == topics::kReservationConfirmed) {
    return events::decode<events::ReservationConfirmed>(env).reservation_id;
  }
  return events::decode<events::ReservationCancelled>(env).reservation_id;
}

}  // namespace

void apply_event(TimerStore& store, const events::Event& event) {
  if (event.envelope == nullptr) throw PoisonError("no envelope");
  const auto& topic = event.message.topic;
  if (topic == topics::kReservationHeld) {
    const auto held = events::decode<events::ReservationHeld>(*event.envelope);
    Timer t;
    t.reservation_id = held.reservation_id;
    t.bucket = event.message.partition;
    t.schedule_id = held.schedule_id;
    t.seat_no = held.seat_no;
    t.expires_at = held.expires_at;
    auto when = parse_rfc3339(t.expires_at);
    if (!when) throw PoisonError("data.expiresAt is not an RFC 3339 time");
    t.expires_ms = unix_millis(*when);
    bool added = store.add(t);
    m().started.inc();
    log::debug(added ? "timer started" : "timer already present or reservation finished",
               {{"reservation_id", std::to_string(t.reservation_id)},
                {"event_id", event.envelope->event_id},
                {"trace_id", event.trace_id},
                {"expires_at", t.expires_at}});
  } else if (topic == topics::kReservationConfirmed || topic == topics::kReservationCancelled) {
    const auto reservation_id = ended_reservation(topic, *event.envelope);
    const auto id_text = std::to_string(reservation_id);
    store.finish(reservation_id, event.message.partition);
    m().finished.inc();
    log::debug("timer dropped", {{"reservation_id", id_text},
                                 {"event_id", event.envelope->event_id},
                                 {"trace_id", event.trace_id},
                                 {"topic", topic}});
  } else {
    throw PoisonError("unexpected topic " + topic);
  }
}

ExpiryScheduler::ExpiryScheduler(service::ServiceHost& host, SchedulerOptions options,
                                 TimerStore& store)
    : options_(std::move(options)), store_(store), producer_(host.infra().producer()) {
  m();  // register the metrics so /metrics shows them from the start
  service::ConsumerWorkerOptions consumer;
  consumer.topics = {std::string(topics::kReservationHeld),
                     std::string(topics::kReservationConfirmed),
                     std::string(topics::kReservationCancelled)};
  consumer.session_timeout_ms = options_.session_timeout_ms;
  // Range assignment gives one member the same partition number of all
  // three topics (same partition count, same key): a hold and its end
  // usually meet on one instance. Correctness does not depend on it.
  consumer.consumer_extra["partition.assignment.strategy"] = "range";
  consumer.consumer_extra["heartbeat.interval.ms"] =
      std::to_string(std::max(500, options_.session_timeout_ms / 4));
  // Without Redis no event can be applied, and a hold dead-lettered after a
  // short outage would be a lost timer: retry (partition paused, the member
  // stays in the group) until Redis is back.
  consumer.handling.retry.initial_backoff = std::chrono::milliseconds(200);
  consumer.handling.retry.max_backoff = std::chrono::milliseconds(5000);
  // Buckets follow the assignment: served from the rebalance on, dropped
  // when revoked or when the member leaves (a timer claimed meanwhile by two
  // owners is claimed atomically by only one).
  consumer.handling.on_assignment = [this](const std::vector<events::TopicPartition>& parts) {
    std::set<std::int32_t> owned;
    for (const auto& tp : parts) {
      if (tp.topic == topics::kReservationHeld) owned.insert(tp.partition);
    }
    set_owned(std::move(owned));
  };
  consumer_ = std::make_unique<service::ConsumerWorker>(
      host, std::move(consumer), [this](const events::Event& e) { apply_event(store_, e); });
}

ExpiryScheduler::~ExpiryScheduler() {
  stop();
}

void ExpiryScheduler::start() {
  consumer_->start();
  if (!publisher_thread_.joinable()) {
    publisher_thread_ = std::jthread([this](const std::stop_token& stop) { publish_loop(stop); });
  }
}

void ExpiryScheduler::stop() {
  consumer_->stop();
  set_owned({});
  publisher_thread_.request_stop();
  if (publisher_thread_.joinable()) publisher_thread_.join();
}

void ExpiryScheduler::set_owned(std::set<std::int32_t> owned) {
  std::lock_guard lock(owned_mutex_);
  if (owned != owned_) {
    std::string list;
    for (auto p : owned) list += (list.empty() ? "" : ",") + std::to_string(p);
    log::info("serving timer buckets", {{"partitions", list}});
  }
  m().owned.set(static_cast<double>(owned.size()));
  owned_ = std::move(owned);
}

std::set<std::int32_t> ExpiryScheduler::owned() const {
  std::lock_guard lock(owned_mutex_);
  return owned_;
}

std::size_t ExpiryScheduler::settle_deliveries() {
  std::deque<Delivery> done;
  {
    std::lock_guard lock(deliveries_mutex_);
    done.swap(deliveries_);
  }
  const auto settled = done.size();
  while (!done.empty()) {
    auto& d = done.front();
    try {
      if (d.ok) {
        std::map<std::int32_t, std::vector<std::int64_t>> per_bucket;
        for (const auto& t : d.timers) per_bucket[t.bucket].push_back(t.reservation_id);
        for (const auto& [bucket, ids] : per_bucket) store_.complete(bucket, ids);
      } else {
        store_.release(d.timers);
      }
    } catch (const std::exception& e) {
      // The timers stay claimed and come back when the claim ends: published
      // again (ok) or retried (failed). A duplicate, never a loss.
      log::warn("could not settle published timers", {{"error", e.what()}});
    }
    in_flight_.fetch_sub(d.timers.size());
    done.pop_front();
  }
  m().in_flight.set(static_cast<double>(in_flight_.load()));
  return settled;
}

std::size_t ExpiryScheduler::claim_and_publish(const std::set<std::int32_t>& owned,
                                               std::size_t budget) {
  std::vector<Timer> due;
  const auto now = now_unix_millis();
  const auto until = now + options_.claim_lease.count();
  const auto expired_before = now - options_.release_grace.count();
  for (auto bucket : owned) {
    if (due.size() >= budget) break;
    try {
      auto more = store_.claim_due(bucket, expired_before, budget - due.size(), until);
      due.insert(due.end(), std::make_move_iterator(more.begin()),
                 std::make_move_iterator(more.end()));
    } catch (const std::exception& e) {
      if (due.empty()) throw;
      log::warn("could not claim due timers",
                {{"bucket", std::to_string(bucket)}, {"error", e.what()}});
      break;  // publish what is claimed already
    }
  }
  const auto claimed = due.size();
  // One round's timers of all buckets together: a schedule's holds share records.
  {
    auto batches = plan_batches(std::move(due), options_.batch_seats);
    for (std::size_t i = 0; i < batches.size(); ++i) {
      auto& batch = batches[i];
      const auto count = batch.timers.size();
      try {
        auto envelope = events::make_envelope(to_event(batch), options_.service);
        events::Record record;
        try {
          record = events::make_event_record(envelope, events::event_key(batch.schedule_id));
        } catch (const PoisonError& e) {
          // Only a timer not written by this service can fail the schema
          // (holds were validated when consumed). Retrying cannot fix it, and
          // it would hold back every batch behind it: drop it, loudly.
          log::error("dropping timers that make an invalid seats.expired",
                     {{"schedule_id", std::to_string(batch.schedule_id)}, {"error", e.what()}});
          std::map<std::int32_t, std::vector<std::int64_t>> per_bucket;
          for (const auto& t : batch.timers) per_bucket[t.bucket].push_back(t.reservation_id);
          for (const auto& [bucket, ids] : per_bucket) store_.complete(bucket, ids);
          continue;
        }
        auto shared = std::make_shared<std::vector<Timer>>(std::move(batch.timers));
        in_flight_.fetch_add(count);
        try {
          producer_.produce(
              std::move(record), [this, shared, count](const events::DeliveryReport& r) {
                {
                  std::lock_guard lock(deliveries_mutex_);
                  deliveries_.push_back(Delivery{std::move(*shared), r.ok, r.error});
                }
                if (r.ok) {
                  m().published.inc();
                  m().seats_published.inc(count);
                } else {
                  m().publish_failures.inc();
                  log::warn("seats.expired not delivered; timers retried", {{"error", r.error}});
                }
                deliveries_cv_.notify_all();
              });
        } catch (...) {
          in_flight_.fetch_sub(count);
          batch.timers = std::move(*shared);
          throw;
        }
      } catch (const std::exception& e) {
        // Could not enqueue (queue full, producer fatal, invalid event): give
        // back this batch and the rest of the round.
        m().publish_failures.inc();
        log::warn("could not publish seats.expired; timers retried", {{"error", e.what()}});
        std::vector<Timer> back;
        for (std::size_t j = i; j < batches.size(); ++j)
          back.insert(back.end(), batches[j].timers.begin(), batches[j].timers.end());
        store_.release(back);
        return 0;  // stop this round; the caller backs off for a tick
      }
    }
  }
  return claimed;
}

void ExpiryScheduler::update_gauges(const std::set<std::int32_t>& owned) {
  const auto now = now_unix_millis() - options_.release_grace.count();
  std::int64_t pending = 0;
  std::int64_t oldest = 0;
  for (auto bucket : owned) {
    auto s = store_.stats(bucket, now);
    pending += s.pending;
    if (s.oldest_due_ms > 0 && (oldest == 0 || s.oldest_due_ms < oldest)) oldest = s.oldest_due_ms;
  }
  m().pending.set(static_cast<double>(pending));
  m().oldest_overdue.set(
      oldest == 0 ? 0.0 : static_cast<double>(std::max<std::int64_t>(0, now - oldest)) / 1000.0);
}

void ExpiryScheduler::publish_loop(const std::stop_token& stop) {
  auto next_round = Clock::now();
  auto next_gauges = Clock::now();
  bool backlog = false;  // the last round was cut short by a limit: more is due
  while (!stop.stop_requested()) {
    try {
      // Acks free room in flight: a backlog goes on at once.
      if (settle_deliveries() > 0 && backlog) next_round = Clock::now();
      auto owned = this->owned();
      auto now = Clock::now();
      if (now >= next_round) {
        const auto limit = options_.max_in_flight;
        const auto busy = in_flight_.load();
        const auto budget = busy >= limit ? 0 : std::min(options_.max_per_tick, limit - busy);
        const auto claimed = budget == 0 ? 0 : claim_and_publish(owned, budget);
        // A full round means more is due: go again when there is room in
        // flight (at once, or at the next ack), else wait for the next tick.
        backlog = budget == 0 || claimed >= budget;
        next_round = (backlog && budget > 0) ? Clock::now() : now + options_.tick;
      }
      if (Clock::now() >= next_gauges) {
        update_gauges(owned);
        next_gauges = Clock::now() + std::min(options_.tick, std::chrono::milliseconds(1000));
      }
    } catch (const std::exception& e) {
      log::warn("expiry round failed; retrying next tick", {{"error", e.what()}});
      backlog = false;
      next_round = Clock::now() + options_.tick;
    }
    std::unique_lock lock(deliveries_mutex_);
    deliveries_cv_.wait_until(lock, stop, std::min(next_round, next_gauges),
                              [this] { return !deliveries_.empty(); });
  }
  // Stopping: wait (bounded) for what is in flight so its timers are removed.
  producer_.flush(std::chrono::seconds(5));
  settle_deliveries();
}

}  // namespace ticketing::scheduler
