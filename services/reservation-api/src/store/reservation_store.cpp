#include "store/reservation_store.hpp"

#include <initializer_list>
#include <map>
#include <set>
#include <string_view>

#include "events/event_rows.hpp"
#include "ticketing/db/connection.hpp"
#include "ticketing/db/pool.hpp"
#include "ticketing/db/retry.hpp"
#include "ticketing/outbox/inbox.hpp"
#include "ticketing/outbox/outbox.hpp"

namespace ticketing::reservation {

namespace {

// A transaction that lost a lock conflict runs again this many times in all
// (db::with_retry) before the caller sees 503.
constexpr int kTxAttempts = 5;

// The one clock read of a request or an event; the rules get it passed in.
SystemTime now_ms() {
  return std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
}

// --- SQL ---------------------------------------------------------------------
// The SQL form of seat_free (domain/model.hpp), the one place it is written:
// a seats row's status and hold_expires_at against one parameter, the
// release cutoff. Statements that count, show or take free seats use it; the
// conditional UPDATE of a hold re-checks it under the row lock, so a race is
// still refused by the database. Unqualified: in every statement using it,
// seats is the only table with these columns (another one would make the
// statement fail as ambiguous, not silently change it).
constexpr std::string_view kSeatFree =
    R"((status = 'AVAILABLE' OR (status = 'HELD' AND hold_expires_at <= ?)))";

std::string sql(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (auto p : parts) out += p;
  return out;
}

// "?, ?, ..." for an IN list of n values.
std::string placeholders(std::size_t n) {
  std::string out;
  for (std::size_t i = 0; i < n; ++i) out += i == 0 ? "?" : ", ?";
  return out;
}

constexpr std::string_view kReservationColumns =
    "id, user_id, schedule_id, seat_no, price, status, held_at, expires_at, confirmed_at";

// Catalogue reads.
constexpr const char* kConcerts = R"(SELECT id, title, venue FROM concerts ORDER BY id)";
constexpr const char* kConcertExists = R"(SELECT id FROM concerts WHERE id = ?)";
constexpr const char* kScheduleExists = R"(SELECT id FROM schedules WHERE id = ?)";
// Parameters: release cutoff, concert id.
const std::string kAvailablePerSchedule = sql({R"(SELECT s.id, s.starts_at, SUM()", kSeatFree,
                                               R"() AS available
  FROM schedules s JOIN seats st ON st.schedule_id = s.id
  WHERE s.concert_id = ? GROUP BY s.id, s.starts_at HAVING available > 0
  ORDER BY s.starts_at, s.id)"});
// Parameters: release cutoff, schedule id. A released hold shows AVAILABLE.
const std::string kSeatMap = sql({R"(SELECT seat_no, price, IF()", kSeatFree,
                                  R"(, 'AVAILABLE', status) AS status
  FROM seats WHERE schedule_id = ? ORDER BY seat_no)"});

// The lock order of every writing transaction: the user's hold_owners row
// (holds only), then seat rows (in seat_no order), then reservation rows (in
// id order). A hold finds the reservation it replaces through the seat, so
// the seat must come first everywhere: cancel, confirm and expire read the
// reservation's seat without a lock (a reservation never changes seat), lock
// the seat, then lock the reservation and decide on what they see then. Two
// transactions that take locks in one order cannot deadlock on them.

// A hold, in that order.
// The schedule's concert, and what the buyer's notifications show of it.
constexpr const char* kScheduleConcert = R"(SELECT s.concert_id, s.starts_at, c.title
  FROM schedules s JOIN concerts c ON c.id = s.concert_id WHERE s.id = ?)";
constexpr const char* kLockHoldOwner =
    R"(INSERT INTO hold_owners (user_id) VALUES (?) ON DUPLICATE KEY UPDATE user_id = user_id)";
// The user's holds not yet past expiresAt (HoldFacts::live_holds).
constexpr const char* kLiveHolds = R"(SELECT COUNT(*) AS n FROM reservations
  WHERE user_id = ? AND status = 'HELD' AND expires_at > ?)";
constexpr const char* kLockSeat =
    R"(SELECT status, price, held_by_reservation, hold_expires_at FROM seats
  WHERE schedule_id = ? AND seat_no = ? FOR UPDATE)";
constexpr const char* kInsertHold = R"(INSERT INTO reservations
  (user_id, schedule_id, seat_no, price, status, held_at, expires_at)
  VALUES (?, ?, ?, ?, 'HELD', ?, ?))";
