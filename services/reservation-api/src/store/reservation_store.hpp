#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "domain/model.hpp"
#include "ticketing/common/error.hpp"

namespace ticketing::db {
class Connection;
class Pool;
}  // namespace ticketing::db

namespace ticketing::reservation {

struct ConcertView {
  std::int64_t id;
  std::string title;
  std::string venue;
};
struct ScheduleView {
  std::int64_t id;
  std::int64_t concert_id;
  std::string starts_at;  // RFC 3339
  std::int64_t available_seats;
};
struct SeatView {
  int seat_no;
  SeatStatus status;  // a released hold shows kAvailable (seat_free)
  std::int64_t price;
};
struct ReservationView {
  std::int64_t id;
  std::int64_t user_id;
  std::int64_t schedule_id;
  int seat_no;
  std::int64_t price;
  ReservationStatus status;         // as the client sees it (visible_status)
  std::string held_at, expires_at;  // RFC 3339
  std::optional<std::string> confirmed_at;
};

struct HoldResult {
  HoldOutcome outcome = HoldOutcome::kSeatUnavailable;
  ReservationView reservation{};
};

struct ExpiredSeat {
  std::int64_t reservation_id;
  int seat_no;
};

// What a committed change tells the rest of the process: the outbox relay
// has new rows; a schedule's seats (and its concert's availability) changed.
struct StoreHooks {
  std::function<void()> outbox_appended;
  std::function<void(std::int64_t schedule_id)> seats_changed;
};

// seats.expired named holds past expiresAt but not yet past their release
// grace: the due ones were released, the event is to be handled again later
// (retryable; at most the grace).
class HoldsNotDue : public InfraError {
 public:
  explicit HoldsNotDue(std::int64_t n)
      : InfraError(std::to_string(n) + " hold(s) of seats.expired not yet past the release grace",
                   true) {}
};

struct StoreOptions {
  // A hold's seat is released (seats.expired, takeover by a new hold, shown
  // free) only this long after its expiresAt (HOLD_RELEASE_GRACE_SECONDS).
  std::chrono::milliseconds release_grace{10000};
  // Test isolation on a shared cluster: skip a payment.completed whose
  // reservation this database never had.
  bool ignore_unknown_reservations = false;
};

// All SQL of the service. Each state change is one transaction that also
// appends its events to the outbox.
class ReservationStore {
 public:
  ReservationStore(db::Pool& pool, StoreHooks hooks, std::string consumer_name,
                   StoreOptions options = {});

  std::vector<ConcertView> concerts();
  // nullopt: unknown concert.
  std::optional<std::vector<ScheduleView>> schedules(ConcertId concert);
  // nullopt: unknown schedule.
  std::optional<std::vector<SeatView>> seats(ScheduleId schedule);

  // `seats_changed`, when given, replaces the hooks' seats_changed for this
  // hold (the route pipelines its own Redis work with the invalidation).
  HoldResult hold(UserId user, ScheduleId schedule, SeatNo seat, std::chrono::seconds ttl,
                  int max_holds, const std::string& trace_id,
                  const std::function<void(std::int64_t schedule_id)>& seats_changed = {});
  std::optional<ReservationView> find(ReservationId id, UserId owner);
  std::pair<CancelOutcome, std::optional<ReservationView>> cancel(ReservationId id, UserId owner,
                                                                  const std::string& trace_id);

  // payment.completed; exactly one outcome per event id.
  ConfirmOutcome confirm(const PaymentCompleted& p, const std::string& trace_id);
  // Several payment.completed in one transaction (trace_ids: one per
  // payment), each decided as confirm() would. nullopt, with nothing
  // written, when they cannot share one: a reservation twice, or an event
  // already handled. Throws as confirm() does, with nothing written.
  std::optional<std::vector<ConfirmOutcome>> confirm_all(
      const std::vector<PaymentCompleted>& payments, const std::vector<std::string>& trace_ids);
  // seats.expired: returns how many holds were expired by this call. Throws
  // HoldsNotDue (after committing the due ones) when some named holds are
  // still within their release grace.
  int expire(const std::string& event_id, ScheduleId schedule,
             const std::vector<ExpiredSeat>& seats, const std::string& trace_id);

 private:
  // One attempt of each writing transaction; the public calls run it again
  // on a lock conflict (db::with_retry).
  HoldResult hold_once(db::Connection& conn, UserId user, ScheduleId schedule, SeatNo seat,
                       std::chrono::seconds ttl, int max_holds, const std::string& trace_id,
                       const std::function<void(std::int64_t)>& seats_changed);
  std::optional<std::vector<ConfirmOutcome>> confirm_all_once(
      db::Connection& conn, const std::vector<PaymentCompleted>& payments,
      const std::vector<std::string>& trace_ids);
  int expire_once(db::Connection& conn, const std::string& event_id, ScheduleId schedule,
                  const std::vector<ExpiredSeat>& seats, const std::string& trace_id);

  void committed(std::int64_t schedule_id,
                 const std::function<void(std::int64_t)>& seats_changed = {});

  // now minus the release grace, as DATETIME(3) text: a HELD row whose
  // expires_at is at or before it may lose its seat.
  [[nodiscard]] std::string release_cutoff(SystemTime now) const;

  db::Pool& pool_;
  StoreHooks hooks_;
  std::string consumer_name_;
  StoreOptions options_;
};

}  // namespace ticketing::reservation
