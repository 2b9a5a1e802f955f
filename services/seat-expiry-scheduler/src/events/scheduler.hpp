#pragma once
// The two threads of the scheduler:
//   - the consumer (a service::ConsumerWorker): a member of the consumer
//     group on reservation.held, reservation.confirmed and
//     reservation.cancelled that starts and drops timers (retry-then-DLQ) and
//     tracks, on every rebalance, which partitions of reservation.held it owns;
//   - the publisher: every tick it claims the due timers of the owned buckets
//     (bounded per tick and in flight), publishes them as seats.expired
//     batches and removes each timer only after the broker acknowledged its
//     record.
// Buckets are partition numbers: whoever owns partition p of reservation.held
// serves bucket p, so after a rebalance or a crash the new owner serves the
// timers the old one left in Redis.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "domain/timer.hpp"
#include "store/timer_store.hpp"
#include "ticketing/events/dlq.hpp"

namespace ticketing::events {
class Producer;
}
namespace ticketing::service {
class ConsumerWorker;
class ServiceHost;
}  // namespace ticketing::service

namespace ticketing::scheduler {

struct SchedulerOptions {
  std::string service = "seat-expiry-scheduler";  // envelope producer
  int session_timeout_ms = 6000;
  std::chrono::milliseconds tick{1000};
  std::size_t max_per_tick = 5000;    // timers claimed per round
  std::size_t max_in_flight = 20000;  // timers awaiting the broker's ack
  std::size_t batch_seats = 500;      // seats per seats.expired record (schema max)
  std::chrono::milliseconds claim_lease{10000};
  // A hold is released this long after its expiresAt, so that a payment made
  // in time and still in the pipeline confirms it (HOLD_RELEASE_GRACE_SECONDS,
  // the same setting as reservation-api's).
  std::chrono::milliseconds release_grace{10000};
};

// Starts (held) or drops (confirmed, cancelled) a timer. Throws PoisonError
// for an event it cannot read, RedisError (retryable) when Redis is away.
void apply_event(TimerStore& store, const events::Event& event);

class ExpiryScheduler {
 public:
  // Consumes and publishes through the host's group and producer.
  ExpiryScheduler(service::ServiceHost& host, SchedulerOptions options, TimerStore& store);
  ~ExpiryScheduler();  // stop()
  ExpiryScheduler(const ExpiryScheduler&) = delete;
  ExpiryScheduler& operator=(const ExpiryScheduler&) = delete;

  void start();
  // Leaves the group, then waits (bounded) for records in flight so their
  // timers are removed. Idempotent.
  void stop();

 private:
  struct Delivery {
    std::vector<Timer> timers;  // each knows its bucket
    bool ok;
    std::string error;
  };

  void publish_loop(const std::stop_token& stop);
  std::size_t settle_deliveries();  // records settled
  std::size_t claim_and_publish(const std::set<std::int32_t>& owned, std::size_t budget);
  void update_gauges(const std::set<std::int32_t>& owned);
  void set_owned(std::set<std::int32_t> owned);
  std::set<std::int32_t> owned() const;

  SchedulerOptions options_;
  TimerStore& store_;
  events::Producer& producer_;

  std::unique_ptr<service::ConsumerWorker> consumer_;
  std::jthread publisher_thread_;

  mutable std::mutex owned_mutex_;
  std::set<std::int32_t> owned_;  // guarded by owned_mutex_

  std::mutex deliveries_mutex_;
  std::condition_variable_any deliveries_cv_;
  std::deque<Delivery> deliveries_;  // guarded by deliveries_mutex_
  std::atomic<std::size_t> in_flight_{0};
};

}  // namespace ticketing::scheduler