// Parameters: reservation, expiresAt, schedule, seat, release cutoff.
const std::string kTakeSeat = sql({R"(UPDATE seats SET status = 'HELD', held_by_reservation = ?,
  hold_expires_at = ?, version = version + 1 WHERE schedule_id = ? AND seat_no = ? AND )",
                                   kSeatFree});
constexpr const char* kLockReplacedHold =
    R"(SELECT user_id FROM reservations WHERE id = ? AND status = 'HELD' FOR UPDATE)";
constexpr const char* kEndReplacedHold =
    R"(UPDATE reservations SET status = 'EXPIRED', cancelled_at = ? WHERE id = ? AND status = 'HELD')";

// Reading and cancelling one's own reservation.
const std::string kFindOwn =
    sql({"SELECT ", kReservationColumns, R"( FROM reservations WHERE id = ? AND user_id = ?)"});
const std::string kLockOwn = sql({"SELECT ", kReservationColumns,
                                  R"( FROM reservations WHERE id = ? AND user_id = ? FOR UPDATE)"});
// The seat row of a reservation, before the reservation's row (lock order).
constexpr const char* kLockSeatOf =
    R"(SELECT seat_no FROM seats WHERE schedule_id = ? AND seat_no = ? FOR UPDATE)";
constexpr const char* kCancelHold =
    R"(UPDATE reservations SET status = 'CANCELLED', cancelled_at = ? WHERE id = ? AND status = 'HELD')";
// Frees the seat only while this reservation still holds it.
constexpr const char* kFreeSeatOf = R"(UPDATE seats SET status = 'AVAILABLE',
  held_by_reservation = NULL, hold_expires_at = NULL, version = version + 1
  WHERE schedule_id = ? AND seat_no = ? AND status = 'HELD' AND held_by_reservation = ?)";

// payment.completed, one or a lane of them (confirm_all): what never changes
// (the show and the seat) read without a lock; then the seats, then the
// reservations locked (lock order). A locking join would also lock the
// schedule's and the concert's rows, and serialize every confirmation of a
// show on them. Each is followed by an IN list of reservation ids.
constexpr std::string_view kPaidShows =
    R"(SELECT r.id, r.schedule_id, r.seat_no, s.concert_id, s.starts_at, c.title
  FROM reservations r JOIN schedules s ON s.id = r.schedule_id
  JOIN concerts c ON c.id = s.concert_id WHERE r.id IN ()";
// The seats, in key order: then "(schedule_id = ? AND seat_no = ?) OR ...".
constexpr std::string_view kLockSeatsAt = "SELECT seat_no FROM seats WHERE ";
constexpr std::string_view kLockSeatsAtEnd = " ORDER BY schedule_id, seat_no FOR UPDATE";
constexpr std::string_view kLockPaidAll =
    R"(SELECT id, user_id, price, status, held_at, expires_at, payment_id
  FROM reservations WHERE id IN ()";
constexpr std::string_view kLockPaidAllEnd = ") ORDER BY id FOR UPDATE";
// Parameters: confirmedAt, then "WHEN ? THEN ?" (id, payment) per hold, then
// the IN list.
constexpr std::string_view kConfirmHolds =
    "UPDATE reservations SET status = 'CONFIRMED', confirmed_at = ?, payment_id = CASE id ";
constexpr std::string_view kConfirmHoldsWhere = " END WHERE status = 'HELD' AND id IN (";
// Then "(schedule_id = ? AND seat_no = ? AND held_by_reservation = ?) OR ...", ")".
constexpr std::string_view kReserveSeats = R"(UPDATE seats
  SET status = 'RESERVED', hold_expires_at = NULL, version = version + 1
  WHERE status = 'HELD' AND ()";

// seats.expired; each is followed by an IN list of reservation ids.
constexpr std::string_view kHeldNamed =
    R"(SELECT id, seat_no, expires_at FROM reservations
  WHERE schedule_id = ? AND status = 'HELD' AND id IN ()";
// hold_released (domain/model.hpp) re-checked under the lock: expires_at at
// or before the release cutoff.
constexpr std::string_view kLockReleased =
    R"(SELECT id, user_id, seat_no FROM reservations
  WHERE schedule_id = ? AND status = 'HELD' AND expires_at <= ? AND id IN ()";
constexpr std::string_view kLockReleasedEnd = ") ORDER BY id FOR UPDATE";
// Their seats, locked first (lock order); then an IN list of seat numbers.
constexpr std::string_view kLockSeatsOf =
    R"(SELECT seat_no FROM seats WHERE schedule_id = ? AND seat_no IN ()";
constexpr std::string_view kLockSeatsOfEnd = ") ORDER BY seat_no FOR UPDATE";
constexpr std::string_view kExpireHolds =
    R"(UPDATE reservations SET status = 'EXPIRED', cancelled_at = ?
  WHERE status = 'HELD' AND id IN ()";
constexpr std::string_view kFreeSeatsOf = R"(UPDATE seats SET status = 'AVAILABLE',
  held_by_reservation = NULL, hold_expires_at = NULL, version = version + 1
  WHERE schedule_id = ? AND status = 'HELD' AND held_by_reservation IN ()";

ReservationStatus reservation_status(const db::Row& r) {
  auto status = parse_reservation_status(r.str("status"));
  if (!status) throw DbError("unknown reservation status '" + r.str("status") + "'", false);
  return *status;
}

SeatStatus seat_status(const db::Row& r) {
  auto status = parse_seat_status(r.str("status"));
  if (!status) throw DbError("unknown seat status '" + r.str("status") + "'", false);
  return *status;
}

// "(a = ? AND b = ?) OR ..." for n tuples of the given conditions.
std::string any_of_tuples(std::string_view tuple, std::size_t n) {
  std::string out;
  for (std::size_t i = 0; i < n; ++i) {
    if (i > 0) out += " OR ";
    out += tuple;
  }
  return out;
}

// A payment's reservation row (kLockPaidAll) as the rules see it.
PaidReservation paid_reservation(const db::Row& row) {
  auto expires = parse_rfc3339(db_time_to_rfc3339(row.str("expires_at")));
  if (!expires) throw DbError("reservation expires_at is not a time", false);
  return PaidReservation{reservation_status(row), row.i64("user_id"), row.i64("price"),
                         row.opt_i64("payment_id"),
                         std::chrono::time_point_cast<std::chrono::milliseconds>(*expires)};
}

// The events of a payment's outcome: reservation.confirmed and the buyer's
// notification, or reservation.confirmation-failed (none for a duplicate or
// an ignored payment). `show` and `row` are set when confirmed.
void append_outcome_rows(std::vector<outbox::OutboxRow>& rows, ConfirmOutcome outcome,
                         const PaymentCompleted& p, const db::Row* show, const db::Row* row,
                         SystemTime now, const std::string& trace_id) {
  if (outcome == ConfirmOutcome::kConfirmed) {
    events::ReservationConfirmed d{p.reservation_id,
                                   p.payment_id,
                                   p.user_id,
                                   show->i64("concert_id"),
                                   show->str("title"),
                                   show->i64("schedule_id"),
                                   db_time_to_rfc3339(show->str("starts_at")),
                                   static_cast<int>(show->i64("seat_no")),
                                   row->i64("price"),
                                   db_time_to_rfc3339(row->str("held_at")),
                                   to_rfc3339(now)};
    rows.push_back(event_row(d, trace_id));
    rows.push_back(reservation_confirmed_row(d, trace_id));
  } else if (outcome != ConfirmOutcome::kDuplicate && outcome != ConfirmOutcome::kIgnored &&
             outcome != ConfirmOutcome::kAlreadyHandled) {
    rows.push_back(event_row(
        events::ReservationConfirmationFailed{p.reservation_id, p.payment_id, p.user_id, p.amount,
                                              std::string(to_string(outcome)), to_rfc3339(now)},
        trace_id));
  }
}

ReservationView to_view(const db::Row& r, const std::string& release_cutoff_db) {
  ReservationView v;
  v.id = r.i64("id");
  v.user_id = r.i64("user_id");
  v.schedule_id = r.i64("schedule_id");
  v.seat_no = static_cast<int>(r.i64("seat_no"));
  v.price = r.i64("price");
  auto expires = r.str("expires_at");
  v.status = visible_status(reservation_status(r), expires, release_cutoff_db);
  v.held_at = db_time_to_rfc3339(r.str("held_at"));
  v.expires_at = db_time_to_rfc3339(expires);
  if (auto c = r.opt_str("confirmed_at")) v.confirmed_at = db_time_to_rfc3339(*c);
  return v;
}

}  // namespace

ReservationStore::ReservationStore(db::Pool& pool, StoreHooks hooks, std::string consumer_name,
                                   StoreOptions options)
    : pool_(pool),
      hooks_(std::move(hooks)),
      consumer_name_(std::move(consumer_name)),
      options_(options) {}

std::string ReservationStore::release_cutoff(SystemTime now) const {
  return reservation::release_cutoff(now, options_.release_grace);
}

void ReservationStore::committed(std::int64_t schedule_id,
                                 const std::function<void(std::int64_t)>& seats_changed) {
  if (hooks_.outbox_appended) hooks_.outbox_appended();
  if (schedule_id <= 0) return;
  if (seats_changed) {
    seats_changed(schedule_id);
  } else if (hooks_.seats_changed) {
    hooks_.seats_changed(schedule_id);
  }
}

std::vector<ConcertView> ReservationStore::concerts() {
  auto lease = pool_.acquire();
  std::vector<ConcertView> out;
  for (const auto& r : lease->query(kConcerts)) {
    out.push_back({r.i64("id"), r.str("title"), r.str("venue")});
  }
  return out;
}

std::optional<std::vector<ScheduleView>> ReservationStore::schedules(ConcertId concert) {
  auto lease = pool_.acquire();
  if (!lease->query_one(kConcertExists, {concert.value})) return std::nullopt;
  auto cutoff = release_cutoff(now_ms());
  std::vector<ScheduleView> out;
  for (const auto& r : lease->query(kAvailablePerSchedule, {cutoff, concert.value})) {
    out.push_back(
        {r.i64("id"), concert.value, db_time_to_rfc3339(r.str("starts_at")), r.i64("available")});
  }
  return out;
}

std::optional<std::vector<SeatView>> ReservationStore::seats(ScheduleId schedule) {
  auto lease = pool_.acquire();
  if (!lease->query_one(kScheduleExists, {schedule.value})) return std::nullopt;
  auto cutoff = release_cutoff(now_ms());
  std::vector<SeatView> out;
  out.reserve(kSeatsPerSchedule);
  for (const auto& r : lease->query(kSeatMap, {cutoff, schedule.value})) {
    out.push_back({static_cast<int>(r.i64("seat_no")), seat_status(r), r.i64("price")});
  }
  return out;
}

HoldResult ReservationStore::hold(UserId user, ScheduleId schedule, SeatNo seat,
                                  std::chrono::seconds ttl, int max_holds,
                                  const std::string& trace_id,
                                  const std::function<void(std::int64_t)>& seats_changed) {
  return db::with_retry(pool_, kTxAttempts, [&](db::Connection& conn) {
    return hold_once(conn, user, schedule, seat, ttl, max_holds, trace_id, seats_changed);
  });
}

HoldResult ReservationStore::hold_once(db::Connection& conn, UserId user, ScheduleId schedule,
                                       SeatNo seat, std::chrono::seconds ttl, int max_holds,
                                       const std::string& trace_id,
                                       const std::function<void(std::int64_t)>& seats_changed) {
  HoldResult result;
  auto held_at = now_ms();
  auto expires_at = held_at + ttl;
  auto now_db = to_db_time(held_at);
  auto cutoff = release_cutoff(held_at);
  auto expires_db = to_db_time(expires_at);

  db::Transaction tx(conn, db::Isolation::kReadCommitted);
  HoldFacts facts;
  auto sched = conn.query_one(kScheduleConcert, {schedule.value});
  facts.schedule_exists = sched.has_value();
  std::optional<db::Row> row;
  if (facts.schedule_exists) {
    conn.exec(kLockHoldOwner, {user.value});
    auto live = conn.query_one(kLiveHolds, {user.value, now_db});
    facts.live_holds = live ? live->i64("n") : 0;
  }
  if (facts.schedule_exists && facts.live_holds < max_holds) {
    // The row lock serializes everyone racing for this seat; the conditional
    // UPDATE below re-checks the same condition.
    row = conn.query_one(kLockSeat, {schedule.value, seat.value});
    if (row) {
      facts.seat = HoldFacts::Seat{seat_status(*row), row->opt_str("hold_expires_at"),
                                   row->opt_i64("held_by_reservation")};
    }
  }
  const HoldDecision decision = decide_hold(facts, max_holds, cutoff);
  if (decision.outcome != HoldOutcome::kHeld) {
    result.outcome = decision.outcome;
    return result;  // rolls back
  }
  auto concert_id = sched->i64("concert_id");
  const std::string title = sched->str("title");
  const std::string starts_at = db_time_to_rfc3339(sched->str("starts_at"));
  auto price = row->i64("price");

  auto reservation_id = static_cast<std::int64_t>(
      conn.exec(kInsertHold, {user.value, schedule.value, seat.value, price, now_db, expires_db})
          .last_insert_id);
  auto updated =
      conn.exec(kTakeSeat, {reservation_id, expires_db, schedule.value, seat.value, cutoff});
  if (updated.affected_rows != 1) {
    result.outcome = HoldOutcome::kSeatUnavailable;
    return result;  // rolls back
  }
  auto held_at_text = to_rfc3339(held_at);
  std::vector<outbox::OutboxRow> rows;
  if (const auto previous = decision.takes_over) {
    // The old hold ran out before seats.expired arrived: end it here so that
    // payment-api and the scheduler learn of it.
    auto old = conn.query_one(kLockReplacedHold, {*previous});
    if (old) {
      conn.exec(kEndReplacedHold, {now_db, *previous});
      const events::ReservationCancelled ended{*previous,  old->i64("user_id"), schedule.value,
                                               seat.value, "EXPIRED",           held_at_text};
      rows.push_back(event_row(ended, trace_id));
      rows.push_back(hold_expired_row(ended, title, starts_at, trace_id));
    }
  }
  const events::ReservationHeld held{
      reservation_id, user.value, concert_id,   schedule.value,
      seat.value,     price,      held_at_text, to_rfc3339(expires_at),
      title,          starts_at};
  rows.push_back(event_row(held, trace_id));
  rows.push_back(seat_held_row(held, trace_id));
  outbox::append_all(conn, rows);
  tx.commit();
  committed(schedule.value, seats_changed);

  result.outcome = HoldOutcome::kHeld;
  result.reservation = ReservationView{
      reservation_id,           user.value,   schedule.value,         seat.value,  price,
      ReservationStatus::kHeld, held_at_text, to_rfc3339(expires_at), std::nullopt};
  return result;
}

std::optional<ReservationView> ReservationStore::find(ReservationId id, UserId owner) {
  auto lease = pool_.acquire();
  auto row = lease->query_one(kFindOwn, {id.value, owner.value});
  if (!row) return std::nullopt;
  return to_view(*row, release_cutoff(now_ms()));
}

std::pair<CancelOutcome, std::optional<ReservationView>> ReservationStore::cancel(
    ReservationId id, UserId owner, const std::string& trace_id) {
  return db::with_retry(pool_, kTxAttempts, [&](db::Connection& conn) {
    auto now = now_ms();
    auto now_db = to_db_time(now);
    auto cutoff = release_cutoff(now);
    db::Transaction tx(conn, db::Isolation::kReadCommitted);
    auto seen = conn.query_one(kFindOwn, {id.value, owner.value});
    if (!seen) return std::pair{CancelOutcome::kNotFound, std::optional<ReservationView>{}};
    auto schedule_id = seen->i64("schedule_id");
    auto seat_no = static_cast<int>(seen->i64("seat_no"));
    conn.query_one(kLockSeatOf, {schedule_id, seat_no});
    auto row = conn.query_one(kLockOwn, {id.value, owner.value});
    if (!row) return std::pair{CancelOutcome::kNotFound, std::optional<ReservationView>{}};
    const CancelOutcome outcome = decide_cancel(reservation_status(*row));
    if (outcome != CancelOutcome::kCancelled) {
      return std::pair{outcome, std::optional<ReservationView>{to_view(*row, cutoff)}};
    }
    conn.exec(kCancelHold, {now_db, id.value});
    conn.exec(kFreeSeatOf, {schedule_id, seat_no, id.value});
    outbox::append(
        conn, event_row(events::ReservationCancelled{id.value, owner.value, schedule_id, seat_no,
                                                     "USER_CANCELLED", to_rfc3339(now)},
                        trace_id));
    tx.commit();
    committed(schedule_id);
    auto view = to_view(*row, cutoff);
    view.status = ReservationStatus::kCancelled;
    return std::pair{CancelOutcome::kCancelled, std::optional<ReservationView>{view}};
  });
}

ConfirmOutcome ReservationStore::confirm(const PaymentCompleted& p, const std::string& trace_id) {
  // A lane of one: declined only when its event was handled before.
  auto outcomes = confirm_all({p}, {trace_id});
  return outcomes ? outcomes->front() : ConfirmOutcome::kAlreadyHandled;
}

std::optional<std::vector<ConfirmOutcome>> ReservationStore::confirm_all(
    const std::vector<PaymentCompleted>& payments, const std::vector<std::string>& trace_ids) {
  // One reservation twice: the second payment must see the first one's
  // effect, which one statement per step cannot give.
  std::set<std::int64_t> reservations;
  for (const auto& p : payments) {
    if (!reservations.insert(p.reservation_id).second) return std::nullopt;
  }
  return db::with_retry(pool_, kTxAttempts, [&](db::Connection& conn) {
    return confirm_all_once(conn, payments, trace_ids);
  });
}

std::optional<std::vector<ConfirmOutcome>> ReservationStore::confirm_all_once(
    db::Connection& conn, const std::vector<PaymentCompleted>& payments,
    const std::vector<std::string>& trace_ids) {
  auto now = now_ms();
  auto now_db = to_db_time(now);
  db::Transaction tx(conn, db::Isolation::kReadCommitted);
  std::vector<std::string> event_ids;
  db::Params ids;
  for (const auto& p : payments) {
    event_ids.push_back(p.event_id);
    ids.emplace_back(p.reservation_id);
  }
  // A redelivered one among them: rolled back, handled one by one.
  if (!outbox::record_all_processed(conn, consumer_name_, event_ids)) return std::nullopt;
  const auto in_list = placeholders(payments.size());
  std::map<std::int64_t, db::Row> shows;  // reservation id -> show and seat
  for (auto& r : conn.query(sql({kPaidShows, in_list, ")"}), ids)) {
    shows.emplace(r.i64("id"), std::move(r));
  }
  std::map<std::int64_t, db::Row> rows;  // reservation id -> locked row
  if (!shows.empty()) {
    db::Params seats;
    for (const auto& [id, show] : shows) {
      seats.emplace_back(show.i64("schedule_id"));
      seats.emplace_back(show.i64("seat_no"));
    }
    conn.query(sql({kLockSeatsAt, any_of_tuples("(schedule_id = ? AND seat_no = ?)", shows.size()),
                    kLockSeatsAtEnd}),
               seats);
    db::Params locked;
    for (const auto& [id, show] : shows) locked.emplace_back(id);
    for (auto& r :
         conn.query(sql({kLockPaidAll, placeholders(shows.size()), kLockPaidAllEnd}), locked)) {
      rows.emplace(r.i64("id"), std::move(r));
    }
  }
  std::vector<ConfirmOutcome> outcomes;
  std::vector<outbox::OutboxRow> out;
  db::Params confirm{now_db};
  db::Params confirm_ids;
  db::Params reserve;
  std::set<std::int64_t> schedules;
  for (std::size_t i = 0; i < payments.size(); ++i) {
    const auto& p = payments[i];
    auto show = shows.find(p.reservation_id);
    auto row = rows.find(p.reservation_id);
    const db::Row* show_row = show == shows.end() ? nullptr : &show->second;
    const db::Row* paid_row = row == rows.end() ? nullptr : &row->second;
    ConfirmOutcome outcome = ConfirmOutcome::kIgnored;
    if (paid_row || !options_.ignore_unknown_reservations) {
      std::optional<PaidReservation> paid;
      if (paid_row) paid = paid_reservation(*paid_row);
      outcome = decide_confirmation(paid, p);
    }
    if (outcome == ConfirmOutcome::kConfirmed) {
      confirm.emplace_back(p.reservation_id);
      confirm.emplace_back(p.payment_id);
      confirm_ids.emplace_back(p.reservation_id);
      reserve.emplace_back(show_row->i64("schedule_id"));
      reserve.emplace_back(show_row->i64("seat_no"));
      reserve.emplace_back(p.reservation_id);
      schedules.insert(show_row->i64("schedule_id"));
    }
    append_outcome_rows(out, outcome, p, show_row, paid_row, now, trace_ids.at(i));
    outcomes.push_back(outcome);
  }
  if (const auto n = confirm_ids.size(); n > 0) {
    std::string whens;
    for (std::size_t i = 0; i < n; ++i) whens += "WHEN ? THEN ? ";
    confirm.insert(confirm.end(), confirm_ids.begin(), confirm_ids.end());
    conn.exec(sql({kConfirmHolds, whens, kConfirmHoldsWhere, placeholders(n), ")"}), confirm);
    auto seats = conn.exec(
        sql({kReserveSeats,
             any_of_tuples("(schedule_id = ? AND seat_no = ? AND held_by_reservation = ?)", n),
             ")"}),
        reserve);
    if (seats.affected_rows != n) {
      std::string named;
      for (const auto& id : confirm_ids) named += (named.empty() ? "" : ", ") + id.as_string();
      throw DbError("a paid hold's seat is not held by it (reservations " + named + ")", false);
    }
  }
  outbox::append_all(conn, out);
  tx.commit();
  if (schedules.empty()) committed(0);
  for (auto schedule_id : schedules) committed(schedule_id);
  return outcomes;
}

int ReservationStore::expire(const std::string& event_id, ScheduleId schedule,
                             const std::vector<ExpiredSeat>& seats, const std::string& trace_id) {
  if (seats.empty()) return 0;
  return db::with_retry(pool_, kTxAttempts, [&](db::Connection& conn) {
    return expire_once(conn, event_id, schedule, seats, trace_id);
  });
}

int ReservationStore::expire_once(db::Connection& conn, const std::string& event_id,
                                  ScheduleId schedule, const std::vector<ExpiredSeat>& seats,
                                  const std::string& trace_id) {
  auto now = now_ms();
  auto now_db = to_db_time(now);
  db::Transaction tx(conn, db::Isolation::kReadCommitted);
  db::Params params{schedule.value};
  for (const auto& s : seats) params.emplace_back(s.reservation_id);
  // Which named holds are due is decided from a plain read (no lock), as
  // before any lock is taken: holds past expiresAt but still within their
  // release grace (a scheduler with a shorter grace or a clock ahead of
  // ours) are not released early, and the event is retried until they are
  // due (at most the grace), never recorded as done with them left behind.
  const auto cutoff = release_cutoff(now);
  std::vector<HeldReservation> held;
  std::map<std::int64_t, std::int64_t> seat_of;  // reservation id -> seat_no
  for (const auto& r : conn.query(sql({kHeldNamed, placeholders(seats.size()), ")"}), params)) {
    held.push_back({r.i64("id"), r.str("expires_at")});
    seat_of[r.i64("id")] = r.i64("seat_no");
  }
  const ReleaseDecision decision = decide_release(held, now_db, cutoff);
  const bool wait_for_some = decision.not_yet_due > 0;
  if (!wait_for_some && !outbox::record_processed(conn, consumer_name_, event_id)) {
    tx.commit();
    return 0;
  }
  // Locked, and checked again by the database: a hold confirmed or cancelled
  // meanwhile, or already expired by a redelivery, is left alone.
  db::Rows due;
  if (!decision.release.empty()) {
    db::Params seat_params{schedule.value};
    for (auto id : decision.release) seat_params.emplace_back(seat_of.at(id));
    conn.query(sql({kLockSeatsOf, placeholders(decision.release.size()), kLockSeatsOfEnd}),
               seat_params);
    db::Params due_params{schedule.value, cutoff};
    for (auto id : decision.release) due_params.emplace_back(id);
    due = conn.query(sql({kLockReleased, placeholders(decision.release.size()), kLockReleasedEnd}),
                     due_params);
  }
  if (due.empty()) {
    tx.commit();
    if (wait_for_some) throw HoldsNotDue(decision.not_yet_due);
    return 0;
  }
  const auto ids = placeholders(due.size());
  db::Params update_res{now_db};
  db::Params update_seats{schedule.value};
  for (const auto& r : due) {
    update_res.emplace_back(r.i64("id"));
    update_seats.emplace_back(r.i64("id"));
  }
  conn.exec(sql({kExpireHolds, ids, ")"}), update_res);
  conn.exec(sql({kFreeSeatsOf, ids, ")"}), update_seats);
  // What the buyers' "hold expired" messages show of the concert.
  const auto show = conn.query_one(kScheduleConcert, {schedule.value});
  const std::string title = show ? show->str("title") : std::string();
  const std::string starts_at = show ? db_time_to_rfc3339(show->str("starts_at")) : std::string();
  auto at = to_rfc3339(now);
  std::vector<outbox::OutboxRow> rows;
  rows.reserve(2 * due.size());
  for (const auto& r : due) {
    const events::ReservationCancelled ended{r.i64("id"),    r.i64("user_id"),
                                             schedule.value, static_cast<int>(r.i64("seat_no")),
                                             "EXPIRED",      at};
    rows.push_back(event_row(ended, trace_id));
    if (show) rows.push_back(hold_expired_row(ended, title, starts_at, trace_id));
  }
  outbox::append_all(conn, rows);
  tx.commit();
  committed(schedule.value);
  if (wait_for_some) throw HoldsNotDue(decision.not_yet_due);
  return static_cast<int>(due.size());
}

}  // namespace ticketing::reservation
